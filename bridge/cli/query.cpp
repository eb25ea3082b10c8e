// ringlite query: being written (issue 4); registers nothing yet.
#include "commands.hpp"

namespace ringlite::cli {
void add_query(CLI::App&, Action&) {}
}  // namespace ringlite::cli

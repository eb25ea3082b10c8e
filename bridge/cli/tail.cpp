// ringlite tail: being written (issue 4); registers nothing yet.
#include "commands.hpp"

namespace ringlite::cli {
void add_tail(CLI::App&, Action&) {}
}  // namespace ringlite::cli

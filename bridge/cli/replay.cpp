// ringlite replay: being written (issue 4); registers nothing yet.
#include "commands.hpp"

namespace ringlite::cli {
void add_replay(CLI::App&, Action&) {}
}  // namespace ringlite::cli

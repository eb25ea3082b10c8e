// ringlite produce: the synthetic load generator (DESIGN.md, "Command line").
#include "commands.hpp"

namespace ringlite::cli {
void add_produce(CLI::App&, Action&) {}
}  // namespace ringlite::cli

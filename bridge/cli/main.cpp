// ringlite: persistence bridge between shared memory and SQLite. See README.md.
#include <fmt/core.h>

#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "options.hpp"
#include "ringlite/error.hpp"
#include "ringlite/version.hpp"

int main(int argc, char** argv) {
  using namespace ringlite;
  CLI::App app{"ringlite: shared-memory rings persisted into SQLite", "ringlite"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ringlite ") + kVersion);
  cli::Action action;
  cli::add_bridge(app, action);
  cli::add_produce(app, action);
  cli::add_ring(app, action);
  cli::add_stat(app, action);
  cli::add_tail(app, action);
  cli::add_query(app, action);
  cli::add_replay(app, action);
  cli::add_info(app, action);
  cli::add_schema(app, action);
  cli::check_values(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "ringlite: {}\n", e.what());
    return cli::kExitUsage;
  } catch (const Error& e) {  // a bad option value (options.hpp)
    fmt::print(stderr, "ringlite: {}\n", e.what());
    return cli::kExitUsage;
  }
  try {
    return action ? action() : cli::kExitUsage;
  } catch (const Error& e) {
    fmt::print(stderr, "ringlite: {}\n", e.what());
    return e.is_input_error() ? cli::kExitUsage : cli::kExitFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ringlite: {}\n", e.what());
    return cli::kExitFailure;
  }
}

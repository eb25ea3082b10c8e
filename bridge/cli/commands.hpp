// The `ringlite` command: one file per subcommand, each registering itself through one
// add_* function. main.cpp parses, runs the chosen action, and maps errors to exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <string>

namespace ringlite::cli {

/// What a parsed subcommand runs; returns the process exit code.
using Action = std::function<int()>;

void add_ring(CLI::App& app, Action& action);     // ring create|remove|list
void add_stat(CLI::App& app, Action& action);     // stat
void add_schema(CLI::App& app, Action& action);   // schema check|header
void add_produce(CLI::App& app, Action& action);  // produce
void add_bridge(CLI::App& app, Action& action);   // bridge
void add_query(CLI::App& app, Action& action);    // query
void add_tail(CLI::App& app, Action& action);     // tail
void add_replay(CLI::App& app, Action& action);   // replay
void add_info(CLI::App& app, Action& action);     // info

/// Installs SIGINT/SIGTERM handlers that set the returned flag: long-running commands
/// (bridge, tail -f, replay, produce, stat --watch) call it before anything slow, so that
/// a signal during start-up still means "stop cleanly". Forks inherit the handlers.
const std::atomic<bool>& stop_on_signals();

/// Exit codes (docs/design.md, "Command line"): 0 success, 1 runtime failure, 2 usage/config/schema
/// error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace ringlite::cli

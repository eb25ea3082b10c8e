// ringlite bridge -c CONFIG: drain the ring into SQLite until SIGINT/SIGTERM.
#include "ringlite/bridge.hpp"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "commands.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"

namespace ringlite::cli {
namespace {

void log_line(const std::string& line) {
  const auto now = std::chrono::system_clock::now();
  fmt::print(stderr, "{:%Y-%m-%dT%H:%M:%S} ringlite bridge: {}\n",
             std::chrono::time_point_cast<std::chrono::seconds>(now), line);
  std::fflush(stderr);
}

}  // namespace

void add_bridge(CLI::App& app, Action& action) {
  struct Opts {
    std::string config;
    double stats_interval = 5.0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("bridge", "drain the ring into SQLite until SIGINT/SIGTERM");
  cmd->add_option("-c,--config", o->config, "config file (TOML)")->required();
  cmd->add_option("--stats-interval", o->stats_interval, "seconds between stats lines (0: none)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->callback([&action, o] {
    action = [o] {
      const auto cfg = Config::load(o->config);
      if (cfg.database.path.empty()) {
        throw Error(
            Errc::config,
            fmt::format("invalid config '{}': the bridge needs a [database] section with a path",
                        o->config));
      }
      // Handlers before anything that takes a while: a signal during start-up still means
      // "stop cleanly", not "die holding the ring".
      const auto& stop = stop_on_signals();
      Bridge bridge(cfg, stop, log_line);
      log_line(bridge.describe());
      const auto t0 = std::chrono::steady_clock::now();
      const auto stats = bridge.run(stop, log_line, o->stats_interval);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log_line(fmt::format(
          "stopped: {} records in {} transactions over {:.1f} s ({:.0f} records/s), {} rejects, "
          "{} gaps, {} failed commits retried",
          stats.records, stats.batches, secs, secs > 0 ? double(stats.records) / secs : 0.0,
          stats.rejects, stats.gaps, stats.stalls));
      return kExitOk;
    };
  });
}

}  // namespace ringlite::cli

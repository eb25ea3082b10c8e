// A config (ring, database, batch limits) in a private folder, and `ringlite bridge`
// processes run on it: what the multi-process bridge, query and replay tests share.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "proc.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"

namespace ringlite::test {

struct BridgedOptions {
  std::string tag = "bridged";
  std::string capacity = "1MiB";
  std::string preset = "safe";
  std::string max_delay = "20ms";
  std::string db_path = {};    ///< default: history.db in the folder
  std::string extra_database = {};  ///< appended to [database], e.g. a [database.pragmas] table
  std::string stats_interval = "0";
  std::string unblock_timeout = "2s";
};

class Bridged {
 public:
  explicit Bridged(BridgedOptions o = {})
      : o_(std::move(o)),
        dir(o_.tag),
        ring(unique_name(o_.tag.substr(0, 8))),
        config((dir / "ringlite.toml").string()),
        db(o_.db_path.empty() ? (dir / "history.db").string() : o_.db_path),
        log((dir / "bridge.log").string()) {
    write_config(o_.extra_database);
  }
  Bridged(const Bridged&) = delete;
  Bridged& operator=(const Bridged&) = delete;
  ~Bridged() {
    try {
      Ring::remove(ring_config());
    } catch (...) {
    }
  }

  /// (Re)writes the config file; `extra_database` replaces the one given at construction.
  void write_config(const std::string& extra_database) const {
    write_file(config, "[ring]\nname = \"" + ring + "\"\ncapacity = \"" + o_.capacity + "\"\nunblock_timeout = \"" +
                           o_.unblock_timeout + "\"\n[schema]\nfile = \"" +
                           (source_dir() / "schema" / "demo.sql").string() + "\"\n[database]\npath = \"" + db +
                           "\"\npreset = \"" + o_.preset + "\"\n" + extra_database +
                           "\n[batch]\nmax_records = 20000\nmax_delay = \"" + o_.max_delay + "\"\n");
  }

  RingConfig ring_config() const {
    RingConfig rc;
    rc.name = ring;
    return rc;
  }
  RingStats stats() const { return Ring::open(ring_config(), Ring::Access::read_only).stats(); }

  /// Starts a bridge and waits until it holds the ring (its signal handlers are in place
  /// by then; under sanitizers start-up alone can take a few hundred milliseconds).
  pid_t bridge() const {
    const pid_t pid = spawn_cli(cli_path(), {"bridge", "-c", config, "--stats-interval", o_.stats_interval}, log);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      try {
        const auto st = stats();
        if (st.bridge_pid == static_cast<std::uint32_t>(pid) && st.bridge_alive) return pid;
      } catch (const Error&) {
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "bridge did not start: ", bridge_log());
      REQUIRE_MESSAGE(try_wait(pid) < 0, "bridge exited at start: ", bridge_log());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  /// Waits until the ring exists and a live bridge has persisted everything in it.
  bool wait_drained(std::chrono::seconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        const auto s = stats();
        if (s.head == s.tail && s.bridge_alive) return true;
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  /// SIGTERM: the bridge drains, commits and exits 0.
  void stop(pid_t bridge) const {
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
  }

  std::string bridge_log() const { return read_file(log); }

 private:
  BridgedOptions o_;

 public:
  TempDir dir;
  std::string ring, config, db, log;
};

}  // namespace ringlite::test

// A config (ring, database, batch limits) in a private folder, and `ringlite bridge`
// processes run on it: what the multi-process bridge, query and replay tests share.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proc.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"

namespace ringlite::test {

struct BridgedOptions {
  std::string tag = "bridged";
  std::string capacity = "1MiB";
  std::string preset = "safe";
  std::string max_delay = "20ms";
  std::string db_path = {};         ///< default: history.db in the folder
  std::string extra_database = {};  ///< appended to [database], e.g. a [database.pragmas] table
  std::string stats_interval = "0";
  std::string unblock_timeout = "2s";
  std::string schema = {};  ///< default: schema/demo.sql
  std::string max_records = "20000";
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
    write_file(
        config,
        "[ring]\nname = \"" + ring + "\"\ncapacity = \"" + o_.capacity +
            "\"\nunblock_timeout = \"" + o_.unblock_timeout + "\"\n[schema]\nfile = \"" +
            (o_.schema.empty() ? (source_dir() / "schema" / "demo.sql").string() : o_.schema) +
            "\"\n[database]\npath = \"" + db + "\"\npreset = \"" + o_.preset + "\"\n" +
            extra_database + "\n[batch]\nmax_records = " + o_.max_records + "\nmax_delay = \"" +
            o_.max_delay + "\"\n");
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
    const pid_t pid =
        spawn_cli(cli_path(), {"bridge", "-c", config, "--stats-interval", o_.stats_interval}, log);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      try {
        const auto st = stats();
        if (st.bridge_pid == static_cast<std::uint32_t>(pid) && st.bridge_alive) return pid;
      } catch (const Error&) {
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                      "bridge did not start: ", bridge_log());
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

  /// `ringlite produce` of sensor records: P processes, k = 0..count-1 each.
  pid_t produce(int producers, int count, const std::string& on_full = "block") const {
    return spawn_cli(
        cli_path(),
        {"produce", "-c", config, "--type", "sensor", "--producers", std::to_string(producers),
         "--count", std::to_string(count), "--on-full", on_full},
        log);
  }

 private:
  BridgedOptions o_;

 public:
  TempDir dir;
  std::string ring, config, db, log;
};

/// Runs one query through the stock sqlite3 library and returns the first column of
/// every row as text.
inline std::vector<std::string> sql(const std::string& db, const std::string& query) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(h));
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(st, 0);
    out.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
  }
  CHECK(rc == SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

/// Copies the database as it is now (its WAL included) to `to`, through SQLite's backup API.
inline void backup(const std::string& from, const std::string& to) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  REQUIRE(sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_open_v2(to.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) ==
          SQLITE_OK);
  sqlite3_busy_timeout(src, 5000);
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  REQUIRE(b != nullptr);
  CHECK(sqlite3_backup_step(b, -1) == SQLITE_DONE);
  CHECK(sqlite3_backup_finish(b) == SQLITE_OK);
  sqlite3_close(src);
  sqlite3_close(dst);
}

/// Every record k < written[i] of every producer i is in the sensor table exactly once,
/// with the values `produce` gives it, and seq grows with k for each producer.
inline void check_exactly_once(const std::string& db, const std::vector<int>& written) {
  long long total = 0;
  for (std::size_t i = 0; i < written.size(); ++i) {
    total += written[i];
    CHECK_MESSAGE(sql(db, "SELECT count(*) FROM sensor WHERE buffer LIKE 'p" + std::to_string(i) +
                              "-%'")[0] == std::to_string(written[i]),
                  "producer ", i);
  }
  CHECK(sql(db, "SELECT count(*) FROM sensor")[0] == std::to_string(total));
  CHECK(sql(db, "SELECT count(DISTINCT buffer) FROM sensor")[0] == std::to_string(total));
  CHECK(sql(db,
            "SELECT count(*) FROM sensor WHERE substr(buffer, instr(buffer, '-') + 1) != CAST(a AS "
            "TEXT) "
            "OR b != a * 0.5 OR c != a * 0.5")[0] == "0");
  for (std::size_t i = 0; i < written.size(); ++i) {
    const auto bad =
        sql(db,
            "SELECT count(*) FROM (SELECT a, row_number() OVER (ORDER BY seq) - 1 AS k FROM sensor "
            "WHERE buffer LIKE 'p" +
                std::to_string(i) + "-%') WHERE a != k");
    CHECK_MESSAGE(bad[0] == "0", "producer ", i);
  }
}

/// Every record k of every producer i is in the sensor table exactly once, with the
/// values `produce` gives it, and seq grows with k for each producer.
inline void check_exactly_once(const std::string& db, int producers, int count) {
  CHECK(sql(db, "SELECT count(*) FROM sensor")[0] == std::to_string(producers * count));
  CHECK(sql(db, "SELECT count(DISTINCT buffer) FROM sensor")[0] ==
        std::to_string(producers * count));
  // buffer is "p<i>-<k>"; a is k; b is k * 0.5: the row is the record, not a neighbour's.
  CHECK(sql(db,
            "SELECT count(*) FROM sensor WHERE substr(buffer, instr(buffer, '-') + 1) != CAST(a AS "
            "TEXT) "
            "OR b != a * 0.5 OR c != a * 0.5")[0] == "0");
  for (int i = 0; i < producers; ++i) {
    // Per producer, ordering by seq must give k = 0, 1, 2, ... with no hole or repeat.
    const auto bad =
        sql(db,
            "SELECT count(*) FROM (SELECT a, row_number() OVER (ORDER BY seq) - 1 AS k FROM sensor "
            "WHERE buffer LIKE 'p" +
                std::to_string(i) + "-%') WHERE a != k");
    CHECK_MESSAGE(bad[0] == "0", "producer ", i);
  }
}

/// Produces producers x count sensor records while SIGKILLing the bridge at random moments
/// (30-280 ms into each life) and restarting it, at least `min_kills` times and until the
/// load is done; then lets a last bridge drain and checks every record landed exactly once.
inline void kill_and_restart_under_load(const Bridged& s, int producers, int count, int min_kills,
                                        std::chrono::seconds limit) {
  pid_t bridge = s.bridge();
  REQUIRE(s.wait_drained(std::chrono::seconds(20)));
  const pid_t producer = s.produce(producers, count);
  std::mt19937 rng(1234);
  int kills = 0, produced = -1;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (produced < 0 || kills < min_kills) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, kills, " kills so far");
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 250));
    ::kill(bridge, SIGKILL);
    CHECK(wait_exit(bridge) == 128 + SIGKILL);
    ++kills;
    bridge = s.bridge();
    if (produced < 0) produced = try_wait(producer);  // reaps it once: keep the code
  }
  CHECK(produced == 0);
  REQUIRE(s.wait_drained(std::chrono::seconds(60)));
  s.stop(bridge);
  INFO(s.bridge_log());
  check_exactly_once(s.db, producers, count);
  CHECK(sql(s.db, "SELECT count(*) FROM _ringlite_rejects")[0] == "0");
}

}  // namespace ringlite::test

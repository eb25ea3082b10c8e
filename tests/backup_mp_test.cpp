// Hot backup while recording: the stock sqlite3 shell's `.backup` and `VACUUM INTO`, run
// against the database a real `ringlite bridge` is writing at a steady rate, each give a
// consistent snapshot: a complete ringlite database whose rows are exactly the records below
// its own progress, as the live database holds them after the run.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>

#include "bridged.hpp"
#include "proc.hpp"
#include "testutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

std::string q(const std::string& s) { return shell_word(s); }

std::int64_t number(const std::string& db, const std::string& query) {
  const auto rows = sql(db, query);
  REQUIRE(rows.size() == 1);
  return std::stoll(rows[0]);
}

/// Checks the snapshot at `copy` against the final database `db`; returns its progress.
std::int64_t check_snapshot(const std::string& copy, const std::string& db) {
  CAPTURE(copy);
  CHECK(sql(copy, "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
  CHECK(number(copy, "PRAGMA application_id") == 0x524C4954);
  CHECK(number(copy, "PRAGMA user_version") == 2);
  const auto position = number(copy, "SELECT position FROM _ringlite_progress");
  // Exactly the records below the snapshot's progress, none missing, none extra, none torn.
  const auto pos = std::to_string(position);
  const auto attached =
      "SELECT count(*) FROM (SELECT * FROM main.sensor WHERE seq < " + pos +
      " EXCEPT SELECT * FROM snap.sensor) UNION ALL SELECT count(*) FROM (SELECT * FROM "
      "snap.sensor EXCEPT SELECT * FROM main.sensor WHERE seq < " +
      pos + ")";
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, ("ATTACH " + q(copy) + " AS snap").c_str(), nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, attached.c_str(), -1, &st, nullptr) == SQLITE_OK);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_int64(st, 0) == 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  CHECK(number(copy, "SELECT count(*) FROM sensor") ==
        number(db, "SELECT count(*) FROM sensor WHERE seq < " + pos));
  return position;
}

}  // namespace

TEST_SUITE("backup") {
  TEST_CASE("sqlite3 .backup and VACUUM INTO copy a database the bridge is writing, consistently") {
    Bridged s({.tag = "backup", .capacity = "4MiB", .max_delay = "5ms"});
    const pid_t bridge = s.bridge();
    // 2 producers x 40,000 records at 40,000 records/s: two seconds of steady writes.
    const pid_t producer = spawn_cli(cli_path(),
                                     {"produce", "-c", s.config, "--type", "sensor", "--producers",
                                      "2", "--count", "40000", "--rate", "40000"},
                                     s.log);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!std::filesystem::exists(s.db) || number(s.db, "SELECT count(*) FROM sensor") < 5000) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(10ms);
    }
    const auto backup = (s.dir / "backup.db").string();
    const auto vacuumed = (s.dir / "vacuumed.db").string();
    const auto b = run_shell("sqlite3 " + q(s.db) + " " + q(".backup " + q(backup)));
    INFO(b.err);
    CHECK(b.exit_code == 0);
    const auto v = run_shell("sqlite3 " + q(s.db) + " " + q("VACUUM INTO " + q(vacuumed)));
    INFO(v.err);
    CHECK(v.exit_code == 0);
    CHECK(try_wait(producer) < 0);  // the producers were still writing

    CHECK(wait_exit(producer) == 0);
    REQUIRE(s.wait_drained(30s));
    s.stop(bridge);
    CHECK(number(s.db, "SELECT count(*) FROM sensor") == 80000);
    const auto at_backup = check_snapshot(backup, s.db);
    const auto at_vacuum = check_snapshot(vacuumed, s.db);
    CHECK(at_backup > 0);
    CHECK(at_vacuum >= at_backup);
    // Taken while the bridge wrote: the snapshots stop short of the end.
    CHECK(at_vacuum < number(s.db, "SELECT position FROM _ringlite_progress"));
  }
}

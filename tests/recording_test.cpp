// Tests of Recording: a folder of segments reads as the single database with the same
// records; segments the constraints exclude are never opened; expired and hostile segment
// files. Recordings are built by hand (recording_maker.hpp), as the segmented bridge would.
#include "ringlite/recording.hpp"

#include <doctest/doctest.h>
#include <fmt/core.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "detail/recording_detail.hpp"
#include "proc.hpp"
#include "recording_maker.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/replay.hpp"
#include "ringlite/ring.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using ringlite::Errc;
using ringlite::Error;
using ringlite::Recording;
using ringlite::detail::segment_file_name;
using ringlite::test::exec_sql;
using ringlite::test::make_recording;
using ringlite::test::rec_seq;
using ringlite::test::rec_ts;
using ringlite::test::TempDir;
using ringlite::test::write_records;

namespace {

constexpr std::uint64_t kSegments = 12;
constexpr std::uint64_t kPer = 500;

/// Every row `sql` returns, one string each ("a|b|c"); "error: <message>" when it fails.
std::vector<std::string> rows(sqlite3* db, const std::string& sql) {
  std::vector<std::string> out;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
      row += (i ? "|" : "") + std::string(t ? t : "NULL");
    }
    out.push_back(std::move(row));
    rc = SQLITE_OK;
  }
  if (rc != SQLITE_DONE && rc != SQLITE_OK) out = {"error: " + std::string(sqlite3_errmsg(db))};
  sqlite3_finalize(st);
  return out;
}

std::string error_of(Errc code, const fs::path& path) {
  try {
    Recording::open(path);
  } catch (const Error& e) {
    CHECK_MESSAGE(static_cast<int>(e.code()) == static_cast<int>(code), e.what());
    return e.what();
  }
  FAIL("no error thrown");
  return "";
}

struct Both {
  TempDir dir{"recording"};
  fs::path folder = dir / "rec";
  fs::path single = dir / "single.db";
  Both(std::uint64_t segments = kSegments, std::uint64_t per = kPer) {
    make_recording(folder, segments, per);
    write_records(single, 0, segments * per);
  }
  fs::path seg(std::uint64_t n) const { return folder / segment_file_name(n); }
};

/// What replay() writes into a fresh demo-schema ring from `path` with `o` (at max speed):
/// every frame as "type seq-less: ts producer payload-bytes", in ring order.
std::vector<std::string> replayed(const fs::path& path, ringlite::ReplayOptions o) {
  using namespace ringlite;
  test::RingGuard guard{test::ring_config("recrp", 4 << 20)};
  const Ring ring = Ring::create(guard.config, test::demo_schema());
  Producer producer(ring);
  o.max_speed = true;
  const std::atomic<bool> stop{false};
  const auto result = replay(path, producer, o, stop);
  std::vector<std::string> out;
  Consumer c(ring);
  for (;;) {
    Batch b;
    REQUIRE(c.poll(b, 1 << 20) == PollStatus::ok);
    if (b.frames.empty()) break;
    for (const Frame& f : b.frames) {
      const auto p = b.payload(f);
      out.push_back(fmt::format("{} {} {}", f.type, f.ts_ns,
                                std::string(reinterpret_cast<const char*>(p.data()), p.size())));
    }
    c.advance(b.end);
  }
  CHECK(result.records == out.size());
  return out;
}

/// Runs `fn` in a child process, so that a reader that hangs cannot hang the test: its exit
/// code, or -1 when it still ran after `limit` (it is killed).
int in_child(const std::function<int()>& fn,
             std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  return ringlite::test::wait_exit_for(ringlite::test::spawn(fn), limit);
}

/// For in_child: 0 when opening `path` throws `code` with `needle` in its one-line message,
/// 1 when it opens, 2 for another error (printed).
int open_fails(const fs::path& path, Errc code, const std::string& needle) {
  try {
    Recording::open(path);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (e.code() == code && what.find(needle) != std::string::npos &&
        what.find('\n') == std::string::npos)
      return 0;
    std::fprintf(stderr, "unexpected error %d: %s\n", static_cast<int>(e.code()), e.what());
    return 2;
  }
  return 1;
}

/// For in_child: 0 when `path` opens and `sql` fails with every one of `needles` in its
/// message, 1 when it does not fail, 2 for another error (printed).
int query_fails(const fs::path& path, const std::string& sql,
                const std::vector<std::string>& needles) {
  const Recording rec = Recording::open(path);
  const auto r = rows(rec.connection(), sql);
  if (r.size() != 1 || r[0].rfind("error: ", 0) != 0) return 1;
  bool all = r[0].find('\n') == std::string::npos;
  for (const auto& n : needles) all = all && r[0].find(n) != std::string::npos;
  if (!all) std::fprintf(stderr, "unexpected %s\n", r[0].c_str());
  return all ? 0 : 2;
}

/// The descriptors this process has open, and whether one is a deleted file named `name`.
std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}
bool holds_deleted(const fs::path& file) {
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = fs::read_symlink(e.path(), ec).string();
    if (target.find(file.filename().string()) != std::string::npos &&
        target.find("(deleted)") != std::string::npos)
      return true;
  }
  return false;
}

// An endless query: a hostile file's view over it never ends (nor its memory).
constexpr const char* kEndless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)";

}  // namespace

TEST_SUITE("recording") {
  TEST_CASE("a folder of 12 segments reads as the single database with the same records") {
    Both b;
    const Recording rec = Recording::open(b.folder);
    const Recording one = Recording::open(b.single);
    CHECK(rec.segmented());
    CHECK(!one.segmented());
    REQUIRE(rec.catalog().size() == kSegments);
    CHECK(rec.live_segments().size() == kSegments);
    CHECK(rec.catalog().back().state == "open");
    CHECK(rec.schema() == one.schema());
    REQUIRE(one.catalog().size() == 1);
    CHECK(one.catalog()[0].rows == kSegments * kPer);
    CHECK(*one.catalog()[0].first_seq == rec_seq(0));
    CHECK(*one.catalog()[0].last_seq == rec_seq(kSegments * kPer - 1));

    const std::int64_t mid = rec_ts(3 * kPer + 17);
    const std::vector<std::string> queries = {
        "SELECT * FROM sensor",
        "SELECT * FROM log",
        "SELECT seq, a, buffer FROM sensor WHERE seq BETWEEN 1000 AND 31000",
        "SELECT seq FROM sensor WHERE seq > 20005 AND seq <= 40000",
        "SELECT seq FROM sensor WHERE seq = 45005",
        "SELECT seq FROM log WHERE seq < 500.5",
        "SELECT seq FROM sensor WHERE seq >= '59000'",
        fmt::format("SELECT seq, ts_ns FROM sensor WHERE ts_ns >= {} AND ts_ns < {} ORDER BY seq",
                    mid, mid + 40'000'000),
        fmt::format("SELECT seq FROM log WHERE ts_ns > {} ORDER BY seq", mid),
        "SELECT seq FROM sensor ORDER BY seq DESC LIMIT 7",
        "SELECT seq, message FROM log WHERE seq < 30000 ORDER BY seq DESC",
        "SELECT seq FROM sensor WHERE ts_ns > 1800000000300000000 ORDER BY seq DESC LIMIT 3",
        "SELECT seq FROM sensor ORDER BY seq LIMIT 5 OFFSET 2000",
        "SELECT count(*), sum(a), min(ts_ns), max(ts_ns), avg(c) FROM sensor",
        "SELECT count(*) FROM log WHERE level = 2",
        "SELECT level, count(*), max(code) FROM log GROUP BY level ORDER BY level",
        "SELECT s.seq, l.seq FROM sensor s JOIN log l ON l.seq = s.seq + 10 WHERE s.seq < 30000",
        "SELECT a.seq FROM sensor a JOIN sensor b ON a.seq = b.seq WHERE a.a % 97 = 0",
        "SELECT seq, time, producer, message FROM log_t WHERE seq > 50000",
        "SELECT seq, time FROM sensor_t ORDER BY seq LIMIT 3",
        "SELECT name, layout FROM _ringlite_types ORDER BY id",
        "SELECT count(*) FROM _ringlite_rejects",
        "SELECT count(*) FROM _ringlite_gaps",
        "SELECT (SELECT count(*) FROM sensor) + (SELECT count(*) FROM log)",
        "SELECT seq FROM sensor WHERE seq IN (5, 15, 59985, 777)",
        "SELECT seq FROM sensor WHERE seq > 99999999",
        "SELECT seq FROM sensor WHERE seq = NULL",
    };
    for (const auto& sql : queries) {
      INFO(sql);
      const auto want = rows(one.connection(), sql);
      CHECK((want.empty() || want[0].rfind("error", 0) != 0));
      CHECK(rows(rec.connection(), sql) == want);
    }
    // Without ORDER BY too: the folder's rows come in seq order.
    const auto seqs = rows(rec.connection(), "SELECT seq FROM sensor");
    CHECK(std::is_sorted(seqs.begin(), seqs.end(), [](const std::string& x, const std::string& y) {
      return std::stoll(x) < std::stoll(y);
    }));
    CHECK(rows(rec.connection(), "SELECT count(*) FROM sensor")[0] ==
          std::to_string(kSegments * kPer * 3 / 4));
    // ORDER BY seq is consumed: no sorter in the plan.
    const auto plan =
        rows(rec.connection(), "EXPLAIN QUERY PLAN SELECT * FROM sensor ORDER BY seq");
    for (const auto& p : plan) CHECK(p.find("TEMP B-TREE") == std::string::npos);
    // The progress and catalog come from the newest segment.
    CHECK(rows(rec.connection(), "SELECT count(*) FROM _ringlite_progress")[0] == "1");
    CHECK(rows(rec.connection(), "SELECT count(*), sum(rows) FROM _ringlite_segments")[0] ==
          fmt::format("{}|{}", kSegments, kSegments * kPer));
  }

  TEST_CASE("segments whose catalog ranges cannot meet the constraints are never opened") {
    Both b;
    // Segment 3 unreadable: queries that exclude it still run; one that needs it says so.
    ringlite::test::write_file(b.seg(3), std::string(8192, 'x'));
    const Recording rec = Recording::open(b.folder);
    const std::uint64_t first4 = rec_seq(3 * kPer);
    CHECK(rows(rec.connection(),
               fmt::format("SELECT count(*) FROM sensor WHERE seq >= {}", first4))[0] ==
          std::to_string((kSegments - 3) * kPer * 3 / 4));
    CHECK(rows(rec.connection(), "SELECT count(*) FROM log WHERE seq < 100")[0] == "2");
    CHECK(rows(rec.connection(),
               fmt::format("SELECT count(*) FROM sensor WHERE ts_ns > {}", rec_ts(4 * kPer)))[0]
              .find("error") != 0);
    CHECK(rows(rec.connection(),
               fmt::format("SELECT seq FROM sensor s WHERE seq = {}", rec_seq(5 * kPer + 1)))[0] ==
          std::to_string(rec_seq(5 * kPer + 1)));
    // The newest records, newest first: only the last segment is read.
    CHECK(rows(rec.connection(), "SELECT seq FROM sensor ORDER BY seq DESC LIMIT 2") ==
          std::vector<std::string>{std::to_string(rec_seq(kSegments * kPer - 2)),
                                   std::to_string(rec_seq(kSegments * kPer - 3))});
    const auto all = rows(rec.connection(), "SELECT count(*) FROM sensor");
    REQUIRE(all.size() == 1);
    CHECK(all[0].find("error: ") == 0);
    CHECK(all[0].find(b.seg(3).string()) != std::string::npos);
    CHECK(all[0].find("not a database") != std::string::npos);
    // The failure did not poison the connection.
    CHECK(rows(rec.connection(),
               fmt::format("SELECT count(*) FROM log WHERE seq >= {}", first4))[0] ==
          std::to_string((kSegments - 3) * kPer / 4));
  }

  TEST_CASE("a segment that retention deletes while the recording is open is skipped") {
    Both b(4, 200);
    const Recording rec = Recording::open(b.folder);
    fs::remove(b.seg(2));
    CHECK(rows(rec.connection(), "SELECT count(*) FROM sensor")[0] == std::to_string(3 * 150));
    CHECK(rows(rec.connection(), "SELECT min(seq) FROM log WHERE seq > 2000")[0] ==
          std::to_string(rec_seq(2 * 200 + 3)));
    // And a catalog that already says deleted: never looked for.
    exec_sql(b.seg(4),
             "UPDATE _ringlite_segments SET state = 'deleted', deleted_ns = 2 WHERE number = 2");
    const Recording again = Recording::open(b.folder);
    CHECK(again.live_segments().size() == 3);
    CHECK(again.catalog().size() == 4);
    CHECK(rows(again.connection(), "SELECT count(*) FROM log")[0] == std::to_string(3 * 50));
  }

  TEST_CASE("retention gaps come from the newest segment only, other gaps from every segment") {
    Both b(3, 100);
    const auto gap = [](const char* kind, int from) {
      return fmt::format(
          "INSERT INTO _ringlite_gaps(kind, seq_from, seq_to, count, recorded_ns) VALUES ('{}', "
          "{}, {}, 1, 1);",
          kind, from, from + 1);
    };
    exec_sql(b.seg(1), gap("retention", 1) + gap("corrupt", 7));
    exec_sql(b.seg(3), gap("retention", 1) + gap("corrupt", 2007));
    const Recording rec = Recording::open(b.folder);
    CHECK(rows(rec.connection(), "SELECT kind, seq_from FROM _ringlite_gaps") ==
          std::vector<std::string>{"corrupt|7", "retention|1", "corrupt|2007"});
  }

  TEST_CASE("the tables are read-only: INSERT, UPDATE and DELETE on them fail") {
    Both b(2, 50);
    const Recording rec = Recording::open(b.folder);
    for (const char* sql :
         {"INSERT INTO sensor(seq, ts_ns, producer) VALUES (1, 1, 1)", "UPDATE sensor SET a = 0",
          "DELETE FROM log", "DELETE FROM _ringlite_segments"}) {
      INFO(sql);
      const auto r = rows(rec.connection(), sql);
      REQUIRE(r.size() == 1);
      CHECK(r[0].find("may not be modified") != std::string::npos);
    }
    CHECK(rows(rec.connection(), "SELECT count(*) FROM log")[0] == "25");
  }

  TEST_CASE("a single database file is read as it is, with time views when it has none") {
    TempDir dir("recording");
    write_records(dir / "one.db", 0, 40);
    exec_sql(dir / "one.db", "DROP VIEW IF EXISTS sensor_t; DROP VIEW IF EXISTS log_t");
    const Recording rec = Recording::open(dir / "one.db");
    CHECK(rows(rec.connection(), "SELECT time FROM sensor_t WHERE seq = 5") ==
          std::vector<std::string>{"2027-01-15T08:00:00.000000000Z"});
    CHECK(rows(rec.connection(), "SELECT count(*) FROM log_t")[0] == "10");
    const auto w = rows(rec.connection(), "DELETE FROM sensor");
    CHECK(w[0].find("error: ") == 0);
  }

  TEST_CASE("hostile files: clear errors, no crash") {
    TempDir dir("recording");
    // Missing, an empty folder, a folder of other files.
    CHECK(error_of(Errc::config, dir / "nosuch").find("no such file or folder") !=
          std::string::npos);
    fs::create_directories(dir / "empty");
    CHECK(error_of(Errc::config, dir / "empty").find("holds no segment files") !=
          std::string::npos);
    ringlite::test::write_file(dir / "empty" / "seg-1.db", "x");
    CHECK(error_of(Errc::config, dir / "empty").find("holds no segment files") !=
          std::string::npos);
    // A newest segment that is not a database, or not ringlite's.
    fs::create_directories(dir / "junk");
    ringlite::test::write_file(dir / "junk" / segment_file_name(1), std::string(4096, 'j'));
    CHECK(error_of(Errc::config, dir / "junk").find("not a database") != std::string::npos);
    exec_sql(dir / "plain.db", "CREATE TABLE t(x)");
    CHECK(error_of(Errc::schema, dir / "plain.db").find("not a ringlite database") !=
          std::string::npos);

    // Catalog rows with absurd values.
    const auto folder = dir / "rec";
    make_recording(folder, 3, 20);
    const auto newest = folder / segment_file_name(3);
    const std::string valid = "UPDATE _ringlite_segments SET first_seq = 5 WHERE number = 1";
    for (const auto& [tamper, says] : std::vector<std::pair<std::string, std::string>>{
             {"UPDATE _ringlite_segments SET first_seq = 900 WHERE number = 1", "not a range"},
             {"UPDATE _ringlite_segments SET rows = -4 WHERE number = 2", "rows is not a count"},
             {"UPDATE _ringlite_segments SET first_ts = 'x' WHERE number = 2", "no integer"},
             {"UPDATE _ringlite_segments SET last_ts = NULL WHERE number = 2", "partly NULL"},
             {"UPDATE _ringlite_segments SET last_seq = 500 WHERE number = 1", "overlapping"},
             {"INSERT INTO _ringlite_segments(number, state, created_ns) VALUES (-3, 'closed', 1)",
              "positive"},
             {"INSERT INTO _ringlite_segments(number, state, created_ns) VALUES (9, 'closed', 1)",
              "past the newest"},
             {"DELETE FROM _ringlite_segments WHERE number = 3", "no live row"},
             {"UPDATE _ringlite_segments SET state = 'open' WHERE number = 1", "as open"},
         }) {
      INFO(tamper);
      exec_sql(newest, "BEGIN; " + tamper + "; COMMIT");
      CHECK(error_of(Errc::corrupt, folder).find(says) != std::string::npos);
      // Undo: rebuild the catalog.
      fs::remove_all(folder);
      make_recording(folder, 3, 20);
    }
    exec_sql(newest, valid);  // still within its segment: fine
    CHECK_NOTHROW(Recording::open(folder));

    // A segment whose table has other columns: the query that reads it fails naming both.
    exec_sql(folder / segment_file_name(2),
             "DROP TABLE sensor; CREATE TABLE sensor (seq INTEGER PRIMARY KEY, ts_ns INTEGER, "
             "producer INTEGER, a INTEGER)");
    {
      const Recording rec = Recording::open(folder);
      const auto r = rows(rec.connection(), "SELECT * FROM sensor");
      REQUIRE(r.size() == 1);
      CHECK(r[0].find("has columns (seq INTEGER, ts_ns INTEGER, producer INTEGER, a INTEGER)") !=
            std::string::npos);
      CHECK(rows(rec.connection(), "SELECT count(*) FROM sensor WHERE seq > 400")[0] == "15");
    }
    // A segment holding a record outside its catalog range: the order the catalog promised
    // does not hold, so the scan fails instead of returning rows out of order.
    exec_sql(folder / segment_file_name(1),
             "INSERT INTO log(seq, ts_ns, producer, level, code, message) VALUES (999999, 1, 1, "
             "1, 1, 'late')");
    {
      const Recording rec = Recording::open(folder);
      const auto r = rows(rec.connection(), "SELECT seq FROM log");
      REQUIRE(!r.empty());
      CHECK(r.back().find("the catalog's ranges are wrong") != std::string::npos);
    }
    // A segment that is not a database at all, in the middle.
    ringlite::test::write_file(folder / segment_file_name(2), "");
    {
      const Recording rec = Recording::open(folder);
      const auto r = rows(rec.connection(), "SELECT * FROM log");
      REQUIRE(r.size() == 1);
      CHECK(r[0].find("not a ringlite database") != std::string::npos);
    }
    // The newest file being created (empty): the one before is the newest complete segment.
    ringlite::test::write_file(folder / segment_file_name(4), "");
    CHECK(Recording::open(folder).catalog().size() == 3);
  }

  TEST_CASE(
      "replay of a 12-segment recording writes exactly what replay of the single database "
      "writes") {
    Both b;
    const auto check = [&](const ringlite::ReplayOptions& o, std::size_t expected) {
      const auto from_folder = replayed(b.folder, o);
      const auto from_single = replayed(b.single, o);
      CHECK(from_folder.size() == expected);
      CHECK(from_folder == from_single);
    };
    ringlite::ReplayOptions all;
    check(all, kSegments * kPer);
    ringlite::ReplayOptions sensors;  // a glob, and a seq range across three segments
    sensors.types = {"sen*"};
    sensors.from_seq = rec_seq(2 * kPer + 100);
    sensors.to_seq = rec_seq(5 * kPer - 100);
    std::size_t sensor_count = 0;  // records i % 4 == 3 are logs
    for (std::uint64_t i = 2 * kPer + 100; i <= 5 * kPer - 100; ++i) sensor_count += i % 4 != 3;
    check(sensors, sensor_count);
    ringlite::ReplayOptions window;  // a time window through the ts bounds, all types
    window.from_ns = rec_ts(7 * kPer + 3);
    window.to_ns = rec_ts(9 * kPer);
    const auto w = replayed(b.single, window);
    CHECK(w.size() > kPer);
    check(window, w.size());
    ringlite::ReplayOptions offset;  // --start-offset/--duration from the first record
    offset.start_offset = std::chrono::nanoseconds(rec_ts(4 * kPer) - rec_ts(0));
    offset.duration = std::chrono::milliseconds(kPer);  // records are 1 ms apart
    offset.exclude_types = {"log"};
    const auto o = replayed(b.single, offset);
    CHECK(o.size() > kPer / 2);
    check(offset, o.size());
  }

  TEST_CASE("bounds of any number type and size select what SQLite would, folder and file alike") {
    Both b(3, 200);
    const Recording rec = Recording::open(b.folder);
    const Recording one = Recording::open(b.single);
    for (const char* where :
         {"seq > 1e300", "seq < 1e300", "seq >= -1e300", "ts_ns < -1e300", "seq = 1e999",
          "seq < -1e999", "seq >= 9.21e18", "seq <= 9223372036854775807", "seq > 2004.5",
          "seq <= 2004.5", "seq = 2005.0", "ts_ns >= 9.3e18", "seq > -9223372036854775808",
          "seq < '100'", "seq > x'00'", "seq = NULL"}) {
      CAPTURE(where);
      const std::string sql = std::string("SELECT count(*), min(seq) FROM sensor WHERE ") + where;
      const auto got = rows(rec.connection(), sql);
      CHECK(got == rows(one.connection(), sql));
      CHECK(got.size() == 1);
    }
  }

  TEST_CASE("a view or virtual table in place of a table is refused, never read to its end") {
    TempDir dir("recording");
    const auto folder = dir / "rec";
    const auto newest = folder / segment_file_name(3);
    const auto fresh = [&] {
      fs::remove_all(folder);
      make_recording(folder, 3, 20);
    };
    const auto endless_view = [&](const fs::path& db, const std::string& table) {
      exec_sql(db, fmt::format("ALTER TABLE {0} RENAME TO {0}_real; CREATE VIEW {0} AS {1} "
                               "SELECT t.* FROM {0}_real t, r",
                               table, kEndless));
    };
    // The catalog, another metadata table, a type's table, in the newest segment.
    for (const char* table : {"_ringlite_segments", "_ringlite_gaps", "log"}) {
      INFO(table);
      fresh();
      endless_view(newest, table);
      CHECK(in_child([&] { return open_fails(folder, Errc::schema, table); }) == 0);
    }
    // A virtual table (fts5, built into Debian's SQLite) is no table either.
    fresh();
    exec_sql(newest,
             "ALTER TABLE _ringlite_progress RENAME TO p_real; CREATE VIRTUAL TABLE "
             "_ringlite_progress USING fts5(ring, seq)");
    CHECK(in_child([&] { return open_fails(folder, Errc::schema, "_ringlite_progress"); }) == 0);
    // A type's table in an older segment: the query that needs it fails naming the file.
    fresh();
    endless_view(folder / segment_file_name(1), "sensor");
    CHECK(in_child([&] {
            return query_fails(folder, "SELECT count(*) FROM sensor",
                               {segment_file_name(1), "'sensor' is not a table"});
          }) == 0);
    // Metadata read from every segment: _ringlite_rejects of an older one.
    fresh();
    endless_view(folder / segment_file_name(2), "_ringlite_rejects");
    CHECK(in_child([&] {
            return query_fails(folder, "SELECT count(*) FROM _ringlite_rejects",
                               {segment_file_name(2), "not a table"});
          }) == 0);
    // A single database file: the metadata tables the readers read, and a type's table.
    for (const char* table : {"_ringlite_rejects", "_ringlite_gaps", "sensor"}) {
      INFO(table);
      const auto single = dir / "single.db";
      fs::remove(single);
      write_records(single, 0, 20);
      endless_view(single, table);
      CHECK(in_child([&] { return open_fails(single, Errc::schema, table); }) == 0);
    }
  }

  TEST_CASE("a catalog of more than a million rows is refused as corrupt") {
    TempDir dir("recording");
    const auto folder = dir / "rec";
    make_recording(folder, 2, 10);
    exec_sql(folder / segment_file_name(2),
             fmt::format("{} INSERT INTO _ringlite_segments(number, state, rows, created_ns) "
                         "SELECT n + 100, 'deleted', 0, 1 FROM r LIMIT 1000000",
                         kEndless));
    const std::string e = error_of(Errc::corrupt, folder);
    CHECK(e.find("more than 1000000 rows") != std::string::npos);
    CHECK(e.find(segment_file_name(2)) != std::string::npos);
  }

  TEST_CASE("a FIFO as the recording or as a segment is refused before any open blocks on it") {
    TempDir dir("recording");
    const auto fifo = dir / "fifo.db";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(in_child([&] {
            return open_fails(fifo, Errc::config, "neither a folder nor a regular file");
          }) == 0);
    const auto folder = dir / "rec";
    make_recording(folder, 3, 20);
    fs::remove(folder / segment_file_name(2));
    REQUIRE(::mkfifo((folder / segment_file_name(2)).c_str(), 0600) == 0);
    CHECK(in_child([&] {
            return query_fails(folder, "SELECT count(*) FROM sensor",
                               {segment_file_name(2), "not a regular file"});
          }) == 0);
    // Queries that do not need it still run.
    const Recording rec = Recording::open(folder);
    CHECK(rows(rec.connection(), "SELECT count(*) FROM sensor WHERE seq > 400")[0] == "15");
  }

  TEST_CASE("a recording of 60 segments is read with at most 32 segment connections open") {
    constexpr std::uint64_t kMany = 60, kEach = 8;
    TempDir dir("recording");
    const auto folder = dir / "rec";
    make_recording(folder, kMany, kEach);
    const std::size_t before = open_fds();
    {
      const Recording rec = Recording::open(folder);
      // One segment's connection open (the newest): its fds (the file, its WAL and shm).
      const std::size_t per = open_fds() - before;
      REQUIRE(per >= 1);
      const std::size_t cap = per * ringlite::detail::RecordingImpl::kMaxOpenSegments;
      MESSAGE("fds a segment: ", per);
      CHECK(rows(rec.connection(), "SELECT count(*), min(seq), max(seq) FROM sensor")[0] ==
            fmt::format("{}|{}|{}", kMany * kEach * 3 / 4, rec_seq(0), rec_seq(kMany * kEach - 2)));
      CHECK(open_fds() - before <= cap);
      MESSAGE("fds after: ", open_fds() - before);
      CHECK(rows(rec.connection(), "SELECT count(*) FROM log")[0] ==
            std::to_string(kMany * kEach / 4));
      // A self-join holds two cursors on the same segments, and reopens the ones it closed.
      CHECK(rows(rec.connection(),
                 "SELECT count(*) FROM sensor a JOIN sensor b ON b.seq = a.seq + 10")[0] ==
            std::to_string(kMany * kEach / 2));
      CHECK(rows(rec.connection(), "SELECT count(*) FROM _ringlite_rejects")[0] == "0");
      CHECK(open_fds() - before <= cap);
      // With a descriptor limit these 60 cannot all be open at once (nor the 32 this process
      // holds and 32 more), the scan still succeeds.
      CHECK(in_child([&] {
              const rlimit lim{open_fds() + cap + 8, open_fds() + cap + 8};
              if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 3;
              const Recording again = Recording::open(folder);
              const auto r = rows(again.connection(), "SELECT count(*) FROM sensor");
              if (r[0] != std::to_string(kMany * kEach * 3 / 4)) {
                std::fprintf(stderr, "%s\n", r[0].c_str());
                return 1;
              }
              return 0;
            }) == 0);
      // A segment retention deletes is not kept on disk by an idle connection for long.
      fs::remove(folder / segment_file_name(kMany - 1));
      CHECK(holds_deleted(folder / segment_file_name(kMany - 1)));
      std::this_thread::sleep_for(ringlite::detail::RecordingImpl::kIdleClose +
                                  std::chrono::milliseconds(200));
      CHECK(rows(rec.connection(), "SELECT max(seq) FROM sensor")[0] ==
            std::to_string(rec_seq(kMany * kEach - 2)));
      CHECK(!holds_deleted(folder / segment_file_name(kMany - 1)));
    }
    CHECK(open_fds() == before);
  }

  TEST_CASE("column types must be the DDL's, in the newest segment and in every other") {
    TempDir dir("recording");
    const auto folder = dir / "rec";
    make_recording(folder, 3, 20);
    const auto retype = [&](std::uint64_t n, const char* ts, const char* a) {
      exec_sql(folder / segment_file_name(n),
               fmt::format("DROP TABLE sensor; CREATE TABLE sensor (seq INTEGER PRIMARY KEY, "
                           "ts_ns {}, producer INTEGER, a {}, b REAL, c REAL, buffer TEXT)",
                           ts, a));
    };
    retype(1, "TEXT", "INTEGER");
    CHECK(query_fails(folder, "SELECT count(*) FROM sensor",
                      {segment_file_name(1), "table 'sensor' column 'ts_ns'", "TEXT"}) == 0);
    retype(3, "INTEGER", "REAL");
    const std::string e = error_of(Errc::schema, folder);
    CHECK(e.find("table 'sensor' column 'a' is declared 'REAL'") != std::string::npos);
    CHECK(e.find(segment_file_name(3)) != std::string::npos);
    // A single database file too.
    write_records(dir / "one.db", 0, 10);
    exec_sql(dir / "one.db",
             "DROP TABLE log; CREATE TABLE log (seq INTEGER PRIMARY KEY, ts_ns INTEGER, producer "
             "BLOB, level INTEGER, code INTEGER, message TEXT)");
    CHECK(error_of(Errc::schema, dir / "one.db").find("column 'producer'") != std::string::npos);
  }

  TEST_CASE("names from hostile files stay on one line in errors") {
    TempDir dir("recording");
    const auto folder = dir / "re\nc";
    make_recording(folder, 3, 20);
    exec_sql(folder / segment_file_name(3),
             "UPDATE _ringlite_types SET name = 'sen' || char(10) || 'sor' WHERE name = 'sensor'");
    const std::string e = error_of(Errc::schema, folder);
    CHECK(e.find('\n') == std::string::npos);
    CHECK(e.find("'sen\\nsor'") != std::string::npos);
    CHECK(e.find("re\\nc") != std::string::npos);
    // A query's error names the segment's path, on one line too.
    fs::remove_all(folder);
    make_recording(folder, 3, 20);
    ringlite::test::write_file(folder / segment_file_name(2), std::string(4096, 'j'));
    CHECK(query_fails(folder, "SELECT count(*) FROM log", {"re\\nc", "not a database"}) == 0);
  }
}

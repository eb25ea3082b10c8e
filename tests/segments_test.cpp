// Tests of a recording's writer (docs/design.md, "Recordings"), in process through Store:
// segments rolled by size and by record time, each a complete database with the catalog,
// progress carried across rolls, retention with its gap rows, recovery from a kill at each
// step of a roll or a retention (the files made by hand), and the folder's config errors.
#include <doctest/doctest.h>
#include <fmt/core.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "checks.hpp"
#include "ringlite/error.hpp"
#include "ringlite/store.hpp"
#include "ringutil.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ringlite::Batch;
using ringlite::DatabaseConfig;
using ringlite::Errc;
using ringlite::Error;
using ringlite::Frame;
using ringlite::Store;
using ringlite::test::TempDir;

namespace {

constexpr const char* kOrigin = "/x/rec.toml";
constexpr const char* kRing = "0123456789abcdef0123456789abcdef";
constexpr std::uint16_t kSensor = 1;       // schema/demo.sql
constexpr std::uint64_t kFrame = 32 + 80;  // a sensor frame's bytes in the ring

DatabaseConfig recording(const fs::path& folder, std::uint64_t segment_bytes = 1 << 20) {
  DatabaseConfig c;
  c.path = folder;
  c.segment_bytes = segment_bytes;
  return c;
}

// A batch of `n` sensor records from position `*pos` on (advanced past them), each with
// a = its index k and ts_ns from `ts(k)`.
template <typename Ts>
Batch sensors(std::uint64_t& pos, std::int32_t& k, int n, Ts ts) {
  Batch b;
  for (int i = 0; i < n; ++i, ++k, pos += kFrame) {
    auto s = ringlite::test::make_sensor(k);
    // A long text: about 100 bytes a row, so 1MiB segments fill in ~10k records.
    std::snprintf(s.buffer, sizeof s.buffer, "s-%d-%s", k,
                  "..................................................");
    const auto offset = b.arena.size();
    b.arena.resize(offset + sizeof s);
    std::memcpy(b.arena.data() + offset, &s, sizeof s);
    b.frames.push_back(Frame{pos, kSensor, 3, ts(k), static_cast<std::uint32_t>(offset),
                             static_cast<std::uint32_t>(sizeof s)});
  }
  b.end = pos;
  return b;
}
Batch sensors(std::uint64_t& pos, std::int32_t& k, int n) {
  return sensors(pos, k, n, [](std::int32_t i) { return std::int64_t{1'000'000'000} + i; });
}

// A segment opened alone, as the stock sqlite3 would.
struct Db {
  sqlite3* h = nullptr;
  explicit Db(const fs::path& p) {
    // Read-write, as the sqlite3 shell opens it: its close then removes the -wal it made.
    REQUIRE(sqlite3_open_v2(p.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  ~Db() { sqlite3_close_v2(h); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  // The rows of `sql`, each as its columns' text ("NULL" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& sql) const {
    sqlite3_stmt* st = nullptr;
    const int prc = sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr);
    INFO(sql, ": ", sqlite3_errmsg(h));
    REQUIRE(prc == SQLITE_OK);
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto& r = out.emplace_back();
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        r.emplace_back(t ? t : "NULL");
      }
    }
    sqlite3_finalize(st);
    return out;
  }
  std::string one(const std::string& sql) const {
    const auto r = rows(sql);
    REQUIRE(!r.empty());
    return r.front().front();
  }
  std::int64_t number(const std::string& sql) const { return std::stoll(one(sql)); }
};

std::vector<fs::path> segment_files(const fs::path& folder) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(folder)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("seg-") && name.ends_with(".db")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t number_of(const fs::path& p) {
  return std::stoull(p.filename().string().substr(4, 8));
}

// Every sensor row's `a` across the live segments, by seq, checking that each segment's
// catalog row (in the newest segment's catalog) is exact and the segments' ranges
// increase. Returns a -> count.
std::map<std::int64_t, int> check_recording(const fs::path& folder) {
  const auto files = segment_files(folder);
  REQUIRE(!files.empty());
  const Db newest(files.back());
  std::map<std::int64_t, int> seen;
  std::int64_t prev_last = -1;
  for (const auto& f : files) {
    const auto n = number_of(f);
    INFO("segment ", f.filename().string());
    const bool closed = f != files.back();
    if (closed) CHECK(!fs::exists(f.string() + "-wal"));  // before a connection makes one
    const Db seg(f);
    // A complete database on its own: its types, its tables, its catalog.
    CHECK(seg.number("PRAGMA application_id") == ringlite::kApplicationId);
    CHECK(seg.number("SELECT count(*) FROM _ringlite_types") == 2);
    CHECK(seg.number("PRAGMA user_version") == ringlite::kUserVersion);
    CHECK(seg.number("SELECT count(*) FROM sqlite_schema WHERE name IN ('sensor', 'log', "
                     "'sensor_t', 'log_t', '_ringlite_sensor_ts', '_ringlite_log_ts', "
                     "'log_level')") == 7);
    CHECK(seg.number("SELECT count(*) FROM _ringlite_segments WHERE number = " +
                     std::to_string(n)) == 1);
    const auto actual =
        seg.rows("SELECT min(seq), max(seq), min(ts_ns), max(ts_ns), count(*) FROM sensor")[0];
    const auto row = newest.rows(
        fmt::format("SELECT first_seq, last_seq, first_ts, last_ts, rows, state, bytes FROM "
                    "_ringlite_segments WHERE number = {}",
                    n));
    REQUIRE(row.size() == 1);
    CHECK(row[0][0] == actual[0]);
    CHECK(row[0][1] == actual[1]);
    CHECK(row[0][2] == actual[2]);
    CHECK(row[0][3] == actual[3]);
    CHECK(row[0][4] == actual[4]);
    if (closed) {
      CHECK(row[0][5] == "closed");
      CHECK(std::stoll(row[0][6]) == static_cast<std::int64_t>(fs::file_size(f)));
      // Its own catalog says closed too.
      CHECK(seg.one(fmt::format("SELECT state FROM _ringlite_segments WHERE number = {}", n)) ==
            "closed");
    } else {
      CHECK(row[0][5] == "open");
      CHECK(row[0][6] == "NULL");
    }
    if (actual[0] != "NULL") {
      CHECK(std::stoll(actual[0]) > prev_last);
      prev_last = std::stoll(actual[1]);
    }
    for (const auto& r : seg.rows("SELECT a FROM sensor")) ++seen[std::stoll(r[0])];
  }
  return seen;
}

void expect_each_once(const std::map<std::int64_t, int>& seen, std::int32_t from, std::int32_t to) {
  CHECK(seen.size() == static_cast<std::size_t>(to - from));
  for (const auto& [a, c] : seen) {
    if (c != 1 || a < from || a >= to) {
      FAIL_CHECK("record ", a, " is there ", c, " times");
      break;
    }
  }
}

using ringlite::test::error_of;

}  // namespace

TEST_SUITE("segments") {
  TEST_CASE("a recording rolls by size into numbered segments, each a complete database") {
    TempDir dir("segbytes");
    const fs::path folder = dir / "rec";
    const auto schema = ringlite::test::demo_schema();
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      std::vector<std::string> log;
      store.set_log([&](const std::string& l) { log.push_back(l); });
      CHECK(store.path() == folder.string());
      for (int i = 0; i < 30; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
      CHECK(store.progress(kRing) == pos);
      CHECK(store.next_position() == pos);
      CHECK(store.describe().find("recording '" + folder.string() + "'") == 0);
      bool rolled = false;
      for (const auto& l : log) rolled |= l.find("closed seg-00000001.db") != std::string::npos;
      CHECK(rolled);
    }
    const auto files = segment_files(folder);
    CHECK(files.size() >= 3);
    for (std::size_t i = 0; i < files.size(); ++i) CHECK(number_of(files[i]) == i + 1);
    expect_each_once(check_recording(folder), 0, k);
    // Progress is carried: the newest segment alone says where to resume.
    const Db newest(files.back());
    CHECK(newest.number("SELECT position FROM _ringlite_progress") ==
          static_cast<std::int64_t>(pos));
    // Each closed segment held about segment_bytes when it rolled.
    for (std::size_t i = 0; i + 1 < files.size(); ++i) {
      CHECK(fs::file_size(files[i]) >= (1u << 20));
      CHECK(fs::file_size(files[i]) < (1u << 20) + (256u << 10));
    }
    // Reopened, it goes on in the newest segment, and a batch sent again is not written twice.
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      std::uint64_t again = pos - 500 * kFrame;
      std::int32_t ka = k - 500;
      store.write_batch(sensors(again, ka, 1000), kRing);
      pos = again;
      k = ka;
    }
    expect_each_once(check_recording(folder), 0, k);
  }

  TEST_CASE("a recording rolls by record time") {
    TempDir dir("segtime");
    const fs::path folder = dir / "rec";
    auto config = recording(folder, 0);
    config.segment_duration = 1s;
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(config, ringlite::test::demo_schema(), kOrigin);
      // 10 records per batch, 100 ms of record time apart: a roll every ~second of them.
      for (int i = 0; i < 25; ++i) {
        store.write_batch(sensors(pos, k, 10,
                                  [](std::int32_t j) {
                                    return std::int64_t{5'000'000'000} +
                                           std::int64_t{j} * 10'000'000;
                                  }),
                          kRing);
      }
    }
    const auto files = segment_files(folder);
    CHECK(files.size() >= 2);
    expect_each_once(check_recording(folder), 0, k);
    const Db newest(files.back());
    for (const auto& r :
         newest.rows("SELECT last_ts - first_ts FROM _ringlite_segments WHERE state = 'closed'")) {
      CHECK(std::stoll(r[0]) >= 1'000'000'000);
      CHECK(std::stoll(r[0]) < 1'200'000'000);
    }
  }

  TEST_CASE("retention deletes the oldest closed segments and records them as gaps") {
    TempDir dir("segretain");
    const fs::path folder = dir / "rec";
    auto config = recording(folder);
    config.retain_bytes = 3 << 20;
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    std::vector<std::string> log;
    std::uint64_t max_disk = 0;
    {
      Store store = Store::open(config, ringlite::test::demo_schema(), kOrigin);
      store.set_log([&](const std::string& l) { log.push_back(l); });
      for (int i = 0; i < 80; ++i) {
        store.write_batch(sensors(pos, k, 1000), kRing);
        std::uint64_t disk = 0;
        for (const auto& e : fs::directory_iterator(folder)) {
          std::error_code ec;  // the deleter may unlink it meanwhile
          const auto size = e.file_size(ec);
          if (!ec) disk += size;
        }
        max_disk = std::max(max_disk, disk);
      }
      for (int i = 0; i < 100 && segment_files(folder).front().filename() == "seg-00000001.db"; ++i)
        std::this_thread::sleep_for(20ms);  // the deleter's unlink
      store.checkpoint();                   // says what the deleter did
    }
    // Within retain_bytes plus one segment, the -wal aside (a 1000-record batch's worth).
    CHECK(max_disk <= (3u << 20) + (1u << 20) + (2u << 20));
    const auto files = segment_files(folder);
    REQUIRE(number_of(files.front()) > 1);
    const Db newest(files.back());
    const auto deleted = newest.rows(
        "SELECT number, first_seq, last_seq, rows FROM _ringlite_segments WHERE state = "
        "'deleted' ORDER BY number");
    REQUIRE(deleted.size() == number_of(files.front()) - 1);
    std::int64_t expired = 0;
    for (const auto& d : deleted) {
      CHECK(!fs::exists(folder / fmt::format("seg-{:08}.db", std::stoll(d[0]))));
      const auto gap = newest.rows(fmt::format(
          "SELECT seq_to, count, reason FROM _ringlite_gaps WHERE kind = 'retention' AND "
          "seq_from = {}",
          d[1]));
      REQUIRE(gap.size() == 1);
      CHECK(std::stoll(gap[0][0]) == std::stoll(d[2]) + 1);
      CHECK(gap[0][1] == d[3]);
      CHECK(gap[0][2].find("retain_bytes 3MiB: the recording held") == 0);
      expired += std::stoll(d[3]);
    }
    // Every record is in a live segment or counted by a retention gap.
    const auto seen = check_recording(folder);
    CHECK(static_cast<std::int64_t>(seen.size()) + expired == k);
    expect_each_once(seen, static_cast<std::int32_t>(expired), k);
    // The gap rows are carried into every later segment: each live one has those before it.
    for (const auto& f : files) {
      const Db seg(f);
      CHECK(seg.number("SELECT count(*) FROM _ringlite_gaps WHERE kind = 'retention'") >=
            static_cast<std::int64_t>(number_of(files.front()) - 1 -
                                      (number_of(files.back()) - number_of(f))));
    }
    CHECK(newest.number("SELECT count(*) FROM _ringlite_gaps WHERE kind = 'retention'") ==
          static_cast<std::int64_t>(deleted.size()));
    bool said = false, unlinked = false;
    for (const auto& l : log) {
      said |= l.find("expired seg-00000001.db") != std::string::npos;
      unlinked |= l.find("deleted seg-00000001.db") != std::string::npos;
    }
    CHECK(said);
    CHECK(unlinked);
  }

  TEST_CASE("retain_age expires closed segments whose newest record is older") {
    TempDir dir("segage");
    const fs::path folder = dir / "rec";
    auto config = recording(folder);
    config.retain_age = 1h;
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(config, ringlite::test::demo_schema(), kOrigin);
      // Two hours old: expired as soon as their segment closes.
      for (int i = 0; i < 12; ++i)
        store.write_batch(
            sensors(pos, k, 1000, [&](std::int32_t) { return now - 7'200'000'000'000; }), kRing);
      // Recent: kept.
      for (int i = 0; i < 12; ++i)
        store.write_batch(sensors(pos, k, 1000, [&](std::int32_t) { return now; }), kRing);
    }
    const auto files = segment_files(folder);
    const Db newest(files.back());
    CHECK(newest.number("SELECT count(*) FROM _ringlite_gaps WHERE kind = 'retention' AND "
                        "reason LIKE 'retain_age 1h: its newest record is 2h old'") >= 1);
    // No segment holding a recent record went.
    const auto seen = check_recording(folder);
    for (std::int32_t a = 12000; a < k; ++a) CHECK(seen.count(a) == 1);
  }

  TEST_CASE("an idle recording expires by age when the bridge's once-a-second call comes") {
    TempDir dir("segidle");
    const fs::path folder = dir / "rec";
    auto config = recording(folder);
    config.retain_age = 1s;
    const auto wall = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    Store store = Store::open(config, ringlite::test::demo_schema(), kOrigin);
    for (int i = 0; i < 14; ++i)
      store.write_batch(sensors(pos, k, 1000, [&](std::int32_t) { return wall(); }), kRing);
    REQUIRE(fs::exists(folder / "seg-00000002.db"));
    store.checkpoint();
    CHECK(fs::exists(folder / "seg-00000001.db"));  // not a second old yet
    std::this_thread::sleep_for(1200ms);
    store.checkpoint();  // what the bridge calls once a second, idle or not
    const Db newest(segment_files(folder).back());
    CHECK(newest.one("SELECT state FROM _ringlite_segments WHERE number = 1") == "deleted");
    CHECK(newest.number("SELECT count(*) FROM _ringlite_gaps WHERE kind = 'retention' AND reason "
                        "LIKE 'retain_age 1s: %'") == 1);
    for (int i = 0; i < 100 && fs::exists(folder / "seg-00000001.db"); ++i)
      std::this_thread::sleep_for(10ms);
    CHECK(!fs::exists(folder / "seg-00000001.db"));
  }

  TEST_CASE("a new segment whose creation a kill interrupted is removed on open") {
    TempDir dir("segrecover1");
    const fs::path folder = dir / "rec";
    const auto schema = ringlite::test::demo_schema();
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      for (int i = 0; i < 12; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
    }
    const auto before = segment_files(folder);
    const auto next = folder / fmt::format("seg-{:08}.db", number_of(before.back()) + 1);
    {  // an SQLite file in WAL mode, nothing committed: what a kill during step 2 leaves
      sqlite3* h = nullptr;
      REQUIRE(sqlite3_open(next.c_str(), &h) == SQLITE_OK);
      sqlite3_exec(h, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
      sqlite3_close(h);
    }
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      CHECK(store.progress(kRing) == pos);
      CHECK(!fs::exists(next));
      for (int i = 0; i < 12; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
    }
    expect_each_once(check_recording(folder), 0, k);
  }

  TEST_CASE("a segment closed by a roll that did not finish gets its successor on open") {
    TempDir dir("segrecover2");
    const fs::path folder = dir / "rec";
    const auto schema = ringlite::test::demo_schema();
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      for (int i = 0; i < 4; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
    }
    const auto before = segment_files(folder);
    {  // step 1 done, step 2 not: the newest says closed
      sqlite3* h = nullptr;
      REQUIRE(sqlite3_open(before.back().c_str(), &h) == SQLITE_OK);
      REQUIRE(
          sqlite3_exec(h,
                       fmt::format("UPDATE _ringlite_segments SET state = 'closed', closed_ns = "
                                   "1, bytes = (SELECT page_count FROM pragma_page_count()) * "
                                   "(SELECT page_size FROM pragma_page_size()) WHERE number = "
                                   "{}",
                                   number_of(before.back()))
                           .c_str(),
                       nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(h);
    }
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      CHECK(segment_files(folder).size() == before.size() + 1);
      CHECK(store.progress(kRing) == pos);
      CHECK(store.next_position() == pos);
      // The bridge resumes from progress: a batch re-sent from before it is not written again.
      std::uint64_t again = pos - 300 * kFrame;
      std::int32_t ka = k - 300;
      const auto r = store.write_batch(sensors(again, ka, 1000), kRing);
      CHECK(r.inserted == 700);
      pos = again;
      k = ka;
    }
    expect_each_once(check_recording(folder), 0, k);
  }

  TEST_CASE("an expired segment whose unlink a kill prevented is deleted on open") {
    TempDir dir("segrecover3");
    const fs::path folder = dir / "rec";
    const auto schema = ringlite::test::demo_schema();
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      for (int i = 0; i < 30; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
    }
    const auto files = segment_files(folder);
    REQUIRE(files.size() >= 3);
    {  // retention's transaction committed, its unlink never ran
      sqlite3* h = nullptr;
      REQUIRE(sqlite3_open(files.back().c_str(), &h) == SQLITE_OK);
      REQUIRE(sqlite3_exec(h,
                           "UPDATE _ringlite_segments SET state = 'deleted', deleted_ns = 1 WHERE "
                           "number = 1",
                           nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(h);
    }
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      CHECK(!fs::exists(files.front()));
      CHECK(fs::exists(files[1]));
      CHECK(store.progress(kRing) == pos);
    }
  }

  TEST_CASE("a catalog with absurd values is survived") {
    TempDir dir("seghostile");
    const fs::path folder = dir / "rec";
    const auto schema = ringlite::test::demo_schema();
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(recording(folder), schema, kOrigin);
      for (int i = 0; i < 30; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
    }
    const auto files = segment_files(folder);
    REQUIRE(files.size() >= 3);
    auto config = recording(folder);
    config.retain_bytes = 4 << 20;
    config.retain_age = 24h;
    {  // the file is untrusted: sizes and times at the ends of their range
      sqlite3* h = nullptr;
      REQUIRE(sqlite3_open(files.back().c_str(), &h) == SQLITE_OK);
      REQUIRE(sqlite3_exec(h,
                           "UPDATE _ringlite_segments SET bytes = 9223372036854775807, last_ts = "
                           "-9223372036854775808, last_seq = 9223372036854775807 WHERE state = "
                           "'closed'; UPDATE _ringlite_segments SET first_ts = "
                           "-9223372036854775808, last_ts = 9223372036854775807 WHERE state = "
                           "'open'",
                           nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(h);
    }
    {
      Store store = Store::open(config, schema, kOrigin);
      store.write_batch(sensors(pos, k, 1000), kRing);  // rolls (its span is huge), expires
      CHECK(store.progress(kRing) == pos);
    }
    const auto after = segment_files(folder);
    CHECK(number_of(after.front()) > number_of(files.front()));
    const Db newest(after.back());
    CHECK(newest.number("SELECT count(*) FROM _ringlite_segments WHERE state = 'deleted'") >= 1);
  }

  TEST_CASE("a recording's folder is created with the mode's search bits, and locked") {
    TempDir dir("segfolder");
    const fs::path folder = dir / "rec";
    auto config = recording(folder);
    config.mode = 0640;
    const auto schema = ringlite::test::demo_schema();
    Store store = Store::open(config, schema, kOrigin);
    struct stat st {};
    REQUIRE(::stat(folder.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    REQUIRE(::stat((folder / "seg-00000001.db").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    const auto busy = error_of(Errc::busy, [&] { Store::open(config, schema, kOrigin); });
    CHECK(busy.find(fmt::format("(pid {})", ::getpid())) != std::string::npos);
    CHECK(busy.find(folder.string()) != std::string::npos);
  }

  TEST_CASE("a recording's path that cannot be its folder is a config error") {
    TempDir dir("segconfig");
    const auto schema = ringlite::test::demo_schema();
    ringlite::test::write_file(dir / "file", "x");
    auto msg =
        error_of(Errc::config, [&] { Store::open(recording(dir / "file"), schema, kOrigin); });
    CHECK(msg.find("'database.path'") != std::string::npos);
    CHECK(msg.find(kOrigin) != std::string::npos);
    CHECK(msg.find("is a file") != std::string::npos);
    msg = error_of(Errc::config,
                   [&] { Store::open(recording(dir / "none" / "rec"), schema, kOrigin); });
    CHECK(msg.find("'database.path'") != std::string::npos);
    CHECK(msg.find("does not exist") != std::string::npos);
    // A newest segment that is not a database at all is refused, not deleted.
    fs::create_directory(dir / "bad");
    ringlite::test::write_file(dir / "bad" / "seg-00000001.db", std::string(8192, 'x'));
    msg = error_of(Errc::corrupt, [&] { Store::open(recording(dir / "bad"), schema, kOrigin); });
    CHECK(msg.find("seg-00000001.db") != std::string::npos);
    CHECK(fs::exists(dir / "bad" / "seg-00000001.db"));
  }

  TEST_CASE("a closed segment leaves WAL mode, so reading it creates no -wal or -shm") {
    TempDir dir("segdelete");
    const fs::path folder = dir / "rec";
    std::uint64_t pos = 0;
    std::int32_t k = 0;
    {
      Store store = Store::open(recording(folder), ringlite::test::demo_schema(), kOrigin);
      for (int i = 0; i < 30; ++i) store.write_batch(sensors(pos, k, 1000), kRing);
    }  // the deleter has run every job when the store is gone
    // Read-only, as a reader who may not write the folder opens it.
    const auto journal_mode = [](const fs::path& file) {
      sqlite3* h = nullptr;
      REQUIRE(sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
      sqlite3_stmt* st = nullptr;
      std::string mode;
      if (sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW) {
        mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      }
      sqlite3_finalize(st);
      CHECK(sqlite3_exec(h, "SELECT count(*) FROM sensor", nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(h);
      return mode;
    };
    const auto files = segment_files(folder);
    REQUIRE(files.size() >= 3);
    for (std::size_t i = 0; i + 1 < files.size(); ++i) {
      CAPTURE(files[i]);
      CHECK(journal_mode(files[i]) == "delete");
      CHECK_FALSE(fs::exists(files[i].string() + "-wal"));
      CHECK_FALSE(fs::exists(files[i].string() + "-shm"));
    }
    CHECK(journal_mode(files.back()) == "wal");  // the open one, as the preset says
  }
}

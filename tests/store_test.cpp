// Tests of the Store: pragmas applied and verified, tables and metadata created, the schema
// check between runs, and write_batch (every column type decoded, rejects, gaps, progress,
// disk full, a locked database). Batches are built by hand, as the consumer would fill them.
#include "ringlite/store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>
#include <fmt/core.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "checks.hpp"
#include "proc.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/replay.hpp"
#include "ringutil.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ringlite::Batch;
using ringlite::DatabaseConfig;
using ringlite::Errc;
using ringlite::Error;
using ringlite::Frame;
using ringlite::Gap;
using ringlite::Schema;
using ringlite::Store;
using ringlite::test::Log;
using ringlite::test::Sensor;
using ringlite::test::TempDir;

namespace {

constexpr const char* kOrigin = "/x/demo.toml";
constexpr const char* kRing = "0123456789abcdef0123456789abcdef";
constexpr std::uint16_t kSensor = 1;  // ids in schema/demo.sql
constexpr std::uint16_t kLog = 2;

DatabaseConfig config(const fs::path& path, const std::string& preset = "safe",
                      std::map<std::string, std::string> pragmas = {}) {
  DatabaseConfig c;
  c.path = path;
  c.preset = preset;
  c.pragmas = std::move(pragmas);
  return c;
}

using ringlite::test::error_of;

// Appends a frame with these payload bytes; payloads stay 8-byte aligned in the arena, and
// batch.end moves past the frame as the consumer's would.
void add_frame(Batch& b, std::uint64_t seq, std::uint16_t type, const void* data, std::size_t n,
               std::uint32_t producer = 3) {
  const auto offset = b.arena.size();
  b.arena.resize(offset + (n + 7) / 8 * 8);
  if (n) std::memcpy(b.arena.data() + offset, data, n);
  b.frames.push_back(Frame{seq, type, producer, static_cast<std::int64_t>(1'000'000 + seq),
                           static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(n)});
  b.end = std::max(b.end, seq + 32 + (n + 7) / 8 * 8);
}

void add_sensor(Batch& b, std::uint64_t seq, std::int32_t k) {
  const Sensor s = ringlite::test::make_sensor(k);
  add_frame(b, seq, kSensor, &s, sizeof s);
}

std::vector<std::byte> log_record(std::uint8_t level, std::int32_t code,
                                  const std::string& message) {
  Log l{};
  l.level = level;
  l.code = code;
  l.message_offset = sizeof(Log);
  l.message_length = static_cast<std::uint32_t>(message.size());
  std::vector<std::byte> bytes(sizeof(Log) + message.size());
  std::memcpy(bytes.data(), &l, sizeof l);
  std::memcpy(bytes.data() + sizeof l, message.data(), message.size());
  return bytes;
}

void add_log(Batch& b, std::uint64_t seq, std::uint8_t level, std::int32_t code,
             const std::string& msg) {
  const auto bytes = log_record(level, code, msg);
  add_frame(b, seq, kLog, bytes.data(), bytes.size());
}

// A second connection, as a reader (sqlite3 CLI, ringlite query) would open the file.
SQLite::Database reader(const fs::path& path) {
  return SQLite::Database(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
}

std::int64_t count(const fs::path& path, const std::string& table) {
  return reader(path).execAndGet("SELECT count(*) FROM " + table).getInt64();
}

std::string pragma_of(const Store& store, const std::string& name) {
  for (const auto& [n, v] : store.pragmas()) {
    if (n == name) return v;
  }
  return "<absent>";
}

// A table's columns as "name type notnull default pk", and its unique indexes' columns.
std::vector<std::string> describe(SQLite::Database& db, const std::string& table) {
  std::vector<std::string> out;
  SQLite::Statement cols(db,
                         "SELECT name, type, \"notnull\", ifnull(dflt_value, '-'), pk "
                         "FROM pragma_table_info(?)");
  cols.bind(1, table);
  while (cols.executeStep()) {
    out.push_back(cols.getColumn(0).getString() + " " + cols.getColumn(1).getString() + " " +
                  cols.getColumn(2).getString() + " " + cols.getColumn(3).getString() + " " +
                  cols.getColumn(4).getString());
  }
  SQLite::Statement idx(db,
                        "SELECT l.\"unique\", group_concat(i.name) FROM pragma_index_list(?1) l, "
                        "pragma_index_info(l.name) i GROUP BY l.name ORDER BY 2");
  idx.bind(1, table);
  while (idx.executeStep()) {
    out.push_back("index unique=" + idx.getColumn(0).getString() + " " +
                  idx.getColumn(1).getString());
  }
  return out;
}

// The permission bits of a file.
unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets the process umask for a scope.
struct Umask {
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
  mode_t old;
};

// A schema whose index SQLite evaluates per row: abs(INT64_MIN) overflows.
constexpr const char* kTickSchema =
    "CREATE TABLE tick (n INT64, label CHAR(8)); CREATE INDEX tick_abs ON tick(abs(n));";

struct Tick {
  std::int64_t n;
  char label[8];
};

void add_tick(Batch& b, std::uint64_t seq, std::int64_t n) {
  Tick t{};
  t.n = n;
  std::snprintf(t.label, sizeof t.label, "t%d", static_cast<int>(seq % 100000));
  add_frame(b, seq, 1, &t, sizeof t);
}

// Writes `v` at field `name` of a record of `type`.
template <typename T>
void put(std::vector<std::byte>& rec, const ringlite::RecordType& type, const char* name, T v) {
  const auto* f = type.field(name);
  REQUIRE(f != nullptr);
  std::memcpy(rec.data() + f->offset, &v, sizeof v);
}

}  // namespace

TEST_SUITE("store") {
  TEST_CASE("preset_pragmas maps each preset to its journal mode and synchronous level") {
    using P = std::vector<std::pair<std::string, std::string>>;
    CHECK(ringlite::preset_pragmas("fast") ==
          P{{"journal_mode", "MEMORY"}, {"synchronous", "OFF"}});
    CHECK(ringlite::preset_pragmas("safe") ==
          P{{"journal_mode", "WAL"}, {"synchronous", "NORMAL"}});
    CHECK(ringlite::preset_pragmas("durable") ==
          P{{"journal_mode", "WAL"}, {"synchronous", "FULL"}});
    const auto msg = error_of(Errc::config, [] { ringlite::preset_pragmas("turbo"); });
    CHECK(msg == "cannot use database preset 'turbo': expected fast, safe or durable");
  }

  TEST_CASE("each preset's pragmas are in force after open") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    struct Case {
      const char* preset;
      const char* journal;
      const char* synchronous;
    };
    for (const Case c : {Case{"fast", "memory", "OFF"}, Case{"safe", "wal", "NORMAL"},
                         Case{"durable", "wal", "FULL"}}) {
      CAPTURE(c.preset);
      const auto path = dir / (std::string(c.preset) + ".db");
      const Store store = Store::open(config(path, c.preset), schema, kOrigin);
      CHECK(pragma_of(store, "journal_mode") == c.journal);
      CHECK(pragma_of(store, "synchronous") == c.synchronous);
      // WAL is a property of the file: another connection sees it. MEMORY and synchronous
      // are per connection, so only the store's own connection can report them.
      auto other = reader(path);
      CHECK(other.execAndGet("PRAGMA journal_mode").getString() ==
            (std::string(c.preset) == "fast" ? "delete" : "wal"));
    }
  }

  TEST_CASE("explicit pragmas override the preset and are read back") {
    TempDir dir("store");
    const Store store = Store::open(
        config(dir / "a.db", "safe",
               {{"cache_size", "-12345"}, {"synchronous", "FULL"}, {"foreign_keys", "ON"}}),
        ringlite::test::demo_schema(), kOrigin);
    CHECK(pragma_of(store, "cache_size") == "-12345");
    CHECK(pragma_of(store, "synchronous") == "FULL");
    CHECK(pragma_of(store, "foreign_keys") == "1");
    CHECK(pragma_of(store, "journal_mode") == "wal");
  }

  TEST_CASE("a new database gets 16 KiB pages, and an existing one keeps its page size") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    { const Store fresh = Store::open(config(dir / "new.db"), schema, kOrigin); }
    CHECK(reader(dir / "new.db").execAndGet("PRAGMA page_size").getInt() == 16384);
    // A database an older ringlite made, at SQLite's default page size: opened without a
    // page_size in the config, without an error, and written at the size it has.
    {
      const Store old =
          Store::open(config(dir / "old.db", "safe", {{"page_size", "4096"}}), schema, kOrigin);
    }
    {
      Store again = Store::open(config(dir / "old.db"), schema, kOrigin);
      Batch b;
      add_sensor(b, 0, 1);
      CHECK(again.write_batch(b, kRing).inserted == 1);
    }
    CHECK(reader(dir / "old.db").execAndGet("PRAGMA page_size").getInt() == 4096);
    CHECK(count(dir / "old.db", "sensor") == 1);
  }

  TEST_CASE(
      "checkpoints run beside the writer unless the config sets wal_autocheckpoint, which "
      "brings SQLite's own back") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    const auto write_mib = [](Store& store, int mib) {
      std::uint64_t seq = 0;
      for (int i = 0; i < mib; ++i) {  // about 1 MiB of rows per batch
        Batch b;
        for (int k = 0; k < 8000; ++k, seq += 112) add_sensor(b, seq, static_cast<std::int32_t>(k));
        b.end = seq;
        store.write_batch(b, kRing);
      }
    };
    const auto before = ringlite::checkpoint_history().size();
    {
      Store store = Store::open(config(dir / "a.db"), schema, kOrigin);
      write_mib(store, 24);  // past the 8 MiB of a passive checkpoint, twice
      const auto t0 = std::chrono::steady_clock::now();
      while (ringlite::checkpoint_history().size() == before &&
             std::chrono::steady_clock::now() - t0 < 5s)
        std::this_thread::sleep_for(10ms);
      CHECK(ringlite::checkpoint_history().size() > before);
    }
    const auto with_default = ringlite::checkpoint_history().size();
    {
      Store store = Store::open(config(dir / "b.db", "safe", {{"wal_autocheckpoint", "100"}}),
                                schema, kOrigin);
      CHECK(pragma_of(store, "wal_autocheckpoint") == "100");
      write_mib(store, 24);
      std::this_thread::sleep_for(1200ms);  // a checkpointer thread would have run by now
      // SQLite's autocheckpoint ran inside the COMMITs: the -wal holds at most about 100
      // pages beyond a batch, and no checkpointer thread recorded anything.
      CHECK(fs::file_size(dir.path() / "b.db-wal") < 4u << 20);
    }
    CHECK(ringlite::checkpoint_history().size() == with_default);
  }

  TEST_CASE("page_size applies to a new database and is refused once the file has content") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    {
      // Applied before journal_mode=WAL writes the first page, or it could not take.
      const Store store =
          Store::open(config(path, "safe", {{"page_size", "8192"}}), schema, kOrigin);
      CHECK(pragma_of(store, "page_size") == "8192");
    }
    CHECK(reader(path).execAndGet("PRAGMA page_size").getInt() == 8192);
    const auto msg = error_of(Errc::config, [&] {
      Store::open(config(path, "safe", {{"page_size", "4096"}}), schema, kOrigin);
    });
    CHECK(msg ==
          "invalid config '/x/demo.toml': pragma 'page_size' = '4096' did not take effect (SQLite "
          "reports '8192'); it can only change on an empty database");
  }

  TEST_CASE("a pragma SQLite does not know is a config error naming it") {
    TempDir dir("store");
    const auto msg = error_of(Errc::config, [&] {
      Store::open(config(dir / "a.db", "safe", {{"syncronous", "OFF"}}),
                  ringlite::test::demo_schema(), kOrigin);
    });
    CHECK(msg == "invalid config '/x/demo.toml': pragma 'syncronous' is not a pragma SQLite knows");
  }

  TEST_CASE("a pragma value that does not take effect is a config error naming it") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    auto msg = error_of(Errc::config, [&] {
      Store::open(config(dir / "a.db", "safe", {{"journal_mode", "bogus"}}), schema, kOrigin);
    });
    CHECK(msg ==
          "invalid config '/x/demo.toml': pragma 'journal_mode' = 'bogus' did not take effect "
          "(SQLite reports 'delete')");
    // An in-memory database cannot be in WAL mode.
    msg = error_of(Errc::config, [&] { Store::open(config(":memory:", "safe"), schema, kOrigin); });
    CHECK(msg ==
          "invalid config '/x/demo.toml': pragma 'journal_mode' = 'WAL' did not take effect "
          "(SQLite reports 'memory')");
  }

  TEST_CASE(
      "pragmas that ringlite manages, that are commands or that cannot be verified are refused") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    auto msg = error_of(Errc::config, [&] {
      Store::open(config(dir / "a.db", "safe", {{"user_version", "7"}}), schema, kOrigin);
    });
    CHECK(msg ==
          "invalid config '/x/demo.toml': pragma 'user_version' cannot be set: ringlite manages "
          "it (it is the database format version)");
    msg = error_of(Errc::config, [&] {
      Store::open(config(dir / "a.db", "safe", {{"writable_schema", "ON"}}), schema, kOrigin);
    });
    CHECK(msg.find("pragma 'writable_schema' cannot be set") != std::string::npos);
    msg = error_of(Errc::config, [&] {
      Store::open(config(dir / "a.db", "safe", {{"case_sensitive_like", "ON"}}), schema, kOrigin);
    });
    CHECK(msg ==
          "invalid config '/x/demo.toml': pragma 'case_sensitive_like' cannot be read back, so "
          "its value cannot be verified");
    msg = error_of(Errc::config, [&] {
      Store::open(config(dir / "a.db", "safe", {{"cache_size", "1;DROP"}}), schema, kOrigin);
    });
    CHECK(msg ==
          "invalid config '/x/demo.toml': pragma 'cache_size' has an invalid value '1;DROP'");
  }

  TEST_CASE("tables get the system columns first, SQL types, their indexes and the metadata") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    { const Store store = Store::open(config(path), schema, kOrigin); }
    auto db = reader(path);
    CHECK(describe(db, "sensor") ==
          std::vector<std::string>{"seq INTEGER 0 - 1", "ts_ns INTEGER 1 - 0",
                                   "producer INTEGER 1 - 0", "a INTEGER 0 - 0", "b REAL 0 - 0",
                                   "c REAL 0 - 0", "buffer TEXT 0 - 0", "index unique=0 ts_ns"});
    CHECK(describe(db, "log") ==
          std::vector<std::string>{"seq INTEGER 0 - 1", "ts_ns INTEGER 1 - 0",
                                   "producer INTEGER 1 - 0", "level INTEGER 0 - 0",
                                   "code INTEGER 0 - 0", "message TEXT 0 - 0",
                                   "index unique=0 level", "index unique=0 ts_ns"});
    CHECK(db.execAndGet(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'log_level'")
              .getInt() == 1);
    CHECK(db.execAndGet("PRAGMA application_id").getInt() == ringlite::kApplicationId);
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == ringlite::kUserVersion);

    SQLite::Statement types(db, "SELECT id, name, ddl, layout FROM _ringlite_types ORDER BY id");
    for (const auto& t : schema.types()) {
      REQUIRE(types.executeStep());
      CHECK(types.getColumn(0).getInt() == t.id);
      CHECK(types.getColumn(1).getString() == t.name);
      CHECK(types.getColumn(2).getString() == t.ddl());
      CHECK(types.getColumn(3).getString() == t.layout_signature());
    }
    CHECK_FALSE(types.executeStep());
  }

  TEST_CASE("a new database gets exactly the metadata tables of schema/metadata.sql") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    { const Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin); }
    auto db = reader(path);
    SQLite::Database doc(":memory:", SQLite::OPEN_READWRITE);
    doc.exec(ringlite::test::read_file(ringlite::test::source_dir() / "schema" / "metadata.sql"));
    for (const char* table : {"_ringlite_types", "_ringlite_progress", "_ringlite_rejects",
                              "_ringlite_gaps", "_ringlite_segments"}) {
      CAPTURE(table);
      const auto got = describe(db, table);
      CHECK_FALSE(got.empty());
      CHECK(got == describe(doc, table));
    }
    CHECK(doc.execAndGet("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").getInt() == 5);
  }

  TEST_CASE("every type has its time index and its time view, which spells ts_ns in ISO-8601") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    {
      Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
      Batch b;
      const std::int64_t times[] = {0, 1'764'486'723'123'456'789, -1, 1'000'000'000};
      for (std::size_t i = 0; i < std::size(times); ++i) {
        add_sensor(b, 112 * i, static_cast<std::int32_t>(i));
        b.frames.back().ts_ns = times[i];
      }
      CHECK(store.write_batch(b, kRing).inserted == 4);
    }
    auto db = reader(path);
    for (const char* type : {"sensor", "log"}) {
      CAPTURE(type);
      CHECK(db.execAndGet(fmt::format("SELECT sql FROM sqlite_schema WHERE name = "
                                      "'_ringlite_{}_ts'",
                                      type))
                .getString() ==
            fmt::format("CREATE INDEX \"_ringlite_{0}_ts\" ON \"{0}\"(ts_ns)", type));
      // A time window is answered by the index, not by a scan of the table.
      SQLite::Statement plan(db, fmt::format("EXPLAIN QUERY PLAN SELECT * FROM {} WHERE ts_ns "
                                             "BETWEEN 5 AND 10 ORDER BY seq",
                                             type));
      REQUIRE(plan.executeStep());
      CHECK(plan.getColumn(3).getString() ==
            fmt::format("SEARCH {0} USING INDEX _ringlite_{0}_ts (ts_ns>? AND ts_ns<?)", type));
    }
    SQLite::Statement view(db, "SELECT seq, ts_ns, time, producer, a, buffer FROM sensor_t");
    const char* expected[] = {"1970-01-01T00:00:00.000000000Z", "2025-11-30T07:12:03.123456789Z",
                              "1969-12-31T23:59:59.999999999Z", "1970-01-01T00:00:01.000000000Z"};
    for (int i = 0; i < 4; ++i) {
      REQUIRE(view.executeStep());
      CHECK(view.getColumn(0).getInt64() == 112 * i);
      CHECK(view.getColumn(2).getString() == expected[i]);
      CHECK(view.getColumn(3).getInt() == 3);
      CHECK(view.getColumn(4).getInt() == i);
    }
    CHECK_FALSE(view.executeStep());
    CHECK(db.execAndGet("SELECT count(*) FROM log_t").getInt() == 0);
  }

  TEST_CASE("index_ts = false creates no time index; the views are still there") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    auto c = config(path);
    c.index_ts = false;
    { const Store store = Store::open(c, ringlite::test::demo_schema(), kOrigin); }
    auto db = reader(path);
    CHECK(db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_ringlite\\_%\\_ts' "
                        "ESCAPE '\\'")
              .getInt() == 0);
    CHECK(db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE type = 'view'").getInt() == 2);
  }

  TEST_CASE("a format-1 database is migrated to format 2 on open, its rows and progress kept") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    Batch b;
    add_sensor(b, 0, 7);
    add_log(b, 112, 1, 2, "kept");
    {
      Store store = Store::open(config(path), schema, kOrigin);
      store.write_batch(b, kRing);
    }
    {
      // What 0.2.0 wrote: no catalog, no time indexes, no views, user_version 1.
      auto db = reader(path);
      db.exec(
          "DROP TABLE _ringlite_segments; DROP INDEX _ringlite_sensor_ts; DROP INDEX "
          "_ringlite_log_ts; DROP VIEW sensor_t; DROP VIEW log_t; PRAGMA user_version = 1;");
    }
    {
      const Store store = Store::open(config(path), schema, kOrigin);
      CHECK(store.progress(kRing) == b.end);
    }
    auto db = reader(path);
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == 2);
    CHECK(db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE name IN ('_ringlite_segments', "
                        "'_ringlite_sensor_ts', '_ringlite_log_ts', 'sensor_t', 'log_t')")
              .getInt() == 5);
    CHECK(db.execAndGet("SELECT a FROM sensor_t").getInt() == 7);
    CHECK(db.execAndGet("SELECT message FROM log_t").getString() == "kept");
  }

  TEST_CASE("a database that is not ringlite's is refused before anything is changed") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    const auto foreign = dir / "foreign.db";
    reader(foreign).exec("CREATE TABLE notes (x TEXT)");  // creates the file
    auto msg = error_of(Errc::schema, [&] { Store::open(config(foreign), schema, kOrigin); });
    CHECK(msg == "cannot open database '" + foreign.string() +
                     "': not a ringlite database (application_id 0x00000000)");
    CHECK(reader(foreign).execAndGet("PRAGMA journal_mode").getString() == "delete");

    const auto other = dir / "other.db";
    reader(other).exec("PRAGMA application_id = 305419896");  // 0x12345678, no tables
    msg = error_of(Errc::schema, [&] { Store::open(config(other), schema, kOrigin); });
    CHECK(msg == "cannot open database '" + other.string() +
                     "': not a ringlite database (application_id 0x12345678)");

    const auto newer = dir / "newer.db";
    { const Store store = Store::open(config(newer), schema, kOrigin); }
    reader(newer).exec("PRAGMA user_version = 3");
    msg = error_of(Errc::version, [&] { Store::open(config(newer), schema, kOrigin); });
    CHECK(msg == "cannot open database '" + newer.string() +
                     "': database format version 3 is newer than this build's version 2");
    reader(newer).exec("PRAGMA user_version = 0");
    msg = error_of(Errc::version, [&] { Store::open(config(newer), schema, kOrigin); });
    CHECK(msg == "cannot open database '" + newer.string() +
                     "': database format version 0 is older than the oldest this build reads, 1");
  }

  TEST_CASE("write_batch stores sensor and log records column by column") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    Batch b;
    add_sensor(b, 0, 5);
    add_log(b, 112, 3, -42, "hello, log");
    Sensor full = ringlite::test::make_sensor(-7);
    std::memset(full.buffer, 'x', sizeof full.buffer);  // CHAR(64) without any NUL
    add_frame(b, 160, kSensor, &full, sizeof full);
    add_log(b, 272, 0, 0, "");
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == 4);
    CHECK(r.rejected == 0);
    CHECK(r.gaps == 0);

    auto db = reader(path);
    SQLite::Statement s(
        db, "SELECT seq, ts_ns, producer, a, b, c, buffer, typeof(b) FROM sensor ORDER BY seq");
    REQUIRE(s.executeStep());
    CHECK(s.getColumn(0).getInt64() == 0);
    CHECK(s.getColumn(1).getInt64() == 1'000'000);
    CHECK(s.getColumn(2).getInt() == 3);
    CHECK(s.getColumn(3).getInt() == 5);
    CHECK(s.getColumn(4).getDouble() == 2.5);
    CHECK(s.getColumn(5).getDouble() == 1.25);
    CHECK(s.getColumn(6).getString() == "s-5");
    CHECK(s.getColumn(7).getString() == "real");
    REQUIRE(s.executeStep());
    CHECK(s.getColumn(0).getInt64() == 160);
    CHECK(s.getColumn(3).getInt() == -7);
    CHECK(s.getColumn(6).getString() == std::string(64, 'x'));
    CHECK_FALSE(s.executeStep());

    SQLite::Statement l(db,
                        "SELECT seq, level, code, message, typeof(message) FROM log ORDER BY seq");
    REQUIRE(l.executeStep());
    CHECK(l.getColumn(0).getInt64() == 112);
    CHECK(l.getColumn(1).getInt() == 3);
    CHECK(l.getColumn(2).getInt() == -42);
    CHECK(l.getColumn(3).getString() == "hello, log");
    REQUIRE(l.executeStep());
    CHECK(l.getColumn(3).getString().empty());
    CHECK(l.getColumn(4).getString() == "text");  // an empty TEXT is '', not NULL
  }

  TEST_CASE("write_batch decodes every column type at its offset") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = Schema::parse(
        "CREATE TABLE every (i8 INT8, i16 INT16, i32 INT32, i64 INT64, u8 UINT8, u16 UINT16, "
        "u32 UINT32, u64 UINT64, f32 FLOAT32, f64 FLOAT64, ok BOOL, name CHAR(8), raw BYTES(4), "
        "note TEXT, data BLOB)",
        "every.sql");
    const auto& t = schema.types()[0];
    Store store = Store::open(config(path), schema, kOrigin);

    const std::string note = "h\xc3\xa9llo";
    const std::vector<std::uint8_t> data = {0, 255, 0, 7};
    std::vector<std::byte> rec(t.size + note.size() + data.size());
    put(rec, t, "i8", std::numeric_limits<std::int8_t>::min());
    put(rec, t, "i16", std::numeric_limits<std::int16_t>::min());
    put(rec, t, "i32", std::numeric_limits<std::int32_t>::min());
    put(rec, t, "i64", std::numeric_limits<std::int64_t>::min());
    put(rec, t, "u8", std::numeric_limits<std::uint8_t>::max());
    put(rec, t, "u16", std::numeric_limits<std::uint16_t>::max());
    put(rec, t, "u32", std::numeric_limits<std::uint32_t>::max());
    put(rec, t, "u64", std::numeric_limits<std::uint64_t>::max());
    put(rec, t, "f32", 1.5f);
    put(rec, t, "f64", -2.25);
    put(rec, t, "ok", std::uint8_t{1});
    std::memcpy(rec.data() + t.field("name")->offset, "ab\0cdefg", 8);
    std::memcpy(rec.data() + t.field("raw")->offset, "\x01\x00\x02\x03", 4);
    put(rec, t, "note",
        std::array<std::uint32_t, 2>{t.size, static_cast<std::uint32_t>(note.size())});
    put(rec, t, "data",
        std::array<std::uint32_t, 2>{static_cast<std::uint32_t>(t.size + note.size()),
                                     static_cast<std::uint32_t>(data.size())});
    std::memcpy(rec.data() + t.size, note.data(), note.size());
    std::memcpy(rec.data() + t.size + note.size(), data.data(), data.size());
    Batch b;
    add_frame(b, 8, 1, rec.data(), rec.size());
    REQUIRE(store.write_batch(b, kRing).inserted == 1);

    auto db = reader(path);
    SQLite::Statement s(
        db,
        "SELECT i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, ok, name, raw, note, "
        "data, typeof(u64), typeof(raw), typeof(data) FROM every");
    REQUIRE(s.executeStep());
    CHECK(s.getColumn(0).getInt64() == -128);
    CHECK(s.getColumn(1).getInt64() == -32768);
    CHECK(s.getColumn(2).getInt64() == std::numeric_limits<std::int32_t>::min());
    CHECK(s.getColumn(3).getInt64() == std::numeric_limits<std::int64_t>::min());
    CHECK(s.getColumn(4).getInt64() == 255);
    CHECK(s.getColumn(5).getInt64() == 65535);
    CHECK(s.getColumn(6).getInt64() == 4294967295LL);
    CHECK(s.getColumn(7).getInt64() == -1);  // UINT64 max: its two's-complement bits
    CHECK(s.getColumn(8).getDouble() == 1.5);
    CHECK(s.getColumn(9).getDouble() == -2.25);
    CHECK(s.getColumn(10).getInt() == 1);
    CHECK(s.getColumn(11).getString() == "ab");  // CHAR(N) stops at the first NUL
    CHECK(s.getColumn(12).getString() == std::string("\x01\x00\x02\x03", 4));
    CHECK(s.getColumn(13).getString() == note);
    CHECK(s.getColumn(14).getString() == std::string("\x00\xff\x00\x07", 4));
    CHECK(s.getColumn(15).getString() == "integer");
    CHECK(s.getColumn(16).getString() == "blob");
    CHECK(s.getColumn(17).getString() == "blob");
  }

  TEST_CASE("a frame that cannot be decoded is rejected with its bytes and the rest commits") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    Batch b;
    add_sensor(b, 0, 1);
    auto bad = log_record(1, 2, "tail");
    const std::uint32_t wrong = 9999;
    std::memcpy(bad.data() + offsetof(Log, message_offset), &wrong, 4);
    add_frame(b, 112, kLog, bad.data(), bad.size());
    const std::uint64_t junk = 0xdeadbeef;
    add_frame(b, 160, 9, &junk, sizeof junk);
    add_sensor(b, 200, 2);
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == 2);
    CHECK(r.rejected == 2);
    CHECK(count(path, "sensor") == 2);
    CHECK(count(path, "log") == 0);

    auto db = reader(path);
    SQLite::Statement q(db,
                        "SELECT seq, ts_ns, producer, type_id, reason, payload FROM "
                        "_ringlite_rejects ORDER BY seq");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt64() == 112);
    CHECK(q.getColumn(1).getInt64() == 1'000'112);
    CHECK(q.getColumn(2).getInt() == 3);
    CHECK(q.getColumn(3).getInt() == kLog);
    CHECK(q.getColumn(4).getString() ==
          "cannot decode type 'log': column 'message': tail offset 9999 + length 4 exceeds record "
          "size 20");
    CHECK(q.getColumn(5).getString() ==
          std::string(reinterpret_cast<const char*>(bad.data()), bad.size()));
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt64() == 160);
    CHECK(q.getColumn(3).getInt() == 9);
    CHECK(q.getColumn(4).getString() == "unknown type id 9 (the schema has 2 types)");
    CHECK(q.getColumn(5).getString() ==
          std::string(reinterpret_cast<const char*>(&junk), sizeof junk));
  }

  TEST_CASE("a row SQLite refuses is rejected alone and the rest of its statement commits") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    // seq 800 from another ring (write_batch skips what its own ring has committed).
    Batch first;
    add_sensor(first, 800, 100);
    REQUIRE(store.write_batch(first, "ffffffffffffffffffffffffffffffff").inserted == 1);
    // 300 rows: a 256-row statement holds the duplicate seq 800.
    Batch b;
    for (int k = 0; k < 300; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 8, k);
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == 299);
    CHECK(r.rejected == 1);
    CHECK(count(path, "sensor") == 300);
    auto db = reader(path);
    CHECK(db.execAndGet("SELECT a FROM sensor WHERE seq = 800").getInt() == 100);  // the original
    CHECK(db.execAndGet("SELECT reason FROM _ringlite_rejects WHERE seq = 800").getString() ==
          "cannot insert into table 'sensor': UNIQUE constraint failed: sensor.seq");
  }

  TEST_CASE("gaps and drops are recorded, and a gap reported again is recorded once") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    Batch b;
    b.gaps.push_back(Gap{Gap::Kind::abandoned, 64, 128, 2, 4242, "producer 2 (pid 4242) died"});
    b.gaps.push_back(Gap{Gap::Kind::corrupt, 128, 192, ~0u, 0, "bad frame length"});
    b.end = 192;
    auto r = store.write_batch(b, kRing, 5);
    CHECK(r.gaps == 3);
    r = store.write_batch(b, kRing, 2);  // the same gaps again, and more drops
    CHECK(r.gaps == 1);                  // only the drop row changed
    auto db = reader(path);
    SQLite::Statement q(
        db,
        "SELECT kind, seq_from, seq_to, producer, pid, count, reason FROM _ringlite_gaps "
        "ORDER BY kind");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == "abandoned");
    CHECK(q.getColumn(1).getInt64() == 64);
    CHECK(q.getColumn(2).getInt64() == 128);
    CHECK(q.getColumn(3).getInt() == 2);
    CHECK(q.getColumn(4).getInt() == 4242);
    CHECK(q.getColumn(5).getInt() == 1);
    CHECK(q.getColumn(6).getString() == "producer 2 (pid 4242) died");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == "corrupt");
    CHECK(q.getColumn(3).isNull());
    CHECK(q.getColumn(4).isNull());
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == "drop");
    CHECK(q.getColumn(1).getInt64() == 192);
    CHECK(q.getColumn(2).isNull());
    CHECK(q.getColumn(5).getInt() == 7);
    CHECK_FALSE(q.executeStep());
    CHECK(db.execAndGet("SELECT drops FROM _ringlite_progress").getInt() == 7);
  }

  TEST_CASE("progress and next_position follow the committed batches") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    {
      Store store = Store::open(config(path), schema, kOrigin);
      CHECK(store.next_position() == 0);
      CHECK_FALSE(store.progress(kRing).has_value());
      Batch b;
      add_sensor(b, 4096, 1);
      add_log(b, 4208, 1, 1, "x");
      b.end = 4256;
      store.write_batch(b, kRing);
      CHECK(store.progress(kRing) == 4256u);
      CHECK(store.next_position() == 4256u);

      Batch empty;  // nothing read, but the position moved (padding at the end of the buffer)
      empty.end = 8192;
      const auto r = store.write_batch(empty, kRing);
      CHECK(r.inserted == 0);
      CHECK(store.progress(kRing) == 8192u);
      CHECK(store.next_position() == 8192u);
      CHECK_FALSE(store.progress("ffffffffffffffffffffffffffffffff").has_value());
    }
    // Rows past every recorded progress (another ring's records) count as well.
    auto db = reader(path);
    db.exec("INSERT INTO log(seq, ts_ns, producer) VALUES (10000, 0, 0)");
    db.exec("INSERT INTO _ringlite_rejects(seq, reason) VALUES (20001, 'x')");
    const Store store = Store::open(config(path), schema, kOrigin);
    CHECK(store.next_position() == 20008u);
    db.exec(
        "INSERT INTO _ringlite_gaps(kind, seq_from, seq_to, recorded_ns) VALUES ('corrupt', 30000, "
        "30720, 0)");
    CHECK(store.next_position() == 30720u);
  }

  TEST_CASE(
      "a schema that changed since the database was created is refused naming the difference") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto v1 =
        "CREATE TABLE sensor (a INT32, b FLOAT32);\nCREATE TABLE log (level UINT8, message TEXT);";
    { const Store s = Store::open(config(path), Schema::parse(v1, "v1.sql"), kOrigin); }
    const auto open_error = [&](const std::string& sql) {
      return error_of(Errc::schema,
                      [&] { Store::open(config(path), Schema::parse(sql, "v2.sql"), kOrigin); });
    };
    const std::string prefix =
        "cannot open database '" + path.string() + "': schema differs from the database: ";
    CHECK(open_error("CREATE TABLE sensor (a INT32, b FLOAT64); CREATE TABLE log (level UINT8, "
                     "message TEXT);") ==
          prefix + "type 'sensor' column 'b' was FLOAT32, is now FLOAT64");
    CHECK(open_error("CREATE TABLE sensor (a INT32, b FLOAT32);") ==
          prefix + "type 'log' was removed from the schema");
    CHECK(open_error("CREATE TABLE sensor (a INT32, b FLOAT32, c INT8); CREATE TABLE log (level "
                     "UINT8, message TEXT);") ==
          prefix + "type 'sensor' column 'c' (INT8) was added");
    CHECK(
        open_error("CREATE TABLE log (level UINT8, message TEXT); CREATE TABLE sensor (a INT32, b "
                   "FLOAT32);") ==
        prefix +
            "type 'sensor' has id 1 in the database, 2 in the schema (add new types after the "
            "existing "
            "ones); type 'log' has id 2 in the database, 1 in the schema (add new types after the "
            "existing ones)");
    // A table the user created that a new type would now claim must match too.
    reader(path).exec("CREATE TABLE extra (x TEXT)");
    CHECK(open_error(std::string(v1) + "CREATE TABLE extra (x INT64);") ==
          prefix +
              "table 'extra' column 1 is 'x', the schema needs 'seq'; table 'extra' lacks column "
              "'ts_ns' "
              "(INTEGER); table 'extra' lacks column 'producer' (INTEGER); table 'extra' lacks "
              "column "
              "'x' (INTEGER)");
    // Nothing of the refused opens was kept.
    CHECK(count(path, "_ringlite_types") == 2);
  }

  TEST_CASE("a type added at the end of the schema gets its table and the next id") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const std::string v1 = "CREATE TABLE sensor (a INT32, b FLOAT32);";
    { const Store s = Store::open(config(path), Schema::parse(v1, "v1.sql"), kOrigin); }
    const auto v2 = Schema::parse(
        v1 + "CREATE TABLE extra (x INT64); CREATE INDEX extra_x ON extra(x);", "v2.sql");
    {
      Store store = Store::open(config(path), v2, kOrigin);
      const std::int64_t x = 77;
      Batch b;
      add_frame(b, 0, 2, &x, sizeof x);
      CHECK(store.write_batch(b, kRing).inserted == 1);
    }
    auto db = reader(path);
    CHECK(db.execAndGet("SELECT id FROM _ringlite_types WHERE name = 'extra'").getInt() == 2);
    CHECK(db.execAndGet("SELECT x FROM extra").getInt64() == 77);
    CHECK(db.execAndGet("SELECT count(*) FROM sqlite_schema WHERE name = 'extra_x'").getInt() == 1);
    // Reopening with the same schema changes nothing.
    const Store again = Store::open(config(path), v2, kOrigin);
    CHECK(count(path, "_ringlite_types") == 2);
  }

  TEST_CASE("a full disk fails the whole batch, and the batch commits once there is room") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    // 20000 rows (~2 MiB) never fit in 30 pages (480 KiB at the default 16 KiB page size).
    Batch big;
    for (int k = 0; k < 20000; ++k) add_sensor(big, 8192 + static_cast<std::uint64_t>(k) * 112, k);
    {
      Store store = Store::open(config(path, "safe", {{"max_page_count", "30"}}), schema, kOrigin);
      CHECK(pragma_of(store, "max_page_count") == "30");
      Batch before;
      add_sensor(before, 0, -1);
      before.end = 112;
      store.write_batch(before, kRing);
      try {
        store.write_batch(big, kRing);
        FAIL("write_batch did not fail");
      } catch (const Error& e) {
        CHECK(e.code() == Errc::sqlite);
        CHECK(e.sqlite_code() == SQLITE_FULL);
        CHECK(std::string(e.what()) ==
              "cannot commit batch to database '" + path.string() + "': database or disk is full");
      }
      CHECK(count(path, "sensor") == 1);
      CHECK(store.progress(kRing) == 112u);
      // The store is still usable: no transaction left open, no statement half-run.
      Batch small;
      add_sensor(small, 200, -2);
      small.end = 304;
      CHECK(store.write_batch(small, kRing).inserted == 1);
      CHECK(store.progress(kRing) == 304u);
    }
    Store roomy =
        Store::open(config(path, "safe", {{"max_page_count", "100000"}}), schema, kOrigin);
    const auto r = roomy.write_batch(big, kRing);
    CHECK(r.inserted == 20000);
    CHECK(count(path, "sensor") == 20002);
    CHECK(roomy.progress(kRing) == big.end);
  }

  TEST_CASE("a locked database is retried until the lock goes away") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    std::atomic<bool> locked{false};
    std::thread holder([&] {
      auto other = reader(path);
      other.exec("BEGIN IMMEDIATE");
      locked = true;
      std::this_thread::sleep_for(400ms);
      other.exec("COMMIT");
    });
    while (!locked) std::this_thread::sleep_for(1ms);
    Batch b;
    add_sensor(b, 0, 1);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = store.write_batch(b, kRing);
    const auto waited = std::chrono::steady_clock::now() - t0;
    holder.join();
    CHECK(r.inserted == 1);
    CHECK(r.busy_retries >= 1);
    CHECK(waited >= 300ms);
    CHECK(waited < 5s);
  }

  TEST_CASE("checkpoint empties the WAL unless a reader holds it, and is -1 outside WAL mode") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    // A long busy timeout: if checkpoint() waited for the reader below, it would show.
    Store store = Store::open(config(path, "safe", {{"busy_timeout", "5000"}}), schema, kOrigin);
    Batch b;
    for (int k = 0; k < 1000; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    store.write_batch(b, kRing);
    CHECK(fs::file_size(path.string() + "-wal") > 0);
    CHECK(store.checkpoint() == 0);
    CHECK(fs::file_size(path.string() + "-wal") == 0);

    Batch more;
    add_sensor(more, 200000, 1);
    store.write_batch(more, kRing);
    auto db = reader(path);
    db.exec("BEGIN");
    CHECK(db.execAndGet("SELECT count(*) FROM sensor").getInt() == 1001);  // holds a snapshot
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(store.checkpoint() > 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // never waits for the reader
    db.exec("COMMIT");
    CHECK(pragma_of(store, "busy_timeout") == "5000");  // restored afterwards

    Store fast = Store::open(config(dir / "fast.db", "fast"), schema, kOrigin);
    CHECK(fast.checkpoint() == -1);
  }

  TEST_CASE("a batch of 100k sensor records commits in one transaction") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    Batch b;
    constexpr int kCount = 100'000;
    for (int k = 0; k < kCount; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == kCount);
    CHECK(r.rejected == 0);
    auto db = reader(path);
    CHECK(db.execAndGet("SELECT count(*) FROM sensor").getInt() == kCount);
    CHECK(db.execAndGet("SELECT sum(a) FROM sensor").getInt64() ==
          std::int64_t{kCount} * (kCount - 1) / 2);
    CHECK(db.execAndGet("SELECT buffer FROM sensor WHERE seq = 112 * 99999").getString() ==
          "s-99999");
    CHECK(store.progress(kRing) == b.end);
  }
  TEST_CASE("a value a user's index refuses is rejected with its bytes and the rest commits") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), Schema::parse(kTickSchema, "tick.sql"), kOrigin);
    Batch b;
    for (int k = 0; k < 300; ++k) {
      add_tick(b, static_cast<std::uint64_t>(k) * 48,
               k == 150 ? std::numeric_limits<std::int64_t>::min() : k);
    }
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == 299);
    CHECK(r.rejected == 1);
    CHECK(count(path, "tick") == 299);
    auto db = reader(path);
    SQLite::Statement q(db, "SELECT seq, reason, payload FROM _ringlite_rejects");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt64() == 150 * 48);
    CHECK(q.getColumn(1).getString() == "cannot insert into table 'tick': integer overflow");
    const Frame& f = b.frames[150];
    CHECK(q.getColumn(2).getString() ==
          std::string(reinterpret_cast<const char*>(b.arena.data() + f.offset), f.length));
    CHECK(store.progress(kRing) == b.end);
  }

  TEST_CASE("a row that fails only at COMMIT is found by committing halves and rejected alone") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path, "safe", {{"foreign_keys", "ON"}}),
                              ringlite::test::demo_schema(), kOrigin);
    // A user's deferred foreign key, violated by what a trigger adds for one sensor row.
    reader(path).exec(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER poison AFTER INSERT ON sensor WHEN NEW.a = 213 "
        "BEGIN INSERT INTO child VALUES (999); END;");
    Batch b;
    for (int k = 0; k < 1000; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    b.gaps.push_back(Gap{Gap::Kind::abandoned, 1000 * 112, 1000 * 112 + 64, 1, 77, "died"});
    b.end = 1000 * 112 + 64;
    const auto r = store.write_batch(b, kRing, 3);
    CHECK(r.inserted == 999);
    CHECK(r.rejected == 1);
    CHECK(r.gaps == 2);  // the abandoned range and the drops, each once
    CHECK(count(path, "sensor") == 999);
    auto db = reader(path);
    CHECK(db.execAndGet("SELECT count(*) FROM sensor WHERE a = 213").getInt() == 0);
    CHECK(db.execAndGet("SELECT seq || ' ' || reason FROM _ringlite_rejects").getString() ==
          "23856 cannot insert into table 'sensor': FOREIGN KEY constraint failed (at COMMIT)");
    CHECK(db.execAndGet("SELECT sum(count) FROM _ringlite_gaps WHERE kind = 'drop'").getInt() == 3);
    CHECK(db.execAndGet("SELECT count(*) FROM child").getInt() == 0);
    CHECK(store.progress(kRing) == b.end);
  }

  TEST_CASE("a row whose trigger rolls the transaction back is rejected and no other row is lost") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    reader(path).exec(
        "CREATE TRIGGER poison BEFORE INSERT ON sensor WHEN NEW.a = 7 "
        "BEGIN SELECT RAISE(ROLLBACK, 'no sevens'); END;");
    Batch b;
    for (int k = 0; k < 300; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == 299);
    CHECK(r.rejected == 1);
    CHECK(count(path, "sensor") == 299);
    CHECK(
        reader(path).execAndGet("SELECT seq || ' ' || reason FROM _ringlite_rejects").getString() ==
        "784 cannot insert into table 'sensor': no sevens");
    CHECK(store.progress(kRing) == b.end);
  }

  TEST_CASE(
      "a table dropped or altered under the store fails the batch instead of rejecting rows") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    Batch b;
    for (int k = 0; k < 10; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    reader(path).exec("ALTER TABLE sensor RENAME COLUMN buffer TO text");
    auto msg = error_of(Errc::sqlite, [&] { store.write_batch(b, kRing); });
    CHECK(msg.find("cannot commit batch to database '" + path.string() + "': ") == 0);
    CHECK(msg.find("buffer") != std::string::npos);
    reader(path).exec("DROP TABLE sensor");
    msg = error_of(Errc::sqlite, [&] { store.write_batch(b, kRing); });
    CHECK(msg.find("no such table") != std::string::npos);
    CHECK(count(path, "_ringlite_rejects") == 0);
    CHECK_FALSE(store.progress(kRing).has_value());
  }

  TEST_CASE("a batch written again after it committed writes nothing twice") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    Store store = Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    Batch b;
    for (int k = 0; k < 100; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    REQUIRE(store.write_batch(b, kRing).inserted == 100);
    const auto r = store.write_batch(b, kRing);
    CHECK(r.inserted == 0);
    CHECK(r.rejected == 0);
    CHECK(count(path, "sensor") == 100);
    CHECK(count(path, "_ringlite_rejects") == 0);
    // Half of it committed (as after a COMMIT-time failure): the rest is written once.
    Batch more = b;
    for (int k = 100; k < 200; ++k) add_sensor(more, static_cast<std::uint64_t>(k) * 112, k);
    const auto r2 = store.write_batch(more, kRing);
    CHECK(r2.inserted == 100);
    CHECK(r2.rejected == 0);
    CHECK(count(path, "sensor") == 200);
  }

  TEST_CASE("a new database, its -wal and its -shm get the configured mode whatever the umask") {
    TempDir dir("store");
    const Umask umask(022);
    const auto schema = ringlite::test::demo_schema();
    for (const unsigned mode : {0600u, 0640u}) {
      CAPTURE(mode);
      const auto path = (dir / ("m" + std::to_string(mode) + ".db")).string();
      auto c = config(path);
      c.mode = mode;
      Store store = Store::open(c, schema, kOrigin);
      Batch b;
      add_sensor(b, 0, 1);
      store.write_batch(b, kRing);
      CHECK(mode_of(path) == mode);
      CHECK(mode_of(path + "-wal") == mode);
      CHECK(mode_of(path + "-shm") == mode);
    }
    // An existing database keeps its own mode (one others may not write to: see hostile_mp_test).
    const auto path = (dir / ("m" + std::to_string(0600) + ".db")).string();
    REQUIRE(::chmod(path.c_str(), 0644) == 0);
    { const Store again = Store::open(config(path), schema, kOrigin); }
    CHECK(mode_of(path) == 0644);
  }

  TEST_CASE("a second store on the same database is refused while the first lives") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    {
      Store first = Store::open(config(path), schema, kOrigin);
      const auto msg = error_of(Errc::busy, [&] { Store::open(config(path), schema, kOrigin); });
      CHECK(msg == "cannot open database '" + path.string() + "': another process (pid " +
                       std::to_string(::getpid()) +
                       ") writes to it (a database takes the records of one ring at a time)");
      Batch b;
      add_sensor(b, 0, 1);
      CHECK(first.write_batch(b, kRing).inserted == 1);  // the refusal took nothing from it
    }
    CHECK_NOTHROW(Store::open(config(path), schema, kOrigin));
  }

  TEST_CASE("the database deleted or replaced under the store fails the commit that follows") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    const auto prefix = [](const fs::path& p) {
      return "cannot commit batch to database '" + p.string() + "': ";
    };
    Batch b;
    add_sensor(b, 0, 1);
    {
      const auto path = dir / "deleted.db";
      Store store = Store::open(config(path), schema, kOrigin);
      fs::remove(path);
      CHECK(error_of(Errc::not_found, [&] { store.write_batch(b, kRing); }) ==
            prefix(path) + "the file was deleted or moved away while open");
    }
    {
      const auto path = dir / "replaced.db";
      const auto other = dir / "other.db";
      { const Store s = Store::open(config(other), schema, kOrigin); }
      Store store = Store::open(config(path), schema, kOrigin);
      fs::rename(other, path);
      CHECK(error_of(Errc::not_found, [&] { store.write_batch(b, kRing); }) ==
            prefix(path) + "the file was replaced by another file while open");
      CHECK_THROWS_AS(store.check_file(), Error);
    }
    {
      const auto path = dir / "wal.db";
      Store store = Store::open(config(path), schema, kOrigin);
      fs::remove(path.string() + "-wal");
      CHECK(error_of(Errc::not_found, [&] { store.write_batch(b, kRing); }) ==
            prefix(path) + "its WAL '" + path.string() +
                "-wal' was deleted or moved away while open");
    }
  }

  TEST_CASE("a database path that cannot be a database is a config error naming database.path") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    const std::string prefix = "invalid config '/x/demo.toml': 'database.path' ";
    const auto missing = (dir / "no" / "such" / "a.db").string();
    CHECK(error_of(Errc::config, [&] { Store::open(config(missing), schema, kOrigin); }) ==
          prefix + "is in a folder that does not exist: '" + missing + "'");
    // Root writes into a folder without write permission: use one nobody may create files in.
    const auto ro = dir / "ro";
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    const auto read_only = (::geteuid() == 0 ? fs::path("/sys") : ro) / "a.db";
    CHECK(error_of(Errc::config, [&] { Store::open(config(read_only), schema, kOrigin); })
              .find(prefix + "is in a folder where the database cannot be created: '" +
                    read_only.string() + "' (") == 0);
    fs::permissions(ro, fs::perms::owner_all);
    CHECK(error_of(Errc::config, [&] { Store::open(config(dir.path()), schema, kOrigin); }) ==
          prefix + "is a folder, not a database file: '" + dir.path().string() + "'");
    const auto text = (dir / "notes.txt").string();
    ringlite::test::write_file(text, std::string(4096, 'x'));
    CHECK(error_of(Errc::config, [&] { Store::open(config(text), schema, kOrigin); }) ==
          prefix + "is not an SQLite database: '" + text + "' (file is not a database)");
  }

  TEST_CASE("a recorded layout that differs from its DDL's names the column and both layouts") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto v1 = Schema::parse("CREATE TABLE sensor (a INT32, b FLOAT32);", "v1.sql");
    { const Store s = Store::open(config(path), v1, kOrigin); }
    reader(path).exec(
        "UPDATE _ringlite_types SET layout = 'sensor{a:INT32@0,b:FLOAT32@8}size=16,align=4'");
    CHECK(error_of(Errc::schema, [&] { Store::open(config(path), v1, kOrigin); }) ==
          "cannot open database '" + path.string() +
              "': schema differs from the database: type 'sensor': column 'b' is at offset 8 in "
              "the database but at offset 4 in the schema (the database has "
              "sensor{a:INT32@0,b:FLOAT32@8}size=16,align=4, the schema has "
              "sensor{a:INT32@0,b:FLOAT32@4}size=8,align=4)");
  }
}

TEST_SUITE("store") {
  TEST_CASE(
      "a database claiming more record types than a schema can have is refused before any is "
      "parsed") {
    TempDir dir("store");
    const auto path = dir / "bomb.db";
    { Store s = Store::open(config(path), ringlite::test::demo_schema(), kOrigin); }
    {
      SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
      SQLite::Transaction txn(db);
      for (int i = 0; i < 5000; ++i) {
        db.exec(
            fmt::format("INSERT INTO _ringlite_types(id, name, ddl, layout) VALUES ({0}, 't{0}', "
                        "'CREATE TABLE t{0} (a INT8)', 't{0}{{a:INT8@0}}size=1,align=1')",
                        i + 100));
      }
      txn.commit();
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto msg = error_of(Errc::corrupt, [&] {
      (void)Store::open(config(path), ringlite::test::demo_schema(), kOrigin);
    });
    CHECK(msg.find("_ringlite_types lists 5002 record types (a schema has at most 1024)") !=
          std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    ringlite::ReplayOptions none;
    std::atomic<bool> stop{false};
    ringlite::test::RingGuard g{ringlite::test::ring_config("bombreplay")};
    ringlite::Producer p(ringlite::Ring::create(g.config, ringlite::test::demo_schema()));
    try {
      (void)ringlite::replay(path, p, none, stop);
      FAIL("replayed a database with 5002 types");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::corrupt);
      CHECK(std::string(e.what()).find("5002 record types") != std::string::npos);
    }
  }

  TEST_CASE("locking_mode EXCLUSIVE opens, stores, and checkpoints on the calling thread") {
    TempDir dir("store");
    const auto path = dir / "a.db";
    const auto schema = ringlite::test::demo_schema();
    // WAL with an exclusive lock: no second connection can read the file, so no
    // checkpointer thread may need one (it used to make open fail with busy).
    Store store =
        Store::open(config(path, "safe", {{"locking_mode", "EXCLUSIVE"}}), schema, kOrigin);
    CHECK(pragma_of(store, "locking_mode") == "exclusive");
    CHECK(pragma_of(store, "journal_mode") == "wal");
    Batch b;
    for (int k = 0; k < 1000; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
    store.write_batch(b, kRing);
    CHECK(store.progress(kRing) == b.end);
    CHECK(store.maintain() == 0);  // the WAL copied on this thread, none left
    // Outside WAL mode too.
    Store rollback = Store::open(
        config(dir / "b.db", "safe", {{"journal_mode", "DELETE"}, {"locking_mode", "EXCLUSIVE"}}),
        schema, kOrigin);
    rollback.write_batch(b, kRing);
    CHECK(rollback.progress(kRing) == b.end);
    CHECK(rollback.maintain() == -1);
  }

  TEST_CASE("a forked child that destroys an inherited store exits, the parent's store goes on") {
    TempDir dir("store");
    const auto schema = ringlite::test::demo_schema();
    DatabaseConfig rec = config(dir / "rec", "safe");
    rec.segment_bytes = 1 << 20;
    for (const DatabaseConfig& c : {config(dir / "a.db", "safe"), rec}) {
      INFO(c.path.string());
      std::optional<Store> store(Store::open(c, schema, kOrigin));
      Batch b;
      for (int k = 0; k < 100; ++k) add_sensor(b, static_cast<std::uint64_t>(k) * 112, k);
      store->write_batch(b, kRing);
      std::this_thread::sleep_for(50ms);  // its threads wait on their condition variables
      const pid_t child = ringlite::test::spawn([&] {
        store.reset();
        return 0;
      });
      CHECK(ringlite::test::wait_exit_for(child, 10s) == 0);
      Batch more;
      add_sensor(more, b.end, 7);
      store->write_batch(more, kRing);
      CHECK(store->progress(kRing) == more.end);
    }
  }
}

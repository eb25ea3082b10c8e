// Tests of replay(): records written by a Producer into ring A, persisted by a Store (as the
// bridge would), replayed from the database into ring B and read back with a Consumer:
// payload bytes, ts_ns and order must come back exactly. Then the option checks, the
// ring-layout check (nothing written when it fails), range filters, loop and stop.
#include "ringlite/replay.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "checks.hpp"
#include "detail/replay_source.hpp"
#include "detail/time_view.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/store.hpp"
#include "ringutil.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

// Every declared type, and a second type so the merge across tables is exercised.
constexpr const char* kSchema = R"sql(
CREATE TABLE everything (
  i8 INT8, i16 INT16, i32 INT32, i64 INT64,
  u8 UINT8, u16 UINT16, u32 UINT32, u64 UINT64,
  f32 FLOAT32, f64 FLOAT64, flag BOOL,
  name CHAR(12), raw BYTES(6), note TEXT, data BLOB);
CREATE TABLE tick (n INT64, label CHAR(8));
)sql";
// The same types in the other order: ids differ, layouts do not.
constexpr const char* kSwapped = R"sql(
CREATE TABLE tick (n INT64, label CHAR(8));
CREATE TABLE everything (
  i8 INT8, i16 INT16, i32 INT32, i64 INT64,
  u8 UINT8, u16 UINT16, u32 UINT32, u64 UINT64,
  f32 FLOAT32, f64 FLOAT64, flag BOOL,
  name CHAR(12), raw BYTES(6), note TEXT, data BLOB);
)sql";

constexpr std::int64_t kT0 = 1'795'000'000'000'000'000;  // 2026-11-18, in ns

/// One record as a ring holds it.
struct Rec {
  std::string type;
  std::int64_t ts = 0;
  std::uint64_t seq = 0;
  std::vector<std::byte> payload;
};

template <class T>
void put(std::vector<std::byte>& b, const Field& f, T v) {
  REQUIRE(sizeof v == f.size);
  std::memcpy(b.data() + f.offset, &v, sizeof v);
}

void put_bytes(std::vector<std::byte>& b, const Field& f, const std::string& s) {
  std::memcpy(b.data() + f.offset, s.data(), std::min<std::size_t>(s.size(), f.length));
}

/// Record k of `everything`: extremes, subnormals, infinity, CHAR(12) without a NUL,
/// BYTES with zeros inside and at the end, empty and NUL-holding TEXT, empty BLOB.
void write_everything(RawWriter& w, int k, std::int64_t ts) {
  const RecordType& t = w.type();
  std::vector<std::byte> b(t.size, std::byte{0});
  const auto f = [&](const char* name) -> const Field& { return *t.field(name); };
  put(b, f("i8"), static_cast<std::int8_t>(k % 2 ? -128 : 127 - k));
  put(b, f("i16"), static_cast<std::int16_t>(k % 2 ? -32768 : 32767 - k));
  put(b, f("i32"),
      static_cast<std::int32_t>(k % 2 ? std::numeric_limits<std::int32_t>::min() : -k));
  put(b, f("i64"),
      static_cast<std::int64_t>(k % 2 ? std::numeric_limits<std::int64_t>::min()
                                      : k * 1'000'000'007LL));
  put(b, f("u8"), static_cast<std::uint8_t>(255 - k));
  put(b, f("u16"), static_cast<std::uint16_t>(65535 - k));
  put(b, f("u32"), static_cast<std::uint32_t>(0xFFFFFFFFu - static_cast<unsigned>(k)));
  put(b, f("u64"),
      static_cast<std::uint64_t>(0xFFFFFFFFFFFFFFF0ull + static_cast<unsigned>(k % 16)));
  // Not -0.0 or NaN: SQLite keeps neither in a REAL column (see the test below).
  const float f32[] = {0.0f, std::numeric_limits<float>::infinity(), 1.5e-45f, 3.4028235e38f,
                       -1.25f};
  put(b, f("f32"), f32[k % 5]);
  const double f64[] = {-1e-300, -std::numeric_limits<double>::infinity(), 4.9e-324,
                        1.7976931348623157e308, 0.1};
  put(b, f("f64"), f64[k % 5]);
  put(b, f("flag"), static_cast<std::uint8_t>(k % 2));
  put_bytes(b, f("name"),
            k % 3 == 0 ? "abcdefghijkl" : "n" + std::to_string(k));  // 12 bytes: no NUL
  const std::string raw = {'\0', '\x01', '\0', static_cast<char>(0xF0 + k % 16), '\0', '\0'};
  put_bytes(b, f("raw"), raw);
  const std::string note = k % 3 == 0   ? ""
                           : k % 3 == 1 ? std::string("with\0nul", 8)
                                        : "note " + std::to_string(k);
  const std::string data = k % 4 == 0 ? "" : std::string("\xff\0\x7f", 3) + std::to_string(k);
  const std::string_view tails[] = {note, data};
  REQUIRE(w.try_write_var(b, tails, ts) == WriteResult::ok);
}

void write_tick(RawWriter& w, int k, std::int64_t ts) {
  const RecordType& t = w.type();
  std::vector<std::byte> b(t.size, std::byte{0});
  put(b, *t.field("n"), static_cast<std::int64_t>(k));
  put_bytes(b, *t.field("label"), k % 2 ? "tick" : "abcdefgh");
  REQUIRE(w.try_write(b, ts) == WriteResult::ok);
}

/// Reads every committed record of a ring (as the bridge would) and advances its head.
std::vector<Rec> drain(const Ring& ring, Batch* keep = nullptr) {
  Consumer c(ring);
  std::vector<Rec> out;
  Batch all;
  for (;;) {
    Batch b;
    REQUIRE(c.poll(b, 1 << 20) == PollStatus::ok);
    if (b.frames.empty()) break;
    for (const Frame& f : b.frames) {
      const auto p = b.payload(f);
      out.push_back({ring.layouts().find(f.type)->name, f.ts_ns, f.seq, {p.begin(), p.end()}});
    }
    c.advance(b.end);
    if (keep) *keep = std::move(b);
  }
  return out;
}

/// A recorded database: ring A written by a Producer, drained and persisted by a Store.
struct Recording {
  TempDir dir{"replay"};
  fs::path db = dir / "history.db";
  RingGuard a{ring_config("rpa", 1 << 20)};
  std::vector<Rec> records;

  /// `write` fills ring A (schema kSchema); everything it wrote goes into the database.
  explicit Recording(const std::function<void(Producer&)>& write,
                     const std::string& preset = "fast") {
    const Schema schema = Schema::parse(kSchema, "test");
    Ring ring = Ring::create(a.config, schema);
    {
      Producer p(ring);
      write(p);
    }
    Batch b;
    records = drain(ring, &b);
    REQUIRE(b.frames.size() == records.size());  // one poll took them all
    DatabaseConfig dc;
    dc.path = db;
    dc.preset = preset;
    Store store = Store::open(dc, schema, "test");
    const auto r = store.write_batch(b, ring.stats().ring_id);
    REQUIRE(r.inserted == records.size());
    REQUIRE(r.rejected == 0);
  }
};

/// The usual recording: `n` of each type, interleaved, ts 1 ms apart.
Recording mixed(int n) {
  return Recording([n](Producer& p) {
    RawWriter e = p.raw_writer("everything"), t = p.raw_writer("tick");
    for (int k = 0; k < n; ++k) {
      write_everything(e, k, kT0 + (2 * k) * 1'000'000);
      write_tick(t, k, kT0 + (2 * k + 1) * 1'000'000);
    }
  });
}

/// Ring B with `schema`; its guard removes it.
struct Target {
  RingGuard guard;
  Ring ring;
  Producer producer;
  explicit Target(const char* schema = kSwapped, std::uint64_t capacity = 1 << 20)
      : guard{ring_config("rpb", capacity)},
        ring(Ring::create(guard.config, Schema::parse(schema, "target"))),
        producer(ring) {}
};

ReplayOptions max_speed() {
  ReplayOptions o;
  o.max_speed = true;
  return o;
}

void check_same(const std::vector<Rec>& got, const std::vector<Rec>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("record ", i, " (", want[i].type, ")");
    CHECK(got[i].type == want[i].type);
    CHECK(got[i].ts == want[i].ts);
    CHECK(got[i].payload == want[i].payload);
  }
}

const std::atomic<bool> kNoStop{false};

}  // namespace

TEST_SUITE("replay") {
  TEST_CASE(
      "replay writes every declared type back byte for byte, in seq order, with the recorded "
      "ts_ns") {
    Recording rec = mixed(40);
    Target b;  // its type ids differ from ring A's: types map by name
    const ReplayResult r = replay(rec.db, b.producer, max_speed(), kNoStop);
    CHECK(r.records == 80);
    CHECK(r.passes == 1);
    CHECK(r.max_late_ns == 0);
    check_same(drain(b.ring), rec.records);
  }

  TEST_CASE("-0.0 and NaN come back as +0.0 and 0.0: SQLite's REAL columns do not keep them") {
    // A REAL column stores an integral value as an integer (so -0.0 becomes 0) and NaN as
    // NULL; the record's other bytes still come back exactly.
    Recording rec([](Producer& p) {
      RawWriter e = p.raw_writer("everything");
      std::vector<std::byte> b(e.type().size, std::byte{0});
      put(b, *e.type().field("f32"), -0.0f);
      put(b, *e.type().field("f64"), std::numeric_limits<double>::quiet_NaN());
      const std::string_view tails[] = {"x", "y"};
      REQUIRE(e.try_write_var(b, tails, kT0) == WriteResult::ok);
    });
    Target b;
    CHECK(replay(rec.db, b.producer, max_speed(), kNoStop).records == 1);
    auto got = drain(b.ring);
    REQUIRE(got.size() == 1);
    const RecordType& t = *b.ring.layouts().find("everything");
    float f32 = 1;
    double f64 = 1;
    std::memcpy(&f32, got[0].payload.data() + t.field("f32")->offset, 4);
    std::memcpy(&f64, got[0].payload.data() + t.field("f64")->offset, 8);
    CHECK(f32 == 0.0f);
    CHECK_FALSE(std::signbit(f32));
    CHECK(f64 == 0.0);
    auto want = rec.records[0].payload;
    std::memcpy(want.data() + t.field("f32")->offset, &f32, 4);
    std::memcpy(want.data() + t.field("f64")->offset, &f64, 8);
    CHECK(got[0].payload == want);
  }

  TEST_CASE("bad options are usage errors, checked before anything is read or written") {
    Recording rec = mixed(3);
    Target b;
    const auto tail = b.ring.stats().tail;
    ReplayOptions o;
    o.from_seq = 10;
    o.to_seq = 9;
    CHECK(error_of(Errc::usage, [&] {
            replay(rec.db, b.producer, o, kNoStop);
          }).find("seq range") != std::string::npos);
    o = {};
    o.from_ns = kT0 + 1;
    o.to_ns = kT0;
    CHECK(error_of(Errc::usage, [&] {
            replay(rec.db, b.producer, o, kNoStop);
          }).find("time range") != std::string::npos);
    for (double speed : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
      o = {};
      o.speed = speed;
      CHECK(error_of(Errc::usage, [&] { replay(rec.db, b.producer, o, kNoStop); }).find("speed") !=
            std::string::npos);
    }
    o = {};
    o.types = {"tick", "nope"};
    const auto msg = error_of(Errc::usage, [&] { replay(rec.db, b.producer, o, kNoStop); });
    CHECK(msg.find("'nope'") != std::string::npos);
    CHECK(msg.find("everything, tick") != std::string::npos);
    CHECK(b.ring.stats().tail == tail);
  }

  TEST_CASE(
      "a missing, unreadable or foreign database is an error, and the file is never created") {
    Target b;
    TempDir dir("replay-db");
    const auto missing = dir / "missing.db";
    CHECK(error_of(Errc::config, [&] {
            replay(missing, b.producer, max_speed(), kNoStop);
          }).find("no such file") != std::string::npos);
    CHECK_FALSE(fs::exists(missing));
    CHECK(fs::is_empty(dir.path()));
    const auto garbage = dir / "garbage.db";
    write_file(garbage, std::string(4096, 'x'));
    CHECK(error_of(Errc::config, [&] {
            replay(garbage, b.producer, max_speed(), kNoStop);
          }).find("not a database") != std::string::npos);
    const auto foreign = dir / "foreign.db";
    SQLite::Database(foreign.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)
        .exec("CREATE TABLE t(x)");
    CHECK(error_of(Errc::schema, [&] {
            replay(foreign, b.producer, max_speed(), kNoStop);
          }).find("not a ringlite database") != std::string::npos);
    // A folder is a recording: one without segments is refused as such.
    CHECK(error_of(Errc::config, [&] { replay(dir.path(), b.producer, max_speed(), kNoStop); }) ==
          "cannot replay database '" + dir.path().string() +
              "': the folder holds no segment files (seg-00000001.db)");
    CHECK(b.ring.stats().tail == 0);
  }

  TEST_CASE(
      "a ring without a recorded type, or with another layout for it, is refused before anything "
      "is written") {
    Recording rec = mixed(5);
    {
      Target b("CREATE TABLE tick (n INT64, label CHAR(8));");
      const auto before = b.ring.stats();
      const auto msg =
          error_of(Errc::schema, [&] { replay(rec.db, b.producer, max_speed(), kNoStop); });
      CHECK(msg.find("cannot replay type 'everything' into ring '") != std::string::npos);
      CHECK(msg.find("the ring has no type 'everything'") != std::string::npos);
      CHECK(b.ring.stats().tail == before.tail);
      CHECK(b.ring.stats().records_written == 0);
      // Leaving the missing type out works.
      ReplayOptions o = max_speed();
      o.types = {"tick"};
      CHECK(replay(rec.db, b.producer, o, kNoStop).records == 5);
    }
    {
      Target b("CREATE TABLE tick (n INT64, label CHAR(9));");
      ReplayOptions o = max_speed();
      o.types = {"tick"};
      const auto msg = error_of(Errc::schema, [&] { replay(rec.db, b.producer, o, kNoStop); });
      // The column at fault, then both layouts in full.
      CHECK(msg.find("cannot replay type 'tick' into ring '") == 0);
      CHECK(msg.find("': its layout differs: column 'label' is CHAR(9) at offset 8 in the ring "
                     "but CHAR(8) at offset 8 in the database (the ring has "
                     "tick{n:INT64@0,label:CHAR(9)@8}size=24,align=8, the database has "
                     "tick{n:INT64@0,label:CHAR(8)@8}size=16,align=8)") != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(b.ring.stats().tail == 0);
    }
  }

  TEST_CASE("a recorded layout that does not match its DDL names the column and both layouts") {
    Recording rec = mixed(2);
    SQLite::Database(rec.db.string(), SQLite::OPEN_READWRITE)
        .exec(
            "UPDATE _ringlite_types SET layout = 'tick{n:INT64@0,label:CHAR(9)@8}size=24,align=8' "
            "WHERE name = 'tick'");
    Target b;
    CHECK(error_of(Errc::corrupt, [&] { replay(rec.db, b.producer, max_speed(), kNoStop); }) ==
          "cannot replay database '" + rec.db.string() +
              "': type 'tick' has a DDL that does not match its recorded layout: column 'label' "
              "is CHAR(8) at offset 8 in the DDL but CHAR(9) at offset 8 in the recorded layout "
              "(the DDL has tick{n:INT64@0,label:CHAR(8)@8}size=16,align=8, the recorded layout "
              "has tick{n:INT64@0,label:CHAR(9)@8}size=24,align=8)");
    CHECK(b.ring.stats().tail == 0);
  }

  TEST_CASE("seq and time ranges and the type filter select exactly the records inside them") {
    Recording rec = mixed(10);  // 20 records: everything at even ts, tick at odd
    const auto& all = rec.records;
    const auto run = [&](const ReplayOptions& o) {
      Target b;
      const auto r = replay(rec.db, b.producer, o, kNoStop);
      auto got = drain(b.ring);
      CHECK(r.records == got.size());
      return got;
    };
    const auto slice = [&](std::size_t from, std::size_t to) {  // inclusive
      return std::vector<Rec>(all.begin() + static_cast<std::ptrdiff_t>(from),
                              all.begin() + static_cast<std::ptrdiff_t>(to) + 1);
    };
    ReplayOptions o = max_speed();
    o.from_seq = all[5].seq;
    o.to_seq = all[9].seq;
    check_same(run(o), slice(5, 9));
    o.from_seq = all[5].seq + 1;  // seq is not dense: the next record is the first inside
    o.to_seq = all[9].seq - 1;
    check_same(run(o), slice(6, 8));
    o = max_speed();
    o.from_ns = all[3].ts;
    o.to_ns = all[12].ts;
    check_same(run(o), slice(3, 12));
    o.from_seq = all[10].seq;  // both: the intersection
    check_same(run(o), slice(10, 12));
    o = max_speed();
    o.types = {"tick"};
    o.to_ns = all[7].ts;
    std::vector<Rec> ticks;
    for (std::size_t i = 0; i <= 7; ++i) {
      if (all[i].type == "tick") ticks.push_back(all[i]);
    }
    check_same(run(o), ticks);
    o = max_speed();
    o.from_ns = all.back().ts + 1;  // nothing inside
    CHECK(run(o).empty());
  }

  TEST_CASE("loop replays the selection again until stopped, and progress counts the passes") {
    Recording rec = mixed(4);
    Target b;
    std::atomic<bool> stop{false};
    std::vector<ReplayProgress> seen;
    ReplayOptions o = max_speed();
    o.loop = true;
    const auto r = replay(rec.db, b.producer, o, stop, [&](const ReplayProgress& p) {
      seen.push_back(p);
      if (p.passes == 2) stop = true;
    });
    CHECK(r.passes == 2);
    CHECK(r.records == 16);
    REQUIRE(!seen.empty());
    CHECK(seen.back().total == 8);
    CHECK(seen.back().written == 16);
    auto twice = rec.records;
    twice.insert(twice.end(), rec.records.begin(), rec.records.end());
    check_same(drain(b.ring), twice);
  }

  TEST_CASE(
      "paced replay keeps the recorded gaps scaled by speed, and a new pass follows the last "
      "record") {
    Recording rec([](Producer& p) {
      RawWriter t = p.raw_writer("tick");
      for (int k = 0; k < 3; ++k) write_tick(t, k, kT0 + k * 60'000'000);  // 0, 60, 120 ms
    });
    Target b;
    ReplayOptions o;
    o.speed = 2;  // 60 ms of recording
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = replay(rec.db, b.producer, o, kNoStop);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(r.records == 3);
    CHECK(secs >= 0.059);
    CHECK(r.max_late_ns >= 0);
    check_same(drain(b.ring), rec.records);
    // Two passes of 3 records at speed 4: 30 ms each, the second due right after the first.
    std::atomic<bool> stop{false};
    o.speed = 4;
    o.loop = true;
    const auto t1 = std::chrono::steady_clock::now();
    const auto r2 = replay(rec.db, b.producer, o, stop, [&](const ReplayProgress& p) {
      if (p.passes == 2) stop = true;
    });
    const double secs2 =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    CHECK(r2.passes == 2);
    CHECK(secs2 >= 0.059);
  }

  TEST_CASE(
      "a paced replay holds no read transaction while it sleeps, so a writer can reset the WAL") {
    Recording rec(
        [](Producer& p) {
          RawWriter t = p.raw_writer("tick");
          for (int k = 0; k < 3; ++k)
            write_tick(t, k, kT0 + std::int64_t{k} * 30'000'000'000);  // 30 s apart
        },
        "safe");  // WAL
    Target b;
    std::atomic<bool> stop{false};
    ReplayResult r;
    std::thread replayer([&] { r = replay(rec.db, b.producer, ReplayOptions{}, stop); });
    while (b.ring.stats().records_written == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(50ms);  // the replay sleeps towards the second record
    // As a bridge does: write to the database, then checkpoint and reset the WAL. A reader
    // holding a snapshot would make the TRUNCATE checkpoint report busy.
    SQLite::Database w(rec.db.string(), SQLite::OPEN_READWRITE);
    w.exec("CREATE TABLE scratch (x); INSERT INTO scratch VALUES (1)");
    SQLite::Statement cp(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    REQUIRE(cp.executeStep());
    CHECK(cp.getColumn(0).getInt() == 0);  // not busy
    CHECK(cp.getColumn(1).getInt() == 0);  // the WAL was reset
    stop = true;
    replayer.join();
    CHECK(r.records == 1);
  }

  TEST_CASE("stop ends a replay that sleeps towards a distant record, or waits on a full ring") {
    Recording rec([](Producer& p) {
      RawWriter t = p.raw_writer("tick");
      for (int k = 0; k < 2000; ++k)
        write_tick(t, k, kT0 + std::int64_t{k} * 100'000'000'000);  // 100 s apart
    });
    std::atomic<bool> stop{false};
    const auto stop_after = [&](std::chrono::milliseconds d) {
      return std::thread([&stop, d] {
        std::this_thread::sleep_for(d);
        stop = true;
      });
    };
    {
      Target b;
      auto th = stop_after(150ms);
      const auto t0 = std::chrono::steady_clock::now();
      const auto r = replay(rec.db, b.producer, ReplayOptions{}, stop);
      th.join();
      CHECK(r.records == 1);
      CHECK(r.passes == 0);
      CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    }
    {
      stop = false;
      Target b(kSwapped, 4096);  // nobody drains it: full after a few dozen records
      auto th = stop_after(150ms);
      const auto t0 = std::chrono::steady_clock::now();
      const auto r = replay(rec.db, b.producer, max_speed(), stop);
      th.join();
      CHECK(r.records > 0);
      CHECK(r.records < 2000);
      CHECK(b.ring.stats().full_events > 0);
      CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    }
  }
}

TEST_SUITE("replay selection") {
  TEST_CASE(
      "start_offset and duration count from the recording's first record, end excluded, and "
      "intersect the other bounds") {
    Recording rec = mixed(10);  // 20 records, record i at kT0 + i ms: everything even, tick odd
    const auto& all = rec.records;
    const auto run = [&](const ReplayOptions& o) {
      Target b;
      const auto r = replay(rec.db, b.producer, o, kNoStop);
      auto got = drain(b.ring);
      CHECK(r.records == got.size());
      return got;
    };
    const auto pick = [&](std::initializer_list<std::size_t> idx) {
      std::vector<Rec> out;
      for (auto i : idx) out.push_back(all[i]);
      return out;
    };
    ReplayOptions o = max_speed();
    o.start_offset = 3ms;
    o.duration = 5ms;  // ts in [T0+3ms, T0+8ms): records 3..7
    check_same(run(o), pick({3, 4, 5, 6, 7}));
    o.start_offset.reset();  // from the first record
    o.duration = 2ms;
    check_same(run(o), pick({0, 1}));
    o = max_speed();
    o.start_offset = 17ms;  // to the end
    check_same(run(o), pick({17, 18, 19}));
    o.start_offset = std::chrono::nanoseconds(17'000'001);  // just after record 17
    check_same(run(o), pick({18, 19}));
    o.start_offset = 20ms;  // past the last record
    CHECK(run(o).empty());

    o = max_speed();  // intersections
    o.start_offset = 3ms;
    o.duration = 5ms;
    o.from_ns = all[5].ts;
    check_same(run(o), pick({5, 6, 7}));
    o.to_seq = all[6].seq;
    check_same(run(o), pick({5, 6}));
    o.from_ns = all[8].ts;  // disjoint from the window
    CHECK(run(o).empty());

    // The first record is the recording's, not the selected types': `tick` starts at 1 ms.
    o = max_speed();
    o.types = {"tick"};
    o.start_offset = 3ms;
    o.duration = 5ms;
    check_same(run(o), pick({3, 5, 7}));

    Target b;
    o = max_speed();
    o.start_offset = -1ms;
    CHECK(error_of(Errc::usage, [&] {
            replay(rec.db, b.producer, o, kNoStop);
          }).find("start offset -1000000 ns is negative") != std::string::npos);
    o = max_speed();
    o.duration = 0ms;
    CHECK(error_of(Errc::usage, [&] {
            replay(rec.db, b.producer, o, kNoStop);
          }).find("duration 0 ns is not positive") != std::string::npos);
    CHECK(b.ring.stats().tail == 0);
  }

  TEST_CASE("a window near the ends of the int64 range clamps instead of overflowing") {
    Recording rec([](Producer& p) {
      RawWriter t = p.raw_writer("tick");
      write_tick(t, 0, std::numeric_limits<std::int64_t>::max() - 5);
      write_tick(t, 1, std::numeric_limits<std::int64_t>::max());
    });
    Target b;
    ReplayOptions o = max_speed();
    o.types = {"tick"};
    o.start_offset = 1ns;
    o.duration = std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max());
    const auto r = replay(rec.db, b.producer, o, kNoStop);
    CHECK(r.records == 1);
    check_same(drain(b.ring), {rec.records[1]});
  }

  TEST_CASE(
      "type and exclude globs select types; a glob that matches nothing, or no type left, is "
      "refused") {
    Recording rec = mixed(3);
    std::vector<Rec> ticks, everything;
    for (const auto& r : rec.records) (r.type == "tick" ? ticks : everything).push_back(r);
    const auto run = [&](std::vector<std::string> types, std::vector<std::string> exclude) {
      Target b;
      ReplayOptions o = max_speed();
      o.types = std::move(types);
      o.exclude_types = std::move(exclude);
      replay(rec.db, b.producer, o, kNoStop);
      return drain(b.ring);
    };
    check_same(run({"t*"}, {}), ticks);
    check_same(run({"?ick"}, {}), ticks);
    check_same(run({"[st]ick"}, {}), ticks);
    check_same(run({"ev*", "tick"}, {}), rec.records);
    check_same(run({"*", "tick"}, {}), rec.records);  // overlapping globs: each type once
    check_same(run({}, {"every*"}), ticks);
    check_same(run({"*"}, {"t?ck"}), everything);

    Target b;
    ReplayOptions o = max_speed();
    o.types = {"tick", "sens*"};
    auto msg = error_of(Errc::usage, [&] { replay(rec.db, b.producer, o, kNoStop); });
    CHECK(msg.find("type 'sens*' matches no recorded type (it has: everything, tick)") !=
          std::string::npos);
    o.types = {"tick"};
    o.exclude_types = {"Tick"};  // case matters
    msg = error_of(Errc::usage, [&] { replay(rec.db, b.producer, o, kNoStop); });
    CHECK(msg.find("excluded type 'Tick' matches no recorded type") != std::string::npos);
    o.exclude_types = {"t*"};
    msg = error_of(Errc::usage, [&] { replay(rec.db, b.producer, o, kNoStop); });
    CHECK(msg.find("the selection has no type left") != std::string::npos);
    o.types.clear();
    o.exclude_types = {"*"};
    msg = error_of(Errc::usage, [&] { replay(rec.db, b.producer, o, kNoStop); });
    CHECK(msg.find("the selection has no type left") != std::string::npos);
    CHECK(b.ring.stats().tail == 0);
  }

  TEST_CASE(
      "a time-bounded selection finds its seq range through the ts_ns index and walks the "
      "table in seq order") {
    // ts_ns not in seq order (several producers' clocks): record k at (k % 5) ms.
    Recording rec([](Producer& p) {
      RawWriter t = p.raw_writer("tick");
      for (int k = 0; k < 20; ++k) write_tick(t, k, kT0 + (k % 5) * 1'000'000);
    });
    const Schema schema = Schema::parse(kSchema, "test");
    const RecordType& tick = *schema.find("tick");
    const auto plan = [&](const std::string& sql) {
      SQLite::Database db(rec.db.string(), SQLite::OPEN_READONLY);
      SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + sql);
      std::string out;
      while (q.executeStep()) out += q.getColumn(3).getString() + "; ";
      return out;
    };
    // The store makes the index (database.index_ts); made here too in case it did not.
    SQLite::Database(rec.db.string(), SQLite::OPEN_READWRITE).exec(detail::ts_index_ddl(tick));
    const std::string index = detail::ts_index_name("tick");
    const std::string range = plan(detail::seq_range_sql(tick));
    INFO("seq range plan: ", range);
    CHECK(range.find("USING COVERING INDEX " + index + " (ts_ns>? AND ts_ns<?)") !=
          std::string::npos);
    // The cursor stays on the rowid b-tree: no sort, so it streams and re-seeks by seq.
    const std::string cursor = plan(detail::select_sql(tick, true));
    INFO("cursor plan: ", cursor);
    CHECK(cursor.find("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") != std::string::npos);
    CHECK(cursor.find("TEMP B-TREE") == std::string::npos);
    CHECK(cursor.find(index) == std::string::npos);
    // Without the bounds that were not given, SQLite has nothing to choose between.
    CHECK(detail::select_sql(tick, false).find("ts_ns BETWEEN") == std::string::npos);

    std::vector<Rec> want;  // ts 1..2 ms: k % 5 in {1, 2}, in seq order
    for (const auto& r : rec.records)
      if (r.ts >= kT0 + 1'000'000 && r.ts <= kT0 + 2'000'000) want.push_back(r);
    REQUIRE(want.size() == 8);
    for (bool indexed : {true, false}) {
      INFO("indexed: ", indexed);
      if (!indexed) {
        SQLite::Database(rec.db.string(), SQLite::OPEN_READWRITE)
            .exec("DROP INDEX \"" + index + "\"");
        CHECK(plan(detail::seq_range_sql(tick)).find("SCAN") != std::string::npos);
      }
      Target b;
      ReplayOptions o = max_speed();
      o.types = {"tick"};
      o.from_ns = kT0 + 1'000'000;
      o.to_ns = kT0 + 2'000'000;
      std::vector<ReplayProgress> seen;
      replay(rec.db, b.producer, o, kNoStop, [&](const ReplayProgress& p) { seen.push_back(p); });
      check_same(drain(b.ring), want);
      REQUIRE(!seen.empty());
      CHECK(seen.back().total == 8);  // the progress count applies the same bounds
    }
  }
}

// Replay as users run it: `ringlite produce` -> `ringlite bridge` -> database A ->
// `ringlite replay` -> ring 2 -> a second bridge -> database B, compared row by row and byte
// by byte; the pacing of `--speed 1` and `--speed 4` measured by a consumer timestamping
// arrivals; and the command's bad-input paths (exit 2, one line, the ring untouched).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bridged.hpp"
#include "proc.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/reader.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/store.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

struct Setup : Bridged {
  explicit Setup(const std::string& tag, const std::string& capacity = "16MiB")
      : Bridged({.tag = tag, .capacity = capacity, .preset = "fast", .max_delay = "10ms"}) {}
  std::string cli(const std::string& args) const { return "replay -c '" + config + "' " + args; }
};

/// A target ring the test owns (demo schema unless told), removed at scope exit.
struct Target {
  RingGuard guard;
  Ring ring;
  explicit Target(std::uint64_t capacity = 1 << 20, const Schema& schema = demo_schema())
      : guard{ring_config("rpt", capacity)}, ring(Ring::create(guard.config, schema)) {}
  std::string name() const { return guard.config.name; }
  std::uint64_t tail() const { return ring.stats().tail; }
};

struct Rec {
  std::string type;
  std::int64_t ts = 0;
  std::vector<std::byte> payload;
};

/// Every record a ring retains, oldest first.
std::vector<Rec> read_ring(const Ring& ring) {
  LiveReader r(ring);
  r.seek_oldest();
  std::vector<Rec> out;
  LiveRecord rec;
  while (r.next(rec) == ReadStatus::ok)
    out.push_back({ring.layouts().find(rec.type)->name, rec.ts_ns, rec.payload});
  CHECK(r.laps() == 0);
  return out;
}

/// A table's rows without seq and producer, every value encoded exactly (REAL as its bits),
/// sorted by ts_ns and then every column.
std::vector<std::string> table_rows(const std::string& db, const RecordType& t) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::string cols = "ts_ns";
  for (const Field& f : t.fields) cols += ", \"" + f.name + "\"";
  const std::string q = "SELECT " + cols + " FROM \"" + t.name + "\" ORDER BY " + cols;
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(h, q.c_str(), -1, &st, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(h));
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER:
          row += "i" + std::to_string(sqlite3_column_int64(st, c));
          break;
        case SQLITE_FLOAT: {
          const double d = sqlite3_column_double(st, c);
          std::uint64_t bits;
          std::memcpy(&bits, &d, 8);
          row += "r" + std::to_string(bits);
          break;
        }
        case SQLITE_NULL:
          row += "n";
          break;
        default: {  // TEXT and BLOB: the exact bytes, with the kind
          const int kind = sqlite3_column_type(st, c);
          const auto* p = static_cast<const char*>(sqlite3_column_blob(st, c));
          row += (kind == SQLITE_TEXT ? "t" : "b") + std::to_string(sqlite3_column_bytes(st, c)) +
                 ":" +
                 std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, c)));
        }
      }
      row += '|';
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

/// Persists what `write` puts into the config's ring (created here) straight into its
/// database, as a bridge would, without a bridge process. Returns the records' seqs.
std::vector<std::uint64_t> record(const Setup& s, const std::function<void(Producer&)>& write) {
  const Schema schema = demo_schema();
  Ring ring = Ring::create(s.ring_config(), schema);
  {
    Producer p(ring);
    write(p);
  }
  Consumer c(ring);
  Batch b;
  REQUIRE(c.poll(b, 1 << 20) == PollStatus::ok);
  DatabaseConfig dc;
  dc.path = s.db;
  dc.preset = "fast";
  Store store = Store::open(dc, schema, s.config);
  REQUIRE(store.write_batch(b, ring.stats().ring_id).inserted == b.frames.size());
  c.advance(b.end);
  std::vector<std::uint64_t> seqs;
  for (const Frame& f : b.frames) seqs.push_back(f.seq);
  return seqs;
}

std::int64_t utc_ns(int y, unsigned mo, unsigned d, int h, int mi, int sec) {
  using namespace std::chrono;
  const auto t = sys_days(year{y} / month{mo} / day{d}) + hours{h} + minutes{mi} + seconds{sec};
  return duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

/// The `a` column of every sensor record a Consumer finds in `ring`.
std::vector<std::int32_t> sensor_as(const Ring& ring) {
  Consumer c(ring);
  Batch b;
  REQUIRE(c.poll(b, 1 << 20) == PollStatus::ok);
  c.advance(b.end);
  std::vector<std::int32_t> out;
  for (const Frame& f : b.frames) {
    Sensor rec;
    std::memcpy(&rec, b.payload(f).data(), sizeof rec);
    out.push_back(rec.a);
  }
  return out;
}

/// One line on stderr, prefixed like every ringlite error.
void check_one_line_error(const RunResult& r, const std::string& needle) {
  INFO("stderr: ", r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("ringlite: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(r.out.empty());
}

struct PaceStats {
  double p50_ms = 0, p99_ms = 0, total_s = 0, want_s = 0;
  std::size_t records = 0;
};

/// Replays `s`'s database into `t` at `speed` while this process consumes `t`, stamping
/// each arrival; compares the delays between arrivals with the recorded ones / speed.
PaceStats measure_pacing(const Setup& s, const Target& t, double speed,
                         const std::vector<std::int64_t>& ts) {
  Consumer c(t.ring);
  const pid_t replay = spawn_cli(
      cli_path(), {"replay", "-c", s.config, "--ring", t.name(), "--speed", std::to_string(speed)},
      s.log);
  std::vector<std::pair<std::int64_t, std::chrono::steady_clock::time_point>> got;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  Batch b;
  while (got.size() < ts.size() && std::chrono::steady_clock::now() < deadline) {
    b.clear();
    REQUIRE(c.poll(b, 4096) == PollStatus::ok);
    const auto now = std::chrono::steady_clock::now();
    for (const Frame& f : b.frames) got.emplace_back(f.ts_ns, now);
    c.advance(b.end);
    if (b.frames.empty()) c.wait(100ms);
  }
  CHECK(wait_exit(replay) == 0);
  REQUIRE(got.size() == ts.size());
  std::vector<double> err_ms;
  for (std::size_t j = 1; j < got.size(); ++j) {
    CHECK(got[j].first == ts[j]);
    const double measured =
        std::chrono::duration<double, std::milli>(got[j].second - got[j - 1].second).count();
    const double wanted = static_cast<double>(ts[j] - ts[j - 1]) / 1e6 / speed;
    err_ms.push_back(std::abs(measured - wanted));
  }
  std::sort(err_ms.begin(), err_ms.end());
  PaceStats p;
  p.records = got.size();
  p.p50_ms = err_ms[err_ms.size() / 2];
  p.p99_ms = err_ms[std::min(err_ms.size() - 1, err_ms.size() * 99 / 100)];
  p.total_s = std::chrono::duration<double>(got.back().second - got.front().second).count();
  p.want_s = static_cast<double>(ts.back() - ts.front()) / 1e9 / speed;
  return p;
}

}  // namespace

TEST_SUITE("replay_multiprocess") {
  TEST_CASE(
      "produce, bridge, replay, bridge: both databases hold the same rows and the ring the same "
      "bytes") {
    Setup a("replay-a"), b("replay-b");
    const pid_t bridge_a = a.bridge();
    REQUIRE(a.wait_drained(20s));
    const auto produced = run_cli("produce -c '" + a.config +
                                  "' --type sensor --type log --count 20000 --producers 2");
    REQUIRE_MESSAGE(produced.exit_code == 0, produced.err);
    REQUIRE(a.wait_drained(60s));
    a.stop(bridge_a);
    const auto originals = read_ring(Ring::open(a.ring_config(), Ring::Access::read_only));
    REQUIRE(originals.size() == 40000);

    REQUIRE(run_cli("ring create -c '" + b.config + "'").exit_code == 0);
    const auto r = run_cli(a.cli("--ring " + b.ring + " --speed max"));
    INFO("stderr: ", r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.rfind("replayed 40000 records in ", 0) == 0);
    CHECK(r.err.empty());  // no progress line when stderr is not a terminal

    // The second ring holds the same records, byte for byte, in the same order.
    const auto replayed = read_ring(Ring::open(b.ring_config(), Ring::Access::read_only));
    REQUIRE(replayed.size() == originals.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < originals.size(); ++i) {
      if (replayed[i].type != originals[i].type || replayed[i].ts != originals[i].ts ||
          replayed[i].payload != originals[i].payload) {
        if (++differ < 5) CHECK_MESSAGE(false, "record ", i, " differs");
      }
    }
    CHECK(differ == 0);

    const pid_t bridge_b = b.bridge();
    REQUIRE(b.wait_drained(60s));
    b.stop(bridge_b);
    const Schema schema = demo_schema();
    for (const RecordType& t : schema.types()) {
      const auto rows_a = table_rows(a.db, t), rows_b = table_rows(b.db, t);
      CHECK(rows_a.size() == 20000);
      CHECK_MESSAGE(rows_a == rows_b, "table ", t.name);
    }
  }

  TEST_CASE("--speed 1 and --speed 4 reproduce the recorded gaps between records") {
    // ~2 s recorded at an irregular rhythm, with ts_ns chosen by the test.
    Setup s("replay-pace");
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    const int gaps_ms[] = {1, 5, 1, 20, 2, 1, 10, 1};
    std::vector<std::int64_t> ts;
    {
      Producer p = Producer::open(s.ring_config());
      auto w = p.writer<Sensor>("sensor");
      std::int64_t t = utc_ns(2026, 11, 23, 10, 0, 0);
      for (int k = 0; k == 0 || t - ts.front() < 2'000'000'000; ++k) {
        ts.push_back(t);
        REQUIRE(w.write(make_sensor(k), 1s, t) == WriteResult::ok);
        t += gaps_ms[k % 8] * 1'000'000LL;
      }
    }
    REQUIRE(s.wait_drained(20s));
    s.stop(bridge);
    Target t;
    // Tolerances for a shared, noisy 2-core machine (other tests and sanitizer builds run
    // beside this one): the error of each delay between consecutive arrivals (consumer
    // wakeup included) p50 <= 1 ms and p99 <= 20 ms, and the whole replay within 10% of
    // the recording / speed. A pacer that drifts, sleeps in the wrong unit or ignores the
    // speed fails the median or the total; the p99 bound only catches stalls, since a
    // descheduled process alone can cost several ms. Retries absorb bursts of foreign load.
    for (double speed : {1.0, 4.0}) {
      bool ok = false;
      for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
        const PaceStats p = measure_pacing(s, t, speed, ts);
        MESSAGE("speed ", speed, ": ", p.records, " records, delay error p50 ", p.p50_ms,
                " ms, p99 ", p.p99_ms, " ms, took ", p.total_s, " s for ", p.want_s,
                " s recorded/speed");
        ok =
            p.p50_ms <= 1.0 && p.p99_ms <= 20.0 && std::abs(p.total_s - p.want_s) <= 0.1 * p.want_s;
      }
      CHECK_MESSAGE(ok, "pacing at speed ", speed, " out of tolerance three times");
    }
  }

  TEST_CASE("--from and --to take seq numbers and ISO-8601 times in UTC or with an offset") {
    Setup s("replay-range", "1MiB");
    const std::int64_t t0 = utc_ns(2026, 11, 23, 10, 0, 0);
    const auto seqs = record(s, [&](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 20; ++k)
        REQUIRE(w.try_write(make_sensor(k), t0 + k * 1'000'000'000LL) == WriteResult::ok);
    });
    const auto run = [&](const std::string& args) {
      Target t;
      const auto r = run_cli(s.cli("--speed max --ring " + t.name() + " " + args));
      INFO(args, " -> ", r.err);
      CHECK(r.exit_code == 0);
      return sensor_as(t.ring);
    };
    using V = std::vector<std::int32_t>;
    CHECK(run("--from 2026-11-23T10:00:05Z --to '2026-11-23 10:00:09'") == V{5, 6, 7, 8, 9});
    CHECK(run("--from 2026-11-23T11:00:05+01:00 --to 2026-11-23T10:00:09.5Z") == V{5, 6, 7, 8, 9});
    CHECK(run("--from 2026-11-23T10:00:04.000000001 --to 2026-11-23T05:00:06-0500") == V{5, 6});
    CHECK(run("--from 2026-11-23T10:00:17z") == V{17, 18, 19});
    CHECK(run("--to 2026-11-23") == V{});
    CHECK(run("--from " + std::to_string(seqs[3]) + " --to " + std::to_string(seqs[6])) ==
          V{3, 4, 5, 6});
    CHECK(run("--from " + std::to_string(seqs[3] + 1) + " --to 2026-11-23T10:00:07Z") ==
          V{4, 5, 6, 7});
  }

  TEST_CASE("bad input exits 2 with one line and writes nothing to the ring") {
    Setup s("replay-bad", "1MiB");
    record(s, [](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      auto l = p.writer<Log>("log");
      for (int k = 0; k < 10; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
      REQUIRE(l.try_write(Log{1, 2, 0, 0}, {"hello"}) == WriteResult::ok);
    });
    Target t;
    const std::string ring = " --ring " + t.name();
    check_one_line_error(run_cli(s.cli(ring + " --from 100 --to 50")),
                         "--from '100' is after --to '50'");
    check_one_line_error(
        run_cli(s.cli(ring + " --from 2026-11-23T10:00:01Z --to 2026-11-23T10:00:00Z")),
        "is after --to");
    check_one_line_error(run_cli(s.cli(ring + " --from yesterday")),
                         "cannot parse --from 'yesterday'");
    check_one_line_error(run_cli(s.cli(ring + " --to 2026-02-30T00:00:00Z")), "cannot parse --to");
    check_one_line_error(run_cli(s.cli(ring + " --speed 0")), "cannot parse --speed '0'");
    check_one_line_error(run_cli(s.cli(ring + " --speed fast")), "cannot parse --speed 'fast'");
    check_one_line_error(run_cli(s.cli(ring + " --type sensor --type nope")), "type 'nope'");
    CHECK(t.tail() == 0);

    // An empty or invalid --ring is not "the config's ring" (which holds the recording).
    const auto config_ring = [&] {
      return Ring::open(s.ring_config(), Ring::Access::read_only).stats().records_written;
    };
    const auto recorded = config_ring();
    check_one_line_error(run_cli(s.cli("--ring ''")), "cannot use --ring '': the value is empty");
    check_one_line_error(run_cli(s.cli("--ring a/b")), "cannot use --ring 'a/b': a ring name");
    check_one_line_error(run_cli(s.cli("--ring .x --speed max")), "cannot use --ring '.x'");
    CHECK(config_ring() == recorded);

    // A ring whose schema lacks a recorded type: refused before anything is written.
    Target lacking(
        1 << 20,
        Schema::parse("CREATE TABLE sensor (a INT32, b FLOAT32, c FLOAT64, buffer CHAR(64));",
                      "lacking"));
    check_one_line_error(run_cli(s.cli("--ring " + lacking.name())), "the ring has no type 'log'");
    CHECK(lacking.tail() == 0);
    CHECK(lacking.ring.stats().records_written == 0);
    const auto subset = run_cli(s.cli("--ring " + lacking.name() + " --type sensor --speed max"));
    CHECK(subset.exit_code == 0);
    CHECK(subset.out.rfind("replayed 10 records", 0) == 0);

    // An unreadable database, a missing one (which must not be created), a folder, a missing
    // folder: config errors naming the key and the config file.
    Setup bad("replay-baddb", "1MiB");
    const std::string key = "(database.path in '" + bad.config + "'): ";
    write_file(bad.db, std::string(8192, '\x5a'));
    check_one_line_error(run_cli(bad.cli(ring)), key + "file is not a database");
    std::filesystem::remove(bad.db);
    check_one_line_error(run_cli(bad.cli(ring)), key + "no such file");
    CHECK_FALSE(std::filesystem::exists(bad.db));
    std::filesystem::create_directory(bad.db);
    check_one_line_error(run_cli(bad.cli(ring)), key + "it is a directory");
    std::filesystem::remove(bad.db);
    Setup nofolder("replay-nofolder", "1MiB");
    nofolder.db = (nofolder.dir / "gone" / "history.db").string();
    nofolder.write_config("");
    check_one_line_error(run_cli(nofolder.cli(ring)),
                         "(database.path in '" + nofolder.config + "'): no such folder");
    CHECK(t.tail() == 0);

    // No such ring: a runtime failure (exit 1) that says how to make one.
    const auto none = run_cli(s.cli("--ring " + unique_name("none")));
    CHECK(none.exit_code == 1);
    CHECK(none.err.find("ringlite ring create") != std::string::npos);
  }

  TEST_CASE(
      "SIGINT stops a looping replay blocked on a full ring and it exits 0 with its summary") {
    Setup s("replay-sig", "1MiB");
    record(s, [](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 100; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    });
    Target t(1 << 16);  // nobody drains it: full after ~580 records
    const pid_t replay = spawn_cli(
        cli_path(), {"replay", "-c", s.config, "--ring", t.name(), "--speed", "max", "--loop"},
        s.log);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (t.ring.stats().full_events == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    CHECK(t.ring.stats().full_events > 0);
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(replay, SIGINT);
    CHECK(wait_exit(replay) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    const auto out = read_file(s.log);
    CHECK(out.find("replayed ") != std::string::npos);
    CHECK(out.find(" passes, max lateness") != std::string::npos);
  }

  TEST_CASE("on a terminal, replay shows a progress line on stderr") {
    if (run_shell("command -v script").exit_code != 0) {
      MESSAGE("no 'script' command: skipped");
      return;
    }
    Setup s("replay-tty", "1MiB");
    record(s, [](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 20; ++k)
        REQUIRE(w.try_write(make_sensor(k), 1'000'000'000 + k * 25'000'000LL) == WriteResult::ok);
    });
    Target t;
    // 20 records 25 ms apart: about half a second, so a few progress updates.
    const auto r = run_shell("script -qec \"'" + cli_path() + "' " + s.cli("--ring " + t.name()) +
                             "\" /dev/null");
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("\r") != std::string::npos);
    CHECK(r.out.find("/ 20 records") != std::string::npos);
    CHECK(r.out.find("replayed 20 records") != std::string::npos);
  }

  TEST_CASE(
      "--db replays a database file into --ring, and --start-offset and --duration select by "
      "time from the first record") {
    Setup s("replay-window", "1MiB");
    const std::int64_t t0 = utc_ns(2026, 11, 23, 10, 0, 0);
    // Sensor k at t0 + k s; one log record at t0 + 2.5 s.
    const auto seqs = record(s, [&](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      auto l = p.writer<Log>("log");
      for (int k = 0; k < 20; ++k) {
        REQUIRE(w.try_write(make_sensor(k), t0 + k * 1'000'000'000LL) == WriteResult::ok);
        if (k == 2)
          REQUIRE(l.try_write(Log{1, 2, 0, 0}, {"x"}, t0 + 2'500'000'000) == WriteResult::ok);
      }
    });
    REQUIRE(seqs.size() == 21);
    struct Got {
      std::vector<std::int32_t> sensors;  // `a`: sensor k has a == k, recorded seq seqs[k(+1)]
      std::vector<std::int64_t> ts;       // every record, in order
    };
    const auto run = [&](const std::string& args) {
      Target t;
      const auto r =
          run_cli("replay --db '" + s.db + "' --ring " + t.name() + " --speed max " + args);
      INFO(args, " -> ", r.err);
      CHECK(r.exit_code == 0);
      Got g;
      for (const auto& rec : read_ring(t.ring)) {
        g.ts.push_back(rec.ts);
        if (rec.type != "sensor") continue;
        Sensor v;
        REQUIRE(rec.payload.size() == sizeof v);
        std::memcpy(&v, rec.payload.data(), sizeof v);
        g.sensors.push_back(v.a);
      }
      return g;
    };
    using V = std::vector<std::int32_t>;
    using T = std::vector<std::int64_t>;
    const auto at = [&](double s_) { return t0 + static_cast<std::int64_t>(s_ * 1e9); };
    // The whole database, without a config.
    CHECK(run("").ts.size() == 21);
    auto g = run("--start-offset 5s --duration 3s");  // [t0+5s, t0+8s)
    CHECK(g.sensors == V{5, 6, 7});
    CHECK(g.ts == T{at(5), at(6), at(7)});
    g = run("--start-offset 1.5s --duration 2500ms");  // [1.5 s, 4 s): the log record too
    CHECK(g.sensors == V{2, 3});
    CHECK(g.ts == T{at(2), at(2.5), at(3)});
    CHECK(run("--duration 2s").sensors == V{0, 1});
    CHECK(run("--start-offset=17s").sensors == V{17, 18, 19});
    CHECK(run("--start-offset 1m").ts.empty());
    // With --from / --to: the records inside both.
    CHECK(run("--start-offset 5s --from " + std::to_string(seqs[7])).sensors ==
          V{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});  // seqs[7]: sensor 6 (log at 3)
    CHECK(run("--start-offset 5s --duration 10s --to 2026-11-23T10:00:08Z").sensors ==
          V{5, 6, 7, 8});
    // The offset counts from the recording's first record, whatever the selected types.
    g = run("--type log --start-offset 2s --duration 1s");
    CHECK(g.ts == T{at(2.5)});
  }

  TEST_CASE("--type takes globs and is repeatable, --exclude-type removes types") {
    Setup s("replay-glob", "1MiB");
    record(s, [](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      auto l = p.writer<Log>("log");
      for (int k = 0; k < 4; ++k) {
        REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
        REQUIRE(l.try_write(Log{1, 2, 0, 0}, {"m"}) == WriteResult::ok);
      }
    });
    const auto types = [&](const std::string& args) {
      Target t;
      const auto r = run_cli(s.cli("--speed max --ring " + t.name() + " " + args));
      INFO(args, " -> ", r.err);
      CHECK(r.exit_code == 0);
      std::string out;
      for (const auto& rec : read_ring(t.ring)) out += rec.type[0];
      return out;
    };
    CHECK(types("") == "slslslsl");
    CHECK(types("--type 's*'") == "ssss");
    CHECK(types("--type '?og'") == "llll");
    CHECK(types("--type 'l*' --type sensor") == "slslslsl");
    CHECK(types("--exclude-type 'sen[s]or'") == "llll");
    CHECK(types("--type '*' --exclude-type log") == "ssss");
  }

  TEST_CASE(
      "bad --db, --start-offset, --duration and glob input exits 2 naming the option, nothing "
      "written") {
    Setup s("replay-badnew", "1MiB");
    record(s, [](Producer& p) {
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 3; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    });
    Target t;
    const std::string ring = " --ring " + t.name();
    const std::string db = " --db '" + s.db + "'";
    check_one_line_error(run_cli("replay" + ring), "give -c CONFIG or --db PATH");
    check_one_line_error(run_cli("replay -c '" + s.config + "'" + db + ring),
                         "--config excludes --db");
    check_one_line_error(run_cli("replay" + db),
                         "--ring NAME is required with --db (the ring to write into)");
    check_one_line_error(run_cli("replay --db '" + s.db + ".nope'" + ring),
                         "cannot replay --db '" + s.db + ".nope': no such file");
    CHECK_FALSE(std::filesystem::exists(s.db + ".nope"));
    write_file(s.dir / "garbage.db", std::string(8192, 'x'));
    check_one_line_error(run_cli("replay --db '" + (s.dir / "garbage.db").string() + "'" + ring),
                         "file is not a database");
    check_one_line_error(run_cli("replay" + db + ring + " --start-offset=-5s"),
                         "cannot parse --start-offset '-5s': expected a duration");
    check_one_line_error(run_cli("replay" + db + ring + " --start-offset 5"),
                         "cannot parse --start-offset '5'");
    check_one_line_error(run_cli("replay" + db + ring + " --duration 'five seconds'"),
                         "cannot parse --duration 'five seconds'");
    check_one_line_error(run_cli("replay" + db + ring + " --duration 0ms"),
                         "cannot use --duration '0ms': it must be more than 0");
    check_one_line_error(run_cli(s.cli(ring + " --duration ''")), "--duration");
    check_one_line_error(run_cli("replay" + db + ring + " --type 'sens?r' --type 'x*'"),
                         "type 'x*' matches no recorded type (it has: sensor, log)");
    check_one_line_error(run_cli("replay" + db + ring + " --exclude-type 'logs*'"),
                         "excluded type 'logs*' matches no recorded type");
    check_one_line_error(run_cli("replay" + db + ring + " --exclude-type '*'"),
                         "the selection has no type left");
    CHECK(t.tail() == 0);
  }
}

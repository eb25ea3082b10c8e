// persist_bench: how fast records get from a producer into SQLite through ringlite, against
// two ways of inserting them by hand, measured in the same run on the same machine.
//
// Every run writes the demo `sensor` record (schema/demo.sql: a INT32, b FLOAT32, c FLOAT64,
// buffer CHAR(64)) with the values `ringlite produce` gives record k of producer 0 (a = k,
// b = c = k * 0.5, buffer "p0-<k>") into a fresh database file in a temp dir, under the
// `safe` preset (journal_mode=WAL, synchronous=NORMAL), each in its own forked process:
//   direct    one process, one single-row prepared INSERT per record (bind, step, reset),
//             one transaction per 10,000 records: the careful hand-written baseline.
//   seed      one process, sqlite3_exec of an snprintf-formatted INSERT per record, all in
//             one transaction: what the seeds did.
//   ringlite  a Producer process writes the records into a 64 MiB ring (blocking write)
//             while a ringlite::Bridge process drains it (batch 65536 records / 20 ms).
//             Timed from the first write to the last COMMIT: the bridge advances the
//             ring's head only after COMMIT, so once the producer is done, head == tail
//             means every record is committed.
//   latency   the same producer paced at 100k records/s for ~2.5 s, and a reader process
//             polling the database through the stock sqlite3 library every 1 ms
//             (SELECT seq, ts_ns FROM sensor WHERE seq > ?): a record's write-to-visible
//             latency is the reader's CLOCK_REALTIME when it first sees the row minus the
//             row's ts_ns (CLOCK_REALTIME stamped by write()). Includes up to 1 ms of
//             reader polling.
//   segmented the ringlite run into a recording (docs/design.md, "Recordings"): segments
//             of 8 bytes per record of the run (8 MiB for 1M records; 1 MiB at least),
//             three of them retained, the time index on (as in every run), so that
//             several rolls and expiries happen during it; reported against (c).
// --sustained [N] (default 50M records, about 3.3 GB of database) runs only one long (c)
// through a bridge with the default config, sampled every 100 ms: records/s per tenth of the
// run, the -wal's size, the bridge's RSS and its checkpoint durations (see run_sustained()).
// --explain adds diagnostic rows: the bridge's SQLite side alone (Store::write_batch on
// batches built in memory, no ring), and (a) and (c) with PRAGMA page_size=16384.
// Throughput runs go in interleaved pairs (bench::Pairs: every kind once per pair, the
// order alternating), and each ratio is the median of the per-pair ratios to (a), with
// their range. Rings are named persist_bench.<pid>.<n>; rings, databases and the
// temp dir are removed afterwards, also on failure and on SIGINT/SIGTERM.
#include <fmt/core.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "ringlite/bridge.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/store.hpp"

namespace {

using namespace ringlite;
using bench::now_ns;
using bench::Sensor;
namespace fs = std::filesystem;

constexpr std::uint64_t kDirectTxn = 10'000;  // records per transaction in the direct run
constexpr double kLatencyRate = 100'000;      // records/s in the latency run
constexpr double kLatencySeconds = 2.5;
constexpr std::int64_t kReaderPeriodNs = 1'000'000;

struct Options {
  std::uint64_t records = 1'000'000;  // direct and ringlite; seed runs records / 5
  int pairs = 5;
  bool json = false;
  bool explain = false;
  std::uint64_t sustained = 0;  // --sustained [N]: records of the sustained run; 0: none
};

/// --pragma NAME=VALUE: applied to every bridge's database (rows c, c0, d and latency), after
/// the preset, as [database.pragmas] would be. For measuring a setting against the same run's
/// direct loop, which keeps SQLite's defaults.
std::map<std::string, std::string> g_pragmas;

/// How a run departs from the plain `safe` preset (the --explain rows).
struct Tuning {
  int page_size = 0;  // PRAGMA page_size on the fresh file; 0: SQLite's default (4096)
  // A recording instead of one file (the segmented row); 0: one database file.
  std::uint64_t segment_bytes = 0, retain_bytes = 0;
  bool index_ts = true;  // database.index_ts (the default); false: no time index, as 0.2
};

/// CPU time this process used so far (user + system), in ns.
std::int64_t cpu_ns() noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto ns = [](const timeval& tv) {
    return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + tv.tv_usec * 1000;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until(std::int64_t monotonic_ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(monotonic_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(monotonic_ns % 1'000'000'000);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// ---------------------------------------------------------------------------------------
// Shared run state: one block per run, mapped before fork. Each child writes only its own
// fields, and only outside the timed part (except the producer's done flag).

struct Control {
  bench::StartLine start;  // children: start.wait() after setup; parent: start.release(n)
  alignas(128) std::atomic<std::uint32_t> bridge_ready;
  alignas(128) std::atomic<std::uint32_t> producer_done;
  // timed runs (CLOCK_MONOTONIC)
  std::int64_t first_write_ns = 0, last_write_ns = 0;
  std::int64_t end_ns = 0;  // direct, seed: after the last COMMIT
  std::int64_t producer_cpu_ns = 0;
  // bridge
  BridgeStats bridge;
  std::int64_t bridge_cpu_ns = 0;
  // latency reader
  struct Visible {
    std::uint64_t records = 0, polls = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  } visible;
};

// ---------------------------------------------------------------------------------------
// Cleanup: the current run's ring, database files (db, db-wal, db-shm), temp dir and
// children are kept in bench::cleanup for the signal handler (installed by bench::run_main).

using bench::track;

void remove_db_files() noexcept {
  for (char* p : bench::cleanup::files) {
    if (p[0] != '\0') ::unlink(p);
    p[0] = '\0';
  }
}

std::int64_t deadline_for(std::uint64_t records) {
  // Generous: a run 20x slower than expected still finishes; a hung one does not.
  return now_ns() + 60'000'000'000 + static_cast<std::int64_t>(records) * 20'000;
}

/// A fresh database path per run in the temp dir; its files are deleted when this goes
/// out of scope.
class ScopedDb {
 public:
  explicit ScopedDb(std::string_view kind) {
    static int counter = 0;
    path_ = (fs::path(bench::cleanup::dir) / fmt::format("{}.{}.db", kind, counter++)).string();
    const char* suffix[3] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; ++i) {
      std::snprintf(bench::cleanup::files[i], sizeof bench::cleanup::files[i], "%s%s",
                    path_.c_str(), suffix[i]);
    }
  }
  ~ScopedDb() { remove_db_files(); }
  ScopedDb(const ScopedDb&) = delete;
  ScopedDb& operator=(const ScopedDb&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------
// Plain sqlite3 helpers (the baselines and the reader use the stock library, as users do).

class Db {
 public:
  Db(const std::string& path, int flags) {
    if (::sqlite3_open_v2(path.c_str(), &h_, flags, nullptr) != SQLITE_OK) {
      const std::string why = h_ ? ::sqlite3_errmsg(h_) : "out of memory";
      ::sqlite3_close(h_);
      throw std::runtime_error(fmt::format("cannot open database '{}': {}", path, why));
    }
    ::sqlite3_busy_timeout(h_, 5000);
  }
  ~Db() { ::sqlite3_close_v2(h_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  sqlite3* get() const { return h_; }

  void exec(const char* sql) const {
    char* msg = nullptr;
    if (::sqlite3_exec(h_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      const std::string why = msg ? msg : ::sqlite3_errmsg(h_);
      ::sqlite3_free(msg);
      throw std::runtime_error(fmt::format("cannot run '{}': {}", sql, why));
    }
  }
  sqlite3_stmt* prepare(const char* sql) const {
    sqlite3_stmt* st = nullptr;
    if (::sqlite3_prepare_v2(h_, sql, -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(fmt::format("cannot prepare '{}': {}", sql, ::sqlite3_errmsg(h_)));
    }
    return st;
  }
  std::string text(const char* sql) const {
    sqlite3_stmt* st = prepare(sql);
    std::string out;
    if (::sqlite3_step(st) == SQLITE_ROW && ::sqlite3_column_text(st, 0)) {
      out = reinterpret_cast<const char*>(::sqlite3_column_text(st, 0));
    }
    ::sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* h_ = nullptr;
};

/// The `safe` preset, checked the way the Store checks it: a pragma SQLite did not take
/// would make the baseline measure something else.
void apply_safe_preset(const Db& db, const Tuning& t) {
  if (t.page_size != 0) db.exec(fmt::format("PRAGMA page_size={}", t.page_size).c_str());
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=NORMAL");
  if (db.text("PRAGMA journal_mode") != "wal" || db.text("PRAGMA synchronous") != "1") {
    throw std::runtime_error("the database did not take journal_mode=WAL, synchronous=NORMAL");
  }
  if (t.page_size != 0 && db.text("PRAGMA page_size") != std::to_string(t.page_size)) {
    throw std::runtime_error(fmt::format("the database did not take page_size={}", t.page_size));
  }
}

// The table the Store creates for the sensor type.
constexpr const char* kCreateSensor =
    "CREATE TABLE sensor(seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, producer INTEGER NOT "
    "NULL, "
    "a INTEGER, b REAL, c REAL, buffer TEXT)";

/// Every record 0..n-1 is in the table once with its values, whoever wrote it. `b` is a
/// FLOAT32: past 2^24 (the sustained run), k * 0.5 is rounded to 24 bits.
void check_table(const std::string& path, std::uint64_t n) {
  Db db(path, SQLITE_OPEN_READONLY);
  const std::string got = db.text(
      "SELECT count(*) || ' ' || count(DISTINCT a) || ' ' || coalesce(sum(a), 0) || ' ' || "
      "sum(abs(b - a * 0.5) > a * 0.5 * 1.2e-7 OR c != a * 0.5 OR buffer != 'p0-' || a) FROM "
      "sensor");
  const std::string want = fmt::format("{} {} {} 0", n, n, n * (n - 1) / 2);
  if (got != want) {
    throw std::runtime_error(
        fmt::format("database '{}' does not hold the records written: count, distinct, sum(a), bad "
                    "rows = '{}', "
                    "expected '{}'",
                    path, got, want));
  }
}

/// What a recording run left: its segments, and how many records expired.
struct RecordingShape {
  std::uint64_t segments = 0, deleted = 0, expired = 0;
};

/// A recording: the live segments hold records m..n-1 once each, with their values, and
/// the retention gaps count the m that expired.
RecordingShape check_recording(const std::string& folder, std::uint64_t n) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("seg-") && name.ends_with(".db")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(fmt::format("recording '{}' is empty", folder));
  std::uint64_t live = 0;
  for (const auto& f : files) {
    Db db(f.string(), SQLITE_OPEN_READONLY);
    const std::string bad = db.text(
        "SELECT count(*) FROM sensor WHERE b != a * 0.5 OR c != a * 0.5 OR buffer != 'p0-' || a");
    if (bad != "0") throw std::runtime_error(fmt::format("'{}' holds bad rows", f.string()));
    live += std::stoull(db.text("SELECT count(DISTINCT a) FROM sensor"));
  }
  Db newest(files.back().string(), SQLITE_OPEN_READONLY);
  const auto expired = std::stoull(
      newest.text("SELECT ifnull(sum(count), 0) FROM _ringlite_gaps WHERE kind = 'retention'"));
  if (live + expired != n) {
    throw std::runtime_error(
        fmt::format("recording '{}' holds {} records and counts {} expired, expected {} in all",
                    folder, live, expired, n));
  }
  RecordingShape shape;
  shape.segments = std::stoull(newest.text("SELECT count(*) FROM _ringlite_segments"));
  shape.deleted =
      std::stoull(newest.text("SELECT count(*) FROM _ringlite_segments WHERE state = 'deleted'"));
  shape.expired = expired;
  return shape;
}

// ---------------------------------------------------------------------------------------
// The two baselines.

struct RunResult {
  RecordingShape recording;  // the segmented run's
  double rps = 0;
  BridgeStats bridge;
  std::uint64_t full_events = 0;
  std::int64_t bridge_cpu_ns = 0, producer_cpu_ns = 0;
};

int direct_child(const std::string& path, std::uint64_t n, const Tuning& t, Control& ctl) {
  Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  apply_safe_preset(db, t);
  db.exec(kCreateSensor);
  sqlite3_stmt* st =
      db.prepare("INSERT INTO sensor(seq,ts_ns,producer,a,b,c,buffer) VALUES (?,?,?,?,?,?,?)");
  Sensor rec{};
  ctl.start.wait();
  const std::int64_t t0 = now_ns();
  for (std::uint64_t k = 0; k < n; ++k) {
    if (k % kDirectTxn == 0) db.exec("BEGIN");
    bench::fill_sensor(rec, k);
    ::sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(k));
    ::sqlite3_bind_int64(st, 2, realtime_ns());
    ::sqlite3_bind_int64(st, 3, 0);
    ::sqlite3_bind_int64(st, 4, rec.a);
    ::sqlite3_bind_double(st, 5, rec.b);
    ::sqlite3_bind_double(st, 6, rec.c);
    ::sqlite3_bind_text(st, 7, rec.buffer,
                        static_cast<int>(::strnlen(rec.buffer, sizeof rec.buffer)), SQLITE_STATIC);
    if (::sqlite3_step(st) != SQLITE_DONE) {
      throw std::runtime_error(
          fmt::format("cannot insert record {}: {}", k, ::sqlite3_errmsg(db.get())));
    }
    ::sqlite3_reset(st);
    if (k % kDirectTxn == kDirectTxn - 1 || k + 1 == n) db.exec("COMMIT");
  }
  ctl.first_write_ns = t0;
  ctl.end_ns = now_ns();
  ::sqlite3_finalize(st);
  return 0;
}

int seed_child(const std::string& path, std::uint64_t n, const Tuning& t, Control& ctl) {
  Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  apply_safe_preset(db, t);
  db.exec(kCreateSensor);
  Sensor rec{};
  char sql[512];
  ctl.start.wait();
  const std::int64_t t0 = now_ns();
  db.exec("BEGIN");
  for (std::uint64_t k = 0; k < n; ++k) {
    bench::fill_sensor(rec, k);
    std::snprintf(sql, sizeof sql,
                  "INSERT INTO sensor(seq,ts_ns,producer,a,b,c,buffer) VALUES "
                  "(%llu,%lld,0,%d,%.9g,%.17g,'%s')",
                  static_cast<unsigned long long>(k), static_cast<long long>(realtime_ns()), rec.a,
                  static_cast<double>(rec.b), rec.c, rec.buffer);
    db.exec(sql);
  }
  db.exec("COMMIT");
  ctl.first_write_ns = t0;
  ctl.end_ns = now_ns();
  return 0;
}

template <class Child>
RunResult run_baseline(std::string_view kind, std::uint64_t n, Child child, const Tuning& t = {}) {
  ScopedDb db(kind);
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const pid_t pid = bench::spawn([&] { return child(db.path(), n, t, ctl); });
  track({pid});
  ctl.start.release(1);
  if (auto err = bench::wait_all({pid}, deadline_for(n)); !err.empty()) {
    throw std::runtime_error(fmt::format("{} run failed: {}", kind, err));
  }
  track({});
  check_table(db.path(), n);
  RunResult r;
  r.rps = static_cast<double>(n) * 1e9 / static_cast<double>(ctl.end_ns - ctl.first_write_ns);
  return r;
}

// ---------------------------------------------------------------------------------------
// ringlite: a bridge process and a producer process (and, for latency, a reader).

std::atomic<bool> g_bridge_stop{false};
extern "C" void on_bridge_signal(int) { g_bridge_stop.store(true); }

/// A ring and a database for one run, with the bridge config the issue asks for.
class Setup {
 public:
  explicit Setup(std::string_view kind, const Tuning& t = {}) : db_(kind) {
    config_.ring = bench::unique_ring("persist_bench", 64ull << 20);
    config_.schema_file = fs::path(RINGLITE_SOURCE_DIR) / "schema" / "demo.sql";
    config_.database.path = db_.path();
    config_.database.preset = "safe";
    config_.batch.max_records = 65536;
    config_.batch.max_delay = std::chrono::milliseconds(20);
    config_.database.pragmas = g_pragmas;
    if (t.page_size != 0) config_.database.pragmas["page_size"] = std::to_string(t.page_size);
    if (t.segment_bytes != 0) {
      config_.database.path = db_.path() + ".rec";  // a folder of segments
      config_.database.segment_bytes = t.segment_bytes;
      config_.database.retain_bytes = t.retain_bytes;
    }
    config_.database.index_ts = t.index_ts;
    bench::watch_ring(config_.ring.name);  // the bridge creates it
  }
  ~Setup() {
    bench::remove_ring(config_.ring);
    if (config_.database.segmented()) {
      std::error_code ec;
      fs::remove_all(config_.database.path, ec);
    }
  }
  Setup(const Setup&) = delete;
  Setup& operator=(const Setup&) = delete;
  const Config& config() const { return config_; }
  const std::string& db_path() const { return db_.path(); }
  bool segmented() const { return config_.database.segmented(); }
  std::string folder() const { return config_.database.path.string(); }

 private:
  ScopedDb db_;
  Config config_;
};

/// The bridge child: creates the ring, says ready, drains until SIGTERM.
int bridge_child(const Config& cfg, Control& ctl) {
  struct sigaction sa {};
  sa.sa_handler = on_bridge_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  Bridge bridge(cfg);
  ctl.bridge_ready.store(1, std::memory_order_release);
  ctl.bridge = bridge.run(
      g_bridge_stop,
      [](const std::string& line) {
        // Rolls and expiries are counted in the report; anything else is worth a look.
        if (line.rfind("recording '", 0) == 0) return;
        std::fprintf(stderr, "persist_bench: bridge: %s\n", line.c_str());
      },
      0);
  ctl.bridge_cpu_ns = cpu_ns();
  return 0;
}

/// Starts the bridge and waits until it has created the ring and the tables.
pid_t start_bridge(const Setup& s, Control& ctl) {
  const pid_t pid = bench::spawn([&] { return bridge_child(s.config(), ctl); });
  const std::int64_t deadline = now_ns() + 30'000'000'000;
  while (ctl.bridge_ready.load(std::memory_order_acquire) == 0) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      throw std::runtime_error("the bridge exited during start-up");
    if (now_ns() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error("the bridge did not start within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return pid;
}

/// Stops the bridge the way users do (SIGTERM: drain, commit, exit 0).
std::string stop_bridge(pid_t bridge) {
  ::kill(bridge, SIGTERM);
  return bench::wait_all({bridge}, now_ns() + 60'000'000'000);
}

/// Writes records 0..n-1 with blocking writes; paced to `rate` records/s when rate > 0.
int producer_child(const Config& cfg, std::uint64_t n, double rate, Control& ctl) {
  Producer p(Ring::open(cfg.ring), OnFull::block);
  auto w = p.writer<Sensor>("sensor");
  Sensor rec{};
  const auto period_ns = rate > 0 ? 1e9 / rate : 0.0;
  ctl.start.wait();
  const std::int64_t t0 = now_ns();
  for (std::uint64_t k = 0; k < n; ++k) {
    bench::fill_sensor(rec, k);
    if (const WriteResult wr = w.write(rec); wr != WriteResult::ok) {
      std::fprintf(stderr, "persist_bench: producer: write of record %llu returned %s\n",
                   static_cast<unsigned long long>(k), std::string(to_string(wr)).c_str());
      return 6;
    }
    // Paced in steps of 10 records (100 us at 100k/s): finer than the 1 ms reader poll.
    if (period_ns > 0 && k % 10 == 9)
      sleep_until(t0 + static_cast<std::int64_t>(static_cast<double>(k + 1) * period_ns));
  }
  ctl.first_write_ns = t0;
  ctl.last_write_ns = now_ns();
  ctl.producer_cpu_ns = cpu_ns();
  ctl.producer_done.store(1, std::memory_order_release);
  return 0;
}

RunResult run_ringlite(std::uint64_t n, const Tuning& t = {}) {
  Setup s("ringlite", t);
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const pid_t bridge = start_bridge(s, ctl);
  track({bridge});
  const pid_t producer = bench::spawn([&] { return producer_child(s.config(), n, 0, ctl); });
  track({bridge, producer});
  const Ring ring = Ring::open(s.config().ring, Ring::Access::read_only);
  const auto fail = [&](const std::string& what) {
    const RingStats st = ring.stats();
    ::kill(bridge, SIGKILL);
    ::kill(producer, SIGKILL);
    bench::wait_all({bridge, producer}, now_ns() + 10'000'000'000);
    return std::runtime_error(
        fmt::format("ringlite run failed: {}; ring head {} tail {}, {} records written", what,
                    st.head, st.tail, st.records_written));
  };
  ctl.start.release(1);

  // The end: the producer is done and the bridge has committed up to the tail. While the
  // producer runs, three processes share the cores: look every 2 ms only (waking every
  // 100 us cost the timed pair 10-15% on 2 cores). Then every 100 us, with atomic loads
  // (Ring::stats() would add /proc lookups), so the end is seen within 0.1 ms.
  const std::int64_t deadline = deadline_for(n);
  std::int64_t end = 0;
  for (;;) {
    const bool done = ctl.producer_done.load(std::memory_order_acquire) != 0;
    if (done) {
      if (const RingCursors c = ring.cursors(); c.head == c.tail) {
        end = now_ns();
        break;
      }
    } else {
      int status = 0;
      if (::waitpid(producer, &status, WNOHANG) == producer)
        throw fail("the producer exited early");
    }
    if (now_ns() > deadline) throw fail("timed out");
    std::this_thread::sleep_for(std::chrono::microseconds(done ? 100 : 2000));
  }
  RunResult r;
  r.rps = static_cast<double>(n) * 1e9 / static_cast<double>(end - ctl.first_write_ns);
  r.full_events = ring.stats().full_events;
  if (auto err = bench::wait_all({producer}, now_ns() + 10'000'000'000); !err.empty())
    throw fail("producer: " + err);
  if (auto err = stop_bridge(bridge); !err.empty())
    throw std::runtime_error("ringlite run failed: bridge: " + err);
  track({});
  r.bridge = ctl.bridge;
  r.bridge_cpu_ns = ctl.bridge_cpu_ns;
  r.producer_cpu_ns = ctl.producer_cpu_ns;
  if (s.segmented()) {
    r.recording = check_recording(s.folder(), n);
  } else {
    check_table(s.db_path(), n);
  }
  return r;
}

/// The bridge's SQLite side alone (--explain): Store::write_batch on batches built in memory
/// the way the bridge polls them (65536 frames, seq = ring positions), timed over
/// write_batch only. What (c) spends beyond this is the ring, the copy out of it, and the
/// pipeline's start and end.
int store_child(const std::string& path, std::uint64_t n, const Tuning& t, Control& ctl) {
  const Schema schema = Schema::load_file(fs::path(RINGLITE_SOURCE_DIR) / "schema" / "demo.sql");
  DatabaseConfig dc;
  dc.path = path;
  dc.preset = "safe";
  if (t.page_size != 0) dc.pragmas["page_size"] = std::to_string(t.page_size);
  Store store = Store::open(dc, schema, "persist_bench");
  const RecordType* type = schema.find("sensor");
  if (type == nullptr || type->size != sizeof(Sensor))
    throw std::runtime_error("schema/demo.sql has no 80-byte sensor");
  constexpr std::uint64_t kFrame = frame_size(sizeof(Sensor));  // seq step, as in the ring
  constexpr std::uint64_t kBatch = 65536;
  const std::string ring_id(32, '0');
  Batch b;
  b.frames.reserve(kBatch);
  b.arena.reserve(kBatch * sizeof(Sensor));
  Sensor rec{};
  std::int64_t timed = 0;
  ctl.start.wait();
  for (std::uint64_t k0 = 0; k0 < n; k0 += kBatch) {
    b.clear();
    const std::uint64_t m = std::min(kBatch, n - k0);
    for (std::uint64_t k = k0; k < k0 + m; ++k) {
      bench::fill_sensor(rec, k);
      const auto* bytes = reinterpret_cast<const std::byte*>(&rec);
      b.frames.push_back(Frame{.seq = k * kFrame,
                               .type = type->id,
                               .producer = 0,
                               .ts_ns = realtime_ns(),
                               .offset = static_cast<std::uint32_t>(b.arena.size()),
                               .length = static_cast<std::uint32_t>(sizeof rec)});
      b.arena.insert(b.arena.end(), bytes, bytes + sizeof rec);
    }
    b.end = (k0 + m) * kFrame;
    const std::int64_t t0 = now_ns();
    const BatchResult r = store.write_batch(b, ring_id);
    timed += now_ns() - t0;
    if (r.inserted != m)
      throw std::runtime_error(fmt::format("write_batch inserted {} of {} rows", r.inserted, m));
  }
  ctl.first_write_ns = 0;  // the rate is records over the time inside write_batch
  ctl.end_ns = timed;
  return 0;
}

/// The reader: polls the database every 1 ms until it has seen `n` rows; each row's
/// latency is the reader's realtime clock when the poll returned it minus its ts_ns.
int reader_child(const std::string& path, std::uint64_t n, Control& ctl) {
  Db db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
  sqlite3_stmt* st = db.prepare("SELECT seq, ts_ns FROM sensor WHERE seq > ? ORDER BY seq");
  std::vector<std::int64_t> latency;
  latency.reserve(n);
  sqlite3_int64 last = -1;
  std::uint64_t polls = 0;
  const std::int64_t deadline = deadline_for(n);
  ctl.start.wait();
  std::int64_t next = now_ns();
  while (latency.size() < n) {
    ::sqlite3_bind_int64(st, 1, last);
    int rc = ::sqlite3_step(st);
    const std::int64_t seen_at = realtime_ns();  // the poll's snapshot is taken by the first step
    for (; rc == SQLITE_ROW; rc = ::sqlite3_step(st)) {
      last = ::sqlite3_column_int64(st, 0);
      latency.push_back(seen_at - ::sqlite3_column_int64(st, 1));
    }
    if (rc != SQLITE_DONE) {
      std::fprintf(stderr, "persist_bench: reader: %s\n", ::sqlite3_errmsg(db.get()));
      return 7;
    }
    ::sqlite3_reset(st);
    ++polls;
    const std::int64_t now = now_ns();
    if (now > deadline) {
      std::fprintf(stderr, "persist_bench: reader: saw %zu of %llu rows before the deadline\n",
                   latency.size(), static_cast<unsigned long long>(n));
      return 8;
    }
    next = std::max(next + kReaderPeriodNs, now);
    sleep_until(next);
  }
  ::sqlite3_finalize(st);
  std::sort(latency.begin(), latency.end());
  const auto ms = [&](double q) { return static_cast<double>(bench::quantile(latency, q)) / 1e6; };
  ctl.visible = {latency.size(), polls, ms(0.50), ms(0.90), ms(0.99), ms(1.0)};
  return 0;
}

struct Latency : Control::Visible {
  double produced_rps = 0;
  BridgeStats bridge;
};

Latency run_latency(std::uint64_t n) {
  Setup s("latency");
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const pid_t bridge = start_bridge(s, ctl);
  track({bridge});
  const pid_t reader = bench::spawn([&] { return reader_child(s.db_path(), n, ctl); });
  track({bridge, reader});
  const pid_t producer =
      bench::spawn([&] { return producer_child(s.config(), n, kLatencyRate, ctl); });
  track({bridge, reader, producer});
  ctl.start.release(2);
  if (auto err = bench::wait_all({reader, producer}, deadline_for(n)); !err.empty()) {
    ::kill(bridge, SIGKILL);
    bench::wait_all({bridge}, now_ns() + 10'000'000'000);
    throw std::runtime_error("latency run failed: " + err);
  }
  if (auto err = stop_bridge(bridge); !err.empty())
    throw std::runtime_error("latency run failed: bridge: " + err);
  track({});
  check_table(s.db_path(), n);
  Latency l;
  static_cast<Control::Visible&>(l) = ctl.visible;
  l.produced_rps =
      static_cast<double>(n) * 1e9 / static_cast<double>(ctl.last_write_ns - ctl.first_write_ns);
  l.bridge = ctl.bridge;
  return l;
}

// ---------------------------------------------------------------------------------------
// Options and report.

constexpr std::string_view kUsage =
    "usage: persist_bench [--records N] [--pairs N] [--json] [--explain]\n"
    "                     [--pragma NAME=VALUE]...\n"
    "       persist_bench --sustained [N] [--json] [--pragma NAME=VALUE]...\n"
    "\n"
    "Persists the demo sensor record into SQLite (preset safe: WAL, synchronous=NORMAL)\n"
    "three ways and compares them: a prepared single-row INSERT loop (direct), the seeds'\n"
    "sqlite3_exec per record (seed), and ringlite (producer -> ring -> bridge). Then\n"
    "measures write-to-visible latency at 100k records/s with a polling sqlite3 reader.\n"
    "\n"
    "  --records N  records per direct and ringlite run (default 1000000); the seed run\n"
    "               writes N/5, the latency run min(N/4, 250000) (at least 20000)\n"
    "  --pairs N    interleaved pairs: every run once per pair, the order alternating;\n"
    "               ratios are medians of per-pair ratios (default 5)\n"
    "  --json       print one JSON object on one line instead of the table: medians,\n"
    "               the ratio to direct's min and max\n"
    "  --explain    also run diagnostic variants: the bridge's SQLite side alone\n"
    "               (Store::write_batch, no ring), and direct and ringlite with\n"
    "               PRAGMA page_size=16384\n"
    "  --pragma NAME=VALUE\n"
    "               a pragma for every bridge's database, after the preset (repeatable):\n"
    "               --pragma wal_autocheckpoint=0 --pragma page_size=16384\n"
    "  --sustained [N]\n"
    "               instead: one run of N records (default 50000000, about 3.3 GB of\n"
    "               database) through a bridge with the default config; records/s, WAL\n"
    "               size, bridge RSS and checkpoint durations for each tenth of the run\n"
    "  --help       print this help\n";

constexpr std::uint64_t kSustainedDefault = 50'000'000;

// `--sustained N` takes an optional value: a following argument that is a number is its.
std::vector<char*> sustained_args(int argc, char** argv, std::vector<std::string>& storage) {
  std::vector<char*> out;
  storage.reserve(static_cast<std::size_t>(argc));
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--sustained") {
      const bool number =
          i + 1 < argc && argv[i + 1][0] != '\0' &&
          std::string_view(argv[i + 1]).find_first_not_of("0123456789") == std::string_view::npos;
      storage.push_back(number ? fmt::format("--sustained={}", argv[++i])
                               : fmt::format("--sustained={}", kSustainedDefault));
      out.push_back(storage.back().data());
    } else {
      out.push_back(argv[i]);
    }
  }
  return out;
}

Options parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> storage;
  std::vector<char*> argv2 = sustained_args(argc, argv, storage);
  bench::Args args("persist_bench", static_cast<int>(argv2.size()), argv2.data());
  while (args.next()) {
    if (args.is("--help") || args.is("-h")) {
      bench::Args::help(kUsage);
    } else if (args.is("--json")) {
      o.json = true;
    } else if (args.is("--explain")) {
      o.explain = true;
    } else if (args.name() == "--records") {
      o.records = args.count(1000, 1'000'000'000);
    } else if (args.name() == "--pairs") {
      o.pairs = static_cast<int>(args.count(1, 100));
    } else if (args.name() == "--sustained") {
      o.sustained = args.count(10'000, 10'000'000'000);
    } else if (args.name() == "--pragma") {
      const std::string_view v = args.value();
      const auto eq = v.find('=');
      if (eq == std::string_view::npos || eq == 0 || eq + 1 == v.size())
        args.error(fmt::format("--pragma wants NAME=VALUE, not '{}'", v));
      g_pragmas[std::string(v.substr(0, eq))] = std::string(v.substr(eq + 1));
    } else {
      args.unknown();
    }
  }
  return o;
}

/// "1.13 M/s", "209 k/s": two decimals where the ratios need them.
std::string rate(double per_s) { return bench::rate(per_s, 2); }

std::string pairs_text(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += fmt::format("{}{}", s.empty() ? "" : ", ", rate(x));
  return s;
}

/// The run of `v` whose rate is the median one, for the diagnostics.
const RunResult& median_run(const std::vector<RunResult>& v) {
  std::vector<std::size_t> idx(v.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(),
            [&](std::size_t a, std::size_t b) { return v[a].rps < v[b].rps; });
  return v[idx[idx.size() / 2]];
}

std::string where_text(const char* dir) {
  struct statfs fs {};
  if (::statfs(dir, &fs) != 0) return dir;
  constexpr long kTmpfs = 0x01021994;
  return fmt::format("{}{}", dir,
                     static_cast<long>(fs.f_type) == kTmpfs ? " (tmpfs: no disk writes)" : "");
}

double per_record_ns(std::int64_t ns, std::uint64_t records) {
  return records ? static_cast<double>(ns) / static_cast<double>(records) : 0.0;
}

int run(const Options& o) {
  const bench::Load load = bench::Load::read();

  const std::uint64_t n = o.records;
  const std::uint64_t n_seed = std::max<std::uint64_t>(n / 5, 1);
  const auto n_lat = std::max<std::uint64_t>(
      std::min<std::uint64_t>(n / 4, static_cast<std::uint64_t>(kLatencyRate * kLatencySeconds)),
      20'000);
  const Tuning big_pages{.page_size = 16384};

  const std::uint64_t segment_bytes = std::max<std::uint64_t>(n * 8, kMinSegmentBytes);
  const Tuning segments{.segment_bytes = segment_bytes, .retain_bytes = 3 * segment_bytes};

  const Tuning no_index{.index_ts = false};
  // The runs of one pair; [0], the direct loop, is the baseline of every ratio.
  enum : std::size_t {
    kDirect,
    kRinglite,
    kSeed,
    kPlain,
    kSegmented,
    kStore,
    kDirect16,
    kRinglite16
  };
  bench::Pairs pairs(
      {"(a) direct: prepared 1-row INSERT, 10k records per txn",
       "(c) ringlite: producer -> ring -> bridge, to last COMMIT",
       "(b) seed: sqlite3_exec(snprintf'd INSERT) per record, 1 txn",
       "(c0) (c) with index_ts = false: no time index, as 0.2 wrote",
       fmt::format("(d) segmented: (c) into {:.3g} MiB segments, {:.3g} MiB retained",
                   static_cast<double>(segment_bytes) / (1 << 20),
                   static_cast<double>(3 * segment_bytes) / (1 << 20)),
       "explain: bridge's SQLite side alone (Store::write_batch)",
       "explain: (a) with page_size 16384", "explain: (c) with page_size 16384"});
  std::vector<std::vector<RunResult>> runs(8);
  pairs.run(
      o.pairs,
      [&](std::size_t i) {
        RunResult r;
        switch (i) {
          case kDirect:
            r = run_baseline("direct", n, direct_child);
            break;
          case kRinglite:
            r = run_ringlite(n);
            break;
          case kSeed:
            r = run_baseline("seed", n_seed, seed_child);
            break;
          case kPlain:
            r = run_ringlite(n, no_index);
            break;
          case kSegmented:
            r = run_ringlite(n, segments);
            break;
          case kStore:
            r = run_baseline("store", n, store_child);
            break;
          case kDirect16:
            r = run_baseline("direct16k", n, direct_child, big_pages);
            break;
          default:
            r = run_ringlite(n, big_pages);
            break;
        }
        runs[i].push_back(r);
        return r.rps;
      },
      [&](std::size_t i) { return i < kStore || o.explain; });
  const Latency lat = run_latency(n_lat);
  const bench::Load load_after = bench::Load::read();

  const double a = pairs.rate(kDirect).median, b = pairs.rate(kSeed).median;
  const double c = pairs.rate(kRinglite).median;
  const double d = pairs.rate(kSegmented).median, c0 = pairs.rate(kPlain).median;
  const bench::Spread ca = pairs.ratio(kRinglite), cb = pairs.ratio(kRinglite, kSeed);
  const bench::Spread dc = pairs.ratio(kSegmented, kRinglite), cc0 = pairs.ratio(kRinglite, kPlain);
  const bench::Spread dc0 = pairs.ratio(kSegmented, kPlain);
  if (o.json) {
    fmt::print(
        "{{\"pairs\":{},\"load_before\":{:.2f},\"load_after\":{:.2f},\"direct_rps\":{:.0f},"
        "\"seed_rps\":{:.0f},\"ringlite_rps\":{:.0f},\"ratio_direct\":{:.4f},"
        "\"ratio_direct_min\":{:.4f},\"ratio_direct_max\":{:.4f},\"ratio_seed\":{:.4f},"
        "\"segmented_rps\":{:.0f},\"ratio_segmented\":{:.4f},\"no_index_rps\":{:.0f},"
        "\"ratio_index\":{:.4f},\"ratio_segmented_no_index\":{:.4f},"
        "\"visible_ms_p50\":{:.3f},\"visible_ms_p99\":{:.3f}}}\n",
        pairs.pairs(), load.average, load_after.average, a, b, c, ca.median, ca.min, ca.max,
        cb.median, d, dc.median, c0, cc0.median, dc0.median, lat.p50_ms, lat.p99_ms);
    return 0;
  }
  fmt::print(
      "ringlite persist_bench: sensor records (a INT32, b FLOAT32, c FLOAT64, buffer CHAR(64)), "
      "preset safe "
      "(WAL, synchronous=NORMAL), a fresh database per run in {}, SQLite {}, {} cores, {} "
      "interleaved pairs; medians, [min-max] of the per-pair ratios\n",
      where_text(bench::cleanup::dir), ::sqlite3_libversion(), std::thread::hardware_concurrency(),
      pairs.pairs());
  bench::print_load(load, load_after);
  fmt::print("processes not pinned (the scheduler places producer and bridge)\n\n");
  fmt::print("| {:<62} | {:>9} | {:>10} | {:>7} | {:<18} | {:<40} |\n", "run", "records",
             "median/s", "ns/rec", "vs direct", "each pair");
  fmt::print("|{:-<64}|{:-<11}|{:-<12}|{:-<9}|{:-<20}|{:-<42}|\n", "", "", "", "", "", "");
  const auto row = [&](std::size_t i, std::uint64_t count) {
    if (pairs.rates(i).empty()) return;
    const double r = pairs.rate(i).median;
    fmt::print("| {:<62} | {:>9} | {:>10} | {:>7.0f} | {:<18} | {:<40} |\n", pairs.name(i), count,
               rate(r), 1e9 / r, i == kDirect ? "1.00" : pairs.ratio(i).text(),
               pairs_text(pairs.rates(i)));
  };
  row(kDirect, n);
  row(kSeed, n_seed);
  row(kRinglite, n);
  row(kPlain, n);
  row(kSegmented, n);
  row(kStore, n);
  row(kDirect16, n);
  row(kRinglite16, n);
  fmt::print("\n(c)/(a) = {} (target >= 1.2), (c)/(b) = {} (target >= 4)\n", ca.text(), cb.text());
  const RunResult& dm = median_run(runs[kSegmented]);
  fmt::print(
      "(d)/(c) = {} (target >= 0.8): the recording's rolls and retention against one file; "
      "the median (d) run wrote {} segments and expired {} of them ({} records)\n",
      dc.text(), dm.recording.segments, dm.recording.deleted, dm.recording.expired);
  fmt::print(
      "(c)/(c0) = {}: what the time index costs the bridge; (d)/(c0) = {}: segments, "
      "retention and the time index against the plain file without it\n",
      cc0.text(), dc0.text());
  if (o.explain) {
    fmt::print("with page_size 16384 on both sides: (c)/(a) = {}\n",
               pairs.ratio(kRinglite16, kDirect16).text());
  }
  const RunResult& rb = median_run(runs[kRinglite]);
  fmt::print(
      "bridge in the median (c) run: {} records in {} transactions ({:.0f} records each), {} "
      "rejects, {} gaps; "
      "CPU {:.0f} ns/record in the bridge, {:.0f} ns/record in the producer; the producer found "
      "the ring full "
      "{} times\n",
      rb.bridge.records, rb.bridge.batches,
      rb.bridge.batches
          ? static_cast<double>(rb.bridge.records) / static_cast<double>(rb.bridge.batches)
          : 0.0,
      rb.bridge.rejects, rb.bridge.gaps, per_record_ns(rb.bridge_cpu_ns, rb.bridge.records),
      per_record_ns(rb.producer_cpu_ns, rb.bridge.records), rb.full_events);
  fmt::print(
      "\nwrite-to-visible latency at {:.0f} records/s (paced; {} records over {:.1f} s, {} "
      "transactions of "
      "{:.0f} records): p50 {:.2f} ms, p90 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n",
      lat.produced_rps, lat.records, static_cast<double>(lat.records) / lat.produced_rps,
      lat.bridge.batches,
      lat.bridge.batches
          ? static_cast<double>(lat.bridge.records) / static_cast<double>(lat.bridge.batches)
          : 0.0,
      lat.p50_ms, lat.p90_ms, lat.p99_ms, lat.max_ms);
  fmt::print(
      "  from write() (ts_ns, epoch ns) until a reader polling every 1 ms through the stock "
      "sqlite3 "
      "library returned the row ({} polls); bridge max_delay 20 ms\n",
      lat.polls);
  return 0;
}

// ---------------------------------------------------------------------------------------
// --sustained N: one long run of (c) (one producer, the 64 MiB ring, a bridge process with the
// default config and preset safe), sampled every 100 ms from outside: records committed (the
// ring's head), the -wal file's size, the bridge's RSS (/proc/PID/status VmRSS). The bridge
// hands over its checkpoint history (ringlite::checkpoint_history()) when it exits. Reported
// per tenth of the records: records/s, the largest WAL, RSS min/max, the checkpoints that
// ended in that tenth (count, min/median/max duration). Warm-up is the first tenth: the RSS
// target (flat within 10%) is judged on tenths 2 to 10.

constexpr std::int64_t kSampleNs = 100'000'000;
constexpr std::size_t kMaxCheckpoints = 65536;

struct SustainedShared {
  Control ctl;
  std::uint64_t checkpoints = 0;  // entries of `history` the bridge filled in
  CheckpointRecord history[kMaxCheckpoints];
};

struct Sample {
  std::int64_t t_ns = 0;
  std::uint64_t head = 0;
  std::int64_t wal_bytes = 0, rss_kib = 0;
};

std::int64_t file_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

std::int64_t rss_kib(pid_t pid) {
  std::FILE* f = std::fopen(fmt::format("/proc/{}/status", pid).c_str(), "r");
  if (!f) return 0;
  char line[256];
  long long kib = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmRSS: %lld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

/// The bridge child of the sustained run: bridge_child, then its checkpoint history.
int sustained_bridge_child(const Config& cfg, SustainedShared& sh) {
  const int rc = bridge_child(cfg, sh.ctl);
  const auto h = checkpoint_history();
  const std::size_t n = std::min(h.size(), kMaxCheckpoints);
  std::copy(h.end() - static_cast<std::ptrdiff_t>(n), h.end(), sh.history);
  sh.checkpoints = n;
  return rc;
}

struct Tenth {
  double rps = 0;
  std::int64_t t0 = 0, t1 = 0;  // when its first and last record were committed (interpolated)
  std::int64_t wal_max = 0, rss_min = 0, rss_max = 0;
  std::size_t checkpoints = 0;
  double ckpt_min_ms = 0, ckpt_med_ms = 0, ckpt_max_ms = 0;
};

struct Sustained {
  std::uint64_t records = 0;
  double rps = 0;
  std::vector<Tenth> tenths;
  std::int64_t wal_max = 0, rss_warm_min = 0, rss_warm_max = 0, db_bytes = 0;
  std::size_t checkpoints = 0, restarts = 0;
  double ckpt_max_ms = 0;
  double restart_med_ms = 0, restart_max_ms = 0;  // the drain thread's own WAL restarts
};

/// When the committed position passed `pos`, interpolated between the samples around it.
std::int64_t time_at(const std::vector<Sample>& v, std::uint64_t pos) {
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i].head < pos) continue;
    const Sample& a = v[i - 1];
    const Sample& b = v[i];
    if (b.head == a.head) return b.t_ns;
    const double f = static_cast<double>(pos - a.head) / static_cast<double>(b.head - a.head);
    return a.t_ns + static_cast<std::int64_t>(f * static_cast<double>(b.t_ns - a.t_ns));
  }
  return v.empty() ? 0 : v.back().t_ns;
}

Sustained analyse(std::vector<Sample> v, std::uint64_t start, std::uint64_t end, std::uint64_t n,
                  std::int64_t t_first, const SustainedShared& sh) {
  Sustained r;
  r.records = n;
  if (!v.empty())
    v.insert(v.begin(), Sample{t_first, start, v.front().wal_bytes, v.front().rss_kib});
  const std::uint64_t span = end - start;
  std::int64_t prev_t = t_first;
  for (int k = 0; k < 10; ++k) {
    Tenth t;
    t.t0 = prev_t;
    t.t1 = time_at(v, start + span * static_cast<std::uint64_t>(k + 1) / 10);
    prev_t = t.t1;
    t.rps = static_cast<double>(n) / 10.0 * 1e9 /
            static_cast<double>(std::max<std::int64_t>(t.t1 - t.t0, 1));
    t.rss_min = std::numeric_limits<std::int64_t>::max();
    for (const Sample& s : v) {
      if (s.t_ns < t.t0 || s.t_ns > t.t1) continue;
      t.wal_max = std::max(t.wal_max, s.wal_bytes);
      if (s.rss_kib > 0) t.rss_min = std::min(t.rss_min, s.rss_kib);
      t.rss_max = std::max(t.rss_max, s.rss_kib);
    }
    if (t.rss_min == std::numeric_limits<std::int64_t>::max()) t.rss_min = 0;
    std::vector<double> ms;
    for (std::size_t i = 0; i < sh.checkpoints; ++i) {
      const CheckpointRecord& c = sh.history[i];
      if (c.end_ns > t.t0 && c.end_ns <= t.t1)
        ms.push_back(static_cast<double>(c.duration_ns) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    t.checkpoints = ms.size();
    if (!ms.empty()) {
      t.ckpt_min_ms = ms.front();
      t.ckpt_med_ms = ms[ms.size() / 2];
      t.ckpt_max_ms = ms.back();
    }
    r.tenths.push_back(t);
  }
  r.rps = static_cast<double>(n) * 1e9 /
          static_cast<double>(std::max<std::int64_t>(prev_t - t_first, 1));
  for (const Sample& s : v) r.wal_max = std::max(r.wal_max, s.wal_bytes);
  r.rss_warm_min = std::numeric_limits<std::int64_t>::max();
  for (std::size_t k = 1; k < r.tenths.size(); ++k) {
    if (r.tenths[k].rss_min > 0) r.rss_warm_min = std::min(r.rss_warm_min, r.tenths[k].rss_min);
    r.rss_warm_max = std::max(r.rss_warm_max, r.tenths[k].rss_max);
  }
  if (r.rss_warm_min == std::numeric_limits<std::int64_t>::max()) r.rss_warm_min = 0;
  std::vector<double> restarts;
  for (std::size_t i = 0; i < sh.checkpoints; ++i) {
    const CheckpointRecord& c = sh.history[i];
    ++r.checkpoints;
    if (c.kind == CheckpointRecord::Kind::restart)
      restarts.push_back(static_cast<double>(c.duration_ns) / 1e6);
    r.ckpt_max_ms = std::max(r.ckpt_max_ms, static_cast<double>(c.duration_ns) / 1e6);
  }
  std::sort(restarts.begin(), restarts.end());
  r.restarts = restarts.size();
  if (!restarts.empty()) {
    r.restart_med_ms = restarts[restarts.size() / 2];
    r.restart_max_ms = restarts.back();
  }
  return r;
}

Sustained run_sustained(std::uint64_t n) {
  Setup s("sustained");
  bench::SharedMemory mem(sizeof(SustainedShared));
  SustainedShared& sh = *mem.make<SustainedShared>();
  Control& ctl = sh.ctl;
  const pid_t bridge = bench::spawn([&] { return sustained_bridge_child(s.config(), sh); });
  track({bridge});
  const std::int64_t ready_by = now_ns() + 30'000'000'000;
  while (ctl.bridge_ready.load(std::memory_order_acquire) == 0) {
    int status = 0;
    if (::waitpid(bridge, &status, WNOHANG) == bridge)
      throw std::runtime_error("the bridge exited during start-up");
    if (now_ns() > ready_by) throw std::runtime_error("the bridge did not start within 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const Ring ring = Ring::open(s.config().ring, Ring::Access::read_only);
  const std::uint64_t start = ring.cursors().tail;
  const pid_t producer = bench::spawn([&] { return producer_child(s.config(), n, 0, ctl); });
  track({bridge, producer});
  const std::string wal = s.db_path() + "-wal";
  std::vector<Sample> samples;
  samples.reserve(static_cast<std::size_t>(n / 50'000 + 1024));
  ctl.start.release(1);
  const std::int64_t deadline = deadline_for(n);
  std::int64_t next = now_ns();
  for (;;) {
    const RingCursors c = ring.cursors();
    samples.push_back({now_ns(), c.head, file_bytes(wal), rss_kib(bridge)});
    const bool done = ctl.producer_done.load(std::memory_order_acquire) != 0;
    if (done && c.head == c.tail) break;
    if (!done) {
      int status = 0;
      if (::waitpid(producer, &status, WNOHANG) == producer) {
        ::kill(bridge, SIGKILL);
        bench::wait_all({bridge}, now_ns() + 10'000'000'000);
        throw std::runtime_error("sustained run failed: the producer exited early");
      }
    }
    if (now_ns() > deadline) {
      ::kill(bridge, SIGKILL);
      ::kill(producer, SIGKILL);
      bench::wait_all({bridge, producer}, now_ns() + 10'000'000'000);
      throw std::runtime_error("sustained run failed: timed out");
    }
    next += kSampleNs;
    sleep_until(next);
  }
  const std::uint64_t end = ring.cursors().tail;
  if (auto err = bench::wait_all({producer}, now_ns() + 10'000'000'000); !err.empty())
    throw std::runtime_error("sustained run failed: producer: " + err);
  if (auto err = stop_bridge(bridge); !err.empty())
    throw std::runtime_error("sustained run failed: bridge: " + err);
  track({});
  Sustained r = analyse(std::move(samples), start, end, n, ctl.first_write_ns, sh);
  r.db_bytes = file_bytes(s.db_path());
  check_table(s.db_path(), n);
  return r;
}

int report_sustained(const Sustained& r, bool json) {
  const Tenth& first = r.tenths.front();
  const Tenth& last = r.tenths.back();
  const double ratio = last.rps / first.rps;
  const double rss_ratio =
      r.rss_warm_min ? static_cast<double>(r.rss_warm_max) / static_cast<double>(r.rss_warm_min)
                     : 0.0;
  if (json) {
    std::string tenths, wal, rss, ckpt;
    for (const Tenth& t : r.tenths) {
      const char* sep = tenths.empty() ? "" : ",";
      tenths += fmt::format("{}{:.0f}", sep, t.rps);
      wal += fmt::format("{}{}", sep, t.wal_max);
      rss += fmt::format("{}[{},{}]", sep, t.rss_min, t.rss_max);
      ckpt += fmt::format("{}[{},{:.3f},{:.3f},{:.3f}]", sep, t.checkpoints, t.ckpt_min_ms,
                          t.ckpt_med_ms, t.ckpt_max_ms);
    }
    fmt::print(
        "{{\"sustained_records\":{},\"sustained_rps\":{:.0f},\"tenths_rps\":[{}],"
        "\"last_over_first\":{:.4f},\"wal_max_bytes\":{},\"tenths_wal_max_bytes\":[{}],"
        "\"rss_kib_after_warmup\":[{},{}],\"rss_max_over_min\":{:.4f},\"tenths_rss_kib\":[{}],"
        "\"checkpoints\":{},\"restarts\":{},\"checkpoint_ms_max\":{:.3f},"
        "\"restart_ms_median\":{:.3f},\"restart_ms_max\":{:.3f},"
        "\"tenths_checkpoints\":[{}],\"db_bytes\":{}}}\n",
        r.records, r.rps, tenths, ratio, r.wal_max, wal, r.rss_warm_min, r.rss_warm_max, rss_ratio,
        rss, r.checkpoints, r.restarts, r.ckpt_max_ms, r.restart_med_ms, r.restart_max_ms, ckpt,
        r.db_bytes);
    return 0;
  }
  fmt::print(
      "ringlite persist_bench --sustained: {} sensor records, one producer -> 64 MiB ring -> "
      "bridge process (default config, preset safe) into {}, SQLite {}; sampled every {} ms\n",
      r.records, where_text(bench::cleanup::dir), ::sqlite3_libversion(), kSampleNs / 1'000'000);
  fmt::print("| {:>5} | {:>10} | {:>11} | {:>21} | {:>11} | {:<34} |\n", "tenth", "records/s",
             "WAL max", "bridge RSS min-max", "checkpoints", "checkpoint ms min/median/max");
  fmt::print("|{:-<7}|{:-<12}|{:-<13}|{:-<23}|{:-<13}|{:-<36}|\n", "", "", "", "", "", "");
  for (std::size_t k = 0; k < r.tenths.size(); ++k) {
    const Tenth& t = r.tenths[k];
    fmt::print(
        "| {:>5} | {:>10} | {:>7.1f} MiB | {:>8.1f} - {:>6.1f} MiB | {:>11} | "
        "{:<34} |\n",
        k + 1, rate(t.rps), static_cast<double>(t.wal_max) / (1 << 20),
        static_cast<double>(t.rss_min) / 1024, static_cast<double>(t.rss_max) / 1024, t.checkpoints,
        t.checkpoints
            ? fmt::format("{:.2f} / {:.2f} / {:.2f}", t.ckpt_min_ms, t.ckpt_med_ms, t.ckpt_max_ms)
            : std::string("-"));
  }
  fmt::print(
      "\nwhole run {} ({} records, database {:.2f} GiB); last tenth / first tenth = {:.2f} "
      "(target >= 0.9)\n",
      rate(r.rps), r.records, static_cast<double>(r.db_bytes) / (1 << 30), ratio);
  fmt::print("WAL max {:.1f} MiB (bound: 64 MiB plus one batch, docs/design.md \"Checkpoints\")\n",
             static_cast<double>(r.wal_max) / (1 << 20));
  fmt::print(
      "bridge RSS after warm-up (tenths 2-10): {:.1f} - {:.1f} MiB, max/min = {:.3f} (target "
      "<= 1.10)\n",
      static_cast<double>(r.rss_warm_min) / 1024, static_cast<double>(r.rss_warm_max) / 1024,
      rss_ratio);
  fmt::print(
      "checkpoints: {}, longest {:.2f} ms; of them {} WAL restarts on the drain thread (median "
      "{:.2f} ms, max {:.2f} ms)\n",
      r.checkpoints, r.ckpt_max_ms, r.restarts, r.restart_med_ms, r.restart_max_ms);
  return 0;
}

/// The temp dir for this run's databases: $TMPDIR or /tmp.
void make_tmp_dir() {
  char* const tmp = bench::cleanup::dir;
  const char* base = std::getenv("TMPDIR");
  std::snprintf(tmp, sizeof bench::cleanup::dir, "%s/persist_bench.XXXXXX",
                base && *base ? base : "/tmp");
  if (::mkdtemp(tmp) == nullptr) {
    const std::string why = std::strerror(errno);
    const std::string dir = tmp;
    tmp[0] = '\0';
    throw std::runtime_error(fmt::format("cannot create temp dir '{}': {}", dir, why));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const int rc = bench::run_main("persist_bench", [&] {
    make_tmp_dir();
    if (o.sustained != 0) return report_sustained(run_sustained(o.sustained), o.json);
    return run(o);
  });
  if (bench::cleanup::dir[0] != '\0') {
    std::error_code ec;
    fs::remove_all(bench::cleanup::dir, ec);
  }
  return rc;
}

// replay_bench: what replay costs over just reading the recorded rows, and how closely it
// keeps the recorded pace.
//
//   bare read   `SELECT * FROM sensor ORDER BY seq` stepped to the end on a read-only
//               connection, every column fetched: the floor any replay pays to get the rows.
//   replay      replay() at max speed of the same database (the demo `sensor` record, 80
//               bytes) into a ring drained by a Consumer in a forked process; timed from
//               the call until the consumer has read the last record. Twice: the consumer
//               sleeps in wait() when the ring is empty (as the bridge does; each write that
//               finds it asleep pays a futex wake), or it spins (replay's own cost).
//   pacing      replay() at speed 1 of a short recording with records 1 ms apart, into a
//               ring whose consumer (another process, polling) stamps each arrival with
//               CLOCK_MONOTONIC; lateness of record j = (arrival j - ts j) minus the
//               smallest such offset of any record, so it includes the consumer's own delay
//               in noticing the record.
//   time window replay() at max speed of a 1% window in the middle of the same database
//               (--from/--to times, 20,000 of 2,000,000 records), timed from the call until
//               the consumer has read the window's last record: with the ts_ns index
//               (`_ringlite_sensor_ts`, on a copy of the database) against the same database
//               without it (the baseline, a scan of the table to find the window).
// The throughput runs are repeated (interleaved) and the best is reported. The database
// lives in a scratch folder under $TMPDIR; it and the rings are removed on exit, also on
// SIGINT/SIGTERM.
#include <fmt/core.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/replay.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/store.hpp"

namespace {

using namespace ringlite;
using bench::now_ns;
using bench::Sensor;
namespace fs = std::filesystem;

constexpr std::int64_t kT0 = 1'795'000'000'000'000'000;  // recorded ts_ns of the first record

struct Options {
  std::uint64_t records = 2'000'000;
  std::uint64_t pacing_records = 2000;
  int reps = 3;
  bool json = false;
};

// ---------------------------------------------------------------------------------------
// Cleanup on every exit path: the scratch folder, its databases, the rings
// (bench::ScopedRing) and the consumer are kept in bench::cleanup for the signal handler
// (installed by bench::run_main).

/// The scratch folder with the databases.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "replay_bench.XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error(fmt::format("cannot create {}: {}", tmpl, std::strerror(errno)));
    path_ = tmpl;
    auto& files = bench::cleanup::files;
    std::snprintf(bench::cleanup::dir, sizeof bench::cleanup::dir, "%s", tmpl.c_str());
    const char* names[] = {"big", "paced", "big_ts"};
    for (int i = 0; i < 3; ++i) {
      std::snprintf(files[2 * i], sizeof files[0], "%s/%s.db", tmpl.c_str(), names[i]);
      std::snprintf(files[2 * i + 1], sizeof files[0], "%s/%s.db-journal", tmpl.c_str(), names[i]);
    }
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
    bench::cleanup::dir[0] = '\0';
  }
  fs::path operator/(const char* name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// Each run's ring: a fresh name (replay_bench.<pid>.<n>), 4 MiB.
RingConfig ring_config() { return bench::unique_ring("replay_bench", 4 << 20); }

/// Writes `n` sensor records straight into a new database (as the bridge would), `gap_ns`
/// apart in ts_ns, with seq = the position a ring would give them.
void build_database(const fs::path& path, const Schema& schema, std::uint64_t n,
                    std::int64_t gap_ns) {
  DatabaseConfig dc;
  dc.path = path;
  dc.preset = "fast";
  Store store = Store::open(dc, schema, "replay_bench");
  const std::uint16_t type = schema.find("sensor")->id;
  constexpr std::uint64_t kChunk = 65536, kFrame = 112;
  Batch b;
  for (std::uint64_t k = 0; k < n;) {
    b.clear();
    for (std::uint64_t end = std::min(n, k + kChunk); k < end; ++k) {
      Sensor s{};
      s.a = static_cast<std::int32_t>(k);
      s.b = static_cast<float>(k) * 0.5f;
      s.c = static_cast<double>(k) * 0.25;
      std::snprintf(s.buffer, sizeof s.buffer, "replay_bench sensor %llu",
                    static_cast<unsigned long long>(k));
      const auto off = static_cast<std::uint32_t>(b.arena.size());
      b.arena.resize(off + sizeof s);
      std::memcpy(b.arena.data() + off, &s, sizeof s);
      b.frames.push_back(
          Frame{k * kFrame, type, 0, kT0 + static_cast<std::int64_t>(k) * gap_ns, off, sizeof s});
      b.end = (k + 1) * kFrame;
    }
    const auto r = store.write_batch(b, "00000000000000000000000000000000");
    if (r.inserted != b.frames.size())
      throw std::runtime_error("the bench database rejected records");
  }
}

/// Runs `sql` on the database at `path` (read-write).
void exec(const fs::path& path, const char* sql) {
  sqlite3* db = nullptr;
  const bool ok = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
                  sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  const std::string err = ok ? "" : sqlite3_errmsg(db);
  sqlite3_close(db);
  if (!ok)
    throw std::runtime_error(fmt::format("cannot run '{}' on {}: {}", sql, path.string(), err));
}

/// The floor: every row and column of the table read in seq order, nothing else.
double bare_read(const fs::path& path, std::uint64_t n) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    throw std::runtime_error(fmt::format("cannot open {}: {}", path.string(), sqlite3_errmsg(db)));
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT * FROM sensor ORDER BY seq", -1, &st, nullptr);
  const std::int64_t t0 = now_ns();
  std::uint64_t rows = 0, sum = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    sum += static_cast<std::uint64_t>(sqlite3_column_int64(st, 0) + sqlite3_column_int64(st, 1) +
                                      sqlite3_column_int64(st, 2) + sqlite3_column_int64(st, 3));
    sum += static_cast<std::uint64_t>(sqlite3_column_double(st, 4) + sqlite3_column_double(st, 5));
    sum += static_cast<std::uint64_t>(sqlite3_column_text(st, 6)[0]) +
           static_cast<std::uint64_t>(sqlite3_column_bytes(st, 6));
    ++rows;
  }
  const std::int64_t t1 = now_ns();
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (rows != n || sum == 0)
    throw std::runtime_error(fmt::format("bare read saw {} rows, expected {}", rows, n));
  return static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0);
}

/// What the consumer child reports, in memory shared with the parent.
struct Shared {
  std::atomic<std::uint32_t> ready;
  std::int64_t end_ns;
  std::uint64_t records, checksum;
};

/// Forks a consumer that drains `n` records from the ring. It sleeps in wait() when the
/// ring is empty, as the bridge does, unless `spin` (then it polls again, yielding the CPU
/// after a while); with `arrivals` (shared, n entries) it stamps each arrival there.
pid_t start_consumer(const RingConfig& cfg, Shared& sh, std::uint64_t n, bool spin,
                     std::int64_t* arrivals = nullptr) {
  const pid_t pid = bench::spawn([&cfg, &sh, n, spin, arrivals] {
    Consumer c(Ring::open(cfg));
    Batch b;
    std::uint64_t got = 0, sum = 0;
    bench::Backoff backoff;
    sh.ready.store(1, std::memory_order_release);
    const std::int64_t deadline = now_ns() + 300'000'000'000;
    while (got < n) {
      b.clear();
      if (c.poll(b, 4096) != PollStatus::ok || !b.gaps.empty()) return 4;
      const std::int64_t t = now_ns();
      for (const Frame& f : b.frames) {
        std::int32_t a;
        std::memcpy(&a, b.payload(f).data(), sizeof a);
        sum += static_cast<std::uint32_t>(a);
        if (arrivals) arrivals[got] = t;
        ++got;
      }
      c.advance(b.end);
      if (b.frames.empty()) {
        if (now_ns() > deadline) return 5;
        if (spin) {
          backoff.pause();
        } else {
          (void)c.wait(std::chrono::milliseconds(100));
        }
      } else {
        backoff.reset();
      }
    }
    sh.end_ns = now_ns();
    sh.records = got;
    sh.checksum = sum;
    return 0;
  });
  bench::track({pid});
  while (sh.ready.load(std::memory_order_acquire) == 0)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  return pid;
}

void finish_consumer(pid_t pid) {
  if (auto err = bench::wait_all({pid}, now_ns() + 300'000'000'000); !err.empty()) {
    throw std::runtime_error("consumer failed: " + err);
  }
  bench::track({});
}

/// replay() of `o`'s selection, records first .. first + n - 1, into a ring drained by a
/// consumer process. Seconds from the call until the consumer has read the last record.
double replay_timed(const fs::path& db, const Schema& schema, const ReplayOptions& o,
                    std::uint64_t first, std::uint64_t n, bool spin) {
  const bench::ScopedRing sr(ring_config(), schema);
  bench::SharedMemory mem(sizeof(Shared));
  Shared& sh = *mem.make<Shared>();
  const pid_t child = start_consumer(sr.config(), sh, n, spin);
  Producer p(Ring::open(sr.config()), OnFull::block);
  const std::atomic<bool> stop{false};
  const std::int64_t t0 = now_ns();
  const ReplayResult r = replay(db, p, o, stop);
  finish_consumer(child);
  const std::uint64_t want = n * first + n * (n - 1) / 2;  // the `a` fields: first .. first+n-1
  if (r.records != n || sh.records != n || sh.checksum != want) {
    throw std::runtime_error(
        fmt::format("replay wrote {} records, the consumer read {} (checksum {}, expected {})",
                    r.records, sh.records, sh.checksum, want));
  }
  return static_cast<double>(sh.end_ns - t0) / 1e9;
}

double replay_max(const fs::path& db, const Schema& schema, std::uint64_t n, bool spin) {
  ReplayOptions o;
  o.max_speed = true;
  return static_cast<double>(n) / replay_timed(db, schema, o, 0, n, spin);
}

/// The 1% time window in the middle of the big database (records 1 µs apart).
struct Window {
  std::uint64_t first = 0, n = 0;
  ReplayOptions options() const {
    ReplayOptions o;
    o.max_speed = true;
    o.from_ns = kT0 + static_cast<std::int64_t>(first) * 1000;
    o.to_ns = kT0 + static_cast<std::int64_t>(first + n) * 1000 - 1;
    return o;
  }
};

struct Pacing {
  double p50_us = 0, p99_us = 0, max_us = 0, replay_max_late_us = 0, seconds = 0;
};

Pacing replay_paced(const fs::path& db, const Schema& schema, std::uint64_t n) {
  const bench::ScopedRing sr(ring_config(), schema);
  bench::SharedMemory mem(sizeof(Shared) + n * sizeof(std::int64_t));
  Shared& sh = *mem.make<Shared>();
  auto* arrivals = reinterpret_cast<std::int64_t*>(mem.data() + sizeof(Shared));
  const pid_t child = start_consumer(sr.config(), sh, n, true, arrivals);
  Producer p(Ring::open(sr.config()), OnFull::block);
  const std::atomic<bool> stop{false};
  const ReplayResult r = replay(db, p, ReplayOptions{}, stop);
  finish_consumer(child);
  // Lateness against the record that arrived most on time (the smallest arrival - recorded
  // offset): a late first record does not make the others look early.
  std::vector<double> late;
  for (std::uint64_t j = 0; j < n; ++j) {
    const std::int64_t recorded = static_cast<std::int64_t>(j) * 1'000'000;  // 1 ms apart
    late.push_back(static_cast<double>(arrivals[j] - recorded));
  }
  const double best = *std::min_element(late.begin(), late.end());
  for (double& l : late) l = (l - best) / 1e3;
  std::sort(late.begin(), late.end());
  return {bench::quantile(late, 0.50), bench::quantile(late, 0.99), late.back(),
          static_cast<double>(r.max_late_ns) / 1e3, r.seconds};
}

constexpr std::string_view kUsage =
    "usage: replay_bench [--records N] [--pacing-records N] [--reps N] [--json]\n"
    "\n"
    "Replays a database of demo `sensor` records at max speed into a ring drained by another\n"
    "process, against a bare SELECT loop over the same rows; then replays a recording of\n"
    "records 1 ms apart at speed 1 and measures how late each arrives; and replays a 1% time\n"
    "window (--from/--to) with and without the ts_ns index.\n"
    "\n"
    "  --records N         records in the database (default 2000000)\n"
    "  --pacing-records N  records in the paced recording, 1 ms apart (default 2000)\n"
    "  --reps N            repetitions of the throughput runs, best reported (default 3)\n"
    "  --json              print one JSON object on one line instead of the table\n";

Options parse_options(int argc, char** argv) {
  Options o;
  bench::Args args("replay_bench", argc, argv, /*equals=*/false);
  while (args.next()) {
    const std::string_view a = args.name();
    if (a == "--help" || a == "-h") {
      bench::Args::help(kUsage);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--records") {
      o.records = args.count(2, 1'000'000'000);
    } else if (a == "--pacing-records") {
      o.pacing_records = args.count(2, 10'000'000);
    } else if (a == "--reps") {
      o.reps = static_cast<int>(args.count(1, 100));
    } else {
      args.unknown();
    }
  }
  return o;
}

int run(const Options& o) {
  const Schema schema = Schema::load_file(fs::path(RINGLITE_SOURCE_DIR) / "schema" / "demo.sql");
  Scratch dir;
  const fs::path big = dir / "big.db", paced = dir / "paced.db", big_ts = dir / "big_ts.db";
  const std::int64_t b0 = now_ns();
  build_database(big, schema, o.records, 1000);
  build_database(paced, schema, o.pacing_records, 1'000'000);
  // The same records with and without the time index (whichever the store made).
  fs::copy_file(big, big_ts);
  exec(big, "DROP INDEX IF EXISTS \"_ringlite_sensor_ts\"");
  exec(big_ts, "CREATE INDEX IF NOT EXISTS \"_ringlite_sensor_ts\" ON sensor(ts_ns)");
  const double build_s = static_cast<double>(now_ns() - b0) / 1e9;
  const Window win{o.records * 495 / 1000, std::max<std::uint64_t>(1, o.records / 100)};

  std::vector<double> reads, replays, spins, scans, seeks;
  for (int rep = 0; rep < o.reps; ++rep) {  // interleaved: noise hits both alike
    reads.push_back(bare_read(big, o.records));
    replays.push_back(replay_max(big, schema, o.records, false));
    spins.push_back(replay_max(big, schema, o.records, true));
    scans.push_back(replay_timed(big, schema, win.options(), win.first, win.n, false));
    seeks.push_back(replay_timed(big_ts, schema, win.options(), win.first, win.n, false));
  }
  const double scan_s = *std::min_element(scans.begin(), scans.end());
  const double seek_s = *std::min_element(seeks.begin(), seeks.end());
  const double read_rps = *std::max_element(reads.begin(), reads.end());
  const double replay_rps = *std::max_element(replays.begin(), replays.end());
  const double spin_rps = *std::max_element(spins.begin(), spins.end());
  const Pacing pace = replay_paced(paced, schema, o.pacing_records);

  if (o.json) {
    fmt::print(
        "{{\"replay_rps\":{:.0f},\"read_rps\":{:.0f},\"ratio\":{:.4f},\"pacing_us_p50\":{:.1f},"
        "\"pacing_us_p99\":{:.1f},\"replay_spin_rps\":{:.0f},\"window_index_ms\":{:.2f},"
        "\"window_scan_ms\":{:.2f}}}\n",
        replay_rps, read_rps, replay_rps / read_rps, pace.p50_us, pace.p99_us, spin_rps,
        seek_s * 1e3, scan_s * 1e3);
    return 0;
  }
  fmt::print(
      "ringlite replay_bench: {} sensor records (80-byte payload), {} cores, best of {} (database "
      "built in "
      "{:.1f} s)\n\n",
      o.records, std::thread::hardware_concurrency(), o.reps, build_s);
  const auto row = [&](std::string_view name, double rps, const std::vector<double>& all) {
    fmt::print("| {:<58} | {:>11} | {:<12} | {:<20} |\n", name, bench::rate(rps),
               fmt::format("{:.2f}", rps / read_rps), bench::millions(all));
  };
  fmt::print("| {:<58} | {:>11} | {:<12} | {:<20} |\n", "run", "records/s", "vs bare read",
             "each rep (M/s)");
  fmt::print("|{:-<60}|{:-<13}|{:-<14}|{:-<22}|\n", "", "", "", "");
  row("bare SELECT * FROM sensor ORDER BY seq (no ring)", read_rps, reads);
  row("replay --speed max, consumer process waits (as the bridge)", replay_rps, replays);
  row("replay --speed max, consumer process spins", spin_rps, spins);
  fmt::print("\n| {:<58} | {:>11} | {:<12} | {:<20} |\n",
             fmt::format("--from/--to time window: {} of {} records", win.n, o.records), "time",
             "vs no index", "each rep (ms)");
  fmt::print("|{:-<60}|{:-<13}|{:-<14}|{:-<22}|\n", "", "", "", "");
  const auto ms = [](const std::vector<double>& all) {
    std::string out;
    for (double x : all) out += fmt::format("{}{:.1f}", out.empty() ? "" : " ", x * 1e3);
    return out;
  };
  fmt::print("| {:<58} | {:>8.1f} ms | {:<12} | {:<20} |\n",
             "replay --from/--to, without a ts_ns index (baseline)", scan_s * 1e3, "1.00",
             ms(scans));
  fmt::print("| {:<58} | {:>8.1f} ms | {:<12} | {:<20} |\n",
             "replay --from/--to, with _ringlite_sensor_ts", seek_s * 1e3,
             fmt::format("{:.3f}", seek_s / scan_s), ms(seeks));
  fmt::print(
      "\npacing at speed 1: {} records 1 ms apart replayed in {:.3f} s; arrival lateness p50 "
      "{:.0f} us, "
      "p99 {:.0f} us, max {:.0f} us\n",
      o.pacing_records, pace.seconds, pace.p50_us, pace.p99_us, pace.max_us);
  fmt::print(
      "  (arrival - recorded offset against the most punctual record, as a polling consumer "
      "process "
      "sees it; replay's own max lateness {:.0f} us)\n",
      pace.replay_max_late_us);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  return bench::run_main(
      "replay_bench", [&] { return run(o); }, /*input_errors_exit_2=*/false);
}

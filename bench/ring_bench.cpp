// ring_bench: how close a ringlite ring comes to a bare shared-memory copy loop.
//
// Every run uses real processes (fork) on the same machine and the same buffer size:
//   floor      one producer memcpys 112-byte frames into a shared buffer and publishes
//              each with a release store of its cursor; one consumer spins on that cursor,
//              copies the frames out and publishes its own cursor once per batch (SPSC).
//              No timestamps, no CAS, no wakeups: the cost any ring pays at least.
//   ring       one Producer writing the demo `sensor` record (80 bytes, a 112-byte frame)
//              with write() (blocking policy), one Consumer: poll(batch, 4096),
//              advance(batch.end), wait() when empty.
//   multi      the same with two producer processes.
//   write cost one Producer timing every try_write with the TSC while the consumer drains;
//              only calls that returned ok count (the ring had room).
// Each throughput run is repeated (interleaved, so noise hits all kinds alike); the best
// repetition is reported. Rings are named ring_bench.<pid>.<n> and removed afterwards,
// also on failure and on SIGINT/SIGTERM.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"

namespace {

using namespace ringlite;
using bench::cpu_relax;
using bench::now_ns;
using bench::Sensor;

constexpr std::uint64_t kPayload = sizeof(Sensor);
constexpr std::uint64_t kFrame = frame_size(kPayload);  // what the ring stores per record
static_assert(kFrame == 112);
constexpr std::size_t kBatch = 4096;  // frames per consumer poll, both sides

struct Options {
  std::uint64_t records = 20'000'000;
  std::uint64_t capacity = 1 << 20;
  int reps = 3;
  bool reps_given = false;  // without --reps, repetitions stop when the time budget is spent
  bool json = false;
  bool explain = false;
};

// ---------------------------------------------------------------------------------------
// Shared run state: one block per run, mapped before fork. Each child writes only its own
// result (own cache lines) and only at the end, so the block costs nothing while timing.

struct alignas(128) ChildResult {
  std::uint64_t records = 0;
  std::uint64_t checksum = 0;  // sum of the `a` fields written / read
  std::int64_t end_ns = 0;     // consumer: when the last record was read
  // consumer
  std::uint64_t polls = 0, empty_polls = 0;
  std::uint64_t waits = 0, long_waits = 0;  // wait() calls; those that slept >= 5 ms
  std::int64_t wait_ns = 0;                 // time spent in wait()
  std::uint64_t clamped = 0;                // advance(b.end) left head short of b.end
  // write-cost producer
  std::uint64_t fulls = 0, samples = 0, slow = 0;  // slow: ok writes over 1 us
  double p50 = 0, p99 = 0, p999 = 0, max = 0, overhead_ns = 0, clock_ns = 0;
};

struct Control {
  bench::StartLine start;  // children: start.wait() after setup; parent: start.release(n)
  ChildResult child[3];    // [0] consumer, [1], [2] producers
};

// ---------------------------------------------------------------------------------------
// Cleanup: each run's ring (bench::ScopedRing) and children are removed on every exit
// path, also on SIGINT/SIGTERM (the handler bench::run_main installs).

/// Waits for the run's children; a signal meanwhile kills them.
std::string run_children(std::vector<pid_t> pids, std::int64_t deadline) {
  bench::track(pids);
  std::string err = bench::wait_all(std::move(pids), deadline);
  bench::track({});
  return err;
}

std::int64_t deadline_for(const Options& o) {
  // Generous: a run that is 20x slower than expected still finishes; a hung one does not.
  return now_ns() + 30'000'000'000 + static_cast<std::int64_t>(o.records) * 2'000;
}

/// Where a failed run left the ring, for the error message.
std::string ring_state(const Ring& ring) {
  const RingStats st = ring.stats();
  std::string s = fmt::format(
      "ring head {} tail {} read position {}, {} records written, {} full events, "
      "{} unblocked",
      st.head, st.tail, st.bridge_position, st.records_written, st.full_events, st.unblocked);
  for (const ProducerInfo& p : st.producers) {
    s += fmt::format("; producer slot {} pid {} records {} pending {}", p.slot, p.pid, p.records,
                     p.pending ? std::to_string(p.pending_pos) : "none");
  }
  return s;
}

struct RunResult {
  double rps = 0;
  ChildResult consumer;
  std::uint64_t full_events = 0;
};

Sensor make_sensor() {
  Sensor s{};
  s.b = 1.5f;
  std::snprintf(s.buffer, sizeof s.buffer, "ring_bench sensor payload");
  return s;
}

void check_checksums(const Control& c, int producers, std::uint64_t total) {
  std::uint64_t sum = 0, n = 0;
  for (int i = 1; i <= producers; ++i) {
    sum += c.child[i].checksum;
    n += c.child[i].records;
  }
  if (n != total || c.child[0].records != total || c.child[0].checksum != sum) {
    throw std::runtime_error(
        fmt::format("records lost or altered: wrote {} (sum {}), read {} (sum {})", n, sum,
                    c.child[0].records, c.child[0].checksum));
  }
}

// ---------------------------------------------------------------------------------------
// The floor: a bare SPSC copy loop over the same buffer size and frame size.

struct FloorCursors {
  alignas(128) std::atomic<std::uint64_t> write;  // producer: end of the last frame
  alignas(128) std::atomic<std::uint64_t> read;   // consumer: end of the last batch read
};

RunResult run_floor(const Options& o) {
  const std::size_t data_off = 16384;
  bench::SharedMemory mem(data_off + o.capacity);
  Control& ctl = *mem.make<Control>();
  FloorCursors& cur = *mem.make<FloorCursors>(8192);
  std::byte* const buf = mem.data() + data_off;
  const std::uint64_t cap = o.capacity, mask = cap - 1, total = o.records;

  const pid_t producer = bench::spawn([&] {
    ChildResult& r = ctl.child[1];
    Sensor rec = make_sensor();
    std::uint64_t pos = 0, read_cache = 0, sum = 0;
    bench::Backoff backoff;
    ctl.start.wait();
    for (std::uint64_t k = 0; k < total; ++k) {
      const std::uint64_t room = cap - (pos & mask);
      const std::uint64_t need = room < kFrame ? room + kFrame : kFrame;  // pad to the lap end
      if (pos + need - read_cache > cap) {
        backoff.reset();
        for (;;) {
          read_cache = cur.read.load(std::memory_order_acquire);
          if (pos + need - read_cache <= cap) break;
          backoff.pause();
        }
      }
      if (room < kFrame) pos += room;
      rec.a = static_cast<std::int32_t>(k);
      const std::uint64_t hdr[4] = {pos | 1, kPayload | (std::uint64_t{1} << 32), 0, k};
      std::byte* f = buf + (pos & mask);
      std::memcpy(f, hdr, sizeof hdr);
      std::memcpy(f + sizeof hdr, &rec, sizeof rec);
      pos += kFrame;
      cur.write.store(pos, std::memory_order_release);
      sum += static_cast<std::uint32_t>(rec.a);
    }
    r.records = total;
    r.checksum = sum;
    return 0;
  });
  const pid_t consumer = bench::spawn([&] {
    ChildResult& r = ctl.child[0];
    std::vector<std::byte> arena(kBatch * kPayload);
    std::uint64_t pos = 0, got = 0, sum = 0, polls = 0, empty = 0;
    bench::Backoff backoff;
    ctl.start.wait();
    while (got < total) {
      const std::uint64_t w = cur.write.load(std::memory_order_acquire);
      ++polls;
      if (w == pos) {
        ++empty;
        backoff.pause();
        continue;
      }
      backoff.reset();
      std::size_t n = 0;
      while (pos < w && n < kBatch) {
        const std::uint64_t room = cap - (pos & mask);
        if (room < kFrame) {
          pos += room;
          continue;
        }
        const std::byte* f = buf + (pos & mask);
        std::uint64_t len;
        std::memcpy(&len, f + 8, 8);
        if (static_cast<std::uint32_t>(len) != kPayload) return 3;
        std::memcpy(arena.data() + n * kPayload, f + 32, kPayload);
        pos += kFrame;
        ++n;
      }
      cur.read.store(pos, std::memory_order_release);
      for (std::size_t i = 0; i < n; ++i) {
        std::int32_t a;
        std::memcpy(&a, arena.data() + i * kPayload, sizeof a);
        sum += static_cast<std::uint32_t>(a);
      }
      got += n;
    }
    r.end_ns = now_ns();
    r.records = got;
    r.checksum = sum;
    r.polls = polls;
    r.empty_polls = empty;
    return 0;
  });
  const std::int64_t t0 = ctl.start.release(2);
  if (auto err = run_children({producer, consumer}, deadline_for(o)); !err.empty()) {
    throw std::runtime_error("floor run failed: " + err);
  }
  check_checksums(ctl, 1, total);
  RunResult res;
  res.rps = static_cast<double>(total) * 1e9 / static_cast<double>(ctl.child[0].end_ns - t0);
  res.consumer = ctl.child[0];
  return res;
}

// ---------------------------------------------------------------------------------------
// ringlite runs.

/// How a ringlite run departs from plain use (the --explain rows).
struct Variant {
  bool given_ts = false;  // the caller passes ts_ns, so write() reads no clock
  bool spin = false;      // the consumer polls again (spin, then yield) instead of wait()
};

int ring_consumer(const RingConfig& cfg, Control& ctl, std::uint64_t total, bool spin) {
  ChildResult& r = ctl.child[0];
  Consumer c(Ring::open(cfg));
  Batch b;
  b.frames.reserve(kBatch);
  b.arena.reserve(kBatch * kPayload);
  std::uint64_t got = 0, sum = 0, polls = 0, empty = 0, waits = 0, long_waits = 0, clamped = 0;
  std::int64_t wait_ns = 0;
  bench::Backoff backoff;
  ctl.start.wait();
  while (got < total) {
    b.clear();
    ++polls;
    if (c.poll(b, kBatch) != PollStatus::ok) return 4;
    if (!b.gaps.empty()) return 5;
    c.advance(b.end);
    if (c.head() < b.end) ++clamped;
    if (b.frames.empty()) {
      ++empty;
      if (spin) {
        backoff.pause();
      } else {
        ++waits;
        const std::int64_t w0 = now_ns();
        (void)c.wait(std::chrono::milliseconds(100));
        const std::int64_t slept = now_ns() - w0;
        wait_ns += slept;
        if (slept >= 5'000'000) ++long_waits;
      }
      continue;
    }
    backoff.reset();
    for (const Frame& f : b.frames) {
      std::int32_t a;
      std::memcpy(&a, b.payload(f).data(), sizeof a);
      sum += static_cast<std::uint32_t>(a);
    }
    got += b.frames.size();
  }
  r.end_ns = now_ns();
  r.records = got;
  r.checksum = sum;
  r.polls = polls;
  r.empty_polls = empty;
  r.waits = waits;
  r.long_waits = long_waits;
  r.wait_ns = wait_ns;
  r.clamped = clamped;
  return 0;
}

int ring_producer(const RingConfig& cfg, Control& ctl, int index, std::uint64_t count, Variant v) {
  ChildResult& r = ctl.child[index];
  Producer p(Ring::open(cfg), OnFull::block);
  auto w = p.writer<Sensor>("sensor");
  Sensor rec = make_sensor();
  std::uint64_t sum = 0;
  ctl.start.wait();
  for (std::uint64_t k = 0; k < count; ++k) {
    rec.a = static_cast<std::int32_t>(k);
    const std::int64_t ts = v.given_ts ? static_cast<std::int64_t>(k + 1) : 0;
    if (const WriteResult wr = w.write(rec, ts); wr != WriteResult::ok) {
      std::fprintf(stderr, "ring_bench: producer %d: write returned %s\n", index,
                   std::string(to_string(wr)).c_str());
      return 6;
    }
    sum += static_cast<std::uint32_t>(rec.a);
  }
  r.records = count;
  r.checksum = sum;
  return 0;
}

RunResult run_ring(const Options& o, const Schema& schema, int producers, Variant v) {
  bench::ScopedRing sr(bench::unique_ring("ring_bench", o.capacity), schema);
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const std::uint64_t total = o.records;
  std::vector<pid_t> pids;
  pids.push_back(bench::spawn([&] { return ring_consumer(sr.config(), ctl, total, v.spin); }));
  for (int i = 1; i <= producers; ++i) {
    const std::uint64_t share = total / static_cast<std::uint64_t>(producers) +
                                (i == 1 ? total % static_cast<std::uint64_t>(producers) : 0);
    pids.push_back(
        bench::spawn([&, i, share] { return ring_producer(sr.config(), ctl, i, share, v); }));
  }
  const std::int64_t t0 = ctl.start.release(static_cast<std::uint32_t>(pids.size()));
  if (auto err = run_children(pids, deadline_for(o)); !err.empty()) {
    throw std::runtime_error(fmt::format("ringlite run ({} producer(s)) failed: {}; {}", producers,
                                         err, ring_state(sr.ring())));
  }
  check_checksums(ctl, producers, total);
  RunResult res;
  res.rps = static_cast<double>(total) * 1e9 / static_cast<double>(ctl.child[0].end_ns - t0);
  res.consumer = ctl.child[0];
  res.full_events = sr.ring().stats().full_events;
  return res;
}

/// Median cost of one CLOCK_REALTIME read: what write() pays to stamp ts_ns itself.
double realtime_clock_ns() {
  std::vector<std::int64_t> v(100'000);
  timespec ts{};
  for (auto& x : v) {
    const std::int64_t t0 = now_ns();
    ::clock_gettime(CLOCK_REALTIME, &ts);
    ::clock_gettime(CLOCK_REALTIME, &ts);
    x = now_ns() - t0;  // three clock reads: take a third
  }
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return static_cast<double>(v[v.size() / 2]) / 3.0;
}

struct WriteCost {
  ChildResult producer, consumer;
};

/// Write cost: one producer times each try_write; only `ok` calls (the ring had room) are
/// samples. The consumer drains concurrently, as in the throughput run.
WriteCost run_write_cost(const Options& o, const Schema& schema, double ns_per_tick,
                         bool spinning_consumer) {
  bench::ScopedRing sr(bench::unique_ring("ring_bench", o.capacity), schema);
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const std::uint64_t total = std::min<std::uint64_t>(o.records, 4'000'000);
  const pid_t consumer =
      bench::spawn([&] { return ring_consumer(sr.config(), ctl, total, spinning_consumer); });
  const pid_t producer = bench::spawn([&] {
    ChildResult& r = ctl.child[1];
    Producer p(Ring::open(sr.config()), OnFull::block);
    auto w = p.writer<Sensor>("sensor");
    Sensor rec = make_sensor();
    std::vector<std::uint64_t> ticks(total);
    const std::uint64_t overhead = bench::Ticks::overhead();
    r.clock_ns = realtime_clock_ns();
    std::uint64_t sum = 0;
    ctl.start.wait();
    for (std::uint64_t k = 0; k < total;) {
      rec.a = static_cast<std::int32_t>(k);
      const std::uint64_t t0 = bench::Ticks::read();
      const WriteResult wr = w.try_write(rec);
      const std::uint64_t t1 = bench::Ticks::read();
      if (wr == WriteResult::ok) {
        ticks[k++] = t1 - t0;
        sum += static_cast<std::uint32_t>(rec.a);
      } else if (wr == WriteResult::full) {
        ++r.fulls;
        cpu_relax();
      } else {
        std::fprintf(stderr, "ring_bench: producer: try_write returned %s\n",
                     std::string(to_string(wr)).c_str());
        return 6;
      }
    }
    for (auto& t : ticks) t = t > overhead ? t - overhead : 0;
    std::sort(ticks.begin(), ticks.end());
    const auto ns = [&](std::uint64_t t) { return static_cast<double>(t) * ns_per_tick; };
    r.p50 = ns(bench::quantile(ticks, 0.50));
    r.p99 = ns(bench::quantile(ticks, 0.99));
    r.p999 = ns(bench::quantile(ticks, 0.999));
    r.max = ns(ticks.back());
    r.overhead_ns = ns(overhead);
    const auto slow = std::upper_bound(ticks.begin(), ticks.end(),
                                       static_cast<std::uint64_t>(1000.0 / ns_per_tick));
    r.slow = static_cast<std::uint64_t>(ticks.end() - slow);
    r.samples = total;
    r.records = total;
    r.checksum = sum;
    return 0;
  });
  ctl.start.release(2);
  if (auto err = run_children({consumer, producer}, deadline_for(o)); !err.empty()) {
    throw std::runtime_error(
        fmt::format("write-cost run failed: {}; {}", err, ring_state(sr.ring())));
  }
  check_checksums(ctl, 1, total);
  return {ctl.child[1], ctl.child[0]};
}

// ---------------------------------------------------------------------------------------
// Options and report.

constexpr std::string_view kUsage =
    "usage: ring_bench [--records N] [--capacity BYTES] [--reps N] [--json] [--explain]\n"
    "\n"
    "Compares a ringlite ring with a bare shared-memory copy loop (the floor), both moving\n"
    "112-byte frames (the demo sensor record) between real processes.\n"
    "\n"
    "  --records N       records per run (default 20000000; the write-cost run times at\n"
    "                    most 4000000 writes)\n"
    "  --capacity BYTES  buffer size of the floor and the ring, a power of two from 4KiB\n"
    "                    to 1GiB, e.g. 65536 or 1MiB (default 1MiB: fits in L2/L3)\n"
    "  --reps N          repetitions of each throughput run, best one reported (default 3,\n"
    "                    fewer if the first ones take more than ~45 s)\n"
    "  --json            print one JSON object on one line instead of the table\n"
    "  --explain         also run diagnostic variants (caller-supplied timestamps, a\n"
    "                    consumer that spins instead of wait())\n"
    "  --help            print this help\n";

Options parse_options(int argc, char** argv) {
  Options o;
  bench::Args args("ring_bench", argc, argv);
  while (args.next()) {
    const std::string_view a = args.name();
    if (a == "--help" || a == "-h") {
      bench::Args::help(kUsage);
    } else if (args.is("--json")) {
      o.json = true;
    } else if (args.is("--explain")) {
      o.explain = true;
    } else if (a == "--records") {
      o.records = args.count(1, 1'000'000'000'000ull);
    } else if (a == "--reps") {
      o.reps = static_cast<int>(args.count(1, 100));
      o.reps_given = true;
    } else if (a == "--capacity") {
      const std::string_view v = args.value();
      try {
        o.capacity = parse_size(v, "--capacity");
      } catch (const Error&) {
        args.error(fmt::format("bad value for --capacity: '{}' (expected bytes, e.g. 1MiB)", v));
      }
      if (o.capacity < 4096 || o.capacity > (1ull << 30) || (o.capacity & (o.capacity - 1)) != 0) {
        args.error(fmt::format(
            "bad value for --capacity: '{}' (expected a power of two from 4KiB to 1GiB)", v));
      }
    } else {
      args.unknown();
    }
  }
  return o;
}

std::string size_text(std::uint64_t b) {
  if (b >= (1ull << 20) && b % (1ull << 20) == 0) return fmt::format("{} MiB", b >> 20);
  if (b >= 1024 && b % 1024 == 0) return fmt::format("{} KiB", b >> 10);
  return fmt::format("{} B", b);
}

std::string diag_text(const ChildResult& c, std::uint64_t full_events) {
  const std::uint64_t nonempty = c.polls - c.empty_polls;
  std::string s = fmt::format(
      "{:.0f} frames/poll, {:.1f}% of polls empty",
      nonempty ? static_cast<double>(c.records) / static_cast<double>(nonempty) : 0.0,
      c.polls ? 100.0 * static_cast<double>(c.empty_polls) / static_cast<double>(c.polls) : 0.0);
  if (c.waits != 0) {
    s += fmt::format(", {} wait() calls ({} slept >= 5 ms, {:.0f} ms asleep in all)", c.waits,
                     c.long_waits, static_cast<double>(c.wait_ns) / 1e6);
  }
  if (c.clamped != 0) s += fmt::format(", {} advance() calls left head short", c.clamped);
  if (full_events != 0) s += fmt::format(", {} full events", full_events);
  return s;
}

std::string write_cost_text(const WriteCost& w) {
  const ChildResult& p = w.producer;
  return fmt::format(
      "p50 {:.0f} ns, p99 {:.0f} ns, p99.9 {:.0f} ns, max {:.0f} ns; {} of {} writes over 1 us, "
      "consumer wait() calls {}, try_write full {} times",
      p.p50, p.p99, p.p999, p.max, p.slow, p.samples, w.consumer.waits, p.fulls);
}

using Best = bench::Best<RunResult>;

int run(const Options& o) {
  const Schema schema =
      Schema::load_file(std::filesystem::path(RINGLITE_SOURCE_DIR) / "schema" / "demo.sql");
  const double ns_per_tick = bench::Ticks::calibrate();

  // Other work on the machine skews every number here: say how busy it was.
  const bench::Load load = bench::Load::read();

  Best floor, ring1, ring2, ts_given, spinning, both;
  const std::int64_t t_start = now_ns();
  for (int rep = 0; rep < o.reps; ++rep) {  // interleaved: noise bursts hit every kind
    floor.add(run_floor(o));
    ring1.add(run_ring(o, schema, 1, {}));
    ring2.add(run_ring(o, schema, 2, {}));
    if (o.explain) {
      ts_given.add(run_ring(o, schema, 1, {.given_ts = true}));
      spinning.add(run_ring(o, schema, 1, {.spin = true}));
      both.add(run_ring(o, schema, 1, {.given_ts = true, .spin = true}));
    }
    const std::int64_t spent = now_ns() - t_start;
    if (!o.reps_given && spent / (rep + 1) * (rep + 2) > 45'000'000'000) break;
  }
  const WriteCost wc = run_write_cost(o, schema, ns_per_tick, false);
  const ChildResult& w = wc.producer;

  const double f = floor.best.rps, r1 = ring1.best.rps, r2 = ring2.best.rps;
  if (o.json) {
    fmt::print(
        "{{\"floor_rps\":{:.0f},\"ring_rps\":{:.0f},\"ratio\":{:.4f},\"write_ns_p50\":{:.1f},"
        "\"write_ns_p99\":{:.1f},\"write_ns_p999\":{:.1f},\"multi_rps\":{:.0f}}}\n",
        f, r1, r1 / f, w.p50, w.p99, w.p999, r2);
    return 0;
  }
  fmt::print(
      "ringlite ring_bench: 112-byte frames (32-byte header + 80-byte sensor payload) on both "
      "sides, "
      "{} buffer, {} cores, {} records per run, best of {}\n",
      size_text(o.capacity), std::thread::hardware_concurrency(), o.records, floor.all.size());
  load.print();
  fmt::print("| {:<44} | {:>11} | {:<26} | {:<20} |\n", "run", "records/s", "vs floor",
             "each rep (M/s)");
  fmt::print("|{:-<46}|{:-<13}|{:-<28}|{:-<22}|\n", "", "", "", "");
  const auto row = [&](std::string_view name, const Best& b, const std::string& vs) {
    fmt::print("| {:<44} | {:>11} | {:<26} | {:<20} |\n", name, bench::rate(b.best.rps), vs,
               bench::millions(b.all));
  };
  row("copy-loop floor (SPSC)", floor, "1.00");
  row("ringlite, 1 producer", ring1, fmt::format("{:.2f}", r1 / f));
  row("ringlite, 2 producers", ring2,
      fmt::format("{:.2f} ({:.2f} of 1 producer)", r2 / f, r2 / r1));
  if (o.explain) {
    row("explain: 1 producer, ts_ns given (no clock)", ts_given,
        fmt::format("{:.2f}", ts_given.best.rps / f));
    row("explain: 1 producer, consumer spins", spinning,
        fmt::format("{:.2f}", spinning.best.rps / f));
    row("explain: 1 producer, ts given + spins", both, fmt::format("{:.2f}", both.best.rps / f));
  }
  fmt::print(
      "\nwrite cost (1 producer, ring not full): p50 {:.0f} ns, p99 {:.0f} ns, p99.9 {:.0f} ns\n",
      w.p50, w.p99, w.p999);
  fmt::print(
      "  {} ok try_write calls timed with the TSC ({:.0f} ns timer overhead subtracted; calls that "
      "returned "
      "full are not samples)\n",
      w.samples, w.overhead_ns);
  fmt::print("  {}\n", write_cost_text(wc));
  fmt::print("  write() stamps ts_ns with CLOCK_REALTIME: {:.0f} ns a read on this machine\n",
             w.clock_ns);
  if (o.explain) {
    fmt::print("  with a spinning consumer: {}\n",
               write_cost_text(run_write_cost(o, schema, ns_per_tick, true)));
  }
  fmt::print("\nconsumer (best rep of each run):\n");
  fmt::print("  floor:       {}\n", diag_text(floor.best.consumer, 0));
  fmt::print("  1 producer:  {}\n", diag_text(ring1.best.consumer, ring1.best.full_events));
  fmt::print("  2 producers: {}\n", diag_text(ring2.best.consumer, ring2.best.full_events));
  if (o.explain) {
    fmt::print("  ts given:    {}\n", diag_text(ts_given.best.consumer, ts_given.best.full_events));
    fmt::print("  spinning:    {}\n", diag_text(spinning.best.consumer, spinning.best.full_events));
    fmt::print("  both:        {}\n", diag_text(both.best.consumer, both.best.full_events));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  return bench::run_main("ring_bench", [&] { return run(o); });
}

// ring_bench: how close a ringlite ring comes to a bare shared-memory copy loop.
//
// Every run uses real processes (fork) on the same machine and the same buffer size:
//   floor      one producer memcpys 112-byte frames into a shared buffer and publishes
//              each with a release store of its cursor; one consumer spins on that cursor,
//              copies the frames out and publishes its own cursor once per batch (SPSC).
//              No timestamps, no CAS, no wakeups: the cost any ring pays at least.
//   ring       one Producer writing the demo `sensor` record (80 bytes, a 112-byte frame)
//              with write() (blocking policy), one Consumer: poll(batch, 4096),
//              advance(batch.end), wait() when empty. Variants: stamps from clock_gettime
//              (RINGLITE_CLOCK=realtime) instead of the TSC, ts_ns given by the caller.
//   multi      the same with two producer processes.
//   write cost one Producer timing every try_write with the TSC while the consumer drains;
//              only calls that returned ok count (the ring had room). The first lap (the
//              first capacity / 112 writes into a fresh ring) is reported apart: it is where
//              page faults would show.
// Runs go in interleaved pairs (bench::Pairs: the floor and each ring run once per pair,
// the order alternating), and each ratio is the median of the per-pair ratios with their
// range. Producer and consumer are pinned to distinct CPUs when the affinity mask has one
// for each busy process (bench::Pinning). Rings are named ring_bench.<pid>.<n> and removed
// afterwards, also on failure and on SIGINT/SIGTERM.
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
  std::uint64_t records = 10'000'000;
  std::uint64_t capacity = 1 << 20;
  int pairs = 5;
  bool pin = true;
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
  // write-cost producer: all laps, and the first lap alone
  std::uint64_t fulls = 0, samples = 0, slow = 0;  // slow: ok writes over 1 us
  double p50 = 0, p99 = 0, p999 = 0, max = 0, overhead_ns = 0, clock_ns = 0;
  std::uint64_t first_samples = 0;
  double first_p50 = 0, first_p99 = 0, first_p999 = 0, first_max = 0;
  double later_p50 = 0, later_p99 = 0, later_p999 = 0;
  std::uint32_t tsc = 0;     // producers: Producer::tsc_clock()
  std::uint32_t pinned = 0;  // this child was pinned to a CPU
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
  ChildResult consumer, producer;
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

RunResult run_floor(const Options& o, const bench::Pinning& pin) {
  const std::size_t data_off = 16384;
  bench::SharedMemory mem(data_off + o.capacity);
  Control& ctl = *mem.make<Control>();
  FloorCursors& cur = *mem.make<FloorCursors>(8192);
  std::byte* const buf = mem.data() + data_off;
  const std::uint64_t cap = o.capacity, mask = cap - 1, total = o.records;

  const pid_t producer = bench::spawn([&] {
    ChildResult& r = ctl.child[1];
    r.pinned = pin.pin(1, 2);
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
    r.pinned = pin.pin(0, 2);
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
  res.producer = ctl.child[1];
  return res;
}

// ---------------------------------------------------------------------------------------
// ringlite runs.

/// How a ringlite run departs from plain use (the --explain rows).
struct Variant {
  bool given_ts = false;  // the caller passes ts_ns, so write() reads no clock
  bool spin = false;      // the consumer polls again (spin, then yield) instead of wait()
  bool realtime = false;  // RINGLITE_CLOCK=realtime: write() stamps with clock_gettime
};

int ring_consumer(const RingConfig& cfg, Control& ctl, std::uint64_t total, bool spin,
                  bool pinned) {
  ChildResult& r = ctl.child[0];
  r.pinned = pinned;
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

int ring_producer(const RingConfig& cfg, Control& ctl, int index, std::uint64_t count, Variant v,
                  bool pinned) {
  ChildResult& r = ctl.child[index];
  r.pinned = pinned;
  if (v.realtime) ::setenv("RINGLITE_CLOCK", "realtime", 1);
  Producer p(Ring::open(cfg), OnFull::block);
  r.tsc = p.tsc_clock();
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

RunResult run_ring(const Options& o, const Schema& schema, int producers, Variant v,
                   const bench::Pinning& pin) {
  bench::ScopedRing sr(bench::unique_ring("ring_bench", o.capacity), schema);
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const std::uint64_t total = o.records;
  std::vector<pid_t> pids;
  const std::size_t busy = 1 + static_cast<std::size_t>(producers);
  pids.push_back(bench::spawn(
      [&] { return ring_consumer(sr.config(), ctl, total, v.spin, pin.pin(0, busy)); }));
  for (int i = 1; i <= producers; ++i) {
    const std::uint64_t share = total / static_cast<std::uint64_t>(producers) +
                                (i == 1 ? total % static_cast<std::uint64_t>(producers) : 0);
    pids.push_back(bench::spawn([&, i, share] {
      return ring_producer(sr.config(), ctl, i, share, v,
                           pin.pin(static_cast<std::size_t>(i), busy));
    }));
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
  res.producer = ctl.child[1];
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
/// samples. The consumer drains concurrently, as in the throughput run. The ring is fresh,
/// so the first capacity / 112 samples are its first lap.
WriteCost run_write_cost(const Options& o, const Schema& schema, double ns_per_tick, Variant v,
                         const bench::Pinning& pin) {
  bench::ScopedRing sr(bench::unique_ring("ring_bench", o.capacity), schema);
  bench::SharedMemory mem(sizeof(Control));
  Control& ctl = *mem.make<Control>();
  const std::uint64_t total = std::min<std::uint64_t>(o.records, 4'000'000);
  const std::uint64_t first_lap = std::min<std::uint64_t>(o.capacity / kFrame, total);
  const pid_t consumer =
      bench::spawn([&] { return ring_consumer(sr.config(), ctl, total, v.spin, pin.pin(0, 2)); });
  const pid_t producer = bench::spawn([&] {
    ChildResult& r = ctl.child[1];
    r.pinned = pin.pin(1, 2);
    if (v.realtime) ::setenv("RINGLITE_CLOCK", "realtime", 1);
    // The sample buffer and the timer calibration first: writing 32 MB after the producer
    // attached would evict what attaching warmed, as no application would just before writing.
    std::vector<std::uint64_t> ticks(total);
    const std::uint64_t overhead = bench::Ticks::overhead();
    r.clock_ns = realtime_clock_ns();
    Producer p(Ring::open(sr.config()), OnFull::block);
    r.tsc = p.tsc_clock();
    auto w = p.writer<Sensor>("sensor");
    Sensor rec = make_sensor();
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
    const auto ns = [&](std::uint64_t t) { return static_cast<double>(t) * ns_per_tick; };
    const auto first = static_cast<std::ptrdiff_t>(first_lap);
    std::vector<std::uint64_t> lap1(ticks.begin(), ticks.begin() + first);
    std::vector<std::uint64_t> later(ticks.begin() + first, ticks.end());
    std::sort(lap1.begin(), lap1.end());
    std::sort(later.begin(), later.end());
    std::sort(ticks.begin(), ticks.end());
    r.p50 = ns(bench::quantile(ticks, 0.50));
    r.p99 = ns(bench::quantile(ticks, 0.99));
    r.p999 = ns(bench::quantile(ticks, 0.999));
    r.max = ns(ticks.back());
    r.first_samples = lap1.size();
    r.first_p50 = ns(bench::quantile(lap1, 0.50));
    r.first_p99 = ns(bench::quantile(lap1, 0.99));
    r.first_p999 = ns(bench::quantile(lap1, 0.999));
    r.first_max = lap1.empty() ? 0 : ns(lap1.back());
    r.later_p50 = ns(bench::quantile(later, 0.50));
    r.later_p99 = ns(bench::quantile(later, 0.99));
    r.later_p999 = ns(bench::quantile(later, 0.999));
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
    "usage: ring_bench [--records N] [--capacity BYTES] [--pairs N] [--no-pin] [--json]\n"
    "                  [--explain]\n"
    "\n"
    "Compares a ringlite ring with a bare shared-memory copy loop (the floor), both moving\n"
    "112-byte frames (the demo sensor record) between real processes, in interleaved pairs.\n"
    "\n"
    "  --records N       records per run (default 10000000; the write-cost runs time at\n"
    "                    most 4000000 writes)\n"
    "  --capacity BYTES  buffer size of the floor and the ring, a power of two from 4KiB\n"
    "                    to 1GiB, e.g. 65536 or 1MiB (default 1MiB: fits in L2/L3)\n"
    "  --pairs N         interleaved pairs: the floor and every ring run once per pair, the\n"
    "                    order alternating; ratios are medians of per-pair ratios (default 5;\n"
    "                    --reps N is the same)\n"
    "  --no-pin          do not pin producer and consumer to distinct CPUs\n"
    "  --json            print one JSON object on one line instead of the table: medians,\n"
    "                    ratios' min and max\n"
    "  --explain         also run diagnostic variants (the floor unpinned, a consumer that\n"
    "                    spins instead of wait())\n"
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
    } else if (args.is("--no-pin")) {
      o.pin = false;
    } else if (a == "--records") {
      o.records = args.count(1, 1'000'000'000'000ull);
    } else if (a == "--pairs" || a == "--reps") {
      o.pairs = static_cast<int>(args.count(1, 100));
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

// The runs of one pair, in bench::Pairs order; [0] is the baseline.
enum RunId : std::size_t {
  kFloor,
  kRing1,
  kRing1Realtime,
  kRing2,
  kRing1Given,
  kFloorUnpinned,
  kRing1Spin,
  kRing1GivenSpin,
  kRuns
};

/// Median over the pairs of one write-cost statistic.
template <class Get>
double median_of(const std::vector<WriteCost>& v, Get get) {
  std::vector<double> x;
  for (const WriteCost& w : v) x.push_back(get(w.producer));
  return bench::Spread::of(std::move(x)).median;
}

int run(const Options& o) {
  const Schema schema =
      Schema::load_file(std::filesystem::path(RINGLITE_SOURCE_DIR) / "schema" / "demo.sql");
  const double ns_per_tick = bench::Ticks::calibrate();
  const bench::Pinning pin = bench::Pinning::detect(o.pin);
  const bench::Pinning no_pin = bench::Pinning::detect(false);

  // Other work on the machine skews every number here: say how busy it was.
  const bench::Load load = bench::Load::read();

  bench::Pairs pairs({"copy-loop floor (SPSC)", "ringlite, 1 producer",
                      "ringlite, 1 producer, clock_gettime stamps", "ringlite, 2 producers",
                      "ringlite, 1 producer, ts_ns given (no clock)", "explain: floor, not pinned",
                      "explain: 1 producer, consumer spins", "explain: ts given + consumer spins"});
  std::vector<RunResult> last(kRuns);  // the last run of each kind, for the diagnostics
  pairs.run(
      o.pairs,
      [&](std::size_t i) {
        RunResult r;
        switch (i) {
          case kFloor:
            r = run_floor(o, pin);
            break;
          case kRing1:
            r = run_ring(o, schema, 1, {}, pin);
            break;
          case kRing1Realtime:
            r = run_ring(o, schema, 1, {.realtime = true}, pin);
            break;
          case kRing2:
            r = run_ring(o, schema, 2, {}, pin);
            break;
          case kRing1Given:
            r = run_ring(o, schema, 1, {.given_ts = true}, pin);
            break;
          case kFloorUnpinned:
            r = run_floor(o, no_pin);
            break;
          case kRing1Spin:
            r = run_ring(o, schema, 1, {.spin = true}, pin);
            break;
          default:
            r = run_ring(o, schema, 1, {.given_ts = true, .spin = true}, pin);
            break;
        }
        last[i] = r;
        return r.rps;
      },
      [&](std::size_t i) { return i < kFloorUnpinned || o.explain; });

  // Write cost, TSC stamps against clock_gettime stamps, in pairs of their own.
  std::vector<WriteCost> wc_tsc, wc_rt;
  std::vector<double> p50_ratio;
  for (int p = 0; p < o.pairs; ++p) {
    if (p % 2 == 0)
      wc_rt.push_back(run_write_cost(o, schema, ns_per_tick, {.realtime = true}, pin));
    wc_tsc.push_back(run_write_cost(o, schema, ns_per_tick, {}, pin));
    if (p % 2 == 1)
      wc_rt.push_back(run_write_cost(o, schema, ns_per_tick, {.realtime = true}, pin));
    p50_ratio.push_back(wc_tsc.back().producer.p50 / wc_rt.back().producer.p50);
  }
  const bench::Load load_after = bench::Load::read();
  const bench::Spread tsc_vs_rt_p50 = bench::Spread::of(p50_ratio);
  const bool tsc = last[kRing1].producer.tsc != 0;

  const bench::Spread floor = pairs.rate(kFloor);
  const bench::Spread r1 = pairs.ratio(kRing1), r2 = pairs.ratio(kRing2);
  const bench::Spread rt = pairs.ratio(kRing1Realtime), given = pairs.ratio(kRing1Given);
  const bench::Spread tsc_vs_rt = pairs.ratio(kRing1, kRing1Realtime);
  const auto med = [&](auto get) { return median_of(wc_tsc, get); };
  const auto med_rt = [&](auto get) { return median_of(wc_rt, get); };
  const double w50 = med([](const ChildResult& c) { return c.p50; });
  const double w99 = med([](const ChildResult& c) { return c.p99; });
  const double w999 = med([](const ChildResult& c) { return c.p999; });
  const double f99 = med([](const ChildResult& c) { return c.first_p99; });
  const double f999 = med([](const ChildResult& c) { return c.first_p999; });
  if (o.json) {
    fmt::print(
        "{{\"pairs\":{},\"pinned\":{},\"tsc\":{},\"load_before\":{:.2f},\"load_after\":{:.2f},"
        "\"floor_rps\":{:.0f},\"floor_min_rps\":{:.0f},\"floor_max_rps\":{:.0f},"
        "\"ring_rps\":{:.0f},\"ratio\":{:.4f},\"ratio_min\":{:.4f},\"ratio_max\":{:.4f},"
        "\"multi_rps\":{:.0f},\"ratio_multi\":{:.4f},\"ratio_multi_min\":{:.4f},"
        "\"ratio_multi_max\":{:.4f},\"ratio_clock_gettime\":{:.4f},\"ratio_given_ts\":{:.4f},"
        "\"tsc_vs_clock_gettime\":{:.4f},\"tsc_vs_clock_gettime_min\":{:.4f},"
        "\"tsc_vs_clock_gettime_max\":{:.4f},\"write_ns_p50\":{:.1f},\"write_ns_p99\":{:.1f},"
        "\"write_ns_p999\":{:.1f},\"write_ns_first_lap_p99\":{:.1f},"
        "\"write_ns_first_lap_p999\":{:.1f},\"write_ns_later_p99\":{:.1f},"
        "\"write_ns_later_p999\":{:.1f},\"write_ns_p50_clock_gettime\":{:.1f},"
        "\"write_ns_first_lap_p99_clock_gettime\":{:.1f},"
        "\"write_ns_first_lap_p999_clock_gettime\":{:.1f},"
        "\"write_ns_later_p99_clock_gettime\":{:.1f},"
        "\"write_ns_later_p999_clock_gettime\":{:.1f}}}\n",
        pairs.pairs(), pin.pins(2) ? 1 : 0, tsc ? 1 : 0, load.average, load_after.average,
        floor.median, floor.min, floor.max, pairs.rate(kRing1).median, r1.median, r1.min, r1.max,
        pairs.rate(kRing2).median, r2.median, r2.min, r2.max, rt.median, given.median,
        tsc_vs_rt.median, tsc_vs_rt.min, tsc_vs_rt.max, w50, w99, w999, f99, f999,
        med([](const ChildResult& c) { return c.later_p99; }),
        med([](const ChildResult& c) { return c.later_p999; }),
        med_rt([](const ChildResult& c) { return c.p50; }),
        med_rt([](const ChildResult& c) { return c.first_p99; }),
        med_rt([](const ChildResult& c) { return c.first_p999; }),
        med_rt([](const ChildResult& c) { return c.later_p99; }),
        med_rt([](const ChildResult& c) { return c.later_p999; }));
    return 0;
  }
  fmt::print(
      "ringlite ring_bench: 112-byte frames (32-byte header + 80-byte sensor payload) on both "
      "sides, {} buffer, {} CPUs, {} records per run, {} interleaved pairs\n",
      size_text(o.capacity), std::thread::hardware_concurrency(), o.records, pairs.pairs());
  bench::print_load(load, load_after);
  fmt::print("floor, 1-producer and write-cost runs: {}\n",
             pin.describe(2, {"consumer", "producer"}));
  fmt::print("2-producer run: {}\n", pin.describe(3, {"consumer", "producer 1", "producer 2"}));
  fmt::print("write() stamps ts_ns from {}\n\n",
             tsc ? "the TSC (the ring's shared calibration)"
                 : "clock_gettime (no reliable TSC, or RINGLITE_CLOCK=realtime)");
  fmt::print("| {:<44} | {:>10} | {:<22} | {:<32} |\n", "run", "median/s", "vs floor [min-max]",
             "each pair (M/s)");
  fmt::print("|{:-<46}|{:-<12}|{:-<24}|{:-<34}|\n", "", "", "", "");
  for (std::size_t i = 0; i < kRuns; ++i) {
    if (pairs.rates(i).empty()) continue;
    fmt::print("| {:<44} | {:>10} | {:<22} | {:<32} |\n", pairs.name(i),
               bench::rate(pairs.rate(i).median), i == kFloor ? "1.00" : pairs.ratio(i).text(),
               bench::millions(pairs.rates(i)));
  }
  fmt::print(
      "\nthe floor moved {:.0f}% across the pairs ((max - min) / median; target < 20% on a quiet "
      "machine)\n",
      100 * floor.moved());
  if (o.explain) {
    fmt::print("the floor unpinned moved {:.0f}%\n", 100 * pairs.rate(kFloorUnpinned).moved());
  }
  fmt::print("1 producer: TSC stamps / clock_gettime stamps = {} (throughput, per pair)\n",
             tsc_vs_rt.text(3));
  fmt::print("2 producers / 1 producer = {}\n", pairs.ratio(kRing2, kRing1).text());

  fmt::print(
      "\nwrite cost (1 producer, ring not full), median over {} runs each; {} ok try_write calls "
      "per run timed with the TSC (timer overhead subtracted; calls that returned full are not "
      "samples); the first lap is the first {} writes into a fresh ring\n",
      wc_tsc.size(), wc_tsc.front().producer.samples, wc_tsc.front().producer.first_samples);
  fmt::print("| {:<14} | {:<11} | {:>7} | {:>7} | {:>7} | {:>9} |\n", "stamps", "writes", "p50",
             "p99", "p99.9", "max");
  fmt::print("|{:-<16}|{:-<13}|{:-<9}|{:-<9}|{:-<9}|{:-<11}|\n", "", "", "", "", "", "");
  const auto wrow = [&](const char* clock, const std::vector<WriteCost>& v) {
    const auto m = [&](auto get) { return median_of(v, get); };
    fmt::print("| {:<14} | {:<11} | {:>4.0f} ns | {:>4.0f} ns | {:>4.0f} ns | {:>6.0f} ns |\n",
               clock, "first lap", m([](const ChildResult& c) { return c.first_p50; }),
               m([](const ChildResult& c) { return c.first_p99; }),
               m([](const ChildResult& c) { return c.first_p999; }),
               m([](const ChildResult& c) { return c.first_max; }));
    fmt::print("| {:<14} | {:<11} | {:>4.0f} ns | {:>4.0f} ns | {:>4.0f} ns | {:>6.0f} ns |\n",
               clock, "later laps", m([](const ChildResult& c) { return c.later_p50; }),
               m([](const ChildResult& c) { return c.later_p99; }),
               m([](const ChildResult& c) { return c.later_p999; }),
               m([](const ChildResult& c) { return c.max; }));
  };
  wrow(wc_tsc.front().producer.tsc ? "TSC" : "default", wc_tsc);
  wrow("clock_gettime", wc_rt);
  fmt::print(
      "all laps, default stamps: p50 {:.0f} ns, p99 {:.0f} ns (target 200), p99.9 {:.0f} ns "
      "(target 1000)\n",
      w50, w99, w999);
  fmt::print(
      "p50 TSC / clock_gettime, per pair: {}; one CLOCK_REALTIME read costs {:.0f} ns here\n",
      tsc_vs_rt_p50.text(3), wc_tsc.front().producer.clock_ns);

  fmt::print("\nconsumer (last pair's run of each kind):\n");
  for (std::size_t i = 0; i < kRuns; ++i) {
    if (pairs.rates(i).empty()) continue;
    fmt::print(
        "  {:<44} {}\n", pairs.name(i),
        diag_text(last[i].consumer, i == kFloor || i == kFloorUnpinned ? 0 : last[i].full_events));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  return bench::run_main("ring_bench", [&] { return run(o); });
}

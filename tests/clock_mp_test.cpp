// Timestamps (docs/design.md, "Timestamps"), with real processes: producers stamping from
// the TSC through the ring's shared calibration and one forced onto clock_gettime, checked
// against CLOCK_REALTIME read around each write, while the test scribbles hostile
// calibrations into the header.
#include <doctest/doctest.h>
#include <fmt/core.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

#include "detail/clock.hpp"
#include "detail/format.hpp"
#include "detail/test_hooks.hpp"
#include "platform/platform.hpp"
#include "proc.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

constexpr int kProducers = 3;       // 0 and 1: TSC (where reliable); 2: RINGLITE_CLOCK=realtime
constexpr int kMaxSamples = 16000;  // one per ~1 ms for 10 s, with room
constexpr int kBurst = 20;          // unsampled records between two samples
constexpr std::int64_t kSlack = 10'000;

struct Sample {
  std::int32_t k;  // the record's `a`
  std::int64_t before, after;
};
struct Shared {
  std::atomic<std::int32_t> samples[kProducers];
  std::atomic<std::int32_t> tsc[kProducers];  // what Producer::tsc_clock() said, 0/1
  Sample sample[kProducers][kMaxSamples];
};

std::int64_t realtime() { return detail::platform::realtime_ns(); }

// Writes bursts of records and one sampled record per millisecond for `run`.
int produce(const RingConfig& cfg, Shared& sh, int i, std::chrono::nanoseconds run) {
  if (i == 2) ::setenv("RINGLITE_CLOCK", "realtime", 1);
  Producer p = Producer::open(cfg);
  sh.tsc[i].store(p.tsc_clock() ? 1 : 0);
  auto w = p.writer<Sensor>("sensor");
  Sensor s{};
  s.c = i;
  std::int32_t k = 0;
  const auto end = std::chrono::steady_clock::now() + run;
  while (std::chrono::steady_clock::now() < end) {
    for (int b = 0; b < kBurst; ++b) {
      s.a = k++;
      if (w.write(s, 10s) != WriteResult::ok) return 3;
    }
    s.a = k++;
    const std::int64_t before = realtime();
    if (w.write(s, 10s) != WriteResult::ok) return 3;
    const std::int64_t after = realtime();
    const int n = sh.samples[i].load(std::memory_order_relaxed);
    if (n < kMaxSamples) {
      sh.sample[i][n] = Sample{s.a, before, after};
      sh.samples[i].store(n + 1, std::memory_order_release);
    }
    std::this_thread::sleep_for(1ms);
  }
  return 0;
}

// A calibration someone without the protocol wrote: published under a new even gen with a
// matching check word (so only the range and agreement checks can refuse it), or torn.
void scribble(detail::ClockCalibration& c, int kind) {
  const std::uint64_t g = (c.gen.load() | 1) + 1;
  const std::uint64_t tsc = detail::platform::read_tsc();
  const auto now = static_cast<std::uint64_t>(realtime());
  std::uint64_t base = tsc, ns = now, mult = std::uint64_t{1} << 32, refresh = 1u << 30;
  switch (kind) {
    case 0:  // zero slope
      mult = 0;
      break;
    case 1:  // base an hour in the future
      base = tsc + (std::uint64_t{1} << 40);
      ns = now + 3'600'000'000'000ull;
      break;
    case 2:  // everything at its largest: a multiply that overflows 64 bits if unchecked
      base = 0;
      ns = ~std::uint64_t{0} >> 1;
      mult = ~std::uint64_t{0};
      refresh = ~std::uint64_t{0};
      break;
    case 3:  // plausible fields but a millisecond off
      ns = now - 1'000'000;
      break;
    default:
      break;
  }
  c.tsc_base.store(base);
  c.ns_base.store(ns);
  c.mult.store(mult);
  c.refresh_ticks.store(refresh);
  c.check.store(kind == 4 ? 12345 : detail::clock_check(g, base, ns, mult, refresh));
  // Kind 5: a refresher that died between its two CASes leaves gen odd for good.
  c.gen.store(kind == 5 ? g + 1 : g);
}

/// A published calibration: an even gen and the check word of its fields.
void check_published(const detail::ClockCalibration& clock) {
  const std::uint64_t g = clock.gen.load();
  CHECK(g % 2 == 0);
  CHECK(clock.check.load() == detail::clock_check(g, clock.tsc_base.load(), clock.ns_base.load(),
                                                  clock.mult.load(), clock.refresh_ticks.load()));
}

}  // namespace

TEST_SUITE("clock") {
  TEST_CASE(
      "stamps from the TSC and from clock_gettime stay within 10 us of CLOCK_REALTIME for 10 s, "
      "never go backwards, and survive a refresher killed mid-refresh and hostile calibrations") {
    const RingConfig cfg = ring_config("clock", 1 << 20);
    RingGuard guard{cfg};
    Ring ring = Ring::create(cfg, demo_schema());
    RawSegment raw(cfg);
    auto& clock = raw.header().clock;
    // The creator calibrated it: valid from the first write.
    if (detail::platform::tsc_reliable()) check_published(clock);

    // A refresher killed (a real SIGKILL) right after it took the right to refresh: the
    // calibration's gen stays odd, as it would with a crash at that instruction. The
    // producers below start with it so, stamp with clock_gettime, and take over.
    if (detail::platform::tsc_reliable()) {
      const pid_t dying = spawn([&] {
        detail::g_clock_refresh_hook.store([] { ::raise(SIGKILL); });
        Producer p = Producer::open(cfg);
        auto w = p.writer<Sensor>("sensor");
        Sensor s{};
        s.c = kProducers;
        for (std::int32_t k = 0; k < 20000; ++k) {  // its copy is due within ~4 ms
          s.a = k;
          if (w.write(s, 10s) != WriteResult::ok) return 3;
          std::this_thread::sleep_for(100us);
        }
        return 0;
      });
      CHECK(wait_exit(dying) == 128 + SIGKILL);
      CHECK(clock.gen.load() % 2 == 1);
    }

    void* mem =
        ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    auto* sh = new (mem) Shared{};
    std::vector<pid_t> pids;
    for (int i = 0; i < kProducers; ++i)
      pids.push_back(spawn([&, i] { return produce(cfg, *sh, i, 10s); }));

    // Drain every frame; meanwhile, every 1.2 s from 2 s on, a hostile calibration.
    Consumer consumer(Ring::open(cfg));
    // By record number k, per producer; [kProducers]: the refresher killed above.
    std::vector<std::vector<std::int64_t>> ts(kProducers + 1);
    std::int64_t backwards = 0;
    Batch b;
    const auto start = std::chrono::steady_clock::now();
    int next_scribble = 0;
    int running = kProducers;
    std::vector<int> codes;
    while (running > 0 || consumer.head() < ring.cursors().tail) {
      b.clear();
      REQUIRE(consumer.poll(b, 4096) == PollStatus::ok);
      REQUIRE(b.gaps.empty());
      for (const Frame& f : b.frames) {
        const Sensor s = [&] {
          Sensor x{};
          std::memcpy(&x, b.payload(f).data(), sizeof x);
          return x;
        }();
        auto& v = ts[static_cast<std::size_t>(s.c)];
        REQUIRE(static_cast<std::size_t>(s.a) == v.size());  // one producer's records in order
        if (!v.empty() && f.ts_ns < v.back()) ++backwards;
        v.push_back(f.ts_ns);
      }
      consumer.advance(b.end);
      if (b.frames.empty()) (void)consumer.wait(2ms);
      const auto t = std::chrono::steady_clock::now() - start;
      if (next_scribble < 6 && t >= 2s + next_scribble * 1200ms) scribble(clock, next_scribble++);
      for (auto it = pids.begin(); it != pids.end();) {
        int status = 0;
        if (::waitpid(*it, &status, WNOHANG) == *it) {
          codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
          it = pids.erase(it);
          --running;
        } else {
          ++it;
        }
      }
    }
    for (int c : codes) CHECK(c == 0);
    CHECK(next_scribble == 6);
    CHECK(backwards == 0);

    for (int i = 0; i < kProducers; ++i) {
      CHECK(sh->tsc[i].load() == (i < 2 && detail::platform::tsc_reliable() ? 1 : 0));
      const int n = sh->samples[i].load();
      CHECK(n > 5000);  // ~1 per ms for 10 s, on a busy machine too
      int outside = 0;
      std::int64_t worst = 0;      // how far a stamp lay outside [before, after]
      std::int64_t off_mid = 0;    // largest |stamp - (before + after) / 2|
      std::int64_t off_tight = 0;  // the same, over samples read within 500 ns
      std::vector<std::int64_t> widths;
      for (int s = 0; s < n; ++s) {
        const Sample& x = sh->sample[i][s];
        REQUIRE(static_cast<std::size_t>(x.k) < ts[static_cast<std::size_t>(i)].size());
        const std::int64_t t = ts[static_cast<std::size_t>(i)][static_cast<std::size_t>(x.k)];
        const std::int64_t off = std::max(x.before - t, t - x.after);
        worst = std::max(worst, off);
        const std::int64_t from_mid = std::abs(t - (x.before + (x.after - x.before) / 2));
        off_mid = std::max(off_mid, from_mid);
        if (x.after - x.before < 500) off_tight = std::max(off_tight, from_mid);
        widths.push_back(x.after - x.before);
        if (t < x.before - kSlack || t > x.after + kSlack) {
          if (++outside <= 5)
            MESSAGE(fmt::format("producer {} record {}: stamp {} outside [{} - 10us, {} + 10us]", i,
                                x.k, t, x.before, x.after));
        }
      }
      std::sort(widths.begin(), widths.end());
      std::fprintf(stderr,
                   "producer %d (%s): %d samples, %zu records, stamp at most %lld ns outside "
                   "[before, after], |stamp - midpoint| at most %lld ns (%lld ns where the window "
                   "was under 500 ns), median before-after window %lld ns\n",
                   i, sh->tsc[i].load() ? "tsc" : "clock_gettime", n,
                   ts[static_cast<std::size_t>(i)].size(), static_cast<long long>(worst),
                   static_cast<long long>(off_mid), static_cast<long long>(off_tight),
                   static_cast<long long>(widths[widths.size() / 2]));
      CHECK(outside == 0);
    }

    // The last hostile calibration left gen odd, as a refresher that died would: the
    // producers took over, and the ring ends with a valid calibration again.
    if (detail::platform::tsc_reliable()) {
      check_published(clock);
      CHECK(clock.mult.load() >= detail::kMinClockMult);
      CHECK(clock.mult.load() <= detail::kMaxClockMult);
    }
    ::munmap(mem, sizeof(Shared));
  }
}

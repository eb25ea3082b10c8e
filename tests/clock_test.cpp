// Timestamps against hostile calibrations, in one process (docs/design.md, "Timestamps"):
// a forged slope is dropped within a few tolerances, a hostile writer of the calibration
// never makes a write wait, and the rule that decides whether the TSC is used.
#include "detail/clock.hpp"

#include <doctest/doctest.h>
#include <fmt/core.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "detail/format.hpp"
#include "platform/platform.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

std::int64_t realtime() { return detail::platform::realtime_ns(); }

std::int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Publishes a calibration the way a process without the protocol could: a new even gen,
// a matching check, a base read just now (so the one-point check at adoption passes), the
// given slope, and the largest refresh_ticks allowed.
std::uint64_t forge(detail::ClockCalibration& c, std::uint64_t mult) {
  const std::uint64_t g = (c.gen.load() | 1) + 1;
  const std::uint64_t t0 = detail::platform::read_tsc_ordered();
  const auto ns = static_cast<std::uint64_t>(realtime());
  const std::uint64_t t1 = detail::platform::read_tsc_ordered();
  const std::uint64_t base = t0 + (t1 - t0) / 2;
  const std::uint64_t refresh = detail::kMaxRefreshTicks;
  c.tsc_base.store(base);
  c.ns_base.store(ns);
  c.mult.store(mult);
  c.refresh_ticks.store(refresh);
  c.check.store(detail::clock_check(g, base, ns, mult, refresh));
  c.gen.store(g);
  return g;
}

}  // namespace

TEST_SUITE("clock") {
  TEST_CASE(
      "a forged slope with a fresh base is dropped: stamps stay within 100 us of CLOCK_REALTIME "
      "and never go backwards") {
    if (!detail::platform::tsc_reliable()) {
      MESSAGE("no reliable TSC here: stamps come from clock_gettime");
      return;
    }
    const RingConfig cfg = ring_config("clockforge", 1 << 23);
    RingGuard guard{cfg};
    Ring ring = Ring::create(cfg, demo_schema());
    RawSegment raw(cfg);
    auto& clock = raw.header().clock;
    const std::uint64_t true_mult = clock.mult.load();  // the creator's calibration
    REQUIRE(true_mult >= detail::kMinClockMult);
    Consumer consumer(Ring::open(cfg));

    struct Forgery {
      const char* name;
      std::uint64_t mult;
    };
    const Forgery forgeries[] = {{"x0.5", true_mult / 2},
                                 {"x1.01", true_mult + true_mult / 100},
                                 {"x0.99", true_mult - true_mult / 100},
                                 {"x4", true_mult * 4}};
    for (const Forgery& fg : forgeries) {
      for (int round = 0; round < 3; ++round) {
        CAPTURE(fg.name);
        CAPTURE(round);
        Producer p = Producer::open(cfg);
        REQUIRE(p.tsc_clock());
        auto w = p.writer<Sensor>("sensor");
        // The new producer adopts it at its first write: the check at adoption passes.
        const std::uint64_t forged = forge(clock, fg.mult);
        std::vector<std::int64_t> before, after;
        Sensor s{};
        const auto end = std::chrono::steady_clock::now() + 30ms;
        for (std::int32_t k = 0; k < 40000 && std::chrono::steady_clock::now() < end; ++k) {
          s.a = k;
          before.push_back(realtime());
          REQUIRE(w.write(s, 1s) == WriteResult::ok);
          after.push_back(realtime());
          const auto pause = std::chrono::steady_clock::now() + 1us;
          while (std::chrono::steady_clock::now() < pause) {
          }
        }
        // It found the slope wrong and published a calibration of its own, close to the
        // true one.
        CHECK(clock.gen.load() != forged);
        const std::uint64_t m = clock.mult.load();
        CHECK((m > true_mult ? m - true_mult : true_mult - m) < true_mult / 200);

        std::size_t seen = 0;
        int outside = 0, backwards = 0;
        std::int64_t worst = 0, prev = 0;
        Batch b;
        while (seen < before.size()) {
          b.clear();
          REQUIRE(consumer.poll(b, 4096) == PollStatus::ok);
          REQUIRE(!b.frames.empty());
          for (const Frame& f : b.frames) {
            Sensor x{};
            std::memcpy(&x, b.payload(f).data(), sizeof x);
            REQUIRE(static_cast<std::size_t>(x.a) == seen);
            const std::int64_t t = f.ts_ns;
            const std::int64_t off = std::max(before[seen] - t, t - after[seen]);
            worst = std::max(worst, off);
            if (off > 100'000 && ++outside <= 3)
              MESSAGE(fmt::format("record {}: stamp {} is {} ns outside [{}, {}]", seen, t, off,
                                  before[seen], after[seen]));
            if (t < prev) ++backwards;
            prev = t;
            ++seen;
          }
          consumer.advance(b.end);
        }
        std::fputs(fmt::format("forged {} round {}: {} writes, stamp at most {} ns outside "
                               "[before, after]\n",
                               fg.name, round, seen, worst)
                       .c_str(),
                   stderr);
        CHECK(outside == 0);
        CHECK(backwards == 0);
      }
    }
  }

  TEST_CASE("a writer of hostile calibrations never makes a write wait for a calibration") {
    if (!detail::platform::tsc_reliable()) {
      MESSAGE("no reliable TSC here: stamps come from clock_gettime");
      return;
    }
    const RingConfig cfg = ring_config("clockhostile", 1 << 20);
    RingGuard guard{cfg};
    Ring ring = Ring::create(cfg, demo_schema());
    RawSegment raw(cfg);
    auto& clock = raw.header().clock;
    Consumer consumer(Ring::open(cfg));

    // Every 2 ms: a new even gen whose check word is wrong, so every calibration a
    // producer published is replaced by one nobody may use, and each refresh must start
    // from scratch.
    std::atomic<bool> stop{false};
    std::thread hostile([&] {
      std::uint64_t junk = 0x1234;
      while (!stop.load()) {
        const std::uint64_t g = clock.gen.load();
        if (g % 2 == 0) {
          clock.check.store(junk++);
          clock.gen.store(g + 2);
        }
        std::this_thread::sleep_for(2ms);
      }
    });

    Producer p = Producer::open(cfg);
    REQUIRE(p.tsc_clock());
    auto w = p.writer<Sensor>("sensor");
    Sensor s{};
    int writes = 0, spun = 0;
    std::int64_t most = 0;
    Batch b;
    const auto end = std::chrono::steady_clock::now() + 400ms;
    while (std::chrono::steady_clock::now() < end) {
      s.a = writes++;
      // CPU time, not wall time: a preempted write is not a waiting one.
      const std::int64_t c0 = thread_cpu_ns();
      REQUIRE(w.write(s, 1s) == WriteResult::ok);
      const std::int64_t used = thread_cpu_ns() - c0;
      most = std::max(most, used);
      if (used >= 900'000) ++spun;  // the old wait spun 1 ms; sanitizers: up to ~450 us
      if (writes % 64 == 0) {
        b.clear();
        REQUIRE(consumer.poll(b, 4096) == PollStatus::ok);
        consumer.advance(b.end);
      }
      const auto pause = std::chrono::steady_clock::now() + 20us;
      while (std::chrono::steady_clock::now() < pause) {
      }
    }
    stop = true;
    hostile.join();
    std::fputs(fmt::format("{} writes, {} used 900 us of CPU or more, the most {} ns\n", writes,
                           spun, most)
                   .c_str(),
               stderr);
    CHECK(writes > 1000);
    CHECK(spun == 0);
  }

  TEST_CASE(
      "the TSC is used when the kernel's clocksource is tsc, or the CPU says invariant "
      "and the kernel still lists tsc as available") {
    using detail::platform::tsc_usable;
    CHECK(tsc_usable(false, "tsc", "tsc hpet acpi_pm"));
    CHECK(tsc_usable(true, "tsc", ""));
    CHECK(tsc_usable(true, "kvm-clock", "tsc kvm-clock acpi_pm\n"));
    CHECK(tsc_usable(true, "hpet", "hpet acpi_pm tsc"));
    // Marked unstable by the kernel's watchdog: gone from the list, whatever CPUID says.
    CHECK_FALSE(tsc_usable(true, "hpet", "hpet acpi_pm"));
    CHECK_FALSE(tsc_usable(true, "kvm-clock", "kvm-clock"));
    CHECK_FALSE(tsc_usable(true, "", ""));  // no sysfs
    CHECK_FALSE(tsc_usable(false, "kvm-clock", "tsc kvm-clock"));
    CHECK_FALSE(tsc_usable(true, "hpet", "tsc2 xtsc"));
  }
}

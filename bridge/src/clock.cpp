// The shared TSC calibration and a producer's clock (detail/clock.hpp; the protocol is in
// format.hpp above ClockCalibration and in docs/design.md, "Timestamps").
#include "detail/clock.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "detail/test_hooks.hpp"

namespace ringlite::detail {

std::atomic<void (*)()> g_clock_refresh_hook{nullptr};

namespace {

__extension__ using U128 = unsigned __int128;

/// A TSC reading and a CLOCK_REALTIME reading of the same moment: of four tries, the one
/// whose clock call took the fewest ticks, with the TSC taken as the middle of the call.
struct Pair {
  std::uint64_t tsc = 0;
  std::int64_t ns = 0;
};
Pair paired_read(int tries = 4) noexcept {
  Pair best;
  std::uint64_t width = ~std::uint64_t{0};
  for (int i = 0; i < tries; ++i) {
    const std::uint64_t t0 = platform::read_tsc_ordered();
    const std::int64_t ns = platform::realtime_ns();
    const std::uint64_t t1 = platform::read_tsc_ordered();
    if (t1 >= t0 && t1 - t0 < width) {
      width = t1 - t0;
      best = Pair{t0 + (t1 - t0) / 2, ns};
    }
  }
  return best;
}

struct Fields {
  std::uint64_t tsc_base = 0, ns_base = 0, mult = 0, refresh_ticks = 0;
};

Fields load(const ClockCalibration& c) noexcept {
  constexpr auto rlx = std::memory_order_relaxed;
  return Fields{c.tsc_base.load(rlx), c.ns_base.load(rlx), c.mult.load(rlx),
                c.refresh_ticks.load(rlx)};
}

std::uint64_t check_of(std::uint64_t gen, const Fields& f) noexcept {
  return clock_check(gen, f.tsc_base, f.ns_base, f.mult, f.refresh_ticks);
}

/// Within the bounds every use relies on (no overflow anywhere below).
bool sane(const Fields& f) noexcept {
  return f.mult >= kMinClockMult && f.mult <= kMaxClockMult && f.refresh_ticks != 0 &&
         f.refresh_ticks <= kMaxRefreshTicks && f.ns_base != 0 && f.ns_base < (1ull << 62);
}

/// ns per tick << 32 over a span, or 0 when the span is empty or out of range.
std::uint64_t slope(std::uint64_t ticks, std::int64_t ns) noexcept {
  if (ticks == 0 || ns <= 0) return 0;
  const U128 m = (U128{static_cast<std::uint64_t>(ns)} << 32) / ticks;
  return m >= kMinClockMult && m <= kMaxClockMult ? static_cast<std::uint64_t>(m) : 0;
}

/// How long a slope measured over `window` ticks is used: 4 windows, at most 1 s. Its
/// error is two paired reads over the window, so the stamps' drift stays within about
/// eight paired reads (well under a microsecond) whatever the window; the windows grow
/// 4x per refresh from the creator's 1 ms to 1 s.
std::uint64_t refresh_for(std::uint64_t window, std::uint64_t mult) noexcept {
  const U128 second = (U128{1'000'000'000} << 32) / mult;
  U128 r = U128{window} * 4;
  if (r > second) r = second;
  if (r > kMaxRefreshTicks) r = kMaxRefreshTicks;
  return r == 0 ? 1 : static_cast<std::uint64_t>(r);
}

/// A calibration from scratch: two paired reads 1 ms apart. mult 0 when the TSC did not
/// move at a plausible rate.
Fields from_scratch() noexcept {
  const Pair p0 = paired_read();
  const std::int64_t until = platform::monotonic_ns() + 1'000'000;
  while (platform::monotonic_ns() < until) platform::cpu_relax();
  const Pair p1 = paired_read();
  if (p1.tsc <= p0.tsc || p1.ns <= 0) return {};
  const std::uint64_t mult = slope(p1.tsc - p0.tsc, p1.ns - p0.ns);
  if (mult == 0) return {};
  return Fields{p1.tsc, static_cast<std::uint64_t>(p1.ns), mult,
                refresh_for(p1.tsc - p0.tsc, mult)};
}

/// Stores `f` under the odd gen `locked` this process holds, then publishes locked + 1
/// (a CAS: if someone took over meanwhile, they publish, not we).
void publish(ClockCalibration& c, std::uint64_t locked, const Fields& f) noexcept {
  constexpr auto rlx = std::memory_order_relaxed;
  std::atomic_thread_fence(std::memory_order_release);
  c.tsc_base.store(f.tsc_base, rlx);
  c.ns_base.store(f.ns_base, rlx);
  c.mult.store(f.mult, rlx);
  c.refresh_ticks.store(f.refresh_ticks, rlx);
  c.check.store(check_of(locked + 1, f), rlx);
  std::uint64_t g = locked;
  c.gen.compare_exchange_strong(g, locked + 1, std::memory_order_release, rlx);
}

}  // namespace

bool clock_env_allows_tsc() noexcept {
  const char* v = std::getenv("RINGLITE_CLOCK");
  return v == nullptr || std::strcmp(v, "realtime") != 0;
}

void calibrate_clock(ClockCalibration& c) noexcept {
  if (!platform::tsc_reliable()) return;
  const Fields f = from_scratch();
  if (f.mult == 0) return;
  c.gen.store(1, std::memory_order_relaxed);
  publish(c, 1, f);
}

bool StampClock::adopt(std::uint64_t g) noexcept {
  const Fields f = load(*shared_);
  const std::uint64_t check = shared_->check.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (shared_->gen.load(std::memory_order_relaxed) != g) return false;  // refreshed meanwhile
  gen_ = g;
  refresh_ticks_ = 0;
  if (check != check_of(g, f) || !sane(f)) return false;
  // One stamp from it must agree with CLOCK_REALTIME: a base in the future or the past, a
  // wrong slope or a torn refresh that happens to pass the check end here.
  const Pair p = paired_read(2);
  if (p.tsc < f.tsc_base || p.tsc - f.tsc_base >= f.refresh_ticks) return false;  // or due
  const std::int64_t predicted =
      static_cast<std::int64_t>(f.ns_base) + scale(p.tsc - f.tsc_base, f.mult);
  if (predicted - p.ns > kClockTolerance || p.ns - predicted > kClockTolerance) return false;
  tsc_base_ = f.tsc_base;
  ns_base_ = static_cast<std::int64_t>(f.ns_base);
  mult_ = f.mult;
  refresh_ticks_ = f.refresh_ticks;
  return true;
}

bool StampClock::refresh(std::uint64_t locked, std::uint64_t published) noexcept {
  if (auto hook = g_clock_refresh_hook.load(std::memory_order_relaxed)) hook();
  const Fields prev = load(*shared_);
  const bool prev_ok =
      shared_->check.load(std::memory_order_relaxed) == check_of(published, prev) && sane(prev);
  const Pair p = paired_read();
  Fields f;
  if (prev_ok && p.tsc > prev.tsc_base && p.tsc - prev.tsc_base < (std::uint64_t{1} << 50) &&
      p.ns > 0) {
    const std::uint64_t window = p.tsc - prev.tsc_base;
    // The last calibration must still predict now, within 20 us plus 500 ppm of the
    // interval (NTP's largest slew): else its base was bad, and a slope measured from it
    // would carry the error into the next interval.
    const std::int64_t predicted =
        static_cast<std::int64_t>(prev.ns_base) + scale(window, prev.mult);
    const std::int64_t off = predicted > p.ns ? predicted - p.ns : p.ns - predicted;
    const bool predicts =
        off <= kClockTolerance + (predicted - static_cast<std::int64_t>(prev.ns_base)) / 2000;
    if (!predicts) {
      f = Fields{};  // from scratch, below
    } else if (window < (std::uint64_t{1} << 20)) {
      // Refreshed a moment ago: keep its slope, move the base.
      f = Fields{p.tsc, static_cast<std::uint64_t>(p.ns), prev.mult, prev.refresh_ticks};
    } else if (const std::uint64_t m =
                   slope(window, p.ns - static_cast<std::int64_t>(prev.ns_base));
               m != 0 && (m > prev.mult ? m - prev.mult : prev.mult - m) <= prev.mult >> 10) {
      // The slope over the whole refresh interval: it follows NTP's slewing. More than
      // ~1000 ppm away from the last one (NTP slews at most 500 ppm) means the clock was
      // stepped, or the base was bad: start from scratch instead.
      f = Fields{p.tsc, static_cast<std::uint64_t>(p.ns), m, refresh_for(window, m)};
    }
  }
  if (f.mult == 0) f = from_scratch();
  if (f.mult == 0) {
    // The TSC does not tick at a plausible rate here: this producer stops using it. The
    // check word no longer matches the gen we publish, so nobody adopts stale fields.
    use_tsc_ = false;
    std::uint64_t g = locked;
    shared_->gen.compare_exchange_strong(g, locked + 1, std::memory_order_release,
                                         std::memory_order_relaxed);
    return false;
  }
  publish(*shared_, locked, f);
  gen_ = locked + 1;
  tsc_base_ = f.tsc_base;
  ns_base_ = static_cast<std::int64_t>(f.ns_base);
  mult_ = f.mult;
  refresh_ticks_ = f.refresh_ticks;
  return true;
}

std::int64_t StampClock::slow() noexcept {
  const std::uint64_t tsc = platform::read_tsc();
  // A TSC a hair behind the base (another core's reading, refreshed a moment ago).
  if (refresh_ticks_ != 0 && tsc < tsc_base_ && tsc_base_ - tsc < 4096) return ns_base_;
  std::uint64_t g = shared_->gen.load(std::memory_order_acquire);
  if ((g & 1) == 0) {
    if (g != gen_ && adopt(g)) {  // another process refreshed it
      const std::uint64_t d = platform::read_tsc() - tsc_base_;
      if (d < refresh_ticks_) return ns_base_ + scale(d, mult_);
    }
    // Due, or not valid: refresh it. Losing the CAS means someone else is refreshing.
    if (shared_->gen.compare_exchange_strong(g, g + 1, std::memory_order_acq_rel,
                                             std::memory_order_relaxed) &&
        refresh(g + 1, g)) {
      const std::uint64_t d = platform::read_tsc() - tsc_base_;
      if (d < refresh_ticks_) return ns_base_ + scale(d, mult_);
    }
    return platform::realtime_ns();
  }
  // A refresh is in progress, or its refresher died: clock_gettime meanwhile, and after
  // 100 ms of the same odd gen, take over (still odd, so a late publish of the old
  // refresher fails its CAS).
  const std::int64_t now = platform::realtime_ns();
  if (g != odd_gen_) {
    odd_gen_ = g;
    odd_since_ns_ = now;
  } else if (now - odd_since_ns_ >= 100'000'000 || now < odd_since_ns_) {
    odd_gen_ = 0;
    if (shared_->gen.compare_exchange_strong(g, g + 2, std::memory_order_acq_rel,
                                             std::memory_order_relaxed))
      refresh(g + 2, g - 1);
  }
  return now;
}

}  // namespace ringlite::detail

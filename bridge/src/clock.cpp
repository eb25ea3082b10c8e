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

using Pair = ClockRead;
using Fields = ClockFields;

/// A TSC reading and a CLOCK_REALTIME reading of the same moment: of `tries`, the one
/// whose clock call took the fewest ticks, with the TSC taken as the middle of the call.
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

/// A calibration from two paired reads (mult 0 when the TSC did not move at a plausible
/// rate between them).
Fields between(const Pair& p0, const Pair& p1) noexcept {
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

bool stamps_from_tsc() noexcept {
  if (!platform::tsc_reliable()) return false;
  const char* v = std::getenv("RINGLITE_CLOCK");
  return v == nullptr || std::strcmp(v, "realtime") != 0;
}

void calibrate_clock(ClockCalibration& c) noexcept {
  if (!platform::tsc_reliable()) return;
  // The creator, before anyone can see the header: it may wait the 1 ms.
  const Pair p0 = paired_read();
  const std::int64_t until = platform::monotonic_ns() + kScratchSpan;
  while (platform::monotonic_ns() < until) platform::cpu_relax();
  const Fields f = between(p0, paired_read());
  if (f.mult == 0) return;
  c.gen.store(1, std::memory_order_relaxed);
  publish(c, 1, f);
}

void StampClock::use(std::uint64_t at, const Fields& f) noexcept {
  tsc_base_ = f.tsc_base;
  ns_base_ = static_cast<std::int64_t>(f.ns_base);
  mult_ = f.mult;
  refresh_ticks_ = f.refresh_ticks;
  window_ = kFirstTrustTicks;
  limit_ = at + window_ < refresh_ticks_ ? at + window_ : refresh_ticks_;
}

bool StampClock::adopt(std::uint64_t g) noexcept {
  const Fields f = load(*shared_);
  const std::uint64_t check = shared_->check.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (shared_->gen.load(std::memory_order_relaxed) != g) return false;  // refreshed meanwhile
  gen_ = g;  // tried: a refused calibration is not tried again; the own copy stays
  if (check != check_of(g, f) || !sane(f)) return false;
  // One stamp from it must agree with CLOCK_REALTIME: a base in the future or the past, or
  // a torn refresh that happens to pass the check end here. A wrong slope ends at one of
  // the re-checks that follow, the first one ~kFirstTrustTicks from now.
  const Pair p = paired_read(2);
  if (p.tsc < f.tsc_base || p.tsc - f.tsc_base >= f.refresh_ticks) return false;  // or due
  const std::int64_t predicted =
      static_cast<std::int64_t>(f.ns_base) + scale(p.tsc - f.tsc_base, f.mult);
  if (predicted - p.ns > kClockTolerance || p.ns - predicted > kClockTolerance) return false;
  use(p.tsc - f.tsc_base, f);
  return true;
}

bool StampClock::recheck(const Pair& p) noexcept {
  if (limit_ == 0) return false;
  if (p.tsc < tsc_base_ || p.ns <= 0) {
    limit_ = 0;
    return false;
  }
  const std::uint64_t d = p.tsc - tsc_base_;
  if (d >= refresh_ticks_) return false;  // due: refresh it
  const std::int64_t predicted = ns_base_ + scale(d, mult_);
  if (predicted - p.ns > kClockTolerance || p.ns - predicted > kClockTolerance) {
    limit_ = 0;  // wrong slope, or the system clock was stepped or changed its slew rate
    return false;
  }
  window_ = window_ < refresh_ticks_ / 2 ? window_ * 2 : refresh_ticks_;
  limit_ = d + window_ < refresh_ticks_ ? d + window_ : refresh_ticks_;
  return true;
}

StampClock::Fields StampClock::from_last(std::uint64_t g, const Pair& p) const noexcept {
  const Fields prev = load(*shared_);
  const bool prev_ok =
      shared_->check.load(std::memory_order_relaxed) == check_of(g, prev) && sane(prev);
  if (!prev_ok || p.tsc <= prev.tsc_base || p.tsc - prev.tsc_base >= (std::uint64_t{1} << 50) ||
      p.ns <= 0)
    return {};
  const std::uint64_t window = p.tsc - prev.tsc_base;
  // The last calibration must still predict now, within 20 us plus 500 ppm of the
  // interval: else its base was bad, or the clock was stepped, and a slope measured from
  // it would carry the error into the next interval.
  const std::int64_t predicted = static_cast<std::int64_t>(prev.ns_base) + scale(window, prev.mult);
  const std::int64_t off = predicted > p.ns ? predicted - p.ns : p.ns - predicted;
  if (off > kClockTolerance + (predicted - static_cast<std::int64_t>(prev.ns_base)) / 2000)
    return {};
  // Refreshed a moment ago: keep its slope, move the base.
  if (window < (std::uint64_t{1} << 20))
    return Fields{p.tsc, static_cast<std::uint64_t>(p.ns), prev.mult, prev.refresh_ticks};
  // The slope over the whole refresh interval: it follows a steady slew. More than ~1000
  // ppm away from the last one means the clock was stepped, its slew rate changed, or the
  // base was bad: from scratch instead.
  const std::uint64_t m = slope(window, p.ns - static_cast<std::int64_t>(prev.ns_base));
  if (m == 0 || (m > prev.mult ? m - prev.mult : prev.mult - m) > prev.mult >> 10) return {};
  return Fields{p.tsc, static_cast<std::uint64_t>(p.ns), m, refresh_for(window, m)};
}

StampClock::Fields StampClock::from_scratch(const Pair& p) noexcept {
  // Two paired reads at least 1 ms apart, taken by two writes (no waiting in between); a
  // first read older than 1 s, or after the second one, is taken again.
  if (pending_.ns <= 0 || p.tsc <= pending_.tsc || p.ns < pending_.ns ||
      p.ns - pending_.ns > 1'000'000'000) {
    pending_ = p;
    return {};
  }
  if (p.ns - pending_.ns < kScratchSpan) return {};
  const Fields f = between(pending_, p);
  pending_ = Pair{};
  if (f.mult == 0 && ++scratch_failures_ >= 3) use_tsc_ = false;  // not a plausible rate
  return f;
}

std::int64_t StampClock::refresh(std::uint64_t g, const Pair& p) noexcept {
  if (p.ns <= 0) return platform::realtime_ns();
  std::uint64_t last = g;  // the gen the line's fields were published under
  if ((g & 1) != 0) {
    // A refresh is in progress, or its refresher died: clock_gettime meanwhile, and after
    // 100 ms of the same odd gen, take over (still odd, so a late publish of the old
    // refresher fails its CAS).
    if (g != odd_gen_) {
      odd_gen_ = g;
      odd_since_ns_ = p.ns;
      return p.ns;
    }
    if (p.ns - odd_since_ns_ < 100'000'000 && p.ns >= odd_since_ns_) return p.ns;
    last = g - 1;
  }
  Fields f = from_last(last, p);
  if (f.mult == 0) f = from_scratch(p);
  if (f.mult == 0) return p.ns;  // clock_gettime until the calibration is ready
  // Publish it: a CAS to an odd gen gives the right to write. Lost: someone else refreshed
  // it meanwhile; this producer still uses its own measurement.
  const std::uint64_t locked = (g & 1) != 0 ? g + 2 : g + 1;
  std::uint64_t expected = g;
  if (shared_->gen.compare_exchange_strong(expected, locked, std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
    if (auto hook = g_clock_refresh_hook.load(std::memory_order_relaxed)) hook();
    publish(*shared_, locked, f);
    gen_ = locked + 1;
  }
  odd_gen_ = 0;
  use(0, f);
  return static_cast<std::int64_t>(f.ns_base);
}

std::int64_t StampClock::slow() noexcept {
  const std::uint64_t tsc = platform::read_tsc();
  // A TSC a hair behind the base (another core's reading, refreshed a moment ago).
  if (limit_ != 0 && tsc < tsc_base_ && tsc_base_ - tsc < 4096) return ns_base_;
  const std::uint64_t g = shared_->gen.load(std::memory_order_acquire);
  if ((g & 1) == 0 && g != gen_ && adopt(g)) {  // another process refreshed it
    const std::uint64_t d = platform::read_tsc() - tsc_base_;
    if (d < limit_) return ns_base_ + scale(d, mult_);
  }
  // The end of the trust window (re-check the copy: one paired read), or due, or no valid
  // copy: refresh it.
  const Pair p = paired_read(2);
  if (recheck(p)) return ns_base_ + scale(p.tsc - tsc_base_, mult_);
  return refresh(g, p);
}

}  // namespace ringlite::detail

// Timestamps at the cost of a register read (docs/design.md, "Timestamps"). A producer
// stamps ts_ns from the TSC, converted to CLOCK_REALTIME nanoseconds with the calibration
// every process of the ring shares (ClockCalibration in format.hpp). Each producer keeps
// its own validated copy, so the write path reads no shared memory for it: one RDTSC, one
// compare, one multiply. Where the TSC is not reliable (tsc_reliable()), on other
// architectures, or with RINGLITE_CLOCK=realtime in the environment, it stamps with
// clock_gettime(CLOCK_REALTIME) instead.
#pragma once

#include <cstdint>

#include "detail/format.hpp"
#include "platform/platform.hpp"

namespace ringlite::detail {

/// Sanity bounds of a calibration (it is untrusted shared memory): 1/16 to 16 ns per tick
/// (a TSC of 62.5 MHz to 16 GHz), due within 2^34 ticks (1 s at 16 GHz).
inline constexpr std::uint64_t kMinClockMult = std::uint64_t{1} << 28;
inline constexpr std::uint64_t kMaxClockMult = std::uint64_t{1} << 36;
inline constexpr std::uint64_t kMaxRefreshTicks = std::uint64_t{1} << 34;
/// A calibration (another process's or this one's) is used only while stamps from it agree
/// with CLOCK_REALTIME this closely: checked when it is adopted, and again (one paired
/// TSC/CLOCK_REALTIME read) at the end of each trust window.
inline constexpr std::int64_t kClockTolerance = 20'000;
/// The first trust window of a new calibration, in ticks (~1.4 us at 3 GHz); each re-check
/// that agrees doubles it, up to the calibration's refresh_ticks. A slope that is off by r
/// (ns of error per tick) passes a re-check only while r * (ticks since the last one) stays
/// within 2 tolerances, so between two re-checks a stamp is at most 5 tolerances off, and
/// in the first window at most 1 tolerance + r * 4096 ticks.
inline constexpr std::uint64_t kFirstTrustTicks = 4096;
/// A calibration from scratch takes two paired reads at least this far apart (ns); writes
/// in between stamp with clock_gettime (the write path never waits for it).
inline constexpr std::int64_t kScratchSpan = 1'000'000;
/// A stamp earlier than the producer's previous one is raised to it, unless it is earlier
/// by this much or more: then the system clock was stepped back, and the stamps follow it.
inline constexpr std::int64_t kClockStepBack = 1'000'000'000;

/// True when a new producer's or consumer's clock should read the TSC: the TSC is reliable
/// here (platform::tsc_reliable()) and the environment does not say RINGLITE_CLOCK=realtime
/// (read on every call: tests and programs may set it before they open a producer).
bool stamps_from_tsc() noexcept;

/// Calibrates `c` from scratch (two paired TSC/CLOCK_REALTIME reads 1 ms apart) and
/// publishes it; for the creator, before anyone else can see the header. Does nothing
/// where the TSC is not reliable.
void calibrate_clock(ClockCalibration& c) noexcept;

/// A TSC reading and a CLOCK_REALTIME reading of the same moment.
struct ClockRead {
  std::uint64_t tsc = 0;
  std::int64_t ns = 0;
};
/// A calibration's fields, as stored in ClockCalibration (mult 0: none).
struct ClockFields {
  std::uint64_t tsc_base = 0, ns_base = 0, mult = 0, refresh_ticks = 0;
};

/// A producer's clock. Not thread safe: one per ProducerCore, like the rest of its state.
class StampClock {
 public:
  StampClock(ClockCalibration& shared, bool use_tsc) noexcept
      : shared_(&shared), use_tsc_(use_tsc) {}

  /// Nanoseconds since the epoch, never earlier than the previous stamp (but see
  /// kClockStepBack). Never waits (at most two paired reads and a few stores, when a
  /// trust window ends or a refresh is due); never throws.
  std::int64_t now() noexcept {
    std::int64_t t;
    if (use_tsc_) {
      const std::uint64_t d = platform::read_tsc() - tsc_base_;
      t = d < limit_ ? ns_base_ + scale(d, mult_) : slow();
    } else {
      t = platform::realtime_ns();
    }
    if (t < last_ && last_ - t < kClockStepBack) t = last_;
    last_ = t;
    return t;
  }
  /// True when stamps come from the TSC (false: clock_gettime).
  bool uses_tsc() const noexcept { return use_tsc_; }

  /// ns for `d` ticks at `mult` (ns per tick << 32), in 128-bit arithmetic: callers keep
  /// d < kMaxRefreshTicks and mult <= kMaxClockMult, so the result is below 2^38.
  static std::int64_t scale(std::uint64_t d, std::uint64_t mult) noexcept {
    __extension__ using U128 = unsigned __int128;
    return static_cast<std::int64_t>(static_cast<std::uint64_t>((U128{d} * mult) >> 32));
  }

 private:
  using Pair = ClockRead;
  using Fields = ClockFields;
  std::int64_t slow() noexcept;
  bool adopt(std::uint64_t g) noexcept;
  bool recheck(const Pair& p) noexcept;
  std::int64_t refresh(std::uint64_t g, const Pair& p) noexcept;
  Fields from_last(std::uint64_t g, const Pair& p) const noexcept;
  Fields from_scratch(const Pair& p) noexcept;
  void use(std::uint64_t at, const Fields& f) noexcept;

  ClockCalibration* shared_;
  bool use_tsc_;
  // The validated copy: stamps are ns_base_ + scale(tsc - tsc_base_, mult_) while
  // tsc - tsc_base_ < limit_: the end of the trust window (next_check_) or refresh_ticks_
  // (due), whichever is first. limit_ 0: no valid copy, every stamp takes slow().
  std::uint64_t gen_ = ~std::uint64_t{0};
  std::uint64_t tsc_base_ = 0;
  std::int64_t ns_base_ = 0;
  std::uint64_t mult_ = 0;
  std::uint64_t refresh_ticks_ = 0;
  std::uint64_t limit_ = 0;
  std::uint64_t window_ = 0;  // the trust window's length, ticks
  std::int64_t last_ = 0;
  // The first paired read of a calibration from scratch (ns 0: none yet), and how many
  // from scratch measured an implausible rate (3: this producer stops using the TSC).
  Pair pending_;
  int scratch_failures_ = 0;
  // A refresher that died leaves gen odd: after 100 ms of the same odd gen, take over.
  std::uint64_t odd_gen_ = 0;
  std::int64_t odd_since_ns_ = 0;
};

}  // namespace ringlite::detail

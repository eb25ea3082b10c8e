// ringlite: the consuming side of a ring, used by the bridge (docs/design.md, "The bridge and
// exactly once"). There is one consumer per ring. It reads committed frames in position order from
// its read position, steps over padding, unblocks claims whose producer died or stalled past
// unblock_timeout, and advances `head` only when told to (after the bridge's COMMIT), so
// producers never overwrite what is not yet durable.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ringlite/ring.hpp"

namespace ringlite {

/// One record read from the ring. The payload lives in the Batch's arena (copied out of
/// shared memory, so a broken producer cannot change it while it is decoded).
struct Frame {
  std::uint64_t seq = 0;  ///< the frame's position
  std::uint16_t type = 0;
  std::uint32_t producer = 0;  ///< slot in the producer table
  std::int64_t ts_ns = 0;
  std::uint32_t offset = 0;  ///< into Batch::arena
  std::uint32_t length = 0;
};

/// A range of the stream that holds no record the bridge could read.
struct Gap {
  enum class Kind : std::uint8_t { abandoned, corrupt };
  Kind kind = Kind::abandoned;
  std::uint64_t pos = 0;         ///< first position of the range
  std::uint64_t end = 0;         ///< first position after it
  std::uint32_t producer = ~0u;  ///< slot of the claimant, ~0u if unknown
  std::uint32_t pid = 0;         ///< its pid, 0 if unknown
  std::string reason;
};

/// What one poll() produced: frames in position order, and gaps met on the way.
struct Batch {
  std::vector<Frame> frames;
  std::vector<Gap> gaps;
  std::vector<std::byte> arena;
  std::uint64_t end = 0;  ///< read position after the last frame or gap in this batch

  std::span<const std::byte> payload(const Frame& f) const noexcept {
    return {arena.data() + f.offset, f.length};
  }
  void clear() noexcept {
    frames.clear();
    gaps.clear();
    arena.clear();
  }
};

enum class PollStatus : std::uint8_t {
  ok,         ///< frames or gaps were added (or the ring is simply empty)
  corrupt,    ///< the ring's cursors are inconsistent; nothing can be read safely
  truncated,  ///< the segment was shrunk behind ringlite's back; the batch holds what was
              ///< read intact before that, nothing more can be read
};

namespace detail {
class ConsumerCore;
}

class Consumer {
 public:
  /// Takes the consumer role on `ring` (read-write) unless a live consumer holds it, and
  /// starts reading at `start` (the bridge passes its durable position; kFromHead reads
  /// from the ring's head). Throws Error(busy) naming the live bridge's pid.
  static constexpr std::uint64_t kFromHead = ~0ull;
  explicit Consumer(Ring ring, std::uint64_t start = kFromHead);
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) noexcept;
  ~Consumer();  ///< gives the role up (head stays where it was advanced to)

  /// Appends up to `max_frames` committed frames (and any gaps) to `batch`. Never blocks,
  /// never throws. Unblocks a stuck claim when its claimant is dead, or after the ring's
  /// unblock_timeout; counts it and reports a Gap.
  [[nodiscard]] PollStatus poll(Batch& batch, std::size_t max_frames) noexcept;
  /// Lets producers reuse space up to `pos` (a position poll() returned as batch.end).
  /// Space still held by a stalled, live producer whose claim was abandoned is released
  /// only once that producer has noticed. Wakes producers blocked on a full ring.
  void advance(std::uint64_t pos) noexcept;
  /// Sleeps until a producer commits something or `timeout` passes. Returns true when
  /// there may be data to read.
  bool wait(std::chrono::nanoseconds timeout) noexcept;
  /// Refreshes the heartbeat `ringlite stat` shows.
  void heartbeat() noexcept;
  /// Adds to the ring's count of records the consumer could not store (`ringlite stat`).
  void count_rejects(std::uint64_t n) noexcept;

  std::uint64_t position() const noexcept;  ///< read position
  std::uint64_t head() const noexcept;      ///< the ring's head
  std::uint64_t tail() const noexcept;      ///< the ring's tail
  const Ring& ring() const noexcept;

 private:
  std::unique_ptr<detail::ConsumerCore> core_;
};

}  // namespace ringlite

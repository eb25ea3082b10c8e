// ringlite: live readers (docs/design.md, "Live readers"). A LiveReader maps the ring read-only
// and reads committed frames anywhere in the retained history (the newest `capacity`
// bytes), copying each frame and then checking that nobody overwrote it meanwhile
// (seqlock style). It never writes to the ring, so it can never slow producers or the
// bridge; when producers lap it, it counts the loss and skips ahead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ringlite/ring.hpp"

namespace ringlite {

/// One record copied out of the live ring.
struct LiveRecord {
  std::uint64_t seq = 0;
  std::uint16_t type = 0;
  std::uint32_t producer = 0;
  std::int64_t ts_ns = 0;
  std::vector<std::byte> payload;
};

enum class ReadStatus : std::uint8_t {
  ok,         ///< `out` holds the next record
  empty,      ///< caught up with the producers (or the next frame is still being written)
  corrupt,    ///< the ring's tail is impossible (damaged header): nothing can be read
  truncated,  ///< the ring's segment was shrunk behind ringlite's back: it is gone
};

namespace detail {
class ReaderCore;
}

class LiveReader {
 public:
  /// Opens the configured ring read-only. Throws like Ring::open.
  static LiveReader open(const RingOptions& options);
  /// Reads `ring` (any access mode); starts at the oldest retained record.
  explicit LiveReader(Ring ring);
  LiveReader(LiveReader&&) noexcept;
  LiveReader& operator=(LiveReader&&) noexcept;
  ~LiveReader();

  void seek_oldest() noexcept;  ///< the oldest record still retained
  void seek_head() noexcept;    ///< the oldest record the bridge has not persisted yet
  void seek_tail() noexcept;    ///< only records committed from now on
  /// The first record with seq >= `seq` (the oldest retained one if `seq` is older).
  void seek(std::uint64_t seq) noexcept;

  /// Copies the next committed record into `out`. Never blocks, never throws; steps over
  /// padding, abandoned claims and corrupt frames (counted), and re-seeks when lapped.
  /// Bounded: one call does at most a few laps' worth of work, whatever the ring holds.
  [[nodiscard]] ReadStatus next(LiveRecord& out) noexcept;

  std::uint64_t position() const noexcept;    ///< where next() reads
  std::uint64_t tail() const noexcept;        ///< the ring's tail now
  std::uint64_t laps() const noexcept;        ///< times producers overwrote what we were reading
  std::uint64_t lost_bytes() const noexcept;  ///< stream bytes skipped because of laps
  std::uint64_t corrupt() const noexcept;     ///< corrupt frames stepped over
  const Ring& ring() const noexcept;

 private:
  std::unique_ptr<detail::ReaderCore> core_;
};

}  // namespace ringlite

#include "ringlite/reader.hpp"

#include <atomic>

#include "detail/format.hpp"
#include "detail/ring_state.hpp"

namespace ringlite {
namespace detail {

inline constexpr std::uint64_t kMaxStream = std::uint64_t{1} << 62;
// How often one next() may find itself lapped before it returns (empty) to its caller.
inline constexpr int kMaxLapsPerCall = 4;

class ReaderCore {
 public:
  explicit ReaderCore(Ring ring) : ring_(std::move(ring)), st_(&RingAccess::state(ring_)) {
    start_ = st_->header().start_position;  // validated by Ring::open; never re-read
    buffer_.reserve(st_->max_record());
    seek_from(oldest_start(0));
  }

  ReadStatus next(LiveRecord& out) noexcept;
  void seek_from(std::uint64_t lo) noexcept;
  void seek(std::uint64_t seq) noexcept;
  std::uint64_t tail() const noexcept { return st_->header().tail.load(std::memory_order_acquire); }
  /// A tail a real ring can have: aligned, at or after the start position, and not further
  /// along than any stream could get (2^62 bytes: centuries at memory speed). Anything
  /// else is a damaged header, and positions computed from it could wrap around.
  bool plausible(std::uint64_t t) const noexcept {
    return t % 8 == 0 && t >= start_ && t - start_ <= kMaxStream;
  }
  /// The lowest position still retained, plus `margin` bytes of headroom.
  std::uint64_t oldest_start(std::uint64_t margin) const noexcept {
    const std::uint64_t t = tail();
    if (!plausible(t)) return start_;
    const std::uint64_t cap = st_->capacity();
    const std::uint64_t lo = t - start_ < cap ? start_ : t - cap;
    return std::min(t, lo + margin);
  }

  Ring ring_;
  RingState* st_;
  std::uint64_t start_ = 0;
  std::uint64_t pos_ = 0;
  std::uint64_t laps_ = 0, lost_ = 0, corrupt_ = 0;
  std::vector<std::byte> buffer_;

 private:
  /// Where the frame at `p` ends if it is a committed or abandoned frame, else 0.
  std::uint64_t frame_end(std::uint64_t p, std::uint64_t t) const noexcept;
  void lapped(std::uint64_t t) noexcept {
    ++laps_;
    const std::uint64_t resume = oldest_start(st_->capacity() / 4);
    lost_ += resume > pos_ ? resume - pos_ : 0;
    seek_from(resume);
    (void)t;
  }
};

std::uint64_t ReaderCore::frame_end(std::uint64_t p, std::uint64_t t) const noexcept {
  const std::uint64_t room = st_->room_to_end(p);
  if (room < kFrameHeader) return p + room;
  const std::uint64_t c = st_->commit(p).load(std::memory_order_acquire);
  if (c == commit_word(p, kCommitted)) {
    const FrameFields f = read_fields(*st_, p);
    if (check_frame(*st_, p, f)) return 0;
    return p + frame_size(f.length);
  }
  if (c == commit_word(p, kAbandoned)) {
    const std::uint64_t end = st_->skip_end(p);
    return end > p && end <= t ? end : 0;
  }
  return 0;
}

// Positions are frame boundaries only where the writers put them: find the first
// position >= lo from which a chain of valid frames reaches the next lap boundary (every
// lap boundary is a frame boundary), so we never start in the middle of a frame.
//
// The work is bounded by the distance to that boundary: at most two frame lookups per
// 8-byte word on average. A ring holds a chain from near `lo` (so it is found within a
// frame's length); damaged or hostile memory that looks like many broken chains runs out
// of budget, and the scan settles on the boundary itself.
void ReaderCore::seek_from(std::uint64_t lo) noexcept {
  const std::uint64_t t = tail();
  if (!plausible(t)) return;  // next() reports it
  lo = std::max(align8(std::min(lo, t)), t - std::min(t - start_, st_->capacity()));
  if (lo >= t) {
    pos_ = t;
    return;
  }
  const std::uint64_t boundary =
      std::min(t, (lo & ~st_->mask()) == lo ? lo : (lo | st_->mask()) + 1);
  if (lo == start_ || lo == boundary) {
    pos_ = lo;
    return;
  }
  std::uint64_t budget = 2 * ((boundary - lo) / 8) + 64;
  for (std::uint64_t q = lo; q < boundary && budget > 0; q += 8) {
    std::uint64_t p = q;
    while (p < boundary && budget > 0) {
      --budget;
      const std::uint64_t e = frame_end(p, t);
      if (e == 0) break;
      p = e;
    }
    if (p == boundary) {
      pos_ = q;
      return;
    }
  }
  pos_ = boundary;
}

void ReaderCore::seek(std::uint64_t seq) noexcept {
  // Walk frame headers up to seq, from the start of seq's lap when that is still retained
  // (every lap boundary is a frame boundary), else from the oldest retained frame.
  const std::uint64_t oldest = oldest_start(0);
  const std::uint64_t lap_start = seq & ~st_->mask();
  seek_from(lap_start > oldest ? lap_start : oldest);
  const std::uint64_t t = tail();
  if (!plausible(t)) return;
  if (seq >= t) {
    pos_ = t;
    return;
  }
  while (pos_ < seq && pos_ < t) {
    const std::uint64_t e = frame_end(pos_, t);
    if (e == 0) break;  // in flight or overwritten: next() sorts it out
    pos_ = e;
  }
}

ReadStatus ReaderCore::next(LiveRecord& out) noexcept {
  const std::uint64_t cap = st_->capacity();
  // Every turn either returns, moves pos_ forward (at most one lap: pos_ < tail <= pos_ +
  // capacity), or re-seeks after being lapped, which a call does only a few times.
  int laps = 0;
  for (;;) {
    if (st_->truncated()) return ReadStatus::truncated;
    const std::uint64_t t = tail();
    if (!plausible(t)) return ReadStatus::corrupt;
    if (pos_ >= t) {
      // Behind a tail that went backwards (a re-created ring's, or a damaged one)?
      if (pos_ > t) pos_ = t;
      return ReadStatus::empty;
    }
    if (t - pos_ > cap) {
      if (++laps > kMaxLapsPerCall) return ReadStatus::empty;
      lapped(t);
      continue;
    }
    const std::uint64_t room = st_->room_to_end(pos_);
    if (room < kFrameHeader) {
      pos_ += room;
      continue;
    }
    const std::uint64_t c1 = st_->commit(pos_).load(std::memory_order_acquire);
    if (c1 == commit_word(pos_, kAbandoned)) {
      const std::uint64_t end = st_->skip_end(pos_);
      pos_ = end > pos_ && end <= t ? end : next_boundary(*st_, pos_, t);
      continue;
    }
    if (c1 != commit_word(pos_, kCommitted)) {  // still being written, or its page is gone
      return st_->truncated() ? ReadStatus::truncated : ReadStatus::empty;
    }

    // Copy first, then check nobody overwrote it: the commit word is unchanged and no
    // producer has claimed the space one lap ahead (producers claim before writing).
    const FrameFields f = read_fields(*st_, pos_);
    const std::uint32_t len =
        f.length <= st_->max_record() && frame_size(f.length) <= room ? f.length : 0;
    buffer_.resize(len);
    load_words(buffer_.data(), st_->at(pos_) + kFrameHeader, len);
    std::atomic_thread_fence(std::memory_order_acquire);
    const std::uint64_t c2 = st_->commit(pos_).load(std::memory_order_relaxed);
    const std::uint64_t t2 = st_->header().tail.load(std::memory_order_relaxed);
    if (st_->truncated()) return ReadStatus::truncated;  // the copy may hold zeros
    if (c2 != c1 || t2 > pos_ + cap) {
      if (++laps > kMaxLapsPerCall) return ReadStatus::empty;
      lapped(t2);
      continue;
    }
    if (check_frame(*st_, pos_, f) != nullptr) {
      ++corrupt_;
      pos_ = next_boundary(*st_, pos_, t);
      continue;
    }
    const std::uint64_t seq = pos_;
    pos_ += frame_size(f.length);
    if (f.type == 0) continue;  // padding
    out.seq = seq;
    out.type = f.type;
    out.producer = f.producer;
    out.ts_ns = f.ts_ns;
    out.payload.assign(buffer_.begin(), buffer_.end());
    return ReadStatus::ok;
  }
}

}  // namespace detail

LiveReader LiveReader::open(const RingOptions& options) {
  return LiveReader(Ring::open(options, Ring::Access::read_only));
}
LiveReader::LiveReader(Ring ring) : core_(std::make_unique<detail::ReaderCore>(std::move(ring))) {}
LiveReader::LiveReader(LiveReader&&) noexcept = default;
LiveReader& LiveReader::operator=(LiveReader&&) noexcept = default;
LiveReader::~LiveReader() = default;

void LiveReader::seek_oldest() noexcept { core_->seek_from(core_->oldest_start(0)); }
void LiveReader::seek_head() noexcept {
  const std::uint64_t head = core_->st_->header().head.load(std::memory_order_acquire);
  // A damaged header's head could be anywhere: start from where a frame surely starts.
  if (head % 8 != 0 || !core_->plausible(head)) return core_->seek_from(core_->oldest_start(0));
  core_->pos_ = head;
}
void LiveReader::seek_tail() noexcept { core_->pos_ = core_->tail(); }
void LiveReader::seek(std::uint64_t seq) noexcept { core_->seek(seq); }
ReadStatus LiveReader::next(LiveRecord& out) noexcept { return core_->next(out); }
std::uint64_t LiveReader::position() const noexcept { return core_->pos_; }
std::uint64_t LiveReader::tail() const noexcept { return core_->tail(); }
std::uint64_t LiveReader::laps() const noexcept { return core_->laps_; }
std::uint64_t LiveReader::lost_bytes() const noexcept { return core_->lost_; }
std::uint64_t LiveReader::corrupt() const noexcept { return core_->corrupt_; }
const Ring& LiveReader::ring() const noexcept { return core_->ring_; }

}  // namespace ringlite

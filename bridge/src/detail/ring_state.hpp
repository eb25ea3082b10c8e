// The shared state behind a Ring handle: the mapping, validated geometry (copied out of
// the header once, so later header corruption cannot move a pointer), the record layouts,
// and the word-level accessors every side of the ring uses.
#pragma once

#include <atomic>
#include <cstring>
#include <string>

#include "detail/format.hpp"
#include "platform/platform.hpp"
#include "ringlite/layout.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::detail {

class RingState {
 public:
  RingState(platform::Mapping m, platform::SegmentName name, Layouts layouts,
            std::uint64_t capacity, std::uint64_t data_offset, std::uint32_t max_record,
            std::int64_t unblock_timeout_ns)
      : mapping_(std::move(m)),
        name_(std::move(name)),
        display_(name_.display()),
        layouts_(std::move(layouts)),
        header_(reinterpret_cast<RingHeader*>(mapping_.data())),
        data_(mapping_.data() + data_offset),
        capacity_(capacity),
        mask_(capacity - 1),
        max_record_(max_record),
        unblock_timeout_ns_(unblock_timeout_ns) {}

  RingHeader& header() const noexcept { return *header_; }
  std::byte* data() const noexcept { return data_; }
  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint64_t mask() const noexcept { return mask_; }
  std::uint32_t max_record() const noexcept { return max_record_; }
  std::int64_t unblock_timeout_ns() const noexcept { return unblock_timeout_ns_; }
  const Layouts& layouts() const noexcept { return layouts_; }
  const platform::SegmentName& name() const noexcept { return name_; }
  const std::string& display() const noexcept { return display_; }
  bool writable() const noexcept { return mapping_.writable(); }
  /// The segment was found shrunk behind our back (see platform::Mapping): stop using it.
  bool truncated() const noexcept { return mapping_.truncated(); }
  /// Looks at the segment's size again (one fstat); true if it is truncated.
  bool check_truncated() noexcept {
    return mapping_.check_size() < mapping_.size() || mapping_.truncated();
  }
  /// "ring segment truncated (N of M bytes left)": how readers and the bridge report it.
  std::string truncation() noexcept {
    return "ring segment truncated (" + std::to_string(mapping_.check_size()) + " of " +
           std::to_string(mapping_.size()) + " bytes left: it was shrunk behind ringlite's back)";
  }
  const platform::Mapping& mapping() const noexcept { return mapping_; }

  /// Bytes from `pos` to the end of the buffer.
  std::uint64_t room_to_end(std::uint64_t pos) const noexcept { return capacity_ - (pos & mask_); }
  /// The 8-byte word at byte offset `delta` of the frame at `pos` (pos 8-aligned,
  /// delta + 8 <= room_to_end(pos)).
  std::atomic_ref<std::uint64_t> word(std::uint64_t pos, std::uint64_t delta = 0) const noexcept {
    return std::atomic_ref<std::uint64_t>(
        *reinterpret_cast<std::uint64_t*>(data_ + ((pos & mask_) + delta)));
  }
  std::atomic_ref<std::uint64_t> commit(std::uint64_t pos) const noexcept { return word(pos, 0); }
  std::byte* at(std::uint64_t pos) const noexcept { return data_ + (pos & mask_); }

  ProducerSlot& slot(std::uint32_t i) const noexcept { return header_->producers[i]; }
  HoleEntry& hole(std::uint32_t i) const noexcept { return header_->hole_table[i]; }

  /// The end of a hole that [r, r + fs) overlaps or ends too close before, or 0.
  std::uint64_t blocking_hole_end(std::uint64_t r, std::uint64_t fs) const noexcept {
    const std::uint64_t off = r & mask_;
    for (const auto& e : header_->hole_table) {
      const std::uint64_t p = e.pos.load(std::memory_order_acquire);
      if (p == kNoClaim) continue;
      const std::uint64_t end = e.end.load(std::memory_order_relaxed);
      const bool hold = (e.slot.load(std::memory_order_relaxed) & kHold) != 0;
      std::uint64_t o = 0, len = 0;
      if (hold || e.pos.load(std::memory_order_acquire) != p || !hole_span(p, end, o, len))
        continue;
      if (off < o + len && off + fs + kHoleMargin > o) return r - off + o + len;
    }
    return 0;
  }

  /// The buffer offsets [o, o + len) of a hole entry's claim, if the entry describes one
  /// the protocol can produce: inside one lap, not at a lap start, leaving room for frames
  /// around it. Entries are untrusted shared memory; anything else is ignored.
  bool hole_span(std::uint64_t pos, std::uint64_t end, std::uint64_t& o,
                 std::uint64_t& len) const noexcept {
    if (pos == kNoClaim || pos % 8 != 0 || end <= pos || end - pos > capacity_ - 2 * kHoleMargin)
      return false;
    o = pos & mask_;
    len = end - pos;
    return o >= kHoleMargin && o + len <= capacity_;
  }
  /// Where the hole that a record frame at [r, r + fs) would run into ends, or 0 when no
  /// hole is in the way (the producer then covers [r, that end) with padding instead).
  /// No frame may end within kHoleMargin bytes before a hole, so that no later frame's
  /// header lies inside it: the padding is stretched over every hole its end would be too
  /// close to (at most kMaxHoles of them), and it stays inside the lap.
  std::uint64_t hole_end(std::uint64_t r, std::uint64_t fs) const noexcept {
    std::uint64_t end = blocking_hole_end(r, fs);
    if (end == 0) return 0;
    for (std::uint32_t k = 0; k < kMaxHoles; ++k) {
      const std::uint64_t next = blocking_hole_end(end, 0);
      if (next == 0) break;
      end = next;
    }
    return end;
  }

  /// Looks up the skip table: where the range the consumer skipped at `pos` ends, or 0.
  std::uint64_t skip_end(std::uint64_t pos) const noexcept {
    for (auto& s : header_->skips) {
      if (s.pos.load(std::memory_order_acquire) == pos) {
        const auto end = s.end.load(std::memory_order_acquire);
        if (s.pos.load(std::memory_order_acquire) == pos && end > pos) return end;
      }
    }
    return 0;
  }

 private:
  platform::Mapping mapping_;
  platform::SegmentName name_;
  std::string display_;
  Layouts layouts_;
  RingHeader* header_;
  std::byte* data_;
  std::uint64_t capacity_;
  std::uint64_t mask_;
  std::uint32_t max_record_;
  std::int64_t unblock_timeout_ns_;
};

/// How Producer, Consumer and LiveReader (all in core) reach the state behind a Ring: the
/// only way in, so that nothing public hands out a detail type.
struct RingAccess {
  static RingState& state(const Ring& ring) noexcept { return *ring.state_; }
};

/// Copies `n` bytes into ring memory at `dst` (8-aligned) with relaxed atomic word stores,
/// zero-padding the last word: live readers may read these words concurrently (seqlock
/// style) and must see whole words, never a torn compiler-generated memcpy.
inline void store_words(std::byte* dst, const void* src, std::size_t n) noexcept {
  auto* d = reinterpret_cast<std::uint64_t*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s + i, 8);
    std::atomic_ref<std::uint64_t>(d[i / 8]).store(w, std::memory_order_relaxed);
  }
  if (i < n) {
    std::uint64_t w = 0;
    std::memcpy(&w, s + i, n - i);
    std::atomic_ref<std::uint64_t>(d[i / 8]).store(w, std::memory_order_relaxed);
  }
}

/// The reading side of store_words: copies align8(n) bytes out of ring memory.
inline void load_words(void* dst, const std::byte* src, std::size_t n) noexcept {
  const auto* s = reinterpret_cast<const std::uint64_t*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w =
        std::atomic_ref<const std::uint64_t>(s[i / 8]).load(std::memory_order_relaxed);
    std::memcpy(d + i, &w, 8);
  }
  if (i < n) {
    const std::uint64_t w =
        std::atomic_ref<const std::uint64_t>(s[i / 8]).load(std::memory_order_relaxed);
    std::memcpy(d + i, &w, n - i);
  }
}

/// The frame header fields, decoded from the two middle words and ts word.
struct FrameFields {
  std::uint32_t length = 0;
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint32_t producer = 0;
  std::int64_t ts_ns = 0;
};

inline FrameFields read_fields(const RingState& r, std::uint64_t pos) noexcept {
  const std::uint64_t w1 = r.word(pos, 8).load(std::memory_order_relaxed);
  const std::uint64_t w2 = r.word(pos, 16).load(std::memory_order_relaxed);
  const std::uint64_t w3 = r.word(pos, 24).load(std::memory_order_relaxed);
  FrameFields f;
  f.length = static_cast<std::uint32_t>(w1);
  f.type = static_cast<std::uint16_t>(w1 >> 32);
  f.flags = static_cast<std::uint16_t>(w1 >> 48);
  f.producer = static_cast<std::uint32_t>(w2);
  f.ts_ns = static_cast<std::int64_t>(w3);
  return f;
}

inline void write_fields(const RingState& r, std::uint64_t pos, const FrameFields& f) noexcept {
  const std::uint64_t w1 =
      std::uint64_t{f.length} | (std::uint64_t{f.type} << 32) | (std::uint64_t{f.flags} << 48);
  r.word(pos, 8).store(w1, std::memory_order_relaxed);
  r.word(pos, 16).store(std::uint64_t{f.producer}, std::memory_order_relaxed);
  r.word(pos, 24).store(static_cast<std::uint64_t>(f.ts_ns), std::memory_order_relaxed);
}

/// Why a committed frame's header cannot be trusted, or nullptr when it is sane: length
/// within max_record and inside the buffer, a known type (or padding that ends exactly at
/// the buffer end), a producer slot that exists.
const char* check_frame(const RingState& r, std::uint64_t pos, const FrameFields& f) noexcept;

/// The first position after `from` where a frame plausibly starts, at most `limit`: the
/// next lap boundary, a claim some producer announced, or a word that says committed or
/// abandoned at its own position. Used to step over corrupt or unknown bytes.
std::uint64_t next_boundary(const RingState& r, std::uint64_t from, std::uint64_t limit) noexcept;

}  // namespace ringlite::detail

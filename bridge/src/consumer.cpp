#include "ringlite/consumer.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "detail/clock.hpp"
#include "detail/format.hpp"
#include "detail/ring_state.hpp"
#include "platform/platform.hpp"
#include "ringlite/error.hpp"

namespace ringlite {
namespace detail {
namespace {

bool owner_alive(std::uint64_t owner) noexcept {
  return owner != 0 && platform::process_alive(owner_pid(owner), owner_token(owner));
}

// How often a stuck claim's owner is looked up in /proc (the lookup costs a few µs).
constexpr std::int64_t kLivenessCheckNs = 5'000'000;
// How often an idle consumer checks that the segment still has its size (an fstat).
constexpr std::int64_t kSizeCheckNs = 100'000'000;

}  // namespace

class ConsumerCore {
 public:
  ConsumerCore(Ring ring, std::uint64_t start)
      : ring_(std::move(ring)),
        st_(&RingAccess::state(ring_)),
        clock_(st_->header().clock, stamps_from_tsc()) {
    if (!st_->writable())
      throw Error(Errc::usage, fmt::format("cannot consume {}: opened read-only", st_->display()));
    take_role();
    auto& h = st_->header();
    const auto head = h.head.load(std::memory_order_acquire);
    const auto tail = h.tail.load(std::memory_order_acquire);
    // The bridge's durable position may be ahead of head (it crashed between COMMIT and
    // advancing head); it can never be outside [head, tail] for the same ring.
    if (tail < head || tail - head > st_->capacity()) {
      throw Error(
          Errc::corrupt,
          fmt::format("cannot drain {}: its cursors contradict each other (head {}, tail {})",
                      st_->display(), head, tail));
    }
    pos_ = start == Consumer::kFromHead ? head : std::clamp(align8(start), head, tail);
    h.bridge_position.store(pos_, std::memory_order_relaxed);
    // The skip table is a circle: go on after the newest entry a bridge before us left.
    std::uint64_t newest = 0;
    for (std::uint32_t i = 0; i < kMaxSkips; ++i) {
      const auto p = h.skips[i].pos.load(std::memory_order_acquire);
      if (p != kNoClaim && p >= newest) {
        newest = p;
        next_skip_ = i + 1;
      }
    }
    heartbeat();
  }

  ~ConsumerCore() {
    auto& h = st_->header();
    std::uint64_t expected = me_;
    h.bridge_owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  }

  PollStatus poll(Batch& b, std::size_t max_frames) noexcept;
  void advance(std::uint64_t pos) noexcept;
  bool wait(std::chrono::nanoseconds timeout) noexcept;
  void heartbeat() noexcept {
    st_->header().bridge_heartbeat_ns.store(platform::realtime_ns(), std::memory_order_relaxed);
  }

  Ring ring_;
  RingState* st_;
  // Refreshes the ring's shared clock calibration when the consumer goes idle and it is
  // due, so that producers coming back from a pause find it fresh ("Timestamps").
  StampClock clock_;
  std::uint64_t pos_ = 0;

 private:
  struct Claim {
    std::uint32_t slot = ~0u;
    std::uint64_t owner = 0;
    std::uint64_t pos = 0, len = 0;
    bool alive = false;
  };
  /// The announced claims that may hold a stuck frame: those that start there (or, at a lap
  /// start, wrap into it). Normally one; a producer whose CAS on tail lost may leave a stale
  /// announcement of the same start beside the winner's for a moment.
  struct Claimants {
    Claim list[kMaxProducers];
    std::uint32_t count = 0;
    std::uint32_t alive = 0;
  };

  void take_role();
  void claimants(std::uint64_t pos, Claimants& out) const noexcept;
  bool plausible_end(std::uint64_t end, std::uint64_t tail) const noexcept;
  bool frame_ready(std::uint64_t p) const noexcept;
  bool unblock(Batch& b, std::uint64_t c, std::uint64_t tail) noexcept;
  void skip_corrupt(Batch& b, std::uint64_t tail, const char* why) noexcept;
  std::uint32_t free_entries() const noexcept;
  bool fence(const Claim& c) noexcept;
  std::uint64_t lift_and_hold(std::uint64_t limit) noexcept;

  std::uint64_t me_ = 0;
  std::uint64_t stuck_pos_ = kNoClaim;
  std::int64_t stuck_since_ = 0;
  std::int64_t last_liveness_check_ = 0;
  std::int64_t last_size_check_ = 0;
  std::int64_t last_fence_check_ = 0;
  std::uint32_t next_skip_ = 0;
};

void ConsumerCore::take_role() {
  auto& h = st_->header();
  const auto pid = platform::current_pid();
  me_ = make_owner(pid, platform::process_start_token(pid));
  std::uint64_t owner = h.bridge_owner.load(std::memory_order_acquire);
  for (;;) {
    if (owner == me_ || (owner != 0 && owner_alive(owner))) {
      throw Error(Errc::busy, fmt::format("cannot drain {}: another bridge (pid {}) is draining it",
                                          st_->display(), owner_pid(owner)));
    }
    if (h.bridge_owner.compare_exchange_weak(owner, me_, std::memory_order_acq_rel)) return;
  }
}

void ConsumerCore::claimants(std::uint64_t pos, Claimants& out) const noexcept {
  // Announcements are (len, pos) pairs written without a lock; read pos twice around len.
  out.count = 0;
  out.alive = 0;
  const bool lap_start = (pos & st_->mask()) == 0;
  for (std::uint32_t i = 0; i < kMaxProducers; ++i) {
    const auto& s = st_->slot(i);
    const auto p1 = s.pending_pos.load(std::memory_order_acquire);
    if (p1 == kNoClaim) continue;
    const auto len = s.pending_len.load(std::memory_order_acquire);
    if (s.pending_pos.load(std::memory_order_acquire) != p1) continue;
    if (len > st_->capacity() || pos < p1 || pos - p1 >= len) continue;
    // A claim's first frame starts it; only a claim that wraps has a second (at a lap start).
    if (p1 != pos && !(lap_start && (p1 | st_->mask()) + 1 == pos)) continue;
    Claim& c = out.list[out.count++];
    c = Claim{i, s.owner.load(std::memory_order_acquire), p1, len, false};
    c.alive = owner_alive(c.owner);
    out.alive += c.alive ? 1 : 0;
  }
}

// True when a frame plausibly starts at `end`: the claim that ends there is then a real one,
// not the stale announcement of a producer whose CAS on tail lost.
bool ConsumerCore::plausible_end(std::uint64_t end, std::uint64_t tail) const noexcept {
  if (end <= pos_ || end > tail) return false;
  if (end == tail || st_->room_to_end(end) < kFrameHeader) return true;
  const auto c = st_->commit(end).load(std::memory_order_acquire);
  if (c == commit_word(end, kCommitted) || c == commit_word(end, kAbandoned)) return true;
  for (std::uint32_t i = 0; i < kMaxProducers; ++i) {
    if (st_->slot(i).pending_pos.load(std::memory_order_acquire) == end) return true;
  }
  return false;
}

void ConsumerCore::skip_corrupt(Batch& b, std::uint64_t tail, const char* why) noexcept {
  const auto end = next_boundary(*st_, pos_, tail);
  b.gaps.push_back(Gap{Gap::Kind::corrupt, pos_, end, ~0u, 0, why});
  st_->header().corrupt_skips.fetch_add(1, std::memory_order_relaxed);
  pos_ = end;
}

// The frame at pos_ is claimed but not committed. Gives it up when its claimant is dead,
// or when it has stayed uncommitted for unblock_timeout. Returns true if pos_ moved (or
// the frame changed and should be looked at again).
bool ConsumerCore::unblock(Batch& b, std::uint64_t c, std::uint64_t tail) noexcept {
  const auto now = platform::monotonic_ns();
  if (stuck_pos_ != pos_) {
    // Most frames found uncommitted are simply being written right now: look the
    // claimant up only once the frame has stayed uncommitted for a while.
    stuck_pos_ = pos_;
    stuck_since_ = now;
    last_liveness_check_ = now;
  }
  const bool timed_out = now - stuck_since_ >= st_->unblock_timeout_ns();
  if (!timed_out && now - last_liveness_check_ < kLivenessCheckNs) return false;
  last_liveness_check_ = now;
  Claimants who;
  claimants(pos_, who);
  if (!timed_out && (who.count == 0 || who.alive != 0)) return false;
  // Every live claimant may still store into its claim: it must be fenced off before the
  // frame is given up. No room in the hole table (16 producers stalled at once): wait.
  if (who.alive > free_entries()) return false;

  // Where the abandoned range ends: the shortest claim whose end is a frame boundary (never
  // skip a committed frame), else the next boundary found in the buffer.
  std::uint64_t end = 0;
  for (std::uint32_t k = 0; k < who.count; ++k) {
    const auto e = who.list[k].pos + who.list[k].len;
    if (plausible_end(e, tail) && (end == 0 || e < end)) end = e;
  }
  if (end <= pos_ || end > tail) end = next_boundary(*st_, pos_, tail);
  // Fence every live claimant's claim off first: a bridge that dies right after marking
  // the frame must leave the fence behind (a restarted one only steps over the mark). Should
  // the frame commit meanwhile, its producer withdraws the claim and the fence is lifted.
  bool held = false;
  for (std::uint32_t k = 0; k < who.count; ++k) {
    if (who.list[k].alive && !fence(who.list[k])) held = true;
  }
  // Publish where the skipped range ends before marking it, so that whoever meets the
  // abandoned mark (a restarted bridge, a live reader) can step over it.
  auto& h = st_->header();
  auto& skip = h.skips[next_skip_++ % kMaxSkips];
  skip.pos.store(kNoClaim, std::memory_order_relaxed);
  skip.end.store(end, std::memory_order_relaxed);
  skip.pos.store(pos_, std::memory_order_release);
  if (!st_->commit(pos_).compare_exchange_strong(c, commit_word(pos_, kAbandoned)))
    return true;  // it committed

  h.unblocked.fetch_add(1, std::memory_order_relaxed);
  for (std::uint32_t k = 0; k < who.count; ++k) {
    const Claim& cl = who.list[k];
    if (!cl.alive) {  // its row can be reused once its claim is resolved
      auto expected = cl.pos;
      st_->slot(cl.slot).pending_pos.compare_exchange_strong(expected, kNoClaim);
    }
  }
  const Claim blame = who.count ? who.list[0] : Claim{};
  Gap g{Gap::Kind::abandoned, pos_, end, blame.slot, owner_pid(blame.owner), {}};
  if (blame.slot == ~0u) {
    g.reason = "claim not committed within unblock_timeout; claimant unknown";
  } else if (who.alive == 0) {
    g.reason = fmt::format("producer pid {} died between claim and commit", g.pid);
  } else {
    g.reason = fmt::format(
        "producer pid {} stalled past unblock_timeout between claim and commit ({})", g.pid,
        held ? "its space is held until it continues or dies: its claim starts a lap"
             : "its claim is fenced off as a hole");
  }
  b.gaps.push_back(std::move(g));
  pos_ = end;
  stuck_pos_ = kNoClaim;
  return true;
}

std::uint32_t ConsumerCore::free_entries() const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < kMaxHoles; ++i)
    n += st_->hole(i).pos.load(std::memory_order_acquire) == kNoClaim;
  return n;
}

// Lists a live claimant's abandoned claim in the hole table: as a hole, which producers pad
// over, or, when it starts a lap or wraps (it cannot be a hole), as a hold, at which
// advance() keeps head. Returns true for a hole. The caller made sure there is room.
bool ConsumerCore::fence(const Claim& c) noexcept {
  std::uint64_t o = 0, len = 0;
  const bool hole = st_->hole_span(c.pos, c.pos + c.len, o, len);
  for (std::uint32_t i = 0; i < kMaxHoles; ++i) {  // already fenced (by a bridge before us)?
    const auto& e = st_->hole(i);
    if (e.pos.load(std::memory_order_acquire) == c.pos &&
        static_cast<std::uint32_t>(e.slot.load()) == c.slot) {
      return (e.slot.load() & kHold) == 0;
    }
  }
  for (std::uint32_t i = 0; i < kMaxHoles; ++i) {
    auto& e = st_->hole(i);
    if (e.pos.load(std::memory_order_acquire) != kNoClaim) continue;
    e.slot.store(c.slot | (hole ? 0 : kHold), std::memory_order_relaxed);
    e.end.store(c.pos + c.len, std::memory_order_relaxed);
    e.pos.store(c.pos, std::memory_order_release);
    if (hole) st_->header().holes.fetch_add(1, std::memory_order_release);
    return hole;
  }
  return false;
}

// Lifts the entries whose producer has withdrawn the claim (it noticed the abandonment) or
// died: it cannot store there any more. Returns `limit` lowered to the first hold at or
// beyond head, and repairs the holes count should it disagree with the table (shared
// memory: anyone may have written it).
std::uint64_t ConsumerCore::lift_and_hold(std::uint64_t limit) noexcept {
  auto& h = st_->header();
  const std::uint64_t head = h.head.load(std::memory_order_acquire);
  // Liveness costs a /proc lookup: look at most every kLivenessCheckNs.
  const auto now = platform::monotonic_ns();
  const bool look = now - last_fence_check_ >= kLivenessCheckNs;
  if (look) last_fence_check_ = now;
  std::uint32_t holes = 0;
  for (std::uint32_t i = 0; i < kMaxHoles; ++i) {
    auto& e = st_->hole(i);
    const std::uint64_t p = e.pos.load(std::memory_order_acquire);
    if (p == kNoClaim) continue;
    const std::uint64_t word = e.slot.load(std::memory_order_relaxed);
    const auto slot = static_cast<std::uint32_t>(word);
    const bool keep = slot < kMaxProducers &&
                      st_->slot(slot).pending_pos.load(std::memory_order_acquire) == p &&
                      (!look || owner_alive(st_->slot(slot).owner.load(std::memory_order_acquire)));
    if (!keep) {
      e.pos.store(kNoClaim, std::memory_order_release);
    } else if ((word & kHold) == 0) {
      ++holes;
    } else if (e.end.load(std::memory_order_relaxed) > head) {
      // A claim that wraps starts before the lap start where its record sits, and head
      // may already be at that lap start: it stays there.
      limit = std::min(limit, std::max(p, head));
    }
  }
  if (h.holes.load(std::memory_order_relaxed) != holes)
    h.holes.store(holes, std::memory_order_release);
  return limit;
}

PollStatus ConsumerCore::poll(Batch& b, std::size_t max_frames) noexcept {
  if (st_->truncated()) return PollStatus::truncated;
  auto& h = st_->header();
  const std::uint64_t tail = h.tail.load(std::memory_order_acquire);
  const std::uint64_t cap = st_->capacity();
  if (tail < pos_ || tail - pos_ > cap) return PollStatus::corrupt;
  std::size_t n = 0;
  while (n < max_frames && pos_ < tail) {
    const std::uint64_t room = st_->room_to_end(pos_);
    if (room < kFrameHeader) {  // implicit pad
      pos_ += room;
      continue;
    }
    std::uint64_t c = st_->commit(pos_).load(std::memory_order_acquire);
    if (c == commit_word(pos_, kCommitted)) {
      const FrameFields f = read_fields(*st_, pos_);
      const char* why = check_frame(*st_, pos_, f);
      if (!why && pos_ + frame_size(f.length) > tail) why = "frame extends past tail";
      if (why) {
        skip_corrupt(b, tail, why);
        continue;
      }
      if (f.type != 0) {
        // Copy out of shared memory: decoding must see bytes nobody can change under it.
        const auto off = b.arena.size();
        b.arena.resize(off + f.length);
        std::memcpy(b.arena.data() + off, st_->at(pos_) + kFrameHeader, f.length);
        if (st_->truncated()) {  // this copy may have read the zeros that replaced lost pages
          b.arena.resize(off);
          b.end = pos_;
          return PollStatus::truncated;
        }
        b.frames.push_back(
            Frame{pos_, f.type, f.producer, f.ts_ns, static_cast<std::uint32_t>(off), f.length});
        ++n;
      }
      pos_ += frame_size(f.length);
      stuck_pos_ = kNoClaim;
    } else if (c == commit_word(pos_, kAbandoned)) {
      // Given up earlier (by us before a restart): step over it again and re-report it.
      std::uint64_t end = st_->skip_end(pos_);
      if (end <= pos_ || end > tail) end = next_boundary(*st_, pos_, tail);
      b.gaps.push_back(Gap{Gap::Kind::abandoned, pos_, end, ~0u, 0, "claim abandoned earlier"});
      pos_ = end;
    } else if (!unblock(b, c, tail)) {
      break;  // in flight: the producer is still writing it
    }
  }
  b.end = pos_;
  h.consumed.fetch_add(n, std::memory_order_relaxed);
  h.bridge_position.store(pos_, std::memory_order_relaxed);
  // A lost page reads as zeros: uncommitted, so the loop above stopped there.
  return st_->truncated() ? PollStatus::truncated : PollStatus::ok;
}

void ConsumerCore::advance(std::uint64_t pos) noexcept {
  auto& h = st_->header();
  const std::uint64_t head = h.head.load(std::memory_order_acquire);
  // Everything behind the read position was read and committed, or given up. A claim given
  // up whose producer lives may still be stored into: a hole lets head pass it (producers
  // pad over it), a hold does not (format.hpp, "Stalled producers").
  const std::uint64_t limit = lift_and_hold(std::min(pos, pos_));
  if (limit <= head) return;
  h.head.store(limit, std::memory_order_seq_cst);
  h.space_seq.fetch_add(1, std::memory_order_seq_cst);
  if (h.space_waiters.load(std::memory_order_seq_cst) != 0)
    platform::futex_wake(&h.space_seq, 1 << 30);
}

// The next frame to read is committed or abandoned: poll() has something to do.
bool ConsumerCore::frame_ready(std::uint64_t p) const noexcept {
  const auto c = st_->commit(p).load(std::memory_order_seq_cst);
  return c == commit_word(p, kCommitted) || c == commit_word(p, kAbandoned);
}

bool ConsumerCore::wait(std::chrono::nanoseconds timeout) noexcept {
  auto& h = st_->header();
  std::uint64_t p = pos_;
  if (st_->room_to_end(p) < kFrameHeader) p += st_->room_to_end(p);
  if (frame_ready(p)) return true;
  if (clock_.uses_tsc()) (void)clock_.now();  // a compare, unless a refresh is due
  // Nap briefly before announcing that we sleep: while a producer is mid-burst its next
  // records arrive within microseconds, and as long as we do not announce sleeping its
  // commits skip the futex_wake system call (1-5 µs each, the cause of most slow writes).
  // We do not spin instead: a consumer reading the frame next to the one being written
  // bounces that cache line on every record and costs the producer more than the wakeup.
  const auto nap = std::min<std::chrono::nanoseconds>(timeout, std::chrono::microseconds(50));
  if (nap.count() > 0) {
    std::this_thread::sleep_for(nap);
    if (frame_ready(p)) return true;
    timeout -= nap;
  }
  // Idle is when a truncated segment could go unnoticed (nothing touches the lost part):
  // before sleeping, at most every kSizeCheckNs, one fstat; poll() then reports it.
  if (const auto now = platform::monotonic_ns(); now - last_size_check_ >= kSizeCheckNs) {
    last_size_check_ = now;
    if (st_->check_truncated()) return true;
  }
  h.consumer_sleeping.store(1, std::memory_order_seq_cst);
  const std::uint64_t tail = h.tail.load(std::memory_order_seq_cst);
  if (tail > p) {
    if (frame_ready(p)) {
      h.consumer_sleeping.store(0, std::memory_order_relaxed);
      return true;
    }
    // Claimed but not committed: its producer wakes us on commit; if it died, nobody
    // will, so come back soon to unblock it.
    timeout = std::min<std::chrono::nanoseconds>(timeout, std::chrono::milliseconds(5));
  }
  platform::futex_wait(&h.consumer_sleeping, 1, timeout);
  h.consumer_sleeping.store(0, std::memory_order_relaxed);
  return h.tail.load(std::memory_order_acquire) > pos_;
}

}  // namespace detail

Consumer::Consumer(Ring ring, std::uint64_t start)
    : core_(std::make_unique<detail::ConsumerCore>(std::move(ring), start)) {}
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;
Consumer::~Consumer() = default;

PollStatus Consumer::poll(Batch& batch, std::size_t max_frames) noexcept {
  return core_->poll(batch, max_frames);
}
void Consumer::advance(std::uint64_t pos) noexcept { core_->advance(pos); }
bool Consumer::wait(std::chrono::nanoseconds timeout) noexcept { return core_->wait(timeout); }
void Consumer::heartbeat() noexcept { core_->heartbeat(); }
void Consumer::count_rejects(std::uint64_t n) noexcept {
  core_->st_->header().rejects.fetch_add(n, std::memory_order_relaxed);
}
std::uint64_t Consumer::position() const noexcept { return core_->pos_; }
std::uint64_t Consumer::head() const noexcept {
  return core_->st_->header().head.load(std::memory_order_acquire);
}
std::uint64_t Consumer::tail() const noexcept {
  return core_->st_->header().tail.load(std::memory_order_acquire);
}
const Ring& Consumer::ring() const noexcept { return core_->ring_; }

}  // namespace ringlite

#include "ringlite/consumer.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <thread>

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
  ConsumerCore(Ring ring, std::uint64_t start) : ring_(std::move(ring)), st_(ring_.state().get()) {
    if (!st_->writable()) throw Error(Errc::usage, fmt::format("cannot consume {}: opened read-only", st_->display()));
    take_role();
    auto& h = st_->header();
    const auto head = h.head.load(std::memory_order_acquire);
    const auto tail = h.tail.load(std::memory_order_acquire);
    // The bridge's durable position may be ahead of head (it crashed between COMMIT and
    // advancing head); it can never be outside [head, tail] for the same ring.
    if (tail < head || tail - head > st_->capacity()) {
      throw Error(Errc::corrupt, fmt::format("cannot drain {}: its cursors contradict each other (head {}, tail {})",
                                             st_->display(), head, tail));
    }
    pos_ = start == Consumer::kFromHead ? head : std::clamp(align8(start), head, tail);
    h.bridge_position.store(pos_, std::memory_order_relaxed);
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
  std::uint64_t pos_ = 0;

 private:
  struct Claim {
    std::uint32_t slot = ~0u;
    std::uint64_t owner = 0;
    std::uint64_t pos = 0, len = 0;
    bool writing = false;  // the claimant had permission to write (kWriting)
  };
  /// The announced claims that cover a stuck position. Normally one; a producer whose CAS
  /// on tail lost may leave a stale announcement beside the winner's for a moment.
  struct Claimants {
    Claim list[kMaxProducers];
    std::uint32_t count = 0;
    bool any_alive = false;
  };

  void take_role();
  void claimants(std::uint64_t pos, Claimants& out) const noexcept;
  bool plausible_end(std::uint64_t end, std::uint64_t tail) const noexcept;
  bool claim_finished(std::uint64_t pos, std::uint64_t len) const noexcept;
  bool frame_ready(std::uint64_t p) const noexcept;
  bool unblock(Batch& b, std::uint64_t c, std::uint64_t tail) noexcept;
  void skip_corrupt(Batch& b, std::uint64_t tail, const char* why) noexcept;
  bool add_hole(const Claim& c) noexcept;
  bool has_hole(std::uint32_t slot, std::uint64_t pos) const noexcept;
  void lift_holes() noexcept;

  std::uint64_t me_ = 0;
  std::uint64_t stuck_pos_ = kNoClaim;
  std::int64_t stuck_since_ = 0;
  std::int64_t last_liveness_check_ = 0;
  std::int64_t last_size_check_ = 0;
  std::uint32_t next_skip_ = 0;
};

void ConsumerCore::take_role() {
  auto& h = st_->header();
  const auto pid = platform::current_pid();
  me_ = make_owner(pid, platform::process_start_token(pid));
  std::uint64_t owner = h.bridge_owner.load(std::memory_order_acquire);
  for (;;) {
    if (owner == me_ || (owner != 0 && owner_alive(owner))) {
      throw Error(Errc::busy, fmt::format("cannot drain {}: another bridge (pid {}) is draining it", st_->display(),
                                          owner_pid(owner)));
    }
    if (h.bridge_owner.compare_exchange_weak(owner, me_, std::memory_order_acq_rel)) return;
  }
}

void ConsumerCore::claimants(std::uint64_t pos, Claimants& out) const noexcept {
  // Announcements are (len, pos) pairs written without a lock; read pos twice around len.
  out.count = 0;
  out.any_alive = false;
  for (std::uint32_t i = 0; i < kMaxProducers; ++i) {
    const auto& s = st_->slot(i);
    const auto raw = s.pending_pos.load(std::memory_order_acquire);
    if (raw == kNoClaim) continue;
    const auto len = s.pending_len.load(std::memory_order_acquire);
    if (s.pending_pos.load(std::memory_order_acquire) != raw) continue;
    const auto p1 = claim_pos(raw);
    if (pos < p1 || len > st_->capacity() || pos - p1 >= len) continue;
    Claim& c = out.list[out.count++];
    c = Claim{i, s.owner.load(std::memory_order_acquire), p1, len, (raw & kWriting) != 0};
    out.any_alive = out.any_alive || owner_alive(c.owner);
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
    if (claim_pos(st_->slot(i).pending_pos.load(std::memory_order_acquire)) == end) return true;
  }
  return false;
}

// True when every frame of the claim [pos, pos + len) is committed: its producer has
// finished with it and merely not yet withdrawn the announcement.
bool ConsumerCore::claim_finished(std::uint64_t pos, std::uint64_t len) const noexcept {
  const std::uint64_t end = pos + len;
  std::uint64_t q = pos;
  while (q < end) {
    const std::uint64_t room = st_->room_to_end(q);
    if (room < kFrameHeader) {  // implicit pad
      q += room;
      continue;
    }
    if (st_->commit(q).load(std::memory_order_acquire) != commit_word(q, kCommitted)) return false;
    const std::uint64_t fs = frame_size(read_fields(*st_, q).length);
    if (fs > end - q) return false;  // not a frame of this claim
    q += fs;
  }
  return q == end;
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
  if (!timed_out && (who.count == 0 || who.any_alive)) return false;

  // Revoke every announcement that covers pos_ and has no permission to write yet: a
  // winner that stalled before writing then never writes (its CAS fails), and a loser's
  // stale announcement was never going to. Only the winner can be writing.
  const Claim* writer = nullptr;
  for (std::uint32_t k = 0; k < who.count; ++k) {
    Claim& cl = who.list[k];
    std::uint64_t expected = cl.pos;
    if (!cl.writing && !st_->slot(cl.slot).pending_pos.compare_exchange_strong(expected, kNoClaim)) {
      cl.writing = expected == (cl.pos | kWriting);  // it started writing meanwhile
    }
    if (cl.writing) writer = &cl;
  }
  // Where the abandoned range ends: the writer's claim, else the shortest announced claim
  // whose end is a frame boundary (never skip a committed frame), else the next boundary.
  std::uint64_t end = 0;
  if (writer) {
    end = writer->pos + writer->len;
  } else {
    for (std::uint32_t k = 0; k < who.count; ++k) {
      const auto e = who.list[k].pos + who.list[k].len;
      if (plausible_end(e, tail) && (end == 0 || e < end)) end = e;
    }
  }
  if (end <= pos_ || end > tail) end = next_boundary(*st_, pos_, tail);
  // Publish where the skipped range ends before marking it, so that whoever meets the
  // abandoned mark (a restarted bridge, a live reader) can step over it.
  auto& h = st_->header();
  auto& skip = h.skips[next_skip_++ % kMaxSkips];
  skip.pos.store(kNoClaim, std::memory_order_relaxed);
  skip.end.store(end, std::memory_order_relaxed);
  skip.pos.store(pos_, std::memory_order_release);
  if (!st_->commit(pos_).compare_exchange_strong(c, commit_word(pos_, kAbandoned))) return true;  // it committed

  h.unblocked.fetch_add(1, std::memory_order_relaxed);
  const Claim blame = writer ? *writer : who.count ? who.list[0] : Claim{};
  const bool alive = blame.slot != ~0u && owner_alive(blame.owner);
  Gap g{Gap::Kind::abandoned, pos_, end, blame.slot, owner_pid(blame.owner), {}};
  if (blame.slot == ~0u) {
    g.reason = "claim not committed within unblock_timeout; claimant unknown";
  } else if (!alive) {
    g.reason = fmt::format("producer pid {} died between claim and commit", g.pid);
    // Its row can be reused once its claim is resolved.
    auto expected = blame.pos | (blame.writing ? kWriting : 0);
    st_->slot(blame.slot).pending_pos.compare_exchange_strong(expected, kNoClaim);
  } else {
    g.reason = fmt::format("producer pid {} stalled past unblock_timeout between claim and commit{}", g.pid,
                           !writer                 ? ""
                           : add_hole(*writer)     ? " (its claim is fenced off as a hole)"
                                                   : " (its space is held until it continues)");
  }
  b.gaps.push_back(std::move(g));
  pos_ = end;
  stuck_pos_ = kNoClaim;
  return true;
}

// Lists a stalled writer's claim in the hole table so that head can move past it. False
// when the claim cannot be a hole (it starts a lap or wraps) or the table is full: then
// advance() holds head at it until its producer continues or dies.
bool ConsumerCore::add_hole(const Claim& c) noexcept {
  std::uint64_t o = 0, len = 0;
  if (!st_->hole_span(c.pos, c.pos + c.len, o, len)) return false;
  auto& h = st_->header();
  for (std::uint32_t i = 0; i < kMaxHoles; ++i) {
    auto& e = st_->hole(i);
    if (e.pos.load(std::memory_order_acquire) != kNoClaim) continue;
    e.slot.store(c.slot, std::memory_order_relaxed);
    e.end.store(c.pos + c.len, std::memory_order_relaxed);
    e.pos.store(c.pos, std::memory_order_release);
    h.holes.fetch_add(1, std::memory_order_release);
    return true;
  }
  return false;
}

bool ConsumerCore::has_hole(std::uint32_t slot, std::uint64_t pos) const noexcept {
  for (std::uint32_t i = 0; i < kMaxHoles; ++i) {
    const auto& e = st_->hole(i);
    if (e.pos.load(std::memory_order_acquire) == pos && e.slot.load(std::memory_order_relaxed) == slot) return true;
  }
  return false;
}

// A hole stays while its producer may still store into it: it lives and still announces
// that claim as being written. Also repairs a count that disagrees with the table.
void ConsumerCore::lift_holes() noexcept {
  auto& h = st_->header();
  std::uint32_t active = 0;
  for (std::uint32_t i = 0; i < kMaxHoles; ++i) {
    auto& e = st_->hole(i);
    const std::uint64_t p = e.pos.load(std::memory_order_acquire);
    if (p == kNoClaim) continue;
    const std::uint64_t slot = e.slot.load(std::memory_order_relaxed);
    bool keep = false;
    if (slot < kMaxProducers) {
      auto& s = st_->slot(static_cast<std::uint32_t>(slot));
      std::uint64_t pending = s.pending_pos.load(std::memory_order_acquire);
      if (pending == (p | kWriting)) {
        keep = owner_alive(s.owner.load(std::memory_order_acquire));
        if (!keep) s.pending_pos.compare_exchange_strong(pending, kNoClaim);
      }
    }
    if (keep) {
      ++active;
    } else {
      e.pos.store(kNoClaim, std::memory_order_release);
    }
  }
  if (h.holes.load(std::memory_order_relaxed) != active) h.holes.store(active, std::memory_order_release);
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
        b.frames.push_back(Frame{pos_, f.type, f.producer, f.ts_ns, static_cast<std::uint32_t>(off), f.length});
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
  std::uint64_t limit = std::min(pos, pos_);
  if (limit <= head) return;
  // A claim behind the read position that is still announced as being written belongs to
  // a producer that has not finished with it: one that is committing right now, or one
  // that stalled mid-write and was given up. While it lives it may still store into its
  // claim, so that space is not handed to other producers as it is: it is a hole
  // (format.hpp), or, where it cannot be one, head waits. A dead one's announcement is
  // simply cleared.
  if (h.holes.load(std::memory_order_relaxed) != 0) lift_holes();
  for (std::uint32_t i = 0; i < kMaxProducers; ++i) {
    auto& s = st_->slot(i);
    std::uint64_t raw = s.pending_pos.load(std::memory_order_acquire);
    const std::uint64_t p = claim_pos(raw);
    if (p == kNoClaim || p < head || p >= limit) continue;
    const std::uint64_t len = s.pending_len.load(std::memory_order_acquire);
    if (s.pending_pos.load(std::memory_order_acquire) != raw) continue;  // it moved on meanwhile
    // Without permission to write, a claim behind the read position is a stale
    // announcement (a lost CAS on tail): that producer never writes there.
    if ((raw & kWriting) == 0) continue;
    if (len <= st_->capacity() && claim_finished(p, len)) continue;
    if (owner_alive(s.owner.load(std::memory_order_acquire))) {
      if (!has_hole(i, p)) limit = p;
    } else {
      s.pending_pos.compare_exchange_strong(raw, kNoClaim);
    }
  }
  if (limit <= head) return;
  h.head.store(limit, std::memory_order_seq_cst);
  h.space_seq.fetch_add(1, std::memory_order_seq_cst);
  if (h.space_waiters.load(std::memory_order_seq_cst) != 0) platform::futex_wake(&h.space_seq, 1 << 30);
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

Consumer::Consumer(Ring ring, std::uint64_t start) : core_(std::make_unique<detail::ConsumerCore>(std::move(ring), start)) {}
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;
Consumer::~Consumer() = default;

PollStatus Consumer::poll(Batch& batch, std::size_t max_frames) noexcept { return core_->poll(batch, max_frames); }
void Consumer::advance(std::uint64_t pos) noexcept { core_->advance(pos); }
bool Consumer::wait(std::chrono::nanoseconds timeout) noexcept { return core_->wait(timeout); }
void Consumer::heartbeat() noexcept { core_->heartbeat(); }
std::uint64_t Consumer::position() const noexcept { return core_->pos_; }
std::uint64_t Consumer::head() const noexcept { return core_->st_->header().head.load(std::memory_order_acquire); }
std::uint64_t Consumer::tail() const noexcept { return core_->st_->header().tail.load(std::memory_order_acquire); }
const Ring& Consumer::ring() const noexcept { return core_->ring_; }

}  // namespace ringlite

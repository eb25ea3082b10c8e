#include "ringlite/producer.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "detail/clock.hpp"
#include "detail/format.hpp"
#include "detail/ring_state.hpp"
#include "detail/test_hooks.hpp"
#include "platform/platform.hpp"
#include "ringlite/error.hpp"

namespace ringlite {
namespace detail {

std::atomic<void (*)(WriteStage)> g_write_hook{nullptr};

inline constexpr std::uint32_t kNoSlot = ~0u;

/// The producer's private state: its slot, its cached view of head, scratch space.
class ProducerCore {
 public:
  ProducerCore(Ring ring, OnFull on_full)
      : ring_(std::move(ring)),
        st_(&RingAccess::state(ring_)),
        on_full_(on_full),
        clock_(st_->header().clock, stamps_from_tsc()) {
    if (!st_->writable())
      throw Error(Errc::usage, fmt::format("cannot write to {}: opened read-only", st_->display()));
    register_slot();
    warm_up();
  }
  ~ProducerCore() { release(); }

  WriteResult try_write(std::uint16_t type, const std::byte* payload, std::size_t n,
                        std::int64_t ts, bool count_full) noexcept;
  WriteResult write_for(std::uint16_t type, const std::byte* payload, std::size_t n,
                        std::int64_t ts, std::chrono::nanoseconds timeout) noexcept;
  WriteResult write_policy(std::uint16_t type, const std::byte* payload, std::size_t n,
                           std::int64_t ts) noexcept;
  /// Assembles fixed part + tails in scratch_, patching the offset/length words.
  WriteResult assemble(const RecordType& t, std::span<const std::byte> fixed,
                       std::span<const std::string_view> tails, std::size_t& n) noexcept;
  void ensure_scratch() { scratch_.resize(st_->max_record()); }
  void release() noexcept;

  Ring ring_;
  RingState* st_;
  OnFull on_full_;
  std::uint32_t slot_ = kNoSlot;
  std::uint64_t head_cache_ = 0;
  std::uint64_t records_ = 0;
  std::vector<std::byte> scratch_;
  StampClock clock_;  // ts_ns when the caller gives none
  bool prefetch_ = platform::prefetchw_supported();
  static constexpr std::uint64_t kPrefetchAhead = 256;  // bytes past the end of our claim

 private:
  void register_slot();
  // MAP_POPULATE filled our page tables, but the TLB and the caches are still cold: in a
  // VM a TLB miss is a two-level page walk, and the first lap paid it on every page (p99
  // of the first lap 461 ns against 168 ns later). Reading each cache line of the next
  // 8 MiB from tail on (about the TLB's reach) once at attach brought it to 176 ns
  // (ring_bench, 6 interleaved pairs); it costs the attach about a millisecond at most.
  void warm_up() noexcept {
    constexpr std::uint64_t kWarm = 8u << 20, kLine = 64;
    const std::uint64_t t = st_->header().tail.load(std::memory_order_relaxed) & ~(kLine - 1);
    const std::uint64_t n = std::min<std::uint64_t>(st_->capacity(), kWarm);
    std::uint64_t sum = 0;
    for (std::uint64_t off = 0; off < n && !st_->truncated(); off += kLine)
      sum += st_->word(t + off).load(std::memory_order_relaxed);
    warm_sink_ = sum;
  }
  std::uint64_t warm_sink_ = 0;
  // A failed CAS may have left an announcement for a claim we never made.
  static WriteResult unclaimed(ProducerSlot& s, WriteResult r) noexcept {
    s.pending_pos.store(kNoClaim, std::memory_order_release);
    return r;
  }
  WriteResult abandon(ProducerSlot& s) noexcept {
    s.pending_pos.store(kNoClaim, std::memory_order_release);
    return WriteResult::abandoned;
  }
};

void ProducerCore::register_slot() {
  namespace pf = platform;
  auto& h = st_->header();
  const auto pid = pf::current_pid();
  const auto me = make_owner(pid, pf::process_start_token(pid));
  const auto head = h.head.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < kMaxProducers; ++i) {
    auto& s = st_->slot(i);
    std::uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner != 0) {
      // A dead owner's row is reusable once the bridge has resolved its last claim.
      const auto pending = s.pending_pos.load(std::memory_order_acquire);
      const bool resolved =
          pending == kNoClaim || pending + s.pending_len.load(std::memory_order_relaxed) <= head;
      if (!resolved || pf::process_alive(owner_pid(owner), owner_token(owner))) continue;
    }
    if (!s.owner.compare_exchange_strong(owner, me, std::memory_order_acq_rel)) continue;
    h.retired_records.fetch_add(s.records.exchange(0, std::memory_order_relaxed),
                                std::memory_order_relaxed);
    s.drops.store(0, std::memory_order_relaxed);
    const auto now = pf::realtime_ns();
    s.attached_ns.store(now, std::memory_order_relaxed);
    s.heartbeat_ns.store(now, std::memory_order_relaxed);
    s.pending_len.store(0, std::memory_order_relaxed);
    s.pending_pos.store(kNoClaim, std::memory_order_release);
    slot_ = i;
    head_cache_ = head;
    return;
  }
  throw Error(Errc::busy,
              fmt::format("cannot attach to {}: all {} producer slots are taken by live producers",
                          st_->display(), kMaxProducers));
}

void ProducerCore::release() noexcept {
  if (slot_ == kNoSlot) return;
  auto& s = st_->slot(slot_);
  s.heartbeat_ns.store(platform::realtime_ns(), std::memory_order_relaxed);
  // Keep `records` for stats until the row is reused; free the row.
  s.owner.store(0, std::memory_order_release);
  slot_ = kNoSlot;
}

WriteResult ProducerCore::try_write(std::uint16_t type, const std::byte* payload, std::size_t n,
                                    std::int64_t ts, bool count_full) noexcept {
  if (slot_ == kNoSlot) return WriteResult::closed;
  auto& h = st_->header();
  if (std::atomic_ref<std::uint32_t>(h.flags).load(std::memory_order_relaxed) & 1u)
    return WriteResult::closed;
  if (st_->truncated()) return WriteResult::corrupt;
  if (n > st_->max_record()) return WriteResult::too_large;
  if (ts == 0) ts = clock_.now();
  const std::uint64_t limit = st_->capacity() - kClaimGuard;  // claims end by head + limit
  const std::uint64_t fs = frame_size(n);
  auto& s = st_->slot(slot_);

  // Normally one pass. A hole in the way (a stalled producer's claim, see format.hpp) costs
  // one more pass per padding claim that covers it. Holes can leave no gap wide enough for
  // a large record: after a lap's worth of padding, report `full` instead of padding on.
  std::uint64_t padded = 0;
  for (;;) {
    if (padded > st_->capacity()) return WriteResult::full;
    // 1. Claim [t, t + need) with a CAS on tail, never past head + limit. The claim is
    //    announced in our slot first, so the bridge always knows who holds a claim.
    std::uint64_t t = h.tail.load(std::memory_order_relaxed);
    std::uint64_t pad, need;
    bool record;  // false: this claim only pads over a hole
    // The holes that count are those known when head was read: a claim that head lets
    // reach a hole's next-lap image was allowed by a head stored after the hole was listed.
    bool head_fresh = false;
    for (;;) {
      const std::uint64_t room = st_->room_to_end(t);
      pad = room < fs ? room : 0;
      record = true;
      if (h.holes.load(std::memory_order_relaxed) != 0) {
        if (const std::uint64_t e = st_->hole_end(t + pad, fs); e != 0) {
          record = false;
          if (pad == 0) pad = e - t;  // else: first the padding to the buffer end
        }
      }
      need = record ? pad + fs : pad;
      if (t + need - head_cache_ > limit) {
        if (!head_fresh) {
          // Read head again, then decide again: with the holes as they are now.
          head_cache_ = h.head.load(std::memory_order_acquire);
          head_fresh = true;
          if (head_cache_ > t) {  // our view of tail is stale
            const std::uint64_t fresh = h.tail.load(std::memory_order_acquire);
            if (fresh < head_cache_ || fresh - head_cache_ > st_->capacity()) {
              return unclaimed(s, WriteResult::corrupt);
            }
            t = fresh;
          }
          continue;
        }
        if (t < head_cache_ || t - head_cache_ > st_->capacity())
          return unclaimed(s, WriteResult::corrupt);
        if (count_full) h.full_events.fetch_add(1, std::memory_order_relaxed);
        return unclaimed(s, WriteResult::full);
      }
      s.pending_len.store(need, std::memory_order_relaxed);
      s.pending_pos.store(t, std::memory_order_release);
      if (h.tail.compare_exchange_weak(t, t + need, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
        break;
      head_fresh = false;  // another claim moved tail: head may have moved too
    }
    if (!record) padded += pad;
    // The lines a few frames ahead were last read by the consumer, in its cache: fetch them
    // for writing now, so that the commit CAS of a later write (a locked instruction waits
    // for every store before it) does not wait for their transfer from the other core.
    // Measured (ring_bench, 5 interleaved pairs): 1 producer x1.21 [1.17-1.23], 2 producers
    // x1.12, write p99 191 -> 55 ns.
    if (prefetch_) {
      const std::uint64_t ahead = (t + need + kPrefetchAhead) & st_->mask() & ~std::uint64_t{63};
      platform::prefetch_write(st_->data() + ahead);
      if (ahead + 64 < st_->capacity()) platform::prefetch_write(st_->data() + ahead + 64);
    }
    // Data stores below must not become visible before the claim (live readers use tail to
    // detect that a frame they copied was being overwritten).
    std::atomic_thread_fence(std::memory_order_release);
    if (auto hook = g_write_hook.load(std::memory_order_relaxed)) hook(WriteStage::claimed);

    if (!record && pad < kFrameHeader) {  // an implicit pad: nothing to write
      s.pending_pos.store(kNoClaim, std::memory_order_release);
      continue;
    }

    // 2. A padding frame up to the end of the buffer or over a hole. If the bridge gave our
    //    claim up while we were stalled, its frame says so (format.hpp, "Stalled producers").
    if (pad >= kFrameHeader) {
      std::uint64_t v = st_->commit(t).load(std::memory_order_acquire);
      if (v == commit_word(t, kAbandoned)) return abandon(s);
      if (auto hook = g_write_hook.load(std::memory_order_relaxed)) hook(WriteStage::writing);
      write_fields(*st_, t,
                   FrameFields{static_cast<std::uint32_t>(pad - kFrameHeader), 0, 0, slot_, ts});
      if (!st_->commit(t).compare_exchange_strong(v, commit_word(t, kCommitted))) return abandon(s);
    }
    if (!record) {
      s.pending_pos.store(kNoClaim, std::memory_order_release);
      continue;
    }

    // 3. Header and payload, then publish with a CAS: if the bridge gave our claim up while
    //    we were stalled, the CAS fails and we report it instead of committing.
    const std::uint64_t pos = t + pad;
    std::uint64_t v = st_->commit(pos).load(std::memory_order_acquire);
    if (v == commit_word(pos, kAbandoned)) return abandon(s);
    if (pad < kFrameHeader) {
      if (auto hook = g_write_hook.load(std::memory_order_relaxed)) hook(WriteStage::writing);
    }
    write_fields(*st_, pos, FrameFields{static_cast<std::uint32_t>(n), type, 0, slot_, ts});
    store_words(st_->at(pos) + kFrameHeader, payload, n);
    if (auto hook = g_write_hook.load(std::memory_order_relaxed)) hook(WriteStage::written);
    if (!st_->commit(pos).compare_exchange_strong(v, commit_word(pos, kCommitted)))
      return abandon(s);
    s.pending_pos.store(kNoClaim, std::memory_order_release);
    if (st_->truncated()) return WriteResult::corrupt;  // it went into pages that are gone

    // Stats stay in our own cache line; the heartbeat costs nothing extra (ts is at hand).
    ++records_;
    s.records.store(records_, std::memory_order_relaxed);
    if ((records_ & 1023) == 0) s.heartbeat_ns.store(ts, std::memory_order_relaxed);

    // 4. Wake the bridge only if it sleeps (pairs with the seq_cst store in Consumer::wait).
    if (h.consumer_sleeping.load(std::memory_order_seq_cst) != 0 &&
        h.consumer_sleeping.exchange(0, std::memory_order_seq_cst) != 0) {
      platform::futex_wake(&h.consumer_sleeping, 1);
    }
    return WriteResult::ok;
  }
}

WriteResult ProducerCore::write_for(std::uint16_t type, const std::byte* payload, std::size_t n,
                                    std::int64_t ts, std::chrono::nanoseconds timeout) noexcept {
  WriteResult r = try_write(type, payload, n, ts, true);
  if (r != WriteResult::full) return r;
  auto& h = st_->header();
  const std::int64_t deadline = platform::monotonic_ns() + timeout.count();
  for (int spin = 0; spin < 128; ++spin) {
    platform::cpu_relax();
    r = try_write(type, payload, n, ts, false);
    if (r != WriteResult::full) return r;
  }
  std::int64_t next_size_check = platform::monotonic_ns();
  for (;;) {
    const std::int64_t now = platform::monotonic_ns();
    const std::int64_t left = deadline - now;
    if (left <= 0) return WriteResult::full;
    // Waiting is when a truncated segment goes unnoticed (nothing touches the lost pages,
    // and the bridge that would free space has stopped): look every 100 ms, one fstat.
    if (now >= next_size_check) {
      if (st_->check_truncated()) return WriteResult::corrupt;
      next_size_check = now + 100'000'000;
    }
    h.space_waiters.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seq = h.space_seq.load(std::memory_order_seq_cst);
    r = try_write(type, payload, n, ts, false);
    if (r == WriteResult::full) {
      // Bounded sleep: a bridge that died cannot wake us, and the caller's timeout rules.
      platform::futex_wait(&h.space_seq, seq,
                           std::chrono::nanoseconds(std::min<std::int64_t>(left, 10'000'000)));
    }
    h.space_waiters.fetch_sub(1, std::memory_order_seq_cst);
    if (r != WriteResult::full) return r;
  }
}

WriteResult ProducerCore::write_policy(std::uint16_t type, const std::byte* payload, std::size_t n,
                                       std::int64_t ts) noexcept {
  if (on_full_ == OnFull::block)
    return write_for(type, payload, n, ts, std::chrono::nanoseconds::max() / 2);
  const WriteResult r = try_write(type, payload, n, ts, true);
  if (r == WriteResult::full && slot_ != kNoSlot) {
    auto& s = st_->slot(slot_);
    s.drops.store(s.drops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    st_->header().drops.fetch_add(1, std::memory_order_relaxed);
  }
  return r;
}

WriteResult ProducerCore::assemble(const RecordType& t, std::span<const std::byte> fixed,
                                   std::span<const std::string_view> tails,
                                   std::size_t& n) noexcept {
  if (fixed.size() != t.size) return WriteResult::too_large;
  std::uint64_t total = t.size;
  std::size_t var_count = 0;
  for (const auto& f : t.fields) var_count += is_variable(f.type) ? 1 : 0;
  if (tails.size() != var_count) return WriteResult::too_large;
  for (auto s : tails) total += s.size();
  if (total > scratch_.size()) return WriteResult::too_large;
  std::memcpy(scratch_.data(), fixed.data(), fixed.size());
  std::uint32_t off = t.size;
  std::size_t k = 0;
  for (const auto& f : t.fields) {
    if (!is_variable(f.type)) continue;
    const auto len = static_cast<std::uint32_t>(tails[k].size());
    std::memcpy(scratch_.data() + f.offset, &off, 4);
    std::memcpy(scratch_.data() + f.offset + 4, &len, 4);
    if (len != 0)
      std::memcpy(scratch_.data() + off, tails[k].data(), len);  // an empty view may be null
    off += len;
    ++k;
  }
  n = static_cast<std::size_t>(total);
  return WriteResult::ok;
}

}  // namespace detail

std::string_view to_string(WriteResult r) noexcept {
  switch (r) {
    case WriteResult::ok:
      return "ok";
    case WriteResult::full:
      return "full";
    case WriteResult::too_large:
      return "too_large";
    case WriteResult::closed:
      return "closed";
    case WriteResult::corrupt:
      return "corrupt";
    case WriteResult::abandoned:
      return "abandoned";
  }
  return "unknown";
}

WriteResult RawWriter::try_write(std::span<const std::byte> payload, std::int64_t ts_ns) noexcept {
  if (!core_) return WriteResult::closed;
  if (!type_->variable() && payload.size() != type_->size) return WriteResult::too_large;
  return core_->try_write(type_->id, payload.data(), payload.size(), ts_ns, true);
}

WriteResult RawWriter::write(std::span<const std::byte> payload, std::chrono::nanoseconds timeout,
                             std::int64_t ts_ns) noexcept {
  if (!core_) return WriteResult::closed;
  if (!type_->variable() && payload.size() != type_->size) return WriteResult::too_large;
  return core_->write_for(type_->id, payload.data(), payload.size(), ts_ns, timeout);
}

WriteResult RawWriter::write(std::span<const std::byte> payload, std::int64_t ts_ns) noexcept {
  if (!core_) return WriteResult::closed;
  if (!type_->variable() && payload.size() != type_->size) return WriteResult::too_large;
  return core_->write_policy(type_->id, payload.data(), payload.size(), ts_ns);
}

WriteResult RawWriter::try_write_var(std::span<const std::byte> fixed,
                                     std::span<const std::string_view> tails,
                                     std::int64_t ts_ns) noexcept {
  if (!core_) return WriteResult::closed;
  std::size_t n = 0;
  if (auto r = core_->assemble(*type_, fixed, tails, n); r != WriteResult::ok) return r;
  return core_->try_write(type_->id, core_->scratch_.data(), n, ts_ns, true);
}

WriteResult RawWriter::write_var(std::span<const std::byte> fixed,
                                 std::span<const std::string_view> tails,
                                 std::chrono::nanoseconds timeout, std::int64_t ts_ns) noexcept {
  if (!core_) return WriteResult::closed;
  std::size_t n = 0;
  if (auto r = core_->assemble(*type_, fixed, tails, n); r != WriteResult::ok) return r;
  return core_->write_for(type_->id, core_->scratch_.data(), n, ts_ns, timeout);
}

Producer Producer::open(const RingOptions& options, OnFull on_full) {
  return Producer(Ring::open(options, Ring::Access::read_write), on_full);
}

Producer::Producer(Ring ring, OnFull on_full)
    : core_(std::make_unique<detail::ProducerCore>(std::move(ring), on_full)) {}
Producer::Producer(Producer&&) noexcept = default;
Producer& Producer::operator=(Producer&&) noexcept = default;
Producer::~Producer() = default;

void Producer::close() noexcept {
  if (core_) core_->release();
}
std::uint32_t Producer::slot() const noexcept { return core_ ? core_->slot_ : detail::kNoSlot; }
const Ring& Producer::ring() const noexcept { return core_->ring_; }
bool Producer::tsc_clock() const noexcept { return core_ && core_->clock_.uses_tsc(); }
OnFull Producer::on_full() const noexcept { return core_->on_full_; }

RawWriter Producer::raw_writer(std::string_view type) {
  const RecordType* rt = core_->ring_.layouts().find(type);
  if (!rt) {
    throw Error(Errc::schema,
                fmt::format("cannot write type '{}' to {}: the ring's schema has no such type",
                            type, core_->ring_.display()));
  }
  if (rt->variable()) core_->ensure_scratch();
  return RawWriter(core_.get(), rt);
}

const RecordType& Producer::check_type(std::string_view type, std::size_t size, std::size_t align,
                                       const char* layout) const {
  const RecordType* rt = core_->ring_.layouts().find(type);
  const auto& ring = core_->ring_.display();
  if (!rt)
    throw Error(Errc::schema,
                fmt::format("cannot write type '{}' to {}: the ring's schema has no such type",
                            type, ring));
  // The generated header's signature names the column at fault; a hand-written struct has
  // only its size and alignment to compare.
  if (layout && rt->layout_signature() != layout) {
    throw Error(
        Errc::schema,
        fmt::format(
            "cannot write type '{}' to {}: the struct's layout differs from the ring's: {}; "
            "regenerate the header with 'ringlite schema header'",
            type, ring,
            layout_difference(layout, "the struct", rt->layout_signature(), "the ring")));
  }
  if (size != rt->size || align != rt->align) {
    throw Error(
        Errc::schema,
        fmt::format(
            "cannot write type '{}' to {}: struct is {} bytes aligned {}, the ring's "
            "layout is {} bytes aligned {} (regenerate the header with 'ringlite schema header')",
            type, ring, size, align, rt->size, rt->align));
  }
  if (rt->variable()) core_->ensure_scratch();
  return *rt;
}

}  // namespace ringlite

#include "ringlite/ring.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <bit>
#include <chrono>
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

constexpr std::uint64_t kPage = 4096;

std::uint32_t fnv1a(std::string_view s) noexcept {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

platform::SegmentName segment_name(const RingOptions& c) {
  if (c.name.empty() == c.file.empty()) {
    throw Error(Errc::config,
                "cannot open ring: exactly one of ring.name and ring.file must be set");
  }
  return platform::SegmentName{c.name, c.file};
}

std::uint32_t effective_max_record(const RingOptions& c) {
  if (c.max_record != 0) return c.max_record;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(c.capacity / 4, 1u << 20));
}

struct CreateArgs {
  const RingOptions* config;
  const std::string* layouts;  // their binary form
  std::uint64_t data_offset;
  std::uint64_t start;
};

// Writes a fresh header; `version` last, with a release store, so that an opener that sees
// a version also sees everything else.
void init_segment(void* ctx, std::byte* base, std::size_t size) {
  const auto& a = *static_cast<CreateArgs*>(ctx);
  auto* h = reinterpret_cast<RingHeader*>(base);
  // The segment is fresh (zero-filled by the OS); only non-zero fields need writing.
  h->magic = kMagic;
  h->header_size = kHeaderSize;
  h->capacity = a.config->capacity;
  h->max_record = effective_max_record(*a.config);
  h->max_producers = kMaxProducers;
  h->layouts_offset = kHeaderSize;
  h->layouts_length = static_cast<std::uint32_t>(a.layouts->size());
  h->layouts_hash = fnv1a(*a.layouts);
  h->data_offset = a.data_offset;
  h->segment_size = size;
  platform::random_bytes(h->ring_id, sizeof h->ring_id);
  h->created_ns = platform::realtime_ns();
  h->creator_pid = platform::current_pid();
  h->creator_start = platform::process_start_token(h->creator_pid);
  h->start_position = a.start;
  h->unblock_timeout_ns = a.config->unblock_timeout.count();
  h->head.store(a.start, std::memory_order_relaxed);
  h->tail.store(a.start, std::memory_order_relaxed);
  for (auto& s : h->skips) s.pos.store(kNoClaim, std::memory_order_relaxed);
  for (auto& p : h->producers) p.pending_pos.store(kNoClaim, std::memory_order_relaxed);
  for (auto& e : h->hole_table) e.pos.store(kNoClaim, std::memory_order_relaxed);
  calibrate_clock(h->clock);  // 1 ms: producers then stamp from the TSC from their first write
  std::memcpy(base + kHeaderSize, a.layouts->data(), a.layouts->size());
  h->version.store(pack_version(kFormatMajor, kFormatMinor), std::memory_order_release);
}

[[noreturn]] void corrupt(const std::string& display, const std::string& what) {
  throw Error(Errc::corrupt, fmt::format("cannot open {}: corrupt header: {}", display, what));
}

// Validates everything open() will rely on, against the mapping's real size. Returns the
// bytes of the embedded layouts (checked by Layouts::decode next). Any inconsistency is
// Error(corrupt) naming the field.
std::span<const std::byte> validate_header(const platform::Mapping& m, const std::string& display) {
  const auto* h = reinterpret_cast<const RingHeader*>(m.data());
  if (h->magic != kMagic) {
    throw Error(
        Errc::corrupt,
        fmt::format("cannot open {}: not a ringlite ring (bad magic {:#018x})", display, h->magic));
  }
  const std::uint32_t v = h->version.load(std::memory_order_acquire);
  if ((v >> 16) != kFormatMajor) {
    throw Error(Errc::version,
                fmt::format("cannot open {}: ring format version {}.{}, this build reads {}.x",
                            display, v >> 16, v & 0xffff, kFormatMajor));
  }
  if (h->header_size != kHeaderSize)
    corrupt(display, fmt::format("header_size {}", h->header_size));
  const std::uint64_t cap = h->capacity;
  if (cap < kMinCapacity || cap > kMaxCapacity || !std::has_single_bit(cap)) {
    corrupt(display, fmt::format("capacity {}", cap));
  }
  if (h->max_record == 0 || h->max_record > cap / 2)
    corrupt(display, fmt::format("max_record {}", h->max_record));
  if (h->max_producers != kMaxProducers)
    corrupt(display, fmt::format("max_producers {}", h->max_producers));
  if (h->layouts_length > kMaxLayoutBytes) {
    corrupt(display, fmt::format("embedded layouts of {} bytes (at most {})", h->layouts_length,
                                 kMaxLayoutBytes));
  }
  if (h->layouts_offset != kHeaderSize || h->layouts_length == 0) {
    corrupt(display, fmt::format("layouts at {} length {}", h->layouts_offset, h->layouts_length));
  }
  if (h->data_offset % kPage != 0 || h->data_offset < kHeaderSize + h->layouts_length ||
      h->data_offset > kHeaderSize + kMaxLayoutBytes + kPage) {
    corrupt(display, fmt::format("data_offset {}", h->data_offset));
  }
  if (h->segment_size != h->data_offset + cap || h->segment_size > m.size()) {
    corrupt(display,
            fmt::format("segment_size {} (mapping is {} bytes)", h->segment_size, m.size()));
  }
  const std::uint64_t head = h->head.load(std::memory_order_acquire);
  const std::uint64_t tail = h->tail.load(std::memory_order_acquire);
  if (tail < head || tail - head > cap || head % 8 != 0 || tail % 8 != 0) {
    corrupt(display, fmt::format("cursors head {} tail {}", head, tail));
  }
  const std::span<const std::byte> layouts(m.data() + kHeaderSize, h->layouts_length);
  const std::string_view text(reinterpret_cast<const char*>(layouts.data()), layouts.size());
  if (fnv1a(text) != h->layouts_hash)
    corrupt(display, "the embedded layouts do not match their hash");
  return layouts;
}

std::string hex(const std::uint8_t* p, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", p[i]);
  return s;
}

// The first lap of a shm ring would pay a page fault per page in whichever process touches
// it first (a few microseconds each): the creator and each writable opener map the data
// area's pages up front, once the header is known good, and nothing beyond segment_size.
// Not for a file-backed ring: pre-faulting it reads the whole file from disk at every open
// (a file ring is for capacity and persistence, not for first-lap latency).
void prefault_data(const platform::Mapping& m, const platform::SegmentName& name,
                   std::uint64_t from, std::uint64_t to) noexcept {
  if (!name.file.empty() || !m.writable()) return;
  platform::prefault(m, static_cast<std::size_t>(from), static_cast<std::size_t>(to));
}

}  // namespace

const char* check_frame(const RingState& r, std::uint64_t pos, const FrameFields& f) noexcept {
  const std::uint64_t room = r.room_to_end(pos);
  if (f.type == 0) {  // padding: to the end of the buffer, or over a hole
    return frame_size(f.length) <= room ? nullptr : "padding frame crosses the end of the buffer";
  }
  if (f.length > r.max_record()) return "length exceeds the ring's max_record";
  if (frame_size(f.length) > room) return "frame crosses the end of the buffer";
  if (r.layouts().find(f.type) == nullptr) return "unknown record type";
  if (f.producer >= kMaxProducers) return "producer slot out of range";
  return nullptr;
}

std::uint64_t next_boundary(const RingState& r, std::uint64_t from, std::uint64_t limit) noexcept {
  std::uint64_t best = limit;
  // Every lap boundary is a frame boundary.
  const std::uint64_t lap = (from | r.mask()) + 1;
  best = std::min(best, lap);
  // Claims in flight were announced in the producer table before they were made.
  for (std::uint32_t i = 0; i < kMaxProducers; ++i) {
    const auto& s = r.slot(i);
    const std::uint64_t p = s.pending_pos.load(std::memory_order_acquire);
    if (p != kNoClaim && p > from && p < best && p % 8 == 0) best = p;
  }
  // Committed or abandoned frames carry their own position.
  for (std::uint64_t q = align8(from + 1); q < best; q += 8) {
    if (r.room_to_end(q) < kFrameHeader)
      return q;  // implicit pad: a boundary follows, but q is one too
    const std::uint64_t c = r.commit(q).load(std::memory_order_acquire);
    if (c == commit_word(q, kCommitted) || c == commit_word(q, kAbandoned)) return q;
  }
  return best;
}

}  // namespace detail

using detail::RingHeader;

bool RingStats::stale() const noexcept {
  if (creator_alive || bridge_alive) return false;
  return std::none_of(producers.begin(), producers.end(),
                      [](const ProducerInfo& p) { return p.alive; });
}

std::string RingOptions::display() const {
  if (name.empty() && !file.empty()) return fmt::format("ring file '{}'", file.string());
  return fmt::format("ring '{}'", name);
}

Ring Ring::create(const RingOptions& config, const Layouts& layouts, std::uint64_t start_position) {
  const auto name = detail::segment_name(config);
  if (config.capacity < detail::kMinCapacity || config.capacity > detail::kMaxCapacity ||
      !std::has_single_bit(config.capacity)) {
    throw Error(
        Errc::config,
        fmt::format("cannot create {}: capacity {} is not a power of two between 4KiB and 64GiB",
                    name.display(), config.capacity));
  }
  const auto max_record = detail::effective_max_record(config);
  if (layouts.types().empty()) {
    throw Error(Errc::schema,
                fmt::format("cannot create {}: it needs at least one record type", name.display()));
  }
  for (const auto& t : layouts.types()) {
    if (t.size > max_record) {
      throw Error(Errc::config,
                  fmt::format("cannot create {}: record type '{}' ({} bytes) exceeds max_record {}",
                              name.display(), t.name, t.size, max_record));
    }
  }
  const std::string text = layouts.encode();
  if (text.size() > detail::kMaxLayoutBytes) {
    throw Error(Errc::schema,
                fmt::format("cannot create {}: its record layouts take {} bytes (limit {})",
                            name.display(), text.size(), detail::kMaxLayoutBytes));
  }
  detail::CreateArgs args{&config, &text, 0, detail::align8(start_position)};
  args.data_offset =
      (detail::kHeaderSize + text.size() + detail::kPage - 1) / detail::kPage * detail::kPage;
  const std::size_t size = args.data_offset + config.capacity;
  auto mapping =
      detail::platform::create_segment(name, size, config.mode, &detail::init_segment, &args);
  detail::prefault_data(mapping, name, args.data_offset, size);
  return Ring(std::make_shared<detail::RingState>(std::move(mapping), name, Layouts(layouts),
                                                  config.capacity, args.data_offset, max_record,
                                                  config.unblock_timeout.count()));
}

Ring Ring::open(const RingOptions& config, Access access) {
  using namespace std::chrono_literals;
  const auto name = detail::segment_name(config);
  auto mapping =
      detail::platform::open_segment(name, access == Access::read_write, detail::kHeaderSize,
                                     1000ms, detail::platform::Trust{config.owner, config.mode});
  const auto* h = reinterpret_cast<const RingHeader*>(mapping.data());
  // The creator stores the version last; a zero version means it is still initializing.
  const auto deadline = std::chrono::steady_clock::now() + 1s;
  while (h->version.load(std::memory_order_acquire) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(Errc::corrupt,
                  fmt::format("cannot open {}: its creator never finished initializing it "
                              "(version is 0; remove it with 'ringlite ring remove')",
                              name.display()));
    }
    std::this_thread::sleep_for(1ms);
  }
  // The layouts are copied out of the mapping before they are read: nobody can change
  // them under the decoder.
  const auto embedded = detail::validate_header(mapping, name.display());
  const std::vector<std::byte> copy(embedded.begin(), embedded.end());
  Layouts layouts = Layouts::decode(copy, name.display());
  const auto cap = h->capacity;
  const auto data_offset = h->data_offset;
  const auto max_record = h->max_record;
  detail::prefault_data(mapping, name, data_offset, data_offset + cap);
  // The ring's own unblock timeout wins over the opener's config: all sides agree on it.
  auto timeout = h->unblock_timeout_ns;
  if (timeout <= 0) timeout = config.unblock_timeout.count();
  return Ring(std::make_shared<detail::RingState>(std::move(mapping), name, std::move(layouts), cap,
                                                  data_offset, max_record, timeout));
}

void Ring::remove(const RingOptions& config) {
  const auto name = detail::segment_name(config);
  // Mark it closed first, so producers that still have it mapped stop writing into an
  // orphan. A segment we cannot validate is removed all the same.
  try {
    // Only the header is mapped: a file-backed ring is not read, a planted object not grown.
    auto m = detail::platform::open_segment(
        name, true, detail::kHeaderSize, std::chrono::milliseconds(0),
        detail::platform::Trust{config.owner, config.mode}, detail::kHeaderSize);
    auto* h = reinterpret_cast<RingHeader*>(m.data());
    if (h->magic == detail::kMagic)
      std::atomic_ref<std::uint32_t>(h->flags).fetch_or(detail::kFlagClosed);
  } catch (const Error& e) {
    if (e.code() == Errc::not_found)
      throw Error(Errc::not_found, fmt::format("cannot remove {}: no such ring", name.display()));
  }
  detail::platform::remove_segment(name);
}

std::string_view Ring::name_problem(std::string_view name) noexcept {
  return detail::platform::ring_name_problem(name);
}

std::vector<std::string> Ring::list() {
  auto v = detail::platform::list_segments();
  std::sort(v.begin(), v.end());
  return v;
}

const Layouts& Ring::layouts() const noexcept { return state_->layouts(); }
std::uint64_t Ring::capacity() const noexcept { return state_->capacity(); }
std::uint32_t Ring::max_record() const noexcept { return state_->max_record(); }
const std::string& Ring::display() const noexcept { return state_->display(); }
bool Ring::writable() const noexcept { return state_->writable(); }
std::uint64_t Ring::drops() const noexcept {
  return state_->header().drops.load(std::memory_order_relaxed);
}
bool Ring::truncated() const noexcept { return state_->check_truncated(); }
RingCursors Ring::cursors() const noexcept {
  const auto& h = state_->header();
  return RingCursors{h.head.load(std::memory_order_acquire),
                     h.tail.load(std::memory_order_acquire)};
}

Ring::NameState Ring::name_state() const noexcept {
  const auto now = detail::platform::segment_id(state_->name());
  if (now == detail::platform::SegmentId{}) return NameState::removed;
  if (!(now == state_->mapping().id())) return NameState::replaced;
  // Ring::remove marks a ring closed just before it unlinks the name.
  const bool closed =
      std::atomic_ref<std::uint32_t>(state_->header().flags).load(std::memory_order_relaxed) &
      detail::kFlagClosed;
  return closed ? NameState::removed : NameState::current;
}

RingStats Ring::stats() const {
  namespace pf = detail::platform;
  if (state_->check_truncated()) {
    throw Error(Errc::corrupt,
                fmt::format("cannot read {}: {}", state_->display(), state_->truncation()));
  }
  const auto& h = state_->header();
  constexpr auto rlx = std::memory_order_relaxed;
  RingStats s;
  s.display = state_->display();
  const auto v = h.version.load(std::memory_order_acquire);
  s.version_major = v >> 16;
  s.version_minor = v & 0xffff;
  s.ring_id = detail::hex(h.ring_id, sizeof h.ring_id);
  s.capacity = state_->capacity();
  s.max_record = state_->max_record();
  s.segment_size = h.segment_size;
  s.created_ns = h.created_ns;
  s.creator_pid = h.creator_pid;
  s.creator_alive = pf::process_alive(h.creator_pid, h.creator_start);
  s.start_position = h.start_position;
  s.head = h.head.load(std::memory_order_acquire);
  s.tail = h.tail.load(std::memory_order_acquire);
  const auto bridge = h.bridge_owner.load(rlx);
  s.bridge_pid = detail::owner_pid(bridge);
  s.bridge_alive = bridge != 0 && pf::process_alive(s.bridge_pid, detail::owner_token(bridge));
  s.bridge_heartbeat_ns = h.bridge_heartbeat_ns.load(rlx);
  s.bridge_position = h.bridge_position.load(rlx);
  s.bytes_written = s.tail - s.start_position;
  s.full_events = h.full_events.load(rlx);
  s.drops = h.drops.load(rlx);
  s.unblocked = h.unblocked.load(rlx);
  s.corrupt_skips = h.corrupt_skips.load(rlx);
  s.rejects = h.rejects.load(rlx);
  s.consumed = h.consumed.load(rlx);
  s.records_written = h.retired_records.load(rlx);
  for (std::uint32_t i = 0; i < detail::kMaxProducers; ++i) {
    const auto& slot = state_->slot(i);
    const auto owner = slot.owner.load(rlx);
    s.records_written += slot.records.load(rlx);
    if (owner == 0) continue;
    ProducerInfo p;
    p.slot = i;
    p.pid = detail::owner_pid(owner);
    p.alive = pf::process_alive(p.pid, detail::owner_token(owner));
    p.attached_ns = slot.attached_ns.load(rlx);
    p.heartbeat_ns = slot.heartbeat_ns.load(rlx);
    p.records = slot.records.load(rlx);
    p.drops = slot.drops.load(rlx);
    p.pending_pos = slot.pending_pos.load(rlx);
    p.pending = p.pending_pos != detail::kNoClaim;
    s.producers.push_back(p);
  }
  for (const auto& e : h.hole_table) {
    if (e.pos.load(rlx) == detail::kNoClaim) continue;
    ++((e.slot.load(rlx) & detail::kHold) != 0 ? s.holds : s.holes);
  }
  s.record_types = state_->layouts().types().size();
  return s;
}

}  // namespace ringlite

// ringlite ring format, version 3.1 (docs/design.md, "The ring format"). Changing any
// struct, offset or constant in this file changes the on-segment format: bump kFormatMajor
// (incompatible) or kFormatMinor. History: 1.0 the first format; 2.0 holes for stalled
// producers and a 32-byte claim guard; 3.0 binary record layouts instead of SQL text; 3.1
// the shared TSC calibration at byte 960 (a 3.0 reader ignores it; a 3.0 ring has zeros
// there, which 3.1 producers treat as "not calibrated yet").
//
// A segment is laid out as
//
//   [0, 4096)                          RingHeader (this file)
//   [4096, data_offset)                the record layouts in their binary form
//                                      (Layouts::encode(), layout.cpp; no SQL parser needed)
//   [data_offset, data_offset+capacity) the data buffer, a ring of frames
//
// Everything a process reads from a segment is untrusted: another process (or a stray
// write) may have left any bytes there. Readers check every length and offset against the
// mapping size before use (see validate_header() in ring.cpp, Layouts::decode() and the
// frame checks).
//
// Positions. head and tail are absolute byte positions in the stream, 64-bit, never reset;
// a position maps to buffer offset `pos & (capacity - 1)`. A frame's position is its seq.
// Producers claim [tail, tail + n) with a CAS on tail, never past head + capacity; the one
// consumer (the bridge) reads frames from head and advances head only once it has made
// them durable. Everything in [tail - capacity, tail) is the retained history that live
// readers may still read.
//
// Frames are 8-byte aligned and never cross the end of the buffer: a claim that would is
// preceded by a padding frame (type 0) up to the end, or, when fewer than
// sizeof(FrameHeader) bytes remain, by an implicit pad that has no header at all. Every
// multiple of capacity is therefore a frame boundary. Padding frames also cover holes
// (below), anywhere in the buffer; only their commit and length words are ever read.
//
// The commit word carries the frame's own position (low 3 bits: state), so bytes left over
// from an earlier lap can never look committed at the current position, and consumed space
// never needs zeroing.
//
// Stalled producers. A producer announces each claim in its producer slot (pending_pos)
// before it makes it. When a claim stays uncommitted past unblock_timeout and its producer
// lives, the consumer marks the frame abandoned (a CAS on its commit word) and moves on; but
// the producer may wake up and store into its claim at any time. So the claim becomes a
// *hole*: the consumer lists it in the hole table, and producers that claim that part of the
// buffer in later laps cover it with a padding frame instead of writing records into it.
// Head moves on and nobody waits for the stalled producer again. A padding frame (indeed any
// frame) never ends within kHoleMargin bytes before a hole, so no later frame's header lies
// inside one: the stalled producer's late stores land only in padding bodies that nobody
// reads, and the abandoned mark on its commit word stays there, so when it wakes it sees
// `abandoned` (before storing anything, or at its commit CAS) instead of committing into a
// record the bridge gave up. The hole is lifted once the producer has withdrawn its
// announcement (it noticed) or died. Producers keep kClaimGuard bytes before head +
// capacity unclaimed, so that claims made before a hole was known end early enough too.
// A claim in flight at a lap start (whose first frame must sit at offset 0) cannot be a
// hole: it is listed as a *hold*, and head waits there until its producer continues or dies.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace ringlite::detail {

static_assert(std::endian::native == std::endian::little, "the ring format is little-endian");

inline constexpr std::uint64_t kMagic = 0x4554494C474E4952ull;  // "RINGLITE" little-endian
inline constexpr std::uint32_t kFormatMajor = 3;
inline constexpr std::uint32_t kFormatMinor = 1;
inline constexpr std::uint32_t kHeaderSize = 4096;
inline constexpr std::uint32_t kMaxProducers = 48;
inline constexpr std::uint32_t kMaxSkips = 8;
// The embedded layouts are decoded by every opener: their size (and, in layout.hpp, their
// type count) is bounded so that a planted segment cannot keep a reader busy for long.
inline constexpr std::uint32_t kMaxLayoutBytes = 256u << 10;
/// RingHeader::flags bit 0: the ring was removed (Ring::remove sets it just before it
/// unlinks the name); producers still attached get `closed`, readers report it removed.
inline constexpr std::uint32_t kFlagClosed = 1;
inline constexpr std::uint64_t kMinCapacity = 4096;
inline constexpr std::uint64_t kMaxCapacity = 64ull << 30;
inline constexpr std::uint64_t kNoClaim = ~0ull;
/// Bytes before a hole that no frame may end in: a frame header is that long, so none of a
/// later frame's header words can lie inside the hole (see above). Producers keep as many
/// bytes before head + capacity unclaimed.
inline constexpr std::uint64_t kHoleMargin = 32;
inline constexpr std::uint64_t kClaimGuard = kHoleMargin;
inline constexpr std::uint32_t kMaxHoles = 16;
/// In HoleEntry::slot: the entry is a hold (head waits at pos), not a hole.
inline constexpr std::uint64_t kHold = std::uint64_t{1} << 32;

constexpr std::uint32_t pack_version(std::uint32_t major, std::uint32_t minor) {
  return (major << 16) | minor;
}

/// Commit word states, in the low 3 bits of the word; the rest is the frame position.
enum CommitState : std::uint64_t {
  kCommitted = 1,  ///< written by the producer's commit CAS: the frame is complete
  kAbandoned = 2,  ///< written by the consumer: the claimant died or timed out
};
constexpr std::uint64_t commit_word(std::uint64_t pos, CommitState s) { return pos | s; }

/// Frame header, 32 bytes, at every frame position. Written by the producer that claimed
/// the frame, before its commit CAS; read by the consumer and by live readers only after
/// they saw the commit word say "committed at this position".
struct FrameHeader {
  std::uint64_t commit;    //  0: commit_word(pos, state); anything else: not committed
  std::uint32_t length;    //  8: payload bytes (the frame spans align8(32 + length))
  std::uint16_t type;      // 12: record type id (1-based, layouts order); 0 = padding
  std::uint16_t flags;     // 14: 0 (reserved)
  std::uint32_t producer;  // 16: the writer's slot in the producer table
  std::uint32_t reserved;  // 20: 0
  std::int64_t ts_ns;      // 24: record time, CLOCK_REALTIME nanoseconds
};
static_assert(sizeof(FrameHeader) == 32);
static_assert(offsetof(FrameHeader, length) == 8 && offsetof(FrameHeader, type) == 12);
static_assert(offsetof(FrameHeader, producer) == 16 && offsetof(FrameHeader, ts_ns) == 24);
inline constexpr std::uint32_t kFrameHeader = sizeof(FrameHeader);

constexpr std::uint64_t align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
constexpr std::uint64_t frame_size(std::uint64_t payload) { return align8(kFrameHeader + payload); }

/// One producer's row in the producer table (64 bytes, its own cache line so producers
/// never share a line). The producer owns the row while `pid` names it; the consumer reads
/// it to tell a dead claimant from a slow one, and clears pending claims it abandoned.
/// A row whose owner is dead and whose pending claim is resolved may be taken by a new
/// producer (one CAS on `owner`: pid and start token change together, so nobody can see
/// a new pid with the previous owner's token).
struct ProducerSlot {
  std::atomic<std::uint64_t> owner;        //  0: make_owner(pid, start token), 0 = free
  std::uint64_t reserved;                  //  8
  std::atomic<std::int64_t> attached_ns;   // 16: when the owner registered (realtime)
  std::atomic<std::int64_t> heartbeat_ns;  // 24: last activity, refreshed every few writes
  std::atomic<std::uint64_t> pending_pos;  // 32: start of the claim in flight, kNoClaim if none
  std::atomic<std::uint64_t> pending_len;  // 40: its length (pad + frame)
  std::atomic<std::uint64_t> records;      // 48: records committed by this owner
  std::atomic<std::uint64_t> drops;        // 56: records this owner dropped on a full ring
};
static_assert(sizeof(ProducerSlot) == 64);
static_assert(offsetof(ProducerSlot, pending_pos) == 32 && offsetof(ProducerSlot, drops) == 56);

/// An owner word: pid in the low half, the low 32 bits of the process start token (see
/// platform::process_start_token) in the high half, so a reused pid is not mistaken for
/// the owner.
constexpr std::uint64_t make_owner(std::uint32_t pid, std::uint64_t start_token) {
  return std::uint64_t{pid} | (std::uint64_t{static_cast<std::uint32_t>(start_token)} << 32);
}
constexpr std::uint32_t owner_pid(std::uint64_t owner) { return static_cast<std::uint32_t>(owner); }
constexpr std::uint32_t owner_token(std::uint64_t owner) {
  return static_cast<std::uint32_t>(owner >> 32);
}

/// A range the consumer skipped (abandoned claim, corrupt bytes): lets a restarted consumer
/// or a live reader that meets the abandoned frame know where the next frame starts.
struct SkipEntry {
  std::atomic<std::uint64_t> pos;  // abandoned frame position (kNoClaim: unused)
  std::atomic<std::uint64_t> end;  // first position after the skipped range
};
static_assert(sizeof(SkipEntry) == 16);

/// An abandoned claim of a stalled, live producer. A hole: producers leave [pos, end) (the
/// same buffer offsets, in every later lap) to padding frames. A hold (kHold in `slot`):
/// the consumer keeps head at pos. Written only by the consumer (pos last, with release;
/// kNoClaim = unused); read by producers when RingHeader::holes is not 0, and validated on
/// every read: it is shared memory like the rest.
struct HoleEntry {
  std::atomic<std::uint64_t> pos;   // claim start (kNoClaim: unused)
  std::atomic<std::uint64_t> end;   // claim end, in the same lap
  std::atomic<std::uint64_t> slot;  // the stalled producer's slot, | kHold for a hold
};
static_assert(sizeof(HoleEntry) == 24);

/// The TSC-to-epoch calibration every producer of the ring stamps ts_ns with (docs/design.md,
/// "Timestamps"); 64 bytes, its own cache line, at byte 960 of the header. A stamp is
/// `ns_base + ((tsc - tsc_base) * mult >> 32)` while `tsc - tsc_base < refresh_ticks`.
///
/// Who writes: the creator calibrates at creation; any producer whose copy is due refreshes
/// it, and the consumer when it goes idle. A refresher takes the right to write with a CAS of `gen`
/// from even g to g + 1, stores the fields and `check`, then publishes with a CAS from g + 1 to g
/// + 2 (it takes the right only once the new fields are computed: nobody waits under it).
/// Readers copy the fields only when they see a new even `gen`, check it again afterwards,
/// verify `check` (a hash of gen and the fields) and the ranges, and compare one stamp with
/// CLOCK_REALTIME before they use it; each producer keeps its own validated copy, so the
/// write path never reads this line, and trusts it only for a window that starts at
/// kFirstTrustTicks and doubles after each re-check (one paired read) that agrees within
/// kClockTolerance; one that does not drops the copy. A refresher that dies leaves `gen`
/// odd: readers fall back to clock_gettime and, after 100 ms of the same odd gen, take over
/// with a CAS to gen + 2. A late store of a stalled refresher can only produce a `check`
/// mismatch, which readers treat as "not calibrated". Untrusted like everything here: bad
/// values mean clock_gettime, never a hang or a wait; a forged calibration that passes
/// every check is dropped at a re-check, its stamps at most 5 tolerances (100 us) off
/// after the first window (docs/design.md, "Timestamps", gives the bound).
struct ClockCalibration {
  std::atomic<std::uint64_t> gen;            //  0: even: stable; odd: being refreshed
  std::atomic<std::uint64_t> tsc_base;       //  8: TSC ticks at ns_base
  std::atomic<std::uint64_t> ns_base;        // 16: CLOCK_REALTIME ns at tsc_base
  std::atomic<std::uint64_t> mult;           // 24: ns per tick, fixed point << 32
  std::atomic<std::uint64_t> refresh_ticks;  // 32: due for a refresh this many ticks after base
  std::atomic<std::uint64_t> check;          // 40: clock_check(gen, the four fields above)
  std::uint64_t reserved[2];                 // 48: 0
};
static_assert(sizeof(ClockCalibration) == 64);
static_assert(offsetof(ClockCalibration, mult) == 24 && offsetof(ClockCalibration, check) == 40);

/// The check word of a calibration: a 64-bit mix of gen and the fields, so that a torn or
/// half-refreshed calibration is recognised.
constexpr std::uint64_t clock_check(std::uint64_t gen, std::uint64_t tsc_base,
                                    std::uint64_t ns_base, std::uint64_t mult,
                                    std::uint64_t refresh_ticks) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ gen;
  for (const std::uint64_t v : {tsc_base, ns_base, mult, refresh_ticks}) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
  }
  return h;
}

/// The ring header, the first 4096 bytes of the segment.
///
/// Who writes what: the creator writes the identity block once, and `version` last (with
/// a release store), so an opener that sees a version sees a complete header. Producers
/// write `tail`, their own producer slot and the full/drop counters. The consumer (bridge)
/// writes `head`, the bridge block, the skip and hole tables and its counters; Ring::remove
/// sets the closed flag. Live readers write nothing (their mapping is read-only). A stale
/// header (all owners dead) stays readable: `ringlite stat` reports it as stale and
/// `ringlite ring remove` deletes it.
struct RingHeader {
  // --- identity, written once by the creator (bytes 0..127) ---
  std::uint64_t magic;                 //   0: kMagic
  std::atomic<std::uint32_t> version;  //   8: pack_version(major, minor); 0 while creating
  std::uint32_t header_size;           //  12: kHeaderSize
  std::uint64_t capacity;              //  16: data bytes, power of two
  std::uint32_t max_record;            //  24: largest payload a producer may write
  std::uint32_t max_producers;         //  28: kMaxProducers
  std::uint64_t layouts_offset;        //  32: kHeaderSize
  std::uint32_t layouts_length;        //  40: bytes of binary layouts, 1..kMaxLayoutBytes
  std::uint32_t layouts_hash;          //  44: FNV-1a 32 of those bytes
  std::uint64_t data_offset;           //  48: page aligned, after the layouts
  std::uint64_t segment_size;          //  56: data_offset + capacity
  std::uint8_t ring_id[16];            //  64: random, tells this ring from a re-created one
  std::int64_t created_ns;             //  80: realtime
  std::uint32_t creator_pid;           //  88
  std::uint32_t flags;                 //  92: kFlagClosed; other bits 0
  std::uint64_t creator_start;         //  96: creator's process start token
  std::uint64_t start_position;        // 104: head and tail at creation
  std::int64_t unblock_timeout_ns;     // 112: how long a claim may stay uncommitted
  std::uint64_t reserved0;             // 120: 0

  // --- cursors, each on its own cache line: producers hammer tail, the bridge head ---
  alignas(64) std::atomic<std::uint64_t> head;  // 128: consumer's durable position
  std::uint8_t pad_head[56];
  alignas(64) std::atomic<std::uint64_t> tail;  // 192: end of the last claim
  // Active holes (not holds) in the hole table, on tail's line: producers read it on every
  // claim from the line they have just CASed; the consumer writes it only when holes change.
  std::atomic<std::uint32_t> holes;  // 200
  std::uint8_t pad_tail[52];

  // --- wakeups (futex words) ---
  alignas(64) std::atomic<std::uint32_t> consumer_sleeping;  // 256: 1 while the consumer sleeps
  std::atomic<std::uint32_t> space_seq;                      // 260: bumped when head advances
  std::atomic<std::uint32_t> space_waiters;  // 264: producers blocked on a full ring
  std::uint32_t pad_wake[13];

  // --- the bridge (the one consumer) ---
  alignas(64) std::atomic<std::uint64_t> bridge_owner;  // 320: make_owner(pid, token), 0 = none
  std::uint64_t reserved1;                              // 328
  std::atomic<std::int64_t> bridge_heartbeat_ns;        // 336: realtime, every loop turn
  std::atomic<std::uint64_t> bridge_position;           // 344: read position (ahead of head)
  std::uint8_t pad_bridge[32];

  // --- counters ---
  alignas(64) std::atomic<std::uint64_t> full_events;  // 384: writes that found no space
  std::atomic<std::uint64_t> drops;                    // 392: records dropped (on_full=drop)
  std::atomic<std::uint64_t> unblocked;                // 400: claims abandoned by the consumer
  std::atomic<std::uint64_t> corrupt_skips;            // 408: corrupt ranges skipped
  std::atomic<std::uint64_t> rejects;                  // 416: records the bridge rejected
  std::atomic<std::uint64_t> retired_records;          // 424: records of recycled slots
  std::atomic<std::uint64_t> consumed;                 // 432: frames the consumer read
  std::atomic<std::uint64_t> reserved2;                // 440

  SkipEntry skips[kMaxSkips];       // 448..576
  HoleEntry hole_table[kMaxHoles];  // 576..960
  ClockCalibration clock;           // 960..1024 (format 3.1; zeros in a 3.0 ring)

  ProducerSlot producers[kMaxProducers];  // 1024..4096
};
static_assert(sizeof(RingHeader) == kHeaderSize);
static_assert(offsetof(RingHeader, version) == 8 && offsetof(RingHeader, capacity) == 16);
static_assert(offsetof(RingHeader, ring_id) == 64 && offsetof(RingHeader, start_position) == 104);
static_assert(offsetof(RingHeader, head) == 128 && offsetof(RingHeader, tail) == 192);
static_assert(offsetof(RingHeader, consumer_sleeping) == 256);
static_assert(offsetof(RingHeader, bridge_owner) == 320 &&
              offsetof(RingHeader, full_events) == 384);
static_assert(offsetof(RingHeader, skips) == 448 && offsetof(RingHeader, producers) == 1024);
static_assert(offsetof(RingHeader, holes) == 200 && offsetof(RingHeader, hole_table) == 576);
static_assert(offsetof(RingHeader, clock) == 960);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

}  // namespace ringlite::detail

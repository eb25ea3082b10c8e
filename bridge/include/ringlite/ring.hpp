// ringlite: a named shared-memory ring (docs/design.md, "The ring format"). Ring is a handle
// to one mapping of a segment; Producer, Consumer and LiveReader are built on it. Copies of
// a Ring share the mapping, which stays valid while any copy (or anything built on it)
// lives. Part of ringlite::core: no SQL, no config file format.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/layout.hpp"

namespace ringlite {

namespace detail {
class RingState;
struct RingAccess;
}  // namespace detail

/// Where a ring lives and how big it is: what the [ring] section of a config says, as a
/// plain struct (core reads no config files).
struct RingOptions {
  std::string name;                      ///< shm name ("demo" -> /ringlite.demo); or...
  std::filesystem::path file;            ///< ...a file-backed ring
  std::uint64_t capacity = 64ull << 20;  ///< data bytes, a power of two from 4KiB to 64GiB
  std::uint32_t mode = 0600;             ///< permission bits of the segment
  /// The uid that must own the segment for this process to open it. Unset: the process's
  /// own effective uid. A ring owned by anyone else, or writable by more users than `mode`
  /// lets write, is refused: another user could read the records or inject rows.
  std::optional<std::uint32_t> owner;
  std::chrono::nanoseconds unblock_timeout = std::chrono::seconds(2);
  std::uint32_t max_record = 0;  ///< largest payload; 0 = min(capacity/4, 1 MiB)

  /// "ring 'demo'" or "ring file '/x/demo.ring'": how messages name this ring.
  std::string display() const;
};

/// Bytes a record of `payload` bytes takes in a ring: a 32-byte frame header, then the
/// payload, rounded up to 8.
constexpr std::uint64_t frame_size(std::uint64_t payload) noexcept {
  return (32 + payload + 7) & ~std::uint64_t{7};
}

/// The two cursors, read with two atomic loads (no liveness lookups, unlike stats()).
struct RingCursors {
  std::uint64_t head = 0;  ///< the consumer's durable position
  std::uint64_t tail = 0;  ///< the end of the last claim
};

/// One row of the producer table, as `ringlite stat` shows it.
struct ProducerInfo {
  std::uint32_t slot = 0;
  std::uint32_t pid = 0;
  bool alive = false;
  std::int64_t attached_ns = 0;
  std::int64_t heartbeat_ns = 0;  ///< last activity (realtime ns)
  std::uint64_t records = 0;
  std::uint64_t drops = 0;
  bool pending = false;  ///< a claim is in flight
  std::uint64_t pending_pos = 0;
};

/// A consistent-enough snapshot of a ring header (counters are read one by one).
struct RingStats {
  std::string display;  ///< "ring 'demo'"
  std::uint32_t version_major = 0, version_minor = 0;
  std::string ring_id;  ///< 32 hex digits
  std::uint64_t capacity = 0, max_record = 0, segment_size = 0;
  std::int64_t created_ns = 0;
  std::uint32_t creator_pid = 0;
  bool creator_alive = false;
  std::uint64_t start_position = 0, head = 0, tail = 0;
  std::uint32_t bridge_pid = 0;
  bool bridge_alive = false;
  std::int64_t bridge_heartbeat_ns = 0;
  std::uint64_t bridge_position = 0;
  std::uint64_t records_written = 0, bytes_written = 0;
  std::uint64_t full_events = 0, drops = 0, unblocked = 0, corrupt_skips = 0, rejects = 0;
  std::uint64_t consumed = 0;
  std::uint32_t holes = 0;              ///< claims of stalled producers that later laps pad over
  std::uint32_t holds = 0;              ///< ...that head waits at instead (they start a lap)
  std::vector<ProducerInfo> producers;  ///< occupied slots only
  std::size_t record_types = 0;

  std::uint64_t used() const noexcept { return tail - head; }  ///< bytes not yet persisted
  double fill() const noexcept { return capacity ? double(used()) / double(capacity) : 0.0; }
  /// Nobody owns the ring any more: creator, bridge and every producer are dead.
  bool stale() const noexcept;
};

class Ring {
 public:
  enum class Access { read_only, read_write };

  /// Creates the segment with O_EXCL and the configured mode, embeds `layouts` (in their
  /// binary form), and starts both cursors at `start_position` (rounded up to 8). Blocks
  /// only on the OS calls. Throws Error(exists) if the name is taken; on any failure
  /// nothing is left behind.
  static Ring create(const RingOptions& options, const Layouts& layouts,
                     std::uint64_t start_position = 0);
  /// Maps an existing ring; waits up to 1 s for a concurrent creator to finish. Checks
  /// whose it is (RingOptions::owner, mode), then validates the whole header (magic,
  /// version, sizes, offsets) and the embedded layouts as untrusted input. Throws
  /// Error(not_found), Error(permission), Error(version) for another major version,
  /// Error(corrupt) for anything inconsistent.
  static Ring open(const RingOptions& options, Access access = Access::read_write);
  /// Marks the ring closed (attached producers get `closed`) and removes its name.
  /// Throws Error(not_found).
  static void remove(const RingOptions& options);
  /// Names of the shared-memory rings on this machine (file-backed rings are not listed).
  static std::vector<std::string> list();
  /// What a ring name must be when `name` is not one ("a plain name without '/' or '..'",
  /// ...); empty when `name` is a valid ring name. The one rule the config and the
  /// command line apply too.
  static std::string_view name_problem(std::string_view name) noexcept;

  /// The record types the ring carries.
  const Layouts& layouts() const noexcept;
  std::uint64_t capacity() const noexcept;
  std::uint32_t max_record() const noexcept;
  const std::string& display() const noexcept;
  bool writable() const noexcept;
  /// Reads the header counters and the producer table (with a liveness check per
  /// producer: a /proc lookup each). Never blocks. Throws Error(corrupt) when the segment
  /// was truncated.
  RingStats stats() const;
  /// Records producers dropped on a full ring so far (one load; for hot loops).
  std::uint64_t drops() const noexcept;
  /// Head and tail now (two loads; for hot loops). Never blocks.
  RingCursors cursors() const noexcept;

  /// True when the segment no longer has the size it had when it was mapped (someone
  /// shrank it behind ringlite's back). Touching the lost part then reads zeros instead of
  /// killing the process with SIGBUS; producers, the consumer and live readers report it
  /// (`corrupt`, PollStatus::truncated, ReadStatus::truncated). One fstat; never blocks.
  bool truncated() const noexcept;

  /// What the ring's name leads to now: still this ring, nothing (removed, or marked
  /// removed by Ring::remove), or another ring created under the same name since.
  enum class NameState { current, removed, replaced };
  /// One open and stat of the name; never blocks.
  NameState name_state() const noexcept;

 private:
  friend struct detail::RingAccess;  // Producer, Consumer and LiveReader reach the mapping
  explicit Ring(std::shared_ptr<detail::RingState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::RingState> state_;
};

}  // namespace ringlite

// ringlite: replaying recorded history back into a ring (docs/design.md, "Readers, live SQL and
// replay"). Reads the database's tables (their layouts come from _ringlite_types, so no
// schema file is needed), merges them in seq order and writes each record into a ring as
// a registered producer, byte for byte, with its recorded ts_ns, paced at the recorded
// timing scaled by `speed`, or as fast as possible.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ringlite/producer.hpp"

namespace ringlite {

struct ReplayOptions {
  /// Record types to replay, as shell globs (`sensor*`, `?cam`, `[ab]x`; fnmatch(3)); a
  /// plain name is a glob that matches itself. Empty = every recorded type.
  std::vector<std::string> types;
  /// Globs of record types to leave out of the selection (applied after `types`).
  std::vector<std::string> exclude_types;
  std::optional<std::uint64_t> from_seq;  ///< inclusive
  std::optional<std::uint64_t> to_seq;    ///< inclusive
  std::optional<std::int64_t> from_ns;    ///< inclusive, on ts_ns
  std::optional<std::int64_t> to_ns;      ///< inclusive, on ts_ns
  /// A time window relative to the recording's first record: the smallest ts_ns of any
  /// record of any recorded type (selected or not), call it T0. Selects ts_ns from
  /// T0 + start_offset (inclusive) up to T0 + start_offset + duration (exclusive); either may
  /// be given alone. Combined with from_ns/to_ns and the seq range, the intersection is
  /// replayed. start_offset must be >= 0, duration > 0.
  std::optional<std::chrono::nanoseconds> start_offset;
  std::optional<std::chrono::nanoseconds> duration;
  double speed = 1.0;      ///< 2.0 = twice as fast as recorded
  bool max_speed = false;  ///< ignore timing: as fast as the ring takes it
  bool loop = false;       ///< start over at the end until stopped
};

struct ReplayProgress {
  std::uint64_t written = 0;       ///< records written so far, all passes
  std::uint64_t pass_written = 0;  ///< records written in the current pass
  std::uint64_t total = 0;         ///< records in the selection (one pass)
  std::uint64_t passes = 0;        ///< completed passes (with loop)
  double elapsed_s = 0;
  double rate = 0;    ///< records/s so far
  double eta_s = -1;  ///< seconds to the end of this pass, -1 if unknown
};

struct ReplayResult {
  std::uint64_t records = 0;
  std::uint64_t passes = 0;
  double seconds = 0;
  std::int64_t max_late_ns = 0;  ///< the latest any record was written after its due time
};

/// Replays `database` into `producer`'s ring. Blocks until done or `stop`; calls
/// `progress` (if set) about every 200 ms, after each pass and at the end. Before writing
/// anything checks that the ring's schema has every selected type with the recorded layout:
/// else Error(schema) naming the type. Bad options (from after to, a type or exclude glob
/// that matches no recorded type, a selection left with no type, a negative start_offset, a
/// duration <= 0, speed <= 0 or not finite) are Error(usage), naming the value. A time bound
/// is found through the `ts_ns` index where the table has one. The database is opened read-only and
/// never created: a missing or unreadable file is Error(config), one that is not a ringlite
/// database Error(schema). Waits (checking `stop`) while the ring is full. A late record does not
/// delay the ones after it (pacing is against the start, not the previous record). With
/// `loop`, an empty selection ends after one pass. Throws Error(sqlite) if reading fails
/// midway, Error(config/not_found/corrupt) if a write returns too_large/closed/corrupt.
ReplayResult replay(const std::filesystem::path& database, Producer& producer,
                    const ReplayOptions& options, const std::atomic<bool>& stop,
                    const std::function<void(const ReplayProgress&)>& progress = {});

}  // namespace ringlite

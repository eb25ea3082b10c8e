// ringlite: the TOML config (docs/design.md, "Config"). Parsed by toml++; every key is
// checked, and an unknown key, a bad size or a bad duration is an error naming the key and
// the file. Part of the SQL tier; the ring itself takes a plain RingOptions (ring.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ringlite/ring.hpp"

namespace ringlite {

/// [ring]: the ring's options (ring.hpp). The older name, kept for code written against 0.1.
using RingConfig = RingOptions;

/// [database]: where records persist and under which pragmas.
struct DatabaseConfig {
  std::filesystem::path path;   ///< absolute after load
  std::string preset = "safe";  ///< fast | safe | durable
  /// Permission bits a new database file gets, and its -wal and -shm with it (an existing
  /// file keeps its own). A config file's default is ring.mode.
  std::uint32_t mode = 0600;
  /// Explicit pragmas, applied after the preset's; values as SQL literals ("-65536", "WAL").
  std::map<std::string, std::string> pragmas;

  // A recording of segments (docs/design.md, "Recordings"). With segment_bytes or
  // segment_duration set, `path` is the recording's folder: one database per segment,
  // seg-00000001.db, seg-00000002.db, ... A new segment starts once the open one holds
  // segment_bytes, or records spanning segment_duration. 0 = no such limit.
  std::uint64_t segment_bytes = 0;
  std::chrono::nanoseconds segment_duration{0};
  /// Retention: the oldest closed segments are deleted whole while the recording holds more
  /// than retain_bytes, or once their newest record is older than retain_age. 0 = keep all.
  std::uint64_t retain_bytes = 0;
  std::chrono::nanoseconds retain_age{0};
  /// An index on ts_ns in every type's table (time windows, replay --from TIME).
  bool index_ts = true;

  /// True when the database is a recording of segments rather than one file.
  bool segmented() const noexcept {
    return segment_bytes != 0 || segment_duration != std::chrono::nanoseconds::zero();
  }
};

/// The bounds of database.segment_bytes.
inline constexpr std::uint64_t kMinSegmentBytes = std::uint64_t{1} << 20;
inline constexpr std::uint64_t kMaxSegmentBytes = std::uint64_t{1} << 40;

/// [batch]: how the bridge groups records into transactions.
struct BatchConfig {
  std::uint32_t max_records = 65536;
  std::chrono::nanoseconds max_delay = std::chrono::milliseconds(20);
};

/// The whole config file. Relative paths are resolved against the config file's folder.
struct Config {
  std::filesystem::path source;  ///< the file it came from ("" when built in code)
  RingOptions ring;
  std::filesystem::path schema_file;
  DatabaseConfig database;
  BatchConfig batch;

  /// Reads and validates a config file. Throws Error(Errc::config) naming file and key.
  static Config load(const std::filesystem::path& path);
  /// Parses TOML text; `origin` names it in messages and resolves relative paths.
  static Config parse(std::string_view toml, const std::filesystem::path& origin);
};

/// "64MiB", "4096", "1 GiB", "512KiB" -> bytes. Throws Error(Errc::config) naming `key`.
std::uint64_t parse_size(std::string_view text, std::string_view key);
/// "20ms", "2s", "1.5s", "500us", "100ns", "1m", "1h", "30d" -> nanoseconds. Throws naming `key`.
std::chrono::nanoseconds parse_duration(std::string_view text, std::string_view key);

}  // namespace ringlite

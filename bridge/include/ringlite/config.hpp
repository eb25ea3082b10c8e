// ringlite: the TOML config (DESIGN.md, "Config"). Parsed by toml++; every key is checked,
// and an unknown key, a bad size or a bad duration is an error naming the key and the file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ringlite {

/// [ring]: where the ring lives and how big it is.
struct RingConfig {
  std::string name;                     ///< shm name ("demo" -> /ringlite.demo); or...
  std::filesystem::path file;           ///< ...a file-backed ring (absolute after load)
  std::uint64_t capacity = 64ull << 20; ///< data bytes, a power of two
  std::uint32_t mode = 0600;            ///< permission bits of the segment
  /// The uid that must own the segment for this process to open it. Unset: the process's
  /// own effective uid. A ring owned by anyone else, or writable by more users than `mode`
  /// lets write, is refused: another user could read the records or inject rows.
  std::optional<std::uint32_t> owner;
  std::chrono::nanoseconds unblock_timeout = std::chrono::seconds(2);
  std::uint32_t max_record = 0;         ///< largest payload; 0 = min(capacity/4, 1 MiB)

  /// "ring 'demo'" or "ring file '/x/demo.ring'": how messages name this ring.
  std::string display() const;
};

/// [database]: where records persist and under which pragmas.
struct DatabaseConfig {
  std::filesystem::path path;  ///< absolute after load
  std::string preset = "safe"; ///< fast | safe | durable
  /// Permission bits a new database file gets, and its -wal and -shm with it (an existing
  /// file keeps its own). A config file's default is ring.mode.
  std::uint32_t mode = 0600;
  /// Explicit pragmas, applied after the preset's; values as SQL literals ("-65536", "WAL").
  std::map<std::string, std::string> pragmas;
};

/// [batch]: how the bridge groups records into transactions.
struct BatchConfig {
  std::uint32_t max_records = 65536;
  std::chrono::nanoseconds max_delay = std::chrono::milliseconds(20);
};

/// The whole config file. Relative paths are resolved against the config file's folder.
struct Config {
  std::filesystem::path source;  ///< the file it came from ("" when built in code)
  RingConfig ring;
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
/// "20ms", "2s", "1.5s", "500us", "100ns", "1m" -> nanoseconds. Throws naming `key`.
std::chrono::nanoseconds parse_duration(std::string_view text, std::string_view key);

}  // namespace ringlite

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
};

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
/// "20ms", "2s", "1.5s", "500us", "100ns", "1m" -> nanoseconds. Throws naming `key`.
std::chrono::nanoseconds parse_duration(std::string_view text, std::string_view key);

}  // namespace ringlite

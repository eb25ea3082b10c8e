// The database as `query`, `replay` and `info` read it: read-only, never created, and every
// reason it cannot be read reported as what it is, a problem of the config or of the path.
#pragma once

#include <SQLiteCpp/Database.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ringlite/config.hpp"
#include "ringlite/recording.hpp"

struct sqlite3;

namespace ringlite::cli {

/// Opens the database at `cfg`'s database.path read-only and reads its schema, so that a
/// path that cannot serve shows now. Blocks up to 5 s on a locked database. Throws
/// Error(config) when the config (file name `config`) has no [database] section, or when
/// database.path is missing, in a missing folder, a folder, not a database, or a WAL
/// database whose folder is read-only; the message names the key and the config file.
/// Throws Error(busy) when the database stays locked. `command` names the caller in
/// messages ("query", "replay").
std::unique_ptr<SQLite::Database> open_configured_database(const Config& cfg,
                                                           const std::string& config,
                                                           std::string_view command);

/// A database opened for reading: a ringlite recording or database (through Recording), or
/// any other SQLite file as it is.
struct ReadDatabase {
  std::optional<Recording> recording;
  std::unique_ptr<SQLite::Database> plain;
  sqlite3* handle() const;
};

/// Opens `path` read-only. A folder is a recording when `folder_ok` (else it is refused as
/// a folder); a file is read through Recording when it is a ringlite database, as it is
/// otherwise. `where` says where the path came from in messages ("database.path in
/// 'x.toml'", "--db"). Throws Error(config) for a path that cannot be read (see
/// open_configured_database), Error(busy), or what Recording::open throws, with `where`.
ReadDatabase open_read_database(const std::filesystem::path& path, bool folder_ok,
                                const std::string& where, std::string_view command);

}  // namespace ringlite::cli

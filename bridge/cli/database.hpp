// The config's database as `query` and `replay` read it: read-only, never created, and
// every reason it cannot be read reported as what it is, a problem of the config.
#pragma once

#include <SQLiteCpp/Database.h>

#include <memory>
#include <string>
#include <string_view>

#include "ringlite/config.hpp"

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

}  // namespace ringlite::cli

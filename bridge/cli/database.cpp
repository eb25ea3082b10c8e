// The database, read-only (see database.hpp).
#include "database.hpp"

#include <SQLiteCpp/Exception.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include <filesystem>

#include "ringlite/error.hpp"
#include "ringlite/store.hpp"

namespace ringlite::cli {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<SQLite::Database> open_file(const fs::path& path, const std::string& where,
                                            std::string_view command) {
  // SQLite's open of a FIFO blocks until a writer comes: only a regular file is opened (a
  // missing one or a directory is SQLite's to refuse, and is explained below).
  std::error_code type_ec;
  const auto type = fs::status(path, type_ec).type();
  if (type != fs::file_type::not_found && type != fs::file_type::regular &&
      type != fs::file_type::directory) {
    throw Error(Errc::config, fmt::format("cannot open database '{}' ({}): not a regular file",
                                          one_line(path.string()), where));
  }
  try {
    auto db = std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READONLY, 5000);
    // Opening is lazy: read the schema now, so a directory or a non-database fails here.
    db->exec("SELECT count(*) FROM sqlite_schema");
    return db;
  } catch (const SQLite::Exception& e) {
    const int rc = e.getExtendedErrorCode() != -1 ? e.getExtendedErrorCode() : SQLITE_CANTOPEN;
    std::error_code ec;
    const fs::path folder = path.parent_path();
    std::string cause = e.what();
    if (fs::is_directory(path, ec)) {
      cause = "it is a directory";
    } else if (!folder.empty() && !fs::is_directory(folder, ec)) {
      cause = fmt::format("no such folder '{}'", folder.string());
    } else if (!fs::exists(path, ec)) {
      cause = fmt::format("no such file ({} never creates one: the bridge does)", command);
    } else if ((rc & 0xff) == SQLITE_READONLY) {
      // A WAL database is read through its -shm file, which must exist or be creatable.
      cause = fmt::format("{} (a WAL database needs its folder '{}' writable, for the -shm file)",
                          cause, folder.string());
    }
    const bool locked = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    throw Error(locked ? Errc::busy : Errc::config,
                fmt::format("cannot open database '{}' ({}): {}", path.string(), where, cause), 0,
                rc);
  }
}

}  // namespace

std::unique_ptr<SQLite::Database> open_configured_database(const Config& cfg,
                                                           const std::string& config,
                                                           std::string_view command) {
  // Without a path SQLite would open an empty temporary database and answer from it.
  if (cfg.database.path.empty()) {
    throw Error(Errc::config,
                fmt::format("invalid config '{}': {} needs a [database] section with a path",
                            config, command));
  }
  return open_file(cfg.database.path, fmt::format("database.path in '{}'", config), command);
}

sqlite3* ReadDatabase::handle() const {
  return recording ? recording->connection() : plain->getHandle();
}

ReadDatabase open_read_database(const fs::path& path, bool folder_ok, const std::string& where,
                                std::string_view command) {
  ReadDatabase out;
  const auto with_where = [&](const Error& e) {
    return Error(e.code(), fmt::format("{} ({})", e.what(), where), e.sys_errno(), e.sqlite_code());
  };
  std::error_code ec;
  if (folder_ok && fs::is_directory(path, ec)) {
    try {
      out.recording.emplace(Recording::open(path));
    } catch (const Error& e) {
      throw with_where(e);
    }
    return out;
  }
  out.plain = open_file(path, where, command);
  const auto app = out.plain->execAndGet("PRAGMA application_id").getInt64();
  if (app != kApplicationId) return out;  // any SQLite database reads as it is
  out.plain.reset();
  try {
    out.recording.emplace(Recording::open(path));
  } catch (const Error& e) {
    throw with_where(e);
  }
  return out;
}

}  // namespace ringlite::cli

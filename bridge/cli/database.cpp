// The config's database, read-only (see database.hpp).
#include "database.hpp"

#include <SQLiteCpp/Exception.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include <filesystem>

#include "ringlite/error.hpp"

namespace ringlite::cli {

std::unique_ptr<SQLite::Database> open_configured_database(const Config& cfg,
                                                           const std::string& config,
                                                           std::string_view command) {
  namespace fs = std::filesystem;
  // Without a path SQLite would open an empty temporary database and answer from it.
  if (cfg.database.path.empty()) {
    throw Error(Errc::config,
                fmt::format("invalid config '{}': {} needs a [database] section with a path",
                            config, command));
  }
  const fs::path& path = cfg.database.path;
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
    } else if (!fs::is_directory(folder, ec)) {
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
                fmt::format("cannot open database '{}' (database.path in '{}'): {}", path.string(),
                            config, cause),
                0, rc);
  }
}

}  // namespace ringlite::cli

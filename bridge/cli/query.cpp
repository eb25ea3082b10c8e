// ringlite query: runs SQL against the database, read-only; with --live the ring is
// attached as virtual tables `live.<type>` (DESIGN.md, "Readers and replay").
//
// The database is opened with SQLITE_OPEN_READONLY (a missing file is never created) and
// `PRAGMA query_only=1`; besides, a statement that SQLite says would write (INSERT, CREATE,
// VACUUM INTO, ...) is refused before it runs, and turning query_only off is not
// authorized. Every statement of the SQL runs in order; those that return columns print
// them. Exit codes: 2 for anything the user's input causes (bad SQL, an unknown table, a
// write, a database that cannot be opened or is not a database), 1 for runtime failures
// (a missing ring with --live, a busy or corrupt database, I/O errors).
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "output.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/live_sql.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::cli {
namespace {

struct Opts {
  std::string config;
  bool live = false;
  std::string sql;
  std::string format = "table";
};

/// Who is to blame for an SQLite result code: the input (exit 2) or the run (exit 1).
Errc classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_ERROR:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
    case SQLITE_PERM:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
      return Errc::usage;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::busy;
    case SQLITE_CORRUPT:
      return Errc::corrupt;
    default:
      return Errc::sqlite;
  }
}

[[noreturn]] void fail(int rc, const std::string& what) {
  throw Error(classify(rc), fmt::format("cannot run query: {}", what), 0, rc);
}

/// The statement's text for messages: one line, at most ~60 characters.
std::string excerpt(std::string_view sql) {
  std::string s;
  for (char c : sql) {
    if (s.size() >= 60) {
      s += "...";
      break;
    }
    s += c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == ';')) s.pop_back();
  return s;
}

/// Lets every statement through except one that turns query_only off again.
int authorize(void*, int action, const char* a1, const char* a2, const char*, const char*) {
  if (action == SQLITE_PRAGMA && a1 != nullptr && sqlite3_stricmp(a1, "query_only") == 0 &&
      a2 != nullptr) {
    return SQLITE_DENY;
  }
  return SQLITE_OK;
}

std::unique_ptr<SQLite::Database> open_database(const std::string& path) {
  try {
    auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READONLY, 5000);
    // Opening is lazy: read the schema now, so a directory or a non-database fails here.
    db->exec("SELECT count(*) FROM sqlite_schema");
    return db;
  } catch (const SQLite::Exception& e) {
    // Whatever the path names (nothing, a folder, not a database), it is the user's input;
    // only a locked database is worth retrying.
    const int rc = e.getExtendedErrorCode() != -1 ? e.getExtendedErrorCode() : SQLITE_CANTOPEN;
    std::error_code ec;
    const std::string cause =
        std::filesystem::is_directory(path, ec) ? "it is a directory" : e.what();
    throw Error(classify(rc) == Errc::busy ? Errc::busy : Errc::usage,
                fmt::format("cannot run query: cannot open database '{}': {}", path, cause), 0, rc);
  }
}

void step_all(sqlite3* db, sqlite3_stmt* st, std::string_view text, RowWriter& out) {
  const int ncol = sqlite3_column_count(st);
  if (ncol > 0) {
    std::vector<std::string> names;
    for (int i = 0; i < ncol; ++i) {
      const char* n = sqlite3_column_name(st, i);
      names.emplace_back(n ? n : "");
    }
    out.columns(std::move(names));
  }
  std::vector<Cell> cells(static_cast<std::size_t>(ncol));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < ncol; ++i) {
      Cell& c = cells[static_cast<std::size_t>(i)];
      switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
          c.set_integer(sqlite3_column_int64(st, i));
          break;
        case SQLITE_FLOAT:
          c.set_real(sqlite3_column_double(st, i));
          break;
        case SQLITE_TEXT: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
          c.set_text(
              std::string_view(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, i))));
          break;
        }
        case SQLITE_BLOB: {
          const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(st, i));
          c.set_blob({p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))});
          break;
        }
        default:
          c.set_null();
          break;
      }
    }
    out.row(cells);
  }
  out.flush();
  if (rc != SQLITE_DONE)
    fail(sqlite3_extended_errcode(db), fmt::format("'{}': {}", excerpt(text), sqlite3_errmsg(db)));
}

int run(const Opts& o) {
  const auto format = parse_format(o.format);
  const auto cfg = Config::load(o.config);
  auto database = open_database(cfg.database.path.string());
  sqlite3* db = database->getHandle();
  if (o.live) {
    try {
      const Ring ring = Ring::open(cfg.ring, Ring::Access::read_only);
      attach_live(*database, ring, "live");
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("cannot run query: {}", e.what()), e.sys_errno(),
                  e.sqlite_code());
    }
  }
  database->exec("PRAGMA query_only=1");
  sqlite3_set_authorizer(db, authorize, nullptr);

  const auto writer = make_writer(format, stdout);
  const char* sql = o.sql.c_str();
  const char* const end = sql + o.sql.size();
  int statements = 0;
  while (sql < end) {
    sqlite3_stmt* raw = nullptr;
    const char* rest = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql, static_cast<int>(end - sql), &raw, &rest);
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    if (rc != SQLITE_OK) {
      const int code = sqlite3_extended_errcode(db);
      fail(code, fmt::format("{}{}", sqlite3_errmsg(db),
                             code == SQLITE_AUTH ? " (query is read-only)" : ""));
    }
    const std::string_view text(sql, static_cast<std::size_t>((rest ? rest : end) - sql));
    sql = rest ? rest : end;
    if (!st) continue;  // only whitespace or a comment
    ++statements;
    if (sqlite3_stmt_readonly(st.get()) == 0) {
      fail(SQLITE_READONLY,
           fmt::format("'{}' would write to the database: query is read-only", excerpt(text)));
    }
    step_all(db, st.get(), text, *writer);
  }
  if (statements == 0) throw Error(Errc::usage, "cannot run query: the SQL holds no statement");
  return kExitOk;
}

}  // namespace

void add_query(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "query", "run SQL (read-only) against the database, and with --live the ring");
  cmd->add_option("-c,--config", o->config, "config file (TOML)")->required();
  cmd->add_flag("--live", o->live,
                "attach the live ring as tables live.<type> (same columns as the database's)");
  cmd->add_option("sql", o->sql, "SQL: one or more statements separated by ';'")->required();
  cmd->add_option("--format", o->format,
                  "output: table (aligned), csv (RFC 4180, CRLF) or json (one object per line)")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

// ringlite query: runs SQL against the database, read-only; with --live the ring is
// attached as virtual tables `live.<type>` (docs/design.md, "Readers, live SQL and replay").
// The database is the config's database.path (-c) or a path given with --db: a ringlite
// database or a recording's folder is read through Recording (docs/design.md, "Reading a
// recording": one table per type over every segment), any other SQLite file as it is.
//
// The database is opened with SQLITE_OPEN_READONLY (a missing file is never created) and
// `PRAGMA query_only=1`; besides, a statement that SQLite says would write (INSERT, CREATE,
// VACUUM INTO, ...) is refused, and turning query_only off is not authorized. The SQL may
// hold several statements: every one is prepared and checked before the first runs, so a
// refused statement means nothing was printed (an ATTACH runs as soon as it is checked,
// so that later statements can name its schema); then they run in order and those that
// return columns print them. Two kinds of statement SQLite calls writers are let through,
// since they read only: `PRAGMA [schema.]journal_mode` without a value, and EXPLAIN.
// Without --live a config needs a [database]; with --live and no [database] only the live
// tables exist. Exit codes: 2 for anything the user's input causes (bad SQL, an unknown
// table, a write, a config without [database] and without --live, a database.path that
// cannot be opened or is not a database), 1 for runtime failures (a missing ring with
// --live, a busy or corrupt database, I/O errors).
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "database.hpp"
#include "options.hpp"
#include "output.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/live_sql.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::cli {
namespace {

struct Opts {
  std::string config;
  std::string db;
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
  while (!sql.empty() && std::string_view(" \t\r\n").find(sql.front()) != std::string_view::npos)
    sql.remove_prefix(1);
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

/// What the authorizer saw while one statement was being prepared.
struct Seen {
  bool journal_mode_query = false;  ///< PRAGMA [schema.]journal_mode, without a value
  bool attach = false;
  bool other = false;  ///< any action besides those two and plain reads
};

/// Denies turning query_only off; records what each statement does (see Seen).
int authorize(void* user, int action, const char* a1, const char* a2, const char*, const char*) {
  auto& seen = *static_cast<Seen*>(user);
  if (action == SQLITE_PRAGMA && a1 != nullptr) {
    if (sqlite3_stricmp(a1, "query_only") == 0 && a2 != nullptr) return SQLITE_DENY;
    if (sqlite3_stricmp(a1, "journal_mode") == 0 && a2 == nullptr) {
      seen.journal_mode_query = true;
      return SQLITE_OK;
    }
  }
  if (action == SQLITE_ATTACH) {
    seen.attach = true;
  } else if (action != SQLITE_READ && action != SQLITE_SELECT && action != SQLITE_FUNCTION) {
    seen.other = true;
  }
  return SQLITE_OK;
}

/// True for a statement that only reads. sqlite3_stmt_readonly() says a journal_mode query
/// writes (its opcode can change the mode), and an EXPLAIN of a write writes (though it
/// never runs the write): both only read.
bool reads_only(sqlite3_stmt* st, const Seen& seen) {
  if (sqlite3_stmt_readonly(st) != 0 || sqlite3_stmt_isexplain(st) != 0) return true;
  return seen.journal_mode_query && !seen.attach && !seen.other;
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

/// Runs one statement to the end, printing no rows (ATTACH has none).
void run_silently(sqlite3* db, sqlite3_stmt* st, std::string_view text) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE)
    fail(sqlite3_extended_errcode(db), fmt::format("'{}': {}", excerpt(text), sqlite3_errmsg(db)));
}

int run(const Opts& o) {
  if (o.config.empty() == o.db.empty())
    throw Error(Errc::usage, "cannot run query: give exactly one of -c CONFIG and --db PATH");
  if (o.live && o.config.empty()) {
    throw Error(Errc::usage,
                "cannot run query: --live needs -c CONFIG (the config names the ring), not --db");
  }
  const auto format = parse_format(o.format);
  Config cfg;
  if (!o.config.empty()) cfg = Config::load(o.config);
  ReadDatabase database;
  // --live on a ring that has no database (a replay target, a ring nobody bridges): the live
  // tables are the data, over an empty in-memory main schema. Without --live a config with
  // no database is refused, so that nobody reads an empty temporary database as history.
  const bool live_only = o.live && cfg.database.path.empty();
  try {
    if (live_only) {
      database.plain = std::make_unique<SQLite::Database>(":memory:", SQLite::OPEN_READWRITE);
    } else if (!o.db.empty()) {
      database = open_read_database(o.db, true, "--db", "query");
    } else {
      // A segmented config's path is the recording's folder; otherwise a folder is refused.
      if (cfg.database.path.empty()) {
        throw Error(Errc::config,
                    fmt::format("invalid config '{}': query needs a [database] section with a "
                                "path",
                                o.config));
      }
      database = open_read_database(cfg.database.path, cfg.database.segmented(),
                                    fmt::format("database.path in '{}'", o.config), "query");
    }
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("cannot run query: {}", e.what()), e.sys_errno(),
                e.sqlite_code());
  }
  sqlite3* db = database.handle();
  if (o.live) {
    try {
      const Ring ring = Ring::open(cfg.ring, Ring::Access::read_only);
      attach_live(db, ring, "live");
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("cannot run query: {}", e.what()), e.sys_errno(),
                  e.sqlite_code());
    }
  }
  if (const int rc = sqlite3_exec(db, "PRAGMA query_only=1", nullptr, nullptr, nullptr);
      rc != SQLITE_OK)
    fail(rc, sqlite3_errmsg(db));
  Seen seen;
  sqlite3_set_authorizer(db, authorize, &seen);

  // Check every statement before any prints. A statement may name a schema that an ATTACH
  // before it brings in: ATTACH (which prints nothing and writes nothing) runs as soon as
  // it is checked, so that the statements after it can be prepared.
  struct Statement {
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st;
    std::string_view text;
    bool done;
  };
  std::vector<Statement> statements;
  const char* sql = o.sql.c_str();
  const char* const end = sql + o.sql.size();
  while (sql < end) {
    sqlite3_stmt* raw = nullptr;
    const char* rest = nullptr;
    seen = Seen{};
    const int rc = sqlite3_prepare_v2(db, sql, static_cast<int>(end - sql), &raw, &rest);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    if (rc != SQLITE_OK) {
      const int code = sqlite3_extended_errcode(db);
      const char* hint = "";
      if (code == SQLITE_AUTH) {
        hint = " (query is read-only)";
      } else if (live_only && std::string_view(sqlite3_errmsg(db)).starts_with("no such table")) {
        hint = " (the config has no [database]: only the live.<type> tables exist)";
      }
      fail(code, fmt::format("{}{}", sqlite3_errmsg(db), hint));
    }
    const std::string_view text(sql, static_cast<std::size_t>((rest ? rest : end) - sql));
    sql = rest ? rest : end;
    if (!st) continue;  // only whitespace or a comment
    if (!reads_only(st.get(), seen)) {
      fail(SQLITE_READONLY,
           fmt::format("'{}' would write to the database: query is read-only", excerpt(text)));
    }
    const bool attach = seen.attach;
    if (attach) run_silently(db, st.get(), text);
    statements.push_back({std::move(st), text, attach});
  }
  if (statements.empty()) throw Error(Errc::usage, "cannot run query: the SQL holds no statement");

  const auto writer = make_writer(format, stdout);
  for (const auto& s : statements) {
    if (!s.done) step_all(db, s.st.get(), s.text, *writer);
  }
  return kExitOk;
}

}  // namespace

void add_query(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "query", "run SQL (read-only) against the database, and with --live the ring");
  cmd->add_option("-c,--config", o->config,
                  "config file (TOML): reads its database.path (a file or a recording's "
                  "folder); exactly one of -c and --db");
  cmd->add_option("--db", o->db,
                  "a database file or a recording's folder to read, without a config");
  cmd->add_flag("--live", o->live,
                "attach the live ring as tables live.<type> (same columns as the database's)");
  cmd->add_option("sql", o->sql,
                  "SQL: one or more statements separated by ';', all checked before the first "
                  "runs, e.g. 'SELECT count(*) FROM sensor; PRAGMA journal_mode'")
      ->required();
  one_of(cmd->add_option("--format", o->format,
                         "output: table (aligned), csv (RFC 4180, CRLF) or json (one object per "
                         "line); default table"),
         {"table", "csv", "json"});
  cmd->footer(
      "Examples:\n"
      "  ringlite query -c app.toml 'SELECT count(*) FROM sensor'\n"
      "  ringlite query --db /var/lib/app/recording \"SELECT time, a FROM sensor_t WHERE ts_ns > "
      "strftime('%s','now','-1 hour') * 1000000000\"\n"
      "  ringlite query -c app.toml --live --format json 'SELECT * FROM live.sensor'");
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

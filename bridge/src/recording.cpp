// ringlite: reading a recording (ringlite/recording.hpp; docs/design.md, "Reading a
// recording"). A folder is read through one in-memory connection whose tables are virtual
// tables (recording_vtab.cpp) over the segment files, each opened read-only only when a
// query needs it; a single database file is the file itself, read-only.
#include "ringlite/recording.hpp"

#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <system_error>

#include "detail/recording_detail.hpp"
#include "detail/segment_files.hpp"
#include "detail/time_view.hpp"
#include "ringlite/error.hpp"
#include "ringlite/store.hpp"
#include "ringlite/types.hpp"

namespace ringlite {
namespace detail {

namespace fs = std::filesystem;

namespace {

// The formats a reader accepts (docs/design.md, "Format version"): 1, before the catalog,
// and 2.
constexpr std::int64_t kOldestReadable = 1;
constexpr std::int64_t kNewestReadable = std::max<std::int64_t>(2, kUserVersion);

// The most catalog rows a reader takes: a segment a second for eleven days. More is a
// hostile or broken file, not a recording.
constexpr std::int64_t kMaxCatalogRows = 1'000'000;

// The metadata tables a folder's connection shows, and where their rows come from.
struct MetaTable {
  const char* name;
  TableScope scope;
};
constexpr MetaTable kMetaTables[] = {
    {"_ringlite_types", TableScope::newest},    {"_ringlite_progress", TableScope::newest},
    {"_ringlite_segments", TableScope::newest}, {"_ringlite_rejects", TableScope::all_live},
    {"_ringlite_gaps", TableScope::gaps},
};

std::string quote(std::string_view name) {
  std::string r = "\"";
  for (char c : name) r += c == '"' ? std::string("\"\"") : std::string(1, c);
  return r + "\"";
}

/// The first column of the first row, as an integer; nullopt for no row or NULL.
std::optional<std::int64_t> query_int(sqlite3* db, const std::string& sql, std::string& err) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  std::optional<std::int64_t> out;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      if (sqlite3_column_type(st, 0) != SQLITE_NULL) out = sqlite3_column_int64(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK) err = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  return out;
}

}  // namespace

/// query_int() that throws Error(sqlite) on failure.
std::optional<std::int64_t> integer(sqlite3* db, const std::string& sql) {
  std::string err;
  auto v = query_int(db, sql, err);
  if (!err.empty()) throw Error(Errc::sqlite, err);
  return v;
}

SegmentHandle::~SegmentHandle() {
  pool.clear();
  if (db) sqlite3_close_v2(db);
}

std::vector<Column> table_columns(sqlite3* db, std::string_view table) {
  std::vector<Column> out;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT name, type FROM pragma_table_info(?1)", -1, &st, nullptr);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, table.data(), static_cast<int>(table.size()), SQLITE_TRANSIENT);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* n = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    out.push_back({n ? n : "", t ? t : ""});
    rc = SQLITE_OK;
  }
  const std::string err = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_OK) throw Error(Errc::sqlite, err, 0, rc);
  return out;
}

bool is_table(sqlite3* db, std::string_view name) {
  // A view or a virtual table (rootpage 0) is not one: either can be an endless query.
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                              "rootpage > 0 AND name = ?1 COLLATE NOCASE",
                              -1, &st, nullptr);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  bool found = false;
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    found = sqlite3_column_int64(st, 0) > 0;
    rc = SQLITE_OK;
  }
  const std::string err = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) throw Error(Errc::sqlite, err, 0, rc);
  return found;
}

std::string describe_columns(const std::vector<Column>& cols) {
  std::string s;
  for (const Column& c : cols) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", c.name, c.type);
  return "(" + s + ")";
}

RecordingImpl::~RecordingImpl() {
  // The virtual tables' cursors borrow the segments' statements: the connection goes first.
  if (conn) sqlite3_close_v2(conn);
  conn = nullptr;
  handles.clear();
}

void RecordingImpl::check_identity(sqlite3* db, const std::string& what) {
  std::string err;
  const auto app = query_int(db, "PRAGMA application_id", err);
  if (!err.empty()) {
    const bool notadb = (sqlite3_extended_errcode(db) & 0xff) == SQLITE_NOTADB;
    throw Error(notadb ? Errc::config : Errc::sqlite, fmt::format("cannot read {}: {}", what, err),
                0, sqlite3_extended_errcode(db));
  }
  const auto version = query_int(db, "PRAGMA user_version", err).value_or(0);
  const auto types = query_int(db,
                               "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                               "rootpage > 0 AND name = '_ringlite_types'",
                               err)
                         .value_or(0);
  if (!err.empty()) throw Error(Errc::sqlite, fmt::format("cannot read {}: {}", what, err));
  if (app.value_or(0) != kApplicationId || types == 0) {
    throw Error(Errc::schema,
                fmt::format("cannot read {}: not a ringlite database (application_id 0x{:08x}{})",
                            what, static_cast<std::uint32_t>(app.value_or(0)),
                            app.value_or(0) == kApplicationId ? ", no _ringlite_types table" : ""));
  }
  if (version < kOldestReadable || version > kNewestReadable) {
    throw Error(Errc::version,
                fmt::format("cannot read {}: database format version {}, this build reads {} to {}",
                            what, version, kOldestReadable, kNewestReadable));
  }
}

sqlite3* RecordingImpl::open_file(const fs::path& file, const std::string& what, Errc not_regular) {
  // SQLite's open of a FIFO blocks until a writer comes, a device may be endless: only a
  // regular file (or a symlink to one) is opened. A missing file is SQLite's to report.
  std::error_code ec;
  const auto type = fs::status(file, ec).type();
  if (type != fs::file_type::not_found && type != fs::file_type::regular) {
    throw Error(not_regular, fmt::format("cannot open {}: not a regular file", what));
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    if (!fs::exists(file, ec)) throw Error(Errc::not_found, fmt::format("{}: no such file", what));
    throw Error(Errc::config, fmt::format("cannot open {}: {}", what, why), 0, rc);
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

void RecordingImpl::read_schema(sqlite3* db, const std::string& what) {
  std::string err;
  const auto n = query_int(db, "SELECT count(*) FROM _ringlite_types", err).value_or(0);
  if (!err.empty()) throw Error(Errc::sqlite, fmt::format("cannot read {}: {}", what, err));
  if (n > static_cast<std::int64_t>(kMaxRecordTypes)) {
    throw Error(Errc::corrupt,
                fmt::format("cannot read {}: _ringlite_types lists {} record types (a schema has "
                            "at most {})",
                            what, n, kMaxRecordTypes));
  }
  std::string all;
  std::vector<std::string> names;
  {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT name, ddl FROM _ringlite_types ORDER BY id", -1, &st,
                                nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      const auto* ddl = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      names.emplace_back(name ? name : "");
      all += std::string(ddl ? ddl : "") + ";\n";
      rc = SQLITE_OK;
    }
    err = sqlite3_errmsg(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
      throw Error(Errc::sqlite, fmt::format("cannot read {}: {}", what, err), 0, rc);
  }
  // The DDL is untrusted text: Schema::parse lets only CREATE TABLE through, and checks it.
  schema = Schema::parse(all, fmt::format("{} _ringlite_types", what));
  if (schema.types().size() != names.size()) {
    throw Error(Errc::schema, fmt::format("cannot read {}: _ringlite_types lists {} types but its "
                                          "DDL declares {}",
                                          what, names.size(), schema.types().size()));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    const RecordType& t = schema.types()[i];
    if (t.name != names[i]) {
      throw Error(Errc::schema, fmt::format("cannot read {}: _ringlite_types names a type '{}' "
                                            "whose DDL declares '{}'",
                                            what, names[i], t.name));
    }
    // The table must be a table, and what its DDL says, or the views and the readers read
    // the wrong column (or a hostile view that never ends).
    if (!is_table(db, t.name)) {
      throw Error(Errc::schema,
                  fmt::format("cannot read {}: type '{}' has no table (a view or a virtual table "
                              "is not one)",
                              what, t.name));
    }
    std::vector<Column> cols = table_columns(db, t.name);
    std::vector<std::string> want = {"seq", "ts_ns", "producer"};
    for (const Field& f : t.fields) want.push_back(f.name);
    bool same = cols.size() == want.size();
    for (std::size_t c = 0; same && c < cols.size(); ++c) same = cols[c].name == want[c];
    if (!same) {
      throw Error(Errc::schema,
                  fmt::format("cannot read {}: table '{}' has columns {}, its _ringlite_types DDL "
                              "declares {}",
                              what, t.name, describe_columns(cols), t.ddl()));
    }
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const std::string_view type = c < 3 ? "INTEGER" : sql_type(t.fields[c - 3].type);
      if (sqlite3_stricmp(cols[c].type.c_str(), std::string(type).c_str()) != 0) {
        throw Error(Errc::schema,
                    fmt::format("cannot read {}: table '{}' column '{}' is declared '{}', its "
                                "_ringlite_types DDL makes it {}",
                                what, t.name, cols[c].name, cols[c].type, type));
      }
    }
    tables.push_back({t.name, std::move(cols), TableScope::records});
  }
}

namespace {

SegmentInfo catalog_row(sqlite3_stmt* st, const std::string& what) {
  SegmentInfo s;
  const auto bad = [&](const std::string& why) {
    return Error(Errc::corrupt, fmt::format("cannot read {}: _ringlite_segments row {}: {}", what,
                                            sqlite3_column_int64(st, 0), why));
  };
  const auto is_int = [&](int i) { return sqlite3_column_type(st, i) == SQLITE_INTEGER; };
  const auto is_null = [&](int i) { return sqlite3_column_type(st, i) == SQLITE_NULL; };
  if (!is_int(0) || sqlite3_column_int64(st, 0) < 1) throw bad("number is not a positive integer");
  s.number = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
  const auto* state = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
  s.state = state ? state : "";
  if (s.state != "open" && s.state != "closed" && s.state != "deleted")
    throw bad(fmt::format("state '{}' is none of open, closed, deleted", s.state));
  for (int i = 2; i <= 5; ++i) {
    if (!is_null(i) && !is_int(i)) throw bad("a seq or ts range holds a value that is no integer");
  }
  if (is_null(2) != is_null(3) || is_null(2) != is_null(4) || is_null(2) != is_null(5))
    throw bad("its seq and ts ranges are partly NULL");
  if (!is_null(2)) {
    const auto fs = sqlite3_column_int64(st, 2), ls = sqlite3_column_int64(st, 3);
    const auto ft = sqlite3_column_int64(st, 4), lt = sqlite3_column_int64(st, 5);
    if (fs < 0 || ls < fs) throw bad(fmt::format("seq range [{}, {}] is not a range", fs, ls));
    if (lt < ft) throw bad(fmt::format("ts range [{}, {}] is not a range", ft, lt));
    s.first_seq = static_cast<std::uint64_t>(fs);
    s.last_seq = static_cast<std::uint64_t>(ls);
    s.first_ts = ft;
    s.last_ts = lt;
  }
  if (!is_int(6) || sqlite3_column_int64(st, 6) < 0) throw bad("rows is not a count");
  s.rows = static_cast<std::uint64_t>(sqlite3_column_int64(st, 6));
  if (!is_null(7)) {
    if (!is_int(7) || sqlite3_column_int64(st, 7) < 0) throw bad("bytes is not a size");
    s.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(st, 7));
  }
  return s;
}

}  // namespace

void RecordingImpl::read_catalog(sqlite3* db, std::uint64_t newest_file, const std::string& what) {
  if (!is_table(db, "_ringlite_segments")) {
    throw Error(Errc::schema,
                fmt::format("cannot read {}: it has no table _ringlite_segments (a view or a "
                            "virtual table is not one)",
                            what));
  }
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT number, state, first_seq, last_seq, first_ts, last_ts, rows, "
                              "bytes FROM _ringlite_segments ORDER BY number",
                              -1, &st, nullptr);
  try {
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (catalog.size() >= static_cast<std::size_t>(kMaxCatalogRows)) {
        throw Error(Errc::corrupt, fmt::format("cannot read {}: _ringlite_segments has more than "
                                               "{} rows",
                                               what, kMaxCatalogRows));
      }
      SegmentInfo s = catalog_row(st, what);
      s.path = path / segment_file_name(s.number);
      catalog.push_back(std::move(s));
      rc = SQLITE_OK;
    }
  } catch (...) {
    sqlite3_finalize(st);
    throw;
  }
  const std::string err = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_OK)
    throw Error(Errc::sqlite, fmt::format("cannot read {}: {}", what, err), 0, rc);

  const auto corrupt = [&](const std::string& why) {
    return Error(Errc::corrupt, fmt::format("cannot read {}: {}", what, why));
  };
  const SegmentInfo* prev = nullptr;
  bool has_newest = false;
  for (const SegmentInfo& s : catalog) {
    if (s.state == "deleted") continue;
    if (s.number > newest_file)
      throw corrupt(fmt::format("the catalog lists segment {} as {}, past the newest file {}",
                                s.number, s.state, newest_file));
    if (s.number == newest_file) has_newest = true;
    if (s.state == "open" && s.number != newest_file)
      throw corrupt(fmt::format("the catalog lists segment {} as open, but {} is the newest",
                                s.number, newest_file));
    if (!s.first_seq) continue;
    if (prev && *s.first_seq <= *prev->last_seq) {
      throw corrupt(fmt::format(
          "the catalog's segments {} and {} have overlapping seq ranges "
          "([{}, {}] and [{}, {}])",
          prev->number, s.number, *prev->first_seq, *prev->last_seq, *s.first_seq, *s.last_seq));
    }
    prev = &s;
  }
  if (!has_newest)
    throw corrupt(
        fmt::format("the catalog has no live row for the segment itself ({})", newest_file));
  for (const SegmentInfo& s : catalog) {
    if (s.state != "deleted") live.push_back(s);
  }
}

void RecordingImpl::open_folder() {
  const auto files = list_segment_files(path);
  if (files.empty()) {
    throw Error(Errc::config,
                fmt::format("cannot open recording '{}': the folder holds no segment files ({})",
                            path.string(), segment_file_name(1)));
  }
  // The newest complete segment. A newest file without tables is one the bridge is creating
  // (or was killed creating): the one before it is complete.
  std::unique_ptr<SegmentHandle> newest;
  for (auto it = files.rbegin(); it != files.rend() && !newest; ++it) {
    const std::string what = fmt::format("segment '{}'", it->path.string());
    auto h = std::make_unique<SegmentHandle>();
    h->db = open_file(it->path, what, Errc::corrupt);
    std::string err;
    const auto app = query_int(h->db, "PRAGMA application_id", err).value_or(0);
    const auto objects = query_int(h->db, "SELECT count(*) FROM sqlite_schema", err).value_or(0);
    if (err.empty() && app == 0 && objects == 0 && it == files.rbegin() && files.size() > 1)
      continue;  // being created
    check_identity(h->db, what);
    newest_number = it->number;
    newest = std::move(h);
  }
  const std::string what = fmt::format("recording '{}' (newest segment {})", path.string(),
                                       segment_file_name(newest_number));
  read_schema(newest->db, what);
  read_catalog(newest->db, newest_number, what);
  check_meta_tables(newest->db, what, true);
  for (const MetaTable& m : kMetaTables)
    tables.push_back({m.name, table_columns(newest->db, m.name), m.scope});
  for (const TableDef& t : tables) newest->checked[t.name] = TableState::present;
  newest->last_used = ++clock;
  newest->used_at = std::chrono::steady_clock::now();
  handles.emplace(newest_number, std::move(newest));
  open_handles = 1;

  // The connection: an in-memory main that holds the virtual tables, TEMP time views.
  const int rc = sqlite3_open_v2(":memory:", &conn, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) throw Error(Errc::sqlite, "cannot open an in-memory database", 0, rc);
  sqlite3_extended_result_codes(conn, 1);
  register_module(conn, this);
  for (std::size_t i = 0; i < tables.size(); ++i) {
    exec(fmt::format("CREATE VIRTUAL TABLE main.{} USING ringlite_recording({})",
                     quote(tables[i].name), i));
  }
  for (const RecordType& t : schema.types()) exec(time_view_ddl(t, true));
}

void RecordingImpl::check_meta_tables(sqlite3* db, const std::string& what, bool required) {
  for (const MetaTable& m : kMetaTables) {
    if (is_table(db, m.name)) continue;
    // A format-1 file lacks some; a view of that name must not stand in for one either way.
    if (!required && integer(db, fmt::format("SELECT count(*) FROM sqlite_schema WHERE type IN "
                                             "('table', 'view') AND name = '{}' COLLATE NOCASE",
                                             m.name))
                             .value_or(0) == 0)
      continue;
    throw Error(Errc::schema,
                fmt::format("cannot read {}: it has no table {} (a view or a virtual table is "
                            "not one)",
                            what, m.name));
  }
}

void RecordingImpl::exec(const std::string& sql) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(conn, sql.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return;
  const std::string why = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  throw Error(Errc::sqlite, fmt::format("cannot open recording '{}': {}", path.string(), why), 0,
              rc);
}

void RecordingImpl::open_file_db() {
  const std::string what = fmt::format("database '{}'", path.string());
  conn = open_file(path, what, Errc::config);
  check_identity(conn, what);
  read_schema(conn, what);
  check_meta_tables(conn, what, false);
  for (const RecordType& t : schema.types()) {
    // A format-1 database has no time views: TEMP ones, which need no write to the file.
    std::string err;
    const auto has_view = query_int(conn,
                                    fmt::format("SELECT count(*) FROM sqlite_schema WHERE name = "
                                                "'{}'",
                                                time_view_name(t.name)),
                                    err)
                              .value_or(0);
    if (has_view == 0) exec(time_view_ddl(t, true));
  }
}

void RecordingImpl::single_file_catalog() noexcept {
  if (segmented || !catalog.empty()) return;
  SegmentInfo s;
  s.number = 1;
  s.state = "open";
  s.path = path;
  try {
    for (const RecordType& t : schema.types()) {
      const std::string q = quote(t.name);
      const auto rows = integer(conn, "SELECT count(*) FROM " + q).value_or(0);
      if (rows <= 0) continue;
      // Each min() and max() alone, so that the rowid and the ts index answer it.
      s.rows += static_cast<std::uint64_t>(rows);
      const auto fs = integer(conn, "SELECT min(seq) FROM " + q);
      const auto ls = integer(conn, "SELECT max(seq) FROM " + q);
      const auto ft = integer(conn, "SELECT min(ts_ns) FROM " + q);
      const auto lt = integer(conn, "SELECT max(ts_ns) FROM " + q);
      if (fs && ls && ft && lt) {
        s.first_seq = std::min(s.first_seq.value_or(std::numeric_limits<std::uint64_t>::max()),
                               static_cast<std::uint64_t>(*fs));
        s.last_seq = std::max(s.last_seq.value_or(0), static_cast<std::uint64_t>(*ls));
        s.first_ts = std::min(s.first_ts.value_or(std::numeric_limits<std::int64_t>::max()), *ft);
        s.last_ts = std::max(s.last_ts.value_or(std::numeric_limits<std::int64_t>::min()), *lt);
      }
    }
  } catch (const std::exception&) {
    // A database that fails here fails every query too, which reports why: the catalog
    // keeps what was read.
  }
  try {
    catalog.push_back(s);
    live.push_back(s);
  } catch (const std::exception&) {  // out of memory: the catalog stays empty
    catalog.clear();
    live.clear();
  }
}

void RecordingImpl::close_idle(bool lru) {
  const auto now = std::chrono::steady_clock::now();
  auto victim = handles.end();
  for (auto it = handles.begin(); it != handles.end();) {
    const SegmentHandle* h = it->second.get();
    if (!h || h->active > 0) {
      ++it;
    } else if (!lru && now - h->used_at >= kIdleClose) {
      it = handles.erase(it);
      --open_handles;
    } else {
      if (lru && (victim == handles.end() || h->last_used < victim->second->last_used)) victim = it;
      ++it;
    }
  }
  if (victim != handles.end()) {
    handles.erase(victim);
    --open_handles;
  }
}

SegmentHandle* RecordingImpl::segment(const SegmentInfo& s) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_sweep >= kIdleClose) {
    last_sweep = now;
    close_idle(false);
  }
  if (auto it = handles.find(s.number); it != handles.end()) {
    if (it->second) {
      it->second->last_used = ++clock;
      it->second->used_at = now;
    }
    return it->second.get();
  }
  // Each connection holds about 3 fds (the file, its WAL and shm): a recording of many
  // segments would run out of them, and keep the files retention deleted on disk.
  if (open_handles >= kMaxOpenSegments) close_idle(true);
  const std::string what = fmt::format("segment '{}'", s.path.string());
  auto h = std::make_unique<SegmentHandle>();
  try {
    h->db = open_file(s.path, what, Errc::corrupt);
    check_identity(h->db, what);
  } catch (const Error& e) {
    std::error_code ec;
    if (e.code() != Errc::not_found && fs::exists(s.path, ec)) throw;
    h.reset();  // retention deleted it under us: its records expired
  }
  SegmentHandle* raw = h.get();
  if (raw) {
    raw->last_used = ++clock;
    raw->used_at = now;
    ++open_handles;
  }
  handles.emplace(s.number, std::move(h));
  return raw;
}

bool RecordingImpl::has_table(SegmentHandle& h, const TableDef& t, const SegmentInfo& s) {
  auto& state = h.checked[t.name];
  if (state == TableState::unknown) {
    const bool table = is_table(h.db, t.name);
    std::vector<Column> cols = table_columns(h.db, t.name);
    if (!table && !cols.empty()) {
      throw Error(Errc::schema, fmt::format("cannot read segment '{}': its '{}' is not a table (a "
                                            "view or a virtual table)",
                                            s.path.string(), t.name));
    }
    const auto same_names = [&] {
      return cols.size() == t.columns.size() &&
             std::equal(cols.begin(), cols.end(), t.columns.begin(),
                        [](const Column& a, const Column& b) { return a.name == b.name; });
    };
    if (cols.empty()) {
      state = TableState::absent;  // a type the schema gained after this segment closed
    } else if (same_names()) {
      for (std::size_t c = 0; c < cols.size(); ++c) {
        if (sqlite3_stricmp(cols[c].type.c_str(), t.columns[c].type.c_str()) != 0) {
          throw Error(
              Errc::schema,
              fmt::format("cannot read segment '{}': its table '{}' column '{}' is "
                          "declared '{}', the newest segment's {}",
                          s.path.string(), t.name, cols[c].name, cols[c].type, t.columns[c].type));
        }
      }
      state = TableState::present;
    } else {
      throw Error(Errc::schema,
                  fmt::format("cannot read segment '{}': its table '{}' has columns {}, the newest "
                              "segment's has {}",
                              s.path.string(), t.name, describe_columns(cols),
                              describe_columns(t.columns)));
    }
  }
  return state == TableState::present;
}

}  // namespace detail

Recording Recording::open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  auto impl = std::make_unique<detail::RecordingImpl>();
  impl->path = path;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    throw Error(Errc::config, fmt::format("cannot open recording '{}': no such file or folder",
                                          one_line(path.string())));
  }
  if (status.type() != fs::file_type::directory && status.type() != fs::file_type::regular) {
    // A FIFO would block SQLite's open until a writer came.
    throw Error(Errc::config,
                fmt::format("cannot open recording '{}': neither a folder nor a regular file",
                            one_line(path.string())));
  }
  try {
    if (status.type() == fs::file_type::directory) {
      impl->segmented = true;
      impl->open_folder();
    } else {
      impl->open_file_db();
    }
  } catch (const Error& e) {
    if (e.code() == Errc::not_found) {
      throw Error(Errc::config, fmt::format("cannot open recording '{}': no such file or folder",
                                            one_line(path.string())));
    }
    // Type names, columns and paths come from the files (and the user): one line all the
    // same.
    throw Error(e.code(), one_line(e.what()), e.sys_errno(), e.sqlite_code());
  }
  return Recording(std::move(impl));
}

Recording::Recording(std::unique_ptr<detail::RecordingImpl> impl) : impl_(std::move(impl)) {}
Recording::Recording(Recording&&) noexcept = default;
Recording& Recording::operator=(Recording&&) noexcept = default;
Recording::~Recording() = default;

bool Recording::segmented() const noexcept { return impl_->segmented; }
const Schema& Recording::schema() const noexcept { return impl_->schema; }
const std::vector<SegmentInfo>& Recording::catalog() const noexcept {
  impl_->single_file_catalog();
  return impl_->catalog;
}
std::vector<SegmentInfo> Recording::live_segments() const {
  impl_->single_file_catalog();
  return impl_->live;
}
sqlite3* Recording::connection() const noexcept { return impl_->conn; }

}  // namespace ringlite

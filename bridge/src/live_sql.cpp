// SQL over the live ring: one SQLite virtual table per record type (docs/design.md, "Readers, live
// SQL and replay"). The module's client data holds the Ring; each table keeps its own copy, so a
// table stays valid as long as SQLite keeps it, whatever happens to the module.
//
// A scan is a LiveReader walk over the retained history: from the oldest record (or from
// the pushed-down seq lower bound), up to the tail observed when the scan started, so a
// scan terminates however fast producers write. Frames of other types are stepped over;
// a record that fails check_record() is skipped (shared memory is untrusted). Constraints
// on seq (and rowid, which is seq) narrow where the walk starts and stops; constraints on
// ts_ns only filter, since timestamps are not ordered by position. SQLite re-checks every
// pushed-down constraint (omit = 0), so the cursor only has to return a superset.
//
// Module naming: schema "live" uses module `ringlite_live`, any other schema S uses
// `ringlite_live_S`, so two attachments on one connection never share a module and a
// table that SQLite reconnects (after a schema reset) finds its own ring again.
#include "ringlite/live_sql.hpp"

#include <SQLiteCpp/Database.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <string>

#include "detail/int_range.hpp"
#include "detail/store_detail.hpp"
#include "ringlite/error.hpp"
#include "ringlite/reader.hpp"

namespace ringlite {
namespace detail {

/// Frames all live cursors of this process have read so far (tests check that a seq
/// lower bound does not scan from the oldest record). Added once per scan, not per row.
std::atomic<std::uint64_t> g_live_frames_read{0};
std::uint64_t live_frames_read() noexcept {
  return g_live_frames_read.load(std::memory_order_relaxed);
}

}  // namespace detail

namespace {

constexpr int kColSeq = 0, kColTs = 1, kColProducer = 2, kSystemColumns = 3;
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

/// "name" with embedded quotes doubled: an SQL identifier for any name.
std::string quote_id(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + '"';
}

/// The module's client data: the ring every table of this attachment reads.
struct Module {
  Ring ring;
};

struct LiveTable : sqlite3_vtab {
  LiveTable(Ring r, const RecordType* t) : sqlite3_vtab{}, ring(std::move(r)), type(t) {}
  Ring ring;
  const RecordType* type;  // owned by ring's schema, which the Ring keeps alive
};

using Range = detail::IntRange;

struct LiveCursor : sqlite3_vtab_cursor {
  explicit LiveCursor(const LiveTable& t) : sqlite3_vtab_cursor{}, reader(t.ring), type(t.type) {
    rec.payload.reserve(t.ring.max_record());
  }
  ~LiveCursor() { flush_count(); }

  void flush_count() noexcept {
    detail::g_live_frames_read.fetch_add(frames, std::memory_order_relaxed);
    frames = 0;
  }

  /// Moves to the next record of this type inside the bounds, or to eof. False when the
  /// ring turned out damaged (then the scan ends with an error, not with fewer rows).
  bool advance() noexcept {
    for (;;) {
      const ReadStatus r = reader.next(rec);
      if (r == ReadStatus::corrupt || r == ReadStatus::truncated) {
        eof = true;
        damage = r;
        return false;
      }
      if (r != ReadStatus::ok) break;
      ++frames;
      if (rec.seq >= stop) break;
      if (rec.type != type->id || rec.seq < lo) continue;
      if (rec.ts_ns < ts.lo || rec.ts_ns > ts.hi) continue;
      if (!check_record(*type, rec.payload).empty()) continue;  // untrusted bytes: skip
      return true;
    }
    eof = true;
    return true;
  }

  LiveReader reader;
  const RecordType* type;
  LiveRecord rec;
  std::uint64_t lo = 0;    // first seq wanted
  std::uint64_t stop = 0;  // first seq not wanted: min(tail at start, upper bound + 1)
  Range ts;
  bool eof = true;
  ReadStatus damage = ReadStatus::ok;  // why the scan failed, when it did
  std::uint64_t frames = 0;
};

/// Returns results through decode_field (types.hpp): the one place that maps declared types to SQL.
struct ResultSink {
  sqlite3_context* ctx;
  void integer(std::int64_t v) const noexcept { sqlite3_result_int64(ctx, v); }
  void real(double v) const noexcept { sqlite3_result_double(ctx, v); }
  void text(std::string_view s) const noexcept {
    sqlite3_result_text64(ctx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  void blob(std::span<const std::byte> b) const noexcept {
    sqlite3_result_blob64(ctx, b.data(), b.size(), SQLITE_TRANSIENT);
  }
};

// --- the module's methods ------------------------------------------------------------

int connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out,
            char** err) {
  const auto* mod = static_cast<const Module*>(aux);
  const std::string_view table = argc > 2 ? argv[2] : "?";
  std::uint16_t id = 0;
  const std::string_view arg = argc > 3 ? argv[3] : "";
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), id);
  const RecordType* type =
      ec == std::errc() && end == arg.data() + arg.size() ? mod->ring.layouts().find(id) : nullptr;
  if (argc != 4 || type == nullptr) {
    *err = sqlite3_mprintf(
        "cannot create live table '%s': %s has no record type '%s' (usage: ringlite_live(TYPE_ID))",
        std::string(table).c_str(), mod->ring.display().c_str(), std::string(arg).c_str());
    return SQLITE_ERROR;
  }
  std::string decl =
      "CREATE TABLE x(seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, producer INTEGER NOT NULL";
  for (const Field& f : type->fields)
    decl += fmt::format(", {} {}", quote_id(f.name), sql_type(f.type));
  decl += ')';
  if (const int rc = sqlite3_declare_vtab(db, decl.c_str()); rc != SQLITE_OK) return rc;
  auto* t = new (std::nothrow) LiveTable(mod->ring, type);
  if (t == nullptr) return SQLITE_NOMEM;
  *out = t;
  return SQLITE_OK;
}

// SQLite calls in from C: no exception may leave a method.
int x_connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out,
              char** err) {
  try {
    return connect(db, aux, argc, argv, out, err);
  } catch (const std::exception&) {
    return SQLITE_NOMEM;  // std::string or fmt ran out of memory
  }
}

int x_disconnect(sqlite3_vtab* vt) {
  delete static_cast<LiveTable*>(vt);
  return SQLITE_OK;
}

// idxStr lists one (column, op) pair per argv entry: column 's' (seq) or 't' (ts_ns), op
// '=', '>', 'G' (>=), '<', 'L' (<=).
int best_index(sqlite3_index_info* info) {
  std::string plan;
  bool seq_eq = false, seq_lo = false, seq_hi = false, ts_bound = false;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable) continue;
    const bool seq = c.iColumn == -1 || c.iColumn == kColSeq;
    if (!seq && c.iColumn != kColTs) continue;
    const char op = detail::range_op(c.op);
    if (op == 0) continue;
    plan += seq ? 's' : 't';
    plan += op;
    info->aConstraintUsage[i].argvIndex = static_cast<int>(plan.size() / 2);
    info->aConstraintUsage[i].omit = 0;  // SQLite re-checks: the cursor returns a superset
    if (seq) {
      seq_eq |= op == '=';
      seq_lo |= op == '>' || op == 'G';
      seq_hi |= op == '<' || op == 'L';
    } else {
      ts_bound = true;
    }
  }
  // Rows come in seq order; seq is unique, so any ORDER BY that starts with seq ASC holds.
  if (info->nOrderBy >= 1 &&
      (info->aOrderBy[0].iColumn == -1 || info->aOrderBy[0].iColumn == kColSeq) &&
      info->aOrderBy[0].desc == 0) {
    info->orderByConsumed = 1;
  }
  // A full ring holds some 10^6 frames; a lower bound starts the walk near it.
  double rows = 1e6;
  if (seq_eq) {
    rows = 1;
    info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  } else {
    if (seq_lo) rows /= 100;
    if (seq_hi) rows /= 4;
  }
  info->estimatedRows = static_cast<sqlite3_int64>(ts_bound ? rows / 4 + 1 : rows);
  info->estimatedCost = seq_eq ? 10.0 : rows;  // filtering on ts does not shorten the walk
  if (!plan.empty()) {
    info->idxStr = sqlite3_mprintf("%s", plan.c_str());
    if (info->idxStr == nullptr) return SQLITE_NOMEM;
    info->needToFreeIdxStr = 1;
  }
  return SQLITE_OK;
}

int x_best_index(sqlite3_vtab*, sqlite3_index_info* info) {
  try {
    return best_index(info);
  } catch (const std::exception&) {
    return SQLITE_NOMEM;
  }
}

int x_open(sqlite3_vtab* vt, sqlite3_vtab_cursor** out) {
  try {
    *out = new LiveCursor(*static_cast<LiveTable*>(vt));
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
}

int x_close(sqlite3_vtab_cursor* cur) {
  delete static_cast<LiveCursor*>(cur);
  return SQLITE_OK;
}

// The scan met a damaged ring: fail the statement, naming the ring, rather than return
// fewer rows as if that were all.
int corrupt_ring(sqlite3_vtab_cursor* base) {
  auto* table = static_cast<LiveTable*>(base->pVtab);
  const auto& c = *static_cast<LiveCursor*>(base);
  sqlite3_free(table->zErrMsg);
  const std::string why =
      c.damage == ReadStatus::truncated
          ? "ring segment truncated (it was shrunk behind ringlite's back)"
          : fmt::format("its tail {} is impossible (damaged ring header)", c.reader.tail());
  table->zErrMsg =
      sqlite3_mprintf("cannot read %s: %s", table->ring.display().c_str(), why.c_str());
  return SQLITE_CORRUPT_VTAB;
}

int x_filter(sqlite3_vtab_cursor* base, int, const char* plan, int argc, sqlite3_value** argv) {
  auto& c = *static_cast<LiveCursor*>(base);
  c.flush_count();
  Range seq;
  c.ts = Range{};
  for (int i = 0; i < argc && plan != nullptr && plan[2 * i] != '\0'; ++i) {
    (plan[2 * i] == 's' ? seq : c.ts).apply(plan[2 * i + 1], argv[i]);
  }
  c.eof = false;
  const std::uint64_t tail = c.reader.tail();  // the scan ends here, however fast producers write
  if (seq.empty() || c.ts.empty() || seq.hi < 0) {
    c.eof = true;
    return SQLITE_OK;
  }
  c.lo = seq.lo > 0 ? static_cast<std::uint64_t>(seq.lo) : 0;
  c.stop = seq.hi == kMax ? tail : std::min(tail, static_cast<std::uint64_t>(seq.hi) + 1);
  if (c.lo > 0) {
    c.reader.seek(c.lo);
  } else {
    c.reader.seek_oldest();
  }
  return c.advance() ? SQLITE_OK : corrupt_ring(base);
}

int x_next(sqlite3_vtab_cursor* base) {
  return static_cast<LiveCursor*>(base)->advance() ? SQLITE_OK : corrupt_ring(base);
}

int x_eof(sqlite3_vtab_cursor* base) { return static_cast<LiveCursor*>(base)->eof ? 1 : 0; }

int x_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  const auto& c = *static_cast<LiveCursor*>(base);
  switch (col) {
    case kColSeq:
      sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(c.rec.seq));
      break;
    case kColTs:
      sqlite3_result_int64(ctx, c.rec.ts_ns);
      break;
    case kColProducer:
      sqlite3_result_int64(ctx, c.rec.producer);
      break;
    default: {
      const auto i = static_cast<std::size_t>(col - kSystemColumns);
      if (col < kSystemColumns || i >= c.type->fields.size()) return SQLITE_RANGE;
      const Field& f = c.type->fields[i];
      decode_field(f.type, f.offset, f.length, c.rec.payload.data(), ResultSink{ctx});
    }
  }
  return SQLITE_OK;
}

int x_rowid(sqlite3_vtab_cursor* base, sqlite3_int64* rowid) {
  *rowid = static_cast<sqlite3_int64>(static_cast<LiveCursor*>(base)->rec.seq);
  return SQLITE_OK;
}

/// Read-only: no xUpdate, so SQLite refuses INSERT, UPDATE and DELETE by itself.
const sqlite3_module& live_module() {
  static const sqlite3_module m = [] {
    sqlite3_module mod{};
    mod.iVersion = 1;
    mod.xCreate = x_connect;
    mod.xConnect = x_connect;
    mod.xBestIndex = x_best_index;
    mod.xDisconnect = x_disconnect;
    mod.xDestroy = x_disconnect;
    mod.xOpen = x_open;
    mod.xClose = x_close;
    mod.xFilter = x_filter;
    mod.xNext = x_next;
    mod.xEof = x_eof;
    mod.xColumn = x_column;
    mod.xRowid = x_rowid;
    return mod;
  }();
  return m;
}

Error sql_error(sqlite3* db, int rc, std::string_view schema, std::string_view what) {
  return Error(
      Errc::sqlite,
      fmt::format("cannot attach live tables as '{}': {}: {}", schema, what, sqlite3_errmsg(db)), 0,
      rc == SQLITE_OK ? sqlite3_extended_errcode(db) : rc);
}

void exec(sqlite3* db, const std::string& sql, std::string_view schema) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return;
  const std::string why = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  throw Error(Errc::sqlite, fmt::format("cannot attach live tables as '{}': {}", schema, why), 0,
              rc);
}

}  // namespace

void attach_live(SQLite::Database& database, const Ring& ring, std::string_view schema_name) {
  attach_live(database.getHandle(), ring, schema_name);
}

void attach_live(sqlite3* db, const Ring& ring, std::string_view schema_name) {
  const std::string schema(schema_name);
  {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "ATTACH ':memory:' AS ?1", -1, &st, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, schema.c_str(), -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
      Error e = sql_error(db, rc, schema, "cannot attach an in-memory database");
      sqlite3_finalize(st);
      throw e;
    }
    sqlite3_finalize(st);
  }
  try {
    // A connection opened read-only attaches read-only databases, even in memory. An empty
    // deserialized image is writable, so the tables can be declared in it (the tables
    // themselves stay read-only: the module has no xUpdate).
    if (sqlite3_db_readonly(db, schema.c_str()) == 1) {
      auto* image = static_cast<unsigned char*>(sqlite3_malloc64(8));
      const int rc =
          sqlite3_deserialize(db, schema.c_str(), image, 0, 8,
                              SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
      if (rc != SQLITE_OK) throw sql_error(db, rc, schema, "cannot make it writable");
    }
    const std::string module = schema == "live" ? "ringlite_live" : "ringlite_live_" + schema;
    // SQLite calls the destructor itself when registration fails.
    auto* aux = new Module{ring};
    const int rc = sqlite3_create_module_v2(db, module.c_str(), &live_module(), aux,
                                            [](void* p) { delete static_cast<Module*>(p); });
    if (rc != SQLITE_OK) throw sql_error(db, rc, schema, "cannot register module");
    for (const RecordType& t : ring.layouts().types()) {
      exec(db,
           fmt::format("CREATE VIRTUAL TABLE {}.{} USING {}({})", quote_id(schema),
                       quote_id(t.name), quote_id(module), t.id),
           schema);
    }
  } catch (...) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "DETACH ?1", -1, &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, schema.c_str(), -1, SQLITE_TRANSIENT);
      (void)sqlite3_step(st);
    }
    sqlite3_finalize(st);
    throw;
  }
}

}  // namespace ringlite

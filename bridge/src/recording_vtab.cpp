// ringlite: the virtual tables of a recording folder's connection (detail/recording_detail.hpp).
// A table reads the segments' tables of its name one segment after the other; a record
// type's segments hold disjoint increasing seq ranges, so that is seq order. Constraints on
// seq and ts_ns (=, <, <=, >, >=) become bounds: the catalog's ranges skip the segments that
// cannot meet them (never opened), and each segment's own query gets them, where its rowid
// and ts index answer. The module has no xUpdate: the tables are read-only.
#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "detail/int_range.hpp"
#include "detail/recording_detail.hpp"
#include "ringlite/error.hpp"

namespace ringlite::detail {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

struct VTab {
  sqlite3_vtab base{};
  RecordingImpl* rec = nullptr;
  std::size_t index = 0;  // into rec->tables
};

/// Inclusive bounds on seq and ts_ns (detail/int_range.hpp); empty when no row can meet the
/// constraints.
struct Bounds {
  IntRange seq, ts;
  bool empty() const noexcept { return seq.empty() || ts.empty(); }
  void apply(char column, char op, sqlite3_value* v) noexcept {
    (column == 's' ? seq : ts).apply(op, v);
  }
};

struct Cursor {
  sqlite3_vtab_cursor base{};
  std::vector<std::size_t> segments;  // indices into rec->live still to read
  std::size_t next = 0;
  Bounds bounds;
  int used = -1;  // the columns the statement reads (xBestIndex's idxNum); seq always
  SegmentHandle* handle = nullptr;
  std::string key;   // the statement's SQL, its pool key
  std::string file;  // the segment's, for messages
  RecStmt st;
  bool eof = true;
  sqlite3_int64 row = 0;
  std::optional<std::int64_t> last_seq;  // of the row before: records come in seq order
  bool descending = false;               // ... or in reverse (ORDER BY seq DESC)

  void release() {
    if (!st) return;
    sqlite3_reset(st.get());
    sqlite3_clear_bindings(st.get());
    --handle->active;  // idle at 0: RecordingImpl::segment() may close it
    handle->pool[key].push_back(std::move(st));
  }
};

/// Whether column `i` is among the used ones (see x_best_index).
bool used_column(int used, std::size_t i) {
  if (used < 0) return true;
  return i >= 30 ? (used & (1 << 30)) != 0 : (used & (1 << i)) != 0;
}

std::string quote(std::string_view name) {
  std::string r = "\"";
  for (char c : name) r += c == '"' ? std::string("\"\"") : std::string(1, c);
  return r + "\"";
}

int set_error(sqlite3_vtab* tab, const std::string& message, int rc = SQLITE_ERROR) {
  sqlite3_free(tab->zErrMsg);
  // Names and paths in it come from the files: one line all the same.
  tab->zErrMsg = sqlite3_mprintf("%s", one_line(message).c_str());
  return rc;
}

int x_connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out,
              char** err) {
  auto* rec = static_cast<RecordingImpl*>(aux);
  std::size_t index = rec->tables.size();
  if (argc == 4) index = std::strtoull(argv[3], nullptr, 10);
  if (index >= rec->tables.size()) {
    *err = sqlite3_mprintf("ringlite_recording: no table number %s", argc == 4 ? argv[3] : "");
    return SQLITE_ERROR;
  }
  std::string ddl;
  for (const Column& c : rec->tables[index].columns)
    ddl += fmt::format("{}{} {}", ddl.empty() ? "" : ", ", quote(c.name), c.type);
  const int rc = sqlite3_declare_vtab(db, fmt::format("CREATE TABLE x({})", ddl).c_str());
  if (rc != SQLITE_OK) return rc;
  auto* tab = new (std::nothrow) VTab;
  if (!tab) return SQLITE_NOMEM;
  tab->rec = rec;
  tab->index = index;
  *out = &tab->base;
  return SQLITE_OK;
}

int x_disconnect(sqlite3_vtab* base) {
  delete reinterpret_cast<VTab*>(base);
  return SQLITE_OK;
}

int x_best_index(sqlite3_vtab* base, sqlite3_index_info* info) {
  auto* tab = reinterpret_cast<VTab*>(base);
  const TableDef& def = tab->rec->tables[tab->index];
  // The columns the statement uses: the others are read as NULL, which spares decoding them
  // (count(*) reads none). Bit 30 stands for every column past the 30th.
  info->idxNum = static_cast<int>(info->colUsed & 0x3fffffff);
  if ((info->colUsed >> 30) != 0) info->idxNum |= 1 << 30;
  double rows = 1;  // an estimate: catalog values are untrusted, so it is kept in range
  for (const SegmentInfo& s : tab->rec->live) rows += static_cast<double>(s.rows);
  rows = std::min(rows, 1e15);
  if (def.scope != TableScope::records) {
    info->estimatedCost = 1e4;
    info->estimatedRows = 1000;
    return SQLITE_OK;
  }
  std::string plan;
  int argv = 0;
  bool eq = false;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable || (c.iColumn != 0 && c.iColumn != 1 && c.iColumn != -1)) continue;
    const char op = range_op(c.op);
    if (op == 0) continue;
    const char column = c.iColumn == 1 ? 't' : 's';
    plan += column;
    plan += op;
    info->aConstraintUsage[i].argvIndex = ++argv;
    info->aConstraintUsage[i].omit = 0;
    if (column == 's' && op == '=') {
      eq = true;
    } else {
      rows /= column == 's' ? 4 : 3;  // each bound: a fraction of the rows
    }
  }
  if (eq) rows = 1;
  info->estimatedRows = static_cast<sqlite3_int64>(std::max(1.0, rows));
  info->estimatedCost = std::max(1.0, rows) * 2 + 10;
  if (eq) info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  // ORDER BY seq, either way, is how the rows come: segments in order (or in reverse), each
  // read by its rowid. So `ORDER BY seq DESC LIMIT n` reads only the newest rows.
  bool descending = false;
  if (info->nOrderBy == 1 && (info->aOrderBy[0].iColumn == 0 || info->aOrderBy[0].iColumn == -1)) {
    info->orderByConsumed = 1;
    descending = info->aOrderBy[0].desc != 0;
  }
  plan.insert(plan.begin(), descending ? 'd' : 'a');
  info->idxStr = sqlite3_mprintf("%s", plan.c_str());
  if (!info->idxStr) return SQLITE_NOMEM;
  info->needToFreeIdxStr = 1;
  return SQLITE_OK;
}

int x_open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* c = new (std::nothrow) Cursor;
  if (!c) return SQLITE_NOMEM;
  *out = &c->base;
  return SQLITE_OK;
}

int x_close(sqlite3_vtab_cursor* base) {
  auto* c = reinterpret_cast<Cursor*>(base);
  c->release();
  delete c;
  return SQLITE_OK;
}

/// The statement that reads `def` from one segment, with the bounds that narrow it.
std::string segment_sql(const TableDef& def, const Bounds& b, bool newest, int used,
                        bool descending) {
  std::string cols;
  for (std::size_t i = 0; i < def.columns.size(); ++i) {
    const bool read = i == 0 || used_column(used, i);
    cols += (i ? ", " : "") + (read ? quote(def.columns[i].name) : std::string("NULL"));
  }
  std::string sql = fmt::format("SELECT {} FROM {}", cols, quote(def.name));
  std::vector<std::string> where;
  switch (def.scope) {
    case TableScope::records:
      if (b.seq.lo != kMin) where.push_back("seq >= ?1");
      if (b.seq.hi != kMax) where.push_back("seq <= ?2");
      if (b.ts.lo != kMin) where.push_back("ts_ns >= ?3");
      if (b.ts.hi != kMax) where.push_back("ts_ns <= ?4");
      break;
    case TableScope::gaps:
      if (!newest) where.push_back("kind <> 'retention'");
      break;
    default:
      break;
  }
  for (std::size_t i = 0; i < where.size(); ++i) sql += (i ? " AND " : " WHERE ") + where[i];
  if (def.scope == TableScope::records) sql += descending ? " ORDER BY seq DESC" : " ORDER BY seq";
  if (def.scope == TableScope::all_live) sql += " ORDER BY seq";
  if (def.scope == TableScope::gaps) sql += " ORDER BY id";
  return sql;
}

/// Moves to the next row, opening the next segments as needed; sets eof after the last.
int advance(Cursor* c) {
  auto* tab = reinterpret_cast<VTab*>(c->base.pVtab);
  RecordingImpl& rec = *tab->rec;
  const TableDef& def = rec.tables[tab->index];
  try {
    for (;;) {
      if (c->st) {
        const int rc = sqlite3_step(c->st.get());
        if (rc == SQLITE_ROW) {
          ++c->row;
          if (def.scope == TableScope::records) {
            // ORDER BY seq is consumed on the catalog's word that segments hold increasing
            // ranges: a segment that breaks it fails the query rather than misorder it.
            const std::int64_t seq = sqlite3_column_int64(c->st.get(), 0);
            if (c->last_seq && (c->descending ? seq >= *c->last_seq : seq <= *c->last_seq)) {
              c->release();
              return set_error(&tab->base,
                               fmt::format("cannot read table '{}' of segment '{}': seq {} is out "
                                           "of order after the previous segment's {} (the "
                                           "catalog's ranges are wrong)",
                                           def.name, c->file, seq, *c->last_seq));
            }
            c->last_seq = seq;
          }
          return SQLITE_OK;
        }
        if (rc != SQLITE_DONE) {
          const std::string why = sqlite3_errmsg(c->handle->db);
          c->release();
          return set_error(
              &tab->base,
              fmt::format("cannot read table '{}' of segment '{}': {}", def.name, c->file, why),
              rc);
        }
        c->release();
      }
      if (c->next >= c->segments.size()) {
        c->eof = true;
        return SQLITE_OK;
      }
      const SegmentInfo& s = rec.live[c->segments[c->next++]];
      SegmentHandle* h = rec.segment(s);
      if (!h || !rec.has_table(*h, def, s)) continue;  // expired, or a type it never had
      c->handle = h;
      c->file = s.path.string();
      c->key = segment_sql(def, c->bounds, s.number == rec.newest_number, c->used, c->descending);
      auto& pool = h->pool[c->key];
      if (!pool.empty()) {
        c->st = std::move(pool.back());
        pool.pop_back();
      } else {
        sqlite3_stmt* raw = nullptr;
        const int rc =
            sqlite3_prepare_v3(h->db, c->key.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
        c->st.reset(raw);
        if (rc != SQLITE_OK) {
          const std::string why = sqlite3_errmsg(h->db);
          c->st.reset();
          return set_error(&tab->base,
                           fmt::format("cannot read segment '{}': {}", s.path.string(), why));
        }
      }
      ++h->active;
      if (def.scope == TableScope::records) {
        // Parameters the SQL does not name are ignored by SQLite's bind (RANGE): bind by name
        // count instead, only those the text uses.
        const int n = sqlite3_bind_parameter_count(c->st.get());
        const std::int64_t values[] = {c->bounds.seq.lo, c->bounds.seq.hi, c->bounds.ts.lo,
                                       c->bounds.ts.hi};
        for (int i = 1; i <= n; ++i) {
          const char* name = sqlite3_bind_parameter_name(c->st.get(), i);
          const int which = name ? std::atoi(name + 1) : 0;
          if (which >= 1 && which <= 4) sqlite3_bind_int64(c->st.get(), i, values[which - 1]);
        }
      }
    }
  } catch (const std::exception& e) {
    c->release();
    return set_error(&tab->base, e.what());
  }
}

int x_filter(sqlite3_vtab_cursor* base, int used, const char* plan, int argc,
             sqlite3_value** argv) {
  auto* c = reinterpret_cast<Cursor*>(base);
  auto* tab = reinterpret_cast<VTab*>(base->pVtab);
  const RecordingImpl& rec = *tab->rec;
  const TableDef& def = rec.tables[tab->index];
  c->release();
  c->segments.clear();
  c->next = 0;
  c->row = 0;
  c->eof = false;
  c->bounds = Bounds{};
  c->used = used;
  c->last_seq.reset();
  c->descending = plan && plan[0] == 'd';
  if (plan && plan[0]) ++plan;  // then the constraints, two characters each
  for (int i = 0; plan && plan[2 * i] && plan[2 * i + 1] && i < argc; ++i)
    c->bounds.apply(plan[2 * i], plan[2 * i + 1], argv[i]);
  if (c->bounds.empty()) {
    c->eof = true;
    return SQLITE_OK;
  }
  const Bounds& b = c->bounds;
  for (std::size_t i = 0; i < rec.live.size(); ++i) {
    const SegmentInfo& s = rec.live[i];
    if (def.scope == TableScope::newest && s.number != rec.newest_number) continue;
    if (def.scope == TableScope::records) {
      // The open segment gains records after the catalog was read: past its last seq, at any
      // time. A closed segment's ranges are final; without records it has nothing to read.
      const bool open = s.state == "open";
      if (!s.first_seq) {
        if (!open) continue;
      } else {
        const auto fs = static_cast<std::int64_t>(*s.first_seq);
        const auto ls = open ? kMax : static_cast<std::int64_t>(*s.last_seq);
        const std::int64_t ft = open ? kMin : *s.first_ts;
        const std::int64_t lt = open ? kMax : *s.last_ts;
        if (ls < b.seq.lo || fs > b.seq.hi || lt < b.ts.lo || ft > b.ts.hi) continue;
      }
    }
    c->segments.push_back(i);
  }
  if (c->descending) std::reverse(c->segments.begin(), c->segments.end());
  return advance(c);
}

int x_next(sqlite3_vtab_cursor* base) { return advance(reinterpret_cast<Cursor*>(base)); }

int x_eof(sqlite3_vtab_cursor* base) { return reinterpret_cast<Cursor*>(base)->eof ? 1 : 0; }

int x_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int i) {
  auto* c = reinterpret_cast<Cursor*>(base);
  if (c->st) sqlite3_result_value(ctx, sqlite3_column_value(c->st.get(), i));
  return SQLITE_OK;
}

int x_rowid(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  auto* c = reinterpret_cast<Cursor*>(base);
  auto* tab = reinterpret_cast<VTab*>(base->pVtab);
  const bool records = tab->rec->tables[tab->index].scope == TableScope::records;
  *out = records && c->st ? sqlite3_column_int64(c->st.get(), 0) : c->row;
  return SQLITE_OK;
}

sqlite3_module make_module() {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xCreate = x_connect;
  m.xConnect = x_connect;
  m.xBestIndex = x_best_index;
  m.xDisconnect = x_disconnect;
  m.xDestroy = x_disconnect;
  m.xOpen = x_open;
  m.xClose = x_close;
  m.xFilter = x_filter;
  m.xNext = x_next;
  m.xEof = x_eof;
  m.xColumn = x_column;
  m.xRowid = x_rowid;
  return m;
}

const sqlite3_module kModule = make_module();

}  // namespace

void register_module(sqlite3* conn, RecordingImpl* rec) {
  const int rc = sqlite3_create_module_v2(conn, "ringlite_recording", &kModule, rec, nullptr);
  if (rc != SQLITE_OK)
    throw Error(Errc::sqlite, "cannot register module ringlite_recording", 0, rc);
}

}  // namespace ringlite::detail

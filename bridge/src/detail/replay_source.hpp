// ringlite: the database side of replay (replay.cpp). Reads a ringlite database read-only:
// the recorded types (from _ringlite_types, so no schema file is needed), one cursor per
// selected type in seq order, and turns each row back into the record's payload bytes (the
// inverse of decode_field() in types.hpp). Nothing here is public.
#pragma once

#include <sqlite3.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/schema.hpp"

namespace ringlite::detail {

struct ReplayStmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using ReplayStmt = std::unique_ptr<sqlite3_stmt, ReplayStmtFinalize>;

/// "name" quoted as an SQL identifier (embedded quotes doubled).
inline std::string quote_identifier(std::string_view name) {
  std::string r = "\"";
  for (char c : name) r += c == '"' ? std::string("\"\"") : std::string(1, c);
  return r + "\"";
}

// The statements replay runs on one type's table. Each is generated from the selection, so
// SQLite sees only the bounds that were given:
//   - seq is always bound (?1..?2): a pass reads up to the seq it began with, and a parked
//     cursor seeks back by seq;
//   - ts_ns (?3..?4) only when a time bound is given, written `+ts_ns` so that SQLite keeps
//     walking the rowid b-tree in seq order (a cursor that streams, and re-seeks cheaply)
//     rather than taking the ts_ns index and sorting. The index still does the work:
//     seq_range_sql() finds the window's seq range through it first, and the cursor walks
//     only that range.

/// The WHERE clause of the per-pass statements.
inline std::string replay_where(bool ts_bounded) {
  return ts_bounded ? " WHERE seq BETWEEN ?1 AND ?2 AND +ts_ns BETWEEN ?3 AND ?4"
                    : " WHERE seq BETWEEN ?1 AND ?2";
}

/// The cursor. Columns: seq, ts_ns, then the user columns in declaration order.
inline std::string select_sql(const RecordType& t, bool ts_bounded) {
  std::string sql = "SELECT seq, ts_ns";
  for (const Field& f : t.fields) sql += ", " + quote_identifier(f.name);
  return sql + " FROM " + quote_identifier(t.name) + replay_where(ts_bounded) + " ORDER BY seq";
}
/// For progress only: how many rows are selected, and the ts_ns of the last one (in seq
/// order; found from the end of the rowid b-tree, so it costs little).
inline std::string count_sql(const RecordType& t, bool ts_bounded) {
  return "SELECT count(*) FROM " + quote_identifier(t.name) + replay_where(ts_bounded);
}
inline std::string last_ts_sql(const RecordType& t, bool ts_bounded) {
  return "SELECT ts_ns FROM " + quote_identifier(t.name) + replay_where(ts_bounded) +
         " ORDER BY seq DESC LIMIT 1";
}
/// The smallest and largest seq of the rows with ts_ns in ?1..?2 (NULLs when none). With an
/// index on ts_ns (`_ringlite_<type>_ts`) a covering search of the window's index entries;
/// without one, a scan of the table.
inline std::string seq_range_sql(const RecordType& t) {
  return "SELECT min(seq), max(seq) FROM " + quote_identifier(t.name) +
         " WHERE ts_ns BETWEEN ?1 AND ?2";
}
/// The smallest ts_ns of the table (NULL when empty): the first entry of its ts_ns index, or
/// a scan without one.
inline std::string first_ts_sql(const RecordType& t) {
  return "SELECT min(ts_ns) FROM " + quote_identifier(t.name);
}

/// The column index of a record's first user column in select_sql()'s rows.
inline constexpr int kFirstUserColumn = 2;

/// Rebuilds the payload of the row `st` is on: `fixed` gets the type's fixed part (padding
/// zeroed), `tails` the TEXT/BLOB values in column order, pointing into SQLite's row (valid
/// until `st` steps). Each column is read as its type's storage class says and encoded by
/// the type table (encode_field in types.hpp); a NULL reads as 0 or empty. So a record whose
/// padding bytes were zero and whose tails were packed in column order (what write_var()
/// makes) comes back byte for byte; NaN does not (SQLite stores it as NULL).
inline void encode_row(const RecordType& t, sqlite3_stmt* st, std::vector<std::byte>& fixed,
                       std::vector<std::string_view>& tails) {
  fixed.assign(t.size, std::byte{0});
  tails.clear();
  int col = kFirstUserColumn;
  for (const Field& f : t.fields) {
    FieldValue v;
    switch (type_info(f.type).storage) {
      case StorageClass::integer:
        v.integer = sqlite3_column_int64(st, col);
        break;
      case StorageClass::real:
        v.real = sqlite3_column_double(st, col);
        break;
      case StorageClass::text: {  // the text first, then its byte count
        const auto* s = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
        if (s) v.bytes = std::string_view(s, n);
        break;
      }
      case StorageClass::blob: {
        const auto* b = static_cast<const char*>(sqlite3_column_blob(st, col));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
        if (b) v.bytes = std::string_view(b, n);
        break;
      }
    }
    encode_field(f.type, f.offset, f.length, v, fixed, tails);
    ++col;
  }
}

}  // namespace ringlite::detail

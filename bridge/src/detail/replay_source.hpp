// ringlite: the database side of replay (replay.cpp). Reads a ringlite database read-only:
// the recorded types (from _ringlite_types, so no schema file is needed), one cursor per
// selected type in seq order, and turns each row back into the record's payload bytes (the
// inverse of visit_field() in fields.hpp). Nothing here is public.
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

/// The selection statements of one type. Parameters ?1..?4: seq from/to, ts_ns from/to.
/// Columns of `select`: seq, ts_ns, then the user columns in declaration order.
inline std::string select_sql(const RecordType& t) {
  std::string sql = "SELECT seq, ts_ns";
  for (const Field& f : t.fields) sql += ", " + quote_identifier(f.name);
  return sql + " FROM " + quote_identifier(t.name) +
         " WHERE seq BETWEEN ?1 AND ?2 AND ts_ns BETWEEN ?3 AND ?4 ORDER BY seq";
}
/// For progress only: how many rows are selected, and the ts_ns of the last one (in seq
/// order; found from the end of the rowid b-tree, so it costs little).
inline std::string count_sql(const RecordType& t) {
  return "SELECT count(*) FROM " + quote_identifier(t.name) +
         " WHERE seq BETWEEN ?1 AND ?2 AND ts_ns BETWEEN ?3 AND ?4";
}
inline std::string last_ts_sql(const RecordType& t) {
  return "SELECT ts_ns FROM " + quote_identifier(t.name) +
         " WHERE seq BETWEEN ?1 AND ?2 AND ts_ns BETWEEN ?3 AND ?4 ORDER BY seq DESC LIMIT 1";
}

template <typename T>
void store_le(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

/// The column index of a record's first user column in select_sql()'s rows.
inline constexpr int kFirstUserColumn = 2;

/// Rebuilds the payload of the row `st` is on: `fixed` gets the type's fixed part (padding
/// zeroed), `tails` the TEXT/BLOB values in column order, pointing into SQLite's row (valid
/// until `st` steps). Integers are truncated to the column's width, UINT64 comes back from
/// its int64 bits, FLOAT32 from the double SQLite holds (exact: it was widened from a
/// float), BOOL as 0/1, CHAR(N) as the text's bytes NUL-padded to N, BYTES(N) as the blob's
/// bytes zero-padded to N. A NULL reads as 0 or empty. So a record whose padding bytes were
/// zero and whose tails were packed in column order (what write_var() makes) comes back
/// byte for byte; NaN does not (SQLite stores it as NULL).
inline void encode_row(const RecordType& t, sqlite3_stmt* st, std::vector<std::byte>& fixed,
                       std::vector<std::string_view>& tails) {
  fixed.resize(t.size);
  std::memset(fixed.data(), 0, fixed.size());
  tails.clear();
  int col = kFirstUserColumn;
  for (const Field& f : t.fields) {
    std::byte* p = fixed.data() + f.offset;
    switch (f.type) {
      case FieldType::int8:
        store_le(p, static_cast<std::int8_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::int16:
        store_le(p, static_cast<std::int16_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::int32:
        store_le(p, static_cast<std::int32_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::int64:
        store_le(p, static_cast<std::int64_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::uint8:
        store_le(p, static_cast<std::uint8_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::uint16:
        store_le(p, static_cast<std::uint16_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::uint32:
        store_le(p, static_cast<std::uint32_t>(sqlite3_column_int64(st, col)));
        break;
      case FieldType::uint64:
        store_le(p, std::bit_cast<std::uint64_t>(
                        static_cast<std::int64_t>(sqlite3_column_int64(st, col))));
        break;
      case FieldType::float32:
        store_le(p, static_cast<float>(sqlite3_column_double(st, col)));
        break;
      case FieldType::float64:
        store_le(p, sqlite3_column_double(st, col));
        break;
      case FieldType::boolean:
        store_le(p, static_cast<std::uint8_t>(sqlite3_column_int64(st, col) != 0 ? 1 : 0));
        break;
      case FieldType::chars: {
        const auto* s = sqlite3_column_text(st, col);  // text first, then its byte count
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
        if (s) std::memcpy(p, s, n < f.length ? n : f.length);
        break;
      }
      case FieldType::bytes: {
        const void* b = sqlite3_column_blob(st, col);
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
        if (b) std::memcpy(p, b, n < f.length ? n : f.length);
        break;
      }
      case FieldType::text: {
        const auto* s = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
        tails.emplace_back(s ? std::string_view(s, n) : std::string_view());
        break;
      }
      case FieldType::blob: {
        const auto* b = static_cast<const char*>(sqlite3_column_blob(st, col));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
        tails.emplace_back(b ? std::string_view(b, n) : std::string_view());
        break;
      }
    }
    ++col;
  }
}

}  // namespace ringlite::detail

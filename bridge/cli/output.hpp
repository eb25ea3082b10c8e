// Result formatting shared by `ringlite query` and `ringlite tail`: rows of SQL values
// printed as an aligned table, CSV or JSON lines.
//
//   table  a header row (left-aligned), a rule, then rows; columns two spaces apart,
//          numbers right-aligned.
//          NULL prints as NULL, blobs as x'0a1b', control characters in text as \n, \t,
//          \r or \xNN (so a row stays one line). Rows are buffered to align them, in
//          chunks: flush() prints what is buffered; later chunks keep (or widen) the widths.
//   csv    RFC 4180: a header row, then one record per row, lines end in CRLF; a field that
//          holds a comma, a double quote, CR or LF is quoted, with quotes doubled. NULL is
//          an empty field, blobs are hex digits, reals print as in table.
//   json   one object per row per line, keys the column names in order: integers and reals
//          as numbers (non-finite reals as null), text as JSON strings (control characters
//          as \u00XX, valid UTF-8 passed through, invalid bytes replaced by U+FFFD), blobs
//          as strings of hex digits, NULL as null.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringlite::cli {

enum class Format : std::uint8_t { table, csv, json };

/// "table", "csv" or "json". Throws Error(usage) for anything else.
Format parse_format(std::string_view name);

/// One SQL value of a row. Reuse cells across rows: set_* keep their string's capacity.
struct Cell {
  enum class Kind : std::uint8_t { null, integer, real, text, blob };
  Kind kind = Kind::null;
  std::int64_t integer = 0;
  double real = 0;
  std::string bytes;  ///< text (as stored) or blob bytes

  void set_null() noexcept { kind = Kind::null; }
  void set_integer(std::int64_t v) noexcept { kind = Kind::integer, integer = v; }
  void set_real(double v) noexcept { kind = Kind::real, real = v; }
  void set_text(std::string_view s) { kind = Kind::text, bytes.assign(s.data(), s.size()); }
  void set_blob(std::span<const std::byte> b) {
    kind = Kind::blob, bytes.assign(reinterpret_cast<const char*>(b.data()), b.size());
  }
  /// A sink for decode_field (types.hpp): decodes a record field into this cell.
  struct Sink {
    Cell& c;
    void integer(std::int64_t v) const noexcept { c.set_integer(v); }
    void real(double v) const noexcept { c.set_real(v); }
    void text(std::string_view s) const { c.set_text(s); }
    void blob(std::span<const std::byte> b) const { c.set_blob(b); }
  };
  Sink sink() noexcept { return Sink{*this}; }
};

/// Text for one line of a terminal or a message: control characters as \n, \t, \r or \xNN.
std::string one_line(std::string_view text);

/// The cell as an SQL literal: 12, 0.5, 'it''s', x'0a1b', NULL (tail's record column).
std::string sql_literal(const Cell& c);

/// Writes result sets to a stream in one format. Not thread-safe.
class RowWriter {
 public:
  virtual ~RowWriter() = default;
  /// Starts a result set: csv and table print these names as a header row (table once
  /// per result set, at its first flush), json uses them as keys from now on.
  virtual void columns(std::vector<std::string> names) = 0;
  /// One row; cells.size() must equal the number of columns.
  virtual void row(std::span<const Cell> cells) = 0;
  /// Prints what is buffered and flushes the stream.
  virtual void flush() = 0;
};

/// A writer for `format` printing to `out` (which must outlive it).
std::unique_ptr<RowWriter> make_writer(Format format, std::FILE* out);

}  // namespace ringlite::cli

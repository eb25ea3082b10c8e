// ringlite: private helpers of the Store (store.cpp). Raw SQLite handles for the hot insert
// path (store_insert.cpp) and the pragma checks (store_pragma.cpp); nothing here is public.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/schema.hpp"

namespace ringlite::detail {

struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

/// An SQLite failure inside the store, before it gets its context: write_batch() rolls back
/// and turns it into Error(sqlite) or retries it (BUSY). `code` is the extended code.
class SqlError : public std::runtime_error {
 public:
  SqlError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// The connection's last error as an SqlError (call before anything resets it).
SqlError last_error(sqlite3* db, int rc);
/// A cached statement (SQLITE_PREPARE_PERSISTENT). Throws SqlError.
StmtPtr prepare(sqlite3* db, std::string_view sql);
/// Runs statements without results. Throws SqlError.
void exec(sqlite3* db, const char* sql);
/// The first column of the first row `sql` returns as text; nullopt when it returns no row
/// (or NULL). Throws SqlError.
std::optional<std::string> query_text(sqlite3* db, const std::string& sql);

/// Another connection holds the lock: retry later.
constexpr bool is_busy(int rc) noexcept {
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}
/// The row itself is at fault (duplicate seq, value SQLite refuses): reject it, keep the batch.
constexpr bool is_row_fault(int rc) noexcept {
  const int primary = rc & 0xff;
  return primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH || primary == SQLITE_TOOBIG ||
         primary == SQLITE_RANGE;
}

/// "INTEGER", "REAL", "TEXT" or "BLOB": the column type a field gets in its table.
std::string_view sql_type(FieldType t) noexcept;

/// A frame the store could not insert into its table, and why.
struct Reject {
  std::uint32_t frame = 0;  ///< index into Batch::frames
  std::string reason;
};

/// Inserts frames of one record type into its table through cached multi-row INSERTs: one
/// statement per power-of-two row count up to max_rows(), so any number of rows takes at
/// most log2(max_rows()) + the full groups' steps. Payload bytes are bound SQLITE_STATIC:
/// the batch's arena outlives every step.
class TableInserter {
 public:
  TableInserter(sqlite3* db, const RecordType& type);

  /// Inserts batch.frames[i] for every i in `rows` (all of this type, already checked by
  /// check_record). A row SQLite refuses (duplicate seq, ...) is isolated and appended to
  /// `rejects`; any other failure throws SqlError with the statement reset. Returns the
  /// number of rows inserted.
  std::uint64_t insert(const Batch& batch, std::span<const std::uint32_t> rows,
                       std::vector<Reject>& rejects);
  std::size_t max_rows() const noexcept { return std::size_t{1} << top_; }

 private:
  struct Column {
    FieldType type;
    std::uint32_t offset;
    std::uint32_t length;  // N for CHAR(N)/BYTES(N)
  };
  sqlite3_stmt* statement(unsigned log2_rows);
  int bind_row(sqlite3_stmt* st, int first, const Frame& f, const std::byte* payload) noexcept;
  int step(sqlite3_stmt* st) noexcept;

  sqlite3* db_;
  const RecordType* type_;
  std::vector<Column> columns_;
  int width_;                   // parameters per row: seq, ts_ns, producer, then the fields
  unsigned top_;                // log2 of the largest statement's row count
  std::vector<StmtPtr> stmts_;  // [k]: 2^k rows, prepared on first use
};

/// The preset's pragmas, then the explicit ones (which win), one entry per pragma, ordered
/// so that those that only work on an empty file (page_size, auto_vacuum, encoding) run
/// first and journal_mode next. Checks names and values; throws Error(config) naming `origin`.
std::vector<std::pair<std::string, std::string>> merged_pragmas(const DatabaseConfig& db,
                                                                std::string_view origin);
/// Applies each pragma, reads it back and compares. Throws Error(config) naming `origin`
/// for an unknown pragma or a value that did not take, Error(busy) when the file is locked.
void apply_pragmas(sqlite3* db, const std::vector<std::pair<std::string, std::string>>& pragmas,
                   std::string_view origin, std::string_view path);
/// The value SQLite reports for a pragma (synchronous as OFF/NORMAL/FULL/EXTRA), or nullopt
/// when it reports none. Throws SqlError.
std::optional<std::string> read_pragma(sqlite3* db, std::string_view name);

}  // namespace ringlite::detail

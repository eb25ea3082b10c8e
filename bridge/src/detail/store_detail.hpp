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

#include "detail/checkpointer.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/store.hpp"

namespace ringlite::detail {

/// schema/metadata.sql, the DDL of ringlite's own tables (CREATE TABLE IF NOT EXISTS), as
/// embedded at build time: the one source of that DDL.
extern const char* const kMetadataSql;

/// Whether `db` is a database this build reads and writes: application_id kApplicationId
/// and user_version kOldestUserVersion..kUserVersion (the store migrates an older one on
/// open, readers read it as it is). Returns true for a new file (no application id, nothing
/// in it) when `allow_new`; throws Error(schema) for a file that is not ringlite's (or, when
/// `!allow_new`, lacks _ringlite_types), Error(version) for another format version. Messages
/// start with `context` ("cannot open database 'x'"). The one identity check: the store and
/// replay both use it.
bool check_database_identity(sqlite3* db, std::string_view context, bool allow_new);

struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

/// An SQLite failure inside the store, before it gets its context: write_batch() rolls back
/// and turns it into Error(sqlite) or retries it (BUSY). `code` is the extended code.
/// `row_level`: one row caused it, but it cost the whole transaction (a COMMIT that a
/// deferred constraint refused, a trigger's RAISE(ROLLBACK)), so write_batch() must find that
/// row by committing smaller parts of the batch.
class SqlError : public std::runtime_error {
 public:
  SqlError(int code, const std::string& message, bool row_level = false)
      : std::runtime_error(message), code_(code), row_level_(row_level) {}
  int code() const noexcept { return code_; }
  bool row_level() const noexcept { return row_level_; }

 private:
  int code_;
  bool row_level_;
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
/// The row itself may be at fault (duplicate seq, a value SQLite or a user's index, trigger
/// or check refuses: "integer overflow" in an abs() index is SQLITE_ERROR): reject it, keep
/// the batch. SQLITE_ERROR is also what every row gets when the table was dropped or altered
/// under the store, so the inserter checks the table before it rejects for it. Everything
/// else (full, I/O, locked, read-only, corrupt, out of memory...) is the database's, and the
/// batch is retried whole.
constexpr bool is_row_fault(int rc) noexcept {
  const int primary = rc & 0xff;
  return primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH || primary == SQLITE_TOOBIG ||
         primary == SQLITE_RANGE || primary == SQLITE_ERROR;
}

/// What is wrong with `type`'s table in the database, appended to `diffs` (nothing when it
/// has the system columns then one column per field, with their SQL types). Throws SqlError.
void table_differences(sqlite3* db, const RecordType& type, std::vector<std::string>& diffs);

/// The database file as the store holds it (store_file.cpp). Opened, or created with the
/// configured mode, before SQLite opens the path; its descriptor carries the exclusive flock
/// that makes the store the database's only writer (a database takes one ring at a time,
/// or seq would repeat), and its identity (device, inode) tells when the file at the path is
/// no longer the one written to: deleted or replaced under the store, which SQLite never
/// notices (it keeps writing to the inode it has open). The -wal and -shm files are watched
/// the same way once they exist.
///
/// POSIX record locks (SQLite's) are dropped when the process closes ANY descriptor of the
/// file, so the descriptor is closed only after the connection: declare the member before
/// the connection, and never reopen it while the connection lives.
class DatabaseFile {
 public:
  /// Creates `path` with `mode` (set with fchmod, not left to the umask; SQLite then gives
  /// the -wal, -shm and journals the same bits) or opens the existing file, mode untouched,
  /// and takes the writer lock. Throws Error(config) naming 'database.path' and `origin` for
  /// a path that cannot be the database (a missing or read-only folder, a folder, a file it
  /// cannot write), Error(busy) naming the holder's pid when another process writes to it,
  /// Error(system) for anything else.
  DatabaseFile(std::string path, std::uint32_t mode, std::string_view origin);
  ~DatabaseFile();
  DatabaseFile(const DatabaseFile&) = delete;
  DatabaseFile& operator=(const DatabaseFile&) = delete;

  /// Empty while the path still names the open file, and the -wal and -shm seen so far are
  /// still at theirs; else what happened, for a message ("the file was deleted or moved
  /// away while open"). Starts watching a -wal or -shm that appeared since the last call.
  /// Once it reported the file itself gone, the destructor removes the -wal and -shm at the
  /// path that still belong to this file: next to another file they would be read as its own.
  std::string check();
  /// True once check() reported a change.
  bool orphaned() const noexcept { return orphaned_; }

 private:
  struct Id {
    unsigned long long dev = 0, ino = 0;
    bool known = false;
  };
  std::string watch(const std::string& path, Id& id, std::string_view what);

  std::string path_;
  int fd_ = -1;
  Id file_, wal_, shm_;
  bool orphaned_ = false;
  bool file_gone_ = false;
};

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
  /// check_record). A row SQLite refuses (duplicate seq, a value a user's index or check
  /// refuses, ...) is isolated and appended to `rejects`; any other failure throws SqlError
  /// with the statement reset, row_level() when a row's failure rolled the transaction back.
  /// Returns the number of rows inserted.
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
  void check_transaction(const SqlError& e) const;
  bool database_wide(const SqlError& e, std::optional<bool>& table_ok) const;

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

/// The pid holding a flock on the file (dev, ino), from /proc/locks; 0 when it cannot be
/// told (store_file.cpp).
long flock_holder(unsigned long long dev, unsigned long long ino);

/// What a recording (store_segments.cpp) adds to the store of its open segment. Both run
/// inside the store's own transactions and throw SqlError, which fails that transaction.
class SegmentHooks {
 public:
  virtual ~SegmentHooks() = default;
  /// In the transaction that creates a new database file (its tables, its application_id),
  /// before COMMIT: the rest a new segment holds (catalog, progress, retention gaps).
  virtual void created(sqlite3* db) = 0;
  /// In every batch's transaction, before COMMIT: frames [first, hi) of `batch` were
  /// offered, those in `rejects` (some outside that range) refused, `inserted` rows stored.
  virtual void committing(sqlite3* db, const Batch& batch, std::uint32_t first, std::uint32_t hi,
                          std::span<const Reject> rejects, std::uint64_t inserted) = 0;
  /// The WAL sizes the segment's checkpointer keeps to: the -wal counts in the recording's
  /// bytes, so it stays small beside small segments.
  virtual WalLimits wal_limits() const = 0;
};

/// The single-file store of a segment, for the recording that holds it.
struct StoreAccess {
  /// Store::open of one database file (db.path; no segment keys), with `hooks` (which must
  /// outlive the store).
  static Store open_segment(const DatabaseConfig& db, const Schema& schema, std::string_view origin,
                            SegmentHooks* hooks);
  /// The store's connection (a single-file store), for the recording's own statements.
  static sqlite3* handle(Store& store) noexcept;
};

}  // namespace ringlite::detail

// ringlite: the inside of a Recording (recording.cpp, recording_vtab.cpp). The catalog and
// schema read from the newest segment, the segment connections opened as queries need
// them, and the virtual table module that reads them. Nothing here is public.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/error.hpp"
#include "ringlite/recording.hpp"
#include "ringlite/schema.hpp"

namespace ringlite::detail {

/// A table column as pragma_table_info reports it.
struct Column {
  std::string name;
  std::string type;  ///< the declared type (INTEGER, REAL, TEXT, BLOB)
};

/// The columns of `table` in `db`, empty when there is no such table. Throws Error(sqlite).
/// A view has columns too: ask is_table() first.
std::vector<Column> table_columns(sqlite3* db, std::string_view table);
/// Whether `db`'s sqlite_schema has a table (not a view: a hostile file's view can be an
/// endless recursive query) named `name`. Throws Error(sqlite).
bool is_table(sqlite3* db, std::string_view name);
/// "(seq INTEGER, ts_ns INTEGER, ...)", for messages.
std::string describe_columns(const std::vector<Column>& cols);

/// Where a virtual table's rows come from.
enum class TableScope {
  records,   ///< a record type: every live segment, in seq order, seq/ts_ns constraints pushed
  newest,    ///< the newest segment only (_ringlite_types, _progress, _segments)
  all_live,  ///< every live segment, one after the other (_ringlite_rejects)
  gaps,      ///< every live segment, kind 'retention' from the newest only (_ringlite_gaps)
};

/// One virtual table of a folder's connection: its name in the segments, its columns as
/// the newest segment has them.
struct TableDef {
  std::string name;
  std::vector<Column> columns;
  TableScope scope;
};

enum class TableState { unknown, present, absent };

struct RecStmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using RecStmt = std::unique_ptr<sqlite3_stmt, RecStmtFinalize>;

/// One segment's read-only connection, opened on first use. Statements are pooled by SQL
/// text: a cursor takes one and gives it back reset, so two cursors on one table (a
/// self-join) never share a statement. `active` counts the statements cursors hold: a
/// handle with none is idle, and RecordingImpl::segment() may close it (see there).
struct SegmentHandle {
  sqlite3* db = nullptr;
  std::map<std::string, TableState> checked;  ///< by table name: its columns were compared
  std::map<std::string, std::vector<RecStmt>> pool;
  std::size_t active = 0;
  std::uint64_t last_used = 0;                    ///< RecordingImpl::clock at the last use
  std::chrono::steady_clock::time_point used_at;  ///< when, for the idle sweep
  ~SegmentHandle();
};

class RecordingImpl {
 public:
  ~RecordingImpl();

  std::filesystem::path path;
  bool segmented = false;
  Schema schema;
  std::vector<SegmentInfo> catalog;
  std::vector<SegmentInfo> live;  ///< "open" and "closed", by number
  std::uint64_t newest_number = 0;
  std::vector<TableDef> tables;  ///< the virtual tables, by the index their module arg gives
  sqlite3* conn = nullptr;
  /// By segment number; nullptr for a segment whose file is gone (expired). At most
  /// kMaxOpenSegments are open (about 3 fds each) unless more are in use at once.
  std::map<std::uint64_t, std::unique_ptr<SegmentHandle>> handles;
  std::size_t open_handles = 0;  ///< the non-null entries of `handles`
  std::uint64_t clock = 0;       ///< ticks at each segment() call, for LRU
  std::chrono::steady_clock::time_point last_sweep{};

  /// Open segment connections kept, least recently used closed first.
  static constexpr std::size_t kMaxOpenSegments = 32;
  /// An idle segment connection unused this long is closed, so that a long reader (replay
  /// --loop) does not keep the files retention deleted on disk.
  static constexpr std::chrono::seconds kIdleClose{1};

  void open_folder();
  void open_file_db();
  /// A single database file's catalog, one "open" segment whose ranges and rows are read
  /// from its tables: on first use only, since it costs a count(*) per type.
  void single_file_catalog() noexcept;
  /// The segment's connection, opened (or opened again) and checked on demand; nullptr when
  /// its file is gone. Closes idle connections first: the least recently used when
  /// kMaxOpenSegments are open, any unused for kIdleClose. Throws Error naming the file when
  /// it cannot be read: Error(corrupt) when it is not a regular file (a FIFO would block
  /// the open forever).
  SegmentHandle* segment(const SegmentInfo& s);
  /// Whether segment `s` has table `t` (false: a type added after it closed); throws
  /// Error(schema) when its columns differ from the newest segment's.
  bool has_table(SegmentHandle& h, const TableDef& t, const SegmentInfo& s);

 private:
  /// Refuses a path that is not a regular file with `not_regular` before SQLite opens it.
  static sqlite3* open_file(const std::filesystem::path& file, const std::string& what,
                            Errc not_regular);
  void close_idle(bool lru);
  void check_meta_tables(sqlite3* db, const std::string& what, bool required);
  static void check_identity(sqlite3* db, const std::string& what);
  void read_schema(sqlite3* db, const std::string& what);
  void read_catalog(sqlite3* db, std::uint64_t newest_file, const std::string& what);
  void exec(const std::string& sql);
};

/// Registers the module "ringlite_recording" on `conn`: CREATE VIRTUAL TABLE x USING
/// ringlite_recording(i) makes a table over rec->tables[i]. Throws Error(sqlite).
void register_module(sqlite3* conn, RecordingImpl* rec);

}  // namespace ringlite::detail

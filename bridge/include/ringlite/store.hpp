// ringlite: the database side of the bridge (docs/design.md, "The schema", "Config", "The bridge
// and exactly once"). A Store owns one SQLite connection (SQLiteCpp): it applies and verifies the
// configured pragmas, creates the typed tables and ringlite's own metadata tables (or checks that
// existing ones match the schema), and persists batches of frames together with the
// bridge's progress in one transaction, so that after any crash the bridge resumes from
// exactly what was committed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/schema.hpp"

namespace ringlite {

/// The database format this build writes: PRAGMA application_id and user_version. Format 2
/// added the recording catalog, the time indexes and the <type>_t views; the store migrates
/// a format-1 database on open, readers read both (docs/design.md, "Format version").
inline constexpr std::int32_t kApplicationId = 0x524C4954;  // "RLIT"
inline constexpr std::int32_t kUserVersion = 2;
inline constexpr std::int32_t kOldestUserVersion = 1;

/// The pragma values a preset stands for, before explicit [database.pragmas] override them.
/// "fast" = journal_mode=MEMORY, synchronous=OFF; "safe" = WAL, NORMAL; "durable" = WAL, FULL.
/// Throws Error(config) for another name.
std::vector<std::pair<std::string, std::string>> preset_pragmas(std::string_view preset);

/// What one write_batch() did.
struct BatchResult {
  std::uint64_t inserted = 0;  ///< rows added to the typed tables
  std::uint64_t rejected = 0;  ///< rows added to _ringlite_rejects
  std::uint64_t gaps = 0;      ///< rows added to _ringlite_gaps
  std::uint32_t busy_retries = 0;
};

/// One WAL checkpoint a store ran besides its writing (docs/design.md, "Checkpoints").
struct CheckpointRecord {
  enum class Kind : std::uint8_t {
    passive,   ///< the checkpointer thread: copies what no reader still needs
    truncate,  ///< the checkpointer thread, after a second without commits: empties the -wal
    restart,   ///< the drain thread after a COMMIT: the WAL reached its restart size
  };
  std::int64_t end_ns = 0;       ///< CLOCK_MONOTONIC when it ended
  std::int64_t duration_ns = 0;  ///< how long it ran (a restart: waiting included)
  std::int64_t wal_bytes = 0;    ///< the WAL's size when it began (frames * (page + 24))
  Kind kind = Kind::passive;
  bool complete = false;  ///< SQLITE_OK; false: a reader or the writer was in the way
};

/// The checkpoints this process's stores ran on their checkpointer threads (and the drain's
/// restarts), oldest first: the last 65536. For benchmarks and diagnostics; a
/// store whose config sets wal_autocheckpoint has no checkpointer and adds none.
/// Thread-safe; never blocks for long.
std::vector<CheckpointRecord> checkpoint_history();

namespace detail {
class StoreImpl;
class SegmentStore;
struct StoreAccess;
}  // namespace detail

class Store {
 public:
  /// Opens or creates the database at db.path; a new file gets db.mode (its -wal and -shm
  /// follow), whatever the umask. The store is the database's only writer while it lives: a
  /// second Store on the same file, in any process, is Error(busy) naming the holder's pid
  /// (two rings draining into one database would repeat seq). A path that cannot be the
  /// database (its folder is missing or read-only, it is a folder, a file that cannot be
  /// written or that is not an SQLite database) is Error(config) naming 'database.path' and
  /// `origin` (the config file). Applies the preset's pragmas then the explicit ones, reads
  /// every one back and compares: an unknown pragma or a value SQLite did not take is
  /// Error(config) naming it and `origin`. Creates the schema's tables (system columns seq
  /// INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, producer INTEGER NOT NULL, then the user
  /// columns), their indexes and the metadata tables; for an existing database checks
  /// application_id/user_version and that every table matches the schema, else
  /// Error(schema) saying what differs. Error(busy) with sqlite_code() set when another
  /// connection kept the database locked for 5 s: worth retrying.
  ///
  /// With db.segmented(), db.path is a recording's folder (docs/design.md, "Recordings"):
  /// created with db.mode (plus the search bit where a read bit is set) when missing,
  /// Error(config) when it is a file; held with an exclusive flock (a second store on it, in
  /// any process, is Error(busy) naming the holder's pid). Recovers from a crash at any step
  /// of a roll or a retention, then writes to the newest segment, a single-file store as
  /// above; the calls below behave across segments.
  static Store open(const DatabaseConfig& db, const Schema& schema, std::string_view origin);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  /// Closes the database. In a process forked from the one that opened the store, the
  /// store's threads (checkpointer, a recording's deleter) are the parent's: their handles
  /// and synchronization objects are leaked on purpose, never joined or destroyed there.
  ~Store();

  /// The first position a new ring for this database must start at: past every seq the
  /// database holds (rows, rejects, gaps, progress), so seq stays unique across rings.
  std::uint64_t next_position() const;
  /// The position the bridge reached on ring `ring_id` (32 hex digits), if it ever drained it.
  std::optional<std::uint64_t> progress(std::string_view ring_id) const;
  /// Inserts the batch's frames into their tables (decoding each by its type's layout;
  /// a frame that does not decode, or that SQLite refuses, goes to _ringlite_rejects with
  /// its raw bytes and the reason, without failing the others), its gaps into
  /// _ringlite_gaps, `drops` new producer drops as a gap row, and progress (ring_id,
  /// batch.end) — in one transaction. A row that fails the whole transaction (at COMMIT: a
  /// deferred constraint) is found by committing halves of the batch, each with progress at
  /// its end, until it is alone; it becomes a reject. Frames below the ring's recorded
  /// progress are not written again, so a batch may be retried after any failure. Blocks
  /// while the database is locked, retrying with backoff for up to 2 s. Throws Error(busy)
  /// (still locked) or Error(sqlite) (with the extended code: disk full, I/O error, a table
  /// dropped under the store...) when the batch, or its remaining parts, cannot commit: then
  /// none of them is in the database; Error(not_found) when the file at the path is no
  /// longer the one written to (see check_file()): the batch is not in that file.
  /// A recording: the batch goes to the open segment, its catalog row updated in the same
  /// transaction; after COMMIT the store rolls to a new segment when the open one is full
  /// and applies retention. A roll that fails after the batch committed is logged and
  /// completed by the next call (which throws like a failed batch while it cannot).
  BatchResult write_batch(const Batch& batch, std::string_view ring_id, std::uint64_t drops = 0);
  /// Checks that the path still names the file this store writes, and its -wal and -shm
  /// theirs: SQLite goes on writing to a deleted or replaced file without a word. Never
  /// blocks. Throws Error(not_found) saying which file went; write_batch() checks after
  /// every COMMIT, so a caller that keeps records until write_batch() returns loses none.
  void check_file();
  /// Runs a passive WAL checkpoint (TRUNCATE when no reader is in the way) on the calling
  /// thread; never waits for a reader. Returns the WAL size in pages afterwards, or -1
  /// (not in WAL mode, or failed). A recording: also what maintain() does.
  int checkpoint() noexcept;
  /// What the bridge calls about once a second, idle or not. In WAL mode the store's own
  /// checkpointer thread keeps the -wal bounded (docs/design.md, "Checkpoints"); when the
  /// config sets wal_autocheckpoint or locking_mode EXCLUSIVE it has none, and this runs
  /// checkpoint(). A recording:
  /// also applies retention (so an idle recording expires too) and finishes a roll a
  /// failure left undone. Returns the WAL size in pages, or -1. Never throws.
  int maintain() noexcept;
  /// The pragma values in force, as SQLite reports them (for stat and tests).
  std::vector<std::pair<std::string, std::string>> pragmas() const;
  /// The database file, or a recording's folder.
  const std::string& path() const noexcept;
  /// "database '<path>'", or for a recording "recording '<folder>' (<n> segments, writing
  /// seg-N.db)": for log lines and stat.
  std::string describe() const;
  /// Where a recording's events go (rolls, retention, deleted files), one line each; called
  /// on the thread that calls write_batch() and checkpoint(). A single database has none.
  void set_log(std::function<void(const std::string&)> log);

 private:
  friend struct detail::StoreAccess;
  explicit Store(std::unique_ptr<detail::StoreImpl> impl);
  std::unique_ptr<detail::StoreImpl> impl_;         // a single database
  std::unique_ptr<detail::SegmentStore> segments_;  // or a recording (impl_ null)
};

}  // namespace ringlite

// ringlite: the database side of the bridge (DESIGN.md, "Schema", "Config", "The bridge").
// A Store owns one SQLite connection (SQLiteCpp): it applies and verifies the configured
// pragmas, creates the typed tables and ringlite's own metadata tables (or checks that
// existing ones match the schema), and persists batches of frames together with the
// bridge's progress in one transaction, so that after any crash the bridge resumes from
// exactly what was committed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/schema.hpp"

namespace ringlite {

/// The database format this build writes: PRAGMA application_id and user_version.
inline constexpr std::int32_t kApplicationId = 0x524C4954;  // "RLIT"
inline constexpr std::int32_t kUserVersion = 1;

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

namespace detail {
class StoreImpl;
}

class Store {
 public:
  /// Opens or creates the database at db.path. Applies the preset's pragmas then the
  /// explicit ones, reads every one back and compares: an unknown pragma or a value SQLite
  /// did not take is Error(config) naming it and `origin` (the config file). Creates the
  /// schema's tables (system columns seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL,
  /// producer INTEGER NOT NULL, then the user columns), their indexes and the metadata
  /// tables; for an existing database checks application_id/user_version and that every
  /// table matches the schema, else Error(schema) saying what differs.
  static Store open(const DatabaseConfig& db, const Schema& schema, std::string_view origin);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  /// The first position a new ring for this database must start at: past every seq the
  /// database holds (rows, rejects, gaps, progress), so seq stays unique across rings.
  std::uint64_t next_position() const;
  /// The position the bridge reached on ring `ring_id` (32 hex digits), if it ever drained it.
  std::optional<std::uint64_t> progress(std::string_view ring_id) const;
  /// Inserts the batch's frames into their tables (decoding each by its type's layout;
  /// a frame that does not decode, or that SQLite rejects, goes to _ringlite_rejects with
  /// its raw bytes and the reason, without failing the others), its gaps into
  /// _ringlite_gaps, `drops` new producer drops as a gap row, and progress (ring_id,
  /// batch.end) — all in one transaction. SQLITE_BUSY is retried with backoff. Throws
  /// Error(sqlite) (with the extended code) when the transaction cannot commit (disk full,
  /// I/O error): then nothing of the batch is in the database.
  BatchResult write_batch(const Batch& batch, std::string_view ring_id, std::uint64_t drops = 0);
  /// Runs a passive WAL checkpoint (TRUNCATE when no reader is in the way): keeps the
  /// -wal file bounded while readers poll. Returns the WAL size in pages afterwards, or -1.
  int checkpoint() noexcept;
  /// The pragma values in force, as SQLite reports them (for stat and tests).
  std::vector<std::pair<std::string, std::string>> pragmas() const;
  const std::string& path() const noexcept;

 private:
  explicit Store(std::unique_ptr<detail::StoreImpl> impl);
  std::unique_ptr<detail::StoreImpl> impl_;
};

}  // namespace ringlite

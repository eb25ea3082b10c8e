// ringlite: the bridge (docs/design.md, "The bridge and exactly once"): drains a ring into SQLite
// in batched transactions and advances the ring's head only after COMMIT, so a crash at any point
// loses nothing and duplicates nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "ringlite/config.hpp"

namespace ringlite {

/// Totals since the bridge started.
struct BridgeStats {
  std::uint64_t records = 0;  ///< rows inserted
  std::uint64_t rejects = 0;  ///< rows sent to _ringlite_rejects
  std::uint64_t gaps = 0;     ///< abandoned/corrupt ranges recorded
  std::uint64_t batches = 0;  ///< transactions committed
  std::uint64_t stalls = 0;   ///< commits that failed (disk full, I/O, locked) and were retried
  std::uint64_t busy_retries = 0;
};

class Bridge {
 public:
  using Log = std::function<void(const std::string&)>;

  /// Opens the database (pragmas verified, tables created or checked) and the ring,
  /// creating the ring at the database's next position if it does not exist, and takes
  /// the ring's consumer role. Throws Error: config/schema problems (exit 2), a live
  /// bridge on the same ring or another process writing to the database (busy), a ring
  /// whose schema differs from the config's (naming the difference), a database another
  /// connection keeps locked (busy).
  explicit Bridge(const Config& config);
  /// The same, but a database another connection keeps locked is waited for, with a `log`
  /// line per retry (its backoff), for as long as it takes. Blocks. When `stop` becomes
  /// true first, returns a bridge whose run() returns at once.
  Bridge(const Config& config, const std::atomic<bool>& stop, const Log& log);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  /// Drains until `stop` becomes true, then drains up to the ring's tail at that moment
  /// (records written after it stay in the ring for the next bridge), commits and returns.
  /// Blocks. Calls `log` with a stats line every `stats_interval_s` seconds and with one
  /// line per notable event (gaps, commit failures and recoveries). A commit the database
  /// refuses for now (full, I/O error, locked) is retried until it works, holding the
  /// records in the ring. Throws Error if the ring turns out corrupt (its cursors
  /// contradict each other), if stopped while a commit keeps failing, and, before it
  /// advances past a batch, if the database file at the path is no longer the one it
  /// writes (deleted or replaced: not_found).
  BridgeStats run(const std::atomic<bool>& stop, const Log& log, double stats_interval_s = 5.0);

  /// Where the bridge stands: the database file and the ring it drains.
  std::string describe() const;

 private:
  struct Impl;
  class Drain;
  Impl* impl_;
};

}  // namespace ringlite

// ringlite: the bridge (DESIGN.md, "The bridge"): drains a ring into SQLite in batched
// transactions and advances the ring's head only after COMMIT, so a crash at any point
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
  std::uint64_t records = 0;   ///< rows inserted
  std::uint64_t rejects = 0;   ///< rows sent to _ringlite_rejects
  std::uint64_t gaps = 0;      ///< abandoned/corrupt ranges recorded
  std::uint64_t batches = 0;   ///< transactions committed
  std::uint64_t stalls = 0;    ///< commits that failed (disk full, I/O) and were retried
  std::uint64_t busy_retries = 0;
};

class Bridge {
 public:
  /// Opens the database (pragmas verified, tables created or checked) and the ring,
  /// creating the ring at the database's next position if it does not exist, and takes
  /// the ring's consumer role. Throws Error: config/schema problems (exit 2), a live
  /// bridge on the same ring (busy), a ring whose schema differs from the config's.
  explicit Bridge(const Config& config);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  /// Drains until `stop` becomes true, then drains what is committed in the ring, commits
  /// and returns. Blocks. Calls `log` with a stats line every `stats_interval_s` seconds
  /// and with one line per notable event (gaps, commit failures and recoveries).
  /// Throws Error if the ring turns out corrupt (its cursors contradict each other).
  BridgeStats run(const std::atomic<bool>& stop, const std::function<void(const std::string&)>& log,
                  double stats_interval_s = 5.0);

  /// Where the bridge stands: the database file and the ring it drains.
  std::string describe() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace ringlite

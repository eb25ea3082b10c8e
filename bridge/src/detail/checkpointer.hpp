// ringlite: WAL checkpoints off the drain thread (docs/design.md, "Checkpoints"). The store's
// connection commits batches and never checkpoints inside a COMMIT (its WAL hook replaces
// SQLite's wal_autocheckpoint); a thread of the checkpointer's own, on a connection of its
// own, copies the WAL into the database file while the next batch is written. Nothing here
// is public.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace ringlite::detail {

/// The WAL sizes the checkpointer keeps to. A WAL frame is a page plus a 24-byte header.
struct WalLimits {
  /// The thread runs a PASSIVE checkpoint once the WAL grew by this much since its last one
  /// (and once a second while anything new is in it). It copies frames into the database
  /// file without blocking the writer or readers, but cannot move the WAL back to its start.
  std::int64_t passive_bytes = 8ll << 20;
  /// Past this, the writer restarts the WAL after its COMMIT (a RESTART checkpoint that
  /// copies what the thread has not and never waits for a reader), unless the thread is in
  /// the middle of a checkpoint: then at a later COMMIT.
  std::int64_t restart_bytes = 32ll << 20;
  /// Past this, the writer waits for the thread's checkpoint in progress, then restarts the
  /// WAL. So the WAL stays below hard_bytes plus one transaction, whatever the thread does;
  /// only a reader that keeps a snapshot open can hold it longer (SQLite cannot checkpoint
  /// frames a reader may still read, nor restart the WAL under it).
  std::int64_t hard_bytes = 64ll << 20;
};

/// Test seam: while true, a Checkpointer's constructor fails where it would start its
/// thread (as std::thread does when the system has no thread to give).
extern std::atomic<bool> g_checkpointer_thread_fails;

class Checkpointer {
 public:
  /// Opens a second connection to `path` (the writer's `synchronous`, so a checkpoint syncs
  /// as the writer's would) and starts the thread; installs the WAL hook on `writer` (which
  /// replaces SQLite's autocheckpoint on it). Only for a writer in WAL mode whose
  /// locking_mode is NORMAL (an EXCLUSIVE writer keeps every other connection out). Throws
  /// SqlError when the connection cannot be opened, std::system_error when the thread
  /// cannot be started; either way nothing is left behind (no connection, no hook).
  Checkpointer(sqlite3* writer, const std::string& path, WalLimits limits = {});
  /// Stops the thread and closes its connection; the writer's hook is removed. In a process
  /// forked from the one that created it (where the thread does not exist, and the mutexes
  /// and the condition variable may be in the state the parent's thread left them in), it
  /// only removes the hook: the thread's handle, the mutexes, the condition variable and the
  /// connection are deliberately leaked, since joining, destroying or closing them there
  /// could block forever or act on the parent's behalf.
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// On the writer's thread, after a COMMIT: past limits.restart_bytes, a RESTART
  /// checkpoint on the writer's connection (see WalLimits). Never waits for a reader;
  /// never throws.
  void after_commit() noexcept;
  /// The WAL's size in frames at the last COMMIT or checkpoint.
  int wal_frames() const noexcept { return frames_.load(std::memory_order_relaxed); }

 private:
  static int on_commit(void* self, sqlite3* db, const char* name, int frames) noexcept;
  void main() noexcept;
  // Runs one checkpoint on the checkpointer's connection and records it; true when it did
  // all that `mode` asks (SQLITE_OK).
  bool run(int mode) noexcept;

  // What the thread shares with the drain: on the heap, so that a forked child can leak it
  // (see ~Checkpointer).
  struct Shared {
    std::mutex run_mutex;  // held while a checkpoint runs: the drain's waits for the thread's
    std::mutex mutex;
    std::condition_variable wake;
    bool stopping = false;
    std::thread thread;
  };

  sqlite3* writer_;
  sqlite3* own_ = nullptr;
  long pid_;  // the process that started the thread
  std::int64_t frame_bytes_;
  int passive_frames_, restart_frames_, hard_frames_;
  int writer_busy_ms_;          // the writer's busy timeout, restored after its RESTART
  std::atomic<int> frames_{0};  // WAL frames after the last commit (the hook's count)
  std::atomic<std::uint64_t> commits_{0};
  int frames_at_last_ = 0;  // the checkpointer thread's own
  std::unique_ptr<Shared> shared_;
};

}  // namespace ringlite::detail

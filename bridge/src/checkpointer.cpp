// ringlite: WAL checkpoints on a connection and a thread of their own (docs/design.md,
// "Checkpoints"). SQLite's default wal_autocheckpoint runs the checkpoint inside the COMMIT
// that crosses 1000 pages, on the drain thread: the ring waits for every page to be copied
// and synced. Here the drain's COMMIT only counts the WAL's frames (the WAL hook) and wakes
// this thread, which copies them while the drain fills and writes the next batch.
#include "detail/checkpointer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <system_error>

#include "detail/store_detail.hpp"
#include "ringlite/store.hpp"

namespace ringlite {
namespace detail {

std::atomic<bool> g_checkpointer_thread_fails{false};

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kHistory = 65536;

std::int64_t mono_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The process's checkpoint history (checkpoint_history()): every store's checkpointer
// appends, a benchmark or a stats reader takes a copy.
struct History {
  std::mutex mutex;
  std::deque<CheckpointRecord> records;
};
History& history() {
  static History h;
  return h;
}

void remember(const CheckpointRecord& r) noexcept {
  try {
    History& h = history();
    const std::lock_guard lock(h.mutex);
    if (h.records.size() >= kHistory) h.records.pop_front();
    h.records.push_back(r);
  } catch (...) {  // out of memory: the record is only for statistics
  }
}

int to_frames(std::int64_t bytes, std::int64_t frame_bytes) {
  return static_cast<int>(std::clamp<std::int64_t>(bytes / frame_bytes, 1, 1 << 30));
}

}  // namespace

Checkpointer::Checkpointer(sqlite3* writer, const std::string& path, WalLimits limits)
    : writer_(writer), pid_(static_cast<long>(::getpid())), shared_(std::make_unique<Shared>()) {
  const auto page = std::stoll(query_text(writer, "PRAGMA page_size").value_or("4096"));
  frame_bytes_ = page + 24;
  passive_frames_ = to_frames(limits.passive_bytes, frame_bytes_);
  restart_frames_ = to_frames(limits.restart_bytes, frame_bytes_);
  hard_frames_ = to_frames(limits.hard_bytes, frame_bytes_);
  const auto synchronous = query_text(writer, "PRAGMA synchronous").value_or("1");
  writer_busy_ms_ = std::stoi(query_text(writer, "PRAGMA busy_timeout").value_or("0"));
  const int rc =
      sqlite3_open_v2(path.c_str(), &own_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    SqlError e = last_error(own_, rc);
    sqlite3_close_v2(own_);
    throw e;
  }
  // Until the thread runs and the hook is in place, a failure closes the connection again:
  // nothing is left pointing at a Checkpointer that was never made.
  try {
    sqlite3_extended_result_codes(own_, 1);
    // A checkpoint syncs (or not) by its own connection's setting: the writer's.
    exec(own_, ("PRAGMA synchronous = " + synchronous).c_str());
    // Opens the WAL index, so that the first checkpoint sees the WAL.
    query_text(own_, "SELECT count(*) FROM sqlite_schema");
    // Its checkpoints never wait: PASSIVE takes no lock a reader or the writer holds, and an
    // idle TRUNCATE that finds one in the way is tried again a second later.
    sqlite3_busy_timeout(own_, 0);
    if (g_checkpointer_thread_fails.load(std::memory_order_relaxed)) {
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "test: cannot start the checkpointer thread");
    }
    shared_->thread = std::thread([this] { main(); });
  } catch (...) {
    sqlite3_close_v2(own_);
    throw;
  }
  // Last, when nothing can fail any more.
  sqlite3_wal_hook(writer_, &Checkpointer::on_commit, this);
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  if (static_cast<long>(::getpid()) != pid_) {
    // A forked child: the thread is the parent's (see the header). Leak on purpose.
    (void)shared_.release();
    return;
  }
  {
    const std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
  }
  shared_->wake.notify_one();
  shared_->thread.join();
  sqlite3_close_v2(own_);
}

// The writer's COMMIT, on the drain thread: count, wake the thread, return at once (SQLite
// ignores the result when it is SQLITE_OK).
int Checkpointer::on_commit(void* self, sqlite3*, const char*, int frames) noexcept {
  auto* c = static_cast<Checkpointer*>(self);
  c->frames_.store(frames, std::memory_order_relaxed);
  c->commits_.fetch_add(1, std::memory_order_relaxed);
  c->shared_->wake.notify_one();
  return SQLITE_OK;
}

void Checkpointer::after_commit() noexcept {
  const int frames = frames_.load(std::memory_order_relaxed);
  if (frames < restart_frames_) return;
  // Not while the thread copies (a second checkpoint would only get SQLITE_BUSY): past the
  // hard limit, wait for it to finish; below, try again at the next COMMIT.
  std::unique_lock running(shared_->run_mutex, std::defer_lock);
  if (frames >= hard_frames_) {
    running.lock();
  } else if (!running.try_lock()) {
    return;
  }
  // The writer holds no transaction now; a reader in the way is not waited for.
  sqlite3_busy_timeout(writer_, 0);
  const auto t0 = mono_ns();
  const int rc =
      sqlite3_wal_checkpoint_v2(writer_, "main", SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
  const auto t1 = mono_ns();
  sqlite3_busy_timeout(writer_, writer_busy_ms_);
  if (rc == SQLITE_OK) frames_.store(0, std::memory_order_relaxed);
  remember({t1, t1 - t0, frames * frame_bytes_, CheckpointRecord::Kind::restart, rc == SQLITE_OK});
}

bool Checkpointer::run(int mode) noexcept {
  const std::lock_guard running(shared_->run_mutex);
  const int frames = frames_.load(std::memory_order_relaxed);
  const auto t0 = mono_ns();
  const int rc = sqlite3_wal_checkpoint_v2(own_, "main", mode, nullptr, nullptr);
  const auto t1 = mono_ns();
  const bool ok = rc == SQLITE_OK;
  if (ok && mode == SQLITE_CHECKPOINT_TRUNCATE) {
    // The -wal file is empty: unless a commit came in between (then the hook's count
    // stands), the WAL holds nothing.
    int expected = frames;
    frames_.compare_exchange_strong(expected, 0, std::memory_order_relaxed);
  }
  frames_at_last_ = frames;
  remember({t1, t1 - t0, frames * frame_bytes_,
            mode == SQLITE_CHECKPOINT_PASSIVE ? CheckpointRecord::Kind::passive
                                              : CheckpointRecord::Kind::truncate,
            ok});
  return ok;
}

// The thread: a PASSIVE checkpoint whenever the WAL grew by passive_bytes (or once a second
// after new commits), and after a second without any commit a TRUNCATE that empties the
// -wal file unless a reader is in the way (it never waits for one: the writer would wait
// with it).
void Checkpointer::main() noexcept {
  Shared& s = *shared_;
  std::unique_lock lock(s.mutex);
  std::uint64_t commits_seen = commits_.load(std::memory_order_relaxed);
  bool idle_done = false;  // the -wal may hold what the store's setup wrote
  const auto growth = [&] {
    const int f = frames_.load(std::memory_order_relaxed);
    return f >= frames_at_last_ ? f - frames_at_last_ : f;  // smaller: the WAL restarted
  };
  for (;;) {
    s.wake.wait_for(lock, 1s, [&] { return s.stopping || growth() >= passive_frames_; });
    if (s.stopping) return;
    const int frames = frames_.load(std::memory_order_relaxed);
    const std::uint64_t commits = commits_.load(std::memory_order_relaxed);
    const bool grew = growth() >= passive_frames_;
    lock.unlock();
    if (grew || commits != commits_seen) {
      if (frames > 0) run(SQLITE_CHECKPOINT_PASSIVE);
      idle_done = false;
    } else if (!idle_done) {
      run(SQLITE_CHECKPOINT_PASSIVE);
      idle_done = run(SQLITE_CHECKPOINT_TRUNCATE);  // else again in a second
    }
    commits_seen = commits;
    lock.lock();
  }
}

}  // namespace detail

std::vector<CheckpointRecord> checkpoint_history() {
  detail::History& h = detail::history();
  const std::lock_guard lock(h.mutex);
  return {h.records.begin(), h.records.end()};
}

}  // namespace ringlite

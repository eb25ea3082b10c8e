// Tests of the checkpointer (detail/checkpointer.hpp): WAL checkpoints on a thread and a
// connection of their own, the WAL bound when that thread lags, readers that hold the WAL,
// and the idle truncation. A plain SQLite writer stands in for the store's connection.
#include "detail/checkpointer.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "ringlite/store.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ringlite::checkpoint_history;
using ringlite::CheckpointRecord;
using ringlite::detail::Checkpointer;
using ringlite::detail::WalLimits;
using ringlite::test::TempDir;

namespace {

constexpr std::int64_t kKiB = 1024, kMiB = 1024 * 1024;

// A writer connection as the store opens it: WAL, synchronous NORMAL, 4 KiB pages.
class Writer {
 public:
  explicit Writer(const fs::path& path) : path_(path.string()) {
    REQUIRE(sqlite3_open(path_.c_str(), &h_) == SQLITE_OK);
    sqlite3_busy_timeout(h_, 100);
    exec(
        "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
        "CREATE TABLE t (x BLOB)");
  }
  ~Writer() { sqlite3_close_v2(h_); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void exec(const char* sql) {
    char* msg = nullptr;
    const int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &msg);
    INFO(sql, ": ", msg ? msg : "");
    sqlite3_free(msg);
    REQUIRE(rc == SQLITE_OK);
  }
  // One transaction of `bytes` of new rows (about that much WAL).
  void commit(std::int64_t bytes) {
    exec("BEGIN IMMEDIATE");
    for (std::int64_t done = 0; done < bytes; done += 8 * kKiB)
      exec("INSERT INTO t VALUES (randomblob(8192))");
    exec("COMMIT");
  }
  std::int64_t wal_size() const {
    struct stat st {};
    return ::stat((path_ + "-wal").c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
  }
  sqlite3* handle() const { return h_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  sqlite3* h_ = nullptr;
};

std::vector<CheckpointRecord> since(std::size_t before) {
  auto all = checkpoint_history();
  return {all.begin() + static_cast<std::ptrdiff_t>(std::min(before, all.size())), all.end()};
}

std::size_t count_of(const std::vector<CheckpointRecord>& v, CheckpointRecord::Kind kind) {
  return static_cast<std::size_t>(std::count_if(
      v.begin(), v.end(), [&](const auto& r) { return r.kind == kind && r.complete; }));
}

/// Commits `commits` transactions of 64 KiB through `w` with a Checkpointer of `limits`
/// beside it (pausing `pause` after each), and returns the largest -wal seen.
std::int64_t max_wal_of(Writer& w, WalLimits limits, int commits, std::chrono::milliseconds pause) {
  std::int64_t max_wal = 0;
  Checkpointer c(w.handle(), w.path(), limits);
  for (int i = 0; i < commits; ++i) {
    w.commit(64 * kKiB);
    c.after_commit();
    max_wal = std::max(max_wal, w.wal_size());
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  return max_wal;
}

}  // namespace

TEST_SUITE("checkpointer") {
  TEST_CASE("a checkpointer whose thread cannot start leaves no connection and no hook behind") {
    TempDir dir("checkpointer");
    Writer w(dir / "a.db");
    // A connection holds tens of KiB of SQLite's memory (its schema, its page cache).
    const auto memory = sqlite3_memory_used();
    ringlite::detail::g_checkpointer_thread_fails = true;
    CHECK_THROWS_AS((void)Checkpointer(w.handle(), w.path()), std::system_error);
    ringlite::detail::g_checkpointer_thread_fails = false;
    CHECK(sqlite3_memory_used() - memory < 2 * kKiB);  // its connection was closed again
    // sqlite3_wal_hook returns the argument of the hook it replaces: SQLite's own
    // autocheckpoint (its argument is the 1000-page limit), not the Checkpointer that was
    // never made.
    CHECK(reinterpret_cast<std::intptr_t>(sqlite3_wal_hook(w.handle(), nullptr, nullptr)) == 1000);
    w.commit(64 * kKiB);
  }

  TEST_CASE("the thread checkpoints as the WAL grows and the WAL stays near its restart size") {
    TempDir dir("checkpointer");
    Writer w(dir / "a.db");
    const auto before = checkpoint_history().size();
    // 5 MiB of WAL; a pause after each commit gives the thread its turn on a busy machine.
    const std::int64_t max_wal = max_wal_of(
        w, {.passive_bytes = 256 * kKiB, .restart_bytes = 1 * kMiB, .hard_bytes = 64 * kMiB}, 80,
        2ms);
    CHECK(count_of(since(before), CheckpointRecord::Kind::passive) > 0);
    // A passive checkpoint that caught up lets the next transaction restart the WAL by
    // itself; else the writer restarts it at 1 MiB. Either way it stays far below the
    // 64 MiB hard limit.
    MESSAGE("max WAL ", max_wal, " bytes");
    CHECK(max_wal < 3 * kMiB);
  }

  TEST_CASE(
      "the WAL stays under the restart size plus one transaction when the thread never "
      "checkpoints") {
    TempDir dir("checkpointer");
    Writer w(dir / "a.db");
    const auto before = checkpoint_history().size();
    // 6.4 MiB of WAL. The thread's threshold is out of reach (and the test is done within
    // its first second): only the writer's restarts act.
    const std::int64_t max_wal = max_wal_of(
        w, {.passive_bytes = 1024 * kMiB, .restart_bytes = 1 * kMiB, .hard_bytes = 2 * kMiB}, 100,
        0ms);
    CHECK(count_of(since(before), CheckpointRecord::Kind::restart) >= 3);
    MESSAGE("max WAL ", max_wal, " bytes");
    // 1 MiB, plus one transaction of 64 KiB (4 KiB pages + 24-byte frame headers, and the
    // b-tree pages it touches).
    CHECK(max_wal <= 1 * kMiB + 128 * kKiB);
    sqlite3* r = nullptr;
    REQUIRE(sqlite3_open(w.path().c_str(), &r) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(r, "SELECT count(*) FROM t", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_int64(st, 0) == 100 * 8);  // every commit is there
    sqlite3_finalize(st);
    sqlite3_close(r);
  }

  TEST_CASE(
      "a reader on an old snapshot holds the WAL, and once it lets go the WAL restarts and, "
      "idle, is emptied within two seconds") {
    TempDir dir("checkpointer");
    Writer w(dir / "a.db");
    Checkpointer c(
        w.handle(), w.path(),
        {.passive_bytes = 256 * kKiB, .restart_bytes = 1 * kMiB, .hard_bytes = 2 * kMiB});
    w.commit(64 * kKiB);
    sqlite3* r = nullptr;
    REQUIRE(sqlite3_open(w.path().c_str(), &r) == SQLITE_OK);
    sqlite3_busy_timeout(r, 1000);
    REQUIRE(sqlite3_exec(r, "BEGIN; SELECT count(*) FROM t", nullptr, nullptr, nullptr) ==
            SQLITE_OK);
    const auto t_held = std::chrono::steady_clock::now();
    for (int i = 0; i < 60; ++i) {  // 3.75 MiB while the reader holds its snapshot
      w.commit(64 * kKiB);
      c.after_commit();  // tries to restart, never waits for the reader
    }
    CHECK(std::chrono::steady_clock::now() - t_held < 5s);
    // SQLite cannot checkpoint what a reader still reads: past the hard limit, as documented.
    CHECK(w.wal_size() > 2 * kMiB);
    REQUIRE(sqlite3_exec(r, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(r);
    w.commit(64 * kKiB);
    c.after_commit();  // past the hard limit, no reader: restarted now
    CHECK(c.wal_frames() == 0);
    w.commit(64 * kKiB);
    CHECK(c.wal_frames() < 64);  // written from the WAL's start again
    const auto t0 = std::chrono::steady_clock::now();
    while (w.wal_size() != 0 && std::chrono::steady_clock::now() - t0 < 5s)
      std::this_thread::sleep_for(20ms);
    CHECK(w.wal_size() == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
  }
}

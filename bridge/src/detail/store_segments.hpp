// ringlite: the writing side of a recording (docs/design.md, "Recordings"): a folder of
// segments, each a single-file store, rolled by size or record time and expired whole by
// retention, exactly once across crashes. Store::open makes one when the config sets
// segment_bytes or segment_duration; nothing here is public.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "detail/store_detail.hpp"
#include "ringlite/store.hpp"

namespace ringlite::detail {

/// The recording's writer. One thread calls it at a time (the bridge's drain thread); a
/// small thread of its own unlinks expired segments, so a batch never waits for that.
class SegmentStore final : public SegmentHooks {
 public:
  using Log = std::function<void(const std::string&)>;

  /// Creates the folder if missing, takes its flock, recovers from whatever step a crash
  /// interrupted and opens the newest segment (creating the first, or the successor of a
  /// closed one). Throws Error(config) for a path that cannot be the folder, Error(busy)
  /// naming the pid of another writer, Error(corrupt) for a segment that contradicts its
  /// catalog, and what Store::open throws for the segment itself.
  SegmentStore(const DatabaseConfig& config, const Schema& schema, std::string_view origin);
  /// Lets the deleter finish its jobs, then closes the open segment. In a forked child it
  /// leaks the deleter thread's handle and condition variable instead of joining them.
  ~SegmentStore() override;
  SegmentStore(const SegmentStore&) = delete;
  SegmentStore& operator=(const SegmentStore&) = delete;

  std::uint64_t next_position();
  std::optional<std::uint64_t> progress(std::string_view ring_id);
  BatchResult write_batch(const Batch& batch, std::string_view ring_id, std::uint64_t drops);
  void check_file();
  /// Store::checkpoint() (`now`: a checkpoint on this thread) or Store::maintain().
  int checkpoint(bool now) noexcept;
  std::vector<std::pair<std::string, std::string>> pragmas();
  const std::string& path() const noexcept { return folder_; }
  std::string describe() const;
  void set_log(Log log) { log_ = std::move(log); }

  void created(sqlite3* db) override;
  void committing(sqlite3* db, const Batch& batch, std::uint32_t first, std::uint32_t hi,
                  std::span<const Reject> rejects, std::uint64_t inserted) override;
  /// With segment_bytes: restart the WAL at one segment's size (4 to 32 MiB), the hard
  /// limit at twice that; else the defaults (docs/design.md, "Checkpoints").
  WalLimits wal_limits() const override;

 private:
  struct ValueFree {
    void operator()(sqlite3_value* v) const noexcept { sqlite3_value_free(v); }
  };
  using Value = std::unique_ptr<sqlite3_value, ValueFree>;
  using Rows = std::vector<std::vector<Value>>;
  // What a new segment copies from its predecessor, in the transaction that creates it.
  struct Carry {
    Rows catalog, progress, gaps;
  };
  // A closed segment, as the open segment's catalog has it: what retention looks at.
  struct Closed {
    std::uint64_t number = 0;
    std::int64_t bytes = 0;
    std::optional<std::int64_t> first_seq, last_seq, last_ts;
    std::int64_t rows = 0;
    std::int64_t closed_ns = 0;
  };
  enum class Found { incomplete, open, closed };
  struct Fd {
    int fd = -1;
    ~Fd();
  };

  std::filesystem::path segment_path(std::uint64_t number) const;
  void lock_folder();
  void ensure_open();
  Found probe(std::uint64_t number, Carry& carry);
  void open_segment(std::uint64_t number, const Carry* carry);
  void close_segment() noexcept;
  void load_catalog();
  void load_state();
  void after_commit();
  bool roll_due() const noexcept;
  void roll();
  void retain();
  std::uint64_t recording_bytes() const;
  void emit(const std::string& line);
  void failed(const std::string& what);
  void flush_log();
  void unlink_later(std::uint64_t number, std::string why);
  void deleter_main();
  [[noreturn]] void fail(std::string_view verb, const SqlError& e) const;

  DatabaseConfig config_;      // the recording's: folder, limits
  DatabaseConfig seg_config_;  // a segment's: its path, the same mode and pragmas, no limits
  Schema schema_;
  std::string origin_;
  std::string folder_;
  Fd dir_;  // carries the folder's flock
  Log log_;
  std::vector<std::string> pending_log_;  // lines from before a log was set
  std::string last_failure_;              // logged once, until something works again

  std::uint64_t number_ = 0;      // the newest segment's number
  const Carry* carry_ = nullptr;  // for created(), while a segment is being created
  std::uint64_t creating_ = 0;    // and its number
  std::optional<Store> open_;     // the open segment; empty after a failed roll
  StmtPtr update_, state_;        // on open_'s connection: finalized before it closes
  std::optional<std::int64_t> first_ts_, last_ts_;  // the open segment's, as committed
  std::int64_t rows_ = 0;
  std::uint64_t bytes_ = 0;  // page_count * page_size after the last batch
  std::vector<Closed> closed_;
  bool catalog_stale_ = false;       // closed_ could not be read: retain() reads it again
  std::vector<std::uint32_t> skip_;  // committing(): rejected frames of the part

  // The deleter: segments to close or unlink, in order, and the lines it has to say.
  struct Job {
    std::optional<Store> closing;  // a rolled segment's store, to close
    std::filesystem::path unlink;  // or an expired segment's file
    std::string why;
    std::filesystem::path closed;  // the closing store's file
  };
  long pid_ = static_cast<long>(::getpid());  // the process that started the deleter
  std::mutex mutex_;
  // On the heap: a forked child leaks it (see ~SegmentStore).
  std::unique_ptr<std::condition_variable> wake_ = std::make_unique<std::condition_variable>();
  std::deque<Job> jobs_;
  std::vector<std::string> deleted_;
  bool stopping_ = false;
  std::thread deleter_;
};

}  // namespace ringlite::detail

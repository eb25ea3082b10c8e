// ringlite: a recording's writer (detail/store_segments.hpp; docs/design.md, "Recordings").
// Each segment is a single-file store (store.cpp) to which this class adds, through
// SegmentHooks, the catalog row of every batch and the rows a new segment carries over. The
// protocol of a roll, of retention and of recovery after a crash is the design's, step by
// step; each step is one SQLite transaction, so a kill between any two leaves a state that
// ensure_open() completes.
#include "detail/store_segments.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "detail/segment_files.hpp"
#include "ringlite/error.hpp"

namespace ringlite::detail {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kCatalogColumns =
    "number, state, first_seq, last_seq, first_ts, last_ts, rows, bytes, created_ns, closed_ns, "
    "deleted_ns";
constexpr const char* kProgressColumns = "ring_id, position, drops, updated_ns";
constexpr const char* kGapColumns =
    "kind, seq_from, seq_to, producer, pid, count, reason, recorded_ns";

std::int64_t wall_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string cause(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

// "64MiB", "81.3MiB", "512KiB", "900B": sizes in the log and in retention's reasons.
std::string size_text(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  if (v == static_cast<double>(static_cast<std::uint64_t>(v)))
    return fmt::format("{:.0f}{}", v, kUnits[u]);
  return fmt::format("{:.1f}{}", v, kUnits[u]);
}

// "90s", "2.5h", "3d": ages in retention's reasons.
std::string age_text(std::chrono::nanoseconds d) {
  const double s = std::chrono::duration<double>(d).count();
  if (s >= 86400) return fmt::format("{:.4g}d", s / 86400);
  if (s >= 3600) return fmt::format("{:.4g}h", s / 3600);
  return fmt::format("{:.4g}s", s);
}

struct Close {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, Close>;

void run(sqlite3* db, sqlite3_stmt* st) {
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
    sqlite3_reset(st);
    return;
  }
  const SqlError e = last_error(db, rc);
  sqlite3_reset(st);
  throw e;
}

// Differences and sums of values read from a segment, which is untrusted input: they
// saturate instead of overflowing.
std::int64_t minus(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
  return r;
}
std::uint64_t plus(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

std::optional<std::int64_t> int_or_null(sqlite3_stmt* st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(st, col);
}

}  // namespace

SegmentStore::Fd::~Fd() {
  if (fd >= 0) ::close(fd);
}

SegmentStore::SegmentStore(const DatabaseConfig& config, const Schema& schema,
                           std::string_view origin)
    : config_(config),
      seg_config_(config),
      schema_(schema),
      origin_(origin),
      folder_(config.path.string()) {
  seg_config_.segment_bytes = 0;
  seg_config_.segment_duration = std::chrono::nanoseconds::zero();
  seg_config_.retain_bytes = 0;
  seg_config_.retain_age = std::chrono::nanoseconds::zero();
  lock_folder();
  ensure_open();
  deleter_ = std::thread([this] { deleter_main(); });
}

SegmentStore::~SegmentStore() {
  if (static_cast<long>(::getpid()) != pid_) {
    // A forked child: the deleter thread is the parent's, and its condition variable may
    // have the parent's waiter on it (destroying it would block forever, as would a join).
    // Leaked on purpose; the segments' stores go as any inherited Store does.
    (void)new std::thread(std::move(deleter_));
    (void)wake_.release();
    close_segment();
    return;
  }
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_->notify_all();
  if (deleter_.joinable()) deleter_.join();  // it finishes the unlinks queued
  close_segment();
}

fs::path SegmentStore::segment_path(std::uint64_t number) const {
  return config_.path / segment_file_name(number);
}

// The folder: created when missing (database.mode, plus x where r is set: a folder's
// search bit is what lets a reader in), refused when it is something else, then flocked.
void SegmentStore::lock_folder() {
  const auto bad_path = [&](std::string_view problem, int err) {
    throw Error(Errc::config,
                fmt::format("invalid config '{}': 'database.path' {}: '{}'{}", origin_, problem,
                            folder_, err ? fmt::format(" ({})", cause(err)) : std::string()),
                err);
  };
  struct stat st {};
  if (::stat(folder_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      bad_path(
          "is a file, but with segment_bytes or segment_duration set it names a recording's "
          "folder",
          0);
    }
  } else if (errno == ENOENT) {
    const auto mode = static_cast<mode_t>(config_.mode | ((config_.mode & 0444) >> 2));
    if (::mkdir(folder_.c_str(), mode) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) bad_path("is in a folder that does not exist", 0);
      if (err != EEXIST) bad_path("is a folder that cannot be created", err);
    } else if (::chmod(folder_.c_str(), mode) != 0) {  // the umask took bits away
      const int err = errno;
      throw Error(Errc::system,
                  fmt::format("cannot set the mode of recording '{}': {}", folder_, cause(err)),
                  err);
    }
  } else {
    bad_path("cannot be read", errno);
  }
  do {
    dir_.fd = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (dir_.fd < 0 && errno == EINTR);
  if (dir_.fd < 0) bad_path("is a folder that cannot be opened", errno);
  int rc;
  do {
    rc = ::flock(dir_.fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      throw Error(Errc::system, fmt::format("cannot lock recording '{}': {}", folder_, cause(err)),
                  err);
    }
    struct stat ds {};
    long holder = 0;
    if (::fstat(dir_.fd, &ds) == 0) holder = flock_holder(ds.st_dev, ds.st_ino);
    throw Error(Errc::busy,
                fmt::format("cannot open recording '{}': another process{} writes to it (a "
                            "recording takes the records of one ring at a time)",
                            folder_, holder > 0 ? fmt::format(" (pid {})", holder) : std::string()),
                err);
  }
}

[[noreturn]] void SegmentStore::fail(std::string_view verb, const SqlError& e) const {
  throw Error(is_busy(e.code()) ? Errc::busy : Errc::sqlite,
              fmt::format("cannot {} recording '{}': {}", verb, folder_, e.what()), 0, e.code());
}

namespace {
// Reads every row `sql` returns, each value copied out of the connection.
template <typename Rows>
void read_rows(sqlite3* db, const std::string& sql, Rows& out) {
  const StmtPtr st = prepare(db, sql);
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    auto& row = out.emplace_back();
    const int n = sqlite3_column_count(st.get());
    for (int i = 0; i < n; ++i) {
      row.emplace_back(sqlite3_value_dup(sqlite3_column_value(st.get(), i)));
      if (!row.back()) throw SqlError(SQLITE_NOMEM, "out of memory copying a row");
    }
  }
  if (rc != SQLITE_DONE) throw last_error(db, rc);
}

template <typename Rows>
void write_rows(sqlite3* db, const char* table, const char* columns, const Rows& rows) {
  if (rows.empty()) return;
  const int n = static_cast<int>(rows.front().size());
  std::string marks;
  for (int i = 1; i <= n; ++i) marks += fmt::format("{}?{}", i == 1 ? "" : ", ", i);
  const StmtPtr st =
      prepare(db, fmt::format("INSERT OR IGNORE INTO {}({}) VALUES ({})", table, columns, marks));
  for (const auto& row : rows) {
    for (int i = 0; i < n && i < static_cast<int>(row.size()); ++i)
      sqlite3_bind_value(st.get(), i + 1, row[static_cast<std::size_t>(i)].get());
    run(db, st.get());
  }
}
}  // namespace

// Looks at the newest file, segment `number`: a file a crash left before its creating
// transaction committed, the open segment, or one closed by a roll whose successor was
// never made (then `carry` gets what the successor needs).
SegmentStore::Found SegmentStore::probe(std::uint64_t number, Carry& carry) {
  const std::string path = segment_path(number).string();
  const std::string context =
      fmt::format("cannot open recording '{}': segment '{}'", folder_, segment_file_name(number));
  sqlite3* raw = nullptr;
  const int orc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (orc != SQLITE_OK) {
    throw Error(Errc::sqlite,
                fmt::format("{}: {}", context, raw ? sqlite3_errmsg(raw) : sqlite3_errstr(orc)), 0,
                orc);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  try {
    const auto number_of = [&](const char* sql) {
      return std::stoll(query_text(raw, sql).value_or("0"));
    };
    if (number_of("PRAGMA application_id") == 0 &&
        number_of("SELECT count(*) FROM sqlite_schema") == 0) {
      return Found::incomplete;
    }
    check_database_identity(raw, context, false);
    const StmtPtr st = prepare(raw, "SELECT state FROM _ringlite_segments WHERE number = ?1");
    sqlite3_bind_int64(st.get(), 1, static_cast<sqlite3_int64>(number));
    const int rc = sqlite3_step(st.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw last_error(raw, rc);
    const auto* text = rc == SQLITE_ROW
                           ? reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0))
                           : nullptr;
    const std::string state = text ? text : "";
    if (state == "open") return Found::open;
    if (state != "closed") {
      throw Error(
          Errc::corrupt,
          fmt::format("{}: its catalog {} (a segment's own row says open or closed)", context,
                      state.empty() ? std::string("has no row for it")
                                    : fmt::format("says it is '{}'", state)));
    }
    read_rows(raw,
              fmt::format("SELECT {} FROM _ringlite_segments ORDER BY number", kCatalogColumns),
              carry.catalog);
    read_rows(raw, fmt::format("SELECT {} FROM _ringlite_progress", kProgressColumns),
              carry.progress);
    read_rows(raw,
              fmt::format("SELECT {} FROM _ringlite_gaps WHERE kind = 'retention'", kGapColumns),
              carry.gaps);
    return Found::closed;
  } catch (const SqlError& e) {
    if ((e.code() & 0xff) == SQLITE_NOTADB || (e.code() & 0xff) == SQLITE_CORRUPT) {
      throw Error(Errc::corrupt, fmt::format("{}: {}", context, e.what()), 0, e.code());
    }
    throw Error(is_busy(e.code()) ? Errc::busy : Errc::sqlite,
                fmt::format("{}: {}", context, e.what()), 0, e.code());
  }
}

// Start-up recovery (docs/design.md, "Rolling": exactly once across rolls), also run when a roll
// failed half-way: makes the newest complete segment the open one.
void SegmentStore::ensure_open() {
  if (open_) return;
  auto files = list_segment_files(config_.path);
  Carry carry;
  while (!files.empty()) {
    const std::uint64_t n = files.back().number;
    carry = Carry{};
    switch (probe(n, carry)) {
      case Found::incomplete: {
        // Step 2 of a roll never committed: the file holds nothing.
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
          std::error_code ec;
          fs::remove(files.back().path.string() + suffix, ec);
        }
        emit(fmt::format("recording '{}': removed {}, a segment whose creation did not complete",
                         folder_, segment_file_name(n)));
        files.pop_back();
        continue;
      }
      case Found::open:
        open_segment(n, nullptr);
        break;
      case Found::closed:
        emit(fmt::format("recording '{}': {} was closed by a roll that did not finish; creating {}",
                         folder_, segment_file_name(n), segment_file_name(n + 1)));
        open_segment(n + 1, &carry);
        break;
    }
    break;
  }
  if (!open_) {
    carry = Carry{};
    open_segment(1, &carry);
  }
  load_catalog();
}

void SegmentStore::open_segment(std::uint64_t number, const Carry* carry) {
  seg_config_.path = segment_path(number);
  carry_ = carry;
  creating_ = number;
  try {
    open_.emplace(StoreAccess::open_segment(seg_config_, schema_, origin_, this));
  } catch (...) {
    carry_ = nullptr;
    throw;
  }
  carry_ = nullptr;
  number_ = number;
  sqlite3* h = StoreAccess::handle(*open_);
  try {
    update_ = prepare(h,
                      "UPDATE _ringlite_segments SET first_seq = min(coalesce(first_seq, ?1), ?1), "
                      "last_seq = max(coalesce(last_seq, ?2), ?2), "
                      "first_ts = min(coalesce(first_ts, ?3), ?3), "
                      "last_ts = max(coalesce(last_ts, ?4), ?4), rows = rows + ?5 "
                      "WHERE number = ?6");
    state_ = prepare(h,
                     "SELECT first_ts, last_ts, rows, (SELECT page_count FROM pragma_page_count()) "
                     "* (SELECT page_size FROM pragma_page_size()) FROM _ringlite_segments "
                     "WHERE number = ?1 AND state = 'open'");
  } catch (const SqlError& e) {
    close_segment();
    fail("open", e);
  }
  load_state();
}

void SegmentStore::close_segment() noexcept {
  update_.reset();
  state_.reset();
  open_.reset();  // closes the connection: a WAL checkpoint, the -wal and -shm go
}

// The open segment's row, after each batch: what rolling looks at.
void SegmentStore::load_state() {
  sqlite3_stmt* st = state_.get();
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(number_));
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    first_ts_ = int_or_null(st, 0);
    last_ts_ = int_or_null(st, 1);
    rows_ = sqlite3_column_int64(st, 2);
    bytes_ = static_cast<std::uint64_t>(std::max<sqlite3_int64>(0, sqlite3_column_int64(st, 3)));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    const SqlError e = last_error(StoreAccess::handle(*open_), rc);
    sqlite3_reset(st);
    fail("read", e);
  }
  sqlite3_reset(st);
  if (rc == SQLITE_DONE) {
    close_segment();
    throw Error(Errc::corrupt,
                fmt::format("cannot open recording '{}': segment '{}' has no 'open' row for "
                            "itself in its catalog",
                            folder_, segment_file_name(number_)));
  }
}

// The closed segments retention may expire, and files of expired ones a crash left behind.
void SegmentStore::load_catalog() {
  sqlite3* h = StoreAccess::handle(*open_);
  closed_.clear();
  catalog_stale_ = true;  // until this read succeeds: retain() tries again
  std::vector<std::uint64_t> leftovers;
  try {
    const StmtPtr st = prepare(h,
                               "SELECT number, state, bytes, first_seq, last_seq, last_ts, rows, "
                               "closed_ns FROM _ringlite_segments WHERE number < ?1 AND state IN "
                               "('closed', 'deleted') ORDER BY number");
    sqlite3_bind_int64(st.get(), 1, static_cast<sqlite3_int64>(number_));
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
      const auto n = sqlite3_column_int64(st.get(), 0);
      if (n <= 0) continue;
      const auto* state = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 1));
      if (state && std::string_view(state) == "deleted") {
        leftovers.push_back(static_cast<std::uint64_t>(n));
        continue;
      }
      Closed c;
      c.number = static_cast<std::uint64_t>(n);
      c.bytes = std::max<std::int64_t>(0, sqlite3_column_int64(st.get(), 2));
      c.first_seq = int_or_null(st.get(), 3);
      c.last_seq = int_or_null(st.get(), 4);
      c.last_ts = int_or_null(st.get(), 5);
      c.rows = sqlite3_column_int64(st.get(), 6);
      c.closed_ns = sqlite3_column_int64(st.get(), 7);
      closed_.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) throw last_error(h, rc);
  } catch (const SqlError& e) {
    fail("read", e);
  }
  catalog_stale_ = false;
  // Killed between retention's commit and its unlink: the file goes now.
  for (const auto n : leftovers) {
    const fs::path p = segment_path(n);
    std::error_code ec;
    if (fs::exists(p, ec)) {
      fs::remove(p, ec);
      for (const char* suffix : {"-wal", "-shm"}) {
        std::error_code ignored;
        fs::remove(p.string() + suffix, ignored);
      }
      emit(ec ? fmt::format("recording '{}': cannot delete expired {}: {}", folder_,
                            segment_file_name(n), ec.message())
              : fmt::format("recording '{}': deleted {}, expired before the last stop", folder_,
                            segment_file_name(n)));
    }
  }
}

// In the transaction that creates segment `creating_`: its catalog (the predecessor's, and
// its own row), the progress to resume from, and every retention gap so far.
void SegmentStore::created(sqlite3* db) {
  if (carry_) {
    write_rows(db, "_ringlite_segments", kCatalogColumns, carry_->catalog);
    write_rows(db, "_ringlite_progress", kProgressColumns, carry_->progress);
    write_rows(db, "_ringlite_gaps", kGapColumns, carry_->gaps);
  }
  const StmtPtr st = prepare(
      db, "INSERT INTO _ringlite_segments(number, state, created_ns) VALUES (?1, 'open', ?2)");
  sqlite3_bind_int64(st.get(), 1, static_cast<sqlite3_int64>(creating_));
  sqlite3_bind_int64(st.get(), 2, wall_ns());
  run(db, st.get());
}

// The batch's ranges, computed here rather than by SQL over the tables: one UPDATE per
// transaction whatever its size.
void SegmentStore::committing(sqlite3* db, const Batch& batch, std::uint32_t first,
                              std::uint32_t hi, std::span<const Reject> rejects,
                              std::uint64_t inserted) {
  if (inserted == 0 || !update_) return;
  skip_.clear();
  for (const Reject& r : rejects)
    if (r.frame >= first && r.frame < hi) skip_.push_back(r.frame);
  std::sort(skip_.begin(), skip_.end());
  auto skip = skip_.begin();
  bool any = false;
  std::uint64_t seq_lo = 0, seq_hi = 0;
  std::int64_t ts_lo = 0, ts_hi = 0;
  for (std::uint32_t i = first; i < hi; ++i) {
    while (skip != skip_.end() && *skip < i) ++skip;
    if (skip != skip_.end() && *skip == i) continue;
    const Frame& f = batch.frames[i];
    if (!any) {
      seq_lo = seq_hi = f.seq;
      ts_lo = ts_hi = f.ts_ns;
      any = true;
      continue;
    }
    seq_lo = std::min(seq_lo, f.seq);
    seq_hi = std::max(seq_hi, f.seq);
    ts_lo = std::min(ts_lo, f.ts_ns);
    ts_hi = std::max(ts_hi, f.ts_ns);
  }
  if (!any) return;
  sqlite3_stmt* st = update_.get();
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(seq_lo));
  sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(seq_hi));
  sqlite3_bind_int64(st, 3, ts_lo);
  sqlite3_bind_int64(st, 4, ts_hi);
  sqlite3_bind_int64(st, 5, static_cast<sqlite3_int64>(inserted));
  sqlite3_bind_int64(st, 6, static_cast<sqlite3_int64>(number_));
  run(db, st);
}

BatchResult SegmentStore::write_batch(const Batch& batch, std::string_view ring_id,
                                      std::uint64_t drops) {
  flush_log();
  ensure_open();  // a roll a failure left half-done: finished before anything is written
  const BatchResult r = open_->write_batch(batch, ring_id, drops);
  try {
    after_commit();
    last_failure_.clear();
  } catch (const Error& e) {
    // The batch is committed: what failed after it is finished later (ensure_open(),
    // retain() on the next call).
    failed(e.what());
  }
  flush_log();
  return r;
}

void SegmentStore::after_commit() {
  load_state();
  if (roll_due()) roll();
  retain();
}

bool SegmentStore::roll_due() const noexcept {
  if (rows_ == 0) return false;  // a segment without records never rolls
  if (config_.segment_bytes != 0 && bytes_ >= config_.segment_bytes) return true;
  return config_.segment_duration.count() != 0 && first_ts_ && last_ts_ &&
         minus(*last_ts_, *first_ts_) >= config_.segment_duration.count();
}

// Steps 1 and 2 of the roll (docs/design.md, "Rolling"); step 3 is the next batch.
void SegmentStore::roll() {
  const std::uint64_t n = number_;
  sqlite3* h = StoreAccess::handle(*open_);
  Carry carry;
  std::int64_t bytes = 0;
  try {
    exec(h, "BEGIN IMMEDIATE");
    try {
      const StmtPtr close = prepare(
          h,
          "UPDATE _ringlite_segments SET state = 'closed', closed_ns = ?2, bytes = (SELECT "
          "page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size()) "
          "WHERE number = ?1 RETURNING bytes");
      sqlite3_bind_int64(close.get(), 1, static_cast<sqlite3_int64>(n));
      sqlite3_bind_int64(close.get(), 2, wall_ns());
      const int rc = sqlite3_step(close.get());
      if (rc != SQLITE_ROW) throw last_error(h, rc);
      bytes = sqlite3_column_int64(close.get(), 0);
      sqlite3_reset(close.get());
      read_rows(h,
                fmt::format("SELECT {} FROM _ringlite_segments ORDER BY number", kCatalogColumns),
                carry.catalog);
      read_rows(h, fmt::format("SELECT {} FROM _ringlite_progress", kProgressColumns),
                carry.progress);
      read_rows(h,
                fmt::format("SELECT {} FROM _ringlite_gaps WHERE kind = 'retention'", kGapColumns),
                carry.gaps);
      exec(h, "COMMIT");
    } catch (...) {
      sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  } catch (const SqlError& e) {
    fail(fmt::format("close segment '{}' of", segment_file_name(n)), e);
  }
  const auto rows = rows_;
  // The connection's close runs the last checkpoint and syncs the file: the deleter
  // thread does that (before any unlink queued after it), so the drain goes on in N+1.
  update_.reset();
  state_.reset();
  if (deleter_.joinable()) {
    {
      const std::lock_guard lock(mutex_);
      jobs_.push_back(Job{std::move(open_), {}, {}, segment_path(n)});
    }
    wake_->notify_one();
  }
  close_segment();
  emit(fmt::format("recording '{}': closed {} ({} records, {}); opening {}", folder_,
                   segment_file_name(n), rows, size_text(static_cast<std::uint64_t>(bytes)),
                   segment_file_name(n + 1)));
  open_segment(n + 1, &carry);
  load_catalog();
}

WalLimits SegmentStore::wal_limits() const {
  if (config_.segment_bytes == 0) return {};
  const auto restart = static_cast<std::int64_t>(
      std::clamp<std::uint64_t>(config_.segment_bytes, std::uint64_t{4} << 20, 32u << 20));
  return {.passive_bytes = restart / 4, .restart_bytes = restart, .hard_bytes = 2 * restart};
}

// What the recording holds on disk: the closed segments as the catalog has them, the open
// one's file and -wal as they are.
std::uint64_t SegmentStore::recording_bytes() const {
  std::uint64_t total = 0;
  for (const Closed& c : closed_) total = plus(total, static_cast<std::uint64_t>(c.bytes));
  for (const char* suffix : {"", "-wal"}) {
    struct stat st {};
    if (::stat((segment_path(number_).string() + suffix).c_str(), &st) == 0)
      total = plus(total, static_cast<std::uint64_t>(st.st_size));
  }
  return total;
}

// Retention (docs/design.md, "Retention"): expires the oldest closed segments while a
// limit says so, each in one transaction of the open segment; the deleter unlinks them.
void SegmentStore::retain() {
  if (!open_ || (config_.retain_bytes == 0 && config_.retain_age.count() == 0)) return;
  if (catalog_stale_) load_catalog();  // the last read failed (a busy or full disk)
  while (!closed_.empty()) {
    const Closed& s = closed_.front();
    std::string reason;
    if (config_.retain_bytes != 0) {
      const std::uint64_t total = recording_bytes();
      if (total > config_.retain_bytes) {
        reason = fmt::format("retain_bytes {}: the recording held {}",
                             size_text(config_.retain_bytes), size_text(total));
      }
    }
    const std::int64_t now = wall_ns();
    if (reason.empty() && config_.retain_age.count() != 0) {
      const std::int64_t newest = s.last_ts.value_or(s.closed_ns);
      if (minus(now, newest) > config_.retain_age.count()) {
        reason =
            fmt::format("retain_age {}: its newest record is {} old", age_text(config_.retain_age),
                        age_text(std::chrono::nanoseconds(minus(now, newest))));
      }
    }
    if (reason.empty()) return;
    sqlite3* h = StoreAccess::handle(*open_);
    try {
      exec(h, "BEGIN IMMEDIATE");
      try {
        const StmtPtr mark = prepare(h,
                                     "UPDATE _ringlite_segments SET state = 'deleted', "
                                     "deleted_ns = ?2 WHERE number = ?1");
        sqlite3_bind_int64(mark.get(), 1, static_cast<sqlite3_int64>(s.number));
        sqlite3_bind_int64(mark.get(), 2, now);
        run(h, mark.get());
        if (s.rows > 0 && s.first_seq && s.last_seq) {
          const StmtPtr gap = prepare(h,
                                      "INSERT OR IGNORE INTO _ringlite_gaps(kind, seq_from, "
                                      "seq_to, count, reason, recorded_ns) VALUES "
                                      "('retention', ?1, ?2, ?3, ?4, ?5)");
          sqlite3_bind_int64(gap.get(), 1, *s.first_seq);
          sqlite3_bind_int64(gap.get(), 2,
                             *s.last_seq == INT64_MAX ? *s.last_seq : *s.last_seq + 1);
          sqlite3_bind_int64(gap.get(), 3, s.rows);
          sqlite3_bind_text(gap.get(), 4, reason.data(), static_cast<int>(reason.size()),
                            SQLITE_TRANSIENT);
          sqlite3_bind_int64(gap.get(), 5, now);
          run(h, gap.get());
        }
        exec(h, "COMMIT");
      } catch (...) {
        sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
    } catch (const SqlError& e) {
      fail(fmt::format("expire segment '{}' of", segment_file_name(s.number)), e);
    }
    emit(fmt::format("recording '{}': expired {} (seq {} to {}, {} records): {}", folder_,
                     segment_file_name(s.number),
                     s.first_seq ? fmt::format("{}", *s.first_seq) : std::string("-"),
                     s.last_seq ? fmt::format("{}", *s.last_seq) : std::string("-"), s.rows,
                     reason));
    unlink_later(s.number, reason);
    closed_.erase(closed_.begin());
  }
}

void SegmentStore::unlink_later(std::uint64_t number, std::string why) {
  if (!deleter_.joinable()) {  // during start-up: no thread yet
    std::error_code ec;
    fs::remove(segment_path(number), ec);
    return;
  }
  {
    const std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::nullopt, segment_path(number), std::move(why), {}});
  }
  wake_->notify_one();
}

namespace {

// A closed segment is never written again: out of WAL mode (rollback journal), it needs no
// -wal or -shm to be read, so a reader who may not create files in the folder (a group
// member of a 0750 folder) reads it too. Best effort: a reader holding the segment open keeps
// it in WAL mode (SQLITE_BUSY after a short wait), which is how it was written and still
// readable by whoever may write the folder.
void leave_wal(const fs::path& file) noexcept {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(file.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 200);
    sqlite3_exec(h, "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr);
  }
  sqlite3_close(h);
}

}  // namespace

// The deleter: closes rolled segments and unlinks expired ones (a large file's unlink can
// take a while), in that order, off the drain thread. Its lines are said by the next
// write_batch() or checkpoint().
void SegmentStore::deleter_main() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_->wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    if (job.closing) {
      job.closing.reset();
      leave_wal(job.closed);
      lock.lock();
      continue;
    }
    const fs::path& path = job.unlink;
    std::error_code ec;
    fs::remove(path, ec);
    for (const char* suffix : {"-wal", "-shm"}) {
      std::error_code ignored;
      fs::remove(path.string() + suffix, ignored);
    }
    std::string line =
        ec ? fmt::format("recording '{}': cannot delete expired '{}': {}", folder_,
                         path.filename().string(), ec.message())
           : fmt::format("recording '{}': deleted {}", folder_, path.filename().string());
    lock.lock();
    deleted_.push_back(std::move(line));
  }
}

void SegmentStore::emit(const std::string& line) {
  if (log_) {
    try {
      log_(line);
      return;
    } catch (...) {
    }
  }
  if (pending_log_.size() < 64) pending_log_.push_back(line);
}

// A failure after a committed batch: said once, until something works again.
void SegmentStore::failed(const std::string& what) {
  if (what == last_failure_) return;
  last_failure_ = what;
  emit(fmt::format("{}; retrying", what));
}

void SegmentStore::flush_log() {
  std::vector<std::string> lines;
  {
    const std::lock_guard lock(mutex_);
    lines.swap(deleted_);
  }
  if (!log_) {
    for (auto& l : lines)
      if (pending_log_.size() < 64) pending_log_.push_back(std::move(l));
    return;
  }
  std::vector<std::string> earlier;
  earlier.swap(pending_log_);
  for (const auto& l : earlier) emit(l);
  for (const auto& l : lines) emit(l);
}

std::uint64_t SegmentStore::next_position() {
  ensure_open();
  return open_->next_position();
}

std::optional<std::uint64_t> SegmentStore::progress(std::string_view ring_id) {
  ensure_open();
  return open_->progress(ring_id);
}

void SegmentStore::check_file() {
  if (open_) open_->check_file();
}

int SegmentStore::checkpoint(bool now) noexcept {
  try {
    flush_log();
    ensure_open();
    const int wal = now ? open_->checkpoint() : open_->maintain();
    retain();
    last_failure_.clear();
    flush_log();
    return wal;
  } catch (const std::exception& e) {
    try {
      failed(e.what());
    } catch (...) {
    }
    return -1;
  }
}

std::vector<std::pair<std::string, std::string>> SegmentStore::pragmas() {
  ensure_open();
  return open_->pragmas();
}

std::string SegmentStore::describe() const {
  const auto segments = closed_.size() + (open_ ? 1 : 0);
  return fmt::format("recording '{}' ({} segment{}, writing {})", folder_, segments,
                     segments == 1 ? "" : "s", segment_file_name(number_));
}

}  // namespace ringlite::detail

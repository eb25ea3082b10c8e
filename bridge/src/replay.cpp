// ringlite: replaying recorded history back into a ring (docs/design.md, "Readers, live SQL and
// replay"). Setup (options, the database's identity and recorded types, the ring's layouts) goes
// through SQLiteCpp and throws before anything is written; the per-record path uses raw
// statements: one cursor per selected type, merged by seq (a k-way merge on a small heap),
// each row re-encoded into its payload and written with its recorded ts_ns.
#include "ringlite/replay.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <thread>

#include "detail/replay_source.hpp"
#include "detail/store_detail.hpp"
#include "platform/platform.hpp"
#include "ringlite/error.hpp"
#include "ringlite/recording.hpp"
#include "ringlite/store.hpp"

namespace ringlite {
namespace detail {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto kProgressEvery = 200ms;
// Sleeps end this early and the rest is spun: the OS wakes a sleeper tens of µs late.
constexpr auto kSpinWindow = 50us;
// Long sleeps and waits on a full ring are cut into slices that check `stop` in between.
constexpr auto kSlice = 50ms;
// Cursors sitting on rows hold SQLite's read transaction: a paced replay parks them (resets
// them) before a sleep longer than kParkGap, or before any sleep longer than 2 * kReseekLead
// once they have held it for kHoldLimit, and puts them back kReseekLead before the record
// is due. See park().
constexpr auto kParkGap = 20ms;
constexpr auto kHoldLimit = 1s;
constexpr auto kReseekLead = 500us;
constexpr int kBusyTimeoutMs = 5000;
constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMinI64 = std::numeric_limits<std::int64_t>::min();

/// A type recorded in the database (its row in _ringlite_types, its DDL parsed).
struct Recorded {
  RecordType type;
  std::string layout;
};

/// One selected type during a pass: its writer into the ring, its cursor and current row.
struct Source {
  RecordType type;  // as recorded: the layout the rows are encoded with
  RawWriter writer;
  ReplayStmt select, max_seq;
  ReplayStmt seq_range;         // only with a time bound
  ReplayStmt count, last_ts;    // only when progress is reported
  std::int64_t lo = 0, hi = 0;  // this pass reads seq from lo up to hi
  std::int64_t seq = 0, ts = 0;
};

class Replayer {
 public:
  Replayer(const fs::path& database, Producer& producer, const ReplayOptions& options,
           const std::atomic<bool>& stop,
           const std::function<void(const ReplayProgress&)>& progress)
      : path_(database.string()),
        producer_(producer),
        o_(options),
        stop_(stop),
        progress_(progress) {}

  ReplayResult run();

 private:
  void validate_options() const;
  void open_database();
  std::vector<Recorded> read_types();
  void apply_window(const std::vector<Recorded>& recorded);
  void select_sources(std::vector<Recorded> recorded);
  ReplayStmt prepare(const RecordType& t, const std::string& sql);
  [[noreturn]] void fail_sql(Errc code, std::string_view what, int rc) const;
  std::uint64_t begin_pass();
  bool narrow_to_window(Source& s);
  void end_pass() noexcept;
  void bind(sqlite3_stmt* st, const Source& s, std::int64_t from) const;
  bool step(std::size_t i);
  void park() noexcept;
  void unpark();
  bool write(Source& s);
  bool wait_until(Clock::time_point due);
  void report(Clock::time_point now, bool force);

  std::string path_;
  Producer& producer_;
  const ReplayOptions& o_;
  const std::atomic<bool>& stop_;
  const std::function<void(const ReplayProgress&)>& progress_;
  std::optional<Recording> recording_;
  sqlite3* h_ = nullptr;
  std::vector<Source> sources_;
  std::vector<std::pair<std::int64_t, std::uint32_t>> heap_;  // (seq, source), min first
  bool parked_ = false;
  Clock::time_point held_since_{};
  std::vector<std::byte> fixed_;
  std::vector<std::string_view> tails_;

  // Bounds bound into every query: seq and ts_ns, inclusive. ts_ns only when ts_bounded_.
  std::int64_t seq_from_ = 0, seq_to_ = kMaxI64, ns_from_ = kMinI64, ns_to_ = kMaxI64;
  bool ts_bounded_ = false;
  // Progress and pacing.
  Clock::time_point start_{}, next_report_{}, pass_start_{};
  std::optional<std::int64_t> ts_first_;
  std::int64_t ts_max_ = 0;  // the latest ts_ns of the pass's last rows, for the ETA
  ReplayResult result_;
  std::uint64_t pass_total_ = 0, pass_written_ = 0;
};

void Replayer::validate_options() const {
  const auto usage = [&](const std::string& cause) {
    return Error(Errc::usage, fmt::format("cannot replay database '{}': {}", path_, cause));
  };
  if (!o_.max_speed && !(std::isfinite(o_.speed) && o_.speed > 0)) {
    throw usage(fmt::format(
        "speed {} is not a positive number (use max_speed for as fast as possible)", o_.speed));
  }
  if (o_.from_seq && o_.to_seq && *o_.from_seq > *o_.to_seq) {
    throw usage(
        fmt::format("the seq range starts at {}, after its end {}", *o_.from_seq, *o_.to_seq));
  }
  if (o_.from_ns && o_.to_ns && *o_.from_ns > *o_.to_ns) {
    throw usage(
        fmt::format("the time range starts at ts_ns {}, after its end {}", *o_.from_ns, *o_.to_ns));
  }
  if (o_.start_offset && o_.start_offset->count() < 0) {
    throw usage(fmt::format("start offset {} ns is negative (it counts from the first record)",
                            o_.start_offset->count()));
  }
  if (o_.duration && o_.duration->count() <= 0)
    throw usage(fmt::format("duration {} ns is not positive", o_.duration->count()));
}

// a + b, clamped to the int64 range (ts_ns in the database are untrusted).
std::int64_t add_clamped(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? kMaxI64 : kMinI64;
}

[[noreturn]] void Replayer::fail_sql(Errc code, std::string_view what, int rc) const {
  if (is_busy(rc)) code = Errc::busy;
  throw Error(code,
              fmt::format("cannot replay database '{}': {}: {}", path_, what, sqlite3_errmsg(h_)),
              0, rc);
}

// Read-only, never created: a missing file is the caller's mistake, not a new database. A
// folder is a recording of segments, read as one database through Recording (its types are
// virtual tables over the segments, in seq order).
void Replayer::open_database() {
  std::error_code ec;
  if (!fs::exists(fs::status(path_, ec)))
    throw Error(Errc::config, fmt::format("cannot replay database '{}': no such file", path_));
  try {
    recording_.emplace(Recording::open(path_));
  } catch (const Error& e) {
    // "cannot open recording 'x': why" -> "cannot replay database 'x': why".
    std::string why = e.what();
    for (const auto& prefix : {fmt::format("cannot open recording '{}': ", path_),
                               fmt::format("cannot read database '{}': ", path_)}) {
      if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    }
    // A file SQLite cannot read is where the caller pointed, not a failure of SQLite.
    const Errc code = e.code() == Errc::sqlite ? Errc::config : e.code();
    throw Error(is_busy(e.sqlite_code()) ? Errc::busy : code,
                fmt::format("cannot replay database '{}': {}", path_, why), 0, e.sqlite_code());
  }
  h_ = recording_->connection();
  sqlite3_extended_result_codes(h_, 1);
  sqlite3_busy_timeout(h_, kBusyTimeoutMs);
}

// Every type the database recorded, with the layout its rows were decoded by.
std::vector<Recorded> Replayer::read_types() {
  std::vector<Recorded> out;
  // Untrusted too: each recorded type's DDL is parsed, so their number is bounded first.
  if (recording_->schema().types().size() > kMaxRecordTypes) {
    throw Error(Errc::corrupt,
                fmt::format("cannot replay database '{}': _ringlite_types lists {} record types "
                            "(a schema has at most {})",
                            path_, recording_->schema().types().size(), kMaxRecordTypes));
  }
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(h_, "SELECT name, ddl, layout FROM _ringlite_types ORDER BY id", -1, &raw,
                         nullptr) != SQLITE_OK) {
    fail_sql(Errc::sqlite, "cannot read _ringlite_types", sqlite3_extended_errcode(h_));
  }
  const ReplayStmt rows(raw);
  const auto text = [&](int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(raw, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(raw, col)))
             : std::string();
  };
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    const std::string name = text(0), ddl = text(1), layout = text(2);
    const Schema one = Schema::parse(ddl, fmt::format("database '{}' type '{}'", path_, name));
    if (one.types().size() != 1 || one.types()[0].name != name ||
        one.types()[0].layout_signature() != layout) {
      throw Error(
          Errc::corrupt,
          fmt::format("cannot replay database '{}': type '{}' has a DDL that does not match "
                      "its recorded layout: {}",
                      path_, name,
                      layout_difference(one.types()[0].layout_signature(), "the DDL", layout,
                                        "the recorded layout")));
    }
    out.push_back({one.types()[0], layout});
  }
  if (rc != SQLITE_DONE) fail_sql(Errc::sqlite, "cannot read _ringlite_types", rc);
  return out;
}

ReplayStmt Replayer::prepare(const RecordType& t, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(h_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
      SQLITE_OK) {
    const int rc = sqlite3_extended_errcode(h_);
    sqlite3_finalize(st);
    throw Error(is_busy(rc) ? Errc::busy : Errc::schema,
                fmt::format("cannot replay type '{}' from database '{}': {}", t.name, path_,
                            sqlite3_errmsg(h_)),
                0, rc);
  }
  return ReplayStmt(st);
}

// start_offset and duration count from the recording's first record: the smallest ts_ns of
// every recorded type, selected or not, so the same window selects the same instant whatever
// --type says. Read once, when the replay starts; a loop's later passes keep the window.
void Replayer::apply_window(const std::vector<Recorded>& recorded) {
  if (!o_.start_offset && !o_.duration) return;
  std::optional<std::int64_t> first;
  const auto earliest = [&](std::int64_t ts) { first = first ? std::min(*first, ts) : ts; };
  if (recording_->segmented()) {
    // The catalog has each segment's first ts_ns over every type: no segment is read.
    for (const SegmentInfo& seg : recording_->live_segments()) {
      if (seg.first_ts) earliest(*seg.first_ts);
    }
  } else {
    for (const Recorded& r : recorded) {
      const ReplayStmt st = prepare(r.type, first_ts_sql(r.type));
      const int rc = sqlite3_step(st.get());
      if (rc != SQLITE_ROW)
        fail_sql(Errc::sqlite, fmt::format("cannot read table '{}'", r.type.name), rc);
      if (sqlite3_column_type(st.get(), 0) != SQLITE_NULL)
        earliest(sqlite3_column_int64(st.get(), 0));
    }
  }
  if (!first) {  // no records at all: nothing is inside any window
    ns_from_ = kMaxI64;
    ns_to_ = kMinI64;
    return;
  }
  const std::int64_t begin = add_clamped(*first, o_.start_offset ? o_.start_offset->count() : 0);
  ns_from_ = std::max(ns_from_, begin);
  if (o_.duration) {
    const std::int64_t end = add_clamped(begin, o_.duration->count());  // exclusive
    ns_to_ = std::min(ns_to_, end == kMaxI64 ? kMaxI64 : end - 1);
  }
}

// The selected types, each checked against the ring before anything is written: the ring
// must have a type of that name (ids may differ) with exactly the recorded layout.
void Replayer::select_sources(std::vector<Recorded> recorded) {
  const auto known = [&] {
    std::string names;
    for (const auto& r : recorded) names += (names.empty() ? "" : ", ") + r.type.name;
    return names.empty() ? std::string("none") : names;
  };
  // Each glob must match some recorded type: a typo is an error, not an empty selection.
  const auto matches = [&](const std::string& glob, std::string_view what) {
    std::vector<bool> hit(recorded.size());
    bool any = false;
    for (std::size_t k = 0; k < recorded.size(); ++k)
      any |= hit[k] = platform::glob_match(glob, recorded[k].type.name);
    if (!any) {
      throw Error(Errc::usage,
                  fmt::format("cannot replay database '{}': {} '{}' matches no recorded type (it "
                              "has: {})",
                              path_, what, glob, known()));
    }
    return hit;
  };
  std::vector<bool> in(recorded.size(), o_.types.empty());
  for (const auto& glob : o_.types) {
    const auto hit = matches(glob, "type");
    for (std::size_t k = 0; k < recorded.size(); ++k) in[k] = in[k] || hit[k];
  }
  for (const auto& glob : o_.exclude_types) {
    const auto hit = matches(glob, "excluded type");
    for (std::size_t k = 0; k < recorded.size(); ++k) in[k] = in[k] && !hit[k];
  }
  std::vector<const Recorded*> chosen;
  for (std::size_t k = 0; k < recorded.size(); ++k)
    if (in[k]) chosen.push_back(&recorded[k]);
  if (chosen.empty() && (!o_.types.empty() || !o_.exclude_types.empty())) {
    throw Error(Errc::usage,
                fmt::format("cannot replay database '{}': the selection has no type left after "
                            "the exclusions (recorded: {})",
                            path_, known()));
  }
  const Ring& ring = producer_.ring();
  for (const Recorded* r : chosen) {
    const RecordType* now = ring.layouts().find(r->type.name);
    if (!now) {
      throw Error(
          Errc::schema,
          fmt::format("cannot replay type '{}' into {}: the ring has no type '{}' (select the "
                      "other types to leave it out)",
                      r->type.name, ring.display(), r->type.name));
    }
    if (now->layout_signature() != r->layout) {
      throw Error(Errc::schema,
                  fmt::format("cannot replay type '{}' into {}: its layout differs: {}",
                              r->type.name, ring.display(),
                              layout_difference(now->layout_signature(), "the ring", r->layout,
                                                "the database")));
    }
  }
  for (const Recorded* r : chosen) {
    Source s;
    s.type = r->type;
    s.writer = producer_.raw_writer(r->type.name);
    s.select = prepare(r->type, select_sql(r->type, ts_bounded_));
    s.max_seq = prepare(r->type, "SELECT max(seq) FROM " + quote_identifier(r->type.name));
    if (ts_bounded_) s.seq_range = prepare(r->type, seq_range_sql(r->type));
    if (progress_) {
      s.count = prepare(r->type, count_sql(r->type, ts_bounded_));
      s.last_ts = prepare(r->type, last_ts_sql(r->type, ts_bounded_));
    }
    sources_.push_back(std::move(s));
  }
}

// A pass reads each table up to the seq it held when the pass began, so records a bridge
// persists meanwhile (perhaps the replayed ones) wait for the next pass. It does not hold
// one snapshot for the whole pass: see park().
std::uint64_t Replayer::begin_pass() {
  std::uint64_t total = 0;
  ts_max_ = kMinI64;
  heap_.clear();
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    Source& s = sources_[i];
    sqlite3_stmt* mx = s.max_seq.get();
    const int rc = sqlite3_step(mx);
    if (rc != SQLITE_ROW)
      fail_sql(Errc::sqlite, fmt::format("cannot read table '{}'", s.type.name), rc);
    const bool empty = sqlite3_column_type(mx, 0) == SQLITE_NULL;
    s.lo = seq_from_;
    s.hi = std::min(seq_to_, static_cast<std::int64_t>(sqlite3_column_int64(mx, 0)));
    sqlite3_reset(mx);
    if (empty || !narrow_to_window(s)) continue;
    if (progress_) {
      bind(s.count.get(), s, s.lo);
      int c = sqlite3_step(s.count.get());
      if (c != SQLITE_ROW)
        fail_sql(Errc::sqlite, fmt::format("cannot count the rows of '{}'", s.type.name), c);
      total += static_cast<std::uint64_t>(sqlite3_column_int64(s.count.get(), 0));
      sqlite3_reset(s.count.get());
      bind(s.last_ts.get(), s, s.lo);
      c = sqlite3_step(s.last_ts.get());
      if (c == SQLITE_ROW) {
        ts_max_ =
            std::max(ts_max_, static_cast<std::int64_t>(sqlite3_column_int64(s.last_ts.get(), 0)));
      } else if (c != SQLITE_DONE) {
        fail_sql(Errc::sqlite, fmt::format("cannot read table '{}'", s.type.name), c);
      }
      sqlite3_reset(s.last_ts.get());
    }
    bind(s.select.get(), s, s.lo);
    if (step(i)) heap_.emplace_back(s.seq, static_cast<std::uint32_t>(i));
  }
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
  held_since_ = Clock::now();
  return total;
}

// With a time bound, narrows the source's seq range to that of the rows inside the time
// window, found through the ts_ns index (where the table has one): the cursor then walks
// only the window's part of the table. False when no row is inside.
bool Replayer::narrow_to_window(Source& s) {
  if (!ts_bounded_) return s.lo <= s.hi;
  if (ns_from_ > ns_to_) return false;
  sqlite3_stmt* st = s.seq_range.get();
  sqlite3_reset(st);
  sqlite3_bind_int64(st, 1, ns_from_);
  sqlite3_bind_int64(st, 2, ns_to_);
  const int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    fail_sql(Errc::sqlite, fmt::format("cannot read table '{}'", s.type.name), rc);
  const bool none = sqlite3_column_type(st, 0) == SQLITE_NULL;
  if (!none) {
    s.lo = std::max(s.lo, static_cast<std::int64_t>(sqlite3_column_int64(st, 0)));
    s.hi = std::min(s.hi, static_cast<std::int64_t>(sqlite3_column_int64(st, 1)));
  }
  sqlite3_reset(st);
  return !none && s.lo <= s.hi;
}

void Replayer::end_pass() noexcept {
  for (auto& s : sources_) sqlite3_reset(s.select.get());
  parked_ = false;
}

// Binds the selection's bounds, seq from `from` up to the pass's limit (resets `st` first).
void Replayer::bind(sqlite3_stmt* st, const Source& s, std::int64_t from) const {
  sqlite3_reset(st);
  sqlite3_bind_int64(st, 1, from);
  sqlite3_bind_int64(st, 2, s.hi);
  if (ts_bounded_) {
    sqlite3_bind_int64(st, 3, ns_from_);
    sqlite3_bind_int64(st, 4, ns_to_);
  }
}

// While the cursors sit on rows they hold a read transaction, an old snapshot. A bridge
// writing the same database cannot reset its WAL past a reader's snapshot, so a replay
// that held one for hours (speed 1) would make the WAL grow for as long. Parking resets
// every cursor, which ends the transaction; unpark() seeks each back to the row it was on
// (a rowid lookup per type).
void Replayer::park() noexcept {
  for (const auto& h : heap_) sqlite3_reset(sources_[h.second].select.get());
  parked_ = true;
}

void Replayer::unpark() {
  parked_ = false;
  auto active = std::move(heap_);
  heap_.clear();
  for (const auto& h : active) {
    Source& s = sources_[h.second];
    bind(s.select.get(), s, s.seq);
    if (step(h.second)) heap_.emplace_back(s.seq, h.second);
  }
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
  held_since_ = Clock::now();
}

// Moves source i's cursor to its next row; false at the end.
bool Replayer::step(std::size_t i) {
  Source& s = sources_[i];
  const int rc = sqlite3_step(s.select.get());
  if (rc == SQLITE_DONE) {
    sqlite3_reset(s.select.get());  // a finished cursor holds no transaction
    return false;
  }
  if (rc != SQLITE_ROW)
    fail_sql(Errc::sqlite, fmt::format("cannot read table '{}'", s.type.name), rc);
  s.seq = sqlite3_column_int64(s.select.get(), 0);
  s.ts = sqlite3_column_int64(s.select.get(), 1);
  return true;
}

// Writes source s's current row; waits for space while the ring is full. False when
// stopped while waiting.
bool Replayer::write(Source& s) {
  encode_row(s.type, s.select.get(), fixed_, tails_);
  for (;;) {
    const WriteResult r = s.type.variable() ? s.writer.write_var(fixed_, tails_, kSlice, s.ts)
                                            : s.writer.write(fixed_, kSlice, s.ts);
    if (r == WriteResult::ok) return true;
    if (is_retryable(r)) {
      if (stop_.load(std::memory_order_relaxed)) return false;
      continue;
    }
    const Errc code = r == WriteResult::too_large ? Errc::config
                      : r == WriteResult::closed  ? Errc::not_found
                                                  : Errc::corrupt;
    throw Error(
        code,
        fmt::format("cannot replay record seq {} of type '{}' into {}: write returned {}{}", s.seq,
                    s.type.name, producer_.ring().display(), to_string(r),
                    r == WriteResult::too_large ? " (the ring's max_record is too small for it)"
                    : r == WriteResult::closed  ? " (the ring was removed)"
                                                : ""));
  }
}

// Sleeps until `due`, the last kSpinWindow spun, the cursors parked meanwhile if the sleep
// is long; false when stopped first. The heap's sources are all on rows (none popped).
bool Replayer::wait_until(Clock::time_point due) {
  for (;;) {
    const auto now = Clock::now();
    if (now >= due) break;
    if (stop_.load(std::memory_order_relaxed)) return false;
    report(now, false);
    const auto left = due - now;
    if (!parked_ && left > 2 * kReseekLead && (left > kParkGap || now - held_since_ > kHoldLimit))
      park();
    if (parked_ && left <= kReseekLead) {
      unpark();
      continue;
    }
    if (left > kSpinWindow) {
      auto wake = std::min<Clock::time_point>(due - kSpinWindow, now + kSlice);
      if (parked_) wake = std::min<Clock::time_point>(wake, due - kReseekLead);
      std::this_thread::sleep_until(wake);
    } else {
      platform::cpu_relax();
    }
  }
  if (parked_) unpark();
  return true;
}

void Replayer::report(Clock::time_point now, bool force) {
  if (!progress_ || (!force && now < next_report_)) return;
  next_report_ = now + kProgressEvery;
  ReplayProgress p;
  p.written = result_.records;
  p.pass_written = pass_written_;
  p.total = pass_total_;
  p.passes = result_.passes;
  p.elapsed_s = std::chrono::duration<double>(now - start_).count();
  p.rate = p.elapsed_s > 0 ? static_cast<double>(p.written) / p.elapsed_s : 0;
  if (pass_written_ >= pass_total_) {
    p.eta_s = 0;
  } else if (o_.max_speed) {
    p.eta_s = p.rate > 0 ? static_cast<double>(pass_total_ - pass_written_) / p.rate : -1;
  } else if (ts_first_) {
    const double left_ns = static_cast<double>(ts_max_ - *ts_first_) / o_.speed;
    p.eta_s =
        std::max(0.0, std::chrono::duration<double>(pass_start_ - now).count() + left_ns / 1e9);
  }
  progress_(p);
}

ReplayResult Replayer::run() {
  validate_options();
  if (o_.from_seq)
    seq_from_ = static_cast<std::int64_t>(std::min<std::uint64_t>(*o_.from_seq, kMaxI64));
  if (o_.to_seq) seq_to_ = static_cast<std::int64_t>(std::min<std::uint64_t>(*o_.to_seq, kMaxI64));
  if (o_.from_ns) ns_from_ = *o_.from_ns;
  if (o_.to_ns) ns_to_ = *o_.to_ns;
  ts_bounded_ = o_.from_ns || o_.to_ns || o_.start_offset || o_.duration;
  open_database();
  auto recorded = read_types();
  apply_window(recorded);
  select_sources(std::move(recorded));

  start_ = Clock::now();
  next_report_ = start_ + kProgressEvery;
  bool first_pass = true;
  const double ns_per_ns = o_.max_speed ? 0.0 : 1.0 / o_.speed;  // wall ns per recorded ns
  while (!stop_.load(std::memory_order_relaxed)) {
    pass_total_ = begin_pass();
    pass_written_ = 0;
    std::optional<std::int64_t> ts_last;
    ts_first_.reset();
    if (first_pass) pass_start_ = Clock::now();
    bool stopped = false;
    while (!heap_.empty()) {
      if (stop_.load(std::memory_order_relaxed)) {
        stopped = true;
        break;
      }
      const auto [seq, i] = heap_.front();  // the next record in seq order
      Source& s = sources_[i];
      Clock::time_point due{};
      if (!o_.max_speed) {
        if (!ts_first_) ts_first_ = s.ts;
        // Due against the pass's start, not the previous record: lateness never accumulates.
        due = pass_start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                std::llround(static_cast<double>(s.ts - *ts_first_) * ns_per_ns)));
        if (!wait_until(due)) {
          stopped = true;
          break;
        }
        // Rows deleted while the cursors were parked: another record may be next now.
        if (heap_.empty() || heap_.front() != std::make_pair(seq, i)) continue;
      }
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      heap_.pop_back();
      if (!write(s)) {
        stopped = true;
        break;
      }
      ++result_.records;
      ++pass_written_;
      ts_last = s.ts;
      if (!o_.max_speed) {
        const auto now = Clock::now();
        result_.max_late_ns = std::max<std::int64_t>(result_.max_late_ns, (now - due).count());
        report(now, false);
      } else if ((pass_written_ & 255) == 0) {
        report(Clock::now(), false);
      }
      if (step(i)) {
        heap_.emplace_back(s.seq, i);
        std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
      }
    }
    end_pass();
    if (stopped) break;
    ++result_.passes;
    report(Clock::now(), true);
    // Nothing selected: looping would spin without ever writing.
    if (!o_.loop || pass_written_ == 0) break;
    // The next pass is due right after this one's last record.
    if (ts_first_ && ts_last) {
      pass_start_ += std::chrono::nanoseconds(static_cast<std::int64_t>(
          std::llround(static_cast<double>(*ts_last - *ts_first_) * ns_per_ns)));
    }
    first_pass = false;
  }
  result_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  report(Clock::now(), true);
  return result_;
}

}  // namespace
}  // namespace detail

ReplayResult replay(const std::filesystem::path& database, Producer& producer,
                    const ReplayOptions& options, const std::atomic<bool>& stop,
                    const std::function<void(const ReplayProgress&)>& progress) {
  detail::Replayer r(database, producer, options, stop, progress);
  return r.run();
}

}  // namespace ringlite

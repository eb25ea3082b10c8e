// ringlite: the database side of the bridge (docs/design.md, "The schema", "Config", "The bridge
// and exactly once"). Setup (pragmas, tables, the schema check) goes through SQLiteCpp; the
// per-batch path uses raw statements prepared once (store_insert.cpp), because it runs for every
// record.
#include "ringlite/store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "detail/checkpointer.hpp"
#include "detail/store_detail.hpp"
#include "detail/store_segments.hpp"
#include "detail/time_view.hpp"
#include "ringlite/error.hpp"

namespace ringlite {
namespace detail {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ringlite's own tables come from schema/metadata.sql, embedded at build time (kMetadataSql,
// store_detail.hpp), which says who writes and reads each (docs/design.md, "The database
// format").

// Setup may wait for a reader or a starting bridge; the batch path retries BUSY itself with
// backoff (and counts it), so its busy handler only smooths over short lock holds.
constexpr int kOpenBusyTimeoutMs = 5000;
constexpr int kBusyTimeoutMs = 100;
constexpr auto kBusyBudget = 2s;
constexpr auto kFirstBackoff = 1ms;
constexpr auto kMaxBackoff = 100ms;

// Defaults where the config sets none (measured in bench/persist_bench.cpp: see README, "How
// fast"). 16 KiB pages: fewer, fuller b-tree pages and WAL frames per row.
// (A bigger cache_size measured no faster: the b-trees grow at their right edge.)
constexpr int kPageSize = 16384;

std::int64_t wall_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr std::uint64_t align8(std::uint64_t v) noexcept { return (v + 7) & ~std::uint64_t{7}; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

// The schema's CREATE INDEX statements as written, made safe to run on every open.
std::string if_not_exists(std::string sql) {
  std::string low = sql;
  for (char& c : low) c = lower(c);
  // "CREATE [UNIQUE] INDEX name ..."; neither CREATE nor UNIQUE contains "index".
  const auto at = low.find("index");
  if (at == std::string::npos || low.compare(at + 5, 4, " if ") == 0) return sql;
  return sql.insert(at + 5, " IF NOT EXISTS");
}

// The differences for a one-line message: the first few, then how many more.
std::string join(const std::vector<std::string>& parts) {
  constexpr std::size_t kShown = 8;
  std::string r;
  for (std::size_t i = 0; i < parts.size() && i < kShown; ++i)
    r += (r.empty() ? "" : "; ") + parts[i];
  if (parts.size() > kShown) r += fmt::format("; and {} more", parts.size() - kShown);
  return r;
}

// What changed between a type's layout in the database (its stored DDL and layout) and the
// schema.
void describe_change(const RecordType& was, std::string_view was_layout, const RecordType& now,
                     std::vector<std::string>& out) {
  const auto where = fmt::format("type '{}' column", now.name);
  const std::size_t before = out.size();
  for (std::size_t i = 0; i < was.fields.size(); ++i) {
    const Field& w = was.fields[i];
    const Field* n = now.field(w.name);
    if (!n) {
      out.push_back(fmt::format("{} '{}' ({}) was removed", where, w.name, w.declared()));
    } else if (n->declared() != w.declared()) {
      out.push_back(
          fmt::format("{} '{}' was {}, is now {}", where, w.name, w.declared(), n->declared()));
    } else if (i >= now.fields.size() || now.fields[i].name != w.name) {
      out.push_back(fmt::format("{} '{}' moved from position {}", where, w.name, i + 1));
    }
  }
  for (const Field& n : now.fields) {
    if (!was.field(n.name))
      out.push_back(fmt::format("{} '{}' ({}) was added", where, n.name, n.declared()));
  }
  if (out.size() == before) {
    // Same declared columns, yet another layout (the recorded layout is not the DDL's).
    out.push_back(fmt::format(
        "type '{}': {}", now.name,
        layout_difference(was_layout, "the database", now.layout_signature(), "the schema")));
  }
}

}  // namespace

// The table's columns must be the system columns, then one per field with its SQL type.
void table_differences(sqlite3* db, const RecordType& type, std::vector<std::string>& diffs) {
  std::vector<std::pair<std::string, std::string_view>> want = {
      {"seq", "INTEGER"}, {"ts_ns", "INTEGER"}, {"producer", "INTEGER"}};
  for (const Field& f : type.fields) want.emplace_back(f.name, sql_type(f.type));
  const StmtPtr info = prepare(db, "SELECT name, type, pk FROM pragma_table_info(?1)");
  sqlite3_bind_text(info.get(), 1, type.name.data(), static_cast<int>(type.name.size()),
                    SQLITE_STATIC);
  const auto text = [&](int col) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(info.get(), col));
    return std::string(t ? t : "");
  };
  const auto where = fmt::format("table '{}'", type.name);
  std::size_t i = 0;
  int rc;
  for (; (rc = sqlite3_step(info.get())) == SQLITE_ROW; ++i) {
    const std::string name = text(0);
    const std::string sql = text(1);
    if (i >= want.size()) {
      diffs.push_back(fmt::format("{} has a column '{}' the schema does not", where, name));
    } else if (!iequals(name, want[i].first)) {
      diffs.push_back(fmt::format("{} column {} is '{}', the schema needs '{}'", where, i + 1, name,
                                  want[i].first));
    } else if (!iequals(sql, want[i].second)) {
      diffs.push_back(fmt::format("{} column '{}' is {}, the schema needs {}", where, name,
                                  sql.empty() ? "untyped" : sql, want[i].second));
    } else if ((i == 0) != (sqlite3_column_int(info.get(), 2) != 0)) {
      diffs.push_back(fmt::format("{} column '{}' {} its INTEGER PRIMARY KEY", where, name,
                                  i == 0 ? "is not" : "is part of"));
    }
  }
  if (rc != SQLITE_DONE) throw last_error(db, rc);
  for (; i < want.size(); ++i) {
    diffs.push_back(fmt::format("{} lacks column '{}' ({})", where, want[i].first, want[i].second));
  }
}

class StoreImpl {
 public:
  StoreImpl(const DatabaseConfig& config, const Schema& schema,
            std::vector<std::pair<std::string, std::string>> pragmas, std::string_view origin,
            SegmentHooks* hooks = nullptr)
      : path_(config.path.string()),
        origin_(origin),
        schema_(schema),
        pragmas_(std::move(pragmas)),
        hooks_(hooks),
        file_(path_ == ":memory:" ? nullptr
                                  : std::make_unique<DatabaseFile>(path_, config.mode, origin)),
        db_(connect(path_)),
        h_(db_.getHandle()) {
    index_ts_ = config.index_ts;
    sqlite3_extended_result_codes(h_, 1);
    sqlite3_busy_timeout(h_, kOpenBusyTimeoutMs);
    check_file("open");  // SQLite opened the file that is locked, not one put there since
    // Before any pragma writes to a foreign file. A new file gets ringlite's defaults where
    // the config sets none; an existing one keeps its page size (fixed once it has pages).
    if (guarded("open", [&] { return check_identity(); })) {
      guarded("open", [&] { apply_new_file_defaults(); });
    }
    apply_pragmas(h_, pragmas_, origin, path_);
    guarded("open", [&] {
      journal_mode_ = read_pragma(h_, "journal_mode").value_or("");
      exclusive_ = read_pragma(h_, "locking_mode").value_or("") == "exclusive";
      create_schema();
      prepare_statements();
      busy_timeout_ms_ = configured("busy_timeout") ? db_.execAndGet("PRAGMA busy_timeout").getInt()
                                                    : kBusyTimeoutMs;
      sqlite3_busy_timeout(h_, busy_timeout_ms_);
    });
    // The checkpointer's thread only in WAL mode, and not when the writer's locking_mode is
    // EXCLUSIVE (its second connection could never read the file): then the drain thread
    // checkpoints, as with a configured wal_autocheckpoint (docs/design.md, "Checkpoints").
    if (journal_mode_ == "wal" && !exclusive_ && !configured("wal_autocheckpoint")) {
      const WalLimits limits = hooks_ ? hooks_->wal_limits() : WalLimits{};
      guarded("open", [&] { checkpointer_ = std::make_unique<Checkpointer>(h_, path_, limits); });
    }
    // After the checkpointer opened the path by name: both connections have the file that
    // is locked. Also starts watching the -wal and -shm, which exist by now.
    check_file("open");
  }

  const std::string& path() const noexcept { return path_; }
  sqlite3* handle() const noexcept { return h_; }
  BatchResult write_batch(const Batch& batch, std::string_view ring_id, std::uint64_t drops);
  std::uint64_t next_position();
  std::optional<std::uint64_t> progress(std::string_view ring_id);
  int checkpoint() noexcept;
  int maintain() noexcept { return checkpointer_ ? checkpointer_->wal_frames() : checkpoint(); }
  std::vector<std::pair<std::string, std::string>> pragmas();
  void check_file(std::string_view verb);

 private:
  bool configured(std::string_view pragma) const {
    return std::any_of(pragmas_.begin(), pragmas_.end(),
                       [&](const auto& p) { return p.first == pragma; });
  }
  // ringlite's default for what the config leaves unset (docs/design.md, "The database
  // format", its Pragmas): on a new file, before anything is written to it, the page size.
  void apply_new_file_defaults() {
    if (!configured("page_size")) exec(h_, fmt::format("PRAGMA page_size = {}", kPageSize).c_str());
  }

  static SQLite::Database connect(const std::string& path) {
    try {
      // One thread uses a Store at a time: no per-call mutex in the hot path.
      return SQLite::Database(path,
                              SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
    } catch (const SQLite::Exception& e) {
      throw Error(Errc::sqlite, fmt::format("cannot open database '{}': {}", path, e.getErrorStr()),
                  0, e.getExtendedErrorCode());
    }
  }

  // Runs setup or read code, giving SQLite's failures the store's context.
  template <typename F>
  auto guarded(std::string_view verb, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const SQLite::Exception& e) {
      fail(verb, e.getExtendedErrorCode(), e.what());
    } catch (const SqlError& e) {
      fail(verb, e.code(), e.what());
    }
  }
  [[noreturn]] void fail(std::string_view verb, int code, const char* what) const {
    if ((code & 0xff) == SQLITE_NOTADB) {
      // A file that is not a database is where the config points, not a broken database.
      throw Error(Errc::config,
                  fmt::format("invalid config '{}': 'database.path' is not an SQLite database: "
                              "'{}' ({})",
                              origin_, path_, what),
                  0, code);
    }
    throw Error(is_busy(code) ? Errc::busy : Errc::sqlite,
                fmt::format("cannot {} database '{}': {}", verb, path_, what), 0, code);
  }

  bool check_identity();
  void create_schema();
  void prepare_statements();
  void classify(const Batch& batch);
  void attempt(const Batch& batch, std::uint32_t lo, std::uint32_t hi, std::string_view ring_id,
               std::uint64_t drops, BatchResult& r);
  std::uint64_t committed(std::string_view ring_id);
  void reject_alone(const Batch& batch, std::uint32_t frame, const SqlError& e);
  void run(sqlite3_stmt* st);
  void abandon() noexcept;
  bool back_off();

  std::string path_;
  std::string origin_;
  Schema schema_;
  std::vector<std::pair<std::string, std::string>> pragmas_;
  SegmentHooks* hooks_;  // a recording's segment: its catalog goes into our transactions
  // Declared before db_, so closed after it: see DatabaseFile. Null for ":memory:".
  std::unique_ptr<DatabaseFile> file_;
  SQLite::Database db_;
  sqlite3* h_;  // db_'s handle, for the raw calls
  std::string journal_mode_;
  bool index_ts_ = true;  // database.index_ts
  int busy_timeout_ms_ = kBusyTimeoutMs;

  // Per write_batch: frame indices by type id, in position order, the ids that have any, and
  // rejects (the batch's own first: frames that do not decode and rows found to fail a
  // whole transaction, in no order; then those SQLite refused in this attempt).
  std::vector<std::vector<std::uint32_t>> pending_;
  std::vector<std::uint16_t> touched_;
  std::vector<Reject> rejects_;
  std::size_t classified_rejects_ = 0;
  Clock::time_point deadline_;
  Clock::duration backoff_{};
  std::uint32_t busy_retries_ = 0;

  // Declared after db_: statements must be finalized before the connection closes.
  std::vector<std::unique_ptr<TableInserter>> inserters_;  // by type id
  StmtPtr begin_, commit_, reject_, gap_, drop_, progress_, committed_;
  // Declared after db_: its thread stops and its connection closes first, so that db_'s
  // close, the last, checkpoints and removes the -wal and -shm. Null outside WAL mode, with
  // locking_mode EXCLUSIVE and when the config sets wal_autocheckpoint.
  std::unique_ptr<Checkpointer> checkpointer_;
  bool exclusive_ = false;  // PRAGMA locking_mode is EXCLUSIVE
};

// Returns true for a new database: no application id and nothing in it yet.
bool StoreImpl::check_identity() {
  return check_database_identity(h_, fmt::format("cannot open database '{}'", path_), true);
}

void StoreImpl::create_schema() {
  SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
  const bool fresh = check_identity();  // again, now under the write lock
  db_.exec(kMetadataSql);               // a format-1 database gains the catalog here
  if (fresh) db_.exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
  // Format 1 becomes 2 in this transaction: the catalog above, the time indexes and views
  // below (docs/design.md, "Format version").
  db_.exec(fmt::format("PRAGMA user_version = {}", kUserVersion));

  // Every type the database knows must still be in the schema, unchanged, under its id:
  // the id is what frames carry, the layout is how their bytes were decoded.
  // A database file is untrusted input too: one that claims more types than any schema can
  // have is refused before its DDL is read (each parse costs time).
  if (const auto types = db_.execAndGet("SELECT count(*) FROM _ringlite_types").getInt64();
      types > static_cast<std::int64_t>(kMaxRecordTypes)) {
    throw Error(Errc::corrupt,
                fmt::format("cannot open database '{}': _ringlite_types lists {} record types "
                            "(a schema has at most {})",
                            path_, types, kMaxRecordTypes));
  }
  std::vector<std::string> diffs;
  std::vector<bool> known(schema_.types().size() + 1, false);
  SQLite::Statement rows(db_, "SELECT id, name, ddl, layout FROM _ringlite_types ORDER BY id");
  while (rows.executeStep()) {
    const auto id = rows.getColumn(0).getInt64();
    const std::string name = rows.getColumn(1).getString();
    const RecordType* now = schema_.find(name);
    if (!now) {
      diffs.push_back(fmt::format("type '{}' was removed from the schema", name));
      continue;
    }
    known[now->id] = true;
    if (now->id != id) {
      diffs.push_back(
          fmt::format("type '{}' has id {} in the database, {} in the schema (add new "
                      "types after the existing ones)",
                      name, id, now->id));
    }
    if (rows.getColumn(3).getString() != now->layout_signature()) {
      try {
        const Schema was = Schema::parse(rows.getColumn(2).getString(), path_);
        describe_change(was.types().at(0), rows.getColumn(3).getString(), *now, diffs);
      } catch (const Error& e) {
        diffs.push_back(fmt::format("type '{}' has a DDL that cannot be read: {}", name, e.what()));
      }
    }
  }
  if (!diffs.empty()) {
    throw Error(Errc::schema, fmt::format("cannot open database '{}': schema differs from the "
                                          "database: {}",
                                          path_, join(diffs)));
  }

  for (const RecordType& t : schema_.types()) {
    db_.exec(type_table_ddl(t));
    table_differences(h_, t, diffs);  // a table there before it became a type may differ
  }
  if (!diffs.empty()) {
    throw Error(Errc::schema, fmt::format("cannot open database '{}': schema differs from the "
                                          "database: {}",
                                          path_, join(diffs)));
  }
  SQLite::Statement add(db_,
                        "INSERT INTO _ringlite_types(id, name, ddl, layout) VALUES (?, ?, ?, ?)");
  for (const RecordType& t : schema_.types()) {
    for (const auto& index : schema_.indexes(t.id)) db_.exec(if_not_exists(index));
    if (index_ts_) db_.exec(ts_index_ddl(t));
    db_.exec(time_view_ddl(t, false));
    if (known[t.id]) continue;
    add.bind(1, static_cast<int>(t.id));
    add.bind(2, t.name);
    add.bind(3, t.ddl());
    add.bind(4, t.layout_signature());
    add.exec();
    add.reset();
  }
  if (fresh && hooks_) hooks_->created(h_);
  txn.commit();
}

void StoreImpl::prepare_statements() {
  inserters_.resize(schema_.types().size() + 1);
  pending_.resize(schema_.types().size() + 1);
  for (const RecordType& t : schema_.types())
    inserters_[t.id] = std::make_unique<TableInserter>(h_, t);
  begin_ = prepare(h_, "BEGIN IMMEDIATE");
  commit_ = prepare(h_, "COMMIT");
  reject_ = prepare(h_,
                    "INSERT OR IGNORE INTO _ringlite_rejects(seq, ts_ns, producer, type_id, "
                    "reason, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  gap_ = prepare(h_,
                 "INSERT OR IGNORE INTO _ringlite_gaps(kind, seq_from, seq_to, producer, pid, "
                 "count, reason, recorded_ns) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7)");
  // Drops are a count, not a range: a second report at the same position adds to it.
  drop_ = prepare(h_,
                  "INSERT INTO _ringlite_gaps(kind, seq_from, count, reason, recorded_ns) "
                  "VALUES ('drop', ?1, ?2, 'producers dropped records on a full ring', ?3) "
                  "ON CONFLICT(kind, seq_from) DO UPDATE SET count = count + excluded.count, "
                  "recorded_ns = excluded.recorded_ns");
  // max(): a batch written again (after a restart) must never move progress backwards.
  progress_ = prepare(h_,
                      "INSERT INTO _ringlite_progress(ring_id, position, drops, updated_ns) "
                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(ring_id) DO UPDATE SET "
                      "position = max(position, excluded.position), "
                      "drops = drops + excluded.drops, updated_ns = excluded.updated_ns");
  committed_ = prepare(h_, "SELECT position FROM _ringlite_progress WHERE ring_id = ?1");
}

// Sorts the batch's frames by type and rejects those that cannot be decoded. Done once per
// batch, whatever retries follow.
void StoreImpl::classify(const Batch& batch) {
  for (const auto id : touched_) pending_[id].clear();
  touched_.clear();
  rejects_.clear();
  const auto count = static_cast<std::uint32_t>(batch.frames.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    const Frame& f = batch.frames[i];
    const RecordType* type = schema_.find(f.type);
    if (!type) {
      rejects_.push_back({i, fmt::format("unknown type id {} (the schema has {} types)", f.type,
                                         schema_.types().size())});
      continue;
    }
    if (std::uint64_t{f.offset} + f.length > batch.arena.size()) {
      rejects_.push_back({i, fmt::format("payload [{}, +{}) lies outside the batch's {}-byte arena",
                                         f.offset, f.length, batch.arena.size())});
      continue;
    }
    if (auto why = check_record(*type, batch.payload(f)); !why.empty()) {
      rejects_.push_back({i, fmt::format("cannot decode type '{}': {}", type->name, why)});
      continue;
    }
    auto& rows = pending_[type->id];
    if (rows.empty()) touched_.push_back(type->id);
    rows.push_back(i);
  }
  classified_rejects_ = rejects_.size();
}

void StoreImpl::run(sqlite3_stmt* st) {
  if (sqlite3_step(st) == SQLITE_DONE) {
    sqlite3_reset(st);
    return;
  }
  const SqlError e = last_error(h_, SQLITE_ERROR);
  sqlite3_reset(st);
  throw e;
}

// Leaves no transaction open and no statement half-run, so the next batch starts clean.
void StoreImpl::abandon() noexcept {
  for (sqlite3_stmt* st = sqlite3_next_stmt(h_, nullptr); st; st = sqlite3_next_stmt(h_, st)) {
    sqlite3_reset(st);
  }
  if (!sqlite3_get_autocommit(h_)) sqlite3_exec(h_, "ROLLBACK", nullptr, nullptr, nullptr);
}

// Sleeps before the next try at a locked database; false once the budget is spent.
bool StoreImpl::back_off() {
  if (Clock::now() + backoff_ > deadline_) return false;
  std::this_thread::sleep_for(backoff_);
  backoff_ = std::min<Clock::duration>(backoff_ * 2, kMaxBackoff);
  ++busy_retries_;
  return true;
}

// Where the database stands on this ring, read inside the write transaction.
std::uint64_t StoreImpl::committed(std::string_view ring_id) {
  sqlite3_stmt* st = committed_.get();
  sqlite3_bind_text(st, 1, ring_id.data(), static_cast<int>(ring_id.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  const std::uint64_t position =
      rc == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(st, 0)) : 0;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    const SqlError e = last_error(h_, rc);
    sqlite3_reset(st);
    throw e;
  }
  sqlite3_reset(st);
  return position;
}

// Writes frames [lo, hi) of the batch, with their rejects and the gaps among them, and
// progress up to the next part's first frame (batch.end for the last part), in one
// transaction. Normally the part is the whole batch.
void StoreImpl::attempt(const Batch& batch, std::uint32_t lo, std::uint32_t hi,
                        std::string_view ring_id, std::uint64_t drops, BatchResult& r) {
  r = BatchResult{};
  rejects_.resize(classified_rejects_);
  const auto now = wall_ns();
  const bool last = hi == batch.frames.size();
  const std::uint64_t end = last ? batch.end : batch.frames[hi].seq;
  run(begin_.get());
  // What the database already has of this ring is not written again: a batch retried after
  // some of its parts committed (below), or after a COMMIT that reported failure yet took
  // effect, must not turn its own rows into duplicate-seq rejects.
  const std::uint64_t from =
      std::max(lo == 0 ? std::uint64_t{0} : batch.frames[lo].seq, committed(ring_id));
  const auto first = static_cast<std::uint32_t>(
      std::partition_point(batch.frames.begin() + lo, batch.frames.begin() + hi,
                           [&](const Frame& f) { return f.seq < from; }) -
      batch.frames.begin());
  for (const auto id : touched_) {
    const auto& rows = pending_[id];
    const auto b = std::lower_bound(rows.begin(), rows.end(), first);
    const auto e = std::lower_bound(b, rows.end(), hi);
    if (b != e) r.inserted += inserters_[id]->insert(batch, std::span(b, e), rejects_);
  }

  sqlite3_stmt* st = reject_.get();
  for (std::size_t i = 0; i < rejects_.size(); ++i) {
    const Reject& rej = rejects_[i];
    if (i < classified_rejects_ && (rej.frame < first || rej.frame >= hi)) continue;
    const Frame& f = batch.frames[rej.frame];
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(f.seq));
    sqlite3_bind_int64(st, 2, f.ts_ns);
    sqlite3_bind_int64(st, 3, f.producer);
    sqlite3_bind_int(st, 4, f.type);
    sqlite3_bind_text(st, 5, rej.reason.data(), static_cast<int>(rej.reason.size()), SQLITE_STATIC);
    if (std::uint64_t{f.offset} + f.length <= batch.arena.size()) {
      sqlite3_bind_blob(st, 6, batch.arena.data() + f.offset, static_cast<int>(f.length),
                        SQLITE_STATIC);
    } else {
      sqlite3_bind_null(st, 6);
    }
    run(st);
    r.rejected += static_cast<std::uint64_t>(sqlite3_changes(h_));
  }

  st = gap_.get();
  for (const Gap& g : batch.gaps) {
    if (g.pos < from || (!last && g.pos >= end)) continue;
    sqlite3_bind_text(st, 1, g.kind == Gap::Kind::abandoned ? "abandoned" : "corrupt", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(g.pos));
    sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(g.end));
    if (g.producer != ~0u)
      sqlite3_bind_int64(st, 4, g.producer);
    else
      sqlite3_bind_null(st, 4);
    if (g.pid != 0)
      sqlite3_bind_int64(st, 5, g.pid);
    else
      sqlite3_bind_null(st, 5);
    if (!g.reason.empty()) {
      sqlite3_bind_text(st, 6, g.reason.data(), static_cast<int>(g.reason.size()), SQLITE_STATIC);
    } else {
      sqlite3_bind_null(st, 6);
    }
    sqlite3_bind_int64(st, 7, now);
    run(st);
    r.gaps += static_cast<std::uint64_t>(sqlite3_changes(h_));
  }

  if (drops != 0) {
    st = drop_.get();
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(batch.end));
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(drops));
    sqlite3_bind_int64(st, 3, now);
    run(st);
    r.gaps += static_cast<std::uint64_t>(sqlite3_changes(h_));
  }

  st = progress_.get();
  sqlite3_bind_text(st, 1, ring_id.data(), static_cast<int>(ring_id.size()), SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(end));
  sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(drops));
  sqlite3_bind_int64(st, 4, now);
  run(st);
  if (hooks_) hooks_->committing(h_, batch, first, hi, rejects_, r.inserted);

  // In rollback-journal modes COMMIT can meet a reader's lock; the transaction stays open
  // and only the COMMIT needs repeating. A deferred constraint (a foreign key a user added)
  // fails here, not at its row: which row it was takes committing smaller parts.
  for (;;) {
    try {
      run(commit_.get());
      break;
    } catch (const SqlError& e) {
      if (is_busy(e.code()) && !sqlite3_get_autocommit(h_) && back_off()) continue;
      if ((e.code() & 0xff) == SQLITE_CONSTRAINT) {
        throw SqlError(e.code(), fmt::format("{} (at COMMIT)", e.what()), true);
      }
      throw;
    }
  }
  check_file("commit batch to");
}

// Frame `frame` alone failed its transaction: from now on it is a reject, with that reason.
void StoreImpl::reject_alone(const Batch& batch, std::uint32_t frame, const SqlError& e) {
  const Frame& f = batch.frames[frame];
  const RecordType* type = schema_.find(f.type);
  auto& rows = pending_[f.type];
  rows.erase(std::find(rows.begin(), rows.end(), frame));
  rejects_.resize(classified_rejects_);
  rejects_.push_back(
      {frame, fmt::format("cannot insert into table '{}': {}", type->name, e.what())});
  classified_rejects_ = rejects_.size();
}

BatchResult StoreImpl::write_batch(const Batch& batch, std::string_view ring_id,
                                   std::uint64_t drops) {
  classify(batch);
  deadline_ = Clock::now() + kBusyBudget;
  backoff_ = kFirstBackoff;
  busy_retries_ = 0;
  const auto n = static_cast<std::uint32_t>(batch.frames.size());
  BatchResult total;
  // Parts of the batch still to commit, the next one last: the whole batch, unless a row
  // fails its whole transaction. Then the part is halved until that row is alone, each half
  // committed on its own with progress at its end, so a crash in between loses nothing and
  // writes nothing twice; the row then becomes a reject.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> parts = {{0, n}};
  while (!parts.empty()) {
    const auto [lo, hi] = parts.back();
    BatchResult r;
    try {
      attempt(batch, lo, hi, ring_id, hi == n ? drops : 0, r);
    } catch (const SqlError& e) {
      abandon();
      if (is_busy(e.code()) && back_off()) continue;
      const auto pending = [&](std::uint32_t i) {
        const auto type = batch.frames[i].type;
        return type < pending_.size() &&
               std::binary_search(pending_[type].begin(), pending_[type].end(), i);
      };
      if (e.row_level() && hi - lo > 1) {
        const std::uint32_t mid = lo + (hi - lo) / 2;
        parts.back() = {mid, hi};
        parts.emplace_back(lo, mid);
        continue;
      }
      if (e.row_level() && hi - lo == 1 && pending(lo)) {
        reject_alone(batch, lo, e);
        continue;
      }
      if (is_busy(e.code())) {
        throw Error(Errc::busy,
                    fmt::format("cannot commit batch to database '{}': {} (still locked after {} "
                                "ms of retries)",
                                path_, e.what(), kBusyBudget / 1ms),
                    0, e.code());
      }
      throw Error(Errc::sqlite,
                  fmt::format("cannot commit batch to database '{}': {}", path_, e.what()), 0,
                  e.code());
    } catch (...) {
      abandon();  // e.g. bad_alloc: still never leave the transaction open
      throw;
    }
    parts.pop_back();
    total.inserted += r.inserted;
    total.rejected += r.rejected;
    total.gaps += r.gaps;
  }
  total.busy_retries = busy_retries_;
  if (checkpointer_) checkpointer_->after_commit();
  return total;
}

void StoreImpl::check_file(std::string_view verb) {
  if (!file_) return;
  const auto why = file_->check();
  if (why.empty()) return;
  // SQLite deletes the -wal and -shm by name when it closes: they may be another file's by
  // now. DatabaseFile removes them itself if they are still this file's.
  int persist = 1;
  sqlite3_file_control(h_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  throw Error(Errc::not_found, fmt::format("cannot {} database '{}': {}", verb, path_, why));
}

std::uint64_t StoreImpl::next_position() {
  return guarded("read", [&] {
    std::uint64_t next = 0;
    const auto consider = [&](const std::string& sql, bool is_seq) {
      const SQLite::Column v = db_.execAndGet(sql);
      if (v.isNull()) return;
      const auto pos = static_cast<std::uint64_t>(v.getInt64());
      // A frame at `seq` is at least 8 bytes long, and frames are 8-byte aligned.
      next = std::max(next, align8(is_seq ? pos + 1 : pos));
    };
    for (const RecordType& t : schema_.types())
      consider(fmt::format("SELECT max(seq) FROM \"{}\"", t.name), true);
    consider("SELECT max(seq) FROM _ringlite_rejects", true);
    consider("SELECT max(coalesce(seq_to, seq_from)) FROM _ringlite_gaps", false);
    consider("SELECT max(position) FROM _ringlite_progress", false);
    return next;
  });
}

std::optional<std::uint64_t> StoreImpl::progress(std::string_view ring_id) {
  return guarded("read", [&]() -> std::optional<std::uint64_t> {
    SQLite::Statement q(db_, "SELECT position FROM _ringlite_progress WHERE ring_id = ?");
    q.bind(1, std::string(ring_id));
    if (!q.executeStep()) return std::nullopt;
    return static_cast<std::uint64_t>(q.getColumn(0).getInt64());
  });
}

int StoreImpl::checkpoint() noexcept {
  if (journal_mode_ != "wal") return -1;
  int log = -1;
  int done = -1;
  const int rc = sqlite3_wal_checkpoint_v2(h_, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return -1;
  if (rc == SQLITE_OK && log > 0 && done == log) {
    // Everything is in the database file: restart the WAL from zero bytes, unless a reader
    // still reads from it. Never wait for that reader here: the drain must go on.
    sqlite3_busy_timeout(h_, 0);
    int truncated = -1;
    if (sqlite3_wal_checkpoint_v2(h_, "main", SQLITE_CHECKPOINT_TRUNCATE, &truncated, nullptr) ==
        SQLITE_OK) {
      log = truncated;
    }
    sqlite3_busy_timeout(h_, busy_timeout_ms_);
  }
  return log;
}

std::vector<std::pair<std::string, std::string>> StoreImpl::pragmas() {
  return guarded("read", [&] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* name : {"journal_mode", "synchronous"}) {
      out.emplace_back(name, read_pragma(h_, name).value_or(""));
    }
    for (const auto& [name, value] : pragmas_) {
      if (name != "journal_mode" && name != "synchronous") {
        out.emplace_back(name, read_pragma(h_, name).value_or(""));
      }
    }
    return out;
  });
}

bool check_database_identity(sqlite3* db, std::string_view context, bool allow_new) {
  const auto number = [&](const char* sql) {
    return std::stoll(query_text(db, sql).value_or("0"));
  };
  const auto app = number("PRAGMA application_id");
  const auto version = number("PRAGMA user_version");
  const auto objects =
      number("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
  if (allow_new && app == 0 && objects == 0) return true;
  const bool has_types =
      number(
          "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '_ringlite_types'") !=
      0;
  if (app != kApplicationId || (!allow_new && !has_types)) {
    throw Error(Errc::schema,
                fmt::format("{}: not a ringlite database (application_id 0x{:08x}{})", context,
                            static_cast<std::uint32_t>(app),
                            app == kApplicationId ? ", no _ringlite_types table" : ""));
  }
  if (version > kUserVersion) {
    throw Error(Errc::version,
                fmt::format("{}: database format version {} is newer than this build's version {}",
                            context, version, kUserVersion));
  }
  if (version < kOldestUserVersion) {
    throw Error(Errc::version,
                fmt::format("{}: database format version {} is older than the oldest this build "
                            "reads, {}",
                            context, version, kOldestUserVersion));
  }
  return false;
}

}  // namespace detail

Store Store::open(const DatabaseConfig& db, const Schema& schema, std::string_view origin) {
  if (db.path.empty()) {
    throw Error(Errc::config, fmt::format("invalid config '{}': 'database.path' is empty", origin));
  }
  if (db.segmented()) {
    Store s(nullptr);
    s.segments_ = std::make_unique<detail::SegmentStore>(db, schema, origin);
    return s;
  }
  return detail::StoreAccess::open_segment(db, schema, origin, nullptr);
}

namespace detail {
Store StoreAccess::open_segment(const DatabaseConfig& db, const Schema& schema,
                                std::string_view origin, SegmentHooks* hooks) {
  auto pragmas = merged_pragmas(db, origin);
  return Store(std::make_unique<StoreImpl>(db, schema, std::move(pragmas), origin, hooks));
}
sqlite3* StoreAccess::handle(Store& store) noexcept { return store.impl_->handle(); }
}  // namespace detail

Store::Store(std::unique_ptr<detail::StoreImpl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

// A recording's calls go to its SegmentStore (store_segments.cpp).
std::uint64_t Store::next_position() const {
  return segments_ ? segments_->next_position() : impl_->next_position();
}
std::optional<std::uint64_t> Store::progress(std::string_view ring_id) const {
  return segments_ ? segments_->progress(ring_id) : impl_->progress(ring_id);
}
BatchResult Store::write_batch(const Batch& batch, std::string_view ring_id, std::uint64_t drops) {
  return segments_ ? segments_->write_batch(batch, ring_id, drops)
                   : impl_->write_batch(batch, ring_id, drops);
}
int Store::checkpoint() noexcept {
  return segments_ ? segments_->checkpoint(true) : impl_->checkpoint();
}
int Store::maintain() noexcept {
  return segments_ ? segments_->checkpoint(false) : impl_->maintain();
}
void Store::check_file() {
  if (segments_) return segments_->check_file();
  impl_->check_file("write");
}
std::vector<std::pair<std::string, std::string>> Store::pragmas() const {
  return segments_ ? segments_->pragmas() : impl_->pragmas();
}
const std::string& Store::path() const noexcept {
  return segments_ ? segments_->path() : impl_->path();
}
std::string Store::describe() const {
  return segments_ ? segments_->describe() : fmt::format("database '{}'", impl_->path());
}
void Store::set_log(std::function<void(const std::string&)> log) {
  if (segments_) segments_->set_log(std::move(log));
}

}  // namespace ringlite

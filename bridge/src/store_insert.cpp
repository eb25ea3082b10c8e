// ringlite: the store's hot path (docs/design.md, "The bridge and exactly once"): decoding frames
// by their type's layout and binding them into cached multi-row INSERT statements. No allocation
// per row or field: fields are copied out of the payload with memcpy (frames are only 8-byte
// aligned as a whole) and strings and blobs are bound in place from the batch's arena.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>

#include "detail/store_detail.hpp"

namespace ringlite::detail {
namespace {

// Rows per statement: beyond a few hundred the VDBE program only grows, and each row's
// cost is already dominated by the b-tree insert.
constexpr std::size_t kMaxRowsPerStatement = 256;

}  // namespace

SqlError last_error(sqlite3* db, int rc) {
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  return SqlError(code != SQLITE_OK ? code : rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

StmtPtr prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr st(raw);
  if (rc != SQLITE_OK) throw last_error(db, rc);
  return st;
}

void exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw last_error(db, rc);
}

std::optional<std::string> query_text(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr st(raw);
  if (rc != SQLITE_OK) throw last_error(db, rc);
  if (!raw) return std::nullopt;  // only a comment
  rc = sqlite3_step(raw);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw last_error(db, rc);
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
  if (!text) return std::nullopt;
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(raw, 0)));
}

TableInserter::TableInserter(sqlite3* db, const RecordType& type)
    : db_(db), type_(&type), width_(static_cast<int>(3 + type.fields.size())) {
  columns_.reserve(type.fields.size());
  for (const auto& f : type.fields) columns_.push_back({f.type, f.offset, f.length});
  // The statement's parameters must stay under the connection's limit (32766 by default).
  const auto limit = static_cast<std::size_t>(sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, -1));
  const std::size_t rows =
      std::clamp<std::size_t>(limit / static_cast<std::size_t>(width_), 1, kMaxRowsPerStatement);
  top_ = static_cast<unsigned>(std::bit_width(rows) - 1);
  stmts_.resize(top_ + 1);
}

sqlite3_stmt* TableInserter::statement(unsigned log2_rows) {
  auto& slot = stmts_[log2_rows];
  if (slot) return slot.get();
  fmt::memory_buffer sql;
  fmt::format_to(std::back_inserter(sql), "INSERT INTO \"{}\"(seq,ts_ns,producer", type_->name);
  for (const auto& f : type_->fields) fmt::format_to(std::back_inserter(sql), ",\"{}\"", f.name);
  sql.append(std::string_view(") VALUES "));
  const std::size_t rows = std::size_t{1} << log2_rows;
  for (std::size_t r = 0; r < rows; ++r) {
    sql.append(std::string_view(r ? ",(?" : "(?"));
    for (int c = 1; c < width_; ++c) sql.append(std::string_view(",?"));
    sql.push_back(')');
  }
  slot = prepare(db_, std::string_view(sql.data(), sql.size()));
  return slot.get();
}

int TableInserter::bind_row(sqlite3_stmt* st, int first, const Frame& f,
                            const std::byte* payload) noexcept {
  // Results are OR-ed: only "all SQLITE_OK" matters, and a failed bind must never leave
  // the previous row's value in place unnoticed.
  int rc = sqlite3_bind_int64(st, first, static_cast<sqlite3_int64>(f.seq));
  rc |= sqlite3_bind_int64(st, first + 1, f.ts_ns);
  rc |= sqlite3_bind_int64(st, first + 2, f.producer);
  // The type table decodes each field (types.hpp); strings and blobs are bound in place.
  struct Bind {
    sqlite3_stmt* st;
    int i;
    int integer(std::int64_t v) const noexcept { return sqlite3_bind_int64(st, i, v); }
    int real(double v) const noexcept { return sqlite3_bind_double(st, i, v); }
    int text(std::string_view s) const noexcept {
      return sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    }
    int blob(std::span<const std::byte> b) const noexcept {
      return sqlite3_bind_blob(st, i, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
    }
  };
  int i = first + 3;
  for (const Column& c : columns_)
    rc |= decode_field(c.type, c.offset, c.length, payload, Bind{st, i++});
  return rc;
}

int TableInserter::step(sqlite3_stmt* st) noexcept {
  return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db_);
}

// A failed statement normally undoes only itself; a few failures (a trigger's
// RAISE(ROLLBACK), ...) take the whole transaction with them, and rows inserted after that
// would each commit on their own. Then the row is write_batch()'s to find.
void TableInserter::check_transaction(const SqlError& e) const {
  if (sqlite3_get_autocommit(db_)) throw SqlError(e.code(), e.what(), true);
}

// SQLITE_ERROR for one row ("integer overflow" in a user's abs() index) is that row's; for
// a table dropped or altered under the store, or a trigger or index that names something
// gone, it is every row's: the database's problem, not thousands of rejects.
bool TableInserter::database_wide(const SqlError& e, std::optional<bool>& table_ok) const {
  if ((e.code() & 0xff) != SQLITE_ERROR) return false;
  if (std::string_view(e.what()).substr(0, 8) == "no such ") return true;
  if (!table_ok) {
    std::vector<std::string> diffs;
    table_differences(db_, *type_, diffs);
    table_ok = diffs.empty();
  }
  return !*table_ok;
}

std::uint64_t TableInserter::insert(const Batch& batch, std::span<const std::uint32_t> rows,
                                    std::vector<Reject>& rejects) {
  std::uint64_t inserted = 0;
  const std::byte* arena = batch.arena.data();
  std::optional<bool> table_ok;  // checked once, at the first SQLITE_ERROR
  // One row on its own, so that SQLite's refusal names exactly one frame.
  const auto insert_one = [&](std::uint32_t index) {
    const Frame& f = batch.frames[index];
    sqlite3_stmt* st = statement(0);
    int rc = bind_row(st, 1, f, arena + f.offset);
    if (rc == SQLITE_OK) rc = step(st);
    if (rc == SQLITE_OK) {
      sqlite3_reset(st);
      ++inserted;
      return;
    }
    const SqlError e = last_error(db_, rc);
    sqlite3_reset(st);
    if (!is_row_fault(e.code())) throw e;
    check_transaction(e);
    if (database_wide(e, table_ok)) throw e;
    rejects.push_back(
        {index, fmt::format("cannot insert into table '{}': {}", type_->name, e.what())});
  };

  std::size_t next = 0;
  for (unsigned k = top_ + 1; k-- > 0;) {
    const std::size_t group = std::size_t{1} << k;
    while (rows.size() - next >= group) {
      if (group == 1) {
        insert_one(rows[next++]);
        continue;
      }
      sqlite3_stmt* st = statement(k);
      int bound = SQLITE_OK;
      for (std::size_t r = 0; r < group; ++r) {
        const Frame& f = batch.frames[rows[next + r]];
        bound |= bind_row(st, static_cast<int>(r) * width_ + 1, f, arena + f.offset);
      }
      const int rc = bound == SQLITE_OK ? step(st) : bound;
      if (rc != SQLITE_OK && bound == SQLITE_OK) {
        const SqlError e = last_error(db_, rc);
        sqlite3_reset(st);
        if (!is_row_fault(rc)) throw e;
        check_transaction(e);
      } else {
        sqlite3_reset(st);
      }
      if (rc == SQLITE_OK) {
        inserted += group;
      } else {
        // The failed statement's rows were backed out together: redo them one at a time so
        // that only the ones SQLite refuses become rejects.
        for (std::size_t r = 0; r < group; ++r) insert_one(rows[next + r]);
      }
      next += group;
    }
  }
  return inserted;
}

}  // namespace ringlite::detail

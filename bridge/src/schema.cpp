// ringlite: record schemas (docs/design.md, "The schema"). SQLite parses the text in a scratch
// in-memory database behind an authorizer, so schema text taken from a database can only
// ever create tables and indexes there. This file then reads SQLite's own view of the result
// (sqlite_master, table_xinfo), checks each column against the type table (types.hpp) and
// lays the record out with the one layout rule (RecordType::make).
#include "ringlite/schema.hpp"

#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "detail/time_view.hpp"
#include "ringlite/error.hpp"

namespace ringlite {
namespace {

constexpr std::size_t kMaxTypes = kMaxRecordTypes;
constexpr const char* kTypeHint =
    "expected INT8..INT64, UINT8..UINT64, FLOAT32, FLOAT64, BOOL, CHAR(N), BYTES(N), TEXT or BLOB";

// Names the bridge prepends to every table, and names the generated header uses.
constexpr std::array<std::string_view, 3> kSystemColumns = {"seq", "ts_ns", "producer"};
constexpr std::array<std::string_view, 3> kHeaderNames = {"ringlite_var", "kRingliteType",
                                                          "kRingliteLayout"};
// Table and column names become C++ identifiers in the generated header.
// clang-format off
constexpr std::array<std::string_view, 92> kCppKeywords = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
    "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
    "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
    "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
    "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
    "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
    "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static",
    "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local",
    "throw", "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using",
    "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq"};
// clang-format on

// ---- text helpers ----

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word_char(char c) {
  return is_digit(c) || (upper(c) >= 'A' && upper(c) <= 'Z') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return upper(x) == upper(y); });
}
bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}
std::string to_upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = upper(c);
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_plain_identifier(std::string_view s) {
  if (s.empty() || is_digit(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (upper(c) >= 'A' && upper(c) <= 'Z') || c == '_';
  });
}

// ---- a minimal SQL tokenizer: just enough to split a CREATE TABLE into column definitions
// and to collapse whitespace without touching string literals. SQLite has already accepted
// the text, so it never needs to report syntax errors. ----

struct Token {
  std::string_view text;
  bool quoted = false;  // '...', "...", [...] or `...`
};

std::vector<Token> tokenize(std::string_view sql) {
  std::vector<Token> out;
  std::size_t i = 0;
  const std::size_t n = sql.size();
  while (i < n) {
    const char c = sql[i];
    std::size_t j = i + 1;
    if (is_space(c)) {
      i = j;
      continue;
    }
    if (c == '-' && j < n && sql[j] == '-') {
      while (j < n && sql[j] != '\n') ++j;
      i = j;
      continue;
    }
    if (c == '/' && j < n && sql[j] == '*') {
      const auto end = sql.find("*/", j + 1);
      i = end == std::string_view::npos ? n : end + 2;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : c;
      while (j < n) {
        if (sql[j] == close && c != '[' && j + 1 < n && sql[j + 1] == close) {
          j += 2;  // a doubled quote stands for one
        } else if (sql[j++] == close) {
          break;
        }
      }
      out.push_back({sql.substr(i, j - i), true});
    } else if (is_word_char(c)) {
      while (j < n && is_word_char(sql[j])) ++j;
      out.push_back({sql.substr(i, j - i), false});
    } else {
      out.push_back({sql.substr(i, 1), false});
    }
    i = j;
  }
  return out;
}

std::string dequote(const Token& t) {
  if (!t.quoted || t.text.size() < 2) return std::string(t.text);
  const char q = t.text.front();
  const auto inner = t.text.substr(1, t.text.size() - 2);
  if (q == '[') return std::string(inner);
  std::string r;
  for (std::size_t i = 0; i < inner.size(); ++i) {
    r += inner[i];
    if (inner[i] == q && i + 1 < inner.size() && inner[i + 1] == q) ++i;
  }
  return r;
}

// The tokens of `sql` from index `first` to `last` (exclusive), one space wherever the
// original had whitespace or a comment between them, literals kept byte for byte.
std::string join_tokens(const std::vector<Token>& tokens, std::size_t first, std::size_t last) {
  std::string r;
  for (std::size_t k = first; k < last; ++k) {
    if (k > first &&
        tokens[k - 1].text.data() + tokens[k - 1].text.size() != tokens[k].text.data()) {
      r += ' ';
    }
    r += tokens[k].text;
  }
  return r;
}

std::string collapse(std::string_view sql) {
  const auto tokens = tokenize(sql);
  return join_tokens(tokens, 0, tokens.size());
}

// One comma-separated item between the parentheses of a CREATE TABLE.
struct Part {
  std::size_t first = 0;
  std::size_t last = 0;
};

// ---- SQLite handles ----

struct DbClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using DbPtr = std::unique_ptr<sqlite3, DbClose>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

std::string column_text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, col))) : std::string();
}

// What the authorizer refused first, for the error message ("not authorized" alone does
// not tell the user which statement to remove).
struct AuthState {
  std::string denied;
};

bool is_schema_table(const char* name) {
  return name &&
         (std::strcmp(name, "sqlite_master") == 0 || std::strcmp(name, "sqlite_schema") == 0);
}

// Allows exactly what CREATE TABLE / CREATE INDEX do in the main database: SQLite's own
// bookkeeping in sqlite_master, and reading the (empty) table an index is built on.
int authorize(void* user, int action, const char* a1, const char* /*a2*/, const char* db,
              const char*) {
  const bool main_db = db && std::strcmp(db, "main") == 0;
  switch (action) {
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_INDEX:
    case SQLITE_REINDEX:
    case SQLITE_READ:
      if (main_db) return SQLITE_OK;
      break;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
      if (main_db && is_schema_table(a1)) return SQLITE_OK;
      break;
    case SQLITE_FUNCTION:  // expression indexes; nothing runs, the table is empty
      return SQLITE_OK;
    default:
      break;
  }
  auto* state = static_cast<AuthState*>(user);
  if (state->denied.empty()) {
    // clang-format off
    static constexpr std::array<std::pair<int, const char*>, 14> kNames = {{
        {SQLITE_ATTACH, "ATTACH"}, {SQLITE_DETACH, "DETACH"}, {SQLITE_PRAGMA, "PRAGMA"},
        {SQLITE_INSERT, "INSERT"}, {SQLITE_UPDATE, "UPDATE"}, {SQLITE_DELETE, "DELETE"},
        {SQLITE_SELECT, "SELECT"}, {SQLITE_CREATE_VIEW, "CREATE VIEW"},
        {SQLITE_CREATE_TRIGGER, "CREATE TRIGGER"}, {SQLITE_CREATE_VTABLE, "CREATE VIRTUAL TABLE"},
        {SQLITE_CREATE_TEMP_TABLE, "CREATE TEMP TABLE"}, {SQLITE_DROP_TABLE, "DROP TABLE"},
        {SQLITE_TRANSACTION, "a transaction"}, {SQLITE_ALTER_TABLE, "ALTER TABLE"},
    }};
    // clang-format on
    state->denied = fmt::format("action {}", action);
    for (const auto& [code, name] : kNames) {
      if (code == action) state->denied = name;
    }
    if (a1 && (action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE ||
               action == SQLITE_PRAGMA || action == SQLITE_ATTACH)) {
      state->denied += fmt::format(" '{}'", a1);
    }
  }
  return SQLITE_DENY;
}

// ---- validation ----

class Validator {
 public:
  explicit Validator(std::string_view origin) : origin_(origin) {}

  [[noreturn]] void fail(const std::string& where, const std::string& cause) const {
    throw Error(Errc::schema, fmt::format("invalid schema '{}': {}{}", origin_, where, cause));
  }

  // A name must be a C++ identifier in the generated header and usable unquoted in SQL.
  void check_name(sqlite3* db, const std::string& where, const std::string& name,
                  bool table) const {
    if (!is_plain_identifier(name))
      fail(where, "name is not a plain identifier [A-Za-z_][A-Za-z0-9_]*");
    for (auto kw : kCppKeywords) {
      if (name == kw) fail(where, "name is a C++ keyword");
    }
    for (auto reserved : kHeaderNames) {
      if (name == reserved) fail(where, "name is reserved for the generated header");
    }
    // SQLite accepts many keywords as names only in some places; the canonical DDL and the
    // bridge's statements use names unquoted, so ask SQLite whether that parses.
    const auto probe = table ? fmt::format("CREATE TEMP TABLE {} (x INT8)", name)
                             : fmt::format("CREATE TEMP TABLE x ({} INT8)", name);
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db, probe.c_str(), -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) fail(where, "name cannot be used unquoted in SQL (an SQL keyword?)");
  }

  // CHAR( 64 ) -> chars, 64. Returns why `declared` is not a supported type, or "".
  static std::string parse_type(std::string_view declared, Field& f) {
    const std::string_view s = trim(declared);
    std::size_t name_end = 0;
    while (name_end < s.size() && is_word_char(s[name_end])) ++name_end;
    const auto name = s.substr(0, name_end);
    const auto rest = trim(s.substr(name_end));
    const auto unsupported = fmt::format("unsupported type '{}' ({})", declared, kTypeHint);
    const TypeInfo* t = find_type(name);
    if (t == nullptr) return unsupported;
    f.type = t->type;
    if (!is_sized(t->type)) return rest.empty() ? std::string() : unsupported;
    if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return unsupported;
    const auto digits = trim(rest.substr(1, rest.size() - 2));
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) return unsupported;
    std::uint64_t n = 0;
    for (char c : digits)
      n = std::min(n * 10 + static_cast<std::uint64_t>(c - '0'),
                   std::uint64_t{kMaxSizedLength} + 1);
    if (n < 1 || n > kMaxSizedLength) {
      return fmt::format("type '{}': length {} is out of range 1..{}", declared, digits,
                         kMaxSizedLength);
    }
    f.length = static_cast<std::uint32_t>(n);
    return {};
  }

  // Constraints and table options live only in the CREATE TABLE text (table_xinfo does not
  // show CHECK, COLLATE, REFERENCES, UNIQUE or WITHOUT ROWID), so split it into column
  // definitions and require each to be exactly "name TYPE". Returns name -> tokens after it.
  std::vector<std::pair<std::string, std::string>> column_extras(const std::string& table,
                                                                 const std::string& sql) const {
    const auto where = fmt::format("table '{}': ", table);
    const auto tokens = tokenize(sql);
    std::size_t open = 0;
    while (open < tokens.size() && tokens[open].text != "(") ++open;
    std::vector<Part> parts;
    std::size_t depth = 0;
    std::size_t close = tokens.size();
    Part part{open + 1, open + 1};
    for (std::size_t k = open; k < tokens.size(); ++k) {
      const auto t = tokens[k].text;
      if (tokens[k].quoted) continue;
      if (t == "(") {
        ++depth;
      } else if (t == ")" && --depth == 0) {
        part.last = k;
        parts.push_back(part);
        close = k;
        break;
      } else if (t == "," && depth == 1) {
        part.last = k;
        parts.push_back(part);
        part = Part{k + 1, k + 1};
      }
    }
    if (close == tokens.size()) fail(where, "cannot find the column list");
    if (close + 1 < tokens.size()) {
      fail(where, fmt::format("unsupported table option '{}'",
                              join_tokens(tokens, close + 1, tokens.size())));
    }
    std::vector<std::pair<std::string, std::string>> extras;
    for (const auto& p : parts) {
      if (p.first >= p.last) fail(where, "empty column definition");
      const auto& head = tokens[p.first];
      const auto word = to_upper(head.text);
      if (!head.quoted && (word == "CONSTRAINT" || word == "PRIMARY" || word == "UNIQUE" ||
                           word == "CHECK" || word == "FOREIGN")) {
        fail(where, fmt::format("unsupported table constraint '{}'",
                                join_tokens(tokens, p.first, p.last)));
      }
      // name, type word, then "(" N ")" for CHAR/BYTES; whatever follows is a constraint.
      std::size_t k = p.first + 2;
      if (k < p.last && tokens[k].text == "(" && !tokens[k].quoted) k += 3;
      extras.emplace_back(dequote(head),
                          k < p.last ? join_tokens(tokens, k, p.last) : std::string());
    }
    return extras;
  }

  RecordType table(sqlite3* db, std::uint16_t id, const std::string& name,
                   const std::string& sql) const {
    const auto where = fmt::format("table '{}': ", name);
    if (istarts_with(name, "_ringlite") || istarts_with(name, "sqlite_")) {
      fail(where, "names starting with '_ringlite' or 'sqlite_' are reserved");
    }
    check_name(db, where, name, true);
    const auto extras = column_extras(name, sql);

    std::vector<Field> fields;
    sqlite3_stmt* raw = nullptr;
    sqlite3_prepare_v2(
        db, "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)",
        -1, &raw, nullptr);
    StmtPtr stmt(raw);
    sqlite3_bind_text(raw, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(raw) == SQLITE_ROW) {
      Field f;
      f.name = column_text(raw, 0);
      const auto col = fmt::format("table '{}' column '{}': ", name, f.name);
      for (auto sys : kSystemColumns) {
        if (iequals(f.name, sys))
          fail(col, fmt::format("'{}' is a system column the bridge adds", sys));
      }
      check_name(db, col, f.name, false);
      const auto declared = column_text(raw, 1);
      if (const auto why = parse_type(declared, f); !why.empty()) fail(col, why);
      if (sqlite3_column_int(raw, 4) != 0) fail(col, "unsupported constraint 'PRIMARY KEY'");
      if (sqlite3_column_int(raw, 2) != 0) fail(col, "unsupported constraint 'NOT NULL'");
      if (sqlite3_column_type(raw, 3) != SQLITE_NULL) fail(col, "unsupported constraint 'DEFAULT'");
      if (sqlite3_column_int(raw, 5) != 0) fail(col, "unsupported constraint 'GENERATED'");
      const auto it = std::find_if(extras.begin(), extras.end(),
                                   [&](const auto& e) { return iequals(e.first, f.name); });
      if (it == extras.end()) fail(col, "cannot find its definition in the CREATE TABLE text");
      if (!it->second.empty()) fail(col, fmt::format("unsupported constraint '{}'", it->second));
      fields.push_back(std::move(f));
    }
    try {
      return RecordType::make(id, name, std::move(fields));  // the one layout rule
    } catch (const Error& e) {
      fail("", e.what());  // "table 't' column 'c': record size ..."
    }
  }

 private:
  std::string origin_;
};

// Runs every statement of `sql` under the authorizer; the first error becomes the message.
void run_schema_text(sqlite3* db, std::string_view sql, std::string_view origin) {
  AuthState auth;
  sqlite3_set_authorizer(db, &authorize, &auth);
  // Handing SQLite a length that includes the terminating NUL spares it a copy of the
  // remaining text per statement (quadratic in the number of statements otherwise).
  const std::string text(sql);
  const char* const begin = text.c_str();
  const char* p = begin;
  const char* const end = begin + text.size();
  std::string error;
  while (p < end && error.empty()) {
    sqlite3_stmt* raw = nullptr;
    const char* next = nullptr;
    int rc = sqlite3_prepare_v2(db, p, static_cast<int>(end - p + 1), &raw, &next);
    StmtPtr stmt(raw);
    if (rc == SQLITE_OK && raw) rc = sqlite3_step(raw);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
      const char* start = p;
      while (start < end && is_space(*start)) ++start;
      const auto line = 1 + std::count(begin, start, '\n');
      error = sqlite3_errmsg(db);
      if (rc == SQLITE_AUTH) {
        error = fmt::format(
            "not authorized: only CREATE TABLE and CREATE INDEX are allowed, not {}", auth.denied);
      }
      error += fmt::format(" (statement at line {})", line);
    }
    if (!next || next <= p) break;
    p = next;
  }
  sqlite3_set_authorizer(db, nullptr, nullptr);
  if (!error.empty())
    throw Error(Errc::schema, fmt::format("cannot parse schema '{}': {}", origin, error));
}

// The schema text split in two, each the length of `sql` with the other's bytes blanked
// (newlines kept, so errors still name the right line): the CREATE [UNIQUE] INDEX statements,
// and everything else. Indexes run after the tables, on the tables as the store makes them
// (system columns first), so that they may name seq, ts_ns and producer.
struct SplitText {
  std::string tables, indexes;
};
SplitText split_indexes(std::string_view sql, const std::vector<Token>& tokens) {
  SplitText out{std::string(sql), std::string(sql)};
  const auto blank = [](std::string& s, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      if (s[i] != '\n') s[i] = ' ';
  };
  const auto word = [&](std::size_t k, std::string_view w) {
    return k < tokens.size() && !tokens[k].quoted && iequals(tokens[k].text, w);
  };
  const auto semicolon = [&](std::size_t k) { return !tokens[k].quoted && tokens[k].text == ";"; };
  std::size_t kept = 0;  // out.indexes is blanked up to here
  bool start = true;     // tokens[k] begins a statement
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    const bool index = start && word(k, "CREATE") &&
                       (word(k + 1, "INDEX") || (word(k + 1, "UNIQUE") && word(k + 2, "INDEX")));
    start = semicolon(k);
    if (!index) continue;
    std::size_t end = k;
    while (end < tokens.size() && !semicolon(end)) ++end;
    const auto from = static_cast<std::size_t>(tokens[k].text.data() - sql.data());
    const auto to = end < tokens.size()
                        ? static_cast<std::size_t>(tokens[end].text.data() - sql.data()) + 1
                        : sql.size();
    blank(out.tables, from, to);
    blank(out.indexes, kept, from);
    kept = to;
    k = end;
    start = true;
  }
  blank(out.indexes, kept, sql.size());
  return out;
}

// An in-memory database to run schema text in, locked down behind the authorizer: no
// attached files, no triggers or views, no writes to sqlite_master even if something turned
// writable_schema on.
DbPtr scratch_database(std::string_view origin) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    throw Error(Errc::sqlite,
                fmt::format("cannot parse schema '{}': cannot open a scratch database: {}", origin,
                            raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)),
                0, rc);
  }
  sqlite3_limit(raw, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_VIEW, 0, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  return db;
}

struct MasterRow {
  std::string type, name, table, sql;
};
std::vector<MasterRow> master_rows(sqlite3* db) {
  std::vector<MasterRow> rows;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid", -1,
                     &st, nullptr);
  StmtPtr stmt(st);
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (sqlite3_column_type(st, 3) == SQLITE_NULL) continue;  // automatic indexes
    rows.push_back(
        {column_text(st, 0), column_text(st, 1), column_text(st, 2), column_text(st, 3)});
  }
  return rows;
}

}  // namespace

Schema Schema::parse(std::string_view sql, std::string_view origin) {
  // sqlite3_prepare stops at a NUL, which would silently drop the rest of the text.
  if (const auto nul = sql.find('\0'); nul != std::string_view::npos) {
    throw Error(Errc::schema,
                fmt::format("cannot parse schema '{}': NUL byte at offset {}", origin, nul));
  }
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 2)) {
    throw Error(Errc::schema,
                fmt::format("cannot parse schema '{}': text is {} bytes", origin, sql.size()));
  }
  // SQLite rescans sqlite_master after each CREATE TABLE, so its cost grows with the square
  // of the table count (70 s for 35,000 tables): refuse too many before running anything.
  const auto tokens = tokenize(sql);
  std::size_t creates = 0;
  for (std::size_t k = 0; k + 1 < tokens.size(); ++k) {
    if (!tokens[k].quoted && iequals(tokens[k].text, "CREATE") &&
        iequals(tokens[k + 1].text, "TABLE"))
      ++creates;
  }
  if (creates > kMaxTypes) {
    throw Error(Errc::schema, fmt::format("invalid schema '{}': {} tables (at most {})", origin,
                                          creates, kMaxTypes));
  }
  const auto text = split_indexes(sql, tokens);
  const DbPtr db = scratch_database(origin);
  sqlite3* const raw = db.get();
  run_schema_text(raw, text.tables, origin);
  const auto rows = master_rows(raw);

  const Validator check(origin);
  const auto tables = std::count_if(rows.begin(), rows.end(), [](const MasterRow& r) {
    return r.type == "table" && !istarts_with(r.name, "sqlite_");
  });
  if (tables == 0) check.fail("", "no CREATE TABLE statement");
  if (static_cast<std::size_t>(tables) > kMaxTypes) {
    check.fail("", fmt::format("{} tables (at most {})", tables, kMaxTypes));
  }
  std::vector<RecordType> types;
  for (const auto& r : rows) {
    if (r.type == "table" && !istarts_with(r.name, "sqlite_")) {
      types.push_back(
          check.table(raw, static_cast<std::uint16_t>(types.size() + 1), r.name, r.sql));
    }
  }
  // Every type gets a view "<type>_t" in the database (docs/design.md, "The time index and
  // time views"): no other type, and no index, may take that name.
  const auto view_of = [&](const std::string& name) {
    return std::find_if(types.begin(), types.end(), [&](const RecordType& t) {
      return iequals(detail::time_view_name(t.name), name);
    });
  };
  for (const auto& t : types) {
    if (const auto v = view_of(t.name); v != types.end()) {
      check.fail(fmt::format("table '{}': ", t.name),
                 fmt::format("the name is taken by the time view of type '{}'", v->name));
    }
  }

  // The indexes, on the tables as the store creates them.
  const DbPtr stored = scratch_database(origin);
  for (const auto& t : types) {
    if (sqlite3_exec(stored.get(), detail::type_table_ddl(t).c_str(), nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      throw Error(Errc::sqlite, fmt::format("cannot parse schema '{}': table '{}': {}", origin,
                                            t.name, sqlite3_errmsg(stored.get())));
    }
  }
  run_schema_text(stored.get(), text.indexes, origin);
  std::vector<std::vector<std::string>> indexes(types.size());
  for (const auto& r : master_rows(stored.get())) {
    if (r.type != "index") continue;
    const auto where = fmt::format("index '{}': ", r.name);
    if (istarts_with(r.name, "_ringlite")) {
      check.fail(where, "names starting with '_ringlite' are reserved");
    }
    if (const auto v = view_of(r.name); v != types.end()) {
      check.fail(where, fmt::format("the name is taken by the time view of type '{}'", v->name));
    }
    auto it = std::find_if(types.begin(), types.end(),
                           [&](const RecordType& t) { return iequals(t.name, r.table); });
    if (it == types.end()) check.fail(where, "not on a schema table");
    indexes[it->id - 1].push_back(collapse(r.sql));
  }
  return Schema(Layouts(std::move(types)), std::move(indexes));
}

Schema Schema::load_file(const std::filesystem::path& path) {
  const auto fail = [&](int err) {
    // A schema file the user named that cannot be read is bad input (exit 2), like a bad one.
    throw Error(err == ENOENT || err == EACCES || err == EISDIR ? Errc::schema : Errc::system,
                fmt::format("cannot read schema '{}': {}", path.string(), std::strerror(err)), err);
  };
  errno = 0;
  std::unique_ptr<std::FILE, FileClose> f(std::fopen(path.c_str(), "rb"));
  if (!f) fail(errno ? errno : ENOENT);
  std::string text;
  char buf[16384];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
  if (std::ferror(f.get())) fail(errno ? errno : EIO);
  return parse(text, path.string());
}

std::string Schema::normalized() const {
  std::string r;
  for (const auto& t : types()) {
    r += t.ddl() + ";\n";
    for (const auto& idx : indexes(t.id)) r += idx + ";\n";
  }
  return r;
}

const std::vector<std::string>& Schema::indexes(std::uint16_t id) const {
  static const std::vector<std::string> kNone;
  return id >= 1 && id <= indexes_.size() ? indexes_[id - 1] : kNone;
}

std::string schema_difference(const Schema& a, std::string_view a_name, const Schema& b,
                              std::string_view b_name) {
  std::string out = layouts_difference(a, a_name, b, b_name);
  const auto listed = [](const std::vector<std::string>& indexes) {
    std::string r;
    for (const auto& i : indexes) r += (r.empty() ? "" : "; ") + i;
    return r.empty() ? std::string("none") : "'" + r + "'";
  };
  for (const RecordType& t : a.types()) {
    const RecordType* u = b.find(std::string_view(t.name));
    if (u && u->id == t.id && *u == t && a.indexes(t.id) != b.indexes(u->id)) {
      out += fmt::format("{}type '{}' has indexes {} in {} but {} in {}", out.empty() ? "" : "; ",
                         t.name, listed(a.indexes(t.id)), a_name, listed(b.indexes(u->id)), b_name);
    }
  }
  return out;
}

}  // namespace ringlite

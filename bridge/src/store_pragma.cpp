// ringlite: the database pragmas (docs/design.md, "Config"). SQLite ignores an unknown pragma and
// many invalid values without an error (the seeds' `sqlite3_exec(db, "synchronous = OFF")`
// did nothing at all), so every pragma is applied, read back and compared.
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include "detail/store_detail.hpp"
#include "ringlite/error.hpp"
#include "ringlite/store.hpp"

namespace ringlite {
namespace detail {
namespace {

// Pragmas a config may not set, and why.
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kDenied = {{
    {"writable_schema", "it lets SQL corrupt the database schema"},
    {"schema_version", "changing it corrupts the database"},
    {"user_version", "ringlite manages it (it is the database format version)"},
    {"application_id", "ringlite manages it (it marks the database as ringlite's)"},
    {"query_only", "the bridge must write"},
    {"integrity_check", "it is a command, not a setting"},
    {"quick_check", "it is a command, not a setting"},
    {"wal_checkpoint", "it is a command, not a setting (the bridge checkpoints)"},
    {"optimize", "it is a command, not a setting"},
    {"incremental_vacuum", "it is a command, not a setting"},
    {"shrink_memory", "it is a command, not a setting"},
}};

// Settings that only take effect before the file has content come first; journal_mode
// next, so that the tables are created under it.
int order_of(std::string_view name) {
  if (name == "page_size" || name == "auto_vacuum" || name == "encoding") return 0;
  return name == "journal_mode" ? 1 : 2;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

bool is_identifier(std::string_view s) {
  return !s.empty() && !(s[0] >= '0' && s[0] <= '9') &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
             std::string_view::npos;
}

// The same rule config.cpp applies: a value can never end the PRAGMA statement.
bool is_value(std::string_view s) {
  return !s.empty() && s.find_first_not_of(
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-") ==
                           std::string_view::npos;
}

std::optional<double> as_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// SQLite reads some settings back as numbers that the config may spell as words.
constexpr std::array<std::string_view, 4> kSynchronous = {"off", "normal", "full", "extra"};
constexpr std::array<std::string_view, 3> kTempStore = {"default", "file", "memory"};
constexpr std::array<std::string_view, 3> kAutoVacuum = {"none", "full", "incremental"};
constexpr std::array<std::string_view, 3> kSecureDelete = {"off", "on", "fast"};

// A value's canonical spelling for comparison: enum words and booleans become their
// numbers, numbers are compared numerically, the rest case-insensitively.
std::string canonical(std::string_view name, std::string_view value) {
  std::string v = lower(value);
  const auto index_in = [&](auto& words) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (words[i] == v) return i;
    }
    return std::nullopt;
  };
  std::optional<std::size_t> word;
  if (name == "synchronous") word = index_in(kSynchronous);
  if (name == "temp_store") word = index_in(kTempStore);
  if (name == "auto_vacuum") word = index_in(kAutoVacuum);
  if (name == "secure_delete") word = index_in(kSecureDelete);
  if (word) return fmt::format("{}", *word);
  if (v == "on" || v == "true" || v == "yes") return "1";
  if (v == "off" || v == "false" || v == "no") return "0";
  if (const auto n = as_number(v)) return fmt::format("{}", *n);
  return v;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> merged_pragmas(const DatabaseConfig& db,
                                                                std::string_view origin) {
  const auto fail = [&](const std::string& cause) {
    throw Error(Errc::config, fmt::format("invalid config '{}': {}", origin, cause));
  };
  std::vector<std::pair<std::string, std::string>> out;
  const auto set = [&](const std::string& name, const std::string& value) {
    if (!is_identifier(name)) fail(fmt::format("invalid pragma name '{}'", name));
    if (!is_value(value)) fail(fmt::format("pragma '{}' has an invalid value '{}'", name, value));
    const std::string key = lower(name);
    for (const auto& [denied, why] : kDenied) {
      if (key == denied) fail(fmt::format("pragma '{}' cannot be set: {}", name, why));
    }
    const auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == key; });
    if (it != out.end())
      it->second = value;
    else
      out.emplace_back(key, value);
  };
  if (db.preset != "fast" && db.preset != "safe" && db.preset != "durable") {
    fail(fmt::format("'database.preset' must be one of fast, safe, durable, not '{}'", db.preset));
  }
  for (const auto& [name, value] : preset_pragmas(db.preset)) set(name, value);
  for (const auto& [name, value] : db.pragmas) set(name, value);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return order_of(a.first) < order_of(b.first);
  });
  return out;
}

std::optional<std::string> read_pragma(sqlite3* db, std::string_view name) {
  auto value = query_text(db, fmt::format("PRAGMA {}", name));
  if (value && name == "synchronous") {
    if (const auto n = as_number(*value); n && *n >= 0 && *n < 4) {
      std::string word(kSynchronous[static_cast<std::size_t>(*n)]);
      for (char& c : word) c = static_cast<char>(c - 'a' + 'A');
      return word;
    }
  }
  return value;
}

void apply_pragmas(sqlite3* db, const std::vector<std::pair<std::string, std::string>>& pragmas,
                   std::string_view origin, std::string_view path) {
  const auto fail = [&](const std::string& cause) {
    throw Error(Errc::config, fmt::format("invalid config '{}': {}", origin, cause));
  };
  // SQLite ignores an unknown pragma; its own list tells a typo from a write-only pragma
  // (when built without that list, every pragma that reads back nothing counts as unknown).
  const auto known = [&](const std::string& name) {
    try {
      return query_text(db, fmt::format("SELECT 1 FROM pragma_pragma_list WHERE name = '{}'", name))
          .has_value();
    } catch (const SqlError&) {
      return false;
    }
  };
  for (const auto& [name, value] : pragmas) {
    try {
      // Numbers go in as numbers; words as string literals, which every pragma that takes
      // a word accepts and which no SQL keyword can break.
      const bool number = as_number(value).has_value();
      const auto sql = number ? fmt::format("PRAGMA {} = {}", name, value)
                              : fmt::format("PRAGMA {} = '{}'", name, value);
      exec(db, sql.c_str());
      const auto got = read_pragma(db, name);
      if (!got) {
        if (!known(name)) fail(fmt::format("pragma '{}' is not a pragma SQLite knows", name));
        fail(fmt::format("pragma '{}' cannot be read back, so its value cannot be verified", name));
      }
      if (canonical(name, value) != canonical(name, *got)) {
        // These are fixed once the file has content; say so, or the message looks like a bug.
        const bool fixed = order_of(name) == 0;
        fail(fmt::format("pragma '{}' = '{}' did not take effect (SQLite reports '{}'){}", name,
                         value, *got, fixed ? "; it can only change on an empty database" : ""));
      }
    } catch (const SqlError& e) {
      if (is_busy(e.code())) {
        throw Error(Errc::busy,
                    fmt::format("cannot open database '{}': {} (setting pragma '{}')", path,
                                e.what(), name),
                    0, e.code());
      }
      fail(fmt::format("pragma '{}' = '{}' failed: {}", name, value, e.what()));
    }
  }
}

}  // namespace detail

std::vector<std::pair<std::string, std::string>> preset_pragmas(std::string_view preset) {
  if (preset == "fast") return {{"journal_mode", "MEMORY"}, {"synchronous", "OFF"}};
  if (preset == "safe") return {{"journal_mode", "WAL"}, {"synchronous", "NORMAL"}};
  if (preset == "durable") return {{"journal_mode", "WAL"}, {"synchronous", "FULL"}};
  throw Error(
      Errc::config,
      fmt::format("cannot use database preset '{}': expected fast, safe or durable", preset));
}

}  // namespace ringlite

// ringlite: the TOML config (docs/design.md, "Config"). toml++ does the syntax; this file checks
// every key against the layout below, so a typo is an error instead of a silent default.
#include "ringlite/config.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <vector>

#include "detail/format.hpp"
#include "platform/platform.hpp"
#include "ringlite/error.hpp"

namespace ringlite {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::uint32_t kMinMaxRecord = 64;
constexpr std::int64_t kMaxBatchRecords = 10'000'000;

[[noreturn]] void fail(const std::string& message) { throw Error(Errc::config, message); }

// ---- text helpers ----

bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

// n = n * m + add; false on overflow (the caller reports it with the offending text).
bool mul_add(std::uint64_t& n, std::uint64_t m, std::uint64_t add) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  if (m != 0 && n > (kMax - add) / m) return false;
  n = n * m + add;
  return true;
}

// Reads leading decimal digits; returns how many, 0 if none. `ok` turns false on overflow.
std::size_t read_digits(std::string_view s, std::uint64_t& n, bool& ok) {
  std::size_t i = 0;
  n = 0;
  for (; i < s.size() && is_digit(s[i]); ++i)
    ok = mul_add(n, 10, static_cast<std::uint64_t>(s[i] - '0')) && ok;
  return i;
}

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Binary units only: "64MB" is ambiguous (10^6 or 2^20?) so it is rejected, not guessed.
constexpr Unit kSizeUnits[] = {
    {"", 1},           {"b", 1},
    {"k", 1ull << 10}, {"kib", 1ull << 10},
    {"m", 1ull << 20}, {"mib", 1ull << 20},
    {"g", 1ull << 30}, {"gib", 1ull << 30},
    {"t", 1ull << 40}, {"tib", 1ull << 40},
};

// A bare number has no unit: "20" could be ms or s, so durations always name theirs.
constexpr Unit kDurationUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // "µs"
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"min", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"d", 86'400'000'000'000},
};

template <std::size_t N>
const Unit* find_unit(const Unit (&units)[N], std::string_view name) {
  for (const Unit& u : units)
    if (iequals(u.name, name)) return &u;
  return nullptr;
}

// Levenshtein distance, for "did you mean" on unknown keys.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min(
          {row[j] + 1, row[j - 1] + 1, diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---- TOML helpers ----

using Keys = std::initializer_list<std::string_view>;

std::string join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

// How a message shows a value the user wrote: as TOML would, strings quoted and escaped.
std::string repr(const toml::node& node) {
  if (node.is_table()) return "a table";
  if (node.is_array()) return "an array";
  if (const auto* s = node.as_string()) return fmt::format("{:?}", s->get());
  std::ostringstream out;
  node.visit([&out](const auto& v) { out << v; });
  return out.str();
}

[[noreturn]] void must_be(std::string_view key, std::string_view what, const toml::node& node) {
  fail(fmt::format("'{}' must be {}, not {}", key, what, repr(node)));
}

// Rejects keys outside `known`, suggesting the nearest known one when it is a likely typo.
void check_keys(const toml::table& table, std::string_view prefix, Keys known) {
  for (auto&& [k, v] : table) {
    const std::string_view key = k.str();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const bool section = prefix.empty() && v.is_table();
    std::string message =
        fmt::format("unknown {} '{}'", section ? "section" : "key", join(prefix, key));
    for (std::string_view candidate : known) {
      if (distance(key, candidate) <= 2) {
        message += fmt::format(" (did you mean '{}'?)", join(prefix, candidate));
        break;
      }
    }
    fail(message);
  }
}

const toml::table* section(const toml::table& root, std::string_view name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) must_be(name, "a table", *node);
  return node->as_table();
}

const std::string& string_of(const toml::node& node, std::string_view key, std::string_view what) {
  const auto* s = node.as_string();
  if (s == nullptr) must_be(key, what, node);
  return s->get();
}

fs::path path_of(const toml::node& node, std::string_view key, const fs::path& folder) {
  const std::string& s = string_of(node, key, "a path");
  // An embedded NUL would silently truncate the path at the OS boundary.
  if (s.empty() || s.find('\0') != std::string::npos) must_be(key, "a path", node);
  return fs::absolute(folder / fs::path(s)).lexically_normal();
}

std::uint64_t size_of(const toml::node& node, std::string_view key) {
  if (const auto* s = node.as_string()) return parse_size(s->get(), key);
  if (const auto* i = node.as_integer(); i != nullptr && i->get() >= 0)
    return static_cast<std::uint64_t>(i->get());
  must_be(key, "a size like \"64MiB\"", node);
}

std::chrono::nanoseconds duration_of(const toml::node& node, std::string_view key) {
  return parse_duration(string_of(node, key, "a duration like \"20ms\""), key);
}

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// ---- sections ----

void check_name(const std::string& name, const toml::node& node) {
  if (const auto why = detail::platform::ring_name_problem(name); !why.empty())
    must_be("ring.name", why, node);
}

std::uint32_t mode_of(const toml::node& node, std::string_view key) {
  constexpr std::string_view kWhat =
      "octal permission bits like \"0600\" that include owner read and write";
  std::uint64_t mode = ~0ull;
  if (const auto* i = node.as_integer(); i != nullptr && i->get() >= 0) {
    mode = static_cast<std::uint64_t>(i->get());
  } else if (const auto* s = node.as_string()) {
    std::string_view text = s->get();
    if (text.size() > 2 && text[0] == '0' && lower(text[1]) == 'o') text.remove_prefix(2);
    if (!text.empty() && text.size() <= 4 &&
        text.find_first_not_of("01234567") == std::string_view::npos) {
      mode = 0;
      for (char c : text) mode = mode * 8 + static_cast<std::uint64_t>(c - '0');
    }
  }
  // Without owner rw the creating bridge could not map its own ring or write its database.
  if (mode > 0777 || (mode & 0600) != 0600) must_be(key, kWhat, node);
  return static_cast<std::uint32_t>(mode);
}

// A user name or a uid: whose ring this config trusts (by default, only its own user's).
std::uint32_t owner_of(const toml::node& node) {
  constexpr std::string_view kWhat = "a user name or uid that exists on this machine";
  std::optional<std::uint32_t> uid;
  if (const auto* i = node.as_integer(); i != nullptr && i->get() >= 0 && i->get() <= 0xFFFFFFFE) {
    uid = static_cast<std::uint32_t>(i->get());
  } else if (const auto* s = node.as_string(); s != nullptr && !s->get().empty()) {
    uid = detail::platform::user_id(s->get());
  }
  if (!uid) must_be("ring.owner", kWhat, node);
  return *uid;
}

RingConfig read_ring(const toml::table* table, const fs::path& folder) {
  RingConfig ring;
  if (table == nullptr) fail("'ring.name' or 'ring.file' is required");
  check_keys(*table, "ring",
             {"name", "file", "capacity", "mode", "owner", "unblock_timeout", "max_record"});
  const toml::node* name = table->get("name");
  const toml::node* file = table->get("file");
  if (name != nullptr && file != nullptr)
    fail("'ring.name' and 'ring.file' exclude each other: give one");
  if (name == nullptr && file == nullptr) fail("'ring.name' or 'ring.file' is required");
  if (name != nullptr) {
    ring.name = string_of(*name, "ring.name", "a name like \"demo\"");
    check_name(ring.name, *name);
  } else {
    ring.file = path_of(*file, "ring.file", folder);
  }

  if (const toml::node* node = table->get("capacity")) {
    ring.capacity = size_of(*node, "ring.capacity");
    if (!is_power_of_two(ring.capacity) || ring.capacity < detail::kMinCapacity ||
        ring.capacity > detail::kMaxCapacity)
      must_be("ring.capacity", "a power of two between 4KiB and 64GiB", *node);
  }
  if (const toml::node* node = table->get("mode")) ring.mode = mode_of(*node, "ring.mode");
  if (const toml::node* node = table->get("owner")) ring.owner = owner_of(*node);
  if (const toml::node* node = table->get("unblock_timeout")) {
    ring.unblock_timeout = duration_of(*node, "ring.unblock_timeout");
    if (ring.unblock_timeout < 10ms || ring.unblock_timeout > 1h)
      must_be("ring.unblock_timeout", "between 10ms and 1h", *node);
  }
  if (const toml::node* node = table->get("max_record")) {
    // A record must leave room for others in the ring, and its length is a u32 on the wire.
    const std::uint64_t limit =
        std::min<std::uint64_t>(ring.capacity / 4, std::numeric_limits<std::uint32_t>::max());
    const std::uint64_t max_record = size_of(*node, "ring.max_record");
    if (max_record < kMinMaxRecord || max_record > limit)
      must_be("ring.max_record",
              fmt::format("between 64 and {} bytes (a quarter of ring.capacity)", limit), *node);
    ring.max_record = static_cast<std::uint32_t>(max_record);
  }
  return ring;
}

// A string pragma value is pasted into "PRAGMA name = value": only word characters and
// number signs get through, so no value can end the statement or start another.
bool is_pragma_word(std::string_view s) {
  return !s.empty() && s.find_first_not_of(
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-") ==
                           std::string_view::npos;
}

bool is_identifier(std::string_view s) {
  return !s.empty() && !is_digit(s[0]) &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
             std::string_view::npos;
}

std::string pragma_value(const toml::node& node, std::string_view key) {
  if (const auto* i = node.as_integer()) return fmt::format("{}", i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "ON" : "OFF";
  if (const auto* f = node.as_floating_point(); f != nullptr && std::isfinite(f->get()))
    return fmt::format("{}", f->get());
  if (const auto* s = node.as_string(); s != nullptr && is_pragma_word(s->get())) return s->get();
  must_be(key, "a number, a boolean or a word like \"WAL\"", node);
}

// Segments, retention and the time index (docs/design.md, "Recordings"). Retention deletes
// whole segments, so it needs them, and it must leave a closed segment to delete beside the
// open one: retain_bytes below two segments could never be kept.
void read_recording(const toml::table& table, DatabaseConfig& db) {
  if (const toml::node* node = table.get("segment_bytes")) {
    db.segment_bytes = size_of(*node, "database.segment_bytes");
    if (db.segment_bytes < kMinSegmentBytes || db.segment_bytes > kMaxSegmentBytes)
      must_be("database.segment_bytes", "a size between 1MiB and 1TiB", *node);
  }
  if (const toml::node* node = table.get("segment_duration")) {
    db.segment_duration = duration_of(*node, "database.segment_duration");
    if (db.segment_duration < 1s || db.segment_duration > std::chrono::hours(24 * 366))
      must_be("database.segment_duration", "a duration between 1s and 366d", *node);
  }
  const toml::node* retain_bytes = table.get("retain_bytes");
  const toml::node* retain_age = table.get("retain_age");
  if ((retain_bytes != nullptr || retain_age != nullptr) && !db.segmented()) {
    fail(
        fmt::format("'database.{}' needs segments: retention deletes whole segments, so set "
                    "'database.segment_bytes' or 'database.segment_duration' too",
                    retain_bytes != nullptr ? "retain_bytes" : "retain_age"));
  }
  if (retain_bytes != nullptr) {
    db.retain_bytes = size_of(*retain_bytes, "database.retain_bytes");
    if (db.segment_bytes != 0 && db.retain_bytes < 2 * db.segment_bytes) {
      must_be("database.retain_bytes",
              fmt::format("at least two segments ({} bytes, twice 'database.segment_bytes'): "
                          "the open segment and one closed one",
                          2 * db.segment_bytes),
              *retain_bytes);
    }
    if (db.retain_bytes < 2 * kMinSegmentBytes)
      must_be("database.retain_bytes", "at least 2MiB", *retain_bytes);
  }
  if (retain_age != nullptr) {
    db.retain_age = duration_of(*retain_age, "database.retain_age");
    if (db.retain_age < 1s) must_be("database.retain_age", "at least 1s", *retain_age);
    if (db.segment_duration != std::chrono::nanoseconds::zero() &&
        db.retain_age < 2 * db.segment_duration) {
      must_be("database.retain_age",
              "at least two segments' time (twice 'database.segment_duration')", *retain_age);
    }
  }
  if (const toml::node* node = table.get("index_ts")) {
    const auto* b = node->as_boolean();
    if (b == nullptr) must_be("database.index_ts", "true or false", *node);
    db.index_ts = b->get();
  }
}

DatabaseConfig read_database(const toml::table* table, const fs::path& folder,
                             std::uint32_t ring_mode) {
  DatabaseConfig db;
  // The records are the ring's: the database gets no wider access than the ring has.
  db.mode = ring_mode;
  if (table == nullptr) return db;  // optional until a command needs the database
  check_keys(*table, "database",
             {"path", "preset", "mode", "pragmas", "segment_bytes", "segment_duration",
              "retain_bytes", "retain_age", "index_ts"});
  const toml::node* path = table->get("path");
  if (path == nullptr) fail("'database.path' is required");
  db.path = path_of(*path, "database.path", folder);
  if (const toml::node* node = table->get("preset")) {
    db.preset = string_of(*node, "database.preset", "one of fast, safe, durable");
    if (db.preset != "fast" && db.preset != "safe" && db.preset != "durable")
      must_be("database.preset", "one of fast, safe, durable", *node);
  }
  if (const toml::node* node = table->get("mode")) db.mode = mode_of(*node, "database.mode");
  if (const toml::node* node = table->get("pragmas")) {
    if (!node->is_table()) must_be("database.pragmas", "a table", *node);
    for (auto&& [k, v] : *node->as_table()) {
      const std::string_view name = k.str();
      if (!is_identifier(name))
        fail(fmt::format("'database.pragmas' has an invalid pragma name {:?}: use A-Z a-z 0-9 _",
                         name));
      db.pragmas[std::string(name)] = pragma_value(v, join("database.pragmas", name));
    }
  }
  read_recording(*table, db);
  return db;
}

BatchConfig read_batch(const toml::table* table) {
  BatchConfig batch;
  if (table == nullptr) return batch;
  check_keys(*table, "batch", {"max_records", "max_delay"});
  if (const toml::node* node = table->get("max_records")) {
    const auto* i = node->as_integer();
    if (i == nullptr || i->get() < 1 || i->get() > kMaxBatchRecords)
      must_be("batch.max_records", fmt::format("an integer between 1 and {}", kMaxBatchRecords),
              *node);
    batch.max_records = static_cast<std::uint32_t>(i->get());
  }
  if (const toml::node* node = table->get("max_delay")) {
    // 0 is allowed: commit as soon as the ring is empty.
    batch.max_delay = duration_of(*node, "batch.max_delay");
    if (batch.max_delay > 60s) must_be("batch.max_delay", "between 0ms and 60s", *node);
  }
  return batch;
}

Config build(const toml::table& root, const fs::path& origin) {
  Config config;
  const fs::path folder = origin.empty() ? fs::current_path() : fs::absolute(origin).parent_path();
  if (!origin.empty()) config.source = fs::absolute(origin).lexically_normal();
  check_keys(root, "", {"ring", "schema", "database", "batch"});
  config.ring = read_ring(section(root, "ring"), folder);
  const toml::table* schema = section(root, "schema");
  if (schema != nullptr) check_keys(*schema, "schema", {"file"});
  const toml::node* schema_file = schema != nullptr ? schema->get("file") : nullptr;
  if (schema_file == nullptr) fail("'schema.file' is required");
  config.schema_file = path_of(*schema_file, "schema.file", folder);
  config.database = read_database(section(root, "database"), folder, config.ring.mode);
  config.batch = read_batch(section(root, "batch"));
  return config;
}

std::string origin_name(const fs::path& origin) {
  return origin.empty() ? "<string>" : origin.string();
}

}  // namespace

Config Config::load(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    fail(fmt::format("cannot read config '{}': {}", path.string(), std::strerror(errno)));
  std::string text;
  char buffer[64 * 1024];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  // A folder opens fine and fails on the first read (EISDIR): report that the same way.
  const int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) fail(fmt::format("cannot read config '{}': {}", path.string(), std::strerror(err)));
  return parse(text, path);
}

Config Config::parse(std::string_view toml, const fs::path& origin) {
  const std::string where = origin_name(origin);
  toml::table root;
  try {
    root = toml::parse(toml, std::string_view(where));
  } catch (const toml::parse_error& e) {
    std::string description(e.description());
    if (!description.empty()) description[0] = lower(description[0]);  // house style: lower case
    fail(fmt::format("invalid config '{}': {} at line {}, column {}", where, description,
                     e.source().begin.line, e.source().begin.column));
  }
  try {
    return build(root, origin);
  } catch (const Error& e) {
    fail(fmt::format("invalid config '{}': {}", where, e.what()));
  }
}

std::uint64_t parse_size(std::string_view text, std::string_view key) {
  const std::string_view s = trim(text);
  std::uint64_t n = 0;
  bool ok = true;
  const std::size_t digits = read_digits(s, n, ok);
  const Unit* unit = digits > 0 ? find_unit(kSizeUnits, trim(s.substr(digits))) : nullptr;
  if (unit == nullptr) fail(fmt::format("'{}' must be a size like \"64MiB\", not {:?}", key, text));
  if (!ok || !mul_add(n, unit->factor, 0)) fail(fmt::format("'{}' is too large: {:?}", key, text));
  return n;
}

std::chrono::nanoseconds parse_duration(std::string_view text, std::string_view key) {
  const std::string_view s = trim(text);
  std::uint64_t whole = 0, frac = 0;
  bool ok = true;
  std::size_t i = read_digits(s, whole, ok);
  std::size_t frac_digits = 0;
  bool well_formed = i > 0;
  if (well_formed && i < s.size() && s[i] == '.') {
    ++i;
    // Digits past the ninth are below nanosecond precision for every unit up to seconds:
    // they are read (so the text is valid) but do not count.
    for (; i < s.size() && is_digit(s[i]); ++i, ++frac_digits)
      if (frac_digits < 9) frac = frac * 10 + static_cast<std::uint64_t>(s[i] - '0');
    well_formed = frac_digits > 0;
  }
  const Unit* unit = well_formed ? find_unit(kDurationUnits, trim(s.substr(i))) : nullptr;
  if (unit == nullptr)
    fail(fmt::format("'{}' must be a duration like \"20ms\", not {:?}", key, text));

  // frac / 10^d * factor without overflow: split factor into its multiple of 10^d and the rest.
  std::uint64_t scale = 1;
  for (std::size_t d = 0; d < std::min<std::size_t>(frac_digits, 9); ++d) scale *= 10;
  const std::uint64_t frac_ns = unit->factor / scale * frac + unit->factor % scale * frac / scale;
  std::uint64_t total = whole;
  if (!ok || !mul_add(total, unit->factor, frac_ns) ||
      total > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    fail(fmt::format("'{}' is too large: {:?}", key, text));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

}  // namespace ringlite

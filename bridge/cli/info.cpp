// ringlite info: what a recording (a folder of segments) or a database file holds, like
// `ros2 bag info`: per type its rows, first and last time, duration and mean rate; gaps,
// drops, rejects; the segments; the bytes on disk. No config needed.
//
// Fast on any size: the numbers come from the catalog and from one direct query per
// segment and type (count(*), and min/max that the rowid and the ts index answer), never
// from reading the rows through the recording's virtual tables.
#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ringlite/error.hpp"
#include "ringlite/recording.hpp"

namespace ringlite::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Opts {
  std::string path;
  bool json = false;
};

struct TypeStats {
  std::string name;
  std::uint64_t rows = 0;
  std::optional<std::int64_t> first_ts, last_ts;
};

struct GapStats {
  std::uint64_t count = 0, records = 0;
};

struct Info {
  fs::path path;
  bool segmented = false;
  std::vector<TypeStats> types;
  std::map<std::string, GapStats> gaps;
  std::uint64_t drops = 0, rejects = 0;
  std::vector<SegmentInfo> segments;
  std::uint64_t bytes_on_disk = 0;
};

struct CloseDb {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, CloseDb>;

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw Error(Errc::sqlite, fmt::format("cannot read {}: {}", what, sqlite3_errmsg(db)), 0,
              sqlite3_extended_errcode(db));
}

/// Runs `sql` and calls `row` for every row.
template <typename F>
void each_row(sqlite3* db, const std::string& sql, const std::string& what, F&& row) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    row(st);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_OK) fail(db, what);
}

std::optional<std::int64_t> integer(sqlite3* db, const std::string& sql, const std::string& what) {
  std::optional<std::int64_t> v;
  each_row(db, sql, what, [&](sqlite3_stmt* st) {
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) v = sqlite3_column_int64(st, 0);
  });
  return v;
}

std::string quote(const std::string& name) {
  std::string r = "\"";
  for (char c : name) r += c == '"' ? std::string("\"\"") : std::string(1, c);
  return r + "\"";
}

/// Adds what `db` (one segment, or the database) holds of each type to `types`.
void add_type_stats(sqlite3* db, const std::string& what, std::vector<TypeStats>& types) {
  for (TypeStats& t : types) {
    const auto present = integer(
        db,
        fmt::format("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND rootpage > 0 AND "
                    "name = '{}'",
                    t.name),
        what);
    if (present.value_or(0) == 0) continue;  // a type added after this segment closed
    const std::string q = quote(t.name);
    // Each aggregate alone, so that min() and max() are answered by an index.
    const auto rows = integer(db, "SELECT count(*) FROM " + q, what).value_or(0);
    if (rows <= 0) continue;
    t.rows += static_cast<std::uint64_t>(rows);
    const auto first = integer(db, "SELECT min(ts_ns) FROM " + q, what);
    const auto last = integer(db, "SELECT max(ts_ns) FROM " + q, what);
    if (first) t.first_ts = std::min(t.first_ts.value_or(*first), *first);
    if (last) t.last_ts = std::max(t.last_ts.value_or(*last), *last);
  }
}

std::uint64_t file_bytes(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

Info gather(const fs::path& path) {
  const Recording rec = Recording::open(path);
  Info info;
  info.path = path;
  info.segmented = rec.segmented();
  info.segments = rec.catalog();
  for (const RecordType& t : rec.schema().types()) info.types.push_back({t.name, 0, {}, {}});

  if (!rec.segmented()) {
    add_type_stats(rec.connection(), fmt::format("database '{}'", path.string()), info.types);
  } else {
    for (SegmentInfo& s : info.segments) {
      if (s.state == "deleted") continue;
      const std::string what = fmt::format("segment '{}'", s.path.string());
      std::error_code ec;
      const auto type = fs::status(s.path, ec).type();
      if (type == fs::file_type::not_found) {
        s.state = "deleted";  // retention took it since the catalog was read
        continue;
      }
      if (type != fs::file_type::regular) {  // SQLite's open would block on a FIFO
        throw Error(Errc::corrupt, fmt::format("cannot read {}: not a regular file", what));
      }
      sqlite3* raw = nullptr;
      const int rc = sqlite3_open_v2(s.path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
      Db db(raw);
      if (rc != SQLITE_OK || !fs::exists(s.path, ec)) {
        if (!fs::exists(s.path, ec)) {
          s.state = "deleted";  // retention took it since the catalog was read
          continue;
        }
        fail(db.get(), what);
      }
      sqlite3_busy_timeout(db.get(), 5000);
      add_type_stats(db.get(), what, info.types);
    }
  }
  sqlite3* db = rec.connection();
  const std::string what = fmt::format("'{}'", path.string());
  each_row(db,
           "SELECT kind, count(*), total(count) FROM _ringlite_gaps GROUP BY kind ORDER BY kind",
           what, [&](sqlite3_stmt* st) {
             const auto* kind = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
             GapStats& g = info.gaps[kind ? kind : ""];
             g.count = static_cast<std::uint64_t>(sqlite3_column_int64(st, 1));
             // total() of hostile counts may be huge, negative or infinite: kept in range.
             const double records = sqlite3_column_double(st, 2);
             g.records = records >= 1.8e19 ? std::uint64_t{18'000'000'000'000'000'000u}
                         : records > 0     ? static_cast<std::uint64_t>(records)
                                           : 0;
           });
  if (auto it = info.gaps.find("drop"); it != info.gaps.end()) info.drops = it->second.records;
  info.rejects = static_cast<std::uint64_t>(
      integer(db, "SELECT count(*) FROM _ringlite_rejects", what).value_or(0));

  // Every file of the recording: the segments and their -wal, -shm and -journal.
  const auto with_side_files = [](const fs::path& p) {
    std::uint64_t n = 0;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      n += file_bytes(p.string() + suffix);
    return n;
  };
  if (rec.segmented()) {
    for (const SegmentInfo& s : info.segments) {
      if (s.state != "deleted") info.bytes_on_disk += with_side_files(s.path);
    }
  } else {
    info.bytes_on_disk = with_side_files(path);
  }
  // The open segment's size is not in the catalog: what its file holds now.
  for (SegmentInfo& s : info.segments) {
    if (!s.bytes && s.state == "open") s.bytes = file_bytes(s.path);
  }
  return info;
}

/// "2026-11-30T07:12:03.123456789Z".
std::string iso_time(std::int64_t ns) {
  std::int64_t sec = ns / 1'000'000'000, frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --sec;
  }
  const auto t = static_cast<std::time_t>(sec);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return fmt::format("{}ns", ns);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

double seconds(const std::optional<std::int64_t>& first, const std::optional<std::int64_t>& last) {
  if (!first || !last) return 0;
  // As doubles: two hostile int64 times may be further apart than an int64 holds.
  return (static_cast<double>(*last) - static_cast<double>(*first)) / 1e9;
}

std::optional<double> rate(std::uint64_t rows, double secs) {
  if (secs <= 0) return std::nullopt;
  return static_cast<double>(rows) / secs;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

json to_json(const Info& info) {
  const auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  const auto time = [](const std::optional<std::int64_t>& v) {
    return v ? json(iso_time(*v)) : json(nullptr);
  };
  json j;
  j["path"] = info.path.string();
  j["segmented"] = info.segmented;
  std::uint64_t rows = 0;
  std::optional<std::int64_t> first, last;
  j["types"] = json::array();
  for (const TypeStats& t : info.types) {
    const double secs = seconds(t.first_ts, t.last_ts);
    j["types"].push_back({{"name", t.name},
                          {"rows", t.rows},
                          {"first_ns", opt(t.first_ts)},
                          {"last_ns", opt(t.last_ts)},
                          {"first", time(t.first_ts)},
                          {"last", time(t.last_ts)},
                          {"duration_s", secs},
                          {"rate_hz", opt(rate(t.rows, secs))}});
    rows += t.rows;
    if (t.first_ts) first = std::min(first.value_or(*t.first_ts), *t.first_ts);
    if (t.last_ts) last = std::max(last.value_or(*t.last_ts), *t.last_ts);
  }
  j["rows"] = rows;
  j["first_ns"] = opt(first);
  j["last_ns"] = opt(last);
  j["first"] = time(first);
  j["last"] = time(last);
  j["duration_s"] = seconds(first, last);
  json gaps = {{"count", 0}, {"records", 0}, {"by_kind", json::object()}};
  std::uint64_t gap_count = 0, gap_records = 0;
  for (const auto& [kind, g] : info.gaps) {
    gaps["by_kind"][kind] = {{"count", g.count}, {"records", g.records}};
    gap_count += g.count;
    gap_records += g.records;
  }
  gaps["count"] = gap_count;
  gaps["records"] = gap_records;
  j["gaps"] = gaps;
  j["drops"] = info.drops;
  j["rejects"] = info.rejects;
  std::uint64_t live = 0, deleted = 0;
  json list = json::array();
  for (const SegmentInfo& s : info.segments) {
    (s.state == "deleted" ? deleted : live) += 1;
    list.push_back({{"number", s.number},
                    {"state", s.state},
                    {"rows", s.rows},
                    {"first_seq", opt(s.first_seq)},
                    {"last_seq", opt(s.last_seq)},
                    {"first_ns", opt(s.first_ts)},
                    {"last_ns", opt(s.last_ts)},
                    {"first", time(s.first_ts)},
                    {"last", time(s.last_ts)},
                    {"bytes", opt(s.bytes)},
                    {"path", s.path.string()}});
  }
  j["segments"] = {{"live", live}, {"deleted", deleted}, {"list", list}};
  j["bytes_on_disk"] = info.bytes_on_disk;
  return j;
}

/// Prints rows as columns aligned under their header, two spaces apart.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < r.size(); ++i)
      line += fmt::format("{:<{}}", r[i], i + 1 == r.size() ? 0 : width[i] + 2);
    fmt::print("{}\n", line);
  }
}

void print_text(const json& j) {
  const auto str = [](const json& v) {
    return v.is_null() ? std::string("-") : v.is_string() ? v.get<std::string>() : v.dump();
  };
  const auto secs = [](double s) { return fmt::format("{:.3f} s", s); };
  const auto hz = [](const json& v) {
    return v.is_null() ? std::string("-") : fmt::format("{:.1f}/s", v.get<double>());
  };
  fmt::print("Path:          {} ({})\n", j["path"].get<std::string>(),
             j["segmented"].get<bool>() ? "a recording folder" : "a database file");
  fmt::print("Bytes on disk: {} ({} bytes)\n", human_bytes(j["bytes_on_disk"].get<std::uint64_t>()),
             j["bytes_on_disk"].get<std::uint64_t>());
  fmt::print("Rows:          {}\n", j["rows"].get<std::uint64_t>());
  fmt::print("Start:         {}\n", str(j["first"]));
  fmt::print("End:           {}\n", str(j["last"]));
  fmt::print("Duration:      {}\n", secs(j["duration_s"].get<double>()));
  fmt::print("Types:\n");
  std::vector<std::vector<std::string>> types = {
      {"type", "rows", "first", "last", "duration", "rate"}};
  for (const auto& t : j["types"]) {
    types.push_back({t["name"].get<std::string>(), std::to_string(t["rows"].get<std::uint64_t>()),
                     str(t["first"]), str(t["last"]), secs(t["duration_s"].get<double>()),
                     hz(t["rate_hz"])});
  }
  print_table(types);
  std::string by_kind;
  for (const auto& [kind, g] : j["gaps"]["by_kind"].items()) {
    by_kind += fmt::format("{}{} {} ({} records)", by_kind.empty() ? ": " : ", ", kind,
                           g["count"].get<std::uint64_t>(), g["records"].get<std::uint64_t>());
  }
  fmt::print("Gaps:          {} ({} records){}\n", j["gaps"]["count"].get<std::uint64_t>(),
             j["gaps"]["records"].get<std::uint64_t>(), by_kind);
  fmt::print("Drops:         {}\n", j["drops"].get<std::uint64_t>());
  fmt::print("Rejects:       {}\n", j["rejects"].get<std::uint64_t>());
  fmt::print("Segments:      {} live, {} deleted\n", j["segments"]["live"].get<std::uint64_t>(),
             j["segments"]["deleted"].get<std::uint64_t>());
  std::vector<std::vector<std::string>> segs = {
      {"number", "state", "rows", "seq", "time", "bytes"}};
  for (const auto& s : j["segments"]["list"]) {
    const bool ranged = !s["first_seq"].is_null();
    segs.push_back({std::to_string(s["number"].get<std::uint64_t>()), s["state"].get<std::string>(),
                    std::to_string(s["rows"].get<std::uint64_t>()),
                    ranged ? fmt::format("{}..{}", str(s["first_seq"]), str(s["last_seq"])) : "-",
                    ranged ? fmt::format("{} .. {}", str(s["first"]), str(s["last"])) : "-",
                    s["bytes"].is_null() ? "-" : human_bytes(s["bytes"].get<std::uint64_t>())});
  }
  print_table(segs);
}

int run(const Opts& o) {
  Info info;
  try {
    info = gather(o.path);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("cannot show info: {}", e.what()), e.sys_errno(),
                e.sqlite_code());
  }
  const json j = to_json(info);
  if (o.json) {
    // Names come from files and the command line: bytes that are not UTF-8 become U+FFFD.
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    print_text(j);
  }
  return kExitOk;
}

}  // namespace

void add_info(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "info",
      "show what a recording folder or a database file holds: types, times, gaps, segments");
  cmd->add_option("path", o->path, "a recording's folder or a database file (no config needed)")
      ->required();
  cmd->add_flag("--json", o->json, "print one JSON object instead of the text summary");
  cmd->footer(
      "Examples:\n"
      "  ringlite info /var/lib/app/recording\n"
      "  ringlite info history.db --json | jq '.types[] | {name, rows, rate_hz}'");
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

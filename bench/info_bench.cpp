// info_bench: reading a recording. The same 2M sensor records as a recording of 12 segments
// and as a single database; baselines measured in the same run, interleaved.
//
//   info        `ringlite info --json` on the folder, and on the single database (a process
//               each, through /bin/sh); baseline: SELECT count(*) per type over the single
//               database on a fresh connection (in this process), and `ringlite --version`
//               (what starting the process costs)
//   count       SELECT count(*) FROM sensor: the recording's virtual table (every row through
//               the module) against the single database's table
//   window      SELECT count(*), sum(a) FROM sensor WHERE ts_ns in a 1% window: the
//               recording (catalog pruning, then each segment's ts index) against the single
//               database (its ts index)
// Target: info under 1 s on 2M rows. Each measurement runs --reps times, alternating; the
// median and the range are reported. The files live in a scratch folder under $TMPDIR,
// removed on exit, also on SIGINT/SIGTERM.
#include <fmt/core.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/recording.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/store.hpp"

namespace {

using namespace ringlite;
using bench::now_ns;
using bench::Sensor;
namespace fs = std::filesystem;

constexpr std::int64_t kT0 = 1'795'000'000'000'000'000;  // ts_ns of the first record
constexpr std::int64_t kGapNs = 1000;
constexpr std::uint64_t kFrame = 112;

struct Options {
  std::uint64_t records = 2'000'000;
  std::uint64_t segments = 12;
  int reps = 7;
  bool json = false;
  std::string keep;  // build here and leave the files
};

std::int64_t ts_of(std::uint64_t k) {
  return kT0 + static_cast<std::int64_t>(k) * kGapNs - static_cast<std::int64_t>(k % 2) * 40'000;
}

/// Writes sensor records [from, to) into a new database as the bridge would.
void build(const fs::path& path, const Schema& schema, std::uint64_t from, std::uint64_t to) {
  DatabaseConfig dc;
  dc.path = path;
  dc.preset = "fast";
  Store store = Store::open(dc, schema, "info_bench");
  const std::uint16_t type = schema.find("sensor")->id;
  constexpr std::uint64_t kChunk = 65536;
  Batch b;
  Sensor s{};
  for (std::uint64_t k = from; k < to;) {
    b.clear();
    for (const std::uint64_t end = std::min(to, k + kChunk); k < end; ++k) {
      bench::fill_sensor(s, k);
      const auto off = static_cast<std::uint32_t>(b.arena.size());
      b.arena.resize(off + sizeof s);
      std::memcpy(b.arena.data() + off, &s, sizeof s);
      b.frames.push_back(
          Frame{k * kFrame, type, static_cast<std::uint32_t>(k % 2), ts_of(k), off, sizeof s});
      b.end = (k + 1) * kFrame;
    }
    if (store.write_batch(b, "00000000000000000000000000000000").inserted != b.frames.size())
      throw std::runtime_error("the bench database rejected records");
  }
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : "";
    sqlite3_free(err);
    throw std::runtime_error(fmt::format("'{}': {}", sql, why));
  }
}

/// A recording as the segmented bridge leaves it (docs/design.md, "Recordings"): segments
/// seg-N.db of disjoint seq ranges, the catalog in the newest.
void build_recording(const fs::path& folder, const Schema& schema, const Options& o) {
  fs::create_directories(folder);
  std::string catalog;
  const std::uint64_t per = (o.records + o.segments - 1) / o.segments;
  fs::path newest;
  for (std::uint64_t n = 1; n <= o.segments; ++n) {
    const std::uint64_t from = (n - 1) * per, to = std::min(o.records, n * per);
    newest = folder / fmt::format("seg-{:08}.db", n);
    build(newest, schema, from, to);
    std::int64_t ft = ts_of(from), lt = ts_of(from);
    for (std::uint64_t k = from; k < to; ++k) {
      ft = std::min(ft, ts_of(k));
      lt = std::max(lt, ts_of(k));
    }
    const bool open = n == o.segments;
    catalog += fmt::format(
        "INSERT INTO _ringlite_segments(number, state, first_seq, last_seq, first_ts, last_ts, "
        "rows, bytes, created_ns) VALUES ({}, '{}', {}, {}, {}, {}, {}, {}, 1);",
        n, open ? "open" : "closed", from * kFrame, (to - 1) * kFrame, ft, lt, to - from,
        open ? std::string("NULL") : std::to_string(fs::file_size(newest)));
  }
  sqlite3* db = nullptr;
  sqlite3_open_v2(newest.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  try {
    exec(db, catalog);
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  sqlite3_close(db);
}

/// Steps `sql` (bound ?1, ?2 when given) and returns a checksum of the integer columns.
std::int64_t run_query(sqlite3* db, const std::string& sql, std::int64_t from = 0,
                       std::int64_t to = 0) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(fmt::format("cannot prepare '{}': {}", sql, sqlite3_errmsg(db)));
  if (sqlite3_bind_parameter_count(st) >= 2) {
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
  }
  std::int64_t sum = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int c = 0, n = sqlite3_column_count(st); c < n; ++c) sum += sqlite3_column_int64(st, c);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw std::runtime_error(fmt::format("'{}' failed", sql));
  return sum;
}

struct Row {
  std::string name, subject, baseline;
  std::function<void()> run, base;
  std::vector<double> ms, base_ms;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string range(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return fmt::format("[{:.1f}-{:.1f}]", v.front(), v.back());
}

void shell(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

int run(const Options& o) {
  const Schema schema = Schema::load_file(std::string(RINGLITE_SOURCE_DIR) + "/schema/demo.sql");
  const fs::path dir = o.keep.empty()
                           ? fs::temp_directory_path() / fmt::format("info_bench.{}", ::getpid())
                           : fs::path(o.keep);
  fs::create_directories(dir);
  if (o.keep.empty())
    std::snprintf(bench::cleanup::dir, sizeof bench::cleanup::dir, "%s", dir.c_str());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{o.keep.empty() ? dir : fs::path()};
  const fs::path folder = dir / "rec", single = dir / "single.db";

  const bench::Load load = bench::Load::read();
  const std::int64_t t0 = now_ns();
  build_recording(folder, schema, o);
  build(single, schema, 0, o.records);
  const double build_s = double(now_ns() - t0) / 1e9;

  const std::string cli = RINGLITE_CLI;
  const auto info_of = [&](const fs::path& p) {
    return fmt::format("'{}' info --json '{}' >/dev/null", cli, p.string());
  };
  const Recording rec = Recording::open(folder);
  sqlite3* one = nullptr;
  if (sqlite3_open_v2(single.c_str(), &one, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    throw std::runtime_error("cannot open the single database");
  struct Close {
    sqlite3* db;
    ~Close() { sqlite3_close(db); }
  } close_one{one};

  const std::int64_t span = static_cast<std::int64_t>(o.records) * kGapNs;
  const std::int64_t from = kT0 + span / 2 - span / 200, to = from + span / 100 - 1;
  const std::string window = "SELECT count(*), sum(a) FROM sensor WHERE ts_ns BETWEEN ?1 AND ?2";
  const auto count_single_fresh = [&] {
    sqlite3* db = nullptr;
    sqlite3_open_v2(single.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    for (const RecordType& t : schema.types())
      run_query(db, fmt::format("SELECT count(*) FROM \"{}\"", t.name));
    sqlite3_close(db);
  };
  if (run_query(rec.connection(), window, from, to) != run_query(one, window, from, to) ||
      run_query(rec.connection(), "SELECT count(*) FROM sensor") !=
          run_query(one, "SELECT count(*) FROM sensor"))
    throw std::runtime_error("the recording and the single database disagree");

  std::vector<Row> rows = {
      {"info",
       "recording (process)",
       "count(*) per type, single DB",
       [&] { shell(info_of(folder)); },
       count_single_fresh,
       {},
       {}},
      {"info",
       "single DB (process)",
       "`ringlite --version`",
       [&] { shell(info_of(single)); },
       [&] { shell(fmt::format("'{}' --version >/dev/null", cli)); },
       {},
       {}},
      {"count",
       "recording vtab",
       "single DB table",
       [&] { run_query(rec.connection(), "SELECT count(*) FROM sensor"); },
       [&] { run_query(one, "SELECT count(*) FROM sensor"); },
       {},
       {}},
      {"window",
       "recording vtab",
       "single DB table",
       [&] { run_query(rec.connection(), window, from, to); },
       [&] { run_query(one, window, from, to); },
       {},
       {}},
  };
  for (auto& r : rows) {
    r.run();  // warm-up
    r.base();
    for (int i = 0; i < o.reps; ++i) {
      std::int64_t s = now_ns();
      r.run();
      r.ms.push_back(double(now_ns() - s) / 1e6);
      s = now_ns();
      r.base();
      r.base_ms.push_back(double(now_ns() - s) / 1e6);
    }
  }

  if (o.json) {
    std::string out =
        fmt::format("{{\"records\":{},\"segments\":{},\"reps\":{}", o.records, o.segments, o.reps);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out += fmt::format(",\"{0}{1}_ms\":{2:.3f},\"{0}{1}_baseline_ms\":{3:.3f}", rows[i].name, i,
                         median(rows[i].ms), median(rows[i].base_ms));
    }
    fmt::print("{}}}\n", out);
    return 0;
  }
  load.print();
  fmt::print(
      "{} sensor records: a recording of {} segments and a single database ({:.1f} s to "
      "build both)\n",
      o.records, o.segments, build_s);
  fmt::print("median of {} interleaved runs each, [min-max] in ms\n\n", o.reps);
  fmt::print("{:<7} {:<20} {:>22}   {:<29} {:>22}\n", "what", "measured", "", "baseline", "");
  for (const auto& r : rows) {
    fmt::print("{:<7} {:<20} {:>8.1f} ms {:>10}   {:<29} {:>8.1f} ms {:>10}\n", r.name, r.subject,
               median(r.ms), range(r.ms), r.baseline, median(r.base_ms), range(r.base_ms));
  }
  fmt::print("\ntarget: info on {} rows under 1 s: {}\n", o.records,
             std::max(median(rows[0].ms), median(rows[1].ms)) < 1000 ? "met" : "NOT met");
  return 0;
}

constexpr const char* kUsage =
    "usage: info_bench [--records N] [--segments N] [--reps N] [--json]\n"
    "  --records N    sensor records (default 2000000)\n"
    "  --segments N   segments of the recording (default 12)\n"
    "  --reps N       timed runs of each measurement (default 7)\n"
    "  --json         one JSON object on one line instead of the table\n"
    "  --keep DIR     build in DIR (rec/ and single.db) and leave them there\n";

Options parse_options(int argc, char** argv) {
  Options o;
  bench::Args args("info_bench", argc, argv);
  while (args.next()) {
    if (args.is("--help") || args.is("-h")) {
      bench::Args::help(kUsage);
    } else if (args.is("--json")) {
      o.json = true;
    } else if (args.name() == "--records") {
      o.records = args.count(1000, 1'000'000'000);
    } else if (args.name() == "--segments") {
      o.segments = args.count(1, 10'000);
    } else if (args.name() == "--keep") {
      o.keep = std::string(args.value());
    } else if (args.name() == "--reps") {
      o.reps = static_cast<int>(args.count(1, 1000));
    } else {
      args.unknown();
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  return bench::run_main("info_bench", [&] { return run(o); });
}

// The command line over recordings: `ringlite info` on a folder and on a file (text and
// JSON, parsed back), `ringlite query --db` and -c on a segmented config, and the option
// rules (-c or --db, --live needs -c). Recordings are built by hand (recording_maker.hpp).
#include <doctest/doctest.h>
#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "recording_maker.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using namespace ringlite::test;
using ringlite::detail::segment_file_name;

namespace {

std::string q(const std::string& s) { return shell_word(s); }

/// A recording of 5 segments of 100 records whose first segment retention expired: its
/// catalog row says deleted, a retention gap covers it, its file is gone. Plus a corrupt gap
/// in segment 3 and a drop in the newest.
struct Rec {
  TempDir dir{"reccli"};
  fs::path folder = dir / "rec";
  fs::path single = dir / "single.db";
  Rec() {
    make_recording(folder, 5, 100);
    write_records(single, 100, 500);
    fs::remove(folder / segment_file_name(1));
    exec_sql(folder / segment_file_name(5),
             fmt::format("UPDATE _ringlite_segments SET state = 'deleted', deleted_ns = 5 WHERE "
                         "number = 1; INSERT INTO _ringlite_gaps(kind, seq_from, seq_to, count, "
                         "reason, recorded_ns) VALUES ('retention', {}, {}, 100, 'retain_bytes', "
                         "1), ('drop', 4321, NULL, 7, NULL, 1)",
                         rec_seq(0), rec_seq(99) + 1));
    exec_sql(folder / segment_file_name(3),
             "INSERT INTO _ringlite_gaps(kind, seq_from, seq_to, count, recorded_ns) VALUES "
             "('corrupt', 2222, 2230, 1, 1)");
  }
};

void check_one_line_usage_error(const RunResult& r, const std::string& says) {
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find(says) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

}  // namespace

TEST_SUITE("recording cli") {
  TEST_CASE("info --json on a recording folder gives rows, times, gaps and segments") {
    Rec r;
    const auto res = run_cli("info --json " + q(r.folder.string()));
    REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    const auto j = nlohmann::json::parse(res.out);
    CHECK(j["segmented"] == true);
    CHECK(j["rows"] == 400);
    REQUIRE(j["types"].size() == 2);
    CHECK(j["types"][0]["name"] == "sensor");
    CHECK(j["types"][0]["rows"] == 300);
    CHECK(j["types"][1]["name"] == "log");
    CHECK(j["types"][1]["rows"] == 100);
    std::int64_t first = rec_ts(100), last = rec_ts(100);
    for (std::uint64_t i = 100; i < 500; ++i) {
      first = std::min(first, rec_ts(i));
      last = std::max(last, rec_ts(i));
    }
    CHECK(j["first_ns"] == first);
    CHECK(j["last_ns"] == last);
    CHECK(j["first"].get<std::string>().size() == 30);
    CHECK(j["first"].get<std::string>().rfind("2027-01-15T08:0", 0) == 0);
    CHECK(j["gaps"]["count"] == 3);
    CHECK(j["gaps"]["by_kind"]["retention"]["records"] == 100);
    CHECK(j["gaps"]["by_kind"]["corrupt"]["count"] == 1);
    CHECK(j["drops"] == 7);
    CHECK(j["rejects"] == 0);
    CHECK(j["segments"]["live"] == 4);
    CHECK(j["segments"]["deleted"] == 1);
    REQUIRE(j["segments"]["list"].size() == 5);
    CHECK(j["segments"]["list"][0]["state"] == "deleted");
    CHECK(j["segments"]["list"][4]["state"] == "open");
    CHECK(j["segments"]["list"][2]["first_seq"] == rec_seq(200));
    CHECK(j["segments"]["list"][2]["rows"] == 100);
    CHECK(j["bytes_on_disk"].get<std::uint64_t>() > 4 * 4096);

    const auto text = run_cli("info " + q(r.folder.string()));
    REQUIRE_MESSAGE(text.exit_code == 0, text.err);
    for (const char* s : {"Rows:          400", "sensor", "300", "Gaps:          3 (108 records)",
                          "retention 1 (100 records)", "Drops:         7",
                          "Segments:      4 live, 1 deleted", "deleted", "open"}) {
      INFO(s, "\n", text.out);
      CHECK(text.out.find(s) != std::string::npos);
    }
  }

  TEST_CASE("info on a database file, text and --json, agrees with the recording") {
    Rec r;
    const auto res = run_cli("info --json " + q(r.single.string()));
    REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    const auto j = nlohmann::json::parse(res.out);
    const auto f = nlohmann::json::parse(run_cli("info --json " + q(r.folder.string())).out);
    CHECK(j["segmented"] == false);
    CHECK(j["types"] == f["types"]);
    CHECK(j["first"] == f["first"]);
    CHECK(j["segments"]["live"] == 1);
    CHECK(j["gaps"]["count"] == 0);
    const auto text = run_cli("info " + q(r.single.string()));
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("a database file") != std::string::npos);
    // A path that is neither: exit 2, one line.
    check_one_line_usage_error(run_cli("info " + q((r.dir / "nosuch").string())),
                               "cannot show info: cannot open recording");
  }

  TEST_CASE("query --db reads a folder as the single database with the same records") {
    Rec r;
    for (const char* sql : {"SELECT seq, a, buffer FROM sensor WHERE seq BETWEEN 2000 AND 2500",
                            "SELECT count(*), sum(code) FROM log",
                            "SELECT seq, time FROM log_t ORDER BY seq LIMIT 9"}) {
      INFO(sql);
      const auto a = run_cli("query --format csv --db " + q(r.folder.string()) + " " + q(sql));
      const auto b = run_cli("query --format csv --db " + q(r.single.string()) + " " + q(sql));
      REQUIRE_MESSAGE(a.exit_code == 0, a.err);
      CHECK(a.out == b.out);
    }
    // The tables are read-only: refused before anything runs, exit 2.
    for (const std::string sql : {"INSERT INTO sensor(seq, ts_ns, producer) VALUES (1, 2, 3)",
                                  "DELETE FROM log", "UPDATE sensor SET a = 1"}) {
      INFO(sql);
      check_one_line_usage_error(run_cli("query --db " + q(r.folder.string()) + " " + q(sql)),
                                 "may not be modified");
    }
  }

  TEST_CASE("query -c on a segmented config reads its recording folder") {
    Rec r;
    const auto config = r.dir / "rec.toml";
    write_file(config,
               fmt::format("[ring]\nname = \"{}\"\n[schema]\nfile = \"{}\"\n[database]\n"
                           "path = \"{}\"\nsegment_bytes = \"16MiB\"\n",
                           unique_name("reccli"), (source_dir() / "schema" / "demo.sql").string(),
                           r.folder.string()));
    const auto res =
        run_cli("query --format csv -c " + q(config.string()) + " 'SELECT count(*) FROM sensor'");
    REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    CHECK(res.out == "count(*)\r\n300\r\n");
  }

  TEST_CASE("query takes exactly one of -c and --db, and --live needs -c") {
    Rec r;
    const auto config = r.dir / "plain.toml";
    write_file(config,
               fmt::format("[ring]\nname = \"{}\"\n[schema]\nfile = \"{}\"\n[database]\n"
                           "path = \"{}\"\n",
                           unique_name("reccli"), (source_dir() / "schema" / "demo.sql").string(),
                           r.single.string()));
    const std::string db = " --db " + q(r.folder.string());
    const std::string c = " -c " + q(config.string());
    check_one_line_usage_error(run_cli("query" + c + db + " 'SELECT 1'"),
                               "give exactly one of -c CONFIG and --db PATH");
    check_one_line_usage_error(run_cli("query 'SELECT 1'"),
                               "give exactly one of -c CONFIG and --db PATH");
    check_one_line_usage_error(run_cli("query --live" + db + " 'SELECT 1'"),
                               "--live needs -c CONFIG");
    check_one_line_usage_error(
        run_cli("query --db " + q((r.dir / "nosuch").string()) + " 'SELECT 1'"), "no such file");
    const auto ok = run_cli("query --format csv" + c + " 'SELECT count(*) FROM log'");
    CHECK_MESSAGE(ok.exit_code == 0, ok.err);
    CHECK(ok.out == "count(*)\r\n100\r\n");
  }

  TEST_CASE("info on hostile recordings: a FIFO segment and huge numbers end cleanly") {
    Rec r;
    // A FIFO where a segment should be: SQLite's open would block on it for ever.
    fs::remove(r.folder / segment_file_name(2));
    REQUIRE(::mkfifo((r.folder / segment_file_name(2)).c_str(), 0600) == 0);
    auto out = run_shell("timeout 20 " + cli_path() + " info " + q(r.folder.string()));
    INFO(out.err);
    CHECK(out.exit_code == 1);
    CHECK(out.err == "ringlite: cannot show info: cannot read segment '" +
                         (r.folder / segment_file_name(2)).string() + "': not a regular file\n");
    fs::remove(r.folder / segment_file_name(2));
    // Times and counts at the ends of their ranges, and a kind that is not UTF-8.
    exec_sql(r.folder / segment_file_name(5),
             "INSERT INTO _ringlite_gaps(kind, seq_from, seq_to, count, recorded_ns) VALUES "
             "('huge', 1, 2, 9000000000000000000, 1), ('huge', 3, 4, 9000000000000000000, 1), "
             "('huge', 5, 6, 1e308, 1), (CAST(x'ff6b696e64' AS TEXT), 7, 8, 1, 1); "
             "UPDATE sensor SET ts_ns = -9000000000000000000 WHERE seq = (SELECT min(seq) FROM "
             "sensor); UPDATE sensor SET ts_ns = 9000000000000000000 WHERE seq = (SELECT max(seq) "
             "FROM sensor)");
    for (const char* json : {"", " --json"}) {
      out = run_cli("info " + q(r.folder.string()) + json);
      INFO(json, out.err);
      CHECK(out.exit_code == 0);
      CHECK(out.out.find("huge") != std::string::npos);
    }
  }

  TEST_CASE(
      "info, query --db and replay --db refuse a FIFO and a view catalog, at once, on one "
      "line") {
    Rec r;
    const auto fifo = r.dir / "fifo.db";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // The newest segment's catalog, a view over an endless query.
    exec_sql(r.folder / segment_file_name(5),
             "ALTER TABLE _ringlite_segments RENAME TO s_real; CREATE VIEW _ringlite_segments AS "
             "WITH RECURSIVE e(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM e) SELECT s.* FROM "
             "s_real s, e");
    RingGuard guard{ring_config("reccli", 1 << 20)};
    const ringlite::Ring ring = ringlite::Ring::create(guard.config, demo_schema());
    for (const auto& [path, says] : {std::pair{fifo, std::string("regular file")},
                                     std::pair{r.folder, std::string("_ringlite_segments")}}) {
      for (const std::string& cmd :
           {"info " + q(path.string()), "query --db " + q(path.string()) + " 'SELECT 1'",
            "replay --speed max --ring " + guard.config.name + " --db " + q(path.string())}) {
        INFO(cmd);
        const auto res = run_shell("timeout 20 " + q(cli_path()) + " " + cmd);
        CHECK(res.exit_code != 124);  // timed out: it hung
        check_one_line_usage_error(res, says);
      }
    }
  }
}

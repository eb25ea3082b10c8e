// `ringlite query` and `ringlite tail` as users run them: real `ringlite bridge` and
// `produce` processes, the union of history and live ring while the bridge is stopped,
// consistent live answers while the ring wraps at full rate, the three output formats,
// refusals of bad input (nothing written, nothing created), and tail --last/--follow.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bridged.hpp"
#include "checks.hpp"
#include "proc.hpp"
#include "ringlite/config.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

struct Setup : Bridged {
  explicit Setup(const std::string& capacity = "1MiB", const std::string& db_path = "")
      : Bridged({.tag = "query", .capacity = capacity, .db_path = db_path}) {}
};

std::string q(const std::string& s) { return shell_word(s); }

RunResult query(const Setup& s, const std::string& sql,
                const std::string& options = "--format csv") {
  return run_cli("query -c " + q(s.config) + " " + options + " " + q(sql));
}

std::vector<std::string> lines(const std::string& text, char sep = '\n') {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line, sep)) out.push_back(line);
  return out;
}

/// The second CSV line (the first row), split at commas (values here never hold one).
std::vector<std::string> csv_row(const std::string& out) {
  auto l = lines(out);
  REQUIRE(l.size() >= 2);
  std::string row = l[1];
  if (!row.empty() && row.back() == '\r') row.pop_back();
  return lines(row, ',');
}

void exec_rw(const std::string& db, const std::string& sql) { exec_sql(db, sql); }

/// A single error line on stderr, in the house format, and nothing on stdout.
void check_refused(const RunResult& r, int exit_code, const std::string& mentions) {
  INFO("stderr: ", r.err, "stdout: ", r.out);
  CHECK(r.exit_code == exit_code);
  CHECK(r.err.rfind("ringlite: cannot run query: ", 0) == 0);
  CHECK(lines(r.err).size() == 1);
  CHECK(r.err.find(mentions) != std::string::npos);
}

constexpr const char* kTorn =
    "coalesce(sum(substr(buffer, instr(buffer, '-') + 1) != CAST(a AS TEXT) "
    "OR b != a * 0.5 OR c != a * 0.5), 0)";

/// k * 0.5 as the formats print it: "47.5", "48.0".
std::string half(int k) { return std::to_string(k / 2) + (k % 2 ? ".5" : ".0"); }

Sensor sensor(int k) {
  Sensor s{};
  s.a = k;
  s.b = static_cast<float>(k) * 0.5f;
  s.c = k * 0.5;
  std::snprintf(s.buffer, sizeof s.buffer, "p0-%d", k);
  return s;
}

}  // namespace

TEST_SUITE("query") {
  TEST_CASE(
      "query --live answers consistently while producers write at full rate and the ring wraps") {
    Setup s("1MiB");
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    const pid_t producer = spawn_cli(
        cli_path(),
        {"produce", "-c", s.config, "--type", "sensor", "--producers", "2", "--count", "300000"},
        s.log);
    int produced = -1, queries = 0;
    const std::string sql =
        std::string("SELECT count(*), count(DISTINCT seq), min(seq), max(seq), ") + kTorn +
        " FROM live.sensor";
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while ((produced < 0 && (produced = try_wait(producer)) < 0) || queries < 10) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      const auto r = query(s, sql, "--live --format csv");
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      const auto v = csv_row(r.out);
      REQUIRE(v.size() == 5);
      CHECK(v[0] == v[1]);                         // no seq twice
      CHECK(std::stoll(v[0]) <= (1 << 20) / 112);  // never more than the ring holds
      CHECK(v[4] == "0");                          // no torn row
      if (std::stoll(v[0]) > 0) CHECK(std::stoll(v[3]) - std::stoll(v[2]) < (1 << 20));
      ++queries;
    }
    CHECK(produced == 0);
    REQUIRE(s.wait_drained(60s));
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    MESSAGE(queries, " live queries during the load");
  }

  TEST_CASE(
      "history union live returns every record exactly once while the bridge is stopped mid-load") {
    constexpr int kProducers = 2, kCount = 150'000, kTotal = kProducers * kCount;
    Setup s("8MiB");  // wraps four times; whatever is written after the stop still fits
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    // Paced, so the bridge keeps up until it is stopped: the rest then fits in the ring.
    const pid_t producer = spawn_cli(
        cli_path(),
        {"produce", "-c", s.config, "--type", "sensor", "--producers", std::to_string(kProducers),
         "--count", std::to_string(kCount), "--rate", "300000"},
        s.log);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    // Stop the bridge late enough that the ring has wrapped, early enough that what is
    // still to come plus what the bridge has not drained fits in the ring. (A bridge slower
    // than the producers, as under sanitizers, is stopped near the end with a full ring.)
    for (;;) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      const auto st = s.stats();
      const std::uint64_t pending = (kTotal - st.records_written) * 112 + st.used();
      if (st.records_written >= 200'000 && pending < st.capacity * 3 / 4) break;
      std::this_thread::sleep_for(1ms);
    }
    ::kill(bridge, SIGSTOP);
    REQUIRE(wait_stopped(bridge));
    int produced = -1;
    while ((produced = try_wait(producer)) < 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    if (produced < 0) ::kill(bridge, SIGCONT);  // the producers are stuck on a full ring
    REQUIRE(produced == 0);
    const auto st = s.stats();
    CHECK(st.head < st.tail);  // part of the data is only in the ring

    const std::string u =
        "(SELECT * FROM sensor UNION ALL SELECT * FROM live.sensor "
        "WHERE seq > (SELECT coalesce(max(seq), -1) FROM sensor))";
    const auto r =
        query(s,
              "SELECT count(*), count(DISTINCT buffer), " + std::string(kTorn) +
                  ", sum(a < 0 OR a >= " + std::to_string(kCount) +
                  " OR buffer NOT GLOB 'p[01]-*'), (SELECT count(*) FROM sensor) FROM " + u,
              "--live --format csv");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto v = csv_row(r.out);
    REQUIRE(v.size() == 5);
    CHECK(v[0] == std::to_string(kTotal));  // every record once...
    CHECK(v[1] == std::to_string(kTotal));  // ...each a different one of the kTotal produced
    CHECK(v[2] == "0");
    CHECK(v[3] == "0");
    MESSAGE("history held ", v[4], " of ", kTotal, " records; the live ring the rest");
    CHECK(std::stoll(v[4]) > 0);
    CHECK(std::stoll(v[4]) < kTotal);

    ::kill(bridge, SIGCONT);
    REQUIRE(s.wait_drained(60s));
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    CHECK(csv_row(query(s, "SELECT count(DISTINCT buffer) FROM sensor").out)[0] ==
          std::to_string(kTotal));
  }

  TEST_CASE(
      "csv quotes commas, quotes and line breaks, json escapes, and table aligns under a header") {
    Setup s;
    exec_rw(s.db,
            "CREATE TABLE t (name TEXT, n INTEGER, r REAL, b BLOB);"
            "INSERT INTO t VALUES ('plain', 1, 0.5, x'00ff'), ('a,b', -2, 1.0, NULL),"
            "('say \"hi\"', NULL, -1e300, x''), ('line1' || char(10) || 'line2', 3, NULL, NULL),"
            "('tab' || char(9) || 'x' || char(1), 4, 2.5, NULL), ('h\xc3\xa9llo \xe2\x9c\x93', 5, "
            "1e-5, NULL),"
            "(CAST(x'ff2d6279746573' AS TEXT), 6, 9e999, NULL);");
    const std::string all = "SELECT * FROM t ORDER BY rowid";
    const auto csv = query(s, all, "--format csv");
    REQUIRE_MESSAGE(csv.exit_code == 0, csv.err);
    CHECK(csv.out ==
          "name,n,r,b\r\n"
          "plain,1,0.5,00ff\r\n"
          "\"a,b\",-2,1.0,\r\n"
          "\"say \"\"hi\"\"\",,-1e+300,\r\n"
          "\"line1\nline2\",3,,\r\n"
          "tab\tx\x01,4,2.5,\r\n"
          "h\xc3\xa9llo \xe2\x9c\x93,5,1e-05,\r\n"
          "\xff-bytes,6,Inf,\r\n");
    const auto json = query(s, all, "--format json");
    REQUIRE_MESSAGE(json.exit_code == 0, json.err);
    CHECK(json.out ==
          "{\"name\":\"plain\",\"n\":1,\"r\":0.5,\"b\":\"00ff\"}\n"
          "{\"name\":\"a,b\",\"n\":-2,\"r\":1.0,\"b\":null}\n"
          "{\"name\":\"say \\\"hi\\\"\",\"n\":null,\"r\":-1e+300,\"b\":\"\"}\n"
          "{\"name\":\"line1\\u000aline2\",\"n\":3,\"r\":null,\"b\":null}\n"
          "{\"name\":\"tab\\u0009x\\u0001\",\"n\":4,\"r\":2.5,\"b\":null}\n"
          "{\"name\":\"h\xc3\xa9llo \xe2\x9c\x93\",\"n\":5,\"r\":1e-05,\"b\":null}\n"
          "{\"name\":\"\xef\xbf\xbd-bytes\",\"n\":6,\"r\":null,\"b\":null}\n");
    const auto table =
        query(s, "SELECT name, n FROM t WHERE n IN (1, -2, 5) ORDER BY rowid", "--format table");
    CHECK(table.out ==
          "name     n\n"
          "-------  --\n"
          "plain     1\n"
          "a,b      -2\n"
          "h\xc3\xa9llo \xe2\x9c\x93   5\n");
    CHECK(query(s, "SELECT b, n, name FROM t WHERE rowid IN (1, 2, 4) ORDER BY rowid", "").out ==
          "b        n   name\n"
          "-------  --  ------------\n"
          "x'00ff'   1  plain\n"
          "NULL     -2  a,b\n"
          "NULL      3  line1\\nline2\n");
    // Every statement runs; each result set has its own header.
    CHECK(query(s, "SELECT 1 AS x; SELECT 'two' AS y;", "--format csv").out ==
          "x\r\n1\r\ny\r\ntwo\r\n");
  }

  TEST_CASE(
      "bad SQL, writes and unreadable databases are refused with one line and exit 2, nothing "
      "written") {
    Setup s;
    exec_rw(s.db, "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2);");
    const std::string before = read_file(s.db);
    const std::string copy = (s.dir / "copy.db").string(), fresh = (s.dir / "new.db").string();
    check_refused(query(s, "SELEC 1"), 2, "syntax error");
    check_refused(query(s, "SELECT * FROM nosuch"), 2, "no such table: nosuch");
    for (const std::string& sql :
         std::vector<std::string>{"INSERT INTO t VALUES (3)", "DELETE FROM t", "UPDATE t SET n = 0",
                                  "DROP TABLE t", "CREATE TABLE x (a)", "CREATE INDEX i ON t(n)",
                                  "VACUUM INTO '" + copy + "'", "REPLACE INTO t VALUES (9)"}) {
      INFO(sql);
      check_refused(query(s, sql), 2, "read-only");
    }
    check_refused(query(s, "PRAGMA query_only = 0"), 2, "not authorized");
    check_refused(query(s, "ATTACH '" + fresh + "' AS n"), 2, "unable to open database");
    check_refused(query(s, "ATTACH ':memory:' AS m; CREATE TABLE m.x (a)"), 2, "read-only");
    check_refused(query(s, " ; -- nothing"), 2, "no statement");
    CHECK(read_file(s.db) == before);
    CHECK(!std::filesystem::exists(copy));
    CHECK(!std::filesystem::exists(fresh));

    // No ring to attach is a runtime failure (is the bridge running?): exit 1.
    check_refused(query(s, "SELECT 1", "--live"), 1, "cannot open ring '" + s.ring + "'");
    CHECK(run_cli("query -c " + q(s.config) + " --format xml 'SELECT 1'").exit_code == 2);
  }

  TEST_CASE(
      "several statements are all checked before any runs: a later write or error prints "
      "nothing") {
    Setup s;
    exec_rw(s.db, "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2);");
    const std::string before = read_file(s.db);
    for (const auto& [sql, mentions] : std::vector<std::pair<std::string, std::string>>{
             {"SELECT count(*) AS n FROM t; INSERT INTO t VALUES (3)", "read-only"},
             {"SELECT * FROM t; DELETE FROM t", "'DELETE FROM t' would write"},
             {"SELECT 1; SELECT 2; UPDATE t SET n = 0;", "'UPDATE t SET n = 0' would write"},
             {"SELECT 1; PRAGMA journal_mode = WAL", "read-only"},
             {"SELECT 1; PRAGMA main.user_version = 7", "read-only"},
             {"PRAGMA journal_mode; SELEC 2", "syntax error"},
             {"SELECT n FROM t; SELECT * FROM nosuch", "no such table: nosuch"},
         }) {
      INFO(sql);
      const auto r = query(s, sql);
      check_refused(r, 2, mentions);
      CHECK(r.out.empty());
    }
    CHECK(read_file(s.db) == before);
    // ATTACH runs while the statements are checked, so a later one may read what it attached.
    const std::string other = (s.dir / "other.db").string();
    exec_rw(other, "CREATE TABLE u (m TEXT); INSERT INTO u VALUES ('x');");
    const auto attached = query(s, "ATTACH '" + other + "' AS o; SELECT m FROM o.u");
    CHECK_MESSAGE(attached.exit_code == 0, attached.err);
    CHECK(attached.out == "m\r\nx\r\n");
  }

  TEST_CASE("read-only pragmas and EXPLAIN run, in WAL and rollback databases") {
    Setup s;
    exec_rw(s.db, "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2);");
    const auto mode = [&](const std::string& sql) {
      const auto r = query(s, sql);
      INFO(sql, ": ", r.err);
      CHECK(r.exit_code == 0);
      return r.out;
    };
    CHECK(mode("PRAGMA journal_mode") == "journal_mode\r\ndelete\r\n");
    CHECK(mode("PRAGMA main.journal_mode") == "journal_mode\r\ndelete\r\n");
    CHECK(mode("SELECT count(*) AS n FROM t; PRAGMA journal_mode") ==
          "n\r\n2\r\njournal_mode\r\ndelete\r\n");
    CHECK(mode("PRAGMA user_version") == "user_version\r\n0\r\n");
    CHECK(mode("EXPLAIN DELETE FROM t").find("opcode") != std::string::npos);
    CHECK(mode("EXPLAIN QUERY PLAN UPDATE t SET n = 0").rfind("id,parent,notused,detail\r\n", 0) ==
          0);
    exec_rw(s.db, "PRAGMA journal_mode = WAL;");
    CHECK(mode("PRAGMA journal_mode") == "journal_mode\r\nwal\r\n");
    CHECK(mode("PRAGMA main.journal_mode") == "journal_mode\r\nwal\r\n");
    CHECK(mode("SELECT count(*) AS n FROM t") == "n\r\n2\r\n");
    // Setting the mode, or checkpointing, writes: still refused.
    check_refused(query(s, "PRAGMA journal_mode = DELETE"), 2, "read-only");
    check_refused(query(s, "PRAGMA wal_checkpoint"), 2, "read-only");
    CHECK(mode("PRAGMA journal_mode") == "journal_mode\r\nwal\r\n");
  }

  TEST_CASE(
      "a config without [database] is refused with exit 2 instead of querying an empty database") {
    Setup s;
    write_file(s.config, "[ring]\nname = \"" + s.ring + "\"\n[schema]\nfile = \"" +
                             (source_dir() / "schema" / "demo.sql").string() + "\"\n");
    const auto r = query(s, "SELECT 1 AS one");
    check_refused(r, 2, "invalid config '" + s.config + "': query needs a [database] section");
    CHECK(r.out.empty());
  }

  TEST_CASE(
      "query --live reads a ring that has no database, and names the missing [database] for "
      "the rest") {
    // A replay target or a ring nobody bridges: the live ring is the data.
    Setup s;
    write_file(s.config, "[ring]\nname = \"" + s.ring + "\"\n[schema]\nfile = \"" +
                             (source_dir() / "schema" / "demo.sql").string() + "\"\n");
    REQUIRE(run_cli("ring create -c " + q(s.config)).exit_code == 0);
    const auto produced = run_cli("produce -c " + q(s.config) + " --type sensor --count 250");
    INFO("produce: ", produced.err);
    REQUIRE(produced.exit_code == 0);

    const auto r = query(s, "SELECT count(*) AS n, min(a) AS lo, max(a) AS hi FROM live.sensor",
                         "--live --format csv");
    INFO("stderr: ", r.err);
    CHECK(r.exit_code == 0);
    CHECK(csv_row(r.out) == std::vector<std::string>{"250", "0", "249"});

    // An unqualified name finds the live table (SQLite searches attached schemas too); the
    // history does not exist, and the error says why.
    CHECK(csv_row(query(s, "SELECT count(*) FROM sensor", "--live --format csv").out) ==
          std::vector<std::string>{"250"});
    const auto history = query(s, "SELECT count(*) FROM main.sensor", "--live --format csv");
    check_refused(history, 2, "no such table: main.sensor (the config has no [database]");
    CHECK(history.out.empty());
    const auto write = query(s, "CREATE TABLE t(x)", "--live --format csv");
    check_refused(write, 2, "would write to the database: query is read-only");
  }

  TEST_CASE(
      "a database.path that cannot be read is a config error naming the key and the config "
      "file") {
    Setup s;
    const auto check_path = [&](const std::string& db, const std::string& cause) {
      Setup bad("1MiB", db);
      const auto r = query(bad, "SELECT 1");
      INFO("database.path = ", db);
      check_refused(
          r, 2,
          "cannot open database '" + db + "' (database.path in '" + bad.config + "'): " + cause);
      CHECK(r.out.empty());
    };
    // A missing file (never created), a missing folder, a folder, a file of another kind.
    check_path((s.dir / "missing.db").string(), "no such file");
    CHECK(!std::filesystem::exists(s.dir / "missing.db"));
    check_path((s.dir / "nosuch" / "history.db").string(),
               "no such folder '" + (s.dir / "nosuch").string() + "'");
    CHECK(!std::filesystem::exists(s.dir / "nosuch"));
    check_path(s.dir.path().string(), "it is a directory");
    write_file(s.dir / "junk.db", std::string(4096, 'x'));
    check_path((s.dir / "junk.db").string(), "file is not a database");

    // A read-only folder: holding no database, and holding a WAL database that cannot be read
    // without creating its -shm file there. Root ignores permissions: drop that power.
    std::string prefix;
    if (::geteuid() == 0) {
      if (run_shell("setpriv --bounding-set -dac_override,-dac_read_search true").exit_code != 0) {
        MESSAGE("root without setpriv: read-only folder cases skipped");
        return;
      }
      prefix = "setpriv --bounding-set -dac_override,-dac_read_search ";
    }
    const auto ro = s.dir / "ro";
    std::filesystem::create_directories(ro);
    exec_rw((ro / "wal.db").string(),
            "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);");
    REQUIRE(!std::filesystem::exists(ro / "wal.db-shm"));  // closed cleanly: no -shm left
    std::filesystem::permissions(
        ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
                std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
                std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
    for (const auto& [name, cause] : std::vector<std::pair<std::string, std::string>>{
             {"missing.db", "no such file"}, {"wal.db", "-shm"}}) {
      Setup bad("1MiB", (ro / name).string());
      const auto r = run_shell(prefix + "'" + cli_path() + "' query -c " + q(bad.config) +
                               " 'SELECT count(*) FROM t'");
      INFO(name);
      check_refused(r, 2, "(database.path in '" + bad.config + "'): ");
      CHECK(r.err.find(cause) != std::string::npos);
    }
    std::filesystem::permissions(ro, std::filesystem::perms::owner_all);
  }
}

TEST_SUITE("tail") {
  TEST_CASE("tail --last N prints exactly the N newest records, of one type or of all") {
    Setup s;
    const Ring ring = Ring::create(s.ring_config(), demo_schema());
    {
      Producer p(ring);
      auto w = p.writer<Sensor>("sensor");
      auto logs = p.writer<Log>("log");
      for (int k = 0; k < 100; ++k) REQUIRE(w.try_write(sensor(k)) == WriteResult::ok);
      REQUIRE(logs.try_write(Log{3, 7, 0, 0}, {"last words"}) == WriteResult::ok);
    }
    const auto tail = [&](const std::string& options) {
      return run_cli("tail -c " + q(s.config) + " " + options);
    };
    const auto csv = tail("--type sensor --last 5 --format csv");
    REQUIRE_MESSAGE(csv.exit_code == 0, csv.err);
    const auto l = lines(csv.out);
    REQUIRE(l.size() == 6);
    CHECK(l[0] == "seq,ts_ns,producer,a,b,c,buffer\r");
    for (int i = 0; i < 5; ++i) {
      const int k = 95 + i;
      CHECK(l[1 + i].find(",0," + std::to_string(k) + "," + half(k)) != std::string::npos);
    }
    const auto json = tail("--last 3 --format json");
    REQUIRE_MESSAGE(json.exit_code == 0, json.err);
    const auto j = lines(json.out);
    REQUIRE(j.size() == 3);
    CHECK(j[0].find("{\"type\":\"sensor\",\"seq\":") == 0);
    CHECK(j[1].find("\"buffer\":\"p0-99\"}") != std::string::npos);
    CHECK(j[2].find("{\"type\":\"log\",") == 0);
    CHECK(j[2].find("\"level\":3,\"code\":7,\"message\":\"last words\"}") != std::string::npos);
    const auto table = tail("--last 2");
    REQUIRE(lines(table.out).size() == 4);
    CHECK(lines(table.out)[0].find("type") == 0);
    CHECK(lines(table.out)[3].find("level=3 code=7 message='last words'") != std::string::npos);
    CHECK(lines(tail("--type sensor --last 1000 --format csv").out).size() == 101);
    CHECK(lines(tail("--type sensor").out).size() == 12);  // default: the 10 newest

    const auto no_type = tail("--format csv");
    CHECK(no_type.exit_code == 2);
    CHECK(no_type.err.find("--type") != std::string::npos);
    CHECK(tail("--type nosuch").exit_code == 2);
    Ring::remove(s.ring_config());
    const auto gone = tail("--last 1");
    CHECK(gone.exit_code == 1);
    CHECK(gone.err.rfind("ringlite: cannot open ring", 0) == 0);
  }

  TEST_CASE("tail --follow prints records committed after it started and exits 0 on SIGTERM") {
    Setup s;
    const Ring ring = Ring::create(s.ring_config(), demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    for (int k = 0; k < 10; ++k) REQUIRE(w.try_write(sensor(k)) == WriteResult::ok);
    const std::string out = (s.dir / "tail.out").string();
    const pid_t tail = spawn_cli(
        cli_path(),
        {"tail", "-c", s.config, "--type", "sensor", "--last", "2", "--follow", "--format", "csv"},
        out);
    const auto wait_lines = [&](std::size_t n) {
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (lines(read_file(out)).size() < n && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
      }
      return lines(read_file(out)).size();
    };
    REQUIRE(wait_lines(3) == 3);  // header and the two newest: the scan is done
    for (int k = 10; k < 60; ++k) REQUIRE(w.try_write(sensor(k)) == WriteResult::ok);
    CHECK(wait_lines(53) == 53);
    ::kill(tail, SIGTERM);
    CHECK(wait_exit(tail) == 0);
    const auto l = lines(read_file(out));
    REQUIRE(l.size() == 53);
    for (int k = 8; k < 60; ++k) {
      INFO("record ", k);
      CHECK(l[static_cast<std::size_t>(k - 7)].find(",0," + std::to_string(k) + ",") !=
            std::string::npos);
    }
  }

  TEST_CASE("tail --follow reports on stderr how much it lost when producers lap it") {
    Setup s;
    RingConfig rc = s.ring_config();
    rc.capacity = 1 << 16;
    const Ring ring = Ring::create(rc, demo_schema());
    const std::string out = (s.dir / "tail.out").string();
    const pid_t tail = spawn_cli(
        cli_path(), {"tail", "-c", s.config, "--type", "sensor", "--last", "0", "--follow"}, out);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (read_file(out).find("seq") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ::kill(tail, SIGSTOP);
    REQUIRE(wait_stopped(tail));
    {
      Producer p(ring, OnFull::drop);
      auto w = p.writer<Sensor>("sensor");
      Consumer consumer(ring);
      Batch batch;
      for (int k = 0; k < 5000;) {  // ~8 laps of the 64 KiB ring
        if (w.try_write(sensor(k)) == WriteResult::ok) {
          ++k;
          continue;
        }
        batch.clear();
        REQUIRE(consumer.poll(batch, 1 << 20) == PollStatus::ok);
        consumer.advance(batch.end);
      }
    }
    ::kill(tail, SIGCONT);
    while (read_file(out).find("ringlite: tail lapped: ") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ::kill(tail, SIGTERM);
    CHECK(wait_exit(tail) == 0);
    const std::string text = read_file(out);
    INFO(text.substr(0, 2000));
    CHECK(text.find("ringlite: tail lapped: ") != std::string::npos);
    CHECK(text.find("bytes of records skipped") != std::string::npos);
    CHECK(text.find("p0-4999") != std::string::npos);  // it caught up with the newest
  }
}

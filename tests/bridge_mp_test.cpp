// The bridge as users run it: `ringlite bridge` and `ringlite produce` processes, killed
// and restarted with real signals, while a reader polls the database through the stock
// sqlite3 library. Afterwards every record must be in its table exactly once.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include "bridged.hpp"
#include "proc.hpp"
#include "ringlite/config.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

struct Setup : Bridged {
  explicit Setup(const std::string& extra_database = "")
      : Bridged({.tag = "bridge", .extra_database = extra_database, .stats_interval = "1", .unblock_timeout = "500ms"}) {}
};

}  // namespace

TEST_SUITE("bridge_multiprocess") {
  TEST_CASE("records land exactly once while the bridge is SIGKILLed and restarted at random moments") {
    Setup s;
    kill_and_restart_under_load(s, 4, 250'000, 10, 240s);
  }

  TEST_CASE("SIGTERM drains and commits what is in the ring, exits 0, and a restart resumes without loss") {
    constexpr int kProducers = 2, kCount = 200'000;
    Setup s;
    pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    const pid_t producer = s.produce(kProducers, kCount);
    int produced = -1;
    for (int round = 0; round < 5 && produced < 0; ++round) {
      std::this_thread::sleep_for(150ms);
      ::kill(bridge, SIGTERM);
      CHECK(wait_exit(bridge) == 0);
      bridge = s.bridge();
      produced = try_wait(producer);
    }
    if (produced < 0) produced = wait_exit(producer);
    CHECK(produced == 0);
    REQUIRE(s.wait_drained(60s));
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    INFO(s.bridge_log());
    check_exactly_once(s.db, kProducers, kCount);
  }

  TEST_CASE("a reader polling through the stock sqlite3 library never sees an error and the WAL stays bounded") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    std::atomic<bool> done{false};
    std::atomic<int> errors{0}, polls{0};
    std::atomic<long long> max_wal{0}, last_count{0};
    std::thread reader([&] {
      sqlite3* h = nullptr;
      if (sqlite3_open_v2(s.db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) ++errors;
      sqlite3_busy_timeout(h, 2000);
      while (!done) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(h, "SELECT count(*) FROM sensor", -1, &st, nullptr) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
          ++errors;
        } else {
          const long long n = sqlite3_column_int64(st, 0);
          if (n < last_count) ++errors;  // a committed row never disappears
          last_count = n;
        }
        sqlite3_finalize(st);
        ++polls;
        struct stat wal {};
        if (::stat((s.db + "-wal").c_str(), &wal) == 0) max_wal = std::max<long long>(max_wal, wal.st_size);
        std::this_thread::sleep_for(2ms);
      }
      sqlite3_close(h);
    });
    const pid_t producer = s.produce(2, 300'000);
    CHECK(wait_exit(producer) == 0);
    CHECK(s.wait_drained(60s));
    // Everything is committed: the polling reader must come to see all of it.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (last_count < 600'000 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    done = true;
    reader.join();
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    CHECK(errors == 0);
    CHECK(polls > 50);
    CHECK(last_count == 600'000);
    // Bound: the bridge checkpoints every second, so the WAL holds at most about a
    // second of inserts; 600k sensor rows are ~60 MB of database, the WAL stays far below.
    MESSAGE("max WAL size: ", max_wal.load(), " bytes");
    CHECK(max_wal < 48ll << 20);
  }

  TEST_CASE("a full database stops the drain without loss, and everything lands once there is room") {
    // max_page_count caps the database (4 KiB pages): it fills up after some records.
    Setup s("[database.pragmas]\nmax_page_count = 600\n");
    pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    const pid_t producer = s.produce(1, 100'000);
    // The bridge cannot commit: head stops, the ring fills, producers see full and block.
    std::this_thread::sleep_for(3s);
    const auto stuck = s.stats();
    CHECK(try_wait(producer) < 0);
    CHECK(stuck.full_events > 0);
    CHECK(stuck.head < stuck.tail);
    CHECK(s.bridge_log().find("full") != std::string::npos);
    // Stopping now cannot commit: the bridge says so and exits 1; the records stay in the ring.
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 1);
    // Room again: a bridge with a higher limit persists everything.
    s.write_config("[database.pragmas]\nmax_page_count = 1000000\n");
    bridge = s.bridge();
    CHECK(wait_exit(producer) == 0);
    REQUIRE(s.wait_drained(60s));
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    INFO(s.bridge_log());
    check_exactly_once(s.db, 1, 100'000);
  }

  TEST_CASE("a record whose body is corrupt lands in _ringlite_rejects and the rest of its batch commits") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    {
      RingConfig rc;
      rc.name = s.ring;
      Producer p = Producer::open(rc);
      auto sensors = p.writer<Sensor>("sensor");
      auto logs = p.raw_writer("log");
      for (int k = 0; k < 100; ++k) REQUIRE(sensors.try_write(make_sensor(k)) == WriteResult::ok);
      // A log record whose TEXT column points past the end of the record.
      Log bad{1, 2, 4000, 10};
      std::vector<std::byte> bytes(sizeof bad + 10);
      std::memcpy(bytes.data(), &bad, sizeof bad);
      REQUIRE(logs.try_write(bytes) == WriteResult::ok);
      for (int k = 100; k < 200; ++k) REQUIRE(sensors.try_write(make_sensor(k)) == WriteResult::ok);
    }
    REQUIRE(s.wait_drained(20s));
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    CHECK(sql(s.db, "SELECT count(*) FROM sensor")[0] == "200");
    CHECK(sql(s.db, "SELECT count(*) FROM log")[0] == "0");
    CHECK(sql(s.db, "SELECT count(*) FROM _ringlite_rejects")[0] == "1");
    CHECK(sql(s.db, "SELECT length(payload) FROM _ringlite_rejects")[0] == "26");
    CHECK(sql(s.db, "SELECT reason FROM _ringlite_rejects")[0].find("message") != std::string::npos);
  }

  TEST_CASE("a bridge started against a changed schema is refused with the difference named") {
    Setup s;
    pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    RingConfig rc;
    rc.name = s.ring;
    Ring::remove(rc);
    const auto changed = (s.dir / "changed.sql").string();
    write_file(changed, "CREATE TABLE sensor (a INT32, b FLOAT64, c FLOAT64, buffer CHAR(64));\n"
                        "CREATE TABLE log (level UINT8, code INT32, message TEXT);\n");
    auto text = read_file(s.config);
    text.replace(text.find((source_dir() / "schema" / "demo.sql").string()),
                 (source_dir() / "schema" / "demo.sql").string().size(), changed);
    write_file(s.config, text);
    const auto r = run_cli("bridge -c '" + s.config + "'");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("sensor") != std::string::npos);
    CHECK(r.err.find("'b'") != std::string::npos);
  }

  TEST_CASE("an idle bridge sleeps: under 1% of a CPU, and a new record still lands promptly") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    std::this_thread::sleep_for(300ms);  // past start-up work
    const auto cpu0 = cpu_time(bridge);
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(3s);
    const auto used = cpu_time(bridge) - cpu0;
    const auto wall = std::chrono::steady_clock::now() - t0;
    INFO("idle bridge used ", used.count(), " ms of CPU in 3 s");
    CHECK(used * 100 < std::chrono::duration_cast<std::chrono::milliseconds>(wall));
    {
      RingConfig rc;
      rc.name = s.ring;
      Producer p = Producer::open(rc);
      REQUIRE(p.writer<Sensor>("sensor").try_write(make_sensor(7)) == WriteResult::ok);
    }
    REQUIRE(s.wait_drained(20s));
    CHECK(sql(s.db, "SELECT count(*) FROM sensor WHERE a = 7")[0] == "1");
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
  }

  TEST_CASE("a second bridge on the same ring is refused while the first lives") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    const auto r = run_cli("bridge -c '" + s.config + "'");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("another bridge (pid " + std::to_string(bridge) + ")") != std::string::npos);
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
  }
}

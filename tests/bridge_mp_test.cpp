// The bridge as users run it: `ringlite bridge` and `ringlite produce` processes, killed
// and restarted with real signals, while a reader polls the database through the stock
// sqlite3 library. Afterwards every record must be in its table exactly once.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

namespace fs = std::filesystem;

struct Setup : Bridged {
  explicit Setup(const std::string& extra_database = "")
      : Bridged({.tag = "bridge",
                 .extra_database = extra_database,
                 .stats_interval = "1",
                 .unblock_timeout = "500ms"}) {}
};

// The position up to which a database holds this ring's records (its progress row).
std::uint64_t progress_in(const std::string& db) {
  const auto rows = sql(db, "SELECT ifnull(max(position), 0) FROM _ringlite_progress");
  return std::stoull(rows.at(0));
}

// How the database goes away under a running bridge.
enum class Loss { deleted, replaced, wal_deleted };

// Records flow; the bridge is frozen, the database copied as it stands, then deleted or
// replaced (by that copy) or its WAL deleted, and the bridge let go. It must stop with one
// line naming the file before it advances head past what the file at the path holds, and a
// new bridge must then write every record still in the ring to the file at the path.
void lose_database_under_running_bridge(Loss how) {
  constexpr int kProducers = 2, kCount = 100'000;
  Setup s;
  const pid_t bridge = s.bridge();
  const ReapOnExit reap_bridge{bridge};
  REQUIRE(s.wait_drained(20s));
  const pid_t producer = s.produce(kProducers, kCount);
  const ReapOnExit reap_producer{producer};
  std::this_thread::sleep_for(300ms);
  ::kill(bridge, SIGSTOP);
  REQUIRE(wait_stopped(bridge));
  const auto snapshot = (s.dir / "snapshot.db").string();
  backup(s.db, snapshot);
  const std::uint64_t held = progress_in(snapshot);
  std::string named = s.db;
  switch (how) {
    case Loss::deleted:
      fs::remove(s.db);
      break;
    case Loss::replaced: {
      const auto copy = (s.dir / "copy.db").string();
      backup(s.db, copy);
      fs::rename(copy, s.db);
      break;
    }
    case Loss::wal_deleted:
      named = s.db + "-wal";
      fs::remove(named);
      break;
  }
  ::kill(bridge, SIGCONT);
  const int code = wait_exit_for(bridge, 20s);
  INFO(s.bridge_log());
  CHECK(code == 1);
  const auto log = s.bridge_log();
  const auto error = log.substr(std::min(log.rfind("ringlite: "), log.size()));
  CHECK(error.find("ringlite: cannot commit batch to database '" + s.db + "': ") == 0);
  CHECK(error.find("'" + named + "'") != std::string::npos);
  CHECK(error.find('\n') == error.size() - 1);  // one line
  CHECK(s.stats().head <= held);

  const pid_t again = s.bridge();
  const ReapOnExit reap_again{again};
  CHECK(wait_exit(producer) == 0);
  REQUIRE(s.wait_drained(60s));
  s.stop(again);
  CHECK(sql(s.db, "SELECT count(*) FROM _ringlite_rejects")[0] == "0");
  if (how == Loss::replaced) {
    check_exactly_once(s.db, kProducers, kCount);
    return;
  }
  // What the deleted file (or WAL) took is in the snapshot; everything after it, and what
  // the bridge wrote into the lost file, is in the file at the path.
  const auto in_either =
      "(SELECT seq, buffer FROM sensor UNION SELECT seq, buffer FROM snap.sensor)";
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(s.db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, ("ATTACH '" + snapshot + "' AS snap").c_str(), nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const std::string q = std::string("SELECT count(*), count(DISTINCT buffer) FROM ") + in_either;
  REQUIRE(sqlite3_prepare_v2(h, q.c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(st, 0) == kProducers * kCount);
  CHECK(sqlite3_column_int64(st, 1) == kProducers * kCount);
  sqlite3_finalize(st);
  sqlite3_close(h);
}

// A connection holding the write lock on `db` (BEGIN IMMEDIATE) until release().
struct WriteLock {
  explicit WriteLock(const std::string& db) {
    REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    REQUIRE(sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  void release() {
    if (h) sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(h);
    h = nullptr;
  }
  ~WriteLock() { release(); }
  sqlite3* h = nullptr;
};

// Runs `ringlite <args>` with the config written to a new file with this [database] path.
RunResult run_with_database_path(const Bridged& s, const std::string& verb,
                                 const std::string& path) {
  auto text = read_file(s.config);
  const std::string was = "path = \"" + s.db + "\"";
  text.replace(text.find(was), was.size(), "path = \"" + path + "\"");
  const auto config = (s.dir / "bad.toml").string();
  write_file(config, text);
  return run_cli(verb + " -c '" + config + "'");
}

// Producer processes writing sensor records k = 0, 1, ... (as `ringlite produce` does) as
// fast as the ring takes them, until stop(), which returns how many each wrote.
class Endless {
 public:
  Endless(const RingConfig& rc, int producers) {
    void* m =
        ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    shared_ = new (m) Shared{};
    for (int i = 0; i < producers; ++i) {
      pids_.push_back(spawn([this, rc, i] {
        Producer p = Producer::open(rc);
        auto w = p.writer<Sensor>("sensor");
        for (std::int32_t k = 0; !shared_->stop.load(); ++k) {
          Sensor rec{};
          rec.a = k;
          rec.b = static_cast<float>(k) * 0.5f;
          rec.c = static_cast<double>(k) * 0.5;
          std::snprintf(rec.buffer, sizeof rec.buffer, "p%d-%d", i, k);
          WriteResult r;
          while ((r = w.try_write(rec)) == WriteResult::full && !shared_->stop.load()) {
            std::this_thread::sleep_for(100us);
          }
          if (r == WriteResult::full) break;
          if (r != WriteResult::ok) return 1;
          shared_->written[i].store(k + 1);
        }
        return 0;
      }));
    }
  }
  Endless(const Endless&) = delete;
  Endless& operator=(const Endless&) = delete;
  ~Endless() {
    stop();
    ::munmap(shared_, sizeof(Shared));
  }

  std::vector<int> stop() {
    shared_->stop.store(true);
    std::vector<int> written;
    for (std::size_t i = 0; i < pids_.size(); ++i) {
      CHECK(wait_exit(pids_[i]) == 0);
      written.push_back(shared_->written[i].load());
    }
    pids_.clear();
    return written;
  }

 private:
  struct Shared {
    std::atomic<bool> stop{false};
    std::atomic<int> written[16]{};
  };
  Shared* shared_ = nullptr;
  std::vector<pid_t> pids_;
};

unsigned file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_SUITE("bridge_multiprocess") {
  TEST_CASE(
      "records land exactly once while the bridge is SIGKILLed and restarted at random moments") {
    Setup s;
    kill_and_restart_under_load(s, 4, 250'000, 10, 240s);
  }

  TEST_CASE(
      "SIGTERM drains and commits what is in the ring, exits 0, and a restart resumes without "
      "loss") {
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

  TEST_CASE(
      "a reader polling through the stock sqlite3 library never sees an error and the WAL stays "
      "bounded") {
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
        if (::stat((s.db + "-wal").c_str(), &wal) == 0)
          max_wal = std::max<long long>(max_wal, wal.st_size);
        std::this_thread::sleep_for(2ms);
      }
      sqlite3_close(h);
    });
    const pid_t producer = s.produce(2, 300'000);
    CHECK(wait_exit(producer) == 0);
    CHECK(s.wait_drained(60s));
    // Everything is committed: the polling reader must come to see all of it.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (last_count < 600'000 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    done = true;
    reader.join();
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    CHECK(errors == 0);
    CHECK(polls > 50);
    CHECK(last_count == 600'000);
    // Bound (docs/design.md, "Checkpoints"): the drain restarts the WAL at 32 MiB, and waits
    // for the checkpointer to do it past 64 MiB, so the -wal stays below 64 MiB plus one
    // batch (at most 65536 sensor rows: under 16 MiB of pages), a reader polling every 2 ms
    // or not. 600k sensor rows are ~60 MB of database: unbounded, the WAL would pass that.
    MESSAGE("max WAL size: ", max_wal.load(), " bytes");
    CHECK(max_wal < 80ll << 20);
  }

  TEST_CASE("a bridge whose database has locking_mode EXCLUSIVE starts, drains and stops") {
    // No checkpointer connection can read an exclusive database: the store used to fail
    // to open (busy) and the bridge to retry forever.
    Setup s("[database.pragmas]\nlocking_mode = \"EXCLUSIVE\"\n");
    const pid_t bridge = s.bridge();
    const pid_t producer = s.produce(1, 20'000);
    CHECK(wait_exit(producer) == 0);
    REQUIRE_MESSAGE(s.wait_drained(30s), s.bridge_log());
    ::kill(bridge, SIGTERM);
    CHECK(wait_exit(bridge) == 0);
    INFO(s.bridge_log());
    check_exactly_once(s.db, 1, 20'000);
  }

  TEST_CASE(
      "a full database stops the drain without loss, and everything lands once there is room") {
    // max_page_count caps the database (4 KiB pages, set here: the default is 16 KiB): it
    // fills up after some records.
    Setup s("[database.pragmas]\npage_size = 4096\nmax_page_count = 600\n");
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

  TEST_CASE(
      "a record whose body is corrupt lands in _ringlite_rejects and the rest of its batch "
      "commits") {
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
    CHECK(sql(s.db, "SELECT reason FROM _ringlite_rejects")[0].find("message") !=
          std::string::npos);
    CHECK(s.stats().rejects == 1);  // and `ringlite stat` counts it
  }

  TEST_CASE(
      "a ring that lost records the database already holds is refused, not drained over them") {
    Setup s;
    const pid_t bridge = s.bridge();
    CHECK(wait_exit(s.produce(1, 1000)) == 0);
    REQUIRE(s.wait_drained(20s));
    s.stop(bridge);
    {
      // As after a power loss under a file-backed ring: its cursors went back to the start.
      RawSegment raw(s.ring_config());
      raw.header().head.store(raw.header().start_position);
      raw.header().tail.store(raw.header().start_position);
    }
    const auto r = run_cli("bridge -c '" + s.config + "'");
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("is behind position") != std::string::npos);
    CHECK(r.err.find("ring remove") != std::string::npos);
    CHECK(sql(s.db, "SELECT count(*) FROM sensor")[0] == "1000");
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
    write_file(changed,
               "CREATE TABLE sensor (a INT32, b FLOAT64, c FLOAT64, buffer CHAR(64));\n"
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
  TEST_CASE(
      "the database deleted under a running bridge stops it before head passes what the path "
      "holds") {
    lose_database_under_running_bridge(Loss::deleted);
  }

  TEST_CASE(
      "the database replaced under a running bridge stops it, and the new file gets every record "
      "once") {
    lose_database_under_running_bridge(Loss::replaced);
  }

  TEST_CASE(
      "the WAL deleted under a running bridge stops it before head passes what the path holds") {
    lose_database_under_running_bridge(Loss::wal_deleted);
  }

  TEST_CASE("an idle bridge whose database is deleted stops within seconds") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    fs::remove(s.db);
    CHECK(wait_exit_for(bridge, 10s) == 1);
    CHECK(s.bridge_log().find("ringlite: cannot write database '" + s.db +
                              "': the file was deleted or moved away while open\n") !=
          std::string::npos);
  }

  TEST_CASE("a bridge of a second ring on the same database is refused and no record is rejected") {
    Setup a;
    Bridged b({.tag = "bridge-b", .db_path = a.db});
    const pid_t bridge_a = a.bridge();
    REQUIRE(a.wait_drained(20s));
    const pid_t bridge_b = spawn_cli(cli_path(), {"bridge", "-c", b.config}, b.log);
    const int code = wait_exit_for(bridge_b, 10s);
    const std::string refused =
        "ringlite: cannot open database '" + a.db + "': another process (pid " +
        std::to_string(bridge_a) +
        ") writes to it (a database takes the records of one ring at a time)\n";
    CHECK(code == 1);
    CHECK(b.bridge_log() == refused);
    const auto created = run_cli("ring create -c '" + b.config + "'");
    CHECK(created.exit_code == 1);
    CHECK(created.err == refused);
    // Bridge A drains on; were bridge B running, ring b's records would collide on seq.
    const pid_t pa = a.produce(1, 20'000);
    const pid_t pb = b.produce(1, 20'000);
    CHECK(wait_exit(pa) == 0);
    const int produced_b = wait_exit_for(pb, 30s);
    REQUIRE(a.wait_drained(60s));
    a.stop(bridge_a);
    CHECK(produced_b != 0);  // ring b was never created
    CHECK(sql(a.db, "SELECT count(*) FROM _ringlite_rejects")[0] == "0");
    check_exactly_once(a.db, 1, 20'000);
  }

  TEST_CASE(
      "a row the database refuses lands in _ringlite_rejects with its bytes and the bridge drains "
      "on") {
    TempDir schema_dir("poison");
    const auto schema = (schema_dir / "tick.sql").string();
    write_file(
        schema,
        "CREATE TABLE tick (n INT64, label CHAR(8));\nCREATE INDEX tick_abs ON tick(abs(n));\n");
    Bridged s({.tag = "poison", .schema = schema});
    const pid_t bridge = s.bridge();
    const ReapOnExit reap{bridge};
    REQUIRE(s.wait_drained(20s));
    struct Tick {
      std::int64_t n;
      char label[8];
    };
    const auto write = [&](int from, int to, int poison) {
      Producer p = Producer::open(s.ring_config());
      auto w = p.raw_writer("tick");
      for (int k = from; k < to; ++k) {
        Tick t{k == poison ? std::numeric_limits<std::int64_t>::min() : k, {}};
        const std::string label = "k" + std::to_string(k);
        std::memcpy(t.label, label.data(), std::min(label.size(), sizeof t.label));
        REQUIRE(w.try_write({reinterpret_cast<const std::byte*>(&t), sizeof t}) == WriteResult::ok);
      }
    };
    write(0, 500, 250);
    REQUIRE(s.wait_drained(20s));
    CHECK(sql(s.db, "SELECT count(*) FROM tick")[0] == "499");
    CHECK(sql(s.db, "SELECT count(*) FROM tick WHERE label = 'k250'")[0] == "0");
    CHECK(sql(s.db, "SELECT count(*) FROM _ringlite_rejects")[0] == "1");
    CHECK(sql(s.db, "SELECT reason FROM _ringlite_rejects")[0] ==
          "cannot insert into table 'tick': integer overflow");
    Tick poison{std::numeric_limits<std::int64_t>::min(), {}};
    std::memcpy(poison.label, "k250", 4);
    std::string hex;
    for (std::size_t i = 0; i < sizeof poison; ++i) {
      char two[3];
      std::snprintf(two, sizeof two, "%02X", reinterpret_cast<const unsigned char*>(&poison)[i]);
      hex += two;
    }
    CHECK(sql(s.db, "SELECT hex(payload) FROM _ringlite_rejects")[0] == hex);
    write(500, 600, -1);
    REQUIRE(s.wait_drained(20s));
    CHECK(sql(s.db, "SELECT count(*) FROM tick")[0] == "599");
    s.stop(bridge);
  }

  TEST_CASE(
      "a database locked for longer than any retry budget stalls the bridge without loss, never "
      "ends it") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    const ReapOnExit reap_bridge{bridge};
    const pid_t producer = s.produce(1, 100'000);
    const ReapOnExit reap_producer{producer};
    {
      WriteLock lock(s.db);
      std::this_thread::sleep_for(12s);
      REQUIRE_MESSAGE(try_wait(bridge) < 0, s.bridge_log());
      const auto stuck = s.stats();
      CHECK(stuck.head < stuck.tail);  // the records wait in the ring
    }
    CHECK(wait_exit(producer) == 0);
    REQUIRE(s.wait_drained(60s));
    CHECK(try_wait(bridge) < 0);
    const auto log = s.bridge_log();
    CHECK(log.find("database is locked") != std::string::npos);
    CHECK(log.find("records wait in the ring, retrying in ") != std::string::npos);
    CHECK(log.find("commit recovered") != std::string::npos);
    s.stop(bridge);
    INFO(log);
    check_exactly_once(s.db, 1, 100'000);
  }

  TEST_CASE("a bridge starting on a locked database waits for it, and SIGTERM still stops it") {
    Setup s;
    pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    s.stop(bridge);
    {
      WriteLock lock(s.db);
      bridge = spawn_cli(cli_path(), {"bridge", "-c", s.config}, s.log);
      std::this_thread::sleep_for(7s);  // past the 5 s an open waits inside SQLite
      CHECK(try_wait(bridge) < 0);
      CHECK(s.bridge_log().find("database is locked") != std::string::npos);
      CHECK(s.bridge_log().find("retrying in ") != std::string::npos);
      ::kill(bridge, SIGTERM);
      CHECK(wait_exit_for(bridge, 5s) == 0);
      // Released while a bridge waits: it opens and drains.
      bridge = spawn_cli(cli_path(), {"bridge", "-c", s.config}, s.log);
      std::this_thread::sleep_for(1s);
    }
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (
        !(s.stats().bridge_alive && s.stats().bridge_pid == static_cast<std::uint32_t>(bridge))) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, s.bridge_log());
      std::this_thread::sleep_for(10ms);
    }
    CHECK(wait_exit(s.produce(1, 1000)) == 0);
    REQUIRE(s.wait_drained(20s));
    s.stop(bridge);
    check_exactly_once(s.db, 1, 1000);
  }

  TEST_CASE(
      "SIGTERM stops a bridge whose producers outpace it within seconds, and a restart lands all "
      "once") {
    // Batches smaller than what the ring holds, and producers that write until told to
    // stop: there is always another full batch to read, for as long as the test wants.
    Bridged s({.tag = "outpace", .max_records = "500"});
    pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    Endless producers(s.ring_config(), 4);
    std::this_thread::sleep_for(1s);
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(bridge, SIGTERM);
    const int code = wait_exit_for(bridge, 5s);
    const auto took = std::chrono::steady_clock::now() - t0;
    INFO(s.bridge_log());
    CHECK(code == 0);
    MESSAGE("stopped in ", std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
            " ms");
    CHECK(s.stats().head < s.stats().tail);  // what came after the stop waits in the ring
    bridge = s.bridge();
    std::this_thread::sleep_for(500ms);
    const auto written = producers.stop();
    REQUIRE(s.wait_drained(60s));
    s.stop(bridge);
    check_exactly_once(s.db, written);
  }

  TEST_CASE(
      "the database, its -wal and its -shm get the ring's mode or database.mode, not the umask's") {
    const mode_t old = ::umask(022);
    {
      Setup s;
      const pid_t bridge = s.bridge();
      REQUIRE(s.wait_drained(20s));
      CHECK(file_mode(s.db) == 0600);
      CHECK(file_mode(s.db + "-wal") == 0600);
      CHECK(file_mode(s.db + "-shm") == 0600);
      s.stop(bridge);
    }
    {
      Setup s("mode = \"0640\"\n");
      const auto created = run_cli("ring create -c '" + s.config + "'");
      CHECK(created.exit_code == 0);
      CHECK(file_mode(s.db) == 0640);
      const pid_t bridge = s.bridge();
      REQUIRE(s.wait_drained(20s));
      CHECK(file_mode(s.db + "-wal") == 0640);
      CHECK(file_mode(s.db + "-shm") == 0640);
      s.stop(bridge);
    }
    ::umask(old);
  }

  TEST_CASE(
      "a database path that cannot be a database exits 2 with one line naming database.path") {
    Setup s;
    const auto folder = (s.dir / "sub").string();
    fs::create_directories(folder);
    const auto text = (s.dir / "notes.txt").string();
    write_file(text, std::string(4096, 'x'));
    // Root may write into any folder: then use one where nobody may create files.
    const auto ro = s.dir / "ro";
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    const auto read_only = ((::geteuid() == 0 ? fs::path("/sys") : ro) / "h.db").string();
    for (const std::string verb : {"bridge", "ring create"}) {
      for (const auto& path :
           {(s.dir / "no" / "such" / "h.db").string(), read_only, folder, text}) {
        CAPTURE(verb);
        CAPTURE(path);
        const auto r = run_with_database_path(s, verb, path);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("ringlite: invalid config '" + (s.dir / "bad.toml").string() +
                         "': 'database.path' ") == 0);
        CHECK(r.err.find("'" + path + "'") != std::string::npos);
        CHECK(r.err.find('\n') == r.err.size() - 1);
      }
    }
    fs::permissions(ro, fs::perms::owner_all);
    CHECK_THROWS_AS(s.stats(), Error);  // no ring was created on the way
  }

  TEST_CASE(
      "a ring whose schema differs from the config's is refused naming the column and both "
      "layouts") {
    Setup s;
    const pid_t bridge = s.bridge();
    REQUIRE(s.wait_drained(20s));
    s.stop(bridge);
    const auto changed = (s.dir / "changed.sql").string();
    write_file(changed,
               "CREATE TABLE sensor (a INT32, b FLOAT64, c FLOAT64, buffer CHAR(64));\n"
               "CREATE TABLE log (level UINT8, code INT32, message TEXT);\n"
               "CREATE INDEX log_level ON log(level);\n");
    auto text = read_file(s.config);
    const auto demo = (source_dir() / "schema" / "demo.sql").string();
    text.replace(text.find(demo), demo.size(), changed);
    text.replace(text.find(s.db), s.db.size(),
                 (s.dir / "fresh.db").string());  // the ring is the news
    write_file(s.config, text);
    const auto r = run_cli("bridge -c '" + s.config + "'");
    CHECK(r.exit_code == 2);
    CHECK(r.err ==
          "ringlite: cannot drain ring '" + s.ring + "': its schema differs from '" + changed +
              "': type 'sensor': column 'b' is FLOAT32 at offset 4 in the ring but FLOAT64 at "
              "offset 8 in "
              "the schema file (the ring has "
              "sensor{a:INT32@0,b:FLOAT32@4,c:FLOAT64@8,buffer:CHAR(64)@16}size=80,align=8, the "
              "schema "
              "file has "
              "sensor{a:INT32@0,b:FLOAT64@8,c:FLOAT64@16,buffer:CHAR(64)@24}size=88,align=8) "
              "(remove the ring with 'ringlite ring remove' when it is drained, or fix the "
              "config)\n");
  }
}

// What a damaged or hostile ring does to the commands that read it, run as an attacker
// would run them: real `ringlite` processes against rings whose header or segment was
// tampered with behind the library's back. Nothing may hang, spin, crash or ignore a
// signal; every refusal is one line on stderr.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bridged.hpp"
#include "proc.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/reader.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

std::string q(const std::string& s) { return shell_word(s); }

/// `ringlite <args>`, killed after `limit` seconds (exit 124 then).
RunResult run_limited(const std::string& args, int limit = 20) {
  return run_shell("timeout -s KILL " + std::to_string(limit) + " '" + cli_path() + "' " + args);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

/// A ring with some sensor records and no bridge; the config also names a database.
struct Quiet : Bridged {
  Quiet() : Bridged({.tag = "hostile"}) {
    const Ring r = Ring::create(ring_config(), demo_schema());
    Producer p(r);
    auto w = p.writer<Sensor>("sensor");
    for (int k = 0; k < 100; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
  }
};

/// Waits (up to 20 s) until the file holds `text`.
bool wait_for_text(const std::string& file, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (read_file(file).find(text) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return read_file(file).find(text) != std::string::npos;
}

/// `ringlite tail --last 1 --follow` (and `extra` options) on `s`'s ring, output to `out`,
/// once it has printed the newest record.
pid_t follow(const Bridged& s, const std::string& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"tail", "-c", s.config, "--last", "1", "--follow"};
  args.insert(args.end(), extra.begin(), extra.end());
  const pid_t pid = spawn_cli(cli_path(), args, out);
  REQUIRE(wait_for_text(out, "s-99"));
  return pid;
}

/// Shrinks a shared-memory ring's segment behind the library's back.
void truncate_segment(const std::string& ring, off_t size) {
  const int fd = ::shm_open(("/ringlite." + ring).c_str(), O_RDWR, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, size) == 0);
  ::close(fd);
}

}  // namespace

TEST_SUITE("hostile") {
  TEST_CASE(
      "a tail cursor set to 2^64-1 is refused by tail, query --live and stat with one line, at "
      "once") {
    Quiet s;
    s.stop(s.bridge());  // a database for query --live
    {
      RawSegment raw(s.ring_config());
      raw.header().tail.store(~0ull);
    }
    for (const std::string& cmd :
         {"tail -c " + q(s.config) + " --last 5 --follow",
          "query -c " + q(s.config) + " --live 'SELECT count(*) FROM live.sensor'",
          "stat -c " + q(s.config)}) {
      CAPTURE(cmd);
      const auto r = run_limited(cmd);
      INFO(r.err);
      CHECK(r.exit_code == 1);
      CHECK(lines(r.err).size() == 1);
      CHECK(r.err.find("corrupt header: cursors") != std::string::npos);
    }
  }

  TEST_CASE("tail --follow stops with an error when the tail cursor turns hostile under it") {
    Quiet s;
    const std::string out = (s.dir / "tail.out").string();
    const pid_t follower = follow(s, out);
    {
      RawSegment raw(s.ring_config());
      raw.header().tail.store(~0ull - 7);
    }
    CHECK(wait_exit_for(follower, 5s) == 1);
    CHECK(read_file(out).find("impossible") != std::string::npos);
  }

  TEST_CASE(
      "a tail cursor moved far ahead costs tail --follow one bounded re-seek, and SIGTERM still "
      "works") {
    Quiet s;
    const std::string out = (s.dir / "tail.out").string();
    const pid_t follower = follow(s, out);
    {
      RawSegment raw(s.ring_config());
      raw.header().tail.store(std::uint64_t{1} << 40);
    }
    std::this_thread::sleep_for(200ms);
    const auto before = cpu_time(follower);
    std::this_thread::sleep_for(1s);
    CHECK(cpu_time(follower) - before < 300ms);  // it sleeps between polls instead of spinning
    ::kill(follower, SIGTERM);
    CHECK(wait_exit_for(follower, 5s) == 0);
  }
}

TEST_SUITE("hostile") {
  TEST_CASE(
      "tail --follow follows a ring that is removed and created again under its name, and says "
      "so") {
    Quiet s;
    const std::string out = (s.dir / "tail.out").string();
    const pid_t follower = follow(s, out, {"--type", "sensor", "--format", "csv"});
    const auto wait_for = [&](const std::string& text) { return wait_for_text(out, text); };
    {
      Producer p(Ring::open(s.ring_config()));
      auto w = p.writer<Sensor>("sensor");
      for (int k = 100; k < 110; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    }
    Ring::remove(s.ring_config());
    CHECK(wait_for("waiting for a ring of that name"));
    {
      const Ring again = Ring::create(s.ring_config(), demo_schema());
      Producer p(again);
      auto w = p.writer<Sensor>("sensor");
      for (int k = 1000; k < 1050; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    }
    CHECK(wait_for("s-1049"));
    CHECK(wait_for("following the new ring"));
    ::kill(follower, SIGTERM);
    CHECK(wait_exit_for(follower, 5s) == 0);
    const std::string text = read_file(out);
    for (int k : {100, 109, 1000, 1025, 1049})
      CHECK(text.find("s-" + std::to_string(k) + "\r") != std::string::npos);
  }

  TEST_CASE(
      "a segment truncated under producers, the consumer and readers is reported, never a SIGBUS") {
    RingGuard g{ring_config("truncated", 1 << 20)};
    const Ring ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    for (int k = 0; k < 1000; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    Consumer c(Ring::open(g.config));
    LiveReader reader(Ring::open(g.config, Ring::Access::read_only));
    Batch b;
    REQUIRE(c.poll(b, 10) == PollStatus::ok);
    CHECK(b.frames.size() == 10);
    CHECK_FALSE(ring.truncated());

    truncate_segment(g.config.name, 8192);  // the header and the schema page stay

    // Each side touches the lost pages (this process would die of SIGBUS otherwise).
    LiveRecord rec;
    CHECK(reader.next(rec) == ReadStatus::truncated);
    b.clear();
    CHECK(c.poll(b, 1000) == PollStatus::truncated);
    CHECK(b.frames.empty());
    CHECK(w.try_write(make_sensor(0)) == WriteResult::corrupt);
    CHECK(ring.truncated());
    try {
      (void)ring.stats();
      FAIL("stats of a truncated ring");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("ring segment truncated") != std::string::npos);
    }
    // Opening it afresh is refused: the header's size no longer fits the segment.
    CHECK_THROWS_AS(Ring::open(g.config), Error);
  }

  TEST_CASE("tail --follow on a segment truncated under it exits 1 with one line, not signal 7") {
    Quiet s;
    const std::string out = (s.dir / "tail.out").string();
    const pid_t follower = follow(s, out);
    truncate_segment(s.ring, 8192);
    CHECK(wait_exit_for(follower, 5s) == 1);
    CHECK(read_file(out).find("ring segment truncated") != std::string::npos);
  }
}

TEST_SUITE("hostile") {
  TEST_CASE(
      "a ring another user created first with mode 0666 is refused by the bridge, producers and "
      "readers" *
      doctest::skip(::geteuid() != 0)) {  // only root can create a segment as another user
    Bridged s({.tag = "squat"});
    {
      const Ring r = Ring::create(s.ring_config(), demo_schema());
      const int fd = ::shm_open(("/ringlite." + s.ring).c_str(), O_RDWR, 0);
      REQUIRE(fd >= 0);
      REQUIRE(::fchown(fd, 65534, 65534) == 0);
      REQUIRE(::fchmod(fd, 0666) == 0);
      ::close(fd);
    }
    for (const std::string& cmd :
         {"bridge -c " + q(s.config), "produce -c " + q(s.config) + " --type sensor --count 10",
          "tail -c " + q(s.config), "stat -c " + q(s.config)}) {
      CAPTURE(cmd);
      const auto r = run_limited(cmd);
      INFO(r.err);
      CHECK(r.exit_code == 1);
      CHECK(lines(r.err).size() == 1);
      CHECK(r.err.find("is owned by uid 65534") != std::string::npos);
    }
    if (std::filesystem::exists(s.db))
      CHECK(sql(s.db, "SELECT count(*) FROM _ringlite_progress")[0] == "0");
  }
}

namespace {

/// Creates /ringlite.<name> by hand, as an attacker would: a well-formed header around
/// embedded layouts `text` of any size, and a 64 KiB data buffer.
void plant_ring(const std::string& name, const std::string& text) {
  const std::uint64_t data_offset = (detail::kHeaderSize + text.size() + 4095) / 4096 * 4096;
  const std::uint64_t capacity = 1 << 16;
  const int fd = ::shm_open(("/ringlite." + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(data_offset + capacity)) == 0);
  void* addr = ::mmap(nullptr, data_offset + capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(addr != MAP_FAILED);
  auto* h = static_cast<detail::RingHeader*>(addr);
  h->magic = detail::kMagic;
  h->header_size = detail::kHeaderSize;
  h->capacity = capacity;
  h->max_record = 1024;
  h->max_producers = detail::kMaxProducers;
  h->layouts_offset = detail::kHeaderSize;
  h->layouts_length = static_cast<std::uint32_t>(text.size());
  std::uint32_t hash = 2166136261u;  // FNV-1a, as the format says
  for (unsigned char ch : text) hash = (hash ^ ch) * 16777619u;
  h->layouts_hash = hash;
  h->data_offset = data_offset;
  h->segment_size = data_offset + capacity;
  h->creator_pid = static_cast<std::uint32_t>(::getpid());
  for (auto& p : h->producers) p.pending_pos.store(detail::kNoClaim);
  for (auto& e : h->hole_table) e.pos.store(detail::kNoClaim);
  for (auto& k : h->skips) k.pos.store(detail::kNoClaim);
  std::memcpy(static_cast<char*>(addr) + detail::kHeaderSize, text.data(), text.size());
  h->version.store(detail::pack_version(detail::kFormatMajor, detail::kFormatMinor));
  ::munmap(addr, data_offset + capacity);
}

/// Binary layouts (the ring format's) declaring `types` record types t0, t1, ... of one
/// INT8 field each: more than any ring may have, but well formed otherwise.
std::string many_types(std::uint16_t types) {
  std::string b = "RLTY";
  const auto put16 = [&](std::uint16_t v) {
    b += static_cast<char>(v & 0xff);
    b += static_cast<char>(v >> 8);
  };
  put16(1);
  put16(types);
  for (std::uint16_t i = 0; i < types; ++i) {
    const std::string name = "t" + std::to_string(i);
    b += static_cast<char>(name.size());
    b += '\0';
    put16(1);
    b += name;
    b += std::string("\0\1\0\0\0\0\0\0", 8);  // INT8, name length 1, N 0
    b += 'a';
  }
  return b;
}

}  // namespace

TEST_SUITE("hostile") {
  TEST_CASE("a planted ring with huge embedded layouts is refused by stat and ring list at once") {
    Bridged s({.tag = "bomb"});
    RingGuard guard{s.ring_config()};
    // The attack as found was 1 MiB of schema (35,000 tables; 70 s of parsing, before the
    // limits): more bytes than the limit are refused before anything is read.
    std::string text = many_types(60'000);
    REQUIRE(text.size() > detail::kMaxLayoutBytes);
    plant_ring(s.ring, text);
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_limited("stat -c " + q(s.config), 60);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("embedded layouts of") != std::string::npos);
    Ring::remove(s.ring_config());

    // Within the size limit, but too many types: refused before any is laid out.
    text = many_types(9000);
    REQUIRE(text.size() < detail::kMaxLayoutBytes);
    plant_ring(s.ring, text);
    t0 = std::chrono::steady_clock::now();
    r = run_limited("stat -c " + q(s.config), 60);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("9000 record types (1 to 1024)") != std::string::npos);
    t0 = std::chrono::steady_clock::now();
    r = run_limited("ring list", 60);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(s.ring + " ") != std::string::npos);
    CHECK(r.out.find("9000 record types") != std::string::npos);
  }
}

TEST_SUITE("hostile") {
  TEST_CASE(
      "stat --watch follows a ring created again under its name, and ends when it is gone for "
      "good") {
    Quiet s;
    const std::string out = (s.dir / "stat.out").string();
    const pid_t watcher = spawn_cli(
        cli_path(), {"stat", "-c", s.config, "--watch", "--json", "--interval", "0.05"}, out);
    const auto wait_for = [&](const std::string& text) { return wait_for_text(out, text); };
    const std::string first = Ring::open(s.ring_config()).stats().ring_id;
    REQUIRE(wait_for(first));
    Ring::remove(s.ring_config());
    const std::string second = Ring::create(s.ring_config(), demo_schema()).stats().ring_id;
    CHECK(wait_for(second));
    Ring::remove(s.ring_config());
    CHECK(wait_exit_for(watcher, 5s) == 1);
    CHECK(read_file(out).find("cannot open ring") != std::string::npos);
  }
}

TEST_SUITE("hostile") {
  TEST_CASE(
      "a segment truncated under a running bridge and producers stops them with one line, never "
      "signal 7") {
    Bridged s({.tag = "trunc", .capacity = "1MiB"});
    const pid_t bridge = s.bridge();
    const pid_t produce = s.produce(2, 2'000'000);
    ReapOnExit reap_bridge{bridge}, reap_produce{produce};
    while (std::stoll(sql(s.db, "SELECT count(*) FROM sensor")[0]) < 20'000)
      std::this_thread::sleep_for(10ms);
    truncate_segment(s.ring, 8192);
    CHECK(wait_exit_for(bridge, 10s) == 1);
    CHECK(wait_exit_for(produce, 10s) == 1);  // its producers report the damaged ring
    INFO(s.bridge_log());
    CHECK(s.bridge_log().find("ring segment truncated") != std::string::npos);
    CHECK(s.bridge_log().find("signal") == std::string::npos);
    // Everything committed is intact: the database checks out and every row is a record
    // as written (a record copied from a lost page would be zeros).
    CHECK(sql(s.db, "PRAGMA integrity_check")[0] == "ok");
    CHECK(
        sql(s.db, "SELECT count(*) FROM sensor WHERE buffer NOT LIKE 'p_-%' OR a * 0.5 != b")[0] ==
        "0");
  }

  TEST_CASE(
      "a ring removed under a running bridge is drained, then the bridge drains the ring under its "
      "name") {
    Bridged s({.tag = "renamed"});
    const pid_t bridge = s.bridge();
    ReapOnExit reap{bridge};
    CHECK(wait_exit(s.produce(1, 1000)) == 0);
    REQUIRE(s.wait_drained(20s));
    CHECK(run_cli("ring remove -c " + q(s.config)).exit_code == 0);
    // The bridge notices within a second or two and creates the ring again.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    bool back = false;
    while (!back && std::chrono::steady_clock::now() < deadline) {
      try {
        back = s.stats().bridge_pid == static_cast<std::uint32_t>(bridge);
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(back);
    CHECK(wait_exit(s.produce(1, 1000)) == 0);
    REQUIRE(s.wait_drained(20s));
    s.stop(bridge);
    INFO(s.bridge_log());
    CHECK(s.bridge_log().find("was removed") != std::string::npos);
    CHECK(sql(s.db, "SELECT count(*), count(DISTINCT seq) FROM sensor")[0] == "2000");
    CHECK(sql(s.db, "SELECT count(*) FROM sensor WHERE buffer = 'p0-999'")[0] == "2");
    CHECK(sql(s.db, "SELECT count(*) FROM _ringlite_rejects")[0] == "0");
  }

  TEST_CASE(
      "a database file others may write to, or another user created first, is refused by the "
      "bridge") {
    Bridged s({.tag = "dbsquat"});
    write_file(s.db, "");
    REQUIRE(::chmod(s.db.c_str(), 0666) == 0);
    auto r = run_limited("bridge -c " + q(s.config));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("mode 0666 lets every user write to it") != std::string::npos);
    if (::geteuid() == 0) {  // only root can hand the file to another user
      REQUIRE(::chmod(s.db.c_str(), 0600) == 0);
      REQUIRE(::chown(s.db.c_str(), 65534, 65534) == 0);
      r = run_limited("bridge -c " + q(s.config));
      INFO(r.err);
      CHECK(r.exit_code == 1);
      CHECK(r.err.find("it is owned by uid 65534") != std::string::npos);
    }
    CHECK(std::filesystem::file_size(s.db) == 0);  // nothing was written into it
  }
}

// Single-process behaviour of the ring: creation and validation, frames, wrap and padding,
// capacity accounting, full-ring policies, variable-length records, corruption handling.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "detail/format.hpp"
#include "detail/test_hooks.hpp"
#include "platform/platform.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/reader.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

struct Wrong {
  double x;
};
// Same size and alignment as sensor, but a generated-header signature that disagrees.
struct Tagged {
  std::int32_t a;
  float b;
  double c;
  char buffer[64];
  static constexpr const char* kRingliteLayout = "sensor{a:INT64@0}size=80,align=8";
};

std::size_t drain(Consumer& c, Batch& b, std::size_t max = 1'000'000) {
  b.clear();
  REQUIRE(c.poll(b, max) == PollStatus::ok);
  c.advance(b.end);
  return b.frames.size();
}

}  // namespace

TEST_SUITE("ring") {
  TEST_CASE("a created ring opens with its geometry, schema and cursors") {
    RingGuard g{ring_config("geom", 1 << 16)};
    const auto schema = demo_schema();
    auto created = Ring::create(g.config, schema, 1000);
    auto r = Ring::open(g.config, Ring::Access::read_only);
    const auto s = r.stats();
    CHECK(s.capacity == (1u << 16));
    CHECK(s.version_major == detail::kFormatMajor);
    CHECK(s.head == 1000);
    CHECK(s.tail == 1000);
    CHECK(s.start_position == 1000);
    CHECK(s.ring_id.size() == 32);
    CHECK(s.ring_id != created.stats().ring_id.substr(0, 0));
    CHECK(s.creator_pid == detail::platform::current_pid());
    CHECK(s.creator_alive);
    CHECK_FALSE(s.stale());
    CHECK(r.layouts() == schema.layouts());
    CHECK(r.layouts().find("sensor")->size == 80);
    CHECK_FALSE(r.writable());
  }

  TEST_CASE("creating a ring that exists fails and leaves the original intact") {
    RingGuard g{ring_config("dup")};
    auto r = Ring::create(g.config, demo_schema());
    try {
      (void)Ring::create(g.config, demo_schema());
      FAIL("created twice");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::exists);
      CHECK(std::string(e.what()).find(g.config.name) != std::string::npos);
    }
    CHECK_NOTHROW(Ring::open(g.config));
  }

  TEST_CASE("ring names with a slash or dot-dot are rejected before touching the system") {
    for (const char* bad : {"a/b", "..", "a..b", "../etc", ".hidden", "", "a b"}) {
      RingConfig c;
      c.name = bad;
      CHECK_THROWS_AS(Ring::create(c, demo_schema()), Error);
      CHECK_THROWS_AS(Ring::open(c), Error);
    }
  }

  TEST_CASE("opening a missing ring says so and hints at the bridge") {
    auto c = ring_config("missing");
    try {
      (void)Ring::open(c);
      FAIL("opened a missing ring");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::not_found);
      CHECK(std::string(e.what()).find("No such file or directory (is the bridge running?)") !=
            std::string::npos);
    }
  }

  TEST_CASE("a failure while creating leaves no half-created segment behind") {
    auto c = ring_config("halfmade");
    for (const char* op : {"ftruncate", "mmap", "fallocate"}) {
      detail::platform::set_fault(op, ENOSPC);
      CHECK_THROWS_AS(Ring::create(c, demo_schema()), Error);
      CHECK_THROWS_AS(Ring::open(c), Error);  // not found: nothing left behind
      detail::platform::set_fault(op, 0, 0);
    }
    RingGuard g{c};
    CHECK_NOTHROW(Ring::create(c, demo_schema()));
  }

  TEST_CASE("a file-backed ring keeps its records in the file") {
    TempDir dir("filering");
    RingConfig c;
    c.file = dir / "demo.ring";
    c.capacity = 1 << 14;
    {
      auto r = Ring::create(c, demo_schema());
      Producer p(r);
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 10; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    }
    CHECK(std::filesystem::exists(c.file));
    Consumer cons(Ring::open(c));
    Batch b;
    CHECK(drain(cons, b) == 10);
    Ring::remove(c);
    CHECK_FALSE(std::filesystem::exists(c.file));
  }

  TEST_CASE("a shm ring larger than its header says opens writable without growing past it") {
    RingGuard g{ring_config("sparse", 1 << 16)};
    (void)Ring::create(g.config, demo_schema());
    const int fd = ::shm_open(("/ringlite." + g.config.name).c_str(), O_RDWR, 0);
    REQUIRE(fd >= 0);
    // A planted sparse tail: 64 MiB that no page backs yet.
    REQUIRE(::ftruncate(fd, 64 << 20) == 0);
    const auto blocks = [&] {
      struct stat st {};
      REQUIRE(::fstat(fd, &st) == 0);
      return static_cast<std::int64_t>(st.st_blocks) * 512;
    };
    const auto before = blocks();
    {
      auto r = Ring::open(g.config, Ring::Access::read_write);
      Producer p(r);
      auto w = p.writer<Sensor>("sensor");
      REQUIRE(w.try_write(make_sensor(1)) == WriteResult::ok);
    }
    Ring::remove(g.config);
    // The creator reserved the ring's pages; opening it, writing and removing it allocated
    // none of the tail (MAP_POPULATE used to allocate all 64 MiB).
    CHECK(blocks() - before < (1 << 20));
    ::close(fd);
  }

  TEST_CASE("removing a file-backed ring reads its header, not the whole file") {
    TempDir dir("filering");
    RingConfig c;
    c.file = dir / "big.ring";
    c.capacity = 16 << 20;
    (void)Ring::create(c, demo_schema());
    const int fd = ::open(c.file.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const auto size = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    // Pages of the file in the page cache (mincore on a mapping of our own that touches none).
    const auto cached = [&] {
      void* a = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      REQUIRE(a != MAP_FAILED);
      std::vector<unsigned char> v((size + page - 1) / page);
      REQUIRE(::mincore(a, size, v.data()) == 0);
      ::munmap(a, size);
      return static_cast<std::size_t>(
          std::count_if(v.begin(), v.end(), [](unsigned char x) { return (x & 1) != 0; }));
    };
    REQUIRE(::fsync(fd) == 0);
    REQUIRE(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
    const auto before = cached();
    if (before > size / page / 8) {  // e.g. tmpfs: the page cache is the file
      MESSAGE("the file's pages stay cached here (", before, " of ", size / page,
              "): not measurable");
      ::close(fd);
      Ring::remove(c);
      return;
    }
    Ring::remove(c);
    const auto after = cached();
    MESSAGE("cached pages before remove ", before, ", after ", after, " of ", size / page);
    // The header and the kernel's read-around, not 16 MiB (MAP_POPULATE read it all).
    CHECK(after < before + size / page / 8);
    ::close(fd);
  }

  TEST_CASE("a written record reads back with its type, producer, time and exact bytes") {
    RingGuard g{ring_config("roundtrip")};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    const Sensor s = make_sensor(42);
    REQUIRE(w.try_write(s, 123456789) == WriteResult::ok);
    Consumer c(ring);
    Batch b;
    REQUIRE(drain(c, b) == 1);
    const Frame& f = b.frames[0];
    CHECK(f.seq == 0);
    CHECK(f.type == ring.layouts().find("sensor")->id);
    CHECK(f.producer == p.slot());
    CHECK(f.ts_ns == 123456789);
    REQUIRE(f.length == sizeof(Sensor));
    CHECK(std::memcmp(b.payload(f).data(), &s, sizeof s) == 0);
    CHECK(b.end == detail::frame_size(sizeof(Sensor)));
    CHECK(c.head() == b.end);
  }

  TEST_CASE("seq is the frame position: unique, increasing, 8-byte aligned") {
    RingGuard g{ring_config("seq")};
    auto ring = Ring::create(g.config, demo_schema(), 4096);
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    for (int k = 0; k < 100; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    Consumer c(ring);
    Batch b;
    REQUIRE(drain(c, b) == 100);
    for (std::size_t i = 0; i < b.frames.size(); ++i) {
      CHECK(b.frames[i].seq % 8 == 0);
      CHECK(b.frames[i].seq >= 4096);
      if (i > 0) CHECK(b.frames[i].seq > b.frames[i - 1].seq);
    }
  }

  TEST_CASE("records wrap around the buffer behind padding frames without loss") {
    RingGuard g{ring_config("wrap", 4096)};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    Consumer c(ring);
    Batch b;
    std::int32_t next_write = 0, next_read = 0;
    // 112-byte frames do not divide 4096: every lap ends in padding (explicit or implicit).
    for (int round = 0; round < 500; ++round) {
      for (int i = 0; i < 7; ++i)
        REQUIRE(w.try_write(make_sensor(next_write++)) == WriteResult::ok);
      drain(c, b);
      for (const auto& f : b.frames) {
        Sensor s;
        std::memcpy(&s, b.payload(f).data(), sizeof s);
        REQUIRE(s.a == next_read++);
        CHECK(f.seq / 4096 == (f.seq + f.length + 31) / 4096);  // never crosses the buffer end
      }
    }
    CHECK(next_read == next_write);
    CHECK(c.head() > 50 * 4096);
  }

  TEST_CASE("the ring accepts exactly capacity bytes of frames before it reports full") {
    RingGuard g{ring_config("capacity", 4096)};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring, OnFull::drop);
    auto w = p.writer<Sensor>("sensor");
    int written = 0;
    while (w.try_write(make_sensor(written)) == WriteResult::ok) ++written;
    // 36 frames of 112 bytes; the 37th would pass head + capacity - kClaimGuard.
    CHECK(written == (4096 - detail::kClaimGuard) / 112);
    CHECK(w.try_write(make_sensor(0)) == WriteResult::full);
    CHECK(ring.stats().full_events >= 2);
    // Drop policy: write() gives up at once and counts the drop.
    CHECK(w.write(make_sensor(0)) == WriteResult::full);
    CHECK(ring.stats().drops == 1);
    // Consuming frees exactly what was consumed.
    Consumer c(ring);
    Batch b;
    REQUIRE(c.poll(b, 3) == PollStatus::ok);
    c.advance(b.end);
    CHECK(w.try_write(make_sensor(100)) == WriteResult::ok);
  }

  TEST_CASE("a blocking write times out on a full ring and succeeds once the consumer advances") {
    RingGuard g{ring_config("block", 4096)};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    while (w.try_write(make_sensor(1)) == WriteResult::ok) {
    }
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(w.write(make_sensor(2), 30ms) == WriteResult::full);
    CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);

    Consumer c(ring);
    std::thread consumer([&] {
      std::this_thread::sleep_for(50ms);
      Batch b;
      drain(c, b);
    });
    const auto t1 = std::chrono::steady_clock::now();
    CHECK(w.write(make_sensor(3), 5s) == WriteResult::ok);  // woken by advance(), not the timeout
    CHECK(std::chrono::steady_clock::now() - t1 < 2s);
    consumer.join();
  }

  TEST_CASE("a record larger than max_record is too_large and never claims space") {
    auto cfg = ring_config("large", 4096);
    RingGuard g{cfg};
    auto ring = Ring::create(cfg, demo_schema());
    Producer p(ring);
    auto w = p.raw_writer("log");
    std::string big(ring.max_record(), 'x');
    Log fixed{};
    CHECK(w.try_write_var({reinterpret_cast<const std::byte*>(&fixed), sizeof fixed},
                          std::vector<std::string_view>{big}) == WriteResult::too_large);
    CHECK(ring.stats().tail == 0);
  }

  TEST_CASE("variable-length records carry their TEXT tail with offsets filled in") {
    RingGuard g{ring_config("var")};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Log>("log");
    Log rec{};
    rec.level = 3;
    rec.code = -7;
    REQUIRE(w.try_write(rec, {"disk almost full"}) == WriteResult::ok);
    REQUIRE(w.try_write(rec, {""}) == WriteResult::ok);
    Consumer c(ring);
    Batch b;
    REQUIRE(drain(c, b) == 2);
    const auto& type = *ring.layouts().find("log");
    const auto pl = b.payload(b.frames[0]);
    CHECK(check_record(type, pl).empty());
    Log got;
    std::memcpy(&got, pl.data(), sizeof got);
    CHECK(got.level == 3);
    CHECK(got.code == -7);
    CHECK(got.message_offset == 16);
    REQUIRE(got.message_length == 16);
    CHECK(std::string(reinterpret_cast<const char*>(pl.data()) + 16, 16) == "disk almost full");
    CHECK(check_record(type, b.payload(b.frames[1])).empty());
  }

  TEST_CASE("writer<T> refuses a struct whose layout differs from the ring's schema") {
    RingGuard g{ring_config("layout")};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    CHECK_THROWS_AS(p.writer<Wrong>("sensor"), Error);
    CHECK_THROWS_AS(p.writer<Tagged>("sensor"), Error);
    CHECK_THROWS_AS(p.writer<Sensor>("nosuchtype"), Error);
    CHECK_NOTHROW(p.writer<Sensor>("sensor"));
  }

  TEST_CASE("producers take distinct slots and give them back") {
    RingGuard g{ring_config("slots")};
    auto ring = Ring::create(g.config, demo_schema());
    {
      Producer a(ring), b(ring);
      CHECK(a.slot() != b.slot());
      CHECK(ring.stats().producers.size() == 2);
    }
    CHECK(ring.stats().producers.empty());
  }

  TEST_CASE("a second consumer is refused while the first one lives") {
    RingGuard g{ring_config("consumer")};
    auto ring = Ring::create(g.config, demo_schema());
    {
      Consumer c(ring);
      CHECK_THROWS_AS(Consumer{ring}, Error);
    }
    CHECK_NOTHROW(Consumer{ring});
  }

  TEST_CASE("writes to a removed ring return closed") {
    auto cfg = ring_config("closed");
    auto ring = Ring::create(cfg, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    CHECK(w.try_write(make_sensor(1)) == WriteResult::ok);
    Ring::remove(cfg);
    CHECK(w.try_write(make_sensor(2)) == WriteResult::closed);
    p.close();
    CHECK(w.try_write(make_sensor(3)) == WriteResult::closed);
  }

  TEST_CASE("an idle consumer's wait returns promptly when a record is committed") {
    RingGuard g{ring_config("wake")};
    auto ring = Ring::create(g.config, demo_schema());
    Consumer c(ring);
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    std::thread t([&] {
      std::this_thread::sleep_for(50ms);
      (void)w.try_write(make_sensor(1));
    });
    const auto t0 = std::chrono::steady_clock::now();
    c.wait(10s);
    const auto waited = std::chrono::steady_clock::now() - t0;
    t.join();
    CHECK(waited < 5s);  // woken by the producer, not the 10 s timeout
    Batch b;
    CHECK(drain(c, b) == 1);
  }

  TEST_CASE(
      "threads: producers, the consumer and a lapped live reader share one ring without loss or "
      "tearing") {
    // The protocol in one process, so that a TSan build sees every access of every side.
    constexpr int kProducers = 3, kCount = 40'000;
    RingGuard g{ring_config("threads", 16384)};
    auto ring = Ring::create(g.config, demo_schema());
    Consumer c(ring);
    std::atomic<int> producers_done{0};
    std::vector<std::thread> producers;
    for (int i = 0; i < kProducers; ++i) {
      producers.emplace_back([&, i] {
        Producer p(ring);
        auto w = p.writer<Sensor>("sensor");
        for (int k = 0; k < kCount; ++k) {
          Sensor s = make_sensor(k);
          s.c = i;  // which producer
          if (w.write(s, 10s) != WriteResult::ok) break;
        }
        ++producers_done;
      });
    }
    std::atomic<bool> stop_reader{false};
    std::size_t live_read = 0, torn = 0;
    std::thread reader([&] {
      LiveReader r(Ring::open(g.config, Ring::Access::read_only));
      LiveRecord rec;
      while (!stop_reader.load()) {
        if (r.next(rec) != ReadStatus::ok) continue;
        Sensor s;
        if (rec.payload.size() != sizeof s) {
          ++torn;
          continue;
        }
        std::memcpy(&s, rec.payload.data(), sizeof s);
        char want[64];
        std::snprintf(want, sizeof want, "s-%d", s.a);
        if (s.b != static_cast<float>(s.a) * 0.5f || std::strcmp(s.buffer, want) != 0) ++torn;
        ++live_read;
      }
    });
    std::vector<int> next(kProducers, 0);
    std::size_t out_of_order = 0, total = 0;
    Batch b;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (total < std::size_t{kProducers} * kCount &&
           std::chrono::steady_clock::now() < deadline) {
      b.clear();
      REQUIRE(c.poll(b, 256) == PollStatus::ok);
      CHECK(b.gaps.empty());
      for (const auto& f : b.frames) {
        Sensor s;
        std::memcpy(&s, b.payload(f).data(), sizeof s);
        const int i = static_cast<int>(s.c);
        if (i < 0 || i >= kProducers || s.a != next[i]) ++out_of_order;
        if (i >= 0 && i < kProducers) next[i] = s.a + 1;
        ++total;
      }
      c.advance(b.end);
      if (b.frames.empty()) c.wait(1ms);
    }
    for (auto& t : producers) t.join();
    stop_reader = true;
    reader.join();
    CHECK(producers_done == kProducers);
    CHECK(total == std::size_t{kProducers} * kCount);
    CHECK(out_of_order == 0);
    CHECK(torn == 0);
    CHECK(live_read > 0);
  }

  TEST_CASE("a sleeping consumer is woken within a millisecond of a commit (median of 25)") {
    RingGuard g{ring_config("wakelat")};
    auto ring = Ring::create(g.config, demo_schema());
    Consumer c(ring);
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    std::atomic<std::int64_t> written_at{0};
    std::atomic<bool> ready{false};
    std::atomic<int> failed_writes{0};  // doctest assertions belong to the test's own thread
    std::thread producer([&] {
      for (int k = 0; k < 25; ++k) {
        while (!ready.exchange(false)) std::this_thread::yield();
        std::this_thread::sleep_for(20ms);  // the consumer is asleep by now
        written_at = std::chrono::steady_clock::now().time_since_epoch().count();
        if (w.try_write(make_sensor(k)) != WriteResult::ok) ++failed_writes;
      }
    });
    std::vector<double> latency_us;
    Batch b;
    for (int k = 0; k < 25; ++k) {
      ready = true;
      const auto give_up = std::chrono::steady_clock::now() + 10s;
      while (!c.wait(1s) && failed_writes == 0) REQUIRE(std::chrono::steady_clock::now() < give_up);
      REQUIRE(failed_writes == 0);
      const auto woke = std::chrono::steady_clock::now().time_since_epoch().count();
      latency_us.push_back(double(woke - written_at.load()) / 1000.0);
      REQUIRE(drain(c, b) == 1);
    }
    producer.join();
    std::sort(latency_us.begin(), latency_us.end());
    INFO("wake latency median ", latency_us[12], " us, max ", latency_us.back(), " us");
    CHECK(latency_us[12] < 1000.0);
  }

  TEST_CASE("the live reader reads retained history without disturbing the consumer") {
    RingGuard g{ring_config("live", 4096)};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    Consumer c(ring);
    Batch b;
    for (int k = 0; k < 100; ++k) {
      REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
      drain(c, b);
    }
    LiveReader r(Ring::open(g.config, Ring::Access::read_only));
    r.seek_oldest();
    LiveRecord rec;
    std::vector<std::int32_t> seen;
    while (r.next(rec) == ReadStatus::ok) {
      Sensor s;
      REQUIRE(rec.payload.size() == sizeof s);
      std::memcpy(&s, rec.payload.data(), sizeof s);
      seen.push_back(s.a);
    }
    // A 4 KiB ring retains at most 36 records of 112 bytes: the newest ones, in order.
    REQUIRE(seen.size() >= 30);
    CHECK(seen.back() == 99);
    for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] == seen[i - 1] + 1);
    CHECK(r.laps() == 0);

    r.seek(b.frames.empty() ? 0 : c.position());
    CHECK(r.next(rec) == ReadStatus::empty);
    REQUIRE(w.try_write(make_sensor(100)) == WriteResult::ok);
    REQUIRE(r.next(rec) == ReadStatus::ok);
    Sensor s;
    std::memcpy(&s, rec.payload.data(), sizeof s);
    CHECK(s.a == 100);
  }

  TEST_CASE("a live reader that producers lap counts the loss and resumes on a frame boundary") {
    RingGuard g{ring_config("lap", 4096)};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    Consumer c(ring);
    Batch b;
    LiveReader r(Ring::open(g.config, Ring::Access::read_only));
    r.seek_tail();
    for (int k = 0; k < 1000; ++k) {
      REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
      drain(c, b);
    }
    LiveRecord rec;
    REQUIRE(r.next(rec) == ReadStatus::ok);
    CHECK(r.laps() == 1);
    CHECK(r.lost_bytes() > 0);
    Sensor s;
    std::memcpy(&s, rec.payload.data(), sizeof s);
    int prev = s.a, n = 1;
    while (r.next(rec) == ReadStatus::ok) {
      std::memcpy(&s, rec.payload.data(), sizeof s);
      CHECK(s.a == prev + 1);
      prev = s.a;
      ++n;
    }
    CHECK(prev == 999);
    CHECK(n > 10);
  }

  TEST_CASE("opening rejects bad magic, another major version and a truncated segment") {
    RingGuard g{ring_config("badhdr")};
    (void)Ring::create(g.config, demo_schema());
    {
      RawSegment raw(g.config);
      raw.header().version.store(detail::pack_version(detail::kFormatMajor + 1, 0));
    }
    try {
      (void)Ring::open(g.config);
      FAIL("opened another major version");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::version);
      CHECK(std::string(e.what()).find(
                fmt::format("ring format version {}.0, this build reads {}.x",
                            detail::kFormatMajor + 1, detail::kFormatMajor)) != std::string::npos);
    }
    {
      RawSegment raw(g.config);
      raw.header().version.store(detail::pack_version(detail::kFormatMajor, 0));
      raw.header().magic = 0x1234;
    }
    try {
      (void)Ring::open(g.config);
      FAIL("opened a bad magic");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::corrupt);
    }
    {
      RawSegment raw(g.config);
      raw.header().magic = detail::kMagic;
    }
    CHECK_NOTHROW(Ring::open(g.config));
    // Truncate behind its back: the header claims more than the mapping holds.
    const int fd = ::shm_open(("/ringlite." + g.config.name).c_str(), O_RDWR, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 4096 + 4096) == 0);
    ::close(fd);
    try {
      (void)Ring::open(g.config);
      FAIL("opened a truncated segment");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::corrupt);
      CHECK(std::string(e.what()).find("segment_size") != std::string::npos);
    }
  }

  TEST_CASE("random bytes in the header make open fail cleanly or yield a usable ring") {
    std::mt19937_64 rng(7);
    int refused = 0;
    for (int trial = 0; trial < 200; ++trial) {
      RingGuard g{ring_config("fuzzhdr", 4096)};
      {
        auto ring = Ring::create(g.config, demo_schema());
        Producer p(ring);
        auto w = p.writer<Sensor>("sensor");
        for (int k = 0; k < 20; ++k) (void)w.try_write(make_sensor(k));
      }
      {
        RawSegment raw(g.config);
        // Scribble over a few random spans of the identity block, cursors and schema.
        for (int i = 0; i < 4; ++i) {
          const std::size_t off = rng() % (4096 + 512);
          const std::size_t len = 1 + rng() % 16;
          for (std::size_t j = 0; j < len && off + j < raw.size; ++j)
            raw.bytes()[off + j] = std::byte(rng());
        }
      }
      try {
        auto ring = Ring::open(g.config);
        Consumer c(ring);
        Batch b;
        for (int i = 0; i < 5; ++i) {
          b.clear();
          if (c.poll(b, 1000) != PollStatus::ok) break;
          c.advance(b.end);
        }
        LiveReader r(ring);
        LiveRecord rec;
        for (int i = 0; i < 100 && r.next(rec) == ReadStatus::ok; ++i) {
        }
        Producer p(ring);
        (void)p.raw_writer("sensor").try_write(std::vector<std::byte>(80));
      } catch (const Error&) {
        ++refused;
      }
    }
    CHECK(refused > 0);
  }

  TEST_CASE("random bytes over frames are reported as corrupt and the consumer moves on") {
    std::mt19937_64 rng(11);
    std::uint64_t corrupt_seen = 0;
    for (int trial = 0; trial < 100; ++trial) {
      RingGuard g{ring_config("fuzzframes", 4096)};
      // A scribbled commit word looks like a claim still in flight: it is skipped once
      // unblock_timeout passes, so keep that short here.
      g.config.unblock_timeout = 10ms;
      auto ring = Ring::create(g.config, demo_schema());
      Producer p(ring);
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 30; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
      {
        RawSegment raw(g.config);
        const std::size_t data = raw.header().data_offset;
        for (int i = 0; i < 8; ++i) {
          const std::size_t off = data + rng() % 4096;
          raw.bytes()[off] = std::byte(rng());
        }
        // Sometimes forge a committed header with a hostile length.
        if (trial % 3 == 0) {
          const std::uint64_t pos = 112 * (rng() % 30);
          auto* w64 = reinterpret_cast<std::uint64_t*>(raw.bytes() + data + pos);
          w64[1] = 0xFFFFFFF0u | (std::uint64_t{1} << 32);
        }
      }
      Consumer c(ring);
      Batch b;
      std::size_t frames = 0;
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (c.position() < c.tail() && std::chrono::steady_clock::now() < deadline) {
        b.clear();
        REQUIRE(c.poll(b, 1000) == PollStatus::ok);
        frames += b.frames.size();
        for (const auto& gap : b.gaps) CHECK(gap.end > gap.pos);
        for (const auto& f : b.frames) CHECK(f.length <= ring.max_record());
        c.advance(b.end);
        c.wait(2ms);
      }
      CHECK(c.position() == c.tail());
      CHECK(frames <= 30);
      corrupt_seen += ring.stats().corrupt_skips;
      LiveReader r(ring);
      LiveRecord rec;
      for (int i = 0; i < 100 && r.next(rec) == ReadStatus::ok; ++i)
        CHECK(rec.payload.size() <= ring.max_record());
    }
    CHECK(corrupt_seen > 0);
  }

  TEST_CASE("cursors that contradict each other make the consumer and producers report corrupt") {
    RingGuard g{ring_config("cursors", 4096)};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    auto w = p.writer<Sensor>("sensor");
    Consumer c(ring);
    {
      RawSegment raw(g.config);
      raw.header().tail.store(1 << 20);
    }
    Batch b;
    CHECK(c.poll(b, 10) == PollStatus::corrupt);
    CHECK(w.try_write(make_sensor(1)) == WriteResult::corrupt);
  }
}

TEST_SUITE("ring") {
  TEST_CASE(
      "a ring that users other than its owner may write to is refused unless ring.mode allows it") {
    RingGuard g{ring_config("squat_mode")};
    (void)Ring::create(g.config, demo_schema());
    const int fd = ::shm_open(("/ringlite." + g.config.name).c_str(), O_RDWR, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::fchmod(fd, 0666) == 0);
    ::close(fd);
    for (auto access : {Ring::Access::read_write, Ring::Access::read_only}) {
      try {
        (void)Ring::open(g.config, access);
        FAIL("opened a ring every user may write to");
      } catch (const Error& e) {
        CHECK(e.code() == Errc::permission);
        CHECK(std::string(e.what()).find(
                  "mode 0666 lets every user write to it, which ring.mode 0600") !=
              std::string::npos);
      }
    }
    CHECK_THROWS_AS(Producer::open(g.config), Error);
    RingConfig shared = g.config;
    shared.mode = 0666;
    CHECK_NOTHROW(Ring::open(shared));
  }

  TEST_CASE("a ring owned by another user is refused unless ring.owner names that user" *
            doctest::skip(::geteuid() != 0)) {  // only root can hand a segment to another user
    RingGuard g{ring_config("squat_owner")};
    (void)Ring::create(g.config, demo_schema());
    constexpr std::uint32_t kNobody = 65534;
    const int fd = ::shm_open(("/ringlite." + g.config.name).c_str(), O_RDWR, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::fchown(fd, kNobody, kNobody) == 0);
    ::close(fd);
    try {
      (void)Ring::open(g.config, Ring::Access::read_only);
      FAIL("opened another user's ring");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::permission);
      CHECK(std::string(e.what()).find("it is owned by uid 65534") != std::string::npos);
      CHECK(std::string(e.what()).find("not by uid 0") != std::string::npos);
    }
    RingConfig trusted = g.config;
    trusted.owner = kNobody;
    CHECK_NOTHROW(Ring::open(trusted, Ring::Access::read_only));
    // Remove still cleans it up.
    Ring::remove(g.config);
    CHECK_THROWS_AS(Ring::open(trusted), Error);
  }
}

// Stalled claims in one process: a producer thread blocked in the write hook at its Nth
// `claimed` stage stands for a SIGSTOPped producer (it lives, so the consumer must fence its
// claim off), while another thread writes lap after lap. 40-byte frames in a 4 KiB ring put
// claims exactly where the protocol's edge cases are.
namespace stall {

thread_local int t_stall_at = 0;  // stall at this thread's Nth `claimed` stage (0: never)
thread_local int t_claims = 0;
thread_local int t_flag = -1;
std::atomic<int> g_stalled{0};
std::atomic<bool> g_release[2];

void hook(detail::WriteStage s) {
  if (s != detail::WriteStage::claimed || t_stall_at == 0 || ++t_claims != t_stall_at) return;
  g_stalled.fetch_add(1);
  while (!g_release[t_flag].load()) std::this_thread::sleep_for(1ms);
}

std::vector<std::byte> rec(std::int64_t v) {
  std::vector<std::byte> b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

struct Env {
  RingGuard guard;
  Ring ring;
  Consumer c;
  Producer q;
  RawWriter wq;
  std::int64_t next = 0;
  std::vector<std::int64_t> seen;  // values read by the consumer, in order
  explicit Env(const char* tag)
      : guard{config(tag)},
        ring(Ring::create(
            guard.config,
            Schema::parse("CREATE TABLE t (a INT64); CREATE TABLE big (b BYTES(1500));", "stall"))),
        c(ring),
        q(ring),
        wq(q.raw_writer("t")) {
    g_stalled = 0;
    g_release[0] = g_release[1] = false;
    detail::g_write_hook = hook;
  }
  ~Env() { detail::g_write_hook = nullptr; }
  static RingConfig config(const char* tag) {
    RingConfig rc = ring_config(tag, 4096);
    rc.unblock_timeout = 50ms;
    rc.max_record = 1600;
    return rc;
  }
  /// Polls (unblocking after the timeout) and advances, as the bridge does.
  void drain(int rounds = 1) {
    for (int i = 0; i < rounds; ++i) {
      Batch b;
      REQUIRE(c.poll(b, 100000) == PollStatus::ok);
      for (const auto& f : b.frames) {
        std::int64_t v = 0;
        std::memcpy(&v, b.payload(f).data(), 8);
        seen.push_back(v);
      }
      c.advance(c.position());
    }
  }
  /// Q writes until tail reaches `until` (draining as it goes when asked), or the ring is full.
  void write_to(std::uint64_t until, bool drain_too) {
    while (c.tail() < until) {
      if (wq.try_write(rec(next)) != WriteResult::ok) return;
      ++next;
      if (drain_too) drain();
    }
  }
  /// A producer thread whose `nth` claim stalls until g_release[flag]; its result in `out`.
  std::thread stalled(int nth, int flag, std::int64_t value, WriteResult& out) {
    const int before = g_stalled.load();
    std::thread t([this, nth, flag, value, &out] {
      Producer p(ring);
      auto w = p.raw_writer("t");
      t_stall_at = nth;
      t_flag = flag;
      out = w.try_write(rec(value));
    });
    while (g_stalled.load() == before) std::this_thread::sleep_for(1ms);
    return t;
  }
};

}  // namespace stall

TEST_SUITE("ring") {
  TEST_CASE(
      "a stalled claim that wraps to a lap start holds head there, and no later lap writes over "
      "it") {
    stall::Env e("wrapstall");
    e.write_to(4080, true);  // 102 frames: 16 bytes left before the end of the buffer
    REQUIRE(e.c.tail() == 4080);
    WriteResult pr{};
    std::thread p = e.stalled(1, 0, 1000, pr);  // claims [4080, 4136): implicit pad, record at 4096
    e.drain();
    std::this_thread::sleep_for(80ms);
    e.drain(2);
    CHECK(e.ring.stats().holds == 1);
    e.write_to(3 * 4096, true);  // as far as head lets it: never onto the next lap's offset 0
    CHECK(e.c.head() <= 4096);
    CHECK(e.c.tail() <= 4096 + 4096 - detail::kClaimGuard);
    stall::g_release[0] = true;
    p.join();
    CHECK(pr == WriteResult::abandoned);  // it saw its claim was given up
    e.drain(2);
    CHECK(e.ring.stats().holds == 0);
    CHECK(e.c.head() == e.c.tail());
    e.write_to(4 * 4096, true);  // and the space is used again
    CHECK(std::find(e.seen.begin(), e.seen.end(), 1000) == e.seen.end());
    for (std::size_t i = 1; i < e.seen.size(); ++i) REQUIRE(e.seen[i] == e.seen[i - 1] + 1);
  }

  TEST_CASE(
      "padding never ends right before a second hole: adjacent stalled claims keep their abandoned "
      "marks") {
    stall::Env e("adjstall");
    e.write_to(400, true);
    WriteResult r1{}, r2{};
    std::thread p1 = e.stalled(1, 0, 1000, r1);  // hole 1 at offset 400
    e.drain();
    std::this_thread::sleep_for(80ms);
    e.drain(2);
    REQUIRE(e.ring.stats().holes == 1);
    e.write_to(4096 + 360, true);  // the next lap pads over hole 1 up to offset 440
    // Its second claim stalls: the first pads over hole 1, the second is the record right
    // after it, at offset 440: a hole adjacent to hole 1.
    std::thread p2 = e.stalled(2, 1, 2000, r2);
    e.drain();
    std::this_thread::sleep_for(80ms);
    e.drain(2);
    CHECK(e.ring.stats().holes == 2);
    e.write_to(8192 + 600, true);  // a lap later, padding must cover both holes as one
    stall::g_release[1] = true;
    p2.join();
    CHECK(r2 == WriteResult::abandoned);
    stall::g_release[0] = true;
    p1.join();
    CHECK(r1 == WriteResult::abandoned);
    e.drain(3);
    CHECK(e.ring.stats().holes == 0);
    e.write_to(4 * 4096, true);
    CHECK(std::find(e.seen.begin(), e.seen.end(), 1000) == e.seen.end());
    CHECK(std::find(e.seen.begin(), e.seen.end(), 2000) == e.seen.end());
    for (std::size_t i = 1; i < e.seen.size(); ++i) REQUIRE(e.seen[i] == e.seen[i - 1] + 1);
  }

  TEST_CASE(
      "a bridge restarted while a claim is fenced off keeps the fence, and the stalled write stays "
      "abandoned") {
    stall::Env e("restartstall");
    e.write_to(1000, true);
    WriteResult pr{};
    std::thread p = e.stalled(1, 0, 1000, pr);
    e.drain();
    std::this_thread::sleep_for(80ms);
    e.drain(2);
    REQUIRE(e.ring.stats().holes == 1);
    const auto at = e.c.position();
    { const Consumer gone = std::move(e.c); }        // the bridge exits...
    e.c = Consumer(Ring::open(e.guard.config), at);  // ...and another takes over
    e.write_to(4 * 4096, true);                      // laps over the hole
    stall::g_release[0] = true;
    p.join();
    CHECK(pr == WriteResult::abandoned);
    e.drain(2);
    CHECK(e.ring.stats().holes == 0);
    for (std::size_t i = 1; i < e.seen.size(); ++i) REQUIRE(e.seen[i] == e.seen[i - 1] + 1);
  }

  TEST_CASE("a record no gap between holes can hold gets full, not an endless run of padding") {
    stall::Env e("bighole");
    WriteResult r[3]{};
    std::thread p[3];
    // Holes near offsets 800, 1900 and 3000 of the 4 KiB ring: no gap is wide enough for a
    // 1536-byte frame and its margin.
    const std::uint64_t at[3] = {800, 1900, 3000};
    for (int i = 0; i < 3; ++i) {
      e.write_to(at[i], true);
      p[i] = e.stalled(1, i < 2 ? i : 1, 1000 + i, r[i]);
      e.drain();
      std::this_thread::sleep_for(80ms);
      e.drain(2);
    }
    REQUIRE(e.ring.stats().holes == 3);
    // A bridge drains all the while, so padding never runs into head.
    std::atomic<bool> done{false};
    std::thread bridge([&] {
      Batch b;
      while (!done.load()) {
        b.clear();
        (void)e.c.poll(b, 100000);
        e.c.advance(e.c.position());
        std::this_thread::sleep_for(100us);
      }
    });
    Producer big_p(e.ring);
    auto big = big_p.raw_writer("big");
    const std::vector<std::byte> payload(1500, std::byte{7});
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(big.try_write(payload) == WriteResult::full);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(e.wq.try_write(stall::rec(-1)) == WriteResult::ok);  // small records still fit
    done = true;
    bridge.join();
    stall::g_release[0] = stall::g_release[1] = true;
    for (auto& t : p) t.join();
    for (auto x : r) CHECK(x == WriteResult::abandoned);
  }
}

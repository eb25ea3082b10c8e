// Rings for tests: unique names, the demo schema, structs matching schema/demo.sql, and a
// guard that removes the ring when the test ends.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "detail/format.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"
#include "testutil.hpp"

namespace ringlite::test {

/// schema/demo.sql's sensor record (what `ringlite schema header` generates).
struct Sensor {
  std::int32_t a;
  float b;
  double c;
  char buffer[64];
};
static_assert(sizeof(Sensor) == 80);

/// schema/demo.sql's log record: fixed part; the message lives in the tail.
struct Log {
  std::uint8_t level;
  std::int32_t code;
  std::uint32_t message_offset;
  std::uint32_t message_length;
};
static_assert(sizeof(Log) == 16);

inline Schema demo_schema() { return Schema::load_file(source_dir() / "schema" / "demo.sql"); }

inline RingConfig ring_config(const std::string& tag, std::uint64_t capacity = 1 << 16) {
  RingConfig c;
  c.name = unique_name(tag);
  c.capacity = capacity;
  return c;
}

/// Removes the ring's name at scope exit, whatever happened.
struct RingGuard {
  RingConfig config;
  ~RingGuard() {
    try {
      Ring::remove(config);
    } catch (const Error&) {
    }
  }
};

/// Maps a ring's whole segment read-write, behind the library's back, to damage it.
struct RawSegment {
  void* addr = nullptr;
  std::size_t size = 0;
  explicit RawSegment(const RingConfig& c) {
    const int fd = c.file.empty() ? ::shm_open(("/ringlite." + c.name).c_str(), O_RDWR, 0)
                                  : ::open(c.file.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    size = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
    addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    REQUIRE(addr != MAP_FAILED);
  }
  RawSegment(const RawSegment&) = delete;
  RawSegment& operator=(const RawSegment&) = delete;
  ~RawSegment() { ::munmap(addr, size); }
  detail::RingHeader& header() { return *static_cast<detail::RingHeader*>(addr); }
  std::byte* bytes() { return static_cast<std::byte*>(addr); }
};

inline Sensor make_sensor(std::int32_t k) {
  Sensor s{};
  s.a = k;
  s.b = static_cast<float>(k) * 0.5f;
  s.c = static_cast<double>(k) * 0.25;
  std::snprintf(s.buffer, sizeof s.buffer, "s-%d", k);
  return s;
}

}  // namespace ringlite::test

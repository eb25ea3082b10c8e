// Rings for tests: unique names, the demo schema, structs matching schema/demo.sql, and a
// guard that removes the ring when the test ends.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

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

inline Sensor make_sensor(std::int32_t k) {
  Sensor s{};
  s.a = k;
  s.b = static_cast<float>(k) * 0.5f;
  s.c = static_cast<double>(k) * 0.25;
  std::snprintf(s.buffer, sizeof s.buffer, "s-%d", k);
  return s;
}

}  // namespace ringlite::test

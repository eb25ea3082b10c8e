// A producer, as a user writes one. The seed tutorial's server wrote
//     struct MYSTRUCT { int a; float b; double c; char buffer[64]; };
// into a named file mapping that clients polled, with no way to tell when it died and no
// history. Here the same record goes into a ringlite ring; the bridge persists every one.
//
// The struct comes from the schema: `ringlite schema header schema/demo.sql -o
// demo_records.hpp` (the build does this), so its layout is checked at compile time
// (static_asserts) and again against the ring's schema when the writer is created.
//
//   usage: example_producer [CONFIG] [COUNT]     (defaults: examples/demo.toml, 1000)
#include "ringlite/producer.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "demo_records.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"

int main(int argc, char** argv) {
  const char* config_path = argc > 1 ? argv[1] : "examples/demo.toml";
  const long count = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 1000;
  try {
    const auto config = ringlite::Config::load(config_path);
    auto producer = ringlite::Producer::open(config.ring);  // fails clearly if there is no ring
    auto sensors = producer.writer<ringlite_types::sensor>("sensor");
    auto logs = producer.writer<ringlite_types::log>("log");

    for (long i = 0; i < count; ++i) {
      ringlite_types::sensor s{};
      s.a = static_cast<std::int32_t>(i);
      s.b = static_cast<float>(i) * 0.5f;
      s.c = static_cast<double>(i) * 0.25;
      std::snprintf(s.buffer, sizeof s.buffer, "MYSTRUCT #%ld", i);
      // write() waits (up to 1 s here) for the bridge to free space when the ring is full.
      if (auto r = sensors.write(s, std::chrono::seconds(1)); r != ringlite::WriteResult::ok) {
        std::fprintf(stderr, "example_producer: record %ld: %s\n", i,
                     std::string(ringlite::to_string(r)).c_str());
        return 1;
      }
    }
    // A variable-length record: the TEXT column's bytes follow the fixed part.
    ringlite_types::log line{};
    line.level = 2;
    line.code = 200;
    const std::string text = "wrote " + std::to_string(count) + " sensor records";
    if (logs.write(line, {text}, std::chrono::seconds(1)) != ringlite::WriteResult::ok) return 1;
    std::printf("example_producer: %s and 1 log line to %s\n", text.c_str(),
                producer.ring().display().c_str());
    return 0;
  } catch (const ringlite::Error& e) {
    std::fprintf(stderr, "example_producer: %s\n", e.what());
    return e.is_input_error() ? 2 : 1;
  }
}

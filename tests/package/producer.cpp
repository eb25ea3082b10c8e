// A producer built against an installed ringlite::core, as a user's program is (the package
// test, run.sh): opens the ring named on the command line, writes COUNT `sensor` records
// and exits 0. Every record carries this build's tag in `a`, so the test can tell which
// consumer project wrote it.
//
// The struct comes from the installed `ringlite schema header schema/demo.sql`.
//
//   usage: <program> RING [COUNT]     (COUNT defaults to 1000)
#include "ringlite/producer.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "demo_records.hpp"
#include "ringlite/error.hpp"
#include "ringlite/version.hpp"

#ifndef PRODUCER_TAG
#error "build with -DPRODUCER_TAG=<n>: the value this program writes into sensor.a"
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s RING [COUNT]\n", argv[0]);
    return 2;
  }
  const long count = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 1000;
  try {
    ringlite::RingOptions options;
    options.name = argv[1];
    auto producer = ringlite::Producer::open(options);
    auto sensors = producer.writer<ringlite_types::sensor>("sensor");
    for (long i = 0; i < count; ++i) {
      ringlite_types::sensor s{};
      s.a = PRODUCER_TAG;
      s.b = static_cast<float>(i);
      s.c = static_cast<double>(i) * 0.25;
      std::snprintf(s.buffer, sizeof s.buffer, "producer %d #%ld", PRODUCER_TAG, i);
      if (auto r = sensors.write(s, std::chrono::seconds(5)); r != ringlite::WriteResult::ok) {
        std::fprintf(stderr, "%s: cannot write record %ld to %s: %s\n", argv[0], i,
                     options.display().c_str(), std::string(ringlite::to_string(r)).c_str());
        return 1;
      }
    }
    std::printf("ringlite %s: wrote %ld sensor records tagged %d\n", ringlite::kVersion, count,
                PRODUCER_TAG);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}

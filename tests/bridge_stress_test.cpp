// The long versions of the bridge's crash tests (label "stress": `scripts/test --stress` or
// `ctest -L stress`): more records, more kills, a ring that wraps thousands of times.
#include <doctest/doctest.h>

#include "bridged.hpp"

using namespace ringlite::test;
using namespace std::chrono_literals;

TEST_SUITE("bridge_stress") {
  TEST_CASE("4 x 2.5M records land exactly once while the bridge is SIGKILLed at least 100 times") {
    Bridged s({.tag = "bstress", .capacity = "256KiB", .unblock_timeout = "500ms"});
    kill_and_restart_under_load(s, 4, 2'500'000, 100, 1500s);
  }

  TEST_CASE("exactly once with the durable preset, committing as soon as the ring is empty") {
    Bridged s(
        {.tag = "bstress1", .preset = "durable", .max_delay = "0ms", .unblock_timeout = "500ms"});
    kill_and_restart_under_load(s, 2, 200'000, 30, 1500s);
  }
}

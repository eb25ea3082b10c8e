// `ringlite produce` stopped from outside: SIGTERM or SIGINT to the parent, or the parent
// SIGKILLed. Its producer processes must stop with it, at a record boundary (no claim left
// in flight, every producer slot given back), and the ring's tail must stop moving.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "bridged.hpp"
#include "proc.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;
using namespace std::chrono_literals;

namespace {

/// A config and its ring (no bridge: nothing drains it), and a `produce` run on it.
struct Setup : Bridged {
  Ring ring;
  explicit Setup(std::uint64_t capacity)
      : Bridged({.tag = "produce"}),
        ring(Ring::create(sized(ring_config(), capacity), demo_schema())) {}

  static RingConfig sized(RingConfig rc, std::uint64_t capacity) {
    rc.capacity = capacity;
    return rc;
  }

  /// Starts `produce` with P producers and waits until every one has attached and written
  /// (or, on a full ring, blocked). Returns the parent's pid and the producers' pids.
  std::pair<pid_t, std::vector<pid_t>> start(const std::vector<std::string>& extra) const {
    std::vector<std::string> args{"produce", "-c", config, "--type", "sensor", "--producers", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t parent = spawn_cli(cli_path(), args, log);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      const auto st = ring.stats();
      if (st.producers.size() == 2 && st.records_written >= 2) {
        std::vector<pid_t> pids;
        for (const auto& p : st.producers) pids.push_back(static_cast<pid_t>(p.pid));
        return {parent, pids};
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                      "producers did not start: ", bridge_log());
      REQUIRE_MESSAGE(try_wait(parent) < 0, "produce exited at start: ", bridge_log());
      std::this_thread::sleep_for(5ms);
    }
  }
};

/// Waits up to `limit` for every pid to be gone; true if they all went.
bool all_gone(const std::vector<pid_t>& pids, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    bool any = false;
    for (pid_t p : pids) any = any || is_running(p);
    if (!any) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

/// After a stop: the tail no longer moves, no claim is in flight, every slot is free.
/// Kills whatever producer survived, so a failing run does not leave writers behind.
void check_stopped(const Setup& s, const std::vector<pid_t>& producers) {
  const bool gone = all_gone(producers, 1000ms);
  CHECK_MESSAGE(gone, "producer processes still running a second after the stop");
  const auto t1 = s.ring.stats().tail;
  std::this_thread::sleep_for(300ms);
  const auto st = s.ring.stats();
  CHECK(st.tail == t1);
  CHECK(st.producers.empty());  // each producer gave its slot back: none was killed mid-write
  for (const auto& p : st.producers) CHECK_FALSE(p.pending);
  for (pid_t p : producers) {
    if (is_running(p)) ::kill(p, SIGKILL);
  }
}

}  // namespace

TEST_SUITE("produce") {
  TEST_CASE(
      "SIGTERM to produce stops its paced producers at a record boundary and exits 0 with its "
      "summary") {
    Setup s(8 << 20);  // 20 s of this load fits: the ring never fills
    const auto [parent, producers] = s.start({"--count", "1000000", "--rate", "2048"});
    std::this_thread::sleep_for(200ms);
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(parent, SIGTERM);
    CHECK(wait_exit(parent) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    check_stopped(s, producers);
    const std::string log = s.bridge_log();
    INFO(log);
    CHECK(log.find("stopped by a signal") != std::string::npos);
    // The summary counts what was written, not what was asked for.
    CHECK(log.find("produced 2000000 records") == std::string::npos);
    CHECK(log.find("producers failed") == std::string::npos);
  }

  TEST_CASE("SIGINT to produce stops producers blocked on a full ring and exits 0") {
    Setup s(1 << 16);  // nobody drains it: full after ~580 records, then the producers block
    const auto [parent, producers] = s.start({"--count", "1000000"});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (s.ring.stats().full_events == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    REQUIRE(s.ring.stats().full_events > 0);
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(parent, SIGINT);
    CHECK(wait_exit(parent) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    check_stopped(s, producers);
  }

  TEST_CASE("producers of a SIGKILLed produce stop within a second at a record boundary") {
    Setup s(8 << 20);
    const auto [parent, producers] = s.start({"--count", "1000000", "--rate", "2048"});
    std::this_thread::sleep_for(200ms);
    ::kill(parent, SIGKILL);
    CHECK(wait_exit(parent) == 128 + SIGKILL);
    check_stopped(s, producers);
  }
}

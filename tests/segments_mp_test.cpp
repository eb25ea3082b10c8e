// A recording written by the real `ringlite bridge` (docs/design.md, "Recordings"): its
// start-up line names the folder, its log says each roll and expiry, and records produced
// by `ringlite produce` survive SIGKILLs at random moments and right at rolls exactly once,
// with retention gap rows counting the expired ones. The full-size run is in
// segments_stress_test.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bridged.hpp"
#include "proc.hpp"
#include "recorded.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"
#include "testutil.hpp"

using namespace ringlite::test;
using namespace std::chrono_literals;

TEST_SUITE("segments") {
  TEST_CASE("the bridge writes a recording and says so in its log") {
    Bridged s({.tag = "seglog",
               .extra_database = "segment_bytes = \"1MiB\"\nretain_bytes = \"2MiB\"\n",
               .max_records = "2000"});
    const pid_t bridge = s.bridge();
    const ReapOnExit reap_bridge{bridge};
    const pid_t producer = s.produce(1, 60'000);
    const ReapOnExit reap_producer{producer};
    CHECK(wait_exit(producer) == 0);
    REQUIRE(s.wait_drained(30s));
    s.stop(bridge);
    const auto log = s.bridge_log();
    INFO(log);
    CHECK(log.find("recording '" + s.db + "' (1 segment, writing seg-00000001.db)") !=
          std::string::npos);
    CHECK(log.find("closed seg-00000001.db (") != std::string::npos);
    CHECK(log.find("expired seg-00000001.db (seq 0 to ") != std::string::npos);
    CHECK(log.find("retain_bytes 2MiB: the recording held ") != std::string::npos);
    CHECK(log.find("deleted seg-00000001.db") != std::string::npos);
    CHECK(!std::filesystem::exists(std::filesystem::path(s.db) / "seg-00000001.db"));
    // The reading side sees one database: live records plus expired ones are all written.
    const auto q = run_cli("query --db " + s.db +
                           " \"SELECT 'total=' || ((SELECT count(*) FROM sensor) + (SELECT "
                           "sum(count) FROM _ringlite_gaps WHERE kind = 'retention'))\"");
    INFO(q.out, q.err);
    CHECK(q.exit_code == 0);
    CHECK(q.out.find("total=60000") != std::string::npos);

    // replay -c on the config replays the recording: every live record, in order.
    RingGuard target{ring_config("segrp", 8 << 20)};
    const ringlite::Ring ring = ringlite::Ring::create(target.config, demo_schema());
    const auto r =
        run_cli("replay -c " + s.config + " --ring " + target.config.name + " --speed max");
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    ringlite::Consumer c(ring);
    std::vector<std::int32_t> replayed;
    for (;;) {
      ringlite::Batch b;
      REQUIRE(c.poll(b, 1 << 20) == ringlite::PollStatus::ok);
      if (b.frames.empty()) break;
      for (const auto& f : b.frames) {
        Sensor rec{};
        REQUIRE(b.payload(f).size() == sizeof rec);
        std::memcpy(&rec, b.payload(f).data(), sizeof rec);
        replayed.push_back(rec.a);
      }
      c.advance(b.end);
    }
    const auto live =
        run_cli("query --db " + s.db + " --format csv \"SELECT count(*) FROM sensor\"");
    REQUIRE(replayed.size() > 0);
    CHECK(live.out.find("\n" + std::to_string(replayed.size())) != std::string::npos);
    CHECK(replayed.back() == 59'999);  // the newest ones are live, and in order without a hole
    for (std::size_t i = 1; i < replayed.size(); ++i) REQUIRE(replayed[i] == replayed[i - 1] + 1);
  }

  TEST_CASE("records survive SIGKILLs of the bridge at random moments and at rolls exactly once") {
    RecordingRun run;
    run.producers = 2;
    run.count = 150'000;
    run.rate = 100'000;  // three seconds of records
    run.random_kills = 2;
    run.roll_kills = 2;
    run.limit = 60s;
    const auto out = run_recording_under_kills(run);
    MESSAGE("kills ", out.kills, " (", out.roll_kills, " at rolls), live ", out.live, ", expired ",
            out.expired, ", max disk ", out.max_disk, ", max wal ", out.max_wal);
    CHECK(out.kills >= 3);
    CHECK(out.expired > 0);
    CHECK(out.oldest_changes > 0);
    // retain_bytes plus one segment plus a batch's worth (2000 records), the -wal aside.
    CHECK(out.max_disk <= run.retain_bytes + run.segment_bytes + (512u << 10));
    // The -wal: below twice its restart size (4 MiB at least) plus a batch.
    CHECK(out.max_wal <= (8u << 20) + (512u << 10));
  }
}

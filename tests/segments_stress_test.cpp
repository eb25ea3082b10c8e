// The recording's full run (label stress): 16MiB segments, 64MiB retained, 5M records at
// full rate from `ringlite produce`, the bridge SIGKILLed at least 10 times (some right at
// rolls). Disk use never passes retain_bytes plus one segment (the open segment's -wal
// aside), the oldest record moves on, and every record not expired is there exactly once.
#include <doctest/doctest.h>

#include <chrono>

#include "recorded.hpp"

using namespace ringlite::test;
using namespace std::chrono_literals;

TEST_SUITE("segments") {
  TEST_CASE("a 5M-record recording with retention survives 10 SIGKILLs within its disk bound") {
    RecordingRun run;
    run.tag = "segstress";
    run.producers = 4;
    run.count = 1'250'000;
    run.segment_bytes = 16u << 20;
    run.retain_bytes = 64u << 20;
    run.random_kills = 6;
    run.roll_kills = 5;
    run.max_records = "65536";
    run.capacity = "16MiB";
    run.limit = 900s;
    const auto out = run_recording_under_kills(run);
    MESSAGE("kills ", out.kills, " (", out.roll_kills, " at rolls), live ", out.live, ", expired ",
            out.expired, ", max disk ", out.max_disk, ", max wal ", out.max_wal,
            ", oldest segment changed ", out.oldest_changes, " times");
    CHECK(out.kills >= 10);
    CHECK(out.roll_kills >= 3);
    CHECK(out.expired > 0);
    CHECK(out.oldest_changes >= 3);  // min(seq) advances
    CHECK(out.max_disk <= run.retain_bytes + run.segment_bytes);
    // The -wal: below twice its restart size (one segment, 16 MiB) plus one batch (65536
    // records: under 16 MiB of pages).
    CHECK(out.max_wal <= (32u + 16u) << 20);
  }
}

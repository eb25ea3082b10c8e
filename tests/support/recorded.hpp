// A recording written by real processes and killed: `ringlite bridge` on a folder of small
// segments with retention, `ringlite produce` writing sensor records, the bridge SIGKILLed
// at random moments and right as a new segment appears, restarted each time. Then every
// record that did not expire is in the live segments exactly once, and the retention gap
// rows count every expired one. Shared by segments_mp_test (short) and
// segments_stress_test (the full run).
#pragma once

#include <doctest/doctest.h>
#include <fmt/core.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bridged.hpp"
#include "proc.hpp"

namespace ringlite::test {

struct RecordingRun {
  std::string tag = "segmp";
  int producers = 2;
  int count = 100'000;  ///< records per producer
  std::uint64_t segment_bytes = 1 << 20;
  std::uint64_t retain_bytes = 3 << 20;
  int random_kills = 2;  ///< SIGKILLs at random moments
  int roll_kills = 2;    ///< SIGKILLs right as a new segment file appears
  double rate = 0;       ///< records/s of all producers together; 0: full rate
  std::string max_records = "2000";
  std::string capacity = "1MiB";
  std::chrono::seconds limit{120};
};

struct RecordingOutcome {
  std::uint64_t max_disk = 0;  ///< the folder's bytes, the open segment's -wal left out
  std::uint64_t max_wal = 0;
  int kills = 0, roll_kills = 0;
  std::uint64_t first_live_seq = 0;
  int oldest_changes = 0;  ///< how often the oldest live segment changed during the run
  std::uint64_t expired = 0, live = 0;
};

namespace recorded_detail {

inline std::vector<std::filesystem::path> segment_files(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.starts_with("seg-") && name.ends_with(".db")) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The folder's bytes now, and the newest segment's -wal apart.
inline std::pair<std::uint64_t, std::uint64_t> disk_use(const std::filesystem::path& folder) {
  std::uint64_t total = 0, wal = 0;
  std::string newest;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    const auto size = it->file_size(size_ec);
    if (size_ec) continue;  // deleted between listing and stat
    const auto name = it->path().filename().string();
    total += size;
    if (name.ends_with(".db-wal") && name > newest) {
      newest = name;
      wal = size;
    }
  }
  return {total, wal};
}

}  // namespace recorded_detail

inline RecordingOutcome run_recording_under_kills(const RecordingRun& o) {
  namespace fs = std::filesystem;
  using namespace std::chrono_literals;
  using recorded_detail::segment_files;
  Bridged s({.tag = o.tag,
             .capacity = o.capacity,
             .extra_database = fmt::format("segment_bytes = {}\nretain_bytes = {}\n",
                                           o.segment_bytes, o.retain_bytes),
             .stats_interval = "0",
             .max_records = o.max_records});
  const fs::path folder = s.db;
  RecordingOutcome out;

  // The sampler: disk use and the oldest live segment, every few milliseconds.
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    std::string oldest;
    while (!done.load()) {
      const auto [total, wal] = recorded_detail::disk_use(folder);
      out.max_disk = std::max(out.max_disk, total - std::min(total, wal));
      out.max_wal = std::max(out.max_wal, wal);
      const auto files = segment_files(folder);
      if (!files.empty() && files.front().filename().string() != oldest) {
        if (!oldest.empty()) ++out.oldest_changes;
        oldest = files.front().filename().string();
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  struct Join {
    std::atomic<bool>& done;
    std::thread& t;
    ~Join() {
      done = true;
      if (t.joinable()) t.join();
    }
  } join{done, sampler};

  pid_t bridge = s.bridge();
  const pid_t producer = spawn_cli(
      cli_path(),
      {"produce", "-c", s.config, "--type", "sensor", "--producers", std::to_string(o.producers),
       "--count", std::to_string(o.count), "--rate", fmt::format("{}", o.rate)},
      s.log);
  const ReapOnExit reap_producer{producer};
  int produced = -1;  // its exit code, once try_wait() has reaped it
  const auto running = [&] {
    if (produced < 0) produced = try_wait(producer);
    return produced < 0;
  };
  std::mt19937 rng(std::random_device{}());
  const auto deadline = std::chrono::steady_clock::now() + o.limit;
  int random_left = o.random_kills, roll_left = o.roll_kills;
  while ((random_left > 0 || roll_left > 0) && running() &&
         std::chrono::steady_clock::now() < deadline) {
    const bool at_roll = roll_left > 0 && (random_left == 0 || rng() % 2 == 0);
    if (at_roll) {
      // Kill as soon as a new segment file shows: the roll is under way or just done.
      const auto files = segment_files(folder);
      const std::string newest = files.empty() ? "" : files.back().filename().string();
      bool seen = false;
      while (!seen && running() && std::chrono::steady_clock::now() < deadline) {
        const auto now = segment_files(folder);
        seen = !now.empty() && now.back().filename().string() > newest;
        if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (!seen) break;
      --roll_left;
      ++out.roll_kills;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
      --random_left;
    }
    ::kill(bridge, SIGKILL);
    CHECK(wait_exit(bridge) == 128 + SIGKILL);
    ++out.kills;
    bridge = s.bridge();
  }
  const ReapOnExit reap_bridge{bridge};
  if (produced < 0) {
    produced =
        wait_exit_for(producer, std::chrono::duration_cast<std::chrono::milliseconds>(o.limit));
  }
  CHECK(produced == 0);
  REQUIRE(s.wait_drained(std::chrono::duration_cast<std::chrono::seconds>(o.limit)));
  s.stop(bridge);
  done = true;
  sampler.join();
  INFO(s.bridge_log());

  // Every live record exactly once: per producer, the segments' ranges of k increase and
  // do not overlap, each segment holds its range without a hole or a repeat, and the last
  // range ends at the last record written.
  const auto files = segment_files(folder);
  REQUIRE(!files.empty());
  std::vector<std::int64_t> next_k(static_cast<std::size_t>(o.producers), -1);
  std::vector<std::int64_t> first_k(static_cast<std::size_t>(o.producers), -1);
  for (const auto& f : files) {
    INFO("segment ", f.filename().string());
    CHECK(sql(f.string(),
              "SELECT count(*) FROM sensor WHERE buffer != 'p' || substr(buffer, 2, instr(buffer, "
              "'-') - 2) || '-' || a OR b != a * 0.5 OR c != a * 0.5")[0] == "0");
    for (int p = 0; p < o.producers; ++p) {
      const auto r = sql(
          f.string(),
          fmt::format("SELECT count(*) || ' ' || count(DISTINCT a) || ' ' || ifnull(min(a), -1) || "
                      "' ' || ifnull(max(a), -1) FROM sensor WHERE buffer LIKE 'p{}-%'",
                      p));
      long long n = 0, distinct = 0, lo = 0, hi = 0;
      REQUIRE(std::sscanf(r.at(0).c_str(), "%lld %lld %lld %lld", &n, &distinct, &lo, &hi) == 4);
      if (n == 0) continue;
      CHECK(distinct == n);
      CHECK(hi - lo + 1 == n);
      auto& next = next_k[static_cast<std::size_t>(p)];
      if (next >= 0) {
        CHECK_MESSAGE(lo == next, "producer ", p, ": records ", next, " to ", lo - 1,
                      " missing or repeated between segments");
      } else {
        first_k[static_cast<std::size_t>(p)] = lo;
      }
      next = hi + 1;
      out.live += static_cast<std::uint64_t>(n);
    }
  }
  for (int p = 0; p < o.producers; ++p) {
    CHECK_MESSAGE(next_k[static_cast<std::size_t>(p)] == o.count, "producer ", p);
    out.expired +=
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, first_k[static_cast<std::size_t>(p)]));
  }
  // What expired is what the retention gaps count, and lies below every live record.
  const auto newest = files.back().string();
  CHECK(
      sql(newest, "SELECT ifnull(sum(count), 0) FROM _ringlite_gaps WHERE kind = 'retention'")[0] ==
      std::to_string(out.expired));
  CHECK(out.expired + out.live ==
        static_cast<std::uint64_t>(o.producers) * static_cast<std::uint64_t>(o.count));
  out.first_live_seq = std::stoull(
      sql(newest, "SELECT min(first_seq) FROM _ringlite_segments WHERE state != 'deleted'")[0]);
  CHECK(std::stoull(sql(newest,
                        "SELECT ifnull(max(seq_to), 0) FROM _ringlite_gaps WHERE kind = "
                        "'retention'")[0]) <= out.first_live_seq);
  // The catalog lists exactly the live files.
  CHECK(sql(newest, "SELECT count(*) FROM _ringlite_segments WHERE state != 'deleted'")[0] ==
        std::to_string(files.size()));
  CHECK(sql(newest, "SELECT count(*) FROM _ringlite_rejects")[0] == "0");
  return out;
}

}  // namespace ringlite::test

// Recordings for tests, built by hand as docs/design.md "Recordings" describes them: one
// Store per seg-N.db with disjoint seq ranges, then the catalog rows written into the newest
// segment with plain SQL. The same records can go into a single database, to compare.
#pragma once

#include <doctest/doctest.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "checks.hpp"
#include "detail/segment_files.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/store.hpp"
#include "ringutil.hpp"

namespace ringlite::test {

inline constexpr const char* kRecRing = "0123456789abcdef0123456789abcdef";

/// Record i of a test recording: seq 10 * i + 5, ts_ns not monotonic in seq (a slow
/// producer's records arrive late), one log record every 4th, the rest sensors.
inline std::uint64_t rec_seq(std::uint64_t i) { return 10 * i + 5; }
inline std::int64_t rec_ts(std::uint64_t i) {
  return 1'800'000'000'000'000'000 + static_cast<std::int64_t>(i) * 1'000'000 +
         (i % 7 == 3 ? -2'500'000 : 0);
}

inline void add_record(Batch& b, std::uint64_t i) {
  std::vector<std::byte> bytes;
  std::uint16_t type = 1;
  if (i % 4 == 3) {
    const std::string msg = fmt::format("line {}", i);
    Log l{};
    l.level = static_cast<std::uint8_t>(i % 5);
    l.code = static_cast<std::int32_t>(i);
    l.message_offset = sizeof(Log);
    l.message_length = static_cast<std::uint32_t>(msg.size());
    bytes.resize(sizeof(Log) + msg.size());
    std::memcpy(bytes.data(), &l, sizeof l);
    std::memcpy(bytes.data() + sizeof l, msg.data(), msg.size());
    type = 2;
  } else {
    const Sensor s = make_sensor(static_cast<std::int32_t>(i));
    bytes.resize(sizeof s);
    std::memcpy(bytes.data(), &s, sizeof s);
  }
  const auto offset = b.arena.size();
  b.arena.resize(offset + (bytes.size() + 7) / 8 * 8);
  std::memcpy(b.arena.data() + offset, bytes.data(), bytes.size());
  b.frames.push_back(Frame{rec_seq(i), type, static_cast<std::uint32_t>(i % 3), rec_ts(i),
                           static_cast<std::uint32_t>(offset),
                           static_cast<std::uint32_t>(bytes.size())});
  b.end = rec_seq(i) + 10;
}

/// Writes records [from, to) into the database at `path` (created), in batches.
inline void write_records(const std::filesystem::path& path, std::uint64_t from, std::uint64_t to) {
  DatabaseConfig c;
  c.path = path;
  c.preset = "fast";
  Store store = Store::open(c, demo_schema(), "test");
  for (std::uint64_t i = from; i < to;) {
    Batch b;
    for (std::uint64_t n = 0; n < 50000 && i < to; ++n, ++i) add_record(b, i);
    store.write_batch(b, kRecRing);
  }
}

/// A recording in `folder` of `segments` segments, records [0, segments * per_segment),
/// `per_segment` each; the newest is "open" (its bytes NULL), the others "closed". Returns
/// the catalog's INSERT (already run), so a test can tamper with a copy.
inline void make_recording(const std::filesystem::path& folder, std::uint64_t segments,
                           std::uint64_t per_segment) {
  std::filesystem::create_directories(folder);
  std::string catalog = "DELETE FROM _ringlite_segments;";
  for (std::uint64_t n = 1; n <= segments; ++n) {
    const auto path = folder / detail::segment_file_name(n);
    const std::uint64_t from = (n - 1) * per_segment, to = n * per_segment;
    write_records(path, from, to);
    std::int64_t ft = rec_ts(from), lt = rec_ts(from);
    for (std::uint64_t i = from; i < to; ++i) {
      ft = std::min(ft, rec_ts(i));
      lt = std::max(lt, rec_ts(i));
    }
    const bool open = n == segments;
    catalog += fmt::format(
        "INSERT INTO _ringlite_segments(number, state, first_seq, last_seq, first_ts, last_ts, "
        "rows, bytes, created_ns) VALUES ({}, '{}', {}, {}, {}, {}, {}, {}, 1);",
        n, open ? "open" : "closed", rec_seq(from), rec_seq(to - 1), ft, lt, per_segment,
        open ? std::string("NULL") : std::to_string(std::filesystem::file_size(path)));
  }
  exec_sql(folder / detail::segment_file_name(segments), catalog);
}

}  // namespace ringlite::test

// ringlite: the names of a recording's segment files (docs/design.md, "Recordings", "Files").
// The one place that spells them, for the store that writes segments and the readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlite::detail {

/// "seg-00000001.db" for 1: 8 digits, more past 99,999,999, so `ls` sorts them in order.
std::string segment_file_name(std::uint64_t number);

/// The number in a segment file's name, for names segment_file_name() makes (at least 8
/// digits, no sign, no leading zeros beyond the padding, number >= 1); nullopt otherwise.
std::optional<std::uint64_t> segment_number(std::string_view file_name);

struct SegmentFile {
  std::uint64_t number;
  std::filesystem::path path;
};

/// The segment files in `folder` (regular files whose names segment_number() accepts; their
/// -wal, -shm and -journal files and anything else are left out), by number. Throws
/// Error(system) when the folder cannot be read.
std::vector<SegmentFile> list_segment_files(const std::filesystem::path& folder);

}  // namespace ringlite::detail

// ringlite: segment file names (detail/segment_files.hpp).
#include "detail/segment_files.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "ringlite/error.hpp"

namespace ringlite::detail {

namespace {
constexpr std::string_view kPrefix = "seg-";
constexpr std::string_view kSuffix = ".db";
constexpr std::size_t kDigits = 8;
}  // namespace

std::string segment_file_name(std::uint64_t number) {
  return fmt::format("{}{:0{}}{}", kPrefix, number, kDigits, kSuffix);
}

std::optional<std::uint64_t> segment_number(std::string_view name) {
  if (name.size() < kPrefix.size() + kDigits + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix))
    return std::nullopt;
  const std::string_view digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  if (digits.size() > 19) return std::nullopt;  // beyond what 64 bits hold exactly
  std::uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  // One spelling per number: exactly what segment_file_name() writes.
  if (n == 0 || segment_file_name(n) != name) return std::nullopt;
  return n;
}

std::vector<SegmentFile> list_segment_files(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  std::vector<SegmentFile> out;
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto n = segment_number(it->path().filename().string());
    std::error_code type_ec;
    if (n && it->is_regular_file(type_ec)) out.push_back({*n, it->path()});
  }
  if (ec) {
    throw Error(Errc::system,
                fmt::format("cannot list recording '{}': {}", folder.string(), ec.message()),
                ec.value());
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.number < b.number; });
  return out;
}

}  // namespace ringlite::detail

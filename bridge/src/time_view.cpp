// ringlite: the time views (detail/time_view.hpp).
#include "detail/time_view.hpp"

#include <fmt/core.h>

namespace ringlite::detail {

std::string time_view_name(std::string_view type) { return fmt::format("{}_t", type); }

std::string iso_time_sql(std::string_view ts) {
  // The fraction is taken modulo 1e9 toward minus infinity, so a time before 1970 reads
  // as the second before it plus a positive fraction, as ISO-8601 writes it.
  const std::string frac = fmt::format("((({0} % 1000000000) + 1000000000) % 1000000000)", ts);
  return fmt::format(
      "strftime('%Y-%m-%dT%H:%M:%S', ({0} - {1}) / 1000000000, 'unixepoch') || "
      "printf('.%09dZ', {1})",
      ts, frac);
}

std::string time_view_ddl(const RecordType& type, bool temporary) {
  std::string columns;
  for (const Field& f : type.fields) columns += fmt::format(", \"{}\"", f.name);
  return fmt::format(
      "CREATE {}VIEW IF NOT EXISTS \"{}\" AS SELECT seq, ts_ns, {} AS time, producer{} FROM "
      "\"{}\"",
      temporary ? "TEMP " : "", time_view_name(type.name), iso_time_sql("ts_ns"), columns,
      type.name);
}

}  // namespace ringlite::detail

// ringlite: the SQL objects of a record type (detail/time_view.hpp).
#include "detail/time_view.hpp"

#include <fmt/core.h>

#include "ringlite/types.hpp"

namespace ringlite::detail {

std::string type_table_ddl(const RecordType& type) {
  std::string ddl = fmt::format(
      "CREATE TABLE IF NOT EXISTS \"{}\" (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, "
      "producer INTEGER NOT NULL",
      type.name);
  for (const Field& f : type.fields) ddl += fmt::format(", \"{}\" {}", f.name, sql_type(f.type));
  return ddl + ")";
}

std::string ts_index_name(std::string_view type) { return fmt::format("_ringlite_{}_ts", type); }

std::string ts_index_ddl(const RecordType& type) {
  return fmt::format("CREATE INDEX IF NOT EXISTS \"{}\" ON \"{}\"(ts_ns)", ts_index_name(type.name),
                     type.name);
}

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

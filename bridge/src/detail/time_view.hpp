// ringlite: the SQL objects every record type has in a database (docs/design.md, "The database
// format", "The time index and time views"): its table, its time index "_ringlite_<type>_ts"
// and its view <type>_t with `time`, ts_ns as ISO-8601 UTC with nanoseconds. The store creates
// them in each database, the schema check validates user indexes against the same table, and
// a reader of a recording creates the views over its virtual tables. The one place that
// spells them.
#pragma once

#include <string>
#include <string_view>

#include "ringlite/layout.hpp"

namespace ringlite::detail {

/// CREATE TABLE IF NOT EXISTS "<type>" (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL,
/// producer INTEGER NOT NULL, <the type's columns with their SQL types>).
std::string type_table_ddl(const RecordType& type);

/// "_ringlite_<type>_ts", and CREATE INDEX IF NOT EXISTS for it on <type>(ts_ns).
std::string ts_index_name(std::string_view type);
std::string ts_index_ddl(const RecordType& type);

/// "<type>_t".
std::string time_view_name(std::string_view type);

/// An SQL expression turning the integer column `ts_column` (ns since the epoch, negative
/// before 1970) into "2026-11-30T07:12:03.123456789Z"; NULL when the column is NULL.
std::string iso_time_sql(std::string_view ts_column);

/// CREATE [TEMP] VIEW IF NOT EXISTS "<type>_t" AS SELECT seq, ts_ns, <time> AS time,
/// producer, <the type's columns> FROM "<type>". `temporary`: a TEMP view, for a
/// connection that reads the tables without writing to their database.
std::string time_view_ddl(const RecordType& type, bool temporary);

}  // namespace ringlite::detail

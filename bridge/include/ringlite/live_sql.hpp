// ringlite: SQL over the live ring (docs/design.md, "Readers, live SQL and replay"). attach_live()
// makes every record type of a ring a virtual table `live.<type>` on a SQLite connection, with the
// same columns as the persisted table, so one statement can read history, the live ring, or both:
//
//   SELECT * FROM sensor UNION ALL
//   SELECT * FROM live.sensor WHERE seq > (SELECT coalesce(max(seq), -1) FROM sensor)
//
// Rows come from a LiveReader (copied, validated, lap-aware): a scan never blocks or slows
// producers or the bridge. Constraints on seq and ts_ns are pushed down, so `WHERE seq > X`
// starts at X instead of scanning the whole ring.
#pragma once

#include <string_view>

#include "ringlite/ring.hpp"

namespace SQLite {
class Database;
}
struct sqlite3;

namespace ringlite {

/// Attaches an in-memory schema `schema_name` to `db` and creates one read-only virtual
/// table per record type of `ring` in it. The ring handle is kept alive by the tables.
/// Throws Error(sqlite) when SQLite refuses (e.g. the schema name is taken).
void attach_live(SQLite::Database& db, const Ring& ring, std::string_view schema_name = "live");
/// The same on a raw SQLite connection (e.g. Recording::connection()).
void attach_live(sqlite3* db, const Ring& ring, std::string_view schema_name = "live");

}  // namespace ringlite

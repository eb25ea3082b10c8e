// ringlite: reading a recording (docs/design.md, "Recordings", "Reading a recording"). A
// recording is a folder of segments that a bridge with segment_bytes/segment_duration writes,
// or a single database file; a Recording shows either as one read-only database: one SQLite
// connection in which every recorded type, and ringlite's metadata tables, read every live
// segment, in seq order, without ATTACH (so any number of segments).
//
// A Recording is a snapshot of the catalog taken at open: segments the bridge rolls to
// afterwards are not seen (open the recording again to see them); the rows the open segment
// gains meanwhile are. Not thread-safe: use one Recording from one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ringlite/schema.hpp"

struct sqlite3;  // <sqlite3.h>: public headers do not include it (STYLE.md)

namespace ringlite {

/// One row of the recording's catalog (_ringlite_segments in its newest segment).
struct SegmentInfo {
  std::uint64_t number = 0;  ///< N of seg-N.db (1 for a single database file)
  std::string state;         ///< "open", "closed" or "deleted"
  std::optional<std::uint64_t> first_seq, last_seq;  ///< empty while it holds no record
  std::optional<std::int64_t> first_ts, last_ts;     ///< ts_ns of those records
  std::uint64_t rows = 0;                            ///< records, all types
  std::optional<std::uint64_t> bytes;                ///< file size once closed
  std::filesystem::path path;                        ///< the segment's file
};

namespace detail {
class RecordingImpl;
}

class Recording {
 public:
  /// Opens `path` read-only, never creating or changing anything: a recording folder (its
  /// segment files, docs/design.md "Files") or a single ringlite database file. Waits up to
  /// 5 s for a database locked by a writer. Throws Error(config) naming `path` when it is
  /// missing, unreadable, neither a folder nor a regular file (a FIFO), an empty folder or a
  /// folder without segments, or not an SQLite database; Error(schema) when it is SQLite but
  /// not a ringlite database, when a metadata or type table is not a table (a view) or its
  /// columns or their declared types are not the DDL's; Error(version) for a format this
  /// build cannot read; Error(corrupt) for a catalog that cannot be true (or of more than
  /// 1,000,000 rows). Messages are one line: names from the files are escaped (one_line).
  static Recording open(const std::filesystem::path& path);
  Recording(Recording&&) noexcept;
  Recording& operator=(Recording&&) noexcept;
  ~Recording();

  /// True for a folder of segments, false for a single database file.
  bool segmented() const noexcept;
  /// The recorded types, as the newest segment's _ringlite_types holds them.
  const Schema& schema() const noexcept;
  /// The catalog, every segment the recording ever had (deleted ones included), by number.
  /// A single database file is one "open" segment whose ranges and rows are read from its
  /// tables on the first call (a count(*) per type; min and max by index); left empty
  /// when they cannot be read.
  const std::vector<SegmentInfo>& catalog() const noexcept;
  /// The segments whose files are there to read ("open" and "closed"), by number.
  std::vector<SegmentInfo> live_segments() const;

  /// The read-only connection that shows the recording as one database: every type is a
  /// table of that name (a virtual table over the segments for a folder, the file's own
  /// table for a single database), with a view <type>_t (docs/design.md "The time index and
  /// time views"), and _ringlite_types, _ringlite_progress, _ringlite_gaps,
  /// _ringlite_rejects and _ringlite_segments read the same way. Owned by the Recording.
  /// For a folder, main is an in-memory database holding the virtual tables (they have no
  /// xUpdate: INSERT, UPDATE and DELETE on them fail), the views are TEMP, and
  /// _ringlite_types, _ringlite_progress and _ringlite_segments come from the newest
  /// segment, _ringlite_rejects and _ringlite_gaps from every live segment (gaps of kind
  /// 'retention' from the newest only). A statement that needs a segment that cannot be read
  /// (not a database or not a regular file, a table that is a view or whose columns or
  /// their types differ from the newest segment's) fails with SQLITE_ERROR and a one-line
  /// message naming the file; a segment whose file retention deleted is skipped (its
  /// records expired). At most 32 segment connections stay open: idle ones are closed
  /// (least recently used first, or after a second unused) and opened again on demand.
  sqlite3* connection() const noexcept;

 private:
  explicit Recording(std::unique_ptr<detail::RecordingImpl> impl);
  std::unique_ptr<detail::RecordingImpl> impl_;
};

}  // namespace ringlite

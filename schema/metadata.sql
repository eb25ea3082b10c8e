-- ringlite's own tables in every database the bridge writes (docs/design.md, "The database
-- format"). This file is their one source: the build embeds it into the store, which runs it
-- in the same transaction as it creates the typed tables, and marks the file:
--
--   PRAGMA application_id = 1380731220;  -- 0x524C4954, "RLIT": a ringlite database
--   PRAGMA user_version = 2;             -- the format of these tables (1: before the catalog)
--
-- A database with another application_id, or with tables but no application_id, is refused;
-- so is one with another user_version.
--
-- Every record type of the schema also gets a table named after it:
--
--   CREATE TABLE <type> (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL,
--                        producer INTEGER NOT NULL, <column> <INTEGER|REAL|TEXT|BLOB>, ...);
--
-- seq is the record's position in the ring's stream: unique across all types and across
-- rings (a new ring starts past everything below), increasing, not dense.

-- One row per record type. Written by the bridge when a type first appears; read on every
-- open to refuse a schema whose types changed (a type keeps its id, its name and its layout
-- forever), and by history queries and replay, which therefore never need the schema file.
CREATE TABLE IF NOT EXISTS _ringlite_types (
  id     INTEGER PRIMARY KEY,   -- the type id frames carry: its 1-based place in the schema
  name   TEXT NOT NULL UNIQUE,  -- the table's name
  ddl    TEXT NOT NULL,         -- CREATE TABLE with the declared ringlite types (INT32, CHAR(64), ...)
  layout TEXT NOT NULL          -- the binary layout: "name{a:INT32@0,...}size=80,align=8"
);

-- How far the bridge got on each ring. Written in the same transaction as every batch, so
-- after a crash the bridge resumes exactly after what was committed: nothing lost, nothing
-- twice. Stale only while a transaction is open (readers see the last committed batch).
CREATE TABLE IF NOT EXISTS _ringlite_progress (
  ring_id    TEXT PRIMARY KEY,           -- the ring's random id, 32 hex digits
  position   INTEGER NOT NULL,           -- stream position reached (never moves backwards)
  drops      INTEGER NOT NULL DEFAULT 0, -- producer drops counted so far on this ring
  updated_ns INTEGER NOT NULL            -- wall clock of the last batch, ns since the epoch
);

-- Frames the bridge read but could not store: the schema cannot decode them (unknown type,
-- a TEXT/BLOB offset outside the record, ...), or SQLite refused the row. The raw payload is
-- kept so nothing is silently lost; one bad frame never fails the rest of its batch.
CREATE TABLE IF NOT EXISTS _ringlite_rejects (
  seq      INTEGER PRIMARY KEY, -- the frame's position
  ts_ns    INTEGER,
  producer INTEGER,
  type_id  INTEGER,             -- the frame's type id, as the producer wrote it
  reason   TEXT NOT NULL,
  payload  BLOB                 -- the frame's payload bytes, exactly as read
);

-- Ranges of the stream that hold no record, and producer drops. kind is
--   'abandoned' a claim whose producer died or stalled past unblock_timeout [seq_from, seq_to)
--   'corrupt'   bytes that were not a valid frame [seq_from, seq_to)
--   'drop'      records producers dropped on a full ring, noticed at position seq_from
--               (seq_to NULL); count says how many
--   'retention' a segment expired by retention: its records [seq_from, seq_to), count of
--               them (docs/design.md, "Retention"); carried into every later segment
-- UNIQUE(kind, seq_from): a gap reported again (after a restart) is ignored; a drop reported
-- again at the same position adds to its count.
CREATE TABLE IF NOT EXISTS _ringlite_gaps (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL,
  seq_from    INTEGER,
  seq_to      INTEGER,
  producer    INTEGER,            -- the claimant's slot in the producer table, if known
  pid         INTEGER,            -- its pid, if known
  count       INTEGER NOT NULL DEFAULT 1,
  reason      TEXT,
  recorded_ns INTEGER NOT NULL,   -- wall clock when the bridge stored it
  UNIQUE(kind, seq_from)
);

-- The catalog of a recording's segments (docs/design.md, "The catalog"): one row per segment
-- the recording ever had. The newest segment's is the recording's, updated in the same
-- transaction as each batch; a single database (no segments) leaves it empty.
CREATE TABLE IF NOT EXISTS _ringlite_segments (
  number     INTEGER PRIMARY KEY,  -- N of seg-N.db (8 digits)
  state      TEXT NOT NULL CHECK (state IN ('open', 'closed', 'deleted')),
  first_seq  INTEGER,              -- smallest and largest seq of its records, all types
  last_seq   INTEGER,              --   (NULL while it has none)
  first_ts   INTEGER,              -- smallest and largest ts_ns of its records
  last_ts    INTEGER,
  rows       INTEGER NOT NULL DEFAULT 0,  -- its records, all types (rejects not counted)
  bytes      INTEGER,              -- its file size once closed (NULL while open)
  created_ns INTEGER NOT NULL,     -- wall clock of each change of state
  closed_ns  INTEGER,
  deleted_ns INTEGER
);

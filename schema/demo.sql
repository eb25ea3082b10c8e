-- The demo schema: the seeds' sensor record, and a variable-length log line.
-- Each CREATE TABLE is a record type; declared types give the binary layout (docs/design.md, "Record layouts and the type table").
-- `ringlite schema header schema/demo.sql` prints the matching C++ structs.

-- The seeds' MYSTRUCT: { int a; float b; double c; char buffer[64]; }
CREATE TABLE sensor (
  a      INT32,
  b      FLOAT32,
  c      FLOAT64,
  buffer CHAR(64)
);

-- A log line: fixed fields, then the message in the record's variable tail.
CREATE TABLE log (
  level   UINT8,
  code    INT32,
  message TEXT
);

CREATE INDEX log_level ON log(level);

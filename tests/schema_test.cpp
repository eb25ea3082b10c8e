// Tests of record schemas: the binary layout of every declared type, one error per kind of
// mistake (each must name the table and the column), the authorizer that keeps schema text
// from running anything but CREATE TABLE/INDEX, record validation on hostile bytes, the
// generated C++ header (compiled here, so its static_asserts prove the layout), and the
// `ringlite schema` command.
#include "ringlite/schema.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringutil.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using ringlite::Errc;
using ringlite::Error;
using ringlite::FieldType;
using ringlite::RecordType;
using ringlite::Schema;
using ringlite::test::run_cli;
using ringlite::test::run_shell;
using ringlite::test::TempDir;
using ringlite::test::write_file;

namespace {

constexpr const char* kOrigin = "test.sql";

// The message Schema::parse throws for `sql` (checked to be a schema error), or "".
std::string error_of(const std::string& sql) {
  try {
    Schema::parse(sql, kOrigin);
  } catch (const Error& e) {
    CHECK(e.code() == Errc::schema);
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The one type of a one-table schema.
RecordType one(const std::string& columns) {
  return Schema::parse("CREATE TABLE t (" + columns + ");", kOrigin).types().at(0);
}

fs::path demo_path() { return ringlite::test::source_dir() / "schema" / "demo.sql"; }

// A payload of `size` bytes with a u32 (offset, length) pair written at `at`.
std::vector<std::byte> with_var(std::size_t size, std::size_t at, std::uint32_t off,
                                std::uint32_t len) {
  std::vector<std::byte> p(size);
  std::memcpy(p.data() + at, &off, 4);
  std::memcpy(p.data() + at + 4, &len, 4);
  return p;
}

// Compiles `program` (with the headers in `dir`) as C++20, warnings as errors.
ringlite::test::RunResult compile(const TempDir& dir, const std::string& program) {
  write_file(dir / "main.cpp", program);
  return run_shell("c++ -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I'" +
                   dir.path().string() + "' '" + (dir / "main.cpp").string() + "'");
}

}  // namespace

/// What `ringlite schema header` generates for schema `text` (written to dir/name first).
static std::string header_of(const TempDir& dir, const std::string& name, const std::string& text) {
  write_file(dir / name, text);
  const auto r = run_cli("schema header '" + (dir / name).string() + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

TEST_SUITE("schema") {
  TEST_CASE("the demo schema lays out the seed's sensor struct in 80 bytes aligned 8") {
    const Schema s = Schema::load_file(demo_path());
    REQUIRE(s.types().size() == 2);
    const RecordType& sensor = s.types()[0];
    CHECK(sensor.id == 1);
    CHECK(sensor.name == "sensor");
    CHECK(sensor.size == 80);
    CHECK(sensor.align == 8);
    CHECK_FALSE(sensor.variable());
    REQUIRE(sensor.fields.size() == 4);
    CHECK(sensor.field("a")->offset == 0);
    CHECK(sensor.field("b")->offset == 4);
    CHECK(sensor.field("c")->offset == 8);
    CHECK(sensor.field("buffer")->offset == 16);
    CHECK(sensor.field("buffer")->type == FieldType::chars);
    CHECK(sensor.field("buffer")->length == 64);
    CHECK(sensor.field("nope") == nullptr);
    const RecordType& log = s.types()[1];
    CHECK(log.id == 2);
    CHECK(log.variable());
    CHECK(log.size == 16);
    CHECK(log.align == 4);
    CHECK(log.field("message")->offset == 8);
    CHECK(log.field("message")->size == 8);
    CHECK(s.indexes(log.id) == std::vector<std::string>{"CREATE INDEX log_level ON log(level)"});
  }

  TEST_CASE("every fixed-width type has its natural size and alignment") {
    struct Case {
      const char* declared;
      FieldType type;
      std::uint32_t size;
    };
    const Case cases[] = {
        {"INT8", FieldType::int8, 1},       {"INT16", FieldType::int16, 2},
        {"INT32", FieldType::int32, 4},     {"INT64", FieldType::int64, 8},
        {"UINT8", FieldType::uint8, 1},     {"UINT16", FieldType::uint16, 2},
        {"UINT32", FieldType::uint32, 4},   {"UINT64", FieldType::uint64, 8},
        {"FLOAT32", FieldType::float32, 4}, {"FLOAT64", FieldType::float64, 8},
        {"BOOL", FieldType::boolean, 1},
    };
    for (const auto& c : cases) {
      CAPTURE(std::string(c.declared));
      // A leading INT8 shows the padding the type's alignment forces.
      const RecordType t = one(std::string("pad INT8, x ") + c.declared);
      const auto& x = t.fields.at(1);
      CHECK(x.type == c.type);
      CHECK(x.size == c.size);
      CHECK(x.align == c.size);
      CHECK(x.offset == c.size);
      CHECK(x.declared() == c.declared);
      CHECK(ringlite::type_name(c.type) == c.declared);
      CHECK(t.size == 2 * c.size);
      CHECK(t.align == c.size);
    }
  }

  TEST_CASE("CHAR(N) and BYTES(N) columns have alignment 1 and size N") {
    const RecordType t = one("a CHAR(1), b BYTES(3), c Char( 64 ), d bytes (65535)");
    CHECK(t.fields[0].size == 1);
    CHECK(t.fields[1].type == FieldType::bytes);
    CHECK(t.fields[1].offset == 1);
    CHECK(t.fields[2].offset == 4);
    CHECK(t.fields[2].declared() == "CHAR(64)");
    CHECK(t.fields[3].declared() == "BYTES(65535)");
    CHECK(t.fields[3].offset == 68);
    for (const auto& f : t.fields) CHECK(f.align == 1);
    CHECK(t.size == 68 + 65535);
    CHECK(t.align == 1);
  }

  TEST_CASE("TEXT and BLOB columns are a u32 offset and length aligned 4") {
    const RecordType t = one("flag BOOL, msg TEXT, data blob, n INT16");
    CHECK(t.fields[1].type == FieldType::text);
    CHECK(t.fields[1].offset == 4);
    CHECK(t.fields[1].size == 8);
    CHECK(t.fields[1].align == 4);
    CHECK(t.fields[2].type == FieldType::blob);
    CHECK(t.fields[2].offset == 12);
    CHECK(t.fields[3].offset == 20);
    CHECK(t.size == 24);
    CHECK(t.variable());
    CHECK(ringlite::is_variable(FieldType::blob));
    CHECK_FALSE(ringlite::is_variable(FieldType::chars));
  }

  TEST_CASE("fields are padded and the size rounded up as a C struct would be") {
    const RecordType a = one("small INT8, big INT64");
    CHECK(a.fields[1].offset == 8);
    CHECK(a.size == 16);
    const RecordType b = one("big INT64, small INT8");
    CHECK(b.fields[1].offset == 8);
    CHECK(b.size == 16);
    CHECK(b.align == 8);
    const RecordType c = one("x INT16, y INT8");
    CHECK(c.size == 4);
    CHECK(c.align == 2);
    const RecordType d = one("s CHAR(3), f FLOAT32, e CHAR(1)");
    CHECK(d.fields[1].offset == 4);
    CHECK(d.fields[2].offset == 8);
    CHECK(d.size == 12);
  }

  TEST_CASE("type ids are 1-based in schema order and find matches names exactly") {
    const Schema s = Schema::parse(
        "CREATE TABLE Zeta (a INT8); CREATE TABLE alpha (b INT8); CREATE TABLE mid (c INT8);",
        kOrigin);
    REQUIRE(s.types().size() == 3);
    CHECK(s.types()[0].name == "Zeta");
    CHECK(s.find("Zeta")->id == 1);
    CHECK(s.find("alpha")->id == 2);
    CHECK(s.find("mid")->id == 3);
    CHECK(s.find("zeta") == nullptr);
    CHECK(s.find("nope") == nullptr);
    CHECK(s.find(std::uint16_t{2})->name == "alpha");
    CHECK(s.find(std::uint16_t{0}) == nullptr);
    CHECK(s.find(std::uint16_t{4}) == nullptr);
  }

  TEST_CASE("ddl and layout_signature are canonical whatever the input's spelling") {
    const Schema s = Schema::parse(
        "create table sensor (\n  a int32, -- the id\n  b Float32,\n  c FLOAT64, buffer char( 64 "
        "))",
        kOrigin);
    const RecordType& t = s.types()[0];
    CHECK(t.ddl() == "CREATE TABLE sensor (a INT32, b FLOAT32, c FLOAT64, buffer CHAR(64))");
    CHECK(t.layout_signature() ==
          "sensor{a:INT32@0,b:FLOAT32@4,c:FLOAT64@8,buffer:CHAR(64)@16}size=80,align=8");
    CHECK(Schema::load_file(demo_path()).types()[1].layout_signature() ==
          "log{level:UINT8@0,code:INT32@4,message:TEXT@8}size=16,align=4");
  }

  TEST_CASE("normalized text parses back to an equal schema") {
    const std::string messy =
        "/* header */ CREATE TABLE log (level UINT8, code INT32, message TEXT);\n"
        "CREATE   INDEX  log_level\n   ON log ( level ) -- trailing\n;\n"
        "create table sensor(a INT32,b FLOAT32);\n"
        "CREATE UNIQUE INDEX s_ab ON sensor(a, b) WHERE a > 2 AND 'x  y' <> '';\n"
        "CREATE INDEX log_code ON log(code /* inline */ DESC);\n";
    const Schema s = Schema::parse(messy, kOrigin);
    const std::string text = s.normalized();
    CHECK(text ==
          "CREATE TABLE log (level UINT8, code INT32, message TEXT);\n"
          "CREATE INDEX log_level ON log ( level );\n"
          "CREATE INDEX log_code ON log(code DESC);\n"
          "CREATE TABLE sensor (a INT32, b FLOAT32);\n"
          "CREATE UNIQUE INDEX s_ab ON sensor(a, b) WHERE a > 2 AND 'x  y' <> '';\n");
    const Schema again = Schema::parse(text, "ring 'demo'");
    CHECK(again == s);
    CHECK(again.normalized() == text);
    REQUIRE(again.types().size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK(again.types()[i].layout_signature() == s.types()[i].layout_signature());
      CHECK(again.indexes(again.types()[i].id) == s.indexes(s.types()[i].id));
    }
    const Schema demo = Schema::load_file(demo_path());
    CHECK(Schema::parse(demo.normalized(), kOrigin) == demo);
  }

  TEST_CASE("an unsupported type is a schema error naming the table and column and type") {
    CHECK(error_of("CREATE TABLE sensor (a INT32, x VARCHAR(3));") ==
          "invalid schema 'test.sql': table 'sensor' column 'x': unsupported type 'VARCHAR(3)' "
          "(expected INT8..INT64, "
          "UINT8..UINT64, FLOAT32, FLOAT64, BOOL, CHAR(N), BYTES(N), TEXT or BLOB)");
    for (const std::string type : {"INTEGER", "REAL", "INT32 UNSIGNED", "CHAR", "BYTES", "CHAR(-1)",
                                   "CHAR(1, 2)", "TEXT(5)", "INT128", "DOUBLE PRECISION"}) {
      CAPTURE(type);
      CHECK(contains(error_of("CREATE TABLE t (x " + type + ")"),
                     "table 't' column 'x': unsupported type '" + type + "'"));
    }
    CHECK(contains(error_of("CREATE TABLE t (x)"), "table 't' column 'x': unsupported type ''"));
    CHECK(contains(error_of("CREATE TABLE t (x CHAR(0))"),
                   "table 't' column 'x': type 'CHAR(0)': length 0 is out of range 1..65535"));
    CHECK(contains(error_of("CREATE TABLE t (x BYTES(65536))"),
                   "column 'x': type 'BYTES(65536)': length 65536"));
    CHECK(contains(error_of("CREATE TABLE t (x CHAR(99999999999999999999))"), "is out of range"));
  }

  TEST_CASE("columns named like a system column are rejected in any case") {
    for (const std::string name : {"seq", "TS_NS", "Producer"}) {
      CAPTURE(name);
      CHECK(contains(error_of("CREATE TABLE t (a INT8, " + name + " INT64)"),
                     "invalid schema 'test.sql': table 't' column '" + name + "': '"));
    }
    CHECK(contains(error_of("CREATE TABLE t (seq INT64)"), "'seq' is a system column"));
  }

  TEST_CASE("each unsupported column constraint is a schema error naming the column") {
    struct Case {
      std::string column;
      std::string constraint;
    };
    const Case cases[] = {
        {"x INT32 PRIMARY KEY", "PRIMARY KEY"},
        {"x INT32 NOT NULL", "NOT NULL"},
        {"x INT32 DEFAULT 0", "DEFAULT"},
        {"x INT32 UNIQUE", "UNIQUE"},
        {"x INT32 CHECK (x > 0)", "CHECK (x > 0)"},
        {"x INT32 REFERENCES other(y)", "REFERENCES other(y)"},
        {"x CHAR(8) COLLATE NOCASE", "COLLATE NOCASE"},
        {"x INT32 NULL", "NULL"},
        {"x INT32 CONSTRAINT positive CHECK(x>0)", "CONSTRAINT positive CHECK(x>0)"},
        {"x INT32 GENERATED ALWAYS AS (a + 1)", "GENERATED"},
        {"x INT32 AS (a * 2) STORED", "GENERATED"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.column);
      CHECK(error_of("CREATE TABLE t (a INT32, " + c.column + ")") ==
            "invalid schema 'test.sql': table 't' column 'x': unsupported constraint '" +
                c.constraint + "'");
    }
  }

  TEST_CASE("table constraints and table options are schema errors naming the table") {
    CHECK(error_of("CREATE TABLE t (a INT32, b INT32, UNIQUE (a, b))") ==
          "invalid schema 'test.sql': table 't': unsupported table constraint 'UNIQUE (a, b)'");
    CHECK(contains(error_of("CREATE TABLE t (a INT32, CHECK (a > 0))"),
                   "table 't': unsupported table constraint 'CHECK"));
    CHECK(contains(error_of("CREATE TABLE t (a INT32, PRIMARY KEY (a))"), "table 't'"));
    CHECK(contains(error_of("CREATE TABLE t (a INT32, FOREIGN KEY (a) REFERENCES u(b))"),
                   "table 't': unsupported table constraint 'FOREIGN KEY"));
    // SQLite requires a PRIMARY KEY for WITHOUT ROWID; the table option is checked first.
    CHECK(error_of("CREATE TABLE t (a INT32 PRIMARY KEY) WITHOUT ROWID") ==
          "invalid schema 'test.sql': table 't': unsupported table option 'WITHOUT ROWID'");
    CHECK(contains(error_of("CREATE TABLE t (a INT32) WITHOUT ROWID"),
                   "cannot parse schema 'test.sql'"));
  }

  TEST_CASE("a schema without tables is rejected") {
    CHECK(error_of("") == "invalid schema 'test.sql': no CREATE TABLE statement");
    CHECK(error_of("-- only a comment\n  ") ==
          "invalid schema 'test.sql': no CREATE TABLE statement");
  }

  TEST_CASE("table and column names must be plain identifiers usable in C++ and SQL") {
    CHECK(error_of("CREATE TABLE t (\"a b\" INT8)") ==
          "invalid schema 'test.sql': table 't' column 'a b': name is not a plain identifier "
          "[A-Za-z_][A-Za-z0-9_]*");
    CHECK(contains(error_of("CREATE TABLE \"my-table\" (a INT8)"),
                   "table 'my-table': name is not a plain identifier"));
    CHECK(contains(error_of("CREATE TABLE \"1st\" (a INT8)"),
                   "table '1st': name is not a plain identifier"));
    CHECK(
        contains(error_of("CREATE TABLE class (a INT8)"), "table 'class': name is a C++ keyword"));
    CHECK(contains(error_of("CREATE TABLE t (\"double\" INT8)"),
                   "table 't' column 'double': name is a C++ keyword"));
    CHECK(contains(error_of("CREATE TABLE t (\"order\" INT8)"),
                   "table 't' column 'order': name cannot be used unquoted"));
    CHECK(contains(error_of("CREATE TABLE \"select\" (a INT8)"),
                   "table 'select': name cannot be used unquoted"));
    CHECK(contains(error_of("CREATE TABLE t (ringlite_var INT8)"),
                   "column 'ringlite_var': name is reserved"));
    CHECK(contains(error_of("CREATE TABLE ringlite_var (a INT8)"),
                   "table 'ringlite_var': name is reserved"));
    // Quoting a plain name is fine: the canonical DDL drops the quotes.
    CHECK(one("\"quoted\" INT8, [brackets] INT8").ddl() ==
          "CREATE TABLE t (quoted INT8, brackets INT8)");
  }

  TEST_CASE("table names starting with _ringlite or sqlite_ are reserved") {
    CHECK(error_of("CREATE TABLE _ringlite_types (a INT8)") ==
          "invalid schema 'test.sql': table '_ringlite_types': names starting with '_ringlite' or "
          "'sqlite_' are reserved");
    CHECK(contains(error_of("CREATE TABLE _RingLite_x (a INT8)"), "are reserved"));
    CHECK(contains(error_of("CREATE TABLE sqlite_x (a INT8)"),
                   "cannot parse schema 'test.sql': object name reserved"));
  }

  TEST_CASE("a record whose fixed part exceeds 1 MiB is rejected") {
    std::string columns;
    for (int i = 0; i < 16; ++i) columns += "c" + std::to_string(i) + " CHAR(65535), ";
    CHECK(one(columns + "last CHAR(16)").size == 1u << 20);
    CHECK(error_of("CREATE TABLE big (" + columns + "last CHAR(17))") ==
          "invalid schema 'test.sql': table 'big' column 'last': record size 1048577 exceeds the "
          "limit of 1048576 bytes");
  }

  TEST_CASE("more than 1024 tables are rejected before SQLite parses any, and 1024 parse quickly") {
    std::string sql;
    for (int i = 0; i < 35'000; ++i) sql += "CREATE TABLE t" + std::to_string(i) + " (a INT8);\n";
    auto t0 = std::chrono::steady_clock::now();
    CHECK(error_of(sql) == "invalid schema 'test.sql': 35000 tables (at most 1024)");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    sql.clear();
    for (int i = 0; i < 1024; ++i)
      sql += "CREATE TABLE t" + std::to_string(i) + " (a INT32, b FLOAT64, c TEXT);\n";
    t0 = std::chrono::steady_clock::now();
    CHECK(Schema::parse(sql, "test.sql").types().size() == 1024);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));  // ~0.1 s
    CHECK(error_of(sql + "CREATE TABLE one_more (a INT8);") ==
          "invalid schema 'test.sql': 1025 tables (at most 1024)");
  }

  TEST_CASE("SQL that SQLite cannot parse reports SQLite's message and the line") {
    CHECK(error_of("CREATE TABLE a (x INT8);\n\nCREATE TABLE oops (x INT8") ==
          "cannot parse schema 'test.sql': incomplete input (statement at line 3)");
    CHECK(contains(error_of("CREATE TABLE a (x INT8); CREATE TABLE a (y INT8);"),
                   "table a already exists"));
    CHECK(contains(error_of("CREATE TABLE a (x INT8); garbage"), "near \"garbage\": syntax error"));
    CHECK(contains(error_of(std::string("CREATE TABLE a (x INT8);\0CREATE TABLE b (y INT8);", 49)),
                   "NUL byte at offset 24"));
  }

  TEST_CASE("the authorizer lets schema text create tables and indexes only") {
    const TempDir dir("auth");
    const auto attached = dir / "x.db";
    const std::string table = "CREATE TABLE a (x INT8, y INT8);\n";
    struct Case {
      std::string sql;
      const char* denied;
    };
    const Case cases[] = {
        {"ATTACH DATABASE '" + attached.string() + "' AS x;", "not ATTACH"},
        {table + "CREATE TRIGGER tr AFTER INSERT ON a BEGIN SELECT 1; END;", "not CREATE TRIGGER"},
        {table + "CREATE VIEW v AS SELECT x FROM a;", "not CREATE VIEW"},
        {table + "INSERT INTO a VALUES (1, 2);", "not INSERT 'a'"},
        {table + "PRAGMA writable_schema = ON;", "not PRAGMA 'writable_schema'"},
        {table + "DROP TABLE a;", "not"},
        {table + "SELECT 1;", "not SELECT"},
        {"CREATE VIRTUAL TABLE v USING fts5(body);", "not CREATE VIRTUAL TABLE"},
        {"CREATE TEMP TABLE a (x INT8);", "not"},
        {"BEGIN; CREATE TABLE a (x INT8); COMMIT;", "not a transaction"},
        {"CREATE TABLE a AS SELECT 1 AS x;", "not SELECT"},
        {table + "ALTER TABLE a ADD COLUMN z INT8;", "not"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.sql);
      const auto msg = error_of(c.sql);
      CHECK(contains(msg,
                     "cannot parse schema 'test.sql': not authorized: only CREATE TABLE and CREATE "
                     "INDEX are allowed"));
      CHECK(contains(msg, c.denied));
    }
    CHECK_FALSE(fs::exists(attached));
    // Writing sqlite_master directly is refused by SQLite itself.
    CHECK(contains(
        error_of(table +
                 "INSERT INTO sqlite_master VALUES ('table','b','b',0,'CREATE TABLE b (z INT8)');"),
        "cannot parse schema 'test.sql': table sqlite_master may not be modified"));
    CHECK(contains(error_of(table + "DELETE FROM sqlite_master;"),
                   "cannot parse schema 'test.sql': table sqlite_master"));
    // What CREATE TABLE and CREATE INDEX need still works, including expression and partial
    // indexes.
    const Schema s =
        Schema::parse(table +
                          "CREATE INDEX ax ON a(x);\nCREATE INDEX ay ON a(abs(y)) WHERE x > 0;\n"
                          "CREATE TABLE IF NOT EXISTS b (z INT8);",
                      kOrigin);
    CHECK(s.types().size() == 2);
    CHECK(s.indexes(s.find("a")->id).size() == 2);
  }

  TEST_CASE("indexes stay with their own table in the order written") {
    const Schema s = Schema::parse(
        "CREATE TABLE a (x INT8); CREATE TABLE b (y INT8);\n"
        "CREATE INDEX b1 ON b(y); CREATE INDEX a1 ON a(x); CREATE INDEX b2 ON B(y DESC);",
        kOrigin);
    CHECK(s.indexes(s.find("a")->id) == std::vector<std::string>{"CREATE INDEX a1 ON a(x)"});
    CHECK(s.indexes(s.find("b")->id) ==
          std::vector<std::string>{"CREATE INDEX b1 ON b(y)", "CREATE INDEX b2 ON B(y DESC)"});
  }

  TEST_CASE(
      "indexes may name the system columns and come before their table; the time views' names "
      "and '_ringlite' names are refused") {
    const Schema s = Schema::parse(
        "CREATE INDEX early ON a(ts_ns);\n"
        "CREATE TABLE a (x INT8, name TEXT);\n"
        "CREATE UNIQUE INDEX a_seq ON a(seq DESC);\n"
        "create index a_by on a(producer, ts_ns) where x > 0;\n",
        kOrigin);
    CHECK(s.indexes(s.find("a")->id) ==
          std::vector<std::string>{"CREATE INDEX early ON a(ts_ns)",
                                   "CREATE UNIQUE INDEX a_seq ON a(seq DESC)",
                                   "create index a_by on a(producer, ts_ns) where x > 0"});
    CHECK(s.find("a")->fields.size() == 2);  // the system columns are not the type's

    // An error in an index still names its line.
    CHECK(error_of("CREATE TABLE a (x INT8);\n\nCREATE INDEX i ON a(nope);") ==
          "cannot parse schema 'test.sql': no such column: nope (statement at line 3)");
    CHECK(error_of("CREATE TABLE a (x INT8);\nCREATE INDEX i ON b(x);") ==
          "cannot parse schema 'test.sql': no such table: main.b (statement at line 2)");
    CHECK(error_of("CREATE TABLE a (x INT8);\nCREATE TABLE a_t (y INT8);") ==
          "invalid schema 'test.sql': table 'a_t': the name is taken by the time view of type "
          "'a'");
    CHECK(error_of("CREATE TABLE a (x INT8);\nCREATE INDEX A_T ON a(x);") ==
          "invalid schema 'test.sql': index 'A_T': the name is taken by the time view of type "
          "'a'");
    CHECK(error_of("CREATE TABLE a (x INT8);\nCREATE INDEX _ringlite_a_ts ON a(ts_ns);") ==
          "invalid schema 'test.sql': index '_ringlite_a_ts': names starting with '_ringlite' "
          "are reserved");
    // Text that only looks like an index statement stays where it was.
    CHECK(contains(error_of("CREATE TABLE a (x INT8);\nSELECT 'CREATE INDEX i ON a(x);';"),
                   "not SELECT"));
  }

  TEST_CASE("load_file names the file in its errors") {
    const TempDir dir("load");
    try {
      Schema::load_file(dir / "missing.sql");
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::schema);
      CHECK(std::string(e.what()) == "cannot read schema '" + (dir / "missing.sql").string() +
                                         "': No such file or directory");
    }
    write_file(dir / "bad.sql", "CREATE TABLE t (x FLOAT16);");
    try {
      Schema::load_file(dir / "bad.sql");
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::schema);
      CHECK(contains(e.what(),
                     "invalid schema '" + (dir / "bad.sql").string() + "': table 't' column 'x'"));
    }
  }

  TEST_CASE("check_record accepts a fixed record of exactly the type's size") {
    const RecordType sensor = Schema::load_file(demo_path()).types()[0];
    std::vector<std::byte> p(80);
    CHECK(ringlite::check_record(sensor, p) == "");
    CHECK(ringlite::check_record(sensor, std::span(p).first(79)) ==
          "record is 79 bytes, shorter than the 80-byte fixed part of 'sensor'");
    CHECK(ringlite::check_record(sensor, {}) != "");
    p.resize(88);
    CHECK(ringlite::check_record(sensor, p) == "record is 88 bytes, type 'sensor' is exactly 80");
  }

  TEST_CASE("check_record accepts TEXT and BLOB tails inside the record") {
    const RecordType t = one("a INT8, m TEXT, b BLOB");  // m at 4, b at 12, size 20
    REQUIRE(t.size == 20);
    auto p = with_var(30, 4, 20, 6);
    const std::uint32_t b[2] = {26, 4};
    std::memcpy(p.data() + 12, b, 8);
    CHECK(ringlite::check_record(t, p) == "");
    // Empty values may point at the end of the record.
    auto empty = with_var(20, 4, 20, 0);
    const std::uint32_t eb[2] = {20, 0};
    std::memcpy(empty.data() + 12, eb, 8);
    CHECK(ringlite::check_record(t, empty) == "");
  }

  TEST_CASE("check_record rejects tails that point outside the record") {
    const RecordType log = Schema::load_file(demo_path()).types()[1];  // message at 8, size 16
    CHECK(ringlite::check_record(log, with_var(16, 8, 16, 0)) == "");
    CHECK(ringlite::check_record(log, with_var(40, 8, 16, 24)) == "");
    CHECK(ringlite::check_record(log, with_var(120, 8, 300, 20)) ==
          "column 'message': tail offset 300 + length 20 exceeds record size 120");
    CHECK(ringlite::check_record(log, with_var(40, 8, 16, 25)) ==
          "column 'message': tail offset 16 + length 25 exceeds record size 40");
    CHECK(ringlite::check_record(log, with_var(40, 8, 4, 8)) ==
          "column 'message': tail offset 4 is inside the 16-byte fixed part");
    CHECK(ringlite::check_record(log, with_var(40, 8, 16, 0xFFFFFFFFu)) != "");
    // offset + length wraps around in 32 bits: must still be caught.
    CHECK(ringlite::check_record(log, with_var(40, 8, 0xFFFFFFF0u, 0x20)) ==
          "column 'message': tail offset 4294967280 + length 32 exceeds record size 40");
    for (std::size_t n = 0; n < 16; ++n) {
      CAPTURE(n);
      CHECK(ringlite::check_record(log, std::vector<std::byte>(n)) != "");
    }
  }

  TEST_CASE("check_record rejects BOOL bytes other than 0 and 1") {
    const RecordType t = one("flag BOOL, n INT8");
    std::vector<std::byte> p(2);
    p[0] = std::byte{1};
    CHECK(ringlite::check_record(t, p) == "");
    p[0] = std::byte{2};
    CHECK(ringlite::check_record(t, p) == "column 'flag': BOOL value 2 is not 0 or 1");
    p[0] = std::byte{0xFF};
    CHECK(ringlite::check_record(t, p) == "column 'flag': BOOL value 255 is not 0 or 1");
  }

  TEST_CASE("check_record survives random hostile payloads") {
    const RecordType t = one("f BOOL, a TEXT, b BLOB, c INT64");
    std::mt19937 rng(12345);
    for (int i = 0; i < 20000; ++i) {
      // Exactly sized heap buffers, so a sanitizer build catches any over-read. Small byte
      // values make offsets and lengths land near the record's bounds, where bugs hide.
      std::vector<std::byte> p(rng() % 64);
      for (auto& b : p) b = static_cast<std::byte>(rng() % 4 == 0 ? rng() : rng() % 48);
      if (ringlite::check_record(t, p).empty()) {
        std::uint32_t off = 0, len = 0;
        std::memcpy(&off, p.data() + 4, 4);
        std::memcpy(&len, p.data() + 8, 4);
        CHECK(off >= t.size);
        CHECK(std::uint64_t{off} + len <= p.size());
      }
    }
  }

  TEST_CASE("the generated header compiles and its static_asserts hold for every type") {
    const TempDir dir("header");
    const Schema all = Schema::parse(
        "CREATE TABLE every (i8 INT8, i64 INT64, i16 INT16, u8 UINT8, u32 UINT32, f32 FLOAT32, u16 "
        "UINT16,\n"
        "  f64 FLOAT64, ok BOOL, name CHAR(5), raw BYTES(3), msg TEXT, data BLOB, i32 INT32, u64 "
        "UINT64);\n"
        "CREATE TABLE tiny (b BOOL);\n",
        "every.sql");
    write_file(dir / "every.hpp", header_of(dir, "every.sql", all.normalized()));
    write_file(dir / "demo.hpp",
               header_of(dir, "demo.sql", Schema::load_file(demo_path()).normalized()));
    const auto r = compile(
        dir,
        "#include \"demo.hpp\"\n#include \"every.hpp\"\n#include \"demo.hpp\"\n#include <cstring>\n"
        "int main() {\n"
        "  ringlite_types::sensor s{};\n  s.a = 1; std::strcpy(s.buffer, \"hi\");\n"
        "  ringlite_types::every e{};\n  e.msg.offset = 4; e.raw[0] = 1;\n"
        "  static_assert(sizeof(ringlite_types::tiny) == 1);\n"
        "  return std::strlen(ringlite_types::sensor::kRingliteLayout) > 0 ? s.a + e.raw[0] - 2 : "
        "1;\n}\n");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    const RecordType& every = all.types()[0];
    CHECK(every.size == 80);
    CHECK(every.align == 8);
  }

  TEST_CASE("the generated header names its source and embeds each layout signature") {
    const Schema demo = Schema::load_file(demo_path());
    const std::string h = run_cli("schema header '" + demo_path().string() + "'").out;
    CHECK(contains(
        h, "Generated from " + demo_path().string() + " by `ringlite schema header`. Do not edit"));
    CHECK(contains(h, "#pragma once"));
    CHECK(contains(h, "namespace ringlite_types {"));
    CHECK(contains(h, "#ifndef RINGLITE_VAR_DEFINED"));
    CHECK(contains(h, "static constexpr const char* kRingliteType = \"sensor\";"));
    for (const auto& t : demo.types())
      CHECK(contains(h, "kRingliteLayout = \"" + t.layout_signature() + "\";"));
    CHECK(contains(h, "static_assert(offsetof(sensor, buffer) == 16"));
    CHECK(contains(h, "static_assert(sizeof(sensor) == 80"));
    CHECK(contains(h, "char buffer[64];"));
  }

  TEST_CASE("ringlite schema check prints one line per type and exits 0") {
    const auto r = run_cli("schema check '" + demo_path().string() + "'");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out ==
          "sensor id=1 size=80 align=8 a:INT32@0 b:FLOAT32@4 c:FLOAT64@8 buffer:CHAR(64)@16\n"
          "log id=2 size=16 align=4 level:UINT8@0 code:INT32@4 message:TEXT@8\n");
    CHECK(r.err == "");
  }

  TEST_CASE("ringlite schema check of a bad file exits 2 with one error line") {
    const TempDir dir("cli");
    write_file(dir / "bad.sql", "CREATE TABLE sensor (a INT32, x VARCHAR(3));\n");
    const auto r = run_cli("schema check '" + (dir / "bad.sql").string() + "'");
    CHECK(r.exit_code == 2);
    CHECK(r.out == "");
    CHECK(r.err.rfind("ringlite: invalid schema '", 0) == 0);
    CHECK(contains(r.err, "table 'sensor' column 'x': unsupported type 'VARCHAR(3)'"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);

    write_file(dir / "attach.sql", "ATTACH DATABASE '" + (dir / "x.db").string() + "' AS x;\n");
    const auto a = run_cli("schema check '" + (dir / "attach.sql").string() + "'");
    CHECK(a.exit_code == 2);
    CHECK(a.err.rfind("ringlite: cannot parse schema '", 0) == 0);
    CHECK_FALSE(fs::exists(dir / "x.db"));

    const auto m = run_cli("schema check '" + (dir / "missing.sql").string() + "'");
    CHECK(m.exit_code == 2);
    CHECK(contains(m.err, "ringlite: cannot read schema '"));
    CHECK(run_cli("schema").exit_code == 2);
    CHECK(run_cli("schema check").exit_code == 2);
  }

  TEST_CASE("ringlite schema header output compiles on stdout or with -o") {
    const TempDir dir("cli_header");
    const auto r = run_cli("schema header '" + demo_path().string() + "'");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.out, "struct sensor {"));
    write_file(dir / "stdout.hpp", r.out);
    const auto o = run_cli("schema header '" + demo_path().string() + "' -o '" +
                           (dir / "file.hpp").string() + "'");
    CHECK_MESSAGE(o.exit_code == 0, o.err);
    CHECK(o.out == "");
    CHECK(ringlite::test::read_file(dir / "file.hpp") == r.out);
    // Both outputs are the same text (checked above), so one compiles for both. (Including
    // both would depend on GCC's #pragma once treating equal files with equal mtimes as one.)
    const auto c = compile(
        dir, "#include \"file.hpp\"\nint main() { ringlite_types::log l{}; return l.code; }\n");
    CHECK_MESSAGE(c.exit_code == 0, c.err);
    const auto bad = run_cli("schema header '" + demo_path().string() + "' -o '" +
                             (dir / "no" / "x.hpp").string() + "'");
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.rfind("ringlite: cannot write header '", 0) == 0);
  }
}

// layout_difference() and schema_difference(): the one place that says what differs
// between two layouts, and the writer<T>() message that uses it.
namespace layout_diff {
using namespace ringlite;
using namespace ringlite::test;
}  // namespace layout_diff

namespace layout_diff {

constexpr const char* kSensor =
    "sensor{a:INT32@0,b:FLOAT32@4,c:FLOAT64@8,buffer:CHAR(64)@16}size=80,align=8";

// A header generated from a schema where sensor.b is FLOAT64.
struct WideSensor {
  static constexpr const char* kRingliteType = "sensor";
  static constexpr const char* kRingliteLayout =
      "sensor{a:INT32@0,b:FLOAT64@8,c:FLOAT64@16,buffer:CHAR(64)@24}size=88,align=8";
  std::int32_t a;
  double b;
  double c;
  char buffer[64];
};

}  // namespace layout_diff

using namespace layout_diff;

TEST_SUITE("layout_difference") {
  TEST_CASE("a column of another type is named with both types and offsets, then both layouts") {
    CHECK(layout_difference(WideSensor::kRingliteLayout, "the struct", kSensor, "the ring") ==
          std::string(
              "column 'b' is FLOAT64 at offset 8 in the struct but FLOAT32 at offset 4 in the ring "
              "(the struct has ") +
              WideSensor::kRingliteLayout + ", the ring has " + kSensor + ")");
  }

  TEST_CASE("columns only one side has are named, and equal layouts give an empty string") {
    const auto a = Schema::parse("CREATE TABLE t (x INT32, y INT8)", "a").types()[0];
    const auto b = Schema::parse("CREATE TABLE t (x INT32, z INT16)", "b").types()[0];
    CHECK(layout_difference(a, "A", b, "B") ==
          "column 'y' (INT8 at offset 4) is in A but not in B; column 'z' (INT16 at offset 4) is "
          "in B "
          "but not in A (A has t{x:INT32@0,y:INT8@4}size=8,align=4, B has "
          "t{x:INT32@0,z:INT16@4}size=8,align=4)");
    CHECK(layout_difference(a, "A", a, "B").empty());
  }

  TEST_CASE("reordered columns name the first one that moved") {
    const auto a = Schema::parse("CREATE TABLE t (x INT32, y INT32, z INT32)", "a").types()[0];
    const auto b = Schema::parse("CREATE TABLE t (y INT32, x INT32, z INT32)", "b").types()[0];
    CHECK(layout_difference(a, "A", b, "B")
              .find("column 'x' is at offset 0 in A but at offset 4 in B (") == 0);
  }

  TEST_CASE("text that is not a layout signature is reported as differing, with both texts") {
    CHECK(layout_difference("garbage", "A", kSensor, "B") ==
          std::string("the layouts differ (A has garbage, B has ") + kSensor + ")");
  }

  TEST_CASE("schema_difference names types only one side has, moved ids, layouts and indexes") {
    const auto a = Schema::parse(
        "CREATE TABLE s (x INT32); CREATE TABLE t (y INT8); CREATE INDEX i ON t(y);", "a");
    CHECK(schema_difference(a, "A", a, "B").empty());
    CHECK(schema_difference(a, "A", Schema::parse("CREATE TABLE s (x INT32);", "b"), "B") ==
          "type 't' is in A but not in B");
    CHECK(schema_difference(
              a, "A", Schema::parse("CREATE TABLE t (y INT8); CREATE TABLE s (x INT32);", "b"),
              "B") == "type 's' has id 1 in A but 2 in B; type 't' has id 2 in A but 1 in B");
    CHECK(schema_difference(a, "A",
                            Schema::parse("CREATE TABLE s (x INT64); CREATE TABLE t (y INT8); "
                                          "CREATE INDEX i ON t(y);",
                                          "b"),
                            "B") ==
          "type 's': column 'x' is INT32 at offset 0 in A but INT64 at offset 0 in B (A has "
          "s{x:INT32@0}size=4,align=4, B has s{x:INT64@0}size=8,align=8)");
    CHECK(schema_difference(
              a, "A", Schema::parse("CREATE TABLE s (x INT32); CREATE TABLE t (y INT8);", "b"), "B")
              .find("type 't' has indexes '") == 0);
  }

  TEST_CASE("writer<T> names the column whose type differs from the ring's and both layouts") {
    RingGuard g{ring_config("layout")};
    auto ring = Ring::create(g.config, demo_schema());
    Producer p(ring);
    try {
      p.writer<WideSensor>("sensor");
      FAIL("writer<WideSensor> was not refused");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::schema);
      CHECK(std::string(e.what()) == "cannot write type 'sensor' to " + ring.display() +
                                         ": the struct's layout differs from the ring's: column "
                                         "'b' is FLOAT64 at offset 8 in the struct "
                                         "but FLOAT32 at offset 4 in the ring (the struct has " +
                                         WideSensor::kRingliteLayout + ", the ring has " + kSensor +
                                         "); regenerate the header with 'ringlite schema header'");
    }
  }
}

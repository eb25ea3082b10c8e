// The type table (types.hpp) and record layouts (layout.hpp): one test row per declared
// type, walked against the table, so that adding a type means its table row and its row
// here; the layout rule; and the binary form rings carry, read back as untrusted input.
#include "ringlite/layout.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ringlite/error.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/types.hpp"

using namespace ringlite;

namespace {

FieldValue ival(std::int64_t v) {
  FieldValue f;
  f.integer = v;
  return f;
}
FieldValue rval(double v) {
  FieldValue f;
  f.real = v;
  return f;
}
FieldValue bval(std::string_view v) {
  FieldValue f;
  f.bytes = v;
  return f;
}
Field field(std::string name, FieldType type, std::uint32_t length = 0) {
  Field f;
  f.name = std::move(name);
  f.type = type;
  f.length = length;
  return f;
}

/// What a test expects of one declared type: its table facts, a value to encode, and the
/// SQL value decode_field must give back.
struct TypeRow {
  const char* name;
  FieldType type;
  std::uint32_t size, align;
  StorageClass storage;
  const char* cpp;
  FieldValue in;
  // Expected decode: one of these, by storage class.
  std::int64_t integer;
  double real;
  std::string bytes;
};

const std::vector<TypeRow>& rows() {
  static const std::vector<TypeRow> r = {
      {"INT8", FieldType::int8, 1, 1, StorageClass::integer, "::std::int8_t", ival(-129), 127, 0,
       ""},
      {"INT16", FieldType::int16, 2, 2, StorageClass::integer, "::std::int16_t", ival(-32768),
       -32768, 0, ""},
      {"INT32", FieldType::int32, 4, 4, StorageClass::integer, "::std::int32_t", ival(1LL << 31),
       INT32_MIN, 0, ""},
      {"INT64", FieldType::int64, 8, 8, StorageClass::integer, "::std::int64_t", ival(INT64_MIN),
       INT64_MIN, 0, ""},
      {"UINT8", FieldType::uint8, 1, 1, StorageClass::integer, "::std::uint8_t", ival(255), 255, 0,
       ""},
      {"UINT16", FieldType::uint16, 2, 2, StorageClass::integer, "::std::uint16_t", ival(65536 + 7),
       7, 0, ""},
      {"UINT32", FieldType::uint32, 4, 4, StorageClass::integer, "::std::uint32_t",
       ival(4294967295LL), 4294967295LL, 0, ""},
      // UINT64 travels as its two's-complement bits: 2^64-1 reads back as -1.
      {"UINT64", FieldType::uint64, 8, 8, StorageClass::integer, "::std::uint64_t", ival(-1), -1, 0,
       ""},
      {"FLOAT32", FieldType::float32, 4, 4, StorageClass::real, "float", rval(0.1), 0,
       static_cast<double>(0.1f), ""},
      {"FLOAT64", FieldType::float64, 8, 8, StorageClass::real, "double", rval(-1e300), 0, -1e300,
       ""},
      {"BOOL", FieldType::boolean, 1, 1, StorageClass::integer, "bool", ival(42), 1, 0, ""},
      // CHAR(5): up to the first NUL; longer input is cut to N.
      {"CHAR", FieldType::chars, 0, 1, StorageClass::text, "char", bval("abcdefg"), 0, 0, "abcde"},
      {"BYTES", FieldType::bytes, 0, 1, StorageClass::blob, "unsigned char",
       bval(std::string_view("\0\1", 2)), 0, 0, std::string("\0\1\0\0\0", 5)},
      {"TEXT", FieldType::text, 8, 4, StorageClass::text, "::ringlite_types::ringlite_var",
       bval("hello"), 0, 0, "hello"},
      {"BLOB", FieldType::blob, 8, 4, StorageClass::blob, "::ringlite_types::ringlite_var",
       bval(std::string_view("\xff\0", 2)), 0, 0, std::string("\xff\0", 2)},
  };
  return r;
}

/// Decodes into a comparable value.
struct Got {
  StorageClass kind{};
  std::int64_t integer = 0;
  double real = 0;
  std::string bytes;
};
struct Sink {
  Got& g;
  void integer(std::int64_t v) const { g.kind = StorageClass::integer, g.integer = v; }
  void real(double v) const { g.kind = StorageClass::real, g.real = v; }
  void text(std::string_view s) const { g.kind = StorageClass::text, g.bytes.assign(s); }
  void blob(std::span<const std::byte> b) const {
    g.kind = StorageClass::blob, g.bytes.assign(reinterpret_cast<const char*>(b.data()), b.size());
  }
};

/// A record of one field of `row`'s type (CHAR and BYTES get N = 5), its value encoded by the
/// type table, assembled as a producer would (tails after the fixed part).
std::vector<std::byte> one_field_record(const RecordType& t, const TypeRow& row) {
  std::vector<std::byte> fixed(t.size);
  std::vector<std::string_view> tails;
  const Field& f = t.fields[0];
  encode_field(f.type, f.offset, f.length, row.in, fixed, tails);
  std::vector<std::byte> rec = fixed;
  for (const auto& tail : tails) {
    const auto off = static_cast<std::uint32_t>(rec.size());
    const auto len = static_cast<std::uint32_t>(tail.size());
    std::memcpy(rec.data() + f.offset, &off, 4);
    std::memcpy(rec.data() + f.offset + 4, &len, 4);
    for (char c : tail) rec.push_back(static_cast<std::byte>(c));
  }
  return rec;
}

Layouts demo() {
  return Schema::parse(
      "CREATE TABLE sensor (a INT32, b FLOAT32, c FLOAT64, buffer CHAR(64));\n"
      "CREATE TABLE log (level UINT8, code INT32, message TEXT);\n",
      "demo.sql");
}

/// The error Layouts::decode gives for `bytes` (checked to be Errc::corrupt), or "".
std::string decode_error(const std::string& bytes) {
  try {
    (void)Layouts::decode(std::as_bytes(std::span(bytes.data(), bytes.size())), "ring 'x'");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::corrupt);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("layout") {
  TEST_CASE(
      "every row of the type table has its test row, and each type encodes and decodes its "
      "values") {
    REQUIRE(rows().size() == kTypeTable.size());  // a new type needs its row here too
    for (const TypeInfo& info : kTypeTable) {
      CAPTURE(info.name);
      const auto it = std::find_if(rows().begin(), rows().end(),
                                   [&](const TypeRow& r) { return r.type == info.type; });
      REQUIRE(it != rows().end());
      const TypeRow& row = *it;
      CHECK(info.name == std::string_view(row.name));
      CHECK(info.size == row.size);
      CHECK(info.align == row.align);
      CHECK(info.storage == row.storage);
      CHECK(info.cpp == std::string_view(row.cpp));
      CHECK(find_type(row.name) == &info);
      CHECK(sql_type(info.type) == storage_name(row.storage));
      // The SQL schema parser knows the type by the table's name, in any case.
      const std::string declared = std::string(row.name) + (is_sized(info.type) ? "(5)" : "");
      const Schema s = Schema::parse("CREATE TABLE t (x " + declared + ")", "t.sql");
      REQUIRE(s.types()[0].fields[0].type == info.type);
      CHECK(s.types()[0].fields[0].declared() == declared);
      // Encoded into a record, the value comes back as the table's storage class says.
      const RecordType& t = s.types()[0];
      const auto rec = one_field_record(t, row);
      CHECK(check_record(t, rec) == "");
      Got got;
      decode_field(t.fields[0].type, t.fields[0].offset, t.fields[0].length, rec.data(), Sink{got});
      CHECK(got.kind == row.storage);
      switch (row.storage) {
        case StorageClass::integer:
          CHECK(got.integer == row.integer);
          break;
        case StorageClass::real:
          CHECK(got.real == row.real);
          break;
        default:
          CHECK(got.bytes == row.bytes);
          break;
      }
    }
    CHECK(find_type("VARCHAR") == nullptr);
    CHECK(find_type("int32") == &type_info(FieldType::int32));
  }

  TEST_CASE("RecordType::make lays fields out as a C struct and refuses what cannot be a record") {
    const RecordType t =
        RecordType::make(1, "t",
                         {field("a", FieldType::int8), field("b", FieldType::int64),
                          field("c", FieldType::chars, 3), field("d", FieldType::text)});
    CHECK(t.fields[1].offset == 8);
    CHECK(t.fields[2].offset == 16);
    CHECK(t.fields[3].offset == 20);
    CHECK(t.size == 32);
    CHECK(t.align == 8);
    CHECK_THROWS_AS(RecordType::make(1, "t", {}), Error);
    CHECK_THROWS_AS(RecordType::make(1, "t", {field("a", FieldType::chars, 0)}), Error);
    std::vector<Field> huge;
    for (int i = 0; i < 17; ++i)
      huge.push_back(field("f" + std::to_string(i), FieldType::bytes, 65535));
    CHECK_THROWS_AS(RecordType::make(1, "t", huge), Error);  // over 1 MiB
  }

  TEST_CASE("layouts survive their binary form exactly") {
    std::string every = "CREATE TABLE every (";
    for (std::size_t i = 0; i < kTypeTable.size(); ++i) {
      every += (i ? ", c" : "c") + std::to_string(i) + " " + std::string(kTypeTable[i].name) +
               (is_sized(kTypeTable[i].type) ? "(7)" : "");
    }
    every += "); CREATE TABLE tiny (b BOOL);";
    for (const Layouts& l : {demo(), Layouts(Schema::parse(every, "every.sql"))}) {
      const std::string bin = l.encode();
      const Layouts back =
          Layouts::decode(std::as_bytes(std::span(bin.data(), bin.size())), "ring 'x'");
      CHECK(back == l);
      for (std::size_t i = 0; i < l.types().size(); ++i) {
        CHECK(back.types()[i].layout_signature() == l.types()[i].layout_signature());
      }
    }
  }

  TEST_CASE("binary layouts that a real ring cannot carry are refused, naming what is wrong") {
    const std::string good = demo().encode();
    CHECK(decode_error(good) == "");
    // Cut anywhere: always refused, never read past the end.
    for (std::size_t n = 0; n < good.size(); ++n) {
      CAPTURE(n);
      CHECK(decode_error(good.substr(0, n)).find("cannot read the record layouts of ring 'x': ") ==
            0);
    }
    const auto with = [&](std::size_t at, char c) {
      std::string b = good;
      b[at] = c;
      return decode_error(b);
    };
    CHECK(with(0, 'X').find("no layouts magic") != std::string::npos);
    CHECK(with(4, 2).find("layouts version 2") != std::string::npos);
    CHECK(with(6, 0).find("0 record types") != std::string::npos);
    // The first type's name "sensor" is at byte 12; its first field's code at 18, N at 22,
    // and its name "a" at 26.
    CHECK(with(12, '9').find("not a plain identifier") != std::string::npos);
    CHECK(with(18, 99).find("unknown type code 99") != std::string::npos);
    CHECK(with(22, 1).find("INT32 field with a length") != std::string::npos);
    CHECK(with(26, '/').find("not a plain identifier") != std::string::npos);
    CHECK(decode_error(good + '\0').find("bytes after the last record type") != std::string::npos);
    // Two types of one name, two fields of one name.
    const Layouts twice = Schema::parse("CREATE TABLE a (x INT8); CREATE TABLE b (x INT8);", "s");
    std::string dup = twice.encode();
    dup[dup.find('b')] = 'a';
    CHECK(decode_error(dup).find("type 'a' is declared twice") != std::string::npos);
    const Layouts two_fields = Schema::parse("CREATE TABLE a (x INT8, y INT8);", "s");
    std::string dupf = two_fields.encode();
    dupf[dupf.rfind('y')] = 'x';
    CHECK(decode_error(dupf).find("field 'x' twice") != std::string::npos);
  }

  TEST_CASE("random and mutated binary layouts are refused or read, never read out of bounds") {
    std::mt19937 rng(7);
    const std::string good = demo().encode();
    for (int i = 0; i < 20000; ++i) {
      std::string b = good;
      if (i % 2) {
        b.resize(rng() % 64);
        for (char& c : b) c = static_cast<char>(rng());
      } else {
        for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
          b[rng() % b.size()] = static_cast<char>(rng());
      }
      try {
        const Layouts l = Layouts::decode(std::as_bytes(std::span(b.data(), b.size())), "ring 'x'");
        for (const auto& t : l.types()) CHECK(t.size <= kMaxRecordSize);
      } catch (const Error& e) {
        CHECK(e.code() == Errc::corrupt);
      }
    }
  }
}

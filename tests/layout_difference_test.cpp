// Tests of layout_difference() and schema_difference() (schema.cpp), the one place that says
// what differs between two layouts, and of the writer<T>() message that uses it. (They
// belong with schema_test.cpp and ring_test.cpp; kept apart while those files change on
// another branch.)
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;

namespace {

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

}  // namespace

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

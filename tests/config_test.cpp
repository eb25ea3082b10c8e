// Tests of the TOML config: the documented example, path resolution, and one error per kind
// of mistake, each of which must name the key and the file.
#include "ringlite/config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ringlite/error.hpp"
#include "testutil.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ringlite::Config;
using ringlite::Errc;
using ringlite::Error;

namespace {

constexpr const char* kOrigin = "/x/demo.toml";
constexpr std::string_view kPrefix = "invalid config '/x/demo.toml': ";

// A valid config with extra lines in [ring], then any further sections.
std::string config_with(const std::string& ring_lines, const std::string& rest = "") {
  return "[ring]\nname = \"demo\"\n" + ring_lines + "\n[schema]\nfile = \"s.sql\"\n" + rest;
}

// The message Config::parse throws for `toml` (checked to be a config error), or "".
std::string error_of(const std::string& toml) {
  try {
    Config::parse(toml, kOrigin);
  } catch (const Error& e) {
    CHECK(e.code() == Errc::config);
    return e.what();
  }
  return "";
}

// The message a parse_size/parse_duration call throws, or "".
template <typename F>
std::string error_from(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.code() == Errc::config);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("config") {
  TEST_CASE("the example config loads with the documented values") {
    const fs::path root = ringlite::test::source_dir();
    const Config c = Config::load(root / "examples" / "demo.toml");
    CHECK(c.source == (root / "examples" / "demo.toml").lexically_normal());
    CHECK(c.ring.name == "demo");
    CHECK(c.ring.file.empty());
    CHECK(c.ring.capacity == 64ull << 20);
    CHECK(c.ring.mode == 0600);
    CHECK(c.ring.unblock_timeout == 2s);
    CHECK(c.ring.max_record == 0);
    CHECK(c.ring.display() == "ring 'demo'");
    CHECK(c.schema_file == (root / "schema" / "demo.sql").lexically_normal());
    CHECK(c.schema_file.is_absolute());
    CHECK(fs::exists(c.schema_file));
    CHECK(c.database.path == (root / "examples" / "demo.db").lexically_normal());
    CHECK(c.database.preset == "safe");
    CHECK(c.database.mode == 0600);
    CHECK(c.database.pragmas == std::map<std::string, std::string>{{"cache_size", "-65536"}});
    CHECK(c.batch.max_records == 65536);
    CHECK(c.batch.max_delay == 20ms);
  }

  TEST_CASE("relative paths resolve against the config file's folder, not the working directory") {
    ringlite::test::TempDir dir("config");
    fs::create_directories(dir.path() / "etc");
    ringlite::test::write_file(dir.path() / "etc" / "r.toml",
                               "[ring]\nfile = \"rings/./r.ring\"\n[schema]\nfile = \"../s.sql\"\n"
                               "[database]\npath = \"/var/lib/r.db\"\n");
    const Config c = Config::load(dir.path() / "etc" / "r.toml");
    const fs::path folder = fs::absolute(dir.path()).lexically_normal();
    CHECK(c.ring.name.empty());
    CHECK(c.ring.file == folder / "etc" / "rings" / "r.ring");
    CHECK(c.ring.display() == "ring file '" + (folder / "etc" / "rings" / "r.ring").string() + "'");
    CHECK(c.schema_file == folder / "s.sql");
    CHECK(c.database.path == "/var/lib/r.db");
  }

  TEST_CASE("optional keys and sections keep their defaults") {
    const Config c = Config::parse(config_with(""), kOrigin);
    CHECK(c.source == "/x/demo.toml");
    CHECK(c.ring.capacity == 64ull << 20);
    CHECK(c.ring.mode == 0600);
    CHECK(c.ring.unblock_timeout == 2s);
    CHECK(c.ring.max_record == 0);
    CHECK(c.schema_file == "/x/s.sql");
    CHECK(c.database.path.empty());
    CHECK(c.database.preset == "safe");
    CHECK(c.database.pragmas.empty());
    CHECK(c.batch.max_records == 65536);
    CHECK(c.batch.max_delay == 20ms);
  }

  TEST_CASE("a config file that cannot be read is an error naming the file and the cause") {
    ringlite::test::TempDir dir("config");
    const fs::path missing = dir.path() / "missing.toml";
    std::string msg = error_from([&] { Config::load(missing); });
    CHECK(msg == "cannot read config '" + missing.string() + "': No such file or directory");
    msg = error_from([&] { Config::load(dir.path()); });
    CHECK(msg == "cannot read config '" + dir.path().string() + "': Is a directory");
  }

  TEST_CASE("a TOML syntax error names the file, line and column") {
    const std::string msg = error_of("[ring]\nname = \"demo\"\ncapacity = = 3\n");
    CHECK(msg.rfind(kPrefix, 0) == 0);
    CHECK(msg.find("at line 3, column") != std::string::npos);
    // toml++'s description is capitalised; our messages are not.
    CHECK(msg.find("invalid config '/x/demo.toml': error while parsing") == 0);
  }

  TEST_CASE("an unknown key or section is an error naming the key path and the file") {
    CHECK(error_of(config_with("capacty = \"64MiB\"")) ==
          std::string(kPrefix) + "unknown key 'ring.capacty' (did you mean 'ring.capacity'?)");
    CHECK(error_of(config_with("", "[rings]\nname = \"x\"\n")) ==
          std::string(kPrefix) + "unknown section 'rings' (did you mean 'ring'?)");
    CHECK(error_of(config_with("", "[batch]\nmax_recs = 5\n")) ==
          std::string(kPrefix) + "unknown key 'batch.max_recs'");
    CHECK(error_of(config_with("", "[database]\npath = \"d.db\"\npragma = 1\n")) ==
          std::string(kPrefix) +
              "unknown key 'database.pragma' (did you mean 'database.pragmas'?)");
    CHECK(error_of("verbose = true\n" + config_with("")) ==
          std::string(kPrefix) + "unknown key 'verbose'");
    CHECK(error_of(config_with("", "[schema.extra]\n")) ==
          std::string(kPrefix) + "unknown key 'schema.extra'");
  }

  TEST_CASE("every invalid value is an error naming the key, the value and the file") {
    struct Case {
      std::string toml;
      std::string message;  // after "invalid config '/x/demo.toml': "
    };
    const std::string schema = "[schema]\nfile = \"s.sql\"\n";
    const std::vector<Case> cases = {
        {config_with("capacity = true"), "'ring.capacity' must be a size like \"64MiB\", not true"},
        {config_with("capacity = 3000000"),
         "'ring.capacity' must be a power of two between 4KiB and 64GiB, not 3000000"},
        {config_with("capacity = \"2KiB\""),
         "'ring.capacity' must be a power of two between 4KiB and 64GiB, not \"2KiB\""},
        {config_with("capacity = \"128GiB\""),
         "'ring.capacity' must be a power of two between 4KiB and 64GiB, not \"128GiB\""},
        {config_with("capacity = \"64MB\""),
         "'ring.capacity' must be a size like \"64MiB\", not \"64MB\""},
        {config_with("capacity = -4096"),
         "'ring.capacity' must be a size like \"64MiB\", not -4096"},
        {config_with("capacity = \"99999999999GiB\""),
         "'ring.capacity' is too large: \"99999999999GiB\""},
        {config_with("mode = \"0400\""),
         "'ring.mode' must be octal permission bits like \"0600\" that include owner read and "
         "write, not \"0400\""},
        {config_with("mode = \"0680\""),
         "'ring.mode' must be octal permission bits like \"0600\" that include owner read and "
         "write, not \"0680\""},
        {config_with("mode = 600"),
         "'ring.mode' must be octal permission bits like \"0600\" that include owner read and "
         "write, not 600"},
        {config_with("mode = \"01600\""),
         "'ring.mode' must be octal permission bits like \"0600\" that include owner read and "
         "write, not \"01600\""},
        {config_with("unblock_timeout = \"5ms\""),
         "'ring.unblock_timeout' must be between 10ms and 1h, not \"5ms\""},
        {config_with("unblock_timeout = \"2h\""),
         "'ring.unblock_timeout' must be between 10ms and 1h, not \"2h\""},
        {config_with("unblock_timeout = 2"),
         "'ring.unblock_timeout' must be a duration like \"20ms\", not 2"},
        {config_with("unblock_timeout = \"2\""),
         "'ring.unblock_timeout' must be a duration like \"20ms\", not \"2\""},
        {config_with("capacity = \"4KiB\"\nmax_record = 2048"),
         "'ring.max_record' must be between 64 and 1024 bytes (a quarter of ring.capacity), not "
         "2048"},
        {config_with("max_record = \"32B\""),
         "'ring.max_record' must be between 64 and 16777216 bytes (a quarter of ring.capacity), "
         "not \"32B\""},
        {"[ring]\nname = 5\n" + schema, "'ring.name' must be a name like \"demo\", not 5"},
        {config_with("", "[database]\npath = \"d.db\"\npreset = \"quick\"\n"),
         "'database.preset' must be one of fast, safe, durable, not \"quick\""},
        {config_with("", "[database]\npreset = \"safe\"\n"), "'database.path' is required"},
        {config_with("", "[database]\npath = \"\"\n"), "'database.path' must be a path, not \"\""},
        {config_with("", "[database]\npath = 3\n"), "'database.path' must be a path, not 3"},
        {config_with("", "[database]\npath = \"d.db\"\npragmas = 3\n"),
         "'database.pragmas' must be a table, not 3"},
        {config_with("", "[batch]\nmax_records = 0\n"),
         "'batch.max_records' must be an integer between 1 and 10000000, not 0"},
        {config_with("", "[batch]\nmax_records = 10000001\n"),
         "'batch.max_records' must be an integer between 1 and 10000000, not 10000001"},
        {config_with("", "[batch]\nmax_records = \"100\"\n"),
         "'batch.max_records' must be an integer between 1 and 10000000, not \"100\""},
        {config_with("", "[batch]\nmax_delay = \"61s\"\n"),
         "'batch.max_delay' must be between 0ms and 60s, not \"61s\""},
        {config_with("", "[batch]\nmax_delay = \"-1ms\"\n"),
         "'batch.max_delay' must be a duration like \"20ms\", not \"-1ms\""},
        {config_with("", "[[batch]]\nmax_records = 1\n"), "'batch' must be a table, not an array"},
        {"[ring]\nname = \"demo\"\n", "'schema.file' is required"},
        {"[ring]\nname = \"demo\"\n[schema]\n", "'schema.file' is required"},
        {schema, "'ring.name' or 'ring.file' is required"},
        {"[ring]\ncapacity = \"64MiB\"\n" + schema, "'ring.name' or 'ring.file' is required"},
        {"[ring]\nname = \"demo\"\nfile = \"demo.ring\"\n" + schema,
         "'ring.name' and 'ring.file' exclude each other: give one"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.toml);
      CHECK(error_of(c.toml) == std::string(kPrefix) + c.message);
    }
  }

  TEST_CASE("ring names with '/' or '..' or other unsafe characters are rejected") {
    for (const char* name : {"a/b", "/demo", "..", "a..b", "../etc"}) {
      CAPTURE(name);
      const std::string msg =
          error_of(std::string("[ring]\nname = \"") + name + "\"\n[schema]\nfile = \"s\"\n");
      CHECK(msg == std::string(kPrefix) +
                       "'ring.name' must be a plain name without '/' or '..', not \"" + name +
                       "\"");
    }
    const std::string long_name(201, 'a');
    for (const std::string& name : {std::string(""), std::string("."), std::string(".hidden"),
                                    std::string("a b"), std::string("d\u00e9mo"), long_name}) {
      CAPTURE(name);
      const std::string msg = error_of("[ring]\nname = \"" + name + "\"\n[schema]\nfile = \"s\"\n");
      CHECK(msg.rfind(std::string(kPrefix) +
                          "'ring.name' must be 1-200 of A-Z a-z 0-9 _ . - not starting with '.'",
                      0) == 0);
    }
    for (const std::string& name :
         {std::string("demo"), std::string("a.b-c_d9"), std::string(200, 'z')}) {
      CAPTURE(name);
      CHECK(Config::parse("[ring]\nname = \"" + name + "\"\n[schema]\nfile = \"s\"\n", kOrigin)
                .ring.name == name);
    }
  }

  TEST_CASE("mode accepts octal strings and TOML octal integers") {
    CHECK(Config::parse(config_with("mode = \"0600\""), kOrigin).ring.mode == 0600);
    CHECK(Config::parse(config_with("mode = \"644\""), kOrigin).ring.mode == 0644);
    CHECK(Config::parse(config_with("mode = \"0o660\""), kOrigin).ring.mode == 0660);
    CHECK(Config::parse(config_with("mode = 0o777"), kOrigin).ring.mode == 0777);
  }

  TEST_CASE("segments, retention and the time index are read and checked against each other") {
    const std::string db = "[database]\npath = \"rec\"\n";
    const Config plain = Config::parse(config_with("", db), kOrigin);
    CHECK_FALSE(plain.database.segmented());
    CHECK(plain.database.index_ts);
    CHECK(plain.database.retain_bytes == 0);

    const Config c = Config::parse(
        config_with("", db + "segment_bytes = \"16MiB\"\nsegment_duration = \"1h\"\n"
                             "retain_bytes = \"64MiB\"\nretain_age = \"30d\"\nindex_ts = false\n"),
        kOrigin);
    CHECK(c.database.segmented());
    CHECK(c.database.segment_bytes == 16u << 20);
    CHECK(c.database.segment_duration == std::chrono::hours(1));
    CHECK(c.database.retain_bytes == 64u << 20);
    CHECK(c.database.retain_age == std::chrono::hours(720));
    CHECK_FALSE(c.database.index_ts);
    CHECK(Config::parse(config_with("", db + "segment_duration = \"10min\"\n"), kOrigin)
              .database.segmented());

    const std::vector<std::pair<std::string, std::string>> bad = {
        {"retain_bytes = \"64MiB\"\n",
         "'database.retain_bytes' needs segments: retention deletes whole segments, so set "
         "'database.segment_bytes' or 'database.segment_duration' too"},
        {"retain_age = \"1d\"\n", "'database.retain_age' needs segments"},
        {"segment_bytes = \"16MiB\"\nretain_bytes = \"20MiB\"\n",
         "'database.retain_bytes' must be at least two segments (33554432 bytes, twice "
         "'database.segment_bytes'): the open segment and one closed one, not \"20MiB\""},
        {"segment_bytes = \"512KiB\"\n",
         "'database.segment_bytes' must be a size between 1MiB and 1TiB, not \"512KiB\""},
        {"segment_bytes = \"2TiB\"\n", "'database.segment_bytes' must be a size between"},
        {"segment_duration = \"10ms\"\n",
         "'database.segment_duration' must be a duration between 1s and 366d, not \"10ms\""},
        {"segment_duration = \"1h\"\nretain_age = \"90min\"\n",
         "'database.retain_age' must be at least two segments' time"},
        {"index_ts = 1\n", "'database.index_ts' must be true or false, not 1"},
        {"segment_byte = \"1GiB\"\n",
         "unknown key 'database.segment_byte' (did you mean 'database.segment_bytes'?)"},
    };
    for (const auto& [lines, message] : bad) {
      CAPTURE(lines);
      const std::string got = error_of(config_with("", db + lines));
      CHECK(got.rfind(std::string(kPrefix) + message, 0) == 0);
    }
  }

  TEST_CASE("database.mode defaults to the ring's mode and takes the same syntax") {
    const std::string db = "[database]\npath = \"h.db\"\n";
    CHECK(Config::parse(config_with("", db), kOrigin).database.mode == 0600);
    CHECK(Config::parse(config_with("mode = \"0640\"", db), kOrigin).database.mode == 0640);
    CHECK(Config::parse(config_with("mode = \"0640\"", db + "mode = \"0o600\"\n"), kOrigin)
              .database.mode == 0600);
    CHECK(Config::parse(config_with("", db + "mode = 0o660\n"), kOrigin).database.mode == 0660);
    CHECK(error_of(config_with("", db + "mode = \"0444\"\n")) ==
          std::string(kPrefix) +
              "'database.mode' must be octal permission bits like \"0600\" that include owner "
              "read and write, not \"0444\"");
    CHECK(error_of(config_with("", db + "mdoe = \"0600\"\n")) ==
          std::string(kPrefix) + "unknown key 'database.mdoe' (did you mean 'database.mode'?)");
  }

  TEST_CASE("capacity and max_record accept sizes as strings or integers within their bounds") {
    Config c = Config::parse(config_with("capacity = 4096\nmax_record = 1024"), kOrigin);
    CHECK(c.ring.capacity == 4096);
    CHECK(c.ring.max_record == 1024);
    c = Config::parse(config_with("capacity = \"64 GiB\"\nmax_record = \"64B\""), kOrigin);
    CHECK(c.ring.capacity == 64ull << 30);
    CHECK(c.ring.max_record == 64);
    // A quarter of 64GiB does not fit the u32 length of a frame.
    CHECK(error_of(config_with("capacity = \"64GiB\"\nmax_record = \"16GiB\""))
              .find("between 64 and 4294967295") != std::string::npos);
  }

  TEST_CASE("duration keys accept their boundary values") {
    CHECK(Config::parse(config_with("unblock_timeout = \"10ms\""), kOrigin).ring.unblock_timeout ==
          10ms);
    CHECK(Config::parse(config_with("unblock_timeout = \"1h\""), kOrigin).ring.unblock_timeout ==
          1h);
    CHECK(
        Config::parse(config_with("", "[batch]\nmax_delay = \"0ms\"\n"), kOrigin).batch.max_delay ==
        0ns);
    CHECK(
        Config::parse(config_with("", "[batch]\nmax_delay = \"60s\"\n"), kOrigin).batch.max_delay ==
        60s);
    CHECK(Config::parse(config_with("", "[batch]\nmax_records = 10000000\n"), kOrigin)
              .batch.max_records == 10000000);
  }

  TEST_CASE("pragma values are stored as SQL literal text") {
    const Config c = Config::parse(config_with("",
                                               "[database]\npath = \"d.db\"\npreset = \"durable\"\n"
                                               "[database.pragmas]\ncache_size = -65536\n"
                                               "journal_mode = \"WAL\"\nforeign_keys = true\n"
                                               "recursive_triggers = false\nanalysis_limit = 0.5\n"
                                               "mmap_size = \"+268435456\"\n"),
                                   kOrigin);
    CHECK(c.database.preset == "durable");
    CHECK(c.database.path == "/x/d.db");
    const std::map<std::string, std::string> expected = {
        {"cache_size", "-65536"},      {"journal_mode", "WAL"},   {"foreign_keys", "ON"},
        {"recursive_triggers", "OFF"}, {"analysis_limit", "0.5"}, {"mmap_size", "+268435456"}};
    CHECK(c.database.pragmas == expected);
  }

  TEST_CASE("pragma names and values that could inject SQL are rejected") {
    const std::string db = "[database]\npath = \"d.db\"\n[database.pragmas]\n";
    CHECK(
        error_of(config_with("", db + "\"main.cache_size\" = 1\n")) ==
        std::string(kPrefix) +
            "'database.pragmas' has an invalid pragma name \"main.cache_size\": use A-Z a-z 0-9 _");
    CHECK(error_of(config_with("", db + "\"x; DROP TABLE t\" = 1\n")).find("invalid pragma name") !=
          std::string::npos);
    CHECK(error_of(config_with("", db + "9lives = 1\n")).find("invalid pragma name \"9lives\"") !=
          std::string::npos);
    const std::string what = "' must be a number, a boolean or a word like \"WAL\", not ";
    CHECK(error_of(config_with("", db + "journal_mode = \"WAL; DROP TABLE t\"\n")) ==
          std::string(kPrefix) + "'database.pragmas.journal_mode" + what + "\"WAL; DROP TABLE t\"");
    CHECK(error_of(config_with("", db + "journal_mode = \"\"\n")) ==
          std::string(kPrefix) + "'database.pragmas.journal_mode" + what + "\"\"");
    CHECK(error_of(config_with("", db + "cache_size = [1, 2]\n")) ==
          std::string(kPrefix) + "'database.pragmas.cache_size" + what + "an array");
    CHECK(error_of(config_with("", db + "cache_size = nan\n")) ==
          std::string(kPrefix) + "'database.pragmas.cache_size" + what + "nan");
  }

  TEST_CASE("parse_size reads bytes and binary units in any case") {
    const std::vector<std::pair<std::string, std::uint64_t>> cases = {
        {"4096", 4096},
        {"0", 0},
        {"512B", 512},
        {"4KiB", 4096},
        {"512KiB", 512 << 10},
        {"64MiB", 64ull << 20},
        {"1 GiB", 1ull << 30},
        {" 2 gib ", 2ull << 30},
        {"8k", 8 << 10},
        {"3M", 3ull << 20},
        {"1G", 1ull << 30},
        {"2TiB", 2ull << 40},
        {"16777215TiB", 16777215ull << 40},
    };
    for (const auto& [text, bytes] : cases) {
      CAPTURE(text);
      CHECK(ringlite::parse_size(text, "k") == bytes);
    }
  }

  TEST_CASE("parse_size rejects malformed sizes and overflow naming the key") {
    for (const char* text :
         {"", "MiB", "64MB", "64 KB", "1.5MiB", "-1", "64MiBs", "6 4MiB", "0x10", "ten"}) {
      CAPTURE(text);
      CHECK(error_from([&] { ringlite::parse_size(text, "ring.capacity"); }) ==
            std::string("'ring.capacity' must be a size like \"64MiB\", not \"") + text + "\"");
    }
    for (const char* text : {"99999999999GiB", "16777216TiB", "99999999999999999999"}) {
      CAPTURE(text);
      CHECK(error_from([&] { ringlite::parse_size(text, "--rate"); }) ==
            std::string("'--rate' is too large: \"") + text + "\"");
    }
  }

  TEST_CASE("parse_duration reads nanoseconds to hours, fractions and spaces") {
    const std::vector<std::pair<std::string, std::chrono::nanoseconds>> cases = {
        {"2s", 2s},
        {"20ms", 20ms},
        {"1.5s", 1500ms},
        {"500us", 500us},
        {"100ns", 100ns},
        {"1m", 1min},
        {"250 ms", 250ms},
        {"0ms", 0ns},
        {"0.25h", 15min},
        {"1.000000001s", 1000000001ns},
        {"2MS", 2ms},
        {"3min", 3min},
        {"7\u00b5s", 7us},
        {"0.1s", 100ms},
        {"1.5ns", 1ns},
        {"9223372036s", 9223372036s},
        {"30d", std::chrono::hours(720)},
    };
    for (const auto& [text, ns] : cases) {
      CAPTURE(text);
      CHECK(ringlite::parse_duration(text, "k") == ns);
    }
  }

  TEST_CASE("parse_duration rejects malformed durations and overflow naming the key") {
    for (const char* text :
         {"", "20", "ms", "-1s", ".5s", "1.s", "1.5", "2 sec", "1w", "1e3ms", "2s 3ms"}) {
      CAPTURE(text);
      CHECK(error_from([&] { ringlite::parse_duration(text, "batch.max_delay"); }) ==
            std::string("'batch.max_delay' must be a duration like \"20ms\", not \"") + text +
                "\"");
    }
    for (const char* text : {"9223372037s", "99999999999999999999ns", "5124096h"}) {
      CAPTURE(text);
      CHECK(error_from([&] { ringlite::parse_duration(text, "--from"); }) ==
            std::string("'--from' is too large: \"") + text + "\"");
    }
  }

}  // TEST_SUITE("config")

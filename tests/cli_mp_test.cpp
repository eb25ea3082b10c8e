// Option values of every subcommand, as users type them: an empty or malformed value is a
// usage error (exit 2, one line naming the option and the value), never "not given" or a
// default, and nothing reaches any ring.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bridged.hpp"
#include "ringlite/consumer.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/store.hpp"
#include "ringutil.hpp"

using namespace ringlite;
using namespace ringlite::test;

namespace {

/// Rings whose name starts with `prefix`.
std::vector<std::string> rings_named(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& n : Ring::list()) {
    if (n.rfind(prefix, 0) == 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct BadValue {
  std::string args;    ///< after the subcommand's name; {c} is the config, {r} another ring
  std::string option;  ///< as the message must name it
  std::string value;   ///< as the message must show it, between quotes
};

std::string expand(std::string s, const std::string& config, const std::string& ring) {
  for (const auto& [key, value] :
       {std::pair{std::string("{c}"), "'" + config + "'"}, std::pair{std::string("{r}"), ring}}) {
    for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
  }
  return s;
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE(
      "an empty or malformed option value exits 2 with one line naming it, and no ring is "
      "written") {
    // The config's ring holds ten records already drained into its database, so replay and
    // produce have something to write and a place to write it; `other` is a second ring.
    Bridged s({.tag = "cli-values"});
    const Ring ring = Ring::create(s.ring_config(), demo_schema());
    {
      Producer p(ring);
      auto w = p.writer<Sensor>("sensor");
      for (int k = 0; k < 10; ++k) REQUIRE(w.try_write(make_sensor(k)) == WriteResult::ok);
    }
    {
      Consumer c(ring);
      Batch b;
      REQUIRE(c.poll(b, 1 << 20) == PollStatus::ok);
      DatabaseConfig dc;
      dc.path = s.db;
      Store store = Store::open(dc, demo_schema(), s.config);
      REQUIRE(store.write_batch(b, ring.stats().ring_id).inserted == 10);
      c.advance(b.end);
    }
    RingGuard other_guard{ring_config("cli-other", 1 << 20)};
    const Ring other = Ring::create(other_guard.config, demo_schema());
    const std::string prefix = s.ring.substr(0, s.ring.find('_'));  // "t<pid>": this process
    const auto rings_before = rings_named(prefix);
    const auto written = [&] {
      return std::pair{ring.stats().records_written, other.stats().records_written};
    };
    const auto before = written();

    const std::string long_name(201, 'a');
    const std::vector<BadValue> cases{
        // replay: the defect of issue 7 (an empty --ring replayed into the config's ring)
        {"replay -c {c} --ring ''", "--ring", "''"},
        {"replay -c {c} --ring=''", "--ring", ""},  // CLI11: "--ring: 1 required TEXT missing"
        {"replay -c {c} --ring a/b", "--ring", "'a/b'"},
        {"replay -c {c} --ring .hidden", "--ring", "'.hidden'"},
        {"replay -c {c} --ring a..b", "--ring", "'a..b'"},
        {"replay -c {c} --ring 'a b'", "--ring", "'a b'"},
        {"replay -c {c} --ring \"$(printf 'a\\nb')\"", "--ring", "'a\\nb'"},
        {"replay -c {c} --ring " + long_name, "--ring", "'" + long_name + "'"},
        {"replay -c {c} --ring {r} --type ''", "--type", "''"},
        {"replay -c {c} --ring {r} --type sensor --type ''", "--type", "''"},
        {"replay -c {c} --ring {r} --from ''", "--from", "''"},
        {"replay -c {c} --ring {r} --to ''", "--to", "''"},
        {"replay -c {c} --ring {r} --from yesterday", "--from", "'yesterday'"},
        {"replay -c {c} --ring {r} --speed ''", "--speed", "''"},
        {"replay -c {c} --ring {r} --speed nan", "--speed", "'nan'"},
        {"replay -c {c} --ring {r} --speed 0", "--speed", "'0'"},
        {"replay -c '' --ring {r}", "--config", "''"},
        {"replay --db '' --ring {r}", "--db", "''"},
        {"replay -c {c} --db {c} --ring {r}", "--config excludes --db", ""},
        {"replay -c {c} --ring {r} --exclude-type ''", "--exclude-type", "''"},
        {"replay -c {c} --ring {r} --start-offset ''", "--start-offset", "''"},
        {"replay -c {c} --ring {r} --start-offset 5", "--start-offset", "'5'"},
        {"replay -c {c} --ring {r} --start-offset=-1s", "--start-offset", "'-1s'"},
        {"replay -c {c} --ring {r} --duration ''", "--duration", "''"},
        {"replay -c {c} --ring {r} --duration 0s", "--duration", "'0s'"},
        {"replay -c {c} --ring {r} --duration \"$(printf '1s\\nx')\"", "--duration", "'1s\\nx'"},
        {"replay -c {c} --ring {r} --type 'nope*'", "type 'nope*' matches no recorded type", ""},
        {"replay -c {c} --ring {r} --exclude-type '*'", "no type left", ""},
        // produce
        {"produce -c {c} --type ''", "--type", "''"},
        {"produce -c {c} --type sensor --count ''", "--count", "''"},
        {"produce -c {c} --type sensor --count 0", "--count", "'0'"},
        {"produce -c {c} --type sensor --count 0x10", "--count", "'0x10'"},
        {"produce -c {c} --type sensor --count 1e3", "--count", "'1e3'"},
        {"produce -c {c} --type sensor --count -1", "--count", "'-1'"},
        {"produce -c {c} --type sensor --count 10 --rate ''", "--rate", "''"},
        {"produce -c {c} --type sensor --count 10 --rate nan", "--rate", "'nan'"},
        {"produce -c {c} --type sensor --count 10 --rate inf", "--rate", "'inf'"},
        {"produce -c {c} --type sensor --count 10 --rate -5", "--rate", "'-5'"},
        {"produce -c {c} --type sensor --count 10 --producers ''", "--producers", "''"},
        {"produce -c {c} --type sensor --count 10 --producers 0", "--producers", "'0'"},
        {"produce -c {c} --type sensor --count 10 --producers 1.5", "--producers", "'1.5'"},
        {"produce -c {c} --type sensor --count 10 --on-full ''", "--on-full", "''"},
        {"produce -c {c} --type sensor --count 10 --on-full never", "--on-full", "'never'"},
        {"produce -c '' --type sensor --count 10", "--config", "''"},
        // query
        {"query -c {c} --format '' 'SELECT 1'", "--format", "''"},
        {"query -c {c} --format xml 'SELECT 1'", "--format", "'xml'"},
        {"query -c '' 'SELECT 1'", "--config", "''"},
        // tail
        {"tail -c {c} --type ''", "--type", "''"},
        {"tail -c {c} --last ''", "--last", "''"},
        {"tail -c {c} --last -1", "--last", "'-1'"},
        {"tail -c {c} --last 0x10", "--last", "'0x10'"},
        {"tail -c {c} --format ''", "--format", "''"},
        {"tail -c ''", "--config", "''"},
        // stat
        {"stat -c {c} --interval ''", "--interval", "''"},
        {"stat -c {c} --interval nan", "--interval", "'nan'"},
        {"stat -c {c} --interval 0", "--interval", "'0'"},
        {"stat -c ''", "--config", "''"},
        // bridge, ring, schema
        {"bridge -c {c} --stats-interval ''", "--stats-interval", "''"},
        {"bridge -c {c} --stats-interval nan", "--stats-interval", "'nan'"},
        {"bridge -c ''", "--config", "''"},
        {"ring create -c ''", "--config", "''"},
        {"ring remove -c ''", "--config", "''"},
        {"schema header '" + (source_dir() / "schema" / "demo.sql").string() + "' -o ''",
         "--output", "''"},
    };
    for (const auto& c : cases) {
      const std::string args = expand(c.args, s.config, other_guard.config.name);
      // A command that wrongly accepts its value may run for good (a bridge): bound it.
      const auto r = run_shell("timeout 10 '" + cli_path() + "' " + args + " </dev/null");
      INFO(args, "\nexit ", r.exit_code, "\nstderr: ", r.err, "stdout: ", r.out.substr(0, 300));
      CHECK(r.exit_code == 2);
      CHECK(r.out.empty());
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      CHECK(r.err.rfind("ringlite: ", 0) == 0);
      CHECK(r.err.find(c.option) != std::string::npos);
      CHECK(r.err.find(c.value) != std::string::npos);
      CHECK(written() == before);
    }
    CHECK(rings_named(prefix) == rings_before);
  }

  TEST_CASE("a number with leading zeros is read in decimal, not octal") {
    Bridged s({.tag = "cli-zeros"});
    const Ring ring = Ring::create(s.ring_config(), demo_schema());
    const auto r = run_cli("produce -c '" + s.config + "' --type sensor --count 010");
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("produced 10 records", 0) == 0);
    CHECK(ring.stats().records_written == 10);
  }
}

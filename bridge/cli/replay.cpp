// ringlite replay (-c CONFIG [--ring NAME] | --db PATH --ring NAME) [--type GLOB]...
// [--exclude-type GLOB]... [--from X] [--to X] [--start-offset DUR] [--duration DUR]
// [--speed X|max] [--loop]: writes a database back into a ring (docs/design.md, "Readers, live
// SQL and replay"): the config's database into the config's ring (or the shared-memory ring
// NAME), or the database PATH into the ring NAME. The ring must exist (a bridge or `ringlite
// ring create` makes it): replay never creates one, so records cannot land in a ring nobody
// drains. --from/--to take a seq number or an ISO-8601 time (UTC unless it names an offset);
// --start-offset/--duration a duration from the recording's first record. SIGINT/SIGTERM
// stop it cleanly (exit 0).
#include "ringlite/replay.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>

#include "commands.hpp"
#include "database.hpp"
#include "options.hpp"
#include "output.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::cli {
namespace {

/// Reads fixed-width fields of an ISO-8601 time left to right.
struct Scanner {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i == s.size(); }
  bool eat(char c) {
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  bool eat_any(std::string_view cs) {
    if (i < s.size() && cs.find(s[i]) != std::string_view::npos) return ++i, true;
    return false;
  }
  bool digits(std::size_t n, int& out) {
    if (s.size() - i < n) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  }
};

/// "2026-11-23T10:00:00Z", "2026-11-23T10:00:00.5+01:00", "2026-11-23 10:00:00" (UTC),
/// "2026-11-23" (midnight UTC) -> UTC nanoseconds since the epoch; nullopt if malformed.
std::optional<std::int64_t> parse_iso_time(std::string_view text) {
  using namespace std::chrono;
  Scanner c{text};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!c.digits(4, y) || !c.eat('-') || !c.digits(2, mo) || !c.eat('-') || !c.digits(2, d))
    return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  // int64 nanoseconds cover 1677-09-21 .. 2262-04-11.
  if (!ymd.ok() || y < 1678 || y > 2261) return std::nullopt;
  std::int64_t frac_ns = 0, offset_s = 0;
  if (!c.done()) {
    if (!c.eat_any("Tt ") || !c.digits(2, h) || !c.eat(':') || !c.digits(2, mi))
      return std::nullopt;
    if (c.eat(':') && !c.digits(2, sec)) return std::nullopt;
    if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
    if (c.eat_any(".,")) {
      int scale = 100'000'000, digit = 0, n = 0;
      for (; !c.done() && c.s[c.i] >= '0' && c.s[c.i] <= '9'; ++n) {
        c.digits(1, digit);
        if (n >= 9) return std::nullopt;  // finer than a nanosecond
        frac_ns += digit * scale;
        scale /= 10;
      }
      if (n == 0) return std::nullopt;
    }
    if (!c.eat_any("Zz") && !c.done()) {
      const bool minus = c.s[c.i] == '-';
      int oh = 0, om = 0;
      if (!c.eat_any("+-") || !c.digits(2, oh)) return std::nullopt;
      c.eat(':');
      if (!c.digits(2, om) || oh > 23 || om > 59) return std::nullopt;
      offset_s = (minus ? -1 : 1) * (oh * 3600 + om * 60);
    }
  }
  if (!c.done()) return std::nullopt;
  const std::int64_t days = sys_days(ymd).time_since_epoch().count();
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * 1'000'000'000 + frac_ns;
}

/// One end of the range: a seq (all digits) or a time.
struct Bound {
  std::optional<std::uint64_t> seq;
  std::optional<std::int64_t> ns;
};

Bound parse_bound(std::string_view opt, const std::string& text) {
  Bound b;
  const bool all_digits =
      !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (all_digits) {
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc{} && p == text.data() + text.size()) {
      b.seq = v;
      return b;
    }
  } else if (auto ns = parse_iso_time(text)) {
    b.ns = ns;
    return b;
  }
  throw Error(Errc::usage,
              fmt::format("cannot parse {} '{}': expected a seq number or an ISO-8601 time such as "
                          "2026-11-23T10:00:00Z or '2026-11-23 10:00:00.5+01:00'",
                          opt, one_line(text)));
}

struct Opts {
  std::optional<std::string> config, db;  // exactly one
  std::optional<std::string> ring;        // not given: the config's ring (required with --db)
  std::vector<std::string> types, exclude_types;
  std::optional<std::string> from, to;
  std::optional<std::string> start_offset, duration;
  std::string speed = "1";
  bool loop = false;
};

/// A duration in the config's syntax (a number and one unit: 90s, 1.5s, 250ms, 5m, 2h, 1d).
std::chrono::nanoseconds parse_span(std::string_view opt, const std::string& text, bool zero_ok) {
  std::chrono::nanoseconds d{};
  try {
    d = parse_duration(text, opt);
  } catch (const Error&) {
    throw Error(Errc::usage,
                fmt::format("cannot parse {} '{}': expected a duration such as 90s, 1.5s, 250ms, "
                            "5m or 2h (a number and a unit, not negative)",
                            opt, one_line(text)));
  }
  if (!zero_ok && d.count() == 0)
    throw Error(Errc::usage,
                fmt::format("cannot use {} '{}': it must be more than 0", opt, one_line(text)));
  return d;
}

ReplayOptions replay_options(const Opts& o, const std::string& db) {
  ReplayOptions r;
  r.types = o.types;
  r.exclude_types = o.exclude_types;
  r.loop = o.loop;
  if (o.start_offset) r.start_offset = parse_span("--start-offset", *o.start_offset, true);
  if (o.duration) r.duration = parse_span("--duration", *o.duration, false);
  Bound from, to;
  if (o.from) from = parse_bound("--from", *o.from);
  if (o.to) to = parse_bound("--to", *o.to);
  r.from_seq = from.seq;
  r.from_ns = from.ns;
  r.to_seq = to.seq;
  r.to_ns = to.ns;
  if ((from.seq && to.seq && *from.seq > *to.seq) || (from.ns && to.ns && *from.ns > *to.ns)) {
    throw Error(Errc::usage,
                fmt::format("cannot replay database '{}': --from '{}' is after --to '{}'", db,
                            *o.from, *o.to));
  }
  if (o.speed == "max") {
    r.max_speed = true;
    return r;
  }
  double v = 0;
  const auto [p, ec] = std::from_chars(o.speed.data(), o.speed.data() + o.speed.size(), v);
  if (o.speed.empty() || ec != std::errc{} || p != o.speed.data() + o.speed.size() ||
      !std::isfinite(v) || v <= 0) {
    throw Error(Errc::usage,
                fmt::format("cannot parse --speed '{}': expected a positive number or 'max'",
                            one_line(o.speed)));
  }
  r.speed = v;
  return r;
}

std::string eta_text(double s) {
  if (s < 0) return "?";
  const auto t = static_cast<long long>(std::llround(s));
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

std::string rate_text(double r) {
  if (r >= 1e6) return fmt::format("{:.2f}M", r / 1e6);
  if (r >= 1e4) return fmt::format("{:.0f}k", r / 1e3);
  return fmt::format("{:.0f}", r);
}

int run(const Opts& o) {
  if (o.config.has_value() == o.db.has_value()) {
    throw Error(Errc::usage, o.db
                                 ? "cannot replay: give -c CONFIG or --db PATH, not both"
                                 : "cannot replay: give -c CONFIG or --db PATH (with --ring NAME)");
  }
  if (o.db && !o.ring) {
    throw Error(Errc::usage, fmt::format("cannot replay --db '{}': --ring NAME is required with "
                                         "--db (the ring to write into)",
                                         one_line(*o.db)));
  }
  RingConfig rc;
  std::filesystem::path db_path;
  if (o.config) {
    const auto cfg = Config::load(*o.config);
    // A bad database.path is the config's. A segmented config's path is the recording's folder.
    if (cfg.database.segmented()) {
      (void)open_read_database(cfg.database.path, true,
                               fmt::format("database.path in '{}'", *o.config), "replay");
    } else {
      open_configured_database(cfg, *o.config, "replay");
    }
    db_path = cfg.database.path;
    rc = cfg.ring;
  } else {
    db_path = *o.db;  // replay() checks it; a missing one shows before the ring is opened
    std::error_code ec;
    if (!std::filesystem::exists(db_path, ec)) {
      throw Error(Errc::usage,
                  fmt::format("cannot replay --db '{}': no such file", one_line(*o.db)));
    }
  }
  const ReplayOptions options =
      replay_options(o, db_path.string());  // bad input fails before the ring is touched
  if (o.ring) {
    rc.name = *o.ring;
    rc.file.clear();
  }
  const auto& stop = stop_on_signals();

  std::optional<Ring> ring;
  try {
    ring.emplace(Ring::open(rc, Ring::Access::read_write));
  } catch (const Error& e) {
    if (e.code() != Errc::not_found) throw;
    throw Error(Errc::not_found,
                fmt::format("cannot open {}: no such ring (replay writes into an existing ring: "
                            "start a bridge for it or run 'ringlite ring create')",
                            rc.display()),
                e.sys_errno());
  }
  Producer producer(*ring, OnFull::block);

  const bool tty = ::isatty(STDERR_FILENO) == 1;
  bool printed = false;
  std::function<void(const ReplayProgress&)> progress;
  if (tty) {
    progress = [&](const ReplayProgress& p) {
      const double pct =
          p.total ? 100.0 * static_cast<double>(p.pass_written) / static_cast<double>(p.total)
                  : 100.0;
      fmt::print(stderr, "\r{}{} / {} records ({:.1f}%), {} records/s, ETA {}\x1b[K",
                 options.loop ? fmt::format("pass {}: ", p.passes + 1) : std::string(),
                 p.pass_written, p.total, pct, rate_text(p.rate), eta_text(p.eta_s));
      std::fflush(stderr);
      printed = true;
    };
  }
  const ReplayResult r = replay(db_path, producer, options, stop, progress);
  if (printed) fmt::print(stderr, "\n");
  fmt::print("replayed {} records in {:.3f} s ({:.0f} records/s){}, max lateness {:.0f} \u00b5s\n",
             r.records, r.seconds, r.seconds > 0 ? static_cast<double>(r.records) / r.seconds : 0.0,
             options.loop ? fmt::format(", {} pass{}", r.passes, r.passes == 1 ? "" : "es")
                          : std::string(),
             static_cast<double>(r.max_late_ns) / 1e3);
  return kExitOk;
}

}  // namespace

void add_replay(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "replay", "write a database's records back into a ring, at the recorded pace");
  cmd->footer(R"(Examples:
  ringlite replay -c demo.toml --ring demo.replay --from 2026-11-23T10:00:00Z
  ringlite replay --db history.db --ring demo.replay --type 'sensor*' --exclude-type sensor_raw
  ringlite replay --db history.db --ring demo.replay --start-offset 5m --duration 90s --speed 4
  ringlite replay -c demo.toml --type tick --from 1000000 --to 2000000 --speed max --loop)");
  auto* config = cmd->add_option("-c,--config", o->config,
                                 "config file (TOML): its [database] is replayed into its ring");
  auto* db = cmd->add_option("--db", o->db,
                             "database file to replay instead of a config's (needs --ring), "
                             "e.g. --db /var/lib/ringlite/history.db");
  config->excludes(db);
  db->excludes(config);
  ring_name(
      cmd->add_option("--ring", o->ring,
                      "shared-memory ring to write into (default: the config's ring; "
                      "required with --db); it must exist. A name as ring.name takes: "
                      "1-200 of A-Z a-z 0-9 _ . -, not starting with '.', e.g. --ring demo2"));
  cmd->add_option("--type", o->types,
                  "record types to replay, a name or a shell glob (* ? [...]); repeat for "
                  "several; default: all. E.g. --type sensor --type 'cam?'");
  cmd->add_option("--exclude-type", o->exclude_types,
                  "record types to leave out, a name or a glob; repeatable. E.g. --exclude-type "
                  "'*_debug'");
  cmd->add_option("--from", o->from,
                  "first record: a seq number, or an ISO-8601 time (UTC unless an offset is "
                  "given), e.g. --from 1200 or --from 2026-11-23T10:00:00Z");
  cmd->add_option("--to", o->to,
                  "last record (inclusive): a seq number or an ISO-8601 time, e.g. --to "
                  "'2026-11-23 10:05:00+01:00'");
  cmd->add_option("--start-offset", o->start_offset,
                  "start this long after the recording's first record (the smallest ts_ns of "
                  "any type): a duration such as 90s, 1.5s, 250ms, 5m, 2h, e.g. --start-offset 5m");
  cmd->add_option("--duration", o->duration,
                  "replay records up to this long after the start (the first record, or "
                  "--start-offset), end excluded, e.g. --duration 30s. Combined with --from/--to: "
                  "the records inside all of them");
  cmd->add_option("--speed", o->speed,
                  "pace relative to the recording: a positive number (2 = twice as fast, 0.5 = "
                  "half) or 'max' (default 1)");
  cmd->add_flag("--loop", o->loop, "start over at the end until interrupted");
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

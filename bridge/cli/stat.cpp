// ringlite stat: the ring's header, cursors, counters and producers; --json, --watch (until
// SIGINT or SIGTERM, exit 0).
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "commands.hpp"
#include "options.hpp"
#include "ringlite/config.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::cli {
namespace {

double age_s(std::int64_t then_ns, std::int64_t now_ns) {
  return then_ns == 0 ? -1.0 : double(now_ns - then_ns) / 1e9;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string bridge_state(const RingStats& s, std::int64_t now) {
  if (s.bridge_pid == 0) return "none";
  if (!s.bridge_alive) return fmt::format("dead (pid {})", s.bridge_pid);
  return fmt::format("pid {}, heartbeat {:.1f}s ago", s.bridge_pid,
                     age_s(s.bridge_heartbeat_ns, now));
}

void print_text(const RingStats& s) {
  const auto now = now_ns();
  fmt::print(
      "{}  format {}.{}  id {}{}\n", s.display, s.version_major, s.version_minor, s.ring_id,
      s.stale()
          ? "  STALE (creator, bridge and producers all dead; 'ringlite ring remove' cleans it)"
          : "");
  fmt::print("  capacity   {} bytes (max record {}), created by pid {} ({}) {:.0f}s ago\n",
             s.capacity, s.max_record, s.creator_pid, s.creator_alive ? "alive" : "exited",
             age_s(s.created_ns, now));
  fmt::print("  cursors    head {}  tail {}  fill {:.1f}% ({} bytes not persisted)\n", s.head,
             s.tail, 100.0 * s.fill(), s.used());
  fmt::print("  bridge     {}  position {}\n", bridge_state(s, now), s.bridge_position);
  fmt::print("  written    {} records, {} bytes\n", s.records_written, s.bytes_written);
  fmt::print(
      "  counters   full {}  drops {}  unblocked {}  holes {}  holds {}  corrupt {}  rejects {}  "
      "consumed {}\n",
      s.full_events, s.drops, s.unblocked, s.holes, s.holds, s.corrupt_skips, s.rejects,
      s.consumed);
  fmt::print("  producers  {}\n", s.producers.size());
  for (const auto& p : s.producers) {
    fmt::print(
        "    slot {:>2}  pid {:>7}  {:<5}  records {:>10}  drops {:>6}  active {:.1f}s ago{}\n",
        p.slot, p.pid, p.alive ? "alive" : "dead", p.records, p.drops, age_s(p.heartbeat_ns, now),
        p.pending ? fmt::format("  claim in flight at {}", p.pending_pos) : std::string());
  }
}

void print_json(const RingStats& s) {
  const auto now = now_ns();
  std::string producers;
  for (const auto& p : s.producers) {
    if (!producers.empty()) producers += ',';
    producers += fmt::format(
        R"({{"slot":{},"pid":{},"alive":{},"records":{},"drops":{},"heartbeat_age_s":{:.3f},"pending":{}}})",
        p.slot, p.pid, p.alive, p.records, p.drops, age_s(p.heartbeat_ns, now), p.pending);
  }
  fmt::print(
      R"({{"ring":"{}","version":"{}.{}","id":"{}","capacity":{},"max_record":{},"head":{},"tail":{},"used":{},)"
      R"("fill":{:.4f},"creator_pid":{},"creator_alive":{},"bridge_pid":{},"bridge_alive":{},)"
      R"("bridge_heartbeat_age_s":{:.3f},"bridge_position":{},"records_written":{},"bytes_written":{},)"
      R"("full_events":{},"drops":{},"unblocked":{},"holes":{},"holds":{},"corrupt_skips":{},"rejects":{},)"
      R"("consumed":{},)"
      R"("stale":{},"producers":[{}]}})"
      "\n",
      s.display, s.version_major, s.version_minor, s.ring_id, s.capacity, s.max_record, s.head,
      s.tail, s.used(), s.fill(), s.creator_pid, s.creator_alive, s.bridge_pid, s.bridge_alive,
      age_s(s.bridge_heartbeat_ns, now), s.bridge_position, s.records_written, s.bytes_written,
      s.full_events, s.drops, s.unblocked, s.holes, s.holds, s.corrupt_skips, s.rejects, s.consumed,
      s.stale(), producers);
}

}  // namespace

void add_stat(CLI::App& app, Action& action) {
  struct Opts {
    std::string config;
    bool json = false;
    bool watch = false;
    double interval = 1.0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("stat", "show a ring's cursors, counters, producers and bridge liveness");
  cmd->add_option("-c,--config", o->config, "config file (TOML)")->required();
  cmd->add_flag("--json", o->json, "one JSON object per line");
  cmd->add_flag("--watch", o->watch,
                "print again every --interval seconds until SIGINT/SIGTERM (exit 0)");
  real_number(
      cmd->add_option("--interval", o->interval,
                      "seconds between --watch updates: 0.05 to 3600, e.g. 0.5 (default 1)"),
      0.05, 3600.0);
  cmd->callback([&action, o] {
    action = [o] {
      static const std::atomic<bool> never{false};
      const std::atomic<bool>& stop = o->watch ? stop_on_signals() : never;
      const auto cfg = Config::load(o->config);
      auto ring = Ring::open(cfg.ring, Ring::Access::read_only);
      for (;;) {
        // A watch outlives rings: one removed and created again (a bridge restart) is
        // followed by name; one removed for good ends the watch with an error.
        if (o->watch && ring.name_state() != Ring::NameState::current)
          ring = Ring::open(cfg.ring, Ring::Access::read_only);
        const auto s = ring.stats();
        o->json ? print_json(s) : print_text(s);
        std::fflush(stdout);
        if (!o->watch) return kExitOk;
        // In slices, so that a signal ends the watch within 50 ms.
        const auto due = std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(o->interval));
        for (auto now = std::chrono::steady_clock::now(); now < due;
             now = std::chrono::steady_clock::now()) {
          if (stop.load()) return kExitOk;
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
              due - now, std::chrono::milliseconds(50)));
        }
        if (stop.load()) return kExitOk;
      }
    };
  });
}

}  // namespace ringlite::cli

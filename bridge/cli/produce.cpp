// ringlite produce: the synthetic load generator (docs/design.md, "Command line"). Forks P
// producer processes; record k (0-based) of producer i fills integer columns with k
// (wrapped to the column's range), float columns with k * 0.5, BOOL with k % 2, and
// CHAR/TEXT/BYTES/BLOB columns with "p<i>-<k>", so a test can check that every record
// arrived exactly once.
//
// Stopping: SIGINT or SIGTERM to the parent is forwarded to the producers; each finishes
// the record it is writing (a claim is never left hanging), stops, and the parent prints
// its summary and exits 0: a producer stopped by the user is not a failure. A producer
// waiting for space gives up that record instead. Each producer also asks the kernel for
// SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a SIGKILLed parent takes its
// producers with it the same way.
#include <fmt/core.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <new>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "options.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"

namespace ringlite::cli {
namespace {

/// Fills `fixed` (the type's size) and `tails` (one per TEXT/BLOB column, pointing into
/// `label`) for record k of producer i, through the type table's encoder: integer columns
/// get k (wrapped to their width), BOOL k % 2, reals k * 0.5, the others "p<i>-<k>".
void synth(const RecordType& t, int i, std::uint64_t k, std::vector<std::byte>& fixed,
           std::string& label, std::vector<std::string_view>& tails) {
  fixed.assign(t.size, std::byte{0});
  tails.clear();
  label = fmt::format("p{}-{}", i, k);
  for (const auto& f : t.fields) {
    FieldValue v;
    v.integer = f.type == FieldType::boolean ? static_cast<std::int64_t>(k % 2)
                                             : static_cast<std::int64_t>(k);
    v.real = static_cast<double>(k) * 0.5;
    v.bytes = label;
    encode_field(f.type, f.offset, f.length, v, fixed, tails);
  }
}

struct Opts {
  std::string config;
  std::vector<std::string> types;
  std::uint64_t count = 100000;
  double rate = 0;
  int producers = 1;
  std::string on_full = "block";
};

/// What a producer process tells its parent, through memory they share (MAP_SHARED).
struct Tally {
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> dropped{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared across processes");

/// One Tally per producer, in an anonymous shared mapping that the forks inherit.
class Tallies {
 public:
  explicit Tallies(int n) : size_(sizeof(Tally) * static_cast<std::size_t>(n)) {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      throw Error(Errc::system,
                  fmt::format("cannot map {} producer counters: {}", n, std::strerror(errno)),
                  errno);
    }
    tallies_ = static_cast<Tally*>(p);
    for (int i = 0; i < n; ++i) new (&tallies_[i]) Tally;
  }
  ~Tallies() { ::munmap(tallies_, size_); }
  Tallies(const Tallies&) = delete;
  Tallies& operator=(const Tallies&) = delete;
  Tally& operator[](int i) { return tallies_[i]; }

 private:
  std::size_t size_;
  Tally* tallies_ = nullptr;
};

/// Writes one record under the on-full policy. Blocking waits in slices so that a stop
/// request is seen: a record that never got space is then not written (`full`). Each slice
/// that starts on a full ring counts one full event in the ring header (the library's timed
/// write counts once per call), so a producer blocked for a second counts about ten.
WriteResult write_record(RawWriter& w, std::span<const std::byte> fixed,
                         std::span<const std::string_view> tails, bool drop,
                         const std::atomic<bool>& stop) {
  constexpr auto kSlice = std::chrono::milliseconds(100);
  const bool var = w.type().variable();
  for (;;) {
    WriteResult r;
    if (drop) {
      r = var ? w.try_write_var(fixed, tails) : w.write(fixed);  // write(): counts the drop
    } else {
      r = var ? w.write_var(fixed, tails, kSlice) : w.write(fixed, kSlice);
    }
    // abandoned: the bridge gave up this producer's stalled claim; the record is not in.
    const bool again = r == WriteResult::abandoned || (r == WriteResult::full && !drop);
    if (!again || stop.load(std::memory_order_relaxed)) return r;
  }
}

/// Sleeps until `due`, waking early when asked to stop.
void pace_until(std::chrono::steady_clock::time_point due, const std::atomic<bool>& stop) {
  constexpr auto kSlice = std::chrono::milliseconds(50);
  for (auto now = std::chrono::steady_clock::now(); now < due && !stop.load();
       now = std::chrono::steady_clock::now()) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - now, kSlice));
  }
}

// One producer process: writes `count` records cycling through `types`, paced to `rate`
// records/s when rate > 0, until done or stopped. Exit 0 when all were written (or dropped
// under on-full=drop), or when stopped.
int run_producer(const Opts& o, const Config& cfg, int i, Tally& tally,
                 const std::atomic<bool>& stop) {
  const bool drop = o.on_full == "drop";
  Producer p = Producer::open(cfg.ring, drop ? OnFull::drop : OnFull::block);
  std::vector<RawWriter> writers;
  for (const auto& t : o.types) writers.push_back(p.raw_writer(t));
  std::vector<std::byte> fixed;
  std::string label;
  std::vector<std::string_view> views;
  // Pace every `batch` records: bursts of about a millisecond's worth, at most 64 records.
  const double per_producer = o.rate / o.producers;
  const std::uint64_t batch =
      std::clamp<std::uint64_t>(static_cast<std::uint64_t>(per_producer / 1000), 1, 64);
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t k = 0; k < o.count && !stop.load(std::memory_order_relaxed); ++k) {
    auto& w = writers[k % writers.size()];
    synth(w.type(), i, k, fixed, label, views);
    const WriteResult r = write_record(w, fixed, views, drop, stop);
    if (r == WriteResult::ok) {
      tally.written.fetch_add(1, std::memory_order_relaxed);
    } else if (r == WriteResult::full && drop) {
      tally.dropped.fetch_add(1, std::memory_order_relaxed);
    } else if (is_retryable(r) && stop.load()) {
      break;  // asked to stop while waiting for space: this record is not written
    } else {
      fmt::print(stderr, "ringlite: producer {} stopped at record {}: write returned {}\n", i, k,
                 to_string(r));
      return kExitFailure;
    }
    if (o.rate > 0 && (k + 1) % batch == 0) {
      pace_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(double(k + 1) / per_producer)),
                 stop);
    }
  }
  return kExitOk;
}

/// The child side of fork(): never returns.
[[noreturn]] void producer_process(const Opts& o, const Config& cfg, int i, pid_t parent,
                                   Tally& tally, const std::atomic<bool>& stop) {
  // SIGTERM (whose handler, inherited, only sets `stop`) when the parent dies, however it
  // dies; if it died before this call, nobody would send it, so check.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(kExitOk);
  int rc = kExitFailure;
  try {
    rc = run_producer(o, cfg, i, tally, stop);
  } catch (const std::exception& e) {
    fmt::print(stderr, "ringlite: producer {}: {}\n", i, e.what());
  }
  std::fflush(nullptr);
  ::_exit(rc);
}

/// Waits for every child; once `stop` is set (at once if `stop_now`), sends each one still
/// running SIGTERM (once). Polls rather than blocking in waitpid: a signal landing just
/// before a blocking wait would go unnoticed until the children finish on their own.
/// Returns how many failed.
int wait_all(const std::vector<pid_t>& children, const std::atomic<bool>& stop, bool stop_now) {
  std::vector<bool> reaped(children.size(), false);
  std::size_t left = children.size();
  bool forwarded = false;
  int failed = 0;
  while (left > 0) {
    if ((stop_now || stop.load()) && !forwarded) {
      for (std::size_t j = 0; j < children.size(); ++j) {
        if (!reaped[j]) ::kill(children[j], SIGTERM);
      }
      forwarded = true;
    }
    for (std::size_t j = 0; j < children.size(); ++j) {
      int status = 0;
      if (reaped[j] || ::waitpid(children[j], &status, WNOHANG) != children[j]) continue;
      reaped[j] = true;
      --left;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return failed;
}

int run(const Opts& o) {
  // First: a signal from here on means "stop cleanly", and the forks inherit the handler.
  const auto& stop = stop_on_signals();
  const auto cfg = Config::load(o.config);
  const Ring ring = Ring::open(cfg.ring);
  for (const auto& t : o.types) {
    if (!ring.layouts().find(t)) {
      std::string known;
      for (const auto& rt : ring.layouts().types()) known += (known.empty() ? "" : ", ") + rt.name;
      throw Error(Errc::usage,
                  fmt::format("cannot produce type '{}': {} has no such type (it has: {})", t,
                              ring.display(), known));
    }
  }
  Tallies tallies(o.producers);
  const auto before = ring.stats();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> children;
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  std::optional<Error> fork_error;
  for (int i = 0; i < o.producers && !stop.load(); ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int err = errno;
      fork_error.emplace(Errc::system,
                         fmt::format("cannot fork producer {}: {}", i, std::strerror(err)), err);
      break;
    }
    if (pid == 0) producer_process(o, cfg, i, parent, tallies[i], stop);
    children.push_back(pid);
  }
  // Half a load is not what was asked for: stop the producers already running, then fail.
  const int failed = wait_all(children, stop, fork_error.has_value());
  if (fork_error) throw *fork_error;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto after = ring.stats();
  std::uint64_t written = 0, drops = 0;
  for (int i = 0; i < o.producers; ++i) {
    written += tallies[i].written.load();
    drops += tallies[i].dropped.load();
  }
  fmt::print(
      "produced {} records ({} producers x {}{}) of {} in {:.3f} s: {:.0f} records/s; full events "
      "{}, drops {}\n",
      written, o.producers, o.count, stop.load() ? ", stopped by a signal" : "",
      fmt::join(o.types, "+"), secs, secs > 0 ? double(written) / secs : 0.0,
      after.full_events - before.full_events, drops);
  if (failed) {
    fmt::print(stderr, "ringlite: {} of {} producers failed\n", failed, o.producers);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_produce(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "produce",
      "write synthetic records into the ring from P producer processes; SIGINT/SIGTERM stop them "
      "(exit 0)");
  cmd->add_option("-c,--config", o->config, "config file (TOML)")->required();
  cmd->add_option("--type", o->types,
                  "record type of the ring's schema (repeat to cycle through several), e.g. --type "
                  "sensor")
      ->required();
  whole_number(cmd->add_option("--count", o->count,
                               "records per producer: 1 to 1099511627776 (default 100000)"),
               1, std::uint64_t{1} << 40);
  real_number(cmd->add_option("--rate", o->rate,
                              "total records per second across producers, 0 to 1e9, e.g. 2048 "
                              "(default 0: as fast as possible)"),
              0.0, 1e9);
  whole_number(cmd->add_option("--producers", o->producers,
                               "producer processes to fork: 1 to 32 (default 1)"),
               1, 32);
  one_of(cmd->add_option("--on-full", o->on_full,
                         "when the ring is full: block (wait for space) or drop (count it and go "
                         "on); default block"),
         {"block", "drop"});
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

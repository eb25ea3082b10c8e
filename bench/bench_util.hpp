// Helpers for the benchmarks: clocks (a calibrated TSC for per-call latencies), memory
// shared across fork(), real child processes with a deadline, a start line for them, rings
// and files removed on every exit path (also SIGINT/SIGTERM), command-line options, the
// demo record, and number formatting.
#pragma once

#include <fmt/core.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <initializer_list>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace ringlite::bench {

/// A spin-wait hint to the CPU (PAUSE / YIELD), for the baselines' own spin loops: the
/// library's is private (benchmarks see installed headers only).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Spin a little, then give the CPU away: on a shared machine a waiter that only spins
/// can take the core its peer needs. Reset after progress.
struct Backoff {
  std::uint32_t spins = 0;
  void pause() noexcept {
    if (++spins < 1024) {
      cpu_relax();
    } else {
      ::sched_yield();
    }
  }
  void reset() noexcept { spins = 0; }
};

/// CLOCK_MONOTONIC in ns: comparable across the processes of one machine.
inline std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// A cheap cycle counter for timing single calls. On x86 the TSC (fenced so the timed
/// call cannot move across it; constant_tsc makes it a wall clock), elsewhere the
/// monotonic clock. Calibrate once against CLOCK_MONOTONIC before converting ticks.
struct Ticks {
  static std::uint64_t read() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_lfence();
    const std::uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return static_cast<std::uint64_t>(now_ns());
#endif
  }
  /// Nanoseconds per tick, measured over ~`ms` milliseconds.
  static double calibrate(int ms = 50) {
    const std::int64_t n0 = now_ns();
    const std::uint64_t t0 = read();
    while (now_ns() - n0 < std::int64_t{ms} * 1'000'000) {
    }
    const std::int64_t n1 = now_ns();
    const std::uint64_t t1 = read();
    return t1 > t0 ? static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0) : 1.0;
  }
  /// Ticks an empty timed region costs (the median of many), to subtract from samples.
  static std::uint64_t overhead() {
    std::vector<std::uint64_t> v(200'000);
    for (auto& x : v) {
      const std::uint64_t a = read();
      const std::uint64_t b = read();
      x = b - a;
    }
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  }
};

/// Zeroed memory shared with children forked after this call (MAP_SHARED|MAP_ANONYMOUS).
class SharedMemory {
 public:
  explicit SharedMemory(std::size_t size) : size_(size) {
    addr_ = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (addr_ == MAP_FAILED) {
      throw std::runtime_error(
          fmt::format("cannot map {} bytes of shared memory: {}", size, std::strerror(errno)));
    }
  }
  ~SharedMemory() { ::munmap(addr_, size_); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
  std::size_t size() const noexcept { return size_; }
  /// Constructs a T (atomics and plain fields, zero-initialized memory) at `offset`.
  template <class T>
  T* make(std::size_t offset = 0) {
    return new (data() + offset) T{};
  }

 private:
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

/// Forks a child that runs `fn` and _exits with its result (70 if it threw, after
/// printing the message). The child dies with the parent (PR_SET_PDEATHSIG), so an
/// interrupted bench leaves no spinning processes behind.
template <class Fn>
pid_t spawn(Fn&& fn) {
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("cannot fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(70);
    // The parent's cleanup handlers are not the child's business.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    int rc = 70;
    try {
      rc = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ring_bench: child %d: %s\n", ::getpid(), e.what());
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  return pid;
}

/// Waits for all `pids` until `deadline_ns` (CLOCK_MONOTONIC); on timeout kills the
/// rest. Returns "" when every child exited 0, else what went wrong.
inline std::string wait_all(std::vector<pid_t> pids, std::int64_t deadline_ns) {
  std::string err;
  while (!pids.empty()) {
    int status = 0;
    const pid_t got = ::waitpid(-1, &status, WNOHANG);
    if (got == 0) {
      if (now_ns() > deadline_ns) {
        for (pid_t p : pids) ::kill(p, SIGKILL);
        for (pid_t p : pids) ::waitpid(p, &status, 0);
        return err.empty() ? "timed out" : err;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (got < 0) {
      if (errno == EINTR) continue;
      return fmt::format("cannot wait for children: {}", std::strerror(errno));
    }
    const auto it = std::find(pids.begin(), pids.end(), got);
    if (it == pids.end()) continue;
    pids.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && err.empty()) {
      err = fmt::format("child {} exited with {}", got, WEXITSTATUS(status));
    } else if (WIFSIGNALED(status) && err.empty()) {
      err = fmt::format("child {} killed by signal {}", got, WTERMSIG(status));
    }
    if (!err.empty()) {  // one failed: the others may wait forever for its records
      for (pid_t p : pids) ::kill(p, SIGKILL);
    }
  }
  return err;
}

/// Where forked children line up: each reports ready, then waits for the parent's go, so
/// no child's setup is timed. Lives in SharedMemory, each flag on its own cache lines.
struct StartLine {
  alignas(128) std::atomic<std::uint32_t> ready;
  alignas(128) std::atomic<std::uint32_t> go;

  /// A child's side: reports ready, then waits for go.
  void wait() noexcept {
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (go.load(std::memory_order_acquire) == 0) ::sched_yield();
  }
  /// The parent's side: waits for `n` ready children, says go, returns the start time.
  std::int64_t release(std::uint32_t n) {
    const std::int64_t deadline = now_ns() + 30'000'000'000;
    while (ready.load(std::memory_order_acquire) < n) {
      if (now_ns() > deadline) throw std::runtime_error("children did not get ready within 30 s");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const std::int64_t t0 = now_ns();
    go.store(1, std::memory_order_release);
    return t0;
  }
};

// ---------------------------------------------------------------------------------------
// Cleanup: what the current run must remove, kept ready as C strings, because a signal
// handler may only make async-signal-safe calls (shm_unlink, unlink, rmdir, kill; not
// Ring::remove). Empty entries are skipped.

namespace cleanup {
inline char shm_path[128] = {};   // the run's ring, "/ringlite.<name>"
inline char files[6][4096] = {};  // database files
inline char dir[4096] = {};       // the scratch folder holding them (rmdir: once they are gone)
inline pid_t children[4] = {};    // killed first: they may hold the ring open

inline void on_signal(int sig) {
  for (pid_t p : children) {
    if (p > 0) ::kill(p, SIGKILL);
  }
  if (shm_path[0] != '\0') ::shm_unlink(shm_path);
  for (const char* f : files) {
    if (f[0] != '\0') ::unlink(f);
  }
  if (dir[0] != '\0') ::rmdir(dir);
  ::_exit(128 + sig);
}
}  // namespace cleanup

/// Makes SIGINT and SIGTERM remove what `cleanup` names, then exit 128 + signal.
inline void clean_up_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = cleanup::on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

/// A bench's main after parse_options: cleanup on signals, then `run()`. An exception is
/// reported as "<program>: <what>" with exit code 1, or 2 for ringlite's input errors
/// (usage, config, schema) where `input_errors_exit_2`.
template <class Run>
int run_main(const char* program, Run&& run, bool input_errors_exit_2 = true) {
  clean_up_on_signals();
  try {
    return run();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return input_errors_exit_2 && e.is_input_error() ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

/// The children the signal handler kills: exactly `pids` from now on (none: `track({})`).
inline void track(const pid_t* pids, std::size_t n) {
  for (std::size_t i = 0; i < std::size(cleanup::children); ++i)
    cleanup::children[i] = i < n ? pids[i] : 0;
}
inline void track(std::initializer_list<pid_t> pids) { track(pids.begin(), pids.size()); }
inline void track(const std::vector<pid_t>& pids) { track(pids.data(), pids.size()); }

/// A ring config named "<prefix>.<pid>.<n>": no other run, process or bench uses it.
inline RingConfig unique_ring(std::string_view prefix, std::uint64_t capacity) {
  static int counter = 0;
  RingConfig c;
  c.name = fmt::format("{}.{}.{}", prefix, ::getpid(), counter++);
  c.capacity = capacity;
  return c;
}

/// Keeps the shm path of the ring named `name` ready for the signal handler.
inline void watch_ring(const std::string& name) {
  std::snprintf(cleanup::shm_path, sizeof cleanup::shm_path, "/ringlite.%s", name.c_str());
}

/// Removes the ring (already gone is fine) and stops watching it.
inline void remove_ring(const RingConfig& config) noexcept {
  try {
    Ring::remove(config);
  } catch (const Error&) {
  }
  cleanup::shm_path[0] = '\0';
}

/// A fresh ring, removed when this goes out of scope (and on SIGINT/SIGTERM meanwhile).
class ScopedRing {
 public:
  ScopedRing(const RingConfig& config, const Schema& schema) : config_(config) {
    watch_ring(config_.name);
    try {
      ring_.emplace(Ring::create(config_, schema));
    } catch (...) {
      cleanup::shm_path[0] = '\0';  // not ours to remove: it may be another run's
      throw;
    }
  }
  ~ScopedRing() { remove_ring(config_); }
  ScopedRing(const ScopedRing&) = delete;
  ScopedRing& operator=(const ScopedRing&) = delete;
  const RingConfig& config() const { return config_; }
  const Ring& ring() const { return *ring_; }

 private:
  RingConfig config_;
  std::optional<Ring> ring_;
};

// ---------------------------------------------------------------------------------------
// Command line.

/// Walks argv for a bench's parse_options: "--name value", and "--name=value" where
/// `equals` (otherwise that is an unknown option). A bad option prints
/// "<program>: <message> (try --help)" and exits 2.
class Args {
 public:
  Args(const char* program, int argc, char** argv, bool equals = true)
      : program_(program), argc_(argc), argv_(argv), equals_(equals) {}

  /// Moves to the next argument; false after the last.
  bool next() {
    if (++i_ >= argc_) return false;
    name_ = argv_[i_];
    value_ = {};
    has_value_ = false;
    if (const auto eq = name_.find('=');
        equals_ && name_.starts_with("--") && eq != std::string_view::npos) {
      value_ = name_.substr(eq + 1);
      name_ = name_.substr(0, eq);
      has_value_ = true;
    }
    return true;
  }
  /// The option, without any "=value".
  std::string_view name() const { return name_; }
  /// True for `flag` given without "=value".
  bool is(std::string_view flag) const { return name_ == flag && !has_value_; }
  /// The option's value: after its '=', else the next argument.
  std::string_view value() {
    if (has_value_) return value_;
    if (i_ + 1 >= argc_) error(fmt::format("{} needs a value", name_));
    return argv_[++i_];
  }
  /// value() as an integer from `min` to `max`.
  std::uint64_t count(std::uint64_t min, std::uint64_t max) {
    const std::string_view opt = name_, v = value();
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n < min || n > max) {
      error(fmt::format("bad value for {}: '{}' (expected an integer from {} to {})", opt, v, min,
                        max));
    }
    return n;
  }
  /// Prints `usage` and exits 0 (--help).
  [[noreturn]] static void help(std::string_view usage) {
    std::fwrite(usage.data(), 1, usage.size(), stdout);
    std::exit(0);
  }
  [[noreturn]] void error(const std::string& msg) const {
    std::fprintf(stderr, "%s: %s (try --help)\n", program_, msg.c_str());
    std::exit(2);
  }
  /// The current argument, as given, is not an option of this bench.
  [[noreturn]] void unknown() const { error(fmt::format("unknown option '{}'", argv_[i_])); }

 private:
  const char* program_;
  int argc_;
  char** argv_;
  bool equals_;
  int i_ = 0;
  std::string_view name_, value_;
  bool has_value_ = false;
};

// ---------------------------------------------------------------------------------------
// The record every bench moves, and how the results are reported.

/// schema/demo.sql's sensor record.
struct Sensor {
  std::int32_t a;
  float b;
  double c;
  char buffer[64];
};
static_assert(sizeof(Sensor) == 80);

/// Record k as `ringlite produce` fills it for producer 0 (what the checks expect).
inline void fill_sensor(Sensor& s, std::uint64_t k) noexcept {
  s.a = static_cast<std::int32_t>(k);
  s.b = static_cast<float>(static_cast<double>(k) * 0.5);
  s.c = static_cast<double>(k) * 0.5;
  std::snprintf(s.buffer, sizeof s.buffer, "p0-%llu", static_cast<unsigned long long>(k));
}

/// The best repetition of a run (highest `rps`), and every repetition's rate in order.
template <class Run>
struct Best {
  Run best;
  std::vector<double> all;
  void add(const Run& r) {
    all.push_back(r.rps);
    if (r.rps > best.rps) best = r;
  }
};

/// /proc/loadavg before the runs: other work on the machine skews every number.
struct Load {
  double average = 0;  // 1-minute load average
  int running = 0;     // runnable tasks, this one included
  static Load read() {
    Load l;
    if (std::FILE* la = std::fopen("/proc/loadavg", "r")) {
      double l5 = 0, l15 = 0;
      int tasks = 0;
      if (std::fscanf(la, "%lf %lf %lf %d/%d", &l.average, &l5, &l15, &l.running, &tasks) != 5)
        l.average = 0;
      std::fclose(la);
    }
    return l;
  }
  /// The report's line about it.
  void print() const {
    fmt::print("machine before the runs: load average {:.2f}, {} other runnable tasks\n\n", average,
               std::max(running - 1, 0));
  }
};

/// The load average before and after the runs, as the report's line says it.
inline void print_load(const Load& before, const Load& after) {
  fmt::print("load average {:.2f} before the runs, {:.2f} after ({} other runnable tasks before)\n",
             before.average, after.average, std::max(before.running - 1, 0));
}

// ---------------------------------------------------------------------------------------
// Where the processes run. On a shared machine the scheduler may put a benchmark's producer
// and consumer on one CPU for a while, and a copy loop that hands cache lines across cores
// then takes turns on one core instead: ring_bench's floor measured 7.5-54 M/s within an
// hour that way. Pinning each busy process to its own CPU of the process's affinity mask
// removes that source of noise; it needs as many CPUs in the mask as busy processes.

/// The CPUs this process may run on, and whether benchmarks pin their processes to them.
struct Pinning {
  std::vector<int> cpus;  // this process's affinity mask, in order
  bool wanted = true;     // false: --no-pin

  static Pinning detect(bool wanted) {
    Pinning p;
    p.wanted = wanted;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) p.cpus.push_back(c);
    }
    return p;
  }
  /// True when a run of `busy` busy processes is pinned: wanted, and a CPU for each.
  bool pins(std::size_t busy) const { return wanted && busy >= 1 && busy <= cpus.size(); }
  /// In a child of a run of `busy` processes: pins the calling process to CPU `role`
  /// of the mask (role 0, 1, ...) when pins(busy). Returns whether it did.
  bool pin(std::size_t role, std::size_t busy) const {
    if (!pins(busy) || role >= cpus.size()) return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[role], &set);
    return ::sched_setaffinity(0, sizeof set, &set) == 0;
  }
  /// The report's line: what is pinned where, or why nothing is.
  std::string describe(std::size_t busy, std::initializer_list<const char*> roles) const {
    if (!wanted) return "not pinned (--no-pin): the scheduler places the processes";
    if (!pins(busy)) {
      return fmt::format("not pinned: {} busy processes, {} CPU(s) in the affinity mask", busy,
                         cpus.size());
    }
    std::string s = "pinned with sched_setaffinity:";
    std::size_t i = 0;
    for (const char* r : roles) {
      s += fmt::format("{} {} on CPU {}", i == 0 ? "" : ",", r, cpus[i]);
      ++i;
    }
    return s;
  }
};

// ---------------------------------------------------------------------------------------
// Interleaved pairs: how every ratio of the benchmarks is measured. A pair runs the baseline
// and each subject once; the baseline goes first in even pairs and last in odd ones (and the
// subjects in reverse), so a drift of the machine during a pair hits both sides alike. A
// ratio is taken within each pair (subject / baseline of the same minutes); the report is
// the median of the per-pair ratios and their range (min-max).

/// The median and range of some values.
struct Spread {
  double median = 0, min = 0, max = 0;
  static Spread of(std::vector<double> v) {
    Spread s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    s.min = v.front();
    s.max = v.back();
    return s;
  }
  /// "0.93 [0.88-0.97]"
  std::string text(int decimals = 2) const {
    return fmt::format("{:.{}f} [{:.{}f}-{:.{}f}]", median, decimals, min, decimals, max, decimals);
  }
  /// (max - min) / median: how far the values moved, 0.12 for 12%.
  double moved() const { return median > 0 ? (max - min) / median : 0; }
};

/// Runs named runs in interleaved pairs and keeps every result (a rate: higher is better).
class Pairs {
 public:
  /// names[0] is the baseline.
  explicit Pairs(std::vector<std::string> names)
      : names_(std::move(names)), rates_(names_.size()) {}

  /// Runs `pairs` pairs; `run(i)` runs run i once and returns its rate. `enabled(i)` false
  /// skips run i (its rates stay empty).
  template <class Run, class Enabled>
  void run(int pairs, Run&& run, Enabled&& enabled) {
    for (int p = 0; p < pairs; ++p) {
      for (std::size_t k = 0; k < names_.size(); ++k) {
        const std::size_t i = p % 2 == 0 ? k : names_.size() - 1 - k;
        if (enabled(i)) rates_[i].push_back(run(i));
      }
    }
  }
  std::size_t pairs() const { return rates_[0].size(); }
  const std::string& name(std::size_t i) const { return names_[i]; }
  const std::vector<double>& rates(std::size_t i) const { return rates_[i]; }
  Spread rate(std::size_t i) const { return Spread::of(rates_[i]); }
  /// Run i against run `base` (the baseline by default), pair by pair.
  Spread ratio(std::size_t i, std::size_t base = 0) const {
    std::vector<double> r;
    for (std::size_t p = 0; p < rates_[i].size() && p < rates_[base].size(); ++p)
      if (rates_[base][p] > 0) r.push_back(rates_[i][p] / rates_[base][p]);
    return Spread::of(std::move(r));
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<double>> rates_;
};

/// The q-quantile (0..1) of sorted values, nearest rank.
template <class T>
T quantile(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return T{};
  auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size()));
  return sorted[std::min(i, sorted.size() - 1)];
}

/// "25.1 M/s", "812 k/s"; `decimals` 2 where ratios need them ("1.13 M/s").
inline std::string rate(double per_s, int decimals = 1) {
  if (per_s >= 1e6) return fmt::format("{:.{}f} M/s", per_s / 1e6, decimals);
  if (per_s >= 1e3) return fmt::format("{:.0f} k/s", per_s / 1e3);
  return fmt::format("{:.0f} /s", per_s);
}

/// Rates in M/s, two decimals, space-separated: the "each rep (M/s)" column.
inline std::string millions(const std::vector<double>& rates) {
  std::string s;
  for (double x : rates) s += fmt::format("{}{:.2f}", s.empty() ? "" : " ", x / 1e6);
  return s;
}

}  // namespace ringlite::bench

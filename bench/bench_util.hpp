// Helpers for the benchmarks: clocks (a calibrated TSC for per-call latencies), memory
// shared across fork(), real child processes with a deadline, and number formatting.
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
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace ringlite::bench {

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
      throw std::runtime_error(fmt::format("cannot map {} bytes of shared memory: {}", size, std::strerror(errno)));
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

/// The q-quantile (0..1) of sorted values, nearest rank.
template <class T>
T quantile(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return T{};
  auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size()));
  return sorted[std::min(i, sorted.size() - 1)];
}

/// "25.1 M/s", "812 k/s".
inline std::string rate(double per_s) {
  if (per_s >= 1e6) return fmt::format("{:.1f} M/s", per_s / 1e6);
  if (per_s >= 1e3) return fmt::format("{:.0f} k/s", per_s / 1e3);
  return fmt::format("{:.0f} /s", per_s);
}

}  // namespace ringlite::bench

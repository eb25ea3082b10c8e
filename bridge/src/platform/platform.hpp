// The OS layer: every syscall ringlite makes goes through here. POSIX today
// (posix.cpp); a Win32 backend implements the same functions with CreateFileMapping /
// OpenFileMapping / MapViewOfFile, WaitOnAddress and OpenProcess. Calls retry EINTR, and
// this is the seam where tests inject failures (set_fault).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlite::detail::platform {

/// Where a segment lives: a named shared-memory object or a file.
struct SegmentName {
  std::string shm;              ///< "demo" (the OS name is "/ringlite.demo"), or empty
  std::filesystem::path file;   ///< a file-backed segment, or empty
  std::string display() const;  ///< "ring 'demo'" / "ring file '/x/demo.ring'"
};

/// Which segment a name led to: two names with equal ids are the same segment.
struct SegmentId {
  std::uint64_t dev = 0, ino = 0;
  bool operator==(const SegmentId&) const = default;
};

/// A mapped segment. Unmaps (but never unlinks) on destruction. Keeps the segment open,
/// so that its identity and size can be checked again later.
///
/// Truncation guard: if someone shrinks the segment behind our back, touching the part
/// that is gone would raise SIGBUS and kill the process. Every Mapping is registered with
/// a process-wide SIGBUS handler that maps zero-filled pages over the lost part instead,
/// so the access completes (reading zeros: nothing looks committed there), and marks the
/// mapping truncated. Callers check truncated() and stop using the ring. Faults outside
/// any ring mapping go to the handler that was installed before (or kill, by default).
class Mapping {
 public:
  Mapping() = default;
  Mapping(int fd, void* addr, std::size_t size, bool writable);
  Mapping(Mapping&& o) noexcept;
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
  std::size_t size() const noexcept { return size_; }
  bool writable() const noexcept { return writable_; }
  const SegmentId& id() const noexcept { return id_; }
  /// True once part of the mapping was found no longer backed by the segment (a SIGBUS
  /// was caught there, or check_size() saw the segment shrink). One relaxed load.
  bool truncated() const noexcept;
  /// Compares the segment's current size with the mapping's; if it shrank, covers the
  /// lost part with zero pages and marks the mapping truncated. Returns the current size.
  std::size_t check_size() noexcept;

 private:
  void release() noexcept;
  int fd_ = -1;
  void* addr_ = nullptr;
  std::size_t size_ = 0;
  bool writable_ = false;
  SegmentId id_;
  int guard_ = -1;  // slot in the SIGBUS guard's table, -1 if none
};

/// Creates a new segment of `size` bytes with O_EXCL and `mode`, maps it read-write and
/// hands it to `init` (which must write the header, version last). If anything fails,
/// including `init` throwing, the segment is removed again: no half-created segment.
/// Throws Error(exists) if it already exists, Error(system) otherwise.
Mapping create_segment(const SegmentName& name, std::size_t size, std::uint32_t mode,
                       void (*init)(void* ctx, std::byte* data, std::size_t size), void* ctx);
/// Whom a segment must belong to before it is mapped: `owner` (the effective uid when
/// unset), and no group or other write permission beyond `mode`'s.
struct Trust {
  std::optional<std::uint32_t> owner;
  std::uint32_t mode = 0600;
};

/// Maps an existing segment, whole (or its first `map_limit` bytes), after checking it
/// against `trust` (a part is mapped MADV_RANDOM: no read-around beyond it). Throws
/// Error(not_found) / Error(permission) / Error(system).
/// `min_size`: waits up to `wait` for the creator to size it, then reports it truncated.
/// Nothing is pre-faulted: only the pages touched are read (see prefault()).
Mapping open_segment(const SegmentName& name, bool writable, std::size_t min_size,
                     std::chrono::milliseconds wait, const Trust& trust,
                     std::size_t map_limit = SIZE_MAX);
/// Pre-faults [from, to) of a writable mapping (clamped to it) into this process's page
/// tables, writable, without writing to it: MADV_POPULATE_WRITE (Linux >= 5.14), else a
/// read of each page. So the first lap of a ring does not pay a page fault per page. A
/// no-op for a read-only mapping; failures are ignored (the pages then fault on use).
void prefault(const Mapping& m, std::size_t from, std::size_t to) noexcept;
/// Removes the name (mappings stay valid until unmapped). Throws Error(not_found).
void remove_segment(const SegmentName& name);
/// The segment the name leads to now, or {} (all zero) when there is none.
SegmentId segment_id(const SegmentName& name) noexcept;
/// Names of the shm segments ringlite created ("demo" for /ringlite.demo).
std::vector<std::string> list_segments();

/// What a ring name must be, when `name` is not one: "a plain name without '/' or '..'"
/// or "1-200 of A-Z a-z 0-9 _ . - not starting with '.'"; empty when it is valid. The one
/// rule for ring names (config, command line, create and open all ask it).
std::string_view ring_name_problem(std::string_view name) noexcept;
/// Throws Error(Errc::config) naming `name` when ring_name_problem() finds one.
void check_ring_name(const std::string& name);

/// True when `name` matches the shell glob `pattern` (`*`, `?`, `[...]`; POSIX fnmatch(3)
/// without flags).
bool glob_match(const std::string& pattern, const std::string& name) noexcept;

std::uint32_t current_pid() noexcept;
std::uint32_t effective_uid() noexcept;
/// The uid of a user name or of a decimal uid; nullopt when there is no such user.
std::optional<std::uint32_t> user_id(const std::string& name_or_uid);
/// "uid 1000 (alice)", or "uid 1000" when it has no name.
std::string describe_user(std::uint32_t uid);
/// An opaque token that differs between two processes that had the same pid (start time).
/// 0 when the process does not exist.
std::uint64_t process_start_token(std::uint32_t pid) noexcept;
/// True when `pid` runs (and is not a zombie) and is the process that had `start_token`
/// (0: any owner of pid). Only the low 32 bits of the tokens are compared.
bool process_alive(std::uint32_t pid, std::uint64_t start_token) noexcept;

std::int64_t realtime_ns() noexcept;
std::int64_t monotonic_ns() noexcept;

/// The CPU's time-stamp counter (x86 RDTSC, unfenced: a few ns of reordering do not matter
/// for a timestamp); 0 on other architectures, where tsc_reliable() is false.
inline std::uint64_t read_tsc() noexcept {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  return 0;
#endif
}
/// RDTSC fenced on both sides (LFENCE), so that it orders with the clock read it is paired
/// with; for calibration, not for the write path.
inline std::uint64_t read_tsc_ordered() noexcept {
#if defined(__x86_64__)
  __builtin_ia32_lfence();
  const std::uint64_t t = __builtin_ia32_rdtsc();
  __builtin_ia32_lfence();
  return t;
#else
  return 0;
#endif
}
/// True when the CPU has PREFETCHW (x86 CPUID 0x80000001 ECX bit 8); on other
/// architectures prefetch_write() uses the compiler's store prefetch and this is true.
bool prefetchw_supported() noexcept;
/// Asks the CPU to fetch the cache line at `p` for writing (exclusive), so that a later
/// store does not wait for it. Only a hint: never faults, changes nothing. On x86, only
/// where prefetchw_supported().
inline void prefetch_write(const void* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetchw (%0)" ::"r"(p));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}
/// True when the TSC is a usable wall-clock source on this machine: x86-64, and
/// tsc_usable() of the CPU's invariant-TSC bit (CPUID 0x80000007 EDX bit 8) and the
/// kernel's clocksource0 current_clocksource and available_clocksource. Decided once per
/// process.
bool tsc_reliable() noexcept;
/// The rule of tsc_reliable(): the kernel's current clocksource is "tsc" (it found the TSC
/// stable and synchronized across CPUs; VMs often hide the CPUID bit), or the CPU says the
/// TSC is invariant (same rate in every P- and C-state) and "tsc" is among the kernel's
/// available clocksources (space separated): the kernel removes it from that list when
/// its watchdog marks it unstable, which the CPUID bit alone does not show.
bool tsc_usable(bool cpu_invariant, std::string_view current, std::string_view available) noexcept;

/// A spin-wait hint to the CPU (PAUSE / YIELD): cheaper for the sibling hyperthread.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Sleeps while *word == expected, at most `timeout` (spurious wakeups allowed).
/// Works across processes on a shared mapping.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept;
void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept;

/// Cryptographic-quality random bytes (ring ids). Throws Error(system).
void random_bytes(void* out, std::size_t n);

/// Test seam: the next `count` calls of operation `op` ("ftruncate", "mmap", "open")
/// fail with `err`. Not thread safe; for tests only.
void set_fault(const std::string& op, int err, int count = 1);

}  // namespace ringlite::detail::platform

// POSIX backend of the platform layer (Linux: shm_open, mmap, futex, /proc).
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <dirent.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <fmt/std.h>
#include <fnmatch.h>
#include <linux/futex.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "platform/platform.hpp"
#include "ringlite/error.hpp"

namespace ringlite::detail::platform {
namespace {

constexpr std::string_view kShmPrefix = "ringlite.";

struct Fault {
  int err = 0;
  int count = 0;
};
std::map<std::string, Fault>& faults() {
  static std::map<std::string, Fault> f;
  return f;
}

// Returns the errno a test asked this operation to fail with, or 0.
int injected(const char* op) {
  auto& f = faults();
  if (f.empty()) return 0;
  auto it = f.find(op);
  if (it == f.end() || it->second.count <= 0) return 0;
  --it->second.count;
  return it->second.err;
}

[[noreturn]] void fail(Errc code, const std::string& what, int err) {
  throw Error(code, fmt::format("{}: {}", what, std::strerror(err)), err);
}

std::string shm_path(const std::string& name) { return fmt::format("/{}{}", kShmPrefix, name); }

int open_fd(const SegmentName& name, int flags, std::uint32_t mode) {
  if (int e = injected("open")) {
    errno = e;
    return -1;
  }
  int fd;
  do {
    fd = name.file.empty() ? ::shm_open(shm_path(name.shm).c_str(), flags, mode)
                           : ::open(name.file.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int unlink_name(const SegmentName& name) {
  return name.file.empty() ? ::shm_unlink(shm_path(name.shm).c_str()) : ::unlink(name.file.c_str());
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Maps the segment without pre-faulting anything: the header is validated before any page
// beyond what it reads is touched, and a segment larger than its header says (a planted
// sparse object) costs nothing past what the ring uses. prefault() below fills in the ring's
// data area of a shm ring once the header is known good.
void* map_fd(int fd, std::size_t size, bool writable) {
  if (int e = injected("mmap")) {
    errno = e;
    return MAP_FAILED;
  }
  return ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
}

// ---- the SIGBUS guard (see Mapping in platform.hpp) ----
//
// A table of the ring mappings of this process that the signal handler scans. A slot is
// taken with a CAS on `state`, filled, and published by storing `begin` last; the handler
// only reads atomics and calls mmap (a plain system call on Linux).

struct GuardSlot {
  std::atomic<int> state{0};  // 0 free, 1 taken
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<int> prot{0};
  std::atomic<bool> truncated{false};
};
constexpr int kGuardSlots = 256;
GuardSlot g_guard[kGuardSlots];
struct sigaction g_previous_bus {};
std::atomic<std::uintptr_t> g_page{4096};

// Covers [from, end) of a guarded mapping with private zero pages of the same protection.
bool patch(std::uintptr_t from, std::uintptr_t end, int prot) noexcept {
  const std::uintptr_t page = g_page.load(std::memory_order_relaxed);
  from &= ~(page - 1);
  if (from >= end) return true;
  void* r = ::mmap(reinterpret_cast<void*>(from), end - from, prot,
                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return r != MAP_FAILED;
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (auto& g : g_guard) {
    const std::uintptr_t begin = g.begin.load(std::memory_order_acquire);
    if (begin == 0 || addr < begin) continue;
    const std::uintptr_t end = g.end.load(std::memory_order_relaxed);
    if (addr >= end) continue;
    if (patch(addr, end, g.prot.load(std::memory_order_relaxed))) {
      g.truncated.store(true, std::memory_order_release);
      return;  // the faulting access runs again, on a zero page
    }
    break;
  }
  // Not a ring's: the handler installed before ours, or the default action (returning
  // with SIG_DFL in place repeats the fault, which then kills as it would have).
  if ((g_previous_bus.sa_flags & SA_SIGINFO) != 0 && g_previous_bus.sa_sigaction != nullptr) {
    g_previous_bus.sa_sigaction(sig, info, context);
  } else if ((g_previous_bus.sa_flags & SA_SIGINFO) == 0 && g_previous_bus.sa_handler != SIG_DFL &&
             g_previous_bus.sa_handler != SIG_IGN) {
    g_previous_bus.sa_handler(sig);
  } else {
    ::signal(SIGBUS, SIG_DFL);
  }
}

void install_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page.store(static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE)), std::memory_order_relaxed);
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous_bus);
  });
}

int guard(void* addr, std::size_t size, bool writable) noexcept {
  install_guard();
  for (int i = 0; i < kGuardSlots; ++i) {
    auto& g = g_guard[i];
    int expected = 0;
    if (!g.state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    const auto begin = reinterpret_cast<std::uintptr_t>(addr);
    g.end.store(begin + size, std::memory_order_relaxed);
    g.prot.store(writable ? PROT_READ | PROT_WRITE : PROT_READ, std::memory_order_relaxed);
    g.truncated.store(false, std::memory_order_relaxed);
    g.begin.store(begin, std::memory_order_release);
    return i;
  }
  return -1;  // more than kGuardSlots mappings: the rest go unguarded
}

void unguard(int i) noexcept {
  if (i < 0) return;
  g_guard[i].begin.store(0, std::memory_order_release);
  g_guard[i].state.store(0, std::memory_order_release);
}

SegmentId id_of(const struct stat& st) {
  return SegmentId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

}  // namespace

std::string SegmentName::display() const {
  return file.empty() ? fmt::format("ring '{}'", shm)
                      : fmt::format("ring file '{}'", file.string());
}

Mapping::Mapping(int fd, void* addr, std::size_t size, bool writable)
    : fd_(fd), addr_(addr), size_(size), writable_(writable), guard_(guard(addr, size, writable)) {
  struct stat st {};
  if (::fstat(fd_, &st) == 0) id_ = id_of(st);
}

Mapping::Mapping(Mapping&& o) noexcept
    : fd_(o.fd_),
      addr_(o.addr_),
      size_(o.size_),
      writable_(o.writable_),
      id_(o.id_),
      guard_(o.guard_) {
  o.fd_ = -1;
  o.addr_ = nullptr;
  o.size_ = 0;
  o.guard_ = -1;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    addr_ = o.addr_;
    size_ = o.size_;
    writable_ = o.writable_;
    id_ = o.id_;
    guard_ = o.guard_;
    o.fd_ = -1;
    o.addr_ = nullptr;
    o.size_ = 0;
    o.guard_ = -1;
  }
  return *this;
}

Mapping::~Mapping() { release(); }

void Mapping::release() noexcept {
  unguard(guard_);
  guard_ = -1;
  if (addr_) ::munmap(addr_, size_);
  if (fd_ >= 0) ::close(fd_);
  addr_ = nullptr;
  fd_ = -1;
}

bool Mapping::truncated() const noexcept {
  return guard_ >= 0 && g_guard[guard_].truncated.load(std::memory_order_acquire);
}

std::size_t Mapping::check_size() noexcept {
  struct stat st {};
  if (fd_ < 0 || ::fstat(fd_, &st) != 0) return size_;
  const auto now = static_cast<std::size_t>(st.st_size);
  if (now < size_ && addr_ != nullptr) {
    const auto begin = reinterpret_cast<std::uintptr_t>(addr_);
    // The part of the last page before the new end still reads the file (zeros past it).
    const std::uintptr_t page = g_page.load(std::memory_order_relaxed);
    if (patch((begin + now + page - 1) & ~(page - 1), begin + size_,
              writable_ ? PROT_READ | PROT_WRITE : PROT_READ) &&
        guard_ >= 0) {
      g_guard[guard_].truncated.store(true, std::memory_order_release);
    }
  }
  return now;
}

bool glob_match(const std::string& pattern, const std::string& name) noexcept {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

std::string_view ring_name_problem(std::string_view name) noexcept {
  // The name becomes part of a path (/dev/shm/ringlite.NAME; Local\ringlite.NAME on Win32).
  if (name.find('/') != std::string_view::npos || name.find("..") != std::string_view::npos) {
    return "a plain name without '/' or '..'";
  }
  const bool bad_chars =
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
      std::string_view::npos;
  if (name.empty() || name.size() > 200 || bad_chars || name.front() == '.') {
    return "1-200 of A-Z a-z 0-9 _ . - not starting with '.'";
  }
  return {};
}

void check_ring_name(const std::string& name) {
  if (const auto why = ring_name_problem(name); !why.empty()) {
    throw Error(Errc::config, fmt::format("invalid ring name '{}': it must be {}", name, why));
  }
}

Mapping create_segment(const SegmentName& name, std::size_t size, std::uint32_t mode,
                       void (*init)(void* ctx, std::byte* data, std::size_t size), void* ctx) {
  if (name.file.empty()) check_ring_name(name.shm);
  Fd fd(open_fd(name, O_RDWR | O_CREAT | O_EXCL, mode));
  if (fd.get() < 0) {
    const int err = errno;
    fail(err == EEXIST ? Errc::exists : Errc::system,
         fmt::format("cannot create {}", name.display()), err);
  }
  // From here on the name exists: any failure must remove it again.
  try {
    // shm_open/open apply the umask; the configured mode is what the user asked for.
    if (::fchmod(fd.get(), mode) != 0)
      fail(Errc::system, fmt::format("cannot chmod {}", name.display()), errno);
    int rc;
    if (int e = injected("ftruncate")) {
      errno = e;
      rc = -1;
    } else {
      do {
        rc = ::ftruncate(fd.get(), static_cast<off_t>(size));
      } while (rc != 0 && errno == EINTR);
    }
    if (rc != 0)
      fail(Errc::system, fmt::format("cannot size {} to {} bytes", name.display(), size), errno);
    // Reserve the space now (tmpfs pages, or a file's blocks): a full /dev/shm or disk then
    // fails here, not as SIGBUS in a producer later.
    if (int e = injected("fallocate"); e != 0) {
      fail(Errc::system, fmt::format("cannot reserve {} bytes for {}", size, name.display()), e);
    } else if (const int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)); err != 0) {
      fail(Errc::system, fmt::format("cannot reserve {} bytes for {}", size, name.display()), err);
    }
    void* addr = map_fd(fd.get(), size, true);
    if (addr == MAP_FAILED) fail(Errc::system, fmt::format("cannot map {}", name.display()), errno);
    Mapping m(fd.release(), addr, size, true);
    init(ctx, m.data(), size);
    return m;
  } catch (...) {
    unlink_name(name);
    throw;
  }
}

// A segment another user owns, or that users other than the owner may write to, is not
// the opener's: a squatter who created it first could read every record written into it,
// or inject records into the opener's database.
void check_trust(const SegmentName& name, const struct stat& st, const Trust& trust) {
  const std::uint32_t want = trust.owner ? *trust.owner : effective_uid();
  if (st.st_uid != want) {
    throw Error(
        Errc::permission,
        fmt::format(
            "cannot open {}: it is owned by {}, not by {}{} (another user may have created it "
            "first; remove it, or set ring.owner if that user's ring is meant to be shared)",
            name.display(), describe_user(st.st_uid), describe_user(want),
            trust.owner ? " as ring.owner says" : ""));
  }
  const auto extra = static_cast<std::uint32_t>(st.st_mode) & 022u & ~trust.mode;
  if (extra != 0) {
    throw Error(
        Errc::permission,
        fmt::format(
            "cannot open {}: its mode {:04o} lets {} write to it, which ring.mode {:04o} does not "
            "allow",
            name.display(), st.st_mode & 07777u, (extra & 002u) ? "every user" : "its group",
            trust.mode));
  }
}

Mapping open_segment(const SegmentName& name, bool writable, std::size_t min_size,
                     std::chrono::milliseconds wait, const Trust& trust, std::size_t map_limit) {
  if (name.file.empty()) check_ring_name(name.shm);
  Fd fd(open_fd(name, writable ? O_RDWR : O_RDONLY, 0));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) {
      throw Error(Errc::not_found,
                  fmt::format("cannot open {}: {} (is the bridge running?)", name.display(),
                              std::strerror(err)),
                  err);
    }
    fail(Errc::system, fmt::format("cannot open {}", name.display()), err);
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  struct stat st {};
  for (;;) {
    if (::fstat(fd.get(), &st) != 0)
      fail(Errc::system, fmt::format("cannot stat {}", name.display()), errno);
    check_trust(name, st, trust);
    if (static_cast<std::size_t>(st.st_size) >= min_size) break;
    // The creator sizes the segment right after creating it; give it a moment.
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(Errc::corrupt,
                  fmt::format("cannot open {}: segment is truncated ({} bytes, need at least {})",
                              name.display(), st.st_size, min_size));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto size = std::min(static_cast<std::size_t>(st.st_size), map_limit);
  void* addr = map_fd(fd.get(), size, writable);
  if (addr == MAP_FAILED) fail(Errc::system, fmt::format("cannot map {}", name.display()), errno);
  // Only the header wanted: a fault there must not read around it (the read-ahead window,
  // up to megabytes of a file-backed ring).
  if (size < static_cast<std::size_t>(st.st_size)) ::madvise(addr, size, MADV_RANDOM);
  return Mapping(fd.release(), addr, size, writable);
}

void prefault(const Mapping& m, std::size_t from, std::size_t to) noexcept {
  if (!m.writable()) return;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  to = std::min(to, m.size());
  from = from / page * page;
  if (from >= to) return;
  std::byte* begin = m.data() + from;
  const std::size_t length = to - from;
#ifdef MADV_POPULATE_WRITE
  // Linux >= 5.14: allocates the pages and fills this process's page tables writable, with
  // no write to the memory (the ring may be in use by other processes already).
  if (::madvise(begin, length, MADV_POPULATE_WRITE) == 0) return;
  if (errno != EINVAL) return;  // EFAULT/ENOMEM/EHWPOISON: the faults come later, one by one
#endif
  // Older kernels: a read of each page maps it (tmpfs allocates the page for a shared
  // mapping); the first write then costs a minor fault at most.
  std::uint64_t sink = 0;
  for (std::size_t off = 0; off < length; off += page)
    sink += static_cast<std::uint64_t>(
        std::to_integer<unsigned>(*static_cast<volatile const std::byte*>(begin + off)));
  static_cast<void>(sink);
}

SegmentId segment_id(const SegmentName& name) noexcept {
  struct stat st {};
  if (!name.file.empty()) return ::stat(name.file.c_str(), &st) == 0 ? id_of(st) : SegmentId{};
  try {
    const Fd fd(open_fd(name, O_RDONLY, 0));
    return fd.get() >= 0 && ::fstat(fd.get(), &st) == 0 ? id_of(st) : SegmentId{};
  } catch (...) {
    return {};  // the name could not even be formatted: nothing by that name
  }
}

void remove_segment(const SegmentName& name) {
  if (name.file.empty()) check_ring_name(name.shm);
  if (unlink_name(name) != 0) {
    const int err = errno;
    fail(err == ENOENT ? Errc::not_found : Errc::system,
         fmt::format("cannot remove {}", name.display()), err);
  }
}

std::vector<std::string> list_segments() {
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n.substr(0, kShmPrefix.size()) == kShmPrefix && n.size() > kShmPrefix.size()) {
      out.emplace_back(n.substr(kShmPrefix.size()));
    }
  }
  ::closedir(d);
  return out;
}

std::uint32_t current_pid() noexcept { return static_cast<std::uint32_t>(::getpid()); }
std::uint32_t effective_uid() noexcept { return static_cast<std::uint32_t>(::geteuid()); }

std::optional<std::uint32_t> user_id(const std::string& name_or_uid) {
  if (!name_or_uid.empty() && name_or_uid.find_first_not_of("0123456789") == std::string::npos &&
      name_or_uid.size() <= 9) {
    return static_cast<std::uint32_t>(std::stoul(name_or_uid));
  }
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(name_or_uid.c_str(), &pw, buf.data(), buf.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(found->pw_uid);
}

std::string describe_user(std::uint32_t uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) == 0 &&
      found != nullptr) {
    return fmt::format("uid {} ({})", uid, found->pw_name);
  }
  return fmt::format("uid {}", uid);
}

std::uint64_t process_start_token(std::uint32_t pid) noexcept {
  // Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. The comm field
  // (2) may contain spaces and parentheses, so parse from the last ')'.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  std::ifstream f(path);
  if (!f) return 0;
  std::string line;
  std::getline(f, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::string_view rest(line);
  rest.remove_prefix(close + 1);
  int field = 2;
  std::size_t i = 0;
  while (i < rest.size() && field < 22) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    ++field;
    if (field == 22) break;
    while (i < rest.size() && rest[i] != ' ') ++i;
  }
  std::uint64_t v = 0;
  while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9')
    v = v * 10 + static_cast<std::uint64_t>(rest[i++] - '0');
  return v == 0 ? 1 : v;  // never 0: 0 means "no such process"
}

bool process_alive(std::uint32_t pid, std::uint64_t start_token) noexcept {
  if (pid == 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  const auto token = process_start_token(pid);
  if (token == 0) return false;  // raced with its exit, or /proc not mounted and kill said EPERM
  if (start_token != 0 &&
      static_cast<std::uint32_t>(token) != static_cast<std::uint32_t>(start_token)) {
    return false;  // pid reused
  }
  // A zombie has exited: its claims will never complete.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  const auto close = line.rfind(')');
  return !(close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z');
}

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool prefetchw_supported() noexcept {
#if defined(__x86_64__)
  static const bool supported = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000001u &&
           __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)) != 0;
  }();
  return supported;
#else
  return true;
#endif
}

bool tsc_usable(bool cpu_invariant, std::string_view current, std::string_view available) noexcept {
  if (current == "tsc") return true;
  if (!cpu_invariant) return false;
  while (!available.empty()) {
    const std::size_t sp = available.find_first_of(" \t\n");
    if (available.substr(0, sp) == "tsc") return true;
    if (sp == std::string_view::npos) break;
    available.remove_prefix(sp + 1);
  }
  return false;
}

bool tsc_reliable() noexcept {
#if defined(__x86_64__)
  static const bool reliable = [] {
    const auto read = [](const char* name) {
      std::ifstream f(std::string("/sys/devices/system/clocksource/clocksource0/") + name);
      std::string line;
      std::getline(f, line);
      return line;
    };
    std::string current = read("current_clocksource");
    while (!current.empty() && (current.back() == ' ' || current.back() == '\n'))
      current.pop_back();
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool invariant = __get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000007u &&
                           __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8)) != 0;
    return tsc_usable(invariant, current, read("available_clocksource"));
  }();
  return reliable;
#else
  return false;
#endif
}

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  // Shared (not FUTEX_PRIVATE): the word lives in a mapping other processes share.
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr,
            0);
}

void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, count, nullptr, nullptr,
            0);
}

void random_bytes(void* out, std::size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const ssize_t got = ::getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail(Errc::system, "cannot read random bytes", errno);
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}

void set_fault(const std::string& op, int err, int count) { faults()[op] = Fault{err, count}; }

}  // namespace ringlite::detail::platform

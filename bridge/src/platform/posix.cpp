// POSIX backend of the platform layer (Linux: shm_open, mmap, futex, /proc).
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <string_view>
#include <thread>

#include <fmt/core.h>
#include <fmt/std.h>

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

 private:
  int fd_;
};

void* map_fd(int fd, std::size_t size, bool writable) {
  if (int e = injected("mmap")) {
    errno = e;
    return MAP_FAILED;
  }
  return ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
}

}  // namespace

std::string SegmentName::display() const {
  return file.empty() ? fmt::format("ring '{}'", shm) : fmt::format("ring file '{}'", file.string());
}

Mapping::Mapping(Mapping&& o) noexcept : addr_(o.addr_), size_(o.size_), writable_(o.writable_) {
  o.addr_ = nullptr;
  o.size_ = 0;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    if (addr_) ::munmap(addr_, size_);
    addr_ = o.addr_;
    size_ = o.size_;
    writable_ = o.writable_;
    o.addr_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Mapping::~Mapping() {
  if (addr_) ::munmap(addr_, size_);
}

void check_ring_name(const std::string& name) {
  const bool bad_chars = name.find_first_not_of(
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                         std::string::npos;
  if (name.empty() || name.size() > 200 || bad_chars || name.front() == '.') {
    throw Error(Errc::config,
                fmt::format("invalid ring name '{}': use 1-200 of A-Z a-z 0-9 _ . - (no '/' or '..', "
                            "not starting with '.')",
                            name));
  }
}

Mapping create_segment(const SegmentName& name, std::size_t size, std::uint32_t mode,
                       void (*init)(void* ctx, std::byte* data, std::size_t size), void* ctx) {
  if (name.file.empty()) check_ring_name(name.shm);
  Fd fd(open_fd(name, O_RDWR | O_CREAT | O_EXCL, mode));
  if (fd.get() < 0) {
    const int err = errno;
    fail(err == EEXIST ? Errc::exists : Errc::system, fmt::format("cannot create {}", name.display()),
         err);
  }
  // From here on the name exists: any failure must remove it again.
  try {
    // shm_open/open apply the umask; the configured mode is what the user asked for.
    if (::fchmod(fd.get(), mode) != 0) fail(Errc::system, fmt::format("cannot chmod {}", name.display()), errno);
    int rc;
    if (int e = injected("ftruncate")) {
      errno = e;
      rc = -1;
    } else {
      do {
        rc = ::ftruncate(fd.get(), static_cast<off_t>(size));
      } while (rc != 0 && errno == EINTR);
    }
    if (rc != 0) fail(Errc::system, fmt::format("cannot size {} to {} bytes", name.display(), size), errno);
    if (name.file.empty()) {
      // Reserve the pages now (tmpfs): a full /dev/shm then fails here, not as SIGBUS later.
      if (int e = injected("fallocate"); e != 0 || ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)) != 0) {
        fail(Errc::system, fmt::format("cannot reserve {} bytes for {}", size, name.display()),
             e ? e : ENOSPC);
      }
    }
    void* addr = map_fd(fd.get(), size, true);
    if (addr == MAP_FAILED) fail(Errc::system, fmt::format("cannot map {}", name.display()), errno);
    Mapping m(addr, size, true);
    init(ctx, m.data(), size);
    return m;
  } catch (...) {
    unlink_name(name);
    throw;
  }
}

Mapping open_segment(const SegmentName& name, bool writable, std::size_t min_size,
                     std::chrono::milliseconds wait) {
  if (name.file.empty()) check_ring_name(name.shm);
  Fd fd(open_fd(name, writable ? O_RDWR : O_RDONLY, 0));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) {
      throw Error(Errc::not_found,
                  fmt::format("cannot open {}: {} (is the bridge running?)", name.display(), std::strerror(err)),
                  err);
    }
    fail(Errc::system, fmt::format("cannot open {}", name.display()), err);
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  struct stat st {};
  for (;;) {
    if (::fstat(fd.get(), &st) != 0) fail(Errc::system, fmt::format("cannot stat {}", name.display()), errno);
    if (static_cast<std::size_t>(st.st_size) >= min_size) break;
    // The creator sizes the segment right after creating it; give it a moment.
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(Errc::corrupt, fmt::format("cannot open {}: segment is truncated ({} bytes, need at least {})",
                                             name.display(), st.st_size, min_size));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* addr = map_fd(fd.get(), size, writable);
  if (addr == MAP_FAILED) fail(Errc::system, fmt::format("cannot map {}", name.display()), errno);
  return Mapping(addr, size, writable);
}

void remove_segment(const SegmentName& name) {
  if (name.file.empty()) check_ring_name(name.shm);
  if (unlink_name(name) != 0) {
    const int err = errno;
    fail(err == ENOENT ? Errc::not_found : Errc::system, fmt::format("cannot remove {}", name.display()), err);
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
  while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') v = v * 10 + static_cast<std::uint64_t>(rest[i++] - '0');
  return v == 0 ? 1 : v;  // never 0: 0 means "no such process"
}

bool process_alive(std::uint32_t pid, std::uint64_t start_token) noexcept {
  if (pid == 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  const auto token = process_start_token(pid);
  if (token == 0) return false;  // raced with its exit, or /proc not mounted and kill said EPERM
  if (start_token != 0 && static_cast<std::uint32_t>(token) != static_cast<std::uint32_t>(start_token)) {
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
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, count, nullptr, nullptr, 0);
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

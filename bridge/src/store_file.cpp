// ringlite: the database file under the store (store_detail.hpp, DatabaseFile): created with
// its mode, locked for one writer, and watched for being deleted or replaced while open.
// SQLite does none of these: it creates files under the umask, lets any number of
// connections write in turn, and keeps writing to an inode that no name points to anymore.
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

#include "detail/store_detail.hpp"
#include "ringlite/error.hpp"

namespace ringlite::detail {
namespace {

std::string cause(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

int open_retrying(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// The database files this process holds. Closing a descriptor drops every POSIX lock the
// process has on the file, the SQLite connection's included; so a second DatabaseFile on a
// file this process holds is refused before it opens one, not after its flock fails.
std::mutex g_held_mutex;
std::set<std::pair<unsigned long long, unsigned long long>> g_held;

std::string busy_message(const std::string& path, long holder) {
  return fmt::format(
      "cannot open database '{}': another process{} writes to it (a database takes the "
      "records of one ring at a time)",
      path, holder > 0 ? fmt::format(" (pid {})", holder) : std::string());
}

}  // namespace

// The pid holding a flock on (dev, ino), from /proc/locks ("1: FLOCK ADVISORY WRITE <pid>
// <major>:<minor>:<inode> 0 EOF", major and minor in hex); 0 when it cannot be told.
long flock_holder(unsigned long long dev, unsigned long long ino) {
  std::ifstream locks("/proc/locks");
  const std::string want = fmt::format("{:02x}:{:02x}:{}", major(static_cast<dev_t>(dev)),
                                       minor(static_cast<dev_t>(dev)), ino);
  std::string line;
  while (std::getline(locks, line)) {
    if (line.find("FLOCK") == std::string::npos || line.find("->") != std::string::npos) continue;
    std::istringstream in(line);
    std::string number, kind, advisory, access, pid, file;
    if (in >> number >> kind >> advisory >> access >> pid >> file && file == want) {
      return std::strtol(pid.c_str(), nullptr, 10);
    }
  }
  return 0;
}

DatabaseFile::DatabaseFile(std::string path, std::uint32_t mode, std::string_view origin)
    : path_(std::move(path)) {
  const auto bad_path = [&](std::string_view problem, int err) {
    throw Error(Errc::config,
                fmt::format("invalid config '{}': 'database.path' {}: '{}'{}", origin, problem,
                            path_, err ? fmt::format(" ({})", cause(err)) : std::string()),
                err);
  };
  {
    struct stat st {};
    const std::lock_guard lock(g_held_mutex);
    if (::stat(path_.c_str(), &st) == 0 &&
        g_held.count({static_cast<unsigned long long>(st.st_dev),
                      static_cast<unsigned long long>(st.st_ino)}) != 0) {
      throw Error(Errc::busy, busy_message(path_, ::getpid()), EWOULDBLOCK);
    }
  }
  // O_NONBLOCK: a FIFO at the path must not block the open; it is refused below.
  constexpr int kOpen = O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  for (;;) {
    fd_ = open_retrying(path_.c_str(), kOpen, 0);
    if (fd_ >= 0) break;
    const int err = errno;
    if (err == EISDIR) bad_path("is a folder, not a database file", 0);
    if (err == EACCES || err == EPERM || err == EROFS || err == ETXTBSY) {
      bad_path("is a file that cannot be opened for writing", err);
    }
    if (err == ENOTDIR) bad_path("is in a folder that does not exist", 0);
    if (err == ELOOP || err == ENAMETOOLONG) bad_path("cannot be opened", err);
    if (err != ENOENT) {
      throw Error(Errc::system, fmt::format("cannot open database '{}': {}", path_, cause(err)),
                  err);
    }
    // A new database: an empty file is a valid empty database, and creating it here sets
    // its permission bits, which SQLite copies to the -wal, -shm and journals.
    fd_ = open_retrying(path_.c_str(), kOpen | O_CREAT | O_EXCL, static_cast<mode_t>(mode));
    if (fd_ >= 0) {
      if (::fchmod(fd_, static_cast<mode_t>(mode)) != 0) {
        const int e = errno;
        ::close(fd_);
        throw Error(Errc::system,
                    fmt::format("cannot set the mode of database '{}': {}", path_, cause(e)), e);
      }
      break;
    }
    const int cerr = errno;
    if (cerr == EEXIST) continue;  // created by someone else just now: open that one
    if (cerr == ENOENT || cerr == ENOTDIR) bad_path("is in a folder that does not exist", 0);
    if (cerr == EACCES || cerr == EPERM || cerr == EROFS) {
      bad_path("is in a folder where the database cannot be created", cerr);
    }
    throw Error(Errc::system, fmt::format("cannot create database '{}': {}", path_, cause(cerr)),
                cerr);
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(Errc::system, fmt::format("cannot stat database '{}': {}", path_, cause(err)), err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    bad_path("is not a regular file", 0);
  }
  // A file someone else created at the path first (or may write to) is not ours to fill:
  // its owner would read every record, a co-writer could inject rows.
  const auto uid = static_cast<std::uint32_t>(::geteuid());
  const auto extra = static_cast<std::uint32_t>(st.st_mode) & 022u & ~mode;
  if (st.st_uid != uid || extra != 0) {
    ::close(fd_);
    fd_ = -1;
    throw Error(
        Errc::permission,
        st.st_uid != uid
            ? fmt::format(
                  "cannot open database '{}': it is owned by uid {}, not by this process's uid {} "
                  "(another user may have created it first; chown it or choose another path)",
                  path_, st.st_uid, uid)
            : fmt::format("cannot open database '{}': its mode {:04o} lets {} write to it, which "
                          "database.mode {:04o} does not allow",
                          path_, st.st_mode & 07777u, (extra & 002u) ? "every user" : "its group",
                          mode));
  }
  file_ = {static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino),
           true};
  int rc;
  do {
    rc = ::flock(fd_, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) {
      throw Error(Errc::system, fmt::format("cannot lock database '{}': {}", path_, cause(err)),
                  err);
    }
    throw Error(Errc::busy, busy_message(path_, flock_holder(st.st_dev, st.st_ino)), err);
  }
  const std::lock_guard lock(g_held_mutex);
  g_held.insert({file_.dev, file_.ino});
}

DatabaseFile::~DatabaseFile() {
  if (fd_ < 0) return;
  {
    const std::lock_guard lock(g_held_mutex);
    g_held.erase({file_.dev, file_.ino});
  }
  if (file_gone_) {
    // Our -wal and -shm at the path hold this file's pages: the file at the path now (or a
    // new one created there) would read them as its own.
    for (const auto& [suffix, id] : {std::pair{"-wal", &wal_}, std::pair{"-shm", &shm_}}) {
      const std::string companion = path_ + suffix;
      struct stat st {};
      if (id->known && ::stat(companion.c_str(), &st) == 0 &&
          static_cast<unsigned long long>(st.st_ino) == id->ino &&
          static_cast<unsigned long long>(st.st_dev) == id->dev) {
        ::unlink(companion.c_str());
      }
    }
  }
  ::close(fd_);
}

std::string DatabaseFile::watch(const std::string& path, Id& id, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (!id.known) return {};  // not created yet (or never: no WAL)
    return fmt::format("{} was deleted or moved away while open", what);
  }
  const auto dev = static_cast<unsigned long long>(st.st_dev);
  const auto ino = static_cast<unsigned long long>(st.st_ino);
  if (!id.known) {
    id = {dev, ino, true};
    return {};
  }
  if (dev != id.dev || ino != id.ino) {
    return fmt::format("{} was replaced by another file while open", what);
  }
  return {};
}

std::string DatabaseFile::check() {
  // The database first: a replaced database comes with its own -wal and -shm.
  auto why = watch(path_, file_, "the file");
  if (!why.empty()) file_gone_ = true;
  if (why.empty()) why = watch(path_ + "-wal", wal_, fmt::format("its WAL '{}-wal'", path_));
  if (why.empty()) why = watch(path_ + "-shm", shm_, fmt::format("its WAL index '{}-shm'", path_));
  if (!why.empty()) orphaned_ = true;
  return why;
}

}  // namespace ringlite::detail

// Real processes for multi-process and fault tests: fork a child that runs a function and
// _exits with its result (no doctest machinery runs in the child), wait, signal.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

namespace ringlite::test {

/// Forks; the child runs `fn` and exits with its return value (97 if it threw).
inline pid_t spawn(const std::function<int()>& fn) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 97;
    try {
      rc = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  return pid;
}

/// Waits for the child to exit; returns its exit code, or 128+signal.
inline int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/// Waits until the child has stopped (SIGSTOP); false if it exited instead.
inline bool wait_stopped(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, WUNTRACED) < 0) {
  }
  return WIFSTOPPED(status);
}

}  // namespace ringlite::test

#include <fcntl.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ringlite::test {

/// Starts the `ringlite` command with `args` (no shell), stdout and stderr appended to
/// `log_path`. Returns the child's pid.
inline pid_t spawn_cli(const std::string& cli, const std::vector<std::string>& args,
                       const std::string& log_path) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    std::string name = "ringlite";
    argv.push_back(name.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(cli.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

/// CPU time (user + system) the process has used so far, from /proc/<pid>/stat.
inline std::chrono::milliseconds cpu_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  return std::chrono::milliseconds((utime + stime) * 1000 / static_cast<unsigned long long>(ticks));
}

/// The state letter of /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z'...), or 0 if gone.
inline char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '\0';
}

/// The children of a process (from /proc/<pid>/task/<pid>/children), in pid order.
inline std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  long v = 0;
  while (in >> v) out.push_back(static_cast<pid_t>(v));
  std::sort(out.begin(), out.end());
  return out;
}

/// Non-blocking check: the child's exit code if it has exited, else -1 (still running).
inline int try_wait(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/// True while the process exists and has not exited: false once it is gone or a zombie
/// (an orphan's zombie may linger when nobody reaps it). Works for any pid, not only children.
inline bool is_running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  return state != 'Z' && state != 'X' && state != 'x';
}

/// SIGKILLs and reaps the child at scope exit if it is still running unreaped, so that a
/// test aborted by a failed REQUIRE leaves no bridge behind. A child the test has reaped
/// already is left alone (waitpid no longer knows it, so its pid is never signalled).
struct ReapOnExit {
  pid_t pid;
  ~ReapOnExit() {
    if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

/// Waits up to `limit` for the child to exit: its exit code, or -1 when it still ran then
/// (it is SIGKILLed and reaped, so that a failing test leaves no process behind).
inline int wait_exit_for(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const int code = try_wait(pid);
    if (code >= 0) return code;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace ringlite::test

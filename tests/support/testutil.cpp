#include "testutil.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ringlite::test {

std::string unique_name(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + tag;
}

TempDir::TempDir(const std::string& tag) {
  path_ = std::filesystem::temp_directory_path() / ("ringlite-" + unique_name(tag));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + path.string());
  f << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string shell_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

RunResult run_shell(const std::string& command) {
  TempDir dir("run");
  const auto out = dir / "out";
  const auto err = dir / "err";
  const std::string full =
      "(" + command + ") </dev/null >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(full.c_str());
  RunResult r;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

RunResult run_cli(const std::string& args) { return run_shell("'" + cli_path() + "' " + args); }

std::filesystem::path source_dir() { return RINGLITE_SOURCE_DIR; }
std::string cli_path() { return RINGLITE_CLI; }

}  // namespace ringlite::test

// Helpers shared by the test suites: unique ring names, scratch folders, running the
// `ringlite` command and capturing what it prints.
#pragma once

#include <filesystem>
#include <string>

namespace ringlite::test {

/// A ring name no other test (or concurrent ctest process) uses: "t<pid>_<n>_<tag>".
std::string unique_name(const std::string& tag);

/// A fresh folder under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// What a finished command did.
struct RunResult {
  int exit_code = -1;  ///< exit status, or 128+signal
  std::string out;
  std::string err;
};

/// Runs `ringlite <args>` through /bin/sh (args are shell words) and waits for it.
RunResult run_cli(const std::string& args);
/// Runs any shell command line and waits for it.
RunResult run_shell(const std::string& command);
/// `s` as one shell word: in single quotes, embedded ones escaped.
std::string shell_word(const std::string& s);

/// Writes text to a file, creating or truncating it.
void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

/// The repository's source folder and the built command (set by CMake).
std::filesystem::path source_dir();
std::string cli_path();

}  // namespace ringlite::test

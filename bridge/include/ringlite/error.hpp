// ringlite: errors thrown on setup paths. Hot paths (write, drain, live read) never throw:
// they return the result enums declared next to them.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ringlite {

/// What kind of failure an Error reports; the command line maps it to an exit code.
enum class Errc {
  usage,       ///< bad command-line use (exit 2)
  config,      ///< bad config file or value (exit 2)
  schema,      ///< bad schema file, or a struct/schema mismatch (exit 2)
  not_found,   ///< a ring or file that does not exist (exit 1)
  exists,      ///< a ring that already exists (exit 1)
  corrupt,     ///< shared memory or a database that fails validation (exit 1)
  version,     ///< a format version this build cannot read (exit 1)
  busy,        ///< another bridge owns the ring, or the database is locked (exit 1)
  permission,  ///< a ring or file owned by another user, or writable by more users than the
               ///< config allows: not trusted (exit 1)
  system,      ///< an OS call failed; sys_errno() says why (exit 1)
  sqlite,      ///< SQLite failed; sqlite_code() has the extended code (exit 1)
};

/// Thrown by every setup path. what() is one line: "cannot <verb> <object> '<name>': <cause>".
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message, int sys_errno = 0, int sqlite_code = 0)
      : std::runtime_error(message), code_(code), errno_(sys_errno), sqlite_code_(sqlite_code) {}

  Errc code() const noexcept { return code_; }
  int sys_errno() const noexcept { return errno_; }
  int sqlite_code() const noexcept { return sqlite_code_; }

  /// True for errors caused by what the user gave us (usage, config, schema): exit code 2.
  bool is_input_error() const noexcept {
    return code_ == Errc::usage || code_ == Errc::config || code_ == Errc::schema;
  }

 private:
  Errc code_;
  int errno_;
  int sqlite_code_;
};

/// `text` made fit for one line of a message or a terminal: control characters spelled out
/// as \n, \t, \r or \xNN, everything else as it is. For names and text that come from files
/// or users, so that an Error's what() stays one line. Does not block; throws only
/// std::bad_alloc.
std::string one_line(std::string_view text);
/// one_line(text) appended to `out`.
void append_one_line(std::string& out, std::string_view text);

}  // namespace ringlite

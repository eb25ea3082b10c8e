// Checks the test suites share: the Error a call throws, and SQL run on a database file as an
// outside writer (a user's sqlite3, a tamperer) would.
#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "ringlite/error.hpp"

namespace ringlite::test {

/// The message of the Error `f` throws, checked to carry `code`; FAILs when it throws none.
template <typename F>
std::string error_of(Errc code, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_MESSAGE(static_cast<int>(e.code()) == static_cast<int>(code), e.what());
    return e.what();
  }
  FAIL("no error thrown");
  return "";
}

/// Runs `sql` on the database at `db` (created if missing) on a connection of its own.
inline void exec_sql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) ==
          SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE_MESSAGE(rc == SQLITE_OK, why, " in: ", sql);
}

}  // namespace ringlite::test

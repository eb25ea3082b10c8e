// The project's documents stay true to the code that cites them: every comment that points
// to docs/design.md names a heading that exists there, and nothing points to a design text
// outside the project.
#include <doctest/doctest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "testutil.hpp"

namespace fs = std::filesystem;
using ringlite::test::read_file;
using ringlite::test::source_dir;

namespace {

/// The files of the project that may cite the design: sources, build files, scripts, the
/// schemas and the Markdown documents.
std::vector<fs::path> project_files() {
  std::vector<fs::path> out;
  for (const char* top :
       {"bridge", "tests", "bench", "examples", "schema", "scripts", "cmake", "docs"}) {
    for (const auto& e : fs::recursive_directory_iterator(source_dir() / top)) {
      if (e.is_regular_file()) out.push_back(e.path());
    }
  }
  for (const char* file : {"CMakeLists.txt", "README.md", "CHANGELOG.md"}) {
    if (fs::exists(source_dir() / file)) out.push_back(source_dir() / file);
  }
  return out;
}

/// The `##` and `###` headings of docs/design.md.
std::set<std::string> headings() {
  std::set<std::string> out;
  const std::regex heading(R"(^#{2,3} (.+?)\s*$)");
  std::string line;
  std::istringstream in(read_file(source_dir() / "docs" / "design.md"));
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, heading)) out.insert(m[1]);
  }
  return out;
}

/// A file's text with comments that wrap joined up: "...and\n// replay" -> "...and replay".
std::string unwrapped(const fs::path& file) {
  static const std::regex wrap(R"(\s*\n\s*(//+|--|#)\s*)");
  return std::regex_replace(read_file(file), wrap, " ");
}

}  // namespace

TEST_SUITE("docs") {
  TEST_CASE("every reference to docs/design.md names a heading it has") {
    REQUIRE(fs::exists(source_dir() / "docs" / "design.md"));
    const auto known = headings();
    CHECK(known.count("The ring protocol") == 1);
    const std::regex cite(R"re(docs/design\.md, ((?:"[^"]+"(?:, )?)+))re");
    const std::regex quoted(R"re("([^"]+)")re");
    int citations = 0;
    for (const auto& file : project_files()) {
      if (file.filename() == "docs_test.cpp") continue;  // its own patterns are not citations
      const std::string text = unwrapped(file);
      for (std::sregex_iterator it(text.begin(), text.end(), cite), end; it != end; ++it) {
        const std::string list = (*it)[1];
        for (std::sregex_iterator q(list.begin(), list.end(), quoted); q != end; ++q) {
          ++citations;
          CHECK_MESSAGE(known.count((*q)[1]) == 1, file.string(),
                        " cites a heading docs/design.md does not have: \"", (*q)[1].str(), "\"");
        }
      }
    }
    CHECK(citations > 20);
  }

  TEST_CASE("nothing cites a design text outside the project") {
    const std::string outside =
        std::string("DESIGN") + ".md";  // spelled apart: this file is scanned too
    for (const auto& file : project_files()) {
      CHECK_MESSAGE(read_file(file).find(outside) == std::string::npos, file.string(), " cites ",
                    outside);
    }
  }
}

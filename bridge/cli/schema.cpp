// ringlite schema check|header
#include "ringlite/schema.hpp"

#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "commands.hpp"
#include "ringlite/error.hpp"

namespace ringlite::cli {
namespace {

struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

// One line per type, so a script can grep for a type's size or a column's offset.
std::string describe(const RecordType& t) {
  std::string line = fmt::format("{} id={} size={} align={}", t.name, t.id, t.size, t.align);
  for (const auto& f : t.fields) line += fmt::format(" {}:{}@{}", f.name, f.declared(), f.offset);
  return line;
}

// Writes `text` to `path` in full, or throws: a half-written header would fail to compile
// far from the cause.
void write_text(const std::string& path, const std::string& text) {
  std::unique_ptr<std::FILE, FileClose> f(std::fopen(path.c_str(), "wb"));
  if (!f) {
    const int err = errno;
    throw Error(Errc::system, fmt::format("cannot write header '{}': {}", path, std::strerror(err)),
                err);
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
  const int write_errno = errno;
  const bool closed = std::fclose(f.release()) == 0;  // flushes: may fail on a full disk
  if (!written || !closed) {
    const int err = written ? errno : write_errno;
    throw Error(Errc::system, fmt::format("cannot write header '{}': {}", path, std::strerror(err)),
                err);
  }
}

}  // namespace

void add_schema(CLI::App& app, Action& action) {
  auto* schema = app.add_subcommand("schema", "check a schema file or generate its C++ header");
  schema->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();

  auto* check =
      schema->add_subcommand("check", "parse and validate FILE.sql; print each record layout");
  check->add_option("file", *file, "schema file (SQL)")->required();
  check->callback([&action, file] {
    action = [file] {
      const auto s = Schema::load_file(*file);
      for (const auto& t : s.types()) fmt::print("{}\n", describe(t));
      return kExitOk;
    };
  });

  auto* header = schema->add_subcommand("header", "print the C++ structs for FILE.sql");
  header->add_option("file", *file, "schema file (SQL)")->required();
  header->add_option("-o,--output", *output, "write the header to this file instead of stdout");
  header->callback([&action, file, output] {
    action = [file, output] {
      const auto text = Schema::load_file(*file).cpp_header(*file);
      if (output->empty()) {
        fmt::print("{}", text);
      } else {
        write_text(*output, text);
      }
      return kExitOk;
    };
  });
}

}  // namespace ringlite::cli

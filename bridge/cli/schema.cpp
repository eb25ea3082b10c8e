// ringlite schema check|header. The header generator lives here, with the command: it turns
// record layouts into C++ structs, taking each member's type from the type table (types.hpp).
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

// C++ header with one struct per type and static_asserts on every offset, size and
// alignment, and each type's layout signature (which writer<T>() checks at run time).
std::string cpp_header(const Layouts& layouts, std::string_view source_name) {
  std::string source(source_name);
  for (char& c : source) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';  // keep the comment on one line
  }
  std::string h = fmt::format(
      "// Generated from {} by `ringlite schema header`. Do not edit: regenerate it instead.\n"
      "// Each struct is one record type; the static_asserts prove this compiler lays it out\n"
      "// exactly as the ring and the bridge expect.\n"
      "#pragma once\n\n#include <cstddef>\n#include <cstdint>\n\nnamespace ringlite_types {{\n\n"
      "#ifndef RINGLITE_VAR_DEFINED\n#define RINGLITE_VAR_DEFINED\n"
      "// A TEXT or BLOB column: where its bytes sit in the record's tail.\n"
      "struct ringlite_var {{\n  ::std::uint32_t offset;  // from the start of the record\n"
      "  ::std::uint32_t length;  // in bytes\n}};\n#endif\n",
      source);
  for (const auto& t : layouts.types()) {
    h += fmt::format(
        "\nstruct {} {{\n  static constexpr const char* kRingliteType = \"{}\";\n"
        "  static constexpr const char* kRingliteLayout = \"{}\";\n",
        t.name, t.name, t.layout_signature());
    for (const auto& f : t.fields) {
      const auto dims = f.length ? fmt::format("[{}]", f.length) : std::string();
      h += fmt::format("  {} {}{};  // {} @{}\n", type_info(f.type).cpp, f.name, dims, f.declared(),
                       f.offset);
    }
    h += fmt::format(
        "}};\nstatic_assert(sizeof({0}) == {1}, \"{0}: size\");\n"
        "static_assert(alignof({0}) == {2}, \"{0}: alignment\");\n",
        t.name, t.size, t.align);
    for (const auto& f : t.fields) {
      h += fmt::format("static_assert(offsetof({0}, {1}) == {2}, \"{0}.{1}: offset\");\n", t.name,
                       f.name, f.offset);
    }
  }
  return h + "\n}  // namespace ringlite_types\n";
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
      const auto text = cpp_header(Schema::load_file(*file), *file);
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

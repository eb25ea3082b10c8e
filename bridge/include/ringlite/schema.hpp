// ringlite: record schemas written in SQL (docs/design.md, "The schema"). A schema is
// CREATE TABLE statements (plus optional CREATE INDEX); SQLite parses it in a scratch
// in-memory database, and each column's declared type (types.hpp) gives the record's
// layout (layout.hpp). This is the SQL tier: rings and producers need only the layouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/layout.hpp"

namespace ringlite {

/// A parsed, validated schema: record layouts, each with the indexes declared on its
/// table. Immutable after parse; cheap to copy. A Schema is the Layouts it declares, so it
/// goes wherever layouts do (Ring::create, comparisons with a ring's layouts).
class Schema : public Layouts {
 public:
  Schema() = default;
  /// Parses SQL text. `origin` names the source in error messages (a path, or "database
  /// 'x' type 't'"). Only CREATE TABLE and CREATE INDEX are allowed (SQLite's authorizer
  /// enforces it, so text read from a database cannot run anything else). At most
  /// kMaxRecordTypes tables, refused before SQLite parses any.
  /// Throws Error(Errc::schema) naming the table and column at fault.
  static Schema parse(std::string_view sql, std::string_view origin);
  /// Reads and parses a file. Throws Error(Errc::schema) or Error(Errc::not_found).
  static Schema load_file(const std::filesystem::path& path);

  const Layouts& layouts() const noexcept { return *this; }
  /// The CREATE INDEX statements on the table of type `id`, as written (collapsed to one line).
  const std::vector<std::string>& indexes(std::uint16_t id) const;
  /// Canonical SQL for the whole schema: each type's ddl() and its indexes, one per line.
  /// Parsing it again yields the same schema.
  std::string normalized() const;

  /// The same layouts and the same indexes.
  bool operator==(const Schema& other) const { return normalized() == other.normalized(); }

 private:
  Schema(Layouts layouts, std::vector<std::vector<std::string>> indexes)
      : Layouts(std::move(layouts)), indexes_(std::move(indexes)) {}
  std::vector<std::vector<std::string>> indexes_;  // by type id - 1
};

/// What differs between two schemas, type by type: a type only one side has, a type under
/// another id, a layout (layout_difference), or the indexes. Empty when they are equal.
std::string schema_difference(const Schema& a, std::string_view a_name, const Schema& b,
                              std::string_view b_name);

}  // namespace ringlite

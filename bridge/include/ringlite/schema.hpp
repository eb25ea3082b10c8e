// ringlite: record schemas. A schema is SQL (CREATE TABLE + optional CREATE INDEX); SQLite
// parses it in a scratch in-memory database, and each column's declared type gives the
// record's binary layout under C struct rules. See DESIGN.md, "Schema".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringlite {

/// The most record types a schema may declare. Parsing costs grow with the square of the
/// table count (SQLite rescans its schema after each CREATE TABLE): 1024 parse in about a
/// tenth of a second, so a ring's embedded schema can never keep an opener busy for long.
inline constexpr std::size_t kMaxRecordTypes = 1024;

/// The declared column types a record may use.
enum class FieldType : std::uint8_t {
  int8, int16, int32, int64,
  uint8, uint16, uint32, uint64,
  float32, float64,
  boolean,
  chars,  ///< CHAR(N): fixed N bytes, TEXT up to the first NUL
  bytes,  ///< BYTES(N): fixed N bytes, BLOB
  text,   ///< TEXT: u32 offset + u32 length into the record's tail
  blob,   ///< BLOB: u32 offset + u32 length into the record's tail
};

/// The SQL spelling of a type, e.g. "INT32"; CHAR/BYTES without their "(N)".
std::string_view type_name(FieldType t) noexcept;

/// True for TEXT and BLOB, whose data lives in the record's variable tail.
constexpr bool is_variable(FieldType t) noexcept {
  return t == FieldType::text || t == FieldType::blob;
}

/// One column of a record type and where it sits in the record.
struct Field {
  std::string name;
  FieldType type{};
  std::uint32_t offset = 0;  ///< byte offset in the fixed part
  std::uint32_t size = 0;    ///< bytes in the fixed part (8 for TEXT/BLOB)
  std::uint32_t align = 1;
  std::uint32_t length = 0;  ///< N for CHAR(N)/BYTES(N), else 0

  /// "INT32", "CHAR(64)", ...: the declared type as the schema spells it.
  std::string declared() const;
};

/// One record type: a CREATE TABLE of the schema.
struct RecordType {
  std::uint16_t id = 0;  ///< 1-based, in schema order; the frame's type id
  std::string name;
  std::vector<Field> fields;
  std::uint32_t size = 0;   ///< fixed part, rounded up to `align` (the C struct's sizeof)
  std::uint32_t align = 1;  ///< the largest field alignment (the C struct's alignof)
  std::vector<std::string> indexes;  ///< CREATE INDEX statements, as written

  bool variable() const noexcept;  ///< has a TEXT or BLOB column
  const Field* field(std::string_view name) const noexcept;
  /// Canonical CREATE TABLE statement (user columns only, declared types).
  std::string ddl() const;
  /// A one-line fingerprint of the layout ("sensor{a:INT32@0,b:FLOAT32@4,...}size=80,align=8"):
  /// the generated header embeds it so writer<T>() can check T against the ring's schema.
  std::string layout_signature() const;
};

/// A parsed, validated schema. Immutable after parse; cheap to copy.
class Schema {
 public:
  /// Parses SQL text. `origin` names the source in error messages (a path, or "ring 'x'").
  /// Only CREATE TABLE and CREATE INDEX are allowed (SQLite's authorizer enforces it, so
  /// schema text read from shared memory cannot run anything else).
  /// Throws Error(Errc::schema) naming the table and column at fault.
  static Schema parse(std::string_view sql, std::string_view origin);
  /// Reads and parses a file. Throws Error(Errc::schema) or Error(Errc::not_found).
  static Schema load_file(const std::filesystem::path& path);

  const std::vector<RecordType>& types() const noexcept { return types_; }
  /// nullptr when there is no such type.
  const RecordType* find(std::string_view name) const noexcept;
  const RecordType* find(std::uint16_t id) const noexcept;
  /// Canonical SQL for the whole schema: each type's ddl() and its indexes, one per line.
  /// Parsing it again yields the same schema; it is what the ring header stores.
  std::string normalized() const;
  /// C++ header with one struct per type and static_asserts on every offset.
  std::string cpp_header(std::string_view source_name) const;

  bool operator==(const Schema& other) const { return normalized() == other.normalized(); }

 private:
  std::vector<RecordType> types_;
};

/// Validates a variable-length record: fixed part present, every TEXT/BLOB (offset,
/// length) inside the tail. Returns an empty string when valid, else the reason.
std::string check_record(const RecordType& type, std::span<const std::byte> payload);

/// What differs between two layout signatures of a type (RecordType::layout_signature(), or
/// a generated header's kRingliteLayout), for messages: the columns whose type differs, or
/// that only one side has; else the first column that sits at another offset; else the
/// size. `a_name` and `b_name` say where each layout comes from ("the struct", "the ring").
/// Ends with both full layouts. Example: "column 'b' is FLOAT64 at offset 8 in the struct
/// but FLOAT32 at offset 4 in the ring (the struct has sensor{...}size=88,align=8, the ring
/// has sensor{...}size=80,align=8)". Empty when the signatures are equal. Never throws
/// Error: text that is not a signature is reported as differing, with both texts.
std::string layout_difference(std::string_view a, std::string_view a_name, std::string_view b,
                              std::string_view b_name);
/// The same for two record types.
std::string layout_difference(const RecordType& a, std::string_view a_name, const RecordType& b,
                              std::string_view b_name);
/// What differs between two schemas, type by type: a type only one side has, a type under
/// another id, a layout (layout_difference), or the indexes. Empty when they are equal.
std::string schema_difference(const Schema& a, std::string_view a_name, const Schema& b,
                              std::string_view b_name);

}  // namespace ringlite

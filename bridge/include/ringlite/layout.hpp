// ringlite: record layouts (docs/design.md, "Record layouts and the type table"). A record
// type is a C struct of declared fields: each field's offset, size and alignment follow
// from its type under C struct rules, so one rule, applied here, lays out every record the
// same way for the schema parser, the generated headers and every process that opens a
// ring. Rings carry their layouts in a binary form (Layouts::encode/decode) that needs no
// SQL parser and that every opener validates as untrusted input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringlite/types.hpp"

namespace ringlite {

/// The most record types a schema or a ring may declare. Parsing a schema costs time that
/// grows with the square of its table count (SQLite rescans its schema after each CREATE
/// TABLE): 1024 parse in about a tenth of a second.
inline constexpr std::size_t kMaxRecordTypes = 1024;
/// The largest fixed part of a record.
inline constexpr std::uint32_t kMaxRecordSize = 1u << 20;
/// The longest type or field name (they become C++ identifiers and SQL names).
inline constexpr std::size_t kMaxNameLength = 128;

/// One field of a record type and where it sits in the record.
struct Field {
  std::string name;
  FieldType type{};
  std::uint32_t offset = 0;  ///< byte offset in the fixed part
  std::uint32_t size = 0;    ///< bytes in the fixed part (8 for TEXT/BLOB)
  std::uint32_t align = 1;
  std::uint32_t length = 0;  ///< N for CHAR(N)/BYTES(N), else 0

  /// "INT32", "CHAR(64)", ...: the declared type as a schema spells it.
  std::string declared() const;
};

/// One record type: a C struct of fields.
struct RecordType {
  std::uint16_t id = 0;  ///< 1-based, in declaration order; the frame's type id
  std::string name;
  std::vector<Field> fields;
  std::uint32_t size = 0;   ///< fixed part, rounded up to `align` (the C struct's sizeof)
  std::uint32_t align = 1;  ///< the largest field alignment (the C struct's alignof)

  /// Lays out fields given by name, type and (for CHAR/BYTES) length under C struct rules:
  /// fills in every offset, size and alignment, and the record's size and alignment.
  /// Throws Error(schema) naming the type and field for an N out of 1..65535 or a fixed
  /// part over kMaxRecordSize. Names are not checked here (see Layouts::decode).
  static RecordType make(std::uint16_t id, std::string name, std::vector<Field> fields);

  bool variable() const noexcept;  ///< has a TEXT or BLOB column
  const Field* field(std::string_view name) const noexcept;
  /// "CREATE TABLE name (a INT32, buffer CHAR(64))": the declared fields as SQL text.
  std::string ddl() const;
  /// A one-line fingerprint of the layout ("sensor{a:INT32@0,b:FLOAT32@4,...}size=80,align=8"):
  /// generated headers embed it so writer<T>() can check T against the ring's layout.
  std::string layout_signature() const;

  bool operator==(const RecordType& o) const;
};

/// The record types of a ring or a schema: ids 1..n in order. Cheap to copy.
class Layouts {
 public:
  Layouts() = default;
  /// Takes types whose ids are 1..n in order and whose names are unique; throws
  /// Error(schema) otherwise.
  explicit Layouts(std::vector<RecordType> types);

  const std::vector<RecordType>& types() const noexcept { return types_; }
  /// nullptr when there is no such type.
  const RecordType* find(std::string_view name) const noexcept;
  const RecordType* find(std::uint16_t id) const noexcept;
  /// The same types, names and layouts.
  bool operator==(const Layouts& other) const { return types_ == other.types_; }

  /// The binary form a ring carries (docs/design.md, "The ring format"): per type its name
  /// and per field its name, type code and N; offsets are derived again when read.
  std::string encode() const;
  /// Reads the binary form back, checking it as untrusted input: every length against the
  /// bytes given, counts against their limits, names (plain identifiers, unique), type
  /// codes, N and record sizes. Throws Error(corrupt) naming `origin` and what is wrong.
  static Layouts decode(std::span<const std::byte> bytes, std::string_view origin);

 private:
  std::vector<RecordType> types_;
};

/// Validates a record's bytes against its type: the fixed part present (and nothing more
/// for a fixed-size type), BOOL bytes 0 or 1, every TEXT/BLOB (offset, length) inside the
/// tail. Returns an empty string when valid, else the reason.
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
/// What differs between two sets of layouts, type by type: a type only one side has, a
/// type under another id, a layout (layout_difference). Empty when they are equal.
std::string layouts_difference(const Layouts& a, std::string_view a_name, const Layouts& b,
                               std::string_view b_name);

}  // namespace ringlite

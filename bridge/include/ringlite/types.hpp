// ringlite: the one type table (docs/design.md, "Record layouts and the type table"). For
// every type a record field may be declared with: its size and alignment in the record, its
// SQL storage class, the C++ type a generated header gives it, and how a value is decoded
// from the record's bytes and encoded into them. The schema parser, the ring's layouts, the
// store, live SQL, replay, `produce`, `tail` and the header generator all take these facts
// from here, so a new type is a row below, its two cases in decode_field()/encode_field(),
// and its row in the test that walks the table.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace ringlite {

/// The declared types. The values are stored in a ring's binary layouts: never renumber.
enum class FieldType : std::uint8_t {
  int8,
  int16,
  int32,
  int64,
  uint8,
  uint16,
  uint32,
  uint64,
  float32,
  float64,
  boolean,
  chars,  ///< CHAR(N): fixed N bytes, TEXT up to the first NUL
  bytes,  ///< BYTES(N): fixed N bytes, BLOB
  text,   ///< TEXT: u32 offset + u32 length into the record's tail
  blob,   ///< BLOB: u32 offset + u32 length into the record's tail
};

/// How a field's value is stored in SQLite (the column's declared type in the database).
enum class StorageClass : std::uint8_t { integer, real, text, blob };

/// One row of the type table.
struct TypeInfo {
  FieldType type;
  std::string_view name;  ///< as a schema declares it; CHAR and BYTES take "(N)"
  std::uint32_t size;     ///< bytes in the record's fixed part; 0: N bytes
  std::uint32_t align;    ///< C alignment
  StorageClass storage;
  std::string_view cpp;  ///< the member's type in a generated header (an array of N for N-sized)
};

// clang-format off
inline constexpr std::array<TypeInfo, 15> kTypeTable = {{
    {FieldType::int8,    "INT8",    1, 1, StorageClass::integer, "::std::int8_t"},
    {FieldType::int16,   "INT16",   2, 2, StorageClass::integer, "::std::int16_t"},
    {FieldType::int32,   "INT32",   4, 4, StorageClass::integer, "::std::int32_t"},
    {FieldType::int64,   "INT64",   8, 8, StorageClass::integer, "::std::int64_t"},
    {FieldType::uint8,   "UINT8",   1, 1, StorageClass::integer, "::std::uint8_t"},
    {FieldType::uint16,  "UINT16",  2, 2, StorageClass::integer, "::std::uint16_t"},
    {FieldType::uint32,  "UINT32",  4, 4, StorageClass::integer, "::std::uint32_t"},
    // Stored as its two's-complement bits: SQLite integers are signed 64-bit.
    {FieldType::uint64,  "UINT64",  8, 8, StorageClass::integer, "::std::uint64_t"},
    {FieldType::float32, "FLOAT32", 4, 4, StorageClass::real,    "float"},
    {FieldType::float64, "FLOAT64", 8, 8, StorageClass::real,    "double"},
    {FieldType::boolean, "BOOL",    1, 1, StorageClass::integer, "bool"},
    {FieldType::chars,   "CHAR",    0, 1, StorageClass::text,    "char"},
    {FieldType::bytes,   "BYTES",   0, 1, StorageClass::blob,    "unsigned char"},
    // Fully qualified: a record type named `std` must not hijack the lookup.
    {FieldType::text,    "TEXT",    8, 4, StorageClass::text,    "::ringlite_types::ringlite_var"},
    {FieldType::blob,    "BLOB",    8, 4, StorageClass::blob,    "::ringlite_types::ringlite_var"},
}};
// clang-format on

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < kTypeTable.size(); ++i) {
    if (static_cast<std::size_t>(kTypeTable[i].type) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "kTypeTable is indexed by FieldType");

/// The row of a type (a FieldType read from untrusted bytes must be checked first).
constexpr const TypeInfo& type_info(FieldType t) noexcept {
  return kTypeTable[static_cast<std::size_t>(t)];
}
/// True for the codes FieldType has (for bytes read from a ring).
constexpr bool is_field_type(std::uint8_t code) noexcept { return code < kTypeTable.size(); }
/// CHAR(N) and BYTES(N): sized by their declaration.
constexpr bool is_sized(FieldType t) noexcept { return type_info(t).size == 0; }
/// TEXT and BLOB: their data lives in the record's variable tail.
constexpr bool is_variable(FieldType t) noexcept {
  return t == FieldType::text || t == FieldType::blob;
}
/// "INT32", "CHAR" (without "(N)").
constexpr std::string_view type_name(FieldType t) noexcept { return type_info(t).name; }
/// "INTEGER", "REAL", "TEXT" or "BLOB".
constexpr std::string_view storage_name(StorageClass s) noexcept {
  return s == StorageClass::integer ? "INTEGER"
         : s == StorageClass::real  ? "REAL"
         : s == StorageClass::text  ? "TEXT"
                                    : "BLOB";
}
/// The SQL column type a field of this type gets in its table.
constexpr std::string_view sql_type(FieldType t) noexcept {
  return storage_name(type_info(t).storage);
}
/// The row whose name is `name`, in any case ("int32", "Char"); nullptr when none is.
const TypeInfo* find_type(std::string_view name) noexcept;

/// The largest N of CHAR(N) and BYTES(N).
inline constexpr std::uint32_t kMaxSizedLength = 65535;

namespace detail {
template <typename T>
T load_le(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void store_le(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}
}  // namespace detail

/// Decodes one field of a record: calls exactly one of sink.integer(int64_t),
/// sink.real(double), sink.text(string_view) or sink.blob(span<const byte>) with the field's
/// SQL value, and returns what it returns. `record` is the whole payload and must have
/// passed check_record() (layout.hpp) for the field's type, so TEXT/BLOB tails are in range.
/// `length` is N for CHAR(N)/BYTES(N).
template <class Sink>
decltype(auto) decode_field(FieldType type, std::uint32_t offset, std::uint32_t length,
                            const std::byte* record, Sink&& sink) {
  using detail::load_le;
  const std::byte* p = record + offset;
  switch (type) {
    case FieldType::int8:
      return sink.integer(load_le<std::int8_t>(p));
    case FieldType::int16:
      return sink.integer(load_le<std::int16_t>(p));
    case FieldType::int32:
      return sink.integer(load_le<std::int32_t>(p));
    case FieldType::int64:
      return sink.integer(load_le<std::int64_t>(p));
    case FieldType::uint8:
      return sink.integer(load_le<std::uint8_t>(p));
    case FieldType::uint16:
      return sink.integer(load_le<std::uint16_t>(p));
    case FieldType::uint32:
      return sink.integer(load_le<std::uint32_t>(p));
    case FieldType::uint64:
      return sink.integer(std::bit_cast<std::int64_t>(load_le<std::uint64_t>(p)));
    case FieldType::float32:
      return sink.real(load_le<float>(p));
    case FieldType::float64:
      return sink.real(load_le<double>(p));
    case FieldType::boolean:
      return sink.integer(std::to_integer<int>(*p) != 0 ? 1 : 0);
    case FieldType::chars: {
      const auto* s = reinterpret_cast<const char*>(p);
      return sink.text(std::string_view(s, strnlen(s, length)));
    }
    case FieldType::bytes:
      return sink.blob(std::span<const std::byte>(p, length));
    case FieldType::text:
    case FieldType::blob: {
      const auto off = load_le<std::uint32_t>(p);
      const auto len = load_le<std::uint32_t>(p + 4);
      if (type == FieldType::text)
        return sink.text(std::string_view(reinterpret_cast<const char*>(record + off), len));
      return sink.blob(std::span<const std::byte>(record + off, len));
    }
  }
  return sink.integer(0);  // unreachable for a valid FieldType
}

/// A value to encode, in the member its type's storage class reads: `integer` for INTEGER
/// types, `real` for REAL, `bytes` for TEXT and BLOB.
struct FieldValue {
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;
};

/// Encodes `v` as one field of a record: into `fixed` (the record's fixed part, at
/// `offset`), or, for TEXT/BLOB, appended to `tails` (a record's tails in column order; the
/// producer fills the offset/length words when it assembles the record). Integers are
/// truncated to the field's width (UINT64 from its int64 bits), FLOAT32 is narrowed from
/// the double, BOOL is 1 for any non-zero integer, CHAR(N)/BYTES(N) take up to N bytes and
/// are zero-padded. So decode_field() then encode_field() gives the record back byte for
/// byte, but for NaN (SQLite keeps it as NULL), -0.0, padding and CHAR(N) bytes after a NUL.
inline void encode_field(FieldType type, std::uint32_t offset, std::uint32_t length,
                         const FieldValue& v, std::span<std::byte> fixed,
                         std::vector<std::string_view>& tails) {
  using detail::store_le;
  std::byte* p = fixed.data() + offset;
  switch (type) {
    case FieldType::int8:
      return store_le(p, static_cast<std::int8_t>(v.integer));
    case FieldType::int16:
      return store_le(p, static_cast<std::int16_t>(v.integer));
    case FieldType::int32:
      return store_le(p, static_cast<std::int32_t>(v.integer));
    case FieldType::int64:
      return store_le(p, v.integer);
    case FieldType::uint8:
      return store_le(p, static_cast<std::uint8_t>(v.integer));
    case FieldType::uint16:
      return store_le(p, static_cast<std::uint16_t>(v.integer));
    case FieldType::uint32:
      return store_le(p, static_cast<std::uint32_t>(v.integer));
    case FieldType::uint64:
      return store_le(p, std::bit_cast<std::uint64_t>(v.integer));
    case FieldType::float32:
      return store_le(p, static_cast<float>(v.real));
    case FieldType::float64:
      return store_le(p, v.real);
    case FieldType::boolean:
      return store_le(p, static_cast<std::uint8_t>(v.integer != 0 ? 1 : 0));
    case FieldType::chars:
    case FieldType::bytes: {
      const std::size_t n = v.bytes.size() < length ? v.bytes.size() : length;
      if (n != 0) std::memcpy(p, v.bytes.data(), n);  // an empty view may be null
      std::memset(p + n, 0, length - n);
      return;
    }
    case FieldType::text:
    case FieldType::blob:
      tails.push_back(v.bytes);
      return;
  }
}

}  // namespace ringlite

// ringlite: record layouts (layout.hpp): the one layout rule, the binary form rings carry,
// record checks and the messages that say how two layouts differ.
#include "ringlite/layout.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "ringlite/error.hpp"

namespace ringlite {
namespace {

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return upper(x) == upper(y); });
}

/// [A-Za-z_][A-Za-z0-9_]*, 1..kMaxNameLength: what every type and field name is.
bool is_plain_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength || is_digit(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (upper(c) >= 'A' && upper(c) <= 'Z') || c == '_';
  });
}

// ---- the binary form (docs/design.md, "The ring format") ----
//
//   u32 magic "RLTY", u16 version 1, u16 type count, then per type:
//     u8 name length, u8 0, u16 field count, the name; then per field:
//       u8 type code, u8 name length, u16 0, u32 N (CHAR/BYTES) or 0, the name.
// All little-endian, no padding. Offsets, sizes and alignments are not stored: every reader
// derives them with RecordType::make, so no ring can describe an inconsistent layout.
constexpr std::uint32_t kMagic = 0x59544C52;  // "RLTY"
constexpr std::uint16_t kVersion = 1;

void put8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
void put16(std::string& out, std::uint16_t v) {
  put8(out, static_cast<std::uint8_t>(v));
  put8(out, static_cast<std::uint8_t>(v >> 8));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v));
  put16(out, static_cast<std::uint16_t>(v >> 16));
}

/// Reads the binary form; every read is checked against what is left.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, std::string_view origin)
      : bytes_(bytes), origin_(origin) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(Errc::corrupt, fmt::format("cannot read the record layouts of {}: {} (at byte {})",
                                           origin_, what, at_));
  }
  std::uint64_t take(std::size_t n) {
    if (bytes_.size() - at_ < n)
      fail(fmt::format("{} bytes needed, {} left", n, bytes_.size() - at_));
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v |= std::uint64_t{std::to_integer<std::uint8_t>(bytes_[at_ + i])} << (8 * i);
    at_ += n;
    return v;
  }
  std::string name(std::size_t n, std::string_view what) {
    if (bytes_.size() - at_ < n)
      fail(fmt::format("{} name of {} bytes, {} left", what, n, bytes_.size() - at_));
    std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), n);
    at_ += n;
    if (!is_plain_name(s))
      fail(fmt::format("{} name is not a plain identifier of at most {} characters", what,
                       kMaxNameLength));
    return s;
  }
  bool done() const noexcept { return at_ == bytes_.size(); }

 private:
  std::span<const std::byte> bytes_;
  std::string_view origin_;
  std::size_t at_ = 0;
};

// ---- layout signatures read back, for layout_difference() ----

struct SignatureField {
  std::string name;
  std::string type;
  std::uint32_t offset = 0;
};
struct Signature {
  std::string name;
  std::vector<SignatureField> fields;
  std::uint32_t size = 0;
  std::uint32_t align = 0;

  const SignatureField* field(std::string_view field_name) const noexcept {
    for (const auto& f : fields) {
      if (f.name == field_name) return &f;
    }
    return nullptr;
  }
};

bool read_number(std::string_view text, std::uint32_t& out) {
  if (text.empty() || text.size() > 9) return false;
  out = 0;
  for (char c : text) {
    if (!is_digit(c)) return false;
    out = out * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return true;
}

// "name{f:TYPE@offset,...}size=N,align=M"
std::optional<Signature> parse_signature(std::string_view text) {
  Signature sig;
  const auto open = text.find('{');
  const auto close = text.rfind('}');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  sig.name = std::string(text.substr(0, open));
  std::string_view body = text.substr(open + 1, close - open - 1);
  while (!body.empty()) {
    const auto comma = body.find(',');
    const std::string_view item = body.substr(0, comma);
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
    const auto colon = item.find(':');
    const auto at = item.rfind('@');
    SignatureField f;
    if (colon == std::string_view::npos || at == std::string_view::npos || at < colon ||
        !read_number(item.substr(at + 1), f.offset)) {
      return std::nullopt;
    }
    f.name = std::string(item.substr(0, colon));
    f.type = std::string(item.substr(colon + 1, at - colon - 1));
    sig.fields.push_back(std::move(f));
  }
  const std::string_view tail = text.substr(close + 1);
  const auto comma = tail.find(",align=");
  if (tail.substr(0, 5) != "size=" || comma == std::string_view::npos ||
      !read_number(tail.substr(5, comma - 5), sig.size) ||
      !read_number(tail.substr(comma + 7), sig.align)) {
    return std::nullopt;
  }
  return sig;
}

std::string join_differences(const std::vector<std::string>& parts) {
  std::string r;
  for (const auto& p : parts) r += (r.empty() ? "" : "; ") + p;
  return r;
}

}  // namespace

const TypeInfo* find_type(std::string_view name) noexcept {
  for (const auto& info : kTypeTable) {
    if (iequals(info.name, name)) return &info;
  }
  return nullptr;
}

std::string Field::declared() const {
  if (is_sized(type)) return fmt::format("{}({})", type_name(type), length);
  return std::string(type_name(type));
}

RecordType RecordType::make(std::uint16_t id, std::string name, std::vector<Field> fields) {
  RecordType t;
  t.id = id;
  t.name = std::move(name);
  std::uint64_t offset = 0;
  for (Field& f : fields) {
    const TypeInfo& info = type_info(f.type);
    const auto where = fmt::format("table '{}' column '{}': ", t.name, f.name);
    if (is_sized(f.type)) {
      if (f.length < 1 || f.length > kMaxSizedLength) {
        throw Error(Errc::schema, fmt::format("{}type '{}': length {} is out of range 1..{}", where,
                                              info.name, f.length, kMaxSizedLength));
      }
      f.size = f.length;
    } else {
      f.length = 0;
      f.size = info.size;
    }
    f.align = info.align;
    offset = (offset + f.align - 1) / f.align * f.align;
    f.offset = static_cast<std::uint32_t>(offset);
    offset += f.size;
    t.align = std::max(t.align, f.align);
    if (offset > kMaxRecordSize) {
      throw Error(Errc::schema, fmt::format("{}record size {} exceeds the limit of {} bytes", where,
                                            offset, kMaxRecordSize));
    }
  }
  if (fields.empty()) throw Error(Errc::schema, fmt::format("table '{}': no columns", t.name));
  const std::uint64_t size = (offset + t.align - 1) / t.align * t.align;
  if (size > kMaxRecordSize) {
    throw Error(Errc::schema,
                fmt::format("table '{}': record size {} exceeds the limit of {} bytes", t.name,
                            size, kMaxRecordSize));
  }
  t.size = static_cast<std::uint32_t>(size);
  t.fields = std::move(fields);
  return t;
}

bool RecordType::variable() const noexcept {
  return std::any_of(fields.begin(), fields.end(),
                     [](const Field& f) { return is_variable(f.type); });
}

const Field* RecordType::field(std::string_view field_name) const noexcept {
  for (const auto& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

std::string RecordType::ddl() const {
  std::string r = fmt::format("CREATE TABLE {} (", name);
  for (std::size_t i = 0; i < fields.size(); ++i)
    r += fmt::format("{}{} {}", i ? ", " : "", fields[i].name, fields[i].declared());
  return r + ")";
}

std::string RecordType::layout_signature() const {
  std::string r = name + "{";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    r += fmt::format("{}{}:{}@{}", i ? "," : "", fields[i].name, fields[i].declared(),
                     fields[i].offset);
  }
  return r + fmt::format("}}size={},align={}", size, align);
}

bool RecordType::operator==(const RecordType& o) const {
  return id == o.id && name == o.name && layout_signature() == o.layout_signature();
}

Layouts::Layouts(std::vector<RecordType> types) : types_(std::move(types)) {
  if (types_.size() > kMaxRecordTypes) {
    throw Error(Errc::schema,
                fmt::format("{} record types (at most {})", types_.size(), kMaxRecordTypes));
  }
  std::unordered_set<std::string_view> names;
  for (std::size_t i = 0; i < types_.size(); ++i) {
    if (types_[i].id != i + 1) {
      throw Error(Errc::schema, fmt::format("record type '{}' has id {}, not {}", types_[i].name,
                                            types_[i].id, i + 1));
    }
    if (!names.insert(types_[i].name).second) {
      throw Error(Errc::schema, fmt::format("record type '{}' is declared twice", types_[i].name));
    }
  }
}

const RecordType* Layouts::find(std::string_view name) const noexcept {
  for (const auto& t : types_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const RecordType* Layouts::find(std::uint16_t id) const noexcept {
  if (id == 0 || id > types_.size()) return nullptr;
  return &types_[id - 1];
}

std::string Layouts::encode() const {
  std::string out;
  put32(out, kMagic);
  put16(out, kVersion);
  put16(out, static_cast<std::uint16_t>(types_.size()));
  for (const RecordType& t : types_) {
    put8(out, static_cast<std::uint8_t>(t.name.size()));
    put8(out, 0);
    put16(out, static_cast<std::uint16_t>(t.fields.size()));
    out += t.name;
    for (const Field& f : t.fields) {
      put8(out, static_cast<std::uint8_t>(f.type));
      put8(out, static_cast<std::uint8_t>(f.name.size()));
      put16(out, 0);
      put32(out, f.length);
      out += f.name;
    }
  }
  return out;
}

Layouts Layouts::decode(std::span<const std::byte> bytes, std::string_view origin) {
  Reader in(bytes, origin);
  if (in.take(4) != kMagic) in.fail("no layouts magic");
  if (const auto v = in.take(2); v != kVersion)
    in.fail(fmt::format("layouts version {}, this build reads {}", v, kVersion));
  const auto count = in.take(2);
  if (count == 0 || count > kMaxRecordTypes)
    in.fail(fmt::format("{} record types (1 to {})", count, kMaxRecordTypes));
  std::vector<RecordType> types;
  types.reserve(count);
  std::unordered_set<std::string> type_names;
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto name_len = in.take(1);
    if (in.take(1) != 0) in.fail("a reserved byte is not 0");
    const auto field_count = in.take(2);
    if (field_count == 0) in.fail("a record type without fields");
    std::string name = in.name(name_len, "a type");
    if (!type_names.insert(name).second) in.fail(fmt::format("type '{}' is declared twice", name));
    std::vector<Field> fields;
    std::unordered_set<std::string> field_names;
    for (std::uint64_t k = 0; k < field_count; ++k) {
      const auto code = static_cast<std::uint8_t>(in.take(1));
      const auto field_name_len = in.take(1);
      if (in.take(2) != 0) in.fail("a reserved field is not 0");
      const auto length = static_cast<std::uint32_t>(in.take(4));
      if (!is_field_type(code))
        in.fail(fmt::format("type '{}' has a field of unknown type code {}", name, code));
      Field f;
      f.type = static_cast<FieldType>(code);
      f.length = length;
      if (!is_sized(f.type) && length != 0)
        in.fail(fmt::format("type '{}' has a {} field with a length", name, type_name(f.type)));
      f.name = in.name(field_name_len, "a field");
      if (!field_names.insert(f.name).second)
        in.fail(fmt::format("type '{}' has field '{}' twice", name, f.name));
      fields.push_back(std::move(f));
    }
    try {
      types.push_back(
          RecordType::make(static_cast<std::uint16_t>(i + 1), std::move(name), std::move(fields)));
    } catch (const Error& e) {
      in.fail(e.what());
    }
  }
  if (!in.done()) in.fail("bytes after the last record type");
  return Layouts(std::move(types));
}

std::string check_record(const RecordType& type, std::span<const std::byte> payload) {
  const std::uint64_t size = payload.size();
  if (size < type.size) {
    return fmt::format("record is {} bytes, shorter than the {}-byte fixed part of '{}'", size,
                       type.size, type.name);
  }
  if (!type.variable() && size != type.size) {
    return fmt::format("record is {} bytes, type '{}' is exactly {}", size, type.name, type.size);
  }
  for (const auto& f : type.fields) {
    // Offsets come from the layout rule, but a RecordType is a plain struct: check anyway.
    if (std::uint64_t{f.offset} + f.size > size) {
      return fmt::format("column '{}': field at {} extends past the record's {} bytes", f.name,
                         f.offset, size);
    }
    if (f.type == FieldType::boolean) {
      const auto v = std::to_integer<unsigned>(payload[f.offset]);
      if (v > 1) return fmt::format("column '{}': BOOL value {} is not 0 or 1", f.name, v);
    } else if (is_variable(f.type)) {
      const auto off = detail::load_le<std::uint32_t>(payload.data() + f.offset);
      const auto len = detail::load_le<std::uint32_t>(payload.data() + f.offset + 4);
      if (off < type.size) {
        return fmt::format("column '{}': tail offset {} is inside the {}-byte fixed part", f.name,
                           off, type.size);
      }
      if (std::uint64_t{off} + len > size) {
        return fmt::format("column '{}': tail offset {} + length {} exceeds record size {}", f.name,
                           off, len, size);
      }
    }
  }
  return {};
}

std::string layout_difference(std::string_view a, std::string_view a_name, std::string_view b,
                              std::string_view b_name) {
  if (a == b) return {};
  const auto both = fmt::format(" ({} has {}, {} has {})", a_name, a, b_name, b);
  const auto pa = parse_signature(a);
  const auto pb = parse_signature(b);
  if (!pa || !pb) return "the layouts differ" + both;
  std::vector<std::string> out;
  if (pa->name != pb->name) {
    out.push_back(
        fmt::format("the type is '{}' in {} but '{}' in {}", pa->name, a_name, pb->name, b_name));
  }
  const auto only_in = [&](const SignatureField& f, std::string_view in, std::string_view not_in) {
    out.push_back(fmt::format("column '{}' ({} at offset {}) is in {} but not in {}", f.name,
                              f.type, f.offset, in, not_in));
  };
  for (const auto& f : pa->fields) {
    const SignatureField* g = pb->field(f.name);
    if (!g) {
      only_in(f, a_name, b_name);
    } else if (g->type != f.type) {
      out.push_back(fmt::format("column '{}' is {} at offset {} in {} but {} at offset {} in {}",
                                f.name, f.type, f.offset, a_name, g->type, g->offset, b_name));
    }
  }
  for (const auto& g : pb->fields) {
    if (!pa->field(g.name)) only_in(g, b_name, a_name);
  }
  if (out.empty()) {
    // Same columns of the same types: they were reordered. Later offsets only follow the
    // first move, so name that one.
    for (const auto& f : pa->fields) {
      const SignatureField* g = pb->field(f.name);
      if (g->offset != f.offset) {
        out.push_back(fmt::format("column '{}' is at offset {} in {} but at offset {} in {}",
                                  f.name, f.offset, a_name, g->offset, b_name));
        break;
      }
    }
  }
  if (out.empty()) {
    out.push_back(
        fmt::format("the record is {} bytes aligned {} in {} but {} bytes aligned {} in {}",
                    pa->size, pa->align, a_name, pb->size, pb->align, b_name));
  }
  return join_differences(out) + both;
}

std::string layout_difference(const RecordType& a, std::string_view a_name, const RecordType& b,
                              std::string_view b_name) {
  return layout_difference(a.layout_signature(), a_name, b.layout_signature(), b_name);
}

std::string layouts_difference(const Layouts& a, std::string_view a_name, const Layouts& b,
                               std::string_view b_name) {
  std::vector<std::string> out;
  for (const RecordType& t : a.types()) {
    const RecordType* u = b.find(std::string_view(t.name));
    if (!u) {
      out.push_back(fmt::format("type '{}' is in {} but not in {}", t.name, a_name, b_name));
    } else if (u->id != t.id) {
      out.push_back(fmt::format("type '{}' has id {} in {} but {} in {}", t.name, t.id, a_name,
                                u->id, b_name));
    } else if (auto d = layout_difference(t, a_name, *u, b_name); !d.empty()) {
      out.push_back(fmt::format("type '{}': {}", t.name, d));
    }
  }
  for (const RecordType& u : b.types()) {
    if (!a.find(std::string_view(u.name))) {
      out.push_back(fmt::format("type '{}' is in {} but not in {}", u.name, b_name, a_name));
    }
  }
  return join_differences(out);
}

}  // namespace ringlite

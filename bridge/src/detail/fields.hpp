// Decoding one field of a record by its layout: the single place that knows how each
// declared type maps to a SQL value (DESIGN.md's type table). The store binds with it,
// the live virtual tables return results with it, `tail` prints with it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "ringlite/schema.hpp"

namespace ringlite::detail {

template <typename T>
T load_le(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Calls exactly one of sink.integer(int64_t), sink.real(double), sink.text(string_view)
/// or sink.blob(span<const byte>) with the SQL value of field `f`. `payload` must have
/// passed check_record() for the field's type (TEXT/BLOB tails are in range).
template <class Sink>
decltype(auto) visit_field(FieldType type, std::uint32_t offset, std::uint32_t length, const std::byte* payload,
                           Sink&& sink) {
  const std::byte* p = payload + offset;
  switch (type) {
    case FieldType::int8: return sink.integer(load_le<std::int8_t>(p));
    case FieldType::int16: return sink.integer(load_le<std::int16_t>(p));
    case FieldType::int32: return sink.integer(load_le<std::int32_t>(p));
    case FieldType::int64: return sink.integer(load_le<std::int64_t>(p));
    case FieldType::uint8: return sink.integer(load_le<std::uint8_t>(p));
    case FieldType::uint16: return sink.integer(load_le<std::uint16_t>(p));
    case FieldType::uint32: return sink.integer(load_le<std::uint32_t>(p));
    case FieldType::uint64:  // stored as its two's-complement bits
      return sink.integer(std::bit_cast<std::int64_t>(load_le<std::uint64_t>(p)));
    case FieldType::float32: return sink.real(load_le<float>(p));
    case FieldType::float64: return sink.real(load_le<double>(p));
    case FieldType::boolean: return sink.integer(std::to_integer<int>(*p) != 0 ? 1 : 0);
    case FieldType::chars: {
      const auto* s = reinterpret_cast<const char*>(p);
      return sink.text(std::string_view(s, strnlen(s, length)));
    }
    case FieldType::bytes: return sink.blob(std::span<const std::byte>(p, length));
    case FieldType::text:
    case FieldType::blob: {
      const auto off = load_le<std::uint32_t>(p);
      const auto len = load_le<std::uint32_t>(p + 4);
      if (type == FieldType::text) return sink.text(std::string_view(reinterpret_cast<const char*>(payload + off), len));
      return sink.blob(std::span<const std::byte>(payload + off, len));
    }
  }
  return sink.integer(0);  // unreachable for a valid FieldType
}

template <class Sink>
decltype(auto) visit_field(const Field& f, const std::byte* payload, Sink&& sink) {
  return visit_field(f.type, f.offset, f.length, payload, static_cast<Sink&&>(sink));
}

}  // namespace ringlite::detail

// ringlite: the bounds a virtual table takes from the constraints SQLite hands it (live_sql.cpp's
// live.<type> tables, recording_vtab.cpp's tables over segments): the one place that maps
// SQLite's comparison ops and narrows an int64 range by a value of any type.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace ringlite::detail {

/// SQLite's constraint op as one plan character: '=', '>', 'G' (>=), '<', 'L' (<=); 0 for
/// the ops a range cannot use (LIKE, IS, !=, ...).
inline char range_op(unsigned char op) noexcept {
  switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
      return '=';
    case SQLITE_INDEX_CONSTRAINT_GT:
      return '>';
    case SQLITE_INDEX_CONSTRAINT_GE:
      return 'G';
    case SQLITE_INDEX_CONSTRAINT_LT:
      return '<';
    case SQLITE_INDEX_CONSTRAINT_LE:
      return 'L';
    default:
      return 0;
  }
}

/// An inclusive range of int64 values, narrowed by each pushed-down constraint, only ever to
/// a superset of the values that meet it: SQLite checks every constraint again (omit is never
/// set), so a REAL rounds outward and a TEXT or BLOB bounds nothing.
struct IntRange {
  static constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  static constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t lo = kMin, hi = kMax;

  bool empty() const noexcept { return lo > hi; }
  void at_least(std::int64_t v) noexcept { lo = std::max(lo, v); }
  void at_most(std::int64_t v) noexcept { hi = std::min(hi, v); }
  void nothing() noexcept { lo = kMax, hi = kMin; }

  /// Narrows by `value op v` (op from range_op()).
  void apply(char op, sqlite3_value* v) noexcept {
    switch (sqlite3_value_numeric_type(v)) {
      case SQLITE_INTEGER:
        apply_int(op, sqlite3_value_int64(v));
        break;
      case SQLITE_FLOAT:
        apply_real(op, sqlite3_value_double(v));
        break;
      case SQLITE_NULL:
        nothing();  // a comparison with NULL is never true
        break;
      default:
        break;
    }
  }
  void apply_int(char op, std::int64_t v) noexcept {
    switch (op) {
      case '=':
        at_least(v), at_most(v);
        break;
      case '>':
        v == kMax ? nothing() : at_least(v + 1);
        break;
      case 'G':
        at_least(v);
        break;
      case '<':
        v == kMin ? nothing() : at_most(v - 1);
        break;
      case 'L':
        at_most(v);
        break;
      default:
        break;
    }
  }
  void apply_real(char op, double d) noexcept {
    if (std::isnan(d)) return nothing();
    // [-2^63, 2^63) holds exactly the integral doubles that convert to int64; a bound
    // outside it excludes every integer or none. Nothing out of range is ever converted.
    constexpr double kTwo63 = 9223372036854775808.0;
    const auto lower = [&](double l) {  // l is integral
      if (l >= kTwo63) return nothing();
      if (l >= -kTwo63) at_least(static_cast<std::int64_t>(l));
    };
    const auto upper = [&](double h) {  // h is integral
      if (h < -kTwo63) return nothing();
      if (h < kTwo63) at_most(static_cast<std::int64_t>(h));
    };
    switch (op) {
      case '=':
        lower(std::ceil(d)), upper(std::floor(d));
        break;
      case '>':
        lower(std::floor(d) + 1);
        break;
      case 'G':
        lower(std::ceil(d));
        break;
      case '<':
        upper(std::ceil(d) - 1);
        break;
      case 'L':
        upper(std::floor(d));
        break;
      default:
        break;
    }
  }
};

}  // namespace ringlite::detail

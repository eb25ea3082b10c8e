// Values of command-line options (see options.hpp for the rules).
#include "options.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <string_view>

#include "output.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::cli {
namespace {

[[noreturn]] void refuse(const std::string& option, std::string_view value, std::string_view why) {
  throw Error(Errc::usage, fmt::format("cannot use {} '{}': {}", option, one_line(value), why));
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

/// Decimal, with an optional sign, fraction and exponent: 2, -0.5, .5, 1e3, 2.5E-2.
bool is_decimal(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  std::size_t n = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    n += digits();
  }
  if (n == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

enum class Kind { text, whole, signed_whole, real };

/// CLI11's name for the option's value type ("UINT", "INT", "FLOAT", "TEXT", ...) picks the
/// syntax rule, so options of files that never call the helpers below get it too.
Kind kind_of(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const std::string_view base = std::string_view(type).substr(0, type.find(':'));
  if (base == "UINT") return Kind::whole;
  if (base == "INT") return Kind::signed_whole;
  if (base == "FLOAT") return Kind::real;
  return Kind::text;
}

/// The rules every value obeys. May rewrite the value: leading zeros go, since CLI11 would
/// otherwise read "010" as octal 8.
void check_value(const std::string& name, bool required, Kind kind, std::string& value) {
  if (value.empty()) {
    refuse(name, value,
           required ? "the value is empty"
                    : "the value is empty (leave the option out for the default)");
  }
  switch (kind) {
    case Kind::text:
      return;
    case Kind::whole:
    case Kind::signed_whole: {
      const bool minus = kind == Kind::signed_whole && value.front() == '-';
      if (!all_digits(std::string_view(value).substr(minus ? 1 : 0)))
        refuse(name, value, "expected a whole number in decimal digits, such as 10");
      const std::size_t first = value.find_first_not_of('0', minus ? 1 : 0);
      const std::size_t from = minus ? 1 : 0;
      value.erase(from, (first == std::string::npos ? value.size() - 1 : first) - from);
      return;
    }
    case Kind::real: {
      double v = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (!is_decimal(value) || ec != std::errc{} || end != value.data() + value.size() ||
          !std::isfinite(v)) {
        refuse(name, value, "expected a decimal number, such as 0.5 or 2");
      }
      return;
    }
  }
}

/// Adds a check that runs after the common rules.
CLI::Option* add_check(CLI::Option* option,
                       std::function<void(const std::string&, const std::string&)> check) {
  return option->check(CLI::Validator(
      [name = option->get_name(), check = std::move(check)](std::string& value) {
        check(name, value);
        return std::string();
      },
      ""));
}

}  // namespace

void check_values(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (!option->nonpositional() || option->get_type_size_max() <= 0) continue;  // flags
    // transform(), unlike check(), puts the validator first: an empty value must not reach
    // CLI11's own checks, whose messages read differently.
    option->transform(CLI::Validator(
        [name = option->get_name(), required = option->get_required(),
         kind = kind_of(*option)](std::string& value) {
          check_value(name, required, kind, value);
          return std::string();
        },
        ""));
  }
  for (CLI::App* sub : app.get_subcommands(nullptr)) check_values(*sub);
}

CLI::Option* whole_number(CLI::Option* option, std::uint64_t min, std::uint64_t max) {
  return add_check(option, [min, max](const std::string& name, const std::string& value) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (!all_digits(value) || ec != std::errc{} || end != value.data() + value.size() || v < min ||
        v > max) {
      refuse(name, value, fmt::format("expected a whole number from {} to {}", min, max));
    }
  });
}

CLI::Option* real_number(CLI::Option* option, double min, double max) {
  return add_check(option, [min, max](const std::string& name, const std::string& value) {
    double v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size() || !(v >= min && v <= max))
      refuse(name, value, fmt::format("expected a number from {} to {}", min, max));
  });
}

CLI::Option* one_of(CLI::Option* option, std::vector<std::string> choices) {
  return add_check(
      option, [choices = std::move(choices)](const std::string& name, const std::string& value) {
        for (const auto& c : choices) {
          if (value == c) return;
        }
        refuse(name, value, fmt::format("expected one of {}", fmt::join(choices, ", ")));
      });
}

CLI::Option* ring_name(CLI::Option* option) {
  return add_check(option, [](const std::string& name, const std::string& value) {
    if (const auto why = Ring::name_problem(value); !why.empty()) {
      refuse(name, value, fmt::format("a ring name must be {}", why));
    }
  });
}

}  // namespace ringlite::cli

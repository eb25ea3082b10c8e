// Values of command-line options: what every option of every subcommand accepts, checked
// while CLI11 parses, so that a bad value is a usage error (exit 2) before anything runs.
//
// The defect these rules exist for: an empty or malformed value silently read as "not
// given" (`replay --ring ''` replaying into the config's ring) or as a default
// (`tail --last ''` printing nothing, `--count 010` being 8, `--rate nan` meaning "as fast
// as possible"). So:
//   - no option takes an empty value;
//   - a whole number is decimal digits (no sign unless negative values make sense, no
//     0x/0o/0b prefix, leading zeros read as decimal);
//   - a real number is decimal, finite: 2, 0.5, 1e3 (no nan, inf or hex);
//   - some options add a range, a list of choices, or the ring-name rule.
// A failed check throws Error(Errc::usage) naming the option and the value:
// "cannot use --count '0': expected a whole number from 1 to 1099511627776". CLI11 does not
// catch it, so main() reports it like any other error.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ringlite::cli {

/// Puts the empty-value and number-syntax rules in front of the checks of every option
/// that takes a value, in `app` and all its subcommands. Call once, after every add_*.
void check_values(CLI::App& app);

/// The option takes a whole number from `min` to `max`.
CLI::Option* whole_number(CLI::Option* option, std::uint64_t min, std::uint64_t max);
/// The option takes a finite real number from `min` to `max`.
CLI::Option* real_number(CLI::Option* option, double min, double max);
/// The option takes one of `choices`.
CLI::Option* one_of(CLI::Option* option, std::vector<std::string> choices);
/// The option takes a shared-memory ring name, under the rule of `ring.name` in the config
/// (which the config parser checks: this asks it).
CLI::Option* ring_name(CLI::Option* option);

}  // namespace ringlite::cli

// Test seams inside hot paths. Each costs one relaxed load of a null pointer when unused.
// Fault tests set them in a child process to stop it at an exact point of the protocol
// (e.g. raise(SIGSTOP) between claim and commit) and then kill or resume it.
#pragma once

#include <atomic>

namespace ringlite::detail {

/// Where a producer's write is when the hook runs.
enum class WriteStage : int {
  claimed = 1,  ///< space claimed and announced, nothing written yet
  written = 2,  ///< header and payload written, commit CAS not yet done
  writing = 3,  ///< the frame was checked not abandoned; its stores come next
};

/// Called (if set) at each WriteStage of every write of this process.
extern std::atomic<void (*)(WriteStage)> g_write_hook;

/// Called (if set) when this process has taken the right to refresh a ring's clock
/// calibration (its gen is odd) and has stored nothing yet: a test kills the process there.
extern std::atomic<void (*)()> g_clock_refresh_hook;

}  // namespace ringlite::detail

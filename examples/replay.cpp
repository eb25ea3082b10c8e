// Replaying history, as a user writes it: everything the bridge persisted into the config's
// database goes back into the config's ring, byte for byte and with the recorded ts_ns, as
// fast as the ring takes it (a bridge on that ring persists it again; any other consumer
// sees the records as they were first written). No schema file is needed: the database
// keeps each type's layout, and replay checks it against the ring's before writing.
//
// `ringlite replay -c CONFIG` does the same from the command line, with --speed, --from,
// --to, --type and --loop.
//
//   usage: example_replay [CONFIG]     (default: examples/demo.toml)
#include "ringlite/replay.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }  // Ctrl-C: stop after the current record
}  // namespace

int main(int argc, char** argv) {
  const char* config_path = argc > 1 ? argv[1] : "examples/demo.toml";
  std::signal(SIGINT, on_signal);
  try {
    const auto config = ringlite::Config::load(config_path);
    auto producer =
        ringlite::Producer::open(config.ring);  // the ring must exist (the bridge makes it)

    ringlite::ReplayOptions options;
    options.max_speed = true;  // or: options.speed = 2.0 for twice the recorded pace
    // options.types = {"sensor"}; options.from_ns = ...; options.loop = true;
    const auto result = ringlite::replay(config.database.path, producer, options, g_stop);

    std::printf("example_replay: replayed %llu records from %s into %s in %.3f s\n",
                static_cast<unsigned long long>(result.records),
                config.database.path.string().c_str(), producer.ring().display().c_str(),
                result.seconds);
    return 0;
  } catch (const ringlite::Error& e) {
    std::fprintf(stderr, "example_replay: %s\n", e.what());
    return e.is_input_error() ? 2 : 1;
  }
}

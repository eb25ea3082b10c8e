// A program built against the installed SQL tier (ringlite::ringlite; the package test,
// run.sh): loads a config and its schema, which links toml++, SQLiteCpp and SQLite from a
// static install, and prints what it found.
//
//   usage: <program> CONFIG
#include <cstdio>
#include <exception>

#include "ringlite/config.hpp"
#include "ringlite/schema.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
    return 2;
  }
  try {
    const auto config = ringlite::Config::load(argv[1]);
    const auto schema = ringlite::Schema::load_file(config.schema_file);
    std::printf("%s: %zu record types\n", config.ring.display().c_str(), schema.types().size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}

// A live reader, as a user writes one. The seed tutorial's clients mapped the server's file
// mapping and read MYSTRUCT straight out of it, racing the writer. Here a reader maps the
// ring read-only: it never slows the producers or the bridge, and every record it returns
// was copied and then checked against concurrent overwrites.
//
// Two ways to read the ring:
//   1. LiveReader: records one by one, decoded here as the generated C++ struct.
//   2. attach_live: the ring as SQL tables live.<type> on any SQLiteCpp connection.
//
//   usage: example_live_reader [CONFIG] [N]     (defaults: examples/demo.toml, 5)
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "demo_records.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/live_sql.hpp"
#include "ringlite/reader.hpp"
#include "ringlite/ring.hpp"

using Sensor = ringlite_types::sensor;

int main(int argc, char** argv) {
  const char* config_path = argc > 1 ? argv[1] : "examples/demo.toml";
  const long n = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 5;
  try {
    const auto config = ringlite::Config::load(config_path);
    // Read-only: this process cannot disturb the ring, whatever it does.
    const auto ring = ringlite::Ring::open(config.ring, ringlite::Ring::Access::read_only);

    // The ring carries its schema: check that our struct is what producers write.
    const ringlite::RecordType* type = ring.layouts().find(Sensor::kRingliteType);
    if (type == nullptr || type->layout_signature() != Sensor::kRingliteLayout) {
      std::fprintf(stderr, "example_live_reader: %s has no record type matching '%s'\n",
                   ring.display().c_str(), Sensor::kRingliteLayout);
      return 2;
    }

    // 1. The newest n sensor records: read from the oldest retained record up to the tail
    // seen now (so the loop ends however fast producers write), keeping the last n.
    ringlite::LiveReader reader(ring);
    const std::uint64_t stop = reader.tail();
    std::deque<ringlite::LiveRecord> newest;
    ringlite::LiveRecord rec;
    while (reader.next(rec) == ringlite::ReadStatus::ok && rec.seq < stop) {
      // Shared memory is untrusted: check type and size before casting bytes to a struct.
      if (rec.type != type->id || rec.payload.size() != sizeof(Sensor)) continue;
      newest.push_back(rec);
      if (static_cast<long>(newest.size()) > n) newest.pop_front();
    }
    std::printf("newest %zu sensor records in %s:\n", newest.size(), ring.display().c_str());
    for (const auto& r : newest) {
      Sensor s;
      std::memcpy(&s, r.payload.data(), sizeof s);  // the payload is exactly the C struct
      std::printf("  seq %llu  a=%d  b=%g  c=%g  buffer='%.*s'\n",
                  static_cast<unsigned long long>(r.seq), s.a, static_cast<double>(s.b), s.c,
                  static_cast<int>(strnlen(s.buffer, sizeof s.buffer)), s.buffer);
    }
    if (reader.laps() > 0) {
      std::printf("  (producers overwrote %llu bytes while we read: those records were skipped)\n",
                  static_cast<unsigned long long>(reader.lost_bytes()));
    }

    // 2. The same ring through SQL: any connection can attach it, here a scratch one.
    SQLite::Database db(":memory:");
    ringlite::attach_live(db, ring);
    SQLite::Statement q(db, "SELECT count(*), max(seq) FROM live.sensor");
    q.executeStep();
    std::printf("live.sensor: %lld rows, newest seq %lld\n",
                static_cast<long long>(q.getColumn(0).getInt64()),
                static_cast<long long>(q.getColumn(1).getInt64()));
    return 0;
  } catch (const ringlite::Error& e) {
    std::fprintf(stderr, "example_live_reader: %s\n", e.what());
    return e.is_input_error() ? 2 : 1;
  } catch (const SQLite::Exception& e) {
    std::fprintf(stderr, "example_live_reader: %s\n", e.what());
    return 1;
  }
}

// ringlite produce: the synthetic load generator (DESIGN.md, "Command line"). Forks P
// producer processes; record k (0-based) of producer i fills integer columns with k
// (wrapped to the column's range), float columns with k * 0.5, BOOL with k % 2, and
// CHAR/TEXT/BYTES/BLOB columns with "p<i>-<k>", so a test can check that every record
// arrived exactly once.
#include <fmt/core.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "commands.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/producer.hpp"

namespace ringlite::cli {
namespace {

template <class T>
void put(std::vector<std::byte>& buf, std::uint32_t off, T v) {
  std::memcpy(buf.data() + off, &v, sizeof v);
}

/// Fills `fixed` (the type's size) and `tails` (one per TEXT/BLOB column) for record k of
/// producer i.
void synth(const RecordType& t, int i, std::uint64_t k, std::vector<std::byte>& fixed,
           std::vector<std::string>& tails) {
  fixed.assign(t.size, std::byte{0});
  tails.clear();
  const std::string label = fmt::format("p{}-{}", i, k);
  for (const auto& f : t.fields) {
    switch (f.type) {
      case FieldType::int8: put(fixed, f.offset, static_cast<std::int8_t>(k)); break;
      case FieldType::int16: put(fixed, f.offset, static_cast<std::int16_t>(k)); break;
      case FieldType::int32: put(fixed, f.offset, static_cast<std::int32_t>(k)); break;
      case FieldType::int64: put(fixed, f.offset, static_cast<std::int64_t>(k)); break;
      case FieldType::uint8: put(fixed, f.offset, static_cast<std::uint8_t>(k)); break;
      case FieldType::uint16: put(fixed, f.offset, static_cast<std::uint16_t>(k)); break;
      case FieldType::uint32: put(fixed, f.offset, static_cast<std::uint32_t>(k)); break;
      case FieldType::uint64: put(fixed, f.offset, static_cast<std::uint64_t>(k)); break;
      case FieldType::float32: put(fixed, f.offset, static_cast<float>(static_cast<double>(k) * 0.5)); break;
      case FieldType::float64: put(fixed, f.offset, static_cast<double>(k) * 0.5); break;
      case FieldType::boolean: put(fixed, f.offset, static_cast<std::uint8_t>(k % 2)); break;
      case FieldType::chars:
      case FieldType::bytes:
        std::memcpy(fixed.data() + f.offset, label.data(), std::min<std::size_t>(label.size(), f.size));
        break;
      case FieldType::text:
      case FieldType::blob: tails.push_back(label); break;
    }
  }
}

struct Opts {
  std::string config;
  std::vector<std::string> types;
  std::uint64_t count = 100000;
  double rate = 0;
  int producers = 1;
  std::string on_full = "block";
};

// One producer process: writes `count` records cycling through `types`, paced to `rate`
// records/s when rate > 0. Exit 0 when all were written (or dropped under on-full=drop).
int run_producer(const Opts& o, const Config& cfg, int i) {
  Producer p = Producer::open(cfg.ring, o.on_full == "drop" ? OnFull::drop : OnFull::block);
  std::vector<RawWriter> writers;
  for (const auto& t : o.types) writers.push_back(p.raw_writer(t));
  std::vector<std::byte> fixed;
  std::vector<std::string> tails;
  std::vector<std::string_view> views;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t k = 0; k < o.count; ++k) {
    auto& w = writers[k % writers.size()];
    synth(w.type(), i, k, fixed, tails);
    WriteResult r;
    if (w.type().variable()) {
      views.assign(tails.begin(), tails.end());
      // Variable records: block (or drop) by hand, since write_var takes a timeout.
      r = w.try_write_var(fixed, views);
      if (r == WriteResult::full && o.on_full == "block") r = w.write_var(fixed, views, std::chrono::hours(24));
    } else {
      r = w.write(fixed);
    }
    if (r != WriteResult::ok && !(r == WriteResult::full && o.on_full == "drop")) {
      fmt::print(stderr, "ringlite: producer {} stopped at record {}: write returned {}\n", i, k, to_string(r));
      return kExitFailure;
    }
    if (o.rate > 0 && k % 64 == 63) {
      const auto due = start + std::chrono::duration<double>(double(k + 1) * o.producers / o.rate);
      std::this_thread::sleep_until(std::chrono::time_point_cast<std::chrono::steady_clock::duration>(due));
    }
  }
  return kExitOk;
}

int run(const Opts& o) {
  const auto cfg = Config::load(o.config);
  const Ring ring = Ring::open(cfg.ring);
  for (const auto& t : o.types) {
    if (!ring.schema().find(t)) {
      std::string known;
      for (const auto& rt : ring.schema().types()) known += (known.empty() ? "" : ", ") + rt.name;
      throw Error(Errc::usage, fmt::format("cannot produce type '{}': {} has no such type (it has: {})", t,
                                           ring.display(), known));
    }
  }
  const auto before = ring.stats();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> children;
  std::fflush(nullptr);
  for (int i = 0; i < o.producers; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(Errc::system, fmt::format("cannot fork producer {}: {}", i, std::strerror(errno)), errno);
    if (pid == 0) {
      int rc = kExitFailure;
      try {
        rc = run_producer(o, cfg, i);
      } catch (const std::exception& e) {
        fmt::print(stderr, "ringlite: producer {}: {}\n", i, e.what());
      }
      std::fflush(nullptr);
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto after = ring.stats();
  const std::uint64_t total = o.count * static_cast<std::uint64_t>(o.producers);
  const std::uint64_t drops = after.drops - before.drops;
  fmt::print("produced {} records ({} producers x {}) of {} in {:.3f} s: {:.0f} records/s; full events {}, drops {}\n",
             total - drops, o.producers, o.count, fmt::join(o.types, "+"), secs, double(total - drops) / secs,
             after.full_events - before.full_events, drops);
  if (failed) {
    fmt::print(stderr, "ringlite: {} of {} producers failed\n", failed, o.producers);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_produce(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("produce", "write synthetic records into the ring from P producer processes");
  cmd->add_option("-c,--config", o->config, "config file (TOML)")->required();
  cmd->add_option("--type", o->types, "record type (repeat to cycle through several)")->required();
  cmd->add_option("--count", o->count, "records per producer")->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  cmd->add_option("--rate", o->rate, "total records per second across producers (0 = as fast as possible)")
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--producers", o->producers, "producer processes to fork")->check(CLI::Range(1, 32));
  cmd->add_option("--on-full", o->on_full, "when the ring is full: block or drop (and count)")
      ->check(CLI::IsMember({"block", "drop"}));
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

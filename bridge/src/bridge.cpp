#include "ringlite/bridge.hpp"

#include <fmt/core.h>

#include <chrono>
#include <optional>
#include <thread>

#include "ringlite/consumer.hpp"
#include "ringlite/error.hpp"
#include "ringlite/ring.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/store.hpp"

namespace ringlite {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto kFirstBackoff = 50ms;
constexpr auto kMaxBackoff = 2000ms;
// Between two waits this long or longer, a retry is worth a log line.
constexpr auto kLogBackoff = 1000ms;

// Sleeps `d` in short steps, so that a stop is seen within 20 ms; `tick` runs at each step.
template <typename Tick>
void sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop, Tick tick) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until && !stop.load()) {
    tick();
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace

struct Bridge::Impl {
  Config config;
  Schema schema;
  std::optional<Store> store;  // empty when stopped before the database could be opened
  std::optional<Ring> ring;
  std::optional<Consumer> consumer;
  std::string ring_id;
  std::uint64_t drops_seen = 0;
  std::string opened_note;

  Impl(const Config& c, const std::atomic<bool>* stop, const Log* log)
      : config(c), schema(Schema::load_file(c.schema_file)) {
    open(stop, log);
  }

  // Opens the database, then the ring. A database another connection keeps locked (a writer
  // holding its lock, a long query under the fast preset) is waited for as long as it
  // takes, unless `stop` comes first: a bridge that gave up would leave the producers
  // blocked on a full ring with nobody draining it. Without `stop`, it is an Error(busy).
  void open(const std::atomic<bool>* stop, const Log* log) {
    auto backoff = std::chrono::milliseconds(kFirstBackoff);
    for (bool first = true;; first = false) {
      try {
        open_store();
        open_ring();
        return;
      } catch (const Error& e) {
        if (e.code() != Errc::busy || e.sqlite_code() == 0 || stop == nullptr) throw;
        consumer.reset();
        ring.reset();
        store.reset();
        if (log && (first || backoff >= kLogBackoff)) {
          (*log)(fmt::format("{}; retrying in {} ms", e.what(), backoff.count()));
        }
        sleep_unless_stopped(backoff, *stop, [] {});
        if (stop->load()) {
          opened_note = fmt::format("stopped before the database opened: {}", e.what());
          return;
        }
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
      }
    }
  }

  void open_store() {
    try {
      store.emplace(Store::open(config.database, schema, config.source.string()));
    } catch (const Error& e) {
      // Another process writes to the database. When it is this ring's own live bridge,
      // that is the news, not the database.
      if (e.code() != Errc::busy || e.sqlite_code() != 0) throw;
      std::optional<RingStats> s;
      try {
        s = Ring::open(config.ring, Ring::Access::read_only).stats();
      } catch (const Error&) {
      }
      if (s && s->bridge_alive) {
        throw Error(Errc::busy,
                    fmt::format("cannot drain {}: another bridge (pid {}) is draining it",
                                config.ring.display(), s->bridge_pid));
      }
      throw;
    }
  }

  void open_ring() {
    const auto& rc = config.ring;
    for (int attempt = 0; !ring; ++attempt) {
      try {
        ring = Ring::open(rc);
      } catch (const Error& e) {
        if (e.code() != Errc::not_found || attempt > 3) throw;
        try {
          const auto start = store->next_position();
          ring = Ring::create(rc, schema, start);
          opened_note = fmt::format("created {} at position {}", ring->display(), start);
        } catch (const Error& ce) {
          if (ce.code() != Errc::exists) throw;  // another bridge created it first: open it
        }
      }
    }
    if (!(ring->layouts() == schema.layouts())) {
      throw Error(
          Errc::schema,
          fmt::format("cannot drain {}: its schema differs from '{}': {} (remove the ring with "
                      "'ringlite ring remove' when it is drained, or fix the config)",
                      ring->display(), config.schema_file.string(),
                      layouts_difference(ring->layouts(), "the ring", schema, "the schema file")));
    }
    const auto s = ring->stats();
    ring_id = s.ring_id;
    drops_seen = s.drops;
    std::uint64_t start = Consumer::kFromHead;
    if (const auto p = store->progress(ring_id)) {
      // The database holds this ring's records up to p. A ring whose tail is behind that
      // lost what it held (a file-backed ring after a power loss, a ring file restored from
      // a copy): new records would take positions the database already holds.
      if (*p > s.tail) {
        throw Error(
            Errc::corrupt,
            fmt::format("cannot drain {}: its tail {} is behind position {}, which database '{}' "
                        "already holds "
                        "from it, so the ring lost records it had (a file-backed ring after a "
                        "power loss?); "
                        "remove it ('ringlite ring remove') and let the bridge create it again",
                        ring->display(), s.tail, *p, store->path()));
      }
      start = *p;
    } else {
      const auto next = store->next_position();
      if (s.head < next) {
        throw Error(
            Errc::busy,
            fmt::format("cannot drain {}: it starts at position {} but database '{}' already holds "
                        "positions up to {}, so seq would repeat; drain it elsewhere or remove it "
                        "('ringlite ring remove') and let the bridge re-create it",
                        ring->display(), s.head, store->path(), next));
      }
    }
    consumer.emplace(*ring, start);
    if (opened_note.empty()) {
      opened_note = fmt::format("opened {} at position {} (head {}, tail {})", ring->display(),
                                consumer->position(), s.head, s.tail);
    }
  }
};

// Bridge::run's loop, one step per job: fill a batch, commit it (retrying what the
// database refuses for now), and the housekeeping between batches.
class Bridge::Drain {
 public:
  Drain(Impl& s, const std::atomic<bool>& stop, const Log& log, double stats_interval_s)
      : s_(s),
        c_(&*s.consumer),
        stop_(stop),
        log_(log),
        stats_interval_s_(stats_interval_s),
        max_records_(static_cast<std::size_t>(s.config.batch.max_records)),
        max_delay_(s.config.batch.max_delay) {
    batch_.arena.reserve(std::min<std::size_t>(max_records_ * 128, 64u << 20));
    s_.store->set_log(log_);  // a recording's rolls and retention
  }

  BridgeStats run() {
    for (;;) {
      const bool last = fill();
      c_->heartbeat();
      commit();
      // Idle: release space a stalled producer held once it has noticed its abandonment.
      if (batch_.frames.empty()) c_->advance(c_->position());
      if (truncated_) stop_truncated();
      housekeeping();
      if (last && renamed_ && !stop_.load()) {
        follow_name();
        continue;
      }
      if (last) break;
    }
    s_.store->checkpoint();
    return total_;
  }

 private:
  bool fill();
  void commit();
  void housekeeping();
  void follow_name();
  [[noreturn]] void stop_for(const Error& e, std::size_t unpersisted);
  [[noreturn]] void stop_truncated();

  Impl& s_;
  Consumer* c_;  // the consumer of the ring drained now (another after a re-created ring)
  const std::atomic<bool>& stop_;
  const Log& log_;
  const double stats_interval_s_;
  const std::size_t max_records_;
  const std::chrono::nanoseconds max_delay_;

  Batch batch_;
  BridgeStats total_;
  // The tail when the stop came (or the ring's name was found to lead elsewhere): the
  // final drain of this ring goes that far and no further.
  std::optional<std::uint64_t> stop_at_;
  bool renamed_ = false;    // the ring was removed (or replaced) under its name
  bool truncated_ = false;  // its segment was shrunk behind ringlite's back
  Clock::time_point last_stats_ = Clock::now();
  Clock::time_point last_checkpoint_ = Clock::now();
  BridgeStats at_last_stats_;
  std::uint64_t batch_records_since_ = 0, batches_since_ = 0;
};

// Fills one batch: up to max_records, or whatever arrived within max_delay. An idle ring
// costs one futex sleep per 200 ms (the heartbeat and stats still run). Once stopping,
// reads up to the tail seen when the stop came: producers that outpace the bridge would
// otherwise keep the final drain chasing them for as long as they write. Returns true for
// the last batch.
bool Bridge::Drain::fill() {
  batch_.clear();
  const auto batch_start = Clock::now();
  for (;;) {
    if (!stop_at_ && (stop_.load() || renamed_)) stop_at_ = c_->tail();
    const auto before = c_->position();
    const PollStatus polled = c_->poll(batch_, max_records_ - batch_.frames.size());
    if (polled == PollStatus::truncated) {
      truncated_ = true;  // commit what was read intact, then stop
      return true;
    }
    if (polled != PollStatus::ok) {
      throw Error(
          Errc::corrupt,
          fmt::format("cannot drain {}: its cursors contradict each other (head {}, tail {}, "
                      "read position {})",
                      s_.ring->display(), c_->head(), c_->tail(), c_->position()));
    }
    const bool progressed = c_->position() != before;
    if (stop_at_) {
      // Final drain: what was committed by the stop; a claim still in flight is left, with
      // everything after the stop, to the next bridge.
      if (!progressed || c_->position() >= *stop_at_) return true;
      if (batch_.frames.size() >= max_records_) return false;
      continue;
    }
    if (batch_.frames.size() >= max_records_) return false;
    const bool have = !batch_.frames.empty() || !batch_.gaps.empty();
    const auto elapsed = Clock::now() - batch_start;
    if (!have) {
      // Nothing new is read (pads at most), and everything before is committed: release
      // space that advance() held back for a claim that has finished since.
      c_->advance(c_->position());
      c_->wait(200ms);
      if (c_->position() == before && Clock::now() - batch_start >= 200ms) return false;
      continue;
    }
    if (elapsed >= max_delay_ || stop_.load()) return false;
    if (!progressed)
      c_->wait(std::chrono::duration_cast<std::chrono::nanoseconds>(max_delay_ - elapsed));
  }
}

// Commits the batch, and only then lets producers reuse its space. What the database
// refuses for now (disk full, I/O error, locked by another connection) is retried until it
// works, with a log line: the records stay in the ring (producers feel the back-pressure)
// and the heartbeat goes on. Never gives up on a locked database: a bridge that exits
// leaves the producers blocked with nobody draining.
void Bridge::Drain::commit() {
  const auto drops_now = s_.ring->drops();
  const std::uint64_t new_drops = drops_now - s_.drops_seen;
  if (batch_.frames.empty() && batch_.gaps.empty() && new_drops == 0 && batch_.end == c_->head())
    return;
  for (const auto& g : batch_.gaps) {
    log_(fmt::format("gap [{}, {}): {}", g.pos, g.end, g.reason));
  }
  auto backoff = std::chrono::milliseconds(kFirstBackoff);
  bool failed = false;
  for (;;) {
    try {
      const auto r = s_.store->write_batch(batch_, s_.ring_id, new_drops);
      total_.records += r.inserted;
      total_.rejects += r.rejected;
      if (r.rejected != 0) c_->count_rejects(r.rejected);
      total_.gaps += r.gaps;
      total_.busy_retries += r.busy_retries;
      break;
    } catch (const Error& e) {
      if (e.code() == Errc::not_found) stop_for(e, batch_.frames.size());
      if (e.code() != Errc::sqlite && e.code() != Errc::busy) throw;
      ++total_.stalls;
      if (!failed || backoff >= kLogBackoff) {
        log_(fmt::format("{}; {} records wait in the ring, retrying in {} ms", e.what(),
                         batch_.frames.size(), backoff.count()));
      }
      failed = true;
      if (stop_.load()) {
        throw Error(
            e.code(),
            fmt::format(
                "stopping with {} records not persisted (they stay in the ring for the next "
                "bridge): {}",
                batch_.frames.size(), e.what()),
            0, e.sqlite_code());
      }
      sleep_unless_stopped(backoff, stop_, [&] { c_->heartbeat(); });
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
  }
  s_.drops_seen = drops_now;
  c_->advance(batch_.end);
  ++total_.batches;
  ++batches_since_;
  batch_records_since_ += batch_.frames.size();
  if (failed) log_("commit recovered");
}

// Once a second: the store's upkeep (a WAL checkpoint when it has no checkpointer thread, a
// recording's retention), the check that the database file is still the one at its path
// (so an idle bridge notices too), and that the ring's name still leads to the ring
// drained. Every stats_interval: the stats line.
void Bridge::Drain::housekeeping() {
  const auto now = Clock::now();
  if (now - last_checkpoint_ >= 1s) {
    s_.store->maintain();
    try {
      s_.store->check_file();
    } catch (const Error& e) {
      stop_for(e, 0);
    }
    if (!renamed_ && s_.ring->name_state() != Ring::NameState::current) {
      renamed_ = true;
      log_(fmt::format("{} was removed; draining what it holds, then the ring under its name",
                       s_.ring->display()));
    }
    last_checkpoint_ = now;
  }
  const double since = std::chrono::duration<double>(now - last_stats_).count();
  if (stats_interval_s_ > 0 && since >= stats_interval_s_) {
    const auto rs = s_.ring->stats();
    log_(fmt::format(
        "{:.0f} records/s, batch {:.0f}, lag {} bytes ({:.1f}%), drops {}, rejects {}, gaps {}, "
        "stalls {}",
        double(total_.records - at_last_stats_.records) / since,
        batches_since_ ? double(batch_records_since_) / double(batches_since_) : 0.0, rs.used(),
        100.0 * rs.fill(), rs.drops, total_.rejects, total_.gaps, total_.stalls));
    at_last_stats_ = total_;
    last_stats_ = now;
    batch_records_since_ = batches_since_ = 0;
  }
}

// The ring drained so far was removed (`ringlite ring remove`, or removed and created
// again): it is drained up to its tail, and producers see `closed`. Drains the ring now
// under that name from here on, creating it as at start-up when there is none.
void Bridge::Drain::follow_name() {
  const std::string old = s_.ring->display();
  s_.consumer.reset();
  s_.ring.reset();
  s_.opened_note.clear();
  s_.open_ring();
  c_ = &*s_.consumer;
  stop_at_.reset();
  renamed_ = false;
  log_(fmt::format("{} done; {}", old, s_.opened_note));
}

// The segment was shrunk under the bridge: what was read before that is committed, the
// rest of the ring is gone. Stop with an error rather than die of SIGBUS or wait forever.
void Bridge::Drain::stop_truncated() {
  const Error e(
      Errc::corrupt,
      fmt::format(
          "cannot drain {}: ring segment truncated (it was shrunk behind ringlite's back); every "
          "record read before that is committed, up to position {}",
          s_.ring->display(), c_->position()));
  log_(fmt::format("stopping: {}", e.what()));
  throw e;
}

// The database file went away under the bridge: committing on would advance head past
// records that are in no file at the path. Stop; the ring keeps them.
void Bridge::Drain::stop_for(const Error& e, std::size_t unpersisted) {
  log_(fmt::format(
      "stopping: {}; the {} records of the last batch stay in the ring, with all after them, for a "
      "bridge on the file now at that path",
      e.what(), unpersisted));
  throw e;
}

Bridge::Bridge(const Config& config) : impl_(new Impl(config, nullptr, nullptr)) {}
Bridge::Bridge(const Config& config, const std::atomic<bool>& stop, const Log& log)
    : impl_(new Impl(config, &stop, &log)) {}
Bridge::~Bridge() { delete impl_; }

std::string Bridge::describe() const {
  if (!impl_->store) return impl_->opened_note;
  return fmt::format("{}; {} (preset {})", impl_->opened_note, impl_->store->describe(),
                     impl_->config.database.preset);
}

BridgeStats Bridge::run(const std::atomic<bool>& stop, const Log& log, double stats_interval_s) {
  if (!impl_->consumer) return {};  // stopped while waiting for the database
  return Drain(*impl_, stop, log, stats_interval_s).run();
}

}  // namespace ringlite

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

struct Bridge::Impl {
  Config config;
  Schema schema;
  Store store;
  std::optional<Ring> ring;
  std::optional<Consumer> consumer;
  std::string ring_id;
  std::uint64_t drops_seen = 0;
  std::string opened_note;

  explicit Impl(const Config& c)
      : config(c), schema(Schema::load_file(c.schema_file)), store(Store::open(c.database, schema, c.source.string())) {
    open_ring();
  }

  void open_ring() {
    const auto& rc = config.ring;
    for (int attempt = 0; !ring; ++attempt) {
      try {
        ring = Ring::open(rc);
      } catch (const Error& e) {
        if (e.code() != Errc::not_found || attempt > 3) throw;
        try {
          const auto start = store.next_position();
          ring = Ring::create(rc, schema, start);
          opened_note = fmt::format("created {} at position {}", ring->display(), start);
        } catch (const Error& ce) {
          if (ce.code() != Errc::exists) throw;  // another bridge created it first: open it
        }
      }
    }
    if (!(ring->schema() == schema)) {
      throw Error(Errc::schema, fmt::format("cannot drain {}: its schema differs from '{}' (remove the ring with "
                                            "'ringlite ring remove' when it is drained, or fix the config)",
                                            ring->display(), config.schema_file.string()));
    }
    const auto s = ring->stats();
    ring_id = s.ring_id;
    drops_seen = s.drops;
    std::uint64_t start = Consumer::kFromHead;
    if (const auto p = store.progress(ring_id)) {
      start = *p;
    } else {
      const auto next = store.next_position();
      if (s.head < next) {
        throw Error(Errc::busy, fmt::format("cannot drain {}: it starts at position {} but database '{}' already holds "
                                            "positions up to {}, so seq would repeat; drain it elsewhere or remove it "
                                            "('ringlite ring remove') and let the bridge re-create it",
                                            ring->display(), s.head, store.path(), next));
      }
    }
    consumer.emplace(*ring, start);
    if (opened_note.empty()) {
      opened_note = fmt::format("opened {} at position {} (head {}, tail {})", ring->display(), consumer->position(),
                                s.head, s.tail);
    }
  }
};

Bridge::Bridge(const Config& config) : impl_(new Impl(config)) {}
Bridge::~Bridge() { delete impl_; }

std::string Bridge::describe() const {
  return fmt::format("{}; database '{}' (preset {})", impl_->opened_note, impl_->store.path(),
                     impl_->config.database.preset);
}

BridgeStats Bridge::run(const std::atomic<bool>& stop, const std::function<void(const std::string&)>& log,
                        double stats_interval_s) {
  auto& s = *impl_;
  Consumer& c = *s.consumer;
  const auto max_records = static_cast<std::size_t>(s.config.batch.max_records);
  const auto max_delay = s.config.batch.max_delay;
  BridgeStats total;
  Batch batch;
  batch.arena.reserve(std::min<std::size_t>(max_records * 128, 64u << 20));

  auto last_stats = Clock::now();
  auto last_checkpoint = Clock::now();
  BridgeStats at_last_stats;
  std::uint64_t batch_records_since = 0, batches_since = 0;

  auto commit = [&] {
    const auto drops_now = s.ring->drops();
    const std::uint64_t new_drops = drops_now - s.drops_seen;
    if (batch.frames.empty() && batch.gaps.empty() && new_drops == 0 && batch.end == c.head()) return;
    for (const auto& g : batch.gaps) {
      log(fmt::format("gap [{}, {}): {}", g.pos, g.end, g.reason));
    }
    std::chrono::milliseconds backoff(50);
    for (;;) {
      try {
        const auto r = s.store.write_batch(batch, s.ring_id, new_drops);
        total.records += r.inserted;
        total.rejects += r.rejected;
        total.gaps += r.gaps;
        total.busy_retries += r.busy_retries;
        break;
      } catch (const Error& e) {
        if (e.code() != Errc::sqlite) throw;
        // Disk full, I/O error...: keep the records in the ring (producers feel the
        // back-pressure), keep the heartbeat, and try again until it works.
        ++total.stalls;
        if (total.stalls == 1 || backoff.count() >= 1000) {
          log(fmt::format("{}; {} records wait in the ring, retrying", e.what(), batch.frames.size()));
        }
        if (stop.load()) {
          throw Error(Errc::sqlite,
                      fmt::format("stopping with {} records not persisted (they stay in the ring for the next "
                                  "bridge): {}",
                                  batch.frames.size(), e.what()),
                      0, e.sqlite_code());
        }
        const auto until = Clock::now() + backoff;
        while (Clock::now() < until && !stop.load()) {
          c.heartbeat();
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      }
    }
    s.drops_seen = drops_now;
    c.advance(batch.end);
    ++total.batches;
    ++batches_since;
    batch_records_since += batch.frames.size();
    if (total.stalls && backoff.count() > 50) log("commit recovered");
  };

  for (;;) {
    const bool stopping = stop.load();
    batch.clear();
    const auto batch_start = Clock::now();
    // Fill one batch: up to max_records, or whatever arrived within max_delay. An idle
    // ring costs one futex sleep per 200 ms (the heartbeat and stats still run).
    for (;;) {
      const auto before = c.position();
      if (c.poll(batch, max_records - batch.frames.size()) != PollStatus::ok) {
        throw Error(Errc::corrupt, fmt::format("cannot drain {}: its cursors contradict each other (head {}, tail {}, "
                                               "read position {})",
                                               s.ring->display(), c.head(), c.tail(), c.position()));
      }
      if (batch.frames.size() >= max_records) break;
      const bool progressed = c.position() != before;
      if (stopping) {
        // Final drain: everything committed; a claim still in flight is left to the next run.
        if (!progressed) break;
        continue;
      }
      const bool have = !batch.frames.empty() || !batch.gaps.empty();
      const auto elapsed = Clock::now() - batch_start;
      if (!have) {
        // Nothing new is read (pads at most), and everything before is committed: release
        // space that advance() held back for a claim that has finished since.
        c.advance(c.position());
        c.wait(std::chrono::milliseconds(200));
        if (c.position() == before && Clock::now() - batch_start >= std::chrono::milliseconds(200)) break;
        continue;
      }
      if (elapsed >= max_delay || stop.load()) break;
      if (!progressed) c.wait(std::chrono::duration_cast<std::chrono::nanoseconds>(max_delay - elapsed));
    }
    c.heartbeat();
    commit();
    // Idle: release space a stalled producer held once it has noticed its abandonment.
    if (batch.frames.empty()) c.advance(c.position());

    const auto now = Clock::now();
    if (now - last_checkpoint >= std::chrono::seconds(1)) {
      s.store.checkpoint();
      last_checkpoint = now;
    }
    const double since = std::chrono::duration<double>(now - last_stats).count();
    if (stats_interval_s > 0 && since >= stats_interval_s) {
      const auto rs = s.ring->stats();
      log(fmt::format("{:.0f} records/s, batch {:.0f}, lag {} bytes ({:.1f}%), drops {}, rejects {}, gaps {}, "
                      "stalls {}",
                      double(total.records - at_last_stats.records) / since,
                      batches_since ? double(batch_records_since) / double(batches_since) : 0.0, rs.used(),
                      100.0 * rs.fill(), rs.drops, total.rejects, total.gaps, total.stalls));
      at_last_stats = total;
      last_stats = now;
      batch_records_since = batches_since = 0;
    }
    if (stopping && batch.frames.size() < max_records) break;
  }
  s.store.checkpoint();
  return total;
}

}  // namespace ringlite

// ringlite tail: the newest records of the live ring, and with --follow every record
// committed afterwards, until SIGINT or SIGTERM (exit 0). Reads through a LiveReader, so it
// never slows producers or the bridge; records that fail check_record() are skipped.
//
// With --type T the columns are the table's: seq, ts_ns, producer, then T's fields. Without
// it every type is shown: the table format prints columns type, seq, ts_ns, producer and
// a `record` column (fields as name=value, values as SQL literals), json prints one object
// per record with a "type" key followed by that record's own columns, and csv is refused
// (its rows must share one header): pass --type.
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "output.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/reader.hpp"
#include "ringlite/ring.hpp"

namespace ringlite::cli {
namespace {

struct Opts {
  std::string config;
  std::string type;
  std::uint64_t last = 10;
  bool follow = false;
  std::string format = "table";
};

/// Turns records into rows for one RowWriter.
class Printer {
 public:
  Printer(const Layouts& schema, const RecordType* only, Format format)
      : schema_(&schema), only_(only), format_(format), out_(make_writer(format, stdout)) {
    if (only_ != nullptr) {
      out_->columns(names(*only_));
    } else if (format_ == Format::table) {
      out_->columns({"type", "seq", "ts_ns", "producer", "record"});
    }
  }

  /// True for records this tail shows (right type, valid bytes).
  bool wanted(const LiveRecord& r) const {
    const RecordType* t = only_ ? only_ : schema_->find(r.type);
    return t != nullptr && r.type == t->id && check_record(*t, r.payload).empty();
  }

  void print(const LiveRecord& r) {
    const RecordType& t = only_ ? *only_ : *schema_->find(r.type);
    const bool record_column = only_ == nullptr && format_ == Format::table;
    const bool type_column = only_ == nullptr;
    const std::size_t n = (type_column ? 1 : 0) + 3 + (record_column ? 1 : t.fields.size());
    cells_.resize(n);
    std::size_t i = 0;
    if (type_column) cells_[i++].set_text(t.name);
    cells_[i++].set_integer(static_cast<std::int64_t>(r.seq));
    cells_[i++].set_integer(r.ts_ns);
    cells_[i++].set_integer(r.producer);
    if (record_column) {
      std::string rec;
      for (const Field& f : t.fields) {
        decode_field(f.type, f.offset, f.length, r.payload.data(), field_.sink());
        if (!rec.empty()) rec += ' ';
        rec += f.name;
        rec += '=';
        rec += sql_literal(field_);
      }
      cells_[i].set_text(rec);
    } else {
      if (type_column && last_type_ != t.id) {  // json: this record's own keys
        auto keys = names(t);
        keys.insert(keys.begin(), "type");
        out_->columns(std::move(keys));
        last_type_ = t.id;
      }
      for (const Field& f : t.fields)
        decode_field(f.type, f.offset, f.length, r.payload.data(), cells_[i++].sink());
    }
    out_->row(cells_);
  }

  void flush() { out_->flush(); }

  /// Reads records of `schema` from now on (an equal schema of a re-created ring).
  void rebind(const Layouts& schema) {
    schema_ = &schema;
    if (only_ != nullptr) only_ = schema.find(only_->name);
  }

 private:
  static std::vector<std::string> names(const RecordType& t) {
    std::vector<std::string> v{"seq", "ts_ns", "producer"};
    for (const Field& f : t.fields) v.push_back(f.name);
    return v;
  }

  const Layouts* schema_;
  const RecordType* only_;
  Format format_;
  std::unique_ptr<RowWriter> out_;
  std::vector<Cell> cells_;
  Cell field_;
  std::uint16_t last_type_ = 0;
};

[[noreturn]] void damaged(const Ring& ring, const std::string& why) {
  throw Error(Errc::corrupt, fmt::format("cannot tail {}: {}", ring.display(), why));
}

/// Called when `reader` has caught up: a reader of the ring now under its name when that
/// is another ring (the old one was removed, and perhaps re-created), reading from its
/// oldest record; nothing while the name still leads to `reader`'s ring or to nothing.
/// Says on stderr what happened, once. Throws when the ring was truncated, or when the new
/// ring's schema differs (the columns printed so far would not fit it).
std::optional<LiveReader> follow_name(const LiveReader& reader, const RingConfig& config,
                                      bool& waiting) {
  const Ring& ring = reader.ring();
  if (ring.truncated())
    damaged(ring, "ring segment truncated (it was shrunk behind ringlite's back)");
  if (ring.name_state() == Ring::NameState::current) return std::nullopt;
  std::optional<LiveReader> fresh;
  try {
    fresh.emplace(Ring::open(config, Ring::Access::read_only));
  } catch (const Error& e) {
    if (e.code() != Errc::not_found) throw;
  }
  if (!fresh || fresh->ring().name_state() != Ring::NameState::current) {
    if (!waiting) {
      fmt::print(stderr, "ringlite: {} was removed; waiting for a ring of that name\n",
                 ring.display());
      std::fflush(stderr);
    }
    waiting = true;
    return std::nullopt;
  }
  if (!(fresh->ring().layouts() == ring.layouts())) {
    damaged(ring, "it was re-created with another schema (run tail again to read the new one)");
  }
  fmt::print(stderr, "ringlite: {} was {}; following the new ring (id {})\n", ring.display(),
             waiting ? "created again" : "removed and created again",
             fresh->ring().stats().ring_id);
  std::fflush(stderr);
  waiting = false;
  fresh->seek_oldest();
  return fresh;
}

int run(const Opts& o) {
  const Format format = parse_format(o.format);
  const auto cfg = Config::load(o.config);
  static const std::atomic<bool> never{false};
  // Before anything slow: a signal during start-up still means "stop".
  const std::atomic<bool>& stopped = o.follow ? stop_on_signals() : never;
  LiveReader reader(Ring::open(cfg.ring, Ring::Access::read_only));
  const Layouts& schema = reader.ring().layouts();
  const RecordType* only = nullptr;
  if (!o.type.empty()) {
    only = schema.find(o.type);
    if (only == nullptr) {
      std::string known;
      for (const auto& t : schema.types()) known += (known.empty() ? "" : ", ") + t.name;
      throw Error(Errc::usage,
                  fmt::format("cannot tail type '{}': {} has no such type (it has: {})", o.type,
                              reader.ring().display(), known));
    }
  } else if (format == Format::csv) {
    throw Error(Errc::usage, "cannot tail all types as csv: their columns differ (pass --type)");
  }
  Printer printer(schema, only, format);

  // The newest `last` records up to the tail seen now, kept in a circular buffer. A record
  // past that tail ends the scan (so it ends under any load) and is the first new one.
  const std::uint64_t stop = reader.tail();
  std::vector<LiveRecord> newest;
  std::size_t next_slot = 0;
  LiveRecord rec;
  bool pending = false;
  // Reads one record; a damaged ring ends the command (exit 1) instead of being waited on.
  const auto next = [&] {
    const ReadStatus r = reader.next(rec);
    if (r == ReadStatus::corrupt || r == ReadStatus::truncated) {
      printer.flush();
      damaged(reader.ring(),
              r == ReadStatus::truncated
                  ? std::string("ring segment truncated (it was shrunk behind ringlite's back)")
                  : fmt::format("its tail {} is impossible (damaged ring header)", reader.tail()));
    }
    return r == ReadStatus::ok;
  };
  while ((o.last > 0 || o.follow) && !stopped.load()) {
    if (!next()) break;
    if (rec.seq >= stop) {
      pending = true;
      break;
    }
    if (o.last == 0 || !printer.wanted(rec)) continue;
    if (newest.size() < o.last) {
      newest.push_back(rec);
    } else {
      std::swap(newest[next_slot], rec);
      next_slot = (next_slot + 1) % newest.size();
    }
  }
  for (std::size_t k = 0; k < newest.size(); ++k)
    printer.print(newest[(next_slot + k) % newest.size()]);
  printer.flush();
  if (!o.follow) return kExitOk;

  if (pending && printer.wanted(rec)) printer.print(rec);
  std::uint64_t lost = reader.lost_bytes();
  // Caught up, tail looks now and then whether the ring is still there: one removed (or
  // re-created, by a bridge restart say) is followed by name, like `tail -F` follows a file.
  auto next_look = std::chrono::steady_clock::now();
  bool waiting = false;
  while (!stopped.load()) {
    int batch = 0;
    while (batch < 4096 && next()) {
      ++batch;
      if (printer.wanted(rec)) printer.print(rec);
    }
    if (reader.lost_bytes() != lost) {
      printer.flush();  // what came before the gap, then the gap
      fmt::print(stderr, "ringlite: tail lapped: {} bytes of records skipped\n",
                 reader.lost_bytes() - lost);
      lost = reader.lost_bytes();
    }
    if (batch > 0) {
      printer.flush();
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_look) {
      next_look = now + std::chrono::milliseconds(250);
      if (auto fresh = follow_name(reader, cfg.ring, waiting)) {
        printer.rebind(fresh->ring().layouts());
        reader = std::move(*fresh);
        lost = reader.lost_bytes();
        continue;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  printer.flush();
  return kExitOk;
}

}  // namespace

void add_tail(CLI::App& app, Action& action) {
  auto o = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("tail", "print the newest live records; --follow keeps printing new ones");
  cmd->add_option("-c,--config", o->config, "config file (TOML)")->required();
  cmd->add_option("--type", o->type, "only records of this type (required for --format csv)");
  cmd->add_option("--last", o->last, "how many of the newest records to print first (default 10)");
  cmd->add_flag("--follow,-f", o->follow,
                "keep printing records as they are committed, until SIGINT/SIGTERM");
  cmd->add_option("--format", o->format,
                  "output: table, csv (needs --type) or json (one object per line)")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace ringlite::cli

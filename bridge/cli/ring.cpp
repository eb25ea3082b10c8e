// ringlite ring create|remove -c CONFIG, and ring list
#include "ringlite/ring.hpp"

#include <fmt/core.h>

#include "commands.hpp"
#include "ringlite/config.hpp"
#include "ringlite/error.hpp"
#include "ringlite/schema.hpp"
#include "ringlite/store.hpp"

namespace ringlite::cli {

void add_ring(CLI::App& app, Action& action) {
  auto* ring = app.add_subcommand("ring", "create, remove or list shared-memory rings");
  ring->require_subcommand(1);
  auto config = std::make_shared<std::string>();

  auto* create = ring->add_subcommand("create", "create the configured ring (fails if it exists)");
  create->add_option("-c,--config", *config, "config file (TOML)")->required();
  create->callback([&action, config] {
    action = [config] {
      const auto cfg = Config::load(*config);
      const auto schema = Schema::load_file(cfg.schema_file);
      // Start after everything the database holds, so seq stays unique across rings. Opening
      // it (creating it, with database.mode, when missing) also checks database.path now,
      // not when the bridge starts, and is refused while another ring's bridge writes to it.
      std::uint64_t start = 0;
      if (!cfg.database.path.empty()) {
        start = Store::open(cfg.database, schema, *config).next_position();
      }
      const auto r = Ring::create(cfg.ring, schema, start);
      fmt::print("created {}: {} bytes, {} record types, starting at position {}\n", r.display(),
                 r.capacity(), schema.types().size(), start);
      return kExitOk;
    };
  });

  auto* remove = ring->add_subcommand(
      "remove", "remove the configured ring (attached producers get 'closed')");
  remove->add_option("-c,--config", *config, "config file (TOML)")->required();
  remove->callback([&action, config] {
    action = [config] {
      const auto cfg = Config::load(*config);
      Ring::remove(cfg.ring);
      fmt::print("removed {}\n", cfg.ring.display());
      return kExitOk;
    };
  });

  auto* list = ring->add_subcommand("list", "list the shared-memory rings on this machine");
  list->callback([&action] {
    action = [] {
      for (const auto& name : Ring::list()) {
        RingConfig rc;
        rc.name = name;
        try {
          const auto s = Ring::open(rc, Ring::Access::read_only).stats();
          fmt::print("{:<24} {:>12} bytes  fill {:5.1f}%  bridge {}  {}\n", name, s.capacity,
                     100.0 * s.fill(),
                     s.bridge_alive ? fmt::format("pid {}", s.bridge_pid) : std::string("none"),
                     s.stale() ? "stale" : "live");
        } catch (const Error& e) {
          fmt::print("{:<24} unreadable: {}\n", name, e.what());
        }
      }
      return kExitOk;
    };
  });
}

}  // namespace ringlite::cli

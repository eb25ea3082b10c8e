#!/usr/bin/env bash
# Runs one example end to end against a private ring and database, as CTest does:
#   run_example.sh producer|live_reader|replay RINGLITE EXAMPLE SOURCE_DIR
set -euo pipefail
which="$1" rl="$2" example="$3" src="$4"
dir=$(mktemp -d)
ring="ex$$_${which}"
cleanup() {
  [ -n "${bridge:-}" ] && kill "$bridge" 2>/dev/null && wait "$bridge" 2>/dev/null || true
  "$rl" ring remove -c "$dir/ex.toml" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/ex.toml" <<TOML
[ring]
name = "$ring"
capacity = "1MiB"
[schema]
file = "$src/schema/demo.sql"
[database]
path = "$dir/ex.db"
TOML
"$rl" bridge -c "$dir/ex.toml" --stats-interval 0 2> "$dir/bridge.log" &
bridge=$!
for _ in $(seq 100); do "$rl" stat -c "$dir/ex.toml" >/dev/null 2>&1 && break; sleep 0.05; done

case "$which" in
  producer)
    "$example" "$dir/ex.toml" 5000
    kill -TERM "$bridge"; wait "$bridge"; bridge=
    got=$(sqlite3 "$dir/ex.db" "SELECT count(*) || ' ' || max(a) || ' ' || (SELECT message FROM log) FROM sensor")
    want="5000 4999 wrote 5000 sensor records"
    ;;
  live_reader)
    # 3000 sensor records fit the 1 MiB ring: all are retained, the newest three are p0-2997..2999.
    "$rl" produce -c "$dir/ex.toml" --type sensor --count 3000 >/dev/null
    out=$("$example" "$dir/ex.toml" 3)
    echo "$out"
    got="$(echo "$out" | grep -c "buffer='p0-299[789]'") $(echo "$out" | grep -c "a=2999  b=1499.5  c=1499.5  buffer='p0-2999'") $(echo "$out" | grep -o 'live.sensor: [0-9]* rows')"
    want="3 1 live.sensor: 3000 rows"
    ;;
  replay)
    # 1000 sensor records through the bridge, then replayed into the same ring while the
    # bridge runs: each lands a second time, with the same values and ts_ns.
    count() { sqlite3 "$dir/ex.db" "SELECT count(*) FROM sensor" 2>/dev/null || true; }
    "$rl" produce -c "$dir/ex.toml" --type sensor --count 1000 >/dev/null
    for _ in $(seq 200); do [ "$(count)" = 1000 ] && break; sleep 0.05; done
    "$example" "$dir/ex.toml"
    for _ in $(seq 200); do [ "$(count)" = 2000 ] && break; sleep 0.05; done
    kill -TERM "$bridge"; wait "$bridge"; bridge=
    got=$(sqlite3 "$dir/ex.db" "SELECT count(*) || ' ' || (SELECT count(*) FROM (SELECT DISTINCT ts_ns, a, b, c, buffer FROM sensor)) FROM sensor")
    want="2000 1000"
    ;;
  *) echo "run_example.sh: unknown example '$which'" >&2; exit 2 ;;
esac
if [ "$got" != "$want" ]; then
  echo "example $which: expected '$want', got '$got'" >&2
  cat "$dir/bridge.log" >&2
  exit 1
fi
echo "example $which: ok ($got)"

#!/usr/bin/env bash
# Runs one example end to end against a private ring and database, as CTest does:
#   run_example.sh producer RINGLITE EXAMPLE SOURCE_DIR
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
  *) echo "run_example.sh: unknown example '$which'" >&2; exit 2 ;;
esac
if [ "$got" != "$want" ]; then
  echo "example $which: expected '$want', got '$got'" >&2
  cat "$dir/bridge.log" >&2
  exit 1
fi
echo "example $which: ok ($got)"

#!/usr/bin/env bash
# CTest "demo": runs scripts/demo, the README's first command, with this build on a private
# ring, database and replay ring, and checks what it reports: every record persisted, the
# history and the replayed ring readable through SQL. Usage: demo_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringlite-demo-test.XXXXXX")
ring="demotest$$"
cfg="$tmp/demo.toml"
cat >"$cfg" <<TOML
[ring]
name = "$ring"
capacity = "4MiB"
[schema]
file = "$src/schema/demo.sql"
[database]
path = "$tmp/demo.db"
[batch]
max_delay = "5ms"
TOML
cleanup() {
  "$build/ringlite" ring remove -c "$cfg" >/dev/null 2>&1 || true
  [ "${RINGLITE_DEMO_KEEP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

out="$tmp/demo.out"
rc=0
"$src/scripts/demo" --build "$build" --config "$cfg" --replay-ring "$ring.replay" \
  --producers 2 --count 20000 >"$out" 2>&1 || rc=$?
fail() {
  cat "$out" >&2
  echo "demo test: FAILED: $*" >&2
  exit 1
}
[ "$rc" = 0 ] || fail "scripts/demo exited $rc"
# 2 x 20,000 from produce and 1,000 from the example producer, into a new database.
grep -q '^== persisted 41000 new records in ' "$out" || fail "not every sensor record was persisted"
# The history query's first row: 41,000 sensor records.
grep -Eq '^ *41000 +[0-9]+ +[0-9]+ *$' "$out" || fail "ringlite query does not show 41000 records"
# The time view's newest row, and ringlite info's totals for the database.
grep -Eq '^ *[0-9]+ +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z ' "$out" ||
  fail "the sensor_t view shows no ISO-8601 time"
grep -Eq '^Rows: +41001$' "$out" || fail "ringlite info does not count 41,001 records"
grep -q '^replayed 10001 records in ' "$out" || fail "replay did not write 10,000 + 1 records"
# query --live on the replayed ring (it has no database): 10,000 sensor records.
grep -Eq '^ *10000 +[0-9]+ *$' "$out" || fail "query --live on the replayed ring does not count 10000"
[ ! -e "/dev/shm/ringlite.$ring.replay" ] || fail "the replay ring was left behind"
echo "demo test: scripts/demo ran end to end ($(wc -l <"$out") lines of output)"

#!/usr/bin/env bash
# Fails when tests/run_serial.cmake names a test that CTest does not have (a renamed test
# would otherwise quietly lose RUN_SERIAL). Usage: run_serial_names.sh BUILD_DIR LIST_FILE
set -euo pipefail
build="$1" list="$2"
known=$(ctest --test-dir "$build" -N | sed -n 's/^ *Test *#[0-9]*: //p')
status=0
while IFS= read -r name; do
  if ! grep -Fxq -- "$name" <<<"$known"; then
    echo "run_serial.cmake names no test: $name" >&2
    status=1
  fi
done < <(sed -n 's/^ *"\(.*\)"$/\1/p' "$list")
exit $status

#!/usr/bin/env bash
# The package test (CTest "package", after fmt's find-package-test): installs the build to a
# fresh prefix and uses it as a user would, so that packaging cannot rot.
#   1. cmake --install BUILD_DIR --prefix <temp>
#   2. compiles each installed header on its own, and builds, against that prefix only:
#      cmake-core/  find_package(ringlite 0.4 REQUIRED COMPONENTS core), ringlite::core
#      cmake-sql/   find_package(ringlite 0.4 REQUIRED), ringlite::ringlite
#      pkg-config/  a Makefile using pkg-config ringlite-core and ringlite
#      (the producers' record struct comes from the installed `ringlite schema header`)
#   3. runs the installed `ringlite bridge` on a private ring, both producers against it
#      (1000 sensor records each, told apart by sensor.a), waits until all 2000 are in the
#      database, stops the bridge with SIGTERM (exit 0) and checks the rows;
#   4. checks with nm and ldd that the core-only producers contain and load no SQLite.
#
#   run.sh BUILD_DIR LIBDIR SOURCE_DIR CMAKE CXX [CONFIG]
# LIBDIR is CMAKE_INSTALL_LIBDIR. RINGLITE_PACKAGE_KEEP=1 keeps the temp folder.
set -euo pipefail
build="$1" libdir="$2" src="$3" cmake="$4" cxx="$5" config="${6:-}"
here="$src/tests/package"
schema="$src/schema/demo.sql"
started=$SECONDS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringlite-package.XXXXXX")
prefix="$tmp/prefix"
rl="$prefix/bin/ringlite"
cfg="$tmp/package.toml"
ring="pkgtest$$"
bridge=
cleanup() {
  if [ -n "$bridge" ]; then kill -TERM "$bridge" 2>/dev/null || true; wait "$bridge" 2>/dev/null || true; fi
  [ -x "$rl" ] && [ -f "$cfg" ] && "$rl" ring remove -c "$cfg" >/dev/null 2>&1 || true
  if [ "${RINGLITE_PACKAGE_KEEP:-0}" = 1 ]; then echo "package test: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

fail() {
  echo "package test: FAILED: $*" >&2
  exit 1
}
# run LOG WHAT CMD...: runs CMD with its output in $tmp/LOG; on failure shows it and fails.
run() {
  local log="$tmp/$1" what="$2"
  shift 2
  echo "== $what"
  local rc=0
  "$@" >>"$log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$log" >&2
    fail "cannot $what (exit $rc): $*"
  fi
}

# 1. The install.
run install.log "install $build to $prefix" \
  "$cmake" --install "$build" --prefix "$prefix" ${config:+--config "$config"}
for f in bin/ringlite include/ringlite/producer.hpp include/ringlite/version.hpp \
  "$libdir/cmake/ringlite/ringliteConfig.cmake" "$libdir/cmake/ringlite/ringliteConfigVersion.cmake" \
  "$libdir/pkgconfig/ringlite-core.pc" "$libdir/pkgconfig/ringlite.pc"; do
  [ -e "$prefix/$f" ] || fail "the install has no $f (is the build complete? cmake --build $build)"
done
if [ -e "$prefix/$libdir/libringlite_core.a" ]; then kind=static; else kind=shared; fi
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
version=$(pkg-config --modversion ringlite-core) || fail "pkg-config cannot read ringlite-core.pc"
echo "   ringlite $version, $kind libraries"

# 2. Every installed header compiles on its own, from the prefix alone (no header includes
# one that was not installed, and none warns in a user's -Wall -Wextra -Wpedantic build).
echo "== compile each installed header on its own"
headers=$(cd "$prefix/include" && ls ringlite/*.hpp)
for h in $headers; do echo "$h"; done |
  xargs -P 2 -I{} sh -c 'echo "#include \"{}\"" | "$1" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror \
    -I"$2" -x c++ - 2>&1 || echo "package test: installed header {} does not compile on its own"' \
    sh "$cxx" "$prefix/include" >"$tmp/headers.log"
[ -s "$tmp/headers.log" ] && { cat "$tmp/headers.log" >&2; fail "installed headers do not compile on their own"; }
[ "$(wc -w <<<"$headers")" -ge 14 ] || fail "only $(wc -w <<<"$headers") headers installed: $headers"

# The consumers, each in its own build folder; nothing but the prefix is searched.
cmake_consumer() {  # cmake_consumer DIR: configures and builds tests/package/DIR
  run "$1.log" "configure $1 (CMake, find_package)" \
    "$cmake" -S "$here/$1" -B "$tmp/$1" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DRINGLITE_SCHEMA="$schema"
  run "$1.log" "build $1" "$cmake" --build "$tmp/$1" -j 2
  local found
  found=$(sed -n 's/^ringlite_DIR:PATH=//p' "$tmp/$1/CMakeCache.txt")
  [ "$found" = "$prefix/$libdir/cmake/ringlite" ] || fail "$1 found ringlite in '$found', not in $prefix"
}
cmake_consumer cmake-core
cmake_consumer cmake-sql
mkdir "$tmp/pkg-config"
run pkg-config.log "build pkg-config (Makefile, pkg-config)" \
  make -C "$tmp/pkg-config" -f "$here/pkg-config/Makefile" CXX="$cxx" SCHEMA="$schema"
producers=("$tmp/cmake-core/producer_cmake" "$tmp/pkg-config/producer_pkgconfig")
checks=("$tmp/cmake-sql/schema_check_cmake" "$tmp/pkg-config/schema_check_pkgconfig")
# CMake gives its programs a RUNPATH to the shared libraries; the Makefile's, like most
# plain builds, do not, so with shared libraries they are run as a user would have to.
libpath=
[ "$kind" = shared ] && libpath="$prefix/$libdir"

# 3. A real bridge from the prefix, and the consumers against its ring.
cat >"$cfg" <<TOML
[ring]
name = "$ring"
capacity = "1MiB"
[schema]
file = "$schema"
[database]
path = "$tmp/package.db"
TOML
echo "== run the installed bridge on ring '$ring'"
"$rl" bridge -c "$cfg" --stats-interval 0 2>"$tmp/bridge.log" &
bridge=$!
for _ in $(seq 100); do "$rl" stat -c "$cfg" >/dev/null 2>&1 && break; sleep 0.05; done
"$rl" stat -c "$cfg" >/dev/null 2>&1 || { cat "$tmp/bridge.log" >&2; fail "the bridge did not create ring '$ring'"; }

for exe in "${checks[@]}"; do
  out=$(LD_LIBRARY_PATH="$libpath" "$exe" "$cfg" 2>&1) || fail "$exe: $out"
  [ "$out" = "ring '$ring': 2 record types" ] || fail "$exe printed '$out', not \"ring '$ring': 2 record types\""
done

echo "== run both producers (1000 records each)"
pids=()
for exe in "${producers[@]}"; do
  LD_LIBRARY_PATH="$libpath" "$exe" "$ring" 1000 >"$exe.out" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  [ "$rc" = 0 ] || { cat "${producers[$i]}.out" >&2; fail "${producers[$i]} exited with $rc"; }
  grep -qx "ringlite $version: wrote 1000 sensor records tagged $((i + 1))" "${producers[$i]}.out" ||
    fail "${producers[$i]} printed '$(cat "${producers[$i]}.out")'"
done

query() { "$rl" query -c "$cfg" --format csv "$1" | tr -d '\r' | tail -n +2; }
deadline=$((SECONDS + 30))
until [ "$(query 'SELECT count(*) FROM sensor' 2>/dev/null)" = 2000 ]; do
  [ $SECONDS -lt $deadline ] || { cat "$tmp/bridge.log" >&2; fail "the bridge persisted $(query 'SELECT count(*) FROM sensor') of 2000 records in 30 s"; }
  sleep 0.1
done
kill -TERM "$bridge"
rc=0
wait "$bridge" || rc=$?
bridge=
[ "$rc" = 0 ] || { cat "$tmp/bridge.log" >&2; fail "the bridge exited with $rc after SIGTERM"; }
got=$(query 'SELECT a, count(*), count(DISTINCT buffer) FROM sensor GROUP BY a ORDER BY a' | tr '\n' ' ')
[ "$got" = "1,1000,1000 2,1000,1000 " ] || fail "expected 1000 distinct records from each producer (a,count,distinct: '1,1000,1000 2,1000,1000'), got '$got'"
echo "   2000 records persisted, 1000 from each producer; the bridge stopped with exit 0"

# 4. The core-only producers have no SQLite in them, and load none. First, that the checks
# see SQLite where there is some: in the SQL tier's users.
echo "== check the core-only producers for SQLite"
for exe in "${checks[@]}"; do
  syms=$(nm "$exe") || fail "nm cannot read $exe"
  deps=$(LD_LIBRARY_PATH="$libpath" ldd "$exe") || fail "ldd cannot read $exe"
  grep -q ' sqlite3_' <<<"$syms" || grep -q 'libsqlite3' <<<"$deps" ||
    fail "neither nm nor ldd finds SQLite in $exe, which uses it: the checks prove nothing"
done
for exe in "${producers[@]}"; do
  syms=$(nm -C "$exe") || fail "nm cannot read $exe"
  if [ "$kind" = static ]; then  # core is inside the program; in a shared build it is imported
    grep -q ' T ringlite::Producer::open' <<<"$syms" || fail "$exe does not contain ringlite::Producer::open (is it stripped?)"
  else
    grep -q ' U ringlite::Producer::open' <<<"$syms" || fail "$exe does not import ringlite::Producer::open"
  fi
  if bad=$(grep -i 'sqlite' <<<"$syms"); then fail "$exe has SQLite symbols: $(head -5 <<<"$bad")"; fi
  deps=$(LD_LIBRARY_PATH="$libpath" ldd "$exe") || fail "ldd cannot read $exe"
  if bad=$(grep -E 'sqlite|libringlite\.so' <<<"$deps"); then fail "$exe loads $bad"; fi
done

echo "package test: ok ($kind libraries, $((SECONDS - started)) s)"

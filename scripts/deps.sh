# Sourced by scripts/test and scripts/demo: installs the Debian packages ringlite needs,
# and only those that are missing. Nothing is fetched from anywhere but Debian's archive.
ringlite_packages=(
  g++ cmake make pkg-config sqlite3 clang-format
  libsqlite3-dev libsqlitecpp-dev libfmt-dev doctest-dev libcli11-dev libtomlplusplus-dev
  nlohmann-json3-dev
)

ringlite_ensure_deps() {
  local missing=() p
  for p in "${ringlite_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "ringlite: installing missing Debian packages: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

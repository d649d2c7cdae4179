# Sourced by tests/run.sh and jobs/*.sh: configure (on first use) and build losscape.
#   losscape_build [TARGET...]   builds TARGETs (default: everything) in $LOSSCAPE_BUILD
# LOSSCAPE_BUILD defaults to build/ in the repository; BUILD_TYPE (default Release) and
# UNITY_BUILD (default ON: CMake compiles each target's sources in batches of 8, each batch one
# compiler run, which halves a 2-core build; OFF compiles file by file, quicker to rebuild after
# an edit to one file) apply when the directory is first configured, so an existing build keeps
# its configuration and only rebuilds what changed.

losscape_root=${losscape_root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LOSSCAPE_BUILD=${LOSSCAPE_BUILD:-$losscape_root/build}

losscape_build() {
  local args=()
  [[ -f $LOSSCAPE_BUILD/CMakeCache.txt ]] ||
    args+=(-DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DCMAKE_UNITY_BUILD="${UNITY_BUILD:-ON}")
  cmake -S "$losscape_root" -B "$LOSSCAPE_BUILD" "${args[@]}"
  local targets=()
  local t
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$LOSSCAPE_BUILD" -j "$(nproc)" "${targets[@]}"
}

# Sourced by tests/run.sh and jobs/*.sh: configure (on first use) and build losscape.
#   losscape_build [TARGET...]   builds TARGETs (default: everything) in $LOSSCAPE_BUILD
# LOSSCAPE_BUILD defaults to build/ in the repository; BUILD_TYPE (default Release) applies when
# the directory is first configured, so an existing build keeps its configuration and only
# rebuilds what changed.

losscape_root=${losscape_root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LOSSCAPE_BUILD=${LOSSCAPE_BUILD:-$losscape_root/build}

losscape_build() {
  local args=()
  [[ -f $LOSSCAPE_BUILD/CMakeCache.txt ]] || args+=(-DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}")
  cmake -S "$losscape_root" -B "$LOSSCAPE_BUILD" "${args[@]}"
  local targets=()
  local t
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$LOSSCAPE_BUILD" -j "$(nproc)" "${targets[@]}"
}

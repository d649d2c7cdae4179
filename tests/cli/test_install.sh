#!/usr/bin/env bash
# `cmake --install` puts the binary, the headers and a CMake package into a prefix, and another
# project can find_package(losscape), link losscape::core and call the library.
# Environment (set by CTest): LOSSCAPE_BUILD_DIR (the configured, built tree), TEST_WORK_DIR.
set -euo pipefail
: "${LOSSCAPE_BUILD_DIR:?set LOSSCAPE_BUILD_DIR to a built losscape tree}"
WORK=${TEST_WORK_DIR:-$(mktemp -d)}
rm -rf "$WORK" && mkdir -p "$WORK"
prefix=$WORK/prefix

cmake --install "$LOSSCAPE_BUILD_DIR" --prefix "$prefix" >"$WORK/install.log"
for f in bin/losscape include/losscape/grid.hpp include/losscape/version.hpp; do
  [[ -e $prefix/$f ]] || { echo "FAIL: $f not installed"; exit 1; }
done
config=$(find "$prefix" -name losscapeConfig.cmake | head -1)
[[ -n $config ]] || { echo "FAIL: losscapeConfig.cmake not installed"; exit 1; }
"$prefix/bin/losscape" --version
echo "ok   installed: bin/losscape, headers, $(realpath --relative-to="$prefix" "$config")"

# A consumer project that knows nothing of the source tree.
mkdir -p "$WORK/consumer"
cat >"$WORK/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(consumer LANGUAGES C CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(losscape 0.1 REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE losscape::core)
EOF
cat >"$WORK/consumer/main.cpp" <<'EOF'
#include <losscape/grid.hpp>
#include <losscape/version.hpp>

#include <cstdio>

int main() {
  auto axis = losscape::parse_axis("-1:1:5");
  auto c = axis.coordinates();
  std::printf("losscape %s: %zu points, %g .. %g\n", losscape::version, c.size(), c.front(),
              c.back());
  return (c.size() == 5 && c[2] == 0.0) ? 0 : 1;
}
EOF
cmake -S "$WORK/consumer" -B "$WORK/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$WORK/consumer-configure.log" 2>&1 ||
  { cat "$WORK/consumer-configure.log"; echo "FAIL: find_package(losscape)"; exit 1; }
grep -q "losscape_DIR:PATH=$prefix" "$WORK/consumer/build/CMakeCache.txt" ||
  { grep losscape_DIR "$WORK/consumer/build/CMakeCache.txt"; echo "FAIL: found another losscape"; exit 1; }
cmake --build "$WORK/consumer/build" >"$WORK/consumer-build.log" 2>&1 ||
  { cat "$WORK/consumer-build.log"; echo "FAIL: consumer does not build"; exit 1; }
"$WORK/consumer/build/consumer"
echo "ok   consumer project built against the installed package and ran"

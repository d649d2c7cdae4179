#!/usr/bin/env bash
# The test command (README): on a fresh Debian 12 machine, as root, installs the Debian packages
# that are missing (cmake/debian-packages.txt), configures and builds build/, and runs the whole
# suite through CTest. Exits non-zero when anything fails.
#   LOSSCAPE_BUILD=dir   build directory (default: build/)
#   BUILD_TYPE=type      CMake build type for a new build directory (default: Release)
#   UNITY_BUILD=OFF      a new build directory compiled file by file (default ON: in batches)
#   CTEST_ARGS="..."     extra ctest arguments, e.g. CTEST_ARGS="-R unit"
#   LOSSCAPE_ALLOW_SKIPS=1   accept skipped tests (by default a skipped test fails the run: see below)
set -euo pipefail
cd "$(dirname "$0")/.."
source jobs/lib/ensure-deps.sh
source jobs/lib/build.sh

ensure_deps
losscape_build
log=$(mktemp "${TMPDIR:-/tmp}/losscape-ctest.XXXXXX")
trap 'rm -f "$log"' EXIT
rc=0
# shellcheck disable=SC2086  # CTEST_ARGS is a list of words
ctest --test-dir "$LOSSCAPE_BUILD" --output-on-failure -j "$(nproc)" ${CTEST_ARGS:-} 2>&1 |
  tee "$log" || rc=$?
# A skipped test (exit 77: a tool, module or service it needs is missing or did not start) passes
# in CTest's count; here it fails the run, since ensure_deps installed everything the suite needs.
# The one exception: the CUDA syntax check needs CUDA's headers, which Debian's main archive does
# not have (the GPU machine's check covers that code).
allowed_skips=("build: CUDA graph code compiles")
skipped=()
while IFS= read -r line; do
  if [[ $line =~ ^[[:space:]]*[0-9]+\ -\ (.*)\ \((Skipped|Disabled)\)$ ]]; then
    name=${BASH_REMATCH[1]} ok=0
    for a in "${allowed_skips[@]}"; do [[ $name == "$a" ]] && ok=1; done
    ((ok)) || skipped+=("$name")
  fi
done < <(sed -n '/^The following tests did not run:/,/^$/p' "$log")
if ((${#skipped[@]} > 0)); then
  if [[ ${LOSSCAPE_ALLOW_SKIPS:-0} == 1 ]]; then
    echo "tests/run.sh: ${#skipped[@]} test(s) skipped, accepted by LOSSCAPE_ALLOW_SKIPS=1 (why: their output"
  else
    echo "tests/run.sh: ${#skipped[@]} test(s) skipped, which counts as a failure here (why: their output"
    ((rc != 0)) || rc=1
  fi
  echo "in $LOSSCAPE_BUILD/Testing/Temporary/LastTest.log; LOSSCAPE_ALLOW_SKIPS=1 accepts skips):"
  printf '  %s\n' "${skipped[@]}"
fi
exit "$rc"

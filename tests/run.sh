#!/usr/bin/env bash
# The test command (README): on a fresh Debian 12 machine, as root, installs the Debian packages
# that are missing (cmake/debian-packages.txt), configures and builds build/, and runs the whole
# suite through CTest. Exits non-zero when anything fails.
#   LOSSCAPE_BUILD=dir   build directory (default: build/)
#   BUILD_TYPE=type      CMake build type for a new build directory (default: Release)
#   CTEST_ARGS="..."     extra ctest arguments, e.g. CTEST_ARGS="-R unit"
set -euo pipefail
cd "$(dirname "$0")/.."
source jobs/lib/ensure-deps.sh
source jobs/lib/build.sh

ensure_deps
losscape_build
# shellcheck disable=SC2086  # CTEST_ARGS is a list of words
ctest --test-dir "$LOSSCAPE_BUILD" --output-on-failure -j "$(nproc)" ${CTEST_ARGS:-}

#!/usr/bin/env bash
# The CUDA-only code (CUDA graphs, src/pass_graph.cpp under LOSSCAPE_CUDA_GRAPHS) is compiled only
# by a CUDA build of LibTorch, which Debian does not ship; this checks here, with the compiler's
# -fsyntax-only, that it still compiles against LibTorch's ATen/c10 CUDA headers (Debian's
# libtorch-dev installs them) and CUDA's own headers (CUDA_HOME, default /usr/local/cuda). Skipped
# (77) where either is missing. Running it is the GPU check's job (bench/gpu/device-check.sh).
# Environment (CTest): CXX, TORCH_INCLUDES (space-separated), LOSSCAPE_SOURCE_DIR,
# LOSSCAPE_BUILD_DIR, TEST_WORK_DIR.
set -euo pipefail
cuda=${CUDA_HOME:-/usr/local/cuda}/include
if [[ ! -f $cuda/cuda_runtime_api.h ]]; then
  echo "SKIP: no CUDA headers in $cuda (set CUDA_HOME)"
  exit 77
fi
incs=()
have_graph=0 have_macros=0
for d in $TORCH_INCLUDES; do
  # as system headers (their warnings are not ours), except the compiler's own system folders
  [[ $d == /usr/include || $d == /usr/local/include ]] || incs+=(-isystem "$d")
  [[ -f $d/ATen/cuda/CUDAGraph.h ]] && have_graph=1
  [[ -f $d/c10/cuda/impl/cuda_cmake_macros.h ]] && have_macros=1
done
if ((!have_graph)); then
  echo "SKIP: this LibTorch's headers have no ATen/cuda/CUDAGraph.h"
  exit 77
fi
mkdir -p "$TEST_WORK_DIR"
if ((!have_macros)); then
  # A CPU LibTorch lacks the header its CUDA build generates; its one definition, as there.
  mkdir -p "$TEST_WORK_DIR/stub/c10/cuda/impl"
  echo '#define C10_CUDA_BUILD_SHARED_LIBS' >"$TEST_WORK_DIR/stub/c10/cuda/impl/cuda_cmake_macros.h"
  incs=(-isystem "$TEST_WORK_DIR/stub" "${incs[@]}")
fi
set -x
"$CXX" -std=c++17 -fsyntax-only -Wall -Wextra -Werror=return-type -DLOSSCAPE_CUDA_GRAPHS \
  -I"$LOSSCAPE_SOURCE_DIR/include" -I"$LOSSCAPE_BUILD_DIR/generated" "${incs[@]}" -isystem "$cuda" \
  "$LOSSCAPE_SOURCE_DIR/src/pass_graph.cpp"

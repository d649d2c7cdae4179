#!/usr/bin/env bash
# The GPU checks of losscape in one run, for a GPU machine that has CUDA, CMake, a C++ compiler and
# PyTorch (with LibTorch and its CMake config) but can install nothing: the Debian 12 packages of
# bench/gpu/prepare.sh (bench/gpu/debs/*.deb) are unpacked with dpkg -x into $LOSSCAPE_DEPS and
# used from there (Open MPI relocated through OPAL_PREFIX, HDF5 through a copy of its h5pcc).
#
#   bench/gpu/device-check.sh [--dry-run]
#
# Steps, each logged with its time; the run goes on past a failed check and exits 1 if any failed:
#   1. unpack the packages, build losscape and losscape_bench against PyTorch's LibTorch (CUDA)
#   2. binding: 2 ranks on the node's GPUs (rank among the node's ranks modulo the visible GPUs),
#      CUDA_VISIBLE_DEVICES respected, a clear error for a GPU that is not there
#   3. correctness: the same sweep (fp32, 2 ranks) on the GPU and on the CPU agree to 1e-4, also
#      with 4 points per forward pass and with --data-shards 2; with CUDA graphs (the default)
#      and without them; the graphs were recorded and none was turned off (the run log's events);
#      a sweep stopped and resumed against an uninterrupted one (bit for bit or not: reported)
#   4. speed, in this order: the benchmark of ResNet-56 (50,000 CIFAR-shaped images, 3x3 grid,
#      1 rank) in tf32 with each setting's gain and the half types' deviation, then in bf16 and
#      fp16; cnn_small and ResNet-20 sweeps (2,000 images) with CUDA graphs off and on; their
#      points per forward 1..16
#   5. if time is left: CPU scaling of ResNet-56 sweeps from 1 to 4 ranks, each on 2 cores of its
#      own (the node's CPUs; issue #8's >= 0.95 target); then the ResNet-56 benchmark in fp32
# --dry-run: the same steps on a machine without a GPU (CPU, small sizes), to test this script.
# CHECKS=resnet56: after the build, only ResNet-56 sweeps of 50,000 images on a 6 x 6 grid (tf32
# with the settings table, bf16, tf32 one point per pass, fp16).
#
# Environment: OUT (results folder; default bench/results/gpu-<host>, with --dry-run
# build-gpu/dry-run-results), LOSSCAPE_DEPS (default
# /opt/losscape-deps), TORCH_PREFIX (LibTorch's CMake prefix; default: python3's
# torch.utils.cmake_prefix_path), JOBS (build jobs; default: nproc), BUDGET (seconds the whole
# run may take, e.g. 560 under a 590 s limit: benchmarks that would not fit are skipped; 0: none).
# Results: device-check.log, build.log, results.jsonl and results.md (bench/report.py), gpu.txt.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dry=0
[[ ${1:-} == --dry-run ]] && dry=1
# (a dry run's results go to the build folder, not among the GPU results of the repository,
# where a GPU machine named like this one would find them mixed into its own)
if ((dry)); then out=${OUT:-$root/build-gpu/dry-run-results}; else out=${OUT:-$root/bench/results/gpu-$(hostname -s)}; fi
deps=${LOSSCAPE_DEPS:-/opt/losscape-deps}
budget=${BUDGET:-0}
build=$root/build-gpu
work=$(mktemp -d "${TMPDIR:-/tmp}/losscape-gpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
exec > >(tee -a "$out/device-check.log") 2>&1
t_start=$SECONDS
failed=()
step() { echo; echo "== [$((SECONDS - t_start)) s] $*"; }
fail() { echo "FAILED: $*"; failed+=("$*"); }

# ---- 1. dependencies and build ----
step "unpack $(ls "$root"/bench/gpu/debs/*.deb 2>/dev/null | wc -l) Debian packages into $deps"
ls "$root"/bench/gpu/debs/*.deb >/dev/null 2>&1 || { echo "no bench/gpu/debs/*.deb: run bench/gpu/prepare.sh first"; exit 1; }
mkdir -p "$deps/alt"
for f in "$root"/bench/gpu/debs/*.deb; do dpkg -x "$f" "$deps"; done
if [[ ! -e /usr/include/zlib.h ]]; then
  echo "no /usr/include/zlib.h here: zlib from bench/gpu/debs/optional"
  for f in "$root"/bench/gpu/debs/optional/*.deb; do dpkg -x "$f" "$deps"; done
fi
lib=$deps/usr/lib/x86_64-linux-gnu
# What Debian's alternatives system would link (mpicc, mpirun, libpsm_infinipath.so.1; BLAS and
# LAPACK through their folders on LD_LIBRARY_PATH), and an h5pcc with the new prefix.
ln -sf "$deps"/usr/lib/libpsm1/libpsm_infinipath.so.1.16 "$deps/alt/libpsm_infinipath.so.1"
for t in mpicc mpicxx mpiexec mpirun; do ln -sf "$deps/usr/bin/$t.openmpi" "$deps/alt/$t"; done
sed -e "s|^prefix=\"/usr\"|prefix=\"$deps/usr\"|" -e "s|/usr/lib/x86_64-linux-gnu|$lib|g" \
    -e "s|/usr/include|$deps/usr/include|g" -e 's|^H5BLD_LIBS=.*|H5BLD_LIBS="-lz -ldl -lm"|' \
    "$deps/usr/bin/h5pcc.openmpi" >"$deps/alt/h5pcc"  # shared libhdf5 brings its own libraries
chmod +x "$deps/alt/h5pcc"
export OPAL_PREFIX=$deps/usr HDF5_USE_SHLIB=yes
# PMIx (not relocated) cannot find its help file for its optional compression; silence that.
export PMIX_MCA_pcompress_base_silence_warning=1
export PATH=$deps/alt:$deps/usr/bin:$PATH
[[ -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null && export PATH=$PATH:/usr/local/cuda/bin
export LD_LIBRARY_PATH=$deps/alt:$lib:$deps/lib/x86_64-linux-gnu:$lib/openmpi/lib:$lib/hdf5/openmpi:$lib/blas:$lib/lapack${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# One node, shared memory only: no network transports to probe.
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi,psm,psm2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI 4.1 wants its remote-start agent (ssh) to exist even on one node; none is needed here.
command -v ssh >/dev/null || export OMPI_MCA_plm_rsh_agent=false
mpi=(mpirun --oversubscribe --bind-to none)

step "machine"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  nproc; g++ --version | head -1; cmake --version | head -1; nvcc --version 2>/dev/null | tail -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1
  mpirun --version 2>&1 | head -1
} | tee "$out/gpu.txt"

step "configure and build (log: build.log)"
torch_prefix=${TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
build_losscape() {  # build_losscape [CMAKE ARGS...] >> build.log
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="${torch_prefix:+$torch_prefix;}$deps/usr" \
    -DMPI_C_COMPILER="$deps/alt/mpicc" -DMPI_CXX_COMPILER="$deps/alt/mpicxx" \
    -DHDF5_C_COMPILER_EXECUTABLE="$deps/alt/h5pcc" \
    -DLOSSCAPE_ARPACK_INCLUDE_DIR="$deps/usr/include/arpack" \
    -DLOSSCAPE_ARPACK_LIBRARY="$lib/libarpack.so" \
    -DLOSSCAPE_BUILD_TESTS=OFF "$@" &&
    cmake --build "$build" -j "${JOBS:-$(nproc)}" --target losscape losscape_bench
}
t_build=$SECONDS
if ! build_losscape >"$out/build.log" 2>&1; then
  grep -E -m 20 'error|Error|not found' "$out/build.log"
  # src/pass_graph.cpp is the only code compiled for CUDA alone: without it, the other checks
  # can still run (and this one is recorded as failed)
  fail "build with CUDA graphs"
  echo "== build again with -DLOSSCAPE_CUDA_GRAPHS=OFF" >>"$out/build.log"
  if ! build_losscape -DLOSSCAPE_CUDA_GRAPHS=OFF >>"$out/build.log" 2>&1; then
    tail -n 30 "$out/build.log"
    echo "build failed after $((SECONDS - t_start)) s"
    exit 1
  fi
fi
grep -E 'Found (Torch|MPI|HDF5)|CUDA|cuDNN|C\+\+ standard' "$out/build.log" | head -12
ls="$build/losscape"
bench="$build/bench/losscape_bench"
ldd "$ls" | grep 'not found' && fail "libraries not found"
((dry)) || ldd "$ls" | grep libtorch_cuda >/dev/null || fail "losscape is not linked with libtorch_cuda"
echo "configured and built in $((SECONDS - t_build)) s"

# TensorFloat-32 is a GPU arithmetic (losscape refuses --precision tf32 on a CPU): the dry run
# computes fp32 wherever the GPU run computes tf32.
if ((dry)); then
  dev=cpu images=1000 small=200 arch=resnet20 tf32=fp32
else
  dev=cuda images=50000 small=2000 arch=resnet56 tf32=tf32
fi
# The surface files are read through `losscape info --json` (Python's standard library only: the
# GPU machine's Python need not have h5py or numpy).
last_run() {  # last_run FILE KEY: a key of the file's last run, one line per item
  "$ls" info --json "$1" | python3 -c "import sys, json
v = json.load(sys.stdin)['runs'][-1].get(sys.argv[1], [])
print('\n'.join(v) if isinstance(v, list) else v)" "$2"
}
devices() { last_run "$1" devices | paste -sd'|'; }

# ---- benchmark helpers ----
# In order of what the figures are for; with BUDGET, a benchmark that would end past it (by a
# rough estimate of its seconds) is skipped and listed, so that the results are written in time.
skipped=()
have_time() {  # have_time SECONDS WHAT
  if ((budget > 0 && SECONDS - t_start + $1 > budget)); then
    echo "skipped (BUDGET=$budget s): $2"
    skipped+=("$2")
    return 1
  fi
}
grid=(--x -1:1:3 --y -1:1:3)
((dry)) && grid=(--x -1:1:2 --y -1:1:2)
precision_bench() {  # precision_bench P [FLAGS...]
  local p=$1
  shift
  step "benchmark: $arch, $images images, ${grid[*]}, --precision $p $*"
  "$bench" --arch "$arch" --images "$images" "${grid[@]}" --device "$dev" --precision "$p" \
    --work "$work" --json "$out/results.jsonl" "$@" || fail "benchmark $p"
}

finish() {  # the report and the summary; the exit status says whether every check passed
  python3 "$root/bench/report.py" "$out/results.jsonl" >"$out/results.md" || fail "report"
  cat "$out/results.md"
  step "done in $((SECONDS - t_start)) s; failed: ${#failed[@]}; skipped: ${#skipped[@]}"
  for f in "${failed[@]}"; do echo "  failed: $f"; done
  for f in "${skipped[@]}"; do echo "  skipped: $f"; done
  ((${#failed[@]} == 0))
}

# CHECKS=resnet56: only the ResNet-56 sweeps of 50,000 images, on a 6 x 6 grid (long enough for
# the one-time costs of a sweep's start to matter little): tf32 with the settings table, bf16,
# tf32 with one point per forward pass, fp16. (No --points-per-forward table here: each of its
# nine stacked settings is a new set of convolution shapes for cuDNN to autotune at 50,000
# images; the sweep's own start-up timing of points per pass is in the report.)
if [[ ${CHECKS:-all} == resnet56 ]]; then
  grid=(--x -1:1:6 --y -1:1:6)
  ((dry)) && grid=(--x -1:1:2 --y -1:1:2)
  have_time 90 "benchmark tf32" &&
    precision_bench "$tf32" --optimizations --forward-seconds 1
  have_time 35 "benchmark bf16" && precision_bench bf16 --forward-seconds 1
  have_time 35 "benchmark tf32, 1 point per forward" &&
    precision_bench "$tf32" --forward-seconds 1 --sweep-points-per-forward 1
  ((dry)) || { have_time 35 "benchmark fp16" && precision_bench fp16 --forward-seconds 1; }
  finish
  exit
fi

# ---- 2. binding: one GPU per rank by node-local rank ----
step "inputs: a CIFAR-shaped data set of $images images and an $arch model (losscape_bench)"
"$bench" --arch "$arch" --images "$images" --x 0:0:1 --y "" --work "$work" --device "$dev" \
  --forward-seconds 0.2 || fail "bench set-up"
model=$work/model_$arch.h5
common=(--model-file "$model" --dataset cifar10 --data-dir "$work" --splits test --quiet)

step "binding: 2 ranks, --device auto"
"${mpi[@]}" -n 2 "$ls" sweep "${common[@]}" --samples "$small" --x -1:1:5 --out "$work/bind.h5" ||
  fail "sweep on 2 ranks"
d=$(devices "$work/bind.h5") || fail "read bind.h5"
echo "devices: $d"
if ((!dry)); then
  [[ $(grep -o 'cuda:0' <<<"$d" | wc -l) == 2 ]] || fail "2 ranks on 1 GPU: both should run on cuda:0"
  step "binding: CUDA_VISIBLE_DEVICES= (no GPU visible) falls back to the CPU with --device auto"
  CUDA_VISIBLE_DEVICES= "${mpi[@]}" -x CUDA_VISIBLE_DEVICES -n 1 "$ls" sweep "${common[@]}" \
    --samples 200 --x -1:1:2 --out "$work/novis.h5" || fail "sweep with CUDA_VISIBLE_DEVICES="
  d=$(devices "$work/novis.h5")
  echo "devices: $d"
  [[ $d == cpu* ]] || fail "CUDA_VISIBLE_DEVICES= with --device auto should run on the CPU"
  step "binding: --device cuda:7 on a machine with fewer GPUs is refused with one line"
  msg=$("$ls" eval --model-file "$model" --dataset cifar10 --data-dir "$work" --device cuda:7 2>&1)
  rc=$?
  echo "exit $rc: $msg"
  [[ $rc == 1 || $rc == 2 ]] || fail "--device cuda:7 should be refused"
fi

# ---- 3. correctness: GPU against CPU ----
step "correctness: the same 2D sweep (fp32, 2 ranks) on $dev and on the CPU"
"$ls" directions --model-file "$model" --out "$work/dirs.h5" --quiet || fail "directions"
for d in "$dev" cpu; do
  "${mpi[@]}" -n 2 "$ls" sweep "${common[@]}" --samples "$small" --directions "$work/dirs.h5" \
    --x -1:1:3 --y -1:1:3 --device "$d" --precision fp32 --out "$work/sweep_$d.h5" ||
    fail "sweep on $d"
done
# and with 4 grid points per forward pass (grouped convolutions) on the device
"${mpi[@]}" -n 2 "$ls" sweep "${common[@]}" --samples "$small" --directions "$work/dirs.h5" \
  --x -1:1:3 --y -1:1:3 --device "$dev" --precision fp32 --points-per-forward 4 \
  --out "$work/sweep_${dev}_ppf4.h5" || fail "sweep on $dev, 4 points per forward"
# and with the data split over the 2 ranks (--data-shards 2: one group, partial sums reduced)
"${mpi[@]}" -n 2 "$ls" sweep "${common[@]}" --samples "$small" --directions "$work/dirs.h5" \
  --x -1:1:3 --y -1:1:3 --device "$dev" --precision fp32 --data-shards 2 \
  --out "$work/sweep_${dev}_shards.h5" || fail "sweep on $dev, --data-shards 2"
same_surface() {  # same_surface A B WHAT: test loss and accuracy within 1e-4 (relative)
  "$ls" info --json --values "$1" >"$work/a.json" && "$ls" info --json --values "$2" >"$work/b.json" &&
    python3 - "$work/a.json" "$work/b.json" "$3" <<'PY'
import sys, json
a, b = (json.load(open(p))["values"] for p in sys.argv[1:3])
worst = 0.0
for k in ("test_loss", "test_acc"):
    pa = [v for row in a[k] for v in row]
    pb = [v for row in b[k] for v in row]
    rel = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(pa, pb))
    worst = max(worst, rel)
    print(f"{k}: max relative difference {sys.argv[3]} {rel:.2e}")
sys.exit(0 if worst <= 1e-4 and len(pa) == len(pb) else 1)
PY
}
if [[ $dev != cpu ]]; then
  same_surface "$work/sweep_$dev.h5" "$work/sweep_cpu.h5" "GPU vs CPU" || fail "GPU and CPU surfaces differ"
fi
same_surface "$work/sweep_${dev}_ppf4.h5" "$work/sweep_cpu.h5" "4 points per forward on $dev vs CPU" ||
  fail "4 points per forward differ"
same_surface "$work/sweep_${dev}_shards.h5" "$work/sweep_cpu.h5" "--data-shards 2 on $dev vs CPU" ||
  fail "--data-shards 2 differs"
# CUDA graphs (--cuda-graphs auto, the default): each rank records its passes at its second
# point and checks the replay against an ordinary pass; the same sweep without them must agree
"${mpi[@]}" -n 2 "$ls" sweep "${common[@]}" --samples "$small" --directions "$work/dirs.h5" \
  --x -1:1:3 --y -1:1:3 --device "$dev" --precision fp32 --cuda-graphs off \
  --out "$work/sweep_${dev}_nographs.h5" || fail "sweep on $dev without CUDA graphs"
same_surface "$work/sweep_$dev.h5" "$work/sweep_${dev}_nographs.h5" "CUDA graphs vs none on $dev" ||
  fail "CUDA graphs change the surface"
# cuDNN's fused convolution + ReLU: --cudnn-fusion on uses it wherever the start-up check (fused
# logits against plain ones) passes; the surface must agree with one without it
"${mpi[@]}" -n 2 "$ls" sweep "${common[@]}" --samples "$small" --directions "$work/dirs.h5" \
  --x -1:1:3 --y -1:1:3 --device "$dev" --precision fp32 --cudnn-fusion on \
  --out "$work/sweep_${dev}_fused.h5" || fail "sweep on $dev with --cudnn-fusion on"
echo "--cudnn-fusion on: used $(last_run "$work/sweep_${dev}_fused.h5" cudnn_fusion);" \
  "start-up: $(last_run "$work/sweep_${dev}_fused.h5" startup_timing)"
same_surface "$work/sweep_${dev}_fused.h5" "$work/sweep_${dev}_nographs.h5" "cuDNN fusion on vs plain on $dev" ||
  fail "cuDNN fusion changes the surface"
graph_events() { last_run "$1" cuda_graph_events; }
for f in "sweep_$dev" "sweep_${dev}_ppf4"; do
  ev=$(graph_events "$work/$f.h5") || fail "read $f.h5"
  echo "$f.h5: ${ev:-no CUDA graph events}"
  if ((!dry)); then
    grep -q recorded <<<"$ev" || fail "$f: no CUDA graph was recorded"
    grep -q 'turned off' <<<"$ev" && fail "$f: a CUDA graph was turned off"
  fi
done

# Restarts on the device: a sweep stopped after 4 points and resumed (taking the first start's
# choices), against one uninterrupted run given those choices. Reported, not required: bit for
# bit is tested on the CPU in CI; on a GPU cuDNN's autotuning may pick other algorithms at each
# start (docs/sweep.md, "Bit for bit").
step "restarts on $dev: a 3 x 3 sweep stopped after 4 points and resumed, against one uninterrupted run"
rs=("${mpi[@]}" -n 1 "$ls" sweep "${common[@]}" --samples "$small" --directions "$work/dirs.h5"
    --x -1:1:3 --y -1:1:3 --device "$dev")
"${rs[@]}" --stop-after 4 --out "$work/restart.h5"
rc=$?
[[ $rc == 75 ]] || fail "restart: the first start should exit 75 (got $rc)"
"${rs[@]}" --out "$work/restart.h5" || fail "restart: the resumed start"
choice=$("$ls" info --json "$work/restart.h5" | python3 -c "import sys, json
r = json.load(sys.stdin)['runs'][0]
print(r['batch_size'], r['memory_format'], r['points_per_forward'], 'on' if r['cudnn_fusion'] else 'off')")
echo "the first start's choices (batch, layout, points per forward, cuDNN fusion): $choice"
echo "the resumed start: $(last_run "$work/restart.h5" startup_timing)"
read -r b m k f <<<"$choice"
"${rs[@]}" --batch-size "$b" --memory-format "$m" --points-per-forward "$k" --cudnn-fusion "$f" \
  --out "$work/restart_whole.h5" || fail "restart: the uninterrupted run"
"$ls" info --json --values "$work/restart.h5" >"$work/ra.json" &&
  "$ls" info --json --values "$work/restart_whole.h5" >"$work/rb.json" &&
  python3 - "$work/ra.json" "$work/rb.json" <<'PY' || fail "restart: compare the surfaces"
import sys, json
a, b = (json.load(open(p))["values"] for p in sys.argv[1:3])
for k in ("test_loss", "test_acc"):
    pa = [v for row in a[k] for v in row]
    pb = [v for row in b[k] for v in row]
    d = max(abs(x - y) for x, y in zip(pa, pb))
    print(f"restart, {k}: {'bit for bit' if pa == pb else 'NOT bit for bit'} the uninterrupted run's "
          f"(max |difference| {d:.3e} over {len(pa)} points)")
PY

# ---- 4. speed ----
# the target: ResNet-56, 50,000 images, <= 0.3 s per point in tf32; each setting's gain
have_time 120 "benchmark tf32" && precision_bench "$tf32" --optimizations --forward-seconds 2
# the sweep in the half types (their forward rates and deviations are also in tf32's table)
for p in bf16 fp16; do
  ((dry)) && [[ $p == fp16 ]] && continue
  have_time 45 "benchmark $p" && precision_bench "$p" --forward-seconds 1
done
# CUDA graphs: the sweep of small networks with and without them (a launch per pass or hundreds)
for a2 in cnn_small resnet20; do
  for g in off auto; do
    have_time 20 "benchmark $a2 --cuda-graphs $g" || continue
    step "benchmark: $a2, $small images, 5 x 5 grid, 1 point per pass, --cuda-graphs $g ($tf32)"
    "$bench" --arch "$a2" --images "$small" --x -1:1:5 --y -1:1:5 --device "$dev" --precision "$tf32" \
      --forward-seconds 0.5 --cuda-graphs "$g" --sweep-points-per-forward 1 --work "$work/graphs" \
      --json "$out/results.jsonl" ||
      fail "benchmark $a2 --cuda-graphs $g"
  done
done
# several grid points per forward pass: where do they help? (small networks, small data)
for a2 in cnn_small resnet20; do
  have_time 30 "benchmark $a2 points per forward" || continue
  step "benchmark: $a2, $small images, points per forward 1, 2, 4, 8, 16 ($tf32)"
  "$bench" --arch "$a2" --images "$small" --x -1:1:3 --y "" --device "$dev" --precision "$tf32" \
    --forward-seconds 1 --points-per-forward 2,4,8,16 --work "$work/ppf" \
    --json "$out/results.jsonl" || fail "benchmark $a2 points per forward"
done
# ---- 5. CPU scaling on this node's own cores ----
# Issue #8 asks for >= 0.95 from 1 to 4 ranks when each rank has its own cores, which the
# project's 2-core machines cannot show: 4 ranks x 2 threads, each rank bound to 2 cores of its
# own, ResNet-56 on the CPU; scaling measured within the run (rank 0 alone, then all 4 ranks,
# alternately) with the bare forward pass's own scaling beside it. 144 points: 36 per rank, so
# that the last point's tail costs little. Only if the GPU steps left time.
cpu_ranks=4 cpu_threads=2 cpu_grid=(--x -1:1:12 --y -1:1:12) cpu_images=250 cpu_rounds=1
scal_mpi=(mpirun --map-by "slot:PE=$cpu_threads" --bind-to core)
if ((dry)); then
  cpu_ranks=2 cpu_threads=1 cpu_grid=(--x -1:1:4 --y -1:1:2) cpu_images=64 cpu_rounds=1
  scal_mpi=("${mpi[@]}")
fi
if ((!dry && $(nproc) < cpu_ranks * cpu_threads)); then
  echo "skipped: CPU scaling needs $((cpu_ranks * cpu_threads)) cores, this node has $(nproc)"
elif have_time 100 "CPU scaling 1 -> $cpu_ranks ranks"; then
  step "CPU scaling: resnet56, $cpu_images images, ${cpu_grid[*]}, $cpu_ranks ranks x $cpu_threads threads"
  scal=("$bench" --arch resnet56 --images "$cpu_images" "${cpu_grid[@]}" --device cpu
        --threads "$cpu_threads" --scaling-rounds "$cpu_rounds" --forward-seconds 1
        --work "$work/cpu" --json "$out/results.jsonl")
  if ! "${scal_mpi[@]}" -n "$cpu_ranks" "${scal[@]}"; then
    # the bound run failed (binding refused by this node's MPI, or the benchmark itself): once
    # more without binding, only if the budget still holds a whole run
    if have_time 100 "CPU scaling without core binding"; then
      echo "(again without binding ranks to cores)"
      "${mpi[@]}" -n "$cpu_ranks" "${scal[@]}" || fail "CPU scaling"
    else
      fail "CPU scaling (bound to cores)"
    fi
  fi
fi

# the strict-fp32 sweep (TF32 off) last
have_time 45 "benchmark fp32" && precision_bench fp32 --forward-seconds 1

finish

#!/usr/bin/env bash
# Benchmark driver (docs/performance.md): runs losscape_bench with 1..R MPI ranks and writes a
# markdown and a JSON-lines table of the results.
#
#   bench/run.sh [--quick] [--ranks "1 2"] [--out DIR] [-- losscape_bench flags...]
#   bench/run.sh --scale [--ranks "1 2 4 8 16 32"] [--out DIR] [-- losscape_bench_scale flags...]
#
#   --quick    a few seconds' check that the benchmark works (CI): ResNet-20, 128 images, 3x3
#   --scale    the write rounds and the coordinator's messages instead (losscape_bench_scale, a
#              1001x1001 surface by default), into scale.jsonl and scale.md; ranks beyond the
#              cores share them (--oversubscribe), and their figures are upper bounds
#   --ranks    rank counts to run (default: "1 2"; with --scale "1 2 4 8 16 32")
#   --out      result folder (default: bench/results/<host>); results.jsonl is appended to,
#              results.md is rewritten from it
# Flags after -- go to every losscape_bench run (default: ResNet-56, 1,000 images, 5x5 grid),
# e.g. -- --images 50000 --device cuda --precision tf32; a flag --quick sets is overridden by
# the same flag there. On a CPU each rank gets nproc / (largest rank count) threads unless
# -- --threads N says otherwise, so that the scaling column compares like with like.
# Environment: LOSSCAPE_BUILD (build folder, default build/), LOSSCAPE_BENCH and
# LOSSCAPE_BENCH_SCALE (the programs; default: built in the build folder), MPIEXEC (default mpiexec), PYTHON (default /usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
quick=0
scale=0
ranks=""
out=""
extra=()
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --scale) scale=1 ;;
    --ranks | --out)
      (($# >= 2)) && [[ $2 != --* ]] || { echo "bench/run.sh: $1 needs a value (see the header of the script)" >&2; exit 2; }
      if [[ $1 == --ranks ]]; then ranks=$2; else out=$2; fi
      shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench/run.sh: unknown argument '$1' (see the header of the script)" >&2; exit 2 ;;
  esac
  shift
done
((quick && scale)) && { echo "bench/run.sh: --quick and --scale: choose one (--quick is the forward benchmark's)" >&2; exit 2; }
for r in $ranks; do
  [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --ranks \"$ranks\": '$r' is not a rank count (a whole number from 1)" >&2; exit 2; }
done
out=${out:-$here/results/$(hostname -s)}
mkdir -p "$out"

if ((scale)); then
  program=losscape_bench_scale bench=${LOSSCAPE_BENCH_SCALE:-}
else
  program=losscape_bench bench=${LOSSCAPE_BENCH:-}
fi
if [[ -z $bench ]]; then
  source "$root/jobs/lib/build.sh"
  losscape_build $program >/dev/null
  bench=$LOSSCAPE_BUILD/bench/$program
fi
[[ -x $bench ]] || { echo "bench/run.sh: $bench is not an executable" >&2; exit 1; }

# One id for the runs of this invocation (recorded as "run"): the report pairs an R-rank run with
# the 1-rank run of the same invocation, never with one of another day or machine.
export LOSSCAPE_BENCH_RUN=${LOSSCAPE_BENCH_RUN:-$(date -u +%Y%m%dT%H%M%SZ)-$$}
launcher=("${MPIEXEC:-mpiexec}" --oversubscribe --bind-to none -x LOSSCAPE_BENCH_RUN)
[[ $(id -u) == 0 ]] && launcher+=(--allow-run-as-root)

if ((scale)); then
  work=$(mktemp -d "${TMPDIR:-/tmp}/losscape-bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  for r in ${ranks:-1 2 4 8 16 32}; do
    "${launcher[@]}" -n "$r" "$bench" --work "$work" --json "$out/scale.jsonl" "${extra[@]}"
  done
  "${PYTHON:-/usr/bin/python3}" "$here/report.py" --scale "$out/scale.jsonl" >"$out/scale.md"
  echo "results: $out/scale.md ($out/scale.jsonl)"
  exit 0
fi
ranks=${ranks:-1 2}

args=()
((quick)) && args+=(--arch resnet20 --images 128 --x -1:1:3 --y -1:1:3 --forward-seconds 0.3)
# On a CPU every rank count runs with the same threads per rank, the cores of the largest count's
# share: each rank has its own cores, and the report pairs R ranks with 1 rank for the scaling
# column (with cores / R threads, 1 rank would have had more than each of R). --threads or
# --device cuda after -- leave it to the program.
if [[ " ${extra[*]-} " != *" --threads"* && " ${extra[*]-} " != *" --device cuda"* &&
      " ${extra[*]-} " != *" --device=cuda"* ]]; then
  max=1
  for r in $ranks; do ((r > max)) && max=$r; done
  per=$(($(nproc) / max))
  args+=(--threads $((per < 1 ? 1 : per)))
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/losscape-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
for r in $ranks; do
  opt=()
  [[ $r == 1 ]] && opt=(--optimizations)
  echo "== $r rank(s)"
  "${launcher[@]}" -n "$r" "$bench" "${args[@]}" --work "$work" --json "$out/results.jsonl" \
    "${opt[@]}" "${extra[@]}"
done
"${PYTHON:-/usr/bin/python3}" "$here/report.py" "$out/results.jsonl" >"$out/results.md"
echo "results: $out/results.md ($out/results.jsonl)"

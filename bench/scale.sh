#!/usr/bin/env bash
# The write rounds and the coordinator's messages with R ranks (losscape_bench_scale,
# bench/scale.cpp; docs/performance.md, "The coordinator and the writes at scale"):
#
#   bench/scale.sh [--ranks "1 2 4 8 16 32"] [--out DIR] [-- losscape_bench_scale flags...]
#
# Runs the program once per rank count (--oversubscribe: beyond the cores, the ranks share them
# and the figures are upper bounds), appends its JSON lines to DIR/scale.jsonl (default
# bench/results/<host>) and writes DIR/scale.md, a table of all the lines there.
# Environment: LOSSCAPE_BUILD (build folder, default build/), LOSSCAPE_BENCH_SCALE (the program;
# default: built in the build folder), MPIEXEC (default mpiexec), PYTHON (default /usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ranks="1 2 4 8 16 32"
out=""
extra=()
while (($#)); do
  case $1 in
    --ranks) ranks=$2; shift ;;
    --out) out=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench/scale.sh: unknown argument '$1' (see the header of the script)" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-$here/results/$(hostname -s)}
mkdir -p "$out"
prog=${LOSSCAPE_BENCH_SCALE:-}
if [[ -z $prog ]]; then
  source "$root/jobs/lib/build.sh"
  losscape_build losscape_bench_scale >/dev/null
  prog=$LOSSCAPE_BUILD/bench/losscape_bench_scale
fi
[[ -x $prog ]] || { echo "bench/scale.sh: $prog is not an executable" >&2; exit 1; }
launcher=("${MPIEXEC:-mpiexec}" --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && launcher+=(--allow-run-as-root)
for r in $ranks; do
  "${launcher[@]}" -n "$r" "$prog" --work "$out/scale-work" --json "$out/scale.jsonl" "${extra[@]}"
done
rm -rf "$out/scale-work"
"${PYTHON:-/usr/bin/python3}" - "$out/scale.jsonl" >"$out/scale.md" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("# losscape_bench_scale: write rounds and coordinator messages\n")
print("| date | host | cores | ranks | grid | file (MB) | points/rank/round | write round, median (s) "
      "| slowest (s) | requests/s at rank 0 | rank 0 per request (us) | round trip (us) | revision |")
print("|" + "---|" * 13)
for r in runs:
    w, c = r["write_rounds"], r.get("coordinator") or {}
    cell = lambda k, f, s=1: f % (c[k] * s) if k in c else ""
    print(f"| {r['date']} | {r['host']} | {r['cores']} | {r['ranks']} | {r['grid']} "
          f"| {w['file_bytes'] / 1e6:.1f} | {w['points_per_rank_per_round']} "
          f"| {w['round_seconds_median']:.4f} | {w['round_seconds_max']:.4f} "
          f"| {cell('requests_per_second', '%.0f')} | {cell('rank0_seconds_per_request', '%.2f', 1e6)} "
          f"| {cell('round_trip_seconds', '%.1f', 1e6)} | {r['losscape_revision']} |")
PY
cat "$out/scale.md"

#!/usr/bin/env bash
# bench/run.sh --scale: losscape_bench_scale runs with 1 and 2 ranks and writes a complete table; the
# surface its write rounds made is read back with h5py: exactly the points the ranks wrote are
# marked done, each once, with their values, and the rest is untouched (no timing is asserted).
set -euo pipefail
work=${TEST_WORK_DIR:?}
rm -rf "$work" && mkdir -p "$work"
MPIEXEC=${MPIEXEC:-mpiexec} bash "$LOSSCAPE_SOURCE_DIR/bench/run.sh" --scale --ranks "1 2" --out "$work" \
  -- --x -1:1:101 --y -1:1:51 --rounds 3 --points 40 --request-seconds 0.3 \
  >"$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
cat "$work/run.log"
# The file of the last run (2 ranks) again, kept this time, for h5py.
launcher=("${MPIEXEC:-mpiexec}" --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && launcher+=(--allow-run-as-root)
"${launcher[@]}" -n 2 "$LOSSCAPE_BENCH_SCALE" --x -1:1:101 \
  --y -1:1:51 --rounds 3 --points 40 --request-seconds 0.1 --work "$work/kept" >/dev/null
"$PYTHON" - "$work/scale.jsonl" "$work/scale.md" "$work/kept/scale.h5" <<'PY'
import json, math, sys
import h5py, numpy as np
runs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["ranks"] for r in runs] == [1, 2], runs
for r in runs:
    w = r["write_rounds"]
    assert w["grid_points"] == 101 * 51 and len(w["round_seconds"]) == 3, w
    assert all(t > 0 for t in w["round_seconds"]) and w["round_seconds_max"] == max(w["round_seconds"])
    assert w["file_bytes"] >= 101 * 51 * 5 * 8, w  # four values and the seconds, allocated in full
assert runs[0]["coordinator"] is None, runs[0]  # nobody to serve with one rank
c = runs[1]["coordinator"]
assert c["requests"] > 0 and c["requests_per_second"] > 0 and c["round_trip_seconds"] > 0, c
md = open(sys.argv[2]).read()
assert md.count("-1:1:101 x -1:1:51") == 2, md
f = h5py.File(sys.argv[3], "r")
done = f["done"][()]
assert done.shape == (51, 101), done.shape
assert done.sum() == 3 * 40 * 2, done.sum()  # every rank's points, no two the same
for name in ["train_loss", "train_acc", "test_loss", "test_acc"]:
    v = f[name][()]
    assert np.all((v[done == 1] >= 0) & (v[done == 1] < 3)), name   # the values written
    assert np.all(v[done == 0] == -1), name                          # untouched: not computed
assert np.all(f["seconds"][()][done == 1] == 0.3)
print("bench scale: ok")
PY

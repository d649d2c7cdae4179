#!/usr/bin/env bash
# bench/run.sh --quick: the benchmark runs end to end with 1 and 2 ranks (with the start-up
# choice's trials, the in-run scaling rounds and 2 points per forward) and its tables are complete and consistent (no
# timing is asserted: speed is measured, never tested).
set -euo pipefail
work=${TEST_WORK_DIR:?}
rm -rf "$work" && mkdir -p "$work"
MPIEXEC=${MPIEXEC:-mpiexec} bash "$LOSSCAPE_SOURCE_DIR/bench/run.sh" --quick --ranks "1 2" \
  --out "$work" -- --choice-trials 1 --scaling-rounds 1 --points-per-forward 2 --images 96 \
  >"$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
cat "$work/run.log"
"$PYTHON" - "$work/results.jsonl" "$work/results.md" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["ranks"] for r in runs] == [1, 2], runs
for r in runs:
    assert r["points"] == 9, r                      # the 3x3 grid, all computed
    assert r["arch"] == "resnet20" and r["images"] == 96  # a flag after -- overrides --quick's
    assert r["forward_images_per_second_total"] > 0 and r["sweep_wall_seconds"] > 0
    # the limit is the best setting, stacked points per pass included (resnet20 has a stacked form)
    assert 1 <= r["forward_limit_points_per_forward"] <= 9, r["forward_limit_points_per_forward"]
    # efficiency is the ratio of the ideal time to the measured one (no bound on timings: only
    # its definition, points x images / (forward limit of all ranks x wall))
    ideal = r["points"] * r["images"] / (r["forward_images_per_second_total"] * r["sweep_wall_seconds"])
    assert r["efficiency"] > 0 and abs(r["efficiency"] - ideal) <= 1e-9 * ideal, (r["efficiency"], ideal)
    assert abs(r["points_per_second"] * r["sweep_wall_seconds"] - 9) < 1e-6
    assert r["losscape_revision"], r  # the source's git revision ("unknown" outside a checkout)
o = runs[0]["optimizations"]
names = [s["setting"] for s in o["settings"]]
assert any("NHWC" in n for n in names) and any("bf16" in n for n in names), names
d = o["precision_deviation"][0]
assert d["precision"] == "bf16" and d["loss_rel_diff"] < 0.1, d  # bf16 is close to fp32, not equal
assert f"(revision {runs[-1]['losscape_revision']})" in open(sys.argv[2]).read()
c = runs[0]["choice"]
assert [t["runoff"] for t in c["trials"]] == [True, False], c
assert all(s["images_per_second"] > 0 for s in c["settings"]), c
# each pick's score is its setting's measured rate over the best measured rate
assert all(0 < t["score"] and t["batch_size"] >= 16 for t in c["trials"]), c
assert [t["variant"] for t in runs[1]["choice"]["trials"]] == ["all ranks together", "rank 0 alone"]
assert "scaling_rounds" not in runs[0]
st = runs[0]["points_per_forward"]  # one rank only
assert sorted({x["points"] for x in st["rows"]}) == [1, 2] and "points_per_forward" not in runs[1], st
assert all(x["images_per_second"] > 0 for x in st["rows"]), st
assert sum(x["best_of_k"] for x in st["rows"]) == 2, st
sc = runs[1]["scaling_rounds"]
assert len(sc["rounds"]) == 1 and sc["median"] == sc["rounds"][0]["scaling"], sc
x = sc["rounds"][0]
assert abs(x["scaling"] - x["all_ranks_points_per_second"] / (2 * x["one_rank_points_per_second"])) < 1e-9
assert abs(x["forward_scaling"] - x["all_ranks_forward_images_per_second"]
           / (2 * x["one_rank_forward_images_per_second"])) < 1e-9
# The same threads per rank at 1 and 2 ranks (run.sh's CPU default) and one run id (this
# invocation's) on both: the scaling column is filled; both name their machine.
assert runs[0]["threads_per_rank"] == runs[1]["threads_per_rank"], runs
assert runs[0]["run"] and runs[0]["run"] == runs[1]["run"], [r["run"] for r in runs]
assert runs[0]["machine"] == runs[1]["machine"], [r["machine"] for r in runs]
# What was asked for is recorded beside what the sweep chose.
for r in runs:
    q = r["requested"]
    assert q["forward_seconds"] == 0.3 and q["batch_size"] == "auto" and q["threads"] == r["threads_per_rank"], q
md = open(sys.argv[2]).read()
row = [l for l in md.splitlines() if l.startswith("| ") and l.split("|")[2].strip() == "2"][0]
want = runs[1]["points_per_second"] / (2 * runs[0]["points_per_second"])
assert abs(float(row.rstrip(" |").rsplit("|", 1)[1]) - want) <= 0.006 * max(1, want), (row, want)
assert "| efficiency |" in md and "resnet20" in md and "Deviation from fp32" in md, md
assert "Start-up choice" in md and "Parallel efficiency within one run" in md, md
assert "Several grid points per forward pass" in md, md
# the sweep's start-up timings, in the JSON and the report
assert all("batch" in r["sweep_startup_timing"] for r in runs), runs
assert "The sweeps' start-up choice (batch, layout, points per pass), as timed:" in md, md
print("bench quick: ok")
PY
# The benchmark's fresh model carries BatchNorm statistics from training-mode passes: in eval mode
# its loss on the random images is about ln 10 (ResNet-56 with the default statistics gives
# hundreds, logits that overflow fp16).
"$LOSSCAPE_BENCH" --arch resnet56 --images 64 --x 0:0:1 --y "" --device cpu --threads 1 \
  --forward-seconds 0.1 --work "$work/calibrated" >"$work/calibrated.log" 2>&1 ||
  { cat "$work/calibrated.log"; exit 1; }
"$LOSSCAPE" eval --model-file "$work/calibrated/model_resnet56.h5" --dataset cifar10 \
  --data-dir "$work/calibrated" --device cpu --threads 1 --json >"$work/calibrated.json"
"$PYTHON" - "$work/calibrated.json" <<'PY'
import json, math, sys
loss = json.load(open(sys.argv[1]))["loss"]
assert abs(loss - math.log(10)) < 0.5, loss
print(f"bench model calibrated: loss {loss:.4f} at theta* (ln 10 = {math.log(10):.4f})")
PY

# Arguments the benchmark cannot measure with are refused at once, exit 2, one line, nothing
# measured (--images 0 failed on an empty data file it wrote itself; --forward-seconds 0 took one
# batch as the forward limit; a --json in a folder that does not exist lost the whole run's
# results at its end)
refused() {  # refused EXPECTED-MESSAGE ARGS...: exit 2 with that one line, no work folder made
  local want=$1 out rc
  shift
  rm -rf "$work/refused"
  out=$("$LOSSCAPE_BENCH" --arch cnn_small --images 16 --x 0:0:1 --y "" --device cpu --threads 1 \
    --forward-seconds 0.05 --work "$work/refused" "$@" 2>&1) && rc=0 || rc=$?
  if [[ $rc != 2 || $out != "losscape_bench: error: $want" || -e $work/refused ]]; then
    echo "FAIL: losscape_bench $*: exit $rc, '$out' (wanted 2, 'losscape_bench: error: $want', no $work/refused)"
    exit 1
  fi
}
refused "--images must be at least 1 (got 0)" --images 0
refused "--forward-seconds must be a positive number of seconds (the forward limit is the rate over that time)" \
  --forward-seconds 0
refused "--points-per-forward: each K must be 1 to 16, as the sweep's --points-per-forward (got 40)" \
  --points-per-forward 40
refused "--json $work/no/such/dir/x.jsonl: its folder $work/no/such/dir does not exist" \
  --json "$work/no/such/dir/x.jsonl"
out=$("$LOSSCAPE_BENCH" --bogus 2>&1) && rc=0 || rc=$?
[[ $rc == 2 ]] || { echo "FAIL: an unknown flag: exit $rc (wanted 2): $out"; exit 1; }
out=$(bash "$LOSSCAPE_SOURCE_DIR/bench/run.sh" --ranks "0" --out "$work/r0" 2>&1) && rc=0 || rc=$?
[[ $rc == 2 && $out == *"'0' is not a rank count"* ]] ||
  { echo "FAIL: run.sh --ranks 0: exit $rc (wanted 2): $out"; exit 1; }

# The report pairs an R-rank record with its invocation's 1-rank record, also one written after
# it (run.sh --ranks "2 1"): the scaling cell was empty
"$PYTHON" - "$work/results.jsonl" "$work/reversed.jsonl" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
open(sys.argv[2], "w").write("\n".join(reversed(lines)) + "\n")
PY
"$PYTHON" "$LOSSCAPE_SOURCE_DIR/bench/report.py" "$work/reversed.jsonl" >"$work/reversed.md"
"$PYTHON" - "$work/results.md" "$work/reversed.md" <<'PY'
import sys
def scaling(path):
    md = open(path).read()
    row = [l for l in md.splitlines() if l.startswith("| ") and l.split("|")[2].strip() == "2"][0]
    return row.rstrip(" |").rsplit("|", 1)[1].strip()
assert scaling(sys.argv[1]) and scaling(sys.argv[2]) == scaling(sys.argv[1]), (scaling(sys.argv[1]), scaling(sys.argv[2]))
print("report: the scaling cell filled whatever the records' order:", scaling(sys.argv[2]))
PY
echo "bench refusals and report order: ok"

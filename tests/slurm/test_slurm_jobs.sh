#!/usr/bin/env bash
# The job scripts of jobs/ on a real Slurm: a private one-node cluster (tests/slurm/cluster.sh:
# Debian's slurm-wlm and munge, slurm.conf from `slurmd -C`, daemons started here as root and
# always stopped at the end) runs
#   - jobs/sweep-chain.sbatch as an array (%1) of 1-minute jobs whose time-limit warning
#     (--signal=B:USR1@20, sent by slurmctld itself) interrupts the sweep at least once; a later
#     task resumes and completes it;
#   - jobs/sweep.sbatch with 2 ranks under srun and a 1-minute limit: the warning stops it, the
#     script requeues the job, the requeued job completes the file;
#   (once a job has been stopped by its warning and handed on, the test gives its later starts
#   10 minutes, as a real limit would be, so the rest of the work runs in one start, not in a
#   dozen 1-minute ones on this crowded 2-core node)
#   - jobs/sweep.sbatch and jobs/train.sbatch whose losscape never gets to compute a point or save
#     a checkpoint (it sleeps through its start): requeued IDLE_REQUEUES=1 time, then not again;
#   - jobs/sweep-fanout.sbatch submit: a 2-task array of parts of a 7 x 7 grid and the dependent
#     merge job;
#   - stops from outside, on a 7 x 7 grid: `scontrol requeue` by hand (Slurm requeues, the log
#     says so), `scancel -s USR1` while losscape starts (incomplete; the next chain task
#     resumes), a chain warned before any point (IDLE_REQUEUES=0: stops, pending tasks cancelled),
#     a fan-out with --chdir in FANOUT_SBATCH_ARGS (the merge runs there);
# and every result must equal an uninterrupted `losscape sweep` of the same grid (h5py,
# relative 1e-6), the logs must show the interruptions and resumes. Then the scripts' one-line
# errors for bad settings.
# Environment (CTest): LOSSCAPE, PYTHON, LOSSCAPE_SOURCE_DIR, TEST_WORK_DIR. Exit 77: skipped
# (not root, Slurm or munge not installed, cluster not starting), with the reason printed.
set -uo pipefail
skip() { echo "SKIP: $*"; exit 77; }
src=${LOSSCAPE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export LOSSCAPE=${LOSSCAPE:?LOSSCAPE (the losscape program) is not set}
PYTHON=${PYTHON:-/usr/bin/python3}
work=${TEST_WORK_DIR:-/tmp/losscape-test-slurm}
data=/usr/share/datasets/fashion-mnist

[[ $(id -u) == 0 ]] || skip "the Slurm test starts munged, slurmctld and slurmd and must run as root"
PATH=$PATH:/usr/sbin
for p in slurmctld slurmd sbatch munged; do
  command -v $p >/dev/null || skip "$p is not installed (apt-get install slurm-wlm munge)"
done
[[ -d $data ]] || skip "$data is missing (apt-get install dataset-fashion-mnist)"
"$PYTHON" -c 'import h5py, numpy' 2>/dev/null || skip "$PYTHON cannot import h5py and numpy"

rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
source "$src/tests/slurm/cluster.sh"
ref_pid=
trap '[[ -n $ref_pid ]] && kill "$ref_pid" 2>/dev/null; slurm_cluster_down "$work/cluster"' EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
if ! slurm_cluster_up "$work/cluster"; then
  tail -n 5 "$work"/cluster/log/*.log 2>/dev/null
  skip "the one-node Slurm cluster did not come up (logs above)"
fi

failures=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
stamp() { echo "---- $(date +%T) (+$(($(date +%s) - t0)) s) $*"; }

stamp "a small trained model and its directions, and the work sized to this machine"
"$LOSSCAPE" train --arch cnn_small --dataset fashion-mnist --samples 1000 --test-samples 200 \
  --epochs 1 --batch-size 64 --lr 0.05 --seed 1 --out train >train.log 2>&1 ||
  { cat train.log; echo "FAIL losscape train"; exit 1; }
"$LOSSCAPE" directions --model-file train/model_1.h5 --dataset fashion-mnist --out dirs.h5 ||
  { echo "FAIL losscape directions"; exit 1; }
# Every 1-minute job with --signal=B:USR1@20 gets its warning 10-40 s into a start (slurmctld
# checks time limits every 30 s) and must still be working then, however fast this machine is
# (a fixed 13 x 13 grid, once a minute of work, shrank to ~35 s as the sweep got faster and
# finished before any warning). So the work is sized here: a 5 x 5 sweep and the first training
# epoch timed on one idle core give the grid that holds about SWEEP_WORK_S seconds of one core
# (the requeueing sweep has 2 ranks: 2 x 40 s and more) and the epochs of about TRAIN_WORK_S.
sweep_config() {  # sweep_config N FILE: this test's sweep on an N x N grid
  cat >"$2" <<JSON
{"model_file": "train/model_1.h5", "directions": "dirs.h5", "dataset": "fashion-mnist",
 "samples": 1000, "splits": ["train", "test"], "x": "-1:1:$1", "y": "-1:1:$1",
 "batch_size": "250", "threads": 1, "flush_seconds": 3, "progress_seconds": 5}
JSON
}
sweep_config 5 calibrate.json
"$LOSSCAPE" sweep --config calibrate.json --out calibrate.h5 >calibrate.log 2>&1 ||
  { cat calibrate.log; echo "FAIL the calibrating sweep"; exit 1; }
read -r grid epochs < <("$PYTHON" - "${SWEEP_WORK_S:-100}" "${TRAIN_WORK_S:-60}" <<'PY'
import json, math, sys
import h5py
point = float(h5py.File("calibrate.h5", "r")["seconds"][()].mean())
epoch = [json.loads(l)["seconds"] for l in open("train/log.jsonl") if json.loads(l)["epoch"] == 1][0]
epoch *= 4  # the training job's epochs have 4,000 samples, this one had 1,000
grid = min(81, max(13, math.ceil(math.sqrt(float(sys.argv[1]) / point))))
epochs = min(400, max(20, math.ceil(float(sys.argv[2]) / epoch)))
print(grid, epochs)
print(f"one point {point:.3f} s, one epoch of 4,000 images ~{epoch:.2f} s (one idle core): "
      f"a {grid} x {grid} grid ({grid * grid * point:.0f} s), {epochs} epochs ({epochs * epoch:.0f} s)",
      file=sys.stderr)
PY
)
[[ $grid =~ ^[0-9]+$ && $epochs =~ ^[0-9]+$ ]] || { echo "FAIL sizing the work"; exit 1; }
points=$((grid * grid))
sweep_config "$grid" sweep.json
export SWEEP_CONFIG=$work/sweep.json OMP_NUM_THREADS=1 LOSSCAPE_PROGRESS=lines
unset SLURM_JOB_ID SLURM_ARRAY_TASK_ID
# The small sweep (7 x 7) of the fan-outs and of the stops from outside, with absolute paths (for
# --chdir), and its uninterrupted reference.
sweep_config 7 small.json
sed -i "s#\"train/#\"$work/train/#; s#\"dirs.h5\"#\"$work/dirs.h5\"#" small.json
small=$((7 * 7))
"$LOSSCAPE" sweep --config small.json --out small-reference.h5 >small-reference.log 2>&1 ||
  { cat small-reference.log; echo "FAIL the small reference sweep"; exit 1; }

stamp "submitting the chain, the requeueing sweep and the fan-out"
limits=(--time=1 --signal=B:USR1@20)
# The warning comes up to 60 s before its time (sbatch(1)), so a start may be warned before its
# first point on a slow machine: the scripts requeue such starts IDLE_REQUEUES times in a row.
export IDLE_REQUEUES=8
chain_tasks=8
chain=$(sbatch --parsable --array=1-$chain_tasks%1 "${limits[@]}" -o 'chain-%A_%a.log' \
  "$src/jobs/sweep-chain.sbatch" --out chain.h5) || { echo "FAIL sbatch sweep-chain"; exit 1; }
single=$(SWEEP_OUT=requeue.h5 sbatch --parsable -n 2 "${limits[@]}" -o 'sweep-%j.log' \
  "$src/jobs/sweep.sbatch") || { echo "FAIL sbatch sweep"; exit 1; }
# A job that waits for the requeueing one (afterok), as jobs/paper/submit.sh chains its jobs: it
# must start only once the surface is complete, not when the first run of the job ends.
after=$(sbatch --parsable --dependency=afterok:"$single" -o 'after-%j.log' \
  --wrap "\"$LOSSCAPE\" info requeue.h5") || { echo "FAIL sbatch --dependency=afterok"; exit 1; }
# train.sbatch: $epochs epochs (sized above), more than the 40 s before the warning of a 1-minute
# job, so the warning stops an epoch and requeues the job.
train_job=$(TRAIN_ARGS="--arch cnn_small --dataset fashion-mnist --samples 4000 --test-samples 200
  --batch-size 64 --lr 0.05 --seed 1 --epochs $epochs --threads 1" TRAIN_OUT=train-slurm \
  sbatch --parsable "${limits[@]}" -o 'train-%j.log' "$src/jobs/train.sbatch") ||
  { echo "FAIL sbatch train"; exit 1; }
# A sweep that never computes a point and a training that never saves a checkpoint: their
# losscape sleeps through every start; the warning comes at slurmctld's first time-limit check
# (@60 of a 1-minute limit).
printf '#!/bin/bash\n[[ $1 == sweep || $1 == train ]] && exec sleep 300\nexec "%s" "$@"\n' "$LOSSCAPE" >sleepy
chmod +x sleepy
idle_job=$(IDLE_REQUEUES=1 LOSSCAPE=$work/sleepy SWEEP_OUT=idle.h5 sbatch --parsable --time=1 \
  --signal=B:USR1@60 -o 'idle-%j.log' "$src/jobs/sweep.sbatch") || { echo "FAIL sbatch idle sweep"; exit 1; }
idle_train=$(IDLE_REQUEUES=1 LOSSCAPE=$work/sleepy TRAIN_ARGS="--arch cnn_small" TRAIN_OUT=idle-train \
  sbatch --parsable --time=1 --signal=B:USR1@60 -o 'idle-train-%j.log' "$src/jobs/train.sbatch") ||
  { echo "FAIL sbatch idle train"; exit 1; }
FANOUT_PARTS=2 FANOUT_SBATCH_ARGS="--time=10 -o fanout-%A_%a.log" SWEEP_OUT=fan.h5 \
  SWEEP_CONFIG=$work/small.json "$src/jobs/sweep-fanout.sbatch" submit | tee fanout-submit.txt
check "sweep-fanout.sbatch submit submits the array and the merge job" \
  grep -q '^array job [0-9]*.*merge job [0-9]*' fanout-submit.txt

stamp "the uninterrupted reference sweep (outside Slurm, alongside the jobs)"
"$LOSSCAPE" sweep --config sweep.json --out reference.h5 >reference.log 2>&1 &
ref_pid=$!

# Until every job has ended: squeue every 10 s into the log, at most 12 minutes. A job whose
# log shows it was stopped by its warning and handed on gets 10 minutes from then on (its running
# or pending start, the array's later tasks): the rest of its work in one start.
raised=()
raise_once() {  # raise_once KEY JOBID WHAT PATTERN LOG...: once a LOG shows PATTERN, TimeLimit=10
  # for JOBID, said in the log (an array's ended tasks are left as they were: scontrol says so and
  # exits 1, having updated the others)
  local key=$1 id=$2 what=$3 pattern=$4
  shift 4
  [[ " ${raised[*]} " != *" $key "* ]] && grep -qs "$pattern" "$@" || return 0
  scontrol update JobId="$id" TimeLimit=10 2>&1 | grep -vE 'Job has already finished|No error'
  stamp "$what was stopped by its warning and handed on: its later starts get 10 minutes"
  raised+=("$key")
}
for ((i = 0; i < 144; i++)); do
  jobs=$(squeue -h -o '%i %T %M %r' 2>/dev/null)
  [[ -z $jobs ]] && break
  ((i % 2 == 0)) && { stamp "squeue"; squeue -o '%.12i %.16j %.9T %.6M %.10l %R'; }
  raise_once chain "$chain" "the chain ($chain)" 'incomplete; a later task of array job' chain-"$chain"_*.log
  raise_once single "$single" "the requeueing sweep ($single)" "requeueing job $single" "sweep-$single.log"
  raise_once train "$train_job" "the training ($train_job)" "requeueing job $train_job" "train-$train_job.log"
  sleep 5
done
check "the chain, the requeueing sweep and the training were each stopped by a warning (raised: ${raised[*]})" \
  test "${#raised[@]}" == 3
check "every job ended within 12 minutes (still there: ${jobs:-none})" test -z "$jobs"
wait "$ref_pid"
check "the reference sweep completes (exit 0)" test $? == 0
ref_pid=
stamp "all jobs ended"
echo "finished jobs (jobcomp/filetxt):"
sed -E 's/^(JobId=[^ ]+) .* (Name=[^ ]+) (JobState=[^ ]+) .* (StartTime=[^ ]+) (EndTime=[^ ]+) .*/  \1 \2 \3 \4 \5/' \
  cluster/log/jobcomp.log

same() {  # same FILE [REFERENCE]: equals REFERENCE (reference.h5), every point done
  "$PYTHON" - "$1" "${2:-reference.h5}" <<'PY'
import json, sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as r:
    ok = bool(np.all(a["done"][()] == 1)) and bool(np.all(r["done"][()] == 1))
    for k in ["train_loss", "train_acc", "test_loss", "test_acc", "xcoordinates", "ycoordinates"]:
        x, y = a[k][()], r[k][()]
        if x.shape != y.shape or not np.allclose(x, y, rtol=1e-6, atol=0):
            print(f"  {sys.argv[1]}: {k} differs from the reference, max |diff| "
                  f"{np.max(np.abs(x - y)) if x.shape == y.shape else 'shape'}")
            ok = False
    runs = json.loads(bytes(a["run_log"][()]).split(b"\0")[0])
    print(f"  {sys.argv[1]}: {int(a['done'][()].sum())} of {a['done'].size} points, runs: " +
          ", ".join(f"{r.get('status')} ({r.get('points_computed', '-')} points)" for r in runs))
sys.exit(0 if ok else 1)
PY
}

stamp "chain: sweep-chain.sbatch"
check "the chain's surface equals the uninterrupted sweep" same chain.h5
shopt -s nullglob
chain_logs=(chain-"${chain}"_*.log)
check "a chain task got the time-limit warning and flushed (log)" \
  grep -q 'SIGUSR1 (the time-limit warning)' "${chain_logs[@]}"
check "an interrupted chain task handed over to the next one (log)" \
  grep -q 'incomplete; a later task of array job' "${chain_logs[@]}"
check "a later chain task resumed the file (log)" grep -q 'resuming chain.h5' "${chain_logs[@]}"
check "chain tasks after completion exit at once (log)" grep -q 'is this sweep.s, complete: nothing to do' "${chain_logs[@]}"
check "all $chain_tasks chain tasks ended COMPLETED, exit 0 (jobcomp)" \
  test "$(grep -c "ArrayJobId=$chain " cluster/log/jobcomp.log) $(grep "ArrayJobId=$chain " cluster/log/jobcomp.log |
    grep -c 'JobState=COMPLETED .* ExitCode=0:0')" == "$chain_tasks $chain_tasks"
for f in "${chain_logs[@]}"; do
  echo "== $f"
  grep -E 'chain.sbatch|^\[sweep\]|complete|incomplete' "$f" | grep -vE '^\[sweep\] .*points \(' | head -20
done

stamp "requeue: sweep.sbatch"
check "the requeued sweep's surface equals the uninterrupted sweep" same requeue.h5
check "sweep.sbatch requeued itself after the warning (log)" grep -q "requeueing job $single" "sweep-$single.log"
check "the requeued job started again and completed (log)" \
  grep -q 'start 2 (requeued 1 times)' "sweep-$single.log"
check "the job's final state is COMPLETED with Restarts >= 1 (scontrol)" \
  bash -c "scontrol show job $single | grep -q 'JobState=COMPLETED' && scontrol show job $single | grep -qE 'Restarts=[1-9]'"
grep -E 'sweep.sbatch|complete|incomplete' "sweep-$single.log" | head -20
check "no 'Terminated' notices of bash (a killed scontrol or sleep) in the requeued jobs' logs" \
  bash -c "! grep -hE '^Terminated\$|line [0-9]+: +[0-9]+ Terminated' sweep-$single.log train-$train_job.log"

check "the afterok job ran after the requeued job completed, on a complete file (log)" \
  grep -q "done *$points of $points points (complete)" "after-$after.log"
cat "after-$after.log"

stamp "idle starts: sweep.sbatch with IDLE_REQUEUES=1"
check "a start without a point was requeued once all the same (log)" \
  test "$(grep -c 'no point was computed in this start (1 in a row' "idle-$idle_job.log")" == 1
check "the second such start in a row was not requeued (log)" \
  grep -q 'no point was computed in 2 starts in a row (0 done): not requeued' "idle-$idle_job.log"
check "... and its count file is gone" test ! -e idle.h5.idle-starts
check "the requeued sweep's count file is gone once it completed" test ! -e requeue.h5.idle-starts
grep -E 'sweep.sbatch' "idle-$idle_job.log"
check "train.sbatch: a start without a checkpoint was requeued once all the same (log)" \
  test "$(grep -c 'no checkpoint was saved in this start (1 in a row' "idle-train-$idle_train.log")" == 1
check "train.sbatch: the second such start in a row was not requeued (log)" \
  grep -q 'no checkpoint was saved in 2 starts in a row: not requeued' "idle-train-$idle_train.log"
check "... and its count file is gone" test ! -e idle-train/idle-starts
check "the requeued training's count file is gone once it completed" test ! -e train-slurm/idle-starts
grep -E 'train.sbatch' "idle-train-$idle_train.log"

stamp "train.sbatch"
check "train.sbatch passed the warning on and requeued itself after the checkpoint (log)" \
  grep -q "requeueing job $train_job" "train-$train_job.log"
check "losscape train finished its epoch and saved a checkpoint on the warning (log)" \
  grep -q '^stopped by a signal after epoch' "train-$train_job.log"
check "the requeued training resumed from a checkpoint (log)" grep -q '^resuming train-slurm/model_' "train-$train_job.log"
check "the training completed: model_$epochs.h5, epochs 0..$epochs logged once each" "$PYTHON" -c '
import json, os, sys
n = int(sys.argv[1])
epochs = [json.loads(l)["epoch"] for l in open("train-slurm/log.jsonl")]
print("  log.jsonl epochs:", epochs)
sys.exit(0 if sorted(epochs) == list(range(n + 1)) and os.path.exists(f"train-slurm/model_{n}.h5") else 1)' "$epochs"
check "the train job's final state is COMPLETED (scontrol)" \
  bash -c "scontrol show job $train_job | grep -q 'JobState=COMPLETED'"
grep -E 'train.sbatch|^resuming|^stopped|complete|rror' "train-$train_job.log" | tail -40
echo "slurmctld on job $train_job:"
grep -E "JobId=$train_job( |$)" cluster/log/slurmctld.log | tail -30

stamp "fan-out: sweep-fanout.sbatch + losscape merge"
check "the merged surface equals the uninterrupted sweep" same fan.h5 small-reference.h5
check "two part files were merged" test -e fan.part-1-of-2.h5 -a -e fan.part-2-of-2.h5
merge_log=(fan.merge-*.log)
check "the merge job says complete (log)" grep -q 'merged: fan.h5 is complete' "${merge_log[@]}"
cat "${merge_log[@]}"

stamp "stops from outside: scontrol requeue by hand, scancel -s USR1 in start-up, a chain warned before its points, a fan-out in --chdir"
# Small sweeps (7 x 7, small.json), the four side by side. A losscape whose first start waits
# (touching a file first) lets the test signal it while it starts.
# (the first start waits up to a minute for the signal, whenever the test gets to send it: what
# the test waits for before it can take long on a loaded machine; later starts go straight on)
printf '#!/bin/bash\nif [[ ! -e $MARK ]]; then touch "$MARK"; sleep 60; fi\nexec "%s" "$@"\n' \
  "$LOSSCAPE" >marked
chmod +x marked
hand=$(SWEEP_CONFIG=$work/small.json SWEEP_OUT=hand.h5 sbatch --parsable -o 'hand-%j.log' \
  "$src/jobs/sweep.sbatch") || { echo "FAIL sbatch hand"; exit 1; }
usr1=$(SWEEP_CONFIG=$work/small.json MARK=$work/usr1.mark LOSSCAPE=$work/marked sbatch --parsable \
  --array=1-2%1 -o 'usr1-%A_%a.log' "$src/jobs/sweep-chain.sbatch" --out usr1.h5) ||
  { echo "FAIL sbatch usr1"; exit 1; }
# (IDLE_REQUEUES=0: the first task without a point stops the chain)
idle_chain=$(IDLE_REQUEUES=0 LOSSCAPE=$work/sleepy SWEEP_CONFIG=$work/small.json sbatch --parsable \
  --array=1-3%1 --time=1 --signal=B:USR1@60 -o 'idle-chain-%A_%a.log' "$src/jobs/sweep-chain.sbatch" \
  --out idle-chain.h5) || { echo "FAIL sbatch idle chain"; exit 1; }
mkdir -p fan-dir
# (its part 1, task 0, waits in its first start, to be requeued by hand as preemption would: a
# losscape that waits only there, not in submit's dry run or the merge, and ends with 75 on the
# stop signal, as losscape does)
printf '#!/bin/bash\nif [[ ${SLURM_ARRAY_TASK_ID:-} == 0 && ! -e $MARK ]]; then touch "$MARK"; trap "exit 75" USR1 TERM; sleep 60 & wait; fi\nexec "%s" "$@"\n' \
  "$LOSSCAPE" >marked0
chmod +x marked0
FANOUT_PARTS=2 FANOUT_SBATCH_ARGS="--chdir=$work/fan-dir --time=10 -o fanout-%A_%a.log" \
  SWEEP_CONFIG=$work/small.json SWEEP_OUT=fd.h5 LOSSCAPE=$work/marked0 MARK=$work/fd.mark \
  "$src/jobs/sweep-fanout.sbatch" submit >fan-dir.txt
fd_array=$(sed -n 's/^array job \([0-9]*\).*/\1/p' fan-dir.txt)
for ((i = 0; i < 100; i++)); do grep -q '^\[sweep\] ' "hand-$hand.log" 2>/dev/null && break; sleep 0.3; done
scontrol requeue "$hand"
for ((i = 0; i < 100; i++)); do [[ -e usr1.mark ]] && break; sleep 0.3; done
scancel -s USR1 "${usr1}_1"
for ((i = 0; i < 100; i++)); do [[ -e fd.mark ]] && break; sleep 0.3; done
scontrol requeue "${fd_array}_0"
for ((i = 0; i < 60; i++)); do
  jobs=$(squeue -h -o %i 2>/dev/null)
  [[ -z $jobs ]] && break
  sleep 3
done
check "those jobs ended within 3 minutes (still there: ${jobs:-none})" test -z "$jobs"
complete() { "$LOSSCAPE" info "$1" 2>/dev/null | grep -q "done *$small of $small points (complete)"; }
state() {  # state JOBID: "JobState ExitCode" of its last run (jobcomp)
  grep "^JobId=$1 " cluster/log/jobcomp.log | tail -1 | sed -E 's/.* (JobState=[^ ]+) .*(ExitCode=[^ ]+).*/\1 \2/'
}
check "scontrol requeue by hand: the log says Slurm requeues it, not 'not requeued'" \
  bash -c "grep -q 'Slurm is requeueing job $hand' hand-$hand.log && ! grep -q 'not requeued' hand-$hand.log"
check "... the next start completed the file, the job COMPLETED, no idle-start count left" \
  bash -c "grep -q 'start 2 (requeued 1 times)' hand-$hand.log && [[ '$(state "$hand")' == 'JobState=COMPLETED ExitCode=0:0' ]] && [[ ! -e hand.h5.idle-starts ]]"
complete hand.h5
check "... hand.h5 is complete" test $? == 0
grep -h 'sweep.sbatch' "hand-$hand.log"
check "scancel -s USR1 during start-up: incomplete (75), the next chain task resumes" \
  bash -c "grep -q 'SIGUSR1 sent to the job.s steps' usr1-${usr1}_1.log && grep -q 'a later task of array job $usr1 resumes it' usr1-${usr1}_1.log"
check "... both tasks COMPLETED, and usr1.h5 is complete" \
  bash -c "[[ \$(grep \"ArrayJobId=$usr1 \" cluster/log/jobcomp.log | grep -c 'JobState=COMPLETED .*ExitCode=0:0') == 2 ]]"
complete usr1.h5
check "... usr1.h5 is complete" test $? == 0
grep -h 'chain.sbatch' usr1-"${usr1}"_1.log
check "a chain task warned before its first point (IDLE_REQUEUES=0) stops the chain with 75, says why" \
  bash -c "grep -q 'no point was computed in 1 task(s) in a row: the chain stops' idle-chain-${idle_chain}_1.log && grep -q 'JobState=FAILED .*ExitCode=75:0' <<<'$(grep "ArrayJobId=$idle_chain " cluster/log/jobcomp.log)'"
check "... its pending tasks were cancelled (none ran)" test ! -e "idle-chain-${idle_chain}_2.log"
grep -h 'chain.sbatch' idle-chain-"${idle_chain}"_1.log
complete fan-dir/fd.h5
check "fan-out with --chdir in FANOUT_SBATCH_ARGS: the merge job ran there, fan-dir/fd.h5 is complete" test $? == 0
cat fan-dir/fd.merge-*.log
check "a fan-out part requeued by hand: its log says Slurm requeues it, not to run it again" \
  bash -c "grep -q 'Slurm is requeueing job' fan-dir/fanout-${fd_array}_0.log && ! grep -q 'run this part again' fan-dir/fanout-${fd_array}_0.log"

stamp "jobs/paper/submit.sh (DRY_RUN=1: CIFAR-10 and GPUs are not here)"
mkdir -p fake-cifar && touch fake-cifar/{data_batch_{1..5},test_batch}.bin
DRY_RUN=1 DATA_DIR=fake-cifar RUNS=paper "$src/jobs/paper/submit.sh" >paper.out 2>paper.err
check "paper/submit.sh plans 6 trainings, 16 sweeps (4 of them trajectories), 4 PCA planes and the plots" \
  test "$(grep -c '^train ' paper.out) $(grep -c '^sweep ' paper.out) $(grep -c '^sweep traj_' paper.out) $(grep -c '^pca ' paper.out) $(grep -c '^plots: ' paper.out)" == "6 16 4 4 1"
check "paper/submit.sh: 27 sbatch commands, each of train.sbatch, sweep.sbatch or --wrap" \
  test "$(grep -c ' sbatch ' paper.err) $(grep ' sbatch ' paper.err | grep -vc -e train.sbatch -e sweep.sbatch -e --wrap)" == "27 0"
check "paper/submit.sh: a trajectory's sweep takes its grid from the PCA job's file (SWEEP_CONFIG)" \
  grep -q "SWEEP_CONFIG=$work/paper/traj_vgg9_bs128_wd0.sweep.json.*dependency=afterok:<pca-vgg9_bs128_wd0>" paper.err
check "paper/submit.sh: DRY_RUN writes nothing (no $work/paper)" test ! -e paper
NETS=all DRY_RUN=1 DATA_DIR=fake-cifar RUNS=paper "$src/jobs/paper/submit.sh" >paper-all.out 2>&1
check "paper/submit.sh NETS=all: the 13 networks of the paper's section 5 besides VGG-9" \
  test "$(grep -c '^train ' paper-all.out) $(grep -c '^sweep 2d_' paper-all.out)" == "17 17"
NETS="resnet56 resnet57" DRY_RUN=1 DATA_DIR=fake-cifar RUNS=paper "$src/jobs/paper/submit.sh" >paper-bad.out 2>&1
check "paper/submit.sh NETS with a name not in the zoo: refused before anything is submitted" \
  bash -c "grep -q \"NETS: 'resnet57' is not one of the zoo\" paper-bad.out && ! grep -q sbatch paper-bad.out"
head -3 paper.err
# The trajectory's plane as the PCA job makes it, from the run train.sbatch trained above: its
# config sweeps (a 5x5 grid, 50 samples) and draws the path over it.
LOSSCAPE=$LOSSCAPE "$src/jobs/paper/pca-plane.sh" train-slurm traj 5 >pca-plane.log 2>&1
check "paper/pca-plane.sh makes traj.pca.h5, traj.proj.h5 and traj.sweep.json (log: pca-plane.log)" \
  test -s traj.pca.h5 -a -s traj.proj.h5 -a -s traj.sweep.json
check "... the config names the run's final model, model_$epochs.h5" grep -q "\"model_file\": \"train-slurm/model_$epochs.h5\"" traj.sweep.json
"$LOSSCAPE" sweep --config traj.sweep.json --dataset fashion-mnist --samples 50 --splits train \
  --threads 1 --quiet --out traj.h5 >traj-sweep.log 2>&1
check "... its sweep is complete (log: traj-sweep.log)" \
  bash -c "\"$LOSSCAPE\" info traj.h5 | grep -q 'done *25 of 25 points (complete)'"
"$LOSSCAPE" plot traj.h5 --what train_loss --trajectory traj.proj.h5 --directions traj.pca.h5 \
  --out-dir traj-plots >traj-plot.log 2>&1
check "... and the path is drawn over it" bash -c "ls traj-plots/*_proj.png >/dev/null 2>&1"

stamp "the time-limit warning while losscape is still starting (here: outside Slurm)"
# Loading LibTorch from a shared file system can take seconds; a signal that arrives before
# losscape catches it kills it. The scripts count that as "incomplete" (75), as they would a
# clean stop: the surface file and the checkpoints are safe after any kill.
printf '#!/bin/bash\nsleep 3\nexec "%s" "$@"\n' "$LOSSCAPE" >slow-start
chmod +x slow-start
early() {  # early LOG SCRIPT ENV...: run SCRIPT, USR1 after 1 s; exit 75 and the log says why
  local log=$1 script=$2 pid rc
  shift 2
  env LOSSCAPE="$work/slow-start" LAUNCHER=none "$@" bash "$src/jobs/$script" >"$log" 2>&1 &
  pid=$!
  sleep 1
  kill -USR1 "$pid"
  wait "$pid"
  rc=$?
  check "$script: a warning during start-up ends losscape and counts as incomplete (exit $rc)" \
    bash -c "[[ $rc == 75 ]] && grep -q 'SIGUSR1 itself (it came during start-up)' $log"
  grep -h 'SIGUSR1' "$log"
}
early early-sweep.log sweep.sbatch SWEEP_OUT=early.h5
early early-train.log train.sbatch TRAIN_OUT=early-train TRAIN_ARGS="--arch cnn_small --dataset fashion-mnist --epochs 1"

stamp "bad settings: one-line errors"
err() {  # err EXPECTED-TEXT ENV... -- SCRIPT ARGS: exit non-zero, one line on stderr naming it
  local want=$1
  shift
  local out rc
  out=$(env -u SWEEP_CONFIG "$@" 2>&1 >/dev/null)
  rc=$?
  if ((rc != 0)) && [[ $out == *"$want"* && $(wc -l <<<"$out") == 1 ]]; then
    echo "ok   error '$out'"
  else
    echo "FAIL expected one line with '$want' and a failure, got exit $rc: $out"
    failures=$((failures + 1))
  fi
}
err "no surface file" bash "$src/jobs/sweep.sbatch" --model-file train/model_1.h5
err "SWEEP_CONFIG=nothere.json" SWEEP_CONFIG=nothere.json bash "$src/jobs/sweep.sbatch"
err "no model" SWEEP_OUT=x.h5 bash "$src/jobs/sweep-chain.sbatch"
err "LAUNCHER=bogus" LAUNCHER=bogus SWEEP_OUT=x.h5 bash "$src/jobs/sweep.sbatch" --model-file m.h5
err "LOSSCAPE=/nonexistent" LOSSCAPE=/nonexistent bash "$src/jobs/sweep.sbatch"
err "FANOUT_PARTS" SWEEP_OUT=x.h5 bash "$src/jobs/sweep-fanout.sbatch" submit --model-file m.h5
err "not an array task" SWEEP_OUT=x.h5 bash "$src/jobs/sweep-fanout.sbatch" --model-file m.h5
err "DATA_DIR" bash "$src/jobs/paper/submit.sh"
err "no architecture" TRAIN_OUT=t bash "$src/jobs/train.sbatch"
err "no part files" SWEEP_OUT=nothing.h5 bash "$src/jobs/sweep-fanout.sbatch" merge --model-file m.h5

stamp "done: $failures failure(s)"
((failures == 0))

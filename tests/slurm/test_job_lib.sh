#!/usr/bin/env bash
# The settings logic of the job scripts, without a cluster: which surface file or run folder,
# config and thread count jobs/lib/slurm-sweep.sh (the sweep scripts) and jobs/train.sbatch give
# losscape for a given environment and arguments.
# Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR.
set -u
: "${LOSSCAPE:?set LOSSCAPE to the losscape binary}"
root=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${TEST_WORK_DIR:-$(mktemp -d)}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
failures=0
check() {  # check WHAT COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}

# ls_settings and ls_threads in a fresh shell: prints LS_OUT, then LS_SWEEP one word a line.
settings() {
  env -u SWEEP_OUT -u SWEEP_CONFIG -u SWEEP_ARGS -u SLURM_CPUS_PER_TASK "$@" bash -c '
    source "$0"; ls_settings "${@}"; ls_threads LS_SWEEP; echo "$LS_OUT"; printf "%s\n" "${LS_SWEEP[@]}"' \
    "$root/jobs/lib/slurm-sweep.sh" "${ARGS[@]}"
}
export LOSSCAPE
echo '{"arch": "cnn_small", "out": "from-config.h5"}' >plain.json
echo '{"arch": "cnn_small", "out": "threads.h5", "threads": 3}' >threads.json
echo '{"arch": "cnn_small", "out": "stored.h5", "threads": 0}' >stored.json

ARGS=(--arch cnn_small --out from-args.h5)
out=$(settings SWEEP_OUT=from-env.h5)
check "--out among the arguments comes before SWEEP_OUT" test "$(head -1 <<<"$out")" == from-args.h5
ARGS=(--arch cnn_small)
out=$(settings SWEEP_OUT=from-env.h5)
check "SWEEP_OUT when the arguments have no --out" test "$(head -1 <<<"$out")" == from-env.h5
ARGS=()
out=$(settings SWEEP_CONFIG=plain.json)
check "else the config's \"out\"" test "$(head -1 <<<"$out")" == from-config.h5
check "--out is not passed among the sweep's flags (each script adds its own)" \
  bash -c "! grep -qx -- --out <<<'$out'"

ARGS=(--config threads.json)
out=$(settings SWEEP_CONFIG=plain.json)
check "a --config among the arguments replaces SWEEP_CONFIG: one --config" \
  test "$(grep -cx -- --config <<<"$out") $(grep -A1 -x -- --config <<<"$out" | tail -1)" == "1 threads.json"

ARGS=()
out=$(settings SWEEP_CONFIG=plain.json SLURM_CPUS_PER_TASK=8)
check "--threads from --cpus-per-task" test "$(grep -A1 -x -- --threads <<<"$out" | tail -1)" == 8
out=$(settings SWEEP_CONFIG=threads.json SLURM_CPUS_PER_TASK=8)
check "no --threads when the config sets \"threads\"" \
  bash -c "[[ -n '$out' ]] && ! grep -qx -- --threads <<<'$out'"
out=$(settings SWEEP_CONFIG=stored.json SLURM_CPUS_PER_TASK=8)
check "\"threads\": 0 (a stored configuration's: all the node's cores) does not count as set" \
  test "$(grep -A1 -x -- --threads <<<"$out" | tail -1)" == 8
ARGS=(--threads 2)
out=$(settings SWEEP_CONFIG=plain.json SLURM_CPUS_PER_TASK=8)
check "no second --threads when the arguments have one" test "$(grep -cx -- --threads <<<"$out")" == 1

ARGS=()
out=$(settings SWEEP_OUT=lines.h5 SWEEP_ARGS=$'--arch cnn_small --x -1:1:3\n--y -1:1:3 --samples *')
check "SWEEP_ARGS over several lines: every word, none glob-expanded" \
  test "$(tr '\n' ' ' <<<"$out")" == "lines.h5 sweep --arch cnn_small --x -1:1:3 --y -1:1:3 --samples * "

ARGS=(-mmodel.h5 -oattached.h5)
out=$(settings SWEEP_OUT=from-env.h5)
check "-oFILE and -mFILE are seen" test "$(head -1 <<<"$out") $(grep -c -- '^-o' <<<"$out")" == "attached.h5 0"

ARGS=(--arch cnn_small)
err=$(settings 2>&1 >/dev/null)
check "no surface file anywhere: one line naming the settings" \
  bash -c "[[ \$(grep -c '' <<<'$err') == 1 ]] && grep -q SWEEP_OUT <<<'$err'"

# ---- train.sbatch, outside Slurm (LAUNCHER none), with a losscape that prints its arguments ----
cat >args.sh <<'ARGS'
#!/usr/bin/env bash
printf '%s\n' "$@" >train-args.txt
ARGS
chmod +x args.sh
train() {  # train VAR=VALUE... -- SCRIPT ARGUMENTS: the arguments losscape got, one a line
  local vars=()
  while [[ $1 != -- ]]; do vars+=("$1"); shift; done
  shift
  rm -f train-args.txt
  env -u TRAIN_ARGS -u TRAIN_OUT -u TRAIN_CONFIG -u SLURM_JOB_ID -u SLURM_CPUS_PER_TASK \
    LOSSCAPE="$WORK/args.sh" LAUNCHER=none "${vars[@]}" bash "$root/jobs/train.sbatch" "$@" \
    >train.log 2>&1
  cat train-args.txt 2>/dev/null
}
echo '{"arch": "cnn_small", "out": "cfg-run"}' >train-a.json
echo '{"arch": "cnn_small", "epochs": 2}' >train-b.json
got=$(train TRAIN_ARGS="--arch cnn_small -orun-a" --)
check "train.sbatch: -oDIR is the run folder, passed once as --out" \
  test "$(grep -A1 -x -- --out <<<"$got" | tail -1) $(grep -c -- '^-o' <<<"$got")" == "run-a 0"
got=$(train TRAIN_CONFIG=train-b.json TRAIN_ARGS="--config train-a.json" --)
check "train.sbatch: a --config among the arguments replaces TRAIN_CONFIG, and gives the run folder" \
  test "$(grep -cx -- --config <<<"$got") $(grep -A1 -x -- --config <<<"$got" | tail -1) $(grep -A1 -x -- --out <<<"$got" | tail -1)" == "1 train-a.json cfg-run"
# A run folder holding a checkpoint is resumed, whatever its path holds ([1] is no pattern there,
# nor a space: compgen -G took the folder's name for a pattern and found no checkpoint)
for dir in "glob[1]/run" "with space/run"; do
  mkdir -p "$dir" && touch "$dir/model_1.h5"
  got=$(train TRAIN_OUT="$dir" TRAIN_ARGS="--arch cnn_small" --)
  check "train.sbatch: a checkpoint in '$dir': --resume" grep -qx -- --resume <<<"$got"
done
got=$(train TRAIN_OUT=env-run TRAIN_CONFIG=train-a.json -- --epochs 3)
check "train.sbatch: TRAIN_OUT before the config's \"out\"" \
  test "$(grep -A1 -x -- --out <<<"$got" | tail -1)" == env-run
got=$(train TRAIN_CONFIG=train-b.json --)
check "train.sbatch: no run folder anywhere: refused in one line" \
  bash -c "[[ -z '$got' ]] && grep -q 'no run folder' train.log"

# ---- stop signals: passed on as SIGUSR1 (srun would SIGKILL the ranks on SIGTERM) ----
# A launcher stub that records the signal it gets and exits as losscape would on it.
mkdir -p bin
cat >bin/srun <<'SRUN'
#!/usr/bin/env bash
trap 'echo USR1 >>"$SIGLOG"; exit 75' USR1
trap 'echo TERM >>"$SIGLOG"; exit 143' TERM
touch "$SIGLOG.started"
while :; do sleep 0.1; done
SRUN
chmod +x bin/srun
wait_started() { for _ in $(seq 100); do [[ -e $SIGLOG.started ]] && return 0; sleep 0.1; done; return 1; }
export SIGLOG=$WORK/signals.txt
rm -f "$SIGLOG" "$SIGLOG.started"
PATH=$WORK/bin:$PATH LAUNCHER=srun bash -c '
  source "$0"; ls_launcher; ls_trap_signals; ls_run "$LOSSCAPE" sweep; echo "rc $?" >lib-rc.txt'   "$root/jobs/lib/slurm-sweep.sh" >lib-signal.log 2>&1 &
pid=$!
wait_started && kill -TERM "$pid"
wait "$pid"
check "SIGTERM to a sweep script under srun reaches the ranks as SIGUSR1, and ls_run says 75"   test "$(cat "$SIGLOG" 2>/dev/null) $(cat lib-rc.txt)" == "USR1 rc 75"
rm -f "$SIGLOG" "$SIGLOG.started"
PATH=$WORK/bin:$PATH LAUNCHER=srun bash -c '
  source "$0"; ls_launcher; ls_trap_signals; kill -USR1 $$; ls_run "$LOSSCAPE" sweep
  echo "rc $? warned $LS_WARNED" >lib-rc.txt' "$root/jobs/lib/slurm-sweep.sh" >lib-early.log 2>&1
check "the warning before the launch: nothing started, 75"   test "$([[ -e $SIGLOG.started ]] && echo started) $(cat lib-rc.txt)" == " rc 75 warned 1"
rm -f "$SIGLOG" "$SIGLOG.started" train-args.txt
env -u TRAIN_ARGS -u TRAIN_CONFIG -u SLURM_JOB_ID PATH="$WORK/bin:$PATH" LOSSCAPE="$WORK/args.sh"   LAUNCHER=srun TRAIN_ARGS="--arch cnn_small --out sig-run" bash "$root/jobs/train.sbatch"   >train-signal.log 2>&1 &
pid=$!
wait_started && kill -TERM "$pid"
wait "$pid"
rc=$?
check "train.sbatch: SIGTERM under srun goes on as SIGUSR1; exit 75"   test "$(cat "$SIGLOG" 2>/dev/null) $rc" == "USR1 75"

# Ctrl-C on a script run by hand (LAUNCHER=none): the terminal signals the script's whole process
# group. losscape must get SIGINT once (through the script's trap: two would make train give up
# its epoch) and must not start with SIGINT ignored (bash's default for a script's background
# commands, which lost a Ctrl-C during losscape's start-up). The stub records both and exits 75
# on its first signal after a second's grace (as train finishing its epoch).
cat >int-stub.sh <<'STUB'
#!/usr/bin/env bash
n=0
grep SigIgn /proc/$$/status >"$SIGLOG.ignored"
trap 'n=$((n + 1)); echo "INT $n" >>"$SIGLOG"' INT
touch "$SIGLOG.started"
for _ in $(seq 100); do sleep 0.05; ((n)) && break; done
sleep 1
exit 75
STUB
chmod +x int-stub.sh
sed -e 's/INT/HUP/g' int-stub.sh >hup-stub.sh
chmod +x hup-stub.sh
# by_hand SIGNAL [pipe]: train.sbatch run by hand (LAUNCHER=none) with the stub of SIGNAL as
# losscape, in a process group of its own (setsid) that gets SIGNAL once the stub works, as from a
# terminal (--default-signal: SIGINT as a terminal's shell leaves it, not ignored as for a
# background command of this test's shell); with "pipe" the script's output goes through a pipe
# whose reader the signal ends too (`| tee log`). rc: the exit status; got: the signals the stub
# got, a line each.
by_hand() {
  local sig=$1 cmd='exec bash "$0" >"train-$1.log" 2>&1' pid
  [[ ${2:-} == pipe ]] && cmd='trap : HUP; bash "$0" 2>&1 | cat >"train-$1-pipe.log"'
  rm -f "$SIGLOG" "$SIGLOG.started"
  setsid env --default-signal=INT -u TRAIN_ARGS -u TRAIN_CONFIG -u SLURM_JOB_ID LOSSCAPE="$WORK/${sig,,}-stub.sh" \
    LAUNCHER=none TRAIN_ARGS="--arch cnn_small --out ${sig,,}-run" bash -c "$cmd" "$root/jobs/train.sbatch" "$sig" &
  pid=$!
  wait_started && sleep 0.2 && kill -"$sig" -- "-$pid"
  wait "$pid"
  rc=$?
  [[ ${2:-} == pipe ]] && sleep 0.5  # (the stub, no longer waited for, ends a moment later)
  got=$(cat "$SIGLOG" 2>/dev/null | tr '\n' ' ')
}
by_hand INT
check "Ctrl-C (SIGINT to the script's process group) reaches losscape once; exit 75" test "$got$rc" == "INT 1 75"
check "... and the script says it is not requeued outside Slurm" \
  grep -q 'not a Slurm job, so not requeued: run again to resume int-run$' train-INT.log
ignored=$(awk '{print $2}' "$SIGLOG.ignored" 2>/dev/null)
check "... and losscape starts with SIGINT not ignored (SigIgn $ignored)" \
  test -n "$ignored" -a "$(((0x${ignored:-2} >> 1) & 1))" == 0

# A closed terminal (SIGHUP to the script's process group) on a script run by hand: passed on to
# losscape, which stops cleanly on it (losscape runs in a process group of its own, which the
# hangup does not reach: the script died of it and left losscape running, holding its lock)
by_hand HUP
check "a closed terminal (SIGHUP to the script's process group) reaches losscape once; exit 75" \
  test "$got$rc" == "HUP 1 75"
# ... also when the script's output goes through a pipe that the hangup ends (`| tee log`): the
# script's log line then ended it by SIGPIPE before the signal was passed on
by_hand HUP pipe
check "... also when the script's output goes through a pipe the hangup ends" test "$got" == "HUP 1 "
# A bash older than 4.4 (namerefs, empty arrays under set -u) is refused in one line by every
# script (the library said so where the scripts discarded its output: a silent exit 1); an old
# bash simulated by raising the bar in a copy of jobs/
rm -rf old-bash && mkdir old-bash && cp -r "$root/jobs" old-bash/ &&
  sed -i 's/BASH_VERSINFO\[0\] < 4 ||/BASH_VERSINFO[0] < 99 ||/' old-bash/jobs/lib/slurm-common.sh
for script in sweep.sbatch sweep-chain.sbatch sweep-fanout.sbatch train.sbatch; do
  out=$(env -u SLURM_JOB_ID LOSSCAPE_JOBS="$WORK/old-bash/jobs" bash "old-bash/jobs/$script" 2>&1)
  check "$script on a bash too old: one line, exit 1" \
    test "$?:$out" == "1:$script: error: bash $BASH_VERSION is too old: the job scripts need bash 4.4 or later"
done

# A signal after one run of a script and before its next (the fan-out merge's dry run and the
# merge): the next is not started, as for a signal before the first.
rm -f "$SIGLOG" "$SIGLOG.started"
PATH=$WORK/bin:$PATH LAUNCHER=srun bash -c '
  source "$0"; ls_launcher; ls_trap_signals
  launch=("${LS_LAUNCH[@]}"); LS_LAUNCH=(); LS_EXE=true ls_run; LS_LAUNCH=("${launch[@]}")
  kill -USR1 $$; ls_run "$LOSSCAPE" sweep
  echo "rc $? warned $LS_WARNED" >lib-rc.txt' "$root/jobs/lib/slurm-sweep.sh" >lib-late.log 2>&1
check "a warning between two runs: the second is not started, 75" \
  test "$([[ -e $SIGLOG.started ]] && echo started) $(cat lib-rc.txt)" == " rc 75 warned 1"

# ---- the requeue after the warning: scontrol ended by Slurm's own SIGTERM is no failure ----
# Slurm requeues a job by signalling its batch step, scontrol included, which can then end by
# that SIGTERM before reporting success. train.sbatch as a job (SLURM_JOB_ID set) that gets the
# warning and saves no checkpoint: a start requeued all the same; an scontrol stub that ends by
# SIGTERM, then one that fails.
mkdir -p requeue-bin
requeue_case() {  # requeue_case STUB-BODY: runs train.sbatch until it requeues; log in rq.log
  printf '#!/usr/bin/env bash\n%s\n' "$1" >requeue-bin/scontrol
  chmod +x requeue-bin/scontrol
  rm -rf "$SIGLOG" "$SIGLOG.started" rq-run rq.log
  env -u TRAIN_ARGS -u TRAIN_CONFIG SLURM_JOB_ID=4242 PATH="$WORK/requeue-bin:$WORK/bin:$PATH" \
    LOSSCAPE="$WORK/args.sh" LAUNCHER=srun TRAIN_ARGS="--arch cnn_small --out rq-run" \
    bash "$root/jobs/train.sbatch" >rq.log 2>&1 &
  local pid=$! i
  wait_started && kill -USR1 "$pid"
  # it then sleeps for Slurm to end it (after a requeue) or exits 75 (after a failed one)
  for i in $(seq 100); do grep -q 'scontrol requeue' rq.log && break; sleep 0.1; done
  sleep 0.3
  pkill -KILL -P "$pid" sleep 2>/dev/null
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
requeue_case 'kill -TERM $$'
check "train.sbatch: scontrol requeue ended by SIGTERM is logged as such, not as a failure" \
  bash -c "grep -q 'scontrol requeue was ended by SIGTERM' rq.log && ! grep -q 'requeue failed' rq.log"
check "... and the idle-start count stays for the next start" test "$(cat rq-run/idle-starts 2>/dev/null)" == "4242 1"
requeue_case 'echo "scontrol: error: Job is not requeueable" >&2; exit 1'
check "train.sbatch: a failed scontrol requeue says so" \
  bash -c "grep -q 'scontrol requeue failed' rq.log && ! grep -q 'was ended by' rq.log"

# ---- a warning early in a start (a lead longer than half the time limit): said, with why ----
mkdir -p limit-bin
limit_case() {  # limit_case TIMELIMIT SECONDS: what _ls_early_warning_note logs, a job of 4242
  printf '#!/usr/bin/env bash\necho "   RunTime=00:00:10 TimeLimit=%s TimeMin=N/A"\n' "$1" >limit-bin/scontrol
  chmod +x limit-bin/scontrol
  SLURM_JOB_ID=4242 PATH="$WORK/limit-bin:$PATH" bash -c 'source "$0"; SECONDS=$1; ls_time_limit
    _ls_early_warning_note; _ls_early_warning_note' "$root/jobs/lib/slurm-sweep.sh" "$2" 2>&1
}
out=$(limit_case 00:05:00 13)
check "ls_time_limit: 00:05:00 is 300 s" test "$(head -1 <<<"$out")" == 300
check "a warning 13 s into a start of 300 s: said once, naming the lead"   test "$(grep -c 'warning came 13 s into this start, whose time limit is 300 s.*lead' <<<"$out")" == 1
check "ls_time_limit: 1-02:03:04 and 7:30"   test "$(limit_case 1-02:03:04 0 | head -1) $(limit_case 7:30 0 | head -1)" == "93784 450"
check "a warning 100 s into a start of 300 s (a lead of 200 s, or of 140 s sent 60 s early): no note" \
  test "$(limit_case 00:05:00 100 | wc -l)" == 1
check "a warning 10 s into a start of 60 s (Slurm's up to 60 s early): no note" \
  test "$(limit_case 00:01:00 10 | wc -l)" == 1
check "UNLIMITED: no limit, no note" test -z "$(limit_case UNLIMITED 1)"

# ---- the fan-out's part files: not their directions files, not another fan-out's ----
touch s.part-1-of-2.h5 s.part-2-of-2.h5 s.part-1-of-2.dirs.h5 s.part-10-of-3.h5 s.part-x-of-2.h5
parts=$(bash -c 'source "$0"; ls_part_files s 2 && printf "%s\n" "${LS_PARTS[@]}"' \
  "$root/jobs/lib/slurm-sweep.sh")
check "ls_part_files s 2: the two parts of 2, no .dirs.h5" \
  test "$(tr '\n' ' ' <<<"$parts")" == "s.part-1-of-2.h5 s.part-2-of-2.h5 "
err=$(bash -c 'source "$0"; ls_part_files s' "$root/jobs/lib/slurm-sweep.sh" 2>&1)
check "ls_part_files without N, parts of two fan-outs beside: refused naming both counts" \
  grep -q 'of 2 3 parts' <<<"$err"
bash -c 'source "$0"; ls_part_files s' "$root/jobs/lib/slurm-sweep.sh" >/dev/null 2>&1
check "... with a failing status" test $? == 1

# ---- starts that computed nothing: requeued at most LIMIT times in a row, per job ----
idle() {  # idle JOBID LIMIT: one idle start; prints "N status"
  SLURM_JOB_ID=$1 bash -c 'source "$0"; n=$(ls_idle_start idle.txt "$1"); echo "$n $?"' \
    "$root/jobs/lib/slurm-sweep.sh" "$2"
}
rm -f idle.txt
check "ls_idle_start: 1st and 2nd idle start of a job within a limit of 2" \
  test "$(idle 7 2), $(idle 7 2)" == "1 0, 2 0"
check "... the 3rd is refused and the count removed" test "$(idle 7 2) $(test -e idle.txt || echo gone)" == "3 1 gone"
idle 7 2 >/dev/null
check "... a count left by another job (a new submission) starts again at 1" test "$(idle 8 2)" == "1 0"
echo "garbage here" >idle.txt
check "... a damaged count file starts again at 1" test "$(idle 8 2)" == "1 0"
check "... IDLE_REQUEUES=0: the first idle start is not requeued" test "$(idle 9 0)" == "1 1"
out=$(env IDLE_REQUEUES=x SWEEP_OUT=x.h5 bash "$root/jobs/sweep.sbatch" --model-file m.h5 2>&1)
check "sweep.sbatch: IDLE_REQUEUES=x refused in one line" test "$out" == "sweep.sbatch: error: IDLE_REQUEUES=x: expected a whole number"
out=$(env MAX_REQUEUES=1.5 TRAIN_OUT=t bash "$root/jobs/train.sbatch" --arch cnn_small 2>&1)
check "train.sbatch: MAX_REQUEUES=1.5 refused in one line" test "$out" == "train.sbatch: error: MAX_REQUEUES=1.5: expected a whole number"

# ---- train.sbatch shares the sweep scripts' library: threads, launcher ----
echo '{"arch": "cnn_small", "out": "thr-run", "threads": 3}' >train-threads.json
got=$(train SLURM_CPUS_PER_TASK=8 TRAIN_CONFIG=train-threads.json --)
check "train.sbatch: no --threads from --cpus-per-task when the config sets \"threads\"" \
  bash -c "[[ -n '$got' ]] && ! grep -qx -- --threads <<<'$got'"
got=$(train SLURM_CPUS_PER_TASK=8 TRAIN_ARGS="--arch cnn_small --out thr-run" --)
check "train.sbatch: --threads 8 from --cpus-per-task otherwise" \
  test "$(grep -A1 -x -- --threads <<<"$got" | tail -1)" == 8
mkdir -p no-srun  # (a PATH with the script's tools but not srun, which this machine may have)
for t in dirname sed date grep wc head mkdir rm; do ln -sf "$(type -P $t)" no-srun/$t; done
out=$(env -u SLURM_JOB_ID PATH="$WORK/no-srun" LOSSCAPE="$WORK/args.sh" LAUNCHER=srun TRAIN_OUT=t \
  "$BASH" "$root/jobs/train.sbatch" --arch cnn_small 2>&1)
check "train.sbatch: LAUNCHER=srun without srun: refused in one line" \
  test "$out" == "train.sbatch: error: LAUNCHER=srun but srun is not on PATH"
out=$(env -u SLURM_JOB_ID LOSSCAPE="$WORK/args.sh" LAUNCHER=mpirun TRAIN_OUT=t \
  bash "$root/jobs/train.sbatch" --arch cnn_small 2>&1)
check "train.sbatch: LAUNCHER=mpirun refused (one task)" grep -q 'LAUNCHER=mpirun: expected srun or none' <<<"$out"
launch() {  # launch VAR=VALUE...: LS_LAUNCH of the library's ls_launcher in that environment
  env "$@" bash -c 'source "$0"; ls_launcher; echo "${LS_LAUNCH[*]}"' "$root/jobs/lib/slurm-common.sh"
}
if command -v mpirun >/dev/null; then
  check "LAUNCHER=mpirun with --cpus-per-task 4: the ranks unbound (Open MPI would bind each to one core)" \
    bash -c "[[ '$(launch LAUNCHER=mpirun SLURM_CPUS_PER_TASK=4)' == *'mpirun'*'--bind-to none' ]]"
  check "... not with one CPU per task, nor when MPIRUN_ARGS binds or maps itself" \
    bash -c "[[ '$(launch LAUNCHER=mpirun SLURM_CPUS_PER_TASK=1) $(launch LAUNCHER=mpirun SLURM_CPUS_PER_TASK=4 \
      MPIRUN_ARGS='--map-by slot:PE=4')' != *'bind-to none'* ]]"
fi

# ---- jobs/lib found from the script's own folder when the job's Command is another script ----
# (a job script that runs ours with bash, or an salloc session): scontrol names a wrapper.
mkdir -p other-bin
printf '#!/bin/sh\necho "   Command=/nonexistent/wrapper.sbatch"\necho "   WorkDir=/nonexistent"\n' \
  >other-bin/scontrol
chmod +x other-bin/scontrol
for script in sweep sweep-chain sweep-fanout train; do
  out=$(env -u LOSSCAPE_JOBS -u SWEEP_OUT -u SWEEP_CONFIG -u TRAIN_OUT -u TRAIN_CONFIG SLURM_JOB_ID=99 \
    PATH="$WORK/other-bin:$PATH" LAUNCHER=none LOSSCAPE="$WORK/args.sh" \
    bash "$root/jobs/$script.sbatch" 2>&1)
  check "$script.sbatch run by another job's script finds jobs/lib (then wants an output)" \
    bash -c "grep -q 'error: no \(surface file\|run folder\)' <<<'$out' && ! grep -q 'cannot find' <<<'$out'"
done

# ---- the chain: a complete file is checked against this sweep's settings ----
COMPLETE=(--arch cnn_small --dataset fashion-mnist --samples 20 --splits train --batch-size 20
  --threads 1 --quiet)
"$LOSSCAPE" sweep "${COMPLETE[@]}" --x -1:1:3 --out done.h5 >/dev/null 2>&1
chain() {  # chain ARGS...: sweep-chain.sbatch outside Slurm on done.h5; prints its exit status
  env -u SWEEP_OUT -u SWEEP_CONFIG -u SWEEP_ARGS -u SLURM_JOB_ID -u SLURM_CPUS_PER_TASK \
    LAUNCHER=none bash "$root/jobs/sweep-chain.sbatch" "${COMPLETE[@]}" --out done.h5 "$@" \
    >chain.log 2>&1
  echo $?
}
check "chain: a complete file of this sweep: nothing to do, exit 0" \
  bash -c "[[ $(chain --x -1:1:3) == 0 ]] && grep -q 'is this sweep.s, complete: nothing to do' chain.log"
check "chain: a complete file of another grid fails the task (exit 1, the sweep's reason)" \
  bash -c "[[ $(chain --x -1:1:5) == 1 ]] && grep -q 'not this sweep' chain.log && grep -q 'another sweep\|grid' chain.log"

# ---- a SWEEP_CONFIG / TRAIN_CONFIG that a --config replaces is not looked at ----
ARGS=(--config plain.json)
out=$(settings SWEEP_CONFIG=nothere.json 2>&1)
check "an unreadable SWEEP_CONFIG that --config replaces is not refused" \
  test "$(head -1 <<<"$out") $(grep -A1 -x -- --config <<<"$out" | tail -1)" == "from-config.h5 plain.json"
ARGS=()
out=$(settings SWEEP_CONFIG=nothere.json 2>&1)
check "... one that is used is refused in one line" \
  test "$out" == "losscape-job: error: SWEEP_CONFIG=nothere.json: no such readable file"
got=$(train TRAIN_CONFIG=nothere.json TRAIN_ARGS="--config train-a.json" --)
check "train.sbatch: an unreadable TRAIN_CONFIG that --config replaces is not refused" \
  test "$(grep -A1 -x -- --config <<<"$got" | tail -1)" == train-a.json

# ---- jobs/lib found through scontrol's Command=: a path with a space, and arguments ----
mkdir -p "with space" spool/job7 cmd-bin
cp -r "$root/jobs" "with space/"
cp "$root/jobs/sweep.sbatch" spool/job7/slurm_script
printf '#!/bin/sh\necho "   Command=%s/with space/jobs/sweep.sbatch --out a b.h5"\necho "   WorkDir=%s"\n' \
  "$WORK" "$WORK" >cmd-bin/scontrol
chmod +x cmd-bin/scontrol
out=$(env -u LOSSCAPE_JOBS -u SWEEP_OUT -u SWEEP_CONFIG SLURM_JOB_ID=7 PATH="$WORK/cmd-bin:$PATH" \
  LAUNCHER=none bash spool/job7/slurm_script 2>&1)
check "jobs/lib found through Command= with a space in the path and arguments after it" \
  bash -c "grep -q 'error: no surface file' <<<'$out' && ! grep -q 'cannot find' <<<'$out'"

# ---- a fake losscape: `info` prints FAKE_INFO (fails without it; touches FAKE_INFO_MARK and
# takes a second first, when set); `sweep` exits 0 on --dry-run, else works until a stop signal
# and exits 75 ----
cat >fake.sh <<'FAKE'
#!/usr/bin/env bash
case $1 in
  info)
    [[ -n ${FAKE_INFO_MARK:-} ]] && { touch "$FAKE_INFO_MARK"; sleep 1; }
    [[ -n ${FAKE_INFO:-} ]] || exit 1
    echo "$FAKE_INFO" ;;
  sweep | merge)
    [[ " $* " == *" --dry-run "* ]] && exit 0
    trap 'exit 75' USR1 TERM
    touch "$SIGLOG.started"
    while :; do sleep 0.1; done ;;
esac
FAKE
chmod +x fake.sh
fake_start() {  # fake_start SIGNAL LOG VAR=VALUE... -- SCRIPT ARGS: runs SCRIPT with the fake and
  # sends it SIGNAL once the fake works; FAKE_PID: the script's process
  local sig=$1 log=$2 vars=()
  shift 2
  while [[ $1 != -- ]]; do vars+=("$1"); shift; done
  shift
  rm -f "$SIGLOG.started"
  env -u SWEEP_OUT -u SWEEP_CONFIG -u SWEEP_ARGS -u SLURM_CPUS_PER_TASK -u SLURM_JOB_ID -u LOSSCAPE_JOBS \
    LOSSCAPE="$WORK/fake.sh" LAUNCHER=none "${vars[@]}" bash "$@" >"$log" 2>&1 &
  FAKE_PID=$!
  wait_started && kill -"$sig" "$FAKE_PID"
}
fake_job() { fake_start "$@"; wait "$FAKE_PID"; }  # ... and its exit status
has() { grep -q -- "$2" <<<"$1"; }  # has TEXT PATTERN
lacks() { ! grep -q -- "$2" <<<"$1"; }

# ---- a stop without the warning: Slurm requeueing the job (its restart count is past this
# start's) or not; the idle-start count stays only while the job lasts ----
mkdir -p rq-bin
printf '#!/bin/sh\n[ "$1" = show ] && echo "   Requeue=1 Restarts=$RESTARTS BatchFlag=1 Reboot=0 ExitCode=0:0"\nexit 0\n' \
  >rq-bin/scontrol
chmod +x rq-bin/scontrol
echo "4242 1" >hand.h5.idle-starts
fake_job TERM hand.log RESTARTS=1 SLURM_JOB_ID=4242 PATH="$WORK/rq-bin:$PATH" -- "$root/jobs/sweep.sbatch" \
  --arch cnn_small --out hand.h5
check "sweep.sbatch: a stop by Slurm's requeue (scontrol requeue by hand) is logged as such (exit $?)" \
  bash -c "grep -q 'Slurm is requeueing job 4242' hand.log && ! grep -q 'not requeued' hand.log"
check "... and the idle-start count stays for the next start" test "$(cat hand.h5.idle-starts 2>/dev/null)" == "4242 1"
fake_job TERM hand.log RESTARTS=0 SLURM_JOB_ID=4242 PATH="$WORK/rq-bin:$PATH" -- "$root/jobs/sweep.sbatch" \
  --arch cnn_small --out hand.h5
check "sweep.sbatch: a stop without the warning and without a requeue: not requeued (exit $?)" \
  grep -q 'stopped without the time-limit warning.*not requeued' hand.log
check "... and the idle-start count is gone (the job ends)" test ! -e hand.h5.idle-starts

# ---- the warning, then a requeue under way already: a `losscape info` that fails is not "no
# point computed"; scontrol's "pending" answer is no failed requeue ----
printf '#!/bin/sh\n[ "$1" = show ] && echo "   Requeue=1 Restarts=0"\n[ "$1" = requeue ] && { echo "scontrol: error: Job is pending execution for job 4242" >&2; exit 1; }\nexit 0\n' \
  >rq-bin/scontrol
touch race.h5
fake_start USR1 race.log SLURM_JOB_ID=4242 PATH="$WORK/rq-bin:$PATH" -- "$root/jobs/sweep.sbatch" \
  --arch cnn_small --out race.h5
# (it then sleeps for Slurm to end it: its sleep ended here instead)
for _ in $(seq 100); do grep -q 'pending execution' race.log 2>/dev/null && break; sleep 0.1; done
sleep 0.3
pkill -P "$FAKE_PID" sleep
wait "$FAKE_PID"
check "sweep.sbatch: a failed losscape info after the warning is not counted as a start without a point" \
  bash -c "grep -q 'could not read the points done' race.log && ! grep -q 'no point was computed' race.log && [[ ! -e race.h5.idle-starts ]]"
check "... and scontrol's 'Job is pending execution' is a requeue under way, not a failure" \
  bash -c "grep -q 'the job is being requeued already' race.log && ! grep -q 'requeue failed' race.log"

# ---- SIGUSR1 to the job's steps alone (scancel -s USR1 JOB) during start-up: incomplete ----
cat >bin/srun <<'SRUN'
#!/usr/bin/env bash
touch "$SIGLOG.started"
kill -USR1 $$
SRUN
rm -f "$SIGLOG.started"
PATH=$WORK/bin:$PATH LAUNCHER=srun bash -c '
  source "$0"; ls_launcher; ls_trap_signals; ls_run "$LOSSCAPE" sweep; echo "rc $?" >lib-rc.txt' \
  "$root/jobs/lib/slurm-sweep.sh" >lib-step.log 2>&1
check "a launcher ended by SIGUSR1 the batch shell never got (exit 138) counts as incomplete (75)" \
  bash -c "[[ \$(cat lib-rc.txt) == 'rc 75' ]] && grep -q 'SIGUSR1 sent to the job.s steps' lib-step.log"

# ---- the chain: a stop before the complete file's check; starts without a point; no later task ----
mkdir -p chain-bin
printf '#!/bin/sh\necho "$SQUEUE"\n' >chain-bin/squeue
printf '#!/bin/sh\necho "scancel $*" >>scancel.txt\n' >chain-bin/scancel
chmod +x chain-bin/squeue chain-bin/scancel
touch cc.h5
rm -f "$SIGLOG.started"
env -u SWEEP_OUT -u SWEEP_CONFIG -u SWEEP_ARGS -u SLURM_JOB_ID LOSSCAPE="$WORK/fake.sh" LAUNCHER=none \
  FAKE_INFO="done 9 of 9 points (complete)" FAKE_INFO_MARK="$SIGLOG.started" \
  bash "$root/jobs/sweep-chain.sbatch" --arch cnn_small --out cc.h5 >cc.log 2>&1 &
pid=$!
wait_started && kill -USR1 "$pid"
wait "$pid"
rc=$?
check "chain: the warning before the complete file's check: exit 0 (exit $rc), the file is complete" \
  bash -c "[[ $rc == 0 ]] && grep -q 'cc.h5 is complete (not checked' cc.log"
check "... with one line on the time limit being shorter than the warning's lead" \
  grep -q "the time limit is not longer than the warning's lead" cc.log
chain_task() {  # chain_task LOG VAR=VALUE...: task 1 of 3 of array 77, warned while it works
  fake_job USR1 "$@" SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MAX=3 \
    PATH="$WORK/chain-bin:$PATH" FAKE_INFO="done 0 of 9 points" IDLE_REQUEUES=1 -- \
    "$root/jobs/sweep-chain.sbatch" --arch cnn_small --out cc.h5
}
rm -f scancel.txt cc.h5.idle-starts
chain_task idle1.log SQUEUE=$'1\n2\n3'
rc=$?
check "chain: a task without a point, the 1st in a row: the next task tries again (exit $rc)" \
  bash -c "[[ $rc == 0 ]] && grep -q 'no point was computed in this task (1 in a row' idle1.log"
chain_task idle2.log SQUEUE=$'1\n2\n3'
rc=$?
check "chain: the 2nd in a row (IDLE_REQUEUES=1): the chain stops, exit 75 (exit $rc), pending tasks cancelled" \
  bash -c "[[ $rc == 75 ]] && grep -q 'no point was computed in 2 task(s) in a row: the chain stops' idle2.log && grep -q 'scancel --state=PENDING 77' scancel.txt && [[ ! -e cc.h5.idle-starts ]]"
FAKE_INFO_LATER=1 chain_task gone.log SQUEUE=1 FAKE_INFO="done 3 of 9 points"
rc=$?
check "chain: no later task left (cancelled): says so, exit 75 (exit $rc)" \
  bash -c "[[ $rc == 75 ]] && grep -q 'no task of array job 77 is left' gone.log && ! grep -q 'a later task' gone.log"

# ---- log lines: a dry run; LAUNCHER=none with several tasks ----
out=$(env -u SWEEP_CONFIG -u SLURM_JOB_ID LOSSCAPE="$WORK/fake.sh" LAUNCHER=none SLURM_NTASKS=2 \
  bash "$root/jobs/sweep.sbatch" --arch cnn_small --out dry.h5 --dry-run 2>&1)
check "sweep.sbatch --dry-run: logged as a dry run" has "$out" 'a dry run: nothing computed'
check "... not as complete" lacks "$out" 'sweep complete'
check "LAUNCHER=none in a 2-task allocation: 1 rank" has "$out" ', 1 rank(s) on'
check "... the other task idle" has "$out" 'other 1 task(s) stay idle'
out=$(env -u TRAIN_CONFIG -u SLURM_JOB_ID LOSSCAPE="$WORK/fake.sh" LAUNCHER=none \
  TRAIN_ARGS="--arch cnn_small --epochs 1 --dry-run=true" TRAIN_OUT=dry-run-true bash "$root/jobs/train.sbatch" 2>&1)
check "train.sbatch --dry-run=true: logged as a dry run, not as complete" \
  bash -c "grep -q 'passed its checks (a dry run: nothing trained' <<<'$out' && ! grep -q 'training complete' <<<'$out'"

# ---- the fan-out: the merge job runs in the array's -D/--chdir; a merge without parts names the directory ----
# (sbatch.txt in $WORK: submit runs sbatch from the array's -D directory)
printf '#!/bin/sh\necho "$*" >>%q/sbatch.txt\necho 123\n' "$WORK" >chain-bin/sbatch
chmod +x chain-bin/sbatch
rm -f sbatch.txt
env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 \
  FANOUT_SBATCH_ARGS="--chdir=$WORK/spool -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit \
  --arch cnn_small --out fo.h5 >/dev/null 2>&1
check "fan-out submit: the merge job gets the array's --chdir" \
  bash -c "[[ \$(grep -c -- '--chdir=$WORK/spool' sbatch.txt) == 2 ]] && grep -- '--chdir' sbatch.txt | grep -q ' merge '"
# Relative paths are the jobs' own: read in the -D directory, checked there by submit (a config
# beside the submit shell only was accepted, and every task then failed on it); a relative -D
# reaches sbatch absolute (submit runs from it)
echo '{"arch": "cnn_small"}' >fo-only-here.json
rm -f sbatch.txt
out=$(env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 \
  SWEEP_CONFIG=fo-only-here.json FANOUT_SBATCH_ARGS="-D spool -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit \
  --out fo.h5 2>&1)
check "fan-out submit: a config found only outside the array's -D is refused, nothing submitted" \
  bash -c "[[ '$out' == 'sweep-fanout.sbatch: error: SWEEP_CONFIG=fo-only-here.json: no such readable file' && ! -e sbatch.txt ]]"
cp fo-only-here.json spool/
out=$(env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 \
  SWEEP_CONFIG=fo-only-here.json FANOUT_SBATCH_ARGS="-D spool -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit \
  --out fo.h5 2>&1)
check "... found in -D: submitted, both jobs with the absolute --chdir" \
  bash -c "[[ \$(grep -c -- '--chdir=$WORK/spool ' sbatch.txt) == 2 ]] && ! grep -q -- '-D spool' sbatch.txt"
out=$(env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 \
  FANOUT_SBATCH_ARGS="--chdir=no-such-dir" bash "$root/jobs/sweep-fanout.sbatch" submit --arch cnn_small --out fo.h5 2>&1)
check "fan-out submit: a -D/--chdir that does not exist is refused in one line" \
  test "$out" == "sweep-fanout.sbatch: error: FANOUT_SBATCH_ARGS: the working directory 'no-such-dir' of -D/--chdir is not a folder that can be entered"
# The config's own paths, read by the jobs in the -D directory, are checked by submit with a dry
# run of part 1 (the real program): a model file that is not there was submitted, and every task
# failed on it
echo '{"model_file": "no/such/model.h5", "x": "-1:1:3"}' >spool/fo-no-model.json
rm -f sbatch.txt
out=$(env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" FANOUT_PARTS=2 SWEEP_CONFIG=fo-no-model.json \
  FANOUT_SBATCH_ARGS="-D spool -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit --out fo.h5 2>&1)
check "fan-out submit: a config's model file not in the array's -D is refused, nothing submitted" \
  bash -c '[[ $1 == "$2" && ! -e sbatch.txt && ! -e spool/fo.part-1-of-2.dirs.h5 ]]' _ "$out" \
  "losscape: error: no/such/model.h5: no such model file
sweep-fanout.sbatch: error: submit: the settings do not pass losscape's dry run of part 1 (the reason above): nothing submitted (FANOUT_CHECK=0 skips this check)"
env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" FANOUT_PARTS=2 SWEEP_CONFIG=fo-no-model.json FANOUT_CHECK=0 \
  FANOUT_SBATCH_ARGS="-D spool -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit --out fo.h5 >/dev/null 2>&1
check "... FANOUT_CHECK=0 submits it unchecked" test "$(wc -l <sbatch.txt)" == 2
# ... the login node's memory limits are not the array's: a grid whose values need more than
# this process may map (ulimit -v) is submitted (it was refused by the dry run's memory check)
rm -f sbatch.txt
out=$(ulimit -v 3000000; env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" FANOUT_PARTS=2 \
  FANOUT_SBATCH_ARGS="-D spool -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit --arch cnn_small \
  --dataset fashion-mnist --samples 16 --x=-1:1:8001 --y=-1:1:8001 --out big.h5 2>&1)
check "fan-out submit: a grid too large for the login node's ulimit -v is submitted ($out)" \
  test "$(wc -l <sbatch.txt 2>/dev/null)" == 2
# ... a blank MERGE_SBATCH_ARGS keeps the merge job's defaults, as an empty one does
for blank in "" " " $'\n'; do
  rm -f sbatch.txt
  env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 \
    MERGE_SBATCH_ARGS="$blank" FANOUT_SBATCH_ARGS="-p gpu -t 5" bash "$root/jobs/sweep-fanout.sbatch" submit \
    --arch cnn_small --out fo.h5 >/dev/null 2>&1
  check "fan-out submit: MERGE_SBATCH_ARGS='$blank': the merge job's defaults (30 min, the array's partition)" \
    bash -c "grep ' merge ' sbatch.txt | grep -q -- '--time=00:30:00 -p gpu'"
done
# ... and a relative -D of MERGE_SBATCH_ARGS is the submit directory's, not the array's folder's
mkdir -p merge-here
rm -f sbatch.txt
env -u SLURM_JOB_ID PATH="$WORK/chain-bin:$PATH" LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 \
  SWEEP_CONFIG=fo-only-here.json FANOUT_SBATCH_ARGS="-D spool -t 5" MERGE_SBATCH_ARGS="-D merge-here -t 9" \
  bash "$root/jobs/sweep-fanout.sbatch" submit --out fo.h5 >/dev/null 2>&1
check "fan-out submit: MERGE_SBATCH_ARGS' relative -D is taken from the submit directory" \
  bash -c "grep ' merge' sbatch.txt | grep -q -- '--chdir=$WORK/merge-here ' && ! grep -q -- '-D merge-here' sbatch.txt"
# ... and a relative LOSSCAPE_JOBS, found by submit from the submit directory, reaches the jobs
# absolute (they run in the -D directory, where it would name nothing)
mkdir -p jobs-bin
printf '#!/bin/sh\necho "$LOSSCAPE_JOBS" >>%q/jobs-env.txt\necho 123\n' "$WORK" >jobs-bin/sbatch
chmod +x jobs-bin/sbatch
ln -sfn "$root/jobs" rel-jobs
submit_jobs_env() {  # submit_jobs_env VAR=VALUE...: a fan-out submit with LOSSCAPE_JOBS=rel-jobs;
  # true when both jobs got it absolute
  rm -f jobs-env.txt
  env -u SLURM_JOB_ID PATH="$WORK/jobs-bin:$PATH" LOSSCAPE="$WORK/fake.sh" LOSSCAPE_JOBS=rel-jobs \
    FANOUT_PARTS=2 SWEEP_CONFIG=fo-only-here.json "$@" bash "$root/jobs/sweep-fanout.sbatch" submit \
    --out fo.h5 >/dev/null 2>&1
  [[ $(sort -u jobs-env.txt) == "$WORK/rel-jobs" && $(wc -l <jobs-env.txt) == 2 ]]
}
check "fan-out submit: a relative LOSSCAPE_JOBS reaches both jobs absolute" \
  submit_jobs_env FANOUT_SBATCH_ARGS="-D spool -t 5"
check "... also when only the merge job has a -D" submit_jobs_env MERGE_SBATCH_ARGS="-D merge-here -t 9"
out=$(env -u SLURM_JOB_ID LOSSCAPE="$WORK/fake.sh" FANOUT_PARTS=2 bash "$root/jobs/sweep-fanout.sbatch" merge \
  --arch cnn_small --out spool/nothing.h5 2>&1)
check "fan-out merge without parts names the directory it looked in" \
  test "$out" == "sweep-fanout.sbatch: error: no part files nothing.part-K-of-2.h5 to merge in $WORK/spool"

# The merge job's stop signals (its time-limit warning, scancel) reach losscape merge, which
# stops with 75 and the output as it was (bash's default for SIGUSR1 ended the script: 138, and
# the merge ran on until Slurm killed it)
touch spool/fk.part-1-of-2.h5 spool/fk.part-2-of-2.h5
for sig in USR1 TERM; do
  fake_job "$sig" fkmerge.log FANOUT_PARTS=2 -- "$root/jobs/sweep-fanout.sbatch" merge --arch cnn_small --out spool/fk.h5
  rc=$?
  check "fan-out merge: SIG$sig reaches losscape merge, exit 75 (exit $rc)" \
    bash -c "[[ $rc == 75 ]] && grep -q 'SIG$sig.*losscape merge' fkmerge.log"
done

# ---- the fan-out's merge checks the parts against its settings: parts left by an earlier
# fan-out of other settings are not merged into a "complete" file for this one ----
for k in 1 2; do
  "$LOSSCAPE" sweep "${COMPLETE[@]}" --x -1:1:5 --part $k/2 --out fm.part-$k-of-2.h5 >/dev/null 2>&1
done
merge_fm() {  # merge_fm ARGS...: the fan-out's merge step outside Slurm; prints its exit status
  env -u SLURM_JOB_ID -u SWEEP_OUT -u SWEEP_CONFIG -u SWEEP_ARGS LAUNCHER=none FANOUT_PARTS=2 \
    bash "$root/jobs/sweep-fanout.sbatch" merge "$@" >merge-fm.log 2>&1
  echo $?
}
edited=("${COMPLETE[@]}")
edited[5]=30  # --samples 20 -> 30
check "fan-out merge: parts of other settings (--samples 20, merging for 30) are refused, nothing merged" \
  bash -c "[[ $(merge_fm "${edited[@]}" --x -1:1:5 --out fm.h5) == 1 ]] && ! test -e fm.h5 &&
           grep -q 'fm.part-1-of-2.h5 is not this sweep' merge-fm.log && grep -q 'its --samples is 20' merge-fm.log"
check "fan-out merge: parts of these settings are merged, complete" \
  bash -c "[[ $(merge_fm "${COMPLETE[@]}" --x -1:1:5 --out fm.h5) == 0 ]] && grep -q 'merged: fm.h5 is complete' merge-fm.log"
# The merge job is one process on no GPU: parts computed by 2 ranks in data-shard groups of 2
# (--data-shards 2) merge, with the array's --device cuda given too (the check of the first
# part is of its identity alone: its single process had been refused for the ranks, and would
# be for a GPU, and the parts never merged).
for k in 1 2; do
  "$MPIEXEC" --oversubscribe --bind-to none $( ((EUID == 0)) && echo --allow-run-as-root) -n 2 \
    "$LOSSCAPE" sweep "${COMPLETE[@]}" --x -1:1:5 --data-shards 2 --part $k/2 --out fs.part-$k-of-2.h5 >/dev/null 2>&1
done
check "fan-out merge of parts made with --data-shards 2 (and --device cuda): merged, complete" \
  bash -c "[[ $(merge_fm "${COMPLETE[@]}" --x -1:1:5 --data-shards 2 --device cuda --out fs.h5) == 0 ]] &&
           grep -q 'merged: fs.h5 is complete' merge-fm.log" || cat merge-fm.log

# ---- ls_surface_state: "N M" of a surface; else fails, the reason logged (it was dropped, and a
# chain task took any failure of info for "not a surface file") ----
surface_state() {
  bash -c 'source "$0"; ls_exe; ls_surface_state "$1"' "$root/jobs/lib/slurm-sweep.sh" "$1"
}
"$LOSSCAPE" sweep --arch cnn_small --dataset fashion-mnist --samples 10 --x -1:1:3 --threads 1 --quiet \
  --out state.h5 >/dev/null 2>&1
check "ls_surface_state of a complete surface: N M" test "$(surface_state state.h5 2>/dev/null)" == "3 3"
echo "not a surface" >text.h5
out=$(surface_state text.h5 2>&1) && rc=0 || rc=$?
check "ls_surface_state of a text file: fails, logging info's error" \
  test "$rc $(grep -c 'losscape info text.h5 failed: losscape: error: text.h5: not a file info describes' <<<"$out")" == "1 1"
"$LOSSCAPE" directions --arch cnn_small --dataset fashion-mnist --out d.h5 >/dev/null 2>&1
out=$(surface_state d.h5 2>&1) && rc=0 || rc=$?
check "ls_surface_state of a direction file: fails, saying it is no surface" \
  test "$rc $(grep -c 'losscape info d.h5 reports no completed points: not a losscape surface file' <<<"$out")" == "1 1"

# ---- exit 0 is checked against the file: a sweep script logs "complete" only for a surface
# whose points are all done (LOSSCAPE=/bin/true was logged complete), train.sbatch only for a
# folder holding a checkpoint ----
printf '#!/bin/bash\n[[ $1 == sweep ]] && { "%s" "$@" --stop-after 1; exit 0; }\nexec "%s" "$@"\n' \
  "$LOSSCAPE" "$LOSSCAPE" >stops-early
chmod +x stops-early
SMALL=(--arch cnn_small --dataset fashion-mnist --samples 10 --x -1:1:3 --threads 1 --quiet)
job() {  # job LOG ENV... -- SCRIPT ARGS: exit status of the script run outside Slurm
  local log=$1
  shift
  env -u SWEEP_CONFIG -u SLURM_JOB_ID LAUNCHER=none "$@" >"$log" 2>&1
}
for script in sweep sweep-chain; do
  job $script-true.log LOSSCAPE=/bin/true SWEEP_OUT=$script-true.h5 bash "$root/jobs/$script.sbatch" "${SMALL[@]}"
  rc=$?
  check "$script.sbatch: LOSSCAPE=/bin/true (exit 0, no file) fails, not 'complete'" \
    bash -c "[[ $rc == 1 ]] && grep -q 'exited 0, but wrote no $script-true.h5: not complete' $script-true.log &&
             ! grep -q 'sweep complete' $script-true.log" || cat $script-true.log
  job $script-early.log LOSSCAPE=$WORK/stops-early SWEEP_OUT=$script-early.h5 bash "$root/jobs/$script.sbatch" "${SMALL[@]}"
  rc=$?
  check "$script.sbatch: a losscape that exits 0 with 1 of 3 points done fails, saying so" \
    bash -c "[[ $rc == 1 ]] && grep -q 'exited 0, but $script-early.h5 has 1 of 3 points done: not complete' $script-early.log" ||
    cat $script-early.log
done
# A script run by hand, outside Slurm, whose losscape stops (exit 75, no time-limit warning): told
# to run it again (sweep.sbatch said "scancel, preemption?: not requeued; submit the same job")
printf '#!/bin/bash\n[[ $1 == sweep && " $* " != *" --dry-run "* ]] && exit 75\nexec "%s" "$@"\n' "$LOSSCAPE" >stops-75
chmod +x stops-75
job sweep-75.log LOSSCAPE=$WORK/stops-75 SWEEP_OUT=by-hand.h5 bash "$root/jobs/sweep.sbatch" "${SMALL[@]}"
rc=$?
check "sweep.sbatch by hand, stopped (75): 'not a Slurm job, so not requeued: run again to resume by-hand.h5'" \
  bash -c "[[ $rc == 75 ]] && grep -q 'not a Slurm job, so not requeued: run again to resume by-hand.h5$' sweep-75.log &&
           ! grep -q 'preemption' sweep-75.log" || cat sweep-75.log
job sweep-real.log SWEEP_OUT=real.h5 bash "$root/jobs/sweep.sbatch" "${SMALL[@]}"
rc=$?
check "sweep.sbatch: the real losscape: complete, exit 0" \
  bash -c "[[ $rc == 0 ]] && grep -q 'losscape sweep complete' sweep-real.log" || cat sweep-real.log
job train-true.log LOSSCAPE=/bin/true TRAIN_OUT=train-true TRAIN_ARGS="--arch cnn_small" bash "$root/jobs/train.sbatch"
rc=$?
check "train.sbatch: LOSSCAPE=/bin/true (exit 0, no checkpoint) fails, not 'training complete'" \
  bash -c "[[ $rc == 1 ]] && grep -q 'exited 0, but train-true holds no checkpoint' train-true.log &&
           ! grep -q 'training complete' train-true.log" || cat train-true.log

# ---- jobs/paper/submit.sh: paths with white space refused up front ----
mkdir -p "fake cifar" && touch "fake cifar"/{data_batch_{1..5},test_batch}.bin
out=$(DRY_RUN=1 DATA_DIR="fake cifar" RUNS=paper LOSSCAPE="$LOSSCAPE" bash "$root/jobs/paper/submit.sh" 2>&1)
check "paper/submit.sh: a DATA_DIR with a space is refused in one line" \
  test "$(grep -c '' <<<"$out") $(grep -c 'DATA_DIR=.*white space' <<<"$out")" == "1 1"

# ---- a config's "out" the scripts cannot read as written: refused, not taken for another file
# (Python's json.dump writes "résultat.h5" as "r\u00e9sultat.h5": a file of that literal name was
# made; a name on the line after its key: "no surface file") ----
printf '{"arch": "cnn_small", "out": "r\\u00e9sultat.h5"}\n' >escaped.json
printf '{"arch": "cnn_small", "out":\n  "next-line.h5"}\n' >nextline.json
ARGS=()
settings SWEEP_CONFIG=escaped.json >escaped.out 2>&1
check "a config's \"out\" with a JSON escape: refused in one line" \
  bash -c '[[ $(grep -c "" escaped.out) == 1 ]] && grep -qF "escaped.json: its \"out\" (r\u00e9sultat.h5) holds a JSON escape, which the job scripts do not decode" escaped.out'
settings SWEEP_CONFIG=nextline.json >nextline.out 2>&1
check "a config's \"out\" on the line after its key: refused in one line" \
  bash -c '[[ $(grep -c "" nextline.out) == 1 ]] && grep -qF "nextline.json: its \"out\" is not a file name on the key" nextline.out'

# ---- MAX_REQUEUES / IDLE_REQUEUES with leading zeros are decimal (010 was 8; 08 an arithmetic
# error that counted as false: no limit) ----
out=$(MAX_REQUEUES=010 IDLE_REQUEUES=08 bash -c 'ls_name=t; source "$0"; ls_check_counts; echo "$MAX_REQUEUES $IDLE_REQUEUES"' \
  "$root/jobs/lib/slurm-common.sh" 2>&1)
check "MAX_REQUEUES=010 IDLE_REQUEUES=08 are 10 and 8" test "$out" == "10 8"

# ---- a job that fails without owning the surface leaves another job's idle count alone ----
echo "4242 1" >idle-other
echo "77 2" >idle-own
SLURM_JOB_ID=77 bash -c 'ls_name=t; source "$0"; ls_forget_idle idle-other; ls_forget_idle idle-own' \
  "$root/jobs/lib/slurm-common.sh"
check "ls_forget_idle: another job's count kept, this job's removed" \
  bash -c '[[ $(cat idle-other) == "4242 1" && ! -e idle-own ]]'

# ---- jobs/paper/submit.sh: GPU_FLAGS= (set, empty) asks for no GPU; unset, one per rank ----
mkdir -p cifar && touch cifar/{data_batch_{1..5},test_batch}.bin
GPU_FLAGS= DRY_RUN=1 DATA_DIR=cifar RUNS=paper LOSSCAPE="$LOSSCAPE" bash "$root/jobs/paper/submit.sh" >cpu.out 2>&1
env -u GPU_FLAGS DRY_RUN=1 DATA_DIR=cifar RUNS=paper LOSSCAPE="$LOSSCAPE" bash "$root/jobs/paper/submit.sh" >gpu.out 2>&1
check "paper/submit.sh: GPU_FLAGS= gives no --gpus-per-task, unset one per rank" \
  bash -c 'grep -q "paper-plots" cpu.out && ! grep -q -- --gpus-per-task cpu.out && grep -q -- --gpus-per-task=1 gpu.out'

# ---- jobs/paper/submit.sh submitting for real, to a stand-in sbatch and scancel on PATH (no
# cluster here): every job gets --export=ALL and an absolute LOSSCAPE, the jobs that wait for
# others end when one of them fails (--kill-on-invalid-dep), the pictures wait for every sweep
# to end (afterany); a job sbatch refuses halfway cancels the ones already submitted, said in
# one line; RUNS/submitted lists a submission, and a second one into the same RUNS is refused ----
mkdir -p fakebin
cat >fakebin/sbatch <<'SH'
#!/bin/bash
n=$(( $(cat "$FAKE/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$FAKE/count"
printf '%s\n' "LOSSCAPE=$LOSSCAPE TRAIN_ARGS=${TRAIN_ARGS:-} $*" >>"$FAKE/sbatch.log"
if [[ $n == "${FAKE_FAIL_AT:-0}" ]]; then
  echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified" >&2
  exit 1
fi
echo "$((100 + n))"
SH
printf '#!/bin/bash\necho "$*" >>"$FAKE/scancel.log"\n' >fakebin/scancel
chmod +x fakebin/sbatch fakebin/scancel
ln -sf "$LOSSCAPE" fakebin/losscape
paper() {  # paper RUNS VAR=VALUE...: submit.sh with the stand-ins, from cifar/'s parent, relative LOSSCAPE
  local runs=$1
  shift
  rm -rf fake && mkdir fake
  env PATH="$PWD/fakebin:$PATH" FAKE="$PWD/fake" DATA_DIR=cifar RUNS="$runs" LOSSCAPE=fakebin/losscape \
    "$@" bash "$root/jobs/paper/submit.sh" >paper.out 2>paper.err
}
paper real
rc=$?
check "paper/submit.sh: 27 jobs submitted, listed in RUNS/submitted (exit $rc)" \
  bash -c "[[ $rc == 0 && \$(grep -c '' fake/sbatch.log) == 27 && \$(grep -c '' real/submitted) == 27 ]] &&
           grep -qx '127 paper-plots' real/submitted && [[ ! -e real/submit-error ]]"
check "... each with --export=ALL and LOSSCAPE made absolute ($PWD/fakebin/losscape)" \
  bash -c "[[ \$(grep -c -- ' --export=ALL ' fake/sbatch.log) == 27 &&
             \$(grep -c '^LOSSCAPE=$PWD/fakebin/losscape ' fake/sbatch.log) == 27 ]]"
check "... every job that waits for another ends if it fails (--kill-on-invalid-dep=yes: 16 sweeps, 4 PCA planes); the pictures after any end" \
  bash -c "[[ \$(grep -c -- '--kill-on-invalid-dep=yes --dependency=afterok:' fake/sbatch.log) == 20 ]] &&
           grep -- '--job-name=paper-plots' fake/sbatch.log | grep -q -- '--dependency=afterany:' &&
           ! grep -- '--job-name=paper-plots' fake/sbatch.log | grep -q afterok"
check "... the NETS trainings checkpoint every 10 epochs, the VGG-9 runs (trajectories) every epoch" \
  bash -c "[[ \$(grep -c 'TRAIN_ARGS=.*--arch resnet56.*--save-every 10 ' fake/sbatch.log) == 2 &&
             \$(grep -c 'TRAIN_ARGS=.*--arch vgg9 ' fake/sbatch.log) == 4 && \$(grep -c 'TRAIN_ARGS=.*--save-every' fake/sbatch.log) == 2 ]]"
paper real
rc=$?
check "paper/submit.sh into a RUNS submitted before: refused in one line, nothing submitted (exit $rc)" \
  bash -c "[[ $rc == 1 && \$(grep -c '' paper.err) == 1 && ! -e fake/sbatch.log ]] &&
           grep -q 'RUNS=$PWD/real was submitted before (.*/submitted lists its jobs)' paper.err"
paper half FAKE_FAIL_AT=8
rc=$?
check "paper/submit.sh whose 8th job sbatch refuses: one line naming it and sbatch's reason, the 7 before cancelled (exit $rc)" \
  bash -c "[[ $rc == 1 && \$(grep -c '' paper.err) == 1 ]] &&
           grep -qx 'paper/submit.sh: error: sbatch refused job sweep-1d_vgg9_bs128_wd0: sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified; the 7 job(s) submitted before it were cancelled (101 102 103 104 105 106 107)' paper.err &&
           [[ \$(cat fake/scancel.log) == '101 102 103 104 105 106 107' && ! -e half/submitted && ! -e half/submit-error ]]" ||
  cat paper.err
paper half
check "... and the same RUNS then submits (nothing of the failed submission is left): exit $?" test -s half/submitted
for bad in "DRY_RUN=true|DRY_RUN=true: expected 1" "EPOCHS=abc|EPOCHS=abc: expected a whole number" \
  "EPOCHS=0|EPOCHS=0: expected a whole number" "LR_LARGE=fast|LR_LARGE=fast: expected a learning rate" \
  "LR_LARGE=0.0|LR_LARGE=0.0: expected a learning rate" "SWEEP_RANKS=four|SWEEP_RANKS=four: expected a whole number" \
  "SWEEP_TIME=4h|SWEEP_TIME=4h: expected a Slurm time limit" "TRAIN_TIME=1-2:3:4:5|TRAIN_TIME=1-2:3:4:5: expected"; do
  paper "bad" "${bad%%|*}"
  rc=$?
  check "paper/submit.sh ${bad%%|*}: refused in one line, nothing submitted or made (exit $rc)" \
    bash -c "[[ $rc == 1 && \$(grep -c '' paper.err) == 1 && ! -e fake/sbatch.log && ! -e bad ]] && grep -qF '${bad#*|}' paper.err" ||
    cat paper.err
done
for good in "LR_LARGE=1e-2" "LR_LARGE=.5" "SWEEP_TIME=90" "SWEEP_TIME=2-12" "TRAIN_TIME=1-00:30:00"; do
  paper "good" DRY_RUN=1 "$good"
  check "paper/submit.sh $good: taken (exit $?)" bash -c "grep -q paper-plots paper.err"
done
mkdir -p cifar4 && touch cifar4/{data_batch_{1,2,4,5},test_batch}.bin
paper good DRY_RUN=1 DATA_DIR=cifar4
check "paper/submit.sh: a DATA_DIR without data_batch_3.bin is refused in one line (exit $?)" \
  bash -c "[[ \$(grep -c '' paper.err) == 1 ]] && grep -q 'DATA_DIR=cifar4 has no readable data_batch_3.bin' paper.err"

# ---- jobs/quickstart.sh: QUICK_EPOCHS below 2 refused up front (stage 5's PCA failed after
# minutes of stages 1-4) ----
QUICK_EPOCHS=1 bash "$root/jobs/quickstart.sh" >quick1.out 2>&1
rc=$?
check "quickstart.sh QUICK_EPOCHS=1: refused in one line before any work" \
  bash -c "[[ $rc == 1 && \$(grep -c '' quick1.out) == 1 ]] && grep -qx 'quickstart.sh: error: QUICK_EPOCHS=1: at least 2 (the PCA of stage 5 needs 3 checkpoints)' quick1.out"

((failures)) && { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"

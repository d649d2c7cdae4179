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
    source "$0"; ls_settings "${@}"; ls_threads; echo "$LS_OUT"; printf "%s\n" "${LS_SWEEP[@]}"' \
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
check "no --threads when the config sets \"threads\"" bash -c "! grep -qx -- --threads <<<'$out'"
out=$(settings SWEEP_CONFIG=stored.json SLURM_CPUS_PER_TASK=8)
check "\"threads\": 0 (a stored configuration's: all the node's cores) does not count as set" \
  test "$(grep -A1 -x -- --threads <<<"$out" | tail -1)" == 8
ARGS=(--threads 2)
out=$(settings SWEEP_CONFIG=plain.json SLURM_CPUS_PER_TASK=8)
check "no second --threads when the arguments have one" test "$(grep -cx -- --threads <<<"$out")" == 1

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
got=$(train TRAIN_OUT=env-run TRAIN_CONFIG=train-a.json -- --epochs 3)
check "train.sbatch: TRAIN_OUT before the config's \"out\"" \
  test "$(grep -A1 -x -- --out <<<"$got" | tail -1)" == env-run
got=$(train TRAIN_CONFIG=train-b.json --)
check "train.sbatch: no run folder anywhere: refused in one line" \
  bash -c "[[ -z '$got' ]] && grep -q 'no run folder' train.log"

((failures)) && { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"

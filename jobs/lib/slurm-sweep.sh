# shellcheck shell=bash
# Sourced by jobs/sweep.sbatch, jobs/sweep-chain.sbatch and jobs/sweep-fanout.sbatch: their
# settings, the launch of `losscape sweep` under srun or mpirun with the time-limit warning
# forwarded to the ranks, and the reading of the surface file's state. docs/slurm.md.
#
# Settings (environment variables; sbatch passes the submitting shell's environment on):
#   LOSSCAPE        the losscape program (default: `losscape` on PATH)
#   SWEEP_CONFIG    JSON file of `losscape sweep --config` (model_file, directions, x, y, ...)
#   SWEEP_OUT       the surface file when no --out is among SWEEP_ARGS and the arguments (the
#                   surface file is the first of: the last such --out, SWEEP_OUT, "out" of the
#                   config)
#   SWEEP_ARGS      more `losscape sweep` flags, split on white space, newlines included, without
#                   glob expansion (arguments of the script follow)
#   LAUNCHER        srun (default inside a job) | mpirun | none (one process, no launcher)
#   SRUN_ARGS       extra srun flags, e.g. "--mpi=pmix --gpu-bind=single:1"
#   MPIRUN_ARGS     extra mpirun flags, e.g. "--bind-to none"
# With --cpus-per-task, --threads $SLURM_CPUS_PER_TASK is added unless the arguments, SWEEP_ARGS
# or the config (SWEEP_CONFIG, or --config among the arguments) set the threads.

ls_name=${ls_name:-losscape-job}

ls_die() {  # one line naming what is wrong, exit 1 (after the script's ls_on_die, if any)
  echo "$ls_name: error: $*" >&2
  declare -F ls_on_die >/dev/null && ls_on_die
  exit 1
}

ls_log() { echo "$ls_name: $(date '+%F %T') $*"; }

# ls_words NAME TEXT: array NAME = the words of TEXT, split on spaces, tabs and newlines, without
# glob expansion ("--x -1:1:3\n--y ..." from a file keeps both lines).
# shellcheck disable=SC2034  # a nameref: the caller's array is set
ls_words() {
  local -n ls_words_out=$1
  ls_words_out=()
  [[ -n ${2:-} ]] && read -rd '' -a ls_words_out <<<"$2"
  return 0
}

# Fills LS_EXE, LS_OUT (the surface file) and LS_SWEEP (the `losscape sweep` arguments but
# --out) from the settings and the script's arguments "$@".
ls_settings() {
  LS_EXE=${LOSSCAPE:-losscape}
  if [[ $LS_EXE == */* ]]; then
    [[ -x $LS_EXE ]] || ls_die "LOSSCAPE=$LS_EXE is not an executable file"
  else
    LS_EXE=$(command -v "$LS_EXE") ||
      ls_die "losscape is not on PATH: set LOSSCAPE=/path/to/losscape (or module load it)"
  fi
  LS_SWEEP=(sweep)
  if [[ -n ${SWEEP_CONFIG:-} ]]; then
    [[ -r $SWEEP_CONFIG ]] || ls_die "SWEEP_CONFIG=$SWEEP_CONFIG: no such readable file"
  fi
  local extra=()
  # (split on white space only: no glob expansion of the words)
  ls_words extra "${SWEEP_ARGS:-}"
  extra+=("$@")
  # The surface file, kept apart: each script gives losscape its own --out (the chain looks at
  # the file, the fan-out names its parts after it).
  LS_OUT=
  local i config=${SWEEP_CONFIG:-}
  for ((i = 0; i < ${#extra[@]}; i++)); do
    case ${extra[i]} in
      --out | -o) LS_OUT=${extra[i + 1]:-}; ((i += 1)); continue ;;
      --out=*) LS_OUT=${extra[i]#--out=}; continue ;;
      -o?*) LS_OUT=${extra[i]#-o}; continue ;;
      # One --config: the arguments' over SWEEP_CONFIG (losscape takes the option once).
      --config) config=${extra[i + 1]:-}; ((i += 1)); continue ;;
      --config=*) config=${extra[i]#--config=}; continue ;;
    esac
    LS_SWEEP+=("${extra[i]}")
  done
  if [[ -n $config ]]; then LS_SWEEP+=(--config "$config"); fi
  if [[ -n $config && $config != "${SWEEP_CONFIG:-}" ]]; then
    [[ -r $config ]] || ls_die "--config $config: no such readable file"
  fi
  [[ -z $LS_OUT ]] && LS_OUT=${SWEEP_OUT:-}
  if [[ -z $LS_OUT && -n $config ]]; then
    LS_OUT=$(sed -n 's/.*"out"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$config" | head -1)
  fi
  [[ -n $LS_OUT ]] ||
    ls_die "no surface file: set SWEEP_OUT=surface.h5, pass --out, or put \"out\" in SWEEP_CONFIG"
  [[ -d $(dirname "$LS_OUT") ]] || ls_die "the directory of the surface file $LS_OUT does not exist"
  if [[ -z $config ]] && ! printf '%s\n' "${extra[@]}" | grep -E '^(--model-file|--arch)(=|$)|^-[ma]' >/dev/null; then
    ls_die "no model: set SWEEP_CONFIG=sweep.json (with \"model_file\" or \"arch\") or give --model-file/--arch"
  fi
}

# The launcher command in LS_LAUNCH (an array), from LAUNCHER.
ls_launcher() {
  local launcher=${LAUNCHER:-}
  [[ -z $launcher ]] && { [[ -n ${SLURM_JOB_ID:-} ]] && launcher=srun || launcher=none; }
  case $launcher in
    srun)
      command -v srun >/dev/null || ls_die "LAUNCHER=srun but srun is not on PATH"
      # No --kill-on-bad-exit: every rank exits 75 after the final collective flush, and an
      # error on one rank already ends all of them (MPI_Abort). srun did not inherit
      # --cpus-per-task from the job in Slurm 22.05 and 23.02: pass it on.
      LS_LAUNCH=(srun)
      [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && LS_LAUNCH+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
      local words=()
      ls_words words "${SRUN_ARGS:-}"
      LS_LAUNCH+=("${words[@]}")
      ;;
    mpirun)
      command -v mpirun >/dev/null || ls_die "LAUNCHER=mpirun but mpirun is not on PATH"
      # Inside an allocation Open MPI takes the ranks and hosts from Slurm.
      LS_LAUNCH=(mpirun)
      [[ $(id -u) == 0 ]] && LS_LAUNCH+=(--allow-run-as-root)
      local words=()
      ls_words words "${MPIRUN_ARGS:-}"
      LS_LAUNCH+=("${words[@]}")
      ;;
    none) LS_LAUNCH=() ;;
    *) ls_die "LAUNCHER=$launcher: expected srun, mpirun or none" ;;
  esac
}

# Threads per rank from the job's --cpus-per-task, unless --threads was given or the config
# (SWEEP_CONFIG or --config) sets "threads" (to a number other than 0).
ls_threads() {
  [[ -n ${SLURM_CPUS_PER_TASK:-} ]] || return 0
  printf '%s\n' "${LS_SWEEP[@]}" | grep -E '^--threads(=|$)' >/dev/null && return 0
  local i
  for ((i = 0; i < ${#LS_SWEEP[@]}; i++)); do
    if [[ ${LS_SWEEP[i]} == --config ]]; then
      # ("threads": 0, as a stored configuration has it, means all the node's cores: not set)
      grep -E '"threads"[[:space:]]*:[[:space:]]*[1-9]' "${LS_SWEEP[i + 1]}" >/dev/null 2>&1 && return 0
    fi
  done
  LS_SWEEP+=(--threads "$SLURM_CPUS_PER_TASK")
}

_ls_forward() {  # a signal reached the batch shell: pass it to the launcher, which passes it on
  local sig=$1 send=USR1
  # Every stop signal goes on as SIGUSR1, which losscape handles as SIGTERM and which both
  # launchers pass on to every rank. Neither passes SIGTERM on: srun answers it by SIGKILLing
  # the tasks ("forcing job termination") and a single SIGINT only makes it print the tasks'
  # state; Open MPI's mpirun kills the ranks on either (SIGKILL a second later). Either way the
  # points since the last round would be lost.
  [[ ${LS_LAUNCH[0]:-} == "" ]] && send=$sig  # no launcher: losscape itself
  LS_SIGNALLED=$send  # what the ranks get (ls_run recognizes a start-up death by it)
  if [[ $sig == USR1 ]]; then
    LS_WARNED=1
    ls_log "SIGUSR1 (the time-limit warning): losscape finishes its points, flushes and stops"
  elif [[ $send != "$sig" ]]; then
    ls_log "SIG$sig: passed on to losscape as SIG$send (${LS_LAUNCH[0]} would kill the ranks on SIG$sig)"
  else
    ls_log "SIG$sig: passed on to losscape"
  fi
  if [[ -n ${LS_CHILD:-} ]]; then
    kill -"$send" "$LS_CHILD" 2>/dev/null
  else
    LS_PENDING=1  # no child (yet): ls_run passes it on once it has one
  fi
  return 0
}

# Runs `launcher losscape ARGS...` in the background so that the shell's traps run while it
# works (bash runs a trap only between commands), and returns its exit status.
ls_run() {
  LS_WARNED=${LS_WARNED:-0}
  LS_PENDING=  # (cleared before the check below: a signal from here on is seen by one of them)
  LS_RUN_NOTE=  # why a 75 that losscape did not return itself is "incomplete" (ls_sweep_rc_text)
  # A stop signal before the launch (the warning came while the script looked at the file, or
  # the time limit is shorter than the warning's lead): nothing to start.
  if [[ -n ${LS_SIGNALLED:-} ]]; then
    ls_log "stopped by a signal before losscape was started: incomplete (75)"
    LS_RUN_NOTE="not started: the signal came first"
    return 75
  fi
  ls_log "running: ${LS_LAUNCH[*]} $LS_EXE $*"
  "${LS_LAUNCH[@]}" "$LS_EXE" "$@" &
  LS_CHILD=$!
  # (a signal between the launch and the line above found no child to pass it to)
  [[ -n $LS_PENDING ]] && kill -"$LS_SIGNALLED" "$LS_CHILD" 2>/dev/null
  local rc
  while :; do
    wait "$LS_CHILD"
    rc=$?
    # wait returns early (status > 128) when a trapped signal arrives; bash keeps the child's
    # own status for the next wait once it has ended.
    if ! kill -0 "$LS_CHILD" 2>/dev/null; then
      wait "$LS_CHILD"
      rc=$?
      break
    fi
  done
  LS_CHILD=
  # Killed by the very signal passed on (it came while losscape was still starting, before it
  # could catch it): the surface file is as safe as after any kill, so this is "incomplete".
  if [[ -n ${LS_SIGNALLED:-} ]] && ((rc == 128 + $(kill -l "$LS_SIGNALLED"))); then
    ls_log "losscape was ended by SIG$LS_SIGNALLED itself (it came during start-up): treated as incomplete (75)"
    LS_RUN_NOTE="ended by the signal during start-up"
    rc=75
  fi
  return "$rc"
}

# The traps that pass stop signals on (each script sets placeholders first thing, since bash's
# default for SIGUSR1 would end the batch shell; a signal they kept is passed on here).
ls_trap_signals() {
  LS_WARNED=0
  LS_SIGNALLED=
  trap '_ls_forward USR1' USR1
  trap '_ls_forward TERM' TERM
  trap '_ls_forward INT' INT
  if [[ -n ${ls_early:-} ]]; then _ls_forward "$ls_early"; fi
}

# "done N of M points (complete)" of `losscape info FILE`: prints "N M", fails when FILE is not
# a surface file.
ls_surface_state() {
  local line
  line=$("$LS_EXE" info "$1" 2>/dev/null | grep -E '^done +[0-9]+ of [0-9]+ points') || return 1
  sed -E 's/^done +([0-9]+) of ([0-9]+) points.*/\1 \2/' <<<"$line"
}

# A job's start made no progress: counts it in FILE ("JOBID N", N such starts of this job in a row)
# and prints N; fails (FILE removed) once N exceeds LIMIT.
ls_idle_start() {
  local file=$1 limit=$2 job idle=0
  [[ -r $file ]] && read -r job idle <"$file" && [[ $job == "${SLURM_JOB_ID:-}" && $idle =~ ^[0-9]+$ ]] || idle=0
  idle=$((idle + 1))
  echo "$idle"
  if ((idle > limit)); then
    rm -f "$file"
    return 1
  fi
  echo "${SLURM_JOB_ID:-} $idle" >"$file"
}

# The part files of a fan-out beside STEM.h5 (STEM.part-K-of-N.h5; not their directions files
# STEM.part-K-of-N.dirs.h5), of N parts when N is given, into LS_PARTS; fails naming the part
# counts found when they are several and N is not given.
ls_part_files() {
  local stem=$1 n=${2:-} f counts=()
  LS_PARTS=()
  for f in "$stem".part-*-of-*.h5; do
    [[ -e $f && ${f#"$stem".part-} =~ ^[0-9]+-of-([0-9]+)\.h5$ ]] || continue
    [[ -n $n && ${BASH_REMATCH[1]} != "$n" ]] && continue
    LS_PARTS+=("$f")
    [[ " ${counts[*]} " == *" ${BASH_REMATCH[1]} "* ]] || counts+=("${BASH_REMATCH[1]}")
  done
  if ((${#counts[@]} > 1)); then
    ls_log "part files of ${#counts[@]} different fan-outs (of ${counts[*]} parts) beside $stem.h5: set FANOUT_PARTS=N"
    return 1
  fi
  return 0
}

ls_sweep_rc_text() {
  case $1 in
    0) echo "complete" ;;
    75) echo "incomplete (${LS_RUN_NOTE:-stopped by a signal after a final flush})" ;;
    *) echo "failed with exit code $1" ;;
  esac
}

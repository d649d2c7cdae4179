# shellcheck shell=bash disable=SC2034  # (LS_* variables are read by the scripts)
# Sourced by the job scripts (jobs/*.sbatch; the sweep scripts through jobs/lib/slurm-sweep.sh):
# logging, the losscape program, the settings' words and the --out/--config among them, the
# threads from --cpus-per-task, the launcher, the launch of losscape with stop signals passed on,
# starts that made no progress, and the requeue after the time-limit warning. docs/slurm.md.
#
# Set by the script before it calls these: ls_name (the script's name, for messages), LS_WHAT
# (the command as the log names it: "losscape", "losscape train"), LS_STOP_TEXT (what the command
# does on the warning).

ls_name=${ls_name:-losscape-job}
# (namerefs and empty arrays under set -u: bash 4.4 or later; RHEL/CentOS 7's 4.2 would fail later
# in less clear ways)
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "$ls_name: error: bash $BASH_VERSION is too old: the job scripts need bash 4.4 or later" >&2
  exit 1
fi
LS_WHAT=${LS_WHAT:-losscape}
LS_STOP_TEXT=${LS_STOP_TEXT:-losscape finishes its points, flushes and stops}

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
  # (read -d '' returns 1 at the end of its input: not a failure, also under set -e)
  if [[ -n ${2:-} ]]; then read -rd '' -a ls_words_out <<<"$2" || true; fi
}

# ls_dry_run ARGS...: whether ARGS ask losscape for a dry run: --dry-run, or --dry-run=V with V
# not false, 0, no, off, disable or negative (CLI11 reads a flag's value so: --dry-run=true is one).
ls_dry_run() {
  local a v
  for a in "$@"; do
    [[ $a == --dry-run ]] && return 0
    if [[ $a == --dry-run=* ]]; then
      v=${a#--dry-run=}
      [[ ${v,,} =~ ^(false|0|no|off|disable|-[0-9]+)$ ]] || return 0
    fi
  done
  return 1
}

# LS_EXE: the losscape program, from LOSSCAPE (a path, or a name on PATH; default losscape).
ls_exe() {
  LS_EXE=${LOSSCAPE:-losscape}
  if [[ $LS_EXE == */* ]]; then
    [[ -f $LS_EXE && -x $LS_EXE ]] || ls_die "LOSSCAPE=$LS_EXE is not an executable file"
  else
    local name=$LS_EXE
    LS_EXE=$(type -P "$name") ||
      ls_die "$name is not on PATH: set LOSSCAPE=/path/to/losscape (or module load it)"
  fi
}

# MAX_REQUEUES and IDLE_REQUEUES, when set, are whole numbers.
ls_check_counts() {
  local v
  for v in MAX_REQUEUES IDLE_REQUEUES; do
    [[ -z ${!v:-} || ${!v} =~ ^[0-9]+$ ]] || ls_die "$v=${!v}: expected a whole number"
    # (in decimal: bash's arithmetic read 010 as 8, and 08 as an error that counted as false)
    if [[ -n ${!v:-} ]]; then printf -v "$v" '%s' "$((10#${!v}))"; fi
  done
}

# ls_args OUT CONFIG WORDS...: the output (surface file or run folder) and the config among a
# command's words, kept apart (each script passes --out itself). LS_ARGS: the words but
# --out/-o and --config, then one `--config FILE`: the words' own (the last), else CONFIG.
# LS_CONFIG: that file; LS_CONFIG_GIVEN: 1 when it is the words' own (0: CONFIG). LS_OUT: the
# words' --out (the last), else OUT, else the config's "out".
ls_args() {
  local out_default=$1 i
  LS_CONFIG=$2
  LS_CONFIG_GIVEN=0
  shift 2
  local words=("$@")
  LS_ARGS=()
  LS_OUT=
  for ((i = 0; i < ${#words[@]}; i++)); do
    case ${words[i]} in
      --out | -o) LS_OUT=${words[i + 1]:-}; ((i += 1)); continue ;;
      --out=*) LS_OUT=${words[i]#--out=}; continue ;;
      -o?*) LS_OUT=${words[i]#-o}; continue ;;
      --config) LS_CONFIG=${words[i + 1]:-}; LS_CONFIG_GIVEN=1; ((i += 1)); continue ;;
      --config=*) LS_CONFIG=${words[i]#--config=}; LS_CONFIG_GIVEN=1; continue ;;
    esac
    LS_ARGS+=("${words[i]}")
  done
  if [[ -n $LS_CONFIG ]]; then LS_ARGS+=(--config "$LS_CONFIG"); fi
  [[ -z $LS_OUT ]] && LS_OUT=$out_default
  if [[ -z $LS_OUT && -n $LS_CONFIG && -r $LS_CONFIG ]]; then
    # (read from its line, "out": "NAME"; JSON escapes are not decoded here: a name written
    # with them, Python's json.dump of "résultat.h5" as "r\u00e9sultat.h5", or on another line
    # than its key, is refused rather than taken for another file)
    LS_OUT=$(sed -En 's/.*"out"[[:space:]]*:[[:space:]]*"(([^"\\]|\\.)*)".*/\1/p' "$LS_CONFIG" | head -1)
    [[ $LS_OUT != *\\* ]] ||
      ls_die "$LS_CONFIG: its \"out\" ($LS_OUT) holds a JSON escape, which the job scripts do not" \
        "decode: write the name as it is (Python: json.dump(..., ensure_ascii=False)) or give it as --out"
    [[ -n $LS_OUT ]] || ! grep -Eq '"out"[[:space:]]*:[[:space:]]*("|$)' "$LS_CONFIG" ||
      ls_die "$LS_CONFIG: its \"out\" is not a file name on the key's line (\"out\": \"NAME\"), as the" \
        "job scripts read it: write it so, or give it as --out"
  fi
  return 0
}

# After ls_args: the config that is used must be readable; VAR names the setting it came from
# when it is not the words' own (SWEEP_CONFIG, TRAIN_CONFIG: checked only when used).
ls_check_config() {
  [[ -z $LS_CONFIG || -r $LS_CONFIG ]] && return 0
  ((LS_CONFIG_GIVEN)) && ls_die "--config $LS_CONFIG: no such readable file"
  ls_die "$1=$LS_CONFIG: no such readable file"
}

# ls_threads ARRAY: adds --threads $SLURM_CPUS_PER_TASK to the command's arguments in ARRAY (with
# --cpus-per-task), unless they have --threads or their --config sets "threads" (to a number
# other than 0).
ls_threads() {
  local -n ls_threads_args=$1
  [[ -n ${SLURM_CPUS_PER_TASK:-} ]] || return 0
  printf '%s\n' "${ls_threads_args[@]}" | grep -E '^--threads(=|$)' >/dev/null && return 0
  local i
  for ((i = 0; i < ${#ls_threads_args[@]}; i++)); do
    if [[ ${ls_threads_args[i]} == --config ]]; then
      # ("threads": 0, as a stored configuration has it, means all the node's cores: not set)
      grep -E '"threads"[[:space:]]*:[[:space:]]*[1-9]' "${ls_threads_args[i + 1]}" >/dev/null 2>&1 && return 0
    fi
  done
  ls_threads_args+=(--threads "$SLURM_CPUS_PER_TASK")
}

# The launcher command in LS_LAUNCH (an array), from LAUNCHER. `ls_launcher one`: one task (srun
# --ntasks=1; no mpirun).
ls_launcher() {
  local launcher=${LAUNCHER:-} one=${1:-}
  [[ -z $launcher ]] && { [[ -n ${SLURM_JOB_ID:-} ]] && launcher=srun || launcher=none; }
  [[ $one == one && $launcher == mpirun ]] && ls_die "LAUNCHER=mpirun: expected srun or none (one task)"
  case $launcher in
    srun)
      command -v srun >/dev/null || ls_die "LAUNCHER=srun but srun is not on PATH"
      # No --kill-on-bad-exit: an error on one rank already ends all of them (MPI_Abort), and a
      # rank that dies makes Slurm's PMIx plugin abort the step (docs/slurm.md, "A rank that
      # dies"); SRUN_ARGS can add it where a PMI does not. srun did not inherit
      # --cpus-per-task from the job in Slurm 22.05 and 23.02: pass it on.
      LS_LAUNCH=(srun)
      [[ $one == one ]] && LS_LAUNCH+=(--ntasks=1)
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
      # Open MPI binds each rank to one core by default (two ranks or fewer; to a socket above):
      # with --cpus-per-task N a rank's N threads would share that core. Unbound instead (the
      # job's cgroup keeps it on its own cores), unless MPIRUN_ARGS binds or maps the ranks.
      if [[ ${SLURM_CPUS_PER_TASK:-1} =~ ^[0-9]+$ ]] && ((${SLURM_CPUS_PER_TASK:-1} > 1)) &&
        ! printf '%s\n' "${words[@]}" | grep -qE '^--?(bind-to|map-by)'; then
        LS_LAUNCH+=(--bind-to none)
      fi
      LS_LAUNCH+=("${words[@]}")
      ;;
    none) LS_LAUNCH=() ;;
    *) ls_die "LAUNCHER=$launcher: expected srun$([[ $one == one ]] || echo ", mpirun") or none" ;;
  esac
}

# LS_RANKS: the number of ranks losscape runs (after ls_launcher): one without a launcher, else
# the job's tasks; logs that the allocation's other tasks stay idle when LAUNCHER=none has several.
ls_ranks() {
  LS_RANKS=${SLURM_NTASKS:-1}
  if [[ -z ${LS_LAUNCH[0]:-} ]] && ((LS_RANKS > 1)); then
    ls_log "LAUNCHER=none: losscape runs 1 rank; the allocation's other $((LS_RANKS - 1)) task(s) stay idle"
    LS_RANKS=1
  fi
  return 0
}

# The value of FIELD (Restarts, TimeLimit, ...) in `scontrol show job` of this job; nothing when
# there is none (no job, scontrol failing).
ls_job_field() {
  scontrol show job "${SLURM_JOB_ID:-}" 2>/dev/null | sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" | head -1
}

# The job's time limit in seconds (scontrol's TimeLimit: [D-]HH:MM:SS or MM:SS); nothing when
# unknown (no job, UNLIMITED, scontrol failing).
ls_time_limit() {
  local t
  t=$(ls_job_field TimeLimit)
  if [[ $t =~ ^(([0-9]+)-)?([0-9]+):([0-9]+):([0-9]+)$ ]]; then
    echo $(((10#${BASH_REMATCH[2]:-0} * 24 + 10#${BASH_REMATCH[3]}) * 3600 + 10#${BASH_REMATCH[4]} * 60 + 10#${BASH_REMATCH[5]}))
  elif [[ $t =~ ^([0-9]+):([0-9]+)$ ]]; then
    echo $((10#${BASH_REMATCH[1]} * 60 + 10#${BASH_REMATCH[2]}))
  fi
  return 0
}

# A warning that shows a lead (--signal=B:USR1@N, which no Slurm command shows) longer than half
# the start's time limit: every start stopped after a fraction of its time and the job was
# requeued over and over without a word of why (a 5-minute test job under the scripts' 300 s
# lead: 7 starts of 6 to 30 s each). Slurm sends the warning up to 60 s before the lead, so the
# lead is at least the time left less 60 s. Said once a start.
_ls_early_warning_note() {
  [[ -n ${SLURM_JOB_ID:-} && -z ${LS_EARLY_NOTED:-} ]] || return 0
  LS_EARLY_NOTED=1
  local limit
  limit=$(ls_time_limit)
  [[ -n $limit ]] && (((limit - SECONDS - 60) * 2 > limit)) || return 0
  ls_log "the time-limit warning came ${SECONDS} s into this start, whose time limit is ${limit} s:" \
    "unless it was sent by hand, the warning's lead (--signal=B:USR1@N; the script's is 300 s) is" \
    "more than half the time limit, and every start stops this early; give the job a time limit" \
    "well beyond the lead, or a shorter lead"
}

_ls_forward() {  # a signal reached the batch shell: pass it to the launcher, which passes it on
  local sig=$1 send=USR1
  # Every stop signal goes on as SIGUSR1, which losscape handles as SIGTERM and which both
  # launchers pass on to every rank. Neither passes SIGTERM on: srun answers it by SIGKILLing
  # the tasks ("forcing job termination") and a single SIGINT only makes it print the tasks'
  # state; Open MPI's mpirun kills the ranks on either (SIGKILL a second later). Either way the
  # points since the last round would be lost.
  [[ ${LS_LAUNCH[0]:-} == "" ]] && send=$sig  # no launcher: losscape itself
  if ((${LS_ENDED:-0})); then  # (e.g. Slurm ending a run of the job the script requeued)
    ls_log "SIG$sig after $LS_WHAT ended: nothing to pass on"
    # (kept for a later ls_run of the same script, which must not start: the fan-out merge and
    # a chain task run a dry run first)
    LS_LATE=$send
    [[ $sig == USR1 ]] && LS_LATE_WARNED=1
    return 0
  fi
  LS_SIGNALLED=$send  # what the ranks get (ls_run recognizes a start-up death by it)
  [[ $sig == USR1 ]] && LS_WARNED=1
  # Passed on before it is logged: a closed terminal or a Ctrl-C also ends a `| tee` reading the
  # script's output, and the log line would then end the script by SIGPIPE before the kill.
  if [[ -n ${LS_CHILD:-} ]]; then
    kill -"$send" "$LS_CHILD" 2>/dev/null
  else
    LS_PENDING=1  # no child (yet): ls_run passes it on once it has one
  fi
  if [[ $sig == USR1 ]]; then
    ls_log "SIGUSR1 (the time-limit warning): $LS_STOP_TEXT"
    _ls_early_warning_note
  elif [[ $send != "$sig" ]]; then
    ls_log "SIG$sig: passed on to $LS_WHAT as SIG$send (${LS_LAUNCH[0]} would kill the ranks on SIG$sig)"
  else
    ls_log "SIG$sig: passed on to $LS_WHAT"
  fi
  return 0
}

# Runs `launcher losscape ARGS...` in the background so that the shell's traps run while it
# works (bash runs a trap only between commands), and returns its exit status.
ls_run() {
  LS_WARNED=${LS_WARNED:-0}
  LS_ENDED=0
  LS_PENDING=  # (cleared before the check below: a signal from here on is seen by one of them)
  LS_RUN_NOTE=  # why a 75 that losscape did not return itself is "incomplete" (ls_sweep_rc_text)
  if [[ -n ${LS_LATE:-} ]]; then  # a signal after the script's previous run: stop here too
    LS_SIGNALLED=$LS_LATE
    ((${LS_LATE_WARNED:-0})) && LS_WARNED=1
    LS_LATE= LS_LATE_WARNED=0
  fi
  # A stop signal before the launch (the warning came while the script looked at the file, or
  # the time limit is shorter than the warning's lead): nothing to start.
  if [[ -n ${LS_SIGNALLED:-} ]]; then
    ls_log "stopped by a signal before $LS_WHAT was started: incomplete (75)"
    ((LS_WARNED)) && ls_log "the time-limit warning came ${SECONDS} s into the job, before $LS_WHAT" \
      "started: the time limit is not longer than the warning's lead (--signal=B:USR1@N) plus" \
      "start-up; give the job a longer time limit or a shorter lead"
    LS_RUN_NOTE="not started: the signal came first"
    LS_ENDED=1
    return 75
  fi
  # (shell-quoted, so that the line can be copied and run again: a path with a space)
  local shown
  printf -v shown ' %q' "${LS_LAUNCH[@]}" "$LS_EXE" "$@"
  ls_log "running:${shown}"
  # Run by hand (outside a Slurm job, or from a terminal inside salloc): in a process group of
  # its own (job control for this one command), so that a signal to the script's group (Ctrl-C,
  # `kill -INT -- -PGID`) reaches losscape once, through the traps, not also directly (two stop
  # signals make `losscape train` give up its epoch; mpirun kills the ranks on SIGINT), and so
  # that SIGINT is not ignored in it (bash starts a script's background commands with SIGINT
  # ignored, which lost a Ctrl-C during losscape's start-up). Not in a batch job, whose processes
  # Slurm may track by the script's process group (ProctrackType=proctrack/pgid) and which no
  # terminal signals. Its stdin is /dev/null either way, as bash gives a background command
  # without job control (a launcher reading a terminal from a background group would be stopped).
  local own_group=0 job_control=0
  [[ $- == *m* ]] && job_control=1
  if [[ -z ${SLURM_JOB_ID:-} ]] || { true </dev/tty; } 2>/dev/null; then own_group=1; fi
  ((own_group)) && set -m
  "${LS_LAUNCH[@]}" "$LS_EXE" "$@" </dev/null &
  LS_CHILD=$!
  ((job_control)) || set +m
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
  LS_ENDED=1
  # Killed by the very signal passed on (it came while losscape was still starting, before it
  # could catch it): the surface file is as safe as after any kill, so this is "incomplete".
  # SIGUSR1 also when the batch shell did not get it: `scancel -s USR1 JOB` signals the steps
  # alone, and srun reports the task's death by it as 128 + 10.
  if [[ -n ${LS_SIGNALLED:-} ]] && ((rc == 128 + $(kill -l "$LS_SIGNALLED"))); then
    ls_log "$LS_WHAT was ended by SIG$LS_SIGNALLED itself (it came during start-up): treated as incomplete (75)"
    LS_RUN_NOTE="ended by the signal during start-up"
    rc=75
  elif ((rc == 128 + $(kill -l USR1))); then
    ls_log "$LS_WHAT was ended by a SIGUSR1 sent to the job's steps (scancel -s USR1?) during its" \
      "start-up: treated as incomplete (75)"
    LS_RUN_NOTE="ended by SIGUSR1 during start-up"
    rc=75
  fi
  return "$rc"
}

# Runs a command in the background and waits for it, so that a trapped signal is handled at once
# and bash reports no "Terminated" line when Slurm's SIGTERM ends the command; its exit status.
ls_quiet() {
  "$@" &
  local pid=$! rc
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid"
    return $?
  done
}

# Whether Slurm itself is requeueing the job (`scontrol requeue` by hand, preemption, the
# script's own requeue): its restart count has gone past this start's (Slurm raises it as it
# requeues, while the job is still COMPLETING).
ls_slurm_requeueing() {
  [[ -n ${SLURM_JOB_ID:-} ]] || return 1
  local restarts
  restarts=$(ls_job_field Restarts)
  [[ $restarts =~ ^[0-9]+$ ]] && ((restarts > ${SLURM_RESTART_COUNT:-0}))
}

# ls_stopped_early IDLE_FILE TARGET: losscape stopped without the time-limit warning, or a script
# run by hand outside Slurm stopped: logs whether Slurm requeues the job (its next start resumes
# TARGET) or not (the job ends: IDLE_FILE removed).
ls_stopped_early() {
  if [[ -z ${SLURM_JOB_ID:-} ]]; then
    rm -f "$1"
    ls_log "not a Slurm job, so not requeued: run again to resume $2"
  elif ls_slurm_requeueing; then
    ls_log "Slurm is requeueing job $SLURM_JOB_ID (scontrol requeue, preemption?): its next start resumes $2"
  else
    rm -f "$1"
    ls_log "stopped without the time-limit warning (scancel, preemption?): not requeued; submit the same job again to resume"
  fi
}

# The traps that pass stop signals on (each script sets placeholders first thing, since bash's
# default for SIGUSR1 would end the batch shell; a signal they kept is passed on here).
ls_trap_signals() {
  LS_WARNED=0
  LS_SIGNALLED=
  LS_ENDED=0
  LS_LATE= LS_LATE_WARNED=0
  trap '_ls_forward USR1' USR1
  trap '_ls_forward TERM' TERM
  trap '_ls_forward INT' INT
  trap '_ls_forward HUP' HUP  # (a script run by hand: losscape runs in a process group of its own)
  if [[ -n ${ls_early:-} ]]; then _ls_forward "$ls_early"; fi
}

# A job's start made no progress: counts it in FILE ("JOBID N", N such starts of this job in a row;
# KEY instead of the job id: the array job of a chain) and prints N; fails (FILE removed) once N
# exceeds LIMIT.
ls_idle_start() {
  local file=$1 limit=$2 key=${3:-${SLURM_JOB_ID:-}} job idle=0
  [[ -r $file ]] && read -r job idle <"$file" && [[ $job == "$key" && $idle =~ ^[0-9]+$ ]] || idle=0
  idle=$((idle + 1))
  echo "$idle"
  if ((idle > limit)); then
    rm -f "$file"
    return 1
  fi
  mkdir -p "$(dirname "$file")" && echo "$key $idle" >"$file"
}

# Removes FILE, ls_idle_start's count, unless it counts another job's starts (KEY as there): a job
# that failed without owning the target (refused by its lock: another job writes it) removed the
# running job's count, which could then be requeued idle beyond IDLE_REQUEUES.
ls_forget_idle() {
  local file=$1 key=${2:-${SLURM_JOB_ID:-}} job rest
  if [[ -r $file ]] && read -r job rest <"$file" && [[ -n $job && $job != "$key" ]]; then return 0; fi
  rm -f "$file"
}

# ls_requeue PROGRESSED IDLE_FILE MAX NOTHING ADVICE TARGET [DETAIL]: after an exit 75 on the
# time-limit warning inside a Slurm job, requeue the job (which resumes TARGET), unless starts keep
# making no progress (PROGRESSED 0: NOTHING, e.g. "no point was computed", in more than
# IDLE_REQUEUES starts in a row, counted in IDLE_FILE; ADVICE says what to change) or the job was
# requeued MAX_REQUEUES times (default MAX). Returns 75 (the job's exit status) unless Slurm ends
# this run first.
ls_requeue() {
  local progressed=$1 idle_file=$2 max=${MAX_REQUEUES:-$3} nothing=$4 advice=$5 target=$6
  local detail=${7:-} restarts=${SLURM_RESTART_COUNT:-0} idle requeue_rc answer
  if ((progressed)); then
    rm -f "$idle_file"
  elif ! idle=$(ls_idle_start "$idle_file" "${IDLE_REQUEUES:-2}"); then
    ls_log "$nothing in $idle starts in a row$detail: not requeued (IDLE_REQUEUES=${IDLE_REQUEUES:-2});" \
      "$advice and submit again to resume"
    return 75
  else
    ls_log "$nothing in this start ($idle in a row; the warning can come up to 60 s" \
      "early): requeued all the same, at most IDLE_REQUEUES=${IDLE_REQUEUES:-2} times in a row"
  fi
  if ((restarts >= max)); then
    ls_log "requeued $restarts times already (MAX_REQUEUES=$max): not again; submit again to resume"
    rm -f "$idle_file"
    return 75
  fi
  # (Slurm may be requeueing it already: a hand `scontrol requeue` racing this one)
  if ls_slurm_requeueing; then
    ls_log "Slurm is requeueing job $SLURM_JOB_ID already: its next start resumes $target"
  else
    ls_log "requeueing job $SLURM_JOB_ID to resume $target"
    # (in $(...): a scontrol ended by a signal leaves no "Terminated" line in the log)
    answer=$(scontrol requeue "$SLURM_JOB_ID" 2>&1)
    requeue_rc=$?
    answer=${answer//$'\n'/ }
    # Slurm requeues a job by signalling its batch step, which can end scontrol itself before it
    # reports success: ended by a signal, the requeue was under way (the count file stays). An
    # answer "Job is pending execution": another requeue came first.
    if ((requeue_rc > 128)); then
      ls_log "scontrol requeue was ended by SIG$(kill -l $((requeue_rc - 128))) (Slurm's own signal to the job it requeues)"
    elif ((requeue_rc != 0)) && { [[ $answer == *[Pp]ending* ]] || ls_slurm_requeueing; }; then
      ls_log "scontrol requeue: \"$answer\": the job is being requeued already"
    elif ((requeue_rc != 0)); then
      ls_log "scontrol requeue failed${answer:+ (\"$answer\")} (is the job requeueable? JobRequeue / --requeue): submit again to resume"
      rm -f "$idle_file"
      return 75
    fi
  fi
  LS_REQUEUED=1
  # Slurm ends this run of the job now; wait for it rather than racing it to an exit status.
  ls_quiet sleep 60
  return 75
}

# shellcheck shell=bash
# Sourced by jobs/sweep.sbatch, jobs/sweep-chain.sbatch and jobs/sweep-fanout.sbatch: their
# settings and the reading of the surface file's state, on top of jobs/lib/slurm-common.sh (the
# launch of `losscape sweep` under srun or mpirun with the time-limit warning forwarded to the
# ranks, the requeue). docs/slurm.md.
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
# shellcheck source-path=SCRIPTDIR source=slurm-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm-common.sh" || return 1

# Fills LS_EXE, LS_OUT (the surface file) and LS_SWEEP (the `losscape sweep` arguments but
# --out) from the settings and the script's arguments "$@".
ls_settings() {
  ls_exe
  local extra=()
  # (split on white space only: no glob expansion of the words)
  ls_words extra "${SWEEP_ARGS:-}"
  extra+=("$@")
  # The surface file, kept apart: each script gives losscape its own --out (the chain looks at
  # the file, the fan-out names its parts after it). One --config: the arguments' over
  # SWEEP_CONFIG (losscape takes the option once).
  ls_args "${SWEEP_OUT:-}" "${SWEEP_CONFIG:-}" "${extra[@]}"
  # shellcheck disable=SC2034  # used by the scripts
  LS_SWEEP=(sweep "${LS_ARGS[@]}")
  # (SWEEP_CONFIG only when no --config replaces it)
  ls_check_config SWEEP_CONFIG
  [[ -n $LS_OUT ]] ||
    ls_die "no surface file: set SWEEP_OUT=surface.h5, pass --out, or put \"out\" in SWEEP_CONFIG"
  [[ -d $(dirname "$LS_OUT") ]] || ls_die "the directory of the surface file $LS_OUT does not exist"
  if [[ -z $LS_CONFIG ]] && ! printf '%s\n' "${extra[@]}" | grep -E '^(--model-file|--arch)(=|$)|^-[ma]' >/dev/null; then
    ls_die "no model: set SWEEP_CONFIG=sweep.json (with \"model_file\" or \"arch\") or give --model-file/--arch"
  fi
}

# "done N of M points (complete)" of `losscape info FILE`: prints "N M"; fails, saying why in
# the job's log (info's own error, or that FILE holds no completion record), when info cannot
# read FILE or FILE is not a surface file.
ls_surface_state() {
  local out line
  if ! out=$("$LS_EXE" info "$1" 2>&1); then
    ls_log "losscape info $1 failed: ${out##*$'\n'}" >&2
    return 1
  fi
  line=$(grep -E '^done +[0-9]+ of [0-9]+ points' <<<"$out") || {
    ls_log "losscape info $1 reports no completed points: not a losscape surface file" >&2
    return 1
  }
  sed -E 's/^done +([0-9]+) of ([0-9]+) points.*/\1 \2/' <<<"$line"
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

# A sweep that exits 0 has completed FILE (a part: its slice of the grid), which `losscape info`
# confirms, so that a LOSSCAPE that is not losscape (/bin/true was logged "complete") or a file
# replaced meanwhile is not taken for a finished surface: fails, saying what info reports. A dry
# run writes nothing and passes.
ls_confirm_complete() {
  local state n_done n_total
  ls_dry_run "${LS_SWEEP[@]}" && return 0
  if [[ ! -e $1 ]]; then
    ls_log "$LS_EXE exited 0, but wrote no $1: not complete"
    return 1
  fi
  state=$(ls_surface_state "$1") || {
    ls_log "$LS_EXE exited 0, but $1 cannot be read as a surface (above): not complete"
    return 1
  }
  read -r n_done n_total <<<"$state"
  ((n_done == n_total)) && return 0
  ls_log "$LS_EXE exited 0, but $1 has $n_done of $n_total points done: not complete"
  return 1
}

ls_sweep_rc_text() {
  case $1 in
    0) if ls_dry_run "${LS_SWEEP[@]}"; then
         echo "--dry-run passed its checks (a dry run: nothing computed, nothing written)"
       else
         echo "complete"
       fi ;;
    75) echo "incomplete (${LS_RUN_NOTE:-stopped by a signal after a final flush})" ;;
    *) echo "failed with exit code $1" ;;
  esac
}

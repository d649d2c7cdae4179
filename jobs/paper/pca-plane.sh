#!/usr/bin/env bash
# The plane of a training run's trajectory (section 7 of the paper), ready to be swept:
#
#   jobs/paper/pca-plane.sh RUN_DIR STEM [N]
#
# makes STEM.pca.h5 (PCA directions of the run's checkpoints: `losscape directions --pca`),
# STEM.proj.h5 (every checkpoint projected onto them: `losscape project`, the path drawn by
# `plot --trajectory`) and STEM.sweep.json, the `losscape sweep --config` of an N x N grid
# (default 51) around the run's final model covering the whole path with a 15 % margin (the
# grid is known only once the checkpoints are projected, hence a file). jobs/paper/submit.sh
# runs it as a job after each VGG-9 training, then sweeps STEM.sweep.json (SWEEP_CONFIG) in a
# sweep.sbatch job after it; data set and splits come with that job's SWEEP_ARGS.
#   LOSSCAPE   the losscape program (default: losscape on PATH)
set -euo pipefail
die() { echo "pca-plane.sh: error: $*" >&2; exit 1; }
[[ $# == 2 || $# == 3 ]] || die "usage: pca-plane.sh RUN_DIR STEM [N]"
run=$1 stem=$2 n=${3:-51}
losscape=${LOSSCAPE:-losscape}
[[ -d $run ]] || die "$run: no such run folder"
# The final model: the highest epoch N of model_N.h5
shopt -s nullglob
final='' best=-1
for f in "$run"/model_*.h5; do
  e=${f##*/model_} && e=${e%.h5}
  if [[ $e =~ ^[0-9]+$ ]] && ((10#$e > best)); then best=$((10#$e)) final=$f; fi
done
[[ -n $final ]] || die "$run: no checkpoint model_<epoch>.h5"

"$losscape" directions --pca --checkpoints "$run" --out "$stem.pca.h5"
# (quietly: its one line is the grid, "--x MIN:MAX:N --y MIN:MAX:N"; the checkpoints read once)
read -r xflag x yflag y < <("$losscape" project --directions "$stem.pca.h5" --checkpoints "$run" \
  --out "$stem.proj.h5" --grid "$n" --quiet)
[[ $xflag == --x && $yflag == --y ]] || die "unexpected grid from losscape project: $xflag $x $yflag $y"

json() {  # a JSON string of $1 (paths: backslashes and quotes escaped)
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
printf '{"model_file": %s, "directions": %s, "x": %s, "y": %s}\n' "$(json "$final")" \
  "$(json "$stem.pca.h5")" "$(json "$x")" "$(json "$y")" >"$stem.sweep.json.tmp"
mv "$stem.sweep.json.tmp" "$stem.sweep.json"
echo "pca-plane.sh: $stem.sweep.json: $final, --x $x --y $y"

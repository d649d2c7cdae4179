#!/usr/bin/env bash
# The experiments of Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS 2018)
# end to end on a GPU cluster: submits the trainings, then the sweeps that depend on them (and,
# for the trajectories, the PCA planes they need), then the pictures, the long jobs through
# jobs/train.sbatch and jobs/sweep.sbatch (requeued before their time limits, so none needs to
# fit in one). What each job produces: jobs/paper/README.md.
#
#   DATA_DIR=data/cifar-10-batches-bin RUNS=runs/paper jobs/paper/submit.sh
#
# Settings (environment variables):
#   DATA_DIR      CIFAR-10 binary version (data_batch_1.bin ... test_batch.bin); required
#   RUNS          where everything goes (default runs/paper)
#   (DATA_DIR and RUNS must not contain white space: the jobs get them in TRAIN_ARGS/SWEEP_ARGS,
#   split on it; refused up front)
#   NETS          the networks of the architecture comparison (section 5), each trained (batch
#                 128, weight decay 5e-4) and swept in 2D: zoo names, default
#                 "resnet56 resnet56_noshort"; NETS=all: the paper's whole set (ResNet-20/56/110
#                 with and without shortcuts, Wide-ResNet-56 k = 2, 4, 8 with and without,
#                 DenseNet-121)
#   EPOCHS        training epochs (default 300, the paper's)
#   LR_LARGE      learning rate of the batch-8192 VGG-9 runs (default 0.1, as the small batch)
#   SWEEP_RANKS   ranks (GPUs) per sweep job (default 4)
#   GPU_FLAGS     sbatch flags that give each rank one GPU (default "--gpus-per-task=1"; set and
#                 empty, GPU_FLAGS=, for none: a CPU cluster)
#   SBATCH_FLAGS  more sbatch flags for every job (partition, account, ...)
#   TRAIN_TIME, SWEEP_TIME  time limit of one run of a job (default 08:00:00, 04:00:00)
#   LOSSCAPE      the losscape program (default: losscape on PATH), used by every job
#   DRY_RUN=1     print the sbatch commands instead of submitting them (nothing is written)
# Every setting is checked before the first job is submitted. If sbatch refuses a job all the
# same (a site's rules), the jobs already submitted are cancelled (scancel) and the error says
# which job failed and why; RUNS/submitted lists the jobs of a submission, and a RUNS that has
# one is refused (a second submission would train into the same folders).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jobs=$(dirname "$here")
# (the job scripts' library: its bash 4.4 check, which ${x@Q} and an empty "${a[@]}" under set -u
# need here too, and ls_die, ls_exe)
ls_name=paper/submit.sh
# shellcheck source=../lib/slurm-common.sh
source "$jobs/lib/slurm-common.sh"
die() { ls_die "$@"; }
dry=${DRY_RUN:-0}
[[ $dry == 0 || $dry == 1 ]] || die "DRY_RUN=$dry: expected 1 (print the sbatch commands) or 0"

[[ -n ${DATA_DIR:-} ]] || die "set DATA_DIR to the CIFAR-10 binary version (cifar-10-batches-bin)"
for f in data_batch_{1..5}.bin test_batch.bin; do
  [[ -r $DATA_DIR/$f ]] || die "DATA_DIR=$DATA_DIR has no readable $f (CIFAR-10 binary version: data_batch_1.bin ... data_batch_5.bin, test_batch.bin)"
done
DATA_DIR=$(cd "$DATA_DIR" && pwd)
# The job scripts take their flags as TRAIN_ARGS/SWEEP_ARGS, split on white space: a path with
# a space would break the jobs only once they run.
nospace() {  # nospace NAME PATH
  [[ $2 != *[[:space:]]* ]] ||
    die "$1=$2 contains white space, which the jobs' TRAIN_ARGS/SWEEP_ARGS cannot carry: use a path without (a symbolic link)"
}
nospace DATA_DIR "$DATA_DIR"
# LOSSCAPE: a path, or a name on PATH, as the job scripts take it (ls_exe); default: losscape on
# PATH; made absolute (a job may run in another folder, --chdir in SBATCH_FLAGS)
ls_exe
LOSSCAPE=$(cd "$(dirname "$LS_EXE")" && pwd)/$(basename "$LS_EXE")
export LOSSCAPE
runs=${RUNS:-runs/paper}
[[ $runs == /* ]] || runs=$PWD/$runs
nospace RUNS "$runs"
[[ $dry == 1 || ! -e $runs/submitted ]] ||
  die "RUNS=$runs was submitted before ($runs/submitted lists its jobs): use another RUNS, or remove that folder"
epochs=${EPOCHS:-300}
lr_large=${LR_LARGE:-0.1}
ranks=${SWEEP_RANKS:-4}
[[ $epochs =~ ^[1-9][0-9]*$ ]] || die "EPOCHS=$epochs: expected a whole number of epochs, at least 1"
[[ $lr_large =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ && ! $lr_large =~ ^[0.]*([eE].*)?$ ]] ||
  die "LR_LARGE=$lr_large: expected a learning rate above 0 (e.g. 0.1)"
[[ $ranks =~ ^[1-9][0-9]*$ ]] || die "SWEEP_RANKS=$ranks: expected a whole number of ranks, at least 1"
# Slurm's time formats: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS[:MINUTES[:SECONDS]]
for t in TRAIN_TIME SWEEP_TIME; do
  v=${!t:-}
  [[ -z $v || $v =~ ^[0-9]+(:[0-9]+){0,2}$ || $v =~ ^[0-9]+-[0-9]+(:[0-9]+){0,2}$ ]] ||
    die "$t=$v: expected a Slurm time limit (MINUTES, HOURS:MINUTES:SECONDS or DAYS-HOURS:MINUTES:SECONDS)"
done
gpu=${GPU_FLAGS---gpus-per-task=1}  # (set and empty: no GPU flags, for a CPU cluster)
nets=${NETS:-resnet56 resnet56_noshort}
[[ $nets == all ]] && nets="resnet20 resnet56 resnet110 resnet20_noshort resnet56_noshort
  resnet110_noshort wrn56_2 wrn56_4 wrn56_8 wrn56_2_noshort wrn56_4_noshort wrn56_8_noshort densenet121"
zoo=" $("$LOSSCAPE" info --list-archs | tr '\n' ' ') "
seen=" "
for net in $nets; do
  [[ $zoo == *" $net "* && $net != vgg9 && $net != cnn_small ]] ||
    die "NETS: '$net' is not one of the zoo's CIFAR-10 networks besides vgg9 (losscape info --list-archs)"
  [[ $seen != *" $net "* ]] || die "NETS: '$net' is given twice (its two trainings would share one folder)"
  seen+="$net "
done
data=(--dataset cifar10 --data-dir "$DATA_DIR")
# shellcheck disable=SC2206  # flag lists
common=(${SBATCH_FLAGS:-} $gpu)
# RUNS/submitted: "JOBID NAME" of each job submitted, as it is; if a submission fails, the EXIT
# trap cancels them and removes the file (nothing of this submission is left to run).
if [[ $dry == 0 ]]; then
  mkdir -p "$runs/logs"
  : >"$runs/submitted"
  rm -f "$runs/submit-error"
  undo() {
    local rc=$? ids why=
    ((rc != 0)) || return 0
    ids=$(cut -d' ' -f1 "$runs/submitted" 2>/dev/null | xargs)
    [[ -s $runs/submit-error ]] && why=$(<"$runs/submit-error")
    if [[ -n $ids ]]; then
      # shellcheck disable=SC2086  # a list of job ids
      scancel $ids 2>/dev/null || true
      why+="${why:+; }the $(wc -w <<<"$ids") job(s) submitted before it were cancelled ($ids)"
    fi
    rm -f "$runs/submitted" "$runs/submit-error"
    [[ -z $why ]] || echo "paper/submit.sh: error: $why" >&2
    exit "$rc"
  }
  trap undo EXIT
fi

submit() {  # submit NAME VAR=VALUE... -- SBATCH ARGS...: prints the job id
  local name=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  if [[ $dry == 1 ]]; then
    echo "env ${envs[*]@Q} sbatch --parsable --export=ALL --job-name=$name ${*@Q}" >&2
    echo "<$name>"  # stands for the job id in the commands printed after it
  else
    # (--export=ALL said: the jobs get their settings, TRAIN_ARGS, SWEEP_OUT, LOSSCAPE..., from
    # this environment, which a site's SBATCH_EXPORT=NONE would keep from them)
    local out id
    if ! out=$(env "${envs[@]}" sbatch --parsable --export=ALL --job-name="$name" "$@" 2>&1) ||
      ! id=$(tail -n 1 <<<"$out" | cut -d';' -f1) || [[ ! $id =~ ^[0-9]+$ ]]; then
      echo "sbatch refused job $name: $(tr '\n' ' ' <<<"$out" | sed 's/ *$//')" >"$runs/submit-error"
      exit 1
    fi
    echo "$id $name" >>"$runs/submitted"
    echo "$id"
  fi
}

# ---- 1. training (sections 4, 5 and 7 of the paper) ----
declare -A job  # the job id of each training (by run name) and PCA plane (pca-RUN)
train() {  # train NAME ARGS...
  local name=$1
  shift
  # (TRAIN_CONFIG given empty: not one of the submitting shell's environment)
  job[$name]=$(submit "train-$name" TRAIN_OUT="$runs/$name" TRAIN_CONFIG= \
    TRAIN_ARGS="${data[*]} --epochs $epochs $*" -- \
    "${common[@]}" --time="${TRAIN_TIME:-08:00:00}" --output="$runs/logs/train-$name-%j.log" \
    "$jobs/train.sbatch")
  echo "train $name: job ${job[$name]}"
}
vgg9_runs=()
for wd in 0 5e-4; do
  train "vgg9_bs128_wd$wd" --arch vgg9 --batch-size 128 --lr 0.1 --weight-decay "$wd"
  train "vgg9_bs8192_wd$wd" --arch vgg9 --batch-size 8192 --lr "$lr_large" --weight-decay "$wd"
  vgg9_runs+=("vgg9_bs128_wd$wd" "vgg9_bs8192_wd$wd")
done
# (a checkpoint every 10 epochs: only the last is swept, and one of a Wide-ResNet-56 k = 8 with
# its momentum is ~440 MB, 130 GB for every epoch's; the time-limit warning checkpoints anyway)
for net in $nets; do
  train "$net" --arch "$net" --batch-size 128 --lr 0.1 --weight-decay 5e-4 --save-every 10
done

# ---- 2. sweeps, each after the jobs it needs ----
model() { echo "$runs/$1/model_$epochs.h5"; }
surfaces=()
declare -A plot_args  # the `losscape plot` flags of each surface
sweep() {  # [plot="FLAGS"] [config=SWEEP_CONFIG] sweep NAME "JOB NAMES" ARGS...
  local name=$1 deps=$2 d ids=
  shift 2
  for d in $deps; do ids+=${ids:+:}${job[$d]}; done
  local id
  # (SWEEP_CONFIG always given, empty but for the trajectories: not one of the environment)
  id=$(submit "sweep-$name" SWEEP_OUT="$runs/$name.h5" SWEEP_CONFIG="${config:-}" \
    SWEEP_ARGS="${data[*]} $*" -- \
    "${common[@]}" --ntasks="$ranks" --time="${SWEEP_TIME:-04:00:00}" \
    --kill-on-invalid-dep=yes --dependency=afterok:"$ids" --output="$runs/logs/sweep-$name-%j.log" \
    "$jobs/sweep.sbatch")
  surfaces+=("$id:$name")
  plot_args[$name]=${plot:-}
  echo "sweep $name: job $id (after $deps)"
}
two_d="--what train_loss,test_loss,train_acc"
for wd in 0 5e-4; do
  # Figure 2: the 1D linear interpolation from the batch-128 to the batch-8192 solution
  sweep "interp_vgg9_wd$wd" "vgg9_bs128_wd$wd vgg9_bs8192_wd$wd" \
    --model-file "$(model vgg9_bs128_wd$wd)" --x-target "$(model vgg9_bs8192_wd$wd)" \
    --dims 1 --type states --x=-0.5:1.5:401 --splits train,test
  # Figure 3: 1D plots along a filter-normalized direction of each solution (drawn as the
  # reference draws them: loss and accuracy, train loss, train error), and 2D contours
  for bs in 128 8192; do
    sweep "1d_vgg9_bs${bs}_wd$wd" "vgg9_bs${bs}_wd$wd" --model-file "$(model vgg9_bs${bs}_wd$wd)" \
      --dims 1 --x=-1:1:51 --splits train,test
    plot=$two_d sweep "2d_vgg9_bs${bs}_wd$wd" "vgg9_bs${bs}_wd$wd" \
      --model-file "$(model vgg9_bs${bs}_wd$wd)" --x=-1:1:51 --y=-1:1:51 --splits train,test
  done
done
# Figures 5 and 6 (section 5): 2D filter-normalized surfaces of each network of NETS, 51x51
for net in $nets; do
  plot=$two_d sweep "2d_$net" "$net" --model-file "$(model "$net")" --x=-1:1:51 --y=-1:1:51 \
    --splits train,test
done
# Section 7: each VGG-9 run's trajectory on the PCA plane of its checkpoints (every epoch's),
# over the train loss of that plane. The plane and the grid that covers the path are known only
# after the training: a one-task job makes them (jobs/paper/pca-plane.sh: RUN.pca.h5,
# RUN.proj.h5, RUN.sweep.json), and the sweep job after it takes the grid from that file.
for run in "${vgg9_runs[@]}"; do
  stem=$runs/traj_$run
  # shellcheck disable=SC2086  # flag list
  job[pca-$run]=$(submit "pca-$run" -- --mem=8G ${SBATCH_FLAGS:-} --ntasks=1 --time=01:00:00 \
    --kill-on-invalid-dep=yes --dependency=afterok:"${job[$run]}" --output="$runs/logs/pca-$run-%j.log" \
    --wrap="${here@Q}/pca-plane.sh ${runs@Q}/$run ${stem@Q} 51")
  echo "pca $run: job ${job[pca-$run]} (after $run)"
  plot="--what train_loss --trajectory ${stem@Q}.proj.h5 --directions ${stem@Q}.pca.h5" \
    config=$stem.sweep.json sweep "traj_$run" "pca-$run" --splits train
done

# ---- 3. pictures of every surface, once every sweep has ended (afterany: a failed or cancelled
# sweep leaves the others' pictures to be drawn); one that fails does not stop the others ----
ids=
plots="failed=0; "
for s in "${surfaces[@]}"; do
  name=${s#*:}
  ids+=${ids:+:}${s%%:*}
  plots+="\"\$LOSSCAPE\" plot ${runs@Q}/$name.h5 ${plot_args[$name]} --out-dir ${runs@Q}/plots/$name || failed=1; "
done
# shellcheck disable=SC2086  # flag list
plot=$(submit paper-plots -- ${SBATCH_FLAGS:-} --ntasks=1 --time=01:00:00 --dependency=afterany:"$ids" \
  --output="$runs/logs/plots-%j.log" --wrap="${plots}echo plots in ${runs@Q}/plots; exit \$failed")
echo "plots: job $plot (after every sweep); results in $runs"

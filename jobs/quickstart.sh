#!/usr/bin/env bash
# The main job on the built-in default (README): on a fresh Debian 12 machine (as root) it
# installs what is missing, builds losscape, and then, with no download:
#   1. trains cnn_small on Fashion-MNIST (Debian's dataset-fashion-mnist) to > 80 % test accuracy,
#   2. makes filter-normalized random directions,
#   3. sweeps a 2D surface (21x21) and a 1D curve with `mpirun -n 2`,
#   4. renders every picture (1D curves, contours, filled contours, heatmap, 3D surface),
#   5. projects the training trajectory onto its PCA plane and draws it over that plane's surface.
# Everything lands in runs/quickstart/ (printed at the end). About 2-3 minutes on 2 cores once built
# (docs/quickstart.md).
#   LOSSCAPE_BUILD=dir   build directory (default: build/)
#   QUICK_EPOCHS, QUICK_SAMPLES, QUICK_GRID   override the sizes (defaults 3, 20000, 21; at least 2 epochs: the PCA needs 3 checkpoints)
#   QUICK_SWEEP_SAMPLES   samples per split of each sweep (default 2000)
#   QUICK_OUT             the output folder (default runs/quickstart)
#   QUICK_LOSSCAPE        a losscape program to run instead of building one (the tests' own)
#   (relative paths in QUICK_OUT and QUICK_LOSSCAPE are the repository's: the script runs there)
set -euo pipefail
cd "$(dirname "$0")/.."
source jobs/lib/ensure-deps.sh
source jobs/lib/build.sh

# (QUICK_EPOCHS=1 ran stages 1-4, minutes, before the PCA of stage 5 refused its 2 checkpoints)
if [[ ! ${QUICK_EPOCHS:-3} =~ ^[0-9]+$ ]] || ((10#${QUICK_EPOCHS:-3} < 2)); then
  echo "quickstart.sh: error: QUICK_EPOCHS=${QUICK_EPOCHS:-}: at least 2 (the PCA of stage 5 needs 3 checkpoints)" >&2
  exit 1
fi
ensure_deps run
if [[ -n ${QUICK_LOSSCAPE:-} ]]; then
  losscape=$QUICK_LOSSCAPE
else
  losscape_build losscape
  losscape=$LOSSCAPE_BUILD/losscape
fi
out=${QUICK_OUT:-runs/quickstart}
epochs=${QUICK_EPOCHS:-3}
samples=${QUICK_SAMPLES:-20000}
grid=${QUICK_GRID:-21}
sweep_samples=${QUICK_SWEEP_SAMPLES:-2000}
mpirun_flags=(--oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && mpirun_flags+=(--allow-run-as-root)
mkdir -p "$out"
stage() { printf '\n==== %s ====\n' "$*"; }
start=$(date +%s)

stage "the data set: Fashion-MNIST from dataset-fashion-mnist"
"$losscape" info --dataset fashion-mnist

stage "1. train cnn_small ($epochs epochs on $samples training images)"
rm -rf "$out/train"
"$losscape" train --arch cnn_small --dataset fashion-mnist --samples "$samples" \
  --test-samples 2000 --epochs "$epochs" --batch-size 128 --lr 0.05 --weight-decay 5e-4 \
  --save-every 1 --seed 1 --out "$out/train"
# (the highest epoch N of model_N.h5: by the number in the file's own name, whatever the folder's)
model=$(ls "$out"/train/model_*.h5 | awk -F/ '{n = $NF; gsub(/[^0-9]/, "", n); print n "\t" $0}' |
  sort -n | tail -1 | cut -f2-)
"$losscape" eval --model-file "$model" --dataset fashion-mnist --split test

stage "2. filter-normalized random directions (the paper's recipe)"
"$losscape" directions --model-file "$model" --dataset fashion-mnist --out "$out/dirs.h5"
# (through a file: `| head` could end the pipeline with SIGPIPE, which set -e -o pipefail obeys)
"$losscape" info "$out/dirs.h5" --model-file "$model" --input fashion-mnist >"$out/dirs-info.txt"
head -12 "$out/dirs-info.txt"

stage "3a. 2D surface ${grid}x${grid} on [-1, 1]^2, $sweep_samples train + test samples, mpirun -n 2"
rm -f "$out/surface2d.h5"
mpirun "${mpirun_flags[@]}" -n 2 "$losscape" sweep --model-file "$model" \
  --directions "$out/dirs.h5" --x "-1:1:$grid" --y "-1:1:$grid" --dataset fashion-mnist \
  --splits train,test --samples "$sweep_samples" --progress-seconds 5 --out "$out/surface2d.h5"

stage "3b. 1D curve, 51 points on [-1, 1], mpirun -n 2"
"$losscape" directions --model-file "$model" --dataset fashion-mnist --dims 1 --out "$out/dirs1d.h5"
rm -f "$out/surface1d.h5"
mpirun "${mpirun_flags[@]}" -n 2 "$losscape" sweep --model-file "$model" \
  --directions "$out/dirs1d.h5" --x "-1:1:51" --dataset fashion-mnist --splits train,test \
  --samples "$sweep_samples" --progress-seconds 5 --out "$out/surface1d.h5"

stage "4. pictures"
"$losscape" plot "$out/surface2d.h5" --what train_loss,test_loss,train_acc --out-dir "$out/plots"
"$losscape" plot "$out/surface1d.h5" --out-dir "$out/plots"
"$losscape" export "$out/surface2d.h5" --vtp "$out/plots/surface2d_train_loss.vtp" --zmax 10 --log

stage "5. the training trajectory on its PCA plane"
"$losscape" directions --pca --checkpoints "$out/train" --out "$out/pca.h5"
"$losscape" project --directions "$out/pca.h5" --checkpoints "$out/train" --out "$out/proj.h5" \
  --grid "$grid"
# the same projection, quietly, for the sweep options of a grid that covers the whole path
read -r -a pca_grid < <("$losscape" project --directions "$out/pca.h5" --checkpoints "$out/train" \
  --out "$out/proj.h5" --grid "$grid" --quiet)
rm -f "$out/surface_pca.h5"
mpirun "${mpirun_flags[@]}" -n 2 "$losscape" sweep --model-file "$model" \
  --directions "$out/pca.h5" "${pca_grid[@]}" --dataset fashion-mnist \
  --splits train --samples "$sweep_samples" --progress-seconds 5 --out "$out/surface_pca.h5"
"$losscape" plot "$out/surface_pca.h5" --what train_loss --trajectory "$out/proj.h5" \
  --directions "$out/pca.h5" --out-dir "$out/plots/pca"

stage "done in $(( $(date +%s) - start )) s: what was made"
find "$out" -maxdepth 3 -type f \( -name '*.h5' -o -name '*.png' -o -name '*.pdf' -o -name '*.vtp' \) | sort

#!/usr/bin/env bash
# Rebuild docs/img/plot_compare_*.png (docs/plotting.md, "Several 1D surfaces in one figure"):
# the quickstart's trained network along three filter-normalized random directions (seeds 1-3),
# each a 1D sweep of 31 points on [-1, 1] over 2,000 training and test images, drawn together.
# Usage: docs/img/make_compare_pictures.sh BUILD/losscape QUICKSTART_RUN   (e.g. runs/quickstart)
set -euo pipefail
losscape=$(realpath "$1")
run=$(realpath "$2")
img=$(dirname "$(realpath "$0")")
model=$(ls "$run"/train/model_*.h5 | sort -t_ -k2 -n | tail -1)
work=$(mktemp -d)
flags=(--oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && flags+=(--allow-run-as-root)
for seed in 1 2 3; do
  "$losscape" directions --model-file "$model" --dataset fashion-mnist --dims 1 --seed "$seed" \
    --out "$work/dirs_$seed.h5"
  mpirun "${flags[@]}" -n 2 "$losscape" sweep --model-file "$model" --directions "$work/dirs_$seed.h5" \
    --x=-1:1:31 --dataset fashion-mnist --splits train,test --samples 2000 --quiet \
    --out "$work/direction_$seed.h5"
done
"$losscape" plot "$work"/direction_{1,2,3}.h5 --labels "seed 1,seed 2,seed 3" --what train_loss \
  --formats png --size 640x480 --name plot_compare --out-dir "$img"
rm -f "$img"/plot_compare_*.gp "$img"/plot_compare_*.dat
rm -rf "$work"

#!/usr/bin/env bash
# The README's first command, jobs/quickstart.sh, end to end at small sizes (10 epochs on 1,000
# images, 5x5 grids, 200 samples per sweep) with the built program: every stage runs, every
# surface is complete, the pictures, the ParaView file and the projection are made.
# Environment (set by CTest): LOSSCAPE, LOSSCAPE_SOURCE_DIR, TEST_WORK_DIR.
set -u
: "${LOSSCAPE:?set LOSSCAPE to the losscape binary}"
: "${LOSSCAPE_SOURCE_DIR:?set LOSSCAPE_SOURCE_DIR to the repository}"
WORK=${TEST_WORK_DIR:-$(mktemp -d)}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "needs Debian's dataset-fashion-mnist"; exit 77; }

failures=0
check() {  # check WHAT COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}

out=$WORK/quick_start  # (an underscore: the final model is found by its own name)
QUICK_LOSSCAPE=$LOSSCAPE QUICK_OUT=$out QUICK_EPOCHS=10 QUICK_SAMPLES=1000 QUICK_GRID=5 \
  QUICK_SWEEP_SAMPLES=200 bash "$LOSSCAPE_SOURCE_DIR/jobs/quickstart.sh" >log.txt 2>&1
rc=$?
check "jobs/quickstart.sh exits 0 (exit $rc; log: $WORK/log.txt)" test "$rc" == 0
[[ $rc == 0 ]] || tail -30 log.txt
check "it uses the given program, configures and builds nothing" \
  bash -c "! grep -qE '^-- Configuring|Building CXX|Linking CXX' log.txt"
for s in surface2d surface1d surface_pca; do
  state=$("$LOSSCAPE" info "$out/$s.h5" 2>&1 | grep -E '^done ')
  check "$s.h5 is complete ($state)" bash -c "grep -qE '^done +([0-9]+) of \\1 points' <<<'$state'"
done
check "a 5x5 2D surface: 25 points" bash -c "\"$LOSSCAPE\" info '$out/surface2d.h5' | grep -qE '^done +25 of 25 points'"
check "the 1D curve: 51 points" bash -c "\"$LOSSCAPE\" info '$out/surface1d.h5' | grep -qE '^done +51 of 51 points'"
n_png=$(find "$out/plots" -name '*.png' | wc -l)
n_pdf=$(find "$out/plots" -name '*.pdf' | wc -l)
check "pictures made: $n_png PNG and $n_pdf PDF (at least 10 of each)" test "$n_png" -ge 10 -a "$n_pdf" -ge 10
check "the trajectory over its PCA plane is drawn" bash -c "ls '$out'/plots/pca/*.png >/dev/null 2>&1"
check "the ParaView file is VTK XML PolyData" grep -q '<VTKFile type="PolyData"' "$out/plots/surface2d_train_loss.vtp"
epochs=$("$LOSSCAPE" info "$out/proj.h5" --json | grep -oE '"epoch": ?[0-9-]+' | grep -oE '[0-9-]+$' | tr '\n' ' ')
check "the projection covers the run's 11 checkpoints, epochs 0 to 10 ($epochs)" test "$epochs" == "0 1 2 3 4 5 6 7 8 9 10 "
# (model_10.h5, not model_9.h5: `sort -t_ -k2 -n` split at the folder's underscore)
check "the final model, model_10.h5, is the one evaluated, swept and projected around" \
  bash -c "grep -q '^model .*quick_start/train/model_10.h5' log.txt && ! grep -q 'model_9.h5\"' log.txt"
check "no temporary left behind" bash -c "! find '$out' -name '*.writing' -o -name '*.creating' -o -name '*.lock' | grep -q ."
stages=$(grep '^==== ' log.txt | awk '{print $2}' | tr '\n' ' ')
check "the stages are printed in order ($stages)" test "$stages" == "the 1. 2. 3a. 3b. 4. 5. done "

if ((failures > 0)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"

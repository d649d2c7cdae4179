#!/usr/bin/env bash
# The losscape program's surface: --version, --help of every subcommand, and one-line errors that
# name the offending file for the mistakes users make first.
# Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR.
set -u
: "${LOSSCAPE:?set LOSSCAPE to the losscape binary}"
WORK=${TEST_WORK_DIR:-$(mktemp -d)}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1

failures=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# expect_error TAG EXIT_CODE NEEDLE... -- ARGS...: runs losscape ARGS, which must exit with
# EXIT_CODE and print exactly one line on stderr, beginning "losscape: error:" and containing every
# NEEDLE (errors, code 1, and usage errors, code 2, alike).
expect_error() {
  local tag=$1 code=$2
  shift 2
  local needles=()
  while [[ $1 != -- ]]; do needles+=("$1"); shift; done
  shift
  "$LOSSCAPE" "$@" >out.txt 2>err.txt
  local rc=$? lines
  lines=$(grep -c '' err.txt)
  [[ $rc == "$code" ]] && pass "$tag: exit code $code" || fail "$tag: exit code $rc, expected $code"
  [[ $lines == 1 ]] && pass "$tag: one line on stderr" ||
    fail "$tag: $lines lines on stderr: $(cat err.txt)"
  grep -q '^losscape: error: ' err.txt && pass "$tag: begins 'losscape: error:'" ||
    fail "$tag: does not begin 'losscape: error:': $(cat err.txt)"
  for n in "${needles[@]}"; do
    grep -qF -- "$n" err.txt && pass "$tag: mentions '$n'" || fail "$tag: does not mention '$n': $(cat err.txt)"
  done
}

# ---- --version and --help ----
version=$("$LOSSCAPE" --version)
rc=$?
[[ $rc == 0 && $version =~ ^losscape\ [0-9]+\.[0-9]+\.[0-9]+ ]] && pass "--version: $version" ||
  fail "--version: rc $rc, output '$version'"
# The source revision it names is git's own description of the tree it was built from (the
# test runs after the build, on the same tree), or "unknown" outside a git checkout.
want=unknown
if [[ -n ${LOSSCAPE_SOURCE_DIR:-} ]] && command -v git >/dev/null &&
   git -C "$LOSSCAPE_SOURCE_DIR" rev-parse --git-dir >/dev/null 2>&1; then
  want=$(git -C "$LOSSCAPE_SOURCE_DIR" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
fi
[[ $version == *"(revision $want)" ]] && pass "--version names the source revision $want" ||
  fail "--version: '$version', expected the revision $want"
"$LOSSCAPE" --help >help.txt 2>&1 && pass "--help exits 0" || fail "--help exits non-zero"

# Every subcommand the top-level help lists (so subcommands added later are covered too).
subcommands=$(awk 'tolower($0) ~ /^subcommands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}' help.txt)
[[ -n $subcommands ]] && pass "--help lists subcommands: $(echo $subcommands)" ||
  fail "--help lists no subcommands"
for s in info eval; do
  grep -qx "$s" <<<"$subcommands" && pass "subcommand $s exists" || fail "subcommand $s missing"
done
for s in $subcommands; do
  if "$LOSSCAPE" "$s" --help >sub.txt 2>&1 && grep -q -- "--help" sub.txt; then
    pass "$s --help exits 0"
  else
    fail "$s --help: $(head -3 sub.txt)"
  fi
  # Exit 75 is listed by the commands that return it (a signal's stop, a merge's missing points)
  # and by no other (plot's help listed it, which no plot returns).
  case $s in sweep | train | hessian | merge) want=yes ;; *) want=no ;; esac
  grep -q "75 incomplete" sub.txt && has=yes || has=no
  [[ $has == "$want" ]] && pass "$s --help: exit 75 listed: $has" ||
    fail "$s --help: exit 75 listed: $has, expected $want: $(grep -i 'exit codes' sub.txt)"
done

# --dims: directions make 2 by default; a sweep takes the grid's count (no default to show)
"$LOSSCAPE" directions --help | grep -q -- "--dims INT=2 " && pass "directions --help: --dims INT=2" ||
  fail "directions --help: $(grep -- --dims <("$LOSSCAPE" directions --help))"
"$LOSSCAPE" sweep --help | grep -q -- "--dims INT  *1 or 2 directions: the grid's" &&
  pass "sweep --help: --dims without a default, the grid's" ||
  fail "sweep --help: $(grep -- --dims <("$LOSSCAPE" sweep --help))"

expect_error "--version with more" 2 "--version takes nothing else (not expected: extra)" -- --version extra
expect_error "no subcommand" 2 -- 
expect_error "unknown option" 2 "--no-such-flag" "losscape eval --help" -- eval --no-such-flag
expect_error "unexpected arguments, in the order given" 2 "not expected: --bogus 2" -- \
  sweep --init-seed 1 --bogus 2
expect_error "missing option value" 2 "--split" -- eval --split
# A Latin-1 file name: refused before anything runs (a sweep's JSON settings threw nlohmann's
# "invalid UTF-8 byte" naming no file, and 2 ranks ended in MPI_Abort)
expect_error "an argument that is not UTF-8" 1 "'caf\\xe9.h5': not UTF-8" "rename the file" -- \
  sweep --arch cnn_small --dataset fashion-mnist --x -1:1:3 --out "$(printf 'caf\xe9.h5')"
# The command line's shape is usage (2): an option given twice, a required one missing (CLI11's
# or the command's own check); a value the option refuses is bad input (1), in losscape's words.
expect_error "an option given twice" 2 "--samples is given more than once" -- eval -n 100 -n 200
expect_error "no model" 2 "no model: give --model-file" -- eval
expect_error "sweep without a model" 2 "sweep: no model" -- sweep --x -1:1:3
# (also when --out names a file directions would refuse to replace: that check came first, exit 1)
echo "not a direction file" >not-dirs.h5
expect_error "directions without a model, --out another kind of file" 2 "no model: give --model-file" -- \
  directions --out not-dirs.h5
expect_error "train without --arch" 2 "no architecture given" -- train --samples 200 --epochs 1 --out t
expect_error "a number that is none" 1 "--samples: 'abc' is not a number" -- eval -n abc
expect_error "a number out of range" 1 "--grid: '1' is not a number in 2..31622" -- \
  project --grid 1 -c x --directions y
expect_error "--precision tf32 on a CPU" 1 "--precision tf32 needs a GPU" -- \
  eval --arch cnn_small --dataset fashion-mnist -n 10 --device cpu --precision tf32
expect_error "a choice not listed" 1 "--method: 'foo' is not one of auto, cos, lstsq" -- \
  project --method foo -c x --directions y
expect_error "unknown command" 2 "'sweep-1d' is not a losscape command" -- sweep-1d --x -1:1:3
expect_error "unknown command before --help" 2 "sweep-1d" -- sweep-1d --help
expect_error "an option before any command" 2 "--bogus" "a command comes first" -- --bogus
expect_error "info --values without --json" 2 "--json" -- info --values s.h5

# ---- one-line errors naming the file ----
expect_error "missing model file" 1 "$WORK/nope.pt" -- eval --model-file "$WORK/nope.pt" \
  --dataset cifar10 --data-dir "$WORK"
expect_error "unknown architecture" 1 "resnet18" "resnet20" -- info --arch resnet18
expect_error "unknown architecture (eval)" 1 "resnet18" -- eval --arch resnet18 \
  --dataset fashion-mnist --data-dir "$WORK"
expect_error "missing data directory" 1 "$WORK/no-data" -- eval --arch cnn_small \
  --dataset cifar10 --data-dir "$WORK/no-data"
mkdir -p empty
expect_error "data directory without files" 1 "$WORK/empty/test_batch.bin" -- eval \
  --arch cnn_small --dataset cifar10 --data-dir "$WORK/empty"
expect_error "unknown data set" 1 "imagenet" -- eval --arch cnn_small --dataset imagenet
printf 'x' >a-file
expect_error "data directory that is a file" 1 "$WORK/a-file: is a file, not the data directory" -- \
  eval --arch cnn_small --dataset cifar10 --data-dir "$WORK/a-file"
expect_error "unknown loss" 1 "hinge" -- eval --arch cnn_small --dataset fashion-mnist \
  --data-dir "$WORK/empty" --loss hinge
printf 'not a model' >junk.pt
expect_error "not a model file" 1 "$WORK/junk.pt" -- info "$WORK/junk.pt"
# info reads more than models: a file of none of its kinds is not called "not a model file"
expect_error "info of a file of no kind it reads" 1 \
  "$WORK/junk.pt: not a file info describes (a surface, direction or projection file, or a model" -- info "$WORK/junk.pt"
expect_error "info without a subject" 2 "--arch" -- info
# a FILE with --dataset or --list-archs: one of them would be described, the other dropped
expect_error "info FILE --dataset" 1 "give $WORK/junk.pt or --dataset fashion-mnist, not both" "--input" -- \
  info "$WORK/junk.pt" --dataset fashion-mnist
expect_error "info FILE --list-archs" 1 "--list-archs lists the zoo; give it without $WORK/junk.pt" -- \
  info "$WORK/junk.pt" --list-archs
expect_error "hessian --json in no folder" 1 "--json $WORK/nowhere/h.json: no such folder $WORK/nowhere" -- \
  hessian --arch cnn_small --json "$WORK/nowhere/h.json"
# an output in a folder that does not exist is named as such (was: cannot create its lock file)
# a subset seed without a subset would change nothing, yet count as another setting on a resume
for cmd in "eval --arch cnn_small" "sweep --arch cnn_small --x -1:1:3 --out $WORK/ss.h5" \
    "train --arch cnn_small --out $WORK/ss_run" "hessian --arch cnn_small"; do
  expect_error "${cmd%% *} --subset-seed without --samples" 1 \
    "--subset-seed 5 picks which samples a subset (--samples N) takes: with all the data it changes nothing" -- \
    $cmd --subset-seed 5
done
[[ -e $WORK/ss.h5 || -e $WORK/ss_run ]] && fail "a refused --subset-seed left a file" || pass "a refused --subset-seed left no file"
# empty values (an unset shell variable) are not a choice, in any option: not a 1D sweep, not
# "none", not the whole grid in every task of a fan-out (--part), not a random direction where an
# interpolation was meant (--x-target), not "no JSON" (hessian --json)
empty="an empty value (an unset shell variable?): give one, or leave the option out for its default"
expect_error "sweep --y ''" 1 "--y '': $empty" -- \
  sweep --arch cnn_small --x -1:1:3 --y "" --out "$WORK/y_empty.h5" --dry-run
expect_error "directions --x-ignore ''" 1 "--x-ignore '': $empty" -- \
  directions --arch cnn_small --x-ignore "" --out "$WORK/ign_empty.h5"
expect_error "sweep --part ''" 1 "--part '': $empty" -- \
  sweep --arch cnn_small --x -1:1:3 --part "" --out "$WORK/part_empty.h5" --dry-run
expect_error "directions --x-target ''" 1 "--x-target '': $empty" -- \
  directions --arch cnn_small --x-target "" --out "$WORK/xt_empty.h5"
expect_error "hessian --json ''" 1 "--json '': $empty" -- hessian --arch cnn_small --json ""
expect_error "info ''" 1 "an empty file argument (an unset shell variable?)" -- info ""
[[ -e $WORK/part_empty.h5 || -e $WORK/xt_empty.h5 ]] && fail "a refused empty value left a file" ||
  pass "a refused empty value left no file"
# whole numbers are decimal: a leading zero (a script's printf %03d) is no octal prefix (--samples
# 010 was 8 samples, 0x10 16, --subset-seed 08 refused as no number)
for v in 0x10 1e2 12x 0b1 +; do
  expect_error "eval --samples $v" 1 "--samples: '$v' is not a number (a whole number in decimal digits" -- \
    eval --arch cnn_small --samples "$v"
done
ev() { "$LOSSCAPE" eval --arch cnn_small -b 10 --memory-format nchw --json "$@" 2>&1 | grep -v '"seconds"'; }
a=$(ev --samples 010 --subset-seed 08) b=$(ev --samples 10 --subset-seed 8) c=$(ev --samples 10 --subset-seed 0)
[[ $a == *'"samples": 10'* && $a == "$b" && $a != "$c" ]] &&
  pass "--samples 010 --subset-seed 08 is --samples 10 --subset-seed 8" ||
  fail "--samples 010 --subset-seed 08 is not 10 and 8: $a / $b / $c"
# integers past 64 bits (CLI11 made them 9223372036854775807)
expect_error "eval --samples 2^66" 1 "--samples 99999999999999999999: out of the range of a 64-bit integer" -- \
  eval --arch cnn_small --samples 99999999999999999999
expect_error "train --epochs 2^66" 1 "--epochs 99999999999999999999: out of the range of a 64-bit integer" -- \
  train --arch cnn_small --epochs 99999999999999999999 --out "$WORK/ep_run" --dry-run
# a run folder name whose lock's takeover mutex (NAME.lock.takeover) would not fit in 255
# characters: refused before anything is made (a stale lock of it could never be taken over)
long_run=$(printf 'r%.0s' {1..245})
expect_error "train --out of a 245-character name" 1 "a run folder name of 245 characters; at most 241" -- \
  train --arch cnn_small --samples 20 --epochs 1 --out "$WORK/$long_run"
[[ ! -e "$WORK/$long_run" && ! -e "$WORK/$long_run.lock" ]] && pass "... nothing made" ||
  fail "... the long-named run folder or its lock was made"
# ... and by a dry run (it printed "would be started"; past 255 a raw "File name too long")
expect_error "train --dry-run --out of a 245-character name" 1 "a run folder name of 245 characters; at most 241" -- \
  train --arch cnn_small --samples 20 --epochs 1 --out "$WORK/$long_run" --dry-run
expect_error "train --dry-run --out of a 300-character name" 1 "a run folder name of 300 characters; at most 241" -- \
  train --arch cnn_small --samples 20 --epochs 1 --out "$WORK/$(printf 'r%.0s' {1..300})" --dry-run
# a flag given twice is taken (the job scripts add --quiet or --dry-run to the user's flags)
"$LOSSCAPE" info --arch cnn_small --json --json >out.txt 2>err.txt && [[ ! -s err.txt ]] &&
  pass "a flag given twice is taken" || fail "a flag given twice: $(cat err.txt)"
expect_error "info of a file that is not there" 1 "$WORK/nothing.h5: no such file" -- info "$WORK/nothing.h5"
expect_error "sweep --out in no folder" 1 "$WORK/nowhere/s.h5: no such folder $WORK/nowhere" -- \
  sweep --arch cnn_small --x -1:1:3 --out "$WORK/nowhere/s.h5"
# a file where a folder should be is named as such (was: "no such folder a-file")
expect_error "sweep --out under a file" 1 "$WORK/a-file/s.h5: $WORK/a-file is not a folder" -- \
  sweep --arch cnn_small --x -1:1:3 --out "$WORK/a-file/s.h5"
expect_error "directions --out under a file" 1 "$WORK/a-file/d/d.h5: $WORK/a-file is not a folder" -- \
  directions --arch cnn_small --out "$WORK/a-file/d/d.h5"
ln -sfn loop.h5 "$WORK/loop.h5"
expect_error "sweep --out a loop of links" 1 "$WORK/loop.h5: cannot look at it (Too many levels of symbolic links)" -- \
  sweep --arch cnn_small --x -1:1:3 --out "$WORK/loop.h5"
expect_error "directions --out ''" 1 "--out '': $empty" -- \
  directions --arch cnn_small --out ""
expect_error "export --vtp ''" 1 "--vtp '': $empty" -- \
  export "$WORK/junk.pt" --vtp ""

# ---- sweep: options that would be ignored are refused before anything is made ----
expect_error "direction option with --directions FILE" 1 "--seed" "given.h5" -- sweep \
  --arch cnn_small --directions given.h5 --seed 3 --out s.h5
expect_error "a y option on a 1D grid" 1 "--y-norm" "--y MIN:MAX:NUM" -- sweep --arch cnn_small \
  --x -1:1:3 --y-norm layer --out s.h5
expect_error "--dims against the grid" 1 "--dims 2" "1D" -- sweep --arch cnn_small --x -1:1:3 \
  --dims 2 --out s.h5
expect_error "--y-target on a 1D grid" 1 "--y-target" "2D grid" -- sweep --arch cnn_small \
  --x -1:1:3 --y-target other.h5 --out s.h5
expect_error "a split given twice" 1 "--splits" "'train' is given twice" -- sweep \
  --arch cnn_small --x -1:1:3 --splits train,test,train --out s.h5
expect_error "an empty split name (a comma too many)" 1 "--splits" "empty name" -- sweep \
  --arch cnn_small --x -1:1:3 --splits train, --out s.h5
expect_error "an unknown precision, before anything is made" 1 "fp64" -- sweep --arch cnn_small \
  --x -1:1:3 --precision fp64 --out s.h5
expect_error "--flush-seconds nan" 1 "--flush-seconds" -- sweep --arch cnn_small --x -1:1:3 \
  --flush-seconds nan --out s.h5
expect_error "--progress-seconds -1" 1 "--progress-seconds" -- sweep --arch cnn_small --x -1:1:3 \
  --progress-seconds -1 --out s.h5
[[ ! -e s.h5 && ! -e s.dirs.h5 ]] && pass "no surface or direction file was made" ||
  fail "files were made: $(ls s.* 2>&1)"
echo '{"arch": "cnn_small", "dir": {"x": {"nrom": "layer"}}}' >typo.json
expect_error "sweep config: unknown key inside dir" 1 "$WORK/typo.json" "dir.x.nrom" -- sweep \
  --config "$WORK/typo.json"
echo '{"arch": "cnn_small", "x": "-1:1:3", "dir": {"x": {"norm": "layer"}}, "x": "-1:1:5"}' >twice.json
expect_error "sweep config: a key given twice" 1 "$WORK/twice.json" 'key "x" is given twice' -- sweep \
  --config "$WORK/twice.json" --out s.h5
echo '{"arch": "cnn_small", "dir": {"x": {"ignore": true}}}' >ignore.json
expect_error "sweep config: dir.x.ignore not biasbn/none" 1 "$WORK/ignore.json" "dir.x.ignore" -- \
  sweep --config "$WORK/ignore.json"

# Values of the wrong type are named, not converted; a folder or text after the JSON is refused.
echo '{"arch": "cnn_small", "x": "-1:1:3", "samples": 1.5}' >frac.json
expect_error "sweep config: a fraction for an integer" 1 "$WORK/frac.json" "'samples'" "1.5" -- \
  sweep --config "$WORK/frac.json"
echo '{"arch": "cnn_small", "x": "-1:1:3", "dir": {"seed": -1}}' >seed.json
expect_error "sweep config: a negative seed" 1 "$WORK/seed.json" "'dir.seed'" -- sweep --config \
  "$WORK/seed.json"
# Seeds are integers in 0..2^64-1 (CLI11 clamped 2^64 and above to 2^64-1: the same numbers).
for seed in 18446744073709551616 99999999999999999999999 -1 abc 1.5; do
  expect_error "--subset-seed $seed" 1 "--subset-seed" "'$seed' is not a seed: an integer in 0..18446744073709551615" -- \
    eval --arch cnn_small --subset-seed "$seed"
done
"$LOSSCAPE" directions --arch cnn_small --dataset fashion-mnist --init-seed 18446744073709551615 \
  --out seed.h5 --quiet >/dev/null 2>err.txt &&
  pass "--init-seed 2^64-1 is a seed" || fail "--init-seed 2^64-1 refused: $(cat err.txt)"
# A model file has its own weights: a seed of a fresh network's beside it would be ignored.
for cmd in sweep directions hessian; do
  expect_error "$cmd --init-seed with --model-file" 2 "--model-file and --init-seed do not go together" -- \
    $cmd --model-file seed.h5 --init-seed 3
done
expect_error "info --model-file without a direction file" 2 "losscape info MODEL" -- \
  info --model-file given.h5
echo '{"arch": "cnn_small", "x": 3}' >xint.json
expect_error "sweep config: a number for the grid" 1 "$WORK/xint.json" "'x'" "a string" -- sweep \
  --config "$WORK/xint.json"
echo '{"arch": "cnn_small", "x": "-1:1:3"} trailing' >trail.json
expect_error "sweep config: text after the JSON" 1 "$WORK/trail.json" "not valid JSON (parse error at line" -- sweep \
  --config "$WORK/trail.json"
grep -q "json.exception" err.txt && fail "the JSON library's exception name is shown: $(cat err.txt)" ||
  pass "the JSON library's exception name is not shown"
echo 'null' >null.json
expect_error "sweep config: null, not an object" 1 "$WORK/null.json" "JSON object" -- sweep \
  --config "$WORK/null.json"
echo '[1, 2]' >array.json
expect_error "sweep config: an array, not an object" 1 "$WORK/array.json" "not an array" -- sweep \
  --config "$WORK/array.json"
mkdir -p cfgdir
expect_error "sweep config: a folder" 1 "cfgdir" "folder" -- sweep --config cfgdir
expect_error "--threads beyond any node" 1 "--threads 2000000000" -- eval --arch cnn_small \
  --threads 2000000000

# ---- directions and info: options that would be ignored are refused ----
expect_error "directions --dims 1 with a y option" 1 "--same-dir" "--dims 1" -- directions \
  --arch cnn_small --dims 1 --same-dir --out d1.h5
expect_error "directions --dims 1 with --y-target (made 2 directions)" 1 "--y-target" "--dims 1" \
  -- directions --arch cnn_small --dims 1 --y-target other.h5 --out d1.h5
expect_error "directions --pca with a random direction's option" 1 "--x-norm" "--pca" -- \
  directions --pca --checkpoints run --x-norm layer --out d1.h5
expect_error "directions --pca with --model-file" 1 "--model-file" "--pca" -- directions --pca \
  --checkpoints run --model-file m.h5 --out d1.h5
expect_error "directions --ignore without --pca" 1 "--ignore" "--x-ignore" -- directions \
  --arch cnn_small --ignore none --out d1.h5
[[ ! -e d1.h5 ]] && pass "no direction file was made" || fail "a direction file was made"
"$LOSSCAPE" directions --arch cnn_small --dims 1 --out dirs.h5 --quiet
expect_error "info: --input for a direction file without --model-file" 1 "--input" "dirs.h5" -- \
  info dirs.h5 --input cifar10
expect_error "info: --model-file beside --dataset" 1 "--model-file" "--dataset fashion-mnist" -- \
  info --dataset fashion-mnist --model-file dirs.h5
expect_error "info: --data-dir without --dataset" 1 "--data-dir" "--arch cnn_small" -- info \
  --arch cnn_small --data-dir data

# ---- train: a config file's typo is not trained with a default ----
echo '{"arch": "cnn_small", "weight_decy": 0.1}' >train.json
expect_error "train config: unknown key" 1 "$WORK/train.json" "weight_decy" -- train \
  --config "$WORK/train.json" --out run
echo '{"arch": "cnn_small", "epochs": "ten"}' >train2.json
expect_error "train config: wrong type" 1 "$WORK/train2.json" -- train --config "$WORK/train2.json" \
  --out run
echo '{"arch": "cnn_small", "epochs": 1.5}' >train2.json
expect_error "train config: a fraction for an integer, named" 1 "$WORK/train2.json" "'epochs'" \
  "1.5" -- train --config "$WORK/train2.json" --out run
expect_error "train without a run folder" 2 "--out" -- train --arch cnn_small
expect_error "directions --pca without checkpoints (what it cannot run without)" 2 \
  "--pca needs --checkpoints" -- directions --pca --out pca.h5
[[ ! -e run ]] && pass "no run folder was made" || fail "a run folder was made"

# A part file that cannot be looked at (a link loop: ELOOP, which root meets too; EACCES would be
# the same path) is named with the reason, not as a C++ "filesystem error".
ln -s loop loop
expect_error "merge: a part behind a link loop" 1 "loop/p.h5: cannot be looked at" \
  "symbolic links" -- merge loop/p.h5 --out m.h5
[[ ! -e m.h5 ]] && pass "merge: no output made" || fail "merge: m.h5 was made"

# A file this user cannot read: said so (info took it for a model, "no such model file or not
# readable"). Root reads everything: as root the command runs as nobody (where nobody can reach
# the program; else this case is left out, said).
printf 'x' >secret.h5 && chmod 600 secret.h5
mkdir -p locked && printf 'x' >locked/m.h5 && chmod 700 locked  # (a folder it cannot search)
# (plot and export called it "not an HDF5 file")
for cmd in "info secret.h5" "eval --model-file secret.h5" "info locked/m.h5" "eval --model-file locked/m.h5" \
  "plot secret.h5" "export --vtp x.vtp secret.h5" "plot locked/m.h5" "export --vtp x.vtp locked/m.h5"; do
  file=${cmd##* }
  if [[ $(id -u) != 0 ]]; then
    chmod 000 secret.h5 locked
    # shellcheck disable=SC2086
    "$LOSSCAPE" $cmd >out.txt 2>err.txt
    chmod 700 locked
  elif setpriv --reuid 65534 --regid 65534 --clear-groups -- "$LOSSCAPE" --version >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    setpriv --reuid 65534 --regid 65534 --clear-groups -- "$LOSSCAPE" $cmd >out.txt 2>err.txt
  else
    echo "note: nobody cannot run $LOSSCAPE here: the unreadable-file cases are left out"
    break
  fi
  [[ $(cat err.txt) == "losscape: error: $file: cannot be read (Permission denied)" ]] &&
    pass "$cmd of an unreadable file: said so" || fail "$cmd of an unreadable file: $(cat err.txt)"
done
# An existing output that cannot be read is not replaced, for that reason (it was "exists and is
# not a direction file", also for a valid one).
if [[ $(id -u) != 0 ]]; then
  chmod 000 secret.h5
  "$LOSSCAPE" directions --arch cnn_small --out secret.h5 >out.txt 2>err.txt
  ran=1
elif setpriv --reuid 65534 --regid 65534 --clear-groups -- "$LOSSCAPE" --version >/dev/null 2>&1; then
  setpriv --reuid 65534 --regid 65534 --clear-groups -- "$LOSSCAPE" directions --arch cnn_small \
    --out secret.h5 >out.txt 2>err.txt
  ran=1
else
  ran=0
fi
chmod 600 secret.h5
if ((ran)); then
  [[ $(cat err.txt) == "losscape: error: secret.h5: exists and cannot be read (Permission denied), so it is not \
known to be a direction file; not replaced (remove it, or choose another output name)" && $(cat secret.h5) == x ]] &&
    pass "an unreadable existing output: not replaced, said why" || fail "an unreadable existing output: $(cat err.txt)"
fi

# ---- --name= with nothing after '=' (an unset variable in --out=$OUT): CLI11 took the next
# argument as the value (a file named --quiet; a whole sweep into one named --dry-run) ----
mkdir -p eq && cd eq
expect_error "directions --out= --quiet" 1 "--out=: an empty value" -- directions --arch cnn_small \
  --out= --quiet
expect_error "sweep --out= --dry-run" 1 "--out=: an empty value" -- sweep --arch cnn_small --x -1:1:3 \
  --out= --dry-run
expect_error "train --milestones= (the next argument would be taken)" 1 "--milestones=" \
  "--milestones ''" -- train --arch cnn_small --milestones= --out run --dry-run
# -o=d.h5: a short option's value is joined or after a space, so '=d.h5' was the file's name
expect_error "directions -o=d.h5" 1 "-o=d.h5: a short option's value" "(-o d.h5)" -- directions \
  --arch cnn_small -o=d.h5
[[ -z $(ls -A | grep -vx "out.txt\|err.txt") ]] && pass "--name=: nothing made" || fail "--name=: files were made: $(ls -A)"
# ...but an argument that is the value of the option before it is that option's to read
"$LOSSCAPE" directions --arch cnn_small --out --x= --quiet >out.txt 2>err.txt && [[ -f --x= ]] &&
  pass "--out --x=: a file named --x= written" || fail "--out --x=: $(cat err.txt)"
cd ..
expect_error "an unknown --name= is still named as unknown" 2 "--bogus" -- sweep --bogus= --arch cnn_small
# a positional argument missing is named as such (CLI11 said 'parts is required')
expect_error "merge without parts" 2 "no parts given" -- merge --out m.h5
# a config key with a NUL is shown whole (the line ended at the NUL)
printf '{"x": "-1:1:3", "k\\u0000ey": 1}' >nulkey.json
expect_error "sweep config: a key with a NUL" 1 "$WORK/nulkey.json" 'unknown key "k\\u0000ey"' -- sweep \
  --config "$WORK/nulkey.json" --arch cnn_small --dry-run
# --init-seed as a flag beside a config's model file: named as the flag, the model by the file
"$LOSSCAPE" directions --arch cnn_small --out isd.h5 --quiet
echo "{\"model_file\": \"$WORK/isd.h5\"}" >mf.json
expect_error "sweep: --init-seed flag with a config's model_file" 1 "--init-seed 5 is for a fresh zoo" \
  "(${WORK}/mf.json: model_file)" -- sweep --config "$WORK/mf.json" --init-seed 5 --x -1:1:3 --out s.h5 --dry-run
# info of a zoo architecture says what it describes (it said "zoo (zoo)")
"$LOSSCAPE" info --arch cnn_small >out.txt 2>err.txt
[[ $(head -1 out.txt) == "model        zoo, a fresh network (initialized as --init-seed 0 does)" ]] &&
  pass "info --arch: a fresh network, as --init-seed 0 makes it" || fail "info --arch: $(head -1 out.txt)"
# a normalization of another spelling: named by its option or config key, as --x-ignore is
expect_error "directions --x-norm Filter" 1 "--x-norm: unknown normalization 'Filter'" -- directions \
  --arch cnn_small --x-norm Filter --out xn.h5
echo '{"dir": {"y": {"norm": "Layer"}}, "arch": "cnn_small", "x": "-1:1:3", "y": "-1:1:3"}' >xn.json
expect_error "sweep config dir.y.norm Layer" 1 "$WORK/xn.json: dir.y.norm: unknown normalization 'Layer'" -- \
  sweep --config "$WORK/xn.json" --out xn.h5 --dry-run
# project --grid N: N x N within the sweep's 10^9 points
expect_error "project --grid 31623" 1 "--grid: '31623' is not a number in 2..31622" -- project \
  --directions d.h5 --checkpoints run --grid 31623

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"

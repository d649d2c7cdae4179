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
# EXIT_CODE and print a message on stderr containing every NEEDLE: exactly one line for errors
# (code 1); usage errors (code 2) may add CLI11's "Run with --help" hint.
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
  if [[ $code == 1 ]]; then
    [[ $lines == 1 ]] && pass "$tag: one line on stderr" ||
      fail "$tag: $lines lines on stderr: $(cat err.txt)"
  else
    [[ $lines -ge 1 ]] && pass "$tag: a message on stderr" || fail "$tag: nothing on stderr"
  fi
  for n in "${needles[@]}"; do
    grep -qF -- "$n" err.txt && pass "$tag: mentions '$n'" || fail "$tag: does not mention '$n': $(cat err.txt)"
  done
}

# ---- --version and --help ----
version=$("$LOSSCAPE" --version)
rc=$?
[[ $rc == 0 && $version =~ ^losscape\ [0-9]+\.[0-9]+\.[0-9]+ ]] && pass "--version: $version" ||
  fail "--version: rc $rc, output '$version'"
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
done

expect_error "no subcommand" 2 -- 
expect_error "unknown option" 2 "--no-such-flag" -- eval --no-such-flag

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
expect_error "unknown loss" 1 "hinge" -- eval --arch cnn_small --dataset fashion-mnist \
  --data-dir "$WORK/empty" --loss hinge
printf 'not a model' >junk.pt
expect_error "not a model file" 1 "$WORK/junk.pt" -- info "$WORK/junk.pt"
expect_error "info without a subject" 1 "--arch" -- info

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"

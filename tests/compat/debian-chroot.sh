#!/usr/bin/env bash
# Build losscape and run its whole test suite on another Debian release, in a chroot made with
# debootstrap: the check behind docs/building.md's "Other Debian releases and LibTorch 2.x".
# Not part of CTest (it downloads a Debian system and ~2 GB of packages, and builds from scratch).
#
#   tests/compat/debian-chroot.sh SUITE [DIR]      e.g. trixie, sid; DIR default /srv/losscape-SUITE
#
# Needs root, debootstrap and Debian's archive. The chroot is kept (a second run reuses it and
# rebuilds only what changed); the repository (without .git and build folders) is copied to
# DIR/src/losscape, and tests/run.sh runs there: it installs cmake/debian-packages.txt from SUITE,
# builds, and runs CTest. Output: the suite's, and DIR/src/losscape/build/Testing/.
set -euo pipefail
suite=${1:?usage: tests/compat/debian-chroot.sh SUITE [DIR]}
dir=${2:-/srv/losscape-$suite}
root=$(cd "$(dirname "$0")/../.." && pwd)
[[ $(id -u) == 0 ]] || { echo "debian-chroot.sh: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y debootstrap
command -v rsync >/dev/null || apt-get install -y rsync

if [[ ! -x $dir/bin/bash ]]; then
  debootstrap --variant=minbase "$suite" "$dir" http://deb.debian.org/debian
fi
# A mirror's Release file of a development suite can be past its Valid-Until for a while.
echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99losscape-compat"
cp /etc/resolv.conf /etc/hosts "$dir/etc/"

mounted=()
cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do
  mountpoint -q "$dir/$m" && continue
  mount --rbind "/$m" "$dir/$m"  # rbind: /sys/fs/cgroup for the Slurm test
  mounted+=("$dir/$m")
done

mkdir -p "$dir/src/losscape"
rsync -a --delete --exclude '/build*' --exclude /runs --exclude /.git --exclude /bench/gpu/debs \
  "$root/" "$dir/src/losscape/"
chroot "$dir" bash -c 'cd /src/losscape && . /etc/os-release && echo "== $PRETTY_NAME" &&
  bash tests/run.sh'

# Sourced by tests/run.sh and jobs/*.sh: make sure the Debian packages of
# cmake/debian-packages.txt are installed, installing the missing ones with apt-get (as root).
# `apt-get update` runs only when something is missing, so a ready machine is left alone.

losscape_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The package names, one per line, comments and blank lines dropped; `losscape_packages run`:
# those before the "# @tests-only" line (what building and running need, not the test suite).
losscape_packages() {
  local cut=()
  [[ ${1:-all} == run ]] && cut=(-e '/^# @tests-only/,$d')
  sed "${cut[@]}" -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$losscape_root/cmake/debian-packages.txt"
}

# Prints the packages (of `losscape_packages ${1:-all}`) that are not installed.
losscape_missing_packages() {
  local p
  for p in $(losscape_packages "${1:-all}"); do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || echo "$p"
  done
}

# `ensure_deps run`: only what building and running need (jobs/quickstart.sh); else all.
ensure_deps() {
  local which=${1:-all}
  if ! command -v dpkg-query >/dev/null; then
    echo "ensure-deps: not a Debian system; install the packages of cmake/debian-packages.txt" \
         "(or their equivalents) yourself" >&2
    return 0
  fi
  local missing
  missing=$(losscape_missing_packages "$which")
  if [[ -z $missing ]]; then
    echo "ensure-deps: all $(losscape_packages "$which" | wc -l) Debian packages$([[ $which == run ]] && echo " to build and run") are installed"
    return 0
  fi
  echo "ensure-deps: installing" $missing
  local sudo=
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || {
      echo "ensure-deps: missing packages and not root: apt-get install" $missing >&2
      return 1
    }
    sudo=sudo
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

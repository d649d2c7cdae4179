"""Shared by the command-line tests (tests/cli/test_*.py): the environment CTest gives them, a
fresh work directory, and the ok/FAIL lines with the final exit status."""
import os
import shutil
import subprocess
import sys

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
failures = []


def setup(default_work, *needs):
    """Returns LOSSCAPE's path after making TEST_WORK_DIR (else default_work) the fresh current
    directory; exits 77 (skipped) when LOSSCAPE or an environment variable in `needs` is unset
    or Debian's Fashion-MNIST is missing."""
    exe = os.environ.get("LOSSCAPE")
    missing = [n for n in ("LOSSCAPE", *needs) if not os.environ.get(n)]
    if missing:
        print(f"{', '.join(missing)} not set")
        sys.exit(77)
    if not os.path.isdir(FASHION_MNIST):
        print(f"needs Debian's dataset-fashion-mnist in {FASHION_MNIST}")
        sys.exit(77)
    work = os.environ.get("TEST_WORK_DIR", default_work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chdir(work)
    return exe


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(args, expect=0):
    """`losscape ARGS`, checked to exit `expect`; the CompletedProcess (text output)."""
    p = subprocess.run([os.environ["LOSSCAPE"], *args], capture_output=True, text=True)
    if p.returncode != expect:
        print(p.stdout[-3000:], p.stderr[-3000:])
    check(p.returncode == expect, f"{' '.join(args[:2])} exits {expect} (got {p.returncode})")
    return p


def conclude():
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)

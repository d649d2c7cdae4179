"""Shared by the command-line tests (tests/cli/test_*.py): the environment CTest gives them, a
fresh work directory, mpiexec's flags, and the ok/FAIL lines with the final exit status."""
import os
import shutil
import subprocess
import sys

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
MPIEXEC = os.environ.get("MPIEXEC", "mpiexec")
# Oversubscribed, unbound (CI machines have 2 cores); as root, Open MPI wants to be told.
MPI_FLAGS = ["--oversubscribe", "--bind-to", "none"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
failures = []


def setup(default_work, *needs, fashion_mnist=True):
    """Returns LOSSCAPE's path after making TEST_WORK_DIR (else default_work) the fresh current
    directory; exits 77 (skipped) when LOSSCAPE or an environment variable in `needs` is unset
    or, with fashion_mnist, Debian's Fashion-MNIST is missing."""
    exe = os.environ.get("LOSSCAPE")
    missing = [n for n in ("LOSSCAPE", *needs) if not os.environ.get(n)]
    if missing:
        print(f"{', '.join(missing)} not set")
        sys.exit(77)
    if fashion_mnist and not os.path.isdir(FASHION_MNIST):
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


def run(args, expect=0, mpi=0):
    """`losscape ARGS` (under `mpiexec -n MPI` when mpi > 0), checked to exit `expect`; the
    CompletedProcess (text output)."""
    cmd = ([MPIEXEC, *MPI_FLAGS, "-n", str(mpi)] if mpi else []) + [os.environ["LOSSCAPE"], *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect:
        print(p.stdout[-3000:], p.stderr[-3000:])
    on = f" (np={mpi})" if mpi else ""
    check(p.returncode == expect, f"{' '.join(args[:2])}{on} exits {expect} (got {p.returncode})")
    return p


def losscape(*args, env=None, expect_ok=True, timeout=None):
    """`losscape ARGS` (any values, passed as str); the CompletedProcess (text output). With
    expect_ok, a failure prints the command and its output and ends the test (exit 1): what
    follows depends on it. Past `timeout` seconds the program is killed and the result is exit
    124 with "timed out" as its stderr (a hang is a failed check, not a stuck test)."""
    cmd = [os.environ["LOSSCAPE"], *map(str, args)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        r = subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout} s")
    if expect_ok and r.returncode != 0:
        print(f"command failed ({r.returncode}): losscape {' '.join(map(str, args))}\n"
              f"{r.stdout}\n{r.stderr}", file=sys.stderr)
        sys.exit(1)
    return r


def errors(stderr):
    """The lines of `stderr` that are losscape's errors ("losscape: error: ...")."""
    return [line for line in stderr.splitlines() if line.startswith("losscape: error:")]


def text(v):
    """An HDF5 string attribute as h5py returns it (bytes or str), as str."""
    return v.decode() if isinstance(v, bytes) else str(v)


def conclude():
    """Exit 0 when every check passed, else list the failed ones and exit 1."""
    print(f"{len(failures)} failure(s)")
    for what in failures:
        print("  FAIL " + what)
    sys.exit(1 if failures else 0)

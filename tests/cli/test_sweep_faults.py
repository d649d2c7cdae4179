"""Failures during a distributed sweep, made on purpose, end the job cleanly and lose nothing
that a resume cannot recover:
  - one MPI or HDF5 call failing on one rank only (tests/faults/fault_inject.c, LD_PRELOAD): a
    worker's MPI_Send, the coordinator's MPI_Iprobe, a write while the surface file is created,
    a write of a round. Each ends the whole job (no hang: every run here has a time limit) with
    the failing call named on stderr; the file (or, if creation failed, no file at all) then
    resumes to the surface an uninterrupted run gives;
  - an evaluation error on one rank (LOSSCAPE_TEST_EVAL_ERROR), alone, inside a --data-shards
    group or in the last points that all ranks share (also in a Hessian-vector product, and in
    `losscape hessian`): the sweep stops with a final round, one message naming the rank, exit 1,
    and resumes;
  - SIGTERM to one follower of a --data-shards group: exit 75 after a final round, resumable;
  - SIGKILL to one rank mid-sweep (the OOM killer): the job ends, the flushed points stay, the
    same command completes the surface;
  - --hessian at points whose loss is NaN: NaN eigenvalues stored as results, not an error;
  - resuming with other direction options than those of the directions made beside the file:
    refused, nothing touched;
  - locks: a live holder on this host is never taken over, even inside the same Slurm job or
    stopped (SIGSTOP: no heartbeat for minutes); an empty lock file (its writer died before
    writing) is; a merge whose lock was taken over while it was stopped writes nothing;
  - the surface deleted during the run (exit 1, not "complete"), stdout's reader gone (SIGPIPE
    ignored: the run completes), a read-only surface (one agreed line, no MPI_Abort), a disk
    full while the surface is created (said so, the lock released).
Environment: LOSSCAPE, MPIEXEC, LOSSCAPE_FAULT_INJECT, TEST_WORK_DIR. Exit 77 = skipped."""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

try:
    import h5py
    import numpy as np
except ImportError:
    print("needs h5py and numpy")
    sys.exit(77)

from clitest import FASHION_MNIST as DATA, MPI_FLAGS, MPIEXEC, check, conclude, errors, setup

EXE = setup("/tmp/losscape-test-sweep-faults", "LOSSCAPE_FAULT_INJECT")
SHIM = os.environ["LOSSCAPE_FAULT_INJECT"]
LIMIT = 180  # seconds: a run still going after this has hung


def launch(args, np_=0, fault=None, **popen):
    """Start `losscape ARGS` (under mpiexec -n np_ when np_ > 0), with a fault if given:
    fault = {"FAULT_CALL": ..., "FAULT_RANK": ..., "FAULT_AT"/"FAULT_AFTER": ...}."""
    env = dict(os.environ)
    cmd = [EXE, *args]
    if np_:
        exports = []
        if fault:
            env.update(fault, LD_PRELOAD=SHIM)
            for k in [*fault, "LD_PRELOAD"]:
                exports += ["-x", k]
        cmd = [MPIEXEC, *MPI_FLAGS, *exports, "-n", str(np_), *cmd]
    return subprocess.Popen(cmd, env=env, text=True, start_new_session=True, **popen)


def finish(p):
    """Wait for a launched job (at most LIMIT); (exit code or None on a hang, stdout, stderr)."""
    try:
        out, err = p.communicate(timeout=LIMIT)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err


def run(args, np_=0, fault=None, env_extra=None):
    """Run to the end (or LIMIT); returns (exit code or None on a hang, stdout, stderr)."""
    if env_extra:
        os.environ.update(env_extra)
    p = launch(args, np_, fault, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        rc, out, err = finish(p)
    finally:
        for k in env_extra or {}:
            os.environ.pop(k, None)
    return rc, out, err


def wait_lock_free(path):
    """The holder of a lock left by an aborted job may take a moment to be gone."""
    lock = path + ".lock"
    for _ in range(100):
        try:
            pid = json.load(open(lock)).get("pid", 0)
        except (OSError, ValueError):
            return
        if not pid or not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.1)


def surface(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["train_loss"]), np.asarray(f["done"]).astype(bool)


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


COMMON = ["sweep", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--data-dir", DATA,
          "--samples", "200", "--batch-size", "100", "--memory-format", "nchw",
          "--points-per-forward", "1", "--threads", "1", "--quiet"]
rc, _, err = run(["directions", "--arch", "cnn_small", "--dataset", "fashion-mnist",
                  "--out", "d.h5", "--quiet"])
check(rc == 0, f"directions for the tests ({err.strip()})")
SWEEP = [*COMMON, "--directions", "d.h5", "--x", "-1:1:21", "--y", "-1:1:21", "--flush-seconds", "1"]
rc, _, err = run([*SWEEP, "--out", "ref.h5"], np_=2)
ref, ref_done = surface("ref.h5")
check(rc == 0 and ref_done.all(), f"the uninterrupted surface, 2 ranks ({rc}: {err.strip()[-300:]})")


def fault_case(name, np_, fault, expect_in_error, creation=False, rank=None):
    out = f"{name}.h5"
    rc, _, err = run([*SWEEP, "--out", out], np_=np_, fault=fault)
    check(rc is not None, f"{name}: the job ends (no hang within {LIMIT} s)")
    check(rc == 1, f"{name}: exit 1 (got {rc})")
    errs = errors(err)
    check(len(errs) >= 1 and all(expect_in_error in e for e in errs),
          f"{name}: the error names the failure ({expect_in_error!r}): {errs}")
    if rank is not None:
        check(any(f"(rank {rank}; the job is ended: the same command resumes from the points {out} holds)" in e
                  for e in errs), f"{name}: ... and the rank, and what becomes of {out}: {errs}")
    # (rank 0, ended by another rank's abort, left it: a rerun from another node was refused
    # until it went stale)
    check(not os.path.exists(out + ".lock"), f"{name}: the job's lock is released")
    if creation:
        check(not os.path.exists(out) and not os.path.exists(out + ".creating"),
              f"{name}: no half-created surface file is left at {out} (nor its temporary)")
    else:
        try:
            _, done = surface(out)
            check(True, f"{name}: the file opens after the failure ({int(done.sum())} points done)")
        except OSError as e:
            check(False, f"{name}: the file opens after the failure ({e})")
    wait_lock_free(out)
    rc, _, err = run([*SWEEP, "--out", out], np_=2)
    loss, done = surface(out) if os.path.exists(out) else (None, None)
    check(rc == 0 and done is not None and done.all() and
          np.allclose(loss, ref, rtol=1e-6, atol=0),
          f"{name}: the same command resumes to the uninterrupted surface ({rc}: {err.strip()[-300:]})")


# A worker's message to the coordinator fails (its 5th: a few blocks into the sweep), and its
# MPI_Abort takes 3 s to end rank 0, as on a loaded node: the lock it let go on its way out is
# not reported by rank 0 as deleted (that second error came in a CI run).
fault_case("worker_send", 2, {"FAULT_CALL": "MPI_Send", "FAULT_RANK": "1", "FAULT_AT": "5",
                              "FAULT_ABORT_DELAY": "3"},
           "MPI_Send", rank=1)
# The coordinator's polling fails while 2 workers wait for it.
fault_case("coordinator", 3, {"FAULT_CALL": "MPI_Iprobe", "FAULT_RANK": "0", "FAULT_AT": "300"},
           "MPI_Iprobe")
# Rank 1's first write: while the surface file is being created (rank 0 goes on creating).
fault_case("creation", 2, {"FAULT_CALL": "H5Dwrite", "FAULT_RANK": "1", "FAULT_AT": "1"},
           "write failed", creation=True)
# Rank 1's writes of a round (the 3 creation writes behind it).
fault_case("round_write", 2, {"FAULT_CALL": "H5Dwrite", "FAULT_RANK": "1", "FAULT_AT": "8"},
           "write failed", rank=1)

# Rank 0's first write while it makes the directions beside the output (no --directions): no
# partial NAME.dirs.h5 is left for a later run to take for a direction file.
DIRS = [*COMMON, "--x", "-1:1:3", "--out", "dirwrite.h5"]
rc, _, err = run(DIRS, np_=2, fault={"FAULT_CALL": "H5Dwrite", "FAULT_RANK": "0", "FAULT_AT": "1"})
check(rc == 1 and "write failed" in "".join(errors(err)) and
      not [f for f in os.listdir(".") if f.startswith("dirwrite.")],
      f"a failed write of the directions leaves no file behind ({rc}: {errors(err)}; "
      f"{sorted(f for f in os.listdir('.') if f.startswith('dirwrite.'))})")
rc, _, err = run(DIRS, np_=2)
check(rc == 0 and os.path.exists("dirwrite.dirs.h5"), f"and the same command then runs ({rc})")

# ---- a rank's own evaluation fails (LOSSCAPE_TEST_EVAL_ERROR, as a device error would) ----
# Nobody else is inside a call with it: the sweep stops as on a signal, a final round saves
# every rank's points although the flush interval (1 h) was never reached, and all ranks end
# with the error.
EVAL = [*COMMON, "--directions", "d.h5", "--x", "-1:1:21", "--y", "-1:1:21",
        "--flush-seconds", "3600", "--out", "eval_error.h5"]
rc, out, err = run([a for a in EVAL if a != "--quiet"], np_=2,
                   fault={"LOSSCAPE_TEST_EVAL_ERROR": "1:30"})
errs = errors(err)
check(rc == 1 and len(errs) == 1 and "injected evaluation error" in errs[0] and "(rank 1)" in errs[0],
      f"an evaluation error on rank 1: exit 1, one message naming the rank ({rc}: {errs})")
loss, done = surface("eval_error.h5")
with h5py.File("eval_error.h5", "r") as f:
    log = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
check(done.sum() >= 29 and np.allclose(loss[done], ref[done], rtol=1e-6, atol=0) and
      "stopped by an error" in out and log[-1]["status"] == "failed" and
      "injected" in log[-1].get("error", ""),
      f"the points computed before it are saved ({int(done.sum())}), the run log says failed")
check(not os.path.exists("eval_error.h5.lock"), "the lock is released")
rc, out, _ = run(["info", "eval_error.h5"])
check(rc == 0 and ": failed, " in out and "error   injected evaluation error" in out,
      f"info lists the failed run with its error: {out[-300:]!r}")
rc, _, err = run(EVAL, np_=2)
loss, done = surface("eval_error.h5")
check(rc == 0 and done.all() and np.allclose(loss, ref, rtol=1e-6, atol=0),
      f"the same command resumes to the uninterrupted surface ({rc}: {err.strip()[-300:]})")

# ---- an evaluation fails inside a data-shard group ----
# The group agrees on the failure in its own reduction: no rank waits for the failed one, and the
# sweep stops as above, whether the failed rank is a follower (rank 3), the leader of another
# group (rank 2) or the coordinator (rank 0, whose follower is rank 1).
for spec in ("3:30", "2:25", "0:20"):
    r = spec.split(":")[0]
    name = f"shard_error_{r}.h5"
    SHARD = [*EVAL[:-1], name, "--data-shards", "2"]
    rc, out, err = run(SHARD, np_=4, fault={"LOSSCAPE_TEST_EVAL_ERROR": spec})
    errs = errors(err)
    loss, done = surface(name) if os.path.exists(name) else (np.zeros(0), np.zeros(0, bool))
    check(rc == 1 and len(errs) == 1 and "injected evaluation error" in errs[0] and
          f"(rank {r})" in errs[0] and done.sum() > 0 and
          np.allclose(loss[done], ref[done], rtol=1e-6, atol=0),
          f"--data-shards 2, an evaluation error on rank {r}: exit 1, one message naming the rank, "
          f"the points so far saved ({rc}: {errs}; {int(done.sum())} done)")
    if r == "3":  # one resume is enough (the file is the same kind as above)
        rc, _, err = run(SHARD, np_=4)
        loss, done = surface(name)
        check(rc == 0 and done.all() and np.allclose(loss, ref, rtol=1e-6, atol=0),
              f"and the same command resumes to the uninterrupted surface ({rc}: {err.strip()[-300:]})")
# ---- an evaluation fails while the last points go in pieces to all ranks ----
# 3 points on 4 ranks: all three are handed out in pieces (2 each: 200 images in batches of 100)
# to whichever rank asks. Rank 0 always evaluates one (the others get one each at first, and ask
# for more only when done): its first evaluation step fails. The others finish the pieces they
# hold; a point whose pieces were all evaluated is saved with one rank's values, rank 0's is not;
# one agreed message, exit 1, and the same command then gives one rank's values.
TAIL = [*COMMON, "--directions", "d.h5", "--x", "-1:1:3", "--y", "0:0:1"]
rc, _, err = run([*TAIL, "--out", "tail_alone.h5"])
alone, _ = surface("tail_alone.h5")
rc, out, err = run([*TAIL, "--out", "tail_error.h5"], np_=4, fault={"LOSSCAPE_TEST_EVAL_ERROR": "0:1"})
errs = errors(err)
loss, done = surface("tail_error.h5")
with h5py.File("tail_error.h5", "r") as f:
    log = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
check(rc == 1 and len(errs) == 1 and "injected evaluation error" in errs[0] and "(rank 0)" in errs[0]
      and not done.all() and np.allclose(loss[done], alone[done], rtol=1e-12, atol=0)
      and log[-1]["status"] == "failed" and log[-1]["shared_points"] == 3,
      f"an evaluation error in a piece of the last points (rank 0): exit 1, one message, a failed "
      f"run log, the complete points saved ({rc}: {errs}; {int(done.sum())} done)")
rc, _, err = run([*TAIL, "--out", "tail_error.h5"], np_=4)
loss, done = surface("tail_error.h5")
check(rc == 0 and done.all() and np.allclose(loss, alone, rtol=1e-12, atol=0),
      f"and the same command resumes to one rank's values ({rc}: {loss} vs {alone})")
# In the middle of a Hessian-vector product (rank 1's 40th evaluation step: the first point's
# loss pass, then its products), with --hessian: the same.
HSH = [*COMMON, "--directions", "d.h5", "--x", "-1:1:3", "--y", "-1:1:3", "--hessian",
       "--data-shards", "2", "--out", "shard_hessian.h5"]
rc, _, err = run(HSH, np_=2, fault={"LOSSCAPE_TEST_EVAL_ERROR": "1:40"})
errs = errors(err)
check(rc == 1 and len(errs) == 1 and "injected evaluation error" in errs[0] and "(rank 1)" in errs[0],
      f"--hessian --data-shards 2, an error inside a Hessian-vector product on rank 1: exit 1, "
      f"one message ({rc}: {errs})")
# `losscape hessian` over 2 ranks (each a shard of the data): one message, exit 1.
rc, _, err = run(["train", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--data-dir", DATA,
                  "--samples", "100", "--test-samples", "50", "--epochs", "1", "--quiet",
                  "--out", "run"])
check(rc == 0, f"a trained model for the next tests ({rc}: {err.strip()[-300:]})")
rc, _, err = run(["hessian", "--model-file", "run/model_1.h5", "--data-dir", DATA, "--samples", "200",
                  "--threads", "1", "--quiet"], np_=2, fault={"LOSSCAPE_TEST_EVAL_ERROR": "1:5"})
errs = errors(err)
check(rc == 1 and errs == ["losscape: error: injected evaluation error (LOSSCAPE_TEST_EVAL_ERROR) "
                           "(rank 1)"] and "MPI_ABORT" not in err,
      f"losscape hessian on 2 ranks, an error in rank 1's 5th product: one message, a clean "
      f"exit 1 ({rc}: {err.strip()[-400:]})")
for bad, what in ((["--model-file", "run/missing.h5"], "run/missing.h5"),
                  (["--model-file", "run/model_1.h5", "--top-k", "999999"], "--top-k 999999")):
    rc, _, err = run(["hessian", *bad, "--data-dir", DATA, "--samples", "200", "--threads", "1",
                      "--quiet"], np_=2)
    errs = errors(err)
    check(rc == 1 and len(errs) == 1 and what in errs[0] and "MPI_ABORT" not in err,
          f"losscape hessian on 2 ranks, {what}: one message, a clean exit 1 ({rc}: {errs})")

# ---- SIGTERM to one follower of a data-shard group ----
p = launch([*COMMON, "--directions", "d.h5", "--x", "-1:1:31", "--y", "-1:1:31",
            "--flush-seconds", "3600", "--data-shards", "2", "--out", "shards.h5"], np_=2,
           stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def rank_pid(parent, rank):
    for _ in range(300):
        kids = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        for k in kids:
            try:
                env = open(f"/proc/{k}/environ", "rb").read().split(b"\0")
            except OSError:
                continue
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                return int(k)
        time.sleep(0.1)
    return None


follower = rank_pid(p.pid, 1)
# Into the sweep proper: the surface exists and the start-up timing (a few seconds) is over.
t0 = time.time()
while time.time() - t0 < 60 and not os.path.exists("shards.h5"):
    time.sleep(0.2)
time.sleep(4)
if follower:
    os.kill(follower, signal.SIGTERM)
rc, out, err = finish(p)
_, done = surface("shards.h5")
check(follower is not None and rc == 75 and 0 < done.sum() < done.size,
      f"SIGTERM to a data-shard follower: exit 75 with the points so far flushed "
      f"({rc}, {int(done.sum())} of {done.size}; {err.strip()[-300:]})")

# ---- SIGTERM to rank 1 alone during the set-up (the start-up timing): no point is computed ----
# (rank 0, not signalled, started a first pass of K points before rank 1's stop message came)
fixed = {"--samples", "--batch-size", "--memory-format", "--points-per-forward"}  # (chosen by the timing)
timed = [a for i, a in enumerate(COMMON) if a not in fixed and COMMON[i - 1] not in fixed]
p = launch([*timed, "--directions", "d.h5", "--x", "-1:1:11", "--y", "-1:1:11", "--samples", "3000",
            "--out", "setup_stop.h5"], np_=2, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
follower = rank_pid(p.pid, 1)
t0 = time.time()
while time.time() - t0 < 60 and not os.path.exists("setup_stop.h5"):  # made before the timing
    time.sleep(0.02)
if follower:
    os.kill(follower, signal.SIGTERM)
rc, out, err = finish(p)
_, done = surface("setup_stop.h5")
check(follower is not None and rc == 75 and done.sum() == 0 and "(0 computed now" in err,
      f"SIGTERM to rank 1 during the set-up: exit 75 before any point ({rc}, {int(done.sum())} done; "
      f"{err.strip()[-300:]})")

# ---- SIGKILL to rank 1 in the middle (the OOM killer): the job ends, the flushed points stay ----
# Rank 0 must not wait for it in a collective until the time limit; the points flushed before
# are kept and the same command completes the surface, equal to the uninterrupted one.
p = launch([*SWEEP, "--out", "killed.h5"], np_=2, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
victim = rank_pid(p.pid, 1)
t0 = time.time()
while time.time() - t0 < 60 and p.poll() is None:  # until some rounds are flushed
    try:
        if surface("killed.h5")[1].sum() >= 40:
            break
    except (OSError, KeyError):
        pass
    time.sleep(0.2)
if victim:
    os.kill(victim, signal.SIGKILL)
rc, _, err = finish(p)
kept = surface("killed.h5")[1].sum() if os.path.exists("killed.h5") else 0
info = subprocess.run([EXE, "info", "killed.h5"], capture_output=True, text=True).stdout
check(victim is not None and rc not in (None, 0) and 0 < kept < ref.size and "killed" in info,
      f"SIGKILL to rank 1 mid-sweep: the job ends (no hang), the flushed points stay and info says "
      f"killed ({rc}, {kept} kept; {info.strip()[-300:]})")
wait_lock_free("killed.h5")
rc, _, err = run([*SWEEP, "--out", "killed.h5"], np_=2)
loss, done = surface("killed.h5")
check(rc == 0 and done.all() and np.allclose(loss, ref, rtol=1e-6, atol=0),
      f"... and the same command completes it, equal to the uninterrupted sweep ({rc}: {errors(err)})")

# ---- --hessian where the loss is NaN: a result ----
HES = [*COMMON, "--hessian", "--x", "1e37:2e37:2", "--out", "nan_hessian.h5"]
rc, _, err = run(HES)
v = {k: np.zeros(0) for k in ("train_loss", "max_eig", "min_eig", "eig_converged", "done")}
if os.path.exists("nan_hessian.h5"):
    with h5py.File("nan_hessian.h5", "r") as f:
        v = {k: np.asarray(f[k]) for k in v}
check(rc == 0 and v["done"].size == 2 and v["done"].all() and np.isnan(v["train_loss"]).all() and
      np.isnan(v["max_eig"]).all() and np.isnan(v["min_eig"]).all() and
      (v["eig_converged"] == 0).all(),
      f"--hessian at NaN losses: NaN eigenvalues stored, points done ({rc}: {err.strip()[-300:]})")
rc, out, _ = run([a for a in HES if a != "--quiet"])
check(rc == 0 and "2 of 2 points done (nothing to compute" in out, f"and never recomputed ({out.strip()[-200:]})")

# ---- other direction options than the directions made beside the surface ----
AUTO = [*COMMON, "--x", "-1:1:3", "--out", "auto.h5"]
rc, _, _ = run(AUTO)
check(rc == 0 and os.path.exists("auto.dirs.h5"), "a sweep without --directions makes auto.dirs.h5")
before = (md5("auto.h5"), md5("auto.dirs.h5"))
rc, _, err = run([*AUTO, "--seed", "7", "--x-norm", "layer"])
errs = errors(err)
check(rc == 1 and len(errs) == 1 and "auto.dirs.h5" in errs[0] and
      "seed 123 (requested 7)" in errs[0] and "layer" in errs[0],
      f"resuming with --seed 7 --x-norm layer is refused, naming what differs: {errs}")
check((md5("auto.h5"), md5("auto.dirs.h5")) == before, "and both files are left untouched")
# A target direction named by another spelling of the same file, or from another directory, is
# the same target.
os.makedirs("sub", exist_ok=True)
TGT = [*COMMON, "--x", "0:1:3", "--model-file", "run/model_0.h5", "--out", "sub/interp.h5"]
TGT = [a for a in TGT if a not in ("--arch", "cnn_small")]
rc1, _, e1 = run([*TGT, "--x-target", "run/model_1.h5", "--stop-after", "1"])
rc2, _, e2 = run([*TGT, "--x-target", "./run/model_1.h5"])
check(rc1 == 75 and rc2 == 0,
      f"a resume naming the target as ./run/model_1.h5 is not refused ({rc1}, {rc2}: "
      f"{errors(e1 + e2)})")
rc3, _, e3 = run([*TGT, "--x-target", "run/model_0.h5"])
check(rc3 == 1 and "target" in "".join(errors(e3)), f"another target is refused: {errors(e3)}")
# Random directions (made without a target) are not those of a resume that asks for one.
PLAIN = [*TGT[:-1], "sub/plain.h5"]
rc4, _, e4 = run([*PLAIN, "--stop-after", "1"])
rc5, _, e5 = run([*PLAIN, "--x-target", "run/model_1.h5"])
check(rc4 == 75 and rc5 == 1 and "target" in "".join(errors(e5)),
      f"a resume adding --x-target to random directions is refused ({rc4}, {rc5}: {errors(e5)})")

# ---- locks ----
LOCKED = [*COMMON, "--directions", "d.h5", "--x", "-1:1:3", "--out", "locked.h5"]
def hold(restart_count):
    with open("locked.h5.lock", "w") as f:  # held by this (live) process, in "Slurm job 4242"
        json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": "now",
                   "slurm_job_id": "4242", "slurm_array_job_id": "",
                   "slurm_restart_count": restart_count}, f)


hold("")
rc, _, err = run(LOCKED, env_extra={"SLURM_JOB_ID": "4242"})
check(rc == 1 and f"pid {os.getpid()}" in err and not os.path.exists("locked.h5"),
      f"a live holder in the same start of the same Slurm job is not taken over: {errors(err)}")
# The same job requeued (SLURM_RESTART_COUNT 1): the holder was its earlier start, whatever its
# pid (reused here by a live process) seems to say.
rc, _, err = run(LOCKED, env_extra={"SLURM_JOB_ID": "4242", "SLURM_RESTART_COUNT": "1"})
check(rc == 0 and os.path.exists("locked.h5"),
      f"the lock of an earlier start of the same job is taken over ({rc}: {errors(err)})")
os.remove("locked.h5")
open("locked.h5.lock", "w").close()  # empty: its writer died before writing it
old = time.time() - 30
os.utime("locked.h5.lock", (old, old))
rc, _, err = run(LOCKED)
check(rc == 0 and not os.path.exists("locked.h5.lock"),
      f"an empty lock file, 30 s old, is taken over ({rc}: {errors(err)})")

# A lock file of garbage types (not losscape's, or being written): refused while fresh, naming an
# unknown writer; taken over once 5 s old; never an exception.
with open("locked.h5.lock", "w") as f:
    json.dump({"pid": "abc", "host": 7, "since": []}, f)
rc, _, err = run(LOCKED)
errs = errors(err)
check(rc == 1 and len(errs) == 1 and "unknown writer" in errs[0],
      f"a fresh lock of garbage types is refused, naming an unknown writer: {errs}")
old = time.time() - 10
os.utime("locked.h5.lock", (old, old))
rc, _, err = run(LOCKED)
check(rc == 0 and not os.path.exists("locked.h5.lock"),
      f"... and taken over once 10 s old ({rc}: {errors(err)})")
os.remove("locked.h5")

# Another task of the same array on another host: the chain's task before (killed at its
# limit) once its heartbeat has stopped; one still beating runs at the same time and is refused.
def hold_array(beat_age):
    with open("locked.h5.lock", "w") as f:
        json.dump({"host": "node-elsewhere", "pid": 4321, "since": "then", "slurm_job_id": "90",
                   "slurm_array_job_id": "88", "slurm_restart_count": ""}, f)
    t = time.time() - beat_age
    os.utime("locked.h5.lock", (t, t))


ARRAY_TASK = {"SLURM_JOB_ID": "91", "SLURM_ARRAY_JOB_ID": "88"}
hold_array(40)  # two beats missed and more: taken over within seconds
t0 = time.time()
rc, _, err = run(LOCKED, env_extra=ARRAY_TASK)
check(rc == 0 and os.path.exists("locked.h5") and not os.path.exists("locked.h5.lock"),
      f"the lock of an earlier task of the array, silent for 40 s, is taken over ({rc}: "
      f"{errors(err)}, after {time.time() - t0:.0f} s)")
os.remove("locked.h5")
hold_array(0)
beating = threading.Event()
def beat():
    while not beating.wait(3):
        os.utime("locked.h5.lock")
beater = threading.Thread(target=beat)
beater.start()
try:
    rc, _, err = run(LOCKED, env_extra=ARRAY_TASK)
finally:
    beating.set()
    beater.join()
errs = errors(err)
check(rc == 1 and len(errs) == 1 and "node-elsewhere" in errs[0] and "%1" in errs[0] and
      not os.path.exists("locked.h5"),
      f"a task of the same array whose heartbeat goes on is waited for, then refused: {errs}")
os.remove("locked.h5.lock")

# Clocks that differ between the nodes and the file server: a lock's age is measured on the file
# system's clock (the time a file created beside it gets), not this host's. Played with
# libfaketime, which moves this process's clock but not the times the kernel gives new files;
# NO_FAKE_STAT=1: stat() shows those times as they are (by default it shifts them too).
def run_skewed(args, offset):
    p = subprocess.Popen(["faketime", "-f", offset, EXE, *args], text=True,
                         env={**os.environ, "NO_FAKE_STAT": "1"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    return finish(p)


def hold_elsewhere(beat_age):
    with open("locked.h5.lock", "w") as f:
        json.dump({"host": "node-elsewhere", "pid": 4321, "since": "then"}, f)
    t = time.time() - beat_age
    os.utime("locked.h5.lock", (t, t))


if shutil.which("faketime"):
    hold_elsewhere(0)  # a holder on another node that beat just now
    rc, _, err = run_skewed(LOCKED, "+600s")
    errs = errors(err)
    beat = re.search(r"heartbeat (-?[0-9]+) s ago", errs[0]) if len(errs) == 1 else None
    check(rc == 1 and len(errs) == 1 and "node-elsewhere" in errs[0] and beat and
          0 <= int(beat.group(1)) < 60 and not os.path.exists("locked.h5"),
          f"a node whose clock runs 10 min ahead does not take a live lock elsewhere for stale: "
          f"{rc} {errs}")
    hold_elsewhere(300)  # one silent for 5 min (the stale time is 2 min)
    rc, _, err = run_skewed(LOCKED, "-600s")
    check(rc == 0 and os.path.exists("locked.h5") and not os.path.exists("locked.h5.lock"),
          f"... and one whose clock runs 10 min behind takes a dead one over ({rc}: {errors(err)})")
    check(not [n for n in os.listdir(".") if "clock" in n],
          f"no clock probe is left beside the lock: {sorted(os.listdir('.'))}")
    for n in ("locked.h5", "locked.h5.lock"):
        if os.path.exists(n):
            os.remove(n)
else:
    print("note: faketime not installed: the clock-skew cases are skipped")

# A merge suspended longer than the lock's stale time finds its lock taken over (played here by
# replacing the lock while the merge sleeps in its first write of the merged file): it does not
# rename its file over the output, leaves the other holder's lock alone, and exits 1.
for k in (1, 2):
    rc, _, err = run([*LOCKED[:-1], f"part{k}.h5", "--part", f"{k}/2"])
    check(rc == 0, f"part {k}/2 for the merge case ({rc}: {errors(err)})")
p = launch(["merge", "part1.h5", "part2.h5", "--out", "merged_lock.h5"], np_=1,
           fault={"FAULT_CALL": "H5Dwrite", "FAULT_RANK": "0", "FAULT_AT": "1", "FAULT_SLEEP": "8"},
           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
said = ""
while "[fault]" not in said:
    line = p.stderr.readline()
    if not line:
        break
    said += line
other = json.dumps({"host": "elsewhere.example", "pid": 4242, "slurm_job_id": "777",
                    "since": "2026-12-02T03:00:00Z"})
with open("merged_lock.h5.lock.new", "w") as f:
    f.write(other)
os.replace("merged_lock.h5.lock.new", "merged_lock.h5.lock")
rc, _, err = finish(p)
err = said + err
errs = errors(err)
check(rc == 1 and len(errs) == 1 and errs[0].startswith(
      "losscape: error: merged_lock.h5: this merge no longer holds the file: its lock file "
      "merged_lock.h5.lock now names pid 4242 on host elsewhere.example (Slurm job 777)") and
      errs[0].endswith("; not written"),
      f"a merge whose lock was taken over while it slept: exit 1, one line naming the holder "
      f"({rc}: {err.strip()[-400:]!r})")
check(not os.path.exists("merged_lock.h5") and not os.path.exists("merged_lock.h5.merging") and
      open("merged_lock.h5.lock").read() == other,
      "... nothing renamed over the output, no temporary left, the new holder's lock untouched")
os.remove("merged_lock.h5.lock")

# ---- a damaged surface file: refused before anything is computed or written, named ----
DAMAGE = [*COMMON, "--directions", "d.h5", "--x", "-1:1:3", "--y", "-1:1:3"]
rc, _, err = run([*DAMAGE, "--out", "whole.h5", "--stop-after", "4"])
check(rc == 75, f"a partial surface to damage ({rc}: {errors(err)})")


def damaged(name, change):
    shutil.copy("whole.h5", name)
    with h5py.File(name, "r+") as f:
        change(f)
    return md5(name)


def reshape_done(f):
    del f["done"]
    f["done"] = np.zeros((3, 2), np.uint8)


def retype_seconds(f):
    del f["seconds"]
    f["seconds"] = np.zeros((3, 3), np.int32)


def shift_x(f):
    f["xcoordinates"][0] = -2.0


cases = [("done_shape.h5", reshape_done, "'done' has shape (3, 2), the grid needs (3, 3)"),
         ("no_loss.h5", lambda f: f.__delitem__("train_loss"), "'train_loss' is missing"),
         ("seconds_type.h5", retype_seconds, "'seconds' is not of the type"),
         ("coords.h5", shift_x, "coordinates are not those of its grid"),
         ("newer.h5", lambda f: f.attrs.__setitem__("format_version", np.int64(2)),
          "written by a newer losscape (surface format version 2")]
for name, change, needle in cases:
    before = damaged(name, change)
    for extra in ([], ["--dry-run"]):
        rc, _, err = run([*DAMAGE, "--out", name, *extra], np_=2)
        errs = errors(err)
        check(rc == 1 and len(errs) == 1 and name in errs[0] and needle in errs[0] and
              "MPI_ABORT" not in err and md5(name) == before,
              f"resume{' --dry-run' if extra else ''} of a surface whose {needle.split()[0]} is "
              f"damaged: refused in one line, the file untouched: {errs}")
    for cmd in (["info", name], ["export", name, "--vtp", "damaged.vtp"]):
        rc, _, err = run(cmd)
        check(rc == 1 and needle in "".join(errors(err)) and not os.path.exists("damaged.vtp"),
              f"{cmd[0]} names the damage: {errors(err)}")


def bad_part(f):
    ident = json.loads(f.attrs["identity"])
    ident["part"] = "1/0"
    f.attrs["identity"] = json.dumps(ident)


damaged("part0.h5", bad_part)
for cmd in (["info", "part0.h5"], ["merge", "part0.h5", "--out", "merged0.h5"]):
    rc, _, err = run(cmd)
    errs = errors(err)
    check(rc == 1 and len(errs) == 1 and "part0.h5" in errs[0] and "'1/0'" in errs[0],
          f"{cmd[0]} of a surface whose identity's part is 1/0: one line, no crash ({rc}: {errs})")
check(not os.path.exists("merged0.h5"), "... and merge wrote nothing")

# ---- the output taken away, a stopped holder, a reader gone, a read-only file ----
SMALL = [*COMMON, "--directions", "d.h5", "--x", "-1:1:11", "--y", "-1:1:11", "--flush-seconds", "1"]


def unmount(path):
    """Unmount, retrying a while: the ranks of an aborted job can hold it a moment ("busy")."""
    for _ in range(50):
        if subprocess.run(["umount", path], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    subprocess.run(["umount", "-l", path], capture_output=True)


def wait_for(path, p, seconds=60):
    t0 = time.time()
    while not os.path.exists(path) and p.poll() is None and time.time() - t0 < seconds:
        time.sleep(0.05)


# The surface deleted during the run: the ranks write on into the unlinked file, and the end
# must not say "complete" and exit 0 (the points are gone).
p = launch([*SMALL, "--out", "gone.h5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wait_for("gone.h5", p)
time.sleep(1)
os.remove("gone.h5")
rc, _, err = finish(p)
errs = errors(err)
check(rc == 1 and len(errs) == 1 and "gone.h5 no longer names the file this sweep wrote" in errs[0],
      f"a surface deleted during the sweep: exit 1, said so ({rc}: {errs})")

# A holder stopped (Ctrl-Z, a suspended job) stops beating; it keeps its lock on this host.
p = launch([*SMALL, "--out", "stopped.h5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wait_for("stopped.h5", p)
os.kill(p.pid, signal.SIGSTOP)
old = time.time() - 600
os.utime("stopped.h5.lock", (old, old))  # ten minutes without a heartbeat
rc2, _, err2 = run([*SMALL, "--out", "stopped.h5"])
os.kill(p.pid, signal.SIGCONT)
rc, _, err = finish(p)
check(rc2 == 1 and f"pid {p.pid}" in "".join(errors(err2)),
      f"a stopped holder's lock, 10 min without a heartbeat, is not taken over ({rc2}: {errors(err2)})")
check(rc == 0 and surface("stopped.h5")[1].all(),
      f"... and the holder, continued, completes its file ({rc}: {errors(err)})")

# The reader of stdout gone (`losscape sweep ... | head -1`): SIGPIPE must not kill the run.
loud = [a for a in SMALL if a != "--quiet"]
p = launch([*loud, "--progress-seconds", "0", "--out", "pipe.h5"], stdout=subprocess.PIPE,
           stderr=subprocess.PIPE)
p.stdout.readline()
p.stdout.close()
try:
    err = p.stderr.read()
    rc = p.wait(timeout=LIMIT)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    rc, err = None, ""
check(rc == 0 and surface("pipe.h5")[1].all(),
      f"stdout's reader gone: the sweep goes on and completes ({rc}: {errors(err)})")

# A surface that cannot be written (read-only): refused in one line, before the ranks open it.
shutil.copy("stopped.h5", "ro.h5")
ro = False
if os.geteuid() != 0:
    os.chmod("ro.h5", 0o444)
    ro = True
elif subprocess.run(["mount", "--bind", "ro.h5", "ro.h5"], capture_output=True).returncode == 0:
    ro = subprocess.run(["mount", "-o", "remount,bind,ro", "ro.h5"],
                        capture_output=True).returncode == 0
if ro:
    try:
        rc, _, err = run([*SMALL, "--out", "ro.h5"], np_=2)
    finally:
        if os.geteuid() == 0:
            unmount("ro.h5")
    errs = errors(err)
    check(rc == 1 and len(errs) == 1 and "ro.h5: cannot be written" in errs[0] and
          "MPI_ABORT" not in err, f"a read-only surface: one agreed line, no abort ({rc}: {errs})")
else:
    print("note: a read-only bind mount is not possible here; that check is left out")

# A disk too small for the surface (a 60 KiB tmpfs, where one can be mounted): refused before the
# file is created, naming its size and the space free (creating it filled the disk, and the
# MPI-IO driver's error did not say why), and nothing is left behind.
os.makedirs("full", exist_ok=True)
if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60k", "tmpfs", "full"],
                                        capture_output=True).returncode == 0:
    try:
        rc, _, err = run([*SMALL, "--out", "full/f.h5"], np_=2)
        left = sorted(os.listdir("full"))
        # A serial HDF5 write (directions) into the few KiB left: one line, exit 1 (HDF5's exit
        # handler crashed on the file whose close had failed: SIGSEGV, 139), no temporary left.
        for name in left:
            os.remove(os.path.join("full", name))
        st = os.statvfs("full")
        with open("full/fill", "wb") as f:
            f.write(b"\1" * (st.f_bavail * st.f_frsize - 4096))
        rc_d, _, err_d = run(["directions", "--arch", "cnn_small", "--dataset", "fashion-mnist",
                              "--out", "full/d.h5", "--quiet"])
        left_d = sorted(os.listdir("full"))
        # The same write by a sweep that makes its directions, under MPI: parallel HDF5 closed
        # the torn file again in MPI_Finalize's callback (SIGSEGV after the error, exit 139).
        # 12 KiB free: room for the two lock files (a page each), not for the directions.
        os.remove("full/fill")
        st = os.statvfs("full")
        with open("full/fill", "wb") as f:
            f.write(b"\1" * (st.f_bavail * st.f_frsize - 12288))
        rc_s, _, err_s = run([a for a in SMALL if a not in ("--directions", "d.h5")] + ["--out", "full/s.h5"], np_=2)
        left_s = sorted(os.listdir("full"))
        # a checkpoint that does not fit: its temporary is removed (it stayed, filling the disk)
        rc_t, _, err_t = run(["train", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--data-dir", DATA,
                              "--samples", "100", "--test-samples", "50", "--epochs", "1", "--batch-size", "50",
                              "--out", "full/tr", "--quiet"])
        left_t = sorted(os.listdir("full/tr")) if os.path.isdir("full/tr") else []
    finally:
        unmount("full")
    errs = errors(err)
    check(rc == 1 and len(errs) >= 1 and "full/f.h5: a surface of 121 points" in errs[0] and
          " free" in errs[0] and "MPI_ABORT" not in err and
          not [n for n in left if n.startswith("f.h5")],
          f"a disk too small for the surface: refused before creating it, nothing left ({rc}: "
          f"{errs[:1]}, left {left})")
    errs = errors(err_d)
    check(rc_d == 1 and len(errs) == 1 and "d.h5" in errs[0] and "No space left" in errs[0] and
          left_d == ["fill"],
          f"directions on a full disk: one line, exit 1 ({rc_d}: {errs}, left {left_d})")
    errs = errors(err_s)
    check(rc_s == 1 and len(errs) == 1 and re.search(r"s\.dirs\.h5\.\d+\.writing: flush failed", errs[0]) and
          "No space left" in errs[0] and
          "Segmentation" not in err_s and left_s == ["fill"],
          f"a sweep making its directions on a full disk (2 ranks): one line, exit 1, no crash "
          f"({rc_s}: {errs}, {err_s[-300:]!r}, left {left_s})")
    errs = errors(err_t)
    check(rc_t == 1 and len(errs) == 1 and "No space left" in errs[0] and
          not [n for n in left_t if n.endswith(".tmp")],
          f"train on a full disk: one line, exit 1, no temporary left ({rc_t}: {errs}, left {left_t})")
else:
    print("note: a small tmpfs cannot be mounted here; the full-disk check is left out")

conclude()

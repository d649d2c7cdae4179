"""`losscape sweep` through the command line and mpirun, as a job script would run it:
  - eval == sweep: at sampled grid points, `losscape eval` of the explicitly perturbed model
    (θ* + αδ + βη written here with h5py/numpy into a checkpoint) gives the surface's values;
  - --config sweep.json gives the same file as the flags; the effective config is stored;
  - SIGUSR1 to mpirun and SIGTERM to a rank end the sweep with exit 75 after a final flush
    (points done although the flush interval was never reached), and the same command resumes;
  - a lock taken over by another job while this one was stopped (suspended): exit 1 at the next
    round, naming the new holder, nothing more written, the new holder's lock left alone;
  - SIGKILL of the whole job (the ranks and mpirun) at random moments, in a loop, until the
    sweep completes: every killed file opens and resumes, finished points never go back to
    unfinished, a resumed run computes exactly the points the file lacked, and the final surface
    equals an uninterrupted run.
Environment: LOSSCAPE, MPIEXEC, TEST_WORK_DIR. Exit 77 = skipped."""
import gzip
import hashlib
import json
import os
import random
import re
import resource
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

from clitest import (FASHION_MNIST as DATA, MPI_FLAGS, MPIEXEC, check, conclude,  # noqa: E402
                     errors, run, setup, text)

EXE = setup("/tmp/losscape-test-sweep-cli")


def done_count(path):
    with h5py.File(path, "r") as f:
        return int(np.asarray(f["done"]).sum())


def values(path, name):
    with h5py.File(path, "r") as f:
        return np.asarray(f[name], dtype=np.float64), np.asarray(f["done"]).astype(bool)


# ---- a small trained model and its directions ----
DATA_ARGS = ["--dataset", "fashion-mnist", "--data-dir", DATA]
run(["train", "--arch", "cnn_small", *DATA_ARGS, "--samples", "600", "--epochs", "1",
     "--test-samples", "300", "--batch-size", "64", "--lr", "0.05", "--out", "run", "--quiet"])
model = "run/model_1.h5"
run(["directions", "--model-file", model, "--dataset", "fashion-mnist", "--out", "dirs.h5", "--seed", "5"])

SWEEP = ["sweep", "--model-file", model, "--directions", "dirs.h5", *DATA_ARGS,
         "--samples", "300", "--splits", "train,test", "--progress-seconds", "1000"]
GRID = ["--x", "-0.8:1.2:6", "--y", "-1:0.5:4"]  # non-square, not symmetric, 0 not on the x grid
NPTS = 6 * 4

# ---- usage errors under mpirun: exit 2 on every rank, said once (by rank 0) ----
for args, needle in [([*SWEEP, *GRID, "--bogus"], "not expected: --bogus"),
                     (["sweep", *GRID, *DATA_ARGS], "sweep: no model"),
                     # the serial commands: each rank would write the same files at once
                     (["train", "--arch", "cnn_small", *DATA_ARGS, "--samples", "100", "--epochs", "1",
                       "--out", "mpi_train"], "train is serial"),
                     (["directions", "--model-file", model, "--out", "mpi_dirs.h5"], "directions is serial"),
                     (["project", "--directions", "dirs.h5", "--checkpoints", "run", "--out", "mpi_proj.h5"],
                      "project is serial"),
                     # eval and info print, plot and export write: once, from one process
                     (["eval", "--model-file", model, *DATA_ARGS, "--samples", "100", "--json"],
                      "eval is serial"),
                     (["info", "dirs.h5"], "info is serial"),
                     (["plot", "dirs.h5", "-o", "mpi_plot"], "plot is serial"),
                     (["export", "dirs.h5", "--vtp", "mpi.vtp"], "export is serial")]:
    p = run(args, expect=2, mpi=2)
    said = errors(p.stderr)
    check(len(said) == 1 and needle in said[0],
          f"{needle}: one error line from 2 ranks (got {said})")
check(not [f for f in ("mpi_train", "mpi_dirs.h5", "mpi_proj.h5", "mpi_plot", "mpi.vtp")
           if os.path.exists(f)],
      "the serial commands under mpirun wrote nothing")

# ---- the reference surface, uninterrupted, 2 ranks ----
run([*SWEEP, *GRID, "--batch-size", "100", "--out", "ref.h5"], mpi=2)
ref_loss, ref_done = values("ref.h5", "train_loss")
check(ref_done.all(), "uninterrupted sweep completes every point")

# ---- every rank must run the same sweep into the same file: an MPMD launch with other flags,
# another working folder for a relative --out, another model or data under the same relative
# name are refused in one line before the file is made (they hung in the collective file open,
# or mixed two sweeps' values into one "complete" file) ----
def mpmd(a, b, wdirs=(".", ".")):
    cmd = [MPIEXEC, *MPI_FLAGS, "-n", "1", "-wdir", os.path.abspath(wdirs[0]), EXE, *a, ":",
           "-n", "1", "-wdir", os.path.abspath(wdirs[1]), EXE, *b]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", "hung (killed after 300 s)")


def refused(tag, p, out, *needles):
    lines = errors(p.stderr)
    check(p.returncode == 1 and len(lines) == 1 and all(n in lines[0] for n in needles) and
          not os.path.exists(out), f"{tag}: refused in one line, no file ({p.returncode}: {lines or p.stderr[-300:]})")


# A usage error on the second command line of an MPMD launch only: said by its first rank (rank
# 0, whose line is fine, is not the one to say it; the job exited 2 without a word).
p = mpmd(AGREE0 := ["sweep", "--arch", "cnn_small", *DATA_ARGS, "--samples", "10", "--x", "-1:1:3",
                    "--out", "mpmd_usage.h5", "--quiet"], [*AGREE0, "--x", "-1:1:5"])
lines = errors(p.stderr)
check(p.returncode == 2 and lines == ["losscape: error: --x is given more than once (losscape sweep --help lists "
                                      "the options) (rank 1, the first of mpirun's command line 2)"]
      and not os.path.exists("mpmd_usage.h5"), f"a usage error on rank 1's command line only: said ({p.returncode}: {lines})")

for d in ("rankA", "rankB"):
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    for f in os.listdir(DATA):
        shutil.copy(os.path.join(DATA, f), os.path.join(d, "data", f))
shutil.copy(model, "rankA/m.h5")
shutil.copy("run/model_0.h5", "rankB/m.h5")
AGREE = ["sweep", "--model-file", os.path.abspath(model), "--directions", os.path.abspath("dirs.h5"),
         "--dataset", "fashion-mnist", "--samples", "50", "--x", "-1:1:3", "--quiet"]
ABS = [*AGREE, "--data-dir", DATA, "--out", os.path.abspath("agree.h5")]
refused("ranks given other flags (MPMD)", mpmd(ABS, [*ABS, "--loss", "mse"]), "agree.h5",
        "rank 1 runs another sweep than rank 0", 'its loss is "mse", rank 0\'s "crossentropy"')
# modes that take their own collective paths: a hang before (rank 0 stopped at --stop-after or
# dry-ran while rank 1 ran on; the comparison had left them out)
refused("--stop-after on rank 0 only (MPMD)", mpmd([*ABS, "--stop-after", "1"], ABS), "agree.h5",
        "its --stop-after is 0, rank 0's 1")
refused("--dry-run on rank 0 only (MPMD)", mpmd([*ABS, "--dry-run"], ABS), "agree.h5",
        "its --dry-run is false, rank 0's true")
# a setting given on one rank only is named (the ranks' lists were compared item by item: the
# next setting was named, 'its arch is true, rank 0's "cnn_small"')
refused("--allow-other-model on rank 1 only (MPMD)", mpmd(ABS, [*ABS, "--allow-other-model"]), "agree.h5",
        "its allow_other_model is true, rank 0's not given")
refused("--hessian on rank 0 only (MPMD)", mpmd([*ABS, "--hessian"], ABS), "agree.h5",
        "its hessian is false, rank 0's true")
# The same files written another way on each rank (./m.h5, a trailing / of the data folder, an
# absolute --out): one sweep, whose file records rank 0's spelling (each rank wrote its own into
# the attributes being made, which hung or left a damaged file)
SPELT = ["sweep", "--model-file", os.path.relpath(model), "--directions", "dirs.h5", "--dataset",
         "fashion-mnist", "--samples", "50", "--x", "-1:1:3", "--quiet", "--data-dir", DATA, "--out", "spelt.h5"]
SPELT2 = [("./" + a if a in (os.path.relpath(model), "dirs.h5") else a + "/" if a == DATA else
           os.path.abspath(a) if a == "spelt.h5" else a) for a in SPELT]
p = mpmd(SPELT, SPELT2)
with h5py.File("spelt.h5", "r") as f:
    spelt_cfg = json.loads(f.attrs["config"])
    spelt_done = int(f["done"][()].sum())
check(p.returncode == 0 and spelt_done == 3 and spelt_cfg["out"] == "spelt.h5" and
      spelt_cfg["directions"] == "dirs.h5", f"the same files spelt otherwise on rank 1: one sweep, rank 0's "
      f"spelling recorded ({p.returncode}: {p.stderr[-300:]}; {spelt_done} done, {spelt_cfg.get('out')})")
# Another --out on rank 1 of a sweep that makes its directions: refused as such before the
# directions are made (rank 1 looked for its own mo_b.dirs.h5, "no such file (rank 1)", and the
# mo_a.dirs.h5 rank 0 had made was left)
NODIR = [a for i, a in enumerate(AGREE) if a != "--directions" and (i == 0 or AGREE[i - 1] != "--directions")]
p = mpmd([*NODIR, "--data-dir", DATA, "--out", "mo_a.h5"], [*NODIR, "--data-dir", DATA, "--out", "mo_b.h5"])
refused("another --out on rank 1, directions made by the sweep", p, "mo_a.h5", "its --out is", "mo_b.h5")
check(not any(os.path.exists(f) for f in ("mo_b.h5", "mo_a.dirs.h5", "mo_b.dirs.h5")),
      f"... no directions made ({[f for f in os.listdir('.') if f.startswith('mo_')]})")
# --directions given on rank 0 only: refused before the lock and any directions are made
p = mpmd([*ABS[:-2], "--out", "md_a.h5"], [*NODIR, "--data-dir", DATA, "--out", "md_a.h5"])
refused("--directions on rank 0 only (MPMD)", p, "md_a.h5", "its --directions is not given, rank 0's given")
check(not any(f.startswith("md_a") for f in os.listdir(".")), f"... nothing left ({os.listdir('.')})")
# A --directions file is compared by what it holds: a per-node copy at another path is the same
# sweep (the paths were compared: refused), other directions are refused by their fingerprint
shutil.copy("dirs.h5", "rankB/copy.dirs.h5")
COPY = [a if a != os.path.abspath("dirs.h5") else os.path.abspath("rankB/copy.dirs.h5") for a in ABS]
p = mpmd([*ABS[:-2], "--out", "copy.h5"], [*COPY[:-2], "--out", "copy.h5"])
check(p.returncode == 0 and done_count("copy.h5") == 3,
      f"a copy of the directions at another path on rank 1: one sweep ({p.returncode}: {p.stderr[-300:]})")
run(["directions", "--model-file", model, "--dataset", "fashion-mnist", "--out", "other.dirs.h5", "--seed", "6"])
p = mpmd([*ABS], [a if a != os.path.abspath("dirs.h5") else os.path.abspath("other.dirs.h5") for a in ABS])
refused("other directions on rank 1", p, "agree.h5", "its directions (fingerprint) is")
# --dataset on one rank only, the model's recorded data set on the other (the same): one sweep
# (the rank given --dataset skipped the broadcast of the recorded one: the other waited in it
# forever, or took a later message for it, MPI_ERR_TRUNCATE)
NODS = [a for i, a in enumerate(ABS) if a != "--dataset" and (i == 0 or ABS[i - 1] != "--dataset")]
for tag, pair in (("rank 0", ([*ABS[:-2], "--out", "ds0.h5"], [*NODS[:-2], "--out", "ds0.h5"])),
                  ("rank 1", ([*NODS[:-2], "--out", "ds1.h5"], [*ABS[:-2], "--out", "ds1.h5"]))):
    p = mpmd(*pair)
    out = pair[0][-1]
    check(p.returncode == 0 and done_count(out) == 3,
          f"--dataset on {tag} only, the model's own: one sweep ({p.returncode}: {p.stderr[-300:]})")
# A --config's "dataset": null counts as absent: the data set the checkpoint records (it was
# taken as given: fashion-mnist for a checkpoint of mnist, whose files have the same names)
shutil.copy(model, "mnist_ck.h5")
with h5py.File("mnist_ck.h5", "r+") as f:
    f.attrs["dataset"] = "mnist"
with open("null_ds.json", "w") as f:
    json.dump({"dataset": None, "x": "-1:1:3", "model_file": "mnist_ck.h5"}, f)
p = run(["sweep", "--config", "null_ds.json", "--data-dir", DATA, "--samples", "20", "--out", "null_ds.h5",
         "--dry-run"])
conf = json.loads(re.search(r"effective configuration: (\{.*\})", p.stdout).group(1))
check(conf["dataset"] == "mnist", f'"dataset": null in --config: the checkpoint\'s own ({conf["dataset"]})')
# A grid bound of -0 is 0: the same grid as written with 0 (a resume was refused, '"0:1:2" ...
# this command has "-0:1:2"')
Z = ["sweep", "--model-file", model, "--directions", "dirs.h5", *DATA_ARGS, "--samples", "20", "--quiet"]
run([*Z, "--x", "0:1:2", "--out", "z.h5"])
p = run([*Z, "--x=-0:1:2", "--out", "z.h5"])
check(p.returncode == 0 and done_count("z.h5") == 2, f"--x -0:1:2 resumes a sweep of --x 0:1:2 ({p.returncode}: {p.stderr.strip()})")
# A working folder whose name is not UTF-8 (JSON's text): the ranks' --out compared as bytes
# (a nlohmann type_error on every rank before)
odd = b"odd\xff".decode("utf-8", "surrogateescape")
os.makedirs(odd, exist_ok=True)
p = mpmd([*ABS[:-2], "--out", "s.h5"], [*ABS[:-2], "--out", "s.h5"], (odd, odd))
check(p.returncode == 0 and done_count(os.path.join(odd, "s.h5")) == 3,
      f"2 ranks in a folder whose name is not UTF-8: one sweep ({p.returncode}: {p.stderr[-300:]})")
refused("a relative --out from two working folders",
        mpmd([*AGREE, "--data-dir", DATA, "--out", "s.h5"], [*AGREE, "--data-dir", DATA, "--out", "s.h5"],
             ("rankA", "rankB")), "rankA/s.h5", "its --out is", "rankB/s.h5")
OTHER = [a if a != os.path.abspath(model) else "m.h5" for a in ABS] + ["--allow-other-model"]
refused("another model under the same relative name", mpmd(OTHER, OTHER, ("rankA", "rankB")),
        "agree.h5", "its model (fingerprint of its weights) is")
with gzip.open("rankB/data/train-labels-idx1-ubyte.gz") as f:
    labels = bytearray(f.read())
labels[100] = (labels[100] + 1) % 10
with gzip.open("rankB/data/train-labels-idx1-ubyte.gz", "wb") as f:
    f.write(bytes(labels))
REL = [*AGREE, "--data-dir", "data", "--out", os.path.abspath("agree.h5")]
refused("other data under the same relative folder", mpmd(REL, REL, ("rankA", "rankB")),
        "agree.h5", "its train data as read is", "60000 samples, fnv1a64:")
# The data as read is part of the surface's identity: a resume or a fan-out part on another copy
# of the data set (here one label changed) is refused, not mixed into the file ----
ONE = ["sweep", "--model-file", os.path.abspath(model), "--directions", os.path.abspath("dirs.h5"),
       "--dataset", "fashion-mnist", "--samples", "50", "--x", "-1:1:5", "--quiet", "--points-per-forward", "1"]
p = run([*ONE, "--data-dir", DATA, "--out", "dd.h5", "--stop-after", "2"], expect=75)
check(f"losscape: note: {os.path.abspath('dirs.h5')} holds two directions; a 1D sweep (no --y) follows x alone"
      in p.stderr, f"a 1D sweep with a file of two directions: a note says y is unused ({p.stderr.strip()})")
before = open("dd.h5", "rb").read()
p = run([*ONE, "--data-dir", "rankB/data", "--out", "dd.h5"], expect=1)
check("dd.h5 belongs to another sweep: its data (each split's files as read, hashed) is {\"train\":\"fnv1a64:" in p.stderr
      and open("dd.h5", "rb").read() == before, f"a resume on another copy of the data: refused, file untouched ({p.stderr.strip()})")
p = run([*ONE, "--y", "-1:1:3", "--data-dir", DATA, "--out", "dd.h5"], expect=1)
check('its --y grid is none (1D), this command has "-1:1:3"' in p.stderr,
      f"a 2D command on a 1D surface: its y named as none (1D), not \"\" ({p.stderr.strip()})")
run([*ONE, "--data-dir", DATA, "--out", "dd1.h5", "--part", "1/2"])
run([*ONE, "--data-dir", "rankB/data", "--out", "dd2.h5", "--part", "2/2"])
p = run(["merge", "dd1.h5", "dd2.h5", "--out", "ddm.h5"], expect=1)
check("dd2.h5 is not a part of the same sweep as dd1.h5: its data (each split's files as read, hashed)" in p.stderr
      and not os.path.exists("ddm.h5"), f"merging parts computed on two copies of the data: refused ({p.stderr.strip()})")
# θ*'s BatchNorm statistics are part of the identity too (they change every value as the weights
# do): a resume or a part with the same weights but other running statistics is refused
shutil.copy(model, "bn_other.h5")
with h5py.File("bn_other.h5", "r+") as f:
    var = f["state/bn1.running_var"][()]
    var[0] *= 1.5
    f["state/bn1.running_var"][...] = var
BN = [a if a != os.path.abspath(model) else os.path.abspath("bn_other.h5") for a in ONE]
p = run([*BN, "--data-dir", DATA, "--out", "dd.h5"], expect=1)
check("dd.h5 belongs to another sweep: its model's buffers (BatchNorm statistics; fingerprint of θ*'s buffers) are "
      "\"fnv1a64:" in p.stderr and open("dd.h5", "rb").read() == before,
      f"a resume with other BatchNorm statistics (same weights): refused, file untouched ({p.stderr.strip()})")
run([*BN, "--data-dir", DATA, "--out", "bn2.h5", "--part", "2/2"])
p = run(["merge", "dd1.h5", "bn2.h5", "--out", "bnm.h5"], expect=1)
check("bn2.h5 is not a part of the same sweep as dd1.h5: its model's buffers (BatchNorm statistics" in p.stderr
      and not os.path.exists("bnm.h5"), f"merging parts of two BatchNorm states: refused ({p.stderr.strip()})")
# A resume's progress line counts the points it found done in its lowest loss (it gave the lowest
# of its own points alone, beside a count of all): here they are made lower than any computed
shutil.copy("dd.h5", "lo.h5")
with h5py.File("lo.h5", "r+") as f:
    done = f["done"][()].astype(bool)
    loss = f["train_loss"][()]
    loss[done] = 0.001
    f["train_loss"][...] = loss
p = run([a for a in ONE if a != "--quiet"] + ["--data-dir", DATA, "--out", "lo.h5", "--progress-seconds", "0"])
lines = [l for l in p.stdout.splitlines() if l.startswith("[sweep] ")]
check(int(done.sum()) == 2 and lines and lines[-1].startswith("[sweep] 5/5 points") and
      lines[-1].endswith("lowest loss 0.001000"), f"a resume's lowest loss counts the points found done ({lines[-1:]})")
# A file of an earlier version (no data or buffers' fingerprint in its identity) still resumes, and
# merges with a part that has them; the merged file keeps them
shutil.copy("dd1.h5", "old1.h5")
for old in ("dd.h5", "old1.h5"):
    with h5py.File(old, "r+") as f:
        ident = json.loads(f.attrs["identity"])
        del ident["data"], ident["buffers_fingerprint"], ident["network"]
        f.attrs["identity"] = json.dumps(ident)
run([*ONE, "--data-dir", DATA, "--out", "dd.h5"])
check(done_count("dd.h5") == 5, "a surface without the data hash (an earlier version's) resumes")
run([*ONE, "--data-dir", DATA, "--out", "dd2same.h5", "--part", "2/2"])
run(["merge", "old1.h5", "dd2same.h5", "--out", "oldm.h5"])
with h5py.File("oldm.h5", "r") as f, h5py.File("dd2same.h5", "r") as g:
    merged, part = json.loads(f.attrs["identity"]), json.loads(g.attrs["identity"])
check(merged.get("buffers_fingerprint") == part["buffers_fingerprint"] and merged.get("data") == part["data"]
      and merged.get("network") == part["network"] == "cnn_small",
      f"an earlier version's part merged with a new one: the merged file has the new one's entries ({merged})")

p = mpmd(REL, REL, ("rankA", "rankA"))
check(p.returncode == 0 and os.path.exists("agree.h5"), f"... the same data in both: the sweep runs ({p.stderr[-300:]})")
# info names what was swept and sums up each value: lowest, highest, at θ* (as h5py reads them)
j = json.loads(run(["info", "--json", "agree.h5"]).stdout)
with h5py.File("agree.h5", "r") as f:
    loss, xs = np.asarray(f["train_loss"]), np.asarray(f["xcoordinates"])
s = j.get("summary", {}).get("train_loss", {})
check(s.get("min") == loss.min() and s.get("max") == loss.max() and s.get("at_origin") == loss[1] and
      s.get("min_at") == [xs[loss.argmin()]] and s.get("non_finite") == 0 and
      j.get("model_file") == os.path.abspath(model) and j.get("dir_file") == os.path.abspath("dirs.h5"),
      f"info --json: the model, the directions, each value's range and its value at θ* ({s}, {j.get('model_file')})")
info_text = run(["info", "agree.h5"]).stdout
check(f"model        {os.path.abspath(model)} (fingerprint fnv1a64:" in info_text and "at θ* (0): " in info_text,
      f"info: the same in words:\n{info_text}")
# a point whose loss is NaN (a diverged model there): its accuracy is no measurement either
shutil.copy("agree.h5", "agree_nan.h5")
with h5py.File("agree_nan.h5", "r+") as f:
    f["train_loss"][1] = np.nan  # (at θ*)
    acc = np.delete(np.asarray(f["train_acc"]), 1)
s = json.loads(run(["info", "--json", "agree_nan.h5"]).stdout)["summary"]
check(s["train_loss"]["non_finite"] == 1 and s["train_acc"]["non_finite"] == 1 and
      s["train_acc"]["min"] == acc.min() and s["train_acc"]["max"] == acc.max() and
      s["train_acc"]["at_origin"] is None,
      f"info: the accuracy where the loss is NaN counted as non-finite, not in min/max, null at θ* ({s['train_acc']})")

# ---- eval == sweep at sampled points, on the explicitly perturbed model ----
with h5py.File("dirs.h5", "r") as f:
    names = [text(n) for n in f.attrs["names"]]
    dx = [np.asarray(f["xdirection"][str(i)]) for i in range(len(names))]
    dy = [np.asarray(f["ydirection"][str(i)]) for i in range(len(names))]
with h5py.File("ref.h5", "r") as f:
    xs, ys = np.asarray(f["xcoordinates"]), np.asarray(f["ycoordinates"])
    surf = {k: np.asarray(f[k]) for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
rng = random.Random(11)
for iy, ix in [(0, 0), (3, 5), (rng.randrange(4), rng.randrange(6))]:
    a, b = float(xs[ix]), float(ys[iy])
    shutil.copy(model, "perturbed.h5")
    with h5py.File("perturbed.h5", "r+") as f:
        for i, n in enumerate(names):
            t = np.asarray(f["state"][n], dtype=np.float64)
            f["state"][n][...] = (t + a * dx[i] + b * dy[i]).astype(np.float32)
    for split, flag in (("train", "--split"), ("test", "--splits")):  # --splits: an alias
        p = run(["eval", "--model-file", "perturbed.h5", *DATA_ARGS, flag, split,
                 "--samples", "300", "--batch-size", "100", "--json"])
        try:
            r = json.loads(p.stdout)
        except ValueError:
            check(False, f"eval --json prints JSON: {p.stdout[:200]!r}")
            continue
        sl, sa = surf[f"{split}_loss"][iy, ix], surf[f"{split}_acc"][iy, ix]
        check(abs(r["loss"] - sl) <= 1e-5 * max(1.0, abs(sl)),
              f"eval at ({a:.2f}, {b:.2f}) {split} loss {r['loss']:.7f} == sweep {sl:.7f}")
        check(abs(r["accuracy"] - sa) <= 1e-9 + 100.0 / 300 * 0.5,
              f"eval at ({a:.2f}, {b:.2f}) {split} accuracy {r['accuracy']:.3f} == sweep {sa:.3f}")

# `sweep --split` is an alias of --splits (eval and the others take --split)
run([*[a for a in SWEEP if a not in ("--splits", "train,test")], *GRID, "--batch-size", "100",
     "--split", "test", "--out", "split_alias.h5"], mpi=1)
check(np.allclose(values("split_alias.h5", "test_loss")[0], surf["test_loss"], rtol=1e-6, atol=0),
      "sweep --split test gives the test surface")
with h5py.File("split_alias.h5", "r") as f:
    check("train_loss" not in f, "... and only that split")

# ---- --config with the same keys gives the same surface; the effective config is stored ----
cfg = {"model_file": model, "directions": "dirs.h5", "dataset": "fashion-mnist", "data_dir": DATA,
       "samples": 300, "splits": ["train", "test"], "batch_size": "100", "x": "-0.8:1.2:6",
       "y": "-1:0.5:4", "out": "cfg.h5", "quiet": True}
with open("sweep.json", "w") as f:
    json.dump(cfg, f)
run(["sweep", "--config", "sweep.json"], mpi=1)
cfg_loss, cfg_done = values("cfg.h5", "train_loss")
check(cfg_done.all() and np.allclose(cfg_loss, ref_loss, rtol=1e-6, atol=0),
      "--config sweep.json (1 rank) equals the flags' surface (2 ranks)")
with h5py.File("cfg.h5", "r") as f:
    stored = json.loads(text(f.attrs["config"]))
check(stored.get("x") == "-0.8:1.2:6" and stored.get("samples") == 300,
      "the effective configuration is stored in the file")
# Which losscape wrote it: the version and source revision --version prints, in the file's
# attributes and in its run's log entry.
revision = subprocess.run([EXE, "--version"], capture_output=True, text=True).stdout
revision = revision.rsplit("(revision ", 1)[-1].rstrip().rstrip(")")
with h5py.File("cfg.h5", "r") as f:
    rev_attr = text(f.attrs["losscape_revision"])
    last_run = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())[-1]
check(revision and rev_attr == revision and last_run.get("losscape_revision") == revision,
      f"the surface and its run log record the source revision {revision!r} "
      f"(attribute {rev_attr!r}, run log {last_run.get('losscape_revision')!r})")
with open("bad.json", "w") as f:
    json.dump({**cfg, "flush_secnds": 3}, f)
p = run(["sweep", "--config", "bad.json"], expect=1)
check("flush_secnds" in p.stderr and "bad.json" in p.stderr, "an unknown config key is named with the file")
# a value out of range from the file is named by the file and key, not by a flag nobody typed;
# the same value from a flag is named by the flag (under mpirun too: said once)
for key, value, want in (("samples", -5, 'bad.json: "samples" must not be negative'),
                         ("x", "1:-1:3", 'bad.json: "x" \'1:-1:3\': MAX must be greater than MIN'),
                         ("batch_size", 0, 'bad.json: "batch_size" must be at least 1'),
                         # (these named the value alone, or the flag: "unknown precision 'fp64'")
                         ("precision", "fp64", 'bad.json: "precision" \'fp64\': unknown precision'),
                         ("loss", "l1", 'bad.json: "loss" \'l1\': unknown loss'),
                         ("device", "gpu", 'bad.json: "device" \'gpu\': unknown device'),
                         ("dataset", "imagenet", 'bad.json: "dataset": unknown data set \'imagenet\''),
                         ("splits", ["train", "train"], 'bad.json: "splits": \'train\' is given twice'),
                         ("dir", {"type": "foo"}, "bad.json: config: dir.type 'foo': expected weights or states"),
                         # ("" was taken for none: unnormalized directions, the biases perturbed)
                         ("dir", {"x": {"norm": ""}}, "bad.json: dir.x.norm: an empty normalization; write none "
                          "for no normalization (the reference's '')"),
                         ("dir", {"x": {"ignore": ""}}, 'bad.json: config: dir.x.ignore "": expected "biasbn" '
                          'or "none"'),
                         # (last: the flag's case below runs on this file)
                         ("flush_seconds", -1, 'bad.json: "flush_seconds" must be a positive number')):
    with open("bad.json", "w") as f:
        json.dump({**cfg, key: value}, f)
    p = run(["sweep", "--config", "bad.json", "--dry-run"], expect=1, mpi=2)
    check(p.stderr.startswith("losscape: error: " + want) and p.stderr.count("losscape: error") == 1,
          f"config {key} {value!r}: named by file and key, once ({p.stderr.splitlines()[0]})")
# a target model the file names that cannot be read: by the file and key (it named the model
# file alone: "nonexist.h5: no such model file")
with open("target.json", "w") as f:
    json.dump({**{k: v for k, v in cfg.items() if k != "directions"}, "dir": {"x": {"target": "nonexist.h5"}}}, f)
p = run(["sweep", "--config", "target.json", "--dry-run"], expect=1)
check(p.stderr.strip() == "losscape: error: target.json: dir.x.target: nonexist.h5: no such model file",
      f"a config's missing target model: named by file and key ({p.stderr.strip()})")
p = run(["sweep", "--config", "bad.json", "--dry-run", "--flush-seconds", "-2"], expect=1)
check("error: --flush-seconds must be a positive number" in p.stderr, f"... a flag by its flag ({p.stderr.strip()})")

# A direction flag overrides its own key of the config's "dir", not the whole block: the
# directions made are of type states, layer-normalized (from the file), with seed 7 (the flag).
with open("dir.json", "w") as f:
    json.dump({"model_file": model, "data_dir": DATA, "samples": 100, "x": "-0.5:0.5:3",
               "dir": {"type": "states", "x": {"norm": "layer"}}, "out": "dirmerge.h5",
               "quiet": True}, f)
run(["sweep", "--config", "dir.json", "--seed", "7"], mpi=1)
with h5py.File("dirmerge.dirs.h5", "r") as f:
    made = json.loads(text(f.attrs["settings"]))
check(made.get("type") == "states" and made.get("x", {}).get("norm") == "layer" and
      made.get("seed") == 7 and made.get("dims") == 1,
      f"--seed with --config keeps the config's other direction options: {made}")

# A fresh zoo network: --init-seed gives the θ* that `directions --arch --init-seed` made the
# directions for (their fingerprint check passes), another seed is refused by that check.
run(["directions", "--arch", "cnn_small", "--init-seed", "5", "--dims", "1", "--out", "fresh.h5",
     "--quiet"])
FRESH = ["sweep", "--arch", "cnn_small", "--directions", "fresh.h5", "--data-dir", DATA,
         "--samples", "100", "--x", "-0.5:0.5:3", "--quiet"]
run([*FRESH, "--init-seed", "5", "--out", "fresh5.h5"])
p = run([*FRESH, "--out", "fresh0.h5"], expect=1)
check("fresh.h5" in p.stderr and "--init-seed" in p.stderr,
      f"the default --init-seed 0 is another θ*: refused by the fingerprint check: {p.stderr.strip()}")

# ---- without --dataset, the data set the checkpoint records ----
# The same weights recorded as trained on MNIST (same 1x28x28 input, other normalization; the
# Fashion-MNIST files stand in for MNIST's, whose file names are the same).
shutil.copy(model, "as_mnist.h5")
with h5py.File("as_mnist.h5", "r+") as f:
    f.attrs["dataset"] = np.bytes_("mnist")
LITTLE = ["--directions", "dirs.h5", "--data-dir", DATA, "--samples", "100", "--x", "-0.5:0.5:3",
          "--quiet"]
run(["sweep", "--model-file", "as_mnist.h5", *LITTLE, "--out", "rec.h5"], mpi=1)
run(["sweep", "--model-file", "as_mnist.h5", *LITTLE, "--dataset", "mnist", "--out", "mn.h5"], mpi=1)
run(["sweep", "--model-file", "as_mnist.h5", *LITTLE, "--dataset", "fashion-mnist",
     "--out", "fm.h5"], mpi=1)
rec, mn, fm = (values(p, "train_loss")[0] for p in ("rec.h5", "mn.h5", "fm.h5"))
with h5py.File("rec.h5", "r") as f:
    rec_cfg = json.loads(text(f.attrs["config"]))
# (--batch-size auto may choose other batch sizes run to run: equal up to float32 rounding)
check(rec_cfg.get("dataset") == "mnist" and np.allclose(rec, mn, rtol=1e-6, atol=0) and
      not np.allclose(rec, fm, rtol=1e-3),
      "sweep without --dataset evaluates on the data set the checkpoint records (mnist), "
      "--dataset overrides it")
with open("nodata.json", "w") as f:
    json.dump({"model_file": "as_mnist.h5", "directions": "dirs.h5", "data_dir": DATA,
               "samples": 100, "x": "-0.5:0.5:3", "out": "rec_cfg.h5", "quiet": True}, f)
run(["sweep", "--config", "nodata.json"], mpi=1)
check(np.allclose(values("rec_cfg.h5", "train_loss")[0], mn, rtol=1e-6, atol=0),
      "a --config file without \"dataset\" also takes the checkpoint's")
p = run(["eval", "--model-file", "as_mnist.h5", "--data-dir", DATA, "--samples", "100", "--json"])
check(json.loads(p.stdout or "{}").get("data", "").startswith("mnist"),
      f"eval without --dataset names the checkpoint's data set: {p.stdout[:120]!r}")

# ---- the default threads: the CPUs a rank may run on (its affinity) / the ranks sharing them
# (all the node's cores / ranks on it, before: a rank bound to one core, or a job given 4 cores
# of a shared node, started a thread per core of the node) ----
cpus = len(os.sched_getaffinity(0))
THR = ["sweep", "--model-file", model, "--dataset", "fashion-mnist", "--data-dir", DATA,
       "--samples", "50", "--x", "-1:1:3", "--out", "thr.h5", "--dry-run"]
ROOT = ["--allow-run-as-root"] if os.getuid() == 0 else []
for n, bind, want in ((1, "none", cpus), (2, "none", max(1, cpus // 2)), (1, "core", 1)):
    if bind == "core" and cpus < 2:
        continue  # (one CPU: the same count either way)
    p = subprocess.run([MPIEXEC, *ROOT, "--oversubscribe", "--bind-to", bind, "-n", str(n), EXE, *THR],
                       capture_output=True, text=True)
    got = sorted(set(re.findall(r"cpu \((\d+) threads?\)", p.stdout + p.stderr)))
    check(p.returncode == 0 and got == [str(want)],
          f"-n {n} --bind-to {bind} on {cpus} CPUs: {want} threads per rank (got {got}, exit {p.returncode})")
if shutil.which("taskset") and cpus >= 2:
    first = min(os.sched_getaffinity(0))
    p = subprocess.run(["taskset", "-c", str(first), EXE, "eval", "--model-file", model, "--data-dir",
                        DATA, "--samples", "50", "--json"], capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout or "{}").get("device") == "cpu (1 thread)",
          f"eval under taskset -c {first}: 1 thread ({p.stdout[-200:]!r})")
check(not os.path.exists("thr.h5"), "(the dry runs wrote nothing)")

# ---- --dry-run: every check of a run, the plan printed, nothing computed or written ----
DRY0 = ["sweep", "--model-file", model, "--dataset", "fashion-mnist", "--samples", "100",
        "--x", "-1:1:5", "--quiet"]
DRY = [*DRY0, "--data-dir", DATA, "--y", "-1:1:3"]
p = run([*DRY, "--out", "dry.h5", "--dry-run"], mpi=2)
check("dry.h5: would be created" in p.stdout and "15 points; 15 to compute" in p.stdout and
      "dry.dirs.h5: would be made" in p.stdout,
      f"dry run of a new sweep (2 ranks): the plan: {p.stdout[:300]!r}")
check(not [f for f in os.listdir(".") if f.startswith("dry.")],
      f"... and no file was made: {sorted(f for f in os.listdir('.') if f.startswith('dry.'))}")
p = run([*DRY, "--out", "dry.h5", "--stop-after", "4", "--points-per-forward", "1"], expect=75, mpi=1)
m = re.fullmatch(r"losscape: interrupted: dry\.h5: (\d+) of 15 points done \((\d+) computed now\); run the "
                 r"same command again to resume", p.stderr.splitlines()[0])  # (then mpiexec's box)
check(m and m.group(1) == m.group(2) and p.stdout == "", f"--quiet and unfinished: one line on stderr ({p.stderr!r})")
before = (done_count("dry.h5"), open("dry.h5", "rb").read(), open("dry.dirs.h5", "rb").read())
with h5py.File("dry.h5", "r") as f:  # visited from θ*: the model itself first
    done = np.asarray(f["done"])
check(done[1, 2] == 1 and done.sum() >= 4, f"a sweep stopped after 4 points holds θ* (0, 0):\n{done}")
p = run([*DRY, "--out", "dry.h5", "--dry-run"], mpi=2)
check(f"would be resumed: {before[0]} of 15 points done" in p.stdout and
      f"{15 - before[0]} to compute" in p.stdout and "dry.dirs.h5: read" in p.stdout,
      f"dry run of a started sweep: what is done and what is left: {p.stdout[:300]!r}")
p = run([*DRY0, "--data-dir", DATA, "--y", "-1:1:4", "--out", "dry.h5", "--dry-run"], expect=1, mpi=2)
check(len(p.stderr.strip().splitlines()) >= 1 and "dry.h5 belongs to another sweep" in p.stderr and
      "(rank" not in p.stderr, f"dry run of another grid: refused like the run itself: {p.stderr.strip()[:200]}")
p = run([*DRY0, "--data-dir", "no-such-dir", "--y", "-1:1:3", "--out", "dry.h5", "--dry-run"],
        expect=1, mpi=2)
check("no-such-dir" in p.stderr, f"dry run with a missing data directory: named: {p.stderr.strip()[:200]}")
p = run(["sweep", "--model-file", model, "--dataset", "fashion-mnist", "--samples", "101",
         "--x", "-1:1:5", "--y", "-1:1:3", "--quiet", "--data-dir", DATA, "--data-shards", "2",
         "--out", "dry_sh.h5", "--dry-run"], mpi=2)
check("fashion-mnist train (101 of 60000 samples in 2 shards of 50-51)" in p.stdout,
      f"dry run with --data-shards: what the group holds, not rank 0's shard: {p.stdout[:600]!r}")
RUN_SH = ["sweep", "--model-file", model, "--dataset", "fashion-mnist", "--samples", "101",
          "--x", "-1:1:3", "--data-dir", DATA, "--data-shards", "2", "--directions", "dirs.h5",
          "--out", "run_sh.h5"]
p = run(RUN_SH, mpi=2)
check("fashion-mnist train (101 of 60000 samples in 2 shards of 50-51) on" in p.stdout,
      f"the start line with --data-shards says what the group holds, too: {p.stdout[:400]!r}")
p = run([*RUN_SH, "--dry-run"], mpi=2)
check("surface     run_sh.h5: complete: 3 of 3 points done (a run would compute nothing and leave "
      "it as it is)" in p.stdout, f"dry run of a complete surface: {p.stdout[:300]!r}")
# --identity-only: one process checks a file 2 ranks in data-shard groups made, with a GPU
# device named (the fan-out's merge job): what decides the values is compared, not the resources
p = run([*RUN_SH, "--dry-run"], expect=1, mpi=1)
check("--data-shards 2 must divide the number of ranks (1)" in p.stderr,
      f"a full dry run of that on 1 process: refused for the ranks: {p.stderr.strip()[:200]}")
p = run([*RUN_SH, "--dry-run", "--identity-only", "--device", "cuda"], mpi=1)
check("identity check of losscape sweep" in p.stdout and "run_sh.h5: complete: 3 of 3 points done" in p.stdout
      and "ranks       not checked (--identity-only" in p.stdout,
      f"--identity-only on 1 process, --device cuda on a CPU: the file is this sweep's: {p.stdout[:400]!r}")
p = run([*RUN_SH, "--dry-run", "--identity-only", "--loss", "mse"], expect=1, mpi=1)
check("run_sh.h5 belongs to another sweep" in p.stderr,
      f"--identity-only with another loss: refused: {p.stderr.strip()[:200]}")
# settings that need no device are still checked (as by a dry run): a bad config would pass the
# merge job's check otherwise
SHARDS0 = [a if a != "2" else "0" for a in RUN_SH]  # (--data-shards 2 -> 0)
assert SHARDS0.count("0") == 1
for args, says in (([*RUN_SH, "--batch-size", "0"], "--batch-size must be at least 1"),
                   ([*RUN_SH, "--memory-format", "foo"], "--memory-format 'foo'"),
                   (SHARDS0, "--data-shards must be at least 1")):
    p = run([*args, "--dry-run", "--identity-only"], expect=1, mpi=1)
    said = errors(p.stderr)
    check(said and says in said[0], f"--identity-only, {says}: refused ({p.stderr.strip()[:200]})")
p = run([*RUN_SH, "--identity-only"], expect=1, mpi=1)
check(p.stderr.startswith("losscape: error: --identity-only is a kind of --dry-run: give both"),
      f"--identity-only without --dry-run: refused: {p.stderr.strip()[:200]}")
p = run([*DRY, "--out", "dry.h5", "--dry-run", "--batch-size", "0"], expect=1, mpi=2)
check("--batch-size" in p.stderr, f"dry run with --batch-size 0: the run's error: {p.stderr.strip()[:200]}")
check(before == (done_count("dry.h5"), open("dry.h5", "rb").read(), open("dry.dirs.h5", "rb").read())
      and not os.path.exists("dry.h5.lock"), "dry runs changed nothing")

# ---- the last points in pieces: the same surface, and the progress moves while they run ----
# 2 ranks, 300 samples; a progress line after every report (interval 0) shows the finished
# pieces as fractions of a point (24 points: whole points are multiples of 4.17 %), never going
# back. With one point per pass in batches of 10, the last 2 of the 24 points go in 8 pieces
# each; with 2 points per pass in batches of 20, the tail's unit is a pass of 2 points (the last
# 4 points, 2 passes, in 8 pieces each) and a finished piece counts as a fraction of its pass's.
def tail_in_pieces(k, batch, start_line, out, what):
    p = run([*[a for a in SWEEP if a not in ("--progress-seconds", "1000")], *GRID,
             "--batch-size", str(batch), "--points-per-forward", str(k), "--progress-seconds", "0",
             "--out", out], mpi=2)
    check(start_line in p.stdout, f"{what}: the start line says how the tail goes: {p.stdout[:500]!r}")
    check(np.allclose(values(out, "train_loss")[0], ref_loss, rtol=1e-6, atol=0),
          f"{what}: the surface with pieces equals the reference")
    shown = [(int(m.group(1)), float(m.group(2)))
             for m in re.finditer(r"\[sweep\] (\d+)/24 points \(([\d.]+) %\)", p.stdout)]
    fractional = [pc for n, pc in shown if abs(pc * 24 / 100 - round(pc * 24 / 100)) > 0.05]
    check(shown and shown[-1] == (24, 100.0) and all(a[1] <= b[1] for a, b in zip(shown, shown[1:])),
          f"{what}: progress lines never go back and end at 24/24 (100 %): {shown[-4:]}")
    check(len(fractional) >= 1,
          f"{what}: the progress shows finished pieces as fractions of a point: {fractional[:4]}")
    check(p.stdout.count("[sweep] 24/24 points (100.0 %)") == 1,
          f"{what}: the last progress line once: {p.stdout.count('[sweep] 24/24 points (100.0 %)')}")


# one rank, a line at every report: the log ends on the whole count, once
p = run([*[a for a in SWEEP if a not in ("--progress-seconds", "1000")], "--x", "-1:1:5",
         "--points-per-forward", "1", "--progress-seconds", "0", "--out", "once1.h5"], mpi=1)
lines = [ln for ln in p.stdout.splitlines() if ln.startswith("[sweep]")]
check(lines and lines[-1].startswith("[sweep] 5/5 points (100.0 %)") and
      sum(ln.startswith("[sweep] 5/5 points") for ln in lines) == 1,
      f"1 rank, --progress-seconds 0: the last line once: {lines[-3:]}")
# 2 ranks, a line at every report: rank 1 reports each pass as it finishes, not its whole block
# (up to 16 points) with its next request, so the count moves a point at a time until the tail
# (the last points, in pieces, complete together); it had moved in steps of 16, 12, 9, ...
p = run(["sweep", "--model-file", model, "--directions", "dirs.h5", *DATA_ARGS, "--samples", "300",
         "--x", "-1:1:161", "--points-per-forward", "1", "--progress-seconds", "0",
         "--out", "steps.h5"], mpi=2)
counts = [int(m.group(1)) for m in re.finditer(r"\[sweep\] (\d+)/161 points", p.stdout)]
steps = [b - a for a, b in zip(counts, counts[1:]) if b < 150]
check(counts and counts[-1] == 161 and steps and max(steps) <= 1,
      f"2 ranks, --progress-seconds 0: the count moves a point at a time: "
      f"{[(a, b) for a, b in zip(counts, counts[1:]) if b - a > 1][:5]}")
# a long interval: the first report's line, then the final one
p = run([*SWEEP, "--x", "-1:1:5", "--points-per-forward", "1", "--out", "once2.h5"], mpi=2)
lines = [ln for ln in p.stdout.splitlines() if ln.startswith("[sweep]")]
check(lines and lines[-1].startswith("[sweep] 5/5 points (100.0 %)"),
      f"--progress-seconds 1000: the log ends on the whole count: {lines[-3:]}")

tail_in_pieces(1, 10, "the last 2 points: handed out in 8 pieces each", "pieces.h5",
               "1 point per pass")
tail_in_pieces(2, 20, "the last 4 points (2 passes of up to 2): handed out in 8 pieces per pass",
               "pieces2.h5", "2 points per pass")

# ---- restarts: a resumed start takes the first start's choices (batch size, layout, points per
# pass), untimed, and a pass holds the points of one chunk of K of the coarse-to-fine order, each
# in its place, a group of fewer than K points filled up to a whole pass of K, so the surface of
# several starts is bit for bit the one uninterrupted run with those choices gives (K = 5 on this
# CPU: a point's value depends on its place in the pass; stops after 7 and 4 points leave chunks
# partly done, which before 2026-12-05 shifted the later points' places) ----
def run_log(path):
    with h5py.File(path, "r") as f:
        return json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())


RESTART = [*SWEEP, "--x", "-1:1:7", "--y", "-1:1:7"]
for ranks, ppf, stops in [(0, "auto", [10, 13]), (2, "auto", [9]), (0, "8", [10, 5]), (2, "4", [7]),
                          (0, "5", [7, 6]), (2, "5", [4, 11])]:
    out = f"restarts_{ranks}_{ppf}.h5"
    args = [*RESTART, "--points-per-forward", ppf, "--out", out]
    for n in stops:
        run([*args, "--stop-after", str(n)], expect=75, mpi=ranks)
    p = run(args, mpi=ranks)
    log = run_log(out)
    first = {k: log[0][k] for k in ("batch_size", "memory_format", "points_per_forward", "cudnn_fusion")}
    check(len(log) == len(stops) + 1 and
          all({k: r[k] for k in first} == first for r in log) and
          all(r["startup_timing"].startswith(f"as this file's run of {log[0]['start']} (batch "
                                             f"{first['batch_size']}, {first['memory_format']}")
              for r in log[1:]) and
          f"start-up timing: as this file's run of {log[0]['start']}" in p.stdout,
          f"{ranks or 1} rank(s), --points-per-forward {ppf}: the resumed starts took the first start's "
          f"choices {first}, untimed: {[r['startup_timing'][:70] for r in log]}")
    whole = f"whole_{ranks}_{ppf}.h5"
    run([*RESTART, "--batch-size", str(first["batch_size"]), "--memory-format", first["memory_format"],
         "--points-per-forward", str(first["points_per_forward"]), "--out", whole], mpi=ranks)
    same = True
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        a, done = values(out, name)
        b, _ = values(whole, name)
        same = same and done.all() and np.array_equal(a, b)
    check(same, f"... and its surface of {len(stops) + 1} starts (stops after {stops} points) is bit "
                f"for bit the uninterrupted run's")
# A value given on the command line is used as given, the others still taken from the first start.
run([*RESTART, "--points-per-forward", "auto", "--stop-after", "3", "--out", "restarts_given.h5"], expect=75)
p = run([*RESTART, "--points-per-forward", "auto", "--batch-size", "7", "--out", "restarts_given.h5"])
first, last = run_log("restarts_given.h5")
check(last["batch_size"] == 7 and last["memory_format"] == first["memory_format"] and
      last["points_per_forward"] == first["points_per_forward"] and
      last["startup_timing"].startswith(f"as this file's run of {first['start']} ({first['memory_format']}, "),
      f"a given --batch-size 7 is used, the layout and points per pass reused: {last['startup_timing']}")

# `auto` tries no more points per pass than the grid has (a pass of more would repeat its last one).
p = run([*SWEEP, "--x", "-1:1:3", "--out", "three_points.h5"])
timing = [l for l in p.stdout.splitlines() if l.startswith("start-up timing:")]
check(len(timing) == 1 and "points per forward: 1 " in timing[0] and ", 2 " in timing[0] and
      ", 4 " not in timing[0] and run_log("three_points.h5")[0]["points_per_forward"] <= 3,
      f"a 3-point grid times 1 and 2 points per pass only: {timing}")

# ---- several grid points per forward pass: the same surface, stored in the configuration ----
p = run([*SWEEP, *GRID, "--batch-size", "100", "--points-per-forward", "4", "--cuda-graphs", "off",
         "--out", "ppf.h5"], mpi=2)
ppf_loss, ppf_done = values("ppf.h5", "train_loss")
check(ppf_done.all() and np.allclose(ppf_loss, ref_loss, rtol=1e-6, atol=0),
      "--points-per-forward 4 (2 ranks) equals one point per forward")
check("4 points per forward pass, 25 images of each point (100 in a pass)" in p.stdout, "the stacking is reported")
with h5py.File("ppf.h5", "r") as f:
    check(json.loads(text(f.attrs["config"])).get("points_per_forward") == "4",
          "points_per_forward is in the stored configuration")
    stored = json.loads(text(f.attrs["config"]))
    check(stored.get("cuda_graphs") == "off", "cuda_graphs is in the stored configuration")
    check(stored.get("cudnn_fusion") == "auto", "cudnn_fusion is in the stored configuration")
    log = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
    check(log[-1].get("cuda_graphs") is False and "cuda_graph_events" not in log[-1],
          "the run log says that no CUDA graphs were used (a CPU)")
    check(log[-1].get("cudnn_fusion") is False and "cudnn fusion" not in log[-1]["startup_timing"],
          "the run log says that cuDNN fusion was not used, nor tried (a CPU)")
# `info --json --values`: the run log's entries and the values as h5py reads them
info = json.loads(run(["info", "--json", "--values", "ppf.h5"]).stdout)
with h5py.File("ppf.h5", "r") as f:
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        check(np.array_equal(np.asarray(info["values"][name]), np.asarray(f[name])),
              f"info --values gives {name} as h5py reads it")
    check(np.array_equal(info["x"], f["xcoordinates"]) and np.array_equal(info["y"], f["ycoordinates"]),
          "info --values gives the coordinates")
    grid_shape = np.asarray(f["train_loss"]).shape
# ... and which points are done, as rows like the values' (a point marked not done, edited in a
# copy, is false there)
shutil.copy("ppf.h5", "ppf_partial.h5")
with h5py.File("ppf_partial.h5", "r+") as f:
    mask = np.asarray(f["done"]).copy()
    mask.flat[1] = 0
    f["done"][...] = mask
got = np.asarray(json.loads(run(["info", "--json", "--values", "ppf_partial.h5"]).stdout)["done"])
check(got.dtype == bool and got.shape == grid_shape and np.array_equal(got.ravel(), mask.ravel() != 0)
      and not got.ravel()[1] and got.ravel().sum() == mask.size - 1,
      f"info --values gives the done mask ({got.ravel().tolist()})")
last = info["runs"][-1]
check(len(last["devices"]) == 2 and last["points_per_forward"] == 4 and last["cuda_graphs"] is False
      and "config" not in last, "info --json gives the last run's devices and settings")
p = run(["info", "ppf.h5"])
check("devices cpu (" in p.stdout and ") x2" in p.stdout, "info names the devices of a run")
check(f"losscape {last['losscape_version']} (revision {revision})" in p.stdout,
      f"info names the build that computed a run: losscape {last['losscape_version']}, {revision}")
# A run whose entry still says "running" (the entry is written at the start and the end): running
# while its lock is held, else killed; its points are those the done mask gained since its start
# (until the next run's start for an earlier entry).
shutil.copy("ppf.h5", "info_killed.h5")
with h5py.File("info_killed.h5", "r+") as f:
    log = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
    earlier = dict(log[-1], status="running", points_computed=0, points_done_before=0)
    log[-1].update(status="running", points_computed=0, points_done_before=2)
    log.insert(len(log) - 1, earlier)
    raw = np.zeros(f["run_log"].shape, np.uint8)
    text_ = json.dumps(log).encode()
    raw[:len(text_)] = np.frombuffer(text_, np.uint8)
    f["run_log"][...] = raw
    done_now = int(np.asarray(f["done"]).sum())
runs = json.loads(run(["info", "--json", "info_killed.h5"]).stdout)["runs"]
check(runs[-1]["status"] == "killed" and runs[-1]["points_computed"] == done_now - 2 and
      runs[-1]["end"] == "" and "SIGKILL" in runs[-1].get("note", ""),
      f"info: a run left 'running' without its lock was killed: {runs[-1]['status']}, "
      f"{runs[-1]['points_computed']} points (done {done_now} - 2 before)")
check(runs[-2]["status"] == "killed" and runs[-2]["points_computed"] == 2,
      f"info: ... and an earlier one, followed by another run, too, with the points until that "
      f"run's start: {runs[-2]['status']}, {runs[-2]['points_computed']}")
with open("info_killed.h5.lock", "w") as f:  # held by this live process
    json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
runs = json.loads(run(["info", "--json", "info_killed.h5"]).stdout)["runs"]
p = run(["info", "info_killed.h5"])
check(runs[-1]["status"] == "running" and runs[-2]["status"] == "killed" and
      re.search(r"\.\. now: running, \d+ points", p.stdout) and ".. ?: killed (no final entry" in p.stdout,
      f"info: ... and running while a live process holds its lock: {runs[-1]['status']}; "
      f"{p.stdout[-400:]!r}")
os.remove("info_killed.h5.lock")

# ---- the lock follows a symbolic link at --out: a sweep of the link and one of the file share
# it (each took its own, and both wrote the file) ----
shutil.copy("cfg.h5", "lk.h5")
os.symlink("lk.h5", "lk_link.h5")
with open("lk.h5.lock", "w") as f:  # held by this live process
    json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
p = run([*SWEEP, *GRID, "--out", "lk_link.h5"], expect=1)
check("lk_link.h5 is being written by" in p.stderr and "lk.h5.lock" in p.stderr,
      f"a sweep through a link to a file another job holds: refused ({p.stderr.strip()})")
os.remove("lk.h5.lock")
# A link made before the first run (`ln -s /scratch/me/s.h5 s.h5`): the surface is made where it
# leads and the link stays (it was replaced by a file at the link's place, off the scratch space).
os.makedirs("scratch", exist_ok=True)
os.symlink("scratch/far.h5", "near.h5")
run([*SWEEP, *GRID, "--out", "near.h5"])
check(os.path.islink("near.h5") and done_count("scratch/far.h5") == 24,
      "a sweep to a dangling link at --out: the surface is made where the link leads, the link stays")
# A surface with a second hard link: a sweep under the other name takes that name's lock, so
# both wrote the file; refused in one line (the dry run too), the file untouched.
shutil.copy("cfg.h5", "hl.h5")
os.link("hl.h5", "hl_other.h5")
before = os.stat("hl.h5").st_mtime_ns
for extra in ([], ["--dry-run"]):
    p = run([*SWEEP, *GRID, "--out", "hl_other.h5", *extra], expect=1)
    check("hl_other.h5: the file has 2 hard links" in p.stderr and len(p.stderr.strip().splitlines()) == 1 and
          os.stat("hl.h5").st_mtime_ns == before and not os.path.exists("hl_other.h5.lock"),
          f"a sweep of a surface with two hard links {' '.join(extra)}: refused ({p.stderr.strip()})")
os.remove("hl_other.h5")
run([*SWEEP, *GRID, "--out", "hl.h5"])
check(done_count("hl.h5") == 24, "... once it has one name again, the sweep takes it")
# Directions made beside --out are shared by outs of one stem (c.h5, c.hdf5 make c.dirs.h5):
# their own lock keeps two sweeps from making them at once.
with open("dl.dirs.h5.lock", "w") as f:
    json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
p = run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "50", "--x", "-1:1:3",
         "--out", "dl.hdf5", "--quiet"], expect=1)
check("dl.dirs.h5 is being written by" in p.stderr and not os.path.exists("dl.dirs.h5") and
      not os.path.exists("dl.hdf5"), f"directions another sweep is making: refused ({p.stderr.strip()})")
os.remove("dl.dirs.h5.lock")

# ---- grids a typo makes: refused in one line before anything is written ----
for x, y, says in (("1:1.0000000000000002:3", None, "below the precision of the bounds"),
                   ("-1:1:2000000000", None, "NUM above 1000000000"),
                   ("-1:1:40000", "-1:1:40000", "40000 x 40000 points, above 1000000000")):
    p = run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "50", "--x", x,
             *(["--y", y] if y else []), "--out", "typo.h5", "--dry-run"], expect=1)
    check(says in p.stderr and len(p.stderr.strip().splitlines()) == 1 and
          not os.path.exists("typo.h5"), f"--x {x} {'--y ' + y if y else ''}: refused ({p.stderr.strip()})")
# A grid within that limit whose bookkeeping (~40 bytes a point on every rank) does not fit the
# memory the process may take: refused in one line, with the dry run too (it was killed by the
# OOM killer without a word, or failed inside HDF5 under ulimit -v, after a dry run that passed).
def as_limit_2gb():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))
p = subprocess.run([os.environ["LOSSCAPE"], "sweep", "--model-file", model, *DATA_ARGS, "--samples", "50",
                    "--x", "-1:1:10000", "--y", "-1:1:10000", "--out", "big.h5", "--dry-run"],
                   capture_output=True, text=True, preexec_fn=as_limit_2gb)
check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and
      "a grid of 100000000 points (-1:1:10000 x -1:1:10000) needs about 4 GB of memory on each rank" in p.stderr
      and "(ulimit -v)" in p.stderr and not os.path.exists("big.h5"),
      f"a 10^8-point grid under ulimit -v 2 GB: refused ({p.returncode}: {p.stderr.strip()})")
# A file name Open MPI's MPI-IO cannot open (it aborted the job from 236 characters on).
p = run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "50", "--x", "-1:1:3",
         "--out", "n" * 237 + ".h5"], expect=1)
check(p.stderr.strip().endswith("a file name of 240 characters; at most 200 (Open MPI's MPI-IO fails on longer ones)")
      and not any(f.startswith("nnnn") for f in os.listdir(".")), f"--out with a 240-character name: refused ({p.stderr.strip()})")
# ... but the folders above it do not count: a path of ~500 characters (Open MPI 4.1's MPI-IO
# aborted from ~235 on, "buffer overflow detected", in a component losscape does not use)
deep = os.path.join("deep", *["d" * 120] * 4)
os.makedirs(deep)
p = run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "20", "--x", "-1:1:3",
         "--directions", "dirs.h5", "--out", f"{deep}/s.h5", "--quiet"], mpi=2)
with h5py.File(f"{deep}/s.h5", "r") as f:
    check(p.returncode == 0 and int(np.asarray(f["done"]).sum()) == 3,
          f"--out under a folder path of {len(deep)} characters, 2 ranks: swept ({p.stderr.strip()[-200:]})")
# The dry run says how large the file would be; the size checked against the free space is an
# upper bound of the file a sweep then writes.
p = run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "20", "--x", "-1:1:41",
         "--y", "-1:1:41", "--directions", "dirs.h5", "--out", "sized.h5", "--dry-run"])
m = re.search(r"would be created \(up to ([\d.]+) kB\)", p.stdout)
run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "20", "--x", "-1:1:41",
     "--y", "-1:1:41", "--directions", "dirs.h5", "--out", "sized.h5", "--quiet"])
size_kb = os.path.getsize("sized.h5") / 1e3
check(m and size_kb <= float(m.group(1)) <= size_kb + 40,
      f"--dry-run gives the file's size: {m and m.group(1)} kB, written {size_kb:.1f} kB")
# An empty file at --out is replaced, as by every output of losscape (it was refused as not HDF5).
open("empty_out.h5", "w").close()
run(["sweep", "--model-file", model, *DATA_ARGS, "--samples", "50", "--x", "-1:1:3",
     "--directions", "dirs.h5", "--out", "empty_out.h5", "--quiet"])
check(done_count("empty_out.h5") == 3, "sweep over an empty file at --out: replaced, computed")
p = run([*SWEEP, *GRID, "--cuda-graphs", "on", "--out", "cg_on.h5"], expect=1)
check(p.stderr.strip() == "losscape: error: --cuda-graphs 'on': expected auto or off",
      "--cuda-graphs takes auto or off, in one line")
p = run([*SWEEP, *GRID, "--points-per-forward", "2", "--hessian", "--out", "ppf_h.h5"], expect=1)
check("--hessian" in p.stderr and "one point at a time" in p.stderr,
      "--points-per-forward with --hessian is refused in one line")

# ---- a surface of the Python reference's (no format, no done mask) is not resumed: refused in
# one line on both ranks' behalf, the file left as it was ----
with h5py.File("reference_layout.h5", "w") as f:
    f["dir_file"] = "dirs.h5"
    f["xcoordinates"] = np.linspace(-0.8, 1.2, 6)
    f["ycoordinates"] = np.linspace(-1, 0.5, 4)
    f["train_loss"] = np.full((4, 6), -1.0)
before = open("reference_layout.h5", "rb").read()
p = run([*SWEEP, *GRID, "--out", "reference_layout.h5"], expect=1, mpi=2)
err = [l for l in p.stderr.splitlines() if l.startswith("losscape")]
check(len(err) == 1 and "reference_layout.h5" in err[0] and "Python reference" in err[0] and
      "new file" in err[0], f"sweeping into a reference-layout surface is refused: {err}")
check(open("reference_layout.h5", "rb").read() == before, "... and the file is left untouched")

# ---- SIGUSR1 to mpirun / SIGTERM to one rank: exit 75 after a final flush, then resume ----
SLOW = [*[a for a in SWEEP if a not in ("--progress-seconds", "1000")], "--x", "-1:1:9", "--y", "-1:1:9", "--batch-size", "10", "--flush-seconds", "3600"]


def start(args, mpi):
    cmd = ([MPIEXEC, *MPI_FLAGS, "-n", str(mpi)] if mpi else []) + [EXE, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "LOSSCAPE_PROGRESS": "lines"})


def wait_for_points(p, total, least, seconds=300):
    """Read the progress lines of a running sweep (LOSSCAPE_PROGRESS=lines) until `least` points
    are done; returns the lines read so far. A reader thread keeps the pipe drained."""
    lines = []

    def reader():
        for line in p.stdout:
            lines.append(line)

    threading.Thread(target=reader, daemon=True).start()
    t0 = time.time()
    pat = re.compile(r"(\d+)/%d points" % total)
    while time.time() - t0 < seconds and p.poll() is None:
        if any(int(m.group(1)) >= least for m in map(pat.search, list(lines)) if m):
            break
        time.sleep(0.2)
    return lines


# (SIGUSR2 too: Open MPI's mpirun passes it on as well; it killed the ranks, losing their points)
for sig, target, label in [(signal.SIGUSR1, "mpirun", "SIGUSR1 to mpirun"),
                           (signal.SIGUSR2, "mpirun", "SIGUSR2 to mpirun"),
                           (signal.SIGTERM, "rank", "SIGTERM to rank 1 (not the coordinator)")]:
    out = f"sig_{sig.name}.h5"
    p = start([*SLOW, "--progress-seconds", "0.5", "--out", out], mpi=2)
    lines = wait_for_points(p, 81, 2)
    if target == "mpirun":
        p.send_signal(sig)
    else:
        ranks = subprocess.run(["pgrep", "-f", f"losscape sweep.*{out}"], capture_output=True,
                               text=True).stdout.split()
        # (rank 1 by its environment: pgrep's order is the pids', which says nothing of ranks)
        def world_rank(pid):
            try:
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            except OSError:
                return None
            return next((e.split(b"=", 1)[1].decode() for e in env
                         if e.startswith(b"OMPI_COMM_WORLD_RANK=")), None)
        ranks = [int(r) for r in ranks if int(r) != p.pid and world_rank(r) == "1"]
        check(len(ranks) == 1, f"{label}: found rank 1's process ({ranks})")
        if ranks:
            os.kill(ranks[0], sig)
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        check(False, f"{label}: the job ends within 120 s")
    time.sleep(0.5)  # the reader thread takes the last lines
    so, se = "".join(lines), p.stderr.read()
    if p.returncode != 75:
        print(so[-2000:], se[-2000:])
    check(p.returncode == 75, f"{label}: exit code 75 (got {p.returncode})")
    n = done_count(out) if os.path.exists(out) else 0
    check(0 < n < 81, f"{label}: the final flush wrote {n} of 81 points (flush interval 1 h)")
    # the last progress line counts what was written: rank 1's passes since its last message too
    shown = re.findall(r"\[sweep\] (\d+)/81 points", so)
    check(shown and int(shown[-1]) == n, f"{label}: the last progress line says the {n} points written "
          f"({shown[-1:]})")
    r = run([*SLOW, "--progress-seconds", "1000", "--out", out], mpi=2)
    check(done_count(out) == 81, f"{label}: the same command resumes to completion")
    check(f"{81 - n} computed now" in r.stdout,
          f"{label}: the resumed run computed exactly the {81 - n} missing points")


def start_writing(out):
    """A 2-rank sweep into `out` with a write round every 0.5 s, once some points are done and a
    round has put some in the file (on a loaded machine the first round came late, and the file
    held 0 points; read while the job writes it, so retried)."""
    p = start([*SLOW[:-2], "--flush-seconds", "0.5", "--progress-seconds", "0.5", "--out", out],
              mpi=2)
    wait_for_points(p, 81, 2)
    t0 = time.time()
    while time.time() - t0 < 60 and p.poll() is None:
        try:
            if done_count(out) > 0:
                break
        except Exception:  # noqa: BLE001 (a file being written: read again)
            pass
        time.sleep(0.2)
    return p


def stderr_at_end(p):
    """The job's stderr once it ended (killed if it ran on for 2 minutes)."""
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    return p.stderr.read()


# ---- a lock taken over while the job was stopped: nothing more written, exit 1 ----
# A job suspended on another host for longer than the lock's stale time finds, when it goes on,
# that another job took its lock over and writes the file now. Here the job is stopped and the
# other job's takeover is played by replacing the lock file.
out = "taken.h5"
p = start_writing(out)
os.killpg(p.pid, signal.SIGSTOP)
other = json.dumps({"host": "elsewhere.example", "pid": 4242, "slurm_job_id": "777",
                    "since": "2026-12-02T03:00:00Z"})
with open(out + ".lock.new", "w") as f:
    f.write(other)
os.replace(out + ".lock.new", out + ".lock")
os.utime(out + ".lock", (1e9, 1e9))  # an old time: a heartbeat of the stopped job would show
os.killpg(p.pid, signal.SIGCONT)
se = stderr_at_end(p)
check(p.returncode == 1, f"lock taken over: exit 1 (got {p.returncode})")
check(f"losscape: error: {out}: this sweep no longer holds the file: its lock file {out}.lock now "
      "names pid 4242 on host elsewhere.example (Slurm job 777)" in se and
      "stopping without writing" in se, f"... one line naming the new holder: {se[-600:]!r}")
check(open(out + ".lock").read() == other and os.stat(out + ".lock").st_mtime == 1e9,
      "... the new holder's lock left as it was (not removed, no heartbeat)")
n = done_count(out)
check(0 < n < 81, f"... the file opens with the {n} points written before")
os.remove(out + ".lock")
run([*SLOW, "--progress-seconds", "1000", "--out", out], mpi=2)
a, _ = values(out, "train_loss")
b, _ = values("sig_SIGUSR1.h5", "train_loss")
check(done_count(out) == 81 and np.allclose(a, b, rtol=1e-6, atol=0),
      "... and resumes to the surface the signalled run above resumed to")

# ---- a lock deleted by hand while the job runs: exit 1 too, after rank 0's grace ----
# (a multi-rank job looks again after 10 s: a failing rank lets the lock go before its abort ends
# rank 0, and that is not reported as a deletion; test_sweep_faults.py's worker_send)
out = "deleted.h5"
p = start_writing(out)
os.remove(out + ".lock")
se = stderr_at_end(p)
check(p.returncode == 1 and errors(se) == [
    f"losscape: error: {out}: this sweep no longer holds the file: its lock file {out}.lock is gone "
    "(deleted while this job ran); stopping without writing its points since the last round"],
      f"lock deleted: exit 1 (got {p.returncode}) and one line saying so: {se[-600:]!r}")
n = done_count(out)
check(0 < n < 81 and not os.path.exists(out + ".lock"),
      f"... the file opens with the {n} points written before, and no lock is made again")

# ---- SIGKILL of the whole job at random moments, in a loop ----
BIG = ["--x", "-1:1:9", "--y", "-1:1:9"]
NPTS = 81
run([*SWEEP, *BIG, "--batch-size", "10", "--out", "ref81.h5"], mpi=2)
KILL = [*[a for a in SWEEP if a not in ("--progress-seconds", "1000")], *BIG, "--batch-size", "10",
        "--flush-seconds", "0.5", "--progress-seconds", "0.1", "--out", "killed.h5"]
rng = random.Random(int(os.environ.get("KILL_SEED", "2024")))
kills, monotone, before = 0, True, 0
NKILLS = int(os.environ.get("KILLS", "4"))
for attempt in range(NKILLS + 1):
    last = attempt == NKILLS
    p = start(KILL, mpi=2)
    if last:  # the final run goes to the end
        so, se = p.communicate(timeout=600)
    else:
        # kill at a random moment while points are being computed: after a random number of
        # new points (progress lines), plus a random time of up to three flush intervals (the
        # first round comes 0.5 s after the first point: a kill before it loses every new point)
        wait_for_points(p, NPTS, min(NPTS - 1, before + rng.randint(2, 12)))
        time.sleep(rng.uniform(0.0, 1.6))  # up to three flush intervals
        if p.poll() is None:
            # The ranks themselves, at once, then mpirun: Open MPI starts each rank in a process
            # group of its own, so killing mpirun's group alone would leave the ranks to be
            # ended by Open MPI a moment later, not at the random moment chosen here.
            ranks = subprocess.run(["pgrep", "-f", "losscape sweep.*killed.h5"],
                                   capture_output=True, text=True).stdout.split()
            for r in ranks:
                if int(r) != p.pid:
                    try:
                        os.kill(int(r), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.wait()
        for _ in range(100):  # no rank outlives its mpirun
            if not subprocess.run(["pgrep", "-f", "losscape sweep.*killed.h5"],
                                  capture_output=True).stdout:
                break
            time.sleep(0.1)
    if not os.path.exists("killed.h5"):
        continue
    try:
        now = done_count("killed.h5")
    except Exception as e:  # noqa: BLE001 - the point of the test
        check(False, f"the file opens after a SIGKILL: {e}")
        break
    print(f"     run {attempt + 1}: {before} -> {now} points done{'' if last else ' (killed)'}")
    monotone &= now >= before
    if last:
        if p.returncode != 0:
            print(so[-2000:], se[-2000:])
        check(p.returncode == 0, "the last run finishes with exit 0")
        check(f"{NPTS - before} computed now" in so if before < NPTS else "nothing to compute" in so,
              f"the completing run computed exactly the {NPTS - before} points the file lacked")
    before = now
check(monotone, "finished points never went back to unfinished across kills")
check(kills >= 1, f"the job was killed at least once ({kills} kills)")
kl, kd = values("killed.h5", "train_loss")
check(kd.all() and np.allclose(kl, values("ref81.h5", "train_loss")[0], rtol=1e-6, atol=0),
      f"after {kills} SIGKILLs the surface equals the uninterrupted run")
tl, _ = values("killed.h5", "test_acc")
check(np.array_equal(tl, values("ref81.h5", "test_acc")[0]), "test accuracy identical too")

# A resume with other --splits is refused naming the computed values (it named the data's hashes,
# which differ with them), the file untouched; a creation's leftover temporary goes on a resume.
SPL = ["train" if a == "train,test" else a for a in KILL]
md5 = hashlib.md5(open("killed.h5", "rb").read()).hexdigest()
p = run(SPL, mpi=1, expect=1)
check(p.stderr.splitlines()[0] == 'losscape: error: killed.h5 belongs to another sweep: its computed values '
      '(splits / --hessian) are ["train_loss","train_acc","test_loss","test_acc"], this command has '
      '["train_loss","train_acc"]; refusing to resume (the file is left untouched; use another --out)'
      and hashlib.md5(open("killed.h5", "rb").read()).hexdigest() == md5,
      f"resume with --splits train of a train,test file: refused by its values ({p.stderr.splitlines()[0]})")
open("killed.h5.creating", "w").close()
p = run(KILL, mpi=1)
check(not os.path.exists("killed.h5.creating"), "a resume removes a creation's leftover temporary")

conclude()

#!/usr/bin/env python3
"""`losscape merge`: part files of a fan-out sweep (`sweep --part K/N`) into one surface file.

A whole sweep and its three parts are computed by `losscape sweep`; the merged file, read here
with h5py, must equal the whole sweep (values, done mask, coordinates) and be a normal surface
file. Then the failure modes: parts that overlap (must agree, a changed value is refused naming
both files and the point), a missing part (reported, exit 75, and `losscape sweep` with the same
command resumes the merged file and computes exactly the missing points), parts of different
sweeps (refused naming the file and what differs), and outputs that must not be overwritten.

Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {sys.executable} cannot import h5py/numpy ({e}); "
          "apt-get install python3-h5py python3-numpy", file=sys.stderr)
    sys.exit(77)

from clitest import FASHION_MNIST as DATA, check, conclude, losscape as must, setup  # noqa: E402

LOSSCAPE = setup("/tmp/losscape-test-merge")


def run(*args):
    return must(*args, expect_ok=False)


VALUES = ["train_loss", "train_acc", "test_loss", "test_acc"]


def read(path):
    with h5py.File(path, "r") as f:
        out = {k: f[k][()] for k in VALUES + ["done", "xcoordinates", "ycoordinates"]}
        out["identity"] = json.loads(f.attrs["identity"])
        out["seconds"] = f["seconds"][()]
    return out


def same_values(a, b, mask=None):
    """Values equal to a relative 1e-6 where `mask` (default: everywhere)."""
    for k in VALUES:
        x, y = a[k], b[k]
        if mask is not None:
            x, y = x[mask], y[mask]
        if not np.allclose(x, y, rtol=1e-6, atol=0, equal_nan=True):
            return False
    return True



COMMON = ["--arch", "cnn_small", "--dataset", "fashion-mnist", "--data-dir", DATA,
          "--samples", "200", "--splits", "train,test", "--batch-size", "200", "--threads", "1",
          "--quiet"]
must("directions", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--out", "dirs.h5",
     "--quiet")
GRID = ["--x", "-1:1:7", "--y", "-0.5:1:5"]  # 35 points, non-square
SWEEP = ["sweep", *COMMON, *GRID, "--directions", "dirs.h5"]

must(*SWEEP, "--out", "whole.h5")
whole = read("whole.h5")
check(whole["done"].all(), "the whole sweep is complete")
for k in (1, 2, 3):
    must(*SWEEP, "--part", f"{k}/3", "--out", f"p{k}.h5")
parts = [read(f"p{k}.h5") for k in (1, 2, 3)]
# a part's start line names the part and the grid's size beside the part's own points
r = run(*[a for a in SWEEP if a != "--quiet"], "--part", "1/3", "--stop-after", "1",
        "--out", "p1_start.h5")
check(r.returncode == 75 and "2D grid -1:1:7 x -0.5:1:5, part 1/3 of its 35 points, 12 points (0 done)"
      in r.stdout, f"a part's start line: {r.returncode}, {r.stdout[:200]!r}")
text = run("info", "p1_start.h5").stdout
check(": interrupted, 1 point on 1 rank(s)" in text, f"info: a run of one point, '1 point': {text!r}")

# ---- the parts: disjoint slices covering the grid, each equal to the whole where done ----
counts = [int(p["done"].sum()) for p in parts]
check(sum(counts) == 35 and all(c in (11, 12) for c in counts),
      f"the three parts hold 11-12 points each, 35 in all ({counts})")
overlap = parts[0]["done"].astype(int) + parts[1]["done"] + parts[2]["done"]
check((overlap == 1).all(), "every point is in exactly one part")
check(all(p["identity"]["part"] == f"{k}/3" for k, p in zip((1, 2, 3), parts)),
      "part files say which part they are")
check(all(same_values(p, whole, p["done"] == 1) for p in parts),
      "each part's values equal the whole sweep's")
info = json.loads(must("info", "--json", "p2.h5").stdout)
check(info["kind"] == "surface" and info["part"] == "2/3" and info["complete"]
      and info["points_total"] == counts[1] and info["points_done"] == counts[1],
      f"info --json on a part: kind, part, {counts[1]} of {counts[1]} points, complete")

# ---- merge ----
r = run("merge", "p1.h5", "p2.h5", "p3.h5", "--out", "merged.h5")
check(r.returncode == 0, f"merge of the three parts exits 0 ({r.returncode}: {r.stderr.strip()})")
check("35 of 35 points" in r.stdout, "merge reports 35 of 35 points")
m = read("merged.h5")
check(m["done"].all(), "merged: every point done")
check(same_values(m, whole), "merged values equal the whole sweep (rel 1e-6)")
check(np.array_equal(m["xcoordinates"], whole["xcoordinates"])
      and np.array_equal(m["ycoordinates"], whole["ycoordinates"]), "merged coordinates")
check(m["train_loss"].shape == (5, 7), "merged layout [y][x] = (5, 7)")
check(m["identity"]["part"] == "" and {k: v for k, v in m["identity"].items() if k != "part"}
      == {k: v for k, v in whole["identity"].items() if k != "part"},
      "merged identity: the whole sweep's, without a part")
check(all(np.array_equal(m["seconds"][p["done"] == 1], p["seconds"][p["done"] == 1])
          for p in parts), "per-point seconds come from the parts")
with h5py.File("merged.h5", "r") as f:
    log = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
check(sum(1 for e in log if "merge" not in e) == 3 and "merge" in log[-1]
      and log[-1]["status"] == "complete", "run log: the parts' runs, then the merge")
# The merged file is the whole sweep's file as far as `sweep` is concerned: nothing to compute.
with open("merged.h5", "rb") as f:
    merged_bytes = f.read()
os.utime("merged.h5", ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
r = subprocess.run([LOSSCAPE, *SWEEP, "--out", "merged.h5"], capture_output=True, text=True)
check(r.returncode == 0, f"sweep on the merged file exits 0 ({r.returncode}: {r.stderr.strip()})")
check(same_values(read("merged.h5"), whole), "and leaves it as it was")
with open("merged.h5", "rb") as f:
    same_bytes = f.read() == merged_bytes
check(same_bytes and os.stat("merged.h5").st_mtime_ns == 1_600_000_000_987_654_321,
      f"... byte for byte, its modification time too (rsync, make; it was the time of the run) "
      f"({same_bytes}, {os.stat('merged.h5').st_mtime_ns})")

# Merging again into an existing output of the same sweep: it is one more input; agreeing.
r = run("merge", "p1.h5", "p2.h5", "p3.h5", "--out", "merged.h5")
check(r.returncode == 0 and "agree" in r.stdout,
      f"merging again into merged.h5 exits 0, overlaps agree ({r.returncode}: {r.stdout.strip()})")
with h5py.File("merged.h5", "r") as f:
    log2 = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
runs = [e for e in log2 if "merge" not in e]
bare = [json.dumps({k: v for k, v in e.items() if k not in ("file", "part")}, sort_keys=True)
        for e in runs]
check(len(set(bare)) == len(bare) and
      [sum(1 for e in runs if e.get("file") == f"p{k}.h5") for k in (1, 2, 3)] == [1, 1, 1] and
      sum(1 for e in log2 if "merge" in e) == 2,
      "run log after merging again: each part's run once, under its own file, and both merges")
r = run("merge", "./p1.h5", os.path.abspath("p2.h5"), "p3.h5", "--out", "merged.h5")
with h5py.File("merged.h5", "r") as f:
    log3 = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
runs3 = [e for e in log3 if "merge" not in e]
check(r.returncode == 0 and len(runs3) == len(runs),
      f"the same parts under other spellings of their paths add no run twice ({len(runs3)} runs)")
# Merged into again and again (a watch loop while the parts run): the log's 64 KiB fills with
# merge entries, and the oldest of those give way, not the parts' runs (after ~200 merges the
# runs were gone). The log is filled here with as many earlier merges as fit the room
# write_run_log keeps (64 KiB less 1 KiB), as ~200 runs of merge would leave it.
shutil.copy("merged.h5", "watched.h5")


def fill_log_with_merges(path):
    """The run log of `path` filled to 10 bytes short of write_run_log's room (64 KiB less 1 KiB)
    with copies of its last merge entry, each a second apart; returns the added entries."""
    def compact(log):  # as the log is written (nlohmann::json::dump(): no spaces)
        return json.dumps(log, separators=(",", ":"))

    with h5py.File(path, "r+") as f:
        base = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
        runs0 = [e for e in base if "merge" not in e]
        one = [e for e in base if "merge" in e][-1]
        many = []
        while len(compact([*runs0, *many, one])) <= 65536 - 1024:
            k = len(many)
            many.append(dict(one, time=f"2030-01-01T{k // 3600:02d}:{k // 60 % 60:02d}:{k % 60:02d}Z"))
        # (the last one padded to leave 10 bytes: any new entry overflows the room)
        many[-1]["pad"] = ""
        many[-1]["pad"] = "x" * (65536 - 1024 - 10 - len(compact([*runs0, *many])))
        text = compact([*runs0, *many]).encode()
        f["run_log"][...] = np.frombuffer(text.ljust(65536, b"\0"), "u1")
    return many


many = fill_log_with_merges("watched.h5")
r = run("merge", "p1.h5", "p2.h5", "p3.h5", "--out", "watched.h5")
with h5py.File("watched.h5", "r") as f:
    logw = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
mw = [e for e in logw if "merge" in e]
check(r.returncode == 0 and sum(1 for e in logw if "merge" not in e) == 3 and
      len(many) // 2 <= len(mw) < len(many) and
      "merge" in logw[-1] and mw[0]["time"] > many[0]["time"],
      f"a log full of merge entries ({len(many)}): the oldest merges give way, the parts' 3 runs stay "
      f"({r.returncode}: {len(logw)} entries, {len(mw)} merges)")
r = run("merge", "p1.h5", "whole.h5", "--out", "overlap.h5")
check(r.returncode == 0 and same_values(read("overlap.h5"), whole),
      f"a part and the whole sweep overlap and agree ({r.returncode})")

# ---- overlapping points that disagree ----
shutil.copy("p2.h5", "p2bad.h5")
with h5py.File("p2bad.h5", "r+") as f:
    iy, ix = np.argwhere(f["done"][()] == 1)[0]
    f["train_loss"][iy, ix] *= 1.01
    xv, yv = f["xcoordinates"][ix], f["ycoordinates"][iy]
r = run("merge", "whole.h5", "p2bad.h5", "--out", "bad.h5")
err = r.stderr.strip()
check(r.returncode == 1 and len(err.splitlines()) == 1,
      f"disagreeing parts: exit 1, one line ({r.returncode}: {err})")
check("p2bad.h5" in err and "whole.h5" in err and "train_loss" in err,
      "the message names both files and the value")
check(re.search(r"x=%.6g" % xv, err) is not None and re.search(r"y=%.6g" % yv, err) is not None,
      f"and the point (x={xv:.6g}, y={yv:.6g}): {err}")
check(not os.path.exists("bad.h5") and not os.path.exists("bad.h5.merging"),
      "no output is written")

# ---- a missing part: reported, exit 75, then the sweep fills it ----
r = run("merge", "p1.h5", "p3.h5", "--out", "partial.h5")
err = r.stderr.strip()
check(r.returncode == 75, f"a missing part: exit 75 ({r.returncode}: {err})")
check(f"{counts[1]} of 35 points are missing" in err and "part 2/3" in err,
      f"the message counts the missing points and names part 2/3: {err}")
partial = read("partial.h5")
check(int(partial["done"].sum()) == counts[0] + counts[2] and
      (partial["done"] == (parts[0]["done"] | parts[2]["done"])).all(),
      "the merged file holds the points of parts 1 and 3")
check(bool((partial["train_loss"][partial["done"] == 0] == -1).all()),
      "missing points hold -1, as in a sweep still running")
info = json.loads(must("info", "--json", "partial.h5").stdout)
check(not info["complete"] and info["points_done"] == counts[0] + counts[2],
      "info: incomplete")
# (merged into again and again while part 2 ran: its log is full of merge entries; the sweep's
# own entry makes it overflow, and the oldest merges give way, not the parts' runs)
many = fill_log_with_merges("partial.h5")
r = subprocess.run([LOSSCAPE, *[a for a in SWEEP if a != "--quiet"], "--out", "partial.h5"],
                   capture_output=True, text=True)
check(r.returncode == 0, f"sweep (same command, no --part) on it exits 0 ({r.returncode})")
check(f"({counts[0] + counts[2]} done)" in r.stdout and f"({counts[1]} computed now" in r.stdout,
      f"and computes exactly the {counts[1]} missing points")
check(same_values(read("partial.h5"), whole), "the filled file equals the whole sweep")
with h5py.File("partial.h5", "r") as f:
    logp = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
mp = [e for e in logp if "merge" in e]
check([e.get("file") for e in logp if "merge" not in e] == ["p1.h5", "p3.h5", None] and
      "merge" not in logp[-1] and logp[-1].get("status") == "complete" and
      0 < len(mp) < len(many) and mp[0]["time"] > many[0]["time"],
      f"its log, full of {len(many)} merge entries: the sweep's run is added, the parts' 2 runs "
      f"stay and the oldest merges give way ({len(logp)} entries, {len(mp)} merges)")

# ---- parts of different sweeps, outputs not to overwrite ----
must("sweep", *[a if a != "200" else "100" for a in COMMON], *GRID, "--directions", "dirs.h5",
     "--part", "2/3", "--out", "other_samples.h5")
r = run("merge", "p1.h5", "other_samples.h5", "p3.h5", "--out", "x.h5")
err = r.stderr.strip()
check(r.returncode == 1 and "other_samples.h5" in err and "--samples" in err
      and len(err.splitlines()) == 1, f"different --samples: refused naming the file: {err}")
must("sweep", *COMMON, "--x", "-1:1:9", "--y", "-0.5:1:5", "--directions", "dirs.h5",
     "--part", "2/3", "--out", "other_grid.h5")
r = run("merge", "p1.h5", "other_grid.h5", "--out", "x.h5")
err = r.stderr.strip()
check(r.returncode == 1 and "other_grid.h5" in err and "--x grid" in err,
      f"a different grid: refused naming the file: {err}")
check(not os.path.exists("x.h5"), "nothing written")
r = run("merge", "p1.h5", "p3.h5", "--out", "p3.h5")
check(r.returncode == 1 and "part file" in r.stderr,
      f"a part given as output is not overwritten: {r.stderr.strip()}")
with open("junk.h5", "w") as f:
    f.write("not hdf5")
r = run("merge", "p1.h5", "junk.h5", "--out", "x.h5")
check(r.returncode == 1 and "junk.h5" in r.stderr, f"a non-surface input: {r.stderr.strip()}")
r = run("merge", "p1.h5", "p1.h5", "--out", "x.h5")
check(r.returncode == 1 and "twice" in r.stderr, f"an input given twice: {r.stderr.strip()}")
os.symlink("p1.h5", "p1_soft.h5")
r = run("merge", "p1.h5", "p1_soft.h5", "--out", "x.h5")
check(r.returncode == 1 and "p1_soft.h5 is given twice (p1.h5 is the same file)" in r.stderr and
      not os.path.exists("x.h5"), f"an input given twice, once through a symbolic link: {r.stderr.strip()}")
os.remove("p1_soft.h5")
os.link("p1.h5", "p1_hard.h5")
r = run("merge", "p3.h5", "--out", "p1_hard.h5")
check(r.returncode == 1 and "p1_hard.h5: the file has 2 hard links" in r.stderr,
      f"an output with two hard links (a sweep of the other name would not see the lock): {r.stderr.strip()}")
os.remove("p1_hard.h5")
r = run("merge", "p1.h5", "nope.h5", "--out", "x.h5")
check(r.returncode == 1 and "nope.h5" in r.stderr, f"a missing input: {r.stderr.strip()}")
open("empty_out.h5", "w").close()  # an empty file at --out is replaced (it was refused as not HDF5)
r = run("merge", "p1.h5", "p3.h5", "--out", "empty_out.h5")
with h5py.File("p1.h5", "r") as a, h5py.File("p3.h5", "r") as b, h5py.File("empty_out.h5", "r") as m:
    want = np.asarray(a["done"]).sum() + np.asarray(b["done"]).sum()
    check(r.returncode in (0, 75) and np.asarray(m["done"]).sum() == want,
          f"merge over an empty file at --out: replaced ({r.returncode}: {r.stderr.strip()[-200:]})")

# ---- parts that made their own directions (no --directions): seeded, hence equal ----
ONE = ["sweep", *COMMON, "--x", "-1:1:5"]
for k in (1, 2):
    must(*ONE, "--part", f"{k}/2", "--out", f"own{k}.h5")
must(*ONE, "--out", "own_whole.h5")
r = run("merge", "own1.h5", "own2.h5", "--out", "own.h5")
check(r.returncode == 0,
      f"parts with their own (seeded) directions merge ({r.returncode}: {r.stderr.strip()})")
with h5py.File("own.h5", "r") as f, h5py.File("own_whole.h5", "r") as g:
    check(all(np.allclose(f[k][()], g[k][()], rtol=1e-6, atol=0) for k in VALUES),
          "and equal a whole 1D sweep")
r = run("merge", "own1.h5", "--out", "own1_only.h5")
check(r.returncode == 75 and "missing (x): " in r.stderr and "part 2/2" in r.stderr,
      f"1D: the missing points by x, the absent part named: {r.stderr.strip()}")
before = open("own_whole.h5", "rb").read()
r = run("merge", "p1.h5", "p3.h5", "--out", "own_whole.h5")
err = r.stderr.strip()
# (the grid is named, the first of the differences a user chose; it named the data's hashes)
check(r.returncode == 1 and "own_whole.h5 exists and belongs to another sweep (own_whole.h5 is not a part "
      "of the same sweep as p1.h5: its --x grid is \"-1:1:5\", p1.h5 has \"-1:1:7\")" in err
      and "refusing to overwrite" in err,
      f"an existing surface of another sweep as output is refused: {err}")
check(open("own_whole.h5", "rb").read() == before, "and left untouched")

# ---- a part marks done only points of its slice: another one is a damaged or edited file ----
shutil.copy("p2.h5", "p2_edited.h5")
with h5py.File("p2_edited.h5", "r+") as f:
    d = f["done"][()]
    outside = np.argwhere(d == 0)[0]  # a point of another slice
    d[tuple(outside)] = 1
    f["done"][...] = d
r = run("merge", "p2_edited.h5", "--out", "edited.h5")
check(r.returncode == 1 and "is marked done but is not in part 2/3's slice of the grid" in r.stderr
      and not os.path.exists("edited.h5"), f"a part with a point of another slice marked done: refused ({r.stderr.strip()})")

# The parts of which no file was given: the first ten listed (a 1000-part fan-out listed 998)
must("sweep", *COMMON, "--x", "-1:1:12", "--directions", "dirs.h5", "--part", "1/12", "--out", "c1.h5")
# more parts than points: a part of none is computed (complete), with a note
r = must("sweep", *COMMON, "--x", "-1:1:3", "--directions", "dirs.h5", "--part", "5/5", "--out", "c_empty.h5")
check("losscape: note: part 5/5 of a grid of 3 points holds no point (more parts than points)" in r.stderr,
      f"an empty part: a note ({r.stderr.strip()})")
r = run("merge", "c1.h5", "--out", "c_merged.h5")
check(r.returncode == 75 and "no file was given for part " + ", ".join(f"{k}/12" for k in range(2, 12)) +
      ", ... (11 parts); run" in r.stderr, f"11 parts without a file: ten listed ({r.stderr.strip()})")

# ---- parts that made their own directions (no --directions): each part has its copy beside it,
# NAME.part-K-of-N.dirs.h5; the merged file gets one of its own, OUT.dirs.h5, and names it (it
# named part 1's, gone once the parts are deleted), and a resume of it reads that file ----
os.makedirs("own", exist_ok=True)
OWN = ["sweep", *COMMON, "--x", "-1:1:5", "--seed", "7"]
for k in (1, 2, 3):
    must(*OWN, "--part", f"{k}/3", "--out", f"own/o.part-{k}-of-3.h5")
r = run("merge", "own/o.part-1-of-3.h5", "own/o.part-2-of-3.h5", "--out", "own/o.h5")
check(r.returncode == 75, f"2 of 3 parts merged: incomplete, 75 ({r.returncode}: {r.stderr.strip()})")
with h5py.File("own/o.h5", "r") as f:
    named, config = f["dir_file"][()].decode(), json.loads(f.attrs["config"])
with h5py.File("own/o.dirs.h5", "r") as a, h5py.File("own/o.part-1-of-3.dirs.h5", "r") as b:
    same = sorted(a.keys()) == sorted(b.keys()) and all(np.array_equal(a[k][()], b[k][()]) for k in a.keys()
                                                        if isinstance(a[k], h5py.Dataset))
check(named == "own/o.dirs.h5" and config["directions"] == "own/o.dirs.h5" and same,
      f"merged parts with their own directions: o.dirs.h5 beside the merged file, named ({named}, "
      f"{config['directions']}, same as part 1's: {same})")
# the late part merges in (o.dirs.h5 there already holds the same directions)
must("merge", "own/o.part-3-of-3.h5", "--out", "own/o.h5")
for k in (1, 2, 3):
    os.remove(f"own/o.part-{k}-of-3.h5")
    os.remove(f"own/o.part-{k}-of-3.dirs.h5")
r = run("info", "own/o.h5")
check(r.returncode == 0 and "own/o.dirs.h5" in r.stdout, f"info of it, the parts deleted: its directions are there ({r.stdout[:300]})")
# another OUT.dirs.h5 in the way: refused, nothing written
for k in (1, 2):
    must(*OWN, "--part", f"{k}/3", "--out", f"own/q.part-{k}-of-3.h5")
must("directions", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--seed", "8", "--out", "own/q.dirs.h5", "--quiet")
r = run("merge", "own/q.part-1-of-3.h5", "own/q.part-2-of-3.h5", "--out", "own/q.h5")
check(r.returncode == 1 and "own/q.dirs.h5 holds other directions than the parts' (own/q.part-1-of-3.dirs.h5)" in r.stderr
      and not os.path.exists("own/q.h5"), f"an OUT.dirs.h5 of other directions: refused ({r.stderr.strip()})")
# the first part's direction file replaced since (another seed's): the next part's is copied, so
# that the merged file resumes (part 1's was copied as it was: a file that named other directions
# than its identity's, which no resume could use); every part's replaced: refused
shutil.copy("own/q.dirs.h5", "own/q.part-1-of-3.dirs.h5")
r = run("merge", "own/q.part-1-of-3.h5", "own/q.part-2-of-3.h5", "--out", "own/q2.h5")
with h5py.File("own/q2.dirs.h5", "r") as a, h5py.File("own/q.part-2-of-3.dirs.h5", "r") as b:
    same = all(np.array_equal(a[k][()], b[k][()]) for k in a.keys() if isinstance(a[k], h5py.Dataset))
check(r.returncode == 75 and same, f"part 1's direction file replaced: part 2's copied ({r.returncode}: {r.stderr.strip()})")
r = run(*OWN, "--out", "own/q2.h5", "--quiet")
check(r.returncode == 0, f"... and the merged file resumes with it ({r.returncode}: {r.stderr.strip()})")
shutil.copy("own/q.dirs.h5", "own/q.part-2-of-3.dirs.h5")
r = run("merge", "own/q.part-1-of-3.h5", "own/q.part-2-of-3.h5", "--out", "own/q3.h5")
check(r.returncode == 1 and "the parts' direction files (own/q.part-1-of-3.dirs.h5, own/q.part-2-of-3.dirs.h5) hold "
      "other directions than the parts were swept with" in r.stderr and not os.path.exists("own/q3.h5")
      and not os.path.exists("own/q3.dirs.h5"), f"every part's direction file replaced: refused ({r.stderr.strip()})")
# ... a direction file that cannot be read is named with its reason, not as "other directions"
# (the merge is refused all the same: the merged file must be resumable with a copy)
for k in (1, 2):
    with open(f"own/q.part-{k}-of-3.dirs.h5", "wb") as f:
        f.write(b"not HDF5")
r = run("merge", "own/q.part-1-of-3.h5", "own/q.part-2-of-3.h5", "--out", "own/q4.h5")
check(r.returncode == 1 and r.stderr.count("\n") == 1 and "own/q.part-1-of-3.dirs.h5: not an HDF5 file" in r.stderr
      and "other directions" not in r.stderr and not os.path.exists("own/q4.h5"),
      f"the parts' direction files damaged: named with the reason ({r.stderr.strip()})")
with open("own/q4.dirs.h5", "wb") as f:
    f.write(b"")
r = run("merge", "own/q.part-1-of-3.h5", "own/q.part-2-of-3.h5", "--out", "own/q4.h5")
check(r.returncode == 1 and "own/q4.dirs.h5: " in r.stderr and "(the merged surface's direction file)" in r.stderr
      and "other directions" not in r.stderr, f"an empty OUT.dirs.h5: named as such ({r.stderr.strip()})")
os.remove("own/q4.dirs.h5")

# ---- a shell glob of the parts (g.part-*.h5) takes in their direction files: left out, said ----
for k in (1, 2):
    must(*OWN, "--part", f"{k}/2", "--out", f"own/g.part-{k}-of-2.h5")
r = run("merge", *sorted(glob.glob("own/g.part-*.h5")), "--out", "own/g.h5")
check(r.returncode == 0 and "losscape: note: own/g.part-1-of-2.dirs.h5, own/g.part-2-of-2.dirs.h5: the parts' "
      "direction files (2), not parts: left out" in r.stderr,
      f"merge own/g.part-*.h5: the parts' direction files left out with a note ({r.returncode}: {r.stderr.strip()})")
# ... and a merge into an existing output keeps its permissions (it came out 0644 under the umask)
os.chmod("own/g.h5", 0o600)
must("merge", "own/g.part-1-of-2.h5", "--out", "own/g.h5", "--quiet")
check(stat.S_IMODE(os.stat("own/g.h5").st_mode) == 0o600, "a merge into an existing 0600 output keeps 0600")
# ... and one that cannot be written is refused, as a sweep refuses to resume it, and left as it
# was (a file made read-only was replaced in silence); run as nobody, who may write the folder
nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
os.makedirs("ro", exist_ok=True)
os.chmod("ro", 0o777)
if os.geteuid() != 0 or not shutil.which("setpriv") or subprocess.run(
        nobody + ["test", "-w", "ro"], capture_output=True).returncode != 0:
    print("(skipped: the read-only output needs root, setpriv and a work folder nobody can reach)")
else:
    for name in ("g.part-1-of-2.h5", "g.part-2-of-2.h5", "g.part-1-of-2.dirs.h5", "g.part-2-of-2.dirs.h5", "g.h5"):
        shutil.copy(f"own/{name}", f"ro/{name}")
    for name in os.listdir("ro"):
        os.chmod(f"ro/{name}", 0o644)
    os.chmod("ro/g.h5", 0o444)
    with open("ro/g.h5", "rb") as f:
        before = f.read()
    q = subprocess.run(nobody + [LOSSCAPE, "merge", "ro/g.part-2-of-2.h5", "--out", "ro/g.h5"],
                       capture_output=True, text=True, timeout=300)
    with open("ro/g.h5", "rb") as f:
        same = f.read() == before
    check(q.returncode == 1 and q.stderr.strip() == "losscape: error: ro/g.h5: cannot be written (Permission "
          "denied), so it cannot be merged into; it is left as it was" and same,
          f"a merge into an output that cannot be written: refused, left as it was ({q.returncode}: {q.stderr.strip()})")

# ---- a part of 2^31 - 1 parts: merged (the loop over the parts' numbers overflowed: SIGSEGV) ----
big = f"{2**31 - 1}"
must(*OWN, "--part", f"1/{big}", "--out", "own/big.part.h5", "--quiet")
r = run("merge", "own/big.part.h5", "--out", "own/big.h5")
check(r.returncode == 75 and f"no file was given for part 2/{big}, 3/{big}, 4/{big}, 5/{big}; run" in r.stderr,
      f"a part of N = 2^31 - 1 merged, the others named ({r.returncode}: {r.stderr.strip()[-200:]})")
r = run(*OWN, "--part", f"1/{2**31}", "--out", "own/big2.h5")
check(r.returncode != 0 and f"--part '1/{2**31}': K and N must be at most {big}" in r.stderr,
      f"N = 2^31: refused, naming the limit ({r.stderr.strip()})")

# ---- a link at --out: the merged file goes where it leads (the sweep's lock and resume follow
# it too), the link stays ----
os.makedirs("linked", exist_ok=True)
os.symlink("linked/target.h5", "via_link.h5")  # dangling: the target is made by the first merge
r1 = run("merge", "p1.h5", "--out", "via_link.h5")
r2 = run("merge", "p2.h5", "--out", "via_link.h5")
with h5py.File("linked/target.h5", "r") as f:
    d = f["done"][()]
check(r1.returncode == r2.returncode == 75 and os.path.islink("via_link.h5") and
      d.sum() == read("p1.h5")["done"].sum() + read("p2.h5")["done"].sum(),
      f"merges through a link at --out (dangling, then leading to the first's file): the target holds "
      f"parts 1 and 2, the link stays ({r1.returncode}, {r2.returncode}: {r2.stderr.strip()})")
r = run("merge", "p1.h5", "--out", "x" * 205 + ".h5")
check(r.returncode == 1 and "a file name of 208 characters; at most 200" in r.stderr,
      f"a merged file a sweep could not open (a 208-character name): refused ({r.stderr.strip()})")

# ---- every identity entry travels: a merged Hessian / bf16 surface can be resumed ----
HES = ["sweep", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--data-dir", DATA,
       "--samples", "64", "--batch-size", "64", "--threads", "1", "--quiet", "--x", "-0.5:0.5:3",
       "--directions", "dirs.h5", "--hessian", "--eig-tol", "0.1"]
must(*HES, "--part", "1/2", "--out", "hp1.h5")
r = run("merge", "hp1.h5", "--out", "hmerged.h5")
check(r.returncode == 75, f"a Hessian part alone: merged with points missing ({r.returncode})")
with h5py.File("hmerged.h5", "r") as f:
    check("hessian" in json.loads(f.attrs["identity"]), "the merged file keeps the Hessian settings")
r = run(*HES, "--out", "hmerged.h5")
check(r.returncode == 0, f"sweep --hessian resumes the merged file ({r.returncode}: {r.stderr.strip()})")
with h5py.File("hmerged.h5", "r") as f:
    check(f["done"][()].all() and (f["eig_converged"][()] >= 0).all(),
          "and fills its missing points, Hessian maps included")
# Eigenvalues agree to the --eig-tol they were computed with (another rank layout sums in another
# order: -10.5045756 vs -10.5045648 was refused at fp32's 1e-6), not beyond it.
for name, factor, ok in (("hclose.h5", 1 + 0.05, True), ("hfar.h5", 1 + 0.3, False)):
    shutil.copy("hmerged.h5", name)
    with h5py.File(name, "r+") as f:
        e = f["min_eig"][()]
        e[0] *= factor
        f["min_eig"][...] = e
    r = run("merge", "hmerged.h5", name, "--out", f"m_{name}")
    if ok:
        check(r.returncode == 0, f"Hessian maps 5 % apart at --eig-tol 0.1: merged ({r.returncode}: {r.stderr.strip()})")
    else:
        check(r.returncode == 1 and "min_eig" in r.stderr and
              "(relative tolerance 0.1, the default for eigenvalues: their --eig-tol)" in r.stderr,
              f"... 30 % apart: refused, naming the tolerance ({r.returncode}: {r.stderr.strip()})")
BF = ["sweep", *COMMON, "--x", "-1:1:3", "--directions", "dirs.h5", "--precision", "bf16"]
must(*BF, "--part", "1/2", "--out", "bf1.h5")
run("merge", "bf1.h5", "--out", "bfm.h5")
with h5py.File("bfm.h5", "r") as f:
    check(json.loads(f.attrs["identity"]).get("precision") == "bf16",
          "the merged file keeps the precision")
r = run("sweep", *COMMON, "--x", "-1:1:3", "--directions", "dirs.h5", "--out", "bfm.h5")
check(r.returncode == 1 and 'precision (--precision) is "bf16", this command has "fp32"' in r.stderr,
      f"resuming a bf16 file in fp32 is refused, naming both precisions: {r.stderr.strip()}")
must("sweep", *COMMON, "--x", "-1:1:3", "--directions", "dirs.h5", "--part", "2/2", "--out", "fp2.h5")
r = run("merge", "bf1.h5", "fp2.h5", "--out", "bffp.h5")
check(r.returncode == 1 and 'fp2.h5 is not a part of the same sweep as bf1.h5: its precision (--precision) is '
      '"fp32", bf1.h5 has "bf16"' in r.stderr,
      f"merging a bf16 part with an fp32 one is refused, naming fp32 as such: {r.stderr.strip()}")
check(run(*BF, "--out", "bfm.h5").returncode == 0, "resuming it in bf16 completes it")

# ---- the default tolerance follows the precision ----
# tf32, bf16 and fp16 values move with the batch size and the kernels by ~1e-4: overlapping
# points of such sweeps agree to 1e-2 by default, fp32 ones to 1e-6. A relative change of 1e-3 at
# a point both inputs hold is merged in bf16, refused in bf16 with --tolerance 1e-6 and in fp32.
def nudge(src, dst, part):
    """dst: src with train_loss × 1.001 at the first point that `part` holds."""
    shutil.copy(src, dst)
    with h5py.File(part, "r") as p:
        at = tuple(int(i) for i in np.argwhere(p["done"][()] == 1)[0])  # 1D or 2D
    with h5py.File(dst, "r+") as f:
        f["train_loss"][at] *= 1.001


nudge("bfm.h5", "bfnear.h5", "bf1.h5")
r = run("merge", "bf1.h5", "bfnear.h5", "--out", "bfnear_m.h5")
check(r.returncode == 0 and "agree to 0.01" in r.stdout,
      f"bf16: a difference of 1e-3 is within the default tolerance ({r.returncode}: "
      f"{r.stdout.strip()[-200:]} {r.stderr.strip()})")
with h5py.File("bfnear_m.h5", "r") as f:
    entry = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())[-1]
check(entry.get("merge", {}).get("tolerance") == "auto",
      f"its run log's merge entry records --tolerance auto: {entry.get('merge')}")
r = run("merge", "bf1.h5", "bfnear.h5", "--out", "bfnear_t.h5", "--tolerance", "1e-6")
check(r.returncode == 1 and "relative tolerance 1e-06)" in r.stderr and
      not os.path.exists("bfnear_t.h5"),
      f"and refused with --tolerance 1e-6: {r.stderr.strip()}")
# Accuracies move by whole images: within the tolerance of 100 % (1 percentage point in bf16),
# not of their own value. One image of 200 (0.5 %) at an accuracy set to 12 % (4 % relative)
# merges; 3 images (1.5 points) are refused, naming the scale.
def set_acc(src, dst, part, value):
    shutil.copy(src, dst)
    with h5py.File(part, "r") as p:
        at = tuple(int(i) for i in np.argwhere(p["done"][()] == 1)[0])
    with h5py.File(dst, "r+") as f:
        f["train_acc"][at] = value
    return at


set_acc("bf1.h5", "bf1_low.h5", "bf1.h5", 12.0)
set_acc("bfm.h5", "bfacc.h5", "bf1.h5", 12.5)
r = run("merge", "bf1_low.h5", "bfacc.h5", "--out", "bfacc_m.h5")
check(r.returncode == 0, f"bf16: accuracies 12 and 12.5 (one image of 200) agree ({r.returncode}: {r.stderr.strip()})")
set_acc("bfm.h5", "bfacc3.h5", "bf1.h5", 13.5)
r = run("merge", "bf1_low.h5", "bfacc3.h5", "--out", "bfacc3_m.h5")
check(r.returncode == 1 and "train_acc 13.5 vs 12 (relative tolerance 0.01 of 100 %, the default in bf16)" in r.stderr
      and not os.path.exists("bfacc3_m.h5"), f"bf16: 12 and 13.5 (3 images) are refused ({r.stderr.strip()})")
nudge("whole.h5", "near32.h5", "p1.h5")
r = run("merge", "p1.h5", "near32.h5", "--out", "near32_m.h5")
check(r.returncode == 1 and "relative tolerance 1e-06, the default in fp32" in r.stderr,
      f"fp32: the same difference is refused by default: {r.stderr.strip()}")
for bad in ("abc", "-1", "nan"):
    r = run("merge", "p1.h5", "--out", "bad_tol.h5", "--tolerance", bad)
    err = r.stderr.strip()
    check(r.returncode != 0 and len(err.splitlines()) == 1 and
          "--tolerance must be auto or a number >= 0" in err and not os.path.exists("bad_tol.h5"),
          f"--tolerance {bad}: refused in one line ({r.returncode}: {err})")

# ---- the merged file's run log, and what info shows of it ----
# info --json gives a merge's entry as written (its parts, out, tolerance), not a flag.
j = json.loads(run("info", "merged.h5", "--json").stdout)
merges = [e for e in j["runs"] if "merge" in e]
check(len(merges) == 3 and merges[-1]["merge"] == {
          "out": "merged.h5", "parts": ["./p1.h5", os.path.abspath("p2.h5"), "p3.h5"],
          "tolerance": "auto"} and "ranks" not in merges[-1] and
      all("merge" not in e for e in j["runs"] if "points_done_before" in e),
      f"info --json: a merge's entry as written, sweep runs without a merge key ({merges[-1:]})")
check(all(e["start"] != "" and e["end"] == e["start"] for e in merges),
      f"info --json: a merge's one time is its start and its end (\"\" is a killed run's unknown end): "
      f"{[(e['start'], e['end']) for e in merges]}")
# A part whose last run was killed (its entry still "running"): the merged file keeps what it
# computed (its done mask's gain), which only the part itself could tell.
shutil.copy("p1.h5", "killed1.h5")
with h5py.File("killed1.h5", "r+") as f:
    klog = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
    klog[-1].update(status="running", points_done_before=0)
    klog[-1].pop("points_computed", None)
    raw = json.dumps(klog).encode()
    f["run_log"][...] = np.frombuffer(raw + b"\0" * (65536 - len(raw)), np.uint8)
    kdone = int(f["done"][()].sum())
r = run("merge", "killed1.h5", "p2.h5", "--out", "killed_m.h5")
j = json.loads(run("info", "killed_m.h5", "--json").stdout)
kr = [e for e in j["runs"] if e.get("file") == "killed1.h5"]
check(r.returncode == 75 and len(kr) == 1 and kr[0]["status"] == "killed" and
      kr[0]["points_computed"] == kdone,
      f"a killed run of a part: listed as killed with its {kdone} points ({kr})")
# A part whose sweep still runs (its lock held by a live process, here this one): merged as far
# as it was flushed, with a note saying so.
with open("killed1.h5.lock", "w") as f:
    json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
r = run("merge", "killed1.h5", "p2.h5", "--out", "live_m.h5")
os.remove("killed1.h5.lock")
check(r.returncode == 75 and "killed1.h5: part 1/3, " in r.stdout and
      f"{kdone} of its" in r.stdout and "taken (still being written)" in r.stdout and
      "losscape: note: killed1.h5 is still being written by a running sweep (its lock is held): "
      "merged with the points flushed so far; merge again when it has ended" in r.stderr and
      "p2.h5: part 2/3" in r.stdout and r.stdout.count("still being written") == 1,
      f"a part whose lock is held: merged and noted ({r.stdout!r} {r.stderr!r})")
j = json.loads(run("info", "live_m.h5", "--json").stdout)
lr = [e for e in j["runs"] if e.get("file") == "killed1.h5"]
check(len(lr) == 1 and lr[0]["status"] == "running" and "still running in killed1.h5 when the merge was "
      "made" in lr[0].get("note", ""), f"info: that part's run was running when merged, not killed ({lr})")
# ... it ends: merged again, its run is listed once, as its own file has it now
with h5py.File("killed1.h5", "r+") as f:
    klog[-1].update(status="complete", points_computed=kdone)
    raw = json.dumps(klog).encode()
    f["run_log"][...] = np.frombuffer(raw + b"\0" * (65536 - len(raw)), np.uint8)
r = run("merge", "killed1.h5", "--out", "live_m.h5")
j = json.loads(run("info", "live_m.h5", "--json").stdout)
lr = [e for e in j["runs"] if e.get("file") == "killed1.h5"]
check(r.returncode == 75 and len(lr) == 1 and lr[0]["status"] == "complete" and "note" not in lr[0],
      f"merged again once the part ended: its run once, complete ({lr})")
# A part killed (SIGKILL) with half its points, merged, then resumed and merged again into the
# same file: the killed run keeps the points it computed (in the merged log the run after it was
# another part's, and it showed 0), and the merged log lists the runs in time order (the resume
# came last, after the earlier merge).
def set_log(path, log, keep_done=None):
    with h5py.File(path, "r+") as f:
        raw = json.dumps(log).encode()
        f["run_log"][...] = np.frombuffer(raw + b"\0" * (65536 - len(raw)), np.uint8)
        if keep_done is not None:
            d = f["done"][()]
            for iy, ix in np.argwhere(d == 1)[keep_done:]:
                d[iy, ix] = 0
            f["done"][...] = d


with h5py.File("p1.h5", "r") as f:
    run_a = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())[-1]
    pdone = int(f["done"][()].sum())
half = pdone // 2
run_a.update(status="running", points_done_before=0, start="2020-01-01T00:00:00Z")
run_a.pop("points_computed", None)
# (the resume started after the other parts' runs and the first merge: in the merged log the
# run after the killed one is another part's, so only the merge can count its points)
run_b = dict(run_a, status="complete", points_done_before=half, points_computed=pdone - half,
             start="2030-01-01T01:00:00Z", end="2030-01-01T01:10:00Z")
shutil.copy("p1.h5", "resumed1.h5")
set_log("resumed1.h5", [run_a], keep_done=half)
r1 = run("merge", "resumed1.h5", "p2.h5", "--out", "resumed_m.h5")
shutil.copy("p1.h5", "resumed1.h5")
set_log("resumed1.h5", [run_a, run_b])
r2 = run("merge", "resumed1.h5", "p2.h5", "p3.h5", "--out", "resumed_m.h5")
j = json.loads(run("info", "resumed_m.h5", "--json").stdout)
rr = [(e["status"], e["points_computed"]) for e in j["runs"] if e.get("file") == "resumed1.h5"]
check(r1.returncode == 75 and r2.returncode == 0 and rr == [("killed", half), ("complete", pdone - half)],
      f"a killed part resumed and merged again: the killed run keeps its {half} points ({rr})")
with h5py.File("resumed_m.h5", "r") as f:
    rlog = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
times = [e.get("start", e.get("time")) for e in rlog]
check(times[:-1] == sorted(times[:-1]) and "merge" in rlog[-1] and rlog[0]["start"] == "2020-01-01T00:00:00Z"
      and rlog[-2]["start"] == "2030-01-01T01:00:00Z" and "merge" not in rlog[1],
      f"the merged run log in time order, the new merge last ({times})")

# A grid bound of -0 (written "-0:1:2" by versions before 2026-12-06, "0:1:2" now): parts of
# either spelling are one sweep, and a merged file (written anew as "0:1:2") is merged into again
ZS = ["sweep", *COMMON, "--x", "0:1:2", "--directions", "dirs.h5"]
for k in (1, 2):
    must(*ZS, "--part", f"{k}/2", "--out", f"z{k}.h5")
    shutil.copy(f"z{k}.h5", f"zold{k}.h5")
    with h5py.File(f"zold{k}.h5", "r+") as f:
        for attr in ("identity", "config"):
            j = json.loads(f.attrs[attr])
            j["x"] = "-0:1:2"
            f.attrs[attr] = json.dumps(j)
r1 = run("merge", "zold1.h5", "zold2.h5", "--out", "zm.h5")
r2 = run("merge", "zold1.h5", "zold2.h5", "--out", "zm.h5")
r3 = run("merge", "zold1.h5", "z2.h5", "--out", "zmix.h5")
r4 = run(*ZS, "--part", "1/2", "--out", "zold1.h5")
check([r.returncode for r in (r1, r2, r3, r4)] == [0, 0, 0, 0],
      f"parts of a -0 grid written '-0:1:2': merged, merged again, mixed with '0:1:2' parts, resumed "
      f"({[(r.returncode, r.stderr.strip()[-200:]) for r in (r1, r2, r3, r4)]})")
# Hundreds of parts with long paths: the merge entry names the first and last ten and their
# number, and the run log stays JSON (it was cut in the middle of a string).
os.makedirs("many", exist_ok=True)
links = []
for i in range(400):
    name = f"many/{'a_rather_long_name_for_a_part_file_of_a_large_fan_out_' * 3}{i:03d}.h5"
    if not os.path.exists(name):
        os.link("p1.h5", name)
    links.append(name)
r = run("merge", *links, "--out", "many.h5")
with h5py.File("many.h5", "r") as f:
    raw = bytes(f["run_log"][()]).rstrip(b"\0").decode()
try:
    mlog = json.loads(raw)
    parts_entry = mlog[-1]["merge"]["parts"]
except (ValueError, KeyError, IndexError, TypeError) as e:
    mlog, parts_entry = None, repr(e)
check(r.returncode == 75 and mlog is not None and len(parts_entry) == 21 and
      parts_entry[:10] == links[:10] and parts_entry[-10:] == links[-10:] and
      parts_entry[10] == "... (380 more: 400 parts in all)",
      f"a merge of 400 long-named parts: the run log is JSON, the parts shortened "
      f"({r.returncode}, {len(raw)} bytes, {str(parts_entry)[:200]})")

# ---- values that must agree exactly: an infinity agrees only with itself; counts and messages ----
shutil.copy("whole.h5", "whole_inf.h5")
with h5py.File("whole_inf.h5", "r+") as f:
    loss = f["train_loss"][()]
    loss[0, 0] = np.inf
    f["train_loss"][...] = loss
r = run("merge", "whole_inf.h5", "p1.h5", "p2.h5", "p3.h5", "--out", "inf_m.h5")
check(r.returncode == 1 and "disagree at point" in r.stderr and "train_loss" in r.stderr and " inf" in r.stderr
      and not os.path.exists("inf_m.h5"), f"an infinite value against a finite one: refused ({r.stderr.strip()})")
# a diverged point (NaN loss) in both inputs: its accuracy (argmax over NaN logits) is not compared;
# with a finite loss the same accuracy difference is refused
iy, ix = np.argwhere(parts[0]["done"] == 1)[0]  # (a point of part 1, and of the whole sweep)
def nan_point(src, dst, loss, acc):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for name, v in (("train_loss", loss), ("train_acc", acc)):
            a = f[name][()]
            a[iy, ix] = v
            f[name][...] = a
nan_point("whole.h5", "nan_a.h5", np.nan, 10.0)
nan_point("p1.h5", "nan_b.h5", np.nan, 40.0)
r = run("merge", "nan_a.h5", "nan_b.h5", "--out", "nan_m.h5")
check(r.returncode == 0, f"NaN loss in both inputs: accuracies 10 and 40 not compared ({r.returncode}: "
                         f"{r.stderr.strip()})")
nan_point("whole.h5", "nan_c.h5", 2.0, 10.0)
nan_point("p1.h5", "nan_d.h5", 2.0, 40.0)
r = run("merge", "nan_c.h5", "nan_d.h5", "--out", "nan_m2.h5")
check(r.returncode == 1 and "train_acc 40 vs 10" in r.stderr,
      f"the same accuracies at a finite loss: refused ({r.stderr.strip()})")
# three inputs holding every point: 35 points in several inputs, not 70
r = run("merge", "p1.h5", "p2.h5", "p3.h5", "whole.h5", "overlap.h5", "--out", "three.h5")
check(r.returncode == 0 and "(35 points were in several inputs" in r.stdout,
      f"points held by three inputs are counted once ({r.stdout.strip()[-160:]})")
# the odd part named, not the existing output that agrees with the other part
shutil.copy("whole.h5", "agrees_out.h5")
r = run("merge", "other_samples.h5", "p3.h5", "--out", "agrees_out.h5")
check(r.returncode == 1 and r.stderr.startswith("losscape: error: p3.h5 is not a part of the same sweep as "
                                                "other_samples.h5") and "exists" not in r.stderr,
      f"parts of two sweeps and an output of one of them: the parts' difference is named ({r.stderr.strip()})")
# a merge that fails after copying its parts' directions beside the output leaves no copy behind
for k in (1, 2):
    must(*OWN, "--part", f"{k}/3", "--out", f"own/f.part-{k}-of-3.h5")
os.makedirs("own/f.h5.merging/x", exist_ok=True)  # (the temporary cannot be made)
r = run("merge", "own/f.part-1-of-3.h5", "own/f.part-2-of-3.h5", "--out", "own/f.h5")
check(r.returncode == 1 and not os.path.exists("own/f.h5") and not os.path.exists("own/f.dirs.h5"),
      f"a failed merge leaves neither the output nor its directions' copy ({r.returncode}: {r.stderr.strip()})")
shutil.rmtree("own/f.h5.merging")
# identity entries files of earlier versions lack are compared between the parts that have them,
# whatever the first part is
shutil.copy("p1.h5", "old_p1.h5")
shutil.copy("p3.h5", "other_data_p3.h5")
for name, edit in (("old_p1.h5", lambda i: i.pop("data")), ("other_data_p3.h5", lambda i: i["data"].update(train="fnv1a64:0"))):
    with h5py.File(name, "r+") as f:
        ident = json.loads(f.attrs["identity"])
        edit(ident)
        f.attrs["identity"] = json.dumps(ident)
r = run("merge", "old_p1.h5", "p2.h5", "other_data_p3.h5", "--out", "old_m.h5")
check(r.returncode == 1 and "other_data_p3.h5 is not a part of the same sweep as p2.h5: its data" in r.stderr,
      f"an old first part does not let two new parts on other data through ({r.stderr.strip()})")
# an identity entry of another type (a damaged or edited file: "samples": "200") is named with
# its file by merge and info, not by a JSON type error that names nothing
# (each file's identity edited once: h5py's second replacement of an attribute of a file whose
# attributes are indexed by creation order fails in HDF5 1.10, "record is not in B-tree")
def edit_identity(src, dst, edit):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        ident = json.loads(f.attrs["identity"])
        edit(ident)
        f.attrs["identity"] = json.dumps(ident)
edit_identity("p1.h5", "typed_p1.h5", lambda i: i.update(samples=str(i["samples"])))
r = run("merge", "typed_p1.h5", "p2.h5", "--out", "typed_m.h5")
check(r.returncode == 1 and r.stderr.count("\n") == 1 and "typed_p1.h5" in r.stderr
      and "'samples'" in r.stderr and "json" not in r.stderr.lower() and not os.path.exists("typed_m.h5"),
      f"merge: an identity entry of another type is named ({r.returncode}: {r.stderr.strip()})")
r = run("info", "typed_p1.h5")
check(r.returncode == 1 and "typed_p1.h5" in r.stderr and "'samples'" in r.stderr,
      f"info: an identity entry of another type is named ({r.returncode}: {r.stderr.strip()})")
edit_identity("p2.h5", "typed_p2.h5", lambda i: [i.pop("loss"), i.pop("samples")])  # info says '?'
r = run("info", "typed_p2.h5")
check(r.returncode == 0 and "loss ?" in r.stdout and "samples ?" in r.stdout,
      f"info: a surface whose identity lacks loss and samples ({r.returncode}: {r.stderr.strip()})")
r = run("info", "p1.h5", "--arch", "cnn_small")
check(r.returncode == 1 and "--arch is for a model" in r.stderr and "p1.h5 (a surface file)" in r.stderr,
      f"info SURFACE --arch: refused naming --arch ({r.returncode}: {r.stderr.strip()})")
# info's value at θ*: a coordinate computed as -1.4e-17 (--x -0.1:0.5:7) is θ*'s, as the sweep says
r = must("sweep", *COMMON, "--x", "-0.1:0.5:7", "--directions", "dirs.h5", "--out", "near0.h5")
with h5py.File("near0.h5", "r") as f:
    xs, loss = f["xcoordinates"][()], f["train_loss"][()]
j = json.loads(must("info", "--json", "near0.h5").stdout)
k0 = int(np.argmin(np.abs(xs)))
check(0 < abs(xs[k0]) < 1e-15 and "no point at 0" not in r.stderr and
      j["summary"]["train_loss"].get("at_origin") == loss[k0],
      f"info: the value at θ* where its coordinate is {xs[k0]:.3g} ({j['summary']['train_loss']})")

# ---- memory: the inputs are merged one at a time, so a merge's peak memory does not grow with
# the number of parts (every input was read whole first: a 1000-part fan-out of a 1001 x 1001
# grid needed 25-48 GB). 2 and 14 names of one part file of a 1001 x 1001 grid (9 MB of values
# and seconds each), peak RSS of each merge ----
must("sweep", *COMMON, "--x", "-1:1:1001", "--y", "-1:1:1001", "--directions", "dirs.h5",
     "--part", "1/20", "--stop-after", "1", "--out", "big_part.h5", expect_ok=False)
os.makedirs("big", exist_ok=True)
for i in range(14):
    if not os.path.exists(f"big/{i:02d}.h5"):
        os.link("big_part.h5", f"big/{i:02d}.h5")
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
peaks = []
for n in (2, 14):
    r = subprocess.run([sys.executable, "-c", PEAK, LOSSCAPE, "merge",
                        *[f"big/{i:02d}.h5" for i in range(n)], "--out", f"big_m{n}.h5", "--quiet"],
                       capture_output=True, text=True)
    rc, kb = (r.stdout.split() + ["?", "0"])[:2]
    peaks.append((n, rc, int(kb) // 1024))
check(all(rc == "75" for _, rc, _ in peaks) and peaks[1][2] - peaks[0][2] < 40,
      f"a merge's peak memory does not grow with its inputs (parts, exit, MB: {peaks})")

# ---- a stop signal (a merge job's time limit, scancel): the output as it was, nothing left ----
# SIGTERM once the merge holds the output's lock, while it reads 2000 inputs (~3 s here): exit 75,
# one "interrupted" line, the existing output byte for byte, no lock and no .merging file (a
# killed merge left both; another host's merge then waited for the lock to go stale).
for i in range(len(links), 2000):
    name = f"many/{i:04d}.h5"
    if not os.path.exists(name):
        os.link("p1.h5", name)
    links.append(name)
shutil.copy("many.h5", "stopped.h5")
before = open("stopped.h5", "rb").read()
proc = subprocess.Popen([LOSSCAPE, "merge", *links, "--out", "stopped.h5"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
for _ in range(20000):
    if os.path.exists("stopped.h5.lock") or proc.poll() is not None:
        break
    time.sleep(0.001)
proc.send_signal(signal.SIGTERM)
out, err = proc.communicate(timeout=120)
left = [n for n in ("stopped.h5.lock", "stopped.h5.merging") if os.path.exists(n)]
check(proc.returncode == 75 and err.startswith("losscape: interrupted: stopped.h5: the merge was "
                                               "stopped by a signal") and err.count("\n") == 1
      and open("stopped.h5", "rb").read() == before and not left,
      f"a merge stopped by SIGTERM: exit 75, one line, the output unchanged, nothing left behind "
      f"({proc.returncode}: {err.strip()[:300]}; left {left})")
r = run("merge", *links[:3], "--out", "stopped.h5", "--quiet")
check(r.returncode == 75 and "interrupted" not in r.stderr,
      f"the same merge again runs ({r.returncode}: {r.stderr.strip()[:200]})")
# ... and during MPI_Init (Open MPI starting its daemon, a child of the merge: the handler was set
# after it, and the merge died of the signal, 143, without a word)
proc = subprocess.Popen([LOSSCAPE, "merge", *links[:3], "--out", "stopped.h5", "--quiet"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
for _ in range(20000):
    if proc.poll() is not None or subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).returncode == 0:
        break
    time.sleep(0.002)
proc.send_signal(signal.SIGTERM)
out, err = proc.communicate(timeout=120)
check(proc.returncode == 75 and "losscape: interrupted: stopped.h5" in err,
      f"a merge stopped by SIGTERM during MPI's start-up: exit 75, said ({proc.returncode}: {err.strip()[-300:]})")

conclude()
print("all merge checks passed")

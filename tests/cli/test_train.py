"""`losscape train`, `losscape project` (and `directions --pca` when present) end to end on a
synthetic MNIST-format data set, checked with h5py/numpy: the run folder, the log, the checkpoint
layout, refusals of bad input, resume through the command line, and the trajectory projection
against a PCA file written here with numpy in the reference's layout (no losscape attributes).
Environment: LOSSCAPE (the program), TEST_WORK_DIR (scratch). Exit 77 = skipped."""
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("needs h5py and numpy")
    sys.exit(77)

from clitest import check, conclude, run as run_args, setup  # noqa: E402

EXE = setup("/tmp/losscape-test-train", fashion_mnist=False)


def run(*args, expect=0):
    return run_args(list(args), expect)


def write_idx(prefix, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:28, 0:28]
    imgs = np.empty((n, 28, 28), np.uint8)
    for i, c in enumerate(labels):
        period = 2 + c // 2
        coord = (xx if c % 2 == 0 else yy) + rng.integers(0, 7)
        v = 20 + 8 * c + 120 * ((coord // period) % 2) + rng.integers(-25, 26, (28, 28))
        imgs[i] = np.clip(v, 0, 255)
    with open(f"data/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + imgs.tobytes())
    with open(f"data/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


os.makedirs("data")
write_idx("train", 1024, 1)
write_idx("t10k", 256, 2)
common = ["--arch", "cnn_small", "--dataset", "mnist", "--data-dir", "data", "--batch-size", "64",
          "--lr", "0.05", "--seed", "3", "--device", "cpu", "--threads", "1", "--milestones", "3"]


def without(args, *flags):  # args less the given flags and their values
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        else:
            out.append(a)
    return out


# ---- a short run ----
p = run("train", *common, "--epochs", "4", "--out", "run")
lines = [l for l in p.stdout.splitlines() if l.startswith("epoch")]
check(len(lines) == 5, "one line per epoch 0..4 on stdout")
check("\r" not in p.stdout, "no progress bar when stdout is not a terminal")
files = sorted(os.listdir("run"))
check(files == ["log.jsonl"] + [f"model_{k}.h5" for k in range(5)], f"run folder holds {files}")
log = [json.loads(l) for l in open("run/log.jsonl")]
check([r["epoch"] for r in log] == list(range(5)), "log.jsonl has epochs 0..4")
check(all(k in log[1] for k in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")),
      "log records carry loss, accuracy, lr, seconds")
check(log[4]["lr"] == 0.05 * 0.1 and log[3]["lr"] == 0.05, "milestone 3: lr x0.1 from epoch 4")
check(log[4]["train_loss"] < 0.5 * log[0]["train_loss"], "training loss goes down")
check(log[4]["test_acc"] > 60, f"test accuracy {log[4]['test_acc']:.1f} % is far above chance")
with h5py.File("run/model_4.h5", "r") as f:
    check(f.attrs["format"] in ("losscape-checkpoint", b"losscape-checkpoint"), "checkpoint format")
    check(int(f.attrs["epoch"]) == 4, "checkpoint epoch")
    check(abs(float(f.attrs["test_acc"]) - log[4]["test_acc"]) < 1e-9, "checkpoint test_acc = log")
    cfg = json.loads(f.attrs["config"])
    check(cfg["arch"] == "cnn_small" and cfg["nesterov"] and cfg["momentum"] == 0.9,
          "full configuration stored")
    opt = list(f["optimizer"].keys())
    params = [k for k in f["state"].keys() if not k.endswith(("running_mean", "running_var",
                                                              "num_batches_tracked"))]
    check(sorted(opt) == sorted("momentum_buffer." + k for k in params),
          "one momentum buffer per parameter in /optimizer")
# info of a checkpoint says its epoch, that epoch's metrics (as log.jsonl has them) and recipe.
info = json.loads(run("info", "run/model_4.h5", "--json").stdout)["training"]
check(info["epoch"] == 4 and all(abs(info[k] - log[4][k]) < 1e-9 for k in
                                 ("train_loss", "train_acc", "test_loss", "test_acc"))
      and info["config"] == cfg, "info --json of a checkpoint: epoch, metrics = log.jsonl, config")
text = run("info", "run/model_4.h5").stdout
check("epoch        4 of 4\n" in text and f"test loss {log[4]['test_loss']:.4f} acc {log[4]['test_acc']:.2f} %" in text
      and f"batch {cfg['batch_size']}, weight decay {cfg['weight_decay']}" in text,
      "info of a checkpoint: epoch, metrics and recipe lines")
check("(the initialization, before any step)" in run("info", "run/model_0.h5").stdout,
      "info of epoch 0: the initialization")

# ---- bad input: nothing overwritten ----
before = {f: digest("run/" + f) for f in os.listdir("run")}
p = run("train", *common, "--epochs", "4", "--out", "run", expect=1)
check("already holds a training run" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
      "existing run without --resume: one-line error")
# ... also named through a folder that does not exist and '..' (run/sub/.. was not seen as the run
# while sub did not exist: a new run wrote over model_0.., its log moved aside), and --dry-run says so
for extra in ([], ["--dry-run"]):
    p = run("train", *common, "--epochs", "4", "--out", "run/sub/..", *extra, expect=1)
    check("run already holds a training run" in p.stderr and not os.path.exists("run/sub"),
          f"an existing run named as run/sub/.. {' '.join(extra)}: refused, no sub made ({p.stderr.strip()})")
p = run("train", "--arch", "resnet57", "--dataset", "mnist", "--data-dir", "data", "--out", "x",
        expect=1)
check("unknown architecture 'resnet57'" in p.stderr, "unknown architecture named")
p = run("train", "--arch", "cnn_small", "--dataset", "mnist", "--data-dir", "nodata", "--out", "y",
        expect=1)
check("nodata" in p.stderr and ("no such file" in p.stderr or "does not exist" in p.stderr),
      "missing data set named: " + p.stderr.strip())
check(not os.path.exists("x") and not os.path.exists("y"), "no folder made for refused runs")
p = run("train", "--resume", "--lr", "0.2", "--out", "run", expect=1)
check("differs from the run being resumed" in p.stderr, "resume with another lr refused")
p = run("train", "--resume", "--no-nesterov", "--out", "run", expect=1)
check("--no-nesterov differs from the run being resumed (nesterov true" in p.stderr,
      f"resume with --no-nesterov refused, naming the flag as given: {p.stderr.strip()}")
# the same conflict from a --config file is named by the file and its key (it was named as a flag)
with open("lr.json", "w") as f:
    json.dump({"lr": 0.2, "epochs": 5}, f)
p = run("train", "--resume", "--config", "lr.json", "--out", "run", expect=1)
check('lr.json: "lr" 0.2 differs from the run being resumed (lr 0.05' in p.stderr,
      f"resume with a --config of another lr: named by the file and key: {p.stderr.strip()}")
check("--lr 0.2 differs" in run("train", "--resume", "--config", "lr.json", "--lr", "0.2", "--out", "run",
                                expect=1).stderr, "... and by the flag when the flag gives it")
check({f: digest("run/" + f) for f in os.listdir("run")} == before, "refused runs changed nothing")
# a run folder holding a log but no checkpoint (deleted): the log is kept aside, with a note
os.makedirs("only_log")
old_log = '{"epoch": 0}\n{"epoch": 1}\n'
open("only_log/log.jsonl", "w").write(old_log)
p = run("train", *common, "--epochs", "0", "--resume", "--out", "only_log")
check("only_log holds a log but no checkpoint: the log is kept as only_log/log.jsonl.old" in p.stderr
      and open("only_log/log.jsonl.old").read() == old_log
      and [json.loads(l)["epoch"] for l in open("only_log/log.jsonl")] == [0],
      f"a log without checkpoints is kept as log.jsonl.old, noted: {p.stderr.strip()}")
p = run("train", *common, "--epochs", "6", "--resume", "--out", "run", "--dry-run")
check("run folder  run: would be resumed from run/model_4.h5 (epoch 4)" in p.stdout and
      "2 to run (5 .. 6)" in p.stdout, f"--dry-run of a resume: the plan: {p.stdout[:300]!r}")
p = run("train", *common, "--epochs", "2", "--out", "fresh", "--dry-run")
check("run folder  fresh: would be started" in p.stdout and not os.path.exists("fresh"),
      "--dry-run of a new run: the plan, no folder made")
p = run("train", *[a if a != "data" else "nodata" for a in common], "--epochs", "2", "--out",
        "fresh", "--dry-run", expect=1)
check("nodata" in p.stderr, "--dry-run with a missing data set: the run's error")
with open("afile", "w") as f:
    f.write("x")
p = run("train", *common, "--epochs", "2", "--out", "afile", "--dry-run", expect=1)
check("afile: exists and is not a folder" in p.stderr, f"--out naming a file: refused: {p.stderr.strip()}")
p = run("train", *common, "--epochs", "4", "--resume", "--out", "run", "--dry-run")
check("none to run: the run is complete (epoch 4 of 4)" in p.stdout,
      f"--dry-run of a finished run: nothing to run: {p.stdout[:200]!r}")
# A --config key whose value is null counts as absent, as in sweep --config: adam's default lr
# and the milestones scaled to --epochs (null gave lr 0.1 and 150,225,275), and on a resume the
# run's own epochs (null made a finished 4-epoch run a 300-epoch one)
with open("nulls.json", "w") as f:
    json.dump({"optimizer": "adam", "lr": None, "milestones": None, "momentum": None}, f)
p = run("train", "--config", "nulls.json", *without(common, "--milestones", "--lr"), "--epochs", "4",
        "--out", "nulls", "--dry-run")
conf = json.loads(re.search(r"configuration: (\{.*\})", p.stdout).group(1))
check(conf["lr"] == 0.001 and conf["milestones"] == [2, 3, 4],
      f"null lr / milestones in --config: the defaults (lr {conf['lr']}, milestones {conf['milestones']})")
with open("null_epochs.json", "w") as f:
    json.dump({"epochs": None, "data_dir": None}, f)
p = run("train", "--config", "null_epochs.json", "--resume", "--threads", "1", "--out", "run", "--dry-run")
check("none to run: the run is complete (epoch 4 of 4)" in p.stdout,
      f"null epochs in a resume's --config: the run's own 4 ({p.stdout[:300]!r})")
# samples / test_samples out of range in a --config: named by the file's key, even where a flag
# replaces the value (they were named as the flag, or accepted under one)
for key in ("samples", "test_samples"):
    with open("neg.json", "w") as f:
        json.dump({key: -5}, f)
    flag = "--" + key.replace("_", "-")
    for extra in ([], [flag, "100"]):
        p = run("train", "--config", "neg.json", *common, *extra, "--epochs", "1", "--out", "neg",
                "--dry-run", expect=1)
        check(f'neg.json: "{key}" must not be negative' in p.stderr,
              f"--config {key} -5{' under ' + flag if extra else ''}: named by the key ({p.stderr.strip()})")
check(before == {f: digest("run/" + f) for f in os.listdir("run")}, "refusals and dry runs changed nothing")
p = run("train", *common, "--test-samples", "20000", "--epochs", "1", "--out", "ts", expect=1)
check("--test-samples 20000 exceeds the 256 samples of the test split" in p.stderr,
      f"--test-samples beyond the split: named as given: {p.stderr.strip()}")

# ---- batches of one sample: trained where batch normalization allows (cnn_small's BN sees
# 28 x 28 values per channel), refused before anything is written where it does not (VGG-9's
# BatchNorm1d); a last batch of one is trained or skipped by the same rule ----
one = [a for a in common if a not in ("--batch-size", "64")]
p = run("train", *one, "--batch-size", "1", "--samples", "3", "--epochs", "1", "--out", "b1")
log = [json.loads(l) for l in open("b1/log.jsonl")]
with h5py.File("b1/model_0.h5", "r") as f0, h5py.File("b1/model_1.h5", "r") as f1:
    moved = max(float(np.abs(f1["state"][k][()] - f0["state"][k][()]).max())
                for k in f0["state"] if f0["state"][k].dtype.kind == "f")
check(log[0]["epoch"] == 0 and log[0]["fit_loss"] is None and log[0]["fit_acc"] is None,
      f"epoch 0 fitted no batch: its fit_loss and fit_acc are null ({log[0]})")
check(moved > 1e-4 and log[1]["fit_loss"] > 0,
      f"--batch-size 1 trains (largest weight change {moved:.3g}, fit loss {log[1]['fit_loss']})")
p = run("train", *one, "--batch-size", "64", "--samples", "65", "--epochs", "1", "--out", "b65",
        "--dry-run")
check("2 batches of up to 64 images each per epoch" in p.stdout, f"a last batch of one sample is trained: {p.stdout!r}")
p = run("train", *without(one, "--milestones"), "--batch-size", "8192", "--samples", "65", "--epochs", "2", "--out", "b8192",
        "--dry-run")
check("1 batch of up to 65 images each per epoch" in p.stdout and p.stderr.strip() == "losscape: note: --batch-size 8192 is more "
      "than the 65 training samples: every step is one full batch of 65, one step per epoch",
      f"a batch larger than the training set: a note ({p.stderr.strip()})")
vgg = [a if a != "cnn_small" else "vgg9" for a in one]
p = run("train", *vgg, "--batch-size", "64", "--samples", "65", "--epochs", "1", "--out", "v65",
        "--dry-run")
check("1 batch of up to 64" in p.stdout, f"VGG-9: a last batch of one sample is skipped: {p.stdout!r}")
for opt, val, bs in (("--batch-size", "1", "1"), ("--samples", "1", "8")):
    p = run("train", *vgg, "--batch-size", bs, "--samples", "1" if opt == "--samples" else "8",
            "--epochs", "1", "--out", "v1", expect=1)
    check(f"{opt} {val}: vgg9 cannot train on batches of one sample" in p.stderr and
          len(p.stderr.strip().splitlines()) == 1 and not os.path.exists("v1"),
          f"VGG-9 with {opt} {val}: one line, no folder: {p.stderr.strip()}")

# ---- --config: a checkpoint's stored configuration trains again, its "out" the run folder ----
with h5py.File("run/model_4.h5", "r") as f:
    stored = json.loads(f.attrs["config"])
with open("again.json", "w") as f:
    json.dump({**stored, "epochs": 1, "milestones": [], "out": "again"}, f)
run("train", "--config", "again.json", "--threads", "1")
check(sorted(os.listdir("again")) == ["log.jsonl", "model_0.h5", "model_1.h5"],
      "train --config with \"out\" and no --out writes that run folder")
with open("typo.json", "w") as f:
    json.dump({**stored, "weight_decy": 0.1, "out": "typo"}, f)
p = run("train", "--config", "typo.json", expect=1)
check("typo.json" in p.stderr and "weight_decy" in p.stderr and not os.path.exists("typo"),
      f"an unknown key in the config is refused, naming the file: {p.stderr.strip()}")

# ---- resume through the command line: 2 epochs, then --resume --epochs 4 ----
p = run("train", *common, "--epochs", "2", "--out", "run2")
check(p.stderr.strip() == "losscape: note: milestone 3 is beyond the last epoch (--epochs 2): the learning rate "
      "drops after a milestone's epoch, so only if a --resume trains further",
      f"a milestone beyond --epochs: a note ({p.stderr.strip()})")
# A milestone at --epochs drops the rate after the last epoch: noted when given, not for the
# default schedule, which has one there for a few epochs (4 -> 2, 3, 4).
p = run("train", *without(common, "--milestones"), "--milestones", "2", "--epochs", "2", "--out",
        "at_end", "--dry-run")
check(p.stderr.strip() == "losscape: note: milestone 2 is at the last epoch (--epochs 2): the learning "
      "rate drops after a milestone's epoch, so only if a --resume trains further", f"a milestone at --epochs: "
      f"a note ({p.stderr.strip()})")
# Every milestone at or past the last epoch, in one note (only the first was named), and without
# a flag's name: these come from a --config file.
with open("late.json", "w") as f:
    json.dump({"milestones": [4, 1, 2, 3]}, f)
p = run("train", *without(common, "--milestones"), "--config", "late.json", "--epochs", "2", "--out",
        "late", "--dry-run")
check(p.stderr.strip() == "losscape: note: milestones 2, 3, 4 are at or beyond the last epoch (--epochs 2): "
      "the learning rate drops after a milestone's epoch, so only if a --resume trains further",
      f"milestones at and beyond --epochs from a file: one note naming them all ({p.stderr.strip()})")
p = run("train", *without(common, "--milestones"), "--epochs", "4", "--out", "at_end", "--dry-run")
check("note" not in p.stderr, f"the default milestones for --epochs 4: no note ({p.stderr.strip()})")
p = run("train", "--resume", "--epochs", "4", "--threads", "1", "--out", "run2")
check("resuming" in p.stdout and "beyond" not in p.stderr, "resume announced (no note: the milestone is reached)")
# A short run of the default schedule extended: it keeps [1], said (a run of 4 epochs decays at 2, 3, 4)
run("train", *without(common, "--milestones"), "--epochs", "1", "--out", "short")
p = run("train", "--resume", "--epochs", "4", "--threads", "1", "--out", "short", "--dry-run")
check(p.stderr.strip() == "losscape: note: short keeps its milestones 1 (the default for its --epochs 1), "
      "not --epochs 4's 2,3,4: a resumed run keeps its schedule", f"extended past a short run's default "
      f"milestones: a note ({p.stderr.strip()})")
with open("m1.json", "w") as f:
    json.dump({"momentum": 1.5}, f)
p = run("train", *without(common, "--momentum"), "--config", "m1.json", "--epochs", "1", "--out", "m1", expect=1)
check(p.stderr.strip() == 'losscape: error: m1.json: "momentum" must be a number in [0, 1)'
      and not os.path.exists("m1"), f"--config momentum 1.5: refused naming the file ({p.stderr.strip()})")
with h5py.File("run/model_4.h5", "r") as a, h5py.File("run2/model_4.h5", "r") as b:
    same = all(np.array_equal(a["state"][k][()], b["state"][k][()]) for k in a["state"])
    same = same and all(np.array_equal(a["optimizer"][k][()], b["optimizer"][k][()])
                        for k in a["optimizer"])
    check(same, "resumed run equals the uninterrupted one bit for bit")

# A resume whose log.jsonl has a damaged line and lacks an epoch's line: the damaged line is kept
# as it is, both are noted (it was dropped, and the gap left, in silence); a torn last line goes.
shutil.copytree("run2", "run2_log")
os.remove("run2_log/model_4.h5")
lines = open("run2_log/log.jsonl").read().splitlines()
lines[1] = "garbage{"          # epoch 1's line
del lines[2]                   # epoch 2's line
open("run2_log/log.jsonl", "w").write("\n".join(lines) + "\n" + '{"epoch": 4, "train_lo')  # (torn)
p = run("train", "--resume", "--epochs", "4", "--threads", "1", "--out", "run2_log", "--quiet")
log = open("run2_log/log.jsonl").read().splitlines()
check("run2_log/log.jsonl: line 2 is not a log entry (damaged?): kept as it is" in p.stderr and
      "run2_log/log.jsonl has no line for epoch 1, 2 of the run resumed" in p.stderr and
      log[1] == "garbage{" and json.loads(log[-1])["epoch"] == 4 and len(log) == 4,
      f"a damaged log line kept, a missing one noted, the torn one gone ({p.stderr.strip()}; {log})")
p = run("train", "--resume", "--epochs", "2", "--threads", "1", "--out", "run2")
check("run run2 is at epoch 4, past --epochs 2; nothing to do" in p.stdout,
      f"a resume with --epochs below the run's: said as such ({p.stdout.strip()[-200:]})")

# A run started with --epochs 0 (the initial checkpoint alone) takes its schedule when resumed:
# the default milestones for the new --epochs (kept empty, the learning rate never decayed), or
# --milestones then.
nomil = without(common, "--milestones")
run("train", *nomil, "--epochs", "0", "--out", "zero_a")
shutil.copytree("zero_a", "zero_b")
p = run("train", "--resume", "--epochs", "4", "--threads", "1", "--out", "zero_a")
check("resuming zero_a/model_0.h5 at epoch 0\n" in p.stdout, "a resume from model_0 is announced as any other")
run("train", "--resume", "--epochs", "4", "--milestones", "3", "--threads", "1", "--out", "zero_b")
with h5py.File("zero_a/model_4.h5", "r") as a, h5py.File("zero_b/model_4.h5", "r") as b:
    ms_a, ms_b = json.loads(a.attrs["config"])["milestones"], json.loads(b.attrs["config"])["milestones"]
lr_a = [json.loads(l)["lr"] for l in open("zero_a/log.jsonl")][1:]
check(ms_a == [2, 3, 4] and ms_b == [3] and lr_a == [0.05, 0.05, 0.05 * 0.1, 0.05 * 0.1 * 0.1],
      f"--epochs 0 then --resume --epochs 4: milestones {ms_a} (the default for 4 epochs), "
      f"with --milestones 3: {ms_b}; learning rates {lr_a}")

# A batch larger than anything (2^63 - 1) is one batch of the whole set, as --batch-size 1024 on
# these 1024 images (the count of batches overflowed: nothing was trained, exit 0).
big = without(common, "--batch-size")
run("train", *big, "--batch-size", str(2**63 - 1), "--epochs", "1", "--out", "huge_batch")
run("train", *big, "--batch-size", "1024", "--epochs", "1", "--out", "whole_batch")
with h5py.File("huge_batch/model_1.h5", "r") as a, h5py.File("whole_batch/model_1.h5", "r") as b, \
        h5py.File("huge_batch/model_0.h5", "r") as a0:
    same = all(np.array_equal(a["state"][k][()], b["state"][k][()]) for k in a["state"])
    moved = any(not np.array_equal(a["state"][k][()], a0["state"][k][()]) for k in a["state"])
check(same and moved, "--batch-size 2^63-1 trains one batch of the whole set, as --batch-size 1024")

# A resume whose newest checkpoint holds no training configuration (a checkpoint written by
# another tool records {}) or a damaged one: refused in one line naming that file.
# So is one that lacks a key (it was resumed on that key's default in silence: 300 epochs of the
# whole set for a 2-epoch run of 300 samples) or has one losscape does not record.
for tag, edit, says in (("empty", lambda c: {}, "holds no training configuration"),
                        ("damaged", lambda c: {**c, "lr": "x"}, "training configuration is damaged"),
                        ("partial", lambda c: {k: v for k, v in c.items() if k not in ("lr", "epochs")},
                         'its training configuration lacks "epochs" (a damaged or edited checkpoint)'),
                        ("unknown", lambda c: {**c, "bogus": 1},
                         'its training configuration has an unknown key "bogus"')):
    shutil.copytree("run2", f"run2_{tag}")
    with h5py.File(f"run2_{tag}/model_4.h5", "r+") as f:
        f.attrs["config"] = np.bytes_(json.dumps(edit(json.loads(f.attrs["config"]))))
    p = run("train", "--resume", "--epochs", "5", "--out", f"run2_{tag}", expect=1)
    check(len(p.stderr.strip().splitlines()) == 1 and f"run2_{tag}/model_4.h5" in p.stderr and
          says in p.stderr and not os.path.exists(f"run2_{tag}/model_5.h5"),
          f"resume from a checkpoint whose stored config is {tag}: refused ({p.stderr.strip()})")

# A device refused is named where it came from (it was named --device, a flag not given): the
# --config file's key, or on a resume the device the run recorded (edited here to one no machine
# has), with the flag that resumes it elsewhere
with open("baddev.json", "w") as f:
    json.dump({"device": "gpu"}, f)
p = run("train", *without(common, "--device"), "--epochs", "1", "--config", "baddev.json", "--out", "baddev", expect=1)
check(p.stderr.strip() == "losscape: error: baddev.json: \"device\" 'gpu': unknown device (expected auto, cpu, cuda "
      "or cuda:N)" and not os.path.exists("baddev"), f"--config device gpu: named by the file and key ({p.stderr.strip()})")
shutil.copytree("run2", "run2_dev")
with h5py.File("run2_dev/model_4.h5", "r+") as f:
    f.attrs["config"] = np.bytes_(json.dumps({**json.loads(f.attrs["config"]), "device": "cuda:9999999"}))
p = run("train", "--resume", "--epochs", "5", "--out", "run2_dev", expect=1)
check(p.stderr.strip().startswith("losscape: error: run2_dev: the run's recorded \"device\" cuda:9999999: ") and
      p.stderr.strip().endswith("; pass --device to resume it on another") and
      not os.path.exists("run2_dev/model_5.h5"), f"resume of a run recorded on a device not here: named ({p.stderr.strip()})")
p = run("train", "--resume", "--epochs", "5", "--out", "run2_dev", "--device", "cpu", "--dry-run")
check(p.returncode == 0, "... and --device cpu resumes it (a dry run)")

# A bad value in a --config file is named as the file's key (it was named as the flag).
for key, value, says in (("batch_size", 0, '"batch_size" must be at least 1'),
                         ("milestones", [0], '"milestones" must be epochs >= 1'),
                         ("lr", -1, '"lr" must be a positive number')):
    with open("badval.json", "w") as f:
        json.dump({key: value}, f)
    p = run("train", *common, "--epochs", "1", "--config", "badval.json", "--out", "badval", expect=1)
    check(p.stderr.strip() == f"losscape: error: badval.json: {says}" and not os.path.exists("badval"),
          f"--config with {key} {value}: refused naming the file ({p.stderr.strip()})")

# Adam with SGD's momentum from a --config: refused as the flags are (a stored SGD default passes)
for value, ok in ((0.5, False), (0.9, True)):
    with open("adam.json", "w") as f:
        json.dump({"optimizer": "adam", "momentum": value}, f)
    p = run("train", *without(common, "--lr"), "--epochs", "1", "--config", "adam.json", "--out", "adam",
            "--dry-run", expect=0 if ok else 1)
    check(ok or p.stderr.strip() == 'losscape: error: adam.json: "momentum" is for SGD only, not for '
          '"optimizer": "adam"', f"--config adam with momentum {value}: {p.stderr.strip() or 'taken'}")
# Values that depend on each other are checked as the flags leave them: a file's momentum 0
# with --no-nesterov is plain SGD, a file's Adam with momentum under --optimizer sgd is SGD
for cfg, flags, refusal in (({"momentum": 0}, [], 'm0.json: Nesterov momentum needs "momentum" > 0'),
                            ({"momentum": 0}, ["--no-nesterov"], None),
                            ({"optimizer": "adam", "momentum": 0.5}, ["--optimizer", "sgd"], None),
                            ({"momentum": 0.5}, ["--optimizer", "adam"],
                             'm0.json: "momentum" is for SGD only, not for --optimizer adam')):
    with open("m0.json", "w") as f:
        json.dump(cfg, f)
    p = run("train", *without(common, "--lr"), "--epochs", "1", "--config", "m0.json", *flags,
            "--out", "m0", "--dry-run", expect=1 if refusal else 0)
    check(p.stderr.strip() == f"losscape: error: {refusal}" if refusal else "error" not in p.stderr,
          f"--config {cfg} {' '.join(flags)}: {p.stderr.strip() or 'taken'}")

# Bad input leaves no folders behind: those made above the run folder for its lock go again
p = run("train", *without(common, "--data-dir"), "--data-dir", "nodata", "--epochs", "1", "--out",
        "newp/sub/run", expect=1)
check("nodata" in p.stderr and not os.path.exists("newp"),
      f"a missing data set: refused, newp/sub/ not left behind ({p.stderr.strip()})")
# A folder of torch.save checkpoints (a run of the reference) is not a place for a new run
os.makedirs("t7run")
for k in (0, 1):
    open(f"t7run/model_{k}.t7", "wb").close()
for extra in ([], ["--resume"]):
    p = run("train", *common, "--epochs", "1", "--out", "t7run", *extra, expect=1)
    check("t7run holds a run of torch.save checkpoints (model_0.t7 .. model_1.t7)" in p.stderr and
          sorted(os.listdir("t7run")) == ["model_0.t7", "model_1.t7"],
          f"a folder of .t7 checkpoints {' '.join(extra)}: refused, untouched ({p.stderr.strip()})")
# The training log must reach its file: a log that cannot be written (here /dev/full) ends the
# run with an error naming it, not exit 0 with every line lost; a log that is not a file is
# refused by a resume, which would replace it
os.makedirs("fullrun")
os.symlink("/dev/full", "fullrun/log.jsonl")
p = run("train", *common, "--epochs", "1", "--out", "fullrun", expect=1)
check("fullrun/log.jsonl: cannot write the training log (No space left on device)" in p.stderr,
      f"a log on a full device: exit 1, named ({p.stderr.strip()})")
shutil.copytree("run2", "logdir_run")
os.remove("logdir_run/log.jsonl")
os.makedirs("logdir_run/log.jsonl")
p = run("train", "--resume", "--epochs", "5", "--threads", "1", "--out", "logdir_run", expect=1)
# (before the run's header and notes: the error was printed after them)
check(p.stderr.strip() == "losscape: error: logdir_run/log.jsonl: is not a file (the run's training log); not resumed"
      and not p.stdout.strip() and not os.path.exists("logdir_run/model_5.h5"),
      f"a resume whose log is a folder: refused in one line ({p.stderr.strip()})")

# --milestones with an empty entry (a slip) is refused; '' is no schedule
for ms in ("2,,3", "2,3,", ",2"):
    p = run("train", *without(common, "--milestones"), "--milestones", ms, "--epochs", "1", "--out",
            "ms_bad", "--dry-run", expect=1)
    check(p.stderr.strip() == f"losscape: error: --milestones '{ms}': an empty entry (give epochs like "
          "150,225,275, or '' for none)", f"--milestones {ms}: refused ({p.stderr.strip()})")
p = run("train", *without(common, "--milestones"), "--milestones", "", "--epochs", "1", "--out",
        "ms_none", "--dry-run")
check('"milestones":[]' in p.stdout.replace(" ", ""), "--milestones '': no schedule")

# ---- stop signals (Slurm's time-limit warning): finish the epoch, checkpoint it, exit 75 ----
import signal


def train_until_signal(out, signals):
    """Start a 4-epoch run saving only at the end, send `signals` SIGUSR1s once epoch 1 is logged."""
    p = subprocess.Popen([EXE, "train", *common, "--epochs", "4", "--save-every", "10", "--out", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in p.stdout:
        seen.append(line)
        if line.startswith("epoch    1/4"):
            # Slurm's warning, then the limit's SIGTERM (two of one kind sent at once may
            # coalesce into one delivery: pending standard signals are not queued).
            for sig in [signal.SIGUSR1, signal.SIGTERM][:signals]:
                p.send_signal(sig)
            break
    out_rest, err = p.communicate(timeout=600)
    return p.returncode, "".join(seen) + out_rest, err


def same_as_uninterrupted(out):
    with h5py.File("run/model_4.h5", "r") as a, h5py.File(out + "/model_4.h5", "r") as b:
        return all(np.array_equal(a["state"][k][()], b["state"][k][()]) for k in a["state"])


rc, out, err = train_until_signal("run_sig", 1)
check(rc == 75, f"SIGUSR1 during training exits 75 (got {rc}) {err.strip()}")
cks = sorted(int(f[6:-3]) for f in os.listdir("run_sig") if f.startswith("model_"))
check(len(cks) >= 2 and cks[-1] in (1, 2, 3) and "stopped by a signal after epoch" in out,
      f"the epoch in progress is finished and checkpointed although --save-every 10: {cks}")
p = run("train", "--resume", "--threads", "1", "--out", "run_sig")
check(same_as_uninterrupted("run_sig"), "signal + resume equals the uninterrupted run bit for bit")
log = [json.loads(l)["epoch"] for l in open("run_sig/log.jsonl")]
check(log == list(range(5)), f"log.jsonl holds each epoch once: {log}")

rc, out, err = train_until_signal("run_sig2", 2)
cks = sorted(int(f[6:-3]) for f in os.listdir("run_sig2") if f.startswith("model_"))
check(rc == 75 and "stopped by a second signal" in out and cks == [0],
      f"a second signal gives up the epoch in progress (exit {rc}, checkpoints {cks})")
run("train", "--resume", "--threads", "1", "--out", "run_sig2")
check(same_as_uninterrupted("run_sig2"), "second-signal stop + resume equals the uninterrupted run")

# A run killed after an epoch's log line and before its checkpoint was renamed into place (the
# log line is written first): the state is a complete run without its last checkpoint. Resumed,
# it redoes that epoch: each epoch once in the log, the checkpoint as the uninterrupted run's.
shutil.copytree("run", "run_cut")
os.remove("run_cut/model_4.h5")
run("train", "--resume", "--threads", "1", "--out", "run_cut")
log = [json.loads(l)["epoch"] for l in open("run_cut/log.jsonl")]
check(log == list(range(5)) and same_as_uninterrupted("run_cut"),
      f"killed between an epoch's log line and its checkpoint: resumed, each epoch once ({log}), "
      "the same model_4")

# ---- options a run could not use, refused in one line before the folder is made ----
for opts, says in ((["--lr", "inf"], "--lr must be a positive number"),
                   (["--weight-decay", "nan"], "--weight-decay must be a number >= 0"),
                   (["--momentum", "1e400"], "--momentum must be a number in [0, 1)"),
                   (["--momentum", "1"], "--momentum must be a number in [0, 1)"),
                   (["--momentum", "-0.1"], "--momentum must be a number in [0, 1)"),
                   (["--gamma", "inf"], "--gamma must be a positive number")):
    p = run("train", *without(common, opts[0]), "--epochs", "1", *opts, "--out", "bad_opt", expect=1)
    check(p.stderr.strip() == f"losscape: error: {says}" and not os.path.exists("bad_opt"),
          f"train {' '.join(opts)}: refused ({p.stderr.strip()})")
for dry in ([], ["--dry-run"]):
    p = run("train", *common, "--epochs", "1", *dry, "--out", "run/model_0.h5/sub", expect=1)
    check(len(p.stderr.strip().splitlines()) == 1 and
          "run/model_0.h5/sub: the run folder cannot be made (" in p.stderr and
          "model_0.h5 is not a folder)" in p.stderr,
          f"train {' '.join(dry)} --out under a file: refused in one line ({p.stderr.strip()})")
# A folder that cannot be made although its parent looks writable (/proc): the error alone, no
# header of a run that never starts on stdout.
if os.path.isdir("/proc/self"):
    p = run("train", *common, "--epochs", "1", "--out", "/proc/losscape-x", expect=1)
    check(p.stdout == "" and "/proc/losscape-x: cannot make the run folder (" in p.stderr,
          f"train --out /proc/x: the error alone ({p.stdout.strip()!r}, {p.stderr.strip()})")
# The milestones of a resumed run given again in another order: the same schedule.
run("train", *without(common, "--milestones"), "--epochs", "1", "--milestones", "3,1", "--out", "ms_run")
p = run("train", *without(common, "--milestones"), "--epochs", "2", "--milestones", "3,1", "--resume",
        "--out", "ms_run")
check(os.path.exists("ms_run/model_2.h5"),
      "--milestones 3,1 given again on --resume: the same schedule as the stored [1, 3]")
# Checkpoint names: an epoch out of range, or one epoch twice (model_2.h5, model_02.h5).
shutil.copytree("run", "run_names")
shutil.copy("run_names/model_4.h5", "run_names/model_99999999999999999999.h5")
for cmd in (["directions", "--pca", "-c", "run_names", "--out", "x.h5"],
            ["train", "--resume", "--threads", "1", "--out", "run_names"]):
    p = run(*cmd, expect=1)
    check(p.stderr.strip() == "losscape: error: run_names/model_99999999999999999999.h5: the epoch "
          "in its name is out of range", f"{cmd[0]}: an epoch out of range named: {p.stderr.strip()}")
os.remove("run_names/model_99999999999999999999.h5")
shutil.copy("run_names/model_2.h5", "run_names/model_02.h5")
p = run("directions", "--pca", "-c", "run_names", "--out", "x.h5", expect=1)
check("run_names: two checkpoints of epoch 2 (" in p.stderr and "model_02.h5" in p.stderr,
      f"two checkpoints of one epoch refused (the PCA would count it twice): {p.stderr.strip()}")
os.remove("run_names/model_02.h5")
# A checkpoint that records another epoch than its name (copied over another): the path would be
# drawn out of order with wrong labels; refused by the PCA and the projection, naming it.
shutil.copy("run_names/model_4.h5", "run_names/model_1.h5")
MISNAMED = ("losscape: error: run_names/model_1.h5: records epoch 4 but is named for epoch 1 (a "
            "copied or damaged checkpoint): not using it")
p = run("directions", "--pca", "-c", "run_names", "--out", "x.h5", expect=1)
check(p.stderr.strip() == MISNAMED,
      f"directions --pca: a checkpoint named for another epoch refused: {p.stderr.strip()}")

# A signal before epoch 1 began (during epoch 0's measurement; the process is stopped while the
# signal is sent, so that it lands there): the run stops with model_0 only, at once.
p = subprocess.Popen([EXE, "train", *common, "--epochs", "4", "--out", "run_early"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
head = p.stdout.readline()  # printed just before epoch 0 is measured
p.send_signal(signal.SIGSTOP)
p.send_signal(signal.SIGUSR1)
p.send_signal(signal.SIGCONT)
rest, err = p.communicate(timeout=600)
cks = sorted(f for f in os.listdir("run_early") if f.startswith("model_"))
log = [json.loads(l)["epoch"] for l in open("run_early/log.jsonl")]
check(head.startswith("train cnn_small") and p.returncode == 75 and cks == ["model_0.h5"] and log == [0]
      and "stopped by a signal before epoch 1 of 4 (epoch 0 is saved)" in rest,
      f"a signal during epoch 0's measurement: stopped before epoch 1, exit 75 (got {p.returncode}, "
      f"{cks}, log {log}, {rest.strip()[-200:]!r} {err.strip()[-200:]!r})")
run("train", "--resume", "--threads", "1", "--out", "run_early")
check(same_as_uninterrupted("run_early"), "... and resumed, the uninterrupted run")

# Two signals during epoch 0's measurement (Slurm's warning, then the limit's SIGTERM): the
# measurement is given up at its next batch, nothing is written, exit 75; run again, the same run.
p = subprocess.Popen([EXE, "train", *common, "--epochs", "4", "--out", "run_early2"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
head = p.stdout.readline()
p.send_signal(signal.SIGSTOP)
p.send_signal(signal.SIGUSR1)
p.send_signal(signal.SIGTERM)
p.send_signal(signal.SIGCONT)
rest, err = p.communicate(timeout=600)
check(p.returncode == 75 and os.listdir("run_early2") == [] and not os.path.exists("run_early2.lock")
      and "stopped by a second signal during epoch 0's measurement; nothing is saved" in rest,
      f"two signals during epoch 0's measurement: given up, nothing written, exit 75 (got "
      f"{p.returncode}, {os.listdir('run_early2')}, {rest.strip()[-200:]!r} {err.strip()[-200:]!r})")
run("train", *common, "--epochs", "4", "--resume", "--out", "run_early2")
check(same_as_uninterrupted("run_early2"), "... and run again, the uninterrupted run")

# ---- one writer per run folder: a second train on it (another seed, a --resume) is refused while
# the first runs (stopped here after its header), and the first is not disturbed ----
p = subprocess.Popen([EXE, "train", *common, "--epochs", "2", "--out", "run_lock"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
p.stdout.readline()
p.send_signal(signal.SIGSTOP)
for extra in (["--seed", "4"], ["--seed", "3", "--resume"], ["--seed", "3", "--resume", "--dry-run"]):
    # (a dry run too: it said "would be resumed" where the run itself is refused)
    q = run("train", *without(common, "--seed"), "--epochs", "2", *extra, "--out", "run_lock", expect=1)
    check(len(q.stderr.strip().splitlines()) == 1 and "run_lock is being written by pid "
          f"{p.pid} on host " in q.stderr and "run_lock.lock" in q.stderr,
          f"train {' '.join(extra)} on a run folder in use: refused, naming the holder ({q.stderr.strip()})")
p.send_signal(signal.SIGCONT)
rest, err = p.communicate(timeout=600)
log = [json.loads(l)["epoch"] for l in open("run_lock/log.jsonl")]
check(p.returncode == 0 and log == [0, 1, 2] and not os.path.exists("run_lock.lock"),
      f"the first run completes alone, its lock gone (exit {p.returncode}, log {log})")
p = run("train", "--resume", "--dry-run", "--threads", "1", "--out", "run")
check("nothing trained" in p.stdout and not os.path.exists("run.lock"), "a dry run takes no lock")

# ---- a resume that could not continue the same run is refused, naming the checkpoint ----
shutil.copytree("run", "run_noopt")
os.remove("run_noopt/model_4.h5")
with h5py.File("run_noopt/model_3.h5", "r+") as f:
    del f["optimizer"]  # momentum would silently restart from zero
p = run("train", "--resume", "--threads", "1", "--out", "run_noopt", expect=1)
check(p.stderr.strip() == "losscape: error: run_noopt/model_3.h5: no optimizer state (/optimizer) in a "
      "checkpoint of epoch 3 of an sgd run with momentum: resumed, its momentum would restart from zero",
      f"a checkpoint without its optimizer state: not resumed ({p.stderr.strip()})")
with h5py.File("run_noopt/model_3.h5", "r+") as f:
    cfg = json.loads(f.attrs["config"])
    cfg["lr"] = -5
    f.attrs["config"] = json.dumps(cfg)
p = run("train", "--resume", "--threads", "1", "--out", "run_noopt", expect=1)
check(p.stderr.strip() == 'losscape: error: run_noopt/model_3.h5: config: "lr" must be a positive number',
      f"a bad value in a checkpoint's config: named by the file ({p.stderr.strip()})")
with h5py.File("run_noopt/model_3.h5", "r+") as f:
    f.attrs["format"] = "something-else"
p = run("eval", "-m", "run_noopt/model_3.h5", expect=1)
check(p.stderr.strip() == "losscape: error: run_noopt/model_3.h5: HDF5 file is not a losscape checkpoint "
      "(its format is 'something-else', not 'losscape-checkpoint')", f"another format named: {p.stderr.strip()}")
# Options that would be recorded but not used: refused.
p = run("train", *common, "--optimizer", "adam", "--momentum", "0.5", "--epochs", "1", "--out", "adam_m",
        expect=1)
check(p.stderr.strip() == "losscape: error: --momentum is for SGD only, not for --optimizer adam"
      and not os.path.exists("adam_m"), f"adam with --momentum: refused ({p.stderr.strip()})")
# ... and on a resume of an Adam run, named as that run's (it said "not for --optimizer adam", a
# flag not given, and compared --no-nesterov with the SGD default the run records unused).
run("train", *without(common, "--lr"), "--optimizer", "adam", "--epochs", "1", "--out", "adam_run", "-q")
for flag in (["--momentum", "0.5"], ["--no-nesterov"]):
    p = run("train", "--resume", "--threads", "1", *flag, "--epochs", "2", "--out", "adam_run", expect=1)
    check(p.stderr.strip() == f"losscape: error: {flag[0]}{' 0.5' if len(flag) > 1 else ''} is for SGD only: "
          "adam_run is a run of --optimizer adam", f"resuming an adam run with {flag[0]}: {p.stderr.strip()}")
# --resume --out naming a checkpoint (not its folder), or a folder without a run: named as such
# (both were 'no architecture given').
# The data: a resume on other data is refused (it went on, one run over two data sets); the same
# data moved to another folder is taken (--data-dir may change).
with h5py.File("run/model_4.h5", "r") as f:
    fps = [f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else str(f.attrs[k])
           for k in ("train_data_fingerprint", "test_data_fingerprint")]
shutil.copytree("data", "data_moved")
shutil.copytree("data", "data_other")
with open("data_other/train-labels-idx1-ubyte", "r+b") as f:
    f.seek(8)
    first = f.read(1)
    f.seek(8)
    f.write(bytes([(first[0] + 1) % 10]))
p = run("train", "--resume", "--epochs", "5", "--dry-run", "--threads", "1", "--data-dir", "data_moved", "--out", "run")
check("would be resumed" in p.stdout and all(re.fullmatch(r"fnv1a64:[0-9a-f]{16}", x) for x in fps),
      f"a resume with the same data in another folder: taken (fingerprints {fps})")
p = run("train", "--resume", "--epochs", "5", "--threads", "1", "--data-dir", "data_other", "--out", "run", expect=1)
check(p.stderr.strip().startswith(f"losscape: error: run/model_4.h5: was trained on another mnist train split "
                                  f"({fps[0]}) than the one in data_other (fnv1a64:")
      and p.stderr.strip().endswith("); a resumed run keeps its data") and not os.path.exists("run/model_5.h5"),
      f"a resume on other data: refused ({p.stderr.strip()})")

p = run("train", "--resume", "--threads", "1", "--out", "run/model_4.h5", expect=1)
check(p.stderr.strip() == "losscape: error: run/model_4.h5: exists and is not a folder (--resume --out names "
      "the run folder)", f"--resume --out a checkpoint: {p.stderr.strip()}")
p = run("train", "--resume", "--threads", "1", "--out", "no_such_run", expect=2)
check(p.stderr.strip() == "losscape: error: train --resume: no_such_run holds no checkpoint to resume "
      "(model_<epoch>.h5), and a new run there needs --arch NAME (see info --list-archs)"
      and not os.path.exists("no_such_run"), f"--resume of a folder without a run, no --arch: {p.stderr.strip()}")
# A run folder that cannot be listed (another user's): named, for train and directions --pca (a
# raw "filesystem error: directory iterator cannot open directory").
nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
if os.geteuid() == 0 and shutil.which("setpriv"):
    os.chmod(".", 0o755)
if os.geteuid() != 0 or not shutil.which("setpriv") or subprocess.run(
        nobody + [EXE, "info", "run/model_4.h5"], capture_output=True).returncode != 0:
    print("(skipped: the folder that cannot be listed needs root, setpriv and a work folder nobody can reach)")
else:
    shutil.copytree("run", "run_private")
    os.chmod("run_private", 0o700)
    for args in (["train", "--resume", "--threads", "1", "--out", "run_private"],
                 ["directions", "--pca", "-c", "run_private", "-o", "/tmp/never.h5"]):
        q = subprocess.run(nobody + [EXE, *args], capture_output=True, text=True, timeout=300)
        check(q.returncode == 1 and q.stderr.strip() == "losscape: error: run_private: cannot be read "
              "(Permission denied)", f"{args[0]} of a run folder that cannot be listed: {q.stderr.strip()}")

# A diverged epoch stops the run (it went on to the last epoch writing NaN checkpoints, which
# --resume refuses, and exited 0), keeping the checkpoints before it.
p = run("train", *without(common, "--lr", "--milestones"), "--lr", "1e10", "--epochs", "3", "--out", "diverged",
        "-q", expect=1)
log = [json.loads(l)["epoch"] for l in open("diverged/log.jsonl")]
check(re.fullmatch(r"losscape: error: train: epoch 1 diverged: \S+ holds NaN or infinite values after it "
                   r"\(training loss (NaN|\S*inf); a new run with a smaller --lr\?\); nothing of it is saved, the newest "
                   r"checkpoint is model_0\.h5 \(epoch 0\)", p.stderr.strip()) is not None
      and sorted(os.listdir("diverged")) == ["log.jsonl", "model_0.h5"] and log == [0],
      f"a diverged run stops at the epoch ({p.stderr.strip()}; {sorted(os.listdir('diverged'))}, log {log})")

p = run("eval", "-m", "run/model_4.h5", "--init-seed", "4", expect=2)
check("--model-file and --init-seed do not go together" in p.stderr,
      f"--init-seed with a model file: refused ({p.stderr.strip()})")

# ---- trajectory: a PCA file made with numpy in the reference's layout, then `project` ----
ck = [f"run/model_{k}.h5" for k in range(5)]
with h5py.File(ck[-1], "r") as f:
    order = [n.decode() if isinstance(n, bytes) else n for n in f["state"].attrs["names"]]
    weights = [n for n in order if n in params]
    shapes = [f["state"][n].shape for n in weights]


def flat(path):
    with h5py.File(path, "r") as f:
        return np.concatenate([np.asarray(f["state"][n][()], np.float64).ravel()
                               * (len(f["state"][n].shape) > 1) for n in weights])


T = np.stack([flat(c) for c in ck])
X = T - T[-1]
U, S, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
for i in range(2):
    if U[np.argmax(np.abs(U[:, i])), i] < 0:
        U[:, i] *= -1
        Vt[i] *= -1


def write_reference_directions(path, rows, tensor_shapes):
    """Two flat directions (rows) as a direction file in the reference's layout: groups
    xdirection / ydirection of float32 datasets "0", "1", ... of the tensors' shapes."""
    with h5py.File(path, "w") as f:
        for g, v in (("xdirection", rows[0]), ("ydirection", rows[1])):
            grp, at = f.create_group(g), 0
            for i, shp in enumerate(tensor_shapes):
                n = int(np.prod(shp))
                grp[str(i)] = v[at:at + n].reshape(shp).astype(np.float32)
                at += n


write_reference_directions("pca_np.h5", Vt, shapes)
with h5py.File("pca_np.h5", "r+") as f:
    f["explained_variance_ratio_"] = (S[:2] ** 2) / (S ** 2).sum()
p = run("project", "--directions", "pca_np.h5", "-c", "run_names", "--out", "x.h5", expect=1)
check(p.stderr.strip() == MISNAMED,
      f"project: a checkpoint named for another epoch refused: {p.stderr.strip()}")
shutil.rmtree("run_names")
p = run("project", "--directions", "pca_np.h5", "--checkpoints", "run", "--out", "proj.h5")
with h5py.File("proj.h5", "r") as f:
    x, y = f["proj_xcoord"][()], f["proj_ycoord"][()]
    check(x.dtype == np.float64 and len(x) == 5, "proj_xcoord: float64, one per checkpoint")
    check(list(f.attrs["epochs"]) == [0, 1, 2, 3, 4], "epochs attribute")
    check(np.allclose(f.attrs["explained_variance_ratio"], (S[:2] ** 2) / (S ** 2).sum()),
          "explained_variance_ratio attribute")
d32 = [np.asarray(v.astype(np.float32), np.float64) for v in (Vt[0], Vt[1])]
ex, ey = X @ d32[0] / np.linalg.norm(d32[0]), X @ d32[1] / np.linalg.norm(d32[1])
check(np.max(np.abs(x - ex)) < 1e-6 * np.max(np.abs(ex)) and
      np.max(np.abs(y - ey)) < 1e-6 * np.max(np.abs(ey)), "projections match <d_k, pc>/|pc|")
check(x[-1] == 0 and y[-1] == 0, "final model at (0, 0)")
# A reference-layout PCA of the states (plot_trajectory.py --dir_type states) stores the
# BatchNorms' num_batches_tracked as float; the projection leaves them out (integers of the
# model's), and `auto` decides on the Gram it projects with: lstsq here (it chose cos from the
# file's own Gram, then warned that the directions are not orthonormal; plot refused the file)
with h5py.File(ck[-1], "r") as f:
    state_shapes = [f["state"][n].shape for n in order]


def flat_states(path):
    with h5py.File(path, "r") as f:
        return np.concatenate([np.asarray(f["state"][n][()], np.float64).ravel() for n in order])


XS = np.stack([flat_states(c) for c in ck])
XS -= XS[-1]
VtS = np.linalg.svd(XS - XS.mean(0), full_matrices=False)[2]
write_reference_directions("pca_states_np.h5", VtS, state_shapes)
p = run("project", "--directions", "pca_states_np.h5", "--checkpoints", "run")
with h5py.File("pca_states_np.h5_proj_lstsq.h5", "r") as f:
    meth, orth = f.attrs["proj_method"], int(f.attrs["orthonormal"])
check(meth in ("lstsq", b"lstsq") and orth == 0 and "(lstsq)" in p.stdout and "not orthonormal" not in p.stderr,
      f"a states PCA whose num_batches_tracked is stored as float: auto = lstsq, no warning ({meth}, {p.stderr.strip()})")
info = json.loads(run("info", "proj.h5", "--json").stdout)
check(info["kind"] == "projection" and [pt["x"] for pt in info["points"]] == list(x)
      and [pt["y"] for pt in info["points"]] == list(y)
      and [pt["epoch"] for pt in info["points"]] == [0, 1, 2, 3, 4]
      and info["dir_file"] == "pca_np.h5", "info --json of a projection: its points as h5py reads them")
lo_x, hi_x, nx = (float(v) for v in info["covering_grid"]["x"].split(":"))
lo_y, hi_y, ny = (float(v) for v in info["covering_grid"]["y"].split(":"))
check(nx == ny == 21 and lo_x < x.min() and x.max() < hi_x and lo_y < y.min() and y.max() < hi_y,
      "info's covering grid contains the path")
check(0.0 in np.linspace(lo_x, hi_x, 21) and 0.0 in np.linspace(lo_y, hi_y, 21),
      f"... and has the final model, (0, 0), as a node: {info['covering_grid']}")
check("5 checkpoints in the plane of pca_np.h5" in run("info", "proj.h5").stdout,
      "info describes a projection file")
with h5py.File("proj.h5", "r") as f:
    check(f.attrs["proj_method"] in ("cos", b"cos") and int(f.attrs["orthonormal"]) == 1,
          "PCA directions (orthonormal): --method auto projects by cos, as the reference")

# ---- directions that are not orthonormal (towards two checkpoints): auto projects by least
# squares, which puts each target at (1, 0) and (0, 1), the surface's alpha and beta; cos
# (the reference's formula) does not, is warned, and plot refuses to draw it over a surface ----
run("directions", "--model-file", "run/model_4.h5", "--x-target", "run/model_0.h5",
    "--y-target", "run/model_2.h5", "--out", "tdirs.h5")
p = run("project", "--directions", "tdirs.h5", "--checkpoints", "run")
with h5py.File("tdirs.h5_proj_lstsq.h5", "r") as f:
    lx, ly, meth = f["proj_xcoord"][()], f["proj_ycoord"][()], f.attrs["proj_method"]
with h5py.File("tdirs.h5", "r") as f:
    tnames = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["names"]]
    D = np.stack([np.concatenate([np.asarray(f[g][str(i)][()], np.float64).ravel()
                                  for i in range(len(tnames))]) for g in ("xdirection", "ydirection")], 1)


def flat_named(path):
    with h5py.File(path, "r") as f:
        return np.concatenate([np.asarray(f["state"][n][()], np.float64).ravel() for n in tnames])


XT = np.stack([flat_named(c) for c in ck]) - flat_named(ck[-1])
want = np.linalg.lstsq(D, XT.T, rcond=None)[0]  # numpy's least squares, as the reference's lstsq
check(meth in ("lstsq", b"lstsq") and np.allclose([lx[0], ly[0], lx[2], ly[2]], [1, 0, 0, 1], atol=1e-6)
      and np.allclose(lx, want[0], rtol=0, atol=1e-6) and np.allclose(ly, want[1], rtol=0, atol=1e-6),
      f"target directions: auto = lstsq, the targets at (1, 0) and (0, 1), as numpy's lstsq "
      f"({np.round(lx, 6)}, {np.round(ly, 6)})")
p = run("project", "--directions", "tdirs.h5", "--checkpoints", "run", "--method", "cos")
with h5py.File("tdirs.h5_proj_cos.h5", "r") as f:
    cx, orth = f["proj_xcoord"][()], int(f.attrs["orthonormal"])
check(np.allclose(cx, XT @ D[:, 0] / np.linalg.norm(D[:, 0]), rtol=1e-9, atol=1e-9) and orth == 0 and
      "not orthonormal" in p.stderr, f"--method cos: <d, dir>/|dir| as the reference, warned ({p.stderr.strip()})")
with h5py.File("tplane.h5", "w") as f:
    f["xcoordinates"] = f["ycoordinates"] = np.linspace(-0.5, 1.5, 3)
    f["train_loss"] = np.ones((3, 3))
    f.attrs["format"] = "losscape-surface"
p = run("plot", "tplane.h5", "--trajectory", "tdirs.h5_proj_cos.h5", "--out-dir", "tplot", expect=1)
check("not orthonormal" in p.stderr and "--method lstsq" in p.stderr and not os.path.exists("tplot"),
      f"plot refuses cos coordinates of directions that are not orthonormal ({p.stderr.strip()})")

# ---- `losscape directions --pca`: numpy's PCA of the same checkpoints ----
run("directions", "--pca", "--checkpoints", "run", "--out", "pca.h5")


def principal(path):
    with h5py.File(path, "r") as f:
        pcs = [np.concatenate([np.asarray(f[g][str(i)][()], np.float64).ravel()
                               for i in range(len(weights))]) for g in ("xdirection", "ydirection")]
        return pcs, f["explained_variance_ratio_"][()]


pcs, ratio = principal("pca.h5")
check(all(abs(pcs[i] @ Vt[i]) > 0.9999 for i in range(2)), "directions --pca = numpy PCA")
check(np.allclose(ratio, (S[:2] ** 2) / (S ** 2).sum(), rtol=1e-6), "explained_variance_ratio_ = numpy's")
# Checkpoint files given one by one (every other epoch): the PCA of those, the last one θ*
run("directions", "--pca", "-c", "run/model_0.h5", "run/model_2.h5", "run/model_4.h5",
    "--out", "pca_some.h5")
Xs = T[[0, 2, 4]] - T[4]
_, Ss, Vts = np.linalg.svd(Xs - Xs.mean(0), full_matrices=False)
pcs, ratio = principal("pca_some.h5")
check(all(abs(pcs[i] @ Vts[i]) > 0.9999 for i in range(2)) and
      np.allclose(ratio, (Ss[:2] ** 2) / (Ss ** 2).sum(), rtol=1e-6),
      "directions --pca -c FILE...: numpy's PCA of those checkpoints")
p = run("directions", "--pca", "-c", "run/model_0.h5", "run/model_9.h5", "--out", "x.h5", expect=1)
check("run/model_9.h5: no such checkpoint" in p.stderr, f"a missing checkpoint named: {p.stderr.strip()}")
p = run("directions", "--pca", "-c", "run", "run/model_4.h5", "--out", "x.h5", expect=1)
check("run is a folder" in p.stderr, f"a folder among checkpoint files: named as such: {p.stderr.strip()}")

# ---- plot: a trajectory (and --directions) only over a surface of its own plane ----
run("sweep", "--model-file", "run/model_4.h5", "--directions", "pca.h5", "--dataset", "mnist",
    "--data-dir", "data", "--samples", "64", "--x=-1:1:3", "--y=-1:1:3", "--threads", "1",
    "--out", "pca_surf.h5", "--quiet")
p = run("plot", "pca_surf.h5", "--trajectory", "proj.h5", "--out-dir", "figs", expect=1)
check(p.stderr.count("\n") == 1 and "proj.h5 was projected onto the directions of pca_np.h5, "
      "not in the plane of pca_surf.h5" in p.stderr,
      f"a trajectory projected onto other directions is refused: {p.stderr.strip()}")
p = run("plot", "pca_surf.h5", "--directions", "pca_np.h5", "--out-dir", "figs", expect=1)
check("--directions names other directions, pca_np.h5, not in the plane of pca_surf.h5" in p.stderr,
      f"--directions of another plane is refused: {p.stderr.strip()}")
check(not os.path.exists("figs") or not os.listdir("figs"), "... and nothing is written")
run("project", "--directions", "pca.h5", "--checkpoints", "run", "--out", "proj_own.h5")
gnuplot = shutil.which("gnuplot") is not None
check(gnuplot, "gnuplot is installed for the trajectory plots (Debian: gnuplot-nox)")
plot_args = ["--what", "train_loss", "--formats", "png", "--out-dir", "figs"]
p = run("plot", "pca_surf.h5", "--trajectory", "proj_own.h5", *plot_args, expect=0 if gnuplot else 1)
check(os.path.exists("figs/pca_surf_train_loss_2dcontour_proj.gp") and "not checked" not in p.stderr,
      f"the run projected onto the surface's own directions is drawn: {p.stderr.strip()[-300:]}")
with h5py.File("proj_own.h5", "r") as f:
    check(f.attrs["directions_fingerprint"].decode() ==
          json.loads(run("info", "--json", "pca_surf.h5").stdout)["identity"]["directions_fingerprint"],
          "the projection records the fingerprint of its directions, the surface's")
# ... and measured from the surface's θ* (run/model_4.h5): the same plane seen from an earlier
# checkpoint (the path ends at model_3) is refused, naming it (it was drawn shifted, exit 0)
p = run("project", "--directions", "pca.h5", "--checkpoints", "run/model_0.h5", "run/model_1.h5",
        "run/model_2.h5", "run/model_3.h5", "--out", "proj_m3.h5")
p = run("plot", "pca_surf.h5", "--trajectory", "proj_m3.h5", *plot_args, expect=1)
check(p.stderr.strip() == "losscape: error: plot: proj_m3.h5 measures the path from run/model_3.h5, not from "
      "the θ* of pca_surf.h5 (the models' fingerprints differ): project the checkpoints up to the surface's model",
      f"a path measured from another model than the surface's θ* is refused: {p.stderr.strip()}")
with h5py.File("proj_own.h5", "r") as f:
    check(f.attrs["model_fingerprint"].decode() ==
          json.loads(run("info", "--json", "pca_surf.h5").stdout)["identity"]["model_fingerprint"],
          "the projection records its origin's fingerprint, the surface's θ*'s")
# A checkpoint of another training run (another --seed; same architecture, data and shapes)
# copied into the run folder is refused by project and directions --pca, naming the setting and
# the run's first checkpoint (it was drawn as a point of this path, or taken into its PCA, without
# a word); one of other data alike (the train split's fingerprint).
run("train", *without(common, "--seed"), "--seed", "7", "--epochs", "1", "--out", "seed7")
shutil.copytree("run", "mixed")
shutil.copy("seed7/model_1.h5", "mixed/model_1.h5")
for cmd in (["project", "--directions", "pca.h5", "--checkpoints", "mixed", "--out", "x.h5"],
            ["directions", "--pca", "-c", "mixed", "--out", "x.h5"]):
    p = run(*cmd, expect=1)
    check(p.stderr.strip() == "losscape: error: mixed/model_1.h5: is of another training run than mixed/model_0.h5 "
          "(seed 7, not 3): each checkpoint of one run" and not os.path.exists("x.h5"),
          f"{cmd[0]}: a checkpoint of another run in the folder refused: {p.stderr.strip()}")
shutil.copy("run/model_1.h5", "mixed/model_1.h5")
with h5py.File("mixed/model_3.h5", "r+") as f:
    f.attrs["train_data_fingerprint"] = "fnv1a64:0123456789abcdef"
p = run("project", "--directions", "pca.h5", "--checkpoints", "mixed", "--out", "x.h5", expect=1)
check("mixed/model_3.h5: is of another training run than mixed/model_0.h5 (train_data_fingerprint "
      "fnv1a64:0123456789abcdef, not " in p.stderr, f"... and one trained on other data: {p.stderr.strip()}")
# A checkpoint missing a tensor the projection leaves out (a bias, under the PCA's biasbn) is
# damaged all the same: refused, as eval refuses it (it was projected without a word)
shutil.rmtree("mixed")
shutil.copytree("run", "damaged")
with h5py.File("damaged/model_2.h5", "r+") as f:
    del f["state/conv1.bias"]
for cmd in (["project", "--directions", "pca.h5", "--checkpoints", "damaged", "--out", "x.h5"],
            ["directions", "--pca", "-c", "damaged", "--out", "x.h5"]):
    p = run(*cmd, expect=1)
    check("damaged/model_2.h5: has no tensor 'conv1.bias'" in p.stderr and not os.path.exists("x.h5"),
          f"{cmd[0]}: a checkpoint missing a tensor it leaves out refused: {p.stderr.strip()}")
shutil.rmtree("damaged")
# The projections' direction files gone: each projection's own record of its plane decides.
shutil.copy("proj_own.h5", "proj_old.h5")  # as written before the record was kept
with h5py.File("proj_old.h5", "r+") as f:
    del f.attrs["directions_fingerprint"]
p = run("plot", "pca_surf.h5", *plot_args, expect=0 if gnuplot else 1)
check("is not found" not in p.stderr, "a surface whose direction file is there: its axes the PCs, no note")
os.rename("pca.h5", "pca_moved.h5")
os.rename("pca_np.h5", "pca_np_moved.h5")
# (a surface copied without its direction file: its PCA axes cannot be named, said)
p = run("plot", "pca_surf.h5", *plot_args, expect=0 if gnuplot else 1)
check("the direction file pca_surf.h5 records, pca.h5, is not found (as recorded, nor beside it): the "
      "axes are named α and β" in p.stderr, f"a surface whose direction file is not found: noted ({p.stderr.strip()[-300:]})")
# (another PCA's file at its name, a folder whose pca.h5 was made again: its shares do not name
# this surface's axes, said; they were taken for them)
shutil.copy("pca_np_moved.h5", "pca.h5")
p = run("plot", "pca_surf.h5", *plot_args, expect=0 if gnuplot else 1)
check("the direction file pca_surf.h5 records, pca.h5, holds other directions than the surface's (the "
      "fingerprints differ): the axes are named α and β" in p.stderr and
      "PC:" not in open("figs/pca_surf_train_loss_2dcontour.gp").read(),
      f"a surface whose recorded direction file is another plane's: no PC labels, noted ({p.stderr.strip()[-300:]})")
os.remove("pca.h5")
p = run("plot", "pca_surf.h5", "--trajectory", "proj_own.h5", *plot_args, expect=0 if gnuplot else 1)
check("not checked" not in p.stderr and (not gnuplot or p.returncode == 0),
      f"a projection whose direction file is gone is checked by its record: {p.stderr.strip()[-300:]}")
p = run("plot", "pca_surf.h5", "--trajectory", "proj.h5", "--out-dir", "figs", expect=1)
check("proj.h5 was projected onto the directions of pca_np.h5, not in the plane of pca_surf.h5" in p.stderr,
      f"... and one of another plane is refused by it: {p.stderr.strip()}")
p = run("plot", "pca_surf.h5", "--trajectory", "proj_old.h5", *plot_args, expect=0 if gnuplot else 1)
check("not checked that proj_old.h5 lies in this plane (its direction file pca.h5 is not found)"
      in p.stderr, f"a projection without the record whose directions cannot be found: noted: "
      f"{p.stderr.strip()[-300:]}")
os.rename("pca_moved.h5", "pca.h5")
os.rename("pca_np_moved.h5", "pca_np.h5")
# The same surface in the reference's layout (no identity, no fingerprint; dir_file names its
# directions): the plane is its direction file's, so the same checks hold.
with h5py.File("pca_surf.h5", "r") as f, h5py.File("ref_surf.h5", "w") as g:
    for k in ("xcoordinates", "ycoordinates", "train_loss", "train_acc"):
        g[k] = f[k][()]
    g["dir_file"] = "pca.h5"
p = run("plot", "ref_surf.h5", "--trajectory", "proj.h5", "--out-dir", "figs", expect=1)
check("proj.h5 was projected onto the directions of pca_np.h5, not in the plane of ref_surf.h5" in
      p.stderr, f"a reference surface: a trajectory of another plane refused: {p.stderr.strip()}")
for old in glob.glob("figs/ref_surf_*"):
    os.remove(old)
p = run("plot", "ref_surf.h5", "--trajectory", "proj_own.h5", *plot_args, expect=0 if gnuplot else 1)
check("not checked" not in p.stderr and "not in the plane" not in p.stderr and
      os.path.exists("figs/ref_surf_train_loss_2dcontour_proj.gp") and
      (not gnuplot or os.path.exists("figs/ref_surf_train_loss_2dcontour_proj.png")),
      f"... its own drawn: {p.stderr.strip()[-300:]} {sorted(os.listdir('figs'))}")
with h5py.File("ref_surf.h5", "a") as g:
    del g["dir_file"]
p = run("plot", "ref_surf.h5", "--trajectory", "proj_own.h5", *plot_args, expect=0 if gnuplot else 1)
check("not checked that proj_own.h5 lies in this plane (the surface records no directions' "
      "fingerprint and its direction file is not recorded)" in p.stderr,
      f"... and without its dir_file, drawn with a note: {p.stderr.strip()[-300:]}")
# Without the record, plotted from another folder holding a pca.h5 of other directions: the
# recorded direction file is looked up relative to the projection first.
os.makedirs("elsewhere")
shutil.copy("pca_np.h5", "elsewhere/pca.h5")
os.chdir("elsewhere")
p = run("plot", "../pca_surf.h5", "--trajectory", "../proj_old.h5", *plot_args, expect=0 if gnuplot else 1)
os.chdir("..")
check("not in the plane" not in p.stderr and "not checked" not in p.stderr,
      f"... its direction file found beside it, not the current folder's namesake: {p.stderr.strip()[-300:]}")

# ---- a run of the Python reference: the same checkpoints as its torch.save files model_<epoch>.t7
# ({'state_dict', 'epoch', 'acc'} in the legacy format of PyTorch < 1.6, opt_state_<epoch>.t7
# beside them); PCA and projection must equal those of the losscape run ----
try:
    import collections
    import torch
except ImportError:
    torch = None
check(torch is not None, f"{sys.executable} imports torch for the torch.save runs (Debian: python3-torch)")
if torch is not None:
    os.makedirs("ref_run", exist_ok=True)
    for k in range(5):
        with h5py.File(f"run/model_{k}.h5", "r") as f:
            sd = collections.OrderedDict((n, torch.from_numpy(np.asarray(f["state"][n][()])))
                                         for n in order)
        torch.save({"state_dict": sd, "epoch": k, "acc": 10.0}, f"ref_run/model_{k}.t7",
                   _use_new_zipfile_serialization=False)
        torch.save({"optimizer": {}}, f"ref_run/opt_state_{k}.t7")
    ref_model = ["--arch", "cnn_small", "--dataset", "mnist"]
    run("directions", "--pca", "--checkpoints", "ref_run", *ref_model, "--out", "pca_t7.h5")
    with h5py.File("pca.h5", "r") as a, h5py.File("pca_t7.h5", "r") as b:
        same = all(np.array_equal(a[g][k][()], b[g][k][()]) for g in ("xdirection", "ydirection")
                   for k in a[g])
        check(same and np.array_equal(a["explained_variance_ratio_"][()],
                                      b["explained_variance_ratio_"][()]),
              "directions --pca of the reference-style .t7 run = that of the losscape run")
        check(json.loads(b.attrs["settings"])["epochs"] == [0, 1, 2, 3, 4],
              "the epochs come from the file names model_<epoch>.t7")
    run("project", "--directions", "pca_np.h5", "--checkpoints", "ref_run", *ref_model,
        "--out", "proj_t7.h5")
    with h5py.File("proj.h5", "r") as a, h5py.File("proj_t7.h5", "r") as b:
        check(np.array_equal(a["proj_xcoord"][()], b["proj_xcoord"][()]) and
              np.array_equal(a["proj_ycoord"][()], b["proj_ycoord"][()]) and
              list(b.attrs["epochs"]) == [0, 1, 2, 3, 4],
              "project of the .t7 run = project of the losscape run")
    # A torch.save checkpoint that records no epoch (no 'epoch', not named model_N): -1 in the
    # file, '-' where project and info show it (they showed -1)
    sd = torch.load("ref_run/model_0.t7")["state_dict"]
    torch.save(sd, "nameless.pt")
    p = run("project", "--directions", "pca_np.h5", "--checkpoints", "nameless.pt", "ref_run/model_4.t7",
            *ref_model, "--out", "proj_nameless.h5")
    rows = [ln.split() for ln in p.stdout.splitlines() if ln.strip() and ln.split()[0] in ("-", "4", "-1")]
    pi = run("info", "proj_nameless.h5", "--json")
    with h5py.File("proj_nameless.h5", "r") as f:
        epochs = list(f.attrs["epochs"])
    check(epochs == [-1, 4] and [r[0] for r in rows] == ["-", "4"] and
          [q["epoch"] for q in json.loads(pi.stdout)["points"]] == [None, 4],
          f"a checkpoint recording no epoch: -1 in the file, '-' in project's table, null in info "
          f"({epochs}, {rows}, {pi.stdout[:200]})")
    # A folder with both kinds uses losscape's and says so.
    shutil.copy("ref_run/model_4.t7", "run/model_4.t7")
    p = run("directions", "--pca", "--checkpoints", "run", "--out", "pca_mixed.h5")
    with h5py.File("pca.h5", "r") as a, h5py.File("pca_mixed.h5", "r") as b:
        same = all(np.array_equal(a[g][k][()], b[g][k][()]) for g in ("xdirection", "ydirection")
                   for k in a[g])
    check(same and "warning: run holds both losscape checkpoints (model_<epoch>.h5, 5) and "
          "torch.save files" in p.stderr and "run/model_4.t7" in p.stderr,
          f"a folder with .h5 and .t7 checkpoints: the .h5 ones, with a warning: {p.stderr.strip()}")
    os.remove("run/model_4.t7")
    # a .t7 named for another epoch than its 'epoch' entry (copied by hand) is refused, as .h5 ones are
    shutil.copytree("ref_run", "ref_renamed")
    os.rename("ref_renamed/model_4.t7", "ref_renamed/model_9.t7")
    p = run("directions", "--pca", "--checkpoints", "ref_renamed", *ref_model, "--out", "x.h5", expect=1)
    check(p.stderr.strip() == "losscape: error: ref_renamed/model_9.t7: records epoch 4 but is named for "
          "epoch 9, unlike ref_renamed/model_0.t7 (epoch 0, named 0): a copied or renamed checkpoint, not "
          "using it" and not os.path.exists("x.h5"),
          f"a .t7 whose 'epoch' is off its run's: refused ({p.stderr.strip()})")
    # ... but a run whose every file records its name's epoch + 1 (another script's habit) is taken
    shutil.rmtree("ref_renamed")
    os.makedirs("ref_plus1")
    for k in range(5):
        sd = torch.load(f"ref_run/model_{k}.t7")["state_dict"]
        torch.save({"state_dict": sd, "epoch": k + 1}, f"ref_plus1/model_{k}.t7")
    run("directions", "--pca", "--checkpoints", "ref_plus1", *ref_model, "--out", "pca_plus1.h5")
    with h5py.File("pca_t7.h5", "r") as a, h5py.File("pca_plus1.h5", "r") as b:
        check(np.array_equal(a["explained_variance_ratio_"][()], b["explained_variance_ratio_"][()]),
              "a .t7 run recording epoch + 1 throughout: taken, the same PCA")
    p = run("directions", "--pca", "--checkpoints", "ref_run", "--out", "x.h5", expect=1)
    check(len(p.stderr.strip().splitlines()) == 1 and "--arch" in p.stderr and
          "model_4.t7" in p.stderr, f"a .t7 run without --arch: one line asking for it: {p.stderr}")

# A long run under a long path: the PCA's settings and the projection's checkpoint list exceed
# 64 KiB, HDF5's limit for an attribute in the old object header (41 checkpoints x 1.7 KB; a
# 1000-checkpoint run with 65-character paths): "cannot create attribute" after the whole PCA.
deep = os.path.abspath(os.path.join(*["d" * 200] * 8))
os.makedirs(deep, exist_ok=True)
run("train", "--arch", "cnn_small", "--dataset", "mnist", "--data-dir", "data", "--samples", "20",
    "--test-samples", "10", "--batch-size", "20", "--epochs", "40", "--threads", "1", "--quiet",
    "--out", f"{deep}/run")
run("directions", "--pca", "--checkpoints", f"{deep}/run", "--out", "pca_long.h5", "--quiet")
run("project", "--directions", "pca_long.h5", "--checkpoints", f"{deep}/run", "--out", "proj_long.h5")
with h5py.File("pca_long.h5", "r") as a, h5py.File("proj_long.h5", "r") as b:
    settings = a.attrs["settings"]
    check(len(settings) > 65536 and len(json.loads(settings)["checkpoints"]) == 41
          and len(b.attrs["checkpoints"]) == 41 and b["proj_xcoord"].shape == (41,),
          f"PCA and projection of 41 checkpoints under a 1.6 KB path: attributes over 64 KiB "
          f"({len(settings)} bytes of settings)")

conclude()

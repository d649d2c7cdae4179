"""`losscape directions` and `losscape info dirs.h5` through the command line, checked with h5py and
numpy: the printed per-tensor norms, their ratio to the model's tensor norms and cos(x, y) equal
what numpy computes from the files; a direction file whose ydirection group is missing is refused
by a 2D sweep with a message naming the file and the group, and still serves a 1D sweep.
Environment: LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped."""
import json
import os
import re
import shutil
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("needs h5py and numpy")
    sys.exit(77)

from clitest import FASHION_MNIST as DATA, check, conclude, run, setup, text  # noqa: E402

setup("/tmp/losscape-test-directions-cli")

DATA_ARGS = ["--dataset", "fashion-mnist", "--data-dir", DATA]
run(["train", "--arch", "cnn_small", *DATA_ARGS, "--samples", "300", "--test-samples", "100",
     "--epochs", "1", "--batch-size", "50", "--out", "run", "--quiet"])
model = "run/model_1.h5"
# no --dataset: the checkpoint's own (fashion-mnist) fixes the input shape, not cifar10
# (a temporary of another process writing the same name at this moment, left alone: both wrote
# dirs.h5.writing, each removing the other's as a leftover; one renamed the other's half file in)
with open("dirs.h5.writing", "w") as f:
    f.write("another process's direction file in the making")
run(["directions", "--model-file", model, "--out", "dirs.h5",
     "--seed", "9"])
check(open("dirs.h5.writing").read() == "another process's direction file in the making" and
      not [n for n in os.listdir(".") if n.startswith("dirs.h5.") and n != "dirs.h5.writing"],
      "directions writes under a temporary of its own (NAME.PID.writing), another's left alone, "
      "its own renamed away")
os.remove("dirs.h5.writing")

# ---- info dirs.h5 against numpy ----
with h5py.File(model, "r") as f:
    theta = {text(n): np.asarray(f["state"][text(n)], np.float64) for n in f["state"].attrs["names"]}
with h5py.File("dirs.h5", "r") as f:
    names = [text(n) for n in f.attrs["names"]]
    x = [np.asarray(f["xdirection"][str(i)], np.float64) for i in range(len(names))]
    y = [np.asarray(f["ydirection"][str(i)], np.float64) for i in range(len(names))]
p = run(["info", "dirs.h5", "--model-file", model])
out = p.stdout
vx, vy = np.concatenate([t.ravel() for t in x]), np.concatenate([t.ravel() for t in y])
cos = float(vx @ vy / np.linalg.norm(vx) / np.linalg.norm(vy))
m = re.search(r"cos\(x, y\)\s+(\S+)", out)
check(m is not None and abs(float(m.group(1)) - cos) < 1e-4,
      f"info prints cos(x, y) = {m.group(1) if m else '?'}, numpy gives {cos:.5f}")
# states with --x-ignore none: num_batches_tracked (a scalar, copied from θ*) is left out of the
# cosine, as the reference's cal_angle(nplist_to_tensor(...)) leaves out 0-d tensors
run(["directions", "--model-file", model, "--type", "states", "--x-ignore", "none", "--y-ignore",
     "none", "--out", "dirs_states_none.h5", "--seed", "9"])
with h5py.File("dirs_states_none.h5", "r") as f:
    n = len(f.attrs["names"])
    xs = [np.asarray(f["xdirection"][str(i)], np.float64) for i in range(n)]
    ys = [np.asarray(f["ydirection"][str(i)], np.float64) for i in range(n)]
scalars = sum(1 for t in xs if t.ndim == 0)
vx = np.concatenate([t.ravel() for t in xs if t.ndim > 0])
vy = np.concatenate([t.ravel() for t in ys if t.ndim > 0])
cos_s = float(vx @ vy / np.linalg.norm(vx) / np.linalg.norm(vy))
m = re.search(r"cos\(x, y\)\s+(\S+)", run(["info", "dirs_states_none.h5"]).stdout)
check(scalars > 0 and m is not None and abs(float(m.group(1)) - cos_s) < 1e-4,
      f"states, ignore none: cos(x, y) = {m.group(1) if m else '?'} leaves the {scalars} scalar(s) "
      f"out, numpy gives {cos_s:.5f}")
# The same directions in the reference's layout (groups of tensors, no attributes): the file does not
# say whether they are weights or states; the model's tensor count does (it said "weights").
with h5py.File("ref_states.h5", "w") as f:
    for g, ts in (("xdirection", xs), ("ydirection", ys)):
        for i, t in enumerate(ts):
            f[f"{g}/{i}"] = t.astype(np.float32)
alone = run(["info", "ref_states.h5"]).stdout
with_model = run(["info", "ref_states.h5", "--model-file", model]).stdout
as_json = json.loads(run(["info", "ref_states.h5", "--json"]).stdout)
check("over weights or states (not recorded" in alone and "2 direction(s) over states" in with_model
      and as_json["type"] == "unknown",
      f"a reference direction file: type unknown alone, states with its model "
      f"({alone.splitlines()[0]} / {with_model.splitlines()[0]} / {as_json['type']})")
check('"norm":"filter"' in out.replace(" ", "") and '"ignore":"biasbn"' in out.replace(" ", ""),
      "info prints the settings (filter, biasbn)")
check("fnv1a64:" in out, "info prints the model fingerprint")

# rows: index, name, shape, norm, ratio — one block for x, then one for y
rows = re.findall(r"^\s*(\d+)\s+(\S+)\s+\[([\d, ]*)\]\s+(\S+)\s+(\S+)\s*$", out, re.M)
check(len(rows) == 2 * len(names), f"info lists {len(rows)} tensor rows for 2 x {len(names)} tensors")
if not rows:
    check(False, "info prints per-tensor norms")
for k, (i, name, shape, norm, ratio) in enumerate(rows[: 2 * len(names)]):
    d = (x if k < len(names) else y)[int(i)]
    want = float(np.linalg.norm(d))
    t = theta[name]
    want_ratio = want / float(np.linalg.norm(t)) if np.linalg.norm(t) > 0 else 0.0
    ok = abs(float(norm) - want) <= 1e-4 * max(1.0, want) and \
        abs(float(ratio) - want_ratio) <= 1e-4 * max(1.0, want_ratio)
    if not ok or k in (0, 1):
        check(ok, f"info row {name}: norm {norm} ratio {ratio}; numpy {want:.5g} ratio {want_ratio:.5g}")
    if not ok:
        break
    # the paper's recipe: ≥2-dim tensors filter-normalized (ratio 1), biases and BN zeroed
    expect = 1.0 if t.ndim >= 2 else 0.0
    if abs(float(ratio) - expect) > 1e-4:
        check(False, f"{name}: norm ratio {ratio}, the filter/biasbn recipe gives {expect}")
        break
else:
    check(True, "every printed norm and ratio equals numpy's (1 for weights, 0 for bias/BN)")

# ---- a file without ydirection ----
shutil.copy("dirs.h5", "xonly.h5")
with h5py.File("xonly.h5", "r+") as f:
    del f["ydirection"]
SWEEP = ["sweep", "--model-file", model, *DATA_ARGS, "--samples", "100", "--batch-size", "50",
         "--quiet"]
p = run([*SWEEP, "--directions", "xonly.h5", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s2.h5"],
        expect=1)
err = p.stderr.strip().splitlines()
check(len(err) >= 1 and "xonly.h5" in err[0] and "one direction" in err[0],
      f"2D sweep on it: one clear line naming the file and the missing direction: {err[:1]}")
check(not os.path.exists("s2.h5"), "no surface file was made")
run([*SWEEP, "--directions", "xonly.h5", "--x", "-1:1:3", "--out", "s1.h5"])
with h5py.File("s1.h5", "r") as f:
    check(np.asarray(f["done"]).all(), "the x-only file serves a 1D sweep")
p = run(["info", "xonly.h5"])
check("1 direction" in p.stdout, "info reports 1 direction for it")

# ---- options the directions would ignore, refused in one line (directions and sweep) ----
DIRS = ["directions", "--model-file", model, "--out", "ignored.h5"]
for opts, says in ((["--same-dir", "--y-target", "run/model_0.h5"],
                    "--y-target does not apply with --same-dir (y is a copy of x)"),
                   (["--same-dir", "--y-norm", "layer"],
                    "--y-norm does not apply with --same-dir (y is a copy of x)"),
                   (["--x-target", "run/model_0.h5", "--x-norm", "layer", "--dims", "1"],
                    "--x-norm does not apply to a target direction (x = θ(run/model_0.h5) − θ*, "
                    "used as it is)"),
                   (["--y-target", "run/model_0.h5", "--y-ignore", "none"],
                    "--y-ignore does not apply to a target direction (y = θ(run/model_0.h5) − θ*, "
                    "used as it is)")):
    for cmd in (DIRS, [*SWEEP, "--x", "-1:1:2", *(["--y", "-1:1:2"] if "--dims" not in opts else []),
                       "--out", "ignored_s.h5", "--dry-run"]):
        p = run([*cmd, *[o for o in opts if cmd is DIRS or o not in ("--dims", "1")]], expect=1)
        check(p.stderr.strip() == f"losscape: error: {says}" and not os.path.exists("ignored.h5"),
              f"{cmd[0]} {' '.join(opts)}: refused ({p.stderr.strip()})")

# ---- a model or target with NaN weights: no direction file ----
with h5py.File(model, "r") as f:
    first = text(f["state"].attrs["names"][0])
shutil.copy(model, "nan_model.h5")
with h5py.File("nan_model.h5", "r+") as f:
    w = np.asarray(f["state"][first])
    w.flat[0] = np.nan
    f["state"][first][...] = w
for opts, who in ((["--model-file", "nan_model.h5"], "around"),
                  (["--model-file", model, "--x-target", "nan_model.h5", "--dims", "1"], "towards")):
    p = run(["directions", *opts, "--out", "nan_dirs.h5"], expect=1)
    check(p.stderr.strip() == f"losscape: error: nan_model.h5: {first} holds NaN or infinite values "
          f"(a diverged checkpoint?); no directions {who} it" and not os.path.exists("nan_dirs.h5"),
          f"directions {who} a model with NaN weights: refused, nothing written ({p.stderr.strip()})")
# a target that is the model itself (or a copy): a zero direction, refused by name
shutil.copy(model, "same_model.h5")
p = run(["directions", "--model-file", model, "--x-target", "same_model.h5", "--dims", "1",
         "--out", "zero_dirs.h5"], expect=1)
check(p.stderr.strip() == f"losscape: error: same_model.h5: target model equals the model ({model}) "
      "in every weight: the direction towards it is zero" and not os.path.exists("zero_dirs.h5"),
      f"directions towards the model itself: refused, nothing written ({p.stderr.strip()})")
# ... also when only its BatchNorm counters differ (num_batches_tracked: no direction moves them),
# with --type states (it wrote a file no sweep takes, then failed on its cosine)
with h5py.File(model, "r") as f:
    counter = next(text(n) for n in f["state"].attrs["names"] if text(n).endswith("num_batches_tracked"))
shutil.copy(model, "counted.h5")
with h5py.File("counted.h5", "r+") as f:
    f["state"][counter][()] = f["state"][counter][()] + 100
p = run(["directions", "--model-file", model, "--type", "states", "--x-target", "counted.h5",
         "--out", "zero_cnt.h5"], expect=1)
check(p.stderr.strip() == f"losscape: error: counted.h5: target model equals the model ({model}) "
      "in every tensor of its state: the direction towards it is zero" and not os.path.exists("zero_cnt.h5"),
      f"states directions towards a copy with other counters: refused, nothing written ({p.stderr.strip()})")
# a checkpoint saved without the counters (as PyTorch < 0.4.1 did) is the same θ*: states
# directions made around one are taken by a sweep around the other
shutil.copy(model, "no_counters.h5")
with h5py.File("no_counters.h5", "r+") as f:
    for n in [text(n) for n in f["state"].attrs["names"] if text(n).endswith("num_batches_tracked")]:
        f["state"][n][()] = 0
run(["directions", "--model-file", model, "--type", "states", "--x-ignore", "none", "--dims", "1",
     "--out", "states_cnt.h5", "--quiet"])
p = run([a if a != model else "no_counters.h5" for a in SWEEP] + ["--directions", "states_cnt.h5", "--x", "-1:1:2",
                                                                  "--out", "cnt_sweep.h5"])
check(p.returncode == 0, "states directions of a model, swept around it with other counters: taken")
# a sweep with a direction file made elsewhere: refused before any pass (every point NaN);
# a NaN BatchNorm statistic too (a buffer, not a parameter)
with h5py.File(model, "r") as f:
    var = next(text(n) for n in f["state"].attrs["names"] if text(n).endswith("running_var"))
shutil.copy(model, "nan_var.h5")
with h5py.File("nan_var.h5", "r+") as f:
    f["state"][var][0] = np.inf
for bad, name in (("nan_model.h5", first), ("nan_var.h5", var)):
    p = run([bad if a == model else a for a in SWEEP] + ["--directions", "dirs.h5", "--x", "-1:1:3", "--y", "-1:1:3",
             "--out", "nan_s.h5"], expect=1)
    check(p.stderr.strip() == f"losscape: error: {bad}: {name} holds NaN or infinite values (a "
          "diverged checkpoint?); every point of a sweep around it would be NaN"
          and not os.path.exists("nan_s.h5"),
          f"sweep around {bad} ({name} not finite): refused, no surface ({p.stderr.strip()})")

# eval of such a model: the numbers asked for (exit 0), with a note naming the tensor
for bad, name in (("nan_model.h5", first), ("nan_var.h5", var)):
    p = run(["eval", "--model-file", bad, "--samples", "100", "--threads", "1", "--json"])
    check(json.loads(p.stdout)["samples"] == 100 and p.stderr.strip() ==
          f"losscape: note: {bad}: {name} holds NaN or infinite values (a diverged checkpoint?): "
          "the loss and accuracy above are those of a broken network",
          f"eval of {bad}: evaluated, with a note naming {name} ({p.stderr.strip()})")
# eval of a model whose last layer is scaled by 1e33 (finite, a loss near 1e33): the text report
# prints the loss --json gives (it printed %f into 31 characters: a 31-digit integer, 1e31 off)
last_w = [n for n in theta if n.endswith("weight")][-1]
shutil.copy(model, "huge_model.h5")
with h5py.File("huge_model.h5", "r+") as f:
    f["state"][last_w][...] = np.asarray(f["state"][last_w]) * np.float32(1e33)
got = {}
for how in ("text", "json"):
    p = run(["eval", "--model-file", "huge_model.h5", "--samples", "100", "--threads", "1",
             "--batch-size", "50"] + (["--json"] if how == "json" else []))
    got[how] = (json.loads(p.stdout)["loss"] if how == "json" else
                float(re.search(r"^loss +(\S+)", p.stdout, re.M).group(1)))
check(got["json"] > 1e31 and abs(got["text"] / got["json"] - 1) < 1e-5,
      f"eval of a model scaled by 1e33: the text report's loss {got['text']:.6e} is --json's "
      f"{got['json']:.6e}")
# Weights whose filter norms exceed ~1.8e19 (finite, a sum of squares past float32's range):
# filter- and layer-normalized directions of those norms (refused as "overflows float32": the
# norm was taken in float32, as the reference takes it, which gives inf there).
shutil.copy(model, "big_w.h5")
with h5py.File("big_w.h5", "r+") as f:
    f["state"][last_w][...] = np.sign(np.asarray(f["state"][last_w])) * np.float32(1e18)
    big = np.asarray(f["state"][last_w], np.float64)
for norm in ("filter", "layer"):
    p = run(["directions", "--model-file", "big_w.h5", "--x-norm", norm, "--dims", "1", "--out", f"big_{norm}.h5"])
    with h5py.File(f"big_{norm}.h5") as f:
        d = np.asarray(f["xdirection"][str([text(n) for n in f.attrs["names"]].index(last_w))], np.float64)
    want = np.linalg.norm(big, axis=1) if norm == "filter" else np.linalg.norm(big)
    got_n = np.linalg.norm(d, axis=1) if norm == "filter" else np.linalg.norm(d)
    check(np.all(np.isfinite(d)) and np.allclose(got_n, want, rtol=1e-5),
          f"--x-norm {norm} of weights of norm {np.linalg.norm(big, axis=1).max():.3g}: the norms of θ "
          f"({np.max(np.abs(got_n / want - 1)):.2e} off)")
# A torch.save target made for 3-channel images: named as such (the loader's hint, "give
# --dataset cifar10", then failed on θ* itself)
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    with h5py.File(model) as f:
        sd = {text(n): torch.from_numpy(np.asarray(f["state"][text(n)])) for n in f["state"].attrs["names"]}
    conv = next(n for n, t in sd.items() if t.dim() == 4)
    sd[conv] = torch.zeros(sd[conv].shape[0], 3, *sd[conv].shape[2:])
    torch.save(sd, "rgb.pth")
    p = run(["directions", "--model-file", model, "--x-target", "rgb.pth", "--dims", "1", "--out", "rgb_t.h5"],
            expect=1)
    check(p.stderr.strip() == f"losscape: error: rgb.pth: target model takes 3-channel images, the model ({model}) "
          "1-channel ones (1x28x28): not a target for it", f"a torch.save target for RGB images: {p.stderr.strip()}")
# hessian of a model with a NaN weight: refused before any product, naming the tensor, no --json
p = run(["hessian", "--model-file", "nan_model.h5", "--samples", "100", "--threads", "1",
         "--json", "nan_h.json"], expect=1)
check(p.stderr.strip() == f"losscape: error: nan_model.h5: {first} holds NaN or infinite values (a "
      "diverged checkpoint?); the Hessian there is undefined" and not os.path.exists("nan_h.json"),
      f"hessian of nan_model.h5: refused, no result ({p.stderr.strip()})")

# ---- an output folder that does not exist; --x-ignore none recorded as such ----
p = run(["directions", "--model-file", model, "--out", "no_such_folder/d.h5"], expect=1)
check(p.stderr.strip() == "losscape: error: no_such_folder/d.h5: no such folder no_such_folder",
      f"an output in a missing folder: named as such ({p.stderr.strip()})")
run(["directions", "--model-file", model, "--x-ignore", "none", "--y-ignore", "none", "--out", "none.h5"])
p = run(["info", "none.h5"])
check('"ignore":"none"' in p.stdout.replace(" ", "") and '"ignore":""' not in p.stdout.replace(" ", ""),
      "--x-ignore none is recorded as \"none\"")
# A sweep resuming with directions made before (ignore "" for none) is not refused for it.
run([*SWEEP, "--x", "-1:1:2", "--y", "-1:1:2", "--x-ignore", "none", "--out", "old_none.h5"])
with h5py.File("old_none.dirs.h5", "r+") as f:
    f.attrs["settings"] = f.attrs["settings"].replace("\"none\"", "\"\"") \
        if isinstance(f.attrs["settings"], str) else f.attrs["settings"].replace(b'"none"', b'""')
p = run([*SWEEP, "--x", "-1:1:2", "--y", "-1:1:2", "--x-ignore", "none", "--out", "old_none.h5"])
check(p.returncode == 0, "a resume of directions that record 'none' as \"\" (older files) goes on")

# ---- what a target or --same-dir direction records: the settings used, not unused defaults ----
run(["directions", "--model-file", model, "--x-target", "run/model_0.h5", "--dims", "1", "--out", "tgt.h5"])
run(["directions", "--model-file", model, "--same-dir", "--x-norm", "layer", "--out", "same.h5"])
settings = {}
for name in ("tgt.h5", "same.h5"):
    with h5py.File(name, "r") as f:
        settings[name] = json.loads(text(f.attrs["settings"]))
check(settings["tgt.h5"]["x"] == {"norm": "none", "ignore": "none", "target": "run/model_0.h5"},
      f"a target direction records norm and ignore none: {settings['tgt.h5']['x']}")
check(settings["same.h5"]["y"] == settings["same.h5"]["x"] and settings["same.h5"]["x"]["norm"] == "layer",
      f"with --same-dir, y records x's settings: {settings['same.h5']}")
# Directions of a fresh zoo network record its --init-seed (θ* is the seed's network)
run(["directions", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--init-seed", "4",
     "--out", "fresh4.h5"])
with h5py.File("fresh4.h5", "r") as f:
    fresh = json.loads(text(f.attrs["settings"]))
check(fresh.get("model_file") == "zoo" and fresh.get("init_seed") == 4,
      f"directions of a fresh network record its --init-seed: {fresh}")
p = run(["sweep", "--arch", "cnn_small", *DATA_ARGS, "--init-seed", "5", "--samples", "50",
         "--directions", "fresh4.h5", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "fresh5.h5"],
        expect=1)
check( "they were made with --init-seed 4" in p.stderr,
      f"... which a sweep of another seed's network names: {p.stderr.strip()}")
# A sweep resuming target directions recorded the older way (the unused defaults) goes on.
run([*SWEEP, "--x", "0:1:2", "--x-target", "run/model_0.h5", "--out", "tgt_s.h5"])
with h5py.File("tgt_s.dirs.h5", "r+") as f:
    old = json.loads(text(f.attrs["settings"]))
    old["x"].update(norm="filter", ignore="biasbn")
    f.attrs["settings"] = json.dumps(old)
p = run([*SWEEP, "--x", "0:1:2", "--x-target", "run/model_0.h5", "--out", "tgt_s.h5"])
check(p.returncode == 0, "a resume of target directions that record the unused defaults goes on")

# ---- a config's "dir": {"dims": 1} on a 2D grid: the grid decides, y's settings recorded ----
with open("dims1.json", "w") as f:
    json.dump({"dir": {"dims": 1, "y": {"norm": "layer"}}}, f)
p = run([*SWEEP, "--config", "dims1.json", "--x", "-1:1:2", "--y", "-1:1:2", "--out", "dims1.h5"])
with h5py.File("dims1.h5", "r") as f:
    stored = json.loads(text(f.attrs["config"]))["dir"]
with h5py.File("dims1.dirs.h5", "r") as f:
    made = json.loads(text(f.attrs["settings"]))
check(stored["dims"] == 2 and stored.get("y", {}).get("norm") == "layer" and made["y"]["norm"] == "layer",
      f"the stored config keeps y's settings, as the directions were made ({stored})")

# A sweep that made its own directions of other settings than the defaults (--seed 7) records
# both "dir" and the file it made them into: its stored config given again resumes it (it was
# refused as "dir" beside "directions"), and with another "out" makes them anew the same way.
run([*SWEEP, "--x", "-1:1:3", "--seed", "7", "--out", "seed7.h5", "--stop-after", "1"], expect=75)
with h5py.File("seed7.h5", "r") as f:
    cfg7 = json.loads(text(f.attrs["config"]))
check(cfg7["dir"]["seed"] == 7 and cfg7["directions"] == "seed7.dirs.h5",
      f"the stored config of a sweep that made its directions holds both ({cfg7['dir']}, {cfg7['directions']})")
with open("seed7.json", "w") as f:
    json.dump(cfg7, f)
p = run(["sweep", "--config", "seed7.json", "--quiet"])
with h5py.File("seed7.h5", "r") as f:
    done7, loss7 = int(np.asarray(f["done"]).sum()), np.asarray(f["train_loss"])
check(p.returncode == 0 and done7 == 3, f"... given again as --config: resumed to the end ({p.returncode}, "
      f"{done7} of 3: {p.stderr.strip()})")
p = run(["sweep", "--config", "seed7.json", "--out", "seed7b.h5", "--quiet"])
with h5py.File("seed7b.dirs.h5", "r") as f:
    made7 = json.loads(text(f.attrs["settings"]))
with h5py.File("seed7b.h5", "r") as f:
    same7 = np.allclose(np.asarray(f["train_loss"]), loss7, rtol=1e-5)
check(p.returncode == 0 and made7["seed"] == 7 and same7,
      f"... with another --out: directions made anew with seed 7, the same surface ({p.stderr.strip()})")

# Directions made around another θ*: refused, naming both fingerprints; --allow-other-model takes
# them, and the stored configuration says so (given again as --config, it does the same).
OTHER = [a if a != model else "run/model_0.h5" for a in SWEEP] + [
    "--directions", "dirs.h5", "--x", "-1:1:2", "--y", "-1:1:2"]
p = run([*OTHER, "--out", "other.h5"], expect=1)
check("dirs.h5 was made for another θ*" in p.stderr and not os.path.exists("other.h5"),
      f"directions of another model: refused ({p.stderr.strip()})")
p = run([*OTHER, "--out", "other.h5", "--allow-other-model"])
with h5py.File("other.h5", "r") as f:
    cfg = json.loads(text(f.attrs["config"]))
    done = int(np.asarray(f["done"]).sum())
check("dir" not in cfg, f"with --directions, the stored config lists no direction options ({cfg.get('dir')})")
check(p.returncode == 0 and done == 4 and cfg.get("allow_other_model") is True,
      f"... taken with --allow-other-model, recorded in the stored config ({done}, {cfg.get('allow_other_model')})")
cfg["out"] = "other2.h5"
with open("other.json", "w") as f:
    json.dump(cfg, f)
p = run(["sweep", "--config", "other.json", "--data-dir", DATA, "--quiet"])
check(p.returncode == 0, f"... and the stored config given again does the same ({p.stderr.strip()})")

# A Hessian setting in a config without the Hessian is refused, as its flag is.
with open("eig.json", "w") as f:
    json.dump({"eig_tol": 0.5}, f)
p = run([*SWEEP, "--config", "eig.json", "--x", "-1:1:2", "--out", "eig.h5", "--dry-run"], expect=1)
check(p.stderr.strip() == 'losscape: error: eig.json: eig_tol is for the Hessian maps: add '
      '"hessian": true (or --hessian)', f"config eig_tol without the Hessian: refused ({p.stderr.strip()})")
p = run([*SWEEP, "--config", "eig.json", "--x", "-1:1:2", "--out", "eig.h5", "--dry-run", "--hessian"])
check(p.returncode == 0, "... and taken with --hessian")

# ---- a resume re-checks the target: the directions must still be θ(target) − θ* ----
shutil.copy("run/model_0.h5", "target.h5")
TGT = [*SWEEP, "--x", "0:1:3", "--x-target", "target.h5", "--type", "states", "--out", "re.h5"]
# (one point per forward pass: the start-up choice may stack all 3 points in one pass, which
# completes the grid before --stop-after 1 is looked at, exit 0; it did on a loaded machine)
p = run([*TGT, "--stop-after", "1", "--points-per-forward", "1"], expect=75)
shutil.copy("run/model_0.h5", "target.h5")  # another model under the same name (not θ* itself,
with h5py.File("target.h5", "r+") as f:     # a zero direction, refused as such)
    f["state"]["conv1.weight"][...] = 2 * np.asarray(f["state"]["conv1.weight"])
p = run(TGT, expect=1)
check(p.stderr.strip() == "losscape: error: target.h5 is no longer the model re.dirs.h5 was made "
      "towards (conv1.weight differs): it changed since; pass --directions re.dirs.h5 instead of "
      "--x-target to resume with the directions as they were made, or choose another --out",
      f"a resume whose target file now holds another model is refused ({p.stderr.strip()})")
os.remove("target.h5")
p = run(TGT, expect=1)
check(p.stderr.strip() == "losscape: error: re.dirs.h5 was made towards target.h5, which cannot be "
      "read now (target.h5: no such model file); pass --directions re.dirs.h5 "
      "instead of --x-target to resume with the directions as they were made, or choose another "
      "--out", f"... and one whose target is gone ({p.stderr.strip()})")
p = run([a for a in TGT if a not in ("--x-target", "target.h5", "--type", "states")] +
        ["--directions", "re.dirs.h5"])
with h5py.File("re.h5", "r") as f:
    done = int(np.asarray(f["done"]).sum())
check(p.returncode == 0 and done == 3, f"... which --directions re.dirs.h5 resumes ({done} of 3)")

# ---- --type weights towards a target: BatchNorm statistics stay θ*'s (warned) ----
p = run(["directions", "--model-file", model, "--x-target", "run/model_0.h5", "--dims", "1",
         "--out", "tw.h5"])
warn = [line for line in p.stderr.splitlines() if line.startswith("losscape: warning:")]
check(len(warn) == 1 and "--type states interpolates them too" in warn[0] and
      "α = 1 is not run/model_0.h5 itself" in warn[0], f"--type weights with a target: warned {warn}")
p = run(["directions", "--model-file", model, "--x-target", "run/model_0.h5", "--dims", "1",
         "--type", "states", "--out", "ts.h5"])
check("warning" not in p.stderr, f"... --type states: no warning ({p.stderr.strip()})")

# ---- a target made for other inputs: named as such, not blamed on the data set ----
shutil.copy(model, "other_inputs.h5")
with h5py.File("other_inputs.h5", "r+") as f:
    f.attrs["input_shape"] = np.array([3, 32, 32], dtype=np.int64)
    f.attrs["dataset"] = np.bytes_("cifar10")
p = run(["directions", "--model-file", model, "--x-target", "other_inputs.h5", "--dims", "1",
         "--out", "oi.h5"], expect=1)
check(p.stderr.strip() == f"losscape: error: other_inputs.h5: target model was made for 3x32x32 "
      f"inputs, the model ({model}) for 1x28x28: not a target for it",
      f"a target for 3x32x32 inputs around a 1x28x28 model ({p.stderr.strip()})")

# ---- options that would be ignored: refused from the command line and from a --config alike ----
# --seed where every direction is a target (nothing is drawn at random)
for dims in (["--dims", "1"], ["--y-target", "run/model_0.h5"], ["--same-dir"]):
    p = run(["directions", "--model-file", model, "--x-target", "run/model_0.h5", *dims, "--seed", "7",
             "--out", "seed_t.h5"], expect=1)
    check(p.stderr.strip() == "losscape: error: --seed does not apply: no direction is drawn at random "
          "(each is θ(target) − θ*)" and not os.path.exists("seed_t.h5"),
          f"--seed with {' '.join(dims)} and --x-target: refused ({p.stderr.strip()})")
p = run(["directions", "--model-file", model, "--x-target", "run/model_0.h5", "--seed", "7",
         "--out", "seed_t.h5", "--quiet"])
check(os.path.exists("seed_t.h5"), "... and taken where y is random (2 directions, x a target)")
for name, cfg, grid, want in (
        ("cfg_init.json", {"init_seed": 5}, ["--x", "0:1:2"],
         f"init_seed 5 is for a fresh zoo network, but the model file {model} gives θ*: drop one of the two"),
        ("cfg_y1d.json", {"dir": {"y": {"norm": "layer"}}}, ["--x", "0:1:2"],
         'dir.y is about the second direction: a 2D grid needs "y" (or --y)'),
        # (accepted in silence, while --same-dir on a 1D grid is refused)
        ("cfg_same1d.json", {"dir": {"same_dir": True}}, ["--x", "0:1:2"],
         'dir.same_dir is about the second direction: a 2D grid needs "y" (or --y)'),
        # (the string was cut at the NUL: another file than the text names)
        ("cfg_nul.json", {"out": "a\u0000b.h5"}, ["--x", "0:1:2"],
         "config: 'out' holds a NUL character (U+0000)"),
        ("cfg_same.json", {"dir": {"same_dir": True, "y": {"norm": "layer"}}}, ["--x", "0:1:2", "--y", "0:1:2"],
         "dir.y does not apply with same_dir (y is a copy of x)"),
        ("cfg_tnorm.json", {"dir": {"x": {"target": "run/model_0.h5", "norm": "layer"}}}, ["--x", "0:1:2"],
         'dir.x.norm "layer" does not apply to a target direction (θ(run/model_0.h5) − θ*, used as it is)'),
        ("cfg_tseed.json", {"dir": {"seed": 9, "x": {"target": "run/model_0.h5"}}}, ["--x", "0:1:2"],
         "dir.seed does not apply: no direction is drawn at random (each is θ(target) − θ*)"),
        # (it was ignored in silence; the flags are refused alike)
        ("cfg_dirfile.json", {"directions": "seed_t.h5", "dir": {"seed": 5}}, ["--x", "0:1:2"],
         '"dir" sets how directions are made, but "directions" (seed_t.h5) gives them: drop one of the two')):
    with open(name, "w") as f:
        json.dump(cfg, f)
    p = run([*SWEEP, "--config", name, *grid, "--out", "cfg_ign.h5", "--dry-run"], expect=1)
    check(p.stderr.strip() == f"losscape: error: {name}: {want}", f"config {cfg}: refused ({p.stderr.strip()})")
# a config's "dir" (an interpolation target) beside the flag --directions: refused (it was dropped
# in silence, sweeping the file's random direction instead of the line to the target)
with open("cfg_tgt.json", "w") as f:
    json.dump({"dir": {"x": {"target": "run/model_0.h5"}}}, f)
p = run([*SWEEP, "--config", "cfg_tgt.json", "--directions", "seed_t.h5", "--x", "0:1:2", "--out", "cfg_ign.h5"],
        expect=1)
check(p.stderr.strip() == 'losscape: error: --directions seed_t.h5 gives the directions, but "dir" of '
      'cfg_tgt.json sets how to make them: drop one of the two' and not os.path.exists("cfg_ign.h5"),
      f"config \"dir\" with the flag --directions: refused ({p.stderr.strip()})")
# null is absent, for "dir" and its keys as for the others (a "dir": null was refused)
with open("cfg_null.json", "w") as f:
    json.dump({"dir": None, "x": None}, f)
with open("cfg_null2.json", "w") as f:
    json.dump({"dir": {"type": None, "x": {"norm": None, "ignore": None}, "y": None}}, f)
for name in ("cfg_null.json", "cfg_null2.json"):
    p = run([*SWEEP, "--config", name, "--x", "0:1:2", "--out", "cfg_null.h5", "--dry-run"])
    check(p.returncode == 0 and '"x":{"ignore":"biasbn","norm":"filter","target":""}' in p.stdout,
          f"{name}: null values are the defaults ({p.stderr.strip()})")
# ... but a "dir" of the defaults beside a direction file (nothing it would make otherwise) is taken
with open("cfg_dirdef.json", "w") as f:
    json.dump({"directions": "seed_t.h5", "dir": {"type": "weights", "dims": 1}}, f)
p = run([*SWEEP, "--config", "cfg_dirdef.json", "--x", "0:1:2", "--out", "cfg_ign.h5", "--dry-run"])
check(p.returncode == 0, f"a default \"dir\" beside \"directions\": taken ({p.stderr.strip()})")
# the stored configuration of a target sweep (its norm "none", the default seed) is taken again
with h5py.File("tgt_s.h5", "r") as f:
    cfg = json.loads(text(f.attrs["config"]))
cfg.update(out="tgt_again.h5", directions="")
with open("tgt_again.json", "w") as f:
    json.dump(cfg, f)
p = run(["sweep", "--config", "tgt_again.json", "--data-dir", DATA, "--quiet"])
check(p.returncode == 0, f"a target sweep's stored config given again runs ({p.stderr.strip()})")
# a PCA or projection with a --dataset of other inputs than the run's checkpoints: refused
run(["train", "--arch", "cnn_small", *DATA_ARGS, "--samples", "100", "--test-samples", "50",
     "--epochs", "2", "--batch-size", "50", "--out", "run3", "--quiet"])
p = run(["directions", "--pca", "--checkpoints", "run3", "--dataset", "cifar10", "--out", "pca_c.h5"],
        expect=1)
check(p.stderr.strip() == "losscape: error: run3/model_2.h5: model was made for 1x28x28 inputs, "
      "data set cifar10 has 3x32x32" and not os.path.exists("pca_c.h5"),
      f"PCA of a fashion-mnist run with --dataset cifar10: refused ({p.stderr.strip()})")

# ---- one run's checkpoints given out of training order (a shell glob puts model_10 before
# model_2): taken in epoch order, said; θ* is the newest (the 9th was, and the path zig-zagged) ----
run(["directions", "--pca", "--checkpoints", "run3", "--out", "pca_run3.h5", "--quiet"])
p = run(["directions", "--pca", "--checkpoints", "run3/model_1.h5", "run3/model_2.h5", "run3/model_0.h5",
         "--out", "pca_shuf.h5", "--quiet"])
with h5py.File("pca_run3.h5", "r") as a, h5py.File("pca_shuf.h5", "r") as b:
    same = all(np.array_equal(a[g][k], b[g][k]) for g in ("xdirection", "ydirection") for k in a[g])
check(same and "note: the checkpoints are taken in epoch order (as given, run3/model_2.h5 came before "
      "run3/model_0.h5: a shell glob sorts names as text); the last, run3/model_2.h5, is θ*" in p.stderr,
      f"PCA of checkpoints out of order: the run folder's directions, noted ({p.stderr.strip()})")
p = run(["project", "--directions", "pca_run3.h5", "--checkpoints", "run3/model_2.h5", "run3/model_0.h5",
         "run3/model_1.h5", "--out", "proj_shuf.h5", "--quiet"])
with h5py.File("proj_shuf.h5", "r") as f:
    epochs, last = list(f.attrs["epochs"]), (float(f["proj_xcoord"][-1]), float(f["proj_ycoord"][-1]))
check(epochs == [0, 1, 2] and last == (0.0, 0.0) and "epoch order" in p.stderr,
      f"project of checkpoints out of order: in epoch order, θ* last at (0, 0) ({epochs}, {last})")

# a checkpoint given twice (or under two names) would count twice in the PCA and the path
for given, want in ((["run3/model_1.h5", "run3/model_1.h5", "run3/model_2.h5"], "run3/model_1.h5 is given twice"),
                    (["run3/model_1.h5", "./run3/model_1.h5", "run3/model_2.h5"],
                     "./run3/model_1.h5 is run3/model_1.h5 again")):
    for cmd in (["directions", "--pca", "--out", "pca_twice.h5"], ["project", "--directions", "pca_run3.h5",
                                                                  "--out", "proj_twice.h5"]):
        p = run([*cmd, "--checkpoints", *given], expect=1)
        check(f"losscape: error: {want}: each checkpoint of a trajectory once" in p.stderr and
              not os.path.exists("pca_twice.h5") and not os.path.exists("proj_twice.h5"),
              f"{cmd[0]} with a checkpoint twice: refused ({p.stderr.strip()})")

# One folder is one folder however its path is spelled: ./run3/ and run3/ (the files were kept in
# the order given, and two files of one epoch counted twice)
shutil.copytree("run3", "run3b")
shutil.copy("run3b/model_1.h5", "run3b_model_01.h5")
os.replace("run3b_model_01.h5", "run3b/model_01.h5")  # (a copy under another name of epoch 1)
p = run(["directions", "--pca", "--checkpoints", "run3/model_1.h5", "./run3/model_2.h5", "run3/model_0.h5",
         "--out", "pca_spelled.h5"])
with h5py.File("pca_run3.h5", "r") as a, h5py.File("pca_spelled.h5", "r") as b:
    same = all(np.array_equal(a[g][k], b[g][k]) for g in ("xdirection", "ydirection") for k in a[g])
check(same and "taken in epoch order" in p.stderr,
      f"./run3/ and run3/: one folder, in epoch order ({p.stderr.strip()})")
p = run(["directions", "--pca", "--checkpoints", "run3b/model_1.h5", "./run3b/model_01.h5",
         "run3b/model_2.h5", "--out", "pca_twice.h5"], expect=1)
check("run3b/model_1.h5 and ./run3b/model_01.h5 are both of epoch 1" in p.stderr and
      not os.path.exists("pca_twice.h5"), f"one epoch twice under two spellings: refused ({p.stderr.strip()})")
os.remove("run3b/model_01.h5")
# files of several folders (a run continued elsewhere) keep the order given; epochs that do not
# increase along it are said
p = run(["project", "--directions", "pca_run3.h5", "--checkpoints", "run3/model_0.h5", "run3b/model_2.h5",
         "run3/model_1.h5", "run3/model_2.h5", "--out", "proj_folders.h5"])
check("note: checkpoints of several folders are taken in the order given, where run3/model_1.h5 (epoch 1) "
      "comes after run3b/model_2.h5 (epoch 2); the last, run3/model_2.h5, is θ*" in p.stderr,
      f"several folders, epochs not increasing: taken as given, said ({p.stderr.strip()})")
# a checkpoint of another architecture (whose tensors include the final model's: resnet20 beside
# resnet20_noshort) was read without a word
os.makedirs("mixed", exist_ok=True)
shutil.copy("run3/model_1.h5", "mixed/model_1.h5")
with h5py.File("mixed/model_1.h5", "r+") as f:
    f.attrs["arch"] = "resnet20"
for cmd in (["directions", "--pca", "--out", "pca_mixed.h5"],
            ["project", "--directions", "pca_run3.h5", "--out", "pca_mixed.h5"]):
    p = run([*cmd, "--checkpoints", "run3/model_0.h5", "mixed/model_1.h5", "run3/model_2.h5"], expect=1)
    check(p.stderr.strip() == "losscape: error: mixed/model_1.h5: checkpoint holds architecture resnet20, not "
          "cnn_small (the final model's, run3/model_2.h5): each checkpoint of one run" and
          not os.path.exists("pca_mixed.h5"), f"{cmd[0]}: a checkpoint of another architecture refused ({p.stderr.strip()})")
# a final model with an infinite value where the PCA does not look (a bias, under biasbn): refused
# as project and sweep refuse it (a direction file no later step could use was written)
shutil.copytree("run3", "run3inf")
with h5py.File("run3inf/model_2.h5", "r+") as f:
    bias = next(k for k in f["state"] if f["state"][k].ndim == 1 and f["state"][k].dtype.kind == "f")
    v = f["state"][bias][()]
    v[0] = np.inf
    f["state"][bias][...] = v
p = run(["directions", "--pca", "--checkpoints", "run3inf", "--out", "pca_inf.h5"], expect=1)
check("run3inf/model_2.h5" in p.stderr and bias in p.stderr and "origin of the plane" in p.stderr and
      p.stderr.count("\n") == 1 and not os.path.exists("pca_inf.h5"),
      f"PCA with an infinite bias in the final model: refused ({p.stderr.strip()})")

# A symmetric path (four checkpoints at (±2, ±1) in two weights): each component's entries of u
# are equal in exact arithmetic, and sklearn's svd_flip makes the first of them positive (numpy's
# argmax); the eigensolver's rounding chose before, and pc2 came out mirrored
os.makedirs("tie", exist_ok=True)
pts = [(2, 1), (-2, 1), (2, -1), (-2, -1)]
for k, (a, b) in enumerate(pts):
    shutil.copy("run3/model_2.h5", f"tie/model_{k}.h5")
    with h5py.File(f"tie/model_{k}.h5", "r+") as f:
        f.attrs["epoch"] = k
        w = f["state/linear.weight"][()]
        w[0, 0], w[0, 1] = a - pts[-1][0], b - pts[-1][1]
        f["state/linear.weight"][...] = w
p = run(["directions", "--pca", "--checkpoints", "tie", "--out", "pca_tie.h5", "--quiet"])
with h5py.File("pca_tie.h5", "r") as f:
    k = [text(n) for n in f.attrs["names"]].index("linear.weight")
    pcs = [f[g][str(k)][0, :2].astype(float) for g in ("xdirection", "ydirection")]
first = np.array(pts[0], float) - np.mean(pts, axis=0)
check(all(first @ pc > 0 for pc in pcs) and np.allclose(np.abs(pcs), [[1, 0], [0, 1]], atol=1e-6),
      f"a symmetric path: the first checkpoint on the positive side of both components ({pcs})")

# ---- a direction that is zero in every tensor: refused by sweep and info -m (a flat surface,
# swept to the end as "complete"); info alone says its cosine is undefined ----
shutil.copy("dirs.h5", "zero_dirs.h5")
with h5py.File("zero_dirs.h5", "r+") as f:
    for i in range(len(f.attrs["names"])):
        f["ydirection"][str(i)][...] = 0
want = "zero_dirs.h5: its y direction is zero in every tensor: the surface along it would be flat"
p = run([*SWEEP, "--directions", "zero_dirs.h5", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "zero_s.h5"], expect=1)
check(want in p.stderr and p.stderr.count("\n") == 1 and not os.path.exists("zero_s.h5"),
      f"sweep along a zero direction: refused, no file ({p.stderr.strip()})")
p = run(["info", "zero_dirs.h5", "--model-file", model], expect=1)
check(want in p.stderr, f"info -m of a zero direction: refused ({p.stderr.strip()})")
p = run(["info", "zero_dirs.h5"])
check("cos(x, y)    undefined (a direction is zero)" in p.stdout and
      json.loads(run(["info", "zero_dirs.h5", "--json"]).stdout)["cosine_xy"] is None,
      "info alone: cos(x, y) undefined (null in --json), not 0")

conclude()

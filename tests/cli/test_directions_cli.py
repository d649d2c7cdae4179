"""`losscape directions` and `losscape info dirs.h5` through the command line, checked with h5py and
numpy: the printed per-tensor norms, their ratio to the model's tensor norms and cos(x, y) equal
what numpy computes from the files; a direction file whose ydirection group is missing is refused
by a 2D sweep with a message naming the file and the group, and still serves a 1D sweep.
Environment: LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped."""
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
run(["directions", "--model-file", model, "--out", "dirs.h5",
     "--seed", "9"])

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

conclude()

"""The Python snippets of the docs run as written, on files losscape wrote, and do what the text
around them says:
  - docs/file-formats.md: the checkpoint reader gives the state dict of the checkpoint; the
    checkpoint writer, fed with that state dict, makes a file that `losscape eval` reads with
    the same loss and accuracy as the original; the direction-file reader gives one array per
    tensor with the model's shapes; the surface reader gives the [y][x] loss (NaN where not
    done) and, for a Hessian map, |min_eig / max_eig|;
  - docs/hessian.md: the JSON reader of `losscape hessian --json` prints the eigenvalues and
    writes the density for gnuplot.
A snippet that raises (as the checkpoint reader once did on 0-d tensors) fails the test.
Environment: LOSSCAPE, LOSSCAPE_SOURCE_DIR, TEST_WORK_DIR. Exit 77 = skipped."""
import contextlib
import io
import json
import os
import re
import shutil
import sys
import traceback

try:
    import h5py
    import numpy as np
    import torch
except ImportError:
    print("needs h5py, numpy and torch")
    sys.exit(77)

from clitest import FASHION_MNIST as DATA, check, conclude, run, setup

SRC = os.environ.get("LOSSCAPE_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXE = setup("/tmp/losscape-test-doc-snippets")


def snippets(doc):
    """The ```python blocks of docs/<doc>, in order."""
    with open(os.path.join(SRC, "docs", doc)) as f:
        text = f.read()
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


def execute(doc, i, code, ns):
    """Run one snippet in namespace ns; its stdout is returned, an exception fails the test."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{doc} python block {i + 1}", "exec"), ns)
    except Exception:
        print(code)
        traceback.print_exc()
        check(False, f"{doc} python block {i + 1} runs")
        return None
    check(True, f"{doc} python block {i + 1} runs")
    return out.getvalue()


# ---- files for the snippets to read, named as the snippets name them ----
DATA_ARGS = ["--dataset", "fashion-mnist", "--data-dir", DATA]
run(["train", "--arch", "cnn_small", *DATA_ARGS, "--samples", "300", "--test-samples", "100",
     "--epochs", "1", "--batch-size", "50", "--out", "run", "--quiet"])
shutil.copy("run/model_1.h5", "model.h5")
run(["directions", "--model-file", "model.h5", "--out", "dirs.h5", "--seed", "3", "--quiet"])
run(["sweep", "--model-file", "model.h5", "--directions", "dirs.h5", *DATA_ARGS, "--samples", "64",
     "--x", "-0.5:0.5:3", "--y", "-0.5:0.5:3", "--hessian", "--stop-after", "5", "--quiet",
     "--out", "surface.h5"], expect=75)  # a partial Hessian map: 5 of 9 points done
run(["hessian", "--model-file", "model.h5", *DATA_ARGS, "--samples", "64", "--density",
     "--slq-steps", "8", "--slq-probes", "1", "--trace-probes", "2", "--quiet", "--json", "h.json"])


def eval_json(model):
    # (one batch size and layout: bit for bit then; auto's layout is timed, and may differ)
    p = run(["eval", "--model-file", model, *DATA_ARGS, "--samples", "100", "--batch-size", "50",
             "--memory-format", "nchw", "--json"])
    return json.loads(p.stdout or "{}")


# ---- docs/file-formats.md ----
blocks = snippets("file-formats.md")
check(len(blocks) == 4, f"file-formats.md has its 4 python blocks (found {len(blocks)})")
ns = {}
with h5py.File("model.h5", "r") as f:
    want = {n.decode() if isinstance(n, bytes) else n: np.asarray(f["state"][n])
            for n in f["state"].attrs["names"]}
if len(blocks) == 4:
    printed = execute("file-formats.md", 0, blocks[0], ns)
    sd = ns.get("state_dict", {})
    check(list(sd) == list(want) and
          all(isinstance(sd[k], torch.Tensor) and np.array_equal(sd[k].numpy(), want[k]) for k in want),
          "checkpoint reader: the state dict, in state-dict order, 0-d counters included")
    check(printed is not None and printed.startswith("cnn_small [1, 28, 28] 1 "),
          f"checkpoint reader prints arch, input shape, epoch, test accuracy: {printed!r}")

    execute("file-formats.md", 1, blocks[1], ns)
    if "save_losscape_checkpoint" in ns and sd:
        ns["save_losscape_checkpoint"]("written.h5", sd, "cnn_small", "fashion-mnist", [1, 28, 28])
        a, b = eval_json("model.h5"), eval_json("written.h5")
        check(a.get("loss") is not None and a.get("loss") == b.get("loss") and
              a.get("accuracy") == b.get("accuracy"),
              f"checkpoint writer: losscape evaluates the written file as the original "
              f"({b.get('loss')} == {a.get('loss')})")

    execute("file-formats.md", 2, blocks[2], ns)
    delta, names = ns.get("delta", []), ns.get("names", [])
    params = [n for n in want if not re.search(r"running_|num_batches_tracked", n)]
    check(names == params and [d.shape for d in delta] == [want[n].shape for n in names],
          "direction reader: one array per parameter (type weights), the model's names and shapes")

    execute("file-formats.md", 3, blocks[3], ns)
    with h5py.File("surface.h5", "r") as f:
        done = np.asarray(f["done"]).astype(bool)
        loss = np.asarray(f["train_loss"])
        mx, mn = np.asarray(f["max_eig"]), np.asarray(f["min_eig"])
    z, ratio = ns.get("z"), ns.get("ratio")
    check(z is not None and z.shape == (3, 3) and done.sum() == 5 and
          np.array_equal(z[done], loss[done]) and np.isnan(z[~done]).all(),
          "surface reader: the loss where done, NaN elsewhere (5 of 9 points done)")
    check(ratio is not None and np.allclose(ratio[done], np.abs(mn[done] / mx[done])) and
          np.isnan(ratio[~done]).all(), "surface reader: |min_eig / max_eig| of a Hessian map")

# ---- docs/hessian.md ----
blocks = snippets("hessian.md")
check(len(blocks) == 1, f"hessian.md has its python block (found {len(blocks)})")
if blocks:
    printed = execute("hessian.md", 0, blocks[0], {})
    with open("h.json") as f:
        j = json.load(f)
    first = printed.split() if printed else []
    check(len(first) == 5 and float(first[0]) == j["max_eig"] and first[3] == "+-",
          f"hessian JSON reader prints max_eig, min_eig, trace +- stderr: {printed!r}")
    rows = np.loadtxt("density.dat") if os.path.exists("density.dat") else np.zeros((0, 2))
    check(rows.shape == (len(j["density"]["grid"]), 2) and
          np.allclose(rows[:, 1], j["density"]["density"]),
          f"density.dat: the density on its grid, {rows.shape[0]} rows")

conclude()

#!/usr/bin/env python3
"""Damaged and crafted input files: one error line naming the file, exit 1, nothing overwritten.

Each case was found by fuzzing the readers (2026-12-01) and crashed, hung, allocated terabytes,
printed several lines, or silently went on before its fix:
  - a torch.save pickle of lists nested 200,000 deep (a stack overflow when released);
  - a TorchScript module whose tensor record is empty (a segfault in the first operation), or
    whose code does not compile (the compiler's message over many lines, no file name), or
    whose code is nested 10,000 deep (LibTorch's parser overflowed the stack: exit 139);
  - HDF5 datasets declaring 2^40 elements with no data stored (allocated before any check);
  - a direction file whose x and y tensors differ in shape (a LibTorch message without a name);
  - a surface whose completion mask holds 2 (a resume took the points for done);
  - a checkpoint whose recorded epoch is not that of its name (train --resume from it wrote over
    the run's finished checkpoints);
  - an empty data split (a loss of 0 reported and stored);
  - a checkpoint with NaN weights given to `losscape hessian` (LAPACK's own complaints);
  - info: a run log entry of other types (a JSON type error), a projection with a NaN
    coordinate (a covering grid of NaNs suggested), a whole-split sweep ("samples 0");
  - a CIFAR-10 file that is a folder (a stream error naming nothing), an empty --out;
  - directions/project/export/hessian outputs naming a surface (replaced it) or a folder;
  - a NaN checkpoint in a trajectory (PCA: a LibTorch eigh error; project --grid: NaN bounds);
  - a run folder's model_<N> that is a broken link or a folder (skipped: another θ*);
  - train --resume from NaN weights or momentum (went on: every later epoch NaN);
  - a negative BatchNorm running_var (eval gave NaN without a word, a sweep went on);
  - a projection of other shapes, a PCA file's variance ratio NaN or of 3 values (read, shown);
  - a model without parameters, or with zero 1-D ones only (a direction file of no tensor, or of
    zeros, was written);
  - a surface with a format of int64 or a config that is not JSON (plot drew it, a resume
    finished it).
Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped.
"""
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile

try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {sys.executable} cannot import torch/numpy/h5py ({e})", file=sys.stderr)
    sys.exit(77)

import clitest  # noqa: E402
from clitest import FASHION_MNIST, check, conclude, losscape as run, setup  # noqa: E402

setup("/tmp/losscape-damaged-test")
THREADS = ["--threads", "1"]


def refused(tag, path, *args):
    """`losscape ARGS` must exit 1 with one stderr line 'losscape: error: ...' naming `path`."""
    r = run(*args, expect_ok=False, timeout=120)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and lines[0].startswith("losscape: error: ") and
          path in lines[0],
          f"{tag}: exit 1, one line naming {path} (exit {r.returncode}: {r.stderr.strip()[:300]!r})")
    return r


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def replace_dataset(path, name, **kw):
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, **kw)


def main():
    # ---- valid files first: a 2-epoch run, its directions, a surface; a TorchScript module ----
    run("train", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--samples", "100",
        "--test-samples", "50", "--epochs", "2", "--batch-size", "50", "--out", "run", *THREADS,
        "--quiet")
    run("directions", "--model-file", "run/model_2.h5", "--out", "d.h5", "--quiet")
    run("sweep", "--model-file", "run/model_2.h5", "--directions", "d.h5", "--dataset",
        "fashion-mnist", "--samples", "20", "--x", "-1:1:3", "--y", "-1:1:3", "--stop-after", "2",
        "--out", "s.h5", *THREADS, "--quiet", expect_ok=False)

    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(784, 10)

        def forward(self, x):
            return self.l(x.flatten(1))

    torch.jit.script(Lin()).save("ts.pt")

    # ---- pickle nested 200,000 deep ----
    with zipfile.ZipFile("deep.pt", "w") as z:
        n = 200000
        z.writestr("archive/data.pkl", b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b".")
        z.writestr("archive/version", "3")
    refused("a pickle nested 200,000 deep", "deep.pt", "info", "deep.pt", "--arch", "cnn_small")

    # ---- TorchScript: an empty tensor record, code that does not compile ----
    src = zipfile.ZipFile("ts.pt")
    weight = [k for k in src.namelist() if "/data/" in k and src.getinfo(k).file_size == 784 * 10 * 4]
    check(len(weight) == 1, f"the TorchScript file has the weight's record: {src.namelist()}")
    code = [k for k in src.namelist() if k.endswith(".py") and b"def forward" in src.read(k)]
    with zipfile.ZipFile("ts_empty.pt", "w") as z:
        for k in src.namelist():
            z.writestr(k, b"" if k in weight else src.read(k))
    with zipfile.ZipFile("ts_code.pt", "w") as z:
        for k in src.namelist():
            v = src.read(k)
            z.writestr(k, v.replace(b"def forward", b"def forward((") if k in code else v)
    refused("TorchScript with an empty tensor record: info", "ts_empty.pt", "info", "ts_empty.pt")
    refused("... directions", "ts_empty.pt", "directions", "--model-file", "ts_empty.pt", "--out",
            "x.h5")
    refused("TorchScript whose code does not compile", "ts_code.pt", "info", "ts_code.pt")
    # Code nested 10,000 deep: LibTorch's recursive parser overflowed the stack (exit 139, no
    # word of the file); a crash inside torch::jit::load is named as the file's (CrashGuard)
    nested = [k for k in code if b"return (l)" in src.read(k)]
    check(len(nested) == 1, f"the TorchScript file's forward returns (l)...: {code}")
    with zipfile.ZipFile("ts_nested.pt", "w") as z:
        for k in src.namelist():
            v = src.read(k)
            z.writestr(k, v.replace(b"return (l)", b"return " + b"(" * 10000 + b"l" + b")" * 10000)
                       if k in nested else v)
    refused("TorchScript code nested 10,000 deep", "ts_nested.pt", "info", "ts_nested.pt")
    # A record cut short (LibTorch 1.13 sizes the storage by its declared shape: read past the
    # record's end, garbage values or a crash) and a storage offset near 2^62 (its bound computed
    # in 64 bits wrapped around and passed: read before the storage, exit 0)
    with zipfile.ZipFile("ts_short.pt", "w") as z:
        for k in src.namelist():
            z.writestr(k, src.read(k)[:16] if k in weight else src.read(k))
    refused("TorchScript with a tensor record cut short: eval", "ts_short.pt", "eval", "--model-file", "ts_short.pt",
            "--dataset", "fashion-mnist", "--samples", "10")
    pkl = [k for k in src.namelist() if k.endswith("data.pkl")]
    old = b"K\x00(K\nM\x10\x03t"  # the weight's storage offset 0 and its size (10, 784)
    check(len(pkl) == 1 and src.read(pkl[0]).count(old) == 1, "the TorchScript data.pkl holds the weight's offset")
    with zipfile.ZipFile("ts_offset.pt", "w") as z:
        for k in src.namelist():
            v = src.read(k)
            z.writestr(k, v.replace(old, b"\x8a\x08" + struct.pack("<q", 2**62 - 7840) + old[2:]) if k in pkl else v)
    refused("TorchScript with a storage offset near 2^62: info", "ts_offset.pt", "info", "ts_offset.pt")
    # A legacy torch.save file whose tensor's size overflows: LibTorch's message named no file
    torch.save({"w": torch.zeros(12)}, "legacy_big.pt", _use_new_zipfile_serialization=False)
    data = open("legacy_big.pt", "rb").read()
    big = b"\x8a\x08" + struct.pack("<q", 2**31)
    data, n = re.subn(rb"K\x0c\x85q.K\x01\x85q.", b"(" + big * 3 + b"t(K\x00K\x00K\x00t", data, flags=re.S)
    check(n == 1, "the legacy file holds the tensor's size (12,) and stride (1,)")
    open("legacy_big.pt", "wb").write(data)
    refused("a legacy torch.save file of a size (2^31)^3: info", "legacy_big.pt", "info", "legacy_big.pt")

    # ---- a TorchScript module whose output is not one logit per class: refused at load ----
    class Five(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(784, 10)

        def forward(self, x):
            return self.l(x.flatten(1))[:, :5]

    torch.jit.script(Five()).save("ts_five.pt")
    r = refused("TorchScript returning 5 of the 10 classes", "ts_five.pt", "eval", "--model-file",
                "ts_five.pt", "--samples", "20", *THREADS)
    check("returns [2, 5]" in r.stderr and "needs [2, 10]" in r.stderr, f"... says so: {r.stderr.strip()}")
    refused("... sweep (before any file is made)", "ts_five.pt", "sweep", "--model-file",
            "ts_five.pt", "--samples", "20", "--x", "-1:1:3", "--out", "five.h5", *THREADS, "--quiet")
    check(not os.path.exists("five.h5") and not os.path.exists("five.dirs.h5"), "... nothing written")

    # ---- models no random direction moves: directions refused in one line, no file (a 0-tensor
    # or all-zero direction file was written, which the sweep then refused) ----
    class NoParams(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    class BiasOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.b = torch.nn.Parameter(torch.zeros(10))

        def forward(self, x):
            return x.flatten(1)[:, :10] + self.b

    class ZeroLinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(10, 10))

        def forward(self, x):
            return x.flatten(1)[:, :10] @ self.w

    torch.jit.script(NoParams()).save("ts_noparams.pt")
    torch.jit.script(BiasOnly()).save("ts_biasonly.pt")
    torch.jit.script(ZeroLinear()).save("ts_zerolinear.pt")
    for model, extra, says in (
            ("ts_noparams.pt", [], "the model has no weights to perturb"),
            ("ts_biasonly.pt", [], "every tensor of its weights has at most one dimension, and --x-ignore "
                                   "biasbn leaves those out (--x-ignore none keeps them)"),
            # (a vector's direction is θ*'s own values under ignore none, whatever the norm: the
            # message advised --x-norm none, which changed nothing)
            ("ts_biasonly.pt", ["--x-ignore", "none", "--y-ignore", "none", "--x-norm", "none", "--y-norm", "none"],
             "every tensor of its weights has at most one dimension, whose direction is θ*'s own values under "
             "--x-ignore none (as in the reference), and those are zero in θ*"),
            ("ts_zerolinear.pt", [],
             "the weights it perturbs are zero in θ*, and --x-norm filter scales it to their size (--x-norm none "
             "does not)")):
        r = refused(f"directions of {model} {' '.join(extra)}", model, "directions", "--model-file", model,
                    *extra, "--out", "zero.dirs.h5", "--quiet")
        check(says in r.stderr and not os.path.exists("zero.dirs.h5"), f"... says why, no file: {r.stderr.strip()}")
    r = run("directions", "--model-file", "ts_zerolinear.pt", "--x-norm", "none", "--y-norm", "none",
             "--out", "zero.dirs.h5", "--quiet")
    check(os.path.exists("zero.dirs.h5"), "... and --x-norm none, as that message says, makes them")
    os.remove("zero.dirs.h5")
    refused("... a sweep making them", "ts_noparams.pt", "sweep", "--model-file", "ts_noparams.pt",
            "--samples", "20", "--x", "-1:1:3", "--out", "zero.h5", *THREADS, "--quiet")
    check(not os.path.exists("zero.h5") and not os.path.exists("zero.dirs.h5"), "... nothing written")

    # ---- state dicts: one name with and without 'module.', an entry that is not a tensor,
    # pickle protocol 1 ----
    with h5py.File("run/model_2.h5", "r") as f:
        sd = {k: torch.from_numpy(np.asarray(f["state"][k][()])) for k in f["state"]}
    torch.save(sd, "sd.pth")
    name = sorted(sd)[0]
    torch.save({**sd, "module." + name: torch.zeros_like(sd[name])}, "sd_dup.pth")
    r = refused("a name with and without 'module.'", "sd_dup.pth", "eval", "--model-file", "sd_dup.pth",
                "--arch", "cnn_small", "--samples", "20", *THREADS)
    check(f"'{name}' and 'module.{name}'" in r.stderr, f"... both named: {r.stderr.strip()}")
    torch.save({**sd, "note": "hello"}, "sd_note.pth")
    r = refused("a state dict with a str entry", "sd_note.pth", "info", "sd_note.pth")
    check("entry 'note' is a str, not a tensor" in r.stderr, f"... the entry named: {r.stderr.strip()}")
    torch.save(sd, "sd_p1.pth", pickle_protocol=1)
    r = run("eval", "--model-file", "sd_p1.pth", "--arch", "cnn_small", "--samples", "20", *THREADS,
            expect_ok=False)
    r2 = run("eval", "--model-file", "sd.pth", "--arch", "cnn_small", "--samples", "20", *THREADS)
    check(r.returncode == 0 and r.stdout.splitlines()[3:5] == r2.stdout.splitlines()[3:5],
          f"a zip state dict pickled with protocol 1 is read: the same loss and accuracy "
          f"({r.returncode}: {r.stderr.strip()})")
    torch.save(sd, "sd_p1_legacy.pth", pickle_protocol=1, _use_new_zipfile_serialization=False)
    r = refused("a legacy state dict pickled with protocol 1", "sd_p1_legacy.pth", "info",
                "sd_p1_legacy.pth")
    check("pickled with protocol 0 or 1" in r.stderr, f"... names the protocol: {r.stderr.strip()}")

    # A key with a line break, or bytes that are not UTF-8 (a legacy pickle edited in place: the
    # same length), is shown escaped in the one-line error; it split the line and wrote the raw
    # bytes to stderr.
    torch.save({**sd, "evil\nname": torch.zeros(1)}, "sd_newline.pth")
    r = refused("a state dict key with a line break", "sd_newline.pth", "eval", "--model-file",
                "sd_newline.pth", "--arch", "cnn_small", "--samples", "20", *THREADS)
    check("unexpected evil\\nname" in r.stderr, f"... shown escaped: {r.stderr.strip()!r}")
    torch.save({**sd, "evilXname": torch.zeros(1)}, "sd_latin1.pth", _use_new_zipfile_serialization=False)
    raw = open("sd_latin1.pth", "rb").read()
    assert raw.count(b"evilXname") == 1
    open("sd_latin1.pth", "wb").write(raw.replace(b"evilXname", b"evil\xbename"))
    r = subprocess.run([os.environ["LOSSCAPE"], "eval", "--model-file", "sd_latin1.pth", "--arch",
                        "cnn_small", "--samples", "20", *THREADS], capture_output=True)
    err = r.stderr.decode("utf-8", errors="replace").strip()
    check(r.returncode == 1 and len(err.splitlines()) == 1 and b"\xbe" not in r.stderr and
          "evil\\xbename" in err, f"... and a key of bytes that are not UTF-8: {r.returncode} {r.stderr!r}")
    # `info` lists such keys escaped too (text), and as JSON with U+FFFD for the bytes that are not
    # UTF-8: the text split a row and wrote raw bytes; --json ended in nlohmann's "invalid UTF-8".
    r = run("info", "sd_newline.pth")
    rows = [line for line in r.stdout.splitlines() if "evil" in line]
    check(len(rows) == 1 and rows[0].split()[0] == "evil\\nname",
          f"info lists a key with a line break on one row, escaped: {rows!r}")
    r = subprocess.run([os.environ["LOSSCAPE"], "info", "sd_latin1.pth"], capture_output=True)
    check(r.returncode == 0 and b"\xbe" not in r.stdout and b"evil\\xbename" in r.stdout,
          f"... a key of bytes that are not UTF-8 shown escaped: {r.returncode} {r.stdout[-300:]!r}")
    r = subprocess.run([os.environ["LOSSCAPE"], "info", "--json", "sd_latin1.pth"], capture_output=True)
    names = [t["name"] for t in json.loads(r.stdout)["tensors"]] if r.returncode == 0 else []
    check("evil\ufffdname" in names, f"... and in --json as U+FFFD: {r.returncode} {r.stderr!r}")
    # A value named with a tab (an edited surface): its summary row is listed, its name escaped
    # once (the row was left out: the summary was keyed by the raw name, the list escaped)
    shutil.copy("s.h5", "s_tab.h5")
    with h5py.File("s_tab.h5", "r+") as f:
        identity = json.loads(f.attrs["identity"])
        f.move("train_loss", "train\tloss")
        identity["values"] = ["train\tloss" if v == "train_loss" else v for v in identity["values"]]
        f.attrs["identity"] = json.dumps(identity)
    r = run("info", "s_tab.h5")
    rows = [line for line in r.stdout.splitlines() if line.startswith("  train\\tloss ")]
    check(len(rows) == 1 and '["train\\tloss",' in r.stdout,
          f"info of a surface whose value name has a tab: its row, the name escaped once: {r.stdout!r}")
    # ... and beside it one named with the two characters backslash and t: two rows and two
    # names apart (the real tab and the literal \\t both showed as \\t, and the second's summary
    # replaced the first's); and a name with quotes, which read as two names in the list
    def renamed_copy(path, renamed):
        shutil.copy("s.h5", path)
        with h5py.File(path, "r+") as f:
            identity = json.loads(f.attrs["identity"])
            assert all(v in identity["values"] for v in renamed), identity["values"]
            for old, new in renamed.items():
                f.move(old, new)
            identity["values"] = [renamed.get(v, v) for v in identity["values"]]
            f.attrs["identity"] = json.dumps(identity)
        return run("info", path).stdout

    out = renamed_copy("s_names.h5", {"train_loss": "train\tloss", "train_acc": "train\\tloss"})
    rows = [[line for line in out.splitlines() if line.startswith(f"  {n} ")]
            for n in ("train\\tloss", "train\\\\tloss")]
    check([len(x) for x in rows] == [1, 1] and '["train\\tloss","train\\\\tloss"]' in out,
          f"... a real tab and a literal backslash-t in names: two rows, two names: {out!r}")
    out = renamed_copy("s_quote.h5", {"train_loss": 'a","b'})
    check(len([line for line in out.splitlines() if line.startswith('  a","b ')]) == 1 and
          '["a\\",\\"b","train_acc"]' in out,
          f"... a name with quotes: one row, one name in the list: {out!r}")
    # Tensors torch.load reads but without dense values: named, not "not a state dict"
    torch.save({"fc.weight": torch.empty(3, 4, device="meta")}, "sd_meta.pth")
    r = refused("a state dict of meta tensors", "sd_meta.pth", "info", "sd_meta.pth")
    check("entry 'fc.weight' is a tensor on the meta device" in r.stderr, f"... said so: {r.stderr.strip()}")
    torch.save({"state_dict": {"fc.weight": torch.eye(3).to_sparse()}, "epoch": 3}, "ck_sparse.pth")
    r = refused("a checkpoint of a sparse tensor", "ck_sparse.pth", "info", "ck_sparse.pth")
    check("entry 'fc.weight' is a sparse tensor" in r.stderr, f"... said so: {r.stderr.strip()}")
    # A legacy file cut before its storages: said to be truncated
    torch.save(sd, "sd_legacy.pth", _use_new_zipfile_serialization=False)
    raw = open("sd_legacy.pth", "rb").read()
    open("sd_cut.pth", "wb").write(raw[:len(raw) // 2])
    r = refused("a legacy state dict cut in half", "sd_cut.pth", "info", "sd_cut.pth")
    check("truncated" in r.stderr, f"... said to be truncated: {r.stderr.strip()}")

    # ---- IDX files hold exactly what their headers announce ----
    os.makedirs("idx_trail", exist_ok=True)
    for f in os.listdir(FASHION_MNIST):
        if f.startswith("t10k-") or f.startswith("train-"):
            src = os.path.join(FASHION_MNIST, f)
            plain = f[:-3] if f.endswith(".gz") else f
            data = gzip.open(src).read() if f.endswith(".gz") else open(src, "rb").read()
            with open(os.path.join("idx_trail", plain), "wb") as out:
                out.write(data + (b"junk" if plain == "t10k-labels-idx1-ubyte" else b""))
    refused("IDX labels with 4 bytes after the announced ones", "t10k-labels-idx1-ubyte",
            "info", "--dataset", "fashion-mnist", "--data-dir", "idx_trail")

    # ---- shapes declared far beyond the data stored ----
    shutil.copy("d.h5", "d_huge.h5")
    replace_dataset("d_huge.h5", "xdirection/0", shape=(1 << 40,), dtype="f4", chunks=(1024,))
    shutil.copy("run/model_2.h5", "ck_huge.h5")
    with h5py.File("ck_huge.h5", "r") as f:
        name = "state/" + sorted(k for k in f["state"])[0]
    replace_dataset("ck_huge.h5", name, shape=(1 << 40,), dtype="f4", chunks=(1024,))
    refused("a direction file declaring 2^40 elements", "d_huge.h5", "info", "d_huge.h5")
    refused("a checkpoint declaring 2^40 elements", "ck_huge.h5", "info", "ck_huge.h5")
    # a shape whose element count wraps around 2^64 to 2 (it passed the size check above, and
    # the read of 2 elements walked its 4.6e18 chunks for ever)
    with h5py.File("wrap.h5", "w") as f:
        d = f.create_dataset("xcoordinates", shape=(3, 6148914691236517206), dtype="f8",
                             chunks=(1, 4))
        d[0, :4] = 1
        f["train_loss"] = np.zeros((2, 2))
    refused("a coordinate dataset whose shape's product wraps around 2^64", "wrap.h5", "info",
            "wrap.h5")

    # ---- a trajectory whose last file is no model (a log, an empty file): named as such, not
    # as "a torch.save checkpoint [that] does not name its architecture" ----
    open("empty_ck", "wb").close()
    for last in ("run/log.jsonl", "empty_ck"):
        r = refused(f"directions --pca ending in {last}", last, "directions", "--pca",
                    "--checkpoints", "run/model_0.h5", "run/model_1.h5", last, "--out", "pca_bad.h5")
        check("not a model file" in r.stderr, f"... as not a model file ({r.stderr.strip()[:200]})")

    # ---- x and y directions of different shapes ----
    shutil.copy("d.h5", "d_xy.h5")
    with h5py.File("d_xy.h5", "r") as f:
        shape = f["xdirection/0"].shape
    replace_dataset("d_xy.h5", "xdirection/0", data=np.zeros((shape[0] + 1, *shape[1:]), "f4"))
    refused("x and y directions of different shapes", "d_xy.h5", "info", "d_xy.h5")

    # ---- a direction file without its xdirection, a projection with proj_xcoord alone: info
    # names what is missing (it took them for models: "not a losscape checkpoint") ----
    shutil.copy("d.h5", "d_nox.h5")
    with h5py.File("d_nox.h5", "r+") as f:
        del f["xdirection"]
    with h5py.File("p_xonly.h5", "w") as f:
        f["proj_xcoord"] = np.arange(3.0)
    for tag, name, args, want in (
            ("a direction file without xdirection", "d_nox.h5", [], "'xdirection' is missing"),
            ("... with --model-file", "d_nox.h5", ["--model-file", "run/model_2.h5"],
             "a damaged direction file (its format is losscape-directions, but group 'xdirection' is missing)"),
            ("a projection with proj_xcoord alone", "p_xonly.h5", [], "proj_ycoord missing")):
        r = refused(f"info of {tag}", name, "info", name, *args)
        check(want in r.stderr, f"... says {want!r} ({r.stderr.strip()})")

    # ---- a completion mask holding 2: refused, not resumed as done ----
    shutil.copy("s.h5", "s_done2.h5")
    with h5py.File("s_done2.h5", "r+") as f:
        f["done"][...] = 2
    before = md5("s_done2.h5")
    refused("a completion mask holding 2: the resume", "s_done2.h5", "sweep", "--model-file",
            "run/model_2.h5", "--directions", "d.h5", "--dataset", "fashion-mnist", "--samples",
            "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s_done2.h5", *THREADS, "--quiet")
    check(md5("s_done2.h5") == before, "... and the file is left untouched")

    # ---- one damaged surface, one verdict for every command: a format that is no string (plot
    # drew it, unchecked, as the reference's), a config that is not JSON (a resume finished it,
    # and merge then refused the finished file). (plot and export read a surface without an
    # identity as the reference's, whose layout it has then: its shapes checked) ----
    for tag, name, damage in (
            ("a format of int64", "s_fmt.h5", lambda f: f.attrs.__setitem__("format", np.int64(3))),
            ("a config that is not JSON", "s_cfg.h5", lambda f: f.attrs.__setitem__("config", "[1,2"))):
        shutil.copy("s.h5", name)
        with h5py.File(name, "r+") as f:
            damage(f)
        before = md5(name)
        for cmd in (["info", name], ["plot", name, "-o", "plots_damaged"],
                    ["export", name, "--vtp", "damaged.vtp"], ["merge", name, "--out", "m_damaged.h5"],
                    ["sweep", "--model-file", "run/model_2.h5", "--directions", "d.h5", "--dataset",
                     "fashion-mnist", "--samples", "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", name,
                     *THREADS, "--quiet"]):
            refused(f"a surface with {tag}: {cmd[0]}", name, *cmd)
        check(md5(name) == before and not os.path.exists("damaged.vtp") and
              not os.path.exists("m_damaged.h5"), f"... {name} left as it was, nothing written")

    # ---- datasets that are links: a resume wrote its seconds into train_loss through a soft
    # link, and into another surface file through an external one ----
    for kind, link in (("soft", lambda: h5py.SoftLink("/train_loss")),
                       ("external", lambda: h5py.ExternalLink("s.h5", "/seconds"))):
        name = f"s_{kind}.h5"
        shutil.copy("s.h5", name)
        with h5py.File(name, "r+") as f:
            del f["seconds"]
            f["seconds"] = link()
        before, other = md5(name), md5("s.h5")
        r = refused(f"a {kind} link for 'seconds': the resume", name, "sweep", "--model-file",
                    "run/model_2.h5", "--directions", "d.h5", "--dataset", "fashion-mnist", "--samples",
                    "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", name, *THREADS, "--quiet")
        check("'seconds' is a link, not a dataset of its own" in r.stderr and md5(name) == before and
              md5("s.h5") == other, f"... named, and neither file changed ({r.stderr.strip()[:200]})")
    # ... and a second hard link to one dataset: the resume wrote seconds into train_loss
    shutil.copy("s.h5", "s_hard.h5")
    with h5py.File("s_hard.h5", "r+") as f:
        del f["seconds"]
        f["seconds"] = f["train_loss"]
    before = md5("s_hard.h5")
    r = refused("'seconds' a hard link to train_loss: the resume", "s_hard.h5", "sweep", "--model-file",
                "run/model_2.h5", "--directions", "d.h5", "--dataset", "fashion-mnist", "--samples",
                "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s_hard.h5", *THREADS, "--quiet")
    check("'seconds' and 'train_loss' are one dataset under two names (hard links)" in r.stderr and
          md5("s_hard.h5") == before, f"... named, the file unchanged ({r.stderr.strip()[:200]})")

    # ---- a value dataset of another float size (h5py: astype('f2')), or chunked and compressed
    # (h5repack -f GZIP): a resume wrote new losses at half precision into the first and wrote in
    # place into moving chunks in the second; both are refused for a resume, the second still read ----
    with h5py.File("s.h5", "r") as f:
        loss = f["train_loss"][...]
    for tag, kw, named in (("float16 'train_loss'", dict(data=loss.astype("f2")),
                            "dataset 'train_loss' is not of the type losscape writes"),
                           ("gzip-chunked 'train_loss'", dict(data=loss, chunks=True, compression="gzip"),
                            "dataset 'train_loss' is chunked or compressed (h5repack?)")):
        shutil.copy("s.h5", "s_layout.h5")
        replace_dataset("s_layout.h5", "train_loss", **kw)
        before = md5("s_layout.h5")
        r = refused(f"a {tag}: the resume", "s_layout.h5", "sweep", "--model-file",
                    "run/model_2.h5", "--directions", "d.h5", "--dataset", "fashion-mnist", "--samples",
                    "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s_layout.h5", *THREADS, "--quiet")
        check(named in r.stderr and md5("s_layout.h5") == before,
              f"... named, the file unchanged ({r.stderr.strip()[:200]})")
    r = run("info", "s_layout.h5", "--json", timeout=60)
    check(json.loads(r.stdout).get("points_done") is not None,
          "... and the compressed surface is still read (info)")
    # ... found by rank 0 of two: both ranks end with its line (resume_verdict's reason is
    # broadcast), no MPI_Abort report
    p = clitest.run(["sweep", "--model-file", "run/model_2.h5", "--directions", "d.h5", "--dataset",
                     "fashion-mnist", "--samples", "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out",
                     "s_layout.h5", *THREADS, "--quiet"], expect=1, mpi=2)
    errs = [ln for ln in p.stderr.splitlines() if ln.startswith("losscape: error: ")]
    check(len(errs) == 1 and "is chunked or compressed" in errs[0] and "MPI_ABORT" not in p.stderr and
          md5("s_layout.h5") == before, f"... under 2 ranks: one line, no MPI_Abort, the file unchanged "
          f"({p.stderr.strip()[:300]!r})")

    # ---- a link left at NAME.creating (the temporary of a creation): removed, not written
    # through (the file it led to was overwritten with the surface, the surface became the link) ----
    with open("precious.txt", "w") as f:
        f.write("keep")
    os.symlink("precious.txt", "cr.h5.creating")
    SWEEP1 = ["sweep", "--model-file", "run/model_2.h5", "--dataset", "fashion-mnist", "--samples", "20",
              "--x", "-1:1:3", *THREADS, "--quiet"]
    r = run(*SWEEP1, "--directions", "d.h5", "--out", "cr.h5", expect_ok=False)
    check(r.returncode == 0 and open("precious.txt").read() == "keep" and not os.path.islink("cr.h5") and
          not os.path.lexists("cr.h5.creating"),
          f"a link at NAME.creating: removed, its target untouched, the surface a file ({r.stderr.strip()[:200]})")
    # ---- a refused sweep leaves no NAME.dirs.h5 of its making beside its --out (it decided the
    # next run's directions, or littered a run folder) ----
    for out in ("run/model_1.h5", "d.h5"):
        stem = out[:-3]
        refused(f"--out {out}, not a surface", out, *SWEEP1, "--out", out)
        check(not os.path.exists(stem + ".dirs.h5"), f"... and no {stem}.dirs.h5 made beside it")
    # a resume without its --directions: the file it records is named, nothing is made
    r = run(*SWEEP1, "--directions", "d.h5", "--out", "rd.h5", "--stop-after", "2", expect_ok=False)
    r = refused("a resume without its --directions", "rd.h5", *SWEEP1, "--out", "rd.h5")
    check("(its direction file is d.h5, this command's rd.dirs.h5: resume with --directions d.h5)" in r.stderr and
          not os.path.exists("rd.dirs.h5"), f"... names d.h5, makes no rd.dirs.h5 ({r.stderr.strip()[:300]})")
    # a precision this machine cannot run: refused before any file (the surface made first
    # recorded it and refused the corrected command as another sweep)
    refused("--precision fp16 on a CPU", "--precision fp16", *SWEEP1, "--out", "p16.h5", "--precision", "fp16")
    check(not os.path.exists("p16.h5") and not os.path.exists("p16.dirs.h5"), "... and no file made")

    # ---- a checkpoint whose epoch is not its name's: train --resume overwrites nothing ----
    shutil.copytree("run", "run2")
    shutil.copy("run/model_0.h5", "run2/model_3.h5")  # epoch 0 inside, named 3
    sums = {f: md5(f"run2/{f}") for f in os.listdir("run2")}
    refused("train --resume from a checkpoint named for another epoch", "run2/model_3.h5", "train",
            "--resume", "--out", "run2", "--epochs", "4", *THREADS, "--quiet")
    check({f: md5(f"run2/{f}") for f in os.listdir("run2")} == sums,
          "... and no checkpoint or log of the run was written")

    # ---- a checkpoint of another run copied into a run folder (another seed here; another
    # network went on as that network, under the first run's log): named, nothing written ----
    run("train", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--samples", "100", "--test-samples", "50",
        "--epochs", "3", "--milestones", "1,2", "--batch-size", "50", "--seed", "7", "--out", "run_other", *THREADS, "--quiet")
    shutil.copytree("run", "run_mixed")
    shutil.copy("run_other/model_3.h5", "run_mixed/model_3.h5")
    sums = {f: md5(f"run_mixed/{f}") for f in os.listdir("run_mixed")}
    r = refused("train --resume from a checkpoint of another run", "run_mixed/model_3.h5", "train",
                "--resume", "--out", "run_mixed", "--epochs", "4", *THREADS, "--quiet")
    check("is of another run than run_mixed/model_0.h5 (seed 7, not " in r.stderr and
          "the run folder mixes two runs" in r.stderr, f"... naming the key that differs ({r.stderr.strip()})")
    check({f: md5(f"run_mixed/{f}") for f in os.listdir("run_mixed")} == sums,
          "... and nothing of the run was written")

    # ---- NaN weights or NaN momentum in the checkpoint resumed from: refused (the run went on,
    # every later epoch NaN, its log's losses null) ----
    for tag, group in (("weights", "state"), ("momentum", "optimizer")):
        shutil.copytree("run", f"run_nan_{group}")
        with h5py.File(f"run_nan_{group}/model_2.h5", "r") as f:
            names = []
            f[group].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and
                                o.dtype.kind == "f" and o.size > 1 else None)
            target, tshape = f"{group}/{names[0]}", f[f"{group}/{names[0]}"].shape
        replace_dataset(f"run_nan_{group}/model_2.h5", target, data=np.full(tshape, np.nan, "f4"))
        sums = {f: md5(f"run_nan_{group}/{f}") for f in os.listdir(f"run_nan_{group}")}
        r = refused(f"train --resume from NaN {tag}", f"run_nan_{group}/model_2.h5", "train", "--resume",
                    "--out", f"run_nan_{group}", "--epochs", "3", *THREADS, "--quiet")
        check("holds NaN or infinite values" in r.stderr and "not resuming from it" in r.stderr,
              f"... says why ({r.stderr.strip()})")
        check({f: md5(f"run_nan_{group}/{f}") for f in os.listdir(f"run_nan_{group}")} == sums,
              "... and nothing of the run was written")

    # ---- an empty test split ----
    os.makedirs("empty", exist_ok=True)
    for kind in ("train", "t10k"):
        for part, magic, dims in (("images-idx3-ubyte", 0x803, (0, 28, 28)),
                                  ("labels-idx1-ubyte", 0x801, (0,))):
            with open(f"empty/{kind}-{part}", "wb") as f:
                f.write(magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims))
    refused("an empty data split", "empty/t10k-images-idx3-ubyte", "eval", "--arch", "cnn_small",
            "--dataset", "fashion-mnist", "--data-dir", "empty", "--split", "test", *THREADS)

    # ---- NaN weights given to hessian ----
    shutil.copy("run/model_2.h5", "ck_nan.h5")
    with h5py.File("ck_nan.h5", "r") as f:
        name = "state/conv1.weight"
        shape = f[name].shape
    replace_dataset("ck_nan.h5", name, data=np.full(shape, np.nan, "f4"))
    refused("hessian of a model with NaN weights", "ck_nan.h5", "hessian", "--model-file",
            "ck_nan.h5", "--dataset", "fashion-mnist", "--samples", "20", "--trace-probes", "0",
            "--top-k", "0", *THREADS, "--quiet")
    # ---- a negative BatchNorm variance: every evaluation NaN (sqrt of a negative number), named
    # as NaN statistics are (eval gave loss nan without a word, a sweep went on) ----
    shutil.copy("run/model_2.h5", "ck_negvar.h5")
    with h5py.File("ck_negvar.h5", "r+") as f:
        f["state/bn1.running_var"][0] = -1.0
    r = run("eval", "--model-file", "ck_negvar.h5", "--samples", "20", *THREADS)
    check("bn1.running_var holds negative values" in r.stderr and "note:" in r.stderr,
          f"eval of a negative BatchNorm variance: a note naming it ({r.stderr.strip()})")
    refused("a sweep around a negative BatchNorm variance", "ck_negvar.h5", "sweep", "--model-file",
            "ck_negvar.h5", "--directions", "d.h5", "--samples", "20", "--x", "-1:1:3", "--y", "-1:1:3",
            "--out", "s_negvar.h5", *THREADS, "--quiet")
    check(not os.path.exists("s_negvar.h5"), "... nothing written")

    # ---- finite losses of 1e36 per sample (logits that large, a diverging run): summed in float64,
    # they stay finite at any batch size (a batch's float32 sum overflowed at -b 128: loss inf, no
    # accuracy, and a note blaming the logits) ----
    # (the largest power-of-ten scale of the last layer whose logits stay finite, one sample a batch)
    with h5py.File("run/model_2.h5", "r") as f:
        w = f["state/linear.weight"][()]
    big = {}
    for scale in (1e38, 1e37, 1e36, 1e35, 1e34):
        shutil.copy("run/model_2.h5", "ck_big.h5")
        with h5py.File("ck_big.h5", "r+") as f:
            f["state/linear.weight"][...] = w * scale
        for b in ("1", "50", "128"):
            r = run("eval", "--model-file", "ck_big.h5", "--samples", "300", "-b", b, "--memory-format", "nchw",
                    "--json", *THREADS)
            big[b] = json.loads(r.stdout)
            if big["1"]["loss"] is None:
                break
        if big["1"]["loss"] is not None:
            break
    one = big["1"]["loss"] or math.nan
    check(one > 3e36 and all(v["loss"] is not None and abs(v["loss"] / one - 1) < 1e-6 and v["accuracy"] is not None
                             for v in big.values()),
          f"losses of 1e36 and more (scale {scale:g}): finite and alike at batch sizes 1, 50 and 128 "
          f"({[(v['loss'], v['accuracy']) for v in big.values()]})")

    # ---- a run log entry with keys of other types: info shows it, not a JSON type error ----
    shutil.copy("s.h5", "s_log.h5")
    with h5py.File("s_log.h5", "r+") as f:
        log = np.zeros(f["run_log"].shape, "u1")
        text = b'[{"status": 5, "start": []}]'
        log[:len(text)] = np.frombuffer(text, "u1")
        f["run_log"][...] = log
    r = run("info", "s_log.h5", expect_ok=False)
    check(r.returncode == 0 and "unexpected types" in r.stdout,
          f"a run log entry of other types is shown as such ({r.returncode}: {r.stderr.strip()[:200]})")
    # ---- a run log that is not JSON: the resume says so and begins a new log (it was dropped
    # without a word) ----
    shutil.copy("s.h5", "s_badlog.h5")
    with h5py.File("s_badlog.h5", "r+") as f:
        log = np.zeros(f["run_log"].shape, "u1")
        log[:12] = np.frombuffer(b'[{"start": 1', "u1")
        f["run_log"][...] = log
    # ... shown by info as damaged, text and JSON (`runs: []` alone read as a file never run)
    r = run("info", "s_badlog.h5", expect_ok=False)
    rj = run("info", "s_badlog.h5", "--json", expect_ok=False)
    check(r.returncode == 0 and "runs  (the run log is not JSON, not the list of starts that losscape "
          "writes: damaged? the points are not affected)" in r.stdout and rj.returncode == 0 and
          json.loads(rj.stdout).get("run_log_damaged") == "not JSON",
          f"info of a surface whose run log is not JSON: said so ({r.returncode}, {rj.returncode}: "
          f"{r.stdout.strip()[-300:]})")
    # ... merged: said as a resume says it (its runs were left out of the merged log silently)
    r = run("merge", "s_badlog.h5", "--out", "m_badlog.h5", expect_ok=False)
    check(r.returncode == 75 and "losscape: note: s_badlog.h5: its run log is not JSON, not the list of earlier "
          "starts that losscape writes (damaged?): its runs are left out of the merged file's log" in r.stderr,
          f"merging a file whose run log is damaged: noted ({r.returncode}: {r.stderr.strip()[:300]})")
    r = run("sweep", "--model-file", "run/model_2.h5", "--directions", "d.h5", "--dataset",
            "fashion-mnist", "--samples", "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s_badlog.h5",
            *THREADS, "--quiet", expect_ok=False)
    with h5py.File("s_badlog.h5", "r") as f:
        log = json.loads(bytes(f["run_log"][()]).rstrip(b"\0").decode())
        done = int(np.asarray(f["done"]).sum())
    check(r.returncode == 0 and done == 9 and len(log) == 1 and
          "s_badlog.h5: its run log is not JSON, not the list of earlier starts" in r.stderr,
          f"a damaged run log: noted, a new log begun, the sweep finished ({r.returncode}, {done}, "
          f"{len(log)} entries: {r.stderr.strip()[:300]})")

    # ---- a projection with a NaN coordinate (a diverged checkpoint): no covering grid of NaNs ----
    with h5py.File("proj_nan.h5", "w") as f:
        f["proj_xcoord"] = np.array([0.5, np.nan, 0.0])
        f["proj_ycoord"] = np.array([0.2, 0.1, 0.0])
    r = run("info", "proj_nan.h5", expect_ok=False)
    check(r.returncode == 0 and "--x nan" not in r.stdout and "covers the path" not in r.stdout,
          f"a NaN projection: no covering grid suggested ({r.returncode}: {r.stdout.strip()[-200:]})")

    # ... and an infinite one: its points left out of the drawing, said (gnuplot failed on "Inf",
    # naming its own script)
    run("sweep", "--model-file", "run/model_2.h5", "--directions", "d.h5", "--dataset", "fashion-mnist",
        "--samples", "20", "--x", "-1:1:3", "--y", "-1:1:3", "--out", "s_full.h5", *THREADS, "--quiet")
    with h5py.File("proj_inf.h5", "w") as f:
        f["proj_xcoord"] = np.array([0.5, np.inf, 0.0, 0.1])
        f["proj_ycoord"] = np.array([0.2, 0.1, 0.0, 0.3])
        f.attrs["proj_method"] = "lstsq"
    r = run("plot", "s_full.h5", "--trajectory", "proj_inf.h5", "--out-dir", "pinf", "--formats", "svg",
            expect_ok=False)
    check(r.returncode == 0 and "proj_inf.h5: 1 of its 4 points are not finite" in r.stderr and
          os.path.exists("pinf/s_full_train_loss_2dcontour_proj.svg"),
          f"a projection with an infinite coordinate: drawn without it, said ({r.returncode}: {r.stderr.strip()[-300:]})")

    # ... and one of an unknown proj_method: refused by info and plot (plot took it for lstsq and
    # drew its coordinates as the surface's alpha and beta)
    with h5py.File("proj_meth.h5", "w") as f:
        f["proj_xcoord"] = np.array([0.5, 0.1, 0.0])
        f["proj_ycoord"] = np.array([0.2, 0.1, 0.0])
        f.attrs["proj_method"] = "Cos"
    refused("a projection of an unknown proj_method", 'proj_meth.h5: proj_method "Cos" is no projection method',
            "info", "proj_meth.h5")
    refused("plot --trajectory of an unknown proj_method", 'proj_meth.h5: proj_method "Cos"', "plot",
            "s_full.h5", "--trajectory", "proj_meth.h5", "--out-dir", "pmeth", "--formats", "svg")

    # ---- a JSON attribute nested 30,000 deep: info shows it cut, not a stack overflow ----
    shutil.copy("run/model_2.h5", "deep_config.h5")
    with h5py.File("deep_config.h5", "r+") as f:
        f.attrs["config"] = np.bytes_(b'{"a":' * 30000 + b"1" + b"}" * 30000)
    r = run("info", "deep_config.h5", expect_ok=False)
    check(r.returncode == 0,
          f"info of a checkpoint whose config is nested 30,000 deep: no crash ({r.returncode}: {r.stderr.strip()[:200]})")

    # ---- a CIFAR-10 file that is a folder; an empty --out ----
    os.makedirs("cifar/test_batch.bin", exist_ok=True)
    for k in range(1, 6):
        open(f"cifar/data_batch_{k}.bin", "wb").write(bytes(3073))
    refused("a CIFAR-10 file that is a folder", "cifar/test_batch.bin", "info", "--dataset",
            "cifar10", "--data-dir", "cifar")
    # A split not downloaded (CIFAR-10's test batch alone, to evaluate on it) is said to be
    # missing and the other described; a split partly there is refused, naming what is missing.
    os.makedirs("cifar_test_only", exist_ok=True)
    records = bytes([3]) + bytes(3072), bytes([7]) + bytes([255]) * 3072
    open("cifar_test_only/test_batch.bin", "wb").write(b"".join([*records, records[0]]))
    r = run("info", "--dataset", "cifar10", "--data-dir", "cifar_test_only", expect_ok=False)
    check(r.returncode == 0 and "train: missing (" in r.stdout and "data_batch_1.bin" in r.stdout and
          "test: 3 samples" in r.stdout and "classes: 0 0 0 2 0 0 0 1 0 0" in r.stdout,
          f"CIFAR-10 with its test batch alone: the test split described, train missing "
          f"({r.returncode}: {r.stdout.strip()!r} {r.stderr.strip()!r})")
    j = json.loads(run("info", "--dataset", "cifar10", "--data-dir", "cifar_test_only", "--json").stdout)
    check(set(j["splits"]["train"]) == {"missing"} and j["splits"]["test"]["samples"] == 3 and
          j["splits"]["test"]["class_histogram"][3] == 2,
          f"... --json: splits.train.missing, the test split's numbers: {j['splits']}")
    for k in range(1, 5):
        shutil.copy("cifar_test_only/test_batch.bin", f"cifar_test_only/data_batch_{k}.bin")
    refused("CIFAR-10 with 4 of the 5 training batches", "data_batch_5.bin", "info", "--dataset",
            "cifar10", "--data-dir", "cifar_test_only")
    os.makedirs("idx_test_only", exist_ok=True)
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(FASHION_MNIST, f), "idx_test_only")
    refused("Fashion-MNIST training labels without their images", "train-images-idx3-ubyte", "info",
            "--dataset", "fashion-mnist", "--data-dir", "idx_test_only")
    os.remove("idx_test_only/train-labels-idx1-ubyte.gz")
    r = run("info", "--dataset", "fashion-mnist", "--data-dir", "idx_test_only", expect_ok=False)
    check(r.returncode == 0 and "train: missing (" in r.stdout and "test: 10000 samples" in r.stdout,
          f"... and its test files alone: train missing, test described ({r.returncode}: "
          f"{r.stdout.strip()!r} {r.stderr.strip()!r})")
    os.remove("idx_test_only/t10k-labels-idx1-ubyte.gz")
    refused("Fashion-MNIST's test images alone", "t10k-labels-idx1-ubyte", "info", "--dataset",
            "fashion-mnist", "--data-dir", "idx_test_only")
    refused("an empty --out", "--out", "sweep", "--model-file", "run/model_2.h5", "--directions",
            "d.h5", "--dataset", "fashion-mnist", "--samples", "20", "--x", "-1:1:3", "--y",
            "-1:1:3", "--out", "", *THREADS, "--quiet")

    # ---- an output that would replace a file of another kind (a surface) or a folder ----
    before = md5("s.h5")
    refused("directions --out onto a surface", "s.h5", "directions", "--model-file",
            "run/model_2.h5", "--out", "s.h5", "--quiet")
    refused("directions --out onto a folder", "run", "directions", "--model-file",
            "run/model_2.h5", "--out", "run", "--quiet")
    refused("project --out onto a surface", "s.h5", "project", "--directions", "d.h5",
            "--checkpoints", "run", "--out", "s.h5", "--quiet")
    refused("export --vtp onto a surface", "s.h5", "export", "s.h5", "--vtp", "s.h5")
    refused("hessian --json onto a surface", "s.h5", "hessian", "--model-file", "run/model_2.h5",
            "--dataset", "fashion-mnist", "--samples", "20", "--trace-probes", "0", "--top-k", "0",
            "--json", "s.h5", *THREADS, "--quiet")
    check(md5("s.h5") == before, "the surface is unchanged")
    run("directions", "--model-file", "run/model_2.h5", "--out", "d.h5", "--quiet")  # same kind
    run("project", "--directions", "d.h5", "--checkpoints", "run", "--out", "p.h5", "--quiet")
    run("project", "--directions", "d.h5", "--checkpoints", "run", "--out", "p.h5", "--quiet")

    # ---- projections and PCA files of other shapes: named (a (3, 2) coordinate array was read
    # as 6 checkpoints, epochs of another length ignored as "records no epochs", a NaN variance
    # ratio drawn as "1st PC: nan %") ----
    run("directions", "--pca", "--checkpoints", "run", "--out", "pca.h5", "--quiet")
    with h5py.File("p.h5", "r") as f:
        n = f["proj_xcoord"].shape[0]
    for tag, pname, edit, says in (
            ("a 2-D proj_xcoord", "p_2d.h5",
             lambda f: (f.__delitem__("proj_xcoord"), f.create_dataset("proj_xcoord", data=np.zeros((n, 2)))),
             "proj_xcoord has 2 dimensions"),
            ("epochs of another length", "p_ep.h5",
             lambda f: f.attrs.__setitem__("epochs", np.arange(n + 1, dtype=np.int64)),
             f"'epochs' has {n + 1} values for {n} checkpoints"),
            ("a NaN variance ratio", "pca_nan_ratio.h5",
             lambda f: f["explained_variance_ratio_"].__setitem__(0, np.nan), "not a ratio in [0, 1]"),
            ("3 variance ratios", "pca_3.h5",
             lambda f: (f.__delitem__("explained_variance_ratio_"),
                        f.create_dataset("explained_variance_ratio_", data=[0.5, 0.2, 0.1])), "not 2")):
        shutil.copy("pca.h5" if pname.startswith("pca") else "p.h5", pname)
        with h5py.File(pname, "r+") as f:
            edit(f)
        r = refused(f"info of {tag}", pname, "info", pname)
        check(says in r.stderr, f"... says {says!r} ({r.stderr.strip()})")

    # ---- a diverged (NaN) checkpoint in a trajectory: named, not a LibTorch or NaN grid ----
    shutil.copytree("run", "run_nan")
    replace_dataset("run_nan/model_1.h5", name, data=np.full(shape, np.nan, "f4"))
    refused("PCA of a trajectory with a NaN checkpoint", "run_nan/model_1.h5", "directions",
            "--pca", "--checkpoints", "run_nan", "--out", "pca_nan.h5", "--quiet")
    refused("projection of a NaN checkpoint", "run_nan/model_1.h5", "project", "--directions",
            "d.h5", "--checkpoints", "run_nan", "--out", "p_nan.h5", "--grid", "11", "--quiet")
    check(not os.path.exists("pca_nan.h5") and not os.path.exists("p_nan.h5"),
          "nothing written for the NaN trajectory")

    # ---- a checkpoint name that is a broken link (or a folder): named, not skipped (the
    # previous epoch was taken for the run's last, θ*, without a word; train --resume went on
    # from it and would have written through the link) ----
    shutil.copytree("run", "run_link")
    os.symlink("nowhere.h5", "run_link/model_7.h5")
    for tag, args in (("PCA", ["directions", "--pca", "--checkpoints", "run_link", "--out", "pca_l.h5"]),
                      ("project", ["project", "--directions", "d.h5", "--checkpoints", "run_link",
                                   "--out", "p_l.h5"]),
                      ("train --resume", ["train", "--resume", "--out", "run_link", "--epochs", "9",
                                          *THREADS])):
        r = refused(f"a run folder whose model_7.h5 is a broken link: {tag}", "run_link/model_7.h5",
                    *args, "--quiet")
        check("a link to nowhere.h5, which does not exist" in r.stderr, f"... says why ({r.stderr.strip()})")
    os.remove("run_link/model_7.h5")
    os.mkdir("run_link/model_7.h5")
    refused("a run folder whose model_7.h5 is a folder", "run_link/model_7.h5", "directions", "--pca",
            "--checkpoints", "run_link", "--out", "pca_l.h5", "--quiet")
    check(sorted(os.listdir("run_link")) == sorted(os.listdir("run") + ["model_7.h5"]) and
          not os.path.exists("pca_l.h5") and not os.path.exists("p_l.h5"), "nothing written for them")

    # ---- a FIFO where an input file belongs: refused by name, never opened (opening one to
    # read blocks until some other process writes to it) ----
    os.mkfifo("fifo")
    os.makedirs("fifo_data", exist_ok=True)
    for f in os.listdir(FASHION_MNIST):
        if f.startswith("t10k-labels"):
            shutil.copy(os.path.join(FASHION_MNIST, f), "fifo_data")
    os.mkfifo("fifo_data/t10k-images-idx3-ubyte")
    os.makedirs("fifo_cifar", exist_ok=True)
    for k in range(1, 6):
        open(f"fifo_cifar/data_batch_{k}.bin", "wb").write(bytes(3073))
    os.mkfifo("fifo_cifar/test_batch.bin")
    sweep = ["sweep", "--x", "-1:1:2", "--out", "fifo_s.h5", "--quiet", *THREADS]
    for tag, path, args in (
            ("eval --model-file", "fifo", ["eval", "--model-file", "fifo"]),
            ("info of a FIFO", "fifo", ["info", "fifo"]),
            ("sweep --model-file", "fifo", [*sweep, "--model-file", "fifo"]),
            ("sweep --directions", "fifo", [*sweep, "--arch", "cnn_small", "--directions", "fifo"]),
            ("sweep --config", "fifo", [*sweep, "--config", "fifo"]),
            ("directions --model-file", "fifo", ["directions", "--model-file", "fifo", "--out", "fd.h5"]),
            ("merge of a FIFO", "fifo", ["merge", "fifo", "--out", "fm.h5"]),
            ("a FIFO as IDX images", "fifo_data/t10k-images-idx3-ubyte",
             ["eval", "--arch", "cnn_small", "--data-dir", "fifo_data", "--split", "test"]),
            ("a FIFO as a CIFAR-10 batch", "fifo_cifar/test_batch.bin",
             ["info", "--dataset", "cifar10", "--data-dir", "fifo_cifar"])):
        try:
            r = subprocess.run([os.environ["LOSSCAPE"], *args], capture_output=True, text=True,
                               timeout=60)
            rc, err = r.returncode, r.stderr.strip()
        except subprocess.TimeoutExpired:
            rc, err = None, "blocked: killed after 60 s"
        check(rc == 1 and len(err.splitlines()) == 1 and path + ": is not a regular file" in err,
              f"{tag}: one line naming the FIFO, exit 1 ({rc}: {err[:300]})")

    # ... a FIFO as the data folder: no folder (it was called a file)
    os.mkfifo("fifo_dir")
    r = subprocess.run([os.environ["LOSSCAPE"], "info", "--dataset", "cifar10", "--data-dir", "fifo_dir"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and r.stderr.strip() == "losscape: error: fifo_dir: is no folder, not the data "
          "directory of cifar10 (set --data-dir to the folder holding it)",
          f"a FIFO as --data-dir: named as no folder ({r.returncode}: {r.stderr.strip()})")

    # ---- a sweep of a whole split: info says "samples all", not "samples 0" ----
    run("sweep", "--model-file", "run/model_2.h5", "--dataset", "fashion-mnist", "--splits", "test",
        "--x", "-1:1:2", "--out", "whole.h5", *THREADS, "--quiet")
    check("fashion-mnist samples all" in run("info", "whole.h5").stdout,
          "info of a whole-split sweep: samples all")
    conclude()


if __name__ == "__main__":
    main()

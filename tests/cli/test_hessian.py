#!/usr/bin/env python3
"""Cross-check `losscape hessian` and `losscape sweep --hessian` against PyTorch's full Hessian.

A tiny tanh network (TorchScript, 354 weights in matrices, 370 with biases) on a synthetic
MNIST-shaped data set written here as IDX files. PyTorch builds the full Hessian of the mean
cross-entropy (torch.autograd.functional.hessian, float64) and numpy diagonalizes it; losscape's
extreme and top eigenvalues must agree to a relative 1e-4 of the spectral radius (losscape's
products are float32), its Hutchinson trace within 4 standard errors, its SLQ nodes must lie
in the spectrum. The sweep's max_eig/min_eig must equal PyTorch's at θ* + αδ (δ read from the
direction file with h5py), a solve out of restarts must fail loudly with nulls in the JSON, and
`plot --what eig-ratio` must draw the ratio |λmin/λmax| from the file (1D curve, 2D heatmap and
contour map) when gnuplot is installed.

Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped.
"""
import json
import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {sys.executable} cannot import torch/numpy/h5py ({e}); "
          "apt-get install python3-torch python3-numpy python3-h5py", file=sys.stderr)
    sys.exit(77)

trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy 2 renamed trapz

from clitest import MPIEXEC, MPI_FLAGS, check, conclude, losscape as run, setup  # noqa: E402

LOSSCAPE = setup("/tmp/losscape-hessian-test", fashion_mnist=False)
WORK = os.getcwd()
N = 48


def write_idx(path, magic, dims, body):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(body.tobytes())


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(49, 6)
        self.fc2 = nn.Linear(6, 10)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(F.avg_pool2d(x, 4).flatten(1))))


def spectrum(params, x, y, with_bias):
    """Eigenvalues (ascending), trace, and the variance of Hutchinson's one-probe estimate v'Hv
    with Rademacher v (2 * the sum of the squared off-diagonal entries: a closed form), of the full
    float64 Hessian of the mean cross-entropy over fc1.weight, fc2.weight (and the biases, in
    parameter order, when with_bias)."""
    p = {k: v.detach().double() for k, v in params.items()}
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"] if with_bias else \
        ["fc1.weight", "fc2.weight"]
    sizes = [p[n].numel() for n in names]
    flat0 = torch.cat([p[n].reshape(-1) for n in names])

    def loss(flat):
        q = dict(p)
        for n, part in zip(names, torch.split(flat, sizes)):
            q[n] = part.view(p[n].shape)
        h = torch.tanh(F.linear(F.avg_pool2d(x, 4).flatten(1), q["fc1.weight"], q["fc1.bias"]))
        return F.cross_entropy(F.linear(h, q["fc2.weight"], q["fc2.bias"]), y)

    H = torch.autograd.functional.hessian(loss, flat0).numpy()
    H = (H + H.T) / 2
    probe_var = 2 * float((H ** 2).sum() - (np.diag(H) ** 2).sum())
    return np.linalg.eigvalsh(H), float(np.trace(H)), probe_var


def reference_max(ev):
    """λmax as the reference's min_max_hessian_eigs gives it from an ascending spectrum: the
    largest-magnitude eigenvalue, unless that is negative and a positive one exists, which its
    second solve then finds and its final swap makes λmax."""
    lm = ev[0] if abs(ev[0]) > abs(ev[-1]) else ev[-1]
    return ev[-1] if lm < 0 and ev[-1] > 0 else lm


def close(a, b, scale, rtol=1e-4):
    return a is not None and abs(a - b) <= rtol * scale


def main():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, N).astype(np.uint8)
    pixels = (rng.integers(0, 120, (N, 28, 28)) + 12 * labels[:, None, None]).astype(np.uint8)
    write_idx("train-images-idx3-ubyte", 0x803, (N, 28, 28), pixels)
    write_idx("train-labels-idx1-ubyte", 0x801, (N,), labels)
    x = torch.from_numpy(pixels.astype(np.float64) / 255.0).view(N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))

    torch.manual_seed(3)
    net = Tiny()
    with torch.no_grad():
        for prm in net.parameters():
            prm.mul_(3.0)  # a curved region with negative curvature
    torch.jit.script(net).save("tiny.pt")
    params = dict(net.named_parameters())
    data = ["--dataset", "mnist", "--data-dir", WORK, "--raw-data", "--device", "cpu"]

    # ---- losscape hessian at θ* vs the full Hessian ----
    for with_bias in (False, True):
        tag = "all params" if with_bias else "matrices"
        ev, tr, probe_var = spectrum(params, x, y, with_bias)
        lm = reference_max(ev)
        scale = max(abs(ev[0]), abs(ev[-1]))
        out = f"h_{'all' if with_bias else 'w'}.json"
        r = run("hessian", "--model-file", "tiny.pt", *data, "--batch-size", "10",
                "--eig-tol", "1e-8", "--top-k", "3", "--trace-probes", "300", "--density",
                "--slq-steps", "40", "--slq-probes", "2", "--json", out,
                *(["--all-params"] if with_bias else []))
        j = json.load(open(out))
        n = 370 if with_bias else 354
        check(j["parameters"]["count"] == n and j["samples"] == N,
              f"{tag}: {j['parameters']['count']} parameters, {j['samples']} samples")
        check(j["extreme"]["converged"], f"{tag}: converged")
        check(close(j["max_eig"], lm, scale), f"{tag}: λmax {j['max_eig']} vs PyTorch {lm}")
        check(close(j["min_eig"], ev[0], scale), f"{tag}: λmin {j['min_eig']} vs PyTorch {ev[0]}")
        check(ev[0] < 0, f"{tag}: the test point has negative curvature ({ev[0]:.4g})")
        top = j["top_eigenvalues"]["values"]
        check(len(top) == 3 and all(close(a, b, scale) for a, b in zip(top, ev[::-1][:3])),
              f"{tag}: top-3 {top} vs PyTorch {list(ev[::-1][:3])}")
        t = j["trace"]
        check(t["probes"] == 300 and 0 < t["stderr"] and abs(t["estimate"] - tr) < 4 * t["stderr"],
              f"{tag}: trace {t['estimate']:.5g} ± {t['stderr']:.3g} vs PyTorch {tr:.5g}")
        # the standard error against its closed form sqrt(Var(v'Hv) / probes): an estimate from
        # 300 probes is within a few per cent of it (0.7-1.4 allows for that, not for a missing
        # division by the probes, a factor of 17)
        want_se = (probe_var / t["probes"]) ** 0.5
        check(0.7 < t["stderr"] / want_se < 1.4,
              f"{tag}: trace's standard error {t['stderr']:.4g} vs closed form {want_se:.4g}")
        d = j["density"]
        nodes = [v for probe in d["nodes"] for v in probe]
        check(len(d["nodes"]) == 2 and all(len(probe) == 40 for probe in d["nodes"]) and
              len(d["weights"]) == 2 and all(len(w) == 40 for w in d["weights"]),
              f"{tag}: 2 probes of 40 SLQ nodes and weights each "
              f"({[len(probe) for probe in d['nodes']]} nodes)")
        check(all(ev[0] - 1e-3 * scale <= v <= ev[-1] + 1e-3 * scale for v in nodes),
              f"{tag}: {len(nodes)} SLQ nodes inside [λmin, λmax]")
        check(all(abs(sum(w) - 1) < 1e-6 for w in d["weights"]), f"{tag}: SLQ weights sum to 1")
        check(abs(trapezoid(d["density"], d["grid"]) - 1) < 0.02, f"{tag}: density integrates to 1")
        # The default grid resolves each Gaussian: a step of at most σ/2, and the highest value on
        # it within 3 % of the smoothed density's peak found on a grid 8 times finer (the curve
        # recomputed here from the nodes and weights).
        g, sigma = d["grid"], d["sigma"]
        step = (g[-1] - g[0]) / (len(g) - 1)
        fine = [g[0] + (g[-1] - g[0]) * i / (8 * (len(g) - 1)) for i in range(8 * (len(g) - 1) + 1)]
        def smoothed(x):
            return sum(w * math.exp(-(x - v) ** 2 / (2 * sigma ** 2))
                       for ns, ws in zip(d["nodes"], d["weights"]) for v, w in zip(ns, ws))
        peak = max(smoothed(x) for x in fine)
        at_grid = max(smoothed(x) for x in g)
        check(j["settings"]["density_points"] == "auto" and len(g) >= 400 and step <= sigma / 2 * (1 + 1e-9)
              and at_grid >= 0.97 * peak,
              f"{tag}: auto density grid: {len(g)} points, step {step:.3g} <= σ/2 = {sigma / 2:.3g}, "
              f"grid peak {at_grid / peak:.4f} of the true one")
        check("λmax" in r.stdout and "trace" in r.stdout and out in r.stdout,
              f"{tag}: printed report")

    # ---- a solve out of restarts: exit 1, one error line, nulls in the JSON ----
    r = run("hessian", "--model-file", "tiny.pt", *data, "--eig-tol", "1e-14", "--eig-max-iter",
            "1", "--eig-ncv", "3", "--trace-probes", "0", "--top-k", "0", "--json", "nc.json",
            "--quiet", expect_ok=False)
    j = json.load(open("nc.json"))
    check(r.returncode == 1 and "did not converge" in r.stderr and
          len(r.stderr.strip().splitlines()) == 1,
          f"not converged: exit {r.returncode}, stderr {r.stderr.strip()!r}")
    check(j["extreme"]["converged"] is False and j["max_eig"] is None and j["min_eig"] is None,
          "not converged: converged false, max_eig/min_eig null in the JSON")
    check("NOT CONVERGED" in r.stdout, "not converged: said in the report")
    # ... and in a sweep: info of the complete map says NaN (it printed "nan") and no "yet"
    run("sweep", "--model-file", "tiny.pt", *data, "--x", "-1:1:3", "--hessian", "--eig-tol", "1e-14",
        "--eig-max-iter", "1", "--eig-ncv", "3", "--out", "nc.h5", "--quiet")
    line = [ln for ln in run("info", "nc.h5").stdout.splitlines() if ln.strip().startswith("max_eig")]
    check(len(line) == 1 and line[0].split(None, 1)[1] == "no finite value; at θ* (0): NaN; 3 NaN or infinite",
          f"info of a complete map of unconverged solves: {line}")
    # a resume with another iteration cap or Krylov size (not part of the identity) is said: the
    # file then holds points of both settings
    r = run("sweep", "--model-file", "tiny.pt", *data, "--x", "-1:1:3", "--hessian", "--eig-tol", "1e-14",
            "--eig-max-iter", "1", "--eig-ncv", "3", "--stop-after", "1", "--out", "nc2.h5", "--quiet",
            expect_ok=False)
    check(r.returncode == 75, f"a --hessian sweep stopped after 1 point: 75 ({r.returncode}: {r.stderr.strip()})")
    r = run("sweep", "--model-file", "tiny.pt", *data, "--x", "-1:1:3", "--hessian", "--eig-tol", "1e-14",
            "--eig-max-iter", "2", "--eig-ncv", "3", "--out", "nc2.h5", "--quiet", expect_ok=False)
    check(r.returncode == 0 and "losscape: note: nc2.h5: --eig-max-iter 2, not 1 as in the file's last run: its "
          "points come from both settings (each run's are in its run log)" in r.stderr,
          f"a resume with another --eig-max-iter: noted ({r.returncode}: {r.stderr.strip()})")

    # ---- sweep --hessian (1D) vs PyTorch at θ* + αδ ----
    run("sweep", "--model-file", "tiny.pt", *data, "--x", "-1:1:5", "--hessian", "--eig-tol",
        "1e-8", "--hessian-batch-size", "16", "--out", "s1d.h5", "--quiet")
    with h5py.File("s1d.h5") as f:
        xs = f["xcoordinates"][()]
        mx, mn, conv = f["max_eig"][()], f["min_eig"][()], f["eig_converged"][()]
        hvp = f["hvp_count"][()]
        ident = json.loads(f.attrs["identity"])
    # info lists every value in one column, eig_converged (13 characters) included
    lines = [ln for ln in run("info", "s1d.h5").stdout.splitlines()
             if ln.startswith("  ") and " min " in ln]
    names = [ln.split()[0] for ln in lines]
    check(names == ["train_loss", "train_acc", "max_eig", "min_eig", "eig_converged", "hvp_count"]
          and len({ln.index(" min ") for ln in lines}) == 1,
          f"info's summary of a Hessian map: one column of names: {lines}")
    with h5py.File("s1d.dirs.h5") as f:
        delta = [torch.from_numpy(f["xdirection"][str(i)][()]).double() for i in range(4)]
    check(ident["hessian"] == {"split": "train", "params": "dims>=2", "tol": 1e-8},
          f"identity records the Hessian settings: {ident.get('hessian')}")
    check(bool(np.all(conv == 1)) and bool(np.all(hvp > 0)), "1D sweep: all points converged")
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    for i, a in enumerate(xs):
        moved = {n: params[n].detach().double() + a * delta[k] for k, n in enumerate(names)}
        ev, _, _ = spectrum(moved, x, y, False)
        lm = reference_max(ev)
        scale = max(abs(ev[0]), abs(ev[-1]))
        check(close(mx[i], lm, scale) and close(mn[i], ev[0], scale),
              f"sweep α={a:+.2f}: max_eig {mx[i]:.6g} min_eig {mn[i]:.6g} vs PyTorch "
              f"{lm:.6g} {ev[0]:.6g}")

    # ---- 2D map and plot --what eig-ratio ----
    run("sweep", "--model-file", "tiny.pt", *data, "--x", "-1:1:4", "--y", "-1:1:3", "--hessian",
        "--out", "s2d.h5", "--quiet")
    with h5py.File("s2d.h5") as f:
        ratio2d = np.abs(f["min_eig"][()] / f["max_eig"][()])
        check(f["max_eig"].shape == (3, 4), f"2D max_eig is [y][x] = (3, 4): {f['max_eig'].shape}")
    check(shutil.which("gnuplot") is not None,
          "gnuplot is installed for the plot checks (Debian: gnuplot-nox)")
    if shutil.which("gnuplot") is not None:
        for surf, ratio, figs in (("s1d.h5", np.abs(mn / mx), ["s1d_1d_eig-ratio"]),
                                  ("s2d.h5", ratio2d, ["s2d_eig-ratio_2dcontour",
                                                       "s2d_eig-ratio_2dheat"])):
            r = run("plot", surf, "--what", "eig-ratio", "--formats", "png", "--out-dir", "plots")
            for fig in figs:
                png = os.path.join("plots", fig + ".png")
                check(os.path.isfile(png) and open(png, "rb").read(4) == b"\x89PNG",
                      f"plot: {fig}.png drawn")
            rows = [l.split() for l in open(os.path.join("plots", figs[0] + ".dat"))
                    if l.strip() and not l.startswith("#")]
            got = np.array([float(r[-1]) for r in rows])
            check(np.allclose(got, ratio.reshape(-1), rtol=1e-8),
                  f"plot: {figs[0]}.dat holds |min_eig/max_eig| of {surf}")

    # ---- the negative curvature dominating: λmin by magnitude, λmax the largest positive ----
    # A softmax-linear model under --loss mse (the mean over samples and classes of the squared
    # difference between the softmax and the one-hot label): the first random weights whose full
    # Hessian has 10 λmax > |λmin| > 1.2 λmax > 0, found here by PyTorch.
    feats = F.avg_pool2d(x, 4).flatten(1)
    onehot = F.one_hot(y, 10).double()

    def mse(w):
        return ((F.softmax(feats @ w.t(), 1) - onehot) ** 2).mean()

    found = None
    for seed in range(30):
        for sc in (1.0, 3.0, 10.0):
            w = (torch.randn(10, 49, generator=torch.Generator().manual_seed(seed)) * sc).double()
            H = torch.autograd.functional.hessian(mse, w).reshape(490, 490).numpy()
            ev = np.linalg.eigvalsh((H + H.T) / 2)
            if 10 * ev[-1] > -ev[0] > 1.2 * ev[-1] > 0:
                found = (w, ev)
                break
        if found:
            break
    check(found is not None, "a model whose negative curvature dominates was found")
    if found:
        w, ev = found
        lin = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 10, bias=False))
        with torch.no_grad():
            lin[2].weight.copy_(w.float())  # float32 weights, exactly the float64 ones above
        torch.jit.script(lin).save("neg.pt")
        r = run("hessian", "--model-file", "neg.pt", *data, "--loss", "mse", "--eig-tol", "1e-8",
                "--trace-probes", "0", "--top-k", "0", "--json", "neg.json")
        j = json.load(open("neg.json"))
        scale = max(abs(ev[0]), abs(ev[-1]))
        check(j["extreme"]["converged"] and close(j["max_eig"], reference_max(ev), scale) and
              close(j["min_eig"], ev[0], scale) and j["max_eig"] > 0,
              f"negative curvature dominating: λmax {j['max_eig']:.6g} (the largest positive) "
              f"λmin {j['min_eig']:.6g} vs PyTorch {ev[-1]:.6g} {ev[0]:.6g}")
        check(j["eig_ratio"] > 1 and "largest positive" in r.stdout,
              f"... ratio {j['eig_ratio']:.4g} > 1, and the report says which λmax it is")

    # ---- tied weights (one module used twice, `self.b = self.a`): each weight counted once, as
    # in PyTorch's parameters(); TorchScript lists the tensor under both names, and the Hessian
    # over both copies was another matrix (its λmax 23 % too large) ----
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.p, self.a = nn.Linear(49, 10), nn.Linear(10, 10)
            self.b = self.a

        def forward(self, z):
            h = torch.tanh(self.p(F.avg_pool2d(z, 4).flatten(1)))
            return self.b(torch.tanh(self.a(h)))

    torch.manual_seed(1)
    tied = Tied()
    with torch.no_grad():
        for prm in tied.parameters():
            prm.mul_(3.0)
    torch.jit.script(tied).save("tied.pt")
    P = {k: v.detach().double() for k, v in tied.named_parameters()}
    sizes = [P["p.weight"].numel(), P["a.weight"].numel()]

    def tied_loss(flat):
        pw, aw = torch.split(flat, sizes)
        h = torch.tanh(F.linear(F.avg_pool2d(x, 4).flatten(1), pw.view(10, 49), P["p.bias"]))
        return F.cross_entropy(F.linear(torch.tanh(F.linear(h, aw.view(10, 10), P["a.bias"])),
                                        aw.view(10, 10), P["a.bias"]), y)

    H = torch.autograd.functional.hessian(tied_loss, torch.cat([P["p.weight"].flatten(),
                                                                P["a.weight"].flatten()])).numpy()
    ev = np.linalg.eigvalsh((H + H.T) / 2)
    r = run("hessian", "--model-file", "tied.pt", *data, "--eig-tol", "1e-8", "--top-k", "0",
            "--trace-probes", "0", "--json", "tied.json", "--quiet")
    j = json.load(open("tied.json"))
    scale = max(abs(ev[0]), abs(ev[-1]))
    check(j["parameters"]["count"] == 590 and j["extreme"]["converged"] and
          close(j["max_eig"], reference_max(ev), scale) and close(j["min_eig"], ev[0], scale),
          f"tied weights: {j['parameters']['count']} parameters (590), λmax {j['max_eig']:.6g} "
          f"λmin {j['min_eig']:.6g} vs PyTorch {reference_max(ev):.6g} {ev[0]:.6g}")
    r = run("info", "tied.pt")
    check(re.search(r"^parameters\s+610 trainable$", r.stdout, re.M) is not None, f"info of the tied model: 610 parameters, as PyTorch counts ({r.stdout.strip()[:300]})")

    # ---- a model autograd cannot differentiate twice (an in-place op on what its backward
    # needs): one line naming the model file (LibTorch's message named none) ----
    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.fc2 = nn.Linear(49, 10), nn.Linear(10, 10)

        def forward(self, z):
            h = torch.sigmoid(self.fc(F.avg_pool2d(z, 4).flatten(1)))
            h.mul_(2.0)
            return self.fc2(h)

    torch.jit.script(InPlace()).save("inplace.pt")
    r = run("hessian", "--model-file", "inplace.pt", *data, "--top-k", "0", "--trace-probes", "0",
            "--quiet", expect_ok=False)
    check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and
          r.stderr.startswith("losscape: error: inplace.pt: its Hessian-vector product (a double backward) "
                              "failed: ") and "inplace operation" in r.stderr,
          f"a model without a double backward: one line naming it ({r.returncode}: {r.stderr.strip()[:300]})")

    # ---- a Hessian that is exactly 0 (every ReLU dead: the network is constant in its
    # matrices): eigenvalues 0, converged, where ARPACK alone gives up ----
    dead = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU(), nn.Linear(8, 10))
    with torch.no_grad():
        dead[1].bias.fill_(-1e4)
    with torch.no_grad():
        check(float(dead(x.float()[:, :, :, :]).std(0).max()) == 0.0, "the dead network is constant")
    torch.jit.script(dead).save("dead.pt")
    r = run("hessian", "--model-file", "dead.pt", *data, "--trace-probes", "10", "--top-k", "2",
            "--json", "dead.json", "--quiet")
    j = json.load(open("dead.json"))
    check(j["extreme"]["converged"] and j["max_eig"] == 0 and j["min_eig"] == 0 and
          j["top_eigenvalues"]["values"] == [0, 0] and j["trace"]["estimate"] == 0,
          f"a zero Hessian: λ 0, converged ({r.returncode}: {j.get('max_eig')}, {j.get('min_eig')})")
    run("sweep", "--model-file", "dead.pt", *data, "--dims", "1", "--x", "0:1:2", "--hessian",
        "--out", "dead.h5", "--quiet")
    with h5py.File("dead.h5") as f:
        check(list(f["max_eig"][()]) == [0, 0] and list(f["eig_converged"][()]) == [1, 1] and
              all(f["hvp_count"][()] > 0), "... and in a sweep's maps (converged, products counted)")

    # ---- models without a Hessian: NaN BatchNorm statistics (refused before any product, as
    # eval refuses them), and finite weights whose loss overflows (refused at the first product,
    # on every rank alike); in a sweep that point's eigenvalues are NaN, not an error ----
    bn = nn.Sequential(nn.AvgPool2d(4), nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                       nn.Linear(50, 10)).eval()
    with torch.no_grad():
        bn[2].running_var[1] = float("nan")
    torch.jit.script(bn).save("bn_nan.pt")
    r = run("hessian", "--model-file", "bn_nan.pt", *data, "--quiet", expect_ok=False)
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "bn_nan.pt" in r.stderr and
          "running_var holds NaN or infinite values" in r.stderr,
          f"NaN BatchNorm statistics: refused in one line ({r.returncode}: {r.stderr.strip()})")
    big = Tiny()
    with torch.no_grad():
        big.fc1.bias.fill_(100.0)  # every tanh 1: logits of +-1.8e39, beyond float32
        big.fc2.weight.copy_(torch.tensor([3e38 if k % 2 else -3e38 for k in range(10)])[:, None]
                             .expand(10, 6))
    torch.jit.script(big).save("overflow.pt")
    r = run("eval", "--model-file", "overflow.pt", *data, "--split", "train", "--json",
            expect_ok=False)
    check(r.returncode == 0 and json.loads(r.stdout)["loss"] is None and json.loads(r.stdout)["accuracy"] is None
          and r.stderr.strip() == "losscape: note: overflow.pt: the loss is not finite on this data (logits "
          "that overflow?): no accuracy is given, the argmax of such logits measures nothing",
          f"the overflowing model's loss is not finite, its accuracy not given, a note says why "
          f"({r.returncode}: {r.stdout.strip()[:200]}; {r.stderr.strip()})")
    r = run("eval", "--model-file", "overflow.pt", *data, "--split", "train", expect_ok=False)
    check(r.returncode == 0 and "\naccuracy  n/a\n" in r.stdout, f"... n/a in the text form ({r.stdout.strip()})")
    for ranks in (0, 2):
        cmd = ([MPIEXEC, *MPI_FLAGS, "-n", str(ranks)] if ranks else []) + [
            LOSSCAPE, "hessian", "--model-file", "overflow.pt", *data, "--trace-probes", "2",
            "--json", f"overflow{ranks}.json", "--quiet"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        err = [l for l in r.stderr.splitlines() if l.startswith("losscape")]
        check(r.returncode == 1 and len(err) == 1 and "overflow.pt: the loss is not finite at this "
              "model" in err[0] and "DLASCL" not in r.stderr and not os.path.exists(f"overflow{ranks}.json"),
              f"a loss that overflows, {ranks or 1} rank(s): refused in one line ({r.returncode}: "
              f"{r.stderr.strip()[-300:]})")
    # (--x-norm none: a filter-normalized direction of weights of 3e38 overflows float32 itself,
    # which directions says in one line)
    r = run("directions", "--model-file", "overflow.pt", "--dataset", "mnist", "--dims", "1",
            "--out", "overflow_dirs.h5", expect_ok=False)
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "overflow.pt: the filter-normalized random "
          "direction of fc2.weight overflows float32 (its weights reach 3e+38" in r.stderr and
          not os.path.exists("overflow_dirs.h5"),
          f"a direction that overflows float32: refused at making time ({r.returncode}: {r.stderr.strip()})")
    run("sweep", "--model-file", "overflow.pt", *data, "--dims", "1", "--x", "0:1:2", "--x-norm",
        "none", "--hessian", "--out", "overflow.h5", "--quiet")
    with h5py.File("overflow.h5") as f:
        check(np.isnan(f["max_eig"][0]) and np.isnan(f["min_eig"][0]) and f["done"][0] == 1,
              "... and a sweep's point there holds NaN eigenvalues, done")
    # A finite loss whose Hessian-vector products are not (fc2's rows alike, of 1e30: equal
    # logits, loss ln 10, second derivatives beyond float32): one line naming the model, no
    # LAPACK complaint ("Parameter 4 to routine DLASCL was incorrect", then an ARPACK error that
    # named no file); in a sweep, NaN eigenvalues at the point
    huge = Tiny()
    with torch.no_grad():
        huge.fc2.weight.fill_(1e30)
    torch.jit.script(huge).save("huge.pt")
    xf = x.float()
    loss = F.cross_entropy(huge(xf), y)
    ps = [huge.fc1.weight, huge.fc2.weight]
    g = torch.autograd.grad(loss, ps, create_graph=True)
    hv = torch.autograd.grad(sum((a * torch.ones_like(a)).sum() for a in g), ps)
    check(math.isfinite(float(loss)) and not all(bool(torch.isfinite(h).all()) for h in hv),
          f"(PyTorch: the loss is finite, {float(loss):.6f}, its Hessian-vector products are not)")
    for ranks in (0, 2):
        cmd = ([MPIEXEC, *MPI_FLAGS, "-n", str(ranks)] if ranks else []) + [
            LOSSCAPE, "hessian", "--model-file", "huge.pt", *data, "--json", f"huge{ranks}.json", "--quiet"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        err = [l for l in r.stderr.splitlines() if l.startswith("losscape")]
        check(r.returncode == 1 and err == ["losscape: error: huge.pt: the Hessian-vector product is not "
              "finite at this model, though its loss is (second derivatives beyond the float range: "
              "weights near overflow?): its Hessian is undefined here"] and "DLASCL" not in r.stderr and
              not os.path.exists(f"huge{ranks}.json"),
              f"finite loss, products not finite, {ranks or 1} rank(s): one line, no LAPACK noise "
              f"({r.returncode}: {r.stderr.strip()[-300:]})")
    r = run("sweep", "--model-file", "huge.pt", *data, "--dims", "1", "--x", "0:1:2", "--x-norm",
            "none", "--hessian", "--out", "huge.h5", "--quiet", expect_ok=False)
    with h5py.File("huge.h5" if os.path.exists("huge.h5") else "tiny_alone.h5", "a") as f:
        check(r.returncode == 0 and "DLASCL" not in r.stderr + r.stdout and "max_eig" in f and
              np.isnan(f["max_eig"][0]) and np.isfinite(f["train_loss"][0]) and f["done"][0] == 1,
              f"... and a sweep's point there: NaN eigenvalues beside its finite loss, done, no LAPACK "
              f"noise ({r.returncode}: {r.stderr.strip()[-200:]})")

    # ---- a TorchScript module with a frozen parameter (requires_grad off): info says how many
    # numbers are frozen (it called all 370 trainable); directions perturb them all the same ----
    frozen = Tiny()
    frozen.fc1.weight.requires_grad_(False)
    torch.jit.script(frozen).save("frozen.pt")
    r = run("info", "frozen.pt")
    rj = json.loads(run("info", "frozen.pt", "--json").stdout)
    check("parameters   370 (294 of them frozen: requires_grad off; directions and sweeps perturb them "
          "too)" in r.stdout and rj["frozen_parameters"] == 294 and rj["parameters"] == 370,
          f"info of a module with a frozen weight: says so ({r.stdout.strip()[:300]})")

    # ---- a Hessian over one parameter (a 1 x 1 matrix; ARPACK needs 2 or more): refused in one
    # line naming the model (it failed in the eigensolver, naming no file, even with --top-k 0);
    # sweep --hessian alike, before its file ----
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1, 1))

        def forward(self, z):
            f = F.adaptive_avg_pool2d(z, 1).flatten(1) @ self.w.t()
            return torch.cat([f, torch.zeros(z.size(0), 9)], 1)
    torch.jit.script(One()).save("one.pt")
    say = "losscape: error: one.pt: the Hessian would be over 1 parameter; the eigensolver needs at least 2"
    r = run("hessian", "--model-file", "one.pt", *data, "--top-k", "0", "--trace-probes", "0",
            expect_ok=False)
    check(r.returncode == 1 and r.stderr.strip() == say, f"a 1-parameter Hessian: one line ({r.stderr.strip()})")
    r = run("sweep", "--model-file", "one.pt", *data, "--dims", "1", "--x", "0:1:2", "--x-norm", "none",
            "--hessian", "--out", "one.h5", expect_ok=False)
    check(r.returncode == 1 and say in r.stderr and not os.path.exists("one.h5"),
          f"... and in sweep --hessian, before the file ({r.stderr.strip()})")

    # A model of 1-D parameters alone (a bias): the refusal names the option that takes them.
    class BiasOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(torch.linspace(-1, 1, 10))

        def forward(self, z):
            return F.adaptive_avg_pool2d(z, 1).flatten(1) + self.b
    torch.jit.script(BiasOnly()).save("bias.pt")
    r = run("hessian", "--model-file", "bias.pt", *data, "--top-k", "0", "--trace-probes", "0",
            expect_ok=False)
    check(r.returncode == 1 and r.stderr.strip() == "losscape: error: bias.pt: no parameter tensor with 2 or more "
          "dimensions to take the Hessian over (hessian --all-params, sweep --hessian-all-params: with the 1-D "
          "ones too)", f"a model of 1-D parameters: the option named ({r.stderr.strip()})")

    # A fresh zoo network: its --init-seed recorded (the JSON said "model": "zoo" alone)
    r = run("hessian", "--arch", "cnn_small", "--init-seed", "5", *data, "--samples", "8", "--top-k", "0",
            "--trace-probes", "0", "--eig-tol", "1e-3", "--json", "zoo.json")
    zj = json.load(open("zoo.json"))
    check(zj["model"] == "zoo" and zj["arch"] == "cnn_small" and zj["init_seed"] == 5
          and "model     zoo (cnn_small), initialized with --init-seed 5" in r.stdout,
          f"a fresh zoo network: its seed recorded ({zj.get('init_seed')}; {r.stdout.splitlines()[:1]})")

    # ---- --slq-steps beyond the Hessian's rows: the density stops at n steps (a Lanczos basis of
    # the whole space), so the memory check counts n, not the steps asked for (10 million steps
    # were refused for 39 GB on a 490-row Hessian that then ran 490) ----
    r = run("hessian", "--model-file", "tiny.pt", *data, "--top-k", "0", "--trace-probes", "0",
            "--density", "--slq-steps", "10000000", "--json", "steps.json", "--quiet", expect_ok=False)
    # (at most 354: this Hessian's Krylov space is invariant after 345 steps, where the probe
    # stops; `steps` is the steps run, as its nodes and products show: it said 354 or the --slq-steps)
    dens = json.load(open("steps.json"))["density"] if r.returncode == 0 else {}
    check(r.returncode == 0 and 300 <= dens["steps"] <= 354 and dens["steps"] == len(dens["nodes"][0])
          == dens["products"], f"--slq-steps 10000000 on 354 rows: runs at most 354 steps, as many as it reports "
          f"({r.returncode}: {r.stderr.strip()[-300:]}; {dens.get('steps')} steps)")

    # ---- a stop signal (a job's time limit, scancel) during the trace: the stages finished
    # before it are reported and saved with "complete": false, exit 75; under mpiexec a signal
    # to one rank (here rank 1 alone) stops every rank after the same product; the same command
    # again keeps the finished stages and computes the rest, to the uninterrupted run's numbers;
    # other settings compute everything anew ----
    w_max = json.load(open("h_w.json"))["max_eig"]

    def rank_pid(launcher, rank):
        """The pid of mpiexec's child process of that MPI rank (OMPI_COMM_WORLD_RANK)."""
        for _ in range(100):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                    ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == launcher and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                    return int(pid)
            time.sleep(0.1)
        return None

    # (3000 probes: about 2 s on an idle core; one thread: two threads on cores that another
    # test keeps busy made each product wait at OpenMP barriers, minutes in all; the MPI run is
    # only stopped, never finished)
    stop_args = ["hessian", "--model-file", "tiny.pt", *data, "--batch-size", "10", "--eig-tol",
                 "1e-8", "--top-k", "3", "--threads", "1"]
    run(*stop_args, "--trace-probes", "3000", "--json", "whole_trace.json", "--quiet")
    for ranks in (0, 2):
        out = f"stopped{ranks}.json"
        cmd = ([MPIEXEC, *MPI_FLAGS, "-n", str(ranks)] if ranks else []) + [
            LOSSCAPE, *stop_args, "--trace-probes", "100000000" if ranks else "3000", "--json", out]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        said = []
        for line in p.stderr:  # (rank 0's progress lines) until the trace has begun
            said.append(line)
            if line.startswith("[hessian] trace"):
                break
        time.sleep(0.5)
        target = rank_pid(p.pid, 1) if ranks else p.pid
        if target:
            os.kill(target, signal.SIGTERM)
        try:
            stdout, stderr = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            stdout, stderr = p.communicate()
        stderr = "".join(said) + stderr
        tag = f"hessian stopped during the trace{f' (np={ranks}, SIGTERM to rank 1)' if ranks else ''}"
        check(target is not None and p.returncode == 75 and
              "losscape: interrupted: stopped by a signal during the trace: the stages before it "
              "are complete" in stderr and stderr.count("losscape: interrupted") == 1,
              f"{tag}: exit 75, one line ({p.returncode}: {stderr.strip()[-300:]})")
        j = json.load(open(out)) if os.path.exists(out) else {}
        check(j.get("complete") is False and j.get("stopped_during") == "trace" and
              "trace" not in j and len(j.get("top_eigenvalues", {}).get("values", [])) == 3 and
              j.get("max_eig") is not None and abs(j["max_eig"] - w_max) <= 1e-6 * abs(w_max),
              f"{tag}: JSON saved with the finished stages, max_eig {j.get('max_eig')} = the "
              f"whole run's {w_max}, complete false, no trace")
        check("λmax" in stdout and "top-3" in stdout and "trace " not in stdout and out in stdout,
              f"{tag}: the finished stages printed")
    r = run(*stop_args, "--trace-probes", "3000", "--json", "stopped0.json")
    whole, resumed = json.load(open("whole_trace.json")), json.load(open("stopped0.json"))
    same = all(whole[k] == resumed[k] for k in ("max_eig", "min_eig", "top_eigenvalues", "trace"))
    check(resumed["complete"] is True and resumed.get("kept") == ["extreme", "top_eigenvalues"] and
          same and resumed["products"] == 3000 and "kept from the unfinished earlier run" in r.stderr
          and "kept      extreme, top_eigenvalues" in r.stdout,
          f"the same command again: extreme and top-3 kept, the trace's 3000 products computed, "
          f"every number as the uninterrupted run's ({resumed.get('kept')}, {resumed['products']} "
          f"products, equal: {same})")
    # a damaged or hand-edited unfinished result: noted, everything computed anew (rank 0 alone
    # reads it: under mpiexec an identity that is not an object hung rank 1 in a broadcast)
    unfinished = dict(whole, complete=False, stopped_during="trace")
    del unfinished["trace"]
    for ranks, damage, says in ((0, {"extreme": 5}, "its extreme is not one losscape writes"),
                                # (kept before, and printed: a λmin above λmax, a ratio the two
                                # λ do not give)
                                (0, {"min_eig": whole["max_eig"] + 100}, "its min_eig is above its max_eig"),
                                (0, {"eig_ratio": abs(whole["eig_ratio"]) + 0.5},
                                 "its eig_ratio is not |min_eig / max_eig|"),
                                (2, {"identity": "x"}, "it records no identity")):
        json.dump(dict(unfinished, **damage), open("damaged.json", "w"))
        cmd = ([MPIEXEC, *MPI_FLAGS, "-n", str(ranks)] if ranks else []) + [
            LOSSCAPE, *stop_args, "--trace-probes", "3000", "--json", "damaged.json"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)  # (only a hang reaches it)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = "a hang", ""
        redone = json.load(open("damaged.json"))
        check(rc == 0 and f"damaged.json holds an unfinished result {'of another computation ' if ranks else 'that cannot be resumed '}({says}): not resumed, everything is computed anew" in err
              and redone.get("complete") is True and "kept" not in redone,
              f"an unfinished result with {damage}{f' (np={ranks})' if ranks else ''}: noted, "
              f"computed anew ({rc}: {err.strip()[:300]})")
    r = run(*stop_args, "--trace-probes", "3000", "--seed", "1", "--json", "stopped2.json")
    again = json.load(open("stopped2.json"))
    check("stopped2.json holds an unfinished result of another computation (its settings "
          "differ): not resumed, everything is computed anew" in r.stderr and again["complete"] is True and "kept" not in again and
          again["products"] > 3000, f"other settings (--seed 1): noted, everything computed anew "
          f"({again['products']} products)")

    # ---- settings no stage can run with: refused before any work ----
    for opts, flag in ((["--density", "--density-points", "1"], "--density-points"),
                       (["--density", "--density-points", "many"], "--density-points"),
                       (["--density", "--density-points", "2000000"], "--density-points"),
                       (["--top-k", "-2"], "--top-k"), (["--eig-ncv", "2"], "--eig-ncv"),
                       (["--eig-tol", "inf"], "--eig-tol"), (["--top-k", "400"], "--top-k"),
                       # (beyond the Hessian's size, however large: it was told to use "more memory")
                       (["--eig-ncv", "2147483647"], "--eig-ncv 2147483647: the Hessian has only 354 rows")):
        r = run("hessian", "--model-file", "tiny.pt", *data, *opts, expect_ok=False)
        check(r.returncode == 1 and flag in r.stderr and "[hessian]" not in r.stderr and
              len(r.stderr.strip().splitlines()) == 1,
              f"hessian {' '.join(opts)}: refused before the solves ({r.returncode}: {r.stderr.strip()})")
    # ---- ranks given other settings (an MPMD launch): refused in one line (another --eig-tol
    # hung, another model or --samples gave a result of neither, exit 0) ----
    base = ["hessian", "--model-file", "tiny.pt", *data, "--top-k", "0", "--trace-probes", "0", "--quiet"]
    for other, says in ((["--eig-tol", "1e-3"], "its eigensolver tol is 0.001, rank 0's 0.01"),
                        (["--samples", "20"], "its --samples is 20, rank 0's 0")):
        cmd = [MPIEXEC, *MPI_FLAGS, "-n", "1", LOSSCAPE, *base, ":", "-n", "1", LOSSCAPE, *base, *other]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            r = subprocess.CompletedProcess(cmd, 124, "", "hung (killed after 300 s)")
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("losscape:")]
        check(r.returncode == 1 and len(lines) == 1 and "rank 1 runs another hessian than rank 0: " + says in lines[0],
              f"hessian, rank 1 given {' '.join(other)}: refused in one line ({r.returncode}: {lines or r.stderr[-300:]})")
    # ... and another data set of the same name, size and shape (another --data-dir): its
    # products were summed into the result, exit 0
    os.makedirs("other", exist_ok=True)
    write_idx("other/train-images-idx3-ubyte", 0x803, (N, 28, 28), 255 - pixels)
    write_idx("other/train-labels-idx1-ubyte", 0x801, (N,), labels)
    other_base = [("other" if a == WORK else a) for a in base]
    cmd = [MPIEXEC, *MPI_FLAGS, "-n", "1", LOSSCAPE, *base, ":", "-n", "1", LOSSCAPE, *other_base]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        r = subprocess.CompletedProcess(cmd, 124, "", "hung (killed after 300 s)")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("losscape:")]
    check(r.returncode == 1 and len(lines) == 1 and "rank 1 runs another hessian than rank 0: its data "
          "(fingerprint of the split as read) is " in lines[0],
          f"hessian, rank 1 given another --data-dir: refused in one line ({r.returncode}: {lines or r.stderr[-300:]})")
    # settings that would do nothing: refused rather than saved unused in the --json result
    for opts, says in ((["--slq-steps", "-5"], "--slq-steps is for the spectral density: add --density"),
                       (["--slq-probes", "3"], "--slq-probes is for the spectral density: add --density"),
                       (["--density-points", "500"], "--density-points is for the spectral density: add --density"),
                       (["--trace-probes", "0", "--seed", "4"], "--seed is for the trace's and the density's "
                        "probes: none are drawn (--trace-probes 0, no --density)")):
        r = run("hessian", "--model-file", "tiny.pt", *data, "--top-k", "0", *opts, "--json", "unused.json",
                expect_ok=False)
        check(r.returncode == 1 and r.stderr.strip() == f"losscape: error: {says}" and
              not os.path.exists("unused.json"), f"hessian {' '.join(opts)}: refused ({r.stderr.strip()})")
    # --json over a file that is no earlier result: refused, left as it was (a training's
    # log.jsonl, notes beginning with a brace, a JSON config were overwritten)
    for name, text in (("log.jsonl", '{"epoch": 0, "test_loss": 2.3}\n{"epoch": 1, "test_loss": 1.2}\n'),
                       ("notes.txt", "{ my notes\n"), ("cfg.json", '{"arch": "cnn_small"}')):
        with open(name, "w") as f:
            f.write(text)
        r = run("hessian", "--model-file", "tiny.pt", *data, "--top-k", "0", "--trace-probes", "0", "--json", name,
                expect_ok=False)
        check(r.returncode == 1 and f"{name}" in r.stderr and "hessian --json result" in r.stderr and
              open(name).read() == text, f"--json over {name}: refused, unchanged ({r.stderr.strip()})")
    r = run("hessian", "--model-file", "tiny.pt", *data, "--seed", "-1", expect_ok=False)
    check(r.returncode != 0 and "--seed" in r.stderr, f"a negative seed is refused: {r.stderr.strip()}")
    r = run("sweep", "--model-file", "tiny.pt", *data, "--dims", "1", "--x", "0:1:2", "--hessian",
            "--eig-tol", "inf", "--out", "tinf.h5", expect_ok=False)
    check(r.returncode == 1 and "--eig-tol" in r.stderr and not os.path.exists("tinf.h5"),
          f"sweep --eig-tol inf is refused (its identity could not be resumed): {r.stderr.strip()}")
    for opts in (["--eig-tol", "0.1"], ["--eig-ncv", "7"], ["--eig-max-iter", "3"], ["--hessian-all-params"]):
        r = run("sweep", "--model-file", "tiny.pt", *data, "--dims", "1", "--x", "0:1:2", *opts,
                "--out", "noh.h5", expect_ok=False)
        check(r.returncode == 1 and r.stderr.strip() == f"losscape: error: {opts[0]} is for the Hessian "
              "maps: add --hessian" and not os.path.exists("noh.h5"),
              f"sweep {' '.join(opts)} without --hessian: refused ({r.stderr.strip()})")
    r = run("sweep", "--model-file", "tiny.pt", *data, "--dims", "1", "--x", "0:1:2", "--hessian",
            "--eig-ncv", "5000", "--out", "ncv.h5", expect_ok=False)
    check(r.returncode == 1 and "--eig-ncv 5000 exceeds the 354 parameters of the Hessian" in r.stderr
          and not os.path.exists("ncv.h5"),
          f"sweep --hessian --eig-ncv beyond the parameters: refused before the file is made "
          f"({r.stderr.strip()})")

    # Lanczos vectors that do not fit the memory the process may take (here ulimit -v 3 GB; a
    # cgroup's --mem alike): refused in one line before any product, naming the option (--density
    # on WRN-56-4 died after minutes in LibTorch's allocator; ResNet-56's 850k rows: 600 steps
    # are 4 GB, an --eig-ncv of 400 2.7 GB).
    def as_limit_3gb():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
    r56 = ["--arch", "resnet56", "--dataset", "mnist", "--data-dir", WORK, "--samples", "4",
           "--batch-size", "4", "--device", "cpu", "--threads", "1"]
    for args, says in ((["hessian", *r56, "--density", "--slq-steps", "600", "--top-k", "0",
                         "--trace-probes", "0"], "--density's 601 Lanczos vectors (--slq-steps)"),
                       (["sweep", *r56, "--dims", "1", "--x", "0:1:2", "--hessian", "--eig-ncv", "400",
                         "--out", "r56h.h5"], "the eigensolver's 400 Lanczos vectors (--eig-ncv)")):
        p = subprocess.run([LOSSCAPE, *args], capture_output=True, text=True, preexec_fn=as_limit_3gb)
        check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and says in p.stderr
              and "(ulimit -v)" in p.stderr and not os.path.exists("r56h.h5"),
              f"{args[0]}: {says} beyond ulimit -v: refused before any work "
              f"({p.returncode}: {p.stderr.strip()[-400:]})")

    conclude()


if __name__ == "__main__":
    main()

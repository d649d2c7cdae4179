#!/usr/bin/env python3
"""Rebuild the pictures of docs/plotting.md from a synthetic surface (no training needed).

Usage: /usr/bin/python3 docs/img/make_plotting_pictures.py BUILD/losscape
Writes a 41x41 surface, a 1D curve, a Hessian map and a PCA projection with h5py, then renders
them with `losscape plot` into docs/img/ (PNG only, 640x480).
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

losscape = os.path.abspath(sys.argv[1])
img = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="losscape-docs-")


def landscape(a, b):
    # a basin around (0, 0) that gets rough and steep away from it, like a trained ResNet's
    r2 = a**2 + 1.5 * b**2
    return (0.05 + 2.2 * (1 - np.exp(-2.5 * r2)) + 1.2 * r2**2
            + 0.25 * np.sin(5 * a + 1) * np.sin(4 * b) * r2)


x = np.linspace(-1, 1, 41)
y = np.linspace(-1, 1, 41)
X, Y = np.meshgrid(x, y)
L = landscape(X, Y)
A = 100 * np.exp(-L / 1.5)
attrs = {"format": "losscape-surface", "arch": "resnet56", "dataset": "cifar10",
         "config": '{"model_file": "resnet56_sgd_lr0.1_bs128_wd5e-4/model_300.h5",'
                   ' "samples": 5000}'}
with h5py.File(f"{work}/surface.h5", "w") as f:
    f["xcoordinates"], f["ycoordinates"] = x, y
    f["train_loss"], f["train_acc"] = L, A
    f["test_loss"], f["test_acc"] = 1.15 * L + 0.25, 0.93 * A
    f["max_eig"] = 60 * np.exp(-L)
    f["min_eig"] = -60 * np.exp(-L) * np.clip(0.8 * (X**2 + Y**2) - 0.05, 0, 1)
    f["done"] = np.ones(L.shape, np.uint8)
    for k, v in attrs.items():
        f.attrs[k] = v
with h5py.File(f"{work}/line.h5", "w") as f:
    a = np.linspace(-1, 1, 51)
    f["xcoordinates"] = a
    f["train_loss"], f["train_acc"] = landscape(a, 0 * a), 100 * np.exp(-landscape(a, 0 * a) / 1.5)
    f["test_loss"] = 1.15 * landscape(a, 0 * a) + 0.25
    f["test_acc"] = 0.93 * 100 * np.exp(-landscape(a, 0 * a) / 1.5)
    f["done"] = np.ones(a.shape, np.uint8)
    for k, v in attrs.items():
        f.attrs[k] = v
with h5py.File(f"{work}/proj.h5", "w") as f:
    t = np.linspace(0, 1, 31)
    f["proj_xcoord"] = 0.85 * (1 - t) ** 1.6 * np.cos(4 * t)
    f["proj_ycoord"] = 0.55 * (1 - t) ** 1.6 * np.sin(4 * t) + 0.1 * (1 - t)
    f.attrs["epochs"] = np.arange(0, 310, 10, dtype=np.int64)
    f.attrs["explained_variance_ratio"] = np.array([0.8321, 0.0954])

def plot(*args, out):
    os.makedirs(out, exist_ok=True)
    subprocess.run([losscape, "plot", *args, "--formats", "png", "--size", "640x480",
                    "--out-dir", out], check=True, stdout=subprocess.DEVNULL)


plot(f"{work}/surface.h5", "--what", "train_loss,eig-ratio", out=f"{work}/plain")
plot(f"{work}/line.h5", out=f"{work}/plain")
# the same surface read as a PCA-plane surface, with the trajectory on it
plot(f"{work}/surface.h5", "--trajectory", f"{work}/proj.h5", out=f"{work}/pca")
keep = {"plain/surface_train_loss_2dcontour": "plot_2dcontour",
        "plain/surface_train_loss_2dcontourf": "plot_2dcontourf",
        "plain/surface_train_loss_2dheat": "plot_2dheat",
        "plain/surface_train_loss_3dsurface": "plot_3dsurface",
        "plain/surface_eig-ratio_2dheat": "plot_eig_ratio",
        "plain/line_1d_loss_acc": "plot_1d_loss_acc",
        "pca/surface_train_loss_2dcontour_proj": "plot_trajectory"}
for src, dst in keep.items():
    os.replace(f"{work}/{src}.png", f"{img}/{dst}.png")
print("pictures in", img)

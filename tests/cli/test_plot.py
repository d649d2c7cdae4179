#!/usr/bin/env python3
"""`losscape plot` and `losscape export` from the command line.

Surface files are written here with h5py in the surface contract's layout (and in the Python
reference's: no `done`, -1 for unfinished points). Checks: every figure renders to a PNG of the
requested size (signature and IHDR), PDF and SVG; the scripts re-render standalone with plain
gnuplot; a missing gnuplot gives one line naming gnuplot-nox and still writes data and scripts;
`info` of a reference surface (grid, direction file, computed counts, values equal h5py's); the
.vtp parses as XML (xml.etree), has one point per node and one quad per cell, its values
after clip/log equal the surface's, and --interp keeps the corners.

Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped.
"""
import glob
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {sys.executable} cannot import h5py/numpy ({e})", file=sys.stderr)
    sys.exit(77)

from clitest import check, conclude, losscape as run, setup  # noqa: E402

LOSSCAPE = setup("/tmp/losscape-test-plot", fashion_mnist=False)
WORK = os.getcwd()
GNUPLOT = shutil.which("gnuplot")


def loss(a, b):
    return 0.1 + 2.5 * a**2 + 6 * (b - 0.2)**2 + 0.4 * np.sin(3 * a) * np.cos(4 * b) + 0.4


def write_surface(path, nx, ny, xr=(-1, 1), yr=(-1, 1), unfinished=None, reference=False):
    """A synthetic surface; `unfinished` is a boolean mask of points not yet computed."""
    x = np.linspace(*xr, nx)
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = x
        if ny:
            y = np.linspace(*yr, ny)
            f["ycoordinates"] = y
            X, Y = np.meshgrid(x, y)  # [y][x]
        else:
            X, Y = x, np.zeros_like(x)
        L = loss(X, Y)
        A = 100 * np.exp(-L / 3)
        mask = np.zeros(L.shape, bool) if unfinished is None else unfinished
        for name, v in [("train_loss", L), ("train_acc", A), ("test_loss", 1.1 * L + 0.05),
                        ("test_acc", 0.95 * A)]:
            f[name] = np.where(mask, -1.0, v)
        if not reference:
            f["done"] = (~mask).astype(np.uint8)
            f.attrs["format"] = "losscape-surface"
            f.attrs["arch"] = "vgg9"
            f.attrs["dataset"] = "cifar10"
            f.attrs["config"] = '{"model_file": "vgg9.h5", "samples": 1000}'
    return L


def png_pixels(path):
    """(width, height, bytes per pixel, rows) of a PNG as pngcairo writes it (8 bits per channel,
    RGB or RGBA, not interlaced), its rows' filters undone (no imaging library needed)."""
    data = open(path, "rb").read()
    pos, idat, w, h, bpp = 8, b"", 0, 0, 3
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, _depth, ctype = struct.unpack(">IIBB", body[:10])
            bpp = {2: 3, 6: 4}[ctype]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, rows, prev, stride = zlib.decompress(idat), [], bytearray(w * bpp), w * bpp
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, b = line[i - bpp] if i >= bpp else 0, prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def edge_ink(path, cols=2):
    """How many pixels that are not near white lie in the first and in the last `cols` columns."""
    w, _h, bpp, rows = png_pixels(path)
    def dark(r, x):
        return min(r[x * bpp:x * bpp + 3]) < 200
    return (sum(1 for r in rows for x in range(cols) if dark(r, x)),
            sum(1 for r in rows for x in range(w - cols, w) if dark(r, x)))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_figures(stdout, out_dir, size, formats, what):
    outputs = [l for l in stdout.splitlines() if l.startswith(out_dir)]
    check(len(outputs) > 0, f"{what}: figures listed")
    for o in outputs:
        ext = o.rsplit(".", 1)[1]
        check(ext in formats, f"{what}: {os.path.basename(o)} has a requested format")
        base = o.rsplit(".", 1)[0]
        check(os.path.isfile(base + ".gp") and os.path.isfile(base + ".dat"),
              f"{what}: {os.path.basename(base)}.gp and .dat written")
        if ext == "png":
            check(png_size(o) == size, f"{what}: {os.path.basename(o)} is a {size} PNG")
        elif ext == "pdf":
            check(open(o, "rb").read(5) == b"%PDF-", f"{what}: {os.path.basename(o)} is a PDF")
        elif ext == "svg":
            root = ET.parse(o).getroot()
            check(root.tag.endswith("svg"), f"{what}: {os.path.basename(o)} is SVG XML")
    return outputs


def parse_vtp(path):
    root = ET.parse(path).getroot()
    piece = root.find("PolyData/Piece")
    arrays = {}
    for da in root.iter("DataArray"):
        arrays[da.get("Name")] = np.array((da.text or "").split(), dtype=float)
    return root, piece, arrays


def main():
    if GNUPLOT is None:
        print("SKIP: gnuplot is not installed (Debian: gnuplot-nox)", file=sys.stderr)
        sys.exit(77)

    # ---- 2D, non-square, off-centre bounds; every --what, all formats ----
    L = write_surface("s2.h5", 15, 9, xr=(-0.5, 1.5), yr=(0, 0.4))
    r = run("plot", "s2.h5", "--what", "train_loss,test_loss,train_acc,test_err",
            "--formats", "png,pdf,svg", "--out-dir", "fig2", "--size", "640x480")
    outs = check_figures(r.stdout, "fig2", (640, 480), ("png", "pdf", "svg"), "2D")
    for kind in ("2dcontour", "2dcontourf", "2dheat", "3dsurface"):
        check(f"fig2/s2_test_err_{kind}.png" in outs, f"2D: test_err {kind} made")
    check(len(outs) == 4 * 4 * 3, "2D: 4 quantities x 4 kinds x 3 formats")

    # the data file has the surface's values
    dat = np.loadtxt("fig2/s2_train_loss_3dsurface.dat")
    check(dat.shape == (15 * 9, 3) and np.allclose(dat[:, 2], L.ravel(), rtol=1e-9),
          "2D: data file values = surface ([y][x] order)")

    # the script is standalone: plain gnuplot re-renders it after a restyle
    gp = "fig2/s2_train_loss_2dcontour.gp"
    text = open(gp).read().replace('formats = "png pdf svg"', 'formats = "png"')
    text = text.replace("width = 640; height = 480", "width = 300; height = 200")
    os.remove("fig2/s2_train_loss_2dcontour.png")
    open(gp, "w").write(text)
    g = subprocess.run([GNUPLOT, os.path.basename(gp)], cwd="fig2", capture_output=True, text=True)
    check(g.returncode == 0 and png_size("fig2/s2_train_loss_2dcontour.png") == (300, 200),
          "2D: edited script re-renders with plain gnuplot " + g.stderr.strip()[-200:])

    # ---- partial surface in the reference's layout; trajectory with PCA variance ----
    un = np.zeros((11, 11), bool)
    un[7:, :] = True
    un[6, 5:] = True
    write_surface("ref.h5", 11, 11, unfinished=un, reference=True)
    with h5py.File("proj.h5", "w") as f:
        t = np.linspace(0, 1, 25)
        f["proj_xcoord"] = 0.8 * (1 - t) ** 2 * np.cos(4 * t)
        f["proj_ycoord"] = 0.6 * (1 - t) ** 2 * np.sin(4 * t)
        f.attrs["epochs"] = np.arange(0, 250, 10, dtype=np.int64)
        f.attrs["explained_variance_ratio"] = np.array([0.8321, 0.1012])
    r = run("plot", "ref.h5", "--out-dir", "figp", "--formats", "png", "--trajectory", "proj.h5",
            "--log", "--size", "400x300")
    outs = check_figures(r.stdout, "figp", (400, 300), ("png",), "partial")
    check("figp/ref_train_loss_2dcontour_proj_log.png" in outs, "partial: trajectory figure made")
    done = int((~un).sum())
    script = open("figp/ref_train_loss_2dcontour_log.gp").read()
    check(f"{done} of 121 points done" in script, "partial: title says how many points are done")
    check("1st PC: 83.21 %" in open("figp/ref_train_loss_2dcontour_proj_log.gp").read(),
          "trajectory: PC axis label")
    check("records no epochs" not in r.stderr and
          "x y epoch labelled" in open("figp/ref_train_loss_2dcontour_proj_log.dat").read(),
          "trajectory: labelled by the epochs the projection records")
    # the reference's projections record no epochs: its labels count checkpoints, and say so
    shutil.copy("proj.h5", "proj_noep.h5")
    with h5py.File("proj_noep.h5", "a") as f:
        del f.attrs["epochs"]
    r = run("plot", "ref.h5", "--out-dir", "figp_noep", "--formats", "png", "--trajectory", "proj_noep.h5",
            "--what", "train_loss")
    dat = open("figp_noep/ref_train_loss_2dcontour_proj.dat").read()
    labels = np.loadtxt(dat.split("# index 1")[1].splitlines()[1:])[:, 2]
    check(r.returncode == 0 and "the path's labels count its checkpoints from 0: proj_noep.h5 records no "
          "epochs" in r.stderr and "x y checkpoint (its index" in dat and list(labels) == list(range(25)),
          f"trajectory without epochs: labels 0..24 named checkpoints, noted ({r.stderr.strip()})")
    # ... and a point left out (not finite) keeps the others' numbers: the final model labelled
    # 24, not 23
    shutil.copy("proj_noep.h5", "proj_noep_nan.h5")
    with h5py.File("proj_noep_nan.h5", "a") as f:
        f["proj_xcoord"][1] = np.nan
    r = run("plot", "ref.h5", "--out-dir", "figp_noep_nan", "--formats", "png", "--trajectory", "proj_noep_nan.h5",
            "--what", "train_loss")
    dat = open("figp_noep_nan/ref_train_loss_2dcontour_proj.dat").read()
    labels = np.loadtxt(dat.split("# index 1")[1].splitlines()[1:])[:, 2]
    check(r.returncode == 0 and "1 of its 25 points are not finite" in r.stderr and
          list(labels) == [0] + list(range(2, 25)),
          f"trajectory without epochs, a point not finite: the others keep their numbers ({list(labels)[:4]})")
    # epochs of -1 (torch.save checkpoints whose names give none): as none, not "-1" at each point
    shutil.copy("proj.h5", "proj_m1.h5")
    with h5py.File("proj_m1.h5", "a") as f:
        f.attrs["epochs"] = np.full(25, -1, dtype=np.int64)
    r = run("plot", "ref.h5", "--out-dir", "figp_m1", "--formats", "png", "--trajectory", "proj_m1.h5",
            "--what", "train_loss")
    dat = open("figp_m1/ref_train_loss_2dcontour_proj.dat").read()
    labels = np.loadtxt(dat.split("# index 1")[1].splitlines()[1:])[:, 2]
    check(r.returncode == 0 and list(labels) == list(range(25)),
          f"trajectory with epochs of -1: labels 0..24 ({list(labels)[:5]}, {r.stderr.strip()})")
    # ... one -1 among known epochs (a torch.save file given before a run's checkpoints): that
    # point unlabelled, not "-1"; the others by their epochs
    shutil.copy("proj.h5", "proj_m1one.h5")
    with h5py.File("proj_m1one.h5", "a") as f:
        ep = np.arange(0, 250, 10, dtype=np.int64)
        ep[0] = -1
        f.attrs["epochs"] = ep
    r = run("plot", "ref.h5", "--out-dir", "figp_m1one", "--formats", "png", "--trajectory", "proj_m1one.h5",
            "--what", "train_loss")
    rows = np.loadtxt(open("figp_m1one/ref_train_loss_2dcontour_proj.dat").read().split("# index 1")[1]
                      .splitlines()[1:])
    check(r.returncode == 0 and rows[0, 2] == -1 and rows[0, 3] == 0 and rows[-1, 3] == 1 and
          int(rows[:, 3].sum()) >= 2,
          f"trajectory with one epoch of -1 among known ones: that point unlabelled ({rows[:3].tolist()})")
    check("reaches far beyond the surface's grid" not in r.stderr, "a path within the grid: no note of its reach")
    # a path far outside the grid (a surface of the last epochs' neighbourhood): the map is widened
    # to the path, the surface a small patch of it: said, with the way to a grid covering it
    shutil.copy("proj.h5", "proj_far.h5")
    with h5py.File("proj_far.h5", "a") as f:
        f["proj_xcoord"][...] = 8 * f["proj_xcoord"][()]
        f["proj_ycoord"][...] = 8 * f["proj_ycoord"][()]
    r = run("plot", "ref.h5", "--out-dir", "figp_far", "--formats", "png", "--trajectory", "proj_far.h5",
            "--what", "train_loss")
    check(r.returncode == 0 and "the trajectory reaches far beyond the surface's grid: the map is widened to" in r.stderr
          and "losscape project --grid N prints one" in r.stderr,
          f"a path far outside the grid: drawn, and said ({r.stderr.strip()})")
    heat = np.genfromtxt("figp/ref_train_loss_2dheat_log.dat")
    check(int(np.isnan(heat[:, 2]).sum()) == 121 - done, "partial: unfinished points are NaN")
    # a projection that does not record whether its directions are orthonormal (the reference's,
    # or losscape's before 2026-12-02) holds cos coordinates: onto random filter-normalized
    # directions (not orthonormal) they are not the surface's alpha and beta, so it is refused
    run("directions", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--out", "rnd_dirs.h5", "--quiet")
    write_surface("ref_rnd.h5", 11, 11, reference=True)
    with h5py.File("ref_rnd.h5", "a") as f:
        f["dir_file"] = "rnd_dirs.h5"
    with h5py.File("proj_rnd.h5", "w") as f:
        f["proj_xcoord"], f["proj_ycoord"] = np.linspace(0, 0.5, 5), np.linspace(0, 0.3, 5)
        f.attrs["dir_file"] = "rnd_dirs.h5"
    r = run("plot", "ref_rnd.h5", "--out-dir", "fig_rnd", "--formats", "png", "--trajectory", "proj_rnd.h5",
            expect_ok=False)
    check(r.returncode == 1 and r.stderr.strip() == "losscape: error: plot: proj_rnd.h5 holds cos projections "
          "onto directions that are not orthonormal, which are not the surface's alpha and beta: project "
          "again with --method lstsq (or auto)" and not os.path.exists("fig_rnd"),
          f"a cos projection without its record, onto directions that are not orthonormal: refused "
          f"({r.stderr.strip()})")

    # ---- the reference's surface names its PCA direction file in a dir_file dataset (h5py: a
    # variable-length UTF-8 string); plot finds the explained variance through it ----
    write_surface("refpca.h5", 9, 7, reference=True)
    with h5py.File("refpca.h5", "a") as f:
        f["dir_file"] = "pca_dirs.h5"
    with h5py.File("pca_dirs.h5", "w") as f:
        f["explained_variance_ratio_"] = np.array([0.6543, 0.2109])
    run("plot", "refpca.h5", "--out-dir", "figr", "--formats", "png", "--size", "400x300")
    check("1st PC: 65.43 %" in open("figr/refpca_train_loss_2dcontour.gp").read() and
          "2nd PC: 21.09 %" in open("figr/refpca_train_loss_2dcontour.gp").read(),
          "reference surface: PC axis labels from the direction file its dir_file names")

    # ---- nothing cut at the picture's edges: no ink in a PNG's first and last two columns.
    # splot's map view left the y label ("2nd PC: 21.09 %") out of its left margin at 400x300,
    # and the 3D surface's colour bar had its tick labels ("100000") cut at the right edge and
    # its title off the picture.
    # (a PCA plane 3 times wider than high, as a trajectory's often is: the maps' axes are free)
    with h5py.File("wide.h5", "w") as f:
        xw, yw = np.linspace(-1.08, 6.12, 9), np.linspace(-0.55, 1.65, 7)
        f["xcoordinates"], f["ycoordinates"] = xw, yw
        XW, YW = np.meshgrid(xw, yw)
        f["train_loss"] = 1 + 0.1 * XW**2 + YW**2
        f["done"] = np.ones((7, 9), np.uint8)
        f.attrs["format"] = "losscape-surface"
        f["dir_file"] = "pca_dirs.h5"
    run("plot", "wide.h5", "--out-dir", "fig_wide", "--formats", "png", "--size", "400x300", "--what", "train_loss")
    ink = {f"{d}/{f}": edge_ink(f"{d}/{f}") for d in ("figr", "fig_wide") for f in sorted(os.listdir(d))
           if f.endswith(".png")}
    check(len(ink) >= 8 and all(v == (0, 0) for v in ink.values()) and
          "2nd PC: 21.09 %" in open("fig_wide/wide_train_loss_2dcontour.gp").read(),
          f"400x300 with PC axis labels: nothing at the left or right edge (pixels: {ink})")
    with h5py.File("bigplane.h5", "w") as f:
        xx = np.linspace(-1, 1, 5)
        f["xcoordinates"], f["ycoordinates"] = xx, xx
        XX, YY = np.meshgrid(xx, xx)
        f["train_loss"] = 10 ** (3 + 3 * XX * XX + 0.5 * YY)
        f["done"] = np.ones((5, 5), np.uint8)
        f.attrs["format"] = "losscape-surface"
    r = run("plot", "bigplane.h5", "--log", "--vmin", "0.5", "--vlevel", "1e5", "--vmax", "2e6", "--formats", "png",
            "--out-dir", "fig_bigbar", "--what", "train_loss")
    ink = {f: edge_ink(f"fig_bigbar/{f}") for f in sorted(os.listdir("fig_bigbar")) if f.endswith(".png")}
    check(r.returncode == 0 and len(ink) == 4 and all(v == (0, 0) for v in ink.values()),
          f"a log colour bar to 2e6: nothing at the left or right edge (pixels: {ink})")

    # ---- a non-square surface as the reference writes it: arrays declared (nx, ny), filled
    # through the meshgrid's ravel (index j * nx + i for (x[i], y[j])), as its crunch() does ----
    xs, ys = np.linspace(-1, 1, 9), np.linspace(-0.5, 1, 7)
    X, Y = np.meshgrid(xs, ys)
    with h5py.File("ref97.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = xs, ys
        for name, fn in (("train_loss", lambda x, y: x * x + 2 * y * y + 0.5),
                         ("train_acc", lambda x, y: 90 - 10 * x * x)):
            losses = -np.ones((len(xs), len(ys)))
            flat = losses.ravel()
            flat[np.arange(X.size)] = fn(X.ravel(), Y.ravel())
            f[name] = flat.reshape(len(xs), len(ys))
    j = json.loads(run("info", "--json", "--values", "ref97.h5").stdout)
    got = np.array(j["values"]["train_loss"])
    check(got.shape == (7, 9) and np.allclose(got, X * X + 2 * Y * Y + 0.5, rtol=0, atol=1e-12),
          f"a non-square reference surface ((nx, ny) arrays in [y][x] order): read as it lies "
          f"{got.shape}")
    # a 1D reference surface: its values as the file holds them, [x] (they were wrapped [[x]])
    with h5py.File("ref1d.h5", "w") as f:
        f["xcoordinates"] = xs
        f["train_loss"] = xs ** 2
    j = json.loads(run("info", "--json", "--values", "ref1d.h5").stdout)
    check(np.array(j["values"]["train_loss"]).shape == (9,) and j["y"] == [] and
          np.allclose(j["values"]["train_loss"], xs ** 2, rtol=0, atol=1e-12),
          f"info --json --values of a 1D surface: [x] ({np.array(j['values']['train_loss']).shape})")
    r = run("plot", "ref97.h5", "--what", "train_loss", "--out-dir", "fig97", "--formats", "png")
    dat = np.genfromtxt("fig97/ref97_train_loss_2dheat.dat")
    want = dat[:, 0] ** 2 + 2 * dat[:, 1] ** 2 + 0.5
    check(r.returncode == 0 and dat.shape[0] == 63 and np.allclose(dat[:, 2], want, atol=1e-9),
          "... and plot draws each value at its (x, y)")

    # ---- Hessian maps alone (the reference's plot_hessian_eigen): plot draws their ratio ----
    with h5py.File("refhess.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)
        f["max_eig"] = np.full((5, 5), 4.0)
        f["min_eig"] = np.full((5, 5), -1.0)
    r = run("plot", "refhess.h5", "--out-dir", "figh", "--formats", "png")
    dat = np.genfromtxt("figh/refhess_eig-ratio_2dheat.dat")
    check(r.returncode == 0 and np.allclose(dat[:, 2], 0.25),
          f"a file of Hessian maps alone: plot draws |min/max| by default ({r.stderr.strip()})")
    r = run("export", "refhess.h5", "--vtp", "refhess.vtp")
    check(r.returncode == 0 and "eig-ratio" in open("refhess.vtp").read().split("-->")[0]
          and "25 points" in r.stdout,
          f"... and export writes the ratio by default, as plot draws it ({r.stdout.strip()} {r.stderr.strip()})")
    # a ratio that is NaN (λmax 0, or an eigensolver that did not converge): its own cause
    with h5py.File("refhess0.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)
        mx = np.full((5, 5), 4.0)
        mx[2, 2] = 0
        f["max_eig"], f["min_eig"] = mx, np.full((5, 5), 0.0)
    r = run("plot", "refhess0.h5", "--out-dir", "figh0", "--formats", "png")
    check(r.returncode == 0 and "1 computed point has a NaN or infinite value (" in r.stderr and
          "the eigensolver did not converge there, or λmax is 0, or the loss is not finite there, where no "
          "Hessian is computed)" in r.stderr and "diverged" not in r.stderr,
          f"an eig-ratio of 0/0: the note names the eigensolver, not a diverged model ({r.stderr.strip()})")
    r = run("plot", "refhess.h5", "--what", "eig_ratio", "--out-dir", "figh_", "--formats", "png")
    check(r.returncode == 0 and os.path.exists("figh_/refhess_eig-ratio_2dheat.png"),
          f"--what eig_ratio (hessian's JSON spelling) is eig-ratio ({r.stderr.strip()})")
    # A map in progress as plot_hessian_eigen leaves it: max_eig starts at -1 and min_eig at +1, so
    # a pending point is one whose max_eig is -1 (drawn as a ratio of 1, a saddle, before).
    with h5py.File("refhess_partial.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = np.linspace(-1, 1, 3), np.linspace(-1, 1, 3)
        mx, mn = -np.ones((3, 3)), np.ones((3, 3))
        mx.ravel()[:7], mn.ravel()[:7] = 100.0, -5.0
        f["max_eig"], f["min_eig"] = mx, mn
    r = run("plot", "refhess_partial.h5", "--out-dir", "fighp", "--formats", "png")
    dat = np.genfromtxt("fighp/refhess_partial_eig-ratio_2dheat.dat")
    title = [ln for ln in open("fighp/refhess_partial_eig-ratio_2dheat.gp") if ln.startswith("set title")]
    check(r.returncode == 0 and np.allclose(dat[:7, 2], 0.05) and np.isnan(dat[7:, 2]).all()
          and "7 of 9 points done" in title[0],
          f"a reference Hessian map in progress (min_eig +1, max_eig -1 pending): 2 gaps, '7 of 9 "
          f"points done' ({dat[:, 2]}, {title})")
    info = run("info", "refhess_partial.h5").stdout
    check("max_eig (7 computed) min_eig (7 computed)" in info and "7 of 9 points" in info,
          f"... info counts 7 of 9 points for both maps:\n{info}")
    r = run("export", "refhess_partial.h5", "--what", "eig-ratio", "--vtp", "rhp.vtp")
    check("2 grid points are not computed" in r.stderr and "7 points, 2 quads" in r.stdout,
          f"... export leaves the 2 pending points out ({r.stdout.strip()} {r.stderr.strip()})")

    # ---- info of a reference surface: grid, direction file, computed counts, values ----
    info = run("info", "refpca.h5").stdout
    check("-1:1:9, y -1:1:7 (63 points)" in info and "directions   pca_dirs.h5" in info and
          "63 of 63 points" in info and "(complete" in info, "info of a reference surface:\n" + info)
    j = json.loads(run("info", "--json", "--values", "ref.h5").stdout)
    with h5py.File("ref.h5", "r") as f:
        same = all(np.array_equal(np.array(j["values"][n]), f[n][()]) for n in
                   ("train_loss", "train_acc", "test_loss", "test_acc"))
        same = same and np.array_equal(j["x"], f["xcoordinates"][()]) and \
            np.array_equal(j["y"], f["ycoordinates"][()])
    check(j["origin"] == "reference" and j["grid"] == {"x": "-1:1:11", "y": "-1:1:11"} and
          j["points_done"] == done and j["points_total"] == 121 and not j["complete"] and
          all(d["computed"] == done for d in j["datasets"]) and len(j["datasets"]) == 4,
          f"info --json of a partial reference surface: {done} of 121 points done, 4 datasets")
    check(same, "info --json --values of a reference surface equals h5py's reading")
    check(np.array_equal(np.array(j["done"]), ~un),
          "... and its done mask marks the points whose values are not -1")
    with h5py.File("irregular.h5", "w") as f:
        f["xcoordinates"] = np.array([-1.0, -0.5, 0.0, 0.25, 1.0])
        f["train_loss"] = np.array([1.0, 0.5, 0.1, -1.0, 1.0])
    j = json.loads(run("info", "--json", "irregular.h5").stdout)
    check(j["grid"]["x"].startswith("irregular: 5 coordinates from -1 to 1") and
          j["points_done"] == 4, f"info of an irregular 1D reference axis: {j['grid']['x']}")
    with h5py.File("decreasing.h5", "w") as f:
        f["xcoordinates"] = np.linspace(1, -1, 5)
        f["train_loss"] = np.ones(5)
    j = json.loads(run("info", "--json", "decreasing.h5").stdout)
    check(j["grid"]["x"] == "1:-1:5 (decreasing: the points of -1:1:5 in reverse order)",
          f"info of a decreasing reference axis says so (--x takes MIN < MAX): {j['grid']['x']}")

    # ---- 1D ----
    write_surface("s1.h5", 31, 0, xr=(-0.5, 1.5))
    r = run("plot", "s1.h5", "--out-dir", "fig1", "--formats", "png,svg", "--size", "500x350",
            "--loss-max", "8")
    outs = check_figures(r.stdout, "fig1", (500, 350), ("png", "svg"), "1D")
    for n in ("1d_loss_acc", "1d_train_loss", "1d_train_err"):
        check(f"fig1/s1_{n}.png" in outs, f"1D: {n} made")
    check("losscape: note" not in r.stderr, f"1D: no note where every value is finite ({r.stderr})")
    # Points computed as NaN or inf (a diverged model there) look like gaps of points not
    # computed: the note counts them; the 2D maps say the same.
    with h5py.File("s1.h5", "a") as f:
        f["train_loss"][0:3] = [np.nan, np.inf, np.nan]
        f["test_loss"][1] = np.nan
        f["done"][29] = 0
    r = run("plot", "s1.h5", "--out-dir", "fig1n", "--formats", "png")
    notes = [l for l in r.stderr.splitlines() if l.startswith("losscape: note:")]
    check(len(notes) == 2 and notes[0].startswith(
          "losscape: note: 3 computed points have a NaN or infinite value (train loss, test loss; ")
          and notes[0].endswith("gaps in the curves, like points not computed") and
          "(train loss; " in notes[1],
          f"1D with computed NaN/inf points: noted, counted (one note for the train loss and error figures) ({notes})")
    # Where a split's loss is not finite, the stored accuracy (argmax of NaN logits) means
    # nothing: accuracy and error are gaps there too, in every figure.
    err = np.genfromtxt("fig1n/s1_1d_train_err.dat")
    both = np.genfromtxt("fig1n/s1_1d_loss_acc.dat")
    check(np.isnan(err[0:3, 1]).all() and np.isfinite(err[3:29, 1]).all(),
          f"1D: the error is a gap where the train loss is NaN or inf ({err[0:4, 1]})")
    check(both.shape[1] == 5 and np.isnan(both[0:3, 2]).all() and np.isnan(both[1, 4]) and
          np.isfinite(both[0, 4]) and np.isfinite(both[3:29, 1:]).all(),
          f"1D: train accuracy a gap where the train loss is, test accuracy where the test loss is")
    write_surface("s2n.h5", 6, 5)
    with h5py.File("s2n.h5", "a") as f:
        f["train_loss"][2, 3] = np.nan
    r = run("plot", "s2n.h5", "--what", "train_loss", "--out-dir", "fig2n", "--formats", "png")
    check("1 computed point has a NaN or infinite value (train loss; " in r.stderr and
          "holes in the map" in r.stderr, f"2D: the same note ({r.stderr.strip()})")
    r = run("plot", "s2n.h5", "--what", "train_acc", "--out-dir", "fig2a", "--formats", "png")
    heat = np.genfromtxt("fig2a/s2n_train_acc_2dheat.dat")
    check("1 computed point has a NaN or infinite value (train loss; " in r.stderr and
          int(np.isnan(heat[:, 2]).sum()) == 1,
          f"2D: the accuracy map has a hole where the loss is NaN, noted ({r.stderr.strip()})")
    # An infinite value is a gap too: NaN in every data file (gnuplot drew "Inf" as data: the
    # heat map's top colour, a spike of the 3D surface).
    with h5py.File("s2n.h5", "a") as f:
        f["train_loss"][1, 1] = np.inf
        f["train_loss"][3, 4] = -np.inf
    r = run("plot", "s2n.h5", "--what", "train_loss", "--out-dir", "fig2i", "--formats", "png")
    dats = sorted(glob.glob("fig2i/*.dat"))
    bad = [d for d in dats if "Inf" in open(d).read() or "inf" in open(d).read()]
    nans = [int(np.isnan(np.loadtxt(d)[:, 2]).sum()) for d in dats if "proj" not in d]
    check(r.returncode == 0 and len(dats) == 4 and not bad and nans == [3, 3, 3, 3] and
          "3 computed points have a NaN or infinite value" in r.stderr,
          f"2D: infinite values are NaN (gaps) in every data file ({bad}, NaN counts {nans})")

    # ---- 1D --log: a loss of 0 or below is a gap, said (it was dropped in silence) ----
    with h5py.File("zero1d.h5", "w") as f:
        x = np.linspace(-1, 1, 11)
        f["xcoordinates"], f["train_loss"], f["train_acc"] = x, x**2, 90 - x**2
    r = run("plot", "zero1d.h5", "--log", "--out-dir", "fig_zero", "--formats", "png")
    check(r.returncode == 0 and "1 loss value is 0 or negative (train loss): the log axis cannot "
          "show it, gaps in the curves" in r.stderr, f"1D --log with a loss of 0: noted ({r.stderr.strip()})")
    r = run("plot", "zero1d.h5", "--out-dir", "fig_zero_lin", "--formats", "png")
    check(r.returncode == 0 and "log axis" not in r.stderr, "... and not without --log")
    # --name names one surface's figures too (it was refused for one file)
    r = run("plot", "zero1d.h5", "--name", "zz", "--out-dir", "fig_zero_name", "--formats", "png")
    made = sorted(f for f in os.listdir("fig_zero_name") if f.endswith(".png"))
    check(r.returncode == 0 and made == ["zz_1d_loss_acc.png", "zz_1d_train_err.png", "zz_1d_train_loss.png"],
          f"one surface with --name: its figures named by it ({made})")
    # ... and in a figure of several surfaces, named by file
    with h5py.File("pos1d.h5", "w") as f:
        f["xcoordinates"], f["train_loss"], f["train_acc"] = x, 1 + x**2, 90 - x**2
    r = run("plot", "zero1d.h5", "pos1d.h5", "--log", "--name", "zc", "--out-dir", "fig_zero_cmp", "--formats", "png")
    check(r.returncode == 0 and "zero1d.h5: 1 loss value is 0 or negative (train loss)" in r.stderr and
          "pos1d.h5:" not in r.stderr, f"1D --log of several surfaces: the one with a loss of 0 noted ({r.stderr.strip()})")
    # a 1D file of the loss alone: its default figures draw the loss (it was refused: "has no train_acc")
    with h5py.File("lossonly1d.h5", "w") as f:
        f["xcoordinates"], f["train_loss"] = x, 1 + x**2
    r = run("plot", "lossonly1d.h5", "--out-dir", "fig_lossonly", "--formats", "png")
    made = sorted(os.listdir("fig_lossonly"))
    check(r.returncode == 0 and "lossonly1d_1d_train_loss.png" in made and
          not [m for m in made if "err" in m], f"1D file of the loss alone: its loss drawn ({r.stderr.strip()}, {made})")

    # ---- filled contours: the bands follow the levels between grid lines (pm3d colours a
    # sub-cell by its corners' mean: on a coarse grid 4 x 4 sub-cells made blocks of bands) ----
    with h5py.File("plane.h5", "w") as f:
        x = np.array([-1.0, 1.0])
        f["xcoordinates"], f["ycoordinates"] = x, x
        X, Y = np.meshgrid(x, x)
        f["train_loss"] = 5 + 3 * X + 1.5 * Y
        f["done"] = np.ones((2, 2), np.uint8)
        f.attrs["format"] = "losscape-surface"
    r = run("plot", "plane.h5", "--formats", "png", "--out-dir", "fig_plane", "--size", "800x600")
    gp = open("fig_plane/plane_train_loss_2dcontourf.gp").read()
    k = re.search(r"set pm3d at b interpolate (\d+),(\d+)", gp)
    check(r.returncode == 0 and k and int(k.group(1)) >= 100 and int(k.group(2)) >= 100,
          f"filled contours of a 2 x 2 grid: sub-cells of a few pixels ({k and k.group(0)})")

    # One flat colour per band, also for fewer than 9 bands (gnuplot 5.4 ignores a `palette
    # maxcolors` below the ten points of viridis: 2 to 8 bands came out in 9 colours).
    # The colour bar is ticked on every other band edge, on each with one or two bands (a
    # --vlevel beyond vmax - vmin, levels 1 and 9, was ticked at 1 alone); gnuplot's SVG text
    # read back (the axes' ticks are -1 .. 1, so those above 1.5 are the colour bar's)
    for vlevel, bands, tics in (("10", 1, ["1", "9"]), ("4", 2, ["1", "5", "9"]), ("2.5", 3, ["1", "6"]),
                                ("1", 8, ["1", "3", "5", "7", "9"]), ("0.5", 16, [str(k) for k in range(1, 10)])):
        out = f"fig_bands{bands}"
        r = run("plot", "plane.h5", "--formats", "svg", "--out-dir", out, "--vmin", "1", "--vlevel",
                vlevel, "--vmax", "9")
        svg = open(f"{out}/plane_train_loss_2dcontourf.svg").read()
        fills = set(re.findall(r"rgb\(\s*\d+,\s*\d+,\s*\d+\)", svg)) - {"rgb(  0,   0,   0)"}
        # (the plane's corner below vmin = 1, 0.5 .. 1: white, a band of its own below 1 on the
        # colour bar; it was painted in the first band's colour, as if between the first levels)
        white = "rgb(255, 255, 255)"
        check(r.returncode == 0 and len(fills - {white}) == bands and white in fills,
              f"filled contours, --vlevel {vlevel} on 1..9: {bands} band colours and white below 1 ({fills})")
        got = [t for t in re.findall(r">\s*(-?[0-9.]+)</tspan>", svg) if float(t) > 1.5 or t == "1"]
        check(sorted(set(got), key=float) == tics,
              f"... its colour bar ticked at {tics} ({sorted(set(got), key=float)})")

    # ... but not below --log's own floor for a default vmin of 0 (5 % for accuracy): lower values
    # are drawn at the floor there, as in every other map (plotting.md, --log)
    with h5py.File("accplane.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = x, x
        f["train_acc"] = 45 + 40 * X + 4 * Y  # 1 .. 89 %
        f["done"] = np.ones((2, 2), np.uint8)
        f.attrs["format"] = "losscape-surface"
    r = run("plot", "accplane.h5", "--what", "train_acc", "--log", "--formats", "png", "--out-dir", "fig_accfloor")
    gp = open("fig_accfloor/accplane_train_acc_2dcontourf_log.gp").read()
    check(r.returncode == 0 and "#ffffff" not in gp and "set cbrange [5:" in gp,
          f"--log's floor (5 %) for accuracy: no white band below it ({r.returncode}: "
          f"{[l for l in gp.splitlines() if 'cbrange' in l or 'palette defined' in l]})")

    # ---- a quantity given twice is drawn once ----
    r = run("plot", "plane.h5", "--formats", "png", "--out-dir", "fig_twice", "--what", "train_loss,train_loss")
    pngs = [l for l in r.stdout.splitlines() if l.endswith(".png")]
    check(r.returncode == 0 and len(pngs) == len(set(pngs)) == 4,
          f"--what train_loss,train_loss: each figure once ({pngs})")

    # ---- an interpolation's titles say where its ends are: from the sweep's configuration
    # (directions it made towards --x-target) or from the direction file it was given ----
    for name, how in (("interp_cfg", "config"), ("interp_dir", "dir_file")):
        with h5py.File(f"{name}.h5", "w") as f:
            x = np.linspace(-0.5, 1.5, 9)
            f["xcoordinates"] = x
            f["train_loss"], f["train_acc"] = loss(x, 0 * x), 100 * np.exp(-loss(x, 0 * x) / 3)
            f["done"] = np.ones(9, np.uint8)
            f.attrs["format"] = "losscape-surface"
            if how == "config":
                f.attrs["config"] = json.dumps({"model_file": "runs/a/small_batch.h5",
                                                "dir": {"dims": 1, "x": {"target": "runs/b/large_batch.h5"}}})
            else:
                f.attrs["config"] = json.dumps({"model_file": "runs/a/small_batch.h5", "directions": "sb_lb.dirs.h5"})
                f.attrs["dir_file"] = "sb_lb.dirs.h5"
        if how == "dir_file":
            os.makedirs("elsewhere", exist_ok=True)
            with h5py.File("elsewhere/sb_lb.dirs.h5", "w") as d:  # beside the surface, not in the working folder
                d.attrs["settings"] = json.dumps({"x": {"target": "/x/large_batch.h5"}, "y": {"target": ""}})
            shutil.move(f"{name}.h5", f"elsewhere/{name}.h5")
        r = run("plot", f"elsewhere/{name}.h5" if how == "dir_file" else f"{name}.h5", "--formats", "png",
                "--out-dir", f"fig_{name}")
        gp = open(f"fig_{name}/{name}_1d_loss_acc.gp").read()
        check(r.returncode == 0 and "9 points, α ∈ [-0.5, 1.5]\\nα = 0 at small_batch.h5, α = 1 at large_batch.h5" in gp,
              f"interpolation title from the {how}: the ends named ({r.returncode}: {r.stderr.strip()})")
    # a run's checkpoint is named with its folder; a first title line wider than the picture is
    # broken at its " · " (text of about 7.2 pixels a character, 80 % of the width of the
    # picture at scale 1): 88 characters at 800x600 and at 2400x1800 (scale 3), 71 at 640x480
    write_surface("long_title.h5", 5, 4)
    run_folder = "resnet56_sgd_lr=0.1_bs=128_wd=0.0005_mom=0.9_save_epoch=1"
    model_part = f"vgg9 ({run_folder}/model_300.h5)"  # (70 characters)
    with h5py.File("long_title.h5", "r+") as f:
        f.attrs["config"] = json.dumps({"model_file": f"runs/{run_folder}/model_300.h5", "samples": 1000})
    # (640x480: 71 characters; the model part broken before its "(" and after a "/")
    for size, want in (("640x480", ["vgg9", f"({run_folder}/", "model_300.h5)", "cifar10 (1000 samples) · train loss"]),
                       ("800x600", [model_part, "cifar10 (1000 samples) · train loss"]),
                       ("2400x1800", [model_part, "cifar10 (1000 samples) · train loss"]),
                       ("1200x600", [model_part + " · cifar10 (1000 samples) · train loss"])):
        run("plot", "long_title.h5", "--formats", "png", "--size", size, "--out-dir", f"fig_long_{size}")
        gp = open(f"fig_long_{size}/long_title_train_loss_2dcontour.gp").read()
        title = next(l for l in gp.splitlines() if l.startswith("set title ")).split('"')[1].split("\\n")
        check(title[:len(want)] == want and title[len(want)].startswith("5×4 grid"),
              f"--size {size}: the title's first line {'broken at a ·' if len(want) > 1 else 'whole'} ({title})")
    # two runs' checkpoints of one name: each named with its run's folder
    with h5py.File("interp_same.h5", "w") as f:
        f["xcoordinates"] = np.linspace(-0.5, 1.5, 5)
        f["train_loss"], f["train_acc"] = np.ones(5), np.ones(5)
        f["done"] = np.ones(5, np.uint8)
        f.attrs["format"] = "losscape-surface"
        f.attrs["config"] = json.dumps({"model_file": "runs/bs128/final.h5",
                                        "dir": {"dims": 1, "x": {"target": "runs/bs8192/final.h5"}}})
    run("plot", "interp_same.h5", "--formats", "png", "--out-dir", "fig_same")
    gp = open("fig_same/interp_same_1d_loss_acc.gp").read()
    check("α = 0 at bs128/final.h5, α = 1 at bs8192/final.h5" in gp,
          "interpolation between two models of one file name: each named with its folder")
    run("plot", "interp_same.h5", "--formats", "png", "--size", "300x200", "--out-dir", "fig_same_small")
    gp = open("fig_same_small/interp_same_1d_loss_acc.gp").read()
    check("α = 0 at bs128/final.h5,\\nα = 1 at bs8192/final.h5" in gp,
          "an interpolation's ends wider than a 300x200 picture: broken after the comma")

    # ---- a 2D grid of one point on an axis (--y 0:0:1) is a line: drawn as 1D curves along the
    # other axis, the title naming the fixed coordinate; export refuses it by name ----
    for name, nx, ny, axis, fixed in (("row", 9, 1, "α", "β = 0.25"), ("col", 1, 7, "β", "α = -0.5")):
        with h5py.File(f"{name}.h5", "w") as f:
            x = np.linspace(-1, 1, nx) if nx > 1 else np.array([-0.5])
            y = np.linspace(-1, 1, ny) if ny > 1 else np.array([0.25])
            f["xcoordinates"], f["ycoordinates"] = x, y
            X, Y = np.meshgrid(x, y)
            f["train_loss"] = loss(X, Y)
            f["train_acc"] = 100 * np.exp(-loss(X, Y) / 3)
            f["done"] = np.ones((ny, nx), np.uint8)
            f.attrs["format"] = "losscape-surface"
        r = run("plot", f"{name}.h5", "--formats", "png", "--out-dir", f"fig_{name}")
        dat = np.loadtxt(f"fig_{name}/{name}_1d_train_loss.dat")
        along = x if nx > 1 else y
        gp = open(f"fig_{name}/{name}_1d_train_loss.gp").read()
        check(r.returncode == 0 and np.allclose(dat[:, 0], along) and
              np.allclose(dat[:, 1], loss(X, Y).ravel(), rtol=1e-9) and
              f"{len(along)} points, {axis} ∈ [-1, 1] at {fixed}" in gp and
              f'set xlabel "{axis}"' in gp and os.path.exists(f"fig_{name}/{name}_1d_loss_acc.png") and
              all(f"# columns: {'alpha' if nx > 1 else 'beta'} " in open(f"fig_{name}/{name}_1d_{k}.dat").read()
                  for k in ("train_loss", "loss_acc")) and
              os.path.exists(f"fig_{name}/{name}_1d_train_err.png"),
              f"a {nx} x {ny} grid: drawn as a curve along {axis} at {fixed} ({r.returncode}: {r.stderr.strip()})")
        r = run("export", f"{name}.h5", "--vtp", f"{name}.vtp", expect_ok=False)
        check(r.returncode == 1 and f"one point on {'β' if ny == 1 else 'α'}" in r.stderr and
              not os.path.exists(f"{name}.vtp"), f"export of the {nx} x {ny} grid: refused ({r.stderr.strip()})")
    write_surface("single.h5", 1, 1)  # (its grid is one point: said as such, not as a line)
    r = run("export", "single.h5", "--vtp", "single.vtp", expect_ok=False)
    check(r.returncode == 1 and r.stderr.strip() == "losscape: error: single.h5: its grid has a single point: a "
          ".vtp export needs 2 points or more per axis", f"export of a one-point grid ({r.stderr.strip()})")

    # ---- gnuplot missing: LOSSCAPE_GNUPLOT or a PATH without it ----
    no_path = {k: v for k, v in os.environ.items() if k != "LOSSCAPE_GNUPLOT"}
    no_path["PATH"] = "/nonexistent-dir"
    for label, env in (("LOSSCAPE_GNUPLOT=/nonexistent",
                        dict(os.environ, LOSSCAPE_GNUPLOT="/nonexistent/gnuplot")),
                       # (a folder can be "executed" by access(): not a program)
                       ("LOSSCAPE_GNUPLOT=a folder", dict(os.environ, LOSSCAPE_GNUPLOT="/usr/bin")),
                       ("PATH without gnuplot", no_path)):
        shutil.rmtree("fign", ignore_errors=True)
        r = run("plot", "s2.h5", "--out-dir", "fign", env=env, expect_ok=False)
        err = r.stderr.strip()
        check(r.returncode == 1, f"{label}: exit 1")
        check(len(err.splitlines()) == 1 and "gnuplot-nox" in err, f"{label}: one line naming "
              f"gnuplot-nox: {err}")
        check(os.path.isfile("fign/s2_train_loss_2dcontour.gp") and
              os.path.isfile("fign/s2_train_loss_2dcontour.dat") and
              not os.path.exists("fign/s2_train_loss_2dcontour.png"),
              f"{label}: data and scripts written, no images")

    # ---- export ----
    x = np.linspace(-0.5, 1.5, 15)
    y = np.linspace(0, 0.4, 9)
    for args, zf in ((["--vtp", "a.vtp"], lambda z: z),
                     (["--vtp", "b.vtp", "--zmax", "3", "--log"],
                      lambda z: np.log(np.minimum(z, 3) + 0.1))):
        r = run("export", "s2.h5", *args)
        name = args[1]
        root, piece, a = parse_vtp(name)
        check(root.tag == "VTKFile" and root.get("type") == "PolyData", f"{name}: VTKFile PolyData")
        check(piece.get("NumberOfPoints") == str(15 * 9) and
              piece.get("NumberOfPolys") == str(14 * 8), f"{name}: point and cell counts")
        pts = a["Points"].reshape(-1, 3)
        Z = zf(L).ravel()
        X, Y = np.meshgrid(x, y)
        check(np.allclose(pts[:, 0], X.ravel()) and np.allclose(pts[:, 1], Y.ravel()),
              f"{name}: points at the grid nodes, x fastest")
        check(np.allclose(pts[:, 2], Z, rtol=1e-12) and np.allclose(a["zvalue"], Z, rtol=1e-12),
              f"{name}: z and zvalue = surface after clip/log")
        conn = a["connectivity"].astype(int).reshape(-1, 4)
        i = (np.arange(8)[:, None] * 15 + np.arange(14)[None, :]).ravel()
        check((conn == np.stack([i, i + 1, i + 16, i + 15], 1)).all(),
              f"{name}: quads i, i+1, i+n+1, i+n")
        check(np.array_equal(a["offsets"], 4 * np.arange(1, 14 * 8 + 1)), f"{name}: offsets")
        check(np.allclose(a["averaged zvalue"], Z[conn].mean(1), rtol=1e-12),
              f"{name}: averaged zvalue = mean of the 4 corners")

    run("export", "s2.h5", "--vtp", "c.vtp", "--interp", "41", "--what", "test_loss")
    root, piece, a = parse_vtp("c.vtp")
    pts = a["Points"].reshape(41, 41, 3)
    T = 1.1 * L + 0.05
    check(piece.get("NumberOfPoints") == str(41 * 41) and piece.get("NumberOfPolys") == str(1600),
          "interp: 41x41 points, 40x40 quads")
    check(pts[0, 0, 2] == T[0, 0] and pts[0, -1, 2] == T[0, -1] and pts[-1, 0, 2] == T[-1, 0]
          and pts[-1, -1, 2] == T[-1, -1], "interp: corner values kept exactly")
    check(np.allclose(pts[0, :, 0], np.linspace(-0.5, 1.5, 41)) and
          np.allclose(pts[:, 0, 1], np.linspace(0, 0.4, 41)), "interp: new grid spans the bounds")
    # new x node 20 is the original x[7] (0.5), on the original row y[0]
    check(abs(pts[0, 20, 2] - T[0, 7]) < 1e-12, "interp: original nodes on the new grid kept")

    r = run("export", "s1.h5", "--vtp", "d.vtp", expect_ok=False)
    check(r.returncode == 1 and "1D" in r.stderr, "export of a 1D surface: clear error")
    # a surface of the test split alone: its test loss by default (as plot's default)
    with h5py.File("s2.h5", "r") as f, h5py.File("s2_test.h5", "w") as g:
        for k in ("xcoordinates", "ycoordinates", "test_loss", "test_acc"):
            f.copy(k, g)
    run("export", "s2_test.h5", "--vtp", "t.vtp")
    root, piece, a = parse_vtp("t.vtp")
    check(np.allclose(a["zvalue"], (1.1 * L + 0.05).ravel(), rtol=1e-12),
          "export of a test-split surface: its test loss by default")
    r = run("export", "s2.h5", "--vtp", "s2.png", expect_ok=False)
    check(r.returncode == 1 and r.stderr.strip() == "losscape: error: export: --vtp s2.png: a png image's "
          "name for a VTK XML file (name it .vtp; pictures come from plot)" and not os.path.exists("s2.png"),
          f"export --vtp NAME.png: refused ({r.stderr.strip()})")
    r = run("export", "ref.h5", "--vtp", "e.vtp", "--interp", "20", expect_ok=False)
    check(r.returncode == 1 and r.stderr.startswith("losscape: error: ref.h5: --interp needs every grid point"),
          f"interp on a partial surface: clear error naming it ({r.stderr.strip()})")
    # --vtp replaces a VTK XML file only, not any XML (a ParaView state, an SVG picture)
    for name, text in (("scene.pvsm", '<?xml version="1.0"?>\n<ParaView>\n <ServerManagerState version="5.11.0"/>\n</ParaView>\n'),
                       ("pic.vtp", '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE svg>\n<svg width="4" height="4"></svg>\n')):
        with open(name, "w") as f:
            f.write(text)
        r = run("export", "s2.h5", "--vtp", name, expect_ok=False)
        check(r.returncode == 1 and "exists and is not a VTK file; not replaced" in r.stderr and
              open(name).read() == text, f"export --vtp over another XML file ({name}): refused, left "
              f"({r.returncode}: {r.stderr.strip()})")
    r = run("export", "s2.h5", "--vtp", "a.vtp")  # (its own earlier file, a comment before the root)
    check(r.returncode == 0, f"export --vtp over a .vtp it wrote: replaced ({r.stderr.strip()})")
    r = run("export", "ref.h5", "--vtp", "f.vtp")
    root, piece, a = parse_vtp("f.vtp")
    check(piece.get("NumberOfPoints") == str(done) and "warning" in r.stderr,
          "partial export: unfinished points left out, with a warning")

    # ---- a surface with nothing computed yet (a sweep just begun, or killed at once) ----
    write_surface("none.h5", 6, 5, unfinished=np.ones((5, 6), bool))
    r = run("plot", "none.h5", "--formats", "png", "--out-dir", "fig_none", expect_ok=False)
    check(r.returncode == 0 and not os.path.exists("fig_none/none_train_loss_3dsurface.png") and
          os.path.exists("fig_none/none_train_loss_2dheat.png") and
          "3D surface is skipped" in r.stderr,
          f"nothing computed: the maps drawn, the 3D surface skipped with a note ({r.returncode}: "
          f"{r.stderr.strip()[-200:]})")

    # ---- a surface of the test split alone: the default figures are the test split's ----
    with h5py.File("s1.h5", "r") as f, h5py.File("test_only.h5", "w") as g:
        for k in f:
            if not k.startswith("train_"):
                f.copy(k, g)
        for k, v in f.attrs.items():
            g.attrs[k] = v
    r = run("plot", "test_only.h5", "--formats", "png", "--out-dir", "fig_test", expect_ok=False)
    check(r.returncode == 0 and os.path.exists("fig_test/test_only_1d_test_loss.png") and
          os.path.exists("fig_test/test_only_1d_test_err.png"),
          f"test split only: test_loss and test_err by default ({r.returncode}: {r.stderr.strip()[-200:]})")

    # ---- contour levels all above the data: the note says so ----
    r = run("plot", "s2.h5", "--vmin", "30", "--vlevel", "1", "--vmax", "40", "--formats", "png",
            "--what", "train_loss", "--out-dir", "fig_levels")
    check("below the contour levels 30:1:40" in r.stderr,
          f"levels above the data: 'below the contour levels': {r.stderr.strip()[:200]}")

    # ---- inline contour labels tell levels apart: log-spaced levels 0.09 % apart were labelled
    # with 3 digits (five lines "2.3"); a constant surface on a level is said to be constant ----
    x = np.linspace(-1, 1, 21)
    X, Y = np.meshgrid(x, x)
    for name, values in (("flat.h5", 2.28 + 0.02 * (X**2 + Y**2) / 2), ("const.h5", np.full(X.shape, 0.6))):
        with h5py.File(name, "w") as f:
            f["xcoordinates"], f["ycoordinates"], f["train_loss"] = x, x, values
    r = run("plot", "flat.h5", "--log", "--vmin", "2.28", "--vlevel", "0.002", "--vmax", "2.32",
            "--what", "train_loss", "--formats", "png", "--out-dir", "fig_flat")
    texts = {}
    with open("fig_flat/flat_train_loss_2dcontour_log.gp") as f:
        for m in re.finditer(r'^set label 1\d\d "([^"]+)" at [^,]+,[^,]+,(\S+)', f.read(), re.M):
            texts.setdefault(m.group(1), set()).add(m.group(2))
    shared = {t: z for t, z in texts.items() if len(z) > 1}
    check(len(texts) >= 5 and not shared,
          f"--log contour labels: {len(texts)} texts, each of one level (shared: {shared})")
    # ... and so does the colour bar: levels 2e-7 apart near 1 were ticked "1.000000" twice by
    # gnuplot's default 6 digits (gnuplot's own SVG text is read back); no format line otherwise
    y9 = np.linspace(-1, 1, 9)
    X9, Y9 = np.meshgrid(x, y9)
    with h5py.File("fine.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"], f["train_loss"] = x, y9, 1 + 1e-6 * (X9**2 + Y9**2)
    run("plot", "fine.h5", "--vmin", "1", "--vlevel", "2e-7", "--vmax", "1.000002", "--what", "train_loss",
        "--formats", "svg", "--out-dir", "fig_fine")
    for kind in ("2dcontourf", "2dcontour", "2dheat", "3dsurface"):
        ticks = [t for t in re.findall(r">([0-9.]+)</tspan>", open(f"fig_fine/fine_train_loss_{kind}.svg").read())
                 if t.startswith("1.")]
        # (the contour map's line labels repeat along a line: its colour bar is the first 4; the
        # 3D figure ticks its z axis alike)
        ticks = ticks[:4] if kind == "2dcontour" else ticks
        each = 2 if kind == "3dsurface" else 1
        check(len(set(ticks)) >= 4 and len(ticks) == each * len(set(ticks)),
              f"fine levels: the {kind} colour bar's ticks differ ({ticks})")
    check("set format" not in open("fig_flat/flat_train_loss_2dcontour_log.gp").read() and
          "set format" not in open("fig2/s2_train_loss_3dsurface.gp").read(),
          "levels that 6 digits tell apart: gnuplot's default tick format")
    r = run("plot", "const.h5", "--formats", "png", "--what", "train_loss", "--out-dir", "fig_const")
    check("train loss is 0.6 at every point, so its contour maps are empty" in r.stderr,
          f"a constant surface on a contour level: noted ({r.stderr.strip()[:200]})")

    # ---- 1D with --log: nothing plottable yet, or losses all above --loss-max, or 100 % train
    # accuracy (an error of 0 everywhere) still plots; only the loss axis is logarithmic ----
    write_surface("n1.h5", 9, 0, unfinished=np.ones(9, bool))
    write_surface("hi1.h5", 9, 0)
    write_surface("acc1.h5", 9, 0)
    with h5py.File("acc1.h5", "a") as f:
        f["train_acc"][...] = 100.0
    for surf, extra, why in (("n1.h5", [], "nothing computed yet"),
                             ("hi1.h5", ["--loss-max", "0.01"], "every loss above --loss-max"),
                             ("acc1.h5", [], "train error 0 everywhere")):
        shutil.rmtree("fig_log1", ignore_errors=True)
        r = run("plot", surf, "--log", "--formats", "png", "--out-dir", "fig_log1", *extra,
                expect_ok=False)
        stem = surf[:-3]
        made = [f for f in ("1d_loss_acc_log", "1d_train_loss_log", "1d_train_err_log")
                if os.path.exists(f"fig_log1/{stem}_{f}.png")]
        check(r.returncode == 0 and len(made) == 3,
              f"1D --log, {why}: all three figures drawn ({r.returncode}: {r.stderr.strip()[-200:]})")
    err_gp = open("fig_log1/acc1_1d_train_err_log.gp").read()
    loss_gp = open("fig_log1/acc1_1d_train_loss_log.gp").read()
    check("set logscale y" not in err_gp and "set yrange [0:100]" in err_gp and
          "set logscale y" in loss_gp, "1D --log: the loss axis is logarithmic, the error's linear")

    # ---- a step past --vmax: the levels are vmin and vmax, none above ----
    run("plot", "s2.h5", "--vmin", "1", "--vlevel", "5", "--vmax", "3", "--formats", "png",
        "--what", "train_loss", "--out-dir", "fig_step")
    gp = open("fig_step/s2_train_loss_2dcontour.gp").read()
    line = [l for l in gp.splitlines() if "cntrparam levels" in l]
    check(line == ["set cntrparam levels discrete 1,3"],
          f"--vlevel beyond --vmax: the levels are vmin and vmax: {line}")

    # ---- file names gnuplot would take for commands (<...) or pipes (|...) are only names ----
    os.makedirs("odd", exist_ok=True)
    write_surface("odd/<touch INJECTED;x.h5", 5, 4)
    r = run("plot", "odd/<touch INJECTED;x.h5", "--formats", "png", "--what", "train_loss",
            "--out-dir", "odd", expect_ok=False)
    check(r.returncode == 0 and not os.path.exists("INJECTED") and not os.path.exists("odd/INJECTED")
          and os.path.exists("odd/<touch INJECTED;x_train_loss_2dheat.png"),
          f"a surface named '<touch INJECTED;x.h5' is plotted, no command run ({r.returncode}: "
          f"{r.stderr.strip()[-200:]})")

    # ---- LOSSCAPE_GNUPLOT as a relative path (gnuplot runs in the figures' folder) ----
    os.makedirs("gbin", exist_ok=True)
    if not os.path.exists("gbin/gnuplot"):
        os.symlink(GNUPLOT, "gbin/gnuplot")
    r = run("plot", "s2.h5", "--formats", "png", "--what", "train_loss", "--out-dir", "fig_rel",
            env=dict(os.environ, LOSSCAPE_GNUPLOT="gbin/gnuplot"), expect_ok=False)
    check(r.returncode == 0 and os.path.exists("fig_rel/s2_train_loss_2dheat.png"),
          f"LOSSCAPE_GNUPLOT=gbin/gnuplot (relative) works ({r.returncode}: {r.stderr.strip()[-200:]})")
    # A gnuplot that crashes (a failed allocation in gnuplot ends in SIGSEGV: a 1001 x 1001 map's
    # filled contours take it ~2 GB): the error says memory may be why.
    with open("gbin/crash", "w") as f:
        f.write("#!/bin/sh\nkill -SEGV $$\n")
    os.chmod("gbin/crash", 0o755)
    r = run("plot", "s2.h5", "--formats", "png", "--what", "train_loss", "--out-dir", "fig_crash",
            env=dict(os.environ, LOSSCAPE_GNUPLOT=os.path.abspath("gbin/crash")), expect_ok=False)
    check(r.returncode == 1 and "killed by signal 11; out of memory?" in r.stderr
          and len(r.stderr.strip().splitlines()) == 1,
          f"a gnuplot killed by SIGSEGV: one line suggesting memory ({r.returncode}: {r.stderr.strip()})")
    # gnuplot failing on one figure (the contour map, the first) of a plot drawn before: the others are drawn
    # anew all the same, and the one line names the failure, the count drawn and the picture
    # left from the earlier plot (it no longer matches the new script and data beside it).
    r = run("plot", "s2.h5", "--formats", "png", "--what", "train_loss", "--out-dir", "fig_one")
    total = int(re.search(r"(\d+) figures", r.stdout).group(1))
    before = {n: os.path.getmtime(os.path.join("fig_one", n)) for n in os.listdir("fig_one")
              if n.endswith(".png")}
    with open("gbin/no3d", "w") as f:
        f.write("#!/bin/sh\ncase \"$3\" in *_2dcontour.gp) echo 'line 9: no contours today' >&2; exit 1;; esac\n"
                f"exec {GNUPLOT} \"$@\"\n")
    os.chmod("gbin/no3d", 0o755)
    time.sleep(1.1)
    r = run("plot", "s2.h5", "--formats", "png", "--what", "train_loss", "--out-dir", "fig_one",
            env=dict(os.environ, LOSSCAPE_GNUPLOT=os.path.abspath("gbin/no3d")), expect_ok=False)
    redrawn = sorted(n for n, t in before.items() if os.path.getmtime(os.path.join("fig_one", n)) > t)
    check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and
          "gnuplot failed on fig_one/s2_train_loss_2dcontour.gp (exit status 1): line 9: no contours today"
          in r.stderr and f"{total - 1} of {total} figures drawn" in r.stderr and
          "s2_train_loss_2dcontour.png is an earlier plot's" in r.stderr and
          len(redrawn) == total - 1 and "s2_train_loss_2dcontour.png" not in redrawn,
          f"gnuplot failing on one figure: the others drawn, one line naming it and the earlier "
          f"picture left ({r.returncode}: {r.stderr.strip()}; redrawn {redrawn})")
    listed = sorted(os.path.basename(line) for line in r.stdout.splitlines() if line.endswith(".png"))
    check(listed == redrawn, f"... and the pictures drawn are listed on stdout, as a whole plot's "
          f"(plotting.md: every image it wrote; nothing was): {listed}")
    # A picture cut short (gnuplot says nothing when a write fails: a full disk left a PNG of 12 kB
    # of 58 under its final name, exit 0): refused for each format, nothing left in its place.
    with open("gbin/short", "w") as f:
        f.write(f"#!/bin/sh\n{GNUPLOT} \"$@\" || exit $?\n"
                "for f in *.writing; do [ -f \"$f\" ] && truncate -s 3000 \"$f\"; done\nexit 0\n")
    os.chmod("gbin/short", 0o755)
    for fmt in ("png", "pdf", "svg"):
        r = run("plot", "s2.h5", "--formats", fmt, "--what", "train_loss", "--out-dir", "fig_short",
                env=dict(os.environ, LOSSCAPE_GNUPLOT=os.path.abspath("gbin/short")), expect_ok=False)
        left = [n for n in os.listdir("fig_short") if n.endswith((".png", ".pdf", ".svg", ".writing"))]
        check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and
              re.search(rf"s2_train_loss_\w+\.{fmt} cut short \(3000 bytes, not a whole picture\)", r.stderr)
              and not left, f"a {fmt} cut short: refused in one line, none left ({r.returncode}: "
              f"{r.stderr.strip()}; {left})")

    # Ctrl-C or scancel while gnuplot draws: gnuplot is ended with plot and its temporaries are
    # removed (gnuplot went on, and left NAME.png.PID.writing, after plot had gone). The stand-in
    # draws (the temporaries are there), records its pid, then waits as a slow gnuplot would.
    with open("gbin/slow", "w") as f:
        f.write(f"#!/bin/sh\n{GNUPLOT} \"$@\" || exit $?\necho $$ > \"$SLOW_DIR/slow.pid\"\nexec sleep 120\n")
    os.chmod("gbin/slow", 0o755)
    for sig in (signal.SIGTERM, signal.SIGINT):
        for n in ("slow.pid",):
            if os.path.exists(n):
                os.remove(n)
        # (its own session: a SIGINT to a background child of a non-interactive shell is ignored)
        p = subprocess.Popen([LOSSCAPE, "plot", "s2.h5", "--formats", "png,svg", "--what", "train_loss",
                              "--out-dir", "fig_sig"], env=dict(os.environ, LOSSCAPE_GNUPLOT=os.path.abspath("gbin/slow"),
                                                                SLOW_DIR=WORK),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for _ in range(3000):
            if os.path.exists("slow.pid") or p.poll() is not None:
                break
            time.sleep(0.02)
        time.sleep(0.2)
        writing = sorted(n for n in os.listdir("fig_sig") if n.endswith(".writing"))
        p.send_signal(sig)
        p.communicate(timeout=60)
        gp_pid = int(open("slow.pid").read()) if os.path.exists("slow.pid") else 0
        time.sleep(0.2)
        alive = gp_pid > 0 and os.path.exists(f"/proc/{gp_pid}") and \
            "Z" not in open(f"/proc/{gp_pid}/stat").read().split()[2]
        left = sorted(n for n in os.listdir("fig_sig") if n.endswith(".writing"))
        check(len(writing) == 2 and p.returncode == -sig and left == [] and gp_pid > 0 and not alive,
              f"plot ended by {sig.name} while gnuplot draws: gnuplot ended, its temporaries removed "
              f"(during: {writing}; exit {p.returncode}; left {left}; gnuplot {gp_pid} alive: {alive})")

    # ---- levels: every one listed (gnuplot's incremental form lost 2.4 to 2.1 + 3 * 0.1), a
    # bounded count, finite values; the 3D colours on the maps' scale ----
    run("plot", "s2.h5", "--vmin", "2.1", "--vlevel", "0.1", "--vmax", "2.4", "--formats", "png",
        "--what", "train_loss", "--out-dir", "fig_lv")
    gp = open("fig_lv/s2_train_loss_2dcontour.gp").read()
    line = [l for l in gp.splitlines() if "cntrparam levels" in l]
    check(line == ["set cntrparam levels discrete 2.1,2.2,2.3,2.4"], f"levels 2.1:0.1:2.4 all listed: {line}")
    check("set cbrange [vmin:vmax]" in open("fig_lv/s2_train_loss_3dsurface.gp").read(),
          "3D: the colour range is vmin..vmax, as in the maps")
    # the filled map's colour bar: tics on every other band edge, on fewer for many bands (about
    # ten: 100 labels of a fine --vlevel lay on top of each other)
    for vlevel, every in (("0.5", 2), ("0.05", 20)):
        run("plot", "s2.h5", "--vmin", "0.1", "--vlevel", vlevel, "--vmax", "10", "--formats", "png",
            "--what", "train_loss", "--out-dir", "fig_cb")
        tics = [l for l in open("fig_cb/s2_train_loss_2dcontourf.gp").read().splitlines() if l.startswith("set cbtics")]
        check(tics == [f"set cbtics 0.1, vlevel * {every}"], f"--vlevel {vlevel}: colour bar tics every {every} levels ({tics})")
    for args, want in ((["--vlevel", "1e-9"], "contour levels; at most 1000"),
                       (["--vmax", "inf"], "--vmax must be finite"),
                       (["--vmin", "nan"], "--vmin must be finite"),
                       # (gnuplot failed on both: "empty cb range", "colorbox value undefined")
                       (["--vmin", "1", "--vmax", "1.000000000001", "--vlevel", "1e-13"],
                        "differ by less than 1e-9 of their size"),
                       (["--vmin", "1e308", "--vmax", "1.7e308", "--vlevel", "1e307"],
                        "levels beyond ±1e300 overflow gnuplot's colour range")):
        shutil.rmtree("fig_bad", ignore_errors=True)
        r = run("plot", "s2.h5", *args, "--out-dir", "fig_bad", expect_ok=False)
        left = os.listdir("fig_bad") if os.path.isdir("fig_bad") else []
        check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and want in r.stderr
              and not left,
              f"plot {' '.join(args)}: one line '{want}', nothing written ({r.returncode}: "
              f"{r.stderr.strip()[-200:]})")

    # ---- values that were drawn or said wrong: a 1D loss wholly above --loss-max (empty axes
    # without a word), an accuracy NaN beside a finite loss (named as the loss), -inf on a filled
    # map (a white "below vmin" band for a value drawn as a gap), DBL_MAX (written as 1.8e+308,
    # read back by gnuplot as infinity), a surface narrower than 6 digits (said to lie in [1, 1]) ----
    write_surface("odd1.h5", 11, 0)
    with h5py.File("odd1.h5", "r+") as f:
        f["train_loss"][...] = f["train_loss"][()] + 50
        acc = f["train_acc"][()]
        acc[3] = np.nan
        f["train_acc"][...] = acc
    r = run("plot", "odd1.h5", "--what", "train_loss,train_acc", "--formats", "png", "-o", "fig_odd1")
    check("train loss lies in [" in r.stderr and "above the loss axis (0 to --loss-max 5): nothing of it is drawn" in r.stderr
          and "(train accuracy (%);" in r.stderr, f"1D: a loss above the axis and a NaN accuracy said: {r.stderr.strip()}")
    r = run("plot", "odd1.h5", "--loss-max", "100", "--formats", "png", "-o", "fig_odd1b")
    check("above the loss axis" not in r.stderr, f"... not once --loss-max is above it ({r.stderr.strip()})")
    write_surface("odd2.h5", 9, 7)
    with h5py.File("odd2.h5", "r+") as f:
        z = f["train_loss"][()]
        z[3, 4], z[0, 0] = -np.inf, np.finfo(np.float64).max
        f["train_loss"][...] = z
    run("plot", "odd2.h5", "--what", "train_loss", "--vmin", "0.5", "--formats", "png", "-o", "fig_odd2")
    gp = open("fig_odd2/odd2_train_loss_2dcontourf.gp").read()
    dat = open("fig_odd2/odd2_train_loss_2dcontourf.dat").read()
    check("set cbrange [0.5:" in gp and "values below the first level" not in gp and
          "1.7976931348623157e+308" in dat,
          f"2D: -inf no band below vmin ({[l for l in gp.splitlines() if 'cbrange' in l]}), DBL_MAX written "
          f"as itself ({'1.7976931348623157e+308' in dat})")
    write_surface("odd3.h5", 9, 7)
    with h5py.File("odd3.h5", "r+") as f:
        z = f["train_loss"][()]
        f["train_loss"][...] = 1 + (z - z.min()) * 1e-12
    r = run("plot", "odd3.h5", "--what", "train_loss", "--formats", "png", "-o", "fig_odd3")
    m = re.search(r"train loss lies in \[([^,]+), ([^\]]+)\]", r.stderr)
    check(m is not None and m.group(1) != m.group(2), f"a range finer than 6 digits: told apart ({r.stderr.strip()})")

    # ---- outputs replace what is at their names (a link there is not written through) ----
    os.makedirs("fig_link", exist_ok=True)
    shutil.copy("s1.h5", "victim.h5")
    before = open("victim.h5", "rb").read()
    for ext in ("dat", "gp", "png"):
        link = f"fig_link/s2_train_loss_2dheat.{ext}"
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.abspath("victim.h5"), link)
    run("plot", "s2.h5", "--what", "train_loss", "--formats", "png", "--out-dir", "fig_link")
    check(open("victim.h5", "rb").read() == before and
          not any(os.path.islink(f"fig_link/s2_train_loss_2dheat.{e}") for e in ("dat", "gp", "png"))
          and png_size("fig_link/s2_train_loss_2dheat.png") == (800, 600) and
          not [f for f in os.listdir("fig_link") if f.endswith(".writing")],
          "links at the figure's names are replaced, their targets untouched, no temporaries left")

    # ---- points spread over the grid (a fan-out's part file) with no complete sub-grid but the
    # corners: drawn on every grid line, not as a plane through the 4 corners ----
    iy, ix = np.mgrid[0:7, 0:7]
    part = (ix + iy) % 3 != 0
    part[3, 3] = True  # (else lines 0, 3, 6 would be a complete sub-grid through the centre)
    write_surface("part.h5", 7, 7, unfinished=part)
    r = run("plot", "part.h5", "--what", "train_loss", "--formats", "png", "--out-dir", "fig_part")
    gp = open("fig_part/part_train_loss_2dcontour.gp").read()
    dat = np.genfromtxt("fig_part/part_train_loss_2dcontour.dat")
    check(f"{int((~part).sum())} of 49 points done" in gp and "drawn on every" not in gp and
          dat.shape[0] == 49, "a part file is drawn on every grid line, not on its 4 corners")

    # ---- a grid finer than the picture: maps and 3D surface on about one line per pixel of the
    # plot area (a complete 1001 x 1001 surface took gnuplot 2.1 GB and 37 s), counted from the
    # line through theta* and with both ends; the heatmap and --full-resolution keep every line;
    # the thinned map's contour lines lie within a pixel of those of the full grid ----
    L = write_surface("fine.h5", 701, 301)
    r = run("plot", "fine.h5", "--what", "train_loss", "--formats", "png", "--size", "400x300",
            "--out-dir", "fig_fine")
    check("the 701x301 grid is finer than the pictures" in r.stderr and
          r.stderr.count("finer than the pictures") == 1, f"thinned maps are noted once: {r.stderr}")

    def lines_kept(n, anchor, budget):
        """Every m-th index from the anchor plus both ends, m the least for which the lines of
        step m span the axis in at most budget - 1 cells."""
        m = 1
        while (n - 1) / m > budget - 1:
            m += 1
        return sorted({0, n - 1} | {i for i in range(n) if abs(i - anchor) % m == 0}), m

    def ordinal_en(k):
        return f"{k}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(k if k < 20 else k % 10, 'th') }"

    def grid_lines(dat_file):
        d = np.genfromtxt(dat_file)
        return np.unique(d[:, 0]), np.unique(d[:, 1]), d

    xs_all, ys_all = np.linspace(-1, 1, 701), np.linspace(-1, 1, 301)
    for kind, bx, by in (("2dcontour", 300, 225), ("2dcontourf", 300, 225), ("3dsurface", 200, 200)):
        gx, gy, d = grid_lines(f"fig_fine/fine_train_loss_{kind}.dat")
        (kx, mx), (ky, my) = lines_kept(701, 350, bx), lines_kept(301, 150, by)
        check(np.allclose(gx, xs_all[kx]) and np.allclose(gy, ys_all[ky]) and
              len(gx) <= bx + 2 and len(gy) <= by + 2 and 0.0 in gx and 0.0 in gy,
              f"{kind}: alpha lines every {mx}, beta every {my} from theta*'s, ends kept "
              f"({len(gx)} x {len(gy)} of 701 x 301)")
        want = L[np.ix_(ky, kx)].ravel()
        check(d.shape[0] == len(kx) * len(ky) and np.allclose(d[:, 2], want, rtol=1e-9),
              f"{kind}: the values drawn are the surface's at those nodes")
        head = open(f"fig_fine/fine_train_loss_{kind}.dat").read(600)
        check(f"every {ordinal_en(mx)} alpha line and every {ordinal_en(my)} beta line" in head,
              f"{kind}: the data file says which lines it holds")
    gx, gy, _ = grid_lines("fig_fine/fine_train_loss_2dheat.dat")
    check(len(gx) == 701 and len(gy) == 301, "the heatmap has every node")
    r = run("plot", "fine.h5", "--what", "train_loss", "--formats", "png", "--size", "400x300",
            "--out-dir", "fig_full", "--full-resolution")
    check("finer than the pictures" not in r.stderr, "--full-resolution: no note")
    for kind in ("2dcontour", "3dsurface"):
        gx, gy, _ = grid_lines(f"fig_full/fine_train_loss_{kind}.dat")
        check(len(gx) == 701 and len(gy) == 301, f"--full-resolution: {kind} has every line")

    def contour_table(dat_file, levels):
        """gnuplot's own contour lines of a data file: {level: array of (x, y)}."""
        script = (f"set table 'contours.txt'\nunset surface\nset contour base\n"
                  f"set cntrparam levels discrete {','.join(map(str, levels))}\n"
                  f"splot '{dat_file}' using 1:2:3 with lines\n")
        subprocess.run([GNUPLOT], input=script, text=True, check=True, capture_output=True)
        out, level = {}, None
        for line in open("contours.txt"):
            found = re.match(r"# Contour \d+, label:\s*(\S+)", line)
            if found:
                level = float(found.group(1))
            elif line.strip() and not line.startswith("#") and level is not None:
                out.setdefault(level, []).append(list(map(float, line.split()[:2])))
        return {k: np.array(v) for k, v in out.items()}

    levels = [0.6, 1.1, 2.1, 4.1, 8.1]
    thin = contour_table("fig_fine/fine_train_loss_2dcontour.dat", levels)
    full = contour_table("fig_full/fine_train_loss_2dcontour.dat", levels)
    # a pixel of the plot area (3/4 of 400 x 300) in data units, the finer axis's
    worst = 0.0
    for level in levels:
        a, b = thin.get(level, np.zeros((0, 2))), full.get(level, np.zeros((0, 2)))
        check(len(a) > 0 and len(b) > 0, f"contour {level} drawn in both")
        for chunk in np.array_split(a, max(1, len(a) // 500)):
            dist = np.sqrt(((chunk[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
            worst = max(worst, float(dist.max()))
    pixel = min(2 / 300, 2 / 225)
    check(worst < pixel, f"the thinned map's contours lie within a pixel of the full grid's "
          f"({worst:.2e} < {pixel:.2e} in data units)")

    # A surface in progress whose computed points all lie off the lines kept (alpha columns 1
    # and 3 of 1001): drawn on every line rather than said to have no value; a note shared by
    # several figures (holes, thinning) is printed once
    cols = np.ones((41, 1001), bool)
    cols[:, [1, 3]] = False
    write_surface("cols.h5", 1001, 41, unfinished=cols)
    r = run("plot", "cols.h5", "--what", "train_loss", "--formats", "png", "--size", "400x300",
            "--out-dir", "fig_cols")
    d = np.genfromtxt("fig_cols/cols_train_loss_3dsurface.dat")
    check("no finite value" not in r.stderr and np.isfinite(d[:, 2]).sum() == 2 * 41,
          f"computed points off the thinned lines: drawn whole ({np.isfinite(d[:, 2]).sum()} "
          f"values; {r.stderr.strip()[:200]})")
    write_surface("holes.h5", 701, 301)
    with h5py.File("holes.h5", "a") as f:
        f["train_loss"][100, 100] = np.nan
    r = run("plot", "holes.h5", "--what", "train_loss", "--formats", "png", "--size", "400x300",
            "--out-dir", "fig_holes")
    notes = [l for l in r.stderr.splitlines() if l.startswith("losscape: note:")]
    check(len(notes) == 2 and len(set(notes)) == 2 and any("finer than the pictures" in n for n in notes)
          and any("NaN or infinite" in n for n in notes),
          f"two notes (holes, thinning), each once: {notes}")

    # ---- -o fig.png (sweep's -o names a file): refused, no folder fig.png made ----
    for name in ("fig.png", "figs.PNG"):
        r = run("plot", "s2.h5", "-o", name, expect_ok=False)
        check(r.returncode == 1 and "is the folder for the figures, not an image" in r.stderr and
              len(r.stderr.strip().splitlines()) == 1 and not os.path.exists(name),
              f"plot -o {name}: one line, nothing made ({r.returncode}: {r.stderr.strip()})")

    # ---- coordinates of another tool's file: NaN or repeated refused; uneven noted ----
    for name, xs, want in (("refnan.h5", [-1, -0.5, np.nan, 0.5, 1], "xcoordinates[2] is nan"),
                           ("refdup.h5", [-1, 0, 0, 0.5, 1], "xcoordinates [1] and [2] are 0, 0")):
        write_surface(name, 5, 4, reference=True)
        with h5py.File(name, "a") as f:
            f["xcoordinates"][...] = np.array(xs, float)
        for cmd in (["plot", name, "--out-dir", "fig_c"], ["export", name, "--vtp", "c.vtp"],
                    ["info", name]):
            r = run(*cmd, expect_ok=False)
            check(r.returncode == 1 and want in r.stderr and len(r.stderr.strip().splitlines()) == 1,
                  f"{cmd[0]} of a surface with {want}: refused ({r.returncode}: {r.stderr.strip()})")
    write_surface("uneven.h5", 5, 4, reference=True)
    with h5py.File("uneven.h5", "a") as f:
        f["xcoordinates"][...] = np.array([-1, -0.25, 0, 0.25, 1.0])
    r = run("plot", "uneven.h5", "--what", "train_loss", "--formats", "png", "--out-dir", "fig_u")
    check("the grid is not evenly spaced" in r.stderr, f"an uneven grid's heatmap is noted: {r.stderr}")

    # ---- axis scales: a unit of alpha as long as one of beta on the maps (the basin's shape as
    # it is: a square grid drew its round basin as an ellipse 1.45 times wider), unless the ranges
    # are over 3 times apart or --aspect free; measured on gnuplot's own plot area ----
    def plot_area(gp):
        """The plot area gnuplot draws for a figure's script: x0, x1, y0, y1 (GPVAL_TERM_*;
        pngcairo: pixels, y from the top), or None."""
        text = open(gp).read() + ('\nprint sprintf("AREA %g %g %g %g", GPVAL_TERM_XMIN, '
                                  'GPVAL_TERM_XMAX, GPVAL_TERM_YMIN, GPVAL_TERM_YMAX)\n')
        probe = gp[:-3] + "_area.gp"
        open(probe, "w").write(text)
        g = subprocess.run([GNUPLOT, os.path.basename(probe)], cwd=os.path.dirname(gp),
                           capture_output=True, text=True)
        found = re.search(r"AREA (\S+) (\S+) (\S+) (\S+)", g.stderr)
        return tuple(map(float, found.groups())) if found else None

    def area_ratio(gp):
        """Width / height of the plot area gnuplot draws for a figure's script."""
        area = plot_area(gp)
        if area is None:
            return float("nan")
        x0, x1, y0, y1 = area
        return abs(x1 - x0) / abs(y1 - y0)

    write_surface("sq.h5", 21, 21)
    maps = ("2dcontour", "2dcontourf", "2dheat")
    for args, name, want in ((["sq.h5"], "square grid", 1.0),
                             (["s2.h5", "--aspect", "equal"], "ranges 2 and 0.4, --aspect equal", None)):
        out = "fig_eq_" + name.split()[0]
        run("plot", *args, "--what", "train_loss", "--formats", "png", "--out-dir", out,
            "--size", "640x480")
        stem = f"{out}/{args[0][:-3]}_train_loss_"
        for kind in maps:
            got = area_ratio(stem + kind + ".gp")
            # (the heatmap's cells reach half a step beyond the outer coordinates)
            expect = want or ((2 + 2 / 14) / (0.4 + 0.4 / 8) if kind == "2dheat" else 2 / 0.4)
            check(abs(got / expect - 1) < 0.02, f"{name}: the {kind} map's plot area has the ranges' "
                  f"proportions ({got:.3f}, expected {expect:.3f})")
        check("equal" not in open(stem + "3dsurface.gp").read(),
              f"{name}: the 3D view keeps its square base")
    for args, name in ((["sq.h5", "--aspect", "free"], "--aspect free"),
                       (["s2.h5"], "ranges 5 times apart, auto")):
        out = "fig_free_" + name.split()[-1]
        run("plot", *args, "--what", "train_loss", "--formats", "png", "--out-dir", out,
            "--size", "640x480")
        got = area_ratio(f"{out}/{args[0][:-3]}_train_loss_2dcontour.gp")
        check(1.3 < got < 1.6, f"{name}: the contour map fills the plot area ({got:.3f})")
    write_surface("line1d.h5", 9, 0)
    for args, want in ((["sq.h5", "--aspect", "round"], "--aspect round: expected auto, equal or free"),
                       (["line1d.h5", "--aspect", "equal"], "--aspect sets the axis scales of 2D figures")):
        r = run("plot", *args, "--out-dir", "fig_bad", expect_ok=False)
        check(r.returncode == 1 and want in r.stderr and len(r.stderr.strip().splitlines()) == 1,
              f"plot {' '.join(args)}: one line, exit 1 ({r.returncode}: {r.stderr.strip()})")

    # ---- a larger --size draws the same figure with more pixels: text, lines and margins grow
    # with it (the plot area's place in the picture, from gnuplot's GPVAL_TERM_*, is the same
    # fraction at 800x600 and 2400x1800; with 10-point text at any size the margins were a
    # third as wide); a smaller one keeps its text ----
    def area_fractions(gp, width, height):
        area = plot_area(gp)
        return None if area is None else np.array(area) / [width, width, height, height]

    for surface, figure in (("sq.h5", "sq_train_loss_2dcontour"), ("line1d.h5", "line1d_1d_loss_acc")):
        fr = {}
        for size in ("800x600", "2400x1800"):
            run("plot", surface, "--formats", "png", "--size", size, "--out-dir", f"fig_size_{size}")
            fr[size] = area_fractions(f"fig_size_{size}/{figure}.gp", *map(int, size.split("x")))
        # (the script's width and height, edited by hand, scale it too)
        gp = open(f"fig_size_2400x1800/{figure}.gp").read()
        check("width = 2400; height = 1800" in gp, f"{figure}: the script's size")
        open(f"fig_size_2400x1800/{figure}_edited.gp", "w").write(
            gp.replace("width = 2400; height = 1800", "width = 800; height = 600"))
        fr["edited"] = area_fractions(f"fig_size_2400x1800/{figure}_edited.gp", 800, 600)
        check(fr["edited"] is not None and np.abs(fr["800x600"] - fr["edited"]).max() < 0.005,
              f"{figure}: the 2400x1800 script with width and height set to 800 and 600 draws the "
              f"800x600 figure ({fr['edited']})")
        ok = fr["800x600"] is not None and fr["2400x1800"] is not None
        check(ok and np.abs(fr["800x600"] - fr["2400x1800"]).max() < 0.005 and
              0.03 < fr["800x600"][0] < 0.3,
              f"{figure}: the plot area is the same part of an 800x600 and a 2400x1800 picture "
              f"({fr['800x600']} vs {fr['2400x1800']})")

    # ---- several 1D surfaces drawn together (the reference's plot_1d_loss_err_repeat) ----
    # One complete (losscape's layout), one in the reference's layout on another range, one in
    # progress (3 of 21 points missing), one a 2D grid of one point on beta (a line).
    La = write_surface("cmp_a.h5", 11, 0)
    Lb = write_surface("cmp_b.h5", 21, 0, xr=(-0.5, 1.5), reference=True)
    gap = np.zeros(21, bool)
    gap[[3, 10, 17]] = True
    Lc = write_surface("cmp_c.h5", 21, 0, unfinished=gap)
    Ld = write_surface("cmp_d.h5", 9, 1)[0]
    files = ["cmp_a.h5", "cmp_b.h5", "cmp_c.h5", "cmp_d.h5"]
    r = run("plot", *files, "--labels", "SB,LB,partial,line", "--formats", "png,svg", "-o", "cmp")
    outs = check_figures(r.stdout, "cmp", (800, 600), ("png", "svg"), "comparison")
    check(sorted(os.path.basename(o) for o in outs) ==
          sorted(f"compare_1d_{k}.{e}" for k in ("loss_acc", "train_loss", "train_err") for e in ("png", "svg")),
          f"comparison: loss_acc, train_loss and train_err figures ({[os.path.basename(o) for o in outs]})")
    blocks = open("cmp/compare_1d_train_loss.dat").read().strip().split("\n\n\n")
    want = [(np.linspace(-1, 1, 11), La), (np.linspace(-0.5, 1.5, 21), Lb),
            (np.linspace(-1, 1, 21), np.where(gap, np.nan, Lc)), (np.linspace(-1, 1, 9), Ld)]
    check(len(blocks) == 4, f"comparison: one data block per surface ({len(blocks)})")
    for k, (block, (x, v)) in enumerate(zip(blocks, want)):
        rows = np.array([[float(t) for t in l.split()] for l in block.splitlines() if not l.startswith("#")])
        check(rows.shape == (len(x), 2) and np.allclose(rows[:, 0], x) and
              np.allclose(rows[:, 1], v, rtol=1e-9, equal_nan=True),
              f"comparison: block {k} holds {files[k]}'s coordinates and train loss (NaN where not computed)")
    err = open("cmp/compare_1d_train_err.dat").read().strip().split("\n\n\n")[1]
    rows = np.array([[float(t) for t in l.split()] for l in err.splitlines() if not l.startswith("#")])
    check(np.allclose(rows[:, 1], 100 - 100 * np.exp(-Lb / 3)), "comparison: the error is 100 - accuracy")
    gp = open("cmp/compare_1d_train_loss.gp").read()
    check("train loss of 4 surfaces" in gp and "in progress: partial: 18 of 21 points" in gp and
          "set xrange [-1:1.5]" in gp, "comparison: title names the count, the surface in progress; "
          "x axis spans every range")
    svg = open("cmp/compare_1d_train_loss.svg").read()
    for colour, label in (("rgb( 31, 119, 180)", "SB"), ("rgb(255, 127,  14)", "LB"),
                          ("rgb( 44, 160,  44)", "partial"), ("rgb(214,  39,  40)", "line")):
        check(colour in svg and f">{label}<" in svg, f"comparison: {label} drawn in {colour} and named in the key")
    svg = open("cmp/compare_1d_loss_acc.svg").read()
    check(all(f">{t}<" in svg for t in ("train loss", "test loss", "train accuracy (%)", "test accuracy (%)",
                                        "SB", "LB", "partial", "line")) and "rgb(214,  39,  40)" in svg,
          "comparison: the loss and accuracy figure's key names the four kinds and each surface, in its colour")
    # a line's default label names its fixed coordinate; a NaN note names its file
    with h5py.File("cmp_nan.h5", "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 5)
        f["train_loss"] = np.array([1, 0.5, np.nan, 0.5, 1])
        f["train_acc"] = np.full(5, 50.0)
    r = run("plot", "cmp_a.h5", "cmp_d.h5", "cmp_nan.h5", "--formats", "png", "-o", "cmp_line")
    gp = open("cmp_line/compare_1d_train_loss.gp").read()
    check('title "cmp_d (β = -1)"' in gp and "cmp_nan.h5: 1 computed point has a NaN" in r.stderr,
          f"comparison: a line labelled with its fixed coordinate, the NaN note names its file ({r.stderr.strip()})")
    # the same file name in two folders: the curves are named by their paths
    os.makedirs("run1", exist_ok=True)
    os.makedirs("run2", exist_ok=True)
    shutil.copy("cmp_a.h5", "run1/s.h5")
    shutil.copy("cmp_c.h5", "run2/s.h5")
    r = run("plot", "run1/s.h5", "run2/s.h5", "--formats", "png", "--name", "sb_lb", "--log")
    gp = open("run1/sb_lb_1d_train_loss_log.gp").read()
    check('title "run1/s"' in gp and 'title "run2/s"' in gp and "set logscale y" in gp,
          "comparison: files of one name told apart by folder, in the first one's folder, --name, --log")
    # refused in one line, nothing written
    write_surface("cmp_2d.h5", 5, 4)
    with h5py.File("cmp_noacc.h5", "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 5)
        f["train_loss"] = np.ones(5)
    for args, want in ((["cmp_a.h5", "cmp_2d.h5"], "cmp_2d.h5 is a 2D surface (plot it alone)"),
                       (["cmp_a.h5", "cmp_b.h5", "--labels", "x"], "--labels names 1 curve for 2 surfaces"),
                       (["cmp_a.h5", "--labels", "x"], "--labels names the curves of several surfaces"),
                       (["cmp_a.h5", "--name", "../x"], "--name '../x': expected a plain file name"),
                       (["cmp_a.h5", "cmp_noacc.h5", "--what", "train_err"], "cmp_noacc.h5 has no train_acc"),
                       (["cmp_a.h5", "cmp_b.h5", "--vmax", "3"], "--vmax sets the levels and colours of 2D figures"),
                       (["cmp_a.h5", "cmp_b.h5", "--trajectory", "p.h5"], "--trajectory applies to the figures of one"),
                       (["cmp_a.h5", "./cmp_a.h5"], "./cmp_a.h5 is given twice"),
                       (["cmp_a.h5", "cmp_b.h5", "--name", "../up"], "--name '../up': expected a plain file name"),
                       (["cmp_a.h5", "cmp_b.h5", "--labels", "a\n2.5 7,b"],
                        "label 1 'a\\n2.5 7' is not one line of text"),
                       (["cmp_a.h5", "cmp_b.h5", "--labels", "a,,b"], "--labels 'a,,b': an empty item"),
                       (["cmp_a.h5", "cmp_b.h5", "--full-resolution"], "--full-resolution draws every grid line of 2D figures"),
                       (["cmp_a.h5", "cmp_b.h5", "--labels", "a,b,"], "--labels 'a,b,': an empty item"),
                       (["cmp_a.h5", "cmp_b.h5", "--formats", "png,,svg"], "--formats 'png,,svg': an empty item"),
                       (["cmp_a.h5", "cmp_b.h5", "--size", "4294967396x600"],
                        "--size: expected WIDTHxHEIGHT in pixels (e.g. 800x600), got '4294967396x600'"),
                       (["cmp_a.h5", "cmp_b.h5", "--size", "10x10"],
                        "--size 10x10: each side must be 16 to 20000 pixels")):
        r = run("plot", *args, "-o", "cmp_refused", expect_ok=False)
        check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and want in r.stderr and
              not os.path.exists("cmp_refused"),
              f"plot {' '.join(args)}: '{want}', nothing written ({r.returncode}: {r.stderr.strip()})")

    # a list option given twice is a usage error, as any option given twice (it was merged)
    r = run("plot", "cmp_a.h5", "cmp_b.h5", "--labels", "a", "--labels", "b", "-o", "cmp_refused",
            expect_ok=False)
    check(r.returncode == 2 and "--labels is given more than once" in r.stderr and
          not os.path.exists("cmp_refused"), f"--labels given twice: usage error ({r.returncode}: {r.stderr.strip()})")
    # backquotes in a surface's name and in --labels are text, not shell commands (gnuplot runs
    # `...` on any command line, inside double quotes too: `touch` made its file), and a line
    # break in a surface's name stays inside the scripts' comments (it ended one: a gnuplot error)
    shutil.copy("cmp_a.h5", "tick`touch PWNED1`.h5")
    shutil.copy("cmp_a.h5", "new\nline.h5")
    runs = [run("plot", "tick`touch PWNED1`.h5", "--formats", "png", "-o", "ticks", expect_ok=False),
            run("plot", "cmp_a.h5", "cmp_b.h5", "--labels", "a`touch PWNED2`,b", "--formats", "png",
                "-o", "ticks_labels", expect_ok=False),
            run("plot", "new\nline.h5", "--formats", "png", "-o", "ticks_newline", expect_ok=False)]
    made = [os.path.join(d, f) for d, _, fs in os.walk(".") for f in fs if f.startswith("PWNED")]
    gp = open("ticks_labels/compare_1d_train_loss.gp").read() if os.path.exists("ticks_labels") else ""
    check([r.returncode for r in runs] == [0, 0, 0] and not made and "a\\140touch PWNED2\\140" in gp and
          os.path.exists("ticks/tick`touch PWNED1`_1d_train_loss.png") and
          os.path.exists("ticks_newline/new\nline_1d_train_loss.png"),
          f"backquotes in a name or a label, a line break in a name: drawn, no command run "
          f"({[(r.returncode, r.stderr.strip()[-200:]) for r in runs]}; made {made})")
    # a surface of train and test, then one of test alone: the defaults every file has (test's)
    r = run("plot", "s1.h5", "test_only.h5", "--formats", "png", "-o", "cmp_test", expect_ok=False)
    check(r.returncode == 0 and sorted(os.listdir("cmp_test")) == sorted(
              f"compare_1d_{q}.{e}" for q in ("test_loss", "test_err", "loss_acc") for e in ("png", "gp", "dat")),
          f"train+test then test alone: the test split's figures ({r.returncode}: {r.stderr.strip()[-200:]}; "
          f"{sorted(os.listdir('cmp_test')) if os.path.isdir('cmp_test') else ''})")

    # ---- export: nothing left to write, bad --zmax, --interp too large ----
    write_surface("allnan.h5", 5, 4, unfinished=np.ones((4, 5), bool))
    # every other row and column computed (a sweep still coarse, a part file): points, no cells
    sparse = np.ones((5, 5), bool)
    sparse[::2, ::2] = False
    write_surface("sparse.h5", 5, 5, unfinished=sparse)
    for args, want in ((["allnan.h5"], "not computed, or NaN or infinite, everywhere"),
                       (["sparse.h5"], "sparse.h5: no grid cell has a value at all four corners (9 of 25 points"),
                       (["s2.h5", "--zmax", "-1", "--log"], "--zmax -1 clips every value"),
                       # (as typed: it said -0.20000000000000001)
                       (["s2.h5", "--zmax", "-0.2", "--log"], "--zmax -0.2 clips every value"),
                       (["s2.h5", "--zmax", "nan"], "--zmax must be finite"),
                       (["s2.h5", "--interp", "100000"], "--interp: at most 4001")):
        r = run("export", *args, "--vtp", "none.vtp", expect_ok=False)
        check(r.returncode == 1 and want in r.stderr and not os.path.exists("none.vtp"),
              f"export {' '.join(args)}: '{want}', nothing written ({r.returncode}: {r.stderr.strip()})")

    # --zmax <= 0 clips (the reference's h52vtp.py would not): said, with the count
    r = run("export", "s2.h5", "--vtp", "z0.vtp", "--zmax", "0")
    root, piece, a = parse_vtp("z0.vtp")
    check((a["zvalue"] == 0).all() and "losscape: note: --zmax 0 set 135 values above it to 0 (the "
          "reference's h52vtp.py takes a zmax <= 0 as no clipping" in r.stderr,
          f"export --zmax 0: every value clipped, with a note ({r.stderr.strip()})")
    r = run("export", "s2.h5", "--vtp", "z3.vtp", "--zmax", "3")
    check("note" not in r.stderr, f"export --zmax 3: no note ({r.stderr.strip()})")
    # an image's name in capitals is an image's name too (x.PNG was written as XML)
    r = run("export", "s2.h5", "--vtp", "s2.PNG", expect_ok=False)
    check(r.returncode == 1 and "--vtp s2.PNG: a png image's name" in r.stderr and not os.path.exists("s2.PNG"),
          f"export --vtp NAME.PNG: refused ({r.stderr.strip()})")
    # coordinates that are not one-dimensional (a (2, 2) x read as 4 values)
    with h5py.File("coords2d.h5", "w") as f:
        f["xcoordinates"] = np.array([[-1, -1 / 3], [1 / 3, 1]])
        f["ycoordinates"] = np.linspace(-0.5, 0.5, 3)
        f["train_loss"] = np.arange(12.0).reshape(3, 4)
    for cmd in (["export", "coords2d.h5", "--vtp", "none.vtp"], ["plot", "coords2d.h5", "-o", "fig_c2d"]):
        r = run(*cmd, expect_ok=False)
        check(r.returncode == 1 and r.stderr.strip() == "losscape: error: coords2d.h5: xcoordinates has "
              "shape (2, 2); coordinates are one-dimensional" and not os.path.exists("none.vtp"),
              f"{cmd[0]} of a surface with 2D xcoordinates: refused ({r.returncode}: {r.stderr.strip()})")
    one = np.zeros((4, 5), bool)
    one[2, 3] = True
    write_surface("one_left.h5", 5, 4, unfinished=one)
    r = run("export", "one_left.h5", "--vtp", "one_left.vtp")
    check("warning: 1 grid point is not computed" in r.stderr, f"one point missing: singular ({r.stderr.strip()})")
    # A Ctrl-C or scancel during a long write (--interp 4001 is ~3 GB) leaves no NAME.PID.writing
    # behind (it was left, named by the PID, so that no later export replaced it).
    p = subprocess.Popen([LOSSCAPE, "export", "s2.h5", "--vtp", "big.vtp", "--interp", "4001"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    writing = []
    for _ in range(6000):
        writing = [n for n in os.listdir(".") if n.startswith("big.vtp.") and n.endswith(".writing")]
        if writing or p.poll() is not None:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=120)
    left = [n for n in os.listdir(".") if n.startswith("big.vtp")]
    check(writing and p.returncode == -signal.SIGTERM and left == [],
          f"export killed (SIGTERM) while writing: its temporary removed ({writing}, {p.returncode}, left {left})")

    # ---- a FIFO or a folder given as the surface: refused by name, never opened (a FIFO blocks) ----
    os.mkfifo("fifo.h5")
    for cmd in (["info", "fifo.h5"], ["plot", "fifo.h5"], ["export", "fifo.h5", "--vtp", "x.vtp"],
                ["plot", "s2.h5", "--trajectory", "fifo.h5"], ["info", "fig2"]):
        try:
            r = subprocess.run([LOSSCAPE, *cmd], capture_output=True, text=True, timeout=60)
            rc, err = r.returncode, r.stderr.strip()
        except subprocess.TimeoutExpired:
            rc, err = None, "blocked"
        check(rc == 1 and len(err.splitlines()) == 1 and
              ("not a regular file" in err or "is a folder" in err or "not a projection" in err),
              f"losscape {' '.join(cmd)}: one line, exit 1 ({rc}: {err})")

    # ---- a 1D surface in progress with a diverged point: still drawn on its coarse sub-grid (the
    # computed points, NaN or not, decide which sub-grid is complete: it fell back to every line,
    # isolated points between gaps, an empty curve) ----
    pending = np.ones(17, bool)
    pending[::4] = False
    write_surface("prog1d.h5", 17, 0, xr=(-0.5, 1.5), unfinished=pending)
    with h5py.File("prog1d.h5", "r+") as f:
        v = f["train_loss"][()]
        v[0] = np.nan
        f["train_loss"][...] = v
    r = run("plot", "prog1d.h5", "--what", "train_loss", "--formats", "png", "-o", "fig_prog1d", expect_ok=False)
    rows = np.atleast_2d(np.genfromtxt("fig_prog1d/prog1d_1d_train_loss.dat"))
    check(r.returncode == 0 and len(rows) == 5 and np.allclose(rows[:, 0], np.linspace(-0.5, 1.5, 5)),
          f"a 1D surface in progress with a NaN point: drawn on every 4th point ({r.returncode}: {len(rows)} rows)")

    # ---- options: a format given twice, an infinite --loss-max, levels for 1D curves ----
    r = run("plot", "s1.h5", "--formats", "png,png", "-o", "fig_twice", expect_ok=False)
    check(r.returncode == 0 and "s1_1d_loss_acc.png" in os.listdir("fig_twice"),
          f"--formats png,png: each picture once ({r.returncode}: {r.stderr.strip()})")
    r = run("plot", "s1.h5", "--loss-max", "inf", "-o", "fig_inf", expect_ok=False)
    check(r.returncode == 1 and "--loss-max must be > 0 and finite" in r.stderr and not os.path.exists("fig_inf"),
          f"--loss-max inf: refused before anything is written ({r.stderr.strip()})")
    r = run("plot", "s1.h5", "--vmin", "5", "--vmax", "1", "-o", "fig_vmin1d", expect_ok=False)
    check(r.returncode == 1 and "--vmin sets the levels and colours of 2D figures" in r.stderr,
          f"--vmin/--vmax on 1D curves: refused as 2D options, not as a bad range ({r.stderr.strip()})")

    # ---- two plots of the same figures at once (a watch loop beside a plot by hand): each
    # writes its own temporaries, both succeed, the pictures are whole ----
    for round_ in range(3):
        procs = [subprocess.Popen([LOSSCAPE, "plot", "s2.h5", "--formats", "png", "-o", "fig_race"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate() for p in procs]
        left = [n for n in os.listdir("fig_race") if n.endswith(".writing")]
        check(all(p.returncode == 0 for p in procs) and not left,
              f"two plots at once, round {round_ + 1}: both exit 0, no temporaries left "
              f"({[p.returncode for p in procs]}: {[o[1].strip()[-200:] for o in outs]}; {left})")
    pngs = glob.glob("fig_race/*.png")
    check(pngs and all(open(p, "rb").read()[-8:] == b"IEND\xaeB`\x82" for p in pngs),
          f"and every picture is a whole PNG ({len(pngs)})")

    # ---- export --zmax: an infinite value is left out, not drawn at zmax ----
    write_surface("sinf.h5", 5, 4)
    with h5py.File("sinf.h5", "r+") as f:
        v = f["train_loss"][()]
        v[1, 1] = np.inf
        f["train_loss"][...] = v
    r = run("export", "sinf.h5", "--vtp", "sinf.vtp", "--zmax", "5", expect_ok=False)
    root, piece, a = parse_vtp("sinf.vtp")
    check(r.returncode == 0 and piece.get("NumberOfPoints") == "19" and piece.get("NumberOfPolys") == "8",
          f"export --zmax 5 with an infinite value: 19 points, the 4 cells around it left out "
          f"({piece.get('NumberOfPoints')} points, {piece.get('NumberOfPolys')} cells; {r.stderr.strip()})")

    conclude()


if __name__ == "__main__":
    main()

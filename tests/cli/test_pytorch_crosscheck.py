#!/usr/bin/env python3
"""Cross-check `losscape eval` and `losscape info` against PyTorch itself.

Models are built here in Python (a small CNN saved as TorchScript; the reference's resnet20 and
vgg9 with the reference's module names, saved as state dicts); data sets are written here in the
on-disk formats losscape reads (gzipped IDX laid out like Fashion-MNIST, CIFAR-10 binary).
PyTorch computes loss and accuracy on the same data, normalized here from the documented
constants; losscape must agree to a relative 1e-5. State dicts in torch.save's zip and legacy
formats (including one pickled as Python 2.7 did). Error cases (truncated files, wrong shapes)
must give one clear line naming the file.

Environment (set by CTest): LOSSCAPE, TEST_WORK_DIR. Exit 77 = skipped.
"""
import copy
import gzip
import json
import math
import os
import pickle
import struct
import sys

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {sys.executable} cannot import torch/numpy ({e}); "
          "apt-get install python3-torch python3-numpy", file=sys.stderr)
    sys.exit(77)

from clitest import check, conclude, losscape as run, setup  # noqa: E402

LOSSCAPE = setup("/tmp/losscape-crosscheck", fashion_mnist=False)
WORK = os.getcwd()
RTOL = 1e-5


def eval_json(*args):
    return json.loads(run("eval", "--json", *args).stdout)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def reference_metrics(model, x, y):
    """Mean cross-entropy, MSE on softmax vs one-hot, accuracy (%) computed by PyTorch."""
    model.eval()
    with torch.no_grad():
        logits = model(x).double()
    ce = F.cross_entropy(logits, y).item()
    mse = F.mse_loss(F.softmax(logits, 1), F.one_hot(y, 10).double()).item()
    acc = 100.0 * (logits.argmax(1) == y).sum().item() / len(y)
    return ce, mse, acc


def compare(tag, got, want_loss, want_acc, n):
    check(got["samples"] == n, f"{tag}: {n} samples (got {got['samples']})")
    check(rel(got["loss"], want_loss) <= RTOL,
          f"{tag}: loss {got['loss']:.9g} vs PyTorch {want_loss:.9g} "
          f"(rel {rel(got['loss'], want_loss):.2e})")
    check(abs(got["accuracy"] - want_acc) < 1e-9,
          f"{tag}: accuracy {got['accuracy']:.4f} vs PyTorch {want_acc:.4f}")


# ---------------------------------------------------------------------------------------------
# The documented subset rule (docs/data.md): the first N of a Fisher-Yates shuffle of 0..total-1
# driven by std::mt19937_64(seed) (j = i + g() % (total - i)), sorted. mt19937_64 written out here.
class MT19937_64:
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.mt = [seed & self.MASK]
        for i in range(1, 312):
            prev = self.mt[-1]
            self.mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & self.MASK)
        self.index = 312

    def _twist(self):
        mt = self.mt
        for i in range(312):
            x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            mt[i] = mt[(i + 156) % 312] ^ xa
        self.index = 0

    def __call__(self):
        if self.index >= 312:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & self.MASK


def documented_subset(total, samples, seed):
    idx = list(range(total))
    g = MT19937_64(seed)
    for i in range(samples):
        j = i + g() % (total - i)
        idx[i], idx[j] = idx[j], idx[i]
    return sorted(idx[:samples])


g = MT19937_64(5489)  # the C++ standard's check value: the 10000th output of a default engine
for _ in range(9999):
    g()
assert g() == 9981545732273789042, "MT19937_64 transcription is wrong"

# ---------------------------------------------------------------------------------------------
# Data files
rng = np.random.default_rng(2024)


def write_idx_dir(d, n_train, n_test):
    """Fashion-MNIST layout, gzipped: {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz."""
    os.makedirs(d)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        with gzip.open(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + pixels.tobytes())
        with gzip.open(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
        out[prefix] = (pixels, labels)
    return out


def write_cifar_dir(d, per_batch, n_test):
    """CIFAR-10 binary version: data_batch_1..5.bin, test_batch.bin; records of 1 + 3072 bytes."""
    os.makedirs(d)
    splits = {"train": [], "test": []}
    for name, n, split in [(f"data_batch_{i}.bin", per_batch, "train") for i in range(1, 6)] + \
                          [("test_batch.bin", n_test, "test")]:
        pixels = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        records = np.concatenate([labels[:, None], pixels.reshape(n, 3072)], axis=1)
        with open(os.path.join(d, name), "wb") as f:
            f.write(records.astype(np.uint8).tobytes())
        splits[split].append((pixels, labels))
    return {k: (np.concatenate([p for p, _ in v]), np.concatenate([l for _, l in v]))
            for k, v in splits.items()}


def normalized(pixels, mean, std):
    """(pixels / 255 - mean) / std per channel, from the documented constants, in float64."""
    x = pixels.astype(np.float64) / 255.0
    if x.ndim == 3:
        x = x[:, None]
    m = np.array(mean, dtype=np.float64)[None, :, None, None]
    s = np.array(std, dtype=np.float64)[None, :, None, None]
    return torch.from_numpy(((x - m) / s).astype(np.float32))


FMNIST = ([0.2860], [0.3530])
CIFAR = ([125.3 / 255, 123.0 / 255, 113.9 / 255], [63.0 / 255, 62.1 / 255, 66.7 / 255])


def randomize_bn(model, gen):
    """Non-trivial BatchNorm running statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.num_batches_tracked.fill_(17)


# ---------------------------------------------------------------------------------------------
# 1. A model built in Python, saved as TorchScript, on gzipped IDX data (Fashion-MNIST layout).
class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.head = nn.Sequential(nn.Linear(16 * 7 * 7, 32), nn.BatchNorm1d(32), nn.ReLU(),
                                  nn.Linear(32, 10))

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.head(x.flatten(1))


gen = torch.Generator().manual_seed(11)
torch.manual_seed(11)
small = SmallNet()
randomize_bn(small, gen)
small.eval()
fm_dir = os.path.join(WORK, "fashion-mnist")
fm = write_idx_dir(fm_dir, n_train=150, n_test=300)
ts_file = os.path.join(WORK, "small.pt")
torch.jit.save(torch.jit.script(small), ts_file)
torch.save(small.state_dict(), os.path.join(WORK, "small_state_dict.pt"))

x_test = normalized(fm["t10k"][0], *FMNIST)
y_test = torch.from_numpy(fm["t10k"][1].astype(np.int64))
ce, mse, acc = reference_metrics(small, x_test, y_test)
common = ["--model-file", ts_file, "--dataset", "fashion-mnist", "--data-dir", fm_dir,
          "--device", "cpu"]
compare("torchscript, fashion-mnist test, crossentropy",
        eval_json(*common, "--batch-size", "64"), ce, acc, 300)
got = eval_json(*common, "--batch-size", "7", "--loss", "mse")
check(got["loss_kind"] == "mse", "--loss mse is reported")
compare("torchscript, fashion-mnist test, mse", got, mse, acc, 300)
compare("torchscript, automatic batch size", eval_json(*common), ce, acc, 300)

x_train = normalized(fm["train"][0], *FMNIST)
y_train = torch.from_numpy(fm["train"][1].astype(np.int64))
ce, _, acc = reference_metrics(small, x_train, y_train)
compare("torchscript, fashion-mnist train", eval_json(*common, "--split", "train", "-b", "32"),
        ce, acc, 150)

sub = documented_subset(300, 50, 7)
ce, _, acc = reference_metrics(small, x_test[sub], y_test[sub])
compare("torchscript, --samples 50 --subset-seed 7 (documented rule)",
        eval_json(*common, "--samples", "50", "--subset-seed", "7", "-b", "16"), ce, acc, 50)

raw = torch.from_numpy(fm["t10k"][0].astype(np.float32) / 255.0)[:, None]
ce, _, acc = reference_metrics(small, raw, y_test)
compare("torchscript, --raw-data", eval_json(*common, "--raw-data", "-b", "300"), ce, acc, 300)


# A module that changes its input in place (normalizing it with `x.sub_`): every pass reads the
# data set as it is (the batch was a view of the resident data: the layout timing's passes and
# each later batch saw it changed, 4.78 for 2.28); and one that flattens a convolution's output
# with .view(), which fails in channels-last: --memory-format auto runs it in NCHW (it was refused)
class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        x.sub_(0.1)
        return self.fc(F.relu(self.conv(x)).flatten(1))


class ViewAfterConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 28 * 28, 10)

    def forward(self, x):
        out = F.relu(self.conv2(F.relu(self.conv(x))))
        return self.fc(out.view(out.size(0), -1))


for cls in (InPlace, ViewAfterConv):
    torch.manual_seed(0)
    net = cls().eval()
    path = os.path.join(WORK, cls.__name__ + ".pt")
    torch.jit.save(torch.jit.script(net), path)
    with torch.no_grad():
        ce, _, acc = reference_metrics(net, x_test.clone(), y_test)
    args = [a if a != ts_file else path for a in common]
    compare(f"torchscript {cls.__name__}, --memory-format auto, batch auto", eval_json(*args), ce, acc, 300)
    compare(f"torchscript {cls.__name__}, -b 64", eval_json(*args, "-b", "64"), ce, acc, 300)

# --memory-format nhwc given for a module that fails in channels-last: said with the option and
# the way out (a given batch size ran no timing, and the first point failed, "the same command
# resumes"); the file made then resumes in NCHW
view_sweep = ["sweep", "--model-file", os.path.join(WORK, "ViewAfterConv.pt"), "--dataset", "fashion-mnist",
              "--data-dir", fm_dir, "--device", "cpu", "--samples", "20", "--x", "-1:1:3", "--quiet",
              "--out", os.path.join(WORK, "view.h5")]
for batch in (["--batch-size", "10"], []):
    r = run(*view_sweep, "--memory-format", "nhwc", *batch, expect_ok=False)
    check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and
          "(in channels-last, as --memory-format nhwc asks: use --memory-format nchw, or auto, which falls back "
          "to NCHW)" in r.stderr, f"--memory-format nhwc {' '.join(batch)} for a module that fails in it: "
          f"named ({r.returncode}: {r.stderr.strip()})")
r = run(*view_sweep, "--memory-format", "nchw", expect_ok=False)
check(r.returncode == 0, f"... and the same sweep in NCHW completes ({r.returncode}: {r.stderr.strip()})")

# A module that computes in double: its float64 logits are scored in float64, as PyTorch does
# (they were rounded to float32 first: a relative error of ~1e-8 on large logits, not 1e-12).
# On --raw-data, pixels / 255 in float32 as numpy computes it, so that the inputs are the same
# bits (a normalization rounded otherwise moves large logits by as much).
class Double(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10).double()

    def forward(self, x):
        return self.fc(x.double().flatten(1))


torch.manual_seed(3)
double_net = Double().eval()
with torch.no_grad():
    double_net.fc.weight.mul_(40)
double_file = os.path.join(WORK, "double.pt")
torch.jit.save(torch.jit.script(double_net), double_file)
ce, mse, acc = reference_metrics(double_net, raw, y_test)
args = [a if a != ts_file else double_file for a in common]
for loss, want in (("crossentropy", ce), ("mse", mse)):
    got = eval_json(*args, "--raw-data", "-b", "64", "--loss", loss)
    check(rel(got["loss"], want) <= 1e-11 and abs(got["accuracy"] - acc) < 1e-9,
          f"torchscript in float64, {loss}: loss {got['loss']!r} vs PyTorch {want!r} "
          f"(rel {rel(got['loss'], want):.1e}), accuracy {got['accuracy']} vs {acc}")

# The network is part of a surface's identity: the same weights in another TorchScript module
# (its code changed) give another surface, and a resume with it was accepted, mixing the two into
# one file marked complete (zoo networks differ in their tensors' names or shapes already)
class SmallTanh(SmallNet):
    def forward(self, x):
        x = torch.tanh(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(torch.tanh(self.bn2(self.conv2(x))), 2)
        return self.head(x.flatten(1))


tanh_net = SmallTanh()
tanh_net.load_state_dict(small.state_dict())
tanh_file, again_file = os.path.join(WORK, "small_tanh.pt"), os.path.join(WORK, "small_again.pt")
torch.jit.save(torch.jit.script(tanh_net.eval()), tanh_file)
torch.jit.save(torch.jit.script(small), again_file)  # (the same module saved again: its code alike)
net_sweep = ["sweep", "--dataset", "fashion-mnist", "--data-dir", fm_dir, "--device", "cpu", "--samples", "40",
             "--x", "-1:1:3", "--batch-size", "40", "--quiet", "--out", os.path.join(WORK, "net.h5")]
r = run(*net_sweep, "--model-file", ts_file, "--stop-after", "1", expect_ok=False)
check(r.returncode == 75, f"a sweep of the TorchScript module stopped after 1 point ({r.returncode}: {r.stderr.strip()})")
before = open(os.path.join(WORK, "net.h5"), "rb").read()
r = run(*net_sweep, "--model-file", tanh_file, expect_ok=False)
check(r.returncode == 1 and "net.h5 belongs to another sweep: its network (the architecture, or a TorchScript "
      "module's code) is \"torchscript fnv1a64:" in r.stderr and
      open(os.path.join(WORK, "net.h5"), "rb").read() == before,
      f"a resume with the same weights in other code (tanh for relu): refused, file untouched ({r.stderr.strip()})")
r = run(*net_sweep, "--model-file", again_file, expect_ok=False)
check(r.returncode == 0, f"the same module saved again resumes it ({r.returncode}: {r.stderr.strip()})")
with h5py.File(os.path.join(WORK, "net.h5"), "r") as f:
    ident = json.loads(f.attrs["identity"])
check(ident.get("network", "").startswith("torchscript fnv1a64:"), f"the identity records the network ({ident})")

# A module traced in training mode: its BatchNorm uses batch statistics whatever the mode set
# later, and updates its running statistics in every forward (eval took it, its loss depending on
# the batch size); refused when loaded, naming the buffer. Traced in eval mode: taken, PyTorch's
# numbers.
traced_file, traced_eval_file = os.path.join(WORK, "traced_train.pt"), os.path.join(WORK, "traced_eval.pt")
example = torch.zeros(2, 1, 28, 28)
torch.jit.save(torch.jit.trace(copy.deepcopy(small).train(), example), traced_file)
torch.jit.save(torch.jit.trace(copy.deepcopy(small).eval(), example), traced_eval_file)
r = run("eval", "--model-file", traced_file, "--dataset", "fashion-mnist", "--data-dir", fm_dir, "--device", "cpu",
        expect_ok=False)
check(r.returncode == 1 and r.stderr.strip().startswith(f"losscape: error: {traced_file}: the TorchScript module "
                                                        "changes its bn1.") and "trace after model.eval()" in r.stderr,
      f"a module traced in training mode: refused ({r.stderr.strip()})")
ce_small, _, acc_small = reference_metrics(small, x_test, y_test)
compare("a module traced in eval mode", eval_json("--model-file", traced_eval_file, *common[2:], "--batch-size", "64"),
        ce_small, acc_small, 300)

info = json.loads(run("info", ts_file, "--input", "fashion-mnist", "--json").stdout)
sd = small.state_dict()
check([t["name"] for t in info["tensors"]] == list(sd.keys()),
      "torchscript: info lists the state dict's names in state_dict order")
check([t["shape"] for t in info["tensors"]] == [list(v.shape) for v in sd.values()],
      "torchscript: info lists the state dict's shapes")
check(info["parameters"] == sum(p.numel() for p in small.parameters()),
      f"torchscript: parameter count {info['parameters']}")
# A TorchScript module is its own architecture: another --arch is refused (it was recorded as the
# architecture of every file made with it); the name a stored configuration gives back is taken.
r = run("eval", *common, "--arch", "resnet20", expect_ok=False)
check(r.returncode == 1 and "small.pt is a TorchScript module" in r.stderr and "--arch resnet20" in r.stderr,
      f"torchscript with --arch resnet20: refused ({r.stderr.strip()})")
# ... and a TorchScript target for a zoo network is refused as a target, not for an --arch the
# user never gave (the zoo network's, passed on to the target's loading).
r = run("directions", "--arch", "cnn_small", "--dataset", "fashion-mnist", "--x-target", ts_file,
        "--dims", "1", "--out", os.path.join(WORK, "ts_target.h5"), expect_ok=False)
check(r.returncode == 1 and "small.pt: target model is a TorchScript module" in r.stderr and
      "--arch" not in r.stderr, f"a TorchScript target for cnn_small: refused as such ({r.stderr.strip()})")
as_stored = eval_json(*common, "--arch", "torchscript", "-b", "64", "--memory-format", "nchw")
check(as_stored["loss"] == eval_json(*common, "-b", "64", "--memory-format", "nchw")["loss"],
      f"torchscript with --arch torchscript (a stored configuration's): taken ({as_stored['loss']})")


# ---------------------------------------------------------------------------------------------
# 2. Zoo architectures with the reference's module names, loaded by name from state dicts.
class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, shortcut=True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.use_shortcut = shortcut
        if shortcut:
            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_shortcut:
            out = out + self.shortcut(x)
        return F.relu(out)


class ResNetCifar(nn.Module):
    def __init__(self, depth, width=1, shortcut=True, in_channels=3):
        super().__init__()
        n = (depth - 2) // 6
        self.in_planes = 16 * width
        self.conv1 = nn.Conv2d(in_channels, 16 * width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16 * width)
        self.layer1 = self._layer(16 * width, n, 1, shortcut)
        self.layer2 = self._layer(32 * width, n, 2, shortcut)
        self.layer3 = self._layer(64 * width, n, 2, shortcut)
        self.linear = nn.Linear(64 * width, 10)

    def _layer(self, planes, n, stride, shortcut):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.in_planes, planes, s, shortcut))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, 8)
        return self.linear(out.flatten(1))


class VGG9(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c, size = [], 3, 32
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                size //= 2
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(c * size * size, 256), nn.BatchNorm1d(256),
                                nn.ReLU(inplace=True))
        self.classifier = nn.Linear(256, 10)

    def forward(self, x):
        return self.classifier(self.fc(self.features(x).flatten(1)))


class Bottleneck(nn.Module):
    def __init__(self, in_planes, growth):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet121(nn.Module):
    def __init__(self, growth=32, blocks=(6, 12, 24, 16), reduction=0.5):
        super().__init__()
        planes = 2 * growth
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        for b, n in enumerate(blocks, 1):
            layers = []
            for _ in range(n):
                layers.append(Bottleneck(planes, growth))
                planes += growth
            setattr(self, f"dense{b}", nn.Sequential(*layers))
            if b < 4:
                out = int(math.floor(planes * reduction))
                setattr(self, f"trans{b}", Transition(planes, out))
                planes = out
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, 10)

    def forward(self, x):
        out = self.conv1(x)
        for b in range(1, 5):
            out = getattr(self, f"dense{b}")(out)
            if b < 4:
                out = getattr(self, f"trans{b}")(out)
        out = F.avg_pool2d(F.relu(self.bn(out)), 4)
        return self.linear(out.flatten(1))


TABLE = {"resnet20": 272474, "resnet20_noshort": 269722, "resnet56": 855770, "vgg9": 2789706,
         "wrn56_2": 3412394, "densenet121": 6956298}
python_models = {
    "resnet20": lambda: ResNetCifar(20),
    "resnet20_noshort": lambda: ResNetCifar(20, shortcut=False),
    "resnet56": lambda: ResNetCifar(56),
    "wrn56_2": lambda: ResNetCifar(56, width=2),
    "vgg9": VGG9,
    "densenet121": DenseNet121,
}
for arch, make in python_models.items():
    m = make()
    n_params = sum(p.numel() for p in m.parameters())
    check(n_params == TABLE[arch], f"python {arch}: {n_params} parameters (table: {TABLE[arch]})")
    info = json.loads(run("info", "--arch", arch, "--input", "cifar10", "--json").stdout)
    sd = m.state_dict()
    param_names = {n for n, _ in m.named_parameters()}
    check(info["parameters"] == n_params, f"info --arch {arch}: {info['parameters']} parameters")
    check([t["name"] for t in info["tensors"]] == list(sd.keys()),
          f"info --arch {arch}: names in PyTorch's state_dict order")
    check([t["shape"] for t in info["tensors"]] == [list(v.shape) for v in sd.values()],
          f"info --arch {arch}: shapes equal PyTorch's")
    check([t["kind"] == "parameter" for t in info["tensors"]] == [k in param_names for k in sd],
          f"info --arch {arch}: parameters and buffers as in PyTorch")

cifar_dir = os.path.join(WORK, "cifar-10-batches-bin")
cifar = write_cifar_dir(cifar_dir, per_batch=24, n_test=100)
xc_test = normalized(cifar["test"][0], *CIFAR)
yc_test = torch.from_numpy(cifar["test"][1].astype(np.int64))
xc_train = normalized(cifar["train"][0], *CIFAR)
yc_train = torch.from_numpy(cifar["train"][1].astype(np.int64))

torch.manual_seed(5)
resnet = ResNetCifar(20)
randomize_bn(resnet, gen)
with torch.no_grad():
    resnet.linear.weight.normal_(0, 0.3, generator=gen)
    resnet.linear.bias.normal_(0, 0.1, generator=gen)
resnet.eval()
sd = resnet.state_dict()
plain = os.path.join(WORK, "resnet20.pth")
wrapped = os.path.join(WORK, "resnet20_ckpt.t7")
torch.save(sd, plain)
torch.save({"state_dict": sd, "epoch": 3, "acc": 90.0}, wrapped)  # the reference's checkpoint
ce, mse, acc = reference_metrics(resnet, xc_test, yc_test)
cifar_args = ["--arch", "resnet20", "--dataset", "cifar10", "--data-dir", cifar_dir,
              "--device", "cpu", "-b", "32"]
got = eval_json("--model-file", plain, *cifar_args)
check(got["arch"] == "resnet20", "state dict: arch reported")
compare("resnet20 state dict, cifar10 test", got, ce, acc, 100)
compare("resnet20 {'state_dict': ...} checkpoint, cifar10 test",
        eval_json("--model-file", wrapped, *cifar_args), ce, acc, 100)
compare("resnet20 state dict, mse", eval_json("--model-file", plain, *cifar_args, "--loss", "mse"),
        mse, acc, 100)
# Without --dataset: a state dict whose first convolution takes 3 channels is a CIFAR-10 network
# (the default, fashion-mnist, would not fit it).
no_dataset = [a for a in cifar_args if a not in ("--dataset", "cifar10")]
got = eval_json("--model-file", wrapped, *no_dataset)
check(got.get("data", "").startswith("cifar10"), f"no --dataset: a 3-channel .t7 is read as cifar10: {got.get('data')}")
compare("resnet20 checkpoint without --dataset", got, ce, acc, 100)
dp = os.path.join(WORK, "resnet20_dataparallel.pth")
torch.save({"module." + k: v for k, v in sd.items()}, dp)
compare("resnet20 state dict saved from DataParallel ('module.' prefix)",
        eval_json("--model-file", dp, *cifar_args), ce, acc, 100)

# torch.save's legacy format (PyTorch < 1.6, which wrote the reference's released .t7
# checkpoints): at pickle protocols 2 and 4 as the reference's checkpoint dict, and a state dict
# from before PyTorch 0.4.1 (no num_batches_tracked), which PyTorch's load_state_dict accepts.
for proto in (2, 4):
    f = os.path.join(WORK, f"resnet20_legacy_p{proto}.t7")
    torch.save({"state_dict": sd, "epoch": 3, "acc": 90.0}, f,
               _use_new_zipfile_serialization=False, pickle_protocol=proto)
    compare(f"resnet20 checkpoint in torch.save's legacy format, pickle protocol {proto}",
            eval_json("--model-file", f, *cifar_args), ce, acc, 100)
old_sd = type(sd)((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
pre041 = os.path.join(WORK, "resnet20_pre041.t7")
torch.save(old_sd, pre041, _use_new_zipfile_serialization=False)
compare("resnet20 legacy state dict without num_batches_tracked (PyTorch < 0.4.1)",
        eval_json("--model-file", pre041, *cifar_args), ce, acc, 100)


def py2_legacy_save(state, path):
    """torch.save's legacy file as PyTorch 0.4 on Python 2.7 wrote it, assembled opcode by opcode
    (Python 3 cannot emit Python 2's str opcodes): strings as SHORT_BINSTRING/BINSTRING,
    OrderedDict reduced with a list of [key, value] lists, tensors by _rebuild_tensor_v2 from
    storages saved on 'cuda:0'."""
    def st(b):
        b = b.encode() if isinstance(b, str) else b
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b

    def i32(v):
        return b"J" + struct.pack("<i", v)

    def tup(items):
        return b"(" + b"".join(items) + b"t"

    odict = b"ccollections\nOrderedDict\n"
    main = bytearray(b"\x80\x02" + odict + b"](")
    keys, blobs = [], []
    for n, (k, t) in enumerate(state.items()):
        key = str(140000000 + n)
        t = t.contiguous()
        stype = {torch.float32: b"FloatStorage", torch.int64: b"LongStorage"}[t.dtype]
        pid = tup([st("storage"), b"ctorch\n" + stype + b"\n", st(key), st("cuda:0"),
                   i32(t.numel()), b"N"])
        tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"Q" + i32(0) +
                  tup([i32(d) for d in t.shape]) + tup([i32(d) for d in t.stride()]) +
                  b"\x89" + odict + b")RtR")
        main += b"(" + st(k) + tensor + b"l"
        keys.append(key)
        blobs.append(struct.pack("<q", t.numel()) + t.numpy().tobytes())
    main += b"e\x85R."
    with open(path, "wb") as out:
        out.write(pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2))
        out.write(pickle.dumps(1001, protocol=2))
        out.write(b"\x80\x02}(" + st("little_endian") + b"\x88" + st("protocol_version") +
                  b"M\xe9\x03u.")
        out.write(bytes(main))
        out.write(b"\x80\x02](" + b"".join(st(k) for k in keys) + b"e.")
        for b in blobs:
            out.write(b)


py2 = os.path.join(WORK, "resnet20_py27.t7")
py2_legacy_save(sd, py2)
back = torch.load(py2, map_location="cpu")
check(list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd),
      "the Python 2 style legacy file reads back in PyTorch as the state dict")
compare("resnet20 legacy state dict pickled as Python 2.7 did",
        eval_json("--model-file", py2, *cifar_args), ce, acc, 100)

# The same weights as a losscape HDF5 checkpoint written by h5py, as docs/file-formats.md shows:
# no --arch needed, the file names its architecture.
try:
    import h5py
except ImportError:
    h5py = None
check(h5py is not None, f"{sys.executable} imports h5py for the h5py-written checkpoint "
      "(Debian: python3-h5py)")
if h5py is not None:
    h5_file = os.path.join(WORK, "resnet20.h5")
    with h5py.File(h5_file, "w") as f:
        for k, v in {"format": "losscape-checkpoint", "arch": "resnet20", "dataset": "cifar10",
                     "config": "{}", "losscape_version": "python"}.items():
            f.attrs[k] = np.bytes_(v)
        f.attrs["format_version"] = np.int64(1)
        f.attrs["input_shape"] = np.array([3, 32, 32], dtype=np.int64)
        f.attrs["num_classes"] = np.int64(10)
        f.attrs["epoch"] = np.int64(-1)
        for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
            f.attrs[k] = np.float64("nan")
        g = f.create_group("state")
        for name, t in sd.items():
            g[name] = t.detach().cpu().numpy()
        g.attrs["names"] = np.array([np.bytes_(n) for n in sd])
    got = eval_json("--model-file", h5_file, "--dataset", "cifar10", "--data-dir", cifar_dir,
                    "--device", "cpu", "-b", "50")
    check(got["arch"] == "resnet20", "h5py-written checkpoint: arch from the file")
    compare("resnet20 as an h5py-written losscape checkpoint", got, ce, acc, 100)
    # without --dataset: the data set the file records (cifar10), not the default fashion-mnist
    got = eval_json("--model-file", h5_file, "--data-dir", cifar_dir, "--device", "cpu", "-b", "50")
    compare("resnet20 h5py-written checkpoint, its recorded data set", got, ce, acc, 100)

torch.manual_seed(6)
vgg = VGG9()
randomize_bn(vgg, gen)
with torch.no_grad():
    vgg.classifier.weight.normal_(0, 0.2, generator=gen)
vgg.eval()
vgg_file = os.path.join(WORK, "vgg9.pth")
torch.save(vgg.state_dict(), vgg_file)
sub = documented_subset(120, 64, 0)
ce, _, acc = reference_metrics(vgg, xc_train[sub], yc_train[sub])
compare("vgg9 state dict, cifar10 train (5 batches), --samples 64",
        eval_json("--model-file", vgg_file, "--arch", "vgg9", "--dataset", "cifar10",
                  "--data-dir", cifar_dir, "--split", "train", "--samples", "64", "-b", "20",
                  "--device", "cpu"), ce, acc, 64)


# The other forward paths: no shortcuts, and DenseNet (on a few images: it is slow on a CPU).
for arch, make, samples in (("resnet20_noshort", lambda: ResNetCifar(20, shortcut=False), 100),
                            ("densenet121", DenseNet121, 12)):
    torch.manual_seed(8)
    m = make()
    randomize_bn(m, gen)
    with torch.no_grad():
        m.linear.weight.normal_(0, 0.3, generator=gen)
    m.eval()
    f = os.path.join(WORK, f"{arch}.pth")
    torch.save(m.state_dict(), f)
    sub = documented_subset(100, samples, 0) if samples < 100 else list(range(100))
    ce, _, acc = reference_metrics(m, xc_test[sub], yc_test[sub])
    compare(f"{arch} state dict, cifar10 test ({samples} samples)",
            eval_json("--model-file", f, "--arch", arch, "--dataset", "cifar10",
                      "--data-dir", cifar_dir, "--samples", samples, "-b", "50",
                      "--device", "cpu"), ce, acc, samples)


# ---------------------------------------------------------------------------------------------
# 3. Model files that cannot be used: one line on stderr naming the file and the fix.
def expect_error(tag, args, *needles, command="eval"):
    r = run(command, *args, expect_ok=False)
    err = r.stderr.strip()
    check(r.returncode == 1, f"{tag}: exit code 1 (got {r.returncode})")
    check(len(err.splitlines()) == 1, f"{tag}: one line on stderr: {err!r}")
    for n in needles:
        check(n in err, f"{tag}: message mentions {n!r}")


legacy = os.path.join(WORK, "legacy_cut.pth")
torch.save(sd, legacy, _use_new_zipfile_serialization=False)
with open(legacy, "r+b") as f:
    f.truncate(os.path.getsize(legacy) - 100)
expect_error("truncated legacy torch.save file", ["--model-file", legacy, *cifar_args],
             legacy, "truncated (storage")

bad = dict(sd)
bad["linear.weight"] = torch.zeros(10, 32)
bad_file = os.path.join(WORK, "wrong_shape.pth")
torch.save(bad, bad_file)
# The data set given does not fit the file's network: the message says which one would.
expect_error("a CIFAR-10 state dict with --dataset fashion-mnist",
             ["--model-file", plain, "--arch", "resnet20", "--dataset", "fashion-mnist",
              "--device", "cpu"], "resnet20.pth", "3-channel images", "--dataset cifar10")
# info's option for a model's data set is --input (its --dataset describes a data set)
expect_error("info: a CIFAR-10 state dict with --input fashion-mnist",
             [plain, "--arch", "resnet20", "--input", "fashion-mnist"],
             "resnet20.pth", "3-channel images", "give --input cifar10", command="info")
expect_error("state dict with a wrong shape", ["--model-file", bad_file, *cifar_args],
             bad_file, "linear.weight", "[10, 32]", "[10, 64]")

missing = {k: v for k, v in sd.items() if k != "layer2.1.bn1.running_var"}
missing["extra.weight"] = torch.zeros(3)
missing_file = os.path.join(WORK, "missing_key.pth")
torch.save(missing, missing_file)
expect_error("state dict with a missing and an unexpected name",
             ["--model-file", missing_file, *cifar_args],
             missing_file, "missing layer2.1.bn1.running_var", "unexpected extra.weight")

expect_error("state dict for another architecture",
             ["--model-file", plain, "--arch", "resnet56", "--dataset", "cifar10",
              "--data-dir", cifar_dir], plain, "resnet56")
expect_error("state dict without --arch",
             ["--model-file", plain, "--dataset", "cifar10", "--data-dir", cifar_dir],
             plain, "--arch", "its tensors are those of resnet20)")

# `info` of a state dict without --arch: every tensor as PyTorch saved it, the format, and the
# zoo architectures it loads into (found by building each one: resnet20 and resnet20_noshort
# differ only by the shortcut projections).
for f, fmt, want in ((py2, "legacy", "resnet20"), (plain, "zip", "resnet20"),
                     (os.path.join(WORK, "resnet20_noshort.pth"), "zip", "resnet20_noshort"),
                     (missing_file, "zip", None)):
    j = json.loads(run("info", f, "--json").stdout)
    saved = torch.load(f, map_location="cpu")
    saved = saved.get("state_dict", saved)
    check(j["kind"] == "state_dict" and j["format"] == fmt and
          [t["name"] for t in j["tensors"]] == list(saved) and
          [t["shape"] for t in j["tensors"]] == [list(v.shape) for v in saved.values()] and
          [t["dtype"] for t in j["tensors"]] == [str(v.dtype)[6:] for v in saved.values()],
          f"info {os.path.basename(f)}: {fmt} state dict, names, shapes, dtypes as torch.load")
    check(j["matches"] == ([{"arch": want, "dataset": "cifar10"}] if want else []),
          f"info {os.path.basename(f)}: matches {j['matches']}")
text = run("info", py2).stdout
check("legacy format" in text and f"--model-file {py2} --arch resnet20" in text,
      "info of a state dict says how to use it")
junk = os.path.join(WORK, "junk.pt")
with open(junk, "wb") as f:
    f.write(b"this is not a model")
expect_error("not a model file", ["--model-file", junk, "--dataset", "cifar10",
                                  "--data-dir", cifar_dir], junk)

conclude()
print("\nall checks passed")

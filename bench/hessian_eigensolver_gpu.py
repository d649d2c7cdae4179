#!/usr/bin/env python3
"""What ARPACK costs next to the Hessian-vector products on a GPU (docs/hessian.md).

losscape runs ARPACK (arpack-ng, on the host, float64) on Hessian-vector products computed on
the device, copying one vector each way per product. This measures, for a CIFAR-10 ResNet-20
(the reference's, 1x1 projection shortcuts: 270,896 weights in tensors with >= 2 dims) over N
random CIFAR-shaped images:

  hvp      one Hessian-vector product over the N images (double backward, eval mode), seconds
  arpack   scipy's eigsh (ARPACK, the reference's solver) for λmax at tol 1e-2 with the same
           products: total time, products used, and the time outside the products (the solver
           plus the host<->device copies)
  lanczos  a LibTorch-style Lanczos entirely on the GPU (full reorthogonalization, float64
           basis on the device) with the same number of products: time outside the products

Usage: python3 bench/hessian_eigensolver_gpu.py [N] [batch]   (needs torch with CUDA, scipy)
"""
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for k in range(3):
                blocks.append(Block(cin, cout, stride if k == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main():
    n_img = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    torch.manual_seed(0)
    net = ResNet20().to(dev).eval()
    params = [p for p in net.parameters() if p.dim() >= 2]
    n = sum(p.numel() for p in params)
    x = torch.randn(n_img, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (n_img,), device=dev)
    print(f"device {name}, torch {torch.__version__}; resnet20, "
          f"{n} parameters in >=2-dim tensors, {n_img} images, batch {batch}")

    def hvp_dev(v):  # v: float32 flat on the device
        vs = torch.split(v, [p.numel() for p in params])
        vs = [a.view_as(p) for a, p in zip(vs, params)]
        acc = [torch.zeros_like(p) for p in params]
        for s in range(0, n_img, batch):
            loss = F.cross_entropy(net(x[s:s + batch]), y[s:s + batch], reduction="sum")
            g = torch.autograd.grad(loss, params, create_graph=True)
            hv = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, vs)), params)
            for a, h in zip(acc, hv):
                a.add_(h)
        return torch.cat([a.reshape(-1) for a in acc]) / n_img

    v = torch.randn(n, device=dev)
    for _ in range(2):
        hvp_dev(v)
    sync()
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        hvp_dev(v)
    sync()
    t_hvp = (time.perf_counter() - t0) / reps
    print(f"hvp      {t_hvp * 1e3:.1f} ms per Hessian-vector product")

    # ARPACK through scipy (the reference's eigsh), host float64 <-> device float32 per product.
    in_hvp = [0.0]
    count = [0]

    def matvec(xh):
        t = time.perf_counter()
        out = hvp_dev(torch.from_numpy(np.ascontiguousarray(xh, dtype=np.float32)).to(dev))
        res = out.double().cpu().numpy()
        in_hvp[0] += time.perf_counter() - t
        count[0] += 1
        return res

    A = sla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    t0 = time.perf_counter()
    vals = sla.eigsh(A, k=1, tol=1e-2, v0=np.random.default_rng(0).uniform(-1, 1, n),
                     return_eigenvectors=False)
    t_arpack = time.perf_counter() - t0
    # The products alone, measured in the loop above, include the copies; the pure GPU part is
    # count * t_hvp.
    outside = t_arpack - count[0] * t_hvp
    print(f"arpack   λmax {vals[0]:.6g}, {count[0]} products, {t_arpack:.2f} s in all, "
          f"{outside:.3f} s ({100 * outside / t_arpack:.2f} %) outside the GPU products "
          f"(solver + copies)")

    # Lanczos on the GPU, same number of products, full reorthogonalization in float64.
    k = count[0]
    sync()
    t0 = time.perf_counter()
    t_inside = 0.0
    q = torch.randn(n, device=dev, dtype=torch.float64)
    q /= q.norm()
    Q = [q]
    alpha, beta = [], []
    for j in range(k):
        sync()
        t = time.perf_counter()
        w = hvp_dev(Q[-1].float()).double()
        sync()
        t_inside += time.perf_counter() - t
        alpha.append(torch.dot(w, Q[-1]))
        B = torch.stack(Q)
        w -= B.t() @ (B @ w)
        w -= B.t() @ (B @ w)
        b = w.norm()
        beta.append(b)
        Q.append(w / b)
    T = torch.diag(torch.stack(alpha)) + torch.diag(torch.stack(beta[:-1]), 1) + \
        torch.diag(torch.stack(beta[:-1]), -1)
    lam = torch.linalg.eigvalsh(T.cpu())
    sync()
    t_lanczos = time.perf_counter() - t0
    outside_l = t_lanczos - t_inside
    print(f"lanczos  λmax {lam[-1].item():.6g} (largest Ritz value), {k} products, "
          f"{t_lanczos:.2f} s in all, {outside_l:.3f} s ({100 * outside_l / t_lanczos:.2f} %) "
          f"outside the products")


if __name__ == "__main__":
    main()

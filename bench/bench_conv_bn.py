"""Forward + backward of derive.nn.SpatialConvolution and BatchNormalization against the
same computation hand-written in numpy, and SpatialConvolution against PyTorch's CPU conv2d.

Run by hand from the repository root:  python bench/bench_conv_bn.py

All in float64, in this one process. A step is forward then backward (gradInput and
the parameter gradients, accumulated; no update). Sides:
  SpatialConvolution (batch 32, 3 -> 16 planes, 32x32, 3x3 kernel, pad 1):
    numpy im2col  the textbook im2col by hand: np.pad, sliding_window_view, one matrix of
                  patches (batch*oH*oW, C*kH*kW), one matrix product each for the output,
                  gradWeight and the patches' gradients, col2im by kernel offsets
    numpy offsets the patches as (batch, C*kH*kW, oH*oW), copied kernel offset by kernel
                  offset from the padded input; batched matrix products (derive's method, inline)
    derive        derive.nn.SpatialConvolution: forward, backward
    torch         torch.nn.functional.conv2d with autograd, torch's threads set to numpy's
                  BLAS threads (and, for information, on one thread when that is more)
  BatchNormalization (batch 256, 1024 features), training mode:
    numpy         the textbook forward (batch mean and variance, running statistics) and
                  the compact backward dx = (1/N) gamma invstd (N g - sum g - xhat sum(g xhat))
    numpy einsum  the same with the two sums of products by np.einsum
    derive        derive.nn.BatchNormalization: forward, backward
    torch         torch.nn.functional.batch_norm with autograd (for information)
The targets are judged against the faster of the hand-written sides.
Blocks are interleaved (the order rotates every repeat); a ratio is the median over
repeats of one side's time over the other's in the same repeat.
"""

from __future__ import annotations

import ctypes
import glob
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive.nn as nn  # noqa: E402

CONV = dict(batch=32, nInputPlane=3, nOutputPlane=16, size=32, kernel=3, pad=1)
CONV_TARGET = 1.10
BN = dict(batch=256, nOutput=1024)
BN_TARGET = 1.10
EPS, MOMENTUM = 1e-5, 0.1
REPEATS = 41


def numpy_blas_threads() -> tuple[int, str]:
    """How many threads numpy's BLAS runs, and how that was found."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas*"))
    for lib in libs:
        for symbol in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads"):
            function = getattr(ctypes.CDLL(lib), symbol, None)
            if function is not None:
                return int(function()), "asked numpy's OpenBLAS"
    count = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if count:
        return int(count), "from the environment"
    return os.cpu_count() or 1, "assumed: one per CPU (OpenBLAS's default)"


def steady_allocator() -> str:
    """glibc's malloc hands a freed block back to the system once the free top of the heap
    passes a threshold that moves with the blocks freed; a side timed after another side's
    long-lived buffers then page-faults on each of its step's temporaries (the numpy sides:
    2000 faults a step, 4x their time), a cost of the order of the sides, not of either's
    computation. Fixed thresholds: every side allocates alike, freed memory stays."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return "malloc as it is (no glibc)"
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    if libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 256 << 20):
        return "glibc malloc thresholds fixed"
    return "malloc as it is (mallopt refused)"


# --- SpatialConvolution ---------------------------------------------------------------

class ConvArrays:
    """The parameters and gradients of the hand-written convolution."""

    def __init__(self, weight, bias):
        self.W, self.b = weight.copy(), bias.copy()
        self.gradW, self.gradb = np.zeros_like(weight), np.zeros_like(bias)


def numpy_conv_step(X, G, a, pad):
    """Y = conv(X), then dX, gradW += ..., gradb += ..., by im2col with one matrix of patches."""
    B, C, H, W = X.shape
    O, _, kH, kW = a.W.shape
    Xp = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oH, oW = Xp.shape[2] - kH + 1, Xp.shape[3] - kW + 1
    windows = sliding_window_view(Xp, (kH, kW), axis=(2, 3))  # (B, C, oH, oW, kH, kW)
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(B * oH * oW, C * kH * kW)
    Wm = a.W.reshape(O, -1)
    Y = (cols @ Wm.T + a.b).reshape(B, oH, oW, O).transpose(0, 3, 1, 2)
    Gm = G.transpose(0, 2, 3, 1).reshape(B * oH * oW, O)
    a.gradW += (Gm.T @ cols).reshape(a.W.shape)
    a.gradb += Gm.sum(axis=0)
    dcols = (Gm @ Wm).reshape(B, oH, oW, C, kH, kW)
    dXp = np.zeros_like(Xp)
    for p in range(kH):
        for q in range(kW):
            dXp[:, :, p:p + oH, q:q + oW] += dcols[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    dX = dXp[:, :, pad:pad + H, pad:pad + W]
    return Y, dX


def numpy_offsets_step(X, G, a, pad):
    """The same with the patches as (batch, C*kH*kW, oH*oW), copied by kernel offsets, and batched products."""
    B, C, H, W = X.shape
    O, _, kH, kW = a.W.shape
    Xp = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oH, oW = Xp.shape[2] - kH + 1, Xp.shape[3] - kW + 1
    cols = np.empty((B, C, kH, kW, oH, oW))
    for p in range(kH):
        for q in range(kW):
            cols[:, :, p, q] = Xp[:, :, p:p + oH, q:q + oW]
    cols = cols.reshape(B, C * kH * kW, oH * oW)
    Wm = a.W.reshape(O, -1)
    Y = (Wm @ cols + a.b[:, None]).reshape(B, O, oH, oW)
    Gm = G.reshape(B, O, oH * oW)
    a.gradW += (Gm @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(a.W.shape)
    a.gradb += Gm.sum(axis=(0, 2))
    dcols = (Wm.T @ Gm).reshape(B, C, kH, kW, oH, oW)
    dXp = np.zeros_like(Xp)
    for p in range(kH):
        for q in range(kW):
            dXp[:, :, p:p + oH, q:q + oW] += dcols[:, :, p, q]
    return Y, dXp[:, :, pad:pad + H, pad:pad + W]


def derive_conv_step(X, G, layer, pad):
    return layer.forward(X), layer.backward(X, G)


def torch_conv_step(X, G, params, pad):
    import torch

    X = X.detach().requires_grad_(True)
    Y = torch.nn.functional.conv2d(X, params[0], params[1], padding=pad)
    Y.backward(G)
    return Y, X.grad


# --- BatchNormalization ---------------------------------------------------------------

class BNArrays:
    """The parameters, gradients and running statistics of the hand-written batch normalisation."""

    def __init__(self, gamma, beta):
        self.gamma, self.beta = gamma.copy(), beta.copy()
        self.gradGamma, self.gradBeta = np.zeros_like(gamma), np.zeros_like(beta)
        self.running_mean, self.running_var = np.zeros_like(gamma), np.ones_like(gamma)


def numpy_bn_step(X, G, a):
    """Training forward (batch statistics, running statistics updated), then the compact backward."""
    N = X.shape[0]
    mean = X.mean(axis=0)
    centered = X - mean
    var = (centered * centered).mean(axis=0)
    invstd = 1 / np.sqrt(var + EPS)
    xhat = centered * invstd
    Y = a.gamma * xhat + a.beta
    a.running_mean = (1 - MOMENTUM) * a.running_mean + MOMENTUM * mean
    a.running_var = (1 - MOMENTUM) * a.running_var + MOMENTUM * var * N / (N - 1)
    sum_g = G.sum(axis=0)
    sum_g_xhat = (G * xhat).sum(axis=0)
    dX = (a.gamma * invstd / N) * (N * G - sum_g - xhat * sum_g_xhat)
    a.gradGamma += sum_g_xhat
    a.gradBeta += sum_g
    return Y, dX


def numpy_einsum_bn_step(X, G, a):
    """numpy_bn_step with the sums of products by einsum, not through a product array."""
    N = X.shape[0]
    mean = X.mean(axis=0)
    centered = X - mean
    var = np.einsum("ni,ni->i", centered, centered) / N
    invstd = 1 / np.sqrt(var + EPS)
    xhat = centered * invstd
    Y = a.gamma * xhat + a.beta
    a.running_mean = (1 - MOMENTUM) * a.running_mean + MOMENTUM * mean
    a.running_var = (1 - MOMENTUM) * a.running_var + MOMENTUM * var * N / (N - 1)
    sum_g = G.sum(axis=0)
    sum_g_xhat = np.einsum("ni,ni->i", G, xhat)
    dX = (a.gamma * invstd / N) * (N * G - sum_g - xhat * sum_g_xhat)
    a.gradGamma += sum_g_xhat
    a.gradBeta += sum_g
    return Y, dX


def derive_bn_step(X, G, layer):
    return layer.forward(X), layer.backward(X, G)


def torch_bn_step(X, G, state):
    import torch

    weight, bias, running_mean, running_var = state
    X = X.detach().requires_grad_(True)
    Y = torch.nn.functional.batch_norm(X, running_mean, running_var, weight, bias, training=True,
                                       momentum=MOMENTUM, eps=EPS)
    Y.backward(G)
    return Y, X.grad


def one_thread(torch, step):
    """step() with torch on one thread: on a machine busy with other work, torch's thread pool
    waits for cores that numpy's single calls do not need (shown for information)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return step()
    finally:
        torch.set_num_threads(threads)


# --- timing ---------------------------------------------------------------------------

def interleaved(sides: dict, steps: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per step of every side in every repeat, the order rotating each repeat."""
    times = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            step = sides[name]
            start = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append((time.perf_counter() - start) / steps)
    return times


def ratio(times, a, b) -> float:
    """Median over the repeats of a's time over b's time in the same repeat."""
    return statistics.median(ta / tb for ta, tb in zip(times[a], times[b]))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def as_numpy(array):
    return array.detach().numpy() if hasattr(array, "detach") else np.asarray(array)


def compare(title: str, sides: dict, by_hand: tuple[str, str], target: float, steps: int) -> None:
    """Check that every side computes what the first does, time them interleaved, print the ratios."""
    reference = [as_numpy(a) for a in next(iter(sides.values()))()]
    for name, step in sides.items():
        for mine, theirs in zip(step(), reference):
            assert np.allclose(as_numpy(mine), theirs, rtol=1e-10, atol=1e-10), name
    times = interleaved(sides, steps, REPEATS)
    print(f"{title}: " + ", ".join(f"{name} {statistics.median(t) * 1e3:.3f} ms" for name, t in times.items()))
    fastest = min(by_hand, key=lambda name: statistics.median(times[name]))
    r = ratio(times, "derive", fastest)
    print(f"  derive/{fastest} {r:.3f}x (the faster by hand; target <= {target:.2f}x: {verdict(r <= target)}); "
          + ", ".join(f"derive/{name} {ratio(times, 'derive', name):.3f}x" for name in by_hand))
    for name in ("torch", "torch 1 thread"):
        if name in times:
            print(f"  derive/{name} {ratio(times, 'derive', name):.3f}x, {name}/derive {ratio(times, name, 'derive'):.3f}x")


def bench_conv(torch) -> None:
    c = CONV
    rng = np.random.default_rng(0)
    X = rng.standard_normal((c["batch"], c["nInputPlane"], c["size"], c["size"]))
    layer = nn.SpatialConvolution(c["nInputPlane"], c["nOutputPlane"], c["kernel"], c["kernel"],
                                  padW=c["pad"], padH=c["pad"], rng=1)
    out = c["size"] + 2 * c["pad"] - c["kernel"] + 1
    G = rng.standard_normal((c["batch"], c["nOutputPlane"], out, out))
    by_hand, by_offsets = ConvArrays(layer.weight, layer.bias), ConvArrays(layer.weight, layer.bias)
    sides = {"numpy im2col": lambda: numpy_conv_step(X, G, by_hand, c["pad"]),
             "numpy offsets": lambda: numpy_offsets_step(X, G, by_offsets, c["pad"]),
             "derive": lambda: derive_conv_step(X, G, layer, c["pad"])}
    if torch is not None:
        params = (torch.tensor(layer.weight, requires_grad=True), torch.tensor(layer.bias, requires_grad=True))
        Xt, Gt = torch.from_numpy(X), torch.from_numpy(G)
        sides["torch"] = lambda: torch_conv_step(Xt, Gt, params, c["pad"])
        if torch.get_num_threads() > 1:
            sides["torch 1 thread"] = lambda: one_thread(torch, lambda: torch_conv_step(Xt, Gt, params, c["pad"]))
    compare(f"SpatialConvolution(batch {c['batch']}, {c['nInputPlane']} -> {c['nOutputPlane']}, "
            f"{c['size']}x{c['size']}, {c['kernel']}x{c['kernel']}, pad {c['pad']}), forward + backward",
            sides, ("numpy im2col", "numpy offsets"), CONV_TARGET, 5)


def bench_bn(torch) -> None:
    b = BN
    rng = np.random.default_rng(2)
    X = rng.standard_normal((b["batch"], b["nOutput"])) * 2 + 0.5
    G = rng.standard_normal((b["batch"], b["nOutput"]))
    layer = nn.BatchNormalization(b["nOutput"], eps=EPS, momentum=MOMENTUM)
    by_hand, by_einsum = BNArrays(layer.weight, layer.bias), BNArrays(layer.weight, layer.bias)
    sides = {"numpy": lambda: numpy_bn_step(X, G, by_hand),
             "numpy einsum": lambda: numpy_einsum_bn_step(X, G, by_einsum),
             "derive": lambda: derive_bn_step(X, G, layer)}
    if torch is not None:
        state = (torch.tensor(layer.weight, requires_grad=True), torch.tensor(layer.bias, requires_grad=True),
                 torch.zeros(b["nOutput"], dtype=torch.float64), torch.ones(b["nOutput"], dtype=torch.float64))
        Xt, Gt = torch.from_numpy(X), torch.from_numpy(G)
        sides["torch"] = lambda: torch_bn_step(Xt, Gt, state)
        if torch.get_num_threads() > 1:
            sides["torch 1 thread"] = lambda: one_thread(torch, lambda: torch_bn_step(Xt, Gt, state))
    compare(f"BatchNormalization(batch {b['batch']}, {b['nOutput']}), training forward + backward",
            sides, ("numpy", "numpy einsum"), BN_TARGET, 10)


def main() -> None:
    try:
        import torch
    except ImportError:
        torch = None
    allocator = steady_allocator()
    threads, how = numpy_blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}; float64; "
          f"numpy BLAS threads {threads} ({how}); {allocator}"
          + (f", torch threads {torch.get_num_threads()}" if torch is not None else ""))
    bench_conv(torch)
    bench_bn(torch)


if __name__ == "__main__":
    main()

"""SpatialMaxPooling written as its documentation's formula, forward + backward, against PyTorch and numpy.

Run by hand from the repository root:  python bench/bench_catalogue.py

The layer: y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q) with --range p=2 --range q=2 (2x2 windows,
stride 2), a batch of 32 samples of 16 planes of 32 x 32, float64. Sides, interleaved in this one
process (the order rotates every repeat), medians over repeats, each forward then backward:
  derive     the module derive generates from the formula (a strided view of the windows, their
             element-wise maximum; the argmax's one-hot times g, added back by fold's strided slices)
  torch      PyTorch CPU F.max_pool2d and its autograd backward
  numpy      hand-written numpy: a reshape's max, the argmax's one-hot mask
Then the padded SpatialConvolution written as its formula,
  y[o,h,w] = sum(W[o,c,p,q] * x[c,h+p-2,w+q-2], c, p, q) + b[o]  (3x3, padding 1, 16 -> 16 planes, 32x32,
  batch 32), forward + backward (gradInput and the parameters' gradients), against the built-in
  derive.nn.SpatialConvolution(16, 16, 3, 3, 1, 1, 1) with the same weights. The target: at most 1.5x.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive  # noqa: E402

BATCH, PLANES, SIZE, REPEATS = 32, 16, 32, 21
POOLING = "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)"


def generated():
    source = derive.module_source(POOLING, {"x": (PLANES, SIZE, SIZE)}, ranges={"p": 2, "q": 2},
                                  name="SpatialMaxPooling")
    path = Path(tempfile.mkdtemp()) / "pooling.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("pooling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SpatialMaxPooling()


def numpy_pooling(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    b, c, h, w = x.shape
    windows = x.reshape(b, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, h // 2, w // 2, 4)
    y = windows.max(axis=-1)
    chosen = windows.argmax(axis=-1)
    mask = np.zeros_like(windows)
    np.put_along_axis(mask, chosen[..., None], g[..., None], axis=-1)
    grad = mask.reshape(b, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)
    return y, grad


CONVOLUTION = "y[o,h,w] = sum(W[o,c,p,q] * x[c,h+p-2,w+q-2], c, p, q) + b[o]"


def _medians(sides: dict) -> dict:
    """Each side's median seconds, the sides interleaved, their order rotating every repeat."""
    times = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(REPEATS):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            start = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def convolution() -> None:
    from derive.nn import SpatialConvolution

    source = derive.module_source(CONVOLUTION, {"x": (PLANES, SIZE, SIZE), "W": (PLANES, PLANES, 3, 3),
                                                "y": (PLANES, SIZE, SIZE)}, name="Padded")
    path = Path(tempfile.mkdtemp()) / "padded.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("padded", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mine = module.Padded(rng=0)
    builtin = SpatialConvolution(PLANES, PLANES, 3, 3, 1, 1, 1, rng=0)
    builtin.weight[...] = mine.W
    builtin.bias[...] = mine.b
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, PLANES, SIZE, SIZE))
    g = rng.standard_normal((BATCH, PLANES, SIZE, SIZE))

    def step(layer):
        layer.forward(x)
        layer.zeroGradParameters()
        return layer.backward(x, g)
    np.testing.assert_allclose(step(mine), step(builtin), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mine.gradW, builtin.gradWeight, rtol=1e-9, atol=1e-9)
    median = _medians({"derive": lambda: step(mine), "built-in": lambda: step(builtin)})
    print(f"\nSpatialConvolution 3x3, padding 1, {PLANES} -> {PLANES} planes, {SIZE}x{SIZE}, batch {BATCH}, "
          "float64, forward + backward (target: derive / built-in at most 1.5)")
    print(f"{'':10}{'median ms':>12}{'derive / side':>16}")
    for name in median:
        print(f"{name:10}{median[name] * 1e3:12.2f}{median['derive'] / median[name]:16.2f}")


def main() -> None:
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, PLANES, SIZE, SIZE))
    g = rng.standard_normal((BATCH, PLANES, SIZE // 2, SIZE // 2))
    layer = generated()
    xt, gt = torch.tensor(x), torch.tensor(g)

    def run_derive():
        layer.forward(x)
        return layer.backward(x, g)

    def run_torch():
        leaf = xt.clone().requires_grad_(True)
        torch.nn.functional.max_pool2d(leaf, 2).backward(gt)
        return leaf.grad

    def run_numpy():
        return numpy_pooling(x, g)[1]

    reference = run_torch().numpy()
    np.testing.assert_allclose(run_derive(), reference, rtol=0, atol=0)
    np.testing.assert_allclose(run_numpy(), reference, rtol=0, atol=0)
    median = _medians({"derive": run_derive, "torch": run_torch, "numpy": run_numpy})
    print(f"SpatialMaxPooling 2x2 stride 2, batch {BATCH}, {PLANES} planes, {SIZE}x{SIZE}, float64, "
          f"forward + backward (torch threads: {torch.get_num_threads()})")
    print(f"{'':8}{'median ms':>12}{'derive / side':>16}")
    for name in median:
        print(f"{name:8}{median[name] * 1e3:12.2f}{median['derive'] / median[name]:16.2f}")
    convolution()


if __name__ == "__main__":
    main()

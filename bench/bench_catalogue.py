"""SpatialMaxPooling written as its documentation's formula, forward + backward, against PyTorch and numpy.

Run by hand from the repository root:  python bench/bench_catalogue.py

The layer: y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q) with --range p=2 --range q=2 (2x2 windows,
stride 2), a batch of 32 samples of 16 planes of 32 x 32, float64. Sides, interleaved in this one
process (the order rotates every repeat), medians over repeats, each forward then backward:
  derive     the module derive generates from the formula (argmax, a bincount scatter-add)
  torch      PyTorch CPU F.max_pool2d and its autograd backward
  numpy      hand-written numpy: a reshape's max, the argmax's one-hot mask
The padded SpatialConvolution of issue 20 is not benchmarked: zero padding is not in the language yet.
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
    sides = {"derive": run_derive, "torch": run_torch, "numpy": run_numpy}
    times = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(REPEATS):
        for name in names[repeat % 3:] + names[:repeat % 3]:
            start = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"SpatialMaxPooling 2x2 stride 2, batch {BATCH}, {PLANES} planes, {SIZE}x{SIZE}, float64, "
          f"forward + backward (torch threads: {torch.get_num_threads()})")
    print(f"{'':8}{'median ms':>12}{'derive / side':>16}")
    for name in sides:
        print(f"{name:8}{median[name] * 1e3:12.2f}{median['derive'] / median[name]:16.2f}")


if __name__ == "__main__":
    main()

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
Then the classes of derive.nn generated from the catalogue at run-time sizes (one class for every
input size, stride and padding: derive/catalogue_windows.py), at the same sizes:
  SpatialMaxPooling(2, 2)            against the fixed-size module above, PyTorch and numpy
  SpatialConvolutionMM(16, 16, 3, 3, 1, 1, 1, 1)  against the padded formula's fixed-size module, the
                                     built-in SpatialConvolution and PyTorch
each with its peak memory of one forward + backward (tracemalloc: numpy's allocations, a new module's
buffers included; PyTorch's are not traced).
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


def _peak_mib(run) -> float:
    """The peak of the memory numpy allocates during ``run()`` (MiB), beyond what was held before."""
    import tracemalloc

    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - before) / 2 ** 20


def _table(title: str, sides: dict, peaks: dict) -> None:
    median = _medians(sides)
    print(f"\n{title}")
    print(f"{'':16}{'median ms':>12}{'derive / side':>16}{'peak MiB':>10}")
    for name in median:
        peak = f"{peaks[name]:10.1f}" if name in peaks else f"{'-':>10}"
        print(f"{name:16}{median[name] * 1e3:12.2f}{median['derive'] / median[name]:16.2f}{peak}")


def runtime_sizes() -> None:
    """The generated run-time-size SpatialMaxPooling and SpatialConvolutionMM at the issue's sizes."""
    import torch

    from derive.nn import SpatialConvolution, SpatialConvolutionMM, SpatialMaxPooling

    rng = np.random.default_rng(2)
    x = rng.standard_normal((BATCH, PLANES, SIZE, SIZE))
    g = rng.standard_normal((BATCH, PLANES, SIZE // 2, SIZE // 2))
    pooling, fixed = SpatialMaxPooling(2, 2), generated()
    xt, gt = torch.tensor(x), torch.tensor(g)

    def step(layer, gradOutput):
        layer.forward(x)
        if layer.parameters():
            layer.zeroGradParameters()
        return layer.backward(x, gradOutput)

    def run_torch(function, gradOutput, *params):
        leaf = xt.clone().requires_grad_(True)
        function(leaf, *params).backward(gradOutput)
        return leaf.grad

    pool = torch.nn.functional.max_pool2d
    np.testing.assert_allclose(step(pooling, g), run_torch(lambda v: pool(v, 2), gt).numpy(), rtol=0, atol=0)
    sides = {"derive": lambda: step(pooling, g), "fixed sizes": lambda: step(fixed, g),
             "torch": lambda: run_torch(lambda v: pool(v, 2), gt), "numpy": lambda: numpy_pooling(x, g)}
    peaks = {name: _peak_mib(side) for name, side in sides.items() if name != "torch"}
    _table(f"derive.nn.SpatialMaxPooling(2, 2) (run-time sizes), batch {BATCH}, {PLANES} planes, {SIZE}x{SIZE}, "
           "float64, forward + backward", sides, peaks)

    conv = SpatialConvolutionMM(PLANES, PLANES, 3, 3, 1, 1, 1, 1, rng=0)
    builtin = SpatialConvolution(PLANES, PLANES, 3, 3, 1, 1, 1, rng=0)
    builtin.weight[...], builtin.bias[...] = conv.weight, conv.bias
    gc = rng.standard_normal((BATCH, PLANES, SIZE, SIZE))
    Wt, bt = torch.tensor(conv.weight), torch.tensor(conv.bias)
    convolve = lambda v: torch.nn.functional.conv2d(v, Wt, bt, padding=1)  # noqa: E731
    np.testing.assert_allclose(step(conv, gc), step(builtin, gc), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(conv.gradWeight, builtin.gradWeight, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(step(conv, gc), run_torch(convolve, torch.tensor(gc)).numpy(), rtol=1e-9, atol=1e-9)
    sides = {"derive": lambda: step(conv, gc), "built-in": lambda: step(builtin, gc),
             "torch": lambda: run_torch(convolve, torch.tensor(gc))}
    # each on a new module: the built-in's patches and their gradients are buffers it keeps between calls
    peaks = {"derive": _peak_mib(lambda: step(SpatialConvolutionMM(PLANES, PLANES, 3, 3, 1, 1, 1, 1, rng=0), gc)),
             "built-in": _peak_mib(lambda: step(SpatialConvolution(PLANES, PLANES, 3, 3, 1, 1, 1, rng=0), gc))}
    _table(f"derive.nn.SpatialConvolutionMM(16, 16, 3, 3, 1, 1, 1, 1) (run-time sizes), batch {BATCH}, "
           f"{SIZE}x{SIZE}, float64, forward + backward", sides, peaks)


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
    runtime_sizes()


if __name__ == "__main__":
    main()

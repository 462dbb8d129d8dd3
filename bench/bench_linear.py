"""One training step of derive.nn.Linear against the same step hand-written in numpy.

Run by hand from the repository root:  python bench/bench_linear.py

A step is forward, backward, updateParameters in float64 (no zeroGradParameters,
so gradients accumulate, as in Torch's Module protocol). Sides, all in this one
process, each from the same starting parameters in every timed block:
  numpy out=   the step by hand with preallocated buffers (the kernels' operations inline)
  numpy plain  the step by hand as plain expressions (Y = X @ W.T + b, ...)
  numpy flat   "numpy out=" with W and b views into one flat array, gradW and gradb
               into another, so the update is one operation: derive.nn.Linear's layout
  kernels      derive.nn.Linear's generated kernels called directly (no Module layer)
  derive       derive.nn.Linear: forward, backward, updateParameters
  torch        torch.nn.Linear with autograd, if torch imports (not a dependency)
Blocks are interleaved (the order rotates every repeat); a ratio is the median over
repeats of derive's time over the baseline's in the same repeat, and the target is
judged against the faster of "numpy out=" and "numpy plain", the step as one writes
it by hand; "numpy flat" shows what the Module layer costs over the same layout.
Also printed: the import time of derive.nn over numpy's, and the peak extra memory
of a steady-state backward.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive.nn as nn  # noqa: E402

# Linear's kernels for a batch with bias, as derive compile generates them from its catalogue entry:
# (update_output, update_grad_input, acc_grad_parameters, backward)
FORWARD, GRAD_INPUT, ACC_GRAD_PARAMETERS, _ = nn.Linear.kernels[(True,)][1]

LEARNING_RATE = 1e-3
# (batch, inputSize, outputSize, target ratio or None, steps per timed block, repeats)
SIZES = [
    (1, 2, 3, 1.10, 1000, 101),
    (32, 64, 64, None, 200, 51),
    (256, 1024, 1024, 1.03, 2, 31),
]
IMPORT_TARGET_MS = 30.0
IMPORT_REPEATS = 40
MEMORY_SIZES = [(32, 64, 64), (256, 1024, 1024)]
# Beyond the one gradWeight-sized temporary, a backward also allocates a few small
# Python objects (array headers, views, the G^T 1 vector); they are counted, and
# the target allows that much.
SMALL_OBJECTS_BYTES = 4096


class Arrays:
    """The parameters and buffers of a hand-written step; with flat=True, W and b (gradW and gradb) share one array."""

    def __init__(self, batch, nin, nout, flat=False):
        self.W, self.gradW = np.zeros((nout, nin)), np.zeros((nout, nin))
        self.b, self.gradb = np.zeros(nout), np.zeros(nout)
        self.Y, self.gradX = np.zeros((batch, nout)), np.zeros((batch, nin))
        if flat:
            self.flat, self.gradFlat = np.zeros(nout * nin + nout), np.zeros(nout * nin + nout)
            self.W, self.b = self.flat[:nout * nin].reshape(nout, nin), self.flat[nout * nin:]
            self.gradW, self.gradb = self.gradFlat[:nout * nin].reshape(nout, nin), self.gradFlat[nout * nin:]


def numpy_out_step(X, G, a, lr):
    """Y = X W^T + b, gradX = G W, gradW += G^T X, gradb += G^T 1, then descend; into buffers."""
    np.matmul(X, a.W.T, out=a.Y)
    a.Y += a.b
    np.matmul(G, a.W, out=a.gradX)
    gradW, gradb = a.gradW, a.gradb
    gradW += G.T @ X
    gradb += G.sum(axis=0)
    a.W -= lr * gradW
    a.b -= lr * gradb


def numpy_flat_step(X, G, a, lr):
    """numpy_out_step on the flat layout: one update for W and b."""
    np.matmul(X, a.W.T, out=a.Y)
    a.Y += a.b
    np.matmul(G, a.W, out=a.gradX)
    gradW, gradb = a.gradW, a.gradb
    gradW += G.T @ X
    gradb += G.sum(axis=0)
    flat = a.flat
    flat -= lr * a.gradFlat


def numpy_plain_step(X, G, a, lr):
    """The same step as plain expressions, allocating Y and gradX."""
    W, b, gradW, gradb = a.W, a.b, a.gradW, a.gradb
    a.Y = X @ W.T + b
    a.gradX = G @ W
    gradW += G.T @ X
    gradb += G.sum(axis=0)
    W -= lr * gradW
    b -= lr * gradb


def kernels_step(X, G, a, lr):
    """The same step through Linear's generated kernels (into the buffers), without the Module layer."""
    FORWARD(X, a.W, a.b, a.Y)
    GRAD_INPUT(X, a.W, a.b, a.Y, G, a.gradX)
    ACC_GRAD_PARAMETERS(X, a.W, a.b, a.Y, G, 1.0, a.gradW, a.gradb)
    a.W -= lr * a.gradW
    a.b -= lr * a.gradb


def derive_step(X, G, layer, lr):
    layer.forward(X)
    layer.backward(X, G)
    layer.updateParameters(lr)


def torch_step(X, G, layer, lr):
    import torch

    Y = layer(X)
    Y.backward(G)
    with torch.no_grad():
        for p in layer.parameters():
            p -= lr * p.grad


def time_block(step, X, G, state, n):
    start = time.perf_counter()
    for _ in range(n):
        step(X, G, state, LEARNING_RATE)
    return (time.perf_counter() - start) / n


def bench_size(batch, nin, nout, n, repeats, torch):
    """Time per step of every side in every repeat: {side: [seconds, ...]}."""
    rng = np.random.default_rng(0)
    W0 = rng.uniform(-1, 1, (nout, nin)) / np.sqrt(nin)
    b0 = rng.uniform(-1, 1, nout) / np.sqrt(nin)
    X = rng.standard_normal((batch, nin))
    G = rng.standard_normal((batch, nout))

    layer = nn.Linear(nin, nout, rng=0)
    sides = {  # name: (step, state)
        "numpy out=": (numpy_out_step, Arrays(batch, nin, nout)),
        "numpy plain": (numpy_plain_step, Arrays(batch, nin, nout)),
        "numpy flat": (numpy_flat_step, Arrays(batch, nin, nout, flat=True)),
        "kernels": (kernels_step, Arrays(batch, nin, nout)),
        "derive": (derive_step, layer),
    }

    def restart(name):
        if name == "torch":
            with torch.no_grad():
                tlayer.weight.copy_(torch.from_numpy(W0))
                tlayer.bias.copy_(torch.from_numpy(b0))
            tlayer.zero_grad(set_to_none=False)
            return
        state = sides[name][1]
        if name == "derive":
            arrays = (state.weight, state.bias, state.gradWeight, state.gradBias)
        else:
            arrays = (state.W, state.b, state.gradW, state.gradb)
        np.copyto(arrays[0], W0)
        np.copyto(arrays[1], b0)
        arrays[2].fill(0)
        arrays[3].fill(0)

    inputs = {name: (X, G) for name in sides}
    if torch is not None:
        tlayer = torch.nn.Linear(nin, nout).double()
        sides["torch"] = (torch_step, tlayer)
        inputs["torch"] = (torch.from_numpy(X), torch.from_numpy(G))

    # Every side computes the same step.
    for name in sides:
        restart(name)
        step, state = sides[name]
        step(*inputs[name], state, LEARNING_RATE)
    reference = sides["numpy out="][1]
    for name, (step, state) in sides.items():
        if name == "torch":
            W = state.weight.detach().numpy()
        else:
            W = state.weight if name == "derive" else state.W
        assert np.allclose(W, reference.W, rtol=1e-10, atol=1e-12), name

    times = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            restart(name)
            step, state = sides[name]
            times[name].append(time_block(step, *inputs[name], state, n))
    return times


def ratio(times, a, b):
    """Median over the repeats of a's time over b's time in the same repeat."""
    return statistics.median(ta / tb for ta, tb in zip(times[a], times[b]))


def import_time_ms():
    """Median wall time of `python -c "import numpy"` and `python -c "import derive.nn"`, interleaved.

    As a user's install runs: with bytecode caching, even where the environment turns it
    off (PYTHONDONTWRITEBYTECODE), which would time the compiling of every source file."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}

    def run(code):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env)
        return (time.perf_counter() - start) * 1e3

    run("import derive.nn")  # writes the bytecode caches the timed runs read

    numpy_ms, derive_ms = [], []
    for r in range(IMPORT_REPEATS):
        if r % 2 == 0:
            numpy_ms.append(run("import numpy"))
            derive_ms.append(run("import derive.nn"))
        else:
            derive_ms.append(run("import derive.nn"))
            numpy_ms.append(run("import numpy"))
    return statistics.median(numpy_ms), statistics.median(derive_ms)


def backward_peak_bytes(batch, nin, nout):
    """Peak bytes a steady-state backward allocates beyond what was live before it, and gradWeight.nbytes."""
    rng = np.random.default_rng(0)
    layer = nn.Linear(nin, nout, rng=0)
    X = rng.standard_normal((batch, nin))
    G = rng.standard_normal((batch, nout))
    layer.forward(X)
    layer.backward(X, G)  # buffers now allocated: the next backward is steady state
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    layer.backward(X, G)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - before, layer.gradWeight.nbytes


def verdict(ok):
    return "ok" if ok else "MISSED"


def main():
    try:
        import torch
    except ImportError:
        torch = None
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}")
    print("one training step (forward, backward, updateParameters), float64; median time per step; "
          "ratio = median of derive/side over interleaved repeats")
    for batch, nin, nout, target, n, repeats in SIZES:
        times = bench_size(batch, nin, nout, n, repeats, torch)
        median = {name: statistics.median(t) for name, t in times.items()}
        print(f"({batch}, {nin}->{nout}): " + ", ".join(f"{name} {t * 1e6:.1f} us" for name, t in median.items()))
        fastest = min(("numpy out=", "numpy plain"), key=median.get)
        other = "numpy plain" if fastest == "numpy out=" else "numpy out="
        derive_ratio = ratio(times, "derive", fastest)
        goal = f"target <= {target:.2f}x: {verdict(derive_ratio <= target)}" if target else "no target"
        print(f"  derive/{fastest} {derive_ratio:.3f}x (the faster numpy; {goal}), "
              f"derive/{other} {ratio(times, 'derive', other):.3f}x")
        print(f"  derive/numpy flat {ratio(times, 'derive', 'numpy flat'):.3f}x (the Module layer over the same "
              f"layout by hand), kernels/{fastest} {ratio(times, 'kernels', fastest):.3f}x")
        if torch is not None:
            print(f"  torch/{fastest} {ratio(times, 'torch', fastest):.2f}x")

    numpy_ms, derive_ms = import_time_ms()
    extra = derive_ms - numpy_ms
    print(f"import (median of {IMPORT_REPEATS} subprocesses): numpy {numpy_ms:.1f} ms, derive.nn {derive_ms:.1f} ms, "
          f"extra {extra:.1f} ms  target <= {IMPORT_TARGET_MS:.0f} ms: {verdict(extra <= IMPORT_TARGET_MS)}")

    for batch, nin, nout in MEMORY_SIZES:
        peak, nbytes = backward_peak_bytes(batch, nin, nout)
        print(f"peak extra memory of a steady-state backward at ({batch}, {nin}->{nout}): "
              f"{peak / nbytes:.4f}x gradWeight.nbytes ({peak} B = {nbytes} B + {peak - nbytes} B)  "
              f"target <= 1x + small objects ({SMALL_OBJECTS_BYTES} B): "
              f"{verdict(peak <= nbytes + SMALL_OBJECTS_BYTES)}")


if __name__ == "__main__":
    main()

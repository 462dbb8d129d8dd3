"""The layer engine: derivation cost against `derive linear`, size-free cost, and the training
step of a generated module against the same step hand-written in numpy.

Run by hand from the repository root:  python bench/bench_engine.py

Prints, in one run:
- `derive layer 'y = tanh(W @ x + b)' --shape x=784 --shape W=256,784` against
  `derive linear 784 256`, fresh processes, interleaved, median (target: at most 1.5x);
- the same layer's derivation in-process at 1e5 x 1e5 against 2 x 3 (target: at most 1.5x);
- a training step (forward, zeroGradParameters, backward, updateParameters) of the module
  `derive layer --module` writes for tanh(W @ x + b) at batch 32, 64 -> 64, against the
  step hand-written in numpy, interleaved blocks, median per step (target: at most 1.10x).
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive  # noqa: E402

TANH = "y = tanh(W @ x + b)"
BATCH, N_IN, N_OUT, LEARNING_RATE = 32, 64, 64, 0.01
STEPS, REPEATS = 20, 301


def cli(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "derive.cli", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def engine_against_linear() -> None:
    layer = ["layer", TANH, "--shape", "x=784", "--shape", "W=256,784"]
    linear = ["linear", "784", "256"]
    ours, theirs = [], []
    for _ in range(5):  # interleaved: a burst of load elsewhere hits both alike
        ours.append(cli(*layer))
        theirs.append(cli(*linear))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"derive layer tanh 784->256 {a:.2f} s, derive linear 784 256 {b:.2f} s: "
          f"ratio {a / b:.2f}x (target: at most 1.5x)")


def size_free() -> None:
    def derivation(n_in: int, n_out: int) -> float:
        from derive.symbolic.layer import _matrix_of, gradients

        gradients.cache_clear()
        _matrix_of.cache_clear()
        start = time.perf_counter()
        derive.layer(TANH, {"x": (n_in,), "W": (n_out, n_in)}, batch=4)
        return time.perf_counter() - start
    derivation(2, 3)  # sympy's own caches, warmed once for both
    small = statistics.median(derivation(3, 2) for _ in range(5))
    large = statistics.median(derivation(100000, 100000) for _ in range(5))
    print(f"derivation in-process: 2x3 {small:.2f} s, 1e5x1e5 {large:.2f} s: ratio {large / small:.2f}x "
          "(target: at most 1.5x)")


def load_module():
    source = derive.module_source(TANH, {"x": (N_IN,), "W": (N_OUT, N_IN)}, name="TanhLayer")
    path = Path(tempfile.mkdtemp()) / "tanh_layer.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("tanh_layer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TanhLayer


def numpy_step(x, g, W, b, gW, gb, lr):
    """The step by hand: y = tanh(x W^T + b); dz = g (1 - y^2); gradInput, gradients, descent."""
    y = np.tanh(x @ W.T + b)
    gW.fill(0)
    gb.fill(0)
    dz = g * (1 - y * y)
    grad_input = dz @ W
    gW += dz.T @ x
    gb += dz.sum(axis=0)
    W -= lr * gW
    b -= lr * gb
    return grad_input


def derive_step(layer, x, g, lr):
    layer.forward(x)
    layer.zeroGradParameters()
    grad_input = layer.backward(x, g)
    layer.updateParameters(lr)
    return grad_input


def training_step() -> None:
    Layer = load_module()
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((BATCH, N_IN)), rng.standard_normal((BATCH, N_OUT))
    layer = Layer(rng=1)
    W, b = layer.W.copy(), layer.b.copy()
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    np.testing.assert_allclose(derive_step(layer, x, g, 0.0), numpy_step(x, g, W, b, gW, gb, 0.0))
    ours, theirs = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(STEPS):
            derive_step(layer, x, g, LEARNING_RATE)
        ours.append((time.perf_counter() - start) / STEPS)
        start = time.perf_counter()
        for _ in range(STEPS):
            numpy_step(x, g, W, b, gW, gb, LEARNING_RATE)
        theirs.append((time.perf_counter() - start) / STEPS)
    a, b_ = statistics.median(ours), statistics.median(theirs)
    print(f"training step tanh(W x + b), batch {BATCH}, {N_IN}->{N_OUT}: derive {a * 1e6:.1f} us, "
          f"numpy {b_ * 1e6:.1f} us: ratio {a / b_:.3f}x (target: at most 1.10x)")


if __name__ == "__main__":
    engine_against_linear()
    size_free()
    training_step()

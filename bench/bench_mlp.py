"""One training step of an MLP on derive.nn against the same step hand-written in numpy.

Run by hand from the repository root:  python bench/bench_mlp.py

The model: Sequential(Linear(784 -> 256), ReLU, Linear(256 -> 10)) with MSECriterion,
batch 64, float64. A step, in Torch's order: forward, criterion forward and backward,
zeroGradParameters, backward, updateParameters. The numpy side does the same
arithmetic into preallocated buffers, gradInput of the first layer included (Torch's
Sequential computes it too), gradients zeroed then accumulated as Torch's protocol
does. Both sides start every timed block from the same parameters and run in the
same process, interleaved; the median time per step over the repeats is compared.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive.nn as nn  # noqa: E402

BATCH, INPUT, HIDDEN, OUTPUT = 64, 784, 256, 10
LEARNING_RATE = 0.01
STEPS = 5  # per timed block: short blocks, many of them, so a burst of load elsewhere hits both sides alike
REPEATS = 151
TARGET = 1.10


def numpy_step(X, T, params, grads, buffers, lr):
    """The step by hand: H = X W1^T + b1, A = max(H, 0), Y = A W2^T + b2, J = mean((Y - T)^2), backprop, descend."""
    W1, b1, W2, b2 = params
    gW1, gb1, gW2, gb2 = grads
    H, A, Y, gY, gA, gH, gX = buffers
    np.matmul(X, W1.T, out=H)
    np.add(H, b1, out=H)
    np.maximum(H, 0, out=A)
    np.matmul(A, W2.T, out=Y)
    np.add(Y, b2, out=Y)
    diff = (Y - T).ravel()
    loss = float(diff @ diff) / Y.size
    np.subtract(Y, T, out=gY)
    np.multiply(gY, 2 / Y.size, out=gY)
    for g in grads:
        g.fill(0)
    np.matmul(gY, W2, out=gA)
    gW2 += gY.T @ A
    gb2 += gY.sum(axis=0)
    np.greater(H, 0, out=gH)
    np.multiply(gH, gA, out=gH)
    np.matmul(gH, W1, out=gX)
    gW1 += gH.T @ X
    gb1 += gH.sum(axis=0)
    for p, g in zip(params, grads):
        p -= lr * g
    return loss


def derive_step(model, criterion, X, T, lr):
    output = model.forward(X)
    loss = criterion.forward(output, T)
    gradOutput = criterion.backward(output, T)
    model.zeroGradParameters()
    model.backward(X, gradOutput)
    model.updateParameters(lr)
    return loss


def time_block(step, args, n):
    start = time.perf_counter()
    for _ in range(n):
        step(*args)
    return (time.perf_counter() - start) / n


def main():
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, INPUT))
    T = rng.uniform(size=(BATCH, OUTPUT))

    model = nn.Sequential().add(nn.Linear(INPUT, HIDDEN, rng=1)).add(nn.ReLU()).add(nn.Linear(HIDDEN, OUTPUT, rng=2))
    criterion = nn.MSECriterion()
    modelParams, modelGrads = model.parameters()
    start = [p.copy() for p in modelParams]
    params = [p.copy() for p in modelParams]
    grads = [np.zeros_like(p) for p in params]
    buffers = [np.empty(shape) for shape in [(BATCH, HIDDEN), (BATCH, HIDDEN), (BATCH, OUTPUT), (BATCH, OUTPUT),
                                             (BATCH, HIDDEN), (BATCH, HIDDEN), (BATCH, INPUT)]]

    def restart():
        for p, p0 in zip(modelParams + params, start + start):
            np.copyto(p, p0)

    sides = {
        "numpy": (numpy_step, (X, T, params, grads, buffers, LEARNING_RATE)),
        "derive": (derive_step, (model, criterion, X, T, LEARNING_RATE)),
    }

    # Same numbers from both: two steps from the same start.
    restart()
    for _ in range(2):
        losses = [step(*args) for step, args in sides.values()]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    for p, q in zip(modelParams + modelGrads, params + grads):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.gradInput, buffers[-1], rtol=1e-10, atol=1e-14)

    times = {name: [] for name in sides}
    for r in range(REPEATS):
        for name in (sides if r % 2 == 0 else reversed(sides)):
            restart()
            step, args = sides[name]
            times[name].append(time_block(step, args, STEPS))
    median = {name: statistics.median(t) for name, t in times.items()}
    quartiles = {name: statistics.quantiles(t, n=4) for name, t in times.items()}
    ratio = median["derive"] / median["numpy"]
    # Per repeat, the pair ran back to back: the median of their ratios is a second, paired estimate.
    pairedRatio = statistics.median(d / n for d, n in zip(times["derive"], times["numpy"]))

    print(f"one training step of {model!r}".replace("\n", "\n  "))
    print(f"  with nn.MSECriterion, batch {BATCH}, float64; median of {REPEATS} interleaved blocks of {STEPS} steps")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus: other work on the machine adds noise)")
    for name in sides:
        q1, _, q3 = quartiles[name]
        print(f"  {name:6} {median[name] * 1e6:8.1f} us/step  (quartiles {q1 * 1e6:.1f} .. {q3 * 1e6:.1f})")
    print(f"  ratio derive/numpy {ratio:.3f}x, median of paired ratios {pairedRatio:.3f}x  "
          f"(target <= {TARGET:.2f}x: {'ok' if max(ratio, pairedRatio) <= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()

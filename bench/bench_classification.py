"""A training step of the classification losses against the same step hand-written in numpy.

Run by hand from the repository root:  python bench/bench_classification.py

A step is the loss and its gradient with respect to the class scores X (batch, n),
float64, targets 0-based, averaged over the batch (sizeAverage):
  derive lsm+nll   LogSoftMax.forward, ClassNLLCriterion.forward and .backward,
                   LogSoftMax.backward (Torch's modular way)
  numpy lsm+nll    the same two stages by hand, stable (max-shift per sample)
  derive ce        CrossEntropyCriterion.forward and .backward
  numpy ce         the fused softmax - onehot by hand, stable
Blocks are interleaved (the order rotates every repeat); a ratio is the median over
repeats of derive's time over numpy's in the same repeat. Target: at most 1.10x,
each derive side against the numpy code of the same form. Times are the thread's CPU
time (time.thread_time): on a machine shared with other work, wall-clock blocks also
count the time the process waits for a core; --wall measures wall-clock time instead.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive.nn as nn  # noqa: E402

TARGET = 1.10
# (batch, classes, steps per timed block, repeats)
SIZES = [(64, 10, 500, 101), (256, 1000, 5, 101)]


def numpy_lsm_nll(X, t, rows):
    """log softmax, then the mean negative log-likelihood; backward through both."""
    shifted = X - X.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[rows, t].mean()
    grad = np.zeros_like(logp)
    grad[rows, t] = -1 / len(t)
    gradX = grad - np.exp(logp) * grad.sum(axis=1, keepdims=True)
    return loss, gradX


def numpy_ce(X, t, rows):
    """Cross-entropy in one: loss = mean(log sum exp - shifted[t]), gradX = (softmax - onehot) / batch."""
    shifted = X - X.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    loss = (np.log(sums).sum() - shifted[rows, t].sum()) / len(t)
    gradX = exp / sums
    gradX[rows, t] -= 1
    gradX /= len(t)
    return loss, gradX


def derive_lsm_nll(lsm, nll):
    def step(X, t, rows):
        logp = lsm.forward(X)
        loss = nll.forward(logp, t)
        return loss, lsm.backward(X, nll.backward(logp, t))
    return step


def derive_ce(ce):
    def step(X, t, rows):
        loss = ce.forward(X, t)
        return loss, ce.backward(X, t)
    return step


def timed(step, X, t, rows, steps, clock) -> float:
    start = clock()
    for _ in range(steps):
        step(X, t, rows)
    return (clock() - start) / steps


def main() -> None:
    wall = "--wall" in sys.argv[1:]
    clock = time.perf_counter if wall else time.thread_time
    print(f"classification training step (loss + gradient), float64, {'wall-clock' if wall else 'CPU'} time; "
          f"target <= {TARGET:.2f}x")
    verdicts = []
    for batch, classes, steps, repeats in SIZES:
        rng = np.random.default_rng([batch, classes])
        X = rng.standard_normal((batch, classes)) * 10
        t = rng.integers(0, classes, batch)
        rows = np.arange(batch)
        sides = {
            "numpy lsm+nll": numpy_lsm_nll,
            "derive lsm+nll": derive_lsm_nll(nn.LogSoftMax(), nn.ClassNLLCriterion()),
            "numpy ce": numpy_ce,
            "derive ce": derive_ce(nn.CrossEntropyCriterion()),
        }
        for name, step in sides.items():  # agree first, then warm up
            loss, gradX = step(X, t, rows)
            reference = numpy_ce(X, t, rows)
            assert abs(loss - reference[0]) <= 1e-12 * abs(reference[0]), name
            np.testing.assert_allclose(gradX, reference[1], rtol=1e-10, atol=1e-15)
        times = {name: [] for name in sides}
        names = list(sides)
        for repeat in range(repeats):
            order = names[repeat % len(names):] + names[:repeat % len(names)]
            for name in order:
                times[name].append(timed(sides[name], X, t, rows, steps, clock))
        print(f"\nbatch {batch} x {classes} classes")
        for name in names:
            print(f"  {name:15s} {statistics.median(times[name]) * 1e6:9.1f} us")
        for ours, theirs in (("derive lsm+nll", "numpy lsm+nll"), ("derive ce", "numpy ce")):
            ratio = statistics.median(a / b for a, b in zip(times[ours], times[theirs]))
            verdicts.append(ratio <= TARGET)
            print(f"  {ours} / {theirs}: {ratio:.3f}x  {'ok' if ratio <= TARGET else 'OVER TARGET'}")
        ratio = statistics.median(a / b for a, b in zip(times["derive lsm+nll"], times["numpy ce"]))
        print(f"  (derive lsm+nll / numpy ce: {ratio:.3f}x, the modular way against the fused one)")
    print("\nall within target" if all(verdicts) else "\nSOME OVER TARGET")


if __name__ == "__main__":
    main()

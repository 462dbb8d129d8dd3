"""derive check of Linear(64 -> 64) with a batch of 8: the time of the whole list, and against PyTorch's gradcheck.

Run by hand from the repository root:  python bench/bench_check.py

Sides, interleaved in this one process (the order rotates every repeat), medians over repeats:
  derive check       derive.nn.check(Linear(64, 64), (64,), batch=8): every check of the list
                     (Jacobians of one sample and of the batch, accumulation and scale,
                     zeroGradParameters, updateParameters, batch vs samples, backward twice,
                     arguments unchanged, pickle)
  derive Jacobians   the Jacobian checks alone (one sample and the batch), the part gradcheck does
  torch gradcheck    torch.autograd.gradcheck of F.linear in float64 on the batch, with respect to
                     the input, the weight and the bias (its default rule, atol 1e-5 and rtol 1e-3)
The target: the whole check under 5 s on this machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from derive.nn import Linear, check  # noqa: E402
from derive.nn.check import _Checker, _Rule, draw_input  # noqa: E402

SIZE, BATCH, REPEATS = 64, 8, 11
TARGET_S = 5.0


def derive_check() -> None:
    report = check(Linear(SIZE, SIZE, rng=0), (SIZE,), batch=BATCH)
    assert report.passed


def derive_jacobians() -> None:
    layer = Linear(SIZE, SIZE, rng=0)
    checker = _Checker(layer, _Rule(1e-5, None, None), 1e-6)
    rng = np.random.default_rng(0)
    for shape in ((SIZE,), (BATCH, SIZE)):
        assert all(c.passed for c in checker.jacobians(draw_input(rng, shape), BATCH if len(shape) == 2 else 0))


def torch_gradcheck() -> None:
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(BATCH, SIZE, generator=generator, dtype=torch.float64) * 4 - 2).requires_grad_()
    w = (torch.rand(SIZE, SIZE, generator=generator, dtype=torch.float64) - 0.5).requires_grad_()
    b = (torch.rand(SIZE, generator=generator, dtype=torch.float64) - 0.5).requires_grad_()
    assert torch.autograd.gradcheck(F.linear, (x, w, b), eps=1e-6)


def main() -> None:
    sides = {"derive check": derive_check, "derive Jacobians": derive_jacobians}
    try:
        import torch  # noqa: F401

        sides["torch gradcheck"] = torch_gradcheck
    except ImportError:
        print("torch does not import: no gradcheck side")
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(REPEATS):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            start = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"Linear({SIZE} -> {SIZE}), batch of {BATCH}, float64; medians of {REPEATS} interleaved repeats")
    for name, value in medians.items():
        print(f"  {name:17s} {value:8.3f} s")
    whole = medians["derive check"]
    print(f"derive check: {whole:.3f} s, target < {TARGET_S} s: {'met' if whole < TARGET_S else 'MISSED'}")
    if "torch gradcheck" in medians:
        for name in ("derive check", "derive Jacobians"):
            ratios = [d / t for d, t in zip(times[name], times["torch gradcheck"])]
            print(f"  {name} / torch gradcheck: {statistics.median(ratios):.2f}x (median of per-repeat ratios)")


if __name__ == "__main__":
    main()

"""Engine speed: derivation cost does not grow with the layer; element-wise proofs are fast.

Run by hand: ``python bench/bench_engine.py``.  Prints, in one run:
- ``derive linear IN OUT`` end to end (a fresh process, median of repeats) at 100000x100000
  against 2x3 (target: about 1x);
- derivation + rendering in-process at several sizes against 2x3;
- the brute element-wise check of every entry of a 64x64 layer (target: under 1 s),
  against the plain sympy approach (``Matrix.jacobian`` of the expanded layer, row by row).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import sympy as sp


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cli(n_in: int, n_out: int) -> None:
    subprocess.run([sys.executable, "-m", "derive.cli", "linear", str(n_in), str(n_out)],
                   check=True, stdout=subprocess.DEVNULL)


def plain_jacobian(n_in: int, n_out: int) -> None:
    """What one writes without the engine: expand y and let Matrix.jacobian differentiate
    every entry by every variable (dy/dx, dy/dW row by row, dy/db)."""
    x = sp.Matrix(sp.symbols(f"x1:{n_in + 1}"))
    b = sp.Matrix(sp.symbols(f"b1:{n_out + 1}"))
    W = sp.Matrix(n_out, n_in, lambda i, k: sp.Symbol(f"w_{i + 1}_{k + 1}"))
    y = W * x + b
    y.jacobian(x)
    for i in range(n_out):
        y.jacobian(W[i, :])
    y.jacobian(b)


def main() -> None:
    from derive.latex import markdown
    from derive.symbolic import linear
    from derive.symbolic.check import check_elements

    print("derive linear IN OUT, a fresh process each time (median of 5):")
    small = median_time(lambda: cli(2, 3), 5)
    big = median_time(lambda: cli(100000, 100000), 5)
    print(f"  2x3 {small:.3f} s, 100000x100000 {big:.3f} s, ratio {big / small:.2f}x "
          "(target: about 1x)")

    print("derivation + markdown in-process (median of 5), ratio to 2x3:")
    base = median_time(lambda: markdown(linear(2, 3, batch=4)), 5)
    for size in (64, 1000, 100000):
        t = median_time(lambda: markdown(linear(size, size, batch=size)), 5)
        print(f"  {size}x{size} batch {size}: {t * 1e3:.1f} ms, ratio {t / base:.2f}x")

    print("every element of a 64x64 layer proved (brute element-wise check):")
    check_elements(3, 3)  # warm sympy's caches of the machinery, not of the 64x64 layer
    t_check = median_time(lambda: check_elements(64, 64), 3)
    t_check_small = median_time(lambda: check_elements(2, 3), 3)
    print(f"  64x64 {t_check:.2f} s (target: under 1 s), "
          f"ratio to 2x3 {t_check / t_check_small:.1f}x")
    print("plain sympy Matrix.jacobian of the expanded layer (once; slow):")
    t_plain_small = median_time(lambda: plain_jacobian(3, 2), 1)
    t_plain = median_time(lambda: plain_jacobian(64, 64), 1)
    print(f"  64x64 {t_plain:.1f} s; derive is {t_plain / t_check:.0f}x faster "
          f"(2x3: {t_plain_small * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()

"""Programs: the cost of a derivation grows with the number of statements, not exponentially.

Run by hand from the repository root:  python bench/bench_programs.py

Each derivation runs in a fresh Python process (sympy's caches start empty), timed from
derive.layer's call to the markdown's last byte, medians over REPEATS processes:
  tanh nested d deep   y = tanh(tanh(...tanh(x))), d = 1, 2, 4, 8, x of 4 entries
  MLP of L tanh layers y = W_{L+1} @ tanh(W_L @ ... tanh(W1 @ x + b1) ... + b_L) + b_{L+1}, 4 -> 4 ... -> 2
Both written as one expression and derived through named intermediates (intermediates=True:
the argument of each function and each call named), so d = 1 is derived the same way as d = 8.
Targets (issue 19): tanh d=8 / d=1 at most 12; the 4-layer MLP's markdown at most 4x the 1-layer's.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import derive
from derive.latex import markdown
start = time.perf_counter()
text = markdown(derive.layer({text!r}, {shapes!r}, intermediates=True))
print(json.dumps([time.perf_counter() - start, len(text.encode()), max(map(len, text.splitlines()))]))
"""


def measure(text: str, shapes: dict) -> tuple[float, int, int]:
    """(median seconds, markdown bytes, longest line) of the derivation, fresh processes."""
    runs = []
    for _ in range(REPEATS):
        done = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT), text=text, shapes=shapes)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    return statistics.median(r[0] for r in runs), runs[0][1], runs[0][2]


def tanh_nested(depth: int) -> str:
    return "y = " + "tanh(" * depth + "x" + ")" * depth


def mlp(layers: int) -> tuple[str, dict]:
    inner = "x"
    for k in range(1, layers + 1):
        inner = f"tanh(W{k} @ {inner} + b{k})"
    text = f"y = W{layers + 1} @ {inner} + b{layers + 1}"
    shapes = {"x": (4,)} | {f"W{k}": (4, 4) for k in range(1, layers + 1)} | {f"W{layers + 1}": (2, 4)}
    return text, shapes


def main() -> None:
    rows = []
    base = None
    for depth in (1, 2, 4, 8):
        seconds, size, longest = measure(tanh_nested(depth), {"x": (4,)})
        base = base or seconds
        rows.append((f"tanh nested d={depth}", seconds, seconds / base, size, longest))
    tanh_ratio = rows[-1][2]
    first = None
    for layers in (1, 2, 4):
        text, shapes = mlp(layers)
        seconds, size, longest = measure(text, shapes)
        first = first or (seconds, size)
        rows.append((f"MLP {layers} tanh layer{'s' if layers > 1 else ''}", seconds, seconds / first[0], size, longest))
    mlp_ratio = rows[-1][3] / first[1]
    print(f"{'derivation':<22} {'seconds':>8} {'x first':>8} {'markdown B':>11} {'longest line':>13}")
    for name, seconds, ratio, size, longest in rows:
        print(f"{name:<22} {seconds:8.2f} {ratio:8.2f} {size:11d} {longest:13d}")
    print(f"\ntanh d=8 / d=1 time: {tanh_ratio:.2f} (target <= 12: {'met' if tanh_ratio <= 12 else 'MISSED'})")
    print(f"MLP 4 / 1 layer markdown: {mlp_ratio:.2f} (target <= 4: {'met' if mlp_ratio <= 4 else 'MISSED'})")


if __name__ == "__main__":
    main()

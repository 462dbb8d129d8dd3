"""The exported layer y = tanh(W @ x + b) against the same layer left to the framework's autograd.

Run by hand from the repository root:  python bench/bench_export.py

One step is forward + backward (gradients of x, W and b) at batch 256, 1024 -> 1024:
  torch  `derive layer --export torch`'s LayerFunction.apply(x, W, b) against autograd on
         torch.tanh(x @ W.T + b), CPU, float32 and float64;
  jax    the exported custom_vjp function, jitted, against jax.grad of the plain
         jnp.tanh(x @ W.T + b), jitted, float32 (float64 too when jax_enable_x64 is on).
Blocks are interleaved (the order alternates every repeat); a ratio is the median over
repeats of the export's time over the framework's in the same repeat. Target: at most 1.10x.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive  # noqa: E402

BATCH, N_IN, N_OUT = 256, 1024, 1024
TARGET = 1.10
STEPS, REPEATS = 3, 15
EXPR = "y = tanh(W @ x + b)"


def load(framework: str):
    source = derive.export_source(EXPR, {"x": (N_IN,), "W": (N_OUT, N_IN)}, framework=framework)
    path = Path(tempfile.mkdtemp()) / f"exported_{framework}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ratio(mine, theirs) -> tuple[float, float, float]:
    """(median ratio, my median ms, their median ms) over interleaved repeats of STEPS steps each."""
    for f in (mine, theirs):
        f()  # warm up (and compile, for jax)
    ratios, times = [], {mine: [], theirs: []}
    for r in range(REPEATS):
        for f in ((mine, theirs) if r % 2 == 0 else (theirs, mine)):
            start = time.perf_counter()
            for _ in range(STEPS):
                f()
            times[f].append((time.perf_counter() - start) / STEPS * 1e3)
        ratios.append(times[mine][-1] / times[theirs][-1])
    return statistics.median(ratios), statistics.median(times[mine]), statistics.median(times[theirs])


def bench_torch(rows: list) -> None:
    import torch

    module = load("torch")
    for dtype in (torch.float32, torch.float64):
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(BATCH, N_IN, dtype=dtype, generator=generator, requires_grad=True)
        W = (torch.randn(N_OUT, N_IN, dtype=dtype, generator=generator) / N_IN ** 0.5).requires_grad_(True)
        b = torch.zeros(N_OUT, dtype=dtype, requires_grad=True)
        g = torch.randn(BATCH, N_OUT, dtype=dtype, generator=generator)

        def exported():
            return torch.autograd.grad(module.LayerFunction.apply(x, W, b), (x, W, b), g)

        def autograd():
            return torch.autograd.grad(torch.tanh(x @ W.T + b), (x, W, b), g)

        for a, e in zip(exported(), autograd()):  # the same numbers, or the timing means nothing
            torch.testing.assert_close(a, e)
        rows.append((f"torch CPU {str(dtype).removeprefix('torch.')}", "autograd", *ratio(exported, autograd)))


def bench_jax(rows: list) -> None:
    import jax
    import jax.numpy as jnp

    module = load("jax")
    dtypes = [jnp.float32] + ([jnp.float64] if jax.config.jax_enable_x64 else [])
    for dtype in dtypes:
        keys = jax.random.split(jax.random.PRNGKey(0), 3)
        x = jax.random.normal(keys[0], (BATCH, N_IN), dtype)
        W = jax.random.normal(keys[1], (N_OUT, N_IN), dtype) / N_IN ** 0.5
        b = jnp.zeros(N_OUT, dtype)
        g = jax.random.normal(keys[2], (BATCH, N_OUT), dtype)

        def step(f):
            # forward + backward of <g, f(x, W, b)>: the gradients of x, W and b
            return jax.jit(jax.grad(lambda x, W, b: jnp.vdot(g, f(x, W, b)), argnums=(0, 1, 2)))

        exported_step = step(module.Layer)
        plain_step = step(lambda x, W, b: jnp.tanh(x @ W.T + b))

        def exported():
            return jax.block_until_ready(exported_step(x, W, b))

        def plain():
            return jax.block_until_ready(plain_step(x, W, b))

        for a, e in zip(exported(), plain()):
            assert float(jnp.abs(a - e).max()) <= 1e-4 * max(1.0, float(jnp.abs(e).max()))
        rows.append((f"jax jit CPU {jnp.dtype(dtype).name}", "jax.grad", *ratio(exported, plain)))


def main() -> int:
    rows: list = []
    bench_torch(rows)
    try:
        bench_jax(rows)
    except ImportError:
        print("jax is not installed: its rows are left out")
    print(f"{EXPR} at batch {BATCH}, {N_IN} -> {N_OUT}: forward + backward (x, W, b), "
          f"median of {REPEATS} interleaved repeats")
    print(f"{'side':<22} {'baseline':<10} {'export ms':>10} {'baseline ms':>12} {'ratio':>7}  target")
    failed = False
    for side, baseline, r, mine, theirs in rows:
        ok = r <= TARGET
        failed |= not ok
        print(f"{side:<22} {baseline:<10} {mine:>10.2f} {theirs:>12.2f} {r:>6.3f}x  <= {TARGET:.2f}x "
              f"{'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The GPU check of derive.nn: its CUDA tests, then its speed on CUDA. Run on a machine with
a CUDA GPU and CuPy (pip install 'derive[cuda]'), from the repository root:

    python bench/gpu_check.py            # tests and benchmark, well under 5 minutes
    python bench/gpu_check.py --cpu      # the same harness on numpy and PyTorch CPU (checks the script)

1. Tests: pytest on tests/test_nn_type.py and tests/test_nn_catalogue_type.py (the modules,
   every class generated from the catalogue among them, converted and trained on
   each device) with DERIVE_REQUIRE_CUDA=1, so its CUDA runs must run (a skip would be a failure).
2. Steps, float32 and float64, on CUDA: a Linear step at (256, 1024 -> 1024) (forward,
   backward, updateParameters) and the MLP step: Sequential(Linear(784, 256), ReLU,
   Linear(256, 10)) + MSECriterion, batch 64 (forward, the loss as a number, criterion
   backward, zeroGradParameters, backward, updateParameters). Sides, in one process:
     derive   derive.nn moved with type('torch.CudaTensor' / 'torch.CudaDoubleTensor')
     cupy     the same arithmetic hand-written in CuPy into preallocated buffers (for the
              Linear step also "cupy flat": W and b views into one array, one update)
     torch    torch.nn on CUDA with autograd and torch.optim.SGD (the loss read with .item(),
              as derive's criterion returns a number; autograd skips the first layer's
              gradInput, which Torch7's protocol, and so derive and the cupy side, computes)
   Target: derive at most 1.10x the faster hand-written CuPy step; the ratio to torch is printed.
   Also the layer y = tanh(W @ x + b) exported by `derive layer --export torch` at (256, 1024 ->
   1024), forward + backward, against autograd on torch.tanh(x @ W.T + b) there (target <= 1.10x).
3. Crossover: derive's Linear step (batch, n -> n) on the CPU (numpy) and on CUDA, n growing;
   printed: the size below which the CPU is faster.

Timing: every block of steps starts and ends with a device synchronisation
(cupy.cuda.Device().synchronize(), torch.cuda.synchronize()); sides are interleaved, the
order rotating every repeat, and a ratio is the median over repeats of the two sides' times
in the same repeat. Exit status: 0 when the tests pass (a missed speed target is printed as
MISSED, not an error), 1 when they fail, 2 (one line on stderr) when there is no GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import derive.nn as nn  # noqa: E402
# derive's steps are those of the CPU benchmarks beside this file (run as a script, its folder is on sys.path).
from bench_linear import derive_step as derive_linear_step  # noqa: E402
from bench_mlp import derive_step as derive_mlp_step  # noqa: E402
from derive.nn._backend import namespace  # noqa: E402

TARGET = 1.10
LEARNING_RATE = 1e-3
LINEAR_SIZE = (256, 1024, 1024)
MLP_SIZE = (64, 784, 256, 10)
# (batch, n -> n) of the crossover, smallest first.
CROSSOVER_SIZES = [(1, 2), (1, 16), (8, 32), (16, 64), (32, 128), (64, 256), (128, 512), (256, 1024), (512, 2048)]
TEST_FILES = ["tests/test_nn_type.py", "tests/test_nn_catalogue_type.py"]
BLOCK_SECONDS = 0.01  # a timed block lasts about this long


class Backend:
    """The array library and the torch device a run uses: CuPy and CUDA, or numpy and the CPU (--cpu)."""

    def __init__(self, cpu: bool) -> None:
        self.cpu = cpu
        if cpu:
            self.xp, self.name = np, "cpu (numpy; --cpu checks the script, its figures are not the GPU's)"
            self.types = {np.float32: "torch.FloatTensor", np.float64: "torch.DoubleTensor"}
        else:
            import cupy

            self.xp = cupy
            props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            self.name = f"{name} (CuPy {cupy.__version__})"
            self.types = {np.float32: "torch.CudaTensor", np.float64: "torch.CudaDoubleTensor"}
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None and not cpu and not torch.cuda.is_available():
            torch = None
        self.torch = torch
        self.torchDevice = "cpu" if cpu else "cuda"

    def synchronize(self) -> None:
        """Wait for the device's queued work (CuPy's and PyTorch's)."""
        if not self.cpu:
            self.xp.cuda.Device().synchronize()
            if self.torch is not None:
                self.torch.cuda.synchronize()

    def array(self, values, dtype):
        return self.xp.asarray(np.asarray(values, dtype=dtype))

    def host(self, array) -> np.ndarray:
        return array.get() if hasattr(array, "get") else np.asarray(array)


def gpu_missing() -> str | None:
    """Why there is no GPU to check here, or None."""
    try:
        import cupy
    except ImportError as error:
        return f"CuPy does not import ({error}): pip install 'derive[cuda]'"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy's CUDARuntimeError: no driver or no device
        return f"CuPy sees no CUDA GPU ({type(error).__name__}: {error})"
    return None if count > 0 else "CuPy sees no CUDA GPU"


# --- The sides of a step ---------------------------------------------------------------------

class LinearBuffers:
    """Parameters, gradients and buffers of a hand-written Linear step; flat=True: W and b share one array."""

    def __init__(self, xp, dtype, batch, nin, nout, flat=False):
        size = nout * nin + nout
        self.flat, self.gradFlat = xp.zeros(size, dtype), xp.zeros(size, dtype)
        # Torch's names, as derive's Linear: one restart serves both.
        if flat:
            self.weight, self.bias = self.flat[:nout * nin].reshape(nout, nin), self.flat[nout * nin:]
            self.gradWeight = self.gradFlat[:nout * nin].reshape(nout, nin)
            self.gradBias = self.gradFlat[nout * nin:]
        else:
            self.weight, self.bias = xp.zeros((nout, nin), dtype), xp.zeros(nout, dtype)
            self.gradWeight, self.gradBias = xp.zeros((nout, nin), dtype), xp.zeros(nout, dtype)
        self.isFlat = flat
        self.Y, self.gradX = xp.zeros((batch, nout), dtype), xp.zeros((batch, nin), dtype)


def hand_linear_step(X, G, s: LinearBuffers, lr):
    """Y = X W^T + b, gradX = G W, gradW += G^T X, gradb += G^T 1, then descend; into buffers."""
    xp = namespace(X)
    xp.matmul(X, s.weight.T, out=s.Y)
    s.Y += s.bias
    xp.matmul(G, s.weight, out=s.gradX)
    s.gradWeight += G.T @ X
    s.gradBias += G.sum(axis=0)
    if s.isFlat:
        s.flat -= lr * s.gradFlat
    else:
        s.weight -= lr * s.gradWeight
        s.bias -= lr * s.gradBias


def torch_linear_step(X, G, state, lr):
    layer, optimizer = state
    layer(X).backward(G)
    optimizer.step()


class MLPBuffers:
    """Parameters, gradients and buffers of the hand-written MLP step."""

    def __init__(self, xp, dtype, batch, nin, hidden, nout):
        self.params = [xp.zeros((hidden, nin), dtype), xp.zeros(hidden, dtype),
                       xp.zeros((nout, hidden), dtype), xp.zeros(nout, dtype)]
        self.grads = [xp.zeros_like(p) for p in self.params]
        shapes = [(batch, hidden), (batch, hidden), (batch, nout), (batch, nout), (batch, hidden), (batch, hidden),
                  (batch, nin)]
        self.H, self.A, self.Y, self.gY, self.gA, self.gH, self.gX = (xp.zeros(shape, dtype) for shape in shapes)


def hand_mlp_step(X, T, s: MLPBuffers, lr):
    """H = X W1^T + b1, A = max(H, 0), Y = A W2^T + b2, J = mean((Y - T)^2) as a number, backprop, descend."""
    xp = namespace(X)
    W1, b1, W2, b2 = s.params
    gW1, gb1, gW2, gb2 = s.grads
    xp.matmul(X, W1.T, out=s.H)
    s.H += b1
    xp.maximum(s.H, 0, out=s.A)
    xp.matmul(s.A, W2.T, out=s.Y)
    s.Y += b2
    xp.subtract(s.Y, T, out=s.gY)
    loss = float(xp.vdot(s.gY, s.gY)) / s.Y.size
    s.gY *= 2 / s.Y.size
    for g in s.grads:
        g.fill(0)
    xp.matmul(s.gY, W2, out=s.gA)
    gW2 += s.gY.T @ s.A
    gb2 += s.gY.sum(axis=0)
    xp.greater(s.H, 0, out=s.gH)
    s.gH *= s.gA
    xp.matmul(s.gH, W1, out=s.gX)
    gW1 += s.gH.T @ X
    gb1 += s.gH.sum(axis=0)
    for p, g in zip(s.params, s.grads):
        p -= lr * g
    return loss


def torch_mlp_step(X, T, state, lr):
    model, optimizer, loss_fn = state
    optimizer.zero_grad(set_to_none=False)
    loss = loss_fn(model(X), T)
    loss.backward()
    optimizer.step()
    return loss.item()


# --- Timing --------------------------------------------------------------------------------------

def time_block(backend, step, args, n) -> float:
    backend.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step(*args)
    backend.synchronize()
    return (time.perf_counter() - start) / n


def interleaved(backend, sides: dict, restart, repeats: int) -> dict:
    """{side: [seconds per step, one per repeat]}; each side restarted before each of its blocks."""
    steps = {}
    for name, (step, args) in sides.items():  # warm up (CuPy compiles its kernels), then size the blocks
        restart(name)
        step(*args)
        steps[name] = max(1, int(BLOCK_SECONDS / max(time_block(backend, step, args, 2), 1e-7)))
    n = min(steps.values())  # the same number of steps for every side
    times = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            restart(name)
            step, args = sides[name]
            times[name].append(time_block(backend, step, args, n))
    return times


def ratio(times, a, b) -> float:
    """Median over the repeats of a's time over b's in the same repeat."""
    return statistics.median(ta / tb for ta, tb in zip(times[a], times[b]))


def report(title, times, hand: list[str]) -> list[str]:
    """Print the medians and ratios; return the names of missed targets."""
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{title}: " + ", ".join(f"{name} {t * 1e6:.1f} us" for name, t in median.items()))
    fastest = min(hand, key=median.get)
    r = ratio(times, "derive", fastest)
    line = f"  derive/{fastest} {r:.3f}x (the faster hand-written; target <= {TARGET:.2f}x: "
    line += "ok)" if r <= TARGET else "MISSED)"
    if "torch" in times:
        line += (f", derive/torch {ratio(times, 'derive', 'torch'):.3f}x, "
                 f"{fastest}/torch {ratio(times, fastest, 'torch'):.3f}x")
    print(line)
    return [] if r <= TARGET else [title]


# --- The benchmarks ------------------------------------------------------------------------------

def bench_linear(backend, dtype, repeats, size) -> list[str]:
    xp, torch = backend.xp, backend.torch
    batch, nin, nout = size
    rng = np.random.default_rng(0)
    W0, b0 = rng.uniform(-1, 1, (nout, nin)) / np.sqrt(nin), rng.uniform(-1, 1, nout) / np.sqrt(nin)
    X = backend.array(rng.standard_normal((batch, nin)), dtype)
    G = backend.array(rng.standard_normal((batch, nout)), dtype)
    layer = nn.Linear(nin, nout).type(backend.types[dtype])
    hand, handFlat = LinearBuffers(xp, dtype, batch, nin, nout), LinearBuffers(xp, dtype, batch, nin, nout, flat=True)
    sides = {"derive": (derive_linear_step, (X, G, layer, LEARNING_RATE)),
             "cupy": (hand_linear_step, (X, G, hand, LEARNING_RATE)),
             "cupy flat": (hand_linear_step, (X, G, handFlat, LEARNING_RATE))}
    if torch is not None:
        tdtype = getattr(torch, np.dtype(dtype).name)
        tlayer = torch.nn.Linear(nin, nout, device=backend.torchDevice, dtype=tdtype)
        toptimizer = torch.optim.SGD(tlayer.parameters(), lr=LEARNING_RATE)
        tX = torch.as_tensor(backend.host(X), device=backend.torchDevice)
        tG = torch.as_tensor(backend.host(G), device=backend.torchDevice)
        sides["torch"] = (torch_linear_step, (tX, tG, (tlayer, toptimizer), LEARNING_RATE))

    def restart(name):
        if name == "torch":
            with torch.no_grad():
                tlayer.weight.copy_(torch.as_tensor(W0))
                tlayer.bias.copy_(torch.as_tensor(b0))
            tlayer.zero_grad(set_to_none=False)
            return
        state = sides[name][1][2]
        state.weight[...] = xp.asarray(W0.astype(dtype))
        state.bias[...] = xp.asarray(b0.astype(dtype))
        state.gradWeight.fill(0)
        state.gradBias.fill(0)

    # Every side computes the same step.
    for name, (step, args) in sides.items():
        restart(name)
        step(*args)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for name in sides:
        W = (tlayer.weight.detach().cpu().numpy() if name == "torch" else backend.host(sides[name][1][2].weight))
        np.testing.assert_allclose(W, backend.host(hand.weight), rtol=tolerance, atol=tolerance, err_msg=name)
    times = interleaved(backend, sides, restart, repeats)
    return report(f"Linear step ({batch}, {nin}->{nout}), {np.dtype(dtype).name}", times, ["cupy", "cupy flat"])


def bench_mlp(backend, dtype, repeats) -> list[str]:
    xp, torch = backend.xp, backend.torch
    batch, nin, hidden, nout = MLP_SIZE
    rng = np.random.default_rng(0)
    X = backend.array(rng.standard_normal((batch, nin)), dtype)
    T = backend.array(rng.uniform(size=(batch, nout)), dtype)
    model = nn.Sequential().add(nn.Linear(nin, hidden, rng=1)).add(nn.ReLU()).add(nn.Linear(hidden, nout, rng=2))
    start = [p.copy() for p in model.parameters()[0]]  # numpy float64
    model.type(backend.types[dtype])
    criterion = nn.MSECriterion().type(backend.types[dtype])
    hand = MLPBuffers(xp, dtype, batch, nin, hidden, nout)
    sides = {"derive": (derive_mlp_step, (model, criterion, X, T, LEARNING_RATE)),
             "cupy": (hand_mlp_step, (X, T, hand, LEARNING_RATE))}
    if torch is not None:
        tdtype = getattr(torch, np.dtype(dtype).name)
        tmodel = torch.nn.Sequential(torch.nn.Linear(nin, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, nout))
        tmodel.to(device=backend.torchDevice, dtype=tdtype)
        toptimizer = torch.optim.SGD(tmodel.parameters(), lr=LEARNING_RATE)
        tX = torch.as_tensor(backend.host(X), device=backend.torchDevice)
        tT = torch.as_tensor(backend.host(T), device=backend.torchDevice)
        sides["torch"] = (torch_mlp_step, (tX, tT, (tmodel, toptimizer, torch.nn.MSELoss()), LEARNING_RATE))

    def restart(name):
        if name == "torch":
            with torch.no_grad():
                for p, p0 in zip(tmodel.parameters(), start):
                    p.copy_(torch.as_tensor(p0))
            return
        params = model.parameters()[0] if name == "derive" else hand.params
        for p, p0 in zip(params, start):
            p[...] = xp.asarray(p0.astype(dtype))

    losses = {}
    for name, (step, args) in sides.items():
        restart(name)
        losses[name] = [step(*args), step(*args)]
    for name in sides:
        np.testing.assert_allclose(losses[name], losses["cupy"], rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   err_msg=name)
    times = interleaved(backend, sides, restart, repeats)
    return report(f"MLP step (batch {batch}, {nin}->{hidden}->{nout}, MSE), {np.dtype(dtype).name}", times, ["cupy"])


def bench_export(backend, dtype, repeats, size) -> list[str]:
    """`derive layer --export torch`'s Function of y = tanh(W @ x + b) against autograd on
    torch.tanh(x @ W.T + b) on the device: forward + backward (x, W and b)."""
    torch = backend.torch
    batch, nin, nout = size
    title = f"Exported tanh layer ({batch}, {nin}->{nout}), {np.dtype(dtype).name}"
    if torch is None:
        print(f"{title}: torch is not available on this device")
        return []
    import importlib.util
    import tempfile

    import derive

    path = Path(tempfile.mkdtemp()) / "exported_tanh.py"
    path.write_text(derive.export_source("y = tanh(W @ x + b)", {"x": (nin,), "W": (nout, nin)}, framework="torch"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    tdtype, device = getattr(torch, np.dtype(dtype).name), backend.torchDevice

    def tensor(shape, scale=1.0):
        return torch.as_tensor(rng.standard_normal(shape) * scale, dtype=tdtype, device=device)

    x, W, b, g = (tensor((batch, nin)).requires_grad_(True), tensor((nout, nin), nin ** -0.5).requires_grad_(True),
                  tensor(nout).requires_grad_(True), tensor((batch, nout)))

    def export_step(x, W, b, g):
        return torch.autograd.grad(module.LayerFunction.apply(x, W, b), (x, W, b), g)

    def autograd_step(x, W, b, g):
        return torch.autograd.grad(torch.tanh(x @ W.T + b), (x, W, b), g)

    tolerance = 1e-3 if dtype == np.float32 else 1e-10
    for mine, theirs in zip(export_step(x, W, b, g), autograd_step(x, W, b, g)):  # the same step
        torch.testing.assert_close(mine, theirs, rtol=tolerance, atol=tolerance)
    sides = {"export": (export_step, (x, W, b, g)), "autograd": (autograd_step, (x, W, b, g))}
    times = interleaved(backend, sides, lambda name: None, repeats)
    r = ratio(times, "export", "autograd")
    print(f"{title}: " + ", ".join(f"{n} {statistics.median(t) * 1e6:.1f} us" for n, t in times.items()))
    print(f"  export/autograd {r:.3f}x (target <= {TARGET:.2f}x: {'ok' if r <= TARGET else 'MISSED'})")
    return [] if r <= TARGET else [title]


def crossover(backend, dtype, repeats, sizes) -> None:
    """Print derive's Linear step on the CPU against CUDA, growing, and the size below which the CPU wins."""
    cpu = Backend(cpu=True)
    cpuType = cpu.types[dtype]
    print(f"crossover, derive.nn.Linear step, {np.dtype(dtype).name}: CPU (numpy, {os.cpu_count()} cpus) "
          f"against {'CUDA' if not backend.cpu else 'itself (--cpu)'}")
    firstGPUWin = None
    for batch, n in sizes:
        rng = np.random.default_rng(0)
        X, G = rng.standard_normal((batch, n)).astype(dtype), rng.standard_normal((batch, n)).astype(dtype)
        layers = {"cpu": nn.Linear(n, n, rng=0).type(cpuType), "gpu": nn.Linear(n, n, rng=0).type(backend.types[dtype])}
        sides = {"cpu": (derive_linear_step, (X, G, layers["cpu"], LEARNING_RATE)),
                 "gpu": (derive_linear_step, (backend.array(X, dtype), backend.array(G, dtype), layers["gpu"],
                                              LEARNING_RATE))}
        # Gradients zeroed before each block, so the parameters stay near where they started.
        times = interleaved(backend, sides, lambda name: layers[name].zeroGradParameters(), repeats)
        r = ratio(times, "cpu", "gpu")
        cpuTime, gpuTime = statistics.median(times["cpu"]), statistics.median(times["gpu"])
        print(f"  ({batch}, {n}->{n}), {batch * n * n} multiply-adds per product: "
              f"cpu {cpuTime * 1e6:.1f} us, gpu {gpuTime * 1e6:.1f} us, cpu/gpu {r:.2f}x")
        if r > 1 and firstGPUWin is None:
            firstGPUWin = (batch, n)
    if firstGPUWin is None:
        print("  the CPU is faster at every size measured")
    else:
        batch, n = firstGPUWin
        print(f"  crossover: below ({batch}, {n}->{n}) ({batch * n * n} multiply-adds per product) the CPU is faster")


# --- Main ------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true",
                        help="run the harness on numpy and PyTorch CPU instead (checks the script; no GPU figures)")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest run")
    parser.add_argument("--no-bench", action="store_true", help="skip the benchmark")
    parser.add_argument("--repeats", type=int, default=21, help="interleaved repeats per benchmark (default 21)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of the harness: 3 repeats, "
                        "Linear at (32, 128->128), the small crossover sizes")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive int, got {args.repeats}")
    return args


def run_tests(cpu: bool) -> bool:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    if not cpu:
        env["DERIVE_REQUIRE_CUDA"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *TEST_FILES]
    print("$ " + " ".join(command[1:]) + ("" if cpu else "   (DERIVE_REQUIRE_CUDA=1)"), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env).returncode == 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.cpu:
        missing = gpu_missing()
        if missing is not None:
            print(f"gpu_check: no GPU to check: {missing} (python bench/gpu_check.py --cpu checks the script alone)",
                  file=sys.stderr)
            return 2
    started = time.perf_counter()
    backend = Backend(cpu=args.cpu)
    torchText = (f"torch {backend.torch.__version__} on {backend.torchDevice}" if backend.torch is not None
                 else "torch: not available on this device")
    print(f"gpu_check on {backend.name}; numpy {np.__version__}; {torchText}")
    testsPassed = True
    if not args.no_tests:
        testsPassed = run_tests(args.cpu)
        print(f"tests: {'passed' if testsPassed else 'FAILED'} ({time.perf_counter() - started:.0f} s so far)")
    missed = []
    repeats = 3 if args.quick else args.repeats
    sizes = CROSSOVER_SIZES[:4] if args.quick else CROSSOVER_SIZES
    if not args.no_bench:
        for dtype in (np.float32, np.float64):
            missed += bench_linear(backend, dtype, repeats, (32, 128, 128) if args.quick else LINEAR_SIZE)
            missed += bench_mlp(backend, dtype, repeats)
            missed += bench_export(backend, dtype, repeats, (32, 128, 128) if args.quick else LINEAR_SIZE)
        for dtype in (np.float32, np.float64):
            crossover(backend, dtype, max(3, repeats // 3), sizes)
    print(f"done in {time.perf_counter() - started:.0f} s: tests {'passed' if testsPassed else 'FAILED'}, "
          + (f"speed targets missed: {'; '.join(missed)}" if missed else "speed targets met" if not args.no_bench
             else "no benchmark"))
    return 0 if testsPassed else 1


if __name__ == "__main__":
    sys.exit(main())

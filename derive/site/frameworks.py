"""The "In PyTorch and JAX" page: a layer exported to each framework and checked there, and a
hand-written torch.autograd.Function with a bug, caught by ``derive check``; every check and
report on the page is run when the site is built.
"""

from __future__ import annotations

import importlib.util
import io
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import derive

from .build import SiteBuildError

EXPORT_EXPR = "y = tanh(W @ x + b)"
EXPORT_SHAPES = {"x": (3,), "W": (2, 3)}
EXPORT_COMMAND = "derive layer 'y = tanh(W @ x + b)' --shape x=3 --shape W=2,3 --export {framework} -o dense.py --name Dense"

# A user's tanh layer whose backward forgot to multiply by grad_output (pytorch issue #2710).
BUGGY_FUNCTION = '''import torch


class MyTanh(torch.autograd.Function):
    """y = tanh(x), with a hand-written backward."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return 1 - y * y  # the derivative of tanh... times what?
'''
BUGGY_COMMAND = ["check", "mytanh.py:MyTanh", "--input-shape", "3", "--batch", "2", "--against", "y = tanh(x)"]


def _load(source: str, folder: Path, stem: str):
    path = folder / f"{stem}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_export_checks(folder: Path) -> dict[str, object]:
    """The exported torch layer's gradcheck, gradgradcheck, and its largest difference from
    autograd on torch.tanh(x @ W.T + b), float64, a batch of 4."""
    import torch

    module = _load(derive.export_source(EXPORT_EXPR, EXPORT_SHAPES, framework="torch", name="Dense"),
                   folder, "dense_torch")
    layer = module.Dense(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = torch.rand(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 4 - 2
    inputs = (x.requires_grad_(True), layer.W.detach().clone().requires_grad_(True),
              layer.b.detach().clone().requires_grad_(True))
    mine = torch.autograd.grad(module.DenseFunction.apply(*inputs).sum(), inputs)
    theirs = torch.autograd.grad(torch.tanh(inputs[0] @ inputs[1].T + inputs[2]).sum(), inputs)
    return {"gradcheck": torch.autograd.gradcheck(module.DenseFunction.apply, inputs),
            "gradgradcheck": torch.autograd.gradgradcheck(module.DenseFunction.apply, inputs),
            "difference": max(float((a - b).abs().max()) for a, b in zip(mine, theirs))}


def jax_export_checks(folder: Path) -> dict[str, object]:
    """The exported jax function under jit and vmap against jax.grad of the plain function
    (float32, JAX's default), and check_grads to order 2."""
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    module = _load(derive.export_source(EXPORT_EXPR, EXPORT_SHAPES, framework="jax", name="dense"),
                   folder, "dense_jax")
    W, b = module.init(jax.random.PRNGKey(0))
    X = jax.random.normal(jax.random.PRNGKey(1), (4, 3))

    def loss(f):
        return lambda x, W, b: jnp.sum(f(x, W, b) ** 2)

    plain = jax.grad(loss(lambda x, W, b: jnp.tanh(x @ W.T + b)), argnums=(0, 1, 2))(X, W, b)
    jitted = jax.jit(jax.grad(loss(module.dense), argnums=(0, 1, 2)))(X, W, b)
    mapped = jax.jit(jax.grad(loss(jax.vmap(module.dense, (0, None, None))), argnums=(0, 1, 2)))(X, W, b)
    check_grads(module.dense, (X, W, b), order=2, modes=["rev"], eps=1e-2, atol=1e-2, rtol=1e-2)
    return {"jit": max(float(jnp.abs(a - e).max()) for a, e in zip(jitted, plain)),
            "vmap": max(float(jnp.abs(a - e).max()) for a, e in zip(mapped, plain))}


def buggy_report(folder: Path) -> tuple[int, str]:
    """``derive check`` on BUGGY_FUNCTION: (exit status, its report)."""
    from derive.cli import main

    (folder / "mytanh.py").write_text(BUGGY_FUNCTION)
    out, err = io.StringIO(), io.StringIO()
    command = list(BUGGY_COMMAND)
    command[1] = str(folder / command[1])
    with redirect_stdout(out), redirect_stderr(err):
        status = main(command)
    if status == 2:
        raise SiteBuildError(f"derive check could not run on the page's example: {err.getvalue().strip()}")
    return status, out.getvalue().replace(str(folder) + "/", "")


def frameworks_page() -> str:
    """The page, its checks run now."""
    try:
        import jax  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        raise SiteBuildError(f"the page 'In PyTorch and JAX' runs torch and jax when it is built: "
                             f"{error} (pip install torch jax)") from None
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        checks = torch_export_checks(folder)
        jax_checks = jax_export_checks(folder)
        status, report = buggy_report(folder)
    torch_source = derive.export_source(EXPORT_EXPR, EXPORT_SHAPES, framework="torch", name="Dense")
    jax_source = derive.export_source(EXPORT_EXPR, EXPORT_SHAPES, framework="jax", name="dense")
    yes = {True: "passes", False: "**fails**"}
    return f"""# In PyTorch and JAX

PyTorch and JAX hide their gradient formulas: PyTorch's are C++ generated from a table a user
never reads, and `jax.make_jaxpr(jax.grad(f))` prints primitives, not a formula. And when a
backward is written by hand (a `torch.autograd.Function`, a `jax.custom_vjp`), the checks
they ship answer `False` or print two whole Jacobians. derive takes its proved gradients to
both frameworks, and checks the backward passes people write there, naming the faulty entries.

## A layer, exported to PyTorch

`--export torch` writes the layer's forward and backward as torch operations, lowered from the
same proved results as derive's numpy modules (each formula in its kernel's docstring), a
`torch.autograd.Function` around them and a `torch.nn.Module` holding the parameters as
`nn.Parameter`s, drawn as derive's modules draw them. The backward computes only the gradients
autograd asks for, works on any device and dtype, and is made of differentiable operations,
so double backward works. From Python: `derive.export_source(expr, shapes, framework="torch")`;
the catalogue's commands take the flag too (`derive linear 784 256 --export torch -o linear.py`,
`derive crossentropy 10 --export jax -o loss.py`: a criterion is a function of input and target).

```sh
{EXPORT_COMMAND.format(framework="torch")}
```

```python
{torch_source}```

Run when this page was built, in float64 on a batch of 4: `torch.autograd.gradcheck`
{yes[checks["gradcheck"]]}, `torch.autograd.gradgradcheck` {yes[checks["gradgradcheck"]]}, and
the gradients of x, W and b differ from autograd's on `torch.tanh(x @ W.T + b)` by at most
{checks["difference"]:.1e}.

## The same layer in JAX

`--export jax` writes a function with `jax.custom_vjp` whose forward and backward are the same
results in `jax.numpy`, and `init(key)` for its parameters. It works under `jax.jit`,
`jax.vmap` and `jax.grad` of its own gradient.

```sh
{EXPORT_COMMAND.format(framework="jax").replace("--name Dense", "--name dense")}
```

```python
{jax_source}```

Run when this page was built (float32, JAX's default): the jitted gradient of
`sum(dense(x, W, b)**2)` differs from `jax.grad` of the plain `jnp.tanh(x @ W.T + b)` by at most
{jax_checks["jit"]:.1e}, and under `jax.vmap` by at most {jax_checks["vmap"]:.1e};
`jax.test_util.check_grads(dense, (x, W, b), order=2, modes=["rev"])` passes.

## A hand-written backward, checked

`derive check FILE.py:NAME` takes a `torch.autograd.Function` subclass (the shapes of the
arguments after the input from `--shape NAME=...`, or from `--against`'s expression) or a
`torch.nn.Module` (a custom backward anywhere inside), and runs derive's checks on it in
float64: every input's and parameter's gradient against central differences, one sample and a
batch, the batch against its samples one by one, backward twice; with `--against EXPR`, derive's
proved formula too. A failure lists the worst entries and names the pattern when it finds one:
transposed, missing the grad_output factor, the wrong sign, a constant factor, not summed over
the batch, the gradient of another input. Exit status 0 when everything passes, 1 when a check
fails, 2 for bad usage; `--format json` for programs.

Here is a tanh whose backward forgot to multiply by `grad_output`, the bug of PyTorch issue
#2710 (`mytanh.py`):

```python
{BUGGY_FUNCTION}```

```sh
derive {" ".join(BUGGY_COMMAND[:-1])} '{BUGGY_COMMAND[-1]}'
```

Its report, computed when this page was built (exit status {status}):

```text
{report}```

The fix is `return grad_output * (1 - y * y)`.
"""

"""Programs exported to PyTorch and JAX (`derive layer --file F --export torch|jax`): LayerNorm,
the RNN and LSTM steps (several inputs, several outputs) and Backprop Ninja's network (a
criterion with parameters and an integer target), checked with torch.autograd.gradcheck and
jax's check_grads, and against the numpy module derive writes for the same program."""

import importlib.util
import itertools

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.programs import PROGRAMS

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
from jax.test_util import check_grads  # noqa: E402

_count = itertools.count()
LAYERS = ["layernorm", "rnn-step", "lstm-step", "batchnorm"]


def _entry(slug):
    return next(e for e in PROGRAMS if e.slug == slug)


def _load(source: str, tmp_path, stem="exported_program"):
    path = tmp_path / f"{stem}_{next(_count)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export(entry, framework, tmp_path):
    return _load(derive.export_source(entry.text, entry.shapes, framework=framework, name=entry.name,
                                      **entry.options), tmp_path)


def _numpy_module(entry, tmp_path):
    return getattr(_load(derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options),
                         tmp_path, "numpy_program"), entry.name)


@pytest.mark.parametrize("slug", LAYERS)
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_torch_export_of_a_program_passes_gradcheck_and_agrees_with_the_numpy_module(slug, batch, tmp_path):
    entry = _entry(slug)
    module = _export(entry, "torch", tmp_path)
    Layer = getattr(module, entry.name)
    layer = Layer(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(1)
    lead = (batch,) if batch else ()
    xs = [torch.tensor(rng.uniform(-2, 2, lead + s), requires_grad=True) for s in Layer.inputShapes]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    function = getattr(module, f"{entry.name}Function").apply
    assert torch.autograd.gradcheck(function, (*xs, *params))
    # the same numbers as derive.nn's module of the same program
    mine = _numpy_module(entry, tmp_path)()
    for (name, _), p in zip(mine._parameterSlots, params):
        getattr(mine, name)[...] = p.detach().numpy()
    arrays = [x.detach().numpy() for x in xs]
    outs = function(*xs, *params)
    outs = outs if isinstance(outs, tuple) else (outs,)
    expected = mine.forward(arrays if len(arrays) > 1 else arrays[0])
    for got, want in zip(outs, expected if len(outs) > 1 else [expected], strict=True):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12, atol=1e-12)


def test_torch_export_of_backprop_ninja_with_integer_targets(tmp_path):
    entry = _entry("ninja")
    module = _export(entry, "torch", tmp_path)
    net = module.Ninja(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    Yb = torch.tensor(rng.integers(0, 3, (2, 4)))
    params = [p.detach().clone().requires_grad_(True) for p in net.parameters()]
    assert torch.autograd.gradcheck(lambda x, *p: module.NinjaFunction.apply(x, Yb, *p), (x, *params))
    loss = net(x, Yb)
    loss.backward()
    W1, b1, bngain, bnbias, W2, b2 = (p.detach().clone().requires_grad_(True) for p in net.parameters())
    F = torch.nn.functional
    losses = []
    for k in range(2):
        h = torch.tanh(F.batch_norm(F.linear(x[k], W1, b1), None, None, bngain, bnbias, training=True, eps=1e-5))
        losses.append(F.cross_entropy(F.linear(h, W2, b2), Yb[k]))
    reference = torch.stack(losses).mean()
    reference.backward()
    torch.testing.assert_close(loss, reference, rtol=1e-12, atol=1e-12)
    for mine, theirs in zip(net.parameters(), (W1, b1, bngain, bnbias, W2, b2)):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("slug", LAYERS)
def test_jax_export_of_a_program_passes_check_grads(slug, tmp_path):
    entry = _entry(slug)
    module = _export(entry, "jax", tmp_path)
    rng = np.random.default_rng(3)
    xs = [jnp.asarray(rng.uniform(-2, 2, (2,) + s)) for s in module.inputShapes]
    params = tuple(module.init(jax.random.PRNGKey(0)))
    function = getattr(module, entry.name)
    check_grads(function, (*xs, *params), order=1, modes=["rev"])
    one = [x[0] for x in xs]
    check_grads(function, (*one, *params), order=1, modes=["rev"])


def test_jax_export_of_backprop_ninja(tmp_path):
    entry = _entry("ninja")
    module = _export(entry, "jax", tmp_path)
    rng = np.random.default_rng(4)
    x, Yb = jnp.asarray(rng.standard_normal((4, 3))), jnp.asarray(rng.integers(0, 3, (4,)))
    params = tuple(module.init(jax.random.PRNGKey(1)))
    check_grads(lambda x, *p: module.Ninja(x, Yb, *p), (x, *params), order=1, modes=["rev"])


def test_the_cli_exports_a_program_read_from_a_file(tmp_path, capsys):
    entry = _entry("rnn-step")
    program = tmp_path / "rnn.txt"
    program.write_text(entry.text)
    out = tmp_path / "rnn_torch.py"
    args = ["layer", "--file", str(program), "--input", "x,h", "--export", "torch", "--name", "RNNStep",
            "-o", str(out)] + [a for n, s in entry.shapes.items() for a in ("--shape", f"{n}={','.join(map(str, s))}")]
    assert main(args) == 0
    module = _load(out.read_text(), tmp_path)
    layer = module.RNNStep(dtype=torch.float64)
    h2 = layer(torch.zeros(3, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(h2, torch.tanh(layer.b.detach()))

"""`derive layer --export torch|jax` for layers using max over indices, where, and an integer
class target (issue 19's last item): gradcheck / check_grads on the exported backward, and
the values against PyTorch's own ops."""

import importlib.util
import itertools

import numpy as np
import pytest

from derive.export import export_source

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
from jax.test_util import check_grads  # noqa: E402

_count = itertools.count()

LAYERS = [  # text, shapes, torch reference of (x, *parameters)
    ("y[i] = max(x[i,j], j)", {"x": (2, 3)}, lambda x: x.max(dim=-1).values),
    ("y = where(x > 0, x, 0.1 * x)", {"x": (3,)}, lambda x: torch.nn.functional.leaky_relu(x, 0.1)),
    ("y[i] = max(W[i,j] * x[j], j) + b[i]", {"x": (3,), "W": (2, 3)},
     lambda x, W, b: (W * x.unsqueeze(-2)).max(dim=-1).values + b),
]
CROSS_ENTROPY = "J = log(sum(exp(x[k]), k)) - x[t]"


def _load(source: str, tmp_path):
    path = tmp_path / f"exported_more_{next(_count)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _distinct(shape, seed):
    """Inputs with no ties (the max's subgradient is a kink there) and none near 0 (where's)."""
    rng = np.random.default_rng(seed)
    values = rng.permutation(np.arange(1, int(np.prod(shape)) + 1)) * 0.37 * rng.choice([-1, 1], shape).ravel()
    return values.reshape(shape)


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_torch_export_with_max_and_where_passes_gradcheck(case, batch, tmp_path):
    text, shapes, reference = case
    module = _load(export_source(text, shapes, framework="torch"), tmp_path)
    torch.manual_seed(0)
    layer = module.Layer(dtype=torch.float64)
    x = torch.tensor(_distinct(((batch,) if batch else ()) + module.Layer.inputShape, 1), requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    assert torch.autograd.gradcheck(module.LayerFunction.apply, (x, *params))
    y = module.LayerFunction.apply(x, *params)
    torch.testing.assert_close(y, reference(x, *params), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_jax_export_with_max_and_where_passes_check_grads(case, tmp_path):
    text, shapes, reference = case
    module = _load(export_source(text, shapes, framework="jax"), tmp_path)
    x = jnp.asarray(_distinct((2,) + module.inputShape, 2))
    params = tuple(module.init(jax.random.PRNGKey(0)))
    check_grads(module.Layer, (x, *params), order=1, modes=["rev"])
    y = module.Layer(x, *params)
    expected = reference(torch.tensor(np.asarray(x)), *(torch.tensor(np.asarray(p)) for p in params))
    np.testing.assert_allclose(np.asarray(y), expected.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_torch_export_of_cross_entropy_with_an_integer_target(batch, tmp_path):
    module = _load(export_source(CROSS_ENTROPY, {"x": (4,)}, framework="torch", target="t"), tmp_path)
    rng = np.random.default_rng(3)
    lead = (batch,) if batch else ()
    x = torch.tensor(rng.uniform(-2, 2, lead + (4,)), requires_grad=True)
    t = torch.tensor(rng.integers(0, 4, lead))
    loss = module.Layer(x, t)
    expected = torch.nn.functional.cross_entropy(x.reshape(-1, 4), t.reshape(-1))
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: module.Layer(x, t), (x,))


def test_jax_export_of_cross_entropy_with_an_integer_target(tmp_path):
    module = _load(export_source(CROSS_ENTROPY, {"x": (4,)}, framework="jax", target="t"), tmp_path)
    rng = np.random.default_rng(4)
    x, t = rng.uniform(-2, 2, (3, 4)), rng.integers(0, 4, (3,))
    check_grads(lambda x: module.Layer(x, jnp.asarray(t)), (jnp.asarray(x),), order=1, modes=["rev"])
    xt = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(xt, torch.tensor(t))
    expected.backward()
    np.testing.assert_allclose(float(module.Layer(jnp.asarray(x), jnp.asarray(t))), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.grad(module.Layer)(jnp.asarray(x), jnp.asarray(t))),
                               xt.grad.numpy(), rtol=1e-10, atol=1e-12)

"""Layers exported to PyTorch and JAX: every expression of the layer-engine tests, its
exported backward checked against finite differences (gradcheck, gradgradcheck; JAX's
check_grads to order 2) and against autograd on the same layer written by hand."""

import importlib.util
import itertools

import numpy as np
import pytest
import torch

import derive
from derive.export import export_source
from test_layer_engine import CRITERIA, LAYERS

_count = itertools.count()


def load(source: str, tmp_path):
    path = tmp_path / f"exported_{next(_count)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_layer(case, tmp_path):
    text, shapes, kwargs, reference = case
    return load(export_source(text, shapes, framework="torch", **kwargs), tmp_path), reference


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_torch_export_agrees_with_autograd(case, batch, tmp_path):
    module, reference = torch_layer(case, tmp_path)
    torch.manual_seed(0)
    layer = module.Layer(dtype=torch.float64)
    params = list(layer.parameters())
    x = (torch.rand(((batch,) if batch else ()) + module.Layer.inputShape, dtype=torch.float64) * 4 - 2)
    x.requires_grad_(True)
    y = layer(x)
    mine = torch.autograd.grad(y, [x] + params, g := torch.randn_like(y))
    x2 = x.detach().clone().requires_grad_(True)
    p2 = [p.detach().clone().requires_grad_(True) for p in params]
    y2 = reference(x2, *p2)
    theirs = torch.autograd.grad(y2, [x2] + p2, g)
    torch.testing.assert_close(y, y2, rtol=1e-10, atol=1e-12)
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_torch_export_passes_gradcheck_and_gradgradcheck(case, batch, tmp_path):
    module, _ = torch_layer(case, tmp_path)
    torch.manual_seed(1)
    layer = module.Layer(dtype=torch.float64)
    x = torch.rand(((batch,) if batch else ()) + module.Layer.inputShape, dtype=torch.float64) * 4 - 2
    inputs = (x.requires_grad_(True),) + tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())
    assert torch.autograd.gradcheck(module.LayerFunction.apply, inputs)
    assert torch.autograd.gradgradcheck(module.LayerFunction.apply, inputs)


@pytest.mark.parametrize("case", CRITERIA, ids=[c[0] for c in CRITERIA])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_torch_export_of_a_criterion(case, batch, tmp_path):
    module, reference = torch_layer(case, tmp_path)
    torch.manual_seed(2)
    shape = ((batch,) if batch else ()) + tuple(case[1]["x"])
    x = (torch.rand(shape, dtype=torch.float64) * 4 - 2).requires_grad_(True)
    t = torch.rand(shape, dtype=torch.float64)
    loss = module.Layer(x, t)
    expected = reference(x, t).mean()  # a batch: the mean of the samples' losses
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    (mine,) = torch.autograd.grad(loss, x)
    (theirs,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: module.Layer(x, t), (x,))
    assert torch.autograd.gradgradcheck(lambda x: module.Layer(x, t), (x,))


# -- JAX ---------------------------------------------------------------------------------
jax = pytest.importorskip("jax")  # in the test extra: runs wherever the extra is installed
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
from jax.test_util import check_grads  # noqa: E402


def jax_layer(case, tmp_path):
    text, shapes, kwargs, reference = case
    return load(export_source(text, shapes, framework="jax", **kwargs), tmp_path), reference


def _inputs(module, case, batch, seed):
    rng = np.random.default_rng(seed)
    shape = ((batch,) if batch else ()) + module.inputShape
    x = rng.uniform(-2, 2, shape)
    params = [np.asarray(p, dtype=np.float64) for p in module.init(jax.random.PRNGKey(seed))] \
        if hasattr(module, "init") else []
    return x, params


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_jax_export_agrees_with_autograd_and_passes_check_grads(case, batch, tmp_path):
    module, reference = jax_layer(case, tmp_path)
    x, params = _inputs(module, case, batch, 4)
    y = module.Layer(jnp.asarray(x), *map(jnp.asarray, params))
    g = np.random.default_rng(5).standard_normal(y.shape)
    _, vjp = jax.vjp(module.Layer, jnp.asarray(x), *map(jnp.asarray, params))
    mine = vjp(jnp.asarray(g))
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p, requires_grad=True) for p in params]
    yt = reference(xt, *pt)
    theirs = torch.autograd.grad(yt, [xt] + pt, torch.tensor(g))
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-10, atol=1e-12)
    check_grads(module.Layer, (jnp.asarray(x), *map(jnp.asarray, params)), order=2, modes=["rev"])


@pytest.mark.parametrize("case", CRITERIA, ids=[c[0] for c in CRITERIA])
def test_jax_export_of_a_criterion(case, tmp_path):
    module, reference = jax_layer(case, tmp_path)
    rng = np.random.default_rng(6)
    x, t = rng.uniform(-2, 2, (3,) + case[1]["x"]), rng.uniform(0, 1, (3,) + case[1]["x"])
    grad = jax.grad(module.Layer)(jnp.asarray(x), jnp.asarray(t))
    xt = torch.tensor(x, requires_grad=True)
    reference(xt, torch.tensor(t)).mean().backward()
    np.testing.assert_allclose(np.asarray(grad), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_grads(lambda x: module.Layer(x, jnp.asarray(t)), (jnp.asarray(x),), order=2, modes=["rev"])


def test_jax_export_under_jit_and_vmap_agrees_with_jax_grad_of_the_plain_function(tmp_path):
    module = load(export_source("y = tanh(W @ x + b)", {"x": (5,), "W": (3, 5)}, framework="jax"), tmp_path)
    W, b = module.init(jax.random.PRNGKey(0))
    X = jax.random.normal(jax.random.PRNGKey(1), (4, 5))

    def plain(x, W, b):
        return jnp.tanh(W @ x + b)

    def loss(f):
        return lambda x, W, b: jnp.sum(jnp.sin(f(x, W, b)))

    expected = jax.grad(loss(jax.vmap(plain, (0, None, None))), argnums=(0, 1, 2))(X, W, b)
    batched = jax.jit(jax.grad(loss(module.Layer), argnums=(0, 1, 2)))(X, W, b)
    mapped = jax.jit(jax.grad(loss(jax.vmap(module.Layer, (0, None, None))), argnums=(0, 1, 2)))(X, W, b)
    for got in (batched, mapped):
        for a, e in zip(got, expected):
            np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-10, atol=1e-12)
    # Per-sample gradients (vmap of grad): each sample's own dJ/dW.
    per_sample = jax.jit(jax.vmap(jax.grad(loss(module.Layer), argnums=1), (0, None, None)))(X, W, b)
    for k in range(4):
        np.testing.assert_allclose(np.asarray(per_sample[k]),
                                   np.asarray(jax.grad(loss(plain), argnums=1)(X[k], W, b)), rtol=1e-10, atol=1e-12)

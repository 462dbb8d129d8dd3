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

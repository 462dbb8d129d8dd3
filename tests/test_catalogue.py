"""Torch7's nn modules that need extrema, conditions, ranges and constants, each written as its
documentation's formula (torch/nn doc/transfer.md, simple.md, convolution.md, criterion.md),
derived by the engine, generated as a module and compared with PyTorch in float64, for one
sample and a batch, at inputs away from the kinks."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import derive

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _away(x: np.ndarray, kinks) -> np.ndarray:
    """x moved at least 0.05 away from every kink (the tests check the gradient, not a subgradient)."""
    for c in kinks:
        close = np.abs(x - c) < 0.05
        x = np.where(close, x + 0.1, x)
    return x


def _pool1d(x):  # TemporalMaxPooling's (time, frame) layout is PyTorch's (frame, time) transposed
    return F.max_pool1d(x.transpose(-1, -2), 2).transpose(-1, -2)


#: (Torch7 name, expression, shapes, keyword arguments, PyTorch, inputs' range, kinks)
MODULES = [
    ("HardTanh", "y = clamp(x, -1, 1)", {"x": (7,)}, {}, F.hardtanh, (-3, 3), (-1, 1)),
    ("Clamp", "y = clamp(x, -0.5, 2)", {"x": (3, 4)}, {}, lambda x: torch.clamp(x, -0.5, 2), (-3, 3), (-0.5, 2)),
    ("ReLU6", "y = min(max(x, 0), 6)", {"x": (9,)}, {}, F.relu6, (-8, 8), (0, 6)),
    ("ReLU (where)", "y = where(x > 0, x, 0)", {"x": (6,)}, {}, F.relu, (-3, 3), (0,)),
    ("LeakyReLU", "y = max(0, x) + 0.01 * min(0, x)", {"x": (8,)}, {}, F.leaky_relu, (-3, 3), (0,)),
    ("ELU", "y = max(0, x) + min(0, 1.0 * (exp(x) - 1))", {"x": (8,)}, {}, F.elu, (-3, 3), (0,)),
    ("ELU (where)", "y = where(x > 0, x, exp(x) - 1)", {"x": (2, 5)}, {}, F.elu, (-3, 3), (0,)),
    ("HardShrink", "y = where(abs(x) > 0.5, x, 0)", {"x": (8,)}, {},
     lambda x: F.hardshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    ("SoftShrink", "y = where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))", {"x": (8,)}, {},
     lambda x: F.softshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    ("Threshold", "y = where(x > 0.1, x, 20)", {"x": (8,)}, {},
     lambda x: F.threshold(x, 0.1, 20), (-3, 3), (0.1,)),
    ("Max", "y[i] = max(x[i,j], j)", {"x": (3, 5)}, {}, lambda x: torch.max(x, -1)[0], (-3, 3), ()),
    ("Min", "y[j] = min(x[i,j], i)", {"x": (4, 3)}, {}, lambda x: torch.min(x, -2)[0], (-3, 3), ()),
    ("TemporalMaxPooling", "y[t,c] = max(x[2*t+k-2, c], k)", {"x": (8, 3)}, {"ranges": {"k": 2}},
     _pool1d, (-3, 3), ()),
    ("SpatialMaxPooling", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (2, 6, 6)},
     {"ranges": {"p": 2, "q": 2}}, lambda x: F.max_pool2d(x, 2), (-3, 3), ()),
    ("SpatialMaxPooling (3x3, stride 2)", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (2, 7, 7)},
     {"ranges": {"p": 3, "q": 3}}, lambda x: F.max_pool2d(x, 3, 2), (-3, 3), ()),
    ("SpatialMaxPooling (ranges inferred)", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)",
     {"x": (2, 6, 6), "y": (2, 3, 3)}, {}, lambda x: F.max_pool2d(x, 2), (-3, 3), ()),
    ("Normalize(inf)", "y[i] = x[i] / max(abs(x[k]), k)", {"x": (5,)}, {},
     lambda x: F.normalize(x, p=float("inf"), dim=-1), (-3, 3), ()),
]


def load(source: str, tmp_path, name: str = "Layer"):
    path = tmp_path / f"generated_{abs(hash(source))}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize("case", MODULES, ids=[c[0] for c in MODULES])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_module_agrees_with_pytorch(case, batch, tmp_path):
    name, text, shapes, kwargs, reference, (low, high), kinks = case
    Layer = load(derive.module_source(text, shapes, **kwargs), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = _away(rng.uniform(low, high, ((batch,) if batch else ()) + Layer.inputShape), kinks)
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-10, atol=1e-12)

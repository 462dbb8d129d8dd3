"""A Kronecker delta inside nested conditions (a padding's where(i > 3, where(i - 2 >= 1, delta,
0), 0), a soft shrink's where(x > l, delta, where(x < -l, delta, 0))) is taken out of every
branch, so the chain rule's sums collapse: the gradient is read entry by entry, never a sum
over every output position nor a matrix of deltas, and it agrees with PyTorch's autograd."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import derive
from derive.symbolic.language import parse
from derive.symbolic.layer import gradients

from test_layer_engine import agrees_with_autograd, load

torch = pytest.importorskip("torch")
F = torch.nn.functional

CASES = [
    # pad two zeros before the second of four entries along the last axis (nested guards)
    ("y[a,i] = where(i <= 1, x[a,i], 0) + where(i > 3, x[a,i-2], 0)", {"x": (2, 4), "y": (2, 6)},
     lambda x: torch.cat([x[..., :1], torch.zeros_like(x[..., :2]), x[..., 1:]], dim=-1)),
    ("y[a,i] = where(i > 3, x[a,i-2], 0)", {"x": (2, 4), "y": (2, 5)},
     lambda x: torch.cat([torch.zeros_like(x[..., :3]), x[..., 1:3]], dim=-1)),
    ("y = where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))", {"x": (5,)},
     lambda x: F.softshrink(x, 0.5)),
]


@pytest.mark.parametrize("text,shapes,reference", CASES)
def test_the_gradient_has_no_sum_and_no_delta(text, shapes, reference):
    spec = parse(text, shapes)
    gradient = gradients(spec)["x"].index_form
    assert not gradient.atoms(sp.Sum), gradient
    assert not gradient.atoms(sp.KroneckerDelta), gradient


@pytest.mark.parametrize("text,shapes,reference", CASES)
def test_the_module_agrees_with_autograd(text, shapes, reference, tmp_path):
    Layer = load(derive.module_source(text, shapes), tmp_path)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(Layer.inputShape)
    agrees_with_autograd(Layer(rng=1), x, reference, rng)

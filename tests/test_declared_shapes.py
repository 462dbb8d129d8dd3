"""An output shape given with --shape that differs from the axis a plain index reads (issue 20,
Narrow and GatedLinearUnit): a smaller output reads part of the axis, the unread entries'
gradient is 0; a larger one reads past the axis' end as zeros (padding after the input)."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive.symbolic.language import LayerSyntaxError, parse

from test_layer_engine import agrees_with_autograd, load

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("text,shapes,reference", [
    ("y[i] = x[i]", {"x": (6,), "y": (3,)}, lambda x: x[..., :3]),
    ("y[i] = x[i]", {"x": (4,), "y": (6,)}, lambda x: torch.nn.functional.pad(x, (0, 2))),
    ("y[c,i] = x[c,i] * sigmoid(x[c+2,i])", {"x": (4, 3), "y": (2, 3)},
     lambda x: torch.nn.functional.glu(x, -2)),
    # k has no declared range: it runs over x's whole axis, not over the output's 3
    ("y[i] = x[i] / max(abs(x[k]), k)", {"x": (6,), "y": (3,)},
     lambda x: x[..., :3] / x.abs().amax(-1, keepdim=True)),
])
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_a_declared_output_reads_part_of_an_axis_or_past_it(text, shapes, reference, batch, tmp_path):
    Layer = load(derive.module_source(text, shapes), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 2, ((batch,) if batch else ()) + Layer.inputShape)
    agrees_with_autograd(layer, x, reference, rng)


def test_the_unread_entries_have_no_gradient(tmp_path):
    Layer = load(derive.module_source("y[i] = x[i]", {"x": (6,), "y": (3,)}), tmp_path)
    layer = Layer()
    x = np.arange(6.0)
    np.testing.assert_array_equal(layer.forward(x), [0, 1, 2])
    np.testing.assert_array_equal(layer.backward(x, np.array([1.0, 2.0, 3.0])), [1, 2, 3, 0, 0, 0])


def test_the_axis_keeps_a_size_of_its_own():
    spec = parse("y[i] = x[i]", {"x": (6,), "y": (3,)})
    (n,) = spec.arrays["x"].shape
    (m,) = spec.output.shape
    assert n != m and spec.concrete(spec.arrays["x"].shape) == (6,) and spec.concrete(spec.output.shape) == (3,)


def test_undeclared_ranges_must_still_agree():
    # nothing declares i's range: x fixes it, and z of another size is an error, as before
    with pytest.raises(LayerSyntaxError, match="shapes do not fit: index i runs over 6 and over z's axis 1 of size 3"):
        parse("y[i] = x[i] + z[i]", {"x": (6,), "z": (3,)})


@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_a_number_declared_with_shape_empty_is_read_bare_in_index_notation(batch, tmp_path):
    # PReLU's one shared slope in index notation: a parameter of shape (), its gradient a sum
    Layer = load(derive.module_source("y[c,i] = max(0, x[c,i]) + a * min(0, x[c,i])", {"x": (2, 3), "a": ()}),
                 tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(4)
    x = rng.uniform(-3, 3, ((batch,) if batch else ()) + (2, 3))
    x = np.where(np.abs(x) < 0.05, 0.1, x)
    g = rng.standard_normal(x.shape)
    xt, at = torch.tensor(x, requires_grad=True), torch.tensor(layer.a.reshape(1).copy(), requires_grad=True)
    yt = torch.nn.functional.prelu(xt, at)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-12)
    layer.zeroGradParameters()
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grada, at.grad.numpy()[0], rtol=1e-12)


def test_an_undeclared_bare_name_still_needs_its_indices():
    with pytest.raises(LayerSyntaxError, match=r"w needs its indices in index notation: w\[...\]"):
        parse("y[i] = w * x[i]", {"x": (3,)})

"""Shapes in the layer language (issue 20 item 7): size-1 axes broadcast in array notation,
concat along the last axis, and a criterion's target of its own declared shape."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive.symbolic.language import LayerSyntaxError, parse

from test_layer_engine import agrees_with_autograd, load

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("text,shapes,reference", [
    ("y = x + b", {"x": (5, 4), "b": (5, 1)}, lambda x, b: x + b),
    ("y = x * b", {"x": (5, 4), "b": (1, 4)}, lambda x, b: x * b),
    ("y = tanh(x - b)", {"x": (5, 4), "b": (4,)}, lambda x, b: torch.tanh(x - b)),
    ("y = x + b", {"x": (5, 1), "b": (5, 3)}, lambda x, b: x + b),  # the input broadcasts too
])
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_size_one_axes_broadcast_as_numpys(text, shapes, reference, batch, tmp_path):
    Layer = load(derive.module_source(text, shapes), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(((batch,) if batch else ()) + Layer.inputShape)
    agrees_with_autograd(layer, x, reference, rng)


def test_sizes_other_than_one_must_still_agree():
    with pytest.raises(LayerSyntaxError, match=r"column 5: shapes do not fit: element-wise operands \(4 vs 2\)"):
        parse("y = x + b", {"x": (5, 4), "b": (5, 2)})


@pytest.mark.parametrize("text,shapes,reference", [
    ("y = concat(x, b)", {"x": (3,), "b": (2,)}, lambda x, b: torch.cat((x, b.expand(x.shape[:-1] + (2,))), -1)),
    ("y = concat(tanh(x), W @ x, x)", {"x": (3,), "W": (2, 3)},
     lambda x, W: torch.cat((torch.tanh(x), x @ W.T, x), -1)),
    ("y = concat(x, x * x)", {"x": (2, 3)}, lambda x: torch.cat((x, x * x), -1)),
])
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_concat_joins_along_the_last_axis(text, shapes, reference, batch, tmp_path):
    Layer = load(derive.module_source(text, shapes), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(((batch,) if batch else ()) + Layer.inputShape)
    agrees_with_autograd(layer, x, reference, rng)


@pytest.mark.parametrize("text,shapes,message", [
    ("y = concat(x)", {"x": (3,)}, "column 5: concat(a, b, ...) joins two or more arrays"),
    ("y = concat(x, 2)", {"x": (3,)}, "concat joins arrays of the same number of dimensions"),
    ("y = concat(x, W)", {"x": (3,), "W": (2, 3)}, "concat joins arrays of the same number of dimensions"),
    ("y = concat(x, W)", {"x": (2, 3), "W": (3, 3)}, "shapes do not fit: concat's operands outside their last axis"),
    ("y[i] = concat(x[i], x[i])", {"x": (3,)}, "concat belongs to array notation"),
])
def test_bad_concat_is_one_line(text, shapes, message):
    with pytest.raises(LayerSyntaxError) as error:
        parse(text, shapes)
    assert message in str(error.value)


def test_a_target_of_its_own_shape_is_checked_against_it(tmp_path):
    Crop = load(derive.module_source("J = mean((x[c, i+1, j+1] - t[c,i,j])**2, c, i, j)",
                                     {"x": (2, 6, 6), "t": (2, 4, 4)}, target="t"), tmp_path)
    crop = Crop()
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((3, 2, 4, 4))
    assert crop.forward(x, t) == pytest.approx(((x[..., 1:5, 1:5] - t) ** 2).mean(), rel=1e-12)
    np.testing.assert_allclose(crop.backward(x, t)[..., 1:5, 1:5], 2 * (x[..., 1:5, 1:5] - t) / t[0].size / 3)
    assert not crop.backward(x, t)[..., 0, :].any()  # what the crop leaves out has no gradient
    with pytest.raises(ValueError, match=r"target must have shape \(3, 2, 4, 4\), got \(3, 2, 6, 6\)"):
        crop.forward(x, x)
    with pytest.raises(ValueError, match=r"target must have shape \(2, 4, 4\), got \(4, 4\)"):
        crop.forward(x[0], t[0, 0])


@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_join_table_is_concat_of_several_inputs(batch, tmp_path):
    # JoinTable(-1): the inputs as a table (a list), joined along the last axis
    Join = load(derive.module_source("y = concat(a, b, c)", {"a": (3,), "b": (2,), "c": (1,)}, input="a,b,c"),
                tmp_path)
    join = Join()
    rng = np.random.default_rng(3)
    lead = (batch,) if batch else ()
    inputs = [rng.standard_normal(lead + (n,)) for n in (3, 2, 1)]
    tensors = [torch.tensor(v, requires_grad=True) for v in inputs]
    y = torch.cat(tensors, -1)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    np.testing.assert_array_equal(join.forward(inputs), y.detach().numpy())
    for mine, theirs in zip(join.backward(inputs, g), tensors):
        np.testing.assert_array_equal(mine, theirs.grad.numpy())

"""A max (min) over indices that reads outside its array (padded max pooling): the entries
outside are -inf (+inf), never chosen, as Torch7's and PyTorch's padding reads them; a sum's
padded reads stay 0. Shown in the derivation, compared with PyTorch on inputs of one sign,
where reading 0 would give other numbers."""

from __future__ import annotations

import numpy as np
import pytest

import derive

from test_layer_engine import agrees_with_autograd, load

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _pool1d(x, pool, **kwargs):
    return pool(x[None], **kwargs)[0] if x.dim() == 1 else pool(x[:, None], **kwargs)[:, 0]


@pytest.mark.parametrize("text,low,high,reference", [
    ("y[i] = max(x[i+k-2], k)", -3, -0.5, lambda x: _pool1d(x, F.max_pool1d, kernel_size=3, stride=1, padding=1)),
    ("y[i] = min(x[i+k-2], k)", 0.5, 3, lambda x: -_pool1d(-x, F.max_pool1d, kernel_size=3, stride=1, padding=1)),
    # the padded read inside a function: the entry outside is excluded all the same
    ("y[i] = max(2 * x[2*i+k-3], k)", -3, -0.5,
     lambda x: 2 * _pool1d(x, F.max_pool1d, kernel_size=2, stride=2, padding=1)),
])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_a_padded_extremum_never_chooses_the_outside(text, low, high, reference, batch, tmp_path):
    shapes = {"x": (6,), "y": (6,)} if "2*i" not in text else {"x": (6,), "y": (4,)}
    ranges = {"k": 3} if "2*i" not in text else {"k": 2}
    Layer = load(derive.module_source(text, shapes, ranges=ranges), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = rng.uniform(low, high, ((batch,) if batch else ()) + Layer.inputShape)
    agrees_with_autograd(layer, x, reference, rng)


def test_the_derivation_shows_the_outside_as_minus_infinity():
    from derive.latex import markdown

    text = markdown(derive.layer("y[i] = max(x[i+k-2], k)", {"x": (6,), "y": (6,)}, ranges={"k": 3}))
    assert r"-\infty & \text{otherwise}" in text


def test_a_padded_sum_still_reads_zeros(tmp_path):
    Layer = load(derive.module_source("y[i] = sum(x[i+k-2], k)", {"x": (4,), "y": (4,)}, ranges={"k": 3}), tmp_path)
    np.testing.assert_allclose(Layer().forward(np.array([-1.0, -2.0, -3.0, -4.0])), [-3, -6, -9, -7])

"""Array constants as constructor arguments of the generated classes: Torch7's weights of
BCECriterion and MultiMarginCriterion, a numpy array given to the constructor, checked in one
line, passed to the kernels, and agreeing with PyTorch's weight= (float64, one sample and a
batch); derive.nn.check passes with them."""

from __future__ import annotations

import numpy as np
import pytest

import derive.nn as nn

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("size_average", [True, False])
@pytest.mark.parametrize("size", [3, 7])
@pytest.mark.parametrize("batch", [None, 4], ids=["one sample", "batch"])
def test_bce_with_weights_agrees_with_pytorch(size_average, size, batch):
    rng = np.random.default_rng(size)
    weights = rng.uniform(0.1, 3.0, size)
    shape = ((batch,) if batch else ()) + (size,)
    x, t = rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    criterion = nn.BCECriterion(weights, size_average)
    xt = torch.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy(xt, torch.tensor(t), weight=torch.tensor(weights),
                                  reduction="mean" if size_average else "sum")
    loss.backward()
    assert criterion.forward(x, t) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(criterion.backward(x, t), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    # the weights count: without them the loss differs
    assert nn.BCECriterion(sizeAverage=size_average).forward(x, t) != pytest.approx(loss.item(), rel=1e-6)


@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 1.0), (1, 0.5), (2, 2.0)])
@pytest.mark.parametrize("classes", [3, 6])
@pytest.mark.parametrize("batch", [None, 5], ids=["one sample", "batch"])
def test_multi_margin_with_weights_agrees_with_pytorch(p, margin, classes, batch):
    rng = np.random.default_rng(classes + p)
    weights = rng.uniform(0.1, 3.0, classes)
    x = rng.uniform(-1, 1, ((batch,) if batch else ()) + (classes,))
    t = rng.integers(0, classes, (batch,) if batch else ())
    criterion = nn.MultiMarginCriterion(p, weights, margin)
    xt = torch.tensor(x.reshape(-1, classes), requires_grad=True)
    loss = F.multi_margin_loss(xt, torch.tensor(t.reshape(-1)), p=p, margin=margin, weight=torch.tensor(weights))
    loss.backward()
    assert criterion.forward(x, t) == pytest.approx(loss.item(), rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(criterion.backward(x, t), xt.grad.numpy().reshape(x.shape), rtol=1e-10, atol=1e-14)


def test_weights_are_kept_as_a_float64_copy_and_follow_type():
    given = np.array([1, 2, 3])  # integers are real numbers: read as floats, as ClassNLLCriterion's
    criterion = nn.BCECriterion(weights=given)
    assert criterion.weights.dtype == np.float64 and criterion.weights is not given
    np.testing.assert_array_equal(criterion.weights, [1.0, 2.0, 3.0])
    criterion.float()
    assert criterion.weights.dtype == np.float32
    x = np.array([0.2, 0.5, 0.9], dtype=np.float32)
    assert isinstance(criterion.forward(x, np.ones(3, dtype=np.float32)), float)
    assert criterion.backward(x, np.ones(3, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.BCECriterion([1.0, 2.0]), TypeError, "BCECriterion: weights must be a numpy array or None, got list"),
    (lambda: nn.BCECriterion(np.array([True, False])), TypeError, "BCECriterion: weights must hold real numbers, "
                                                                  "got dtype bool"),
    (lambda: nn.MultiMarginCriterion(1, np.array([1.0, np.nan])), ValueError,
     "MultiMarginCriterion: weights must be finite"),
    (lambda: nn.MultiMarginCriterion(1, np.ones((2, 2))), ValueError,
     r"MultiMarginCriterion: weights must have 1 axes, got shape \(2, 2\)"),
    (lambda: nn.BCECriterion(np.zeros(0)), ValueError, "BCECriterion: weights must have at least one entry"),
])
def test_bad_weights_are_one_line(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_weights_of_another_size_than_the_input_are_one_line():
    criterion = nn.MultiMarginCriterion(weights=np.ones(4))
    with pytest.raises(ValueError, match=r"MultiMarginCriterion: weights has shape \(4,\) but the input's samples "
                                         r"have shape \(5,\): weights must have shape \(5,\)"):
        criterion.forward(np.zeros((2, 5)), np.array([0, 1]))
    with pytest.raises(ValueError, match="BCECriterion: weights has shape"):
        nn.BCECriterion(np.ones(3)).backward(np.full(4, 0.5), np.ones(4))


class Probabilities(nn.BCECriterion):
    """BCE on check's inputs and targets in [-2, 2], read as probabilities in [0.1, 0.9] (the
    gradient times the map's slope); at module level so that check's pickle round trip finds it."""

    def updateOutput(self, input, target):
        return super().updateOutput(0.5 + input / 5, 0.5 + target / 5)

    def updateGradInput(self, input, target):
        return super().updateGradInput(0.5 + input / 5, 0.5 + target / 5) / 5


@pytest.mark.parametrize("make, extra", [
    (lambda: Probabilities(np.array([0.5, 1.0, 2.0, 1.5])), {"target_kind": "real"}),
    (lambda: nn.MultiMarginCriterion(2, np.array([0.5, 1.0, 2.0, 1.5])), {"target_kind": "class", "target_shape": ()}),
], ids=["BCECriterion", "MultiMarginCriterion"])
def test_weighted_criteria_pass_derive_check(make, extra):
    report = nn.check(make(), (4,), batch=3, **extra)
    assert report.passed, str(report)

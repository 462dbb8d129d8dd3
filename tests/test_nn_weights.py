"""Array constants as constructor arguments of the generated classes: Torch7's ``weights`` tensor.

An entry's ``weights`` flag writes a constant w into its formula; the class generated from it
takes w as an array (or nil), one sample's shape of the input, keeps a float64 copy, converts it
with type() and gives it to the kernels picked for "weights given".  Checked against PyTorch
(float64, one sample and a batch) for every generated criterion that takes weights.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from derive import nn
from derive.nn import _catalogue


def _torch(function, x, t, **kwargs):
    xt = torch.tensor(x, requires_grad=True)
    loss = function(xt, torch.tensor(t), **kwargs)
    loss.backward()
    return loss.item(), xt.grad.numpy()


def _classes(rng, shape):
    return rng.integers(0, shape[-1], shape[:-1]) if len(shape) == 2 else np.array(rng.integers(0, shape[-1]))


#: (class, PyTorch's function, its keyword arguments beside weight and reduction, draws x and t)
CASES = {
    "BCECriterion": (lambda w, average: nn.BCECriterion(w, average), F.binary_cross_entropy,
                     lambda rng, shape: (rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape))),
    "ClassNLLCriterion": (lambda w, average: nn.ClassNLLCriterion(w, average), F.nll_loss,
                          lambda rng, shape: (rng.standard_normal(shape), _classes(rng, shape))),
    "CrossEntropyCriterion": (lambda w, average: nn.CrossEntropyCriterion(w, average), F.cross_entropy,
                              lambda rng, shape: (rng.standard_normal(shape) * 5, _classes(rng, shape))),
    "MultiMarginCriterion": (lambda w, average: nn.MultiMarginCriterion(2, w),
                             lambda x, t, weight, reduction: F.multi_margin_loss(x, t, p=2, weight=weight,
                                                                                 reduction=reduction),
                             lambda rng, shape: (rng.standard_normal(shape), _classes(rng, shape))),
    "MultiLabelSoftMarginCriterion": (lambda w, average: nn.MultiLabelSoftMarginCriterion(w),
                                      F.multilabel_soft_margin_loss,
                                      lambda rng, shape: (rng.standard_normal(shape),
                                                          rng.integers(0, 2, shape).astype(float))),
}
NO_SIZE_AVERAGE = {"MultiMarginCriterion", "MultiLabelSoftMarginCriterion"}


def test_the_criteria_with_weights_take_them_as_arrays():
    taking = {name for name in _catalogue.__all__ if getattr(nn, name).arrayArguments}
    assert taking >= {"ClassNLLCriterion", "CrossEntropyCriterion"}
    assert taking <= set(CASES)


@pytest.mark.parametrize("name,average", [(name, average) for name in CASES for average in (True, False)
                                          if average or name not in NO_SIZE_AVERAGE])
@pytest.mark.parametrize("shape", [(5,), (7, 5)], ids=["one sample", "batch"])
def test_weighted_criteria_agree_with_pytorch(name, average, shape):
    make, function, draw = CASES[name]
    rng = np.random.default_rng([len(shape), int(average)])
    x, t = draw(rng, shape)
    w = rng.uniform(0.2, 3.0, 5)
    loss, grad = _torch(function, x, t, weight=torch.tensor(w), reduction="mean" if average else "sum")
    criterion = make(w, average)
    target = int(t) if t.ndim == 0 else t
    assert criterion.forward(x, target) == pytest.approx(loss, rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(criterion.backward(x, target), grad, rtol=1e-12, atol=1e-15)


def test_weights_follow_type_and_stay_a_copy():
    w = np.array([1.0, 2.0, 3.0])
    criterion = nn.ClassNLLCriterion(w)
    w[0] = 50.0
    assert criterion.weights[0] == 1.0 and criterion.weights.dtype == np.float64
    criterion.float()
    assert criterion.weights.dtype == np.float32
    x = np.array([[-1.0, -2.0, -3.0]], dtype=np.float32)
    assert criterion.forward(x, np.array([2])) == pytest.approx(3.0)
    assert criterion.backward(x, np.array([2])).dtype == np.float32


def test_bad_weights_are_one_line():
    with pytest.raises(TypeError, match=r"^BCECriterion: weights must be a numpy array or None, got list"):
        nn.BCECriterion([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^MultiMarginCriterion: weights must be finite"):
        nn.MultiMarginCriterion(1, np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match=r"^BCECriterion: weights has shape \(2,\) but the input's samples have shape \(3,\)"):
        nn.BCECriterion(np.ones(2)).forward(np.full((4, 3), 0.5), np.full((4, 3), 0.5))

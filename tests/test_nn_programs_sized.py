"""The programs that had fixed sizes, now with a constructor that gives them: BatchNorm(nOutput)
(the batch is its input), GroupNorm(numGroups, groupSize) and Attention(d) (its scores divided by
sqrt(len(k)) = sqrt(d), not by a literal). At sizes other than their pages' examples, one input
and a batch of them, they agree with PyTorch in float64 (outputs, gradInput, the parameters'
gradients with accGradParameters' scale); derive.nn.check runs on every generated class in
test_nn_catalogue."""

from __future__ import annotations

import numpy as np
import pytest

import derive.nn as nn
from test_nn_programs import _agree

torch = pytest.importorskip("torch")
F = torch.nn.functional

LEADS = pytest.mark.parametrize("lead", [(), (3,)], ids=["one input", "a batch of 3"])


def _each(function, x):
    """``function`` of one input, or stacked over a batch of them."""
    return function(x) if x.dim() == 2 else torch.stack([function(s) for s in x])


@LEADS
@pytest.mark.parametrize("samples, features", [(3, 2), (7, 6)])
def test_batch_norm_program_is_pytorchs_batch_norm_in_training(lead, samples, features):
    layer = nn.BatchNorm(features, rng=0)
    assert (layer.weight == 1).all() and (layer.bias == 0).all()
    layer.weight[...] = np.linspace(0.5, 2, features)
    layer.bias[...] = np.linspace(-1, 1, features)
    x = np.random.default_rng(features).standard_normal(lead + (samples, features))

    def reference(xs):
        gamma, beta = (torch.tensor(a, requires_grad=True) for a in (layer.weight, layer.bias))
        y = _each(lambda s: F.batch_norm(s, None, None, gamma, beta, training=True, eps=1e-5), xs[0])
        return y, (gamma, beta)

    _agree(layer, [x], reference, {"gradWeight": lambda p: p[0].grad.numpy(), "gradBias": lambda p: p[1].grad.numpy()})


@LEADS
@pytest.mark.parametrize("groups, size", [(3, 2), (2, 5)])
def test_group_norm_program_is_pytorchs_group_norm(lead, groups, size):
    layer = nn.GroupNorm(groups, size, rng=0)
    layer.weight[...] = np.linspace(0.5, 2, groups * size).reshape(groups, size)
    layer.bias[...] = np.linspace(-1, 1, groups * size).reshape(groups, size)
    x = np.random.default_rng(groups).standard_normal(lead + (groups, size))

    def reference(xs):
        gamma, beta = (torch.tensor(a, requires_grad=True) for a in (layer.weight, layer.bias))
        flat = xs[0].reshape(-1, groups * size)  # Torch's layout: a group's channels consecutive
        y = F.group_norm(flat, groups, gamma.reshape(-1), beta.reshape(-1), eps=1e-5)
        return y.reshape(xs[0].shape), (gamma, beta)

    _agree(layer, [x], reference, {"gradWeight": lambda p: p[0].grad.numpy(), "gradBias": lambda p: p[1].grad.numpy()})


@LEADS
@pytest.mark.parametrize("tokens, d", [(2, 3), (5, 6)])
def test_attention_divides_by_the_square_root_of_its_d(lead, tokens, d):
    layer = nn.Attention(d, rng=4)
    bound = 1 / np.sqrt(d)
    assert all(np.abs(w).max() <= bound for w in (layer.Wq, layer.Wk, layer.Wv))
    X = np.random.default_rng(d).standard_normal(lead + (tokens, d))

    def reference(xs):
        Wq, Wk, Wv = (torch.tensor(w, requires_grad=True) for w in (layer.Wq, layer.Wk, layer.Wv))
        Q, K, V = xs[0] @ Wq, xs[0] @ Wk, xs[0] @ Wv
        return torch.softmax(Q @ K.transpose(-1, -2) / d ** 0.5, dim=-1) @ V, (Wq, Wk, Wv)

    _agree(layer, [X], reference, {f"grad{n}": (lambda k: lambda p: p[k].grad.numpy())(k)
                                   for k, n in enumerate(("Wq", "Wk", "Wv"))})


def test_the_constructors_check_their_sizes_in_one_line():
    with pytest.raises(ValueError, match=r"GroupNorm: input's axis 2 must have groupSize = 3 entries"):
        nn.GroupNorm(2, 3).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Attention: input's axis 2 must have d = 4 entries"):
        nn.Attention(4).forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="BatchNorm: nOutput must be a positive integer"):
        nn.BatchNorm(0)


def test_attention_in_float32_stays_float32():
    """1/sqrt(d) is a Python float in the kernels: a float32 module computes in float32."""
    layer = nn.Attention(3, rng=0).float()
    X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert layer.forward(X).dtype == np.float32
    assert layer.backward(X, np.ones((4, 3), np.float32)).dtype == np.float32 and layer.gradWq.dtype == np.float32

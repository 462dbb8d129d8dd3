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
    with pytest.raises(ValueError, match="BatchNorm: nOutput must be a positive int, got 0"):
        nn.BatchNorm(0)


def test_attention_in_float32_stays_float32():
    """1/sqrt(d) is a Python float in the kernels: a float32 module computes in float32."""
    layer = nn.Attention(3, rng=0).float()
    X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert layer.forward(X).dtype == np.float32
    assert layer.backward(X, np.ones((4, 3), np.float32)).dtype == np.float32 and layer.gradWq.dtype == np.float32


def _loss_agrees(layer, inputs, target, reference, parameters):
    """forward, backward(scale) and accGradParameters of a loss with parameters against PyTorch:
    ``reference`` gives the loss of the input tensor and the parameters (by Torch7 name)."""
    x = inputs
    tensors = {n: torch.tensor(getattr(layer, n).copy(), requires_grad=True) for n in parameters}
    xt = torch.tensor(x, requires_grad=True)
    loss = reference(xt, torch.tensor(target), tensors)
    loss.backward()
    assert layer.forward(x, target) == pytest.approx(loss.item(), rel=1e-12, abs=1e-14)
    layer.zeroGradParameters()
    np.testing.assert_allclose(layer.backward(x, target, 0.5), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for n in parameters:
        grad = getattr(layer, "grad" + n[0].upper() + n[1:])
        np.testing.assert_allclose(grad, 0.5 * tensors[n].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)
    layer.accGradParameters(x, target)  # adds 1 x the gradient to the 0.5 x already there
    for n in parameters:
        grad = getattr(layer, "grad" + n[0].upper() + n[1:])
        np.testing.assert_allclose(grad, 1.5 * tensors[n].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=n)


@LEADS
@pytest.mark.parametrize("sizes", [(3, 2), (6, 5)])
def test_softmax_regression_is_linear_then_cross_entropy(lead, sizes):
    inputSize, outputSize = sizes
    layer = nn.SoftmaxRegression(inputSize, outputSize, rng=0)
    rng = np.random.default_rng(inputSize)
    x = rng.standard_normal(lead + (inputSize,))
    t = np.eye(outputSize)[rng.integers(0, outputSize, lead)]  # one-hot targets

    def reference(xt, tt, p):
        losses = -(tt * torch.log_softmax(F.linear(xt, p["weight"], p["bias"]), dim=-1)).sum(-1)
        return losses.mean()

    _loss_agrees(layer, x, t, reference, ("weight", "bias"))


@LEADS
@pytest.mark.parametrize("sizes", [(4, 3, 5, 3), (6, 2, 4, 6)], ids=["4 samples, 3 -> 5 -> 3", "6 samples, 2 -> 4 -> 6"])
def test_ninja_is_karpathys_network_in_pytorch(lead, sizes):
    samples, nInput, nHidden, nClasses = sizes
    layer = nn.Ninja(nInput, nHidden, nClasses, rng=1)
    rng = np.random.default_rng(samples)
    layer.bngain[...] = rng.uniform(0.5, 1.5, nHidden)
    layer.bnbias[...] = rng.uniform(-0.5, 0.5, nHidden)
    x = rng.standard_normal(lead + (samples, nInput))
    Yb = rng.integers(0, nClasses, lead + (samples,))

    def network(xs, ys, p):
        h = xs @ p["W1"].T + p["b1"]
        bn = F.batch_norm(h, None, None, p["bngain"], p["bnbias"], training=True, eps=1e-5)
        logits = torch.tanh(bn) @ p["W2"].T + p["b2"]
        return F.cross_entropy(logits, ys)

    def reference(xt, yt, p):
        return network(xt, yt, p) if xt.dim() == 2 else torch.stack([network(a, b, p) for a, b in zip(xt, yt)]).mean()

    _loss_agrees(layer, x, Yb, reference, ("W1", "b1", "bngain", "bnbias", "W2", "b2"))


def test_a_loss_with_parameters_checks_its_target_in_one_line():
    layer = nn.Ninja(3, 4, 5)
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"Ninja: target must hold classes from 0 to 4 \(nClasses - 1\), got 0 \.\. 5"):
        layer.forward(x, np.array([0, 1, 5, 2]))
    with pytest.raises(TypeError, match="Ninja: target must hold class numbers"):
        layer.forward(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"Ninja: target must have shape \(4,\), got \(3,\)"):
        layer.forward(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"SoftmaxRegression: target must have shape \(2,\), got \(3,\)"):
        nn.SoftmaxRegression(4, 2).forward(np.zeros(4), np.zeros(3))


@pytest.mark.parametrize("make, x, target", [
    (lambda: nn.SoftmaxRegression(3, 4, rng=2), np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.0, 0.0, 0.0])),
    (lambda: nn.Ninja(2, 3, 3, rng=3), np.array([[0.5, -1.0], [2.0, 0.1], [-0.3, 0.7], [1.2, -1.5]]),
     np.array([0, 2, 1, 2])),
], ids=["SoftmaxRegression", "Ninja"])
def test_a_loss_with_parameters_agrees_with_central_differences(make, x, target):
    """Torch's test rule (perturbation 1e-6, largest error below 1e-5), on the input and every parameter."""
    from derive.nn.jacobian import numeric_gradient

    layer = make()
    layer.zeroGradParameters()
    grad_input = layer.backward(x, target).copy()
    arrays = [("input", x, grad_input)] + [(name, p, g.copy()) for (name, _), p, g in
                                            zip(layer._parameterSlots, *layer.parameters())]
    for name, array, backprop in arrays:
        numeric = numeric_gradient(lambda: layer.forward(x, target), array, 1e-6)
        assert np.max(np.abs(numeric - backprop)) < 1e-5, name

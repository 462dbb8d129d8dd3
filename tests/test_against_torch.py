"""derive.nn against PyTorch's autograd (torch is in the test extra: the oracle runs, never skips).

The same weights, inputs and gradOutputs go through both; outputs, gradInput and the
parameter gradients must agree to float64 rounding.
"""

import numpy as np
import pytest
import torch

from derive import nn


def torch_grads(module, x, grad_output):
    x = torch.tensor(x, requires_grad=True)
    y = module(x)
    y.backward(torch.tensor(grad_output))
    return y.detach().numpy(), x.grad.numpy(), [p.grad.numpy() for p in module.parameters()]


@pytest.mark.parametrize("shape", [(4,), (7, 4)], ids=["one sample", "batch"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    rng = np.random.default_rng(0)
    ours = nn.Linear(4, 3, bias=bias, rng=1)
    theirs = torch.nn.Linear(4, 3, bias=bias).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight))
        if bias:
            theirs.bias.copy_(torch.tensor(ours.bias))
    x = rng.standard_normal(shape)
    g = rng.standard_normal(shape[:-1] + (3,))
    y, dx, dparams = torch_grads(theirs, x, g)
    np.testing.assert_allclose(ours.forward(x), y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.backward(x, g), dx, rtol=1e-12, atol=1e-14)
    for mine, theirs_grad in zip(ours.parameters()[1], dparams):
        np.testing.assert_allclose(mine, theirs_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ours,theirs", [(nn.Sigmoid, torch.nn.Sigmoid), (nn.Tanh, torch.nn.Tanh),
                                         (nn.ReLU, torch.nn.ReLU)])
def test_activations(ours, theirs):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6))
    x[0, :3] = 0.0  # ReLU's convention at 0: both give gradient 0
    g = rng.standard_normal((5, 6))
    y, dx, _ = torch_grads(theirs(), x, g)
    module = ours()
    np.testing.assert_allclose(module.forward(x), y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(module.backward(x, g), dx, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("size_average,reduction", [(True, "mean"), (False, "sum")])
def test_mse(size_average, reduction):
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.MSELoss(reduction=reduction)(xt, torch.tensor(t))
    loss.backward()
    criterion = nn.MSECriterion(sizeAverage=size_average)
    assert criterion.forward(x, t) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(criterion.backward(x, t), xt.grad.numpy(), rtol=1e-12)


def assert_training_matches(ours, theirs, criterion, torch_loss, x, t, learning_rate, steps=3):
    """From the same parameters, `steps` steps of gradient descent give the same losses and parameters."""
    with torch.no_grad():
        for p, q in zip(theirs.parameters(), ours.parameters()[0]):
            p.copy_(torch.tensor(q))
    for _ in range(steps):
        ours.zeroGradParameters()
        loss = criterion.forward(ours.forward(x), t)
        ours.backward(x, criterion.backward(ours.output, t))
        ours.updateParameters(learning_rate)
        theirs.zero_grad()
        theirs_loss = torch_loss(theirs(torch.tensor(x)), torch.tensor(t))
        theirs_loss.backward()
        with torch.no_grad():
            for p in theirs.parameters():
                p -= learning_rate * p.grad
        assert loss == pytest.approx(theirs_loss.item(), rel=1e-12)
    for p, q in zip(theirs.parameters(), ours.parameters()[0]):
        np.testing.assert_allclose(q, p.detach().numpy(), rtol=1e-11)


def test_sequential_training_step_matches():
    rng = np.random.default_rng(4)
    ours = nn.Sequential().add(nn.Linear(3, 5, rng=5)).add(nn.Tanh()).add(nn.Linear(5, 2, rng=6))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    x, t = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    assert_training_matches(ours, theirs, nn.MSECriterion(), torch.nn.functional.mse_loss, x, t, 0.1)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_then_evaluation(affine):
    # Three training steps (batch statistics; running statistics updated with the unbiased
    # variance), then evaluation (running statistics), against torch.nn.functional.batch_norm.
    rng = np.random.default_rng(5)
    ours = nn.BatchNormalization(4, eps=1e-3, momentum=0.2, affine=affine)
    weight = bias = None
    if affine:
        ours.weight[...] = rng.uniform(-2, 2, 4)
        ours.bias[...] = rng.uniform(-1, 1, 4)
        weight = torch.tensor(ours.weight.copy(), requires_grad=True)
        bias = torch.tensor(ours.bias.copy(), requires_grad=True)
    running_mean, running_var = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    for step, training in enumerate([True, True, True, False, False]):
        if not training:
            ours.evaluate()
        x = rng.standard_normal((6 + step, 4)) * [1, 3, 0.5, 2] + [0, 1, -2, 5]
        g = rng.standard_normal(x.shape)
        xt = torch.tensor(x, requires_grad=True)
        y = torch.nn.functional.batch_norm(xt, running_mean, running_var, weight, bias, training=training,
                                           momentum=0.2, eps=1e-3)
        y.backward(torch.tensor(g))
        np.testing.assert_allclose(ours.forward(x), y.detach().numpy(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(ours.running_mean, running_mean.numpy(), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ours.running_var, running_var.numpy(), rtol=1e-13)
        np.testing.assert_allclose(ours.backward(x, g), xt.grad.numpy(), rtol=1e-11, atol=1e-12)
        if affine:  # both accumulate over the steps
            np.testing.assert_allclose(ours.gradWeight, weight.grad.numpy(), rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(ours.gradBias, bias.grad.numpy(), rtol=1e-12, atol=1e-13)


# (nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH, H, W)
CONVOLUTIONS = [
    (3, 4, 3, 3, 1, 1, 1, 1, 7, 6),
    (2, 3, 2, 3, 2, 1, 0, 2, 5, 8),
    (1, 2, 5, 4, 3, 2, 2, 1, 9, 9),
    (3, 2, 3, 3, 2, 2, 1, 1, 5, 5),
    (4, 5, 1, 1, 1, 1, 0, 0, 4, 3),
    (2, 2, 3, 3, 3, 3, 2, 0, 10, 11),
]


@pytest.mark.parametrize("case", CONVOLUTIONS, ids=str)
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_spatial_convolution(case, batch):
    nIn, nOut, kW, kH, dW, dH, padW, padH, H, W = case
    ours = nn.SpatialConvolution(nIn, nOut, kW, kH, dW, dH, padW, padH, rng=6)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((nIn, H, W) if batch is None else (batch, nIn, H, W))
    y = ours.forward(x).copy()
    g = rng.standard_normal(y.shape)
    xt = torch.tensor(x, requires_grad=True)
    weight = torch.tensor(ours.weight.copy(), requires_grad=True)
    bias = torch.tensor(ours.bias.copy(), requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, weight, bias, stride=(dH, dW), padding=(padH, padW))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.backward(x, g), xt.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.gradWeight, weight.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.gradBias, bias.grad.numpy(), rtol=1e-12, atol=1e-13)


# --- Classification: targets are 0-based in both ----------------------------------------

def scores(rng, shape, scale):
    """Class scores of this magnitude, with a sample of +-scale extremes mixed in."""
    x = rng.standard_normal(shape) * scale
    x.reshape(-1, shape[-1])[0, :2] = scale, -scale
    return x


@pytest.mark.parametrize("scale", [1.0, 1000.0])
@pytest.mark.parametrize("shape", [(6,), (9, 6)], ids=["one sample", "batch"])
@pytest.mark.parametrize("ours,theirs", [(nn.SoftMax, torch.softmax), (nn.LogSoftMax, torch.log_softmax)],
                         ids=["SoftMax", "LogSoftMax"])
def test_softmax_and_logsoftmax(ours, theirs, shape, scale):
    rng = np.random.default_rng([len(shape), int(scale)])
    x, g = scores(rng, shape, scale), rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    y = theirs(xt, dim=-1)
    y.backward(torch.tensor(g))
    module = ours()
    np.testing.assert_allclose(module.forward(x), y.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(module.backward(x, g), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def torch_loss(function, x, t, weights, reduction):
    xt = torch.tensor(x, requires_grad=True)
    loss = function(xt, torch.tensor(t), weight=None if weights is None else torch.tensor(weights),
                    reduction=reduction)
    loss.backward()
    return loss.item(), xt.grad.numpy()


@pytest.mark.parametrize("scale", [1.0, 1000.0])
@pytest.mark.parametrize("shape", [(6,), (1, 6), (9, 6)], ids=["one sample", "batch of 1", "batch"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no weights", "weights"])
@pytest.mark.parametrize("size_average,reduction", [(True, "mean"), (False, "sum")])
@pytest.mark.parametrize("ours,theirs", [(nn.ClassNLLCriterion, torch.nn.functional.nll_loss),
                                         (nn.CrossEntropyCriterion, torch.nn.functional.cross_entropy)],
                         ids=["ClassNLLCriterion", "CrossEntropyCriterion"])
def test_classnll_and_crossentropy(ours, theirs, size_average, reduction, weighted, shape, scale):
    rng = np.random.default_rng([len(shape), shape[0], int(weighted), int(size_average), int(scale)])
    x = scores(rng, shape, scale)
    if ours is nn.ClassNLLCriterion:  # it takes log-probabilities
        x = torch.log_softmax(torch.tensor(x), dim=-1).numpy()
    t = int(rng.integers(6)) if len(shape) == 1 else rng.integers(0, 6, shape[0])
    weights = rng.uniform(0.1, 3.0, 6) if weighted else None
    loss, grad = torch_loss(theirs, x, t, weights, reduction)
    criterion = ours(weights, size_average)
    assert criterion.forward(x, t) == pytest.approx(loss, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(criterion.backward(x, t), grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ours,theirs", [(nn.ClassNLLCriterion, torch.nn.functional.nll_loss),
                                         (nn.CrossEntropyCriterion, torch.nn.functional.cross_entropy)],
                         ids=["ClassNLLCriterion", "CrossEntropyCriterion"])
@pytest.mark.parametrize("shape", [(3,), (2, 3)], ids=["one sample", "batch"])
def test_targets_of_total_weight_zero(ours, theirs, shape):
    # PyTorch divides 0 by 0 (Torch7 returned 0): nan, where the gradient divides by it too.
    x = np.log(np.full(shape, 1 / 3))
    t = 1 if len(shape) == 1 else np.array([1, 1])
    weights = np.array([1.0, 0.0, 2.0])
    loss, grad = torch_loss(theirs, x, t, weights, "mean")
    criterion = ours(weights)
    assert np.isnan(loss) and np.isnan(criterion.forward(x, t))
    np.testing.assert_array_equal(np.isnan(criterion.backward(x, t)), np.isnan(grad))
    np.testing.assert_array_equal(np.nan_to_num(criterion.gradInput), np.nan_to_num(grad))


def test_classifier_training_step_matches():
    rng = np.random.default_rng(7)
    ours = nn.Sequential().add(nn.Linear(2, 8, rng=8)).add(nn.ReLU()).add(nn.Linear(8, 3, rng=9))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    x, t = rng.standard_normal((12, 2)), rng.integers(0, 3, 12)
    assert_training_matches(ours, theirs, nn.CrossEntropyCriterion(), torch.nn.functional.cross_entropy,
                            x, t, 0.5)

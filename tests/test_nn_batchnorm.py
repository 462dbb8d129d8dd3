"""nn.BatchNormalization: Torch7's semantics (BatchNormalization.lua, THNN's BatchNormalization.c).

Convention: input X (N, D), one sample a row; per feature, mean and biased variance
over the batch; xhat = (x - mean) / sqrt(var + eps); y = gamma xhat + beta; G = dJ/dY.
"""

import copy

import numpy as np
import pytest

from derive import nn
from derive.nn.jacobian import jacobian_errors

EPS = 1e-5


def batch(n=6, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d)


def layer_with(gamma, beta, **kwargs):
    layer = nn.BatchNormalization(len(gamma), **kwargs)
    layer.weight[...] = gamma
    layer.bias[...] = beta
    return layer


GAMMA = np.array([0.5, -1.5, 2.0, 1.0])
BETA = np.array([0.1, 0.0, -0.3, 2.0])


# --- construction ---------------------------------------------------------------------

def test_starts_at_torch7s_reset_and_unit_running_statistics():
    layer = nn.BatchNormalization(3)
    # Torch7's reset: weight:uniform() (on [0, 1)), bias:zero()
    assert np.all((0 <= layer.weight) & (layer.weight < 1)) and len(set(layer.weight)) == 3
    assert np.array_equal(layer.bias, np.zeros(3))
    assert np.array_equal(layer.gradWeight, np.zeros(3)) and np.array_equal(layer.gradBias, np.zeros(3))
    assert np.array_equal(layer.running_mean, np.zeros(3)) and np.array_equal(layer.running_var, np.ones(3))
    assert (layer.eps, layer.momentum, layer.affine, layer.train) == (1e-5, 0.1, True, True)
    params, grads = layer.parameters()
    assert params[0] is layer.weight and params[1] is layer.bias
    assert grads[0] is layer.gradWeight and grads[1] is layer.gradBias
    assert repr(layer) == "nn.BatchNormalization (2D) (3)"


def test_affine_false_has_no_parameters():
    layer = nn.BatchNormalization(3, affine=False)
    assert layer.weight is None and layer.bias is None and layer.parameters() is None
    x = batch(5, 3)
    np.testing.assert_allclose(layer.forward(x), (x - x.mean(0)) / np.sqrt(x.var(0) + EPS), rtol=1e-13, atol=1e-13)
    layer.zeroGradParameters()
    layer.updateParameters(0.1)  # nothing to update, and no error


def test_reset_restores_the_start():
    layer = layer_with(GAMMA, BETA)
    layer.forward(batch())
    layer.reset()
    assert np.all((0 <= layer.weight) & (layer.weight < 1)) and not np.array_equal(layer.weight, GAMMA)
    assert np.array_equal(layer.bias, np.zeros(4))
    assert np.array_equal(layer.running_mean, np.zeros(4)) and np.array_equal(layer.running_var, np.ones(4))


def test_parameters_are_one_flat_array_for_updateParameters():
    layer = layer_with(GAMMA, BETA)
    x, g = batch(), batch(seed=1)
    layer.forward(x)
    layer.backward(x, g)
    expected = [GAMMA - 0.1 * layer.gradWeight, BETA - 0.1 * layer.gradBias]
    layer.updateParameters(0.1)
    np.testing.assert_allclose(layer.weight, expected[0], rtol=1e-15)
    np.testing.assert_allclose(layer.bias, expected[1], rtol=1e-15)
    assert layer.weight.base is layer.bias.base


# --- forward --------------------------------------------------------------------------

def test_training_normalises_with_the_batch_mean_and_biased_variance():
    layer = layer_with(GAMMA, BETA)
    x = batch()
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + EPS) * GAMMA + BETA
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(layer.save_mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(layer.save_invstd, 1 / np.sqrt(x.var(axis=0) + EPS), rtol=1e-13)


def test_training_updates_the_running_statistics_with_the_unbiased_variance():
    layer = nn.BatchNormalization(4, momentum=0.3)
    x1, x2 = batch(seed=1), batch(seed=2)
    layer.forward(x1)
    mean = 0.3 * x1.mean(0)
    var = 0.7 * 1 + 0.3 * x1.var(0, ddof=1)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-14)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-14)
    layer.forward(x2)
    np.testing.assert_allclose(layer.running_mean, 0.7 * mean + 0.3 * x2.mean(0), rtol=1e-14)
    np.testing.assert_allclose(layer.running_var, 0.7 * var + 0.3 * x2.var(0, ddof=1), rtol=1e-14)


def test_evaluate_uses_the_running_statistics_and_updates_nothing():
    layer = layer_with(GAMMA, BETA)
    layer.running_mean[...] = [1.0, -1.0, 0.5, 0.0]
    layer.running_var[...] = [4.0, 0.25, 1.0, 9.0]
    layer.evaluate()
    x = batch()
    expected = (x - layer.running_mean) / np.sqrt(layer.running_var + EPS) * GAMMA + BETA
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-13, atol=1e-13)
    assert np.array_equal(layer.running_mean, [1.0, -1.0, 0.5, 0.0])
    assert np.array_equal(layer.running_var, [4.0, 0.25, 1.0, 9.0])
    # One sample is fine in evaluation: it needs no batch statistics.
    np.testing.assert_allclose(layer.forward(x[:1]), expected[:1], rtol=1e-13, atol=1e-13)


def test_a_batch_of_one_sample_is_refused_in_training():
    layer = nn.BatchNormalization(4)
    with pytest.raises(ValueError, match="more than 1 sample"):
        layer.forward(np.ones((1, 4)))
    assert np.array_equal(layer.running_var, np.ones(4))  # nothing was updated


def test_eps_zero_and_a_constant_feature_give_zero_as_in_torch7():
    layer = layer_with(np.ones(2), np.zeros(2), eps=0)
    x = np.array([[1.0, 3.0], [1.0, 5.0], [1.0, 4.0]])
    y = layer.forward(x)
    assert np.array_equal(y[:, 0], np.zeros(3))
    np.testing.assert_allclose(y[:, 1], (x[:, 1] - 4) / np.sqrt(2 / 3), rtol=1e-14)


# --- backward -------------------------------------------------------------------------

def test_training_gradInput_is_the_compact_formula():
    layer = layer_with(GAMMA, BETA)
    x, g = batch(), batch(seed=3)
    layer.forward(x)
    n = x.shape[0]
    invstd = 1 / np.sqrt(x.var(0) + EPS)
    xhat = (x - x.mean(0)) * invstd
    expected = GAMMA * invstd / n * (n * g - g.sum(0) - xhat * (g * xhat).sum(0))
    np.testing.assert_allclose(layer.backward(x, g), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.gradWeight, (g * xhat).sum(0), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.gradBias, g.sum(0), rtol=1e-13, atol=1e-14)


def test_evaluation_gradInput_is_g_gamma_invstd():
    layer = layer_with(GAMMA, BETA)
    layer.running_mean[...] = [1.0, -1.0, 0.5, 0.0]
    layer.running_var[...] = [4.0, 0.25, 1.0, 9.0]
    layer.evaluate()
    x, g = batch(), batch(seed=3)
    layer.forward(x)
    invstd = 1 / np.sqrt(layer.running_var + EPS)
    np.testing.assert_allclose(layer.backward(x, g), g * GAMMA * invstd, rtol=1e-14)
    xhat = (x - layer.running_mean) * invstd
    np.testing.assert_allclose(layer.gradWeight, (g * xhat).sum(0), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.gradBias, g.sum(0), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("train", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("n,d", [(2, 1), (5, 3), (12, 6)])
def test_jacobians_agree_with_central_differences(affine, train, n, d):
    layer = nn.BatchNormalization(d, affine=affine)
    rng = np.random.default_rng([n, d, affine, train])
    if affine:
        layer.weight[...] = rng.uniform(-2, 2, d)
        layer.bias[...] = rng.uniform(-1, 1, d)
    layer.running_mean[...] = rng.uniform(-1, 1, d)
    layer.running_var[...] = rng.uniform(0.5, 2, d)
    if not train:
        layer.evaluate()
    errors = jacobian_errors(layer, rng.uniform(-2, 2, (n, d)))
    assert len(errors) == (3 if affine else 1)
    assert max(errors) < 1e-6, errors


def test_accGradParameters_adds_scale_times_the_gradient():
    layer = layer_with(GAMMA, BETA)
    x, g = batch(), batch(seed=4)
    layer.forward(x)
    layer.backward(x, g)
    once = layer.gradWeight.copy(), layer.gradBias.copy()
    layer.backward(x, g, 0.5)
    np.testing.assert_allclose(layer.gradWeight, 1.5 * once[0], rtol=1e-14)
    np.testing.assert_allclose(layer.gradBias, 1.5 * once[1], rtol=1e-14)
    layer.accGradParameters(x, g, -1.5)
    np.testing.assert_allclose(layer.gradWeight, 0, atol=1e-13)
    np.testing.assert_allclose(layer.gradBias, 0, atol=1e-13)
    layer.zeroGradParameters()
    assert not layer.gradWeight.any() and not layer.gradBias.any()


@pytest.mark.parametrize("train", [True, False], ids=["training", "evaluation"])
def test_updateGradInput_and_accGradParameters_alone_give_what_backward_gives(train):
    one, two = layer_with(GAMMA, BETA), layer_with(GAMMA, BETA)
    x, g = batch(), batch(seed=5)
    for layer in (one, two):
        layer.forward(x)  # training: running statistics to use after evaluate()
        if not train:
            layer.evaluate()
            layer.forward(x)
    gradInput = one.backward(x, g, 2.0).copy()
    np.testing.assert_allclose(two.updateGradInput(x, g), gradInput, rtol=1e-14, atol=1e-15)
    two.accGradParameters(x, g, 2.0)
    np.testing.assert_allclose(two.gradWeight, one.gradWeight, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(two.gradBias, one.gradBias, rtol=1e-14)


def test_backward_uses_the_statistics_of_the_last_training_forward():
    layer = layer_with(GAMMA, BETA)
    x, g = batch(), batch(seed=6)
    layer.forward(x)
    expected = layer.backward(x, g).copy()
    layer.evaluate()
    layer.forward(x + 10)  # evaluation saves no statistics
    layer.training()
    np.testing.assert_allclose(layer.backward(x, g), expected, rtol=1e-15)


# --- dtypes and buffers ---------------------------------------------------------------

def test_float32_in_float32_out_and_integers_in_float64_out():
    layer = layer_with(np.ones(4), np.zeros(4))
    x = batch()
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        layer.forward(x.astype(np.float32))
    y32 = layer.float().forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, (x - x.mean(0)) / np.sqrt(x.var(0) + EPS), rtol=1e-4, atol=1e-5)
    assert layer.backward(x.astype(np.float32), np.ones((6, 4), np.float32)).dtype == np.float32
    xi = np.arange(12).reshape(3, 4) ** 2
    yi = layer_with(np.ones(4), np.zeros(4)).forward(xi)
    assert yi.dtype == np.float64
    np.testing.assert_allclose(yi, (xi - xi.mean(0)) / np.sqrt(xi.var(0) + EPS), rtol=1e-13)


def test_buffers_are_reused_and_the_layer_copies():
    layer = layer_with(GAMMA, BETA)
    x = batch()
    y = layer.forward(x)
    assert layer.forward(x + 1) is y
    twin = copy.deepcopy(layer)
    twin.weight[...] = 0
    assert np.array_equal(layer.weight, GAMMA)
    np.testing.assert_allclose(twin.forward(x), np.broadcast_to(BETA, x.shape), atol=1e-15)


# --- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error,match", [
    ({"nOutput": 0}, ValueError, "nOutput must be a positive int"),
    ({"nOutput": 2.0}, TypeError, "nOutput must be a positive int"),
    ({"nOutput": True}, TypeError, "nOutput"),
    ({"nOutput": 2, "eps": -1e-5}, ValueError, "eps must be >= 0"),
    ({"nOutput": 2, "eps": "1e-5"}, TypeError, "eps must be a real number"),
    ({"nOutput": 2, "momentum": 1.5}, ValueError, r"momentum must be in \[0, 1\]"),
    ({"nOutput": 2, "momentum": float("nan")}, ValueError, "momentum"),
    ({"nOutput": 2, "affine": 1}, TypeError, "affine must be a bool"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.BatchNormalization(**kwargs)


@pytest.mark.parametrize("input,error,match", [
    (np.ones(4), ValueError, r"input must have shape \(batch, 4\), got \(4,\)"),
    (np.ones((2, 4, 1)), ValueError, r"input must have shape \(batch, 4\)"),
    (np.ones((3, 5)), ValueError, r"input must have shape \(batch, 4\), got \(3, 5\)"),
    ([[1.0] * 4] * 3, TypeError, "input must be a numpy array"),
    (np.ones((3, 4), dtype=bool), TypeError, "input must hold real numbers"),
])
def test_bad_input_is_refused(input, error, match):
    with pytest.raises(error, match=match):
        nn.BatchNormalization(4).forward(input)


def test_bad_gradOutput_and_backward_before_forward_are_refused():
    layer = nn.BatchNormalization(4)
    x = batch()
    with pytest.raises(ValueError, match="call forward"):
        layer.backward(x, np.ones_like(x))
    layer.forward(x)
    with pytest.raises(ValueError, match=r"gradOutput must have shape \(6, 4\)"):
        layer.backward(x, np.ones((6, 3)))
    with pytest.raises(TypeError, match="gradOutput must be a numpy array"):
        layer.backward(x, 1.0)
    with pytest.raises(ValueError) as error:
        layer.forward(np.ones(3))
    assert "\n" not in str(error.value)  # one line


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("train", [True, False], ids=["training", "evaluation"])
def test_derive_nn_check_passes(affine, train):
    # Torch's whole list of module tests (derive check) on one (5, 3) batch: the module's
    # input is a batch already, so the checker's extra batch axis does not apply (batch=0).
    layer = nn.BatchNormalization(3, affine=affine)
    if not train:
        layer.evaluate()
    report = nn.check(layer, (5, 3), batch=0)
    assert report.passed, str(report)

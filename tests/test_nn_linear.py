"""nn.Linear, checked the way the blog (Torch NN Tutorial 6) and Torch's own tests check it.

Convention: y = W x + b with W of shape (outputSize, inputSize); g = dJ/dy; for a
batch X (batch, inputSize), Y = X W^T + 1 b^T and G = dJ/dY.
"""

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive import nn
from derive.nn.module import Module

# The blog's numbers.
W = np.array([[0.1453, 0.5062],
              [0.0635, 0.4911],
              [-0.1080, 0.1747]])
b = np.array([0.2063, -0.1635, -0.0883])
x = np.array([4.0, 5.0])
dJ_dy = np.array([1.0, 2.0, 3.0])

PERTURBATION = 1e-6  # as in Torch's nn tests
PRECISION = 1e-6


@pytest.fixture
def l1():
    """l1 = nn.Linear(2, 3) with the blog's weight and bias."""
    layer = nn.Linear(2, 3)
    layer.weight[...] = W
    layer.bias[...] = b
    return layer


# --- The blog's worked example, step by step -----------------------------------------

def test_zeroGradParameters_clears_what_torch_leaves_uninitialised(l1):
    # The blog's first print of gradWeight and gradBias: whatever was in memory.
    l1.gradWeight[...] = [[-1.2882e-231, -1.2882e-231], [2.1403e+161, 3.9845e+252], [7.7075e-43, 4.5713e-71]]
    l1.gradBias[...] = [-1.2882e-231, -1.2882e-231, 1.1659e-28]
    l1.zeroGradParameters()
    assert np.array_equal(l1.gradWeight, np.zeros((3, 2)))
    assert np.array_equal(l1.gradBias, np.zeros(3))


def test_gradients_start_at_zero_here():
    layer = nn.Linear(2, 3)
    assert np.array_equal(layer.gradWeight, np.zeros((3, 2)))
    assert np.array_equal(layer.gradBias, np.zeros(3))


def test_updateGradInput_is_W_transpose_times_dJ_dy(l1):
    gradInput = l1.updateGradInput(x, dJ_dy)
    assert gradInput is l1.gradInput
    # Exactly W^T g for the W the blog prints ...
    np.testing.assert_allclose(gradInput, W.T @ dJ_dy, rtol=0, atol=1e-15)
    np.testing.assert_allclose(gradInput, [0.1453 + 2 * 0.0635 - 3 * 0.1080,
                                           0.5062 + 2 * 0.4911 + 3 * 0.1747], rtol=0, atol=1e-15)
    # ... and the blog's printed [-0.0516, 2.0126] to its 4 decimals. The blog prints
    # W rounded to 4 decimals (each entry within 5e-5 of Torch's), so W^T g from the
    # printed W can differ by up to 5e-5 * (1 + 2 + 3) = 3e-4 (here it gives -0.0517
    # and 2.0125), plus 5e-5 for the rounding of the printed result.
    np.testing.assert_allclose(gradInput, [-0.0516, 2.0126], rtol=0, atol=3.5e-4)


def test_accGradParameters_adds_dJ_dy_x_transpose_and_dJ_dy(l1):
    l1.zeroGradParameters()
    l1.accGradParameters(x, dJ_dy)
    assert np.array_equal(l1.gradWeight, [[4, 5], [8, 10], [12, 15]])
    assert np.array_equal(l1.gradBias, [1, 2, 3])


def test_updateParameters_is_one_gradient_descent_step(l1):
    l1.zeroGradParameters()
    l1.accGradParameters(x, dJ_dy)
    l1.updateParameters(0.02)
    np.testing.assert_allclose(l1.weight, [[0.0653, 0.4062], [-0.0965, 0.2911], [-0.3480, -0.1253]],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(l1.bias, [0.1863, -0.2035, -0.1483], rtol=0, atol=1e-12)


def test_backward_is_updateGradInput_then_accGradParameters(l1):
    l1.zeroGradParameters()
    gradInput = l1.backward(x, dJ_dy)
    assert gradInput is l1.gradInput
    np.testing.assert_allclose(gradInput, W.T @ dJ_dy, rtol=0, atol=1e-15)
    assert np.array_equal(l1.gradWeight, [[4, 5], [8, 10], [12, 15]])
    assert np.array_equal(l1.gradBias, [1, 2, 3])


def test_forward_is_W_x_plus_b(l1):
    y = l1.forward(x)
    assert y is l1.output
    np.testing.assert_allclose(y, W @ x + b, rtol=0, atol=1e-15)


# --- Central differences against backprop (Torch's Jacobian test) ----------------------

def central_difference(loss, array):
    """dJ/darray by central differences, perturbing array in place one entry at a time."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)  # views
    for i in range(flat.size):
        kept = flat[i]
        flat[i] = kept + PERTURBATION
        up = loss()
        flat[i] = kept - PERTURBATION
        down = loss()
        flat[i] = kept
        flat_grad[i] = (up - down) / (2 * PERTURBATION)
    return grad


def layer_and_data(batch, bias, seed):
    rng = np.random.default_rng(seed)
    inputSize, outputSize = 7, 5
    layer = nn.Linear(inputSize, outputSize, bias=bias, rng=rng)
    shape = (inputSize,) if batch is None else (batch, inputSize)
    input = rng.standard_normal(shape)
    R = rng.standard_normal(shape[:-1] + (outputSize,))  # J = sum(output * R), so dJ/doutput = R
    return layer, input, R


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("batch", [None, 50, 64, 70], ids=["1d", "batch50", "batch64", "batch70"])
def test_backprop_matches_central_differences(batch, bias):
    layer, input, R = layer_and_data(batch, bias, seed=batch or 1)

    def loss():
        return float(np.sum(layer.forward(input) * R))

    layer.zeroGradParameters()
    gradInput = layer.backward(input, R).copy()
    assert np.max(np.abs(gradInput - central_difference(loss, input))) < PRECISION
    assert np.max(np.abs(layer.gradWeight - central_difference(loss, layer.weight))) < PRECISION
    if bias:
        assert np.max(np.abs(layer.gradBias - central_difference(loss, layer.bias))) < PRECISION
    else:
        assert layer.bias is None and layer.gradBias is None


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_batch_gradients_are_sums_of_single_sample_gradients(bias):
    batched, X, G = layer_and_data(60, bias, seed=3)
    single = nn.Linear(7, 5, bias=bias)
    single.weight[...] = batched.weight
    if bias:
        single.bias[...] = batched.bias

    Y = batched.forward(X).copy()
    gradX = batched.backward(X, G).copy()
    for xi, gi, yi, gradxi in zip(X, G, Y, gradX):
        np.testing.assert_allclose(single.forward(xi), yi, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(single.backward(xi, gi), gradxi, rtol=1e-13, atol=1e-13)
    # single accumulated over the samples, batched in one call
    np.testing.assert_allclose(single.gradWeight, batched.gradWeight, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(single.gradBias, batched.gradBias, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch", [None, 8], ids=["1d", "batch"])
def test_gradients_accumulate_and_scale(batch):
    layer, input, G = layer_and_data(batch, True, seed=4)
    layer.backward(input, G)
    once = layer.gradWeight.copy(), layer.gradBias.copy()
    layer.backward(input, G)
    np.testing.assert_allclose(layer.gradWeight, 2 * once[0], rtol=1e-14)
    np.testing.assert_allclose(layer.gradBias, 2 * once[1], rtol=1e-14)

    layer.zeroGradParameters()
    layer.backward(input, G, 0.5)
    layer.accGradParameters(input, G, scale=3.0)
    np.testing.assert_allclose(layer.gradWeight, 3.5 * once[0], rtol=1e-14)
    np.testing.assert_allclose(layer.gradBias, 3.5 * once[1], rtol=1e-14)


def test_float32_input_needs_a_float_module_and_gives_float32_output_and_gradInput():
    layer, X, G = layer_and_data(10, True, seed=5)
    X32, G32 = X.astype(np.float32), G.astype(np.float32)
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        layer.forward(X32)
    weight, bias = layer.weight.copy(), layer.bias.copy()
    layer.float()
    Y = layer.forward(X32)
    assert Y.dtype == np.float32
    np.testing.assert_allclose(Y, X @ weight.T + bias, rtol=1e-5, atol=1e-5)
    gradX = layer.backward(X32, G32)
    assert gradX.dtype == np.float32
    np.testing.assert_allclose(gradX, G @ weight, rtol=1e-5, atol=1e-5)
    assert layer.gradWeight.dtype == np.float32
    np.testing.assert_allclose(layer.gradWeight, G.T @ X, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.gradBias, G.sum(axis=0), rtol=1e-5, atol=1e-5)
    # back to float64: new float64 buffers
    assert layer.double().forward(X).dtype == np.float64


def test_integer_input_computes_in_float64(l1):
    y = l1.forward(np.array([4, 5]))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, W @ x + b, rtol=0, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(inputSize=st.integers(1, 6), outputSize=st.integers(1, 6), batch=st.integers(1, 5),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_matrix_forms_hold_for_random_sizes(inputSize, outputSize, batch, bias, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(inputSize, outputSize, bias=bias, rng=rng)
    X = rng.standard_normal((batch, inputSize))
    G = rng.standard_normal((batch, outputSize))
    b_ = layer.bias if bias else np.zeros(outputSize)

    np.testing.assert_allclose(layer.forward(X), X @ layer.weight.T + b_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(X, G), G @ layer.weight, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.gradWeight, G.T @ X, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.gradBias, G.sum(axis=0), rtol=1e-12, atol=1e-12)
    # one sample: y = W x + b, gradInput = W^T g, gradWeight += g x^T
    layer.zeroGradParameters()
    np.testing.assert_allclose(layer.forward(X[0]), layer.weight @ X[0] + b_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(X[0], G[0]), layer.weight.T @ G[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.gradWeight, np.outer(G[0], X[0]), rtol=1e-12, atol=1e-12)


# --- Bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("sizes, error", [
    ((2.0, 3), TypeError),
    ((2, 3.0), TypeError),
    ((True, 3), TypeError),
    ((2, False), TypeError),
    (("2", 3), TypeError),
    ((None, 3), TypeError),
    ((0, 3), ValueError),
    ((2, -3), ValueError),
])
def test_sizes_must_be_positive_ints(sizes, error):
    with pytest.raises(error, match="must be a positive int"):
        nn.Linear(*sizes)


def test_numpy_integer_sizes_are_ints():
    assert repr(nn.Linear(np.int64(2), np.int32(3))) == "nn.Linear(2 -> 3)"


@pytest.mark.parametrize("input", [[4.0, 5.0], (4.0, 5.0), 4.0, np.float64(4.0), None], ids=repr)
@pytest.mark.parametrize("method", ["forward", "updateOutput", "backward", "updateGradInput", "accGradParameters"])
def test_non_array_input_is_a_TypeError(l1, method, input):
    args = (input,) if method in ("forward", "updateOutput") else (input, dJ_dy)
    with pytest.raises(TypeError, match=r"^Linear\(2 -> 3\): input must be a numpy array, got \w+$"):
        getattr(l1, method)(*args)


@pytest.mark.parametrize("gradOutput", [[1.0, 2.0, 3.0], 1.0, None], ids=repr)
@pytest.mark.parametrize("method", ["backward", "updateGradInput", "accGradParameters"])
def test_non_array_gradOutput_is_a_TypeError(l1, method, gradOutput):
    with pytest.raises(TypeError, match=r"^Linear\(2 -> 3\): gradOutput must be a numpy array, got \w+$"):
        getattr(l1, method)(x, gradOutput)


def test_complex_input_is_a_TypeError(l1):
    with pytest.raises(TypeError, match="real numbers"):
        l1.forward(x.astype(complex))


@pytest.mark.parametrize("shape", [(3,), (1,), (), (4, 3), (4, 1), (2, 2, 2), (1, 4, 2)])
@pytest.mark.parametrize("method", ["forward", "backward", "updateGradInput", "accGradParameters"])
def test_input_of_wrong_shape_is_a_ValueError_naming_both_shapes(l1, method, shape):
    input = np.zeros(shape)
    args = (input,) if method == "forward" else (input, dJ_dy)
    with pytest.raises(ValueError) as error:
        getattr(l1, method)(*args)
    assert str(error.value) == f"Linear(2 -> 3): input must have shape (2,) or (batch, 2), got {shape}"


@pytest.mark.parametrize("input_shape, gradOutput_shape, expected", [
    ((2,), (1,), (3,)),         # would broadcast
    ((2,), (2,), (3,)),
    ((2,), (1, 3), (3,)),
    ((2,), (3, 1), (3,)),
    ((1, 2), (3,), (1, 3)),     # would broadcast
    ((4, 2), (1, 3), (4, 3)),   # would broadcast
    ((4, 2), (4, 2), (4, 3)),
    ((4, 2), (5, 3), (4, 3)),
    ((4, 2), (4, 3, 1), (4, 3)),
])
@pytest.mark.parametrize("method", ["backward", "updateGradInput", "accGradParameters"])
def test_gradOutput_must_match_output_shape_exactly(l1, method, input_shape, gradOutput_shape, expected):
    l1.forward(np.ones(input_shape))  # warm buffers: the check must not rely on a cold start
    before = l1.gradWeight.copy(), l1.gradBias.copy()
    with pytest.raises(ValueError) as error:
        getattr(l1, method)(np.ones(input_shape), np.ones(gradOutput_shape))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"Linear(2 -> 3): gradOutput must have shape {expected}")
    assert f"input {input_shape}" in message and message.endswith(f"got {gradOutput_shape}")
    assert np.array_equal(l1.gradWeight, before[0]) and np.array_equal(l1.gradBias, before[1])


def test_bad_call_after_good_ones_is_still_caught(l1):
    l1.backward(x, dJ_dy)
    with pytest.raises(ValueError):
        l1.backward(x, dJ_dy[:2])
    with pytest.raises(ValueError):
        l1.forward(np.zeros(3))


# --- Module protocol: repr, noBias, reset, parameters, buffers ------------------------------

def test_repr():
    assert repr(nn.Linear(2, 3)) == "nn.Linear(2 -> 3)"
    assert repr(nn.Linear(2, 3, bias=False)) == "nn.Linear(2 -> 3) without bias"
    assert repr(nn.Linear(2, 3).noBias()) == "nn.Linear(2 -> 3) without bias"


def test_noBias_drops_bias_and_returns_the_module(l1):
    assert l1.noBias() is l1
    assert l1.bias is None and l1.gradBias is None
    np.testing.assert_allclose(l1.forward(x), W @ x, rtol=0, atol=1e-15)
    params, gradParams = l1.parameters()
    assert len(params) == 1 and params[0] is l1.weight
    assert len(gradParams) == 1 and gradParams[0] is l1.gradWeight
    l1.backward(x, dJ_dy)
    assert np.array_equal(l1.gradWeight, [[4, 5], [8, 10], [12, 15]])
    l1.updateParameters(0.5)
    np.testing.assert_allclose(l1.weight, W - 0.5 * np.outer(dJ_dy, x), rtol=0, atol=1e-15)


def test_reset_draws_from_uniform_one_over_sqrt_inputSize():
    layer = nn.Linear(100, 50, rng=0)
    s = 1 / np.sqrt(100)
    for param in (layer.weight, layer.bias):
        assert np.all(np.abs(param) <= s)
    assert np.abs(layer.weight).max() > 0.95 * s
    assert abs(layer.weight.mean()) < 0.05 * s


def test_reset_with_stdv_draws_from_uniform_stdv_sqrt3():
    layer = nn.Linear(100, 50, rng=1)
    weight = layer.weight
    assert layer.reset(stdv=0.1, rng=2) is layer
    assert layer.weight is weight  # drawn in place
    bound = 0.1 * np.sqrt(3)
    assert np.all(np.abs(layer.weight) <= bound) and np.abs(layer.weight).max() > 0.95 * bound
    assert np.all(np.abs(layer.bias) <= bound)
    assert abs(layer.weight.std() - 0.1) < 0.005  # U(-s, s) has standard deviation s / sqrt(3)


def test_rng_makes_reset_reproducible():
    a, b_ = nn.Linear(3, 4, rng=7), nn.Linear(3, 4, rng=np.random.default_rng(7))
    assert np.array_equal(a.weight, b_.weight) and np.array_equal(a.bias, b_.bias)
    assert not np.array_equal(a.weight, nn.Linear(3, 4, rng=8).weight)


def test_parameters_are_the_live_arrays(l1):
    params, gradParams = l1.parameters()
    assert params[0] is l1.weight and params[1] is l1.bias
    assert gradParams[0] is l1.gradWeight and gradParams[1] is l1.gradBias
    l1.backward(x, dJ_dy)
    l1.updateParameters(0.02)
    assert params[0] is l1.weight and params[1] is l1.bias  # updated in place, never rebound
    params[0][0, 0] = 42.0
    assert l1.weight[0, 0] == 42.0


def test_output_buffers_are_reused_per_shape(l1):
    y1 = l1.forward(x)
    assert l1.forward(2 * x) is y1  # same buffer, new values
    np.testing.assert_allclose(y1, W @ (2 * x) + b)
    Y = l1.forward(np.ones((4, 2)))
    assert Y is not y1 and Y.shape == (4, 3)
    assert l1.forward(np.zeros((4, 2))) is Y
    gradX = l1.backward(np.zeros((4, 2)), np.ones((4, 3)))
    assert l1.backward(np.ones((4, 2)), np.ones((4, 3))) is gradX


def test_module_base_protocol():
    module = Module()
    assert module.parameters() is None
    module.zeroGradParameters()
    module.updateParameters(0.1)
    assert module.forward(x) is module.output
    assert module.backward(x, dJ_dy) is module.gradInput
    assert module.train
    module.evaluate()
    assert not module.train
    module.training()
    assert module.train


# --- Parameters in one flat array: rebinding, copies; backward and subclasses -----------------

def test_parameters_and_gradients_are_views_into_one_flat_array_each(l1):
    assert l1.weight.base is not None and l1.weight.base is l1.bias.base
    assert l1.gradWeight.base is not None and l1.gradWeight.base is l1.gradBias.base
    assert l1.weight.base is not l1.gradWeight.base


def descended(layer, learningRate):
    """(weight, bias) after one step, computed here from the layer's current arrays."""
    return layer.weight - learningRate * layer.gradWeight, layer.bias - learningRate * layer.gradBias


@pytest.mark.parametrize("name", ["weight", "bias", "gradWeight", "gradBias"])
def test_a_rebound_parameter_is_still_updated_and_zeroed(l1, name):
    l1.backward(x, dJ_dy)
    setattr(l1, name, getattr(l1, name).copy())  # no longer a view into the flat array
    weight, bias = descended(l1, 0.02)
    l1.updateParameters(0.02)
    np.testing.assert_allclose(l1.weight, weight, rtol=0, atol=1e-15)
    np.testing.assert_allclose(l1.bias, bias, rtol=0, atol=1e-15)
    l1.zeroGradParameters()
    assert not l1.gradWeight.any() and not l1.gradBias.any()


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda module: pickle.loads(pickle.dumps(module))],
                         ids=["deepcopy", "pickle"])
def test_a_deep_copy_trains_its_own_parameters(l1, clone):
    l1.backward(x, dJ_dy)
    twin = clone(l1)
    weight, bias = descended(l1, 0.02)
    twin.updateParameters(0.02)
    np.testing.assert_allclose(twin.weight, weight, rtol=0, atol=1e-15)
    np.testing.assert_allclose(twin.bias, bias, rtol=0, atol=1e-15)
    assert np.array_equal(l1.weight, W) and np.array_equal(l1.bias, b)
    twin.zeroGradParameters()
    assert not twin.gradWeight.any() and not twin.gradBias.any() and l1.gradWeight.any()
    assert twin.weight.base is twin.bias.base is not None  # one flat array again


def test_a_shallow_copy_shares_the_parameters(l1):
    twin = copy.copy(l1)
    assert twin.weight is l1.weight
    l1.backward(x, dJ_dy)
    weight, _ = descended(l1, 0.02)
    twin.updateParameters(0.02)
    np.testing.assert_allclose(l1.weight, weight, rtol=0, atol=1e-15)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("batch", [None, 6], ids=["1d", "batch"])
def test_backward_equals_its_two_methods(batch, bias):
    fused, input, G = layer_and_data(batch, bias, seed=11)
    apart = copy.deepcopy(fused)
    for scale in (1.0, 0.5):
        gradInput = fused.backward(input, G, scale)
        assert gradInput is fused.gradInput
        assert np.array_equal(gradInput, apart.updateGradInput(input, G))
        apart.accGradParameters(input, G, scale)
        for mine, theirs in zip(fused.parameters()[1], apart.parameters()[1]):
            assert np.array_equal(mine, theirs)


def test_backward_calls_an_overridden_updateGradInput_or_accGradParameters():
    class Doubled(nn.Linear):
        def updateGradInput(self, input, gradOutput):
            return np.multiply(super().updateGradInput(input, gradOutput), 2, out=self.gradInput)

    class Tenfold(nn.Linear):
        def accGradParameters(self, input, gradOutput, scale=1.0):
            super().accGradParameters(input, gradOutput, 10 * scale)

    class Plain(nn.Linear):
        pass

    for cls, factor_in, factor_params in ((Doubled, 2, 1), (Tenfold, 1, 10), (Plain, 1, 1)):
        layer = cls(2, 3)
        layer.weight[...] = W
        np.testing.assert_allclose(layer.backward(x, dJ_dy), factor_in * W.T @ dJ_dy, rtol=0, atol=1e-15)
        np.testing.assert_allclose(layer.gradWeight, factor_params * np.outer(dJ_dy, x), rtol=0, atol=0)
        np.testing.assert_allclose(layer.gradBias, factor_params * dJ_dy, rtol=0, atol=0)


@pytest.mark.parametrize("learningRate,error,message", [
    ("0.1", TypeError, r"^Linear\.updateParameters: learningRate must be a real number, got '0\.1' \(str\)$"),
    (None, TypeError, r"^Linear\.updateParameters: learningRate must be a real number, got None"),
    (True, TypeError, r"^Linear\.updateParameters: learningRate must be a real number, got True \(bool\)$"),
    (float("nan"), ValueError, r"^Linear\.updateParameters: learningRate must be finite, got nan$"),
    (float("inf"), ValueError, r"^Linear\.updateParameters: learningRate must be finite, got inf$"),
    (np.float32("nan"), ValueError, r"learningRate must be finite"),
])
def test_a_bad_learningRate_is_refused_and_the_weights_are_kept(l1, learningRate, error, message):
    l1.backward(np.array([4.0, 5.0]), np.array([1.0, 2.0, 3.0]))
    before = [p.copy() for p in l1.parameters()[0]]
    with pytest.raises(error, match=message):
        l1.updateParameters(learningRate)
    assert all(np.array_equal(p, q) for p, q in zip(l1.parameters()[0], before))


@pytest.mark.parametrize("learningRate", [1, np.float32(0.5), np.int64(2), -0.1])
def test_any_finite_real_learningRate_is_a_step(l1, learningRate):
    l1.backward(np.array([4.0, 5.0]), np.array([1.0, 2.0, 3.0]))
    expected = l1.weight - float(learningRate) * l1.gradWeight
    l1.updateParameters(learningRate)
    np.testing.assert_allclose(l1.weight, expected, rtol=1e-6)


@pytest.mark.parametrize("stdv,error,message", [
    (-1, ValueError, r"^Linear\(2 -> 3\)\.reset: stdv must be at least 0, got -1$"),
    ("1", TypeError, r"^Linear\(2 -> 3\)\.reset: stdv must be a real number, got '1' \(str\)$"),
    (float("nan"), ValueError, r"^Linear\(2 -> 3\)\.reset: stdv must be finite, got nan$"),
])
def test_a_bad_stdv_is_refused(l1, stdv, error, message):
    with pytest.raises(error, match=message):
        l1.reset(stdv)


@pytest.mark.parametrize("name,value,error,message", [
    ("weight", np.zeros((2, 3)), ValueError, r"^Linear\(2 -> 3\): weight must have shape \(3, 2\), got \(2, 3\)$"),
    ("gradWeight", np.zeros(6), ValueError, r"^Linear\(2 -> 3\): gradWeight must have shape \(3, 2\), got \(6,\)$"),
    ("bias", np.zeros(2), ValueError, r"^Linear\(2 -> 3\): bias must have shape \(3,\), got \(2,\)$"),
    ("weight", [[0.0, 0.0]] * 3, TypeError, r"^Linear\(2 -> 3\): weight must be a numpy array, got list$"),
    ("weight", np.zeros((3, 2), int), TypeError, r"^Linear\(2 -> 3\): weight must hold floating-point numbers, got dtype int64$"),
    ("weight", None, TypeError, r"^Linear\(2 -> 3\): weight must be a numpy array, got NoneType$"),
])
def test_a_parameter_of_the_wrong_shape_or_kind_is_refused_when_assigned(l1, name, value, error, message):
    before = getattr(l1, name)
    with pytest.raises(error, match=message):
        setattr(l1, name, value)
    assert getattr(l1, name) is before


def test_a_parameter_of_the_right_shape_can_be_assigned(l1):
    l1.weight = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    l1.bias = np.zeros(3, np.float32)
    np.testing.assert_allclose(l1.forward(np.array([4.0, 5.0])), [4.0, 5.0, 9.0])

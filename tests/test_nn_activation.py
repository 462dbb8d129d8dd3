"""nn.Sigmoid, nn.Tanh, nn.ReLU, checked the way Torch's own tests check modules.

Convention: y = f(x) element by element, g = dJ/dy, so dJ/dx = g * f'(x); the
Jacobian dy/dx is diagonal. Torch's test: central differences with perturbation
1e-6 against backprop, in 1-D and for a batch.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive import nn
from derive.nn.jacobian import jacobian_errors

PERTURBATION = 1e-6  # as in Torch's nn tests
PRECISION = 1e-6

ACTIVATIONS = [nn.Sigmoid, nn.Tanh, nn.ReLU]


def away_from_zero(rng, shape, margin=0.1):
    """Normal samples pushed at least ``margin`` from 0, so no perturbation crosses ReLU's kink."""
    x = rng.standard_normal(shape)
    return x + margin * np.sign(x)


# --- Central differences against backprop ---------------------------------------------

@pytest.mark.parametrize("Activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(7,), (60, 5)], ids=["one sample", "batch of 60"])
def test_backprop_matches_central_differences(Activation, shape):
    x = away_from_zero(np.random.default_rng(0), shape)
    module = Activation()
    (error,) = jacobian_errors(module, x, PERTURBATION)
    assert error < PRECISION


@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_gradient_is_gradOutput_times_the_derivative(Activation):
    rng = np.random.default_rng(1)
    x = away_from_zero(rng, (50, 4))
    g = rng.standard_normal((50, 4))
    derivative = {
        nn.Sigmoid: lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2,
        nn.Tanh: lambda x: 1 / np.cosh(x) ** 2,
        nn.ReLU: lambda x: (x > 0).astype(float),
    }[Activation]
    module = Activation()
    module.forward(x)
    np.testing.assert_allclose(module.backward(x, g), g * derivative(x), rtol=1e-12, atol=1e-15)


# --- Values, and Torch's convention at 0 ----------------------------------------------

def test_values_at_known_points():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(nn.Sigmoid().forward(x), [1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2))], rtol=1e-15)
    np.testing.assert_allclose(nn.Tanh().forward(x), [np.tanh(-1), 0.0, np.tanh(2)], rtol=1e-15)
    assert np.array_equal(nn.ReLU().forward(x), [0.0, 0.0, 2.0])


def test_relu_at_zero_has_output_0_and_gradient_0_as_torch():
    # Torch's ReLU is Threshold(0, 0): y = x > 0 ? x : 0, dJ/dx = x > 0 ? g : 0.
    relu = nn.ReLU()
    x = np.array([-1.0, 0.0, -0.0, 1e-300, 1.0])
    assert np.array_equal(relu.forward(x), [0, 0, 0, 1e-300, 1])
    assert np.array_equal(relu.backward(x, np.array([5.0, 5.0, 5.0, 5.0, 5.0])), [0, 0, 0, 5, 5])


def test_sigmoid_and_tanh_derivatives_at_zero():
    x, g = np.zeros(2), np.ones(2)
    sigmoid, tanh = nn.Sigmoid(), nn.Tanh()
    sigmoid.forward(x)
    tanh.forward(x)
    assert np.array_equal(sigmoid.backward(x, g), [0.25, 0.25])
    assert np.array_equal(tanh.backward(x, g), [1.0, 1.0])


def test_sigmoid_saturates_without_overflow_warning():
    x = np.array([-1000.0, -40.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's default error state: overflow would warn
        y = nn.Sigmoid().forward(x)
    assert y[0] == 0 and y[3] == 1
    np.testing.assert_allclose(y[1], np.exp(-40) / (1 + np.exp(-40)), rtol=1e-15)


# --- Buffers, dtypes, shapes ----------------------------------------------------------

@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_buffers_are_reused_across_calls(Activation):
    module = Activation()
    rng = np.random.default_rng(2)
    x1, x2, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y1 = module.forward(x1)
    gradInput1 = module.backward(x1, g)
    assert module.forward(x2) is y1 is module.output
    assert module.backward(x2, g) is gradInput1 is module.gradInput


@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_no_parameters(Activation):
    module = Activation()
    assert module.parameters() is None
    module.zeroGradParameters()
    module.updateParameters(0.1)


@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_float32_needs_a_float_module_and_integers_give_float64(Activation):
    module = Activation()
    x32 = np.array([[-1.5, 0.5], [2.0, -0.25]], dtype=np.float32)
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        module.forward(x32)
    module.float()
    assert module.forward(x32).dtype == np.float32
    assert module.backward(x32, np.ones((2, 2), np.float32)).dtype == np.float32
    np.testing.assert_allclose(module.output, Activation().forward(x32.astype(np.float64)), rtol=1e-6)
    assert Activation().forward(np.array([-1, 0, 2])).dtype == np.float64


@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_any_shape(Activation):
    x = away_from_zero(np.random.default_rng(3), (2, 3, 4))
    module = Activation()
    y = module.forward(x)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, Activation().forward(x.ravel()).reshape(x.shape))


@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_gradOutput_of_another_shape_is_a_ValueError(Activation):
    module = Activation()
    x = np.zeros((4, 3))
    module.forward(x)
    with pytest.raises(ValueError, match=r"gradOutput must have the shape of the output.*\(4, 3\).*got \(3, 4\)"):
        module.backward(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"got \(12,\)"):
        module.backward(x, np.zeros(12))


@pytest.mark.parametrize("Activation", ACTIVATIONS)
def test_non_arrays_are_a_TypeError(Activation):
    module = Activation()
    with pytest.raises(TypeError, match="input must be a numpy array, got list"):
        module.forward([1.0, 2.0])
    module.forward(np.zeros(2))
    with pytest.raises(TypeError, match="gradOutput must be a numpy array, got list"):
        module.backward(np.zeros(2), [1.0, 2.0])
    with pytest.raises(TypeError, match="real numbers, got dtype complex128"):
        module.forward(np.zeros(2, complex))


@pytest.mark.parametrize("Activation", [nn.Sigmoid, nn.Tanh])
def test_backward_of_an_input_forward_never_saw_is_a_ValueError(Activation):
    # Sigmoid and Tanh compute the gradient from the output of forward.
    module = Activation()
    with pytest.raises(ValueError, match=r"call forward\(input\) first"):
        module.backward(np.zeros(3), np.ones(3))
    module.forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"call forward\(input\) first.*got \(2, 3\)"):
        module.backward(np.zeros((2, 3)), np.ones((2, 3)))


def test_relu_backward_needs_no_forward():
    relu = nn.ReLU()
    assert np.array_equal(relu.backward(np.array([-1.0, 2.0]), np.array([3.0, 4.0])), [0.0, 4.0])


def test_repr():
    assert [repr(A()) for A in ACTIVATIONS] == ["nn.Sigmoid", "nn.Tanh", "nn.ReLU"]


# --- The generated kernels against their formulas ------------------------------------

@settings(max_examples=50, deadline=None)
@given(shape=st.sampled_from([(1,), (5,), (3, 4), (64, 1)]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_generated_modules_compute_their_formulas_in_the_inputs_dtype(shape, dtype, seed):
    """The classes generated from the catalogue entries (derive/nn/_catalogue.py), one sample or a
    batch, float64 or float32, against the formulas written by hand."""
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    expected = {
        nn.Sigmoid: (lambda x: 1 / (1 + np.exp(-x)), lambda x, y: g * y * (1 - y)),
        nn.Tanh: (np.tanh, lambda x, y: g * (1 - y**2)),
        nn.ReLU: (lambda x: np.maximum(x, 0), lambda x, y: g * (x > 0)),
    }
    for Activation, (forward, gradient) in expected.items():
        module = Activation()
        if dtype == np.float32:
            module.float()
        y = module.forward(x)
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_allclose(y, forward(x), rtol=rtol)
        gradInput = module.backward(x, g)
        assert gradInput.dtype == dtype
        np.testing.assert_allclose(gradInput, gradient(x, y), rtol=rtol, atol=1e-30)


def test_they_are_the_generated_classes():
    from derive.nn import _catalogue

    for Activation in ACTIVATIONS:
        assert Activation.__module__ == _catalogue.__name__


@pytest.mark.parametrize("name", ["Sigmoid", "Tanh"])
def test_the_page_says_what_backward_after_another_forward_does(name):
    """The Sigmoid and Tanh pages (their catalogue entries' notes) describe derive.nn's real
    behaviour, not a check it lacks."""
    from derive import nn
    from derive.catalogue import lookup

    said = lookup(name).notes
    assert "checks that" not in said
    assert "silently uses that input's output" in said
    module = getattr(nn, name)()
    x, other, g = np.array([-2.0, 0.0, 3.0]), np.array([1.0, 2.0, -1.0]), np.array([1.0, 2.0, 3.0])
    module.forward(other)
    stale = module.backward(x, g).copy()  # x's gradient asked, other's output used: no error
    expected = module.updateGradInput(other, g).copy()
    np.testing.assert_array_equal(stale, expected)
    with pytest.raises(ValueError, match="call forward"):  # another shape is refused
        module.backward(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="call forward"):  # so is a backward before any forward
        getattr(nn, name)().backward(x, g)

"""Generated modules and criteria skip the checks their last call made, where the next call's arrays
are of the same class, shape and dtype, and write into their buffers: what they still check and
still compute anew each call (the classes' values, the buffer's old entries, a new weight, the last
forward's input, a buffer passed back in as the input)."""

import numpy as np
import pytest

from derive import nn


def test_a_class_gradient_written_into_its_buffer_keeps_none_of_the_last_targets():
    nll = nn.ClassNLLCriterion()
    x = np.random.default_rng(0).standard_normal((4, 3))
    first = nll.backward(x, np.array([0, 1, 2, 1]))
    second = nll.backward(x, np.array([2, 2, 0, 0]))
    assert second is first  # the same buffer, cleared and written
    expected = np.zeros((4, 3))
    expected[np.arange(4), [2, 2, 0, 0]] = -1 / 4
    np.testing.assert_array_equal(second, expected)


@pytest.mark.parametrize("Criterion", [nn.ClassNLLCriterion, nn.CrossEntropyCriterion])
def test_the_classes_are_checked_every_call_of_the_same_shape_and_dtype(Criterion):
    criterion = Criterion()
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    criterion.forward(x, t)
    criterion.backward(x, t)
    t[1] = -1  # the very same array, changed in place
    with pytest.raises(ValueError, match=rf"^{Criterion.__name__}: target must hold classes from 0 to 3, got -1"):
        criterion.forward(x, t)
    # another array of that shape and dtype (CrossEntropyCriterion's backward of the very arrays of
    # its last forward reads the gradient that forward kept)
    with pytest.raises(ValueError, match=rf"^{Criterion.__name__}: target must hold classes from 0 to 3, got 0 .. 4"):
        criterion.backward(x, np.array([0, 4, 2]))


def test_a_criterion_converted_by_type_checks_its_input_again():
    nll = nn.MSECriterion()
    x = np.ones((2, 3))
    nll.forward(x, x)
    nll.float()
    with pytest.raises(TypeError, match=r"input is float64 but the module is float32"):
        nll.forward(x, x)
    assert nll.forward(x.astype(np.float32), x.astype(np.float32)) == 0.0


@pytest.mark.parametrize("Criterion", [nn.ClassNLLCriterion, nn.CrossEntropyCriterion])
def test_the_gradient_buffer_passed_back_as_the_input_is_read_before_it_is_written(Criterion):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((5, 4)), np.array([0, 3, 1, 2, 0])
    criterion = Criterion()
    criterion.forward(x, t)
    buffer = criterion.backward(x, t)
    expected = Criterion().backward(buffer.copy(), t)
    np.testing.assert_allclose(criterion.backward(buffer, t), expected, rtol=1e-12, atol=0)


def test_updateGradInput_of_another_input_than_the_last_forwards_is_refused():
    lsm = nn.LogSoftMax()
    x, y = np.zeros((2, 3)), np.zeros((4, 3))
    lsm.forward(x)
    lsm.updateGradInput(x, np.ones((2, 3)))  # the call the next ones skip the checks after
    lsm.forward(y)
    with pytest.raises(ValueError, match=r"^LogSoftMax: backward reads the output of forward: call forward\(input\) "
                                         r"first \(last forward input: \(4, 3\)"):
        lsm.updateGradInput(x, np.ones((2, 3)))


def test_updateGradInput_reads_a_weight_assigned_since_the_last_call():
    layer = nn.Linear(3, 2, rng=0)
    x, g = np.ones((4, 3)), np.arange(8.0).reshape(4, 2)
    layer.forward(x)
    np.testing.assert_allclose(layer.updateGradInput(x, g), g @ layer.weight)
    weight = np.arange(6.0).reshape(2, 3)
    layer.weight = weight
    np.testing.assert_allclose(layer.updateGradInput(x, g), g @ weight)


def test_the_log_softmax_forward_writes_into_its_buffer_and_keeps_its_values():
    lsm = nn.LogSoftMax()
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((3, 5)) * 10, rng.standard_normal((3, 5)) * 10
    first = lsm.forward(x1)
    second = lsm.forward(x2)
    assert second is first
    shifted = x2 - x2.max(axis=1, keepdims=True)
    np.testing.assert_allclose(second, shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), rtol=1e-12, atol=1e-12)
    # the buffer as the input: read before it is written
    expected = nn.LogSoftMax().forward(second.copy())
    np.testing.assert_allclose(lsm.forward(second), expected, rtol=1e-14)


@pytest.mark.parametrize("method", ["updateGradInput", "backward"])
def test_a_window_module_checks_again_after_a_forward_of_another_size(method):
    rng = np.random.default_rng(3)
    small, large = rng.standard_normal((2, 6, 6)), rng.standard_normal((2, 8, 8))
    reference = nn.SpatialConvolutionMM(2, 3, 3, 3, rng=0)
    grad = rng.standard_normal(reference.forward(small).shape)
    expected = reference.updateGradInput(small, grad).copy()
    layer = nn.SpatialConvolutionMM(2, 3, 3, 3, rng=0)
    for _ in range(2):  # the second call takes the fast path
        layer.forward(small)
        getattr(layer, method)(small, grad)
    layer.forward(large)  # the kernels' size arguments are the large input's now
    with pytest.raises(ValueError, match=r"^SpatialConvolutionMM: gradOutput must have the shape of the output of "
                                         r"forward\(input\), \(3, 6, 6\), got \(3, 4, 4\)$"):
        getattr(layer, method)(small, grad)
    layer.forward(small)
    np.testing.assert_allclose(getattr(layer, method)(small, grad), expected, rtol=1e-12)

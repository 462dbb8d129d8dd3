"""The short paths a generated module or criterion takes on a call like its last one (same array
class, shapes and dtypes) still check what can change between calls: the classes' values (a new
array, or the same one changed in place), the buffer's identity, a forward of another shape; and
forward/backward are updateOutput/updateGradInput themselves only where a subclass overrides
neither (Torch7's protocol: forward calls updateOutput)."""

import numpy as np
import pytest

from derive import nn
from derive.nn.functional import rows

CLASS_CRITERIA = [nn.ClassNLLCriterion, nn.CrossEntropyCriterion, nn.MultiMarginCriterion]


def warmed(Criterion, x, t):
    """A criterion after two forward/backward pairs of these arrays: its next calls take the short paths."""
    criterion = Criterion()
    for _ in range(2):
        criterion.forward(x, t)
        criterion.backward(x, t)
    return criterion


@pytest.mark.parametrize("Criterion", CLASS_CRITERIA)
@pytest.mark.parametrize("bad, shown", [(-1, "-1 .. 2"), (4, "0 .. 4"), (-7, "-7 .. 2")])
def test_a_bad_class_after_good_calls_is_refused_by_forward_and_by_backward(Criterion, bad, shown):
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    criterion = warmed(Criterion, x, t)
    wrong = np.array([0, bad, 2])  # another array of the same shape and dtype
    message = rf"^{Criterion.__name__}: target must hold classes from 0 to 3, got {shown}$"
    with pytest.raises(ValueError, match=message):
        criterion.forward(x, wrong)
    with pytest.raises(ValueError, match=message):
        criterion.backward(x, wrong)
    # and after a refused forward, its backward of the very same array checks it too
    with pytest.raises(ValueError, match=message):
        criterion.forward(x, wrong)
    with pytest.raises(ValueError, match=message):
        criterion.backward(x, wrong)


@pytest.mark.parametrize("Criterion", CLASS_CRITERIA)
def test_a_target_changed_in_place_to_a_bad_class_is_refused_by_the_next_forward(Criterion):
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    criterion = warmed(Criterion, x, t)
    t[2] = 9
    with pytest.raises(ValueError, match=r"got 0 \.\. 9$"):
        criterion.forward(x, t)
    with pytest.raises(ValueError, match=r"got 0 \.\. 9$"):  # the refused forward checked nothing for backward
        criterion.backward(x, t)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64])
def test_classes_of_every_integer_dtype_are_read_on_the_short_path(dtype):
    x, t = np.zeros((4, 3)), np.array([0, 1, 2, 1], dtype=dtype)
    criterion = warmed(nn.ClassNLLCriterion, x, t)
    assert criterion.forward(x, np.array([2, 2, 2, 2], dtype=dtype)) == 0.0
    if np.dtype(dtype).kind == "i":
        with pytest.raises(ValueError, match=r"got -1 \.\. 2$"):
            criterion.forward(x, np.array([2, -1, 2, 2], dtype=dtype))
    with pytest.raises(ValueError, match=r"got 0 \.\. 3$"):
        criterion.forward(x, np.array([0, 3, 2, 2], dtype=dtype))


@pytest.mark.parametrize("Criterion", CLASS_CRITERIA)
def test_new_arrays_of_the_same_shape_give_their_own_loss_and_gradient(Criterion):
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    criterion = warmed(Criterion, x, t)
    for _ in range(3):
        x, t = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
        reference = Criterion()
        assert criterion.forward(x, t) == pytest.approx(reference.forward(x, t), rel=1e-14)
        first = criterion.gradInput
        np.testing.assert_allclose(criterion.backward(x, t), reference.backward(x, t), rtol=1e-14)
        assert criterion.gradInput is first  # the criterion's own buffer, written again


def test_a_gradient_buffer_assigned_in_between_is_not_written_by_the_short_path():
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    nll = warmed(nn.ClassNLLCriterion, x, t)
    old = nll.gradInput
    mine = np.full((4, 3), 7.0)
    nll.gradInput = mine
    result = nll.backward(x, t)
    np.testing.assert_array_equal(result, nn.ClassNLLCriterion().backward(x, t))
    assert result is mine  # it fits: Torch7's resize keeps it
    old_values = old.copy()
    nll.backward(x, np.array([1, 1, 1, 1]))
    np.testing.assert_array_equal(old, old_values)  # the buffer given up is left alone


def test_the_kept_cross_entropy_gradient_comes_back_in_the_criterions_floats():
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 4, 5)
    ce = nn.CrossEntropyCriterion().float()
    for _ in range(3):
        ce.forward(x, t)
        grad = ce.backward(x, t)
        assert grad.dtype == np.float32
    expected = nn.CrossEntropyCriterion().backward(x.astype(np.float64), t)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_a_real_target_criterion_reads_new_arrays_of_the_same_shape():
    rng = np.random.default_rng(7)
    mse = nn.MSECriterion()
    for _ in range(4):
        x, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
        assert mse.forward(x, y) == pytest.approx(((x - y) ** 2).mean(), rel=1e-14)
        np.testing.assert_allclose(mse.backward(x, y), 2 * (x - y) / x.size, rtol=1e-14)


@pytest.mark.parametrize("method", ["updateGradInput", "backward"])
def test_a_log_softmax_gradient_after_a_forward_of_another_shape_is_refused(method):
    lsm = nn.LogSoftMax()
    x, y, g = np.zeros((2, 3)), np.zeros((4, 3)), np.ones((2, 3))
    for _ in range(2):
        lsm.forward(x)
        getattr(lsm, method)(x, g)
    lsm.forward(y)
    with pytest.raises(ValueError, match=r"^LogSoftMax: backward reads the output of forward: call forward\(input\) "
                                         r"first \(last forward input: \(4, 3\)"):
        getattr(lsm, method)(x, g)
    lsm.forward(x)  # the same shape again: a forward of it, so its gradient is read
    expected = g - np.exp(lsm.output) * g.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(getattr(lsm, method)(x, g), expected, rtol=1e-15)


def test_a_linear_step_on_the_short_paths_is_the_definition():
    rng = np.random.default_rng(8)
    layer = nn.Linear(2, 3, rng=0)
    for _ in range(3):
        x, g = rng.standard_normal((1, 2)), rng.standard_normal((1, 3))
        W, b, gW, gb = layer.weight.copy(), layer.bias.copy(), layer.gradWeight.copy(), layer.gradBias.copy()
        np.testing.assert_allclose(layer.forward(x), x @ W.T + b, rtol=1e-15)
        np.testing.assert_allclose(layer.backward(x, g, 0.5), g @ W, rtol=1e-15)
        np.testing.assert_allclose(layer.gradWeight, gW + 0.5 * g.T @ x, rtol=1e-15)
        np.testing.assert_allclose(layer.gradBias, gb + 0.5 * g.sum(axis=0), rtol=1e-15)
        layer.updateParameters(0.1)
        np.testing.assert_allclose(layer.weight, W - 0.1 * layer.gradWeight, rtol=1e-15)


def test_forward_and_backward_call_an_overridden_updateOutput_and_updateGradInput():
    class Doubled(nn.Tanh):
        def updateOutput(self, input):
            self.output = 2 * super().updateOutput(input)
            return self.output

    class Halved(nn.MSECriterion):
        def updateOutput(self, input, target):
            self.output = super().updateOutput(input, target) / 2
            return self.output

        def updateGradInput(self, input, target):
            self.gradInput = super().updateGradInput(input, target) / 2
            return self.gradInput

    class Shifted:  # a mixin before the generated class: its updateOutput is the one forward calls
        def updateOutput(self, input, *target):
            return super().updateOutput(input + 1, *target)

        def updateGradInput(self, input, *rest):
            return super().updateGradInput(input + 1, *rest)

    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(Doubled().forward(x), 2 * np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(type("ShiftedLog", (Shifted, nn.Log), {})().forward(x + 2), np.log(x + 3), rtol=1e-15)
    shifted = type("ShiftedMSE", (Shifted, nn.MSECriterion), {})()
    assert shifted.forward(x, x) == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(shifted.backward(x, x), [1.0, 1.0], rtol=1e-15)
    assert nn.Tanh.forward is nn.Tanh.updateOutput  # the generated class's: one call
    y = np.zeros(2)
    assert Halved().forward(x, y) == pytest.approx(np.mean(x ** 2) / 2, rel=1e-15)
    np.testing.assert_allclose(Halved().backward(x, y), x / 2, rtol=1e-15)


def test_rows_are_made_once_for_each_size_and_cannot_be_written():
    first = rows(5, np)
    assert rows(5, np) is first
    np.testing.assert_array_equal(first, np.arange(5))
    with pytest.raises(ValueError):
        first[0] = 3
    np.testing.assert_array_equal(rows(3, np), [0, 1, 2])


def test_updateParameters_moves_a_weight_assigned_since_construction_and_not_the_old_one():
    layer = nn.Linear(2, 3, rng=0)
    old = layer.weight
    old_values = old.copy()
    layer.gradWeight[...] = 1.0
    layer.gradBias[...] = 2.0
    weight = np.zeros((3, 2))
    layer.weight = weight
    bias = layer.bias.copy()
    layer.updateParameters(0.5)
    np.testing.assert_array_equal(weight, np.full((3, 2), -0.5))
    np.testing.assert_array_equal(layer.bias, bias - 1.0)
    np.testing.assert_array_equal(old, old_values)  # the flat layout's view it replaced stays as it was
    with pytest.raises(TypeError, match=r"learningRate must be a real number"):
        layer.updateParameters("0.1")


@pytest.mark.parametrize("Criterion", CLASS_CRITERIA)
@pytest.mark.parametrize("bad", [-1, 3, 1000])
def test_one_sample_of_a_bad_class_after_good_calls_is_a_value_error_not_numpys_index_error(Criterion, bad):
    x = np.array([0.5, -1.0, 2.0])
    criterion = warmed(Criterion, x, np.array(1))
    with pytest.raises(ValueError, match=rf"^{Criterion.__name__}: target must hold classes from 0 to 2, got") as error:
        criterion.forward(x, np.array(bad))
    assert error.value.__suppress_context__  # one message: numpy's IndexError is not shown under it
    assert criterion.forward(x, np.array(2)) == Criterion().forward(x, np.array(2))


@pytest.mark.parametrize("scale, error", [("1", TypeError), (float("nan"), ValueError), (True, TypeError)])
def test_a_bad_scale_is_refused_on_the_short_path_too(scale, error):
    layer = nn.Linear(2, 3, rng=0)
    x, g = np.ones((4, 2)), np.ones((4, 3))
    for _ in range(2):
        layer.forward(x)
        layer.backward(x, g)
    before = layer.gradWeight.copy()
    with pytest.raises(error, match=r"^Linear\(2 -> 3\): scale must be"):
        layer.backward(x, g, scale)
    np.testing.assert_array_equal(layer.gradWeight, before)

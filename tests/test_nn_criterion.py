"""nn.MSECriterion: J = sum((x - t)^2) / n over all n elements, dJ/dx = 2 (x - t) / n (Torch7's MSECriterion).

With sizeAverage=False: J = sum((x - t)^2), dJ/dx = 2 (x - t).
"""

import re

import numpy as np
import pytest

from derive import nn

PERTURBATION = 1e-6  # as in Torch's nn tests
PRECISION = 1e-6


def numeric_gradient(criterion, x, t, eps=PERTURBATION):
    """dJ/dx by central differences, perturbing x in place."""
    gradient = np.zeros(x.shape)
    flat, gradientFlat = x.reshape(-1), gradient.reshape(-1)
    assert np.shares_memory(flat, x)
    for j in range(x.size):
        original = flat[j]
        flat[j] = original + eps
        plus = criterion.forward(x, t)
        flat[j] = original - eps
        minus = criterion.forward(x, t)
        flat[j] = original
        gradientFlat[j] = (plus - minus) / (2 * eps)
    return gradient


@pytest.mark.parametrize("sizeAverage", [True, False])
@pytest.mark.parametrize("shape", [(7,), (64, 3)], ids=["one sample", "batch of 64"])
def test_backward_matches_central_differences(sizeAverage, shape):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal(shape), rng.standard_normal(shape)
    criterion = nn.MSECriterion(sizeAverage)
    criterion.forward(x, t)
    gradInput = criterion.backward(x, t).copy()
    assert np.abs(gradInput - numeric_gradient(criterion, x, t)).max() < PRECISION


def test_mean_over_all_elements_of_the_batch():
    # Torch divides by input:nElement(), not by the batch size.
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    t = np.array([[1.0, 0.0], [0.0, 4.0], [5.0, 7.0]])
    criterion = nn.MSECriterion()
    loss = criterion.forward(x, t)
    assert type(loss) is float and loss == criterion.output
    assert loss == (0 + 4 + 9 + 0 + 0 + 1) / 6
    assert np.array_equal(criterion.backward(x, t), 2 * (x - t) / 6)
    assert criterion.backward(x, t) is criterion.gradInput


def test_sum_without_sizeAverage():
    x, t = np.array([1.0, 2.0, 3.0]), np.array([3.0, 5.0, 7.0])
    criterion = nn.MSECriterion(sizeAverage=False)
    assert criterion.forward(x, t) == 4 + 9 + 16
    assert np.array_equal(criterion.backward(x, t), [-4.0, -6.0, -8.0])


def test_regression_numbers():
    # The series' regression at w = 0, b = 0: prediction 0 for x = 1, 2, 3, target 2x + 1.
    criterion = nn.MSECriterion()
    y = np.array([[3.0], [5.0], [7.0]])
    assert criterion.forward(np.zeros((3, 1)), y) == 83 / 3
    np.testing.assert_allclose(criterion.backward(np.zeros((3, 1)), y), [[-2.0], [-10 / 3], [-14 / 3]], rtol=1e-15)


def test_buffers_and_dtypes():
    criterion = nn.MSECriterion()
    x32, t32 = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        criterion.forward(x32, t32)
    criterion.float()
    assert criterion.forward(x32, t32) == 1.0
    gradInput = criterion.backward(x32, t32)
    assert gradInput.dtype == np.float32
    assert criterion.backward(2 * x32, t32) is gradInput
    assert nn.MSECriterion().backward(np.array([1, 2]), np.array([0, 0])).dtype == np.float64


def test_input_and_target_of_different_shapes_are_a_ValueError_not_broadcast():
    criterion = nn.MSECriterion()
    for x, t in [(np.zeros((3, 1)), np.zeros(3)), (np.zeros((3, 2)), np.zeros((1, 2))), (np.zeros(3), np.zeros(4))]:
        message = f"input and target must have the same shape, got input {x.shape} and target {t.shape}"
        with pytest.raises(ValueError, match=re.escape(message)):
            criterion.forward(x, t)
        with pytest.raises(ValueError, match="same shape"):
            criterion.backward(x, t)


def test_bad_inputs():
    criterion = nn.MSECriterion()
    with pytest.raises(TypeError, match="input must be a numpy array, got list"):
        criterion.forward([1.0], np.zeros(1))
    with pytest.raises(TypeError, match="target must be a numpy array, got float"):
        criterion.backward(np.zeros(1), 1.0)
    with pytest.raises(TypeError, match="target must hold real numbers, got dtype complex128"):
        criterion.forward(np.zeros(1), np.zeros(1, complex))
    with pytest.raises(ValueError, match=r"at least one element, got shape \(0, 1\)"):
        criterion.forward(np.zeros((0, 1)), np.zeros((0, 1)))
    with pytest.raises(TypeError, match="sizeAverage must be bool, got 'no'"):
        nn.MSECriterion("no")


def test_criterion_base_and_repr():
    criterion = nn.Criterion()
    assert criterion.output == 0.0 and criterion.gradInput.shape == (0,)
    assert criterion.forward(np.zeros(2), np.zeros(2)) == 0.0
    assert criterion.backward(np.zeros(2), np.zeros(2)) is criterion.gradInput
    assert repr(nn.MSECriterion()) == "nn.MSECriterion"
    assert isinstance(nn.MSECriterion(), nn.Criterion)

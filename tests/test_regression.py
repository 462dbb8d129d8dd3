"""The series' linear regression: fit y = 2x + 1 with nn.Linear(1, 1), nn.MSECriterion and gradient descent.

x = [1, 2, 3]^T is a batch of 3 samples with one feature each, y = 2x + 1 = [3, 5, 7]^T.
Each iteration: zeroGradParameters, forward, criterion forward and backward, backward,
updateParameters(0.02), 500 times.

How close 500 iterations get: J(w, b) = (1/3) sum((w x_i + b - y_i)^2) is a quadratic
with Hessian H = (2/3) [[sum x^2, sum x], [sum x, 3]] = (2/3) [[14, 6], [6, 3]],
eigenvalues 0.2404 and 11.09. Gradient descent multiplies the error (w - 2, b - 1) by
I - 0.02 H each step, whose eigenvalues are 0.99519 and 0.778: after 500 steps the
slow direction (mostly the bias) keeps 0.99519^500 = 9.0% of its initial error, the
fast one nothing. So the weights are NOT at (2, 1) to many digits: from this seed's
start (0.274, -0.460), they reach (2.0232, 0.9472), 2.6% of the initial distance.
"""

import numpy as np
import pytest

from derive import nn

x = np.array([[1.0], [2.0], [3.0]])
y = 2 * x + 1
LEARNING_RATE = 0.02
ITERATIONS = 500
SEED = 0


def train_derive():
    """The series' loop on derive.nn; returns the loss at every iteration and the weights before and after."""
    model, criterion = nn.Linear(1, 1, rng=SEED), nn.MSECriterion()
    start = (model.weight[0, 0], model.bias[0])
    losses, weights = [], []
    for _ in range(ITERATIONS):
        model.zeroGradParameters()
        prediction = model.forward(x)
        losses.append(criterion.forward(prediction, y))
        model.backward(x, criterion.backward(prediction, y))
        model.updateParameters(LEARNING_RATE)
        weights.append((model.weight[0, 0], model.bias[0]))
    return np.array(losses), np.array(weights), start


def train_numpy(w, b):
    """The same descent by hand: dJ/dw = (2/3) sum((w x + b - y) x), dJ/db = (2/3) sum(w x + b - y)."""
    xs, ys = x.ravel(), y.ravel()
    losses, weights = [], []
    for _ in range(ITERATIONS):
        residual = w * xs + b - ys
        losses.append(np.mean(residual**2))
        w, b = w - LEARNING_RATE * np.mean(2 * residual * xs), b - LEARNING_RATE * np.mean(2 * residual)
        weights.append((w, b))
    return np.array(losses), np.array(weights)


@pytest.fixture(scope="module")
def trained():
    return train_derive()


def test_least_squares_solution_is_exactly_2_and_1():
    (w, b), *_ = np.linalg.lstsq(np.hstack([x, np.ones((3, 1))]), y.ravel(), rcond=None)
    np.testing.assert_allclose([w, b], [2.0, 1.0], rtol=0, atol=1e-12)


def test_loss_decreases_at_every_iteration(trained):
    # lr = 0.02 < 2 / 11.09 (the largest eigenvalue of the Hessian): descent is monotone for a quadratic.
    losses, _, _ = trained
    assert np.all(np.diff(losses) < 0)
    assert losses[0] > 26 and losses[-1] < 4.1e-4


def test_weight_and_bias_converge_towards_2_and_1(trained):
    _, weights, start = trained
    np.testing.assert_allclose(start, [0.2739, -0.4604], atol=1e-4)  # the seeded U(-1, 1) draw
    w, b = weights[-1]
    assert abs(w - 2) < 0.03 and abs(b - 1) < 0.06  # honest after 500 iterations: (2.0232, 0.9472)
    # The bound for any start: the slow eigenvalue of I - lr H to the 500th power.
    hessian = (2 / 3) * np.array([[np.sum(x**2), np.sum(x)], [np.sum(x), 3]])
    slowest = 1 - LEARNING_RATE * np.linalg.eigvalsh(hessian).min()
    distance, initial = np.hypot(w - 2, b - 1), np.hypot(start[0] - 2, start[1] - 1)
    assert distance <= slowest**ITERATIONS * initial
    assert 0.02 < distance / initial < 0.03


def test_same_trajectory_as_plain_numpy_gradient_descent(trained):
    losses, weights, start = trained
    numpyLosses, numpyWeights = train_numpy(*start)
    np.testing.assert_allclose(weights, numpyWeights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(losses, numpyLosses, rtol=1e-12, atol=0)

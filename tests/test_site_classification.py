"""The spiral trained at build time, against the CS231n case study's own numpy code run here on
the same data and start (the classification modules' pages are the catalogue's: test_site_catalogue).
"""

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the docs extra is not installed: pip install -e .[docs]")

from derive.site import spiral  # noqa: E402


def case_study(X, y, weights, iterations, step_size, reg):
    """The case study's loop in numpy (with its max-shift): weights [(W, b), ...] of Linear layers
    with ReLU between them, updated in place; returns the loss at every iteration."""
    n = len(y)
    losses = []
    for _ in range(iterations):
        activations = [X]
        for i, (W, b) in enumerate(weights):
            scores = activations[-1] @ W.T + b
            activations.append(np.maximum(0, scores) if i < len(weights) - 1 else scores)
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        losses.append(-np.log(probs[range(n), y]).mean() + sum(0.5 * reg * np.sum(W * W) for W, _ in weights))
        gradient = probs
        gradient[range(n), y] -= 1
        gradient /= n
        grads = []
        for i in range(len(weights) - 1, -1, -1):
            W, _ = weights[i]
            grads.append((gradient.T @ activations[i] + reg * W, gradient.sum(axis=0)))
            if i > 0:  # back through the ReLU before layer i
                gradient = gradient @ W
                gradient[activations[i] <= 0] = 0
        for (W, b), (dW, db) in zip(weights, reversed(grads)):
            W -= step_size * dW
            b -= step_size * db
    return losses


def test_spiral_training_is_the_case_studys():
    printed, run = spiral.spiral_run()
    # the case study's data generation, with the page's seeded generator
    rng = np.random.default_rng(spiral.SPIRAL_SEED)
    X, y = np.zeros((300, 2)), np.zeros(300, dtype=np.uint8)
    for j in range(3):
        t = np.linspace(j * 4, (j + 1) * 4, 100) + rng.standard_normal(100) * 0.2
        X[100 * j:100 * (j + 1)] = np.c_[np.linspace(0, 1, 100) * np.sin(t), np.linspace(0, 1, 100) * np.cos(t)]
        y[100 * j:100 * (j + 1)] = j
    np.testing.assert_array_equal(run["X"], X)
    np.testing.assert_array_equal(run["y"], y)
    results = spiral.spiral_results()
    page = spiral.spiral_page()
    for name, shapes in [("linear", [(3, 2)]), ("mlp", [(spiral.SPIRAL_HIDDEN, 2), (3, spiral.SPIRAL_HIDDEN)])]:
        weights = [(0.01 * rng.standard_normal(shape), np.zeros(shape[0])) for shape in shapes]
        losses = case_study(X, y, weights, spiral.SPIRAL_ITERATIONS[name], spiral.SPIRAL_STEP_SIZE,
                            spiral.SPIRAL_REG)
        # Late in the two-layer run (step size 1, the loss wobbling) the rounding of the two
        # codes' different orders of operations grows to about 1e-5; early it is 1e-15.
        np.testing.assert_allclose(run[f"{name}Losses"][:2000], losses[:2000], rtol=1e-9)
        np.testing.assert_allclose(run[f"{name}Losses"], losses, rtol=1e-4)
        scores = X
        for i, (W, b) in enumerate(weights):
            scores = scores @ W.T + b
            scores = np.maximum(0, scores) if i < len(weights) - 1 else scores
        accuracy = np.mean(scores.argmax(axis=1) == y)
        assert abs(results[name]["accuracy"] - accuracy) <= 1 / 300  # one point at most
        shown = results[name]["accuracy"]
        assert f"**{shown:.1%}**" in page and f"training accuracy {shown:.1%}" in printed
        assert f"{run[name + 'Losses'][-1]:.4f}" in page and abs(run[name + "Losses"][-1] - losses[-1]) < 1e-4
    # what the case study reports, about 49% and 98%
    assert 0.45 < results["linear"]["accuracy"] < 0.6 and results["mlp"]["accuracy"] > 0.95


def test_spiral_pictures_are_svg():
    for picture in (spiral.spiral_loss_plot(), spiral.spiral_boundary_plot()):
        assert picture.startswith(b"<?xml") and b"<svg" in picture[:400]
        assert b"<dc:date>" not in picture

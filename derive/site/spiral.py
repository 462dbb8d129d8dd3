"""The Classification page: the CS231n case study's spiral, three classes in 2-D, learned at
build time by a linear softmax classifier and by a two-layer ReLU network, with the loss
curves and the decision boundaries drawn.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .plots import svg
from .snippets import run_python

SPIRAL_SEED = 0
SPIRAL_STEP_SIZE = 1.0  # the case study's step size ...
SPIRAL_REG = 1e-3  # ... and L2 regularisation strength
SPIRAL_ITERATIONS = {"linear": 200, "mlp": 10000}  # the case study's
SPIRAL_HIDDEN = 100
# What the case study reports, to set the computed accuracies against.
CASE_STUDY_ACCURACY = {"linear": "49%", "mlp": "98%"}
CASE_STUDY = "https://cs231n.github.io/neural-networks-case-study/"

_COLOURS = ["#d7191c", "#2b83ba", "#1a9641"]  # one per class, in the plots


def spiral_script() -> str:
    """The case study's data and its two classifiers, on derive.nn."""
    return f"""\
import numpy as np
from derive.nn import CrossEntropyCriterion, Linear, ReLU, Sequential

# The case study's spiral: K classes of N points in 2-D (seeded; it drew np.random.randn)
N, D, K = 100, 2, 3
rng = np.random.default_rng({SPIRAL_SEED})
X = np.zeros((N * K, D))
y = np.zeros(N * K, dtype=np.uint8)                  # class indices, counted from 0
for j in range(K):
    ix = range(N * j, N * (j + 1))
    r = np.linspace(0.0, 1, N)                                              # radius
    t = np.linspace(j * 4, (j + 1) * 4, N) + rng.standard_normal(N) * 0.2   # theta
    X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
    y[ix] = j

stepSize, reg = {SPIRAL_STEP_SIZE:g}, {SPIRAL_REG:g}   # the case study's learning rate and L2 strength


def small_start(linear):
    \"\"\"The case study's start: weights 0.01 * randn, biases 0 (set in place).\"\"\"
    linear.weight[...] = 0.01 * rng.standard_normal(linear.weight.shape)
    linear.bias[...] = 0
    return linear


def train(model, linears, iterations):
    \"\"\"Full-batch gradient descent on J = cross-entropy + 0.5 reg sum(W^2) over the weights.\"\"\"
    criterion = CrossEntropyCriterion()        # mean over the batch, as the case study's
    losses = []
    for iteration in range(iterations):
        model.zeroGradParameters()
        scores = model.forward(X)
        dataLoss = criterion.forward(scores, y)
        regLoss = sum(0.5 * reg * np.sum(linear.weight**2) for linear in linears)
        losses.append(dataLoss + regLoss)
        model.backward(X, criterion.backward(scores, y))
        for linear in linears:                 # the regularisation's gradient, by hand
            linear.gradWeight += reg * linear.weight
        model.updateParameters(stepSize)
    return losses


def accuracy(model):
    return np.mean(model.forward(X).argmax(axis=1) == y)


linear = small_start(Linear(D, K))
linearLosses = train(linear, [linear], {SPIRAL_ITERATIONS["linear"]})
print(f"linear: loss {{linearLosses[0]:.4f}} -> {{linearLosses[-1]:.4f}}, "
      f"training accuracy {{accuracy(linear):.1%}}")

h = {SPIRAL_HIDDEN}                                          # hidden units
mlp = Sequential().add(small_start(Linear(D, h))).add(ReLU()).add(small_start(Linear(h, K)))
mlpLosses = train(mlp, [mlp.get(1), mlp.get(3)], {SPIRAL_ITERATIONS["mlp"]})
print(f"two-layer: loss {{mlpLosses[0]:.4f}} -> {{mlpLosses[-1]:.4f}}, "
      f"training accuracy {{accuracy(mlp):.1%}}")
"""


@functools.cache  # the page and both plots read the same run
def spiral_run() -> tuple[str, dict]:
    """What the script prints, and the variables it leaves (X, y, linear, mlp, the losses)."""
    return run_python(spiral_script())


def spiral_results() -> dict[str, dict[str, float]]:
    """For "linear" and "mlp": the first and last loss and the training accuracy."""
    _, run = spiral_run()
    return {name: {"first": float(run[f"{name}Losses"][0]), "last": float(run[f"{name}Losses"][-1]),
                   "accuracy": float(run["accuracy"](run[name]))}
            for name in ("linear", "mlp")}


def spiral_loss_plot() -> bytes:
    """SVG: the loss against the iteration, for each classifier."""
    _, run = spiral_run()
    figure = Figure(figsize=(8, 3.4))
    for axes, name, title in zip(figure.subplots(1, 2), ("linear", "mlp"),
                                 ("linear: Linear(2, 3)", f"two-layer: Linear(2, {SPIRAL_HIDDEN}), ReLU, "
                                                          f"Linear({SPIRAL_HIDDEN}, 3)")):
        losses = run[f"{name}Losses"]
        axes.plot(np.arange(len(losses)), losses)
        axes.set_xlabel("iteration")
        axes.set_ylabel("loss J (with the L2 term)")
        axes.set_title(title, fontsize="medium")
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
    return svg(figure)


def spiral_boundary_plot() -> bytes:
    """SVG: the class each classifier predicts over the plane, with the training points."""
    _, run = spiral_run()
    X, y = run["X"], run["y"]
    step = 0.02  # the case study's mesh
    xs = np.arange(X[:, 0].min() - 1, X[:, 0].max() + 1, step)
    ys = np.arange(X[:, 1].min() - 1, X[:, 1].max() + 1, step)
    gridX, gridY = np.meshgrid(xs, ys)
    plane = np.c_[gridX.ravel(), gridY.ravel()]
    results = spiral_results()
    figure = Figure(figsize=(8, 4))
    for axes, name, title in zip(figure.subplots(1, 2), ("linear", "mlp"), ("linear", "two-layer")):
        predicted = run[name].forward(plane).argmax(axis=1).reshape(gridX.shape)
        axes.contourf(gridX, gridY, predicted, levels=[-0.5, 0.5, 1.5, 2.5],
                      colors=_COLOURS, alpha=0.3)
        axes.scatter(X[:, 0], X[:, 1], c=y, s=12, cmap=ListedColormap(_COLOURS), edgecolors="k", linewidths=0.3)
        axes.set_xlim(xs[0], xs[-1])
        axes.set_ylim(ys[0], ys[-1])
        axes.set_aspect("equal")
        axes.set_title(f"{title}: training accuracy {results[name]['accuracy']:.1%}", fontsize="medium")
    return svg(figure)


def spiral_page() -> str:
    """The spiral, learned when the site was built by a linear and a two-layer classifier."""
    printed, _ = spiral_run()
    results = spiral_results()
    linear, mlp = results["linear"], results["mlp"]
    return f"""\
# Classification: the spiral

The [CS231n case study]({CASE_STUDY}) trains two classifiers on a toy problem that no
straight line can solve: three classes of 100 points each, arranged as the arms of a
spiral in the plane. Here is the same study on derive.nn, run when the site was built:
the case study's data generation (seeded), its start (weights \\(0.01 \\cdot \\mathcal{{N}}(0, 1)\\),
biases 0), its step size {SPIRAL_STEP_SIZE:g} and its iteration counts, with
`CrossEntropyCriterion` for the softmax loss and plain full-batch gradient descent with
`updateParameters`. Class indices count from 0 (the case study's `y` holds 0, 1, 2
too; Torch7 would want 1, 2, 3).

The case study also adds an **L2 regularisation** of strength \\(\\lambda = {SPIRAL_REG:g}\\) on the
weights (not the biases): \\(\\frac{{\\lambda}}{{2}} \\sum W^2\\) joins the loss and
\\(\\lambda W\\) its gradient. derive.nn's criteria have no such term, so the loop adds it
explicitly: after `backward`, `gradWeight += reg * weight` for each Linear, before
`updateParameters`.

```python
{spiral_script()}```

It prints:

```text
{printed}```

## What they learn

The linear classifier's loss falls from {linear["first"]:.4f} (about \\(\\ln 3\\), the loss
of uniform guesses) to {linear["last"]:.4f} in {SPIRAL_ITERATIONS["linear"]} iterations,
and it classifies **{linear["accuracy"]:.1%}** of the training points correctly (the case
study reports about {CASE_STUDY_ACCURACY["linear"]}): three straight boundaries through the
plane cannot follow the arms. The two-layer network, Linear(2, {SPIRAL_HIDDEN}), ReLU,
Linear({SPIRAL_HIDDEN}, 3), brings the loss from {mlp["first"]:.4f} to {mlp["last"]:.4f} in
{SPIRAL_ITERATIONS["mlp"]} iterations and classifies **{mlp["accuracy"]:.1%}** of them
(the case study: about {CASE_STUDY_ACCURACY["mlp"]}). The points are not the case
study's own (its noise came from an unseeded `np.random.randn`), so the percentages differ
a little from its. The losses are the ones each iteration's `forward` saw, the L2 term
included.

![The loss against the iteration, for the linear and the two-layer classifier](classification-loss.svg)

The class each classifier predicts over the plane, with the training points:

![The decision boundaries of the linear and the two-layer classifier](classification-boundaries.svg)
"""

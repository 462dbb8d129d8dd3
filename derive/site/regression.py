"""The series' linear regression, y = 2x + 1 with Linear(1, 1) and MSECriterion, run
when the site is built, with its plots and why 500 iterations do not reach the fit.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.figure import Figure

from .plots import svg
from .snippets import run_python


REGRESSION_SEED = 0
REGRESSION_LEARNING_RATE = 0.02
REGRESSION_ITERATIONS = 500
# Iterations whose forward the table shows (1-based), then the state after the loop.
REGRESSION_SHOWN = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def regression_script() -> str:
    """The series' training loop on derive.nn, recording every iteration."""
    return f"""\
import numpy as np
from derive.nn import Linear, MSECriterion

x = np.array([[1.0], [2.0], [3.0]])      # a batch of 3 samples, 1 feature each
y = 2 * x + 1                            # the targets 3, 5, 7
model = Linear(1, 1, rng={REGRESSION_SEED})              # weight (1, 1), bias (1,): seeded U(-1, 1)
criterion = MSECriterion()
learningRate = {REGRESSION_LEARNING_RATE}

history = []                             # (loss, weight, bias) that each forward sees
for iteration in range({REGRESSION_ITERATIONS}):
    model.zeroGradParameters()
    prediction = model.forward(x)
    loss = criterion.forward(prediction, y)
    history.append((loss, model.weight[0, 0], model.bias[0]))
    gradOutput = criterion.backward(prediction, y)    # dJ/dprediction = 2 (prediction - y) / 3
    model.backward(x, gradOutput)                     # adds dJ/dW and dJ/db
    model.updateParameters(learningRate)              # W -= lr dJ/dW, b -= lr dJ/db

history.append((criterion.forward(model.forward(x), y), model.weight[0, 0], model.bias[0]))
loss, weight, bias = history[-1]
print(f"after {{len(history) - 1}} iterations: weight {{weight:.4f}}, bias {{bias:.4f}}, loss {{loss:.4g}}")
"""


@functools.cache  # the page and both plots read the same run
def regression_run() -> tuple[str, np.ndarray]:
    """What the script prints, and its history as an array of rows (loss, weight, bias):
    row k is the state after k updates (row 0 the start, the last after the loop).
    The array is read-only: every caller shares it."""
    printed, namespace = run_python(regression_script())
    history = np.array(namespace["history"], dtype=float)
    history.setflags(write=False)
    return printed, history


def regression_analysis(history) -> dict[str, float]:
    """Why 500 iterations do not reach (2, 1): the error (w - 2, b - 1) is multiplied by
    I - lr H at every step, H the Hessian of the (quadratic) loss."""
    x = np.array([1.0, 2.0, 3.0])
    design = np.column_stack([x, np.ones_like(x)])
    (w_best, b_best), *_ = np.linalg.lstsq(design, 2 * x + 1, rcond=None)
    hessian = 2 / x.size * design.T @ design
    (slow, fast), vectors = np.linalg.eigh(hessian)
    rates = 1 - REGRESSION_LEARNING_RATE * np.array([slow, fast])
    start, end = history[0, 1:], history[-1, 1:]
    initial = float(np.hypot(*(start - (w_best, b_best))))
    final = float(np.hypot(*(end - (w_best, b_best))))
    direction = vectors[:, 0] * np.sign(vectors[1, 0])  # the slow direction, bias part positive
    return {
        "w_best": float(w_best), "b_best": float(b_best),
        "h11": float(hessian[0, 0]), "h12": float(hessian[0, 1]), "h22": float(hessian[1, 1]),
        "slow": float(slow), "fast": float(fast),
        "slow_rate": float(rates[0]), "fast_rate": float(rates[1]),
        "slow_kept": float(rates[0] ** REGRESSION_ITERATIONS),
        "direction_w": float(direction[0]), "direction_b": float(direction[1]),
        "initial": initial, "final": final, "ratio": final / initial,
        "per_digit": float(np.log(10) / -np.log(rates[0])),
        "largest_rate": float(2 / fast),
        "best_rate": float(2 / (slow + fast)),
        "best_factor": float((fast - slow) / (fast + slow)),
        "best_per_digit": float(np.log(10) / -np.log((fast - slow) / (fast + slow))),
    }


def _against_updates(what: str, ylabel: str):
    """A figure of the run with the number of updates k across."""
    figure = Figure(figsize=(7, 3.6))
    axes = figure.subplots()
    axes.set_xlabel("updates k")
    axes.set_ylabel(ylabel)
    axes.set_title(f"Linear(1, 1) on y = 2x + 1, lr {REGRESSION_LEARNING_RATE}: {what}")
    axes.grid(True, which="major", alpha=0.3)
    return figure, axes


def regression_loss_plot() -> bytes:
    """SVG: the loss against the iteration, log scale, with the slow direction's rate."""
    _, history = regression_run()
    facts = regression_analysis(history)
    iterations = np.arange(len(history))
    figure, axes = _against_updates("the loss", "J after k updates")
    axes.semilogy(iterations, history[:, 0], label="loss J (MSE)")
    # Once the fast direction has died out, J falls by (1 - lr lambda_min)^2 an iteration.
    guide = history[-1, 0] * facts["slow_rate"] ** (2 * (iterations - iterations[-1]))
    axes.semilogy(iterations, guide, "--", color="0.5",
                  label=f"slope of {facts['slow_rate']:.5f}^(2k), the slow direction")
    axes.legend(loc="upper right", fontsize="small")
    return svg(figure)


def regression_parameters_plot() -> bytes:
    """SVG: weight and bias against the iteration, with the targets 2 and 1."""
    _, history = regression_run()
    iterations = np.arange(len(history))
    figure, axes = _against_updates("weight and bias", "value after k updates")
    weight, = axes.plot(iterations, history[:, 1], label="weight w")
    bias, = axes.plot(iterations, history[:, 2], label="bias b")
    axes.axhline(2, color=weight.get_color(), linestyle=":", label="target w = 2")
    axes.axhline(1, color=bias.get_color(), linestyle=":", label="target b = 1")
    axes.legend(loc="lower right", fontsize="small")
    return svg(figure)


def regression_page() -> str:
    """The series' linear regression, run when the site is built, and how far it gets."""
    printed, history = regression_run()
    facts = regression_analysis(history)
    table = ["| iteration | loss J | weight w | bias b |", "|--:|--:|--:|--:|"]
    for k in REGRESSION_SHOWN:  # iteration k's forward sees the state after k - 1 updates
        loss, weight, bias = history[k - 1]
        table.append(f"| {k} | {loss:.4g} | {weight:.4f} | {bias:.4f} |")
    loss, weight, bias = history[-1]
    table.append(f"| after {REGRESSION_ITERATIONS} | {loss:.4g} | {weight:.4f} | {bias:.4f} |")
    table_text = "\n".join(table)
    f = {key: f"{value:.4g}" for key, value in facts.items()}
    start_w, start_b = history[0, 1:]
    return f"""\
# Linear regression (the series)

The tutorial series trains a single `nn.Linear(1, 1)` to fit
\\(y = 2x + 1\\) by gradient descent on `nn.MSECriterion`. Here is the same loop on
derive.nn, run when the site was built: the inputs \\(\\mathbf{{x}} = [1, 2, 3]^T\\) are one
batch of 3 samples with one feature each, the layer starts from a seeded draw, and each
of the {REGRESSION_ITERATIONS} iterations is the five calls of the series:
`zeroGradParameters`, `forward`, the criterion's `forward` and `backward`, the layer's
`backward`, and `updateParameters({REGRESSION_LEARNING_RATE})`.

```python
{regression_script()}```

It prints:

```text
{printed}```

## The run

Iteration \\(k\\)'s `forward` sees the weight and bias after \\(k - 1\\) updates; the last
row is after the {REGRESSION_ITERATIONS}th update.

{table_text}

![The loss against the iteration, log scale](regression-loss.svg)

![The weight and the bias against the iteration, with the targets 2 and 1](regression-parameters.svg)

## How close {REGRESSION_ITERATIONS} iterations get

Not too many digits. The least-squares fit is \\(w = {facts["w_best"]:.6g}\\),
\\(b = {facts["b_best"]:.6g}\\) exactly (the data lie on the line), and the loop ends at
\\(w = {weight:.4f}\\), \\(b = {bias:.4f}\\), loss {loss:.4g}. The reason is the shape of the
loss: \\(J(w, b) = \\frac{{1}}{{3}}\\sum_i (w x_i + b - y_i)^2\\) is a quadratic with Hessian

$$
\\mathbf{{H}} = \\frac{{2}}{{3}}\\begin{{bmatrix}} \\sum_i x_i^2 & \\sum_i x_i \\\\ \\sum_i x_i & 3 \\end{{bmatrix}}
= \\begin{{bmatrix}} {f["h11"]} & {f["h12"]} \\\\ {f["h12"]} & {f["h22"]} \\end{{bmatrix}}
$$

whose eigenvalues are \\(\\lambda_{{\\min}} = {f["slow"]}\\) and \\(\\lambda_{{\\max}} = {f["fast"]}\\).
Each update multiplies the error \\((w - 2, b - 1)\\) by \\(\\mathbf{{I}} - \\eta\\mathbf{{H}}\\),
whose eigenvalues are \\(1 - \\eta\\lambda\\): {facts["fast_rate"]:.4f} along the fast
direction, which dies out within a few dozen iterations, and {facts["slow_rate"]:.5f}
along the slow one, \\(({facts["direction_w"]:.2f}, {facts["direction_b"]:.2f})\\), mostly
the bias. After {REGRESSION_ITERATIONS} iterations the slow direction keeps
\\({facts["slow_rate"]:.5f}^{{{REGRESSION_ITERATIONS}}}\\), {facts["slow_kept"]:.1%}, of its
initial error. From the seeded start \\(({start_w:.4f}, {start_b:.4f})\\) the distance to
\\((2, 1)\\) falls from {facts["initial"]:.4f} to {facts["final"]:.4f}, {facts["ratio"]:.1%} of
it: the bias is still {abs(bias - 1):.4f} off, the weight {abs(weight - 2):.4f}.

Each further decimal digit costs \\(\\ln 10 / \\lvert\\ln(1 - \\eta\\lambda_{{\\min}})\\rvert \\approx
{facts["per_digit"]:.0f}\\) iterations at this learning rate. The best fixed one,
\\(\\eta = 2 / (\\lambda_{{\\min}} + \\lambda_{{\\max}}) = {facts["best_rate"]:.4f}\\), would shrink
both directions by \\({facts["best_factor"]:.4f}\\) an iteration, a digit every
{facts["best_per_digit"]:.0f} iterations; above \\(2 / \\lambda_{{\\max}} = {facts["largest_rate"]:.4f}\\)
the descent diverges.
"""

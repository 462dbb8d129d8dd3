"""The Numeric checks page: the tutorial's prints against derive's numbers, Linear's
Jacobians by central differences, and the finite-difference error against the step size.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from derive import nn
from derive.catalogue_codegen import check_cases
from derive.nn import (BatchNormalization, ClassNLLCriterion, CrossEntropyCriterion, Linear, LogSoftMax,
                       Sequential, SoftMax, SpatialConvolution, Tanh, check)
from derive.nn.check import SCALES, CheckReport
from derive.nn.jacobian import PERTURBATION

from .build import SiteBuildError
from .checks import PRECISION, module_jacobian_errors, passed, sample_shape
from .plots import svg
from .tutorial import (TUTORIAL_DECIMALS, TUTORIAL_INPUT, TUTORIAL_LEARNING_RATE, TUTORIAL_PRINTS, four_decimals,
                       tutorial_layer, tutorial_numbers)


# Layers whose Jacobians the numeric-checks page checks: (input, output, batch).
JACOBIAN_CASES = [(2, 3, None), (2, 3, 4), (5, 7, None), (5, 7, 10), (16, 10, None), (16, 10, 50)]
FULL_CHECK_BATCH = 4


def _evaluating(module):
    module.evaluate()
    return module


# How the whole list of checks runs on each class derive.nn ships: {class: [(column, the module,
# one sample's shape, check's other arguments)]}. A batch of FULL_CHECK_BATCH, unless the
# arguments say otherwise. A class of derive.nn with no entry here stops the build
# (full_check_cases), so a new module cannot be left off the page.
class _OnShiftedInput:
    """A module reading x + 3: check draws inputs in [-2, 2], Log's and Sqrt's domain is x > 0."""

    def updateOutput(self, input):
        return super().updateOutput(input + 3)

    def updateGradInput(self, input, gradOutput):
        return super().updateGradInput(input + 3, gradOutput)


class LogOfShiftedInput(_OnShiftedInput, nn.Log):
    pass


class SqrtOfShiftedInput(_OnShiftedInput, nn.Sqrt):
    pass


CHECKED = {
    "Linear": [("Linear(5, 3)", lambda: Linear(5, 3, rng=0), (5,), {}),
               ("Linear(5, 3) without bias", lambda: Linear(5, 3, bias=False, rng=0), (5,), {})],
    "Sequential": [("Sequential(Linear, Tanh, Linear)",
                    lambda: Sequential().add(Linear(5, 4, rng=1)).add(Tanh()).add(Linear(4, 3, rng=2)), (5,), {})],
    # Training: the samples of a batch depend on each other (its mean and variance), so one
    # sample is a whole batch of FULL_CHECK_BATCH, and there is no sample-by-sample check.
    "BatchNormalization": [
        ("BatchNormalization(3), training", lambda: BatchNormalization(3, rng=0), (FULL_CHECK_BATCH, 3), {"batch": 0}),
        ("BatchNormalization(3), evaluate()", lambda: _evaluating(BatchNormalization(3, rng=0)), (FULL_CHECK_BATCH, 3),
         {"batch": 0})],
    "SpatialConvolution": [("SpatialConvolution(2, 3, 3, 3)", lambda: SpatialConvolution(2, 3, 3, 3, rng=0), (2, 5, 5), {})],
    "SoftMax": [("SoftMax", SoftMax, (5,), {})],
    "LogSoftMax": [("LogSoftMax", LogSoftMax, (5,), {})],
    "ClassNLLCriterion": [("ClassNLLCriterion", ClassNLLCriterion, (5,), {"target_kind": "class"})],
    "CrossEntropyCriterion": [("CrossEntropyCriterion", CrossEntropyCriterion, (5,), {"target_kind": "class"})],
    # the bookkeeping modules; Dropout's masks are random in training, so they are checked evaluated
    "View": [("View(3, 2)", lambda: nn.View(3, 2), (6,), {})],
    "Reshape": [("Reshape(3, 2)", lambda: nn.Reshape(3, 2), (6,), {})],
    "Dropout": [("Dropout(0.3), evaluate()", lambda: nn.Dropout(0.3).evaluate(), (5,), {})],
    "SpatialDropout": [("SpatialDropout(0.5), evaluate()", lambda: nn.SpatialDropout(0.5).evaluate(), (2, 3, 3), {})],
    # generated from the catalogue (derive/nn/_catalogue.py); Log and Sqrt on inputs moved into their domain
    "ReLU6": [("ReLU6", nn.ReLU6, (5,), {})],
    "SoftSign": [("SoftSign", nn.SoftSign, (5,), {})],
    "Exp": [("Exp", nn.Exp, (5,), {})],
    "Log": [("Log on x + 3", LogOfShiftedInput, (5,), {})],
    "Abs": [("Abs", nn.Abs, (5,), {})],
    "Square": [("Square", nn.Square, (5,), {})],
    "Sqrt": [("Sqrt on x + 3", SqrtOfShiftedInput, (5,), {})],
}
# the other generated classes: each at its entry's example, inputs in its domain
CHECKED.update({name: cases for name, cases in check_cases().items() if name not in CHECKED})


def shipped_modules() -> list[str]:
    """The Module and Criterion classes derive.nn exports, in its order (not the base classes)."""
    bases = (nn.Module, nn.Criterion)
    return [name for name in nn.__all__
            if isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), bases)
            and getattr(nn, name) not in bases]


def full_check_cases() -> list[tuple[str, object, tuple[int, ...], dict]]:
    """Every case of CHECKED, for every module derive.nn ships; a module without one is an error."""
    missing = [name for name in shipped_modules() if name not in CHECKED]
    if missing:
        raise SiteBuildError(f"the numeric-checks page has no case for derive.nn.{', derive.nn.'.join(missing)}: "
                             f"add one to CHECKED in derive/site/numeric_checks.py")
    return [case for name in shipped_modules() for case in CHECKED[name]]


# Step sizes of the plot: 10^-1 down to 10^-13, four a decade.
STEP_SIZES = [10.0 ** (-k / 4) for k in range(4, 53)]


def jacobian_errors(n_in: int, n_out: int, batch: int | None = None, bias: bool = True) -> dict[str, float]:
    """Largest |central difference - backprop| over the Jacobian of the output with
    respect to the input, the weight and (with bias) the bias of a random Linear."""
    rng = np.random.default_rng([n_in, n_out, batch or 0, int(bias)])
    layer = Linear(n_in, n_out, bias=bias, rng=rng)
    input = rng.uniform(-1, 1, sample_shape(n_in, batch))
    return module_jacobian_errors(layer, input)


def full_checks() -> list[tuple[str, CheckReport]]:
    """derive.nn.check (what `derive check` runs) on every case of full_check_cases, seed 0."""
    return [(name, check(make(), shape, **{"batch": FULL_CHECK_BATCH, **arguments}))
            for name, make, shape, arguments in full_check_cases()]


# The table's columns: which checks each gathers, by the start of the check's name.
CHECK_GROUPS = [
    ("backprop against central differences", ("Jacobians", "gradInput")),
    ("parameters: accumulate, zero, update", ("accGradParameters", "zeroGradParameters", "updateParameters")),
    ("batch = its samples one by one", ("batch =",)),
]
OTHER_CHECKS = "backward twice, inputs unchanged, pickle"


def _group(check_name: str) -> str:
    return next((title for title, starts in CHECK_GROUPS if check_name.startswith(starts)), OTHER_CHECKS)


def full_checks_table(reports: list[tuple[str, CheckReport]]) -> str:
    """One row a module, one column a group of checks: the group's largest error, or - where
    none of them applies; the module's input and whether every check passed."""
    titles = [title for title, _ in CHECK_GROUPS] + [OTHER_CHECKS]
    lines = ["| module | one sample | " + " | ".join(titles) + " | all pass |",
             "|---|---|" + "--:|" * len(titles) + ":-:|"]
    for name, report in reports:
        cells = []
        for title in titles:
            results = [r for r in report.checks if _group(r.name) == title]
            if not results:
                cells.append("-")
                continue
            error = max(r.error for r in results)
            cells.append(("0" if error == 0 else f"{error:.0e}")
                         + ("" if all(r.passed for r in results) else " **fail**"))
        shape = "(" + ", ".join(map(str, report.input_shape)) + ("," if len(report.input_shape) == 1 else "") + ")"
        lines.append(f"| {name} | {shape} | " + " | ".join(cells) + f" | {'yes' if report.passed else '**no**'} |")
    return "\n".join(lines)


def step_size_errors(steps) -> dict[str, list[float]]:
    """Error of forward and central differences of dJ/d(x, W, b) against backprop,
    for the tutorial's layer and the loss J = sum(tanh(y)), at each step size.

    A nonlinear loss, so that the truncation error of each formula shows
    (central differences are exact on a linear or quadratic J).
    """
    layer = tutorial_layer()
    x = np.array(TUTORIAL_INPUT) / 10  # keep tanh away from saturation

    def loss() -> float:
        return float(np.sum(np.tanh(layer.forward(x))))

    layer.zeroGradParameters()
    y = layer.forward(x).copy()
    layer.backward(x, 1 - np.tanh(y) ** 2)
    exact = [layer.gradInput.copy(), layer.gradWeight.copy(), layer.gradBias.copy()]
    at = loss()  # every perturbation below is undone exactly, so J(p) is the same throughout
    errors: dict[str, list[float]] = {"forward": [], "central": []}
    for step in steps:
        worst = {"forward": 0.0, "central": 0.0}
        for array, gradient in zip((x, layer.weight, layer.bias), exact):
            flat = array.reshape(-1)
            for k in range(flat.size):
                kept = flat[k]
                flat[k] = kept + step
                above = loss()
                flat[k] = kept - step
                below = loss()
                flat[k] = kept
                true = gradient.reshape(-1)[k]
                worst["forward"] = max(worst["forward"], abs((above - at) / step - true))
                worst["central"] = max(worst["central"], abs((above - below) / (2 * step) - true))
        for name in errors:
            errors[name].append(worst[name])
    return errors


def step_size_plot() -> bytes:
    """SVG of the finite-difference error against the step size."""
    steps = STEP_SIZES
    errors = step_size_errors(steps)
    figure = Figure(figsize=(7, 4.2))
    axes = figure.subplots()
    axes.loglog(steps, np.maximum(errors["forward"], 1e-17), ".-", label="forward  (J(p+h) - J(p)) / h")
    axes.loglog(steps, np.maximum(errors["central"], 1e-17), ".-", label="central  (J(p+h) - J(p-h)) / 2h")
    axes.axvline(PERTURBATION, color="0.5", linestyle=":", label="h = 1e-6, Torch's tests")
    axes.axhline(PRECISION, color="0.5", linestyle="--", label="1e-5, the error they accept")
    axes.set_xlabel("step size h")
    axes.set_ylabel("max |finite difference - backprop|")
    axes.set_title("nn.Linear(2 -> 3), J = sum(tanh(y)): error of dJ/d(x, W, b)")
    axes.invert_xaxis()
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="upper center", fontsize="small")
    return svg(figure)


def _nearest(steps, step: float) -> int:
    return min(range(len(steps)), key=lambda k: abs(math.log10(steps[k] / step)))


def _power_of_ten(value: float) -> str:
    exponent = math.log10(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"10^{{{round(exponent)}}}"
    return f"10^{{{exponent:.2f}}}"


def _scientific(value: float) -> str:
    """A number as \\(m \\times 10^{e}\\) (LaTeX, for inside math delimiters)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"\\({mantissa} \\times 10^{{{int(exponent)}}}\\)"


def _printed(value: float) -> str:
    """A number the way Torch printed it in the tutorial: integers bare, else 4 decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def _entries(name: str, values) -> list[tuple[str, float]]:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return [(f"{name}[{i + 1}]", v) for i, v in enumerate(array)]
    return [(f"{name}[{i + 1},{j + 1}]", v) for (i, j), v in np.ndenumerate(array)]


def tutorial_comparison() -> list[tuple[str, float, float, float]]:
    """(entry, the tutorial's print, derive's value, difference) for every printed number."""
    ours = tutorial_numbers()
    rows = []
    for name, printed in TUTORIAL_PRINTS.items():
        for (entry, theirs), (_, mine) in zip(_entries(name, printed), _entries(name, ours[name])):
            rows.append((entry, theirs, mine, theirs - mine))
    return rows


def numeric_checks_page() -> str:
    """The tutorial's numbers next to derive's, and finite-difference Jacobian checks."""
    comparison = ["| entry | the tutorial prints | derive computes, to 4 decimals | difference | "
                  "within 4-decimal rounding |",
                  "|---|--:|--:|--:|:-:|"]
    float_rounding = 0.0  # how far derive's float64 values are from their 4-decimal form
    for entry, theirs, mine, difference in tutorial_comparison():
        within = "yes" if abs(difference) <= 0.5e-4 + 1e-12 else "**no**"
        rounded = round(mine, TUTORIAL_DECIMALS)
        float_rounding = max(float_rounding, abs(mine - rounded))
        # The prints compared: float64's last-bit noise (1e-17) is not a difference to show.
        shown = theirs - rounded
        comparison.append(f"| `{entry}` | {_printed(theirs)} | {rounded:.{TUTORIAL_DECIMALS}f} | "
                          f"{'0' if shown == 0 else f'{shown:.1e}'} | {within} |")

    checks = ["| layer | input | bias | d output / d input | d output / d weight | d output / d bias | < 1e-5 |",
              "|---|---|:-:|--:|--:|--:|:-:|"]
    for n_in, n_out, batch in JACOBIAN_CASES:
        for bias in (True, False):
            errors = jacobian_errors(n_in, n_out, batch, bias)
            bias_error = f"{errors['bias']:.1e}" if bias else "-"
            checks.append(f"| `Linear({n_in}, {n_out})` | {sample_shape(n_in, batch)} | "
                          f"{'yes' if bias else 'no'} | {errors['input']:.1e} | {errors['weight']:.1e} | "
                          f"{bias_error} | {passed(errors.values())} |")
    steps = STEP_SIZES
    errors = step_size_errors(steps)
    best, least = {}, {}
    for name, values in errors.items():
        k = min(range(len(steps)), key=values.__getitem__)
        best[name], least[name] = _power_of_ten(steps[k]), _scientific(values[k])
    at_torch = _scientific(errors["central"][_nearest(steps, PERTURBATION)])
    table_full = full_checks_table(full_checks())
    table_comparison = "\n".join(comparison)
    table_checks = "\n".join(checks)
    return f"""\
# Numeric checks

Everything on this page was computed by `derive.nn` when the site was built.

## The tutorial's numbers

The tutorial runs `nn.Linear(2, 3)` with the weights below, \\(\\mathbf{{x}} = [4, 5]^T\\),
\\(\\partial J / \\partial \\mathbf{{y}} = [1, 2, 3]^T\\) and \\(\\eta = {TUTORIAL_LEARNING_RATE}\\),
and prints `gradInput`, `gradWeight`, `gradBias`, then `weight` and `bias` after
`updateParameters({TUTORIAL_LEARNING_RATE})`. Here are its prints next to derive's
results for the same four-decimal \\(\\mathbf{{W}}\\) and \\(\\mathbf{{b}}\\)
(difference = tutorial - derive). derive's values are shown to the tutorial's four
decimals: they are sums and products of four-decimal numbers, and float64 arithmetic
leaves them at most {_scientific(float_rounding) if float_rounding else 0} from those four-decimal values (rounding in
the last binary digit, not a difference worth a column).

{table_comparison}

Torch prints four decimals, so a difference up to \\(5 \\times 10^{{-5}}\\) is rounding of
the print. The two `gradInput` entries differ by \\(10^{{-4}}\\): the tutorial's layer had
random weights with more digits than it shows, and \\(\\mathbf{{W}}^{{T}}\\partial J / \\partial
\\mathbf{{y}}\\) with the shown \\(\\mathbf{{W}}\\) is \\({four_decimals(tutorial_numbers()["gradInput"])}\\)
(the sums are worked out in [Notes on the tutorial](tutorial-notes.md#4-products-where-sums-are-meant-in-the-wtg-example)). `gradWeight` and
`gradBias` do not depend on \\(\\mathbf{{W}}\\), and the update subtracts multiples of
\\(\\eta = {TUTORIAL_LEARNING_RATE}\\) with at most four decimals, which leaves the rounded
digits as they were.

## Jacobians by central differences

Torch checks every module the same way: perturb each entry \\(p\\) of the input, the
weight and the bias by \\(h = 10^{{-6}}\\), take
\\((\\mathbf{{y}}(p + h) - \\mathbf{{y}}(p - h)) / 2h\\) as a column of the Jacobian, and
compare with the Jacobian that `backward` gives for one-hot `gradOutput`s. It accepts a
largest error below \\(10^{{-5}}\\). Random layers (seeded), one sample and batches, with
and without bias; the largest absolute error over each Jacobian:

{table_checks}

## The whole list: `derive check`

Torch's `test.lua` checked more than Jacobians. `derive.nn.check`, the checker behind
[`derive check`](cli.md#checking-a-module-of-yours-derive-check) (and behind every table of
errors on this site), runs its whole list on a module: the Jacobians of one sample and of a
batch of {FULL_CHECK_BATCH}; `accGradParameters` called with scales {SCALES[0]} and {SCALES[1]}
against {SCALES[0] + SCALES[1]} times one gradient; `zeroGradParameters`;
`updateParameters(lr)` against \\(p - \\mathrm{{lr}} \\cdot \\partial J / \\partial p\\);
the batch against its samples one by one; `backward` twice; input and `gradOutput` left
unchanged; a pickle round trip; for a criterion, `gradInput` against central differences of
the loss. Inputs are drawn from \\(U[-2, 2]\\), those within \\(10^{{-3}}\\) of the kink at 0
drawn again. A class criterion (`ClassNLLCriterion`, `CrossEntropyCriterion`) gets class
indices as targets. `BatchNormalization` in training normalises a sample with the statistics of
its batch, so its "one sample" is a whole batch of {FULL_CHECK_BATCH} and there is no sample-by-sample
check. Here is every module `derive.nn` exports (the list is read from it when the site is built, so
a new module cannot be left out), checked when the site was built; each cell is the largest
error of its checks (central differences, or rounding for the exact identities):

{table_full}

## Error against the step size

Why \\(h = 10^{{-6}}\\)? A finite difference makes two errors: truncation, which shrinks
with \\(h\\) (like \\(h\\) for forward differences, \\(h^2\\) for central ones), and rounding,
which grows like \\(\\varepsilon / h\\) with \\(\\varepsilon \\approx 2.2 \\times 10^{{-16}}\\).
Here for the tutorial's layer (input \\(\\mathbf{{x}} / 10\\)) with the nonlinear loss
\\(J = \\sum_i \\tanh(y_i)\\), the largest error over \\(\\partial J / \\partial \\mathbf{{x}}\\),
\\(\\partial J / \\partial \\mathbf{{W}}\\) and \\(\\partial J / \\partial \\mathbf{{b}}\\):

![Finite-difference error against the step size](numeric-checks-step-size.svg)

On this grid of steps the forward difference is best at \\(h = {best["forward"]}\\)
(near \\(\\sqrt{{\\varepsilon}}\\)) with an error of {least["forward"]}, the central one at
\\(h = {best["central"]}\\) (near \\(\\varepsilon^{{1/3}}\\)) with {least["central"]}. At Torch's
\\(h = 10^{{-6}}\\) the central error is {at_torch}, far below the \\(10^{{-5}}\\) its tests accept.
"""

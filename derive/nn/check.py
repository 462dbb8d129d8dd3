"""derive.nn.check: test any module the way Torch7's test.lua tested its own, and say where it is wrong.

``check(module, input_shape)`` runs, in float64 on inputs drawn from U[-2, 2]:

- the Jacobian of the output with respect to the input and to each parameter, by
  backprop (one-hot gradOutputs) against central differences (perturbation 1e-6),
  for one sample and for a batch (one more leading axis);
- accGradParameters accumulating and honouring ``scale``, zeroGradParameters,
  updateParameters(lr) giving p - lr * gradP;
- the batch against its samples one by one (outputs and gradInputs stacked,
  parameter gradients summed);
- backward run twice giving the same result, input and gradOutput left unchanged,
  a pickle round trip giving the same outputs and gradients;
- for a criterion (``forward(input, target)`` -> a number), dJ/dinput against central
  differences of the loss, one sample and batch, with a target drawn at random.

A check passes when the largest absolute error is below ``precision`` (1e-5, as
Torch's tests), or, when ``atol`` or ``rtol`` is given, when every entry satisfies
|got - expected| <= atol + rtol |expected| (PyTorch's gradcheck rule; its defaults
are atol=1e-5, rtol=1e-3). A failed comparison lists its worst entries and, when
the got array is a simple transform of the expected one (a constant factor, a
transpose, one sample of the batch, zeros, gradOutput passed through, a derivative
evaluated at the input where the output is meant...), names the pattern.

Array elements are named with numpy's 0-based indices (``weight[2, 0]``).
numpy only: this module never imports sympy.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .criterion import Criterion
from .jacobian import PERTURBATION, GradientShapeError, LossModule, backward_jacobians, numeric_jacobian
from .module import Module

#: Torch's tests accept a largest error below this.
PRECISION = 1e-5
#: Inputs closer than this to a kink (0 for ReLU-like modules) are drawn again.
KINK = 1e-3
#: The batch size checked when none is given (0 checks one sample only).
DEFAULT_BATCH = 4
#: Scales of the accumulation check: a + b differs from 2, from b and from 1, so
#: an ignored scale and an overwritten gradient are told apart.
SCALES = (0.25, 0.5)
#: The learning rate of the updateParameters check.
LEARNING_RATE = 0.1
#: Target kinds a criterion check can draw.
TARGET_KINDS = ("real", "binary", "class")
#: How many worst entries a failed comparison lists.
WORST = 5


class CheckError(ValueError):
    """The module cannot be checked at all (bad shape, forward raises on a first sample...)."""


def _finite(value: float) -> float | None:
    """JSON has no infinity: an error that is not a number (a shape mismatch) is null."""
    return value if np.isfinite(value) else None


@dataclass
class Entry:
    """One entry of a failed comparison: where (output element, differentiated element), expected, got."""

    element: str
    expected: float
    got: float
    output: str | None = None

    def to_dict(self) -> dict:
        return {"output": self.output, "element": self.element, "expected": self.expected, "got": self.got}

    def __str__(self) -> str:
        where = f"d {self.output} / d {self.element}" if self.output else self.element
        return f"{where}: expected {self.expected:.6g}, got {self.got:.6g}"


@dataclass
class Comparison:
    """One array compared: its name, largest error, and on failure worst entries, pattern and formula."""

    subject: str
    passed: bool
    error: float
    worst: list[Entry] = field(default_factory=list)
    pattern: str | None = None
    formula: str | None = None
    message: str | None = None

    def to_dict(self) -> dict:
        return {"subject": self.subject, "passed": self.passed, "error": _finite(self.error),
                "pattern": self.pattern, "formula": self.formula, "message": self.message,
                "worst": [entry.to_dict() for entry in self.worst]}


@dataclass
class CheckResult:
    """One check of the list (e.g. "d output / d input, one sample") and its comparisons."""

    name: str
    comparisons: list[Comparison]
    message: str | None = None  # an exception the module raised during the check

    @property
    def passed(self) -> bool:
        return self.message is None and all(c.passed for c in self.comparisons)

    @property
    def error(self) -> float:
        return max((c.error for c in self.comparisons), default=0.0)

    @property
    def pattern(self) -> str | None:
        return next((c.pattern for c in self.comparisons if not c.passed and c.pattern), None)

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "error": _finite(self.error), "pattern": self.pattern,
                "message": self.message, "comparisons": [c.to_dict() for c in self.comparisons]}


@dataclass
class CheckReport:
    """What ``check`` found: per check pass/fail, largest error, worst entries, pattern."""

    module: str
    input_shape: tuple[int, ...]
    batch: int
    rule: str
    checks: list[CheckResult]
    seed: int = 0

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.checks if not result.passed]

    def __getitem__(self, name: str) -> CheckResult:
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def patterns(self) -> list[str]:
        """Every pattern a failed comparison named, once each, in the order of the checks."""
        found = [c.pattern for result in self.checks for c in result.comparisons if not c.passed and c.pattern]
        return list(dict.fromkeys(found))

    def to_dict(self) -> dict:
        """The report as plain data (what ``to_json`` writes)."""
        return {"module": self.module, "input_shape": list(self.input_shape), "batch": self.batch,
                "seed": self.seed, "rule": self.rule, "passed": self.passed, "patterns": self.patterns,
                "checks": [result.to_dict() for result in self.checks]}

    def to_json(self) -> str:
        """The report as indented JSON; an error that is not finite (a shape mismatch) is null."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        batch = f", batch of {self.batch}" if self.batch else ", one sample only"
        lines = [f"{self.module}", f"input {self.input_shape}{batch}, float64, seed {self.seed}",
                 f"pass: {self.rule}", ""]
        width = max(len(result.name) for result in self.checks)
        for result in self.checks:
            status = "PASS" if result.passed else "FAIL"
            found = f"raised {result.message}" if result.message else f"largest error {result.error:.1e}"
            lines.append(f"  {status}  {result.name.ljust(width)}  {found}")
            for comparison in result.comparisons:
                if comparison.passed:
                    continue
                lines.append(f"        {comparison.subject}: largest error {comparison.error:.3g}")
                if comparison.message:
                    lines.append(f"          {comparison.message}")
                if comparison.pattern:
                    lines.append(f"          pattern: {comparison.pattern}")
                if comparison.formula:
                    lines.append(f"          should follow: {comparison.formula}")
                for entry in comparison.worst:
                    lines.append(f"          {entry}")
        failed = len(self.failed)
        lines += ["", f"{failed} of {len(self.checks)} checks failed." if failed
                  else f"All {len(self.checks)} checks passed."]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Comparing arrays and naming what went wrong


@dataclass
class _Layout:
    """How to name the entries of a compared array and which transforms make sense for it.

    A Jacobian has one row per output element (``output_shape``) and one column per
    element of ``element_shape``; a plain array has ``output_shape`` None.
    """

    subject: str
    element_name: str
    element_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None = None
    batch: int = 0  # the leading axis of the output (Jacobian) or of the samples is a batch of this size
    factor_names: dict[float, str] = field(default_factory=dict)
    named: list[tuple[np.ndarray, str]] = field(default_factory=list)  # other candidates: (got if, pattern)
    elementwise: tuple[np.ndarray, np.ndarray] | None = None  # (input, output) of a diagonal Jacobian


class _Rule:
    """Torch's largest-error rule, or PyTorch's atol/rtol."""

    def __init__(self, precision: float, atol: float | None, rtol: float | None) -> None:
        self.precision = precision
        self.allclose = atol is not None or rtol is not None
        self.atol = 1e-5 if atol is None else atol
        self.rtol = 1e-3 if rtol is None else rtol

    def passes(self, expected: np.ndarray, got: np.ndarray) -> bool:
        if self.allclose:
            return bool(np.all(np.abs(got - expected) <= self.atol + self.rtol * np.abs(expected)))
        return float(np.max(np.abs(got - expected), initial=0.0)) < self.precision

    def __str__(self) -> str:
        if self.allclose:
            return f"|got - expected| <= {self.atol:g} + {self.rtol:g} |expected| (PyTorch's gradcheck rule)"
        return f"largest |got - expected| < {self.precision:g} (Torch's test rule)"


def _index(shape: tuple[int, ...], flat: int) -> str:
    return "[" + ", ".join(str(i) for i in np.unravel_index(flat, shape)) + "]" if shape else ""


def _compare(expected: np.ndarray, got: np.ndarray, layout: _Layout, rule: _Rule) -> Comparison:
    """Compare, and on failure list the worst entries and the pattern."""
    expected = np.asarray(expected, dtype=float)
    got = np.asarray(got)
    if got.shape != expected.shape:
        message = f"has shape {got.shape}, expected {expected.shape}"
        pattern = None
        if len(expected.shape) >= 2 and got.shape == expected.shape[::-1]:
            pattern = f"{layout.subject} is transposed (shape {got.shape}, expected {expected.shape})"
        return Comparison(layout.subject, False, float("inf"), message=message, pattern=pattern)
    got = got.astype(float)
    difference = np.abs(got - expected)
    if not np.all(np.isfinite(got)):
        return Comparison(layout.subject, False, float("inf"), _worst(expected, got, layout),
                          message="has entries that are not finite")
    error = float(difference.max(initial=0.0))
    if rule.passes(expected, got):
        return Comparison(layout.subject, True, error)
    return Comparison(layout.subject, False, error, _worst(expected, got, layout), _pattern(expected, got, layout))


def _worst(expected: np.ndarray, got: np.ndarray, layout: _Layout) -> list[Entry]:
    difference = np.nan_to_num(np.abs(got - expected), nan=np.inf)
    order = np.argsort(difference, axis=None, kind="stable")[::-1][:WORST]
    entries = []
    for flat in order:
        if difference.flat[flat] == 0:
            break
        if layout.output_shape is None:
            entries.append(Entry(layout.element_name + _index(layout.element_shape, flat),
                                 float(expected.flat[flat]), float(got.flat[flat])))
        else:
            row, column = np.unravel_index(flat, expected.shape)
            entries.append(Entry(layout.element_name + _index(layout.element_shape, column),
                                 float(expected.flat[flat]), float(got.flat[flat]),
                                 "output" + _index(layout.output_shape, row)))
    return entries


def _close(candidate: np.ndarray, got: np.ndarray, expected: np.ndarray) -> bool:
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    return candidate.shape == got.shape and float(np.abs(candidate - got).max(initial=0.0)) <= 1e-6 * scale


def _factor(expected: np.ndarray, got: np.ndarray) -> float | None:
    """c with got = c expected, if there is one (least squares, then checked)."""
    norm = float(np.vdot(expected, expected))
    if norm == 0:
        return None
    c = float(np.vdot(expected, got)) / norm
    return c if _close(c * expected, got, expected) else None


def _factor_text(c: float) -> str:
    for q in range(1, 13):  # a simple fraction reads better than 0.333333
        if abs(c * q - round(c * q)) < 1e-6 * q and round(c * q) != 0:
            p = round(c * q)
            return f"{p}x" if q == 1 else f"{p}/{q} x"
    return f"{c:.6g}x"


def _pattern(expected: np.ndarray, got: np.ndarray, layout: _Layout) -> str | None:
    """Name the transform of ``expected`` that gives ``got``, if one of the candidates does."""
    subject = layout.subject
    if _close(np.zeros_like(got), got, expected):
        return f"{subject} is not computed (all zeros)"
    rows = layout.output_shape is not None
    if rows and got.shape[0] == got.shape[1] and _close(np.eye(got.shape[0]), got, expected):
        return f"{subject} is gradOutput passed through (not computed)"
    if rows and got.shape[0] > 1 and _close(np.broadcast_to(expected.sum(axis=0), got.shape), got, expected) \
            and not _close(np.broadcast_to(expected[:1], expected.shape), expected, expected):
        # Each one-hot gradOutput gave J^T 1: the gradient for gradOutput = 1, whatever it is.
        return f"{subject} is missing the gradOutput factor (it is the gradient for gradOutput = 1)"
    if rows and got.shape[0] > 1 and _close(np.broadcast_to(got[:1], got.shape), got, expected) \
            and not _close(np.broadcast_to(expected[:1], expected.shape), expected, expected):
        return f"{subject} does not depend on gradOutput (a stale value, not computed)"
    c = _factor(expected, got)
    if c is not None:
        for known, name in layout.factor_names.items():
            if abs(c - known) < 1e-6 * max(1.0, abs(known)):
                return name
        if layout.batch > 1 and abs(c * layout.batch - 1) < 1e-6:
            return (f"{subject} is not summed over the batch: it is the mean "
                    f"(1/{layout.batch} of the sum)")
        if abs(c + 1) < 1e-6:
            return f"{subject} has the wrong sign (-1x)"
        return f"{subject} is {_factor_text(c)} the right value (a constant factor)"
    for candidate, name in layout.named:
        if _close(candidate, got, expected):
            return name
    if rows and layout.batch > 1:
        per_sample = _per_sample_factors(expected, got, layout.batch)
        if per_sample is not None:
            kept = [k for k, c in enumerate(per_sample) if abs(c) > 1e-6]
            if len(kept) == 1 and abs(per_sample[kept[0]] - 1) < 1e-6:
                return f"{subject} counts sample {kept[0]} of the batch alone: it is not summed over the batch"
            return f"{subject} weighs the samples of the batch by {', '.join(f'{c:.3g}' for c in per_sample)}"
    if len(layout.element_shape) == 2 and layout.element_shape[0] == layout.element_shape[1]:
        rows_shape = expected.shape[:1] if rows else ()
        transposed = expected.reshape(rows_shape + layout.element_shape).swapaxes(-1, -2)
        if _close(transposed.reshape(expected.shape), got, expected):
            return f"{subject} is transposed"
    if rows and got.shape[0] == got.shape[1] and _close(expected.T, got, expected):
        return f"{subject} is computed with the transposed Jacobian (e.g. W g where W^T g is meant)"
    if layout.elementwise is not None:
        return _swapped_point(expected, got, layout)
    return None


def _per_sample_factors(expected: np.ndarray, got: np.ndarray, batch: int) -> list[float] | None:
    """c_b with got rows of sample b = c_b expected rows of sample b, if such factors exist."""
    factors = []
    for part_e, part_g in zip(np.split(expected, batch), np.split(got, batch)):
        if not part_e.any():
            if part_g.any():
                return None
            factors.append(0.0)
            continue
        c = _factor(part_e, part_g)
        if c is None:
            return None
        factors.append(c)
    return factors


def _swapped_point(expected: np.ndarray, got: np.ndarray, layout: _Layout) -> str | None:
    """For an element-wise module: is got the derivative evaluated at the wrong point?

    The derivative f' is fitted, exactly, as a polynomial of degree <= 3 in the
    output y (and then in the input x) from the expected diagonal; when it is one,
    and evaluating it at x (at y) gives got, the module used the input where the
    output is meant (or the reverse). Not claimed unless the fit has two points to spare.
    """
    x, y = (a.ravel() for a in layout.elementwise)
    diagonal = np.diagonal(expected)
    got_diagonal = np.diagonal(got)
    if np.abs(got - np.diag(got_diagonal)).max(initial=0.0) > 1e-9:
        return None
    for at, instead, said in ((y, x, "the input where the output is meant: f' written in terms of "
                               "the output y was evaluated at the input x"),
                              (x, y, "the output where the input is meant: f' written in terms of "
                               "the input x was evaluated at the output y")):
        for degree in range(4):
            if at.size < degree + 3 or np.ptp(at) == 0:
                break
            coefficients = np.polynomial.polynomial.polyfit(at, diagonal, degree)
            fitted = np.polynomial.polynomial.polyval(at, coefficients)
            if np.abs(fitted - diagonal).max() <= 1e-6 * max(1.0, np.abs(diagonal).max()):
                if _close(np.polynomial.polynomial.polyval(instead, coefficients), got_diagonal, diagonal):
                    return f"{layout.subject}: the derivative is taken at {said}"
                break
    return None


# ---------------------------------------------------------------------------------------------
# Drawing inputs


def draw_input(rng: np.random.Generator, shape: tuple[int, ...], avoid: np.ndarray | None = None) -> np.ndarray:
    """U[-2, 2], entries within KINK of 0 (or of ``avoid``) drawn again."""
    values = rng.uniform(-2, 2, shape)
    while True:
        near = np.abs(values) < KINK
        if avoid is not None:
            near |= np.abs(values - avoid) < KINK
        if not near.any():
            return values
        values[near] = rng.uniform(-2, 2, int(near.sum()))


def _draw_target(rng: np.random.Generator, shape: tuple[int, ...], kind: str, classes: int) -> np.ndarray:
    if kind == "real":
        return rng.uniform(-2, 2, shape)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(float)
    return rng.integers(0, classes, shape)


# ---------------------------------------------------------------------------------------------
# Names of the module's arrays


def array_names(module) -> dict[int, str]:
    """{id(array): attribute path} for the arrays a module (and a container's modules) holds."""
    names: dict[int, str] = {}

    def walk(obj, prefix: str) -> None:
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, np.ndarray):
                names.setdefault(id(value), prefix + attr)
            elif isinstance(value, (list, tuple)):
                for i, inner in enumerate(value):
                    if isinstance(inner, Module):
                        walk(inner, f"{prefix}{attr}[{i}].")
    walk(module, "")
    return names


def parameter_names(module) -> tuple[list[str], list[str]]:
    """(parameter names, gradient names) in ``parameters()`` order, e.g. weight / gradWeight."""
    params, gradParams = (module.parameters() if isinstance(module, Module) else None) or ([], [])
    names = array_names(module)
    return ([names.get(id(p), f"parameter {i}") for i, p in enumerate(params)],
            [names.get(id(g), f"gradient of parameter {i}") for i, g in enumerate(gradParams)])


# ---------------------------------------------------------------------------------------------
# The checks


def _gradients(module) -> list[np.ndarray]:
    return [np.array(g, dtype=float) for g in (module.parameters() or ([], []))[1]]


def _copy(array) -> np.ndarray:
    return np.array(array, dtype=float)


def _step(module, input: np.ndarray, gradOutput: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Copies of (output, gradInput, parameter gradients) after forward, zeroGradParameters and backward."""
    output = _copy(module.forward(input))
    module.zeroGradParameters()
    return output, _copy(module.backward(input, gradOutput.copy())), _gradients(module)


class _Checker:
    """The checks of a module, each a method returning its comparisons; ``run`` turns an
    exception into a failure."""

    def __init__(self, module, rule: _Rule, perturbation: float) -> None:
        self.module, self.rule, self.perturbation = module, rule, perturbation
        self.names, self.gradNames = parameter_names(module)

    def compare(self, expected, got, subject: str, element: str, shape, **layout) -> Comparison:
        return _compare(expected, got, _Layout(subject, element, tuple(shape), **layout), self.rule)

    def run(self, name: str, body: Callable[[], list[Comparison]]) -> CheckResult:
        """One check; an exception the module raises fails it with the message."""
        try:
            return CheckResult(name, body())
        except GradientShapeError as error:
            subject = self.gradNames[error.index] if error.index < len(self.gradNames) else "a gradient"
            transposed = len(error.expected) == 2 and error.got == error.expected[::-1]
            return CheckResult(name, [Comparison(
                subject, False, float("inf"), message=f"has shape {error.got}, its parameter {error.expected}",
                pattern=f"{subject} is transposed (shape {error.got}, expected {error.expected})"
                if transposed else None)])
        except Exception as error:  # the module's own failure is the finding
            return CheckResult(name, [], message=f"{type(error).__name__}: {error}")

    # -- modules --------------------------------------------------------------------------------

    def jacobians(self, input: np.ndarray, batch: int) -> list[Comparison]:
        """Backprop against central differences, for the input and each parameter."""
        module = self.module
        params, _ = module.parameters() or ([], [])
        exact = backward_jacobians(module, input)
        output_shape = np.shape(module.forward(input))
        arrays = (input, *params)
        numerics = [numeric_jacobian(module, input, wrt, self.perturbation) for wrt in arrays]
        names = ["input", *self.names]
        comparisons = []
        for k, (got, wrt, numeric) in enumerate(zip(exact, arrays, numerics)):
            # A gradient written for another array of the same shape (g * x where g * w is meant).
            others = [(n, f"{'gradInput' if k == 0 else self.gradNames[k - 1]} is the gradient of "
                          f"{names[j]} (another input's), not of {names[k]}")
                      for j, (a, n) in enumerate(zip(arrays, numerics)) if j != k and a.shape == wrt.shape]
            if k == 0:
                elementwise = None
                if output_shape == input.shape and not (numeric - np.diag(np.diagonal(numeric))).any():
                    elementwise = (input.copy(), _copy(module.forward(input)))
                comparisons.append(self.compare(numeric, got, "gradInput", "input", input.shape,
                                                output_shape=output_shape, batch=batch,
                                                elementwise=elementwise, named=others))
            else:
                comparisons.append(self.compare(numeric, got, self.gradNames[k - 1], self.names[k - 1],
                                                wrt.shape, output_shape=output_shape, batch=batch, named=others))
        return comparisons

    def accumulation(self, input: np.ndarray, gradOutput: np.ndarray) -> list[Comparison]:
        """backward with scale a then b gives (a + b) times one gradient; gradInput ignores scale."""
        module = self.module
        a, b = SCALES
        module.forward(input)
        module.zeroGradParameters()
        one = _copy(module.backward(input, gradOutput.copy()))
        once = _gradients(module)
        module.zeroGradParameters()
        scaled = _copy(module.backward(input, gradOutput.copy(), a))
        module.backward(input, gradOutput.copy(), b)
        twice = _gradients(module)
        names = {2 / (a + b): "scale is ignored (accGradParameters adds 1x the gradient for any scale)",
                 b / (a + b): "accGradParameters overwrites the gradient instead of adding to it",
                 1 / (a + b): "scale is ignored and accGradParameters overwrites the gradient "
                              "instead of adding to it"}
        comparisons = [self.compare(one, scaled, f"gradInput (backward with scale {a})", "gradInput", one.shape,
                                    factor_names={a: "gradInput is multiplied by scale (only the "
                                                     "parameter gradients take it)"})]
        for expected, got, gradName in zip(once, twice, self.gradNames):
            comparisons.append(self.compare((a + b) * expected, got, gradName, gradName, expected.shape,
                                            factor_names=names))
        return comparisons

    def zero(self, input: np.ndarray, gradOutput: np.ndarray) -> list[Comparison]:
        """zeroGradParameters leaves every gradient at zero."""
        module = self.module
        module.forward(input)
        module.backward(input, gradOutput.copy())
        before = _gradients(module)
        module.zeroGradParameters()
        return [self.compare(np.zeros_like(b), got, gradName, gradName, b.shape,
                             named=[(b, f"zeroGradParameters leaves {gradName} unchanged")])
                for b, got, gradName in zip(before, _gradients(module), self.gradNames)]

    def update(self, rng: np.random.Generator) -> list[Comparison]:
        """updateParameters(lr) moves each parameter by -lr * its gradient; the parameters are restored."""
        module = self.module
        params, gradParams = module.parameters()
        kept = [p.copy() for p in params]
        for gradParam in gradParams:
            gradParam[...] = rng.uniform(-2, 2, gradParam.shape)
        steps = [LEARNING_RATE * _copy(g) for g in gradParams]
        try:
            module.updateParameters(LEARNING_RATE)
            moved = [k - _copy(p) for k, p in zip(kept, module.parameters()[0])]
        finally:
            for param, value in zip(module.parameters()[0], kept):
                param[...] = value
            module.zeroGradParameters()
        names = {-1.0: "updateParameters adds the gradient instead of subtracting it",
                 1 / LEARNING_RATE: "updateParameters ignores the learning rate",
                 -1 / LEARNING_RATE: "updateParameters ignores the learning rate and adds the gradient"}
        return [self.compare(step, got, f"step of {name} (before - after)", name, step.shape,
                             factor_names={k: v.replace("the gradient", gradName) for k, v in names.items()})
                for step, got, name, gradName in zip(steps, moved, self.names, self.gradNames)]

    def samples(self, input: np.ndarray, gradOutput: np.ndarray) -> list[Comparison]:
        """The batch against its samples one by one: outputs and gradInputs stacked, gradients summed."""
        module = self.module
        batch = input.shape[0]
        output, gradInput, grads = _step(module, input, gradOutput)
        outputs, gradInputs, parts = [], [], []
        for k in range(batch):
            outputs.append(_copy(module.forward(input[k].copy())))
            module.zeroGradParameters()
            gradInputs.append(_copy(module.backward(input[k].copy(), gradOutput[k].copy())))
            parts.append(_gradients(module))
        comparisons = [self.compare(np.stack(outputs), output, "output of the batch", "output", output.shape),
                       self.compare(np.stack(gradInputs), gradInput, "gradInput of the batch", "gradInput",
                                    gradInput.shape)]
        for k, (got, gradName) in enumerate(zip(grads, self.gradNames)):
            mine = [part[k] for part in parts]
            comparisons.append(self.compare(np.sum(mine, axis=0), got, gradName, gradName, got.shape,
                                            batch=batch, named=[
                                                (part, f"{gradName} is sample {j}'s alone: it is not "
                                                       "summed over the batch") for j, part in enumerate(mine)]))
        return comparisons

    def reentrancy(self, input: np.ndarray, gradOutput: np.ndarray) -> list[Comparison]:
        """forward and backward twice on the same arrays give the same results."""
        first_output, first, first_grads = _step(self.module, input, gradOutput)
        second_output, second, second_grads = _step(self.module, input, gradOutput)
        comparisons = [self.compare(first_output, second_output, "output of a second forward", "output",
                                    first_output.shape),
                       self.compare(first, second, "gradInput of a second backward", "gradInput", first.shape,
                                    factor_names={2.0: "gradInput accumulates across backward calls "
                                                       "(it is added to, not computed)"})]
        for expected, got, gradName in zip(first_grads, second_grads, self.gradNames):
            comparisons.append(self.compare(expected, got, f"{gradName} of a second backward", gradName,
                                            expected.shape))
        return comparisons

    def unchanged(self, input: np.ndarray, gradOutput: np.ndarray) -> list[Comparison]:
        """forward and backward leave their input and gradOutput as they were, backward the output too."""
        module = self.module
        given_input, given_gradOutput = input.copy(), gradOutput.copy()
        output = _copy(module.forward(given_input))
        gradInput = _copy(module.backward(given_input, given_gradOutput))
        after = _copy(module.output)
        comparisons = [self.compare(input, given_input, "input after forward and backward", "input", input.shape)]
        comparisons.append(self.compare(gradOutput, given_gradOutput, "gradOutput after backward", "gradOutput",
                                        gradOutput.shape, named=[(gradInput, (
                                            "updateGradInput overwrites gradOutput with gradInput (it writes "
                                            "in place instead of computing a new array)"))]))
        comparisons.append(self.compare(output, after, "output after backward", "output", output.shape,
                                        named=[(gradInput, "updateGradInput overwrites output with gradInput "
                                                           "(it writes into the output's buffer)")]))
        return comparisons

    def pickled(self, input: np.ndarray, gradOutput: np.ndarray) -> list[Comparison]:
        """A pickle round trip gives a module with the same outputs and gradients."""
        module = self.module
        copy = pickle.loads(pickle.dumps(module))
        results = []
        for m in (module, copy):
            output = _copy(m.forward(input))
            m.zeroGradParameters()
            results.append((output, _copy(m.backward(input, gradOutput.copy())), _gradients(m)))
        (output, gradInput, grads), (output2, gradInput2, grads2) = results
        comparisons = [self.compare(output, output2, "output after a pickle round trip", "output", output.shape),
                       self.compare(gradInput, gradInput2, "gradInput after a pickle round trip", "gradInput",
                                    gradInput.shape)]
        for expected, got, gradName in zip(grads, grads2, self.gradNames):
            comparisons.append(self.compare(expected, got, f"{gradName} after a pickle round trip", gradName,
                                            expected.shape))
        return comparisons

    # -- a reference module (derive's own, for --against) --------------------------------------

    def against(self, reference, input: np.ndarray, gradOutput: np.ndarray, batch: int,
                formulas: Sequence[str] | None) -> list[Comparison]:
        """The module's output and gradients against a reference module's at the same values."""
        output, gradInput, grads = _step(self.module, input, gradOutput)
        expected_output, expected_gradInput, expected_grads = _step(reference, input, gradOutput)
        comparisons = [self.compare(expected_output, output, "output", "output", output.shape)]
        subjects = ["gradInput", *self.gradNames]
        for k, (expected, got, subject) in enumerate(zip([expected_gradInput, *expected_grads],
                                                         [gradInput, *grads], subjects)):
            element = "gradInput" if k == 0 else subject
            comparison = self.compare(expected, got, subject, element, expected.shape, batch=batch)
            if not comparison.passed and formulas is not None and k < len(formulas):
                comparison.formula = formulas[k]
            comparisons.append(comparison)
        return comparisons


def _criterion_gradient(criterion, input: np.ndarray, target: np.ndarray, rule: _Rule,
                        perturbation: float) -> list[Comparison]:
    """dJ/dinput by backward against central differences of the loss."""
    loss = LossModule(criterion, target)
    numeric = numeric_jacobian(loss, input, input, perturbation).reshape(input.shape)
    # backward follows forward of the same input (Torch's test does so): a criterion may read
    # what forward computed (CrossEntropyCriterion its softmax), here last at a perturbed input.
    criterion.forward(input, target)
    got = np.asarray(criterion.backward(input, target))
    return [_compare(numeric, got, _Layout("gradInput", "input", input.shape,
                                           batch=input.shape[0] if input.ndim > 1 else 0), rule)]


def jacobian_check(module: Module, input: np.ndarray, *, precision: float = PRECISION,
                   perturbation: float = PERTURBATION) -> CheckResult:
    """The Jacobian check alone at a given input: the input's, then each parameter's comparison.

    A leading axis the module's output shares with the input is read as a batch when
    naming patterns. The arrays are restored after perturbation.
    """
    checker = _Checker(module, _Rule(precision, None, None), perturbation)
    batch = input.shape[0] if input.ndim > 1 else 0
    return checker.run(f"Jacobians, input {input.shape}", lambda: checker.jacobians(input, batch))


def criterion_check(criterion, input: np.ndarray, target: np.ndarray, *, precision: float = PRECISION,
                    perturbation: float = PERTURBATION) -> CheckResult:
    """dJ/dinput of a criterion by backward against central differences of the loss, at given arrays."""
    rule = _Rule(precision, None, None)
    checker = _Checker(criterion, rule, perturbation)
    return checker.run(f"gradInput, input {input.shape}",
                       lambda: _criterion_gradient(criterion, input, target, rule, perturbation))


def _positive_shape(name: str, shape, empty: bool = False) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"check: {name} must be a tuple of positive ints, got {shape!r}") from None
    if (not dims and not empty) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in dims):
        raise ValueError(f"check: {name} must be a non-empty tuple of positive ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def check(module, input_shape: Sequence[int], *, batch: int | None = None, seed: int = 0,
          precision: float = PRECISION, atol: float | None = None, rtol: float | None = None,
          perturbation: float = PERTURBATION, target_shape: Sequence[int] | None = None,
          target_kind: str = "real", reference=None,
          reference_formulas: tuple[Sequence[str | None], Sequence[str | None]] | None = None) -> CheckReport:
    """Run Torch's module tests on ``module`` (a Module or a Criterion) and report where it is wrong.

    ``input_shape`` is one sample's shape; the batch checks use ``batch`` samples
    (None: DEFAULT_BATCH, 4; 0: one sample only). A criterion gets a target of
    ``target_shape`` per sample drawn as ``target_kind``: "real" U[-2, 2] and "binary"
    0 or 1 (default shape: the input's), "class" integer indices 0..C-1 with C the
    input's last size (default shape: (), one index a sample). A check passes when
    its largest error is below ``precision`` (Torch's rule), or, given ``atol`` or
    ``rtol``, when |got - expected| <= atol + rtol |expected| everywhere (PyTorch's
    gradcheck rule, defaults 1e-5 and 1e-3). ``reference``, a module with parameters
    of the same shapes in the same order, is given the module's parameter values and
    compared with it at the same inputs; ``reference_formulas``, the formulas of
    gradInput and then of each parameter's gradient for one sample and for a batch
    (two lists), are printed with a mismatch. ``str(report)`` is the text
    report, ``report.to_json()`` the same for programs. Raises CheckError when the
    module cannot run one sample at all.
    """
    input_shape = _positive_shape("input_shape", input_shape)
    if batch is None:
        batch = DEFAULT_BATCH
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 0:
        raise ValueError(f"check: batch must be a non-negative int (0: one sample only), got {batch!r}")
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"check: target_kind must be one of {', '.join(TARGET_KINDS)}, got {target_kind!r}")
    is_criterion = isinstance(module, Criterion)
    if not is_criterion and not isinstance(module, Module):
        raise TypeError(f"check: module must be a derive.nn Module or Criterion, got {type(module).__name__}")
    rule = _Rule(precision, atol, rtol)
    rng = np.random.default_rng(seed)
    report = CheckReport(repr(module), input_shape, int(batch), str(rule), [], seed)
    shapes = [("one sample", input_shape)] + ([(f"batch of {batch}", (batch, *input_shape))] if batch else [])
    if is_criterion:
        if target_shape is None:
            target_shape = () if target_kind == "class" else input_shape
        return _check_criterion(module, shapes, report, rule, rng, perturbation,
                                _positive_shape("target_shape", target_shape, empty=True),
                                target_kind, reference, reference_formulas)

    inputs = [draw_input(rng, shape) for _, shape in shapes]
    try:
        output_shape = np.shape(module.forward(inputs[0].copy()))
    except Exception as error:
        raise CheckError(f"{module!r} cannot run one sample of shape {input_shape}: "
                         f"{type(error).__name__}: {error}") from None
    gradOutputs = [rng.uniform(-2, 2, output_shape if k == 0 else (batch, *output_shape))
                   for k in range(len(shapes))]
    checker = _Checker(module, rule, perturbation)
    has_parameters = bool((module.parameters() or ([], []))[0])
    run = report.checks.append
    for (label, _), input in zip(shapes, inputs):
        run(checker.run(f"Jacobians, {label}", lambda input=input:
                        checker.jacobians(input, batch if input.ndim > len(input_shape) else 0)))
    input, gradOutput = inputs[-1], gradOutputs[-1]
    # A torch target's accumulation, update and pickling are the adapter's, not its own: not checked.
    torch_target = getattr(module, "torchTarget", False)
    if has_parameters and not torch_target:
        run(checker.run("accGradParameters accumulates and honours scale",
                        lambda: checker.accumulation(input, gradOutput)))
        run(checker.run("zeroGradParameters zeroes", lambda: checker.zero(input, gradOutput)))
        run(checker.run("updateParameters(lr) gives p - lr gradP", lambda: checker.update(rng)))
    if batch:
        run(checker.run("batch = the samples one by one", lambda: checker.samples(input, gradOutput)))
    run(checker.run("backward twice gives the same result", lambda: checker.reentrancy(input, gradOutput)))
    run(checker.run("input, gradOutput and output left unchanged", lambda: checker.unchanged(input, gradOutput)))
    if not torch_target:
        run(checker.run("pickle round trip", lambda: checker.pickled(input, gradOutput)))
    if reference is not None:
        _against(checker, reference, shapes, inputs, gradOutputs, reference_formulas, run)
    return report


def _against(checker: _Checker, reference, shapes, inputs, gradOutputs, formulas, run) -> None:
    """Copy the module's parameters into the reference by position, then compare at each input."""
    params = (checker.module.parameters() or ([], []))[0]
    theirs = (reference.parameters() or ([], []))[0]
    if len(params) != len(theirs) or any(p.shape != q.shape for p, q in zip(params, theirs)):
        run(CheckResult("against the reference", [], message=(
            f"ValueError: the parameters do not match the reference's by position: "
            f"{[p.shape for p in params]} against {[q.shape for q in theirs]}")))
        return
    for p, q in zip(params, theirs):
        q[...] = p
    for k, ((label, _), input, gradOutput) in enumerate(zip(shapes, inputs, gradOutputs)):
        run(checker.run(f"against derive's formulas, {label}",
                        lambda input=input, gradOutput=gradOutput, batch=input.shape[0] if k else 0,
                        formulas=formulas[k] if formulas else None:
                        checker.against(reference, input, gradOutput, batch, formulas)))


def _check_criterion(criterion, shapes, report: CheckReport, rule: _Rule, rng, perturbation: float,
                     target_shape: tuple[int, ...], target_kind: str, reference, formulas) -> CheckReport:
    classes = report.input_shape[-1]
    cases = []
    for k, (label, shape) in enumerate(shapes):
        tshape = target_shape if k == 0 else (shape[0], *target_shape)
        target = _draw_target(rng, tshape, target_kind, classes)
        avoid = target if target_kind != "class" and target.shape == shape else None
        cases.append((label, draw_input(rng, shape, avoid), target))
    label, input, target = cases[0]
    try:
        float(criterion.forward(input.copy(), target.copy()))
    except Exception as error:
        raise CheckError(f"{criterion!r} cannot run one sample of shape {report.input_shape} with a "
                         f"{target_kind} target of shape {target.shape}: "
                         f"{type(error).__name__}: {error}") from None
    checker = _Checker(criterion, rule, perturbation)
    checker.names, checker.gradNames = [], []
    run = report.checks.append
    for label, input, target in cases:
        run(checker.run(f"gradInput, {label}",
                        lambda input=input, target=target: _criterion_gradient(criterion, input, target,
                                                                               rule, perturbation)))
    label, input, target = cases[-1]

    def twice() -> list[Comparison]:
        criterion.forward(input, target)
        first = _copy(criterion.backward(input, target))
        criterion.forward(input, target)
        return [checker.compare(first, _copy(criterion.backward(input, target)),
                                "gradInput of a second backward", "gradInput", first.shape,
                                factor_names={2.0: "gradInput accumulates across backward calls"})]

    def unchanged() -> list[Comparison]:
        given_input, given_target = input.copy(), target.copy()
        criterion.forward(given_input, given_target)
        criterion.backward(given_input, given_target)
        return [checker.compare(input, given_input, "input after forward and backward", "input", input.shape),
                checker.compare(target, given_target, "target after forward and backward", "target",
                                target.shape)]

    def pickled() -> list[Comparison]:
        copy = pickle.loads(pickle.dumps(criterion))
        results = [(np.array([float(c.forward(input, target))]), _copy(c.backward(input, target)))
                   for c in (criterion, copy)]
        return [checker.compare(results[0][0], results[1][0], "loss after a pickle round trip", "loss", (1,)),
                checker.compare(results[0][1], results[1][1], "gradInput after a pickle round trip",
                                "gradInput", input.shape)]

    def against(input, target, formulas) -> list[Comparison]:
        loss = np.array([float(criterion.forward(input, target))])
        got = _copy(criterion.backward(input, target))
        expected_loss = np.array([float(reference.forward(input, target))])
        expected = _copy(reference.backward(input, target))
        comparison = checker.compare(expected, got, "gradInput", "gradInput", expected.shape)
        if not comparison.passed and formulas:
            comparison.formula = formulas[0]
        return [checker.compare(expected_loss, loss, "loss", "loss", (1,)), comparison]

    run(checker.run("backward twice gives the same result", twice))
    run(checker.run("input and target left unchanged", unchanged))
    if not getattr(criterion, "torchTarget", False):  # a torch target's pickling is the adapter's
        run(checker.run("pickle round trip", pickled))
    if reference is not None:
        for k, (label, input, target) in enumerate(cases):
            run(checker.run(f"against derive's formulas, {label}",
                            lambda input=input, target=target, formulas=formulas[k] if formulas else None:
                            against(input, target, formulas)))
    return report


# ---------------------------------------------------------------------------------------------
# Loading a user's module from a file (the CLI, and derive's reference modules for --against)


def load_class(path: str | Path, name: str) -> type:
    """The class ``name`` defined in the Python file at ``path``, imported with importlib.

    The file is imported as a module of its own (registered in sys.modules, so its
    instances pickle); its folder is on sys.path while it imports, for its siblings.
    Raises CheckError when the file does not import or the class is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"no such file: {str(path)!r}")
    module_name = f"_derive_check_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CheckError(f"cannot import {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:
        del sys.modules[module_name]
        line = f" (line {error.lineno})" if isinstance(error, SyntaxError) and error.lineno else ""
        raise CheckError(f"cannot import {str(path)!r}: {type(error).__name__}{line}: {error}") from None
    finally:
        sys.path.remove(folder)
    cls = getattr(module, name, None)
    if cls is None:
        raise CheckError(f"{str(path)!r} defines no {name!r}")
    if isinstance(cls, type) and issubclass(cls, (Module, Criterion)):
        return cls
    if "torch" in sys.modules:  # only a file that imported torch can hold a torch target
        from .torch_target import is_torch_target

        if is_torch_target(cls):
            return cls
    raise CheckError(f"{name} in {str(path)!r} is not a derive.nn Module or Criterion subclass, "
                     "nor a torch.autograd.Function or torch.nn.Module subclass")

"""``check`` for table modules (Torch7's several inputs and/or outputs: the RNN, LSTM and
GRU steps generated from programs): forward takes a list of arrays, backward a list of
gradOutputs, gradInput is a list.  Each block d output_m / d input_k, and each parameter's
gradient from each output, is compared with central differences, so that a wrong gradient
is named by the input (or parameter) and the output it belongs to."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .check import (DEFAULT_BATCH, PRECISION, CheckError, CheckReport, Comparison, _compare, _Layout, _Rule,
                    _Checker, draw_input)
from .jacobian import PERTURBATION, central_differences
from .module import Module


def is_table(module) -> bool:
    """Whether ``module`` takes several inputs or gives several outputs (lists, as Torch7's tables)."""
    return len(getattr(module, "inputShapes", ()) or ()) > 1 or len(getattr(module, "outputShapes", ()) or ()) > 1


def _names(module, attribute: str, count: int, default: str) -> list[str]:
    names = list(getattr(module, attribute, ()) or ())
    return names if len(names) == count else [f"{default}[{k}]" for k in range(count)]


class _Table:
    """A table module seen as lists: forward(inputs) -> outputs, backward(inputs, gradOutputs) -> gradInputs."""

    def __init__(self, module, inputs: int, outputs: int) -> None:
        self.module, self.inputs, self.outputs = module, inputs, outputs

    def forward(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        out = self.module.forward(list(xs) if self.inputs > 1 else xs[0])
        return [np.array(o, dtype=float) for o in (out if self.outputs > 1 else [out])]

    def backward(self, xs: list[np.ndarray], gs: list[np.ndarray]) -> list[np.ndarray]:
        self.module.forward(list(xs) if self.inputs > 1 else xs[0])
        got = self.module.backward(list(xs) if self.inputs > 1 else xs[0], list(gs) if self.outputs > 1 else gs[0])
        return [np.array(g, dtype=float) for g in (got if self.inputs > 1 else [got])]


def table_check(module: Module, input_shapes: Sequence[Sequence[int]], *, batch: int | None = None, seed: int = 0,
                precision: float = PRECISION, atol: float | None = None, rtol: float | None = None,
                perturbation: float = PERTURBATION) -> CheckReport:
    """Backprop of a table module against central differences, for one sample and a batch:
    one comparison per (input, output) pair, named "gradInput[k] (x) from gradOutput[m] (h2)",
    and one per (parameter, output) pair.  ``input_shapes`` gives one sample's shape of each
    input.  Raises CheckError when the module cannot run one sample."""
    shapes = [tuple(int(d) for d in s) for s in input_shapes]
    if not shapes or any(not s or min(s) < 1 for s in shapes):
        raise ValueError(f"check: input_shapes must be non-empty tuples of positive ints, got {input_shapes!r}")
    batch = DEFAULT_BATCH if batch is None else batch
    rule = _Rule(precision, atol, rtol)
    rng = np.random.default_rng(seed)
    expected_inputs = len(getattr(module, "inputShapes", shapes) or shapes)
    if expected_inputs != len(shapes):
        raise CheckError(f"{module!r} takes {expected_inputs} inputs, got {len(shapes)} input shapes")
    try:
        outputs = module.forward([draw_input(rng, s) for s in shapes] if len(shapes) > 1
                                 else draw_input(rng, shapes[0]))
    except Exception as error:
        raise CheckError(f"{module!r} cannot run one sample of shapes {shapes}: {type(error).__name__}: {error}") \
            from None
    several_out = isinstance(outputs, (list, tuple))
    table = _Table(module, len(shapes), len(outputs) if several_out else 1)
    input_names = _names(module, "inputNames", len(shapes), "input")
    output_names = _names(module, "outputNames", table.outputs, "output")
    checker = _Checker(module, rule, perturbation)
    report = CheckReport(repr(module), tuple(shapes), int(batch), str(rule), [], seed)
    for lead, label in [((), "one sample")] + ([((batch,), f"batch of {batch}")] if batch else []):
        xs = [draw_input(rng, lead + s) for s in shapes]
        report.checks.append(checker.run(f"Jacobians, {label}", lambda xs=xs, lead=lead: _jacobians(
            table, checker, xs, input_names, output_names, rule, perturbation, batch if lead else 0)))
    return report


def _jacobians(table: _Table, checker: _Checker, xs, input_names, output_names, rule, perturbation,
               batch: int) -> list[Comparison]:
    module = table.module
    params, _ = module.parameters() or ([], [])
    outputs = table.forward(xs)
    # backprop: one row per output element, a one-hot gradOutput on that element alone
    exact_inputs = [[np.zeros((o.size, x.size)) for x in xs] for o in outputs]
    exact_params = [[np.zeros((o.size, p.size)) for p in params] for o in outputs]
    for m, o in enumerate(outputs):
        for row in range(o.size):
            gs = [np.zeros_like(other) for other in outputs]
            gs[m].flat[row] = 1.0
            module.zeroGradParameters()
            for k, g in enumerate(table.backward(xs, gs)):
                if g.shape != xs[k].shape:
                    raise ValueError(f"gradInput[{k}] ({input_names[k]}) has shape {g.shape}, "
                                     f"its input {xs[k].shape}")
                exact_inputs[m][k][row] = g.ravel()
            for j, grad in enumerate((module.parameters() or ([], []))[1]):
                exact_params[m][j][row] = np.asarray(grad, dtype=float).ravel()
    # central differences: one column per element of the input or parameter perturbed
    numeric_inputs = [[None] * len(xs) for _ in outputs]
    numeric_params = [[None] * len(params) for _ in outputs]
    for arrays, numeric in ((xs, numeric_inputs), (params, numeric_params)):
        for k, array in enumerate(arrays):
            for m, jacobian in enumerate(central_differences(lambda: table.forward(xs), array, perturbation)):
                numeric[m][k] = jacobian
    comparisons = []
    for m, (o, name) in enumerate(zip(outputs, output_names)):
        for k, x in enumerate(xs):
            subject = (f"gradInput[{k}] ({input_names[k]}) from gradOutput[{m}] ({name})" if len(xs) > 1
                       else f"gradInput ({input_names[k]}) from gradOutput[{m}] ({name})")
            comparisons.append(_named(_compare(numeric_inputs[m][k], exact_inputs[m][k], _Layout(
                subject, input_names[k], x.shape, o.shape, batch), rule), name))
        for j, p in enumerate(params):
            comparisons.append(_named(_compare(numeric_params[m][j], exact_params[m][j], _Layout(
                f"{checker.gradNames[j]} from gradOutput[{m}] ({name})", checker.names[j], p.shape, o.shape, batch),
                rule), name))
    return comparisons


def _named(comparison: Comparison, output: str) -> Comparison:
    """The worst entries read d h2[1] / d x[0], the output by its name."""
    for entry in comparison.worst:
        if entry.output is not None and entry.output.startswith("output"):
            entry.output = output + entry.output[len("output"):]
    return comparison

"""A worked example with numbers: the engine's matrix forms, evaluated the way the tutorial
does by hand (the matrices written out, each entry a sum of products, then its value).

The forms are the engine's results for the layer (W^T g, g x^T, g for Linear), so the
example shows the same formulas the derivation proved; each displayed equality is then
checked entry by entry on the numbers.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .derivation import Derivation, Grid, Named, Plus, Product, ProofError, Result, Section, Scaled, Step, Transposed
from .specs import linear


def worked_example(weight, bias, input, grad_output, learning_rate: float) -> Derivation:
    """nn.Linear's backward pass for one sample with the given numbers: gradInput, gradWeight
    and gradBias after zeroGradParameters and one backward, then updateParameters.

    Numbers are taken as given (floats, nested lists or numpy arrays).
    """
    W = _matrix("weight", weight, 2)
    rows, cols = W.shape
    values = {"W": W, "b": _matrix("bias", bias, 1, rows), "x": _matrix("input", input, 1, cols),
              "g": _matrix("grad_output", grad_output, 1, rows)}
    eta = _number("learning_rate", learning_rate)
    results = linear(cols, rows).results
    forms = {name: results[f"dJ/d{name}"] for name in ("x", "W", "b")}
    numbers = {name: _evaluate(r.expr, values) for name, r in forms.items()}

    def gradient(name: str) -> Step:
        r = forms[name]
        return _checked(Step(Named(r.latex, _grid(numbers[name])),
                             (Named(r.expr, _grid(numbers[name])),) + _shown(r.expr, values)))

    def update(name: str) -> Step:
        new = values[name] - eta * numbers[name]
        bold = rf"\mathbf{{{name}}}"
        return _checked(Step(Named(rf"{bold} - \eta \Delta_{bold}", _grid(new)),
                             (Plus((_grid(values[name]), Scaled(-eta, _grid(numbers[name])))), _grid(new))))

    sections = [
        Section("updateGradInput", r"gradInput for the given $\mathbf{x}$ and "
                r"$\partial J / \partial \mathbf{y}$, by the engine's formula:", [gradient("x")]),
        Section("accGradParameters", "gradWeight and gradBias after zeroGradParameters and one "
                "accGradParameters with scale 1:", [gradient("W"), gradient("b")]),
        Section("updateParameters", f"One step with learning rate {float(eta):.12g}:", [update("W"), update("b")]),
    ]
    out = {f"dJ/d{name}": Result(forms[name].latex, numbers[name], forms[name].shape) for name in forms}
    out.update({name: Result(rf"\mathbf{{{name}}}", values[name] - eta * numbers[name], values[name].shape)
                for name in ("W", "b")})
    return Derivation(f"nn.Linear({cols} -> {rows}): a worked example", sections, sizes={}, results=out)


def _evaluate(form: sp.Expr, values: dict[str, sp.Matrix]) -> sp.Matrix:
    """The matrix form with the numbers put in for its arrays."""
    return sp.Matrix(form.xreplace({s: values[s.name] for s in form.atoms(sp.MatrixSymbol)}).doit())


def _shown(form: sp.Expr, values: dict[str, sp.Matrix]) -> tuple:
    """The form with its matrices written out, then each entry as a sum of products, then
    the values; a form that is one array is its values at once."""
    if isinstance(form, sp.MatrixSymbol):
        return (_grid(values[form.name]),)
    if not (isinstance(form, sp.MatMul) and len(form.args) == 2):
        raise ValueError(f"a worked example shows a product of two arrays, not {form}")
    left, right = (_evaluate(a, values) for a in form.args)
    written = tuple(Transposed(_grid(values[a.arg.name])) if isinstance(a, sp.Transpose) else _grid(values[a.name])
                    for a in form.args)
    return (Product(written), _products(left, right), _grid(left * right))


def _grid(M: sp.Matrix) -> Grid:
    return Grid(tuple(sp.Integer(d) for d in M.shape), lambda r, c: M[int(r) - 1, int(c) - 1])


def _products(A: sp.Matrix, B: sp.Matrix) -> Grid:
    """Each entry a sum of products, unevaluated, the way the tutorial multiplies by hand."""
    def entry(r, c):
        terms = [sp.Mul(A[int(r) - 1, d], B[d, int(c) - 1], evaluate=False) for d in range(A.shape[1])]
        return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)
    return Grid((sp.Integer(A.shape[0]), sp.Integer(B.shape[1])), entry)


def _value(form) -> sp.Matrix:
    """The numbers a displayed form stands for."""
    if isinstance(form, Grid):
        rows, cols = (int(d) for d in form.shape)
        return sp.Matrix(rows, cols, lambda r, c: sp.sympify(form.entry(sp.Integer(r + 1), sp.Integer(c + 1))).doit())
    if isinstance(form, Transposed):
        return _value(form.grid).T
    if isinstance(form, Named):
        return _value(form.form)
    if isinstance(form, Product):
        out = _value(form.factors[0])
        for f in form.factors[1:]:
            out = out * _value(f)
        return out
    if isinstance(form, Plus):
        return sum((_value(t) for t in form.terms[1:]), _value(form.terms[0]))
    if isinstance(form, Scaled):
        return form.factor * _value(form.form)
    raise TypeError(f"no value for {type(form).__name__}")


def _checked(step: Step) -> Step:
    """The step, once every form in it has the same numbers (to rounding)."""
    expected = np.array(_value(step.lhs).tolist(), dtype=float)
    for f in step.chain:
        got = np.array(_value(f).tolist(), dtype=float)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-12, atol=1e-12):
            raise ProofError(f"worked example: {got.tolist()} != {expected.tolist()}")
    return step


def _number(name: str, value: object) -> sp.Float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return sp.Float(number, 15)


def _matrix(name: str, value: object, rank: int, length: int | None = None) -> sp.Matrix:
    """A nested list or array of real numbers as a sympy column (rank 1) or matrix (rank 2)."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}") from None
    if array.ndim != rank or array.size == 0:
        expected = "a non-empty matrix (rows, cols)" if rank == 2 else "a non-empty vector"
        raise ValueError(f"{name} must be {expected}, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers")
    array = array.reshape(-1, 1) if rank == 1 else array
    return sp.Matrix(array.shape[0], array.shape[1], lambda r, c: sp.Float(float(array[r, c]), 15))

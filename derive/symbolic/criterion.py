"""Torch7's ``nn.MSECriterion`` as a spec: J = (1/N) sum (yhat - y)^2, or the plain sum.

The loss is the start of the chain rule: its gradient dJ/dyhat is what the last layer
receives as gradOutput.  sympy derives it in matrix form from
``Trace((yhat - y)^T (yhat - y))``; the element-wise steps are proved as for the layers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from .derivation import Derivation, Grid, Named, Notation, Result, Section, Step, proved
from .linear import B, LOSS, _d, _frac, _size

n = sp.Symbol("n", integer=True, positive=True)
_l, _s = sp.symbols("l s", integer=True, positive=True)
#: The number of elements, as the element-wise steps write it (it stands for n or B n).
N = sp.Symbol("N", integer=True, positive=True)


@dataclass(frozen=True)
class MSESpec:
    """Mean (sizeAverage, Torch's default) or sum of squared differences, over all elements."""

    size_average: bool = True
    batch: bool = False

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (B, n) if self.batch else (n, 1)

    @property
    def count(self) -> sp.Expr:
        """N, the number of elements Torch divides by (input:nElement())."""
        return B * n if self.batch else n

    @property
    def prediction(self) -> sp.MatrixSymbol:
        return sp.MatrixSymbol("Yhat" if self.batch else "yhat", *self.shape)

    @property
    def target(self) -> sp.MatrixSymbol:
        return sp.MatrixSymbol("Y" if self.batch else "y", *self.shape)

    def loss(self) -> sp.Expr:
        """J in matrix form: Trace(D^T D) (/ N), with D = yhat - y."""
        difference = self.prediction - self.target
        total = sp.Trace(difference.T * difference)
        return total / self.count if self.size_average else total

    def gradient(self) -> sp.MatrixExpr:
        """dJ/dyhat, derived by sympy."""
        return self.loss().diff(self.prediction)

    def coefficient(self) -> sp.Expr:
        """c in dJ/dyhat = c (yhat - y): 2/N with sizeAverage, else 2."""
        gradient = self.gradient().expand()
        terms = gradient.args if isinstance(gradient, sp.MatAdd) else (gradient,)
        parts = {}
        for term in terms:
            scalars = [a for a in term.args if not getattr(a, "is_Matrix", False)]
            matrices = [a for a in term.args if getattr(a, "is_Matrix", False)]
            parts[tuple(matrices)] = sp.Mul(*scalars)
        c = parts.get((self.prediction,))
        if c is None or set(parts) != {(self.prediction,), (self.target,)} or \
                sp.simplify(parts[(self.target,)] + c) != 0:
            raise AssertionError(f"dJ/dyhat = {gradient} is not c (yhat - y)")
        return c

    def factored(self) -> sp.MatrixExpr:
        """dJ/dyhat written c (yhat - y), once ``coefficient`` has checked that it is."""
        return sp.MatMul(self.coefficient(), self.prediction - self.target)

    def loss_element(self) -> sp.Expr:
        """J written with elements: (1/N) sum over every element of (yhat - y)^2."""
        yhat, y = sp.IndexedBase(self.prediction.name), sp.IndexedBase(self.target.name)
        if self.batch:
            total = sp.Sum((yhat[_s, _l] - y[_s, _l]) ** 2, (_l, 1, n), (_s, 1, B))
        else:
            total = sp.Sum((yhat[_l] - y[_l]) ** 2, (_l, 1, n))
        return total / N if self.size_average else total


def mse(size: int, *, size_average: bool = True, batch: int | None = None) -> Derivation:
    """The derivation of ``nn.MSECriterion(sizeAverage)`` on ``size`` outputs, proved."""
    sizes = {n: _size("size", size)}
    if batch is not None:
        sizes[B] = _size("batch", batch)
    spec = MSESpec(size_average=size_average, batch=batch is not None)
    title = f"nn.MSECriterion on {sizes[n]} outputs" + ("" if size_average else ", sizeAverage false")
    if batch is not None:
        title += f", batch of {sizes[B]}"
    rows, cols = spec.shape
    name = r"\hat{\mathbf{Y}}" if spec.batch else r"\hat{\mathbf{y}}"
    results = {
        "J": Result("J", spec.loss(), ()),
        "dJ/dyhat": Result(_frac("J", name), spec.factored(), (rows,) if cols == 1 else (rows, cols)),
    }
    return Derivation(title, list(_sections(spec)), sizes, results)


@functools.cache
def _sections(spec: MSESpec) -> tuple[Section, ...]:
    yhat = sp.IndexedBase(spec.prediction.name)
    rows, cols = spec.shape
    notation = Notation({spec.prediction: yhat, spec.target: sp.IndexedBase(spec.target.name)},
                        {LOSS: spec.loss_element, N: lambda: spec.count}, LOSS, None, None,
                        spec.shape)

    y = sp.IndexedBase(spec.target.name)

    def element(r, c):
        return yhat[r] if cols == 1 else yhat[r, c]

    def target(r, c):
        return y[r] if cols == 1 else y[r, c]

    averaged = (r"divided by $N$, the number of elements (" +
                (r"$N = B n$" if spec.batch else r"$N = n$") + ")," if spec.size_average
                else "not averaged (sizeAverage false),")
    definition = Section(
        "Loss", f"The sum of squared differences over every element, {averaged} as Torch does.",
        [Step(LOSS, (spec.loss_element(), spec.loss()), relation="def")],
    )
    dj = Grid(spec.shape, lambda r, c: sp.Derivative(LOSS, element(r, c)))
    # c = 2/N, with N kept as a letter in the element-wise steps (it is defined above).
    c = spec.coefficient()
    coefficient = sp.simplify(c * spec.count) / N if spec.size_average else c
    name_of = (r"\hat{\mathbf{Y}} - \mathbf{Y}" if spec.batch else r"\hat{\mathbf{y}} - \mathbf{y}")
    symbolic = ((Named(rf"\frac{{2}}{{N}}\left({name_of}\right)", spec.factored()),)
                if spec.size_average else ())
    name = r"\hat{\mathbf{Y}}" if spec.batch else r"\hat{\mathbf{y}}"
    gradient = Section("Gradient", "What backward returns: the gradOutput the last layer "
                       "receives.", [
        proved(Step(
            Named(_frac("J", name), dj),
            (dj,
             Grid(spec.shape, lambda r, c: _d(spec.loss_element(), element(r, c))),
             Grid(spec.shape, lambda r, c: sp.Mul(coefficient, element(r, c) - target(r, c),
                                                  evaluate=False)),
             *symbolic,
             spec.factored()),
        ), notation, (n, B)),
    ])
    return (definition, gradient)

"""A derivation is data: a list of proved steps that the renderer, CLI, site and tests consume.

A step is a chain of equal forms ``lhs = f1 = f2 = ...``.  Each form is a size-free
description of a scalar or a matrix: a sympy scalar, a sympy matrix expression
(``W.T*g``), a :class:`Grid` (a matrix given entry by entry by an index template), or a
:class:`Product` of such.  The engine (``layer.py``) proves every equality in a chain
before it builds the step, at the index level, with symbolic sizes and symbolic 1-based
indices; the concrete sizes the derivation is shown at are bound afterwards, so a proof
covers every size and costs the same for a 2x3 layer as for a 100000x100000 one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import sympy as sp

# Index symbols: positive integers, the way the tutorial counts (w_{11} is the first weight).
ROW, COL = sp.symbols("i_r i_c", integer=True, positive=True)
_SLACK_ROW, _SLACK_COL = sp.symbols("p_r p_c", integer=True, nonnegative=True)


@dataclass(frozen=True)
class Grid:
    """A matrix of ``shape`` shown entry by entry; ``entry(i, j)`` is the 1-based entry."""

    shape: tuple[sp.Expr, sp.Expr]
    entry: Callable[[sp.Expr, sp.Expr], sp.Expr]


@dataclass(frozen=True)
class Transposed:
    """The transpose of a grid, shown as ``[...]^T`` (the blog's way of writing a step)."""

    grid: Grid

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (self.grid.shape[1], self.grid.shape[0])

    def entry(self, i: sp.Expr, j: sp.Expr) -> sp.Expr:
        return self.grid.entry(j, i)


@dataclass(frozen=True)
class Product:
    """Factors written side by side and meant as a matrix product."""

    factors: tuple["Form", ...]


@dataclass(frozen=True)
class Plus:
    """Terms written side by side and meant as a sum (``[W][x] + [b]``)."""

    terms: tuple["Form", ...]


@dataclass(frozen=True)
class Scaled:
    """A number times a form (``0.02 [...]``), shown unevaluated."""

    factor: sp.Expr
    form: "Form"


@dataclass(frozen=True)
class Named:
    """A form shown by its name and proved by its content.

    The name is LaTeX (``\\frac{\\partial J}{\\partial \\mathbf{x}}``) or an element-wise
    array expression (a sympy expression in whole arrays, shown with \\odot products).
    """

    latex: str | sp.Expr
    form: "Form"


Form = Union[sp.Expr, sp.MatrixExpr, Grid, Transposed, Product, Plus, Scaled, Named]


@dataclass(frozen=True)
class Step:
    """``lhs = chain[0] = chain[1] = ...``, each equality proved before the step exists."""

    lhs: Form
    chain: tuple[Form, ...]
    text: str = ""
    relation: str = "="  # "<-" for an update, "def" for a definition: nothing to prove


@dataclass
class Section:
    """A titled group of steps with the prose that introduces them."""

    title: str
    text: str
    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """One result of a derivation: its symbol in LaTeX, its matrix form, its shape.

    ``str(result)`` reads in the layer language (``(g * sigmoid(V @ x)) @ x.T``); in a
    notebook a result shows as display math.
    """

    latex: str
    expr: sp.Expr
    shape: tuple[sp.Expr, ...]
    elementwise: bool = False  # products of whole arrays are element-wise (\odot)

    def __str__(self) -> str:
        """The result in the layer language's notation: ``(g * sigmoid(V @ x)) @ x.T``."""
        from .notation import notation

        return notation(self.expr)

    def _repr_latex_(self) -> str:
        """Jupyter: the result as display math, ``\\frac{\\partial J}{\\partial \\mathbf{W}} = ...``."""
        from ..latex import BlogPrinter, ElementwisePrinter, readable_names

        printer = ElementwisePrinter() if self.elementwise else BlogPrinter()
        return f"$$ {readable_names(self.latex)} = {printer.doprint(self.expr)} $$"


@dataclass
class Derivation:
    """A titled list of sections, plus the sizes the size-free steps are shown at.

    ``sizes`` binds the size symbols (``n``, ``m``, ``B``) to integers; ``results`` maps
    each result's name (``dJ/dx``, ...) to its :class:`Result`; ``names`` maps an array's
    name to how its elements are written (``W`` -> ``w``: the tutorial's w_{12}). In a
    notebook a derivation shows itself as the site's pages do (markdown with display math).
    """

    title: str
    sections: list[Section]
    sizes: dict[sp.Symbol, int]
    results: dict[str, Result] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> list[Step]:
        return [step for section in self.sections for step in section.steps]

    def _repr_markdown_(self) -> str:
        """Jupyter: the derivation as the site shows it, markdown with display math."""
        from ..latex import markdown

        return markdown(self, heading_level=2)


class ProofError(AssertionError):
    """A displayed equality could not be proved; the derivation is not emitted."""


def shape_of(form: Form) -> tuple[sp.Expr, sp.Expr]:
    """(rows, cols) of a matrix form, as sympy integers or size symbols."""
    if isinstance(form, Product):
        return (shape_of(form.factors[0])[0], shape_of(form.factors[-1])[1])
    if isinstance(form, Plus):
        return shape_of(form.terms[0])
    if isinstance(form, (Scaled, Named)):
        return shape_of(form.form)
    return tuple(sp.sympify(d) for d in form.shape)

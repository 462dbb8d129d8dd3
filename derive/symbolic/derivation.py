"""A derivation is data: a list of proved steps that the renderer, CLI, site and tests consume.

A step is a chain of equal forms ``lhs = f1 = f2 = ...``.  Each form is a size-free
description of a scalar or a matrix: a sympy scalar, a sympy matrix expression
(``W.T*g``), a :class:`Grid` (a matrix given entry by entry by an index template), or a
:class:`Product` of such.  Every equality in a chain is proved once, at the index level,
with symbolic sizes and symbolic 1-based indices; the concrete sizes the derivation is
shown at are bound afterwards, so a proof covers every size and costs the same for a
2x3 layer as for a 100000x100000 one.  Forms whose shapes are concrete integers (worked
numeric examples, small stacks of layers) are proved entry by entry instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union

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
    """One result of a derivation: its symbol in LaTeX, its matrix form, its shape."""

    latex: str
    expr: sp.Expr
    shape: tuple[sp.Expr, ...]
    elementwise: bool = False  # products of whole arrays are element-wise (\odot)


@dataclass
class Derivation:
    """A titled list of sections, plus the sizes the size-free steps are shown at.

    ``sizes`` binds the size symbols (``n``, ``m``, ``B``) to integers; ``results`` maps
    each result's name (``dJ/dx``, ...) to its :class:`Result`.
    """

    title: str
    sections: list[Section]
    sizes: dict[sp.Symbol, int]
    results: dict[str, Result] = field(default_factory=dict)

    @property
    def steps(self) -> list[Step]:
        return [step for section in self.sections for step in section.steps]


class ProofError(AssertionError):
    """A displayed equality could not be proved; the derivation is not emitted."""


# --- elements of forms -------------------------------------------------------------

@dataclass(frozen=True)
class Notation:
    """How matrix symbols map to their elements, and what each named element means.

    ``elements`` maps a MatrixSymbol to the IndexedBase of its elements (``W`` -> ``w``).
    ``definitions`` maps an IndexedBase to a function giving the expression an element
    stands for (``y[i]`` -> ``sum_l w[i,l] x[l] + b[i]``), or the loss symbol itself to
    a function of no argument when the loss is defined (a criterion).  Otherwise the loss
    is given through its gradient: ``dJ/dv`` expands by the chain rule over the elements
    of ``output`` (of ``output_shape``) as ``sum_o grad_output[o] d output[o] / dv``.
    """

    elements: Mapping[sp.MatrixSymbol, sp.IndexedBase]
    definitions: Mapping[sp.Basic, Callable[..., sp.Expr]]
    loss: sp.Symbol
    output: sp.IndexedBase | None
    grad_output: sp.IndexedBase | None
    output_shape: tuple[sp.Expr, sp.Expr]

    def indexed(self, base: sp.IndexedBase, i: sp.Expr, j: sp.Expr, shape) -> sp.Expr:
        """``base[i]`` for a column vector, ``base[i, j]`` for a matrix."""
        return base[i] if shape[1] == 1 else base[i, j]


def element(form: Form, i: sp.Expr, j: sp.Expr, notation: Notation) -> sp.Expr:
    """The (i, j) entry (1-based) of a form, with sums over inner indices unevaluated."""
    if isinstance(form, (Grid, Transposed)):
        return form.entry(i, j)
    if isinstance(form, Named):
        return element(form.form, i, j, notation)
    if isinstance(form, Plus):
        return sp.Add(*(element(t, i, j, notation) for t in form.terms))
    if isinstance(form, Scaled):
        return form.factor * element(form.form, i, j, notation)
    if isinstance(form, Product):
        left, *rest = form.factors
        if not rest:
            return element(left, i, j, notation)
        right = Product(tuple(rest)) if len(rest) > 1 else rest[0]
        inner = shape_of(left)[1]
        if inner.is_Integer:  # numeric examples: grids that only take concrete indices
            return sp.Add(*(element(left, i, d, notation) * element(right, d, j, notation)
                            for d in range(1, int(inner) + 1)))
        d = sp.Dummy("d", integer=True, positive=True)
        return sp.Sum(element(left, i, d, notation) * element(right, d, j, notation), (d, 1, inner))
    if isinstance(form, sp.MatrixSymbol):
        return notation.indexed(notation.elements[form], i, j, form.shape)
    if isinstance(form, sp.Transpose):
        return element(form.arg, j, i, notation)
    if isinstance(form, sp.MatMul):
        scalars = [a for a in form.args if not a.is_Matrix]
        matrices = [a for a in form.args if a.is_Matrix]
        return sp.Mul(*scalars) * element(Product(tuple(matrices)), i, j, notation)
    if isinstance(form, sp.MatAdd):
        return sp.Add(*(element(a, i, j, notation) for a in form.args))
    if isinstance(form, sp.OneMatrix):
        return sp.Integer(1)
    if isinstance(form, sp.Identity):
        return sp.KroneckerDelta(i, j)
    if isinstance(form, sp.ZeroMatrix):
        return sp.Integer(0)
    raise TypeError(f"no element rule for {type(form).__name__}: {form}")


def shape_of(form: Form) -> tuple[sp.Expr, sp.Expr]:
    """(rows, cols) of a matrix form, as sympy integers or size symbols."""
    if isinstance(form, Product):
        return (shape_of(form.factors[0])[0], shape_of(form.factors[-1])[1])
    if isinstance(form, Plus):
        return shape_of(form.terms[0])
    if isinstance(form, (Scaled, Named)):
        return shape_of(form.form)
    return tuple(sp.sympify(d) for d in form.shape)


def is_matrix(form: Form) -> bool:
    """True for forms that have entries (grids, products, matrix expressions)."""
    if isinstance(form, (Grid, Transposed, Product, Plus)):
        return True
    if isinstance(form, (Scaled, Named)):
        return is_matrix(form.form)
    return getattr(form, "is_Matrix", False)


# --- proving -----------------------------------------------------------------------

def meaning(expr: sp.Expr, notation: Notation) -> sp.Expr:
    """Replace named elements by their definitions, expand dJ/dv by the chain rule, evaluate."""
    scalars = {k: define() for k, define in notation.definitions.items()
               if isinstance(k, sp.Symbol)}
    if scalars:  # a criterion: J is defined, not given (and so may be N, its count)
        for _ in range(len(scalars)):
            expr = expr.xreplace(scalars)
    expr = _apply_chain_rule(expr, notation)
    expr = _substitute_definitions(expr, notation)
    return _collapse(expr)


def _apply_chain_rule(expr: sp.Expr, notation: Notation) -> sp.Expr:
    # dJ/dv = sum over every output element o of dJ/do * do/dv: the multivariable chain
    # rule, the one fact the derivations take as given.
    loss = notation.loss

    def expand(d: sp.Derivative) -> sp.Expr:
        (variable, _count), = d.variable_count
        rows, cols = notation.output_shape
        r = sp.Dummy("o", integer=True, positive=True)
        if cols == 1:
            return sp.Sum(
                notation.grad_output[r] * sp.Derivative(notation.output[r], variable), (r, 1, rows)
            )
        c = sp.Dummy("o", integer=True, positive=True)
        return sp.Sum(
            notation.grad_output[r, c] * sp.Derivative(notation.output[r, c], variable),
            (c, 1, cols),
            (r, 1, rows),
        )

    return expr.replace(
        lambda e: isinstance(e, sp.Derivative) and e.expr == loss, expand
    )


def _substitute_definitions(expr: sp.Expr, notation: Notation) -> sp.Expr:
    definitions = notation.definitions
    if not any(isinstance(base, sp.IndexedBase) for base in definitions):
        return expr
    # Definitions may use other defined elements (a stack: y uses h2, h2 uses h1).
    for _ in range(len(definitions) + 1):
        new = expr.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base in definitions,
            lambda e: definitions[e.base](*e.indices),
        )
        if new == expr:
            return new
        expr = new
    return expr


def _sum_of_delta_piece(s: sp.Sum) -> sp.Expr:
    """sum_v Piecewise((delta(v, a) e, c), (0, True)) = Piecewise((e, c), (0, True)) at v = a.

    sympy sums a Kronecker delta away, but not from inside a Piecewise (a derivative of
    ReLU gives such pieces); the range condition lo <= a <= hi is kept, as sympy does.
    """
    if not isinstance(s.function, sp.Piecewise):
        return s
    if len(s.limits) > 1:  # sum one index at a time, trying each as the inner one
        for inner in s.limits:
            summed = _sum_of_delta_piece(sp.Sum(s.function, inner))
            if not isinstance(summed, sp.Sum):
                return sp.Sum(summed, *(lim for lim in s.limits if lim is not inner))
        return s
    (v, lo, hi), = s.limits
    (value, condition), *rest = s.function.args
    if not (len(rest) == 1 and rest[0] == (0, True) and isinstance(value, sp.Mul)):
        return s
    for delta in (f for f in value.args if isinstance(f, sp.KroneckerDelta) and v in f.args):
        a = delta.args[1] if delta.args[0] == v else delta.args[0]
        if v in a.free_symbols:
            continue
        others = sp.Mul(*(f for f in value.args if f is not delta))
        in_range = sp.And(sp.Ge(a, lo), sp.Le(a, hi))
        return sp.Piecewise((others.xreplace({v: a}), sp.And(condition.xreplace({v: a}), in_range)),
                            (0, True))
    return s


def _collapse(expr: sp.Expr) -> sp.Expr:
    """Evaluate derivatives and sums over Kronecker deltas until nothing changes."""
    for _ in range(6):
        new = expr.doit()
        new = new.replace(lambda e: isinstance(e, sp.Sum), _sum_of_delta_piece)
        new = new.replace(lambda e: isinstance(e, sp.Sum) and len(e.limits) > 1, _best_order)
        if new == expr:
            break
        expr = new
    return expr


def _indices_in_range(expr: sp.Expr) -> sp.Expr:
    """Take the branch of ``Piecewise((e, 1 <= k <= n), (0, True))`` where indices are in range.

    Free indices of an index-level step range over their sizes by definition, and the
    only conditions sympy attaches to derivatives of finite sums are such range checks.
    """
    def in_range(p: sp.Piecewise) -> sp.Expr:
        (value, condition), *_ = p.args
        relations = condition.args if isinstance(condition, sp.And) else (condition,)
        if all(isinstance(r, (sp.GreaterThan, sp.LessThan, sp.StrictGreaterThan,
                              sp.StrictLessThan)) and all(a.is_integer for a in r.free_symbols)
               for r in relations):
            return value
        return p

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), in_range)


def _best_order(s: sp.Sum) -> sp.Expr:
    # sympy sums a Kronecker delta away only when its variable is the innermost limit:
    # try each order of the limits and keep the one that leaves the fewest.
    best = s
    for limits in itertools.permutations(s.limits):
        candidate = sp.Sum(s.function, *limits).doit().doit()
        if _count_limits(candidate) < _count_limits(best):
            best = candidate
    return best


def _count_limits(expr: sp.Expr) -> int:
    return sum(len(s.limits) for s in expr.atoms(sp.Sum))


def canonical(expr: sp.Expr) -> sp.Expr:
    """Rename the bound variables of sums in order of appearance, so equal sums compare equal."""
    counter = itertools.count()

    def rename(s: sp.Sum) -> sp.Sum:
        function, limits = s.function, []
        for var, lo, hi in s.limits:
            new = sp.Symbol(f"_k{next(counter)}", integer=True, positive=True)
            function = function.xreplace({var: new})
            limits.append((new, lo, hi))
        return sp.Sum(function, *limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum), rename)


def equal(a: sp.Expr, b: sp.Expr) -> bool:
    """Decide a == b for the polynomial-and-sum expressions derivations produce."""
    if a.is_number and b.is_number:  # worked examples in floating point
        a, b = complex(a), complex(b)
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    a, b = sp.piecewise_fold(a), sp.piecewise_fold(b)
    a, b = canonical(sp.expand(a)), canonical(sp.expand(b))
    if a == b:
        return True
    difference = sp.expand(a - b)
    if difference == 0:
        return True
    return sp.simplify(difference) == 0


def prove_step(step: Step, notation: Notation, sizes: Sequence[sp.Symbol]) -> None:
    """Prove every equality of ``step`` for all sizes and indices, or raise ProofError."""
    if step.relation != "=":
        return
    forms = (step.lhs, *step.chain)
    # Each form of the chain takes part in two equalities; its meaning is worked out once.
    meanings: dict[int, sp.Expr | list[sp.Expr]] = {}

    def meaning_of(k: int):
        if k not in meanings:
            meanings[k] = _form_meaning(forms[k], notation, sizes)
        return meanings[k]

    for k, (left, right) in enumerate(zip(forms, forms[1:])):
        if is_matrix(left) != is_matrix(right):
            raise ProofError(f"cannot equate a matrix and a scalar: {left} = {right}")
        if not is_matrix(left):
            a, b = meaning_of(k), meaning_of(k + 1)
            if not equal(a, b):
                raise ProofError(f"{left} = {right} does not hold: {a} vs {b}")
            continue
        shape_l, shape_r = shape_of(left), shape_of(right)
        if tuple(shape_l) != tuple(shape_r):
            raise ProofError(f"shapes differ: {shape_l} vs {shape_r}")
        for entry, (a, b) in zip(_entries(shape_l), zip(meaning_of(k), meaning_of(k + 1))):
            if not equal(a, b):
                raise ProofError(f"entry {entry} differs: {a} vs {b}")


def _entries(shape: tuple[sp.Expr, sp.Expr]) -> list[tuple[sp.Expr, sp.Expr]]:
    """The (row, column) entries a matrix of ``shape`` is proved at, 1-based.

    Every entry when the shape is concrete (a numeric example); else one generic
    entry (i, j), with 1 <= i <= rows and 1 <= j <= cols.
    """
    rows, cols = shape
    if rows.is_Integer and cols.is_Integer:
        return list(itertools.product(range(1, int(rows) + 1), range(1, int(cols) + 1)))
    return [(sp.Integer(1) if rows == 1 else ROW, sp.Integer(1) if cols == 1 else COL)]


def _form_meaning(form: Form, notation: Notation, sizes) -> sp.Expr | list[sp.Expr]:
    """What ``prove_step`` compares: a scalar's meaning, or a matrix's at each of its _entries."""
    if not is_matrix(form):
        return _indices_in_range(meaning(form, notation))
    rows, cols = shape = shape_of(form)
    if rows.is_Integer and cols.is_Integer:
        return [meaning(element(form, r, c, notation), notation) for r, c in _entries(shape)]
    # The size symbols are written as rows = i + p, cols = j + q (p, q >= 0) so that
    # sympy can settle range conditions.
    (i, j), = _entries(shape)
    binding = {}
    if rows in sizes:
        binding[rows] = ROW + _SLACK_ROW
    if cols in sizes and cols != rows:
        binding[cols] = COL + _SLACK_COL
    return [_collapse(meaning(element(form, i, j, notation).xreplace(binding), notation).xreplace(binding))]


def proved(step: Step, notation: Notation, sizes: Sequence[sp.Symbol]) -> Step:
    """Return ``step`` after proving it (raises ProofError otherwise)."""
    prove_step(step, notation, sizes)
    return step

"""The layer language: one expression, parsed against a whitelist, lowered to index form.

Two notations share one grammar:

* array notation, numpy-like: ``y = tanh(W @ x + b)``, ``J = mean((x - t)**2)``;
* index notation, 1-based like the displayed elements:
  ``y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]``.

The text goes through Python's ``ast.parse`` only to be read: every node is checked
against a whitelist and nothing is ever evaluated.  What comes out is a
:class:`LayerSpec`: the output's element as a sympy expression of ``Indexed``
elements (one ``IndexedBase`` per array) with explicit sums over index ranges, and
every size a positive integer symbol, bound to the concrete sizes it is shown at.
"""

from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import sympy as sp

from .functions import FUNCTIONS, Extremum, Maximum, Minimum, clamp, maximum, minimum, where

#: Longer texts are refused before they are parsed.
MAX_LENGTH = 4000
#: Array notation names its sizes in this order (the input's first).
_SIZE_NAMES = ("n", "m", "p", "r", "u", "v", "w", "h")
#: ... and the indices of its elements from these (never a size's name).
_INDEX_NAMES = ("i", "j", "k", "l", "a", "c", "d", "e", "f", "o", "q", "s", "t")
#: Names the derivation itself uses.
RESERVED = {"J", "sum", "mean", "len", "g", "G", "np", "scale", "self"} | set(FUNCTIONS)  # J may name a criterion's output
#: Calls beyond the one-argument functions: extrema (over indices, or of two operands), clamp, where.
CALLS = ("max", "min", "clamp", "where")
RESERVED |= set(CALLS) | {"concat"}
#: Comparisons, for where's condition only.
_COMPARISONS = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
                ast.GtE: sp.GreaterThan, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}


class LayerSyntaxError(ValueError):
    """The text is not a layer of the language; the message names what and where (column)."""


@dataclass(frozen=True)
class ArrayInfo:
    """One array of the layer: its name, symbolic shape and role."""

    name: str
    shape: tuple[sp.Expr, ...]
    role: str  # "input", "parameter", "target", "constant" or "output"
    integer: bool = False  # used inside subscripts: 0-based integers, never differentiated

    @property
    def base(self) -> sp.IndexedBase:
        return sp.IndexedBase(self.name, real=True)


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class LayerSpec:
    """A layer as the engine sees it: output element = ``expr`` at ``indices``.

    ``arrays`` lists the arrays in order of first appearance (the output last);
    ``sizes`` binds each size symbol to the integer it is shown at; ``ranges``
    gives every index symbol's range (1 .. size).
    """

    text: str
    output: ArrayInfo
    indices: tuple[sp.Symbol, ...]
    expr: sp.Expr
    arrays: dict[str, ArrayInfo]
    sizes: dict[sp.Symbol, int]
    ranges: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    notation: str = "array"
    #: A batch's sample index and size (set by layer.batch_spec; s and B unless the layer uses them).
    sample: sp.Symbol | None = None
    batch_size: sp.Symbol | None = None
    #: A criterion's sample weight (ClassNLL's w[t]): a batch's mean loss is the sum of the
    #: samples' losses over the sum of their weights (layer.batch_spec), not over their number.
    weight: sp.Expr | None = None

    @property
    def input(self) -> ArrayInfo:
        return next(a for a in self.arrays.values() if a.role == "input")

    @property
    def target(self) -> ArrayInfo | None:
        return next((a for a in self.arrays.values() if a.role == "target"), None)

    @property
    def parameters(self) -> list[ArrayInfo]:
        return [a for a in self.arrays.values() if a.role == "parameter"]

    @property
    def is_criterion(self) -> bool:
        return not self.output.shape

    def concrete(self, shape: Sequence[sp.Expr]) -> tuple[int, ...]:
        """A symbolic shape at the sizes the layer is shown at."""
        return tuple(int(sp.sympify(d).xreplace(self.sizes)) for d in shape)


# --- errors with a column -------------------------------------------------------------

def _fail(node: ast.AST | None, message: str) -> LayerSyntaxError:
    if node is not None and hasattr(node, "col_offset"):
        return LayerSyntaxError(f"column {node.col_offset + 1}: {message}")
    return LayerSyntaxError(message)


# --- shapes with symbolic sizes ------------------------------------------------------

class _Sizes:
    """Size symbols, their concrete values, and the equalities the expression imposes."""

    def __init__(self) -> None:
        self.value: dict[sp.Symbol, int] = {}
        self.alias: dict[sp.Symbol, sp.Expr] = {}  # sizes found equal to an earlier one
        self.names = iter(_SIZE_NAMES + tuple(f"n_{k}" for k in range(1, 100)))

    def new(self, value: int, name: str | None = None) -> sp.Symbol:
        symbol = sp.Symbol(name or next(self.names), integer=True, positive=True)
        while name is None and symbol in self.value:
            symbol = sp.Symbol(next(self.names), integer=True, positive=True)
        self.value[symbol] = value
        return symbol

    def unify(self, a: sp.Expr, b: sp.Expr, node: ast.AST, what: str) -> sp.Expr:
        """a and b must be the same size; returns the one kept."""
        a, b = self.resolve(a), self.resolve(b)
        va, vb = int(a.xreplace(self.value)), int(b.xreplace(self.value))
        if va != vb:
            raise _fail(node, f"shapes do not fit: {what} ({va} vs {vb})")
        if a == b:
            return a
        order = list(self.value)
        # The size named first stays (the input's sizes are named first: n, then m).
        if isinstance(a, sp.Symbol) and isinstance(b, sp.Symbol) and order.index(b) < order.index(a):
            a, b = b, a
        if isinstance(b, sp.Symbol):
            self.alias[b] = a
            return a
        if isinstance(a, sp.Symbol):
            self.alias[a] = b
            return b
        return a

    def check(self, a: sp.Expr, value: int, node: ast.AST, what: str) -> None:
        """a must have this concrete value."""
        if int(self.resolve(a).xreplace(self.value)) != value:
            raise _fail(node, f"shapes do not fit: {what}")

    def resolve(self, expr):
        """``expr`` with every size written by the one it was found equal to."""
        for _ in range(len(self.alias) + 1):
            new = sp.sympify(expr).xreplace(self.alias)
            if new == expr:
                return new
            expr = new
        return expr


def _parse_shapes(shapes: Mapping[str, Sequence[int]] | None) -> dict[str, tuple[int, ...]]:
    out = {}
    for name, shape in (shapes or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"shape names must be identifiers, got {name!r}")
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        try:
            dims = tuple(shape)
        except TypeError:
            raise TypeError(f"shape of {name} must be a sequence of positive ints, got {shape!r}") from None
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise ValueError(f"shape of {name} must hold positive ints, got {shape!r}")
        out[name] = dims
    return out


def _parse_ranges(ranges: Mapping[str, int] | None) -> dict[str, int]:
    out = {}
    if ranges is not None and not isinstance(ranges, Mapping):
        raise TypeError(f"ranges must map index names to positive ints, got {type(ranges).__name__}")
    for name, size in (ranges or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"range names must be index names, got {name!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"the range of {name} must be a positive int, got {size!r}")
        out[name] = size
    return out


def _parse_constants(constants: Sequence[str], input: str, target: str | None) -> tuple[str, ...]:
    if isinstance(constants, str):
        constants = (constants,)
    out = []
    for name in constants:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"constants must name arrays, got {name!r}")
        if name in (input, target):
            raise ValueError(f"{name} is the {'input' if name == input else 'target'}, not a constant")
        if name not in out:
            out.append(name)
    return tuple(out)


def _number(node: ast.AST, what: str) -> sp.Expr:
    """A number written in the text (3, -1.5): clamp's bounds."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if not isinstance(node, ast.Constant):
        raise _fail(node, f"{what} must be a number")
    value = sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value, 15)
    return sign * value


def _extremum_over(name: str, body: sp.Expr, limits) -> sp.Expr:
    return (Maximum if name == "max" else Minimum)(body, *limits)


def _elementwise_call(name: str, node: ast.Call):
    """(operand nodes, how to build the element from them) of max(a, b), min(a, b), clamp, where."""
    args = node.args
    if name in ("max", "min"):
        if len(args) != 2:
            raise _fail(node, f"{name}(a, b) takes two operands element-wise; {name}(e) is the {name} "
                        f"of all entries (array notation), {name}(e, k, ...) over indices (index notation)")
        return list(args), (maximum if name == "max" else minimum)
    if name == "clamp":
        if len(args) != 3:
            raise _fail(node, "clamp(x, lo, hi) takes three arguments")
        lo, hi = _number(args[1], "clamp's lower bound"), _number(args[2], "clamp's upper bound")
        if not lo < hi:
            raise _fail(node, f"clamp's bounds must have lo < hi, got {lo} and {hi}")
        return [args[0]], lambda z: clamp(z, lo, hi)
    if len(args) != 3 or not isinstance(args[0], ast.Compare):
        raise _fail(node, "where(condition, a, b) takes a comparison (x > 0) and two values")
    relation = _COMPARISONS[type(args[0].ops[0])]
    operands = [args[0].left, args[0].comparators[0], args[1], args[2]]
    return operands, lambda left, right, a, b: where(relation(left, right), a, b)


# --- the whitelist ---------------------------------------------------------------------

_ALLOWED = (ast.Module, ast.Assign, ast.Expr, ast.Name, ast.Subscript, ast.Tuple, ast.Constant,
            ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.Load, ast.Store,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult, ast.USub, ast.UAdd,
            ast.Compare, *_COMPARISONS)


#: Index arithmetic: floor division and remainder by an integer constant, in subscripts only.
_INDEX_ARITHMETIC = (ast.FloorDiv, ast.Mod)
#: What a subscript may call on affine forms (non-affine subscripts: padding by reflection, replication).
_INDEX_CALLS = {"min": sp.Min, "max": sp.Max, "abs": sp.Abs}

# What a construct outside the language is called in an error: the language's words, not the AST's.
_CONSTRUCTS = {
    "BoolOp": "and/or", "Not": "not",
    "NamedExpr": "an assignment expression (:=)", "AugAssign": "an augmented assignment (+=, ...)",
    "AnnAssign": "an annotated assignment", "ListComp": "a list comprehension",
    "SetComp": "a set comprehension", "DictComp": "a dict comprehension",
    "GeneratorExp": "a generator expression", "Lambda": "a lambda", "IfExp": "a conditional (a if c else b)",
    "List": "a list", "Set": "a set", "Dict": "a dict", "Starred": "a starred expression (*x)",
    "Slice": "a slice (a:b)", "JoinedStr": "an f-string", "FormattedValue": "an f-string",
    "FloorDiv": "floor division (//)", "Mod": "the remainder (%)", "BitAnd": "bitwise and (&)",
    "BitOr": "bitwise or (|)", "BitXor": "bitwise xor (^; the power is **)", "LShift": "a shift (<<)",
    "RShift": "a shift (>>)", "Invert": "bitwise not (~)", "Await": "await", "Yield": "yield",
    "YieldFrom": "yield", "Import": "import", "ImportFrom": "import", "FunctionDef": "a function definition",
    "ClassDef": "a class definition", "For": "a for loop", "While": "a while loop", "If": "an if statement",
    "With": "a with statement", "Return": "return", "Delete": "del", "Assert": "assert",
}


def _check_whitelist(tree: ast.AST) -> None:
    conditions = {id(n.args[0]) for n in ast.walk(tree) if isinstance(n, ast.Call)
                  and isinstance(n.func, ast.Name) and n.func.id == "where" and n.args}
    # // and % are index arithmetic: allowed inside a subscript only
    in_subscripts = {id(n) for s in ast.walk(tree) if isinstance(s, ast.Subscript) for n in ast.walk(s.slice)}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, _INDEX_ARITHMETIC):
            what = _CONSTRUCTS[type(node.op).__name__]
            if id(node) not in in_subscripts:
                raise _fail(node, f"{what} is not part of the layer language outside a subscript: it is "
                            "index arithmetic, as in x[(i-1)//2 + 1]")
            continue
        if isinstance(node, _INDEX_ARITHMETIC):
            continue
        if isinstance(node, ast.Compare):
            if id(node) not in conditions:
                raise _fail(node, "a comparison is a condition, not a number: use it as the first "
                            "argument of where(condition, a, b)")
            if len(node.ops) != 1:
                raise _fail(node, "compare two values at a time (a < b), not a chain")
        if not isinstance(node, _ALLOWED):
            what = _CONSTRUCTS.get(type(node).__name__, type(node).__name__.lower())
            raise _fail(node, f"{what} is not part of the layer language")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                               or not isinstance(node.value, (int, float))):
            raise _fail(node, f"only numbers are allowed as constants, got {node.value!r}")
        if isinstance(node, ast.Attribute) and node.attr != "T":
            raise _fail(node, f"attribute .{node.attr} is not allowed (only .T, the transpose)")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise _fail(node, "only calls of named functions are allowed")
            if node.keywords:
                raise _fail(node, "keyword arguments are not allowed")
        if isinstance(node, ast.Subscript) and not isinstance(node.value, ast.Name):
            raise _fail(node, "only names can be indexed (x[i]), not other expressions")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise _fail(node, f"names may not start with '_', got {node.id!r}")


# --- numbers ---------------------------------------------------------------------------

def constant(value: int | float) -> sp.Expr:
    """A literal as the exact number it is written as (0.044715 is 8943/200000): exact
    arithmetic keeps proofs exact, where a float would leave rounding residues."""
    if isinstance(value, int):
        return sp.Integer(value)
    return sp.Rational(repr(value))


def as_written(expr):
    """``expr`` with each exact number a decimal literal made (8943/200000 from 0.044715, 1/100000
    from 1e-5: a denominator of 10 or more made of 2s and 5s, at most 12 digits) as that decimal
    again, for display; 1/2, 2/3 and 1/n stay fractions."""
    if not isinstance(expr, sp.Basic):
        return expr
    decimals = {}
    for r in expr.atoms(sp.Rational):
        q = int(r.q)
        while q % 10 == 0:
            q //= 10
        for prime in (2, 5):
            while q % prime == 0:
                q //= prime
        if r.q >= 10 and q == 1 and len(f"{float(r):.12g}".lstrip("-0.").replace(".", "")) <= 12:
            decimals[r] = sp.Float(f"{float(r):.12g}", 15)
    return expr.xreplace(decimals) if decimals else expr


_FLOAT_OF = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "tanh": math.tanh,
             "sin": math.sin, "cos": math.cos, "abs": abs,
             "sigmoid": lambda z: 1 / (1 + math.exp(-z)) if z > -700 else 0.0,
             "relu": lambda z: max(z, 0.0), "softplus": lambda z: math.log1p(math.exp(z)) if z < 700 else z}


def _check_numbers(tree: ast.AST, text: str) -> None:
    """Every part of the layer made of numbers alone must be a finite real number: x / 0,
    log(-1), sqrt(-2) and 1e400 are refused with their column (never derived as zoo or i pi).
    Evaluated in floats, which cannot hang (10**10**10 overflows rather than being built)."""
    def value(node: ast.AST) -> float | None:
        if isinstance(node, ast.Constant):
            number = float(node.value) if abs(node.value) < 1e308 else math.inf
            if not math.isfinite(number):
                raise _fail(node, f"{_segment(text, node)} overflows a float (at most about 1.8e308)")
            return number
        if isinstance(node, ast.UnaryOp):
            inner = value(node.operand)
            return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
            a, b = value(node.left), value(node.right)
            if b == 0 and isinstance(node.op, ast.Div):
                raise _fail(node, f"{_segment(text, node)} divides by 0")
            if a is None or b is None:
                return None
            try:
                result = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                          ast.Div: lambda: a / b, ast.Pow: lambda: a ** b}[type(node.op)]()
            except ZeroDivisionError:
                raise _fail(node, f"{_segment(text, node)} divides by 0") from None
            except OverflowError:
                result = math.inf
            return _real(node, result, text)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 \
                and node.func.id in _FLOAT_OF:
            a = value(node.args[0])
            if a is None:
                return None
            try:
                result = _FLOAT_OF[node.func.id](a)
            except ValueError:
                raise _fail(node, f"{_segment(text, node)} is not a real number") from None
            except OverflowError:
                result = math.inf
            return _real(node, result, text)
        for child in ast.iter_child_nodes(node):
            value(child)
        return None
    value(tree)


def _real(node: ast.AST, result, text: str) -> float:
    if isinstance(result, complex):
        raise _fail(node, f"{_segment(text, node)} is not a real number")
    if not math.isfinite(result):
        raise _fail(node, f"{_segment(text, node)} overflows a float (at most about 1.8e308)")
    return result


def _segment(text: str, node: ast.AST) -> str:
    return ast.get_source_segment(text, node) or "the number"


def parse(text: str, shapes: Mapping[str, Sequence[int]] | None = None, *, input: str = "x",
          target: str | None = None, ranges: Mapping[str, int] | None = None,
          constants: Sequence[str] = (), statement: bool = False, weight: str | None = None) -> LayerSpec:
    """Parse ``text`` (``y = ...`` or ``y[i,...] = ...``) into a :class:`LayerSpec`.

    A scalar output not named J is a layer's one-element output, except in a program's
    ``statement``, where it stays the scalar intermediate it names (LayerNorm's mu).

    ``shapes`` gives the arrays' shapes (``{"x": (3,), "W": (2, 3)}``); those that
    follow from the others may be left out.  ``ranges`` gives the range of an index
    that no array's shape fixes (a pooling window's ``{"p": 2}``); ``constants`` names
    arrays that are given, neither learned nor differentiated (a criterion's weights).
    ``weight`` writes a criterion's sample weight in index notation (``w[t]``, with the
    arrays of the layer only): a batch's mean loss is then divided by the sum of the samples'
    weights, as PyTorch's and Torch7's weighted ClassNLL and CrossEntropy.
    Raises :class:`LayerSyntaxError` (a ValueError) with the column of what is wrong.
    """
    if not isinstance(text, str):
        raise TypeError(f"the layer must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise LayerSyntaxError(f"the layer is {len(text)} characters long, at most {MAX_LENGTH} are allowed")
    for name, value in (("input", input), ("target", target)):
        if value is not None and (not isinstance(value, str) or not value.isidentifier()):
            raise ValueError(f"{name} must name an array, got {value!r}")
    given = _parse_shapes(shapes)
    given_ranges = _parse_ranges(ranges)
    constants = _parse_constants(constants, input, target)
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError as error:
        raise LayerSyntaxError(f"column {error.offset or 0}: syntax error: {error.msg}") from None
    _check_whitelist(tree)
    _check_numbers(tree, text.strip())
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign) or len(tree.body[0].targets) != 1:
        raise LayerSyntaxError("expected one assignment, 'y = <expression>' or 'y[i] = <expression>'")
    assign = tree.body[0]
    left = assign.targets[0]
    if isinstance(left, ast.Name):
        out_name, out_index_nodes = left.id, ()
    elif isinstance(left, ast.Subscript) and isinstance(left.value, ast.Name):
        out_name = left.value.id
        out_index_nodes = left.slice.elts if isinstance(left.slice, ast.Tuple) else [left.slice]
    else:
        raise _fail(left, "the left side must name the output: y = ... or y[i, j] = ...")
    if out_name in RESERVED - {"J"}:
        raise _fail(left, f"{out_name!r} is reserved, name the output otherwise")
    index_notation = bool(out_index_nodes) or any(isinstance(n, ast.Subscript) for n in ast.walk(assign.value))
    names = [n.id for n in ast.walk(assign.value) if isinstance(n, ast.Name)]
    if input not in names:
        raise LayerSyntaxError(f"the input {input!r} does not appear in the layer (name it with --input)")
    if out_name in names:
        raise _fail(assign.value, f"the output {out_name!r} cannot appear on the right side")
    if given_ranges and not index_notation:
        raise LayerSyntaxError(f"--range {next(iter(given_ranges))} is for an index of index notation; "
                               "array notation names no indices")
    builder = (_IndexBuilder if index_notation else _ArrayBuilder)(given, input, target)
    # a size is never named as a name of the text (the window index p of x[c, t+r, i+p, j+q])
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    builder.sizes.names = iter([n for n in _SIZE_NAMES if n not in used] + [f"n_{k}" for k in range(1, 100)])
    builder.given_ranges, builder.constants, builder.statement = given_ranges, constants, statement
    spec = builder.build(text.strip(), out_name, out_index_nodes, assign.value)
    unknown = set(given) - set(spec.arrays)
    if unknown:
        raise LayerSyntaxError(f"--shape names {', '.join(sorted(unknown))}, which the layer does not use")
    if weight is not None:
        return replace(spec, weight=_sample_weight(builder, spec, weight))
    return spec


def _sample_weight(builder, spec: LayerSpec, text: str) -> sp.Expr:
    """A criterion's sample weight, parsed with the layer's arrays, indices and ranges."""
    if not isinstance(text, str):
        raise TypeError(f"the weight must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise LayerSyntaxError(f"the weight is {len(text)} characters long, at most {MAX_LENGTH} are allowed")
    if not spec.is_criterion or not isinstance(builder, _IndexBuilder):
        raise LayerSyntaxError("a sample weight is for a criterion (J = ...) written in index notation")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise LayerSyntaxError(f"weight: column {error.offset or 0}: syntax error: {error.msg}") from None
    _check_whitelist(tree.body)
    for node in ast.walk(tree.body):
        if isinstance(node, ast.Name) and not (node.id in spec.arrays or node.id in RESERVED
                                               or node.id in builder.indices):
            raise LayerSyntaxError(f"weight: {node.id} is not an array of the layer")
        if isinstance(node, ast.Name) and node.id in spec.arrays and spec.arrays[node.id].role in ("input", "parameter"):
            raise LayerSyntaxError(f"weight: a sample's weight is given (a constant or the target), "
                                   f"not {spec.arrays[node.id].role} {node.id}")
    try:
        value = builder.visit(tree.body)
    except LayerSyntaxError as error:
        raise LayerSyntaxError(f"weight: {error}") from None
    if value.free_symbols & set(builder.indices.values()):
        raise LayerSyntaxError("weight: a sample's weight is one number; sum over the indices it uses")
    return builder.sizes.resolve(value)


class _Builder:
    """What both notations share: roles, shapes given, sizes and index symbols."""

    def __init__(self, given: dict[str, tuple[int, ...]], input: str, target: str | None) -> None:
        self.given, self.input_name, self.target_name = given, input, target
        self.sizes = _Sizes()
        self.shapes: dict[str, tuple[sp.Expr, ...]] = {}
        self.order: list[str] = []

    given_ranges: dict[str, int] = {}
    constants: tuple[str, ...] = ()

    def role(self, name: str) -> str:
        if name == self.input_name:
            return "input"
        if name == self.target_name:
            return "target"
        if name in self.constants:
            return "constant"
        return "parameter"

    def see(self, node: ast.Name) -> None:
        name = node.id
        if name in RESERVED:
            if name in FUNCTIONS or name in ("sum", "mean") + CALLS:
                raise _fail(node, f"{name} is a function: call it, {name}(...)")
            raise _fail(node, f"{name!r} is reserved (the derivation uses it), name the array otherwise")
        if name not in self.order:
            self.order.append(name)

    def finish(self, text: str, out_name: str, out_shape, indices, expr, ranges, notation) -> LayerSpec:
        if self.input_name not in self.order:
            raise LayerSyntaxError(f"the input {self.input_name!r} does not appear in the layer "
                                   "(name it with --input)")
        if self.target_name is not None and self.target_name not in self.order:
            raise LayerSyntaxError(f"the target {self.target_name!r} does not appear in the layer")
        if self.target_name is not None and out_shape:
            raise LayerSyntaxError("a target is for a criterion, whose output is one number (J = ...)")
        if self.target_name == self.input_name:
            raise LayerSyntaxError("the input and the target must be different arrays")
        for name in self.constants:
            if name not in self.order:
                raise LayerSyntaxError(f"--constant {name} names an array the layer does not use")
        if not out_shape and out_name != "J" and not self.statement:
            # One number not named J is a layer's output of one element (as Torch7's Sum of a
            # vector): it takes gradOutput and may have parameters. J is a criterion's loss.
            if self.target_name is not None:
                raise LayerSyntaxError(f"a target is for a criterion: name its output J (J = ...), "
                                       f"not {out_name}")
            used = {str(s) for s in sp.sympify(expr).atoms(sp.Symbol)} | set(self.order) | {out_name}
            index = sp.Symbol(next(n for n in _INDEX_NAMES + tuple(f"i_{k}" for k in range(99))
                                   if n not in used), integer=True, positive=True)
            size = self.sizes.new(1)
            out_shape, indices, ranges = (size,), (index,), {**ranges, index: size}
        # a padded max's -inf outside the input is no value of the output (see _outside_excluded)
        read = sp.sympify(expr).replace(
            lambda e: isinstance(e, Extremum) and isinstance(e.function, where) and e.function.args[2].is_infinite,
            lambda e: e.func(e.function.args[1], *e.limits))
        if read.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
            raise LayerSyntaxError(f"{out_name} is not a finite real number everywhere: {sp.sstr(expr)}")
        resolve = self.sizes.resolve
        integers = getattr(self, "integers", set())
        arrays = {name: ArrayInfo(name, tuple(resolve(d) for d in self.shapes[name]), self.role(name),
                                  name in integers)
                  for name in self.order}
        output = ArrayInfo(out_name, tuple(resolve(d) for d in out_shape), "output")
        expr = resolve(expr)
        ranges = {i: resolve(r) for i, r in ranges.items()}
        arrays[out_name] = output
        # The sizes the arrays' shapes, the indices' ranges and the sums use (a window's own
        # size, N_q of x[c+q], is in no shape: it must stay bound to its value all the same).
        bounds = [d for a in arrays.values() for d in a.shape] + list(ranges.values())
        bounds += [limit[2] for total in sp.sympify(expr).atoms(sp.Sum, Extremum) for limit in total.limits]
        sizes = {s: v for s, v in self.sizes.value.items()
                 if any(s in sp.sympify(d).free_symbols for d in bounds)}
        return LayerSpec(text, output, tuple(indices), expr, arrays, sizes, ranges, notation)


# --- array notation --------------------------------------------------------------------

@dataclass
class _Node:
    """A typed array-notation subexpression: its shape and how to take one element."""

    shape: tuple[sp.Expr, ...]
    element: object  # callable(indices tuple) -> sp.Expr


class _ArrayBuilder(_Builder):
    """``y = W @ x + b``: shapes inferred bottom-up, then elements built top-down."""

    def build(self, text, out_name, out_index_nodes, value) -> LayerSpec:
        self.counter = itertools.count()
        self.pending: dict[str, ast.Name] = {}
        self._declare_given(value)
        root = self.visit(value)
        missing = [name for name in self.order if name not in self.shapes]
        if missing:
            raise _fail(self.pending[missing[0]], f"the shape of {missing[0]} is neither given nor "
                        f"inferable: give it with --shape {missing[0]}=...")
        indices = tuple(self.index() for _ in root.shape)
        ranges = dict(zip(indices, root.shape))
        return self.finish(text, out_name, root.shape, indices, root.element(indices), ranges, "array")

    def _declare_given(self, value: ast.AST) -> None:
        # Sizes are named in order of appearance, the input's first (as Torch names n, m).
        names = [n for n in ast.walk(value) if isinstance(n, ast.Name)]
        for node in sorted(names, key=lambda n: (n.id != self.input_name, n.col_offset)):
            if isinstance(node, ast.Name) and node.id in self.given and node.id not in self.shapes:
                self.shapes[node.id] = tuple(self.sizes.new(d) for d in self.given[node.id])

    def index(self) -> sp.Symbol:
        k = next(self.counter)
        name = _INDEX_NAMES[k] if k < len(_INDEX_NAMES) else f"i_{k}"
        return sp.Symbol(name, integer=True, positive=True)

    def visit(self, node: ast.AST, hint: tuple | None = None) -> _Node:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise _fail(node, f"{type(node).__name__.lower()} is not allowed in array notation")
        return method(node, hint)

    def visit_Constant(self, node, hint):
        value = constant(node.value)
        return _Node((), lambda idx: value)

    def visit_Name(self, node, hint):
        self.see(node)
        name = node.id
        if name not in self.shapes:
            if hint is None:
                self.pending.setdefault(name, node)
                return _Node(None, None)  # shape still unknown: the caller infers it
            self.shapes[name] = tuple(hint)
        base = sp.IndexedBase(name, real=True)
        shape = self.shapes[name]
        return _Node(shape, lambda idx: base[idx] if idx else sp.Symbol(name, real=True))

    def _resolve(self, node: ast.AST, result: _Node, other: _Node, where: ast.AST) -> _Node:
        """A name of unknown shape beside a known one takes its shape; beside a number
        (``1 - t``) it has none to take: it must be given (never silently a scalar)."""
        if other.shape == () and not any(isinstance(n, ast.Name) for n in ast.walk(where)):
            return result
        if result.shape is None and other.shape is not None and isinstance(node, ast.Name):
            return self.visit_Name(node, other.shape)
        return result

    def visit_BinOp(self, node, hint):
        left, right = self.visit(node.left), self.visit(node.right)
        if not isinstance(node.op, ast.MatMult):  # an element-wise operand takes the other's shape
            left = self._resolve(node.left, left, right, node.right)
            right = self._resolve(node.right, right, left, node.left)
        for side, part in ((node.left, left), (node.right, right)):
            if part.shape is None:
                raise _fail(side, f"the shape of {side.id} is neither given nor inferable: "
                            f"give it with --shape {side.id}=...")
        if isinstance(node.op, ast.MatMult):
            return self._matmul(node, left, right)
        if isinstance(node.op, ast.Pow):
            if right.shape:
                raise _fail(node.right, "the exponent must be a number or a scalar")
        shape = self._broadcast(node, left.shape, right.shape)
        op = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
              ast.Div: lambda a, b: a / b, ast.Pow: sp.Pow}[type(node.op)]

        def element(idx, l=left, r=right, shape=shape):
            return op(l.element(self._aligned(idx, shape, l.shape)), r.element(self._aligned(idx, shape, r.shape)))
        return _Node(shape, element)

    def _broadcast(self, node, a, b):
        if len(a) < len(b):
            a, b = b, a
        shape = list(a)
        for k, db in enumerate(b):
            da = a[len(a) - len(b) + k]
            if self._unit(db) and not self._unit(da):  # a size-1 axis broadcasts (numpy's rule)
                continue
            if self._unit(da) and not self._unit(db):
                shape[len(a) - len(b) + k] = db
                continue
            shape[len(a) - len(b) + k] = self.sizes.unify(da, db, node, "element-wise operands")
        return tuple(shape)

    def _unit(self, size: sp.Expr) -> bool:
        """Whether an axis has size 1 (it broadcasts against any other)."""
        return int(self.sizes.resolve(size).xreplace(self.sizes.value)) == 1

    def _aligned(self, idx: tuple, shape: tuple, part: tuple) -> tuple:
        """The indices of a broadcast operand: the trailing ones, 1 along its size-1 axes that
        broadcast against a longer one."""
        own = _aligned(idx, shape, part)
        full = shape[len(shape) - len(part):] if part else ()
        return tuple(sp.Integer(1) if self._unit(d) and not self._unit(f) else i
                     for i, d, f in zip(own, part, full))

    def _matmul(self, node, left: _Node, right: _Node) -> _Node:
        a, b = left.shape, right.shape
        if not a or not b or len(a) > 2 or len(b) > 2:
            raise _fail(node, f"@ takes vectors and matrices, got shapes of {len(a)} and {len(b)} dimensions")
        self.sizes.unify(a[-1], b[0], node, "@ needs the inner sizes to agree")
        inner = a[-1]
        shape = a[:-1] + b[1:]

        def element(idx):
            k = self.index()
            li = idx[:len(a) - 1] + (k,)
            ri = (k,) + idx[len(a) - 1:]
            return sp.Sum(left.element(li) * right.element(ri), (k, 1, inner))
        return _Node(shape, element)

    def visit_UnaryOp(self, node, hint):
        operand = self.visit(node.operand)
        if operand.shape is None:
            raise _fail(node.operand, f"the shape of {node.operand.id} is neither given nor inferable")
        sign = -1 if isinstance(node.op, ast.USub) else 1
        return _Node(operand.shape, lambda idx: sign * operand.element(idx))

    def visit_Attribute(self, node, hint):
        inner = self.visit(node.value)
        if inner.shape is None:
            raise _fail(node.value, f"the shape of {node.value.id} is neither given nor inferable")
        if len(inner.shape) > 2:
            raise _fail(node, ".T transposes vectors and matrices only")
        if len(inner.shape) < 2:
            return inner  # numpy: a vector is its own transpose
        return _Node(inner.shape[::-1], lambda idx: inner.element(idx[::-1]))

    def visit_Call(self, node, hint):
        name = node.func.id
        if name in ("sum", "mean") or (name in ("max", "min") and len(node.args) == 1):
            if len(node.args) != 1:
                raise _fail(node, f"{name}(e) takes one argument in array notation (the sum of all entries)")
            inner = self.visit(node.args[0])
            if inner.shape is None:
                raise _fail(node.args[0], f"the shape of {_what(node.args[0])} is neither given nor inferable")
            # over all the entries: a sum (mean), or a max (min) of all of them
            over = sp.Sum if name in ("sum", "mean") else lambda body, *limits: _extremum_over(name, body, limits)

            def total(idx):
                ks = tuple(self.index() for _ in inner.shape)
                body = inner.element(ks)
                return over(body, *((k, 1, d) for k, d in zip(ks, inner.shape))) if ks else body
            if name != "mean":
                return _Node((), total)
            count = sp.Mul(*inner.shape)
            return _Node((), lambda idx: total(idx) / count)
        if name in CALLS:
            return self._elementwise(node, *_elementwise_call(name, node))
        if name == "concat":
            return self._concat(node)
        if name not in FUNCTIONS:
            raise _fail(node.func, f"unknown function {name!r}, expected one of "
                        f"{', '.join(sorted(FUNCTIONS))}, sum, mean")
        if len(node.args) != 1:
            raise _fail(node, f"{name} takes one argument")
        inner = self.visit(node.args[0])
        if inner.shape is None:
            raise _fail(node.args[0], f"the shape of {_what(node.args[0])} is neither given nor inferable")
        function = FUNCTIONS[name]
        return _Node(inner.shape, lambda idx: function(inner.element(idx)))

    def visit_Subscript(self, node, hint):
        raise _fail(node, "indexing belongs to index notation")

    def _concat(self, node: ast.Call) -> _Node:
        """concat(a, b, ...) along the last axis: element i of the last axis is a's up to a's size,
        then b's at i - size(a), ...; each operand's part guarded by where its range lies."""
        if len(node.args) < 2:
            raise _fail(node, "concat(a, b, ...) joins two or more arrays along their last axis")
        parts = [self.visit(a) for a in node.args]
        known = max((p for p in parts if p.shape is not None), key=lambda p: len(p.shape), default=None)
        if known is not None:  # a name of unknown shape takes the others' (CReLU's x)
            parts = [self._resolve(a, p, known, node) for a, p in zip(node.args, parts)]
        for a, p in zip(node.args, parts):
            if p.shape is None:
                raise _fail(a, f"the shape of {_what(a)} is neither given nor inferable: "
                            f"give it with --shape {_what(a)}=...")
            if len(p.shape) != len(parts[0].shape) or not p.shape:
                raise _fail(a, "concat joins arrays of the same number of dimensions (one at least) "
                            "along their last axis")
        lead = parts[0].shape[:-1]
        for p in parts[1:]:
            lead = tuple(self.sizes.unify(a, b, node, "concat's operands outside their last axis")
                         for a, b in zip(lead, p.shape[:-1]))
        shape = lead + (sp.Add(*(p.shape[-1] for p in parts)),)

        def element(idx, parts=parts):
            *head, i = idx
            total, offset = sp.Integer(0), sp.Integer(0)
            for k, p in enumerate(parts):
                size = p.shape[-1]
                guards = ([sp.GreaterThan(i, offset + 1)] if k else []) + (
                    [sp.LessThan(i, offset + size)] if k < len(parts) - 1 else [])
                total += where(sp.And(*guards), p.element(tuple(head) + (i - offset,)), 0)
                offset += size
            return total
        return _Node(shape, element)

    def _elementwise(self, node, operands: list, make) -> _Node:
        """An element-wise call of several operands, broadcast as numpy does."""
        parts = [self.visit(a) for a in operands]
        known = max((p for p in parts if p.shape is not None), key=lambda p: len(p.shape), default=None)
        if known is not None:
            parts = [self._resolve(a, p, known, node) for a, p in zip(operands, parts)]
        shape: tuple = ()
        for a, p in zip(operands, parts):
            if p.shape is None:
                raise _fail(a, f"the shape of {_what(a)} is neither given nor inferable: "
                            f"give it with --shape {_what(a)}=...")
            shape = self._broadcast(node, shape, p.shape)

        def element(idx, parts=parts, shape=shape):
            return make(*(p.element(self._aligned(idx, shape, p.shape)) for p in parts))
        return _Node(shape, element)


def _what(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else "the argument"


def _aligned(idx: tuple, shape: tuple, part: tuple) -> tuple:
    """The indices of a broadcast operand: the trailing ones (numpy's rule)."""
    return tuple(idx[len(shape) - len(part):]) if part else ()


# --- index notation --------------------------------------------------------------------

class _IndexBuilder(_Builder):
    """``y[i] = sum(W[i,k] * x[k], k) + b[i]``: ranges from the arrays' shapes."""

    def build(self, text, out_name, out_index_nodes, value) -> LayerSpec:
        self.indices: dict[str, sp.Symbol] = {}
        self.range: dict[sp.Symbol, sp.Expr] = {}
        self.accesses: list[tuple[str, tuple[sp.Expr, ...], ast.AST]] = []
        self.first_node: dict[str, ast.AST] = {}
        out_indices = []
        # indices whose range is declared (the output's --shape, --range): a plain read of an
        # array's axis of another size reads part of it (Narrow) or past its end (zero padding)
        self.declared: set[sp.Symbol] = set()
        self.padding: set[sp.Expr] = set()  # the guarded reads of zero padding (see _padded)
        self._comparing = False  # collecting or visiting a where's condition
        self.part: dict[tuple[str, int], sp.Symbol] = {}
        for node in out_index_nodes:
            if not isinstance(node, ast.Name):
                raise _fail(node, "the output's indices must be plain names: y[i, t] = ...")
            symbol = self._index(node)
            if symbol in out_indices:
                raise _fail(node, f"index {node.id} appears twice on the left side")
            out_indices.append(symbol)
        self.out_indices = tuple(out_indices)
        if out_name in self.given:  # the output's shape, given, fixes its indices' ranges
            dims = self.given[out_name]
            if len(dims) != len(out_indices):
                raise LayerSyntaxError(f"{out_name} has {len(dims)} dimensions in --shape, "
                                       f"indexed with {len(out_indices)}")
            for symbol, size in zip(out_indices, dims):
                self.range[symbol] = self.sizes.new(size, _size_name(symbol))
                self.declared.add(symbol)
            self.given = {k: v for k, v in self.given.items() if k != out_name}
        # First pass: collect every access, to learn index ranges and shapes.
        self.integers: set[str] = set()
        self.numbers: set[str] = set()  # arrays read as numbers (not inside a subscript)
        self._collecting = True
        self.values: list[ast.Name] = []
        self._collect(value)
        self._collecting = False
        for node in self.values:  # a bare name is an index's value (1 .. its size), or an error
            if node.id not in self.indices:
                self.see(node)
                raise _fail(node, f"{node.id} needs its indices in index notation: {node.id}[...]")
        both = sorted(self.integers & self.numbers)
        if both:
            raise LayerSyntaxError(f"{both[0]} is used inside a subscript, so it holds integers, and has "
                                   "no gradient: it cannot also be used as a number")
        for name, size in self.given_ranges.items():
            if name not in self.indices:
                raise LayerSyntaxError(f"--range names {name}, which is not an index of the layer")
            symbol = self.indices[name]
            if symbol in self.range:
                raise LayerSyntaxError(f"--range {name}: the range of {name} is already fixed by "
                                       "the output's shape")
            self.range[symbol] = self.sizes.new(size, _size_name(symbol))
            self.declared.add(symbol)
        self._infer_ranges()
        expr = self.visit(value)
        free = expr.free_symbols & set(self.indices.values())
        stray = free - set(self.out_indices)
        if stray:
            name = sorted(str(s) for s in stray)[0]
            raise LayerSyntaxError(f"index {name} is neither on the left side nor summed over: "
                                   f"sum(..., {name}) or {out_name}[..., {name}]")
        shape = tuple(self.range[i] for i in self.out_indices)
        ranges = {i: self.range[i] for i in self.out_indices}
        return self.finish(text, out_name, shape, self.out_indices, expr, ranges, "index")

    def _index(self, node: ast.Name) -> sp.Symbol:
        if node.id in RESERVED:
            raise _fail(node, f"{node.id!r} cannot be an index name")
        if node.id not in self.indices:
            self.indices[node.id] = sp.Symbol(node.id, integer=True, positive=True)
        return self.indices[node.id]

    def _gather(self, node: ast.AST) -> sp.Expr:
        """An integer array read inside a subscript (W[x[n], d], x[t]): its value + 1, since the
        arrays hold 0-based integers (numpy's, PyTorch's) and the elements here count from 1."""
        name_node = node.value if isinstance(node, ast.Subscript) else node
        name = name_node.id
        self.see(name_node)
        if self.role(name) == "parameter":
            raise _fail(node, f"{name} is used inside a subscript, so it holds integers, which are given, "
                        "never learned: make it the input, the target or a --constant")
        self.integers.add(name)
        if isinstance(node, ast.Name):
            self.shapes.setdefault(name, ())
            return sp.Symbol(name, real=True) + 1
        subs = self._subscripts(node)
        if any(self._gathered(sub) for sub in subs):
            raise _fail(node, f"the subscripts of {name}, an integer array, must be affine")
        if self._collecting:
            self.first_node.setdefault(name, node)
            self.accesses.append((name, subs, node))
        return sp.IndexedBase(name, real=True)[subs] + 1

    def _gathered(self, sub: sp.Expr) -> bool:
        """Whether a subscript reads an integer array (a gather), rather than being affine."""
        return any(isinstance(s, sp.Symbol) and s.name in self.integers for s in sub.free_symbols)

    def _affine(self, node: ast.AST) -> sp.Expr:
        """An index expression: names of indices, integers, + and -, integer multiples."""
        if isinstance(node, ast.Subscript) or (isinstance(node, ast.Name) and node.id in (
                (self.input_name, self.target_name) + tuple(self.constants))):
            return self._gather(node)
        if isinstance(node, ast.Name):
            if node.id in self.given or node.id in self.order:
                raise _fail(node, f"{node.id!r} names an array, not an index")
            return self._index(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return sp.Integer(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._affine(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            a, b = self._affine(node.left), self._affine(node.right)
            return a + b if isinstance(node.op, ast.Add) else a - b
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            a, b = self._affine(node.left), self._affine(node.right)
            if not (a.is_Integer or b.is_Integer):
                raise _fail(node, "an index may be multiplied by an integer only")
            return a * b
        if isinstance(node, ast.BinOp) and isinstance(node.op, _INDEX_ARITHMETIC):
            symbol = "//" if isinstance(node.op, ast.FloorDiv) else "%"
            divisor = node.right
            if not (isinstance(divisor, ast.Constant) and type(divisor.value) is int and divisor.value >= 1):
                got = ast.unparse(divisor)
                raise _fail(divisor, f"the divisor of {symbol} must be a positive integer, got {got}")
            a = self._affine(node.left)
            return sp.floor(a / divisor.value) if symbol == "//" else sp.Mod(a, divisor.value)
        if isinstance(node, ast.Call) and node.func.id in _INDEX_CALLS:
            name = node.func.id
            if (len(node.args) != 1) if name == "abs" else (len(node.args) < 2):
                takes = "one index" if name == "abs" else "two or more indices"
                raise _fail(node, f"{name} in a subscript takes {takes}")
            return _INDEX_CALLS[name](*(self._affine(a) for a in node.args))
        raise _fail(node, "an index must be affine (names of indices, integers, +, - and integer *), or "
                    "// and % of one by an integer, or min, max, abs of them")

    def _subscripts(self, node: ast.Subscript) -> tuple[sp.Expr, ...]:
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return tuple(self._affine(p) for p in parts)

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Subscript):
            self.see(node.value)
            name = node.value.id
            if not self._comparing:  # an integer array may be compared (where(t[k] == i, ...))
                self.numbers.add(name)
            self.first_node.setdefault(name, node)
            self.accesses.append((name, self._subscripts(node), node))
            return
        if isinstance(node, ast.Name):
            if node.id not in RESERVED and node.id not in self.given:
                self.values.append(node)  # an index as a number (bilinear weights), if it is an index
                return
            self.see(node)
            if self.given.get(node.id) == ():  # a number, declared with --shape w=() (Mul's weight)
                self.numbers.add(node.id)
                self.shapes[node.id] = ()
                return
            raise _fail(node, f"{node.id} needs its indices in index notation: {node.id}[...]")
        if isinstance(node, ast.Call) and node.func.id in ("sum", "mean"):
            if len(node.args) < 2:
                raise _fail(node, f"{node.func.id}(e, k, ...) names the indices it runs over in "
                            "index notation")
            for arg in node.args[1:]:
                if not isinstance(arg, ast.Name):
                    raise _fail(arg, f"{node.func.id} runs over index names, got an expression")
                self._index(arg)
            self._collect(node.args[0])
            return
        if isinstance(node, ast.Call) and node.func.id in ("max", "min") and _over_indices(node):
            for arg in node.args[1:]:
                self._index(arg)
            self._collect(node.args[0])
            return
        if isinstance(node, ast.Call) and node.func.id == "len":  # an index's count, a size as a number
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise _fail(node, "len(k) takes one index name: the number of values k runs over")
            if node.args[0].id in self.given or node.args[0].id in self.order:
                raise _fail(node, f"len takes an index, not the array {node.args[0].id}: len(k) for x[k]")
            self._index(node.args[0])
            return
        if isinstance(node, ast.Call) and node.func.id == "concat":
            raise _fail(node, "concat belongs to array notation; in index notation write each part "
                        "with where(i <= n, a[i], b[i - n])")
        if isinstance(node, ast.Call) and node.func.id in CALLS:
            operands, _ = _elementwise_call(node.func.id, node)
            for k, operand in enumerate(operands):
                self._comparing = node.func.id == "where" and k < 2  # the condition's two sides
                self._collect(operand)
                self._comparing = False
            return
        if isinstance(node, ast.Call):
            if node.func.id not in FUNCTIONS:
                raise _fail(node.func, f"unknown function {node.func.id!r}, expected one of "
                            f"{', '.join(sorted(FUNCTIONS))}, sum, mean")
            if len(node.args) != 1:
                raise _fail(node, f"{node.func.id} takes one argument")
        if isinstance(node, ast.Attribute):
            raise _fail(node, ".T belongs to array notation; in index notation swap the indices")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            raise _fail(node, "@ belongs to array notation; in index notation write the sum")
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.Load, ast.operator, ast.unaryop)) and child is not getattr(node, "func", None):
                self._collect(child)

    def _infer_ranges(self) -> None:
        """Ranges of indices from plain positions in arrays of given shape, then the rest."""
        for name, subs, node in self.accesses:
            if name in self.given:
                dims = self.given[name]
                if len(dims) != len(subs):
                    raise _fail(node, f"{name} has {len(dims)} dimensions, indexed with {len(subs)}")
        # Sizes of indices that stand alone in an array of given shape; indices that run
        # over the same axis run over the same size (x[i] and x[k]: one n).
        axis_size: dict[tuple[str, int], sp.Expr] = {}
        for name, subs, node in self.accesses:
            if name not in self.given:
                continue
            for axis, sub in enumerate(subs):
                if isinstance(sub, sp.Symbol):
                    value = self.given[name][axis]
                    if sub in self.declared and int(self.range[sub].xreplace(self.sizes.value)) != value:
                        axis_size[(name, axis)] = self._part(name, axis, value, axis_size)
                        continue
                    if sub in self.range:
                        self.sizes.check(self.range[sub], value, node,
                                         f"index {sub} runs over {int(self.range[sub].xreplace(self.sizes.value))} "
                                         f"and over {name}'s axis {axis + 1} of size {value}")
                        if (name, axis) in axis_size:
                            self.sizes.unify(axis_size[(name, axis)], self.range[sub], node, "")
                    elif (name, axis) in axis_size:
                        self.range[sub] = axis_size[(name, axis)]
                    else:
                        self.range[sub] = self.sizes.new(value, _size_name(sub))
                    axis_size.setdefault((name, axis), self.range[sub])
        self.range = {k: self.sizes.resolve(v) for k, v in self.range.items()}
        # Indices that only appear inside affine subscripts: the largest range keeping every
        # access of a given array in bounds (a "valid" convolution).
        for name, subs, node in self.accesses:
            if name not in self.given:
                continue
            for axis, sub in enumerate(subs):
                if isinstance(sub, sp.Symbol) or self._gathered(sub):
                    continue
                unknown = [s for s in sub.free_symbols if s not in self.range]
                if unknown and _non_affine(sub):
                    u = sorted(map(str, unknown))[0]
                    output = any(str(i) == u for i in self.out_indices)
                    raise _fail(node, f"cannot infer the range of {u} from a computed subscript of {name} "
                                f"(//, %, min, max, abs): give it with "
                                + ("the output's shape, --shape, or " if output else "") + f"--range {u}=N")
                if len(unknown) == 1:
                    u = unknown[0]
                    coefficient = sub.coeff(u)
                    if not (coefficient.is_Integer and coefficient >= 1):
                        raise _fail(node, f"cannot infer the range of {u} from {sub}: give the output's "
                                    "shape with --shape")
                    rest = sub - coefficient * u
                    # a stride c: the largest u with c u + rest <= the axis' size
                    high = (self.given[name][axis] - _max(rest, self.range, self.sizes.value)) // int(coefficient)
                    if high < 1:
                        raise _fail(node, f"{name}'s axis {axis + 1} of size {self.given[name][axis]} "
                                    f"is too small for {sub}")
                    size = self.sizes.new(high, _size_name(u))
                    self.range[u] = size
        # Every index needs a range.
        for symbol in self.indices.values():
            if symbol not in self.range:
                raise LayerSyntaxError(f"index {symbol} has no range: use it as a plain index of an "
                                       f"array whose shape is given, or give it with --range {symbol}=N")
        # Shapes of the arrays: given ones get symbolic sizes; the others follow their indices.
        for name, subs, node in self.accesses:
            if name in self.shapes:
                continue
            if name in self.given:
                shape = []
                for axis, sub in enumerate(subs):
                    value = self.given[name][axis]
                    symbolic = sub if not isinstance(sub, sp.Symbol) else None
                    if symbolic is None:
                        shape.append(self.part.get((name, axis), self.range[sub]))
                    elif self._gathered(sub):  # any row may be read: the given size, named for its axis
                        plain = [other[axis] for n, other, _ in self.accesses if n == name
                                 and isinstance(other[axis], sp.Symbol) and other[axis] in self.range]
                        shape.append(self.range[plain[0]] if plain else self.sizes.new(value, f"N_{name}{axis + 1}"))
                    else:
                        shape.append(self._extent(sub, value, node, name, axis))
                self.shapes[name] = tuple(shape)
            else:
                if not all(isinstance(s, sp.Symbol) for s in subs):
                    raise _fail(node, f"the shape of {name} is neither given nor inferable "
                                f"(give it with --shape {name}=...)")
                self.shapes[name] = tuple(self.range[s] for s in subs)
        for name, subs, node in self.accesses:
            if len(subs) != len(self.shapes[name]):
                raise _fail(node, f"{name} has {len(self.shapes[name])} dimensions, indexed with {len(subs)}")

    def _part(self, name: str, axis: int, value: int, axis_size: dict) -> sp.Symbol:
        """The size of an axis read at a plain index whose declared range differs from it: the
        axis keeps a size of its own (the reads stop short of its end, or run past it as zeros)."""
        if (name, axis) not in self.part:
            known = axis_size.get((name, axis))
            same = known is not None and int(self.sizes.resolve(known).xreplace(self.sizes.value)) == value
            self.part[(name, axis)] = known if same else self.sizes.new(value, f"N_{name}{axis + 1}")
        return self.part[(name, axis)]

    def _padded(self, name: str, subs: tuple) -> sp.Expr:
        """The element name[subs], 0 where an affine subscript runs outside its axis (zero padding,
        as a convolution's padding reads): the guard [1 <= sub <= size] stands in the element (a
        where, not sympy's Piecewise, which sums fold into the terms beside it)."""
        element = sp.IndexedBase(name, real=True)[subs]
        guards = []
        for axis, sub in enumerate(subs):
            if isinstance(sub, sp.Symbol) and (name, axis) in self.part:
                size = self.sizes.resolve(self.shapes[name][axis])
                if int(self.range[sub].xreplace(self.sizes.value)) > int(size.xreplace(self.sizes.value)):
                    guards.append(sp.LessThan(sub, size))  # the output runs past the axis: zeros
                continue
            if isinstance(sub, sp.Symbol) or self._gathered(sub):
                continue
            size = self.sizes.resolve(self.shapes[name][axis])
            if _min(sub, self.range, self.sizes.value) < 1:
                guards.append(sp.GreaterThan(sub, 1))
            if _max(sub, self.range, self.sizes.value) > int(size.xreplace(self.sizes.value)):
                guards.append(sp.LessThan(sub, size))
        if not guards:
            return element
        padded = where(sp.And(*guards), element, 0)
        self.padding.add(padded)
        return padded

    def _extent(self, sub: sp.Expr, value: int, node, name, axis) -> sp.Expr:
        """The size of an axis read at an affine index: written with the indices' sizes when
        its accesses fill it exactly (T + Q - 1 for t + q - 1), else a size of its own."""
        if _non_affine(sub):  # read as far as it reads: guarded where it leaves the axis
            return self.sizes.new(value)
        high = _max_symbolic(sub, self.range)
        if int(high.xreplace(self.sizes.value)) == value and _min(sub, self.range, self.sizes.value) == 1:
            return high
        # a read outside the axis is 0 (zero padding): guarded where it is read, see _padded
        return self.sizes.new(value)

    def visit(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Name) and node.id in self.indices:  # an index as a number
            return self.indices[node.id]
        if isinstance(node, ast.Name) and self.shapes.get(node.id) == () and node.id not in self.integers:
            return sp.Symbol(node.id, real=True)  # an array of one number
        if isinstance(node, ast.Constant):
            return constant(node.value)
        if isinstance(node, ast.Subscript):
            if self._comparing and node.value.id in self.integers:
                # an integer array compared: its value, counted from 0 as it is given (t[k] == i - 1
                # names element i, as an index's value counts from 1)
                return self._gather(node) - 1
            subs = self._subscripts(node)
            return self._padded(node.value.id, subs)
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            a, b = self.visit(node.left), self.visit(node.right)
            op = type(node.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            if op is ast.Pow:
                if b.free_symbols & set(self.indices.values()) or any(isinstance(x, sp.Indexed) for x in b.atoms(sp.Indexed)):
                    raise _fail(node.right, "the exponent must be a number")
                return a ** b
        if isinstance(node, ast.Call):
            name = node.func.id
            if name == "len":  # the size k runs over (the number of classes, N_c), as a number
                return self.range[self.indices[node.args[0].id]]
            if name in ("sum", "mean"):
                body = self.visit(node.args[0])
                over = [self.indices[a.id] for a in node.args[1:]]
                if len(set(over)) != len(over):
                    raise _fail(node, f"{name} names an index twice")
                for k in over:
                    if k in self.out_indices:
                        raise _fail(node, f"{k} is the output's index and cannot be summed over")
                total = sp.Sum(body, *((k, 1, self.range[k]) for k in over))
                return total if name == "sum" else total / sp.Mul(*(self.range[k] for k in over))
            if name in ("max", "min") and _over_indices(node):
                over = [self.indices[a.id] for a in node.args[1:]]
                if len(set(over)) != len(over):
                    raise _fail(node, f"{name} names an index twice")
                for k in over:
                    if k in self.out_indices:
                        raise _fail(node, f"{k} is the output's index: {name} cannot run over it")
                body = _outside_excluded(self.visit(node.args[0]), name, self.padding)
                return _extremum_over(name, body, [(k, 1, self.range[k]) for k in over])
            if name in CALLS:
                operands, make = _elementwise_call(name, node)
                values = []
                for k, operand in enumerate(operands):
                    self._comparing = name == "where" and k < 2
                    values.append(self.visit(operand))
                    self._comparing = False
                return make(*values)
            return FUNCTIONS[name](self.visit(node.args[0]))
        raise _fail(node, f"{type(node).__name__.lower()} is not allowed in index notation")


def _outside_excluded(body: sp.Expr, name: str, padding: set) -> sp.Expr:
    """The body of a max (min) over indices with its padded reads' guards lifted out: an entry
    read outside its array is -inf (+inf), never the largest (smallest), as Torch's and PyTorch's
    padded max pooling read it, not 0. Reads inside a sum of the body keep their zeros."""
    guards: list = []

    def lift(e: sp.Expr) -> sp.Expr:
        if e in padding:
            guards.append(e.args[0])
            return e.args[1]
        if not e.args or isinstance(e, (sp.Sum, Extremum, sp.Indexed)):
            return e
        return e.func(*(lift(a) for a in e.args))

    lifted = lift(body)
    if not guards:
        return body
    return where(sp.And(*guards), lifted, -sp.oo if name == "max" else sp.oo)


def _over_indices(node: ast.Call) -> bool:
    """max(e, k, ...) in index notation runs over indices: bare names (arrays are subscripted)."""
    if len(node.args) == 1:
        raise _fail(node, f"{node.func.id}(e, k, ...) names the indices it runs over in index notation")
    return all(isinstance(a, ast.Name) for a in node.args[1:])


def _size_name(index: sp.Symbol) -> str:
    return f"N_{index.name}"


def _non_affine(sub: sp.Expr) -> bool:
    """Whether a subscript uses //, %, min, max or abs (nearest upsampling, reflection padding)."""
    return sub.has(sp.floor, sp.Mod, sp.Min, sp.Max, sp.Abs)


def _values(expr: sp.Expr, ranges: dict, values: dict) -> list[int]:
    """Every value of a non-affine index expression over its indices' (concrete) ranges."""
    symbols = sorted(expr.free_symbols, key=str)
    at = sp.lambdify(symbols, expr, modules=[{"floor": lambda v: v.__floor__()}, "math"])
    spans = [range(1, int(sp.sympify(ranges[s]).xreplace(values)) + 1) for s in symbols]
    return [int(at(*point)) for point in itertools.product(*spans)]


def _max(expr: sp.Expr, ranges: dict, values: dict) -> int:
    """The largest value of an affine index expression over its indices' ranges."""
    if _non_affine(expr):
        return max(_values(expr, ranges, values))
    total = expr.as_coeff_add()[0]
    for s in expr.free_symbols:
        c = int(expr.coeff(s))
        total += c * int(ranges[s].xreplace(values)) if c > 0 else c
    return int(total)


def _max_symbolic(expr: sp.Expr, ranges: dict) -> sp.Expr:
    total = expr.as_coeff_add()[0]
    for s in expr.free_symbols:
        c = expr.coeff(s)
        total += c * ranges[s] if c > 0 else c
    return sp.expand(total)


def _min(expr: sp.Expr, ranges: dict, values: dict) -> int:
    """The smallest value of an affine index expression over its indices' ranges."""
    if _non_affine(expr):
        return min(_values(expr, ranges, values))
    total = expr.as_coeff_add()[0]
    for s in expr.free_symbols:
        c = int(expr.coeff(s))
        total += c if c > 0 else c * int(ranges[s].xreplace(values))
    return int(total)

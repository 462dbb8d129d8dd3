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
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import sympy as sp

from .functions import FUNCTIONS

#: Longer texts are refused before they are parsed.
MAX_LENGTH = 4000
#: Array notation names its sizes in this order (the input's first).
_SIZE_NAMES = ("n", "m", "p", "r", "u", "v", "w", "h")
#: ... and the indices of its elements from these (never a size's name).
_INDEX_NAMES = ("i", "j", "k", "l", "a", "c", "d", "e", "f", "o", "q", "s", "t")
#: Names the derivation itself uses.
RESERVED = {"J", "sum", "mean", "g", "G", "np", "scale", "self"} | set(FUNCTIONS)  # J may name a criterion's output


class LayerSyntaxError(ValueError):
    """The text is not a layer of the language; the message names what and where (column)."""


@dataclass(frozen=True)
class ArrayInfo:
    """One array of the layer: its name, symbolic shape and role."""

    name: str
    shape: tuple[sp.Expr, ...]
    role: str  # "input", "parameter", "target" or "output"

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


# --- the whitelist ---------------------------------------------------------------------

_ALLOWED = (ast.Module, ast.Assign, ast.Expr, ast.Name, ast.Subscript, ast.Tuple, ast.Constant,
            ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.Load, ast.Store,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult, ast.USub, ast.UAdd)


def _check_whitelist(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise _fail(node, f"{type(node).__name__.lower()} is not part of the layer language")
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
          target: str | None = None) -> LayerSpec:
    """Parse ``text`` (``y = ...`` or ``y[i,...] = ...``) into a :class:`LayerSpec`.

    ``shapes`` gives the arrays' shapes (``{"x": (3,), "W": (2, 3)}``); those that
    follow from the others may be left out.  Raises :class:`LayerSyntaxError`
    (a ValueError) with the column of what is wrong.
    """
    if not isinstance(text, str):
        raise TypeError(f"the layer must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise LayerSyntaxError(f"the layer is {len(text)} characters long, at most {MAX_LENGTH} are allowed")
    for name, value in (("input", input), ("target", target)):
        if value is not None and (not isinstance(value, str) or not value.isidentifier()):
            raise ValueError(f"{name} must name an array, got {value!r}")
    given = _parse_shapes(shapes)
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
    builder = (_IndexBuilder if index_notation else _ArrayBuilder)(given, input, target)
    spec = builder.build(text.strip(), out_name, out_index_nodes, assign.value)
    unknown = set(given) - set(spec.arrays)
    if unknown:
        raise LayerSyntaxError(f"--shape names {', '.join(sorted(unknown))}, which the layer does not use")
    return spec


class _Builder:
    """What both notations share: roles, shapes given, sizes and index symbols."""

    def __init__(self, given: dict[str, tuple[int, ...]], input: str, target: str | None) -> None:
        self.given, self.input_name, self.target_name = given, input, target
        self.sizes = _Sizes()
        self.shapes: dict[str, tuple[sp.Expr, ...]] = {}
        self.order: list[str] = []

    def role(self, name: str) -> str:
        if name == self.input_name:
            return "input"
        if name == self.target_name:
            return "target"
        return "parameter"

    def see(self, node: ast.Name) -> None:
        name = node.id
        if name in RESERVED:
            if name in FUNCTIONS or name in ("sum", "mean"):
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
        if not out_shape and out_name != "J":
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
        if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
            raise LayerSyntaxError(f"{out_name} is not a finite real number everywhere: {sp.sstr(expr)}")
        resolve = self.sizes.resolve
        arrays = {name: ArrayInfo(name, tuple(resolve(d) for d in self.shapes[name]), self.role(name))
                  for name in self.order}
        output = ArrayInfo(out_name, tuple(resolve(d) for d in out_shape), "output")
        expr = resolve(expr)
        ranges = {i: resolve(r) for i, r in ranges.items()}
        arrays[out_name] = output
        # The sizes the arrays' shapes, the indices' ranges and the sums use (a window's own
        # size, N_q of x[c+q], is in no shape: it must stay bound to its value all the same).
        bounds = [d for a in arrays.values() for d in a.shape] + list(ranges.values())
        bounds += [limit[2] for total in sp.sympify(expr).atoms(sp.Sum) for limit in total.limits]
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
            return op(l.element(_aligned(idx, shape, l.shape)), r.element(_aligned(idx, shape, r.shape)))
        return _Node(shape, element)

    def _broadcast(self, node, a, b):
        if len(a) < len(b):
            a, b = b, a
        shape = list(a)
        for k, db in enumerate(b):
            da = a[len(a) - len(b) + k]
            shape[len(a) - len(b) + k] = self.sizes.unify(da, db, node, "element-wise operands")
        return tuple(shape)

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
        if name in ("sum", "mean"):
            if len(node.args) != 1:
                raise _fail(node, f"{name}(e) takes one argument in array notation (the sum of all entries)")
            inner = self.visit(node.args[0])
            if inner.shape is None:
                raise _fail(node.args[0], f"the shape of {_what(node.args[0])} is neither given nor inferable")

            def total(idx):
                ks = tuple(self.index() for _ in inner.shape)
                body = inner.element(ks)
                return sp.Sum(body, *((k, 1, d) for k, d in zip(ks, inner.shape))) if ks else body
            if name == "sum":
                return _Node((), total)
            count = sp.Mul(*inner.shape)
            return _Node((), lambda idx: total(idx) / count)
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
            self.given = {k: v for k, v in self.given.items() if k != out_name}
        # First pass: collect every access, to learn index ranges and shapes.
        self._collect(value)
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

    def _affine(self, node: ast.AST) -> sp.Expr:
        """An index expression: names of indices, integers, + and -, integer multiples."""
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
        raise _fail(node, "an index must be affine: names of indices, integers, +, - and integer *")

    def _subscripts(self, node: ast.Subscript) -> tuple[sp.Expr, ...]:
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return tuple(self._affine(p) for p in parts)

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Subscript):
            self.see(node.value)
            name = node.value.id
            self.first_node.setdefault(name, node)
            self.accesses.append((name, self._subscripts(node), node))
            return
        if isinstance(node, ast.Name):
            self.see(node)
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
                if isinstance(sub, sp.Symbol):
                    continue
                unknown = [s for s in sub.free_symbols if s not in self.range]
                if len(unknown) == 1:
                    u = unknown[0]
                    coefficient = sub.coeff(u)
                    if coefficient != 1:
                        raise _fail(node, f"cannot infer the range of {u} from {sub}: give the output's "
                                    "shape with --shape")
                    rest = sub - u
                    high = self.given[name][axis] - _max(rest, self.range, self.sizes.value)
                    if high < 1:
                        raise _fail(node, f"{name}'s axis {axis + 1} of size {self.given[name][axis]} "
                                    f"is too small for {sub}")
                    size = self.sizes.new(high, _size_name(u))
                    self.range[u] = size
        # Every index needs a range.
        for symbol in self.indices.values():
            if symbol not in self.range:
                raise LayerSyntaxError(f"index {symbol} has no range: use it as a plain index of an "
                                       "array whose shape is given")
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
                        shape.append(self.range[sub])
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

    def _extent(self, sub: sp.Expr, value: int, node, name, axis) -> sp.Expr:
        """The size of an axis read at an affine index: written with the indices' sizes when
        its accesses fill it exactly (T + Q - 1 for t + q - 1), else a size of its own."""
        high = _max_symbolic(sub, self.range)
        if int(high.xreplace(self.sizes.value)) == value and _min(sub, self.range, self.sizes.value) == 1:
            return high
        if int(high.xreplace(self.sizes.value)) > value or _min(sub, self.range, self.sizes.value) < 1:
            raise _fail(node, f"{name}[...] at {sub} runs outside its axis {axis + 1} of size {value}")
        return self.sizes.new(value)

    def visit(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return constant(node.value)
        if isinstance(node, ast.Subscript):
            subs = self._subscripts(node)
            return sp.IndexedBase(node.value.id, real=True)[subs]
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
            return FUNCTIONS[name](self.visit(node.args[0]))
        raise _fail(node, f"{type(node).__name__.lower()} is not allowed in index notation")


def _size_name(index: sp.Symbol) -> str:
    return f"N_{index.name}"


def _max(expr: sp.Expr, ranges: dict, values: dict) -> int:
    """The largest value of an affine index expression over its indices' ranges."""
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
    total = expr.as_coeff_add()[0]
    for s in expr.free_symbols:
        c = int(expr.coeff(s))
        total += c if c > 0 else c * int(ranges[s].xreplace(values))
    return int(total)

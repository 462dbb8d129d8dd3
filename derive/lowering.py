"""Index form to numpy: the kernels of a layer written as one expression.

An index expression (sums over index ranges, products, element-wise functions) is
lowered to numpy statements over whole arrays.  Each lowered value is a
:class:`Tensor`: numpy code and the index each of its axes runs over.  Products are
broadcast over the union of their axes; a sum of a product of two factors over
shared indices is a ``@`` (BLAS) or ``tensordot``; an affine index (``x[d, t+q-1]``)
gathers patches (im2col) with ``window``; range guards become masks.  Equal
subexpressions are computed once per kernel.  The code calls ``xp``, the array module
(numpy or CuPy) the kernel takes from its arguments.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import sympy as sp

from .symbolic.functions import largest, relu, sigmoid, softplus, step

_FUNCTIONS = {sp.exp: "xp.exp", sp.log: "xp.log", sp.tanh: "xp.tanh", sp.sin: "xp.sin",
              sp.cos: "xp.cos", sp.Abs: "xp.abs", sp.sign: "xp.sign", sigmoid: "sigmoid",
              relu: "relu", softplus: "softplus", step: "step"}


@dataclass(frozen=True)
class Tensor:
    """numpy code for an array whose axes run over ``axes`` (index symbols), in order."""

    code: str
    axes: tuple[sp.Symbol, ...]


class Lowering:
    """Lowers index expressions to numpy statements, sharing equal subexpressions.

    ``arrays`` maps an IndexedBase name to the Python name of its array in the kernel;
    ``ranges`` gives each index symbol its (concrete) size.
    """

    def __init__(self, arrays: dict[str, str], ranges: dict[sp.Symbol, int]) -> None:
        self.arrays = arrays
        self.ranges = dict(ranges)
        self.lines: list[str] = []
        self.memo: dict[sp.Expr, Tensor] = {}
        self.names: dict[str, str] = {}
        self.counter = itertools.count(1)
        self.order: tuple = ()  # the axes of the result being lowered: products follow them
        self.temporaries: dict[str, tuple] = {}  # each temporary's axes

    # -- statements ------------------------------------------------------------------
    def temporary(self, code: str, axes) -> Tensor:
        if code in self.names:  # the same computation on the same arrays: done once
            return Tensor(self.names[code], tuple(axes))
        name = f"_t{next(self.counter)}"
        self.lines.append(f"{name} = {code}")
        self.temporaries[name] = tuple(axes)
        self.names[code] = name
        return Tensor(name, tuple(axes))

    def result(self, expr: sp.Expr, axes: tuple[sp.Symbol, ...]) -> str:
        """Code for ``expr`` as an array whose axes are exactly ``axes``, in that order."""
        self.order = tuple(axes)
        t = self.lower(expr)
        missing = [a for a in t.axes if a not in axes]
        if missing:
            raise ValueError(f"cannot lower {expr}: index {missing[0]} is neither free nor summed")
        if t.axes and set(t.axes) == set(axes):
            return self.align(t, tuple(axes)).code
        # Missing axes become new ones of length 1 where they fall (a non-trailing axis too:
        # g[k] over (k, l) is g[:, None]), then the whole is broadcast to the result's shape.
        code = self.align(t, tuple(axes)).code if t.axes else t.code
        if code.lstrip("-").isdigit():
            code += ".0"  # a constant result (y = x - x) is an array of floats, as every other
        shape = ", ".join(str(self.ranges[a]) for a in axes)
        return f"xp.broadcast_to({code}, ({shape}{',' if len(axes) == 1 else ''}))"

    # -- alignment -------------------------------------------------------------------
    def align(self, t: Tensor, axes: tuple[sp.Symbol, ...]) -> Tensor:
        """``t`` with its axes permuted and new ones of length 1 inserted to broadcast as ``axes``."""
        own = [a for a in axes if a in t.axes]
        code = t.code
        if tuple(own) != t.axes:
            if len(own) == 2:
                code = f"{_atom(code)}.T"
            else:
                perm = ", ".join(str(t.axes.index(a)) for a in own)
                code = f"xp.transpose({code}, ({perm}))"
        # Trailing axes broadcast by themselves: only interior or leading gaps need None.
        positions = [axes.index(a) for a in own]
        first = positions[0] if positions else len(axes)
        needs = [a for a in axes[first:] if a not in t.axes]
        if own and needs:
            index = ", ".join(":" if a in t.axes else "None" for a in axes[first:])
            code = f"{_atom(code)}[{index}]"
        return Tensor(code, tuple(axes[first:]) if own else ())

    def broadcast(self, tensors: list[Tensor]) -> tuple[list[Tensor], tuple]:
        axes: list[sp.Symbol] = []
        for t in tensors:
            axes += [a for a in t.axes if a not in axes]
        # The result's own axes in its order, so that it needs no transpose at the end
        # (arrays over the same indices keep the first one's order: no transpose at all).
        if any(set(t.axes) != set(axes) for t in tensors):
            rank = {x: k for k, x in enumerate(self.order)}
            axes.sort(key=lambda a: rank.get(a, len(rank)))
        return [self.align(t, tuple(axes)) for t in tensors], tuple(axes)

    # -- expressions -----------------------------------------------------------------
    def lower(self, expr: sp.Expr) -> Tensor:
        # Equal up to the names of free indices (exp(x_i) and exp(x_j)): computed once.
        free = []
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Symbol) and node in self.ranges and node not in free:
                free.append(node)
        places = {s: sp.Symbol(f"_a{k}", integer=True, positive=True) for k, s in enumerate(free)}
        key = (expr.xreplace(places), tuple(self.ranges[s] for s in free))
        back = {v: k for k, v in places.items()}
        if key in self.memo:
            t = self.memo[key]
            return Tensor(t.code, tuple(back[a] for a in t.axes))
        t = self._lower(expr)
        if not _plain(t.code):
            t = self.temporary(t.code, t.axes)
        self.memo[key] = Tensor(t.code, tuple(places[a] for a in t.axes))
        return t

    def _lower(self, expr: sp.Expr) -> Tensor:
        if expr.is_Number:
            return Tensor(repr(float(expr)) if not expr.is_Integer else str(int(expr)), ())
        if isinstance(expr, sp.Symbol):
            if expr in self.ranges:  # an index as a value: 1 .. size along its own axis
                return Tensor(f"xp.arange(1, {_plus(self.ranges[expr], 1)})", (expr,))
            if expr.name in self.arrays:
                return Tensor(self.arrays[expr.name], ())
            raise ValueError(f"cannot lower the symbol {expr}")
        if isinstance(expr, sp.Indexed):
            return self._indexed(expr)
        if isinstance(expr, sp.Add):
            terms = sorted(expr.args, key=lambda a: a.could_extract_minus_sign())
            negative = [a.could_extract_minus_sign() for a in terms]
            parts, axes = self.broadcast([self.lower(-a if n else a) for a, n in zip(terms, negative)])
            # numpy neither negates nor subtracts boolean masks (a delta, a range guard): as floats
            parts = [Tensor(f"1.0 * {_atom(p.code)}", p.axes) if _mask(-a if n else a) else p
                     for p, a, n in zip(parts, terms, negative)]
            text = parts[0].code if not negative[0] else f"-{_atom(parts[0].code)}"
            for part, n in zip(parts[1:], negative[1:]):
                text += f" - {_atom(part.code)}" if n else f" + {part.code}"
            return Tensor(text, axes)
        if isinstance(expr, sp.Mul):
            return self._product(list(expr.args))
        if isinstance(expr, sp.Pow):
            base = self.lower(expr.base)
            e = expr.exp
            if e == -1:
                return Tensor(f"1 / {_atom(base.code)}", base.axes)
            if e == sp.Rational(1, 2):
                return Tensor(f"xp.sqrt({base.code})", base.axes)
            if e == sp.Rational(-1, 2):
                return Tensor(f"1 / xp.sqrt({base.code})", base.axes)
            if e.is_number:
                return Tensor(f"{_atom(base.code)} ** {_number(e)}", base.axes)
            raise ValueError(f"cannot lower the power {expr}")
        if isinstance(expr, sp.Sum):
            return self._sum(expr)
        if isinstance(expr, sp.Piecewise):
            return self._piecewise(expr)
        if isinstance(expr, sp.KroneckerDelta):
            a, b = (self.lower(x) for x in expr.args)
            (a, b), axes = self.broadcast([a, b])
            return Tensor(f"({a.code} == {b.code})", axes)
        if isinstance(expr, largest):
            return self._largest(*expr.args)
        if isinstance(expr, sp.Function) and expr.func in _FUNCTIONS:
            inner = self.lower(expr.args[0])
            return Tensor(f"{_FUNCTIONS[expr.func]}({inner.code})", inner.axes)
        if isinstance(expr, (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)):
            (a, b), axes = self.broadcast([self.lower(expr.lhs), self.lower(expr.rhs)])
            return Tensor(f"({a.code} {expr.rel_op} {b.code})", axes)
        if isinstance(expr, sp.And):
            parts, axes = self.broadcast([self.lower(a) for a in expr.args])
            return Tensor(" & ".join(p.code for p in parts), axes)
        raise ValueError(f"cannot lower {type(expr).__name__}: {expr}")

    def _largest(self, function: sp.Expr, limits) -> Tensor:
        """The largest of ``function`` over the indices of ``limits`` (the others stay axes)."""
        for v, low, high in limits:
            if low != 1:
                raise ValueError(f"cannot lower the largest over {v} from {low} to {high}")
            self.ranges[v] = int(high) if high.is_Integer else self.lower(high).code
        t = self.lower(function)
        bound = [limit[0] for limit in limits]
        over = [t.axes.index(v) for v in bound if v in t.axes]
        if not over:
            return t
        axis = str(over[0]) if len(over) == 1 else f"({', '.join(map(str, over))})"
        return self.temporary(f"{_atom(t.code)}.max(axis={axis})", tuple(a for a in t.axes if a not in bound))

    def _indexed(self, expr: sp.Indexed) -> Tensor:
        name = self.arrays[expr.base.name]
        indices = expr.indices
        if all(isinstance(i, sp.Symbol) and i in self.ranges for i in indices) and len(set(indices)) == len(indices):
            return Tensor(name, tuple(indices))
        # An affine index: gather the elements (patches, im2col), zero outside the array.
        axes: list[sp.Symbol] = []
        for i in indices:
            axes += sorted((s for s in i.free_symbols if s not in axes), key=lambda s: str(s))
        parts = []
        for i in indices:
            terms = []
            for s in sorted(i.free_symbols, key=str):
                c = int(i.coeff(s))
                shape = ", ".join(str(self.ranges[s]) if a == s else "1" for a in axes)
                arange = f"xp.arange({self.ranges[s]}).reshape({shape}{',' if len(axes) == 1 else ''})"
                terms.append(arange if c == 1 else f"{c} * {arange}")
            constant = int(i.as_coeff_add()[0]) + sum(int(i.coeff(s)) for s in i.free_symbols) - 1
            text = " + ".join(terms) if terms else "0"
            parts.append(f"{text} + {constant}" if constant else text)
        return Tensor(f"window({name}, ({', '.join(parts)}{',' if len(parts) == 1 else ''}))", tuple(axes))

    def _product(self, factors: list[sp.Expr]) -> Tensor:
        numbers = [f for f in factors if f.is_number]
        arrays = [self.lower(f) for f in factors if not f.is_number]
        parts, axes = self.broadcast(arrays)
        code = " * ".join(_atom(p.code) for p in parts)
        coefficient = sp.Mul(*numbers)
        if code and coefficient.is_Rational and not coefficient.is_Integer and coefficient.p == 1:
            code = f"{code} / {coefficient.q}"  # x / n, not 0.333... * x
        elif coefficient == -1:
            code = f"-{_atom(code)}" if code else "-1"
        elif coefficient != 1:
            code = f"{_number(coefficient)} * {code}" if code else _number(coefficient)
        return Tensor(code or "1", axes)

    def _sum(self, expr: sp.Sum) -> Tensor:
        variables = [v for v, _, _ in expr.limits]
        for v, low, high in expr.limits:
            if low != 1:
                raise ValueError(f"cannot lower a sum over {v} from {low} to {high}")
            self.ranges[v] = int(high) if high.is_Integer else self.lower(high).code
        terms = sp.Add.make_args(expr.function)
        if len(terms) > 1:  # a sum of sums: each term contracts on its own (BLAS)
            parts = [self.lower(sp.Sum(t, *expr.limits)) for t in terms]
            parts, axes = self.broadcast(parts)
            return Tensor(" + ".join(p.code for p in parts), axes)
        factors = sp.Mul.make_args(expr.function)
        inside = [f for f in factors if f.free_symbols & set(variables)]
        outside = [f for f in factors if f not in inside]
        tensors = [self.lower(f) for f in inside]
        # A summand free of every summed index (sum over i of 2): 1, times the ranges below.
        result = self._contract(tensors, set(variables)) if tensors else Tensor("1", ())
        # An index the summand does not use multiplies it by its range.
        scale = [str(self.ranges[v]) for v in variables if all(v not in t.axes for t in tensors)]
        if outside or scale:
            rest = [self.lower(f) for f in outside]
            parts, axes = self.broadcast([result] + rest)
            code = " * ".join(scale + [_atom(p.code) for p in parts])
            return Tensor(code, axes)
        return result

    def _contract(self, tensors: list[Tensor], summed: set) -> Tensor:
        """The product of ``tensors`` summed over ``summed``: element-wise merges where one
        factor's axes hold another's, then pairwise contractions (``@``) over shared indices."""
        tensors = list(tensors)
        while True:
            # An index only one factor has: sum it there.
            for k, t in enumerate(tensors):
                own = [a for a in t.axes if a in summed and all(a not in o.axes for o in tensors if o is not t)]
                if own and len(tensors) > 1:
                    tensors[k] = self._reduce(t, own)
                    summed -= set(own)
            if len(tensors) == 1:
                break
            # Order of preference: factors over the same indices multiply element-wise (no
            # loss); then a pair contracts over indices only they have (BLAS); only then
            # does a factor merge into one whose indices hold its own.
            merged = self._merge_subset(tensors, equal=True)
            if merged is not None:
                tensors = merged
                continue
            pair = self._pair(tensors, summed)
            if pair is None:
                merged = self._merge_subset(tensors, equal=False)
                if merged is not None:
                    tensors = merged
                    continue
                parts, axes = self.broadcast(tensors)
                tensors = [self.temporary(" * ".join(_atom(p.code) for p in parts), axes)]
                break
            a, b = pair
            shared = [x for x in a.axes if x in b.axes and x in summed
                      and all(x not in t.axes for t in tensors if t is not a and t is not b)]
            contracted = self._matmul(a, b, shared)
            summed -= set(shared)
            tensors = [t for t in tensors if t is not a and t is not b] + [contracted]
        t = tensors[0]
        own = [a for a in t.axes if a in summed]
        return self._reduce(t, own) if own else t

    def _merge_subset(self, tensors: list[Tensor], equal: bool) -> list[Tensor] | None:
        for a, b in itertools.permutations(tensors, 2):
            if set(a.axes) == set(b.axes) if equal else set(a.axes) <= set(b.axes):
                (pa, pb), axes = self.broadcast([b, a])
                product = self.temporary(f"{_atom(pa.code)} * {_atom(pb.code)}", axes)
                return [t for t in tensors if t is not a and t is not b] + [product]
        return None

    def _pair(self, tensors: list[Tensor], summed: set):
        best = None
        for a, b in itertools.combinations(tensors, 2):
            shared = [x for x in a.axes if x in b.axes and x in summed
                      and all(x not in t.axes for t in tensors if t is not a and t is not b)]
            if shared and (best is None or len(shared) > best[2]):
                best = (a, b, len(shared))
        return None if best is None else best[:2]

    def _matmul(self, a: Tensor, b: Tensor, over: list) -> Tensor:
        batch = [x for x in a.axes if x in b.axes and x not in over]
        if batch:  # indices both keep (samples): an element-wise product, then the sum
            (pa, pb), axes = self.broadcast([a, b])
            product = self.temporary(f"{_atom(pa.code)} * {_atom(pb.code)}", axes)
            return self._reduce(product, over)
        keep_a = [x for x in a.axes if x not in over]
        keep_b = [x for x in b.axes if x not in over]
        rank = {x: k for k, x in enumerate(self.order)}
        if keep_a and keep_b and rank.get(keep_b[0], len(rank)) < rank.get(keep_a[0], len(rank)):
            a, b, keep_a, keep_b = b, a, keep_b, keep_a  # X W^T, not (W X^T)^T
        if len(over) == 1 and len(a.axes) <= 2 and len(b.axes) <= 2:
            left = self.align(a, tuple(keep_a) + tuple(over)) if keep_a else a
            right = self.align(b, tuple(over) + tuple(keep_b)) if keep_b else b
            return self.temporary(f"{_atom(left.code)} @ {_atom(right.code)}", keep_a + keep_b)
        axes_a = ", ".join(str(a.axes.index(x)) for x in over)
        axes_b = ", ".join(str(b.axes.index(x)) for x in over)
        return self.temporary(f"xp.tensordot({a.code}, {b.code}, axes=(({axes_a},), ({axes_b},)))",
                              keep_a + keep_b)

    def _reduce(self, t: Tensor, over: list) -> Tensor:
        positions = [t.axes.index(a) for a in over]
        axis = str(positions[0]) if len(positions) == 1 else f"({', '.join(map(str, positions))})"
        return self.temporary(f"{_atom(t.code)}.sum(axis={axis})", [a for a in t.axes if a not in over])

    def _piecewise(self, expr: sp.Piecewise) -> Tensor:
        (value, condition), *rest = expr.args
        if len(rest) != 1 or rest[0][1] not in (True, sp.true):
            raise ValueError(f"cannot lower {expr}")
        parts, axes = self.broadcast([self.lower(condition), self.lower(value), self.lower(rest[0][0])])
        return Tensor(f"xp.where({parts[0].code}, {parts[1].code}, {parts[2].code})", axes)


# Element-wise float functions that take ``out=`` on numpy and CuPy alike.
_UFUNCS = ("xp.exp", "xp.log", "xp.tanh", "xp.sin", "xp.cos", "xp.sqrt", "xp.abs")
_TEMPORARY = re.compile(r"_t\d+")
_INVERSE = {"-": "xp.subtract", "/": "xp.divide"}


def in_place(lines: list[str], axes: dict[str, tuple]) -> list[str]:
    """The kernel's statements with each element-wise step on a temporary that nothing reads
    afterwards written into that temporary (``_t1 += b``, ``xp.tanh(_t1, out=_t1)``): the
    same numbers, one allocation fewer. Only float arrays the kernel made itself are
    overwritten, never an argument, a view of one, or a mask."""
    # A temporary of no axes may be a numpy scalar, which takes no out=: arrays only.
    assigned = (line.split(" = ", 1) for line in lines if " = " in line)
    fresh = {name for name, code in assigned if _TEMPORARY.fullmatch(name) and _fresh(code) and axes.get(name)}
    out, renamed = [], {}

    def current(text: str) -> str:  # the names statements use once earlier ones were rewritten
        return _TEMPORARY.sub(lambda m: renamed.get(m.group(0), m.group(0)), text)
    for k, line in enumerate(lines):
        line = current(line)
        target, _, code = line.partition(" = ")
        rewritten = None
        if _TEMPORARY.fullmatch(target) and target in axes:
            later = current(" ".join(lines[k + 1:]))
            rewritten = _rewrite(code, lambda t: (t in fresh and axes.get(t) == axes[target]
                                                  and not re.search(rf"\b{t}\b", later)))
        if rewritten is None:
            out.append(line)
            continue
        reused, statement = rewritten
        out.append(statement)
        renamed[target] = reused
    return out


def _fresh(code: str) -> bool:
    """Whether ``code`` makes a new float array (arithmetic, a product, a float ufunc)."""
    if any(mark in code for mark in ("==", "<", ">", "&", "arange", "window(", "broadcast_to", "transpose", "step(")):
        return False
    tokens = code.split(" ")
    return (len(tokens) >= 3 and tokens[1] in ("+", "-", "*", "/", "**", "@")) or code.startswith(_UFUNCS)


def _rewrite(code: str, free) -> tuple[str, str] | None:
    """(the temporary reused, the statement) for ``code`` computed in place, or None."""
    tokens = code.split(" ")
    if len(tokens) == 3 and tokens[1] in ("+", "-", "*", "/", "**"):
        left, op, right = tokens
        if free(left):
            if op == "**":
                return (left, f"xp.multiply({left}, {left}, out={left})") if right == "2" else None
            return left, f"{left} {op}= {right}"
        if free(right) and op in ("+", "*"):
            return right, f"{right} {op}= {left}"
        if free(right) and op in _INVERSE:
            return right, f"{_INVERSE[op]}({left}, {right}, out={right})"
        return None
    match = re.fullmatch(r"(xp\.\w+)\((_t\d+)\)", code)
    if match and match.group(1) in _UFUNCS and free(match.group(2)):
        name = match.group(2)
        return name, f"{match.group(1)}({name}, out={name})"
    return None


def _mask(expr: sp.Expr) -> bool:
    """Whether ``expr`` lowers to a boolean array (a Kronecker delta, a comparison, a conjunction)."""
    return isinstance(expr, (sp.KroneckerDelta, sp.core.relational.Relational, sp.And))


def _plus(size, k: int) -> str:
    return str(size + k) if isinstance(size, int) else f"{size} + {k}"


def _plain(code: str) -> bool:
    return code.isidentifier() or code.replace(".", "", 1).lstrip("-").isdigit()


def _atom(code: str) -> str:
    """``code`` bracketed unless it is a name, a number, an attribute or a call."""
    if _plain(code) or code.endswith(".T") and _plain(code[:-2]):
        return code
    depth = 0
    for k, char in enumerate(code):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and char in " +-*/@<>=&" and k > 0:
            return f"({code})"
    return code


def _number(value: sp.Expr) -> str:
    return str(int(value)) if value.is_Integer else repr(float(value))

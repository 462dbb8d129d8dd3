"""Index form to numpy: the kernels of a layer written as one expression.

An index expression (sums over index ranges, products, element-wise functions) is
lowered to numpy statements over whole arrays.  Each lowered value is a
:class:`Tensor`: numpy code and the index each of its axes runs over.  Products are
broadcast over the union of their axes; a sum of a product of two factors over
shared indices is a ``@`` or ``contract`` (tensordot, BLAS); an affine index
(``x[d, t+q-1]``) reads patches (im2col) with ``window``, a strided view of the array
padded once; the gradient of such a read is a correlation (a window of g) or a ``fold``,
strided adds over the kernel offsets; range guards become masks.  Equal
subexpressions are computed once per kernel.  The code calls ``xp``, the array module
(numpy or CuPy) the kernel takes from its arguments.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import sympy as sp

from .symbolic.functions import (ArgExtremum, Extremum, clamp, largest, maximum, minimum, relu, sigmoid, softplus,
                                 step, where)

_FUNCTIONS = {sp.exp: "xp.exp", sp.log: "xp.log", sp.tanh: "xp.tanh", sp.sin: "xp.sin",
              sp.cos: "xp.cos", sp.Abs: "xp.abs", sp.sign: "xp.sign", sigmoid: "sigmoid",
              relu: "relu", softplus: "softplus", step: "step"}


#: A subscript's non-affine arithmetic (nearest upsampling, pixel shuffle, reflection padding).
_INDEX_ARITHMETIC = (sp.floor, sp.Mod, sp.Min, sp.Max, sp.Abs)


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

    #: Whether float - bool is float (numpy's; torch refuses it): a subtracted mask stays a mask.
    subtracts_masks = True
    #: Whether arrays are written in place at gathered indices (numpy's; torch and jax differentiate
    #: the kernels themselves): a sum's term c delta(l, t) is one scatter, not a mask of every l.
    scatters = True
    #: Whether the array module has strided views: window() is one, and a window's gradient
    #: is a fold() (strided adds); without them (torch, jax.numpy) a gather and a mask or bincount.
    strided = True

    def __init__(self, arrays: dict[str, str], ranges: dict[sp.Symbol, int]) -> None:
        self.arrays = arrays
        self.ranges = dict(ranges)
        self.lines: list[str] = []
        self.memo: dict[sp.Expr, Tensor] = {}
        self.names: dict[str, str] = {}
        self.counter = itertools.count(1)
        self.order: tuple = ()  # the axes of the result being lowered: products follow them
        self.temporaries: dict[str, tuple] = {}  # each temporary's axes
        self.sizes: dict[str, tuple] = {}  # each temporary's sizes, as code
        self.shapes: dict[str, tuple] = {}  # arrays' sizes where known: guards window() makes anyway
        self.views: set[str] = set()  # temporaries that are window()'s read-only views of an array
        self.extents: dict[str, tuple] = {}  # at run-time sizes: arrays' sizes by the names the kernel binds
        # the kernel's argument that keeps the windows a contraction copies, from the forward for the
        # backward (derive.nn.functional.Patches: Torch7's columns), or None: each kernel copies its own
        self.patches: str | None = None

    # -- statements ------------------------------------------------------------------
    def temporary(self, code: str, axes) -> Tensor:
        if code in self.names:  # the same computation on the same arrays: done once
            return Tensor(self.names[code], tuple(axes))
        name = f"_t{next(self.counter)}"
        self.lines.append(f"{name} = {code}")
        if code.startswith("window("):
            self.views.add(name)
        self.temporaries[name] = tuple(axes)
        # its sizes as the ranges are now (a sum's index may range over another size later)
        self.sizes[name] = tuple(str(self.ranges.get(a, a)) for a in axes)
        self.names[code] = name
        return Tensor(name, tuple(axes))

    def result(self, expr: sp.Expr, axes: tuple[sp.Symbol, ...], number: bool = False) -> str:
        """Code for ``expr`` as an array whose axes are exactly ``axes``, in that order (for no
        axes and ``number``: anything float() reads, a loss)."""
        self.order = tuple(axes)
        t = self.lower(expr)
        missing = [a for a in t.axes if a not in axes]
        if missing:
            raise ValueError(f"cannot lower {expr}: index {missing[0]} is neither free nor summed")
        if number and not axes and not t.axes:
            return t.code
        if t.axes and set(t.axes) == set(axes):
            return self._owned(self.align(t, tuple(axes)).code)
        # Missing axes become new ones of length 1 where they fall (a non-trailing axis too:
        # g[k] over (k, l) is g[:, None]), then the whole is broadcast to the result's shape.
        code = self.align(t, tuple(axes)).code if t.axes else t.code
        if code.lstrip("-").isdigit():
            code += ".0"  # a constant result (y = x - x) is an array of floats, as every other
        shape = ", ".join(str(self.ranges[a]) for a in axes)
        return f"xp.broadcast_to({code}, ({shape}{',' if len(axes) == 1 else ''}))"

    def _owned(self, code: str) -> str:
        """``code``, copied where it is only a window's view (a result read-only and sharing the
        memory of an argument would change with it)."""
        if self.views & set(_TEMPORARY.findall(code)) and not re.search(r" [-+*/@&|] |\.\w+\((?!_t\d+, \()", code):
            return f"xp.array({code})"
        return code

    # -- alignment -------------------------------------------------------------------
    def align(self, t: Tensor, axes: tuple[sp.Symbol, ...]) -> Tensor:
        """``t`` with its axes permuted and new ones of length 1 inserted to broadcast as ``axes``."""
        own = [a for a in axes if a in t.axes]
        code = t.code
        if tuple(own) != t.axes:
            if len(own) == 2:
                code = f"{_atom(code)}.T"
            else:
                code = self._print_transpose(code, tuple(t.axes.index(a) for a in own))
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
    def _memo_key(self, expr: sp.Expr) -> tuple[tuple, dict]:
        """(the memo's key of ``expr``: equal up to the names of its free indices, the renaming)."""
        free = []
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Symbol) and node in self.ranges and node not in free:
                free.append(node)
        places = {s: sp.Symbol(f"_a{k}", integer=True, positive=True) for k, s in enumerate(free)}
        return (expr.xreplace(places), tuple(self.ranges[s] for s in free)), places

    def lower(self, expr: sp.Expr) -> Tensor:
        # Equal up to the names of free indices (exp(x_i) and exp(x_j)): computed once.
        key, places = self._memo_key(expr)
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
        if expr.is_Number and expr.is_infinite:  # a padded max's outside (see language._outside_excluded)
            return Tensor("xp.inf" if expr > 0 else "-xp.inf", ())
        if expr.is_Number:
            return Tensor(repr(float(expr)) if not expr.is_Integer else str(int(expr)), ())
        if isinstance(expr, sp.Symbol):
            if expr in self.ranges:  # an index as a value: 1 .. size along its own axis
                return Tensor(self._print_arange(f"1, {_plus(self.ranges[expr], 1)}"), (expr,))
            if expr.name in self.arrays:
                return Tensor(self.arrays[expr.name], ())
            raise ValueError(f"cannot lower the symbol {expr}")
        if isinstance(expr, sp.Indexed):
            return self._indexed(expr)
        if isinstance(expr, sp.Add):
            scattered = self._scattered_delta(expr) if self.scatters else None
            if scattered is not None:
                return scattered
            terms = sorted(expr.args, key=lambda a: a.could_extract_minus_sign())
            negative = [a.could_extract_minus_sign() for a in terms]
            lowered = [self.lower(-a if n else a) for a, n in zip(terms, negative)]
            terms, negative, lowered = self._grouped(terms, negative, lowered)
            parts, axes = self.broadcast(lowered)
            # numpy neither negates nor subtracts boolean masks (a delta, a range guard): as floats
            # where no float term comes before (float - mask is float, of the float's dtype)
            masks = [_mask(-a if n else a) for a, n in zip(terms, negative)]
            parts = [Tensor(f"1.0 * {_atom(p.code)}", p.axes)
                     if masks[k] and (all(masks[:k]) or negative[k] and not self.subtracts_masks) else p
                     for k, p in enumerate(parts)]
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
            if e in (sp.Rational(1, 2), sp.Rational(-1, 2)) and expr.base.is_integer and not base.axes:
                # a size's root (attention's sqrt(d)): a Python float, which keeps float32 arrays float32
                return Tensor(f"{_atom(base.code)} ** {_number(e)}", base.axes)
            if e == sp.Rational(1, 2):
                return Tensor(f"xp.sqrt({base.code})", base.axes)
            if e == sp.Rational(-1, 2):
                return Tensor(f"1 / xp.sqrt({base.code})", base.axes)
            if e.is_number:
                return Tensor(f"{_atom(base.code)} ** {_number(e)}", base.axes)
            exponent = self.lower(e)
            if not exponent.axes:  # a scalar given at run time (Power(p)'s p)
                return Tensor(f"{_atom(base.code)} ** {_atom(exponent.code)}", base.axes)
            raise ValueError(f"cannot lower the power {expr}")
        if isinstance(expr, sp.Sum):
            return self._sum(expr)
        if isinstance(expr, sp.Piecewise):
            return self._piecewise(expr)
        if isinstance(expr, sp.KroneckerDelta):
            a, b = (self.lower(x) for x in expr.args)
            (a, b), axes = self.broadcast([a, b])
            return Tensor(f"({a.code} == {b.code})", axes)
        if isinstance(expr, (sp.floor, sp.Mod, sp.Min, sp.Max)):
            return self._index_arithmetic(expr)
        extreme = self._extreme(expr)
        if extreme is not None:
            return extreme
        if isinstance(expr, largest):
            return self._largest(*expr.args)
        if isinstance(expr, sp.Function) and expr.func in _FUNCTIONS:
            inner = self.lower(expr.args[0])
            return Tensor(f"{_FUNCTIONS[expr.func]}({inner.code})", inner.axes)
        if isinstance(expr, (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan,
                             sp.Equality, sp.Unequality)):
            (a, b), axes = self.broadcast([self.lower(expr.lhs), self.lower(expr.rhs)])
            return Tensor(f"({a.code} {expr.rel_op} {b.code})", axes)
        if isinstance(expr, sp.And):
            parts, axes = self.broadcast([self.lower(a) for a in expr.args])
            return Tensor(" & ".join(p.code for p in parts), axes)
        if isinstance(expr, sp.Or):
            parts, axes = self.broadcast([self.lower(a) for a in expr.args])
            return Tensor(f"({' | '.join(p.code for p in parts)})", axes)
        if isinstance(expr, sp.Not):
            inner = self.lower(expr.args[0])
            return Tensor(f"~{_atom(inner.code)}", inner.axes)
        raise ValueError(f"cannot lower {type(expr).__name__}: {expr}")

    def _grouped(self, terms: list, negative: list, lowered: list[Tensor]) -> tuple[list, list, list[Tensor]]:
        """A sum's terms regrouped for fewer passes over the whole array: a part the kernel has
        computed already taken as it is ((x - c) - log S, where exp(x - c) made x - c), else the
        terms over fewer axes than the whole added first, among themselves (x - (c + log S))."""
        if any(_mask(t) for t in terms):
            return terms, negative, lowered
        # a part of the sum computed already (x - c, shifted before exp(x - c)): reused, one pass fewer
        for size in range(len(terms) - 1, 1, -1) if len(terms) <= 6 else ():
            for subset in itertools.combinations(range(len(terms)), size):
                part = sp.Add(*(terms[k] for k in subset))
                if self._memo_key(part)[0] in self.memo:
                    return self._regrouped(terms, negative, lowered, subset, part, False)
        whole = set().union(*(t.axes for t in lowered))
        small = [k for k, t in enumerate(lowered) if set(t.axes) < whole]
        if len(small) < 2 or len(small) == len(terms):
            return terms, negative, lowered
        minus = all(negative[k] for k in small)  # all subtracted: their sum, subtracted once
        group = sp.Add(*(-terms[k] if minus else terms[k] for k in small))
        return self._regrouped(terms, negative, lowered, small, group, minus)

    def _regrouped(self, terms: list, negative: list, lowered: list[Tensor], grouped, group: sp.Expr,
                   minus: bool) -> tuple[list, list, list[Tensor]]:
        """The terms with those at ``grouped`` replaced by ``group`` (subtracted where ``minus``);
        the added ones first, as the sum's own order."""
        keep = [k for k in range(len(terms)) if k not in grouped]
        rows = [(terms[k], negative[k], lowered[k]) for k in keep] + [(-group if minus else group, minus,
                                                                       self.lower(group))]
        rows.sort(key=lambda row: row[1])
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

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
        return self.temporary(self._print_largest(t.code, axis), tuple(a for a in t.axes if a not in bound))

    def _indexed(self, expr: sp.Indexed) -> Tensor:
        name = self.arrays[expr.base.name]
        indices = expr.indices
        shape = self.shapes.get(expr.base.name) or ()
        if len(shape) != len(indices):  # sizes not known for this access: trust the ranges
            shape = (None,) * len(indices)
        if all(isinstance(i, sp.Symbol) and i in self.ranges for i in indices) and len(set(indices)) == len(indices) \
                and all(size is None or self.ranges[i] == size for i, size in zip(indices, shape)):
            return Tensor(name, tuple(indices))
        if any(not (s in self.ranges) for i in indices for s in i.free_symbols if isinstance(s, sp.Symbol)):
            return self._gather(name, indices)
        if any(i.has(*_INDEX_ARITHMETIC) for i in indices):  # x[c, (u-1)//2 + 1]: integer indexing
            return self._gather(name, indices, clipped=True)
        # An affine index: the patches (im2col), zero outside the array.
        axes: list[sp.Symbol] = []
        for i in indices:
            axes += sorted((s for s in i.free_symbols if s not in axes), key=lambda s: str(s))
        # Each array axis's 0-based read: start + sum of coefficient * (the 0-based index).
        starts = [int(i.as_coeff_add()[0]) + sum(int(i.coeff(s)) for s in i.free_symbols) - 1 for i in indices]
        steps = [{axes.index(s): int(i.coeff(s)) for s in sorted(i.free_symbols, key=str)} for i in indices]
        return Tensor(self._print_window(name, tuple(axes), starts, steps), tuple(axes))

    def _print_window(self, name: str, axes: tuple, starts: list[int], steps: list[dict]) -> str:
        """The patches of ``name`` at affine subscripts: a strided view (derive.nn.functional.window)."""
        shape = ", ".join(str(self.ranges[a]) for a in axes)
        return (f"window({name}, ({shape}{',' if len(axes) == 1 else ''}), "
                f"({', '.join(map(str, starts))}{',' if len(starts) == 1 else ''}), "
                f"({', '.join(map(_steps, steps))}{',' if len(steps) == 1 else ''}))")

    def _product(self, factors: list[sp.Expr]) -> Tensor:
        # An Iverson bracket times the rest: where(c, rest, 0), one pass and the rest's dtype
        # (a float32 gradient stays float32; a bracket of float64 ones would promote it)
        # A Kronecker delta likewise: the rest read only where the indices agree (a class target's
        # weight over the batch's total weight: 0 elsewhere, whatever the total, as PyTorch's)
        if self.scatters and any(isinstance(f, sp.KroneckerDelta) for f in factors):
            scattered = self._scattered_delta(sp.Mul(*factors))  # c delta(l, t): zeros, c at l = t
            if scattered is not None:
                return scattered
        bracket = next((f for f in factors if isinstance(f, where) and f.args[1] == 1 and f.args[2] == 0
                        and not self._padding(f) or isinstance(f, sp.KroneckerDelta)), None)
        if bracket is not None and any(not f.is_number for f in factors if f is not bracket):
            rest = sp.Mul(*(f for f in factors if f is not bracket))
            condition = sp.Eq(*bracket.args, evaluate=False) if isinstance(bracket, sp.KroneckerDelta) else bracket.args[0]
            return self.lower(where(condition, rest, 0))
        factors = [g for f in factors for g in _pulled(f)]
        # a scatter's sum (softmax - onehot) over a number (a mean's B): each term over it, so the
        # number scales a row's factor and the class's entry, not the whole array once more
        sums = [f for f in factors if isinstance(f, sp.Add)]
        # (a class target's delta, delta(l, t): one of fixed entries, delta(l, 2), is no scatter of a row)
        if (self.scatters and len(sums) == 1
                and any(isinstance(g, sp.KroneckerDelta) and not any(a.is_number for a in g.args)
                        for t in sums[0].args for g in sp.Mul.make_args(t))
                and all(not f.free_symbols & self.ranges.keys() for f in factors if f is not sums[0])):
            scale = sp.Mul(*(f for f in factors if f is not sums[0]))
            scattered = self._scattered_delta(sp.Add(*(scale * t for t in sums[0].args)))
            if scattered is not None:
                return scattered
        grouped = self._small_first(factors)
        if grouped is not None:
            return grouped
        # divided by the sizes (x / (B n)), not times their reciprocals: one rounding, as a mean's
        divisors = [f.base for f in factors if isinstance(f, sp.Pow) and f.exp == -1 and not f.base.is_number
                    and not self.lower(f.base).axes]
        if divisors and any(not f.is_number for f in factors if not (isinstance(f, sp.Pow) and f.base in divisors)):
            factors = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp == -1 and f.base in divisors)]
            over = [_atom(self.lower(d).code) for d in divisors]
            # a factor over fewer axes than the product (a row's 1 / S): divided there, a pass fewer
            lowered = {f: self.lower(f) for f in factors if not f.is_number}
            whole = set().union(*(t.axes for t in lowered.values()))
            small = sorted((f for f, t in lowered.items() if set(t.axes) < whole), key=lambda f: len(lowered[f].axes))
            if small and whole:
                folded = self.lower(small[0] / sp.Mul(*divisors))
                rest = [self.lower(f) for f in factors if f is not small[0] and not f.is_number]
                numbers = sp.Mul(*(f for f in factors if f.is_number))
                parts, axes = self.broadcast(rest + [folded])
                code = " * ".join(_atom(p.code) for p in parts)
                return Tensor(code if numbers == 1 else f"{_number(numbers)} * {code}", axes)
            top = self._product(factors)
            below = over[0] if len(over) == 1 else f"({' * '.join(over)})"
            return Tensor(f"{_atom(top.code)} / {below}", top.axes)
        numbers = [f for f in factors if f.is_number]
        arrays = [self.lower(f) for f in factors if not f.is_number]
        parts, axes = self.broadcast(arrays)
        code = " * ".join(_atom(p.code) for p in parts)
        coefficient = sp.Mul(*numbers)
        if code and coefficient.is_Rational and not coefficient.is_Integer and coefficient.p == 1:
            code = f"{code} / {coefficient.q}"  # x / n, not 0.333... * x
        elif coefficient == -1:
            alone = [f for f in factors if not f.is_number][0] if len(arrays) == 1 else None
            code = _negative(code, alone) if code else "-1"
        elif coefficient != 1:
            code = f"{_number(coefficient)} * {code}" if code else _number(coefficient)
        return Tensor(code or "1", axes)

    def _small_first(self, factors: list[sp.Expr]) -> Tensor | None:
        """A product of arrays of fewer axes (a row of statistics, numbers, divisions by sizes) and
        of full ones: the small ones multiplied first (2 d_var / n, then times xc), one pass over
        the full arrays for them all; None where there is nothing to group."""
        lowered = [(f, self.lower(f)) for f in factors if not f.is_number and not (
            isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Symbol) and not self.lower(f.base).axes)]
        if len(lowered) < 2:
            return None
        full = max(len(t.axes) for _, t in lowered)
        big = [f for f, t in lowered if len(t.axes) == full]
        small = [f for f in factors if f not in big]
        if not big or len(small) < 2 or not all(set(t.axes) <= set(self.lower(big[0]).axes) for _, t in lowered):
            return None
        if not any(t.axes for f, t in lowered if f in small):  # only numbers and sizes: the usual x / n
            return None
        left, right = self._product(small), self._product(big)
        (pl, pr), axes = self.broadcast([self.temporary(left.code, left.axes) if not _plain(left.code) else left,
                                         right])
        return Tensor(f"{_atom(pl.code)} * {_atom(pr.code)}", axes)

    def _scattered_delta(self, expr: sp.Add) -> Tensor | None:
        """rest + c delta(l, t) over the result's axes (one sample's or a batch's class target: at
        most two axes, l one of them) as the rest in a new array and c added at l = t, one entry a
        row (``r[rows(B, xp), T] -= c``), instead of a comparison of every l with t; else None."""
        order = self.order
        if not 1 <= len(order) <= 2:
            return None
        for term in sp.Add.make_args(expr):
            deltas = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.KroneckerDelta)]
            if len(deltas) != 1:
                continue
            (delta,) = deltas
            l, other = next(((a, b) for a, b in (delta.args, delta.args[::-1]) if a in order and a not in b.free_symbols),
                            (None, None))
            factor = term / delta
            if l is None or l in factor.free_symbols:
                continue
            rest = self.lower(expr - term) if expr != term else None  # a lone term: into zeros
            if rest is not None and rest.axes != order:
                return None
            minus = term.could_extract_minus_sign() and rest is not None  # into zeros: c assigned, not added
            at, by = self.lower(other - 1), self.lower(-factor if minus else factor)
            (row,) = [a for a in order if a != l] or [None]
            if not set(at.axes) | set(by.axes) <= {row}:
                return None
            index = [at.code if a == l else self._rows(a).code if at.axes else ":" for a in order]
            name = f"_t{next(self.counter)}"  # not shared: it is written in place
            if rest is None:
                self.lines.append(f"{name} = xp.zeros(({', '.join(str(self.ranges[a]) for a in order)},))")
            elif _mask(expr - term):  # a boolean rest (another delta): its floats
                self.lines.append(f"{name} = 1.0 * {_atom(rest.code)}")
            else:
                self.lines.append(f"{name} = {rest.code}" + (".copy()" if _plain(rest.code) else ""))
            self.temporaries[name] = order
            self.sizes[name] = tuple(str(self.ranges.get(a, a)) for a in order)
            self.lines.append(f"{name}[{', '.join(index)}] {'' if rest is None else '-' if minus else '+'}= "
                              f"{by.code}")
            return Tensor(name, order)
        return None

    def _sum(self, expr: sp.Sum) -> Tensor:
        variables = [v for v, _, _ in expr.limits]
        for v, low, high in expr.limits:
            if low != 1:
                raise ValueError(f"cannot lower a sum over {v} from {low} to {high}")
            self.ranges[v] = int(high) if high.is_Integer else self.lower(high).code
        scattered = self._scatter(expr, variables)
        if scattered is not None:
            return scattered
        turned = self._turned(expr, variables)
        if turned is not None:
            return self.lower(turned)
        spread = self._spread(expr, variables) if self.strided else None
        if spread is not None:
            return self.lower(spread)
        terms = sp.Add.make_args(expr.function)
        if len(terms) > 1 and all(len([f for f in sp.Mul.make_args(t) if f.free_symbols & set(variables)]) <= 1
                                  for t in terms):  # no term is a product to contract: one reduction of their sum
            whole = self.lower(expr.function)
            over = [v for v in variables if v in whole.axes]
            result = self._reduce(whole, over) if over else whole
            scale = [str(self.ranges[v]) for v in variables if v not in whole.axes]
            return Tensor(" * ".join(scale + [_atom(result.code)]), result.axes) if scale else result
        if len(terms) > 1:  # a sum of sums: each term contracts on its own (BLAS)
            parts = [self.lower(sp.Sum(t, *expr.limits)) for t in terms]
            parts, axes = self.broadcast(parts)
            return Tensor(" + ".join(p.code for p in parts), axes)
        # a square summed is the product of two equal factors (sum_n xc^2: einsum, as sum_n g xhat)
        factors = [g for f in sp.Mul.make_args(expr.function)
                   for g in ((f.base, f.base) if f.is_Pow and f.exp == 2 and f.base.free_symbols & set(variables)
                             else (f,))]
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
            a, b = tensors[0], tensors[-1]
            if len(tensors) == 2 and set(a.axes) == set(b.axes) and set(a.axes) & summed:
                # the sum of an element-wise product (sum_n g xhat): einsum, no product array
                (_, _), axes = self.broadcast([a, b])
                letters = {x: "abcdefghijklmnopqrstuvwxyz"[k] for k, x in enumerate(axes)}
                keep = [x for x in axes if x not in summed]
                subscripts = ",".join("".join(letters[x] for x in t.axes) for t in (a, b))
                return self.temporary(f'xp.einsum("{subscripts}->{"".join(letters[x] for x in keep)}", '
                                      f"{a.code}, {b.code})", keep)
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
        if self.patches:
            for t in (a, b):
                self._keep_window(t.code)
        return self.temporary(self._print_tensordot(a.code, b.code, f"(({axes_a},), ({axes_b},))"), keep_a + keep_b)

    def _keep_window(self, name: str) -> None:
        """The window temporary ``name`` made by the kept copy (``self.patches``), which the
        contraction reads as one matrix a sample and another kernel reads again."""
        if name not in self.views:
            return
        start = f"{name} = window("
        for k, line in enumerate(self.lines):
            if line.startswith(start) and not line.endswith(f", {self.patches})"):
                self.lines[k] = f"{line[:-1]}, {self.patches})"

    # -- the spellings that differ between array modules (a printer overrides these) --
    def _print_transpose(self, code: str, perm: tuple[int, ...]) -> str:
        return f"xp.transpose({code}, {perm})"

    def _print_largest(self, code: str, axis: str) -> str:
        """The largest entry along ``axis``: a shift, proved not to change the result."""
        return f"{_atom(code)}.max(axis={axis})"

    def _print_extremum(self, code: str, axis: str, kind: str) -> str:
        """The largest (kind "max") or smallest entry along ``axis`` (derive.nn.functional.extreme)."""
        return f"extreme({code}, {axis}, {kind!r})"

    def _print_arange(self, bounds: str) -> str:
        return f"xp.arange({bounds})"

    def _print_rows(self, size: str) -> str:
        """0 .. size - 1 for a gather or scatter: made once for each size (derive.nn.functional.rows)."""
        return f"rows({size}, xp)"

    def _print_tensordot(self, a: str, b: str, axes: str) -> str:
        # tensordot's values, laid out for BLAS by the operands' strides (derive.nn.functional)
        return f"contract({a}, {b}, axes={axes})"

    def _reduce(self, t: Tensor, over: list) -> Tensor:
        positions = [t.axes.index(a) for a in over]
        axis = str(positions[0]) if len(positions) == 1 else f"({', '.join(map(str, positions))})"
        return self.temporary(f"{_atom(t.code)}.sum(axis={axis})", [a for a in t.axes if a not in over])

    def _piecewise(self, expr: sp.Piecewise) -> Tensor:
        (value, condition), *rest = expr.args
        if len(rest) > 1:  # where(c1, v1, where(c2, v2, ...))
            rest = [(sp.Piecewise(*rest), True)]
        if len(rest) != 1 or rest[0][1] not in (True, sp.true):
            raise ValueError(f"cannot lower {expr}")
        parts, axes = self.broadcast([self.lower(condition), self.lower(value), self.lower(rest[0][0])])
        return Tensor(f"xp.where({parts[0].code}, {parts[1].code}, {parts[2].code})", axes)

    # -- extrema and their subgradients ---------------------------------------------------
    def _extreme(self, expr: sp.Expr) -> Tensor | None:
        """max(a, b), min(a, b), clamp, H(z), a max/min over indices and its argmax; else None."""
        if isinstance(expr, (maximum, minimum)):
            (a, b), axes = self.broadcast([self.lower(x) for x in expr.args])
            return Tensor(f"xp.{type(expr).__name__}({a.code}, {b.code})", axes)
        if isinstance(expr, clamp):
            z = self.lower(expr.args[0])
            return Tensor(f"xp.clip({z.code}, {_number(expr.args[1])}, {_number(expr.args[2])})", z.axes)
        if isinstance(expr, where) and self._padding(expr):
            return self.lower(expr.args[1])  # window() reads 0 outside the array: the guard is its own
        if isinstance(expr, where):
            (c, a, b), axes = self.broadcast([self.lower(x) for x in expr.args])
            if expr.args[1].is_Integer and expr.args[2].is_Integer:  # an Iverson bracket: floats, as every value
                a, b = Tensor(f"{a.code}.0", a.axes), Tensor(f"{b.code}.0", b.axes)
            return Tensor(f"xp.where({c.code}, {a.code}, {b.code})", axes)
        if isinstance(expr, sp.Heaviside):
            z = self.lower(expr.args[0])
            half = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
            return Tensor(f"xp.heaviside({z.code}, {_number(half)})", z.axes)
        if isinstance(expr, Extremum):
            body, over = self._extremum_body(expr)
            if not over:
                return body
            positions = [body.axes.index(v) for v in over]
            axis = str(positions[0]) if len(positions) == 1 else f"({', '.join(map(str, positions))})"
            return self.temporary(self._print_extremum(body.code, axis, expr.kind),
                                  [a for a in body.axes if a not in over])
        if isinstance(expr, ArgExtremum):
            extremum, k = expr.args
            body, over = self._extremum_body(extremum)
            var = extremum.limits[int(k)][0]
            others = tuple(a for a in body.axes if a not in over)
            if var not in over:  # the body does not vary with it: its first value
                return Tensor("1", ())
            # The extreme entry's flat position over the limits, row-major: numpy's argmax and
            # argmin return the first on ties, the first in index order.
            moved = self.align(body, others + tuple(over))
            if not _plain(moved.code):
                moved = self.temporary(moved.code, moved.axes)
            flat = self.temporary(f"{moved.code}.reshape(*{moved.code}.shape[:{len(others)}], -1)"
                                  f".arg{extremum.kind}(axis=-1)", others)
            stride = 1
            for v in over[over.index(var) + 1:]:  # sizes as numbers, or names bound at run time
                size = self.ranges[v]
                stride = stride * size if isinstance(size, int) else f"{_atom(str(stride))} * {_atom(size)}"
            size = _atom(str(self.ranges[var]))
            code = _atom(flat.code) if stride == 1 else f"{_atom(flat.code)} // {_atom(str(stride))}"
            code = f"{code} % {size} + 1" if over.index(var) > 0 else f"{code} + 1"
            return self.temporary(code, others)
        return None

    def _padding(self, expr: where) -> bool:
        """Whether where(c, A[subs], 0) guards only that A's affine subscripts lie in its axes,
        as zero padding does: window() then gives the same 0 outside."""
        c, a, b = expr.args
        shape = self.shapes.get(a.base.name) if isinstance(a, sp.Indexed) else None
        if shape is not None and None in shape and a.base.name in self.extents:
            shape = self.extents[a.base.name]  # run-time sizes: an axis's size by its name
        if b != 0 or shape is None or all(isinstance(i, sp.Symbol) for i in a.indices):
            return False
        if any(i.has(*_INDEX_ARITHMETIC) for i in a.indices):  # gathered clipped, not by window()
            return False
        sizes = self._sizes() if self.extents else frozenset()
        for relation in c.args if isinstance(c, sp.And) else (c,):
            sides = [(_bound(relation, sp.expand(i), sizes), size) for i, size in zip(a.indices, shape)
                     if not isinstance(i, sp.Symbol)]
            if not any(side[0] is not None and side[1] is not None
                       and (side[0] == ("low", 1) or side[0][0] == "high" and str(side[0][1]) == str(side[1]))
                       for side in sides):
                return False
        return True

    def _turned(self, expr: sp.Sum, variables: list) -> sp.Sum | None:
        """sum_h f(h) W[a - h + c] [1 <= a - h + c <= P] as sum_p f(a + c - p) W[p] [1 <= a + c - p <= N_h]
        where P < N_h: a transposed (padded) convolution's gradient then gathers windows of f of P
        offsets (im2col), not windows of W over every pair (a, h). The same sum, its indices renamed;
        the guard stays on the factors it needs, where a contraction (BLAS) can still follow."""
        function, guard = expr.function, sp.true
        if isinstance(function, sp.Piecewise) and len(function.args) == 2 and function.args[1] == (0, True):
            (function, guard), _ = function.args
        relations = list(guard.args if isinstance(guard, sp.And) else (guard,))
        limits = list(expr.limits)
        turned = False
        while True:
            change = self._turn(function, relations, limits)
            if change is None:
                break
            function, relations, limits = change
            turned = True
        if not turned:
            return None
        condition = sp.And(*relations)
        if condition is sp.true:
            return sp.Sum(function, *limits)
        factors = sp.Mul.make_args(function)
        needs = condition.free_symbols
        guarded = [f for f in factors if needs <= f.free_symbols]
        if not guarded:
            return sp.Sum(sp.Piecewise((function, condition), (0, True)), *limits)
        rest = sp.Mul(*(f for f in factors if f is not guarded[0]))
        return sp.Sum(rest * where(condition, guarded[0], 0), *limits)

    def _turn(self, function: sp.Expr, relations: list, limits: list):
        """One summation index h turned into the offset p = a - h + c (or h - a + c, a transposed
        convolution's) of an access bounded by the guard, where p runs over no more values than h:
        h is then p's affine function, the same sum; None where there is none."""
        variables = [v for v, _, _ in limits]
        for access in sorted(function.atoms(sp.Indexed), key=sp.default_sort_key):
            for e in access.indices:
                e = sp.expand(e)
                summed = [v for v in variables if e.coeff(v) != 0]
                free = [x for x in e.free_symbols if x not in variables]
                if len(summed) != 1 or e.coeff(summed[0]) not in (1, -1) or len(free) != 1:
                    continue
                h = summed[0]
                bounds, kept = _bounds(relations, e, self._sizes() if self.extents else frozenset())
                n_h = dict((v, high) for v, _, high in limits)[h]
                # (an offset made by an earlier turn is not turned back); at run-time sizes both
                # ranges are names: the offsets are an axis of the array (a kernel's), the sum's
                # range one of the output, so turned (the same sum either way)
                fewer = bounds.get("high", n_h) <= n_h if n_h.is_Integer else \
                    bounds.get("high") is not None and not bounds["high"].is_Integer and bounds["high"] != n_h
                if bounds.get("low") != 1 or fewer is not sp.true and fewer is not True or h.name.startswith("_o"):
                    continue
                p = sp.Symbol(f"_o{h}", integer=True, positive=True)
                back = sp.expand((p - e) / e.coeff(h) + h)  # p = e: h = a + c - p, or p - a - c when e = h - a + c
                kept = [r.xreplace({h: back}) for r in kept] + [sp.GreaterThan(back, 1), sp.LessThan(back, n_h)]
                limits = [(p, 1, bounds["high"]) if v == h else (v, low, high) for v, low, high in limits]
                return function.xreplace({h: back}), kept, limits
        return None

    def _scatter(self, expr: sp.Sum, variables: list) -> Tensor | None:
        """sum_S v(S) [a = h(S)] ...: each term added at the position it names (a max pooling's
        gradient), by one bincount over the terms, instead of a mask over (a, S); else None."""
        function, guard = expr.function, sp.true
        if isinstance(function, sp.Piecewise) and len(function.args) == 2 and function.args[1] == (0, True):
            (function, guard), _ = function.args
        function, guard, limits = self._flattened(function, guard, list(expr.limits))
        variables = [v for v, _, _ in limits]
        targets: dict[sp.Symbol, sp.Expr] = {}
        rest = []
        for factor in sp.Mul.make_args(function):
            if isinstance(factor, sp.KroneckerDelta):
                difference = sp.expand(factor.args[0] - factor.args[1])
                free = [a for a in difference.free_symbols if a in self.ranges and a not in variables
                        and a not in targets and difference.coeff(a) in (1, -1)]
                if len(free) == 1 and set(variables) & difference.free_symbols:
                    a = free[0]
                    c = difference.coeff(a)
                    targets[a] = sp.expand(-(difference - c * a) / c)
                    continue
            rest.append(factor)
        if not targets or any(set(targets) & h.free_symbols for h in targets.values()):
            return None
        # An argmax's position in its window (a max pooling's gradient): [a = 2i - 2 + A] is
        # sum_r [r = A] [a = 2i - 2 + r], r over the window, affine, and so a fold.
        for a, h in list(targets.items()) if self.strided else ():
            chosen = [t for t in sp.Add.make_args(h) if isinstance(t, ArgExtremum)]
            if len(chosen) != 1 or not _affine(h - chosen[0]):
                continue
            extremum, k = chosen[0].args
            _, low, high = extremum.limits[int(k)]
            if low != 1 or not high.is_Integer:
                continue
            r = sp.Symbol(f"_r{a}", integer=True, positive=True)
            self.ranges[r] = int(high)
            targets[a] = h - chosen[0] + r
            rest.append(sp.KroneckerDelta(r, chosen[0]))
            limits.append((r, 1, high))
            variables = variables + [r]
        value = sp.Mul(*rest).xreplace(targets)
        inside = sp.And(guard.xreplace(targets), *(sp.And(h >= 1, h <= self._extent(a)) for a, h in targets.items()))
        if set(targets) & (value.free_symbols | inside.free_symbols):
            return None
        if self.strided and all(_affine(h) and h.free_symbols <= set(variables) for h in targets.values()):
            return self._fold(value, guard.xreplace(targets), targets, limits)
        terms = self.lower(sp.Piecewise((value, inside), (0, True)) if inside is not sp.true else value)
        positions = [self.lower(h) for h in targets.values()]
        parts, axes = self.broadcast([terms] + positions)
        # The result's axes: the sum's free ones among the terms', then the targets, in the result's order.
        rank = {x: k for k, x in enumerate(self.order)}
        out = sorted([a for a in axes if a not in variables] + list(targets), key=lambda a: rank.get(a, len(rank)))
        shape = ", ".join(str(self.ranges[a]) for a in axes)
        full = f"({shape}{',' if len(axes) == 1 else ''})"
        flat, stride = [], "1"
        for a in reversed(out):
            if a in targets:  # out of range: the guard made its term 0; the position is clipped
                k = list(targets).index(a) + 1
                place = f"xp.clip({_atom(parts[k].code)} - 1, 0, {_plus(self.ranges[a], -1)})"
            else:
                along = ", ".join(str(self.ranges[b]) if b == a else "1" for b in axes)
                place = f"xp.arange({self.ranges[a]}).reshape({along}{',' if len(axes) == 1 else ''})"
            flat.append(place if stride == "1" else f"{stride} * {_atom(place)}")
            stride = str(self.ranges[a]) if stride == "1" else f"{stride} * {self.ranges[a]}"
        index = self.temporary(f"xp.broadcast_to({' + '.join(flat)}, {full}).ravel()", ())
        weights = self.temporary(f"xp.broadcast_to({parts[0].code}, {full}).ravel()", ())
        size = " * ".join(str(self.ranges[a]) for a in out)
        shape_out = ", ".join(str(self.ranges[a]) for a in out)
        # (bincount adds in float64 whatever its weights are: a float32 module's gradient back in float32)
        return self.temporary(f"xp.bincount({index.code}, weights={weights.code}, minlength={size})"
                              + (f".astype({weights.code}.dtype, copy=False)" if self.scatters else "")  # (numpy's)
                              + f".reshape({shape_out}{',' if len(out) == 1 else ''})", out)

    def _sizes(self) -> frozenset:
        """The run-time sizes of the kernel (names it binds from its arrays' shapes), as symbols."""
        return frozenset(sp.Symbol(name, integer=True, positive=True) for name in self.arrays.values()
                         if name.isidentifier())

    def _extent(self, index: sp.Symbol) -> sp.Expr:
        """The range of ``index`` as an expression: its number, or the run-time size's name."""
        size = self.ranges[index]
        return sp.Integer(size) if isinstance(size, int) else sp.Symbol(str(size), integer=True, positive=True)

    def _flattened(self, function: sp.Expr, guard, limits: list):
        """sum_S f(S) sum_T h(S, T) as sum_(S, T) f h, and a factor where(c, v, 0) as v under the
        guard c: the deltas of a sum inside a sum (a dilated convolution's gradient) then name
        positions as those at the top do. The same sum: (function, guard, limits)."""
        while True:
            factors = list(sp.Mul.make_args(function))
            bound = {v for v, _, _ in limits}
            for k, f in enumerate(factors):
                if isinstance(f, sp.Sum) and all(low == 1 for _, low, _ in f.limits) \
                        and not {v for v, _, _ in f.limits} & (bound | sp.Mul(*factors[:k], *factors[k + 1:]).free_symbols):
                    for v, _, high in f.limits:
                        self.ranges[v] = int(high) if high.is_Integer else self.lower(high).code
                    factors[k], limits = f.function, limits + list(f.limits)
                    break
                if isinstance(f, where) and f.args[2] == 0 and f.args[1].has(sp.KroneckerDelta):
                    factors[k], guard = f.args[1], sp.And(guard, f.args[0])
                    break
            else:
                return function, guard, limits
            function = sp.Mul(*factors)

    def _fold(self, value: sp.Expr, guard, targets: dict, limits: list) -> Tensor:
        """sum_S v(S) [a = h(S)] with each h affine: the adjoint of a window read (col2im), each
        term added at its position by fold()'s strided slices; the indices no position names are
        summed first (a contraction, BLAS)."""
        placed = {v for h in targets.values() for v in h.free_symbols}
        inner = [limit for limit in limits if limit[0] not in placed]
        # A relation every index value meets (r >= 1 for r over a window) needs no mask, nor one
        # that a position lies in the array (fold() drops the terms outside, as padding).
        relations = guard.args if isinstance(guard, sp.And) else (guard,)
        guard = sp.And(*(r for r in relations if not self._always(r) and not self._inside(r, targets)))
        body = value if guard is sp.true else sp.Piecewise((value, guard), (0, True))
        values = self.lower(sp.Sum(body, *inner) if inner else body)
        renamed = {h: a for a, h in targets.items()}
        if all(isinstance(h, sp.Symbol) and self.ranges[h] == self.ranges[a] and h in values.axes
               for a, h in targets.items()):  # [a = c] with a and c over the same range: c is a
            return Tensor(values.code, tuple(renamed.get(x, x) for x in values.axes))
        rank = {x: k for k, x in enumerate(self.order)}
        out = sorted([a for a in values.axes if a not in placed] + list(targets), key=lambda a: rank.get(a, len(rank)))
        over = [v for v, _, _ in limits if v in placed]
        axes = tuple([a for a in out if a not in targets] + over)
        aligned = self.align(values, axes)
        code = aligned.code
        if set(values.axes) != set(axes):  # a term that does not vary along some axis (an average's g)
            code = f"xp.broadcast_to({code}, ({', '.join(str(self.ranges[a]) for a in axes)},))"
        starts, steps = [], []
        for a in out:
            h = targets.get(a, a)
            starts.append(int(h.xreplace({v: 1 for v in axes})) - 1)  # 0-based, at each index's first
            steps.append({axes.index(v): int(h.coeff(v)) for v in axes if h.coeff(v) != 0})
        size = ", ".join(str(self.ranges[a]) for a in out)
        return self.temporary(f"fold({code}, ({size},), ({', '.join(map(str, starts))},), "
                              f"({', '.join(map(_steps, steps))},))", out)

    def _inside(self, relation, targets: dict) -> bool:
        """Whether ``relation`` says only that a position ``targets`` names is at least 1 or at most
        its axis's size."""
        sizes = self._sizes()
        for a, h in targets.items():
            side = _bound(relation, sp.expand(h), sizes)
            if side is not None and (side == ("low", 1) or side[0] == "high" and side[1] == self._extent(a)):
                return True
        return False

    def _always(self, relation) -> bool:
        """Whether an affine relation between indices holds for every value of them (each from 1
        to its concrete range)."""
        if not isinstance(relation, (sp.GreaterThan, sp.StrictGreaterThan, sp.LessThan, sp.StrictLessThan)):
            return relation is sp.true
        difference = sp.expand(relation.gts - relation.lts)  # >= 0 (> 0 when strict)
        if not _affine(difference) or any(not isinstance(self.ranges.get(s), int) for s in difference.free_symbols):
            return False
        least = difference.as_coeff_add()[0] + sum(min(difference.coeff(s), difference.coeff(s) * self.ranges[s])
                                                     for s in difference.free_symbols)
        return least > 0 if isinstance(relation, (sp.StrictGreaterThan, sp.StrictLessThan)) else least >= 0

    def _spread(self, expr: sp.Sum, variables: list) -> sp.Sum | None:
        """sum_h f(h) [L <= a - s h + c <= H] as sum_(h, p) f(h) [a = p + s h - c + L - 1], p from 1
        to H - L + 1: a window position the guard bounds (a strided convolution's gradient reads W at
        a - 2h + c, an average pooling's adds g where a - 2h + c lies in the window) becomes an index
        of its own, and the sum a scatter to the positions a, which fold() adds by strided slices,
        not a mask over every (a, h). The same sum; None where the guard bounds no such position."""
        function, guard = expr.function, sp.true
        if isinstance(function, sp.Piecewise) and len(function.args) == 2 and function.args[1] == (0, True):
            (function, guard), _ = function.args
        relations = list(guard.args if isinstance(guard, sp.And) else (guard,))
        candidates = [e for access in sorted(function.atoms(sp.Indexed), key=sp.default_sort_key)
                      for e in access.indices]
        candidates += [r.gts - r.lts for r in relations if isinstance(r, sp.core.relational.Relational)]
        limits, deltas, targeted = list(expr.limits), [], set()
        for e in candidates:
            e = sp.expand(e)
            e -= e.as_coeff_add()[0]
            free = [x for x in e.free_symbols if x not in variables]
            if not _affine(e) or len(free) != 1 or e.coeff(free[0]) not in (1, -1) or free[0] in targeted \
                    or free[0] not in self.ranges:
                continue
            a = free[0]
            e = sp.expand(e * e.coeff(a))
            # the window's extent: a number, or at run-time sizes one of the sizes the kernel binds (N_p - 3)
            bounds, kept = _bounds(relations, e, self._sizes())
            if not isinstance(bounds.get("low"), sp.Integer) or "high" not in bounds:
                continue
            count = bounds["high"] - bounds["low"] + 1
            if count.is_Integer and count < 1:
                continue
            p = sp.Symbol(f"_s{a}", integer=True, positive=True)
            deltas.append(sp.KroneckerDelta(a, sp.expand(p + bounds["low"] - 1 - (e - a))))
            limits.append((p, 1, count))
            relations, targeted = kept, targeted | {a}
        if not deltas:
            return None
        function = function * sp.Mul(*deltas)
        condition = sp.And(*relations)
        return sp.Sum(function if condition is sp.true else sp.Piecewise((function, condition), (0, True)), *limits)

    def _gather(self, name: str, indices, clipped: bool = False) -> Tensor:
        """An array read where integer arrays say (W[x[n] + 1, d]): numpy's integer indexing, each
        subscript an integer array over the indices it runs with (0-based: the subscript - 1).
        ``clipped``: a computed subscript's reads outside the array are guarded to 0 in the
        expression; they are clipped here only so that numpy can index."""
        # an index running over its whole range reads 0 .. size - 1: one arange, no subtraction
        parts = [self._rows(i) if isinstance(i, sp.Symbol) and i in self.ranges else self.lower(i - 1)
                 for i in indices]
        if clipped:
            parts = [Tensor(f"xp.clip({p.code}, 0, {name}.shape[{axis}] - 1)", p.axes)
                     if i.has(*_INDEX_ARITHMETIC) else p for axis, (i, p) in enumerate(zip(indices, parts))]
        parts, axes = self.broadcast(parts)
        if not axes:
            return Tensor(f"{name}[{', '.join(p.code for p in parts)}]", ())
        return self.temporary(f"{name}[{', '.join(p.code for p in parts)}]", axes)

    def _rows(self, index: sp.Symbol) -> Tensor:
        """0 .. size - 1 along ``index``, made once a kernel (a gather and a scatter of the same
        rows share it)."""
        return self.temporary(self._print_rows(str(self.ranges[index])), (index,))

    def _index_arithmetic(self, expr: sp.Expr) -> Tensor:
        """A computed subscript's integer arithmetic: floor(a / q) as a // q, Mod(a, q) as a % q
        (both Python's: rounding down), Min and Max element-wise."""
        if isinstance(expr, sp.floor):
            numerator, denominator = sp.fraction(sp.together(expr.args[0]))
            if not denominator.is_Integer:
                raise ValueError(f"cannot lower {expr}: an integer divisor is expected")
            a = self.lower(sp.expand(numerator))
            return Tensor(f"{_atom(a.code)} // {int(denominator)}", a.axes)
        if isinstance(expr, sp.Mod):
            a = self.lower(expr.args[0])
            return Tensor(f"{_atom(a.code)} % {_number(expr.args[1])}", a.axes)
        function = "xp.minimum" if isinstance(expr, sp.Min) else "xp.maximum"
        parts, axes = self.broadcast([self.lower(a) for a in expr.args])
        code = parts[0].code
        for part in parts[1:]:
            code = f"{function}({code}, {part.code})"
        return Tensor(code, axes)

    def _extremum_body(self, extremum: Extremum) -> tuple[Tensor, list]:
        """The lowered body and the limits' indices among its axes, in the limits' order."""
        for v, low, high in extremum.limits:
            if low != 1:
                raise ValueError(f"cannot lower a {extremum.kind} over {v} from {low} to {high}")
            self.ranges[v] = int(high) if high.is_Integer else self.lower(high).code  # a run-time size
        body = self.lower(extremum.function)
        return body, [v for v, _, _ in extremum.limits if v in body.axes]


#: The functions of derive.nn.functional that kernels call.
HELPERS = ("relu", "sigmoid", "softplus", "step", "window", "fold", "contract", "extreme", "cleared", "rows")


def helpers_used(code: str) -> list[str]:
    """The names of HELPERS that ``code`` calls (not methods: ``xp.sum(`` is no ``sum(``)."""
    return [f for f in HELPERS if re.search(rf"(?<![.\w]){f}\(", code)]


# Element-wise float functions that take ``out=`` on numpy and CuPy alike.
_UFUNCS = ("xp.exp", "xp.log", "xp.tanh", "xp.sin", "xp.cos", "xp.sqrt", "xp.abs")
_TEMPORARY = re.compile(r"_t\d+")
_INVERSE = {"-": "xp.subtract", "/": "xp.divide"}


def in_place(lines: list[str], axes: dict[str, tuple], keep: frozenset = frozenset()) -> list[str]:
    """The kernel's statements with each element-wise step on a temporary that nothing reads
    afterwards written into that temporary (``_t1 += b``, ``xp.tanh(_t1, out=_t1)``): the
    same numbers, one allocation fewer. Only float arrays the kernel made itself are
    overwritten, never an argument, a view of one, or a mask, nor a temporary of ``keep``
    (one a name holds too: a program's value, read later by that name)."""
    keep = set(keep)
    # A temporary of no axes may be a numpy scalar, which takes no out=: arrays only.
    assigned = (line.split(" = ", 1) for line in lines if " = " in line)
    fresh: set[str] = set()
    integers: set[str] = set()  # positions (aranges and their sums): a quotient cannot go into them
    for name, code in assigned:  # a copy of a fresh array is fresh (a scatter's: _t2.copy())
        copied = re.fullmatch(r"(_t\d+)\.copy\(\)", code)
        if _TEMPORARY.fullmatch(name) and _integer(code, integers):
            integers.add(name)
        elif _TEMPORARY.fullmatch(name) and axes.get(name) and (_fresh(code) or copied and copied.group(1) in fresh):
            fresh.add(name)
    out, renamed = [], {}
    first = re.match(r"xp = np if (\w+)\.__class__", lines[0]) if lines else None

    def current(text: str) -> str:  # the names statements use once earlier ones were rewritten
        return _TEMPORARY.sub(lambda m: renamed.get(m.group(0), m.group(0)), text)
    for k, line in enumerate(lines):
        line = current(line)
        target, _, code = line.partition(" = ")
        tokens = _tokens(code)
        if first and len(tokens) == 3 and tokens[1] == "/" and (tokens[0] in integers or tokens[2] in integers):
            # a quotient of positions (a bilinear tent's weights) in the first argument's float
            # type, not numpy's float64: float32 modules stay float32
            out.append(f"{target} = xp.divide({tokens[0]}, {tokens[2]}, dtype={first.group(1)}.dtype)")
            continue
        rewritten = None
        if _TEMPORARY.fullmatch(target) and target in axes:
            later = current(" ".join(lines[k + 1:]))
            rewritten = _rewrite(code, lambda t: (t in fresh and t not in keep and axes.get(t) == axes[target]
                                                  and not re.search(rf"\b{t}\b", later)))
        if rewritten is None:
            out.append(line)
            continue
        reused, statement = rewritten
        if statement is not None:
            out.append(statement)
        renamed[target] = reused
        if target in keep:  # the name now holds the reused temporary
            keep.add(reused)
    return out


_INTO = {"@": "xp.matmul", "+": "xp.add", "-": "xp.subtract", "*": "xp.multiply", "/": "xp.divide"}


def into_buffer(lines: list[str], result: str, axes: dict[str, tuple], buffer: str = "out") -> list[str]:
    """The kernel's statements with the array it returns as ``result`` computed into the
    caller's ``buffer`` (``xp.matmul(X, W.T, out=out)``; None makes a new array, as before):
    the statement that makes that array first, when it is one product, sum, difference,
    quotient or float ufunc (those take ``out=`` on numpy and CuPy alike); what later
    statements do to it in place then happens in the buffer. The caller passes a buffer of
    the result's shape and dtype that shares no memory with the arguments."""
    bound = next((line.split(" = ", 1)[1] for line in lines if line.startswith(f"{result} = ")), None)
    if bound is None or not _TEMPORARY.fullmatch(bound) or not axes.get(bound):
        return lines
    first = next(k for k, line in enumerate(lines) if line.startswith(f"{bound} = "))
    code = lines[first].split(" = ", 1)[1]
    tokens = _tokens(code)  # an operand may be a broadcast view: X - _t5[:, None]
    if len(tokens) == 3 and tokens[1] in _INTO and all(t.count("(") == t.count(")") for t in tokens):
        made = f"{_INTO[tokens[1]]}({tokens[0]}, {tokens[2]}, out={buffer})"
    elif code.startswith("xp.zeros("):  # a scatter's zeros (a class target's indicator): the buffer cleared
        made = f"cleared({buffer}, {code[len('xp.zeros('):-1]}, xp)"
    else:
        match = re.fullmatch(r"(xp\.\w+)\(([\w.]+)\)", code)
        if not match or match.group(1) not in _UFUNCS:
            return lines
        made = f"{match.group(1)}({match.group(2)}, out={buffer})"
    return lines[:first] + [f"{bound} = {made}"] + lines[first + 1:]


def scaled_in_place(lines: list[str], axes: dict[str, tuple]) -> list[str]:
    """``grad_W += _t2 if scale == 1 else scale * _t2`` with ``_t2`` a float array the kernel
    made and reads no more (nor returns under another name) scaled in its own memory,
    ``xp.multiply(_t2, scale, out=_t2)``, and freed before the next statement: a scale other
    than 1 costs no second array of the gradient's size, nor does the next gradient."""
    out = []
    for k, line in enumerate(lines):
        match = re.fullmatch(r"(\w+) \+= (_t\d+) if scale == 1 else scale \* \2", line)
        name = match and match.group(2)
        made = next((m.split(" = ", 1)[1] for m in lines[:k] if name and m.startswith(f"{name} = ")), "")
        rest = " ".join(lines[k + 1:]) + " " + " ".join(m for m in lines[:k] if re.fullmatch(rf"\w+ = {name}", m))
        if not match or not axes.get(name) or not _fresh(made) or re.search(rf"\b{name}\b", rest):
            out.append(line)
            continue
        out.append(f"{match.group(1)} += {name} if scale == 1 else xp.multiply({name}, scale, out={name})")
        if k + 1 < len(lines) and not lines[k + 1].startswith("return "):
            out.append(f"del {name}  # freed before the next temporary is made")
    return out


def _integer(code: str, integers: set[str]) -> bool:
    """Whether ``code`` may make an integer array: an arange, or arithmetic on such arrays only,
    without a quotient, a product of arrays, a subscript or a float number (``7 + _t1[:, None] - _t3``,
    ``xp.abs(_t4)``): an integer array takes no quotient in place."""
    if code.startswith(("xp.arange(", "rows(")):
        return True
    if re.search(r"/(?!/)|@|\[(?!:, None|None, :)|\d\.\d|e-\d", code.replace("//", "")):
        return False
    used = _TEMPORARY.findall(code)
    return bool(used) and all(t in integers for t in used)


def _fresh(code: str) -> bool:
    """Whether ``code`` makes a new float array (arithmetic, a product, a float ufunc)."""
    if any(mark in code for mark in ("==", "<", ">", "&", "arange", "rows(", "window(", "broadcast_to", "transpose",
                                     "step(")):
        return False
    if code.startswith(_UFUNCS) or code.startswith("-"):  # a ufunc's or a negation's result
        return True
    while code.startswith("(") and _closing(code) == len(code) - 1:  # (a - b): its inside
        code = code[1:-1]
    tokens = _tokens(code)
    return len(tokens) >= 3 and tokens[1] in ("+", "-", "*", "/", "**", "@")


def _closing(code: str) -> int:
    """The position of the parenthesis that closes ``code``'s first character."""
    depth = 0
    for k, c in enumerate(code):
        depth += c in "(["
        depth -= c in ")]"
        if depth == 0:
            return k
    return -1


def _tokens(code: str) -> list[str]:
    """``code`` split at its spaces outside subscripts and calls: a[:, None] * xp.transpose(b, (1, 0))
    is 3 tokens."""
    tokens, depth, start = [], 0, 0
    for k, c in enumerate(code):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == " " and depth == 0:
            tokens.append(code[start:k])
            start = k + 1
    return tokens + [code[start:]]


def _rewrite(code: str, free) -> tuple[str, str | None] | None:
    """(the temporary reused, the statement or None where none is needed) for ``code`` computed
    in place, or None."""
    tokens = _tokens(code)
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
    copied = re.fullmatch(r"(_t\d+)\.copy\(\)", code)
    if copied and free(copied.group(1)):  # nothing reads the original afterwards: no copy
        return copied.group(1), None
    match = re.fullmatch(r"(xp\.\w+)\((_t\d+)\)", code)
    if match and match.group(1) in _UFUNCS and free(match.group(2)):
        name = match.group(2)
        return name, f"{match.group(1)}({name}, out={name})"
    return None


def _affine(e: sp.Expr) -> bool:
    """Whether ``e`` is an integer constant plus integer multiples of symbols."""
    e = sp.expand(e)
    linear = sum((e.coeff(s) * s for s in e.free_symbols), sp.Integer(0))
    return all(e.coeff(s).is_Integer for s in e.free_symbols) and sp.expand(e - linear).is_Integer


def _steps(step: dict) -> str:
    return "{" + ", ".join(f"{k}: {c}" for k, c in step.items()) + "}"


def _bounds(relations: list, e: sp.Expr, sizes: frozenset = frozenset()) -> tuple[dict, list]:
    """({"low": v, "high": w} as far as ``relations`` bound e, the relations that do not)."""
    bounds, kept = {}, []
    for r in relations:
        side = _bound(r, e, sizes)
        if side is None:
            kept.append(r)
        else:
            bounds[side[0]] = side[1]
    return bounds, kept


def _bound(relation, e: sp.Expr, sizes: frozenset = frozenset()):
    """("low", v) for a relation that says e >= v, ("high", v) for e <= v, else None: v an integer,
    or an integer combination of ``sizes`` (run-time sizes) and an integer."""
    if not isinstance(relation, (sp.GreaterThan, sp.StrictGreaterThan, sp.LessThan, sp.StrictLessThan)):
        return None
    difference = sp.expand(relation.gts - relation.lts)  # >= 0 (> 0 when strict)
    strict = isinstance(relation, (sp.StrictGreaterThan, sp.StrictLessThan))

    def constant(rest):
        return rest.is_Integer or rest.free_symbols <= sizes and _affine(rest)
    rest = sp.expand(difference - e)
    if constant(rest):  # e + rest >= 0
        return "low", -rest + (1 if strict else 0)
    rest = sp.expand(difference + e)
    if constant(rest):  # rest - e >= 0
        return "high", rest - (1 if strict else 0)
    return None


def _mask(expr: sp.Expr) -> bool:
    """Whether ``expr`` lowers to a boolean array (a Kronecker delta, a comparison, a logical form)."""
    return isinstance(expr, (sp.KroneckerDelta, sp.core.relational.Relational, sp.And, sp.Or, sp.Not))


def _negative(code: str, expr) -> str:
    """-code; a mask (a delta, a comparison) is boolean, which numpy does not negate: -1.0 * it."""
    return f"-1.0 * {_atom(code)}" if _mask(expr) else f"-{_atom(code)}"


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


def _pulled(factor: sp.Expr) -> list[sp.Expr]:
    """A sum's factors free of its indices taken out of it: Sum(c g, i) -> [c, Sum(g, i)]."""
    if not isinstance(factor, sp.Sum):
        return [factor]
    variables = {v for v, _, _ in factor.limits}
    parts = sp.Mul.make_args(factor.function)
    outside = [f for f in parts if not f.free_symbols & variables]
    if not outside or len(outside) == len(parts):
        return [factor]
    return outside + [sp.Sum(sp.Mul(*(f for f in parts if f not in outside)), *factor.limits)]


def _number(value: sp.Expr) -> str:
    return str(int(value)) if value.is_Integer else repr(float(value))

"""Matrix forms of index expressions: W^T g, g x^T, y (.) (g - y^T g 1), G^T X, ...

The recogniser reads an index expression with at most two free indices as whole
vectors and matrices: a sum over an index shared by two factors is a matrix product,
a product of arrays with the same indices is element-wise (Hadamard), an element-wise
function is applied entry by entry, and a lower-rank term broadcasts through a vector
of ones (1 b^T).  What it returns is proved equal to the index form, entry by entry at
a generic index (see :func:`entry`), before it is shown: a form that does not prove is
not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.hadamard import HadamardPower, HadamardProduct
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction


@dataclass(frozen=True)
class _M:
    """A matrix expression whose rows run over axes[0] and columns over axes[1]."""

    expr: sp.Expr  # a MatrixExpr, or a scalar when axes == ()
    axes: tuple


class _NoForm(Exception):
    pass


def matrix_form(expr: sp.Expr, axes: tuple, shapes: dict[str, tuple], sizes: dict) -> sp.Expr | None:
    """The matrix form of ``expr`` with rows over axes[0] (and columns over axes[1]), or None.

    ``shapes`` maps array names to their symbolic shapes; ``sizes`` maps free and
    summation indices to their ranges.
    """
    if len(axes) > 2:
        return None
    try:
        reader = _Reader(shapes, dict(sizes), tuple(axes))
        m = reader.read(sp.factor_terms(expr))  # 2x/n - 2t/n read as (2/n)(x - t)
        return _as(m, tuple(axes), reader).expr
    except _NoForm:
        return None
    except (NotImplementedError, TypeError):
        return None  # sympy has no matrix expression for it (log of a 1 x 1 product)


class _Reader:
    def __init__(self, shapes, sizes, order: tuple = ()) -> None:
        self.shapes, self.sizes = shapes, sizes
        self.rank = {a: k for k, a in enumerate(order)}  # the result's rows, then columns
        self.regrouped = 0  # how deep double sums are being regrouped (a bound on the search)

    def ordered(self, axes: tuple) -> tuple:
        """Axes in the result's order (X W^T, not (W X^T)^T)."""
        return tuple(sorted(axes, key=lambda a: self.rank.get(a, len(self.rank))))

    def size(self, axis):
        return self.sizes[axis]

    def read(self, e: sp.Expr) -> _M:
        if e.is_number or (isinstance(e, sp.Symbol) and e not in self.sizes):
            return _M(e, ())
        if not e.has(sp.Indexed) and not (e.free_symbols & set(self.sizes)):
            return _M(e, ())  # a size, or a number made of sizes: 2/n
        if isinstance(e, sp.Indexed):
            name, idx = e.base.name, e.indices
            if not all(isinstance(i, sp.Symbol) for i in idx) or len(set(idx)) != len(idx) or len(idx) > 2:
                raise _NoForm
            shape = self.shapes[name]
            for i, d in zip(idx, shape):
                self.sizes.setdefault(i, d)
            if len(idx) == 1:
                return _M(sp.MatrixSymbol(name, shape[0], 1), idx)
            return _M(sp.MatrixSymbol(name, shape[0], shape[1]), idx)
        if isinstance(e, sp.Add):
            parts = [self.read(a) for a in e.args]
            axes = self.ordered(_union([p.axes for p in parts]))
            if len(axes) > 2:
                raise _NoForm
            return _M(sp.MatAdd(*[_as(p, axes, self).expr for p in parts]).doit() if axes
                      else sp.Add(*[p.expr for p in parts]), axes)
        if isinstance(e, sp.KroneckerDelta) and all(isinstance(a, sp.Symbol) for a in e.args):
            a, b = self.ordered(e.args)
            if a == b or a not in self.sizes or self.sizes.get(b) != self.sizes[a]:
                raise _NoForm
            return _M(sp.Identity(self.sizes[a]), (a, b))
        if isinstance(e, sp.Mul):
            return self.product([self.read(a) for a in e.args])
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            base = self.read(e.base)
            if not base.axes and getattr(base.expr, "is_Matrix", False):
                raise _NoForm  # (1^T t)^2: sympy's power of a 1 x 1 product is a matrix power
            return _M(HadamardPower(base.expr, e.exp) if base.axes else base.expr ** e.exp, base.axes)
        if isinstance(e, sp.Function) and len(e.args) == 1:
            inner = self.read(e.args[0])
            if not inner.axes and getattr(inner.expr, "is_Matrix", False):
                raise _NoForm  # abs(1^T c): sympy reads a function of a 1 x 1 product as of a matrix
            if not inner.axes:
                return _M(e.func(inner.expr), ())
            z = sp.Dummy("z")
            return _M(ElementwiseApplyFunction(sp.Lambda(z, e.func(z)), inner.expr), inner.axes)
        if isinstance(e, sp.Sum) and len(e.limits) == 1:
            saved = dict(self.sizes)
            try:
                return self.contraction(e)
            except _NoForm:
                self.sizes = saved
                nested = [f for f in sp.Mul.make_args(e.function) if isinstance(f, sp.Sum)]
                if len(nested) != 1 or self.regrouped > 2:
                    raise
                # sum_i a_i sum_j b_ij: as one double sum, grouped the other way round
                rest = sp.Mul(*(f for f in sp.Mul.make_args(e.function) if f is not nested[0]))
                return self.read(sp.Sum(rest * nested[0].function, *nested[0].limits, *e.limits))
        if isinstance(e, sp.Sum) and self.regrouped <= 2:  # several indices: one sum in the other
            self.regrouped += 1
            try:
                for inner in e.limits:
                    outer = tuple(limit for limit in e.limits if limit != inner)
                    factors = sp.Mul.make_args(e.function)
                    inside = sp.Mul(*(f for f in factors if inner[0] in f.free_symbols))
                    outside = sp.Mul(*(f for f in factors if inner[0] not in f.free_symbols))
                    saved = dict(self.sizes)
                    try:
                        return self.read(sp.Sum(outside * sp.Sum(inside, inner), *outer))
                    except _NoForm:
                        self.sizes = saved
            finally:
                self.regrouped -= 1
        raise _NoForm

    def contraction(self, e: sp.Sum) -> _M:
        """A sum over one index: the factors with it contracted, the others multiplied."""
        (k, low, high), = e.limits
        if low != 1:
            raise _NoForm
        self.sizes[k] = high
        factors = sp.Mul.make_args(e.function)
        inside = [self.read(f) for f in factors if k in f.free_symbols]
        outside = [self.read(f) for f in factors if k not in f.free_symbols]
        body = self.contract(inside, k)
        return self.product([body] + outside) if outside else body

    def contract(self, factors: list[_M], k) -> _M:
        """sum over k of the product of factors: a matrix product (or a sum with ones)."""
        factors = self.merge(factors)  # arrays with the same indices: one Hadamard product
        if len(factors) == 1:
            f = factors[0]
            rest = tuple(a for a in f.axes if a != k)
            ones = sp.OneMatrix(self.size(k), 1)
            if not rest:  # 1^T v
                return _M(sp.MatMul(ones.T, _as(f, (k,), self).expr), ())
            return _M(sp.MatMul(_as(f, rest + (k,), self).expr, ones), rest)
        with_k = [f for f in factors if k in f.axes]
        if len(with_k) != 2 or len(factors) != 2:
            # a product of several: merge those with the same axes first
            merged = self.merge(factors)
            if len(merged) == len(factors):
                raise _NoForm
            return self.contract(merged, k)
        a, b = with_k
        ra = tuple(x for x in a.axes if x != k)
        rb = tuple(x for x in b.axes if x != k)
        if set(ra) & set(rb) or len(ra) > 1 or len(rb) > 1:
            raise _NoForm
        if rb and not ra or ra and rb and self.ordered(ra + rb) != ra + rb:
            a, b, ra, rb = b, a, rb, ra  # a vector goes on the right (W^T g); rows as the result's
        left = _as(a, ra + (k,), self).expr if ra else _as(a, (k,), self).expr.T
        right = _as(b, (k,) + rb, self).expr if rb else _as(b, (k,), self).expr
        return _M(sp.MatMul(left, right), ra + rb)

    def merge(self, factors: list[_M]) -> list[_M]:
        out: list[_M] = []
        for f in factors:
            for n, o in enumerate(out):
                if set(f.axes) == set(o.axes):
                    out[n] = self.product([o, f])
                    break
            else:
                out.append(f)
        return out

    def product(self, parts: list[_M]) -> _M:
        scalars = [p.expr for p in parts if not p.axes]
        arrays = [p for p in parts if p.axes]
        one_by_one = [c for c in scalars if getattr(c, "is_Matrix", False)]  # g^T y, 1^T v
        coefficient = sp.Mul(*(c for c in scalars if c not in one_by_one))
        if not arrays:
            if one_by_one:
                return _M(sp.MatMul(coefficient, *one_by_one) if coefficient != 1 else sp.MatMul(*one_by_one), ())
            return _M(coefficient, ())
        axes = self.ordered(_union([p.axes for p in arrays]))
        if len(axes) > 2:
            raise _NoForm
        identity = [p for p in arrays if isinstance(p.expr, sp.Identity)]
        vectors = [p for p in arrays if p not in identity]
        if len(identity) == 1 and not one_by_one and vectors and all(len(p.axes) == 1 for p in vectors):
            # v_i delta_ik: the diagonal matrix diag(v) (on the diagonal, i and k are one index)
            v = [p.expr for p in vectors]
            value = sp.DiagMatrix(v[0] if len(v) == 1 else HadamardProduct(*v))
            return _M(value if coefficient == 1 else sp.MatMul(coefficient, value), identity[0].axes)
        groups: dict[frozenset, list[_M]] = {}  # arrays over the same indices: one Hadamard product
        for p in arrays:
            groups.setdefault(frozenset(p.axes), []).append(p)
        arrays = [g[0] if len(g) == 1 else _M(HadamardProduct(*(_as(q, g[0].axes, self).expr for q in g)),
                                               g[0].axes) for g in groups.values()]
        if len(arrays) == 2 and len(axes) == 2 and all(len(p.axes) == 1 for p in arrays):
            a, b = arrays  # an outer product: a b^T
            first = a if a.axes[0] == axes[0] else b
            second = b if first is a else a
            value = sp.MatMul(first.expr, second.expr.T)
        else:
            matrices = [_as(p, axes, self).expr for p in arrays]
            matrices += [_as(_M(c, ()), axes, self).expr for c in one_by_one]
            value = matrices[0] if len(matrices) == 1 else HadamardProduct(*matrices)
        if arrays and one_by_one and len(arrays) == 2 and len(axes) == 2:
            value = HadamardProduct(value, *(_as(_M(c, ()), axes, self).expr for c in one_by_one))
        return _M(value if coefficient == 1 else sp.MatMul(coefficient, value), axes)


def _union(axes_list) -> tuple:
    out: list = []
    for axes in axes_list:
        out += [a for a in axes if a not in out]
    return tuple(out)


def _as(m: _M, axes: tuple, reader: _Reader) -> _M:
    """``m`` as a matrix whose rows (columns) run over axes[0] (axes[1]), broadcasting with ones."""
    if m.axes == axes:
        return m
    if not m.axes:  # a scalar (or a 1x1 product) over every entry
        rows = reader.size(axes[0])
        cols = reader.size(axes[1]) if len(axes) == 2 else 1
        value = m.expr
        if getattr(value, "is_Matrix", False):
            return _M(sp.MatMul(sp.OneMatrix(rows, 1), value, sp.OneMatrix(1, cols)), axes)
        return _M(sp.MatMul(value, sp.OneMatrix(rows, cols)), axes)
    if len(axes) == 2 and set(m.axes) == set(axes):
        return _M(sp.Transpose(m.expr), axes)
    if len(axes) == 1 and m.axes == axes:
        return m
    if len(axes) == 2 and len(m.axes) == 1:
        (a,) = m.axes
        if a == axes[1]:  # every row is m^T: 1 m^T
            return _M(sp.MatMul(sp.OneMatrix(reader.size(axes[0]), 1), m.expr.T), axes)
        if a == axes[0]:  # every column is m: m 1^T
            return _M(sp.MatMul(m.expr, sp.OneMatrix(1, reader.size(axes[1]))), axes)
    raise _NoForm


# --- entries, to prove a matrix form equal to its index form -----------------------------

def entry(form: sp.Expr, axes: tuple, real_bases: bool = True) -> sp.Expr:
    """The element of a matrix form at the 1-based indices ``axes``, as an index expression."""
    i = axes[0] if axes else sp.Integer(1)
    j = axes[1] if len(axes) > 1 else sp.Integer(1)
    if getattr(form, "is_Matrix", False):
        value = _element(form, i, j, real_bases)
    else:  # a scalar made of 1 x 1 products (log(1^T exp(x)) - 1^T (t (.) x)): each its one entry
        value = form.replace(lambda e: getattr(e, "is_Matrix", False) and e.shape == (1, 1),
                             lambda e: _element(e, sp.Integer(1), sp.Integer(1), real_bases))
    return _to_indexed(sp.expand_func(value), real_bases)


def _element(form: sp.Expr, i: sp.Expr, j: sp.Expr, real: bool) -> sp.Expr:
    """The 1-based (i, j) entry of a matrix expression, built node by node (sympy's form[i, j]
    checks every index against every shape on the way, which took seconds a layer)."""
    if isinstance(form, sp.MatrixSymbol):
        base = sp.IndexedBase(form.name, real=real)
        return base[i] if form.shape[1] == 1 else base[i, j]
    if isinstance(form, sp.Transpose):
        return _element(form.arg, j, i, real)
    if isinstance(form, sp.MatAdd):
        return sp.Add(*(_element(a, i, j, real) for a in form.args))
    if isinstance(form, sp.MatMul):
        scalars = [a for a in form.args if not a.is_Matrix]
        first, *rest = [a for a in form.args if a.is_Matrix]
        if not rest:
            return sp.Mul(*scalars) * _element(first, i, j, real)
        right = rest[0] if len(rest) == 1 else sp.MatMul(*rest)
        inner = first.shape[1]
        if inner == 1:
            return sp.Mul(*scalars) * _element(first, i, 1, real) * _element(right, 1, j, real)
        k = sp.Dummy("k", integer=True, positive=True)
        return sp.Mul(*scalars) * sp.Sum(_element(first, i, k, real) * _element(right, k, j, real), (k, 1, inner))
    if isinstance(form, HadamardProduct):
        return sp.Mul(*(_element(a, i, j, real) for a in form.args))
    if isinstance(form, HadamardPower):
        return _element(form.base, i, j, real) ** form.exp
    if isinstance(form, ElementwiseApplyFunction):
        return form.function(_element(form.expr, i, j, real))
    if isinstance(form, sp.OneMatrix):
        return sp.Integer(1)
    if isinstance(form, sp.Identity):
        return sp.KroneckerDelta(i, j)
    if isinstance(form, sp.ZeroMatrix):
        return sp.Integer(0)
    if isinstance(form, sp.DiagMatrix):
        return sp.KroneckerDelta(i, j) * _element(form.args[0], i, 1, real)
    # anything else, sympy's way: 0-based (_to_indexed shifts its sums and elements); a
    # delta(i-1, j-1) over 0..n-1 there is the same delta of the 1-based indices
    return form[i - 1, j - 1].replace(lambda x: isinstance(x, sp.KroneckerDelta),
                                      lambda x: sp.KroneckerDelta(x.args[0] + 1, x.args[1] + 1))


def _to_indexed(e: sp.Expr, real: bool) -> sp.Expr:
    def element(m):
        base = sp.IndexedBase(m.parent.name, real=real)
        r, c = m.i + 1, m.j + 1
        return base[r] if m.parent.shape[1] == 1 else base[r, c]

    def shift(s: sp.Sum):
        function, limits = s.function, []
        for var, low, high in s.limits:
            new = sp.Dummy(var.name, integer=True, positive=True)
            function = function.xreplace({var: new - 1 + low})
            limits.append((new, 1, high - low + 1))
        return sp.Sum(function, *limits)

    e = e.replace(lambda x: isinstance(x, sp.matrices.expressions.matexpr.MatrixElement)
                  and isinstance(x.parent, sp.MatrixSymbol), element)
    e = e.replace(lambda x: isinstance(x, sp.matrices.expressions.matexpr.MatrixElement), lambda x: x.doit())
    return e.replace(lambda x: isinstance(x, sp.Sum), shift)

"""Index calculus on sympy: derivatives of index expressions, sums of Kronecker deltas,
range guards discharged from the index ranges, and a normal form that decides equality.

Everything here works at symbolic sizes: an index ``k`` runs over ``1 .. N_k`` with
``N_k`` a positive integer symbol, so what is proved holds for every size.
"""

from __future__ import annotations

import itertools
from typing import Mapping

import sympy as sp

from .functions import where

Ranges = Mapping[sp.Symbol, sp.Expr]


# --- range guards ----------------------------------------------------------------------

def _bounds(expr: sp.Expr, ranges: Ranges) -> tuple[sp.Expr, sp.Expr] | None:
    """(min, max) of an expression affine in the indices of ``ranges``, else None."""
    expr = sp.expand(expr)
    indices = [s for s in expr.free_symbols if s in ranges]
    if not indices:
        return expr, expr
    low = high = expr
    for s in indices:
        c = expr.coeff(s)
        if c.free_symbols & set(indices) or not c.is_number:
            return None
        low = low - c * s + (c * 1 if c > 0 else c * ranges[s])
        high = high - c * s + (c * ranges[s] if c > 0 else c * 1)
    if (low.free_symbols | high.free_symbols) & set(indices):
        return None
    return sp.expand(low), sp.expand(high)


def _decide(relation: sp.Basic, ranges: Ranges) -> bool | None:
    """True (False) when the index ranges imply (refute) ``relation``; None when they do not say."""
    if relation in (sp.true, sp.false):
        return bool(relation)
    if isinstance(relation, sp.And):
        verdicts = [_decide(r, ranges) for r in relation.args]
        if False in verdicts:
            return False
        return True if all(verdicts) else None
    if not isinstance(relation, (sp.GreaterThan, sp.LessThan, sp.StrictGreaterThan, sp.StrictLessThan,
                                 sp.Equality, sp.Unequality)):
        return None
    difference = relation.lhs - relation.rhs  # the relation compares it with 0
    bounds = _bounds(difference, ranges)
    if bounds is None:
        return None
    low, high = bounds
    kind = type(relation)
    checks = {
        sp.GreaterThan: (sp.Ge(low, 0), sp.Lt(high, 0)),
        sp.StrictGreaterThan: (sp.Gt(low, 0), sp.Le(high, 0)),
        sp.LessThan: (sp.Le(high, 0), sp.Gt(low, 0)),
        sp.StrictLessThan: (sp.Lt(high, 0), sp.Ge(low, 0)),
    }
    if kind in checks:
        holds, fails = checks[kind]
        if holds is sp.true:
            return True
        if fails is sp.true:
            return False
        return None
    return None


def discharge(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """Settle the Piecewise range guards that the index ranges decide.

    sympy keeps a guard such as ``j <= n`` when it sums a Kronecker delta away; for a
    free index ``j`` of ``1 .. n`` it always holds, and is dropped.  Guards the ranges
    do not decide (``1 <= s - t + 1 <= Q`` inside a convolution's sum) are kept.
    Summation indices take their ranges from their sums.
    """
    if isinstance(expr, sp.Sum):
        inner = dict(ranges)
        for var, low, high in expr.limits:
            if low == 1:
                inner[var] = high
        body = discharge(expr.function, inner)
        if body == 0:
            return sp.Integer(0)
        return sp.Sum(body, *expr.limits)
    if isinstance(expr, sp.Piecewise):
        pieces = []
        for value, condition in expr.args:
            verdict = _decide_all(condition, ranges)
            if verdict is False:
                continue
            value = discharge(value, ranges)
            if verdict is True:
                if not pieces:
                    return value
                pieces.append((value, True))
                break
            pieces.append((value, _drop_true(condition, ranges)))
        if not pieces:
            return sp.Integer(0)
        if len(pieces) == 1 and pieces[0][1] is True:
            return pieces[0][0]
        return sp.Piecewise(*pieces)
    if isinstance(expr, where):  # a condition the ranges decide (a padding guard) is settled too
        verdict = _decide_all(expr.args[0], ranges)
        if verdict is not None:
            return discharge(expr.args[1] if verdict else expr.args[2], ranges)
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Symbol)):
        return expr
    return expr.func(*(discharge(a, ranges) for a in expr.args))


def _decide_all(condition, ranges) -> bool | None:
    if condition is sp.true or condition is True:
        return True
    return _decide(condition, ranges)


def _drop_true(condition, ranges):
    """A conjunction without the relations the ranges imply."""
    parts = condition.args if isinstance(condition, sp.And) else (condition,)
    kept = [p for p in parts if _decide(p, ranges) is not True]
    return sp.And(*kept) if kept else sp.true


# --- derivatives and sums ------------------------------------------------------------

def collapse(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """Evaluate derivatives, sum Kronecker deltas away, settle range guards, until stable.

    Sums are evaluated by our own rules (a delta picks one term, a summand without the
    index is multiplied by the range), never by sympy's symbolic summation, which can
    return closed forms of the wrong shape for sums over a symbolic range.
    """
    for _ in range(8):
        new = expr.replace(lambda e: isinstance(e, sp.Derivative), lambda e: e.doit())
        new = new.replace(lambda e: isinstance(e, sp.Sum), _sum_deltas)
        new = discharge(_fold(new) if new.has(sp.Piecewise) else new, ranges)
        new = _distribute_piecewise_sums(new)
        if new == expr:
            break
        expr = new
    return expr


def _delta_out_of_condition(term: sp.Expr, v) -> sp.Expr:
    """where(c, a delta, b delta) = delta where(c, a, b) (0 holds any factor), for a Kronecker
    delta on v in both branches of a condition's derivative, conditions nested in a branch too
    (a padding's where(i > 3, where(i - 2 >= 1, delta, 0), 0)): outside, a sum can pick it."""
    # the one condition holding a delta on v (a padded read squared, where(c, x, 0)^2, has a
    # second factor where(c, x, 0) without one)
    conditions = [f for f in sp.Mul.make_args(term) if isinstance(f, where) and any(
        v in d.free_symbols for d in f.atoms(sp.KroneckerDelta))]
    if len(conditions) != 1:
        return term
    condition = conditions[0]
    common = _branch_deltas(condition, v)
    if not common:
        return term
    delta = sorted(common, key=sp.default_sort_key)[0]
    rest = term / condition
    return sp.Mul(rest, delta, _without_delta(condition, delta), evaluate=False)


def _branch_deltas(x: sp.Expr, v) -> set | None:
    """The Kronecker deltas on v that are factors of every non-zero branch of x (None for 0,
    which holds any factor)."""
    if x == 0:
        return None
    if isinstance(x, where):
        a, b = _branch_deltas(x.args[1], v), _branch_deltas(x.args[2], v)
        return b if a is None else a if b is None else a & b
    return {f for f in sp.Mul.make_args(x) if isinstance(f, sp.KroneckerDelta) and v in f.free_symbols}


def _without_delta(x: sp.Expr, delta: sp.KroneckerDelta) -> sp.Expr:
    """x with the factor ``delta`` taken out of each of its non-zero branches."""
    if x == 0:
        return x
    if isinstance(x, where):
        return where(x.args[0], _without_delta(x.args[1], delta), _without_delta(x.args[2], delta))
    return x / delta


def _sum_deltas(s: sp.Sum) -> sp.Expr:
    """sum_v delta(v, a) f(v) = f(a) [lo <= a <= hi], term by term, one limit at a time."""
    function, limits = s.function, list(s.limits)
    variables = {limit[0] for limit in limits}
    if not any((low.free_symbols | high.free_symbols) & variables for _, low, high in limits):
        # independent ranges: the indices a delta can pick are summed first (a guarded term's
        # sum over c would otherwise hide the deltas on h and w from their sums)
        picked = {s for d in function.atoms(sp.KroneckerDelta) for s in d.free_symbols}
        limits.sort(key=lambda limit: limit[0] not in picked)
    (v, low, high) = limits[-1]  # the outermost limit last: sum it after the inner ones
    if len(limits) > 1:
        inner = _sum_deltas(sp.Sum(function, *limits[:-1]))
        return _sum_deltas_one(inner, v, low, high)
    return _sum_deltas_one(function, v, low, high)


def _split_default(expr: sp.Expr) -> sp.Expr:
    """Piecewise((a, c), (b, True)) = b + Piecewise((a - b, c), (0, True)): sympy folds a
    guarded term into the terms beside it; split, a delta can pick from each part again."""
    if isinstance(expr, sp.Piecewise) and len(expr.args) == 2 and expr.args[1][1] == sp.true \
            and expr.args[1][0] != 0:
        (a, condition), (b, _) = expr.args
        return b + sp.Piecewise((a - b, condition), (0, True))
    return expr


def _sum_deltas_one(function: sp.Expr, v, low, high) -> sp.Expr:
    function = _split_default(function)
    # Split the summand into terms only when a delta on v is buried in one of them
    # (expanding (1 - y^2) g for nothing would cost a second matrix product).
    deltas = [d for d in function.atoms(sp.KroneckerDelta) if v in d.free_symbols]
    if deltas and not (isinstance(function, sp.Mul) and any(d in function.args for d in deltas)):
        terms = sp.Add.make_args(sp.expand(function, deep=False, power_base=False, power_exp=False,
                                           log=False, multinomial=False))
    else:
        terms = (function,)
    out = []
    for term in terms:
        picked = _pick(term, v, low, high)
        if picked is not None:
            out.append(picked)
        elif v not in term.free_symbols:
            out.append(term * (high - low + 1))
        else:  # what does not depend on v stands outside (a delta for an outer sum, say)
            factors = sp.Mul.make_args(term)
            outside = [f for f in factors if v not in f.free_symbols]
            inside = [f for f in factors if v in f.free_symbols]
            out.append(sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), (v, low, high)))
    return sp.Add(*out)


def _pick(term: sp.Expr, v, low, high) -> sp.Expr | None:
    """The term summed over v when a factor delta(v, a) picks v = a, else None."""
    guard = sp.true
    if isinstance(term, sp.Piecewise) and len(term.args) == 2 and term.args[1][0] == 0:
        (term, guard), _ = term.args
    term = _delta_out_of_condition(term, v)
    for factor in sp.Mul.make_args(term):
        if isinstance(factor, sp.KroneckerDelta) and v in factor.free_symbols:
            # delta(e1, e2) with e1 - e2 = c v + rest, c = +-1: it picks v = -rest / c.
            difference = sp.expand(factor.args[0] - factor.args[1])
            c = difference.coeff(v)
            if c not in (1, -1) or v in (difference - c * v).free_symbols:
                continue
            a = sp.expand(-(difference - c * v) / c)
            rest = sp.Mul(*(f for f in sp.Mul.make_args(term) if f is not factor)).xreplace({v: a})
            condition = sp.And(guard.xreplace({v: a}) if guard is not sp.true else sp.true,
                               sp.Ge(a, low), sp.Le(a, high))
            return sp.Piecewise((rest, condition), (0, True))
    return None


def _fold(expr: sp.Expr) -> sp.Expr:
    """sympy's piecewise_fold, but never across a sum: a guard on a summation index
    must stay inside its sum (piecewise_fold would lift it out, unbound)."""
    if isinstance(expr, sp.Sum):
        return sp.Sum(_fold(expr.function), *expr.limits)
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Symbol)):
        return expr
    if any(isinstance(a, sp.Sum) for a in sp.preorder_traversal(expr)):
        return expr.func(*(_fold(a) for a in expr.args))
    return sp.piecewise_fold(expr)


def _distribute_piecewise_sums(expr: sp.Expr) -> sp.Expr:
    # Sum(Piecewise((e, c), (0, True))) where c does not involve the summed index: the
    # guard moves outside, so sympy can go on summing deltas inside.
    def move(s: sp.Sum):
        f = s.function
        if isinstance(f, sp.Piecewise) and len(f.args) == 2 and f.args[1] == (0, True):
            value, condition = f.args[0]
            variables = {v for v, _, _ in s.limits}
            if not (condition.free_symbols & variables):
                return sp.Piecewise((sp.Sum(value, *s.limits), condition), (0, True))
        return s
    return expr.replace(lambda e: isinstance(e, sp.Sum), move)


def _best_order(s: sp.Sum) -> sp.Expr:
    # sympy sums a Kronecker delta away only when its index is the innermost limit.
    best, count = s, _count_limits(s)
    for limits in itertools.permutations(s.limits):
        candidate = sp.Sum(s.function, *limits).doit()
        if _count_limits(candidate) < count:
            best, count = candidate, _count_limits(candidate)
    return best


def _count_limits(expr: sp.Expr) -> int:
    return sum(len(s.limits) for s in expr.atoms(sp.Sum))


# --- deciding equality -----------------------------------------------------------------

def normal_form(expr: sp.Expr) -> sp.Expr:
    """Sums split over their terms, constant factors pulled out, bound indices renamed.

    Two index expressions that differ only in how their sums are written (the order of
    factors, where a constant stands, what the summation index is called) get the same
    normal form.
    """
    return _rename(_flatten(_linear(expr)), 0)


def _flatten(expr: sp.Expr) -> sp.Expr:
    """sum_i a_i sum_j b_ij as one sum over (i, j), its ranges in a fixed order: finite sums
    over independent ranges may be taken in any order, so both nestings read the same."""
    def merge(s: sp.Sum) -> sp.Expr:
        factors = sp.Mul.make_args(s.function)
        bound = {v for v, _, _ in s.limits}
        nested = [f for f in factors if isinstance(f, sp.Sum)
                  and not any(bound & (lo.free_symbols | hi.free_symbols) for _, lo, hi in f.limits)]
        if len(nested) != 1:
            return s
        inner = nested[0]
        rest = sp.Mul(*(f for f in factors if f is not inner))
        limits = sorted(inner.limits + s.limits, key=lambda limit: (sp.default_sort_key(limit[1]),
                                                                   sp.default_sort_key(limit[2])))
        return sp.Sum(rest * inner.function, *limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum), merge)


def _linear(expr: sp.Expr) -> sp.Expr:
    if isinstance(expr, sp.Sum):
        body = _linear(expr.function)
        for var, low, high in expr.limits:  # the first limit is the innermost sum
            body = _sum_terms(body, var, low, high)
        return body
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Symbol)):
        return expr
    return expr.func(*(_linear(a) for a in expr.args))


def _sum_terms(body: sp.Expr, var, low, high) -> sp.Expr:
    terms = sp.Add.make_args(sp.expand(body, deep=False, power_base=False, power_exp=False, log=False))
    out = []
    for term in terms:
        factors = sp.Mul.make_args(term)
        inside = [f for f in factors if var in f.free_symbols]
        outside = [f for f in factors if var not in f.free_symbols]
        if not inside:
            out.append(sp.Mul(*outside) * (high - low + 1))
        else:
            out.append(sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), (var, low, high)))
    return sp.Add(*out)


def _rename(expr: sp.Expr, depth: int, prefix: str = "_b") -> sp.Expr:
    if isinstance(expr, sp.Sum):
        function, limits = expr.function, []
        for k, (var, low, high) in enumerate(expr.limits):
            new = sp.Symbol(f"{prefix}{depth}_{k}", integer=True, positive=True)
            function = function.xreplace({var: new})
            limits.append((new, low, high))
        return sp.Sum(_rename(function, depth + 1, prefix), *limits)
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Symbol)):
        return expr
    if isinstance(expr, sp.Function):
        # a sum inside a function's argument is named for its place in the argument, not
        # for how many sums enclose the call (which differs between equal forms)
        return expr.func(*(_rename(a, 0, f"{prefix}f_") for a in expr.args))
    return expr.func(*(_rename(a, depth, prefix) for a in expr.args))


def equal(a: sp.Expr, b: sp.Expr) -> bool:
    """Decide a == b for index expressions (sums, products, element-wise functions)."""
    if a == b:
        return True
    na, nb = normal_form(a), normal_form(b)
    if na == nb:
        return True
    difference = sp.expand(na - nb)
    if difference == 0:
        return True
    difference = normal_form(sp.expand(difference))
    if difference == 0:
        return True
    return sp.simplify(difference) == 0

"""The engine: any layer written as one expression, derived and proved at the index level.

For a :class:`~derive.symbolic.language.LayerSpec` (output element ``y[I] = E(I)``):

* the Jacobian element ``dy[I]/dv[J]`` of the output by the input and by each
  parameter ``v``, by sympy on ``Indexed`` elements (Kronecker deltas, range guards
  settled from the index ranges);
* the chain rule ``dJ/dv[J] = sum_I g[I] dy[I]/dv[J]`` with the deltas summed away;
* where Torch reads the output instead of recomputing the input's function (sigmoid
  y (1 - y), tanh 1 - y^2, softmax y (g - y.g)), the gradient rewritten in the output,
  proved equal;
* the batch case as the same layer over samples ``s``: the input, output and target
  gain a leading index, parameter gradients sum over the samples.

Every displayed equality is proved at symbolic sizes (:func:`calculus.equal`), so the
cost does not grow with the sizes shown.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import sympy as sp

from .calculus import _rename, collapse, equal
from .derivation import (Derivation, Grid, Named, Plus, Product, ProofError, Result, Section, Step, Transposed,
                         shape_of)
from .functions import Extremum, kinks, largest
from .language import ArrayInfo, LayerSpec
from .matrix_form import entry, matrix_form

LOSS = sp.Symbol("J")
#: The index of samples in a batch, and the batch size.
SAMPLE = sp.Symbol("s", integer=True, positive=True)
BATCH = sp.Symbol("B", integer=True, positive=True)
_POOL = ("j", "k", "l", "a", "c", "d", "e", "f", "o", "q", "r", "u", "v", "w", "z")


@dataclass(frozen=True)
class Gradient:
    """What the engine derives for one variable ``v`` (the input or a parameter).

    ``indices`` index v's element; ``jacobian`` is dy[I]/dv[J] (for a criterion
    dJ/dv[J]); ``chain`` the chain-rule sum before evaluation; ``index_form`` the
    gradient with the deltas summed away; ``output_form`` the same gradient written
    with the output where that removes the forward's recomputation (else None).
    """

    variable: ArrayInfo
    indices: tuple[sp.Symbol, ...]
    jacobian: sp.Expr
    chain: sp.Expr
    index_form: sp.Expr
    output_form: sp.Expr | None

    @property
    def final(self) -> sp.Expr:
        """The form the kernels compute."""
        return self.output_form if self.output_form is not None else self.index_form


def grad_output_name(spec: LayerSpec) -> str:
    """The array of dJ/dy the layer receives: ``g`` (``G`` for a batch)."""
    return "G" if spec.output.name.isupper() or spec.output.name == "Y" else "g"


def ranges_of(spec: LayerSpec) -> dict[sp.Symbol, sp.Expr]:
    """The index ranges of the output's indices (the free indices of every step)."""
    return dict(spec.ranges)


def element(array: ArrayInfo, indices) -> sp.Expr:
    """The element of ``array`` at ``indices`` (the symbol itself for a scalar)."""
    base = sp.IndexedBase(array.name, real=True)
    return base[tuple(indices)] if indices else sp.Symbol(array.name, real=True)


def _used_names(spec: LayerSpec) -> set[str]:
    names = set(spec.arrays) | {str(s) for s in spec.expr.free_symbols}
    names |= {str(v) for s in spec.expr.atoms(sp.Sum, Extremum) for v, _, _ in s.limits}
    names |= {str(i) for i in spec.indices} | {str(s) for s in spec.sizes}
    return names


def variable_indices(spec: LayerSpec, array: ArrayInfo) -> tuple[sp.Symbol, ...]:
    """Fresh index symbols for the elements of ``array`` (j, k, ... not used elsewhere)."""
    used = _used_names(spec)
    pool = [n for n in _POOL if n not in used]
    return tuple(sp.Symbol(pool[k], integer=True, positive=True) for k in range(len(array.shape)))


def definition(spec: LayerSpec, indices) -> sp.Expr:
    """E at the given output indices."""
    return spec.expr.xreplace(dict(zip(spec.indices, indices)))


@functools.lru_cache(maxsize=64)
def gradients(spec: LayerSpec) -> dict[str, Gradient]:
    """The gradient of the loss with respect to the input and each parameter."""
    out = {}
    for array in [spec.input] + spec.parameters:
        if not array.integer:  # integers (a LookupTable's input) have no gradient
            out[array.name] = _gradient(spec, array)
    return out


def _variable_ranges(spec: LayerSpec, array: ArrayInfo, indices) -> dict:
    ranges = ranges_of(spec)
    ranges.update(zip(indices, array.shape))
    return ranges


def _gradient(spec: LayerSpec, array: ArrayInfo) -> Gradient:
    J = variable_indices(spec, array)
    v = element(array, J)
    ranges = _variable_ranges(spec, array, J)
    jacobian = collapse(sp.diff(spec.expr, v), ranges)
    if spec.is_criterion:
        chain = sp.Derivative(spec.expr, v)
        index_form = jacobian
    else:
        g = element(ArrayInfo(grad_output_name(spec), spec.output.shape, "gradOutput"), spec.indices)
        limits = [(i, 1, spec.ranges[i]) for i in spec.indices]
        chain = sp.Sum(g * sp.Derivative(element(spec.output, spec.indices), v), *limits)
        index_form = collapse(sp.Sum(g * jacobian, *limits), ranges)
    index_form = _tidy(index_form)
    output_form = None if spec.is_criterion else _in_output(spec, index_form, ranges)
    return Gradient(array, J, jacobian, chain, index_form, output_form)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Pull factors that do not depend on a sum's index out of it (W_ij g_i sums stay)."""
    def pull(s: sp.Sum):
        if len(s.limits) != 1:
            return s
        (var, low, high), = s.limits
        factors = sp.Mul.make_args(s.function)
        inside = [f for f in factors if var in f.free_symbols]
        outside = [f for f in factors if var not in f.free_symbols]
        if outside and inside:
            return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), (var, low, high))
        return s
    return expr.replace(lambda e: isinstance(e, sp.Sum), pull)


# --- reading the output instead of the input ----------------------------------------------

def _atoms(spec: LayerSpec) -> list[tuple[sp.Expr, sp.Expr]]:
    """Sums in E that do not run with the output's own index (softmax's sum of
    exponentials), as (pattern, placeholder): they are held as opaque factors Z(s)
    while the gradient is rewritten, so that they can cancel."""
    own = set(spec.indices) - {spec.sample}
    atoms = []
    for k, e in enumerate(sorted(spec.expr.atoms(sp.Sum), key=sp.default_sort_key)):
        if e.free_symbols & own or not e.atoms(sp.Indexed):
            continue
        outer = sorted(e.free_symbols & set(spec.indices), key=str)
        wilds = [sp.Wild(f"z{k}_{n}") for n in range(len(outer))]
        placeholder = sp.Function(f"Z{k}", positive=True)
        atoms.append((e.xreplace(dict(zip(outer, wilds))), placeholder(*wilds) if wilds else placeholder(0)))
    return atoms


def _hold(expr: sp.Expr, atoms) -> sp.Expr:
    for pattern, placeholder in atoms:
        expr = expr.replace(pattern, placeholder)
    return expr


def _in_output(spec: LayerSpec, gradient: sp.Expr, ranges) -> sp.Expr | None:
    """The gradient written with the output y where that removes the forward's recomputation.

    Two ways are tried: E itself appears in the gradient (sigmoid, tanh: replaced by
    y), or the input appears once in E and can be solved for (softmax: exp(x_i) =
    y_i Z).  The rewrite is kept only when the forward is gone from the result, and
    it is proved equal to the gradient (substituting y's definition back).
    """
    if not spec.indices:
        return None
    atoms = _atoms(spec)
    E, G = _hold(spec.expr, atoms), _hold(gradient, atoms)
    held = {p.func for _, p in atoms}
    wilds = dict((i, sp.Wild(f"w{k}")) for k, i in enumerate(spec.indices))
    y = sp.IndexedBase(spec.output.name, real=True)
    out_w = y[tuple(wilds[i] for i in spec.indices)]
    candidates = []
    pattern = E.xreplace(wilds)
    if not isinstance(pattern, sp.Indexed) and pattern.has(sp.Indexed):  # (y = x - x is 0: nothing to read)
        candidates.append((pattern, out_w))
    accesses = [a for a in E.atoms(sp.Indexed) if a.base.name == spec.input.name]
    # a condition's branches are not solved for the input (sympy's solve returns sets of cases)
    if len(accesses) == 1 and set(accesses[0].indices) == set(spec.indices) and not E.has(sp.Piecewise):
        access = accesses[0]
        target = sp.Dummy("y", real=True)
        solution = invert(E, access, target)
        if solution is not None:
            candidates.append((access.xreplace(wilds), solution.xreplace(wilds).xreplace({target: out_w})))
    for pattern, replacement in candidates:
        try:
            rewritten = G.replace(pattern, replacement)
        except (TypeError, ValueError):
            continue
        rewritten = _tidy(sp.powsimp(sp.expand_log(rewritten, force=False)))
        if rewritten == G or any(isinstance(f, sp.Function) and f.func in held
                                 for f in rewritten.atoms(sp.Function)):
            continue
        if isinstance(pattern, sp.Indexed):  # the input solved for: it must be gone
            if any(a.base.name == spec.input.name for a in rewritten.atoms(sp.Indexed)):
                continue
        elif rewritten.has(pattern):
            continue
        rewritten = _tidy(sp.factor_terms(rewritten))
        if has_unsafe_division(rewritten, gradient) is not None:
            continue  # y / w equals x only where w is not 0: not shown, not compiled
        back = rewritten.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name == spec.output.name,
                                 lambda e: definition(spec, e.indices))
        if equal(collapse(back, ranges), gradient):
            return rewritten
    return None


def nonzero(expr: sp.Expr) -> bool:
    """True when ``expr`` is not 0 for any value of its variables (exp, a sum of them, a size)."""
    if expr.is_nonzero or expr.is_positive or expr.is_negative:
        return True
    if isinstance(expr, sp.Sum):
        return bool(expr.function.is_positive) or _positive(expr.function)
    if isinstance(expr, sp.Pow):
        return nonzero(expr.base)
    if isinstance(expr, sp.Mul):
        return all(nonzero(f) for f in expr.args)
    return _positive(expr)


def _positive(expr: sp.Expr) -> bool:
    if expr.is_positive:
        return True
    if isinstance(expr, sp.Sum):
        return _positive(expr.function)
    if isinstance(expr, (sp.Mul, sp.Add)):
        return all(_positive(a) for a in expr.args)
    if isinstance(expr, sp.Pow):
        return _positive(expr.base) and bool(expr.exp.is_real)
    return isinstance(expr, sp.exp) and bool(expr.args[0].is_real)


def invert(E: sp.Expr, unknown: sp.Expr, y: sp.Expr) -> sp.Expr | None:
    """``unknown`` written with ``y`` where ``y = E``, for every value: only steps that hold
    everywhere are taken (adding a term, multiplying by a factor that is never 0, exp's
    inverse log of a value exp makes positive), so no division by what can be 0; None
    where there is no such inverse (``y = w x``: x = y / w fails at w = 0)."""
    for _ in range(32):  # one step per node on the unknown's path: bounded
        if E == unknown:
            return y
        if isinstance(E, sp.Add):
            with_u = [a for a in E.args if a.has(unknown)]
            if len(with_u) != 1:
                return None
            E, y = with_u[0], y - sp.Add(*(a for a in E.args if not a.has(unknown)))
        elif isinstance(E, sp.Mul):
            with_u = [a for a in E.args if a.has(unknown)]
            rest = sp.Mul(*(a for a in E.args if not a.has(unknown)))
            if len(with_u) != 1 or not nonzero(rest):
                return None
            E, y = with_u[0], y / rest
        elif isinstance(E, sp.exp):
            E, y = E.args[0], sp.log(y)
        else:
            return None
    return None


def has_unsafe_division(expr: sp.Expr, allowed: sp.Expr = sp.Integer(1)) -> sp.Expr | None:
    """A divisor of ``expr`` that can be 0, or None. What ``allowed`` (the layer) already
    needs non-zero may divide: its own divisors (y = x / w), the arguments of its logs
    (log(x)' = 1/x) and the bases of its roots (sqrt(u)' = 1/(2 sqrt(u))), each up to the
    names of its indices."""
    known = {_canonical(_base(d)) for d in _divisors(allowed)}
    known |= {_canonical(f.args[0]) for f in allowed.atoms(sp.log)}
    known |= {_canonical(p.base) for p in allowed.atoms(sp.Pow) if not p.exp.is_integer}
    for d in _divisors(expr):
        if _canonical(_base(d)) not in known and not nonzero(d):
            return d
    return None


_INDEX = sp.Symbol("_index", integer=True, positive=True)


def _canonical(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every index written alike (1 - x_j is the layer's 1 - x_i)."""
    return expr.xreplace({s: _INDEX for s in expr.free_symbols if s.is_integer})


def _divisors(expr: sp.Expr) -> list:
    return [p.base for p in sp.preorder_traversal(expr)
            if isinstance(p, sp.Pow) and p.exp.is_number and p.exp.is_negative]


def _base(d: sp.Expr) -> sp.Expr:
    return d.base if isinstance(d, sp.Pow) else d


# --- the batch ----------------------------------------------------------------------------

REDUCTIONS = ("mean", "sum")


def batch_spec(spec: LayerSpec, reduction: str = "mean") -> LayerSpec:
    """The same layer over a batch: samples ``s`` of ``B`` in a leading index.

    The input, target and output gain the index (``X``, ``Y``); parameters do not.
    A criterion's loss is the mean of the samples' losses, or with ``reduction="sum"``
    their sum (Torch7's sizeAverage=false); with a sample weight (``spec.weight``), the mean
    is the sum of the losses over the sum of the weights (PyTorch's weighted mean). Where the layer itself uses ``s`` or ``B``
    the batch's index and size take names of their own (``s1``, ``B1``).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    used = _used_names(spec) | {str(s) for s in spec.expr.atoms(sp.Symbol)}
    sample, size = (_fresh(SAMPLE, used), _fresh(BATCH, used))
    renames = {}
    arrays = {}
    for name, array in spec.arrays.items():
        if array.role in ("input", "target", "output"):
            new = _batch_name(name, spec, used | {sample.name, size.name} | set(renames.values()))
            renames[name] = new
            arrays[new] = replace(array, name=new, shape=(size,) + array.shape)
        else:
            arrays[name] = array

    def batched(e: sp.Indexed):
        return sp.IndexedBase(renames[e.base.name], real=True)[(sample,) + tuple(e.indices)]

    def per_sample(e: sp.Expr) -> sp.Expr:
        e = e.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name in renames, batched)
        # a scalar per sample (a class target t) becomes the batch's vector T[s]
        return e.xreplace({sp.Symbol(name, real=True): sp.IndexedBase(renames[name], real=True)[sample]
                           for name, array in spec.arrays.items() if name in renames and not array.shape})

    expr = per_sample(spec.expr)
    sizes = dict(spec.sizes)
    if spec.is_criterion:
        if reduction == "mean":
            total = size if spec.weight is None else sp.Sum(per_sample(spec.weight), (sample, 1, size))
        else:
            total = 1
        expr = sp.Sum(expr, (sample, 1, size)) / total
        indices, ranges = (), {}
        output = ArrayInfo(spec.output.name, (), "output")
        arrays[spec.output.name] = output
        del arrays[renames[spec.output.name]]
    else:
        indices = (sample,) + spec.indices
        ranges = {sample: size, **spec.ranges}
        output = arrays[renames[spec.output.name]]
    return replace(spec, output=output, indices=indices, expr=expr, arrays=arrays, sizes=sizes,
                   ranges=ranges, sample=sample, batch_size=size, weight=None)


def weighted_sample(spec: LayerSpec, reduction: str = "mean") -> LayerSpec:
    """One sample's loss as a batch of one reduces it: its loss over its weight where the
    mean is weighted (PyTorch's nll_loss(weight=) of one sample is -x[t]); else the spec."""
    if spec.weight is None or reduction != "mean":
        return spec
    return replace(spec, expr=spec.expr / spec.weight, weight=None)


def _fresh(symbol: sp.Symbol, used: set) -> sp.Symbol:
    """``symbol``, or ``symbol`` numbered (B1, B2, ...) where the layer already uses its name."""
    name, k = symbol.name, 0
    while name in used:
        k += 1
        name = f"{symbol.name}{k}"
    return sp.Symbol(name, **symbol.assumptions0)


def _batch_name(name: str, spec: LayerSpec, taken: set) -> str:
    upper = name.upper()
    if upper != name and upper not in spec.arrays and upper not in taken:
        return upper
    new = name + "_B"
    while new in taken or new in spec.arrays:
        new += "_"
    return new


def prove(left: sp.Expr, right: sp.Expr, ranges, what: str) -> None:
    """Raise ProofError unless ``left == right`` at every index in range, for every size."""
    if not equal(collapse(left, ranges), collapse(right, ranges)):
        raise ProofError(f"{what}: {left} = {right} does not hold")


def shift_invariant(expr: sp.Expr, name: str, sample: sp.Symbol | None = None) -> bool:
    """True when ``expr`` does not change if every element of ``name`` (of one sample)
    is lowered by the same c, and it exponentiates them: softmax's
    exp(x_i) / sum exp(x_k) = exp(x_i - c) / sum exp(x_k - c).  Proved, for a symbolic
    c: the kernel then takes c = the sample's largest element, so exp never overflows.
    """
    accesses = [a for a in expr.atoms(sp.Indexed) if a.base.name == name]
    if not accesses or not any(isinstance(e, sp.exp) and e.has(*accesses) for e in expr.atoms(sp.exp)):
        return False
    c = sp.Function("c", real=True)(sample) if sample is not None else sp.Symbol("c", real=True)

    def shift(e: sp.Indexed):
        return e - (c.func(e.indices[0]) if sample is not None else c)
    shifted = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name == name, shift)
    shifted = _tidy(sp.expand_power_exp(shifted).replace(
        lambda e: isinstance(e, sp.exp), lambda e: sp.expand_power_exp(e)))
    shifted = sp.expand_log(_tidy(shifted), force=True)  # log of a positive sum: exact
    return equal(shifted, expr)


def stable(expr: sp.Expr) -> sp.Expr | None:
    """``expr`` with every sum of exponentials shifted by its largest exponent, proved equal;
    None where there is none (or the proof does not close).

    For S = sum_k exp(f_k) and M = max_k f_k, each exp(h) of the same family (h is f at
    some index) is exp(M) exp(h - M); the exp(M) factors cancel between numerator and
    denominator, log(exp(M) S') is M + log S'. So a softmax exp(a)/S is exp(a - M)/S', a
    log-sum-exp is M + log S', and no exp overflows (S' >= 1 holds its largest term, 1).
    The identity holds for any real M: it is proved at a symbolic c in M's place.
    """
    expr = _rename(expr, 0, "_z")
    sums = sorted((s for s in expr.atoms(sp.Sum) if isinstance(s.function, sp.exp)
                   and s.function.args[0].free_symbols & {v for v, _, _ in s.limits}), key=sp.default_sort_key)
    if not sums:
        return None
    new, scales = expr, {}
    for k, total in enumerate(sums):
        f = total.function.args[0]
        variables = [v for v, _, _ in total.limits]
        own = {v: sp.Symbol(f"_m{k}_{n}", integer=True, positive=True) for n, v in enumerate(variables)}
        M = largest(f.xreplace(own), sp.Tuple(*(sp.Tuple(own[v], lo, hi) for v, lo, hi in total.limits)))
        # exp(M) as an opaque positive factor of the indices M depends on (a sample's own
        # largest stays inside the sum over samples)
        free = sorted(M.free_symbols, key=str)
        scale = sp.Function(f"_E{k}", positive=True)(*free) if free else sp.Symbol(f"_E{k}", positive=True)
        scales[scale] = M
        pattern = sp.exp(f.xreplace({v: sp.Wild(f"w{n}") for n, v in enumerate(variables)}))
        new = new.replace(lambda e: isinstance(e, sp.exp) and not e.has(largest) and e.match(pattern) is not None,
                          lambda e, scale=scale, M=M: scale * sp.exp(e.args[0] - M))
    new = sp.expand_log(_tidy(new))  # log(E S') = log E + log S', both positive
    new = new.xreplace({sp.log(scale): M for scale, M in scales.items()})
    new = _merge_exps(new.xreplace({scale: sp.exp(M) for scale, M in scales.items()}))
    if any(new.has(s) for s in scales):
        return None
    # The identity holds for any real shift c(indices) in M's place: proved so, the
    # shift a function of the indices M depends on (never a constant for every sample).
    shifts = {M: sp.Function(f"c{k}", real=True)(*sorted(M.free_symbols, key=str))
              for k, M in enumerate(scales.values())}
    at_c = new.xreplace(shifts)
    at_c = at_c.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.expand_power_exp(e))
    try:
        # log(a b) = log a + log b only where sympy knows a and b positive (exp, sums of exp)
        proved = equal(sp.expand_log(_tidy(at_c)), sp.expand_log(expr))
    except Exception:  # noqa: BLE001 - a proof sympy cannot finish is no proof
        proved = False
    return new if proved else None


def _merge_exps(expr: sp.Expr) -> sp.Expr:
    """exp(a) exp(-M) as exp(a - M), in every product (the shift applied where it is needed)."""
    def merge(m: sp.Mul) -> sp.Expr:
        exps = [f for f in m.args if isinstance(f, sp.exp)
                or (isinstance(f, sp.Pow) and isinstance(f.base, sp.exp) and f.exp.is_Integer)]
        if len(exps) < 2:
            return m
        total = sp.Add(*(f.args[0] if isinstance(f, sp.exp) else f.exp * f.base.args[0] for f in exps))
        return sp.Mul(*(f for f in m.args if f not in exps)) * sp.exp(total)
    return expr.replace(lambda e: isinstance(e, sp.Mul), merge)


# --- the derivation, as proved steps ----------------------------------------------------

def _meaning(spec: LayerSpec, expr: sp.Expr) -> sp.Expr:
    """``expr`` with each output element replaced by its definition (y_i -> E(i))."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name == spec.output.name,
                        lambda e: definition(spec, e.indices))


def _proved_step(spec: LayerSpec, lhs, chain: tuple, text: str = "") -> Step:
    """A step whose consecutive forms are proved equal (after the first, which names it)."""

    ranges = dict(spec.ranges)
    for form in chain:
        for s in form.free_symbols:
            if s.is_integer and s not in ranges and s not in spec.sizes and s != spec.batch_size:
                ranges.setdefault(s, None)
    forms = [f for f in chain]
    for a, b in zip(forms, forms[1:]):
        free = {s: r for s, r in ranges.items() if r is not None}
        # y / w "equals" x only where w is not 0: a form may divide only by what the layer
        # itself divides by, or by what is never 0 (sizes, sums of exp)
        divisor = has_unsafe_division(b, a + spec.expr)
        if divisor is not None:
            raise ProofError(f"{lhs}: {b} divides by {divisor}, which can be 0")
        prove(_meaning(spec, a), _meaning(spec, b), free | _index_ranges(spec, a, b), f"{lhs}")
    return Step(lhs, tuple(chain), text)


def _index_ranges(spec: LayerSpec, *forms) -> dict:
    """Ranges of a variable's element indices, read from the arrays they index."""
    out = {}
    for form in forms:
        for access in form.atoms(sp.Indexed):
            array = spec.arrays.get(access.base.name)
            if array is None:
                continue
            for index, size in zip(access.indices, array.shape):
                if isinstance(index, sp.Symbol) and index not in spec.ranges:
                    out[index] = size
    return out


def _frac(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def _bold(name: str) -> str:
    """An array's name in bold, a layer's number as a subscript (W2: W_2)."""
    letters = name.rstrip("0123456789")
    if letters and letters != name:
        return rf"\mathbf{{{letters}}}_{{{name[len(letters):]}}}"
    return rf"\mathbf{{{name}}}"


def derivation(spec: LayerSpec, batch: int | None = None, reduction: str = "mean") -> Derivation:
    """The layer's derivation: forward, Jacobians, chain rule, module calls (and the batch,
    a criterion's reduced as ``reduction`` says: see batch_spec)."""
    if reduction != "mean" and not spec.is_criterion:
        raise ValueError("reduction is for a criterion (J = ...), whose batch loss it reduces")

    sections = _sections(spec, "")
    results = _results(spec)
    sizes = dict(spec.sizes)
    shapes = ", ".join(f"{a.name} {spec.concrete(a.shape)}" for a in spec.arrays.values()
                       if a.role != "output")
    title = f"{spec.text} ({shapes})"
    names = element_names(spec)
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        b = batch_spec(spec, reduction)
        sections += _sections(b, "Batch: ")
        results.update({f"{k} (batch)": v for k, v in _results(b).items()})
        names.update(element_names(b))
        sizes[b.batch_size] = batch
        title += f", batch of {batch}"
    sections.append(_module_calls(spec))
    return Derivation(title, sections, sizes, results, names)


def element_names(spec: LayerSpec) -> dict[str, str]:
    """How the elements of the spec's arrays are written, as the tutorial does: a matrix
    W has elements w_{ij}, W1 has w^{(1)}_{ij}, b1 has b^{(1)}_i. A name keeps its own
    letter where the written form would be another array's or an index's."""
    taken = set(spec.arrays) | _used_names(spec)
    written = {}
    for name in spec.arrays:
        match = re.fullmatch(r"([A-Za-z])(\d*)", name)
        if match is None or (name.islower() and not match.group(2)):
            continue
        letter, digits = match.group(1).lower(), match.group(2)
        if letter != match.group(1) and (letter in taken or letter + digits in taken):
            continue
        written[name] = letter + (f"^{{({digits})}}" if digits else "")
    if len(set(written.values())) != len(written):  # W1 and w1 both: keep both names
        return {}
    return written


def _grid(shape: tuple, entry) -> Grid:
    """A vector (as a column) or matrix shown entry by entry; ``entry(indices)`` is 1-based."""

    if len(shape) == 1:
        return Grid((shape[0], sp.Integer(1)), lambda r, c: entry((r,)))
    return Grid(tuple(shape), lambda r, c: entry((r, c)))


def _grid_step(spec: LayerSpec, name: str, shape: tuple, forms: list, text: str = "",
               chain_rule: bool = False) -> Step:
    """``name = form_1 = form_2 ...`` for an array of ≤ 2 dimensions, forms being grids (entry
    functions) or matrix expressions; each equality proved at a generic entry, every size.
    With ``chain_rule`` the first equality is the chain rule (dJ/dv as the sum over the
    outputs, or J's definition for a criterion), the one fact taken as given."""
    generic = tuple(sp.Symbol(f"_e{k}", integer=True, positive=True) for k in range(len(shape)))
    ranges = dict(spec.ranges)
    ranges.update(zip(generic, shape))

    def at(form):
        if isinstance(form, sp.Basic):
            return entry(form, generic)
        if callable(form):
            return form(generic)
        return _form_entry(form, generic[0], generic[1] if len(generic) == 2 else sp.Integer(1))
    for a, b in list(zip(forms, forms[1:]))[1 if chain_rule else 0:]:
        prove(_meaning(spec, at(a)), _meaning(spec, at(b)), ranges | _index_ranges(spec, at(a), at(b)), name)
    shown = [_grid(shape, f) if callable(f) else f for f in forms]
    return Step(Named(name, shown[0]), tuple(shown), text)


def _form_entry(form, r: sp.Expr, c: sp.Expr) -> sp.Expr:
    """The (r, c) entry of a displayed form (grids, their transposes, products and sums)."""
    if isinstance(form, Grid):
        return form.entry(r, c)
    if isinstance(form, Transposed):
        return _form_entry(form.grid, c, r)
    if isinstance(form, Plus):
        return sp.Add(*(_form_entry(t, r, c) for t in form.terms))
    if isinstance(form, Product):
        first, *rest = form.factors
        if not rest:
            return _form_entry(first, r, c)
        k = sp.Dummy("k", integer=True, positive=True)
        return sp.Sum(_form_entry(first, r, k) * _form_entry(Product(tuple(rest)), k, c),
                      (k, 1, shape_of(first)[1]))
    raise TypeError(f"no entries for {type(form).__name__}")


def _operands(spec: LayerSpec, form: sp.Expr):
    """A matrix form with each array shown as its grid of elements ([W][x] + [b]), or None
    where the form holds anything else (ones, functions, element-wise products)."""
    if isinstance(form, sp.MatrixSymbol):
        array = spec.arrays.get(form.name)
        if array is not None:
            return _grid(array.shape, lambda idx: element(array, idx))
        if form.name == grad_output_name(spec):
            base = sp.IndexedBase(form.name, real=True)
            return _grid(spec.output.shape, lambda idx: base[tuple(idx)])
        return None
    if isinstance(form, sp.Transpose):
        inner = _operands(spec, form.arg)
        return Transposed(inner) if isinstance(inner, Grid) else None
    if isinstance(form, (sp.MatMul, sp.MatAdd)):
        parts = [_operands(spec, a) for a in form.args]
        if any(p is None for p in parts):
            return None
        return Product(tuple(parts)) if isinstance(form, sp.MatMul) else Plus(tuple(parts))
    return None


def _sections(spec: LayerSpec, prefix: str) -> list:

    grads = gradients(spec)
    y = element(spec.output, spec.indices)
    form = forward_matrix(spec)  # proved equal to spec.expr
    loss_form = (form,) if spec.is_criterion and form is not None else ()
    forward_steps = [Step(y, (spec.expr,) + loss_form, relation="def")]
    if 1 <= len(spec.indices) <= 2:  # the whole output, as the tutorial writes it
        whole = [lambda idx: element(spec.output, idx)] if form is None else [form]
        operands = None if form is None else _operands(spec, form)
        if operands is not None and isinstance(operands, (Product, Plus)):
            whole.append(operands)
        forward_steps.append(_grid_step(spec, _bold(spec.output.name), spec.output.shape,
                                        whole + [lambda idx: definition(spec, idx)], "The whole output:"))
    integers = [a.name for a in spec.arrays.values() if a.integer]
    convention = (f"{', '.join(integers)} {'holds' if len(integers) == 1 else 'hold'} integers counted from 0, "
                  "as numpy and PyTorch count; the elements here count from 1, so a value v reads element "
                  "v + 1. Integers have no gradient. " if integers else "")
    forward = Section(prefix + "Forward pass",
                      convention + ("The output, element by element:" if spec.indices else "The loss:"),
                      forward_steps)
    sections = [forward]
    jac_steps, chain_steps = [], []
    for name, gr in grads.items():
        v = element(gr.variable, gr.indices)
        if spec.is_criterion:
            chain_steps.append(_proved_step(spec, sp.Derivative(LOSS, v),
                                            (sp.Derivative(spec.expr, v), gr.index_form)))
            if 1 <= len(gr.indices) <= 2:
                chain_steps.append(_gradient_grid(spec, gr))
            continue
        jac_steps.append(_proved_step(spec, sp.Derivative(y, v),
                                      (sp.Derivative(spec.expr, v), gr.jacobian)))
        if len(spec.indices) == 1 and len(gr.indices) == 1:  # vector by vector: the m x n table
            jac_steps.append(_jacobian_grid(spec, gr))
        elif len(spec.indices) == 1 and len(gr.indices) == 2:
            jac_steps.extend(_jacobian_slice(spec, gr))
        chain = (gr.chain, gr.index_form) + ((gr.output_form,) if gr.output_form is not None else ())
        chain_steps.append(_proved_step(spec, sp.Derivative(LOSS, v), chain))
        if 1 <= len(gr.indices) <= 2:
            chain_steps.append(_gradient_grid(spec, gr))
    if jac_steps:
        sections.append(Section(prefix + "Jacobians",
                                "Each output element by each element of the input and of every "
                                "parameter (numerator layout); a Kronecker delta marks the "
                                "non-zero pattern.", jac_steps))
    text = ("The gradient of the loss." if spec.is_criterion else
            r"Chain rule: $\partial J / \partial v = \sum \partial J / \partial y \; "
            r"\partial y / \partial v$ over every output element, the deltas summed away"
            + ("; where the forward's function reappears, it is read from the output, as "
               "Torch's backward does." if any(g.output_form is not None for g in grads.values()) else "."))
    notes = kinks(spec.expr)
    if notes:  # the subgradient taken where the layer has a kink, said where it is used
        text += " At a kink: " + "; ".join(notes) + "."
    sections.append(Section(prefix + ("Gradient" if spec.is_criterion else "Chain rule"), text, chain_steps))
    return sections


def _jacobian_grid(spec: LayerSpec, gr: Gradient) -> Step:
    """dy/dx as the tutorial's table of partial derivatives, their values, and its matrix form."""
    (i,), (k,) = spec.indices, gr.indices
    shape = spec.output.shape + gr.variable.shape
    v_of = lambda c: element(gr.variable, (c,))  # noqa: E731 - the variable's element c
    forms = [lambda idx: sp.Derivative(element(spec.output, idx[:1]), v_of(idx[1])),
             lambda idx: sp.Derivative(definition(spec, idx[:1]), v_of(idx[1])),
             lambda idx: gr.jacobian.xreplace({i: idx[0], k: idx[1]})]
    form = _jacobian_matrix(spec, gr.variable.name)
    if form is not None:
        forms.append(form)
    return _grid_step(spec, _frac(_bold(spec.output.name), _bold(gr.variable.name)), shape, forms,
                      "The whole Jacobian, as the tutorial writes it:")


@functools.lru_cache(maxsize=256)  # keyed by the spec itself, as _matrix_of
def _jacobian_matrix(spec: LayerSpec, name: str) -> sp.Expr | None:
    """dy/dv in matrix form (numerator layout: W, I, diag(v)) for a vector output and a vector
    v, proved equal to its index form; None where there is none."""
    gr = gradients(spec)[name]
    if spec.is_criterion or len(spec.indices) != 1 or len(gr.indices) != 1:
        return None
    axes = spec.indices + gr.indices
    sizes = dict(spec.ranges) | {gr.indices[0]: gr.variable.shape[0]}
    form = matrix_form(gr.jacobian, axes, {a.name: a.shape for a in spec.arrays.values()}, sizes)
    if form is None:
        return None
    try:
        prove(entry(form, axes), gr.jacobian, sizes, f"d{spec.output.name}/d{name} in matrix form")
    except (ProofError, TypeError, ValueError):  # sympy's matrix algebra may refuse the entry
        return None
    return form


def _jacobian_slice(spec: LayerSpec, gr: Gradient) -> list[Step]:
    """dy/dW of a vector output by a matrix whose rows each feed one output (dy_i/dw_jk =
    delta_ij f_k): its non-zero slice j = i, the m x n table the tutorial shows as dy/dW."""
    (i,), (j, k) = spec.indices, gr.indices
    deltas = [f for f in sp.Mul.make_args(gr.jacobian) if isinstance(f, sp.KroneckerDelta)]
    if len(deltas) != 1 or set(deltas[0].args) != {i, j} or gr.variable.shape[0] != spec.output.shape[0]:
        return []
    value = gr.jacobian.xreplace({deltas[0]: sp.Integer(1)}).xreplace({j: i})
    if value.has(j) or value == 0:
        return []
    name = gr.variable.name
    w_of = lambda idx: element(gr.variable, idx)  # noqa: E731 - the variable's element (i, k)
    forms = [lambda idx: sp.Derivative(element(spec.output, idx[:1]), w_of(idx)),
             lambda idx: sp.Derivative(definition(spec, idx[:1]), w_of(idx)),
             lambda idx: value.xreplace({i: idx[0], k: idx[1]})]
    shapes = {a.name: a.shape for a in spec.arrays.values()}
    form = matrix_form(value, (i, k), shapes, dict(spec.ranges) | {k: gr.variable.shape[1]})
    if form is not None:
        forms.append(form)
    jacobian = f"${_frac(_bold(spec.output.name), _bold(name))}$"
    text = (f"{jacobian} has three indices: its only non-zero entries have ${j} = {i}$. That slice is "
            f"the table the tutorial shows as {jacobian} (every other entry is 0):")
    step = _grid_step(spec, "", gr.variable.shape, forms, text)
    return [Step(step.chain[0], step.chain[1:], text)]


def _gradient_grid(spec: LayerSpec, gr: Gradient) -> Step:
    """dJ/dv entry by entry, then in matrix form where one exists (W^T g, g x^T, G^T X)."""
    forms = [lambda idx: sp.Derivative(LOSS, element(gr.variable, idx)),
             lambda idx: gr.chain.xreplace(dict(zip(gr.indices, idx))) if not spec.is_criterion
             else sp.Derivative(spec.expr, element(gr.variable, idx))]
    if len(spec.indices) == 1 and len(gr.indices) == 1 and not spec.is_criterion:
        # the tutorial's (dy/dx)^T dJ/dy: the Jacobian's table transposed, times g
        y, g = spec.output, sp.IndexedBase(grad_output_name(spec), real=True)
        table = Grid(spec.output.shape + gr.variable.shape,
                     lambda r, c: sp.Derivative(element(y, (r,)), element(gr.variable, (c,))))
        forms.append(Product((Transposed(table), _grid(y.shape, lambda idx: g[idx]))))
    forms.append(lambda idx: gr.final.xreplace(dict(zip(gr.indices, idx))))
    form = matrix_of(spec, gr)
    if form is not None:
        operands = _operands(spec, form)
        if isinstance(operands, Product) and not isinstance(forms[2], Product):
            forms.append(operands)  # g x^T as the tutorial multiplies it: [g][x]^T
        forms.append(form)
    return _grid_step(spec, _frac("J", _bold(gr.variable.name)), gr.variable.shape, forms,
                      "Every entry, then the whole array" + (" in matrix form ($\\odot$: element-wise "
                      "product, $\\mathbf{1}$: ones):" if form is not None else ":"), chain_rule=True)


def _results(spec: LayerSpec) -> dict:
    """The Jacobians dy/dv (matrix form where there is one, else the index form; not for a
    criterion) and the gradients dJ/dv (likewise), by name."""
    out = {}
    y = spec.output
    for name, gr in ({} if spec.is_criterion else gradients(spec)).items():
        form = _jacobian_matrix(spec, name)
        out[f"d{y.name}/d{name}"] = Result(_frac(_bold(y.name), _bold(name)),
                                           form if form is not None else gr.jacobian, y.shape + gr.variable.shape)
    for name, gr in gradients(spec).items():
        form = matrix_of(spec, gr)
        out[f"dJ/d{name}"] = Result(_frac("J", _bold(name)), form if form is not None else gr.final,
                                    gr.variable.shape)
    return out


@functools.lru_cache(maxsize=256)  # keyed by the spec itself, as _matrix_of
def forward_matrix(spec: LayerSpec) -> sp.Expr | None:
    """The output in matrix form (W x + b, X W^T + 1 b^T, sigma(x), a criterion's 1^T (x - t)^2 / n),
    proved equal to its element; None where there is none (three or more indices, ...)."""
    if len(spec.indices) > 2:
        return None
    shapes = {a.name: a.shape for a in spec.arrays.values()}
    form = matrix_form(spec.expr, spec.indices, shapes, dict(spec.ranges))
    if form is not None:
        try:
            prove(entry(form, spec.indices), spec.expr, dict(spec.ranges), "the forward pass in matrix form")
        except (ProofError, TypeError, ValueError):  # sympy's matrix algebra may refuse the entry
            return None  # a form the prover cannot settle is not shown (as for the gradients)
    return form


def matrix_of(spec: LayerSpec, gr: Gradient) -> sp.Expr | None:
    """The gradient in matrix form (W^T g, g x^T, G^T X, ...), proved equal to its index
    form entry by entry at a generic index; None where there is none (three or more
    indices, affine indices)."""
    return _matrix_of(spec, gr.variable.name)


@functools.lru_cache(maxsize=256)  # keyed by the spec itself (by identity), never by a reusable id()
def _matrix_of(spec: LayerSpec, name: str) -> sp.Expr | None:
    gr = gradients(spec)[name]
    shapes = {a.name: a.shape for a in spec.arrays.values()}
    shapes[grad_output_name(spec)] = spec.output.shape
    sizes = dict(spec.ranges)
    sizes.update(zip(gr.indices, gr.variable.shape))
    form = matrix_form(gr.final, gr.indices, shapes, sizes)
    if form is None:
        return None
    try:
        prove(entry(form, gr.indices), gr.final, sizes, f"dJ/d{gr.variable.name} in matrix form")
    except (ProofError, TypeError, ValueError):  # sympy's matrix algebra may refuse the entry
        return None  # a form the prover cannot settle is not shown
    return form


def _module_calls(spec: LayerSpec) -> Section:
    """What the tutorial's three calls do with the gradients: zeroGradParameters, backward
    (updateGradInput + accGradParameters, which adds scale times each gradient) and
    updateParameters(learningRate)."""
    params = spec.parameters
    if not params:
        return Section("Module calls", "The layer has no parameters: `backward` is `updateGradInput` alone, "
                       f"which computes ${_frac('J', _bold(spec.input.name))}$.")
    delta = {p.name: rf"\Delta_{{{_bold(p.name)}}}" for p in params}
    zero = "First, `zeroGradParameters` clears the accumulated gradients:"
    add = (f"Then `backward` = `updateGradInput` (which computes ${_frac('J', _bold(spec.input.name))}$) "
           "+ `accGradParameters`, which adds $\\mathrm{scale}$ times the gradients ($\\mathrm{scale}$ "
           "is `backward`'s third argument, 1 unless given):")
    step = ("Last, `updateParameters(learningRate)` takes a step of gradient descent, $\\eta$ being "
            "the learning rate:")
    steps = [Step(Named(delta[p.name], None), (Named("0", None),), zero, "<-") for p in params]
    steps += [Step(Named(delta[p.name], None), (Named(rf"{delta[p.name]} + \mathrm{{scale}} "
                                                      rf"{_frac('J', _bold(p.name))}", None),), add, "<-")
              for p in params]
    steps += [Step(Named(_bold(p.name), None), (Named(rf"{_bold(p.name)} - \eta {delta[p.name]}", None),),
                   step, "<-") for p in params]
    return Section("Module calls", "What the three calls of the tutorial do with these gradients "
                   "($\\Delta$ is a parameter's accumulated gradient).", steps)

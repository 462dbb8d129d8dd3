"""The element-wise check at concrete sizes: every entry, by brute expansion.

Independent of the index-level proofs: the layer is expanded element by element, sympy
extracts each Jacobian from the expanded outputs (``linear_eq_to_matrix``: the Jacobian
of a map that is linear in the variables is its coefficient matrix), the chain rule
sum_o dJ/do do/dv is formed entry by entry, and each matrix-form result, expanded with
``as_explicit``, is compared with it.  Cost grows with the layer, so this is for tests,
benchmarks and moderate sizes, not for display.
"""

from __future__ import annotations

import functools
from collections import defaultdict

import sympy as sp

from .derivation import ProofError
from .linear import B, LinearSpec, jacobian_bias, jacobian_input, m, n

_VARIABLES = (("input", "gradInput"), ("weight", "gradWeight"), ("bias", "gradBias"))


def check_elements(n_in: int, n_out: int, *, batch: int | None = None,
                   bias: bool = True) -> dict[str, int]:
    """Prove every element of every result of ``nn.Linear(n_in -> n_out)`` at these sizes.

    Returns the number of entries proved for each result; raises ProofError on the first
    entry that differs.
    """
    spec = LinearSpec(bias=bias, batch=batch is not None)
    sizes = {n: n_in, m: n_out, B: batch or 1}
    outputs = list(_explicit(spec.forward, sizes))
    grad_outputs = list(_explicit(spec.grad_output, sizes))
    results = spec.results()
    variables = {"input": spec.input, "weight": spec.W, "bias": spec.b}
    proved: dict[str, int] = {}
    for variable, result in _VARIABLES:
        if result not in results:
            continue
        entries = list(_explicit(variables[variable], sizes))
        jacobian, _ = sp.linear_eq_to_matrix(outputs, entries)
        terms = defaultdict(list)
        for (o, v), partial in jacobian.todok().items():
            terms[v].append(grad_outputs[o] * partial)
        chain = [sp.Add(*terms[v]) for v in range(len(entries))]
        expected = list(_explicit(results[result], sizes))
        for v, value in enumerate(expected):
            if chain[v] != value and sp.expand(chain[v] - value) != 0:
                raise ProofError(f"{result}[{v}]: chain rule gives {chain[v]}, "
                                 f"matrix form gives {value}")
        proved[result] = len(expected)
        if not spec.batch and variable in ("input", "bias"):
            closed = jacobian_input(spec) if variable == "input" else jacobian_bias(spec)
            name = "dy/dx" if variable == "input" else "dy/db"
            if jacobian != _explicit(closed, sizes):
                raise ProofError(f"{name}: expanded Jacobian differs from {closed}")
            proved[name] = len(jacobian)
    return proved


def _explicit(expr: sp.MatrixExpr, sizes: dict) -> sp.ImmutableMatrix:
    """The matrix expression at concrete sizes as an explicit matrix of elements.

    Each matrix symbol becomes the matrix of its elements and the products are then
    carried out by explicit matrix arithmetic (sympy's ``as_explicit`` on a product builds
    and evaluates a symbolic sum per entry, which is far slower).
    """
    return _evaluate(expr.subs(sizes))


def _evaluate(expr: sp.MatrixExpr) -> sp.ImmutableMatrix:
    if isinstance(expr, (sp.MatrixSymbol, sp.OneMatrix, sp.Identity, sp.ZeroMatrix)):
        return _elements(expr)
    if isinstance(expr, sp.Transpose):
        return _evaluate(expr.arg).T
    if isinstance(expr, sp.MatAdd):
        first, *rest = (_evaluate(a) for a in expr.args)
        return sp.ImmutableMatrix(first.shape[0], first.shape[1],
                                  lambda r, c: sp.Add(first[r, c], *(t[r, c] for t in rest)))
    if isinstance(expr, sp.MatMul):
        scalar = sp.Mul(*(a for a in expr.args if not a.is_Matrix))
        factors = [_evaluate(a) for a in expr.args if a.is_Matrix]
        value = factors[0]
        for right in factors[1:]:
            value = _product(value, right)
        return value if scalar == 1 else value.applyfunc(lambda e: scalar * e)
    raise TypeError(f"no explicit form for {type(expr).__name__}")


@functools.lru_cache(maxsize=64)
def _elements(expr: sp.MatrixExpr) -> sp.ImmutableMatrix:
    # Plain symbols named like the elements (W[0,1]): sympy builds and compares them far
    # faster than MatrixElement objects, and each matrix is needed several times.
    if isinstance(expr, sp.MatrixSymbol):
        rows, cols = (int(d) for d in expr.shape)
        return sp.ImmutableMatrix(rows, cols,
                                  lambda r, c: sp.Symbol(f"{expr.name}[{r},{c}]"))
    return sp.ImmutableMatrix(expr.as_explicit())


def _product(a: sp.ImmutableMatrix, b: sp.ImmutableMatrix) -> sp.ImmutableMatrix:
    # One Add per entry: summing term by term re-sorts the growing sum each time.
    inner = range(a.shape[1])
    return sp.ImmutableMatrix(a.shape[0], b.shape[1],
                              lambda r, c: sp.Add(*(a[r, k] * b[k, c] for k in inner)))

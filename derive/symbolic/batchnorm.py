"""nn.BatchNormalization in training on the layer engine, and the compact backward
(CS231n's dx = (1/N) gamma invstd (N g - sum g - xhat sum(g xhat))) proved equal to
the engine's result at a symbolic batch size N.

The layer's one "sample" is the whole batch x (N, nOutput): the statistics couple the
samples, so the engine differentiates through the means over the batch axis n.
"""

from __future__ import annotations

import functools

import sympy as sp

from derive.arguments import check_int

from .calculus import equal
from .derivation import Derivation, ProofError, Section, Step

#: y[n, i]: sample n, feature i; the mean and the biased variance run over the batch.
BATCHNORM = ("y[n,i] = gamma[i] * (x[n,i] - mean(x[m,i], m)) / "
             "sqrt(mean((x[m,i] - mean(x[k,i], k))**2, m) + {eps}) + beta[i]")


def batchnorm(nOutput: int, batch: int, eps: float = 1e-5) -> Derivation:
    """The engine's derivation of nn.BatchNormalization(nOutput) in training on a batch of
    ``batch`` samples, with the compact forms of dJ/dx and dJ/dgamma proved equal to its results."""

    nOutput, batch = check_int("batchnorm", "nOutput", nOutput, 1), check_int("batchnorm", "batch", batch, 2)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < float("inf"):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    from dataclasses import replace

    from .language import constant, parse
    from .layer import derivation as derive

    spec = parse(BATCHNORM.format(eps=repr(float(eps))), {"x": (batch, nOutput)})
    # eps as a float, the one in the expression (the compact forms and kernels find it by its type)
    spec = replace(spec, expr=spec.expr.xreplace({constant(float(eps)): sp.Float(float(eps), 15)}))
    derivation = derive(spec)
    derivation.title = f"nn.BatchNormalization({nOutput}) in training, batch of {batch}"
    loss = sp.Symbol("J")
    steps = [Step(sp.Derivative(loss, _element(derivation, "dJ/dx", name)), (engine, compact))
             for name, (engine, compact) in compact_forms(derivation).items()]
    section = Section("Compact form", "With the batch mean, the biased variance and "
                      r"$\hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}$, each result above equals "
                      "the compact form Torch's kernel computes (proved at every batch size):", steps)
    derivation.sections.insert(len(derivation.sections) - 1, section)  # before the module calls
    return derivation


def _element(derivation: Derivation, key: str, name: str) -> sp.Expr:
    """The element of the input or parameter ``name`` that the result of ``dJ/d<name>`` is indexed by."""
    expr = derivation.results[f"dJ/d{name}"].expr
    bases = {str(b): b for b in expr.atoms(sp.IndexedBase)}
    free = sorted((s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.is_integer
                   and not s.name.startswith("N_")), key=lambda s: s.name)
    return bases.get(name, sp.IndexedBase(name, real=True))[tuple(free)]


def compact_forms(derivation: Derivation) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """{"x": (the engine's dJ/dx, the compact form), "gamma": (...)}, each pair proved equal at
    symbolic N; raises ProofError if one is not."""
    dx, dgamma = derivation.results["dJ/dx"].expr, derivation.results["dJ/dgamma"].expr
    bases = {str(b): b for b in dx.atoms(sp.IndexedBase)}
    x, g, gamma = bases["x"], bases["g"], bases["gamma"]
    size = next(s for s in dx.free_symbols if isinstance(s, sp.Symbol) and s.name.startswith("N_"))
    eps = next(iter(dx.atoms(sp.Float)))
    j, l = _element(derivation, "dJ/dx", "x").indices
    m, k = (sp.Symbol(name, integer=True, positive=True) for name in ("m", "k"))

    def statistics(feature):
        mean = sp.Sum(x[m, feature], (m, 1, size)) / size
        variance = sp.Sum((x[m, feature] - sp.Sum(x[k, feature], (k, 1, size)) / size) ** 2, (m, 1, size)) / size
        return 1 / sp.sqrt(variance + eps), lambda s: (x[s, feature] - mean) / sp.sqrt(variance + eps)

    (feature,) = _element(derivation, "dJ/dgamma", "gamma").indices
    forms = {"x": (dx, _compact(g, gamma, size, l, j, *statistics(l))),
             "gamma": (dgamma, _compact(g, gamma, size, feature, None, *statistics(feature)))}
    for name, (engine, form) in forms.items():
        if not equal(engine, form):
            raise ProofError(f"dJ/d{name}: the compact form is not the engine's {engine}")
    return forms


def _compact(g, gamma, size, feature, sample, invstd, xhat) -> sp.Expr:
    """dJ/dgamma[feature] = sum_n g[n] xhat[n], or (sample given) dJ/dx[sample, feature] =
    gamma invstd / N (N g[sample] - sum_n g[n] - xhat[sample] sum_n g[n] xhat[n])."""
    n = sp.Symbol("n", integer=True, positive=True)
    sum_g_xhat = sp.Sum(g[n, feature] * xhat(n), (n, 1, size))
    if sample is None:
        return sum_g_xhat
    return gamma[feature] * invstd / size * (size * g[sample, feature] - sp.Sum(g[n, feature], (n, 1, size))
                                             - xhat(sample) * sum_g_xhat)


def compact_latex(derivation: Derivation) -> dict[str, tuple[str, str]]:
    """{"x": (the engine's dJ/dx, the compact form), "gamma": ...} as LaTeX for a page: the
    means written mu, the variances sigma^2, eps a symbol, the compact form with xhat; the
    compact forms are those ``compact_forms`` proves."""
    forms = compact_forms(derivation)
    engine_dx, _ = forms["x"]
    bases = {str(b): b for b in engine_dx.atoms(sp.IndexedBase)}
    g, gamma = bases["g"], bases["gamma"]
    size = next(s for s in engine_dx.free_symbols if isinstance(s, sp.Symbol) and s.name.startswith("N_"))
    shown = sp.Symbol("N", integer=True, positive=True)
    mu, variance, hat = (sp.IndexedBase(name) for name in (r"\mu", r"\sigma^{2}", r"\hat{x}"))
    epsilon = sp.Symbol(r"\epsilon", positive=True)
    out = {}
    for name, (engine, _) in forms.items():
        if name == "x":
            j, l = _element(derivation, "dJ/dx", "x").indices
            sample, feature = j, l
        else:
            sample, (feature,) = None, _element(derivation, "dJ/dgamma", "gamma").indices
        invstd = 1 / sp.sqrt(variance[feature] + epsilon)
        form = _compact(g, gamma, size, feature, sample, invstd, lambda s: hat[s, feature])
        out[name] = tuple(sp.latex(e.xreplace({size: shown})) for e in (abbreviated(engine), form))
    return out


def abbreviated(expr: sp.Expr) -> sp.Expr:
    """``expr`` with each batch mean written mu_i, each biased variance sigma_i^2 and eps as a
    symbol: the results as a page shows them (display only; the proofs use the sums)."""
    size = next((s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.name.startswith("N_")), None)
    if size is None:
        return expr

    def is_mean(e):
        return (isinstance(e, sp.Sum) and len(e.limits) == 1 and isinstance(e.function, sp.Indexed)
                and str(e.function.base) == "x" and e.function.indices[0] == e.limits[0][0])

    def mean(e):
        return size * sp.Indexed(sp.IndexedBase(r"\mu"), e.function.indices[1])

    expr = expr.replace(is_mean, mean)

    def is_variance(e):
        if not (isinstance(e, sp.Sum) and len(e.limits) == 1 and isinstance(e.function, sp.Pow)
                and e.function.exp == 2):
            return False
        return any(isinstance(a, sp.Indexed) and str(a.base) == r"\mu" for a in e.function.atoms(sp.Indexed))

    def variance(e):
        mu = next(a for a in e.function.atoms(sp.Indexed) if str(a.base) == r"\mu")
        return size * sp.Indexed(sp.IndexedBase(r"\sigma^{2}"), mu.indices[0])

    expr = expr.replace(is_variance, variance)
    return expr.xreplace({f: sp.Symbol(r"\epsilon", positive=True) for f in expr.atoms(sp.Float)})


#: One feature's values in the kernels' forms: u = x - mean (one element of the centred
#: input), g (of gradOutput), the parameters, the statistics and the batch size N.
U, G, GAMMA, BETA, MEAN, VAR, INVSTD, EPS, N = sp.symbols("u g gamma beta mean var invstd eps N", real=True)


class BatchSum(sp.Function):
    """The sum over the batch of an element-wise expression: one number a feature."""


@functools.cache
def kernel_forms() -> dict[str, sp.Expr]:
    """The engine's results for BATCHNORM in the kernels' names, one element (sample n, feature i):
    {"mean", "var": the statistics as the spec defines them, "invstd": 1/sqrt(var + eps),
    "output": y, "gradInput": the compact dJ/dx (proved equal to the engine's), "gradWeight":
    dJ/dgamma (the same), "gradBias": dJ/dbeta}.

    Read off the engine's expressions by naming their parts, nothing recomputed: each batch mean
    of x is ``mean``, each biased variance ``var``, (var + eps)**(-1/2) ``invstd``, x - mean ``u``
    and a sum over the batch ``BatchSum`` of its element-wise factor times its per-feature ones."""
    derivation = batchnorm(1, 2)
    (forward,) = [s for s in derivation.sections[0].steps if isinstance(s.lhs, sp.Indexed)]
    forms = compact_forms(derivation)
    dbeta = derivation.results["dJ/dbeta"].expr
    if not (isinstance(dbeta, sp.MatMul) and dbeta.args[0] == sp.MatrixSymbol("g", *dbeta.args[0].shape[::-1]).T
            and isinstance(dbeta.args[1], sp.OneMatrix)):
        raise ProofError(f"dJ/dbeta is {dbeta}, not the sum of g over the batch")
    output = forward.chain[-1]
    size = next(s for s in output.free_symbols if s.name.startswith("N_"))
    variances = [s for s in output.atoms(sp.Sum) if s.function.is_Pow]
    if len(variances) != 1 or _named(variances[0].function, size) != U**2 or variances[0].limits[0][1:] != (1, size):
        raise ProofError(f"the forward {output} does not divide by the mean of (x - mean)**2")
    return {"mean": BatchSum(sp.Symbol("x", real=True)) / N, "var": BatchSum(U**2) / N,
            "invstd": 1 / sp.sqrt(VAR + EPS), "output": _named(output, size),
            "gradInput": _named(forms["x"][1], size), "gradWeight": _named(forms["gamma"][1], size),
            "gradBias": BatchSum(G)}


def _named(expr: sp.Expr, size: sp.Symbol) -> sp.Expr:
    """``expr`` (the engine's, feature index free) with its parts named as in ``kernel_forms``."""
    def is_mean(e):
        return (isinstance(e, sp.Sum) and len(e.limits) == 1 and isinstance(e.function, sp.Indexed)
                and str(e.function.base) == "x" and e.function.indices[0] == e.limits[0][0])

    expr = expr.replace(is_mean, lambda e: size * MEAN)
    expr = expr.replace(lambda e: isinstance(e, sp.Sum) and e.function.is_Pow and e.function.exp == 2
                        and e.function.has(MEAN), lambda e: size * VAR)
    expr = expr.xreplace({f: EPS for f in expr.atoms(sp.Float)})
    expr = expr.replace(lambda e: e.is_Pow and e.base == VAR + EPS, lambda e: INVSTD ** (-2 * e.exp))
    if expr.has(VAR):
        raise ProofError(f"{expr}: the variance is not only under 1/sqrt(var + eps)")
    elements = {"x": U + MEAN, "g": G, "gamma": GAMMA, "beta": BETA}
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed), lambda e: elements[str(e.base)])

    def batch_sum(e):
        per_feature, elementwise = sp.factor_terms(e.function).as_independent(U, G, as_Add=False)
        return per_feature * BatchSum(elementwise)
    expr = expr.replace(lambda e: isinstance(e, sp.Sum), batch_sum)
    named = expr.xreplace({size: N})
    if named.has(sp.Indexed, sp.Sum):
        raise ProofError(f"{named}: not every part of the engine's expression has a kernel's name")
    return named

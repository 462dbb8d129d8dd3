"""SoftMax, LogSoftMax, ClassNLLCriterion and CrossEntropyCriterion as one-expression specs
on the layer engine (``derive.layer``), derived and proved at the index level.

The criteria's target is written as a one-hot vector t (any distribution over the
classes, in general): derive.nn's criteria take the class index instead, the position
of t's 1. A batch averages the samples' losses, Torch's sizeAverage without weights.
"""

from __future__ import annotations

import sympy as sp

from .calculus import equal
from .derivation import Derivation, ProofError, Section, Step
from .language import parse
from .layer import BATCH, LOSS, batch_spec, element, gradients, prove

#: name -> (the expression, the target's name or None).
CLASSIFICATION_SPECS = {
    "softmax": ("y = exp(x) / sum(exp(x))", None),
    "logsoftmax": ("y = x - log(sum(exp(x)))", None),
    "nll": ("J = -sum(t * x)", "t"),
    "crossentropy": ("J = -sum(t * (x - log(sum(exp(x)))))", "t"),
}


def classification(name: str, n: int, batch: int | None = None) -> Derivation:
    """The engine's proved derivation of ``name`` (a key of CLASSIFICATION_SPECS) on n classes;
    cross-entropy's ends with its gradient as softmax minus the one-hot target."""
    from derive import layer

    if name not in CLASSIFICATION_SPECS:
        raise ValueError(f"classification: name must be one of {', '.join(CLASSIFICATION_SPECS)}, got {name!r}")
    expr, target = CLASSIFICATION_SPECS[name]
    derivation = layer(expr, {"x": (n,)}, target=target, batch=batch)
    if name == "crossentropy":
        steps = softmax_minus_target(n) + (softmax_minus_target(n, batch=True) if batch is not None else [])
        derivation.sections.insert(-1, Section(
            "Softmax minus one-hot",
            "The module's target is one class a sample. Hypothesis: $t$ is one-hot, "
            r"$\sum_j t_j = 1$ (in a batch, in every row).", steps))
    return derivation


def softmax_minus_target(n: int, batch: bool = False, one_hot: sp.Expr | None = None) -> list[Step]:
    """Cross-entropy's gradient as softmax(x)_k - t_k (divided by B in a batch), under the
    hypothesis that t is one-hot (sum_j t_j = 1), as two proved steps.

    For any t, the engine's gradient is ``one_hot + (sum_j t_j - 1) softmax(x)_k`` (proved at
    the index level, every size); with sum_j t_j = 1 put in, the last term is 0 and what is
    left is ``one_hot`` (proved too).  ``one_hot`` defaults to softmax(x)_k - t_k (over B);
    another form raises ProofError.
    """
    expr, target = CLASSIFICATION_SPECS["crossentropy"]
    spec = parse(expr, {"x": (n,)}, target=target)
    softmax_spec = parse(CLASSIFICATION_SPECS["softmax"][0], {"x": (n,)})
    if batch:
        spec, softmax_spec = batch_spec(spec), batch_spec(softmax_spec)
    gradient = gradients(spec)[spec.input.name]
    k = gradient.indices
    softmax = softmax_spec.expr.xreplace(dict(zip(softmax_spec.indices, k)))
    (size,) = spec.sizes
    j = sp.Symbol("j", integer=True, positive=True)
    total = sp.Sum(element(spec.target, k[:-1] + (j,)), (j, 1, size))
    scale = 1 / BATCH if batch else sp.Integer(1)
    if one_hot is None:
        one_hot = scale * (softmax - element(spec.target, k))
    rest = scale * (total - 1) * softmax
    split = sp.Add(one_hot, rest, evaluate=False)
    ranges = dict(zip(k, spec.input.shape))
    prove(gradient.final, split, ranges, "cross-entropy's gradient as softmax minus the target")
    prove(split.xreplace({total: 1}), one_hot, ranges, "cross-entropy's gradient for a one-hot target")
    lhs = sp.Derivative(LOSS, element(spec.input, k))
    t, row = (spec.target.name, f"{k[0]}j") if batch else (spec.target.name, "j")
    where = "In a batch, for" if batch else "For"
    return [Step(lhs, (gradient.final, split), f"{where} any ${t}$, the engine's gradient is softmax minus "
                 f"the target plus a term in $\\sum_j {t}_{{{row}}} - 1$:"),
            Step(lhs, (one_hot,), f"Hypothesis $\\sum_j {t}_{{{row}}} = 1$ (one-hot): that term is 0, and the "
                 "gradient is softmax minus one-hot" + (", over the batch size $B$:" if batch else ":"))]


def index_gradient(derivation: Derivation) -> sp.Expr:
    """dJ/dx in index form, element by element (the last form of the derivation's step
    dJ/dx[.] = ...; the results hold the array form where the engine found one)."""
    for step in derivation.steps:
        lhs = step.lhs
        if (isinstance(lhs, sp.Derivative) and lhs.expr == sp.Symbol("J")
                and isinstance(lhs.variables[0], sp.Indexed) and lhs.variables[0].base.label.name == "x"):
            return step.chain[-1]
    raise ValueError("index_gradient: the derivation has no step dJ/dx[.] = ...")


def crossentropy_chain(n: int) -> list[sp.Expr]:
    """dJ/dx_k of cross-entropy, each form proved equal to the next (ProofError if not):

    LogSoftMax's gradient g_k - exp(y_k) sum_i g_i; with g = ClassNLLCriterion's
    gradient -t put in; with y = x - log(sum_j exp(x_j)) put in; the last form is the
    engine's gradient of CrossEntropyCriterion's own expression (added when sympy did not
    already write the one before it the same way).
    """
    logsoftmax = index_gradient(classification("logsoftmax", n))
    nll = index_gradient(classification("nll", n))
    crossentropy = index_gradient(classification("crossentropy", n))
    (nllIndex,) = next(iter(nll.atoms(sp.Indexed))).indices
    x = next(a.base for a in crossentropy.atoms(sp.Indexed) if a.base.label.name == "x")
    size = next(s for s in crossentropy.free_symbols if isinstance(s, sp.Symbol) and s.name == "n")
    j = sp.Symbol("j", integer=True, positive=True)

    def put_in(element: sp.Indexed, what: str) -> sp.Expr:
        (index,) = element.indices
        if what == "g":
            return nll.xreplace({nllIndex: index})
        return x[index] - sp.log(sp.Sum(sp.exp(x[j]), (j, 1, size)))

    def is_(what):
        return lambda e: isinstance(e, sp.Indexed) and e.base.label.name == what

    with_g = logsoftmax.replace(is_("g"), lambda e: put_in(e, "g"))
    # sum_i (-t_i) written -sum_i t_i
    with_g = with_g.replace(lambda e: isinstance(e, sp.Sum) and e.function.could_extract_minus_sign(),
                            lambda e: -sp.Sum(-e.function, *e.limits))
    with_y = with_g.replace(is_("y"), lambda e: put_in(e, "y"))
    if not (equal(logsoftmax.replace(is_("g"), lambda e: put_in(e, "g")), with_g) and equal(with_y, crossentropy)):
        raise ProofError("chaining LogSoftMax and ClassNLLCriterion does not give CrossEntropyCriterion's gradient")
    forms = [logsoftmax, with_g, with_y]
    return forms if with_y == crossentropy else forms + [crossentropy]


def jacobian_in_the_output(name: str, n: int) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(dy_i/dx_k as the engine derives it, the same written with the output y, the output's
    definition y_i): SoftMax's s_i (delta_ik - s_k), LogSoftMax's delta_ik - exp(y_k).

    Proved equal by putting the definition in for y (ProofError if not).
    """
    if name not in ("softmax", "logsoftmax"):
        raise ValueError(f"jacobian_in_the_output: name must be softmax or logsoftmax, got {name!r}")
    derivation = classification(name, n)
    # the element forms: y[i] = ..., dy[i]/dx[k] = ... (the sections also show whole arrays)
    forward = next(step for step in derivation.sections[0].steps if isinstance(step.lhs, sp.Indexed))
    jacobian = next(step for step in derivation.sections[1].steps if isinstance(step.lhs, sp.Derivative))
    engine = jacobian.chain[-1]
    definition = forward.chain[-1]
    symbols = {s.name: s for s in engine.free_symbols if isinstance(s, sp.Symbol)}
    i, k = symbols["i"], symbols["k"]
    (y_i,) = [a for a in forward.lhs.atoms(sp.Indexed)]
    y = y_i.base
    if name == "softmax":
        in_output = y[i] * (sp.KroneckerDelta(i, k) - y[k])
    else:
        in_output = sp.KroneckerDelta(i, k) - sp.exp(y[k])
    defined = in_output.replace(lambda e: isinstance(e, sp.Indexed) and e.base == y,
                                lambda e: definition.xreplace({i: e.indices[0]}))
    if not equal(engine, defined):
        raise ProofError(f"{name}: the Jacobian in the output is not the engine's")
    return engine, in_output, definition

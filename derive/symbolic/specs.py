"""Torch's modules as one-expression specs on the layer engine, and the results the
kernels of ``derive.nn`` are compiled from (``derive compile``)."""

from __future__ import annotations

import functools

import sympy as sp

from .functions import relu, sigmoid, step
from .language import LayerSpec, parse
from .layer import batch_spec, gradients, matrix_of
from .matrix_form import matrix_form

LINEAR = "y = W @ x + b"
LINEAR_NO_BIAS = "y = W @ x"
#: Torch's MSECriterion: the mean of the squares over every element (sizeAverage), else their sum.
MSE_SPECS = {True: "J = mean((x - t)**2)", False: "J = sum((x - t)**2)"}
#: Torch's activations by the name derive's CLI gives them.
ACTIVATION_SPECS = {"sigmoid": "y = sigmoid(x)", "tanh": "y = tanh(x)", "relu": "y = relu(x)"}

# Any sizes: the engine's results are size-free (these only name the arrays' ranks).
_LINEAR_SHAPES = {"x": (2,), "W": (3, 2)}


@functools.cache
def linear_results(bias: bool, batch: bool) -> dict[str, sp.Expr]:
    """output, gradInput, gradWeight (and gradBias) of nn.Linear in matrix form, from the engine.

    Each gradient is proved equal to its index form by the engine (``matrix_of``); the
    forward's matrix form is read from the output's element the same way.
    """
    spec = parse(LINEAR if bias else LINEAR_NO_BIAS, _LINEAR_SHAPES)
    if batch:
        spec = batch_spec(spec)
    grads = gradients(spec)
    out = {"output": _forward_matrix(spec),
           "gradInput": matrix_of(spec, grads[spec.input.name]),
           "gradWeight": matrix_of(spec, grads["W"])}
    if bias:
        out["gradBias"] = matrix_of(spec, grads["b"])
    if any(v is None for v in out.values()):
        raise AssertionError(f"nn.Linear has no matrix form for {[k for k, v in out.items() if v is None]}")
    return out


def _forward_matrix(spec: LayerSpec) -> sp.Expr:
    from .layer import prove
    from .matrix_form import entry

    shapes = {a.name: a.shape for a in spec.arrays.values()}
    form = matrix_form(spec.expr, spec.indices, shapes, dict(spec.ranges))
    prove(entry(form, spec.indices), spec.expr, dict(spec.ranges), "the forward pass in matrix form")
    return form


#: What the element-wise kernels call their arrays.
INPUT, OUTPUT, GRAD_OUTPUT = sp.symbols("input output grad_output", real=True)


@functools.cache
def activation_results(name: str) -> tuple[sp.Expr, sp.Expr, str]:
    """(output, gradInput, what gradInput reads: "output" or "input") of an activation, from the
    engine, element-wise in the kernels' array names, with sigmoid, relu and relu's step
    written out (1 / (1 + exp(-x)), x where x > 0, [x > 0]) for the element-wise printer."""
    spec = parse(ACTIVATION_SPECS[name], {"x": (3,)})
    gradient = gradients(spec)["x"]
    names = {sp.IndexedBase("x", real=True): INPUT, sp.IndexedBase("y", real=True): OUTPUT,
             sp.IndexedBase("g", real=True): GRAD_OUTPUT}

    def arrays(expr: sp.Expr) -> sp.Expr:
        expr = expr.replace(lambda e: isinstance(e, sp.Indexed), lambda e: names[e.base])
        return expr.replace(lambda e: isinstance(e, (sigmoid, relu, step)),
                            lambda e: e.func.definition(e.args[0]))
    reads = "output" if gradient.output_form is not None else "input"
    return arrays(spec.expr), arrays(gradient.final), reads


@functools.cache
def mse_results(size_average: bool) -> tuple[sp.Expr, sp.Expr, tuple[sp.Symbol, ...]]:
    """(loss, dJ/dx[j], (j,)) of MSECriterion from the engine, for its one-expression spec;
    n, the number of elements, is the input's whole size (Torch averages over the batch too)."""
    spec = parse(MSE_SPECS[size_average], {"x": (3,)}, target="t")
    gradient = gradients(spec)[spec.input.name]
    return spec.expr, gradient.final, gradient.indices

"""Torch's modules as one-expression specs on the layer engine: their derivations (what
``derive linear``, ``derive sigmoid``, ``derive mse`` and ``derive sequential`` show) and the
results the kernels of ``derive.nn`` are compiled from (``derive compile``)."""

from __future__ import annotations

import dataclasses
import functools

import sympy as sp

from derive.arguments import check_int

from .derivation import Derivation
from .functions import relu, sigmoid, step
from .language import parse
from .layer import batch_spec, derivation, forward_matrix, gradients, matrix_of

LINEAR = "y = W @ x + b"
LINEAR_NO_BIAS = "y = W @ x"
#: Torch's MSECriterion: the mean of the squares over every element (sizeAverage), else their sum.
MSE_SPECS = {True: "J = mean((x - t)**2)", False: "J = sum((x - t)**2)"}
#: Torch's activations by the name derive's CLI gives them, and Torch's class names.
ACTIVATION_SPECS = {"sigmoid": "y = sigmoid(x)", "tanh": "y = tanh(x)", "relu": "y = relu(x)"}
TORCH_NAMES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}


def mse_expression(size_average: bool = True, batch: bool = False) -> str:
    """MSECriterion as one expression: the mean of the squares with Torch's sizeAverage, else
    their sum; a batch is the (batch, n) input X with target T."""
    reduce = "mean" if size_average else "sum"
    if batch:  # index notation: the batch's sizes get names of their own (N_s, N_i)
        return f"J = {reduce}((X[s,i] - T[s,i])**2, s, i)"
    return MSE_SPECS[size_average]


def _titled(d: Derivation, title: str) -> Derivation:
    return dataclasses.replace(d, title=title)


def linear(n_in: int, n_out: int, *, batch: int | None = None, bias: bool = True) -> Derivation:
    """nn.Linear(n_in -> n_out): the engine's derivation of ``y = W @ x + b`` (``W @ x`` without bias)."""
    shapes = {"x": (check_int("linear", "n_in", n_in, 1),), "W": (check_int("linear", "n_out", n_out, 1), n_in)}
    if batch is not None:
        check_int("linear", "batch", batch, 1)
    d = derivation(parse(LINEAR if bias else LINEAR_NO_BIAS, shapes), batch=batch)
    return _titled(d, f"nn.Linear({n_in} -> {n_out})" + ("" if bias else " without bias")
                   + (f", batch of {batch}" if batch is not None else ""))


def activation(name: str, n: int, *, batch: int | None = None) -> Derivation:
    """nn.Sigmoid, nn.Tanh or nn.ReLU on n inputs, from its one-expression spec."""
    if name not in ACTIVATION_SPECS:
        raise ValueError(f"unknown activation {name!r}, expected one of {', '.join(ACTIVATION_SPECS)}")
    d = derivation(parse(ACTIVATION_SPECS[name], {"x": (check_int(name, "n", n, 1),)}), batch=batch)
    return _titled(d, f"nn.{TORCH_NAMES[name]} on {n} inputs"
                   + (f", batch of {batch}" if batch is not None else ""))


def mse(n: int, *, size_average: bool = True, batch: int | None = None) -> Derivation:
    """nn.MSECriterion on n outputs: the mean of the squared differences (their sum without
    sizeAverage). A batch is Torch's: the same over every element of the (batch, n) input,
    derived as the criterion of that matrix."""
    d = derivation(parse(mse_expression(size_average), {"x": (check_int("mse", "n", n, 1),)}, target="t"))
    title = f"nn.MSECriterion on {n} outputs" + ("" if size_average else ", sizeAverage = false")
    if batch is not None:
        shapes = {"X": (check_int("mse", "batch", batch, 1), n)}
        whole = derivation(parse(mse_expression(size_average, batch=True), shapes, input="X", target="T"))
        extra = [dataclasses.replace(s, title="Batch: " + s.title) for s in whole.sections
                 if s.title != "Module calls"]
        d = dataclasses.replace(d, sections=d.sections[:-1] + extra + d.sections[-1:],
                                sizes=d.sizes | whole.sizes, names=d.names | whole.names,
                                results=d.results | {f"{k} (batch)": v for k, v in whole.results.items()})
        title += f", batch of {batch}"
    return _titled(d, title)


def sequential_expression(activation_name: str) -> str:
    """Sequential(Linear, f, Linear) as one expression."""
    if activation_name not in ACTIVATION_SPECS:
        raise ValueError(f"unknown activation {activation_name!r}, expected one of {', '.join(ACTIVATION_SPECS)}")
    return f"y = W2 @ {activation_name}(W1 @ x + b1) + b2"


def sequential(n_in: int = 2, n_hidden: int = 3, n_out: int = 1, activation: str = "sigmoid") -> Derivation:
    """Sequential(Linear(n_in -> n_hidden), f, Linear(n_hidden -> n_out)), derived as the one
    expression y = W2 f(W1 x + b1) + b2: the chain rule through the stack, size-free."""
    shapes = {"x": (check_int("sequential", "n_in", n_in, 1),),
              "W1": (check_int("sequential", "n_hidden", n_hidden, 1), n_in),
              "W2": (check_int("sequential", "n_out", n_out, 1), n_hidden)}
    d = derivation(parse(sequential_expression(activation), shapes))
    return _titled(d, f"nn.Sequential: Linear({n_in} -> {n_hidden}) -> {TORCH_NAMES[activation]} "
                      f"-> Linear({n_hidden} -> {n_out})")


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
    out = {"output": forward_matrix(spec),
           "gradInput": matrix_of(spec, grads[spec.input.name]),
           "gradWeight": matrix_of(spec, grads["W"])}
    if bias:
        out["gradBias"] = matrix_of(spec, grads["b"])
    if any(v is None for v in out.values()):
        raise AssertionError(f"nn.Linear has no matrix form for {[k for k, v in out.items() if v is None]}")
    return out


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

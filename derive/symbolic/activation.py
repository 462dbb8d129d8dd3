"""Element-wise activations as specs for the engine: y = f(x), applied entry by entry.

A spec gives only f, as a sympy expression of one variable.  sympy differentiates it;
the engine proves that the derivative can be written with the output alone where Torch
does so (sigmoid: y(1 - y), tanh: 1 - y^2) and that the Jacobian is diagonal, so that
dJ/dx = dJ/dy (.) f'(x), the element-wise product.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from .derivation import (Derivation, Grid, Named, Notation, ProofError, Result, Section, Step,
                         proved)
from .linear import B, LOSS, _d, _dJ, _frac, _size, i, k, t

n = sp.Symbol("n", integer=True, positive=True)
#: The element an activation is applied to, and the names of whole arrays in results.
z = sp.Symbol("z", real=True)
INPUT, OUTPUT, GRAD_OUTPUT = sp.symbols("input output grad_output", real=True)


@dataclass(frozen=True)
class ActivationSpec:
    """y = f(x) element-wise; ``gradient_uses`` says what Torch's backward reads."""

    name: str  # Torch's class name
    latex: str  # how f is written: \sigma, \tanh, \mathrm{ReLU}
    f: sp.Expr  # f(z)
    gradient_uses: str  # "output" (f' written in y) or "input"
    derivative_in_output: sp.Expr | None = None  # f'(z) as a function of y = f(z), if so

    def derivative(self) -> sp.Expr:
        """f'(z), by sympy."""
        return sp.diff(self.f, z)

    def gradient(self) -> sp.Expr:
        """gradInput element-wise, in the arrays the kernel reads (grad_output, output|input).

        The derivative in terms of the output is proved equal to sympy's f'(z) first.
        """
        if self.gradient_uses == "output":
            in_output = self.derivative_in_output
            if sp.simplify(in_output.subs(OUTPUT, self.f) - self.derivative()) != 0:
                raise ProofError(f"{self.name}: f'(z) is not {in_output} with y = f(z)")
            return GRAD_OUTPUT * in_output
        return GRAD_OUTPUT * self.derivative().subs(z, INPUT)

    def output(self) -> sp.Expr:
        """The forward pass element-wise, in the input array."""
        return self.f.subs(z, INPUT)


SIGMOID = ActivationSpec("Sigmoid", r"\sigma", 1 / (1 + sp.exp(-z)), "output",
                         OUTPUT * (1 - OUTPUT))
TANH = ActivationSpec("Tanh", r"\tanh", sp.tanh(z), "output", 1 - OUTPUT**2)
# Torch's ReLU is Threshold(0, 0): y = x where x > 0, else 0; its gradient is 0 at x = 0.
RELU = ActivationSpec("ReLU", r"\mathrm{ReLU}", sp.Piecewise((z, z > 0), (0, True)), "input")

ACTIVATIONS = {spec.name.lower(): spec for spec in (SIGMOID, TANH, RELU)}


def activation(name: str, size: int, *, batch: int | None = None) -> Derivation:
    """The derivation of ``nn.Sigmoid``/``nn.Tanh``/``nn.ReLU`` on ``size`` inputs, proved."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}, expected one of {', '.join(ACTIVATIONS)}")
    spec = ACTIVATIONS[name]
    sizes = {n: _size("size", size)}
    sections = list(_sections(spec))
    title = f"nn.{spec.name} on {sizes[n]} inputs"
    if batch is not None:
        sizes[B] = _size("batch", batch)
        sections += list(_batch_sections(spec))
        title += f", batch of {sizes[B]}"
    return Derivation(title, sections, sizes, _results(spec, batch is not None))


_x, _y, _g = sp.IndexedBase("x"), sp.IndexedBase("y"), sp.IndexedBase("g")
_X, _Y, _G = sp.IndexedBase("X"), sp.IndexedBase("Y"), sp.IndexedBase("G")


def _results(spec: ActivationSpec, batch: bool) -> dict[str, Result]:
    # Element-wise results: products of whole arrays are element-wise (printed with \odot).
    derivative = _in_arrays(spec.gradient() / GRAD_OUTPUT)
    out = {
        "y": Result(r"\mathbf{y}", _in_arrays(spec.output()), (n,), True),
        "dy/dx": Result(_frac(r"\mathbf{y}", r"\mathbf{x}"),
                        sp.Function("diag")(derivative), (n, n), True),
        "dJ/dx": Result(_frac("J", r"\mathbf{x}"), _in_arrays(spec.gradient()), (n,), True),
    }
    if batch:
        out["dJ/dX"] = Result(_frac("J", r"\mathbf{X}"), _in_arrays(spec.gradient(), batch=True),
                              (B, n), True)
    return out


ARRAYS = sp.symbols("x_vec y_vec g_vec", real=True)
BATCH_ARRAYS = sp.symbols("X_vec Y_vec G_vec", real=True)


def _in_arrays(expr: sp.Expr, batch: bool = False) -> sp.Expr:
    """Kernel argument names to the bold array names the site shows."""
    names = BATCH_ARRAYS if batch else ARRAYS
    return expr.xreplace(dict(zip((INPUT, OUTPUT, GRAD_OUTPUT), names)))


def _element(expr: sp.Expr, x, y, g) -> sp.Expr:
    return expr.xreplace({INPUT: x, OUTPUT: y, GRAD_OUTPUT: g})


@functools.cache
def _sections(spec: ActivationSpec) -> tuple[Section, ...]:
    notation = Notation({}, {_y: lambda r: spec.f.subs(z, _x[r])}, LOSS, _y, _g, (n, 1))

    def prove(step: Step) -> Step:
        return proved(step, notation, (n,))

    f_of = lambda r: spec.f.subs(z, _x[r])  # noqa: E731 - the layer's f at element r
    derivative = spec.derivative()
    forward = Section(
        "Forward pass",
        rf"$y_i = {spec.latex}(x_i)$: the same function applied to every element of "
        r"$\mathbf{x}$.",
        [prove(Step(Named(r"\mathbf{y}", Grid((n, 1), lambda r, c: _y[r])),
                    (Grid((n, 1), lambda r, c: _y[r]), Grid((n, 1), lambda r, c: f_of(r)))))],
    )
    dy_dx = Grid((n, n), lambda r, c: _d(_y[r], _x[c]))
    jac = [prove(Step(
        _d(_y[i], _x[k]),
        (_d(f_of(i), _x[k]), derivative.subs(z, _x[i]) * sp.KroneckerDelta(i, k)),
        "Each output depends on its own input only, so the Jacobian is diagonal:",
    ))]
    if spec.gradient_uses == "output":
        jac.append(prove(Step(
            derivative.subs(z, _x[i]),
            (_element(spec.derivative_in_output, None, _y[i], None),),
            "Torch's backward reads the output instead of the input:",
        )))
    jac.append(prove(Step(
        Named(_frac(r"\mathbf{y}", r"\mathbf{x}"), dy_dx),
        (dy_dx,
         Grid((n, n), lambda r, c: derivative.subs(z, _x[r]) * sp.KroneckerDelta(r, c))),
        "The whole Jacobian (numerator layout):",
    )))
    gradient = spec.gradient()
    grad = prove(Step(
        Named(_frac("J", r"\mathbf{x}"), Grid((n, 1), lambda r, c: _dJ(_x[r]))),
        (Grid((n, 1), lambda r, c: sp.Sum(_g[i] * _d(_y[i], _x[r]), (i, 1, n))),
         Grid((n, 1), lambda r, c: _g[r] * _d(_y[r], _x[r])),
         Grid((n, 1), lambda r, c: _element(gradient, _x[r], _y[r], _g[r])),
         Named(_in_arrays(gradient), Grid((n, 1), lambda r, c: _element(gradient, _x[r], _y[r], _g[r])))),
        r"Chain rule: only the diagonal term survives, an element-wise product ($\odot$).",
    ))
    return (forward, Section("Jacobian", "", jac), Section("Chain rule", "", [grad]))


@functools.cache
def _batch_sections(spec: ActivationSpec) -> tuple[Section, ...]:
    notation = Notation({}, {_Y: lambda r, c: spec.f.subs(z, _X[r, c])}, LOSS, _Y, _G, (B, n))
    gradient = spec.gradient()
    step = Step(
        Named(_frac("J", r"\mathbf{X}"), Grid((B, n), lambda r, c: _dJ(_X[r, c]))),
        (Grid((B, n), lambda r, c: sp.Sum(_G[t, i] * _d(_Y[t, i], _X[r, c]), (i, 1, n), (t, 1, B))),
         Grid((B, n), lambda r, c: _element(gradient, _X[r, c], _Y[r, c], _G[r, c]))),
        "Every sample on its own: the same element-wise product, row by row.",
    )
    return (Section("Batch chain rule", "", [proved(step, notation, (B, n))]),)

"""``nn.Sequential``: the chain rule across modules, for a stack Linear -> f -> Linear.

The stack is h1 = W1 x + b1, h2 = f(h1), y = W2 h2 + b2.  Its Jacobian is the product of
the modules' Jacobians, W2 diag(f'(h1)) W1, and Sequential.backward computes its
transpose times dJ/dy one module at a time, last module first.  The steps are shown and
proved at concrete (small) sizes, entry by entry, on the fully expanded stack.
"""

from __future__ import annotations

import sympy as sp

from .activation import ACTIVATIONS, OUTPUT, INPUT, z
from sympy.matrices.expressions.diagonal import DiagMatrix

from .derivation import (Derivation, Grid, Named, Notation, Product, Result, Section, Step,
                         Transposed, proved)
from .linear import LOSS, _d, _dJ, _frac, _size

#: Stacks are shown whole and proved on their expansion, so they stay small.
MAX_SIZE = 6

x_, w1, b1, h1, h2, w2, b2, y_, g_ = (
    sp.IndexedBase(name) for name in ("x", "w1", "b1", "h1", "h2", "w2", "b2", "y", "g"))


def _as_function(spec) -> type[sp.Function]:
    """f as a sympy function whose derivative is the one the activation's spec proved.

    ``ActivationSpec.gradient`` proves f'(z) equal to its output form (sigmoid y(1 - y))
    before returning it; differentiating through this function then keeps the stack's
    expressions polynomial in f(h1), so every entry is settled by expansion.
    """
    def fdiff(self, argindex=1):
        if spec.gradient_uses == "output":
            return spec.derivative_in_output.subs(OUTPUT, self)
        return spec.derivative().subs(z, self.args[0])

    spec.gradient()  # proves the output form, or raises
    name = {"Sigmoid": "sigma", "Tanh": "tanh", "ReLU": "ReLU"}[spec.name]
    return type(name, (sp.Function,), {"fdiff": fdiff, "nargs": 1})


def sequential(n_in: int = 2, n_hidden: int = 3, n_out: int = 1, activation: str = "sigmoid") -> Derivation:
    """The derivation of Sequential(Linear(n_in -> n_hidden), f, Linear(n_hidden -> n_out))."""
    sizes = [_size(name, value) for name, value in
             (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out))]
    if max(sizes) > MAX_SIZE:
        raise ValueError(f"stack sizes are at most {MAX_SIZE} (every entry is proved on the "
                         f"expanded stack), got {tuple(sizes)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}, expected one of "
                         f"{', '.join(ACTIVATIONS)}")
    n, k, m = (sp.Integer(v) for v in sizes)
    spec = ACTIVATIONS[activation]
    r1, rk = range(1, int(n) + 1), range(1, int(k) + 1)
    f = _as_function(spec)
    definitions = {
        h1: lambda l: sp.Add(*(w1[l, p] * x_[p] for p in r1)) + b1[l],
        h2: lambda l: f(h1[l]),
        y_: lambda i: sp.Add(*(w2[i, l] * h2[l] for l in rk)) + b2[i],
    }
    notation = Notation({}, definitions, LOSS, y_, g_, (m, 1))
    # f'(h1) as Torch's backward reads it: from the module's output h2 where it can.
    if spec.gradient_uses == "output":
        slope = lambda l: spec.derivative_in_output.subs(OUTPUT, h2[l])  # noqa: E731
    else:
        slope = lambda l: spec.derivative().subs(z, h1[l])  # noqa: E731

    def prove(step: Step) -> Step:
        return proved(step, notation, ())

    W1 = Grid((k, n), lambda r, c: w1[r, c])
    W2 = Grid((m, k), lambda r, c: w2[r, c])
    D = Grid((k, k), lambda r, c: slope(r) if r == c else sp.Integer(0))
    G = Grid((m, 1), lambda r, c: g_[r])
    diag = rf"\operatorname{{diag}}\left({spec.latex}'(\mathbf{{h}}_1)\right)"

    forward = Section("Forward", f"Linear({n} -> {k}), then {spec.name}, then Linear({k} -> {m}):", [
        Step(Named(r"\mathbf{h}_1", Grid((k, 1), lambda r, c: h1[r])),
             (Grid((k, 1), lambda r, c: definitions[h1](r)),), relation="def"),
        Step(Named(r"\mathbf{h}_2", Grid((k, 1), lambda r, c: h2[r])),
             (Grid((k, 1), lambda r, c: definitions[h2](r)),), relation="def"),
        Step(Named(r"\mathbf{y}", Grid((m, 1), lambda r, c: y_[r])),
             (Grid((m, 1), lambda r, c: definitions[y_](r)),), relation="def"),
    ])
    dy_dx = Grid((m, n), lambda r, c: _d(y_[r], x_[c]))
    jacobian = Section(
        "Jacobian of the stack",
        "The product of the modules' Jacobians (numerator layout), last module first:",
        [prove(Step(
            Named(_frac(r"\mathbf{y}", r"\mathbf{x}"), dy_dx),
            (Named(_frac(r"\mathbf{y}", r"\mathbf{h}_2") + _frac(r"\mathbf{h}_2", r"\mathbf{h}_1")
                   + _frac(r"\mathbf{h}_1", r"\mathbf{x}"), dy_dx),
             Named(rf"\mathbf{{W}}_2 \, {diag} \, \mathbf{{W}}_1", Product((W2, D, W1))),
             Product((W2, D, W1)))))],
    )
    g2 = lambda l: sp.Add(*(w2[i, l] * g_[i] for i in range(1, int(m) + 1)))  # noqa: E731
    g1 = lambda l: g2(l) * slope(l)  # noqa: E731
    backward = Section(
        "Backward, module by module",
        "Sequential.backward runs the modules in reverse: each gets the gradient with respect "
        "to its output and hands back the one with respect to its input.",
        [prove(Step(
            Named(_frac("J", r"\mathbf{x}"), Grid((n, 1), lambda r, c: _dJ(x_[r]))),
            (Named(r"\left(\frac{\partial \mathbf{y}}{\partial \mathbf{x}}\right)^{T}"
                   r"\frac{\partial J}{\partial \mathbf{y}}", Grid((n, 1), lambda r, c: _dJ(x_[r]))),
             Named(rf"\mathbf{{W}}_1^{{T}} \, {diag} \, \mathbf{{W}}_2^{{T}} "
                   r"\frac{\partial J}{\partial \mathbf{y}}",
                   Product((Transposed(W1), D, Transposed(W2), G))),
             Product((Transposed(W1), D, Transposed(W2), G)),
             Grid((n, 1), lambda r, c: sp.Add(*(w1[l, r] * g1(l) for l in rk)))),
            r"$\partial J / \partial \mathbf{x}$ through the whole stack; the last form is what "
            r"the three updateGradInput calls compute, innermost first: "
            r"$\mathbf{W}_2^{T} \partial J / \partial \mathbf{y}$, then the activation's "
            r"element-wise product, then $\mathbf{W}_1^{T}$.",
        )),
         prove(Step(
             Named(_frac("J", r"\mathbf{W}_1"), Grid((k, n), lambda r, c: _dJ(w1[r, c]))),
             (Grid((k, n), lambda r, c: g1(r) * x_[c]),),
             r"The first layer's gradWeight: its gradOutput (what the activation handed back) "
             r"times $\mathbf{x}^{T}$.",
         )),
         prove(Step(
             Named(_frac("J", r"\mathbf{W}_2"), Grid((m, k), lambda r, c: _dJ(w2[r, c]))),
             (Grid((m, k), lambda r, c: g_[r] * h2[c]),),
             r"The last layer's gradWeight: $\partial J / \partial \mathbf{y}$ times its "
             r"input $\mathbf{h}_2^{T}$.",
         )),
         *(prove(Step(Named(_frac("J", rf"\mathbf{{b}}_{layer}"), Grid((size, 1), lambda r, c, b=b: _dJ(b[r]))),
                      (Grid((size, 1), lambda r, c, grad=grad: grad(r)),),
                      "The gradBias of each layer is its gradOutput:"))
           for layer, size, b, grad in ((1, k, b1, g1), (2, m, b2, lambda r: g_[r])))],
    )
    title = f"nn.Sequential: Linear({n} -> {k}) -> {spec.name} -> Linear({k} -> {m})"
    return Derivation(title, [forward, jacobian, backward], sizes={},
                      results=_results(spec, n, k, m))


def _results(spec, n, k, m) -> dict[str, Result]:
    """The stack's Jacobian and gradients in matrix form (proved entry by entry above)."""
    W1, W2 = sp.MatrixSymbol("W_1", k, n), sp.MatrixSymbol("W_2", m, k)
    x, h2m = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("h_2", k, 1)
    g = sp.MatrixSymbol("g", m, 1)
    slope = DiagMatrix(sp.MatrixSymbol(rf"{spec.latex}'(\mathbf{{h}}_1)", k, 1))
    g1 = slope * W2.T * g
    return {
        "dy/dx": Result(_frac(r"\mathbf{y}", r"\mathbf{x}"), W2 * slope * W1, (m, n)),
        "dJ/dx": Result(_frac("J", r"\mathbf{x}"), W1.T * g1, (n,)),
        "dJ/dW1": Result(_frac("J", r"\mathbf{W}_1"), g1 * x.T, (k, n)),
        "dJ/db1": Result(_frac("J", r"\mathbf{b}_1"), g1, (k,)),
        "dJ/dW2": Result(_frac("J", r"\mathbf{W}_2"), g * h2m.T, (m, k)),
        "dJ/db2": Result(_frac("J", r"\mathbf{b}_2"), g, (m,)),
    }

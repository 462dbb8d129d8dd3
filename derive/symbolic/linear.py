"""Torch7's ``nn.Linear`` as a spec for the engine: y = W x + b, and its batch form.

Matrix-form results come from sympy's matrix calculus on ``Trace(g^T y)`` (size-free);
the element-wise steps the tutorial shows are built from index templates and proved
equal to them at the index level (see :mod:`derive.symbolic.derivation`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from .derivation import (
    Derivation,
    Grid,
    Named,
    Notation,
    Plus,
    Product,
    Result,
    Scaled,
    Section,
    Step,
    Transposed,
    proved,
)

# Sizes, as Torch names them: inputSize n, outputSize m, batch B.
n, m, B = sp.symbols("n m B", integer=True, positive=True)
# Free indices shown in the index-level steps (dy_i/dw_jk = delta_ij x_k).
i, j, k, s, t = sp.symbols("i j k s t", integer=True, positive=True)
_l = sp.Symbol("l", integer=True, positive=True)  # summation index inside y_i

LOSS = sp.Symbol("J")


@dataclass(frozen=True)
class LinearSpec:
    """y = W x + b (single sample) or Y = X W^T + 1 b^T (batch), with symbolic sizes."""

    bias: bool = True
    batch: bool = False

    # Matrices (Torch's layout: weight is outputSize x inputSize).
    W = sp.MatrixSymbol("W", m, n)
    b = sp.MatrixSymbol("b", m, 1)
    x = sp.MatrixSymbol("x", n, 1)
    y = sp.MatrixSymbol("y", m, 1)
    g = sp.MatrixSymbol("g", m, 1)  # dJ/dy, given by the next layer
    X = sp.MatrixSymbol("X", B, n)
    Y = sp.MatrixSymbol("Y", B, m)
    G = sp.MatrixSymbol("G", B, m)  # dJ/dY
    ones = sp.OneMatrix(B, 1)

    # Their elements, 1-based like the tutorial.
    w_ = sp.IndexedBase("w")
    b_ = sp.IndexedBase("b")
    x_ = sp.IndexedBase("x")
    y_ = sp.IndexedBase("y")
    g_ = sp.IndexedBase("g")
    X_ = sp.IndexedBase("X")
    Y_ = sp.IndexedBase("Y")
    G_ = sp.IndexedBase("G")

    @property
    def input(self) -> sp.MatrixSymbol:
        return self.X if self.batch else self.x

    @property
    def output(self) -> sp.MatrixSymbol:
        return self.Y if self.batch else self.y

    @property
    def grad_output(self) -> sp.MatrixSymbol:
        return self.G if self.batch else self.g

    @property
    def forward(self) -> sp.MatrixExpr:
        """The layer's output as a matrix expression."""
        if self.batch:
            out = self.X * self.W.T
            return out + self.ones * self.b.T if self.bias else out
        return self.W * self.x + self.b if self.bias else self.W * self.x

    @property
    def parameters(self) -> dict[str, sp.MatrixSymbol]:
        return {"weight": self.W, "bias": self.b} if self.bias else {"weight": self.W}

    def results(self) -> dict[str, sp.MatrixExpr]:
        """gradInput, gradWeight (and gradBias), derived by sympy from Trace(g^T y)."""
        scalar = sp.Trace(self.grad_output.T * self.forward)
        out = {"output": self.forward, "gradInput": _derive(scalar, self.input)}
        out["gradWeight"] = _derive(scalar, self.W)
        if self.bias:
            out["gradBias"] = _derive(scalar, self.b)
        return out

    def y_element(self, row: sp.Expr) -> sp.Expr:
        """y_i = sum_l w_il x_l (+ b_i), a sum kept unevaluated so any n prints alike."""
        total = sp.Sum(self.w_[row, _l] * self.x_[_l], (_l, 1, n))
        return total + self.b_[row] if self.bias else total

    def Y_element(self, sample: sp.Expr, row: sp.Expr) -> sp.Expr:
        """Y_si = sum_l X_sl w_il (+ b_i)."""
        total = sp.Sum(self.X_[sample, _l] * self.w_[row, _l], (_l, 1, n))
        return total + self.b_[row] if self.bias else total

    def notation(self) -> Notation:
        elements = {self.W: self.w_, self.b: self.b_, self.x: self.x_, self.y: self.y_,
                    self.g: self.g_, self.X: self.X_, self.Y: self.Y_, self.G: self.G_}
        if self.batch:
            return Notation(elements, {self.Y_: self.Y_element}, LOSS, self.Y_, self.G_, (B, m))
        return Notation(elements, {self.y_: self.y_element}, LOSS, self.y_, self.g_, (m, 1))


def _derive(scalar: sp.Expr, variable: sp.MatrixSymbol) -> sp.MatrixExpr:
    """dJ/dV for J's first-order part Trace(G^T f): sympy's matrix derivative, simplified."""
    result = scalar.diff(variable)
    return sp.simplify(result) if not isinstance(result, sp.MatrixSymbol) else result


def jacobian_input(spec: LinearSpec) -> sp.MatrixExpr:
    """dy/dx in numerator layout (out x in): sympy returns the denominator layout; transpose."""
    return spec.forward.diff(spec.x).T


def jacobian_bias(spec: LinearSpec) -> sp.MatrixExpr:
    """dy/db in numerator layout (out x out)."""
    return spec.forward.diff(spec.b).T


def _d(expr: sp.Expr, variable: sp.Expr) -> sp.Derivative:
    return sp.Derivative(expr, variable, evaluate=False)


def _dJ(variable: sp.Expr) -> sp.Derivative:
    return sp.Derivative(LOSS, variable, evaluate=False)


def _frac(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def linear(n_in: int, n_out: int, *, batch: int | None = None, bias: bool = True) -> Derivation:
    """The tutorial's derivation of ``nn.Linear(n_in -> n_out)``, every step proved.

    With ``batch`` the batch case (Y = X W^T + 1 b^T) is derived too, the part the
    tutorial skipped.  Sizes only bind what is displayed: the proofs are size-free.
    """
    n_in, n_out = _size("n_in", n_in), _size("n_out", n_out)
    sizes = {n: n_in, m: n_out}
    spec = LinearSpec(bias=bias)
    sections = list(_single_sections(spec))
    results = _results(spec)
    title = f"nn.Linear({n_in} -> {n_out})" + ("" if bias else " without bias")
    if batch is not None:
        sizes[B] = _size("batch", batch)
        batch_spec = LinearSpec(bias=bias, batch=True)
        sections += list(_batch_sections(batch_spec))
        results.update(_results(batch_spec))
        title += f", batch of {sizes[B]}"
    return Derivation(title=title, sections=sections, sizes=sizes, results=results)


def _results(spec: LinearSpec) -> dict[str, Result]:
    """The Jacobians (single sample) and the gradients, keyed by their names."""
    grads = spec.results()
    if spec.batch:
        out = {"dJ/dX": Result(_frac("J", r"\mathbf{X}"), grads["gradInput"], (B, n)),
               "dJ/dW (batch)": Result(_frac("J", r"\mathbf{W}"), grads["gradWeight"], (m, n))}
        if spec.bias:
            out["dJ/db (batch)"] = Result(_frac("J", r"\mathbf{b}"), grads["gradBias"], (m,))
        return out
    out = {"dy/dx": Result(_frac(r"\mathbf{y}", r"\mathbf{x}"), jacobian_input(spec), (m, n)),
           "dy/dW": Result(_frac("y_{i}", "w_{jk}"), sp.KroneckerDelta(i, j) * spec.x_[k], (m, m, n))}
    if spec.bias:
        out["dy/db"] = Result(_frac(r"\mathbf{y}", r"\mathbf{b}"), jacobian_bias(spec), (m, m))
    out["dJ/dx"] = Result(_frac("J", r"\mathbf{x}"), grads["gradInput"], (n,))
    out["dJ/dW"] = Result(_frac("J", r"\mathbf{W}"), grads["gradWeight"], (m, n))
    if spec.bias:
        out["dJ/db"] = Result(_frac("J", r"\mathbf{b}"), grads["gradBias"], (m,))
    return out


def _size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


@functools.cache
def _single_sections(spec: LinearSpec) -> tuple[Section, ...]:
    notation = spec.notation()
    sizes = (n, m)
    W, x, b, g = spec.W, spec.x, spec.b, spec.g
    w_, x_, b_, y_, g_ = spec.w_, spec.x_, spec.b_, spec.y_, spec.g_
    results = spec.results()

    def prove(step: Step) -> Step:
        return proved(step, notation, sizes)

    y_grid = Grid((m, 1), lambda r, c: y_[r])
    forward_terms = (Product((Grid((m, n), lambda r, c: w_[r, c]), Grid((n, 1), lambda r, c: x_[r]))),)
    if spec.bias:
        forward_terms += (Grid((m, 1), lambda r, c: b_[r]),)
    forward = Section(
        "Forward pass",
        r"The output $\mathbf{y} = \mathbf{W}\mathbf{x} + \mathbf{b}$, element by element.",
        [prove(Step(Named(r"\mathbf{y}", y_grid),
                    (spec.forward, Plus(forward_terms),
                     Grid((m, 1), lambda r, c: spec.y_element(r)))))],
    )

    dy_dx = Grid((m, n), lambda r, c: _d(y_[r], x_[c]))
    jac_x = Step(
        Named(_frac(r"\mathbf{y}", r"\mathbf{x}"), dy_dx),
        (dy_dx,
         Grid((m, n), lambda r, c: _d(spec.y_element(r), x_[c])),
         Grid((m, n), lambda r, c: w_[r, c]),
         jacobian_input(spec)),
    )
    dy_dW_slice = Grid((m, n), lambda r, c: _d(y_[r], w_[r, c]))
    jac_w_index = Step(
        _d(y_[i], w_[j, k]),
        (_d(spec.y_element(i), w_[j, k]), sp.KroneckerDelta(i, j) * x_[k]),
        r"$\partial \mathbf{y} / \partial \mathbf{W}$ has three indices (output $i$, "
        r"weight row $j$, weight column $k$): an $m \times m \times n$ array whose only "
        r"non-zero entries have $j = i$.",
    )
    jac_w_slice = Step(
        dy_dW_slice,
        (Grid((m, n), lambda r, c: _d(spec.y_element(r), w_[r, c])),
         Grid((m, n), lambda r, c: x_[c]),
         sp.OneMatrix(m, 1) * x.T),
        r"Its non-zero slice $j = i$, the $m \times n$ table the tutorial shows as "
        r"$\partial \mathbf{y} / \partial \mathbf{W}$ (every other entry is 0):",
    )
    jacobians = Section(
        "Jacobians",
        r"Numerator layout: the Jacobian of an $m$-vector by an $n$-vector is $m \times n$.",
        [prove(jac_x), prove(jac_w_index), prove(jac_w_slice)],
    )
    if spec.bias:
        dy_db = Grid((m, m), lambda r, c: _d(y_[r], b_[c]))
        jacobians.steps.append(prove(Step(
            Named(_frac(r"\mathbf{y}", r"\mathbf{b}"), dy_db),
            (dy_db,
             Grid((m, m), lambda r, c: _d(spec.y_element(r), b_[c])),
             Grid((m, m), lambda r, c: sp.KroneckerDelta(r, c)),
             jacobian_bias(spec)),
        )))

    def chain_sum(variable) -> sp.Expr:
        return sp.Sum(g_[i] * _d(y_[i], variable), (i, 1, m))

    grad_x = prove(Step(
        Named(_frac("J", r"\mathbf{x}"), Grid((n, 1), lambda r, c: _dJ(x_[r]))),
        (Grid((n, 1), lambda r, c: _dJ(x_[r])),
         Grid((n, 1), lambda r, c: chain_sum(x_[r])),
         Product((Transposed(dy_dx), Grid((m, 1), lambda r, c: g_[r]))),
         results["gradInput"]),
    ))
    grad_w = prove(Step(
        Named(_frac("J", r"\mathbf{W}"), Grid((m, n), lambda r, c: _dJ(w_[r, c]))),
        (Grid((m, n), lambda r, c: _dJ(w_[r, c])),
         Grid((m, n), lambda r, c: chain_sum(w_[r, c])),
         Grid((m, n), lambda r, c: g_[r] * _d(y_[r], w_[r, c])),
         Grid((m, n), lambda r, c: g_[r] * x_[c]),
         Product((Grid((m, 1), lambda r, c: g_[r]), Transposed(Grid((n, 1), lambda r, c: x_[r])))),
         results["gradWeight"]),
    ))
    chain = Section(
        "Chain rule",
        r"The gradient $\partial J / \partial \mathbf{y}$ of the loss with respect to the "
        r"output is given (the next layer's gradInput, or the criterion's).",
        [grad_x, grad_w],
    )
    if spec.bias:
        chain.steps.append(prove(Step(
            Named(_frac("J", r"\mathbf{b}"), Grid((m, 1), lambda r, c: _dJ(b_[r]))),
            (Grid((m, 1), lambda r, c: _dJ(b_[r])),
             Grid((m, 1), lambda r, c: chain_sum(b_[r])),
             Grid((m, 1), lambda r, c: g_[r] * _d(y_[r], b_[r])),
             Grid((m, 1), lambda r, c: g_[r]),
             results["gradBias"]),
        )))
    return (forward, jacobians, chain, _module_calls(spec))


def _module_calls(spec: LinearSpec) -> Section:
    """zeroGradParameters, accGradParameters and updateParameters as updates."""
    eta, scale = sp.Symbol("eta"), sp.Symbol("scale")
    delta_w, delta_b = sp.Symbol("Delta_W"), sp.Symbol("Delta_b")
    grad_w, grad_b = sp.Symbol("dJ_dW"), sp.Symbol("dJ_db")
    weight, bias = sp.Symbol("W"), sp.Symbol("b")
    zero, acc, update = (
        "First, `zeroGradParameters` clears the accumulated gradients:",
        r"Then `backward` = `updateGradInput` (which computes $\partial J / \partial \mathbf{x}$) "
        r"+ `accGradParameters`, which adds $\mathrm{scale}$ times the gradients "
        r"($\mathrm{scale}$ is `backward`'s third argument, 1 unless given):",
        r"Last, `updateParameters(learningRate)` takes a step of gradient descent, "
        r"$\eta$ being the learning rate:",
    )

    def accumulate(delta, grad):
        return sp.Add(delta, sp.Mul(scale, grad, evaluate=False), evaluate=False)

    def descend(param, delta):
        return sp.Add(param, sp.Mul(-1, eta, delta, evaluate=False), evaluate=False)

    pairs = [(delta_w, grad_w, weight)] + ([(delta_b, grad_b, bias)] if spec.bias else [])
    steps = [Step(d, (sp.Integer(0),), zero, "<-") for d, _, _ in pairs]
    steps += [Step(d, (accumulate(d, grad),), acc, "<-") for d, grad, _ in pairs]
    steps += [Step(p, (descend(p, d),), update, "<-") for d, _, p in pairs]
    return Section("Module calls",
                   "What the three calls of the tutorial do with these gradients "
                   r"($\Delta$ is the accumulated gradient: gradWeight, gradBias).", steps)


@functools.cache
def _batch_sections(spec: LinearSpec) -> tuple[Section, ...]:
    notation = spec.notation()
    sizes = (n, m, B)
    w_, b_, X_, Y_, G_ = spec.w_, spec.b_, spec.X_, spec.Y_, spec.G_
    results = spec.results()

    def prove(step: Step) -> Step:
        return proved(step, notation, sizes)

    forward = Section(
        "Batch forward pass",
        r"$\mathbf{Y} = \mathbf{X}\mathbf{W}^{T} + \mathbf{1}\mathbf{b}^{T}$: each row of "
        r"$\mathbf{X}$ is one sample (Torch's batch layout), each row of $\mathbf{Y}$ its output.",
        [prove(Step(Named(r"\mathbf{Y}", Grid((B, m), lambda r, c: Y_[r, c])),
                    (spec.forward, Grid((B, m), lambda r, c: spec.Y_element(r, c)))))],
    )
    partials = [Step(_d(Y_[t, i], X_[s, k]), (_d(spec.Y_element(t, i), X_[s, k]),
                                             sp.KroneckerDelta(s, t) * w_[i, k])),
                Step(_d(Y_[t, i], w_[j, k]), (_d(spec.Y_element(t, i), w_[j, k]),
                                             sp.KroneckerDelta(i, j) * X_[t, k]))]
    if spec.bias:
        partials.append(Step(_d(Y_[t, i], b_[j]), (_d(spec.Y_element(t, i), b_[j]),
                                                  sp.KroneckerDelta(i, j))))
    jacobians = Section("Batch Jacobians", "Every output element against every variable.",
                        [prove(p) for p in partials])

    def chain_sum(variable) -> sp.Expr:
        return sp.Sum(G_[t, i] * _d(Y_[t, i], variable), (i, 1, m), (t, 1, B))

    d = sp.Symbol("d", integer=True, positive=True)
    steps = [
        Step(Named(_frac("J", r"\mathbf{X}"), Grid((B, n), lambda r, c: _dJ(X_[r, c]))),
             (Grid((B, n), lambda r, c: chain_sum(X_[r, c])),
              Grid((B, n), lambda r, c: sp.Sum(G_[r, d] * w_[d, c], (d, 1, m))),
              results["gradInput"])),
        Step(Named(_frac("J", r"\mathbf{W}"), Grid((m, n), lambda r, c: _dJ(w_[r, c]))),
             (Grid((m, n), lambda r, c: chain_sum(w_[r, c])),
              Grid((m, n), lambda r, c: sp.Sum(G_[d, r] * X_[d, c], (d, 1, B))),
              results["gradWeight"])),
    ]
    if spec.bias:
        steps.append(Step(
            Named(_frac("J", r"\mathbf{b}"), Grid((m, 1), lambda r, c: _dJ(b_[r]))),
            (Grid((m, 1), lambda r, c: chain_sum(b_[r])),
             Grid((m, 1), lambda r, c: sp.Sum(G_[d, r], (d, 1, B))),
             results["gradBias"])))
    chain = Section("Batch chain rule",
                    r"The loss depends on every element of $\mathbf{Y}$, so each gradient "
                    r"sums over samples $t$ and outputs $i$.", [prove(step) for step in steps])
    return (forward, jacobians, chain)


def linear_example(weight, bias, input, grad_output, learning_rate: float) -> Derivation:
    """The tutorial's numeric steps for one sample: W^T g, g x^T, g and the updates.

    Numbers are taken as given (floats, nested lists or numpy arrays), every displayed
    equality is checked entry by entry, and the results are the last form of each step.
    """
    W = _matrix("weight", weight, 2)
    rows, cols = W.shape
    b = _matrix("bias", bias, 1, rows)
    x = _matrix("input", input, 1, cols)
    g = _matrix("grad_output", grad_output, 1, rows)
    eta = _number("learning_rate", learning_rate)

    def grid(M: sp.Matrix) -> Grid:
        return Grid(tuple(sp.Integer(d) for d in M.shape), lambda r, c: M[int(r) - 1, int(c) - 1])

    def products(A: sp.Matrix, Bm: sp.Matrix) -> Grid:
        # Each entry a sum of products, unevaluated, the way the tutorial multiplies by hand.
        def entry(r, c):
            terms = [sp.Mul(A[int(r) - 1, d], Bm[d, int(c) - 1], evaluate=False)
                     for d in range(A.shape[1])]
            return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)
        return Grid((sp.Integer(A.shape[0]), sp.Integer(Bm.shape[1])), entry)

    grad_input, grad_weight = W.T * g, g * x.T
    new_weight, new_bias = W - eta * grad_weight, b - eta * g
    notation = Notation({}, {}, LOSS, sp.IndexedBase("y"), sp.IndexedBase("g"), (rows, 1))

    def prove(step: Step) -> Step:
        return proved(step, notation, ())

    WT_g = r"\mathbf{W}^{T}\frac{\partial J}{\partial \mathbf{y}}"
    g_xT = r"\frac{\partial J}{\partial \mathbf{y}}\mathbf{x}^{T}"
    sections = [
        Section("updateGradInput", r"gradInput for the given $\mathbf{x}$ and "
                r"$\partial J / \partial \mathbf{y}$:", [prove(Step(
            Named(_frac("J", r"\mathbf{x}"), grid(grad_input)),
            (Named(WT_g, grid(grad_input)), Product((grid(W.T), grid(g))),
             products(W.T, g), grid(grad_input))))]),
        Section("accGradParameters", "gradWeight and gradBias after zeroGradParameters "
                "and one accGradParameters with scale 1:", [
                    prove(Step(Named(_frac("J", r"\mathbf{W}"), grid(grad_weight)),
                               (Named(g_xT, grid(grad_weight)),
                                Product((grid(g), Transposed(grid(x)))),
                                products(g, x.T), grid(grad_weight)))),
                    prove(Step(Named(_frac("J", r"\mathbf{b}"), grid(g)),
                               (Named(r"\frac{\partial J}{\partial \mathbf{y}}", grid(g)),
                                grid(g))))]),
        Section("updateParameters", f"One step with learning rate {_show(eta)}:", [
            prove(Step(Named(r"\mathbf{W} - \eta \Delta_\mathbf{W}", grid(new_weight)),
                       (Plus((grid(W), Scaled(-eta, grid(grad_weight)))), grid(new_weight)))),
            prove(Step(Named(r"\mathbf{b} - \eta \Delta_\mathbf{b}", grid(new_bias)),
                       (Plus((grid(b), Scaled(-eta, grid(g)))), grid(new_bias))))]),
    ]
    results = {
        "dJ/dx": Result(_frac("J", r"\mathbf{x}"), grad_input, (cols,)),
        "dJ/dW": Result(_frac("J", r"\mathbf{W}"), grad_weight, (rows, cols)),
        "dJ/db": Result(_frac("J", r"\mathbf{b}"), g, (rows,)),
        "W": Result(r"\mathbf{W}", new_weight, (rows, cols)),
        "b": Result(r"\mathbf{b}", new_bias, (rows,)),
    }
    return Derivation(f"nn.Linear({cols} -> {rows}): a worked example", sections,
                      sizes={}, results=results)


def _show(value: sp.Expr) -> str:
    return f"{float(value):.12g}"


def _number(name: str, value: object) -> sp.Float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {number}")
    return sp.Float(number, 15)


def _matrix(name: str, value: object, rank: int, length: int | None = None) -> sp.Matrix:
    """A nested list or array of real numbers as a sympy column (rank 1) or matrix (rank 2)."""
    import numpy as np

    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}") from None
    if array.ndim != rank or array.size == 0:
        expected = "a non-empty matrix (rows, cols)" if rank == 2 else "a non-empty vector"
        raise ValueError(f"{name} must be {expected}, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers")
    array = array.reshape(-1, 1) if rank == 1 else array
    return sp.Matrix(array.shape[0], array.shape[1], lambda r, c: sp.Float(float(array[r, c]), 15))

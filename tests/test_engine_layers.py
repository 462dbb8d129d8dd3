"""Activations and MSECriterion as engine specs: derived by sympy, proved, rendered."""

import re

import numpy as np
import pytest
import sympy as sp

from derive.latex import markdown, summary
from derive.symbolic.activation import ACTIVATIONS, GRAD_OUTPUT, INPUT, OUTPUT, activation, z
from derive.symbolic.criterion import MSESpec, mse


def as_numpy(expr: sp.Expr):
    return sp.lambdify((INPUT, OUTPUT, GRAD_OUTPUT), expr, "numpy")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_gradient_matches_finite_differences_of_f(name):
    spec = ACTIVATIONS[name]
    f = sp.lambdify(z, spec.f, "numpy")
    x = np.array([-2.0, -0.3, 0.4, 1.7])  # away from ReLU's kink
    g = np.array([0.5, -1.0, 2.0, 3.0])
    y = f(x)
    numeric = g * (f(x + 1e-6) - f(x - 1e-6)) / 2e-6
    np.testing.assert_allclose(as_numpy(spec.gradient())(x, y, g), numeric, rtol=1e-7, atol=1e-9)


def test_torchs_output_forms_and_relu_convention():
    assert ACTIVATIONS["sigmoid"].gradient() == GRAD_OUTPUT * OUTPUT * (1 - OUTPUT)
    assert ACTIVATIONS["tanh"].gradient() == GRAD_OUTPUT * (1 - OUTPUT**2)
    relu = ACTIVATIONS["relu"].gradient()
    assert relu.subs({INPUT: 0, GRAD_OUTPUT: 1}) == 0  # Torch: no gradient at 0
    assert relu.subs({INPUT: 2, GRAD_OUTPUT: 3}) == 3


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_activation_derivation_renders_a_diagonal_jacobian(name):
    md = markdown(activation(name, 3, batch=2))
    assert r"\delta_{ik}" in md
    jacobian = md[md.index("The whole Jacobian"):]
    evaluated = re.findall(r"\\begin\{bmatrix\}\n(.*?)\\end\{bmatrix\}", jacobian, flags=re.S)[1]
    rows = [row.split("&") for row in evaluated.strip().split("\n")]
    assert len(rows) == 3
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            cell = cell.replace(r"\\", "").strip()
            assert (cell == "0") == (r != c), (r, c, cell)  # diagonal, and only diagonal
    assert r"\odot" in md


def test_activation_summary_and_errors():
    results = summary(activation("sigmoid", 4))["results"]
    assert results["dJ/dx"]["shape"] == [4]
    assert results["dJ/dx"]["latex"].endswith(
        r"\frac{\partial J}{\partial \mathbf{y}} \odot \mathbf{y} \odot \left(1 - \mathbf{y}\right)")
    with pytest.raises(ValueError, match="unknown activation"):
        activation("softmax", 3)
    with pytest.raises(ValueError, match="positive integer"):
        activation("tanh", 0)


def test_large_activation_is_truncated():
    md = markdown(activation("tanh", 100000))
    assert r"\ddots" in md and "x_{100000}" in md


@pytest.mark.parametrize("size_average,batch,coefficient", [
    (True, None, sp.Rational(2, 5)), (False, None, 2), (True, 3, sp.Rational(2, 15))])
def test_mse_gradient_is_c_times_the_difference(size_average, batch, coefficient):
    derivation = mse(5, size_average=size_average, batch=batch)
    spec = MSESpec(size_average=size_average, batch=batch is not None)
    assert spec.coefficient().subs(derivation.sizes) == coefficient
    # Against a direct numeric gradient of the mean of squares.
    rng = np.random.default_rng(1)
    shape = (batch, 5) if batch else (5,)
    yhat, y = rng.normal(size=shape), rng.normal(size=shape)
    J = lambda p: np.sum((p - y) ** 2) / (yhat.size if size_average else 1)  # noqa: E731
    numeric = np.zeros(yhat.size)
    for k in range(yhat.size):
        e = np.zeros(yhat.size)
        e[k] = 1e-6
        numeric[k] = (J(yhat + e.reshape(shape)) - J(yhat - e.reshape(shape))) / 2e-6
    np.testing.assert_allclose(float(coefficient) * (yhat - y).ravel(), numeric, rtol=1e-6)


def test_mse_markdown():
    md = markdown(mse(3))
    assert r"\frac{2}{3} \left(\hat{\mathbf{y}} - \mathbf{y}\right)" in md
    for block in re.findall(r"\$\$\n(.*?)\n\$\$", md, flags=re.S):
        assert block.count(r"\begin{") == block.count(r"\end{")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_sequential_is_the_product_of_the_modules_jacobians(name):
    from derive.symbolic import sequential

    derivation = sequential(2, 3, 1, activation=name)
    titles = [s.title for s in derivation.sections]
    assert titles == ["Forward", "Jacobian of the stack", "Backward, module by module"]
    md = markdown(derivation)
    assert r"\mathbf{W}_2 \, \operatorname{diag}" in md
    assert md.count(r"\begin{bmatrix}") >= 10


def test_sequential_rejects_big_or_unknown():
    from derive.symbolic import sequential

    with pytest.raises(ValueError, match="at most"):
        sequential(2, 30, 1)
    with pytest.raises(ValueError, match="unknown activation"):
        sequential(activation="softplus")


def test_a_wrong_output_form_is_refused(monkeypatch):
    """Torch's output form of f' is proved before the stack (or a kernel) may use it."""
    import importlib

    from derive.symbolic import ProofError, sequential

    act = importlib.import_module("derive.symbolic.activation")
    wrong = act.ActivationSpec("Tanh", r"\tanh", sp.tanh(z), "output", 1 - OUTPUT)
    monkeypatch.setitem(act.ACTIVATIONS, "tanh", wrong)
    with pytest.raises(ProofError, match="Tanh"):
        sequential(2, 2, 1, activation="tanh")
    with pytest.raises(ProofError, match="Tanh"):
        wrong.gradient()

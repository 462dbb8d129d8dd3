"""Torch's modules as one-expression specs on the engine: `derive linear`, `sigmoid`, `tanh`,
`relu`, `mse` and `sequential` are the engine's derivations, read like the tutorial."""

import re

import numpy as np
import pytest
import sympy as sp

import derive
from derive.cli import main
from derive.latex import markdown, summary
from derive.symbolic import ProofError, activation, linear, mse, sequential, worked_example
from derive.symbolic.specs import LINEAR

# The tutorial's numbers (Torch prints four decimals of its random weights).
BLOG_W = [[0.1453, 0.5062], [0.0635, 0.4911], [-0.1080, 0.1747]]
BLOG_B = [0.2063, -0.1635, -0.0883]
BLOG_X = [4, 5]
BLOG_DJ_DY = [1, 2, 3]


def matrices(*names_and_shapes):
    return [sp.MatrixSymbol(name, *shape) for name, shape in names_and_shapes]


def test_linear_results_are_the_tutorials_closed_forms():
    d = linear(2, 3)
    n, m = sorted(d.sizes, key=lambda s: d.sizes[s])  # n = 2 inputs, m = 3 outputs
    W, x, b, g = matrices(("W", (m, n)), ("x", (n, 1)), ("b", (m, 1)), ("g", (m, 1)))
    assert d.results["dJ/dx"].expr == W.T * g
    assert d.results["dJ/dW"].expr == g * x.T
    assert d.results["dJ/db"].expr == g
    # numerator layout: the tutorial's dy/dx = W, dy/db = I; dy/dW has three indices
    assert d.results["dy/dx"].expr == W and d.results["dy/db"].expr == sp.Identity(m)
    assert {k: [int(sp.sympify(s).subs(d.sizes)) for s in r.shape] for k, r in d.results.items()} == {
        "dy/dx": [3, 2], "dy/dW": [3, 3, 2], "dy/db": [3, 3], "dJ/dx": [2], "dJ/dW": [3, 2], "dJ/db": [3]}


def test_linear_batch_results_are_the_forms_the_tutorial_skipped():
    d = linear(2, 3, batch=5)
    forms = {k: str(r.expr) for k, r in d.results.items() if k.startswith("dJ") and k.endswith("(batch)")}
    assert forms == {"dJ/dX (batch)": "G*W", "dJ/dW (batch)": "G.T*X", "dJ/db (batch)": "G.T*1"}


def test_derive_linear_is_derive_layer_on_the_same_expression(capsys):
    assert main(["linear", "2", "3"]) == 0
    linear_text = capsys.readouterr().out
    assert main(["layer", LINEAR, "--shape", "x=2", "--shape", "W=3,2"]) == 0
    layer_text = capsys.readouterr().out
    assert linear_text.startswith("# nn.Linear(2 -> 3)\n")
    # The same steps: everything after the title line.
    assert linear_text.split("\n", 1)[1] == layer_text.split("\n", 1)[1]


def test_linear_shows_the_tutorials_steps_in_its_notation():
    md = markdown(linear(2, 3))
    # y = W x + b, the operands written out, then the elements, as the tutorial does.
    assert "&= \\mathbf{W} \\mathbf{x} + \\mathbf{b} \\\\\n&= \\begin{bmatrix}\nw_{11} & w_{12} \\\\" in md
    assert "w_{11} x_{1} + w_{12} x_{2} + b_{1}" in md
    # The Jacobians: dy/dx = W, dy/db = I, and dy/dW's non-zero slice 1 x^T.
    assert "&= \\mathbf{W}\n" in md and "&= \\mathbf{I}\n" in md
    assert "\\delta_{ik} x_{l}" in md and "&= \\mathbf{1} \\mathbf{x}^{T}\n" in md
    # The chain rule: (dy/dx)^T dJ/dy, then W^T dJ/dy; [dJ/dy][x]^T, then dJ/dy x^T.
    assert "\\end{bmatrix}^{T}\n\\begin{bmatrix}\n\\frac{\\partial J}{\\partial y_{1}}" in md
    assert "&= \\mathbf{W}^{T} \\frac{\\partial J}{\\partial \\mathbf{y}}" in md
    assert "&= \\frac{\\partial J}{\\partial \\mathbf{y}} \\mathbf{x}^{T}" in md
    # The three Module calls.
    assert "\\Delta_{\\mathbf{b}} + \\mathrm{scale} \\frac{\\partial J}{\\partial \\mathbf{b}}" in md
    assert "\\mathbf{W} - \\eta \\Delta_{\\mathbf{W}}" in md


def test_linear_without_bias_and_its_size_free_derivation():
    d = linear(4, 2, bias=False)
    assert set(d.results) == {"dy/dx", "dy/dW", "dJ/dx", "dJ/dW"} and d.title == "nn.Linear(4 -> 2) without bias"
    small, big = linear(2, 3), linear(1000, 700)
    assert [s.title for s in small.sections] == [s.title for s in big.sections]
    assert sorted(small.sizes.values()) == [2, 3] and sorted(big.sizes.values()) == [700, 1000]


@pytest.mark.parametrize("value,error", [(0, ValueError), (-3, ValueError), (2.0, TypeError),
                                         (True, TypeError), ("3", TypeError)])
def test_sizes_must_be_positive_integers(value, error):
    with pytest.raises(error, match="^linear: n_in must be a positive int, got "):
        linear(value, 3)
    with pytest.raises(error, match="^linear: batch must be a positive int, got "):
        linear(2, 3, batch=value)


def test_worked_example_reproduces_the_tutorials_numbers():
    example = worked_example(BLOG_W, BLOG_B, BLOG_X, BLOG_DJ_DY, 0.02)
    W_, g_ = np.array(BLOG_W), np.array(BLOG_DJ_DY, dtype=float)
    value = {k: np.array(r.expr.tolist(), dtype=float) for k, r in example.results.items()}
    np.testing.assert_allclose(value["dJ/dx"].ravel(), W_.T @ g_)
    # The tutorial prints -0.0516 and 2.0126 from weights it shows rounded to 4 decimals.
    np.testing.assert_allclose(value["dJ/dx"].ravel(), [-0.0516, 2.0126], atol=2e-4)
    np.testing.assert_array_equal(value["dJ/dW"], [[4, 5], [8, 10], [12, 15]])
    np.testing.assert_array_equal(value["dJ/db"].ravel(), [1, 2, 3])
    np.testing.assert_allclose(value["W"], [[0.0653, 0.4062], [-0.0965, 0.2911], [-0.3480, -0.1253]],
                               atol=1e-12)
    np.testing.assert_allclose(value["b"].ravel(), [0.1863, -0.2035, -0.1483], atol=1e-12)
    md = markdown(example)
    assert r"0.1453 \times 1 + 0.0635 \times 2 - 0.108 \times 3 \\" in md  # summed by hand
    assert r"\mathbf{W}^{T} \frac{\partial J}{\partial \mathbf{y}}" in md  # the engine's form


def test_worked_example_checks_every_form_it_shows(monkeypatch):
    from derive.symbolic import example

    monkeypatch.setattr(example, "_products", lambda A, B: example._grid(2 * A * B))
    with pytest.raises(ProofError, match="worked example"):
        worked_example(BLOG_W, BLOG_B, BLOG_X, BLOG_DJ_DY, 0.02)


@pytest.mark.parametrize("bad,error", [
    (dict(weight=[1, 2]), ValueError),
    (dict(bias=[1, 2]), ValueError),
    (dict(input=[[4, 5]]), ValueError),
    (dict(grad_output=["a", "b", "c"]), TypeError),
    (dict(learning_rate="0.02"), TypeError),
    (dict(learning_rate=float("nan")), ValueError),
])
def test_worked_example_rejects_bad_numbers(bad, error):
    args = dict(weight=BLOG_W, bias=BLOG_B, input=BLOG_X, grad_output=BLOG_DJ_DY, learning_rate=0.02)
    args.update(bad)
    with pytest.raises(error):
        worked_example(**args)


@pytest.mark.parametrize("name,form", [
    ("sigmoid", r"\frac{\partial J}{\partial \mathbf{y}} \odot \mathbf{y} \odot \left(\mathbf{1} - \mathbf{y}\right)"),
    ("tanh", r"\frac{\partial J}{\partial \mathbf{y}} \odot \left(\mathbf{1} - \mathbf{y}^{\odot 2}\right)"),
    ("relu", r"\frac{\partial J}{\partial \mathbf{y}} \odot \left[\mathbf{x} > 0\right]"),
])
def test_activations_read_torchs_forms_and_have_a_diagonal_jacobian(name, form):
    d = activation(name, 3, batch=2)
    assert d.title.startswith("nn.") and d.title.endswith("on 3 inputs, batch of 2")
    assert summary(d)["results"]["dJ/dx"]["latex"].endswith(form)
    md = markdown(d)
    jacobian = md[md.index("The whole Jacobian"):]
    evaluated = re.findall(r"\\begin\{bmatrix\}\n(.*?)\\end\{bmatrix\}", jacobian, flags=re.S)[2]
    rows = [row.split("&") for row in evaluated.strip().split("\n")]
    assert len(rows) == 3
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            assert (cell.replace("\\\\", "").strip() == "0") == (r != c), (r, c, cell)


def test_relu_has_no_gradient_at_its_kink():
    from derive.symbolic.specs import activation_results

    _, gradient, reads = activation_results("relu")
    x, g = sp.Symbol("input", real=True), sp.Symbol("grad_output", real=True)
    assert reads == "input"
    assert gradient.subs({x: 0, g: 1}) == 0 and gradient.subs({x: 2, g: 3}) == 3


def test_activation_errors_and_truncation():
    with pytest.raises(ValueError, match="unknown activation"):
        activation("softmax", 3)
    with pytest.raises(ValueError, match="^tanh: n must be a positive int, got 0$"):
        activation("tanh", 0)
    md = markdown(activation("tanh", 100000))
    assert r"\ddots" in md and "x_{100000}" in md


@pytest.mark.parametrize("size_average,batch", [(True, None), (False, None), (True, 3), (False, 3)])
def test_mse_gradient_is_torchs(size_average, batch):
    """Torch's MSECriterion: the mean over every element (the sum without sizeAverage),
    for one sample and a batch alike; the engine's result against the gradient of numpy's J."""
    d = mse(5, size_average=size_average, batch=batch)
    result = d.results["dJ/dX (batch)" if batch else "dJ/dx"]
    rng = np.random.default_rng(1)
    shape = (batch, 5) if batch else (5,)
    x, t = rng.normal(size=shape), rng.normal(size=shape)
    column = (lambda a: a.reshape(-1, 1)) if not batch else (lambda a: a)
    values = {s: sp.Matrix(column(x if s.name.lower() == "x" else t)) for s in result.expr.atoms(sp.MatrixSymbol)}
    got = np.array(result.expr.xreplace(values).subs(d.sizes).doit().tolist(), dtype=float).reshape(shape)
    np.testing.assert_allclose(got, 2 * (x - t) / (x.size if size_average else 1), rtol=1e-12)


def test_mse_shows_torchs_form():
    md = markdown(mse(3))
    assert r"\frac{\partial J}{\partial \mathbf{x}}" in md
    assert r"&= \frac{2}{3} \left(\mathbf{x} - \mathbf{t}\right)" in md
    assert r"\operatorname{tr}" not in md


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_sequential_is_the_chain_rule_through_one_expression(name):
    d = sequential(2, 3, 2, activation=name)
    assert d.title.startswith("nn.Sequential: Linear(2 -> 3) -> ")
    forms = {k: str(r.expr) for k, r in d.results.items()}
    # What Sequential.backward computes module by module, read from the right.
    assert forms["dJ/dx"].startswith("W1.T*") and "W2.T*g" in forms["dJ/dx"]
    assert forms["dJ/dW1"].endswith("*x.T") and forms["dJ/db2"] == "g"


def test_sequential_is_size_free_and_rejects_an_unknown_activation():
    assert sequential(40, 50, 30, activation="relu").sections  # was minutes, proved entry by entry
    with pytest.raises(ValueError, match="unknown activation"):
        sequential(activation="softplus")


def test_element_names_follow_the_tutorial_unless_they_clash():
    d = derive.layer("y = W2 @ tanh(W1 @ x + b1) + b2", {"x": (2,), "W1": (3, 2), "W2": (2, 3)})
    assert d.names == {"W2": "w^{(2)}", "W1": "w^{(1)}", "b1": "b^{(1)}", "b2": "b^{(2)}"}
    # w is taken by another array: W keeps its capital
    d = derive.layer("y = W @ x + w", {"x": (2,), "W": (3, 2)})
    assert "W" not in d.names

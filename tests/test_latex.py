"""The LaTeX the engine emits: the tutorial's notation, well-formed, truncated when large."""

import re
import shutil
import subprocess

import pytest

import derive
from derive.latex import document, markdown, summary
from derive.symbolic import linear, worked_example


def balanced(tex: str) -> None:
    """Environments nest, braces and \\left/\\right pair up."""
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+\*?)\}", tex):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"unbalanced \\end{{{name}}}"
    assert not stack, f"unclosed environments {stack}"
    depth = 0
    for token in re.findall(r"\\[{}]|[{}]", tex):
        if token in ("{", "}"):
            depth += 1 if token == "{" else -1
            assert depth >= 0, "a } closes nothing"
    assert depth == 0, "unclosed {"
    assert len(re.findall(r"\\left\b", tex)) == len(re.findall(r"\\right\b", tex))


def math_blocks(md: str) -> list[str]:
    return re.findall(r"\$\$\n(.*?)\n\$\$", md, flags=re.S)


def test_markdown_math_blocks_are_well_formed_and_arithmatex_ready():
    md = markdown(linear(2, 3, batch=4))
    blocks = math_blocks(md)
    assert len(blocks) > 10
    for block in blocks:
        balanced(block)
        assert "\n\n" not in block  # arithmatex: no blank line inside a math block
    assert md.count("$$") == 2 * len(blocks)


def test_tutorial_notation_and_its_slips_fixed():
    md = markdown(linear(2, 3))
    assert r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}}" in md
    assert r"\begin{bmatrix}" in md and r"\begin{aligned}" in md
    # Every element partial has its \partial in the numerator (the tutorial lost one).
    assert r"\frac{\partial \left(w_{11} x_{1} + w_{12} x_{2} + b_{1}\right)}{\partial x_{1}}" in md
    assert r"\frac{w_{11}" not in md
    # dJ/db: the i-th row pairs dJ/dy_i with dy_i/db_i (the tutorial wrote y_1 against b_2).
    assert r"\frac{\partial J}{\partial y_{2}} \frac{\partial y_{2}}{\partial b_{2}}" in md
    assert r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{2}} \\" not in md
    # The bias update uses Delta_b, not Delta_W.
    assert r"\Delta_{\mathbf{b}} + \mathrm{scale} \frac{\partial J}{\partial \mathbf{b}}" in md
    # dy/dW is three-index: the tutorial's table is stated as its non-zero slice.
    assert r"\delta_{ik} x_{l}" in md and "only non-zero entries" in md


def test_worked_example_sums_products_instead_of_a_matrix_of_products():
    md = markdown(worked_example([[0.1453, 0.5062], [0.0635, 0.4911], [-0.1080, 0.1747]],
                                 [0.2063, -0.1635, -0.0883], [4, 5], [1, 2, 3], 0.02))
    assert r"0.1453 \times 1 + 0.0635 \times 2 - 0.108 \times 3 \\" in md
    assert "-0.0517" in md and "2.0125" in md
    for block in math_blocks(md):
        balanced(block)


def test_large_layers_are_truncated_and_cost_no_more_text():
    small, big = markdown(linear(5, 5, batch=5)), markdown(linear(100000, 100000, batch=100000))
    assert r"\cdots" in big and r"\vdots" in big and r"\ddots" in big
    assert "w_{100000,100000}" in big and "w_{1,3}" not in big
    assert len(big) < 1.5 * len(small)
    for block in math_blocks(big):
        balanced(block)


def test_small_layers_are_shown_whole():
    md = markdown(linear(4, 4))
    assert r"\cdots" not in md and r"\ddots" not in md
    assert "w_{44}" in md


def test_summary_has_six_results_with_concrete_shapes():
    out = summary(linear(2, 3))
    assert {k: v["shape"] for k, v in out["results"].items()} == {
        "dy/dx": [3, 2], "dy/dW": [3, 3, 2], "dy/db": [3, 3],
        "dJ/dx": [2], "dJ/dW": [3, 2], "dJ/db": [3]}
    assert out["results"]["dJ/dx"]["expression"] == "W.T*g"
    assert out["results"]["dJ/dW"]["latex"].endswith(r"\mathbf{x}^{T}")


def test_document_is_well_formed():
    tex = document(linear(3, 2, batch=2))
    balanced(tex)
    assert tex.startswith(r"\documentclass{article}")
    assert r"\usepackage{amsmath}" in tex


def _derivations():
    from derive.symbolic import activation, mse, sequential

    return {
        "linear 2 3": lambda: linear(2, 3),
        "linear 7 9 batch 6": lambda: linear(7, 9, batch=6),
        "sigmoid 3 batch 2": lambda: activation("sigmoid", 3, batch=2),
        "relu 3": lambda: activation("relu", 3),
        "mse 3 batch 2": lambda: mse(3, batch=2),
        "sequential": lambda: sequential(2, 3, 1, activation="tanh"),
        # The sizes a new user tried: each ran off the page before the display was fitted.
        "linear 784 256 batch 64": lambda: linear(784, 256, batch=64),
        "linear 2 3 batch 4": lambda: linear(2, 3, batch=4),
        "linear 64 64 batch 8 no bias": lambda: linear(64, 64, batch=8, bias=False),
        "tanh 5 batch 3": lambda: activation("tanh", 5, batch=3),
        "mse 7 batch 3 summed": lambda: mse(7, batch=3, size_average=False),
        "sequential 4 5 3": lambda: sequential(4, 5, 3),
        # The layer engine's documents, whose prose names the module calls in code.
        "layer tanh 784 256 batch 64": lambda: derive.layer("y = tanh(W @ x + b)", {"x": (784,), "W": (256, 784)},
                                                            batch=64),
        "layer conv1d": lambda: derive.layer("y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]",
                                             {"x": (2, 6), "W": (3, 2, 3)}),
    }


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("name", list(_derivations()))
def test_document_compiles_with_pdflatex(tmp_path, name):
    (tmp_path / "d.tex").write_text(document(_derivations()[name]()))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "d.pdf").stat().st_size > 1000
    # Everything fits the text block: no line more than 10pt wider than it.
    log = (tmp_path / "d.log").read_text(errors="replace")
    overfull = [float(width) for width in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert "Overfull \\hbox" not in log or overfull, "the log's format changed"
    assert [width for width in overfull if width > 10] == []


def test_markdown_code_is_typewriter_in_a_document():
    tex = document(linear(2, 3))
    assert r"\texttt{zeroGradParameters}" in tex and r"\texttt{updateParameters(learningRate)}" in tex
    assert "`" not in tex


def test_the_loss_of_one_sample_is_a_sum_of_squares_not_a_trace():
    from derive.symbolic import mse

    single = markdown(mse(3))
    assert r"\operatorname{tr}" not in single
    assert r"\mathbf{1}^{T} \left(\mathbf{x} - \mathbf{t}\right)^{\odot 2}" in single


def test_fixed_decimals_keep_trailing_zeros():
    tex = markdown(worked_example([[0.1453, 0.5062], [0.0635, 0.4911], [-0.1080, 0.1747]],
                                  [0.2063, -0.1635, -0.0883], [4, 5], [1, 2, 3], 0.02), decimals=4)
    assert "-0.1080" in tex and "0.0200" in tex
    assert not re.search(r"-0\.108(?!\d)", tex)


def test_a_sum_written_out_is_bracketed_as_a_factor_and_after_a_minus():
    # A concrete-range sum prints as a + b + c; as the last factor of a product, in a
    # quotient's numerator or denominator, or negated after another sample's terms, it
    # needs brackets (log-softmax's chain rule and a batch's mean of losses).
    import sympy as sp

    from derive.latex import BlogPrinter

    g, x = sp.IndexedBase("a"), sp.IndexedBase("x")
    i, k = sp.symbols("i k", integer=True)
    sum_g = sp.Sum(g[i], (i, 1, 3))
    sum_exp = sp.Sum(sp.exp(x[i]), (i, 1, 3))
    printer = BlogPrinter()
    quotient = printer.doprint(sp.exp(x[k]) * sum_g / (2 * sum_exp))
    assert r"e^{x_{k}} \left(a_{1} + a_{2} + a_{3}\right)" in quotient
    assert r"2 \left(e^{x_{1}} + e^{x_{2}} + e^{x_{3}}\right)" in quotient
    negated = printer.doprint(sp.Sum(-sp.Sum(g[i] * x[k], (i, 1, 2)), (k, 1, 2)))
    assert negated == r"-\left(x_{1} a_{1} + x_{1} a_{2}\right) - \left(x_{2} a_{1} + x_{2} a_{2}\right)"


def test_program_names_read_as_names():
    """A program's scalars and adjoints are written as any name: mu as mu, var upright, the
    adjoint of xhat as an overlined x-hat, never \\mathrm{\\overline{xhat}} or a bare word."""
    import derive
    from derive.latex import adjoint_latex, markdown

    assert adjoint_latex(r"\overline{xhat}") == r"\overline{\hat{x}}"
    assert adjoint_latex(r"\overline{mu}") == r"\bar{\mu}"
    assert adjoint_latex("g^{y}", bold=True) == r"\mathbf{g}^{y}"
    assert adjoint_latex("xhat") is None
    text = markdown(derive.layer("mu = mean(x); xc = x - mu; var = mean(xc**2); "
                                 "xhat = xc / sqrt(var + 1e-5); y = gamma * xhat + beta", {"x": (5,)}))
    lines = text.splitlines()
    assert r"\mu" in lines and r"\mathrm{var}" in lines and r"\bar{\mu}" in lines
    assert "mu" not in lines and "var" not in lines
    assert r"\mathrm{\bar" not in text and r"\mathrm{\overline" not in text and r"\mathrm{g^" not in text
    assert r"\overline{\hat{x}}_{k}" in text

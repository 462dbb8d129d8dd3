"""How results read: the layer language's notation in Python, names and numbers as a reader
writes them in LaTeX, errors in the language's words, and notebooks' rich display."""

import re
import shutil
import subprocess

import pytest
import sympy as sp

import derive
from derive.latex import BlogPrinter, document, markdown, name_latex, number, summary
from derive.symbolic.language import LayerSyntaxError
from derive.symbolic.notation import notation

GATED = ("y = (W @ x) * sigmoid(V @ x)", {"x": (3,), "W": (2, 3), "V": (2, 3)})
LAYERNORM = ("y = (x - mean(x)) / sqrt(mean((x - mean(x))**2) + 1e-5) * gamma + beta", {"x": (4,)})


def test_a_result_prints_in_the_language_not_sympys_internals():
    results = derive.layer(*GATED).results
    assert str(results["dJ/dW"]) == "(g * sigmoid(V @ x)) @ x.T"
    assert str(results["dJ/dV"]) == "(g * (W @ x) * sigmoid(V @ x) * (1 - sigmoid(V @ x))) @ x.T"
    tanh = derive.layer("y = tanh(W @ x + b)", {"x": (3,), "W": (2, 3)}, batch=2).results
    assert str(tanh["dJ/dx"]) == "W.T @ (g * (1 - y**2))"
    assert str(tanh["dJ/db"]) == "g * (1 - y**2)"
    assert str(tanh["dJ/dX (batch)"]) == "(G * (1 - Y**2)) @ W"
    assert str(derive.layer("y = exp(x) / sum(exp(x))", {"x": (3,)}).results["dJ/dx"]) == "y * (g - sum(g * y))"
    assert str(derive.layer("J = mean((x - t)**2)", {"x": (3,)}, target="t").results["dJ/dx"]) == "(2 / n) * (x - t)"
    assert summary(derive.layer(*GATED))["results"]["dJ/dW"]["notation"] == "(g * sigmoid(V @ x)) @ x.T"
    for result in list(results.values()) + list(tanh.values()):
        assert not re.search(r"HadamardProduct|Lambda|MatMul|_z|KroneckerDelta|Sum\(", str(result)), result


def test_index_forms_read_as_index_notation():
    conv = derive.layer("y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]", {"x": (2, 6), "W": (3, 2, 3)}).results
    assert str(conv["dJ/dW"]) == "sum(g[j, t] * x[k, l + t - 1], t)"
    assert str(conv["dy/db"]) == "delta(c, j)"
    assert str(conv["dy/dx"]).startswith("where(")


def test_numbers_read_as_written():
    x = sp.Symbol("x")
    assert notation(sp.Float(0.5) * x) == "0.5 * x"
    assert notation(sp.Float(1e-5) + x) in ("x + 1e-5", "1e-5 + x")
    assert notation(-x / 2) == "-x / 2"
    assert [number(v) for v in (1e-5, 2.5e-7, 0.5, -1e-12, 123.0)] == [
        "10^{-5}", r"2.5 \times 10^{-7}", "0.5", "-10^{-12}", "123"]
    assert BlogPrinter().doprint(sp.Float(0.5) * x) == "0.5 x"


def test_names_read_as_a_reader_writes_them():
    assert [name_latex(n) for n in ("gamma", "gamma1", "beta", "mu", "sigma", "eps", "var", "xhat", "x", "W1")] == [
        r"\gamma", r"\gamma_{1}", r"\beta", r"\mu", r"\sigma", r"\varepsilon", r"\mathrm{var}", r"\hat{x}", "x",
        "W_{1}"]
    assert [name_latex(n, bold=True) for n in ("gamma", "xhat", "W", "W2", "var")] == [
        r"\boldsymbol{\gamma}", r"\hat{\mathbf{x}}", r"\mathbf{W}", r"\mathbf{W}_{2}", r"\mathbf{var}"]
    page = markdown(derive.layer(*LAYERNORM))
    assert r"\gamma_{1}" in page and r"\beta_{1}" in page and r"\boldsymbol{\gamma}" in page
    assert "10^{-5}" in page
    assert not re.search(r"(?<!\\)gamma_\{|\\mathbf\{gamma\}|1e-05|1\.0e-5|0\.500000", page)
    # the existing names keep their rendering
    linear = markdown(derive.layer("y = W @ x + b", {"x": (2,), "W": (3, 2)}))
    assert r"\mathbf{W}" in linear and "w_{12}" in linear and not re.search(r"\\mathrm\{(?!scale)", linear)


def test_hat_and_word_names_in_a_layer():
    text = markdown(derive.layer("y = gamma1 * xhat + var", {"xhat": (3,)}, input="xhat"))
    assert r"\hat{x}_{1}" in text and r"\gamma^{(1)}_{1}" in text and r"\mathrm{var}_{1}" in text
    assert r"\hat{\mathbf{x}}" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_greek_hat_and_word_names_compile_with_pdflatex(tmp_path):
    (tmp_path / "d.tex").write_text(document(derive.layer("y = gamma * xhat / sqrt(var + 1e-5) + beta",
                                                          {"xhat": (3,), "var": (3,)}, input="xhat")))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def test_a_derivation_and_a_result_show_themselves_in_a_notebook():
    derivation = derive.layer(*GATED)
    shown = derivation._repr_markdown_()
    assert shown.startswith("## y = (W @ x) * sigmoid(V @ x)") and "$$\n" in shown
    assert shown == markdown(derivation, heading_level=2)
    latex = derivation.results["dJ/dW"]._repr_latex_()
    assert latex.startswith(r"$$ \frac{\partial J}{\partial \mathbf{W}} = ") and latex.endswith(" $$")
    assert r"\odot" in latex and r"\sigma\left(\mathbf{V} \mathbf{x}\right)" in latex


@pytest.mark.parametrize("text, words", [
    ("y = x % 2", "the remainder (%)"),
    ("y = (z := x)", "an assignment expression (:=)"),
    ("y = [a for a in x]", "a list comprehension"),
    ("y = x if x else x", "a conditional (a if c else b)"),
    ("y = x // 2", "floor division (//)"),
    ("y = lambda: x", "a lambda"),
])
def test_errors_speak_the_languages_words(text, words):
    with pytest.raises(LayerSyntaxError) as error:
        derive.layer(text, {"x": (3,)})
    assert f"{words} is not part of the layer language" in str(error.value)
    assert not re.search(r"\b(compare|namedexpr|listcomp|ifexp|floordiv)\b", str(error.value))

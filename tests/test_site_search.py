"""The search index reads as text: the math of every entry as a reader writes it, not TeX."""

import json
import re

import pytest

from derive.site.search import plain_math, readable_search_index


@pytest.mark.parametrize("tex, text", [
    (r"\frac{\partial J}{\partial y_{1}}", "∂J/∂y₁"),
    (r"\frac{\partial J}{\partial \mathbf{W}} = \frac{\partial J}{\partial \mathbf{y}} \mathbf{x}^{T}", "∂J/∂W = ∂J/∂y xᵀ"),
    (r"\begin{bmatrix} w_{11} &amp; w_{12} \\ w_{21} &amp; w_{22} \\ \end{bmatrix}", "[ w₁₁ w₁₂ ; w₂₁ w₂₂ ]"),
    (r"\sqrt{10^{-5} + \frac{x_{1}^{2}}{3}}", "√(10⁻⁵ + x₁²/3)"),
    (r"\hat{\mathbf{x}} \odot \boldsymbol{\gamma}", "x̂ ⊙ γ"),
    (r"\left[x_{i} &gt; 0\right]", "[xᵢ &gt; 0]"),
    (r"\Delta_{\mathbf{W}} \leftarrow 0 \\[1ex] \eta", "Δ_W ← 0 ; η"),
    (r"\sigma\left(\mathbf{V} \mathbf{x}\right) \cdots \operatorname{diag}\left(\mathbf{y}\right)", "σ(V x) ⋯ diag(y)"),
])
def test_plain_math_reads_as_written_by_hand(tex, text):
    assert plain_math(tex) == text


def test_unknown_commands_lose_their_backslash():
    assert plain_math(r"\tanh\left(x\right) + \mathrm{var} + \unknowncommand{y}") == "tanh(x) + var + unknowncommand y"


def test_the_index_keeps_its_code_and_rewrites_its_math():
    index = {"config": {"lang": ["en"]}, "docs": [
        {"location": "linear/", "title": "Linear",
         "text": r"<p>\(\frac{\partial J}{\partial \mathbf{x}}\) is</p> \[ \begin{aligned} y &amp;= \mathbf{W}^{T} g \end{aligned} \] <code>a\b</code>"}]}
    out = json.loads(readable_search_index(json.dumps(index)))
    assert out["config"] == index["config"]
    text = out["docs"][0]["text"]
    assert text == r"<p>∂J/∂x is</p> y = Wᵀ g <code>a\b</code>"
    assert not re.search(r"\\[A-Za-z(\[]", text.replace(r"a\b", ""))

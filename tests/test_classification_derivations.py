"""The engine's derivations of SoftMax, LogSoftMax, ClassNLLCriterion and CrossEntropyCriterion
(derive.symbolic.classification, `derive softmax N` ...): their results evaluated at numbers
agree with derive.nn's modules, the extra proofs hold and fail when they should, the CLI.
"""

import importlib
import json
import shutil
import subprocess

import numpy as np
import pytest
import sympy as sp

from derive import nn
from derive.cli import _CLASSIFICATION, main
from derive.latex import document
from derive.symbolic import ProofError, classification
from derive.symbolic.classification import (CLASSIFICATION_SPECS, crossentropy_chain, index_gradient,
                                            jacobian_in_the_output)

# the module (derive.symbolic's attribute `classification` is the function)
classification_module = importlib.import_module("derive.symbolic.classification")
N = 4


def evaluate(expr, arrays: dict, index: str, size: int) -> np.ndarray:
    """The result's elements for index = 1..size, the arrays' (1-based) elements put in."""
    symbols = {s.name: s for s in expr.free_symbols if isinstance(s, sp.Symbol)}
    if "n" in symbols:
        expr = expr.subs(symbols["n"], N).doit()
    out = []
    for position in range(1, size + 1):
        element_expr = expr.subs(symbols[index], position).doit()
        values = {e: arrays[e.base.label.name][tuple(int(i) - 1 for i in e.indices)]
                  for e in element_expr.atoms(sp.Indexed)}
        out.append(float(element_expr.xreplace(values)))
    return np.array(out)


def test_results_evaluated_agree_with_the_modules():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(N), rng.standard_normal(N)
    t = np.eye(N)[2]
    softmax, logsoftmax = nn.SoftMax(), nn.LogSoftMax()
    s = softmax.forward(x).copy()
    y = logsoftmax.forward(x).copy()
    cases = [
        ("softmax", {"y": s, "g": g}, softmax.backward(x, g)),
        ("logsoftmax", {"y": y, "g": g}, logsoftmax.backward(x, g)),
        ("nll", {"x": y, "t": t}, nn.ClassNLLCriterion().backward(y, 2)),
    ]
    ce = nn.CrossEntropyCriterion()
    ce.forward(x, 2)
    cases.append(("crossentropy", {"x": x, "t": t}, ce.backward(x, 2)))
    for name, arrays, expected in cases:
        result = index_gradient(classification(name, N))
        index = "j" if name == "nll" else "k"
        np.testing.assert_allclose(evaluate(result, arrays, index, N), expected, rtol=1e-12, atol=1e-15)


def test_batch_results_average_the_samples():
    derivation = classification("crossentropy", 3, batch=2)
    assert set(derivation.results) == {"dJ/dx", "dJ/dX (batch)"}
    assert "/B" in str(derivation.results["dJ/dX (batch)"].expr)


def test_the_jacobian_in_the_output_and_the_chain_are_proved():
    for name, written in [("softmax", "y[i]*(KroneckerDelta(i, k) - y[k])"),
                          ("logsoftmax", "KroneckerDelta(i, k) - exp(y[k])")]:
        engine, in_output, _ = jacobian_in_the_output(name, 3)
        names = {s.name: s for s in in_output.free_symbols if isinstance(s, sp.Symbol)}
        y = sp.IndexedBase("y", real=True)
        expected = sp.sympify(written, locals={"y": y, "i": names["i"], "k": names["k"]})
        assert sp.expand(in_output - expected) == 0
        assert not any(e.base.label.name == "y" for e in engine.atoms(sp.Indexed))  # the engine's is in x
    forms = crossentropy_chain(3)
    assert forms[0] == index_gradient(classification("logsoftmax", 3))
    assert forms[-1] == index_gradient(classification("crossentropy", 3))
    with pytest.raises(ValueError, match="name must be softmax or logsoftmax"):
        jacobian_in_the_output("nll", 3)
    with pytest.raises(ValueError, match="name must be one of"):
        classification("softmin", 3)


def test_a_wrong_chain_is_not_proved(monkeypatch):
    # With the sum of exps where its log belongs, it is not LogSoftMax then ClassNLLCriterion.
    monkeypatch.setitem(classification_module.CLASSIFICATION_SPECS, "crossentropy",
                        ("J = -sum(t * (x - sum(exp(x))))", "t"))
    with pytest.raises(ProofError):
        crossentropy_chain(3)


def test_a_wrong_jacobian_in_the_output_is_not_proved(monkeypatch):
    # exp(x) / sum(exp(2 x)) is not the softmax: y (delta - y) is not its Jacobian.
    monkeypatch.setitem(classification_module.CLASSIFICATION_SPECS, "softmax",
                        ("y = exp(x) / sum(exp(2 * x))", None))
    with pytest.raises(ProofError):
        jacobian_in_the_output("softmax", 3)


def test_cli_commands_match_the_specs(capsys):
    assert {name: spec for name, _, spec in _CLASSIFICATION} == {
        name: expr for name, (expr, _) in CLASSIFICATION_SPECS.items()}
    assert main(["softmax", "3"]) == 0
    assert capsys.readouterr().out.startswith("# y = exp(x) / sum(exp(x)) (x (3,))")
    assert main(["crossentropy", "3", "--batch", "2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sizes"] == {"n": 3, "B": 2} and "dJ/dX (batch)" in data["results"]
    for args in (["nll", "0"], ["logsoftmax"], ["crossentropy", "3", "--batch", "x"]):
        with pytest.raises(SystemExit) as exit:
            main(args)
        assert exit.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith(f"derive {args[0]}: error: ") and error.count("\n") == 1


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("name", list(CLASSIFICATION_SPECS))
def test_document_compiles_with_pdflatex(tmp_path, name):
    (tmp_path / "d.tex").write_text(document(classification(name, 3, batch=2)))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def test_crossentropy_shows_softmax_minus_one_hot_under_its_hypothesis(capsys):
    assert main(["crossentropy", str(N), "--batch", "2"]) == 0
    text = capsys.readouterr().out
    section = text.split("## Softmax minus one-hot", 1)[1].split("## Module calls", 1)[0]
    assert "Hypothesis: $t$ is one-hot" in section
    assert r"Hypothesis $\sum_j t_{j} = 1$ (one-hot)" in section
    assert r"Hypothesis $\sum_j T_{kj} = 1$ (one-hot)" in section and "over the batch size $B$" in section
    # the one-hot form: softmax minus the target, no sum of the target left
    single = section.split("$$")[3]
    assert r"\frac{e^{x_{k}}}{e^{x_{1}} + e^{x_{2}} + e^{x_{3}} + e^{x_{4}}} - t_{k}" in single
    assert main(["crossentropy", str(N)]) == 0
    assert "T_{kj}" not in capsys.readouterr().out


def test_softmax_minus_one_hot_is_proved_and_a_wrong_form_is_not():
    steps = classification_module.softmax_minus_target(3)
    (engine, split), (one_hot,) = steps[0].chain, steps[1].chain
    x, t = sp.IndexedBase("x", real=True), sp.IndexedBase("t", real=True)
    values = {x[1]: 0.5, x[2]: -1.0, x[3]: 2.0, t[1]: 0.0, t[2]: 1.0, t[3]: 0.0}
    n = next(s for s in engine.free_symbols if getattr(s, "name", "") == "n")
    # the form's free index (not a summation index, which a set may list first)
    k = next(s for s in one_hot.free_symbols if isinstance(s, sp.Symbol) and s.is_integer and s != n)
    for value in (1, 2, 3):
        at = lambda e: float(e.xreplace({n: 3, k: value}).doit().xreplace(values))  # noqa: E731
        e = np.exp([0.5, -1.0, 2.0])
        assert at(one_hot) == pytest.approx(e[value - 1] / e.sum() - [0, 1, 0][value - 1])
        assert at(engine) == pytest.approx(at(one_hot)) == pytest.approx(at(split))
    softmax, target = one_hot.args if one_hot.args[0].has(sp.exp) else one_hot.args[::-1]
    with pytest.raises(ProofError):
        classification_module.softmax_minus_target(3, one_hot=softmax + (-target))  # + t_k
    B = sp.Symbol("B", integer=True, positive=True)
    batch = classification_module.softmax_minus_target(3, batch=True)[1].chain[0]
    with pytest.raises(ProofError):  # the batch's form without the division by B
        classification_module.softmax_minus_target(3, batch=True, one_hot=sp.expand(batch * B))

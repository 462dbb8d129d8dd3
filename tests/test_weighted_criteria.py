"""A criterion's sample weight (issue 20, class weights on a batch): with reduction 'mean' a
batch's loss is the sum of the samples' losses over the sum of their weights, as PyTorch's and
Torch7's weighted ClassNLL and CrossEntropy (total_weight), not over the batch size; one sample's
loss is its loss over its weight. BCE's weights stay per element (tests/test_catalogue.py)."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive.symbolic.language import LayerSyntaxError

from test_layer_engine import load

torch = pytest.importorskip("torch")

W = np.array([0.5, 2.0, 1.0, 4.0])


def _criterion(tmp_path, text="J = -w[t] * x[t]", reduction="mean"):
    return load(derive.module_source(text, {"x": (4,), "w": (4,)}, target="t", constants=("w",), weight="w[t]",
                                     reduction=reduction), tmp_path)(w=W)


def test_a_batch_divides_by_the_targets_total_weight(tmp_path):
    criterion = _criterion(tmp_path)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), np.array([0, 3, 3, 1, 2])
    expected = -(W[t] * x[np.arange(5), t]).sum() / W[t].sum()
    assert criterion.forward(x, t) == pytest.approx(expected, rel=1e-12)
    grad = np.zeros_like(x)
    grad[np.arange(5), t] = -W[t] / W[t].sum()
    np.testing.assert_allclose(criterion.backward(x, t), grad, rtol=1e-12)
    # one sample: its loss over its weight
    assert criterion.forward(x[1], 3) == pytest.approx(-x[1, 3], rel=1e-12)


def test_a_sum_is_not_divided(tmp_path):
    criterion = _criterion(tmp_path, reduction="sum")
    x, t = np.arange(8.0).reshape(2, 4), np.array([1, 3])
    assert criterion.forward(x, t) == pytest.approx(-(2.0 * 1 + 4.0 * 7), rel=1e-12)


def test_any_criterion_takes_a_weighted_mean(tmp_path):
    criterion = _criterion(tmp_path, "J = w[t] * (x[t] - 1)**2")
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    xt = torch.tensor(x, requires_grad=True)
    picked = xt[torch.arange(6), torch.tensor(t)]
    loss = (torch.tensor(W[t]) * (picked - 1) ** 2).sum() / W[t].sum()
    loss.backward()
    assert criterion.forward(x, t) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(criterion.backward(x, t), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_the_batch_derivation_shows_the_weighted_mean():
    from derive.latex import markdown

    derivation = derive.layer("J = -w[t] * x[t]", {"x": (3,), "w": (3,)}, target="t", constants=("w",), weight="w[t]",
                              batch=2)
    assert r"{w_{1 + t_{1}} + w_{1 + t_{2}}}" in markdown(derivation)  # the targets' total weight


@pytest.mark.parametrize("text,weight,message", [
    ("J = -w[t] * x[t]", "x[t]", "weight: a sample's weight is given (a constant or the target), not input x"),
    ("J = -w[t] * x[t]", "v[t]", "weight: v is not an array of the layer"),
    ("J = -w[t] * x[t]", "w[k]", "weight: k is not an array of the layer"),
    ("J = sum(w[k] * x[k], k)", "w[k]", "weight: a sample's weight is one number"),
    ("J = -w[t] * x[t]", "w[t", "weight: column"),
    ("J = -w[t] * x[t]", "__import__('os')", "names may not start with '_'"),
    ("J = -w[t] * x[t]", "w[t] if t else 1", "not part of the layer language"),
    ("y[i] = w[i] * x[i]", "w[1]", "a sample weight is for a criterion"),
])
def test_a_bad_weight_is_one_line(text, weight, message):
    target = "t" if "[t]" in text else None
    with pytest.raises(LayerSyntaxError) as error:
        derive.module_source(text, {"x": (4,), "w": (4,)}, target=target, constants=("w",), weight=weight)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_cli_takes_a_weight(capsys, tmp_path):
    from derive.cli import main

    layer = ["layer", "J = -w[t] * x[t]", "--shape", "x=4", "--shape", "w=4", "--target", "t", "--constant", "w"]
    assert main(layer + ["--weight", "w[t]", "--module", str(tmp_path / "nll.py")]) == 0
    criterion = load((tmp_path / "nll.py").read_text(), tmp_path)(w=W)
    assert criterion.forward(np.eye(4)[:2], np.array([0, 1])) == pytest.approx(-(0.5 + 2.0) / 2.5)
    with pytest.raises(SystemExit) as exit:
        main(layer + ["--weight", "x[t]"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == ("derive layer: error: weight: a sample's weight is given (a constant or "
                                       "the target), not input x\n")

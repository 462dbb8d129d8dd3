"""derive.nn.GatedLinearUnit and derive.nn.Padding, generated from their entries on the input
viewed around dim (derive/catalogue_views.py), against PyTorch in float64 with Torch7's
semantics: dim counts the axes of the tensor given (a batch's too), Padding's nInputDim makes
an input of another rank a batch (dim + 1), its value fills the padding and index places it."""

from __future__ import annotations

import numpy as np
import pytest

import derive.nn as nn
from derive.catalogue_codegen import CATALOGUE_PATH
from derive.cli import main

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _agrees(layer, x: np.ndarray, reference) -> None:
    """forward and backward (gradOutput drawn) equal PyTorch's output and autograd gradient."""
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dim, shape", [
    (None, (6,)), (1, (6,)), (None, (3, 4)), (1, (4, 3)), (2, (3, 4)), (None, (2, 3, 4)), (2, (2, 6, 3)),
    (1, (6, 2, 3)), (3, (2, 3, 4, 2)), (2, (1, 2, 1)),
])
def test_gated_linear_unit_agrees_with_pytorch_along_any_axis(dim, shape):
    x = np.random.default_rng(0).uniform(-3, 3, shape)
    # Torch7's dim counts from 1 in the tensor given, nil its last axis: PyTorch's dim - 1
    _agrees(nn.GatedLinearUnit(dim), x, lambda t: F.glu(t, (dim or len(shape)) - 1))


def test_gated_linear_unit_of_one_pair_is_the_first_times_the_sigmoid_of_the_second():
    layer = nn.GatedLinearUnit()
    assert layer.forward(np.array([1.0, 0.0])).tolist() == [0.5]
    # d/da = sigmoid(b) = 0.5; d/db = a sigmoid(b)(1 - sigmoid(b)) = 0.25
    assert layer.backward(np.array([1.0, 0.0]), np.array([1.0])).tolist() == [0.5, 0.25]


def _torch7_padding(x, dim: int, pad: int, nInputDim: int = 0, value: float = 0.0, index: int = 1):
    """Torch7's Padding.lua in torch: dim + 1 for a batch, index counted from the right for pad > 0,
    then the input's first index - 1 entries, |pad| of value, the rest."""
    if nInputDim and x.dim() != nInputDim:
        dim += 1
    n = x.shape[dim - 1]
    at = n - index + 2 if pad > 0 else index
    shape = list(x.shape)
    shape[dim - 1] = abs(pad)
    filler = torch.full(shape, value, dtype=x.dtype)
    return torch.cat([x.narrow(dim - 1, 0, at - 1), filler, x.narrow(dim - 1, at - 1, n - at + 1)], dim - 1)


@pytest.mark.parametrize("args, shape", [
    ((1, -2), (4,)), ((1, 2), (4,)), ((1, 3, 1), (2, 4)), ((1, -2, 1, -1.0), (2, 3)),
    ((1, -2, 1, -1.0, 2), (2, 3)), ((1, 2, 1, 0.5, 2), (3,)), ((2, 3, 0, 0.5, 2), (2, 5, 3)),
    ((2, 3, 2, 0.5, 6), (4, 2, 5, 3)), ((3, -1, 0, 2.0, 4), (2, 2, 3)), ((1, 0), (3,)),
    ((2, -4, 3, -2.5, 3), (2, 5, 2)), ((1, 4, 0, 1.0, 3), (5, 2)),
], ids=str)
def test_padding_agrees_with_torch7s_padding(args, shape):
    x = np.random.default_rng(0).uniform(-3, 3, shape)
    _agrees(nn.Padding(*args), x, lambda t: _torch7_padding(t, *args))


@pytest.mark.parametrize("make, reference", [
    (lambda: nn.Padding(1, -2, 1), lambda t: F.pad(t, (2, 0))),
    (lambda: nn.Padding(1, 3, 1, -1.0), lambda t: F.pad(t, (0, 3), value=-1.0)),
    (lambda: nn.Padding(1, -1, 2), lambda t: F.pad(t, (0, 0, 1, 0))),
    (lambda: nn.Padding(1, 2, 3, 0.25), lambda t: F.pad(t, (0, 0, 0, 0, 0, 2), value=0.25)),
], ids=["before", "after, value", "an axis before the last", "a sample of nInputDim axes"])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_padding_at_index_1_is_pytorch_pad_of_a_sample_or_a_batch(make, reference, batch):
    layer = make()
    rank = layer.nInputDim
    x = np.random.default_rng(2).uniform(-3, 3, ((batch,) if batch else ()) + (4, 3, 2)[:rank])
    _agrees(layer, x, reference)


def test_padding_follows_torch7s_documented_examples():
    x = np.array([0.2008, 0.4848, -1.0783])
    np.testing.assert_array_equal(nn.Padding(1, 2, 1, -1).forward(x), [0.2008, 0.4848, -1.0783, -1, -1])
    batch = np.array([[1.0203, 0.2704, -1.6164], [-0.2219, -0.6529, -1.9218]])
    np.testing.assert_array_equal(nn.Padding(1, -2, 1, -1).forward(batch),
                                  [[-1, -1, 1.0203, 0.2704, -1.6164], [-1, -1, -0.2219, -0.6529, -1.9218]])
    # index 2 (the doc's example 3 prints rows mixed up; Padding.lua's code): after the first entry
    np.testing.assert_array_equal(nn.Padding(1, -2, 1, -1, 2).forward(batch),
                                  [[1.0203, -1, -1, 0.2704, -1.6164], [-0.2219, -1, -1, -0.6529, -1.9218]])
    # backward is the narrow of gradOutput: the padding's entries get no gradient
    g = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(nn.Padding(1, -2, 1, -1, 2).backward(batch, g), [[0, 3, 4], [5, 8, 9]])


def test_a_transposed_input_is_read_as_its_values():
    x = np.random.default_rng(3).uniform(-3, 3, (4, 6)).T  # not C-ordered: the view copies it
    _agrees(nn.GatedLinearUnit(1), x, lambda t: F.glu(t, 0))
    _agrees(nn.Padding(2, -2, 0, 1.5, 3), x, lambda t: _torch7_padding(t, 2, -2, 0, 1.5, 3))


@pytest.mark.parametrize("make", [lambda: nn.GatedLinearUnit(2), lambda: nn.Padding(2, -3, 0, -1.0, 2)],
                         ids=["GatedLinearUnit", "Padding"])
def test_float32_through_type(make):
    x = np.random.default_rng(4).uniform(-3, 3, (3, 4, 2))
    g64 = make()
    y64 = g64.forward(x).copy()
    gin64 = g64.backward(x, np.ones_like(y64)).copy()
    layer = make().type("torch.FloatTensor")
    x32 = x.astype(np.float32)
    y = layer.forward(x32)
    gin = layer.backward(x32, np.ones_like(y))
    assert y.dtype == np.float32 and gin.dtype == np.float32 and layer.type() == "torch.FloatTensor"
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gin, gin64, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"input is float64 but the module is float32"):
        layer.forward(x)


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.GatedLinearUnit().forward(np.ones((2, 3))), ValueError,
     r"GatedLinearUnit: input's axis 2 has 3 entries: it must be even \(its two halves\), shape \(2, 3\)"),
    (lambda: nn.GatedLinearUnit(3).forward(np.ones((2, 4))), ValueError,
     r"GatedLinearUnit: dim 3 is no axis of the input \(1 to 2\), shape \(2, 4\)"),
    (lambda: nn.GatedLinearUnit(0), ValueError, r"GatedLinearUnit: dim must be a positive int"),
    (lambda: nn.GatedLinearUnit(1.5), TypeError, r"GatedLinearUnit: dim must be int, got 1.5"),
    (lambda: nn.GatedLinearUnit().backward(np.ones((2, 4)), np.ones((2, 4))), ValueError,
     r"GatedLinearUnit: gradOutput must have the output's shape \(2, 2\) \(for input \(2, 4\)\), got \(2, 4\)"),
    (lambda: nn.Padding(2, 1).forward(np.ones(4)), ValueError,
     r"Padding: dim 2 is no axis of the input \(1 to 1\), shape \(4,\)"),
    (lambda: nn.Padding(1, 1, 0, 0.0, 6).forward(np.ones(4)), ValueError,
     r"Padding: index must be from 1 to 5 \(axis 1 of the input has 4 entries\), got 6, shape \(4,\)"),
    (lambda: nn.Padding(1, 1, 0, 0.0, 0), ValueError, r"Padding: index must be a positive int"),
    (lambda: nn.Padding(1, 1, -1), ValueError, r"Padding: nInputDim must be 0 \(none\) or a positive int"),
    (lambda: nn.Padding(1, 1, 0, float("nan")), ValueError, r"Padding: value must be finite"),
    (lambda: nn.Padding(1, 2).forward(np.ones(0)), ValueError, r"Padding: input must have at least one element"),
    (lambda: nn.Padding(1, 2).forward([1.0, 2.0]), TypeError, r"Padding: input must be a numpy array"),
])
def test_bad_arguments_and_inputs_are_one_line(call, error, message):
    with pytest.raises(error, match=message) as raised:
        call()
    assert "\n" not in str(raised.value)


def test_torch7s_fields_and_repr():
    layer = nn.Padding(1, -2, 1, -1.0, 2)
    assert (layer.dim, layer.pad, layer.nInputDim, layer.value, layer.index) == (1, -2, 1, -1.0, 2)
    assert repr(nn.GatedLinearUnit()) == "nn.GatedLinearUnit" and nn.GatedLinearUnit().dim is None
    assert repr(nn.GatedLinearUnit(2)) == "nn.GatedLinearUnit(2)"


@pytest.mark.parametrize("name, shape, args", [
    ("GatedLinearUnit", "3,4", []), ("GatedLinearUnit", "4,3", ["--args", "1", "--no-batch"]),
    ("Padding", "4", ["--args", "1", "-2", "1", "-1.5", "2"]), ("Padding", "3,2", ["--args", "2", "3", "2"]),
])  # (dim counts the axes of the tensor given: a batch of samples, checked against them, is padded along the
#     sample's axis where nInputDim says so, and halved along the last by default, else dim is a batch's own axis)
def test_derive_check_passes_for_the_generated_class(name, shape, args, capsys):
    assert main(["check", f"{CATALOGUE_PATH}:{name}", "--input-shape", shape, *args]) == 0
    assert "checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, shown", [
    (["GatedLinearUnit", "1", "--input-shape", "4,3"], "y[a,m] = x[a,1,m] * sigmoid(x[a,2,m]) (x (1, 2, 6))"),
    (["Padding", "1", "-2", "1", "-1", "2", "--input-shape", "2,3"],
     "y[a,i,c] = where(i <= 1, x[a,i,c], 0) + where(i > 3, x[a,i-2,c], 0) + where(i > 1, where(i <= 3, -1, 0), 0)"),
])
def test_the_derive_command_shows_the_formula_on_the_view(argv, shown, capsys):
    assert main(argv) == 0
    assert shown in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["GatedLinearUnit", "--input-shape", "3,5"], "halves axis 2: its size must be even, got 5"),
    (["Padding", "1", "2", "0", "0", "9"], "index must be from 1 to 5 (axis 1 has 4 entries), got 9"),
    (["Padding", "2", "2"], "dim must be from 1 to 1 (the input's axes), got 2"),
])
def test_the_derive_command_refuses_bad_arguments_with_exit_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and message in err and "Traceback" not in err


def test_every_catalogue_entry_has_a_generated_class():
    from derive.catalogue_codegen import skipped

    assert skipped() == {}

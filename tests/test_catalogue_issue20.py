"""Issue 20's modules that had tests as formulas but no registry entry (PixelShuffle, CReLU, the
spatial up-sampling and padding modules, SpatialSubtractiveNormalization, VolumetricFullConvolution,
SpatialAutoCropMSECriterion): `derive NAME ARGS...` at their constructor's arguments, their one-line
refusals, and derive.nn's generated classes where they have one. Their PyTorch comparisons at the
examples are test_catalogue's (MODULES, CRITERIA); test_nn_catalogue compares the generated classes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import derive.nn as nn
from derive.catalogue import lookup
from derive.catalogue_codegen import skipped
from derive.cli import main

torch = pytest.importorskip("torch")
F = torch.nn.functional

ISSUE_20 = ["PixelShuffle", "CReLU", "SpatialUpSamplingNearest", "SpatialUpSamplingBilinear",
            "SpatialReflectionPadding", "SpatialReplicationPadding", "SpatialSubtractiveNormalization",
            "VolumetricFullConvolution", "SpatialAutoCropMSECriterion"]


@pytest.mark.parametrize("argv, title, gradient, shape", [
    (["PixelShuffle", "3", "--input-shape", "18,2,2"], "y[c,u,v] = x[9*(c-1) + 3*((u-1) % 3) + (v-1) % 3 + 1, "
     "(u-1)//3 + 1, (v-1)//3 + 1]", "dJ/dx", [18, 2, 2]),
    (["CReLU", "1", "--input-shape", "4"], "y = concat(max(0, x), max(0, -x))", "dJ/dx", [4]),
    (["crelu", "3", "--input-shape", "2,3,3"], "y[c,i,j] = max(0, x[c,i,j]) + max(0, -x[c-2,i,j])", "dJ/dx",
     [2, 3, 3]),
    (["SpatialUpSamplingNearest", "3", "--input-shape", "1,2,2"], "y[c,u,v] = x[c, (u-1)//3 + 1, (v-1)//3 + 1]",
     "dJ/dx", [1, 2, 2]),
    (["SpatialUpSamplingBilinear", "2", "--input-shape", "1,2,3"], "max(0, 1 - abs(u - 1 - 2*(i-1))/2)", "dJ/dx",
     [1, 2, 3]),
    (["SpatialReflectionPadding", "1", "--input-shape", "1,3,3"], "y[c,i,j] = x[c, 3 - abs(2 - abs(i-2)), "
     "3 - abs(2 - abs(j-2))]", "dJ/dx", [1, 3, 3]),
    (["SpatialReplicationPadding", "1", "0", "2", "0", "--input-shape", "1,3,3"],
     "y[c,i,j] = x[c, min(max(i-2, 1), 3), min(max(j-1, 1), 3)]", "dJ/dx", [1, 3, 3]),
    (["SpatialSubtractiveNormalization", "2", "3", "--input-shape", "2,4,4"], "/ (len(d) * max(1, sum(", "dJ/dx",
     [2, 4, 4]),
    (["VolumetricFullConvolution", "1", "2", "2", "2", "2", "--input-shape", "2,2,2"],
     "y[o,t,i,j] = sum(W[c,o,k,l,q] * x[c,t-k+1,i-l+1,j-q+1], c, k, l, q) + b[o]", "dJ/dW", [1, 2, 2, 2, 2]),
    (["SpatialAutoCropMSECriterion", "--input-shape", "1,2,2", "--input-shape", "1,5,4"],
     "J = mean((x[c,i,j] - t[c,i+1,j+1])**2, c, i, j)", "dJ/dx", [1, 2, 2]),
    (["MultiLabelMarginCriterion", "false", "--input-shape", "3"], "where(t[l] == -1, 1, 0)", "dJ/dx", [3]),
])
def test_the_module_is_derived_from_its_constructor(argv, title, gradient, shape, capsys):
    assert main(argv + ["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert title in data["title"]
    assert data["results"][gradient]["shape"] == shape


@pytest.mark.parametrize("argv, message", [
    (["PixelShuffle", "2", "--input-shape", "6,2,2"],
     "PixelShuffle(2): the input's planes must be a multiple of 4, got 6"),
    (["CReLU", "2", "--input-shape", "4"], "CReLU(2): a sample has nInputDims = 2 axes, --input-shape gives 1"),
    (["SpatialReflectionPadding", "3", "--input-shape", "1,3,5"], "reflection padding must be smaller than the "
     "input's side"),
    (["SpatialSubtractiveNormalization", "1", "4", "--input-shape", "1,5,5"], "the kernel's size must be odd, got 4"),
    (["VolumetricFullConvolution", "1", "1", "2", "2", "2", "2", "--input-shape", "3,3,3"], "steps 1 only"),
    (["SpatialAutoCropMSECriterion", "--input-shape", "1,4,4", "--input-shape", "1,3,5"],
     "the target (3 x 5) must be at least as high and wide as the input (4 x 4)"),
    (["SpatialUpSamplingNearest", "0", "--input-shape", "1,2,2"], "scale must be a positive integer, got 0"),
])
def test_bad_arguments_are_one_line_and_exit_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err


def test_every_issue_20_module_is_listed_and_generated_or_says_why(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ISSUE_20:
        assert f"  {lookup(name).constructor()}\n" in out
    reasons = skipped()
    generated = {"CReLU", "SpatialSubtractiveNormalization", "SpatialAutoCropMSECriterion",
                 "VolumetricFullConvolution", "PixelShuffle", "SpatialUpSamplingNearest",
                 "SpatialUpSamplingBilinear", "SpatialReflectionPadding", "SpatialReplicationPadding"}
    for name in generated:
        assert name not in reasons and getattr(nn, name) is not None
    for name in ISSUE_20:  # each of the others a class, or a reason why not
        assert (name not in reasons and hasattr(nn, name)) or reasons[name]
    assert lookup("SpatialReflectionPadding").constructor() == "SpatialReflectionPadding(pad_l, pad_r=pad_l, " \
                                                               "pad_t=pad_l, pad_b=pad_l)"
    assert lookup("VolumetricFullConvolution").group == "convolution"


@pytest.mark.parametrize("size", [1, 4, 9])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_crelu_agrees_with_pytorch_at_any_size(size, batch):
    layer = nn.CReLU(1)
    rng = np.random.default_rng(size)
    x = rng.uniform(-2, 2, ((batch,) if batch else ()) + (size,))
    x = np.where(np.abs(x) < 0.05, 0.1, x)  # away from the kink
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.cat((F.relu(xt), F.relu(-xt)), -1)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_crelu_of_several_axes_a_sample_says_it_has_no_kernels():
    with pytest.raises(ValueError, match=r"CReLU: no kernels for \{'nInputDims': 2\}"):
        nn.CReLU(2)


@pytest.mark.parametrize("offset, length", [(1, 3), (1, 6), (2, 2), (4, 3)])
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_narrow_reads_only_its_window_at_run_time_sizes(offset, length, batch):
    """Narrow(1, 1, 3) once returned the whole input: a run-time kernel read x[a], a up to the
    length, as the whole x; it is now a window of the length."""
    layer = nn.Narrow(1, offset, length)
    x = np.arange(6.0 * (batch or 1)).reshape(((batch,) if batch else ()) + (6,))
    want = torch.tensor(x).narrow(-1, offset - 1, length).numpy()
    np.testing.assert_array_equal(layer.forward(x), want)
    g = np.arange(1.0, 1 + want.size).reshape(want.shape)
    back = np.zeros_like(x)
    back[..., offset - 1:offset - 1 + length] = g
    np.testing.assert_array_equal(layer.backward(x, g), back)

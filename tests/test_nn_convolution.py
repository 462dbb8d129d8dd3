"""nn.SpatialConvolution: Torch7's semantics (SpatialConvolution.lua, THNN's SpatialConvolutionMM.c).

Convention (0-based): y[o, i, j] = sum_(c, p, q) W[o, c, p, q] x[c, i dH + p - padH, j dW + q - padW] + b[o],
x zero outside its H x W; weight (nOutputPlane, nInputPlane, kH, kW).
"""

import copy
import math

import numpy as np
import pytest

from derive import nn
from derive.nn.jacobian import jacobian_errors


def reference_output(x, weight, bias, dW, dH, padW, padH):
    """The definition, pixel by pixel (slow, plain loops): what every test compares with."""
    B, C, H, W = x.shape
    O, _, kH, kW = weight.shape
    padded = np.zeros((B, C, H + 2 * padH, W + 2 * padW))
    padded[:, :, padH:padH + H, padW:padW + W] = x
    oH, oW = (H + 2 * padH - kH) // dH + 1, (W + 2 * padW - kW) // dW + 1
    y = np.zeros((B, O, oH, oW))
    for b in range(B):
        for o in range(O):
            for i in range(oH):
                for j in range(oW):
                    patch = padded[b, :, i * dH:i * dH + kH, j * dW:j * dW + kW]
                    y[b, o, i, j] = np.sum(weight[o] * patch) + bias[o]
    return y


# (nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH, H, W)
CASES = [
    (1, 1, 3, 3, 1, 1, 0, 0, 5, 5),
    (3, 4, 3, 3, 1, 1, 1, 1, 6, 7),
    (2, 3, 2, 3, 2, 1, 0, 2, 5, 8),   # non-square kernel, steps and padding
    (2, 2, 3, 3, 2, 2, 1, 1, 6, 6),   # a stride that skips the last column
    (1, 2, 5, 4, 3, 2, 2, 1, 9, 9),
    (2, 1, 1, 1, 1, 1, 0, 0, 3, 4),   # 1x1 kernel: a matrix product per pixel
    (1, 2, 4, 4, 4, 4, 0, 0, 8, 8),   # steps as large as the kernel: patches do not overlap
    (1, 1, 3, 3, 1, 1, 3, 3, 2, 2),   # padding wider than the kernel reaches: offsets that read padding only
]


def make(case, seed=0):
    nIn, nOut, kW, kH, dW, dH, padW, padH, H, W = case
    return nn.SpatialConvolution(nIn, nOut, kW, kH, dW, dH, padW, padH, rng=seed), (H, W)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_output_is_the_definition(case):
    layer, (H, W) = make(case)
    x = np.random.default_rng(1).standard_normal((2, layer.nInputPlane, H, W))
    expected = reference_output(x, layer.weight, layer.bias, layer.dW, layer.dH, layer.padW, layer.padH)
    oH = math.floor((H + 2 * layer.padH - layer.kH) / layer.dH) + 1
    oW = math.floor((W + 2 * layer.padW - layer.kW) / layer.dW) + 1
    assert expected.shape == (2, layer.nOutputPlane, oH, oW)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-13, atol=1e-14)
    # One sample: (planes, H, W) in, (planes, oH, oW) out, the same numbers.
    np.testing.assert_allclose(layer.forward(x[1]), expected[1], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("batch", [None, 2], ids=["one sample", "batch"])
def test_jacobians_agree_with_central_differences(case, batch):
    layer, (H, W) = make(case, seed=2)
    shape = (layer.nInputPlane, H, W) if batch is None else (batch, layer.nInputPlane, H, W)
    errors = jacobian_errors(layer, np.random.default_rng(3).uniform(-1, 1, shape))
    assert len(errors) == 3
    assert max(errors) < 1e-7, errors


def test_gradients_of_a_loss_are_correlation_and_full_convolution():
    # dJ/dW[o,c,p,q] = sum_(i,j) g[o,i,j] x[c,i+p,j+q] (a correlation of x with g) and
    # dJ/dx = the full convolution of g with the kernel: written out with np.pad here.
    layer = nn.SpatialConvolution(2, 3, 3, 2, rng=4)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 6))
    layer.forward(x)
    g = rng.standard_normal(layer.output.shape)
    gradInput = layer.backward(x, g)
    oH, oW = g.shape[1:]
    gradWeight = np.zeros_like(layer.weight)
    for p in range(2):
        for q in range(3):
            gradWeight[:, :, p, q] = np.einsum("oij,cij->oc", g, x[:, p:p + oH, q:q + oW])
    np.testing.assert_allclose(layer.gradWeight, gradWeight, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.gradBias, g.sum(axis=(1, 2)), rtol=1e-13)
    full = np.pad(g, ((0, 0), (1, 1), (2, 2)))
    flipped = layer.weight[:, :, ::-1, ::-1]
    expected = np.zeros_like(x)
    for p in range(2):
        for q in range(3):
            expected += np.einsum("oc,oij->cij", flipped[:, :, p, q], full[:, p:p + 5, q:q + 6])
    np.testing.assert_allclose(gradInput, expected, rtol=1e-13, atol=1e-14)


def test_accGradParameters_adds_scale_times_the_gradient():
    layer = nn.SpatialConvolution(2, 3, 3, 3, 2, 2, 1, rng=6)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2, 7, 7))
    g = rng.standard_normal(layer.forward(x).shape)
    layer.backward(x, g)
    once = layer.gradWeight.copy(), layer.gradBias.copy()
    layer.backward(x, g, 0.25)
    np.testing.assert_allclose(layer.gradWeight, 1.25 * once[0], rtol=1e-14)
    np.testing.assert_allclose(layer.gradBias, 1.25 * once[1], rtol=1e-14)
    layer.accGradParameters(x, g, -1.25)
    np.testing.assert_allclose(layer.gradWeight, 0, atol=1e-13)
    np.testing.assert_allclose(layer.gradBias, 0, atol=1e-13)


def test_a_batch_is_its_samples_one_by_one():
    layer = nn.SpatialConvolution(2, 3, 2, 3, 1, 2, 1, 0, rng=8)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 2, 6, 5))
    g = rng.standard_normal(layer.forward(x).shape)
    gradInput = layer.backward(x, g).copy()
    gradWeight, gradBias = layer.gradWeight.copy(), layer.gradBias.copy()
    layer.zeroGradParameters()
    for b in range(4):
        layer.forward(x[b])
        np.testing.assert_allclose(layer.backward(x[b], g[b]), gradInput[b], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(layer.gradWeight, gradWeight, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.gradBias, gradBias, rtol=1e-13, atol=1e-14)


def test_accGradParameters_unfolds_an_input_other_than_the_last_forward_one():
    layer = nn.SpatialConvolution(1, 2, 3, 3, 1, 1, 1, rng=10)
    rng = np.random.default_rng(11)
    x, other = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 1, 5, 5))
    g = rng.standard_normal(layer.forward(other).shape)
    layer.accGradParameters(x, g)
    expected = nn.SpatialConvolution(1, 2, 3, 3, 1, 1, 1, rng=10)
    expected.forward(x)
    expected.accGradParameters(x, g)
    np.testing.assert_allclose(layer.gradWeight, expected.gradWeight, rtol=1e-14)


def test_a_new_input_shape_with_the_same_output_shape_pads_with_zeros_again():
    # H = 6 and H = 5 give the same oH with kernel 3, step 2, pad 1; the patches of H = 5
    # reach one more row of padding, which must read zero, not what H = 6 left there.
    layer = nn.SpatialConvolution(1, 1, 3, 3, 2, 2, 1, rng=12)
    rng = np.random.default_rng(13)
    big, small = rng.standard_normal((1, 1, 6, 6)), rng.standard_normal((1, 1, 5, 5))
    assert layer.forward(big).shape == layer.forward(small).shape == (1, 1, 3, 3)
    layer.forward(big)
    expected = reference_output(small, layer.weight, layer.bias, 2, 2, 1, 1)
    np.testing.assert_allclose(layer.forward(small), expected, rtol=1e-13, atol=1e-14)


# --- construction ---------------------------------------------------------------------

def test_reset_draws_uniformly_within_one_over_sqrt_fan_in():
    layer = nn.SpatialConvolution(3, 8, 5, 3, rng=0)
    assert layer.weight.shape == (8, 3, 3, 5) and layer.bias.shape == (8,)
    bound = 1 / math.sqrt(5 * 3 * 3)
    assert np.abs(layer.weight).max() <= bound and np.abs(layer.bias).max() <= bound
    assert np.abs(layer.weight).max() > 0.8 * bound  # drawn across the interval, not near 0
    again = nn.SpatialConvolution(3, 8, 5, 3, rng=0)
    assert np.array_equal(layer.weight, again.weight) and np.array_equal(layer.bias, again.bias)
    layer.reset(stdv=0.01, rng=1)
    assert np.abs(layer.weight).max() <= 0.01 * math.sqrt(3)
    assert not layer.gradWeight.any() and not layer.gradBias.any()
    assert layer.weight.base is layer.bias.base  # one flat array: updateParameters is one operation


def test_padH_defaults_to_padW_as_in_torch7():
    assert nn.SpatialConvolution(1, 1, 3, 3, 1, 1, 2).padH == 2
    assert nn.SpatialConvolution(1, 1, 3, 3, 1, 1, 2, 0).padH == 0
    assert nn.SpatialConvolution(1, 1, 3, 3).padH == 0


@pytest.mark.parametrize("args,text", [
    ((3, 16, 3, 3), "nn.SpatialConvolution(3 -> 16, 3x3)"),
    ((3, 16, 5, 3, 2, 1), "nn.SpatialConvolution(3 -> 16, 5x3, 2,1)"),
    ((3, 16, 3, 3, 1, 1, 1, 1), "nn.SpatialConvolution(3 -> 16, 3x3, 1,1, 1,1)"),
])
def test_repr_is_torch7s(args, text):
    assert repr(nn.SpatialConvolution(*args)) == text


def test_updateParameters_descends_and_float32_stays_float32():
    layer = nn.SpatialConvolution(2, 2, 3, 3, rng=14)
    x = np.random.default_rng(15).standard_normal((2, 4, 4))
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        layer.forward(x.astype(np.float32))
    y = copy.deepcopy(layer).float().forward(x.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, layer.forward(x), rtol=1e-5, atol=1e-5)
    assert layer.forward(np.ones((2, 4, 4), dtype=np.int64)).dtype == np.float64
    weight = layer.weight.copy()
    layer.forward(x)
    layer.backward(x, np.ones((2, 2, 2)))
    layer.updateParameters(0.5)
    np.testing.assert_allclose(layer.weight, weight - 0.5 * layer.gradWeight, rtol=1e-15)
    twin = copy.deepcopy(layer)
    twin.weight[...] = 0
    assert not np.array_equal(layer.weight, twin.weight)


# --- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("args,error,match", [
    ((0, 2, 3, 3), ValueError, "nInputPlane must be a positive int, got 0"),
    ((2, -1, 3, 3), ValueError, "nOutputPlane must be a positive int"),
    ((2, 2, 0, 3), ValueError, "kW must be a positive int"),
    ((2, 2, 3, 0), ValueError, "kH must be a positive int"),
    ((2, 2, 3, 3, 0), ValueError, "dW must be a positive int"),
    ((2, 2, 3, 3, 1, -2), ValueError, "dH must be a positive int"),
    ((2, 2, 3, 3, 1, 1, -1), ValueError, "padW must be 0 or more, got -1"),
    ((2, 2, 3, 3, 1, 1, 0, -1), ValueError, "padH must be 0 or more, got -1"),
    ((2, 2, 3.0, 3), TypeError, "kW must be a positive int"),
    ((True, 2, 3, 3), TypeError, "nInputPlane"),
])
def test_bad_arguments_are_refused(args, error, match):
    with pytest.raises(error, match=match):
        nn.SpatialConvolution(*args)


@pytest.mark.parametrize("shape,match", [
    ((2, 5, 5), r"input's axis 1 must have nInputPlane = 3 entries, got shape \(2, 5, 5\)"),
    ((4, 2, 5, 5), r"input's axis 1 must have nInputPlane = 3 entries, got shape \(4, 2, 5, 5\)"),
    ((3, 5), r"input must have 3 axes \(one sample\) or 4 \(a batch\), got shape \(3, 5\)"),
    ((1, 1, 3, 5, 5), r"input must have 3 axes"),
    ((3, 2, 5), r"input's axis 2 of size 2 gives an output of size 0: too small for the window"),
    ((2, 3, 5, 1), r"input's axis 3 of size 1 gives an output of size -1: too small for the window"),
])
def test_bad_input_is_refused(shape, match):
    with pytest.raises(ValueError, match=match) as error:
        nn.SpatialConvolution(3, 4, 3, 3).forward(np.ones(shape))
    assert "\n" not in str(error.value)


def test_padding_lets_a_kernel_larger_than_the_input_fit():
    layer = nn.SpatialConvolution(1, 1, 3, 3, 1, 1, 1)
    assert layer.forward(np.ones((1, 1, 1))).shape == (1, 1, 1)


def test_bad_gradOutput_and_non_arrays_are_refused():
    layer = nn.SpatialConvolution(1, 2, 3, 3)
    x = np.ones((1, 5, 5))
    layer.forward(x)
    with pytest.raises(ValueError, match=r"gradOutput must have the shape of the output of forward\(input\), \(2, 3, 3\)"):
        layer.backward(x, np.ones((2, 3, 4)))
    with pytest.raises(TypeError, match="gradOutput must be a numpy array"):
        layer.backward(x, [[0.0]])
    with pytest.raises(TypeError, match="input must be a numpy array"):
        layer.forward(x.tolist())
    with pytest.raises(TypeError, match="input must hold real numbers"):
        layer.forward(np.ones((1, 5, 5), dtype=complex))


@pytest.mark.parametrize("args,shape", [((2, 3, 3, 2, 2, 1, 1, 0), (2, 5, 6)), ((1, 2, 3, 3, 1, 1, 1), (1, 4, 4))])
def test_derive_nn_check_passes(args, shape):
    # Torch's whole list of module tests (derive check): Jacobians, accumulation, batch, pickling ...
    report = nn.check(nn.SpatialConvolution(*args, rng=0), shape)
    assert report.passed, str(report)

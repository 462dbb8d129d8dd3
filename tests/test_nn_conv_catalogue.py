"""The convolution family's generated classes (derive/catalogue_windows.py, derive/nn/windowed.py):
one class takes every stride, padding, dilation and window size and every input size, as Torch7's.
Each is compared with torch.nn.functional in float64 at several constructor argument sets and
input sizes, one sample and a batch: output, gradInput, gradWeight/gradBias, accGradParameters'
scale; and passes derive.nn.check."""

from __future__ import annotations

import numpy as np
import pytest

import derive.nn as nn
from test_catalogue import _subtractive, assert_parameter_gradients

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _batched(f):
    """A reference written for a batch, given one sample or a batch."""
    def reference(x, *params, sample_rank):
        if x.dim() == sample_rank:
            return f(x[None], *params)[0]
        return f(x, *params)
    return reference


def _frames(f):
    """Torch7's (time, frame) layout is PyTorch's (frame, time) transposed."""
    return lambda x, *params: f(x.transpose(-1, -2), *params).transpose(-1, -2)


def _per_plane(weight, kernel):  # SubSampling: one weight a plane, the same over its window
    return weight.reshape((-1, 1) + (1,) * len(kernel)) * torch.ones((1, 1) + kernel, dtype=weight.dtype)


def _step_peak(layer, output: tuple):
    """(x, gradOutput, the peak bytes a forward + backward allocates) on a batch of 8, 16 planes, 32x32."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 32, 32))
    gradOutput = rng.standard_normal(output)
    tracemalloc.start()
    try:
        layer.forward(x)
        layer.backward(x, gradOutput)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert layer.output.shape == output
    return x, gradOutput, peak


def _local(a):
    """SpatialConvolutionLocal: a weight per output position, (oH, oW, nOutputPlane, nInputPlane, kH, kW)."""
    def reference(x, W, b):
        oH, oW, planes, _, kH, kW = W.shape
        patches = F.unfold(x, (kH, kW), stride=(a[7], a[6]), padding=(a[9], a[8]))
        return torch.einsum("hwocpq,ncpqhw->nohw", W, patches.reshape(x.shape[0], -1, kH, kW, oH, oW)) + b
    return reference


REFERENCES = {
    "TemporalConvolution": lambda a: _frames(lambda x, W, b: F.conv1d(x, W.permute(0, 2, 1), b, stride=a[3])),
    "TemporalSubSampling": lambda a: _frames(lambda x, W, b: F.conv1d(x, _per_plane(W, (a[1],)), b, stride=a[2],
                                                                       groups=a[0])),
    "TemporalMaxPooling": lambda a: _frames(lambda x: F.max_pool1d(x, a[0], a[1])),
    "SpatialConvolutionMM": lambda a: lambda x, W, b: F.conv2d(x, W, b, (a[5], a[4]), (a[7], a[6])),
    "SpatialConvolution": lambda a: lambda x, W, b: F.conv2d(x, W, b, (a[5], a[4]), (a[7], a[6])),
    "SpatialDilatedConvolution": lambda a: lambda x, W, b: F.conv2d(x, W, b, (a[5], a[4]), (a[7], a[6]),
                                                                    dilation=(a[9], a[8])),
    "SpatialMaxPooling": lambda a: lambda x: F.max_pool2d(x, (a[1], a[0]), (a[3], a[2]), (a[5], a[4])),
    "SpatialDilatedMaxPooling": lambda a: lambda x: F.max_pool2d(x, (a[1], a[0]), (a[3], a[2]), (a[5], a[4]),
                                                                 dilation=(a[7], a[6])),
    "SpatialAveragePooling": lambda a: lambda x: F.avg_pool2d(x, (a[1], a[0]), (a[3], a[2]), (a[5], a[4]),
                                                              count_include_pad=True),
    "SpatialLPPooling": lambda a: lambda x: F.lp_pool2d(x, a[1], (a[3], a[2]), (a[5], a[4])),
    "SpatialSubSampling": lambda a: lambda x, W, b: F.conv2d(x, _per_plane(W, (a[2], a[1])), b, (a[4], a[3]),
                                                             groups=a[0]),
    "SpatialZeroPadding": lambda a: lambda x: F.pad(x, (a[0], a[1], a[2], a[3])),
    "SpatialCrossMapLRN": lambda a: lambda x: F.local_response_norm(x, a[0], a[1], a[2], a[3]),
    "SpatialSubtractiveNormalization": lambda a: lambda x: _subtractive(x, a[1]),
    "VolumetricConvolution": lambda a: lambda x, W, b: F.conv3d(x, W, b, (a[5], a[7], a[6]), (a[8], a[10], a[9])),
    "VolumetricMaxPooling": lambda a: lambda x: F.max_pool3d(x, (a[0], a[2], a[1]), (a[3], a[5], a[4]),
                                                             (a[6], a[8], a[7])),
    "VolumetricAveragePooling": lambda a: lambda x: F.avg_pool3d(x, (a[0], a[2], a[1]), (a[3], a[5], a[4])),
    "SpatialFullConvolution": lambda a: lambda x, W, b: F.conv_transpose2d(x, W, b, (a[5], a[4]), (a[7], a[6]),
                                                                           output_padding=(a[9], a[8])),
    "SpatialConvolutionLocal": _local,
    "VolumetricFullConvolution": lambda a: lambda x, W, b: F.conv_transpose3d(
        x, W, b, (a[5], a[7], a[6]), (a[8], a[10], a[9]), output_padding=(a[11], a[13], a[12])),
    "SpatialUpSamplingNearest": lambda a: lambda x: F.interpolate(x, scale_factor=a[0], mode="nearest"),
    "SpatialUpSamplingBilinear": lambda a: lambda x: F.interpolate(
        x, size=tuple((n - 1) * a[0] + 1 for n in x.shape[-2:]), mode="bilinear", align_corners=True),
    "PixelShuffle": lambda a: lambda x: F.pixel_shuffle(x, a[0]),
    "SpatialReflectionPadding": lambda a: lambda x: F.pad(x, a, mode="reflect"),
    "SpatialReplicationPadding": lambda a: lambda x: F.pad(x, a, mode="replicate"),
}

#: (class, every constructor argument as Torch7 fills them in, one sample's shape); the
#: constructor is called with the arguments as written in ``given`` (defaults left out)
CASES = [
    ("TemporalConvolution", (3, 2, 3), (3, 2, 3, 1), (7, 3)),
    ("TemporalConvolution", (2, 4, 1, 2), (2, 4, 1, 2), (6, 2)),
    ("TemporalConvolution", (4, 3, 5, 3), (4, 3, 5, 3), (12, 4)),
    ("TemporalSubSampling", (3, 2, 2), (3, 2, 2), (7, 3)),
    ("TemporalSubSampling", (2, 3), (2, 3, 1), (6, 2)),
    ("TemporalSubSampling", (4, 5, 3), (4, 5, 3), (11, 4)),
    ("TemporalMaxPooling", (2,), (2, 2), (9, 3)),
    ("TemporalMaxPooling", (3, 1), (3, 1), (8, 2)),
    ("TemporalMaxPooling", (5, 2), (5, 2), (10, 3)),
    ("SpatialConvolutionMM", (2, 3, 3, 3), (2, 3, 3, 3, 1, 1, 0, 0), (2, 7, 6)),
    ("SpatialConvolutionMM", (2, 3, 3, 2, 2, 1, 1, 0), (2, 3, 3, 2, 2, 1, 1, 0), (2, 8, 9)),
    ("SpatialConvolutionMM", (1, 2, 5, 4, 3, 2, 2, 1), (1, 2, 5, 4, 3, 2, 2, 1), (1, 9, 8)),
    ("SpatialConvolutionMM", (3, 2, 1, 1, 1, 3, 0, 2), (3, 2, 1, 1, 1, 3, 0, 2), (3, 5, 4)),
    ("SpatialConvolution", (3, 4, 3, 3), (3, 4, 3, 3, 1, 1, 0, 0), (3, 6, 7)),
    ("SpatialConvolution", (2, 3, 3, 3, 2, 2, 1), (2, 3, 3, 3, 2, 2, 1, 1), (2, 7, 6)),  # padH from padW
    ("SpatialConvolution", (2, 3, 2, 3, 2, 1, 0, 2), (2, 3, 2, 3, 2, 1, 0, 2), (2, 5, 8)),
    ("SpatialConvolution", (1, 2, 5, 4, 3, 2, 2, 1), (1, 2, 5, 4, 3, 2, 2, 1), (1, 9, 9)),
    ("SpatialDilatedConvolution", (2, 3, 3, 3, 1, 1, 0, 0, 2, 2), (2, 3, 3, 3, 1, 1, 0, 0, 2, 2), (2, 7, 7)),
    ("SpatialDilatedConvolution", (1, 2, 3, 2, 2, 1, 1, 0, 1, 2), (1, 2, 3, 2, 2, 1, 1, 0, 1, 2), (1, 9, 8)),
    ("SpatialDilatedConvolution", (2, 2, 2, 3, 1, 2, 2, 1, 3, 1), (2, 2, 2, 3, 1, 2, 2, 1, 3, 1), (2, 8, 9)),
    ("SpatialMaxPooling", (2, 2), (2, 2, 2, 2, 0, 0), (2, 8, 7)),
    ("SpatialMaxPooling", (3, 3, 2, 2, 1, 1), (3, 3, 2, 2, 1, 1), (2, 9, 8)),
    ("SpatialMaxPooling", (2, 3, 1, 2, 1, 1), (2, 3, 1, 2, 1, 1), (3, 7, 6)),
    ("SpatialMaxPooling", (5, 4, 3, 2, 2, 2), (5, 4, 3, 2, 2, 2), (1, 10, 11)),
    ("SpatialMaxPooling", (1, 1, 2, 3), (1, 1, 2, 3, 0, 0), (2, 7, 5)),
    ("SpatialDilatedMaxPooling", (2, 2, 1, 1, 0, 0, 2, 2), (2, 2, 1, 1, 0, 0, 2, 2), (2, 6, 5)),
    ("SpatialDilatedMaxPooling", (3, 2, 2, 1, 1, 1, 2, 3), (3, 2, 2, 1, 1, 1, 2, 3), (2, 9, 10)),
    ("SpatialDilatedMaxPooling", (2, 3, 1, 2, 1, 1, 1, 2), (2, 3, 1, 2, 1, 1, 1, 2), (1, 8, 7)),
    ("SpatialAveragePooling", (2, 2), (2, 2, 1, 1, 0, 0), (2, 6, 5)),
    ("SpatialAveragePooling", (3, 3, 2, 2, 1, 1), (3, 3, 2, 2, 1, 1), (2, 7, 8)),
    ("SpatialAveragePooling", (2, 4, 1, 3, 1, 2), (2, 4, 1, 3, 1, 2), (3, 9, 6)),
    ("SpatialAveragePooling", (5, 3, 2, 1, 2, 1), (5, 3, 2, 1, 2, 1), (1, 5, 9)),
    ("SpatialLPPooling", (2, 2.0, 2, 2), (2, 2.0, 2, 2, 2, 2), (2, 6, 6)),
    ("SpatialLPPooling", (2, 3.0, 3, 2, 1, 2), (2, 3.0, 3, 2, 1, 2), (2, 7, 8)),
    ("SpatialLPPooling", (3, 1.5, 2, 3, 2, 1), (3, 1.5, 2, 3, 2, 1), (3, 5, 7)),
    ("SpatialSubSampling", (2, 2, 2, 2, 2), (2, 2, 2, 2, 2), (2, 6, 6)),
    ("SpatialSubSampling", (3, 3, 2, 1, 2), (3, 3, 2, 1, 2), (3, 7, 5)),
    ("SpatialSubSampling", (2, 1, 3), (2, 1, 3, 1, 1), (2, 6, 4)),
    ("SpatialZeroPadding", (2, 1, 1, 1), (2, 1, 1, 1), (2, 3, 4)),
    ("SpatialZeroPadding", (1,), (1, 1, 1, 1), (1, 3, 3)),
    ("SpatialZeroPadding", (-1, 0, 1, -1), (-1, 0, 1, -1), (2, 4, 5)),
    ("SpatialZeroPadding", (2, 0, -1, 3), (2, 0, -1, 3), (3, 4, 2)),
    # the window's size is an argument of the kernels: odd and even sizes (one plane more before
    # than after, as PyTorch's), wider than the planes, and 1
    ("SpatialCrossMapLRN", (3,), (3, 1e-4, 0.75, 1.0), (5, 3, 4)),
    ("SpatialCrossMapLRN", (5, 0.5), (5, 0.5, 0.75, 1.0), (7, 2, 3)),
    ("SpatialCrossMapLRN", (4, 0.5, 0.5, 2.0), (4, 0.5, 0.5, 2.0), (6, 3, 2)),
    ("SpatialCrossMapLRN", (7, 2.0, 1.5, 0.5), (7, 2.0, 1.5, 0.5), (3, 4, 4)),
    ("SpatialCrossMapLRN", (1, 1.0, 0.75, 1.0), (1, 1.0, 0.75, 1.0), (4, 2, 2)),
    # Torch7's default kernel (9, wider than the image), odd kernels on images of other sides, 1
    ("SpatialSubtractiveNormalization", (), (1, 9), (1, 5, 6)),
    ("SpatialSubtractiveNormalization", (3, 3), (3, 3), (3, 6, 7)),
    ("SpatialSubtractiveNormalization", (2, 5), (2, 5), (2, 4, 8)),
    ("SpatialSubtractiveNormalization", (4, 7), (4, 7), (4, 9, 6)),
    ("SpatialSubtractiveNormalization", (2, 1), (2, 1), (2, 3, 3)),
    ("VolumetricConvolution", (2, 2, 2, 2, 2), (2, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0), (2, 4, 5, 4)),
    ("VolumetricConvolution", (1, 2, 3, 2, 1, 2, 1, 1, 1, 0, 1), (1, 2, 3, 2, 1, 2, 1, 1, 1, 0, 1), (1, 6, 4, 5)),
    ("VolumetricConvolution", (2, 1, 1, 3, 2, 1, 2, 3, 0, 1, 2), (2, 1, 1, 3, 2, 1, 2, 3, 0, 1, 2), (2, 3, 6, 5)),
    ("VolumetricMaxPooling", (2, 2, 2), (2, 2, 2, 2, 2, 2, 0, 0, 0), (2, 4, 4, 6)),
    ("VolumetricMaxPooling", (2, 3, 2, 1, 2, 1, 1, 1, 0), (2, 3, 2, 1, 2, 1, 1, 1, 0), (2, 5, 4, 6)),
    ("VolumetricMaxPooling", (3, 2, 2, 2, 1, 2, 1, 0, 1), (3, 2, 2, 2, 1, 2, 1, 0, 1), (1, 6, 5, 4)),
    ("VolumetricAveragePooling", (2, 2, 2), (2, 2, 2, 2, 2, 2), (2, 4, 4, 4)),
    ("VolumetricAveragePooling", (3, 2, 1, 1, 2, 1), (3, 2, 1, 1, 2, 1), (1, 5, 6, 3)),
    ("VolumetricAveragePooling", (1, 3, 2, 2, 1, 2), (1, 3, 2, 2, 1, 2), (2, 4, 5, 6)),
    # (steps > 1 dilate the input; an adjustment adds output rows below the step)
    ("SpatialFullConvolution", (2, 3, 3, 3), (2, 3, 3, 3, 1, 1, 0, 0, 0, 0), (2, 5, 4)),
    ("SpatialFullConvolution", (2, 3, 3, 2, 2, 2, 1, 0, 1, 1), (2, 3, 3, 2, 2, 2, 1, 0, 1, 1), (2, 4, 5)),
    ("SpatialFullConvolution", (1, 2, 4, 3, 3, 2, 1, 1, 2, 0), (1, 2, 4, 3, 3, 2, 1, 1, 2, 0), (1, 4, 3)),
    ("SpatialFullConvolution", (3, 2, 2, 2, 1, 3, 0, 1, 0, 2), (3, 2, 2, 2, 1, 3, 0, 1, 0, 2), (3, 3, 4)),
    # (Torch7's constructor fixes the input's size: iW, iH)
    ("SpatialConvolutionLocal", (2, 2, 4, 4, 3, 3), (2, 2, 4, 4, 3, 3, 1, 1, 0, 0), (2, 4, 4)),
    ("SpatialConvolutionLocal", (2, 3, 6, 5, 3, 2, 2, 1, 1, 0), (2, 3, 6, 5, 3, 2, 2, 1, 1, 0), (2, 5, 6)),
    ("SpatialConvolutionLocal", (1, 2, 7, 6, 2, 3, 2, 2, 1, 1), (1, 2, 7, 6, 2, 3, 2, 2, 1, 1), (1, 6, 7)),
    ("VolumetricFullConvolution", (2, 2, 2, 2, 2), (2, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0), (2, 3, 3, 3)),
    ("VolumetricFullConvolution", (1, 2, 3, 2, 2, 2, 1, 2, 1, 0, 1, 1, 0, 1), (1, 2, 3, 2, 2, 2, 1, 2, 1, 0, 1, 1, 0, 1),
     (1, 3, 4, 3)),
    ("SpatialUpSamplingNearest", (2,), (2,), (2, 3, 4)),
    ("SpatialUpSamplingNearest", (3,), (3,), (1, 5, 2)),
    ("SpatialUpSamplingNearest", (1,), (1,), (3, 2, 3)),
    ("SpatialUpSamplingBilinear", (2,), (2,), (2, 3, 4)),
    ("SpatialUpSamplingBilinear", (3,), (3,), (1, 5, 2)),
    ("SpatialUpSamplingBilinear", (1,), (1,), (3, 2, 3)),
    ("PixelShuffle", (2,), (2,), (8, 2, 3)),
    ("PixelShuffle", (3,), (3,), (9, 3, 2)),
    ("PixelShuffle", (1,), (1,), (2, 4, 3)),
    ("SpatialReflectionPadding", (2, 1, 1, 2), (2, 1, 1, 2), (2, 4, 5)),
    ("SpatialReflectionPadding", (1,), (1, 1, 1, 1), (1, 2, 3)),
    ("SpatialReflectionPadding", (3, 0, 2, 4), (3, 0, 2, 4), (3, 6, 4)),
    ("SpatialReplicationPadding", (2, 1, 1, 2), (2, 1, 1, 2), (2, 4, 5)),
    ("SpatialReplicationPadding", (1,), (1, 1, 1, 1), (1, 1, 1)),
    ("SpatialReplicationPadding", (4, 0, 3, 5), (4, 0, 3, 5), (3, 2, 6)),
]
IDS = [f"{name}{given}-{shape}" for name, given, _, shape in CASES]


def test_every_class_of_the_family_is_generated_and_tested():
    from derive.nn import _catalogue
    from derive.nn.windowed import CatalogueWindowModule

    family = {n for n in _catalogue.__all__ if issubclass(getattr(nn, n), CatalogueWindowModule)}
    assert family == set(REFERENCES) == {name for name, *_ in CASES}


@pytest.mark.parametrize("name, given, full, shape", CASES, ids=IDS)
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_agrees_with_pytorch(name, given, full, shape, batch):
    layer = getattr(nn, name)(*given, **({"rng": 2} if name in _WITH_PARAMETERS else {}))
    assert tuple(layer.arguments.values()) == full  # Torch7's defaults (dW = kW, padding 0, ...)
    rng = np.random.default_rng(len(shape) + sum(shape))
    low = 0.1 if name == "SpatialLPPooling" else -3.0  # (a p-norm of positive entries)
    x = rng.uniform(low, 3.0, ((batch,) if batch else ()) + shape)
    params = layer.parameters()[0] if layer.parameters() else []
    if name == "TemporalConvolution":  # Torch7's weight: outputFrameSize x kW x inputFrameSize here
        assert params[0].shape == (full[1], full[2], full[0])
    if name in ("SpatialConvolutionMM", "SpatialDilatedConvolution", "VolumetricConvolution"):
        # (nOutputPlane, nInputPlane, kernel)
        assert params[0].shape == (full[1], full[0]) + ((full[2], full[4], full[3]) if name.startswith("Volumetric")
                                                        else (full[3], full[2]))
    if name == "SpatialConvolutionLocal":  # (oH, oW, nOutputPlane, nInputPlane, kH, kW), bias (nOutputPlane, oH, oW)
        out = ((full[3] + 2 * full[9] - full[5]) // full[7] + 1, (full[2] + 2 * full[8] - full[4]) // full[6] + 1)
        assert params[0].shape == out + (full[1], full[0], full[5], full[4]) and params[1].shape == (full[1],) + out
    if name in ("SpatialFullConvolution", "VolumetricFullConvolution"):  # (nInputPlane, nOutputPlane, kernel)
        assert params[0].shape == (full[0], full[1]) + ((full[2], full[4], full[3]) if name.startswith("Volumetric")
                                                        else (full[3], full[2]))
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    reference = _batched(REFERENCES[name](full))
    yt = reference(xt, *pt, sample_rank=len(shape))
    gradOutput = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gradOutput))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(x, gradOutput), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert_parameter_gradients(layer, x, gradOutput, pt)


_WITH_PARAMETERS = {"TemporalConvolution", "TemporalSubSampling", "SpatialConvolutionMM", "SpatialSubSampling",
                    "VolumetricConvolution", "SpatialDilatedConvolution", "SpatialFullConvolution",
                    "VolumetricFullConvolution", "SpatialConvolutionLocal"}


@pytest.mark.parametrize("name, given, full, shape", [c for c in CASES if c[0] != "SpatialLPPooling"],
                         ids=[i for i, c in zip(IDS, CASES) if c[0] != "SpatialLPPooling"])
def test_passes_derive_check(name, given, full, shape):
    layer = getattr(nn, name)(*given, **({"rng": 0} if name in _WITH_PARAMETERS else {}))
    report = nn.check(layer, shape, batch=2)
    assert report.passed, str(report)


def test_reset_is_torch7s():
    conv = nn.SpatialConvolutionMM(3, 4, 5, 2, rng=0)
    bound = 1 / np.sqrt(5 * 2 * 3)  # 1/sqrt(kW kH nInputPlane)
    assert conv.weight.shape == (4, 3, 2, 5) and conv.bias.shape == (4,)
    assert 0.5 * bound < np.abs(conv.weight).max() <= bound and np.abs(conv.bias).max() <= bound
    conv.reset(0.01)
    assert np.abs(conv.weight).max() <= 0.01 * np.sqrt(3)


@pytest.mark.parametrize("make, input, message", [
    (lambda: nn.SpatialMaxPooling(3, 3), np.zeros((1, 2, 2)), "too small for the window"),
    (lambda: nn.SpatialConvolutionMM(2, 1, 3, 3), np.zeros((3, 5, 5)), "nInputPlane = 2"),
    (lambda: nn.VolumetricAveragePooling(2, 2, 2), np.zeros((2, 4, 4)), "must have 4 axes"),
    (lambda: nn.SpatialConvolutionLocal(2, 1, 4, 5, 3, 3), np.zeros((2, 4, 4)), r"must have shape \(2, 5, 4\)"),
    (lambda: nn.SpatialFullConvolution(2, 1, 3, 3, 2, 2), np.zeros((3, 4, 4)), "nInputPlane = 2"),
    (lambda: nn.SpatialSubtractiveNormalization(2, 3), np.zeros((3, 4, 4)), "nInputPlane = 2"),
    (lambda: nn.PixelShuffle(2), np.zeros((2, 6, 3, 3)), r"PixelShuffle: input's axis 1 of size 6 must be a "
                                                         r"multiple of 4, shape \(2, 6, 3, 3\)"),
    (lambda: nn.SpatialReflectionPadding(1, 1, 3, 0), np.zeros((2, 3, 4)),
     r"SpatialReflectionPadding: pad_t = 3 must be smaller than input's axis 2, of size 3, shape \(2, 3, 4\)"),
])
def test_bad_input_is_one_line(make, input, message):
    with pytest.raises(ValueError, match=message) as error:
        make().forward(input)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.SpatialMaxPooling(2, 2, 0), "dW must be a positive int, got 0"),
    (lambda: nn.SpatialAveragePooling(2, 2, 1, 1, -1), "padW must be 0 or more, got -1"),
    (lambda: nn.SpatialDilatedMaxPooling(2, 2, 1, 1, 0, 0, 0), "dilationW must be a positive int"),
    (lambda: nn.TemporalConvolution(2, 3, 0), "kW must be a positive int"),
    (lambda: nn.SpatialFullConvolution(2, 3, 3, 3, 2, 2, 0, 0, 2, 0), r"adjW must be from 0 to dW - 1 = 1, got 2"),
    (lambda: nn.SpatialFullConvolution(2, 3, 3, 3, 0), "dW must be a positive int, got 0"),
    (lambda: nn.VolumetricFullConvolution(2, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1), r"adjT must be from 0 to dT - 1 = 0"),
    (lambda: nn.SpatialConvolutionLocal(2, 3, 2, 4, 3, 3), "iW = 2 gives an output of size 0: too small for the window"),
    (lambda: nn.SpatialConvolutionLocal(2, 3, 4, 4, 3, 3, 0), "dW must be a positive int, got 0"),
    (lambda: nn.SpatialSubtractiveNormalization(2, 4), "kernel must be odd"),
])
def test_bad_arguments_are_one_line(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_kernels_print_the_window_by_its_arguments():
    """One kernel for every value: the window's steps and paddings are the arguments' names."""
    import inspect

    from derive.nn import _catalogue

    source = inspect.getsource(_catalogue._spatialmaxpooling_update_output)
    assert "window(x, (N_c, N_i, (kH), N_j, (kW)), (0, (-padH), (-padW)), ({0: 1}, {1: (dH), 2: 1}, " \
           "{3: (dW), 4: 1}))" in source


@pytest.mark.parametrize("make, output", [
    (lambda: nn.SpatialMaxPooling(2, 2), (8, 16, 16, 16)),
    (lambda: nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1), (8, 16, 16, 16)),
    (lambda: nn.SpatialAveragePooling(3, 3, 2, 2, 1, 1), (8, 16, 16, 16)),
    (lambda: nn.SpatialConvolutionMM(16, 16, 3, 3, 1, 1, 1, 1, rng=0), (8, 16, 32, 32)),
    (lambda: nn.SpatialConvolutionMM(16, 16, 3, 3, 2, 2, 1, 1, rng=0), (8, 16, 16, 16)),
    (lambda: nn.SpatialDilatedConvolution(16, 16, 3, 3, 1, 1, 2, 2, 2, 2, rng=0), (8, 16, 32, 32)),
    (lambda: nn.SpatialCrossMapLRN(5), (8, 16, 32, 32)),
    (lambda: nn.SpatialSubtractiveNormalization(16, 5), (8, 16, 32, 32)),
])
def test_a_step_needs_memory_of_the_patches_not_of_input_times_output(make, output):
    """The run-time-size kernels read windows and fold gradients back (derive.nn.functional): a
    forward + backward at batch 8, 16 planes, 32x32 allocates a few copies of the input, the
    output and the patches (about 9 input sizes for a 3x3 window), where a mask over every pair of
    input and output positions (the first run-time-size kernels') took gigabytes."""
    x, _, peak = _step_peak(make(), output)
    assert peak < 40 * x.nbytes, f"{peak / x.nbytes:.1f} times the input's bytes"


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.SpatialConvolution(2, 3, 3, 3, 2, 2, 1, rng=0), (4, 2, 7, 6)),
    (lambda: nn.SpatialConvolutionMM(2, 3, 3, 2, 1, 1, 0, 1, rng=0), (2, 6, 5)),
    (lambda: nn.SpatialDilatedConvolution(2, 2, 3, 3, 1, 1, 1, 1, 2, 2, rng=0), (3, 2, 8, 8)),
    (lambda: nn.TemporalConvolution(3, 2, 3, 2, rng=0), (3, 9, 3)),
    (lambda: nn.VolumetricConvolution(2, 2, 2, 2, 2, rng=0), (2, 2, 4, 5, 4)),
])
def test_the_backward_reads_the_patches_of_the_last_forward_as_torch7s_columns(make, shape):
    """accGradParameters of the last forward's input array reads the patches that forward copied
    (Torch7's columns): an input changed in place in between gives the gradient of the values the
    forward saw; another array, or a new forward, is copied anew."""
    rng = np.random.default_rng(7)
    layer, x = make(), rng.standard_normal(shape)
    seen = x.copy()
    g = rng.standard_normal(layer.forward(x).shape)
    x += 1.0  # in place, after forward
    layer.zeroGradParameters()
    layer.accGradParameters(x, g)
    fresh = make()
    fresh.forward(seen)
    fresh.zeroGradParameters()
    fresh.accGradParameters(seen, g)
    np.testing.assert_allclose(layer.gradWeight, fresh.gradWeight, rtol=1e-13, atol=1e-13)
    for again in (x.copy(), x):  # another array; the same one after a new forward
        layer.forward(again)
        layer.zeroGradParameters()
        layer.backward(again, g)
        fresh.forward(x.copy())
        fresh.zeroGradParameters()
        fresh.backward(x.copy(), g)
        np.testing.assert_allclose(layer.gradWeight, fresh.gradWeight, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(layer.gradInput, fresh.gradInput, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("rule, size, arguments, reference", [
    (("window", 1, "kW", "dW", "padW", "dilationW"), 11, {"kW": 3, "dW": 2, "padW": 1, "dilationW": 2},
     lambda n: F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, 3, 3), stride=2, padding=1, dilation=2).shape[-1]),
    (("pad", 1, "pad_l", "pad_r"), 5, {"pad_l": 2, "pad_r": -1}, lambda n: F.pad(torch.zeros(1, n), (2, -1)).shape[-1]),
    (("scale", 1, "scale"), 5, {"scale": 3},
     lambda n: F.interpolate(torch.zeros(1, 1, n), scale_factor=3, mode="nearest").shape[-1]),
    (("full", 1, "kW", "dW", "padW", "adjW"), 6, {"kW": 3, "dW": 2, "padW": 1, "adjW": 1},
     lambda n: F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, 3, 3), stride=2, padding=1,
                                  output_padding=1).shape[-1]),
    (("divide", 0, "upscaleFactor", 2), 18, {"upscaleFactor": 3},
     lambda n: F.pixel_shuffle(torch.zeros(1, n, 2, 2), 3).shape[1]),
])
def test_the_output_size_rules_are_pytorchs(rule, size, arguments, reference):
    """The rules a class of the family reads its output's sizes by (data in catalogue_windows.OUTPUT_SIZES)."""
    from derive.nn.windowed import output_size

    assert output_size(rule, size, arguments) == reference(size)


@pytest.mark.parametrize("make, output", [
    (lambda: nn.SpatialFullConvolution(16, 16, 3, 3, 1, 1, 1, 1, rng=0), (8, 16, 32, 32)),
    (lambda: nn.SpatialFullConvolution(16, 16, 3, 3, 2, 2, 1, 1, 1, 1, rng=0), (8, 16, 64, 64)),
])
def test_a_transposed_step_needs_memory_of_its_patches(make, output):
    """A transposed convolution's patches are the output's (a window of the dilated input per
    output position): a step at batch 8, 16 planes, 32x32 in allocates about twice the patches
    (kernel x output), never a mask over every pair of input and output positions."""
    _, gradOutput, peak = _step_peak(make(), output)
    patches = gradOutput.nbytes * 3 * 3
    assert peak < 2.5 * patches, f"{peak / patches:.1f} times the patches' bytes"


def test_a_transposed_module_takes_one_input_size_after_another():
    """The dilated input and its gradient's buffer follow the input's size, batch or not."""
    rng = np.random.default_rng(6)
    module = nn.SpatialFullConvolution(3, 2, 3, 2, 2, 3, 1, 0, 1, 2, rng=0)
    for shape in ((3, 4, 4), (3, 2, 5), (2, 3, 4, 4), (3, 4, 4)):
        x = rng.standard_normal(shape)
        fresh = nn.SpatialFullConvolution(3, 2, 3, 2, 2, 3, 1, 0, 1, 2, rng=0)
        y = module.forward(x)
        np.testing.assert_array_equal(y, fresh.forward(x))
        g = rng.standard_normal(y.shape)
        np.testing.assert_array_equal(module.backward(x, g), fresh.backward(x, g))
        np.testing.assert_array_equal(module.updateGradInput(x, g), fresh.updateGradInput(x, g))
        assert module.gradInput.shape == x.shape


def test_one_module_takes_one_input_size_after_another():
    """The output's sizes are the kernels' arguments: a module that met one input size computes
    the next size's output and gradient as a fresh module does."""
    rng = np.random.default_rng(5)
    pooling, convolution = nn.SpatialMaxPooling(2, 2), nn.SpatialConvolutionMM(3, 2, 3, 3, 1, 1, 1, 1, rng=0)
    for shape in ((3, 8, 8), (3, 6, 10), (2, 3, 5, 7)):
        x = rng.standard_normal(shape)
        for module, fresh in ((pooling, nn.SpatialMaxPooling(2, 2)),
                              (convolution, nn.SpatialConvolutionMM(3, 2, 3, 3, 1, 1, 1, 1, rng=0))):
            y = module.forward(x)
            np.testing.assert_array_equal(y, fresh.forward(x))
            g = rng.standard_normal(y.shape)
            np.testing.assert_array_equal(module.updateGradInput(x, g), fresh.updateGradInput(x, g))


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_bilinear_up_sampling_keeps_every_input_pixel_scale_apart(scale):
    """Torch7's output size, (n - 1) scale + 1 (the rule ("full", axis, 1, scale, 0, 0)): the
    corners stay and input pixel (i, j) is output pixel (scale i, scale j), counted from 0."""
    x = np.random.default_rng(scale).standard_normal((2, 3, 4, 5))
    y = nn.SpatialUpSamplingBilinear(scale).forward(x)
    assert y.shape == (2, 3, 3 * scale + 1, 4 * scale + 1)
    np.testing.assert_allclose(y[..., ::scale, ::scale], x, rtol=1e-14, atol=1e-14)


def test_resampling_keeps_float32():
    """A float32 module's output and gradInput are float32 (the bilinear weights, quotients of
    positions, are made in the input's type; a gradient scattered by bincount, a max pooling's
    too, comes back in it)."""
    for layer in (nn.SpatialUpSamplingBilinear(2), nn.SpatialUpSamplingNearest(2), nn.PixelShuffle(2),
                  nn.SpatialReflectionPadding(1, 2), nn.SpatialReplicationPadding(2, 1),
                  nn.SpatialDilatedMaxPooling(2, 2, 1, 1, 0, 0, 2, 2)):
        layer.type("torch.FloatTensor")
        x = np.ones((2, 4, 3, 3), np.float32)
        y = layer.forward(x)
        assert y.dtype == np.float32 and layer.backward(x, np.ones_like(y)).dtype == np.float32

"""Torch7's nn modules written in the language's other spellings (where and clamp forms, inferred
ranges, computed subscripts, concat, weighted criteria), as their documentation's formula, derived
by the engine, generated as a module and compared with PyTorch in float64, for one sample and a
batch, at inputs away from the kinks. The registry's own entries are tested in test_catalogue.py."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from test_catalogue import _away, _differences_away, _pool1d, _sign, _unbatched, writing_agrees
from test_layer_engine import load

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _batched(x):
    """x with a batch axis (PyTorch's interpolation takes (N, C, H, W) only)."""
    return x if x.dim() == 4 else x[None]


#: (Torch7 name, expression, shapes, keyword arguments, PyTorch, inputs' range, kinks)
MODULES = [
    ("HardTanh", "y = where(x > 1, 1, where(x < -1, -1, x))", {"x": (7,)}, {}, F.hardtanh, (-3, 3), (-1, 1)),
    ("HardTanh (clamp)", "y = clamp(x, -1, 1)", {"x": (7,)}, {}, F.hardtanh, (-3, 3), (-1, 1)),
    ("Clamp", "y = clamp(x, -0.5, 2)", {"x": (3, 4)}, {}, lambda x: torch.clamp(x, -0.5, 2), (-3, 3), (-0.5, 2)),
    ("ReLU6", "y = min(max(x, 0), 6)", {"x": (9,)}, {}, F.relu6, (-8, 8), (0, 6)),
    ("ReLU", "y = max(0, x)", {"x": (6,)}, {}, F.relu, (-3, 3), (0,)),
    ("ReLU (where)", "y = where(x > 0, x, 0)", {"x": (6,)}, {}, F.relu, (-3, 3), (0,)),
    ("PReLU(nOutputPlane)", "y[c,i] = max(0, x[c,i]) + a[c] * min(0, x[c,i])", {"x": (3, 4)}, {},
     lambda x, a: F.prelu(x if x.dim() == 3 else x[None], a).reshape(x.shape), (-3, 3), (0,)),
    ("RReLU (evaluation)", "y = max(0, x) + (1/8 + 1/3) / 2 * min(0, x)", {"x": (8,)}, {},
     lambda x: F.rrelu(x, training=False), (-3, 3), (0,)),
    ("LeakyReLU", "y = max(0, x) + 0.01 * min(0, x)", {"x": (8,)}, {}, F.leaky_relu, (-3, 3), (0,)),
    ("ELU", "y = max(0, x) + min(0, 1.0 * (exp(x) - 1))", {"x": (8,)}, {}, F.elu, (-3, 3), (0,)),
    ("ELU (where)", "y = where(x > 0, x, exp(x) - 1)", {"x": (2, 5)}, {}, F.elu, (-3, 3), (0,)),
    ("HardShrink", "y = where(x > 0.5, x, where(x < -0.5, x, 0))", {"x": (8,)}, {},
     lambda x: F.hardshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    ("HardShrink (abs)", "y = where(abs(x) > 0.5, x, 0)", {"x": (8,)}, {},
     lambda x: F.hardshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    ("SoftShrink", "y = where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))", {"x": (8,)}, {},
     lambda x: F.softshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    ("Threshold", "y = where(x > 0.1, x, 20)", {"x": (8,)}, {},
     lambda x: F.threshold(x, 0.1, 20), (-3, 3), (0.1,)),
    ("Max", "y[i] = max(x[i,j], j)", {"x": (3, 5)}, {}, lambda x: torch.max(x, -1)[0], (-3, 3), ()),
    ("Min", "y[j] = min(x[i,j], i)", {"x": (4, 3)}, {}, lambda x: torch.min(x, -2)[0], (-3, 3), ()),
    ("TemporalMaxPooling", "y[t,c] = max(x[2*t+k-2, c], k)", {"x": (8, 3)}, {"ranges": {"k": 2}},
     _pool1d, (-3, 3), ()),
    ("SpatialMaxPooling", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (2, 6, 6)},
     {"ranges": {"p": 2, "q": 2}}, lambda x: F.max_pool2d(x, 2), (-3, 3), ()),
    ("SpatialMaxPooling (3x3, stride 2)", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (2, 7, 7)},
     {"ranges": {"p": 3, "q": 3}}, lambda x: F.max_pool2d(x, 3, 2), (-3, 3), ()),
    ("SpatialMaxPooling (ranges inferred)", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)",
     {"x": (2, 6, 6), "y": (2, 3, 3)}, {}, lambda x: F.max_pool2d(x, 2), (-3, 3), ()),
    ("SpatialDilatedMaxPooling", "y[c,i,j] = max(x[c, i+2*p-2, j+2*q-2], p, q)", {"x": (2, 6, 5)},
     {"ranges": {"p": 2, "q": 2}}, lambda x: F.max_pool2d(x, 2, stride=1, dilation=2), (-3, 3), ()),
    ("VolumetricMaxPooling", "y[c,t,i,j] = max(x[c, 2*t+r-2, 2*i+p-2, 2*j+q-2], r, p, q)", {"x": (2, 4, 4, 6)},
     {"ranges": {"r": 2, "p": 2, "q": 2}}, lambda x: F.max_pool3d(x, 2), (-3, 3), ()),
    # zero padding: a read outside the input is 0
    ("SpatialConvolution (padding 1)", "y[o,h,w] = sum(W[o,c,p,q] * x[c,h+p-2,w+q-2], c, p, q) + b[o]",
     {"x": (2, 5, 6), "W": (3, 2, 3, 3), "y": (3, 5, 6)}, {},
     lambda x, W, b: _unbatched(F.conv2d, x, W, b, padding=1), (-3, 3), ()),
    ("SpatialConvolution (stride 2, padding 1)", "y[o,h,w] = sum(W[o,c,p,q] * x[c,2*h+p-3,2*w+q-3], c, p, q) + b[o]",
     {"x": (2, 6, 6), "W": (3, 2, 3, 3), "y": (3, 3, 3)}, {},
     lambda x, W, b: _unbatched(F.conv2d, x, W, b, stride=2, padding=1), (-3, 3), ()),
    ("SpatialFullConvolution", "y[o,h,w] = sum(W[c,o,p,q] * x[c,h-p+1,w-q+1], c, p, q) + b[o]",
     {"x": (2, 4, 5), "W": (2, 3, 3, 3), "y": (3, 6, 7)}, {},
     lambda x, W, b: _unbatched(F.conv_transpose2d, x, W, b), (-3, 3), ()),
    ("SpatialZeroPadding", "y[c,i,j] = x[c,i-1,j-2]", {"x": (2, 3, 4), "y": (2, 5, 7)}, {},
     lambda x: F.pad(x, (2, 1, 1, 1)), (-3, 3), ()),
    # computed subscripts: // and % by integers, min, max and abs of affine forms
    ("PixelShuffle(2)", "y[c,u,v] = x[4*(c-1) + 2*((u-1) % 2) + (v-1) % 2 + 1, (u-1)//2 + 1, (v-1)//2 + 1]",
     {"x": (8, 2, 3), "y": (2, 4, 6)}, {}, lambda x: F.pixel_shuffle(x, 2), (-3, 3), ()),
    ("SpatialUpSamplingNearest(2)", "y[c,u,v] = x[c, (u-1)//2 + 1, (v-1)//2 + 1]",
     {"x": (2, 3, 4), "y": (2, 6, 8)}, {}, lambda x: F.interpolate(_batched(x), scale_factor=2).reshape(
         x.shape[:-2] + (6, 8)), (-3, 3), ()),
    ("SpatialReflectionPadding(2, 1, 1, 2)", "y[c,i,j] = x[c, 4 - abs(3 - abs(i - 2)), 5 - abs(4 - abs(j - 3))]",
     {"x": (2, 4, 5), "y": (2, 7, 8)}, {}, lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), (-3, 3), ()),
    ("SpatialReplicationPadding(2, 1, 1, 2)", "y[c,i,j] = x[c, min(max(i - 1, 1), 4), min(max(j - 2, 1), 5)]",
     {"x": (2, 4, 5), "y": (2, 7, 8)}, {}, lambda x: F.pad(x, (2, 1, 1, 2), mode="replicate"), (-3, 3), ()),
    # align_corners (Torch7's): output (H - 1) * 2 + 1; each input weighted by the tent max(0, 1 - |distance|)
    ("SpatialUpSamplingBilinear(2)",
     "y[c,u,v] = sum(x[c,i,j] * max(0, 1 - abs((u-1)/2 - (i-1))) * max(0, 1 - abs((v-1)/2 - (j-1))), i, j)",
     {"x": (2, 3, 4), "y": (2, 5, 7)}, {}, lambda x: F.interpolate(
         _batched(x), size=(5, 7), mode="bilinear", align_corners=True).reshape(x.shape[:-2] + (5, 7)), (-3, 3), ()),
    # concat along the last axis (the feature axis of one sample)
    ("CReLU", "y = concat(max(0, x), max(0, -x))", {"x": (6,)}, {},
     lambda x: torch.cat((F.relu(x), F.relu(-x)), -1), (-3, 3), (0,)),
    ("CReLU (2D)", "y = concat(max(0, x), max(0, -x))", {"x": (3, 4)}, {},
     lambda x: torch.cat((F.relu(x), F.relu(-x)), -1), (-3, 3), (0,)),
    ("Normalize(inf)", "y[i] = x[i] / max(abs(x[k]), k)", {"x": (5,)}, {},
     lambda x: F.normalize(x, p=float("inf"), dim=-1), (-3, 3), ()),
]


@pytest.mark.parametrize("case", MODULES, ids=[c[0] for c in MODULES])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_module_agrees_with_pytorch(case, batch, tmp_path):
    writing_agrees(case, batch, tmp_path)


#: (Torch7 name, expression, shapes, keyword arguments, PyTorch (x, t, constants), x's range,
#:  the target for x (None: no target), the constants by name, x's kinks)
CRITERIA = [
    ("BCECriterion(weights)", "J = -mean(w * (t * log(x) + (1 - t) * log(1 - x)))", {"x": (5,)},
     {"target": "t", "constants": ("w",)}, lambda x, t, w: F.binary_cross_entropy(x, t, weight=w),
     (0.05, 0.95), lambda rng, x: rng.uniform(0, 1, x.shape), {"w": np.array([0.5, 1.0, 2.0, 0.25, 3.0])}, ()),
    ("SmoothL1Criterion", "J = mean(where(abs(x - t) < 1, 0.5 * (x - t)**2, abs(x - t) - 0.5))", {"x": (6,)},
     {"target": "t"}, lambda x, t: F.smooth_l1_loss(x, t), (-3, 3), _differences_away((-1, 0, 1)), {}, ()),
    ("HingeEmbeddingCriterion", "J = mean(where(t == 1, x, max(0, 1 - x)))", {"x": (6,)},
     {"target": "t"}, lambda x, t: F.hinge_embedding_loss(x, t, margin=1.0), (-3, 3), _sign, {}, (1,)),
    ("MarginCriterion", "J = mean(max(0, 1 - t * x))", {"x": (6,)},
     {"target": "t"}, lambda x, t: F.relu(1 - t * x).mean(), (-3, 3), _sign, {}, (-1, 1)),
    ("ClassNLLCriterion", "J = -x[t]", {"x": (5,)}, {"target": "t"}, lambda x, t: F.nll_loss(x, t),
     (-3, 3), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]), {}, ()),
    # the documentation's per-sample loss; a batch here is the mean of the samples' losses (PyTorch's
    # weighted mean divides by the targets' total weight instead)
    ("ClassNLLCriterion(weights)", "J = -w[t] * x[t]", {"x": (5,), "w": (5,)}, {"target": "t", "constants": ("w",)},
     lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="sum") / (x.shape[0] if x.dim() == 2 else 1),
     (-3, 3), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]),
     {"w": np.array([0.5, 1.0, 2.0, 0.25, 3.0])}, ()),
    ("CrossEntropyCriterion", "J = log(sum(exp(x[k]), k)) - x[t]", {"x": (5,)}, {"target": "t"},
     lambda x, t: F.cross_entropy(x, t), (-3, 3), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]),
     {}, ()),
    # sum over i != y of max(0, 1 - x[y] + x[i])^p / n: the i = y term, max(0, 1)^p = 1, taken out
    ("MultiMarginCriterion (p=1)", "J = (sum(max(0, 1 - x[t] + x[k]), k) - 1) / 5", {"x": (5,)},
     {"target": "t"}, lambda x, t: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=1),
     (-1, 1), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]), {}, ()),
    ("MultiMarginCriterion (p=2)", "J = (sum(max(0, 1 - x[t] + x[k])**2, k) - 1) / 5", {"x": (5,)},
     {"target": "t"}, lambda x, t: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=2),
     (-1, 1), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]), {}, ()),
    # the input center-cropped to the target's (declared) shape
    ("SpatialAutoCropMSECriterion", "J = mean((x[c, i+1, j+1] - t[c,i,j])**2, c, i, j)",
     {"x": (2, 6, 6), "t": (2, 4, 4)}, {"target": "t"}, lambda x, t: F.mse_loss(x[..., 1:5, 1:5], t, reduction="sum") / 32 / (
         x.shape[0] if x.dim() == 4 else 1), (-3, 3), lambda rng, x: rng.uniform(-2, 2, x.shape[:-2] + (4, 4)), {}, ()),
    # the documentation's per-sample loss, weights[class] (-x[class] + log(sum_j exp(x[j])))
    ("CrossEntropyCriterion(weights)", "J = w[t] * (log(sum(exp(x[k]), k)) - x[t])", {"x": (5,), "w": (5,)},
     {"target": "t", "constants": ("w",)},
     lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum") / (x.shape[0] if x.dim() == 2 else 1),
     (-3, 3), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]),
     {"w": np.array([0.5, 1.0, 2.0, 0.25, 3.0])}, ()),
    ("MultiMarginCriterion (p=1, weights)", "J = (sum(w[t] * max(0, 1 - x[t] + x[k]), k) - w[t]) / 5",
     {"x": (5,), "w": (5,)}, {"target": "t", "constants": ("w",)},
     lambda x, t, w: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=1, weight=w),
     (-1, 1), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]),
     {"w": np.array([0.5, 1.0, 2.0, 0.25, 3.0])}, ()),
    ("MultiMarginCriterion (p=2, weights)", "J = (sum(w[t] * max(0, 1 - x[t] + x[k])**2, k) - w[t]) / 5",
     {"x": (5,), "w": (5,)}, {"target": "t", "constants": ("w",)},
     lambda x, t, w: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=2, weight=w),
     (-1, 1), lambda rng, x: rng.integers(0, x.shape[-1], x.shape[:-1]),
     {"w": np.array([0.5, 1.0, 2.0, 0.25, 3.0])}, ()),
    ("Max over all entries", "J = max(x)", {"x": (3, 4)}, {}, lambda x: x.amax(dim=(-2, -1)).mean(),
     (-3, 3), None, {}, ()),
]


@pytest.mark.parametrize("case", CRITERIA, ids=[c[0] for c in CRITERIA])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_criterion_agrees_with_pytorch(case, batch, tmp_path):
    name, text, shapes, kwargs, reference, (low, high), target, constants, kinks = case
    Criterion = load(derive.module_source(text, shapes, **kwargs), tmp_path)
    criterion = Criterion(**constants)
    rng = np.random.default_rng(4)
    x = _away(rng.uniform(low, high, ((batch,) if batch else ()) + Criterion.inputShape), kinks)
    xt = torch.tensor(x, requires_grad=True)
    given = [torch.tensor(c) for c in constants.values()]
    if target is None:
        loss, value, grad = reference(xt, *given), criterion.forward(x), None
    else:
        t = target(rng, x)
        loss, value = reference(xt, torch.tensor(t), *given), criterion.forward(x, t)
    loss.backward()
    assert value == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    grad = criterion.backward(x) if target is None else criterion.backward(x, t)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)

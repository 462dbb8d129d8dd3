"""The catalogue (derive/catalogue.py): every Torch7 module and criterion of its registry, its
formula written as its documentation's, derived by the engine, generated as a module and compared
with PyTorch in float64 for one sample and a batch, at inputs away from the kinks. The PyTorch
references live here, the formulas in the registry; a few other writings of the same modules
(where, clamp, inferred ranges) check that the language says them too."""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

import derive
from derive.catalogue import ENTRIES, Arg, Entry, Formula, lookup
from test_layer_engine import agrees_with_autograd, load

torch = pytest.importorskip("torch")
F = torch.nn.functional


def assert_parameter_gradients(layer, given, gradOutput, theirs: list) -> None:
    """The module's parameter gradients after its backward are PyTorch's leaves' (``theirs``), and
    accGradParameters adds scale times them to what is there."""
    mine = layer.parameters()[1] if theirs else []
    for gradient, leaf in zip(mine, theirs):
        np.testing.assert_allclose(gradient, leaf.grad.numpy(), rtol=1e-10, atol=1e-12)
    if theirs:
        before = [g.copy() for g in mine]
        layer.accGradParameters(given, gradOutput, 0.5)
        for gradient, old, leaf in zip(layer.parameters()[1], before, theirs):
            np.testing.assert_allclose(gradient, old + 0.5 * leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def _away(x: np.ndarray, kinks) -> np.ndarray:
    """x moved at least 0.05 away from every kink (the tests check the gradient, not a subgradient)."""
    for c in kinks:
        close = np.abs(x - c) < 0.05
        x = np.where(close, x + 0.1, x)
    return x


def _pool1d(x):  # TemporalMaxPooling's (time, frame) layout is PyTorch's (frame, time) transposed
    return F.max_pool1d(x.transpose(-1, -2), 2).transpose(-1, -2)


def _unbatched(function, x, *args, **kwargs):
    """PyTorch's convolutions on one sample (no batch axis) or a batch."""
    dims = 4 if function in (F.conv2d, F.conv_transpose2d) else 5
    return function(x, *args, **kwargs) if x.dim() == dims else function(x[None], *args, **kwargs)[0]


def _batchnorm(x, gamma, beta):
    one = lambda s: F.batch_norm(s, None, None, gamma, beta, training=True, eps=1e-5)  # noqa: E731
    return one(x) if x.dim() == 2 else torch.stack([one(s) for s in x])


def _local(x, W, b):
    """SpatialConvolutionLocal at steps 1, no padding (its sizes from the weight's)."""
    lead = x.shape[:-3]
    oH, oW, planes, _, kH, kW = W.shape
    patches = F.unfold(x.reshape(-1, *x.shape[-3:]), (kH, kW)).reshape(-1, x.shape[-3], kH, kW, oH, oW)
    return (torch.einsum("hwocpq,ncpqhw->nohw", W, patches) + b).reshape(lead + (planes, oH, oW))


def _temporal_subsampling(x, W, b):
    pooled = F.avg_pool1d(x.transpose(-1, -2), 2, 2) * 2
    return (pooled * W[:, None] + b[:, None]).transpose(-1, -2)


def _corners(x, scale: int) -> tuple:
    """Torch7's bilinear up-sampled height and width (align_corners): (n - 1) scale + 1."""
    return tuple((n - 1) * scale + 1 for n in x.shape[-2:])


def _four(x):
    """x with a batch axis (PyTorch's interpolate takes (N, C, H, W) only)."""
    return x if x.dim() == 4 else x[None]


def _subtractive(x, k: int):
    """Torch7's SpatialSubtractiveNormalization with a uniform k x k kernel: x minus the window's
    sum over every plane (zero padded) over the planes times the window's pixels in the image."""
    ones = torch.ones(1, x.shape[-3], k, k, dtype=x.dtype)
    sums = F.conv2d(_four(x), ones, padding=k // 2)
    count = F.conv2d(torch.ones_like(_four(x)), ones, padding=k // 2)
    return (_four(x) - sums / count).reshape(x.shape)


#: Torch7 name -> (PyTorch of (inputs..., parameters in the module's order), inputs' range, kinks)
MODULES = {
    "Tanh": (torch.tanh, (-3, 3), ()),
    "Sigmoid": (torch.sigmoid, (-3, 3), ()),
    "ReLU": (F.relu, (-3, 3), (0,)),
    "ReLU6": (F.relu6, (-8, 8), (0, 6)),
    "HardTanh": (F.hardtanh, (-3, 3), (-1, 1)),
    "Clamp": (lambda x: torch.clamp(x, -0.5, 2), (-3, 3), (-0.5, 2)),
    "LeakyReLU": (F.leaky_relu, (-3, 3), (0,)),
    "ELU": (F.elu, (-3, 3), (0,)),
    "RReLU": (lambda x: F.rrelu(x, training=False), (-3, 3), (0,)),
    "SoftPlus": (F.softplus, (-3, 3), ()),
    "SoftSign": (F.softsign, (-3, 3), (0,)),
    "LogSigmoid": (F.logsigmoid, (-3, 3), ()),
    "Exp": (torch.exp, (-2, 2), ()),
    "Log": (torch.log, (0.1, 3), ()),
    "Abs": (torch.abs, (-3, 3), (0,)),
    "Square": (torch.square, (-3, 3), ()),
    "Sqrt": (torch.sqrt, (0.1, 3), ()),
    "Power": (lambda x: x ** 3, (-2, 2), ()),
    "HardShrink": (lambda x: F.hardshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    "SoftShrink": (lambda x: F.softshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    "Threshold": (lambda x: F.threshold(x, 0.1, 20), (-3, 3), (0.1,)),
    "SoftMax": (lambda x: F.softmax(x, -1), (-3, 3), ()),
    "SoftMin": (lambda x: F.softmin(x, -1), (-3, 3), ()),
    "LogSoftMax": (lambda x: F.log_softmax(x, -1), (-3, 3), ()),
    "MulConstant": (lambda x: 3 * x, (-3, 3), ()),
    "AddConstant": (lambda x: x + 3, (-3, 3), ()),
    "Identity": (lambda x: x * 1, (-3, 3), ()),
    "Normalize": (lambda x: F.normalize(x, p=2, dim=-1), (-3, 3), ()),
    "SpatialSoftMax": (lambda x: F.softmax(x, -3), (-3, 3), ()),
    "PReLU": (lambda x, a: F.prelu(x if x.dim() == 3 else x[None], a).reshape(x.shape), (-3, 3), (0,)),
    "Linear": (F.linear, (-3, 3), ()),
    "Bilinear": (lambda x1, x2, W, b: F.bilinear(x1, x2, W, b) if x1.dim() == 2 else F.bilinear(x1[None], x2[None], W, b)[0],
                 (-3, 3), ()),
    "Add": (lambda x, b: x + b, (-3, 3), ()),
    "CAdd": (lambda x, b: x + b, (-3, 3), ()),
    "CMul": (lambda x, w: x * w, (-3, 3), ()),
    "Mean": (lambda x: x.mean(-2), (-3, 3), ()),
    "Sum": (lambda x: x.sum(-2), (-3, 3), ()),
    "Max": (lambda x: x.max(-1)[0], (-3, 3), ()),
    "Min": (lambda x: x.min(-2)[0], (-3, 3), ()),
    "Euclidean": (lambda x, W: torch.sqrt(((x[..., :, None] - W) ** 2).sum(-2)), (-3, 3), ()),
    "WeightedEuclidean": (lambda x, D, W: torch.sqrt(((D * (x[..., :, None] - W)) ** 2).sum(-2)), (-3, 3), ()),
    "Cosine": (lambda x, W: (x @ W.T) / (W.norm(dim=1) * x.norm(dim=-1, keepdim=True)), (-3, 3), ()),
    "Narrow": (lambda x: x[..., 1:4], (-3, 3), ()),
    "GatedLinearUnit": (lambda x: F.glu(x, -1), (-3, 3), ()),
    "Mul": (lambda x, w: w * x, (-3, 3), ()),
    "Replicate": (lambda x: x[..., None, :].expand(*x.shape[:-1], 2, x.shape[-1]), (-3, 3), ()),
    "Padding": (lambda x: _inserted(x, -1, 1, 2, -1.0), (-3, 3), ()),  # (its example: index 2, value -1)
    "MM": (torch.matmul, (-3, 3), ()),
    "CAddTable": (torch.add, (0.5, 2), ()),
    "CSubTable": (torch.sub, (0.5, 2), ()),
    "CMulTable": (torch.mul, (0.5, 2), ()),
    "CDivTable": (torch.div, (0.5, 2), ()),
    "TemporalConvolution": (lambda x, W, b: F.conv1d(x.transpose(-1, -2), W.permute(0, 2, 1), b).transpose(-1, -2),
                            (-3, 3), ()),
    "TemporalSubSampling": (_temporal_subsampling, (-3, 3), ()),
    "TemporalMaxPooling": (_pool1d, (-3, 3), ()),
    "SpatialConvolution": (lambda x, W, b: _unbatched(F.conv2d, x, W, b, padding=1), (-3, 3), ()),
    "SpatialConvolutionMM": (lambda x, W, b: _unbatched(F.conv2d, x, W, b, stride=2, padding=1), (-3, 3), ()),
    "SpatialDilatedConvolution": (lambda x, W, b: _unbatched(F.conv2d, x, W, b, dilation=2), (-3, 3), ()),
    "SpatialFullConvolution": (lambda x, W, b: _unbatched(F.conv_transpose2d, x, W, b), (-3, 3), ()),
    "SpatialConvolutionLocal": (_local, (-3, 3), ()),
    "SpatialMaxPooling": (lambda x: F.max_pool2d(x, 2), (-3, 3), ()),
    "SpatialDilatedMaxPooling": (lambda x: F.max_pool2d(x, 2, stride=1, dilation=2), (-3, 3), ()),
    "SpatialAveragePooling": (lambda x: F.avg_pool2d(x, 2, 2), (-3, 3), ()),
    "SpatialLPPooling": (lambda x: F.lp_pool2d(x, 2, 2), (0.1, 2), ()),
    "SpatialSubSampling": (lambda x, W, b: F.avg_pool2d(x, 2, 2) * 4 * W[:, None, None] + b[:, None, None],
                           (-3, 3), ()),
    "SpatialZeroPadding": (lambda x: F.pad(x, (2, 1, 1, 1)), (-3, 3), ()),
    "SpatialCrossMapLRN": (lambda x: F.local_response_norm(x if x.dim() == 4 else x[None], 3, 0.5)
                           .reshape(x.shape), (-3, 3), ()),
    "VolumetricConvolution": (lambda x, W, b: _unbatched(F.conv3d, x, W, b), (-3, 3), ()),
    "VolumetricMaxPooling": (lambda x: F.max_pool3d(x, 2), (-3, 3), ()),
    "VolumetricAveragePooling": (lambda x: F.avg_pool3d(x, 2), (-3, 3), ()),
    "BatchNormalization": (_batchnorm, (-3, 3), ()),
    # issue 20's: computed subscripts, concat, a window read as 0 outside (each entry at its example)
    "PixelShuffle": (lambda x: F.pixel_shuffle(x, 2), (-3, 3), ()),
    "CReLU": (lambda x: torch.cat((F.relu(x), F.relu(-x)), -1), (-3, 3), (0,)),
    # (written for any input size: derive.nn's classes are compared at other sizes too)
    "SpatialUpSamplingNearest": (lambda x: F.interpolate(_four(x), scale_factor=2)
                                 .reshape(x.shape[:-2] + tuple(2 * n for n in x.shape[-2:])), (-3, 3), ()),
    "SpatialUpSamplingBilinear": (lambda x: F.interpolate(_four(x), size=_corners(x, 2), mode="bilinear",
                                                          align_corners=True).reshape(x.shape[:-2] + _corners(x, 2)),
                                  (-3, 3), ()),
    "SpatialReflectionPadding": (lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), (-3, 3), ()),
    "SpatialReplicationPadding": (lambda x: F.pad(x, (2, 1, 1, 2), mode="replicate"), (-3, 3), ()),
    "SpatialSubtractiveNormalization": (lambda x: _subtractive(x, 3), (-3, 3), ()),
    "VolumetricFullConvolution": (lambda x, W, b: _unbatched(F.conv_transpose3d, x, W, b), (-3, 3), ()),
}


def _sign(rng, x):
    """A target of -1 and 1, of x's shape."""
    return rng.choice([-1.0, 1.0], size=x.shape)


def _pair_sign(rng, x):
    """One target of -1 or 1 a sample of a pair criterion."""
    return rng.choice([-1.0, 1.0], size=x.shape[:-1])


def _differences_away(kinks):
    """A target t for x whose x - t is away from the criterion's kinks."""
    def target(rng, x):
        t = rng.uniform(-2, 2, x.shape)
        return x - _away(x - t, kinks)
    return target


def _classes(rng, x):
    return rng.integers(0, x.shape[-1], x.shape[:-1])


def _class_lists(rng, x):
    """PyTorch's multilabel target, of the input's shape: each sample's classes (a different number a
    sample, 1 up to all of them), then -1 where there are fewer, then classes that do not count."""
    n, rows = x.shape[-1], []
    for k in [1 + i % n for i in range(int(np.prod(x.shape[:-1])))]:
        row = np.concatenate([rng.permutation(n)[:k], [-1], rng.integers(0, n, n)])[:n]
        rows.append(row)
    return np.stack(rows).reshape(x.shape)


WEIGHTS = np.array([0.5, 1.0, 2.0, 0.25, 3.0])

#: (Torch7 name, its constructor's arguments) -> (PyTorch of (inputs..., t, constants...), inputs' range,
#:  the target for the first input, the constants by name, the inputs' kinks)
CRITERIA = {
    ("MSECriterion", ()): (F.mse_loss, (-3, 3), _differences_away(()), {}, ()),
    ("AbsCriterion", ()): (F.l1_loss, (-3, 3), _differences_away((0,)), {}, ()),
    ("SmoothL1Criterion", ()): (F.smooth_l1_loss, (-3, 3), _differences_away((-1, 0, 1)), {}, ()),
    ("BCECriterion", ()): (F.binary_cross_entropy, (0.05, 0.95), lambda rng, x: rng.uniform(0, 1, x.shape), {}, ()),
    ("BCECriterion", ("true",)): (lambda x, t, w: F.binary_cross_entropy(x, t, weight=w), (0.05, 0.95),
                                  lambda rng, x: rng.uniform(0, 1, x.shape), {"w": WEIGHTS}, ()),
    ("ClassNLLCriterion", ()): (F.nll_loss, (-3, 3), _classes, {}, ()),
    # sizeAverage false: a batch sums the samples' losses (and BCE a sample's elements)
    ("MSECriterion", ("false",)): (lambda x, t: F.mse_loss(x, t, reduction="sum"), (-3, 3), _differences_away(()),
                                   {}, ()),
    ("BCECriterion", ("true", "false")): (lambda x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction="sum"),
                                          (0.05, 0.95), lambda rng, x: rng.uniform(0, 1, x.shape), {"w": WEIGHTS}, ()),
    ("ClassNLLCriterion", ("true", "false")): (lambda x, t, w: F.nll_loss(x, t, weight=w, reduction="sum"),
                                               (-3, 3), _classes, {"w": WEIGHTS}, ()),
    # with weights, a batch's mean divides by the sum of the targets' weights (one sample: -x[t])
    ("ClassNLLCriterion", ("true",)): (lambda x, t, w: F.nll_loss(x, t, weight=w), (-3, 3), _classes,
                                       {"w": WEIGHTS}, ()),
    ("CrossEntropyCriterion", ()): (F.cross_entropy, (-3, 3), _classes, {}, ()),
    ("CrossEntropyCriterion", ("true",)): (lambda x, t, w: F.cross_entropy(x, t, weight=w), (-3, 3), _classes,
                                           {"w": WEIGHTS}, ()),
    ("DistKLDivCriterion", ()): (lambda x, t: F.kl_div(x, t, reduction="mean"), (-3, 3),
                                 lambda rng, x: rng.uniform(0.1, 1, x.shape), {}, ()),
    ("MarginCriterion", ()): (lambda x, t: F.relu(1 - t * x).mean(), (-3, 3), _sign, {}, (-1, 1)),
    ("SoftMarginCriterion", ()): (F.soft_margin_loss, (-3, 3), _sign, {}, ()),
    ("MultiMarginCriterion", ()): (lambda x, t: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=1),
                                   (-1, 1), _classes, {}, ()),
    ("MultiMarginCriterion", ("2",)): (
        lambda x, t: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=2),
        (-1, 1), _classes, {}, ()),
    ("MultiMarginCriterion", ("2", "true")): (
        lambda x, t, w: F.multi_margin_loss(x if x.dim() == 2 else x[None], t.reshape(-1), p=2, weight=w),
        (-1, 1), _classes, {"w": WEIGHTS}, ()),
    ("MultiLabelMarginCriterion", ()): (
        lambda x, t: F.multilabel_margin_loss(x.reshape(-1, 5), t.reshape(-1, 5)), (-1, 1), _class_lists, {}, ()),
    ("MultiLabelMarginCriterion", ("false",)): (
        lambda x, t: F.multilabel_margin_loss(x.reshape(-1, 5), t.reshape(-1, 5), reduction="sum"), (-1, 1),
        _class_lists, {}, ()),
    # the target is larger: its centre, cropped to the input's 4 x 4, is compared
    ("SpatialAutoCropMSECriterion", ()): (lambda x, t: F.mse_loss(x, t[..., 1:5, 1:5]), (-3, 3),
                                          lambda rng, x: rng.uniform(-2, 2, x.shape[:-2] + (6, 6)), {}, ()),
    ("SpatialAutoCropMSECriterion", ("false",)): (
        lambda x, t: F.mse_loss(x, t[..., 1:5, 1:5], reduction="sum"), (-3, 3),
        lambda rng, x: rng.uniform(-2, 2, x.shape[:-2] + (6, 6)), {}, ()),
    ("MultiLabelSoftMarginCriterion", ()): (
        lambda x, t: F.multilabel_soft_margin_loss(x if x.dim() == 2 else x[None], t if t.dim() == 2 else t[None]),
        (-3, 3), lambda rng, x: rng.integers(0, 2, x.shape).astype(float), {}, ()),
    ("HingeEmbeddingCriterion", ()): (lambda x, t: F.hinge_embedding_loss(x, t, margin=1.0), (-3, 3), _sign, {}, (1,)),
    ("L1HingeEmbeddingCriterion", ()): (
        lambda x1, x2, t: torch.where(t == 1, (x1 - x2).abs().sum(-1), F.relu(1 - (x1 - x2).abs().sum(-1))).mean(),
        (-3, 3), _pair_sign, {}, ()),
    ("CosineEmbeddingCriterion", ()): (
        lambda x1, x2, t: F.cosine_embedding_loss(x1.reshape(-1, x1.shape[-1]), x2.reshape(-1, x2.shape[-1]),
                                                  t.reshape(-1)),
        (-3, 3), _pair_sign, {}, ()),
    ("MarginRankingCriterion", ()): (F.margin_ranking_loss, (-3, 3), _sign, {}, ()),
}

PROGRAMS = [e.name for e in ENTRIES if e.group == "program"]  # tests/test_programs_torch.py checks those


def test_every_registry_module_has_a_pytorch_reference_here():
    named = set(MODULES) | {name for name, _ in CRITERIA} | set(PROGRAMS) | {"LookupTable"}
    assert {e.name for e in ENTRIES} == named
    assert len(ENTRIES) >= 80


@functools.lru_cache(maxsize=None)
def _source(name: str, args: tuple = ()) -> tuple[str, tuple]:
    entry = lookup(name)
    formula = entry.build(args)
    return derive.module_source(formula.text, formula.shapes, name=entry.name, **formula.options()), formula.input


def _load(source: str, name: str, tmp_path):
    path = tmp_path / f"catalogue_{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _agrees(layer, inputs: list, reference, rng) -> None:
    """forward, every gradInput and every parameter's gradient equal PyTorch's autograd (and
    accGradParameters adds scale times them)."""
    params = layer.parameters()[0] if layer.parameters() else []
    xs = [torch.tensor(x, requires_grad=True) for x in inputs]
    pt = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    yt = reference(*xs, *pt)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    given = inputs if len(inputs) > 1 else inputs[0]
    np.testing.assert_allclose(layer.forward(given), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    layer.zeroGradParameters()
    grads = layer.backward(given, g)
    for mine, theirs in zip(grads if len(inputs) > 1 else [grads], xs):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert_parameter_gradients(layer, given, g, pt)


def _sample_shapes(Layer) -> tuple:
    return Layer.inputShapes if getattr(Layer, "inputShape", None) is None else (Layer.inputShape,)


def _inserted(x, axis: int, before: int, width: int, value: float = 0.0):
    """x with ``width`` entries of ``value`` after its first ``before`` along ``axis`` (Torch7's Padding)."""
    shape = list(x.shape)
    shape[axis] = width
    filler = torch.full(shape, value, dtype=x.dtype)
    n = x.shape[axis]
    return torch.cat([x.narrow(axis, 0, before), filler, x.narrow(axis, before, n - before)], axis)


#: The formulas written on the input viewed around dim as (A, n, C) (derive/catalogue_views.py):
#: their references on that view (GatedLinearUnit's (A, 2, M): its two halves side by side again).
#: MODULES' own take the input Torch7's class takes (test_nn_catalogue).
VIEWED = {
    "GatedLinearUnit": lambda x: F.glu(x.flatten(-2), -1),
    "Padding": lambda x: _inserted(x, -2, 1, 2, -1.0),
}


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_module_agrees_with_pytorch(name, batch, tmp_path):
    reference, (low, high), kinks = MODULES[name]
    reference = VIEWED.get(name, reference)
    source, _ = _source(name, lookup(name).example)
    Layer = _load(source, name, tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    inputs = [_away(rng.uniform(low, high, ((batch,) if batch else ()) + s), kinks) for s in _sample_shapes(Layer)]
    _agrees(layer, inputs, reference, rng)


@pytest.mark.parametrize("case", list(CRITERIA), ids=[f"{n}{a}" for n, a in CRITERIA])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_criterion_agrees_with_pytorch(case, batch, tmp_path):
    name, args = case
    reference, (low, high), target, constants, kinks = CRITERIA[case]
    source, _ = _source(name, args)
    Criterion = _load(source, name, tmp_path)
    criterion = Criterion(**constants)
    rng = np.random.default_rng(4)
    inputs = [_away(rng.uniform(low, high, ((batch,) if batch else ()) + s), kinks)
              for s in _sample_shapes(Criterion)]
    xs = [torch.tensor(x, requires_grad=True) for x in inputs]
    given = [torch.tensor(c) for c in constants.values()]
    t = target(rng, inputs[0])
    loss = reference(*xs, torch.tensor(t), *given)
    loss.backward()
    table = inputs if len(inputs) > 1 else inputs[0]
    assert criterion.forward(table, t) == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    grads = criterion.backward(table, t)
    for mine, theirs in zip(grads if len(inputs) > 1 else [grads], xs):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


#: (Torch7 name, constructor arguments other than the example's) -> (PyTorch, inputs' range, kinks)
OTHER_ARGUMENTS = {
    # a plain read into a smaller output (offset 1): the unread entries' gradient is 0
    ("Narrow", (2, 1, 3)): (lambda x: x[..., 0:3], (-3, 3), ()),
    ("Narrow", (1, 2, 2)): (lambda x: x[..., 1:3, :], (-3, 3), ()),
    ("GatedLinearUnit", (1,)): (VIEWED["GatedLinearUnit"], (-3, 3), ()),  # (on its view, (1, 2, 6))
    # one slope shared by every entry: a parameter of shape (), its gradient a sum
    ("PReLU", (0,)): (lambda x, a: F.prelu(x, a.reshape(1)), (-3, 3), (0,)),
    # a plain read into a larger output: zeros after the input; value and index (on its view, (1, 4, 1))
    ("Padding", (1, 2)): (lambda x: _inserted(x, -2, 4, 2), (-3, 3), ()),
    ("Padding", (1, -3, 0, -1.5, 2)): (lambda x: _inserted(x, -2, 1, 3, -1.5), (-3, 3), ()),
    ("Padding", (1, 2, 0, 2.5, 2)): (lambda x: _inserted(x, -2, 3, 2, 2.5), (-3, 3), ()),
    ("SpatialZeroPadding", (0, 1, 0, 2)): (lambda x: F.pad(x, (0, 1, 0, 2)), (-3, 3), ()),
    ("SpatialZeroPadding", (-1, 0, 1, -1)): (lambda x: F.pad(x, (-1, 0, 1, -1)), (-3, 3), ()),
    # padded max pooling reads -inf outside the input, not 0: inputs all negative tell them apart
    ("SpatialMaxPooling", (3, 3, 2, 2, 1, 1)): (lambda x: F.max_pool2d(x, 3, 2, padding=1), (-3, -0.5), ()),
    ("SpatialMaxPooling", (2, 3, 1, 2, 1, 1)): (lambda x: F.max_pool2d(x, (3, 2), (2, 1), padding=1), (-3, -0.5), ()),
    ("SpatialDilatedMaxPooling", (2, 2, 1, 1, 1, 1, 2, 2)): (
        lambda x: F.max_pool2d(x, 2, 1, padding=1, dilation=2), (-3, -0.5), ()),
    ("VolumetricMaxPooling", (2, 2, 2, 2, 2, 2, 1, 0, 1)): (
        lambda x: _unbatched(F.max_pool3d, x, 2, 2, padding=(1, 1, 0)), (-3, -0.5), ()),
    # Torch7's defaults, and an even window (one plane more before than after, as PyTorch's)
    ("SpatialCrossMapLRN", (5,)): (lambda x: F.local_response_norm(x if x.dim() == 4 else x[None], 5)
                                   .reshape(x.shape), (-3, 3), ()),
    ("SpatialCrossMapLRN", (4, 0.5, 0.5, 2.0)): (
        lambda x: F.local_response_norm(x if x.dim() == 4 else x[None], 4, 0.5, 0.5, 2.0).reshape(x.shape),
        (-3, 3), ()),
}


@pytest.mark.parametrize("case", list(OTHER_ARGUMENTS), ids=[f"{n}{a}" for n, a in OTHER_ARGUMENTS])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_other_arguments_agree_with_pytorch(case, batch, tmp_path):
    name, args = case
    reference, (low, high), kinks = OTHER_ARGUMENTS[case]
    input_shapes = {"Narrow": ((4, 6),), "GatedLinearUnit": ((4, 3),), "PReLU": ((2, 3),)}.get(name)
    entry = lookup(name)
    formula = entry.build(args, input_shapes)
    Layer = _load(derive.module_source(formula.text, formula.shapes, name=name, **formula.options()), name, tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(3)
    inputs = [_away(rng.uniform(low, high, ((batch,) if batch else ()) + s), kinks) for s in _sample_shapes(Layer)]
    _agrees(layer, inputs, reference, rng)


def test_the_registry_gives_the_programs_their_own_text():
    from derive.programs import PROGRAMS as programs

    for program in programs:
        entry = lookup(program.name)  # a constructor's example sizes the program as its page shows it
        formula = entry.build(entry.example)
        assert (formula.text, formula.input, formula.target) == (program.text, program.input, program.target)
        assert formula.shapes == program.shapes


def test_constructor_arguments_follow_torch7():
    pool = lookup("spatialmaxpooling")
    assert pool.constructor() == "SpatialMaxPooling(kW, kH, dW=kW, dH=kH, padW=0, padH=0)"
    assert pool.arguments(["3", "2"]) == {"kW": 3, "kH": 2, "dW": 3, "dH": 2, "padW": 0, "padH": 0}
    assert lookup("HardTanh").constructor() == "HardTanh(min_value=-1.0, max_value=1.0)"
    assert lookup("Linear").parameters == {"weight": "W", "bias": "b"}
    formula = pool.build([2, 2, 1, 1], [(3, 5, 5)])
    assert formula.shapes == {"x": (3, 5, 5), "y": (3, 4, 4)} and formula.ranges == {"p": 2, "q": 2}
    with pytest.raises(ValueError, match=r"missing argument kH"):
        pool.build([2])
    with pytest.raises(ValueError, match=r"kW expects int, got 'two'"):
        pool.build(["two", "2"])
    with pytest.raises(ValueError, match="smaller than the window"):
        pool.build([4, 4], [(1, 2, 2)])
    with pytest.raises(ValueError, match="unknown module 'Nope'"):
        lookup("Nope")


def test_a_module_built_from_an_entry_defined_here(tmp_path):
    # adding a module is one entry: its constructor, its formula as a function of the arguments, its prose
    entry = Entry("ScaledSoftSign", "transfer", (Arg("scale", 1.0, float),),
                  lambda a, s: Formula(f"y = {a['scale']} * x / (1 + abs(x))", {"x": s[0]}),
                  "A soft sign times a scale.", input_shapes=((4,),))
    formula = entry.build(["2.5"], [(6,)])
    Layer = _load(derive.module_source(formula.text, formula.shapes, name="ScaledSoftSign", **formula.options()),
                  "ScaledSoftSign", tmp_path)
    rng = np.random.default_rng(0)
    for batch in ((), (3,)):
        x = _away(rng.uniform(-3, 3, batch + (6,)), (0,))
        _agrees(Layer(), [x], lambda x: 2.5 * F.softsign(x), rng)


# --- other writings of the same modules: the language says each as the documentation might ---

#: (name, expression, shapes, keyword arguments, PyTorch, inputs' range, kinks)
WRITINGS = [
    ("HardTanh (where)", "y = where(x > 1, 1, where(x < -1, -1, x))", {"x": (7,)}, {}, F.hardtanh, (-3, 3), (-1, 1)),
    ("ReLU (where)", "y = where(x > 0, x, 0)", {"x": (6,)}, {}, F.relu, (-3, 3), (0,)),
    ("ELU (max and min)", "y = max(0, x) + min(0, 1.0 * (exp(x) - 1))", {"x": (8,)}, {}, F.elu, (-3, 3), (0,)),
    ("HardShrink (nested where)", "y = where(x > 0.5, x, where(x < -0.5, x, 0))", {"x": (8,)}, {},
     lambda x: F.hardshrink(x, 0.5), (-3, 3), (-0.5, 0.5)),
    ("SpatialMaxPooling (3x3, stride 2)", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (2, 7, 7)},
     {"ranges": {"p": 3, "q": 3}}, lambda x: F.max_pool2d(x, 3, 2), (-3, 3), ()),
    ("SpatialMaxPooling (ranges inferred)", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)",
     {"x": (2, 6, 6), "y": (2, 3, 3)}, {}, lambda x: F.max_pool2d(x, 2), (-3, 3), ()),
    ("Normalize(inf)", "y[i] = x[i] / max(abs(x[k]), k)", {"x": (5,)}, {},
     lambda x: F.normalize(x, p=float("inf"), dim=-1), (-3, 3), ()),
]


@pytest.mark.parametrize("case", WRITINGS, ids=[c[0] for c in WRITINGS])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_other_writings_agree_with_pytorch(case, batch, tmp_path):
    writing_agrees(case, batch, tmp_path)


def writing_agrees(case, batch, tmp_path) -> None:
    """A module written as (name, text, shapes, keyword arguments, PyTorch, inputs' range, kinks)
    agrees with PyTorch, on one sample (batch None) or a batch."""
    name, text, shapes, kwargs, reference, (low, high), kinks = case
    Layer = load(derive.module_source(text, shapes, **kwargs), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = _away(rng.uniform(low, high, ((batch,) if batch else ()) + Layer.inputShape), kinks)
    agrees_with_autograd(layer, x, reference, rng)


def test_normalize_inf_from_the_registry_is_the_max_writing():
    assert lookup("Normalize").build(["inf"]).text == "y[i] = x[i] / max(abs(x[k]), k)"


def test_max_over_all_entries_is_a_criterion(tmp_path):
    Criterion = load(derive.module_source("J = max(x)", {"x": (3, 4)}), tmp_path)
    rng = np.random.default_rng(4)
    for batch in ((), (3,)):
        x = rng.uniform(-3, 3, batch + (3, 4))
        xt = torch.tensor(x, requires_grad=True)
        loss = xt.amax(dim=(-2, -1)).mean()
        loss.backward()
        criterion = Criterion()
        assert criterion.forward(x) == pytest.approx(loss.item(), rel=1e-12)
        np.testing.assert_allclose(criterion.backward(x), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
def test_a_constant_is_given_to_the_constructor_and_never_learned(tmp_path):
    BCE = load(derive.module_source("J = -mean(w * (t * log(x) + (1 - t) * log(1 - x)))", {"x": (3,)},
                                    target="t", constants=("w",)), tmp_path)
    with pytest.raises(TypeError, match="w"):
        BCE()
    with pytest.raises(ValueError, match=r"w must have shape \(3,\), got \(2,\)"):
        BCE(w=[1.0, 2.0])
    weighted = load(derive.module_source("y = W @ x * s", {"x": (3,), "W": (2, 3)}, constants=("s",)),
                    tmp_path)(s=np.array([2.0, -1.0]), rng=0)
    assert len(weighted.parameters()[0]) == 1  # W only: s is given, not learned
    x, g = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0])
    np.testing.assert_allclose(weighted.forward(x), (weighted.W @ x) * [2.0, -1.0])
    weighted.zeroGradParameters()
    np.testing.assert_allclose(weighted.backward(x, g), weighted.W.T @ np.array([2.0, -1.0]))
    np.testing.assert_allclose(weighted.gradW, np.outer([2.0, -1.0], x))


@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_lookup_table_agrees_with_pytorch(batch, tmp_path):
    # LookupTable: y[n, d] = W[x[n], d], x holding row numbers counted from 0 (numpy's, PyTorch's)
    formula = lookup("LookupTable").build([10, 3])
    assert formula.text == "y[n,d] = W[x[n], d]"
    Table = load(derive.module_source(formula.text, formula.shapes), tmp_path)
    table = Table(rng=1)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 10, ((batch,) if batch else ()) + (4,))
    x[..., 0] = x[..., 1]  # a row read twice: its gradient adds up
    g = rng.standard_normal(x.shape + (3,))
    weight = torch.tensor(table.W.copy(), requires_grad=True)
    y = F.embedding(torch.tensor(x), weight)
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(table.forward(x), y.detach().numpy(), rtol=0, atol=0)
    table.zeroGradParameters()
    grad_input = table.backward(x, g)
    np.testing.assert_array_equal(grad_input, np.zeros(x.shape))  # integers have no gradient
    np.testing.assert_allclose(table.gradW, weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="input must hold integers from 0 to 9, got 0 .. 10"):
        table.forward(np.array([0, 1, 2, 10]))
    with pytest.raises(TypeError, match="input must hold integers counted from 0, got dtype float64"):
        table.forward(np.zeros(4))

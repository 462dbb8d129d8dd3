"""nn.SoftMax, nn.LogSoftMax, nn.ClassNLLCriterion, nn.CrossEntropyCriterion (Torch7's, targets from 0).

Convention: softmax over the last axis, s_i = exp(x_i) / sum_k exp(x_k); g = dJ/dy.
SoftMax's gradInput = s * (g - s.g); LogSoftMax's = g - exp(y) sum(g);
ClassNLLCriterion's J = -sum_i w[t_i] x[i, t_i] / sum_i w[t_i] (sizeAverage);
CrossEntropyCriterion's gradient (softmax - onehot) w[t] / sum w[t].
Checked by central differences (perturbation 1e-6, as Torch's tests) and by the
definitions; the comparison with PyTorch is in test_against_torch.py.
"""

import copy

import numpy as np
import pytest

from derive import nn
from derive.nn.jacobian import jacobian_errors
from derive.site.checks import criterion_gradient_error

PERTURBATION = 1e-6  # as in Torch's nn tests
PRECISION = 1e-6

SHAPES = [(7,), (50, 5)]
SHAPE_IDS = ["one sample", "batch of 50"]


def targets(rng, shape):
    """0-based class targets for input of this shape: an int for one sample, an array for a batch."""
    if len(shape) == 1:
        return int(rng.integers(shape[0]))
    return rng.integers(0, shape[-1], shape[0])


def log_softmax(x):
    """The definition, row by row, stable."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --- SoftMax and LogSoftMax ------------------------------------------------------------

@pytest.mark.parametrize("Module", [nn.SoftMax, nn.LogSoftMax])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_backprop_matches_central_differences(Module, shape):
    x = np.random.default_rng(0).standard_normal(shape) * 3
    (error,) = jacobian_errors(Module(), x, PERTURBATION)
    assert error < PRECISION


def test_softmax_is_the_definition_row_by_row():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    y = nn.SoftMax().forward(x)
    np.testing.assert_allclose(y[0], np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum(), rtol=1e-15)
    np.testing.assert_allclose(y[1], [1 / 3] * 3, rtol=1e-15)


def test_softmax_jacobian_is_diag_s_minus_s_sT():
    x = np.array([0.5, -1.0, 2.0, 0.0])
    module = nn.SoftMax()
    s = module.forward(x).copy()
    jacobian = np.array([module.backward(x, row).copy() for row in np.eye(4)])
    np.testing.assert_allclose(jacobian, np.diag(s) - np.outer(s, s), rtol=1e-14, atol=1e-16)


def test_logsoftmax_backward_is_torchs_form():
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    module = nn.LogSoftMax()
    y = module.forward(x).copy()
    np.testing.assert_allclose(y, log_softmax(x), rtol=1e-14)
    np.testing.assert_allclose(module.backward(x, g), g - np.exp(y) * g.sum(axis=1, keepdims=True), rtol=1e-14)


@pytest.mark.parametrize("Module", [nn.SoftMax, nn.LogSoftMax])
def test_each_sample_is_shifted_by_its_own_maximum(Module):
    # With the batch's maximum (1000) the second row's exps would all underflow to 0.
    x = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0]])
    y = Module().forward(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y[0], y[1], rtol=1e-14)
    single = Module().forward(np.array([-1000.0, -1001.0, -1002.0]))
    np.testing.assert_allclose(single, y[1], rtol=1e-14)


@pytest.mark.parametrize("Module", [nn.SoftMax, nn.LogSoftMax])
def test_buffers_are_reused_and_dtypes_kept(Module):
    module = Module()
    x = np.random.default_rng(2).standard_normal((3, 4))
    first = module.forward(x)
    assert module.forward(x + 1) is first
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        module.forward(x.astype(np.float32))
    assert Module().float().forward(x.astype(np.float32)).dtype == np.float32
    assert module.forward(np.array([[1, 2, 3]])).dtype == np.float64
    g = np.ones((1, 3))
    assert module.backward(np.array([[1, 2, 3]]), g) is module.gradInput


@pytest.mark.parametrize("Module", [nn.SoftMax, nn.LogSoftMax])
def test_softmax_bad_input(Module):
    module = Module()
    name = Module.__name__
    with pytest.raises(ValueError, match=rf"^{name}: input must have 1 axes \(one sample\) or 2 \(a batch\)"):
        module.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=rf"^{name}: input must have at least one element"):
        module.forward(np.zeros((2, 0)))
    with pytest.raises(TypeError, match=rf"^{name}: input must hold real numbers, got dtype bool"):
        module.forward(np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match=rf"^{name}: input must be a numpy array, got list"):
        module.forward([1.0, 2.0])
    module.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=rf"^{name}: gradOutput must have the shape of the output .* \(2, 3\)"):
        module.backward(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=rf"^{name}: backward reads the output of forward"):
        module.backward(np.zeros((4, 3)), np.zeros((4, 3)))


# --- ClassNLLCriterion and CrossEntropyCriterion -----------------------------------------

CRITERIA = [nn.ClassNLLCriterion, nn.CrossEntropyCriterion]


@pytest.mark.parametrize("Criterion", CRITERIA)
@pytest.mark.parametrize("weighted", [False, True], ids=["no weights", "weights"])
@pytest.mark.parametrize("sizeAverage", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_criterion_backward_matches_central_differences(Criterion, weighted, sizeAverage, shape):
    rng = np.random.default_rng([len(shape), int(weighted), int(sizeAverage)])
    x, t = rng.standard_normal(shape) * 3, targets(rng, shape)
    weights = rng.uniform(0.5, 2.0, shape[-1]) if weighted else None
    criterion = Criterion(weights, sizeAverage)
    assert criterion_gradient_error(criterion, x, t) < PRECISION


def test_classnll_is_minus_the_weighted_mean_of_the_picked_entries():
    x = np.array([[-1.0, -2.0, -3.0], [-0.5, -1.5, -2.5]])
    t = np.array([2, 0])
    assert nn.ClassNLLCriterion().forward(x, t) == (3.0 + 0.5) / 2
    assert nn.ClassNLLCriterion(sizeAverage=False).forward(x, t) == 3.0 + 0.5
    weights = np.array([4.0, 1.0, 2.0])
    criterion = nn.ClassNLLCriterion(weights)
    assert criterion.forward(x, t) == pytest.approx((2 * 3.0 + 4 * 0.5) / (2 + 4), rel=1e-15)
    expected = np.zeros((2, 3))
    expected[0, 2], expected[1, 0] = -2 / 6, -4 / 6
    np.testing.assert_allclose(criterion.backward(x, t), expected, rtol=1e-15)
    # one sample: -w[t] x[t] / w[t] = -x[t]
    assert nn.ClassNLLCriterion(weights).forward(x[0], 1) == 2.0
    assert nn.ClassNLLCriterion(weights, sizeAverage=False).forward(x[0], 1) == 2.0
    assert nn.ClassNLLCriterion(weights, sizeAverage=False).forward(x[0], 0) == 4.0


@pytest.mark.parametrize("weighted", [False, True], ids=["no weights", "weights"])
@pytest.mark.parametrize("sizeAverage", [True, False])
def test_crossentropy_is_logsoftmax_then_classnll(weighted, sizeAverage):
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((8, 5)) * 4, rng.integers(0, 5, 8)
    weights = rng.uniform(0.1, 3.0, 5) if weighted else None
    lsm, nll = nn.LogSoftMax(), nn.ClassNLLCriterion(weights, sizeAverage)
    chained = nll.forward(lsm.forward(x), t)
    chainedGrad = lsm.backward(x, nll.backward(lsm.output, t))
    ce = nn.CrossEntropyCriterion(weights, sizeAverage)
    assert ce.forward(x, t) == pytest.approx(chained, rel=1e-14)
    np.testing.assert_allclose(ce.backward(x, t), chainedGrad, rtol=1e-13, atol=1e-16)
    # and the closed form: (softmax - onehot) w[t] / sum w[t]
    w = np.ones(5) if weights is None else weights
    factors = w[t] / (w[t].sum() if sizeAverage else 1)
    softmax = np.exp(log_softmax(x))
    expected = softmax * factors[:, None]
    expected[np.arange(8), t] -= factors
    np.testing.assert_allclose(ce.gradInput, expected, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("Criterion", CRITERIA)
def test_one_sample_is_a_batch_of_one(Criterion):
    x = np.array([0.3, -1.2, 2.0, 0.7])
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    for criterion in (Criterion(), Criterion(weights), Criterion(weights, sizeAverage=False)):
        for t in (0, 3, np.int64(2), np.uint8(1), np.array(2)):
            loss = criterion.forward(x, t)
            grad = criterion.backward(x, t).copy()
            assert grad.shape == (4,)
            assert loss == pytest.approx(criterion.forward(x[None], np.array([int(t)])), rel=1e-15)
            np.testing.assert_allclose(grad, criterion.backward(x[None], np.array([int(t)]))[0], rtol=1e-15)


def test_crossentropy_is_finite_for_scores_of_magnitude_1000():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -999.0, -1000.0], [1000.0, 1000.0, 999.0]])
    t = np.array([1, 1, 2])
    ce = nn.CrossEntropyCriterion(sizeAverage=False)
    loss = ce.forward(x, t)
    # -log softmax at the targets: 2000 + log(1 + e^-1000 + e^-2000), log(1 + 2e^-1), 1 + log(2 + e^-1)
    expected = 2000.0 + np.log1p(2 * np.exp(-1.0)) + 1.0 + np.log(2 + np.exp(-1.0))
    assert loss == pytest.approx(expected, rel=1e-15)
    grad = ce.backward(x, t)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)
    assert grad[0, 1] == -1.0 and grad[0, 0] == 1.0


def test_gradinput_is_overwritten_not_accumulated_and_parameters_accumulate():
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    model = nn.Linear(3, 4, rng=0)
    ce = nn.CrossEntropyCriterion()
    ce.forward(model.forward(x), t)
    first = ce.backward(model.output, t).copy()
    model.zeroGradParameters()
    model.backward(x, ce.backward(model.output, t))
    once = model.gradWeight.copy()
    assert np.array_equal(ce.gradInput, first)  # a second backward gives the same gradInput
    model.backward(x, ce.backward(model.output, t))
    np.testing.assert_allclose(model.gradWeight, 2 * once, rtol=1e-15)  # Linear accumulates


@pytest.mark.parametrize("Criterion", CRITERIA)
def test_criterion_buffers_and_dtypes(Criterion):
    criterion = Criterion()
    x, t = np.random.default_rng(5).standard_normal((4, 3)), np.array([0, 1, 2, 1])
    criterion.forward(x, t)
    grad = criterion.backward(x, t)
    assert type(criterion.output) is float
    criterion.forward(x * 2, t)
    assert criterion.backward(x * 2, t) is grad
    x32 = x.astype(np.float32)
    # Torch refuses mixed types
    with pytest.raises(TypeError, match=r"input is float32 but the module is float64 \(torch.DoubleTensor\)"):
        criterion.forward(x32, t)
    fresh = Criterion().float()
    fresh.forward(x32, t)
    assert fresh.backward(x32, t).dtype == np.float32
    xint = np.array([[1, 2, 3]])
    criterion.forward(xint, np.array([2], dtype=np.int32))
    assert criterion.backward(xint, np.array([2], dtype=np.int32)).dtype == np.float64


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 0 / 0, as PyTorch
def test_targets_of_weight_zero_only_give_nan_as_pytorch():
    x, t = np.zeros((2, 3)), np.array([1, 1])
    for Criterion in CRITERIA:
        criterion = Criterion(np.array([1.0, 0.0, 1.0]))
        assert np.isnan(criterion.forward(x, t))
        assert np.all(np.isnan(criterion.backward(x, t)[:, 1]))
        assert Criterion(np.array([1.0, 0.0, 1.0]), sizeAverage=False).forward(x, t) == 0.0


# --- Bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("Criterion", CRITERIA)
@pytest.mark.parametrize("method", ["forward", "backward"])
def test_bad_targets(Criterion, method):
    name = Criterion.__name__
    criterion = Criterion()
    x = np.zeros((3, 4))
    criterion.forward(x, np.array([0, 1, 2]))
    call = getattr(criterion, method)
    bad_values = [(np.array([0, 4, 1]), "4"), (np.array([0, -1, 1]), "-1"),
                  (np.array([0, 1, -4], dtype=np.int8), "-4")]
    for target, shown in bad_values:
        with pytest.raises(ValueError, match=rf"^{name}: target must hold classes from 0 to 3, got .*{shown}"):
            call(x, target)
    for target, shown in [(4, "4"), (-1, "-1")]:
        with pytest.raises(ValueError, match=rf"^{name}: target must hold classes from 0 to 3, got {shown} \.\. {shown}$"):
            call(x[0], target)
    with pytest.raises(TypeError, match=rf"^{name}: target must hold class numbers \(integers counted from 0\), "
                                        rf"got dtype float64"):
        call(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match=rf"^{name}: target must hold class numbers .*got dtype bool"):
        call(x, np.array([True, False, True]))
    with pytest.raises(TypeError, match=rf"^{name}: target must be a numpy array, got list"):
        call(x, [0, 1, 2])
    with pytest.raises(ValueError, match=rf"^{name}: target must be one class a sample, shape \(3,\), got \(2,\)"):
        call(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"^{name}: target must be one class a sample, shape \(3,\)"):
        call(x, np.array([[0], [1], [2]]))
    for target in (True, 1.0, np.float64(1.0), "1"):
        with pytest.raises(TypeError, match=rf"^{name}: target must be a numpy array"):
            call(x[0], target)
    for target in (np.array(1.0), np.array(True)):
        with pytest.raises(TypeError, match=rf"^{name}: target must hold class numbers"):
            call(x[0], target)
    with pytest.raises(ValueError, match=rf"^{name}: target must be one class a sample, shape \(\), got \(1,\)"):
        call(x[0], np.array([1]))


@pytest.mark.parametrize("Criterion", CRITERIA)
def test_bad_input_and_weights(Criterion):
    name = Criterion.__name__
    with pytest.raises(ValueError, match=rf"^{name}: input must have 1 axes \(one sample\) or 2 \(a batch\)"):
        Criterion().forward(np.zeros((2, 3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"^{name}: input must have at least one element"):
        Criterion().forward(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(TypeError, match=rf"^{name}: input must hold real numbers, got dtype bool"):
        Criterion().forward(np.ones((2, 3), dtype=bool), np.array([0, 1]))
    with pytest.raises(TypeError, match=rf"^{name}: input must be a numpy array, got list"):
        Criterion().forward([[0.0, 1.0]], np.array([0]))
    with pytest.raises(ValueError, match=rf"^{name}: weights has shape \(3,\) but the input's samples have shape \(4,\)"):
        Criterion(np.ones(3)).forward(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"^{name}: weights has shape \(3,\) but the input's samples have shape \(4,\)"):
        Criterion(np.ones(3)).backward(np.zeros(4), 1)
    with pytest.raises(ValueError, match=rf"^{name}: weights must be finite"):
        Criterion(np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match=rf"^{name}: weights must have 1 axes, got shape \(1, 3\)"):
        Criterion(np.ones((1, 3)))
    with pytest.raises(ValueError, match=rf"^{name}: weights must have at least one entry, got shape \(0,\)"):
        Criterion(np.ones(0))
    with pytest.raises(TypeError, match=rf"^{name}: weights must hold real numbers, got dtype bool"):
        Criterion(np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match=rf"^{name}: weights must be a numpy array or None, got list"):
        Criterion([1.0, 2.0])
    with pytest.raises(TypeError, match=rf"^{name}: sizeAverage must be bool, got 1"):
        Criterion(None, 1)


def test_crossentropy_backward_reads_only_its_arguments():
    # The generated gradient kernel computes the softmax from the input it is given: backward
    # needs no forward of that input first, and gives what it gives after one.
    x, t = np.random.default_rng(6).standard_normal((3, 4)), np.array([0, 3, 1])
    alone = nn.CrossEntropyCriterion().backward(x, t).copy()
    ce = nn.CrossEntropyCriterion()
    ce.forward(np.zeros((2, 4)), np.array([0, 1]))
    np.testing.assert_array_equal(ce.backward(x, t), alone)


def test_weights_are_a_copy():
    weights = np.array([1.0, 2.0])
    criterion = nn.ClassNLLCriterion(weights)
    weights[0] = 100.0
    assert criterion.forward(np.array([[-1.0, 0.0]]), np.array([0])) == 1.0
    assert criterion.weights.dtype == np.float64


@pytest.mark.parametrize("make", [nn.SoftMax, nn.LogSoftMax, lambda: nn.ClassNLLCriterion(np.array([1.0, 2.0, 3.0])),
                                  lambda: nn.CrossEntropyCriterion(np.array([1.0, 2.0, 3.0]))],
                         ids=["SoftMax", "LogSoftMax", "ClassNLLCriterion", "CrossEntropyCriterion"])
def test_after_float_the_next_call_refits_and_gives_the_same_values(make):
    # Torch's type conversions: .float() converts the buffers (and the weights); the next
    # call of the same shape refits them to its input instead of reusing them (float64
    # into the float32 module is refused, as Torch refuses mixed types: back with .double()).
    module = make()
    x, t = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -2.0]]), np.array([2, 0])
    args = (x, t) if isinstance(module, nn.Criterion) else (x,)
    grad = (t,) if isinstance(module, nn.Criterion) else (np.ones((2, 3)),)
    before = copy.deepcopy(module.forward(*args))
    gradBefore = module.backward(x, *grad).copy()
    assert module.float() is module and module.type() == "torch.FloatTensor"
    assert module.gradInput.dtype == np.float32
    with pytest.raises(TypeError, match=r"input is float64 but the module is float32"):
        module.forward(*args)
    module.double()
    np.testing.assert_allclose(module.forward(*args), before, rtol=1e-6)
    gradInput = module.backward(x, *grad)
    assert gradInput.dtype == np.float64
    np.testing.assert_allclose(gradInput, gradBefore, rtol=1e-6, atol=1e-7)


def test_the_criterion_check_runs_backward_after_forward_of_the_same_input():
    # CrossEntropyCriterion's backward reads forward's softmax; the check's central
    # differences end on a perturbed input, so it must call forward again (as Torch's
    # test does), else the error is of the order of the perturbation, not of rounding.
    x = np.random.default_rng(0).uniform(-3, 3, 3)
    assert criterion_gradient_error(nn.CrossEntropyCriterion(), x, 1) < 1e-9


@pytest.mark.parametrize("make,kind", [(nn.SoftMax, None), (nn.LogSoftMax, None),
                                       (nn.ClassNLLCriterion, "class"), (nn.CrossEntropyCriterion, "class"),
                                       (lambda: nn.CrossEntropyCriterion(np.arange(1.0, 6.0), False), "class")],
                         ids=["SoftMax", "LogSoftMax", "ClassNLLCriterion", "CrossEntropyCriterion", "weighted sum"])
def test_derive_check_passes(make, kind):
    # derive check: Torch's tests (Jacobians, batch = samples one by one, backward twice,
    # arrays left unchanged, pickling), one sample's class target a 0-d integer array.
    report = nn.check(make(), (5,), **({"target_kind": kind} if kind else {}))
    assert report.passed, str(report)


def test_crossentropy_forward_keeps_the_gradient_for_backward_of_the_same_arrays():
    # Its loss and gradient share the softmax: forward computes both once, and backward of the
    # very same input and target arrays returns that gradient (as Torch7's reads its
    # LogSoftMax's output); other arrays get their own.
    assert nn.CrossEntropyCriterion.forwardKeepsGradient and not nn.ClassNLLCriterion.forwardKeepsGradient
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((4, 5)), np.array([0, 4, 2, 2])
    ce = nn.CrossEntropyCriterion()
    ce.forward(x, t)
    expected = nn.CrossEntropyCriterion().backward(x, t).copy()
    np.testing.assert_array_equal(ce.backward(x, t), expected)
    other = x + 1.5 * rng.standard_normal((4, 5))
    np.testing.assert_array_equal(ce.backward(other, t), nn.CrossEntropyCriterion().backward(other, t))
    np.testing.assert_array_equal(ce.backward(x, t.copy()), expected)

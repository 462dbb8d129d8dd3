"""`derive layer` never crashes, never hangs, never shows a false equality (issue 18): each
case a new user or a catalogue run hit, as a test of what it gives now (a right module,
agreeing with PyTorch, or one clear line)."""

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
import torch

import derive
import derive.cli
from derive import nn
from derive.latex import markdown
from derive.symbolic import layer as engine
from derive.symbolic.bounds import DerivationError, DerivationTimeout
from derive.symbolic.language import parse
from test_layer_engine import load

F = torch.nn.functional


def one_line_error(call, kind=ValueError) -> str:
    with pytest.raises(kind) as error:
        call()
    message = str(error.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def agrees(Layer, reference, x, rng, atol=1e-12):
    """forward, gradInput and every parameter gradient of the module against torch's autograd."""
    layer = Layer(rng=1)
    params = layer.parameters()[0] if layer.parameters() else []
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    yt = reference(xt, *pt)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-10, atol=atol)
    layer.zeroGradParameters()
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-10, atol=atol)
    for mine, theirs in zip(layer.parameters()[1] if params else [], pt):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=atol)
    return layer


# --- 1. bounded, honest derivations -------------------------------------------------------

def test_classifier_head_derives_and_is_stable_at_large_logits(tmp_path):
    # was: RuntimeError: generator raised StopIteration, from simplify under shift_invariant
    Layer = load(derive.module_source("y = exp(K @ x) / sum(exp(K @ x))", {"x": (3,), "K": (5, 3)},
                                      timeout=120), tmp_path)
    rng = np.random.default_rng(0)
    reference = lambda x, K: torch.softmax(x @ K.T, -1)  # noqa: E731
    agrees(Layer, reference, rng.uniform(-2, 2, (4, 3)), rng)
    agrees(Layer, reference, np.array([[1000.0, -1000.0, 3.0], [-1000.0, 999.0, 0.0]]), rng)


def test_gelu_with_long_decimals_derives_quickly_and_agrees(tmp_path):
    text = "y = 0.5*x*(1 + tanh(0.7978845608*(x + 0.044715*x**3)))"
    derivation = derive.layer(text, {"x": (3,)}, timeout=60)
    assert derivation.results["dJ/dx"].expr is not None
    Layer = load(derive.module_source(text, {"x": (3,)}, timeout=60), tmp_path)
    rng = np.random.default_rng(1)
    agrees(Layer, lambda x: 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.044715 * x ** 3))),
           rng.uniform(-3, 3, (2, 3)), rng)


def test_decimal_constants_are_kept_as_the_numbers_written():
    spec = parse("y = 0.044715 * x", {"x": (2,)})
    assert sp.Rational(44715, 1000000) in spec.expr.atoms(sp.Rational)
    assert not spec.expr.atoms(sp.Float)


def test_nested_functions_derive_within_the_timeout(tmp_path):
    # was 183 s (sympy's solve inverting tanh three times)
    derive.layer("y = tanh(tanh(tanh(x)))", {"x": (3,)}, timeout=30)
    Layer = load(derive.module_source("y = tanh(tanh(tanh(x)))", {"x": (3,)}, timeout=30), tmp_path)
    rng = np.random.default_rng(2)
    agrees(Layer, lambda x: torch.tanh(torch.tanh(torch.tanh(x))), rng.uniform(-2, 2, (3,)), rng)


def test_too_deep_nesting_is_one_line():
    text = "y = " + "tanh(" * 200 + "x" + ")" * 200
    # derived flat, as one expression, it is deeper than Python's recursion allows: one line
    message = one_line_error(lambda: derive.layer(text, {"x": (2,)}, intermediates=False))
    assert "nested too deeply" in message
    # by default nested functions are named intermediates: 200 short steps, derived at once
    derivation = derive.layer(text, {"x": (2,)}, timeout=60)
    assert "dJ/dx" in derivation.results
    # deeper than Python's parser takes: one line with its column
    deeper = "y = " + "tanh(" * 600 + "x" + ")" * 600
    assert "too many nested parentheses" in one_line_error(lambda: derive.layer(deeper, {"x": (2,)}))


@pytest.mark.parametrize("text,words", [
    ("y = x / 0", "column 5: x / 0 divides by 0"),
    ("y = log(-1) * x", "column 5: log(-1) is not a real number"),
    ("y = 1e400 * x", "column 5: 1e400 overflows a float"),
    ("y = x * 10**10**10", "overflows a float"),
    ("y = sqrt(-1) + x", "sqrt(-1) is not a real number"),
    ("y = sqrt(-x**2)", "not a finite real number"),
    ("y = x / (x - x)", "not a finite real number"),
])
def test_values_that_are_not_finite_reals_are_refused(text, words):
    # was: derived as zoo x, i pi (the i read as the index), or a tuple's AttributeError
    assert words in one_line_error(lambda: derive.layer(text, {"x": (3,)}))


def test_a_sympy_failure_inside_the_engine_is_one_line(monkeypatch):
    def broken(spec, batch=None, reduction="mean"):
        raise RuntimeError("generator raised StopIteration\nmore lines")
    monkeypatch.setattr(engine, "derivation", broken)
    message = one_line_error(lambda: derive.layer("y = tanh(x)", {"x": (2,)}), DerivationError)
    assert "RuntimeError: generator raised StopIteration" in message


def test_timeout_stops_a_derivation_with_one_line():
    message = one_line_error(lambda: derive.layer("y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]",
                                                  {"x": (2, 7), "W": (3, 2, 3)}, batch=2, timeout=0.05),
                             DerivationTimeout)
    assert "stopped after 0.05 s" in message
    derive.layer("y = tanh(x)", {"x": (2,)}, timeout=5)  # the alarm is gone: the next one runs


@pytest.mark.parametrize("timeout,kind", [(0, ValueError), (-1, ValueError), (float("nan"), ValueError),
                                          ("a", TypeError), (True, TypeError)])
def test_bad_timeouts_are_refused(timeout, kind):
    one_line_error(lambda: derive.layer("y = tanh(x)", {"x": (2,)}, timeout=timeout), kind)


# --- 2. sound proofs ------------------------------------------------------------------------

def test_no_output_form_divides_by_a_weight_that_can_be_zero(tmp_path):
    # was: dJ/dw = g y / w "proved" equal to g x; NaN at w = 0
    spec = parse("y = w * x", {"x": (3,)})
    for gradient in engine.gradients(spec).values():
        assert gradient.output_form is None or engine.has_unsafe_division(gradient.output_form) is None
    Layer = load(derive.module_source("y = w * x", {"x": (3,)}), tmp_path)
    layer = Layer(rng=0)
    layer.w[...] = [0.0, 2.0, 0.0]
    x, g = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    layer.forward(x)
    layer.zeroGradParameters()
    layer.backward(x, g)
    np.testing.assert_array_equal(layer.gradw, g * x)


def test_a_planted_rewrite_that_divides_by_what_can_be_zero_is_refused(monkeypatch):
    spec = parse("y = w * x", {"x": (3,)})
    planted = []

    def divide(E, unknown, y):  # x = y / w: true only where w is not 0
        rest = E / unknown
        planted.append(rest)
        return y / rest
    monkeypatch.setattr(engine, "invert", divide)
    engine.gradients.cache_clear()
    try:
        gradients = engine.gradients(spec)
        assert planted  # the rewrite was offered ...
        assert gradients["w"].output_form is None  # ... and refused: g y / w is not g x at w = 0
    finally:
        engine.gradients.cache_clear()
    w = sp.IndexedBase("w", real=True)[sp.Symbol("i", integer=True, positive=True)]
    assert engine.has_unsafe_division(sp.Symbol("g") / w) == w
    assert engine.has_unsafe_division(sp.Symbol("g") / sp.exp(w)) is None


def test_softmax_output_form_is_kept_where_it_divides_by_nothing():
    spec = parse("y = exp(x) / sum(exp(x))", {"x": (4,)})
    form = engine.gradients(spec)["x"].output_form
    assert form is not None and not any(a.base.name == "x" for a in form.atoms(sp.Indexed))


# --- 3. the max-shift wherever it is valid ----------------------------------------------------

LOGITS = np.array([[1000.0, -1000.0, 3.0, 999.0], [-1000.0, -999.0, 0.0, 1.0]])


@pytest.mark.parametrize("text", ["J = -sum(t * log(exp(x) / sum(exp(x))))",
                                  "J = log(sum(exp(x))) - sum(t * x)",
                                  "J = -sum(t * (x - log(sum(exp(x)))))"])
def test_cross_entropy_written_out_is_finite_at_large_logits(text, tmp_path):
    # was: NaN (the first) and a ProofError traceback (the second)
    criterion = load(derive.module_source(text, {"x": (4,)}, target="t"), tmp_path)()
    t = np.eye(4)[[1, 2]]
    xt = torch.tensor(LOGITS, requires_grad=True)
    reference = F.cross_entropy(xt, torch.tensor([1, 2]))
    reference.backward()
    assert criterion.forward(LOGITS, t) == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(criterion.backward(LOGITS, t), xt.grad.numpy(), atol=1e-15)


def test_log_sum_exp_layer_is_finite_at_large_logits(tmp_path):
    Layer = load(derive.module_source("y = x - log(sum(exp(x)))", {"x": (4,)}), tmp_path)
    rng = np.random.default_rng(3)
    agrees(Layer, lambda x: torch.log_softmax(x, -1), LOGITS, rng, atol=1e-9)


def test_each_sample_keeps_its_own_shift(tmp_path):
    # found by the fuzzer: a sample's exp(largest) was pulled out of the sum over samples
    criterion = load(derive.module_source("J = mean(exp(sin(x[k])), k)", {"x": (3,)}), tmp_path)()
    x = np.random.default_rng(9).uniform(-2, 2, (4, 3))
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.exp(torch.sin(xt)).mean(-1).mean()
    loss.backward()
    assert criterion.forward(x) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(criterion.backward(x), xt.grad.numpy(), rtol=1e-12)


def test_the_shift_is_proved_for_any_value():
    spec = parse("J = log(sum(exp(x))) - sum(t * x)", {"x": (3,)}, target="t")
    shifted = engine.stable(spec.expr)
    assert shifted is not None and shifted.has(engine.largest)
    assert engine.stable(parse("y = tanh(x)", {"x": (3,)}).expr) is None


# --- 4. the bugs of the issue ---------------------------------------------------------------------

@pytest.mark.parametrize("text,shapes,reference", [
    ("y[i] = mean(x[i,j], j)", {"x": (3, 2)}, lambda x: x.mean(-1)),
    ("y[i] = sum(x[i,j], j)", {"x": (3, 2)}, lambda x: x.sum(-1)),
    ("y[r,i] = x[i]", {"x": (3,), "y": (2, 3)}, lambda x: x.unsqueeze(-2).expand(*x.shape[:-1], 2, 3)),
    ("y = abs(x + 1) - abs(x - 1)", {"x": (4,)}, lambda x: (x + 1).abs() - (x - 1).abs()),
    ("y = relu(x)**2", {"x": (4,)}, lambda x: torch.relu(x) ** 2),
])
@pytest.mark.parametrize("batch", [None, 3])
def test_modules_that_crashed_agree_with_torch(text, shapes, reference, batch, tmp_path):
    Layer = load(derive.module_source(text, shapes), tmp_path)
    rng = np.random.default_rng(4)
    agrees(Layer, reference, rng.uniform(-2, 2, ((batch,) if batch else ()) + Layer.inputShape), rng)


def test_relu_squared_and_a_scalar_parameter_print():
    assert r"\operatorname{ReLU}" in markdown(derive.layer("y = relu(x)**2", {"x": (3,)}))
    assert "w" in markdown(derive.layer("y = w * x", {"x": (3,), "w": ()}))


def test_one_sample_kernel_does_not_subtract_boolean_masks(tmp_path):
    criterion = load(derive.module_source("J = x[1] - x[2]", {"x": (3,)}), tmp_path)()
    x = np.array([0.5, 2.0, 3.0])
    assert criterion.forward(x) == -1.5
    np.testing.assert_array_equal(criterion.backward(x), [1.0, -1.0, 0.0])


def test_criterion_batch_loss_is_the_mean_or_with_reduction_sum_the_sum(tmp_path):
    x = np.random.default_rng(5).standard_normal((4, 3))
    t = np.random.default_rng(6).standard_normal((4, 3))
    for reduction in ("mean", "sum"):
        criterion = load(derive.module_source("J = sum((x - t)**2)", {"x": (3,)}, target="t",
                                              reduction=reduction), tmp_path)()
        xt = torch.tensor(x, requires_grad=True)
        per_sample = ((xt - torch.tensor(t)) ** 2).sum(-1)
        loss = per_sample.sum() if reduction == "sum" else per_sample.mean()
        loss.backward()
        assert criterion.forward(x, t) == pytest.approx(loss.item(), rel=1e-12)
        np.testing.assert_allclose(criterion.backward(x, t), xt.grad.numpy(), rtol=1e-12)
    # MSECriterion(sizeAverage=false) on a batch: the sum over every element
    summed = load(derive.module_source("J = sum((x - t)**2)", {"x": (3,)}, target="t", reduction="sum"),
                  tmp_path)()
    assert summed.forward(x, t) == pytest.approx(F.mse_loss(torch.tensor(x), torch.tensor(t),
                                                            reduction="sum").item(), rel=1e-12)
    assert "reduction" in one_line_error(lambda: derive.module_source("J = sum(x)", {"x": (3,)},
                                                                      reduction="none"))
    assert "criterion" in one_line_error(lambda: derive.module_source("y = tanh(x)", {"x": (3,)},
                                                                      reduction="sum"))


def test_a_criterion_takes_a_target_of_its_declared_shape(tmp_path):
    Criterion = load(derive.module_source("J = sum(t[i] * x[i,j], i, j)", {"x": (3, 2), "t": (3,)},
                                          target="t"), tmp_path)
    criterion = Criterion()
    x, t = np.arange(6.0).reshape(3, 2), np.array([1.0, 0.0, 2.0])
    assert criterion.forward(x, t) == pytest.approx(float((t[:, None] * x).sum()))
    np.testing.assert_allclose(criterion.backward(x, t), np.broadcast_to(t[:, None], (3, 2)))
    batch = np.stack([x, x + 1])
    assert criterion.forward(batch, np.stack([t, t])) == pytest.approx(
        float(((t[:, None] * batch).sum(axis=(1, 2))).mean()))
    assert "target must have shape (3,)" in one_line_error(lambda: criterion.forward(x, np.ones((3, 2))))


@pytest.mark.parametrize("text,shapes,reference", [
    ("y[i] = sum(W[i,s] * x[s], s)", {"x": (3,), "W": (2, 3)}, lambda x, W: x @ W.T),
    ("y = B @ x", {"x": (3,), "B": (2, 3)}, lambda x, B: x @ B.T),
    ("y = tanh(S @ x + b)", {"x": (3,), "S": (2, 3)}, lambda x, S, b: torch.tanh(x @ S.T + b)),
])
def test_names_the_batch_uses_do_not_collide(text, shapes, reference, tmp_path):
    Layer = load(derive.module_source(text, shapes), tmp_path)
    rng = np.random.default_rng(7)
    agrees(Layer, reference, rng.uniform(-2, 2, (4, 3)), rng)
    agrees(Layer, reference, rng.uniform(-2, 2, (3,)), rng)
    derive.layer(text, shapes, batch=2)


def test_a_name_first_seen_beside_a_number_needs_its_shape():
    # was: t silently a scalar, and another loss derived
    message = one_line_error(lambda: derive.layer("J = sum((1 - t) * log(1 - x) + t * log(x))", {"x": (3,)},
                                                  target="t"))
    assert "give it with --shape t=..." in message
    derive.layer("J = sum((1 - t) * log(1 - x) + t * log(x))", {"x": (3,), "t": (3,)}, target="t")


def test_a_window_index_only_inside_a_subscript_gets_its_size(tmp_path):
    # was: N_q left free, 'cannot lower the symbol N_q'
    Layer = load(derive.module_source("y[c] = sum(x[c+q], q)", {"x": (5,), "y": (3,)}), tmp_path)
    layer = Layer()
    x = np.arange(5.0)
    np.testing.assert_array_equal(layer.forward(x), [x[1] + x[2], x[2] + x[3], x[3] + x[4]])
    np.testing.assert_array_equal(layer.backward(x, np.ones(3)), [0.0, 1.0, 2.0, 2.0, 1.0])


def test_a_scalar_output_not_named_J_is_a_one_element_layer(tmp_path):
    # was: derived as a criterion, then refused by --module for its parameter w
    Layer = load(derive.module_source("y = sum(w * x)", {"x": (3,)}), tmp_path)
    rng = np.random.default_rng(8)
    layer = agrees(Layer, lambda x, w: (x * w).sum(-1, keepdim=True), rng.uniform(-2, 2, (4, 3)), rng)
    assert layer.forward(np.ones(3)).shape == (1,)
    assert not derive.layer("y = sum(w * x)", {"x": (3,)}).title.startswith("J")
    assert "name its output J" in one_line_error(lambda: derive.layer("y = sum((x - t)**2)", {"x": (3,)},
                                                                      target="t"))


@pytest.mark.parametrize("text,reference", [
    ("J = sum(2 + x)", lambda x: (2 + x).sum(-1)),  # a sum of a constant was lowered to nothing
    ("J = sum(softplus(3) * x)", lambda x: (F.softplus(torch.tensor(3.0, dtype=torch.float64)) * x).sum(-1)),
    ("J = mean(x - x)", lambda x: (x - x).mean(-1)),
])
def test_what_the_fuzzer_found(text, reference, tmp_path):
    criterion = load(derive.module_source(text, {"x": (3,)}), tmp_path)()
    x = np.random.default_rng(10).uniform(-2, 2, (2, 3))
    xt = torch.tensor(x, requires_grad=True)
    loss = reference(xt).mean()
    loss.backward()
    assert criterion.forward(x) == pytest.approx(loss.item(), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(criterion.backward(x), xt.grad.numpy(), rtol=1e-12)
    markdown(derive.layer(text, {"x": (3,)}, batch=2))


def test_a_constant_output_is_an_array_of_floats(tmp_path):
    layer = load(derive.module_source("y = x - x", {"x": (2,)}), tmp_path)()
    assert layer.forward(np.ones((3, 2))).dtype == np.float64
    assert layer.backward(np.ones((3, 2)), np.ones((3, 2))).tolist() == [[0.0, 0.0]] * 3


def test_linear_bias_must_be_a_bool():
    assert "bias must be bool, got 'no'" in one_line_error(lambda: nn.Linear(2, 3, bias="no"), TypeError)
    assert nn.Linear(2, 3, bias=False).bias is None


def test_generated_module_refuses_mixed_dtypes(tmp_path):
    layer = load(derive.module_source("y = tanh(W @ x)", {"x": (3,), "W": (2, 3)}), tmp_path)(rng=0)
    message = one_line_error(lambda: layer.forward(np.ones(3, np.float32)), TypeError)
    assert "float32" in message and "float64" in message
    assert layer.forward(np.ones(3)).dtype == np.float64


@pytest.mark.parametrize("scale,kind,words", [("a", TypeError, "scale must be a real number"),
                                              (float("nan"), ValueError, "scale must be finite")])
def test_scale_must_be_a_finite_number(scale, kind, words, tmp_path):
    layer = load(derive.module_source("y = W @ x", {"x": (3,), "W": (2, 3)}), tmp_path)(rng=0)
    linear = nn.Linear(3, 2)
    for module in (layer, linear):
        module.forward(np.ones(3))
        assert words in one_line_error(lambda: module.backward(np.ones(3), np.ones(2), scale), kind)
        assert words in one_line_error(lambda: module.accGradParameters(np.ones(3), np.ones(2), scale), kind)
        assert np.isfinite(module.parameters()[1][0]).all()


@pytest.mark.parametrize("name", ["class", "None", "np", "1x", "a-b"])
def test_class_name_must_be_usable(name):
    assert "name must be a Python class name" in one_line_error(
        lambda: derive.module_source("y = tanh(x)", {"x": (2,)}, name=name))


# --- the command line ---------------------------------------------------------------------

def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args", [
    ["layer", "y = x / 0", "--shape", "x=3"],
    ["layer", "y = log(-1) * x", "--shape", "x=3"],
    ["layer", "y = 1e400 * x", "--shape", "x=3"],
    ["layer", "y = sqrt(-x**2)", "--shape", "x=3"],
    ["layer", "y = " + "tanh(" * 200 + "x" + ")" * 200, "--shape", "x=3", "--no-intermediates"],
    ["layer", "y = " + "tanh(" * 600 + "x" + ")" * 600, "--shape", "x=3"],
    ["layer", "J = sum((1 - t) * log(1 - x) + t * log(x))", "--shape", "x=3", "--target", "t"],
    ["layer", "y = x", "--shape", "x=3", "--name", "class"],
    ["layer", "y = tanh(x)", "--shape", "x=3", "--reduction", "sum"],
    ["layer", "y = tanh(x)", "--shape", "x=3", "--timeout", "0"],
    ["layer", "y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]", "--shape", "x=2,7", "--shape", "W=3,2,3",
     "--batch", "2", "--timeout", "0.05"],
])
def test_cli_refuses_with_one_line_and_writes_nothing(args, tmp_path):
    out = tmp_path / "never.py"
    done = cli(*args, "--module", str(out)) if "--reduction" not in args else cli(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("derive layer: error: ") or "argument" in done.stderr
    assert not out.exists()


def test_cli_derives_what_crashed(tmp_path):
    out = tmp_path / "head.py"
    done = cli("layer", "y = exp(K @ x) / sum(exp(K @ x))", "--shape", "x=3", "--shape", "K=5,3",
               "--module", str(out))
    assert done.returncode == 0 and done.stderr == "" and out.exists()
    done = cli("layer", "J = sum((x - t)**2)", "--shape", "x=3", "--target", "t", "--reduction", "sum",
               "--module", str(tmp_path / "mse.py"))
    assert done.returncode == 0, done.stderr
    criterion = load((tmp_path / "mse.py").read_text(), tmp_path)()
    assert criterion.forward(np.ones((2, 3)), np.zeros((2, 3))) == 6.0
    done = cli("layer", "y = w * x", "--shape", "x=3", "--shape", "w=")
    assert done.returncode == 0, done.stderr


def test_cli_ctrl_c_is_one_line_status_130_and_writes_nothing(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(derive, "module_source", interrupted)
    out = tmp_path / "never.py"
    status = derive.cli.main(["layer", "y = tanh(x)", "--shape", "x=3", "--module", str(out)])
    captured = capsys.readouterr()
    assert status == 130 and captured.err == "derive layer: interrupted\n" and not out.exists()


def test_cli_ctrl_c_during_a_real_derivation(tmp_path):
    import signal
    import time
    out = tmp_path / "never.py"
    process = subprocess.Popen([sys.executable, "-m", "derive.cli", "layer",  # about 20 s of deriving
                                "y = W3 @ tanh(W2 @ tanh(W1 @ x + b1) + b2) + b3", "--shape", "x=3",
                                "--shape", "W1=4,3", "--shape", "W2=4,4", "--shape", "W3=2,4", "--batch", "2",
                                "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err == "derive layer: interrupted\n" and not out.exists()


def test_derive_check_batch_must_be_positive():
    done = cli("check", "tests/check_planted.py:DoubledMSE", "--input-shape", "3", "--batch", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "expected a positive integer, got '0'" in done.stderr and len(done.stderr.strip().splitlines()) == 1

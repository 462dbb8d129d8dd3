"""Backprop Ninja's whole network as Karpathy writes it (issue 19, item 7): the max-shift of
the logits and an integer class target, derived statement by statement; the max's gradient
proved to cancel and dlogits collapsed to (probs - onehot) / n; the generated module against
PyTorch's autograd in float64, large logits included."""

import importlib.util

import numpy as np
import pytest
import sympy as sp

import derive
from derive.programs import PROGRAMS
from derive.symbolic.functions import ArgExtremum
from derive.symbolic.program import parse_program, program_derivation, stable_log, through_max

torch = pytest.importorskip("torch")
F = torch.nn.functional

NINJA = next(e for e in PROGRAMS if e.slug == "ninja")
PARAMETERS = ("W1", "b1", "bngain", "bnbias", "W2", "b2")


def _program():
    return parse_program(NINJA.text, NINJA.shapes, input="x", target="Yb")


def _load(tmp_path):
    source = derive.module_source(NINJA.text, NINJA.shapes, name=NINJA.name, **NINJA.options)
    path = tmp_path / "ninja.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("program_ninja", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Ninja, source


def test_the_entry_is_karpathys_chain_with_max_shift_and_integer_target():
    names = [s.name for s in _program().statements]
    assert names[7:] == ["logits", "logit_maxes", "norm_logits", "counts", "counts_sum", "counts_sum_inv",
                         "probs", "logprobs", "J"]
    assert "max(logits[i,c], c)" in NINJA.text and "logprobs[i, Yb[i]]" in NINJA.text
    assert "no max yet" not in NINJA.about


def test_the_max_gradient_cancels_and_dlogits_collapses_to_softmax_minus_onehot():
    program = _program()
    steps = {step.lhs.variables[0].base.name: step for step in through_max(program)}
    assert steps["logit_maxes"].chain == (0,)
    (form,) = steps["logits"].chain
    l, a = steps["logits"].lhs.variables[0].indices
    n = next(s for s in form.free_symbols if s.name == "n")
    probs, Yb = sp.IndexedBase("probs", real=True), sp.IndexedBase("Yb", real=True)
    assert sp.simplify(form - (probs[l, a] - sp.KroneckerDelta(a, Yb[l] + 1)) / n) == 0


def test_the_derivation_shows_the_max_subgradient_and_the_class_convention():
    derivation = program_derivation(_program())
    backward = next(s for s in derivation.sections if s.title == "Backward pass")
    dlogits = next(step for step in backward.steps if "logits[" in str(step.lhs) and "norm" not in str(step.lhs))
    assert dlogits.chain[0].has(ArgExtremum)  # the max's subgradient: delta(a, argmax_c logits[l, c])
    text = next(step.text for step in backward.steps if step.lhs == dlogits.lhs)
    assert "passes its gradient to the first extreme entry in index order, as torch's does" in text
    collapsed = next(s for s in derivation.sections if s.title == "Collapsed")
    assert any(step.chain == (0,) for step in collapsed.steps)
    forward = next(s for s in derivation.sections if s.title == "Forward pass")
    assert forward.text.startswith("Yb holds integers counted from 0")


def test_logprobs_are_computed_without_the_log_of_an_underflowing_probability():
    program = _program()
    form = stable_log(program, program.defined("logprobs"))
    i, c = program.defined("logprobs").spec.indices
    assert form == sp.IndexedBase("norm_logits", real=True)[i, c] - sp.log(sp.IndexedBase("counts_sum", real=True)[i])
    assert all(stable_log(program, s) is None for s in program.statements if s.name != "logprobs")


def _torch_reference(net, x, classes):
    params = {k: torch.tensor(getattr(net, k), requires_grad=True) for k in PARAMETERS}
    xt = torch.tensor(x, requires_grad=True)
    losses = []
    lead = x.shape[:-2]
    for k in np.ndindex(lead):  # each batch of 4 on its own (its own statistics); their losses averaged
        hpre = F.linear(xt[k], params["W1"], params["b1"])
        hpreact = F.batch_norm(hpre, None, None, params["bngain"], params["bnbias"], training=True, eps=1e-5)
        logits = F.linear(torch.tanh(hpreact), params["W2"], params["b2"])
        losses.append(F.cross_entropy(logits, torch.tensor(classes[k])))
    reference = torch.stack(losses).mean()
    reference.backward()
    return reference.item(), xt.grad.numpy(), {k: v.grad.numpy() for k, v in params.items()}


@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["logits of about 1", "logits of about 1000"])
@pytest.mark.parametrize("batch", [None, 2], ids=["one batch", "two batches"])
def test_ninja_module_agrees_with_torch(batch, scale, tmp_path):
    Ninja, _ = _load(tmp_path)
    net = Ninja(rng=0)
    net.W2 *= scale  # tanh's outputs are at most 1: W2 sets the logits' size (±1000: exp overflows unshifted)
    rng = np.random.default_rng(4)
    lead = () if batch is None else (batch,)
    x = rng.standard_normal(lead + (4, 3))
    classes = rng.integers(0, 3, lead + (4,))
    loss = net.forward(x, classes)
    net.zeroGradParameters()
    grad_x = net.backward(x, classes)
    reference, grad_reference, param_grads = _torch_reference(net, x, classes)
    assert np.isfinite(loss) and loss == pytest.approx(reference, rel=1e-10)
    assert np.all(np.isfinite(grad_x))
    np.testing.assert_allclose(grad_x, grad_reference, rtol=1e-8, atol=1e-10)
    for name, theirs in param_grads.items():
        np.testing.assert_allclose(getattr(net, "grad" + name), theirs, rtol=1e-8, atol=1e-10, err_msg=name)


def test_ties_pass_the_max_gradient_to_the_first_largest_logit_as_torch(tmp_path):
    Ninja, _ = _load(tmp_path)
    net = Ninja(rng=0)
    net.W2[...] = 0.0
    net.b2[...] = [0.5, 0.5, -1.0]  # every row's two first logits tie for the max
    x = np.random.default_rng(5).standard_normal((4, 3))
    classes = np.array([0, 1, 2, 1])
    loss = net.forward(x, classes)
    net.zeroGradParameters()
    grad_x = net.backward(x, classes)
    reference, grad_reference, param_grads = _torch_reference(net, x, classes)
    assert loss == pytest.approx(reference, rel=1e-12)
    np.testing.assert_allclose(grad_x, grad_reference, atol=1e-12)
    np.testing.assert_allclose(net.gradb2, param_grads["b2"], rtol=1e-10, atol=1e-12)


def test_the_module_computes_dlogits_from_its_collapsed_form(tmp_path):
    _, source = _load(tmp_path)
    assert "_d_logits = " in source and "_d_probs" not in source  # no 1 / probs in the backward
    assert "xp.log(probs)" not in source and "xp.log(counts_sum)" in source


def test_an_integer_array_that_is_not_the_target_is_a_one_line_error_naming_its_statement():
    with pytest.raises(ValueError, match=r"^line 16: .*Yb is used inside a subscript, so it holds integers"):
        parse_program(NINJA.text, NINJA.shapes, input="x")

"""The program entries that a constructor sizes (derive/programs.py, registered in
derive/catalogue.py) as derive.nn classes generated at run-time sizes: at sizes other than the
programs' examples, one sample and a batch, they agree with PyTorch's cells and functions in
float64 (outputs, gradInputs, parameter gradients with accGradParameters' scale), and pass
derive.nn.check and table_check."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import derive.nn as nn
from derive.catalogue import lookup
from derive.catalogue_codegen import check_cases, skipped
from derive.nn.check_table import table_check

torch = pytest.importorskip("torch")
F = torch.nn.functional

SCALE = 0.5  # accGradParameters' scale: the parameters' gradients are SCALE times PyTorch's


def _t(array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _cat(module, names):
    return torch.cat([_t(getattr(module, n)).detach() for n in names])


def _agree(module, inputs, reference, gradients, *, several_outputs=False):
    """forward and backward(scale) of ``module`` against ``reference`` (PyTorch, of the inputs as
    tensors and the module); ``gradients`` maps each gradient's name to a function of the
    reference's tensors giving PyTorch's gradient."""
    rng = np.random.default_rng(3)
    table = len(inputs) > 1
    output = module.forward(list(inputs) if table else inputs[0])
    outputs = output if several_outputs else [output]
    grad_outputs = [rng.standard_normal(o.shape) for o in outputs]
    module.zeroGradParameters()
    grad_input = module.backward(list(inputs) if table else inputs[0],
                                 grad_outputs if several_outputs else grad_outputs[0], SCALE)
    xs = [_t(x) for x in inputs]
    theirs, tensors = reference(xs)
    theirs = list(theirs) if several_outputs else [theirs]
    sum(float(0) + (o * torch.tensor(g)).sum() for o, g in zip(theirs, grad_outputs)).backward()
    for mine, their in zip(outputs, theirs):
        np.testing.assert_allclose(mine, their.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, x in zip(grad_input if table else [grad_input], xs):
        np.testing.assert_allclose(mine, x.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, their in gradients.items():
        np.testing.assert_allclose(getattr(module, name), SCALE * their(tensors), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def _inputs(rng, lead, *sizes):
    return [rng.standard_normal(lead + (s,)) for s in sizes]


BATCHES = pytest.mark.parametrize("lead", [(), (3,)], ids=["one sample", "batch of 3"])


@BATCHES
def test_rnn_step_is_pytorchs_tanh_rnn_cell(lead):
    layer = nn.RNNStep(5, 6, rng=1)
    x, h = _inputs(np.random.default_rng(0), lead, 5, 6)

    def reference(xs):
        cell = torch.nn.RNNCell(5, 6, nonlinearity="tanh").double()
        with torch.no_grad():
            cell.weight_ih.copy_(torch.tensor(layer.Wx))
            cell.weight_hh.copy_(torch.tensor(layer.Wh))
            cell.bias_ih.copy_(torch.tensor(layer.b))
            cell.bias_hh.zero_()  # the program has one bias
        return cell(*xs), cell

    _agree(layer, [x, h], reference, {"gradWx": lambda c: c.weight_ih.grad.numpy(),
                                      "gradWh": lambda c: c.weight_hh.grad.numpy(),
                                      "gradB": lambda c: c.bias_ih.grad.numpy()})


@BATCHES
def test_lstm_step_is_pytorchs_lstm_cell(lead):
    layer = nn.LSTMStep(4, 5, rng=2)
    x, h, c = _inputs(np.random.default_rng(1), lead, 4, 5, 5)
    gates = "ifuo"  # PyTorch's order: input, forget, cell (our u), output

    def reference(xs):
        cell = torch.nn.LSTMCell(4, 5).double()
        with torch.no_grad():
            cell.weight_ih.copy_(_cat(layer, [f"W{g}" for g in gates]))
            cell.weight_hh.copy_(_cat(layer, [f"U{g}" for g in gates]))
            cell.bias_ih.copy_(_cat(layer, [f"b{g}" for g in gates]))
            cell.bias_hh.zero_()
        return cell(xs[0], (xs[1], xs[2])), cell

    def block(attribute, k):
        return lambda c: getattr(c, attribute).grad.numpy()[5 * k:5 * (k + 1)]

    expected = {}
    for k, g in enumerate(gates):
        expected[f"gradW{g}"] = block("weight_ih", k)
        expected[f"gradU{g}"] = block("weight_hh", k)
        expected[f"gradB{g}"] = block("bias_ih", k)
    _agree(layer, [x, h, c], reference, expected, several_outputs=True)


@BATCHES
def test_gru_step_is_pytorchs_gru_cell(lead):
    layer = nn.GRUStep(4, 3, rng=3)
    x, h = _inputs(np.random.default_rng(2), lead, 4, 3)
    gates = "rzn"

    def reference(xs):
        cell = torch.nn.GRUCell(4, 3).double()
        with torch.no_grad():
            cell.weight_ih.copy_(_cat(layer, [f"W{g}" for g in gates]))
            cell.weight_hh.copy_(_cat(layer, [f"U{g}" for g in gates]))
            cell.bias_ih.copy_(_cat(layer, ["br", "bz", "bn"]))
            cell.bias_hh.copy_(torch.cat([torch.zeros(6, dtype=torch.float64), torch.tensor(layer.bhn)]))
        return cell(*xs), cell

    def block(attribute, k):
        return lambda c: getattr(c, attribute).grad.numpy()[3 * k:3 * (k + 1)]

    expected = {"gradBhn": block("bias_hh", 2)}
    for k, g in enumerate(gates):
        expected[f"gradW{g}"] = block("weight_ih", k)
        expected[f"gradU{g}"] = block("weight_hh", k)
        expected[f"gradB{g}"] = block("bias_ih", k)
    _agree(layer, [x, h], reference, expected)


@BATCHES
def test_layer_norm_is_pytorchs_layer_norm(lead):
    layer = nn.LayerNorm(7)
    assert (layer.weight == 1).all() and (layer.bias == 0).all()  # its own reset, as PyTorch's
    rng = np.random.default_rng(4)
    layer.weight[...] = rng.standard_normal(7)
    layer.bias[...] = rng.standard_normal(7)
    (x,) = _inputs(rng, lead, 7)

    def reference(xs):
        w, b = _t(layer.weight), _t(layer.bias)
        return F.layer_norm(xs[0], (7,), w, b, eps=1e-5), (w, b)

    _agree(layer, [x], reference, {"gradWeight": lambda t: t[0].grad.numpy(),
                                   "gradBias": lambda t: t[1].grad.numpy()})


@BATCHES
def test_affine_relu_is_linear_then_relu(lead):
    layer = nn.AffineReLU(6, 2, rng=5)
    (x,) = _inputs(np.random.default_rng(5), lead, 6)

    def reference(xs):
        w, b = _t(layer.weight), _t(layer.bias)
        return F.relu(F.linear(xs[0], w, b)), (w, b)

    _agree(layer, [x], reference, {"gradWeight": lambda t: t[0].grad.numpy(),
                                   "gradBias": lambda t: t[1].grad.numpy()})


@BATCHES
def test_mlp3_is_three_linear_layers_with_tanh(lead):
    layer = nn.MLP3(5, 6, 3, 4, rng=6)
    (x,) = _inputs(np.random.default_rng(6), lead, 5)
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]

    def reference(xs):
        p = {n: _t(getattr(layer, n)) for n in names}
        h1 = torch.tanh(F.linear(xs[0], p["W1"], p["b1"]))
        h2 = torch.tanh(F.linear(h1, p["W2"], p["b2"]))
        return F.linear(h2, p["W3"], p["b3"]), p

    _agree(layer, [x], reference, {"grad" + n[0].upper() + n[1:]: (lambda p, n=n: p[n].grad.numpy())
                                   for n in names})


def test_recurrent_steps_reset_as_pytorchs_cells():
    for layer in (nn.RNNStep(30, 40, rng=0), nn.LSTMStep(30, 40, rng=0), nn.GRUStep(30, 40, rng=0)):
        params, grads = layer.parameters()
        bound = 1 / math.sqrt(40)  # U(-1/sqrt(hidden), 1/sqrt(hidden)), PyTorch's and rnn's
        assert all(np.abs(p).max() <= bound for p in params)
        assert max(np.abs(p).max() for p in params) > 0.9 * bound
        assert all((g == 0).all() for g in grads)
    wide = nn.AffineReLU(100, 3, rng=0)  # Torch7's Linear: 1/sqrt(inputSize)
    assert np.abs(wide.weight).max() <= 0.1 < 1.2 * np.abs(wide.weight).max()


@pytest.mark.parametrize("make, shapes", [
    (lambda: nn.RNNStep(2, 3, rng=0), [(2,), (3,)]),
    (lambda: nn.LSTMStep(3, 2, rng=0), [(3,), (2,), (2,)]),
    (lambda: nn.GRUStep(2, 4, rng=0), [(2,), (4,)]),
], ids=["RNNStep", "LSTMStep", "GRUStep"])
def test_table_check_passes(make, shapes):
    report = table_check(make(), shapes, batch=2)
    assert report.passed, str(report)


@pytest.mark.parametrize("name", ["AffineReLU", "LayerNorm", "RNNStep", "LSTMStep", "GRUStep", "MLP3"])
def test_derive_check_passes_and_the_entry_is_generated(name):
    assert name not in skipped()
    ((label, factory, shape, extra),) = check_cases()[name]
    report = nn.check(factory(), shape, batch=3, **extra)
    assert report.passed, f"{label}: {report}"


def test_bad_tables_are_one_line():
    layer = nn.LSTMStep(3, 2, rng=0)
    x, h, c = np.zeros(3), np.zeros(2), np.zeros(2)
    with pytest.raises(ValueError, match="LSTMStep: input must be a list of 3 arrays"):
        layer.forward(x)
    with pytest.raises(ValueError, match=r"LSTMStep: input 2's axis 1 must have outputSize = 2 entries"):
        layer.forward([x, np.zeros(3), c])
    layer.forward([x, h, c])
    with pytest.raises(ValueError, match="LSTMStep: gradOutput must be a list of 2 arrays"):
        layer.backward([x, h, c], np.zeros(2))
    with pytest.raises(ValueError, match=r"LSTMStep: gradOutput 2 must have the shape of the output"):
        layer.backward([x, h, c], [np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="missing 1 required positional argument: .outputSize."):
        nn.RNNStep(3)


def test_every_program_has_a_constructor_and_a_generated_class():
    from derive.programs import PROGRAMS

    for program in PROGRAMS:
        assert program.name not in skipped(), skipped().get(program.name)
        assert lookup(program.name).signature and getattr(nn, program.name).formula == program.text


def test_derive_name_args_sizes_the_program(capsys):
    from derive.cli import main

    main(["RNNStep", "3", "5", "--format", "json"])
    results = json.loads(capsys.readouterr().out)["results"]
    assert (results["dJ/dx"]["shape"], results["dJ/dh"]["shape"], results["dJ/dWh"]["shape"]) == ([3], [5], [5, 5])
    with pytest.raises(SystemExit) as exit:
        main(["LSTMStep", "3"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == ("derive LSTMStep: error: LSTMStep(inputSize, outputSize): missing argument "
                                       "outputSize\n")

"""The generated modules of the programs in derive.programs against PyTorch's autograd (float64):
the outputs, every gradInput and every parameter's gradient, for one sample and for a batch."""

import importlib.util

import numpy as np
import pytest

import derive
from derive.programs import PROGRAMS

torch = pytest.importorskip("torch")
F = torch.nn.functional


def load(source: str, name: str, tmp_path):
    path = tmp_path / f"{name.lower()}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"program_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _gru(x, h, p):
    cell = torch.nn.GRUCell(x.shape[-1], h.shape[-1]).double()
    zero = torch.zeros_like(p["br"])
    with torch.no_grad():  # PyTorch's own GRU: gates r, z, n stacked in its weights
        cell.weight_ih.copy_(torch.cat([p["Wr"], p["Wz"], p["Wn"]]))
        cell.weight_hh.copy_(torch.cat([p["Ur"], p["Uz"], p["Un"]]))
        cell.bias_ih.copy_(torch.cat([p["br"], p["bz"], p["bn"]]))
        cell.bias_hh.copy_(torch.cat([zero, zero, p["bhn"]]))
    out = cell(x, h)
    return [out], cell


def _lstm(x, h, c, p):
    gate = lambda k: F.linear(x, p["W" + k]) + F.linear(h, p["U" + k]) + p["b" + k]  # noqa: E731
    i, f, o, u = torch.sigmoid(gate("i")), torch.sigmoid(gate("f")), torch.sigmoid(gate("o")), torch.tanh(gate("u"))
    c2 = f * c + i * u
    return [o * torch.tanh(c2), c2]


def _attention(X, p):
    Q, K, V = X @ p["Wq"], X @ p["Wk"], X @ p["Wv"]
    return [torch.softmax(Q @ K.transpose(-1, -2) / 2, dim=-1) @ V]


def _batchnorm(x, p):
    def one(sample):
        return F.batch_norm(sample, None, None, p["gamma"], p["beta"], training=True, eps=1e-5)
    return [one(x) if x.dim() == 2 else torch.stack([one(s) for s in x])]


def _groupnorm(x, p):
    lead = x.shape[:-2]
    flat = x.reshape(-1, 6)  # Torch's layout: channels in a row, groups of consecutive channels
    y = F.group_norm(flat, 2, p["gamma"].reshape(6), p["beta"].reshape(6), eps=1e-5)
    return [y.reshape(lead + (2, 3))]


def _mlp3(x, p):
    h1 = torch.tanh(F.linear(x, p["W1"], p["b1"]))
    h2 = torch.tanh(F.linear(h1, p["W2"], p["b2"]))
    return [F.linear(h2, p["W3"], p["b3"])]


REFERENCES = {
    "affine-relu": lambda x, p: [torch.relu(F.linear(x, p["W"], p["b"]))],
    "layernorm": lambda x, p: [F.layer_norm(x, x.shape[-1:], p["gamma"], p["beta"], 1e-5)],
    "batchnorm": _batchnorm,
    "groupnorm": _groupnorm,
    "rnn-step": lambda x, h, p: [torch.tanh(F.linear(x, p["Wx"]) + F.linear(h, p["Wh"]) + p["b"])],
    "lstm-step": _lstm,
    "gru-step": lambda x, h, p: _gru(x, h, p)[0],
    "attention": _attention,
    "mlp3": _mlp3,
}


def _torch_gradients(entry, Layer, layer, inputs, grads, target=None):
    """PyTorch's outputs, gradients of the inputs and of the parameters (by name)."""
    params = {w: torch.tensor(getattr(layer, w), requires_grad=True) for w in Layer._names()}
    xs = [torch.tensor(a, requires_grad=True) for a in inputs]
    if entry.slug == "gru-step":
        outs, cell = _gru(*xs, {k: v.detach() for k, v in params.items()})
        torch.autograd.backward(outs, [torch.tensor(g) for g in grads])
        n = params["Wr"].shape[0]
        stacked = {"Wr": cell.weight_ih.grad[:n], "Wz": cell.weight_ih.grad[n:2 * n], "Wn": cell.weight_ih.grad[2 * n:],
                   "Ur": cell.weight_hh.grad[:n], "Uz": cell.weight_hh.grad[n:2 * n], "Un": cell.weight_hh.grad[2 * n:],
                   "br": cell.bias_ih.grad[:n], "bz": cell.bias_ih.grad[n:2 * n], "bn": cell.bias_ih.grad[2 * n:],
                   "bhn": cell.bias_hh.grad[2 * n:]}
        return [o.detach().numpy() for o in outs], [x.grad.numpy() for x in xs], {k: v.numpy() for k, v in stacked.items()}
    outs = REFERENCES[entry.slug](*xs, params)
    torch.autograd.backward(outs, [torch.tensor(g) for g in grads])
    return ([o.detach().numpy() for o in outs], [x.grad.numpy() for x in xs],
            {k: v.grad.numpy() for k, v in params.items()})


def _names(cls):
    return [slot for slot, _ in cls._parameterSlots]


@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
@pytest.mark.parametrize("entry", [e for e in PROGRAMS if e.slug in REFERENCES], ids=lambda e: e.slug)
def test_program_module_agrees_with_torch(entry, batch, tmp_path):
    Layer = load(derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options), entry.name, tmp_path)
    Layer._names = classmethod(_names)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    lead = () if batch is None else (batch,)
    inputs = [rng.standard_normal(lead + shape) for shape in Layer.inputShapes]
    grads = [rng.standard_normal(lead + shape) for shape in Layer.outputShapes]
    several_in, several_out = len(inputs) > 1, len(grads) > 1
    output = layer.forward(inputs if several_in else inputs[0])
    layer.zeroGradParameters()
    grad_input = layer.backward(inputs if several_in else inputs[0], grads if several_out else grads[0])
    outs, grad_inputs, param_grads = _torch_gradients(entry, Layer, layer, inputs, grads)
    for mine, theirs in zip(output if several_out else [output], outs, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(grad_input if several_in else [grad_input], grad_inputs, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    for name, theirs in param_grads.items():
        np.testing.assert_allclose(getattr(layer, "grad" + name), theirs, rtol=1e-9, atol=1e-12, err_msg=name)
    # updateGradInput alone matches backward's, and accGradParameters accumulates scale times it
    again = layer.updateGradInput(inputs if several_in else inputs[0], grads if several_out else grads[0])
    for mine, theirs in zip(again if several_in else [again], grad_inputs):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    layer.accGradParameters(inputs if several_in else inputs[0], grads if several_out else grads[0], 0.5)
    for name, theirs in param_grads.items():
        np.testing.assert_allclose(getattr(layer, "grad" + name), 1.5 * theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_criterion_with_parameters_agrees_with_torch(batch, tmp_path):
    entry = next(e for e in PROGRAMS if e.slug == "softmax-regression")
    Layer = load(derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options), entry.name, tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(3)
    lead = () if batch is None else (batch,)
    x = rng.standard_normal(lead + entry.shapes["x"])
    classes = rng.integers(0, 3, size=lead)
    target = np.eye(3)[classes]
    loss = layer.forward(x, target)
    layer.zeroGradParameters()
    grad_input = layer.backward(x, target)
    xt = torch.tensor(x, requires_grad=True)
    W, b = (torch.tensor(a, requires_grad=True) for a in (layer.W, layer.b))
    logits = F.linear(xt, W, b)
    reference = F.cross_entropy(logits.reshape(-1, 3), torch.tensor(classes).reshape(-1))
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(grad_input, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.gradW, W.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.gradb, b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_exponentials_are_shifted_so_large_logits_do_not_overflow(tmp_path):
    entry = next(e for e in PROGRAMS if e.slug == "softmax-regression")
    Layer = load(derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options), entry.name, tmp_path)
    layer = Layer(rng=1)
    x = np.array([9000.0, -8000.0, 7000.0, 10000.0])  # logits of thousands: exp overflows unshifted
    target = np.eye(3)[[2]][0]
    loss = layer.forward(x, target)
    grad = layer.backward(x, target)
    xt = torch.tensor(x, requires_grad=True)
    reference = F.cross_entropy(F.linear(xt, torch.tensor(layer.W), torch.tensor(layer.b))[None], torch.tensor([2]))
    reference.backward()
    assert np.isfinite(loss) and loss == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert "- z.max()" in derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options)

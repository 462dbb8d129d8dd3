"""The layer engine: expressions in both notations, derived, proved, compiled to modules
that agree with PyTorch's autograd in float64 (output, gradInput, every parameter
gradient; one sample and a batch)."""

import importlib.util
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
import torch

import derive
from derive.latex import document

F = torch.nn.functional

# (expression, shapes, keyword arguments, the same layer in torch: f(input, *params) or
# for a criterion f(input, target)).  Parameters are passed in order of first appearance.
LAYERS = [
    ("y = W @ x + b", {"x": (4,), "W": (3, 4)}, {}, lambda x, W, b: x @ W.T + b),
    ("y = W @ x", {"x": (4,), "W": (3, 4)}, {}, lambda x, W: x @ W.T),
    ("y = tanh(W @ x + b)", {"x": (5,), "W": (3, 5)}, {}, lambda x, W, b: torch.tanh(x @ W.T + b)),
    ("y = sigmoid(x)", {"x": (6,)}, {}, lambda x: torch.sigmoid(x)),
    ("y = tanh(x)", {"x": (6,)}, {}, lambda x: torch.tanh(x)),
    ("y = relu(x)", {"x": (6,)}, {}, lambda x: torch.relu(x)),
    ("y = softplus(x)", {"x": (6,)}, {}, lambda x: F.softplus(x)),
    ("y = exp(x) / sum(exp(x))", {"x": (5,)}, {}, lambda x: torch.softmax(x, -1)),
    ("y = x - log(sum(exp(x)))", {"x": (5,)}, {}, lambda x: torch.log_softmax(x, -1)),
    ("y = W2 @ relu(W1 @ x + b1) + b2", {"x": (4,), "W1": (6, 4), "W2": (3, 6)}, {},
     lambda x, W2, W1, b1, b2: torch.relu(x @ W1.T + b1) @ W2.T + b2),
    ("y = (W @ x) * sigmoid(V @ x)", {"x": (4,), "W": (3, 4), "V": (3, 4)}, {},
     lambda x, W, V: (x @ W.T) * torch.sigmoid(x @ V.T)),
    ("y = W.T @ x", {"x": (3,), "W": (3, 4)}, {}, lambda x, W: x @ W),
    ("y = a * x + c", {"x": (5,)}, {}, lambda x, a, c: a * x + c),
    ("y = sqrt(x * x + 1)", {"x": (5,)}, {}, lambda x: torch.sqrt(x * x + 1)),
    ("y = sin(x) * cos(W @ x)", {"x": (3,), "W": (3, 3)}, {},
     lambda x, W: torch.sin(x) * torch.cos(x @ W.T)),
    ("y = abs(x) / 2 - x ** 3", {"x": (5,)}, {}, lambda x: torch.abs(x) / 2 - x ** 3),
    ("y = log(1 + exp(W @ x))", {"x": (3,), "W": (2, 3)}, {}, lambda x, W: torch.log(1 + torch.exp(x @ W.T))),
    ("y[i] = sum(W[i,k] * x[k], k) + b[i]", {"x": (4,), "W": (3, 4)}, {}, lambda x, W, b: x @ W.T + b),
    ("y[i] = exp(x[i]) / sum(exp(x[k]), k)", {"x": (5,)}, {}, lambda x: torch.softmax(x, -1)),
    ("y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]", {"x": (2, 7), "W": (3, 2, 3)}, {},
     lambda x, W, b: F.conv1d(x if x.dim() == 3 else x[None], W, b)[0] if x.dim() == 2
     else F.conv1d(x, W, b)),
    ("y[c,h,w] = sum(K[c,d,p,q] * x[d,h+p-1,w+q-1], d, p, q)", {"x": (2, 5, 4), "K": (3, 2, 2, 3)}, {},
     lambda x, K: F.conv2d(x[None], K)[0] if x.dim() == 3 else F.conv2d(x, K)),
    ("y[c,t] = sum(W[c,d,q] * x[d,2*t+q-2], d, q)", {"x": (2, 8), "W": (3, 2, 3), "y": (3, 3)}, {},
     lambda x, W: F.conv1d(x[None], W, stride=2)[0] if x.dim() == 2 else F.conv1d(x, W, stride=2)),
    ("y[i,j] = sum(A[i,k] * x[k,j], k)", {"x": (3, 2), "A": (4, 3)}, {}, lambda x, A: A @ x),
    ("y[i] = x[i] * mean(x[k] * x[k], k)", {"x": (4,)}, {}, lambda x: x * (x * x).mean(-1, keepdim=True)),
]
CRITERIA = [
    ("J = mean((x - t)**2)", {"x": (4,)}, {"target": "t"}, lambda x, t: ((x - t) ** 2).mean(-1)),
    ("J = sum((x - t)**2)", {"x": (4,)}, {"target": "t"}, lambda x, t: ((x - t) ** 2).sum(-1)),
    ("J = -sum(t * (x - log(sum(exp(x)))))", {"x": (5,)}, {"target": "t"},
     lambda x, t: -(t * torch.log_softmax(x, -1)).sum(-1)),
    ("J = sum(abs(x - t))", {"x": (4,)}, {"target": "t"}, lambda x, t: (x - t).abs().sum(-1)),
    ("J = sum((x[i] - t[i])**2, i) / 2", {"x": (3,)}, {"target": "t"}, lambda x, t: ((x - t) ** 2).sum(-1) / 2),
]


def load(source: str, tmp_path, name: str = "Layer"):
    path = tmp_path / f"generated_{abs(hash(source))}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_at_least_twenty_expressions_in_both_notations():
    texts = [c[0] for c in LAYERS + CRITERIA]
    assert len(set(texts)) >= 20
    assert sum("[" in t for t in texts) >= 5 and sum("[" not in t for t in texts) >= 15


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_generated_module_agrees_with_autograd(case, batch, tmp_path):
    text, shapes, kwargs, reference = case
    Layer = load(derive.module_source(text, shapes, **kwargs), tmp_path)
    layer = Layer(rng=1)
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, ((batch,) if batch else ()) + Layer.inputShape)
    agrees_with_autograd(layer, x, reference, rng)


def agrees_with_autograd(layer, x, reference, rng) -> None:
    """forward, gradInput and every parameter's gradient of ``layer`` at x equal PyTorch's
    autograd of ``reference(x, *parameters)`` for a random gradOutput."""
    params = layer.parameters()[0] if layer.parameters() else []
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    yt = reference(xt, *pt)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    layer.zeroGradParameters()
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(layer.parameters()[1] if params else [], pt):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CRITERIA, ids=[c[0] for c in CRITERIA])
@pytest.mark.parametrize("batch", [None, 3], ids=["one sample", "batch"])
def test_generated_criterion_agrees_with_autograd(case, batch, tmp_path):
    text, shapes, kwargs, reference = case
    Criterion = load(derive.module_source(text, shapes, **kwargs), tmp_path)
    criterion = Criterion()
    rng = np.random.default_rng(3)
    shape = ((batch,) if batch else ()) + Criterion.inputShape
    x, t = rng.uniform(-2, 2, shape), rng.uniform(0, 1, shape)
    xt = torch.tensor(x, requires_grad=True)
    loss = reference(xt, torch.tensor(t)).mean()  # a batch: the mean of the samples' losses
    loss.backward()
    value = criterion.forward(x, t)
    assert isinstance(value, float)
    assert value == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(criterion.backward(x, t), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_softmax_and_cross_entropy_are_stable_for_large_logits(tmp_path):
    x = np.array([[1000.0, -1000.0, 3.0, 999.0], [-1000.0, -999.0, 0.0, 1.0]])
    softmax = load(derive.module_source("y = exp(x) / sum(exp(x))", {"x": (4,)}), tmp_path)()
    np.testing.assert_allclose(softmax.forward(x), torch.softmax(torch.tensor(x), -1).numpy(), atol=1e-300)
    ce = load(derive.module_source("J = -sum(t * (x - log(sum(exp(x)))))", {"x": (4,)}, target="t"),
              tmp_path)()
    t = np.eye(4)[[1, 2]]
    xt = torch.tensor(x, requires_grad=True)
    reference = F.cross_entropy(xt, torch.tensor([1, 2]))
    reference.backward()
    assert np.isfinite(ce.forward(x, t)) and ce.forward(x, t) == pytest.approx(reference.item())
    np.testing.assert_allclose(ce.backward(x, t), xt.grad.numpy(), atol=1e-15)


def test_parameters_in_order_of_first_appearance_and_accumulate(tmp_path):
    Layer = load(derive.module_source("y = W2 @ relu(W1 @ x + b1) + b2",
                                      {"x": (4,), "W1": (6, 4), "W2": (3, 6)}, name="MLP"), tmp_path, "MLP")
    layer = Layer(rng=0)
    params, grads = layer.parameters()
    assert [p.shape for p in params] == [(3, 6), (6, 4), (6,), (3,)]
    assert params[0] is layer.W2 and grads[0] is layer.gradW2
    x, g = np.ones((2, 4)), np.ones((2, 3))
    layer.forward(x)
    layer.zeroGradParameters()
    layer.backward(x, g)
    once = [a.copy() for a in grads]
    layer.accGradParameters(x, g, scale=0.5)
    for a, b in zip(grads, once):
        np.testing.assert_allclose(a, 1.5 * b)
    before = [p.copy() for p in params]
    layer.updateParameters(0.1)
    for p, b, d in zip(params, before, grads):
        np.testing.assert_allclose(p, b - 0.1 * d)
    assert Layer(rng=3).W2[0, 0] == Layer(rng=3).W2[0, 0] != Layer(rng=4).W2[0, 0]


def test_batch_gradient_matmul_is_blas_not_a_loop():
    source = derive.module_source("y = tanh(W @ x + b)", {"x": (5,), "W": (3, 5)})
    assert source.startswith("# generated by")
    batch = source[source.index("def backward_batch"):]
    batch = batch[:batch.index("\n\n\n")]
    assert " @ " in batch and "for " not in batch
    # einsum only sums an element-wise product (dJ/db = sum_s (1 - y^2) g), never in place of the product
    assert all(a == b for a, b in re.findall(r'einsum\("(\w+),(\w+)->', batch))
    assert "import sympy" not in source


def test_kernels_reuse_their_own_temporaries_only():
    from derive.lowering import in_place

    source = derive.module_source("y = tanh(W @ x + b)", {"x": (5,), "W": (3, 5)})
    forward = source[source.index("def update_output_batch"):]
    assert "_t1 += b\n    xp.tanh(_t1, out=_t1)\n    output = _t1" in forward
    axes = {"_t1": ("i",), "_t2": ("i",), "_t3": ("i",), "_t4": ("i",), "_t5": ()}
    kept = [
        "_t1 = x @ W.T", "_t2 = b + _t1",   # _t1 is read again below: not overwritten here
        "_t3 = _t1 * g",                     # its last read: written into _t1
        "_t4 = (x > 0)", "_t5 = _t4 * g",    # a mask is not a float array; _t5 has no axes
        "_t6 = x * x", "_t7 = W.T + _t6",    # _t7's axes are not known
    ]
    assert in_place(kept, axes) == kept[:2] + ["_t1 *= g"] + kept[3:]
    assert in_place(["_t1 = x * 2", "_t2 = 1 - _t1", "out = _t2"], {"_t1": ("i",), "_t2": ("i",)}) == [
        "_t1 = x * 2", "xp.subtract(1, _t1, out=_t1)", "out = _t1"]
    # never an argument or a scalar the kernel did not make as an array
    assert in_place(["_t1 = x @ y", "_t2 = xp.exp(_t1)"], {"_t1": (), "_t2": ()}) == [
        "_t1 = x @ y", "_t2 = xp.exp(_t1)"]


@pytest.mark.parametrize("case", LAYERS + CRITERIA, ids=[c[0] for c in LAYERS + CRITERIA])
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_derivation_latex_compiles(case, tmp_path):
    text, shapes, kwargs, _ = case
    (tmp_path / "layer.tex").write_text(document(derive.layer(text, shapes, batch=2, **kwargs)))
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "layer.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def test_derivations_are_proved_and_size_free():
    small = derive.layer("y = tanh(W @ x + b)", {"x": (2,), "W": (3, 2)})
    large = derive.layer("y = tanh(W @ x + b)", {"x": (100000,), "W": (100000, 100000)})
    assert [s.title for s in small.sections] == [s.title for s in large.sections]
    assert str(small.results["dJ/dx"].expr) == str(large.results["dJ/dx"].expr)
    softmax = derive.layer("y = exp(x) / sum(exp(x))", {"x": (3,)})
    gradient = softmax.results["dJ/dx"].expr  # s (.) (g - 1 (g (.) s)): read from the output, as Torch does
    assert not gradient.has(sp.exp) and sp.MatrixSymbol("y", *gradient.shape) in gradient.free_symbols


def test_matrix_forms_are_the_backprop_forms():
    linear = derive.layer("y = W @ x + b", {"x": (2,), "W": (3, 2)}, batch=4)
    forms = {name: str(result.expr) for name, result in linear.results.items()}
    assert forms["dJ/dx"] == "W.T*g" and forms["dJ/dW"] == "g*x.T" and forms["dJ/db"] == "g"
    assert forms["dJ/dX (batch)"] == "G*W" and forms["dJ/dW (batch)"] == "G.T*X"
    assert forms["dJ/db (batch)"] == "G.T*1"


BAD = [
    ("y = __import__('os')", {}, "names may not start"),
    ("y = x.shape", {"x": (3,)}, ".shape is not allowed"),
    ("y = W @ x", {"x": (4,), "W": (2, 3)}, "shapes do not fit"),
    ("y = foo(x)", {"x": (3,)}, "unknown function 'foo'"),
    ("y = x[0](1)", {"x": (3,)}, "only calls of named functions"),
    ("y = lambda: 1", {}, "lambda"),
    ("y = 'a'", {}, "only numbers"),
    ("y = x +", {"x": (3,)}, "syntax error"),
    ("y[i] = x[k]", {"x": (3,)}, "index"),
    ("y = W @ x", {"x": (3,)}, "neither given nor inferable"),
    ("y = x" + " + x" * 2000, {"x": (3,)}, "at most"),
    ("y = exp(z)", {"x": (3,)}, "does not appear"),
    ("y[i] = sum(W[i,k] * x[k])", {"x": (3,), "W": (2, 3)}, "names the indices"),
]


@pytest.mark.parametrize("text,shapes,message", BAD, ids=[b[0][:30] for b in BAD])
def test_bad_input_is_one_line_value_error(text, shapes, message):
    with pytest.raises(ValueError) as error:
        derive.layer(text, shapes)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("args", [
    ["y = W @ x", "--shape", "x=4", "--shape", "W=2,3"],
    ["y = __import__('os').system('true')"],
    ["y = x", "--shape", "x=0"],
    ["y = x", "--shape", "x"],
])
def test_cli_bad_input_exit_2_one_line(args, tmp_path):
    out = tmp_path / "never.py"
    done = subprocess.run([sys.executable, "-m", "derive.cli", "layer", *args, "--module", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()


def test_cli_writes_a_module_that_runs(tmp_path):
    out = tmp_path / "gated.py"
    done = subprocess.run([sys.executable, "-m", "derive.cli", "layer", "y = (W @ x) * sigmoid(V @ x)",
                           "--shape", "x=3", "--shape", "W=2,3", "--shape", "V=2,3", "--module", str(out),
                           "--name", "Gated"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    Gated = load(out.read_text(), tmp_path, "Gated")
    assert Gated().forward(np.ones(3)).shape == (2,)
    done = subprocess.run([sys.executable, "-m", "derive.cli", "layer", "y = tanh(W @ x + b)",
                           "--shape", "x=3", "--shape", "W=2,3", "--batch", "4"], capture_output=True, text=True)
    assert done.returncode == 0 and "Batch" in done.stdout and "tanh" in done.stdout


def test_your_own_layer_page_checks_its_three_layers():
    from derive.site import USER_LAYERS, layer_checks
    from derive.site.layer import layer_page

    assert [layer.expr.split("=")[1].strip()[:5] for layer in USER_LAYERS] == ["(W @ ", "softp", "sum(W"]
    for layer in USER_LAYERS:
        report = layer_checks(layer)
        assert report.passed and report.batch == 4, str(report)
        assert any(result.name.startswith("Jacobians") for result in report.checks)
    page = layer_page()
    assert page.count("### The generated module") == 3 and "**no**" not in page

"""Extrema, conditions, ranges and constants in the layer language: each derivative is its
definition's, the subgradient at each kink is PyTorch's, and bad input is one line."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import derive
from derive.cli import main
from derive.latex import markdown
from derive.symbolic.functions import Maximum, clamp, kinks, maximum, minimum, step, where
from derive.symbolic.language import LayerSyntaxError, parse

from test_layer_engine import load

torch = pytest.importorskip("torch")

z, a, b = sp.symbols("z a b", real=True)


@pytest.mark.parametrize("function,args", [
    (maximum, (a, b)), (maximum, (b, a)), (minimum, (a, b)), (clamp, (z, -1, 2)),
    (where, (sp.StrictGreaterThan(z, 0), z ** 2, sp.exp(z))),
])
def test_each_derivative_is_its_definitions_away_from_kinks(function, args):
    e = function(*args)
    definition = function.definition(*args)
    rng = np.random.default_rng(0)
    for _ in range(20):
        point = {s: sp.Float(rng.uniform(-3, 3)) for s in (z, a, b)}
        for v in e.free_symbols & {z, a, b}:
            mine = sp.diff(e, v).xreplace(point).replace(lambda f: isinstance(f, step),
                                                         lambda f: step.definition(f.args[0]))
            theirs = sp.diff(definition, v).xreplace(point)
            assert float(mine) == pytest.approx(float(sp.piecewise_fold(theirs).doit()), abs=1e-12)


def test_a_max_over_indices_is_differentiated_at_its_first_largest_entry():
    i, j, k, l = sp.symbols("i j k l", integer=True, positive=True)
    x = sp.IndexedBase("x", real=True)
    m = Maximum(x[i, j], (j, 1, 4))
    d = sp.diff(m, x[k, l])
    # sum_j [j = argmax] dx_ij/dx_kl: the derivative at the chosen entry, nothing else
    assert isinstance(d, sp.Sum) and d.limits == ((j, 1, 4),)
    assert d.function.has(sp.KroneckerDelta(i, k)) and d.function.has(sp.KroneckerDelta(j, l))
    # a substitution of an outer j does not reach the max's own j
    assert m.xreplace({j: k}) == m and m.xreplace({i: k}) == Maximum(x[k, j], (j, 1, 4))


def _grad(text, shapes, x, g=None, **kwargs):
    layer = load(derive.module_source(text, shapes, **kwargs), _grad.tmp)(rng=0)
    y = layer.forward(x)
    return y, layer.backward(x, np.ones_like(y) if g is None else g), layer


@pytest.fixture(autouse=True)
def _tmp(tmp_path):
    _grad.tmp = tmp_path


def test_ties_and_bounds_take_pytorchs_subgradients():
    # max over a dimension: all of the gradient to the first largest entry (torch.max(x, dim))
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    xt = torch.tensor(x, requires_grad=True)
    torch.max(xt, 1)[0].sum().backward()
    _, grad, _ = _grad("y[i] = max(x[i,j], j)", {"x": (2, 3)}, x)
    np.testing.assert_array_equal(grad, xt.grad.numpy())
    np.testing.assert_array_equal(grad, [[0, 1, 0], [1, 0, 0]])
    # max pooling: the first in the window's row-major order
    x = np.ones((1, 4, 4))
    xt = torch.tensor(x[None], requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).sum().backward()
    _, grad, _ = _grad("y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (1, 4, 4)}, x,
                       ranges={"p": 2, "q": 2})
    np.testing.assert_array_equal(grad, xt.grad.numpy()[0])
    # clamp (hardtanh): none of the gradient at a bound
    x = np.array([-1.0, -0.5, 0.0, 1.0, 2.0])
    xt = torch.tensor(x, requires_grad=True)
    torch.clamp(xt, -1, 1).sum().backward()
    _, grad, _ = _grad("y = clamp(x, -1, 1)", {"x": (5,)}, x)
    np.testing.assert_array_equal(grad, xt.grad.numpy())
    np.testing.assert_array_equal(grad, [0, 1, 1, 0, 0])
    # max(a, b): half to each where a = b (torch.maximum); relu'(0) = 0 through where
    x = np.array([1.0, 2.0, 3.0])
    layer = load(derive.module_source("y = max(x, w)", {"x": (3,), "w": (3,)}), _grad.tmp)(rng=0)
    layer.w[...] = [1.0, 1.0, 4.0]
    layer.zeroGradParameters()
    grad = layer.backward(x, np.ones(3)) if layer.forward(x) is not None else None
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor([1.0, 1.0, 4.0], requires_grad=True)
    torch.maximum(xt, wt).sum().backward()
    np.testing.assert_array_equal(grad, xt.grad.numpy())
    np.testing.assert_array_equal(layer.gradw, wt.grad.numpy())
    np.testing.assert_array_equal(grad, [0.5, 1, 0])
    _, grad, _ = _grad("y = where(x > 0, x, 0)", {"x": (3,)}, np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(grad, [0, 0, 1])


def test_each_page_states_its_kinks():
    assert kinks(parse("y = clamp(x, 0, 6)", {"x": (3,)}).expr) == [
        "clamp passes the gradient strictly inside its bounds, none at a bound (torch.clamp, HardTanh)"]
    assert any("first in index order" in k for k in kinks(parse("y[i] = max(x[i,j], j)", {"x": (2, 3)}).expr))
    chain_rule = [s for s in derive.layer("y = max(x, 0)", {"x": (3,)}).sections if s.title == "Chain rule"]
    assert "At a kink: where $a = b$, $\\max(a, b)$ passes half of the gradient to each" in chain_rule[0].text
    assert kinks(parse("y = tanh(x)", {"x": (3,)}).expr) == []


def test_pooling_backward_is_a_scatter_not_a_dense_mask():
    source = derive.module_source("y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (16, 32, 32)},
                                  ranges={"p": 2, "q": 2})
    backward = source[source.index("def update_grad_input_batch"):source.index("class Layer")]
    # g times the argmax's one-hot over the window, added back by fold()'s strided slices
    assert "fold(" in backward and ".argmax(axis=-1)" in backward
    assert "for " not in backward.replace('"""', "").split("xp = ")[1]  # no Python loop over elements


def test_padded_convolution_gradient_gathers_windows_of_g_not_of_w():
    source = derive.module_source("y[o,h,w] = sum(W[o,c,p,q] * x[c,h+p-2,w+q-2], c, p, q) + b[o]",
                                  {"x": (4, 16, 16), "W": (4, 4, 3, 3), "y": (4, 16, 16)})
    grad_input = source[source.index("def update_grad_input_batch"):source.index("def acc_grad_parameters_batch")]
    assert "window(G," in grad_input and "window(W," not in grad_input
    assert "contract(" in grad_input  # the contraction over (o, p, q) is one BLAS call


def test_a_read_outside_an_array_is_zero_and_shown_as_a_guard():
    spec = parse("y[i] = x[i] + x[i+1]", {"x": (4,)})
    assert spec.expr == where(sp.LessThan(spec.indices[0] + 1, list(spec.sizes)[0]),
                              sp.IndexedBase("x", real=True)[spec.indices[0] + 1], 0) + \
        sp.IndexedBase("x", real=True)[spec.indices[0]]
    y, grad, _ = _grad("y[i] = x[i] + x[i+1]", {"x": (4,)}, np.arange(4.0))
    np.testing.assert_array_equal(y, [1, 3, 5, 3])
    np.testing.assert_array_equal(grad, [1, 2, 2, 2])
    page = markdown(derive.layer("y[i] = x[i+1]", {"x": (4,), "y": (4,)}))
    assert r"y_{i}" + "\n" + r"&= x_{1 + i} \left[1 + i \leq 4\right]" in page  # the guard, an Iverson bracket
    assert "x_{4} \\\\\n0 \\\\" in page  # y_4 reads past the end: 0


def test_ranges_and_strides_of_window_indices():
    spec = parse("y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"x": (3, 7, 7)}, ranges={"p": 3, "q": 3})
    assert spec.concrete(spec.output.shape) == (3, 3, 3)  # as torch's max_pool2d(x, 3, 2)
    spec = parse("y[t,c] = max(x[2*t+k-2, c], k)", {"x": (9, 2)}, ranges={"k": 2})
    assert spec.concrete(spec.output.shape) == (4, 2)


@pytest.mark.parametrize("text,shapes,kwargs,message", [
    ("y = (x > 0) * x", {"x": (3,)}, {}, "a comparison is a condition, not a number: use it as the first "
                                         "argument of where(condition, a, b)"),
    ("y = where(0 < x < 1, x, 0)", {"x": (3,)}, {}, "compare two values at a time (a < b), not a chain"),
    ("y = where(x, x, 0)", {"x": (3,)}, {}, "where(condition, a, b) takes a comparison (x > 0) and two values"),
    ("y = clamp(x, lo, 1)", {"x": (3,)}, {}, "clamp's lower bound must be a number"),
    ("y = clamp(x, 1, -1)", {"x": (3,)}, {}, "clamp's bounds must have lo < hi, got 1 and -1"),
    ("y = max(x, x, x)", {"x": (3,)}, {}, "max(a, b) takes two operands element-wise"),
    ("y[i] = max(x[i])", {"x": (3,)}, {}, "max(e, k, ...) names the indices it runs over in index notation"),
    ("y[i] = max(x[i,j], i)", {"x": (3, 2)}, {}, "i is the output's index: max cannot run over it"),
    ("y[i] = max(x[i+p], p)", {"x": (3,)}, {}, "index i has no range: use it as a plain index of an array "
                                              "whose shape is given, or give it with --range i=N"),
    ("y[i] = x[i]", {"x": (3,)}, {"ranges": {"q": 2}}, "--range names q, which is not an index of the layer"),
    ("y = x", {"x": (3,)}, {"ranges": {"q": 2}}, "--range q is for an index of index notation"),
    ("y[i] = x[i]", {"x": (3,)}, {"ranges": {"q": 0}}, "the range of q must be a positive int, got 0"),
    ("J = sum(x * w)", {"x": (3,)}, {"constants": ("v",)}, "--constant v names an array the layer does not use"),
    ("J = sum(x * w)", {"x": (3,)}, {"constants": ("x",)}, "x is the input, not a constant"),
    ("y[i] = x[i // 2.5]", {"x": (3,)}, {}, "the divisor of // must be a positive integer, got 2.5"),
    ("y[n,d] = W[x[n], d] * x[n]", {"x": (4,), "W": (10, 3)}, {},
     "x is used inside a subscript, so it holds integers, and has no gradient: it cannot also be used as a number"),
    ("y[i] = x[i] * v[k[i]]", {"x": (3,), "v": (5,)}, {},
     "k is used inside a subscript, so it holds integers, which are given, never learned: make it the input, "
     "the target or a --constant"),
    ("J = t[x]", {"t": (5,)}, {"target": "t"}, "a criterion's input is differentiated"),
    ("y[n,d] = W[x[n], d]", {"x": (4,)}, {"ranges": {"d": 3}}, "the shape of W is neither given nor inferable"),
])
def test_bad_input_is_one_clear_error(text, shapes, kwargs, message):
    with pytest.raises(ValueError) as error:
        derive.module_source(text, shapes, **kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize("args,message", [
    (["y = (x > 0) * x", "--shape", "x=3"], "a comparison is a condition, not a number"),
    (["y[i] = max(x[i+p], p)", "--shape", "x=3"], "give it with --range i=N"),
    (["y[i] = x[i]", "--shape", "x=3", "--range", "q=2"], "--range names q, which is not an index"),
    (["y[i] = x[i]", "--shape", "x=3", "--range", "q=0"], "expected a positive integer range in 'q=0'"),
    (["y[i] = x[i]", "--shape", "x=3", "--range", "q"], "expected INDEX=N, got 'q'"),
    (["y[i] = x[i+p]", "--shape", "x=3", "--range", "p=2", "--range", "p=1"], "--range p given twice"),
    (["J = sum(x * w)", "--shape", "x=3", "--constant", "v"], "--constant v names an array the layer does not use"),
])
def test_cli_bad_input_is_one_line_and_exit_status_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["layer", *args])
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_cli_range_and_constant(tmp_path, capsys):
    assert main(["layer", "y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", "--shape", "x=1,4,4",
                 "--range", "p=2", "--range", "q=2", "--format", "json"]) == 0
    assert "arg" in capsys.readouterr().out
    path = tmp_path / "bce.py"
    assert main(["layer", "J = -mean(w * (t * log(x) + (1 - t) * log(1 - x)))", "--shape", "x=3",
                 "--target", "t", "--constant", "w", "--module", str(path), "--name", "BCE"]) == 0
    BCE = load(path.read_text(), tmp_path, "BCE")
    x, t, w = np.array([0.2, 0.6, 0.9]), np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, 0.5])
    bce = BCE(w=w)
    expected = torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(t), weight=torch.tensor(w))
    assert bce.forward(x, t) == pytest.approx(expected.item(), rel=1e-12)
    assert not hasattr(bce, "gradw")  # given, never differentiated

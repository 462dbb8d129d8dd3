"""The numpy kernels are compiled from the engine, readable, and never stale."""

import importlib.util
import inspect

import numpy as np
import pytest

from derive.cli import main


def test_compile_check_and_write(tmp_path, capsys):
    """`derive compile -o FILE` writes the generated catalogue there; --check says when a file is stale."""
    from derive.catalogue_codegen import catalogue_source

    target = tmp_path / "catalogue.py"
    assert main(["compile", "-o", str(target)]) == 0
    assert target.read_text() == catalogue_source()
    assert main(["compile", "--check", "-o", str(target)]) == 0
    target.write_text(catalogue_source() + "# edited\n")
    assert main(["compile", "--check", "-o", str(target)]) == 1
    assert "stale" in capsys.readouterr().err


def test_no_kernel_builder_of_a_module_is_left():
    """Every derive.nn module's kernels come from its catalogue entry: the per-module builders
    (derive/codegen.py) and the file they wrote (derive/nn/_kernels.py) are gone."""
    assert importlib.util.find_spec("derive.codegen") is None
    assert importlib.util.find_spec("derive.nn._kernels") is None


def test_linear_kernels_come_from_its_catalogue_entry_through_the_one_lowering():
    """Linear has no kernel builder of its own: its class is generated from its entry ("y = W @ x
    + b", bias or not), and its kernels compute the matrix forms into the buffers they are given
    and add scale times the gradients in place."""
    from derive import nn
    from derive.nn import _catalogue

    assert nn.Linear.__module__ == _catalogue.__name__
    rng = np.random.default_rng(0)
    W, b, x, g = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=2), rng.normal(size=3)
    X, G = rng.normal(size=(5, 2)), rng.normal(size=(5, 3))
    (forward, grad_input, acc, backward), (forward_b, grad_input_b, acc_b, backward_b) = nn.Linear.kernels[(True,)]
    out = np.empty(3)
    assert forward(x, W, b, out) is out
    np.testing.assert_allclose(out, W @ x + b)
    out = np.empty((5, 3))
    assert forward_b(X, W, b, out) is out
    np.testing.assert_allclose(out, X @ W.T + b)
    np.testing.assert_allclose(forward_b(X, W, b), X @ W.T + b)  # no buffer: a new array
    out = np.empty((5, 2))
    assert grad_input_b(X, W, b, None, G, out) is out
    np.testing.assert_allclose(out, G @ W)
    for scale in (1.0, 0.5):
        acc_w, acc_bias = np.ones((3, 2)), np.ones(3)
        assert acc_b(X, W, b, None, G, scale, acc_w, acc_bias) is None
        np.testing.assert_allclose(acc_w, 1 + scale * G.T @ X)
        np.testing.assert_allclose(acc_bias, 1 + scale * G.sum(axis=0))
        acc_w, acc_bias, out = np.ones((3, 2)), np.ones(3), np.empty((5, 2))
        assert backward_b(X, W, b, None, G, scale, acc_w, acc_bias, out) is out
        np.testing.assert_allclose(out, G @ W)
        np.testing.assert_allclose(acc_w, 1 + scale * G.T @ X)
        acc_w, acc_bias = np.ones((3, 2)), np.ones(3)
        acc(x, W, b, None, g, scale, acc_w, acc_bias)
        np.testing.assert_allclose(acc_w, 1 + scale * np.outer(g, x))
        np.testing.assert_allclose(acc_bias, 1 + scale * g)
    forward, _, acc, _ = nn.Linear.kernels[(False,)][0]
    np.testing.assert_allclose(forward(x, W), W @ x)
    acc_w = np.ones((3, 2))
    acc(x, W, None, g, 0.5, acc_w)
    np.testing.assert_allclose(acc_w, 1 + 0.5 * np.outer(g, x))


CLASSIFICATION = ("SoftMax", "LogSoftMax", "ClassNLLCriterion", "CrossEntropyCriterion")


def _generated_kernels(name: str) -> dict[str, str]:
    """The kernels of a generated class's source, by name."""
    import inspect

    from derive import nn

    return {f.__name__: inspect.getsource(f) for sets in getattr(nn, name).kernels.values()
            for half in sets for f in half if f is not None}


def test_classification_comes_from_its_catalogue_entries_through_the_one_lowering():
    """No kernel builder of their own: the classes are generated from their entries, one kernel
    set a value of weights (given or nil) and sizeAverage."""
    from derive import nn
    from derive.nn import _catalogue

    for name in CLASSIFICATION:
        assert getattr(nn, name).__module__ == _catalogue.__name__
    assert set(nn.CrossEntropyCriterion.kernels) == {(w, s) for w in (True, False) for s in (True, False)}


def test_the_stable_shift_is_where_an_exponential_of_the_input_is():
    for name in ("SoftMax", "LogSoftMax", "CrossEntropyCriterion"):
        for kernel, text in _generated_kernels(name).items():
            if "update_output" in kernel:
                assert ".max(axis=" in text and "xp.exp(" in text, kernel
    for kernel, text in _generated_kernels("ClassNLLCriterion").items():  # no exponential, nothing to shift
        assert ".max(" not in text and "exp" not in text, kernel


def test_the_old_hand_written_classification_kernels_are_gone():
    assert importlib.util.find_spec("derive.nn._classification_kernels") is None


def test_generated_classification_kernels_compute_softmax_and_cross_entropy_at_large_logits():
    from derive import nn

    X = np.array([[1000.0, 0.0, -1000.0], [3.0, 1.0, 2.0]])
    e = np.exp(X - X.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(nn.SoftMax().forward(X), softmax)
    logsoftmax = X - X.max(axis=1, keepdims=True) - np.log(e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(nn.LogSoftMax().forward(X), logsoftmax)
    target, weights = np.array([2, 0]), np.array([0.5, 1.0, 1.5])
    ce = nn.CrossEntropyCriterion(weights, sizeAverage=False)
    # exact where the target's probability underflows (exp(-2000) is 0)
    factors = weights[target]
    assert ce.forward(X, target) == pytest.approx(-(factors * logsoftmax[[0, 1], target]).sum(), rel=1e-15)
    onehot = np.eye(3)[target]
    np.testing.assert_allclose(ce.backward(X, target), factors[:, None] * (softmax - onehot))


def test_mse_kernels_come_from_its_catalogue_entry_through_the_one_lowering():
    """MSECriterion has no kernel builder of its own: its class is generated from its entry, one
    kernel set a value of sizeAverage, the batch's mean one division by all B n elements."""
    from derive import nn
    from derive.nn import _catalogue

    assert nn.MSECriterion.__module__ == _catalogue.__name__
    x, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.5, 2.0], [4.0, 1.0]])
    assert nn.MSECriterion().forward(x, t) == ((x - t) ** 2).sum() / 4
    assert nn.MSECriterion(False).forward(x, t) == ((x - t) ** 2).sum()
    np.testing.assert_array_equal(nn.MSECriterion().backward(x, t), 2 * (x - t) / 4)
    np.testing.assert_array_equal(nn.MSECriterion(False).backward(x, t), 2 * (x - t))


def test_batchnorm_kernels_come_from_its_catalogue_entry_over_the_whole_batch():
    """BatchNormalization has no kernel builder of its own: its class is generated from its
    entry's program (the batch its one input, eps a number never differentiated), and the
    kernels' walk back computes the compact form dx = gamma invstd / N (N g - sum g - xhat sum(g xhat))."""
    from derive import nn
    from derive.nn import _catalogue

    assert nn.BatchNormalization.__module__ == _catalogue.__name__
    (forward, grad_input, acc, backward), batch = nn.BatchNormalization.kernels[(True,)]
    assert batch is None  # no extra batch axis: the statistics run over the input's first
    assert "grad_eps" not in inspect.signature(acc).parameters
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(5, 3)) * 2 + 1, rng.normal(size=(5, 3))
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    values = forward(x, 1e-5, gamma, beta)
    names = nn.BatchNormalization.valueNames
    invstd = 1 / np.sqrt(x.var(axis=0) + 1e-5)
    xhat = (x - x.mean(axis=0)) * invstd
    np.testing.assert_allclose(values[names.index("y")], gamma * xhat + beta)
    np.testing.assert_allclose(values[names.index("invstd")], invstd)
    compact = gamma * invstd / 5 * (5 * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0))
    np.testing.assert_allclose(grad_input(x, 1e-5, gamma, beta, *values, g), compact)
    for scale in (1.0, 0.5):
        grad_gamma, grad_beta = np.ones(3), np.ones(3)
        np.testing.assert_allclose(backward(x, 1e-5, gamma, beta, *values, g, scale, grad_gamma, grad_beta), compact)
        np.testing.assert_allclose(grad_gamma, 1 + scale * (g * xhat).sum(axis=0))
        np.testing.assert_allclose(grad_beta, 1 + scale * g.sum(axis=0))
    (forward, grad_input, acc, backward), _ = nn.BatchNormalization.kernels[(False,)]
    assert acc is None and backward is None  # affine=false: no parameters
    np.testing.assert_allclose(forward(x, 1e-5)[names.index("y")], xhat)

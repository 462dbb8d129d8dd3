"""The strided kernels generated layers call (derive.nn.functional): window reads an affine
subscript as a view, fold is its adjoint (col2im), contract is tensordot laid out for BLAS,
extreme a max over a window; and the generated convolutions and poolings built on them agree
with PyTorch at sizes a dense mask could not hold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import derive
from derive.nn.functional import Patches, _gathered, _stacked, contract, extreme, fold, window

from test_layer_engine import load

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _reads(size, shape, starts, steps):
    """(window entry, array entry or None outside) for every entry, written out one by one."""
    for i in itertools.product(*map(range, shape)):
        at = tuple(s + sum(c * i[k] for k, c in step.items()) for s, step in zip(starts, steps))
        yield i, at if all(0 <= j < n for j, n in zip(at, size)) else None


# (array size, window shape, starts, steps): padding, strides, a transposed read, a diagonal,
# an axis no subscript reads, a constant subscript.
CASES = [
    ((4, 7, 7), (4, 7, 3, 7, 3), (0, -1, -1), ({0: 1}, {1: 1, 2: 1}, {3: 1, 4: 1})),
    ((4, 7, 7), (4, 3, 2, 3, 2), (0, 0, 0), ({0: 1}, {1: 2, 2: 1}, {3: 2, 4: 1})),
    ((4, 7, 7), (4, 7, 3, 7, 3), (0, 1, 1), ({0: 1}, {1: 1, 2: -1}, {3: 1, 4: -1})),
    ((5,), (5,), (1,), ({0: 1},)),
    ((5, 5), (5,), (0, 0), ({0: 1}, {0: 1})),
    ((3, 6), (3, 4, 3, 2), (0, -2), ({0: 1}, {1: 2, 2: -1, 3: 3})),
    ((3, 6), (2, 3, 4), (1, -2), ({}, {1: 2, 2: -1})),
]


@pytest.mark.parametrize("size,shape,starts,steps", CASES)
def test_window_reads_each_entry_and_zero_outside(size, shape, starts, steps):
    array = np.random.default_rng(0).standard_normal(size)
    expected = np.zeros(shape)
    for i, at in _reads(size, shape, starts, steps):
        expected[i] = 0 if at is None else array[at]
    np.testing.assert_array_equal(window(array, shape, starts, steps), expected)
    np.testing.assert_array_equal(_gathered(np, array, shape, starts, steps), expected)


@pytest.mark.parametrize("size,shape,starts,steps", CASES)
def test_fold_adds_each_entry_where_window_read_it(size, shape, starts, steps):
    values = np.random.default_rng(1).standard_normal(shape)
    expected = np.zeros(size)
    for i, at in _reads(size, shape, starts, steps):
        if at is not None:
            expected[at] += values[i]
    np.testing.assert_allclose(fold(values, size, starts, steps), expected, rtol=1e-13, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fold_is_the_adjoint_of_window(data):
    rank = data.draw(st.integers(1, 3))
    size = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(data.draw(st.integers(1, 4))))
    starts = tuple(data.draw(st.integers(-3, 3)) for _ in range(rank))
    steps = tuple({k: c for k in range(len(shape)) if (c := data.draw(st.integers(-2, 2)))}
                  for _ in range(rank))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x, v = rng.standard_normal(size), rng.standard_normal(shape)
    # <window(x), v> = <x, fold(v)>: fold adds each value where window read it
    assert np.vdot(window(x, shape, starts, steps), v) == pytest.approx(np.vdot(x, fold(v, size, starts, steps)),
                                                                          abs=1e-10)


def test_window_is_a_read_only_view_without_a_gather():
    x = np.arange(12.0).reshape(3, 4)
    patches = window(x, (3, 2, 3), (0, 0), ({0: 1}, {1: 1, 2: 1}))
    assert np.shares_memory(patches, x) and not patches.flags.writeable


@pytest.mark.parametrize("a_shape,b_shape,axes", [
    ((3, 4, 5), (5, 4, 2), ((1, 2), (1, 0))), ((6,), (6,), ((0,), (0,))), ((2, 3), (3,), ((1,), (0,))),
    ((1, 3, 4), (4, 1, 3), ((1, 2), (2, 0))), ((5, 2, 3, 3), (4, 2, 6, 3, 6, 3), ((1, 2, 3), (1, 3, 5))),
    # large enough to run piece by piece along the samples: kept, and summed over
    ((96, 4, 64, 64), (4, 5), ((1,), (0,))), ((96, 4, 64, 64), (96, 64, 7), ((0, 2), (0, 1))),
])
def test_contract_is_tensordot(a_shape, b_shape, axes):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    np.testing.assert_allclose(contract(a, b, axes), np.tensordot(a, b, axes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(contract(b, a, axes[::-1]), np.tensordot(b, a, axes[::-1]), rtol=1e-12, atol=1e-12)


# a batch's patches as Patches lays them out, (samples, planes, kernel offsets, output positions):
# no one matrix without a copy, a stack of matrices (one a sample)
X = np.random.default_rng(5).standard_normal((4, 3, 9, 8))
CONV = ((4, 3, 9, 3, 8, 2), (0, 0, -1, 0), ({0: 1}, {1: 1}, {2: 1, 3: 1}, {4: 1, 5: 1}))  # (B, C, H, P, W, Q)
GRAD = ((4, 3, 3, 9, 2, 8), (0, 0, -1, 0), ({0: 1}, {1: 1}, {2: 1, 3: 1}, {4: 1, 5: 1}))  # (B, C, P, H, Q, W)


@pytest.mark.parametrize("window_axes,other_shape,axes", [
    (CONV, (5, 3, 3, 2), ((1, 3, 5), (1, 2, 3))),  # forward: the weight over planes and offsets
    (GRAD, (4, 5, 9, 8), ((0, 3, 5), (0, 2, 3))),  # gradWeight: gradOutput over samples and positions
    (GRAD, (4, 50, 9, 8), ((0, 3, 5), (0, 2, 3))),  # the same with gradOutput the larger operand
])
def test_contract_runs_patches_as_a_stack_of_matrices(window_axes, other_shape, axes):
    patches = Patches().window(X, *window_axes)
    other = np.random.default_rng(6).standard_normal(other_shape)
    expected = np.tensordot(window(X, *window_axes), other, axes)
    assert _stacked(patches, other, list(axes[0]), list(axes[1]),
                    [k for k in range(6) if k not in axes[0]], [k for k in range(4) if k not in axes[1]]) is not None
    np.testing.assert_allclose(contract(patches, other, axes), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(contract(other, patches, axes[::-1]), np.tensordot(other, patches, axes[::-1]),
                               rtol=1e-12, atol=1e-12)


def test_patches_copy_a_window_once_for_the_same_array_and_anew_for_another():
    keeper, x = Patches(), X.copy()
    forward = keeper.window(x, *CONV)
    np.testing.assert_array_equal(forward, window(X, *CONV))
    assert forward.flags.writeable and not np.shares_memory(forward, x)
    x[0, 0, 0, 0] = 100.0  # changed in place: the kept copy still holds the entries it copied
    backward = keeper.window(x, *GRAD)  # the same entries in another order: the same copy
    assert np.shares_memory(backward, forward)
    np.testing.assert_array_equal(backward, window(X, *GRAD))
    other = X + 1
    np.testing.assert_array_equal(keeper.window(other, *GRAD), window(other, *GRAD))  # another array: copied
    keeper.forget()  # (a module's forward)
    np.testing.assert_array_equal(keeper.window(x, *CONV), window(x, *CONV))


@pytest.mark.parametrize("axis", [(1,), (1, 3), (0, 1, 2, 3)])
@pytest.mark.parametrize("kind", ["max", "min"])
def test_extreme_is_the_reduction(axis, kind):
    array = np.random.default_rng(3).standard_normal((3, 2, 4, 2))
    array[0, 0, 0, 0] = np.nan  # propagated, as numpy's reduction does
    np.testing.assert_array_equal(extreme(array, axis, kind), getattr(array, kind)(axis=axis))


def test_a_shifted_read_returns_an_array_of_its_own(tmp_path):
    layer = load(derive.module_source("y[i] = x[i+1]", {"x": (5,), "y": (5,)}), tmp_path)()
    x = np.arange(5.0)
    y = layer.forward(x)
    x[...] = 7
    np.testing.assert_array_equal(y, [1, 2, 3, 4, 0])
    y += 1  # writable


@pytest.mark.parametrize("text,shapes,torch_step", [
    ("y[o,h,w] = sum(W[o,c,p,q] * x[c,2*h+p-3,2*w+q-3], c, p, q) + b[o]",
     {"x": (6, 20, 20), "W": (5, 6, 3, 3), "y": (5, 10, 10)},
     lambda x, W, b: F.conv2d(x, W, b, stride=2, padding=1)),
    ("y[o,h,w] = sum(W[o,c,p,q] * x[c,h+2*p-3,w+2*q-3], c, p, q) + b[o]",
     {"x": (6, 20, 20), "W": (5, 6, 3, 3), "y": (5, 18, 18)},
     lambda x, W, b: F.conv2d(x, W, b, padding=1, dilation=2)),
    ("y[o,h,w] = sum(W[c,o,p,q] * x[c,h-p+1,w-q+1], c, p, q) + b[o]",
     {"x": (6, 12, 12), "W": (6, 5, 3, 3), "y": (5, 14, 14)},
     lambda x, W, b: F.conv_transpose2d(x, W, b)),
])
def test_convolutions_agree_with_pytorch_on_a_batch(text, shapes, torch_step, tmp_path):
    layer = load(derive.module_source(text, shapes), tmp_path)(rng=0)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8,) + shapes["x"])
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)
    layer.zeroGradParameters()
    grad_input = layer.backward(x, g)
    xt = torch.tensor(x, requires_grad=True)
    Wt, bt = torch.tensor(layer.W, requires_grad=True), torch.tensor(layer.b, requires_grad=True)
    yt = torch_step(xt, Wt, bt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_input, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.gradW, Wt.grad.numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(layer.gradb, bt.grad.numpy(), rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("text,ranges,torch_step", [
    ("y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"p": 2, "q": 2}, lambda x: F.max_pool2d(x, 2)),
    ("y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)", {"p": 3, "q": 3}, lambda x: F.max_pool2d(x, 3, 2)),
    ("y[c,i,j] = sum(x[c, 2*i+p-2, 2*j+q-2], p, q) / 9", {"p": 3, "q": 3}, lambda x: F.avg_pool2d(x, 3, 2)),
])
def test_poolings_agree_with_pytorch_on_a_batch(text, ranges, torch_step, tmp_path):
    size = 16 if ranges["p"] == 2 else 17
    layer = load(derive.module_source(text, {"x": (4, size, size)}, ranges=ranges), tmp_path)()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4, size, size))
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_step(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(x, g), xt.grad.numpy(), rtol=1e-12, atol=1e-12)

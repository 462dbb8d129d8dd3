"""Generated modules keep Torch7's buffers: output and gradInput are written in place call after
call (the lowering's ``out=``), a steady-state backward allocates one array of gradWeight's size
at most (scale included), and a buffer fed back as an input still gives the right numbers."""

import tracemalloc

import numpy as np
import pytest

from derive import nn
from derive.lowering import into_buffer, scaled_in_place


def peak_bytes(step) -> int:
    """The peak bytes ``step()`` allocates beyond what was live before it."""
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - before


@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("bias", [True, False])
def test_a_steady_state_step_of_linear_allocates_one_gradWeight_at_most(bias, scale):
    rng = np.random.default_rng(0)
    layer = nn.Linear(64, 256, bias=bias, rng=0)
    X, G = rng.standard_normal((128, 64)), rng.standard_normal((128, 256))
    output = layer.forward(X)
    gradInput = layer.backward(X, G, scale)
    # into the output buffer: no array of its size (adding the bias in place, numpy iterates
    # through a buffer of at most 8192 elements, a quarter of this output)
    assert peak_bytes(lambda: layer.forward(X)) < output.nbytes / 2
    assert peak_bytes(lambda: layer.backward(X, G, scale)) <= layer.gradWeight.nbytes + 4096
    assert layer.forward(X) is output and layer.backward(X, G, scale) is gradInput


def test_buffers_of_the_last_call_are_reused_and_refitted_to_a_new_shape():
    layer = nn.Linear(3, 2, rng=1)
    x = np.array([1.0, -2.0, 0.5])
    y = layer.forward(x)
    np.testing.assert_allclose(layer.forward(2 * x), layer.weight @ (2 * x) + layer.bias)
    assert layer.forward(2 * x) is y
    Y = layer.forward(np.ones((4, 3)))
    assert Y.shape == (4, 2) and Y is not y
    np.testing.assert_allclose(Y, np.ones((4, 3)) @ layer.weight.T + layer.bias)


def test_a_buffer_fed_back_as_the_input_gives_the_right_numbers():
    layer = nn.Linear(3, 3, rng=2)
    x = np.array([0.5, -1.0, 2.0])
    y = layer.forward(x).copy()
    np.testing.assert_allclose(layer.forward(layer.output), layer.weight @ y + layer.bias)
    tanh = nn.Tanh()
    tanh.forward(x)
    np.testing.assert_allclose(tanh.forward(tanh.output), np.tanh(np.tanh(x)))
    np.testing.assert_allclose(tanh.forward(tanh.output[:2]), np.tanh(np.tanh(np.tanh(x)))[:2])
    g = np.array([1.0, 2.0, 3.0])
    first = layer.backward(x, g).copy()
    np.testing.assert_allclose(layer.backward(x, layer.gradInput), layer.weight.T @ first)


def test_a_parameter_assigned_with_another_dtype_gets_buffers_of_the_new_result():
    layer = nn.Linear(2, 3, rng=0).float()
    x = np.array([1.0, 2.0], np.float32)
    assert layer.forward(x).dtype == np.float32
    layer.weight = layer.weight.astype(np.float64)  # checked, and the next call refits the buffer
    y = layer.forward(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, layer.weight @ x + layer.bias, rtol=1e-6)


def test_every_generated_module_checks_its_parameters_when_assigned():
    layer = nn.CMul(4)
    with pytest.raises(ValueError, match=r"^CMul: weight must have shape \(4,\), got \(3,\)$"):
        layer.weight = np.zeros(3)
    with pytest.raises(TypeError, match=r"^CMul: gradWeight must be a numpy array, got list$"):
        layer.gradWeight = [0.0] * 4
    layer.weight = np.full(4, 2.0)
    np.testing.assert_array_equal(layer.forward(np.arange(4.0)), 2 * np.arange(4.0))


def test_noBias_on_a_generated_table_computes_as_one_built_without_bias():
    with_bias, without = nn.Bilinear(2, 3, 2, rng=0), nn.Bilinear(2, 3, 2, bias=False, rng=0)
    without.weight[...] = with_bias.weight
    x1, x2 = np.array([1.0, 2.0]), np.array([0.5, -1.0, 3.0])
    assert with_bias.noBias() is with_bias and with_bias.bias is None
    np.testing.assert_allclose(with_bias.forward([x1, x2]), without.forward([x1, x2]))
    with pytest.raises(TypeError, match="CMul has no bias to drop"):
        nn.CMul(3).noBias()


def test_the_lowering_writes_a_result_into_the_callers_buffer_where_one_statement_makes_it():
    axes = {"_t1": ("s", "i"), "_t2": ("i", "j")}
    lines = ["_t1 = X @ W.T", "_t1 += b", "output = _t1", "return output"]
    assert into_buffer(lines, "output", axes) == ["_t1 = xp.matmul(X, W.T, out=out)", "_t1 += b",
                                                  "output = _t1", "return output"]
    assert into_buffer(["_t1 = xp.tanh(x)", "output = _t1"], "output", axes)[0] == "_t1 = xp.tanh(x, out=out)"
    # an operand may be a broadcast view (LogSoftMax's X minus each row's log-sum-exp)
    assert into_buffer(["_t1 = X - _t5[:, None]", "output = _t1"], "output", axes)[0] == \
        "_t1 = xp.subtract(X, _t5[:, None], out=out)"
    # the last of several operations (the first makes its own temporary)
    assert into_buffer(["_t1 = (X - c) * x", "output = _t1"], "output", axes)[0] == \
        "_t1 = xp.multiply((X - c), x, out=out)"
    # a view, a sum, an argument returned as it is: left as they are
    for made in ("_t1 = window(x, (2,), (0,), ({0: 1},))", "_t1 = X.sum(axis=0)"):
        assert into_buffer([made, "output = _t1"], "output", axes)[0] == made
    assert into_buffer(["output = g"], "output", axes) == ["output = g"]


def test_a_gradient_is_scaled_in_the_temporary_it_is_added_from_only_where_nothing_else_reads_it():
    axes = {"_t1": ("i", "j"), "_t2": ("i", "j")}
    lines = ["_t2 = G.T @ X", "grad_W += _t2 if scale == 1 else scale * _t2"]
    assert scaled_in_place(lines, axes)[1] == "grad_W += _t2 if scale == 1 else xp.multiply(_t2, scale, out=_t2)"
    # freed before what follows makes its own temporaries
    assert scaled_in_place(lines + ["_t3 = G.sum(axis=0)"], axes)[2].startswith("del _t2")
    for kept in (lines + ["grad_b += _t2.sum(axis=0)"],  # read afterwards
                 ["_t2 = G.T @ X", "grad_input = _t2", lines[1]],  # returned as gradInput too
                 ["grad_W += g if scale == 1 else scale * g"]):  # an argument, not the kernel's own
        assert scaled_in_place(kept, axes) == kept


def test_an_operand_that_is_a_call_still_goes_into_the_buffer():
    # a convolution's output: its bias plus the contraction moved to Torch7's axis order
    lines = ["_t3 = b[:, None, None] + xp.transpose(_t2, (0, 3, 1, 2))", "output = _t3"]
    assert into_buffer(lines, "output", {"_t3": ("s", "o", "h", "w")})[0] == (
        "_t3 = xp.add(b[:, None, None], xp.transpose(_t2, (0, 3, 1, 2)), out=out)")


def test_a_convolution_writes_its_output_into_its_buffer():
    rng = np.random.default_rng(4)
    layer = nn.SpatialConvolution(3, 8, 3, 3, 1, 1, 1, 1)
    X = rng.standard_normal((4, 3, 16, 16))
    output = layer.forward(X)
    assert peak_bytes(lambda: layer.forward(X)) < output.nbytes * 2.5  # patches and the product, no copy
    assert layer.forward(X) is output

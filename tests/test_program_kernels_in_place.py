"""A program's run-time kernels (derive.generate_sizes, the catalogue's program classes) write
element-wise steps into temporaries nothing reads afterwards, never into one a value's name holds,
and compute the output and gradInput into the module's buffer (``out``) when given one."""

from __future__ import annotations

import inspect
import re

import numpy as np

import derive.nn as nn
from derive.generate_sizes import runtime_program_kernels
from derive.nn._backend import namespace

# h's temporary (x + 1) is read again by y's statement (the same code, computed once): writing
# tanh(x + 1) into it would change h, a value the forward returns and the backward reads
PROGRAM = "h[i] = x[i] + 1\ny[i] = tanh(x[i] + 1) * h[i]"


def _kernels(text: str, shapes: dict) -> dict:
    scope = {"np": np, "ndarray": np.ndarray, "namespace": namespace}
    for source in runtime_program_kernels(text, shapes):
        exec(compile(source, "kernels", "exec"), scope)
    return scope


def test_a_value_a_name_holds_is_never_overwritten_and_the_output_goes_into_the_buffer():
    k = _kernels(PROGRAM, {"x": (5,)})
    x = np.linspace(-2, 2, 5)
    for out in (None, np.full(5, np.nan)):
        h, y = k["update_output"](x, out)
        np.testing.assert_allclose(h, x + 1, rtol=1e-15)
        np.testing.assert_allclose(y, np.tanh(x + 1) * (x + 1), rtol=1e-15)
        assert (y is out) if out is not None else not np.shares_memory(y, h)
    g = np.linspace(1, 2, 5)
    expected = g * ((1 - np.tanh(x + 1) ** 2) * (x + 1) + np.tanh(x + 1))
    for out in (None, np.full(5, np.nan)):
        grad = k["grad_input"](x, h, y, g, out)
        np.testing.assert_allclose(grad, expected, rtol=1e-14)
    np.testing.assert_allclose(h, x + 1, rtol=1e-15)  # the backward left the values as they were


def test_batchnormalization_writes_into_its_buffers_and_reads_sum_g_xc_once():
    (forward, grad_input, acc, backward), _ = nn.BatchNormalization.kernels[(True,)]
    assert "out" in inspect.signature(forward).parameters and "out" in inspect.signature(backward).parameters
    # the walk back's sums over the batch: sum(g xc) (for invstd's gradient and gamma's), sum(d_xc), sum(g)
    assert len(re.findall(r"xp\.einsum", inspect.getsource(backward))) == 1
    layer = nn.BatchNormalization(4)
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    y = layer.forward(x)  # the first call makes the buffer
    again = layer.forward(x + 1)
    assert again is y and layer._values[layer.valueNames.index("y")] is y  # computed there, not copied
    np.testing.assert_allclose(again, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) * layer.weight + layer.bias,
                               rtol=1e-12, atol=1e-12)
    gradInput = layer.backward(x + 1, g)
    assert layer.backward(x + 1, g) is gradInput
    buffer = np.full_like(x, np.nan)
    grads = [np.zeros(4), np.zeros(4)]
    made = backward(x + 1, 1e-5, layer.weight, layer.bias, *layer._values, g, 1.0, *grads, buffer)
    assert made is buffer
    np.testing.assert_allclose(made, gradInput, rtol=1e-14)
    # an input that is the output buffer itself: the kernel makes a new array, nothing is read half-written
    before = layer.output.copy()
    expected = (before - before.mean(0)) / np.sqrt(before.var(0) + 1e-5) * layer.weight + layer.bias
    np.testing.assert_allclose(layer.forward(layer.output), expected, rtol=1e-12, atol=1e-12)

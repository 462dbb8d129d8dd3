"""derive.nn.jacobian: the gradient check itself catches a wrong backward."""

import numpy as np
import pytest

from derive.nn import Linear
from derive.nn.jacobian import backward_jacobians, jacobian_errors, numeric_jacobian
from derive.nn.module import Module


class Square(Module):
    """y = x^2 with a deliberately wrong backward (x instead of 2x) unless told otherwise."""

    def __init__(self, right: bool) -> None:
        super().__init__()
        self.factor = 2.0 if right else 1.0

    def updateOutput(self, input):
        self.output = input**2
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = self.factor * input * gradOutput
        return self.gradInput


def test_a_wrong_backward_is_caught_and_a_right_one_passes():
    x = np.array([0.5, -1.5, 2.0])
    assert jacobian_errors(Square(right=True), x)[0] < 1e-8
    assert jacobian_errors(Square(right=False), x)[0] > 0.4


def test_linear_jacobians_are_its_closed_forms():
    layer = Linear(3, 2, rng=0)
    x = np.array([1.0, -2.0, 0.5])
    d_input, d_weight, d_bias = backward_jacobians(layer, x)
    np.testing.assert_allclose(d_input, layer.weight)  # dy/dx = W, numerator layout
    np.testing.assert_allclose(d_bias, np.eye(2))
    # dy_i/dw_jk = delta_ij x_k, with W flattened row by row.
    np.testing.assert_allclose(d_weight, np.kron(np.eye(2), x))
    assert max(jacobian_errors(layer, x)) < 1e-8


def test_perturbed_arrays_are_restored():
    layer = Linear(2, 2, rng=1)
    x = np.array([0.3, 0.7])
    before = layer.weight.copy(), x.copy()
    numeric_jacobian(layer, x, layer.weight)
    numeric_jacobian(layer, x, x)
    np.testing.assert_array_equal(layer.weight, before[0])
    np.testing.assert_array_equal(x, before[1])


def test_a_copy_cannot_be_perturbed():
    layer = Linear(2, 2, rng=1)
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="contiguous"):
        numeric_jacobian(layer, x, x.T)

"""Sigmoid, Tanh, ReLU: activations applied element by element (Torch7's nn/Sigmoid.lua, Tanh.lua, ReLU.lua).

They have no parameters (``parameters()`` returns None) and take input of any
shape, one sample (n,) or a batch (batch, n) alike; gradOutput must have the
output's shape exactly. The arithmetic lives in the kernels generated into ``_kernels`` by ``derive compile``.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as kernels
from .module import Module, check_array, compute_dtype, resized


class _Elementwise(Module):
    """y = f(x) element by element: fits the ``output`` and ``gradInput`` buffers to the input.

    They take the module's dtype (float64, or float32 after ``float()``: floats of the
    other dtype are a TypeError, as Torch refuses mixed types; integers are read as
    the module's floats), and are allocated once per input shape and dtype and
    reused by every later call, like Torch's resize: copy them to keep them.
    """

    _callCache = ("_inputShape", "_inputDtype")
    # True when updateGradInput reads ``output``: backward must then follow forward of that input.
    _gradFromOutput = True

    def __init__(self) -> None:
        super().__init__()
        self._inputShape = self._inputDtype = None

    def _fit(self, input, gradOutput=None) -> None:
        """Cheap check that input (and gradOutput) match the buffers; else validate and refit them."""
        home = self._arrayClass
        if (input.__class__ is not home or input.shape != self._inputShape or input.dtype is not self._inputDtype
                or gradOutput is not None
                and (gradOutput.__class__ is not home or gradOutput.shape != self._inputShape)):
            self._resize(input, gradOutput)

    def _resize(self, input, gradOutput=None) -> None:
        """Check input (and gradOutput), then fit the output and gradInput buffers to them."""
        name = type(self).__name__
        check_array(name, "input", input, self._arrayClass)
        dtype = compute_dtype(name, "input", input, self)
        if gradOutput is not None:
            check_array(name, "gradOutput", gradOutput, self._arrayClass)
            if self._gradFromOutput and (input.shape != self._inputShape or input.dtype != self._inputDtype):
                raise ValueError(f"{name}: backward reads the output of forward: call forward(input) first "
                                 f"(last forward input: {self._inputShape}, {self._inputDtype}; "
                                 f"got {input.shape}, {input.dtype})")
            if gradOutput.shape != input.shape:
                raise ValueError(f"{name}: gradOutput must have shape {input.shape} (the output's), "
                                 f"got {gradOutput.shape}")
        self.output = resized(self.output, input.shape, dtype)
        self.gradInput = resized(self.gradInput, input.shape, dtype)
        self._inputShape, self._inputDtype = input.shape, input.dtype


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)); the gradient is computed from the output: g * y * (1 - y)."""

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = 1 / (1 + exp(-input))"""
        self._fit(input)
        return kernels.sigmoid_update_output(input, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = gradOutput * output * (1 - output)"""
        self._fit(input, gradOutput)
        return kernels.sigmoid_update_grad_input(self.output, gradOutput, self.gradInput)


class Tanh(_Elementwise):
    """y = tanh(x); the gradient is computed from the output: g * (1 - y^2)."""

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = tanh(input)"""
        self._fit(input)
        return kernels.tanh_update_output(input, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = gradOutput * (1 - output^2)"""
        self._fit(input, gradOutput)
        return kernels.tanh_update_grad_input(self.output, gradOutput, self.gradInput)


class ReLU(_Elementwise):
    """y = max(x, 0); the gradient is g where x > 0 and 0 elsewhere, x == 0 included (Torch's threshold)."""

    _gradFromOutput = False  # the gradient reads the input: backward needs no forward first

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = max(input, 0)"""
        self._fit(input)
        return kernels.relu_update_output(input, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = gradOutput * (input > 0)"""
        self._fit(input, gradOutput)
        return kernels.relu_update_grad_input(input, gradOutput, self.gradInput)

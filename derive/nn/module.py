"""Module: the protocol every layer follows (Torch7's nn/Module.lua, on numpy).

A layer computes ``output`` from ``input`` in ``updateOutput``, and ``gradInput``
(dJ/dinput) from ``gradOutput`` (dJ/doutput) in ``updateGradInput``; a layer with
parameters also ADDS scale * dJ/dparameter into its gradient arrays in
``accGradParameters``. ``output`` and ``gradInput`` are buffers the module reuses
on every call: copy them if you need to keep them.
"""

from __future__ import annotations

import numpy as np


class Module:
    """Base class of layers: holds ``output``, ``gradInput`` and the ``train`` flag."""

    # A layer with parameters sets these (weight, gradWeight, bias, gradBias) to arrays.
    weight = gradWeight = bias = gradBias = None

    def __init__(self) -> None:
        self.output = np.zeros(0)
        self.gradInput = np.zeros(0)
        self.train = True

    def forward(self, input: np.ndarray) -> np.ndarray:
        """Compute and return ``output`` for ``input``."""
        return self.updateOutput(input)

    def backward(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """``updateGradInput`` then ``accGradParameters``; return ``gradInput``."""
        self.updateGradInput(input, gradOutput)
        self.accGradParameters(input, gradOutput, scale)
        return self.gradInput

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """Compute ``output`` from ``input``; a layer overrides this."""
        return self.output

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """Compute ``gradInput`` = dJ/dinput from ``gradOutput``; a layer overrides this."""
        return self.gradInput

    def accGradParameters(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> None:
        """Add scale * dJ/dparameter to the gradient arrays; a layer with parameters overrides this."""

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """The live arrays ``([weight, bias], [gradWeight, gradBias])``, the pairs present, or None."""
        if self.weight is not None and self.bias is not None:
            return [self.weight, self.bias], [self.gradWeight, self.gradBias]
        if self.weight is not None:
            return [self.weight], [self.gradWeight]
        if self.bias is not None:
            return [self.bias], [self.gradBias]
        return None

    def zeroGradParameters(self) -> None:
        """Set every gradient array to zero, in place."""
        params = self.parameters()
        if params is not None:
            for gradParam in params[1]:
                gradParam.fill(0)

    def updateParameters(self, learningRate: float) -> None:
        """Gradient-descent step in place: p -= learningRate * gradP for every parameter."""
        params = self.parameters()
        if params is not None:
            for param, gradParam in zip(*params):
                param -= learningRate * gradParam

    def training(self) -> Module:
        """Set the ``train`` flag; return the module."""
        self.train = True
        return self

    def evaluate(self) -> Module:
        """Clear the ``train`` flag; return the module."""
        self.train = False
        return self

    def __repr__(self) -> str:
        return "nn." + type(self).__name__

"""Criterion: the base of losses J(input, target) (Torch7's nn/Criterion.lua, on numpy).

A criterion computes the number ``output`` = J from ``input`` and ``target`` in
``updateOutput``, and ``gradInput`` = dJ/dinput in ``updateGradInput``: the
gradOutput a network's ``backward`` starts from. The criteria themselves (MSECriterion ...)
are generated from the catalogue (derive/nn/_catalogue.py).
"""

from __future__ import annotations

import numpy as np

from .module import Module, convert_fields


class Criterion:
    """Base class of losses: holds ``output`` (a float) and ``gradInput``."""

    # Where the criterion lives and the attributes its fast path remembers: see Module.
    _arrayClass: type = np.ndarray
    _type = "torch.DoubleTensor"
    _callCache: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.output = 0.0
        self.gradInput = np.zeros(0)
        self._arrayClass = np.ndarray  # read on the hot path (see Module)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float:
        """Compute and return the loss ``output`` for ``input`` against ``target``."""
        return self.updateOutput(input, target)

    def backward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Compute and return ``gradInput`` = dJ/dinput."""
        return self.updateGradInput(input, target)

    def updateOutput(self, input: np.ndarray, target: np.ndarray) -> float:
        """Compute ``output`` from input and target; a criterion overrides this."""
        return self.output

    def updateGradInput(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Compute ``gradInput`` = dJ/dinput; a criterion overrides this."""
        return self.gradInput

    def type(self, type=None, tensorCache: dict | None = None) -> Criterion | str:
        """Convert the criterion's arrays (``gradInput``) to ``type``, as Module.type; return the criterion.
        Without ``type``, return its type's name."""
        if type is None:
            return self._type
        convert_fields(self, type, {} if tensorCache is None else tensorCache)
        return self

    # As Torch's Criterion: the same conversions as a module's.
    float, double, cuda = Module.float, Module.double, Module.cuda

    def __repr__(self) -> str:
        return "nn." + type(self).__name__

"""Criterion and MSECriterion: losses J(input, target) (Torch7's nn/Criterion.lua and MSECriterion.lua, on numpy).

A criterion computes the number ``output`` = J from ``input`` and ``target`` in
``updateOutput``, and ``gradInput`` = dJ/dinput in ``updateGradInput``: the
gradOutput a network's ``backward`` starts from. The arithmetic lives in the
kernels generated into ``_kernels`` by ``derive compile``.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as kernels
from .module import Module, check_array, compute_dtype, convert_fields, resized


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


class MSECriterion(Criterion):
    """J = sum((x - t)^2) / n over ALL n = input.size elements (batch included), as Torch divides by nElement.

    With ``sizeAverage=False``, J = sum((x - t)^2) and dJ/dx = 2 (x - t); averaged,
    dJ/dx = 2 (x - t) / n. Input and target must have the same shape (nothing is
    broadcast). ``gradInput`` takes the input's dtype when it is a floating type,
    float64 for integer input, and is a buffer reused by every later call.
    """

    _callCache = ("_inputShape", "_inputDtype", "_targetDtype")

    def __init__(self, sizeAverage: bool = True) -> None:
        super().__init__()
        if not isinstance(sizeAverage, (bool, np.bool_)):
            raise TypeError(f"MSECriterion: sizeAverage must be a bool, got {sizeAverage!r}")
        self.sizeAverage = bool(sizeAverage)
        # The last input's shape and dtype and the target's dtype: matching arrays skip validation.
        self._inputShape = self._inputDtype = self._targetDtype = None

    def updateOutput(self, input: np.ndarray, target: np.ndarray) -> float:
        """output = sum((input - target)^2), divided by input.size if sizeAverage"""
        self._fit(input, target)
        self.output = kernels.mse_update_output(input, target, self.sizeAverage)
        return self.output

    def updateGradInput(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        """gradInput = 2 (input - target), divided by input.size if sizeAverage"""
        self._fit(input, target)
        return kernels.mse_update_grad_input(input, target, self.sizeAverage, self.gradInput)

    def _fit(self, input, target) -> None:
        """Cheap check that input and target match the last ones; else validate and refit gradInput."""
        home = self._arrayClass
        if (input.__class__ is not home or target.__class__ is not home or input.shape != self._inputShape
                or target.shape != input.shape or input.dtype is not self._inputDtype
                or target.dtype is not self._targetDtype):
            self._resize(input, target)

    def _resize(self, input, target) -> None:
        """Check input and target, then fit the gradInput buffer to the input."""
        check_array("MSECriterion", "input", input, self._arrayClass)
        dtype = compute_dtype("MSECriterion", "input", input, self)
        check_array("MSECriterion", "target", target, self._arrayClass)
        compute_dtype("MSECriterion", "target", target, self)  # only checked: the target must hold real numbers too
        if input.shape != target.shape:
            raise ValueError(f"MSECriterion: input and target must have the same shape, "
                             f"got input {input.shape} and target {target.shape}")
        if input.size == 0:
            raise ValueError(f"MSECriterion: input must have at least one element, got shape {input.shape}")
        self.gradInput = resized(self.gradInput, input.shape, dtype)
        self._inputShape, self._inputDtype, self._targetDtype = input.shape, input.dtype, target.dtype

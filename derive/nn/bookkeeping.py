"""The catalogue's bookkeeping modules, with no calculus to derive: View, Reshape, Dropout and
SpatialDropout (Torch7's nn/View.lua, Reshape.lua, Dropout.lua, SpatialDropout.lua). Shared code,
numpy only. Identity is generated from its entry, y = x (derive/nn/_catalogue.py)."""

from __future__ import annotations

import math

import numpy as np

from .module import Module, check_array


def _sizes(owner: str, sizes) -> tuple[int, ...]:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not sizes or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1 for s in sizes):
        raise ValueError(f"{owner}: sizes must be positive integers, got {sizes!r}")
    return tuple(int(s) for s in sizes)


class View(Module):
    """The input seen with the shape ``sizes``; a batch keeps its leading axis when the input has
    a whole number of views (Torch7's View with a batch). Torch7's -1 size is not taken."""

    def __init__(self, *sizes) -> None:
        super().__init__()
        self.size = _sizes(type(self).__name__, sizes)

    def _shape(self, input) -> tuple[int, ...]:
        name = type(self).__name__
        check_array(name, "input", input, self._arrayClass)
        known = math.prod(self.size)
        if input.size == known:
            return self.size
        if input.ndim >= 1 and input.shape[0] and input.size == known * input.shape[0]:
            return (input.shape[0],) + self.size
        raise ValueError(f"{name}: input of shape {input.shape} ({input.size} elements) cannot be viewed "
                         f"as {self.size} or a batch of it")

    def updateOutput(self, input):
        # a copy, as Identity's output is: a view of the input would change with it
        self.output = input.reshape(self._shape(input)).copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        check_array(type(self).__name__, "gradOutput", gradOutput, self._arrayClass)
        if gradOutput.shape != self.output.shape:
            raise ValueError(f"{type(self).__name__}: gradOutput must have shape {self.output.shape} "
                             f"(the output's), got {gradOutput.shape}")
        self.gradInput = gradOutput.reshape(input.shape).copy()
        return self.gradInput


class Reshape(View):
    """Torch7's Reshape: View's shape change (both return copies here)."""


class Dropout(Module):
    """Torch7's Dropout (v2): in training each element is kept with probability 1 - p and scaled
    by 1 / (1 - p), the same mask multiplying the gradient; after evaluate() the identity."""

    def __init__(self, p: float = 0.5, v1: bool = False, inplace: bool = False, rng=None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"{type(self).__name__}: p must be a number in [0, 1), got {p!r}")
        self.p, self.v2 = float(p), not v1
        self.noise = None
        self._rng = np.random.default_rng(rng)

    def _mask_shape(self, input) -> tuple[int, ...]:
        return input.shape

    def updateOutput(self, input):
        check_array(type(self).__name__, "input", input, self._arrayClass)
        if self.train and self.p > 0:
            keep = (self._rng.random(self._mask_shape(input)) >= self.p).astype(input.dtype)
            self.noise = keep / (1 - self.p) if self.v2 else keep
            self.noise = self._arrayClass(self.noise) if self._arrayClass is not np.ndarray else self.noise
            self.output = input * self.noise
        else:
            self.noise = None
            self.output = input * (1 - self.p) if not self.v2 and self.p > 0 else input.copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        check_array(type(self).__name__, "gradOutput", gradOutput, self._arrayClass)
        if gradOutput.shape != input.shape:
            raise ValueError(f"{type(self).__name__}: gradOutput must have shape {input.shape}, got {gradOutput.shape}")
        if self.train and self.p > 0:
            if self.noise is None:
                raise ValueError(f"{type(self).__name__}: backward uses forward's mask: call forward(input) first")
            self.gradInput = gradOutput * self.noise
        else:
            self.gradInput = gradOutput * (1 - self.p) if not self.v2 and self.p > 0 else gradOutput.copy()
        return self.gradInput


class SpatialDropout(Dropout):
    """Torch7's SpatialDropout: whole planes dropped (one draw per plane of a (C, H, W) sample or a
    (B, C, H, W) batch). As Torch7's code: kept planes are not scaled in training, and after
    evaluate() the output is scaled by 1 - p instead."""

    def __init__(self, p: float = 0.5, rng=None) -> None:
        super().__init__(p, v1=True, rng=rng)

    def _mask_shape(self, input) -> tuple[int, ...]:
        if input.ndim == 3:
            return (input.shape[0], 1, 1)
        if input.ndim == 4:
            return input.shape[:2] + (1, 1)
        raise ValueError(f"SpatialDropout: input must be 3-D (planes, h, w) or 4-D (batch, planes, h, w), "
                         f"got shape {input.shape}")

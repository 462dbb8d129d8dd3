"""SpatialConvolution: a 2-D convolution (cross-correlation) over planes
(Torch7's nn/SpatialConvolution.lua and THNN's SpatialConvolutionMM.c, on numpy or CuPy).

y[o, i, j] = sum_(c, p, q) W[o, c, p, q] x[c, i dH + p - padH, j dW + q - padW] + b[o]
(0-based), the input zero outside its H x W. The arithmetic lives in the kernels of
``_patches`` (im2col) and the matrix products of ``_kernels``, compiled from the engine.
"""

from __future__ import annotations

import math

import numpy as np

from ..arguments import check_int
from ._kernels import convolution_acc_grad_parameters, convolution_update_grad_input, convolution_update_output
from ._patches import unfold
from ._backend import namespace
from .module import Module, check_array, check_grad_output, check_scale, compute_dtype, resized

ndarray = np.ndarray


class SpatialConvolution(Module):
    """Convolution of nInputPlane planes into nOutputPlane planes with a kW x kH kernel,
    steps dW, dH and zero padding padW, padH (padH defaults to padW, as in Torch7).

    Input (nInputPlane, H, W) for one sample or (batch, nInputPlane, H, W); output
    (nOutputPlane, oH, oW) or (batch, nOutputPlane, oH, oW) with
    oH = floor((H + 2 padH - kH) / dH) + 1 and oW = floor((W + 2 padW - kW) / dW) + 1.
    weight has shape (nOutputPlane, nInputPlane, kH, kW) and bias (nOutputPlane,):
    float64, drawn by ``reset`` (``rng`` is a seed or a ``numpy.random.Generator``),
    views into one flat array, gradWeight and gradBias (starting at 0) into another.

    Like Torch, ``accGradParameters`` uses the patches (``columns``) unfolded by the
    last ``forward`` when it is given the same input array, without unfolding them
    again: change the input in place between forward and backward, and call forward
    again. Another array is unfolded anew. ``output`` and ``gradInput`` take the
    input's dtype when it is a floating type, float64 for integer input, and are
    buffers reused by every later call: copy them to keep them. On CUDA (``cuda()``),
    input and gradOutput must be CuPy arrays of the parameters' dtype.
    """

    # Cleared by type(): the next call refits the buffers and unfolds its input anew.
    _callCache = ("_inputShape", "_inputDtype", "_outputShape", "_columnsInput")

    def __init__(self, nInputPlane: int, nOutputPlane: int, kW: int, kH: int, dW: int = 1, dH: int = 1,
                 padW: int = 0, padH: int | None = None, rng=None) -> None:
        super().__init__()
        name = "SpatialConvolution"
        self.nInputPlane = check_int(name, "nInputPlane", nInputPlane, 1)
        self.nOutputPlane = check_int(name, "nOutputPlane", nOutputPlane, 1)
        self.kW, self.kH = check_int(name, "kW", kW, 1), check_int(name, "kH", kH, 1)
        self.dW, self.dH = check_int(name, "dW", dW, 1), check_int(name, "dH", dH, 1)
        self.padW = check_int(name, "padW", padW, 0)
        self.padH = self.padW if padH is None else check_int(name, "padH", padH, 0)
        shape = (self.nOutputPlane, self.nInputPlane, self.kH, self.kW)
        self.weight, self.gradWeight = np.zeros(shape), np.zeros(shape)
        self.bias, self.gradBias = np.zeros(self.nOutputPlane), np.zeros(self.nOutputPlane)
        self._flatten()
        # The last input's shape and dtype, and the output shape they give: a call
        # whose arrays match them skips validation and reuses the buffers.
        self._inputShape = self._inputDtype = self._outputShape = None
        # The im2col matrices of the last input unfolded, the array they came from,
        # and the buffer of their gradients.
        self.columns = self.gradColumns = np.zeros(0)
        self._columnsInput = None
        self.reset(rng=rng)

    def reset(self, stdv: float | None = None, rng=None) -> SpatialConvolution:
        """Draw weight, then bias, in place from U(-s, s): s = 1/sqrt(kW kH nInputPlane), or stdv*sqrt(3).

        ``rng`` is a seed or a ``numpy.random.Generator`` (None: fresh entropy).
        """
        s = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(self.kW * self.kH * self.nInputPlane)
        rng = np.random.default_rng(rng)
        # Drawn on the CPU whatever the module's type, so a seed gives the same values on CUDA.
        xp = namespace(self.weight)
        self.weight[...] = xp.asarray(rng.uniform(-s, s, self.weight.shape))
        self.bias[...] = xp.asarray(rng.uniform(-s, s, self.bias.shape))
        return self

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output[o] = sum over planes and kernel offsets of W[o] * the input's patches, + bias[o]."""
        self._fit(input)
        convolution_update_output(self._unfold(input), self.weight, self.bias, self._batched(self.output))
        return self.output

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput: W^T gradOutput for each output pixel, added back onto the pixels its patch read (col2im)."""
        self._fit(input, gradOutput)
        convolution_update_grad_input(self._batched(gradOutput), self.weight, self.kH, self.kW, self.dH, self.dW,
                                      self.padH, self.padW, self.gradColumns, self._batched(self.gradInput))
        return self.gradInput

    def accGradParameters(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> None:
        """gradWeight += scale * sum of gradOutput times the input's patches; gradBias += scale * sum of gradOutput."""
        scale = check_scale(type(self).__name__, scale)
        self._fit(input, gradOutput)
        columns = self.columns if input is self._columnsInput else self._unfold(input)
        convolution_acc_grad_parameters(columns, self._batched(gradOutput), scale, self.gradWeight, self.gradBias)

    def _unfold(self, input: np.ndarray) -> np.ndarray:
        """The im2col matrices of input, into ``columns``; remembered as coming from input."""
        self._columnsInput = input
        return unfold(self._batched(input), self.kH, self.kW, self.dH, self.dW, self.padH, self.padW,
                                  self._outputShape, self.columns)

    @staticmethod
    def _batched(array: np.ndarray) -> np.ndarray:
        """array with a batch axis: one sample (planes, H, W) as a batch of one, a view."""
        return array[None] if array.ndim == 3 else array

    def _fit(self, input, gradOutput=None) -> None:
        """Cheap check that input (and gradOutput) match the buffers; else validate and refit them."""
        if not self._lastCallFits(input, gradOutput, self._outputShape):
            self._resize(input, gradOutput)

    def _resize(self, input, gradOutput=None) -> None:
        """Check input (and gradOutput), then fit the buffers to its shape and dtype."""
        name = self._name()
        check_array(name, "input", input, self._arrayClass)
        if input.ndim not in (3, 4):
            raise ValueError(f"{name}: input must have shape ({self.nInputPlane}, H, W) or "
                             f"(batch, {self.nInputPlane}, H, W), got {input.shape}")
        if input.shape[-3] != self.nInputPlane:
            raise ValueError(f"{name}: input must have {self.nInputPlane} planes (axis {input.ndim - 3}), "
                             f"got {input.shape[-3]} in input {input.shape}")
        dtype = compute_dtype(name, "input", input, self)
        H, W = input.shape[-2:]
        paddedH, paddedW = H + 2 * self.padH, W + 2 * self.padW
        if self.kH > paddedH or self.kW > paddedW:
            raise ValueError(f"{name}: kernel kH x kW = {self.kH} x {self.kW} is larger than the padded input "
                             f"{paddedH} x {paddedW} (input {input.shape})")
        oH, oW = (paddedH - self.kH) // self.dH + 1, (paddedW - self.kW) // self.dW + 1
        outputShape = input.shape[:-3] + (self.nOutputPlane, oH, oW)
        if gradOutput is not None:
            check_grad_output(name, gradOutput, outputShape, input.shape, self._arrayClass)
        if self._arrayClass is not ndarray:
            # CuPy's matmul writes only into an out= of the product's own dtype (as Linear).
            for argument, value in (("input", input), ("gradOutput", gradOutput)):
                if value is not None and value.dtype != self.weight.dtype:
                    raise TypeError(f"{name}: {argument} must be {self.weight.dtype} on CUDA (the module's type "
                                    f"{self._type}), got {value.dtype}")
        if input.shape != self._inputShape or dtype != self.columns.dtype:
            batch = input.shape[0] if input.ndim == 4 else 1
            columnsShape = (batch, self.nInputPlane * self.kH * self.kW, oH * oW)
            # New zeros: unfold writes only the entries that come from the input,
            # the padding's zeros stay as they are for input of this shape.
            xp = namespace(self.output)  # where the module lives
            self.columns = xp.zeros(columnsShape, dtype)
            self.gradColumns = xp.zeros(columnsShape, dtype)
            self._columnsInput = None
        self.output = resized(self.output, outputShape, dtype)
        self.gradInput = resized(self.gradInput, input.shape, dtype)
        self._inputShape, self._inputDtype, self._outputShape = input.shape, input.dtype, outputShape

    def _name(self) -> str:
        return f"SpatialConvolution({self.nInputPlane} -> {self.nOutputPlane}, {self.kW}x{self.kH})"

    def __repr__(self) -> str:
        # Torch7's __tostring__: steps shown when steps or padding differ from the defaults.
        text = f"nn.SpatialConvolution({self.nInputPlane} -> {self.nOutputPlane}, {self.kW}x{self.kH}"
        if self.dW != 1 or self.dH != 1 or self.padW != 0 or self.padH != 0:
            text += f", {self.dW},{self.dH}"
        if self.padW != 0 or self.padH != 0:
            text += f", {self.padW},{self.padH}"
        return text + ")"

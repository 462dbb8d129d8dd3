"""Linear: y = W x + b (Torch7's nn/Linear.lua, on numpy).

One sample x has shape (inputSize,); a batch X has shape (batch, inputSize) and
gives Y = X W^T + 1 b^T. The arithmetic lives in the kernels of ``_kernels``.
"""

from __future__ import annotations

import math

import numpy as np

from ..arguments import check_int
from ._kernels import (
    linear_acc_grad_parameters,
    linear_acc_grad_parameters_batch,
    linear_nobias_acc_grad_parameters,
    linear_nobias_acc_grad_parameters_batch,
    linear_nobias_update_output,
    linear_nobias_update_output_batch,
    linear_update_grad_input,
    linear_update_grad_input_batch,
    linear_update_output,
    linear_update_output_batch,
)
from ._backend import namespace
from .module import Module, check_array, check_scale, compute_dtype, real_number, resized

ndarray = np.ndarray


class Linear(Module):
    """Fully connected layer y = W x + b, with weight (outputSize, inputSize), bias (outputSize,).

    The parameters are float64 arrays drawn by ``reset``; ``rng`` (a seed or a
    ``numpy.random.Generator``, None for fresh entropy) is passed to it, so
    ``Linear(2, 3, rng=0)`` is reproducible. ``gradWeight`` and ``gradBias`` start
    at zeros (Torch leaves them uninitialised, so its first print shows garbage).
    weight and bias are views into one flat array, gradWeight and gradBias into
    another, so ``updateParameters`` is one operation. Load weights in place,
    ``layer.weight[...] = W``: the layer never rebinds its arrays (assigning a new
    floating-point array of the same shape works too, but the update then goes
    parameter by parameter; any other array is refused when assigned).

    ``output`` and ``gradInput`` take the module's dtype (float64, or float32 after
    ``float()``; floats of the other dtype are a TypeError naming both, as Torch refuses
    mixed types), float64 for integer input. They are buffers allocated
    once per input shape and dtype and reused by every later call, like Torch's
    resize: copy them to keep them.

    ``cuda()`` moves the layer to the GPU (CuPy float32 arrays; see Module.type),
    ``double()`` and ``float()`` back; on CUDA, input and gradOutput must be CuPy
    arrays of the parameters' dtype.
    """

    _callCache = ("_inputShape", "_inputDtype", "_outputShape", "_gradOutputDtype")

    def __init__(self, inputSize: int, outputSize: int, bias: bool = True, rng=None) -> None:
        super().__init__()
        self.inputSize = check_int("Linear", "inputSize", inputSize, 1)
        self.outputSize = check_int("Linear", "outputSize", outputSize, 1)
        if not isinstance(bias, (bool, np.bool_)):  # bias='no' is truthy: never read it as True
            raise TypeError(f"Linear: bias must be True or False, got {bias!r}")
        self.weight = np.zeros((self.outputSize, self.inputSize))
        self.gradWeight = np.zeros((self.outputSize, self.inputSize))
        if bias:
            self.bias = np.zeros(self.outputSize)
            self.gradBias = np.zeros(self.outputSize)
        # One flat array for weight and bias, one for their gradients: a training
        # step's update is then one operation (see Module).
        self._flatten()
        # The last input's shape and dtype, and the output shape they give: a call
        # whose arrays match them skips validation and reuses the buffers.
        self._inputShape = self._inputDtype = self._outputShape = self._gradOutputDtype = None
        self.reset(rng=rng)

    def noBias(self) -> Linear:
        """Drop bias and gradBias (y = W x); return the module."""
        self.bias = self.gradBias = None
        return self

    def reset(self, stdv: float | None = None, rng=None) -> Linear:
        """Draw weight and bias in place from U(-s, s): s = 1/sqrt(inputSize), or stdv*sqrt(3).

        ``rng`` is a seed or a ``numpy.random.Generator`` (None: fresh entropy).
        """
        if stdv is not None:
            stdv = real_number(f"{self._name()}.reset", "stdv", stdv, minimum=0)
        s = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(self.inputSize)
        rng = np.random.default_rng(rng)
        # Drawn on the CPU whatever the module's type, so a seed gives the same values on CUDA.
        xp = namespace(self.weight)
        self.weight[...] = xp.asarray(rng.uniform(-s, s, self.weight.shape))
        if self.bias is not None:
            self.bias[...] = xp.asarray(rng.uniform(-s, s, self.bias.shape))
        return self

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = W x + b, or X W^T + 1 b^T for a batch."""
        if (input.__class__ is not self._arrayClass or input.shape != self._inputShape
                or input.dtype is not self._inputDtype):
            self._resize(input)
        if input.ndim == 1:
            if self.bias is None:
                return linear_nobias_update_output(input, self.weight, self.output)
            return linear_update_output(input, self.weight, self.bias, self.output)
        if self.bias is None:
            return linear_nobias_update_output_batch(input, self.weight, self.output)
        return linear_update_output_batch(input, self.weight, self.bias, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = W^T g, or G W for a batch."""
        self._check(input, gradOutput)
        if input.ndim == 1:
            return linear_update_grad_input(gradOutput, self.weight, self.gradInput)
        return linear_update_grad_input_batch(gradOutput, self.weight, self.gradInput)

    def accGradParameters(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> None:
        """gradWeight += scale g x^T, gradBias += scale g; for a batch scale G^T X and scale G^T 1."""
        scale = check_scale(self._name(), scale)
        self._check(input, gradOutput)
        if input.ndim == 1:
            if self.bias is None:
                linear_nobias_acc_grad_parameters(input, gradOutput, scale, self.gradWeight)
            else:
                linear_acc_grad_parameters(input, gradOutput, scale, self.gradWeight, self.gradBias)
        elif self.bias is None:
            linear_nobias_acc_grad_parameters_batch(input, gradOutput, scale, self.gradWeight)
        else:
            linear_acc_grad_parameters_batch(input, gradOutput, scale, self.gradWeight, self.gradBias)

    def backward(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """updateGradInput then accGradParameters, checking the arrays once; return gradInput.

        The result is theirs: a subclass that overrides either of the two (and not
        backward) gets Module's backward, which calls them.
        """
        scale = check_scale(self._name(), scale)
        # The check and the kernels of both methods, inline: at (batch 1, 2 -> 3) the
        # two calls and the second check cost 5% of a training step (bench/bench_linear.py).
        home = self._arrayClass
        if (input.__class__ is not home or input.shape != self._inputShape or input.dtype is not self._inputDtype
                or gradOutput.__class__ is not home or gradOutput.shape != self._outputShape
                or gradOutput.dtype is not self._gradOutputDtype):
            self._resize(input)
            self._checkGradOutput(input, gradOutput)
        if input.ndim == 1:
            linear_update_grad_input(gradOutput, self.weight, self.gradInput)
            if self.bias is None:
                linear_nobias_acc_grad_parameters(input, gradOutput, scale, self.gradWeight)
            else:
                linear_acc_grad_parameters(input, gradOutput, scale, self.gradWeight, self.gradBias)
        else:
            linear_update_grad_input_batch(gradOutput, self.weight, self.gradInput)
            if self.bias is None:
                linear_nobias_acc_grad_parameters_batch(input, gradOutput, scale, self.gradWeight)
            else:
                linear_acc_grad_parameters_batch(input, gradOutput, scale, self.gradWeight, self.gradBias)
        return self.gradInput

    def __setattr__(self, name: str, value) -> None:
        # Assigning a parameter is rare (loading weights): check it here, where the
        # mistake is made, not later inside a kernel's matmul.
        if name in _PARAMETER_SLOTS:
            self._checkParameter(name, value)
        object.__setattr__(self, name, value)

    def _checkParameter(self, name: str, value) -> None:
        """Raise unless ``value`` fits the slot ``name``: a floating array of the slot's shape (bias: or None)."""
        if value is None and name in ("bias", "gradBias"):
            return
        check_array(self._name(), name, value, self._arrayClass)  # an array of where the module lives
        shape = (self.outputSize, self.inputSize) if name in ("weight", "gradWeight") else (self.outputSize,)
        if value.shape != shape:
            raise ValueError(f"{self._name()}: {name} must have shape {shape}, got {value.shape}")
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"{self._name()}: {name} must hold floating-point numbers, got dtype {value.dtype}")

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # Linear.backward runs the kernels itself, so it would skip an overridden
        # updateGradInput or accGradParameters: such a subclass gets Module's backward.
        if "backward" not in cls.__dict__ and (
                "updateGradInput" in cls.__dict__ or "accGradParameters" in cls.__dict__):
            cls.backward = Module.backward

    def _check(self, input, gradOutput) -> None:
        """Raise unless input and gradOutput fit the layer; refit the buffers to a new input shape or dtype."""
        # The common case, arrays shaped as in the last call, costs five comparisons.
        home = self._arrayClass
        if (input.__class__ is not home or input.shape != self._inputShape or input.dtype is not self._inputDtype
                or gradOutput.__class__ is not home or gradOutput.shape != self._outputShape
                or gradOutput.dtype is not self._gradOutputDtype):
            self._resize(input)
            self._checkGradOutput(input, gradOutput)

    def _resize(self, input) -> None:
        """Check input, then fit the output and gradInput buffers to its shape and dtype."""
        check_array(self._name(), "input", input, self._arrayClass)
        if input.ndim not in (1, 2) or input.shape[-1] != self.inputSize:
            raise ValueError(f"{self._name()}: input must have shape ({self.inputSize},) or "
                             f"(batch, {self.inputSize}), got {input.shape}")
        dtype = compute_dtype(self._name(), "input", input, self)
        if self._arrayClass is not ndarray and input.dtype != self.weight.dtype:
            # CuPy's matmul writes only into an out= of the product's own dtype.
            raise TypeError(f"{self._name()}: input must be {self.weight.dtype} on CUDA (the module's type "
                            f"{self._type}), got {input.dtype}")
        outputShape = input.shape[:-1] + (self.outputSize,)
        self.output = resized(self.output, outputShape, dtype)
        self.gradInput = resized(self.gradInput, input.shape, dtype)
        self._inputShape, self._inputDtype, self._outputShape = input.shape, input.dtype, outputShape

    def _checkGradOutput(self, input, gradOutput) -> None:
        """Raise unless gradOutput is an array of exactly the output's shape (nothing is broadcast)."""
        check_array(self._name(), "gradOutput", gradOutput, self._arrayClass)
        if gradOutput.shape != self._outputShape:
            raise ValueError(f"{self._name()}: gradOutput must have shape {self._outputShape} (the output's, "
                             f"for input {input.shape}), got {gradOutput.shape}")
        if self._arrayClass is not ndarray and gradOutput.dtype != self.weight.dtype:
            raise TypeError(f"{self._name()}: gradOutput must be {self.weight.dtype} on CUDA (the module's type "
                            f"{self._type}), got {gradOutput.dtype}")
        self._gradOutputDtype = gradOutput.dtype

    def _name(self) -> str:
        return f"Linear({self.inputSize} -> {self.outputSize})"

    def __repr__(self) -> str:
        text = f"nn.Linear({self.inputSize} -> {self.outputSize})"
        return text if self.bias is not None else text + " without bias"


_PARAMETER_SLOTS = frozenset(("weight", "gradWeight", "bias", "gradBias"))

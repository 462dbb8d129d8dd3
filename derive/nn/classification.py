"""SoftMax, LogSoftMax, ClassNLLCriterion, CrossEntropyCriterion: classification
(Torch7's nn/SoftMax.lua, LogSoftMax.lua, ClassNLLCriterion.lua, CrossEntropyCriterion.lua, on numpy).

Input is one sample (n,) of n class scores or a batch (batch, n), one sample a row;
softmax and its log are taken over the last axis, shifted by each sample's own
maximum (exp never overflows, whatever the scale of the scores).

Targets are class indices counted from **0** (numpy's convention; Torch7 counted
from 1): an int for one sample, an integer array (batch,) for a batch.
The arithmetic lives in the kernels that ``derive compile`` generates into ``_kernels``
from the engine's results; what stays here is not calculus: class indices, weights and
the averaging (each sample's target weighs a = w[t] / W, W the total weight).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import _kernels as kernels
from ._backend import is_array, namespace
from .criterion import Criterion
from .module import Module, check_array, compute_dtype, resized

ndarray = np.ndarray


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


class _LastAxis(_Elementwise):
    """An activation over the last axis: input (n,) or (batch, n), n >= 1.

    Keeps n ones of the buffers' dtype: the kernels take sums over a sample as one
    matrix-vector product (twice as fast as numpy's sum along a row).
    """

    def _resize(self, input, gradOutput=None) -> None:
        check_array(type(self).__name__, "input", input, self._arrayClass)
        if input.ndim not in (1, 2) or input.size == 0:
            raise ValueError(f"{type(self).__name__}: input must have shape (n,) or (batch, n) with n, batch >= 1, "
                             f"got {input.shape}")
        super()._resize(input, gradOutput)
        self._ones = namespace(self.output).ones(input.shape[-1], self.output.dtype)


class SoftMax(_LastAxis):
    """y_i = exp(x_i) / sum_k exp(x_k) over the last axis; gradInput = y * (g - sum(g * y)), read from the output."""

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = exp(input - max) / sum(exp(input - max)), per sample"""
        self._fit(input)
        return kernels.softmax_update_output(input, self._ones, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = output * (gradOutput - sum(gradOutput * output)), per sample"""
        self._fit(input, gradOutput)
        return kernels.softmax_update_grad_input(self.output, gradOutput, self._ones, self.gradInput)


class LogSoftMax(_LastAxis):
    """y_i = x_i - log(sum_k exp(x_k)) over the last axis; gradInput = g - exp(y) * sum(g) (Torch's form)."""

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = input - max - log(sum(exp(input - max))), per sample"""
        self._fit(input)
        return kernels.logsoftmax_update_output(input, self._ones, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = gradOutput - exp(output) * sum(gradOutput), per sample"""
        self._fit(input, gradOutput)
        return kernels.logsoftmax_update_grad_input(self.output, gradOutput, self._ones, self.gradInput)


class _ClassCriterion(Criterion):
    """A loss over class scores and 0-based class targets, with optional class weights.

    Keeps the last input's shape and dtype and the target's: a call that matches
    them checks only that the targets are in range (one pass over them).
    """

    _callCache = ("_inputShape", "_inputDtype", "_targetShape", "_targetDtype")

    def __init__(self, weights: np.ndarray | None = None, sizeAverage: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(sizeAverage, (bool, np.bool_)):
            raise TypeError(f"{name}: sizeAverage must be a bool, got {sizeAverage!r}")
        self.sizeAverage = bool(sizeAverage)
        self.weights = None if weights is None else _class_weights(name, weights)
        self._inputShape = self._inputDtype = self._targetShape = self._targetDtype = None
        self._rows = np.zeros(0, np.int64)  # arange(batch): the rows the targets pick from
        self._rowOffsets = self._rows  # arange(batch) * n: the targets' rows in the flat gradInput
        self._single = np.zeros(1, np.int64)  # one sample's target, as a batch of one
        self._unsigned = None  # the target's dtype read as unsigned: negatives become too large

    def _fit(self, input, target):
        """(input as a batch, target as indices, gradInput as a batch), validated and buffers fitted.

        A batch's targets are checked with one pass: read as unsigned integers, a
        negative index is too large too.
        """
        home = self._arrayClass
        if input.__class__ is not home or input.shape != self._inputShape or input.dtype is not self._inputDtype:
            self._resize(input)
        if input.ndim == 1:
            if target.__class__ is not int:
                target = _single_target(type(self).__name__, target)
            if not 0 <= target < input.shape[0]:
                self._badTarget(input, target)
            self._single[0] = target
            return input[None], self._single, self.gradInput[None]
        if (target.__class__ is not home or target.shape != self._targetShape
                or target.dtype is not self._targetDtype):
            self._checkTarget(input, target)
        unsigned = target.view(self._unsigned)
        # numpy's ufunc reduce costs 40% less than .max() on a batch's targets
        if (np.maximum.reduce(unsigned, axis=None) if home is ndarray else unsigned.max()) >= input.shape[1]:
            self._badTarget(input, target)
        return input, target, self.gradInput

    def _badTarget(self, input, target):
        """Raise the ValueError that says which target is not a class index of input."""
        classes = input.shape[-1]
        if not isinstance(target, int):
            target = int(target[(target < 0) | (target >= classes)][0])
        raise ValueError(f"{type(self).__name__}: target must hold class indices in 0..{classes - 1} "
                         f"(counted from 0), got {target}")

    def _resize(self, input) -> None:
        """Check input, then fit gradInput (and the rows) to it."""
        name = type(self).__name__
        check_array(name, "input", input, self._arrayClass)
        dtype = compute_dtype(name, "input", input, self)
        if input.ndim not in (1, 2) or input.size == 0:
            raise ValueError(f"{name}: input must have shape (n,) or (batch, n) with n, batch >= 1, got {input.shape}")
        if self.weights is not None and len(self.weights) != input.shape[-1]:
            raise ValueError(f"{name}: weights has {len(self.weights)} entries but input has "
                             f"{input.shape[-1]} classes (shape {input.shape})")
        self.gradInput = resized(self.gradInput, input.shape, dtype)
        self._fitBuffers(input.shape, dtype)
        batch = input.shape[0] if input.ndim == 2 else 1
        xp = namespace(self.gradInput)
        if len(self._rows) != batch or self._rows.__class__ is not self._arrayClass:
            self._rows = xp.arange(batch)
        self._rowOffsets = self._rows * input.shape[-1]
        if self._single.__class__ is not self._arrayClass:
            self._single = xp.zeros(1, np.int64)
        self._inputShape, self._inputDtype = input.shape, input.dtype
        self._targetShape = self._targetDtype = None

    def _fitBuffers(self, shape, dtype) -> None:
        """Fit buffers beyond gradInput; a criterion that keeps some overrides this."""

    def _factors(self, target):
        """Each sample's target weight a: w[t] (1 without weights), divided by the total weight W
        of the targets if sizeAverage; W = 0 gives nan, as PyTorch's 0/0 (Torch7 returned 0).
        A float where every sample weighs the same."""
        if self.weights is None:
            return 1 / len(target) if self.sizeAverage else 1.0
        factors = self.weights[target]
        if self.sizeAverage:
            total = float(factors.sum())
            factors = factors / total if total else namespace(factors).full(len(target), math.nan)
        return factors

    def _checkTarget(self, input, target) -> None:
        """Raise unless target is an integer array (batch,) for the batch input."""
        name = type(self).__name__
        check_array(name, "target", target, self._arrayClass)
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"{name}: target must hold integer class indices, got dtype {target.dtype}")
        if target.shape != input.shape[:1]:
            raise ValueError(f"{name}: target must have shape ({input.shape[0]},), one class index a sample "
                             f"of input {input.shape}, got {target.shape}")
        self._targetShape, self._targetDtype = target.shape, target.dtype
        self._unsigned = np.dtype(target.dtype.str.replace("i", "u"))


class ClassNLLCriterion(_ClassCriterion):
    """J = -x[t], the negative log-likelihood of the target class when x holds log-probabilities.

    With ``weights`` (n,) it is -weights[t] x[t]; for a batch the sum over the
    samples, divided by the total weight of their targets (the batch size without
    weights) when ``sizeAverage``, as Torch and PyTorch do. gradInput is
    -weights[t] (divided likewise) at the target and 0 elsewhere. A batch whose
    targets all weigh 0 gives nan, as PyTorch (Torch7 gave 0). ``weights`` is kept as
    a float64 copy; ``gradInput`` takes the input's dtype (float64 for integer input).
    """

    def updateOutput(self, input: np.ndarray, target) -> float:
        """output = -sum weights[t] input[t], divided by the targets' total weight if sizeAverage"""
        batchInput, indices, _ = self._fit(input, target)
        self.output = kernels.nll_update_output(batchInput, indices, self._rows, self._factors(indices))
        return self.output

    def updateGradInput(self, input: np.ndarray, target) -> np.ndarray:
        """gradInput = -weights[t] at the target, 0 elsewhere; divided by the total weight if sizeAverage"""
        _, indices, gradInput = self._fit(input, target)
        kernels.nll_update_grad_input(indices, self._rowOffsets, self._factors(indices), gradInput)
        return self.gradInput


class CrossEntropyCriterion(_ClassCriterion):
    """LogSoftMax then ClassNLLCriterion in one: J = -x[t] + log(sum_k exp(x_k)) on raw scores x.

    gradInput = (softmax(x) - onehot(t)) * weights[t], divided by the targets' total
    weight when ``sizeAverage``. ``backward`` reads the softmax that ``forward``
    computed (as Torch's reads its LogSoftMax's output), kept as exp(x - max) and
    sum(exp(x - max)) per sample: call forward on the same input first. Given
    the very target array forward checked, backward does not check it again (as it
    does not read the input's values again): change neither in place in between.
    Same weights, targets and dtypes as ClassNLLCriterion.
    """

    _callCache = _ClassCriterion._callCache + ("_forwardShape", "_forwardDtype", "_forwardTarget")

    def __init__(self, weights: np.ndarray | None = None, sizeAverage: bool = True) -> None:
        super().__init__(weights, sizeAverage)
        self._terms = self._sums = self._ones = np.zeros(0)
        self._forwardShape = self._forwardDtype = self._forwardTarget = None

    def updateOutput(self, input: np.ndarray, target) -> float:
        """output = -sum weights[t] log softmax(input)[t], divided by the targets' total weight if sizeAverage"""
        batchInput, indices, _ = self._fit(input, target)
        self.output = kernels.crossentropy_update_output(batchInput, indices, self._rows, self._factors(indices),
                                                         self._ones, self._terms, self._sums)
        self._forwardShape, self._forwardDtype = input.shape, input.dtype
        self._forwardTarget = target if input.ndim == 2 else None
        return self.output

    def updateGradInput(self, input: np.ndarray, target) -> np.ndarray:
        """gradInput = (softmax(input) - onehot(t)) * weights[t], divided by the total weight if sizeAverage"""
        if (target is self._forwardTarget and input.__class__ is self._arrayClass and input.shape == self._forwardShape
                and input.dtype is self._forwardDtype):
            indices, gradInput = target, self.gradInput  # checked and fitted by forward
        else:
            _, indices, gradInput = self._fit(input, target)
        if input.shape != self._forwardShape or input.dtype is not self._forwardDtype:
            raise ValueError(f"CrossEntropyCriterion: backward reads the softmax of forward: call forward(input, target) "
                             f"first (last forward input: {self._forwardShape}, {self._forwardDtype}; "
                             f"got {input.shape}, {input.dtype})")
        kernels.crossentropy_update_grad_input(indices, self._rowOffsets, self._factors(indices),
                                               self._terms, self._sums, gradInput)
        return self.gradInput

    def _fitBuffers(self, shape, dtype) -> None:
        batchShape = shape if len(shape) == 2 else (1,) + shape
        self._terms = resized(self._terms, batchShape, dtype)
        self._sums = resized(self._sums, batchShape[:1], dtype)
        self._ones = resized(self._ones, batchShape[1:], dtype)
        self._ones.fill(1)
        self._forwardShape = self._forwardDtype = self._forwardTarget = None


def _class_weights(name: str, weights) -> np.ndarray:
    """weights as a float64 copy, if a 1-D array of finite non-negative real numbers; else raise."""
    check_array(name, "weights", weights)
    if weights.dtype == np.bool_ or not (np.issubdtype(weights.dtype, np.integer)
                                         or np.issubdtype(weights.dtype, np.floating)):
        raise TypeError(f"{name}: weights must hold real numbers, got dtype {weights.dtype}")
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"{name}: weights must be a 1-D array, one weight a class, got shape {weights.shape}")
    copy = weights.astype(np.float64)
    if not np.all(np.isfinite(copy)) or np.any(copy < 0):
        raise ValueError(f"{name}: weights must be finite and non-negative, got {weights}")
    return copy


def _single_target(name: str, target) -> int:
    """One sample's target as an int, if it is an integer (not a bool, not a float): a Python
    or numpy int, or a 0-d integer array (as PyTorch takes a 0-d tensor)."""
    if is_array(target) and target.ndim == 0 and np.issubdtype(target.dtype, np.integer):
        return int(target)
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"{name}: target of one sample must be an int class index (counted from 0), "
                        f"got {target!r} ({type(target).__name__})")
    return operator.index(target)

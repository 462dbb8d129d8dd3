"""Module: the protocol every layer follows (Torch7's nn/Module.lua, on numpy).

A layer computes ``output`` from ``input`` in ``updateOutput``, and ``gradInput``
(dJ/dinput) from ``gradOutput`` (dJ/doutput) in ``updateGradInput``; a layer with
parameters also ADDS scale * dJ/dparameter into its gradient arrays in
``accGradParameters``. ``output`` and ``gradInput`` are buffers the module reuses
on every call: copy them if you need to keep them.

A layer may keep its parameters as views into one flat array and its gradients
as views into another (the layout of Torch's ``getParameters``); then
``updateParameters`` and ``zeroGradParameters`` are one array operation each.
Once a new array is assigned to ``weight``, ``bias``, ``gradWeight`` or
``gradBias``, they walk ``parameters()`` instead.

A module lives where its arrays live, numpy (the CPU) or CuPy (a CUDA GPU), and
takes inputs from there only; ``type``, ``float``, ``double`` and ``cuda`` move it
(Torch7's names).
"""

from __future__ import annotations

import builtins
import functools
import math
import operator
from operator import attrgetter

import numpy as np

from ._backend import TYPES, converted, is_array, namespace, resolve_type


def check_array(owner: str, name: str, value, arrayClass: type = np.ndarray) -> None:
    """Raise TypeError unless ``value`` is an ``arrayClass`` array (numpy's, or CuPy's for a module on CUDA).

    ``owner: name`` starts the message. An array of the other library is refused,
    never copied: the message says how to move the module or the array.
    """
    if isinstance(value, arrayClass):
        return
    if arrayClass is np.ndarray:
        where = "a numpy array"
        move = ": move the module to it with .cuda(), or the array to the CPU with .get()"
    else:
        where = "a cupy array (the module is on CUDA)"
        move = ": move the array with cupy.asarray, or the module back with .double() or .float()"
    kind = type(value)
    got = f"{kind.__module__.split('.')[0]}.{kind.__name__}" if is_array(value) else kind.__name__
    raise TypeError(f"{owner}: {name} must be {where}, got {got}" + (move if is_array(value) else ""))


def real_number(owner: str, name: str, value, minimum: float | None = None) -> float:
    """``value`` as a float if it is a finite real number (not a bool, not a string), else raise.

    With ``minimum``, a smaller value is a ValueError too. ``owner: name`` starts the message.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value!r}")
    return float(value)


def compute_dtype(owner: str, name: str, array: np.ndarray, module=None) -> np.dtype:
    """The dtype buffers computed from ``array`` take: its own if floating, float64 if integer.

    Anything else (bool, complex, object) is a TypeError: nothing is coerced silently.
    With ``module``, floats of another dtype than the module's type (float32 into a
    torch.DoubleTensor module) are a TypeError naming both, as Torch refuses mixed types.
    """
    if np.issubdtype(array.dtype, np.floating):
        if module is not None:
            check_dtype(owner, name, array, module)
        return array.dtype
    if np.issubdtype(array.dtype, np.integer):
        return np.dtype(np.float64) if module is None else TYPES[module._type][1]
    raise TypeError(f"{owner}: {name} must hold real numbers, got dtype {array.dtype}")


def check_scale(owner: str, scale) -> float:
    """``scale`` of accGradParameters/backward, if a finite real number; else a TypeError/ValueError
    (a string is no scale, and a nan would poison every gradient it is added to)."""
    # A float passes with one comparison and one subtraction (x - x is nan for nan and inf).
    if scale.__class__ is float and scale - scale == 0:
        return scale
    return real_number(owner, "scale", scale)


def check_dtype(owner: str, name: str, array, module) -> None:
    """Raise TypeError when ``array`` holds floats of another dtype than ``module``'s type."""
    expected = TYPES[module._type][1]
    if array.dtype != expected and array.dtype.kind == "f":
        raise TypeError(f"{owner}: {name} is {array.dtype} but the module is {expected} ({module._type}): "
                        f"convert the array (.astype({expected.name})) or the module (.type(...))")


def resized(buffer: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``buffer`` if it has this shape and dtype, else a new array of zeros that has, where
    ``buffer`` lives (Torch's resize)."""
    if buffer.shape != shape or buffer.dtype != dtype:
        return namespace(buffer).zeros(shape, dtype)
    return buffer


def check_grad_output(owner: str, gradOutput, outputShape: tuple[int, ...], inputShape: tuple[int, ...],
                      arrayClass: type = np.ndarray) -> None:
    """Raise unless gradOutput is an ``arrayClass`` array of exactly the output's shape (nothing is broadcast)."""
    check_array(owner, "gradOutput", gradOutput, arrayClass)
    if gradOutput.shape != outputShape:
        raise ValueError(f"{owner}: gradOutput must have shape {outputShape} (the output's, "
                         f"for input {inputShape}), got {gradOutput.shape}")


def check_real(owner: str, name: str, value, low: float, high: float = math.inf) -> float:
    """``value`` as a float if it is a finite real number in [low, high] (a bool is not); else raise."""
    number = real_number(owner, name, value)
    if not low <= number <= high:
        interval = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{owner}: {name} must be {interval}, got {value!r}")
    return number


_WEIGHT_BIAS = (("weight", "gradWeight"), ("bias", "gradBias"))


@functools.cache
def _names(slots: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The slots' attribute names, flat: (param, grad, param, grad, ...)."""
    return tuple(name for pair in slots for name in pair)


class Module:
    """Base class of layers: holds ``output``, ``gradInput`` and the ``train`` flag."""

    # A layer with parameters sets these (weight, gradWeight, bias, gradBias) to arrays.
    weight = gradWeight = bias = gradBias = None
    # (parameter, its gradient) attribute names, in parameters() order: what _flatten lays
    # out in one flat array each (a generated layer names its own: ("W", "gradW"), ...).
    _parameterSlots: tuple[tuple[str, str], ...] = _WEIGHT_BIAS
    # Set by _flatten: (flat parameters, flat gradients, the views
    # (weight, gradWeight, bias, gradBias) it made into them).
    _flat: tuple[np.ndarray, np.ndarray, tuple] | None = None
    # Where the module lives: the class its inputs must have (numpy.ndarray, or
    # cupy.ndarray after cuda()) and Torch's name of its type.
    _arrayClass: type = np.ndarray
    _type = "torch.DoubleTensor"
    # The attributes that remember the last call's shapes and dtypes (the key of a
    # layer's fast path); type() clears them, so the next call refits the buffers.
    _callCache: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.output = np.zeros(0)
        self.gradInput = np.zeros(0)
        self.train = True
        # An instance attribute, read on the hot path: Python 3.11 reads those faster than a class's.
        self._arrayClass = np.ndarray

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
        flat = self._flatBuffers()
        if flat is not None:
            flat[1].fill(0)
            return
        params = self.parameters()
        if params is not None:
            for gradParam in params[1]:
                gradParam.fill(0)

    def updateParameters(self, learningRate: float) -> None:
        """Gradient-descent step in place: p -= learningRate * gradP for every parameter."""
        # A float passes with one subtraction and two comparisons (x - x is nan for nan and inf).
        if learningRate.__class__ is not float or learningRate - learningRate != 0:
            learningRate = real_number(f"{type(self).__name__}.updateParameters", "learningRate", learningRate)
        flat = self._flatBuffers()
        if flat is not None:
            flatParams, flatGradParams = flat
            flatParams -= learningRate * flatGradParams
            return
        params = self.parameters()
        if params is not None:
            for param, gradParam in zip(*params):
                param -= learningRate * gradParam

    def _lastCallFits(self, input, gradOutput, gradOutputShape) -> bool:
        """Whether input (and gradOutput, when given, of ``gradOutputShape``) are the class, shape and
        dtype the buffers were fitted to at the last call (``_inputShape``, ``_inputDtype``): the cheap
        test before a layer validates and refits. On CUDA gradOutput must have the input's dtype."""
        home = self._arrayClass
        return not (input.__class__ is not home or input.shape != self._inputShape
                    or input.dtype is not self._inputDtype or gradOutput is not None
                    and (gradOutput.__class__ is not home or gradOutput.shape != gradOutputShape
                         or home is not np.ndarray and gradOutput.dtype is not self._inputDtype))

    def _flatten(self) -> None:
        """Make weight and bias views into one new flat array, gradWeight and gradBias into another.

        The values are kept. A layer calls this when it creates its parameters,
        before anyone holds a reference to them.
        """
        params = self.parameters()
        if params is None or len({array.dtype for array in params[0] + params[1]}) != 1:
            return
        xp = namespace(*params[0])
        flatParams = xp.concatenate([param.ravel() for param in params[0]])
        flatGradParams = xp.concatenate([gradParam.ravel() for gradParam in params[1]])
        offset = 0
        for name, gradName in self._parameterSlots:
            param = getattr(self, name)
            if param is not None:
                end = offset + param.size
                setattr(self, name, flatParams[offset:end].reshape(param.shape))
                setattr(self, gradName, flatGradParams[offset:end].reshape(param.shape))
                offset = end
        self._flat = flatParams, flatGradParams, self._slotArrays()

    def _slotArrays(self) -> tuple:
        """The arrays in the parameter slots now: (param, grad, param, grad, ...)."""
        return tuple(getattr(self, name) for name in _names(self._parameterSlots))

    def _flatBuffers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(flat parameters, flat gradients) if the four parameter slots still hold the views into them, else None."""
        flat = self._flat
        if flat is None:
            return None
        views = flat[2]
        if self._parameterSlots is _WEIGHT_BIAS:  # Linear's slots, on every step: four `is` inline
            if (self.weight is views[0] and self.gradWeight is views[1]
                    and self.bias is views[2] and self.gradBias is views[3]):
                return flat[0], flat[1]
        elif all(map(operator.is_, attrgetter(*_names(self._parameterSlots))(self), views)):
            return flat[0], flat[1]
        self._flat = None  # a slot was rebound: the layout is gone, and its arrays can be freed
        return None

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        # Pickling and deepcopy copy each array on its own: the parameters come back
        # as arrays of their own, no longer views into the flat buffers. (A shallow
        # copy keeps the views, and shares them with the original.)
        flat = self._flatBuffers()
        if flat is not None:
            params, gradParams = self.parameters()
            if (any(param.base is not flat[0] for param in params)
                    or any(gradParam.base is not flat[1] for gradParam in gradParams)):
                self._flatten()

    def type(self, type=None, tensorCache: dict | None = None) -> Module | str:
        """Convert every array of the module (parameters, gradients, ``output``, ``gradInput``)
        and of its children to ``type``; return the module. Without ``type``, return its type's name.

        ``type`` is one of Torch's names, 'torch.DoubleTensor', 'torch.FloatTensor'
        (numpy float64 and float32: the CPU), 'torch.CudaTensor' (float32 on the GPU,
        as Torch7's) and 'torch.CudaDoubleTensor' (float64 on the GPU), or
        numpy.float64 / numpy.float32. Arrays already of that type are kept; arrays
        shared before are shared after (``tensorCache``, as Torch's); weight and bias
        are again views into one flat array, gradWeight and gradBias into another.
        """
        if type is None:
            return self._type
        slots = self._slotArrays()
        convert_fields(self, type, {} if tensorCache is None else tensorCache)
        if any(new is not old for new, old in zip(self._slotArrays(), slots)):
            self._flatten()
        return self

    def float(self) -> Module:
        """``type('torch.FloatTensor')``: numpy float32 arrays; return the module."""
        return self.type("torch.FloatTensor")

    def double(self) -> Module:
        """``type('torch.DoubleTensor')``: numpy float64 arrays; return the module."""
        return self.type("torch.DoubleTensor")

    def cuda(self) -> Module:
        """``type('torch.CudaTensor')``: CuPy float32 arrays on the current GPU, as Torch7's; return the module.

        Needs CuPy (``pip install 'derive[cuda]'``) and a CUDA GPU, else raises
        CudaUnavailableError. For float64 on the GPU: ``type('torch.CudaDoubleTensor')``.
        """
        return self.type("torch.CudaTensor")

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


def convert_fields(owner, type, tensorCache: dict) -> None:
    """Convert the arrays ``owner`` holds (in lists, tuples and dicts too) to ``type``, and the
    modules and criteria it holds by their own ``type``; clear its call cache (see Module.type)."""
    name, xp, dtype = resolve_type(type)

    def convert(value):
        if is_array(value):
            return converted(value, xp, dtype, tensorCache)
        if hasattr(value, "_arrayClass") and not isinstance(value, builtins.type):  # a Module or Criterion
            return value.type(name, tensorCache)
        if isinstance(value, (list, tuple)):
            return builtins.type(value)(convert(item) for item in value)
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    fields = vars(owner)
    for key, value in list(fields.items()):
        if key != "_flat":  # the flat layout is rebuilt from the converted parameters
            fields[key] = convert(value)
    for key in owner._callCache:
        fields[key] = None
    owner._arrayClass, owner._type = xp.ndarray, name


"""The bookkeeping every class generated from the catalogue shares (derive/nn/_catalogue.py).

A generated class is data: its Torch7 constructor (``signature``), the kernels derived from its
entry at run-time sizes (one set per value of the arguments that shape the formula, such as
``sizeAverage``), which constructor arguments the kernels take as numbers (``scalars``), how the
arguments give the input's and the parameters' sizes, and Torch7's ``reset``.  The Torch7
protocol (one sample or a batch, parameters(), accGradParameters that adds scale * gradient,
type()/cuda()) is here, once.  numpy only.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..arguments import check_int
from ._backend import namespace
from .criterion import Criterion
from .module import _WEIGHT_BIAS, check_array, check_dtype, check_scale, compute_dtype, Module, real_number

REQUIRED = "required"  # a signature's default for an argument that has none
ndarray = np.ndarray


def kept(buffer, result):
    """``result`` written into ``buffer`` and ``buffer`` returned, where it has the result's
    shape and dtype; else a new buffer holding ``result`` (Torch7's resize: forward and backward
    return the module's own arrays, the same ones every call of one shape)."""
    if result is buffer:  # the kernel wrote into it
        return buffer
    if buffer.__class__ is not result.__class__ or buffer.shape != result.shape or buffer.dtype != result.dtype:
        return result.copy()  # never the kernel's own result: that may be the caller's input
    buffer[...] = result
    return buffer


def _unalias(cls, base, protocol, alias: str, method: str) -> None:
    """Where ``base`` binds ``alias`` to ``method`` itself (forward = updateOutput: one call fewer
    a step), a subclass whose ``method`` is another (its own, or a mixin's before it) gets the
    ``protocol``'s ``alias``, which calls it."""
    if getattr(cls, alias) is getattr(base, method) and getattr(cls, method) is not getattr(base, method):
        setattr(cls, alias, getattr(protocol, alias))


def _arguments(cls, args: tuple, kwargs: dict, sizes: frozenset = frozenset()) -> dict:
    """The constructor's arguments by Torch7 name, checked against the class's signature (those
    named in ``sizes`` positive ints)."""
    name = cls.__name__
    if len(args) > len(cls.signature):
        raise TypeError(f"{name} takes at most {len(cls.signature)} arguments, got {len(args)}")
    given = dict(zip((a[0] for a in cls.signature), args))
    for key, value in kwargs.items():
        if key in given:
            raise TypeError(f"{name}: {key} given twice")
        given[key] = value
    unknown = set(given) - {a[0] for a in cls.signature}
    if unknown:
        raise TypeError(f"{name}: unknown argument {sorted(unknown)[0]!r}")
    out: dict = {}
    for arg, default, kind, same_as in cls.signature:
        if kind is np.ndarray:  # an array constant of the formula (Torch7's weights), or None
            out[arg] = None if given.get(arg) is None else _array_argument(name, arg, given[arg])
            continue
        if arg in given and (given[arg] is not None or default == REQUIRED and same_as is None):
            value = given[arg]
        elif same_as is not None:
            value = out[same_as]
        elif default == REQUIRED:
            raise TypeError(f"{name}: missing argument {arg}")
        elif default is None:  # Torch7's nil (GatedLinearUnit's dim: the input's last axis)
            out[arg] = None
            continue
        else:
            value = default
        if kind is float and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            value = float(value)
        if kind is bool and isinstance(value, np.bool_):
            value = bool(value)
        if kind is int and arg in sizes:
            value = check_int(name, arg, value, 1)
        if kind is int and isinstance(value, np.integer):
            value = int(value)
        if not isinstance(value, kind) or kind is not bool and isinstance(value, bool):
            raise TypeError(f"{name}: {arg} must be {kind.__name__}, got {value!r}")
        if kind is float and not math.isfinite(value):
            raise ValueError(f"{name}: {arg} must be finite, got {value!r}")
        out[arg] = value
    return out


def _array_argument(owner: str, name: str, value) -> np.ndarray:
    """An array argument as the kernels take it: a float64 copy, if a non-empty numpy array of
    finite real numbers (not bools); else a one-line TypeError or ValueError."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{owner}: {name} must be a numpy array or None, got {type(value).__name__}")
    if value.dtype.kind not in "iuf":
        raise TypeError(f"{owner}: {name} must hold real numbers, got dtype {value.dtype}")
    if value.size == 0:
        raise ValueError(f"{owner}: {name} must have at least one entry, got shape {value.shape}")
    copy = value.astype(np.float64)
    if not np.isfinite(copy).all():
        raise ValueError(f"{owner}: {name} must be finite, got {value}")
    return copy


class _Catalogued:
    """What modules and criteria generated from the catalogue share: arguments and kernels."""

    signature: tuple = ()  # (Torch7 name, default or REQUIRED, type, the argument it defaults to)
    formula = ""
    scalars: tuple[str, ...] = ()  # arguments the kernels take as numbers, in their order
    sizeArguments: tuple[str, ...] = ()  # arguments the kernels take as sizes (after the numbers)
    inputShape: tuple = ()  # one sample's axes: a constructor argument's name, or None (any size)
    anyShape = False  # element-wise: the sample kernels take an input of any shape
    integerInput: str | None = None  # the input holds rows counted from 0, below this argument
    # array arguments (Torch7's weights): (name, each of its axes as an axis of one input sample)
    arrayArguments: tuple = ()
    structure: tuple[str, ...] = ()  # the arguments whose values pick the kernels
    kernels: dict = {}  # structure values -> ((sample kernels), (batch kernels))
    # structure values -> (their parameters' Torch7 names, a program's kernel arguments), where
    # the values change them (Bilinear without bias)
    variantParameters: dict | None = None
    # integers are read as the module's floats (Torch7's element-wise modules and MSECriterion);
    # elsewhere a TypeError
    integersAsFloats = True
    shown = ""  # Torch7's arguments in its repr and messages, from the constructor's: "{inputSize} -> {outputSize}"
    namedShapes = True  # a wrong input's message names the shapes expected: (2,) or (batch, 2)
    _inputKey = None  # (class, shape, dtype) of the last input that passed the checks
    _inputBatch = False
    _callCache = ("_inputKey", "_forwardInput")  # type() clears them: the next call checks again

    def _floats(self, input):
        """``input``, integers read as the module's floats."""
        if self.integersAsFloats and input.dtype.kind in "iu" and not self.integerInput:
            return input.astype(compute_dtype(type(self).__name__, "input", input, self))
        return input

    def _setArguments(self, args: tuple, kwargs: dict) -> None:
        cls = type(self)
        self.arguments = _arguments(cls, args, kwargs, frozenset(self._sizeArguments()))
        taken = {"weight", "bias", "gradWeight", "gradBias", "output", "gradInput", "train"}
        for key, value in self.arguments.items():  # Torch7 keeps its arguments as fields (self.alpha)
            if key not in taken:  # Bilinear's bias argument is no bias array: in self.arguments only
                setattr(self, key, value)
        for key, value in self.arguments.items():
            if cls.signature[[a[0] for a in cls.signature].index(key)][2] is int and key in self._sizeArguments() \
                    and value < 1:
                raise ValueError(f"{cls.__name__}: {key} must be a positive integer, got {value}")
        arrays = dict(cls.arrayArguments)
        for name, axes in cls.arrayArguments:
            value = self.arguments[name]
            if value is not None and value.ndim != len(axes):
                raise ValueError(f"{cls.__name__}: {name} must have {len(axes)} axes, got shape {value.shape}")
        # an array argument picks the kernels with it or without it
        key = tuple(self.arguments[a] is not None if a in arrays else self.arguments[a] for a in cls.structure)
        if key not in cls.kernels:
            known = ", ".join(str(dict(zip(cls.structure, k))) for k in cls.kernels)
            raise ValueError(f"{cls.__name__}: no kernels for {dict(zip(cls.structure, key))}; generated for {known}")
        self._kernels = cls.kernels[key]
        if cls.variantParameters is not None:
            names, arguments = cls.variantParameters[key]
            self.parameterShapes = tuple(p for p in cls.parameterShapes if p[0] in names)
            self.kernelArguments = arguments
        # the array arguments given (read as the module holds them: type() converts them) go
        # before the numbers, as the formula's constants come before its numbers
        self._arrays = tuple(name for name, _ in cls.arrayArguments if self.arguments[name] is not None)
        self._scalars = tuple(self.arguments[a] for a in cls.scalars + cls.sizeArguments)

    def _checkArrays(self, input, batch: bool) -> None:
        """The array arguments' shapes against the input's (weights: one a class)."""
        sample = input.shape[batch:]
        for name, axes in self.arrayArguments:
            value = self.arguments[name]
            if value is not None and value.shape != tuple(sample[k] for k in axes):
                raise ValueError(f"{type(self).__name__}: {name} has shape {value.shape} but the input's samples "
                                 f"have shape {sample}: {name} must have shape {tuple(sample[k] for k in axes)}")

    def _constants(self) -> tuple:
        """The given array arguments as the module holds them now."""
        return tuple(getattr(self, a) for a in self._arrays)

    def _sizeArguments(self) -> set:
        return {a for a in self.inputShape if a is not None} | set(self.sizeArguments)

    def _input(self, input, name: str = "input") -> bool:
        """Check ``input``; True for a batch, False for one sample."""
        # the last input's class, shape and dtype checked already: the fast path (integers
        # are read for their bounds every time)
        key = input.__class__, getattr(input, "shape", None), getattr(input, "dtype", None)
        if key == self._inputKey and name == "input":
            return self._inputBatch
        batch = self._checkedInput(input, name)
        if name == "input" and not self.integerInput:
            self._inputKey, self._inputBatch = key, batch
        return batch

    def _name(self) -> str:
        """The module as its messages name it: ``Linear(2 -> 3)`` where Torch7 shows its arguments
        (``shown``), else the class's name."""
        shown = type(self).shown
        if not shown:
            return type(self).__name__
        # Torch7's name, a subclass's too (class MyLinear(Linear) is an nn.Linear(3 -> 2)): the generated class's
        name = next(c.__name__ for c in type(self).__mro__ if "signature" in vars(c))
        if "[" in shown:
            shown = self._optionalParts(shown)
        return f"{name}({shown.format(**self.arguments)})"

    def _optionalParts(self, shown: str) -> str:
        """``shown`` with each part in [] kept where an argument in it, or in a later such part, is
        not its default (an argument that defaults to another: that one's default)."""
        defaults = {}
        for arg, default, _, same_as in self.signature:
            defaults[arg] = defaults[same_as] if same_as is not None else default
        parts = re.split(r"\[(.*?)\]", shown)  # text, optional, text, optional, ...
        keep = False
        for k in range(len(parts) - 2, 0, -2):
            keep = keep or any(self.arguments[a] != defaults[a] for a in re.findall(r"{(\w+)}", parts[k]))
            if not keep:
                parts[k] = ""
        return "".join(parts)

    def _checkedInput(self, input, name: str) -> bool:
        owner = self._name()
        check_array(owner, name, input, self._arrayClass)
        if self.integerInput:
            bound = self.arguments[self.integerInput]
            if input.dtype.kind not in "iu":
                raise TypeError(f"{owner}: {name} must hold integers counted from 0, got dtype {input.dtype}")
            if input.size and (int(input.min()) < 0 or int(input.max()) >= bound):
                raise ValueError(f"{owner}: {name} must hold integers from 0 to {bound - 1} "
                                 f"({self.integerInput} - 1), got {int(input.min())} .. {int(input.max())}")
        elif input.dtype.kind != "f":
            compute_dtype(owner, name, input)  # a TypeError for what holds no real numbers
            if not self.integersAsFloats:
                raise TypeError(f"{owner}: {name} must hold floats, got dtype {input.dtype}")
        if not self.integerInput:
            check_dtype(owner, name, input, self)
        if self.anyShape:
            return False
        rank = len(self.inputShape)
        if rank and None not in self.inputShape and self.namedShapes:  # every size from the constructor
            sample = tuple(self.arguments[a] for a in self.inputShape)
            if input.ndim not in (rank, rank + 1) or input.shape[input.ndim - rank:] != sample:
                batch = f"(batch, {', '.join(map(str, sample))})"
                raise ValueError(f"{owner}: {name} must have shape {sample} or {batch}, got {input.shape}")
        if input.size == 0 and input.ndim in (rank, rank + 1):
            raise ValueError(f"{owner}: {name} must have at least one element, got shape {input.shape}")
        if input.ndim not in (rank, rank + 1):
            raise ValueError(f"{owner}: {name} must have {rank} axes (one sample) or {rank + 1} (a batch), "
                             f"got shape {input.shape}")
        batch = input.ndim == rank + 1
        for axis, (size, arg) in enumerate(zip(input.shape[batch:], self.inputShape)):
            if arg is not None and size != self.arguments[arg]:
                raise ValueError(f"{owner}: {name}'s axis {axis + 1} must have {arg} = {self.arguments[arg]} "
                                 f"entries, got shape {input.shape}")
            if arg is None and size == 0:
                raise ValueError(f"{owner}: {name} has an empty axis, shape {input.shape}")
        return batch


class CatalogueModule(_Catalogued, Module):
    """A module generated from its catalogue entry.

    ``output`` and ``gradInput`` are buffers kept from call to call (Torch7's resize): a call
    with an input (and gradOutput) of the last call's class, shape and dtype passes them to the
    kernels (``out``) and skips the checks already made.  Assigning a parameter or its gradient
    checks it (an array of the module's kind and the slot's shape; ``bias`` may be None)."""

    parameterShapes: tuple = ()  # (Torch7 name, its axes as constructor arguments), in the kernels' order
    outputShape: tuple | None = None  # one sample's output axes as constructor arguments, where they give it
    gradientReadsOutput = True  # the gradient kernels read forward's output: backward must follow forward
    resetRule: tuple = ()  # ((Torch7 names), "uniform", (arguments whose product p gives +-1/sqrt(p))) ...
    _slotShapes: dict = {}  # parameter and gradient name -> its shape: checked when assigned
    _outputKey = None  # (class, shape, dtype) of the input of the forward that made ``output``
    _gradKey = None  # the last checked (input class, shape, dtype, gradOutput class, shape, dtype, batch)
    _gradInputKey = None  # _gradKey of the call that made ``gradInput``
    _paramArrays = _gradArrays = None  # the parameters (their gradients) as the kernels take them
    _kernelArrays = None  # the parameters and the numbers the kernels take after the input
    # The fast paths: the last call's (class, shapes, dtypes, batch) of float arrays whose buffer fits
    _forwardFast = _backwardFast = _gradInputFast = None
    _callCache = _Catalogued._callCache + ("_outputKey", "_gradKey", "_gradInputKey", "_paramArrays", "_gradArrays",
                                           "_kernelArrays", "_forwardFast", "_backwardFast", "_gradInputFast")

    def __init__(self, *args, rng=None, **kwargs) -> None:
        Module.__init__(self)
        self._setArguments(args, kwargs)
        slots, shapes = [], {}
        for name, axes in self.parameterShapes:
            shape = tuple(self._axisSize(a) for a in axes)
            grad = "grad" + name[0].upper() + name[1:]
            setattr(self, name, np.zeros(shape))
            setattr(self, grad, np.zeros(shape))
            slots.append((name, grad))
            shapes[name] = shapes[grad] = shape
        # Linear's slots are Module's own: its flat layout's check is then four `is` inline
        self._parameterSlots = _WEIGHT_BIAS if tuple(slots) == _WEIGHT_BIAS else tuple(slots)
        self._slotShapes = shapes
        if slots:
            self._flatten()
            self.reset(rng=rng)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # backward runs both kernels in one pass, so it would skip an overridden updateGradInput
        # or accGradParameters: such a subclass gets Module's backward, which calls them.
        if "backward" not in cls.__dict__ and (
                "updateGradInput" in cls.__dict__ or "accGradParameters" in cls.__dict__):
            cls.backward = Module.backward
        _unalias(cls, CatalogueModule, Module, "forward", "updateOutput")

    def __setattr__(self, name: str, value) -> None:
        shape = self._slotShapes.get(name)
        if shape is not None:  # a parameter or gradient assigned (weights loaded): checked where it happens
            self._checkParameter(name, value, shape)
            fields = self.__dict__  # the kernels' arguments and the buffers' dtype follow the new array
            for key in ("_paramArrays", "_gradArrays", "_kernelArrays", "_outputKey", "_gradInputKey", "_forwardFast",
                        "_backwardFast", "_gradInputFast"):
                fields[key] = None
            # and the flat layout is gone (updateParameters takes a layout it finds as intact);
            # _flatten makes it anew after it has assigned the views
            fields["_flat"] = None
        object.__setattr__(self, name, value)

    def _axisSize(self, axis) -> int:
        """The size of a parameter's axis: its argument's value (derive.nn.windowed: or a rule's)."""
        return self.arguments[axis]

    def _checkParameter(self, name: str, value, shape: tuple) -> None:
        """Raise unless ``value`` is a floating array of the module's kind and the slot's shape
        (or None for bias and gradBias: Torch7's layers without bias)."""
        if value is None and name in ("bias", "gradBias"):
            return
        check_array(self._name(), name, value, self._arrayClass)
        if value.shape != shape:
            raise ValueError(f"{self._name()}: {name} must have shape {shape}, got {value.shape}")
        if value.dtype.kind != "f":
            raise TypeError(f"{self._name()}: {name} must hold floating-point numbers, got dtype {value.dtype}")

    def _sizeArguments(self) -> set:
        return super()._sizeArguments() | {a for _, axes in self.parameterShapes for a in axes}

    def reset(self, stdv: float | None = None, rng=None):
        """Torch7's initialisation (``resetRule``); ``stdv`` draws U(-stdv sqrt(3), stdv sqrt(3))
        instead, as Torch7's reset(stdv)."""
        if stdv is not None:
            stdv = real_number(f"{self._name()}.reset", "stdv", stdv, minimum=0)
        rng = np.random.default_rng(rng)
        for names, kind, value in self.resetRule:
            for name in names:
                array = getattr(self, name)
                if array is None:  # left out (Bilinear without bias)
                    continue
                xp = namespace(array)
                if kind == "uniform":
                    s = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(
                        math.prod(self.arguments[a] for a in value))
                    array[...] = xp.asarray(rng.uniform(-s, s, array.shape))
                elif kind == "unit":  # U[0, 1)
                    array[...] = xp.asarray(rng.uniform(0, 1, array.shape))
                elif kind == "normal":
                    array[...] = xp.asarray(rng.standard_normal(array.shape))
                else:  # "fill"
                    array[...] = value
        return self

    def noBias(self):
        """Drop bias and gradBias (Torch7's noBias): the module computes as one built with
        bias=false, on the weight it has; returns the module."""
        cls = type(self)
        if "bias" not in cls.structure or cls.variantParameters is None:
            raise TypeError(f"{self._name()} has no bias to drop")
        if not self.arguments["bias"]:
            return self
        self.arguments = {**self.arguments, "bias": False}
        key = tuple(self.arguments[a] for a in cls.structure)
        self._kernels = cls.kernels[key]
        names, arguments = cls.variantParameters[key]
        self.parameterShapes = tuple(p for p in cls.parameterShapes if p[0] in names)
        self.kernelArguments = arguments  # a table's (Bilinear's): its kernels' arguments without b
        self._parameterSlots = tuple(pair for pair in self._parameterSlots if pair[0] in names)
        self.bias = self.gradBias = None
        self._flat = None  # the flat layout held the bias: the update goes parameter by parameter
        return self

    def updateParameters(self, learningRate: float) -> None:
        """Gradient-descent step in place: p -= learningRate * gradP; one array operation where the
        parameters are views into one flat array (an assigned parameter drops that layout:
        __setattr__), else Module's walk."""
        flat = self._flat
        if flat is None or learningRate.__class__ is not float or learningRate - learningRate != 0:
            return Module.updateParameters(self, learningRate)  # checks learningRate
        params = flat[0]
        params -= learningRate * flat[1]

    def parameters(self):
        """The live arrays ([parameters], [their gradients]) in Torch7's order, or None."""
        if not self._parameterSlots:
            return None
        return ([getattr(self, p) for p, _ in self._parameterSlots],
                [getattr(self, g) for _, g in self._parameterSlots])

    def _params(self) -> tuple:
        params = self._paramArrays
        if params is None:
            params = self.__dict__["_paramArrays"] = tuple(getattr(self, p) for p, _ in self._parameterSlots)
        return params

    def _grads(self) -> tuple:
        grads = self._gradArrays
        if grads is None:
            grads = self.__dict__["_gradArrays"] = tuple(getattr(self, g) for _, g in self._parameterSlots)
        return grads

    def _operands(self) -> tuple:
        """The parameters and the numbers the kernels take after the input, in their order."""
        arrays = self._kernelArrays
        if arrays is None:
            arrays = self.__dict__["_kernelArrays"] = self._params() + self._scalars
        return arrays

    def updateOutput(self, input):
        fast, buffer = self._forwardFast, self.output
        if (fast is not None and input.__class__ is fast[0] and input.shape == fast[1] and input.dtype is fast[2]
                and input is not buffer and input.base is not buffer):
            return fast[3](input, *self._kernelArrays, buffer)  # the buffer, returned
        batch = self._input(input)
        if self._arrays:
            self._checkArrays(input, batch)
        key = input.__class__, input.shape, input.dtype
        buffer = self.output
        # the last forward's buffer fits an input like its own (never one that is, or views, it)
        out = buffer if key == self._outputKey and input is not buffer and input.base is not buffer else None
        result = self._kernels[batch][0](input if input.dtype.kind == "f" else self._floats(input), *self._operands(),
                                         out)
        if result is not buffer:
            self.output = kept(buffer, result)
            self._outputKey = key
        # next time straight to the kernel, where it writes into the buffer and takes the input as it is
        self._forwardFast = key + (self._kernels[batch][0],) if result is buffer and input.dtype.kind == "f" else None
        return self.output

    forward = updateOutput

    def _checkGradOutput(self, gradOutput) -> None:
        """Raise unless gradOutput is an array of this module's kind holding its float type (Torch
        refuses mixed types, as for the input; nothing is converted silently)."""
        owner = self._name()
        check_array(owner, "gradOutput", gradOutput, self._arrayClass)
        if gradOutput.dtype.kind != "f":
            raise TypeError(f"{owner}: gradOutput must hold floats, got dtype {gradOutput.dtype}")
        check_dtype(owner, "gradOutput", gradOutput, self)

    def _gradOutput(self, input, gradOutput) -> bool:
        """Check input and gradOutput; True for a batch. The last call's arrays' kind passes at once."""
        last = self._gradKey
        if (last is not None and input.__class__ is last[0] and gradOutput.__class__ is last[0]
                and input.shape == last[1] and input.dtype == last[2] and gradOutput.shape == last[3]
                and gradOutput.dtype == last[4] and (not self.gradientReadsOutput or last[:3] == self._outputKey)):
            return last[5]
        batch = self._input(input)
        owner = self._name()
        self._checkGradOutput(gradOutput)
        if not self.gradientReadsOutput and self.anyShape:  # element-wise from the input: no forward needed
            if gradOutput.shape != input.shape:
                raise ValueError(f"{owner}: gradOutput must have the shape of the output, {input.shape}, "
                                 f"got {gradOutput.shape}")
        elif not self.gradientReadsOutput and self.outputShape is not None:  # the output's shape from the sizes
            expected = input.shape[:batch] + tuple(self.arguments[a] for a in self.outputShape)
            if gradOutput.shape != expected:
                raise ValueError(f"{owner}: gradOutput must have shape {expected} (the output's, for input "
                                 f"{input.shape}), got {gradOutput.shape}")
        else:
            seen = self._outputKey
            if self.gradientReadsOutput and seen != (input.__class__, input.shape, input.dtype):
                seen = "no forward yet" if seen is None else f"last forward input: {seen[1]}, {seen[2]}"
                raise ValueError(f"{owner}: backward reads the output of forward: call forward(input) first "
                                 f"({seen}; got {input.shape}, {input.dtype})")
            if gradOutput.shape != self.output.shape:
                raise ValueError(f"{owner}: gradOutput must have the shape of the output of forward(input), "
                                 f"{self.output.shape}, got {gradOutput.shape}")
        self._gradKey = (input.__class__, input.shape, input.dtype, gradOutput.shape, gradOutput.dtype, batch)
        return batch

    def _gradInputBuffer(self, input, gradOutput):
        """gradInput, where the last call made it for arrays like these (and neither is, or views, it)."""
        buffer = self.gradInput
        if (self._gradInputKey is not self._gradKey or input is buffer or gradOutput is buffer
                or input.base is buffer or gradOutput.base is buffer):
            return None
        return buffer

    def _keep(self, result):
        """gradInput made by a kernel: kept in the module's buffer."""
        if result is not self.gradInput:
            self.gradInput = kept(self.gradInput, result)
            self._gradInputKey = self._gradKey
        return self.gradInput

    def updateGradInput(self, input, gradOutput):
        """gradInput = dJ/dinput; reads the output of the last forward."""
        fast, buffer = self._gradInputFast, self.gradInput
        if (fast is not None and input.__class__ is fast[0] and gradOutput.__class__ is fast[0]
                and (input.shape, input.dtype, gradOutput.shape, gradOutput.dtype) == fast[1]
                and (fast[3] or self._outputKey is fast[4]) and input is not buffer and gradOutput is not buffer
                and input.base is not buffer and gradOutput.base is not buffer):
            return fast[2](input, *self._kernelArrays, self.output, gradOutput, buffer)  # as backward's fast path
        batch = self._gradOutput(input, gradOutput)
        out = self._gradInputBuffer(input, gradOutput)
        floats = input.dtype.kind == "f"
        result = self._kernels[batch][1](input if floats else self._floats(input), *self._operands(), self.output,
                                         gradOutput, out)
        self._gradInputFast = (self._fastRecord(self._kernels[batch][1])
                               if result is out and floats and gradOutput.dtype.kind == "f" else None)
        return self._keep(result)

    def accGradParameters(self, input, gradOutput, scale=1.0):
        """Add scale * dJ/dparameter to each gradient."""
        if not self._parameterSlots:
            return
        if scale.__class__ is not float or scale - scale != 0:
            scale = check_scale(self._name(), scale)
        batch = self._gradOutput(input, gradOutput)
        input = input if input.dtype.kind == "f" else self._floats(input)
        self._kernels[batch][2](input, *self._operands(), self.output, gradOutput, scale, *self._grads())

    def backward(self, input, gradOutput, scale=1.0):
        """updateGradInput then accGradParameters (in one pass where the layer has parameters)."""
        # the fast path first: only a layer with parameters has one (a slow call below made it)
        fast, buffer = self._backwardFast, self.gradInput
        if (fast is not None and input.__class__ is fast[0] and gradOutput.__class__ is fast[0]
                and (input.shape, input.dtype, gradOutput.shape, gradOutput.dtype) == fast[1]
                and (fast[3] or self._outputKey is fast[4]) and input is not buffer and gradOutput is not buffer
                and input.base is not buffer and gradOutput.base is not buffer):
            if scale.__class__ is not float or scale - scale != 0:
                scale = check_scale(self._name(), scale)
            # both caches are set where the fast path is (a slow call made them)
            return fast[2](input, *self._kernelArrays, self.output, gradOutput, scale, *self._gradArrays, buffer)
        if not self._parameterSlots:
            return self.updateGradInput(input, gradOutput)
        if scale.__class__ is not float or scale - scale != 0:
            scale = check_scale(self._name(), scale)
        batch = self._gradOutput(input, gradOutput)
        out = self._gradInputBuffer(input, gradOutput)
        floats = input.dtype.kind == "f"
        result = self._kernels[batch][3](input if floats else self._floats(input), *self._operands(), self.output,
                                         gradOutput, scale, *self._grads(), out)
        # next time straight to the kernel, as the buffer fits these arrays
        self._backwardFast = (self._fastRecord(self._kernels[batch][3])
                              if result is out and floats and gradOutput.dtype.kind == "f" else None)
        return self._keep(result)

    def _fastRecord(self, kernel) -> tuple:
        """What a next call like the one just checked compares before it goes straight to ``kernel``:
        (array class, (input's shape and dtype, gradOutput's), kernel, no forward to match, and the
        last forward's ``_outputKey`` itself: a forward of another shape since makes a new one)."""
        key = self._gradKey
        return key[0], key[1:5], kernel, not self.gradientReadsOutput, self._outputKey

    def __repr__(self) -> str:
        if self.shown:  # Torch7's: nn.Linear(2 -> 3), and without bias where a bias was dropped
            dropped = any(p == "bias" for p, _ in type(self).parameterShapes) and self.bias is None
            return f"nn.{self._name()}" + (" without bias" if dropped else "")
        shown = ", ".join(f"{v}" for v in self.arguments.values())
        return f"nn.{type(self).__name__}" + (f"({shown})" if shown else "")  # Torch7's: nn.Tanh


class CatalogueCriterion(_Catalogued, Criterion):
    """A criterion generated from its catalogue entry: a target of the input's shape, or class
    numbers counted from 0 (``classTarget``: one a sample, or a list of them).

    A call with arrays of the last call's class, shape and dtype skips the checks that call made;
    class numbers are checked every forward, and by a backward unless it has the very target
    array its forward checked (change it in place in between, and backward reads it unchecked)."""

    classTarget: int | None = None  # class targets: the axes of one sample's (0: one class, 1: a list)
    targetEnd: int | None = None  # a list of the input's shape, ending at its first such number (PyTorch's -1)
    # forward computes the gradient too (it shares the loss's exponentials: a cross-entropy's
    # softmax) and keeps it for a backward of the very same input and target arrays, as Torch7's
    # CrossEntropyCriterion reads its LogSoftMax's output: change neither in place in between
    forwardKeepsGradient = False
    _kept = None  # (input, target, gradient) of the last forward
    _targetKey = None  # (shape, dtype, input's shape) of the last class target that passed the checks
    _unsigned = None  # its dtype read as unsigned
    # the last call's (array class, (input shape and dtype, target's), the classes (0: no class
    # target), forward's kernel, the arguments after the target, forwardKeepsGradient, the gradient
    # kernel, whether forward's kernel refuses a class too large: _gathersClasses), where both were
    # float arrays (or class numbers) that passed every check but the classes' values
    _callFast = None
    # the class target whose values the last forward checked: its backward of that very array reads
    # them as checked (as CrossEntropyCriterion's kept gradient: change neither in place in between)
    _classesChecked = None
    # (gradInput's buffer, the shapes and dtypes, classes, gradient kernel, arguments) of the last
    # gradient written into that buffer by the kernel: a next one like it goes straight there
    _gradFast = None
    _callCache = _Catalogued._callCache + ("_kept", "_targetKey", "_callFast", "_classesChecked", "_gradFast")

    def __init__(self, *args, **kwargs) -> None:
        Criterion.__init__(self)
        self._setArguments(args, kwargs)

    def _check(self, input, target) -> bool:
        batch = self._input(input)
        owner = type(self).__name__
        check_array(owner, "target", target, self._arrayClass)
        if self._arrays:
            self._checkArrays(input, batch)
        if self.classTarget is not None:
            return self._checkClasses(input, target, batch)
        compute_dtype(owner, "target", target, self)  # real numbers, floats of the module's dtype
        if target.shape != input.shape:
            raise ValueError(f"{owner}: input and target must have the same shape, "
                             f"got input {input.shape} and target {target.shape}")
        return batch

    def _checkClasses(self, input, target, batch: bool) -> bool:
        owner, classes = type(self).__name__, input.shape[-1]
        key = target.shape, target.dtype, input.shape
        if key != self._targetKey:  # the last target's shape and dtype passed: only its values to check
            lead = input.shape[:1] if batch else ()
            if target.dtype.kind not in "iu":
                raise TypeError(f"{owner}: target must hold class numbers (integers counted from 0), "
                                f"got dtype {target.dtype}")
            if target.ndim != len(lead) + self.classTarget or target.shape[:len(lead)] != lead or 0 in target.shape:
                what = "one class" if not self.classTarget else "a list of classes"
                raise ValueError(f"{owner}: target must be {what} a sample, shape {lead + ('K',) * self.classTarget}, "
                                 f"got {target.shape} for an input of shape {input.shape}")
            self._targetKey, self._unsigned = key, np.dtype(target.dtype.str.replace("i", "u"))
        if self.targetEnd is not None:
            return self._checkList(input, target, batch)
        self._checkClassValues(target, classes)
        return batch

    def _checkClassValues(self, target, classes: int) -> None:
        """Raise unless every class of ``target`` (its shape and dtype checked) is below ``classes``."""
        # one pass: read as unsigned, a negative class is too large too; on numpy the largest is found
        # by argmax, which has none of a ufunc reduction's set-up (a fifth of .max()'s time on a
        # batch's few targets)
        unsigned = target.view(self._unsigned)
        if (unsigned.item(unsigned.argmax()) if target.__class__ is ndarray else unsigned.max()) >= classes:
            self._refuseClasses(target, classes)

    def _refuseClasses(self, target, classes: int):
        """The ValueError of a target holding a number that is no class (below 0, or ``classes`` or more)."""
        # no backward reads these classes unchecked, nor the gradient of a forward before
        self._classesChecked = self._kept = None
        raise ValueError(f"{type(self).__name__}: target must hold classes from 0 to {classes - 1}, "
                         f"got {int(target.min())} .. {int(target.max())}") from None  # not numpy's IndexError

    def _checkList(self, input, target, batch: bool) -> bool:
        """A list of classes of the input's shape, ended by its first ``targetEnd`` (PyTorch's -1);
        every entry, those after the end too, a class or the end."""
        owner, classes, end = type(self).__name__, input.shape[-1], self.targetEnd
        if target.shape != input.shape:
            raise ValueError(f"{owner}: target must have the input's shape {input.shape} (classes, then {end} "
                             f"where the list ends), got {target.shape}")
        wrong = (target != end) & ((target < 0) | (target >= classes))
        if wrong.any():
            raise ValueError(f"{owner}: target must hold classes from 0 to {classes - 1} or {end} (the list's end), "
                             f"got {int(target[wrong].flat[0])}")
        return batch

    def _targetValues(self, target):
        """The target as the kernels read it: class numbers as they are, real targets as floats."""
        return target if self.classTarget is not None else self._floats(target)

    def _target(self, target):
        """One sample's class may be an int, as ClassNLLCriterion's (Torch7's convention)."""
        if self.classTarget == 0 and isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_)):
            return np.asarray(target)
        return target

    def _call(self, kernel: int, input, target, out=None):
        """The kernel's result for a checked input and target: one sample with weights as a batch
        of one (a total weight 0 gives nan, as PyTorch's), a gradient back to the sample's shape.
        ``out``: gradInput's buffer, for the gradient kernel (kernel 1) where it fits. The slow path:
        every check, and the record of what a next call like this one may skip (``_callFast``)."""
        target, self._classesChecked = self._target(target), None
        batch = self._check(input, target)
        if kernel != 1 and self.classTarget is not None:
            self._classesChecked = target
        # next time the checks made here are one comparison (see updateOutput): float arrays of these
        # shapes and dtypes (no weights: an assigned weights array is checked against the input on
        # the slow path), and the constants these shapes gave (a crop's offsets) with the numbers
        kernels = self._kernels[batch]
        fits = (target.__class__ is input.__class__ and input.dtype.kind == "f" and not self._arrays
                and self.targetEnd is None and (self.classTarget is not None or target.dtype.kind == "f"))
        forward = kernels[3] if self.forwardKeepsGradient else kernels[0]
        arguments = tuple(self._constants()) + self._scalars
        self._callFast = ((input.__class__, (input.shape, input.dtype, target.shape, target.dtype),
                           input.shape[-1] if self.classTarget is not None else 0, forward, arguments,
                           self.forwardKeepsGradient, kernels[1],
                           self.classTarget is not None and self._gathersClasses(forward, input, target, arguments))
                          if fits else None)
        input, sample = self._floats(input), self._arrays and not batch
        if sample:
            input, target, batch, out = input[None], target[None], True, None
        kernels = self._kernels[batch]
        if kernel == 1 and out is not None:
            return kernels[1](input, self._targetValues(target), *self._constants(), *self._scalars, out=out)
        result = kernels[kernel](input, self._targetValues(target), *self._constants(), *self._scalars)
        if sample and kernel:
            return result[0] if kernel == 1 else (result[0], result[1][0])
        return result

    def _gathersClasses(self, forward, input, target, arguments: tuple) -> bool:
        """Whether ``forward`` refuses (numpy's IndexError) a target like this one with a single class
        too large: its gather of the input at the target checks every index, so a forward of these
        shapes need only look for negative classes (numpy reads those from the end). Tried once, on
        a copy, when the checks for these shapes are made."""
        if input.__class__ is not ndarray or target.dtype.kind != "i" or input.shape[-1] > np.iinfo(target.dtype).max:
            return False
        probe = target.copy()
        probe.flat[-1] = input.shape[-1]
        try:
            forward(input, probe, *arguments)
        except IndexError:
            return True
        return False

    def updateOutput(self, input, target):
        """The loss; for a batch, as Torch7 reduces it (sizeAverage)."""
        fast = self._callFast
        if (fast is not None and input.__class__ is fast[0] and target.__class__ is fast[0]
                and (input.shape, input.dtype, target.shape, target.dtype) == fast[1]):
            if fast[2]:  # class numbers, read on every forward (_checkClassValues inline: a call fewer)
                if fast[7]:  # the kernel's gather refuses a class too large: the smallest is left to check
                    if target.item(target.argmin()) < 0:
                        self._refuseClasses(target, fast[2])
                else:
                    unsigned = target.view(self._unsigned)
                    if (unsigned.item(unsigned.argmax()) if fast[0] is ndarray else unsigned.max()) >= fast[2]:
                        self._refuseClasses(target, fast[2])
                self._classesChecked = target
            try:  # (no arguments: a call without *, which costs a third of an empty call more)
                result = fast[3](input, target, *fast[4]) if fast[4] else fast[3](input, target)
            except IndexError:  # numpy's, for a class too large: the one-line ValueError instead
                if fast[2]:
                    self._checkClassValues(target, fast[2])
                raise
            if fast[5]:
                self.output, grad = result
                self._kept = input, target, grad
            else:
                self.output = result
            return self.output
        if self.forwardKeepsGradient:
            self.output, grad = self._call(3, input, target)
            self._kept = input, target, grad
        else:
            self.output = self._call(0, input, target)
        return self.output

    def updateGradInput(self, input, target):
        """dJ/dinput; the one forward kept where that forward had these very arrays."""
        last = self._kept
        if last is not None and last[0] is input and last[1] is target:
            return self._intoGradInput(input, last[2])
        buffer, fast = self.gradInput, self._gradFast
        # the arrays of the last call that wrote into this very buffer (neither array is, or views, it)
        if (fast is not None and buffer is fast[0] and input.__class__ is buffer.__class__
                and target.__class__ is buffer.__class__ and (input.shape, input.dtype, target.shape, target.dtype)
                == fast[1] and input is not buffer and target is not buffer and input.base is not buffer
                and target.base is not buffer):
            if fast[2] and target is not self._classesChecked:  # class numbers its forward did not read
                self._checkClassValues(target, fast[2])
            return fast[3](input, target, *fast[4], buffer)
        # written in place where it fits and neither array is, or views, it
        fits = (buffer.__class__ is input.__class__ and buffer.shape == input.shape and buffer.dtype is input.dtype
                and input is not buffer and target is not buffer and input.base is not buffer
                and getattr(target, "base", None) is not buffer)
        grad = self._call(1, input, target, buffer if fits else None)
        call = self._callFast
        if grad is buffer:  # written in place, in the input's floats: next time straight to the kernel
            self._gradFast = None if call is None else (buffer, call[1], call[2], call[6], call[4])
            return buffer
        self._gradFast = None
        return self._intoGradInput(input, grad)

    def _intoGradInput(self, input, grad):
        """``grad`` in the gradInput buffer (kept), in the input's floats."""
        buffer = self.gradInput
        if buffer.__class__ is grad.__class__ and buffer.shape == grad.shape and buffer.dtype is input.dtype:
            buffer[...] = grad  # (cast on the way, where grad is an indicator's float64)
            return buffer
        if grad.dtype != input.dtype:  # an indicator's float64 ones (a class target's): the input's floats
            grad = grad.astype(self._floats(input).dtype, copy=False)
        self.gradInput = kept(buffer, grad)
        return self.gradInput

    # one call fewer a step (a class whose updateOutput or updateGradInput is another, its own or
    # a mixin's, gets Criterion's forward or backward, which call them: __init_subclass__)
    forward, backward = updateOutput, updateGradInput

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        _unalias(cls, CatalogueCriterion, Criterion, "forward", "updateOutput")
        _unalias(cls, CatalogueCriterion, Criterion, "backward", "updateGradInput")


class _Program:
    """What a class generated from a program shares (a table of inputs, statements): its kernels
    return every value of the program, the output is one of them (``outputPosition``), and the
    kernels take after the inputs (and target) the ``kernelArguments``: learned parameters and
    constructor numbers, in the program's order."""

    inputShapes: tuple = ()  # each input's axes: a constructor argument's name, or None
    integersAsFloats = False
    namedShapes = False  # a table's messages name the argument each axis follows
    kernelArguments: tuple = ()  # ("parameter", Torch7 name) or ("scalar", argument), in order
    outputPosition = 0
    outputPositions: tuple = ()  # several outputs (a list, as Torch7's table): where each is among the values

    def _arguments(self) -> tuple:
        return tuple(getattr(self, name) if kind == "parameter" else self.arguments[name]
                     for kind, name in self.kernelArguments)

    def _table(self, input, name: str = "input") -> tuple[tuple, bool]:
        """The table's arrays and whether they are a batch (all of them, of one size)."""
        owner = type(self).__name__
        if len(self.inputShapes) == 1:
            values = (input,)
        elif not isinstance(input, (list, tuple)) or len(input) != len(self.inputShapes):
            raise ValueError(f"{owner}: {name} must be a list of {len(self.inputShapes)} arrays, "
                             f"got {type(input).__name__}")
        else:
            values = tuple(input)
        batch = None
        for k, (value, axes) in enumerate(zip(values, self.inputShapes)):
            self.inputShape = axes  # _input checks one array against its axes
            now = self._input(value, f"{name} {k + 1}" if len(values) > 1 else name)
            size = value.shape[0] if now else None
            if k and size != batch:
                raise ValueError(f"{owner}: the inputs must all be one sample or all a batch of the same size")
            batch = size
        return values, batch is not None


class CatalogueTable(_Program, CatalogueModule):
    """A module generated from a program entry: a table of inputs (a list) or statements."""

    def _sizeArguments(self) -> set:
        return {a for axes in self.inputShapes for a in axes if a} | {a for _, axes in self.parameterShapes
                                                                      for a in axes}

    def updateOutput(self, input):
        inputs, batch = self._table(input)
        self._values = self._kernels[batch][0](*inputs, *self._arguments())
        if self.outputPositions:
            self.output = [self._values[k] for k in self.outputPositions]
        else:
            self.output = self._values[self.outputPosition]
        return self.output

    def _run(self, input, gradOutput) -> tuple:
        """(the inputs, whether a batch, every output's gradient) checked against the last forward."""
        inputs, batch = self._table(input)
        owner = type(self).__name__
        outputs = self.output if self.outputPositions else [self.output]
        if self.outputPositions and (not isinstance(gradOutput, (list, tuple)) or len(gradOutput) != len(outputs)):
            raise ValueError(f"{owner}: gradOutput must be a list of {len(outputs)} arrays (one for each output), "
                             f"got {type(gradOutput).__name__}")
        grads = list(gradOutput) if self.outputPositions else [gradOutput]
        for k, (grad, output) in enumerate(zip(grads, outputs)):
            name = f"gradOutput {k + 1}" if self.outputPositions else "gradOutput"
            check_array(owner, name, grad, self._arrayClass)
            if grad.shape != output.shape:
                raise ValueError(f"{owner}: {name} must have the shape of the output of forward(input), "
                                 f"{output.shape}, got {grad.shape}")
        return inputs, batch, grads

    def updateGradInput(self, input, gradOutput):
        """gradInput (a list for a table); reads the values of the last forward."""
        inputs, batch, grads = self._run(input, gradOutput)
        self.gradInput = self._kernels[batch][1](*inputs, *self._arguments(), *self._values, *grads)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        if not self._parameterSlots:
            return
        scale = check_scale(type(self).__name__, scale)
        inputs, batch, grads = self._run(input, gradOutput)
        self._kernels[batch][2](*inputs, *self._arguments(), *self._values, *grads, scale, *self._programGrads())

    def backward(self, input, gradOutput, scale=1.0):
        if not self._parameterSlots:
            return self.updateGradInput(input, gradOutput)
        scale = check_scale(type(self).__name__, scale)
        inputs, batch, grads = self._run(input, gradOutput)
        self.gradInput = self._kernels[batch][3](*inputs, *self._arguments(), *self._values, *grads, scale,
                                                 *self._programGrads())
        return self.gradInput

    def _programGrads(self) -> tuple:
        """A gradient array for every kernel argument (a number's is a scratch array, never read)."""
        grads = dict(zip((p for p, _ in self._parameterSlots), self._grads()))
        return tuple(grads[name] if kind == "parameter" else np.zeros(())
                     for kind, name in self.kernelArguments)


class CatalogueTableLoss(CatalogueTable):
    """A program ending in a loss that learns parameters (SoftmaxRegression, Ninja), as derive's
    user programs: ``forward(input, target)`` is the loss (a batch's: the mean of its samples'),
    ``backward(input, target, scale)`` returns gradInput and adds scale times each parameter's
    gradient, ``accGradParameters(input, target, scale)`` adds them alone."""

    targetShape: tuple = ()  # the target's axes: an argument's name, an axis of the first input (its number), or None
    integerTarget: str | None = None  # class numbers counted from 0, below this argument

    def _check(self, input, target) -> tuple[tuple, bool]:
        inputs, batch = self._table(input)
        owner = type(self).__name__
        check_array(owner, "target", target, self._arrayClass)
        want = self._targetWanted(inputs, batch)
        if len(target.shape) != len(want) or any(w is not None and w != t for w, t in zip(want, target.shape)):
            shown = tuple("any" if w is None else w for w in want)
            raise ValueError(f"{owner}: target must have shape {shown}, got {target.shape}")
        if self.integerTarget:
            bound = self.arguments[self.integerTarget]
            if target.dtype.kind not in "iu":
                raise TypeError(f"{owner}: target must hold class numbers (integers counted from 0), "
                                f"got dtype {target.dtype}")
            if target.size and (int(target.min()) < 0 or int(target.max()) >= bound):
                raise ValueError(f"{owner}: target must hold classes from 0 to {bound - 1} ({self.integerTarget} - 1), "
                                 f"got {int(target.min())} .. {int(target.max())}")
        else:
            compute_dtype(owner, "target", target, self)
            target = self._floats(target) if target.dtype.kind in "iu" else target
        return inputs + (target,), batch

    def _targetWanted(self, inputs, batch: bool) -> tuple:
        """The target's shape for these inputs (None: any size)."""
        lead = inputs[0].shape[:1] if batch else ()
        return lead + tuple(self.arguments[a] if isinstance(a, str) else inputs[0].shape[len(lead) + a]
                            if isinstance(a, int) else None for a in self.targetShape)

    def forward(self, input, target):
        return self.updateOutput(input, target)

    def updateOutput(self, input, target):
        """The loss; for a batch, the mean of the samples' losses."""
        given, batch = self._check(input, target)
        self._values = self._kernels[batch][0](*given, *self._arguments())
        loss = self._values[self.outputPosition]
        self.output = float(loss.mean()) if batch else float(loss)
        return self.output

    def _forwarded(self, input, target) -> tuple[tuple, bool]:
        given, batch = self._check(input, target)
        self._values = self._kernels[batch][0](*given, *self._arguments())  # this input's values
        return given, batch

    def updateGradInput(self, input, target):
        """dJ/dinput."""
        given, batch = self._forwarded(input, target)
        self.gradInput = self._kernels[batch][1](*given, *self._arguments(), *self._values)
        return self.gradInput

    def accGradParameters(self, input, target, scale=1.0):
        """Add scale * dJ/dparameter to each gradient."""
        scale = check_scale(type(self).__name__, scale)
        given, batch = self._forwarded(input, target)
        self._kernels[batch][2](*given, *self._arguments(), *self._values, scale, *self._programGrads())

    def backward(self, input, target, scale=1.0):
        """gradInput, and scale * dJ/dparameter added to each gradient, in one walk."""
        scale = check_scale(type(self).__name__, scale)
        given, batch = self._forwarded(input, target)
        self.gradInput = self._kernels[batch][3](*given, *self._arguments(), *self._values, scale,
                                                 *self._programGrads())
        return self.gradInput


class CatalogueTableCriterion(_Program, CatalogueCriterion):
    """A criterion generated from a program entry (a pair of inputs): one target a sample (or one
    of the first input's shape); a batch's loss is the mean of the samples' (the sum with
    sizeAverage = false)."""

    targetLikeInput = False

    def _sizeArguments(self) -> set:
        return {a for axes in self.inputShapes for a in axes if a}

    def _check(self, input, target):
        inputs, batch = self._table(input)
        owner = type(self).__name__
        if not batch and not self.targetLikeInput and isinstance(target, (int, float)) \
                and not isinstance(target, bool):  # Torch7's forward({x1, x2}, y) with y a number
            target = namespace(inputs[0]).asarray(target, dtype=inputs[0].dtype)
        check_array(owner, "target", target, self._arrayClass)
        want = inputs[0].shape if self.targetLikeInput else (inputs[0].shape[0],) if batch else ()
        if target.shape != want:
            what = "the first input's" if self.targetLikeInput else "one a sample"
            raise ValueError(f"{owner}: target must have shape {want} ({what}), got {target.shape}")
        return inputs, batch

    def _average(self) -> bool:
        return self.arguments.get("sizeAverage", True)

    def updateOutput(self, input, target):
        inputs, batch = self._check(input, target)
        self._values = self._kernels[batch][0](*inputs, target, *self._arguments())
        loss = self._values[self.outputPosition]
        self.output = float(loss.mean() if self._average() else loss.sum()) if batch else float(loss)
        return self.output

    def updateGradInput(self, input, target):
        """dJ/dinput, a list (the values of this input's forward)."""
        inputs, batch = self._check(input, target)
        self._values = self._kernels[batch][0](*inputs, target, *self._arguments())
        grads = self._kernels[batch][1](*inputs, target, *self._arguments(), *self._values)
        if batch and not self._average():  # the kernels' batch loss is the mean
            grads = [g * inputs[0].shape[0] for g in grads]
        self.gradInput = grads
        return self.gradInput

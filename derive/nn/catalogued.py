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

import numpy as np

from ._backend import namespace
from .criterion import Criterion
from .module import check_array, check_dtype, check_scale, compute_dtype, Module

REQUIRED = "required"  # a signature's default for an argument that has none


def kept(buffer, result):
    """``result`` written into ``buffer`` and ``buffer`` returned, where it has the result's
    shape and dtype; else a new buffer holding ``result`` (Torch7's resize: forward and backward
    return the module's own arrays, the same ones every call of one shape)."""
    if buffer.__class__ is not result.__class__ or buffer.shape != result.shape or buffer.dtype != result.dtype:
        return result.copy()  # never the kernel's own result: that may be the caller's input
    buffer[...] = result
    return buffer


def _arguments(cls, args: tuple, kwargs: dict) -> dict:
    """The constructor's arguments by Torch7 name, checked against the class's signature."""
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
        if kind is np.ndarray:  # an array constant (Torch7's weights tensor), or nil
            out[arg] = None if given.get(arg) is None else _array_argument(name, arg, given[arg], len(cls.inputShape))
            continue
        if arg in given and given[arg] is not None:
            value = given[arg]
        elif same_as is not None:
            value = out[same_as]
        elif default == REQUIRED:
            raise TypeError(f"{name}: missing argument {arg}")
        else:
            value = default
        if kind is float and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            value = float(value)
        if kind is bool and isinstance(value, np.bool_):
            value = bool(value)
        if kind is int and isinstance(value, np.integer):
            value = int(value)
        if not isinstance(value, kind) or kind is not bool and isinstance(value, bool):
            raise TypeError(f"{name}: {arg} must be {kind.__name__}, got {value!r}")
        if kind is float and not math.isfinite(value):
            raise ValueError(f"{name}: {arg} must be finite, got {value!r}")
        out[arg] = value
    return out


def _array_argument(owner: str, arg: str, value, rank: int) -> np.ndarray:
    """An array constant of the constructor (of one sample's shape of the input: ``rank`` axes)
    as a float64 copy, if it holds finite non-negative real numbers (weights); else a one-line
    TypeError or ValueError."""
    check_array(owner, arg, value)
    if value.dtype.kind not in "iuf":
        raise TypeError(f"{owner}: {arg} must hold real numbers, got dtype {value.dtype}")
    if value.ndim != rank or value.size == 0:
        raise ValueError(f"{owner}: {arg} must have one sample's shape of the input ({rank} axes, not empty), "
                         f"got shape {value.shape}")
    copy = value.astype(np.float64)
    if not np.all(np.isfinite(copy)) or np.any(copy < 0):
        raise ValueError(f"{owner}: {arg} must be finite and non-negative, got {value}")
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
    structure: tuple[str, ...] = ()  # the arguments whose values pick the kernels
    kernels: dict = {}  # structure values -> ((sample kernels), (batch kernels))
    # structure values -> (their parameters' Torch7 names, a program's kernel arguments), where
    # the values change them (Bilinear without bias)
    variantParameters: dict | None = None
    # constructor arguments that are arrays (or None), each of one sample's shape of the input:
    # the kernels take those given, after the target, before the numbers
    arrayArguments: tuple[str, ...] = ()
    # integers are read as the module's floats (Torch7's element-wise modules and MSECriterion);
    # elsewhere a TypeError
    integersAsFloats = True
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
        self.arguments = _arguments(cls, args, kwargs)
        taken = {"weight", "bias", "gradWeight", "gradBias", "output", "gradInput", "train"}
        for key, value in self.arguments.items():  # Torch7 keeps its arguments as fields (self.alpha)
            if key not in taken:  # Bilinear's bias argument is no bias array: in self.arguments only
                setattr(self, key, value)
        for key, value in self.arguments.items():
            if cls.signature[[a[0] for a in cls.signature].index(key)][2] is int and key in self._sizeArguments() \
                    and value < 1:
                raise ValueError(f"{cls.__name__}: {key} must be a positive integer, got {value}")
        key = tuple(self.arguments[a] is not None if a in cls.arrayArguments else self.arguments[a]
                    for a in cls.structure)
        if key not in cls.kernels:
            known = ", ".join(str(dict(zip(cls.structure, k))) for k in cls.kernels)
            raise ValueError(f"{cls.__name__}: no kernels for {dict(zip(cls.structure, key))}; generated for {known}")
        self._kernels = cls.kernels[key]
        if cls.variantParameters is not None:
            names, arguments = cls.variantParameters[key]
            self.parameterShapes = tuple(p for p in cls.parameterShapes if p[0] in names)
            self.kernelArguments = arguments
        self._scalars = tuple(self.arguments[a] for a in cls.scalars + cls.sizeArguments)
        self._arrays = tuple(a for a in cls.arrayArguments if self.arguments[a] is not None)

    def _constants(self, input, batch: bool) -> tuple:
        """The given array arguments as the module holds them now (type() converts them), checked
        against one sample of ``input``."""
        if not self._arrays:
            return ()
        arrays = tuple(getattr(self, a) for a in self._arrays)
        sample = input.shape[batch:]
        for name, array in zip(self._arrays, arrays):
            if array.shape != sample:
                raise ValueError(f"{type(self).__name__}: {name} has shape {array.shape} but one sample of "
                                 f"input has shape {sample} (input {input.shape})")
        return arrays

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

    def _checkedInput(self, input, name: str) -> bool:
        owner = type(self).__name__
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
    """A module generated from its catalogue entry."""

    parameterShapes: tuple = ()  # (Torch7 name, its axes as constructor arguments), in the kernels' order
    gradientReadsOutput = True  # the gradient kernels read forward's output: backward must follow forward
    _forwardInput = None  # (shape, dtype) of the last forward's input
    resetRule: tuple = ()  # ((Torch7 names), "uniform", (arguments whose product p gives +-1/sqrt(p))) ...

    def __init__(self, *args, rng=None, **kwargs) -> None:
        Module.__init__(self)
        self._setArguments(args, kwargs)
        slots = []
        for name, axes in self.parameterShapes:
            shape = tuple(self.arguments[a] for a in axes)
            grad = "grad" + name[0].upper() + name[1:]
            setattr(self, name, np.zeros(shape))
            setattr(self, grad, np.zeros(shape))
            slots.append((name, grad))
        self._parameterSlots = tuple(slots)
        if slots:
            self._flatten()
            self.reset(rng=rng)

    def _sizeArguments(self) -> set:
        return super()._sizeArguments() | {a for _, axes in self.parameterShapes for a in axes}

    def reset(self, stdv: float | None = None, rng=None):
        """Torch7's initialisation (``resetRule``); ``stdv`` draws U(-stdv sqrt(3), stdv sqrt(3))
        instead, as Torch7's reset(stdv)."""
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

    def parameters(self):
        """The live arrays ([parameters], [their gradients]) in Torch7's order, or None."""
        if not self._parameterSlots:
            return None
        return ([getattr(self, p) for p, _ in self._parameterSlots],
                [getattr(self, g) for _, g in self._parameterSlots])

    def _params(self) -> tuple:
        return tuple(getattr(self, p) for p, _ in self._parameterSlots)

    def _grads(self) -> tuple:
        return tuple(getattr(self, g) for _, g in self._parameterSlots)

    def updateOutput(self, input):
        batch = self._input(input)
        self._forwardInput = input.shape, input.dtype
        self.output = kept(self.output, self._kernels[batch][0](self._floats(input), *self._params(),
                                                                *self._scalars))
        return self.output

    def _gradOutput(self, input, gradOutput) -> bool:
        batch = self._input(input)
        owner = type(self).__name__
        check_array(owner, "gradOutput", gradOutput, self._arrayClass)
        if not self.gradientReadsOutput and self.anyShape:  # element-wise from the input: no forward needed
            if gradOutput.shape != input.shape:
                raise ValueError(f"{owner}: gradOutput must have the shape of the output, {input.shape}, "
                                 f"got {gradOutput.shape}")
            return batch
        last = self._forwardInput
        if self.gradientReadsOutput and last != (input.shape, input.dtype):
            seen = "no forward yet" if last is None else f"last forward input: {last[0]}, {last[1]}"
            raise ValueError(f"{owner}: backward reads the output of forward: call forward(input) first "
                             f"({seen}; got {input.shape}, {input.dtype})")
        if gradOutput.shape != self.output.shape:
            raise ValueError(f"{owner}: gradOutput must have the shape of the output of forward(input), "
                             f"{self.output.shape}, got {gradOutput.shape}")
        return batch

    def updateGradInput(self, input, gradOutput):
        """gradInput = dJ/dinput; reads the output of the last forward."""
        batch = self._gradOutput(input, gradOutput)
        input = self._floats(input)
        self.gradInput = kept(self.gradInput, self._kernels[batch][1](input, *self._params(), *self._scalars,
                                                                      self.output, gradOutput))
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        """Add scale * dJ/dparameter to each gradient."""
        if not self._parameterSlots:
            return
        scale = check_scale(type(self).__name__, scale)
        batch = self._gradOutput(input, gradOutput)
        input = self._floats(input)
        self._kernels[batch][2](input, *self._params(), *self._scalars, self.output, gradOutput, scale,
                                *self._grads())

    def backward(self, input, gradOutput, scale=1.0):
        """updateGradInput then accGradParameters (in one pass where the layer has parameters)."""
        if not self._parameterSlots:
            return self.updateGradInput(input, gradOutput)
        scale = check_scale(type(self).__name__, scale)
        batch = self._gradOutput(input, gradOutput)
        input = self._floats(input)
        self.gradInput = kept(self.gradInput, self._kernels[batch][3](input, *self._params(), *self._scalars,
                                                                      self.output, gradOutput, scale, *self._grads()))
        return self.gradInput

    def __repr__(self) -> str:
        shown = ", ".join(f"{v}" for v in self.arguments.values())
        return f"nn.{type(self).__name__}" + (f"({shown})" if shown else "")  # Torch7's: nn.Tanh


class CatalogueCriterion(_Catalogued, Criterion):
    """A criterion generated from its catalogue entry: a target of the input's shape, or class
    numbers counted from 0 (``classTarget``: one a sample, or a list of them)."""

    classTarget: int | None = None  # class targets: the axes of one sample's (0: one class, 1: a list)
    # forward computes the gradient too (it shares the loss's exponentials: a cross-entropy's
    # softmax) and keeps it for a backward of the very same input and target arrays, as Torch7's
    # CrossEntropyCriterion reads its LogSoftMax's output: change neither in place in between
    forwardKeepsGradient = False
    _kept = None  # (input, target, gradient) of the last forward
    _targetKey = None  # (shape, dtype, input's shape) of the last class target that passed the checks
    _unsigned = None  # its dtype read as unsigned
    _callCache = _Catalogued._callCache + ("_kept", "_targetKey")

    def __init__(self, *args, **kwargs) -> None:
        Criterion.__init__(self)
        self._setArguments(args, kwargs)

    def _check(self, input, target) -> bool:
        batch = self._input(input)
        owner = type(self).__name__
        check_array(owner, "target", target, self._arrayClass)
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
        # one pass: read as unsigned, a negative class is too large too (numpy's ufunc reduce is
        # cheaper than .max() on a batch's few targets)
        unsigned = target.view(self._unsigned)
        largest = np.maximum.reduce(unsigned, axis=None) if target.__class__ is np.ndarray else unsigned.max()
        if largest >= classes:
            raise ValueError(f"{owner}: target must hold classes from 0 to {classes - 1}, "
                             f"got {int(target.min())} .. {int(target.max())}")
        return batch

    def _targetValues(self, target):
        """The target as the kernels read it: class numbers as they are, real targets as floats."""
        return target if self.classTarget is not None else self._floats(target)

    def _target(self, target):
        """One sample's class may be an int, as ClassNLLCriterion's (Torch7's convention)."""
        if self.classTarget == 0 and isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_)):
            return np.asarray(target)
        return target

    def _call(self, kernel: int, input, target):
        """The kernel's result for a checked input and target: one sample with weights as a batch
        of one (a total weight 0 gives nan, as PyTorch's), a gradient back to the sample's shape."""
        target = self._target(target)
        batch = self._check(input, target)
        input, sample = self._floats(input), self._arrays and not batch
        if sample:
            input, target, batch = input[None], target[None], True
        result = self._kernels[batch][kernel](input, self._targetValues(target), *self._constants(input, batch),
                                              *self._scalars)
        if sample and kernel:
            return result[0] if kernel == 1 else (result[0], result[1][0])
        return result

    def updateOutput(self, input, target):
        """The loss; for a batch, as Torch7 reduces it (sizeAverage)."""
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
            grad, input = last[2], self._floats(input)
        else:
            grad = self._call(1, input, target)
            input = self._floats(input)
        if grad.dtype != input.dtype:  # an indicator's float64 ones (a class target's): the input's floats
            grad = grad.astype(input.dtype)
        self.gradInput = kept(self.gradInput, grad)
        return self.gradInput


class _Program:
    """What a class generated from a program shares (a table of inputs, statements): its kernels
    return every value of the program, the output is one of them (``outputPosition``), and the
    kernels take after the inputs (and target) the ``kernelArguments``: learned parameters and
    constructor numbers, in the program's order."""

    inputShapes: tuple = ()  # each input's axes: a constructor argument's name, or None
    integersAsFloats = False
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

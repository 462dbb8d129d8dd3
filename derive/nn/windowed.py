"""The shared base of the convolution family's generated classes (derive/nn/_catalogue.py):
Torch7's output sizes from the input, and the arguments that place the windows.  numpy only."""

from __future__ import annotations

import re

from ._backend import namespace
from .catalogued import CatalogueModule, kept
from .functional import Patches


def output_size(rule: tuple, size: int, arguments: dict) -> int:
    """Torch7's size of one output axis for an input axis of ``size``: ("window", input axis,
    kernel, step, padding, dilation) is floor((size + 2 pad - dilation (kernel - 1) - 1) / step) + 1,
    ("pad", input axis, before, after) is size + before + after, ("scale", input axis, factor) is
    size factor (upsampling), ("full", input axis, kernel, step, padding, adjustment) is
    (size - 1) step - 2 padding + kernel + adjustment (a transposed convolution's), ("divide",
    input axis, factor, power) is size / factor^power (ValueError where it is no multiple of it);
    a field is an argument's name or a number."""
    value = [arguments[f] if isinstance(f, str) else f for f in rule[2:]]
    if rule[0] == "window":
        k, d, pad, dilation = value
        return (size + 2 * pad - dilation * (k - 1) - 1) // d + 1
    if rule[0] == "scale":
        (factor,) = value
        return size * factor
    if rule[0] == "full":
        k, d, pad, adjustment = value
        return (size - 1) * d - 2 * pad + k + adjustment
    if rule[0] == "divide":
        factor, power = value
        if size % factor ** power:
            raise ValueError(f"axis {rule[1] + 1} of size {size} must be a multiple of {factor ** power}")
        return size // factor ** power
    before, after = value
    return size + before + after


class CatalogueWindowModule(CatalogueModule):
    """A module of the convolution family generated from its entry: its kernels take, after the
    output's sizes (``outputSizes``, Torch7's rules, computed from each input), the arguments
    that place its windows (``windowArguments``: sizes, steps, paddings, dilations), then the
    module's ``Patches``: the windows a contraction copies (im2col's patches), which the
    backward of the last forward's input array reads again, as Torch7's ``columns``. Another
    array is copied anew; an input changed in place after forward needs a new forward."""

    outputSizes: tuple = ()  # a rule (output_size) for each size of the output the kernels take
    windowArguments: tuple[str, ...] = ()
    oddArguments: tuple[str, ...] = ()  # a window centred on its pixel (SpatialSubtractiveNormalization's kernel)
    inputSizes: tuple[int, ...] = ()  # axes of a sample whose sizes the kernels take after those arguments
    belowInputSizes: tuple = ()  # (axis of a sample, arguments that must be smaller than its size)

    def _setArguments(self, args: tuple, kwargs: dict) -> None:
        super()._setArguments(args, kwargs)  # (checked before the parameters' sizes are read from them)
        owner = type(self).__name__
        for name in self.windowArguments:
            value = self.arguments[name]
            if re.fullmatch(r"pad[TWH]", name):
                if value < 0:
                    raise ValueError(f"{owner}: {name} must be 0 or more, got {value}")
            elif not name.startswith("pad_") and value < 1:  # (SpatialZeroPadding's negative pads crop)
                raise ValueError(f"{owner}: {name} must be a positive int, got {value}")
        for name in self.oddArguments:
            if self.arguments[name] % 2 == 0:
                raise ValueError(f"{owner}: {name} must be odd (a window centred on its pixel), "
                                 f"got {self.arguments[name]}")
        self._patches = Patches()

    def updateOutput(self, input):
        self._patches.forget()  # a forward copies its windows anew: the input may have changed in place
        return super().updateOutput(input)

    def _axisSize(self, axis) -> int:
        """A rule's output size for a parameter's axis (SpatialConvolutionLocal's weight is
        oH x oW x ...: ("window", "iH", ...) of the argument iH), else the argument's value."""
        if not isinstance(axis, tuple):
            return super()._axisSize(axis)
        size = output_size(axis, self.arguments[axis[1]], self.arguments)
        if size < 1:
            raise ValueError(f"{type(self).__name__}: {axis[1]} = {self.arguments[axis[1]]} gives an output of size "
                             f"{size}: too small for the window")
        return size

    def _input(self, input, name: str = "input") -> bool:
        batch = super()._input(input, name)
        for axis, names in self.belowInputSizes:
            for a in names:
                if self.arguments[a] >= input.shape[batch + axis]:
                    raise ValueError(f"{type(self).__name__}: {a} = {self.arguments[a]} must be smaller than {name}'s "
                                     f"axis {axis + 1}, of size {input.shape[batch + axis]}, shape {input.shape}")
        sizes = []
        for rule in self.outputSizes:
            try:
                size = output_size(rule, input.shape[batch + rule[1]], self.arguments)
            except ValueError as error:
                raise ValueError(f"{type(self).__name__}: {name}'s {error}, shape {input.shape}") from None
            if size < 1:
                raise ValueError(f"{type(self).__name__}: {name}'s axis {rule[1] + 1} of size "
                                 f"{input.shape[batch + rule[1]]} gives an output of size {size}: too small "
                                 f"for the window, shape {input.shape}")
            sizes.append(size)
        scalars = (tuple(self.arguments[a] for a in self.scalars) + tuple(sizes)
                   + tuple(self.arguments[a] for a in self.windowArguments)
                   + tuple(input.shape[batch + axis] for axis in self.inputSizes) + (self._patches,))
        if scalars != self._scalars:  # another input size: the kernels' arguments change with it
            self._scalars = scalars
            # and the calls that skip this check (they would pass the other size's arguments)
            for key in ("_kernelArrays", "_gradKey", "_forwardFast", "_backwardFast", "_gradInputFast"):
                self.__dict__[key] = None
        return batch


class CatalogueTransposedModule(CatalogueWindowModule):
    """A transposed convolution generated from its entry at step 1: a step > 1 dilates the
    input (step - 1 zeros between its entries along that axis) before the kernels, and its
    gradient is the dilated input's read at every step-th entry (the dilation's adjoint).
    ``dilatedInput`` holds (input axis, step argument, adjustment argument) per axis; the
    ``outputSizes`` rules are those of the dilated input."""

    dilatedInput: tuple = ()
    _dilatedGradInput = None  # the kernels' gradInput buffer (of the dilated input's shape)

    def _setArguments(self, args: tuple, kwargs: dict) -> None:
        super()._setArguments(args, kwargs)
        owner = type(self).__name__
        for _, step, adjustment in self.dilatedInput:
            d, adj = self.arguments[step], self.arguments[adjustment]
            if d < 1:
                raise ValueError(f"{owner}: {step} must be a positive int, got {d}")
            if not 0 <= adj < d:  # Torch7's and PyTorch's bound: past it the output has rows no input reaches
                raise ValueError(f"{owner}: {adjustment} must be from 0 to {step} - 1 = {d - 1}, got {adj}")

    def _strided(self, batch: bool) -> tuple | None:
        """The dilated input's entries that are the input's (a slice per axis), or None at steps 1."""
        steps = {axis: self.arguments[step] for axis, step, _ in self.dilatedInput}
        if all(d == 1 for d in steps.values()):
            return None
        return (slice(None),) * (batch + 1) + tuple(slice(None, None, steps.get(axis, 1))
                                                    for axis in range(1, len(self.inputShape)))

    def _dilated(self, input):
        """``input`` with its axes dilated by the steps (itself at steps 1)."""
        if self._strided(False) is None:
            return input
        # the input's own checks first (its messages name its shape; the output's size rules are the dilated one's)
        where = self._strided(self._checkedInput(input, "input"))
        xp = namespace(input)
        shape = tuple((n - 1) * s.step + 1 if s.step else n for n, s in zip(input.shape, where))
        dilated = xp.zeros(shape, input.dtype)
        dilated[where] = input
        return dilated

    def updateOutput(self, input):
        return super().updateOutput(self._dilated(input))

    def _onDilated(self, method: str, input, *rest):
        """The base's ``method`` on the dilated input, its gradInput the dilation's adjoint."""
        dilated = self._dilated(input)
        if dilated is input:
            return getattr(super(), method)(input, *rest)
        reduced, self.gradInput = self.gradInput, self._dilatedGradInput  # the kernels' own buffer
        try:
            grad = getattr(super(), method)(dilated, *rest)
        finally:
            self._dilatedGradInput, self.gradInput = self.gradInput, reduced
        self.gradInput = kept(reduced, grad[self._strided(dilated.ndim > len(self.inputShape))])
        return self.gradInput

    def updateGradInput(self, input, gradOutput):
        return self._onDilated("updateGradInput", input, gradOutput)

    def accGradParameters(self, input, gradOutput, scale=1.0):
        super().accGradParameters(self._dilated(input), gradOutput, scale)

    def backward(self, input, gradOutput, scale=1.0):
        return self._onDilated("backward", input, gradOutput, scale)

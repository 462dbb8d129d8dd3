"""The shared base of the convolution family's generated classes (derive/nn/_catalogue.py):
Torch7's output sizes from the input, and the arguments that place the windows.  numpy only."""

from __future__ import annotations

import re

from .catalogued import CatalogueModule


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
    that place its windows (``windowArguments``: sizes, steps, paddings, dilations)."""

    outputSizes: tuple = ()  # a rule (output_size) for each size of the output the kernels take
    windowArguments: tuple[str, ...] = ()
    inputSizes: tuple[int, ...] = ()  # axes of a sample whose sizes the kernels take after those arguments
    belowInputSizes: tuple = ()  # (axis of a sample, arguments that must be smaller than its size)

    def __init__(self, *args, rng=None, **kwargs) -> None:
        super().__init__(*args, rng=rng, **kwargs)
        owner = type(self).__name__
        for name in self.windowArguments:
            value = self.arguments[name]
            if re.fullmatch(r"pad[TWH]", name):
                if value < 0:
                    raise ValueError(f"{owner}: {name} must be 0 or more, got {value}")
            elif not name.startswith("pad_") and value < 1:  # (SpatialZeroPadding's negative pads crop)
                raise ValueError(f"{owner}: {name} must be a positive int, got {value}")

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
                   + tuple(input.shape[batch + axis] for axis in self.inputSizes))
        if scalars != self._scalars:  # another input size: the kernels' arguments change with it
            self._scalars = scalars
            self.__dict__["_kernelArrays"] = None
        return batch

"""The shared base of the generated classes whose kernels read the input through a view around one
axis (GatedLinearUnit, Padding; derive/catalogue_views.py): Torch7's ``dim`` counts the axes of
the tensor given, so the class views each input as (A, n, C) around it, calls the kernels derived
on that view, and reshapes their result back.  numpy only."""

from __future__ import annotations

import math

from .catalogued import CatalogueModule, kept
from .module import check_scale


class CatalogueViewModule(CatalogueModule):
    """A module generated from its entry on the input viewed around its axis ``dim`` (counted
    from 1 in the tensor given, as Torch7's): A the product of the sizes before it, n its size,
    C the product of those after it. ``viewRule`` "halves" views (A, 2, n/2 C), the axis as its
    two halves (GatedLinearUnit; its default dim, nil, is the last axis); "pad" views (A, n, C)
    and pads the axis by |pad| (Padding: nInputDim, value, index as Torch7's). The kernels take,
    after the input, ``viewArguments``: a number argument by its name, ``outputSize`` (the
    output's size along the axis) and Padding's ``before`` (the entries of the axis before the
    padding) and ``width`` (|pad|). A view holds any batch: the sample kernels serve every call."""

    viewRule = ""
    viewArguments: tuple[str, ...] = ()
    anyShape = True  # the sizes are checked by the view (_view), not by the base's sample shape

    def _setArguments(self, args: tuple, kwargs: dict) -> None:
        super()._setArguments(args, kwargs)
        owner, arguments = type(self).__name__, self.arguments
        if arguments["dim"] is not None and arguments["dim"] < 1:
            raise ValueError(f"{owner}: dim must be a positive int (an axis counted from 1), got {arguments['dim']}")
        if self.viewRule == "pad":
            if arguments["nInputDim"] < 0:
                raise ValueError(f"{owner}: nInputDim must be 0 (none) or a positive int, got {arguments['nInputDim']}")
            if arguments["index"] < 1:
                raise ValueError(f"{owner}: index must be a positive int (counted from 1), got {arguments['index']}")

    def _view(self, input) -> tuple:
        """(the input viewed as the kernels take it, the output's shape, the kernels' arguments after
        the input); ValueError, one line, where dim, the axis' size or index do not fit the input."""
        self._input(input)
        if input.dtype.kind != "f":
            input = self._floats(input)
        owner, shape, arguments = self._name(), input.shape, self.arguments
        dim = input.ndim if arguments["dim"] is None else arguments["dim"]
        if self.viewRule == "pad" and arguments["nInputDim"] and input.ndim != arguments["nInputDim"]:
            dim += 1  # Torch7's: an input of another number of axes than nInputDim is a batch
        if not 1 <= dim <= input.ndim:
            raise ValueError(f"{owner}: dim {dim} is no axis of the input (1 to {input.ndim}), shape {shape}")
        if input.size == 0:
            raise ValueError(f"{owner}: input must have at least one element, got shape {shape}")
        before, n, after = math.prod(shape[:dim - 1]), shape[dim - 1], math.prod(shape[dim:])
        if self.viewRule == "halves":
            if n % 2:
                raise ValueError(f"{owner}: input's axis {dim} has {n} entries: it must be even (its two halves), "
                                 f"shape {shape}")
            return (input.reshape(before, 2, n // 2 * after), shape[:dim - 1] + (n // 2,) + shape[dim:],
                    tuple(arguments[a] for a in self.viewArguments))
        pad, index = arguments["pad"], arguments["index"]
        if index > n + 1:
            raise ValueError(f"{owner}: index must be from 1 to {n + 1} (axis {dim} of the input has {n} entries), "
                             f"got {index}, shape {shape}")
        width = abs(pad)
        values = {"outputSize": n + width, "width": width, "before": index - 1 if pad < 0 else n - index + 1,
                  "value": input.dtype.type(arguments["value"])}  # (a float64 value would promote float32)
        return (input.reshape(before, n, after), shape[:dim - 1] + (n + width,) + shape[dim:],
                tuple(values[a] for a in self.viewArguments))

    def updateOutput(self, input):
        viewed, shape, operands = self._view(input)
        self.output = kept(self.output, self._kernels[0][0](viewed, *operands, None).reshape(shape))
        return self.output

    def updateGradInput(self, input, gradOutput):
        """gradInput = dJ/dinput; needs no forward (the gradient reads no output)."""
        viewed, shape, operands = self._view(input)
        owner = self._name()
        self._checkGradOutput(gradOutput)
        if gradOutput.shape != shape:
            raise ValueError(f"{owner}: gradOutput must have the output's shape {shape} (for input {input.shape}), "
                             f"got {gradOutput.shape}")
        g = gradOutput.reshape((viewed.shape[0], -1) if self.viewRule == "halves"
                               else (viewed.shape[0], -1, viewed.shape[2]))
        grad = self._kernels[0][1](viewed, *operands, None, g, None)
        self.gradInput = kept(self.gradInput, grad.reshape(input.shape))
        return self.gradInput

    def backward(self, input, gradOutput, scale=1.0):
        """updateGradInput (no parameters: scale is checked, then unused)."""
        check_scale(self._name(), scale)
        return self.updateGradInput(input, gradOutput)

    def __repr__(self) -> str:
        shown = ", ".join(f"{v}" for v in self.arguments.values() if v is not None)  # Torch7's nil left out
        return f"nn.{type(self).__name__}" + (f"({shown})" if shown else "")

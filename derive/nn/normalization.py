"""The bookkeeping of a normalisation over the batch (Torch7's BatchNormalization.lua), shared by
every class generated from a catalogue entry whose statistics run over the batch
(``batch_statistics``): the input is always a batch (N, features), which the entry's kernels take
whole; training updates Torch7's running statistics from the program's values ``mu`` and ``var``
(momentum; the running variance unbiased); after ``evaluate()`` the running statistics normalise
instead. numpy (or CuPy) only.
"""

from __future__ import annotations

import numpy as np

from ._backend import namespace
from .catalogued import CatalogueModule, kept
from .module import check_array, check_dtype, check_real, check_scale, compute_dtype


class CatalogueBatchStatistics(CatalogueModule):
    """A module generated from a normalisation entry: y = gamma (x - mean) / sqrt(var + eps) + beta
    feature by feature, the mean and biased variance over the batch in training.

    Training: the entry's kernels (the whole batch their one input), then running = (1 - momentum)
    running + momentum statistic, the variance unbiased (N / (N - 1)), as Torch7 and PyTorch; a
    batch of one sample is a ValueError (its variance is undefined). ``save_mean`` and
    ``save_invstd`` hold what the last training forward normalised with; backward in training
    reads that forward's values. After ``evaluate()``: the running statistics in place of the
    batch's, numbers, so y is affine in x (gradInput = gamma invstd g) and nothing is updated.
    With eps = 0 a constant feature normalises to 0, as Torch7's (not 0/0). ``output`` and
    ``gradInput`` are buffers reused by later calls of one shape."""

    inputShapes: tuple = ()
    kernelArguments: tuple = ()  # ("parameter", Torch7 name) or ("scalar", argument), the kernels' order
    valueNames: tuple = ()  # what the forward kernel returns, in order
    outputPosition = 0
    integersAsFloats = True
    _values = None  # the last training forward's values
    # Torch7's ranges of the bookkeeping's numbers
    argumentRanges = {"eps": (0.0, np.inf), "momentum": (0.0, 1.0)}

    def __init__(self, *args, **kwargs) -> None:
        names = [a[0] for a in self.signature]
        given = {**dict(zip(names, args)), **kwargs}
        for name, (low, high) in self.argumentRanges.items():
            if name in given:
                check_real(type(self).__name__, name, given[name], low, high)
        for name, _, kind, _ in self.signature:
            if kind is bool and name in given and not isinstance(given[name], (bool, np.bool_)):
                raise TypeError(f"{type(self).__name__}: {name} must be a bool, got {given[name]!r}")
        self.running_mean = self.running_var = self.save_mean = self.save_invstd = None
        super().__init__(*args, **kwargs)
        features = self.arguments[self.inputShape[-1]]
        self.running_mean, self.running_var = np.zeros(features), np.ones(features)
        self.save_mean, self.save_invstd = np.zeros(features), np.zeros(features)
        for name, _ in type(self).parameterShapes:  # affine=false: no weight, no bias
            if name not in self.__dict__:
                object.__setattr__(self, name, None)
                object.__setattr__(self, "grad" + name[0].upper() + name[1:], None)

    def reset(self, stdv: float | None = None, rng=None):
        """The parameters as the entry's reset says (or Torch7's reset(stdv)); running_mean = 0,
        running_var = 1; return the module."""
        super().reset(stdv, rng)
        if self.running_mean is not None:
            self.running_mean[...] = 0
            self.running_var[...] = 1
        return self

    def _arguments(self) -> tuple:
        return tuple(getattr(self, name) if kind == "parameter" else self.arguments[name]
                     for kind, name in self.kernelArguments)

    def _value(self, name: str):
        return self._values[self.valueNames.index(name)]

    def _checked(self, input, gradOutput=None):
        """``input`` as floats after checking it is a batch (N, features) (and ``gradOutput`` of its shape)."""
        owner = self._name()
        check_array(owner, "input", input, self._arrayClass)
        features = self.arguments[self.inputShape[-1]]
        if input.ndim != 2 or input.shape[1] != features:
            raise ValueError(f"{owner}: input must have shape (batch, {features}), got {input.shape}")
        compute_dtype(owner, "input", input, self)
        check_dtype(owner, "input", input, self)
        if gradOutput is not None:
            self._checkGradOutput(gradOutput)
            if gradOutput.shape != input.shape:
                raise ValueError(f"{owner}: gradOutput must have shape {input.shape} (the input's), "
                                 f"got {gradOutput.shape}")
        return self._floats(input)

    def _invstd(self):
        """1 / sqrt(running_var + eps): the running statistics' (evaluate())."""
        xp = namespace(self.running_var)
        return 1 / xp.sqrt(self.running_var + self.arguments["eps"])

    def updateOutput(self, input):
        """The entry's kernels on the batch in training (running statistics updated), else the
        running statistics in place of the batch's."""
        x = self._checked(input)
        if not self.train:
            xhat = (x - self.running_mean) * self._invstd()
            return self._affine(xhat)
        if x.shape[0] < 2:
            raise ValueError(f"{self._name()}: training needs more than 1 sample per batch "
                             f"(the variance of one sample is undefined), got input {x.shape}")
        xp = namespace(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = list(self._kernels[0][0](x, *self._arguments(), self._buffer(self.output, x)))
        mean, var = values[self.valueNames.index("mu")], values[self.valueNames.index("var")]
        if self.arguments["eps"] == 0 and bool((var == 0).any()):
            # Torch7: a constant feature with eps = 0 normalises to 0, not to 0/0
            k = self.valueNames.index("invstd")
            values[k] = xp.where(var == 0, 0, values[k])
            values[self.outputPosition] = self._affine(values[self.valueNames.index("xc")] * values[k], keep=False)
        self._values = tuple(values)
        self.save_mean[...] = mean
        self.save_invstd[...] = values[self.valueNames.index("invstd")]
        momentum, n = self.arguments["momentum"], x.shape[0]
        self.running_mean *= 1 - momentum
        self.running_mean += momentum * mean
        self.running_var *= 1 - momentum
        self.running_var += (momentum * n / (n - 1)) * var  # Torch's running variance is unbiased
        if values[self.outputPosition] is not self.output:
            self.output = kept(self.output, values[self.outputPosition])
        return self.output

    @staticmethod
    def _buffer(buffer, *arrays):
        """``buffer`` where a kernel may write its result there: of the first array's kind, shape
        and dtype, and neither one of ``arrays`` nor a view of one; else None (a new array)."""
        first = arrays[0]
        if (buffer.__class__ is not first.__class__ or buffer.shape != first.shape or buffer.dtype != first.dtype
                or any(a is buffer or a.base is buffer for a in arrays)):
            return None
        return buffer

    def _kept_gradInput(self, result):
        if result is not self.gradInput:
            self.gradInput = kept(self.gradInput, result)
        return self.gradInput

    def _affine(self, xhat, keep: bool = True):
        weight, bias = getattr(self, "weight", None), getattr(self, "bias", None)
        y = xhat if weight is None else xhat * weight + bias
        if keep:
            self.output = kept(self.output, y)
            return self.output
        return y

    def _training_values(self, input, gradOutput):
        if self._values is None:
            raise ValueError(f"{self._name()}: backward in training uses the statistics of the last forward: "
                             "call forward(input) first")
        x = self._checked(input, gradOutput)
        if x.shape != self._values[self.outputPosition].shape:
            raise ValueError(f"{self._name()}: backward in training reads the last forward's batch, "
                             f"{self._values[self.outputPosition].shape}, got input {x.shape}")
        return x, gradOutput

    def _constant_features(self, gradInput):
        """eps = 0: a constant feature's gradient is 0, as its output is (Torch7's invstd = 0)."""
        if self.arguments["eps"] == 0:
            constant = self._value("var") == 0
            if bool(constant.any()):
                gradInput = namespace(gradInput).where(constant, 0, gradInput)
        return gradInput

    def updateGradInput(self, input, gradOutput):
        """gradInput: the entry's backward in training, g gamma invstd after evaluate()."""
        if not self.train:
            x = self._checked(input, gradOutput)
            g = gradOutput * self._invstd()
            result = g if getattr(self, "weight", None) is None else g * self.weight
        else:
            x, g = self._training_values(input, gradOutput)
            with np.errstate(divide="ignore", invalid="ignore"):
                result = self._kernels[0][1](x, *self._arguments(), *self._values, g, self._buffer(self.gradInput, x, g))
            result = self._constant_features(result)
        return self._kept_gradInput(result)

    def accGradParameters(self, input, gradOutput, scale=1.0):
        """gradWeight += scale * sum(g xhat), gradBias += scale * sum(g), sums over the batch."""
        scale = check_scale(self._name(), scale)
        if not self._parameterSlots:
            return
        if not self.train:
            x = self._checked(input, gradOutput)
            xhat = (x - self.running_mean) * self._invstd()
            self.gradWeight += scale * (gradOutput * xhat).sum(axis=0)
            self.gradBias += scale * gradOutput.sum(axis=0)
            return
        x, g = self._training_values(input, gradOutput)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._kernels[0][2](x, *self._arguments(), *self._values, g, scale, *self._grads())

    def backward(self, input, gradOutput, scale=1.0):
        """updateGradInput then accGradParameters (one walk in training); return gradInput."""
        scale = check_scale(self._name(), scale)
        if not self.train or not self._parameterSlots:
            self.updateGradInput(input, gradOutput)
            self.accGradParameters(input, gradOutput, scale)
            return self.gradInput
        x, g = self._training_values(input, gradOutput)
        with np.errstate(divide="ignore", invalid="ignore"):
            result = self._kernels[0][3](x, *self._arguments(), *self._values, g, scale, *self._grads(),
                                         self._buffer(self.gradInput, x, g))
        return self._kept_gradInput(self._constant_features(result))

    def _name(self) -> str:
        return f"{type(self).__name__}({self.arguments[self.inputShape[-1]]})"

    def __repr__(self) -> str:
        return f"nn.{type(self).__name__} (2D) ({self.arguments[self.inputShape[-1]]})"  # Torch7's __tostring__

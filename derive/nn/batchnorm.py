"""BatchNormalization: y = (x - mean) / sqrt(var + eps) * gamma + beta, feature by feature
(Torch7's nn/BatchNormalization.lua and THNN's BatchNormalization.c, on numpy or CuPy).

The input is a batch (N, nOutput), one sample a row. The arithmetic lives in the
kernels ``derive compile`` generates from the engine's results (``_kernels``).
"""

from __future__ import annotations

import numpy as np

from ..arguments import check_int
from ._kernels import (
    batchnorm_acc_grad_parameters,
    batchnorm_grad_sums,
    batchnorm_update_grad_input_evaluate,
    batchnorm_update_grad_input_train,
    batchnorm_update_output_evaluate,
    batchnorm_update_output_train,
)
from ._backend import namespace
from .module import Module, check_array, check_grad_output, check_real, check_scale, compute_dtype, resized

ndarray = np.ndarray


class BatchNormalization(Module):
    """Batch normalisation of (N, nOutput) input, with weight gamma and bias beta of shape (nOutput,).

    In training (the default) each feature is normalised with the batch's mean and
    biased variance (divided by N), and the running statistics are updated as
    running = (1 - momentum) * running + momentum * batch statistic, the variance
    unbiased (divided by N - 1), as Torch7 and PyTorch do; a batch of one sample is
    a ValueError there, as in PyTorch (Torch7 divides by N - 1 = 0). After
    ``evaluate()`` the running statistics normalise instead and nothing is updated.
    ``running_mean`` starts at 0 and ``running_var`` at 1.

    ``weight`` starts at 1 and ``bias`` at 0, as in PyTorch (Torch7 drew weight
    from U(0, 1)); they are views into one flat array, ``gradWeight`` and
    ``gradBias`` (starting at 0) into another. With ``affine=False`` there are no
    parameters: y = (x - mean) / sqrt(var + eps).

    ``backward`` in training uses the mean and 1/sqrt(var + eps) that the last
    training forward saved (``save_mean``, ``save_invstd``), as Torch does, with
    the input and gradOutput it is given. ``output`` and ``gradInput`` take the
    input's dtype when it is a floating type, float64 for integer input, and are
    buffers reused by every later call: copy them to keep them. On CUDA (``cuda()``),
    input and gradOutput must be CuPy arrays of the module's dtype.
    """

    _callCache = ("_inputShape", "_inputDtype")  # cleared by type(): the next call refits the buffers

    def __init__(self, nOutput: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.nOutput = check_int("BatchNormalization", "nOutput", nOutput, 1)
        self.eps = check_real("BatchNormalization", "eps", eps, 0)
        self.momentum = check_real("BatchNormalization", "momentum", momentum, 0, 1)
        if not isinstance(affine, (bool, np.bool_)):
            raise TypeError(f"BatchNormalization: affine must be a bool, got {affine!r}")
        self.affine = bool(affine)
        self.running_mean = np.zeros(self.nOutput)
        self.running_var = np.ones(self.nOutput)
        # What the last training forward normalised with: the batch mean and 1/sqrt(var + eps).
        self.save_mean = np.zeros(self.nOutput)
        self.save_invstd = np.zeros(self.nOutput)
        self._saved = False
        if self.affine:
            self.weight, self.bias = np.zeros(self.nOutput), np.zeros(self.nOutput)
            self.gradWeight, self.gradBias = np.zeros(self.nOutput), np.zeros(self.nOutput)
            self._flatten()
        # The last input's shape and dtype: a call whose arrays match skips validation.
        self._inputShape = self._inputDtype = None
        self.reset()

    def reset(self) -> BatchNormalization:
        """weight = 1, bias = 0, running_mean = 0, running_var = 1, in place; return the module."""
        if self.affine:
            self.weight.fill(1)
            self.bias.fill(0)
        self.running_mean.fill(0)
        self.running_var.fill(1)
        return self

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """output = (x - mean) / sqrt(var + eps) * weight + bias: batch statistics in training, running ones after evaluate()."""
        self._fit(input)
        if self.train:
            if input.shape[0] < 2:
                raise ValueError(f"{self._name()}: training needs more than 1 sample per batch "
                                 f"(the variance of one sample is undefined), got input {input.shape}")
            self._saved = True
            return batchnorm_update_output_train(input, self.weight, self.bias, self.eps, self.momentum,
                                                 self.running_mean, self.running_var,
                                                 self.save_mean, self.save_invstd, self.output)
        return batchnorm_update_output_evaluate(input, self.weight, self.bias, self.eps,
                                                self.running_mean, self.running_var, self.output)

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """gradInput = (1/N) weight invstd (N g - sum g - xhat sum(g xhat)) in training, g weight invstd after evaluate()."""
        self._fit(input, gradOutput)
        if self.train:
            batchnorm_update_grad_input_train(input, gradOutput, self.weight, self.save_mean, self.save_invstd,
                                              self.gradInput)
        else:
            batchnorm_update_grad_input_evaluate(gradOutput, self.weight, self.eps, self.running_var,
                                                 self.gradInput)
        return self.gradInput

    def accGradParameters(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> None:
        """gradWeight += scale * sum(g xhat), gradBias += scale * sum(g), sums over the batch."""
        scale = check_scale(type(self).__name__, scale)
        if not self.affine:
            return
        self._fit(input, gradOutput)
        if self.train:
            mean, invstd = self.save_mean, self.save_invstd
        else:
            xp = namespace(self.running_var)
            mean, invstd = self.running_mean, 1 / xp.sqrt(self.running_var + self.eps)
        sums = batchnorm_grad_sums(input, gradOutput, mean, invstd)
        batchnorm_acc_grad_parameters(self.gradWeight, self.gradBias, *sums, scale)

    def backward(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """updateGradInput then accGradParameters, the sums over the batch computed once; return gradInput."""
        scale = check_scale(type(self).__name__, scale)
        if not self.train or not self.affine:
            return Module.backward(self, input, gradOutput, scale)
        self._fit(input, gradOutput)
        sums = batchnorm_update_grad_input_train(input, gradOutput, self.weight, self.save_mean,
                                                 self.save_invstd, self.gradInput)
        batchnorm_acc_grad_parameters(self.gradWeight, self.gradBias, *sums, scale)
        return self.gradInput

    def _fit(self, input, gradOutput=None) -> None:
        """Cheap check that input (and gradOutput) match the buffers; else validate and refit them."""
        if not self._lastCallFits(input, gradOutput, self._inputShape):
            self._resize(input, gradOutput)
        if gradOutput is not None and self.train and not self._saved:
            raise ValueError(f"{self._name()}: backward in training uses the statistics of the last forward: "
                             "call forward(input) first")

    def _resize(self, input, gradOutput=None) -> None:
        """Check input (and gradOutput), then fit the output and gradInput buffers to them."""
        name = self._name()
        check_array(name, "input", input, self._arrayClass)
        if input.ndim != 2 or input.shape[1] != self.nOutput:
            raise ValueError(f"{name}: input must have shape (batch, {self.nOutput}), got {input.shape}")
        dtype = compute_dtype(name, "input", input, self)
        if gradOutput is not None:
            check_grad_output(name, gradOutput, input.shape, input.shape, self._arrayClass)
        if self._arrayClass is not ndarray:
            # As Linear on CUDA: arrays of the module's own dtype, nothing cast on the GPU.
            own = self.running_var.dtype
            for argument, value in (("input", input), ("gradOutput", gradOutput)):
                if value is not None and value.dtype != own:
                    raise TypeError(f"{name}: {argument} must be {own} on CUDA (the module's type "
                                    f"{self._type}), got {value.dtype}")
        self.output = resized(self.output, input.shape, dtype)
        self.gradInput = resized(self.gradInput, input.shape, dtype)
        self._inputShape, self._inputDtype = input.shape, input.dtype

    def _name(self) -> str:
        return f"BatchNormalization({self.nOutput})"

    def __repr__(self) -> str:
        return f"nn.BatchNormalization (2D) ({self.nOutput})"  # Torch7's __tostring__

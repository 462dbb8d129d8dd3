"""A torch.autograd.Function or torch.nn.Module seen as a derive.nn Module, so that
``derive check`` tests its backward as it tests derive's own modules.

The adapter runs the target in float64 on CPU tensors that share memory with numpy arrays:
the checks perturb the input and the parameters in place (central differences) and the
target reads them; ``backward`` is ``torch.autograd.grad`` with the check's gradOutput, so a
custom backward anywhere inside the target is what gets measured.  Imported only to check
a torch target (``import derive.nn`` never imports torch).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from .jacobian import GradientShapeError
from .criterion import Criterion
from .module import Module

# torch's own refusal of a gradient of the wrong shape: "... returned an invalid gradient at
# index 1 - got [3, 2] but expected shape compatible with [2, 3]"
_INVALID = re.compile(r"invalid gradient at index (\d+) - got \[([\d, ]*)\] but expected shape compatible with "
                      r"\[([\d, ]*)\]")


def is_torch_target(obj) -> bool:
    """Whether ``obj`` is a torch.autograd.Function or torch.nn.Module subclass."""
    return isinstance(obj, type) and issubclass(obj, (torch.autograd.Function, torch.nn.Module))


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.replace(" ", "").split(",") if d)


class TorchModule(Module):
    """``call(input, *parameters)`` of torch tensors, as a derive.nn Module over numpy arrays.

    ``names`` and ``arrays`` are the parameters (float64 numpy arrays the tensors given to
    ``call`` share memory with); the gradient of ``name`` is the array ``grad<name>``.
    """

    _parameterSlots = ()
    # derive check runs the checks of the torch protocol only: Jacobians, the batch against its
    # samples, reentrancy, arrays unchanged; accGradParameters, updateParameters and the pickle
    # round trip are the adapter's own code, not the target's.
    torchTarget = True

    def __init__(self, call, names: list[str], arrays: list[np.ndarray], label: str, function: bool) -> None:
        super().__init__()
        self._call, self._names, self._label, self._function = call, list(names), label, function
        for name, array in zip(names, arrays):
            setattr(self, name, array)
            setattr(self, f"grad{name}", np.zeros_like(array))

    @classmethod
    def of_function(cls, function: type, names: list[str], arrays: list[np.ndarray]) -> "TorchModule":
        """A torch.autograd.Function subclass: ``function.apply(input, *arrays)``."""
        return cls(function.apply, names, [np.ascontiguousarray(a, dtype=np.float64) for a in arrays],
                   f"{function.__name__} (torch.autograd.Function)", True)

    @classmethod
    def of_module(cls, module: torch.nn.Module) -> "TorchModule":
        """A torch.nn.Module instance, made float64 on the CPU; its parameters are read in place."""
        module = module.to(device="cpu", dtype=torch.float64)
        named = list(module.named_parameters())
        # numpy views of the parameters: a perturbation of the array is one of the parameter.
        arrays = [p.detach().numpy() for _, p in named]
        tensors = [p for _, p in named]
        adapter = cls(lambda x, *_: module(x), [n for n, _ in named], arrays,
                      f"{type(module).__name__} (torch.nn.Module)", False)
        adapter._tensors = tensors
        return adapter

    def __repr__(self) -> str:
        return self._label

    def parameters(self):
        if not self._names:
            return None
        return [getattr(self, n) for n in self._names], [getattr(self, f"grad{n}") for n in self._names]

    def _parameters(self, grad: bool) -> list[torch.Tensor]:
        if not self._function:
            return self._tensors
        return [torch.from_numpy(getattr(self, n)).requires_grad_(grad) for n in self._names]

    def updateOutput(self, input):
        with torch.no_grad():
            output = self._call(torch.from_numpy(input), *self._parameters(False))
        self.output = output.detach().numpy().copy()
        return self.output

    def _gradients(self, input, gradOutput) -> tuple[np.ndarray, list[np.ndarray]]:
        x = torch.from_numpy(input).requires_grad_(True)
        params = self._parameters(True)
        output = self._call(x, *params)
        try:
            grads = torch.autograd.grad(output, [x, *params], torch.from_numpy(gradOutput), allow_unused=True)
        except RuntimeError as error:
            found = _INVALID.search(str(error))
            if found and self._function and int(found.group(1)) > 0:  # a parameter's gradient
                raise GradientShapeError(int(found.group(1)) - 1, _dims(found.group(3)), _dims(found.group(2))) \
                    from None
            raise
        arrays = [np.zeros(a.shape) if g is None else g.detach().numpy().copy()
                  for a, g in zip([input, *(getattr(self, n) for n in self._names)], grads)]
        return arrays[0], arrays[1:]

    def updateGradInput(self, input, gradOutput):
        self.gradInput = self._gradients(input, gradOutput)[0]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        for name, grad in zip(self._names, self._gradients(input, gradOutput)[1]):
            getattr(self, f"grad{name}")[...] += scale * grad


class TorchCriterion(Criterion):
    """``call(input, target)`` of torch tensors returning a scalar loss, as a derive.nn Criterion."""

    torchTarget = True

    def __init__(self, call, label: str) -> None:
        super().__init__()
        self._call, self._label = call, label

    @classmethod
    def of(cls, target, label: str) -> "TorchCriterion":
        """A Function subclass (``target.apply``) or an nn.Module instance (made float64 on the CPU)."""
        if isinstance(target, torch.nn.Module):
            target = target.to(device="cpu", dtype=torch.float64)
            return cls(target, label)
        return cls(target.apply, label)

    def __repr__(self) -> str:
        return self._label

    def updateOutput(self, input, target):
        with torch.no_grad():
            loss = self._call(torch.from_numpy(input), torch.from_numpy(np.asarray(target)))
        if loss.dim() != 0:
            raise ValueError(f"{self._label}: a criterion returns a scalar loss, got shape {tuple(loss.shape)}")
        self.output = float(loss)
        return self.output

    def updateGradInput(self, input, target):
        x = torch.from_numpy(input).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._call(x, torch.from_numpy(np.asarray(target))), x, allow_unused=True)
        self.gradInput = np.zeros(input.shape) if grad is None else grad.detach().numpy().copy()
        return self.gradInput

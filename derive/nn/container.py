"""Sequential: modules chained output to input (Torch7's nn/Container.lua and Sequential.lua, on numpy).

forward runs the modules in order; backward runs them in reverse, each module
getting the input it saw in forward (the previous module's ``output``) and the
``gradInput`` of the module after it as gradOutput. ``output`` and ``gradInput``
are the last and the first module's buffers, not copies.

Indexing: ``seq[i]`` is Python's, 0-based (``seq[-1]`` the last module);
``seq.get(i)`` is Torch's, 1-based like the repr, so ``seq.get(1) is seq[0]``.
"""

from __future__ import annotations

import numpy as np

from .module import Module, real_number


class Sequential(Module):
    """A chain of modules: ``Sequential().add(nn.Linear(2, 3)).add(nn.Sigmoid())``."""

    # Whether forward ran since the last add: backward feeds each module the output
    # of the one before it, which only forward computes.
    _forwarded = False

    def __init__(self) -> None:
        super().__init__()
        self.modules: list[Module] = []

    def add(self, module: Module) -> Sequential:
        """Append ``module`` to the chain; return the container."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.add: expected an nn Module, got {type(module).__name__}")
        self.modules.append(module)
        self._forwarded = False
        return self

    def get(self, index: int) -> Module:
        """The module at 1-based ``index``, as Torch's ``get``."""
        if not 1 <= index <= len(self.modules):
            raise IndexError(f"Sequential.get: index must be in 1..{len(self.modules)} (1-based), got {index}")
        return self.modules[index - 1]

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def __len__(self) -> int:
        return len(self.modules)

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        """Run every module's forward in order; output is the last module's output."""
        currentOutput = input
        for i, module in enumerate(self.modules):
            try:
                currentOutput = module.updateOutput(currentOutput)
            except (ValueError, TypeError) as error:
                _rethrow(error, i)
        self.output = currentOutput
        self._forwarded = True
        return currentOutput

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        """Run every module's updateGradInput in reverse; gradInput is the first module's."""
        currentGradOutput = gradOutput
        for i, module, moduleInput in self._reversed(input):
            try:
                currentGradOutput = module.updateGradInput(moduleInput, currentGradOutput)
            except (ValueError, TypeError) as error:
                _rethrow(error, i)
        self.gradInput = currentGradOutput
        return currentGradOutput

    def accGradParameters(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> None:
        """Run every module's accGradParameters in reverse, with the gradInputs of the last updateGradInput."""
        currentGradOutput = gradOutput
        for i, module, moduleInput in self._reversed(input):
            try:
                module.accGradParameters(moduleInput, currentGradOutput, scale)
            except (ValueError, TypeError) as error:
                _rethrow(error, i)
            currentGradOutput = module.gradInput

    def backward(self, input: np.ndarray, gradOutput: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Run every module's backward in reverse (one pass); return the first module's gradInput."""
        currentGradOutput = gradOutput
        for i, module, moduleInput in self._reversed(input):
            try:
                currentGradOutput = module.backward(moduleInput, currentGradOutput, scale)
            except (ValueError, TypeError) as error:
                _rethrow(error, i)
        self.gradInput = currentGradOutput
        return currentGradOutput

    def _reversed(self, input: np.ndarray):
        """(index, module, the input it saw in forward), last module first."""
        if not self._forwarded and len(self.modules) > 1:
            raise ValueError("Sequential: backward needs a forward first: each module's input is the "
                             "output of the module before it, computed by forward(input)")
        for i in range(len(self.modules) - 1, -1, -1):
            yield i, self.modules[i], self.modules[i - 1].output if i > 0 else input

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every module's live arrays, in order: ``([weight1, bias1, ...], [gradWeight1, gradBias1, ...])``.

        As Torch's Container, two lists, empty when no module has parameters (never None).
        """
        params, gradParams = [], []
        for module in self.modules:
            moduleParams = module.parameters()
            if moduleParams is not None:
                params.extend(moduleParams[0])
                gradParams.extend(moduleParams[1])
        return params, gradParams

    def zeroGradParameters(self) -> None:
        """Every module's zeroGradParameters."""
        for module in self.modules:
            module.zeroGradParameters()

    def updateParameters(self, learningRate: float) -> None:
        """Every module's updateParameters."""
        learningRate = real_number("Sequential.updateParameters", "learningRate", learningRate)
        for module in self.modules:
            module.updateParameters(learningRate)

    def training(self) -> Sequential:
        """Set the ``train`` flag here and in every module; return the container."""
        super().training()
        for module in self.modules:
            module.training()
        return self

    def evaluate(self) -> Sequential:
        """Clear the ``train`` flag here and in every module; return the container."""
        super().evaluate()
        for module in self.modules:
            module.evaluate()
        return self

    def __repr__(self) -> str:
        chain = "".join(f" -> ({i})" for i in range(1, len(self.modules) + 1))
        lines = ["nn.Sequential {", f"  [input{chain} -> output]"]
        for i, module in enumerate(self.modules, 1):
            lines.append(f"  ({i}): " + repr(module).replace("\n", "\n  "))
        lines.append("}")
        return "\n".join(lines)


def _rethrow(error: Exception, index: int):
    """Re-raise a module's ValueError or TypeError saying which module (1-based, as the repr) raised it."""
    if type(error) in (ValueError, TypeError):
        raise type(error)(f"Sequential module ({index + 1}): {error}") from error
    raise error

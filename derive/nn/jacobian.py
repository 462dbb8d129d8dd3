"""Gradient checks the way Torch's tests make them (its nn.Jacobian): backprop against
central differences, for the input and every parameter of a module.

Each Jacobian has one row per output element and one column per element of the array
differentiated against (numerator layout), whatever the shapes of the arrays.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .module import Module

#: Torch's nn tests perturb by this much.
PERTURBATION = 1e-6


class GradientShapeError(ValueError):
    """A gradient array whose shape is not its parameter's (``index`` in ``parameters()`` order)."""

    def __init__(self, index: int, expected: tuple[int, ...], got: tuple[int, ...]) -> None:
        super().__init__(f"gradient {index + 1} in parameters() has shape {got}, its parameter {expected}")
        self.index, self.expected, self.got = index, expected, got


def backward_jacobians(module: Module, input: np.ndarray) -> list[np.ndarray]:
    """d output / d input, then d output / d each parameter (``parameters()`` order), by backprop.

    Row k is what ``backward`` gives for the one-hot gradOutput e_k; the module's
    gradient arrays are zeroed before each call and left holding the last one. Each
    call gets a fresh gradOutput, and ``parameters()`` is read again after it, so a
    module that writes into gradOutput or rebinds its gradient arrays is measured as
    it behaves. A gradient whose shape is not its parameter's raises GradientShapeError.
    """
    output = module.forward(input)
    params, _ = module.parameters() or ([], [])
    jacobians = [np.zeros((output.size, a.size)) for a in (input, *params)]
    for k in range(output.size):
        gradOutput = np.zeros(output.shape)
        gradOutput.flat[k] = 1
        module.zeroGradParameters()
        jacobians[0][k] = np.asarray(module.backward(input, gradOutput)).ravel()
        for index, (param, gradParam) in enumerate(zip(*(module.parameters() or ([], [])))):
            if np.shape(gradParam) != param.shape:
                raise GradientShapeError(index, param.shape, np.shape(gradParam))
            jacobians[index + 1][k] = np.ravel(gradParam)
    return jacobians


def central_differences(outputs: Callable[[], Sequence[np.ndarray]], array: np.ndarray,
                         perturbation: float = PERTURBATION) -> list[np.ndarray]:
    """d outputs()[m] / d array for each output m, by central differences: one (output size,
    array size) matrix each.  ``array`` (an input or a live parameter the outputs read) is
    perturbed in place, one element at a time, and restored."""
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array) and array.size:
        raise ValueError("the array must be contiguous and read by the outputs (an input or a parameter)")
    # Column j is written as row j of the transpose: contiguous, where a column of a
    # big Jacobian is strided (this took a third of a check of Linear(64 -> 64), batch 8).
    columns = [np.zeros((array.size, np.size(o))) for o in outputs()]
    for j in range(array.size):
        original = flat[j]
        flat[j] = original + perturbation
        above = [np.ravel(o).copy() for o in outputs()]  # a module may reuse its output buffer
        flat[j] = original - perturbation
        below = [np.ravel(o) for o in outputs()]
        flat[j] = original
        for column, a, b in zip(columns, above, below):
            column[j] = (a - b) / (2 * perturbation)
    return [column.T for column in columns]


def numeric_gradient(loss, array: np.ndarray, perturbation: float = PERTURBATION) -> np.ndarray:
    """d loss() / d array by central differences of the scalar ``loss()``; ``array`` (an input
    or a live parameter the loss reads) is perturbed in place, one element at a time, and restored."""
    return central_differences(lambda: [np.asarray(loss())], array, perturbation)[0].reshape(array.shape)


def numeric_jacobian(module: Module, input: np.ndarray, wrt: np.ndarray,
                     perturbation: float = PERTURBATION) -> np.ndarray:
    """d output / d wrt by central differences; ``wrt`` (the input or a live parameter) is
    perturbed in place, one element at a time, and restored."""
    if not np.shares_memory(wrt.reshape(-1), wrt):
        raise ValueError("wrt must be a contiguous array the module reads (the input or a parameter)")
    return central_differences(lambda: [module.forward(input)], wrt, perturbation)[0]


def jacobian_errors(module: Module, input: np.ndarray,
                    perturbation: float = PERTURBATION) -> list[float]:
    """Largest |backprop - central differences| for the input, then for each parameter."""
    params, _ = module.parameters() or ([], [])
    return [float(np.max(np.abs(exact - numeric_jacobian(module, input, wrt, perturbation))))
            for exact, wrt in zip(backward_jacobians(module, input), (input, *params))]


class LossModule(Module):
    """A criterion with its target fixed, as a module whose output is [J], so that
    dJ/dinput is checked as any module's Jacobian (one row)."""

    def __init__(self, criterion, target: np.ndarray) -> None:
        super().__init__()
        self.criterion, self.target = criterion, target

    def updateOutput(self, input: np.ndarray) -> np.ndarray:
        self.output = np.array([float(self.criterion.forward(input, self.target))])
        return self.output

    def updateGradInput(self, input: np.ndarray, gradOutput: np.ndarray) -> np.ndarray:
        self.gradInput = gradOutput[0] * np.asarray(self.criterion.backward(input, self.target))
        return self.gradInput

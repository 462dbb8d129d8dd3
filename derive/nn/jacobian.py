"""Gradient checks the way Torch's tests make them (its nn.Jacobian): backprop against
central differences, for the input and every parameter of a module.

Each Jacobian has one row per output element and one column per element of the array
differentiated against (numerator layout), whatever the shapes of the arrays.
"""

from __future__ import annotations

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


def numeric_gradient(loss, array: np.ndarray, perturbation: float = PERTURBATION) -> np.ndarray:
    """d loss() / d array by central differences of the scalar ``loss()``; ``array`` (an input
    or a live parameter the loss reads) is perturbed in place, one element at a time, and restored."""
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        keep = array[index]
        array[index] = keep + perturbation
        plus = loss()
        array[index] = keep - perturbation
        minus = loss()
        array[index] = keep
        gradient[index] = (plus - minus) / (2 * perturbation)
    return gradient


def numeric_jacobian(module: Module, input: np.ndarray, wrt: np.ndarray,
                     perturbation: float = PERTURBATION) -> np.ndarray:
    """d output / d wrt by central differences; ``wrt`` (the input or a live parameter) is
    perturbed in place, one element at a time, and restored."""
    flat = wrt.reshape(-1)
    if not np.shares_memory(flat, wrt):
        raise ValueError("wrt must be a contiguous array the module reads (the input or a parameter)")
    # Column j is written as row j of the transpose: contiguous, where a column of a
    # big Jacobian is strided (this took a third of a check of Linear(64 -> 64), batch 8).
    columns = np.zeros((wrt.size, module.forward(input).size))
    for j in range(wrt.size):
        original = flat[j]
        flat[j] = original + perturbation
        above = module.forward(input).ravel().copy()
        flat[j] = original - perturbation
        below = module.forward(input).ravel()
        flat[j] = original
        columns[j] = (above - below) / (2 * perturbation)
    return columns.T


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

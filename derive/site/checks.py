"""Gradient checks as the pages make them, with derive.nn.jacobian (Torch's check:
backprop against central differences), and how the pages report them.
"""

from __future__ import annotations

import numpy as np

from derive.nn import Module, Sequential, jacobian

# The largest error Torch's module tests accept between the numeric and the backprop Jacobian.
PRECISION = 1e-5


def _parameter_names(module) -> list[str]:
    """Names of a module's parameters in ``parameters()`` order: weight, bias; in a
    Sequential each followed by its module's 1-based index, as the repr numbers them."""
    if isinstance(module, Sequential):
        return [f"{name} ({i})" for i, inner in enumerate(module.modules, 1)
                for name in _parameter_names(inner)]
    return [name for name in ("weight", "bias") if getattr(module, name) is not None]


def module_jacobian_errors(module, input) -> dict[str, float]:
    """{"input": error, parameter name: error, ...}: each Jacobian's largest absolute error."""
    return dict(zip(["input"] + _parameter_names(module), jacobian.jacobian_errors(module, input)))


class _Loss(Module):
    """A criterion with its target fixed, as a module whose output is [J], so that
    derive.nn.jacobian checks dJ/dinput as it checks any module."""

    def __init__(self, criterion, target) -> None:
        super().__init__()
        self.criterion, self.target = criterion, target

    def updateOutput(self, input):
        self.output = np.array([self.criterion.forward(input, self.target)])
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput[0] * self.criterion.backward(input, self.target)
        return self.gradInput


def criterion_gradient_error(criterion, input, target) -> float:
    """Largest |central difference - backward| over dJ/dinput of a criterion."""
    error, = jacobian.jacobian_errors(_Loss(criterion, target), input)
    return error


def sample_shape(size: int, batch: int | None) -> tuple[int, ...]:
    """The shape of one sample of `size`, or of a batch of them (one a row)."""
    return (size,) if batch is None else (batch, size)


def passed(errors) -> str:
    """The pages' last column: are all errors below Torch's precision?"""
    return "yes" if max(errors) < PRECISION else "**no**"


def plain_number(value: float) -> str:
    """A computed number as the tables show it: up to 10 digits, no -0."""
    text = f"{float(value):.10g}"
    return "0" if text == "-0" else text

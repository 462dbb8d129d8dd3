"""Gradient checks as the pages make them, with derive.nn.check (the checker of
`derive check`: Torch's backprop against central differences), and how the pages report them.
"""

from __future__ import annotations

from derive.nn import Sequential
from derive.nn.check import PRECISION, criterion_check, jacobian_check


def _parameter_names(module) -> list[str]:
    """Names of a module's parameters in ``parameters()`` order: weight, bias; in a
    Sequential each followed by its module's 1-based index, as the repr numbers them."""
    if isinstance(module, Sequential):
        return [f"{name} ({i})" for i, inner in enumerate(module.modules, 1)
                for name in _parameter_names(inner)]
    return [name for name in ("weight", "bias") if getattr(module, name) is not None]


def module_jacobian_errors(module, input) -> dict[str, float]:
    """{"input": error, parameter name: error, ...}: each Jacobian's largest absolute error."""
    result = jacobian_check(module, input)
    if result.message:
        raise ValueError(f"{module!r}: {result.message}")
    return dict(zip(["input"] + _parameter_names(module), (c.error for c in result.comparisons)))


def criterion_gradient_error(criterion, input, target) -> float:
    """Largest |central difference - backward| over dJ/dinput of a criterion."""
    result = criterion_check(criterion, input, target)
    if result.message:
        raise ValueError(f"{criterion!r}: {result.message}")
    return result.error


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

"""Gradient checks as the pages make and report them: Torch's perturbation and
precision, the Jacobian errors of a module, and how a result is printed.
"""

from __future__ import annotations

from derive.nn import Sequential
from derive.nn.jacobian import jacobian_errors as errors


# Torch's module tests: central differences with this perturbation, and the
# largest error they accept between the numeric and the backprop Jacobian.
PERTURBATION = 1e-6
PRECISION = 1e-5


def _parameter_names(module) -> list[str]:
    """Names of a module's parameters in ``parameters()`` order: weight, bias; in a
    Sequential each followed by its module's 1-based index, as the repr numbers them."""
    if isinstance(module, Sequential):
        return [f"{name} ({i})" for i, inner in enumerate(module.modules, 1)
                for name in _parameter_names(inner)]
    return [name for name in ("weight", "bias") if getattr(module, name) is not None]


def module_jacobian_errors(module, input, perturbation: float = PERTURBATION) -> dict[str, float]:
    """{"input": error, parameter name: error, ...}: derive.nn.jacobian's check (Torch's:
    backprop against central differences), each Jacobian's largest absolute error."""
    return dict(zip(["input"] + _parameter_names(module), errors(module, input, perturbation)))


def sample_shape(size: int, batch: int | None) -> tuple[int, ...]:
    return (size,) if batch is None else (batch, size)


def passed(errors) -> str:
    return "yes" if max(errors) < PRECISION else "**no**"


def plain_number(value: float) -> str:
    text = f"{float(value):.10g}"
    return "0" if text == "-0" else text

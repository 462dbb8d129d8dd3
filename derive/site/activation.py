"""The pages of Sigmoid, Tanh and ReLU: the engine's derivation, the module in use,
its checks, and ReLU's gradient at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive import nn
from derive.latex import markdown
from derive.nn.jacobian import PERTURBATION
from derive.symbolic import activation

from .checks import module_jacobian_errors, passed, plain_number, sample_shape
from .derivation import demote, results_block
from .snippets import snippet_with_output


MODULE_SIZE = 3  # the activation and MSECriterion pages derive at this size ...
MODULE_BATCH = 2  # ... and this batch
# What they check by central differences: (size, batch or None).
MODULE_CASES = [(3, None), (3, 2), (10, None), (10, 50)]


@dataclass(frozen=True)
class ActivationPage:
    """What an activation's page says beyond the engine's derivation."""

    torch: str  # the class name, in derive.nn and Torch
    formula: str  # f, LaTeX
    backward: str  # how Torch's backward computes gradInput (markdown)
    example: tuple[float, ...]  # the snippet's input
    derivative: tuple[str, str]  # (what the snippet prints, numpy for it) with x, y, dJ_dy

    def module(self) -> nn.Module:
        """A new derive.nn module of this activation."""
        return getattr(nn, self.torch)()


# What derive.nn does when backward does not follow forward of the same input.
_OUTPUT_CAVEAT = (
    "Nothing checks the values, here as in Torch: after a `forward` of another input of the "
    "same shape, `backward` silently uses that input's output. derive.nn refuses only a "
    "`backward` before any `forward`, or with an input whose shape or dtype differs from "
    "the last `forward`'s."
)

ACTIVATION_PAGES = {
    "sigmoid": ActivationPage(
        "Sigmoid", r"\sigma(x) = \frac{1}{1 + e^{-x}}",
        "Torch's `Sigmoid.lua` computes `gradInput` from the **output**: "
        "\\(\\sigma'(x) = \\sigma(x)\\,(1 - \\sigma(x)) = y\\,(1 - y)\\), so `backward` must follow "
        "`forward` of the same input. " + _OUTPUT_CAVEAT,
        (-2.0, 0.0, 3.0), ("dJ/dy * y * (1 - y):", "dJ_dy * y * (1 - y)")),
    "tanh": ActivationPage(
        "Tanh", r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
        "Torch's `Tanh.lua` computes `gradInput` from the **output**: "
        "\\(\\tanh'(x) = 1 - \\tanh^2(x) = 1 - y^2\\), so `backward` must follow `forward` of "
        "the same input. " + _OUTPUT_CAVEAT,
        (-2.0, 0.0, 3.0), ("dJ/dy * (1 - y**2):", "dJ_dy * (1 - y**2)")),
    "relu": ActivationPage(
        "ReLU", r"\mathrm{ReLU}(x) = \max(x, 0)",
        "Torch's `ReLU` is `Threshold(0, 0)`: \\(y = x\\) where \\(x > 0\\), else 0. Its "
        "`gradInput` reads the **input**: `gradOutput` where \\(x > 0\\) and 0 elsewhere, "
        "\\(x = 0\\) included (see [the gradient at 0](#the-gradient-at-0)).",
        (-1.0, 0.0, 2.0), ("dJ/dy * (x > 0):", "dJ_dy * (x > 0)")),
}


def activation_script(name: str) -> str:
    """Forward and backward of one sample and of a batch through an activation."""
    page = ACTIVATION_PAGES[name]
    x = list(page.example)
    said, formula = page.derivative
    return f"""\
import numpy as np
from derive.nn import {page.torch}

layer = {page.torch}()
x = np.array({x})
dJ_dy = np.array([1.0, 2.0, 3.0])
y = layer.forward(x).copy()         # forward returns the module's output buffer
print("output:", y)
print("gradInput:", layer.backward(x, dJ_dy))
print("{said}", {formula})

X = np.array([{x}, [0.5, -0.5, 1.0]])   # a batch of 2: one sample a row
print("batch output:", layer.forward(X), sep="\\n")
"""


def activation_checks(name: str) -> list[tuple[tuple[int, ...], float, float]]:
    """(input shape, largest |central difference - backprop| of d output / d input,
    smallest |x| of the input) for each of MODULE_CASES, on seeded random input."""
    rows = []
    for size, batch in MODULE_CASES:
        rng = np.random.default_rng([*name.encode(), size, batch or 0])
        input = rng.uniform(-2, 2, sample_shape(size, batch))
        errors = module_jacobian_errors(ACTIVATION_PAGES[name].module(), input)
        rows.append((input.shape, errors["input"], float(np.min(np.abs(input)))))
    return rows


def relu_at_zero() -> dict[str, float]:
    """ReLU at x = 0: derive.nn's gradient, and the one-sided and central differences."""
    relu, h = nn.ReLU(), PERTURBATION

    def f(value: float) -> float:
        return float(relu.forward(np.array([value]))[0])

    relu.forward(np.array([0.0]))
    return {
        "backward": float(relu.backward(np.array([0.0]), np.array([1.0]))[0]),
        "right": (f(h) - f(0.0)) / h,
        "left": (f(0.0) - f(-h)) / h,
        "central": (f(h) - f(-h)) / (2 * h),
    }


def _relu_at_zero_section() -> str:
    at = {key: plain_number(value) for key, value in relu_at_zero().items()}
    return f"""\
## The gradient at 0

ReLU has no derivative at \\(x = 0\\): the slope is 1 from the right and 0 from the left,
and any value in \\([0, 1]\\) is a subgradient. Torch picks 0 (the gradient passes where
\\(x > 0\\), strictly), and so does derive.nn. Computed when the site was built, with
\\(h = 10^{{-6}}\\):

| at \\(x = 0\\) | value |
|---|--:|
| derive.nn's `backward`, `gradOutput` 1 | {at["backward"]} |
| \\((f(h) - f(0)) / h\\), from the right | {at["right"]} |
| \\((f(0) - f(-h)) / h\\), from the left | {at["left"]} |
| \\((f(h) - f(-h)) / 2h\\), central | {at["central"]} |

A central difference at 0 averages the two sides and agrees with neither, so a
finite-difference check of ReLU means nothing at (or within \\(h\\) of) the kink. The
checks above use random inputs whose smallest \\(|x|\\) is in the table, far from it.
"""


# ReLU's results use the Iverson bracket; say what it means where it first appears.
_IVERSON = "; \\([x > 0]\\) is the Iverson bracket: 1 where \\(x > 0\\), else 0"


def activation_page(name: str) -> str:
    """Sigmoid, Tanh or ReLU: the engine's derivation, the module in use, its checks."""
    page = ACTIVATION_PAGES[name]
    derivation = activation(name, MODULE_SIZE, batch=MODULE_BATCH)
    relu = name == "relu"
    table = ["| input | d output / d input | < 1e-5 |" + (" smallest \\(\\lvert x \\rvert\\) |" if relu else ""),
             "|---|--:|:-:|" + ("--:|" if relu else "")]
    for shape, error, smallest in activation_checks(name):
        table.append(f"| {shape} | {error:.1e} | {passed([error])} |"
                     + (f" {smallest:.1e} |" if relu else ""))
    table_text = "\n".join(table)
    return f"""\
# {page.torch}

`nn.{page.torch}` applies \\({page.formula}\\) to every element of its input: one sample
\\(\\mathbf{{x}}\\) of any size, or a batch \\(\\mathbf{{X}}\\) with one sample a row. It has no
parameters, so `backward` is `updateGradInput` alone. {page.backward}

The engine's results (\\(\\odot\\) is the element-wise product; in a batch the same
holds row by row{_IVERSON if relu else ""}):

{results_block(derivation)}

{demote(markdown(derivation))}
## Use it

`derive.nn.{page.torch}` runs the kernel compiled from these results. This ran when the
site was built:

{snippet_with_output(activation_script(name))}
## Numeric checks

Torch's check, computed when the site was built: seeded random inputs in \\([-2, 2]\\),
each entry perturbed by \\(h = 10^{{-6}}\\), the central-difference Jacobian against the one
`backward` gives for one-hot `gradOutput`s; the largest absolute error:

{table_text}
{chr(10) + _relu_at_zero_section() if relu else ""}"""

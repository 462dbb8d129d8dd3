"""The page of MSECriterion: the engine's derivations, the criterion in use, its checks."""

from __future__ import annotations

import numpy as np

from derive.latex import markdown
from derive.nn import MSECriterion
from derive.symbolic import mse

from .activation import MODULE_BATCH, MODULE_CASES, MODULE_SIZE
from .checks import criterion_gradient_error, passed, sample_shape
from .derivation import demote, results_block, without_convention
from .snippets import snippet_with_output


def mse_script() -> str:
    """MSECriterion on one sample, a batch, and without averaging."""
    return """\
import numpy as np
from derive.nn import MSECriterion

criterion = MSECriterion()                     # sizeAverage=True, Torch's default
prediction = np.array([0.5, 2.0, -1.0])
target = np.array([1.0, 2.0, 1.0])
print("J:", criterion.forward(prediction, target))
print("dJ/dx:", criterion.backward(prediction, target))
print("2 (x - t) / 3:", 2 * (prediction - target) / 3)

Prediction = np.array([[0.5, 2.0, -1.0], [0.0, 1.0, 1.0]])   # a batch of 2
Target = np.zeros((2, 3))
print("batch J, over all 6 elements:", criterion.forward(Prediction, Target))
print("batch dJ/dX = 2 (X - T) / 6:", criterion.backward(Prediction, Target), sep="\\n")

summed = MSECriterion(sizeAverage=False)
print("sizeAverage=False: J =", summed.forward(prediction, target),
      "dJ/dx =", summed.backward(prediction, target))
"""


def mse_checks() -> list[tuple[tuple[int, ...], bool, float]]:
    """(input shape, sizeAverage, largest error of dJ/dinput) on seeded random input and target."""
    rows = []
    for size, batch in MODULE_CASES:
        for size_average in (True, False):
            rng = np.random.default_rng([size, batch or 0, int(size_average)])
            input, target = (rng.uniform(-2, 2, sample_shape(size, batch)) for _ in range(2))
            error = criterion_gradient_error(MSECriterion(size_average), input, target)
            rows.append((input.shape, size_average, error))
    return rows


def mse_page() -> str:
    """MSECriterion: the engine's derivations (one sample, a batch), use, checks."""
    single = mse(MODULE_SIZE)
    batch = mse(MODULE_SIZE, batch=MODULE_BATCH)
    summed = mse(MODULE_SIZE, size_average=False)
    table = ["| input | sizeAverage | dJ / d input | < 1e-5 |", "|---|:-:|--:|:-:|"]
    for shape, size_average, error in mse_checks():
        table.append(f"| {shape} | {str(size_average).lower()} | {error:.1e} | {passed([error])} |")
    table_text = "\n".join(table)
    return f"""\
# MSECriterion

`nn.MSECriterion()` is the loss \\(J\\): the mean of the squared differences between the
prediction \\(\\mathbf{{x}}\\) (the network's output, the criterion's input) and the target
\\(\\mathbf{{t}}\\), over **all** \\(N\\) elements: for a batch \\(\\mathbf{{X}}\\) of \\(B\\)
samples of \\(n\\), \\(N = Bn\\), as Torch divides by `input:nElement()`. With
`sizeAverage=False` it is the plain sum. Its `backward(input, target)` returns
\\(\\partial J / \\partial \\mathbf{{x}}\\): the `gradOutput` that the network's `backward`
starts from.

The engine derives it from one expression, `J = mean((x - t)**2)` (`J = sum((x - t)**2)`
without sizeAverage); a batch is the same expression over every element of the
\\(B \\times n\\) input, `J = mean((X[s,i] - T[s,i])**2, s, i)`.

The engine's results for {MODULE_SIZE} outputs:

{results_block(single)}

and with `sizeAverage=False`:

{results_block(summed)}

{demote(markdown(single))}
{demote(without_convention(markdown(batch)))}
## Use it

`derive.nn.MSECriterion` runs the kernels compiled from these results: `forward` returns
a float, `backward` an array shaped like the input. This ran when the site was built:

{snippet_with_output(mse_script())}
## Numeric checks

Computed when the site was built: seeded random predictions and targets in
\\([-2, 2]\\), each entry of the prediction perturbed by \\(h = 10^{{-6}}\\), the central
difference of \\(J\\) against `backward`; the largest absolute error:

{table_text}

\\(J\\) is quadratic, so central differences have no truncation error here: what remains
is rounding.
"""

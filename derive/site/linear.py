"""The pages of nn.Linear: backward propagation in the tutorial's order, and batch mode."""

from __future__ import annotations

import dataclasses

from derive.latex import markdown
from derive.symbolic import linear, worked_example

from .derivation import demote, without_convention
from .snippets import snippet_with_output
from .tutorial import (TUTORIAL_BIAS, TUTORIAL_DECIMALS, TUTORIAL_GRAD_OUTPUT, TUTORIAL_INPUT, TUTORIAL_LEARNING_RATE,
                       TUTORIAL_PRINTS, TUTORIAL_WEIGHT, four_decimals, tutorial_credit,
                       tutorial_numbers)


LINEAR_BATCH = 4  # the batch size the batch page is derived at

# How both snippets start: the tutorial's layer, as tutorial_layer() makes it.
_LAYER_SCRIPT = f"""\
import numpy as np
from derive.nn import Linear

layer = Linear(2, 3)
layer.weight[...] = {[list(row) for row in TUTORIAL_WEIGHT]}
layer.bias[...] = {list(TUTORIAL_BIAS)}
"""


def tutorial_script() -> str:
    """The Python a user runs to get the tutorial's numbers with derive.nn.Linear."""
    return _LAYER_SCRIPT + f"""\
x = np.array({list(TUTORIAL_INPUT)})
dJ_dy = np.array({list(TUTORIAL_GRAD_OUTPUT)})

layer.zeroGradParameters()         # 1. gradWeight = 0, gradBias = 0
layer.forward(x)
layer.backward(x, dJ_dy)           # 2. updateGradInput + accGradParameters
print("gradInput:", layer.gradInput)
print("gradWeight:", layer.gradWeight, sep="\\n")
print("gradBias:", layer.gradBias)
layer.updateParameters({TUTORIAL_LEARNING_RATE})       # 3. W -= eta gradWeight; b likewise
print("weight:", layer.weight, sep="\\n")
print("bias:", layer.bias)
"""


def linear_page() -> str:
    """Linear: backward propagation, in the tutorial's order, for the 2 -> 3 layer."""
    derivation = linear(2, 3)
    example = worked_example(
        [list(row) for row in TUTORIAL_WEIGHT],
        list(TUTORIAL_BIAS),
        list(TUTORIAL_INPUT),
        list(TUTORIAL_GRAD_OUTPUT),
        TUTORIAL_LEARNING_RATE,
    )
    return f"""\
# Linear: backward propagation

This page follows {tutorial_credit()}, step by step, and checks its numbers.

A layer `nn.Linear(2 -> 3)` computes \\(\\mathbf{{y}} = \\mathbf{{W}}\\mathbf{{x}} + \\mathbf{{b}}\\).
Training it takes the three calls the tutorial walks through, in this order:

1. `zeroGradParameters()` sets the accumulated gradients \\(\\Delta_\\mathbf{{W}}\\)
   (`gradWeight`) and \\(\\Delta_\\mathbf{{b}}\\) (`gradBias`) to zero;
2. `backward(input, gradOutput)` is `updateGradInput` (computes
   \\(\\partial J / \\partial \\mathbf{{x}}\\), `gradInput`, for the layer before)
   followed by `accGradParameters` (adds \\(\\partial J / \\partial \\mathbf{{W}}\\) and
   \\(\\partial J / \\partial \\mathbf{{b}}\\) to `gradWeight` and `gradBias`);
3. `updateParameters(learningRate)` takes a gradient-descent step
   \\(\\mathbf{{W}} \\leftarrow \\mathbf{{W}} - \\eta \\Delta_\\mathbf{{W}}\\),
   \\(\\mathbf{{b}} \\leftarrow \\mathbf{{b}} - \\eta \\Delta_\\mathbf{{b}}\\).

Below, derive's engine derives each formula for this layer; every displayed equality
is proved by sympy when the site is built. Jacobians are in numerator layout
(\\(\\partial \\mathbf{{y}} / \\partial \\mathbf{{x}}\\) is 3 x 2 and equals \\(\\mathbf{{W}}\\)):
see [the layout convention](tutorial-notes.md#layout-convention).

{demote(without_convention(markdown(derivation)))}
{demote(without_convention(markdown(example, decimals=TUTORIAL_DECIMALS)))}
## Run it

The same numbers from `derive.nn.Linear` (numpy only, Torch7's API). This code ran
when the site was built, and printed what follows it:

{snippet_with_output(tutorial_script())}
The tutorial prints \\({four_decimals(TUTORIAL_PRINTS["gradInput"])}\\) for `gradInput`: it
computed with the unrounded random weights, while the four-decimal \\(\\mathbf{{W}}\\) it
shows gives \\({four_decimals(tutorial_numbers()["gradInput"])}\\). See
[Numeric checks](numeric-checks.md).
"""


def batch_script() -> str:
    """A batch of samples through the tutorial's layer, checked against one-by-one."""
    return _LAYER_SCRIPT + """\
X = np.array([[4.0, 5.0], [1.0, 0.0], [0.0, 1.0], [-2.0, 3.0]])       # 4 samples, one a row
dJ_dY = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0], [1.0, 1.0, 1.0], [0.0, -2.0, 0.5]])

layer.zeroGradParameters()
layer.forward(X)
layer.backward(X, dJ_dY)
print("gradInput = dJ/dY W:", layer.gradInput, sep="\\n")
print("gradWeight = (dJ/dY)^T X:", layer.gradWeight, sep="\\n")
print("gradBias = (dJ/dY)^T 1:", layer.gradBias)

# The batch gradients are the sums of the one-sample gradients.
one_by_one = Linear(2, 3)
one_by_one.weight[...] = layer.weight
one_by_one.zeroGradParameters()
for x, dJ_dy in zip(X, dJ_dY):
    one_by_one.forward(x)
    one_by_one.backward(x, dJ_dy)
print("same gradWeight:", np.allclose(one_by_one.gradWeight, layer.gradWeight))
print("same gradBias:", np.allclose(one_by_one.gradBias, layer.gradBias))
"""


def batch_page() -> str:
    """Batch mode: Y = X W^T + 1 b^T, derived in full (the tutorial skips it)."""
    single = linear(2, 3)
    both = linear(2, 3, batch=LINEAR_BATCH)
    # The batch derivation repeats the one-sample sections first: show the rest.
    titles = {section.title for section in single.sections}
    batch_only = dataclasses.replace(
        both, sections=[s for s in both.sections if s.title not in titles]
    )
    return f"""\
# Batch mode

With a 2-D input (`input:dim() == 2` in Torch) each row of \\(\\mathbf{{X}}\\) is one
sample, and the layer computes all outputs at once,
\\(\\mathbf{{Y}} = \\mathbf{{X}}\\mathbf{{W}}^{{T}} + \\mathbf{{1}}\\mathbf{{b}}^{{T}}\\).
The tutorial says the derivation is "the same as above" and skips it; here it is in full
for `nn.Linear(2 -> 3)` and a batch of {LINEAR_BATCH}, every equality proved by the
engine when the site was built. Torch's `updateGradInput` computes
`gradOutput * weight` (\\(\\frac{{\\partial J}}{{\\partial \\mathbf{{Y}}}}\\mathbf{{W}}\\)) and
`accGradParameters` adds `gradOutput:t() * input` and `gradOutput:t() * addBuffer`
(a column of ones), the three results below.

{demote(markdown(batch_only))}
## Run it

This ran when the site was built:

{snippet_with_output(batch_script())}"""

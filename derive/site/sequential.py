"""The page of Sequential: the chain rule across modules, in the engine and in derive.nn."""

from __future__ import annotations

import inspect
import textwrap

import numpy as np

from derive import nn
from derive.nn.jacobian import PERTURBATION
from derive.symbolic import sequential

from .checks import module_jacobian_errors, passed, sample_shape
from .derivation import CONVENTION_LINK, results_block
from .snippets import snippet_with_output


# Stacks Linear(n_in -> n_hidden) -> f -> Linear(n_hidden -> n_out) the Sequential page
# checks, with each activation f: (n_in, n_hidden, n_out, batch or None).
STACK_CASES = [(2, 3, 1, None), (2, 3, 1, 4), (10, 20, 5, None), (10, 20, 5, 50)]


def sequential_script() -> str:
    """A Linear -> Sigmoid -> Linear stack, its backward, and the same pass by hand."""
    return """\
import numpy as np
from derive.nn import Linear, Sequential, Sigmoid

model = Sequential().add(Linear(2, 3, rng=0)).add(Sigmoid()).add(Linear(3, 1, rng=1))
print(model)
x = np.array([0.5, -1.0])
dJ_dy = np.array([1.0])
model.zeroGradParameters()
model.forward(x)
gradInput = model.backward(x, dJ_dy)

# The same pass by hand, last module first, with the engine's formulas and names:
# W1 is module (1)'s weight, W2 module (3)'s; h2 is the Sigmoid's output in forward.
W1, W2 = model.get(1).weight, model.get(3).weight
h2 = model.get(2).output
dJ_dh2 = W2.T @ dJ_dy                       # module (3), Linear: W2^T dJ/dy
dJ_dh1 = dJ_dh2 * h2 * (1 - h2)             # module (2), Sigmoid: element-wise product
dJ_dx = W1.T @ dJ_dh1                       # module (1), Linear: W1^T times that
print("Sequential.backward:", gradInput)
print("by hand:            ", dJ_dx)
print("dJ/dW1 = dJ/dh1 x^T: ", np.allclose(model.get(1).gradWeight, np.outer(dJ_dh1, x)))
print("dJ/dW2 = dJ/dy h2^T: ", np.allclose(model.get(3).gradWeight, np.outer(dJ_dy, h2)))
"""

# The stack's parameters as the derivation names them (the repr numbers the modules
# (1), (2), (3); the Linear layers are the first and the last).
_MATH_NAMES = {"input": "x", "weight (1)": "W₁", "bias (1)": "b₁", "weight (3)": "W₂", "bias (3)": "b₂"}


# The activations the stacks are checked with, as derive.nn names them.
ACTIVATIONS = ("Sigmoid", "Tanh", "ReLU")


def _stack(n_in: int, n_hidden: int, n_out: int, activation: str, rng):
    return (nn.Sequential().add(nn.Linear(n_in, n_hidden, rng=rng))
            .add(getattr(nn, activation)())
            .add(nn.Linear(n_hidden, n_out, rng=rng)))


def sequential_checks() -> list[tuple[str, str, tuple[int, ...], dict[str, float], float]]:
    """(activation, sizes "in→hidden→out", input shape, {input or parameter: largest
    error}, smallest |h1|) for every activation and STACK_CASES, seeded."""
    rows = []
    for activation in ACTIVATIONS:
        for n_in, n_hidden, n_out, batch in STACK_CASES:
            rng = np.random.default_rng([*activation.lower().encode(), n_in, n_hidden, n_out, batch or 0])
            stack = _stack(n_in, n_hidden, n_out, activation, rng)
            input = rng.uniform(-1, 1, sample_shape(n_in, batch))
            errors = module_jacobian_errors(stack, input)
            stack.forward(input)
            hidden = float(np.min(np.abs(stack.get(1).output)))
            rows.append((activation, f"{n_in}\u2192{n_hidden}\u2192{n_out}",
                         input.shape, errors, hidden))
    return rows


def sequential_page() -> str:
    """Sequential: the chain rule across modules, in the engine and in derive.nn."""
    rows = sequential_checks()
    names = list(rows[0][3])
    table = ["| f | sizes | input | " + " | ".join(f"d / d {_MATH_NAMES[name]}" for name in names)
             + " | < 1e-5 |",
             "|---|---|---|" + "--:|" * len(names) + ":-:|"]
    for activation, sizes, shape, errors, _ in rows:
        table.append(f"| {activation} | {sizes} | {shape} | "
                     + " | ".join(f"{errors[name]:.1e}" for name in names)
                     + f" | {passed(errors.values())} |")
    table_text = "\n".join(table)
    relu_hidden = min(hidden for activation, _, _, _, hidden in rows if activation == "ReLU")
    backward_source = textwrap.dedent(inspect.getsource(nn.Sequential.backward))
    derivation = sequential()
    return f"""\
# Sequential

`nn.Sequential` chains modules: `forward` runs them in order, each taking the previous
one's output; `backward` runs them in reverse, each taking the gradient with respect to
its output and handing back the one with respect to its input. The engine derives the
stack Linear(2 -> 3), Sigmoid, Linear(3 -> 1) as one expression,
`y = W2 @ sigmoid(W1 @ x + b1) + b2`: the chain rule through it gives every gradient at
once, and each matrix form, read from the right, is what the reverse pass computes one
module at a time. Every equality is proved at symbolic sizes. {CONVENTION_LINK}

## {derivation.title}

The gradients the engine finds, in matrix form (\\(\\sigma\\) applied element by element):

{results_block(derivation)}

`derive sequential` prints every step, element by element; at this page's width the
stack's elements do not fit, and each module's own steps are on [Linear](linear.md) and
[Sigmoid](nn-sigmoid.md).

## Backward, in the code

`derive.nn.Sequential.backward`, as the code has it when the site was built: module
\\(i\\) gets the input it saw in `forward` (the output of module \\(i - 1\\)) and, as
`gradOutput`, the `gradInput` of module \\(i + 1\\); each module's `backward` also adds
its parameters' gradients.

```python
{backward_source}```

So for Linear, Sigmoid, Linear it computes
\\(\\mathbf{{W}}_2^{{T}}\\frac{{\\partial J}}{{\\partial \\mathbf{{y}}}}\\) first, then the
element-wise product with Sigmoid's derivative \\(\\mathbf{{h}} \\odot (1 - \\mathbf{{h}})\\) at its
output \\(\\mathbf{{h}} = \\sigma(\\mathbf{{W}}_1 \\mathbf{{x}} + \\mathbf{{b}}_1)\\), then
\\(\\mathbf{{W}}_1^{{T}}\\) times that: the last form of \\(\\partial J / \\partial \\mathbf{{x}}\\)
above, read from the right. This ran when the site was built:

{snippet_with_output(sequential_script())}
## Numeric checks

The whole stack checked as Torch checks a module, computed when the site was built:
seeded random layers and inputs, each entry of the input and of every parameter
perturbed by \\(h = 10^{{-6}}\\), the central-difference Jacobian of the stack's output
against what `backward` gives for one-hot `gradOutput`s; the largest absolute error.
Each stack is `Sequential()` of `Linear(in, hidden)`, f, `Linear(hidden, out)`, named as
in the derivation: \\(\\mathbf{{W}}_1\\), \\(\\mathbf{{b}}_1\\) are the first Linear's (module (1) in
the repr, `model.get(1)`), \\(\\mathbf{{W}}_2\\), \\(\\mathbf{{b}}_2\\) the last one's (module (3)).

{table_text}

In the ReLU stacks the entry of \\(\\mathbf{{h}}_1\\) nearest ReLU's kink at 0 is
{relu_hidden:.1e} away, {relu_hidden / PERTURBATION:.0f} times \\(h\\); a perturbation moves an entry of
\\(\\mathbf{{h}}_1\\) by at most \\(h\\) here (inputs and weights are at most 1 in size), so
none crosses it (see [ReLU's gradient at 0](nn-relu.md#the-gradient-at-a-kink)).
"""

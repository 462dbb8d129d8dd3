"""The "Your own layer" page: layers written as one expression, derived, proved and run,
each at build time, with its generated module checked against central differences.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import derive
from derive.latex import markdown
from derive.nn.check import CheckReport, check, load_class

from .checks import plain_number
from .derivation import demote, without_convention


@dataclass(frozen=True)
class UserLayer:
    """A layer as a user brings it: the expression, its shapes, and why it is here."""

    title: str
    expr: str
    shapes: dict
    command: str
    about: str
    name: str


USER_LAYERS = [
    UserLayer("A gated unit", "y = (W @ x) * sigmoid(V @ x)", {"x": (3,), "W": (2, 3), "V": (2, 3)},
              "derive layer 'y = (W @ x) * sigmoid(V @ x)' --shape x=3 --shape W=2,3 --shape V=2,3",
              "A linear map gated element-wise by a sigmoid of another (the GLU of language "
              "models). Its gradient by the input has two terms, one through each branch.", "Gated"),
    UserLayer("Softplus", "y = softplus(x)", {"x": (3,)},
              "derive layer 'y = softplus(x)' --shape x=3",
              "log(1 + e^x), a smooth ReLU; its derivative is the sigmoid.", "Softplus"),
    UserLayer("A 1-D convolution", "y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]",
              {"x": (2, 6), "W": (3, 2, 3)},
              "derive layer 'y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]' --shape x=2,6 --shape W=3,2,3",
              "Index notation: 3 output channels, 2 input channels, a kernel of width 3 and "
              "no padding (Torch's TemporalConvolution, channels first). The output's length "
              "6 - 3 + 1 = 4 is inferred. The gradient by the weight is the correlation of the "
              "input with gradOutput; by the input, the full convolution of gradOutput with the "
              "flipped kernel (the range guard keeps the terms that exist).", "Conv1d"),
]


def layer_checks(layer: UserLayer, batch: int = 4) -> CheckReport:
    """derive check's whole list (Torch's module tests) on the layer's generated module."""
    source = derive.module_source(layer.expr, layer.shapes, name=layer.name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{layer.name.lower()}.py"
        path.write_text(source)
        Layer = load_class(path, layer.name)
    return check(Layer(rng=0), Layer.inputShape, batch=batch)


def layer_page() -> str:
    """The page: the language, then each layer's derivation, module and checks."""
    parts = [INTRODUCTION]
    for layer in USER_LAYERS:
        derivation = derive.layer(layer.expr, layer.shapes)
        source = derive.module_source(layer.expr, layer.shapes, name=layer.name)
        report = layer_checks(layer)
        table = ["| check | largest error | passed |", "|---|---|---|"]
        table += [f"| {result.name} | {plain_number(result.error)} | {'yes' if result.passed else '**no**'} |"
                  for result in report.checks]
        body = demote(without_convention(markdown(derivation)))
        body = body.replace(f"## {derivation.title}\n", "", 1)  # the page's own heading stands for it
        parts.append(f"## {layer.title}\n\n{layer.about}\n\n```sh\n{layer.command}\n```\n\n{body}\n"
                     f"### The generated module\n\n`{layer.command} --module {layer.name.lower()}.py "
                     f"--name {layer.name}` writes this file (numpy and derive.nn only):\n\n"
                     f"```python\n{source}```\n\n"
                     f"### Check\n\n`derive check {layer.name.lower()}.py:{layer.name} --input-shape "
                     f"{','.join(map(str, report.input_shape))} --batch {report.batch}`: Torch's module "
                     f"tests, backprop against central differences among them ({report.rule}), "
                     f"run when this page was built:\n\n" + "\n".join(table))
    return "\n\n".join(parts) + "\n"


INTRODUCTION = r"""# Your own layer

`derive layer` takes a layer written as one expression and gives what the other pages give
for Torch's modules: the forward pass element by element, the Jacobians, the chain rule
with every Kronecker delta summed away, the matrix form where one exists, each displayed
equality proved by sympy at symbolic sizes; and, with `--module`, a Python file with a
Torch7-style module that runs the result on numpy. From Python:
`derive.layer(expr, shapes)` returns the derivation and `derive.module_source(expr, shapes)`
the file's text.

## The language

Two notations share one grammar; the text is parsed against a whitelist and never run.

- **Array notation**, numpy-like: names, numbers, `+ - * / **`, `@` (matrix product), `.T`,
  parentheses, unary minus. `*`, `/` and `**` are element-wise and a scalar broadcasts.
  Functions: `exp log sqrt tanh sigmoid relu softplus abs sin cos`, and `sum(e)`, `mean(e)`
  over all the entries of `e`. Example: `y = W2 @ relu(W1 @ x + b1) + b2`.
- **Index notation**, 1-based like the elements on these pages: `y[i] = sum(W[i,k] * x[k], k) + b[i]`.
  `sum(e, k, ...)` (and `mean`) runs over each named index's whole range; an index may be
  affine (`x[d, t+q-1]`, `x[d, 2*t+q]`). `len(k)` is the number of values index `k` runs
  over, a size as a number (\(N_k\)): MultiMarginCriterion divides by the number of classes,
  `(sum(max(0, 1 - x[t] + x[c]), c) - 1) / len(c)`, and its module takes every number of classes.
- The left side names the output, `y = ...` or `y[c,t] = ...`. A scalar output (`J = ...`)
  makes a criterion (a loss): its target is named with `--target` and is not differentiated.
- Shapes: `--shape NAME=D1[,D2,...]` for each array whose shape does not follow from the
  others; the output's shape is inferred. The input is `x` (or `--input NAME`); every other
  name is a learned parameter, listed by `parameters()` in the order it first appears.

### Extrema, conditions, ranges and constants

- `max(e, k, ...)` and `min(e, k, ...)` run over indices as `sum` does (index notation);
  `max(e)`, `min(e)` take all the entries of `e` (array notation). nn.Max:
  `y[i] = max(x[i,j], j)`; SpatialMaxPooling, 2x2 windows of stride 2:
  `y[c,i,j] = max(x[c, 2*i+p-2, 2*j+q-2], p, q)` with `--range p=2 --range q=2`.
- `max(a, b)`, `min(a, b)` element-wise; `clamp(x, lo, hi)` with numbers for bounds
  (HardTanh: `clamp(x, -1, 1)`); `where(condition, a, b)` with one comparison
  `< <= > >= == !=` as the condition (SoftShrink:
  `where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))`). A comparison is a condition
  only: anywhere else it is an error.
- Subgradients at the kinks are Torch's, and each page says which it uses: a maximum over
  indices passes the gradient to one largest entry, the first in index order (torch.max over
  a dimension, max pooling); `max(a, b)` gives half to each where `a = b` (torch.maximum);
  `clamp` passes it strictly inside its bounds; `relu'(0) = 0`; `where` takes the gradient of
  the branch its condition selects.
- A read outside an array is 0 (zero padding), shown as the guard $[1 \le i + 1 \le n]$ in the
  element; with the output's shape given (`--shape y=...`) it may be larger than the in-range
  reads: SpatialConvolution with padding 1 is
  `y[o,h,w] = sum(W[o,c,p,q] * x[c,h+p-2,w+q-2], c, p, q) + b[o]` with y of x's height and width;
  a transposed (full) convolution reads `x[c, h-p+1, w-q+1]`.
- `--range q=3` (`ranges={"q": 3}`) gives the range of an index that only appears inside
  subscripts; without it an index whose range nothing fixes is an error naming the option.
  A stride is inferred (`x[2*i+p-2]` of an axis of 32 with p of 2: i runs to 16).
- `--constant w` (`constants=("w",)`) names a given array: not learned, not differentiated,
  not in `parameters()`; the generated module takes it as a required keyword argument
  (BCECriterion with weights: `BCE(w=weights)`).
- An array read inside a subscript holds integers, counted from 0 as numpy and PyTorch count:
  LookupTable `y[n,d] = W[x[n], d]`, a class target `J = log(sum(exp(x[k]), k)) - x[t]`.
  It must be the input, the target or a constant, is used only inside subscripts and has no
  gradient; the module checks its values against the axis they index.

### Computed subscripts and shapes

- Inside a subscript only, `//` and `%` by a positive integer, and `min`, `max`, `abs` of
  affine forms: SpatialUpSamplingNearest(2) is Torch7's
  `y[c,u,v] = x[c, (u-1)//2 + 1, (v-1)//2 + 1]`; PixelShuffle(2)
  `y[c,u,v] = x[4*(c-1) + 2*((u-1) % 2) + (v-1) % 2 + 1, (u-1)//2 + 1, (v-1)//2 + 1]`;
  replication padding reads `x[c, min(max(i - 1, 1), H), ...]`, reflection padding
  `x[c, H - abs(H - 1 - abs(i - 2)), ...]`. The output's shape is given (`--shape y=...`).
  Each element's gradient is the sum of gradOutput over the outputs that read it (its
  preimage), a sum with a Kronecker delta, proved like every step; the module adds them
  with one scatter-add (`bincount`). Outside a subscript `//` and `%` are errors.
- An index standing alone is a number, 1 .. its size: SpatialUpSamplingBilinear(2), corners
  aligned as Torch7's, weighs each input by a tent,
  `y[c,u,v] = sum(x[c,i,j] * max(0, 1 - abs((u-1)/2 - (i-1))) * max(0, 1 - abs((v-1)/2 - (j-1))), i, j)`.
- Size-1 axes broadcast in array notation, as numpy's do: `x + b` with x (5, 4) and b (5, 1).
- `concat(a, b, ...)` joins arrays along their last axis (array notation): CReLU is
  `y = concat(max(0, x), max(0, -x))`, JoinTable `y = concat(a, b)` with `--input a,b`; each
  part is guarded by where its range lies.
- A criterion's target may have a shape of its own (`--shape t=...`): SpatialAutoCropMSE is
  `J = mean((x[c, i+1, j+1] - t[c,i,j])**2, c, i, j)` with x (2, 6, 6) and t (2, 4, 4); the
  module checks the target against that shape.

The generated module has Torch7's protocol (`updateOutput`, `updateGradInput`,
`accGradParameters(input, gradOutput, scale)` that adds, `zeroGradParameters`,
`updateParameters`, `parameters()`), takes one sample or a batch (one more leading axis),
and computes its matrix products with BLAS. Where the forward's function reappears in a
gradient (sigmoid, tanh, softmax), the kernel reads it from the output, as Torch's backward
does; where the result does not change when every input of a sample is lowered by the same
number (softmax, log-softmax, cross-entropy), that is proved and the kernel subtracts the
sample's largest input first, so that large logits do not overflow.
"""

"""The page of SpatialConvolution: what it computes, a worked example and its numeric checks,
computed when the site is built. The engine's derivation goes in `convolution_derivation_section`.
"""

from __future__ import annotations

import numpy as np

from derive import nn

from .checks import module_jacobian_errors, passed
from .snippets import snippet_with_output

# What the page checks by central differences:
# (nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH, input shape).
CONVOLUTION_CASES = [
    (1, 1, 2, 2, 1, 1, 0, 0, (1, 3, 4)),
    (2, 3, 3, 3, 1, 1, 1, 1, (2, 5, 5)),
    (2, 3, 3, 3, 1, 1, 1, 1, (4, 2, 5, 5)),
    (3, 2, 3, 2, 2, 1, 0, 1, (3, 6, 7)),
    (3, 2, 3, 2, 2, 1, 0, 1, (2, 3, 6, 7)),
    (1, 2, 5, 3, 3, 2, 2, 1, (2, 1, 7, 9)),
]


def convolution_checks() -> list[tuple[tuple, dict[str, float]]]:
    """(case, largest |central difference - backprop| per Jacobian) for each of CONVOLUTION_CASES:
    weight and bias drawn by reset, input in [-1, 1], all seeded."""
    rows = []
    for case in CONVOLUTION_CASES:
        *sizes, shape = case
        rng = np.random.default_rng([*sizes, *shape])
        layer = nn.SpatialConvolution(*sizes, rng=rng)
        rows.append((case, module_jacobian_errors(layer, rng.uniform(-1, 1, shape))))
    return rows


def convolution_derivation_section() -> str:
    """The derivation of the gradients: the place of the engine's derivation.

    The engine does not derive the convolution yet, so this says so and shows no
    derivation; the formulas the kernels compute are on the page, checked numerically.
    """
    return """\
## Derivation

!!! note "The engine's derivation goes here"
    derive's engine does not derive the convolution yet. When it does, its proved steps
    go here, from the index expression
    `y[c,h,w] = sum(W[c,d,p,q] * x[d,h+p-1,w+q-1], d, p, q) + b[c]`: the gradient of the
    weights as the correlation of the input with `gradOutput`, and the gradient of the
    input as the full convolution of `gradOutput` with the flipped kernel. Until then this
    page states the formulas the kernels compute and checks them numerically; it derives nothing.
"""


def convolution_script() -> str:
    """A 2x2 kernel over one 3x4 plane: output, patches, backward; then steps and padding."""
    return """\
import numpy as np
from derive.nn import SpatialConvolution

np.set_printoptions(precision=4, suppress=True)
conv = SpatialConvolution(1, 1, 2, 2)              # 1 plane in, 1 plane out, 2x2 kernel
conv.weight[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]   # y[i, j] = x[i, j] - x[i+1, j+1] + b
conv.bias[...] = 0.5
x = np.arange(1.0, 13.0).reshape(1, 3, 4)         # one sample: 1 plane of 3 x 4
print(conv)
print("output:", conv.forward(x), sep="\\n")
print("patches (im2col), one column per output pixel:", conv.columns[0], sep="\\n")

dJ_dy = np.array([[[1.0, 0.0, 0.0],
                   [0.0, 0.0, 2.0]]])
conv.zeroGradParameters()
print("gradInput:", conv.backward(x, dJ_dy), sep="\\n")
print("gradWeight:", conv.gradWeight, " gradBias:", conv.gradBias)

strided = SpatialConvolution(1, 1, 3, 3, 2, 2, 1, 1)  # steps 2, padding 1
print(strided, "output shape:", strided.forward(x).shape)
"""


def convolution_page() -> str:
    """SpatialConvolution: what it computes, the derivation's place, a worked example, numeric checks."""
    table = ["| module | input | d output / d input | d output / d weight | d output / d bias | < 1e-5 |",
             "|---|---|--:|--:|--:|:-:|"]
    for (*sizes, shape), errors in convolution_checks():
        table.append(f"| `{nn.SpatialConvolution(*sizes)!r}` | {shape} | {errors['input']:.1e} | "
                     f"{errors['weight']:.1e} | {errors['bias']:.1e} | {passed(errors.values())} |")
    table_text = "\n".join(table)
    return f"""\
# SpatialConvolution

`nn.SpatialConvolution(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0, padH=padW)`
slides `nOutputPlane` kernels of `nInputPlane` \\(\\times\\) `kH` \\(\\times\\) `kW` weights over
its input, `dH` rows and `dW` columns at a step, after padding the input with `padH` rows and
`padW` columns of zeros on each side. With \\(C\\) input planes, one output plane \\(o\\) is
(indices from 1, \\(x\\) zero outside its \\(H \\times W\\) pixels):

$$
y_{{o,i,j}} = b_o + \\sum_{{c=1}}^{{C}} \\sum_{{p=1}}^{{k_H}} \\sum_{{q=1}}^{{k_W}}
W_{{o,c,p,q}} \\; x_{{c,\\,(i-1) d_H + p - \\mathrm{{pad}}_H,\\;(j-1) d_W + q - \\mathrm{{pad}}_W}},
\\qquad
o_H = \\Big\\lfloor \\frac{{H + 2\\,\\mathrm{{pad}}_H - k_H}}{{d_H}} \\Big\\rfloor + 1
$$

and likewise \\(o_W\\). This is a cross-correlation (the kernel is not flipped), as Torch7's
module (`SpatialConvolution.lua`, THNN's `SpatialConvolutionMM.c`) and PyTorch's `conv2d`
compute it. The input is one sample (`nInputPlane`, H, W) or a batch
(batch, `nInputPlane`, H, W); `weight` has shape (`nOutputPlane`, `nInputPlane`, `kH`, `kW`),
`bias` (`nOutputPlane`,), both drawn from \\(U(-s, s)\\) with
\\(s = 1/\\sqrt{{k_W k_H C}}\\) as Torch7's `reset` draws them. As in Torch7, `padH` defaults to `padW`.

## What backward computes

With \\(g_{{o,i,j}} = \\partial J / \\partial y_{{o,i,j}}\\) (`gradOutput`), each weight meets
the input pixels its kernel position saw, and each input pixel collects the gradient of
every output it took part in:

$$
\\frac{{\\partial J}}{{\\partial W_{{o,c,p,q}}}} = \\sum_{{i,j}} g_{{o,i,j}} \\;
x_{{c,\\,(i-1) d_H + p - \\mathrm{{pad}}_H,\\;(j-1) d_W + q - \\mathrm{{pad}}_W}},
\\qquad
\\frac{{\\partial J}}{{\\partial b_o}} = \\sum_{{i,j}} g_{{o,i,j}},
\\qquad
\\frac{{\\partial J}}{{\\partial x_{{c,h,w}}}} = \\sum_{{o}} \\sum_{{\\substack{{i,p:\\ (i-1) d_H + p - \\mathrm{{pad}}_H = h \\\\ j,q:\\ (j-1) d_W + q - \\mathrm{{pad}}_W = w}}}}
g_{{o,i,j}} \\, W_{{o,c,p,q}} .
$$

The first is the correlation of the input with `gradOutput`. With steps 1 the last is
\\(\\sum_{{o,p,q}} W_{{o,c,p,q}} \\, g_{{o,\\,h - p + 1 + \\mathrm{{pad}}_H,\\; w - q + 1 + \\mathrm{{pad}}_W}}\\)
(\\(g\\) zero outside its \\(o_H \\times o_W\\) pixels): without padding, the full convolution of
`gradOutput` with the flipped kernel. `accGradParameters` **adds** `scale` times the parameter
gradients. These are the formulas the kernels compute (stated here, derived below when the
engine derives them); the numeric checks at the end of the page test them.

The kernels compute them with patches and matrix products, as Torch's `SpatialConvolutionMM`
does: the **patches** (im2col) of a sample are a matrix with one row per (plane, kernel row,
kernel column) and one column per output pixel; the output is `weight`, seen as an
(`nOutputPlane`, \\(C k_H k_W\\)) matrix, times the patches; `gradWeight` adds `gradOutput`
times the patches transposed; `gradInput` is the transposed weight times `gradOutput`, each
patch's gradient added back onto the pixels it came from (col2im). The only Python loops
run over the \\(k_H k_W\\) kernel positions, never over pixels or samples.

{convolution_derivation_section()}
## Use it

A 2 \\(\\times\\) 2 kernel that subtracts the pixel one down and one right, on one plane of
3 \\(\\times\\) 4. This ran when the site was built:

{snippet_with_output(convolution_script())}
The 1 at output (1, 1) of `dJ_dy` reaches input (1, 1) through the kernel's 1 and input
(2, 2) through its -1; the 2 at output (2, 3) reaches (2, 3) and, negated, (3, 4).
`gradWeight` is each kernel position's patch row weighted by `dJ_dy`.

## Numeric checks

Torch's check, computed when the site was built: seeded random layers and inputs in
\\([-1, 1]\\), one sample and batches, with steps and padding, each entry perturbed by
\\(h = 10^{{-6}}\\), the central-difference Jacobian against the one `backward` gives for
one-hot `gradOutput`s; the largest absolute error:

{table_text}
"""

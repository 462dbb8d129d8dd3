"""The page of SpatialConvolution: what it computes, a worked example and its numeric checks,
computed when the site is built, and the engine's derivation (steps 1, no padding).
"""

from __future__ import annotations

import numpy as np

from derive import nn
from derive.latex import markdown
from derive.symbolic.convolution import CONVOLUTION, convolution

from .checks import module_jacobian_errors, passed
from .derivation import demote, results_block
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


# The sizes the page's derivation is shown at: (nInputPlane, nOutputPlane, kW, kH, height, width), batch.
DERIVATION_SIZES, DERIVATION_BATCH = (2, 2, 2, 2, 3, 3), 2


def convolution_derivation_section() -> str:
    """The engine's derivation of the convolution (steps 1, no padding), at DERIVATION_SIZES."""
    derivation = convolution(*DERIVATION_SIZES, batch=DERIVATION_BATCH)
    # The page has its own title: the derivation's sections go under "Derivation".
    body = markdown(derivation).split("\n", 1)[1]
    planes, outputs, kW, kH, height, width = DERIVATION_SIZES
    return f"""\
## Derivation

The layer engine derives the case of steps 1 and no padding from the index expression
`{CONVOLUTION}` (indices from 1). Here it is shown for
`nn.SpatialConvolution({planes} -> {outputs}, {kW}x{kH})` on {planes} planes of
{height} \\(\\times\\) {width} pixels, and a batch of {DERIVATION_BATCH}; every displayed
equality is proved by sympy at symbolic sizes. Its results:

{results_block(derivation)}

{demote(body)}"""


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
\\begin{{aligned}}
\\frac{{\\partial J}}{{\\partial W_{{o,c,p,q}}}} &= \\sum_{{i,j}} g_{{o,i,j}} \\;
x_{{c,\\,(i-1) d_H + p - \\mathrm{{pad}}_H,\\;(j-1) d_W + q - \\mathrm{{pad}}_W}}, \\\\
\\frac{{\\partial J}}{{\\partial b_o}} &= \\sum_{{i,j}} g_{{o,i,j}}, \\\\
\\frac{{\\partial J}}{{\\partial x_{{c,h,w}}}} &= \\sum_{{o}} \\sum_{{\\substack{{i,p:\\ (i-1) d_H + p - \\mathrm{{pad}}_H = h \\\\ j,q:\\ (j-1) d_W + q - \\mathrm{{pad}}_W = w}}}}
g_{{o,i,j}} \\, W_{{o,c,p,q}} .
\\end{{aligned}}
$$

The first is the correlation of the input with `gradOutput`. With steps 1 the last is
\\(\\sum_{{o,p,q}} W_{{o,c,p,q}} \\, g_{{o,\\,h - p + 1 + \\mathrm{{pad}}_H,\\; w - q + 1 + \\mathrm{{pad}}_W}}\\)
(\\(g\\) zero outside its \\(o_H \\times o_W\\) pixels): without padding, the full convolution of
`gradOutput` with the flipped kernel. `accGradParameters` **adds** `scale` times the parameter
gradients. These are the formulas the kernels compute, steps and padding included; the
engine derives the case of steps 1 and no padding [below](#derivation), and the numeric
checks at the end of the page test every case.

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

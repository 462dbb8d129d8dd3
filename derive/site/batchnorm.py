"""The page of BatchNormalization: what it computes, a worked example and its numeric checks,
computed when the site is built, and the engine's results with the compact forms proved equal to them.
"""

from __future__ import annotations

import numpy as np

from derive import nn
from derive.latex import summary
from derive.symbolic.batchnorm import BATCHNORM, batchnorm, compact_latex

from .checks import module_jacobian_errors, passed
from .snippets import snippet_with_output

# What the page checks by central differences: (batch, nOutput, affine, training).
BATCHNORM_CASES = [(2, 1, True, True), (4, 3, True, True), (4, 3, False, True), (16, 8, True, True),
                   (4, 3, True, False), (16, 8, False, False)]


def batchnorm_checks() -> list[tuple[tuple[int, int, bool, bool], dict[str, float]]]:
    """(case, largest |central difference - backprop| per Jacobian) for each of BATCHNORM_CASES:
    random weight, bias and running statistics, seeded; input in [-2, 2]."""
    rows = []
    for case in BATCHNORM_CASES:
        n, d, affine, training = case
        rng = np.random.default_rng([n, d, affine, training])
        layer = nn.BatchNormalization(d, affine=affine)
        if affine:
            layer.weight[...] = rng.uniform(-2, 2, d)
            layer.bias[...] = rng.uniform(-1, 1, d)
        layer.running_mean[...] = rng.uniform(-1, 1, d)
        layer.running_var[...] = rng.uniform(0.5, 2, d)
        if not training:
            layer.evaluate()
        rows.append((case, module_jacobian_errors(layer, rng.uniform(-2, 2, (n, d)))))
    return rows


# The sizes the derivation is made at (the results hold at every batch size N): nOutput, batch.
DERIVATION_SIZES = (2, 3)


def batchnorm_derivation_section() -> str:
    """The engine's results for training mode, each proved equal to the compact form the kernel computes."""
    derivation = batchnorm(*DERIVATION_SIZES)
    forms = compact_latex(derivation)
    beta = summary(derivation)["results"]["dJ/dbeta"]["latex"].replace(r"\mathbf{beta}", r"\boldsymbol{\beta}")
    nOutput, batch = DERIVATION_SIZES
    return f"""\
## Derivation

The layer engine derives training mode from the index expression (indices from 1)

```text
{BATCHNORM.format(eps="1e-05")}
```

where the input is the whole batch \\(\\mathbf{{x}}\\) (\\(N \\times\\) `nOutput`): the mean and the
variance couple the samples, so the chain rule runs through them. Its results for
\\(\\partial J / \\partial x_{{jl}}\\) and \\(\\partial J / \\partial \\gamma_j\\) are below, written with the
batch mean \\(\\mu_l\\) and the biased variance \\(\\sigma^2_l\\) of feature \\(l\\) (the engine keeps them
as sums) and \\(g = \\partial J / \\partial y\\); each is **proved equal**, by sympy at every batch size
\\(N\\), to the compact form the kernel computes, with
\\(\\hat{{x}}_{{nl}} = (x_{{nl}} - \\mu_l) / \\sqrt{{\\sigma^2_l + \\epsilon}}\\):

$$
\\begin{{aligned}}
\\frac{{\\partial J}}{{\\partial x_{{jl}}}} &= {forms["x"][0]} \\\\
&= {forms["x"][1]} \\\\[1ex]
\\frac{{\\partial J}}{{\\partial \\gamma_{{j}}}} &= {forms["gamma"][0]} \\\\
&= {forms["gamma"][1]}
\\end{{aligned}}
$$

and \\({beta}\\), the sum of
`gradOutput` over the batch. The whole derivation (the forward pass through the mean and
the variance, the Jacobians, the chain rule, and these compact forms) writes the sums out
at a concrete batch, which makes it long; `derive batchnorm {nOutput} --batch {batch}` prints it
([Command line](cli.md)).
"""


def batchnorm_script() -> str:
    """Forward and backward of a batch of 4 through BatchNormalization(2), and the compact formula by hand."""
    return """\
import numpy as np
from derive.nn import BatchNormalization

np.set_printoptions(precision=4, suppress=True)
bn = BatchNormalization(2)
bn.weight[...] = [2.0, 0.5]            # gamma
bn.bias[...] = [0.0, 1.0]              # beta
X = np.array([[1.0, 10.0],
              [2.0, 20.0],
              [3.0, 60.0],
              [6.0, 30.0]])
Y = bn.forward(X).copy()               # training: the batch's statistics
print("batch mean:", bn.save_mean, " 1/sqrt(var + eps):", bn.save_invstd)
print("output:", Y, sep="\\n")
print("running_mean:", bn.running_mean, " running_var:", bn.running_var)

dJ_dY = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.5, -1.0]])
bn.zeroGradParameters()
print("gradInput:", bn.backward(X, dJ_dY), sep="\\n")
print("gradWeight:", bn.gradWeight, " gradBias:", bn.gradBias)

# The compact formula, by hand:
N = X.shape[0]
invstd = 1 / np.sqrt(X.var(axis=0) + bn.eps)
xhat = (X - X.mean(axis=0)) * invstd
by_hand = bn.weight * invstd / N * (N * dJ_dY - dJ_dY.sum(axis=0) - xhat * (dJ_dY * xhat).sum(axis=0))
print("by hand:", by_hand, sep="\\n")

bn.evaluate()                          # now the running statistics normalise
print("evaluation output:", bn.forward(X), sep="\\n")
"""


def batchnorm_page() -> str:
    """BatchNormalization: what it computes, the derivation's place, a worked example, numeric checks."""
    table = ["| input | mode | affine | d output / d input | d output / d weight | d output / d bias | < 1e-5 |",
             "|---|---|:-:|--:|--:|--:|:-:|"]
    for (n, d, affine, training), errors in batchnorm_checks():
        weight = f"{errors['weight']:.1e}" if affine else "-"
        bias = f"{errors['bias']:.1e}" if affine else "-"
        table.append(f"| ({n}, {d}) | {'training' if training else 'evaluation'} | {'yes' if affine else 'no'} | "
                     f"{errors['input']:.1e} | {weight} | {bias} | {passed(errors.values())} |")
    table_text = "\n".join(table)
    return f"""\
# BatchNormalization

`nn.BatchNormalization(nOutput, eps=1e-5, momentum=0.1, affine=True)` normalises each of the
`nOutput` features of a batch \\(\\mathbf{{X}}\\) (\\(N \\times\\) `nOutput`, one sample a row)
by the batch's mean and variance, then scales and shifts it by the parameters
\\(\\boldsymbol{{\\gamma}}\\) (`weight`) and \\(\\boldsymbol{{\\beta}}\\) (`bias`). For feature \\(i\\):

$$
\\begin{{aligned}}
\\mu_i &= \\frac{{1}}{{N}} \\sum_{{n=1}}^{{N}} x_{{ni}}, &
\\sigma_i^2 &= \\frac{{1}}{{N}} \\sum_{{n=1}}^{{N}} (x_{{ni}} - \\mu_i)^2, \\\\
\\hat{{x}}_{{ni}} &= \\frac{{x_{{ni}} - \\mu_i}}{{\\sqrt{{\\sigma_i^2 + \\epsilon}}}}, &
y_{{ni}} &= \\gamma_i \\, \\hat{{x}}_{{ni}} + \\beta_i .
\\end{{aligned}}
$$

This is Torch7's module (`BatchNormalization.lua`, THNN's `BatchNormalization.c`), and
PyTorch's `batch_norm`:

- **Training** (the default) normalises with the batch's mean and its *biased* variance
  (divided by \\(N\\)), and updates the running statistics,
  `running = (1 - momentum) * running + momentum * batch statistic`, with the *unbiased*
  variance (divided by \\(N - 1\\)). `running_mean` starts at 0, `running_var` at 1.
  A batch of one sample is refused with a `ValueError`, as PyTorch refuses it (its
  variance is undefined; Torch7 divides by \\(N - 1 = 0\\)).
- **After `evaluate()`** the running statistics take the place of \\(\\mu\\) and
  \\(\\sigma^2\\), and nothing is updated.
- \\(\\boldsymbol{{\\gamma}}\\) starts at 1 and \\(\\boldsymbol{{\\beta}}\\) at 0, as in PyTorch.
  Torch7 drew \\(\\boldsymbol{{\\gamma}}\\) from \\(U(0, 1)\\). With `affine=False` there are no
  parameters: \\(y_{{ni}} = \\hat{{x}}_{{ni}}\\).

## What backward computes

With \\(g_{{ni}} = \\partial J / \\partial y_{{ni}}\\) (`gradOutput`), in training, where
\\(\\mu_i\\) and \\(\\sigma_i^2\\) depend on every sample of the batch:

$$
\\begin{{aligned}}
\\frac{{\\partial J}}{{\\partial x_{{ni}}}} &= \\frac{{\\gamma_i}}{{N \\sqrt{{\\sigma_i^2 + \\epsilon}}}}
\\Big( N g_{{ni}} - \\sum_{{m=1}}^{{N}} g_{{mi}} - \\hat{{x}}_{{ni}} \\sum_{{m=1}}^{{N}} g_{{mi}} \\hat{{x}}_{{mi}} \\Big), \\\\
\\frac{{\\partial J}}{{\\partial \\gamma_i}} &= \\sum_{{n=1}}^{{N}} g_{{ni}} \\hat{{x}}_{{ni}}, \\qquad
\\frac{{\\partial J}}{{\\partial \\beta_i}} = \\sum_{{n=1}}^{{N}} g_{{ni}} .
\\end{{aligned}}
$$

After `evaluate()` the statistics are constants, and
\\(\\partial J / \\partial x_{{ni}} = g_{{ni}} \\, \\gamma_i / \\sqrt{{\\mathrm{{running\\_var}}_i + \\epsilon}}\\).
`accGradParameters` **adds** `scale` times the two parameter gradients, as every module's
does. These are the formulas the kernels compute; the engine derives training mode
[below](#derivation) and proves the compact form equal to its result, and the numeric checks at
the end of the page test both modes.

{batchnorm_derivation_section()}
## Use it

`derive.nn.BatchNormalization` on a batch of four samples with two features. This ran when
the site was built:

{snippet_with_output(batchnorm_script())}
The two features have very different scales; after normalisation each
column of `output` has mean \\(\\beta_i\\) and standard deviation \\(|\\gamma_i|\\) (up to
\\(\\epsilon\\)). `gradInput` sums to zero down each column in training: shifting a feature
in every sample changes nothing after the mean is subtracted.

## Numeric checks

Torch's check, computed when the site was built: seeded random weight, bias, running
statistics and input in \\([-2, 2]\\), each entry perturbed by \\(h = 10^{{-6}}\\), the
central-difference Jacobian against the one `backward` gives for one-hot `gradOutput`s; the
largest absolute error:

{table_text}
"""

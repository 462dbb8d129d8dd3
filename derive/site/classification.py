"""The pages of SoftMax, LogSoftMax, ClassNLLCriterion and CrossEntropyCriterion: what the
module computes, the engine's derivation (and what the page proves beyond it), a worked
example run at build time, and its numeric checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from derive import nn
from derive.latex import BlogPrinter, markdown
from derive.symbolic.classification import (CLASSIFICATION_SPECS, classification, crossentropy_chain,
                                            jacobian_in_the_output)

from .activation import MODULE_BATCH, MODULE_SIZE
from .checks import criterion_gradient_error, module_jacobian_errors, passed, sample_shape
from .derivation import demote, results_block
from .snippets import snippet_with_output

# The engine's name of each page's spec (derive.symbolic.classification, the CLI's commands).
ENGINE_NAMES = {"softmax": "softmax", "logsoftmax": "logsoftmax", "classnll": "nll",
                "crossentropy": "crossentropy"}

# What the pages check by central differences: (classes, batch or None).
CLASSIFICATION_CASES = [(3, None), (3, 2), (10, None), (10, 50)]

TARGETS_FROM_ZERO = (
    "Targets are class indices counted from **0**, numpy's convention: an `int` for one "
    "sample, an integer array of shape `(batch,)` for a batch. Torch7 counted classes from "
    "**1**: its target 1 is derive.nn's target 0.")


@dataclass(frozen=True)
class ClassificationPage:
    """What a classification module's page says."""

    torch: str  # the class name, in derive.nn and Torch
    intro: str  # what it computes (markdown with LaTeX)
    backward: str  # its gradient, as Torch computes it (markdown with LaTeX)
    example: str  # a script run at build time

    @property
    def criterion(self) -> bool:
        return self.torch.endswith("Criterion")


CLASSIFICATION_PAGES = {
    "softmax": ClassificationPage(
        "SoftMax",
        "`nn.SoftMax()` turns a vector of \\(n\\) class scores \\(\\mathbf{x}\\) into probabilities: "
        "$$s_i = \\frac{e^{x_i}}{\\sum_{k=1}^{n} e^{x_k}},$$ "
        "over the last axis: one sample \\((n,)\\), or a batch \\((B, n)\\) row by row.",
        "Its Jacobian is \\(\\partial s_i / \\partial x_k = s_i(\\delta_{ik} - s_k)\\), that is "
        "\\(\\operatorname{diag}(\\mathbf{s}) - \\mathbf{s}\\mathbf{s}^T\\): not diagonal, every output "
        "depends on every input. Torch's `SoftMax` computes `gradInput` from the **output** as the "
        "vector-Jacobian product $$\\frac{\\partial J}{\\partial \\mathbf{x}} = \\mathbf{s} \\odot "
        "\\left(\\mathbf{g} - (\\mathbf{s}^T\\mathbf{g})\\,\\mathbf{1}\\right),\\quad \\mathbf{g} = "
        "\\frac{\\partial J}{\\partial \\mathbf{s}},$$ so `backward` must follow `forward` of the "
        "same input.",
        """\
import numpy as np
from derive.nn import SoftMax

layer = SoftMax()
x = np.array([1.0, 2.0, 3.0])
s = layer.forward(x).copy()          # forward returns the module's output buffer
print("output s:", s, " sum:", s.sum())
g = np.array([1.0, 0.0, -1.0])       # dJ/ds
print("gradInput:          ", layer.backward(x, g))
print("s * (g - s.g):      ", s * (g - s @ g))
print("(diag(s) - s s^T) g:", (np.diag(s) - np.outer(s, s)) @ g)

X = np.array([[1.0, 2.0, 3.0], [1001.0, 1002.0, 1003.0]])   # a batch of 2: one sample a row
print("batch output:", layer.forward(X), sep="\\n")
"""),
    "logsoftmax": ClassificationPage(
        "LogSoftMax",
        "`nn.LogSoftMax()` is the logarithm of the softmax, computed without forming it: "
        "$$y_i = \\log s_i = x_i - \\log \\sum_{k=1}^{n} e^{x_k},$$ "
        "over the last axis: one sample \\((n,)\\), or a batch \\((B, n)\\) row by row. "
        "Followed by `ClassNLLCriterion` it is the cross-entropy loss.",
        "Its Jacobian is \\(\\partial y_i / \\partial x_k = \\delta_{ik} - s_k\\), so "
        "\\(\\partial J / \\partial x_k = g_k - s_k \\sum_i g_i\\). Torch's `LogSoftMax` (THNN) "
        "computes it from the **output**, \\(s_k = e^{y_k}\\): $$\\frac{\\partial J}{\\partial "
        "\\mathbf{x}} = \\mathbf{g} - e^{\\mathbf{y}} \\sum_i g_i,$$ so `backward` must follow "
        "`forward` of the same input.",
        """\
import numpy as np
from derive.nn import LogSoftMax

layer = LogSoftMax()
x = np.array([1.0, 2.0, 3.0])
y = layer.forward(x).copy()
print("output y:", y, " sum of exp(y):", np.exp(y).sum())
g = np.array([1.0, 0.0, -1.0])       # dJ/dy
print("gradInput:          ", layer.backward(x, g))
print("g - exp(y) * sum(g):", g - np.exp(y) * g.sum())

X = np.array([[1.0, 2.0, 3.0], [-1000.0, -999.0, -998.0]])   # a batch of 2: one sample a row
print("batch output:", layer.forward(X), sep="\\n")
"""),
    "classnll": ClassificationPage(
        "ClassNLLCriterion",
        "`nn.ClassNLLCriterion(weights=None, sizeAverage=True)` is the negative log-likelihood of "
        "the target class \\(t\\), for input \\(\\mathbf{x}\\) holding **log**-probabilities (the "
        "output of `LogSoftMax`): $$J = -w_t\\, x_t.$$ For a batch it sums over the samples and, "
        "with `sizeAverage`, divides by the total weight of their targets, "
        "$$J = -\\frac{\\sum_{b} w_{t_b}\\, x_{b, t_b}}{\\sum_{b} w_{t_b}},$$ the batch size \\(B\\) "
        "without `weights` (every \\(w = 1\\)), as Torch and PyTorch do. A batch whose targets all "
        "have weight 0 gives nan, as PyTorch (Torch7 gave 0). " + TARGETS_FROM_ZERO,
        "Its gradient is \\(-w_{t_b}\\) (divided by the total weight with `sizeAverage`) at each "
        "sample's target and 0 elsewhere: $$\\frac{\\partial J}{\\partial x_{b,k}} = "
        "-\\frac{w_{t_b}\\,\\delta_{k t_b}}{\\sum_{b'} w_{t_{b'}}}.$$",
        """\
import numpy as np
from derive.nn import ClassNLLCriterion, LogSoftMax

logProbabilities = LogSoftMax().forward(np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.0]]))
target = np.array([2, 0])            # class indices from 0: sample 1 is class 2, sample 2 class 0
criterion = ClassNLLCriterion()
print("J:", criterion.forward(logProbabilities, target))
print("-(y[0, 2] + y[1, 0]) / 2:", -(logProbabilities[0, 2] + logProbabilities[1, 0]) / 2)
print("gradInput:", criterion.backward(logProbabilities, target), sep="\\n")

weighted = ClassNLLCriterion(weights=np.array([3.0, 1.0, 1.0]))
print("weighted J:", weighted.forward(logProbabilities, target))
print("-(1 y[0, 2] + 3 y[1, 0]) / (1 + 3):",
      -(logProbabilities[0, 2] + 3 * logProbabilities[1, 0]) / 4)
print("one sample, target 1:", criterion.forward(logProbabilities[0], 1))
"""),
    "crossentropy": ClassificationPage(
        "CrossEntropyCriterion",
        "`nn.CrossEntropyCriterion(weights=None, sizeAverage=True)` is `LogSoftMax` followed by "
        "`ClassNLLCriterion(weights, sizeAverage)` in one module: it takes raw class scores "
        "\\(\\mathbf{x}\\) (logits) and the target class \\(t\\), "
        "$$J = -w_t\\left(x_t - \\log \\sum_{k=1}^{n} e^{x_k}\\right),$$ summed over a batch and "
        "divided by the total weight of the targets with `sizeAverage` (the batch size \\(B\\) "
        "without `weights`). " + TARGETS_FROM_ZERO,
        "Chaining the two modules' gradients, \\(-w_t/W\\) at the target through "
        "\\(\\mathbf{g} - e^{\\mathbf{y}} \\sum_i g_i\\), gives the form every course derives: "
        "$$\\frac{\\partial J}{\\partial \\mathbf{x}_b} = \\frac{w_{t_b}}{W}\\left(\\operatorname{softmax}"
        "(\\mathbf{x}_b) - \\mathbf{e}_{t_b}\\right),\\quad W = \\sum_{b} w_{t_b},$$ "
        "\\((\\operatorname{softmax}(\\mathbf{x}) - \\operatorname{onehot}(t)) / B\\) without weights. "
        "`backward` reads the softmax that `forward` computed (as Torch's reads its LogSoftMax's "
        "output), so it must follow `forward` of the same input.",
        """\
import numpy as np
from derive.nn import CrossEntropyCriterion

scores = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.0]])    # logits, a batch of 2
target = np.array([2, 0])
criterion = CrossEntropyCriterion()
print("J:", criterion.forward(scores, target))
gradInput = criterion.backward(scores, target)
print("gradInput:", gradInput, sep="\\n")
onehot = np.eye(3)[target]
softmax = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
print("(softmax - onehot) / 2:", (softmax - onehot) / 2, sep="\\n")

huge = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -999.0, -1000.0]])
print("scores of magnitude 1000: J =", criterion.forward(huge, np.array([1, 1])))
print("gradInput:", criterion.backward(huge, np.array([1, 1])), sep="\\n")
"""),
}


def classification_checks(name: str) -> list[tuple[tuple[int, ...], str, float]]:
    """(input shape, the options checked, largest |central difference - backprop|) on
    seeded random scores in [-3, 3] (log-probabilities of them for ClassNLLCriterion)."""
    page = CLASSIFICATION_PAGES[name]
    rows = []
    for classes, batch in CLASSIFICATION_CASES:
        rng = np.random.default_rng([*name.encode(), classes, batch or 0])
        input = rng.uniform(-3, 3, sample_shape(classes, batch))
        if not page.criterion:
            error, = module_jacobian_errors(getattr(nn, page.torch)(), input).values()
            rows.append((input.shape, "", error))
            continue
        if name == "classnll":
            input = nn.LogSoftMax().forward(input).copy()
        target = int(rng.integers(classes)) if batch is None else rng.integers(0, classes, batch)
        weights = rng.uniform(0.5, 2, classes)
        for options, criterion in [("", getattr(nn, page.torch)()),
                                   ("sizeAverage=False", getattr(nn, page.torch)(sizeAverage=False)),
                                   ("weights", getattr(nn, page.torch)(weights))]:
            rows.append((input.shape, options, criterion_gradient_error(criterion, input, target)))
    return rows


def _displayed(text: str) -> str:
    """The page's prose with each $$...$$ on lines of its own, as arithmatex needs."""
    return re.sub(r"\s*\$\$(.+?)\$\$\s*", r"\n\n$$\n\1\n$$\n\n", text).strip()


def _proved_chain(lhs: str, forms, note: str) -> str:
    """A display lhs = form = form ..., every equality proved by the caller."""
    printer = BlogPrinter()
    lines = " \\\\\n".join("&= " + printer.doprint(form) for form in forms)
    return f"$$\n\\begin{{aligned}}\n{lhs}\n{lines}\n\\end{{aligned}}\n$$\n\n{note}"


def _in_the_output(name: str) -> str:
    """SoftMax's and LogSoftMax's Jacobian rewritten with the output, proved."""
    engine, in_output, definition = jacobian_in_the_output(ENGINE_NAMES[name], MODULE_SIZE)
    matrix = (r"\operatorname{diag}(\mathbf{y}) - \mathbf{y}\mathbf{y}^T" if name == "softmax"
              else r"\mathbf{I} - \mathbf{1}\, e^{\mathbf{y}^T}")
    defined = BlogPrinter().doprint(definition)
    proof = _proved_chain(r"\frac{\partial y_{i}}{\partial x_{k}}", [engine, in_output],
                          "Proved by sympy when the site was built: the output's definition put in "
                          "for \\(y\\) gives the engine's form.")
    return f"""\
### The Jacobian in the output

Written with the output \\(y_i = {defined}\\), for any \\(n\\), the Jacobian is
\\({matrix}\\) (row \\(i\\), column \\(k\\)):

{proof}
"""


def _chained() -> str:
    """Cross-entropy's gradient proved equal to LogSoftMax's chained with ClassNLLCriterion's."""
    proof = _proved_chain(r"\frac{\partial J}{\partial x_{k}}", crossentropy_chain(MODULE_SIZE),
                          "Each equality proved by sympy when the site was built; the last line is "
                          "the engine's gradient of the one expression.")
    return f"""\
### The same as LogSoftMax then ClassNLLCriterion

LogSoftMax's gradient, with ClassNLLCriterion's gradient \\(-t_i\\) as its
\\(\\partial J / \\partial y_i\\) and its output \\(y_k = x_k - \\log \\sum_j e^{{x_j}}\\) put in, is the
engine's gradient of the one expression, for any \\(n\\):

{proof}

For a one-hot \\(\\mathbf{{t}}\\) (the target class's position) \\(\\sum_i t_i = 1\\), and the gradient
is \\(\\operatorname{{softmax}}(\\mathbf{{x}})_k - t_k\\): softmax minus one-hot, divided by \\(B\\) in a
batch.
"""


def classification_derivation(name: str) -> str:
    """The engine's derivation of this module, as a section of its page: the one-expression
    spec, its results for one sample and a batch, the derivation, and what the page proves
    beyond it (the Jacobian in the output; cross-entropy as the chain of the two modules)."""
    key = ENGINE_NAMES[name]
    expr, target = CLASSIFICATION_SPECS[key]
    single = classification(key, MODULE_SIZE)
    batch = classification(key, MODULE_SIZE, batch=MODULE_BATCH)
    call = f'derive.layer("{expr}", {{"x": ({MODULE_SIZE},)}}' + (f', target="{target}")' if target else ")")
    one_hot = ("" if target is None else
               " The target is a one-hot vector \\(\\mathbf{t}\\) here (1 at the target class, 0 elsewhere; "
               "any distribution over the classes, in general); the module takes the class's index. "
               "The engine's batch averages the samples: `sizeAverage` without weights.")
    extra = (_in_the_output(name) if name in ("softmax", "logsoftmax")
             else _chained() if name == "crossentropy" else "")
    return f"""\
## The engine's derivation

The layer engine derives this module from one expression, `{expr}`:
`{call}` in Python, `derive {key} {MODULE_SIZE} --batch {MODULE_BATCH}` on the command
line.{one_hot} Its results for {MODULE_SIZE} classes, one sample and a batch of {MODULE_BATCH}:

{results_block(batch)}

{demote(demote(markdown(single)))}
{extra}"""


def classification_module_page(name: str) -> str:
    """SoftMax, LogSoftMax, ClassNLLCriterion or CrossEntropyCriterion: what it computes,
    its gradient, the engine's derivation, a worked example run at build time, and its
    numeric checks."""
    page = CLASSIFICATION_PAGES[name]
    what = "dJ / d input" if page.criterion else "d output / d input"
    table = [f"| input | options | {what} | < 1e-5 |", "|---|---|--:|:-:|"]
    for shape, options, error in classification_checks(name):
        table.append(f"| {shape} | {options or 'default'} | {error:.1e} | {passed([error])} |")
    table_text = "\n".join(table)
    how = ("seeded random scores in \\([-3, 3]\\)" + (", through `LogSoftMax`" if name == "classnll" else "")
           + ", seeded targets and weights in \\([0.5, 2]\\)") if page.criterion else \
        "seeded random inputs in \\([-3, 3]\\)"
    against = ("the central difference of \\(J\\) against `backward`" if page.criterion else
               "the central-difference Jacobian against the one `backward` gives for one-hot `gradOutput`s")
    return f"""\
# {page.torch}

{_displayed(page.intro)}

## Its gradient

{_displayed(page.backward)}

{classification_derivation(name)}
## Numerically stable

Every softmax here is computed as \\(e^{{x_i - m}} / \\sum_k e^{{x_k - m}}\\) with \\(m\\) the
**sample's own** maximum, equal to the definition for any \\(m\\): no exponential exceeds 1,
so scores of magnitude 1000 give finite results. Shifting a whole batch by its largest
score instead would underflow every row whose scores lie far below it.

## Use it

`derive.nn.{page.torch}` runs numpy kernels of these formulas. This ran when the site
was built:

{snippet_with_output(page.example)}
## Numeric checks

Torch's check, computed when the site was built: {how}, each entry perturbed by
\\(h = 10^{{-6}}\\), {against}; the largest absolute error:

{table_text}
"""

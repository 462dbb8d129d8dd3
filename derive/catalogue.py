"""The catalogue: Torch7's nn modules and criteria, one entry each.

An entry is data: its Torch7 name and constructor (Torch7's argument names and defaults,
torch/nn doc/*.md), a function of the arguments that writes its formula (or program) in the
layer language with the shapes, ranges, constants, inputs and target it needs, its
parameters' Torch7 names, its initialisation (Torch7's ``reset``), its Torch7 facts and a
paragraph of prose.  Everything else (``derive list``, ``derive NAME ARGS...``, the generated
module) comes from the entry through the one engine (:func:`derive.layer`,
:func:`derive.module_source`).  This module imports neither sympy nor the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

REQUIRED = object()  # an argument without default


class Array:
    """The type of a constructor argument that is an array constant of the formula (Torch7's
    ``weights`` tensor): derive.nn's generated class takes a numpy array (or None: left out of
    the formula); the engine's commands and pages take ``true`` or ``false`` (with or without it),
    as the entry's ``arrays`` names the formula's array it gives."""


@dataclass(frozen=True)
class Arg:
    """A constructor argument: Torch7's name, its default (REQUIRED, a value, or the name of
    an earlier argument whose value it takes, as ``dW = dW or kW``) and its type."""

    name: str
    default: Any = REQUIRED
    type: type = int
    same_as: str | None = None
    infinite: bool = False  # a float that may be inf or -inf (Normalize's p: Torch7's math.huge)


def _names(names) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def _and(names: tuple[str, ...]) -> str:
    return " and ".join(f"`{n}`" for n in names)


@dataclass(frozen=True)
class Uniform:
    """Torch7's default reset: the parameters ``names`` drawn from U(-s, s), s = 1/sqrt(the
    product of the ``stdv`` arguments); s = 1 without any (a parameter of one entry, Mul's)."""

    names: tuple[str, ...]
    stdv: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _names(self.names))
        object.__setattr__(self, "stdv", _names(self.stdv))

    def prose(self) -> str:
        product = " ".join(self.stdv)
        return f"{_and(self.names)} uniform in ±1/sqrt({product})" if self.stdv else f"{_and(self.names)} uniform in ±1"

    def rule(self) -> tuple:
        return self.names, "uniform", self.stdv


@dataclass(frozen=True)
class Fill:
    """The parameters ``names`` filled with ``value`` (PReLU's 0.25, LayerNorm's 1 and 0)."""

    names: tuple[str, ...]
    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _names(self.names))
        object.__setattr__(self, "value", float(self.value))

    def prose(self) -> str:
        return f"{_and(self.names)} filled with {num(self.value)}"

    def rule(self) -> tuple:
        return self.names, "fill", self.value


@dataclass(frozen=True)
class _Drawn:
    """The parameters ``names`` drawn from a fixed distribution (``words``, the rule's ``kind``)."""

    names: tuple[str, ...]
    words = ""
    kind = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _names(self.names))

    def prose(self) -> str:
        return f"{_and(self.names)} {self.words}"

    def rule(self) -> tuple:
        return self.names, self.kind, None


class Normal(_Drawn):
    """The parameters ``names`` drawn from N(0, 1) (LookupTable's)."""

    words, kind = "normal N(0, 1)", "normal"


class UnitUniform(_Drawn):
    """The parameters ``names`` drawn from U[0, 1) (Torch7's BatchNormalization weight)."""

    words, kind = "uniform in [0, 1)", "unit"


Reset = Uniform | Fill | Normal | UnitUniform


def reset_prose(rules: tuple) -> str:
    """Torch7's reset of an entry in words, from its rules (the module's page shows it)."""
    return ", ".join(r.prose() for r in rules)


@dataclass(frozen=True)
class Formula:
    """What the engine derives: the text and everything derive.layer needs besides."""

    text: str
    shapes: dict
    input: tuple[str, ...] = ("x",)
    outputs: tuple[str, ...] | None = None
    target: str | None = None
    ranges: dict | None = None
    constants: tuple[str, ...] = ()
    weight: str | None = None  # a criterion's sample weight: a batch's mean divides by their sum
    reduction: str = "mean"  # a criterion's batch: the mean of the samples' losses, or their sum

    def options(self) -> dict:
        """The keyword arguments of derive.layer / derive.module_source besides text and shapes."""
        out: dict = {"input": self.input if len(self.input) > 1 else self.input[0]}
        for key in ("outputs", "target", "ranges", "weight"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.constants:
            out["constants"] = self.constants
        if self.reduction != "mean":
            out["reduction"] = self.reduction
        return out


@dataclass(frozen=True)
class Entry:
    """One Torch7 module or criterion of the catalogue."""

    name: str
    group: str  # "transfer", "simple", "convolution", "criterion" (Torch7's doc pages) or "program"
    signature: tuple[Arg, ...]
    formula: Callable[..., Formula]  # (arguments by name, input shapes) -> Formula
    about: str
    input_shapes: tuple[tuple[int, ...], ...] | None = ((5,),)  # None: the constructor fixes them
    example: tuple = ()  # constructor arguments of the example (pages, tests, `derive list`)
    parameters: dict = field(default_factory=dict)  # Torch7 name -> the formula's array
    reset: tuple = ()  # Torch7's reset: Uniform, Fill, Normal, UnitUniform rules, in order
    torch: str = ""
    builtin: str | None = None  # today's command that derives it (derive linear, conv, ...)
    domain: tuple[float, float] = (-2.0, 2.0)  # where the example's and the check's inputs are drawn
    target_kind: str = "real"  # a criterion's target: real, probability, binary, sign, class
    target_end: int | None = None  # a list of classes ends at its first such number (PyTorch's -1)
    integer_input: bool = False  # the input holds row numbers (LookupTable), counted from 0
    arrays: dict = field(default_factory=dict)  # an Array argument's Torch7 name -> the formula's constant (w)
    # What the module's page (derive/site/catalogue.py, one template) shows beyond the derivation:
    notes: str = ""  # markdown: Torch7's behaviour past the one-line `torch` fact (modes, conventions, kernels)
    in_use: str = ""  # a script with derive.nn's class, run when the page is built; "" writes one from `example`
    kinks: tuple[float, ...] = ()  # inputs of an element-wise formula where it has no derivative
    # Torch7's repr of the arguments, from the constructor's: "{inputSize} -> {outputSize}"; a part in
    # [] is shown where an argument in it or in a later such part is not its default (Torch7's steps)
    shown: str = ""
    # The statistics run over the batch (BatchNormalization): the input is always a batch, the kernels
    # take it whole (its first axis is the formula's), and evaluate() normalises with running statistics
    batch_statistics: bool = False

    @property
    def slug(self) -> str:
        """The page's name: nn-spatialmaxpooling.md."""
        return f"nn-{self.name.lower()}"

    @property
    def criterion(self) -> bool:
        return self.group == "criterion"

    def constructor(self) -> str:
        """``SpatialMaxPooling(kW, kH, dW=kW, dH=kH, padW=0, padH=0)``."""
        parts = []
        for arg in self.signature:
            if arg.same_as:
                parts.append(f"{arg.name}={arg.same_as}")
            elif arg.default is REQUIRED:
                parts.append(arg.name)
            else:
                parts.append(f"{arg.name}={_show(arg.default)}")
        return f"{self.name}({', '.join(parts)})"

    def arguments(self, values: tuple | list = ()) -> dict:
        """The constructor's arguments by name from positional ``values`` (parsed from text
        where given as strings); ValueError names a missing or malformed one."""
        values = list(values)
        if len(values) > len(self.signature):
            raise ValueError(f"{self.constructor()} takes at most {len(self.signature)} arguments, "
                             f"got {len(values)}")
        out: dict = {}
        for i, arg in enumerate(self.signature):
            if i < len(values):
                out[arg.name] = _parse(arg, values[i], self.name)
            elif arg.same_as:
                out[arg.name] = out[arg.same_as]
            elif arg.default is REQUIRED:
                raise ValueError(f"{self.constructor()}: missing argument {arg.name}")
            else:
                out[arg.name] = arg.default
        return out

    def build(self, values: tuple | list = (), input_shapes=None) -> Formula:
        """The formula for the constructor arguments ``values`` and the input shapes (default:
        the entry's)."""
        args = self.arguments(values)
        if self.input_shapes is None and input_shapes is not None:
            raise ValueError(f"{self.name}'s constructor fixes its input's size: leave out --input-shape")
        shapes = self.input_shapes if input_shapes is None else tuple(tuple(s) for s in input_shapes)
        if shapes is not None and len(shapes) != len(self.input_shapes):
            raise ValueError(f"{self.name} takes {len(self.input_shapes)} input shape(s), got {len(shapes)}")
        return self.formula(args, shapes)

    def example_formula(self) -> Formula:
        return self.build(self.example)


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    return repr(value)


def _parse(arg: Arg, value, module: str):
    parsed = _parse_value(arg, value, module)
    if arg.type is float and not (math.isfinite(parsed) or arg.infinite and not math.isnan(parsed)):
        raise ValueError(f"{module}: {arg.name} expects {'a number or inf' if arg.infinite else 'a finite number'}, "
                         f"got {value!r}")
    return parsed


def _parse_value(arg: Arg, value, module: str):
    if arg.type is Array:  # with the array (true) or without it (false, nil): the formula's shape
        text = value.strip().lower() if isinstance(value, str) else value
        given = {"true": True, "false": False, "nil": None, True: True, False: False, None: None}
        if isinstance(text, (str, bool)) or text is None:
            if text in given:
                return given[text]
        raise ValueError(f"{module}: {arg.name} expects true or false (with or without the array), got {value!r}")
    if not isinstance(value, str):
        if arg.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if arg.default is None and value is None:
            return None
        if not isinstance(value, arg.type) or (arg.type is int and isinstance(value, bool)):
            raise TypeError(f"{module}: {arg.name} must be {arg.type.__name__}, got {value!r}")
        return value
    text = value.strip()
    try:
        if arg.type is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        return arg.type(text)
    except ValueError:
        raise ValueError(f"{module}: {arg.name} expects {arg.type.__name__}, got {value!r}") from None


class Scalar:
    """A number argument kept as its name in the formula (``alpha``, ``(l + u) / 2``): derive.nn's
    generated classes take it at run time. Arithmetic on it writes the text; comparing it raises
    TypeError (a formula that branches on the value needs the number)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def _op(self, op: str, other, right: bool = False) -> "Scalar":
        a, b = (str(other), self.text) if right else (self.text, str(other))
        return Scalar(f"({a} {op} {b})")

    def __add__(self, other): return self._op("+", other)
    def __radd__(self, other): return self._op("+", other, True)
    def __sub__(self, other): return self._op("-", other)
    def __rsub__(self, other): return self._op("-", other, True)
    def __mul__(self, other): return self._op("*", other)
    def __rmul__(self, other): return self._op("*", other, True)
    def __truediv__(self, other): return self._op("/", other)
    def __rtruediv__(self, other): return self._op("/", other, True)
    def __pow__(self, other): return self._op("**", other)
    def __neg__(self): return Scalar(f"(-{self.text})")

    def __lt__(self, other): raise TypeError(f"{self.text} is compared: the formula needs its value")
    __le__ = __gt__ = __ge__ = __lt__
    def __float__(self): raise TypeError(f"{self.text} is read as a number: the formula needs its value")


def num(value: float) -> str:
    """A number as the layer language reads it (integers without a point); a Scalar's name."""
    if isinstance(value, Scalar):
        return str(value)
    value = float(value)
    return str(int(value)) if value == int(value) else repr(value)


def _out(size: int, kernel: int, step: int, pad: int = 0) -> int:
    out = (size + 2 * pad - kernel) // step + 1
    if out < 1:
        raise ValueError(f"the input ({size}) is smaller than the window ({kernel}, padding {pad})")
    return out


def _positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")


# --- element-wise and per-sample transfer functions -------------------------------------------


def _elementwise(name: str, text: Callable[[dict], str], about: str, signature=(), example=(),
                 torch: str = "", group: str = "transfer", domain=(-2.0, 2.0), **page) -> Entry:
    return Entry(name, group, tuple(signature), lambda a, s: Formula(text(a), {"x": s[0]}), about,
                 example=tuple(example), torch=torch, domain=domain, **page)


# --- what the built-ins' pages say past the derivation (their Torch7 notes and scripts) --------

_FROM_THE_OUTPUT = (
    "`backward` reads the output of the last `forward`, so it must follow `forward` of the same "
    "input. Nothing checks the values, here as in Torch: after a `forward` of another input of the "
    "same shape, `backward` silently uses that input's output. derive.nn refuses only a `backward` "
    "before any `forward`, or with an input whose shape or dtype differs from the last `forward`'s.")

_STABLE = (
    r"Every softmax here is computed as \(e^{x_i - m} / \sum_k e^{x_k - m}\) with \(m\) the "
    r"**sample's own** maximum, equal to the definition for any \(m\): no exponential exceeds 1, so "
    "scores of magnitude 1000 give finite results. Shifting a whole batch by its largest score "
    "instead would underflow every row whose scores lie far below it.")

_TARGETS_FROM_ZERO = (
    "Targets are class indices counted from **0**, numpy's convention: an `int` for one sample, an "
    "integer array of shape `(batch,)` for a batch. Torch7 counted classes from **1**: its target 1 "
    "is derive.nn's target 0.")

_MSE_NOTES = (
    r"Torch averages over **all** \(N\) elements: for a batch of \(B\) samples of \(n\), \(N = Bn\), "
    "as Torch divides by `input:nElement()`; with `sizeAverage=false` it is the plain sum. "
    r"`backward(input, target)` returns \(\partial J / \partial \mathbf{x}\): the `gradOutput` that "
    "the network's `backward` starts from.")

_MSE_IN_USE = '''\
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
'''

_BATCHNORM_NOTES = r"""This is Torch7's module (`BatchNormalization.lua`, THNN's `BatchNormalization.c`), and
PyTorch's `batch_norm`; its formula below is training mode, where the batch is the input:

- **Training** (the default) normalises with the batch's mean and its *biased* variance
  (divided by \(N\)), and updates the running statistics,
  `running = (1 - momentum) * running + momentum * batch statistic`, with the *unbiased*
  variance (divided by \(N - 1\)). `running_mean` starts at 0, `running_var` at 1.
  A batch of one sample is refused with a `ValueError`, as PyTorch refuses it (its
  variance is undefined; Torch7 divides by \(N - 1 = 0\)).
- **After `evaluate()`** the running statistics take the place of \(\mu\) and
  \(\sigma^2\), nothing is updated, and
  \(\partial J / \partial x_{ni} = g_{ni} \, \gamma_i / \sqrt{\mathrm{running\_var}_i + \epsilon}\).
- derive.nn draws \(\boldsymbol{\gamma}\) from \(U(0, 1)\) and sets \(\boldsymbol{\beta}\) to 0, as
  Torch7's `reset` (PyTorch starts \(\boldsymbol{\gamma}\) at 1). With `affine=false` there are no
  parameters: \(y_{ni} = \hat{x}_{ni}\).

derive.nn's class is generated from this entry's formula (the batch its one input, `eps` a number
given to the kernels, never differentiated): its training backward walks the statements back, and
its result equals the compact form, with \(g = \partial J / \partial y\) and
\(\hat{x}_{ni} = (x_{ni} - \mu_i) / \sqrt{\sigma_i^2 + \epsilon}\):

$$
\frac{\partial J}{\partial x_{ni}} = \frac{\gamma_i}{N \sqrt{\sigma_i^2 + \epsilon}}
\Big( N g_{ni} - \sum_{m=1}^{N} g_{mi} - \hat{x}_{ni} \sum_{m=1}^{N} g_{mi} \hat{x}_{mi} \Big), \qquad
\frac{\partial J}{\partial \gamma_i} = \sum_{n=1}^{N} g_{ni} \hat{x}_{ni}, \qquad
\frac{\partial J}{\partial \beta_i} = \sum_{n=1}^{N} g_{ni} .
$$

`derive batchnorm 2 --batch 3` prints the engine's proof that its result equals this form."""

_BATCHNORM_IN_USE = '''\
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
'''

_CONVOLUTION_NOTES = r"""A cross-correlation (the kernel is not flipped), as Torch7's module
(`SpatialConvolution.lua`, THNN's `SpatialConvolutionMM.c`) and PyTorch's `conv2d` compute it,
after padding the input with `padH` rows and `padW` columns of zeros on each side (`padH`
defaults to `padW`); the output has
\(o_H = \lfloor (H + 2\,\mathrm{pad}_H - k_H) / d_H \rfloor + 1\) rows, and likewise \(o_W\)
columns. derive.nn's module takes one sample (`nInputPlane`, H, W) or a batch
(batch, `nInputPlane`, H, W); `weight` has shape (`nOutputPlane`, `nInputPlane`, `kH`, `kW`).

Its kernels, generated from the formula, compute the gradients with patches and matrix products,
as Torch's `SpatialConvolutionMM` does: the **patches** (im2col) of a sample are a matrix with
one row per (plane, kernel row, kernel column) and one column per output pixel; the output is
`weight`, seen as an (`nOutputPlane`, \(C k_H k_W\)) matrix, times the patches; `gradWeight`
adds `gradOutput` times the patches transposed; `gradInput` is the transposed weight times
`gradOutput`, each patch's gradient added back onto the pixels it came from (col2im). With
steps 1 and no padding, \(\partial J / \partial x\) is the full convolution of `gradOutput`
with the flipped kernel. The only Python loops run over the \(k_H k_W\) kernel positions,
never over pixels or samples. As Torch7's `columns` buffer, the patches the forward copies
are kept: a backward of the same input array reads them again (change the input in place
after forward, and call forward again); another array is copied anew."""

_CONVOLUTION_IN_USE = '''\
import numpy as np
from derive.nn import SpatialConvolution

np.set_printoptions(precision=4, suppress=True)
conv = SpatialConvolution(1, 1, 2, 2)              # 1 plane in, 1 plane out, 2x2 kernel
conv.weight[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]   # y[i, j] = x[i, j] - x[i+1, j+1] + b
conv.bias[...] = 0.5
x = np.arange(1.0, 13.0).reshape(1, 3, 4)         # one sample: 1 plane of 3 x 4
print(conv)
print("output:", conv.forward(x), sep="\\n")

dJ_dy = np.array([[[1.0, 0.0, 0.0],
                   [0.0, 0.0, 2.0]]])
conv.zeroGradParameters()
print("gradInput:", conv.backward(x, dJ_dy), sep="\\n")
print("gradWeight:", conv.gradWeight, " gradBias:", conv.gradBias)

strided = SpatialConvolution(1, 1, 3, 3, 2, 2, 1, 1)  # steps 2, padding 1
print(strided, "output shape:", strided.forward(x).shape)
'''

_SOFTMAX_IN_USE = '''\
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
'''

_LOGSOFTMAX_IN_USE = '''\
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
'''

_CLASSNLL_NOTES = (
    r"The input holds **log**-probabilities (the output of `LogSoftMax`). For a batch Torch sums "
    "over the samples and, with `sizeAverage`, divides by the total weight of their targets "
    r"(the batch size without `weights`), as PyTorch does: "
    r"\(J = -\sum_b w_{t_b} x_{b, t_b} / \sum_b w_{t_b}\). A batch whose targets all have weight 0 "
    "gives nan, as PyTorch (Torch7 gave 0). " + _TARGETS_FROM_ZERO)

_CLASSNLL_IN_USE = '''\
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
'''

_CROSSENTROPY_NOTES = (
    "`LogSoftMax` followed by `ClassNLLCriterion(weights, sizeAverage)` in one module, on raw class "
    r"scores (logits). Its gradient is the form every course derives, "
    r"\(\partial J / \partial \mathbf{x}_b = w_{t_b} (\operatorname{softmax}(\mathbf{x}_b) - "
    r"\mathbf{e}_{t_b}) / W\) with \(W = \sum_b w_{t_b}\) (the batch size without weights); "
    "`forward` computes the gradient with the loss (they share the softmax) and `backward` of the "
    "very same input and target arrays returns it, as Torch's reads its LogSoftMax's output: change "
    "neither in place in between; `backward` of other arrays computes its own. "
    + _TARGETS_FROM_ZERO + "\n\n" + _STABLE)

_CROSSENTROPY_IN_USE = '''\
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
'''

ENTRIES: list[Entry] = [
    _elementwise("Tanh", lambda a: "y = tanh(x)",
                 "The hyperbolic tangent, element-wise: each output depends on its own input only, "
                 "so the Jacobian is diagonal, 1 - y^2. Example: x = (0, 1) gives y = (0, 0.7616).",
                 torch="Torch7 computes the gradient from the output: 1 - y^2.", notes=_FROM_THE_OUTPUT),
    _elementwise("Sigmoid", lambda a: "y = sigmoid(x)",
                 "The logistic function element-wise, 1 / (1 + exp(-x)). "
                 "Example: x = 0 gives y = 0.5 and a slope of 0.25.",
                 torch="Torch7 computes the gradient from the output: y (1 - y).", notes=_FROM_THE_OUTPUT),
    _elementwise("ReLU", lambda a: "y = where(x > 0, x, 0)",
                 "The rectifier max(0, x). Example: x = (-1, 2) gives y = (0, 2); the gradient passes "
                 "where x > 0.", torch="At x = 0 Torch's subgradient is 0: written max(0, x) the tie would split the "
                 "gradient in halves, so the entry writes the comparison.", kinks=(0.0,),
                 notes="Torch's `ReLU` is `Threshold(0, 0)`: its `gradInput` reads the **input**, "
                       "`gradOutput` where x > 0 and 0 elsewhere, x = 0 included."),
    _elementwise("ReLU6", lambda a: "y = clamp(x, 0, 6)",
                 "The rectifier capped at 6: min(max(0, x), 6), x clamped to [0, 6]. "
                 "Example: x = (-1, 3, 8) gives (0, 3, 6).",
                 torch="Subgradient 0 at both kinks, as Torch7's updateGradInput (0 < x < 6) and PyTorch's "
                       "relu6. Written with min and max the ties would split the gradient in halves "
                       "(torch.maximum's rule), so the entry writes the clamp.", kinks=(0.0, 6.0)),
    _elementwise("HardTanh", lambda a: f"y = clamp(x, {num(a['min_value'])}, {num(a['max_value'])})",
                 "x clamped to [min_value, max_value]; the gradient passes strictly inside. "
                 "Example: x = (-3, 0.5) gives (-1, 0.5).",
                 signature=(Arg("min_value", -1.0, float), Arg("max_value", 1.0, float)), kinks=(-1.0, 1.0)),
    _elementwise("Clamp", lambda a: f"y = clamp(x, {num(a['min_value'])}, {num(a['max_value'])})",
                 "x clamped to [min_value, max_value] (Torch7's Clamp is HardTanh with required bounds). "
                 "Example: Clamp(-0.5, 2) maps 3 to 2.",
                 signature=(Arg("min_value", type=float), Arg("max_value", type=float)), example=(-0.5, 2)),
    _elementwise("LeakyReLU", lambda a: f"y = max(0, x) + {num(a['negval'])} * min(0, x)",
                 "The rectifier with a slope negval below 0. Example: x = -2 gives -0.02.",
                 signature=(Arg("negval", 0.01, float), Arg("ip", False, bool))),
    _elementwise("ELU", lambda a: f"y = where(x > 0, x, {num(a['alpha'])} * (exp(x) - 1))",
                 "Exponential linear unit: x above 0, alpha (exp(x) - 1) below. Example: x = -1 gives -0.632.",
                 signature=(Arg("alpha", 1.0, float), Arg("inplace", False, bool))),
    _elementwise("RReLU", lambda a: f"y = max(0, x) + {num((a['l'] + a['u']) / 2)} * min(0, x)",
                 "The randomised leaky rectifier in evaluation: the slope below 0 is the mean (l + u) / 2 "
                 "of the training slopes. Example: x = -1 gives -0.229.",
                 signature=(Arg("l", 1 / 8, float), Arg("u", 1 / 3, float), Arg("ip", False, bool)),
                 torch="Training draws a slope per element (a random mask): only evaluation is a formula."),
    _elementwise("SoftPlus", lambda a: f"y = log(1 + exp({num(a['beta'])} * x)) / {num(a['beta'])}",
                 "A smooth rectifier, log(1 + exp(beta x)) / beta. Example: x = 0 gives log 2 = 0.693.",
                 signature=(Arg("beta", 1.0, float), Arg("threshold", 20.0, float)),
                 torch="Torch7 returns x where beta x > threshold (a numerical shortcut, not another function)."),
    _elementwise("SoftSign", lambda a: "y = x / (1 + abs(x))",
                 "x / (1 + |x|). Example: x = 1 gives 0.5, with slope 1 / (1 + |x|)^2 = 0.25."),
    _elementwise("LogSigmoid", lambda a: "y = -log(1 + exp(-x))",
                 "The logarithm of the sigmoid. Example: x = 0 gives -log 2 = -0.693."),
    _elementwise("Exp", lambda a: "y = exp(x)", "e to the x; its own derivative. Example: x = 1 gives 2.718.",
                 group="simple"),
    _elementwise("Log", lambda a: "y = log(x)", "The natural logarithm (inputs positive). Example: x = e gives 1.",
                 group="simple", domain=(0.2, 3.0)),
    _elementwise("Abs", lambda a: "y = abs(x)", "|x|; its gradient is the sign of x. Example: x = -2 gives 2.",
                 group="simple", torch="At 0 the subgradient is 0, as Torch's sign.", kinks=(0.0,)),
    _elementwise("Square", lambda a: "y = x**2", "x squared; gradient 2 x. Example: x = 3 gives 9.", group="simple"),
    _elementwise("Sqrt", lambda a: "y = sqrt(x)", "The square root (inputs positive). Example: x = 4 gives 2, "
                 "slope 1/4.", group="simple", domain=(0.2, 3.0)),
    _elementwise("Power", lambda a: f"y = x**{num(a['p'])}", "x to a fixed power p. Example: Power(3) maps 2 to 8.",
                 signature=(Arg("p", type=float),), example=(3,), group="simple"),
    _elementwise("HardShrink", lambda a: f"y = where(abs(x) > {num(a['lambda'])}, x, 0)",
                 "x where |x| > lambda, else 0. Example: x = (0.3, 2) gives (0, 2).",
                 signature=(Arg("lambda", 0.5, float),)),
    _elementwise("SoftShrink",
                 lambda a: (f"y = where(x > {num(a['lambda'])}, x - {num(a['lambda'])}, "
                            f"where(x < -{num(a['lambda'])}, x + {num(a['lambda'])}, 0))"),
                 "x moved towards 0 by lambda, 0 within lambda of 0. Example: x = 2 gives 1.5.",
                 signature=(Arg("lambda", 0.5, float),)),
    _elementwise("Threshold", lambda a: f"y = where(x > {num(a['th'])}, x, {num(a['v'])})",
                 "x above th, the value v otherwise. Example: Threshold(0.1, 20) maps 0 to 20.",
                 signature=(Arg("th", 1e-6, float), Arg("v", 0.0, float), Arg("ip", False, bool)),
                 example=(0.1, 20)),
    _elementwise("SoftMax", lambda a: "y = exp(x) / sum(exp(x))",
                 "exp(x_i) / sum_k exp(x_k): every output depends on every input, the Jacobian is "
                 "diag(y) - y y^T. Example: x = (0, 0) gives (0.5, 0.5).",
                 torch="The generated module shifts by the largest input (the quotient does not change).",
                 notes="Torch's `SoftMax` computes `gradInput` from the output, y (g - y . g): " + _FROM_THE_OUTPUT
                       + "\n\n" + _STABLE, in_use=_SOFTMAX_IN_USE),
    _elementwise("SoftMin", lambda a: "y = exp(-x) / sum(exp(-x))",
                 "The softmax of -x: the smallest input gets the largest weight. Example: x = (0, log 3) gives (0.75, 0.25)."),
    _elementwise("LogSoftMax", lambda a: "y = x - log(sum(exp(x)))",
                 "The logarithm of the softmax. Example: x = (0, 0) gives (-0.693, -0.693).",
                 notes="Torch's `LogSoftMax` computes `gradInput` from the output, g - exp(y) sum(g): "
                       + _FROM_THE_OUTPUT + "\n\n" + _STABLE, in_use=_LOGSOFTMAX_IN_USE),
    _elementwise("MulConstant", lambda a: f"y = {num(a['constant_scalar'])} * x",
                 "x times a fixed number. Example: MulConstant(3) maps 2 to 6.",
                 signature=(Arg("constant_scalar", type=float), Arg("ip", False, bool)), example=(3,),
                 group="simple"),
    _elementwise("AddConstant", lambda a: f"y = x + {num(a['constant_scalar'])}",
                 "x plus a fixed number; the gradient passes unchanged. Example: AddConstant(3) maps 2 to 5.",
                 signature=(Arg("constant_scalar", type=float), Arg("ip", False, bool)), example=(3,),
                 group="simple"),
    _elementwise("Identity", lambda a: "y = x", "The input unchanged; the gradient unchanged.", group="simple"),
]


def _normalize(a: dict, s) -> Formula:
    p = a["p"]
    if p == float("inf"):
        return Formula("y[i] = x[i] / max(abs(x[k]), k)", {"x": s[0]})
    if p <= 0:
        raise ValueError(f"Normalize: p must be positive, got {p}")
    norm = "sum(abs(x))" if p == 1 else ("sqrt(sum(x**2))" if p == 2 else f"sum(abs(x)**{num(p)})**{num(1 / p)}")
    return Formula(f"y = x / {norm}", {"x": s[0]})


ENTRIES += [
    Entry("Normalize", "simple", (Arg("p", type=float, infinite=True), Arg("eps", 1e-10, float)), _normalize,
          "x divided by its p-norm (p = 1, 2, any positive number or inf). Example: Normalize(2) maps "
          "(3, 4) to (0.6, 0.8).", example=(2,),
          torch="Torch7 adds eps to the norm; the formula leaves it out (inputs away from 0)."),
    Entry("SpatialSoftMax", "transfer", (), lambda a, s: Formula(
        "y[c,h,w] = exp(x[c,h,w]) / sum(exp(x[d,h,w]), d)", {"x": s[0]}),
        "The softmax over the planes at each pixel. Example: two planes equal at a pixel give 0.5 each.",
        input_shapes=((3, 2, 2),)),
]


def _prelu(a: dict, s) -> Formula:
    n = a["nOutputPlane"]
    if n < 0:
        raise ValueError(f"PReLU: nOutputPlane must be 0 (one slope shared) or the number of planes, got {n}")
    if n == 0:
        return Formula("y = max(0, x) + a * min(0, x)", {"x": tuple(s[0]), "a": ()})
    return Formula("y[c,i] = max(0, x[c,i]) + a[c] * min(0, x[c,i])", {"x": (n,) + tuple(s[0])})


ENTRIES.append(Entry(
    "PReLU", "transfer", (Arg("nOutputPlane", 0),), _prelu,
    "The rectifier with a learned slope a_c per plane below 0 (one slope a shared by every entry when "
    "nOutputPlane = 0). Example: slope 0.25 maps -2 to -0.5.",
    input_shapes=((4,),), example=(3,), parameters={"weight": "a"},
    reset=(Fill("weight", 0.25),), torch="The input is nOutputPlane x N; --input-shape gives N (the whole "
    "shape when nOutputPlane = 0)."))


# --- simple.md: parameters and shapes ---------------------------------------------------------


def _linear(a, s) -> Formula:
    _positive(inputSize=a["inputSize"], outputSize=a["outputSize"])
    text = "y = W @ x + b" if a["bias"] else "y = W @ x"
    return Formula(text, {"x": (a["inputSize"],), "W": (a["outputSize"], a["inputSize"])})


def _reduce(kind: str):
    def formula(a, s) -> Formula:
        shape = tuple(s[0])
        d = a["dimension"]
        if not 1 <= d <= len(shape):
            raise ValueError(f"dimension must be from 1 to {len(shape)}, got {d}")
        letters = "abcdef"[:len(shape)]
        kept = letters[:d - 1] + letters[d:]
        inner = f"x[{','.join(letters)}], {letters[d - 1]}"
        if kind == "sum" and a.get("sizeAverage"):
            kind_ = "mean"
        else:
            kind_ = kind
        body = f"{kind_}({inner})"
        if not kept:
            raise ValueError("a reduction of a 1-D input to a number is a criterion's: give 2 or more axes")
        return Formula(f"y[{','.join(kept)}] = {body}", {"x": shape})
    return formula


def _narrow(a, s) -> Formula:
    shape = tuple(s[0])
    d, offset, length = a["dimension"], a["offset"], a["length"]
    if not 1 <= d <= len(shape):
        raise ValueError(f"dimension must be from 1 to {len(shape)}, got {d}")
    if offset < 1 or length < 1 or offset + length - 1 > shape[d - 1]:
        raise ValueError(f"offset (from 1) and length must keep the window inside the axis of {shape[d - 1]}, "
                         f"got offset {offset}, length {length}")
    letters = "abcdef"[:len(shape)]
    read = [f"{c}+{offset - 1}" if i == d - 1 and offset > 1 else c for i, c in enumerate(letters)]
    out = shape[:d - 1] + (length,) + shape[d:]
    return Formula(f"y[{','.join(letters)}] = x[{','.join(read)}]", {"x": shape, "y": out})


def _around(shape: tuple, d: int, name: str = "dim") -> tuple[int, int, int]:
    """The input viewed around its axis ``d`` (counted from 1): (the product of the sizes before
    it, its size, the product of those after it), a free reshape of a C-ordered array."""
    if not 1 <= d <= len(shape):
        raise ValueError(f"{name} must be from 1 to {len(shape)} (the input's axes), got {d}")
    return math.prod(shape[:d - 1]), shape[d - 1], math.prod(shape[d:])


_GLU_IN_USE = '''\
import numpy as np
from derive.nn import GatedLinearUnit

np.set_printoptions(precision=4, suppress=True)
x = np.array([[1.0, 2.0, 0.0, -1.0], [3.0, -2.0, 2.0, 0.0], [0.5, 1.0, -3.0, 4.0]])
layer = GatedLinearUnit()             # dim nil: the last axis, a = x[:, :2], b = x[:, 2:]
y = layer.forward(x).copy()           # forward returns the module's output buffer
print("output:", y, sep="\\n")
print("a * sigmoid(b):", x[:, :2] / (1 + np.exp(-x[:, 2:])), sep="\\n")
print("gradInput, gradOutput all ones:", layer.backward(x, np.ones_like(y)), sep="\\n")
print("along dim 1 (x's rows, as (A, 2, M) = (1, 2, 4)):", GatedLinearUnit(1).forward(np.ones((2, 4))).shape)
'''

_PADDING_IN_USE = '''\
import numpy as np
from derive.nn import Padding

x = np.array([1.0, 2.0, 3.0, 4.0])
print("Padding(1, -2):              ", Padding(1, -2).forward(x))
print("Padding(1, 2, 1, -1):        ", Padding(1, 2, 1, -1.0).forward(x))
print("Padding(1, -2, 1, -1, 2):    ", Padding(1, -2, 1, -1.0, 2).forward(x))
print("Padding(1, 2, 1, -1, 2):     ", Padding(1, 2, 1, -1.0, 2).forward(x))
layer = Padding(1, -2, 1, -1.0, 2)    # nInputDim 1: a matrix is a batch of rows, padded along dim + 1
X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print("a batch:", layer.forward(X), sep="\\n")
print("gradInput, the narrow of gradOutput:", layer.backward(X, np.arange(10.0).reshape(2, 5)), sep="\\n")
'''


def _gated_linear_unit(a, s) -> Formula:
    """On the input viewed as (A, 2, M): the axis dim (Torch7's: of the tensor given, default its
    last) split into its two halves, a = x[:, 1] and b = x[:, 2], each half and what follows it one axis."""
    shape = tuple(s[0])
    d = len(shape) if a["dim"] is None else a["dim"]
    before, n, after = _around(shape, d)
    if n % 2:
        raise ValueError(f"GatedLinearUnit halves axis {d}: its size must be even, got {n}")
    m = n // 2 * after
    return Formula("y[a,m] = x[a,1,m] * sigmoid(x[a,2,m])", {"x": (before, 2, m), "y": (before, m)})


def _replicate(a, s) -> Formula:
    shape, d = tuple(s[0]), a["dim"]
    if not 1 <= d <= len(shape) + 1:
        raise ValueError(f"dim must be from 1 to {len(shape) + 1}, got {d}")
    letters = list("abcdef"[:len(shape)])
    out = letters[:d - 1] + ["k"] + letters[d - 1:]
    return Formula(f"y[{','.join(out)}] = x[{','.join(letters)}]",
                   {"x": shape, "y": shape[:d - 1] + (a["nFeature"],) + shape[d - 1:]})


def _table(op: str):
    return lambda a, s: Formula(f"y = x1 {op} x2", {"x1": s[0], "x2": s[1]}, input=("x1", "x2"))


def _euclidean(weighted: bool):
    def formula(a, s) -> Formula:
        shapes = {"x": (a["inputSize"],), "W": (a["inputSize"], a["outputSize"])}
        if weighted:
            shapes["D"] = shapes["W"]
            return Formula("y[j] = sqrt(sum((D[i,j] * (x[i] - W[i,j]))**2, i))", shapes)
        return Formula("y[j] = sqrt(sum((x[i] - W[i,j])**2, i))", shapes)
    return formula


ENTRIES += [
    Entry("Linear", "simple", (Arg("inputSize"), Arg("outputSize"), Arg("bias", True, bool)), _linear,
          "The affine map y = W x + b. Example: W = [[1, 2]], b = 1 maps (1, 1) to 4.",
          input_shapes=None, example=(3, 2), parameters={"weight": "W", "bias": "b"},
          reset=(Uniform(("weight", "bias"), "inputSize"),), builtin="linear",
          shown="{inputSize} -> {outputSize}"),
    Entry("Bilinear", "simple", (Arg("inputSize1"), Arg("inputSize2"), Arg("outputSize"), Arg("bias", True, bool)),
          lambda a, s: Formula("y[k] = sum(x1[i] * W[k,i,j] * x2[j], i, j)" + (" + b[k]" if a["bias"] else ""),
                               {"x1": (a["inputSize1"],), "x2": (a["inputSize2"],),
                                "W": (a["outputSize"], a["inputSize1"], a["inputSize2"])}, input=("x1", "x2")),
          "y_k = x1^T W_k x2 + b_k on a table of two inputs. Example: W_k the identity gives the dot product.",
          input_shapes=None, example=(2, 3, 2), parameters={"weight": "W", "bias": "b"},
          reset=(Uniform(("weight", "bias"), "inputSize1"),)),
    Entry("Add", "simple", (Arg("inputDimension"), Arg("scalar", False, bool)),
          lambda a, s: Formula("y = x + b", {"x": (a["inputDimension"],)}),
          "x plus a learned bias. Example: b = (1, -1) maps (0, 0) to (1, -1).", input_shapes=None,
          example=(4,), parameters={"bias": "b"}, reset=(Uniform("bias", "inputDimension"),)),
    Entry("CAdd", "simple", (Arg("size"),),
          lambda a, s: Formula("y = x + b", {"x": (a["size"],)}),
          "x plus a learned bias of the input's size.", input_shapes=None, example=(4,),
          parameters={"bias": "b"}, reset=(Uniform("bias", "size"),),
          torch="Torch7's CAdd takes a shape (LongStorage); here a 1-D size."),
    Entry("CMul", "simple", (Arg("size"),), lambda a, s: Formula("y = w * x", {"x": (a["size"],)}),
          "x times a learned weight, component-wise. Example: w = (2, 3) maps (1, 1) to (2, 3).",
          input_shapes=None, example=(4,), parameters={"weight": "w"}, reset=(Uniform("weight", "size"),)),
    Entry("Mean", "simple", (Arg("dimension", 1),), _reduce("mean"),
          "The mean over one axis. Example: Mean(1) maps [[1, 2], [3, 4]] to (2, 3).", input_shapes=((3, 4),)),
    Entry("Sum", "simple", (Arg("dimension", 1), Arg("nInputDims", 0), Arg("sizeAverage", False, bool)),
          _reduce("sum"), "The sum over one axis. Example: Sum(1) maps [[1, 2], [3, 4]] to (4, 6).",
          input_shapes=((3, 4),)),
    Entry("Max", "simple", (Arg("dimension", 1),), _reduce("max"),
          "The largest entry along one axis; the gradient goes to it (the first on ties, as Torch).",
          input_shapes=((3, 5),), example=(2,)),
    Entry("Min", "simple", (Arg("dimension", 1),), _reduce("min"),
          "The smallest entry along one axis; the gradient goes to it.", input_shapes=((4, 3),)),
    Entry("Euclidean", "simple", (Arg("inputSize"), Arg("outputSize")), _euclidean(False),
          "y_j = ||w_j - x||, the distance to each of outputSize templates.", input_shapes=None,
          example=(4, 3), parameters={"weight": "W"}, reset=(Uniform("weight", "inputSize"),)),
    Entry("WeightedEuclidean", "simple", (Arg("inputSize"), Arg("outputSize")), _euclidean(True),
          "y_j = ||diag(c_j) (x - w_j)||: each template with its own per-feature scale.",
          input_shapes=None, example=(4, 3), parameters={"weight": "W", "diagCov": "D"},
          reset=(Uniform("weight", "inputSize"), Fill("diagCov", 1))),
    Entry("Cosine", "simple", (Arg("inputSize"), Arg("outputSize")),
          lambda a, s: Formula("y[j] = sum(W[j,i] * x[i], i) / (sqrt(sum(W[j,k]**2, k)) * sqrt(sum(x[k]**2, k)))",
                               {"x": (a["inputSize"],), "W": (a["outputSize"], a["inputSize"])}),
          "The cosine of the angle between x and each row of W.", input_shapes=None, example=(4, 3),
          parameters={"weight": "W"}, reset=(Uniform("weight", "inputSize"),)),
    Entry("Narrow", "simple", (Arg("dimension"), Arg("offset"), Arg("length", 1)), _narrow,
          "length entries of one axis from offset (counted from 1, as Torch7). Example: Narrow(1, 2, 3) "
          "keeps x_2, x_3, x_4.", input_shapes=((6,),), example=(1, 2, 3)),
    Entry("GatedLinearUnit", "transfer", (Arg("dim", None),), _gated_linear_unit,
          "The first half a of x along dim, gated by the sigmoid of the second half b: a * sigmoid(b). "
          "The formula reads x viewed as (A, 2, M): A the product of the sizes before dim, the two halves, "
          "M half of dim's size times the product of the sizes after it. Example: x = (1, 0) gives 0.5.",
          input_shapes=((3, 4),), in_use=_GLU_IN_USE,
          torch="dim counts the axes of the tensor given, from 1, a batch's too (as Torch7's; PyTorch's "
                "F.glu(x, dim - 1)); the default (nil) is its last axis."),
    Entry("Mul", "simple", (), lambda a, s: Formula("y = w * x", {"x": s[0], "w": ()}),
          "x times one learned number w; its gradient is the sum of g x over every entry. "
          "Example: w = 2 maps (1, -1) to (2, -2).", parameters={"weight": "w"},
          reset=(Uniform("weight"),)),
    Entry("Replicate", "simple", (Arg("nFeature"), Arg("dim", 1)), _replicate,
          "nFeature copies of x along a new axis; the gradient sums the copies.", input_shapes=((3,),),
          example=(2,)),
    Entry("Padding", "simple", (Arg("dim"), Arg("pad"), Arg("nInputDim", 0), Arg("value", 0.0, float),
                                Arg("index", 1)),
          lambda a, s: _padding(a, s),
          "|pad| entries of value along axis dim: before the input for a negative pad, after it for a "
          "positive one; index places them after index - 1 entries, counted from that side (Torch7's). "
          "The formula reads x viewed as (A, n, C): A the product of the sizes before dim, n its size, "
          "C the product of those after it.",
          input_shapes=((4,),), example=(1, -2, 1, -1.0, 2), in_use=_PADDING_IN_USE,
          torch="dim counts the axes of the tensor given, from 1; with nInputDim (0: none) an input of "
                "another number of axes is a batch, padded along dim + 1 (as Torch7's)."),
    Entry("MM", "simple", (Arg("transA", False, bool), Arg("transB", False, bool)),
          lambda a, s: Formula(f"y = A{'.T' if a['transA'] else ''} @ B{'.T' if a['transB'] else ''}",
                               {"A": s[0], "B": s[1]}, input=("A", "B")),
          "The matrix product of a table of two matrices.", input_shapes=((2, 3), (3, 4))),
    Entry("CAddTable", "simple", (), _table("+"), "The sum of a table of two inputs.", input_shapes=((4,), (4,))),
    Entry("CSubTable", "simple", (), _table("-"), "The difference of a table of two inputs.",
          input_shapes=((4,), (4,))),
    Entry("CMulTable", "simple", (), _table("*"), "The component-wise product of two inputs.",
          input_shapes=((4,), (4,))),
    Entry("CDivTable", "simple", (), _table("/"), "The component-wise quotient of two inputs (divisor away from 0).",
          input_shapes=((4,), (4,))),
    Entry("LookupTable", "convolution", (Arg("nIndex"), Arg("nOutput")),
          lambda a, s: Formula("y[n,d] = W[x[n], d]", {"x": s[0], "W": (a["nIndex"], a["nOutput"])}),
          "Rows of W picked by integer inputs (counted from 0, as numpy and PyTorch); a row read twice "
          "adds both gradients.", input_shapes=((4,),), example=(10, 3), parameters={"weight": "W"},
          reset=(Normal("weight"),), torch="Torch7 counts indices from 1; derive.nn from 0.", integer_input=True),
]


def _padding(a, s) -> Formula:
    """On the input viewed as (A, n, C) around the padded axis: |pad| entries of value inserted
    after the first q of the axis (Torch7's index: q = index - 1 counted from the left for a
    negative pad, q = n - index + 1 from the right for a positive one); a read past the input is 0."""
    shape, d, pad, index, value = tuple(s[0]), a["dim"], a["pad"], a["index"], a["value"]
    if a["nInputDim"] and len(shape) != a["nInputDim"]:  # a batch: Torch7's dim + 1
        d += 1
    before, n, after = _around(shape, d)
    if not 1 <= index <= n + 1:
        raise ValueError(f"index must be from 1 to {n + 1} (axis {d} has {n} entries), got {index}")
    width, q = abs(pad), index - 1 if pad < 0 else n - index + 1
    shifted = f"x[a,i-{width},c]" if width else "x[a,i,c]"
    if q == 0:
        terms = [shifted]
    elif q == n:
        terms = ["x[a,i,c]"]
    else:
        terms = [f"where(i <= {q}, x[a,i,c], 0)", f"where(i > {q + width}, {shifted}, 0)"]
    if width and (isinstance(value, Scalar) or value != 0):
        inside = (f"where(i <= {width}, {num(value)}, 0)" if q == 0 else f"where(i > {q}, {num(value)}, 0)" if q == n
                  else f"where(i > {q}, where(i <= {q + width}, {num(value)}, 0), 0)")
        terms.append(inside)
    return Formula(f"y[a,i,c] = {' + '.join(terms)}", {"x": (before, n, after), "y": (before, n + width, after)})


# --- convolution.md --------------------------------------------------------------------------


def _at(step: int, out: str, window: str, pad: int, dilation: int = 1) -> str:
    """The 1-based input position read by output position ``out`` and window position ``window``."""
    shift = step + dilation - 1 + pad
    w = window if dilation == 1 else f"{dilation}*{window}"
    o = out if step == 1 else f"{step}*{out}"
    return f"{o}+{w}-{shift}" if shift else f"{o}+{w}"


def _conv2d(a, s, dilation=(1, 1)) -> Formula:
    nin, nout, kW, kH = a["nInputPlane"], a["nOutputPlane"], a["kW"], a["kH"]
    dW, dH, pW, pH = a["dW"], a["dH"], a["padW"], a["padH"]
    _positive(nInputPlane=nin, nOutputPlane=nout, kW=kW, kH=kH, dW=dW, dH=dH)
    shape = tuple(s[0])
    if len(shape) != 2:
        raise ValueError("--input-shape gives the input's height and width: H,W")
    H, W = shape
    eH, eW = dilation[1] * (kH - 1) + 1, dilation[0] * (kW - 1) + 1
    y = (nout, _out(H, eH, dH, pH), _out(W, eW, dW, pW))
    text = (f"y[o,h,w] = sum(W[o,c,p,q] * x[c,{_at(dH, 'h', 'p', pH, dilation[1])},"
            f"{_at(dW, 'w', 'q', pW, dilation[0])}], c, p, q) + b[o]")
    return Formula(text, {"x": (nin, H, W), "W": (nout, nin, kH, kW), "y": y})


_CONV = (Arg("nInputPlane"), Arg("nOutputPlane"), Arg("kW"), Arg("kH"), Arg("dW", 1), Arg("dH", 1),
         Arg("padW", 0), Arg("padH", 0))
_CONV_PARAMS = {"weight": "W", "bias": "b"}
_CONV_RESET = (Uniform(("weight", "bias"), ("kW", "kH", "nInputPlane")),)


def _pool2d(kind: str, dilated: bool = False):
    def formula(a, s) -> Formula:
        kW, kH, dW, dH = a["kW"], a["kH"], a["dW"], a["dH"]
        pW, pH = a.get("padW", 0), a.get("padH", 0)
        _positive(kW=kW, kH=kH, dW=dW, dH=dH)
        C, H, W = _planes(s[0], 3)
        dil = (a["dilationW"], a["dilationH"]) if dilated else (1, 1)
        eH, eW = dil[1] * (kH - 1) + 1, dil[0] * (kW - 1) + 1
        y = (C, _out(H, eH, dH, pH), _out(W, eW, dW, pW))
        read = f"x[c,{_at(dH, 'i', 'p', pH, dil[1])},{_at(dW, 'j', 'q', pW, dil[0])}]"
        ranges = {"p": kH, "q": kW}
        if kind == "max":
            return Formula(f"y[c,i,j] = max({read}, p, q)", {"x": (C, H, W), "y": y}, ranges=ranges)
        if kind == "average":
            return Formula(f"y[c,i,j] = sum({read}, p, q) / {kH * kW}", {"x": (C, H, W), "y": y}, ranges=ranges)
        if kind == "lp":
            pn = num(a["pnorm"])
            return Formula(f"y[c,i,j] = sum({read}**{pn}, p, q)**(1/{pn})", {"x": (C, H, W), "y": y}, ranges=ranges)
        return Formula(f"y[c,i,j] = W[c] * sum({read}, p, q) + b[c]", {"x": (C, H, W), "y": y, "W": (C,)},
                       ranges=ranges)
    return formula


def _planes(shape, n: int) -> tuple:
    shape = tuple(shape)
    if len(shape) != n:
        raise ValueError(f"--input-shape takes {n} sizes (planes and the image's), got {len(shape)}")
    return shape


def _subsampling(a, s) -> Formula:
    C, H, W = _planes(s[0], 3)
    if C != a["nInputPlane"]:
        raise ValueError(f"the input has {C} planes, nInputPlane is {a['nInputPlane']}")
    return _pool2d("subsampling")(a, s)


def _lppool(a, s) -> Formula:
    C, H, W = _planes(s[0], 3)
    if C != a["nInputPlane"]:
        raise ValueError(f"the input has {C} planes, nInputPlane is {a['nInputPlane']}")
    return _pool2d("lp")(a, s)


def _temporal_conv(a, s) -> Formula:
    nin, nout, kW, dW = a["inputFrameSize"], a["outputFrameSize"], a["kW"], a["dW"]
    _positive(inputFrameSize=nin, outputFrameSize=nout, kW=kW, dW=dW)
    (T,) = tuple(s[0])
    y = (_out(T, kW, dW), nout)
    return Formula(f"y[t,o] = sum(W[o,k,c] * x[{_at(dW, 't', 'k', 0)},c], k, c) + b[o]",
                   {"x": (T, nin), "W": (nout, kW, nin), "y": y})


def _temporal(kind: str):
    def formula(a, s) -> Formula:
        kW, dW = a["kW"], a["dW"]
        if kind == "max":
            T, C = tuple(s[0])
        else:
            (T,), C = tuple(s[0]), a["inputFrameSize"]
        y = (_out(T, kW, dW), C)
        read = f"x[{_at(dW, 't', 'k', 0)},c]"
        if kind == "max":
            return Formula(f"y[t,c] = max({read}, k)", {"x": (T, C), "y": y}, ranges={"k": kW})
        return Formula(f"y[t,c] = W[c] * sum({read}, k) + b[c]", {"x": (T, C), "y": y, "W": (C,)},
                       ranges={"k": kW})
    return formula


def _full_conv(a, s) -> Formula:
    nin, nout, kW, kH = a["nInputPlane"], a["nOutputPlane"], a["kW"], a["kH"]
    if a["dW"] != 1 or a["dH"] != 1:
        raise ValueError("SpatialFullConvolution: steps dW, dH > 1 need // in subscripts (not yet in the language)")
    pW, pH, aW, aH = a["padW"], a["padH"], a["adjW"], a["adjH"]
    H, W = tuple(s[0])
    y = (nout, H - 1 - 2 * pH + kH + aH, W - 1 - 2 * pW + kW + aW)
    return Formula(f"y[o,h,w] = sum(W[c,o,p,q] * x[c,h-p+{1 + pH},w-q+{1 + pW}], c, p, q) + b[o]",
                   {"x": (nin, H, W), "W": (nin, nout, kH, kW), "y": y})


def _local_conv(a, s) -> Formula:
    nin, nout, iW, iH, kW, kH = (a[k] for k in ("nInputPlane", "nOutputPlane", "iW", "iH", "kW", "kH"))
    dW, dH, pW, pH = a["dW"], a["dH"], a["padW"], a["padH"]
    oH, oW = _out(iH, kH, dH, pH), _out(iW, kW, dW, pW)
    text = (f"y[o,h,w] = sum(W[h,w,o,c,p,q] * x[c,{_at(dH, 'h', 'p', pH)},{_at(dW, 'w', 'q', pW)}], c, p, q)"
            " + b[o,h,w]")
    return Formula(text, {"x": (nin, iH, iW), "W": (oH, oW, nout, nin, kH, kW), "y": (nout, oH, oW)})


def _zero_padding(a, s) -> Formula:
    l, r, t, b = a["pad_l"], a["pad_r"], a["pad_t"], a["pad_b"]
    C, H, W = _planes(s[0], 3)
    y = (C, H + t + b, W + l + r)
    if y[1] < 1 or y[2] < 1:
        raise ValueError("the padding crops the whole image")
    return Formula(f"y[c,i,j] = x[c,{_shifted('i', -t)},{_shifted('j', -l)}]", {"x": (C, H, W), "y": y})


def _shifted(index: str, by: int) -> str:
    return f"{index}{by:+d}" if by else index


def _conv3d(a, s) -> Formula:
    nin, nout = a["nInputPlane"], a["nOutputPlane"]
    kT, kW, kH, dT, dW, dH = (a[k] for k in ("kT", "kW", "kH", "dT", "dW", "dH"))
    pT, pW, pH = a["padT"], a["padW"], a["padH"]
    T, H, W = tuple(s[0])
    y = (nout, _out(T, kT, dT, pT), _out(H, kH, dH, pH), _out(W, kW, dW, pW))
    text = (f"y[o,t,h,w] = sum(W[o,c,r,p,q] * x[c,{_at(dT, 't', 'r', pT)},{_at(dH, 'h', 'p', pH)},"
            f"{_at(dW, 'w', 'q', pW)}], c, r, p, q) + b[o]")
    return Formula(text, {"x": (nin, T, H, W), "W": (nout, nin, kT, kH, kW), "y": y})


def _pool3d(kind: str):
    def formula(a, s) -> Formula:
        kT, kW, kH, dT, dW, dH = (a[k] for k in ("kT", "kW", "kH", "dT", "dW", "dH"))
        pT, pW, pH = (a.get(k, 0) for k in ("padT", "padW", "padH"))  # max pooling's (-inf outside)
        C, T, H, W = _planes(s[0], 4)
        y = (C, _out(T, kT, dT, pT), _out(H, kH, dH, pH), _out(W, kW, dW, pW))
        read = f"x[c,{_at(dT, 't', 'r', pT)},{_at(dH, 'i', 'p', pH)},{_at(dW, 'j', 'q', pW)}]"
        ranges = {"r": kT, "p": kH, "q": kW}
        if kind == "max":
            return Formula(f"y[c,t,i,j] = max({read}, r, p, q)", {"x": (C, T, H, W), "y": y}, ranges=ranges)
        return Formula(f"y[c,t,i,j] = sum({read}, r, p, q) / {kT * kH * kW}", {"x": (C, T, H, W), "y": y},
                       ranges=ranges)
    return formula


def _cross_map_lrn(a, s) -> Formula:
    size, alpha, beta, k = a["size"], a["alpha"], a["beta"], a["k"]
    _positive(size=size)
    C, H, W = _planes(s[0], 3)
    # the documentation's sum over l from max(1, c - size/2) to min(C, c + size/2): a window of
    # size planes read as 0 outside the input (the same terms), c - size//2 .. c + (size - 1)//2
    first = size // 2 + 1
    # alpha / size as alpha / len(l): the window's size stays a size of the derivation (N_l), so
    # that derive.nn's one class takes every size (catalogue_windows.WINDOW_SIZES)
    return Formula(f"y[c,h,w] = x[c,h,w] / ({num(k)} + {num(alpha)} / len(l) * "
                   f"sum(x[c+l-{first},h,w]**2, l))**{num(beta)}", {"x": (C, H, W)}, ranges={"l": size})


_POOL = (Arg("kW"), Arg("kH"), Arg("dW", same_as="kW"), Arg("dH", same_as="kH"), Arg("padW", 0), Arg("padH", 0))
_POOL3 = (Arg("kT"), Arg("kW"), Arg("kH"), Arg("dT", same_as="kT"), Arg("dW", same_as="kW"), Arg("dH", same_as="kH"))

ENTRIES += [
    Entry("TemporalConvolution", "convolution", (Arg("inputFrameSize"), Arg("outputFrameSize"), Arg("kW"), Arg("dW", 1)),
          _temporal_conv, "A 1-D convolution over a sequence of frames (time x features).",
          input_shapes=((6,),), example=(3, 2, 3), parameters=_CONV_PARAMS,
          reset=(Uniform(("weight", "bias"), ("kW", "inputFrameSize")),),
          torch="--input-shape gives the number of frames; Torch7's weight is W flattened to "
                "outputFrameSize x (kW inputFrameSize)."),
    Entry("TemporalSubSampling", "convolution", (Arg("inputFrameSize"), Arg("kW"), Arg("dW", 1)),
          _temporal("subsampling"), "The sum over a window of frames, scaled and shifted per feature.",
          input_shapes=((6,),), example=(3, 2, 2), parameters=_CONV_PARAMS,
          reset=(Uniform(("weight", "bias"), "kW"),)),
    Entry("TemporalMaxPooling", "convolution", (Arg("kW"), Arg("dW", same_as="kW")), _temporal("max"),
          "The largest frame value in each window, per feature.", input_shapes=((8, 3),), example=(2,)),
    Entry("SpatialConvolution", "convolution", _CONV[:-1] + (Arg("padH", same_as="padW"),), _conv2d,
          "A 2-D convolution (Torch's cross-correlation) with steps and zero padding. Example: a 3x3 "
          "kernel of ones sums each 3x3 patch.", input_shapes=((5, 6),), example=(2, 3, 3, 3, 1, 1, 1, 1),
          parameters=_CONV_PARAMS, reset=_CONV_RESET, builtin="conv",
          shown="{nInputPlane} -> {nOutputPlane}, {kW}x{kH}[, {dW},{dH}][, {padW},{padH}]",
          torch="--input-shape gives the image's height and width (the planes are nInputPlane).",
          notes=_CONVOLUTION_NOTES, in_use=_CONVOLUTION_IN_USE),
    Entry("SpatialConvolutionMM", "convolution", _CONV, _conv2d,
          "Torch7's SpatialConvolution computed through im2col: the same formula.", input_shapes=((5, 6),),
          example=(2, 3, 3, 3, 2, 2, 1, 1), parameters=_CONV_PARAMS, reset=_CONV_RESET),
    Entry("SpatialDilatedConvolution", "convolution",
          _CONV + (Arg("dilationW", 1), Arg("dilationH", 1)),
          lambda a, s: _conv2d(a, s, (a["dilationW"], a["dilationH"])),
          "A convolution whose kernel reads every dilation-th pixel.", input_shapes=((9, 9),),
          example=(2, 3, 3, 3, 1, 1, 0, 0, 2, 2), parameters=_CONV_PARAMS, reset=_CONV_RESET),
    Entry("SpatialFullConvolution", "convolution",
          _CONV + (Arg("adjW", 0), Arg("adjH", 0)), _full_conv,
          "The transposed convolution (the gradient of a convolution as a layer).", input_shapes=((4, 5),),
          example=(2, 3, 3, 3), parameters=_CONV_PARAMS, reset=_CONV_RESET,
          torch="Weight layout nInputPlane x nOutputPlane x kH x kW, as Torch7; the derivation at steps 1 only "
                "(derive.nn's class takes every step: it dilates the input)."),
    Entry("SpatialConvolutionLocal", "convolution",
          (Arg("nInputPlane"), Arg("nOutputPlane"), Arg("iW"), Arg("iH"), Arg("kW"), Arg("kH"),
           Arg("dW", 1), Arg("dH", 1), Arg("padW", 0), Arg("padH", 0)), _local_conv,
          "A convolution with different weights at each output position.", input_shapes=None,
          example=(2, 2, 4, 4, 3, 3), parameters=_CONV_PARAMS, reset=_CONV_RESET),
    Entry("SpatialMaxPooling", "convolution", _POOL, _pool2d("max"),
          "The largest value of each kW x kH window; the gradient goes to it (the first on ties).",
          input_shapes=((2, 6, 6),), example=(2, 2),
          torch="--input-shape gives planes, height and width. With padding, an entry read outside the input "
                "is -inf (never the largest), as Torch7 and PyTorch, not 0."),
    Entry("SpatialDilatedMaxPooling", "convolution", _POOL + (Arg("dilationW", 1), Arg("dilationH", 1)),
          _pool2d("max", dilated=True), "Max pooling over a window that reads every dilation-th pixel.",
          input_shapes=((2, 6, 5),), example=(2, 2, 1, 1, 0, 0, 2, 2)),
    Entry("SpatialAveragePooling", "convolution",
          (Arg("kW"), Arg("kH"), Arg("dW", 1), Arg("dH", 1), Arg("padW", 0), Arg("padH", 0)), _pool2d("average"),
          "The mean of each window (padding counted, as Torch7's default).", input_shapes=((2, 6, 6),),
          example=(2, 2, 2, 2)),
    Entry("SpatialLPPooling", "convolution",
          (Arg("nInputPlane"), Arg("pnorm", type=float), Arg("kW"), Arg("kH"), Arg("dW", same_as="kW"),
           Arg("dH", same_as="kH")), _lppool, "The p-norm of each window (inputs positive).",
          input_shapes=((2, 4, 4),), example=(2, 2, 2, 2)),
    Entry("SpatialSubSampling", "convolution",
          (Arg("nInputPlane"), Arg("kW"), Arg("kH"), Arg("dW", 1), Arg("dH", 1)), _subsampling,
          "The sum of each window, times a weight and plus a bias per plane.", input_shapes=((2, 4, 4),),
          example=(2, 2, 2, 2, 2), parameters=_CONV_PARAMS, reset=(Uniform(("weight", "bias"), ("kW", "kH")),)),
    Entry("SpatialZeroPadding", "convolution", (Arg("pad_l"), Arg("pad_r", same_as="pad_l"),
                                                Arg("pad_t", same_as="pad_l"), Arg("pad_b", same_as="pad_l")),
          _zero_padding, "Zeros around the image (negative pads crop).", input_shapes=((2, 3, 4),),
          example=(2, 1, 1, 1)),
    Entry("SpatialCrossMapLRN", "convolution",
          (Arg("size"), Arg("alpha", 1e-4, float), Arg("beta", 0.75, float), Arg("k", 1.0, float)), _cross_map_lrn,
          "Local response normalisation across planes: each pixel divided by (k + alpha/size times the sum "
          "of the squares of the size planes around it)^beta, the window clamped at the first and last plane.",
          input_shapes=((5, 2, 3),), example=(3, 0.5),
          torch="The clamped window is written as a window of size planes that reads 0 outside the input "
                "(the same terms). For an even size the window is c - size/2 .. c + size/2 - 1, as PyTorch's "
                "local_response_norm; --input-shape gives planes, height and width."),
    Entry("VolumetricConvolution", "convolution",
          (Arg("nInputPlane"), Arg("nOutputPlane"), Arg("kT"), Arg("kW"), Arg("kH"), Arg("dT", 1), Arg("dW", 1),
           Arg("dH", 1), Arg("padT", 0), Arg("padW", 0), Arg("padH", 0)), _conv3d,
          "A 3-D convolution over time, height and width.", input_shapes=((3, 4, 4),), example=(2, 2, 2, 2, 2),
          parameters=_CONV_PARAMS, reset=(Uniform(("weight", "bias"), ("kT", "kW", "kH", "nInputPlane")),),
          torch="--input-shape gives time, height and width."),
    Entry("VolumetricMaxPooling", "convolution", _POOL3 + (Arg("padT", 0), Arg("padW", 0), Arg("padH", 0)),
          _pool3d("max"),
          "The largest value of each kT x kW x kH window.", input_shapes=((2, 4, 4, 6),), example=(2, 2, 2)),
    Entry("VolumetricAveragePooling", "convolution", _POOL3, _pool3d("average"),
          "The mean of each kT x kW x kH window.", input_shapes=((2, 4, 4, 4),), example=(2, 2, 2)),
]


# --- issue 20's modules: computed subscripts, concat, windows read as 0 outside --------------


def _pixel_shuffle(a, s) -> Formula:
    r = a["upscaleFactor"]
    _positive(upscaleFactor=r)
    C, H, W = _planes(s[0], 3)
    if C % (r * r):
        raise ValueError(f"PixelShuffle({r}): the input's planes must be a multiple of {r * r}, got {C}")
    plane = f"{r * r}*(c-1) + {r}*((u-1) % {r}) + (v-1) % {r} + 1" if r > 1 else "c"
    rows, columns = (f"(u-1)//{r} + 1", f"(v-1)//{r} + 1") if r > 1 else ("u", "v")
    return Formula(f"y[c,u,v] = x[{plane}, {rows}, {columns}]", {"x": (C, H, W), "y": (C // (r * r), H * r, W * r)})


def _crelu(a, s) -> Formula:
    shape = tuple(s[0])
    if a["nInputDims"] != len(shape):
        raise ValueError(f"CReLU({a['nInputDims']}): a sample has nInputDims = {a['nInputDims']} axes, "
                         f"--input-shape gives {len(shape)}")
    if len(shape) == 1:
        return Formula("y = concat(max(0, x), max(0, -x))", {"x": shape})
    # the first axis of a sample: the second half of y reads x shifted by its size, 0 outside it
    rest = "".join("," + c for c in "ijkl"[:len(shape) - 1])
    return Formula(f"y[c{rest}] = max(0, x[c{rest}]) + max(0, -x[c-{shape[0]}{rest}])",
                   {"x": shape, "y": (2 * shape[0],) + shape[1:]})


def _upsampling(kind: str):
    def formula(a, s) -> Formula:
        k = a["scale"]
        _positive(scale=k)
        C, H, W = _planes(s[0], 3)
        if kind == "nearest":
            read = f"x[c, (u-1)//{k} + 1, (v-1)//{k} + 1]" if k > 1 else "x[c, u, v]"
            return Formula(f"y[c,u,v] = {read}", {"x": (C, H, W), "y": (C, H * k, W * k)})
        # align_corners: output pixel u sits at (u - 1) / scale input pixels; each input pixel weighs
        # the tent max(0, 1 - |distance|) in each direction (the two nearest get 1 - the fraction)
        # (written with the distance times scale, an integer, so that the kernels hold integers only)
        return Formula(f"y[c,u,v] = sum(x[c,i,j] * max(0, 1 - abs(u - 1 - {k}*(i-1))/{k}) * "
                       f"max(0, 1 - abs(v - 1 - {k}*(j-1))/{k}), i, j)",
                       {"x": (C, H, W), "y": (C, (H - 1) * k + 1, (W - 1) * k + 1)})
    return formula


def _padded(kind: str):
    def formula(a, s) -> Formula:
        l, r, t, b = a["pad_l"], a["pad_r"], a["pad_t"], a["pad_b"]
        C, H, W = _planes(s[0], 3)
        y = (C, H + t + b, W + l + r)
        if y[1] < 1 or y[2] < 1:
            raise ValueError("the padding crops the whole image")
        if kind == "reflection":
            if max(t, b) >= H or max(l, r) >= W:
                raise ValueError(f"reflection padding must be smaller than the input's side: pads {l}, {r}, {t}, "
                                 f"{b} for an image of {H} x {W}")
            # 0-based p = i - pad_t - 1 reflected at both edges (the edge itself not repeated)
            return Formula(f"y[c,i,j] = x[c, {H} - abs({H - 1} - abs({_shifted('i', -t - 1)})), "
                           f"{W} - abs({W - 1} - abs({_shifted('j', -l - 1)}))]", {"x": (C, H, W), "y": y})
        return Formula(f"y[c,i,j] = x[c, min(max({_shifted('i', -t)}, 1), {H}), min(max({_shifted('j', -l)}, 1), {W})]",
                       {"x": (C, H, W), "y": y})
    return formula


def _in_range(index: str, size: int | str) -> str:
    return f"where({index} >= 1, 1, 0) * where({index} <= {size}, 1, 0)"


def _subtractive_normalization(a, s) -> Formula:
    n, k = a["nInputPlane"], a["kernel"]
    _positive(nInputPlane=n, kernel=k)
    if k % 2 == 0:
        raise ValueError(f"SpatialSubtractiveNormalization: the kernel's size must be odd, got {k}")
    C, H, W = _planes(s[0], 3)
    if C != n:
        raise ValueError(f"the input has {C} planes, nInputPlane is {n}")
    h, w = _shifted("h+p", -(k // 2 + 1)), _shifted("w+q", -(k // 2 + 1))
    # the local mean: the window's sum over every plane, zero padded, divided by the planes times
    # the window's pixels inside the image (Torch7's coefficients); that count is 1 or more, and
    # max(1, count) says so to the proof (the divisor never vanishes)
    # (the planes and the image's sides as len(...): sizes of the derivation, so that derive.nn's
    # one class takes every input size)
    inside = f"sum({_in_range(h, 'len(h)')} * {_in_range(w, 'len(w)')}, p, q)"
    return Formula(f"y[c,h,w] = x[c,h,w] - sum(x[d,{h},{w}], d, p, q) / (len(d) * max(1, {inside}))",
                   {"x": (C, H, W)}, ranges={"p": k, "q": k})


def _full_conv3d(a, s) -> Formula:
    nin, nout = a["nInputPlane"], a["nOutputPlane"]
    kT, kW, kH = a["kT"], a["kW"], a["kH"]
    _positive(nInputPlane=nin, nOutputPlane=nout, kT=kT, kW=kW, kH=kH, dT=a["dT"], dW=a["dW"], dH=a["dH"])
    if (a["dT"], a["dW"], a["dH"]) != (1, 1, 1):
        raise ValueError("VolumetricFullConvolution: steps dT, dW, dH > 1 read x at (t - r) / dT, "
                         "a division the formula has no form for yet: steps 1 only")
    if (a["adjT"], a["adjW"], a["adjH"]) != (0, 0, 0):
        raise ValueError("VolumetricFullConvolution: adjT, adjW and adjH must be smaller than the steps (1)")
    pT, pW, pH = a["padT"], a["padW"], a["padH"]
    T, H, W = tuple(s[0])
    y = (nout, T - 1 - 2 * pT + kT, H - 1 - 2 * pH + kH, W - 1 - 2 * pW + kW)
    if min(y[1:]) < 1:
        raise ValueError(f"the padding leaves no output: {y[1:]}")
    # (indices apart from the size names of array notation: n, m, p, r, u, v, w, h)
    return Formula(f"y[o,t,i,j] = sum(W[c,o,k,l,q] * x[c,{_shifted('t-k', 1 + pT)},{_shifted('i-l', 1 + pH)},"
                   f"{_shifted('j-q', 1 + pW)}], c, k, l, q) + b[o]",
                   {"x": (nin, T, H, W), "W": (nin, nout, kT, kH, kW), "y": y})


_VOLUMETRIC = next(e.signature for e in ENTRIES if e.name == "VolumetricConvolution")  # and adjT, adjW, adjH
_PADS = (Arg("pad_l"), Arg("pad_r", same_as="pad_l"), Arg("pad_t", same_as="pad_l"), Arg("pad_b", same_as="pad_l"))

ENTRIES += [
    Entry("PixelShuffle", "simple", (Arg("upscaleFactor"),), _pixel_shuffle,
          "Rearranges the planes of a (C r^2, H, W) input into a (C, H r, W r) output: output pixel (u, v) of "
          "plane c reads plane r^2 (c - 1) + r ((u - 1) mod r) + (v - 1) mod r + 1 at ((u - 1) // r + 1, "
          "(v - 1) // r + 1). Example: PixelShuffle(2) maps 4 planes of 1 x 1, (1, 2, 3, 4), to one plane "
          "[[1, 2], [3, 4]]. Its gradient puts each output's gradient back where the input came from.",
          input_shapes=((8, 2, 3),), example=(2,),
          torch="--input-shape gives the planes (a multiple of upscaleFactor^2), height and width; a batch "
                "adds a leading axis, as Torch7's 4-D input. The same as PyTorch's pixel_shuffle."),
    Entry("CReLU", "transfer", (Arg("nInputDims"), Arg("inplace", False, bool)), _crelu,
          "The concatenated rectifier, concat(max(0, x), max(0, -x)): twice as many outputs, the rectified "
          "input and the rectified negated input, along the first axis of a sample. Example: x = (1, -2) "
          "gives (1, 0, 0, 2).",
          input_shapes=((6,),), example=(1,),
          torch="nInputDims is the number of axes of a sample (--input-shape gives them); a batch adds a leading "
                "axis. Torch7 computes it as ReLU after JoinTable, whose subgradient at 0 is 0; the formula's "
                "max splits the gradient in halves at x = 0 (torch.maximum's rule), so the two agree away "
                "from 0. PyTorch: cat((relu(x), relu(-x)), dim) on the sample's first axis."),
    Entry("SpatialUpSamplingNearest", "convolution", (Arg("scale"),), _upsampling("nearest"),
          "Nearest-neighbour up-sampling of every plane by an integer scale: output (u, v) = input "
          "(floor((u - 1) / scale) + 1, floor((v - 1) / scale) + 1). Example: scale 2 repeats each pixel in a "
          "2 x 2 block; the gradient adds each block's gradients.",
          input_shapes=((2, 3, 4),), example=(2,),
          torch="--input-shape gives planes, height and width; the output is scale times higher and wider, as "
                "PyTorch's interpolate(scale_factor=scale) (mode nearest)."),
    Entry("SpatialUpSamplingBilinear", "convolution", (Arg("scale"),), _upsampling("bilinear"),
          "Bilinear up-sampling of every plane by an integer scale to (H - 1) scale + 1 rows and "
          "(W - 1) scale + 1 columns: the corners stay, and each output pixel mixes the input pixels around "
          "it, each weighted by max(0, 1 - |distance|) in each direction. Example: scale 2 maps the row "
          "(0, 2) to (0, 1, 2).",
          input_shapes=((2, 3, 4),), example=(2,),
          torch="Torch7's constructor also takes a table {oheight=H, owidth=W}; only scale here. The same as "
                "PyTorch's interpolate(mode='bilinear', align_corners=True) at the size above."),
    Entry("SpatialReflectionPadding", "convolution", _PADS, _padded("reflection"),
          "Pads every plane with its reflection at the border (the border pixel itself not repeated). "
          "Example: the row (1, 2, 3) padded by 2 on the left gives (3, 2, 1, 2, 3).",
          input_shapes=((2, 4, 5),), example=(2, 1, 1, 2),
          torch="Each pad must be smaller than the image's side, as PyTorch's reflection padding; negative pads "
                "crop. --input-shape gives planes, height and width."),
    Entry("SpatialReplicationPadding", "convolution", _PADS, _padded("replication"),
          "Pads every plane with copies of its border pixels. Example: the row (1, 2, 3) padded by 2 on the "
          "left gives (1, 1, 1, 2, 3); the gradient of a border pixel adds those of its copies.",
          input_shapes=((2, 4, 5),), example=(2, 1, 1, 2),
          torch="Negative pads crop. --input-shape gives planes, height and width."),
    Entry("SpatialSubtractiveNormalization", "convolution", (Arg("nInputPlane", 1), Arg("kernel", 9)),
          _subtractive_normalization,
          "Subtracts from every pixel the mean of its neighbourhood over every plane: a kernel x kernel window "
          "around it, read as 0 outside the image, its sum divided by the planes times its pixels inside the "
          "image. Example: every pixel of a constant image maps to 0.",
          input_shapes=((1, 5, 5),), example=(1, 3),
          torch="Torch7's kernel is a tensor of weights (2-D, or 1-D for a separable kernel; odd sizes; default "
                "ones(9, 9)); here kernel gives the odd size k of a uniform k x k kernel, Torch7's default "
                "shape. --input-shape gives planes, height and width."),
    Entry("VolumetricFullConvolution", "convolution",
          _VOLUMETRIC + (Arg("adjT", 0), Arg("adjW", 0), Arg("adjH", 0)), _full_conv3d,
          "The 3-D transposed convolution (the gradient of a VolumetricConvolution as a layer): every input "
          "voxel adds its value times the kernel to the output, which grows by the kernel's size less 1 in "
          "each direction.",
          input_shapes=((2, 3, 3),), example=(2, 2, 2, 2, 2), parameters=_CONV_PARAMS,
          reset=(Uniform(("weight", "bias"), ("kT", "kW", "kH", "nInputPlane")),),
          torch="Weight layout nInputPlane x nOutputPlane x kT x kH x kW, as Torch7; the derivation at steps 1 only "
                "(derive.nn's class takes every step: it dilates the input). --input-shape gives time, height and "
                "width."),
]


# --- criterion.md ---------------------------------------------------------------------------


def _criterion(name: str, text: Callable[[dict], str], about: str, signature=(), example=(), torch: str = "",
               inputs: tuple[str, ...] = ("x",), input_shapes=((5,),), constants: Callable | None = None,
               target: str | None = "t", target_shape: bool = True, target_kind: str = "real",
               domain=(-2.0, 2.0), weight: Callable | None = None, **page) -> Entry:
    def formula(a, s) -> Formula:
        shapes = dict(zip(inputs, s))
        if target_shape:  # a target of the (first) input's shape, not a class number or one sign
            shapes["t"] = s[0]
        given = constants(a) if constants else ()
        for c in given:
            shapes[c] = s[0]
        return Formula(text({**a, "classes": s[0][-1]}), shapes, input=inputs, target=target, constants=given,
                       weight=weight(a) if weight else None,
                       reduction="mean" if a.get("sizeAverage", True) else "sum")

    return Entry(name, "criterion", tuple(signature), formula, about, input_shapes=input_shapes,
                 example=tuple(example), torch=torch, target_kind=target_kind, domain=domain, **page)


def _multilabel_margin(a: dict, s) -> Formula:
    (classes,) = tuple(s[0])
    if classes < 2:
        raise ValueError(f"MultiLabelMarginCriterion: the input must hold 2 or more classes, got {classes}")
    # PyTorch's target: n class numbers, the list ending at the first -1 (later entries ignored).
    # Target j counts where no t[l], l <= j, is -1; class i is a target where a counting t[k]
    # names it; x[t[j]] is read as the sum over classes c of x[c] where t[j] names c, so that a
    # -1 reads no entry of x (a gather x[t[j]] would read x[-1], the last one)
    counts = "where(sum(where(l <= j, where(t[l] == -1, 1, 0), 0), l) == 0, 1, 0)"
    counts_k = "where(sum(where(m <= k, where(t[m] == -1, 1, 0), 0), m) == 0, 1, 0)"
    no_target = f"where(sum({counts_k} * where(t[k] == i - 1, 1, 0), k) == 0, 1, 0)"
    x_t = "sum(where(t[j] == c - 1, x[c], 0), c)"
    return Formula(f"J = sum({counts} * {no_target} * max(0, 1 - ({x_t} - x[i])), i, j) / len(i)",
                   {"x": (classes,), "t": (classes,)}, target="t",
                   reduction="mean" if a["sizeAverage"] else "sum")


# The number of classes is len(c), the size the class index c runs over (N_c on the page), not a
# number: so that the generated class's one kernel takes every number of classes.


def _multi_margin(a: dict) -> str:
    margin, power, scale = num(a["margin"]), _power(a["p"]), "w[t] * " if a["weights"] else ""
    total = f"sum(max(0, {margin} - x[t] + x[c]){power}, c) - {num(a['margin'] ** a['p'])}"
    return f"J = {scale}({total}) / len(c)"


def _power(p: int) -> str:
    if p not in (1, 2):
        raise ValueError(f"MultiMarginCriterion: p must be 1 or 2, got {p}")
    return "" if p == 1 else "**2"


def _average(a: dict, body: str) -> str:
    return f"J = mean({body})" if a["sizeAverage"] else f"J = sum({body})"


def _weighted(a: dict) -> tuple:
    return ("w",) if a["weights"] else ()


def _class_weight(a: dict) -> str | None:
    """With class weights, a sample weighs its target's weight: sizeAverage divides a batch's
    loss by the sum of those (Torch7's and PyTorch's total_weight), not by the batch size."""
    return "w[t]" if a["weights"] and a.get("sizeAverage", True) else None


_CLASS_WEIGHTS = ("weights is a tensor in Torch7, and an array (one non-negative weight a class) or nil for "
                  "derive.nn's class; in `derive NAME` `true` writes w into the formula. With weights, the mean over a batch divides by the sum of the targets' "
                  "weights, as Torch7's and PyTorch's: one sample's loss is then -x[t] whatever its weight.")
_SIZE_AVERAGE = Arg("sizeAverage", True, bool)
# Torch7's weights tensor: derive.nn's criteria take the array itself
_WEIGHT_ARRAY = Arg("weights", None, Array)
_WEIGHT_ARRAY_NOTE = ("derive.nn's class takes Torch7's weights, a numpy array of real numbers (one a class; "
                      "BCE's: one an entry of a sample), checked when given and against each input; "
                      "`derive NAME true` derives the formula with w.")

ENTRIES += [
    _criterion("MSECriterion", lambda a: _average(a, "(x - t)**2"),
               "The mean (or sum) of squared differences. Example: x = (1, 2), t = (0, 0) gives 2.5.",
               signature=(_SIZE_AVERAGE,), notes=_MSE_NOTES, in_use=_MSE_IN_USE),
    _criterion("AbsCriterion", lambda a: _average(a, "abs(x - t)"),
               "The mean (or sum) of absolute differences.", signature=(_SIZE_AVERAGE,)),
    _criterion("SmoothL1Criterion", lambda a: _average(a, "where(abs(x - t) < 1, 0.5 * (x - t)**2, abs(x - t) - 0.5)"),
               "Squared below 1, absolute above: the Huber loss.", signature=(_SIZE_AVERAGE,)),
    _criterion("BCECriterion",
               lambda a: _average(a, f"-{'w * ' if a['weights'] else ''}(t * log(x) + (1 - t) * log(1 - x))"),
               "Binary cross-entropy of probabilities x against targets t, optionally weighted.",
               signature=(_WEIGHT_ARRAY, _SIZE_AVERAGE), constants=_weighted, arrays={"weights": "w"},
               torch=_WEIGHT_ARRAY_NOTE, target_kind="probability", domain=(0.05, 0.95)),
    _criterion("ClassNLLCriterion", lambda a: "J = -w[t] * x[t]" if a["weights"] else "J = -x[t]",
               "Minus the log-probability of the target class (t an integer counted from 0).",
               signature=(_WEIGHT_ARRAY, _SIZE_AVERAGE), constants=_weighted, target_shape=False, target_kind="class",
               arrays={"weights": "w"}, weight=_class_weight, torch=_CLASS_WEIGHTS, notes=_CLASSNLL_NOTES, in_use=_CLASSNLL_IN_USE),
    _criterion("CrossEntropyCriterion",
               lambda a: f"J = {'w[t] * ' if a['weights'] else ''}(log(sum(exp(x[k]), k)) - x[t])",
               "LogSoftMax then ClassNLL in one: log sum exp x - x_t.", signature=(_WEIGHT_ARRAY, _SIZE_AVERAGE),
               constants=_weighted, target_shape=False, target_kind="class", weight=_class_weight, arrays={"weights": "w"},
               torch=_CLASS_WEIGHTS, notes=_CROSSENTROPY_NOTES, in_use=_CROSSENTROPY_IN_USE),
    _criterion("DistKLDivCriterion", lambda a: _average(a, "t * (log(t) - x)"),
               "The Kullback-Leibler divergence of target probabilities t from log-probabilities x.",
               signature=(_SIZE_AVERAGE,), target_kind="probability"),
    _criterion("MarginCriterion", lambda a: f"J = mean(max(0, {num(a['margin'])} - t * x))",
               "The hinge loss against targets of -1 and 1.", signature=(Arg("margin", 1.0, float),), target_kind="sign"),
    _criterion("SoftMarginCriterion", lambda a: _average(a, "log(1 + exp(-t * x))"),
               "The logistic loss against targets of -1 and 1.", signature=(_SIZE_AVERAGE,), target_kind="sign"),
    _criterion("MultiMarginCriterion", _multi_margin,
               "The multi-class hinge loss (p = 1 or 2); the i = t term, margin^p, taken out.",
               signature=(Arg("p", 1), _WEIGHT_ARRAY, Arg("margin", 1.0, float)), target_shape=False,
               target_kind="class", constants=_weighted, arrays={"weights": "w"},
               torch="With weights, w[t] scales each term, w[t] max(0, margin - x[t] + x[i])^p, "
               "as Torch7's and PyTorch's code do (their documentation puts it inside the max); the batch's mean "
               "stays a plain mean. " + _WEIGHT_ARRAY_NOTE),
    Entry("MultiLabelMarginCriterion", "criterion", (_SIZE_AVERAGE,), _multilabel_margin,
          "The multi-class multi-label hinge loss: every target class t_j against every class i that is no "
          "target, max(0, 1 - (x_{t_j} - x_i)), over the number of classes. The target lists the sample's "
          "classes and ends at its first -1. Example: x = (0.1, 0.2, 0.4, 0.8), t = (3, 0, -1, 1) gives "
          "(max(0, 1 - (0.8 - 0.2)) + max(0, 1 - (0.8 - 0.4)) + max(0, 1 - (0.1 - 0.2)) "
          "+ max(0, 1 - (0.1 - 0.4))) / 4 = 0.85.",
          target_kind="class", target_end=-1,
          torch="The target has the input's shape and holds class numbers counted from 0, its list ending at "
                "the first -1, as PyTorch's multilabel_margin_loss; the entries after it are ignored (Torch7's "
                "target counts from 1 and ends at the first 0). Torch7 sets sizeAverage as a field; here it is "
                "the constructor's argument, as MSECriterion's: false sums the samples' losses.",
          notes="A target number j counts while no -1 stands at or before it: the formula writes this "
                "as a sum of indicators that is 0, so the derivation and the kernels need no loop. The value "
                "of the target class, x[t[j]], is written as a sum over the classes c with t[j] = c, so a -1 "
                "reads no element of the input (an index of -1 would read the last one, as numpy's and "
                "PyTorch's do). derive.nn's class accepts -1 in the target and refuses any other negative "
                "number, or a class of the number of classes or more, with one line."),
    _criterion("MultiLabelSoftMarginCriterion",
               lambda a: f"J = -mean({'w * ' if a['weights'] else ''}(t * log(1 / (1 + exp(-x))) "
                         "+ (1 - t) * log(1 - 1 / (1 + exp(-x)))))",
               "Binary cross-entropy of sigmoid(x) against 0/1 labels, averaged over the classes, each class "
               "optionally weighted.", signature=(_WEIGHT_ARRAY,), constants=_weighted, arrays={"weights": "w"},
               target_kind="binary", torch=_WEIGHT_ARRAY_NOTE),
    _criterion("HingeEmbeddingCriterion", lambda a: f"J = mean(where(t == 1, x, max(0, {num(a['margin'])} - x)))",
               "x where t = 1, max(0, margin - x) where t = -1.", signature=(Arg("margin", 1.0, float),), target_kind="sign"),
    _criterion("L1HingeEmbeddingCriterion",
               lambda a: f"d = sum(abs(x1 - x2))\nJ = where(t == 1, d, max(0, {num(a['margin'])} - d))",
               "The L1 distance of two inputs, or its hinge when t = -1.", signature=(Arg("margin", 1.0, float),),
               inputs=("x1", "x2"), input_shapes=((4,), (4,)), target_shape=False, target_kind="sign"),
    _criterion("CosineEmbeddingCriterion",
               lambda a: ("c = sum(x1 * x2) / (sqrt(sum(x1**2)) * sqrt(sum(x2**2)))\n"
                          f"J = where(t == 1, 1 - c, max(0, c - {num(a['margin'])}))"),
               "1 - cos(x1, x2) for similar pairs, max(0, cos - margin) for dissimilar.",
               signature=(Arg("margin", 0.0, float), _SIZE_AVERAGE), inputs=("x1", "x2"),
               input_shapes=((4,), (4,)), target_shape=False, target_kind="sign"),
    _criterion("MarginRankingCriterion",
               lambda a: f"J = sum(max(0, -t * (x1 - x2) + {num(a['margin'])}))",
               "max(0, -t (x1 - x2) + margin): x1 should rank above x2 when t = 1.",
               signature=(Arg("margin", 0.0, float),), inputs=("x1", "x2"), input_shapes=((1,), (1,)), target_kind="sign"),
]


#: An argument of a crop criterion's formula (never of its constructor): the crop's offsets written as
#: integer constants, for derive.nn's class that computes them from each input's and target's shapes
RUNTIME_CROP = "runtime crop"


def _autocrop_mse(a, s) -> Formula:
    (C, h, w), target = (tuple(shape) for shape in s)
    if len(target) != 3 or target[0] != C:
        raise ValueError(f"SpatialAutoCropMSECriterion: the target must have the input's {C} planes and a height "
                         f"and width, got {target}")
    if target[1] < h or target[2] < w:
        raise ValueError(f"SpatialAutoCropMSECriterion: the target ({target[1]} x {target[2]}) must be at least "
                         f"as high and wide as the input ({h} x {w})")
    top, left = (target[1] - h) // 2, (target[2] - w) // 2  # Torch7's centerCrop: 1 + floor((H - h) / 2), from 1
    shapes = {"x": (C, h, w), "t": target}
    rows, columns, constants = _shifted("i", top), _shifted("j", left), ()
    if a.get(RUNTIME_CROP):  # the offsets as integers the module reads from the shapes (a read t[k] is k + 1)
        rows, columns, constants = "i+top-1", "j+left-1", ("top", "left")
        shapes.update({"top": (), "left": ()})
    square = f"(x[c,i,j] - t[c,{rows},{columns}])**2, c, i, j"
    return Formula(f"J = mean({square})" if a["sizeAverage"] else f"J = sum({square})",
                   shapes, target="t", reduction="mean" if a["sizeAverage"] else "sum", constants=constants)


ENTRIES.append(Entry(
    "SpatialAutoCropMSECriterion", "criterion", (_SIZE_AVERAGE,), _autocrop_mse,
    "The mean squared error between the input and the centre of a target that is as large or larger: the "
    "target is cropped to the input's height and width, its first rows and columns dropped as evenly as "
    "possible (one fewer before than after where the difference is odd). Example: an input of 2 x 2 against a "
    "target of 4 x 4 compares with the target's middle 2 x 2.",
    input_shapes=((2, 4, 4), (2, 6, 6)), example=(),
    torch="The first --input-shape gives the input's planes, height and width, the second the target's. Torch7 "
          "divides by the input's number of elements (sizeAverage; false sums). A batch adds a leading axis to "
          "both."))


# --- today's built-ins and the programs' layers -------------------------------------------------

ENTRIES.append(Entry(
    "BatchNormalization", "simple", (Arg("nOutput"), Arg("eps", 1e-5, float), Arg("momentum", 0.1, float),
                                      Arg("affine", True, bool)),
    lambda a, s: Formula(
        "mu[j] = mean(x[i,j], i)\nxc[i,j] = x[i,j] - mu[j]\nvar[j] = mean(xc[i,j]**2, i)\n"
        f"invstd[j] = 1 / sqrt(var[j] + {num(a['eps'])})\n"
        # x^ = xc invstd is not a statement of its own: no array of it to write, and the walk back
        # reads sum(g xc) once, for invstd's gradient and gamma's alike
        + ("y[i,j] = gamma[j] * xc[i,j] * invstd[j] + beta[j]" if a["affine"] else "y[i,j] = xc[i,j] * invstd[j]"),
        {"x": (s[0][0], a["nOutput"])}),
    "Batch normalisation in training: the statistics run over the batch, so the batch is the input.",
    input_shapes=((4,),), example=(3,), parameters={"weight": "gamma", "bias": "beta"},
    reset=(UnitUniform("weight"), Fill("bias", 0)), builtin="batchnorm",
    torch="--input-shape gives the batch size; evaluation uses running statistics (bookkeeping).",
    notes=_BATCHNORM_NOTES, in_use=_BATCHNORM_IN_USE, batch_statistics=True))


def _recurrent(gates: str) -> Callable[[dict], dict]:
    """The shapes of a gated recurrent step: W<gate> outputSize x inputSize, U<gate> outputSize x
    outputSize, the input x and the state h from the arguments."""
    def shapes(a: dict) -> dict:
        _positive(inputSize=a["inputSize"], outputSize=a["outputSize"])
        i, o = a["inputSize"], a["outputSize"]
        out = {"x": (i,), "h": (o,)}
        for g in gates:
            out[f"W{g}"] = (o, i)
            out[f"U{g}"] = (o, o)
        return out
    return shapes


def _rnn_shapes(a: dict) -> dict:
    _positive(inputSize=a["inputSize"], outputSize=a["outputSize"])
    i, o = a["inputSize"], a["outputSize"]
    return {"x": (i,), "h": (o,), "Wx": (o, i), "Wh": (o, o)}


def _lstm_shapes(a: dict) -> dict:
    shapes = _recurrent("ifou")(a)
    shapes["c"] = shapes["h"]
    return shapes


def _mlp3_shapes(a: dict) -> dict:
    sizes = (a["inputSize"], a["hiddenSize1"], a["hiddenSize2"], a["outputSize"])
    _positive(**dict(zip(("inputSize", "hiddenSize1", "hiddenSize2", "outputSize"), sizes)))
    return {"x": sizes[:1], "W1": sizes[1::-1], "W2": sizes[2:0:-1], "W3": sizes[3:1:-1]}


def _ninja_shapes(a: dict) -> dict:
    _positive(nInput=a["nInput"], nHidden=a["nHidden"], nClasses=a["nClasses"])
    return {"x": (4, a["nInput"]), "W1": (a["nHidden"], a["nInput"]), "W2": (a["nClasses"], a["nHidden"]),
            "Yb": (4,)}


def _recurrent_reset(*names: str) -> tuple:
    return (Uniform(names, "outputSize"),)


_IO = (Arg("inputSize"), Arg("outputSize"))
# The programs a constructor sizes: (signature, argument values -> the arrays' shapes, parameters
# by their Torch7 names (else the program's), reset, example). A program without one stays at its
# fixed sizes (a page, no derive.nn class).
_PROGRAM_CONSTRUCTORS: dict[str, tuple] = {
    "AffineReLU": (_IO, lambda a: {"x": (a["inputSize"],), "W": (a["outputSize"], a["inputSize"])},
                   {"weight": "W", "bias": "b"}, (Uniform(("weight", "bias"), "inputSize"),), (4, 3)),
    "LayerNorm": ((Arg("nOutput"),), lambda a: (_positive(nOutput=a["nOutput"]) or {"x": (a["nOutput"],)}),
                  {"weight": "gamma", "bias": "beta"}, (Fill("weight", 1), Fill("bias", 0)), (5,)),
    "RNNStep": (_IO, _rnn_shapes, {"Wx": "Wx", "Wh": "Wh", "b": "b"}, _recurrent_reset("Wx", "Wh", "b"), (3, 4)),
    "LSTMStep": (_IO, _lstm_shapes, {n: n for g in "ifou" for n in (f"W{g}", f"U{g}", f"b{g}")},
                 _recurrent_reset(*(n for g in "ifou" for n in (f"W{g}", f"U{g}", f"b{g}"))), (3, 2)),
    "GRUStep": (_IO, _recurrent("rzn"), {n: n for n in ("Wr", "Ur", "br", "Wz", "Uz", "bz", "Wn", "bn", "Un",
                                                        "bhn")},
                _recurrent_reset("Wr", "Ur", "br", "Wz", "Uz", "bz", "Wn", "bn", "Un", "bhn"), (3, 2)),
    # the batch is the input of BatchNorm's program (its statistics couple the samples): its
    # size is the input's own (4 at the example), nOutput the features'
    "BatchNorm": ((Arg("nOutput"),), lambda a: (_positive(nOutput=a["nOutput"]) or {"x": (4, a["nOutput"])}),
                  {"weight": "gamma", "bias": "beta"}, (Fill("weight", 1), Fill("bias", 0)), (3,)),
    "GroupNorm": ((Arg("numGroups"), Arg("groupSize")),
                  lambda a: (_positive(numGroups=a["numGroups"], groupSize=a["groupSize"])
                             or {"x": (a["numGroups"], a["groupSize"])}),
                  {"weight": "gamma", "bias": "beta"}, (Fill("weight", 1), Fill("bias", 0)), (2, 3)),
    # d is the size len(k) runs over: the scores are divided by sqrt(d) whatever d is
    "Attention": ((Arg("d"),), lambda a: (_positive(d=a["d"]) or {"X": (3, a["d"]), "Wq": (a["d"], a["d"]),
                                                                  "Wk": (a["d"], a["d"]), "Wv": (a["d"], a["d"])}),
                  {"Wq": "Wq", "Wk": "Wk", "Wv": "Wv"}, (Uniform(("Wq", "Wk", "Wv"), "d"),), (4,)),
    # criteria with parameters: forward(input, target) is the loss
    "SoftmaxRegression": (_IO, lambda a: (_positive(inputSize=a["inputSize"], outputSize=a["outputSize"])
                                          or {"x": (a["inputSize"],), "W": (a["outputSize"], a["inputSize"]),
                                              "t": (a["outputSize"],)}),
                          {"weight": "W", "bias": "b"}, (Uniform(("weight", "bias"), "inputSize"),), (4, 3)),
    # Ninja's input is a whole batch (its BatchNorm couples the samples), 4 at the example
    "Ninja": ((Arg("nInput"), Arg("nHidden"), Arg("nClasses")), _ninja_shapes,
              {n: n for n in ("W1", "b1", "bngain", "bnbias", "W2", "b2")},
              (Uniform(("W1", "b1"), "nInput"), Fill("bngain", 1), Fill("bnbias", 0), Uniform(("W2", "b2"), "nHidden")),
              (3, 5, 3)),
    "MLP3": ((Arg("inputSize"), Arg("hiddenSize1"), Arg("hiddenSize2"), Arg("outputSize")), _mlp3_shapes,
             {n: n for k in "123" for n in (f"W{k}", f"b{k}")},
             (Uniform(("W1", "b1"), "inputSize"), Uniform(("W2", "b2"), "hiddenSize1"),
              Uniform(("W3", "b3"), "hiddenSize2")), (3, 4, 4, 2)),
}


def _program_entry(program) -> Entry:
    made = _PROGRAM_CONSTRUCTORS.get(program.name)
    if made is None:  # its sizes are the program's own
        return Entry(program.name, "program", (),
                     lambda a, s, p=program: Formula(p.text, dict(p.shapes), input=p.input, outputs=p.outputs,
                                                     target=p.target),
                     program.about, input_shapes=None, torch=f"A program: {program.title} (derive layer --file).")
    signature, shapes, parameters, reset, example = made

    def formula(a: dict, s, p=program) -> Formula:
        return Formula(p.text, shapes(a), input=p.input, outputs=p.outputs, target=p.target)

    return Entry(program.name, "program", signature, formula, program.about, input_shapes=None, example=example,
                 parameters=parameters, reset=reset,
                 torch=f"A program: {program.title} (derive layer --file); derive.nn.{program.name}"
                       f"({', '.join(a.name for a in signature)}) takes every size.")


def _programs() -> list[Entry]:
    from .programs import PROGRAMS

    known = {e.name.lower() for e in ENTRIES}
    return [_program_entry(p) for p in PROGRAMS if p.name.lower() not in known]


ENTRIES += _programs()

CATALOGUE: dict[str, Entry] = {}
for _entry in ENTRIES:
    if _entry.name.lower() in CATALOGUE:
        raise RuntimeError(f"two catalogue entries named {_entry.name}")
    CATALOGUE[_entry.name.lower()] = _entry


def lookup(name: str) -> Entry:
    """The entry named ``name`` (case-insensitive); ValueError lists none when unknown."""
    try:
        return CATALOGUE[name.lower()]
    except KeyError:
        raise ValueError(f"unknown module {name!r} (`derive list` prints the catalogue)") from None

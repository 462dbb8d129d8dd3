"""The convolution family's generated classes: kernels for every stride, padding, dilation and
window size from derivations at a few concrete values.

A window's step, padding and size are numbers in the formula (``x[c, 2*i+p-3, ...]``): the
engine derives the layer at concrete values of them, and its kernels hold those values as
integers (``window(x, (N_c, N_i, 4, ...), (0, -2), ({1: 3, 2: 1}, ...))``, a mask's ``>= -4``).
Here the entry is derived at several generic values of its integer arguments (all different,
in one order, none below 3, where the printer would drop a term); the kernels must then be the
same text but for their integers, and each integer that changes must be one integer-coefficient
affine function of the arguments (``dH + padH``), or a product of them (an average's
``1/(kH kW)``), at every derivation, three more than the fit needs: otherwise the entry has no
generated class (``skipped()`` says which and why).
The generated kernels print those functions by the arguments' names and take the arguments
after the output's sizes; the output's sizes are Torch7's (``OUTPUT_SIZES``), computed by the
class from the input (derive.nn.windowed).

What this is not: a derivation with the arguments as symbols.  Each derivation is proved at its
own values; the kernels for every other value are a fit, checked at the spare derivations and by
tests/test_nn_conv_catalogue.py against PyTorch at several argument values (strides above 1,
paddings, dilations).  The class pages say so (``fit_note``).

Every size but a window's stays a name bound at run time, and the lowering writes the gradients as
at fixed sizes: a window of the input (a strided view) and a contraction, a fold (col2im) of the
terms back to the input's positions, never a mask over every pair of input and output positions;
a step's memory is that of the input, the output and the patches.
"""

from __future__ import annotations

import functools
import itertools
import re

import numpy as np

from .catalogue import Entry, Scalar, lookup
from .generate_sizes import RuntimeSizes

#: Torch7's output size of each output axis the kernels take as a size: ("window", input axis,
#: kernel, step, padding, dilation): floor((n + 2 pad - dilation (kernel - 1) - 1) / step) + 1;
#: ("pad", input axis, before, after): n + before + after; ("scale", input axis, factor) and ("full", input
#: axis, kernel, step, padding, adjustment) for upsampling and transposed convolutions, ("divide", input axis,
#: factor, power): n / factor^power, a multiple of it (PixelShuffle's planes) (derive.nn.windowed.output_size).
#: A field is an argument's name or a number. An entry of another group with a row here is planned as the family.
OUTPUT_SIZES = {
    "TemporalConvolution": {0: ("window", 0, "kW", "dW", 0, 1)},
    "TemporalSubSampling": {0: ("window", 0, "kW", "dW", 0, 1)},
    "TemporalMaxPooling": {0: ("window", 0, "kW", "dW", 0, 1)},
    "SpatialConvolutionMM": {1: ("window", 1, "kH", "dH", "padH", 1), 2: ("window", 2, "kW", "dW", "padW", 1)},
    "SpatialConvolution": {1: ("window", 1, "kH", "dH", "padH", 1), 2: ("window", 2, "kW", "dW", "padW", 1)},
    "SpatialDilatedConvolution": {1: ("window", 1, "kH", "dH", "padH", "dilationH"),
                                  2: ("window", 2, "kW", "dW", "padW", "dilationW")},
    "SpatialMaxPooling": {1: ("window", 1, "kH", "dH", "padH", 1), 2: ("window", 2, "kW", "dW", "padW", 1)},
    "SpatialDilatedMaxPooling": {1: ("window", 1, "kH", "dH", "padH", "dilationH"),
                                 2: ("window", 2, "kW", "dW", "padW", "dilationW")},
    "SpatialAveragePooling": {1: ("window", 1, "kH", "dH", "padH", 1), 2: ("window", 2, "kW", "dW", "padW", 1)},
    "SpatialLPPooling": {1: ("window", 1, "kH", "dH", 0, 1), 2: ("window", 2, "kW", "dW", 0, 1)},
    "SpatialSubSampling": {1: ("window", 1, "kH", "dH", 0, 1), 2: ("window", 2, "kW", "dW", 0, 1)},
    "SpatialZeroPadding": {1: ("pad", 1, "pad_t", "pad_b"), 2: ("pad", 2, "pad_l", "pad_r")},
    "SpatialCrossMapLRN": {},
    "SpatialSubtractiveNormalization": {},
    "VolumetricConvolution": {1: ("window", 1, "kT", "dT", "padT", 1), 2: ("window", 2, "kH", "dH", "padH", 1),
                              3: ("window", 3, "kW", "dW", "padW", 1)},
    "VolumetricMaxPooling": {1: ("window", 1, "kT", "dT", "padT", 1), 2: ("window", 2, "kH", "dH", "padH", 1),
                             3: ("window", 3, "kW", "dW", "padW", 1)},
    "VolumetricAveragePooling": {1: ("window", 1, "kT", "dT", 0, 1), 2: ("window", 2, "kH", "dH", 0, 1),
                                 3: ("window", 3, "kW", "dW", 0, 1)},
    # (of the input dilated by the steps, DILATED_INPUT: a step 1 there)
    "SpatialFullConvolution": {1: ("full", 1, "kH", 1, "padH", "adjH"), 2: ("full", 2, "kW", 1, "padW", "adjW")},
    "SpatialConvolutionLocal": {},  # (its weight's sizes are the output's)
    "VolumetricFullConvolution": {1: ("full", 1, "kT", 1, "padT", "adjT"), 2: ("full", 2, "kH", 1, "padH", "adjH"),
                                  3: ("full", 3, "kW", 1, "padW", "adjW")},
    "SpatialUpSamplingNearest": {1: ("scale", 1, "scale"), 2: ("scale", 2, "scale")},
    # align_corners: (n - 1) scale + 1, a transposed convolution's size with kernel 1 and step scale
    "SpatialUpSamplingBilinear": {1: ("full", 1, 1, "scale", 0, 0), 2: ("full", 2, 1, "scale", 0, 0)},
    "PixelShuffle": {0: ("divide", 0, "upscaleFactor", 2), 1: ("scale", 1, "upscaleFactor"),
                     2: ("scale", 2, "upscaleFactor")},
    "SpatialReflectionPadding": {1: ("pad", 1, "pad_t", "pad_b"), 2: ("pad", 2, "pad_l", "pad_r")},
    "SpatialReplicationPadding": {1: ("pad", 1, "pad_t", "pad_b"), 2: ("pad", 2, "pad_l", "pad_r")},
}
#: The transposed convolutions: each (input axis, step, adjustment) dilates the input along that
#: axis by the step (step - 1 zeros between its entries) before the kernels, which are derived at
#: step 1 (the formula's own: a step > 1 would read x at (h - p) / step, a division subscripts
#: cannot prove); Torch7's output size is then the step-1 "full" rule of the dilated input,
#: (n - 1) step - 2 pad + k + adj, and the gradient of the input is the dilated one's read at every
#: step-th entry. The adjustment (extra output rows past the last input's reach) must be below the step.
DILATED_INPUT = {
    "SpatialFullConvolution": ((1, "dH", "adjH"), (2, "dW", "adjW")),
    "VolumetricFullConvolution": ((1, "dT", "adjT"), (2, "dH", "adjH"), (3, "dW", "adjW")),
}
#: The arguments that are the size of a window the formula sums over (its range, ``len(l)``): kept
#: as the argument's name in the derived terms, where a number would be folded into the terms'
#: coefficients differently at each value (alpha / 6 as 3 k ... / 2): the entry's index -> argument
WINDOW_SIZES = {
    "SpatialCrossMapLRN": {"l": "size"},
}
#: The arguments Torch7 takes odd only (a window centred on its pixel): the derivations are at odd
#: values, where such an argument and its half are one affine function of the other (its fit is in halves)
ODD = {
    "SpatialSubtractiveNormalization": ("kernel",),
}
#: The axes of one input sample whose sizes the entry's formula writes as numbers (a reflection's
#: H - |H - 1 - |i - pad_t - 1||): fitted as the other integers are, by the names ``inputSize<axis>``,
#: which the kernels take after the window's arguments and the class reads from each input.
INPUT_SIZES = {
    "SpatialReflectionPadding": (1, 2),
    "SpatialReplicationPadding": (1, 2),
}
#: Arguments that must stay below the size of an input axis (a reflection reads no further than
#: the opposite border): {axis of a sample: those arguments}; the class refuses other inputs.
BELOW_INPUT_SIZES = {
    "SpatialReflectionPadding": {1: ("pad_t", "pad_b"), 2: ("pad_l", "pad_r")},
}
#: The arguments that are sizes of the input or the weights (bound from the arrays' shapes, never a number)
PLANES = ("nInputPlane", "nOutputPlane", "inputFrameSize", "outputFrameSize")
#: Where Torch7's constructor fixes the input's size (SpatialConvolutionLocal's iW, iH): each such
#: argument's rule of the output size it gives, ("window", the argument, kernel, step, padding,
#: dilation), a size of the weights (oH x oW x ...) as well; the argument is bound from the input's
#: shape in the kernels, as the planes are, and the class refuses another input size.
INPUT_ARGUMENTS = {
    "SpatialConvolutionLocal": {"iH": ("window", "iH", "kH", "dH", "padH", 1),
                                "iW": ("window", "iW", "kW", "dW", "padW", 1)},
}
# an integer: a term of a sum ("- 3", its sign flips with the values) or a number ("-4", "12")
# (never one raised to a power: -4**x is -(4**x), which a printed (value)**x is not)
_NUMBER = re.compile(r"(?<= )[+-] \d+(?![\w.]|\*\*)|(?:(?<=[\s(\[,:{])-)?(?<![\w.])\d+(?![\w.]|\*\*)"
                     r"|(?<![\w.])\d+(?![\w.])")
_SPARE = 3  # derivations beyond the unknowns of the fit: each must agree with the fitted functions


def _varied(entry: Entry) -> list[str]:
    """The names the fit varies: the integer arguments, then the input sizes of INPUT_SIZES."""
    fixed = {name for axis in DILATED_INPUT.get(entry.name, ()) for name in axis[1:]}  # (derived at step 1)
    fixed |= set(INPUT_ARGUMENTS.get(entry.name, {}))  # (input sizes)
    return ([a.name for a in entry.signature if a.type is int and a.name not in PLANES and a.name not in fixed]
            + [f"inputSize{axis}" for axis in INPUT_SIZES.get(entry.name, ())])


def _points(entry: Entry, count: int) -> list[dict]:
    """``count`` generic values of the integer arguments: none below 3 (where the printer drops a
    term or a window never reaches past the input), all different, and in one order at every
    point (paddings first), so that the printer orders the terms of each derivation alike."""
    rng = np.random.default_rng(sum(map(ord, entry.name)))
    base = entry.arguments(entry.example)
    names = sorted(_varied(entry), key=lambda n: not n.startswith("pad"))
    points, tries = [], 0
    while len(points) < count and tries < 50 * count:
        tries += 1
        point = dict(base)
        point.update({name: 3 + 6 * rank + int(rng.integers(0, 6)) for rank, name in enumerate(names)})
        point.update({name: 2 * (point[name] - 2) + 1 for name in ODD.get(entry.name, ())})  # 3, 5, ...
        # the planes apart from each other and from the rest: each parameter axis names its argument
        point.update({name: 100 + k for k, name in enumerate(p for p in PLANES if p in base)})
        for name, rule in INPUT_ARGUMENTS.get(entry.name, {}).items():  # as _input_shapes places the windows
            point[name] = _window_size(rule, point)
        if point not in points:
            points.append(point)
    return points


def _input_shapes(entry: Entry, args: dict) -> tuple:
    """The input's sizes at ``args``: the planes as the arguments say; every other axis large
    enough for several windows, and placed alike against the windows at every derivation (so
    that each keeps the same tests of a read past the input)."""
    if entry.input_shapes is None:  # the constructor's arguments give them (INPUT_ARGUMENTS)
        return None
    base = entry.arguments(entry.example)
    planes = {base[p]: p for p in PLANES if p in base}
    (shape,) = entry.input_shapes
    # the sample's axes the rules count: Spatial and Volumetric inputs have their planes first,
    # which the entry's input shape leaves out where nInputPlane gives them
    offset = 1 if "nInputPlane" in base and not (shape[0] in planes and shape[0] == base["nInputPlane"]) else 0
    rules = {rule[1]: rule for rule in OUTPUT_SIZES.get(entry.name, {}).values()}
    if rules and len(shape) <= max(rules):  # the rules' last axis past the shape: its planes left out
        offset = 1  # (VolumetricFullConvolution's time, 2, is no plane though nInputPlane is 2)
    sizes = []
    for axis, d in enumerate(shape):
        rule = rules.get(axis + offset)
        if f"inputSize{axis + offset}" in args:  # (a point's; the example's own size elsewhere)
            sizes.append(args[f"inputSize{axis + offset}"])
        elif axis == 0 and d in planes and not offset:  # (SpatialSubSampling's planes, nInputPlane)
            sizes.append(args[planes[d]])
        elif rule and rule[0] == "divide":  # a multiple of the divisor
            sizes.append(_value(rule[2], args) ** _value(rule[3], args) * (2 + axis))
        elif rule and rule[0] == "window":
            sizes.append(_window_size(rule, args))
        else:
            sizes.append(25 + axis)
    return (tuple(sizes),)


def _window_size(rule: tuple, args: dict) -> int:
    """An input size with several windows of ``rule`` (a "window" rule), placed alike at every derivation."""
    size = 20 + _value(rule[5], args) * (_value(rule[2], args) - 1)
    pad = _value(rule[4], args)
    # with padding the last window ends at size + padding; without, one short of the end
    # (an input that the windows exactly cover is read by the parser as a sum of their sizes)
    while (size + 2 * pad - _value(rule[5], args) * (_value(rule[2], args) - 1) - 1) \
            % _value(rule[3], args) != (0 if pad else 1):
        size += 1
    return size


def _value(field, args: dict) -> int:
    return args[field] if isinstance(field, str) else field


def _formula_at(entry: Entry, args: dict, input_shapes: tuple | None = None):
    """The entry's formula at ``args`` (its number arguments by name) on ``input_shapes``
    (_input_shapes' by default), every array's given sizes, and the numbers it uses (constants
    of the kernels)."""
    from .catalogue_codegen import _formula_name

    shaped = {a.name: Scalar(_formula_name(a.name)) if a.type is float and args[a.name] is not None
              else args[a.name] for a in entry.signature}
    formula = entry.formula(shaped, _input_shapes(entry, args) if input_shapes is None else input_shapes)
    names = [_formula_name(a.name) for a in entry.signature if a.type is float]
    used = tuple(n for n in names if re.search(rf"\b{n}\b", formula.text))
    return formula, {**formula.shapes, **{n: () for n in used}}, tuple(formula.options().get("constants", ())) + used


def _spec(entry: Entry, args: dict, input_shapes: tuple | None = None):
    from .symbolic.language import parse

    formula, shapes, constants = _formula_at(entry, args, input_shapes)
    options = formula.options()
    return parse(formula.text, shapes, input=options["input"], ranges=options.get("ranges"), constants=constants)


@functools.lru_cache(maxsize=None)
def _derived_at(name: str, values: tuple) -> tuple[str, ...]:
    """The kernels of entry ``name`` at these argument values (sizes bound at run time, a window's
    size a number), with the varied arguments' names appended to every kernel's arguments."""
    entry = lookup(name)
    spec = _spec(entry, dict(values))
    writer = _WindowSizes(spec, "Layer", "mean")
    writer.window_arguments = tuple(_varied(entry))
    writer.named_windows = _named_windows(spec, WINDOW_SIZES.get(name, {}))
    return tuple(writer.kernels(spec, "") + writer.kernels(writer.batch, "_batch"))


def _named_windows(spec, windows: dict) -> dict:
    """The size symbol of each summed index of ``windows`` (index -> argument), as the argument's name."""
    import sympy as sp

    limits = {str(i): upper for s in spec.expr.atoms(sp.Sum) for i, _, upper in s.limits}
    missing = sorted(set(windows) - set(limits))
    if missing:
        raise ValueError(f"the formula sums over no index {missing[0]} (WINDOW_SIZES)")
    return {limits[i]: sp.Symbol(a, integer=True, positive=True) for i, a in windows.items()}


class _WindowSizes(RuntimeSizes):
    """The run-time size writer with a window's size (a size no array has) kept a number, and
    the varied arguments taken after the output's sizes."""

    window_arguments: tuple = ()
    named_windows: dict = {}  # a window's size symbol -> the argument's (WINDOW_SIZES)

    def _fixed_sizes(self, spec):
        fixed = super()._fixed_sizes(spec)
        names = self._size_names(spec)
        fixed.update({s: self.named_windows.get(s, v) for s, v in spec.sizes.items()
                      if s not in names and s != spec.batch_size})
        return fixed

    def _signature(self, spec) -> list[str]:
        return super()._signature(spec) + list(self.window_arguments) + ["patches"]

    def _lowering(self, arrays: dict[str, str], ranges: dict, spec):
        lowering = super()._lowering(arrays, ranges, spec)
        lowering.patches = "patches"  # the module's Patches: a window the forward copies, the backward reads
        return lowering

    def _arrays(self, spec) -> dict[str, str]:
        return {**super()._arrays(spec), **{str(a): str(a) for a in self.named_windows.values()}}


def _fit(values: list[int], points: list[dict], names: list[str]) -> str | None:
    """The integer-coefficient affine function of the arguments (or product of them) that takes
    ``values`` at ``points``, printed with the arguments' names; None where there is none."""
    products = [f"{a}*{b}" for a, b in itertools.combinations_with_replacement(names, 2)]  # PixelShuffle's r^2 - 1
    for basis in ([n for n in names], [n for n in names] + [f"{n}//2" for n in names], [f"{n}//2" for n in names],
                  names + products):
        if len(points) < len(basis) + 1 + _SPARE:
            continue
        fitted = _affine(values, points, basis)
        if fitted is not None:
            return fitted
    for size in (2, 3):  # a window's area: a product of its sizes (or a power: PixelShuffle's r^2)
        for group in itertools.combinations_with_replacement(names, size):
            if all(np.prod([p[n] for n in group]) == v for p, v in zip(points, values)):
                return "(" + "*".join(group) + ")"
    return None


def _affine(values: list[int], points: list[dict], basis: list[str]) -> str | None:
    """The integer combination of 1 and ``basis`` (names, or halves ``n//2``) taking ``values``."""
    def at(point, term):
        if "*" in term:
            return int(np.prod([point[n] for n in term.split("*")]))
        return point[term[:-3]] // 2 if term.endswith("//2") else point[term]
    design = np.array([[1] + [at(p, t) for t in basis] for p in points], dtype=float)
    solution = np.linalg.lstsq(design, np.array(values, dtype=float), rcond=None)[0]
    coefficients = np.rint(solution).astype(int)
    if np.array_equal(design.astype(int) @ coefficients, np.array(values)):
        terms = [(c, n) for c, n in zip(coefficients[1:], basis) if c]
        text = ""
        for c, n in terms:
            n = f"({n})" if n.endswith("//2") else n  # -(size//2), not (-size)//2
            part = n if abs(c) == 1 else f"{abs(c)}*{n}"
            text += (" - " if c < 0 else " + ") + part if text else ("-" if c < 0 else "") + part
        if coefficients[0]:
            text += f" {'-' if coefficients[0] < 0 else '+'} {abs(coefficients[0])}" if text \
                else str(coefficients[0])
        return f"({text})"
    return None


def general_kernels(entry: Entry) -> tuple[str, ...]:
    """The entry's kernels for every value of its integer arguments (module docstring); ValueError
    where its derivations differ but in integers that are such functions of them."""
    names = _varied(entry)
    unknowns = 1 + len(names) * (2 if len(names) <= 2 else 1)  # (a few arguments: their halves too)
    points = _points(entry, unknowns + _SPARE)
    if len(points) < unknowns + _SPARE:
        raise ValueError("too few generic values of its arguments")
    return fitted_kernels([_derived_at(entry.name, tuple(point.items())) for point in points], points, names)


def fitted_kernels(derived: list[tuple[str, ...]], points: list[dict], names: list[str]) -> tuple[str, ...]:
    """One kernel set from the kernels ``derived`` at each of ``points``: the same text at every
    point but for integers, each changing integer printed as its affine function of ``names``
    (``_fit``); ValueError where the texts differ otherwise or an integer has no such function."""
    texts = ["\n\x00\n".join(kernels) for kernels in derived]
    pieces = [_NUMBER.split(t) for t in texts]
    numbers = [_NUMBER.findall(t) for t in texts]
    # the split keeps no numbers (the pattern has no group)
    if any(p != pieces[0] for p in pieces):
        raise ValueError("its kernels differ in more than integers between values of its arguments")
    out = [pieces[0][0]]
    for k, piece in enumerate(pieces[0][1:]):
        term = [n[k][0] in "+-" and n[k][1:2] == " " for n in numbers]
        values = [int(n[k].replace(" ", "").lstrip("+")) for n in numbers]
        if len(set(values)) == 1 and len({n[k] for n in numbers}) == 1:
            out.append(numbers[0][k])
        elif len(set(term)) > 1:
            raise ValueError("an integer of its kernels is a term at some values, a number at others")
        else:
            fitted = _fit(values, points, names)
            if fitted is None:
                raise ValueError(f"an integer of its kernels ({values}) is no affine function of {names}")
            out.append("+ " + fitted if term[0] else fitted)
        out.append(piece)
    return tuple("".join(out).split("\n\x00\n"))


def fit_note(entry: Entry) -> str:
    """How the class's kernels come to hold for every value of the window's arguments (a page's
    paragraph): how many derivations the fit took and how many checked it."""
    names = _varied(entry)
    unknowns = 1 + len(names) * (2 if len(names) <= 2 else 1)
    shown = ", ".join(f"`{n}`" for n in names if not n.startswith("inputSize"))
    sizes = len(INPUT_SIZES.get(entry.name, ()))
    also = f" (the formula writes {sizes} of the input's sizes as numbers: those are fitted alike)" if sizes else ""
    every = "" if entry.name in INPUT_ARGUMENTS else " and every input size"
    return (f"`derive.nn.{entry.name}` takes every value of {shown}{every}{also}. Its kernels are not derived with those arguments as symbols: the engine derives the "
            f"formula at {unknowns + _SPARE} sets of generic integer values of them, each kernel must be the same "
            f"text at every one but for integers, and each integer that changes must be one affine function of the "
            f"arguments with integer coefficients (or a product of them) at all of them, {_SPARE} more derivations "
            f"than such a function has coefficients. "
            f"The tests compare the class with PyTorch at several values of the arguments, one sample and a batch."
            + _dilation_note(entry) + _input_note(entry))


def _dilation_note(entry: Entry) -> str:
    if entry.name not in DILATED_INPUT:
        return ""
    steps = ", ".join(f"`{step}`" for _, step, _ in DILATED_INPUT[entry.name])
    adjustments = ", ".join(f"`{adj}`" for _, _, adj in DILATED_INPUT[entry.name])
    return (f" Its steps {steps} are not in the kernels: those are derived at step 1, and a step d > 1 dilates the "
            f"input first (d - 1 zeros between its entries along that axis). A transposed convolution with step d "
            f"is the step-1 one of the dilated input, an identity of the sums, not a proof of the engine (a step in "
            f"the formula would read x at (h - p) / d, a division the subscripts have no proved form for); the "
            f"input's gradient is the dilated input's at every d-th entry, and {adjustments} (below the steps, "
            f"as Torch7's) add output rows past the last input's reach.")


def _input_note(entry: Entry) -> str:
    if entry.name not in INPUT_ARGUMENTS:
        return ""
    names = " and ".join(f"`{name}`" for name in INPUT_ARGUMENTS[entry.name])
    return (f" As Torch7's, its constructor fixes the input's size ({names}) and the weights' sizes follow from it "
            f"(one weight per output position): the class refuses an input of another size.")


def _shapes(entry: Entry, args: dict) -> dict:
    """Every array's sizes at ``args`` (the input's from _input_shapes)."""
    spec = _spec(entry, args)
    return {a.name: spec.concrete(a.shape) for a in spec.arrays.values()}


def _output_size(rule: tuple, args: dict) -> int:
    """Torch7's output size of an INPUT_ARGUMENTS rule at ``args`` (derive.nn.windowed's rule)."""
    from .nn.windowed import output_size

    return output_size(rule, args[rule[1]], args)


def plan_windows(entry: Entry):
    """The generated class (catalogue_codegen.Generated) of a convolution-family entry;
    ValueError says why it has none."""
    from .catalogue_codegen import Generated, _build, _formula_name, _reset

    if entry.name not in OUTPUT_SIZES:
        raise ValueError("the convolution family: its output's or its weight's sizes are not in a rule of "
                         "catalogue_windows.OUTPUT_SIZES")
    kernels = general_kernels(entry)
    points = _points(entry, 2)
    base = entry.arguments(entry.example)
    formula, _, _, _, scalars = _build(entry, base, True)
    layouts = [_shapes(entry, p) for p in points]
    integers = [a.name for a in entry.signature if a.type is int]

    sized = tuple(INPUT_ARGUMENTS.get(entry.name, {}).values())

    def axes(array: str) -> tuple:
        """Each axis: the argument that is its size at both points, or the rule of an output size
        that is (SpatialConvolutionLocal's oH), or None."""
        return tuple(next((n for n in integers if all(p[n] == f[array][k] for p, f in zip(points, layouts))),
                          next((r for r in sized if all(_output_size(r, p) == f[array][k]
                                                        for p, f in zip(points, layouts))), None))
                     for k in range(len(layouts[0][array])))

    torch_names = {v: k for k, v in entry.parameters.items()}
    parameter_shapes = []
    for name in entry.parameters.values():
        shape = axes(name)
        if None in shape:
            raise ValueError(f"the parameter {name}'s sizes do not follow from the constructor's arguments")
        parameter_shapes.append((torch_names[name], shape))
    taken = re.match(r"def \w+\(([^)]*)\)", kernels[0]).group(1).split(", ")
    taken = [a for a in taken if a not in ("out=None", "patches")]  # the buffer and Patches the base passes last
    parameter_shapes.sort(key=lambda p: taken.index(entry.parameters[p[0]]))  # the kernels' order
    # the kernels take the numbers in their own order (the formula's), the class passes them in scalars' order
    scalars = tuple(sorted(scalars, key=lambda a: taken.index(_formula_name(a))))
    rules = OUTPUT_SIZES[entry.name]
    sizes = taken[len(taken) - len(_varied(entry)) - len(rules):len(taken) - len(_varied(entry))]
    if any(not s.startswith("N_") for s in sizes):
        raise ValueError(f"the kernels take {sizes} where the output's sizes were expected")
    return Generated(entry, scalars, axes(formula.input[0]),
                     False, tuple(parameter_shapes), _reset(entry) if parameter_shapes else (), (),
                     {(): kernels}, formula.text, output_sizes=tuple(rules[k] for k in sorted(rules)),
                     window_arguments=tuple(n for n in _varied(entry) if not n.startswith("inputSize")),
                     input_sizes=INPUT_SIZES.get(entry.name, ()),
                     below_input_sizes=tuple(BELOW_INPUT_SIZES.get(entry.name, {}).items()),
                     dilated_input=DILATED_INPUT.get(entry.name, ()), odd_arguments=ODD.get(entry.name, ()))

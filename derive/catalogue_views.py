"""The generated classes of the entries whose formula reads the input through a view around one
axis (GatedLinearUnit, Padding): Torch7's ``dim`` counts the axes of the tensor given, a batch's
too, so that one formula serves every axis and rank only on the input viewed as (A, n, C), the
product of the sizes before the axis, its size, the product of those after it (a free reshape of
a C-ordered array).  The entry's formula is written on that view (derive/catalogue.py), the
kernels are derived from it at run-time sizes, and the class (derive.nn.viewed) views each input
and reshapes the output back: bookkeeping, no calculus.

Padding's insertion point and width are numbers of its formula; as the convolution family's
(derive.catalogue_windows), its kernels come from derivations at several generic values of them,
the same text but for integers, each an affine function of ``before`` (the entries of the axis
before the padding) and ``width`` (|pad|), checked at spare derivations; the class computes both
from pad, index and the input's size.
"""

from __future__ import annotations

import re

import numpy as np

from .catalogue import Entry, Scalar
from .generate_sizes import RuntimeSizes

#: The entries planned here: how the class views its input ("halves": the axis as its two halves,
#: (A, 2, n/2 C); "pad": (A, n, C)) and the numbers of the formula fitted, by the names the class gives them.
VIEWS = {
    "GatedLinearUnit": ("halves", ()),
    "Padding": ("pad", ("before", "width")),
}
_POINTS = 8  # derivations: 1 + 2 per fitted name (their halves too) and 3 spare


def _point(name: str, k: int, rng) -> tuple[dict, tuple]:
    """The constructor's arguments and the input's shape of derivation ``k``: the axis is the second
    of three, and every size and number generic (apart from each other, none below 3)."""
    if name == "GatedLinearUnit":
        return {"dim": 2}, (5 + k, 2 * (3 + 2 * k), 7 + 3 * k)
    before, width = 3 + int(rng.integers(0, 6)), 9 + int(rng.integers(0, 6))
    return ({"dim": 2, "pad": -width, "nInputDim": 0, "value": Scalar("value"), "index": before + 1,
             "before": before, "width": width}, (50 + k, before + 5 + k, 60 + k))


class _ViewSizes(RuntimeSizes):
    """The run-time size writer with the fitted numbers taken after the output's sizes."""

    fitted: tuple = ()

    def _signature(self, spec) -> list[str]:
        return super()._signature(spec) + list(self.fitted)


def _sample_kernels(entry: Entry, args: dict, shape: tuple, fitted: tuple) -> tuple[str, ...]:
    """update_output and update_grad_input of one view (the view's first axis holds any batch)."""
    from .catalogue_windows import _spec

    spec = _spec(entry, args, (shape,))
    writer = _ViewSizes(spec, "Layer", "mean")
    writer.fitted = fitted
    kernels = writer.kernels(spec, "")
    return tuple(k for k in kernels if re.match(r"def update_(output|grad_input)\(", k))


def plan_view(entry: Entry):
    """The generated class (catalogue_codegen.Generated) of an entry of VIEWS; ValueError says why it has none."""
    from .catalogue_codegen import Generated, _build, _reads_output
    from .catalogue_windows import fitted_kernels

    rule, names = VIEWS[entry.name]
    rng = np.random.default_rng(sum(map(ord, entry.name)))
    points, derived = [], []
    for k in range(_POINTS):
        args, shape = _point(entry.name, k, rng)
        derived.append(_sample_kernels(entry, {**entry.arguments(entry.example), **args}, shape, names))
        points.append(args)
    kernels = fitted_kernels(derived, points, list(names))
    taken = re.match(r"def \w+\(x, ([^)]*)\)", kernels[0])
    arguments = [a for a in (taken.group(1).split(", ") if taken else []) if a != "out=None"]
    gradient = re.match(r"def \w+\(x, ([^)]*)\)", kernels[1]).group(1).split(", ")
    if gradient != arguments + ["y", "g", "out=None"]:  # the class passes both the same arguments
        raise ValueError(f"its gradient kernel takes {gradient}, not forward's arguments then y, g")
    # the output's size along the view's axis (Padding's n + width) is the one size the kernels take
    view_arguments = tuple("outputSize" if a.startswith("N_") else a for a in arguments)
    formula, _, _, _, scalars = _build(entry, entry.arguments(entry.example), True)
    generated = Generated(entry, scalars, (None,) * len(entry.input_shapes[0]), False, (), (), (), {(): kernels},
                          formula.text, view_rule=rule, view_arguments=view_arguments)
    if _reads_output(generated):  # the class passes no output to the gradient (its backward needs no forward)
        raise ValueError("its gradient reads the output: not in the viewed classes")
    return generated


def fit_note(entry: Entry) -> str:
    """How the class's kernels serve every axis, rank and argument (a page's paragraph)."""
    rule, names = VIEWS[entry.name]
    view = "(A, 2, M), M half of n C" if rule == "halves" else "(A, n, C)"
    note = (f"`derive.nn.{entry.name}` reads every input through one view around its axis dim (counted in the "
            f"tensor given, as Torch7's): with A the product of the sizes before it, n its size and C the product of "
            f"those after it, the input is viewed as {view}, a free reshape of a C-ordered array (a copy of another), "
            f"and the output is reshaped back. The "
            f"kernels are derived once from the formula on that view, at run-time sizes, so one kernel set serves "
            f"every axis, every rank and a batch.")
    if names:
        note += (f" The formula writes {' and '.join(f'`{n}`' for n in names)} (the entries of the axis before "
                 f"the padding, and |pad|) as numbers: its kernels are not derived with them as symbols; the "
                 f"engine derives the formula at {_POINTS} generic values of them, each kernel must be the same "
                 f"text at every one but for integers, each an affine function of them with integer coefficients "
                 f"at all of them; the class computes them from pad, index and the input's size. The tests "
                 f"compare the class with PyTorch at several values of the arguments, one sample and a batch.")
    return note

"""The generated classes of criteria whose target is larger than the input and cropped to it at
its centre (SpatialAutoCropMSECriterion): kernels for every input and target size.

The entry's formula writes the crop's offsets as numbers (``t[c, i+1, j+1]``: the pages show the
example's); asked with ``RUNTIME_CROP`` it writes them as two integer constants the kernels take
(``t[c, i+top-1, j+left-1]``), and the engine derives that formula once: the module computes the
offsets from each input's and target's shapes (Torch7's centre crop, derive.nn.cropped), and
every size is bound at run time.  The target's crop is read as a gather of the input's size.
"""

from __future__ import annotations

import itertools

from .catalogue import RUNTIME_CROP, Entry

#: The sample axes each crop criterion's target is cropped along (the other axes are the input's)
CROPS = {
    "SpatialAutoCropMSECriterion": (1, 2),
}
_OFFSETS = ("top", "left")  # the formula's constants, one an axis of CROPS, in their order


def plan_crop(entry: Entry):
    """The generated class (catalogue_codegen.Generated) of a crop criterion; ValueError says why
    it has none."""
    from .catalogue_codegen import Generated

    if entry.name not in CROPS:
        raise ValueError("a target of its own shape: the formula writes the offsets between the target and the "
                         "input as numbers (SpatialAutoCropMSE's crop), not yet as run-time sizes")
    base = entry.arguments(entry.example)
    structure = tuple(a.name for a in entry.signature if a.type is bool)
    if len(structure) != len(entry.signature):
        raise ValueError("a crop criterion's constructor takes only switches (sizeAverage)")
    kernels, formula = {}, None
    for key in itertools.product((True, False), repeat=len(structure)):
        args = {**base, **dict(zip(structure, key)), RUNTIME_CROP: True}
        written = entry.formula(args, entry.input_shapes)
        if written.constants != _OFFSETS[:len(CROPS[entry.name])]:
            raise ValueError(f"the formula's crop constants are {written.constants}, expected {_OFFSETS}")
        sources = _kernels(written)
        if _kernels(entry.formula(args, tuple(tuple(d + 2 for d in s) for s in entry.input_shapes))) != sources:
            raise ValueError("the entry writes a size of its input as a number (its kernels differ at another size)")
        kernels[key] = sources
        if key == tuple(base[n] for n in structure):
            formula = written.text
    sample = (None,) * len(entry.input_shapes[0])
    return Generated(entry, (), sample, False, (), (), structure, kernels, formula, crop_axes=CROPS[entry.name])


def _kernels(formula) -> tuple[str, ...]:
    from .generate_sizes import runtime_kernels

    return tuple(runtime_kernels(formula.text, formula.shapes, **{**formula.options(), "reduction": formula.reduction}))

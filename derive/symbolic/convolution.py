"""nn.SpatialConvolution on the layer engine: Torch7's convolution with steps 1 and no
padding, written as one index expression (1-based, as the displayed elements are).

derive.nn.SpatialConvolution also takes steps and padding; those are checked
numerically (its tests and its page), not derived here.
"""

from __future__ import annotations

import functools

import sympy as sp

from derive.arguments import check_int

from .derivation import Derivation
from .language import parse
from .layer import forward_matrix, gradients, matrix_of

#: Output plane c at pixel (h, w): every input plane d correlated with kernel W[c, d].
CONVOLUTION = "y[c,h,w] = sum(W[c,d,p,q] * x[d,h+p-1,w+q-1], d, p, q) + b[c]"
#: The same over one sample's patches (im2col, any steps and padding): x[r, l] is input pixel
#: r = (d, p, q) of patch l = (h, w), W[o, r] the kernel of plane o read as a matrix.
PATCHES = "y[o,l] = sum(W[o,r] * x[r,l], r) + b[o]"


@functools.cache
def patch_results() -> dict[str, sp.Expr]:
    """output, gradInput, gradWeight and gradBias of one sample over its patches, in matrix form
    (W x + b 1^T, W^T g, g x^T, g 1), each proved equal to the engine's index form: the
    formulas SpatialConvolution's kernels are compiled from (``derive compile``)."""
    spec = parse(PATCHES, {"x": (3, 4), "W": (2, 3)})  # any sizes: the results are size-free
    grads = gradients(spec)
    out = {"output": forward_matrix(spec), "gradInput": matrix_of(spec, grads["x"]),
           "gradWeight": matrix_of(spec, grads["W"]), "gradBias": matrix_of(spec, grads["b"])}
    missing = [name for name, form in out.items() if form is None]
    if missing:
        raise AssertionError(f"SpatialConvolution's patch spec has no matrix form for {missing}")
    return out


def convolution(nInputPlane: int, nOutputPlane: int, kW: int, kH: int, height: int, width: int,
                *, batch: int | None = None) -> Derivation:
    """The engine's derivation of nn.SpatialConvolution(nInputPlane -> nOutputPlane, kW x kH)
    on one sample of nInputPlane planes of height x width pixels (steps 1, no padding), proved."""

    sizes = {name: check_int("convolution", name, value, 1) for name, value in
             [("nInputPlane", nInputPlane), ("nOutputPlane", nOutputPlane), ("kW", kW), ("kH", kH),
              ("height", height), ("width", width)]}
    if sizes["kH"] > sizes["height"] or sizes["kW"] > sizes["width"]:
        raise ValueError(f"the kernel kW x kH = {kW} x {kH} is larger than the input, "
                         f"width x height = {width} x {height}")
    from derive import layer

    derivation = layer(CONVOLUTION, {"x": (nInputPlane, height, width), "W": (nOutputPlane, nInputPlane, kH, kW)},
                       batch=batch)
    derivation.title = (f"nn.SpatialConvolution({nInputPlane} -> {nOutputPlane}, {kW}x{kH}) on "
                        f"{nInputPlane} x {height} x {width} input" + (f", batch of {batch}" if batch else ""))
    return derivation

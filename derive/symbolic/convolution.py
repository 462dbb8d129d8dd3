"""nn.SpatialConvolution on the layer engine: Torch7's convolution with steps 1 and no
padding, written as one index expression (1-based, as the displayed elements are).

derive.nn.SpatialConvolution also takes steps and padding; those are checked
numerically (its tests and its page), not derived here.
"""

from __future__ import annotations

from derive.arguments import check_int

from .derivation import Derivation

#: Output plane c at pixel (h, w): every input plane d correlated with kernel W[c, d].
CONVOLUTION = "y[c,h,w] = sum(W[c,d,p,q] * x[d,h+p-1,w+q-1], d, p, q) + b[c]"


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

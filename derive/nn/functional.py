"""Element-wise functions and the patch gather that generated layers call.

Each works on the array module of its argument (numpy, or CuPy on a GPU); numpy only
is imported.
"""

from __future__ import annotations

import numpy as np

from ._backend import namespace

ndarray = np.ndarray


def sigmoid(z):
    """1 / (1 + exp(-z)), without overflow warnings for very negative z (the limit is 0)."""
    if z.__class__ is ndarray:
        with np.errstate(over="ignore"):  # numpy's floating-point state; CuPy warns of nothing
            return 1 / (1 + np.exp(-z))
    xp = namespace(z)
    return 1 / (1 + xp.exp(-z))


def relu(z):
    """max(z, 0)."""
    return namespace(z).maximum(z, 0)


def step(z):
    """[z > 0] as 0.0 or 1.0: relu's derivative, 0 at z = 0 as Torch takes it."""
    return (z > 0).astype(z.dtype)


def softplus(z):
    """log(1 + exp(z)), computed stably."""
    return namespace(z).logaddexp(0, z)


def window(array, indices: tuple):
    """``array[indices]`` for integer index arrays that may run outside it: 0 there.

    This is the gather behind an affine index such as ``x[d, t+q-1]`` (im2col): each
    index array broadcasts over the indices the access runs over.
    """
    xp = namespace(array)
    indices = tuple(xp.asarray(i) for i in indices)
    inside = None
    for axis, index in enumerate(indices):
        ok = (index >= 0) & (index < array.shape[axis])
        if not bool(ok.all()):
            inside = ok if inside is None else inside & ok
    if inside is None:
        return array[indices]
    clipped = tuple(xp.clip(i, 0, array.shape[k] - 1) for k, i in enumerate(indices))
    return array[clipped] * inside

"""Element-wise functions and the patch gather that generated layers call (numpy only)."""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), without overflow warnings for very negative z (the limit is 0)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0)


def step(z: np.ndarray) -> np.ndarray:
    """[z > 0] as 0.0 or 1.0: relu's derivative, 0 at z = 0 as Torch takes it."""
    return np.greater(z, 0).astype(np.result_type(z, np.float64) if np.ndim(z) else float)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), computed stably."""
    return np.logaddexp(0, z)


def window(array: np.ndarray, indices: tuple) -> np.ndarray:
    """``array[indices]`` for integer index arrays that may run outside it: 0 there.

    This is the gather behind an affine index such as ``x[d, t+q-1]`` (im2col): each
    index array broadcasts over the indices the access runs over.
    """
    indices = tuple(np.asarray(i) for i in indices)
    lead = array.ndim - len(indices)  # a leading batch axis the access does not name
    inside = None
    for axis, index in enumerate(indices):
        size = array.shape[lead + axis]
        ok = (index >= 0) & (index < size)
        if not ok.all():
            inside = ok if inside is None else inside & ok
    if inside is None:
        return array[(Ellipsis,) + indices] if lead else array[indices]
    clipped = tuple(np.clip(i, 0, array.shape[lead + k] - 1) for k, i in enumerate(indices))
    gathered = array[(Ellipsis,) + clipped] if lead else array[clipped]
    return gathered * inside

"""Checks of the arguments users pass, shared by derive.nn and the derivations (numpy only,
so that neither imports the other to check an int)."""

from __future__ import annotations

import operator

import numpy as np


def check_int(owner: str, name: str, value, minimum: int) -> int:
    """``value`` as an int if it is an integer >= ``minimum`` (a bool or a float is not); else raise."""
    expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be {expected}, got {value!r} (bool)")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{owner}: {name} must be {expected}, got {value!r} ({type(value).__name__})") from None
    if number < minimum:
        raise ValueError(f"{owner}: {name} must be {expected}, got {number}")
    return number

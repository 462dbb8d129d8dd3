"""derive: see, check and use the gradients of neural-network layers."""

__version__ = "0.1.0"


def layer(expr: str, shapes=None, *, input: str = "x", target: str | None = None,
          batch: int | None = None, ranges=None, constants=()):
    """The proved derivation of the layer written as ``expr`` (a Derivation).

    ``shapes`` maps array names to shapes (``{"x": (3,), "W": (2, 3)}``); those that
    follow from the others may be left out.  ``ranges`` gives indices no shape fixes
    (``{"p": 2}``); ``constants`` names given arrays that are not learned (``("wt",)``).
    Bad input raises ValueError/TypeError.
    """
    from .symbolic.language import parse
    from .symbolic.layer import derivation

    return derivation(parse(expr, shapes, input=input, target=target, ranges=ranges, constants=constants),
                      batch=batch)


def module_source(expr: str, shapes=None, *, input: str = "x", target: str | None = None,
                  name: str = "Layer", ranges=None, constants=()) -> str:
    """A Python file (numpy and derive.nn only) defining a Module for the layer ``expr``;
    each of ``constants`` is a required keyword argument of its constructor."""
    from .generate import module_source as source

    return source(expr, shapes, input=input, target=target, name=name, ranges=ranges, constants=constants)

"""derive: see, check and use the gradients of neural-network layers."""

__version__ = "0.1.0"


def layer(expr: str, shapes=None, *, input: str = "x", target: str | None = None,
          batch: int | None = None, timeout: float | None = None):
    """The proved derivation of the layer written as ``expr`` (a Derivation).

    ``shapes`` maps array names to shapes (``{"x": (3,), "W": (2, 3)}``); those that
    follow from the others may be left out.  Bad input raises ValueError/TypeError; so
    does a layer the engine cannot derive (one line, never sympy's traceback), and, with
    ``timeout`` (seconds, main thread), one that takes longer.
    """
    from .symbolic.bounds import bounded
    from .symbolic.language import parse
    from .symbolic.layer import derivation

    with bounded(_what(expr), timeout):
        return derivation(parse(expr, shapes, input=input, target=target), batch=batch)


def module_source(expr: str, shapes=None, *, input: str = "x", target: str | None = None,
                  name: str = "Layer", reduction: str = "mean", timeout: float | None = None) -> str:
    """A Python file (numpy and derive.nn only) defining a Module for the layer ``expr``.

    A criterion's loss on a batch is the mean of the samples' losses, or with
    ``reduction="sum"`` their sum (Torch7's sizeAverage=false).  Errors as :func:`layer`.
    """
    from .generate import module_source as source
    from .symbolic.bounds import bounded

    with bounded(_what(expr), timeout):
        return source(expr, shapes, input=input, target=target, name=name, reduction=reduction)


def _what(expr) -> str:
    text = " ".join(expr.split()) if isinstance(expr, str) else repr(expr)
    return repr(text if len(text) <= 60 else text[:57] + "...")

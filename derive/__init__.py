"""derive: see, check and use the gradients of neural-network layers."""

__version__ = "0.1.0"


def layer(expr: str, shapes=None, *, input: str = "x", target: str | None = None,
          batch: int | None = None):
    """The proved derivation of the layer written as ``expr`` (a Derivation).

    ``shapes`` maps array names to shapes (``{"x": (3,), "W": (2, 3)}``); those that
    follow from the others may be left out.  Bad input raises ValueError/TypeError.
    """
    from .symbolic.language import parse
    from .symbolic.layer import derivation

    return derivation(parse(expr, shapes, input=input, target=target), batch=batch)


def module_source(expr: str, shapes=None, *, input: str = "x", target: str | None = None,
                  name: str = "Layer") -> str:
    """A Python file (numpy and derive.nn only) defining a Module for the layer ``expr``."""
    from .generate import module_source as source

    return source(expr, shapes, input=input, target=target, name=name)


def export_source(expr: str, shapes=None, *, framework: str = "torch", input: str = "x",
                  target: str | None = None, name: str = "Layer") -> str:
    """A Python file with the layer ``expr`` for PyTorch (an autograd.Function and an
    nn.Module) or JAX (a custom_vjp function and ``init(key)``), from its proved gradients."""
    from .export import export_source as source

    return source(expr, shapes, framework=framework, input=input, target=target, name=name)

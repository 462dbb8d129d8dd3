"""derive: see, check and use the gradients of neural-network layers."""

__version__ = "0.1.0"


def layer(expr: str, shapes=None, *, input="x", target: str | None = None,
          batch: int | None = None, outputs=None, intermediates: bool | None = None,
          ranges=None, constants=(), weight: str | None = None, reduction: str = "mean",
          timeout: float | None = None):
    """The proved derivation of the layer written as ``expr`` (a Derivation).

    ``expr`` is one expression or a program (statements one a line or separated by ``;``).
    ``shapes`` maps array names to shapes (``{"x": (3,), "W": (2, 3)}``); those that
    follow from the others may be left out.  ``input`` names the input or several
    (``("x", "h")``), ``outputs`` a program's outputs (default: its last statement);
    ``intermediates`` names the intermediates of a one-expression layer (z = W x + b,
    y = tanh(z)); by default, those whose functions are nested (tanh(W2 tanh(W1 x))).
    ``ranges`` gives indices no shape fixes (``{"p": 2}``); ``constants`` names given
    arrays that are not learned (``("wt",)``); both for one-expression layers. ``weight``
    writes a criterion's sample weight (``"w[t]"``): a batch's mean loss is divided by the
    sum of the samples' weights (PyTorch's weighted ClassNLL), not by their number; with
    ``reduction="sum"`` a criterion's batch (``batch=``) sums the samples' losses.
    Bad input raises ValueError/TypeError; so does a layer the engine cannot derive (one
    line, never sympy's traceback), and, with ``timeout`` (seconds, main thread), one that
    takes longer.
    """
    from .symbolic.bounds import bounded

    with bounded(_what(expr), timeout):
        from .symbolic.program import is_program, nested, program, program_derivation

        if intermediates is None:  # nested functions: named intermediates, unless a batch is asked for
            intermediates = batch is None and nested(expr)
        if intermediates or is_program(expr, input, outputs):
            if batch is not None:
                raise ValueError("a program is derived for one sample (its module takes batches); leave out batch")
            if ranges or constants or weight is not None or reduction != "mean":
                raise ValueError("ranges, constants, weight and reduction are for layers written as one "
                                 "expression, not programs")
            return program_derivation(program(expr, shapes, input=input, target=target, outputs=outputs,
                                              intermediates=intermediates))
        from .symbolic.language import parse
        from .symbolic.layer import derivation

        return derivation(parse(expr, shapes, input=input, target=target, ranges=ranges, constants=constants,
                                weight=weight), batch=batch, reduction=reduction)


def module_source(expr: str, shapes=None, *, input="x", target: str | None = None,
                  name: str = "Layer", outputs=None, intermediates: bool | None = None,
                  ranges=None, constants=(), reduction: str = "mean", weight: str | None = None,
                  timeout: float | None = None) -> str:
    """A Python file (numpy and derive.nn only) defining a Module for the layer ``expr``
    (one expression or a program; several inputs or outputs make a table module); each of
    ``constants`` is a required keyword argument of its constructor.

    A criterion's loss on a batch is the mean of the samples' losses, or with
    ``reduction="sum"`` their sum (Torch7's sizeAverage=false); with a sample ``weight``
    (``"w[t]"``) the mean is over the sum of the samples' weights.  Errors as :func:`layer`.
    """
    from .generate import module_source as source
    from .symbolic.bounds import bounded

    with bounded(_what(expr), timeout):
        return source(expr, shapes, input=input, target=target, name=name, outputs=outputs,
                      intermediates=intermediates, ranges=ranges, constants=constants, reduction=reduction,
                      weight=weight)


def export_source(expr: str, shapes=None, *, framework: str = "torch", input="x",
                  target: str | None = None, name: str = "Layer", outputs=None) -> str:
    """A Python file with the layer ``expr`` for PyTorch (an autograd.Function and an
    nn.Module) or JAX (a custom_vjp function and ``init(key)``), from its proved gradients;
    a program (several statements, inputs or outputs) through its backward walk."""
    from .export import export_source as source
    from .symbolic.bounds import bounded
    from .symbolic.program import is_program

    with bounded(_what(expr), None):
        if is_program(expr, input, outputs):
            from .export_program import program_export_source

            return program_export_source(expr, shapes, framework=framework, input=input, target=target,
                                         name=name, outputs=outputs)
        return source(expr, shapes, framework=framework, input=input, target=target, name=name)


def _what(expr) -> str:
    text = " ".join(expr.split()) if isinstance(expr, str) else repr(expr)
    return repr(text if len(text) <= 60 else text[:57] + "...")

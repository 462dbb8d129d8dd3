"""The Python API page: signatures and docstrings read with inspect."""

from __future__ import annotations

import inspect
import re

import derive
from derive import latex, nn, symbolic
from derive.nn import jacobian
from derive.symbolic import derivation, notation


def _api_objects():
    """(module, [(name, object, methods)]): derive.layer and derive.module_source, every class derive.nn exports with the
    methods it defines itself (the class hierarchy is the documentation), the gradient
    checks of derive.nn.jacobian, the functions derive.symbolic exports, a derivation's data
    and its notation, and derive.latex's renderers."""
    classes = []
    for name in nn.__all__:
        cls = getattr(nn, name)
        methods = [m for m, value in vars(cls).items() if not m.startswith("_") and callable(value)]
        classes.append((f"derive.nn.{name}", cls, methods))
    functions = [(f"derive.symbolic.{name}", getattr(symbolic, name), [])
                 for name in symbolic.__all__ if inspect.isfunction(getattr(symbolic, name))]
    checks = [(f"derive.nn.jacobian.{name}", value, [])
              for name, value in vars(jacobian).items()
              if inspect.isfunction(value) and value.__module__ == jacobian.__name__
              and not name.startswith("_")]
    return [
        ("derive", [(f"derive.{name}", getattr(derive, name), []) for name in ("layer", "module_source")]),
        ("derive.nn", classes),
        ("derive.nn.jacobian", checks),
        ("derive.symbolic", functions),
        ("derive.symbolic.derivation", [(f"derive.symbolic.derivation.{name}", getattr(derivation, name), [])
                                        for name in ("Derivation", "Result")]),
        ("derive.symbolic.notation", [("derive.symbolic.notation.notation", notation.notation, [])]),
        ("derive.latex", [(f"derive.latex.{name}", getattr(latex, name), [])
                          for name in ("markdown", "document", "summary", "name_latex")]),
    ]


def _docstring(obj) -> str:
    """The docstring as markdown: reST ``code`` and :role:`name` become `code`."""
    doc = inspect.getdoc(obj) or "(no docstring)"
    doc = re.sub(r":\w+:`([^`]+)`", r"`\1`", doc)
    doc = re.sub(r"``(.+?)``", r"`\1`", doc)
    # Outside code spans a $ would start math for arithmatex.
    pieces = re.split(r"(`[^`]*`)", doc)
    return "".join(p if p.startswith("`") else p.replace("$", "&#36;") for p in pieces)


def _signature(name: str, obj) -> str:
    """name(parameters) -> result, with annotations unquoted (modules use PEP 563)."""
    signature = inspect.signature(obj)
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", str(signature))
    if len(name + text) > SIGNATURE_WIDTH:
        # one parameter a line, as black writes it: nothing hides under the copy button
        parameters = [re.sub(r"(: |-> )'([^']*)'", r"\1\2", str(p)) for p in signature.parameters.values()]
        returns = signature.return_annotation
        result = "" if returns is inspect.Signature.empty else f" -> {getattr(returns, '__name__', returns)}"
        text = "(\n" + "".join(f"    {p},\n" for p in parameters) + ")" + result
    return f"```python\n{name}{text}\n```"


# The longest signature line shown whole; longer ones are written one parameter a line.
SIGNATURE_WIDTH = 72


def api_page() -> str:
    """The public Python API, with signatures and docstrings read by inspect."""
    parts = [
        "# Python API",
        "Signatures and docstrings as the code has them (read with `inspect` when the site "
        "was built). `derive.nn` needs numpy only; `derive.symbolic` and `derive.latex` "
        "use sympy.",
    ]
    for module, objects in _api_objects():
        parts.append(f"## `{module}`")
        for name, obj, methods in objects:
            # The nearest public base class (a layer's place in the hierarchy).
            base = next((b.__name__ for b in getattr(obj, "__mro__", ())[1:]
                         if b is not object and not b.__name__.startswith("_")), None)
            parts.append(f"### `{name}`" + (f" ({base})" if base else ""))
            parts.append(_signature(name, obj))
            parts.append(_docstring(obj))
            for method in methods:
                function = getattr(obj, method)
                parts.append(f"#### `{method}`")
                parts.append(_signature(f"{obj.__name__}.{method}", function))
                parts.append(_docstring(function))
    return "\n\n".join(parts) + "\n"

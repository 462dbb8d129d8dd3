"""The layer language's own notation for the engine's results: ``(g * sigmoid(V @ x)) @ x.T``.

A :class:`LanguagePrinter` is sympy's str printer with one ``_print_X`` per node the
engine builds, so that a result reads as a user writes a layer: ``@`` for the matrix
product, ``*`` and ``**`` element-wise, ``.T``, ``sum(e, k)`` over an index; not as
sympy's internals (``HadamardProduct(g, Lambda(_z, ...))``). Matrix forms and index
forms alike; what the language cannot say (a Kronecker delta, a range guard, a matrix
of ones) is written as a function of that name.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.hadamard import HadamardPower, HadamardProduct
from sympy.printing.str import StrPrinter

from .language import as_written

# Names of the incoming gradient, written first in a product as the pages do (g * y * (1 - y)).
_GRADIENTS = ("g", "G")


class LanguagePrinter(StrPrinter):
    """sympy expressions of the engine (matrix and index forms) in the layer language."""

    def _bracket(self, expr, *kinds) -> str:
        text = self._print(expr)
        return f"({text})" if isinstance(expr, kinds) else text

    def _print_MatrixSymbol(self, expr):
        return expr.name

    def _print_Transpose(self, expr):
        return self._bracket(expr.arg, sp.MatAdd, sp.MatMul, HadamardProduct, HadamardPower) + ".T"

    def _print_OneMatrix(self, expr):
        rows, cols = expr.shape
        return f"ones({self._print(rows)})" if cols == 1 else f"ones({self._print(rows)}, {self._print(cols)})"

    def _print_Identity(self, expr):
        return "I"

    def _print_DiagMatrix(self, expr):
        return f"diag({self._print(expr.args[0])})"

    def _print_Trace(self, expr):
        if expr.arg.shape == (1, 1):  # one number: (y - t).T @ (y - t), not a trace of it
            return self._print(expr.arg)
        return f"trace({self._print(expr.arg)})"

    def _print_MatMul(self, expr):
        args = list(expr.args)
        if args[0] == -1:
            return "-" + self._bracket(sp.MatMul(*args[1:]), sp.MatAdd)
        scalars = [a for a in args if not getattr(a, "is_Matrix", False)]
        matrices = [a for a in args if getattr(a, "is_Matrix", False)]
        if matrices and isinstance(matrices[0], sp.OneMatrix) and len(matrices) > 1 and (
                matrices[0].shape[0] == 1 or matrices[0].shape[0] == matrices[0].shape[1]):
            # a row of ones times v, or 1 1^T v: the sum of v (a scalar, broadcast)
            rest = matrices[1] if len(matrices) == 2 else sp.MatMul(*matrices[1:])
            matrices = [sp.Symbol(f"sum({self._print(rest)})")]
        text = " @ ".join(self._bracket(m, sp.MatAdd, HadamardProduct) for m in matrices)
        if not scalars:
            return text
        coefficient = sp.Mul(*scalars)
        factor = self._print(coefficient)
        if isinstance(coefficient, sp.Add) or (isinstance(coefficient, sp.Mul) and sp.fraction(coefficient)[1] != 1):
            factor = f"({factor})"
        return f"{factor} * {text}"

    def _print_HadamardProduct(self, expr):
        factors = sorted(expr.args, key=lambda a: (not (isinstance(a, sp.MatrixSymbol) and a.name in _GRADIENTS),
                                                   isinstance(a, sp.MatAdd)))
        return " * ".join(self._bracket(f, sp.MatAdd, sp.MatMul) for f in factors)

    def _print_HadamardPower(self, expr):
        base = self._print(expr.base)
        if not isinstance(expr.base, (sp.MatrixSymbol, sp.Transpose, sp.matrices.expressions.applyfunc.ElementwiseApplyFunction)):
            base = f"({base})"
        return f"{base}**{self._bracket(expr.exp, sp.Add, sp.Mul)}"

    def _print_ElementwiseApplyFunction(self, expr):
        # f applied entry by entry: f of a placeholder, the placeholder replaced by the argument
        placeholder = sp.Symbol("PLACEHOLDER")
        text = self._print(expr.function(placeholder))
        argument = self._print(expr.expr)
        if text.endswith("(PLACEHOLDER)") and text.count("PLACEHOLDER") == 1:
            return text.replace("PLACEHOLDER", argument)
        atomic = isinstance(expr.expr, (sp.MatrixSymbol, sp.Transpose))
        return text.replace("PLACEHOLDER", argument if atomic else f"({argument})")

    def _print_MatAdd(self, expr):
        terms = sorted(expr.args, key=lambda t: t.could_extract_minus_sign())
        text = self._term(terms[0])
        for term in terms[1:]:
            if term.could_extract_minus_sign():
                text += " - " + self._bracket(-term, sp.MatAdd)
            else:
                text += " + " + self._term(term)
        return text

    def _term(self, term) -> str:
        # a matrix of ones added to an array is the number 1, broadcast (1 - y**2)
        return "1" if isinstance(term, sp.OneMatrix) else self._print(term)

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            return "-" + self._bracket(-expr, sp.Add)
        numerator, denominator = sp.fraction(expr)
        top = (" * ".join(self._bracket(f, sp.Add) for f in numerator.args) if isinstance(numerator, sp.Mul)
               else self._bracket(numerator, sp.Add))
        if denominator == 1:
            return top
        bottom = self._print(denominator)
        if isinstance(denominator, (sp.Mul, sp.Add)):  # a power binds tighter than /
            bottom = f"({bottom})"
        return f"{top} / {bottom}"

    def _print_Float(self, expr):
        # 1e-5 and 0.5, as a layer's text writes them (not 1.0e-5 or 0.500000000000000)
        text = f"{float(expr):.12g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text

    def _print_Sum(self, expr):
        indices = ", ".join(self._print(index) for index, _, _ in expr.limits)
        return f"sum({self._print(expr.function)}, {indices})"

    def _print_Indexed(self, expr):
        return f"{self._print(expr.base.label)}[{', '.join(self._print(i) for i in expr.indices)}]"

    def _print_KroneckerDelta(self, expr):
        return f"delta({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_Piecewise(self, expr):
        (value, condition), *rest = expr.args
        if len(rest) == 1 and rest[0] == (0, True):  # the terms that exist: value where condition, else 0
            return f"where({self._print(condition)}, {self._print(value)}, 0)"
        # several pieces (a gradient read at two offsets, GatedLinearUnit's): nested wheres
        pieces = list(expr.args)
        text = self._print(pieces.pop()[0]) if pieces[-1][1] == sp.true else "nan"
        for value, condition in reversed(pieces):
            text = f"where({self._print(condition)}, {self._print(value)}, {text})"
        return text


def notation(expr) -> str:
    """A result (a matrix form or an index form) in the layer language's notation."""
    return LanguagePrinter().doprint(as_written(expr))

"""The element-wise functions of the layer language, as sympy functions.

Most are sympy's own.  ``sigmoid``, ``relu`` and ``softplus`` are functions of their
own so that derivatives come out the way Torch computes them: sigmoid' = s (1 - s),
relu'(z) = [z > 0] (0 at z = 0, where Torch's threshold gives 0, not sympy's 1/2),
softplus' = sigmoid.  Each derivative is checked against the function's definition
in closed form (``definition``) by the tests.
"""

from __future__ import annotations

import sympy as sp


def _power(text: str, exp: str | None) -> str:
    """f(z), or f(z)^k where sympy's printer asks for the power (relu(x)**2)."""
    return text if exp is None else rf"\left({text}\right)^{{{exp}}}"


class sigmoid(sp.Function):
    """sigma(z) = 1 / (1 + exp(-z))."""

    nargs = 1

    def _eval_evalf(self, prec):  # a number's value, from the definition (softplus(3))
        return self.definition(self.args[0])._eval_evalf(prec) if self.args[0].is_number else None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    @staticmethod
    def definition(z: sp.Expr) -> sp.Expr:
        return 1 / (1 + sp.exp(-z))

    def _latex(self, printer, exp=None):
        return _power(rf"\sigma\left({printer._print(self.args[0])}\right)", exp)


class step(sp.Function):
    """[z > 0]: 1 where z > 0, else 0 (0 at z = 0 too): relu's derivative as Torch takes it."""

    nargs = 1

    def _eval_evalf(self, prec):  # a number's value, from the definition (softplus(3))
        return self.definition(self.args[0])._eval_evalf(prec) if self.args[0].is_number else None

    def fdiff(self, argindex=1):
        return sp.Integer(0)  # almost everywhere

    @staticmethod
    def definition(z: sp.Expr) -> sp.Expr:
        return sp.Piecewise((1, z > 0), (0, True))

    def _latex(self, printer, exp=None):
        return _power(rf"\left[{printer._print(self.args[0])} > 0\right]", exp)


class relu(sp.Function):
    """max(z, 0)."""

    nargs = 1

    def _eval_evalf(self, prec):  # a number's value, from the definition (softplus(3))
        return self.definition(self.args[0])._eval_evalf(prec) if self.args[0].is_number else None

    def fdiff(self, argindex=1):
        return step(self.args[0])

    @staticmethod
    def definition(z: sp.Expr) -> sp.Expr:
        return sp.Piecewise((z, z > 0), (0, True))

    def _latex(self, printer, exp=None):
        return _power(rf"\operatorname{{ReLU}}\left({printer._print(self.args[0])}\right)", exp)


class softplus(sp.Function):
    """log(1 + exp(z))."""

    nargs = 1

    def _eval_evalf(self, prec):  # a number's value, from the definition (softplus(3))
        return self.definition(self.args[0])._eval_evalf(prec) if self.args[0].is_number else None

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @staticmethod
    def definition(z: sp.Expr) -> sp.Expr:
        return sp.log(1 + sp.exp(z))

    def _latex(self, printer, exp=None):
        return _power(rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)", exp)


class largest(sp.Function):
    """``largest(f, ((k, 1, n), ...)) = max over k of f``: the shift of a log-sum-exp or a
    softmax (kernels only; a layer cannot call it). Any real value would do for the proved
    identities it appears in; the largest keeps every exp finite."""

    nargs = 2
    is_real = True

    @property
    def free_symbols(self):
        f, limits = self.args
        bound = {limit[0] for limit in limits}
        return (f.free_symbols - bound).union(*(limit[2].free_symbols for limit in limits))


#: The functions a layer may call, by the name it calls them.
FUNCTIONS = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sin": sp.sin,
    "cos": sp.cos, "abs": sp.Abs, "sigmoid": sigmoid, "relu": relu, "softplus": softplus,
}

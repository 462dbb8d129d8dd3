"""The element-wise functions of the layer language, as sympy functions.

Most are sympy's own.  ``sigmoid``, ``relu`` and ``softplus`` are functions of their
own so that derivatives come out the way Torch computes them: sigmoid' = s (1 - s),
relu'(z) = [z > 0] (0 at z = 0, where Torch's threshold gives 0, not sympy's 1/2),
softplus' = sigmoid.  Each derivative is checked against the function's definition
in closed form (``definition``) by the tests.
"""

from __future__ import annotations

import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits


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


# --- extrema and conditions ---------------------------------------------------------------
#
# The subgradients at a kink are Torch's, each checked against PyTorch by the tests:
# maximum(a, b) (torch.maximum) gives half of the gradient to each side where a = b;
# clamp(z, lo, hi) (torch.clamp, hardtanh) passes it only strictly inside (lo, hi); a max or
# min over indices (torch.max(x, dim), max pooling) gives all of it to one extreme entry,
# the first in index order.

class maximum(sp.Function):
    """The larger of a and b; d/da = H(a - b) = [a > b] + 1/2 [a = b] (torch.maximum)."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args if argindex == 1 else self.args[::-1]
        return sp.Heaviside(a - b, sp.Rational(1, 2))

    @staticmethod
    def definition(a: sp.Expr, b: sp.Expr) -> sp.Expr:
        return sp.Piecewise((a, a >= b), (b, True))

    def _eval_is_positive(self):
        # max(1, n) > 0 whatever n: a divisor that cannot vanish (a count of pixels in a window)
        if any(a.is_positive for a in self.args):
            return True
        return None

    def _latex(self, printer):
        return rf"\max\left({printer._print(self.args[0])}, {printer._print(self.args[1])}\right)"


class minimum(sp.Function):
    """The smaller of a and b; d/da = H(b - a) = [a < b] + 1/2 [a = b] (torch.minimum)."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args if argindex == 1 else self.args[::-1]
        return sp.Heaviside(b - a, sp.Rational(1, 2))

    @staticmethod
    def definition(a: sp.Expr, b: sp.Expr) -> sp.Expr:
        return sp.Piecewise((a, a <= b), (b, True))

    def _latex(self, printer):
        return rf"\min\left({printer._print(self.args[0])}, {printer._print(self.args[1])}\right)"


class clamp(sp.Function):
    """z limited to [lo, hi] (lo, hi numbers); d/dz = [lo < z < hi] (torch.clamp, hardtanh)."""

    nargs = 3

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)  # the bounds are numbers
        z, lo, hi = self.args
        return step(z - lo) * step(hi - z)

    @staticmethod
    def definition(z: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
        return sp.Piecewise((lo, z < lo), (hi, z > hi), (z, True))

    def _latex(self, printer):
        z, lo, hi = (printer._print(a) for a in self.args)
        return rf"\operatorname{{clamp}}\left({z}, {lo}, {hi}\right)"


class where(sp.Function):
    """where(c, a, b): a where the condition c holds, else b (numpy's where).

    A function of its own, not sympy's Piecewise, which sums and products fold and lift
    out of the sums their condition depends on.  Its derivative is the chosen branch's
    (the condition is constant almost everywhere): where(c, da/dv, db/dv).
    """

    nargs = 3

    @classmethod
    def eval(cls, c, a, b):
        if c is sp.true:
            return a
        if c is sp.false:
            return b
        if a == b:
            return a

    def _eval_derivative(self, v):
        c, a, b = self.args
        return where(c, sp.diff(a, v), sp.diff(b, v))

    def _eval_is_real(self):
        return self.args[1].is_real and self.args[2].is_real

    @staticmethod
    def definition(c, a: sp.Expr, b: sp.Expr) -> sp.Expr:
        return sp.Piecewise((a, c), (b, True))

    def _latex(self, printer, exp=None):
        if exp is not None:  # where(...)^2: the bracketed where to the power
            return rf"\left({self._latex(printer)}\right)^{{{exp}}}"
        c, a, b = self.args
        if b == 0:  # an Iverson bracket: a [c]
            bracket = rf"\left[{printer._print(c)}\right]"
            value = printer._print(a)
            if a == 1:
                return bracket
            return rf"\left({value}\right) {bracket}" if isinstance(a, sp.Add) else f"{value} {bracket}"
        return (rf"\begin{{cases}} {printer._print(a)} & \text{{if }} {printer._print(c)} \\ "
                rf"{printer._print(b)} & \text{{otherwise}} \end{{cases}}")


class Extremum(ExprWithLimits):
    """max or min of a body over index limits ``(j, 1, N_j), ...`` (as a Sum holds them).

    Its derivative is the body's at the chosen entry: sum_j [j = argmax_j e] de/dv, the
    argmax being the first extreme entry in index order (the limits' order, row-major).
    """

    is_commutative = True
    kind = "max"

    def _eval_derivative(self, v):
        chosen = sp.Mul(*(sp.KroneckerDelta(var, ArgExtremum(self, sp.Integer(k)))
                          for k, (var, _, _) in enumerate(self.limits)))
        return sp.Sum(chosen * sp.diff(self.function, v), *self.limits)

    def _xreplace(self, rule):
        # The limits' indices are bound here: a substitution for an outer index of the
        # same name must not reach them.
        bound = set(self.variables)
        if not hasattr(rule, "items"):  # simplify's Transform rewrites by a test on the node, not a symbol
            return super()._xreplace(rule)
        return super()._xreplace({k: v for k, v in rule.items() if k not in bound})

    def _eval_is_real(self):
        return self.function.is_real

    def _latex(self, printer):
        below = ", ".join(printer._print(v) for v, _, _ in self.limits)
        factor = getattr(printer, "_print_factor", printer._print)  # derive's printer brackets sums
        return rf"\{self.kind}_{{{below}}} {factor(self.function)}"


class Maximum(Extremum):
    """max_j e(j): Torch's Max over a dimension, max pooling."""

    kind = "max"


class Minimum(Extremum):
    """min_j e(j): Torch's Min over a dimension."""

    kind = "min"


class ArgExtremum(sp.Function):
    """The k-th index (0-based k, 1-based value) of the first extreme entry of an Extremum.

    Piecewise constant in every array: its derivative is 0 (almost everywhere).
    """

    nargs = 2
    is_integer = True
    is_positive = True

    @classmethod
    def eval(cls, extremum, k):
        if not isinstance(extremum, Extremum):  # a rewrite may not replace the extremum it names
            raise TypeError(f"ArgExtremum names a max or min over indices, got {extremum}")

    def _eval_derivative(self, v):
        return sp.Integer(0)

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    def _latex(self, printer):
        extremum, k = self.args
        below = ", ".join(printer._print(v) for v, _, _ in extremum.limits)
        body = printer._print(extremum.function)
        text = rf"\operatorname*{{arg\,{extremum.kind}}}_{{{below}}} {body}"
        if len(extremum.limits) > 1:
            text = rf"\left({text}\right)_{{{printer._print(extremum.limits[int(k)][0])}}}"
        return text


#: What each page says about the subgradient it takes at a kink, by the function used.
KINKS = {
    "relu": "relu'(0) = 0, as Torch's threshold",
    "maximum": r"where $a = b$, $\max(a, b)$ passes half of the gradient to each (torch.maximum)",
    "minimum": r"where $a = b$, $\min(a, b)$ passes half of the gradient to each (torch.minimum)",
    "clamp": "clamp passes the gradient strictly inside its bounds, none at a bound (torch.clamp, HardTanh)",
    "Maximum": "a maximum over indices passes the gradient to one largest entry, the first in index "
               "order on ties (torch.max over a dimension, max pooling)",
    "Minimum": "a minimum over indices passes the gradient to one smallest entry, the first in index "
               "order on ties (torch.min over a dimension)",
    "where": "a condition's gradient is that of the branch it selects; at the boundary the branch "
                 "the condition names (where(x > 0, a, b) takes b at x = 0)",
}


def kinks(expr: sp.Expr) -> list[str]:
    """The kink conventions ``expr`` relies on, as sentences for its page."""
    used = {type(e).__name__ for e in sp.preorder_traversal(expr)}
    return [text for name, text in KINKS.items() if name in used]

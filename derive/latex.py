"""Blog-style LaTeX for derivations: aligned steps, bmatrix matrices, truncated when large.

The only module that knows LaTeX.  A :class:`BlogPrinter` prints sympy expressions the
way the tutorial writes them (``w_{12}``, ``\\frac{\\partial J}{\\partial y_{1}}``, bold
matrices); :func:`form` prints the derivation's forms (grids, products, ...); and
:func:`markdown` / :func:`document` lay out a whole derivation.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.matrices.expressions.hadamard import HadamardProduct
from sympy.printing.latex import LatexPrinter

from .symbolic.language import as_written
from .symbolic.derivation import (
    Derivation,
    Form,
    Grid,
    Named,
    Plus,
    Product,
    Scaled,
    Step,
    Transposed,
)

#: Matrices and vectors with at most this many rows (columns) are shown whole; larger
#: ones show the first two, a ``\vdots`` (``\cdots``), and the last.
SHOWN = 4

CONVENTION = (
    r"Convention: numerator layout. The Jacobian of an $m$-vector $\mathbf{y}$ by an "
    r"$n$-vector $\mathbf{x}$ is the $m \times n$ matrix of the "
    r"$\partial y_i / \partial x_k$ (for a Linear layer it is $\mathbf{W}$); the gradient "
    r"of the scalar loss $J$ with respect to an array has that array's shape."
)

# Names of matrix symbols, as the tutorial writes them.
_MATRIX_NAMES = {
    "g": r"\frac{\partial J}{\partial \mathbf{y}}",
    "G": r"\frac{\partial J}{\partial \mathbf{Y}}",
}
_GRADIENT_OF = {"g": "y", "G": "Y"}

# Names of Greek letters, as a layer's text spells them, and their LaTeX.
_GREEK = {name: "\\" + name for name in (
    "alpha", "beta", "gamma", "delta", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu",
    "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta",
    "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega")}
_GREEK.update({"eps": r"\varepsilon", "epsilon": r"\varepsilon", "lamda": r"\lambda", "lam": r"\lambda"})


def _split_name(name: str) -> tuple[str, str]:
    """(letters, subscript) of a name: W_2 and W2 are W with 2, as the tutorial numbers layers."""
    base, _, sub = name.partition("_")
    if not sub:
        base, sub = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
    return base, sub


def _is_word(name: str) -> bool:
    """A name written as a word or a Greek letter (gamma, var, xhat), not as one italic letter."""
    base, _ = _split_name(name)
    return base in _GREEK or len(base) > 1


def name_latex(name: str, bold: bool = False) -> str:
    """How a name reads in LaTeX: Greek names as Greek letters (``gamma1``: ``\\gamma_{1}``), a
    ``hat`` suffix as a hat (``xhat``: ``\\hat{x}``), other words upright (``\\mathrm{var}``), one
    letter italic; ``bold`` for a whole array (``\\mathbf{W}``, ``\\boldsymbol{\\gamma}``)."""
    base, sub = _split_name(name)
    hat = base.endswith("hat") and len(base) > 3
    if hat:
        base = base[:-3]
    if base in _GREEK:
        core = rf"\boldsymbol{{{_GREEK[base]}}}" if bold else _GREEK[base]
    elif bold:
        core = rf"\mathbf{{{base}}}"
    else:
        core = rf"\mathrm{{{base}}}" if len(base) > 1 else base
    if hat:
        core = rf"\hat{{{core}}}"
    return f"{core}_{{{sub}}}" if sub and base else core


#: A program's adjoints and received gradients are named \bar{x}, \overline{xhat}, g^{y} (bold
#: inside for a whole array); their inner name is written as any other name.
_ADJOINT = re.compile(r"(\\bar|\\overline)\{(?:\\mathbf\{(\w+)\}|(\w+))\}|g\^\{(\w+)\}")


def adjoint_latex(name: str, bold: bool = False) -> str | None:
    """A program's gradient name (``\\overline{xhat}``, ``g^{y}``) with its inner name written
    by :func:`name_latex` (``\\overline{\\hat{x}}``, ``g^{y}``); None for any other name."""
    match = _ADJOINT.fullmatch(name)
    if match is None:
        return None
    bar, bold_inner, inner, received = match.groups()
    if received is not None:
        return rf"\mathbf{{g}}^{{{name_latex(received)}}}" if bold else f"g^{{{name_latex(received)}}}"
    bold = bold or bold_inner is not None
    core = name_latex(bold_inner or inner, bold=bold)
    plain = _split_name(bold_inner or inner)[0]
    return rf"\bar{{{core}}}" if len(plain) == 1 or plain in _GREEK else rf"\overline{{{core}}}"


def readable_names(latex: str) -> str:
    """LaTeX with the engine's bold words (\\mathbf{gamma}, \\mathbf{xhat}) written as
    :func:`name_latex` writes them (\\boldsymbol{\\gamma}, \\hat{\\mathbf{x}})."""
    return re.sub(r"\\mathbf\{([A-Za-z]{2,})\}", lambda m: name_latex(m.group(1), bold=True), latex)


def shown(count: int) -> list[int | None]:
    """1-based indices displayed for ``count`` rows or columns; None marks the ellipsis."""
    if count <= SHOWN:
        return list(range(1, count + 1))
    return [1, 2, None, count]


def number(value: float) -> str:
    """A float the way people write it (LaTeX): shortest form, 12 significant digits at most,
    powers of ten as 10^{-5} (2.5 \\times 10^{-5}), never Python's 1e-05."""
    text = f"{float(value):.12g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        return power if mantissa == "1" else "-" + power if mantissa == "-1" else rf"{mantissa} \times {power}"
    return "0" if text == "-0" else text


class BlogPrinter(LatexPrinter):
    """sympy's LaTeX printer with the tutorial's notation and truncated finite sums."""

    def __init__(self, sizes: dict[sp.Symbol, int] | None = None, decimals: int | None = None,
                 names: dict[str, str] | None = None) -> None:
        super().__init__({"mul_symbol": None})
        self.sizes = sizes or {}
        # Fixed decimals for floats (Torch prints 4: -0.1080, not -0.108); None: shortest form.
        self.decimals = decimals
        # How elements of an array are written (W -> w, as the tutorial's w_{12}).
        self.names = names or {}

    def doprint(self, expr) -> str:
        expr = sp.sympify(expr).xreplace(self.sizes) if self.sizes else expr
        return super().doprint(as_written(expr))  # 0.044715, 10^{-5}: as the layer wrote them

    def _print_Symbol(self, expr, style="plain"):
        adjoint = adjoint_latex(expr.name)
        if adjoint is not None:
            return adjoint
        if _is_word(expr.name):  # eta, scale, gamma: named, not a product of letters
            return name_latex(expr.name)
        return super()._print_Symbol(expr, style)

    def _print_MatrixSymbol(self, expr):
        name = expr.name
        if name in _MATRIX_NAMES:
            return _MATRIX_NAMES[name]
        if adjoint_latex(name, bold=True) is not None:
            return adjoint_latex(name, bold=True)
        if name.startswith("\\"):  # named in LaTeX already (sigma'(h_1))
            return name
        return name_latex(name, bold=True)

    def _print_DiagMatrix(self, expr):
        return rf"\operatorname{{diag}}\left({self._print(expr.args[0])}\right)"

    def _print_Transpose(self, expr):
        inner = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol) or expr.arg.name in _GRADIENT_OF:
            inner = rf"\left({inner}\right)"
        return rf"{inner}^{{T}}"

    def _print_Trace(self, expr):
        if expr.arg.shape == (1, 1):  # a single number: (y - t)^T (y - t), not tr of it
            return self._print(expr.arg)
        return rf"\operatorname{{tr}}\left({self._print(expr.arg)}\right)"

    def _print_OneMatrix(self, expr):
        rows, cols = expr.shape
        if rows != 1 and cols != 1:  # a matrix of ones: 1 1^T, so that 1 1^T v reads as a sum times 1
            return r"\mathbf{1}\mathbf{1}^{T}"
        return r"\mathbf{1}^{T}" if rows == 1 and cols != 1 else r"\mathbf{1}"  # a row of ones: 1^T x

    def _print_Identity(self, expr):
        return r"\mathbf{I}"

    def _print_MatMul(self, expr):
        args = list(expr.args)
        if args[0] == -1:
            return "-" + self._print_MatMul(sp.MatMul(*args[1:]))
        if len(args) == 2 and args[0].is_number and isinstance(args[1], sp.OneMatrix):
            return rf"{self._print(args[0])} \cdot {self._print(args[1])}"  # 6 . 1, never read as 61
        return " ".join(rf"\left({self._print(a)}\right)" if isinstance(a, (sp.MatAdd, HadamardProduct))
                        else self._print(a) for a in args)

    def _print_HadamardProduct(self, expr):
        # as Torch writes it: the incoming gradient first, sums last (g (.) y (.) (1 - y))
        factors = sorted(expr.args, key=lambda a: (not (isinstance(a, sp.MatrixSymbol) and a.name in _GRADIENT_OF),
                                                   isinstance(a, sp.MatAdd)))
        return r" \odot ".join(rf"\left({self._print(a)}\right)" if isinstance(a, (sp.MatAdd, sp.MatMul))
                               else self._print(a) for a in factors)

    def _print_HadamardPower(self, expr):
        base = self._print(expr.base)
        if not isinstance(expr.base, sp.MatrixSymbol):
            base = rf"\left({base}\right)"
        return rf"{base}^{{\odot {self._print(expr.exp)}}}"

    def _print_ElementwiseApplyFunction(self, expr):
        # f applied entry by entry, written f(M): f of a placeholder, the placeholder replaced by M
        placeholder = sp.Symbol("PLACEHOLDER")
        return self._print(expr.function(placeholder)).replace(self._print(placeholder), self._print(expr.expr))

    def _signed_sum(self, terms, print_negated) -> str:
        """``a + b - c``: a term that carries a minus sign is written after `` - ``."""
        text = self._print(terms[0])
        for term in terms[1:]:
            if term.could_extract_minus_sign():
                text += " - " + print_negated(-term)
            else:
                text += " + " + self._print(term)
        return text

    def _indices(self, indices) -> str:
        parts = [self._print(index) for index in indices]
        if all(len(p) == 1 for p in parts):
            return "".join(parts)  # w_{12}, like the tutorial
        return ",".join(parts)  # w_{1,12}: unambiguous once an index has two digits

    def _print_Indexed(self, expr):
        name = expr.base.name
        sub = self._indices(expr.indices)
        if name in _GRADIENT_OF:
            output = _GRADIENT_OF[name]
            return rf"\frac{{\partial J}}{{\partial {self.names.get(output, output)}_{{{sub}}}}}"
        if adjoint_latex(name) is not None:
            return f"{adjoint_latex(name)}_{{{sub}}}"
        if name not in self.names and _is_word(name):
            # gamma_{i}; a layer's number above, as element_names writes w^{(1)}_{ij}
            base, number = _split_name(name)
            return name_latex(base) + (f"^{{({number})}}" if number else "") + f"_{{{sub}}}"
        return f"{self.names.get(name, name)}_{{{sub}}}"

    def _print_Pow(self, expr, exp=None):
        if isinstance(expr.base, sp.Indexed) and expr.exp.is_Integer and expr.exp > 0:
            # braces: h^{(2)}_{1} squared must not be a double superscript
            return f"{{{self._print(expr.base)}}}^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr, exp) if exp is not None else super()._print_Pow(expr)

    def _print_KroneckerDelta(self, expr, exp=None):
        return rf"\delta_{{{self._indices(expr.args)}}}"

    def _print_Derivative(self, expr):
        (variable, count), = expr.variable_count
        top = expr.expr
        if isinstance(top, sp.Symbol) or isinstance(top, sp.Indexed):
            numerator = self._print(top)
        else:
            numerator = rf"\left({self._print(top)}\right)"
        return rf"\frac{{\partial {numerator}}}{{\partial {self._print(variable)}}}"

    def _print_Sum(self, expr):
        (index, low, high), *rest = expr.limits
        if rest:  # outermost sum first: \sum_{t=1}^{B} \sum_{i=1}^{m}
            signs = "".join(rf"\sum_{{{self._print(v)}={self._print(lo)}}}^{{{self._print(hi)}}} "
                            for v, lo, hi in reversed(expr.limits))
            return signs + self._print_factor(expr.function)
        if not (low.is_Integer and high.is_Integer):
            return super()._print_Sum(expr)
        text = ""
        for value in shown(int(high) - int(low) + 1):
            term = None if value is None else expr.function.xreplace({index: low + value - 1})
            negative = text != "" and term is not None and term.could_extract_minus_sign()
            piece = (r"\cdots" if term is None else self._print_factor(-term) if negative
                     else self._print_term(term))
            text = piece if not text else text + (" - " if negative else " + ") + piece
        return text

    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        # A sum over a concrete range is written out term by term (a + b + c): as a
        # factor of a product, a quotient's numerator or denominator included, it needs
        # brackets wherever it stands (sympy brackets a Sum only when it is not last).
        if isinstance(expr, sp.Sum) and all(lo.is_Integer and hi.is_Integer for _, lo, hi in expr.limits):
            return True
        return super()._needs_mul_brackets(expr, first=first, last=last)

    def _print_term(self, term) -> str:
        text = self._print(term)
        return rf"\left({text}\right)" if isinstance(term, sp.Add) else text

    def _print_Add(self, expr, order=None):
        # Sums first and the bias last, as in w_{11}x_{1} + w_{12}x_{2} + b_{1}.
        terms = sorted(expr.args, key=lambda t: (not isinstance(t, sp.Sum), _is_bias(t),
                                                 t.could_extract_minus_sign()))
        return self._signed_sum(terms, self._print_factor)

    def _print_Mul(self, expr):
        if not isinstance(expr, sp.Mul):  # sympy also sends powers and quotients here
            return super()._print_Mul(expr)
        factors = list(expr.args)
        if factors[0] == -1:
            rest = factors[1] if len(factors) == 2 else sp.Mul(*factors[1:], evaluate=False)
            return "-" + self._print_factor(rest)
        if len(factors) > 1 and all(f.is_Float or f.is_Integer for f in factors):
            return r" \times ".join(self._print_factor(f) for f in factors)
        adds = [f for f in factors if isinstance(f, sp.Add)]
        coefficient = sp.Mul(*(f for f in factors if f not in adds))
        if len(adds) == 1 and not coefficient.atoms(sp.Indexed) and coefficient != 1:
            # \frac{2}{N} \left(\hat{y}_{1} - y_{1}\right), not one spread-out fraction
            return self._print(coefficient) + " " + self._print_factor(adds[0])
        if any((f.is_Pow and f.exp.is_negative) or (f.is_Rational and not f.is_Integer)
               for f in factors):
            return super()._print_Mul(expr)  # a quotient: sympy's \frac
        factors.sort(key=lambda f: _factor_rank(f, self.names))
        return " ".join(self._print_factor(f) for f in factors)

    def _print_factor(self, f) -> str:
        text = self._print(f)
        if isinstance(f, (sp.Add, sp.Sum)) or (f.is_number and f.is_negative):
            return rf"\left({text}\right)"
        return text

    def _print_Mod(self, expr, exp=None):
        # a computed subscript's remainder, bracketed: 2 (u - 1 mod 2) is never read as 2 (u - 1) mod 2
        a, q = expr.args
        return rf"\left({self._print_factor(a)} \bmod {self._print(q)}\right)"

    def _print_floor(self, expr, exp=None):
        # floor((u - 1) / 2) as the text writes it, not sympy's floor(u/2 - 1/2)
        top, bottom = sp.fraction(sp.together(expr.args[0]))
        inner = rf"\frac{{{self._print(sp.expand(top))}}}{{{self._print(bottom)}}}" if bottom != 1 else self._print(top)
        return rf"\left\lfloor {inner} \right\rfloor"

    def _print_Float(self, expr):
        if self.decimals is None:
            return number(expr)
        text = f"{float(expr):.{self.decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    def _print_Piecewise(self, expr):
        (value, condition), *rest = expr.args
        if len(rest) == 1 and rest[0] == (0, True):  # Iverson bracket: 1 if true, else 0
            bracket = rf"\left[{self._print(condition)}\right]"
            return bracket if value == 1 else rf"{self._print_factor(value)} {bracket}"
        return super()._print_Piecewise(expr)


class ElementwisePrinter(BlogPrinter):
    """Products of whole arrays are element-wise: written with \\odot."""

    def _print_Mul(self, expr):
        if not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        factors = list(expr.args)
        if factors[0] == -1:
            rest = factors[1] if len(factors) == 2 else sp.Mul(*factors[1:], evaluate=False)
            return "-" + self._print_factor(rest)
        factors.sort(key=lambda f: (not f.is_number, str(f) not in ("g_vec", "G_vec")))
        numbers = [f for f in factors if f.is_number]
        arrays = [f for f in factors if not f.is_number]
        text = r" \odot ".join(self._print_factor(f) for f in arrays)
        return " ".join([self._print(f) for f in numbers] + [text])

    def _print_Pow(self, expr):
        if expr.exp == 2:
            return rf"{self._print_factor(expr.base)}^{{\odot 2}}"
        return super()._print_Pow(expr)


def elementwise(expr) -> str:
    """LaTeX of an element-wise array expression (``g (.) y (.) (1 - y)``)."""
    return ElementwisePrinter().doprint(expr)


def _is_bias(term) -> bool:
    return isinstance(term, sp.Indexed) and term.base.name in ("b", "b1", "b2")


def _factor_rank(f, names: dict[str, str]) -> float:
    """Order of factors in a product: dJ/dy_j first, then delta, w, then inputs (an array
    is ranked by the name its elements are written with: W's by w)."""
    if f.is_number:
        return 0
    if isinstance(f, sp.Symbol) and f.name in ("eta", "scale"):
        return 1
    if isinstance(f, sp.Indexed):
        # In a stack, the order of the chain rule: dJ/dy, W2, f'(h1), W1, x.
        name = f.base.name.lower() if f.base.name in names else f.base.name
        return {"g": 2, "G": 2, "X": 5, "w": 6, "w2": 6, "h2": 6.5, "y": 6.5, "Y": 6.5, "w1": 8, "x": 9,
                "h1": 9}.get(name, 10)
    if isinstance(f, sp.KroneckerDelta):
        return 3
    if isinstance(f, sp.Add):
        return 7
    return 4


def form(f: Form, printer: BlogPrinter) -> str:
    """LaTeX of one form of a step."""
    if isinstance(f, Named):
        if isinstance(f.latex, str):  # a bare name (a program's scalar mu, its adjoint) reads as any name
            if f.latex.isidentifier():
                return name_latex(f.latex)
            return adjoint_latex(f.latex) or f.latex
        return elementwise(f.latex)
    if isinstance(f, Grid):
        return _bmatrix(f, printer)
    if isinstance(f, Transposed):
        return _bmatrix(f.grid, printer) + "^{T}"
    if isinstance(f, Product):
        return "\n".join(form(factor, printer) for factor in f.factors)
    if isinstance(f, Plus):
        text = form(f.terms[0], printer)
        for term in f.terms[1:]:
            if isinstance(term, Scaled) and term.factor.could_extract_minus_sign():
                text += "\n-\n" + form(Scaled(-term.factor, term.form), printer)
            else:
                text += "\n+\n" + form(term, printer)
        return text
    if isinstance(f, Scaled):
        return printer.doprint(f.factor) + "\n" + form(f.form, printer)
    return printer.doprint(f)


def _bmatrix(grid: Grid, printer: BlogPrinter) -> str:
    rows, cols = (int(sp.sympify(d).xreplace(printer.sizes)) for d in grid.shape)
    shown_rows, shown_cols = shown(rows), shown(cols)
    lines = []
    for r in shown_rows:
        cells = []
        for c in shown_cols:
            if r is None:
                cells.append(r"\ddots" if c is None else r"\vdots")
            elif c is None:
                cells.append(r"\cdots")
            else:
                cells.append(printer.doprint(grid.entry(sp.Integer(r), sp.Integer(c))))
        lines.append(" & ".join(cells) + r" \\")
    return "\\begin{bmatrix}\n" + "\n".join(lines) + "\n\\end{bmatrix}"


def step(s: Step, printer: BlogPrinter, fit: bool = False) -> str:
    """An aligned chain: ``lhs &= f1 \\\\ &= f2 ...`` (or ``&\\leftarrow`` for updates).

    With ``fit``, each side is wrapped in the document's ``\\derivefit`` (see FIT_PREAMBLE).
    """
    relation = r"\leftarrow" if s.relation == "<-" else "="
    left, right = (_fitted(LEFT_ROOM), _fitted(r"\deriveroom")) if fit else (str, str)
    lines = [f"{left(form(s.lhs, printer))}\n&{relation} {right(form(s.chain[0], printer))}"]
    lines += [f"&= {right(form(f, printer))}" for f in s.chain[1:]]
    return " \\\\\n".join(lines)


def aligned(steps: list[Step], printer: BlogPrinter, environment: str = "aligned",
            fit: bool = False) -> str:
    """Steps in one ``aligned`` (or ``align*``) block, separated by a blank row.

    With ``fit`` (a document's ``align*``), every side is scaled down to the room the
    text block leaves it, so nothing runs off the page: the left column is measured
    first (each left side at most LEFT_ROOM), the right sides get the rest.
    """
    body = " \\\\[1ex]\n".join(step(s, printer, fit) for s in steps)
    block = f"\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}"
    if not fit:
        return block
    measures = "".join(rf"\derivemeasure{{{form(s.lhs, printer)}}}" for s in steps)
    return rf"\setlength{{\deriveleft}}{{0pt}}{measures}\deriveroomleft" + "\n" + block


def _fitted(room: str):
    return lambda latex: rf"\derivefit{{{room}}}{{{latex}}}"


#: The widest a left side may be in a document (a wider one is scaled down to it).
LEFT_ROOM = r"0.4\linewidth"

#: What a document needs for ``aligned(..., fit=True)``. TeX measures each side
#: (only TeX knows how wide a formula sets) and scales it down when it is wider than
#: its room: ``\deriveleft`` is the widest left side of the block, and a right side
#: gets the line less that and the relation (2.5em covers `` = `` and ``\leftarrow``
#: with their spaces).
FIT_PREAMBLE = rf"""\usepackage{{graphicx}}
\newsavebox{{\derivebox}}
\newsavebox{{\deriveleftbox}}
\newlength{{\deriveleft}}
\newlength{{\deriveroom}}
\newcommand{{\derivefit}}[2]{{\sbox{{\derivebox}}{{$\displaystyle #2$}}%
\ifdim\wd\derivebox>#1\relax\resizebox{{#1}}{{!}}{{\usebox{{\derivebox}}}}%
\else\usebox{{\derivebox}}\fi}}
\newcommand{{\derivemeasure}}[1]{{\sbox{{\deriveleftbox}}{{$\derivefit{{{LEFT_ROOM}}}{{#1}}$}}%
\ifdim\wd\deriveleftbox>\deriveleft\setlength{{\deriveleft}}{{\wd\deriveleftbox}}\fi}}
\newcommand{{\deriveroomleft}}{{\setlength{{\deriveroom}}{{\dimexpr\linewidth-\deriveleft-2.5em\relax}}}}"""


def markdown(derivation: Derivation, heading_level: int = 1, decimals: int | None = None) -> str:
    """The derivation as markdown with ``$$`` display blocks (arithmatex, MathJax).

    ``decimals``: print every number with that many (a worked example's, as its source prints them).
    """
    printer = BlogPrinter(derivation.sizes, decimals, derivation.names)
    hashes = "#" * heading_level
    parts = [f"{hashes} {derivation.title}", CONVENTION]
    for section in derivation.sections:
        parts.append(f"{hashes}# {section.title}")
        if section.text:
            parts.append(section.text)
        for text, steps in _groups(section.steps):
            if text:
                parts.append(text)
            # arithmatex needs a math block with no blank line inside and one around it.
            parts.append("$$\n" + aligned(steps, printer) + "\n$$")
    return readable_names("\n\n".join(parts) + "\n")


def summary(derivation: Derivation) -> dict:
    """Each result's shape (concrete), LaTeX, matrix-form expression (sympy's) and notation (the
    layer language's), for JSON output."""
    printers = {False: BlogPrinter(derivation.sizes, names=derivation.names),
                True: ElementwisePrinter(derivation.sizes, names=derivation.names)}
    out = {"title": derivation.title, "convention": "numerator layout",
           "sizes": {str(k): v for k, v in derivation.sizes.items()}, "results": {}}
    for name, result in derivation.results.items():
        printer = printers[result.elementwise]
        out["results"][name] = {
            "shape": [int(sp.sympify(d).xreplace(derivation.sizes)) for d in result.shape],
            "latex": readable_names(f"{result.latex} = {printer.doprint(result.expr)}"),
            "expression": str(result.expr),
            "notation": str(result),  # in the layer language: (g * sigmoid(V @ x)) @ x.T
        }
    return out


def document(derivation: Derivation) -> str:
    """A standalone LaTeX document (amsmath only) that pdflatex compiles."""
    printer = BlogPrinter(derivation.sizes, names=derivation.names)
    parts = [
        r"\documentclass{article}",
        r"\usepackage{amsmath}",
        # A wider text block than article's 345pt: matrices read better at full size.
        r"\usepackage[margin=2cm]{geometry}",
        FIT_PREAMBLE,
        r"\setcounter{MaxMatrixCols}{20}",
        r"\allowdisplaybreaks",  # long chains may continue on the next page
        r"\begin{document}",
        # Prose with long code names (`updateParameters(learningRate)`), which TeX cannot
        # hyphenate: a short line, rather than one that runs past the margin.
        r"\raggedright",
        rf"\section*{{{_text(derivation.title)}}}",
        _text(CONVENTION),
    ]
    for section in derivation.sections:
        parts.append(rf"\subsection*{{{_text(section.title)}}}")
        if section.text:
            parts.append(_text(section.text))
        for text, steps in _groups(section.steps):
            if text:
                parts.append(_text(text))
            parts.append(aligned(steps, printer, "align*", fit=True))
    parts.append(r"\end{document}")
    return readable_names("\n\n".join(p for p in parts if p) + "\n")


def _groups(steps: list[Step]) -> list[tuple[str, list[Step]]]:
    """Consecutive steps with the same text share one display block."""
    groups: list[tuple[str, list[Step]]] = []
    for s in steps:
        if groups and groups[-1][0] == s.text:
            groups[-1][1].append(s)
        else:
            groups.append((s.text, [s]))
    return groups


def _text(prose: str) -> str:
    """Prose for LaTeX: inline ``$...$`` math kept, markdown's ```code``` as ``\\texttt``,
    markup characters outside math escaped."""
    parts = prose.split("$")
    for k in range(0, len(parts), 2):  # outside math
        pieces = parts[k].split("`")
        for j, piece in enumerate(pieces):
            escaped = "".join(_ESCAPES.get(char, char) for char in piece)
            # inside backticks: code, set in typewriter; between names, TeX may break the line
            pieces[j] = rf"\texttt{{{escaped}}}" if j % 2 else escaped.replace("->", r"$\to$")
        parts[k] = "".join(pieces)
    return "$".join(parts)


_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}

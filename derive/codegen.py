"""Compile the engine's matrix-form results to the numpy kernels of :mod:`derive.nn`.

:class:`KernelPrinter` prints a matrix expression as numpy code (``@``, ``.T``, sums
instead of products with a ones vector, broadcasting instead of ``1 b^T``); the writer
wraps each printed result in a small function that writes into a preallocated buffer
(``out=``) or accumulates in place.  ``derive compile`` writes the result to
``derive/nn/_kernels.py``; a test fails when that file is stale.

The kernels run on the array library of their arguments, numpy or CuPy: each starts
with ``xp = np if a.__class__ is ndarray else namespace(a)`` for its first array argument
``a`` (``derive.nn._backend.namespace``) and calls ``xp.<function>`` where numpy code says
``np.<function>``.  Only ``np.errstate`` stays numpy's: it sets numpy's floating-point
error state, and CuPy raises no such errors.
"""

from __future__ import annotations

from pathlib import Path

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from .symbolic.criterion import MSESpec
from .symbolic.specs import ACTIVATION_SPECS, GRAD_OUTPUT, INPUT, OUTPUT, activation_results, linear_results

KERNELS_PATH = Path(__file__).parent / "nn" / "_kernels.py"

# What the matrices of a spec are called inside the kernels (Torch's argument names).
ARGUMENTS = {"W": "weight", "b": "bias", "x": "input", "X": "input",
             "g": "grad_output", "G": "grad_output"}


class KernelPrinter(NumPyPrinter):
    """numpy code for the matrix expressions of layer specs; vectors are 1-D arrays."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": False})

    def _module_format(self, fqn, register=True):
        # numpy.f -> xp.f: the array module the kernel's prologue took from its arguments.
        if fqn.startswith("numpy."):
            return "xp." + fqn[len("numpy."):]
        return super()._module_format(fqn, register)

    def _print_MatrixSymbol(self, expr):
        return ARGUMENTS[expr.name]

    def _print_Transpose(self, expr):
        if _is_vector(expr.arg):  # a 1-D array is its own transpose
            return self._print(expr.arg)
        return f"{self._print(expr.arg)}.T"

    def _print_MatMul(self, expr):
        scalars = [a for a in expr.args if not a.is_Matrix]
        factors = [a for a in expr.args if a.is_Matrix]
        if len(factors) == 2 and isinstance(factors[1], sp.OneMatrix):
            # G^T 1: the column sums of G, without building a vector of ones.
            text = f"{self._print(factors[0].arg)}.sum(axis=0)"
        elif len(factors) == 2 and isinstance(factors[0], sp.OneMatrix):
            # 1 b^T: every row is b, which broadcasting gives for free.
            text = self._print(factors[1])
        elif len(factors) == 2 and _is_vector(factors[0]) and _is_row(factors[1]):
            text = f"xp.outer({self._print(factors[0])}, {self._print(factors[1])})"
        else:
            text = " @ ".join(self._print(f) for f in factors)
        if scalars:
            text = f"{self._print(sp.Mul(*scalars))} * ({text})"
        return text

    def _print_MatAdd(self, expr):
        return " + ".join(self._print(a) for a in expr.args)


def _is_vector(expr: sp.MatrixExpr) -> bool:
    return isinstance(expr, sp.MatrixSymbol) and expr.shape[1] == 1


def _is_row(expr: sp.MatrixExpr) -> bool:
    return isinstance(expr, sp.Transpose) and _is_vector(expr.arg)


def _product_and_rest(expr: sp.MatrixExpr) -> tuple[sp.MatrixExpr, list[sp.MatrixExpr]]:
    """Split ``A B + C`` into the product written with ``out=`` and the terms added after."""
    terms = list(expr.args) if isinstance(expr, sp.MatAdd) else [expr]
    products = [t for t in terms if isinstance(t, sp.MatMul) and not _broadcast(t)]
    if len(products) != 1:
        raise ValueError(f"cannot compile {expr}: expected one matrix product")
    return products[0], [t for t in terms if t is not products[0]]


def _broadcast(term: sp.MatrixExpr) -> bool:
    return isinstance(term, sp.MatMul) and any(isinstance(a, sp.OneMatrix) for a in term.args)


def _matmul_args(product: sp.MatMul, printer: KernelPrinter) -> tuple[str, str]:
    left, right = product.args
    return printer.doprint(left), printer.doprint(right)


def _assign(name: str, args: str, target: str, expr: sp.MatrixExpr, doc: str) -> str:
    """A kernel writing ``expr`` into ``target``: one matmul with out=, then in-place adds."""
    printer = KernelPrinter()
    product, rest = _product_and_rest(expr)
    left, right = _matmul_args(product, printer)
    lines = [f"xp.matmul({left}, {right}, out={target})"]
    lines += [f"{target} += {printer.doprint(term)}" for term in rest]
    return _function(name, args, doc, lines, target)


def _accumulate(name: str, args: str, targets: dict[str, sp.MatrixExpr], doc: str) -> str:
    """A kernel adding ``scale * expr`` to each ``target`` in place, for ``{target: expr}``."""
    printer = KernelPrinter()
    lines = []
    for target, expr in targets.items():
        value = printer.doprint(expr)
        if isinstance(expr, sp.MatrixSymbol):
            # A plain array: scale it only when asked, so scale=1 allocates nothing.
            lines += [f"if scale == 1:",
                      f"    {target} += {value}",
                      f"else:",
                      f"    {target} += scale * {value}"]
        else:
            # One temporary for the product; scaling it in place costs no second one.
            lines += [f"gradient = {value}",
                      f"if scale != 1:",
                      f"    gradient *= scale",
                      f"{target} += gradient"]
            if target != list(targets)[-1]:
                lines.append("del gradient  # freed before the next temporary is made")
    return _function(name, args, doc, lines)


def _function(name: str, args: str, doc: str, lines: list[str], target: str | None = None) -> str:
    """The source of a kernel; it returns ``target``, or None when it accumulates."""
    lines = [_prologue(args)] + lines + ([f"return {target}"] if target else [])
    body = "\n".join(f"    {line}" for line in lines)
    return f'def {name}({args}):\n    """{doc}"""\n{body}\n'


def _prologue(args: str) -> str:
    """``xp``: numpy or cupy, as the first argument (an array); numpy's class is tested inline,
    as a call costs a few percent of a small layer's step (bench/bench_linear.py)."""
    array = args.split(",")[0].strip()
    return f"xp = np if {array}.__class__ is ndarray else namespace({array})"


def _doc(result: str, expr: sp.MatrixExpr) -> str:
    return f"{result} {sp.sstr(expr)}"


class ElementwiseEmitter:
    """numpy statements computing an element-wise expression into ``target``, in place.

    One ufunc call per node, each with ``out=target``: the innermost non-trivial operand
    is computed into the target first and the others are combined into it, so no
    temporary array is made.  Leaves are whole arrays (symbols) or numbers.
    """

    UNARY = {sp.exp: "xp.exp", sp.tanh: "xp.tanh"}

    def __init__(self, target: str) -> None:
        self.target = target

    def emit(self, expr: sp.Expr) -> list[str]:
        t = self.target
        if _leaf(expr):
            return [f"xp.copyto({t}, {_leaf(expr)})"]
        if isinstance(expr, sp.Add):
            return self._fold(expr.args, "xp.add", "xp.subtract")
        if isinstance(expr, sp.Mul):
            if expr.args[0] == -1:
                rest = sp.Mul(*expr.args[1:])
                return self._unary("xp.negative", rest)
            return self._fold(expr.args, "xp.multiply", None)
        if isinstance(expr, sp.Pow) and expr.exp == -1:
            return self._unary("xp.reciprocal", expr.base)
        if isinstance(expr, sp.Pow) and expr.exp == 2:
            return self._unary("xp.square", expr.base)
        if type(expr) in self.UNARY:
            return self._unary(self.UNARY[type(expr)], expr.args[0])
        if isinstance(expr, sp.Piecewise):
            return self._piecewise(expr)
        raise ValueError(f"cannot compile {expr} element-wise")

    def _unary(self, ufunc: str, arg: sp.Expr) -> list[str]:
        t = self.target
        if _leaf(arg):
            return [f"{ufunc}({_leaf(arg)}, out={t})"]
        return self.emit(arg) + [f"{ufunc}({t}, out={t})"]

    def _fold(self, args, ufunc: str, inverse: str | None) -> list[str]:
        t = self.target
        inner = [a for a in args if not _leaf(a) and not (inverse and _negated_leaf(a))]
        if len(inner) > 1:
            raise ValueError(f"cannot compile {args} in place: two compound operands")
        rest = [a for a in args if a not in inner]
        if inner:
            lines, first = self.emit(inner[0]), t
        else:  # start from the leaves: numbers first, so 1 - y reads xp.subtract(1, y)
            rest.sort(key=lambda a: not a.is_number)
            lines, first = [], None
        for a in rest:
            if inverse and _negated_leaf(a):
                op, operand = inverse, _negated_leaf(a)
            else:
                op, operand = ufunc, _leaf(a)
            if first is None:
                first = operand if op == ufunc else None
                if first is None:  # - y alone to start with
                    lines.append(f"xp.negative({operand}, out={t})")
                    first = t
                continue
            lines.append(f"{op}({first}, {operand}, out={t})")
            first = t
        return lines

    def _piecewise(self, expr: sp.Piecewise) -> list[str]:
        (value, condition), *rest = expr.args
        t = self.target
        if rest != [(0, True)] or not isinstance(condition, sp.StrictGreaterThan) \
                or condition.rhs != 0 or not _leaf(condition.lhs):
            raise ValueError(f"cannot compile {expr} element-wise")
        array = _leaf(condition.lhs)
        if value == condition.lhs:  # x where x > 0, else 0
            return [f"xp.maximum({array}, 0, out={t})"]
        if value == 1:  # 1 where x > 0, else 0 (0 at x = 0, as Torch)
            return [f"xp.greater({array}, 0, out={t})"]
        raise ValueError(f"cannot compile {expr} element-wise")


_ARRAY_NAMES = {INPUT: "input", OUTPUT: "output", GRAD_OUTPUT: "grad_output"}


def _leaf(expr: sp.Expr) -> str | None:
    if expr in _ARRAY_NAMES:
        return _ARRAY_NAMES[expr]
    if expr.is_Integer:
        return str(int(expr))
    if expr.is_Float:
        return repr(float(expr))
    return None


def _negated_leaf(expr: sp.Expr) -> str | None:
    if isinstance(expr, sp.Mul) and len(expr.args) == 2 and expr.args[0] == -1:
        return _leaf(expr.args[1])
    return None


def _elementwise(name: str, args: str, target: str, expr: sp.Expr, doc: str) -> str:
    lines = ElementwiseEmitter(target).emit(expr)
    if expr.has(sp.exp):
        # exp(-x) overflows to inf for very negative x, and 1/(1 + inf) = 0 is the limit.
        lines = ['with np.errstate(over="ignore"):'] + [f"    {line}" for line in lines]
    return _function(name, args, doc, lines, target)


def _activation_kernels() -> list[str]:
    blocks = []
    for key in ACTIVATION_SPECS:
        forward, gradient, reads = activation_results(key)
        blocks.append(_elementwise(f"{key}_update_output", "input, output", "output", forward,
                                   f"output = {sp.sstr(forward)}"))
        blocks.append(_elementwise(f"{key}_update_grad_input", f"{reads}, grad_output, grad_input",
                                   "grad_input", gradient, f"grad_input = {sp.sstr(gradient)}"))
    return blocks


def _mse_kernels() -> list[str]:
    averaged, summed = MSESpec(size_average=True), MSESpec(size_average=False)
    names = {averaged.prediction: sp.MatrixSymbol("input", *averaged.shape),
             averaged.target: sp.MatrixSymbol("target", *averaged.shape)}
    count = sp.Symbol("input.size")

    def doc(expr: sp.Expr) -> str:
        return sp.sstr(expr.xreplace(names).xreplace({averaged.count: sp.Symbol("N")}))

    def loss(spec: MSESpec) -> str:
        difference = spec.prediction - spec.target
        factor = sp.simplify(spec.loss() / sp.Trace(difference.T * difference))
        numerator, denominator = sp.fraction(factor.xreplace({spec.count: count}))
        text = "total" if numerator == 1 else f"{numerator} * total"
        return text if denominator == 1 else f"{text} / {denominator}"

    def scale(spec: MSESpec) -> str:
        return KernelPrinter().doprint(spec.coefficient().xreplace({spec.count: count}))

    forward = (
        "def mse_update_output(input, target, size_average):\n"
        f'    """J = {doc(averaged.loss())} if size_average (N = input.size), '
        f'else {doc(summed.loss())}"""\n'
        f"    {_prologue('input')}\n"
        "    difference = input - target\n"
        "    # Trace(D^T D) is the sum of the squared elements of D.\n"
        "    total = float(xp.vdot(difference, difference))\n"
        f"    return {loss(averaged)} if size_average else {loss(summed)}\n"
    )
    backward = (
        "def mse_update_grad_input(input, target, size_average, grad_input):\n"
        f'    """grad_input = {doc(averaged.gradient())} if size_average, '
        f'else {doc(summed.gradient())}"""\n'
        f"    {_prologue('input')}\n"
        "    xp.subtract(input, target, out=grad_input)\n"
        f"    grad_input *= {scale(averaged)} if size_average else {scale(summed)}\n"
        "    return grad_input\n"
    )
    return [forward, backward]


def kernels_source() -> str:
    """The source of ``derive/nn/_kernels.py``: Linear and the activations from the layer
    engine's results for their one-expression specs, MSECriterion from its spec."""
    blocks = []
    for bias in (True, False):
        prefix = "linear" if bias else "linear_nobias"
        for batch in (False, True):
            results = linear_results(bias, batch)
            suffix = "_batch" if batch else ""
            params = "input, weight, bias, output" if bias else "input, weight, output"
            blocks.append(_assign(f"{prefix}_update_output{suffix}", params, "output",
                                  results["output"], _doc("output =", results["output"])))
            if bias:  # gradInput is the same function with or without bias
                blocks.append(_assign(f"linear_update_grad_input{suffix}",
                                      "grad_output, weight, grad_input", "grad_input",
                                      results["gradInput"], _doc("gradInput =", results["gradInput"])))
            # One kernel per Module method: accGradParameters accumulates every gradient.
            targets = {"grad_weight": results["gradWeight"]}
            doc = _doc("gradWeight += scale *", results["gradWeight"])
            if bias:
                targets["grad_bias"] = results["gradBias"]
                doc += "; " + _doc("gradBias += scale *", results["gradBias"])
            blocks.append(_accumulate(f"{prefix}_acc_grad_parameters{suffix}",
                                      "input, grad_output, scale, " + ", ".join(targets), targets, doc))
    blocks += _activation_kernels() + _mse_kernels()
    header = (
        "# generated by `derive compile` — do not edit.\n"
        '"""Kernels of derive.nn, compiled from the matrix-form results of the engine.\n\n'
        "Names follow the specs: W is the weight (out x in), x (X for a batch) the input,\n"
        "g (G) the gradient of the loss with respect to the output.  Vectors are 1-D arrays.\n"
        "A kernel writes into the array it is given and returns it, or accumulates into the\n"
        "gradients it is given (acc_grad_parameters) and returns None.  Element-wise kernels\n"
        "serve single samples and batches alike.\n\n"
        "Each kernel runs on the array library of its arguments, numpy or CuPy: ``xp`` is\n"
        "the one ``namespace`` finds for its first argument.\n"
        '"""\n\n'
        "import numpy as np\n\n"
        "from derive.nn._backend import namespace\n\n"
        "ndarray = np.ndarray\n"
    )
    return header + "\n\n" + "\n\n".join(blocks)

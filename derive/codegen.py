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

from .symbolic.calculus import equal
from .symbolic.classification import TARGET_CLASS, TARGET_WEIGHT, kernel_forms
from .symbolic.convolution import patch_results
from .symbolic.layer import grad_output_name, gradients, shift_invariant
from .symbolic.specs import GRAD_OUTPUT, INPUT, OUTPUT

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

    def _print_Pow(self, expr, rational=False):
        if expr.exp == -1:  # 1 / s, not s**(-1.0)
            return f"1 / {self.parenthesize(expr.base, sp.printing.precedence.PRECEDENCE['Pow'])}"
        return super()._print_Pow(expr, rational)


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


def _docline(text: str) -> str:
    return " ".join(text.split())


def _doc(result: str, expr: sp.MatrixExpr) -> str:
    return f"{result} {sp.sstr(expr)}"


class ElementwiseEmitter:
    """numpy statements computing an element-wise expression into ``target``, in place.

    One ufunc call per node, each with ``out=target``: the innermost non-trivial operand
    is computed into the target first and the others are combined into it, so no
    temporary array is made.  Leaves are the arrays of ``names`` (symbol -> code) or
    numbers.  What the target holds is remembered: a value already there is not
    computed again.
    """

    UNARY = {sp.exp: "xp.exp", sp.tanh: "xp.tanh", sp.log: "xp.log"}

    def __init__(self, target: str, names: dict[sp.Symbol, str] | None = None) -> None:
        self.target = target
        self.names = _ARRAY_NAMES if names is None else names
        self.holds: dict[str, sp.Expr] = {}

    def leaf(self, expr: sp.Expr) -> str | None:
        """The code of an array or a number, else None."""
        if expr in self.names:
            return self.names[expr]
        if expr.is_Integer:
            return str(int(expr))
        if expr.is_Float:
            return repr(float(expr))
        return None

    def negated_leaf(self, expr: sp.Expr) -> str | None:
        if isinstance(expr, sp.Mul) and len(expr.args) == 2 and expr.args[0] == -1:
            return self.leaf(expr.args[1])
        return None

    def emit(self, expr: sp.Expr) -> list[str]:
        if self.holds.get(self.target) == expr:
            return []
        lines = self._emit(expr)
        self.holds[self.target] = expr
        return lines

    def _emit(self, expr: sp.Expr) -> list[str]:
        t = self.target
        if self.leaf(expr):
            return [f"xp.copyto({t}, {self.leaf(expr)})"]
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
        if self.leaf(arg):
            return [f"{ufunc}({self.leaf(arg)}, out={t})"]
        return self.emit(arg) + [f"{ufunc}({t}, out={t})"]

    def _fold(self, args, ufunc: str, inverse: str | None) -> list[str]:
        t = self.target
        held = self.holds.get(t)
        if inverse and isinstance(held, sp.Add) and set(held.args) < set(args):
            # part of the sum is in the target already: add the rest to it
            others = [a for a in args if a not in held.args]
            if all(self.leaf(a) or self.negated_leaf(a) for a in others):
                return self._fold([held] + others, ufunc, inverse)
        inner = [a for a in args if not self.leaf(a) and not (inverse and self.negated_leaf(a))]
        if len(inner) > 1:
            raise ValueError(f"cannot compile {args} in place: two compound operands")
        rest = [a for a in args if a not in inner]
        rest.sort(key=lambda a: self._order(a, inverse))
        lines, first = [], None
        if (inner and inverse and inner[0].could_extract_minus_sign() and rest and not self.negated_leaf(rest[0])
                and self.holds.get(t) != inner[0]):
            # c - E: E into the target, then taken from c (no pass to negate it)
            lines = self.emit(-inner[0]) + [f"{inverse}({self.leaf(rest[0])}, {t}, out={t})"]
            first, rest = t, rest[1:]
        elif inner:
            lines, first = self.emit(inner[0]), t
        for a in rest:
            if inverse and self.negated_leaf(a):
                op, operand = inverse, self.negated_leaf(a)
            else:
                op, operand = ufunc, self.leaf(a)
            if first is None:
                first = operand if op == ufunc else None
                if first is None:  # - y alone to start with
                    lines.append(f"xp.negative({operand}, out={t})")
                    first = t
                continue
            lines.append(f"{op}({first}, {operand}, out={t})")
            first = t
        return lines

    def _order(self, operand: sp.Expr, inverse: str | None) -> tuple:
        # numbers first, so 1 - y reads xp.subtract(1, y); then the terms added, then those subtracted
        return (not operand.is_number, bool(inverse and self.negated_leaf(operand)))

    def _piecewise(self, expr: sp.Piecewise) -> list[str]:
        (value, condition), *rest = expr.args
        t = self.target
        if rest != [(0, True)] or not isinstance(condition, sp.StrictGreaterThan) \
                or condition.rhs != 0 or not self.leaf(condition.lhs):
            raise ValueError(f"cannot compile {expr} element-wise")
        array = self.leaf(condition.lhs)
        if value == condition.lhs:  # x where x > 0, else 0
            return [f"xp.maximum({array}, 0, out={t})"]
        if value == 1:  # 1 where x > 0, else 0 (0 at x = 0, as Torch)
            return [f"xp.greater({array}, 0, out={t})"]
        raise ValueError(f"cannot compile {expr} element-wise")


_ARRAY_NAMES = {INPUT: "input", OUTPUT: "output", GRAD_OUTPUT: "grad_output"}
TARGET = sp.Symbol("target", real=True)


class RowSum(sp.Function):
    """The sum of an element-wise expression over the classes of each sample (the last axis)."""


class RowEmitter(ElementwiseEmitter):
    """In-place numpy statements over the last axis (the classes) of one sample (n,) or a
    batch (batch, n), one sample a row.

    Symbols of ``arrays`` are whole arrays; those of ``rows`` hold one number a sample,
    (batch,) or a scalar, broadcast as ``row[..., None]``.  A :class:`RowSum` is one
    matrix-vector product with ``ones`` (its summand computed in place in ``scratch``
    first); an expression of rows alone is computed once a row, never a class.
    """

    def __init__(self, target: str, arrays: dict[sp.Symbol, str], rows: dict[sp.Symbol, str]) -> None:
        super().__init__(target, {**arrays, **{r: f"{code}[..., None]" for r, code in rows.items()}})
        self.arrays, self.rows = set(arrays), dict(rows)
        self.lines: list[str] = []
        self.count = 0

    def assign(self, expr: sp.Expr, scratch: str | None = None) -> list[str]:
        """Statements writing ``expr`` into the target."""
        main = expr.replace(lambda e: isinstance(e, RowSum), lambda e: sp.Dummy(real=True))
        expr = self._rowwise(self.reduce(expr, scratch or self.target, main=main))
        lines, self.lines = self.lines + self.emit(expr), []
        return lines

    def value(self, expr: sp.Expr, scratch: str | None = None, names: dict | None = None) -> tuple[list[str], str]:
        """(statements, code) of an expression of rows alone: one number a sample; a RowSum
        in ``names`` is written into the array named there."""
        expr = self.reduce(expr, scratch, names)
        if expr.free_symbols & self.arrays:
            raise ValueError(f"cannot compile {expr} as one number a sample")
        lines, self.lines = self.lines, []
        return lines, self.row_code(expr)

    def reduce(self, expr: sp.Expr, scratch: str | None, names: dict | None = None,
               main: sp.Expr | None = None) -> sp.Expr:
        """``expr`` with each RowSum computed into a row (into ``names[its summand]`` when given).

        A summand f(u) whose operand u the ``main`` expression reads again (log-softmax's
        x - shift) is computed as u in the scratch and f(u) in a temporary, so u is still
        there for the main expression."""
        def one(total: RowSum) -> sp.Symbol:
            (summand,) = total.args
            if not summand.free_symbols & self.arrays:
                raise ValueError(f"cannot compile {total}: its summand does not run over the classes")
            leaf = self.names.get(summand) if summand in self.arrays else None
            if (leaf is None and main is not None and type(summand) in self.UNARY and not main.has(summand)
                    and _reads(main, summand.args[0])):
                target, self.target = self.target, scratch
                self.lines += self.emit(summand.args[0])
                self.target = target
                leaf = self.fresh("_e")
                self.lines.append(f"{leaf} = {self.UNARY[type(summand)]}({scratch})")
            if leaf is None:
                target, self.target = self.target, scratch
                self.lines += self.emit(summand)
                leaf, self.target = scratch, target
            name = (names or {}).get(total)
            if name is None:
                name = self.fresh("_s")
                self.lines.append(f"{name} = {leaf} @ ones")
            else:
                self.lines.append(f"xp.matmul({leaf}, ones, out={name})")
            return self._new_row(name)
        return expr.replace(lambda e: isinstance(e, RowSum), one)

    def _order(self, operand: sp.Expr, inverse: str | None) -> tuple:
        # the shift is taken first: x - max(x) is exact near the max, x - log(s) - max(x) is not
        return super()._order(operand, inverse) + (operand != -SHIFT,)

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def row_code(self, expr: sp.Expr) -> str:
        return KernelPrinter().doprint(expr)

    def _rowwise(self, expr: sp.Expr) -> sp.Expr:
        """Every compound part of ``expr`` that is the same across a sample's classes
        computed once a row (the product of a Mul's row factors as one)."""
        if expr.is_Number or isinstance(expr, sp.Symbol):
            return expr
        if not expr.free_symbols & self.arrays:
            if expr.could_extract_minus_sign() and isinstance(expr, sp.Mul):
                return -self._row(-expr)
            return self._row(expr)
        if isinstance(expr, sp.Mul):
            number, factors = expr.as_coeff_mul()
            rows = [f for f in factors if not f.free_symbols & self.arrays]
            others = [self._rowwise(f) for f in factors if f not in rows]
            if len(rows) > 1 or rows and not isinstance(rows[0], sp.Symbol):
                rows = [self._row(sp.Mul(*rows))]
            return sp.Mul(number, *rows, *others)
        return expr.func(*(self._rowwise(a) for a in expr.args))

    def _row(self, expr: sp.Expr) -> sp.Symbol:
        if isinstance(expr, sp.Symbol):
            return expr
        name = self.fresh("_r")
        self.lines.append(f"{name} = {self.row_code(expr)}")
        return self._new_row(name)

    def _new_row(self, name: str) -> sp.Symbol:
        row = sp.Symbol(name, real=True)
        self.rows[row] = name
        self.names[row] = f"{name}[..., None]"
        return row


def _reads(expr: sp.Expr, part: sp.Expr) -> bool:
    """True when ``expr`` has ``part`` in it, or a sum with every term of the sum ``part``."""
    if expr.has(part):
        return True
    return isinstance(part, sp.Add) and any(isinstance(e, sp.Add) and set(part.args) <= set(e.args)
                                            for e in sp.preorder_traversal(expr))


# What the classification kernels call the values of a row (one sample): the largest
# input (the stable shift), the input at the target class, the target's weight a, and the
# forward's exponentials and their sums that the backward reads.
SHIFT, PICKED, FACTORS, TERMS, SUMS = sp.symbols("shift picked factors terms sums", real=True)
_ROWS = {SHIFT: "shift", PICKED: "picked", FACTORS: "factors"}


def _in_rows(spec, expr: sp.Expr, shift: bool) -> sp.Expr:
    """One sample's index form in the kernels' names: x[k] -> input (input - shift where the
    engine proved the value the same), y -> output, g -> grad_output, x[c] -> picked,
    a -> factors, a sum over the classes -> RowSum."""
    arrays = {spec.input.name: INPUT, spec.output.name: OUTPUT, grad_output_name(spec): GRAD_OUTPUT}

    def convert(e: sp.Expr) -> sp.Expr:
        if isinstance(e, sp.Sum):
            return RowSum(convert(e.function))
        if isinstance(e, sp.Indexed):
            value = PICKED if e.indices == (TARGET_CLASS,) else arrays[e.base.label.name]
            return value - SHIFT if shift and e.base.label.name == spec.input.name else value
        if e == TARGET_WEIGHT:
            return FACTORS
        return e.func(*(convert(a) for a in e.args)) if e.args else e
    return convert(expr)


def _shift_line(shift: bool, keepdims: bool = False) -> list[str]:
    # Proved (shift_invariant): the value is the same for x - c, for any c; c = the sample's
    # largest input keeps every exp finite (never the batch's: samples are independent).
    return [f"shift = input.max(axis=-1{', keepdims=True' if keepdims else ''})"] if shift else []


def _layer_kernels(name: str) -> list[str]:
    """``<name>_update_output`` and ``_update_grad_input`` of SoftMax or LogSoftMax, from the
    engine's output and gradInput (read from the output) for one sample, over the last axis."""
    spec, forward, gradient = kernel_forms(name)
    # The shift kept 2-D broadcasts as it is: a layer's kernels read it only against arrays.
    arrays = {INPUT: "input", OUTPUT: "output", GRAD_OUTPUT: "grad_output", SHIFT: "shift"}
    blocks = []
    for kernel, args, target, expr, result in (
            ("update_output", "input, ones, output", "output", forward, "output"),
            ("update_grad_input", "output, grad_output, ones, grad_input", "grad_input", gradient, "gradInput")):
        shift = shift_invariant(expr, spec.input.name)
        rows = _in_rows(spec, expr, shift)
        unread = [a for a in rows.free_symbols & set(arrays) - {SHIFT} if arrays[a] not in args.split(", ")]
        if unread:
            raise ValueError(f"{name} {kernel} would read {arrays[unread[0]]}, not one of its arguments")
        lines = _shift_line(shift, keepdims=True) + RowEmitter(target, arrays, {}).assign(rows)
        indices = ", ".join(map(str, spec.indices if target == "output" else _indices(spec)))
        doc = f"{result}[{indices}] = {sp.sstr(expr)}" + ("; x - max(x) for x (the same, proved)" if shift else "")
        blocks.append(_function(f"{name}_{kernel}", args, _docline(doc), lines, target))
    return blocks


def _indices(spec) -> tuple[sp.Symbol, ...]:
    """The indices of gradInput's element (k of dJ/dx[k])."""
    return gradients(spec)[spec.input.name].indices


def _criterion_kernels(name: str, torch: str) -> list[str]:
    """``<name>_update_output`` and ``_update_grad_input`` of a criterion on class targets, from
    the engine's loss and gradInput for one sample with t = a onehot(c) put in.  The batch's
    loss is the sum of its samples' (a carries the averaging); the gradient is a dense part
    and -a at the target, scattered with ``row_offsets + target`` (gradInput is contiguous)."""
    spec, loss, gradient = kernel_forms(name)
    per_sample = loss.diff(TARGET_WEIGHT)
    if not equal(loss, TARGET_WEIGHT * per_sample):
        raise ValueError(f"{torch}: the loss is not a times the loss of an unweighted target")
    delta = next(iter(gradient.atoms(sp.KroneckerDelta)))
    at_target, dense = gradient.coeff(delta), gradient.xreplace({delta: 0})
    if not equal(dense + at_target * delta, gradient) or at_target.free_symbols - {TARGET_WEIGHT}:
        raise ValueError(f"{torch}: the gradient is not a dense part plus a number at the target")

    shift = shift_invariant(loss, spec.input.name)
    rows = _in_rows(spec, per_sample, shift)
    sums = list(rows.atoms(RowSum))
    emitter = RowEmitter("terms", {INPUT: "input", TERMS: "terms"}, dict(_ROWS))
    value_lines, value = emitter.value(rows, "terms", {s: "sums" for s in sums})
    saved = {s: SUMS for s in sums} | {s.args[0]: TERMS for s in sums}
    lines = _shift_line(shift) + (["picked = input[rows, target]"] if rows.has(PICKED) else [])
    lines += value_lines + [f"losses = {value}",
                            "return float(losses.sum()) * factors if factors.__class__ is float "
                            "else float(losses @ factors)"]
    reads = ", ones, terms, sums" if sums else ""
    j = "J = sum over the samples of " + sp.sstr(loss)
    target_doc = " (t = a*onehot(c): class c of the sample, weighing a = factors)"
    blocks = [_function(f"{name}_update_output", f"input, target, rows, factors{reads}",
                        _docline(j + target_doc + ("; x - max(x) for x (the same, proved)" if shift else "")
                                 + ("; keeps terms = exp(x - max(x)), sums = Sum(terms)" if sums else "")),
                        lines)]

    dense_rows = _in_rows(spec, dense, shift_invariant(dense, spec.input.name)).xreplace(saved)
    if INPUT in dense_rows.free_symbols:
        raise ValueError(f"{torch}: its gradient reads the input beyond what forward keeps")
    grad_lines = (["grad_input.fill(0)"] if dense_rows == 0 else
                  RowEmitter("grad_input", {TERMS: "terms"}, dict(_ROWS)).assign(dense_rows))
    scatter = at_target.xreplace({TARGET_WEIGHT: FACTORS})
    op, amount = ("-=", -scatter) if scatter.could_extract_minus_sign() else ("+=", scatter)
    grad_lines.append(f"grad_input.reshape(-1)[row_offsets + target] {op} {KernelPrinter().doprint(amount)}")
    (k,) = _indices(spec)
    doc = f"gradInput[{k}] = {sp.sstr(gradient)}" + target_doc + ("; reads terms, sums of forward" if sums else "")
    blocks.append(_function(f"{name}_update_grad_input",
                            f"target, row_offsets, factors{', terms, sums' if sums else ''}, grad_input",
                            _docline(doc), grad_lines, "grad_input"))
    return blocks


def _classification_kernels() -> list[str]:
    return (_layer_kernels("softmax") + _layer_kernels("logsoftmax")
            + _criterion_kernels("nll", "ClassNLLCriterion") + _criterion_kernels("crossentropy", "CrossEntropyCriterion"))


class PatchPrinter(KernelPrinter):
    """numpy code for the convolution's results over a batch of patch matrices: the weight
    as a matrix (``weights``, O x C kH kW), the patches and the gradient one matrix a
    sample (``columns``, ``grad_matrices``: a leading batch axis that matmul broadcasts)."""

    NAMES = {"W": "weights", "x": "columns", "g": "grad_matrices", "b": "bias"}

    def _print_MatrixSymbol(self, expr):
        return self.NAMES[expr.name]

    def _print_Transpose(self, expr):
        if expr.arg.name == "W":
            return "weights.T"
        return f"xp.swapaxes({self._print(expr.arg)}, 1, 2)"  # each sample's matrix transposed

    def _print_MatMul(self, expr):
        left, right = expr.args
        if isinstance(right, sp.OneMatrix) and right.shape[1] == 1:  # g 1: the sums along each row
            return f"{self._print(left)}.sum(axis=2)"
        if isinstance(right, sp.OneMatrix):  # b 1^T: b in every column, by broadcasting
            return f"{self._print(left)}[:, None]"
        return f"{self._print(left)} @ {self._print(right)}"


def _convolution_kernels() -> list[str]:
    """SpatialConvolution's products over the patches from the engine's results for one sample
    (``patch_results``); a batch applies them sample by sample (matmul broadcasts over the
    leading axis) and sums the parameters' gradients over the samples. The patches
    themselves (im2col and col2im) are ``derive.nn._patches``."""
    forms, printer = patch_results(), PatchPrinter()
    product, rest = _product_and_rest(forms["output"])
    left, right = _matmul_args(product, printer)
    setup = ["O = weight.shape[0]", "weights = weight.reshape(O, -1)"]
    forward = _function(
        "convolution_update_output", "columns, weight, bias, output",
        _doc("output[s] =", forms["output"]) + " for each sample s (x = its patches, W as a matrix, "
        "1 a row of ones)",
        setup + ["output_matrices = output.reshape(output.shape[0], O, -1)",
                 f"xp.matmul({left}, {right}, out=output_matrices)"]
        + [f"output_matrices += {printer.doprint(term)}" for term in rest], "output")
    product, rest = _product_and_rest(forms["gradInput"])
    if rest:
        raise ValueError(f"cannot compile gradInput = {forms['gradInput']}: expected one matrix product")
    left, right = _matmul_args(product, printer)
    backward = _function(
        "convolution_update_grad_input",
        "grad_output, weight, kH, kW, dH, dW, padH, padW, grad_columns, grad_input",
        _doc("gradColumns[s] =", forms["gradInput"]) + " for each sample s, then col2im into gradInput",
        setup + ["grad_matrices = grad_output.reshape(grad_output.shape[0], O, -1)",
                 f"xp.matmul({left}, {right}, out=grad_columns)",
                 "return fold(grad_columns, grad_output.shape, kH, kW, dH, dW, padH, padW, grad_input)"])
    lines = ["grad_matrices = grad_output.reshape(grad_output.shape[0], grad_output.shape[1], -1)"]
    for target, name in (("grad_weight", "gradWeight"), ("grad_bias", "gradBias")):
        lines += [f"gradient = ({printer.doprint(forms[name])}).sum(axis=0)  # summed over the samples",
                  "if scale != 1:",
                  "    gradient *= scale",
                  f"{target} += gradient.reshape({target}.shape)",
                  "del gradient  # freed before the next temporary is made"]
    accumulate = _function(
        "convolution_acc_grad_parameters", "columns, grad_output, scale, grad_weight, grad_bias",
        _doc("gradWeight += scale * sum_s", forms["gradWeight"]) + "; "
        + _doc("gradBias += scale * sum_s", forms["gradBias"]), lines[:-1])
    return [forward, backward, accumulate]


def kernels_source() -> str:
    """The source of ``derive/nn/_kernels.py``: SoftMax, LogSoftMax, ClassNLLCriterion and
    CrossEntropyCriterion from the layer engine's results for their one-expression specs,
    SpatialConvolution's from its patch results. (Linear, Tanh, Sigmoid, ReLU, MSECriterion and
    BatchNormalization are generated from the catalogue:
    derive/nn/_catalogue.py.)"""
    blocks = _classification_kernels() + _convolution_kernels()
    header = (
        "# generated by `derive compile` — do not edit.\n"
        '"""Kernels of derive.nn, compiled from the matrix-form results of the engine.\n\n'
        "Names follow the specs: W is the weight (out x in), x (X for a batch) the input,\n"
        "g (G) the gradient of the loss with respect to the output.  Vectors are 1-D arrays.\n"
        "A kernel writes into the array it is given and returns it, or accumulates into the\n"
        "gradients it is given (acc_grad_parameters) and returns None.  Element-wise kernels\n"
        "serve single samples and batches alike.\n\n"
        "The classification kernels work over the last axis (the classes) of one sample or of\n"
        "a batch, one sample a row; a sum over the classes is a product with ``ones``.  The\n"
        "criteria's take a batch (one sample is a batch of one) and class indices: the target\n"
        "is t = a onehot(c), c the class and a = ``factors`` its weight (averaged: divided by\n"
        "the total weight), ``rows`` = arange(batch), ``row_offsets`` = rows * n.\n\n"
        "SpatialConvolution's take a batch of patch matrices (im2col, derive.nn._patches): x\n"
        "the patches of one sample (C kH kW, oH oW), W the weight as a matrix (O, C kH kW).\n\n"
        "Each kernel runs on the array library of its arguments, numpy or CuPy: ``xp`` is\n"
        "the one ``namespace`` finds for its first argument.\n"
        '"""\n\n'
        "import numpy as np\n\n"
        "from derive.nn._backend import namespace\n"
        "from derive.nn._patches import fold\n\n"
        "ndarray = np.ndarray\n"
    )
    return header + "\n\n" + "\n\n".join(blocks)

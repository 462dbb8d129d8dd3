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

from .symbolic import batchnorm as bn

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


def _sum_name(total: bn.BatchSum) -> tuple[str, list[sp.Symbol]]:
    """(sum_g_u, [g, u]): the row a kernel keeps a sum over the batch in, and its factors."""
    (summand,) = total.args
    factors = [f.base if f.is_Pow else f for f in sp.Mul.make_args(summand) for _ in range(f.exp if f.is_Pow else 1)]
    return "_".join(["sum"] + [f.name for f in factors]), factors


def _named_sums(expr: sp.Expr) -> sp.Expr:
    """``expr`` with each BatchSum the row its kernel keeps it in."""
    return expr.replace(lambda e: isinstance(e, bn.BatchSum), lambda e: sp.Symbol(_sum_name(e)[0], real=True))


def _batch_sums(expr: sp.Expr, arrays: dict[sp.Symbol, str]) -> list[str]:
    """Statements computing each BatchSum of ``expr`` into its row: the sum over the batch axis
    of one array, or of the product of two by einsum (no temporary of the batch's size)."""
    lines = []
    for total in sorted(expr.atoms(bn.BatchSum), key=sp.default_sort_key):
        name, factors = _sum_name(total)
        if len(factors) == 1:
            lines.append(f"{name} = {arrays[factors[0]]}.sum(axis=0)")
        elif len(factors) == 2:
            lines.append(f'{name} = xp.einsum("ni,ni->i", {arrays[factors[0]]}, {arrays[factors[1]]})')
        else:
            raise ValueError(f"cannot compile {total}: a sum over the batch of more than two arrays")
    return lines


def _rows(expr: sp.Expr, rows: dict[sp.Symbol, str]) -> str:
    """One number a feature, printed with the kernel's names of the statistics and parameters."""
    return KernelPrinter().doprint(expr.xreplace({s: sp.Symbol(code) for s, code in rows.items()}))


def _affine_lines(expr: sp.Expr, target: str, rows: dict[sp.Symbol, str]) -> list[str]:
    """In-place statements writing ``expr`` = a g + b u + c (a, b, c one number a feature) into
    ``target``, which holds u already where b is not 0: target = a (g + (b/a) u + c/a), one
    pass over the batch a step and no temporary of its size."""
    expr = sp.expand(expr)
    a, b = expr.coeff(bn.G), expr.coeff(bn.U)
    c = sp.expand(expr - a * bn.G - b * bn.U)
    if (a.free_symbols | b.free_symbols | c.free_symbols) & {bn.G, bn.U}:
        raise ValueError(f"cannot compile {expr}: not affine in g and u")

    def add(term: sp.Expr) -> list[str]:
        if term == 0:
            return []
        op, term = ("-=", -term) if term.could_extract_minus_sign() else ("+=", term)
        return [f"{target} {op} {_rows(term, rows)}"]

    def scale(term: sp.Expr) -> list[str]:
        return [] if term == 1 else [f"{target} *= {_rows(term, rows)}"]
    if a == 0:
        return scale(b) + add(c)
    if b == 0 and c == 0:
        return [f"xp.multiply(grad_output, {_rows(a, rows)}, out={target})"]
    if b == 0:
        raise ValueError(f"cannot compile {expr}: no u in the target to write over")
    return scale(sp.cancel(b / a)) + [f"{target} += grad_output"] + add(sp.cancel(c / a)) + scale(a)


def _without_weight(expr: sp.Expr, target: str, rows: dict[sp.Symbol, str]) -> list[str]:
    """``_affine_lines`` of ``expr``, and of it with gamma = 1 and beta = 0 when weight is None."""
    affine, plain = (_affine_lines(e, target, rows) for e in (expr, expr.xreplace({bn.GAMMA: 1, bn.BETA: 0})))
    if affine == plain:
        return affine
    common = next((k for k, (p, q) in enumerate(zip(plain, affine)) if p != q), min(len(plain), len(affine)))
    return (affine[:common] + ["if weight is None:"] + [f"    {line}" for line in plain[common:]]
            + ["else:"] + [f"    {line}" for line in affine[common:]])


def _batchnorm_kernels() -> list[str]:
    """BatchNormalization's kernels from the engine's results (``batchnorm.kernel_forms``): the
    training forward, the compact dJ/dx, dJ/dgamma and dJ/dbeta; after evaluate() the same
    forward with the running statistics in place of the batch's, and its gradient at those
    fixed statistics.  The running statistics' update, saving mean and invstd, and scale are
    Torch's bookkeeping, emitted as they are."""
    forms = bn.kernel_forms()
    x = sp.Symbol("x", real=True)
    if forms["mean"] != bn.BatchSum(x) / bn.N or forms["var"] != bn.BatchSum(bn.U**2) / bn.N:
        raise ValueError(f"BatchNormalization: cannot compile the statistics {forms['mean']}, {forms['var']}")
    if forms["invstd"] != 1 / sp.sqrt(bn.VAR + bn.EPS):
        raise ValueError(f"BatchNormalization: cannot compile invstd = {forms['invstd']}")
    output, grad_input = forms["output"], forms["gradInput"]
    weight_sum, bias_sum = forms["gradWeight"], forms["gradBias"]
    params = {bn.GAMMA: "weight", bn.BETA: "bias", bn.N: "n"}
    train = {**params, bn.MEAN: "save_mean", bn.INVSTD: "save_invstd"}
    evaluate = {**params, bn.MEAN: "running_mean", bn.INVSTD: "invstd"}
    fixed = sp.diff(output, bn.U) * bn.G  # the statistics are numbers after evaluate()
    where = ("u = x - mean, BatchSum a sum over the batch (n = 1..N), one number a feature; "
             "gamma = weight, beta = bias (1 and 0 when weight is None)")
    statistics = (f"mean = {sp.sstr(forms['mean'])}; var = {sp.sstr(forms['var'])}; "
                  f"invstd = {sp.sstr(forms['invstd'])}")
    running = {bn.VAR: sp.Symbol("running_var"), bn.EPS: bn.EPS}
    invstd_evaluate = f"invstd = {_rows(forms['invstd'], {bn.VAR: 'running_var', bn.EPS: 'eps'})}"
    invstd_doc = f"invstd = {sp.sstr(forms['invstd'].xreplace(running))}"

    forward_train = _function(
        "batchnorm_update_output_train",
        "input, weight, bias, eps, momentum, running_mean, running_var, save_mean, save_invstd, output",
        _docline(f"{statistics}; output = {sp.sstr(output)} ({where}); running_mean = (1 - momentum) "
                 "running_mean + momentum mean; running_var = (1 - momentum) running_var + momentum N/(N - 1) var"),
        ["n = input.shape[0]",
         "xp.mean(input, axis=0, out=save_mean)",
         "xp.subtract(input, save_mean, out=output)"]
        + _batch_sums(forms["var"], {bn.U: "output"}) + [f"var = {_rows(_named_sums(forms['var']), params)}",
         "xp.add(var, eps, out=save_invstd)",
         "xp.sqrt(save_invstd, out=save_invstd)",
         'with np.errstate(divide="ignore"):  # 1/0 = inf, replaced by 0 below (CuPy does not warn)',
         "    xp.reciprocal(save_invstd, out=save_invstd)",
         "if eps == 0:",
         "    # Torch7: a constant feature with eps = 0 normalises to 0, not to 0/0.",
         "    save_invstd[var == 0] = 0"]
        + _without_weight(output, "output", train)
        + ["running_mean *= 1 - momentum",
           "running_mean += momentum * save_mean",
           "running_var *= 1 - momentum",
           "var *= momentum * n / (n - 1)  # Torch's running variance is unbiased",
           "running_var += var"],
        "output")
    forward_evaluate = _function(
        "batchnorm_update_output_evaluate", "input, weight, bias, eps, running_mean, running_var, output",
        _docline(f"output = {sp.sstr(output)}, training's formula with the running statistics in place of "
                 f"the batch's: u = x - running_mean, {invstd_doc}; "
                 "gamma = weight, beta = bias (1 and 0 when weight is None)"),
        [invstd_evaluate, "xp.subtract(input, running_mean, out=output)"]
        + _without_weight(output, "output", evaluate), "output")

    sum_lines = _batch_sums(grad_input, {bn.U: "grad_input", bn.G: "grad_output"})
    rows, weight_rows, bias_rows = (_named_sums(e) for e in (grad_input, weight_sum, bias_sum))
    backward_train = _function(
        "batchnorm_update_grad_input_train", "input, grad_output, weight, save_mean, save_invstd, grad_input",
        _docline(f"gradInput = {sp.sstr(grad_input)}, the compact form proved equal to the engine's dJ/dx "
                 f"({where}; mean and invstd saved by the training forward). Returns (dJ/dgamma, dJ/dbeta) "
                 f"= ({sp.sstr(weight_sum)}, {sp.sstr(bias_sum)}): accGradParameters' sums, computed on the way."),
        ["n = input.shape[0]", "xp.subtract(input, save_mean, out=grad_input)"] + sum_lines
        + _without_weight(rows, "grad_input", train)
        + [f"return {_rows(weight_rows, train)}, {_rows(bias_rows, train)}"])
    backward_evaluate = _function(
        "batchnorm_update_grad_input_evaluate", "grad_output, weight, eps, running_var, grad_input",
        _docline(f"gradInput = {sp.sstr(fixed)}: the gradient of training's output = {sp.sstr(output)} "
                 f"with the running statistics in place of the batch's, fixed numbers ({invstd_doc})"),
        [invstd_evaluate] + _without_weight(fixed, "grad_input", evaluate), "grad_input")

    sums_lines = _batch_sums(weight_sum + bias_sum, {bn.U: "(input - mean)", bn.G: "grad_output"})
    grad_sums = _function(
        "batchnorm_grad_sums", "input, grad_output, mean, invstd",
        _docline(f"(dJ/dgamma, dJ/dbeta) = ({sp.sstr(weight_sum)}, {sp.sstr(bias_sum)}), u = x - mean, "
                 "with the statistics given (the saved or the running ones)"),
        sums_lines + [f"return {_rows(weight_rows, {bn.INVSTD: 'invstd'})}, {_rows(bias_rows, {})}"])
    accumulate = _function(
        "batchnorm_acc_grad_parameters", "grad_weight, grad_bias, weight_sum, bias_sum, scale",
        "gradWeight += scale * dJ/dgamma; gradBias += scale * dJ/dbeta (the sums given)",
        ["if scale != 1:", "    weight_sum *= scale", "    bias_sum *= scale",
         "grad_weight += weight_sum", "grad_bias += bias_sum"])
    return [forward_train, forward_evaluate, backward_train, backward_evaluate, grad_sums, accumulate]


def kernels_source() -> str:
    """The source of ``derive/nn/_kernels.py``: BatchNormalization's from its spec's results and
    the compact backward proved equal to them.  (Every other derive.nn
    module is generated from the catalogue: derive/nn/_catalogue.py.)"""
    blocks = _batchnorm_kernels()
    header = (
        "# generated by `derive compile` — do not edit.\n"
        '"""Kernels of derive.nn, compiled from the matrix-form results of the engine.\n\n'
        "Names follow the specs: W is the weight (out x in), x (X for a batch) the input,\n"
        "g (G) the gradient of the loss with respect to the output.  Vectors are 1-D arrays.\n"
        "A kernel writes into the array it is given and returns it, or accumulates into the\n"
        "gradients it is given (acc_grad_parameters) and returns None.  Element-wise kernels\n"
        "serve single samples and batches alike.\n\n"
        "BatchNormalization's take a batch (N, D), one sample a row; its statistics, gamma and\n"
        "beta are one number a feature (shape (D,)) and BatchSum sums over the batch.\n\n"
        "Each kernel runs on the array library of its arguments, numpy or CuPy: ``xp`` is\n"
        "the one ``namespace`` finds for its first argument.\n"
        '"""\n\n'
        "import numpy as np\n\n"
        "from derive.nn._backend import namespace\n\n"
        "ndarray = np.ndarray\n"
    )
    return header + "\n\n" + "\n\n".join(blocks)

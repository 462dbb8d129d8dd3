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

from .symbolic.convolution import patch_results

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
    """The source of ``derive/nn/_kernels.py``: SpatialConvolution's, from its patch results.
    (Every other derive.nn module is generated from the catalogue: derive/nn/_catalogue.py.)"""
    blocks = _convolution_kernels()
    header = (
        "# generated by `derive compile` — do not edit.\n"
        '"""Kernels of derive.nn, compiled from the matrix-form results of the engine.\n\n'
        "Names follow the specs: W is the weight (out x in), x (X for a batch) the input,\n"
        "g (G) the gradient of the loss with respect to the output.  Vectors are 1-D arrays.\n"
        "A kernel writes into the array it is given and returns it, or accumulates into the\n"
        "gradients it is given (acc_grad_parameters) and returns None.  Element-wise kernels\n"
        "serve single samples and batches alike.\n\n"
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

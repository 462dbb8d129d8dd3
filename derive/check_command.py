"""``derive check FILE.py:CLASS``: import a user's module from its file and run derive.nn.check on it.

Constructor arguments come from ``--args`` as int, float or bool literals (or
NAME=literal), read by a whitelist, never evaluated. ``--against EXPR`` builds
derive's own module for the expression with the layer engine (``derive.module_source``),
gives it the user's parameter values by position, and compares the two; a
mismatch prints the formula the entry should follow (``derive.layer``'s result).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import tempfile
from pathlib import Path

from .cli import _shape as named_shape  # `derive layer`'s --shape NAME=D1,D2, the same here
from .nn.check import DEFAULT_BATCH, TARGET_KINDS, CheckError, check, load_class, parameter_names
from .nn.check_table import is_table, table_check

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_]\w*")


def shape(text: str) -> tuple[int, ...]:
    """'3' or '2,6': positive integers separated by commas."""
    parts = text.split(",")
    if not all(re.fullmatch(r"\d+", p.strip()) and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return tuple(int(p) for p in parts)


def literal(text: str):
    """An int, float or bool literal (true/false, any case); anything else is refused, never evaluated."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise argparse.ArgumentTypeError(f"expected an int, float or bool literal (or NAME=literal), got {text!r}")


def constructor_argument(text: str):
    """A positional literal, or ('name', literal) for NAME=literal."""
    name, equals, value = text.partition("=")
    if equals and _NAME.fullmatch(name):
        return name, literal(value)
    return literal(text)


def positive(text: str) -> int:
    """--batch's N: a batch holds at least one sample (--no-batch checks one sample only)."""
    if not re.fullmatch(r"\d+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r} (--no-batch checks "
                                         "one sample only)")
    return int(text)


def non_negative(text: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def positive_float(text: str) -> float:
    if not _FLOAT.fullmatch(text) or float(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return float(text)


def add_check_parser(commands) -> None:
    """Add ``derive check`` to the subcommands of ``derive``."""
    check_ = commands.add_parser(
        "check",
        help="test a module of yours the way Torch's own tests did, and say where it is wrong",
        description="Import CLASS from FILE.py (a derive.nn Module or Criterion subclass, or a "
        "torch.autograd.Function or torch.nn.Module subclass) and run "
        "Torch7's module tests on it in float64: Jacobians against central differences (one "
        "sample and a batch), accGradParameters with scale, zeroGradParameters, updateParameters, "
        "the batch against its samples, backward twice, input, gradOutput and output unchanged, a pickle "
        "round trip. A failed check lists its worst entries and names the pattern when it finds one. "
        "Exit status: 0 all pass, 1 a check fails, 2 bad usage.",
    )
    check_.add_argument("TARGET", metavar="FILE.py:CLASS", help="the file and the class in it")
    check_.add_argument("--input-shape", type=shape, required=True, metavar="D1[,D2...]", action="append",
                        help="the shape of one sample (a batch adds a leading axis); a table module "
                        "(several inputs, as the RNN, LSTM and GRU steps) takes one --input-shape per input")
    check_.add_argument("--batch", type=positive, default=DEFAULT_BATCH, metavar="N",
                        help=f"samples in the batch checks (default {DEFAULT_BATCH}; --no-batch: one sample only)")
    check_.add_argument("--no-batch", dest="batch", action="store_const", const=0,
                        help="check one sample only (no batch checks)")
    check_.add_argument("--args", nargs="+", type=constructor_argument, default=[], metavar="VALUE",
                        help="constructor arguments: int, float or bool literals, or NAME=literal")
    check_.add_argument("--format", choices=("text", "json"), default="text", help="the report's format")
    check_.add_argument("--seed", type=non_negative, default=0, help="seed of the random inputs (default 0)")
    check_.add_argument("--precision", type=positive_float, default=1e-5,
                        help="pass when the largest error is below this (Torch's rule, default 1e-5)")
    check_.add_argument("--atol", type=positive_float, help="PyTorch's rule instead: |got - expected| <= "
                        "atol + rtol |expected| (gradcheck's defaults: 1e-5 and 1e-3)")
    check_.add_argument("--rtol", type=positive_float, help="see --atol")
    check_.add_argument("--target-shape", type=shape, metavar="D1[,D2...]",
                        help="a criterion's target shape for one sample "
                        "(default: the input's; one index for class targets)")
    check_.add_argument("--target-kind", choices=TARGET_KINDS, default="real",
                        help="a criterion's target: real U[-2,2], binary 0/1, or class indices 0..C-1")
    check_.add_argument("--against", metavar="EXPR",
                        help="also compare with derive's module for EXPR (as `derive layer` takes it)")
    check_.add_argument("--shape", type=named_shape, action="append", default=[], metavar="NAME=D1[,D2...]",
                        help="the shape of an array of EXPR, or of an argument of a torch Function's forward "
                        "(the input's defaults to --input-shape)")
    check_.add_argument("--input", default="x", metavar="NAME", help="the input's name in EXPR (default x)")
    check_.add_argument("--target", metavar="NAME", help="a criterion's target name in EXPR")


def run_check(args: argparse.Namespace) -> int:
    """Run ``derive check``; exit status 0 all pass, 1 a check fails (usage errors exit 2 on their own)."""
    shapes, args.input_shape = args.input_shape, args.input_shape[0]
    try:
        module = _instantiate(args)
        if is_table(module):
            if args.against is not None or args.target is not None:
                raise CheckError("--against and --target are for modules of one input and one output, "
                                 f"not the table module {type(module).__name__}")
            report = table_check(module, shapes, batch=args.batch, seed=args.seed, precision=args.precision,
                                 atol=args.atol, rtol=args.rtol)
            sys.stdout.write(report.to_json() + "\n" if args.format == "json" else str(report))
            return 0 if report.passed else 1
        if len(shapes) > 1:
            raise CheckError(f"{type(module).__name__} takes one input: give one --input-shape, not {len(shapes)}")
        reference = formulas = None
        if args.against is not None:
            reference, formulas = _reference(args)
        report = check(module, args.input_shape, batch=args.batch, seed=args.seed, precision=args.precision,
                       atol=args.atol, rtol=args.rtol, target_shape=args.target_shape,
                       target_kind=args.target_kind, reference=reference, reference_formulas=formulas)
    except (CheckError, ValueError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        sys.stderr.write(f"derive check: error: {message}\n")
        return 2
    sys.stdout.write(report.to_json() + "\n" if args.format == "json" else str(report))
    return 0 if report.passed else 1


def _instantiate(args: argparse.Namespace):
    path, colon, name = args.TARGET.rpartition(":")
    if not colon or not path or not _NAME.fullmatch(name):
        raise CheckError(f"expected FILE.py:CLASS, got {args.TARGET!r}")
    cls = load_class(path, name)
    positional = [a for a in args.args if not isinstance(a, tuple)]
    keywords = dict(a for a in args.args if isinstance(a, tuple))
    if "torch" in sys.modules:
        from .nn.torch_target import TorchCriterion, TorchModule, is_torch_target

        if is_torch_target(cls) and issubclass(cls, sys.modules["torch"].autograd.Function):
            if _is_criterion(list(inspect.signature(cls.forward).parameters)[1:], args):
                return TorchCriterion.of(cls, f"{cls.__name__} (torch.autograd.Function, a criterion)")
            return _function(cls, args)
    try:
        module = cls(*positional, **keywords)
    except Exception as error:
        shown = ", ".join([repr(a) for a in positional] + [f"{k}={v!r}" for k, v in keywords.items()])
        raise CheckError(f"{name}({shown}) raised {type(error).__name__}: {error}") from None
    if "torch" in sys.modules and isinstance(module, sys.modules["torch"].nn.Module):
        if _is_criterion(list(inspect.signature(module.forward).parameters), args):
            return TorchCriterion.of(module, f"{type(module).__name__} (torch.nn.Module, a criterion)")
        return TorchModule.of_module(module)
    return module


def _is_criterion(names: list[str], args: argparse.Namespace) -> bool:
    """A torch target is a criterion when the argument after its input is the target: named by
    --target, or ``target`` or ``t``, and given no --shape (it is not a parameter)."""
    shaped = {name for name, _ in args.shape}
    target = args.target or next((n for n in ("target", "t") if n in names[1:2]), None)
    return len(names) == 2 and names[1] == target and target not in shaped


def _function(cls, args: argparse.Namespace):
    """A torch.autograd.Function: forward(ctx, input, *parameters), each parameter's shape from
    --shape NAME=... (or from --against's expression), its values drawn from U[-1, 1]."""
    import numpy as np

    from .nn.torch_target import TorchModule

    names = list(inspect.signature(cls.forward).parameters)[2:]  # after ctx and the input
    shapes = dict(args.shape)
    missing = [n for n in names if n not in shapes]
    if missing and args.against is not None:
        from .symbolic.language import parse

        try:
            spec = parse(args.against, {**shapes, args.input: args.input_shape}, input=args.input,
                         target=args.target)
        except (ValueError, TypeError, KeyError) as error:
            raise CheckError(f"--against: {error}") from None
        shapes.update({n: spec.concrete(spec.arrays[n].shape) for n in missing if n in spec.arrays})
    missing = [n for n in names if n not in shapes]
    if missing:
        raise CheckError(f"{cls.__name__}.forward takes {', '.join(names)} after the input: give the shape of "
                         f"each with --shape NAME=D1[,D2...] (missing: {', '.join(missing)})")
    rng = np.random.default_rng(args.seed + 1)
    return TorchModule.of_function(cls, names, [rng.uniform(-1, 1, shapes[n]) for n in names])


def _reference(args: argparse.Namespace):
    """derive's module for --against (built by the layer engine) and the formula of each gradient."""
    import derive

    shapes = {}
    for name, dims in args.shape:
        if name in shapes:
            raise CheckError(f"--shape {name} given twice")
        shapes[name] = dims
    if shapes.setdefault(args.input, args.input_shape) != args.input_shape:
        raise CheckError(f"--shape {args.input}={shapes[args.input]} differs from "
                         f"--input-shape {args.input_shape}")
    if args.target is not None:
        shapes.setdefault(args.target, args.target_shape or args.input_shape)
    try:
        source = derive.module_source(args.against, shapes, input=args.input, target=args.target,
                                      name="Reference")
        derivation = derive.layer(args.against, shapes, input=args.input, target=args.target)
    except (ValueError, TypeError, KeyError) as error:
        raise CheckError(f"--against: {error}") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "derive_reference.py"
        path.write_text(source, encoding="utf-8")
        reference = load_class(path, "Reference")(rng=0)
    params = parameter_names(reference)[0] if hasattr(reference, "parameters") else []
    if args.batch:
        try:
            batched = derive.layer(args.against, shapes, input=args.input, target=args.target, batch=args.batch)
        except (ValueError, TypeError, KeyError) as error:
            raise CheckError(f"--against: {error}") from None
    else:
        batched = derivation
    return reference, ([_formula(derivation, name, False) for name in [args.input, *params]],
                       [_formula(batched, name, True, params) for name in [args.input, *params]])


def _formula(derivation, name: str, batch: bool, params: list[str] = ()) -> str | None:
    """The result for array ``name`` (its batch form) as text: ``dJ/dW = g*x.T`` in matrix
    form, or ``dJ/dW[k, l] = ...`` in index form (the element as the derivation writes it)."""
    import sympy as sp
    from sympy.printing.precedence import precedence
    from sympy.printing.str import StrPrinter

    class FormulaPrinter(StrPrinter):
        def _print_HadamardProduct(self, expr) -> str:
            return " (.) ".join(self.parenthesize(arg, precedence(expr)) for arg in expr.args)

    keys = [key for key in derivation.results if key.startswith("dJ/d") and key.endswith(" (batch)") == batch]
    key = f"dJ/d{name}" + (" (batch)" if batch else "")
    if key not in keys and batch and name not in params:
        # The batch input has a name of its own (X for x): the batch result that is no parameter's.
        others = [k for k in keys if k not in {f"dJ/d{p} (batch)" for p in params}]
        key = others[0] if len(others) == 1 else key
    result = derivation.results.get(key)
    if result is None:
        return None
    variable = key[len("dJ/d"):].removesuffix(" (batch)")
    text = FormulaPrinter().doprint(result.expr)
    said = (["G = gradOutput, a row a sample"] if re.search(r"\bG\b", text) else
            ["g = gradOutput"] if re.search(r"\bg\b", text) else [])
    if not result.expr.atoms(sp.Indexed):
        products = any(isinstance(e, sp.MatMul) and sum(a.is_Matrix for a in e.args) >= 2
                       for e in sp.preorder_traversal(result.expr))
        said += ((["* the matrix product"] if products else []) + (["(.) element-wise"] if "(.)" in text else [])
                 + (["1 a vector of ones"] if re.search(r"\*1\b|\b1\*", text) else []))
        return f"dJ/d{variable} = {text}" + (f"  ({'; '.join(said)})" if said else "")
    element = variable
    for section in derivation.sections:
        if section.title.startswith("Batch: ") != batch:
            continue
        for step in section.steps:
            lhs = step.lhs
            if (isinstance(lhs, sp.Derivative) and str(lhs.expr) == "J" and len(lhs.variables) == 1
                    and isinstance(lhs.variables[0], sp.Indexed) and str(lhs.variables[0].base) == variable):
                element = str(lhs.variables[0])
    return f"dJ/d{element} = {text}  ({'; '.join(said + ['indices count from 1'])})"

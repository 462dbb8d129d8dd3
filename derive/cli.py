"""The ``derive`` command: derive a layer's gradients for given sizes and print them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from . import __version__

FORMATS = ("markdown", "latex", "json")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``derive linear: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or value < 1:  # argparse prefixes "argument NAME: "
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``derive`` (also used to document the CLI on the site)."""
    parser = _Parser(
        prog="derive",
        description="Derive, check and use the gradients of neural-network layers.",
    )
    parser.add_argument("--version", action="version", version=f"derive {__version__}")
    layers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    layers.required = True

    written = _Parser(add_help=False)
    written.add_argument("--format", choices=FORMATS, default="markdown",
                         help="markdown with display math (default), a standalone LaTeX "
                         "document, or JSON")
    written.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    output = _Parser(add_help=False, parents=[written])
    output.add_argument("--batch", type=_positive_int("--batch"), metavar="N",
                        help="also derive the batch case for N samples")
    exported = _Parser(add_help=False)
    exported.add_argument("--export", choices=("torch", "jax"), metavar="FRAMEWORK",
                          help="write the module for PyTorch or JAX (torch or jax) to -o FILE.py instead "
                          "of the derivation, as `derive layer --export` does for its expression")
    exported.add_argument("--name", metavar="CLASS", help="with --export: the class name (default Torch's)")

    linear = layers.add_parser(
        "linear", parents=[output, exported],
        help="derive the gradients of nn.Linear(IN -> OUT)",
        description="Derive the Jacobians and gradients of y = W x + b for nn.Linear(IN -> OUT) "
        "(batch: Y = X W^T + 1 b^T), every displayed equality proved by sympy.",
    )
    linear.add_argument("IN", type=_positive_int("IN"), help="input size (columns of W)")
    linear.add_argument("OUT", type=_positive_int("OUT"), help="output size (rows of W)")
    linear.add_argument("--no-bias", action="store_true", help="the layer without bias (y = W x)")

    for name, formula in (("sigmoid", "1 / (1 + exp(-x))"), ("tanh", "tanh(x)"),
                          ("relu", "max(x, 0)")):
        activation = layers.add_parser(
            name, parents=[output, exported],
            help=f"derive the gradient of nn.{_TORCH_NAMES[name]} on N inputs",
            description=f"Derive the Jacobian and gradient of y = {formula}, element-wise, "
            "for N inputs, every displayed equality proved by sympy.",
        )
        activation.add_argument("N", type=_positive_int("N"), help="number of inputs")

    mse = layers.add_parser(
        "mse", parents=[output, exported],
        help="derive the gradient of nn.MSECriterion on N outputs",
        description="Derive dJ/dx for J = (1/N) sum (x - t)^2 (Torch's sizeAverage), or "
        "the plain sum, every displayed equality proved by sympy.",
    )
    mse.add_argument("N", type=_positive_int("N"), help="number of outputs")
    mse.add_argument("--no-size-average", action="store_true",
                     help="sum the squared differences instead of averaging them")

    sequential = layers.add_parser(
        "sequential", parents=[written, exported],
        help="derive the backward pass of Sequential(Linear, activation, Linear)",
        description="Derive the chain rule through Sequential(Linear(IN -> HIDDEN), ACTIVATION, "
        "Linear(HIDDEN -> OUT)), written as the one expression y = W2 f(W1 x + b1) + b2, every "
        "displayed equality proved by sympy at symbolic sizes.",
    )
    sequential.add_argument("--sizes", nargs=3, type=_positive_int("--sizes"), default=[2, 3, 1],
                            metavar=("IN", "HIDDEN", "OUT"),
                            help="the sizes of the two Linear layers (default: 2 3 1)")
    sequential.add_argument("--activation", choices=tuple(_TORCH_NAMES), default="sigmoid",
                            help="the module between them (default: sigmoid)")

    for name, torch, spec in _CLASSIFICATION:
        classifier = layers.add_parser(
            name, parents=[output, exported],
            help=f"derive the gradient of nn.{torch} on N classes",
            description=f"Derive the gradient of nn.{torch}, written for the layer engine as "
            f"'{spec}' (the target t one-hot), on N classes (a batch averages the samples), "
            "every displayed equality proved by sympy.",
        )
        classifier.add_argument("N", type=_positive_int("N"), help="number of classes")

    layer = layers.add_parser(
        "layer", parents=[output],
        help="derive, prove and compile any layer written as one expression",
        description="Derive the Jacobians and gradients of a layer written as one expression, "
        "in array notation ('y = tanh(W @ x + b)') or index notation "
        "('y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]'), every displayed equality "
        "proved by sympy; or write it as a Torch7-style module (--module).",
    )
    layer.add_argument("EXPR", nargs="?", help="the layer, 'y = ...' (a scalar output 'J = ...' is a "
                       "criterion), or a program: statements one a line or separated by ';'")
    layer.add_argument("--file", metavar="FILE", help="read the layer (a program) from FILE ('-': standard input)")
    layer.add_argument("--outputs", metavar="NAME[,NAME...]",
                       help="a program's outputs (default: the name its last statement defines)")
    layer.add_argument("--intermediates", action=argparse.BooleanOptionalAction, default=None,
                       help="name the intermediates of a one-expression layer (z = W x + b, y = tanh(z)) and "
                       "derive it statement by statement (the default where functions are nested); "
                       "--no-intermediates derives it as one flat expression")
    layer.add_argument("--shape", action="append", default=[], metavar="NAME=D1[,D2,...]",
                       type=_shape, help="the shape of an array (repeat for each; shapes that "
                       "follow from the others may be left out)")
    layer.add_argument("--range", action="append", default=[], metavar="INDEX=N", type=_range, dest="ranges",
                       help="the range of an index no array's shape fixes, as a pooling window's "
                            "(repeat for each: --range p=2 --range q=2)")
    layer.add_argument("--constant", action="append", default=[], metavar="NAME", dest="constants",
                       help="an array that is given, neither learned nor differentiated (a criterion's "
                            "weights); the module takes it as a keyword argument of its constructor")
    layer.add_argument("--weight", metavar="EXPR",
                       help="a criterion's sample weight in the layer language (w[t]): a batch's mean loss "
                            "is divided by the sum of the samples' weights (weighted ClassNLL), not by their number")
    layer.add_argument("--input", default="x", metavar="NAME[,NAME...]",
                       help="the input array (default x), or several: x,h,c (a table module)")
    layer.add_argument("--target", metavar="NAME", help="a criterion's target (not differentiated)")
    layer.add_argument("--module", metavar="FILE.py",
                       help="write a Python module with the layer's class instead of the derivation")
    layer.add_argument("--export", choices=("torch", "jax"), metavar="FRAMEWORK",
                       help="write the layer for PyTorch (autograd.Function + nn.Module) or JAX "
                       "(custom_vjp function + init) instead of the derivation; -o FILE.py")
    layer.add_argument("--name", default="Layer", metavar="CLASS", help="the class name (default Layer)")
    layer.add_argument("--reduction", choices=("mean", "sum"), default="mean",
                       help="a criterion's loss on a batch: the mean of the samples' losses (default) "
                       "or their sum (Torch7's sizeAverage=false); with --module")
    layer.add_argument("--timeout", type=_positive_seconds, default=120.0, metavar="SECONDS",
                       help="stop with an error after SECONDS of deriving (default 120)")

    conv = layers.add_parser(
        "conv", parents=[output],
        help="derive the gradients of nn.SpatialConvolution(IN -> OUT, KWxKH)",
        description="Derive the Jacobians and gradients of nn.SpatialConvolution(IN -> OUT, KWxKH) "
        "on one sample of IN planes of HEIGHT x WIDTH pixels, steps 1 and no padding: "
        "y[c,h,w] = sum(W[c,d,p,q] * x[d,h+p-1,w+q-1], d, p, q) + b[c], every displayed equality "
        "proved by sympy.",
    )
    conv.add_argument("IN", type=_positive_int("IN"), help="input planes (nInputPlane)")
    conv.add_argument("OUT", type=_positive_int("OUT"), help="output planes (nOutputPlane)")
    conv.add_argument("KW", type=_positive_int("KW"), help="kernel width (columns)")
    conv.add_argument("KH", type=_positive_int("KH"), help="kernel height (rows)")
    conv.add_argument("--height", type=_positive_int("--height"), metavar="H",
                      help="input height (default KH + 2)")
    conv.add_argument("--width", type=_positive_int("--width"), metavar="W",
                      help="input width (default KW + 2)")

    batchnorm = layers.add_parser(
        "batchnorm", parents=[output],
        help="derive the gradients of nn.BatchNormalization(N) in training, on --batch B samples",
        description="Derive the Jacobians and gradients of nn.BatchNormalization(N) in training on a "
        "batch of B samples (the statistics couple the samples: the whole batch is the layer's input), "
        "and prove the compact dJ/dx = (1/B) gamma invstd (B g - sum g - xhat sum(g xhat)) and "
        "dJ/dgamma = sum(g xhat) equal to them, by sympy.",
    )
    batchnorm.add_argument("N", type=_positive_int("N"), help="number of features (nOutput)")
    batchnorm.add_argument("--eps", type=float, default=1e-5, help="added to the variance (default 1e-5)")

    compile_ = layers.add_parser(
        "compile",
        help="regenerate the numpy kernels of derive.nn from the derivations",
        description="Regenerate derive/nn/_catalogue.py (or FILE): every derive.nn module of the catalogue, "
        "generated from its entry in derive/catalogue.py through the engine and the one lowering.",
    )
    compile_.add_argument("-o", "--output", metavar="FILE",
                          help="write the modules to FILE instead of derive/nn/_catalogue.py")
    compile_.add_argument("--check", action="store_true",
                          help="exit 1 if the file differs from what would be generated")

    listed = layers.add_parser(
        "list", help="print the catalogue: every Torch7 module and criterion `derive NAME ARGS...` derives",
        description="Print the catalogue (derive/catalogue.py): each module's Torch7 constructor, its "
        "formula at the example's arguments, and the command that derives it. Any of them is "
        "`derive NAME ARGS... [--input-shape D1,D2,...]`, NAME in any case.")
    listed.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON")

    from .check_command import add_check_parser

    add_check_parser(layers)
    return parser


def _catalogue_module(argv: list[str], parser: argparse.ArgumentParser) -> int | None:
    """``derive NAME ARGS...`` for a catalogue module that is not one of today's commands (None otherwise)."""
    from .catalogue_command import known, run

    if not known(argv[0]):
        return None
    written = _Parser(add_help=False)
    written.add_argument("--format", choices=FORMATS, default="markdown",
                         help="markdown with display math (default), a standalone LaTeX document, or JSON")
    written.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    written.add_argument("--batch", type=_positive_int("--batch"), metavar="N",
                         help="also derive the batch case for N samples (one-expression modules)")
    return run(argv[0], argv[1:], [written], _Parser, _render, _emit)


_TORCH_NAMES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
# (command, Torch's module, the engine's expression): kept in step with
# derive.symbolic.classification (a test checks), which the CLI imports only when it runs.
_CLASSIFICATION = (
    ("softmax", "SoftMax", "y = exp(x) / sum(exp(x))"),
    ("logsoftmax", "LogSoftMax", "y = x - log(sum(exp(x)))"),
    ("nll", "ClassNLLCriterion", "J = -sum(t * x)"),
    ("crossentropy", "CrossEntropyCriterion", "J = -sum(t * (x - log(sum(exp(x)))))"),
)


def _positive_seconds(text: str) -> float:
    """--timeout's SECONDS: a positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``W=2,3`` as ('W', (2, 3)), ``w=`` as ('w', ()) (a scalar); parsed by hand, never evaluated."""
    name, sep, dims = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=D1[,D2,...], got {text!r}")
    if not dims.strip():
        return name, ()
    try:
        values = tuple(int(d, 10) for d in dims.split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integer sizes in {text!r}")
    return name, values


def _range(text: str) -> tuple[str, int]:
    """``q=3`` as ('q', 3); parsed by hand, never evaluated."""
    name, sep, size = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected INDEX=N, got {text!r}")
    try:
        value = int(size, 10)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer range in {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``derive`` console script; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        if argv and argv[0] not in commands and not argv[0].startswith("-"):
            if argv[0].lower() in commands:  # names are case-insensitive: `derive Linear 2 3`
                argv[0] = argv[0].lower()
            else:
                status = _catalogue_module(argv, parser)
                if status is not None:
                    return status
        args = parser.parse_args(argv)
        return _run(args, parser)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT, nothing written
        sys.stderr.write(f"{parser.prog} {argv[0] if argv else ''}: interrupted\n".replace(" :", ":"))
        return 130


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "list":
        from .catalogue_command import listing

        return _emit(listing(args.format), None, f"{parser.prog} list", parser)
    if args.command == "compile":
        return _compile(args, parser)
    if args.command == "layer":
        return _layer(args, parser)
    if args.command == "conv":
        return _conv(args, parser)
    if args.command == "batchnorm":
        return _batchnorm(args, parser)
    if args.command == "check":
        from .check_command import run_check

        return run_check(args)
    if getattr(args, "export", None):
        return _export(args, parser)
    return _emit(_render(_derive(args), args.format), args.output,
                 f"{parser.prog} {args.command}", parser)


def _layer(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """derive layer: the derivation, or with --module the module's source."""
    import derive

    shapes = {}
    for name, dims in args.shape:
        if name in shapes:
            parser.exit(2, f"{parser.prog} layer: error: --shape {name} given twice\n")
        shapes[name] = dims
    expr = _layer_text(args, parser)
    extra = {} if args.outputs is None else {"outputs": args.outputs}
    ranges = {}
    for name, size in args.ranges:
        if name in ranges:
            parser.exit(2, f"{parser.prog} layer: error: --range {name} given twice\n")
        ranges[name] = size
    extra.update({"ranges": ranges, "constants": tuple(args.constants)} if ranges or args.constants else {})
    extra.update({"weight": args.weight} if args.weight is not None else {})
    from .symbolic.bounds import bounded

    try:
        # One time limit for deriving and printing; nothing is written before both are done.
        with bounded(derive._what(expr), args.timeout):
            if args.reduction != "mean" and not args.module:
                raise ValueError("--reduction is for --module (the generated criterion's batch loss)")
            if args.export:
                text = derive.export_source(expr, shapes, framework=args.export, input=args.input,
                                            target=args.target, name=args.name,
                                            **({"outputs": args.outputs} if args.outputs else {}))
            elif args.module:
                text = derive.module_source(expr, shapes, input=args.input, target=args.target,
                                            name=args.name, intermediates=args.intermediates,
                                            reduction=args.reduction, **extra)
            else:
                text = _render(derive.layer(expr, shapes, input=args.input, target=args.target,
                                            batch=args.batch, intermediates=args.intermediates, **extra),
                               args.format)
    except (ValueError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        parser.exit(2, f"{parser.prog} layer: error: {message}\n")
    return _emit(text, args.module or args.output, f"{parser.prog} layer", parser)


def _layer_text(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The layer's text: EXPR, or the file --file names ('-': standard input), not both."""
    if (args.EXPR is None) == (args.file is None):
        parser.exit(2, f"{parser.prog} layer: error: give the layer as EXPR or with --file, "
                       f"{'not both' if args.EXPR is not None else 'one of them'}\n")
    if args.EXPR is not None:
        return args.EXPR
    try:
        if args.file == "-":
            return sys.stdin.read()
        with open(args.file, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        parser.exit(2, f"{parser.prog} layer: error: cannot read {args.file!r}: {reason}\n")


def _conv(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """derive conv: the engine's derivation of nn.SpatialConvolution (steps 1, no padding)."""
    from .symbolic.convolution import convolution

    height = args.height if args.height is not None else args.KH + 2
    width = args.width if args.width is not None else args.KW + 2
    try:
        derivation = convolution(args.IN, args.OUT, args.KW, args.KH, height, width, batch=args.batch)
    except ValueError as error:
        parser.exit(2, f"{parser.prog} conv: error: {error}\n")
    return _emit(_render(derivation, args.format), args.output, f"{parser.prog} conv", parser)


def _batchnorm(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """derive batchnorm: the engine's derivation of nn.BatchNormalization in training, compact forms proved."""
    if args.batch is None or args.batch < 2:
        parser.exit(2, f"{parser.prog} batchnorm: error: the statistics run over a batch: "
                       f"give --batch B with B >= 2\n")
    if not 0 < args.eps < float("inf"):
        parser.exit(2, f"{parser.prog} batchnorm: error: --eps must be a positive number, got {args.eps!r}\n")
    from .symbolic.batchnorm import batchnorm

    return _emit(_render(batchnorm(args.N, args.batch, args.eps), args.format), args.output,
                 f"{parser.prog} batchnorm", parser)


def _export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``derive NAME ARGS --export FRAMEWORK``: the catalogue module's expression, exported."""
    import derive
    from .symbolic import specs

    prog = f"{parser.prog} {args.command}"
    if getattr(args, "batch", None) is not None:
        parser.exit(2, f"{prog}: error: --batch has no meaning with --export (the exported module "
                       "takes one sample or a batch)\n")
    target = None
    if args.command == "linear":
        expr, shapes, name = (specs.LINEAR_NO_BIAS if args.no_bias else specs.LINEAR), \
            {"x": (args.IN,), "W": (args.OUT, args.IN)}, "Linear"
    elif args.command in _TORCH_NAMES:
        expr, shapes, name = specs.ACTIVATION_SPECS[args.command], {"x": (args.N,)}, _TORCH_NAMES[args.command]
    elif args.command == "mse":
        expr, shapes, name, target = specs.mse_expression(not args.no_size_average), {"x": (args.N,)}, \
            "MSECriterion", "t"
    elif args.command == "sequential":
        n_in, n_hidden, n_out = args.sizes
        expr, name = specs.sequential_expression(args.activation), "Sequential"
        shapes = {"x": (n_in,), "W1": (n_hidden, n_in), "W2": (n_out, n_hidden)}
    else:
        _, name, expr = next(c for c in _CLASSIFICATION if c[0] == args.command)
        shapes, target = {"x": (args.N,)}, ("t" if expr.startswith("J") else None)
    try:
        text = derive.export_source(expr, shapes, framework=args.export, target=target, name=args.name or name)
    except (ValueError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        parser.exit(2, f"{prog}: error: {message}\n")
    return _emit(text, args.output, prog, parser)


def _derive(args: argparse.Namespace):
    """The derivation the command asks for (sympy is imported only here)."""
    if args.command in {name for name, _, _ in _CLASSIFICATION}:
        from .symbolic.classification import classification

        return classification(args.command, args.N, batch=args.batch)
    from .symbolic import specs

    if args.command == "linear":
        return specs.linear(args.IN, args.OUT, batch=args.batch, bias=not args.no_bias)
    if args.command == "sequential":
        return specs.sequential(*args.sizes, activation=args.activation)
    if args.command == "mse":
        return specs.mse(args.N, size_average=not args.no_size_average, batch=args.batch)
    return specs.activation(args.command, args.N, batch=args.batch)


def _render(derivation, format: str) -> str:
    from .latex import document, markdown, summary

    if format == "markdown":
        return markdown(derivation)
    if format == "latex":
        return document(derivation)
    return json.dumps(summary(derivation), indent=2) + "\n"


def _emit(text: str, path: str | None, prog: str, parser: argparse.ArgumentParser) -> int:
    if path is None:
        return _print(text, prog, parser)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        parser.exit(2, f"{prog}: error: cannot write {path!r}: {error.strerror}\n")
    return 0


def _print(text: str, prog: str, parser: argparse.ArgumentParser) -> int:
    """Write ``text`` to stdout: a reader that closed the pipe ends it quietly, a failed write in one line."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `derive linear 784 256 | head -1`: the reader has all it wants. As the Python docs
        # advise (signal.SIGPIPE notes), point stdout at devnull so the flush at exit is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1  # the docs' status for EPIPE: the output was cut short, but nothing is printed
    except OSError as error:
        # e.g. `derive linear 2 3 > /dev/full`; stdout is unusable, so is its flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        parser.exit(2, f"{prog}: error: cannot write to stdout: {error.strerror}\n")
    return 0


def _compile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .catalogue_codegen import CATALOGUE_PATH, catalogue_source

    return _write_or_check(args.output or str(CATALOGUE_PATH), catalogue_source(), args, parser)


def _write_or_check(path: str, source: str, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Write ``source`` to ``path``, or with --check exit 1 when the file differs from it."""
    if args.check:
        try:
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
        except OSError as error:
            parser.exit(2, f"{parser.prog}: error: cannot read {path!r}: {error.strerror}\n")
        if current != source:
            sys.stderr.write(f"{path} is stale: run `derive compile`\n")
            return 1
        return 0
    return _emit(source, path, f"{parser.prog} compile", parser)


if __name__ == "__main__":
    sys.exit(main())

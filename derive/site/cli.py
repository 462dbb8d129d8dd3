"""The Command line page: `derive`'s help and examples, captured by running it."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from derive.cli import build_parser

from .build import SiteBuildError


# The checkout: on the command's PYTHONPATH, so that it runs this tree's derive.
ROOT = Path(__file__).resolve().parents[2]


def _derive_command(*args: str, cwd: str | None = None, status: int = 0) -> str:
    """What `derive ARGS` prints, run as a user runs it (80 columns for help); it must exit with ``status``."""
    env = dict(os.environ, COLUMNS="80", PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    done = subprocess.run([sys.executable, "-m", "derive.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != status:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SiteBuildError(f"`derive {' '.join(args)}` exited {done.returncode}, not {status}: {last}")
    return done.stdout


def _head(text: str, lines: int) -> str:
    kept = text.splitlines()[:lines]
    return "\n".join(kept) + "\n"


# Examples of the CLI page: (arguments, what they do, lines of output shown). Each
# runs when the site is built, so the page never shows a command that fails.
CLI_EXAMPLES = [
    (("linear", "2", "3"), "the tutorial's layer, as markdown with display math", 24),
    (("sigmoid", "3", "--format", "json"),
     "the results alone, as JSON: shape, LaTeX, matrix-form expression and notation of each", 40),
    (("linear", "2", "3", "--batch", "4"), "with the batch case, Y = X W^T + 1 b^T", 0),
    (("linear", "2", "3", "--no-bias"), "the layer without bias, y = W x", 0),
    (("linear", "64", "64"), "any size: big matrices are shown truncated", 0),
    (("linear", "2", "3", "--format", "latex", "-o", "linear.tex"),
     "a standalone LaTeX document, written to linear.tex", 0),
    (("tanh", "3"), "nn.Tanh on 3 inputs", 0),
    (("relu", "3", "--batch", "2"), "nn.ReLU, with the batch case", 0),
    (("mse", "3"), "nn.MSECriterion on 3 outputs, averaged (Torch's default)", 0),
    (("mse", "3", "--no-size-average"), "the plain sum of squares, sizeAverage false", 0),
    (("mse", "3", "--batch", "2", "--format", "latex", "-o", "mse.tex"),
     "the batch case as a LaTeX document, written to mse.tex", 0),
    (("sequential",), "nn.Sequential(Linear(2 -> 3), Sigmoid, Linear(3 -> 1)): the chain rule", 0),
    (("sequential", "--sizes", "3", "4", "2", "--activation", "tanh"),
     "another stack: Linear(3 -> 4), Tanh, Linear(4 -> 2)", 0),
    (("layer", "y = exp(x) / sum(exp(x))", "--shape", "x=3", "--format", "json"),
     "any layer written as one expression: softmax, its results as JSON", 40),
    (("layer", "y = tanh(W @ x + b)", "--shape", "x=784", "--shape", "W=256,784", "--batch", "64"),
     "a layer of your own at any size, with the batch case", 0),
    (("layer", "J = mean((x - t)**2)", "--shape", "x=3", "--target", "t"),
     "a criterion: a scalar output, its target named", 0),
    (("layer", "y = W2 @ relu(W1 @ x + b1) + b2", "--shape", "x=4", "--shape", "W1=8,4",
      "--shape", "W2=2,8", "--module", "mlp.py", "--name", "MLP"),
     "a two-layer MLP as a Torch7-style module, written to mlp.py", 0),
    (("conv", "1", "1", "2", "2"), "nn.SpatialConvolution(1 -> 1, 2x2) on one 4 x 4 plane, steps 1, no padding", 0),
    (("conv", "3", "16", "3", "3", "--height", "8", "--width", "8", "--batch", "32", "--format", "json"),
     "the results alone for 3 -> 16 planes, a 3x3 kernel, 8 x 8 input, batch of 32", 0),
    (("batchnorm", "2", "--batch", "3"),
     "nn.BatchNormalization(2) in training on 3 samples, the compact forms proved equal", 0),
]
# The site's page on what each command derives.
CLI_PAGES = {"linear": ("Linear: backward propagation", "linear.md"), "sigmoid": ("nn.Sigmoid", "nn-sigmoid.md"),
             "tanh": ("nn.Tanh", "nn-tanh.md"), "relu": ("nn.ReLU", "nn-relu.md"),
             "mse": ("nn.MSECriterion", "nn-msecriterion.md"),
             "sequential": ("Sequential", "sequential.md"),
             "layer": ("Your own layer", "layer.md#the-language"),
             "conv": ("nn.SpatialConvolution", "nn-spatialconvolution.md"),
             "batchnorm": ("nn.BatchNormalization", "nn-batchnormalization.md")}


# `derive check`'s example: a hand-written module with planted bugs, in the checkout's examples/
# (the README runs the same command from the checkout's root).
CHECKOUT = Path(__file__).resolve().parents[2]
CHECK_EXAMPLE = CHECKOUT / "examples" / "my_linear.py"
CHECK_EXAMPLE_ARGS = ("check", "examples/my_linear.py:MyLinear", "--input-shape", "3", "--args", "3", "3")


CHECK_AGAINST_ARGS = CHECK_EXAMPLE_ARGS + ("--against", "y = W @ x + b", "--shape", "W=3,3")


def check_example() -> tuple[str, str]:
    """(the example module's source, what `derive check` prints on it); the check must fail (exit 1)."""
    output = _derive_command(*CHECK_EXAMPLE_ARGS, cwd=str(CHECKOUT), status=1)
    return CHECK_EXAMPLE.read_text(encoding="utf-8"), output


def check_against_example() -> str:
    """What the example's `derive check --against` adds to the report: its last checks and the summary."""
    output = _derive_command(*CHECK_AGAINST_ARGS, cwd=str(CHECKOUT), status=1)
    return output[output.index("  FAIL  against derive's formulas"):]


def cli_commands() -> list[str]:
    """The subcommands of `derive`, in the order its help lists them."""
    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    return list(commands.choices)


def cli_page() -> str:
    """The `derive` command: its help and every subcommand's, and examples checked by running them."""
    names = cli_commands()
    shown_output, more = [], []
    width = max(len(" ".join(args)) for args, _, _ in CLI_EXAMPLES) + len("derive ")
    commands = [("--help",)] + [(name, "--help") for name in names] + [args for args, _, _ in CLI_EXAMPLES]
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor() as pool:
        checked, against = pool.submit(check_example), pool.submit(check_against_example)
        outputs = list(pool.map(lambda args: _derive_command(*args, cwd=scratch), commands))
        example_source, example_report = checked.result()
        against_report = against.result()
    help_text, helps, example_outputs = outputs[0], outputs[1:1 + len(names)], outputs[1 + len(names):]
    sections = []
    for name, text in zip(names, helps):
        title, page = CLI_PAGES.get(name, (None, None))
        link = f"What it prints is derived on [{title}]({page}).\n\n" if page else ""
        sections.append(f"### `derive {name}`\n\n{link}```text\n$ derive {name} --help\n{text}```")
    for (args, what, shown), output in zip(CLI_EXAMPLES, example_outputs):
        command = "derive " + " ".join(args)
        if shown:
            whole = len(output.splitlines()) <= shown
            sections_text = "its output" if whole else "its first lines"
            shown_output.append(f"{what[0].upper() + what[1:]}; {sections_text}:\n\n"
                                f"```text\n$ {command}\n{_head(output, shown)}"
                                f"{'' if whole else '...' + chr(10)}```")
        else:
            more.append(f"{command.ljust(width)}   # {what}")
    examples_text = "\n\n".join(shown_output + ["More:", "```sh\n" + "\n".join(more) + "\n```"])
    commands_text = "\n\n".join(sections)
    check_command = "derive " + " ".join(CHECK_EXAMPLE_ARGS)
    against_command = "derive " + " ".join(shlex.quote(arg) for arg in CHECK_AGAINST_ARGS)
    return f"""\
# Command line

Installing derive (`pip install -e .` in a checkout) puts a `derive` command on the
path. It prints the same derivations as this site, for any size. The help below is
the command's own, captured when the site was built.

## `derive --help`

```text
$ derive --help
{help_text}```

## Commands

{commands_text}

## Examples

Each of these ran when the site was built.

{examples_text}

## The names in JSON

The keys of `results` say what is differentiated (`dJ/dx` is
\\(\\partial J / \\partial \\mathbf{{x}}\\); capitals are the batch's). Each `expression` is
sympy's text of the matrix form, in the engine's names: `g` is
\\(\\partial J / \\partial \\mathbf{{y}}\\) and `G` the batch's
\\(\\partial J / \\partial \\mathbf{{Y}}\\); arrays are named as in the layer's expression
(`W`, `b`, `x`, `y`; `X`, `Y` for a batch; `t`, `T` a criterion's target), `n`, `m`, `B`
are sizes, and `HadamardProduct` is the element-wise product. `notation` is the same
result in the layer language (`@` the matrix product, `*` element-wise, `.T` the transpose,
`sum(v)` the sum of all of `v`'s entries, `ones(n)` a vector of ones), as `str()` of a result
prints it in Python, and `latex` as the pages print it.

## Checking a module of yours: `derive check`

`derive check FILE.py:CLASS --input-shape D1[,D2...]` imports your `derive.nn.Module` (or
`Criterion`) subclass from its file and runs the tests Torch's `test.lua` ran on every
module (the list is on [Numeric checks](numeric-checks.md#the-whole-list-derive-check)).
Constructor arguments follow `--args` as int, float or bool literals (or `NAME=literal`);
they are read, never evaluated. The exit status is 0 when every check passes, 1 when one
fails, 2 for bad usage (a file that does not import, a class that is not a module, a bad
shape), with a one-line error. `--format json` prints the same report for programs, and
`--against EXPR` also compares your gradients with derive's own module for the
expression at the same values, printing the formula an entry should follow.

A Linear layer written by hand, with two bugs (`examples/my_linear.py` in the checkout):

```python
{example_source}```

The report, computed when the site was built; each failure names its pattern and its
worst entries (0-based numpy indices: `d output[1] / d weight[2, 1]` is the derivative
of output element 1 with respect to `weight[2, 1]`):

```text
$ {check_command}
{example_report}```

With `--against`, derive writes its own module for the expression (the
[layer engine](#derive-layer)'s `derive.module_source`), gives it `MyLinear`'s parameter
values by position, and compares the two at the same inputs; a mismatch names the formula
the entry should follow, as the engine derives it (its matrix form where it has one, else
its index form; the batch form for the batch). What it adds to the report above:

```text
$ {against_command}
...
{against_report}```
"""

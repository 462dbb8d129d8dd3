"""``derive list`` and ``derive NAME ARGS...``: the catalogue's modules from the command line.

``derive SpatialMaxPooling 2 2 --input-shape 2,8,8`` derives the module Torch7's
``nn.SpatialMaxPooling(2, 2)`` computes, on an input of that shape, from its registry entry
(:mod:`derive.catalogue`) through the one engine; ``--module FILE.py`` writes its module.
"""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from .catalogue import CATALOGUE, ENTRIES, Entry, Formula, lookup

GROUPS = {"transfer": "transfer functions", "simple": "simple layers", "convolution": "convolutions and pooling",
          "criterion": "criteria", "program": "programs (layers courses derive)"}


def one_line(text: str) -> str:
    """A program's statements on one line, separated by '; '."""
    return "; ".join(line.strip() for line in text.strip().splitlines())


def usage(entry: Entry) -> str:
    """The command that derives the entry's example."""
    if entry.builtin:
        return {"linear": "derive linear IN OUT", "conv": "derive conv IN OUT KW KH",
                "batchnorm": "derive batchnorm N --batch B"}.get(entry.builtin, f"derive {entry.builtin} N")
    parts = [f"derive {entry.name}"] + [str(v) for v in entry.example]
    if entry.input_shapes is not None:
        parts += [f"--input-shape {','.join(map(str, s))}" for s in entry.input_shapes]
    return " ".join(parts)


def listing(format: str = "text") -> str:
    """The catalogue: each entry's constructor, its example's formula and the command."""
    rows = []
    for entry in ENTRIES:
        formula = entry.example_formula()
        rows.append({"name": entry.name, "group": entry.group, "constructor": entry.constructor(),
                     "formula": one_line(formula.text), "command": usage(entry),
                     "parameters": entry.parameters})
    if format == "json":
        return json.dumps(rows, indent=2) + "\n"
    lines = []
    for group, title in GROUPS.items():
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        lines.append(f"{title} ({len(members)}):")
        for r in members:
            lines.append(f"  {r['constructor']}")
            lines.append(f"      {r['formula']}")
            lines.append(f"      $ {r['command']}")
        lines.append("")
    lines.append(f"{len(rows)} modules and criteria; `derive NAME ARGS... --input-shape D1,D2,...` derives one.")
    return "\n".join(lines) + "\n"


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d, 10) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive integer sizes D1,D2,..., got {text!r}")
    return dims


def entry_parser(entry: Entry, parents: Sequence[argparse.ArgumentParser], parser_class) -> argparse.ArgumentParser:
    """The parser of ``derive NAME``: Torch7's constructor arguments, --input-shape and the usual options."""
    parser = parser_class(
        prog=f"derive {entry.name}", parents=list(parents),
        description=f"Derive nn.{entry.constructor()}: {entry.about}")
    parser.add_argument("ARGS", nargs="*", help=f"the constructor's arguments: {entry.constructor()}")
    parser.add_argument("--input-shape", action="append", type=_shape, metavar="D1[,D2,...]", dest="input_shape",
                        help="the input's shape where the constructor does not fix it (one per input)")
    parser.add_argument("--module", metavar="FILE.py", help="write the module's Python source instead")
    parser.add_argument("--name", default=None, metavar="CLASS", help="with --module: the class name")
    return parser


def formula_of(entry: Entry, args: Sequence[str], input_shapes) -> Formula:
    """The entry's formula for command-line arguments (ValueError/TypeError on bad ones)."""
    return entry.build(list(args), input_shapes)


def run(name: str, argv: Sequence[str], parents, parser_class, render, emit) -> int:
    """``derive NAME ARGS...`` for the catalogue entry ``name`` (already looked up)."""
    import derive

    entry = CATALOGUE[name.lower()]
    parser = entry_parser(entry, parents, parser_class)
    args = parser.parse_args(list(argv))
    try:
        formula = formula_of(entry, args.ARGS, args.input_shape)
        if args.module:
            text = derive.module_source(formula.text, formula.shapes, name=args.name or entry.name,
                                        **formula.options())
            return emit(text, args.module, parser.prog, parser)
        derivation = derive.layer(formula.text, formula.shapes, batch=args.batch, **formula.options())
        derivation.title = f"nn.{entry.name}({', '.join(args.ARGS)}): {derivation.title}"
    except (ValueError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        parser.exit(2, f"{parser.prog}: error: {message}\n")
    return emit(render(derivation, args.format), args.output, parser.prog, parser)


def known(name: str) -> bool:
    """Whether ``name`` (any case) is a catalogue entry."""
    try:
        lookup(name)
    except ValueError:
        return False
    return True

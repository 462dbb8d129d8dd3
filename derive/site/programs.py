"""The pages of the layers written as programs: one template, filled from each entry of
derive.programs (derivation, generated module, and a check of the module's backward
against central differences, run when the page is built)."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import derive
from derive.latex import markdown
from derive.nn.check import PERTURBATION, PRECISION, load_class
from derive.nn.jacobian import numeric_gradient
from derive.programs import PROGRAMS, ProgramEntry
from derive.symbolic.program import class_count, parse_program

from .checks import plain_number
from .derivation import demote

#: Samples in the batch the page's check runs (besides one sample).
CHECK_BATCH = 3


def page_name(entry: ProgramEntry) -> str:
    return f"program-{entry.slug}.md"


@dataclass(frozen=True)
class ProgramCheck:
    """The largest |backprop - central difference| of one array's gradient."""

    array: str
    samples: str  # "one sample" or "batch of 3"
    error: float

    @property
    def passed(self) -> bool:
        return self.error < PRECISION


def program_module(entry: ProgramEntry):
    """The entry's generated module class, loaded from its source."""
    source = derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{entry.slug.replace('-', '_')}.py"
        path.write_text(source)
        return source, load_class(path, entry.name)


def program_checks(entry: ProgramEntry, Layer=None) -> list[ProgramCheck]:
    """Every input's and parameter's gradient against central differences (perturbation
    1e-6, Torch's), of the loss or of J = sum(gradOutput * output), for one sample and a batch."""
    if Layer is None:
        Layer = program_module(entry)[1]
    rng = np.random.default_rng(0)
    classes = None if entry.target is None else class_count(
        parse_program(entry.text, entry.shapes, **entry.options))
    out = []
    for lead, label in (((), "one sample"), ((CHECK_BATCH,), f"batch of {CHECK_BATCH}")):
        layer = Layer(rng=1)
        inputs = [rng.uniform(-2, 2, lead + shape) for shape in Layer.inputShapes]
        table = len(inputs) > 1
        if entry.target is not None:
            if classes is not None:  # integer classes counted from 0
                target = rng.integers(0, classes, size=lead + Layer.targetShape)
            else:  # one-hot along the last axis
                target = np.eye(Layer.targetShape[-1])[rng.integers(0, Layer.targetShape[-1],
                                                                     size=lead + Layer.targetShape[:-1])]
            loss = lambda: layer.forward(inputs[0], target)  # noqa: E731
            layer.zeroGradParameters()
            grads_in = [layer.backward(inputs[0], target)]
        else:
            grads = [rng.standard_normal(lead + shape) for shape in Layer.outputShapes]

            def loss():
                outs = layer.forward(inputs if table else inputs[0])
                return sum(float(np.sum(g * o)) for g, o in zip(grads, outs if len(grads) > 1 else [outs]))
            loss()
            layer.zeroGradParameters()
            got = layer.backward(inputs if table else inputs[0], grads if len(grads) > 1 else grads[0])
            grads_in = list(got) if table else [got]
        params, grad_params = layer.parameters() if Layer._parameterSlots else ([], [])
        names = [f"{x} (input)" for x in entry.input]
        arrays = list(zip(names, inputs, grads_in))
        arrays += [(name, p, g.copy()) for (name, _), p, g in zip(Layer._parameterSlots, params, grad_params)]
        for name, array, backprop in arrays:
            numeric = numeric_gradient(loss, array, PERTURBATION)
            out.append(ProgramCheck(name, label, float(np.max(np.abs(numeric - backprop)))))
    return out


@functools.lru_cache(maxsize=None)
def program_made(slug: str):
    """(derivation, generated source, module class, checks) of the program ``slug``: made once a
    build, for its page and its row of the catalogue's index."""
    entry = next(e for e in PROGRAMS if e.slug == slug)
    derivation = derive.layer(entry.text, entry.shapes, **entry.options)
    source, Layer = program_module(entry)
    return derivation, source, Layer, program_checks(entry, Layer)


def program_page(entry: ProgramEntry) -> str:
    """One layer's page: the program, its derivation, its module and the check."""
    derivation, source, Layer, checks = program_made(entry.slug)
    body = demote(markdown(derivation))
    body = body.replace(f"## {derivation.title}\n", "", 1)  # the page's own heading stands for it
    table = ["| gradient of | samples | largest error | passed |", "|---|---|---|---|"]
    table += [f"| {c.array} | {c.samples} | {plain_number(c.error)} | {'yes' if c.passed else '**no**'} |"
              for c in checks]
    kind = ("a criterion with parameters: `forward(input, target)` returns the loss, "
            "`backward(input, target)` gradInput and adds the parameters' gradients" if entry.target
            else "a table module: `forward` takes a list of arrays" + (" and returns a list" if entry.outputs else "")
            + ", `backward` a list of gradOutputs" if len(entry.input) > 1 or entry.outputs
            else "a module: `forward(input)`, `backward(input, gradOutput)`")
    return (f"# {entry.title}\n\n{entry.about}\n\n"
            f"The program ({entry.slug}.txt):\n\n```\n{entry.text}\n```\n\n```sh\n{entry.command}\n```\n\n"
            f"{body}\n## The generated module\n\n`{entry.command} --module {entry.slug.replace('-', '_')}.py "
            f"--name {entry.name}` writes this file (numpy and derive.nn only); it is {kind}:\n\n"
            f"```python\n{source}```\n\n"
            f"## Check\n\nEvery gradient the module's backward computes, against central differences "
            f"(perturbation {PERTURBATION:g}) of "
            + ("the loss" if entry.target else "J = sum(gradOutput * output)")
            + f", run when this page was built; an error passes below {PRECISION:g} (Torch's rule):\n\n"
            + "\n".join(table) + "\n")


def programs_index_page() -> str:
    """The list of the program pages, and what a program is."""
    rows = "\n".join(f"- [{e.title}]({page_name(e)}): `{e.text.splitlines()[-1]}`, "
                     f"{len(e.text.splitlines())} statements" for e in PROGRAMS)
    return f"""# Layers as programs

A layer may be written as a few statements, one a line (or separated by `;`), each
`name = expr` or `name[i, ...] = expr` in either notation of [the language](layer.md#the-language);
a statement may use the names defined before it. derive parses each statement on its own,
derives it (its local backward: the gradient of each thing it reads from the gradient of what
it defines, proved at symbolic sizes), then walks the statements in reverse, as Backprop Ninja
does by hand: one named gradient per intermediate, the contributions summed where an
intermediate is read by several statements. The cost grows with the number of statements.

`--input x,h,c` names several inputs and `--outputs h2,c2` several outputs (a table module,
as Torch7's); a program ending in one number `J` is a criterion, with parameters if it has
any. `derive layer --file FILE` (or `-` for standard input) reads a program from a file.

{rows}
"""


def program_pages() -> dict[str, str]:
    """{page path: content} of the index and every program's page."""
    pages = {"programs.md": programs_index_page()}
    pages.update({page_name(e): program_page(e) for e in PROGRAMS})
    return pages

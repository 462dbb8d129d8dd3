"""The catalogue's pages: ONE template filled from each entry of derive.catalogue (its Torch7
facts, its derivation, a worked example and a central-difference check, both computed when
the page is built), and the index page "Torch7's nn, one formula each"."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import derive
from derive.catalogue import ENTRIES, Entry, Formula
from derive.catalogue_command import GROUPS, one_line, usage
from derive.latex import markdown, summary
from derive.nn.check import PERTURBATION, PRECISION, load_class
from derive.nn.jacobian import numeric_gradient

from .checks import plain_number
from .derivation import demote

#: Samples in the batch the page's check runs (besides one sample).
CHECK_BATCH = 2
#: Longest gradient the index shows inline; a longer one is on the module's page.
INDEX_LATEX = 160


@dataclass(frozen=True)
class CatalogueCheck:
    """The largest |backprop - central difference| of one array's gradient."""

    array: str
    samples: str
    error: float

    @property
    def passed(self) -> bool:
        return self.error < PRECISION


def entry_module(entry: Entry, formula: Formula):
    """The entry's generated module source and class, at the formula's sizes."""
    source = derive.module_source(formula.text, formula.shapes, name=entry.name, **formula.options())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"catalogue_{entry.name.lower()}.py"
        path.write_text(source)
        return source, load_class(path, entry.name)


def _inputs(entry: Entry, Layer, lead: tuple, rng) -> list[np.ndarray]:
    shapes = Layer.inputShapes if getattr(Layer, "inputShape", None) is None else (Layer.inputShape,)
    if entry.integer_input:
        rows = entry.example_formula().shapes["W"][0]
        return [rng.integers(0, rows, lead + s) for s in shapes]
    low, high = entry.domain
    return [rng.uniform(low, high, lead + s) for s in shapes]


def _target(entry: Entry, Layer, first: np.ndarray, lead: tuple, rng):
    shape = lead + tuple(Layer.targetShape)
    kind = entry.target_kind
    if kind == "class":
        return rng.integers(0, first.shape[-1], shape)
    if kind == "sign":
        return rng.choice([-1.0, 1.0], size=shape)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(float)
    if kind == "probability":
        return rng.uniform(0.1, 0.9, shape)
    return rng.uniform(-2, 2, shape)


def entry_checks(entry: Entry, Layer) -> list[CatalogueCheck]:
    """Every gradient the module computes (inputs', parameters') against central differences of
    the loss, or of J = sum(gradOutput * output), for one sample and a batch."""
    rng = np.random.default_rng(0)
    out = []
    for lead, label in (((), "one sample"), ((CHECK_BATCH,), f"batch of {CHECK_BATCH}")):
        layer = Layer(rng=1) if not entry.criterion else Layer()
        inputs = _inputs(entry, Layer, lead, rng)
        table = len(inputs) > 1
        given = inputs if table else inputs[0]
        if entry.criterion:
            target = _target(entry, Layer, inputs[0], lead, rng)
            loss = lambda: float(layer.forward(given, target))  # noqa: E731
            if hasattr(layer, "zeroGradParameters"):  # a criterion with parameters
                layer.zeroGradParameters()
            got = layer.backward(given, target)
        else:
            grad = rng.standard_normal(np.shape(layer.forward(given)))

            def loss():
                return float(np.sum(grad * layer.forward(given)))
            layer.zeroGradParameters()
            got = layer.backward(given, grad)
        arrays = [] if entry.integer_input else [
            (f"{name} (input)", x, g) for name, x, g in zip(entry.example_formula().input, inputs,
                                                           list(got) if table else [got])]
        params = layer.parameters() if hasattr(layer, "parameters") else None
        if params:
            arrays += [(name, p, g.copy()) for (name, _), p, g in zip(Layer._parameterSlots, *params)]
        for name, array, backprop in arrays:
            numeric = numeric_gradient(loss, array, PERTURBATION)
            out.append(CatalogueCheck(name, label, float(np.max(np.abs(numeric - backprop)))))
    return out


def _array(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True, max_line_width=90)


def _example(entry: Entry, Layer) -> str:
    """A worked example: a small input, the output and the gradient, computed at build time."""
    rng = np.random.default_rng(3)
    inputs = _inputs(entry, Layer, (), rng)
    given = inputs if len(inputs) > 1 else inputs[0]
    layer = Layer(rng=1) if not entry.criterion else Layer()
    names = entry.example_formula().input
    lines = [f"{n} = {_array(x) if not entry.integer_input else x}" for n, x in zip(names, inputs)]
    if entry.criterion:
        target = _target(entry, Layer, inputs[0], (), rng)
        lines.append(f"t = {_array(target)}")
        lines.append(f"forward(input, t)  = {plain_number(float(layer.forward(given, target)))}")
        grads = layer.backward(given, target)
        grads = list(grads) if len(inputs) > 1 else [grads]
        lines += [f"backward: dJ/d{n} = {_array(g)}" for n, g in zip(names, grads)]
    else:
        y = layer.forward(given)
        lines.append(f"forward(input)     = {_array(y)}")
        ones = np.ones(np.shape(y))
        grads = layer.backward(given, ones)
        grads = list(grads) if len(inputs) > 1 else [grads]
        if not entry.integer_input:
            lines += [f"backward(input, ones): dJ/d{n} = {_array(g)}" for n, g in zip(names, grads)]
    return "```\n" + "\n".join(lines) + "\n```"


def _gradient(entry: Entry, derivation) -> str:
    """The input's gradient as the index shows it: LaTeX where it is short, else a pointer to the page."""
    results = summary(derivation)["results"]
    first = entry.example_formula().input[0]
    key = next((k for k in (f"dJ/d{first}", "dJ/dx") if k in results), None)
    if key is None or entry.integer_input:
        return "(see page)"
    latex = results[key]["latex"].replace("\n", " ")
    return f"${latex}$" if len(latex) <= INDEX_LATEX and "|" not in latex else "(see page)"


def entry_page(entry: Entry) -> tuple[str, dict]:
    """One module's page and its index row (formula, gradient, check's largest error)."""
    formula = entry.example_formula()
    derivation = derive.layer(formula.text, formula.shapes, **formula.options())
    source, Layer = entry_module(entry, formula)
    checks = entry_checks(entry, Layer)
    worst = max((c.error for c in checks), default=0.0)
    body = demote(markdown(derivation)).replace(f"## {derivation.title}\n", "", 1)
    table = ["| gradient of | samples | largest error | passed |", "|---|---|---|---|"]
    table += [f"| {c.array} | {c.samples} | {c.error:.1e} | {'yes' if c.passed else '**no**'} |" for c in checks]
    params = ", ".join(f"`{t}` is {a}, `grad{t[0].upper()}{t[1:]}` its gradient" for t, a in entry.parameters.items())
    facts = [f"- Constructor: `nn.{entry.constructor()}`; the example: `nn.{entry.name}"
             f"({', '.join(map(str, entry.example))})`."]
    if params:
        facts.append(f"- Parameters: {params}.")
    if entry.reset:
        facts.append(f"- Initialisation (Torch7's `reset`): {entry.reset}.")
    if entry.torch:
        facts.append(f"- {entry.torch}")
    command = usage(entry)
    text = (f"# nn.{entry.name}\n\n{entry.about}\n\n## In Torch7\n\n" + "\n".join(facts) + "\n\n"
            f"The formula, in the layer language:\n\n```\n{formula.text}\n```\n\n```sh\n{command}\n```\n\n"
            f"## Worked example\n\nComputed by the generated module when this page was built:\n\n"
            f"{_example(entry, Layer)}\n\n{body}\n"
            f"## The module in use\n\n`{command} --module {entry.name.lower()}.py` writes the module "
            f"(numpy and derive.nn only); its forward and backward take one sample or a batch:\n\n"
            f"<details><summary>The generated source</summary>\n\n```python\n{source}```\n\n</details>\n\n"
            f"## Check\n\nEvery gradient the module's backward computes, against central differences "
            f"(perturbation {PERTURBATION:g}) of " + ("the loss" if entry.criterion else
                                                       "J = sum(gradOutput * output)")
            + f", run when this page was built; an error passes below {PRECISION:g} (Torch's rule):\n\n"
            + "\n".join(table) + "\n")
    row = {"name": entry.name, "page": f"{entry.slug}.md", "formula": one_line(formula.text),
           "gradient": _gradient(entry, derivation), "error": worst, "passed": all(c.passed for c in checks),
           "group": entry.group}
    return text, row


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def index_page(rows: list[dict]) -> str:
    """The table of every module: formula, gradient, check's largest error, link."""
    parts = ["""# Torch7's nn, one formula each

Every module and criterion of the catalogue (`derive/catalogue.py`), written as its Torch7
documentation's formula in [the layer language](layer.md#the-language), derived and proved by
the engine, generated as a module and checked against central differences when this page was
built. A readable counterpart of PyTorch's `derivatives.yaml`: each row's formula is the whole
definition, its gradient is derived from it. `derive list` prints the same catalogue and
`derive NAME ARGS... --input-shape D1,D2,...` derives any of them; the layers written as
[programs](programs.md) are listed last. [Adding a module](contributing-catalogue.md) is one entry.
"""]
    for group, title in GROUPS.items():
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        parts.append(f"## {title[0].upper()}{title[1:]}\n")
        parts.append("| module | formula | input's gradient | check's largest error |\n|---|---|---|---|")
        for r in members:
            error = f"{r['error']:.1e}" + ("" if r["passed"] else " **failed**")
            parts.append(f"| [{r['name']}]({r['page']}) | `{_cell(r['formula'])}` | {_cell(r['gradient'])} | "
                         f"{error} |")
        parts.append("")
    parts.append(f"{len(rows)} modules and criteria.\n")
    return "\n".join(parts)


def _program_row(entry: Entry) -> dict:
    from derive.programs import PROGRAMS

    program = next(p for p in PROGRAMS if p.name == entry.name)
    from .programs import page_name, program_checks

    checks = program_checks(program)
    return {"name": entry.name, "page": page_name(program), "formula": one_line(program.text),
            "gradient": "(see page)", "error": max(c.error for c in checks),
            "passed": all(c.passed for c in checks), "group": "program"}


def catalogue_pages() -> dict[str, str]:
    """{page path: content} of the index and every catalogue module's page (programs keep theirs)."""
    pages, rows = {}, []
    for entry in ENTRIES:
        if entry.group == "program":
            rows.append(_program_row(entry))
            continue
        text, row = entry_page(entry)
        pages[f"{entry.slug}.md"] = text
        rows.append(row)
    pages["catalogue.md"] = index_page(rows)
    return pages


def contributing_page() -> str:
    """How to add a module: the registry lines of SoftSign, as the diff that added it."""
    import inspect

    import derive.catalogue as catalogue

    lines = inspect.getsource(catalogue).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith('_elementwise("SoftSign"'))
    end = start
    while not lines[end].rstrip().endswith("),"):
        end += 1
    diff = "\n".join(["--- a/derive/catalogue.py", "+++ b/derive/catalogue.py",
                      f"@@ -{start},0 +{start + 1},{end - start + 1} @@"]
                     + [f"+{line}" for line in lines[start:end + 1]])
    return f"""# Adding a module to the catalogue

A catalogue module is one entry of `derive/catalogue.py`: its Torch7 name, its constructor
(Torch7's argument names and defaults), a function of the arguments that writes its formula
in [the layer language](layer.md#the-language), its parameters' Torch7 names, its
initialisation, its Torch7 facts and a paragraph of prose. Everything else comes from the
entry: `derive list` lists it, `derive NAME ARGS...` derives it, the engine writes its module,
and the site builds [its page](nn-softsign.md) and its row of [the catalogue](catalogue.md).

SoftSign, `y = x / (1 + |x|)`, was added to the registry as this diff, its only code:

```diff
{diff}
```

`_elementwise` is the registry's helper for modules applied element by element (one input,
shape given by `--input-shape`, default 5 elements). A module with parameters or a
constructor that fixes the shapes is a full `Entry(...)`; see `Linear`, `SpatialMaxPooling`
or `BCECriterion` in the same file. Then add its PyTorch reference to
`tests/test_catalogue.py` (the test fails until every entry has one) and run
`pytest tests/test_catalogue.py -k SoftSign` (the test reads the formula from the registry).
"""

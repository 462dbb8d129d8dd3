"""The catalogue's pages: ONE template filled from each entry of derive.catalogue (its Torch7
facts, its derivation, a worked example and a central-difference check, both computed when
the page is built), and the index page "Torch7's nn, one formula each"."""

from __future__ import annotations

import functools
import inspect
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import derive
from derive.catalogue import ENTRIES, Entry, Formula, lookup, reset_prose
from derive.catalogue_command import GROUPS, one_line, usage
from derive.latex import markdown, summary
from derive.nn.check import PERTURBATION, PRECISION, load_class
from derive.nn.jacobian import numeric_gradient

from .checks import plain_number
from .derivation import demote
from .snippets import snippet_with_output

#: Samples in the batch the page's check runs (besides one sample).
CHECK_BATCH = 2
#: Longest gradient the index shows inline; a longer one is on the module's page.
INDEX_LATEX = 200


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
    if kind == "class" and entry.target_end is not None:  # each sample's classes, then the end (PyTorch's -1)
        n = first.shape[-1]
        rows = [np.concatenate([rng.permutation(n)[:1 + k % (n - 1)], [entry.target_end] * n])[:n]
                for k in range(int(np.prod(shape[:-1])))]
        return np.stack(rows).reshape(shape)
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


def _example_values(entry: Entry, Layer) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The worked example's inputs (two decimals, so a script can write them out) and target."""
    rng = np.random.default_rng(3)
    inputs = _inputs(entry, Layer, (), rng)
    if not entry.integer_input:
        inputs = [np.asarray(np.round(x, 2)) for x in inputs]
    target = _target(entry, Layer, inputs[0], (), rng) if entry.criterion else None
    if target is not None and target.dtype.kind == "f":
        target = np.asarray(np.round(target, 2))  # a 0-d target stays an array
    return inputs, target


def _example(entry: Entry, Layer) -> str:
    """A worked example: a small input, the output and the gradient, computed at build time."""
    inputs, target = _example_values(entry, Layer)
    given = inputs if len(inputs) > 1 else inputs[0]
    layer = Layer(rng=1) if not entry.criterion else Layer()
    names = entry.example_formula().input
    lines = [f"{n} = {_array(x) if not entry.integer_input else x}" for n, x in zip(names, inputs)]
    if entry.criterion:
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


def shipped(entry: Entry):
    """derive.nn's class of this entry, or None where derive.nn does not ship it (yet)."""
    from derive import nn

    return getattr(nn, entry.name, None) if entry.name in nn.__all__ else None


def _literal(a: np.ndarray) -> str:
    return f"np.array({np.asarray(a).tolist()!r})"


def in_use_script(entry: Entry, Layer) -> str:
    """The entry's script with derive.nn's class: its own, else the worked example's input through
    derive.nn's module built with the example's constructor arguments."""
    if entry.in_use:
        return entry.in_use
    inputs, target = _example_values(entry, Layer)
    Module = shipped(entry)
    arguments = [repr(a) for a in entry.example]
    if "rng" in inspect.signature(Module).parameters and not entry.criterion:
        arguments.append("rng=0")  # a seeded initialisation: the page is the same every build
    name = "criterion" if entry.criterion else "layer"
    lines = ["import numpy as np", f"from derive.nn import {entry.name}", "",
             "np.set_printoptions(precision=4, suppress=True)",
             f"{name} = {entry.name}({', '.join(arguments)})"]
    names = entry.example_formula().input
    lines += [f"{n} = {_literal(x)}" for n, x in zip(names, inputs)]
    given = f"[{', '.join(names)}]" if len(names) > 1 else names[0]
    if entry.criterion:
        lines += [f"t = {_literal(target) if np.ndim(target) else repr(target.item())}",
                  f'print("J:", {name}.forward({given}, t))',
                  f'print("gradInput:", {name}.backward({given}, t))']
    else:
        lines += [f"y = {name}.forward({given}).copy()   # forward returns the module's output buffer",
                  'print("output:", y)',
                  f'print("gradInput, gradOutput all ones:", {name}.backward({given}, np.ones_like(y)))']
    return "\n".join(lines) + "\n"


def _in_use(entry: Entry, Layer, command: str, source: str) -> str:
    """The module in use: derive.nn's class run when the page is built, then the generated source."""
    generated = (f"`{command} --module {entry.name.lower()}.py` writes the module the engine generates "
                 f"from the formula (numpy and derive.nn only); its forward and backward take one sample "
                 f"or a batch:\n\n<details><summary>The generated source</summary>\n\n```python\n{source}```"
                 f"\n\n</details>\n")
    if shipped(entry) is None:
        return f"## The module in use\n\nderive.nn does not ship `{entry.name}` yet. {generated}"
    on = "" if entry.in_use else " on the worked example's input"
    fitted = ""
    if getattr(shipped(entry), "windowArguments", ()):  # the convolution family's kernels: a checked fit
        from derive.catalogue_windows import fit_note

        fitted = f"{fit_note(entry)}\n\n"
    if getattr(shipped(entry), "viewRule", ""):  # a view around dim (GatedLinearUnit, Padding)
        from derive.catalogue_views import fit_note as view_note

        fitted = f"{view_note(entry)}\n\n"
    return (f"## The module in use\n\n`derive.nn.{entry.name}`, with Torch7's constructor{on}. This ran when "
            f"the page was built:\n\n{snippet_with_output(in_use_script(entry, Layer))}\n{fitted}{generated}")


def kink_values(entry: Entry, Layer, kink: float) -> dict[str, float]:
    """The module at an input where its formula has no derivative: its backward (gradOutput 1)
    against the one-sided and central differences of its forward."""
    h = PERTURBATION
    Module = shipped(entry)
    layer = Module(*entry.example) if Module is not None else Layer()
    size = entry.example_formula().shapes["x"]

    def f(value: float) -> float:
        return float(np.ravel(layer.forward(np.full(size, value)))[0])

    at = np.full(size, kink)
    layer.forward(at)
    return {"backward": float(np.ravel(layer.backward(at, np.ones(size)))[0]),
            "right": (f(kink + h) - f(kink)) / h, "left": (f(kink) - f(kink - h)) / h,
            "central": (f(kink + h) - f(kink - h)) / (2 * h)}


def _kinks(entry: Entry, Layer) -> str:
    """Where the formula has no derivative: the subgradient the module picks, computed at build time."""
    who = f"derive.nn's `{entry.name}`" if shipped(entry) else "the generated module"
    rows = ["| at x | backward, gradOutput 1 | (f(x + h) - f(x)) / h, from the right | "
            "(f(x) - f(x - h)) / h, from the left | (f(x + h) - f(x - h)) / 2h, central |", "|--:|--:|--:|--:|--:|"]
    for kink in entry.kinks:
        v = {k: plain_number(value) for k, value in kink_values(entry, Layer, kink).items()}
        rows.append(f"| {plain_number(kink)} | {v['backward']} | {v['right']} | {v['left']} | {v['central']} |")
    return (f"## The gradient at a kink\n\nThe formula has no derivative at "
            f"{', '.join(plain_number(k) for k in entry.kinks)}: the slopes from the left and from the right "
            f"differ, and any value between them is a subgradient. What {who} picks, and the differences "
            f"around the kink, computed when the page was built with h = {PERTURBATION:g}:\n\n"
            + "\n".join(rows) + "\n\nA central difference at a kink averages the two sides and agrees with "
            "neither, so a finite-difference check means nothing at (or within h of) one; the check below "
            "draws random inputs, away from them.\n\n")


def _forms(derivation, page: str, skip: tuple[str, ...] = ()) -> str:
    """Every gradient as the index shows it (but those of the arrays in ``skip``): matrix form where
    the engine found one, else index form, each in LaTeX where it is short, else a link to ``page``."""
    cells = []
    for key, result in summary(derivation)["results"].items():
        if not key.startswith("dJ/d") or key[4:] in skip:
            continue
        latex = result["latex"].replace("\n", " ")
        form = "index form" if "[" in result["notation"] else "matrix form"
        if len(latex) > INDEX_LATEX or "|" in latex:
            cells.append(f"{key}: {form}, [on its page]({page})")
        else:
            cells.append(f"${latex}$" + (" (index form)" if form == "index form" else ""))
    return "<br>".join(cells) or "(see page)"


@functools.lru_cache(maxsize=None)
def _derived(name: str):
    """The entry's derivation, generated source and module class, made once per build."""
    entry = lookup(name)
    formula = entry.example_formula()
    derivation = derive.layer(formula.text, formula.shapes, **formula.options())
    source, Layer = entry_module(entry, formula)
    return derivation, source, Layer


def entry_page(entry: Entry) -> tuple[str, dict]:
    """One module's page and its index row (formula, gradients, check's largest error)."""
    formula = entry.example_formula()
    derivation, source, Layer = _derived(entry.name)
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
        facts.append(f"- Initialisation (Torch7's `reset`): {reset_prose(entry.reset)}.")
    if entry.torch:
        facts.append(f"- {entry.torch}")
    notes = f"{entry.notes}\n\n" if entry.notes else ""
    command = usage(entry)
    text = (f"# nn.{entry.name}\n\n{entry.about}\n\n## In Torch7\n\n" + "\n".join(facts) + "\n\n"
            f"{notes}The formula, in the layer language:\n\n```\n{formula.text}\n```\n\n```sh\n{command}\n```\n\n"
            f"## Worked example\n\nComputed by the generated module when this page was built:\n\n"
            f"{_example(entry, Layer)}\n\n## Derivation\n\n{body}\n"
            + (_kinks(entry, Layer) if entry.kinks else "")
            + _in_use(entry, Layer, command, source) + "\n"
            f"## Check\n\nEvery gradient the module's backward computes, against central differences "
            f"(perturbation {PERTURBATION:g}) of " + ("the loss" if entry.criterion else
                                                       "J = sum(gradOutput * output)")
            + f", run when this page was built; an error passes below {PRECISION:g} (Torch's rule):\n\n"
            + "\n".join(table) + "\n")
    row = {"name": entry.name, "page": f"{entry.slug}.md", "formula": one_line(formula.text),
           "gradient": _forms(derivation, f"{entry.slug}.md", formula.input if entry.integer_input else ()),
           "error": worst, "passed": all(c.passed for c in checks),
           "group": entry.group}
    return text, row


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def index_page(rows: list[dict]) -> str:
    """The table of every module: its formula, its gradients (matrix form, or index form where the
    engine found none), its check's largest error, its Torch7 group, a link to its page."""
    parts = ["""# Torch7's nn, one formula each

Every module and criterion of the catalogue (`derive/catalogue.py`), written as its Torch7
documentation's formula in [the layer language](layer.md#the-language), derived and proved by
the engine, generated as a module and checked against central differences when this page was
built. A readable counterpart of PyTorch's `derivatives.yaml`: each row's formula is the whole
definition, its gradients are derived from it, in matrix form where the engine finds one and
in index form otherwise (\\(g\\) is \\(\\partial J / \\partial y\\), the `gradOutput`). The group is
the page of Torch7's documentation the module is on. `derive list` prints the same catalogue and
`derive NAME ARGS... --input-shape D1,D2,...` derives any of them; the layers written as
[programs](programs.md) are listed last. [Adding a module](contributing-catalogue.md) is one entry.

| module | group | formula | gradients | check's largest error |
|---|---|---|---|--:|"""]
    order = list(GROUPS)
    for r in sorted(rows, key=lambda r: order.index(r["group"]) if r["group"] in order else len(order)):
        error = f"{r['error']:.1e}" + ("" if r["passed"] else " **failed**")
        parts.append(f"| [{r['name']}]({r['page']}) | {r['group']} | `{_cell(r['formula'])}` | "
                     f"{_cell(r['gradient'])} | {error} |")
    parts.append(f"\n{len(rows)} modules and criteria.\n")
    return "\n".join(parts)


def _program_row(entry: Entry) -> dict:
    from derive.programs import PROGRAMS

    program = next(p for p in PROGRAMS if p.name == entry.name)
    from .programs import page_name, program_made

    derivation, _, _, checks = program_made(program.slug)
    return {"name": entry.name, "page": page_name(program), "formula": one_line(program.text),
            "gradient": _forms(derivation, page_name(program)), "error": max(c.error for c in checks),
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


#: The hand-built module pages the one template replaced: {old page: the catalogue module now
#: on it}. Their addresses keep working as redirects.
MOVED_PAGES = {"sigmoid.md": "Sigmoid", "tanh.md": "Tanh", "relu.md": "ReLU", "mse.md": "MSECriterion",
               "batchnorm.md": "BatchNormalization", "convolution.md": "SpatialConvolution",
               "softmax.md": "SoftMax", "logsoftmax.md": "LogSoftMax", "classnll.md": "ClassNLLCriterion",
               "crossentropy.md": "CrossEntropyCriterion"}


def redirect_pages() -> dict[str, str]:
    """{path under the built site: HTML}: each moved page's old address sends the reader on to
    the module's catalogue page (the site's directory URLs: sigmoid/ -> nn-sigmoid/)."""
    pages = {}
    for old, name in MOVED_PAGES.items():
        target = f"../{lookup(name).slug}/"
        pages[f"{old[:-len('.md')]}/index.html"] = (
            f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>nn.{name}</title>\n"
            f'<link rel="canonical" href="{target}">\n'
            f'<meta http-equiv="refresh" content="0; url={target}">\n</head>\n'
            f'<body>\n<p>This page is now <a href="{target}">nn.{name}</a>.</p>\n</body>\n</html>\n')
    return pages

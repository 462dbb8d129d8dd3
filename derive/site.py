"""The pages of the docs site, computed from the engine at build time.

The mkdocs hook (docs/hooks/derive_site.py) calls `generated_files`; every
other function here returns the markdown (or picture) of one page, so the
pages can be read and tested without mkdocs.

MathJax is not kept in the repository: `mathjax_files` takes it from the npm
package at build time, checks it against the sha512 pinned below and hands
the hook the few files the site needs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path

MATHJAX_VERSION = "3.2.2"
# The `integrity` npm records for mathjax@3.2.2 (`npm pack --json` prints it).
MATHJAX_INTEGRITY = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# What the site needs from the package: the combined TeX-input/CHTML-output
# component, its woff2 fonts, and the TeX extensions it loads on demand
# (without them macros such as \boldsymbol come out as errors).
MATHJAX_NEEDED = (
    "es5/tex-mml-chtml.js",
    "es5/output/chtml/fonts/woff-v2/",
    "es5/input/tex/extensions/",
)
# Where they go in the site; mkdocs.yml loads MATHJAX_SITE_DIR/tex-mml-chtml.js.
MATHJAX_SITE_DIR = "assets/mathjax"


class SiteBuildError(RuntimeError):
    """A page or an asset of the site cannot be made; the message says why."""


# --------------------------------------------------------------------------
# MathJax, from the npm package


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _npm_pack(cache_dir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SiteBuildError(
            f"npm not found: the site needs it to fetch mathjax@{MATHJAX_VERSION} "
            "(install Node.js and npm, e.g. `apt-get install npm`)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--pack-destination", str(cache_dir)],
        capture_output=True,
        text=True,
    )
    tarball = cache_dir / f"mathjax-{MATHJAX_VERSION}.tgz"
    if done.returncode != 0 or not tarball.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SiteBuildError(f"`npm pack mathjax@{MATHJAX_VERSION}` failed: {last}")
    return tarball


def _needed(member: tarfile.TarInfo) -> bool:
    name = member.name.removeprefix("package/")
    return member.isfile() and any(
        name == want or (want.endswith("/") and name.startswith(want)) for want in MATHJAX_NEEDED
    )


def mathjax_files(cache_dir: Path) -> dict[str, Path]:
    """The MathJax files of the site: {path in the site: file on disk}.

    Runs `npm pack mathjax@3.2.2` into `cache_dir` unless the tarball is
    already there, refuses a tarball whose sha512 is not the pinned one, and
    unpacks only the files the site needs.
    """
    cache_dir = Path(cache_dir)
    tarball = cache_dir / f"mathjax-{MATHJAX_VERSION}.tgz"
    if not tarball.exists():
        _npm_pack(cache_dir)
    found = _integrity(tarball)
    if found != MATHJAX_INTEGRITY:
        raise SiteBuildError(
            f"{tarball} is not mathjax@{MATHJAX_VERSION}: sha512 {found}, "
            f"expected {MATHJAX_INTEGRITY}; delete it and build again"
        )
    unpacked = cache_dir / f"mathjax-{MATHJAX_VERSION}"
    stamp = unpacked / ".integrity"
    if not stamp.exists() or stamp.read_text() != MATHJAX_INTEGRITY:
        shutil.rmtree(unpacked, ignore_errors=True)
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if _needed(m)]
            archive.extractall(unpacked, members=members, filter="data")
        stamp.write_text(MATHJAX_INTEGRITY)
    es5 = unpacked / "package" / "es5"
    return {
        f"{MATHJAX_SITE_DIR}/{path.relative_to(es5).as_posix()}": path
        for path in sorted(es5.rglob("*"))
        if path.is_file()
    }


# --------------------------------------------------------------------------
# Reproducible builds


def build_date(root: Path) -> str:
    """The date written into sitemap.xml: fixed for a given tree, not today's.

    SOURCE_DATE_EPOCH when it is set (the reproducible-builds convention),
    else the date of the last commit, else the epoch.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), "log", "-1", "--format=%ct"],
                capture_output=True, text=True,
            )
            epoch = done.stdout.strip() if done.returncode == 0 else None
        except OSError:
            epoch = None
    stamp = datetime.fromtimestamp(int(epoch or 0), timezone.utc)
    return stamp.strftime("%Y-%m-%d")


# --------------------------------------------------------------------------
# Pages


# The tutorial's layer (Torch NN Tutorial 6, backward propagation part 3):
# nn.Linear(2 -> 3) with these parameters, input x, dJ/dy from the next layer,
# and a learning rate for updateParameters.
TUTORIAL_WEIGHT = ((0.1453, 0.5062), (0.0635, 0.4911), (-0.1080, 0.1747))
TUTORIAL_BIAS = (0.2063, -0.1635, -0.0883)
TUTORIAL_INPUT = (4.0, 5.0)
TUTORIAL_GRAD_OUTPUT = (1.0, 2.0, 3.0)
TUTORIAL_LEARNING_RATE = 0.02
# What the tutorial prints for them (Torch rounds to 4 decimals).
TUTORIAL_PRINTS = {
    "gradInput": (-0.0516, 2.0126),
    "gradWeight": ((4, 5), (8, 10), (12, 15)),
    "gradBias": (1, 2, 3),
    "weight": ((0.0653, 0.4062), (-0.0965, 0.2911), (-0.3480, -0.1253)),
    "bias": (0.1863, -0.2035, -0.1483),
}
# Torch's module tests: central differences with this perturbation, and the
# largest error they accept between the numeric and the backprop Jacobian.
PERTURBATION = 1e-6
PRECISION = 1e-5
# Layers whose Jacobians the numeric-checks page checks: (input, output, batch).
JACOBIAN_CASES = [(2, 3, None), (2, 3, 4), (5, 7, None), (5, 7, 10), (16, 10, None), (16, 10, 50)]

ROOT = Path(__file__).resolve().parents[1]
LINEAR_BATCH = 4  # the batch size the batch page is derived at


def _demote(markdown_text: str, levels: int = 1) -> str:
    """The engine's markdown with every heading one level deeper (it starts at #)."""
    lines, in_math = [], False
    for line in markdown_text.splitlines():
        if line.strip() == "$$":
            in_math = not in_math
        if not in_math and line.startswith("#"):
            line = "#" * levels + line
        lines.append(line)
    return "\n".join(lines) + "\n"


def _without_convention(markdown_text: str) -> str:
    """The engine's markdown without its convention paragraph (for a second derivation
    on a page that already states it)."""
    from derive import latex

    convention = getattr(latex, "CONVENTION", None)
    return markdown_text.replace(convention + "\n\n", "", 1) if convention else markdown_text


def _run_python(source: str) -> str:
    """Run a snippet shown on the site and return what it prints."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<site snippet>", "exec"), {"__name__": "__site__"})
    return printed.getvalue()


def _snippet_with_output(source: str) -> str:
    return f"```python\n{source}```\n\nIt prints:\n\n```text\n{_run_python(source)}```\n"


def tutorial_script() -> str:
    """The Python a user runs to get the tutorial's numbers with derive.nn.Linear."""
    weight = [list(row) for row in TUTORIAL_WEIGHT]
    return f"""\
import numpy as np
from derive.nn import Linear

layer = Linear(2, 3)
layer.weight[...] = {weight}
layer.bias[...] = {list(TUTORIAL_BIAS)}
x = np.array({list(TUTORIAL_INPUT)})
dJ_dy = np.array({list(TUTORIAL_GRAD_OUTPUT)})

layer.zeroGradParameters()         # 1. gradWeight = 0, gradBias = 0
layer.forward(x)
layer.backward(x, dJ_dy)           # 2. updateGradInput + accGradParameters
print("gradInput:", layer.gradInput)
print("gradWeight:", layer.gradWeight, sep="\\n")
print("gradBias:", layer.gradBias)
layer.updateParameters({TUTORIAL_LEARNING_RATE})       # 3. W -= eta gradWeight; b likewise
print("weight:", layer.weight, sep="\\n")
print("bias:", layer.bias)
"""


def _four_decimals(values) -> str:
    return ", ".join(f"{float(v):.4f}" for v in values)


def tutorial_numbers() -> dict[str, "np.ndarray"]:
    """gradInput, gradWeight, gradBias, and weight and bias after one update,
    computed by derive.nn.Linear from the tutorial's layer and numbers."""
    import numpy as np

    from derive.nn import Linear

    layer = Linear(2, 3)
    layer.weight[...] = TUTORIAL_WEIGHT
    layer.bias[...] = TUTORIAL_BIAS
    x, dJ_dy = np.array(TUTORIAL_INPUT), np.array(TUTORIAL_GRAD_OUTPUT)
    layer.zeroGradParameters()
    layer.forward(x)
    gradInput = layer.backward(x, dJ_dy).copy()
    numbers = {
        "gradInput": gradInput,
        "gradWeight": layer.gradWeight.copy(),
        "gradBias": layer.gradBias.copy(),
    }
    layer.updateParameters(TUTORIAL_LEARNING_RATE)
    numbers["weight"] = layer.weight.copy()
    numbers["bias"] = layer.bias.copy()
    return numbers


def linear_page() -> str:
    """Linear: backward propagation, in the tutorial's order, for the 2 -> 3 layer."""
    from derive.latex import markdown
    from derive.symbolic import linear, linear_example

    derivation = linear(2, 3)
    example = linear_example(
        [list(row) for row in TUTORIAL_WEIGHT],
        list(TUTORIAL_BIAS),
        list(TUTORIAL_INPUT),
        list(TUTORIAL_GRAD_OUTPUT),
        TUTORIAL_LEARNING_RATE,
    )
    return f"""\
# Linear: backward propagation

A layer `nn.Linear(2 -> 3)` computes \\(\\mathbf{{y}} = \\mathbf{{W}}\\mathbf{{x}} + \\mathbf{{b}}\\).
Training it takes the three calls the tutorial walks through, in this order:

1. `zeroGradParameters()` sets the accumulated gradients \\(\\Delta_\\mathbf{{W}}\\)
   (`gradWeight`) and \\(\\Delta_\\mathbf{{b}}\\) (`gradBias`) to zero;
2. `backward(input, gradOutput)` is `updateGradInput` (computes
   \\(\\partial J / \\partial \\mathbf{{x}}\\), `gradInput`, for the layer before)
   followed by `accGradParameters` (adds \\(\\partial J / \\partial \\mathbf{{W}}\\) and
   \\(\\partial J / \\partial \\mathbf{{b}}\\) to `gradWeight` and `gradBias`);
3. `updateParameters(learningRate)` takes a gradient-descent step
   \\(\\mathbf{{W}} \\leftarrow \\mathbf{{W}} - \\eta \\Delta_\\mathbf{{W}}\\),
   \\(\\mathbf{{b}} \\leftarrow \\mathbf{{b}} - \\eta \\Delta_\\mathbf{{b}}\\).

Below, derive's engine derives each formula for this layer; every displayed equality
is proved by sympy when the site is built. Jacobians are in numerator layout
(\\(\\partial \\mathbf{{y}} / \\partial \\mathbf{{x}}\\) is 3 x 2 and equals \\(\\mathbf{{W}}\\)):
see [the layout convention](tutorial-notes.md#layout-convention).

{_demote(markdown(derivation))}
{_demote(_without_convention(markdown(example)))}
## Run it

The same numbers from `derive.nn.Linear` (numpy only, Torch7's API). This code ran
when the site was built, and printed what follows it:

{_snippet_with_output(tutorial_script())}
The tutorial prints \\({_four_decimals(TUTORIAL_PRINTS["gradInput"])}\\) for `gradInput`: it
computed with the unrounded random weights, while the four-decimal \\(\\mathbf{{W}}\\) it
shows gives \\({_four_decimals(tutorial_numbers()["gradInput"])}\\). See
[Numeric checks](numeric-checks.md).
"""


def batch_script() -> str:
    """A batch of samples through the tutorial's layer, checked against one-by-one."""
    weight = [list(row) for row in TUTORIAL_WEIGHT]
    return f"""\
import numpy as np
from derive.nn import Linear

layer = Linear(2, 3)
layer.weight[...] = {weight}
layer.bias[...] = {list(TUTORIAL_BIAS)}
X = np.array([[4.0, 5.0], [1.0, 0.0], [0.0, 1.0], [-2.0, 3.0]])       # 4 samples, one a row
dJ_dY = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0], [1.0, 1.0, 1.0], [0.0, -2.0, 0.5]])

layer.zeroGradParameters()
layer.forward(X)
layer.backward(X, dJ_dY)
print("gradInput = dJ/dY W:", layer.gradInput, sep="\\n")
print("gradWeight = (dJ/dY)^T X:", layer.gradWeight, sep="\\n")
print("gradBias = (dJ/dY)^T 1:", layer.gradBias)

# The batch gradients are the sums of the one-sample gradients.
one_by_one = Linear(2, 3)
one_by_one.weight[...] = layer.weight
one_by_one.zeroGradParameters()
for x, dJ_dy in zip(X, dJ_dY):
    one_by_one.forward(x)
    one_by_one.backward(x, dJ_dy)
print("same gradWeight:", np.allclose(one_by_one.gradWeight, layer.gradWeight))
print("same gradBias:", np.allclose(one_by_one.gradBias, layer.gradBias))
"""


def batch_page() -> str:
    """Batch mode: Y = X W^T + 1 b^T, derived in full (the tutorial skips it)."""
    import dataclasses

    from derive.latex import markdown
    from derive.symbolic import linear

    single = linear(2, 3)
    both = linear(2, 3, batch=LINEAR_BATCH)
    # The batch derivation repeats the one-sample sections first: show the rest.
    titles = {section.title for section in single.sections}
    batch_only = dataclasses.replace(
        both, sections=[s for s in both.sections if s.title not in titles]
    )
    return f"""\
# Batch mode

With a 2-D input (`input:dim() == 2` in Torch) each row of \\(\\mathbf{{X}}\\) is one
sample, and the layer computes all outputs at once,
\\(\\mathbf{{Y}} = \\mathbf{{X}}\\mathbf{{W}}^{{T}} + \\mathbf{{1}}\\mathbf{{b}}^{{T}}\\).
The tutorial says the derivation is "the same as above" and skips it; here it is in full
for `nn.Linear(2 -> 3)` and a batch of {LINEAR_BATCH}, every equality proved by the
engine when the site was built. Torch's `updateGradInput` computes
`gradOutput * weight` (\\(\\frac{{\\partial J}}{{\\partial \\mathbf{{Y}}}}\\mathbf{{W}}\\)) and
`accGradParameters` adds `gradOutput:t() * input` and `gradOutput:t() * addBuffer`
(a column of ones), the three results below.

{_demote(markdown(batch_only))}
## Run it

This ran when the site was built:

{_snippet_with_output(batch_script())}"""


# --------------------------------------------------------------------------
# Numeric checks: finite differences against backprop, as Torch's tests do


def jacobian_errors(n_in: int, n_out: int, batch: int | None = None, bias: bool = True,
                    perturbation: float = PERTURBATION) -> dict[str, float]:
    """Largest |central difference - backprop| over the Jacobian of the output with
    respect to the input, the weight and (with bias) the bias of a random Linear."""
    import numpy as np

    from derive.nn import Linear

    rng = np.random.default_rng([n_in, n_out, batch or 0, int(bias)])
    layer = Linear(n_in, n_out, bias=bias, rng=rng)
    input = rng.uniform(-1, 1, (n_in,) if batch is None else (batch, n_in))
    return module_jacobian_errors(layer, input, perturbation)


def _parameter_names(module) -> list[str]:
    """Names of a module's parameters in ``parameters()`` order: weight, bias; in a
    Sequential each followed by its module's 1-based index, as the repr numbers them."""
    from derive.nn import Sequential

    if isinstance(module, Sequential):
        return [f"{name} ({i})" for i, inner in enumerate(module.modules, 1)
                for name in _parameter_names(inner)]
    return [name for name in ("weight", "bias") if getattr(module, name) is not None]


def module_jacobian_errors(module, input, perturbation: float = PERTURBATION) -> dict[str, float]:
    """{"input": error, parameter name: error, ...}: derive.nn.jacobian's check (Torch's:
    backprop against central differences), each Jacobian's largest absolute error."""
    from derive.nn.jacobian import jacobian_errors as errors

    return dict(zip(["input"] + _parameter_names(module), errors(module, input, perturbation)))


def step_size_errors(steps) -> dict[str, list[float]]:
    """Error of forward and central differences of dJ/d(x, W, b) against backprop,
    for the tutorial's layer and the loss J = sum(tanh(y)), at each step size.

    A nonlinear loss, so that the truncation error of each formula shows
    (central differences are exact on a linear or quadratic J).
    """
    import numpy as np

    from derive.nn import Linear

    layer = Linear(2, 3)
    layer.weight[...] = TUTORIAL_WEIGHT
    layer.bias[...] = TUTORIAL_BIAS
    x = np.array(TUTORIAL_INPUT) / 10  # keep tanh away from saturation

    def loss() -> float:
        return float(np.sum(np.tanh(layer.forward(x))))

    layer.zeroGradParameters()
    y = layer.forward(x).copy()
    layer.backward(x, 1 - np.tanh(y) ** 2)
    exact = [layer.gradInput.copy(), layer.gradWeight.copy(), layer.gradBias.copy()]
    errors: dict[str, list[float]] = {"forward": [], "central": []}
    for step in steps:
        worst = {"forward": 0.0, "central": 0.0}
        for array, gradient in zip((x, layer.weight, layer.bias), exact):
            flat = array.reshape(-1)
            for k in range(flat.size):
                kept = flat[k]
                at = loss()
                flat[k] = kept + step
                above = loss()
                flat[k] = kept - step
                below = loss()
                flat[k] = kept
                true = gradient.reshape(-1)[k]
                worst["forward"] = max(worst["forward"], abs((above - at) / step - true))
                worst["central"] = max(worst["central"], abs((above - below) / (2 * step) - true))
        for name in errors:
            errors[name].append(worst[name])
    return errors


def step_size_plot() -> bytes:
    """SVG of the finite-difference error against the step size (same bytes every build)."""
    import io

    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    steps = STEP_SIZES
    errors = step_size_errors(steps)
    with matplotlib.rc_context({"svg.hashsalt": "derive", "svg.fonttype": "path"}):
        figure = Figure(figsize=(7, 4.2))
        axes = figure.subplots()
        axes.loglog(steps, np.maximum(errors["forward"], 1e-17), ".-", label="forward  (J(p+h) - J(p)) / h")
        axes.loglog(steps, np.maximum(errors["central"], 1e-17), ".-", label="central  (J(p+h) - J(p-h)) / 2h")
        axes.axvline(PERTURBATION, color="0.5", linestyle=":", label="h = 1e-6, Torch's tests")
        axes.axhline(PRECISION, color="0.5", linestyle="--", label="1e-5, the error they accept")
        axes.set_xlabel("step size h")
        axes.set_ylabel("max |finite difference - backprop|")
        axes.set_title("nn.Linear(2 -> 3), J = sum(tanh(y)): error of dJ/d(x, W, b)")
        axes.invert_xaxis()
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(loc="upper center", fontsize="small")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


# Step sizes of the plot: 10^-1 down to 10^-13, four a decade.
STEP_SIZES = [10.0 ** (-k / 4) for k in range(4, 53)]


def _nearest(steps, step: float) -> int:
    import math

    return min(range(len(steps)), key=lambda k: abs(math.log10(steps[k] / step)))


def _power_of_ten(value: float) -> str:
    import math

    exponent = math.log10(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"10^{{{round(exponent)}}}"
    return f"10^{{{exponent:.2f}}}"


def _scientific(value: float) -> str:
    """A number as \\(m \\times 10^{e}\\) (LaTeX, for inside math delimiters)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"\\({mantissa} \\times 10^{{{int(exponent)}}}\\)"


def _printed(value: float) -> str:
    """A number the way Torch printed it in the tutorial: integers bare, else 4 decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def _number(value: float) -> str:
    text = f"{float(value):.10g}"
    return "0" if text == "-0" else text


def _entries(name: str, values) -> list[tuple[str, float]]:
    import numpy as np

    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return [(f"{name}[{i + 1}]", v) for i, v in enumerate(array)]
    return [(f"{name}[{i + 1},{j + 1}]", v) for (i, j), v in np.ndenumerate(array)]


def tutorial_comparison() -> list[tuple[str, float, float, float]]:
    """(entry, the tutorial's print, derive's value, difference) for every printed number."""
    ours = tutorial_numbers()
    rows = []
    for name, printed in TUTORIAL_PRINTS.items():
        for (entry, theirs), (_, mine) in zip(_entries(name, printed), _entries(name, ours[name])):
            rows.append((entry, theirs, mine, theirs - mine))
    return rows


def numeric_checks_page() -> str:
    """The tutorial's numbers next to derive's, and finite-difference Jacobian checks."""
    comparison = ["| entry | the tutorial prints | derive computes | difference | within 4-decimal rounding |",
                  "|---|--:|--:|--:|:-:|"]
    for entry, theirs, mine, difference in tutorial_comparison():
        within = "yes" if abs(difference) <= 0.5e-4 + 1e-12 else "**no**"
        shown = "0" if difference == 0 else f"{difference:.1e}"
        comparison.append(f"| `{entry}` | {_printed(theirs)} | {_number(mine)} | {shown} | {within} |")

    checks = ["| layer | input | bias | d output / d input | d output / d weight | d output / d bias | < 1e-5 |",
              "|---|---|:-:|--:|--:|--:|:-:|"]
    for n_in, n_out, batch in JACOBIAN_CASES:
        for bias in (True, False):
            errors = jacobian_errors(n_in, n_out, batch, bias)
            shape = f"({n_in},)" if batch is None else f"({batch}, {n_in})"
            passed = "yes" if max(errors.values()) < PRECISION else "**no**"
            bias_error = f"{errors['bias']:.1e}" if bias else "-"
            checks.append(f"| `Linear({n_in}, {n_out})` | {shape} | {'yes' if bias else 'no'} | "
                          f"{errors['input']:.1e} | {errors['weight']:.1e} | {bias_error} | {passed} |")
    steps = STEP_SIZES
    errors = step_size_errors(steps)
    best, least = {}, {}
    for name, values in errors.items():
        k = min(range(len(steps)), key=values.__getitem__)
        best[name], least[name] = _power_of_ten(steps[k]), _scientific(values[k])
    at_torch = _scientific(errors["central"][_nearest(steps, PERTURBATION)])
    table_comparison = "\n".join(comparison)
    table_checks = "\n".join(checks)
    return f"""\
# Numeric checks

Everything on this page was computed by `derive.nn.Linear` when the site was built.

## The tutorial's numbers

The tutorial runs `nn.Linear(2, 3)` with the weights below, \\(\\mathbf{{x}} = [4, 5]^T\\),
\\(\\partial J / \\partial \\mathbf{{y}} = [1, 2, 3]^T\\) and \\(\\eta = {TUTORIAL_LEARNING_RATE}\\),
and prints `gradInput`, `gradWeight`, `gradBias`, then `weight` and `bias` after
`updateParameters({TUTORIAL_LEARNING_RATE})`. Here are its prints next to derive's
results for the same four-decimal \\(\\mathbf{{W}}\\) and \\(\\mathbf{{b}}\\)
(difference = tutorial - derive):

{table_comparison}

Torch prints four decimals, so a difference up to \\(5 \\times 10^{{-5}}\\) is rounding of
the print. The two `gradInput` entries differ by \\(10^{{-4}}\\): the tutorial's layer had
random weights with more digits than it shows, and \\(\\mathbf{{W}}^{{T}}\\partial J / \\partial
\\mathbf{{y}}\\) with the shown \\(\\mathbf{{W}}\\) is \\({_four_decimals(tutorial_numbers()["gradInput"])}\\)
(the sums are worked out in [Notes on the tutorial](tutorial-notes.md#4-products-where-sums-are-meant-in-the-wt-g-example)). `gradWeight` and
`gradBias` do not depend on \\(\\mathbf{{W}}\\), and the update subtracts multiples of
\\(\\eta = {TUTORIAL_LEARNING_RATE}\\) with at most four decimals, which leaves the rounded
digits as they were.

## Jacobians by central differences

Torch checks every module the same way: perturb each entry \\(p\\) of the input, the
weight and the bias by \\(h = 10^{{-6}}\\), take
\\((\\mathbf{{y}}(p + h) - \\mathbf{{y}}(p - h)) / 2h\\) as a column of the Jacobian, and
compare with the Jacobian that `backward` gives for one-hot `gradOutput`s. It accepts a
largest error below \\(10^{{-5}}\\). Random layers (seeded), one sample and batches, with
and without bias; the largest absolute error over each Jacobian:

{table_checks}

## Error against the step size

Why \\(h = 10^{{-6}}\\)? A finite difference makes two errors: truncation, which shrinks
with \\(h\\) (like \\(h\\) for forward differences, \\(h^2\\) for central ones), and rounding,
which grows like \\(\\varepsilon / h\\) with \\(\\varepsilon \\approx 2.2 \\times 10^{{-16}}\\).
Here for the tutorial's layer (input \\(\\mathbf{{x}} / 10\\)) with the nonlinear loss
\\(J = \\sum_i \\tanh(y_i)\\), the largest error over \\(\\partial J / \\partial \\mathbf{{x}}\\),
\\(\\partial J / \\partial \\mathbf{{W}}\\) and \\(\\partial J / \\partial \\mathbf{{b}}\\):

![Finite-difference error against the step size](numeric-checks-step-size.svg)

On this grid of steps the forward difference is best at \\(h = {best["forward"]}\\)
(near \\(\\sqrt{{\\varepsilon}}\\)) with an error of {least["forward"]}, the central one at
\\(h = {best["central"]}\\) (near \\(\\varepsilon^{{1/3}}\\)) with {least["central"]}. At Torch's
\\(h = 10^{{-6}}\\) the central error is {at_torch}, far below the \\(10^{{-5}}\\) its tests accept.
"""


# --------------------------------------------------------------------------
# Notes on the tutorial: its slips, each next to the correct version

_TUTORIAL_SLIPS = [
    (
        "Δ_W written where Δ_b is meant",
        "In the gradBias part, the formula for `gradBias` names its left side "
        "\\(\\Delta_\\mathbf{W}\\), the weight's gradient; it is \\(\\Delta_\\mathbf{b}\\).",
        r"\Delta_\textbf{W} = \frac{\partial J}{\partial \textbf{b}} = \frac{\partial J}{\partial \textbf{y}} \frac{\partial \textbf{y}}{\partial \textbf{b}}",
        r"\Delta_\mathbf{b} = \frac{\partial J}{\partial \mathbf{b}} = \frac{\partial J}{\partial \mathbf{y}} \frac{\partial \mathbf{y}}{\partial \mathbf{b}}",
    ),
    (
        "Wrong indices in the ∂J/∂b matrix",
        "Row \\(i\\) of \\(\\partial J / \\partial \\mathbf{b}\\) is "
        "\\(\\sum_k \\frac{\\partial J}{\\partial y_k}\\frac{\\partial y_k}{\\partial b_i}\\), of which "
        "only \\(k = i\\) is non-zero. The tutorial's second and third rows use \\(y_1\\) and "
        "\\(y_2\\) where \\(y_2\\) and \\(y_3\\) belong.",
        "\\begin{bmatrix}\n"
        r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{1}} \\" "\n"
        r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{2}} \\" "\n"
        r"\frac{\partial J}{\partial y_{2}} \frac{\partial y_{2}}{\partial b_{3}} \\" "\n"
        "\\end{bmatrix}",
        "\\begin{bmatrix}\n"
        r"\frac{\partial J}{\partial y_{1}} \frac{\partial y_{1}}{\partial b_{1}} \\" "\n"
        r"\frac{\partial J}{\partial y_{2}} \frac{\partial y_{2}}{\partial b_{2}} \\" "\n"
        r"\frac{\partial J}{\partial y_{3}} \frac{\partial y_{3}}{\partial b_{3}} \\" "\n"
        "\\end{bmatrix}",
    ),
    (
        "Missing ∂ in the numerators of the Jacobian tables",
        "In the middle step of \\(\\partial \\mathbf{y}/\\partial \\mathbf{x}\\), "
        "\\(\\partial \\mathbf{y}/\\partial \\mathbf{W}\\) and \\(\\partial \\mathbf{y}/\\partial \\mathbf{b}\\) "
        "each entry has \\(\\partial\\) in the denominator only, which reads as a quotient; "
        "the derivative of the expression is meant. One entry of each table:",
        r"\frac{w_{11}x_{1}+w_{12}x_{2}+b_{1}}{\partial x_{1}} \quad "
        r"\frac{w_{11}x_{1}+w_{12}x_{2}+b_{1}}{\partial w_{11}} \quad "
        r"\frac{w_{11}x_{1}+w_{12}x_{2}+b_{1}}{\partial b_{1}}",
        r"\frac{\partial \left(w_{11}x_{1}+w_{12}x_{2}+b_{1}\right)}{\partial x_{1}} \quad "
        r"\frac{\partial \left(w_{11}x_{1}+w_{12}x_{2}+b_{1}\right)}{\partial w_{11}} \quad "
        r"\frac{\partial \left(w_{11}x_{1}+w_{12}x_{2}+b_{1}\right)}{\partial b_{1}}",
    ),
    (
        "Products where sums are meant in the W^T g example",
        "A 2 x 3 matrix times a 3-vector is a 2-vector whose entries are sums of "
        "products; the tutorial lays the six products out as a 2 x 3 matrix and then jumps "
        "to the 2-vector. With the numbers of the example (computed when this page was built):",
        None,  # made from the numbers, see _wtg_slip
        None,
    ),
    (
        "x written as a row inside a column bmatrix",
        "In the forward pass \\(\\mathbf{x}\\) lacks the row break `\\\\` between its entries, "
        "so it renders as one cell \\(x_1 x_2\\) (a product) instead of a column:",
        "\\begin{bmatrix}\nx_{1}\nx_{2}\n\\end{bmatrix}",
        "\\begin{bmatrix}\nx_{1} \\\\\nx_{2}\n\\end{bmatrix}",
    ),
]


def _bmatrix(rows) -> str:
    return "\\begin{bmatrix}\n" + " \\\\\n".join(" & ".join(row) for row in rows) + "\n\\end{bmatrix}"


def _wtg_slip() -> tuple[str, str]:
    """The tutorial's W^T g example (products in a 2 x 3 matrix) and the correct sums."""
    import numpy as np

    weight_t = np.array(TUTORIAL_WEIGHT).T
    g = np.array(TUTORIAL_GRAD_OUTPUT)

    def factor(value: float) -> str:
        text = f"{value:.4f}"
        return f"({text})" if value < 0 else text

    def times(w: float, v: float) -> str:
        return f"{factor(w)} \\times {int(v)}"

    products = [[times(w, v) for w, v in zip(row, g)] for row in weight_t]
    tutorial = _bmatrix([[p.replace("(", "").replace(")", "") for p in row] for row in products])
    sums = [[" + ".join(row)] for row in products]
    values = [[f"{value:.4f}"] for value in weight_t @ g]
    return tutorial, f"{_bmatrix(sums)}\n= {_bmatrix(values)}"


def tutorial_notes_page() -> str:
    """The tutorial's slips, each next to the correct version, and the layout convention."""
    parts = [
        "# Notes on the tutorial",
        "The tutorial (Torch NN Tutorial 6, backward propagation part 3) gets its results "
        "right; a few formulas on the way have slips. Each is quoted as the tutorial writes "
        "it (rendered here), next to the correct version. The derivations on this site have "
        "every displayed equality checked by sympy when the site is built.",
    ]
    for number, (title, text, wrong, right) in enumerate(_TUTORIAL_SLIPS, 1):
        if wrong is None:
            wrong, right = _wtg_slip()
        parts += [
            f"## {number}. {title}",
            text,
            "The tutorial:",
            f"$$\n{wrong}\n$$",
            "Correct:",
            f"$$\n{right}\n$$",
        ]
    grad_input = _four_decimals(tutorial_numbers()["gradInput"])
    parts += [
        "## Layout convention",
        "derive writes Jacobians in **numerator layout**: for \\(\\mathbf{y}\\) with \\(m\\) "
        "entries and \\(\\mathbf{x}\\) with \\(n\\), \\(\\partial \\mathbf{y} / \\partial \\mathbf{x}\\) "
        "is the \\(m \\times n\\) matrix with entries "
        "\\(\\left(\\frac{\\partial \\mathbf{y}}{\\partial \\mathbf{x}}\\right)_{ik} = "
        "\\frac{\\partial y_i}{\\partial x_k}\\). For \\(\\mathbf{y} = \\mathbf{W}\\mathbf{x} + "
        "\\mathbf{b}\\) it is \\(\\mathbf{W}\\) itself: \\(3 \\times 2\\) for `nn.Linear(2 -> 3)`, "
        "the shape of `weight`. The gradient of the scalar loss \\(J\\) has the shape of what "
        "it differentiates by: \\(\\partial J / \\partial \\mathbf{x}\\) is a column of \\(n\\), "
        "\\(\\partial J / \\partial \\mathbf{W}\\) is \\(m \\times n\\) like \\(\\mathbf{W}\\). The "
        "chain rule in these shapes reads",
        "$$\n"
        "\\frac{\\partial J}{\\partial \\mathbf{x}} = "
        "\\left(\\frac{\\partial \\mathbf{y}}{\\partial \\mathbf{x}}\\right)^{T} "
        "\\frac{\\partial J}{\\partial \\mathbf{y}} = \\mathbf{W}^{T} "
        "\\frac{\\partial J}{\\partial \\mathbf{y}}\n$$",
        "which is what the tutorial computes. Its shorthand "
        "\\(\\frac{\\partial J}{\\partial \\mathbf{y}}\\frac{\\partial \\mathbf{y}}{\\partial \\mathbf{x}}\\) "
        "is the same product with \\(\\partial J / \\partial \\mathbf{y}\\) taken as a row. "
        "(sympy's `(W*x + b).diff(x)` returns \\(\\mathbf{W}^{T}\\): it puts the variable's "
        "index first, the denominator layout.)",
        "## Also worth knowing",
        "- \\(\\partial \\mathbf{y} / \\partial \\mathbf{W}\\) has three indices "
        "(\\(\\partial y_i / \\partial w_{jk} = \\delta_{ij} x_k\\)); the tutorial's 3 x 2 table "
        "is its only non-zero slice, \\(j = i\\). Likewise "
        "\\(\\partial \\mathbf{y} / \\partial \\mathbf{b}\\) is the 3 x 3 identity, whose diagonal "
        "the tutorial writes as a column of ones.\n"
        "- Torch leaves `gradWeight` and `gradBias` uninitialised, hence the tutorial's "
        "garbage before `zeroGradParameters`; `derive.nn.Linear` starts them at zero.\n"
        f"- The printed `gradInput` (\\({_four_decimals(TUTORIAL_PRINTS['gradInput'])}\\)) comes from the unrounded "
        f"random weights; the four-decimal \\(\\mathbf{{W}}\\) shown gives "
        f"\\({grad_input}\\): see [Numeric checks](numeric-checks.md).",
    ]
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------
# CLI and Python API, read from the code when the site is built


def _derive_command(*args: str, cwd: str | None = None) -> str:
    """What `derive ARGS` prints, run as a user runs it (80 columns for help)."""
    import sys

    env = dict(os.environ, COLUMNS="80", PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    done = subprocess.run([sys.executable, "-m", "derive.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SiteBuildError(f"`derive {' '.join(args)}` failed: {last}")
    return done.stdout


def _head(text: str, lines: int) -> str:
    kept = text.splitlines()[:lines]
    return "\n".join(kept) + "\n"


# Examples of the CLI page: (arguments, what they do, lines of output shown). Each
# runs when the site is built, so the page never shows a command that fails.
CLI_EXAMPLES = [
    (("linear", "2", "3"), "the tutorial's layer, as markdown with display math", 24),
    (("linear", "2", "3", "--batch", "4"), "with the batch case, Y = X W^T + 1 b^T", 0),
    (("linear", "2", "3", "--no-bias"), "the layer without bias, y = W x", 0),
    (("linear", "64", "64"), "any size: big matrices are shown truncated", 0),
    (("linear", "2", "3", "--format", "latex", "-o", "linear.tex"),
     "a standalone LaTeX document, written to linear.tex", 0),
]


def cli_page() -> str:
    """The `derive` command: its help, and examples checked by running them."""
    import tempfile

    from concurrent.futures import ThreadPoolExecutor

    shown_output, more = [], []
    width = max(len(" ".join(args)) for args, _, _ in CLI_EXAMPLES) + len("derive ")
    commands = [("--help",), ("linear", "--help")] + [args for args, _, _ in CLI_EXAMPLES]
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor() as pool:
        outputs = list(pool.map(lambda args: _derive_command(*args, cwd=scratch), commands))
    help_text, linear_help, *example_outputs = outputs
    for (args, what, shown), output in zip(CLI_EXAMPLES, example_outputs):
        command = "derive " + " ".join(args)
        if shown:
            shown_output.append(f"{what.capitalize()}; its first lines:\n\n"
                                f"```text\n$ {command}\n{_head(output, shown)}...\n```")
        else:
            more.append(f"{command.ljust(width)}   # {what}")
    examples_text = "\n\n".join(shown_output + ["More:", "```sh\n" + "\n".join(more) + "\n```"])
    return f"""\
# Command line

Installing derive (`pip install -e .` in a checkout) puts a `derive` command on the
path. It prints the same derivations as this site, for any size. The help below is
the command's own, captured when the site was built.

## `derive --help`

```text
$ derive --help
{help_text}```

## `derive linear --help`

```text
$ derive linear --help
{linear_help}```

## Examples

Each of these ran when the site was built.

{examples_text}
"""


def _api_objects():
    """(module, [(name, object, methods)]): every class derive.nn exports with the
    methods it defines itself (the class hierarchy is the documentation), the
    functions derive.symbolic exports, and derive.latex's two renderers."""
    import inspect

    from derive import latex, nn, symbolic

    classes = []
    for name in nn.__all__:
        cls = getattr(nn, name)
        methods = [m for m, value in vars(cls).items() if not m.startswith("_") and callable(value)]
        classes.append((f"derive.nn.{name}", cls, methods))
    functions = [(f"derive.symbolic.{name}", getattr(symbolic, name), [])
                 for name in symbolic.__all__ if inspect.isfunction(getattr(symbolic, name))]
    return [
        ("derive.nn", classes),
        ("derive.symbolic", functions),
        ("derive.latex", [("derive.latex.markdown", latex.markdown, []),
                          ("derive.latex.document", latex.document, [])]),
    ]


def _docstring(obj) -> str:
    """The docstring as markdown: reST ``code`` and :role:`name` become `code`."""
    import inspect
    import re

    doc = inspect.getdoc(obj) or "(no docstring)"
    doc = re.sub(r":\w+:`([^`]+)`", r"`\1`", doc)
    doc = re.sub(r"``(.+?)``", r"`\1`", doc)
    # Outside code spans a $ would start math for arithmatex.
    pieces = re.split(r"(`[^`]*`)", doc)
    return "".join(p if p.startswith("`") else p.replace("$", "&#36;") for p in pieces)


def _signature(name: str, obj) -> str:
    """name(parameters) -> result, with annotations unquoted (modules use PEP 563)."""
    import inspect
    import re

    text = str(inspect.signature(obj))
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)
    return f"```python\n{name}{text}\n```"


def api_page() -> str:
    """The public Python API, with signatures and docstrings read by inspect."""
    parts = [
        "# Python API",
        "Signatures and docstrings as the code has them (read with `inspect` when the site "
        "was built). `derive.nn` needs numpy only; `derive.symbolic` and `derive.latex` "
        "use sympy.",
    ]
    for module, objects in _api_objects():
        parts.append(f"## `{module}`")
        for name, obj, methods in objects:
            # The nearest public base class (a layer's place in the hierarchy).
            base = next((b.__name__ for b in getattr(obj, "__mro__", ())[1:]
                         if b is not object and not b.__name__.startswith("_")), None)
            parts.append(f"### `{name}`" + (f" ({base})" if base else ""))
            parts.append(_signature(name, obj))
            parts.append(_docstring(obj))
            for method in methods:
                function = getattr(obj, method)
                parts.append(f"#### `{method}`")
                parts.append(_signature(f"{obj.__name__}.{method}", function))
                parts.append(_docstring(function))
    return "\n\n".join(parts) + "\n"


def generated_files() -> dict[str, str | bytes]:
    """Every generated page (and picture) of the site: {path under docs/: content}."""
    return {
        "linear.md": linear_page(),
        "batch.md": batch_page(),
        "numeric-checks.md": numeric_checks_page(),
        "numeric-checks-step-size.svg": step_size_plot(),
        "tutorial-notes.md": tutorial_notes_page(),
        "cli.md": cli_page(),
        "api.md": api_page(),
    }

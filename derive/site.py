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
from dataclasses import dataclass
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
    return _run_python_namespace(source)[0]


def _run_python_namespace(source: str) -> tuple[str, dict]:
    """Run a snippet shown on the site: what it prints, and the variables it leaves."""
    import contextlib
    import io

    printed, namespace = io.StringIO(), {"__name__": "__site__"}
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<site snippet>", "exec"), namespace)
    return printed.getvalue(), namespace


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
# Modules: Sigmoid, Tanh, ReLU, MSECriterion, Sequential

MODULE_SIZE = 3  # the module pages derive at this size ...
MODULE_BATCH = 2  # ... and this batch
# What the module pages check by central differences: (size, batch or None).
MODULE_CASES = [(3, None), (3, 2), (10, None), (10, 50)]
# Stacks Linear(n_in -> n_hidden) -> f -> Linear(n_hidden -> n_out) the Sequential page
# checks, with each activation f: (n_in, n_hidden, n_out, batch or None).
STACK_CASES = [(2, 3, 1, None), (2, 3, 1, 4), (10, 20, 5, None), (10, 20, 5, 50)]


@dataclass(frozen=True)
class ActivationPage:
    """What an activation's page says beyond the engine's derivation."""

    torch: str  # the class name, in derive.nn and Torch
    formula: str  # f, LaTeX
    backward: str  # how Torch's backward computes gradInput (markdown)
    example: tuple[float, ...]  # the snippet's input
    derivative: tuple[str, str]  # (what the snippet prints, numpy for it) with x, y, dJ_dy


ACTIVATION_PAGES = {
    "sigmoid": ActivationPage(
        "Sigmoid", r"\sigma(x) = \frac{1}{1 + e^{-x}}",
        "Torch's `Sigmoid.lua` computes `gradInput` from the **output**: "
        "\\(\\sigma'(x) = \\sigma(x)\\,(1 - \\sigma(x)) = y\\,(1 - y)\\), so `backward` must follow "
        "`forward` of the same input (derive.nn checks that and says so).",
        (-2.0, 0.0, 3.0), ("dJ/dy * y * (1 - y):", "dJ_dy * y * (1 - y)")),
    "tanh": ActivationPage(
        "Tanh", r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
        "Torch's `Tanh.lua` computes `gradInput` from the **output**: "
        "\\(\\tanh'(x) = 1 - \\tanh^2(x) = 1 - y^2\\), so `backward` must follow `forward` of "
        "the same input (derive.nn checks that and says so).",
        (-2.0, 0.0, 3.0), ("dJ/dy * (1 - y**2):", "dJ_dy * (1 - y**2)")),
    "relu": ActivationPage(
        "ReLU", r"\mathrm{ReLU}(x) = \max(x, 0)",
        "Torch's `ReLU` is `Threshold(0, 0)`: \\(y = x\\) where \\(x > 0\\), else 0. Its "
        "`gradInput` reads the **input**: `gradOutput` where \\(x > 0\\) and 0 elsewhere, "
        "\\(x = 0\\) included (see [the gradient at 0](#the-gradient-at-0)).",
        (-1.0, 0.0, 2.0), ("dJ/dy * (x > 0):", "dJ_dy * (x > 0)")),
}


def _shape(size: int, batch: int | None) -> tuple[int, ...]:
    return (size,) if batch is None else (batch, size)


def _passed(errors) -> str:
    return "yes" if max(errors) < PRECISION else "**no**"


def _results_block(derivation) -> str:
    """The derivation's results (the engine's summary), one aligned line each."""
    from derive.latex import summary

    lines = [result["latex"].replace(" = ", " &= ", 1)
             for result in summary(derivation)["results"].values()]
    return "$$\n\\begin{aligned}\n" + " \\\\[1ex]\n".join(lines) + "\n\\end{aligned}\n$$"


def activation_script(name: str) -> str:
    """Forward and backward of one sample and of a batch through an activation."""
    page = ACTIVATION_PAGES[name]
    x = list(page.example)
    said, formula = page.derivative
    return f"""\
import numpy as np
from derive.nn import {page.torch}

layer = {page.torch}()
x = np.array({x})
dJ_dy = np.array([1.0, 2.0, 3.0])
y = layer.forward(x).copy()         # forward returns the module's output buffer
print("output:", y)
print("gradInput:", layer.backward(x, dJ_dy))
print("{said}", {formula})

X = np.array([{x}, [0.5, -0.5, 1.0]])   # a batch of 2: one sample a row
print("batch output:", layer.forward(X), sep="\\n")
"""


def activation_checks(name: str) -> list[tuple[tuple[int, ...], float, float]]:
    """(input shape, largest |central difference - backprop| of d output / d input,
    smallest |x| of the input) for each of MODULE_CASES, on seeded random input."""
    import numpy as np

    from derive import nn

    rows = []
    for size, batch in MODULE_CASES:
        rng = np.random.default_rng([*name.encode(), size, batch or 0])
        input = rng.uniform(-2, 2, _shape(size, batch))
        module = getattr(nn, ACTIVATION_PAGES[name].torch)()
        errors = module_jacobian_errors(module, input)
        rows.append((input.shape, errors["input"], float(np.min(np.abs(input)))))
    return rows


def relu_at_zero() -> dict[str, float]:
    """ReLU at x = 0: derive.nn's gradient, and the one-sided and central differences."""
    import numpy as np

    from derive.nn import ReLU

    relu, h = ReLU(), PERTURBATION

    def f(value: float) -> float:
        return float(relu.forward(np.array([value]))[0])

    relu.forward(np.array([0.0]))
    return {
        "backward": float(relu.backward(np.array([0.0]), np.array([1.0]))[0]),
        "right": (f(h) - f(0.0)) / h,
        "left": (f(0.0) - f(-h)) / h,
        "central": (f(h) - f(-h)) / (2 * h),
    }


def _relu_at_zero_section() -> str:
    at = {key: _number(value) for key, value in relu_at_zero().items()}
    return f"""\
## The gradient at 0

ReLU has no derivative at \\(x = 0\\): the slope is 1 from the right and 0 from the left,
and any value in \\([0, 1]\\) is a subgradient. Torch picks 0 (the gradient passes where
\\(x > 0\\), strictly), and so does derive.nn. Computed when the site was built, with
\\(h = 10^{{-6}}\\):

| at \\(x = 0\\) | value |
|---|--:|
| derive.nn's `backward`, `gradOutput` 1 | {at["backward"]} |
| \\((f(h) - f(0)) / h\\), from the right | {at["right"]} |
| \\((f(0) - f(-h)) / h\\), from the left | {at["left"]} |
| \\((f(h) - f(-h)) / 2h\\), central | {at["central"]} |

A central difference at 0 averages the two sides and agrees with neither, so a
finite-difference check of ReLU means nothing at (or within \\(h\\) of) the kink. The
checks above use random inputs whose smallest \\(|x|\\) is in the table, far from it.
"""


def activation_page(name: str) -> str:
    """Sigmoid, Tanh or ReLU: the engine's derivation, the module in use, its checks."""
    from derive.latex import markdown
    from derive.symbolic import activation

    page = ACTIVATION_PAGES[name]
    derivation = activation(name, MODULE_SIZE, batch=MODULE_BATCH)
    relu = name == "relu"
    table = ["| input | d output / d input | < 1e-5 |" + (" smallest \\(\\lvert x \\rvert\\) |" if relu else ""),
             "|---|--:|:-:|" + ("--:|" if relu else "")]
    for shape, error, smallest in activation_checks(name):
        table.append(f"| {shape} | {error:.1e} | {_passed([error])} |"
                     + (f" {smallest:.1e} |" if relu else ""))
    table_text = "\n".join(table)
    return f"""\
# {page.torch}

`nn.{page.torch}` applies \\({page.formula}\\) to every element of its input: one sample
\\(\\mathbf{{x}}\\) of any size, or a batch \\(\\mathbf{{X}}\\) with one sample a row. It has no
parameters, so `backward` is `updateGradInput` alone. {page.backward}

The engine's results (\\(\\odot\\) is the element-wise product; in a batch the same
holds row by row):

{_results_block(derivation)}

{_demote(markdown(derivation))}
## Use it

`derive.nn.{page.torch}` runs the kernel compiled from these results. This ran when the
site was built:

{_snippet_with_output(activation_script(name))}
## Numeric checks

Torch's check, computed when the site was built: seeded random inputs in \\([-2, 2]\\),
each entry perturbed by \\(h = 10^{{-6}}\\), the central-difference Jacobian against the one
`backward` gives for one-hot `gradOutput`s; the largest absolute error:

{table_text}
{chr(10) + _relu_at_zero_section() if relu else ""}"""


def mse_script() -> str:
    """MSECriterion on one sample, a batch, and without averaging."""
    return """\
import numpy as np
from derive.nn import MSECriterion

criterion = MSECriterion()                     # sizeAverage=True, Torch's default
prediction = np.array([0.5, 2.0, -1.0])
target = np.array([1.0, 2.0, 1.0])
print("J:", criterion.forward(prediction, target))
print("dJ/dyhat:", criterion.backward(prediction, target))
print("2 (yhat - y) / 3:", 2 * (prediction - target) / 3)

Prediction = np.array([[0.5, 2.0, -1.0], [0.0, 1.0, 1.0]])   # a batch of 2
Target = np.zeros((2, 3))
print("batch J, over all 6 elements:", criterion.forward(Prediction, Target))
print("batch dJ/dYhat = 2 (Yhat - Y) / 6:", criterion.backward(Prediction, Target), sep="\\n")

summed = MSECriterion(sizeAverage=False)
print("sizeAverage=False: J =", summed.forward(prediction, target),
      "dJ/dyhat =", summed.backward(prediction, target))
"""


def criterion_gradient_error(criterion, input, target, perturbation: float = PERTURBATION) -> float:
    """Largest |central difference - backward| over dJ/dinput of a criterion."""
    import numpy as np

    exact = criterion.backward(input, target).reshape(-1).copy()
    flat = input.reshape(-1)  # a view: perturb the input in place
    numeric = np.zeros(flat.size)
    for k in range(flat.size):
        kept = flat[k]
        flat[k] = kept + perturbation
        above = criterion.forward(input, target)
        flat[k] = kept - perturbation
        below = criterion.forward(input, target)
        flat[k] = kept
        numeric[k] = (above - below) / (2 * perturbation)
    return float(np.max(np.abs(numeric - exact)))


def mse_checks() -> list[tuple[tuple[int, ...], bool, float]]:
    """(input shape, sizeAverage, largest error of dJ/dinput) on seeded random input and target."""
    import numpy as np

    from derive.nn import MSECriterion

    rows = []
    for size, batch in MODULE_CASES:
        for size_average in (True, False):
            rng = np.random.default_rng([size, batch or 0, int(size_average)])
            input, target = (rng.uniform(-2, 2, _shape(size, batch)) for _ in range(2))
            error = criterion_gradient_error(MSECriterion(size_average), input, target)
            rows.append((input.shape, size_average, error))
    return rows


def mse_page() -> str:
    """MSECriterion: the engine's derivations (one sample, a batch), use, checks."""
    from derive.latex import markdown
    from derive.symbolic import mse

    single = mse(MODULE_SIZE)
    batch = mse(MODULE_SIZE, batch=MODULE_BATCH)
    summed = mse(MODULE_SIZE, size_average=False)
    table = ["| input | sizeAverage | dJ / d input | < 1e-5 |", "|---|:-:|--:|:-:|"]
    for shape, size_average, error in mse_checks():
        table.append(f"| {shape} | {str(size_average).lower()} | {error:.1e} | {_passed([error])} |")
    table_text = "\n".join(table)
    return f"""\
# MSECriterion

`nn.MSECriterion()` is the loss \\(J\\): the mean of the squared differences between the
prediction \\(\\hat{{\\mathbf{{y}}}}\\) (the network's output) and the target \\(\\mathbf{{y}}\\),
over **all** \\(N\\) elements: for a batch \\(\\hat{{\\mathbf{{Y}}}}\\) of \\(B\\) samples of
\\(n\\), \\(N = Bn\\), as Torch divides by `input:nElement()`. With `sizeAverage=False` it
is the plain sum. Its `backward(input, target)` returns
\\(\\partial J / \\partial \\hat{{\\mathbf{{y}}}}\\): the `gradOutput` that the network's
`backward` starts from.

The engine's results for {MODULE_SIZE} outputs:

{_results_block(single)}

and with `sizeAverage=False`:

{_results_block(summed)}

{_demote(markdown(single))}
{_demote(_without_convention(markdown(batch)))}
## Use it

`derive.nn.MSECriterion` runs the kernels compiled from these results: `forward` returns
a float, `backward` an array shaped like the input. This ran when the site was built:

{_snippet_with_output(mse_script())}
## Numeric checks

Computed when the site was built: seeded random predictions and targets in
\\([-2, 2]\\), each entry of the prediction perturbed by \\(h = 10^{{-6}}\\), the central
difference of \\(J\\) against `backward`; the largest absolute error:

{table_text}

\\(J\\) is quadratic, so central differences have no truncation error here: what remains
is rounding.
"""


def sequential_script() -> str:
    """A Linear -> Sigmoid -> Linear stack, its backward, and the same pass by hand."""
    return """\
import numpy as np
from derive.nn import Linear, Sequential, Sigmoid

model = Sequential().add(Linear(2, 3, rng=0)).add(Sigmoid()).add(Linear(3, 1, rng=1))
print(model)
x = np.array([0.5, -1.0])
dJ_dy = np.array([1.0])
model.zeroGradParameters()
model.forward(x)
gradInput = model.backward(x, dJ_dy)

# The same pass by hand, last module first, with the engine's formulas:
W1, W2 = model.get(1).weight, model.get(3).weight
h2 = model.get(2).output                    # Sigmoid's output in forward
g3 = W2.T @ dJ_dy                           # module 3, Linear: W2^T dJ/dy
g2 = g3 * h2 * (1 - h2)                     # module 2, Sigmoid: element-wise product
g1 = W1.T @ g2                              # module 1, Linear: W1^T times that
print("Sequential.backward:", gradInput)
print("by hand:            ", g1)
print("gradWeight (1) = g2 x^T:", np.allclose(model.get(1).gradWeight, np.outer(g2, x)))
print("gradWeight (3) = dJ/dy h2^T:", np.allclose(model.get(3).gradWeight, np.outer(dJ_dy, h2)))
"""


def _stack(n_in: int, n_hidden: int, n_out: int, activation: str, rng):
    from derive import nn

    return (nn.Sequential().add(nn.Linear(n_in, n_hidden, rng=rng))
            .add(getattr(nn, ACTIVATION_PAGES[activation].torch)())
            .add(nn.Linear(n_hidden, n_out, rng=rng)))


def sequential_checks() -> list[tuple[str, str, tuple[int, ...], dict[str, float], float]]:
    """(activation, sizes "in→hidden→out", input shape, {input or parameter: largest
    error}, smallest |h1|) for every activation and STACK_CASES, seeded."""
    import numpy as np

    rows = []
    for activation in ACTIVATION_PAGES:
        for n_in, n_hidden, n_out, batch in STACK_CASES:
            rng = np.random.default_rng([*activation.encode(), n_in, n_hidden, n_out, batch or 0])
            stack = _stack(n_in, n_hidden, n_out, activation, rng)
            input = rng.uniform(-1, 1, _shape(n_in, batch))
            errors = module_jacobian_errors(stack, input)
            stack.forward(input)
            hidden = float(np.min(np.abs(stack.get(1).output)))
            rows.append((ACTIVATION_PAGES[activation].torch, f"{n_in}\u2192{n_hidden}\u2192{n_out}",
                         input.shape, errors, hidden))
    return rows


def sequential_page() -> str:
    """Sequential: the chain rule across modules, in the engine and in derive.nn."""
    import inspect
    import textwrap

    from derive.latex import markdown
    from derive.nn import Sequential
    from derive.symbolic import sequential

    rows = sequential_checks()
    names = list(rows[0][3])
    table = ["| f | sizes | input | " + " | ".join(f"d / d {name}" for name in names) + " | < 1e-5 |",
             "|---|---|---|" + "--:|" * len(names) + ":-:|"]
    for activation, sizes, shape, errors, _ in rows:
        table.append(f"| {activation} | {sizes} | {shape} | "
                     + " | ".join(f"{errors[name]:.1e}" for name in names)
                     + f" | {_passed(errors.values())} |")
    table_text = "\n".join(table)
    relu_hidden = min(hidden for activation, _, _, _, hidden in rows if activation == "ReLU")
    backward_source = textwrap.dedent(inspect.getsource(Sequential.backward))
    return f"""\
# Sequential

`nn.Sequential` chains modules: `forward` runs them in order, each taking the previous
one's output; `backward` runs them in reverse, each taking the gradient with respect to
its output and handing back the one with respect to its input. The engine derives it
for the stack Linear(2 -> 3), Sigmoid, Linear(3 -> 1): the stack's Jacobian is the
product of the modules' Jacobians, and its transpose times
\\(\\partial J / \\partial \\mathbf{{y}}\\) is what the reverse pass computes, one factor a
module. Every equality is proved entry by entry on the expanded stack.

{_demote(markdown(sequential()))}
## Backward, in the code

`derive.nn.Sequential.backward`, as the code has it when the site was built: module
\\(i\\) gets the input it saw in `forward` (the output of module \\(i - 1\\)) and, as
`gradOutput`, the `gradInput` of module \\(i + 1\\); each module's `backward` also adds
its parameters' gradients.

```python
{backward_source}```

So for Linear, Sigmoid, Linear it computes
\\(\\mathbf{{W}}_2^{{T}}\\frac{{\\partial J}}{{\\partial \\mathbf{{y}}}}\\) first, then the
element-wise product with \\(\\mathbf{{h}}_2 \\odot (1 - \\mathbf{{h}}_2)\\), then
\\(\\mathbf{{W}}_1^{{T}}\\) times that: the last form of \\(\\partial J / \\partial \\mathbf{{x}}\\)
above, read from the right. This ran when the site was built:

{_snippet_with_output(sequential_script())}
## Numeric checks

The whole stack checked as Torch checks a module, computed when the site was built:
seeded random layers and inputs, each entry of the input and of every parameter
perturbed by \\(h = 10^{{-6}}\\), the central-difference Jacobian of the stack's output
against what `backward` gives for one-hot `gradOutput`s; the largest absolute error.
Each stack is `Sequential()` of `Linear(in, hidden)`, f, `Linear(hidden, out)`; weight (1)
and bias (1) belong to the first Linear, weight (3) and bias (3) to the last, numbered
as the repr numbers the modules.

{table_text}

In the ReLU stacks the entry of \\(\\mathbf{{h}}_1\\) nearest ReLU's kink at 0 is
{relu_hidden:.1e} away, {relu_hidden / PERTURBATION:.0f} times \\(h\\); a perturbation moves an entry of
\\(\\mathbf{{h}}_1\\) by at most \\(h\\) here (inputs and weights are at most 1 in size), so
none crosses it (see [ReLU's gradient at 0](relu.md#the-gradient-at-0)).
"""


# --------------------------------------------------------------------------
# The series' linear regression: y = 2x + 1 with Linear(1, 1) and MSECriterion

REGRESSION_SEED = 0
REGRESSION_LEARNING_RATE = 0.02
REGRESSION_ITERATIONS = 500
# Iterations whose forward the table shows (1-based), then the state after the loop.
REGRESSION_SHOWN = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def regression_script() -> str:
    """The series' training loop on derive.nn, recording every iteration."""
    return f"""\
import numpy as np
from derive.nn import Linear, MSECriterion

x = np.array([[1.0], [2.0], [3.0]])      # a batch of 3 samples, 1 feature each
y = 2 * x + 1                            # the targets 3, 5, 7
model = Linear(1, 1, rng={REGRESSION_SEED})              # weight (1, 1), bias (1,): seeded U(-1, 1)
criterion = MSECriterion()
learningRate = {REGRESSION_LEARNING_RATE}

history = []                             # (loss, weight, bias) that each forward sees
for iteration in range({REGRESSION_ITERATIONS}):
    model.zeroGradParameters()
    prediction = model.forward(x)
    loss = criterion.forward(prediction, y)
    history.append((loss, model.weight[0, 0], model.bias[0]))
    gradOutput = criterion.backward(prediction, y)    # dJ/dprediction = 2 (prediction - y) / 3
    model.backward(x, gradOutput)                     # adds dJ/dW and dJ/db
    model.updateParameters(learningRate)              # W -= lr dJ/dW, b -= lr dJ/db

history.append((criterion.forward(model.forward(x), y), model.weight[0, 0], model.bias[0]))
loss, weight, bias = history[-1]
print(f"after {{len(history) - 1}} iterations: weight {{weight:.4f}}, bias {{bias:.4f}}, loss {{loss:.4g}}")
"""


def regression_run() -> tuple[str, "np.ndarray"]:
    """What the script prints, and its history as an array of rows (loss, weight, bias):
    row k is the state after k updates (row 0 the start, the last after the loop)."""
    import numpy as np

    printed, namespace = _run_python_namespace(regression_script())
    return printed, np.array(namespace["history"], dtype=float)


def regression_analysis(history) -> dict[str, float]:
    """Why 500 iterations do not reach (2, 1): the error (w - 2, b - 1) is multiplied by
    I - lr H at every step, H the Hessian of the (quadratic) loss."""
    import numpy as np

    x = np.array([1.0, 2.0, 3.0])
    design = np.column_stack([x, np.ones_like(x)])
    (w_best, b_best), *_ = np.linalg.lstsq(design, 2 * x + 1, rcond=None)
    hessian = 2 / x.size * design.T @ design
    (slow, fast), vectors = np.linalg.eigh(hessian)
    rates = 1 - REGRESSION_LEARNING_RATE * np.array([slow, fast])
    start, end = history[0, 1:], history[-1, 1:]
    initial = float(np.hypot(*(start - (w_best, b_best))))
    final = float(np.hypot(*(end - (w_best, b_best))))
    direction = vectors[:, 0] * np.sign(vectors[1, 0])  # the slow direction, bias part positive
    return {
        "w_best": float(w_best), "b_best": float(b_best),
        "h11": float(hessian[0, 0]), "h12": float(hessian[0, 1]), "h22": float(hessian[1, 1]),
        "slow": float(slow), "fast": float(fast),
        "slow_rate": float(rates[0]), "fast_rate": float(rates[1]),
        "slow_kept": float(rates[0] ** REGRESSION_ITERATIONS),
        "direction_w": float(direction[0]), "direction_b": float(direction[1]),
        "initial": initial, "final": final, "ratio": final / initial,
        "per_digit": float(np.log(10) / -np.log(rates[0])),
        "largest_rate": float(2 / fast),
        "best_rate": float(2 / (slow + fast)),
        "best_factor": float((fast - slow) / (fast + slow)),
        "best_per_digit": float(np.log(10) / -np.log((fast - slow) / (fast + slow))),
    }


def _svg(figure) -> bytes:
    """A matplotlib figure as SVG, the same bytes at every build."""
    import io

    out = io.BytesIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def regression_loss_plot() -> bytes:
    """SVG: the loss against the iteration, log scale, with the slow direction's rate."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    _, history = regression_run()
    facts = regression_analysis(history)
    iterations = np.arange(len(history))
    with matplotlib.rc_context({"svg.hashsalt": "derive", "svg.fonttype": "path"}):
        figure = Figure(figsize=(7, 3.6))
        axes = figure.subplots()
        axes.semilogy(iterations, history[:, 0], label="loss J (MSE)")
        # Once the fast direction has died out, J falls by (1 - lr lambda_min)^2 an iteration.
        guide = history[-1, 0] * facts["slow_rate"] ** (2 * (iterations - iterations[-1]))
        axes.semilogy(iterations, guide, "--", color="0.5",
                      label=f"slope of {facts['slow_rate']:.5f}^(2k), the slow direction")
        axes.set_xlabel("updates k")
        axes.set_ylabel("J after k updates")
        axes.set_title("Linear(1, 1) on y = 2x + 1, lr 0.02: the loss")
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(loc="upper right", fontsize="small")
        figure.tight_layout()
        return _svg(figure)


def regression_parameters_plot() -> bytes:
    """SVG: weight and bias against the iteration, with the targets 2 and 1."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    _, history = regression_run()
    iterations = np.arange(len(history))
    with matplotlib.rc_context({"svg.hashsalt": "derive", "svg.fonttype": "path"}):
        figure = Figure(figsize=(7, 3.6))
        axes = figure.subplots()
        weight, = axes.plot(iterations, history[:, 1], label="weight w")
        bias, = axes.plot(iterations, history[:, 2], label="bias b")
        axes.axhline(2, color=weight.get_color(), linestyle=":", label="target w = 2")
        axes.axhline(1, color=bias.get_color(), linestyle=":", label="target b = 1")
        axes.set_xlabel("updates k")
        axes.set_ylabel("value after k updates")
        axes.set_title("Linear(1, 1) on y = 2x + 1, lr 0.02: weight and bias")
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(loc="lower right", fontsize="small")
        figure.tight_layout()
        return _svg(figure)


def regression_page() -> str:
    """The series' linear regression, run when the site is built, and how far it gets."""
    printed, history = regression_run()
    facts = regression_analysis(history)
    table = ["| iteration | loss J | weight w | bias b |", "|--:|--:|--:|--:|"]
    for k in REGRESSION_SHOWN:  # iteration k's forward sees the state after k - 1 updates
        loss, weight, bias = history[k - 1]
        table.append(f"| {k} | {loss:.4g} | {weight:.4f} | {bias:.4f} |")
    loss, weight, bias = history[-1]
    table.append(f"| after {REGRESSION_ITERATIONS} | {loss:.4g} | {weight:.4f} | {bias:.4f} |")
    table_text = "\n".join(table)
    f = {key: f"{value:.4g}" for key, value in facts.items()}
    start_w, start_b = history[0, 1:]
    return f"""\
# Linear regression (the series)

The tutorial series trains a single `nn.Linear(1, 1)` to fit
\\(y = 2x + 1\\) by gradient descent on `nn.MSECriterion`. Here is the same loop on
derive.nn, run when the site was built: the inputs \\(\\mathbf{{x}} = [1, 2, 3]^T\\) are one
batch of 3 samples with one feature each, the layer starts from a seeded draw, and each
of the {REGRESSION_ITERATIONS} iterations is the five calls of the series:
`zeroGradParameters`, `forward`, the criterion's `forward` and `backward`, the layer's
`backward`, and `updateParameters({REGRESSION_LEARNING_RATE})`.

```python
{regression_script()}```

It prints:

```text
{printed}```

## The run

Iteration \\(k\\)'s `forward` sees the weight and bias after \\(k - 1\\) updates; the last
row is after the {REGRESSION_ITERATIONS}th update.

{table_text}

![The loss against the iteration, log scale](regression-loss.svg)

![The weight and the bias against the iteration, with the targets 2 and 1](regression-parameters.svg)

## How close {REGRESSION_ITERATIONS} iterations get

Not to many digits. The least-squares fit is \\(w = {facts["w_best"]:.6g}\\),
\\(b = {facts["b_best"]:.6g}\\) exactly (the data lie on the line), and the loop ends at
\\(w = {weight:.4f}\\), \\(b = {bias:.4f}\\), loss {loss:.4g}. The reason is the shape of the
loss: \\(J(w, b) = \\frac{{1}}{{3}}\\sum_i (w x_i + b - y_i)^2\\) is a quadratic with Hessian

$$
\\mathbf{{H}} = \\frac{{2}}{{3}}\\begin{{bmatrix}} \\sum_i x_i^2 & \\sum_i x_i \\\\ \\sum_i x_i & 3 \\end{{bmatrix}}
= \\begin{{bmatrix}} {f["h11"]} & {f["h12"]} \\\\ {f["h12"]} & {f["h22"]} \\end{{bmatrix}}
$$

whose eigenvalues are \\(\\lambda_{{\\min}} = {f["slow"]}\\) and \\(\\lambda_{{\\max}} = {f["fast"]}\\).
Each update multiplies the error \\((w - 2, b - 1)\\) by \\(\\mathbf{{I}} - \\eta\\mathbf{{H}}\\),
whose eigenvalues are \\(1 - \\eta\\lambda\\): {facts["fast_rate"]:.4f} along the fast
direction, which dies out within a few dozen iterations, and {facts["slow_rate"]:.5f}
along the slow one, \\(({facts["direction_w"]:.2f}, {facts["direction_b"]:.2f})\\), mostly
the bias. After {REGRESSION_ITERATIONS} iterations the slow direction keeps
\\({facts["slow_rate"]:.5f}^{{{REGRESSION_ITERATIONS}}}\\), {facts["slow_kept"]:.1%}, of its
initial error. From the seeded start \\(({start_w:.4f}, {start_b:.4f})\\) the distance to
\\((2, 1)\\) falls from {facts["initial"]:.4f} to {facts["final"]:.4f}, {facts["ratio"]:.1%} of
it: the bias is still {abs(bias - 1):.4f} off, the weight {abs(weight - 2):.4f}.

Each further decimal digit costs \\(\\ln 10 / \\lvert\\ln(1 - \\eta\\lambda_{{\\min}})\\rvert \\approx
{facts["per_digit"]:.0f}\\) iterations at this learning rate. The best fixed one,
\\(\\eta = 2 / (\\lambda_{{\\min}} + \\lambda_{{\\max}}) = {facts["best_rate"]:.4f}\\), would shrink
both directions by \\({facts["best_factor"]:.4f}\\) an iteration, a digit every
{facts["best_per_digit"]:.0f} iterations; above \\(2 / \\lambda_{{\\max}} = {facts["largest_rate"]:.4f}\\)
the descent diverges.
"""


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
    (("sigmoid", "3", "--format", "json"),
     "the results alone, as JSON: shape, LaTeX and matrix-form expression of each", 40),
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
]
# The site's page on what each command derives.
CLI_PAGES = {"linear": ("Linear: backward propagation", "linear.md"), "sigmoid": ("Sigmoid", "sigmoid.md"),
             "tanh": ("Tanh", "tanh.md"), "relu": ("ReLU", "relu.md"), "mse": ("MSECriterion", "mse.md")}


def cli_commands() -> list[str]:
    """The subcommands of `derive`, in the order its help lists them."""
    import argparse

    from derive.cli import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    return list(commands.choices)


def cli_page() -> str:
    """The `derive` command: its help and every subcommand's, and examples checked by running them."""
    import tempfile

    from concurrent.futures import ThreadPoolExecutor

    names = cli_commands()
    shown_output, more = [], []
    width = max(len(" ".join(args)) for args, _, _ in CLI_EXAMPLES) + len("derive ")
    commands = [("--help",)] + [(name, "--help") for name in names] + [args for args, _, _ in CLI_EXAMPLES]
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor() as pool:
        outputs = list(pool.map(lambda args: _derive_command(*args, cwd=scratch), commands))
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
"""


def _api_objects():
    """(module, [(name, object, methods)]): every class derive.nn exports with the
    methods it defines itself (the class hierarchy is the documentation), the gradient
    checks of derive.nn.jacobian, the functions derive.symbolic exports, and
    derive.latex's renderers."""
    import inspect

    from derive import latex, nn, symbolic
    from derive.nn import jacobian

    classes = []
    for name in nn.__all__:
        cls = getattr(nn, name)
        methods = [m for m, value in vars(cls).items() if not m.startswith("_") and callable(value)]
        classes.append((f"derive.nn.{name}", cls, methods))
    functions = [(f"derive.symbolic.{name}", getattr(symbolic, name), [])
                 for name in symbolic.__all__ if inspect.isfunction(getattr(symbolic, name))]
    checks = [(f"derive.nn.jacobian.{name}", value, [])
              for name, value in vars(jacobian).items()
              if inspect.isfunction(value) and value.__module__ == jacobian.__name__
              and not name.startswith("_")]
    return [
        ("derive.nn", classes),
        ("derive.nn.jacobian", checks),
        ("derive.symbolic", functions),
        ("derive.latex", [(f"derive.latex.{name}", getattr(latex, name), [])
                          for name in ("markdown", "document", "summary")]),
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
        "sigmoid.md": activation_page("sigmoid"),
        "tanh.md": activation_page("tanh"),
        "relu.md": activation_page("relu"),
        "mse.md": mse_page(),
        "sequential.md": sequential_page(),
        "regression.md": regression_page(),
        "regression-loss.svg": regression_loss_plot(),
        "regression-parameters.svg": regression_parameters_plot(),
        "cli.md": cli_page(),
        "api.md": api_page(),
    }

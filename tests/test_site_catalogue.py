"""The catalogue's pages: one template for every module (derive/site/catalogue.py), its index
"Torch7's nn, one formula each", the contributor page, and the nav listing them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from derive.catalogue import ENTRIES, lookup
from derive.site.catalogue import (MOVED_PAGES, _derived, catalogue_pages, contributing_page, entry_checks,
                                   entry_page, kink_values, redirect_pages)
from derive.site.snippets import run_python

ROOT = Path(__file__).resolve().parents[1]
MODULES = [e for e in ENTRIES if e.group != "program"]


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return catalogue_pages()


def section(page: str, title: str) -> str:
    """The text of the page's section ``## title``, up to the next section."""
    return page.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_module_has_a_page_and_a_passing_check_in_the_index(pages):
    index = pages["catalogue.md"]
    for entry in ENTRIES:
        if entry.group == "program":
            assert f"[{entry.name}](program-" in index
        else:
            assert f"[{entry.name}]({entry.slug}.md)" in index and f"{entry.slug}.md" in pages
    assert "**failed**" not in index
    assert index.rstrip().endswith(f"{len(ENTRIES)} modules and criteria.")


def test_a_page_shows_the_torch7_facts_the_formula_the_example_and_the_check():
    text, row = entry_page(lookup("SpatialMaxPooling"))
    assert text.startswith("# nn.SpatialMaxPooling\n")
    assert "`nn.SpatialMaxPooling(kW, kH, dW=kW, dH=kH, padW=0, padH=0)`" in text
    assert "y[c,i,j] = max(x[c,2*i+p-2,2*j+q-2], p, q)" in text
    assert "derive SpatialMaxPooling 2 2 --input-shape 2,6,6" in text
    assert "forward(input)     = [[[" in text  # the worked example's numbers
    assert "| x (input) | one sample |" in text and "| x (input) | batch of 2 |" in text
    assert row["passed"] and row["error"] < 1e-5
    linear, row = entry_page(lookup("Linear"))
    assert "`weight` is W, `gradWeight` its gradient" in linear and "| W | batch of 2 |" in linear
    assert row["gradient"].startswith("$")  # the matrix form, shown in the index


def test_the_contributor_page_shows_softsign_as_lines_of_the_registry():
    page = contributing_page()
    source = (ROOT / "derive" / "catalogue.py").read_text()
    added = [line[1:] for line in page.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added and "\n".join(added) in source and '"SoftSign"' in added[0]


def test_the_nav_lists_the_index_every_page_and_the_contributor_page():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # material's !!python tags
    nav = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)["nav"]
    section = next(item for item in nav if isinstance(item, dict) and "Torch7's nn, one formula each" in item)
    listed = [next(iter(page.values())) for page in section["Torch7's nn, one formula each"]]
    assert listed[0] == "catalogue.md" and listed[-1] == "contributing-catalogue.md"
    assert set(listed[1:-1]) == {f"{e.slug}.md" for e in ENTRIES if e.group != "program"}


def test_every_registry_entry_has_a_page_with_its_sections_and_a_passing_check(pages):
    for entry in MODULES:
        page = pages[f"{entry.slug}.md"]
        assert page.startswith(f"# nn.{entry.name}\n"), entry.name
        for title in ("In Torch7", "Worked example", "Derivation", "The module in use", "Check"):
            assert f"\n## {title}\n" in page, (entry.name, title)
        rows = [line for line in section(page, "Check").splitlines() if line.startswith("| ") and "---" not in line]
        assert len(rows) >= 3 and all(row.endswith("| yes |") for row in rows[1:]), entry.name
        for note in (entry.notes, entry.torch):
            assert note in page, entry.name


def test_no_per_module_page_module_remains():
    site = ROOT / "derive" / "site"
    modules = {path.stem for path in site.glob("*.py")}
    per_module = {e.name.lower() for e in MODULES} | {old[:-3] for old in MOVED_PAGES} | {
        "activation", "batchnorm", "classification", "convolution", "criterion"}
    # linear.py is the tutorial's page (Linear with the tutorial's numbers), which keeps its text
    assert modules & per_module == {"linear"}  # (test_site_build: the old addresses are redirects)


def test_the_index_row_is_the_check_computed_now(pages):
    rows = {}
    for line in pages["catalogue.md"].splitlines():
        found = re.match(r"\| \[(\w+)\]\(([\w-]+\.md)\) \| (\w+) \| `(.*?)` \| (.*) \| (\S+) \|$", line)
        if found:
            rows[found.group(1)] = found.groups()[1:]
    assert set(rows) == {e.name for e in ENTRIES}
    for name in ("Linear", "SoftMax", "SpatialMaxPooling", "BCECriterion"):
        entry = lookup(name)
        page, group, formula, gradients, error = rows[name]
        assert (page, group) == (f"{entry.slug}.md", entry.group)
        assert formula == entry.example_formula().text.replace("|", "\\|")
        fresh = max(c.error for c in entry_checks(entry, _derived(name)[2]))
        assert error == f"{fresh:.1e}" and fresh < 1e-5
    assert rows["Linear"][3].startswith(r"$\frac{\partial J}{\partial \mathbf{x}} = \mathbf{W}^{T}")
    assert "<br>" in rows["Linear"][3] and "(index form)" not in rows["Linear"][3]  # x, W and b
    assert "(index form)" in rows["ReLU"][3]  # Heaviside, element by element


def test_the_default_script_runs_derive_nn_on_the_worked_examples_input(pages):
    page = pages["nn-tanh.md"]
    used = section(page, "The module in use")
    source = used.split("```python\n", 1)[1].split("```", 1)[0]
    printed, names = run_python(source)
    assert printed in used  # what the page shows is what the script prints now
    np.testing.assert_allclose(names["y"], np.tanh(names["x"]))
    worked = section(page, "Worked example")
    shown = re.search(r"^x = \[(.*?)\]$", worked, re.M).group(1)
    assert np.array_equal(np.array(shown.split(), dtype=float), names["x"])


def printed_block(printed: str, label: str) -> np.ndarray:
    """The array printed after `label:` on its own line."""
    rows = []
    for line in printed.split(label + ":\n", 1)[1].splitlines():
        numbers = re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", line)
        if not numbers:
            break
        rows.append([float(n) for n in numbers])
        if line.rstrip().endswith("]]") or line.rstrip().endswith("]]]"):
            break
    return np.array(rows)


def test_batchnorm_in_use_backward_is_the_compact_formula(pages):
    printed, namespace = run_python(lookup("BatchNormalization").in_use)
    assert printed in pages["nn-batchnormalization.md"]
    np.testing.assert_array_equal(printed_block(printed, "gradInput"), printed_block(printed, "by hand"))
    X, bn = namespace["X"], namespace["bn"]
    Y = (X - X.mean(0)) / np.sqrt(X.var(0) + bn.eps) * bn.weight + bn.bias
    np.testing.assert_allclose(printed_block(printed, "output"), Y, atol=5e-5)
    assert np.allclose(printed_block(printed, "gradInput").sum(axis=0), 0, atol=5e-4)  # columns sum to 0
    assert "running_mean" in section(pages["nn-batchnormalization.md"], "In Torch7")


def test_convolution_in_use_is_the_definition(pages):
    printed, namespace = run_python(lookup("SpatialConvolution").in_use)
    assert printed in pages["nn-spatialconvolution.md"]
    x, dJ_dy = namespace["x"][0], namespace["dJ_dy"][0]
    np.testing.assert_array_equal(printed_block(printed, "output"), x[:-1, :-1] - x[1:, 1:] + 0.5)
    gradInput = np.zeros_like(x)
    gradInput[:-1, :-1] += dJ_dy
    gradInput[1:, 1:] -= dJ_dy
    np.testing.assert_array_equal(printed_block(printed, "gradInput"), gradInput)
    assert "output shape: (1, 2, 2)" in printed  # floor((3 + 2 - 3) / 2) + 1 = 2, floor((4 + 2 - 3) / 2) + 1 = 2
    assert "im2col" in section(pages["nn-spatialconvolution.md"], "In Torch7")


@pytest.mark.parametrize("name", ["SoftMax", "LogSoftMax", "CrossEntropyCriterion"])
def test_the_classification_scripts_agree_with_their_formulas(name):
    printed, _ = run_python(lookup(name).in_use)
    assert "nan" not in printed and "inf" not in printed  # scores of 1000 included
    if name == "CrossEntropyCriterion":
        assert printed_block(printed, "gradInput").tolist() == printed_block(printed, "(softmax - onehot) / 2").tolist()
        return
    lines = dict(line.split(":", 1) for line in printed.splitlines() if line.startswith(("gradInput", "s *", "g -", "(diag")))
    first, *others = [np.array(value.strip(" []").split(), dtype=float) for value in lines.values()]
    assert others and all(np.allclose(first, other, rtol=1e-7) for other in others)


@pytest.mark.parametrize("name, kink, slopes", [("ReLU", 0.0, (1, 0)), ("HardTanh", -1.0, (1, 0)),
                                                ("HardTanh", 1.0, (0, 1)), ("Abs", 0.0, (1, -1)),
                                                ("ReLU6", 0.0, (1, 0)), ("ReLU6", 6.0, (0, 1))])
def test_the_kink_table_is_the_module_and_its_one_sided_differences(name, kink, slopes):
    values = kink_values(lookup(name), _derived(name)[2], kink)
    assert (values["right"], values["left"]) == pytest.approx(slopes, abs=1e-6)
    assert values["central"] == pytest.approx(sum(slopes) / 2, abs=1e-6)
    assert values["backward"] == 0  # Torch's subgradient at each of these kinks


def test_the_old_addresses_redirect_to_pages_that_exist(pages):
    redirects = redirect_pages()
    assert len(redirects) == len(MOVED_PAGES)
    for old, name in MOVED_PAGES.items():
        html = redirects[old.replace(".md", "/index.html")]
        assert f'url=../{lookup(name).slug}/"' in html and f"{lookup(name).slug}.md" in pages

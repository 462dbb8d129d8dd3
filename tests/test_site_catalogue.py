"""The catalogue's pages: one template for every module (derive/site/catalogue.py), its index
"Torch7's nn, one formula each", the contributor page, and the nav listing them."""

from __future__ import annotations

from pathlib import Path

import yaml

from derive.catalogue import ENTRIES, lookup
from derive.site.catalogue import catalogue_pages, contributing_page, entry_page

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_has_a_page_and_a_passing_check_in_the_index():
    pages = catalogue_pages()
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

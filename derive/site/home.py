"""The home page's list of modules, read from derive.nn when the site is built."""

from __future__ import annotations

from .build import SiteBuildError
from .numeric_checks import shipped_modules

#: Where the home page (docs/index.md) takes the list of modules.
MODULES_MARKER = "<!-- derive.nn modules -->"

# A module outside the catalogue with a page of its own; a catalogue module's page is the
# catalogue's one template, and any other module links to the Python API page.
MODULE_PAGES = {"Sequential": "sequential.md"}


def module_page(name: str) -> str:
    """The page of derive.nn's module ``name``: its catalogue page, else its own page, else the API."""
    from derive.catalogue import CATALOGUE

    entry = CATALOGUE.get(name.lower())
    if entry is not None and entry.group != "program":
        return f"{entry.slug}.md"
    return MODULE_PAGES.get(name, "api.md")


def modules_list() -> str:
    """Every Module and Criterion class derive.nn exports, each a link to its page."""
    links = [f"[{name}]({module_page(name)})" for name in shipped_modules()]
    return ", ".join(links[:-1]) + " and " + links[-1] if len(links) > 1 else "".join(links)


def home_page(markdown: str) -> str:
    """docs/index.md with the list of modules where its marker stands."""
    if MODULES_MARKER not in markdown:
        raise SiteBuildError(f"docs/index.md has no {MODULES_MARKER} for the list of derive.nn's modules")
    return markdown.replace(MODULES_MARKER, modules_list())

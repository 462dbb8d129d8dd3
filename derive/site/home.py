"""The home page's list of modules, read from derive.nn when the site is built."""

from __future__ import annotations

from .build import SiteBuildError
from .numeric_checks import shipped_modules

#: Where the home page (docs/index.md) takes the list of modules.
MODULES_MARKER = "<!-- derive.nn modules -->"

# Each module's own page; a module without one links to the Python API page.
MODULE_PAGES = {
    "Linear": "linear.md", "Sigmoid": "sigmoid.md", "Tanh": "tanh.md", "ReLU": "relu.md",
    "Sequential": "sequential.md", "MSECriterion": "mse.md", "BatchNormalization": "batchnorm.md",
    "SpatialConvolution": "convolution.md", "SoftMax": "softmax.md", "LogSoftMax": "logsoftmax.md",
    "ClassNLLCriterion": "classnll.md", "CrossEntropyCriterion": "crossentropy.md",
}


def module_page(name: str) -> str:
    """The page of derive.nn's module ``name``: its hand page, else its catalogue page, else the API."""
    from derive.catalogue import CATALOGUE

    entry = CATALOGUE.get(name.lower())
    return MODULE_PAGES.get(name) or (f"{entry.slug}.md" if entry and entry.group != "program" else "api.md")


def modules_list() -> str:
    """Every Module and Criterion class derive.nn exports, each a link to its page."""
    links = [f"[{name}]({module_page(name)})" for name in shipped_modules()]
    return ", ".join(links[:-1]) + " and " + links[-1] if len(links) > 1 else "".join(links)


def home_page(markdown: str) -> str:
    """docs/index.md with the list of modules where its marker stands."""
    if MODULES_MARKER not in markdown:
        raise SiteBuildError(f"docs/index.md has no {MODULES_MARKER} for the list of derive.nn's modules")
    return markdown.replace(MODULES_MARKER, modules_list())

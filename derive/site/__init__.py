"""The pages of the docs site, computed from the engine at build time.

The mkdocs hook (docs/hooks/derive_site.py) calls `mathjax_files`, `generated_files`,
`redirect_pages` and `build_date`; each module here makes one page (or a family of pages
from one template: every catalogue module's page is catalogue.py's), so the pages can be
read and tested without mkdocs.
"""

from __future__ import annotations

from .api import api_page
from .build import SiteBuildError, build_date
from .cli import cli_commands, cli_page
from .frameworks import frameworks_page
from .home import MODULES_MARKER, home_page, modules_list
from .layer import USER_LAYERS, layer_checks, layer_page
from .linear import batch_page, linear_page
from .mathjax import MATHJAX_VERSION, mathjax_files
from .notes import tutorial_notes_page
from .programs import program_checks, program_pages
from .catalogue import MOVED_PAGES, catalogue_pages, contributing_page, redirect_pages
from .numeric_checks import JACOBIAN_CASES, jacobian_errors, numeric_checks_page, step_size_plot
from .search import plain_math, readable_search_index
from .regression import (REGRESSION_ITERATIONS, REGRESSION_LEARNING_RATE, REGRESSION_SEED,
                         REGRESSION_SHOWN, regression_loss_plot, regression_page,
                         regression_parameters_plot)
from .sequential import STACK_CASES, sequential_page
from .spiral import spiral_boundary_plot, spiral_loss_plot, spiral_page, spiral_results
from .tutorial import (TUTORIAL_BIAS, TUTORIAL_GRAD_OUTPUT, TUTORIAL_INPUT, TUTORIAL_LEARNING_RATE,
                       TUTORIAL_WEIGHT)

__all__ = [
    "generated_files", "mathjax_files", "build_date", "SiteBuildError", "MATHJAX_VERSION",
    "home_page", "MODULES_MARKER", "modules_list", "readable_search_index", "plain_math",
    # What the tests recompute the pages' numbers from.
    "TUTORIAL_WEIGHT", "TUTORIAL_BIAS", "TUTORIAL_INPUT", "TUTORIAL_GRAD_OUTPUT",
    "TUTORIAL_LEARNING_RATE", "JACOBIAN_CASES", "jacobian_errors",
    "STACK_CASES",
    "REGRESSION_SEED", "REGRESSION_LEARNING_RATE", "REGRESSION_ITERATIONS", "REGRESSION_SHOWN",
    "cli_commands", "USER_LAYERS", "layer_checks",
    "spiral_results", "program_checks", "MOVED_PAGES", "redirect_pages",
]


def generated_files() -> dict[str, str | bytes]:
    """Every generated page (and picture) of the site: {path under docs/: content}."""
    return {
        "linear.md": linear_page(),
        "batch.md": batch_page(),
        "numeric-checks.md": numeric_checks_page(),
        "numeric-checks-step-size.svg": step_size_plot(),
        "tutorial-notes.md": tutorial_notes_page(),
        "sequential.md": sequential_page(),
        "regression.md": regression_page(),
        "regression-loss.svg": regression_loss_plot(),
        "regression-parameters.svg": regression_parameters_plot(),
        "layer.md": layer_page(),
        "cli.md": cli_page(),
        "api.md": api_page(),
        "classification.md": spiral_page(),
        "classification-loss.svg": spiral_loss_plot(),
        "classification-boundaries.svg": spiral_boundary_plot(),
        "frameworks.md": frameworks_page(),
        **program_pages(),
        **catalogue_pages(),
        "contributing-catalogue.md": contributing_page(),
    }

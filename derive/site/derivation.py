"""The engine's markdown on a page: nested under the page's headings, without a
repeated convention, or just the results.
"""

from __future__ import annotations

from derive.latex import CONVENTION, summary


# What a page says instead of the engine's convention paragraph: the convention is
# stated once, on the notes page, and linked.
CONVENTION_LINK = ("Jacobians are in numerator layout: see "
                   "[the layout convention](tutorial-notes.md#layout-convention).")


def demote(markdown_text: str) -> str:
    """The engine's markdown with every heading one level deeper (it starts at #), and
    a link to the layout convention in place of its convention paragraph."""
    lines, in_math = [], False
    for line in markdown_text.replace(CONVENTION, CONVENTION_LINK, 1).splitlines():
        if line.strip() == "$$":
            in_math = not in_math
        if not in_math and line.startswith("#"):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines) + "\n"


def without_convention(markdown_text: str) -> str:
    """The engine's markdown without its convention paragraph (for a second derivation
    on a page that already states it)."""
    return markdown_text.replace(CONVENTION + "\n\n", "", 1)


def results_block(derivation) -> str:
    """The derivation's gradients (the engine's summary: dJ/dv, not the Jacobians), one
    aligned line each."""
    lines = [result["latex"].replace(" = ", " &= ", 1)
             for name, result in summary(derivation)["results"].items() if name.startswith("dJ/")]
    return "$$\n\\begin{aligned}\n" + " \\\\[1ex]\n".join(lines) + "\n\\end{aligned}\n$$"

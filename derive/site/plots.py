"""The site's pictures: matplotlib figures as SVG, the same bytes at every build."""

from __future__ import annotations

import io

import matplotlib


def svg(figure) -> bytes:
    """The figure laid out and saved as SVG; a fixed salt for its element ids, text as
    paths and no date, so that two builds give the same bytes."""
    figure.tight_layout()
    out = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "derive", "svg.fonttype": "path"}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()

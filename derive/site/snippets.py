"""Code the site shows is run when the site is built, and what it prints is shown too."""

from __future__ import annotations

import contextlib
import io


def run_python(source: str) -> tuple[str, dict]:
    """Run a snippet shown on the site: what it prints, and the variables it leaves."""
    printed, namespace = io.StringIO(), {"__name__": "__site__"}
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<site snippet>", "exec"), namespace)
    return printed.getvalue(), namespace


def snippet_with_output(source: str) -> str:
    """The snippet as a code block, then what it printed when the site was built."""
    printed, _ = run_python(source)
    return f"```python\n{source}```\n\nIt prints:\n\n```text\n{printed}```\n"

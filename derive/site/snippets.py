"""Code the site shows is run when the site is built, and what it prints is shown too."""

from __future__ import annotations


def _run_python(source: str) -> str:
    """Run a snippet shown on the site and return what it prints."""
    return run_python(source)[0]


def run_python(source: str) -> tuple[str, dict]:
    """Run a snippet shown on the site: what it prints, and the variables it leaves."""
    import contextlib
    import io

    printed, namespace = io.StringIO(), {"__name__": "__site__"}
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<site snippet>", "exec"), namespace)
    return printed.getvalue(), namespace


def snippet_with_output(source: str) -> str:
    return f"```python\n{source}```\n\nIt prints:\n\n```text\n{_run_python(source)}```\n"

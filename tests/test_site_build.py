"""The docs site builds with `mkdocs build --strict`, the same way every time."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e .[docs]")
pytest.importorskip("material", reason="the docs extra is not installed: pip install -e .[docs]")

from derive import site  # noqa: E402

PAGES = ["index.html", "linear/index.html", "batch/index.html", "numeric-checks/index.html",
         "numeric-checks-step-size.svg", "tutorial-notes/index.html", "cli/index.html",
         "api/index.html"]


def build(site_dir: Path) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.pop("SITE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def tree(site_dir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(site_dir).as_posix(): path.read_bytes()
        for path in sorted(site_dir.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    build(site_dir)
    return site_dir


def test_pages_exist(built):
    for page in PAGES:
        assert (built / page).is_file(), page


def test_mathjax_is_served_from_the_site(built):
    assert (built / "assets/mathjax/tex-mml-chtml.js").is_file()
    fonts = list((built / "assets/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) > 10
    assert (built / "assets/mathjax/input/tex/extensions/boldsymbol.js").is_file()
    index = (built / "index.html").read_text()
    assert re.search(r'<script src="assets/mathjax/tex-mml-chtml\.js">', index)


def test_nothing_generated_is_written_into_docs(built):
    for page in ["linear.md", "numeric-checks.md", "numeric-checks-step-size.svg"]:
        assert not (ROOT / "docs" / page).exists()
    assert not (built / "hooks").exists()


def test_two_builds_are_identical(built, tmp_path):
    again = tmp_path / "again"
    build(again)
    first, second = tree(built), tree(again)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []


def test_a_tarball_that_is_not_the_pinned_mathjax_is_refused(tmp_path):
    (tmp_path / f"mathjax-{site.MATHJAX_VERSION}.tgz").write_bytes(b"not mathjax")
    with pytest.raises(site.SiteBuildError, match="is not mathjax@3.2.2"):
        site.mathjax_files(tmp_path)


def test_without_npm_the_build_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(site.SiteBuildError) as error:
        site.mathjax_files(tmp_path)
    assert str(error.value).startswith("npm not found")
    assert "\n" not in str(error.value)


def table_rows(html: str) -> list[list[str]]:
    """The cells of every body row of every table, as text."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            rows.append([re.sub(r"<[^>]+>", "", cell).strip() for cell in cells])
    return rows


def test_numeric_checks_match_a_fresh_computation(built):
    import numpy as np

    html = (built / "numeric-checks/index.html").read_text()
    rows = table_rows(html)

    # The tutorial's step, computed here with plain numpy (not derive.nn).
    W, b = np.array(site.TUTORIAL_WEIGHT), np.array(site.TUTORIAL_BIAS)
    x, g = np.array(site.TUTORIAL_INPUT), np.array(site.TUTORIAL_GRAD_OUTPUT)
    eta = site.TUTORIAL_LEARNING_RATE
    fresh = {"gradInput": W.T @ g, "gradWeight": np.outer(g, x), "gradBias": g,
             "weight": W - eta * np.outer(g, x), "bias": b - eta * g}
    by_entry = {row[0]: row for row in rows if "[" in row[0]}
    for name, values in fresh.items():
        for index, value in np.ndenumerate(values):
            entry = f"{name}[{','.join(str(i + 1) for i in index)}]"
            _, printed, ours, difference, _ = by_entry[entry]
            assert float(ours) == pytest.approx(value, abs=1e-9), entry
            assert float(difference) == pytest.approx(float(printed) - value, abs=1e-9), entry
    assert by_entry["gradInput[1]"][1:3] == ["-0.0516", "-0.0517"]

    # Central-difference Jacobian errors: recomputed, same digits, all below 1e-5.
    checks = [row for row in rows if row[0].startswith("Linear(")]
    assert len(checks) == 2 * len(site.JACOBIAN_CASES)
    for row in checks:
        n_in, n_out = map(int, re.findall(r"\d+", row[0]))
        shape = tuple(map(int, re.findall(r"\d+", row[1])))
        batch = shape[0] if len(shape) == 2 else None
        bias = row[2] == "yes"
        errors = site.jacobian_errors(n_in, n_out, batch, bias)
        assert row[3:5] == [f"{errors['input']:.1e}", f"{errors['weight']:.1e}"]
        assert row[5] == (f"{errors['bias']:.1e}" if bias else "-")
        assert max(errors.values()) < 1e-5
        assert row[6] == "yes"


def test_generated_pages_show_what_the_code_gives(built):
    cli = (built / "cli/index.html").read_text()
    assert "usage: derive linear" in cli
    api = (built / "api/index.html").read_text()
    assert "derive.nn.Linear" in api and "accGradParameters" in api
    linear = (built / "linear/index.html").read_text()
    # The snippet's printed output is on the page.
    assert "gradInput: [-0.0517  2.0125]" in linear

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
         "api/index.html", "sigmoid/index.html", "tanh/index.html", "relu/index.html",
         "mse/index.html", "sequential/index.html", "regression/index.html",
         "regression-loss.svg", "regression-parameters.svg",
         "softmax/index.html", "logsoftmax/index.html", "classnll/index.html", "crossentropy/index.html",
         "classification/index.html", "classification-loss.svg", "classification-boundaries.svg"]


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
    for page in ["linear.md", "numeric-checks.md", "numeric-checks-step-size.svg", "sigmoid.md",
                 "mse.md", "sequential.md", "regression.md", "regression-loss.svg"]:
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


def text(html: str) -> str:
    """The page as plain text, tags removed, entities of the snippets' output decoded."""
    import html as entities

    return entities.unescape(re.sub(r"<[^>]+>", "", html))


def test_regression_numbers_match_a_fresh_computation(built):
    import numpy as np

    from derive.nn import Linear

    html = (built / "regression/index.html").read_text()
    # The series' descent, here in plain numpy from the same seeded start:
    # J = mean((w x + b - y)^2), dJ/dw = mean(2 r x), dJ/db = mean(2 r).
    start = Linear(1, 1, rng=site.REGRESSION_SEED)
    w, b = start.weight[0, 0], start.bias[0]
    x = np.array([1.0, 2.0, 3.0])
    y = 2 * x + 1
    states = []  # (loss, w, b) after k updates, k = 0 .. 500
    for _ in range(site.REGRESSION_ITERATIONS + 1):
        residual = w * x + b - y
        states.append((np.mean(residual**2), w, b))
        w = w - site.REGRESSION_LEARNING_RATE * np.mean(2 * residual * x)
        b = b - site.REGRESSION_LEARNING_RATE * np.mean(2 * residual)
    rows = table_rows(html)
    assert [row[0] for row in rows] == [str(k) for k in site.REGRESSION_SHOWN] + ["after 500"]
    for row in rows:
        k = site.REGRESSION_ITERATIONS if row[0] == "after 500" else int(row[0]) - 1
        loss, weight, bias = states[k]
        assert float(row[1]) == pytest.approx(loss, rel=1e-3), row
        assert row[2:] == [f"{weight:.4f}", f"{bias:.4f}"], row
    assert rows[-1][2:] == ["2.0232", "0.9472"]  # honest: not (2, 1) after 500 iterations

    # The convergence analysis: the slow eigenvalue of I - lr H keeps 9.0% after 500 steps,
    # and the distance to (2, 1) is 2.6% of the initial one.
    hessian = (2 / 3) * np.array([[np.sum(x**2), np.sum(x)], [np.sum(x), 3]])
    slow = 1 - site.REGRESSION_LEARNING_RATE * np.linalg.eigvalsh(hessian).min()
    (_, w_end, b_end), (_, w_start, b_start) = states[-1], states[0]
    ratio = np.hypot(w_end - 2, b_end - 1) / np.hypot(w_start - 2, b_start - 1)
    page = text(html)
    kept = slow ** site.REGRESSION_ITERATIONS
    assert f"{kept:.1%}" == "9.0%"
    assert f"keeps \\({slow:.5f}^{{500}}\\), {kept:.1%}, of its" in " ".join(page.split())
    assert f"{ratio:.1%} of" in page and f"{ratio:.1%}" == "2.6%"
    assert "after 500 iterations: weight 2.0232, bias 0.9472" in page


def test_module_pages_show_the_derivation_the_snippet_and_passing_checks(built):
    for name, torch in [("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("relu", "ReLU")]:
        html = (built / f"{name}/index.html").read_text()
        assert f"nn.{torch} on {site.MODULE_SIZE} inputs, batch of {site.MODULE_BATCH}" in html
        assert f"from derive.nn import {torch}" in text(html)
        rows = table_rows(html)
        checks = [row for row in rows if row[0].startswith("(")]
        expected = site.activation_checks(name)
        assert [row[0] for row in checks] == [str(shape) for shape, _, _ in expected]
        for row, (_, error, _) in zip(checks, expected):
            assert row[1:3] == [f"{error:.1e}", "yes"] and error < 1e-5
    mse = (built / "mse/index.html").read_text()
    assert f"nn.MSECriterion on {site.MODULE_SIZE} outputs, batch of {site.MODULE_BATCH}" in mse
    checks = [row for row in table_rows(mse) if row[0].startswith("(")]
    assert len(checks) == 2 * len(site.MODULE_CASES)
    assert all(row[-1] == "yes" and float(row[2]) < 1e-5 for row in checks)
    sequential = (built / "sequential/index.html").read_text()
    assert "nn.Sequential: Linear(2 -&gt; 3) -&gt; Sigmoid -&gt; Linear(3 -&gt; 1)" in sequential
    page = text(sequential)
    assert "def backward(self, input" in page  # the code, read when the site was built
    by_hand = re.search(r"Sequential.backward: (\[.*?\])\nby hand: +(\[.*?\])", page)
    assert by_hand and by_hand.group(1) == by_hand.group(2)
    checks = [row for row in table_rows(sequential) if row[0] in ("Sigmoid", "Tanh", "ReLU")]
    assert len(checks) == 3 * len(site.STACK_CASES)
    assert all(len(row) == 9 and row[-1] == "yes" for row in checks)
    assert all(float(cell) < 1e-5 for row in checks for cell in row[3:8])


def test_relu_page_computes_the_gradient_at_zero(built):
    import numpy as np

    from derive.nn import ReLU

    relu = ReLU()
    relu.forward(np.array([0.0]))
    assert relu.backward(np.array([0.0]), np.array([1.0]))[0] == 0  # Torch's convention
    rows = {row[0]: row[1] for row in table_rows((built / "relu/index.html").read_text())}
    assert rows["derive.nn's backward, gradOutput 1"] == "0"
    values = [value for key, value in rows.items() if "from the right" in key
              or "from the left" in key or "central" in key]
    assert values == ["1", "0", "0.5"]


def test_cli_and_api_pages_cover_the_new_modules(built):
    cli = text((built / "cli/index.html").read_text())
    for command in site.cli_commands():
        assert f"$ derive {command} --help\nusage: derive {command}" in cli
    assert {"linear", "sigmoid", "tanh", "relu", "mse"} <= set(site.cli_commands())
    assert '"title": "nn.Sigmoid on 3 inputs"' in cli  # the JSON example ran
    api = (built / "api/index.html").read_text()
    for name in ["derive.nn.Sigmoid", "derive.nn.Tanh", "derive.nn.ReLU", "derive.nn.Sequential",
                 "derive.nn.MSECriterion", "derive.symbolic.activation", "derive.symbolic.mse",
                 "derive.symbolic.sequential", "derive.latex.summary",
                 "derive.nn.jacobian.jacobian_errors"]:
        assert f"<code>{name}</code>" in api, name

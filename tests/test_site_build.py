"""The docs site builds with `mkdocs build --strict`, the same way every time."""

import gzip
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
         "api/index.html", "nn-sigmoid/index.html", "nn-tanh/index.html", "nn-relu/index.html",
         "nn-msecriterion/index.html", "sequential/index.html", "regression/index.html",
         "regression-loss.svg", "regression-parameters.svg",
         "nn-batchnormalization/index.html", "nn-spatialconvolution/index.html",
         "nn-softmax/index.html", "nn-logsoftmax/index.html", "nn-classnllcriterion/index.html",
         "nn-crossentropycriterion/index.html", "catalogue/index.html",
         "classification/index.html", "classification-loss.svg", "classification-boundaries.svg",
         "frameworks/index.html"]


def build(site_dir: Path, root: Path = ROOT) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.pop("SITE_URL", None)
    env.pop("SOURCE_DATE_EPOCH", None)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=root, env=env, capture_output=True, text=True,
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


def test_the_old_module_pages_send_the_reader_to_the_catalogue_pages(built):
    from derive.catalogue import lookup

    for old, name in site.MOVED_PAGES.items():
        html = (built / old.replace(".md", "/index.html")).read_text()
        target = f"../{lookup(name).slug}/"
        assert f'<meta http-equiv="refresh" content="0; url={target}">' in html, old
        assert (built / old.replace(".md", "") / target / "index.html").resolve().is_file(), old


def test_mathjax_is_served_from_the_site(built):
    assert (built / "assets/mathjax/tex-mml-chtml.js").is_file()
    fonts = list((built / "assets/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) > 10
    assert (built / "assets/mathjax/input/tex/extensions/boldsymbol.js").is_file()
    index = (built / "index.html").read_text()
    assert re.search(r'<script src="assets/mathjax/tex-mml-chtml\.js">', index)


def test_home_and_linear_credit_the_tutorial_and_its_notebooks(built):
    from derive.site.tutorial import (TUTORIAL_NOTEBOOK_URL, TUTORIAL_NOTEBOOKS_URL, TUTORIAL_TITLE,
                                      TUTORIAL_URL)

    for page in ("index.html", "linear/index.html"):
        html = (built / page).read_text()
        assert f'href="{TUTORIAL_URL}"' in html, page
        assert f'href="{TUTORIAL_NOTEBOOK_URL}"' in html and f'href="{TUTORIAL_NOTEBOOKS_URL}"' in html
        assert TUTORIAL_TITLE in html


def _page_text(built: Path, page: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", (built / page).read_text()))


def test_sequential_page_names_each_layer_one_way(built):
    html = (built / "sequential/index.html").read_text()
    text = _page_text(built, "sequential/index.html")
    # The derivation's names (W1 first Linear, W2 last) in the table and the code alike.
    header = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert [c.strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", header)][3:8] == [
        "d / d x", "d / d W₁", "d / d b₁", "d / d W₂", "d / d b₂"]
    assert "weight (3)" not in text and "g3" not in text
    assert "dJ/dW1 = dJ/dh1 x^T:  True" in text and "dJ/dW2 = dJ/dy h2^T:  True" in text


def test_the_tutorials_numbers_keep_its_four_decimals(built):
    linear = (built / "linear/index.html").read_text()
    assert "-0.1080" in linear and not re.search(r"-0\.108(?!\d)", linear)
    rows = [row for row in table_rows((built / "numeric-checks/index.html").read_text()) if "[" in row[0]]
    assert len(rows) == 20
    for entry, printed, ours, difference, _ in rows:
        assert re.fullmatch(r"-?\d+\.\d{4}", ours), entry
        # a difference is either none or one worth showing, never float64's last-bit noise
        assert difference == "0" or abs(float(difference)) > 1e-12, entry


def test_headings_and_search_have_no_raw_latex(built):
    import json

    for page in PAGES:
        if not page.endswith(".html"):
            continue
        html = (built / page).read_text()
        for heading in re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", html, re.S):
            # outside code (Python names have underscores), no TeX markup
            plain = re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "", heading))
            assert not re.search(r"[_^\\]", plain), (page, plain)
    index = json.loads((built / "search/search_index.json").read_text())
    titles = [re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "", doc["title"])) for doc in index["docs"]]
    assert "1. ΔW written where Δb is meant" in titles
    assert not [t for t in titles if re.search(r"[_^\\]", t)]
    # The text too: math as a reader reads it (outside code, which shows code as it is).
    texts = {doc["location"]: re.sub(r"<code>.*?</code>", "", doc["text"], flags=re.S) for doc in index["docs"]}
    raw = [location for location, text in texts.items() if re.search(r"\\[A-Za-z]+|\\[()\[\]]", text)]
    assert raw == []
    assert "∂J/∂W" in texts["linear/#chain-rule"] and "Wᵀ" in texts["linear/#chain-rule"]


def test_the_home_page_lists_every_module_derive_nn_ships(built):
    from derive.site.home import MODULES_MARKER, module_page
    from derive.site.numeric_checks import shipped_modules

    home = (built / "index.html").read_text()
    assert MODULES_MARKER not in home
    for name in shipped_modules():
        page = module_page(name).replace(".md", "/")
        assert f'<a href="{page}">{name}</a>' in home, name


def test_notation_is_explained_where_it_is_used(built):
    linear = _page_text(built, "linear/index.html")
    assert "is `backward`'s third argument" not in linear  # rendered, not raw markdown
    assert "is backward's third argument, 1 unless given" in linear
    cli = _page_text(built, "cli/index.html")
    assert '"HadamardProduct(-y + 1, g, y)"' in cli  # the JSON example ran
    assert "g is" in cli and "HadamardProduct is the element-wise product" in cli
    regression = _page_text(built, "regression/index.html")
    assert "Not too many digits." in regression and "Not to many" not in regression


def test_the_convention_is_stated_once_and_linked(built):
    from derive.latex import CONVENTION

    stated = CONVENTION.split(".")[0]  # "Convention: numerator layout"
    # (the Command line page shows `derive linear 2 3`'s output, which states it, as it should)
    pages = [p for p in PAGES if p.endswith(".html") and p != "cli/index.html"]
    assert [p for p in pages if stated in (built / p).read_text()] == []
    assert "Layout convention" in (built / "tutorial-notes/index.html").read_text()
    for page in ("nn-sigmoid/index.html", "nn-msecriterion/index.html", "sequential/index.html", "batch/index.html"):
        assert 'href="../tutorial-notes/#layout-convention"' in (built / page).read_text(), page


def test_api_signatures_fit_beside_the_copy_button(built):
    from derive.site.api import SIGNATURE_WIDTH

    html = (built / "api/index.html").read_text()
    blocks = re.findall(r"<code>(.*?)</code>", html, re.S)
    signatures = [re.sub(r"<[^>]+>", "", b) for b in blocks if "derive." in b]
    assert signatures
    for block in signatures:
        assert max(len(line) for line in block.splitlines()) <= SIGNATURE_WIDTH, block


def test_nothing_generated_is_written_into_docs(built):
    for page in ["linear.md", "numeric-checks.md", "numeric-checks-step-size.svg", "nn-sigmoid.md",
                 "nn-msecriterion.md", "catalogue.md", "sequential.md", "regression.md", "regression-loss.svg"]:
        assert not (ROOT / "docs" / page).exists()
    assert not (built / "hooks").exists()


def test_two_builds_are_identical_and_a_tarball_leaves_the_date_out(built, tmp_path):
    # The second build is of the same tree without its .git, as from a release tarball:
    # the same bytes, but for the sitemap, which has no commit date to give (not 1970).
    tarball_tree = tmp_path / "derive"
    def unpacked(folder, names):  # what a release tarball leaves out: history, builds, caches
        top = {".git", "site"} if Path(folder) == ROOT else set()
        return [name for name in names if name in top or name == "__pycache__"]

    shutil.copytree(ROOT, tarball_tree, ignore=unpacked)
    again = tmp_path / "again"
    build(again, root=tarball_tree)
    first, second = tree(built), tree(again)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == ["sitemap.xml", "sitemap.xml.gz"]
    assert "<lastmod>" in first["sitemap.xml"].decode()
    sitemap = second["sitemap.xml"].decode()
    assert "<loc>" in sitemap and "<lastmod>" not in sitemap
    assert gzip.decompress(second["sitemap.xml.gz"]).decode() == sitemap
    assert second["sitemap.xml.gz"][4:8] == bytes(4)  # gzip's MTIME 0: no time stamp


def test_build_date_is_SOURCE_DATE_EPOCH_else_the_last_commit_else_none(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert site.build_date(tmp_path) == "2023-11-14"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(site.SiteBuildError, match="SOURCE_DATE_EPOCH must be a number of seconds"):
        site.build_date(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    committed = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--date=format-local:%Y-%m-%d", "--format=%cd"],
                               capture_output=True, text=True, env=dict(os.environ, TZ="UTC")).stdout.strip()
    assert site.build_date(ROOT) == committed
    assert site.build_date(tmp_path) is None  # a tree without .git, as a tarball unpacks


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


def _tarball(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """A .tgz of (name, content, symlink target) members."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def test_mathjax_is_extracted_without_the_tarfile_filter_argument(tmp_path, monkeypatch):
    """Python 3.11.2 (Debian 12) has no ``filter=`` on extractall: the build must not need it."""
    import tarfile

    def old_extractall(self, path=".", members=None, *, numeric_owner=False):
        raise AssertionError("extractall is not needed to unpack MathJax")

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    files = {"package/es5/tex-mml-chtml.js": b"// mathjax",
             "package/es5/input/tex/extensions/boldsymbol.js": b"// boldsymbol",
             "package/es5/sre/other.js": b"// not needed"}
    tarball = _tarball(tmp_path / "mathjax.tgz", [(n, c, None) for n, c in files.items()])
    from derive.site import mathjax

    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if mathjax._needed(m)]
        mathjax.extract(archive, members, tmp_path / "out")
    written = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
               for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == {name: content for name, content in files.items() if "sre" not in name}


@pytest.mark.parametrize("member", [
    ("package/es5/input/tex/extensions/../../../../../evil.js", b"x", None),
    ("/tmp/evil.js", b"x", None),
    ("package/es5/input/tex/extensions/link.js", None, "/etc/passwd"),
])
def test_an_unsafe_tarball_member_is_refused_before_anything_is_written(tmp_path, member):
    import tarfile

    from derive.site import mathjax

    safe = ("package/es5/tex-mml-chtml.js", b"// mathjax", None)
    tarball = _tarball(tmp_path / "bad.tgz", [safe, member])
    with tarfile.open(tarball) as archive, pytest.raises(site.SiteBuildError, match="unsafe member"):
        mathjax.extract(archive, archive.getmembers(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.js").exists()


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
    checks = [row for row in rows if row[0].startswith("Linear(") and row[2] in ("yes", "no")]  # not derive check's
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
    for name in ["Sigmoid", "Tanh", "ReLU", "MSECriterion"]:
        html = (built / f"nn-{name.lower()}/index.html").read_text()
        page = text(html)
        assert f"from derive.nn import {name}" in page and "It prints:" in page
        assert "Forward pass" in page and "Module calls" in page  # the engine's derivation
        checks = [row for row in table_rows(html) if row[-1] in ("yes", "no")]
        assert checks and all(row[-1] == "yes" and float(row[2]) < 1e-5 for row in checks), name
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
    html = (built / "nn-relu/index.html").read_text()
    assert "derive.nn's ReLU picks" in text(html)
    rows = [row for row in table_rows(html) if len(row) == 5]
    assert rows == [["0", "0", "1", "0", "0.5"]]  # at 0: backward, from the right, the left, central


def test_cli_and_api_pages_cover_the_new_modules(built):
    cli = text((built / "cli/index.html").read_text())
    for command in site.cli_commands():
        assert f"$ derive {command} --help\nusage: derive {command}" in cli
    assert {"linear", "sigmoid", "tanh", "relu", "mse"} <= set(site.cli_commands())
    assert '"title": "nn.Sigmoid on 3 inputs"' in cli  # the JSON example ran
    api = (built / "api/index.html").read_text()
    for name in ["derive.nn.Sigmoid", "derive.nn.Tanh", "derive.nn.ReLU", "derive.nn.Sequential",
                 "derive.nn.MSECriterion", "derive.symbolic.activation", "derive.symbolic.mse",
                 "derive.symbolic.sequential", "derive.symbolic.worked_example", "derive.latex.summary",
                 "derive.nn.jacobian.jacobian_errors", "derive.layer", "derive.module_source",
                 "derive.symbolic.derivation.Result"]:
        assert f"<code>{name}</code>" in api, name

"""The README's Python examples run as written."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == 0, run.stderr


def test_gradinput_comment_is_what_the_example_prints():
    block = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)[0]
    out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.split() == ["[-0.0517", "2.0125]"]


def _shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_every_derive_command_listed_runs(tmp_path):
    """Each `derive ...` line of the README's examples is a command that exists and works."""
    root = README.parent
    commands = [shlex.split(line, comments=True) for block in _shell_blocks() for line in block.splitlines()
                if line.startswith("derive ")]
    assert any(c[:2] == ["derive", "sequential"] for c in commands)
    for command in commands:
        if command[1] == "compile":  # it rewrites the modules; test_nn_catalogue checks they are current
            continue
        # `derive check` runs from the checkout's root on examples/my_linear.py, whose two planted
        # bugs it names with exit status 1, as the README says; the others run anywhere.
        run = subprocess.run([sys.executable, "-m", "derive.cli", *command[1:]],
                             cwd=root if command[1] == "check" else tmp_path,
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": str(root)})
        if command[1] == "check":
            assert run.returncode == 1 and run.stderr == "", (command, run.stderr)
            assert "gradWeight is transposed" in run.stdout and "gradBias is not summed over the batch" in run.stdout
        else:
            assert run.returncode == 0, (command, run.stderr)
    assert sum(c[1] == "check" for c in commands) == 2


def test_the_check_example_ships_in_the_checkout():
    text = README.read_text(encoding="utf-8")
    for path in re.findall(r"derive check (\S+?):\w+", text):
        if path not in ("my_layer.py", "dense.py"):  # the reader's own; the one the export line writes
            assert (README.parent / path).is_file(), path


def test_a_result_prints_as_the_comment_says():
    block = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
                 if "derive.layer(" in b)
    printed = re.search(r'print\(derivation\.results\["dJ/dW"\]\)\s+# (.+?):', block).group(1)
    run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(README.parent)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == printed == "(g * sigmoid(V @ x)) @ x.T"


def test_the_readme_says_to_make_a_venv_and_warns_of_the_test_extras_size():
    text = README.read_text(encoding="utf-8")
    assert "python -m venv .venv && . .venv/bin/activate" in text
    assert "about 6 GB" in text and "--index-url https://download.pytorch.org/whl/cpu" in text
    assert text.index("python -m venv") < text.index("pip install -e")


def test_the_facts_the_readme_states_are_the_projects():
    text = README.read_text(encoding="utf-8")
    pyproject = (README.parent / "pyproject.toml").read_text(encoding="utf-8")
    required = re.search(r'requires-python = ">=(3\.\d+)"', pyproject).group(1)
    assert f"Python {required} and later" in text
    # The browser tests' Chromium, where the README says they look for it.
    browser_test = (README.parent / "tests" / "test_site_browser.py").read_text(encoding="utf-8")
    chromium = re.search(r'CHROMIUM = Path\("([^"]+)"\)', browser_test).group(1)
    assert f"`{chromium}`" in text
    # SITE_URL is what mkdocs.yml reads for the site's address.
    assert "!ENV [SITE_URL," in (README.parent / "mkdocs.yml").read_text(encoding="utf-8")
    assert "SITE_URL=" in text
    # How to look at the built site: served, since file:// links lead to folder listings.
    assert "mkdocs serve" in text and "python -m http.server -d site" in text


def test_the_license_pyproject_announces_is_there():
    pyproject = (README.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "MIT"' in pyproject
    license_text = (README.parent / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in license_text


def test_the_tutorial_and_its_notebooks_are_credited():
    from derive.site.tutorial import (TUTORIAL_NOTEBOOK_URL, TUTORIAL_NOTEBOOKS_URL, TUTORIAL_TITLE,
                                      TUTORIAL_URL)

    text = README.read_text(encoding="utf-8")
    assert f"[*{TUTORIAL_TITLE}*]({TUTORIAL_URL})" in text
    assert f"]({TUTORIAL_NOTEBOOK_URL})" in text and f"]({TUTORIAL_NOTEBOOKS_URL})" in text

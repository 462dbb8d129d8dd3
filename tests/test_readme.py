"""The README's Python examples run as written."""

import pathlib
import re
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

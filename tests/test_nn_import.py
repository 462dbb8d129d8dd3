"""derive.nn is the run-time half: importing it must not pull in sympy."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_derive_nn_does_not_import_sympy():
    result = subprocess.run(
        [sys.executable, "-c", "import derive.nn, sys; print('sympy' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert result.stdout.strip() == "False"

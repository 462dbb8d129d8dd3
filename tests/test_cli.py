"""The derive command: formats, files, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from derive import __version__
from derive.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "derive.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_markdown_is_the_default(capsys):
    assert main(["linear", "2", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# nn.Linear(2 -> 3)")
    assert r"\mathbf{W}^{T} \frac{\partial J}{\partial \mathbf{y}}" in out


def test_json_lists_the_six_results(capsys):
    assert main(["linear", "4", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["results"]) == {"dy/dx", "dy/dW", "dy/db", "dJ/dx", "dJ/dW", "dJ/db"}
    assert data["results"]["dJ/dW"]["shape"] == [3, 4]
    assert data["results"]["dJ/dx"]["expression"] == "W.T*g"


def test_json_with_batch_and_no_bias(capsys):
    assert main(["linear", "2", "3", "--batch", "5", "--no-bias", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"]["dJ/dX (batch)"]["shape"] == [5, 2]
    assert data["results"]["dJ/dX (batch)"]["expression"] == "G*W"
    assert "dJ/db" not in data["results"] and "dJ/db (batch)" not in data["results"]


def test_latex_document_to_a_file(tmp_path):
    target = tmp_path / "linear.tex"
    assert main(["linear", "2", "3", "--format", "latex", "-o", str(target)]) == 0
    assert target.read_text().startswith(r"\documentclass{article}")


def test_help_and_version():
    assert __version__ in run("--version").stdout
    help_text = run("--help").stdout
    assert "linear" in help_text and "compile" in help_text
    assert "--batch" in run("linear", "--help").stdout


@pytest.mark.parametrize("args,message", [
    (["linear", "0", "3"], "argument IN: expected a positive integer, got '0'"),
    (["linear", "2", "-1"], "argument OUT: expected a positive integer, got '-1'"),
    (["linear", "2.5", "3"], "argument IN: expected a positive integer, got '2.5'"),
    (["linear", "two", "3"], "argument IN: expected a positive integer, got 'two'"),
    (["sigmoid", "0"], "argument N: expected a positive integer, got '0'"),
    (["mse", "3", "--batch", "x"], "argument --batch: expected a positive integer, got 'x'"),
    (["tanh"], "required: N"),
    (["relu", "3", "--no-bias"], "unrecognized arguments: --no-bias"),
    (["linear", "2"], "required: OUT"),
    (["linear"], "required: IN, OUT"),
    (["nosuchlayer", "2", "3"], "invalid choice: 'nosuchlayer'"),
    (["linear", "2", "3", "--format", "pdf"], "invalid choice: 'pdf'"),
    (["linear", "2", "3", "--batch", "0"], "argument --batch: expected a positive integer, got '0'"),
    (["linear", "2", "3", "-o", "/nonexistent-dir/out.md"], "cannot write"),
    (["sequential", "--sizes", "2", "3"], "argument --sizes: expected 3 arguments"),
    (["sequential", "--sizes", "2", "0", "1"], "argument --sizes: expected a positive integer, got '0'"),
    (["sequential", "--activation", "softmax"], "argument --activation: invalid choice: 'softmax'"),
    (["sequential", "--batch", "2"], "unrecognized arguments: --batch"),
    ([], "required: COMMAND"),
])
def test_bad_input_is_one_line_and_exit_status_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("command,result,expression", [
    (["sigmoid", "4"], "dJ/dx", "HadamardProduct(-y + 1, g, y)"),
    (["tanh", "4", "--batch", "3"], "dJ/dX (batch)", "HadamardProduct(-HadamardPower(Y, 2) + 1, G)"),
    (["relu", "4"], "dJ/dx", "HadamardProduct(g, Lambda(_z, step(_z)).(x))"),
    (["mse", "4"], "dJ/dx", "(2/n)*(-t + x)"),
    (["mse", "4", "--no-size-average"], "dJ/dx", "2*(-t + x)"),
])
def test_other_layers_in_json(capsys, command, result, expression):
    assert main([*command, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"][result]["expression"] == expression


def test_activation_markdown_and_latex(capsys, tmp_path):
    assert main(["sigmoid", "3"]) == 0
    assert r"\odot" in capsys.readouterr().out
    target = tmp_path / "mse.tex"
    assert main(["mse", "3", "--batch", "2", "--format", "latex", "-o", str(target)]) == 0
    assert r"\frac{\partial J}{\partial \mathbf{X}}" in target.read_text()


def test_sequential_derives_the_stack_it_is_given(capsys):
    from derive.latex import summary
    from derive.symbolic import sequential

    assert main(["sequential", "--sizes", "3", "4", "2", "--activation", "tanh", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(summary(sequential(3, 4, 2, activation="tanh"))))
    assert data["title"] == "nn.Sequential: Linear(3 -> 4) -> Tanh -> Linear(4 -> 2)"
    assert data["results"]["dJ/dx"]["shape"] == [3]
    # Proved at symbolic sizes: a big stack is no harder than a small one.
    assert main(["sequential", "--sizes", "400", "500", "300", "--activation", "relu", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]["dJ/dW1"]["shape"] == [500, 400]


def test_sequential_defaults_to_the_sites_stack(capsys):
    assert main(["sequential"]) == 0
    assert capsys.readouterr().out.startswith("# nn.Sequential: Linear(2 -> 3) -> Sigmoid -> Linear(3 -> 1)")


def test_a_failed_write_to_stdout_is_one_line_and_exit_status_2():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "derive.cli", "linear", "2", "3"],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "derive linear: error: cannot write to stdout: No space left on device\n"


def test_a_reader_that_closes_the_pipe_ends_it_quietly():
    # `derive linear 784 256 | head -1` with a reader that is gone before the first write
    # (its output fits a pipe's buffer, so a slower reader would not see EPIPE at all).
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as stdout:
        result = subprocess.run([sys.executable, "-m", "derive.cli", "linear", "784", "256"],
                                stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.stderr == ""
    assert result.returncode == 1  # EPIPE's status in the Python docs' recipe


def test_head_of_a_long_output_is_quiet():
    result = subprocess.run(f"{sys.executable} -m derive.cli linear 784 256 | head -1", shell=True,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout == "# nn.Linear(784 -> 256)\n"
    assert result.stderr == ""

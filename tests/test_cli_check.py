"""`derive check FILE.py:CLASS`: exit statuses, the JSON report, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from derive.cli import main

PLANTED = Path(__file__).with_name("check_planted.py")
ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *args):
    status = main(["check", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_module_that_passes_exits_0(capsys, tmp_path):
    good = tmp_path / "good.py"
    good.write_text("from derive.nn import Linear\n\nclass MyLinear(Linear):\n    pass\n")
    status, out, err = run(capsys, f"{good}:MyLinear", "--input-shape", "3", "--args", "3", "2", "bias=false")
    assert status == 0 and err == ""
    assert "All 9 checks passed." in out and "nn.Linear(3 -> 2) without bias" in out


def test_a_planted_bug_exits_1_with_its_pattern(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:AveragedGradBias", "--input-shape", "3", "--args", "3", "2",
                         "--batch", "6")
    assert status == 1
    assert "gradBias is not summed over the batch: it is the mean (1/6 of the sum)" in out
    assert "FAIL  batch = the samples one by one" in out


def test_the_json_report(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:DoubledMSE", "--input-shape", "2,3", "--format", "json",
                         "--no-batch")
    assert status == 1
    report = json.loads(out)
    assert report["input_shape"] == [2, 3] and report["batch"] == 0 and report["passed"] is False
    gradient = report["checks"][0]
    assert gradient["name"] == "gradInput, one sample" and gradient["pattern"].startswith("gradInput is 2x")
    assert len(report["checks"]) == 4  # no batch check with --no-batch


def test_tolerance_options_switch_to_pytorchs_rule(capsys):
    assert run(capsys, f"{PLANTED}:SlightlyOff", "--input-shape", "3")[0] == 1
    status, out, _ = run(capsys, f"{PLANTED}:SlightlyOff", "--input-shape", "3", "--atol", "1e-5",
                         "--rtol", "1e-3")
    assert status == 0 and "PyTorch's gradcheck rule" in out


@pytest.mark.parametrize("args,message", [
    (["missing.py:X", "--input-shape", "3"], "no such file: 'missing.py'"),
    ([f"{PLANTED}:Nope", "--input-shape", "3"], "defines no 'Nope'"),
    ([f"{PLANTED}:np", "--input-shape", "3"], "is not a derive.nn Module or Criterion subclass"),
    ([f"{PLANTED}", "--input-shape", "3"], "expected FILE.py:CLASS"),
    ([f"{PLANTED}:IgnoredScale", "--input-shape", "3,0"], "argument --input-shape: expected positive integers"),
    ([f"{PLANTED}:IgnoredScale", "--input-shape", "3", "--args", "__import__('os')"],
     "argument --args: expected an int, float or bool literal"),
    ([f"{PLANTED}:IgnoredScale", "--input-shape", "3", "--args", "3"], "IgnoredScale(3) raised TypeError"),
    ([f"{PLANTED}:IgnoredScale", "--input-shape", "4", "--args", "3", "2"],
     "cannot run one sample of shape (4,)"),
    ([f"{PLANTED}:IgnoredScale", "--input-shape", "3", "--batch", "-1"], "argument --batch"),
    ([f"{PLANTED}:NoOutput", "--input-shape", "3"], "RuntimeError: forgot to write updateOutput"),
])
def test_bad_usage_exits_2_with_one_line(capsys, args, message):
    try:
        status = main(["check", *args])
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.startswith("derive check: error: ") and err.count("\n") == 1, err
    assert message in err


def test_a_file_that_does_not_import(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n\nclass Broken(:\n    pass\n")
    status, out, err = run(capsys, f"{broken}:Broken", "--input-shape", "3")
    assert status == 2 and err.count("\n") == 1 and "SyntaxError (line 3)" in err


def test_the_command_as_a_user_runs_it():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "derive.cli", "check", f"{PLANTED}:SigmoidAtInput",
                           "--input-shape", "5"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stderr == ""
    assert "the derivative is taken at the input where the output is meant" in done.stdout
    done = subprocess.run([sys.executable, "-m", "derive.cli", "check", f"{PLANTED}:Nope",
                           "--input-shape", "5"], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("name,args", [
    ("Linear", ["--args", "4", "3"]), ("Linear", ["--args", "4", "3", "bias=false"]),
    ("Sigmoid", []), ("Tanh", []), ("ReLU", []), ("MSECriterion", []), ("MSECriterion", ["--args", "false"]),
])
def test_every_module_derive_ships_passes_from_the_command_line(capsys, tmp_path, name, args):
    user = tmp_path / "mine.py"
    user.write_text(f"from derive.nn import {name}\n")
    status, out, err = run(capsys, f"{user}:{name}", "--input-shape", "4", *args)
    assert status == 0 and err == "" and "checks passed." in out, out


LINEAR = ["--against", "y = W @ x + b", "--shape", "W=3,3"]


def test_against_derives_formulas_and_names_the_one_an_entry_should_follow(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:TransposedGradWeight", "--input-shape", "3", "--args", "3", "3",
                         *LINEAR)
    assert status == 1
    against = out[out.index("FAIL  against derive's formulas, one sample"):]
    assert "pattern: gradWeight is transposed" in against
    assert "should follow: dJ/dW = g*x.T  (g = gradOutput; * the matrix product)" in against
    assert "should follow: dJ/dW = G.T*X  (G = gradOutput, a row a sample; * the matrix product)" in against
    assert "gradBias" not in against and "gradInput" not in against  # those agree with derive's


def test_against_passes_a_right_module_and_compares_a_criterion(capsys, tmp_path):
    good = tmp_path / "good.py"
    good.write_text("from derive.nn import Linear\n")
    status, out, _ = run(capsys, f"{good}:Linear", "--input-shape", "3", "--args", "3", "3", *LINEAR)
    assert status == 0 and "PASS  against derive's formulas, batch of 4" in out
    status, out, _ = run(capsys, f"{PLANTED}:DoubledMSE", "--input-shape", "3", "--format", "json",
                         "--against", "J = mean((x - t)**2)", "--target", "t")
    assert status == 1
    sample = next(c for c in json.loads(out)["checks"] if c["name"] == "against derive's formulas, one sample")
    gradient = next(c for c in sample["comparisons"] if c["subject"] == "gradInput")
    assert gradient["pattern"].startswith("gradInput is 2x")
    assert gradient["formula"] == "dJ/dx = (2/n)*(-t + x)"


def test_against_with_parameters_that_do_not_match(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:IgnoredScale", "--input-shape", "3", "--args", "3", "2", *LINEAR)
    assert status == 1 and "do not match the reference's by position: [(2, 3), (2,)] against [(3, 3), (3,)]" in out


@pytest.mark.parametrize("args,message", [
    (["--against", "y = W @@ x"], "derive check: error: --against: "),
    (["--against", "y = W @ x + b", "--shape", "x=4"], "--shape x=(4,) differs from --input-shape (3,)"),
    (["--against", "y = W @ x + b", "--shape", "W=3,3", "--shape", "W=3,3"], "--shape W given twice"),
])
def test_against_usage_errors(capsys, args, message):
    status, out, err = run(capsys, f"{PLANTED}:IgnoredScale", "--input-shape", "3", "--args", "3", "3", *args)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("expr,shapes,input_shape,extra", [
    ("y = tanh(W @ x + b)", ["x=4", "W=3,4"], "4", []),
    ("y = exp(x) / sum(exp(x))", ["x=5"], "5", []),
    ("y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]", ["x=2,6", "W=3,2,3"], "2,6", []),
    ("J = mean((x - t)**2)", ["x=3"], "3", ["--target", "t"]),
])
def test_a_module_derive_layer_writes_passes_derive_check(capsys, tmp_path, expr, shapes, input_shape, extra):
    path = tmp_path / "layer.py"
    shape_args = [arg for shape in shapes for arg in ("--shape", shape)]
    assert main(["layer", expr, *shape_args, *extra, "--module", str(path)]) == 0
    capsys.readouterr()
    status, out, _ = run(capsys, f"{path}:Layer", "--input-shape", input_shape, "--against", expr,
                         *shape_args, *extra)
    assert status == 0, out
    assert "PASS  against derive's formulas, batch of 4" in out and "checks passed." in out


def test_against_an_element_wise_layer_prints_its_matrix_form(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:SigmoidAtInput", "--input-shape", "3", "--against", "y = sigmoid(x)")
    assert status == 1
    assert "should follow: dJ/dx = (-y + 1) (.) g (.) y  (g = gradOutput; (.) element-wise)" in out
    assert "should follow: dJ/dX = (-Y + 1) (.) G (.) Y  (G = gradOutput, a row a sample; (.) element-wise)" in out

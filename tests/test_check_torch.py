"""`derive check` on hand-written PyTorch code: a right Function and Module pass; each planted
bug (tests/check_planted_torch.py) fails with its pattern named; bad targets exit 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import derive
from derive.cli import main

PLANTED = str(Path(__file__).with_name("check_planted_torch.py"))


def run(capsys, *args):
    status = main(["check", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("target, extra", [
    ("TanhLinear", ["--shape", "W=2,3", "--shape", "b=2"]),
    ("TanhLayer", []),
])
def test_a_right_function_or_module_passes(capsys, target, extra):
    status, out, _ = run(capsys, f"{PLANTED}:{target}", "--input-shape", "3", *extra)
    assert status == 0, out
    assert "Jacobians, one sample" in out and "Jacobians, batch of 4" in out
    assert "batch = the samples one by one" in out and "backward twice gives the same result" in out
    assert out.rstrip().endswith("checks passed.")


@pytest.mark.parametrize("target, extra, pattern", [
    ("TransposedGradW", ["--shape", "W=3,3", "--shape", "b=3"], "gradW is transposed"),
    ("TransposedGradW", ["--shape", "W=2,3", "--shape", "b=2"], "gradW is transposed (shape (3, 2), expected (2, 3))"),
    ("MissingGradOutput", [], "gradInput is missing the gradOutput factor"),
    ("WrongSign", [], "gradInput has the wrong sign (-1x)"),
    ("HalfSquare", [], "gradInput is 1/2 x the right value (a constant factor)"),
    ("MeanGradBias", ["--shape", "W=2,3", "--shape", "b=2"],
     "gradb is not summed over the batch: it is the mean (1/4 of the sum)"),
    ("OtherInputsGradient", ["--shape", "w=3"], "gradInput is the gradient of w (another input's), not of input"),
    ("MeanBiasLayer", [], "gradb is not summed over the batch: it is the mean (1/4 of the sum)"),
])
def test_each_planted_bug_is_caught_and_named(capsys, target, extra, pattern):
    status, out, _ = run(capsys, f"{PLANTED}:{target}", "--input-shape", "3", *extra)
    assert status == 1
    assert f"pattern: {pattern}" in out


def test_json_report_and_against_derives_formula(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:MeanGradBias", "--input-shape", "3", "--against", "y = W @ x + b",
                         "--shape", "W=2,3", "--format", "json")
    report = json.loads(out)
    assert status == 1 and report["passed"] is False
    assert report["module"] == "MeanGradBias (torch.autograd.Function)"
    against = next(c for c in report["checks"] if c["name"] == "against derive's formulas, batch of 4")
    gradb = next(c for c in against["comparisons"] if c["subject"] == "gradb")
    assert gradb["formula"].startswith("dJ/db = G.T*1")
    assert "gradb is not summed over the batch: it is the mean (1/4 of the sum)" in report["patterns"]


def test_against_gives_the_functions_parameter_shapes(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:TanhLinear", "--input-shape", "3", "--against",
                         "y = tanh(W @ x + b)", "--shape", "W=2,3")
    assert status == 0, out
    assert "PASS  against derive's formulas, batch of 4" in out


@pytest.mark.parametrize("target, message", [
    ("rows", "is not a derive.nn Module or Criterion subclass, nor a torch.autograd.Function or "
             "torch.nn.Module subclass"),
    ("TanhLinear", "TanhLinear.forward takes W, b after the input: give the shape of each with --shape"),
])
def test_bad_targets_exit_2_with_one_line(capsys, target, message):
    status, out, err = run(capsys, f"{PLANTED}:{target}", "--input-shape", "3")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err


@pytest.mark.parametrize("framework, checked", [("torch", "Layer"), ("torch", "LayerFunction")])
def test_an_exported_layer_passes_derive_check_against_its_own_expression(capsys, tmp_path, framework, checked):
    path = tmp_path / "exported.py"
    path.write_text(derive.export_source("y = (W @ x) * sigmoid(V @ x)", {"x": (4,), "W": (3, 4), "V": (3, 4)},
                                         framework=framework))
    status, out, _ = run(capsys, f"{path}:{checked}", "--input-shape", "4", "--against",
                         "y = (W @ x) * sigmoid(V @ x)", "--shape", "W=3,4", "--shape", "V=3,4")
    assert status == 0, out


def test_the_command_as_a_user_runs_it():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "derive.cli", "check", f"{PLANTED}:WrongSign", "--input-shape", "3"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1 and "pattern: gradInput has the wrong sign (-1x)" in done.stdout


def test_a_criterion_function_is_checked_as_a_criterion(capsys):
    status, out, _ = run(capsys, f"{PLANTED}:MSE", "--input-shape", "3", "--against", "J = mean((x - t)**2)",
                         "--target", "t")
    assert status == 0, out
    assert out.startswith("MSE (torch.autograd.Function, a criterion)")
    assert "PASS  gradInput, batch of 4" in out and "PASS  against derive's formulas, batch of 4" in out
    status, out, _ = run(capsys, f"{PLANTED}:MSEWithoutTwo", "--input-shape", "3")
    assert status == 1
    assert "pattern: gradInput is 1/2 x the right value (a constant factor)" in out


def test_an_exported_criterion_passes_derive_check(capsys, tmp_path):
    path = tmp_path / "loss.py"
    path.write_text(derive.export_source("J = -sum(t * (x - log(sum(exp(x)))))", {"x": (4,)}, target="t"))
    status, out, _ = run(capsys, f"{path}:LayerFunction", "--input-shape", "4", "--target-kind", "binary")
    assert status == 0, out

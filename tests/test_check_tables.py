"""`derive check` on table modules (several inputs and/or outputs, as Torch7's tables): the
LSTM and GRU steps generated from programs pass, and a planted bug is named by the input
(or parameter) and the output whose gradient is wrong."""

import json

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.nn.check import CheckError, load_class
from derive.nn.check_table import is_table, table_check
from derive.programs import PROGRAMS


def _write(slug: str, tmp_path, planted: str = ""):
    entry = next(e for e in PROGRAMS if e.slug == slug)
    source = derive.module_source(entry.text, entry.shapes, name=entry.name, **entry.options)
    path = tmp_path / f"{slug.replace('-', '_')}.py"
    path.write_text(source + planted)
    return entry, path


# gradInput of c (the third input) doubled: a wrong dc
DOUBLED_C = '''

class Planted(LSTMStep):
    def updateGradInput(self, input, gradOutput):
        grads = super().updateGradInput(input, gradOutput)
        return [grads[0], grads[1], 2 * grads[2]]

    def backward(self, input, gradOutput, scale=1.0):
        self.accGradParameters(input, gradOutput, scale)
        return self.updateGradInput(input, gradOutput)
'''

# gradUz halved
WRONG_UZ = '''

class Planted(GRUStep):
    def backward(self, input, gradOutput, scale=1.0):
        out = super().backward(input, gradOutput, scale)
        self.gradUz *= 0.5
        return out
'''


@pytest.mark.parametrize("slug", ["lstm-step", "gru-step", "rnn-step"])
def test_generated_step_modules_pass(slug, tmp_path):
    entry, path = _write(slug, tmp_path)
    Layer = load_class(path, entry.name)
    layer = Layer(rng=0)
    assert is_table(layer)
    report = table_check(layer, Layer.inputShapes, batch=2)
    assert report.passed, str(report)
    subjects = {c.subject for result in report.checks for c in result.comparisons}
    for x in entry.input:  # every (input, output) pair, named
        for o in entry.outputs or (entry.text.splitlines()[-1].split(" = ")[0],):
            assert any(f"({x}) from gradOutput" in s and s.endswith(f"({o})") for s in subjects), (x, o)


def test_a_planted_wrong_gradinput_is_named_by_its_input_and_output(tmp_path):
    _, path = _write("lstm-step", tmp_path, DOUBLED_C)
    Layer = load_class(path, "Planted")
    report = table_check(Layer(rng=0), Layer.inputShapes, batch=2)
    failed = {c.subject for result in report.checks for c in result.comparisons if not c.passed}
    assert failed == {"gradInput[2] (c) from gradOutput[0] (h2)", "gradInput[2] (c) from gradOutput[1] (c2)"}
    text = str(report)
    assert "is 2x the right value" in text and "d c2[0] / d c[0]" in text


def test_a_planted_wrong_parameter_gradient_is_named(tmp_path):
    _, path = _write("gru-step", tmp_path, WRONG_UZ)
    Layer = load_class(path, "Planted")
    report = table_check(Layer(rng=0), Layer.inputShapes, batch=0)
    failed = {c.subject for result in report.checks for c in result.comparisons if not c.passed}
    assert failed == {"gradUz from gradOutput[0] (h2)"}


def test_derive_check_on_a_table_module(tmp_path, capsys):
    _, path = _write("lstm-step", tmp_path, DOUBLED_C)
    shapes = ["--input-shape", "3", "--input-shape", "2", "--input-shape", "2"]
    assert main(["check", f"{path}:LSTMStep", *shapes]) == 0
    assert "All 2 checks passed." in capsys.readouterr().out
    assert main(["check", f"{path}:Planted", *shapes, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = [c["subject"] for check in report["checks"] for c in check["comparisons"] if not c["passed"]]
    assert "gradInput[2] (c) from gradOutput[1] (c2)" in failed


def test_derive_check_table_usage_errors_exit_2(tmp_path, capsys):
    _, path = _write("lstm-step", tmp_path)
    assert main(["check", f"{path}:LSTMStep", "--input-shape", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "takes 3 inputs, got 1 input shapes" in err
    _, linear = _write("affine-relu", tmp_path)
    assert main(["check", f"{linear}:AffineReLU", "--input-shape", "4", "--input-shape", "4"]) == 2
    assert "give one --input-shape, not 2" in capsys.readouterr().err


def test_table_check_refuses_a_module_that_cannot_run(tmp_path):
    entry, path = _write("rnn-step", tmp_path)
    Layer = load_class(path, entry.name)
    with pytest.raises(CheckError, match="cannot run one sample"):
        table_check(Layer(rng=0), [(5,), (4,)])
    with pytest.raises(ValueError, match="input_shapes"):
        table_check(Layer(rng=0), [])
    assert np.shape(Layer.inputShapes) == (2, 1)

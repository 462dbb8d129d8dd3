"""derive.nn.check catches and names planted bugs, and passes every module derive ships."""

import json

import numpy as np
import pytest
from check_planted import (AccumulatingGradInput, AddingUpdate, AveragedGradBias, ClassNLL, DoubledMSE,
                           FirstSampleGradBias, IgnoredScale, OverwritingGradWeight, PassThrough,
                           SigmoidAtInput, SigmoidOverwritesGradOutput, SlightlyOff, SquareAtOutput,
                           StickyGradients, TanhOverwritesOutput, TransposedGradWeight, Unpicklable,
                           WrongSignNLL)

from derive.nn import Linear, MSECriterion, ReLU, Sequential, Sigmoid, Tanh, check
from derive.nn.check import KINK, CheckError, draw_input


def shipped():
    """(id, module, one sample's shape) for every module derive ships."""
    return [
        ("Linear", Linear(5, 3, rng=0), (5,)),
        ("Linear without bias", Linear(5, 3, bias=False, rng=0), (5,)),
        ("Sigmoid", Sigmoid(), (6,)),
        ("Tanh", Tanh(), (6,)),
        ("ReLU", ReLU(), (6,)),
        ("ReLU on 2-D samples", ReLU(), (2, 3)),
        ("MSECriterion", MSECriterion(), (4,)),
        ("MSECriterion sum", MSECriterion(sizeAverage=False), (4,)),
        ("Sequential", Sequential().add(Linear(4, 5, rng=1)).add(Tanh()).add(Linear(5, 3, rng=2))
         .add(ReLU()).add(Linear(3, 2, bias=False, rng=3)).add(Sigmoid()), (4,)),
    ]


@pytest.mark.parametrize("name,module,shape", shipped(), ids=[case[0] for case in shipped()])
@pytest.mark.parametrize("batch", [0, 5])
def test_every_module_derive_ships_passes(name, module, shape, batch):
    report = check(module, shape, batch=batch)
    assert report.passed, str(report)
    assert report.checks and all(result.error < 1e-5 for result in report.checks)
    names = [result.name for result in report.checks]
    assert any(n.endswith(f"batch of {batch}") for n in names) == (batch > 0)
    assert any(n.startswith("Jacobians") or n.startswith("gradInput") for n in names)


def test_a_module_with_parameters_gets_every_check_of_torchs_list():
    names = [result.name for result in check(Linear(3, 2, rng=0), (3,)).checks]
    assert names == ["Jacobians, one sample", "Jacobians, batch of 4",
                     "accGradParameters accumulates and honours scale", "zeroGradParameters zeroes",
                     "updateParameters(lr) gives p - lr gradP", "batch = the samples one by one",
                     "backward twice gives the same result", "input, gradOutput and output left unchanged",
                     "pickle round trip"]


def failed(report, check_name):
    """The named check, asserting it failed."""
    result = report[check_name]
    assert not result.passed, str(report)
    return result


# Each planted bug: (module, input shape, a check that must fail, the pattern it must name).
PLANTED = [
    (lambda: TransposedGradWeight(4, 4, rng=0), (4,), "Jacobians, one sample", "gradWeight is transposed"),
    (lambda: IgnoredScale(3, 2, rng=0), (3,), "accGradParameters accumulates and honours scale",
     "scale is ignored"),
    (lambda: AveragedGradBias(3, 2, rng=0), (3,), "Jacobians, batch of 4",
     "gradBias is not summed over the batch: it is the mean (1/4 of the sum)"),
    (lambda: AveragedGradBias(3, 2, rng=0), (3,), "batch = the samples one by one",
     "gradBias is not summed over the batch"),
    (lambda: FirstSampleGradBias(3, 2, rng=0), (3,), "batch = the samples one by one",
     "gradBias is sample 0's alone: it is not summed over the batch"),
    (lambda: FirstSampleGradBias(3, 2, rng=0), (3,), "Jacobians, batch of 4",
     "gradBias counts sample 0 of the batch alone"),
    (SigmoidAtInput, (5,), "Jacobians, one sample",
     "the derivative is taken at the input where the output is meant"),
    (SigmoidAtInput, (5,), "Jacobians, batch of 4",
     "the derivative is taken at the input where the output is meant"),
    (SquareAtOutput, (5,), "Jacobians, one sample",
     "the derivative is taken at the output where the input is meant"),
    (SigmoidOverwritesGradOutput, (5,), "input, gradOutput and output left unchanged",
     "updateGradInput overwrites gradOutput with gradInput"),
    (TanhOverwritesOutput, (5,), "input, gradOutput and output left unchanged",
     "updateGradInput overwrites output with gradInput"),
    (PassThrough, (5,), "Jacobians, one sample", "gradInput is gradOutput passed through (not computed)"),
    (DoubledMSE, (5,), "gradInput, one sample", "gradInput is 2x the right value"),
    (DoubledMSE, (5,), "gradInput, batch of 4", "gradInput is 2x the right value"),
    (lambda: OverwritingGradWeight(3, 2, rng=0), (3,), "accGradParameters accumulates and honours scale",
     "accGradParameters overwrites the gradient instead of adding to it"),
    (lambda: AddingUpdate(3, 2, rng=0), (3,), "updateParameters(lr) gives p - lr gradP",
     "updateParameters adds gradWeight instead of subtracting it"),
    (lambda: StickyGradients(3, 2, rng=0), (3,), "zeroGradParameters zeroes",
     "zeroGradParameters leaves gradWeight unchanged"),
    (AccumulatingGradInput, (5,), "backward twice gives the same result",
     "gradInput accumulates across backward calls"),
]


@pytest.mark.parametrize("make,shape,check_name,pattern", PLANTED,
                         ids=[f"{case[2]}: {case[3]}" for case in PLANTED])
def test_every_planted_bug_is_caught_and_named(make, shape, check_name, pattern):
    report = check(make(), shape)
    assert not report.passed
    result = failed(report, check_name)
    assert pattern in result.pattern, str(report)
    assert pattern in str(report) and pattern in report.to_json()


def test_the_report_gathers_the_patterns():
    report = check(AveragedGradBias(3, 2, rng=0), (3,))
    assert report.patterns == ["gradBias is not summed over the batch: it is the mean (1/4 of the sum)"]
    assert report.to_dict()["patterns"] == report.patterns and check(Tanh(), (3,)).patterns == []


def test_a_failure_lists_its_worst_entries_with_expected_and_got():
    module = TransposedGradWeight(3, 3, rng=0)
    comparison = next(c for c in failed(check(module, (3,), batch=0), "Jacobians, one sample").comparisons
                      if c.subject == "gradWeight")
    assert 1 <= len(comparison.worst) <= 5
    x = None
    for entry in comparison.worst:
        # d output[i] / d weight[j, k] of y = W x is delta_ij x_k: got must be the transpose's.
        i = int(entry.output[len("output["):-1])
        j, k = (int(v) for v in entry.element[len("weight["):-1].split(","))
        assert (entry.expected != 0) == (i == j) and (entry.got != 0) == (i == k)
        x = abs(entry.expected or entry.got) if x is None else x
    assert comparison.error == pytest.approx(max(abs(e.expected - e.got) for e in comparison.worst))


def test_a_broken_module_fails_whatever_it_raises_and_says_what():
    report = check(Unpicklable(), (4,))
    result = failed(report, "pickle round trip")
    assert result.message.startswith(("PicklingError", "AttributeError"))
    assert [r.name for r in report.failed] == ["pickle round trip"]


def test_torchs_rule_and_pytorchs_rule():
    strict = check(SlightlyOff(), (4,), batch=0)
    assert not strict.passed and "gradInput is 1.0001x the right value" in str(strict)
    relaxed = check(SlightlyOff(), (4,), batch=0, atol=1e-5, rtol=1e-3)
    assert relaxed.passed and "PyTorch" in relaxed.rule
    assert not check(SlightlyOff(), (4,), batch=0, atol=1e-5, rtol=1e-5).passed


def test_inputs_near_a_kink_are_drawn_again():
    rng, plain = np.random.default_rng(7), np.random.default_rng(7)
    assert (np.abs(plain.uniform(-2, 2, 100_000)) < KINK).any()  # so the draw below had some to redo
    x = draw_input(rng, (100_000,))
    assert np.abs(x).min() >= KINK and np.abs(x).max() <= 2


def test_criterion_targets_of_other_kinds():
    report = check(MSECriterion(), (3,), target_kind="binary")
    assert report.passed
    with pytest.raises(ValueError, match="target_kind"):
        check(MSECriterion(), (3,), target_kind="labels")
    with pytest.raises(CheckError, match="target of shape"):
        check(MSECriterion(), (3,), target_shape=(2,))


def test_a_criterion_with_class_targets():
    assert check(ClassNLL(), (5,), target_kind="class").passed
    report = check(WrongSignNLL(), (5,), target_kind="class")
    assert failed(report, "gradInput, batch of 4").pattern == "gradInput has the wrong sign (-1x)"


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple of positive ints"):
        check(Tanh(), (0,))
    with pytest.raises(ValueError, match="batch must be a non-negative int"):
        check(Tanh(), (3,), batch=-1)
    with pytest.raises(TypeError, match="module must be a derive.nn Module or Criterion"):
        check(object(), (3,))
    with pytest.raises(CheckError, match=r"cannot run one sample of shape \(4,\)"):
        check(Linear(3, 2), (4,))


def test_against_a_reference_module_names_the_formula():
    reference, module = Linear(3, 3, rng=5), TransposedGradWeight(3, 3, rng=0)
    formulas = (["dJ/dx = W^T g", "dJ/dW = g x^T", "dJ/db = g"], ["dJ/dX = G W", "dJ/dW = G^T X", "dJ/db = G^T 1"])
    report = check(module, (3,), reference=reference, reference_formulas=formulas)
    np.testing.assert_array_equal(reference.weight, module.weight)  # copied by position
    np.testing.assert_array_equal(reference.bias, module.bias)
    for name, formula in (("one sample", "dJ/dW = g x^T"), ("batch of 4", "dJ/dW = G^T X")):
        result = failed(report, f"against derive's formulas, {name}")
        bad = [c for c in result.comparisons if not c.passed]
        assert [c.subject for c in bad] == ["gradWeight"]
        assert bad[0].formula == formula and bad[0].pattern == "gradWeight is transposed"
    assert check(Linear(3, 3, rng=0), (3,), reference=Linear(3, 3, rng=5)).passed
    mismatch = check(Linear(3, 2, rng=0), (3,), reference=Linear(3, 3, rng=5))
    assert "do not match the reference's by position" in failed(mismatch, "against the reference").message


def test_the_report_as_json():
    report = json.loads(check(IgnoredScale(3, 2, rng=0), (3,)).to_json())
    assert report["passed"] is False and report["input_shape"] == [3] and report["batch"] == 4
    by_name = {c["name"]: c for c in report["checks"]}
    scale = by_name["accGradParameters accumulates and honours scale"]
    assert scale["passed"] is False and scale["pattern"].startswith("scale is ignored")
    worst = scale["comparisons"][1]["worst"][0]
    assert set(worst) == {"output", "element", "expected", "got"}
    assert worst["got"] == pytest.approx(worst["expected"] * 2 / 0.75)
    assert all(c["passed"] for name, c in by_name.items() if name != scale["name"])

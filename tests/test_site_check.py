"""The site's `derive check` example and the numeric-checks page's whole list come from derive.nn.check."""

from derive.nn import check
from derive.nn.check import load_class
from derive.site.cli import CHECK_EXAMPLE, check_against_example, check_example
import pytest

from derive import nn
from derive.site import numeric_checks
from derive.site.build import SiteBuildError
from derive.site.numeric_checks import (FULL_CHECK_BATCH, full_check_cases, full_checks, full_checks_table,
                                        shipped_modules)


def test_the_cli_pages_example_fails_with_its_two_bugs_named():
    source, report = check_example()
    assert "class MyLinear(Module)" in source
    assert "pattern: gradWeight is transposed" in report
    assert "pattern: gradBias is not summed over the batch: it is the mean (1/4 of the sum)" in report
    assert report.rstrip().endswith("3 of 9 checks failed.")
    # The command prints what the Python API reports: one checker.
    assert str(check(load_class(CHECK_EXAMPLE, "MyLinear")(3, 3), (3,))) == report


def test_the_cli_pages_against_example_names_the_formulas():
    report = check_against_example()
    assert report.startswith("  FAIL  against derive's formulas, one sample")
    assert "should follow: dJ/dW = g*x.T" in report
    assert "should follow: dJ/dW = G.T*X" in report


def test_every_shipped_module_passes_the_whole_list_on_the_page():
    reports = full_checks()
    assert [name for name, _ in reports] == [name for name, _, _, _ in full_check_cases()]
    assert all(report.passed for _, report in reports)
    # one sample only: BatchNormalization's training batch, and the losses with parameters (a batch's loss is a mean)
    assert all(report.batch == FULL_CHECK_BATCH for name, report in reports
               if "BatchNormalization" not in name and "its target fixed" not in name)
    table = full_checks_table(reports).splitlines()
    assert len(table) == 2 + len(reports)
    assert all(line.endswith(" | yes |") for line in table[2:])
    linear = table[2].split(" | ")
    assert linear[0] == "| Linear(5, 3)" and linear[1] == "(5,)"
    jacobians = max(r.error for r in reports[0][1].checks if r.name.startswith("Jacobians"))
    assert linear[2] == f"{jacobians:.0e}"


def test_the_numeric_checks_cover_every_module_derive_nn_ships():
    shipped = shipped_modules()
    assert {"Linear", "Sigmoid", "Tanh", "ReLU", "Sequential", "MSECriterion", "BatchNormalization",
            "SpatialConvolution", "SoftMax", "LogSoftMax", "ClassNLLCriterion", "CrossEntropyCriterion"} <= set(shipped)
    assert "Module" not in shipped and "Criterion" not in shipped and "check" not in shipped
    cases = full_check_cases()
    for name in shipped:
        assert any(isinstance(make(), getattr(nn, name)) for _, make, _, _ in cases), name


def test_a_module_derive_nn_ships_without_a_check_stops_the_build(monkeypatch):
    class Swish(nn.Module):
        pass

    monkeypatch.setattr(nn, "Swish", Swish, raising=False)
    monkeypatch.setattr(nn, "__all__", nn.__all__ + ["Swish"])
    assert "Swish" in shipped_modules()
    with pytest.raises(SiteBuildError, match="no case for derive.nn.Swish"):
        numeric_checks.full_check_cases()


def test_the_whole_list_gives_the_same_table_every_build():
    # every module is made from a seed: two builds of the site show the same numbers
    assert full_checks_table(full_checks()) == full_checks_table(full_checks())

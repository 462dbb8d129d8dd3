"""The site's `derive check` example and the numeric-checks page's whole list come from derive.nn.check."""

from derive.nn import check
from derive.nn.check import load_class
from derive.site.cli import CHECK_EXAMPLE, check_against_example, check_example
from derive.site.numeric_checks import FULL_CHECK_BATCH, FULL_CHECK_CASES, full_checks, full_checks_table


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
    assert [name for name, _ in reports] == [name for name, _, _ in FULL_CHECK_CASES]
    assert all(report.passed and report.batch == FULL_CHECK_BATCH for _, report in reports)
    table = full_checks_table(reports)
    assert table.splitlines()[-1] == "| **all pass** | " + " | ".join(["yes"] * len(reports)) + " |"
    row = next(line for line in table.splitlines() if line.startswith("| Jacobians, one sample |"))
    linear = reports[0][1]["Jacobians, one sample"].error
    assert row.split(" | ")[1] == f"{linear:.0e}"

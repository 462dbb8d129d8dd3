"""The BatchNormalization and SpatialConvolution pages: their numbers are what the code gives now."""

import re

import numpy as np

from derive import site
from derive.site.batchnorm import batchnorm_derivation_section, batchnorm_page, batchnorm_script
from derive.site.convolution import convolution_derivation_section, convolution_page, convolution_script
from derive.site.snippets import run_python


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the body rows of the page's tables."""
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in markdown.splitlines()
            if line.startswith("| ") and not line.startswith("| input") and not line.startswith("| module")]


def printed_block(printed: str, label: str) -> np.ndarray:
    """The array printed after `label:` on its own line."""
    block = printed.split(label + ":\n", 1)[1]
    rows = []
    for line in block.splitlines():
        numbers = re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", line)
        if not numbers:
            break
        rows.append([float(n) for n in numbers])
        if line.rstrip().endswith("]]") or line.rstrip().endswith("]]]"):
            break
    return np.array(rows)


def test_batchnorm_page_checks_are_recomputed_and_pass():
    page = batchnorm_page()
    rows = table_rows(page)
    expected = site.batchnorm_checks()
    assert len(rows) == len(expected) == len(site.BATCHNORM_CASES)
    for row, ((n, d, affine, training), errors) in zip(rows, expected):
        assert row[:3] == [f"({n}, {d})", "training" if training else "evaluation", "yes" if affine else "no"]
        assert row[3] == f"{errors['input']:.1e}"
        assert row[4:6] == ([f"{errors['weight']:.1e}", f"{errors['bias']:.1e}"] if affine else ["-", "-"])
        assert max(errors.values()) < 1e-5 and row[6] == "yes"
    # The engine's results, each with the compact form proved equal to it.
    section = batchnorm_derivation_section()
    assert section in page and section.startswith("## Derivation\n")
    assert section.count("&= ") == 4 and "proved equal" in section
    assert r"\sum_{n=1}^{N} {\hat{x}}_{n,j} {g}_{n,j}" in section  # dJ/dgamma = sum g xhat


def test_batchnorm_example_backward_is_the_compact_formula():
    printed, namespace = run_python(batchnorm_script())
    assert printed in batchnorm_page()
    np.testing.assert_array_equal(printed_block(printed, "gradInput"), printed_block(printed, "by hand"))
    X, bn = namespace["X"], namespace["bn"]
    Y = (X - X.mean(0)) / np.sqrt(X.var(0) + bn.eps) * bn.weight + bn.bias
    np.testing.assert_allclose(printed_block(printed, "output"), Y, atol=5e-5)
    # Each column of gradInput sums to zero in training.
    assert np.allclose(printed_block(printed, "gradInput").sum(axis=0), 0, atol=5e-4)


def test_convolution_page_checks_are_recomputed_and_pass():
    page = convolution_page()
    rows = table_rows(page)
    expected = site.convolution_checks()
    assert len(rows) == len(expected) == len(site.CONVOLUTION_CASES)
    for row, (case, errors) in zip(rows, expected):
        assert row[1] == str(case[-1])
        assert row[2:5] == [f"{errors['input']:.1e}", f"{errors['weight']:.1e}", f"{errors['bias']:.1e}"]
        assert max(errors.values()) < 1e-5 and row[5] == "yes"
    # The engine's derivation, under the page's own heading, for the shown sizes.
    section = convolution_derivation_section()
    assert section in page and section.startswith("## Derivation\n")
    assert "### Chain rule" in section and "### Batch: Chain rule" in section
    assert "# nn.SpatialConvolution" not in section  # the derivation's own title is not repeated


def test_convolution_example_is_the_definition():
    printed, namespace = run_python(convolution_script())
    assert printed in convolution_page()
    x, dJ_dy = namespace["x"][0], namespace["dJ_dy"][0]
    # y[i, j] = x[i, j] - x[i+1, j+1] + 0.5, by hand.
    np.testing.assert_array_equal(printed_block(printed, "output"), x[:-1, :-1] - x[1:, 1:] + 0.5)
    gradInput = np.zeros_like(x)
    gradInput[:-1, :-1] += dJ_dy
    gradInput[1:, 1:] -= dJ_dy
    np.testing.assert_array_equal(printed_block(printed, "gradInput"), gradInput)
    assert "output shape: (1, 2, 2)" in printed  # floor((3 + 2 - 3) / 2) + 1 = 2, floor((4 + 2 - 3) / 2) + 1 = 2

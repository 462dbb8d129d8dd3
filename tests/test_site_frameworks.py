"""The page "In PyTorch and JAX": its exported files, checks and report are computed at build time
and say what a fresh run says."""

import re

import derive
from derive.site.frameworks import EXPORT_EXPR, EXPORT_SHAPES, frameworks_page


def test_the_page_shows_both_exports_passing_checks_and_the_bug_caught():
    page = frameworks_page()
    assert derive.export_source(EXPORT_EXPR, EXPORT_SHAPES, framework="torch", name="Dense") in page
    assert derive.export_source(EXPORT_EXPR, EXPORT_SHAPES, framework="jax", name="dense") in page
    assert "`torch.autograd.gradcheck`\npasses, `torch.autograd.gradgradcheck` passes" in page
    difference = float(re.search(r"autograd's on `torch.tanh\(x @ W.T \+ b\)` by at most\n(\S+)\.", page).group(1))
    assert difference < 1e-12
    jit, vmap = (float(v) for v in re.search(r"by at most\n(\S+), and under `jax.vmap` by at most (\S+);", page).groups())
    assert jit < 1e-5 and vmap < 1e-5
    assert "(exit status 1)" in page
    assert "pattern: gradInput is missing the gradOutput factor (it is the gradient for gradOutput = 1)" in page
    assert "FAIL  against derive's formulas, one sample" in page

"""len(k) in index notation: the number of values an index runs over, a size as a number (the
number of classes of the margin criteria, N_c), so that one kernel takes every size."""

from __future__ import annotations

import numpy as np
import pytest

from derive.catalogue import lookup
from derive.symbolic.language import LayerSyntaxError, parse


def test_len_is_the_size_an_index_runs_over():
    spec = parse("J = sum(x[c], c) / len(c)", {"x": (4,)})
    assert str(spec.expr) == "Sum(x[c], (c, 1, N_c))/N_c"
    from derive.generate_sizes import runtime_kernels

    # at run-time sizes the kernel binds N_c from the input and divides by it
    output = runtime_kernels("J = sum(x[c]**2, c) / len(c)", {"x": (4,)})[0]
    assert "N_c = x.shape[0]" in output
    namespace = {}
    exec("import numpy as np\nfrom numpy import ndarray\nfrom derive.nn._backend import namespace\n" + output,
         namespace)
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert namespace["update_output"](x) == pytest.approx((x ** 2).mean())


@pytest.mark.parametrize("text, message", [
    ("J = sum(x[c], c) / len(x)", "len takes an index, not the array x"),
    ("J = sum(x[c], c) / len(c, c)", "len\\(k\\) takes one index name"),
    ("J = sum(x[c], c) / len(2)", "len\\(k\\) takes one index name"),
])
def test_len_of_anything_but_one_index_is_one_line(text, message):
    with pytest.raises(LayerSyntaxError, match=message):
        parse(text, {"x": (4,)})


def test_the_margin_criteria_divide_by_the_number_of_classes_as_a_size():
    for name in ("MultiMarginCriterion", "MultiLabelMarginCriterion"):
        text = lookup(name).example_formula().text
        assert ("len(c)" in text or "len(i)" in text) and "**0" not in text


@pytest.mark.parametrize("classes", [2, 5, 9])
def test_one_kernel_takes_every_number_of_classes(classes):
    import derive.nn as nn

    x = np.linspace(-1, 1, classes)
    t = classes - 1
    margins = np.maximum(0, 1 - x[t] + x)
    expected = (margins.sum() - 1) / classes
    assert nn.MultiMarginCriterion().forward(x, t) == pytest.approx(expected, rel=1e-12)

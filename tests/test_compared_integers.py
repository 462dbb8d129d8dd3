"""An integer array (one read inside a subscript) compared in a where's condition: its values as
given, counted from 0, against an index's value, counted from 1 (MultiLabelMargin's "i is one of
the targets": t[k] == i - 1). It has no gradient and is still no number elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive.symbolic.language import LayerSyntaxError

from test_layer_engine import load


def test_a_target_list_marks_its_classes(tmp_path):
    # J = the sum of the entries of x whose class is not listed in t, plus x at the first listed class
    Criterion = load(derive.module_source("J = sum((1 - sum(where(t[k] == i - 1, 1, 0), k)) * x[i], i) + x[t[1]]",
                                          {"x": (5,), "t": (2,)}, target="t"), tmp_path)
    criterion = Criterion()
    x, t = np.array([1.0, 2.0, 4.0, 8.0, 16.0]), np.array([3, 0])
    assert criterion.forward(x, t) == pytest.approx(2 + 4 + 16 + 8)
    np.testing.assert_array_equal(criterion.backward(x, t), [0, 1, 1, 1, 1])
    batch = np.stack([x, x]), np.array([[3, 0], [1, 2]])
    assert criterion.forward(*batch) == pytest.approx((30 + (1 + 8 + 16 + 2)) / 2)


def test_a_compared_integer_array_is_still_no_number():
    with pytest.raises(LayerSyntaxError, match="t is used inside a subscript, so it holds integers"):
        derive.layer("J = sum(where(t[k] == 1, x[t[k]], t[k]), k)", {"x": (5,), "t": (2,)}, target="t")

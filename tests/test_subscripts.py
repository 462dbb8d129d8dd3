"""Computed subscripts (issue 20 item 3): // and % by integer constants, min, max and abs of
affine forms, inside subscripts only. The gradient is the sum over each element's preimage,
proved at the index level, and the kernels scatter-add (bincount) without a loop."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

import derive
from derive.cli import main
from derive.symbolic.language import LayerSyntaxError, parse
from derive.symbolic.layer import gradients

from test_layer_engine import load

NEAREST = "y[c,u,v] = x[c, (u-1)//2 + 1, (v-1)//2 + 1]"


def test_a_computed_subscript_is_parsed_to_integer_arithmetic():
    spec = parse(NEAREST, {"x": (2, 3, 4), "y": (2, 6, 8)})
    (access,) = spec.expr.atoms(sp.Indexed)
    assert access.indices[1].has(sp.floor) and access.indices[2].has(sp.floor)
    spec = parse("y[i] = x[min(max(i - 1, 1), 3)] + x[4 - abs(3 - abs(i - 2))] + x[(i - 1) % 3 + 1]",
                 {"x": (4,), "y": (6,)})
    kinds = {type(a) for s in spec.expr.atoms(sp.Indexed) for i in s.indices for a in sp.preorder_traversal(i)}
    assert {sp.Min, sp.Max, sp.Abs, sp.Mod} <= kinds


def test_the_gradient_is_the_sum_over_each_elements_preimage():
    spec = parse(NEAREST, {"x": (2, 3, 4), "y": (2, 6, 8)})
    gradient = gradients(spec)["x"].index_form
    # the output elements u whose subscript names x's row: a sum with a delta, no closed form
    assert gradient.has(sp.Sum) and any(d.has(sp.floor) for d in gradient.atoms(sp.KroneckerDelta))
    derivation = derive.layer(NEAREST, {"x": (2, 3, 4), "y": (2, 6, 8)})  # each step proved
    assert derivation.sections


@pytest.mark.parametrize("batch", [None, 3])
def test_nearest_upsampling_adds_each_block_of_the_gradient(batch, tmp_path):
    layer = load(derive.module_source(NEAREST, {"x": (2, 3, 4), "y": (2, 6, 8)}), tmp_path)()
    rng = np.random.default_rng(0)
    lead = (batch,) if batch else ()
    x, g = rng.standard_normal(lead + (2, 3, 4)), rng.standard_normal(lead + (2, 6, 8))
    np.testing.assert_array_equal(layer.forward(x), x.repeat(2, axis=-2).repeat(2, axis=-1))
    blocks = g.reshape(lead + (2, 3, 2, 4, 2)).sum(axis=(-3, -1))
    np.testing.assert_allclose(layer.backward(x, g), blocks, rtol=1e-12, atol=1e-12)


def test_a_computed_read_outside_the_array_is_zero(tmp_path):
    # rows 7 and 8 read x[4], outside x: 0, and nothing of their gradient reaches x
    layer = load(derive.module_source("y[i] = x[(i-1)//2 + 1]", {"x": (3,), "y": (8,)}), tmp_path)()
    x, g = np.array([1.0, 2.0, 3.0]), np.arange(1.0, 9.0)
    np.testing.assert_array_equal(layer.forward(x), [1, 1, 2, 2, 3, 3, 0, 0])
    np.testing.assert_array_equal(layer.backward(x, g), [3, 7, 11])


def test_reflection_and_replication_padding_add_up_at_the_edges(tmp_path):
    reflect = load(derive.module_source("y[i] = x[4 - abs(3 - abs(i - 3))]", {"x": (4,), "y": (8,)}), tmp_path)()
    x, g = np.array([1.0, 2.0, 3.0, 4.0]), np.arange(1.0, 9.0)
    np.testing.assert_array_equal(reflect.forward(x), [3, 2, 1, 2, 3, 4, 3, 2])  # numpy's "reflect"
    np.testing.assert_array_equal(reflect.backward(x, g), [3, 2 + 4 + 8, 1 + 5 + 7, 6])
    replicate = load(derive.module_source("y[i] = x[min(max(i - 2, 1), 4)]", {"x": (4,), "y": (7,)}),
                     tmp_path)()
    np.testing.assert_array_equal(replicate.forward(x), np.pad(x, (2, 1), mode="edge"))
    np.testing.assert_array_equal(replicate.backward(x, np.arange(1.0, 8.0)), [1 + 2 + 3, 4, 5, 6 + 7])


def test_the_kernels_scatter_add_without_a_loop():
    source = derive.module_source(NEAREST, {"x": (2, 3, 4), "y": (2, 6, 8)})
    kernels = source[source.index("def update_grad_input"):]
    assert "bincount" in kernels
    assert not re.search(r"^\s*(for|while) ", source, re.MULTILINE)


@pytest.mark.parametrize("text,shapes,message", [
    ("y = x // 2", {"x": (3,)}, "column 5: floor division (//) is not part of the layer language outside a "
                                "subscript"),
    ("y[i] = x[i] % 2", {"x": (3,)}, "column 8: the remainder (%) is not part of the layer language outside"),
    ("y[i] = x[(i-1)//2.5 + 1]", {"x": (3,), "y": (6,)}, "column 17: the divisor of // must be a positive "
                                                         "integer, got 2.5"),
    ("y[i] = x[(i-1)//0 + 1]", {"x": (3,), "y": (6,)}, "the divisor of // must be a positive integer, got 0"),
    ("y[i,j] = x[i % j, j]", {"x": (3, 3)}, "the divisor of % must be a positive integer, got j"),
    ("y[i] = x[(i-1)//2 + 1]", {"x": (3,)},
     "cannot infer the range of i from a computed subscript of x (//, %, min, max, abs): give it with the "
     "output's shape, --shape, or --range i=N"),
    ("y[i] = sum(x[(i-1)//2 + k], k)", {"x": (3,), "y": (6,)}, "abs): give it with --range k=N"),
    ("y[i] = x[abs(i, 2)]", {"x": (3,)}, "abs in a subscript takes one index"),
    ("y[i] = x[max(i)]", {"x": (3,)}, "max in a subscript takes two or more indices"),
    ("y[i] = x[i * (i // 2)]", {"x": (3,)}, "an index may be multiplied by an integer only"),
])
def test_bad_index_arithmetic_is_one_line(text, shapes, message):
    with pytest.raises(LayerSyntaxError) as error:
        parse(text, shapes)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_cli_says_it_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["layer", "y[i] = x[(i-1)//2.5 + 1]", "--shape", "x=3", "--shape", "y=6"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the divisor of // must be a positive integer, got 2.5" in err


def test_an_index_is_a_number_where_it_stands_alone(tmp_path):
    # 1 .. its size, as the elements count: bilinear upsampling's weights are functions of it
    layer = load(derive.module_source("y[i] = x[i] * i", {"x": (3,)}), tmp_path)()
    x, g = np.array([1.0, -2.0, 0.5]), np.array([1.0, 1.0, 2.0])
    np.testing.assert_array_equal(layer.forward(x), x * [1, 2, 3])
    np.testing.assert_array_equal(layer.backward(x, g), g * [1, 2, 3])
    with pytest.raises(LayerSyntaxError, match="column 15: q needs its indices in index notation"):
        parse("y[i] = x[i] + q", {"x": (3,)})


def test_the_latex_brackets_a_remainder_and_writes_the_floor_as_the_text_does():
    from derive.latex import markdown
    shown = markdown(derive.layer("y[c,u] = x[2*(c-1) + (u-1) % 2 + 1, (u-1)//2 + 1]", {"x": (4, 3), "y": (2, 6)}))
    assert r"\left\lfloor \frac{u - 1}{2} \right\rfloor" in shown
    assert re.search(r"\\left\(\\left\(\S.*\\right\) \\bmod 2\\right\)", shown)

"""SpatialConvolution on the layer engine: `derive conv`, derive.symbolic.convolution, and the
engine's module against derive.nn.SpatialConvolution's (generated from its catalogue entry at
run-time sizes)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import derive
from derive import nn
from derive.cli import main
from derive.latex import summary
from derive.symbolic.convolution import CONVOLUTION, convolution


def test_the_engines_module_computes_what_SpatialConvolution_computes():
    # Two independent routes to the same numbers: the engine's derivation lowered to numpy,
    # and derive.nn's im2col kernels (steps 1, no padding: the expression's case).
    source = derive.module_source(CONVOLUTION, {"x": (2, 5, 4), "W": (3, 2, 2, 3)}, name="Convolution")
    namespace = {}
    exec(compile(source, "<engine's module>", "exec"), namespace)
    engine = namespace["Convolution"](rng=0)
    ours = nn.SpatialConvolution(2, 3, 3, 2, rng=1)  # kW = 3, kH = 2: weight (3, 2, 2, 3)
    engine.W[...] = ours.weight
    engine.b[...] = ours.bias
    rng = np.random.default_rng(2)
    for shape in [(2, 5, 4), (3, 2, 5, 4)]:
        x = rng.standard_normal(shape)
        y = engine.forward(x).copy()
        np.testing.assert_allclose(ours.forward(x), y, rtol=1e-13, atol=1e-14)
        g = rng.standard_normal(y.shape)
        engine.zeroGradParameters()
        ours.zeroGradParameters()
        np.testing.assert_allclose(ours.backward(x, g), engine.backward(x, g), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(ours.gradWeight, engine.gradW, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(ours.gradBias, engine.gradb, rtol=1e-13, atol=1e-14)


def test_the_weight_gradient_is_the_correlation_of_input_and_gradOutput():
    derivation = convolution(2, 3, 2, 2, 4, 4, batch=5)
    assert derivation.title == "nn.SpatialConvolution(2 -> 3, 2x2) on 2 x 4 x 4 input, batch of 5"
    results = derivation.results
    assert str(results["dJ/dW"].expr) == "Sum(g[j, h, w]*x[k, h + l - 1, a + w - 1], (h, 1, N_h), (w, 1, N_w))"
    assert str(results["dJ/db"].expr) == "Sum(g[j, h, w], (h, 1, N_h), (w, 1, N_w))"
    assert summary(derivation)["results"]["dJ/dX (batch)"]["shape"] == [5, 2, 4, 4]


@pytest.mark.parametrize("args,error,match", [
    ((0, 1, 2, 2, 3, 3), ValueError, "nInputPlane must be a positive int, got 0"),
    ((1, 1, 2, 2, 3, True), TypeError, "width must be a positive int"),
    ((1, 1, 4, 2, 3, 3), ValueError, r"kernel kW x kH = 4 x 2 is larger than the input"),
])
def test_bad_sizes_are_refused(args, error, match):
    with pytest.raises(error, match=match):
        convolution(*args)


def test_derive_conv_prints_the_derivation_and_json(capsys):
    assert main(["conv", "1", "2", "2", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# nn.SpatialConvolution(1 -> 2, 2x2) on 1 x 4 x 4 input\n")  # KH + 2, KW + 2
    assert "## Chain rule" in out
    assert main(["conv", "1", "1", "3", "2", "--height", "3", "--width", "5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"]["dJ/dx"]["shape"] == [1, 3, 5]
    assert data["results"]["dJ/dW"]["shape"] == [1, 1, 2, 3]


@pytest.mark.parametrize("args,message", [
    (["conv", "1", "1", "4", "2", "--width", "3"],
     "derive conv: error: the kernel kW x kH = 4 x 2 is larger than the input, width x height = 3 x 4"),
    (["conv", "1", "0", "2", "2"], "derive conv: error: argument OUT: expected a positive integer, got '0'"),
])
def test_derive_conv_errors_are_one_line_with_status_2(args, message):
    done = subprocess.run([sys.executable, "-m", "derive.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr == message + "\n" and done.stdout == ""

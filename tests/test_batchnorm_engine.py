"""BatchNormalization on the layer engine: `derive batchnorm`, derive.symbolic.batchnorm's compact
forms proved equal to the engine's results, and the engine's module against nn.BatchNormalization."""

import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import derive
from derive import nn
from derive.cli import main
from derive.symbolic.batchnorm import BATCHNORM, batchnorm, compact_forms
from derive.symbolic.calculus import equal


@pytest.fixture(scope="module")
def derivation():
    return batchnorm(2, 3)


def test_the_compact_forms_are_proved_and_a_wrong_one_is_not(derivation):
    forms = compact_forms(derivation)
    assert set(forms) == {"x", "gamma"}
    engine, compact = forms["x"]
    assert equal(engine, compact)
    # The prover is not a rubber stamp: the compact form plus a term that is not zero is refused.
    sum_g = next(s for s in compact.atoms(sp.Sum)
                 if isinstance(s.function, sp.Indexed) and str(s.function.base) == "g")
    assert not equal(engine, compact + sum_g)
    titles = [section.title for section in derivation.sections]
    assert titles == ["Forward pass", "Jacobians", "Chain rule", "Compact form", "Module calls"]
    assert derivation.title == "nn.BatchNormalization(2) in training, batch of 3"


def test_the_engines_module_computes_what_BatchNormalization_computes_in_training():
    # The engine's derivation lowered to numpy, against derive.nn's hand-written kernels:
    # the layer's one sample is the whole batch (4, 3).
    source = derive.module_source(BATCHNORM.format(eps="1e-05"), {"x": (4, 3)}, name="BN")
    namespace = {}
    exec(compile(source, "<engine's module>", "exec"), namespace)
    engine = namespace["BN"](rng=0)
    ours = nn.BatchNormalization(3)
    rng = np.random.default_rng(1)
    engine.gamma[...] = ours.weight[...] = rng.uniform(-2, 2, 3)
    engine.beta[...] = ours.bias[...] = rng.uniform(-1, 1, 3)
    assert not np.shares_memory(engine.gamma, ours.weight)
    x = rng.standard_normal((4, 3)) * 2 + 1
    g = rng.standard_normal((4, 3))
    np.testing.assert_allclose(ours.forward(x), engine.forward(x), rtol=1e-12, atol=1e-13)
    engine.zeroGradParameters()
    np.testing.assert_allclose(ours.backward(x, g), engine.backward(x, g), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(ours.gradWeight, engine.gradgamma, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(ours.gradBias, engine.gradbeta, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("args,error,match", [
    ((2, 1), ValueError, "batch must be an int >= 2, got 1"),
    ((0, 3), ValueError, "nOutput must be a positive int, got 0"),
    ((2, 3, -1.0), ValueError, "eps must be a positive finite number"),
    ((2, 3.0), TypeError, "batch must be an int"),
])
def test_bad_sizes_are_refused(args, error, match):
    with pytest.raises(error, match=match):
        batchnorm(*args)


def test_derive_batchnorm_prints_the_derivation_with_the_compact_form(capsys):
    assert main(["batchnorm", "2", "--batch", "2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["title"] == "nn.BatchNormalization(2) in training, batch of 2"
    assert set(data["results"]) == {"dy/dx", "dy/dgamma", "dy/dbeta", "dJ/dx", "dJ/dgamma", "dJ/dbeta"}
    assert data["results"]["dJ/dx"]["shape"] == [2, 2]
    assert main(["batchnorm", "1", "--batch", "2"]) == 0
    assert "## Compact form" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["batchnorm", "2"], "derive batchnorm: error: the statistics run over a batch: give --batch B with B >= 2"),
    (["batchnorm", "2", "--batch", "1"],
     "derive batchnorm: error: the statistics run over a batch: give --batch B with B >= 2"),
    (["batchnorm", "2", "--batch", "2", "--eps", "0"],
     "derive batchnorm: error: --eps must be a positive number, got 0.0"),
])
def test_derive_batchnorm_errors_are_one_line_with_status_2(args, message):
    done = subprocess.run([sys.executable, "-m", "derive.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr == message + "\n" and done.stdout == ""

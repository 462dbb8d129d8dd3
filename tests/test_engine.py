"""The engine's results, proofs and element-wise checks, read like the tutorial."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from derive.symbolic import LinearSpec, ProofError, linear, linear_example
from derive.symbolic.check import check_elements
from derive.symbolic.derivation import Grid, Step, prove_step
from derive.symbolic.linear import B, m, n

SPEC = LinearSpec()
W, x, b, g = SPEC.W, SPEC.x, SPEC.b, SPEC.g
X, G = SPEC.X, SPEC.G

# The tutorial's numbers (Torch prints four decimals of its random weights).
BLOG_W = [[0.1453, 0.5062], [0.0635, 0.4911], [-0.1080, 0.1747]]
BLOG_B = [0.2063, -0.1635, -0.0883]
BLOG_X = [4, 5]
BLOG_DJ_DY = [1, 2, 3]


def test_matrix_form_results_are_the_tutorials_closed_forms():
    results = linear(2, 3).results
    assert results["dy/dx"].expr == W  # numerator layout: the tutorial's dy/dx = W
    assert results["dy/db"].expr == sp.Identity(m)
    assert results["dJ/dx"].expr == W.T * g
    assert results["dJ/dW"].expr == g * x.T
    assert results["dJ/db"].expr == g
    i, j, k = sp.symbols("i j k", integer=True, positive=True)
    assert results["dy/dW"].expr == sp.KroneckerDelta(i, j) * SPEC.x_[k]


def test_batch_results_are_the_closed_forms_the_tutorial_skipped():
    results = linear(2, 3, batch=5).results
    assert results["dJ/dX"].expr == G * W
    assert results["dJ/dW (batch)"].expr == G.T * X
    assert results["dJ/db (batch)"].expr == G.T * sp.OneMatrix(B, 1)


def test_shapes_follow_torchs_layout():
    results = linear(2, 3).results
    sizes = {n: 2, m: 3}
    shapes = {name: tuple(int(sp.sympify(d).subs(sizes)) for d in r.shape)
              for name, r in results.items()}
    assert shapes == {"dy/dx": (3, 2), "dy/dW": (3, 3, 2), "dy/db": (3, 3),
                      "dJ/dx": (2,), "dJ/dW": (3, 2), "dJ/db": (3,)}


def test_without_bias_there_is_no_bias_gradient():
    results = linear(4, 2, bias=False).results
    assert "dJ/db" not in results and "dy/db" not in results
    assert results["dJ/dx"].expr == W.T * g


def test_every_step_is_an_equality_chain_and_the_derivation_is_size_free():
    small, big = linear(2, 3), linear(1000, 700)
    assert [s.title for s in small.sections] == [s.title for s in big.sections]
    assert small.sizes == {n: 2, m: 3} and big.sizes == {n: 1000, m: 700}


def test_the_prover_rejects_a_wrong_step():
    notation = SPEC.notation()
    dj_dx = Grid((n, 1), lambda r, c: sp.Derivative(sp.Symbol("J"), SPEC.x_[r]))
    prove_step(Step(dj_dx, (W.T * g,)), notation, (n, m))  # the right one passes
    with pytest.raises(ProofError):
        prove_step(Step(dj_dx, (Grid((n, 1), lambda r, c: 2 * SPEC.x_[r]),)), notation, (n, m))
    wrong_w = Grid((m, n), lambda r, c: SPEC.g_[c] * SPEC.x_[r])  # indices swapped
    dj_dw = Grid((m, n), lambda r, c: sp.Derivative(sp.Symbol("J"), SPEC.w_[r, c]))
    with pytest.raises(ProofError):
        prove_step(Step(dj_dw, (wrong_w,)), notation, (n, m))


@pytest.mark.parametrize("n_in,n_out", [(2, 3), (3, 2), (1, 1), (5, 4)])
def test_every_element_of_every_result_at_concrete_sizes(n_in, n_out):
    proved = check_elements(n_in, n_out)
    assert proved == {"gradInput": n_in, "dy/dx": n_in * n_out, "gradWeight": n_in * n_out,
                      "gradBias": n_out, "dy/db": n_out * n_out}


@settings(max_examples=15, deadline=None)
@given(n_in=st.integers(1, 5), n_out=st.integers(1, 5),
       batch=st.one_of(st.none(), st.integers(1, 4)), bias=st.booleans())
def test_elementwise_check_for_random_sizes(n_in, n_out, batch, bias):
    proved = check_elements(n_in, n_out, batch=batch, bias=bias)
    rows = batch or 1
    assert proved["gradInput"] == rows * n_in
    assert proved["gradWeight"] == n_out * n_in
    assert ("gradBias" in proved) == bias


def test_a_wrong_matrix_form_fails_the_elementwise_check(monkeypatch):
    original = LinearSpec.results

    def wrong(self):
        out = original(self)
        out["gradInput"] = self.W.T * self.W * self.x if not self.batch else out["gradInput"]
        return out

    monkeypatch.setattr(LinearSpec, "results", wrong)
    with pytest.raises(ProofError):
        check_elements(2, 2)


def test_worked_example_reproduces_the_tutorials_numbers():
    example = linear_example(BLOG_W, BLOG_B, BLOG_X, BLOG_DJ_DY, 0.02)
    W_, b_, x_, g_ = (np.array(a, dtype=float) for a in (BLOG_W, BLOG_B, BLOG_X, BLOG_DJ_DY))
    value = {k: np.array(r.expr.tolist(), dtype=float) for k, r in example.results.items()}
    np.testing.assert_allclose(value["dJ/dx"].ravel(), W_.T @ g_)
    # The tutorial prints -0.0516 and 2.0126 from weights it shows rounded to 4 decimals.
    np.testing.assert_allclose(value["dJ/dx"].ravel(), [-0.0516, 2.0126], atol=2e-4)
    np.testing.assert_array_equal(value["dJ/dW"], [[4, 5], [8, 10], [12, 15]])
    np.testing.assert_array_equal(value["dJ/db"].ravel(), [1, 2, 3])
    np.testing.assert_allclose(value["W"], [[0.0653, 0.4062], [-0.0965, 0.2911],
                                            [-0.3480, -0.1253]], atol=1e-12)
    np.testing.assert_allclose(value["b"].ravel(), [0.1863, -0.2035, -0.1483], atol=1e-12)


@pytest.mark.parametrize("bad,error", [
    (dict(weight=[1, 2]), ValueError),
    (dict(bias=[1, 2]), ValueError),
    (dict(input=[[4, 5]]), ValueError),
    (dict(grad_output=["a", "b", "c"]), TypeError),
    (dict(learning_rate="0.02"), TypeError),
    (dict(learning_rate=float("nan")), ValueError),
])
def test_worked_example_rejects_bad_numbers(bad, error):
    args = dict(weight=BLOG_W, bias=BLOG_B, input=BLOG_X, grad_output=BLOG_DJ_DY,
                learning_rate=0.02)
    args.update(bad)
    with pytest.raises(error):
        linear_example(**args)


@pytest.mark.parametrize("value,error", [(0, ValueError), (-3, ValueError), (2.0, TypeError),
                                         (True, TypeError), ("3", TypeError)])
def test_sizes_must_be_positive_integers(value, error):
    with pytest.raises(error, match="positive integer"):
        linear(value, 3)
    with pytest.raises(error, match="positive integer"):
        linear(2, 3, batch=value)

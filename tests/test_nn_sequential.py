"""nn.Sequential: forward in order, backward in reverse, each module getting the input it saw in forward.

Checked the way Torch's tests check modules (central differences with perturbation
1e-6 against backprop, w.r.t. the input and every parameter), and its API against
Torch7's Container.lua / Sequential.lua.
"""

import numpy as np
import pytest

from derive import nn
from derive.nn.jacobian import jacobian_errors
from derive.nn.module import Module

PERTURBATION = 1e-6  # as in Torch's nn tests
PRECISION = 1e-6


def max_errors(module, x):
    """Max |backprop - central differences| w.r.t. the input, then each parameter."""
    return jacobian_errors(module, x, PERTURBATION)


def blog_mlp(rng=0):
    """Linear(2 -> 3) -> Sigmoid -> Linear(3 -> 1)."""
    return nn.Sequential().add(nn.Linear(2, 3, rng=rng)).add(nn.Sigmoid()).add(nn.Linear(3, 1, rng=rng + 1))


def deep_mlp():
    """Linear(4 -> 6) -> Tanh -> Linear(6 -> 5) -> ReLU -> Linear(5 -> 3) -> Sigmoid."""
    return (nn.Sequential().add(nn.Linear(4, 6, rng=10)).add(nn.Tanh()).add(nn.Linear(6, 5, rng=11))
            .add(nn.ReLU()).add(nn.Linear(5, 3, rng=12)).add(nn.Sigmoid()))


# --- Central differences against backprop ---------------------------------------------

@pytest.mark.parametrize("shape", [(2,), (60, 2)], ids=["one sample", "batch of 60"])
def test_linear_sigmoid_linear_matches_central_differences(shape):
    mlp = blog_mlp()
    x = np.random.default_rng(1).standard_normal(shape)
    errors = max_errors(mlp, x)
    assert len(errors) == 1 + 4  # input, weight1, bias1, weight2, bias2
    assert max(errors) < PRECISION


@pytest.mark.parametrize("shape", [(4,), (50, 4)], ids=["one sample", "batch of 50"])
def test_deeper_stack_with_tanh_and_relu_matches_central_differences(shape):
    mlp = deep_mlp()
    x = np.random.default_rng(2).standard_normal(shape)
    mlp.forward(x)
    # No perturbation (1e-6 times |x| or |W| < 3) may cross ReLU's kink at 0.
    assert np.abs(mlp[2].output).min() > 1e-4
    errors = max_errors(mlp, x)
    assert len(errors) == 1 + 6
    assert max(errors) < PRECISION


def test_training_step_with_mse_matches_central_differences_of_the_loss():
    # dJ/dparameter for J = MSE(mlp(X), T): the accumulated gradients after one backward.
    rng = np.random.default_rng(3)
    mlp, criterion = deep_mlp(), nn.MSECriterion()
    X, T = rng.standard_normal((64, 4)), rng.uniform(size=(64, 3))
    mlp.zeroGradParameters()
    criterion.forward(mlp.forward(X), T)
    mlp.backward(X, criterion.backward(mlp.output, T))
    for param, gradParam in zip(*mlp.parameters()):
        numeric = np.zeros(param.size)
        flat = param.reshape(-1)
        for j in range(param.size):
            original = flat[j]
            flat[j] = original + PERTURBATION
            plus = criterion.forward(mlp.forward(X), T)
            flat[j] = original - PERTURBATION
            minus = criterion.forward(mlp.forward(X), T)
            flat[j] = original
            numeric[j] = (plus - minus) / (2 * PERTURBATION)
        assert np.abs(gradParam.ravel() - numeric).max() < PRECISION


# --- The API --------------------------------------------------------------------------

def test_add_returns_the_container_and_repr_is_torchs():
    seq = nn.Sequential()
    assert seq.add(nn.Linear(2, 3)) is seq
    seq.add(nn.Sigmoid()).add(nn.Linear(3, 1))
    assert repr(seq) == ("nn.Sequential {\n"
                         "  [input -> (1) -> (2) -> (3) -> output]\n"
                         "  (1): nn.Linear(2 -> 3)\n"
                         "  (2): nn.Sigmoid\n"
                         "  (3): nn.Linear(3 -> 1)\n"
                         "}")


def test_repr_of_nested_and_empty_containers():
    inner = nn.Sequential().add(nn.Tanh())
    outer = nn.Sequential().add(inner).add(nn.Linear(2, 3).noBias())
    assert repr(outer) == ("nn.Sequential {\n"
                           "  [input -> (1) -> (2) -> output]\n"
                           "  (1): nn.Sequential {\n"
                           "    [input -> (1) -> output]\n"
                           "    (1): nn.Tanh\n"
                           "  }\n"
                           "  (2): nn.Linear(2 -> 3) without bias\n"
                           "}")
    assert repr(nn.Sequential()) == "nn.Sequential {\n  [input -> output]\n}"


def test_len_indexing_0_based_and_get_1_based():
    linear, sigmoid = nn.Linear(2, 3), nn.Sigmoid()
    seq = nn.Sequential().add(linear).add(sigmoid)
    assert len(seq) == 2
    assert seq[0] is linear and seq[1] is sigmoid and seq[-1] is sigmoid
    assert seq.get(1) is linear and seq.get(2) is sigmoid
    with pytest.raises(IndexError, match=r"index must be in 1\.\.2 \(1-based\), got 0"):
        seq.get(0)
    with pytest.raises(IndexError, match="got 3"):
        seq.get(3)


def test_add_of_a_non_module_is_a_TypeError():
    with pytest.raises(TypeError, match="expected an nn Module, got ufunc"):
        nn.Sequential().add(np.tanh)
    with pytest.raises(TypeError, match="got type"):
        nn.Sequential().add(nn.Linear)  # the class, not an instance
    with pytest.raises(TypeError, match="got MSECriterion"):
        nn.Sequential().add(nn.MSECriterion())


def test_parameters_are_the_live_arrays_of_every_module_in_order():
    seq = blog_mlp()
    params, gradParams = seq.parameters()
    first, last = seq[0], seq[2]
    assert [id(p) for p in params] == [id(first.weight), id(first.bias), id(last.weight), id(last.bias)]
    assert [id(g) for g in gradParams] == [id(first.gradWeight), id(first.gradBias),
                                           id(last.gradWeight), id(last.gradBias)]
    params[0][...] = 7
    assert np.all(first.weight == 7)
    assert nn.Sequential().add(nn.ReLU()).parameters() == ([], [])  # Torch's Container: empty lists


def test_zeroGradParameters_and_updateParameters_cover_every_module():
    seq = nn.Sequential().add(blog_mlp()).add(nn.Tanh()).add(nn.Linear(1, 2))
    params, gradParams = seq.parameters()
    assert len(params) == 6
    for g in gradParams:
        g[...] = 3.0
    before = [p.copy() for p in params]
    seq.updateParameters(0.5)
    for p, p0 in zip(params, before):
        np.testing.assert_array_equal(p, p0 - 1.5)
    seq.zeroGradParameters()
    assert all(not g.any() for g in gradParams)


def test_training_and_evaluate_propagate():
    inner = nn.Sequential().add(nn.Linear(2, 2))
    seq = nn.Sequential().add(inner).add(nn.ReLU())
    assert seq.evaluate() is seq
    assert not seq.train and not inner.train and not inner[0].train and not seq[1].train
    assert seq.training() is seq
    assert seq.train and inner.train and inner[0].train and seq[1].train


class Recorder(Module):
    """y = 2x, recording every array it is given."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def updateOutput(self, input):
        self.calls.append(("updateOutput", input))
        self.output = 2 * input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.calls.append(("updateGradInput", input, gradOutput))
        self.gradInput = 2 * gradOutput
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        self.calls.append(("accGradParameters", input, gradOutput, scale))


def test_forward_chains_outputs_and_backward_passes_each_module_its_forward_input():
    rng = np.random.default_rng(4)
    linear, first, sigmoid, last = nn.Linear(3, 2, rng=0), Recorder(), nn.Sigmoid(), Recorder()
    seq = nn.Sequential().add(linear).add(first).add(sigmoid).add(last)
    X, G = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))

    Y = seq.forward(X)
    assert Y is seq.output is last.output
    assert first.calls == [("updateOutput", linear.output)] and first.calls[0][1] is linear.output
    assert last.calls[0][1] is sigmoid.output
    np.testing.assert_allclose(Y, 2 / (1 + np.exp(-2 * (X @ linear.weight.T + linear.bias))), rtol=1e-14)

    seq.zeroGradParameters()
    gradInput = seq.backward(X, G, 0.5)
    assert gradInput is seq.gradInput is linear.gradInput
    # Each module's backward got its forward input and the gradInput of the module after it.
    _, lastInput, lastGradOutput = last.calls[1]
    assert lastInput is sigmoid.output and lastGradOutput is G
    assert last.calls[2][1] is sigmoid.output and last.calls[2][2] is G and last.calls[2][3] == 0.5
    _, firstInput, firstGradOutput = first.calls[1]
    assert firstInput is linear.output and firstGradOutput is sigmoid.gradInput
    assert first.calls[2][1] is linear.output and first.calls[2][2] is sigmoid.gradInput
    # The Linear at the bottom got X and the Recorder's gradInput, scaled by 0.5.
    np.testing.assert_allclose(linear.gradWeight, 0.5 * first.gradInput.T @ X, rtol=1e-14)
    np.testing.assert_allclose(gradInput, first.gradInput @ linear.weight, rtol=1e-14)


def test_updateGradInput_then_accGradParameters_equal_backward():
    rng = np.random.default_rng(5)
    X, G = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    one, two = deep_mlp(), deep_mlp()
    one.forward(X)
    two.forward(X)
    one.backward(X, G, 0.25)
    two.updateGradInput(X, G)
    two.accGradParameters(X, G, 0.25)
    np.testing.assert_array_equal(one.gradInput, two.gradInput)
    for a, b in zip(one.parameters()[1], two.parameters()[1]):
        np.testing.assert_array_equal(a, b)


def test_empty_sequential_is_the_identity():
    seq, x = nn.Sequential(), np.arange(3.0)
    assert seq.forward(x) is x and seq.backward(x, x) is x


def test_errors_inside_say_which_module():
    seq = blog_mlp()
    with pytest.raises(ValueError, match=r"Sequential module \(1\): Linear\(2 -> 3\): input must have shape"):
        seq.forward(np.zeros((4, 3)))
    seq.forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"module \(3\): Linear\(3 -> 1\): gradOutput must have shape \(4, 1\)"):
        seq.backward(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(TypeError, match=r"module \(1\): Linear\(2 -> 3\): input must be a numpy array, got list"):
        seq.forward([[0.0, 0.0]])


def test_backward_before_forward_says_so_in_one_line():
    net = nn.Sequential().add(nn.Linear(2, 3)).add(nn.Sigmoid()).add(nn.Linear(3, 1))
    for call in (lambda: net.backward(np.ones(2), np.ones(1)),
                 lambda: net.updateGradInput(np.ones(2), np.ones(1)),
                 lambda: net.accGradParameters(np.ones(2), np.ones(1))):
        with pytest.raises(ValueError, match=r"^Sequential: backward needs a forward first: ") as error:
            call()
        assert "(0,)" not in str(error.value) and "\n" not in str(error.value)
    net.forward(np.ones(2))
    assert net.backward(np.ones(2), np.ones(1)).shape == (2,)
    net.add(nn.Tanh())  # the new last module has not seen a forward yet
    with pytest.raises(ValueError, match="backward needs a forward first"):
        net.backward(np.ones(2), np.ones(1))


def test_a_single_module_needs_no_forward_as_in_torch():
    net = nn.Sequential().add(nn.Linear(2, 3, rng=0))
    assert net.backward(np.ones(2), np.ones(3)).shape == (2,)


def test_a_bad_learningRate_is_refused_by_the_container():
    net = nn.Sequential()
    with pytest.raises(TypeError, match=r"^Sequential\.updateParameters: learningRate must be a real number, got '0\.1' \(str\)$"):
        net.updateParameters("0.1")

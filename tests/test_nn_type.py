"""Module.type, float, double, cuda (Torch7's names): conversions, and the modules on each device.

Every test taking the ``device`` fixture runs on the CPU (numpy) and, where CuPy and a
CUDA GPU are present, again on CUDA (CuPy); without them the CUDA runs are skipped
and say why (tests taking ``cuda`` run on CUDA only). ``bench/gpu_check.py`` runs this
file on a GPU machine.
"""

import copy
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from derive import nn
from derive.nn._backend import CudaUnavailableError, namespace

ROOT = Path(__file__).resolve().parents[1]


def _cuda_missing() -> str | None:
    """Why the CUDA runs cannot run here, or None when CuPy sees a GPU."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'derive[cuda]')"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy's CUDARuntimeError: no driver or no device
        return f"CuPy sees no CUDA GPU ({type(error).__name__}: {error})"
    return None if count > 0 else "CuPy sees no CUDA GPU"


#: Why the CUDA runs are skipped here (None: they run). bench/gpu_check.py sets
#: DERIVE_REQUIRE_CUDA=1, which turns those skips into failures.
CUDA_MISSING = _cuda_missing()


class Device:
    """Where a module lives in a test: its array module and Torch's names of its two float types."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "cpu":
            self.xp = np
            self.types = {np.float32: "torch.FloatTensor", np.float64: "torch.DoubleTensor"}
        else:
            import cupy

            self.xp = cupy
            self.types = {np.float32: "torch.CudaTensor", np.float64: "torch.CudaDoubleTensor"}

    def array(self, values, dtype=np.float64):
        """``values`` as an array of this device."""
        return self.xp.asarray(np.asarray(values, dtype=dtype))

    @staticmethod
    def host(array) -> np.ndarray:
        """A numpy copy of a numpy or CuPy array."""
        return array.get() if hasattr(array, "get") else np.array(array)


def cuda_device() -> Device:
    """The CUDA device; skipped, saying why, where there is none (failed under DERIVE_REQUIRE_CUDA=1)."""
    if CUDA_MISSING is not None:
        if os.environ.get("DERIVE_REQUIRE_CUDA") == "1":
            pytest.fail(f"DERIVE_REQUIRE_CUDA=1, but {CUDA_MISSING}")
        pytest.skip(f"CUDA path: {CUDA_MISSING}")
    return Device("cuda")


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> Device:
    return Device("cpu") if request.param == "cpu" else cuda_device()


@pytest.fixture
def cuda() -> Device:
    return cuda_device()


def trained_linear(bias=True) -> nn.Linear:
    """Linear(5 -> 4) after one backward, so its gradients are not zero."""
    layer = nn.Linear(5, 4, bias=bias, rng=0)
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    layer.forward(x)
    layer.backward(x, g)
    return layer


def net_and_criterion():
    """Every module derive ships: Linear (with and without bias), Tanh, ReLU, Sigmoid; and MSECriterion."""
    net = (nn.Sequential().add(nn.Linear(6, 5, rng=10)).add(nn.Tanh()).add(nn.Linear(5, 4, rng=11))
           .add(nn.ReLU()).add(nn.Linear(4, 3, bias=False, rng=12).noBias()).add(nn.Sigmoid()))
    return net, nn.MSECriterion()


def step(net, criterion, x, t, learningRate=0.1):
    """One training step; the loss, gradInput and the parameters after the update, as numpy arrays."""
    net.zeroGradParameters()
    loss = criterion.forward(net.forward(x), t)
    gradInput = net.backward(x, criterion.backward(net.output, t))
    net.updateParameters(learningRate)
    return loss, Device.host(gradInput), [Device.host(p) for p in net.parameters()[0]]


# --- Conversions ------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
def test_round_trip_through_float32_keeps_the_values_and_sets_the_dtypes(device, bias):
    layer = trained_linear(bias)
    before = [a.copy() for a in layer.parameters()[0] + layer.parameters()[1]]
    assert layer.type() == "torch.DoubleTensor"

    assert layer.type(device.types[np.float32]) is layer
    assert layer.type() == device.types[np.float32]
    arrays = layer.parameters()[0] + layer.parameters()[1] + [layer.output, layer.gradInput]
    assert all(isinstance(a, device.xp.ndarray) and a.dtype == np.float32 for a in arrays)
    for array, original in zip(layer.parameters()[0] + layer.parameters()[1], before):
        np.testing.assert_array_equal(Device.host(array), original.astype(np.float32))

    assert layer.type(device.types[np.float64]) is layer
    assert all(isinstance(a, device.xp.ndarray) and a.dtype == np.float64
               for a in layer.parameters()[0] + layer.parameters()[1])
    for array, original in zip(layer.parameters()[0] + layer.parameters()[1], before):
        np.testing.assert_array_equal(Device.host(array), original.astype(np.float32).astype(np.float64))

    assert layer.double() is layer and layer.type() == "torch.DoubleTensor"
    assert all(a.__class__ is np.ndarray for a in layer.parameters()[0] + layer.parameters()[1])


def test_float64_round_trip_through_the_device_is_exact(device):
    layer = trained_linear()
    before = [a.copy() for a in layer.parameters()[0] + layer.parameters()[1]]
    layer.type(device.types[np.float64]).double()
    for array, original in zip(layer.parameters()[0] + layer.parameters()[1], before):
        np.testing.assert_array_equal(array, original)


def test_float_and_double_are_torchs_cpu_types():
    layer = nn.Linear(2, 3, rng=0)
    assert layer.float() is layer and layer.type() == "torch.FloatTensor" and layer.weight.dtype == np.float32
    assert layer.double() is layer and layer.type() == "torch.DoubleTensor" and layer.weight.dtype == np.float64
    # numpy dtypes name the CPU types too.
    assert layer.type(np.float32).type() == "torch.FloatTensor"
    assert layer.type(np.dtype("float64")).type() == "torch.DoubleTensor"


def test_an_array_already_of_the_type_is_kept_not_copied():
    layer = nn.Linear(2, 3, rng=0)
    weight, flat = layer.weight, layer._flat[0]
    layer.double()
    assert layer.weight is weight and layer._flat[0] is flat


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
def test_after_a_conversion_the_parameters_are_views_into_one_flat_array_again(device, bias):
    layer = trained_linear(bias).type(device.types[np.float32])
    params, gradParams = layer.parameters()
    flat, gradFlat = params[0].base, gradParams[0].base
    assert flat is not None and gradFlat is not None
    assert all(p.base is flat for p in params) and all(g.base is gradFlat for g in gradParams)
    assert flat.size == gradFlat.size == sum(p.size for p in params)
    # One update of the flat arrays moves every parameter.
    before = [Device.host(p) for p in params]
    gradFlat.fill(1)
    layer.updateParameters(0.5)
    for param, old in zip(layer.parameters()[0], before):
        np.testing.assert_allclose(Device.host(param), old - 0.5)


def test_a_conversion_flattens_parameters_assigned_by_hand():
    layer = nn.Linear(2, 3, rng=0)
    layer.weight = np.full((3, 2), 0.5)  # the flat layout is gone
    layer.float()
    assert layer.weight.base is layer.bias.base is not None
    np.testing.assert_array_equal(layer.weight, np.full((3, 2), 0.5, np.float32))


def test_a_container_converts_its_children_and_keeps_its_buffers_theirs(device):
    net, criterion = net_and_criterion()
    x = np.random.default_rng(0).standard_normal((7, 6))
    net.forward(x)
    net.backward(x, np.ones((7, 3)))
    assert net.type(device.types[np.float32]) is net
    assert criterion.type(device.types[np.float32]) is criterion
    for module in [net, *net.modules, criterion]:
        assert module.type() == device.types[np.float32]
    for module in net.modules:
        assert isinstance(module.output, device.xp.ndarray) and module.output.dtype == np.float32
    # Arrays shared before the conversion are shared after it (Torch's tensorCache).
    assert net.output is net[-1].output and net.gradInput is net[0].gradInput
    assert isinstance(criterion.gradInput, device.xp.ndarray) and criterion.gradInput.dtype == np.float32
    params, gradParams = net.parameters()
    assert len(params) == 5 and all(p.dtype == np.float32 and isinstance(p, device.xp.ndarray) for p in params)


@pytest.mark.parametrize("module", [nn.Linear(3, 3, rng=0), nn.Sigmoid(), nn.MSECriterion()], ids=repr)
def test_after_a_conversion_the_next_call_refits_the_buffers(module):
    # A module takes arrays of its own type (Torch refuses mixed types): float64 into a
    # module converted to float32 is refused; converted back, the next call of the same
    # shape refits the buffers and gives float64 again.
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    args = (x, x[::-1].copy()) if isinstance(module, nn.MSECriterion) else (x,)
    expected = copy.deepcopy(module.forward(*args))
    expectedGrad = module.backward(*args, *(() if len(args) == 2 else (x,))).copy()
    module.float()
    assert module.gradInput.dtype == np.float32
    with pytest.raises(TypeError, match=r"is float64 but the module is float32 \(torch.FloatTensor\)"):
        module.forward(*args)
    module.double()
    again = module.forward(*args)
    np.testing.assert_allclose(again, expected, rtol=1e-5, atol=1e-7)
    if isinstance(again, np.ndarray):
        assert again.dtype == np.float64
    gradInput = module.backward(*args, *(() if len(args) == 2 else (x,)))
    assert gradInput.dtype == np.float64
    np.testing.assert_allclose(gradInput, expectedGrad, rtol=1e-5, atol=1e-7)


def test_sigmoid_backward_after_a_conversion_needs_a_forward_first():
    # Its gradient is read from the output, which the conversion rounded to float32.
    sigmoid = nn.Sigmoid()
    x = np.linspace(-1, 1, 4)
    sigmoid.forward(x)
    sigmoid.float()
    with pytest.raises(ValueError, match=r"call forward\(input\) first"):
        sigmoid.backward(x.astype(np.float32), x.astype(np.float32))


def test_a_module_converts_the_arrays_it_keeps_in_lists_and_dicts():
    layer = nn.Linear(2, 3, rng=0)
    layer.history = [np.zeros(2)]
    layer.state = {"mask": np.array([True, False]), "momentum": np.ones(3)}
    layer.float()
    assert layer.history[0].dtype == np.float32 and layer.state["momentum"].dtype == np.float32
    assert layer.state["mask"].dtype == np.bool_  # only floating arrays change dtype


# --- The modules on each device -----------------------------------------------------------

@pytest.mark.parametrize("shape", [(6,), (9, 6)], ids=["one sample", "batch of 9"])
def test_a_float32_training_step_is_close_to_the_float64_one(device, shape):
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal(shape), rng.uniform(0, 1, shape[:-1] + (3,))
    net64, criterion64 = net_and_criterion()
    net32, criterion32 = copy.deepcopy(net64), copy.deepcopy(criterion64)
    net64.type(device.types[np.float64])
    criterion64.type(device.types[np.float64])
    net32.type(device.types[np.float32])
    criterion32.type(device.types[np.float32])
    reference = step(*net_and_criterion(), x, t)  # numpy, float64: the CPU's own result

    loss64, gradInput64, params64 = step(net64, criterion64, device.array(x), device.array(t))
    loss32, gradInput32, params32 = step(net32, criterion32, device.array(x, np.float32),
                                         device.array(t, np.float32))
    assert isinstance(loss32, float) and isinstance(loss64, float)
    assert gradInput32.dtype == np.float32 and gradInput64.dtype == np.float64
    assert all(p.dtype == np.float32 for p in params32)
    np.testing.assert_allclose(loss64, reference[0], rtol=1e-12)
    np.testing.assert_allclose(gradInput64, reference[1], rtol=1e-10, atol=1e-14)
    for p64, p in zip(params64, reference[2]):
        np.testing.assert_allclose(p64, p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
    np.testing.assert_allclose(gradInput32, gradInput64, rtol=1e-4, atol=1e-6)
    for p32, p64 in zip(params32, params64):
        np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-6)


def test_every_kernel_runs_on_the_device_and_writes_into_the_buffers_given(device):
    # updateGradInput and accGradParameters separately (Linear.backward inlines them), and scale != 1.
    layer = nn.Linear(3, 2, rng=0).type(device.types[np.float64])
    reference = nn.Linear(3, 2, rng=0)
    x, g = np.random.default_rng(5).standard_normal((4, 3)), np.random.default_rng(6).standard_normal((4, 2))
    for module, xs, gs in ((layer, device.array(x), device.array(g)), (reference, x, g)):
        module.zeroGradParameters()
        module.forward(xs)
        module.updateGradInput(xs, gs)
        module.accGradParameters(xs, gs, 0.25)
    assert isinstance(layer.gradInput, device.xp.ndarray)
    np.testing.assert_allclose(Device.host(layer.gradInput), reference.gradInput, rtol=1e-12)
    np.testing.assert_allclose(Device.host(layer.gradWeight), reference.gradWeight, rtol=1e-12)
    np.testing.assert_allclose(Device.host(layer.gradBias), reference.gradBias, rtol=1e-12)


def test_reset_draws_the_same_values_on_every_device(device):
    layer = nn.Linear(4, 3).type(device.types[np.float64]).reset(rng=7)
    np.testing.assert_array_equal(Device.host(layer.weight), nn.Linear(4, 3, rng=7).weight)


def test_sigmoid_of_very_negative_input_is_zero_without_a_warning(device):
    sigmoid = nn.Sigmoid().type(device.types[np.float64])
    with np.errstate(over="raise"):
        output = sigmoid.forward(device.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(Device.host(output), [0.0, 0.5, 1.0])


# --- Inputs must live where the module lives -------------------------------------------------

def test_a_numpy_input_to_a_cuda_module_is_a_type_error(cuda):
    layer = nn.Linear(2, 3, rng=0).cuda()
    with pytest.raises(TypeError, match=r"^Linear\(2 -> 3\): input must be a cupy array \(the module is on CUDA\), "
                                        r"got numpy\.ndarray: .*\.double\(\)"):
        layer.forward(np.ones(2, np.float32))
    layer.forward(cuda.array([1.0, 2.0], np.float32))
    with pytest.raises(TypeError, match="gradOutput must be a cupy array"):
        layer.backward(cuda.array([1.0, 2.0], np.float32), np.ones(3, np.float32))
    for module in (nn.Sigmoid().cuda(), nn.ReLU().cuda()):
        with pytest.raises(TypeError, match="input must be a cupy array"):
            module.forward(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="target must be a cupy array"):
        nn.MSECriterion().cuda().forward(cuda.array([1.0], np.float32), np.ones(1, np.float32))


def test_a_cupy_input_to_a_numpy_module_is_a_type_error(cuda):
    with pytest.raises(TypeError, match=r"^Linear\(2 -> 3\): input must be a numpy array, got cupy\.ndarray: "
                                        r"move the module to it with \.cuda\(\)"):
        nn.Linear(2, 3, rng=0).forward(cuda.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"Sequential module \(2\): Tanh: input must be a numpy array"):
        nn.Sequential().add(nn.Linear(2, 3).cuda()).add(nn.Tanh()).forward(cuda.array([1.0, 2.0], np.float32))


def test_on_cuda_a_linear_input_must_have_the_parameters_dtype(cuda):
    layer = nn.Linear(2, 3, rng=0).cuda()
    with pytest.raises(TypeError, match=r"input is float64 but the module is float32 \(torch.CudaTensor\)"):
        layer.forward(cuda.array([1.0, 2.0]))
    x = cuda.array([1.0, 2.0], np.float32)
    layer.forward(x)
    with pytest.raises(TypeError, match=r"gradOutput is float64 but the module is float32 \(torch.CudaTensor\)"):
        layer.backward(x, cuda.array([1.0, 2.0, 3.0]))


def test_a_numpy_module_refuses_an_array_of_another_library_without_importing_it(monkeypatch):
    # A stand-in for CuPy in sys.modules: the dispatch looks arrays up there and imports nothing.
    fake = types.ModuleType("cupy")

    class ndarray:  # noqa: N801 - CuPy's class name
        __module__ = "cupy"
        shape, dtype, ndim = (2,), np.dtype(np.float64), 1

    fake.ndarray = ndarray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert namespace(ndarray()) is fake and namespace(np.ones(2)) is np
    message = (r"^Linear\(2 -> 3\): input must be a numpy array, got cupy\.ndarray: "
               r"move the module to it with \.cuda\(\), or the array to the CPU with \.get\(\)$")
    with pytest.raises(TypeError, match=message):
        nn.Linear(2, 3, rng=0).forward(ndarray())


# --- Bad types, and no CuPy ------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["float32", "torch.IntTensor", "torch.CudaHalfTensor", np.int64, np.float16,
                                 np.dtype("complex128"), float, 3])
def test_other_types_are_a_value_error_and_leave_the_module_as_it_was(bad):
    layer = nn.Linear(2, 3, rng=0)
    weight = layer.weight
    with pytest.raises(ValueError, match=r"^type: expected one of 'torch.DoubleTensor', 'torch.FloatTensor', "
                                         r"'torch.CudaTensor', 'torch.CudaDoubleTensor' or numpy.float32/float64, "
                                         r"got .+$"):
        layer.type(bad)
    assert layer.weight is weight and layer.type() == "torch.DoubleTensor"
    with pytest.raises(ValueError, match="^type: expected"):
        nn.MSECriterion().type(bad)


@pytest.mark.parametrize("convert", [
    lambda m: m.cuda(), lambda m: m.type("torch.CudaTensor"), lambda m: m.type("torch.CudaDoubleTensor"),
    lambda m: m.type("torch.cuda.FloatTensor")], ids=["cuda()", "CudaTensor", "CudaDoubleTensor", "cuda.FloatTensor"])
def test_without_cupy_cuda_is_a_one_line_error_naming_the_extra(monkeypatch, convert):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now raises ImportError
    net, criterion = net_and_criterion()
    weight = net[0].weight
    for module in (net, criterion):
        with pytest.raises(CudaUnavailableError, match=r"^cuda\(\) needs CuPy, .*: pip install 'derive\[cuda\]'$"):
            convert(module)
    assert net[0].weight is weight and net.type() == "torch.DoubleTensor"
    assert issubclass(CudaUnavailableError, RuntimeError) and nn.CudaUnavailableError is CudaUnavailableError


def test_without_a_gpu_cuda_is_a_one_line_error(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(CudaUnavailableError, match=r"^cuda\(\) needs a CUDA GPU, and CuPy sees none "
                                                   r"\(cudaErrorNoDevice: .*\); .*pip install 'derive\[cuda\]'$"):
        nn.Linear(2, 3).cuda()
    fake.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(CudaUnavailableError, match="CuPy sees none"):
        nn.ReLU().cuda()


def test_derive_nn_imports_and_runs_without_importing_cupy():
    code = ("import numpy as np, sys, derive.nn as nn\n"
            "layer = nn.Linear(2, 3).float()\n"
            "layer.backward(np.ones(2, np.float32), np.ones(3, np.float32))\n"
            "print('cupy' in sys.modules, 'sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


GENERATED = [
    ("y = tanh(W @ x + b)", {"x": (4,), "W": (3, 4)}, {}),
    ("y = exp(x) / sum(exp(x))", {"x": (5,)}, {}),
    ("y[c,t] = sum(W[c,d,q] * x[d,t+q-1], d, q) + b[c]", {"x": (2, 6), "W": (3, 2, 3)}, {}),
    ("J = -sum(t * (x - log(sum(exp(x)))))", {"x": (4,)}, {"target": "t"}),
]


@pytest.mark.parametrize("case", GENERATED, ids=[c[0] for c in GENERATED])
def test_generated_modules_run_on_the_device_in_both_types(case, device, tmp_path):
    """A module `derive layer --module` writes converts like the shipped ones and runs on its device."""
    import derive
    from derive.nn.check import load_class

    text, shapes, kwargs = case
    path = tmp_path / "layer.py"
    path.write_text(derive.module_source(text, shapes, **kwargs))
    Layer = load_class(path, "Layer")
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (3,) + Layer.inputShape)
    reference = Layer(rng=1)
    results = {}
    for dtype in (np.float64, np.float32):
        module = Layer(rng=1).type(device.types[dtype])
        xd = device.array(x, dtype)
        if kwargs.get("target"):
            t = device.array(np.eye(x.shape[-1])[[0, 1, 2]], dtype)
            loss = module.forward(xd, t)
            results[dtype] = (np.array([float(loss)]), device.host(module.backward(xd, t)))
        else:
            y = module.forward(xd)
            g = device.array(np.ones(y.shape), dtype)
            gi = module.backward(xd, g)
            assert gi.__class__ is device.xp.ndarray and gi.dtype == dtype
            results[dtype] = (device.host(y), device.host(gi))
        if device.name == "cpu" and not kwargs.get("target"):
            with pytest.raises(TypeError):  # an input of the wrong library is refused
                module.forward(types.SimpleNamespace(shape=x.shape))
    for a, b in zip(results[np.float64], results[np.float32]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    if getattr(reference, "parameters", None) and reference.parameters():  # a criterion has none
        converted = Layer(rng=1).float().double()
        for p, q in zip(converted.parameters()[0], reference.parameters()[0]):
            assert p.dtype == np.float64
            np.testing.assert_allclose(p, q, rtol=1e-7)


# --- SpatialConvolution, BatchNormalization and the classification modules on each device ---

def conv_and_batchnorm():
    """SpatialConvolution(2 -> 3, 3x3, pad 1) and BatchNormalization(4) after one backward each."""
    rng = np.random.default_rng(8)
    conv = nn.SpatialConvolution(2, 3, 3, 3, padW=1, rng=2)
    x, g = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 3, 5, 4))
    conv.forward(x)
    conv.backward(x, g)
    bn = nn.BatchNormalization(4)
    x, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    bn.forward(x)
    bn.backward(x, g)
    return conv, bn


@pytest.mark.parametrize("which", [0, 1], ids=["SpatialConvolution", "BatchNormalization"])
def test_conv_and_batchnorm_round_trip_through_float32(device, which):
    layer = conv_and_batchnorm()[which]
    arrays = lambda: layer.parameters()[0] + layer.parameters()[1]  # noqa: E731
    before = [a.copy() for a in arrays()]
    assert layer.type(device.types[np.float32]) is layer and layer.type() == device.types[np.float32]
    assert all(isinstance(a, device.xp.ndarray) and a.dtype == np.float32
               for a in arrays() + [layer.output, layer.gradInput])
    if which == 1:
        assert all(isinstance(a, device.xp.ndarray) and a.dtype == np.float32
                   for a in (layer.running_mean, layer.running_var, layer.save_mean, layer.save_invstd))
    assert layer.type(device.types[np.float64]) is layer
    for array, original in zip(arrays(), before):
        assert isinstance(array, device.xp.ndarray) and array.dtype == np.float64
        np.testing.assert_array_equal(Device.host(array), original.astype(np.float32).astype(np.float64))
    layer.type(device.types[np.float64])
    flat = layer.parameters()[0][0].base
    assert flat is not None and all(p.base is flat for p in layer.parameters()[0])


@pytest.mark.parametrize("which", [0, 1], ids=["SpatialConvolution", "BatchNormalization"])
def test_conv_and_batchnorm_float64_round_trip_through_the_device_is_exact(device, which):
    layer = conv_and_batchnorm()[which]
    before = [a.copy() for a in layer.parameters()[0] + layer.parameters()[1]]
    layer.type(device.types[np.float64]).double()
    for array, original in zip(layer.parameters()[0] + layer.parameters()[1], before):
        np.testing.assert_array_equal(array, original)


def module_step(module, x, g, learningRate=0.1):
    """forward, backward (separate updateGradInput and accGradParameters, scale 0.5), an update:
    output, gradInput and the parameters after it, as numpy arrays."""
    module.zeroGradParameters()
    output = Device.host(module.forward(x))
    gradInput = Device.host(module.updateGradInput(x, g))
    module.accGradParameters(x, g, 0.5)
    module.updateParameters(learningRate)
    parameters = module.parameters()  # None without parameters (affine=False)
    return output, gradInput, [Device.host(p) for p in (parameters[0] if parameters else [])]


@pytest.mark.parametrize("make, xShape, gShape", [
    (lambda: nn.SpatialConvolution(2, 3, 3, 2, dW=2, padW=1, rng=3), (4, 2, 6, 5), (4, 3, 7, 3)),
    (lambda: nn.SpatialConvolution(2, 3, 3, 3, rng=3), (2, 6, 5), (3, 4, 3)),
    (lambda: nn.BatchNormalization(5, rng=3), (7, 5), (7, 5)),  # gamma drawn as Torch7: the same draw each
    (lambda: nn.BatchNormalization(5, affine=False), (7, 5), (7, 5)),
], ids=["conv batch", "conv one sample", "batchnorm", "batchnorm no affine"])
def test_conv_and_batchnorm_float32_step_is_close_to_float64(device, make, xShape, gShape):
    rng = np.random.default_rng(9)
    x, g = rng.standard_normal(xShape), rng.standard_normal(gShape)
    reference = module_step(make(), x, g)  # numpy, float64
    module64, module32 = make().type(device.types[np.float64]), make().type(device.types[np.float32])
    result64 = module_step(module64, device.array(x), device.array(g))
    result32 = module_step(module32, device.array(x, np.float32), device.array(g, np.float32))
    assert isinstance(module32.output, device.xp.ndarray) and module32.gradInput.dtype == np.float32
    for a64, ref in zip(result64[:2], reference[:2]):
        np.testing.assert_allclose(a64, ref, rtol=1e-10, atol=1e-12)
    for p64, ref in zip(result64[2], reference[2]):
        np.testing.assert_allclose(p64, ref, rtol=1e-10, atol=1e-12)
    for a32, a64 in zip(result32[:2], result64[:2]):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-5)
    for p32, p64 in zip(result32[2], result64[2]):
        np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-5)
    if isinstance(module64, nn.BatchNormalization):  # the running statistics, and evaluation with them
        np.testing.assert_allclose(Device.host(module32.running_var), Device.host(module64.running_var), rtol=1e-5)
        module32.evaluate(), module64.evaluate()
        outputs = [Device.host(m.forward(device.array(x, dt))) for m, dt in ((module32, np.float32),
                                                                              (module64, np.float64))]
        np.testing.assert_allclose(*outputs, rtol=1e-4, atol=1e-5)
        gradInputs = [Device.host(m.backward(device.array(x, dt), device.array(g, dt)))
                      for m, dt in ((module32, np.float32), (module64, np.float64))]
        np.testing.assert_allclose(*gradInputs, rtol=1e-4, atol=1e-5)


def test_conv_reset_draws_the_same_values_on_every_device(device):
    layer = nn.SpatialConvolution(2, 3, 3, 3).type(device.types[np.float64]).reset(rng=7)
    expected = nn.SpatialConvolution(2, 3, 3, 3, rng=7)
    np.testing.assert_array_equal(Device.host(layer.weight), expected.weight)
    np.testing.assert_array_equal(Device.host(layer.bias), expected.bias)
    assert layer.weight.base is layer.bias.base is not None


@pytest.mark.parametrize("Criterion", [nn.ClassNLLCriterion, nn.CrossEntropyCriterion], ids=repr)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_a_classifier_float32_step_is_close_to_float64(device, Criterion, weighted):
    """A training step of Linear + LogSoftMax + ClassNLLCriterion, or Linear + CrossEntropyCriterion,
    on the device; and one sample with an int target."""
    rng = np.random.default_rng(10)
    x, t = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
    weights = np.array([1.0, 0.5, 2.0, 1.5]) if weighted else None

    def make():
        net = nn.Sequential().add(nn.Linear(6, 4, rng=1))
        if Criterion is nn.ClassNLLCriterion:
            net.add(nn.LogSoftMax())
        return net, Criterion(weights)

    reference = step(*make(), x, t)
    results = {}
    for dtype in (np.float64, np.float32):
        net, criterion = make()
        net.type(device.types[dtype])
        criterion.type(device.types[dtype])
        assert criterion.weights is None or isinstance(criterion.weights, device.xp.ndarray)
        results[dtype] = step(net, criterion, device.array(x, dtype), device.xp.asarray(t))
        assert results[dtype][1].dtype == dtype
        # One sample: its target is an int.
        loss = criterion.forward(net.forward(device.array(x[0], dtype)), int(t[0]))
        assert isinstance(loss, float)
    np.testing.assert_allclose(results[np.float64][0], reference[0], rtol=1e-12)
    np.testing.assert_allclose(results[np.float64][1], reference[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(results[np.float32][0], results[np.float64][0], rtol=1e-5)
    np.testing.assert_allclose(results[np.float32][1], results[np.float64][1], rtol=1e-4, atol=1e-6)
    for p32, p64 in zip(results[np.float32][2], results[np.float64][2]):
        np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-6)


def test_softmax_float32_is_close_to_float64_on_the_device(device):
    rng = np.random.default_rng(11)
    x, g = rng.standard_normal((5, 7)) * 30, rng.standard_normal((5, 7))
    results = {}
    for dtype in (np.float64, np.float32):
        module = nn.SoftMax().type(device.types[dtype])
        y = module.forward(device.array(x, dtype))
        gi = module.backward(device.array(x, dtype), device.array(g, dtype))
        assert y.__class__ is device.xp.ndarray and gi.dtype == dtype
        results[dtype] = Device.host(y), Device.host(gi)
    reference = nn.SoftMax()
    np.testing.assert_allclose(results[np.float64][0], reference.forward(x), rtol=1e-12)
    np.testing.assert_allclose(results[np.float64][1], reference.backward(x, g), rtol=1e-10, atol=1e-14)
    for a32, a64 in zip(results[np.float32], results[np.float64]):
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-6)


def _fake_cupy_array(monkeypatch, shape, dtype=np.float64):
    """An array of a stand-in for CuPy in sys.modules (the dispatch looks arrays up there, imports nothing)."""
    fake = types.ModuleType("cupy")

    class ndarray:  # noqa: N801 - CuPy's class name
        __module__ = "cupy"

    ndarray.shape, ndarray.dtype, ndarray.ndim, ndarray.size = shape, np.dtype(dtype), len(shape), int(np.prod(shape))
    fake.ndarray = ndarray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return ndarray()


WRONG_LIBRARY = [
    ("SpatialConvolution", lambda: nn.SpatialConvolution(2, 3, 3, 3, rng=0), (1, 2, 4, 4), (1, 3, 2, 2)),
    ("BatchNormalization", lambda: nn.BatchNormalization(3), (4, 3), (4, 3)),
    ("SoftMax", nn.SoftMax, (2, 3), (2, 3)),
    ("LogSoftMax", nn.LogSoftMax, (2, 3), (2, 3)),
]


@pytest.mark.parametrize("name, make, xShape, gShape", WRONG_LIBRARY, ids=[w[0] for w in WRONG_LIBRARY])
def test_a_numpy_conv_batchnorm_or_softmax_refuses_another_librarys_arrays(monkeypatch, name, make, xShape, gShape):
    module = make()
    x = np.random.default_rng(0).standard_normal(xShape)
    module.forward(x)  # the fast path now expects this shape: the class must still be checked
    other = _fake_cupy_array(monkeypatch, xShape)
    with pytest.raises(TypeError, match=rf"^{name}.*: input must be a numpy array, got cupy\.ndarray: "
                                        r"move the module to it with \.cuda\(\)"):
        module.forward(other)
    otherGrad = _fake_cupy_array(monkeypatch, gShape)
    with pytest.raises(TypeError, match=rf"^{name}.*: gradOutput must be a numpy array, got cupy\.ndarray"):
        module.backward(x, otherGrad)


@pytest.mark.parametrize("Criterion", [nn.ClassNLLCriterion, nn.CrossEntropyCriterion], ids=repr)
def test_a_numpy_classification_criterion_refuses_another_librarys_arrays(monkeypatch, Criterion):
    criterion = Criterion()
    x, t = np.zeros((2, 3)), np.array([0, 2])
    criterion.forward(x, t)
    other = _fake_cupy_array(monkeypatch, (2, 3))
    with pytest.raises(TypeError, match=rf"^{Criterion.__name__}: input must be a numpy array, got cupy\.ndarray"):
        criterion.forward(other, t)
    otherTarget = _fake_cupy_array(monkeypatch, (2,), np.int64)
    with pytest.raises(TypeError, match=rf"^{Criterion.__name__}: target must be a numpy array, got cupy\.ndarray"):
        criterion.forward(x, otherTarget)


def test_numpy_input_to_cuda_conv_batchnorm_or_classifiers_is_a_type_error(cuda):
    for make, xShape in ((lambda: nn.SpatialConvolution(2, 3, 3, 3, rng=0), (2, 4, 4)),
                         (lambda: nn.BatchNormalization(3), (4, 3)), (nn.SoftMax, (2, 3)), (nn.LogSoftMax, (2, 3))):
        module = make().cuda()
        with pytest.raises(TypeError, match=r"input must be a cupy array \(the module is on CUDA\)"):
            module.forward(np.ones(xShape, np.float32))
        x = cuda.array(np.random.default_rng(0).standard_normal(xShape), np.float32)
        y = module.forward(x)
        with pytest.raises(TypeError, match="gradOutput must be a cupy array"):
            module.backward(x, np.ones(y.shape, np.float32))
    for Criterion in (nn.ClassNLLCriterion, nn.CrossEntropyCriterion):
        with pytest.raises(TypeError, match="target must be a cupy array"):
            Criterion().cuda().forward(cuda.array(np.zeros((2, 3)), np.float32), np.array([0, 1]))


def test_on_cuda_conv_and_batchnorm_input_must_have_the_modules_dtype(cuda):
    for module, xShape in ((nn.SpatialConvolution(2, 3, 3, 3, rng=0).cuda(), (2, 4, 4)),
                           (nn.BatchNormalization(3).cuda(), (4, 3))):
        with pytest.raises(TypeError, match=r"input is float64 but the module is float32 \(torch.CudaTensor\)"):
            module.forward(cuda.array(np.random.default_rng(0).standard_normal(xShape)))
        x = cuda.array(np.random.default_rng(0).standard_normal(xShape), np.float32)
        y = module.forward(x)
        with pytest.raises(TypeError, match=r"gradOutput is float64 but the module is float32 \(torch.CudaTensor\)"):  # after a call of this shape too
            module.backward(x, cuda.array(np.ones(y.shape)))

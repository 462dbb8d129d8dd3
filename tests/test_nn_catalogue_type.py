"""Every class generated from the catalogue, converted with Torch7's type(): on the CPU in float32
(against the float64 module: the same results to float32's precision) and, where CuPy sees a CUDA
GPU, on CUDA in float64 (against numpy: the same results to rounding) and float32.

One batch of three samples: the output, gradInput and every parameter's gradient after a backward.
The CUDA runs are skipped without a GPU (failed under DERIVE_REQUIRE_CUDA=1, as bench/gpu_check.py
runs them).
"""

from __future__ import annotations

import numpy as np
import pytest

import derive.nn as nn
from derive.catalogue import lookup
from derive.catalogue_codegen import check_cases
from derive.nn import _catalogue
from derive.nn.catalogued import CatalogueModule, CatalogueTable, CatalogueTableLoss
from test_nn_type import Device, cuda_device

CASES = check_cases()
BATCH = 3


@pytest.fixture(params=["cpu float32", "cuda float64", "cuda float32"])
def device_type(request) -> tuple[Device, type]:
    place, precision = request.param.split()
    device = Device("cpu") if place == "cpu" else cuda_device()
    return device, np.float32 if precision == "float32" else np.float64


def _fields(factory) -> dict:
    """What check_cases' wrapper (derive.catalogue_codegen._Checked) says of the input and targets."""
    cls = factory.func
    names = ("low", "high", "targets", "table", "integers")
    return {k: getattr(cls, k) for k in names if hasattr(cls, k)}


def _draw(name: str, rng: np.random.Generator):
    """(constructor, input, target or None) for one batch of the entry's example."""
    label, factory, shape, extra = CASES[name][0]
    entry, cls = lookup(name), getattr(nn, name)
    fields = _fields(factory)
    low, high = fields.get("low", -2.0), fields.get("high", 2.0)

    def real(s):  # a batch of BATCH samples, or (batch=0) the sample is a batch already (BatchNormalization)
        return rng.uniform(low, high, ((BATCH,) if extra.get("batch", 1) else ()) + tuple(s))

    if issubclass(cls, CatalogueTableLoss):  # a program ending in a loss: its input is a whole batch
        input = rng.uniform(low, high, shape)
        return (lambda: cls(*entry.example, rng=0)), input, factory()._fixedTarget(input)
    if fields.get("integers"):
        input = rng.integers(0, fields["integers"], (BATCH,) + tuple(shape))
    elif fields.get("table"):
        input = [real(s) for s in fields["table"]]
    else:
        input = real(shape)
    target = None
    if entry.criterion:
        kind = extra.get("target_kind", "real")
        first = input[0] if isinstance(input, list) else input
        target_shape = extra.get("target_shape", first.shape[1:])
        size = (BATCH,) + tuple(target_shape)
        if kind == "class":
            classes = first.shape[-1]
            target = (rng.permuted(np.tile(np.arange(classes), (BATCH, 1)), axis=1)[:, :target_shape[0]]
                      if target_shape else rng.integers(0, classes, size))
        elif kind == "binary":
            target = rng.integers(0, 2, size).astype(float)
        elif fields.get("targets") == "probability":
            target = rng.uniform(0.05, 0.95, size)
        elif fields.get("targets") == "sign":
            target = np.where(rng.uniform(-1, 1, size) > 0, 1.0, -1.0)
        else:
            target = rng.uniform(-2, 2, size)
    make = (lambda: cls(*entry.example, rng=0)) if getattr(cls, "parameterShapes", ()) else (lambda: cls(*entry.example))
    return make, input, target


def _host(value) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _host(v)]
    if isinstance(value, float):
        return [np.array(value)]
    return [Device.host(value).astype(np.float64)]


def _to(device: Device, value, dtype):
    if value is None:
        return None
    if isinstance(value, list):
        return [_to(device, v, dtype) for v in value]
    if np.issubdtype(value.dtype, np.integer):
        return device.xp.asarray(value)
    return device.array(value, dtype)


def _run(module, input, target, gradOutput=None):
    """(output, gradInput, parameter gradients) after one forward and backward."""
    if target is not None:
        output = module.forward(input, target)
        gradInput = module.backward(input, target)
    else:
        output = module.forward(input)
        gradInput = module.backward(input, gradOutput(output))
    gradients = module.parameters()[1] if hasattr(module, "parameters") and module.parameters() else []
    return _host(output), _host(gradInput), _host(gradients)


@pytest.mark.parametrize("name", _catalogue.__all__)
def test_a_converted_class_computes_what_the_float64_one_does(name, device_type):
    device, dtype = device_type
    rng = np.random.default_rng(0)
    make, input, target = _draw(name, rng)
    gradOutputs = {}

    def gradOutput(output, xp=np, cast=lambda a: a):
        # one gradOutput per output shape, drawn once, so that both modules get the same
        key = tuple(np.shape(o) for o in _host(output))
        if key not in gradOutputs:
            gradOutputs[key] = [rng.uniform(-1, 1, s) for s in key]
        drawn = [cast(g) for g in gradOutputs[key]]
        return drawn if isinstance(output, (list, tuple)) else drawn[0]

    expected = _run(make(), input, target, gradOutput)
    converted = make().type(device.types[dtype])
    got = _run(converted, _to(device, input, dtype), _to(device, target, dtype),
               lambda output: gradOutput(output, cast=lambda a: device.array(a, dtype)))
    tolerance = 1e-10 if dtype is np.float64 else 2e-3
    for what, want, have in zip(("output", "gradInput", "the parameters' gradients"), expected, got):
        assert len(want) == len(have), what
        for w, h in zip(want, have):
            assert w.shape == h.shape, what
            scale = 1.0 + float(np.max(np.abs(w), initial=0.0))
            assert float(np.max(np.abs(w - h), initial=0.0)) <= tolerance * scale, f"{name}: {what}"


MODULES = [n for n in _catalogue.__all__ if issubclass(getattr(nn, n), CatalogueModule)
           and not issubclass(getattr(nn, n), CatalogueTable) and not lookup(n).criterion]


@pytest.mark.parametrize("name", MODULES)
def test_a_gradOutput_of_another_dtype_is_refused_in_one_line(name):
    """As its input: Torch refuses mixed types, and nothing is converted silently."""
    make, input, _ = _draw(name, np.random.default_rng(0))
    module = make().float()
    x = input.astype(np.float32) if input.dtype.kind == "f" else input
    y = module.forward(x)
    with pytest.raises(TypeError, match=rf"^{name}\b.*: gradOutput is float64 but the module is float32"):
        module.backward(x, np.ones(y.shape))
    with pytest.raises(TypeError, match=rf"^{name}\b.*: gradOutput must hold floats, got dtype int64"):
        module.backward(x, np.ones(y.shape, dtype=np.int64))

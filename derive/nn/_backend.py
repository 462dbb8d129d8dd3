"""Where arrays live: numpy (the CPU) or CuPy (a CUDA GPU).

The generated kernels take their array module from their arguments
(``xp = np if input.__class__ is ndarray else namespace(input)``), so one source
serves both. CuPy is optional (the ``derive[cuda]`` extra) and is imported only by
``cuda()``: a CuPy array can only exist once CuPy is imported, so ``namespace``
looks it up in ``sys.modules`` and never imports it itself.
"""

from __future__ import annotations

import sys

import numpy as np

ndarray = np.ndarray

#: Torch's tensor type names (Torch7's, and cutorch's CudaDoubleTensor) ->
#: (on the GPU?, dtype). PyTorch's spellings of the CUDA types are accepted too.
TYPES = {
    "torch.DoubleTensor": (False, np.dtype(np.float64)),
    "torch.FloatTensor": (False, np.dtype(np.float32)),
    "torch.CudaTensor": (True, np.dtype(np.float32)),
    "torch.CudaDoubleTensor": (True, np.dtype(np.float64)),
}
_ALIASES = {"torch.cuda.FloatTensor": "torch.CudaTensor", "torch.cuda.DoubleTensor": "torch.CudaDoubleTensor"}
#: numpy dtypes -> the name of the CPU type that holds them.
_DTYPE_NAMES = {np.dtype(np.float64): "torch.DoubleTensor", np.dtype(np.float32): "torch.FloatTensor"}


class CudaUnavailableError(RuntimeError):
    """``cuda()`` was called but CuPy is not installed, or it sees no CUDA GPU; the message
    (one line) says which, and what to install."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def namespace(array, *others):
    """The array module of the arrays given: numpy, or cupy for CuPy arrays (the first array decides).

    A kernel mixing the two fails in the library's own call; the modules refuse such
    inputs before (see Module).
    """
    if array.__class__ is ndarray:  # the hot path: one comparison
        return np
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


def is_array(value) -> bool:
    """True for a numpy or a CuPy array."""
    if isinstance(value, ndarray):
        return True
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(value, cupy.ndarray)


def cuda_namespace():
    """The cupy module, checked to see a CUDA GPU; else CudaUnavailableError saying what to install."""
    try:
        import cupy
    except ImportError as error:
        raise CudaUnavailableError(
            f"cuda() needs CuPy, which failed to import ({error}): pip install 'derive[cuda]'") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy's CUDARuntimeError when there is no driver or no device
        raise CudaUnavailableError(f"cuda() needs a CUDA GPU, and CuPy sees none ({error}); "
                                   "CuPy comes with pip install 'derive[cuda]'") from None
    if count < 1:
        raise CudaUnavailableError(
            "cuda() needs a CUDA GPU, and CuPy sees none; CuPy comes with pip install 'derive[cuda]'")
    return cupy


def resolve_type(tensorType) -> tuple[str, object, np.dtype]:
    """(Torch's name, array module, dtype) for a Torch tensor type name or a numpy float dtype.

    'torch.DoubleTensor' and 'torch.FloatTensor' (or numpy.float64 and numpy.float32)
    are numpy arrays; 'torch.CudaTensor' (float32, as Torch7's) and
    'torch.CudaDoubleTensor' are CuPy arrays on the current CUDA device.
    """
    if isinstance(tensorType, str) and _ALIASES.get(tensorType, tensorType) in TYPES:
        name = _ALIASES.get(tensorType, tensorType)
        onGPU, dtype = TYPES[name]
        return name, cuda_namespace() if onGPU else np, dtype
    # A numpy dtype, or a numpy scalar type such as numpy.float32 (not a string, not None:
    # np.dtype would read those as dtype names and float64).
    if isinstance(tensorType, np.dtype) or isinstance(tensorType, type) and issubclass(tensorType, np.generic):
        dtype = np.dtype(tensorType)
        if dtype in _DTYPE_NAMES:
            return _DTYPE_NAMES[dtype], np, dtype
    raise ValueError(f"type: expected one of {', '.join(map(repr, TYPES))} or numpy.float32/float64, "
                     f"got {tensorType!r}")


def converted(array, xp, dtype: np.dtype, tensorCache: dict):
    """``array`` as an array of ``xp`` (numpy or cupy), of ``dtype`` if it holds floats (else its own dtype).

    The array itself when it already is one; else a new array, the same one for every
    array seen before under ``tensorCache`` (so arrays shared before are shared after).
    """
    if not np.issubdtype(array.dtype, np.floating):
        dtype = array.dtype
    if isinstance(array, xp.ndarray) and array.dtype == dtype:
        return array
    key = id(array)
    if key in tensorCache:
        return tensorCache[key][1]
    if xp is np:
        result = array.astype(dtype) if isinstance(array, ndarray) else array.get().astype(dtype, copy=False)
    else:
        result = xp.asarray(array, dtype=dtype)
    tensorCache[key] = (array, result)  # the original is kept alive so that its id is not reused
    return result

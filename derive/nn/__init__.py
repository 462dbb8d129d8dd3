"""Torch7-style neural-network modules on numpy (never imports sympy)."""

from .linear import Linear
from .module import Module

__all__ = ["Module", "Linear"]

from .activation import ReLU, Sigmoid, Tanh
from .container import Sequential
from .criterion import Criterion, MSECriterion

__all__ += ["Sigmoid", "Tanh", "ReLU", "Sequential", "Criterion", "MSECriterion"]

from .check import CheckReport, check

__all__ += ["check", "CheckReport"]

from ._backend import CudaUnavailableError

__all__ += ["CudaUnavailableError"]

from .batchnorm import BatchNormalization
from .convolution import SpatialConvolution

__all__ += ["BatchNormalization", "SpatialConvolution"]
from .classification import ClassNLLCriterion, CrossEntropyCriterion, LogSoftMax, SoftMax

__all__ += ["SoftMax", "LogSoftMax", "ClassNLLCriterion", "CrossEntropyCriterion"]

from .bookkeeping import Dropout, Identity, Reshape, SpatialDropout, View

__all__ += ["Identity", "View", "Reshape", "Dropout", "SpatialDropout"]

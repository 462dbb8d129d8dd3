"""The symbolic layer: layer specs, matrix-form derivations and their proved element-wise steps."""

from .activation import ACTIVATIONS, ActivationSpec, activation
from .convolution import CONVOLUTION, convolution
from .criterion import MSESpec, mse
from .derivation import Derivation, ProofError, Result, Section, Step
from .linear import LinearSpec, linear, linear_example
from .sequential import sequential

__all__ = ["ACTIVATIONS", "ActivationSpec", "Derivation", "LinearSpec", "MSESpec", "ProofError",
           "Result", "Section", "Step", "activation", "linear", "linear_example", "mse",
           "sequential"]
__all__ += ["CONVOLUTION", "convolution"]

from .classification import CLASSIFICATION_SPECS, classification

__all__ += ["CLASSIFICATION_SPECS", "classification"]

"""The symbolic layer: the engine (a layer as one expression, derived and proved at the index
level), Torch's modules as specs on it, and their derivations."""

from .classification import CLASSIFICATION_SPECS, classification
from .convolution import CONVOLUTION, convolution
from .derivation import Derivation, ProofError, Result, Section, Step
from .example import worked_example
from .specs import ACTIVATION_SPECS, activation, linear, mse, sequential

__all__ = ["ACTIVATION_SPECS", "CLASSIFICATION_SPECS", "CONVOLUTION", "Derivation", "ProofError", "Result",
           "Section", "Step", "activation", "classification", "convolution", "linear", "mse", "sequential",
           "worked_example"]

"""The symbolic layer: layer specs, matrix-form derivations and their proved element-wise steps."""

from .derivation import Derivation, ProofError, Result, Section, Step
from .linear import LinearSpec, linear, linear_example

__all__ = ["Derivation", "LinearSpec", "ProofError", "Result", "Section", "Step", "linear",
           "linear_example"]

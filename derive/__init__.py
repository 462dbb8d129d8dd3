"""derive: see, check and use the gradients of neural-network layers."""

__version__ = "0.1.0"

# PROVISIONAL: hand-written stand-in until derive compile generates these kernels
"""Numpy kernels of nn.Sigmoid, nn.Tanh, nn.ReLU and nn.MSECriterion.

Each kernel writes into the preallocated array it is given (ufunc ``out=``, no
temporaries) and returns it; the same kernel serves one sample and a batch, as
the formulas are element by element. Notation: x input, y output, g = dJ/dy,
t target, n = input.size (every element of the batch).
"""

import numpy as np


def sigmoid_update_output(input, output):
    """output = 1 / (1 + exp(-x))"""
    np.negative(input, out=output)
    # exp(-x) overflows to inf for x < -709 (float64): 1 / (1 + inf) = 0 is the right limit.
    with np.errstate(over="ignore"):
        np.exp(output, out=output)
    np.add(output, 1, out=output)
    np.reciprocal(output, out=output)
    return output


def sigmoid_update_grad_input(output, grad_output, grad_input):
    """gradInput = g * y * (1 - y)"""
    np.subtract(1, output, out=grad_input)
    np.multiply(grad_input, output, out=grad_input)
    np.multiply(grad_input, grad_output, out=grad_input)
    return grad_input


def tanh_update_output(input, output):
    """output = tanh(x)"""
    np.tanh(input, out=output)
    return output


def tanh_update_grad_input(output, grad_output, grad_input):
    """gradInput = g * (1 - y**2)"""
    np.square(output, out=grad_input)
    np.subtract(1, grad_input, out=grad_input)
    np.multiply(grad_input, grad_output, out=grad_input)
    return grad_input


def relu_update_output(input, output):
    """output = max(x, 0)"""
    np.maximum(input, 0, out=output)
    return output


def relu_update_grad_input(input, grad_output, grad_input):
    """gradInput = g * (x > 0)   (0 at x == 0, as Torch's threshold)"""
    np.greater(input, 0, out=grad_input)
    np.multiply(grad_input, grad_output, out=grad_input)
    return grad_input


def mse_update_output(input, target, size_average):
    """output = sum((x - t)**2), divided by n if size_average"""
    diff = np.subtract(input, target)  # the one temporary: there is no buffer to write it into
    diff = diff.reshape(-1)
    total = float(np.dot(diff, diff))
    return total / input.size if size_average else total


def mse_update_grad_input(input, target, size_average, grad_input):
    """gradInput = 2 (x - t), divided by n if size_average"""
    np.subtract(input, target, out=grad_input)
    np.multiply(grad_input, 2 / input.size if size_average else 2, out=grad_input)
    return grad_input

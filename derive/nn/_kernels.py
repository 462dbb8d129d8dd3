# PROVISIONAL: hand-written stand-in until derive compile generates this file
"""Numpy kernels of nn.Linear: y = W x + b, and its batch form Y = X W^T + 1 b^T.

Each kernel writes into the preallocated array it is given and returns it.
Notation: x input (in,), X input (batch, in), W weight (out, in), b bias (out,),
g = dJ/dy (out,), G = dJ/dY (batch, out). The layer without bias uses the same
gradInput and gradWeight kernels.
"""

import numpy as np


def linear_update_output(input, weight, bias, output):
    """output = W x + b"""
    np.matmul(weight, input, out=output)
    output += bias
    return output


def linear_update_output_batch(input, weight, bias, output):
    """output = X W^T + 1 b^T"""
    np.matmul(input, weight.T, out=output)
    output += bias
    return output


def linear_nobias_update_output(input, weight, output):
    """output = W x"""
    np.matmul(weight, input, out=output)
    return output


def linear_nobias_update_output_batch(input, weight, output):
    """output = X W^T"""
    np.matmul(input, weight.T, out=output)
    return output


def linear_update_grad_input(grad_output, weight, grad_input):
    """gradInput = W^T g"""
    np.matmul(weight.T, grad_output, out=grad_input)
    return grad_input


def linear_update_grad_input_batch(grad_output, weight, grad_input):
    """gradInput = G W"""
    np.matmul(grad_output, weight, out=grad_input)
    return grad_input


def linear_acc_grad_weight(input, grad_output, scale, grad_weight):
    """gradWeight += scale * g x^T"""
    g_xT = np.multiply.outer(grad_output, input)
    if scale != 1:
        g_xT *= scale
    grad_weight += g_xT
    return grad_weight


def linear_acc_grad_weight_batch(input, grad_output, scale, grad_weight):
    """gradWeight += scale * G^T X"""
    GT_X = grad_output.T @ input
    if scale != 1:
        GT_X *= scale
    grad_weight += GT_X
    return grad_weight


def linear_acc_grad_bias(grad_output, scale, grad_bias):
    """gradBias += scale * g"""
    if scale != 1:
        grad_output = scale * grad_output
    grad_bias += grad_output
    return grad_bias


def linear_acc_grad_bias_batch(grad_output, scale, grad_bias):
    """gradBias += scale * G^T 1  (= G.sum(axis=0))"""
    GT_1 = grad_output.sum(axis=0)
    if scale != 1:
        GT_1 *= scale
    grad_bias += GT_1
    return grad_bias

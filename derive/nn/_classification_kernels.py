"""Kernels of SoftMax, LogSoftMax, ClassNLLCriterion and CrossEntropyCriterion.

Written by hand, in the form of the generated ``_kernels`` (the formula in the
docstring, the result written into the array given), until the layer engine
generates them. Each runs on the array library of its arguments, numpy or CuPy
(``xp``, found from the first argument), with operations both have: ufuncs with
``out``, reductions with ``axis``, matrix-vector products, fancy indexing with
``rows`` = arange(batch) (rows never repeat, so ``a[rows, target] -= v`` needs no
``add.at``).

Reductions are over the last axis, the classes, one sample at a time: x is one
sample (n,) or a batch (batch, n). The criteria's kernels take a batch; one
sample is a batch of one. m_i = max_k x[i, k] is sample i's own maximum (the
stable shift; never the batch's), t the 0-based target classes, w the class
weights (1 without), W = sum_i w[t_i] the total weight of the targets.
"""

import math

import numpy as np

from derive.nn._backend import namespace

ndarray = np.ndarray


def softmax_update_output(input, ones, output):
    """output = exp(x - m) / sum(exp(x - m))"""
    xp = np if input.__class__ is ndarray else namespace(input)
    xp.subtract(input, input.max(axis=-1, keepdims=True), out=output)
    xp.exp(output, out=output)
    output *= xp.reciprocal((output @ ones)[..., None])
    return output


def softmax_update_grad_input(output, grad_output, ones, grad_input):
    """gradInput = y * (g - sum(g * y))"""
    xp = np if output.__class__ is ndarray else namespace(output)
    xp.multiply(grad_output, output, out=grad_input)
    dot = (grad_input @ ones)[..., None]
    xp.subtract(grad_output, dot, out=grad_input)
    grad_input *= output
    return grad_input


def logsoftmax_update_output(input, ones, output):
    """output = x - m - log(sum(exp(x - m)))"""
    xp = np if input.__class__ is ndarray else namespace(input)
    xp.subtract(input, input.max(axis=-1, keepdims=True), out=output)
    total = (xp.exp(output) @ ones)[..., None]
    output -= xp.log(total, out=total)
    return output


def logsoftmax_update_grad_input(output, grad_output, ones, grad_input):
    """gradInput = g - exp(y) * sum(g)"""
    xp = np if output.__class__ is ndarray else namespace(output)
    xp.exp(output, out=grad_input)
    grad_input *= (grad_output @ ones)[..., None]
    xp.subtract(grad_output, grad_input, out=grad_input)
    return grad_input


def _target_weights(target, weights, size_average):
    """w[t_i] for each sample, divided by W if size_average; W = 0 gives nan, as PyTorch's 0/0
    (Torch7 returned 0)."""
    xp = np if target.__class__ is ndarray else namespace(target)
    factors = weights[target]
    if size_average:
        total = float(factors.sum())
        factors = factors / total if total else xp.full(len(target), math.nan)
    return factors


def classnll_update_output(input, target, rows, weights, size_average):
    """J = -sum_i w[t_i] x[i, t_i], divided by W if size_average"""
    picked = input[rows, target]
    if weights is None:
        total = -float(picked.sum())
        return total / len(target) if size_average else total
    return -float(picked @ _target_weights(target, weights, size_average))


def classnll_update_grad_input(target, rows, weights, size_average, grad_input):
    """gradInput[i, k] = -w[t_i] [k = t_i], divided by W if size_average"""
    grad_input.fill(0)
    if weights is None:
        grad_input[rows, target] = -1 / len(target) if size_average else -1
    else:
        grad_input[rows, target] = -_target_weights(target, weights, size_average)
    return grad_input


def crossentropy_update_output(input, target, rows, weights, size_average, ones, exp_shifted, reciprocal_sums):
    """exp_shifted = exp(x - m); reciprocal_sums = 1 / sum_k exp(x[i, k] - m_i) (their product is the softmax);
    J = -sum_i w[t_i] (x[i, t_i] - m_i - log(sum_k exp(x[i, k] - m_i))), divided by W if size_average"""
    xp = np if input.__class__ is ndarray else namespace(input)
    maxima = input.max(axis=-1)
    xp.subtract(input, maxima[:, None], out=exp_shifted)
    xp.exp(exp_shifted, out=exp_shifted)
    xp.matmul(exp_shifted, ones, out=reciprocal_sums)
    # log softmax at the targets alone: x - m - log(sum) stays exact where the probability underflows
    picked = xp.subtract(input[rows, target], maxima, dtype=exp_shifted.dtype)
    picked -= xp.log(reciprocal_sums)
    xp.reciprocal(reciprocal_sums, out=reciprocal_sums)
    if weights is None:
        total = -float(picked.sum())
        return total / len(target) if size_average else total
    return -float(picked @ _target_weights(target, weights, size_average))


def crossentropy_update_grad_input(target, row_offsets, weights, size_average, exp_shifted, reciprocal_sums,
                                   grad_input):
    """gradInput = (exp_shifted * reciprocal_sums - onehot(t)) * w[t_i], divided by W if size_average

    row_offsets = arange(batch) * n: the targets' positions in the flat (contiguous) gradInput.
    """
    xp = np if target.__class__ is ndarray else namespace(target)
    if weights is None:
        factors = 1 / len(target) if size_average else 1
    else:
        factors = _target_weights(target, weights, size_average)
    xp.multiply(exp_shifted, (reciprocal_sums * factors)[:, None], out=grad_input)
    # one flat index a sample: a third of the cost of grad_input[rows, target] -= factors
    grad_input.reshape(-1)[row_offsets + target] -= factors
    return grad_input

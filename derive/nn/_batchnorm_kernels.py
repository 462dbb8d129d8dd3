"""Kernels of derive.nn.BatchNormalization (Torch7's THNN BatchNormalization.c).

Written by hand until the engine generates them; each docstring is the formula the
kernel computes. x is the input (N, D), one sample a row; g the gradient of the loss
with respect to the output; gamma (weight) and beta (bias) have shape (D,), and so
have mean, invstd and the running statistics. Sums run over the batch (n = 1..N).
A kernel writes into the arrays it is given and returns the main one, or
accumulates into the gradients it is given and returns None. Each runs on the array
library of its arguments, numpy or CuPy (``xp``, found from the first array), with
operations both have.
"""

import numpy as np

from ._backend import namespace

ndarray = np.ndarray


def batchnorm_update_output_train(input, weight, bias, eps, momentum, running_mean, running_var,
                                  save_mean, save_invstd, output):
    """mean = (1/N) sum_n x[n]; var = (1/N) sum_n (x[n] - mean)**2; invstd = 1/sqrt(var + eps);
    y[n] = (x[n] - mean) * invstd * gamma + beta;
    running_mean = (1 - momentum) running_mean + momentum mean;
    running_var = (1 - momentum) running_var + momentum N/(N - 1) var"""
    xp = np if input.__class__ is ndarray else namespace(input)
    n = input.shape[0]
    xp.mean(input, axis=0, out=save_mean)
    centered = xp.subtract(input, save_mean, out=output)
    variance = xp.einsum("ni,ni->i", centered, centered)
    variance /= n
    xp.add(variance, eps, out=save_invstd)
    xp.sqrt(save_invstd, out=save_invstd)
    if xp is np:
        with np.errstate(divide="ignore"):  # 1/0 = inf, replaced by 0 below
            np.reciprocal(save_invstd, out=save_invstd)
    else:  # CuPy does not warn
        xp.reciprocal(save_invstd, out=save_invstd)
    if eps == 0:
        # Torch7: a constant feature with eps = 0 normalises to 0, not to 0/0.
        save_invstd[variance == 0] = 0
    if weight is None:
        output *= save_invstd
    else:
        output *= save_invstd * weight
        output += bias
    running_mean *= 1 - momentum
    running_mean += momentum * save_mean
    running_var *= 1 - momentum
    variance *= momentum * n / (n - 1)
    running_var += variance
    return output


def batchnorm_update_output_evaluate(input, weight, bias, eps, running_mean, running_var, output):
    """y[n] = (x[n] - running_mean) / sqrt(running_var + eps) * gamma + beta"""
    xp = np if input.__class__ is ndarray else namespace(input)
    xp.subtract(input, running_mean, out=output)
    if weight is None:
        output /= xp.sqrt(running_var + eps)
    else:
        output *= weight / xp.sqrt(running_var + eps)
        output += bias
    return output


def batchnorm_update_grad_input_train(input, grad_output, weight, save_mean, save_invstd, grad_input):
    """xhat[n] = (x[n] - mean) * invstd;
    gradInput[n] = (1/N) * gamma * invstd * (N g[n] - sum_n g[n] - xhat[n] * sum_n g[n] xhat[n])

    Returns (sum_n g[n], sum_n g[n] xhat[n]): accGradParameters' sums, computed on the way."""
    xp = np if input.__class__ is ndarray else namespace(input)
    n = input.shape[0]
    xhat = xp.subtract(input, save_mean, out=grad_input)
    xhat *= save_invstd
    sum_g = grad_output.sum(axis=0)
    sum_g_xhat = xp.einsum("ni,ni->i", grad_output, xhat)
    xhat *= sum_g_xhat / n
    xp.subtract(grad_output, xhat, out=grad_input)
    grad_input -= sum_g / n
    grad_input *= save_invstd if weight is None else save_invstd * weight
    return sum_g, sum_g_xhat


def batchnorm_update_grad_input_evaluate(grad_output, weight, eps, running_var, grad_input):
    """gradInput[n] = g[n] * gamma / sqrt(running_var + eps)"""
    xp = np if grad_output.__class__ is ndarray else namespace(grad_output)
    invstd = 1 / xp.sqrt(running_var + eps)
    xp.multiply(grad_output, invstd if weight is None else invstd * weight, out=grad_input)
    return grad_input


def batchnorm_grad_sums(input, grad_output, mean, invstd):
    """(sum_n g[n], sum_n g[n] xhat[n]) with xhat[n] = (x[n] - mean) * invstd"""
    xp = np if input.__class__ is ndarray else namespace(input)
    sum_g_xhat = xp.einsum("ni,ni->i", grad_output, input - mean)
    sum_g_xhat *= invstd
    return grad_output.sum(axis=0), sum_g_xhat


def batchnorm_acc_grad_parameters(sum_g, sum_g_xhat, scale, grad_weight, grad_bias):
    """gradWeight += scale * sum_n g[n] xhat[n]; gradBias += scale * sum_n g[n]"""
    if scale != 1:
        sum_g_xhat *= scale
        sum_g *= scale
    grad_weight += sum_g_xhat
    grad_bias += sum_g

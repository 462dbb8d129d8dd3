"""Kernels of derive.nn.SpatialConvolution (Torch7's THNN SpatialConvolutionMM.c: patches and matrix products).

Written by hand until the engine generates them; each docstring is the formula the
kernel computes. x is the input (B, C, H, W), y the output (B, O, oH, oW), g the
gradient of the loss with respect to y; W the weight (O, C, kH, kW), b the bias (O,).
Indices are 0-based: output pixel (i, j) sees input pixel (i dH + p - padH,
j dW + q - padW) through kernel offset (p, q); pixels outside the input are the zero
padding. ``columns`` is the im2col matrix of each sample, (B, C kH kW, oH oW): row
(c, p, q), column (i, j). Loops run over the kH kW kernel offsets only, never over
pixels or samples; the products are BLAS matrix products. Each kernel runs on the
array library of its arguments, numpy or CuPy (``xp``, found from the first array),
with operations both have.
"""

import numpy as np

from ._backend import namespace

ndarray = np.ndarray


def _offset_range(offset, pad, stride, size, out_size):
    """(first, stop) of the output positions i with 0 <= i stride + offset - pad < size, and
    the input slice they read: the part of kernel offset ``offset`` that is not padding."""
    first = max(0, -((offset - pad) // stride))
    stop = min(out_size, (size - 1 + pad - offset) // stride + 1)
    start = first * stride + offset - pad
    return first, stop, slice(start, start + (stop - first - 1) * stride + 1, stride)


def _offsets(input_shape, output_shape, kH, kW, dH, dW, padH, padW):
    """For each kernel offset (p, q): p, q, the output rows and columns it reaches (slices),
    and the input rows and columns they read (slices); offsets that read padding only are left out."""
    H, W = input_shape[-2:]
    oH, oW = output_shape[-2:]
    for p in range(kH):
        i0, i1, rows = _offset_range(p, padH, dH, H, oH)
        if i1 <= i0:
            continue
        for q in range(kW):
            j0, j1, cols = _offset_range(q, padW, dW, W, oW)
            if j1 > j0:
                yield p, q, slice(i0, i1), slice(j0, j1), rows, cols


def convolution_unfold(input, kH, kW, dH, dW, padH, padW, output_shape, columns):
    """columns[b, (c, p, q), (i, j)] = x[b, c, i dH + p - padH, j dW + q - padW]  (im2col)

    Writes only the entries that come from the input: the others are the padding's
    zeros, which ``columns`` must hold already (it does if it started at zero and has
    served input of this shape only)."""
    B, C = input.shape[:2]
    oH, oW = output_shape[-2:]
    patches = columns.reshape(B, C, kH, kW, oH, oW)
    for p, q, out_rows, out_cols, rows, cols in _offsets(input.shape, output_shape, kH, kW, dH, dW, padH, padW):
        patches[:, :, p, q, out_rows, out_cols] = input[:, :, rows, cols]
    return columns


def convolution_update_output(columns, weight, bias, output):
    """y[b, o, (i, j)] = sum_(c, p, q) W[o, (c, p, q)] columns[b, (c, p, q), (i, j)] + b[o]"""
    xp = np if columns.__class__ is ndarray else namespace(columns)
    B, O = output.shape[:2]
    output_matrices = output.reshape(B, O, -1)
    xp.matmul(weight.reshape(O, -1), columns, out=output_matrices)
    output_matrices += bias.reshape(O, 1)
    return output


def convolution_update_grad_input(grad_output, weight, kH, kW, dH, dW, padH, padW, grad_columns, grad_input):
    """gradColumns[b] = W^T g[b]  (W as (O, C kH kW), g[b] as (O, oH oW));
    gradInput[b, c, i dH + p - padH, j dW + q - padW] += gradColumns[b, (c, p, q), (i, j)]  (col2im)

    gradInput is zeroed first; entries that land in the padding are dropped."""
    xp = np if grad_output.__class__ is ndarray else namespace(grad_output)
    B, O, oH, oW = grad_output.shape
    C = grad_input.shape[1]
    xp.matmul(weight.reshape(O, -1).T, grad_output.reshape(B, O, -1), out=grad_columns)
    patches = grad_columns.reshape(B, C, kH, kW, oH, oW)
    grad_input.fill(0)
    for p, q, out_rows, out_cols, rows, cols in _offsets(grad_input.shape, grad_output.shape,
                                                         kH, kW, dH, dW, padH, padW):
        grad_input[:, :, rows, cols] += patches[:, :, p, q, out_rows, out_cols]
    return grad_input


def convolution_acc_grad_parameters(columns, grad_output, scale, grad_weight, grad_bias):
    """gradWeight[o, (c, p, q)] += scale * sum_b sum_(i, j) g[b, o, (i, j)] columns[b, (c, p, q), (i, j)];
    gradBias[o] += scale * sum_b sum_(i, j) g[b, o, (i, j)]"""
    xp = np if columns.__class__ is ndarray else namespace(columns)
    B, O = grad_output.shape[:2]
    grad_matrices = grad_output.reshape(B, O, -1)
    gradient = xp.matmul(grad_matrices, columns.transpose(0, 2, 1)).sum(axis=0)
    if scale != 1:
        gradient *= scale
    grad_weight += gradient.reshape(grad_weight.shape)
    del gradient  # freed before the next temporary is made
    gradient = grad_matrices.sum(axis=(0, 2))
    if scale != 1:
        gradient *= scale
    grad_bias += gradient

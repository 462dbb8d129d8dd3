"""The patches of derive.nn.SpatialConvolution (Torch7's THNN SpatialConvolutionMM.c):
im2col (``unfold``) and its adjoint col2im (``fold``).

Index bookkeeping only: the convolution's formulas, matrix products over these patches,
are the engine's results, compiled into ``_kernels.py`` by ``derive compile``.
x is the input (B, C, H, W), y the output (B, O, oH, oW), g the gradient of the loss
with respect to y; W the weight (O, C, kH, kW), b the bias (O,).
Indices are 0-based: output pixel (i, j) sees input pixel (i dH + p - padH,
j dW + q - padW) through kernel offset (p, q); pixels outside the input are the zero
padding. ``columns`` is the im2col matrix of each sample, (B, C kH kW, oH oW): row
(c, p, q), column (i, j). Loops run over the kH kW kernel offsets only, never over
pixels or samples. Slicing and in-place adds run on numpy and CuPy alike.
"""


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


def unfold(input, kH, kW, dH, dW, padH, padW, output_shape, columns):
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


def fold(grad_columns, output_shape, kH, kW, dH, dW, padH, padW, grad_input):
    """gradInput[b, c, i dH + p - padH, j dW + q - padW] += gradColumns[b, (c, p, q), (i, j)]  (col2im)

    gradInput is zeroed first; entries that land in the padding are dropped."""
    B, C = grad_input.shape[:2]
    oH, oW = output_shape[-2:]
    patches = grad_columns.reshape(B, C, kH, kW, oH, oW)
    grad_input.fill(0)
    for p, q, out_rows, out_cols, rows, cols in _offsets(grad_input.shape, output_shape, kH, kW, dH, dW, padH, padW):
        grad_input[:, :, rows, cols] += patches[:, :, p, q, out_rows, out_cols]
    return grad_input

"""Element-wise functions and the window kernels that generated layers call: ``window``
(the patches an affine subscript reads, a strided view, or a copy a ``Patches`` keeps for the
backward), ``fold`` (its adjoint, col2im), ``contract`` (tensordot for BLAS) and ``extreme``
(a max or min over a window).

Each works on the array module of its argument (numpy, or CuPy on a GPU); numpy only
is imported.
"""

from __future__ import annotations

import numpy as np

from ._backend import namespace

ndarray = np.ndarray


def sigmoid(z):
    """1 / (1 + exp(-z)), without overflow warnings for very negative z (the limit is 0)."""
    if z.__class__ is ndarray:
        with np.errstate(over="ignore"):  # numpy's floating-point state; CuPy warns of nothing
            return 1 / (1 + np.exp(-z))
    xp = namespace(z)
    return 1 / (1 + xp.exp(-z))


_ROWS: dict[int, np.ndarray] = {}  # size -> 0 .. size - 1, read-only (rows)


def rows(size: int, xp):
    """0 .. size - 1, the positions a gather or scatter reads along an axis (X[rows(B, xp), T]): on
    numpy one read-only array for each size, made once (at a batch of 64 an arange cost about a
    third of the gather it feeds); a new one elsewhere (CuPy's arrays live on a device)."""
    if xp is not np:
        return xp.arange(0, size)
    made = _ROWS.get(size)
    if made is None:
        if len(_ROWS) >= 64:  # a few batch sizes are used at a time
            _ROWS.clear()
        made = np.arange(0, size)
        made.flags.writeable = False  # shared by every kernel: nothing may write into it
        _ROWS[size] = made
    return made


def cleared(out, shape: tuple, xp):
    """``out`` set to 0, where the caller gives a buffer (of ``shape``); else new zeros of ``shape``."""
    if out is None:
        return xp.zeros(shape)
    out.fill(0)
    return out


def relu(z):
    """max(z, 0)."""
    return namespace(z).maximum(z, 0)


def step(z):
    """[z > 0] as 0.0 or 1.0: relu's derivative, 0 at z = 0 as Torch takes it."""
    return (z > 0).astype(z.dtype)


def softplus(z):
    """log(1 + exp(z)), computed stably."""
    return namespace(z).logaddexp(0, z)


def window(array, shape: tuple, starts: tuple, steps: tuple, patches: Patches | None = None):
    """The entries of ``array`` an affine subscript reads (im2col), 0 outside the array.

    Entry ``i`` of the result (of shape ``shape``) is ``array[starts[a] + sum(c * i[k] for
    k, c in steps[a].items()) for each axis a]`` (0-based): ``x[c, h+p-2, w+q-2]`` over
    (c, h, p, w, q) is ``window(x, (C, H, P, W, Q), (0, -1, -1), ({0: 1}, {1: 1, 2: 1}, {3: 1, 4: 1}))``.
    The array is padded with zeros once, where the reads run outside it, and the result is
    a read-only strided view of it (no gather): a contraction copies it once, as im2col.
    Given ``patches`` (a contraction's operand), the result is that copy, made once and kept
    for a later window of the same entries of the same array (Patches).
    """
    if patches is not None:
        return patches.window(array, shape, starts, steps)
    xp = namespace(array)
    shape = tuple(int(n) for n in shape)
    if 0 in shape:
        return xp.zeros(shape, array.dtype)
    as_strided = _as_strided(xp)
    if as_strided is None:  # an array module without strided views: a gather
        return _gathered(xp, array, shape, starts, steps)
    pads, corner = _reach(array.shape, shape, starts, steps)
    if any(low or high for low, high in pads):
        array = xp.pad(array, pads)
    origin = array[tuple(slice(k, None) for k in corner)]
    strides = [0] * len(shape)
    for a, step in enumerate(steps):
        for k, c in step.items():
            strides[k] += c * origin.strides[a]
    if xp is np:  # read-only: the view's entries overlap (CuPy's as_strided has no such flag)
        return as_strided(origin, shape, tuple(strides), writeable=False)
    return as_strided(origin, shape, tuple(strides))


class Patches:
    """The copies of windows (im2col's patches) a module's kernels contract, kept from one call
    to the next, as Torch7's ``columns`` buffer: a backward that asks for the entries the forward
    copied, of the very same input array, reads them again instead of copying them anew (the
    same entries in another axis order are a transposed view of the copy). Another array is
    copied anew; the module calls ``forget`` at each forward, so an input changed in place
    between forward and backward needs a new forward. One copy is kept for each window asked
    for, in a buffer reused while its size stays: memory is that of the patches.

    The copy's layout is im2col's: the axes that alone read an axis of the array (samples,
    planes) first, then for each axis of the array read by several, the shorter readers (the
    kernel's offsets) before the longest (the output's positions), which run innermost: a row
    of the copy is then a strided row of the array, and each sample's patches are one matrix.
    """

    def __init__(self) -> None:
        self._source = None  # the array the copies marked fresh come from
        self._kept: dict = {}  # a window's entries (in layout order) -> its copy
        self._fresh: set = set()  # the keys whose copies hold the entries of _source now

    def forget(self) -> None:
        """Count every copy stale: the next window copies its entries anew (into its buffer)."""
        self._source = None

    def window(self, array, shape: tuple, starts: tuple, steps: tuple):
        """window(array, shape, starts, steps)'s entries as a copy, kept (see the class)."""
        shape = tuple(int(n) for n in shape)
        order = _layout(shape, steps)
        entries = tuple((shape[k], tuple((a, step[k]) for a, step in enumerate(steps) if step.get(k)))
                        for k in order)
        key = (array.__class__, array.shape, array.strides, array.dtype, tuple(starts), entries)
        if self._source is not array:  # another array, or a forward since: no copy holds its entries
            self._source, self._fresh = array, set()
        kept = self._kept.get(key)
        if key not in self._fresh:
            ordered = window(array, shape, starts, steps).transpose(order)
            if kept is None:  # (the copies of other sizes go: one buffer a window)
                self._kept = {k: v for k, v in self._kept.items() if k in self._fresh}
                kept = self._kept[key] = namespace(array).array(ordered, order="C")  # its own memory, always
            else:
                kept[...] = ordered
            self._fresh.add(key)
        position = {k: p for p, k in enumerate(order)}
        return kept.transpose([position[k] for k in range(len(shape))])


def _layout(shape: tuple, steps: tuple) -> list[int]:
    """The window's axes in the order of Patches' copies (im2col's, see Patches)."""
    readers: dict[int, list[int]] = {}
    for a, step in enumerate(steps):
        readers[a] = [k for k, c in step.items() if c]

    def rank(k: int) -> tuple:
        axis = min((a for a, ks in readers.items() if k in ks), default=len(steps))
        group = readers.get(axis, [k])
        if len(group) == 1:
            return (0, axis, k)
        longer = sorted(group, key=lambda j: (shape[j], abs(steps[axis][j]))).index(k)
        return (1 + longer, axis, k)
    return sorted(range(len(shape)), key=rank)


def extreme(array, axis: tuple, kind: str):
    """``array.max(axis=axis)`` (``kind`` "max") or ``.min``: where the reduced axes hold few
    entries (a pooling window of a strided view), one element-wise maximum per entry, which
    runs on whole planes; a reduction over small strided axes runs entry by entry."""
    xp = namespace(array)
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    count = 1
    for k in axis:
        count *= array.shape[k]
    if count > 16 or count == 0 or len(axis) == array.ndim:  # (a whole array's extremum is a number)
        return getattr(array, kind)(axis=axis)
    combine = xp.maximum if kind == "max" else xp.minimum
    result = None
    for point in _product([range(array.shape[k]) for k in axis]):
        index = [slice(None)] * array.ndim
        for k, v in zip(axis, point):
            index[k] = v
        entry = array[tuple(index)]
        result = entry.copy() if result is None else combine(result, entry, out=result)
    return result


def contract(a, b, axes: tuple):
    """``xp.tensordot(a, b, axes)``: one matrix product (BLAS), each operand laid out as a
    matrix in the order its memory runs.

    tensordot copies a strided operand (a window) into (kept, summed) or (summed, kept)
    order whatever its strides; here the larger operand's innermost axis (the smallest
    stride, the longest on ties) stays innermost, the smaller follows its summed order,
    and a matrix that is only transposed goes to the product as a transposed view.
    """
    xp = namespace(a)
    over_a, over_b = (list(x) for x in axes)
    keep_a = [k for k in range(a.ndim) if k not in over_a]
    keep_b = [k for k in range(b.ndim) if k not in over_b]
    stacked = _stacked(a, b, over_a, over_b, keep_a, keep_b)
    if stacked is not None:
        return stacked
    chunks = _chunks(a, b, over_a, over_b, keep_a, keep_b)
    if chunks is not None:
        return chunks
    # The summed axes in the larger operand's memory order; the other's paired with them.
    if a.size >= b.size:
        pairs = sorted(zip(over_a, over_b), key=lambda pair: _inner(a, pair[0]))
    else:
        pairs = sorted(zip(over_a, over_b), key=lambda pair: _inner(b, pair[1]))
    over_a, over_b = [x for x, _ in pairs], [y for _, y in pairs]
    kept_a, kept_b = sorted(keep_a, key=lambda k: _inner(a, k)), sorted(keep_b, key=lambda k: _inner(b, k))
    left = _matrix(a, kept_a, over_a)            # (kept of a, summed)
    right = _matrix(b, kept_b, over_b).T         # (summed, kept of b)
    # A transposed left operand: the product transposed, its operands then in their own layout
    # (BLAS runs a row-major matrix on the right faster than a transposed one on the left).
    product = (right.T @ left.T).T if left.T.flags.c_contiguous and left.ndim == 2 and left.shape[1] > 1 \
        else left @ right
    product = product.reshape(tuple(a.shape[k] for k in kept_a) + tuple(b.shape[k] for k in kept_b))
    order = [kept_a.index(k) for k in keep_a] + [len(kept_a) + kept_b.index(k) for k in keep_b]
    return product if order == sorted(order) else xp.transpose(product, order)


#: Entries of the larger operand contracted at once: a piece that fits the last-level cache
#: (4 MB of float64) is copied into a matrix and multiplied while it is still there.
_PIECE = 1 << 19


def _chunks(a, b, over_a, over_b, keep_a, keep_b):
    """contract() of a large operand piece by piece along its outermost axis (the samples of a
    batch): each piece's copy is read by its product from the cache, not from memory; the
    products are joined (a kept axis) or added (a summed one). None for a small operand."""
    xp = namespace(a)
    first = a.size >= b.size
    big = a if first else b
    if xp is not np or big.size <= 2 * _PIECE or big.ndim < 2:  # (a GPU runs one product best)
        return None
    outer = max(range(big.ndim), key=lambda k: (abs(big.strides[k]), -big.shape[k]))
    n = big.shape[outer]
    step = max(1, _PIECE * n // big.size)
    if step >= n:
        return None
    over, over_other = (over_a, over_b) if first else (over_b, over_a)

    def piece(part: slice):
        cut_big = tuple(part if k == outer else slice(None) for k in range(big.ndim))
        other = b if first else a
        cut_other = tuple(part if outer in over and k == over_other[over.index(outer)] else slice(None)
                          for k in range(other.ndim))
        pa, pb = (big[cut_big], other[cut_other]) if first else (other[cut_other], big[cut_big])
        return contract(pa, pb, (over_a, over_b))
    parts = (piece(slice(i, i + step)) for i in range(0, n, step))
    if outer in over:  # a summed axis: the pieces' products add up
        total = next(parts).copy()
        for product in parts:
            total += product
        return total
    position = keep_a.index(outer) if first else len(keep_a) + keep_b.index(outer)
    return xp.concatenate(list(parts), axis=position)


def _stacked(a, b, over_a, over_b, keep_a, keep_b):
    """contract() as one matmul over a stack of matrices, where the larger operand is such a
    stack in memory and no one matrix (im2col's patches, (samples, C kH kW, oH oW): each
    sample's a matrix, the samples outermost): its outermost axis is the stack's, the rest a
    (summed, kept) or (kept, summed) matrix without a copy. A stack axis both operands sum
    (the samples of a parameter's gradient) is summed after the products. None where the
    operand is one matrix already, or no such stack (then tensordot's copy)."""
    xp = namespace(a)
    if xp is not np:  # (a GPU copies fast and runs one product best)
        return None
    first = a.size >= b.size
    big, other = (a, b) if first else (b, a)
    over_big, over_other = (over_a, over_b) if first else (over_b, over_a)
    keep_big, keep_other = (keep_a, keep_b) if first else (keep_b, keep_a)
    axes = [k for k in sorted(range(big.ndim), key=lambda k: _inner(big, k)) if big.shape[k] != 1]
    kept = [k for k in axes if k in keep_big]
    summed = [k for k in axes if k in over_big]
    if len(axes) < 3 or not kept or not summed or (
            _merges(big, kept) and _merges(big, summed) and (axes[0] in kept) != (axes[-1] in kept)):
        return None  # one matrix without a copy (or a product of vectors): tensordot's way
    stack = axes[0]
    kept, summed = [k for k in kept if k != stack], [k for k in summed if k != stack]
    if not kept or not summed or not _merges(big, kept) or not _merges(big, summed):
        return None
    kept_first = axes[1] in kept
    # the axes of size 1 anywhere: they change no layout
    kept += [k for k in keep_big if big.shape[k] == 1]
    summed += [k for k in over_big if big.shape[k] == 1]
    n = big.shape[stack]
    inner = kept + summed if kept_first else summed + kept
    big_stack = big.transpose([stack] + inner).reshape(
        (n, _size(big, inner[:len(kept if kept_first else summed)]), -1))  # a view: (n, kept, summed) or (n, summed, kept)
    paired = [over_other[over_big.index(k)] for k in summed]
    lead = [over_other[over_big.index(stack)]] if stack in over_big else []  # the stack summed: the other's too
    own = [k for k in keep_other]
    other_m = other.transpose(lead + paired + own).reshape(([n] if lead else []) + [_size(other, paired), -1])
    if kept_first:  # (n, kept, summed) @ (summed, own) -> (n, kept, own)
        product = xp.matmul(big_stack, other_m)
        named = [("big", k) for k in kept] + [("other", k) for k in own]
    else:  # (own, summed) @ (n, summed, kept) -> (n, own, kept)
        product = xp.matmul(xp.swapaxes(other_m, -1, -2), big_stack)
        named = [("other", k) for k in own] + [("big", k) for k in kept]
    if lead:
        product = product.sum(axis=0)
    else:
        named = [("big", stack)] + named
    product = product.reshape(tuple((big if side == "big" else other).shape[k] for side, k in named))
    wanted = [("big" if first else "other", k) for k in keep_a] + [("other" if first else "big", k) for k in keep_b]
    order = [named.index(w) for w in wanted]
    return product if order == sorted(order) else xp.transpose(product, order)


def _size(array, axes: list) -> int:
    size = 1
    for k in axes:
        size *= array.shape[k]
    return size


def _merges(array, axes: list) -> bool:
    """Whether ``axes`` (outermost first) of ``array`` are one run of memory: reshaped into one
    axis without a copy."""
    return all(abs(array.strides[j]) == abs(array.strides[k]) * array.shape[k] and array.strides[j] > 0
               and array.strides[k] > 0 for j, k in zip(axes, axes[1:]))


def _inner(array, axis: int) -> tuple:
    """A sort key putting the axis that runs innermost in memory last."""
    size = array.shape[axis]
    return (0, 0) if size == 1 else (-abs(array.strides[axis]), size)


def _matrix(array, kept: list, over: list):
    """``array`` as a (kept, summed) matrix: where its innermost axis is a kept one, laid out
    (summed, kept), which keeps that axis innermost, and transposed back as a view."""
    rows = 1
    for k in kept:
        rows *= array.shape[k]
    columns = 1
    for k in over:
        columns *= array.shape[k]
    inner = [k for k in kept + over if array.shape[k] != 1]
    if inner and over and max(inner, key=lambda k: _inner(array, k)) in kept:
        return array.transpose(over + kept).reshape(columns, rows).T
    return array.transpose(kept + over).reshape(rows, columns)


def fold(values, size: tuple, starts: tuple, steps: tuple):
    """The adjoint of :func:`window` (col2im): an array of shape ``size``, zero but where
    ``window(..., values.shape, starts, steps)`` reads, where each entry of ``values`` that
    reads it is added (a read outside the array adds nothing).

    The additions run as a few strided slices: each axis of the array takes one axis of
    ``values`` as a slice with a step, and the other axes (the kernel offsets) are a loop
    over their values, never a loop over elements.
    """
    xp = namespace(values)
    size = tuple(int(n) for n in size)
    used = {k for step in steps for k, c in step.items() if c}
    alone = tuple(k for k in range(values.ndim) if k not in used)
    if alone:  # an axis no subscript reads (a plane summed over): summed first
        values = values.sum(axis=alone, keepdims=True)
    # Each array axis's slice runs along the largest axis of values that only it reads.
    readers = {k: [a for a, step in enumerate(steps) if step.get(k)] for k in used}
    along: dict[int, int] = {}
    for a, step in enumerate(steps):
        own = [k for k, c in step.items() if c and readers[k] == [a] and k not in along.values()]
        if own:
            along[a] = max(own, key=lambda k: values.shape[k])
    looped = [k for k in sorted(used) if k not in along.values()]
    pads, corner = _reach(size, values.shape, starts, steps)
    padded = xp.zeros(tuple(n + low + high for n, (low, high) in zip(size, pads)), values.dtype)
    for point in _product([range(values.shape[k]) for k in looped]):
        fixed = dict(zip(looped, point))
        target, source = [], [slice(None)] * values.ndim
        for k, v in fixed.items():
            source[k] = v
        for a, step in enumerate(steps):
            first = corner[a] + sum(c * fixed[k] for k, c in step.items() if k in fixed)
            if a in along:
                c, n = step[along[a]], values.shape[along[a]]
                stop = first + c * n  # one step past the last; below 0 only going down to 0
                target.append(slice(first, stop if stop >= 0 else None, c))
            else:
                target.append(slice(first, first + 1))
        # values' remaining axes in the order of the array axes they slide along (kept axes of size 1)
        part = values[tuple(source)]
        order = [k for k in range(values.ndim) if k not in fixed]
        wanted = [along[a] for a in range(len(steps)) if a in along]
        rest = [k for k in order if k not in wanted]  # summed axes kept as size 1
        part = xp.transpose(part, [order.index(k) for k in rest + wanted]).reshape(
            tuple(1 if a not in along else values.shape[along[a]] for a in range(len(steps))))
        padded[tuple(target)] += part
    return padded[tuple(slice(low, low + n) for n, (low, _) in zip(size, pads))]


def _reach(size: tuple, shape: tuple, starts: tuple, steps: tuple):
    """((low, high) zeros to pad on each axis of an array of ``size`` for every read of
    ``window`` to fall inside, (the padded array's index of entry 0 of the window))."""
    pads, corner = [], []
    for n, start, step in zip(size, starts, steps):
        low = start + sum(min(0, c * (shape[k] - 1)) for k, c in step.items())
        high = start + sum(max(0, c * (shape[k] - 1)) for k, c in step.items())
        before = max(0, -low)
        pads.append((before, max(0, high - (n - 1))))
        corner.append(start + before)
    return pads, corner


def _product(ranges):
    """Every tuple of one value from each range, in order (itertools.product, no import)."""
    points = [()]
    for r in ranges:
        points = [p + (v,) for p in points for v in r]
    return points


def _as_strided(xp):
    """The array module's ``as_strided`` (numpy's and CuPy's ``lib.stride_tricks``), or None."""
    tricks = getattr(getattr(xp, "lib", None), "stride_tricks", None)
    return getattr(tricks, "as_strided", None)


def _gathered(xp, array, shape, starts, steps):
    """``window`` by integer indexing, for an array module without strided views."""
    indices = []
    for start, step in zip(starts, steps):
        index = start
        for k, c in step.items():
            index = index + c * xp.arange(shape[k]).reshape(tuple(-1 if j == k else 1 for j in range(len(shape))))
        indices.append(xp.broadcast_to(xp.asarray(index), shape))
    inside = None
    for axis, index in enumerate(indices):
        ok = (index >= 0) & (index < array.shape[axis])
        inside = ok if inside is None else inside & ok
    clipped = tuple(xp.clip(i, 0, array.shape[k] - 1) for k, i in enumerate(indices))
    return array[clipped] * inside

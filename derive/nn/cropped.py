"""The shared base of the generated criteria whose target is larger than the input and cropped
to it at its centre (SpatialAutoCropMSECriterion, derive/nn/_catalogue.py): the crop's offsets,
Torch7's, computed from each input's and target's shapes.  numpy only."""

from __future__ import annotations

from .catalogued import CatalogueCriterion
from .module import check_array, compute_dtype


class CatalogueCropCriterion(CatalogueCriterion):
    """A criterion generated from its entry whose kernels take, after the input and the target,
    the offsets of the target's crop along ``cropAxes`` (counted from 0): floor((target's size -
    input's size) / 2), Torch7's centre crop. Along the other axes the target is the input's size."""

    cropAxes: tuple[int, ...] = ()  # the sample axes the target is cropped along
    _offsets: tuple[int, ...] = ()  # of the last input and target checked

    def _check(self, input, target) -> bool:
        batch = self._input(input)
        owner = type(self).__name__
        check_array(owner, "target", target, self._arrayClass)
        compute_dtype(owner, "target", target, self)
        lead = int(batch)
        sizes = list(input.shape)
        for axis in self.cropAxes:  # the target's sizes as the input's but where it is cropped
            sizes[lead + axis] = target.shape[lead + axis] if target.ndim == input.ndim else -1
        if target.ndim != input.ndim or tuple(sizes) != target.shape or any(
                target.shape[lead + a] < input.shape[lead + a] for a in self.cropAxes):
            axes = ", ".join(str(a + 1) for a in self.cropAxes)
            raise ValueError(f"{owner}: the target must have the input's shape {input.shape} but along a sample's "
                             f"axes {axes}, where it is at least as large (cropped at its centre), got {target.shape}")
        self._offsets = tuple((target.shape[lead + a] - input.shape[lead + a]) // 2 for a in self.cropAxes)
        return batch

    def _constants(self) -> tuple:
        return self._offsets

"""Old name of fastnn.ops.augment (``fastnn.ops.warp.set_simd`` appeared in a release note)."""
from .augment import set_simd, simd_levels  # noqa: F401

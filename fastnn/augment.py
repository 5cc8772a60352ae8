"""Image augmentation on the fly: random rotation, flips, zoom, shift and Gaussian noise, in C.

Example::

    pipeline = fastnn.augment.Compose([
        fastnn.augment.RandomRotation(10),             # uniform in [-10, 10] degrees, counter-clockwise > 0
        fastnn.augment.RandomShift(2),                 # up to 2 pixels each way (0.1 = 10% of the size)
        fastnn.augment.RandomZoom(0.1),                # magnification in [0.9, 1.1]
        fastnn.augment.RandomFlip(horizontal=True),    # mirrored left-right with probability 0.5
        fastnn.augment.GaussianNoise(0.05),
    ], image_shape=(28, 28))                           # needed for flattened rows (n, 784)
    augmented = pipeline(images, seed=0)               # new array, same shape and dtype

Images are (n, h, w), (n, h, w, c), or rows (n, h*w*c) with ``image_shape=(h, w[, c])`` given to Compose.

Conventions (the same as torchvision's RandomAffine and Keras' random layers unless noted):

* Coordinates: x is the column, y the row (downwards); every geometric op acts about the image centre
  ((w-1)/2, (h-1)/2). A positive angle rotates the content counter-clockwise as displayed, so a rotation by
  exactly 90 degrees equals ``np.rot90(image)`` (square images). Zoom factors are magnifications (> 1 zooms
  in, like torchvision's ``scale``; Keras' RandomZoom uses the opposite sign). Shifts move the content right
  and down for positive values and are continuous (sub-pixel), not rounded to whole pixels.
* Consecutive geometric ops are composed, in the order listed, into ONE affine map per image; the image is
  resampled once (bilinear), so a rotation followed by a zoom blurs no more than either alone. Noise is
  added where it stands in the list (normally last). Positions outside the image read ``fill_mode``:
  "constant" (``fill_value``, default 0), "nearest" (edge pixel) or "reflect" (mirror about the edge,
  ``d c b a | a b c d | d c b a``). Identity parameters (angle 0, zoom 1, shift 0, no flip) return the input
  exactly; flips, and rotations by multiples of 90 degrees of images whose h - w is even (square ones among
  them), move pixels exactly. When h - w is odd, a quarter turn about the centre lands pixel centres halfway
  between pixels, so each is spread over its neighbours: no resampling can keep them whole.
* Randomness: each random number is a hash of (seed, step, image index, op position, draw), so the result
  for an image depends only on those -- never on the batch it came in, the thread count or the CPU.
  ``pipeline(images, seed)`` uses step 0 and the image's index; ``fit`` keys the image at position p of an
  epoch's order with (seed, the optimizer step of the epoch's first batch, p), augmenting several batches per
  call (fastnn/data/loader.py).
* float32 images (of either byte order) are resampled in float32 arithmetic, float64 in float64; other dtypes are
  converted, augmented, then rounded and clipped back to their dtype: to float32 for those of up to 16 bits (uint8,
  int16, float16, bool: every value exact), to float64 for wider integers (exact up to 2**53).

The work happens in csrc/warp.c (one call for the random matrices, then one OpenMP-parallel pass over the batch
that warps each image and adds the noise that follows the warp); ``fastnn/_reference/augment.py`` is the numpy
oracle.
"""
from __future__ import annotations

import numbers
import secrets
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._registry import Registry, class_config
from .ops import augment as _ops
from .ops._checks import row_indices
from .validation import SEED_LIMIT, c_array, check_scalar, check_seed

__all__ = ["Compose", "RandomRotation", "RandomFlip", "RandomZoom", "RandomShift", "GaussianNoise",
           "AugmentError"]


class AugmentError(ValueError):
    """Bad augmentation parameters or images that do not match the declared shape."""


def _real(name: str, v, **bounds) -> float:
    return check_scalar(v, name, numbers.Real, error=AugmentError, **bounds)


def _range(name: str, v, symmetric_about: float, lo_min: float | None = None) -> tuple[float, float]:
    """A number d -> (c - d, c + d); a pair (lo, hi) -> itself, checked."""
    if isinstance(v, (tuple, list)) and len(v) == 2:
        lo, hi = _real(f"{name}[0]", v[0]), _real(f"{name}[1]", v[1])
    elif isinstance(v, (tuple, list)):
        raise AugmentError(f"{name} must be a number or a (low, high) pair, got {v!r}")
    else:
        d = _real(name, v, min_val=0.0)
        lo, hi = symmetric_about - d, symmetric_about + d
    if lo > hi:
        raise AugmentError(f"{name} range must have low <= high, got ({lo}, {hi})")
    if lo_min is not None and lo <= lo_min:
        raise AugmentError(f"{name} range must lie above {lo_min}, got ({lo}, {hi})")
    return lo, hi


class Transform:
    """Base class: ``geometric`` transforms become rows of the warp program, the others run as their own pass."""

    geometric = True
    code = 0

    def params(self) -> tuple[float, float, float, float]:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        cfg = self.get_config()
        del cfg["class"]
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in cfg.items())})"


class RandomRotation(Transform):
    """Rotate by an angle drawn uniformly from ``degrees``: a number d means [-d, d], a pair (lo, hi) that range
    (``(90, 90)`` is exactly 90 degrees). Positive angles turn the content counter-clockwise as displayed."""

    code = _ops.OP_CODES["rotate"]

    def __init__(self, degrees):
        self.degrees = _range("degrees", degrees, 0.0)

    def params(self):
        return (self.degrees[0], self.degrees[1], 0.0, 0.0)

    def get_config(self):
        return class_config(self, degrees=list(self.degrees))


class RandomFlip(Transform):
    """Mirror left-right (``horizontal``) and/or top-bottom (``vertical``), each independently with
    probability ``p``."""

    code = _ops.OP_CODES["flip"]

    def __init__(self, horizontal: bool = True, vertical: bool = False, p: float = 0.5):
        horizontal = check_scalar(horizontal, "RandomFlip horizontal", bool, error=AugmentError)
        vertical = check_scalar(vertical, "RandomFlip vertical", bool, error=AugmentError)
        if not (horizontal or vertical):
            raise AugmentError("RandomFlip needs horizontal=True and/or vertical=True")
        p = _real("p", p, min_val=0.0, max_val=1.0)
        self.horizontal, self.vertical, self.p = horizontal, vertical, p

    def params(self):
        return (float(self.horizontal), float(self.vertical), self.p, 0.0)

    def get_config(self):
        return class_config(self, horizontal=self.horizontal, vertical=self.vertical, p=self.p)


class RandomZoom(Transform):
    """Magnify by a factor drawn uniformly from ``scale``: a number z in [0, 1) means [1 - z, 1 + z], a pair
    (lo, hi) with 0 < lo <= hi that range. Factors above 1 zoom in, below 1 zoom out (the border then shows
    ``fill_mode``)."""

    code = _ops.OP_CODES["zoom"]

    def __init__(self, scale):
        if not isinstance(scale, (tuple, list)) and _real("scale", scale) >= 1:
            raise AugmentError(f"a single zoom number z means factors [1 - z, 1 + z] and must be < 1, got {scale}; "
                               "pass a (low, high) pair of factors instead")
        self.scale = _range("scale", scale, 1.0, lo_min=0.0)

    def params(self):
        return (self.scale[0], self.scale[1], 0.0, 0.0)

    def get_config(self):
        return class_config(self, scale=list(self.scale))


class RandomShift(Transform):
    """Translate by up to ``max_shift`` in each direction, drawn uniformly (sub-pixel). An int is pixels, a
    float in [0, 1] a fraction of the image size; a pair gives (vertical, horizontal) separately (both ints or
    both floats)."""

    code = _ops.OP_CODES["shift"]

    def __init__(self, max_shift):
        pair = tuple(max_shift) if isinstance(max_shift, (tuple, list)) else (max_shift, max_shift)
        if len(pair) != 2:
            raise AugmentError(f"max_shift must be a number or a (vertical, horizontal) pair, got {max_shift!r}")
        kinds = set()
        for v in pair:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise AugmentError(f"max_shift must hold numbers, got {max_shift!r}")
            kinds.add("pixels" if isinstance(v, numbers.Integral) else "fraction")
        if len(kinds) != 1:
            raise AugmentError(f"max_shift pair must be both ints (pixels) or both floats (fractions), got {pair!r}")
        self.fraction = kinds == {"fraction"}
        vals = tuple(_real("max_shift", v) for v in pair)
        if any(v < 0 for v in vals):
            raise AugmentError(f"max_shift must be >= 0, got {max_shift!r}")
        if self.fraction and any(v > 1 for v in vals):
            raise AugmentError(f"a float max_shift is a fraction of the image size and must lie in [0, 1], got "
                               f"{max_shift!r}; give pixels as an int")
        self.max_shift = vals  # (vertical, horizontal)

    def params(self):
        return (self.max_shift[1], self.max_shift[0], 1.0 if self.fraction else 0.0, 0.0)

    def get_config(self):
        v = self.max_shift if self.fraction else tuple(int(s) for s in self.max_shift)
        return class_config(self, max_shift=list(v))


class GaussianNoise(Transform):
    """Add independent N(0, std^2) noise to every value, then clip to ``clip=(lo, hi)`` if given. The normal
    deviates come from the counter-based generator by the inverse-CDF method in float32 (every quantile within
    2e-6 standard deviations, |z| <= 6.24); the sum is formed in the images' dtype."""

    geometric = False

    def __init__(self, std: float, clip=None):
        std = _real("std", std, min_val=0.0)
        if clip is not None:
            if not (isinstance(clip, (tuple, list)) and len(clip) == 2):
                raise AugmentError(f"clip must be None or a (low, high) pair, got {clip!r}")
            clip = (_real("clip[0]", clip[0]), _real("clip[1]", clip[1]))
            if clip[0] > clip[1]:
                raise AugmentError(f"clip must have low <= high, got {clip}")
        self.std, self.clip = std, clip

    def get_config(self):
        return class_config(self, std=self.std, clip=None if self.clip is None else list(self.clip))


TRANSFORMS = Registry("augmentation", (RandomRotation, RandomFlip, RandomZoom, RandomShift, GaussianNoise),
                      error=AugmentError)


class _NoiseStage:
    def __init__(self, slot, t):
        self.slot, self.std, self.clip = slot, t.std, t.clip

    def spec(self, seed: int, step: int, index0: int) -> tuple:
        return _ops.noise_spec(self.std, seed, step, index0, self.slot, self.clip)


class _WarpStage:
    """A run of geometric ops (one warp), and the noise that directly follows it if any: added in the warp's
    pass while each image is in cache (same result as a separate pass)."""

    def __init__(self, items):
        self.codes = np.array([t.code for _, t in items], dtype=np.int32)
        self.params = np.array([t.params() for _, t in items], dtype=np.float64).reshape(len(items), 4)
        self.slots = np.array([slot for slot, _ in items], dtype=np.int64)
        self.noise: _NoiseStage | None = None


class Compose:
    """A pipeline of augmentations applied in order; see the module docstring for the conventions.

    Parameters
    ----------
    transforms : list of RandomRotation, RandomFlip, RandomZoom, RandomShift, GaussianNoise
    image_shape : (h, w) or (h, w, c), optional
        Required for flattened rows (n, h*w*c); when given, every input must match it.
    fill_mode : "constant", "nearest" or "reflect"
    fill_value : float, used by "constant"

    A Compose keeps small scratch buffers between calls (so the training loop allocates nothing): use one
    instance per thread.
    """

    def __init__(self, transforms: Iterable[Transform], image_shape: Sequence[int] | None = None,
                 fill_mode: str = "constant", fill_value: float = 0.0) -> None:
        transforms = list(transforms)
        for t in transforms:
            if not isinstance(t, Transform):
                raise AugmentError(f"Compose takes augmentation transforms, got {t!r}")
        _ops.fill_mode_code(fill_mode)
        self.transforms = transforms
        self.fill_mode = fill_mode
        self.fill_value = _real("fill_value", fill_value)
        self.image_shape = None if image_shape is None else self._check_image_shape(image_shape)
        self._stages: list = []
        run: list = []
        for slot, t in enumerate(transforms):
            if t.geometric:
                run.append((slot, t))
                continue
            if run:
                self._stages.append(_WarpStage(run))
                run = []
            if self._stages and isinstance(self._stages[-1], _WarpStage) and self._stages[-1].noise is None:
                self._stages[-1].noise = _NoiseStage(slot, t)
            else:
                self._stages.append(_NoiseStage(slot, t))
        if run:
            self._stages.append(_WarpStage(run))
        self._mats = np.empty((0, 6))
        self._scratch: np.ndarray | None = None
        self._gathered: np.ndarray | None = None

    @staticmethod
    def _check_image_shape(shape, name: str = "image_shape", lengths: tuple[int, ...] = (2, 3)) -> tuple[int, ...]:
        """(h, w) or (h, w, c) (``lengths``) of whole sizes >= 1; nothing is coerced (int() would read "28" as
        (2, 8) and (4.7, 4) as (4, 4): a wrong geometry, silently)."""
        try:
            sizes = tuple(shape) if not isinstance(shape, (str, bytes)) else ()
        except TypeError:
            sizes = ()
        if len(sizes) not in lengths:
            raise AugmentError(f"{name} must be {' or '.join(('(h, w)', '(h, w, c)')[k - 2] for k in lengths)}, "
                               f"got {shape!r}")
        return tuple(check_scalar(s, f"{name}[{i}]", numbers.Integral, min_val=1, error=AugmentError)
                     for i, s in enumerate(sizes))

    # ---- shapes ---------------------------------------------------------------------------------------------

    def _nhwc_shape(self, shape: tuple) -> tuple:
        """(n, h, w, c) for an input shape, or AugmentError naming what was expected."""
        if self.image_shape is not None:
            h, w = self.image_shape[:2]
            c = self.image_shape[2] if len(self.image_shape) == 3 else 1
            n = shape[0] if len(shape) else 0
            allowed = [(n, h * w * c), (n, h, w, c)] + ([(n, h, w)] if c == 1 else [])
            if tuple(shape) not in allowed:
                raise AugmentError(f"images of shape {tuple(shape)} do not match image_shape {self.image_shape}: "
                                   "expected "
                                   + " or ".join("(n, " + ", ".join(map(str, a[1:])) + ")" for a in allowed))
            return (n, h, w, c)
        if len(shape) == 3:
            return (shape[0], shape[1], shape[2], 1)
        if len(shape) == 4:
            return tuple(shape)
        if len(shape) == 2 and not any(isinstance(s, _WarpStage) for s in self._stages):
            return (shape[0], 1, shape[1], 1)  # noise alone needs no geometry: any rows will do
        if len(shape) == 2:
            raise AugmentError(f"images of shape {tuple(shape)} look like flattened rows: give Compose "
                               "image_shape=(h, w) or (h, w, c)")
        raise AugmentError(f"images must be (n, h, w), (n, h, w, c) or rows (n, h*w*c), got shape {tuple(shape)}")

    def check_rows(self, n_features: int) -> None:
        """Raise AugmentError unless rows of ``n_features`` values can be augmented (for the training loop)."""
        self._nhwc_shape((1, int(n_features)))

    # ---- execution ------------------------------------------------------------------------------------------

    def _matrices(self, stage: _WarpStage, n: int, h: int, w: int, seed: int, step: int, index0: int) -> np.ndarray:
        if self._mats.shape[0] < n:
            self._mats = np.empty((n, 6))
        mats = self._mats[:n]
        _ops.augment_matrices(stage.codes, stage.params, stage.slots, seed, step, index0, h, w, mats)
        return mats

    def _scratch_like(self, a: np.ndarray, which: str = "_scratch") -> np.ndarray:
        s = getattr(self, which)
        if s is None or s.shape != a.shape or s.dtype != a.dtype:
            s = np.empty_like(a)
            setattr(self, which, s)
        return s

    def apply(self, x: np.ndarray, out: np.ndarray, seed: int, step: int = 0, index0: int = 0,
              rows: np.ndarray | None = None) -> np.ndarray:
        """Augment the batch ``x`` into the preallocated ``out`` (same shape and dtype, float32/float64,
        C-contiguous, not overlapping ``x``) and return ``out``. Image i's randomness is keyed by
        (seed, step, index0 + i). Allocates nothing after the first call with a given batch size.

        ``rows`` (1-D int64 indices into x) augments the images x[rows] instead (``out`` then holds len(rows)
        images): a shuffled batch is read straight from the dataset, without gathering it first."""
        if not isinstance(x, np.ndarray) or not isinstance(out, np.ndarray):
            raise TypeError("apply takes numpy arrays x and out")
        n_src, h, w, c = self._nhwc_shape(x.shape)
        n, out_shape = n_src, x.shape
        if rows is not None:
            rows = c_array(row_indices("rows", rows, n_src, "images of x", error=AugmentError, contiguous=False))
            n, out_shape = rows.shape[0], (rows.shape[0],) + x.shape[1:]
        if out.shape != out_shape or out.dtype != x.dtype:
            raise AugmentError(f"out must have the shape {out_shape} and dtype {x.dtype}, got {out.shape} "
                               f"{out.dtype}")
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"apply works on float32/float64 batches, got {x.dtype}; call the pipeline instead")
        if np.may_share_memory(x, out):
            raise AugmentError("out must not overlap x")
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            raise AugmentError("x and out must be C-contiguous")
        self._check_fill_value(x.dtype)
        if n == 0:  # nothing to augment (the noise's per-image size is read from the first image)
            return out
        x4, out4 = x.reshape(n_src, h, w, c), out.reshape(n, h, w, c)
        cur = x4
        if rows is not None and not (self._stages and isinstance(self._stages[0], _WarpStage)):
            # only a warp reads rows itself; mode="clip" (rows are checked above) avoids a buffered copy
            cur = np.take(x4, rows, axis=0, out=self._scratch_like(out4, "_gathered"), mode="clip")
            rows = None
        for stage in self._stages:
            if isinstance(stage, _WarpStage):
                dst = out4 if cur is not out4 else self._scratch_like(out4)
                noise = stage.noise.spec(seed, step, index0) if stage.noise is not None else None
                _ops.warp_affine(cur, self._matrices(stage, n, h, w, seed, step, index0), dst, self.fill_mode,
                                 self.fill_value, noise, rows)
                rows = None
            else:
                dst = out4
                _ops.gaussian_noise(cur.reshape(n, -1), out4.reshape(n, -1), stage.std, seed, step, index0,
                                    stage.slot, stage.clip)
            cur = dst
        if cur is not out4:
            np.copyto(out4, cur)
        return out

    def __call__(self, images: ArrayLike, seed: int | None = None, step: int = 0) -> np.ndarray:
        """A new array of the same shape and dtype with every image augmented. ``seed=None`` draws a fresh seed
        from the operating system (not reproducible); pass an int for reproducible results."""
        images = np.asarray(images)
        if images.dtype.kind not in "biuf":  # complex pixels lost their imaginary part with only a warning
            raise TypeError(f"images must hold real numbers (floats, integers or booleans), got dtype {images.dtype}")
        self._nhwc_shape(images.shape)
        # the streams take the seed mod 2**64: -1 and 2**64 would alias 2**64 - 1 and 0 silently
        seed = secrets.randbits(64) if seed is None else check_seed(seed)
        step = check_scalar(step, "step", numbers.Integral, min_val=0, max_val=SEED_LIMIT - 1)
        dt = images.dtype
        native = dt.newbyteorder("=")  # '>f4' is float32 too: resampled in float32, not converted
        work_dtype = native if native in (np.float32, np.float64) else np.float32 if dt.itemsize <= 2 else np.float64
        work = c_array(images, work_dtype)
        out = np.empty_like(work)
        self.apply(work, out, seed, step)
        if out.dtype == dt:
            return out
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            top = out.dtype.type(info.max)  # rounds up for 64-bit types: clip below it, not to it
            if int(top) > info.max:
                top = np.nextafter(top, out.dtype.type(0))
            out = np.clip(np.rint(out), info.min, top)
        elif dt == np.bool_:
            out = out >= 0.5
        return out.astype(dt)

    def warp_matrices(self, n: int, image_size, seed: int, step: int = 0, index0: int = 0,
                      stage: int = 0) -> np.ndarray:
        """The (n, 2, 3) inverse maps of the ``stage``-th geometric run for images index0 .. index0 + n - 1 of
        size ``image_size=(h, w)``: row i maps output pixel (x=column, y=row, 1) to its input position (x, y)."""
        warps = [s for s in self._stages if isinstance(s, _WarpStage)]
        if not warps:
            raise AugmentError("this pipeline has no geometric transforms")
        # checked as __call__ and image_shape are: int() read (4.7, 4) as (4, 4), and the streams take the seed
        # mod 2**64, so -1 aliased 2**64 - 1
        n = check_scalar(n, "n", numbers.Integral, min_val=0, error=AugmentError)
        h, w = self._check_image_shape(image_size, "image_size", lengths=(2,))
        seed = check_seed(seed)
        step = check_scalar(step, "step", numbers.Integral, min_val=0, max_val=SEED_LIMIT - 1)
        index0 = check_scalar(index0, "index0", numbers.Integral, min_val=0, max_val=SEED_LIMIT - 1)
        stage = check_scalar(stage, "stage", numbers.Integral, min_val=0, max_val=len(warps) - 1, error=AugmentError)
        mats = np.empty((n, 6))
        _ops.augment_matrices(warps[stage].codes, warps[stage].params, warps[stage].slots, seed, step, index0, h,
                              w, mats)
        return mats.reshape(n, 2, 3)

    def _check_fill_value(self, dtype: np.dtype) -> None:
        """A constant fill is a pixel of the working dtype: 1e300 is finite in float64 and inf in float32."""
        if self.fill_mode == "constant":
            with np.errstate(over="ignore"):
                fill = dtype.type(self.fill_value)
            if not np.isfinite(fill):
                raise AugmentError(f"fill_value {self.fill_value!r} is beyond the range of {dtype.name}, the dtype "
                                   "the images are augmented in")

    # ---- description ----------------------------------------------------------------------------------------

    def get_config(self) -> dict:
        return class_config(self, transforms=[t.get_config() for t in self.transforms],
                            image_shape=None if self.image_shape is None else list(self.image_shape),
                            fill_mode=self.fill_mode, fill_value=self.fill_value)

    @classmethod
    def from_config(cls, config: dict) -> Compose:
        ts = []
        for tc in config["transforms"]:
            transform, args = TRANSFORMS.split(tc)
            if transform is RandomShift and isinstance(args.get("max_shift"), list):
                args["max_shift"] = tuple(args["max_shift"])
            ts.append(transform(**args))
        return cls(ts, image_shape=config.get("image_shape"), fill_mode=config.get("fill_mode", "constant"),
                   fill_value=config.get("fill_value", 0.0))

    def __repr__(self) -> str:
        extra = f", image_shape={self.image_shape}" if self.image_shape else ""
        return f"Compose({self.transforms!r}{extra}, fill_mode={self.fill_mode!r})"

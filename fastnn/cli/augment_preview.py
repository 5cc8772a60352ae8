"""``fastnn augment-preview``: write a PNG grid of original images next to augmented copies.

Examples::

    fastnn augment-preview                                   # Fashion-MNIST if installed, else the digits
    fastnn augment-preview --rotation 20 --shift 0.1 --zoom 0.15 --flip horizontal --noise 0.05 -o grid.png
    fastnn augment-preview --data images.npy --image-shape 32,32,3 --fill-mode reflect

Each row shows one image: the original on the left, then ``--copies`` independent augmented versions (keys
(seed, k, image) for k = 0, 1, 2 ...). The PNG is written by a small built-in encoder (zlib), so no plotting
library is needed. The augmentation flags are the ones ``fastnn train`` takes (there they default to off).
"""
from __future__ import annotations

import argparse
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..formats.common import atomic_write_bytes
from ._data import map_npy, read_arrays
from ._types import checked, int_list, int_or_float, positive_int, replaced_file_ending, seed_int

COMMAND = "augment-preview"


# ------------------------------------------------------------------------------------------------ PNG


def write_png(path, pixels: np.ndarray) -> None:
    """Write a uint8 image (h, w) grey or (h, w, 3) RGB as an 8-bit PNG (no filtering, zlib level 9), atomically."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"PNG pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 2:
        color_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        color_type = 2
    else:
        raise ValueError(f"PNG pixels must be (h, w) or (h, w, 3), got shape {pixels.shape}")
    h, w = pixels.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"PNG image must not be empty, got shape {pixels.shape}")
    rows = np.ascontiguousarray(pixels).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter type 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9))
           + chunk(b"IEND", b""))
    atomic_write_bytes(path, png)  # a failed write leaves the old file, not a truncated image


def grid_image(originals: np.ndarray, augmented: list[np.ndarray], scale: int = 3, gap: int = 2,
               value_range: tuple[float, float] | None = None) -> np.ndarray:
    """uint8 grid: row i = [original i | augmented[0][i] | augmented[1][i] ...], each tile upscaled by ``scale``
    (nearest), separated by ``gap`` pixels of mid-grey. Images are (n, h, w) or (n, h, w, 3); values are mapped
    from ``value_range`` (default: the originals' min..max) to 0..255 and clipped."""
    tiles = [originals] + list(augmented)
    n, h, w = originals.shape[:3]
    color = originals.ndim == 4
    lo, hi = value_range if value_range is not None else (float(np.nanmin(originals)), float(np.nanmax(originals)))
    span = hi - lo if hi > lo else 1.0
    th, tw = h * scale, w * scale
    H = n * th + (n + 1) * gap
    Wd = len(tiles) * tw + (len(tiles) + 1) * gap
    out = np.full((H, Wd, 3) if color else (H, Wd), 128, np.uint8)
    for j, batch in enumerate(tiles):
        v = np.nan_to_num((np.asarray(batch, np.float64) - lo) / span, nan=0.0)
        v = np.clip(np.rint(v * 255), 0, 255).astype(np.uint8)
        v = v.repeat(scale, axis=1).repeat(scale, axis=2)
        for i in range(n):
            r0, c0 = gap + i * (th + gap), gap + j * (tw + gap)
            out[r0:r0 + th, c0:c0 + tw] = v[i]
    return out


# ------------------------------------------------------------------------------------------------ CLI


def _checked_by(constructor, parse=float, expected: str = "a number"):
    """An argparse type checked by building the transform the value is for: the constructor's own check."""
    return checked(parse, constructor, expected)


def _number_or_pair(text: str) -> float | tuple[float, ...]:
    parts = text.split(",")
    return float(text) if len(parts) == 1 else tuple(float(p) for p in parts)


def add_augment_arguments(p, rotation: float = 0.0, shift=0, zoom: float = 0.0) -> None:
    """The augmentation flags, shared by ``augment-preview`` and ``train`` (which keeps them off by default).
    Each value is checked while parsing by the constructor it is for (0 turns a transform off)."""
    from .. import augment as A

    g = p.add_argument_group("augmentation (fastnn.augment)")
    g.add_argument("--rotation", type=_checked_by(lambda d: A.RandomRotation(abs(d))), default=rotation,
                   help=f"max rotation in degrees, both ways (default {rotation:g}; 0 disables)")
    g.add_argument("--shift", type=_checked_by(A.RandomShift, int_or_float, "pixels (int) or a fraction (float)"),
                   default=shift, help=f"max shift: int pixels or float fraction of the size (default {shift}; "
                   "0 disables)")
    g.add_argument("--zoom", type=_checked_by(A.RandomZoom, _number_or_pair, "z or LOW,HIGH"), default=zoom,
                   help=f"z: zoom factors in [1 - z, 1 + z], z < 1; or LOW,HIGH factors (default {zoom:g}; "
                   "0 disables)")
    g.add_argument("--flip", choices=["none", "horizontal", "vertical", "both"], default="none",
                   help="random flips (default none: digits and clothes have a handedness)")
    g.add_argument("--flip-p", type=_checked_by(lambda p: A.RandomFlip(p=p)), default=0.5,
                   help="flip probability in [0, 1] (default 0.5)")
    g.add_argument("--noise", type=_checked_by(A.GaussianNoise), default=0.0,
                   help="Gaussian noise std >= 0, in the data's units (default 0)")
    g.add_argument("--fill-mode", choices=["constant", "nearest", "reflect"], default="constant")
    g.add_argument("--fill-value", type=_checked_by(lambda v: A.Compose([], fill_value=v)), default=0.0)
    g.add_argument("--image-shape", default=None, metavar="H,W[,C]",
                   type=_checked_by(lambda s: A.Compose([], image_shape=s), lambda t: tuple(int_list(t)), "H,W[,C]"),
                   help="shape of one image when the data are flattened rows")


_NAMED_DATA = ("auto", "fashion-mnist", "embedded")


def _data_spec(text: str) -> str:
    if text in _NAMED_DATA or text.lower().endswith((".npy", ".npz")):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, fashion-mnist, embedded or a .npy / .npz file, got {text!r}")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        COMMAND, help="write a PNG grid of original vs augmented images", usage="%(prog)s [options]",
        description="Augment a few images with fastnn.augment and write a PNG grid: each row is one image, the "
        "original first, then independent augmented copies.",
        epilog="example: fastnn augment-preview --rotation 20 --shift 0.1 --zoom 0.15 --flip horizontal "
        "--noise 0.05 -o grid.png", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=_data_spec, default="auto",
                   help="'auto' (Fashion-MNIST test images if installed, else the embedded digits), 'fashion-mnist', "
                   "'embedded', or a .npy/.npz file of images (n, h, w), (n, h, w, c) or rows with --image-shape "
                   "(.npz: the array 'X', 'X_test', 'images' or the first one)")
    p.add_argument("-n", "--n", dest="n", type=positive_int("n"), default=8,
                   help="images (rows of the grid; default 8)")
    p.add_argument("--copies", type=positive_int("copies"), default=4, help="augmented copies per image (default 4)")
    add_augment_arguments(p, rotation=15.0, shift=0.1, zoom=0.1)
    p.add_argument("--seed", type=seed_int, default=0, help="augmentation seed (default 0)")
    p.add_argument("--scale", type=positive_int("scale"), default=3,
                   help="upscaling of each tile, nearest neighbour (default 3)")
    # a .npy / .npz name would be --data's own file, or another data file, overwritten with an image
    p.add_argument("--output", "-o", type=replaced_file_ending(".png", "the grid is written as PNG"),
                   default="augment_preview.png",
                   help="PNG to write (default augment_preview.png)")
    return p


def _load_images(spec: str, image_shape):
    from .. import datasets

    if spec in ("auto", "fashion-mnist"):
        try:
            _, _, X, _ = datasets.load_fashion_mnist(flatten=False)
            return X, "Fashion-MNIST test images"
        except FileNotFoundError:
            if spec == "fashion-mnist":
                raise
    if spec in ("auto", "embedded"):
        X, _, _, _ = datasets.load_embedded()
        return X.reshape(-1, 8, 8), "embedded UCI digits"
    path = Path(spec)  # both readers check that it is a regular file (a FIFO would block)
    X = _read_npz_images(path) if path.suffix.lower() == ".npz" else map_npy(spec)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"--data {spec}: images must be real numbers, got dtype {X.dtype}")
    if X.ndim == 0 or len(X) == 0:
        raise ValueError(f"--data {spec}: holds no images (shape {X.shape})")
    if image_shape is not None and X.ndim == 2:
        if X.shape[1] != math.prod(image_shape):
            raise ValueError(f"--image-shape {','.join(map(str, image_shape))}: rows of {spec} hold {X.shape[1]} "
                             f"values, not {math.prod(image_shape)}")
        X = X.reshape((X.shape[0],) + tuple(image_shape))
    return X, str(path)


def _read_npz_images(path: Path) -> np.ndarray:
    """The images of an .npz, read by the hardened reader ``train --data`` uses (no pickle, sizes checked)."""
    arrays = read_arrays(str(path))
    key = next((k for k in ("X", "X_test", "images") if k in arrays), next(iter(arrays), None))
    if key is None:
        raise ValueError(f"--data {path}: the file holds no arrays")
    return arrays[key]


def build_pipeline(args, image_shape=None):
    """The Compose the flags describe (no transforms when all are off)."""
    from .. import augment as A

    ts: list[A.Transform] = []
    if args.rotation:
        ts.append(A.RandomRotation(abs(args.rotation)))
    if args.shift:
        ts.append(A.RandomShift(args.shift))
    if args.zoom:
        ts.append(A.RandomZoom(args.zoom))
    if args.flip != "none":
        ts.append(A.RandomFlip(horizontal=args.flip in ("horizontal", "both"),
                               vertical=args.flip in ("vertical", "both"), p=args.flip_p))
    if args.noise:
        ts.append(A.GaussianNoise(args.noise))
    return A.Compose(ts, image_shape=image_shape, fill_mode=args.fill_mode, fill_value=args.fill_value)


def run(args) -> int:
    pipeline = build_pipeline(args)
    X, source = _load_images(args.data, args.image_shape)
    if X.ndim == 2:
        raise ValueError(f"{source} holds flattened rows {X.shape}: pass --image-shape H,W[,C]")
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if not (X.ndim == 3 or (X.ndim == 4 and X.shape[3] == 3)):
        raise ValueError(f"images must be (n, h, w), (n, h, w, 1) or (n, h, w, 3) to preview, got {X.shape}")
    X = np.array(X[: args.n])  # owned: a .npy is memory-mapped
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    copies = [pipeline(X, seed=args.seed, step=k) for k in range(args.copies)]
    lo, hi = float(np.nanmin(X)), float(np.nanmax(X))
    write_png(args.output, grid_image(X, copies, scale=args.scale, value_range=(lo, hi)))
    print(f"wrote {args.output}: {len(X)} {source} (left) and {args.copies} augmented copies each, "
          f"pipeline {pipeline!r}")
    return 0

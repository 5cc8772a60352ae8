"""File containers at the bottom floor: bytes <-> named arrays and string metadata, nothing more.

``safetensors`` (read and written) and ``npz`` (read) are implemented by hand in numpy and hardened against
hostile files; they know nothing of layers or models. The fastnn model file (a safetensors file whose
metadata holds the architecture) is built on them in :mod:`fastnn.io`, above the models.
"""
from .arrays import load_arrays
from .common import ModelFileError
from .npz import read_npy, read_npz
from .safetensors import read_safetensors, write_safetensors

__all__ = ["ModelFileError", "load_arrays", "read_npy", "read_npz", "read_safetensors", "write_safetensors"]

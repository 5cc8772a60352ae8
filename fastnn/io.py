"""fastnn model files: :func:`save` and :func:`load` a model as a safetensors file with its architecture.

A fastnn model file is a safetensors file (the container, hardened against hostile input, is in
:mod:`fastnn.formats.safetensors`) whose metadata is
``{"format": "fastnn", "format_version": "1", "fastnn_version": ..., "config": json.dumps(model.get_config())}``
and whose tensors are ``model.state_arrays()``. Any safetensors reader can open it; :func:`load_arrays` reads
plain weight files (safetensors or ``.npz``). This module sits above :mod:`fastnn.models` (``load`` builds a
model); the containers below know nothing of models. ``read_safetensors``, ``write_safetensors``,
``load_arrays`` and ``ModelFileError`` are re-exported here, where they always were.
"""
from __future__ import annotations

import os
from typing import Any

from ._version import __version__
from .formats import ModelFileError, load_arrays, read_safetensors, write_safetensors
from .formats.common import is_int, strict_json
from .formats.modelfile import FORMAT_NAME, FORMAT_VERSION, write_model_file
from .formats.safetensors import MAX_HEADER_SIZE, MAX_NDIM  # noqa: F401  (importable from here, as before)
from .models import Sequential, model_from_config

__all__ = [
    "ModelFileError",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "save",
    "load",
    "load_arrays",
    "model_from_parts",
    "read_safetensors",
    "write_safetensors",
]

def save(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` as a fastnn model file (safetensors + architecture as JSON metadata).

    Stores ``model.state_arrays()`` (every parameter and buffer, bit for bit) and ``model.get_config()`` (with
    the model's loss, so ``predict`` of the loaded model has the same meaning).
    The write is atomic: ``path`` holds either the previous file or the complete new one.
    """
    write_model_file(path, model.get_config(), model.state_arrays(), __version__)


def _check_sizes_against_file(path: str | os.PathLike[str], config: dict[str, Any],
                              arrays: dict[str, Any]) -> None:
    """Refuse a config whose layer sizes imply more parameters than the file holds, before anything is built.

    Building a model allocates and initializes its parameters; without this check a few-byte config such as
    ``input_dim=10**6`` with ``units=10**6`` would make ``load`` allocate terabytes. Walks the Sequential
    chain (input_dim, then each layer's "units"): every Dense-like layer owns an in*units weight that must be
    among the stored tensors, so in*units cannot exceed the number of stored elements.
    """
    budget = sum(int(a.size) for a in arrays.values())
    dim = config.get("input_dim")
    if dim is not None and (not is_int(dim) or dim < 0 or dim > budget):
        raise ModelFileError(path, f"config input_dim={dim!r:.50} is inconsistent with the {budget} stored values")
    layers = config.get("layers", [])
    if not isinstance(layers, list):
        raise ModelFileError(path, "config 'layers' must be a list")
    for i, layer in enumerate(layers):
        units = layer.get("units") if isinstance(layer, dict) else None
        if units is None:
            continue
        if not is_int(units) or units < 0 or units > budget or (dim is not None and dim * units > budget):
            raise ModelFileError(path, f"config layer {i}: units={units!r:.50} (with {dim} inputs) implies more "
                                       f"parameters than the {budget} values stored in the file")
        dim = units


def load(path: str | os.PathLike[str]) -> Sequential:
    """Read a fastnn model file written by :func:`save` and return the model, weights restored bit for bit.

    Checks, in order: the safetensors container (see :func:`read_safetensors`), ``format == "fastnn"``,
    ``format_version == "1"``, that ``config`` is a JSON object naming a class, that the layer sizes it
    declares fit the stored tensors (so a hostile config cannot make the build allocate a huge model), then
    builds the model with ``fastnn.models.model_from_config`` and checks every stored tensor's name, shape
    and dtype against the new model before ``model.load_state_arrays``. Any failure raises
    :class:`ModelFileError`; nothing is pickled or evaluated.
    """
    arrays, meta = read_safetensors(path)
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise ModelFileError(path, f"not a fastnn model file (metadata format={fmt!r}, expected "
                                   f"{FORMAT_NAME!r}); fastnn.io.load_arrays reads plain weight files")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, str) and version.isdigit() and int(version) > int(FORMAT_VERSION)
        raise ModelFileError(path, f"format_version {version!r}: " + (
            f"written by a newer fastnn ({meta.get('fastnn_version', '?')}); upgrade fastnn to read it" if newer
            else f"this fastnn reads format_version {FORMAT_VERSION!r}"))
    text = meta.get("config")
    if text is None:
        raise ModelFileError(path, "metadata has no 'config' (the model architecture)")
    try:
        config = strict_json(text)
    except RecursionError:
        raise ModelFileError(path, "model config JSON is nested too deeply") from None
    except ValueError as exc:
        raise ModelFileError(path, f"model config is not valid JSON ({exc})") from None
    return model_from_parts(path, config, arrays)


def model_from_parts(path: str | os.PathLike[str], config: object, arrays: dict[str, Any]) -> Sequential:
    """The model a file's ``config`` and ``arrays`` describe (the checks of :func:`load` after the container:
    a config naming a class, sizes that fit the stored tensors, every tensor's name, shape and dtype), with the
    weights restored bit for bit; any failure is a :class:`ModelFileError` naming ``path``. fastnn.resume
    builds a checkpoint's model with it."""
    if not isinstance(config, dict):
        raise ModelFileError(path, f"model config must be a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("class"), str):
        raise ModelFileError(path, "model config has no 'class' name")
    _check_sizes_against_file(path, config, arrays)

    try:
        model = model_from_config(config, arrays)
    except Exception as exc:  # a hostile config can trip anything in the builders: report it as a file error
        raise ModelFileError(path, f"cannot build the model from its config ({type(exc).__name__}: {exc})") from exc
    try:
        expected = model.state_arrays()
    except Exception as exc:
        raise ModelFileError(path, f"model built from the config has no state ({type(exc).__name__}: {exc})") from exc
    missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ModelFileError(path, f"tensors do not match the architecture: missing {missing}, unexpected {extra}")
    for name, want in expected.items():
        got = arrays[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ModelFileError(path, f"tensor {name!r}: stored {got.dtype}{list(got.shape)}, the architecture "
                                       f"needs {want.dtype}{list(want.shape)}")
    try:
        model.load_state_arrays(arrays)
    except Exception as exc:
        raise ModelFileError(path, f"cannot load the weights ({type(exc).__name__}: {exc})") from exc
    return model

"""fastnn model files: :func:`~fastnn.io.save` and :func:`~fastnn.io.load` a model as a safetensors file with
its architecture.

A fastnn model file is a safetensors file (the container, hardened against hostile input, is in
``fastnn.formats.safetensors``) whose metadata is
``{"format": "fastnn", "format_version": "1", "fastnn_version": ..., "config": json.dumps(model.get_config()),
"step_count": str(model.step_count)}`` (the step count is a record for ``fastnn inspect``: load does not restore
it, and files without it load) and whose tensors are ``model.state_arrays()``. Any safetensors reader can open
it; :func:`load_arrays` reads plain weight files (safetensors or ``.npz``). This module sits above
``fastnn.models`` (``load`` builds a model); the containers below know nothing of models. ``read_safetensors``,
``write_safetensors``, ``load_arrays`` and ``ModelFileError`` are re-exported here, where they always were.
"""
from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

from ._version import __version__
from .formats import ModelFileError, load_arrays, read_safetensors, write_safetensors
from .formats.common import strict_json
from .formats.modelfile import FORMAT_NAME, FORMAT_VERSION, write_model_file
from .formats.safetensors import MAX_HEADER_SIZE, MAX_NDIM  # noqa: F401  (importable from here, as before)
from .inference.files import MAX_FREE_WIDTH, width_allowed
from .models import Sequential, model_from_config, state_spec_from_config
from .pretrained import invalid_values
from .validation import MAX_STEP, check_scalar

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

# A Sequential has no use for thousands of layers; layers without stored arrays (activations, dropout) are
# allowed a few per stored array. Checked before any layer is constructed: each one costs time and memory
# at load and a workspace per batch size at predict, so their number must be paid for by the file.
MAX_LAYERS = 10_000
LAYERS_FREE = 16
LAYERS_PER_TENSOR = 4
# A layer's config is a few hundred bytes: a config text longer than this per allowed layer is refused
# before it is parsed.
CONFIG_BYTES_BASE = 64 << 10
CONFIG_BYTES_PER_LAYER = 1 << 10
_PREPROCESS = "preprocess."


def save(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` as a fastnn model file (safetensors + architecture as JSON metadata).

    Stores ``model.state_arrays()`` (every parameter and buffer, bit for bit) and ``model.get_config()`` (with
    the model's loss, so ``predict`` of the loaded model has the same meaning), and records ``model.step_count``
    (its optimizer steps since it was built or loaded; :func:`load` does not restore it: no training state is
    stored).
    The write is atomic: ``path`` holds either the previous file or the complete new one, with the previous
    file's permission bits; temporaries left by a save that was killed are removed by the next one. Refused
    before anything is written (so a good file is never replaced by one :func:`load` would refuse): weights
    that are NaN, infinite or otherwise invalid (ValueError naming every such tensor), a config that is not
    JSON (TypeError), a preprocessor that is not fitted yet (ValueError), and a ``path`` that is a symbolic link
    (ValueError: save to the file it points to, or remove the link) or exists as something other than a regular
    file.
    """
    config, arrays = model.file_contents()  # refuses weights load would refuse
    steps = getattr(model, "step_count", None)  # an object with file_contents() but no step count records none
    if steps is not None:
        steps = check_scalar(steps, "model.step_count", numbers.Integral, min_val=0, max_val=MAX_STEP)
    write_model_file(path, config, arrays, __version__, steps)


def recorded_step_count(path: str | os.PathLike[str], meta: Mapping[str, str]) -> int | None:
    """The optimizer steps a model file's metadata records (``model.step_count`` when it was saved: the steps since
    the model was built or loaded), or None when it records none (a file written before fastnn recorded
    it). Untrusted input: anything but a decimal count in [0, MAX_STEP] is a ModelFileError."""
    text = meta.get("step_count")
    if text is None:
        return None
    if not (isinstance(text, str) and 0 < len(text) <= len(str(MAX_STEP)) and text.isascii() and text.isdigit()
            and int(text) <= MAX_STEP):
        raise ModelFileError(path, f"metadata step_count must be a count of optimizer steps in [0, {MAX_STEP}] "
                                   f"written in decimal, got {text!r:.60}")
    return int(text)


def _check_format(path: str | os.PathLike[str], meta: dict[str, str]) -> str:
    """The config text of a file whose metadata says fastnn, format_version 1."""
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
    recorded_step_count(path, meta)  # a record only, but refused when malformed as any other field is
    return text


def _layer_budget(arrays: dict[str, Any]) -> tuple[int, int]:
    """(layer arrays stored, the most layers a file storing them may declare: see MAX_LAYERS)."""
    n_tensors = sum(1 for name in arrays if not name.startswith(_PREPROCESS))
    return n_tensors, min(MAX_LAYERS, LAYERS_FREE + LAYERS_PER_TENSOR * n_tensors)


def _parse_config(path: str | os.PathLike[str], text: str, arrays: dict[str, Any]) -> object:
    """The config text parsed as strict JSON; refused before parsing when it is longer than the layers a file
    with these arrays may declare could need."""
    n_tensors, max_layers = _layer_budget(arrays)
    limit = CONFIG_BYTES_BASE + CONFIG_BYTES_PER_LAYER * max_layers
    if len(text) > limit:
        raise ModelFileError(path, f"model config is {len(text)} characters, more than the {limit} a model of "
                                   f"at most {max_layers} layers (for the {n_tensors} layer arrays stored) needs")
    try:
        return strict_json(text)
    except RecursionError:
        raise ModelFileError(path, "model config JSON is nested too deeply") from None
    except ValueError as exc:
        raise ModelFileError(path, f"model config is not valid JSON ({exc})") from None


def _check_config(path: str | os.PathLike[str], config: object, arrays: dict[str, Any]) -> dict[str, Any]:
    """``config`` if it is a JSON object naming a class, with a list of no more layers than a file with these
    arrays may declare (checked before any layer is constructed)."""
    if not isinstance(config, dict):
        raise ModelFileError(path, f"model config must be a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("class"), str):
        raise ModelFileError(path, "model config has no 'class' name")
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise ModelFileError(path, "model config 'layers' must be a list")
    n_tensors, max_layers = _layer_budget(arrays)
    if len(layers) > max_layers:
        raise ModelFileError(path, f"model config declares {len(layers)} layers, more than the {max_layers} a file "
                                   f"storing {n_tensors} layer arrays may declare ({LAYERS_FREE} + "
                                   f"{LAYERS_PER_TENSOR} per array, at most {MAX_LAYERS})")
    return config


def _check_tensors(path: str | os.PathLike[str], config: dict[str, Any], arrays: dict[str, Any]) -> None:
    """The stored layer tensors are exactly those the config implies (every name, shape and dtype, computed
    from the config without building the model or allocating anything), and their values are usable. An
    exact match bounds what building the model allocates by what the file stores; the input width, which
    layers without arrays leave free, is bounded by MAX_FREE_WIDTH unless a stored tensor is larger."""
    try:
        spec = state_spec_from_config(config)
    except Exception as exc:  # a hostile config can trip anything in the layer constructors
        raise ModelFileError(path, f"cannot build the model from its config ({type(exc).__name__}: {exc})") from exc
    stored = {k: v for k, v in arrays.items() if not k.startswith(_PREPROCESS)}
    missing, extra = sorted(set(spec) - set(stored)), sorted(set(stored) - set(spec))
    if missing or extra:
        raise ModelFileError(path, f"tensors do not match the architecture: missing {missing!s:.300}, unexpected "
                                   f"{extra!s:.300}")
    for name, (shape, dtype) in spec.items():
        got = stored[name]
        if got.shape != shape or got.dtype != dtype:
            raise ModelFileError(path, f"tensor {name!r}: stored {got.dtype}{list(got.shape)}, the architecture "
                                       f"needs {dtype}{list(shape)}")
    problems = invalid_values(stored)
    if problems:
        name, problem = next(iter(problems.items()))
        raise ModelFileError(path, f"tensor {name!r} {problem}")
    # Layers without arrays (activations, LayerNorm without affine) take any width, and what the model is asked
    # to do later is sized by it (a plan's scratch, an export's LayerNorm gamma of ones): bound it by the
    # tensors that back it, or by the plan files' bound when none is that large.
    width = config["input_dim"]  # a positive int: state_spec_from_config checked it
    if not width_allowed(width, arrays.values()):
        raise ModelFileError(path, f"input_dim={width}: more features than any stored tensor holds, and more than "
                                   f"the {MAX_FREE_WIDTH} a model may take without one")


def _check_preprocess(path: str | os.PathLike[str], model: Sequential, arrays: dict[str, Any]) -> None:
    """A restored preprocessor is fitted (save stores no other), used every "preprocess.*" array of the file
    (none is silently ignored), and feeds the first layer: same width, usable in the model's dtype."""
    pre = getattr(model, "preprocess", None)
    stored = sorted(k for k in arrays if k.startswith(_PREPROCESS))
    if pre is None:
        if stored:
            raise ModelFileError(path, f"preprocessor arrays {stored!s:.300} but no preprocessor in the config")
        return
    if not pre.fitted:
        raise ModelFileError(path, "the config's preprocessor is not fitted (model files store fitted ones only)")
    expected = sorted(_PREPROCESS + k for k in pre.state_arrays())
    if stored != expected:
        missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
        raise ModelFileError(path, f"preprocessor arrays do not match its config: missing {missing!s:.300}, "
                                   f"unexpected {extra!s:.300}")
    try:
        pre.check_dtype(model.dtype)
    except ValueError as exc:
        raise ModelFileError(path, f"preprocessor: {exc}") from None


def load(path: str | os.PathLike[str]) -> Sequential:
    """Read a fastnn model file written by :func:`~fastnn.io.save` and return the model, weights restored bit for bit.

    Everything is checked before the model is built, so a hostile file cannot make ``load`` allocate more
    than it stores: the safetensors container (see :func:`~fastnn.io.read_safetensors`; only regular files are
    opened), ``format == "fastnn"`` and ``format_version == "1"``; the layer count (at most 16 plus 4 per
    stored array, and ``MAX_LAYERS`` = 10,000) and the config's length, before the config is parsed into layers;
    that the config is a JSON object naming a class; that the stored tensors are exactly those the config
    implies (every name, shape and dtype, computed without allocating: this bounds what the build
    allocates) and that ``input_dim`` is at most ``MAX_FREE_WIDTH`` (65,536, the bound of plan files) unless a
    stored tensor is larger; that their values are usable (finite, a BatchNorm ``running_var`` >= 0...).
    Then the model is built with ``fastnn.models.model_from_config`` (a preprocessor's state is validated by
    fastnn.preprocessing), its preprocessor must be fitted, use every stored "preprocess.*" array and output
    ``input_dim`` features, and the weights are loaded. Any failure raises :class:`~fastnn.io.ModelFileError`
    naming the tensor or field; nothing is pickled or evaluated.
    """
    arrays, meta = read_safetensors(path)
    text = _check_format(path, meta)
    return model_from_parts(path, _parse_config(path, text, arrays), arrays)


def model_from_parts(path: str | os.PathLike[str], config: object, arrays: dict[str, Any]) -> Sequential:
    """The model a file's parsed ``config`` and ``arrays`` describe, with every check of :func:`load` after the
    container and the config text (layer count, exact tensors and their values, the preprocessor), weights
    restored bit for bit; any failure is a :class:`ModelFileError` naming ``path``. fastnn.resume builds a
    checkpoint's model with it."""
    config = _check_config(path, config, arrays)
    _check_tensors(path, config, arrays)
    try:
        model = model_from_config(config, arrays)
    except Exception as exc:  # a hostile config can trip anything in the builders: report it as a file error
        raise ModelFileError(path, f"cannot build the model from its config ({type(exc).__name__}: {exc})") from exc
    _check_preprocess(path, model, arrays)
    try:
        model.load_state_arrays(arrays)
    except Exception as exc:
        raise ModelFileError(path, f"cannot load the weights ({type(exc).__name__}: {exc})") from exc
    return model

"""Plan files: an :class:`InferencePlan` as a safetensors file, read back hardened like model files.

The container is fastnn.formats.safetensors (every size checked against the file before anything is allocated).
Metadata: ``{"format": "fastnn-plan", "format_version": "1", "fastnn_version": ..., "plan": JSON}``, the JSON
``{"dtype", "output_map", "n_features_in", "info", "layers": [{"kind", "activation", "alpha", "eps", "width"}],
"options": {"threads", "small_batch_max", "block_rows"}}`` (the plan's ``run_options``, what compile was given;
a file without them, as fastnn wrote before it kept them, loads with compile's defaults) and, for a classifier
fitted on labels, ``"classes"`` (the model's ``classes_``: strings or numbers);
tensors ``"<i>.w"`` and ``"<i>.b"`` of the layers that have them, in the plain layout (Dense W (in, out)); the
packed panels are rebuilt on load. :func:`load` checks the format, the JSON (strict: no duplicate keys, no NaN),
every field's type and range (the options as compile checks them), that each tensor belongs to a layer, has the
plan's dtype and the shape the chain of layers implies, and that all values are finite; any failure is a
:class:`fastnn.formats.ModelFileError`.
Nothing is pickled or evaluated.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..formats import ModelFileError, read_safetensors
from ..formats.common import is_int, strict_json
from ..ops import infer as ops
from .plan import FORMAT_NAME, FORMAT_VERSION, InferencePlan, check_run_options

MAX_LAYERS = 10_000
# Width of a plan whose first layers carry no arrays (an activation first): bounded, since it sizes scratch.
# The one bound of an input width no stored tensor backs: model files (fastnn.io) and ONNX files take it too.
MAX_FREE_WIDTH = 1 << 16


def width_allowed(width: int, arrays) -> bool:
    """Whether an input width is bounded by what the file stores: at most MAX_FREE_WIDTH, or at most the size of one
    of ``arrays`` (the arrays a file holds) when one is larger."""
    return width <= max([MAX_FREE_WIDTH] + [a.size for a in arrays])


def save(plan: InferencePlan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` to ``path`` (atomically: the old file or the complete new one); ``plan.save(path)``."""
    if not isinstance(plan, InferencePlan):
        raise TypeError(f"save expects an InferencePlan, got {type(plan).__name__}")
    plan.save(path)


def _field(path: Any, where: str, value: Any, kind: str) -> Any:
    ok = {"str": isinstance(value, str), "int": is_int(value),
          "real": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}[kind]
    if not ok:
        raise ModelFileError(path, f"{where} must be {'a finite number' if kind == 'real' else 'a ' + kind}, "
                                   f"got {value!r:.60}")
    return value


def _layers(path: Any, doc: dict, arrays: dict[str, np.ndarray], dtype: np.dtype) -> list[ops.ProgramLayer]:
    specs = doc.get("layers")
    if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_LAYERS:
        raise ModelFileError(path, f"plan 'layers' must be a list of 1 to {MAX_LAYERS} layers")
    width = _field(path, "plan n_features_in", doc.get("n_features_in"), "int")
    free_width = not any(name.endswith(".w") for name in arrays)
    if not 1 <= width <= (MAX_FREE_WIDTH if free_width else max(a.size for a in arrays.values())):
        raise ModelFileError(path, f"plan n_features_in={width} is inconsistent with the stored tensors")
    used: set[str] = set()
    layers = []
    for i, spec in enumerate(specs):
        where = f"plan layer {i}"
        if not isinstance(spec, dict) or set(spec) != {"kind", "activation", "alpha", "eps", "width"}:
            raise ModelFileError(path, f"{where} must be an object with kind, activation, alpha, eps, width")
        kind, act = _field(path, f"{where} kind", spec["kind"], "str"), _field(path, f"{where} activation",
                                                                              spec["activation"], "str")
        if kind not in ops.KINDS or act not in ops.ACTIVATIONS:
            raise ModelFileError(path, f"{where}: unknown kind {kind!r:.40} or activation {act!r:.40}")
        alpha, eps = _field(path, f"{where} alpha", spec["alpha"], "real"), _field(path, f"{where} eps",
                                                                                  spec["eps"], "real")
        if not (alpha >= 0 and eps > 0):
            raise ModelFileError(path, f"{where}: alpha must be >= 0 and eps > 0")
        w, b = arrays.get(f"{i}.w"), arrays.get(f"{i}.b")
        used.update(k for k in (f"{i}.w", f"{i}.b") if k in arrays)
        for name, a in (("w", w), ("b", b)):
            if a is not None and a.dtype != dtype:
                raise ModelFileError(path, f"tensor '{i}.{name}' is {a.dtype}, the plan is {dtype}")
        if kind == "dense":
            if w is None or b is None or w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ModelFileError(path, f"{where} (dense, {width} inputs) needs '{i}.w' of shape ({width}, n) "
                                           f"and '{i}.b' of shape (n,)")
            width = int(w.shape[1])
        elif kind in ("scale_shift", "layernorm") and (w is not None or kind == "scale_shift"):
            if w is None or b is None or w.shape != (width,) or b.shape != (width,):
                raise ModelFileError(path, f"{where} ({kind}) needs '{i}.w' and '{i}.b' of shape ({width},)")
        elif w is not None or b is not None:
            raise ModelFileError(path, f"{where} ({kind}) takes no tensors")
        has_width = kind in ("activation", "layernorm", "center", "center_std") and w is None
        if _field(path, f"{where} width", spec["width"], "int") != (width if has_width else 0):
            raise ModelFileError(path, f"{where}: width {spec['width']!r:.20} does not match the chain ({width})")
        layers.append(ops.ProgramLayer(kind, act, w, b, float(alpha), float(eps), width if has_width else 0))
    extra = sorted(set(arrays) - used)
    if extra:
        raise ModelFileError(path, f"tensors that belong to no layer: {extra[:5]}")
    return layers


def _run_options(path: Any, doc: dict) -> dict[str, Any]:
    """The plan's run options, checked as compile checks them; the defaults for a file written without them."""
    options = doc.get("options", {})
    if not isinstance(options, dict):
        raise ModelFileError(path, f"plan options must be a JSON object, got {options!r:.40}")
    try:
        return check_run_options(options, where="plan options.")
    except ValueError as exc:
        raise ModelFileError(path, str(exc)) from None


def load(path: str | os.PathLike[str]) -> InferencePlan:
    """Read a plan file written by :meth:`InferencePlan.save` (checks in the module docstring)."""
    arrays, meta = read_safetensors(path, check_finite=True)
    if meta.get("format") != FORMAT_NAME:
        hint = "; a model file loads with fastnn.load" if meta.get("format") == "fastnn" else ""
        raise ModelFileError(path, f"not a fastnn plan file (metadata format={meta.get('format')!r:.40}){hint}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(path, f"plan format_version {meta.get('format_version')!r:.20}: this fastnn reads "
                                   f"{FORMAT_VERSION!r}")
    try:
        doc = strict_json(meta.get("plan", ""))
    except RecursionError:
        raise ModelFileError(path, "plan JSON is nested too deeply") from None
    except ValueError as exc:
        raise ModelFileError(path, f"plan metadata is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ModelFileError(path, "plan metadata must be a JSON object")
    if not isinstance(doc.get("dtype"), str) or doc["dtype"] not in ("float32", "float64"):
        raise ModelFileError(path, f"plan dtype must be 'float32' or 'float64', got {doc.get('dtype')!r:.40}")
    if not isinstance(doc.get("output_map"), str) or doc["output_map"] not in ops.OUTPUTS:
        raise ModelFileError(path, f"plan output_map must be one of {sorted(ops.OUTPUTS)}")
    info = doc.get("info", {})
    if not isinstance(info, dict):
        raise ModelFileError(path, "plan info must be a JSON object")
    classes = doc.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(
            isinstance(c, (str, int, float)) for c in classes)):  # strict_json: bool is int, no NaN or inf
        raise ModelFileError(path, "plan classes must be a JSON array of strings or numbers")
    options = _run_options(path, doc)
    dtype = np.dtype(doc["dtype"])
    layers = _layers(path, doc, arrays, dtype)
    try:
        return InferencePlan(layers, dtype, doc["output_map"], info, classes=classes, **options)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(path, f"cannot build the plan ({exc})") from exc

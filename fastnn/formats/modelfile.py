"""The fastnn model file, as a container: a safetensors file whose metadata names the format and holds the
architecture as JSON. Writing one needs only a config dict and named arrays, so anything that has a model's
``get_config()`` and ``state_arrays()`` can write it (``fastnn.io.save``, and ``ModelCheckpoint`` in
fastnn.training, which sits below the models); reading it back into a model is fastnn.io's job."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .safetensors import write_safetensors

FORMAT_NAME = "fastnn"
FORMAT_VERSION = "1"


def write_model_file(path: str | os.PathLike[str], config: Any, arrays: Mapping[str, np.ndarray],
                     fastnn_version: str, step_count: int | None = None) -> None:
    """Write ``arrays`` with metadata ``{"format": "fastnn", "format_version": "1", "fastnn_version": ...,
    "config": json.dumps(config)}`` and, when given, ``"step_count"`` (the model's optimizer steps, in decimal; the
    caller checked it), atomically. ``config`` must be a JSON-able dict (TypeError otherwise, before the file is
    touched)."""
    if not isinstance(config, dict):
        raise TypeError(f"model.get_config() must return a dict, got {type(config).__name__}")
    try:
        config_text = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"model config is not JSON-serializable: {exc}") from exc
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "fastnn_version": fastnn_version,
                "config": config_text}
    if step_count is not None:
        metadata["step_count"] = str(int(step_count))
    write_safetensors(path, arrays, metadata)


"""What the serving commands (predict, export, inspect) accept as MODEL: a fastnn model file, a plan file
(fastnn.inference) or an ONNX file, told apart by suffix (.onnx) or by the file's metadata."""
from __future__ import annotations

import os
from typing import Any

from ..formats import ModelFileError, read_safetensors


def kind_of(path: str) -> tuple[str, dict[str, str]]:
    """("onnx" | "plan" | "model", the safetensors metadata ({} for ONNX))."""
    if os.fspath(path).lower().endswith(".onnx"):
        return "onnx", {}
    _, meta = read_safetensors(path)
    fmt = meta.get("format")
    if fmt == "fastnn-plan":
        return "plan", meta
    if fmt == "fastnn":
        return "model", meta
    raise ModelFileError(path, f"neither a fastnn model file, a plan file nor .onnx (metadata format={fmt!r:.40})")


def load_model(path: str) -> Any:
    """A fastnn Sequential from a model file or an ONNX file (a plan has no model: a ValueError)."""
    kind, _ = kind_of(path)
    if kind == "plan":
        raise ValueError(f"{path} is a plan file: it holds no trainable model (export and inspect it directly)")
    if kind == "onnx":
        from .. import onnx

        return onnx.load(path)
    from .. import io

    return io.load(path)


def load_plan(path: str) -> Any:
    """An InferencePlan from any of the three kinds (a model is compiled)."""
    from .. import inference

    if kind_of(path)[0] == "plan":
        return inference.load(path)
    return compile_model(load_model(path))


def compile_model(model: Any) -> Any:
    """The InferencePlan of a model (of a model or ONNX file)."""
    from .. import inference

    return inference.compile(model)

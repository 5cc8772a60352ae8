"""``fastnn inspect MODEL``: what a model, plan or ONNX file holds: layers and shapes, parameter count, dtype,
preprocessing, loss, class labels (``classes_``), training metadata and file version.

Example::

    fastnn inspect model.safetensors
"""
from __future__ import annotations

import argparse
import json

from . import _sources

COMMAND = "inspect"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(COMMAND, help="describe a model, plan or ONNX file", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model file, plan file or .onnx")
    return p


def run(args: argparse.Namespace) -> int:
    kind, meta = _sources.kind_of(args.model)
    # the file is read whole before its first line is printed: a file that fails to load prints nothing on stdout
    if kind == "plan":
        from .. import inference

        plan = inference.load(args.model)
        _print_kind(args.model, kind, meta)
        print(plan.summary())
        print(f"  dtype {plan.dtype.name}; from the model: {json.dumps(plan.info)}")
        if plan.classes_ is not None:
            print(f"  classes: {json.dumps(plan.classes_.tolist())}")
        return 0
    model = _sources.load_model(args.model)
    _print_kind(args.model, kind, meta)
    model.summary()
    print(f"  dtype {model.dtype.name}; loss {model.loss.name if model.loss is not None else None}; "
          f"raw input features {model.n_features_in}")
    pre = model.preprocess
    print(f"  preprocessing: {json.dumps(pre.get_config()) if pre is not None else 'none'}")
    classes = model.classes_
    if classes is not None or getattr(model.loss, "predicts_probabilities", False):  # a classifier
        print(f"  classes: {json.dumps(classes.tolist()) if classes is not None else 'the class indices'}")
    print(f"  training: {_training(args.model, meta)}")
    return 0


def _print_kind(path: str, kind: str, meta: dict[str, str]) -> None:
    print(f"{path}: {'ONNX graph' if kind == 'onnx' else 'fastnn ' + kind + ' file'}")
    if meta:
        print(f"  format {meta.get('format')} version {meta.get('format_version')}, written by fastnn "
              f"{meta.get('fastnn_version', '?')}")


def _training(path: str, meta: dict[str, str]) -> str:
    """What a model file records of its training (an ONNX file and older model files record nothing)."""
    from ..io import recorded_step_count

    steps = recorded_step_count(path, meta)
    if steps is None:
        return "not recorded (the file holds no optimizer step count)"
    return f"{steps} optimizer steps (the model's step_count when saved: steps since it was built or loaded)"

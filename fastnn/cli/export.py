"""``fastnn export MODEL OUT.onnx [--opset 17] [--fixed-batch N] [--no-output-map]``: write a model or plan file as
ONNX (BatchNorm and preprocessing folded; needs ``pip install 'fastnn[onnx]'``).

Example::

    fastnn export model.safetensors model.onnx
"""
from __future__ import annotations

import argparse
import os

from . import _sources
from ._types import positive_int, replaced_file_ending

COMMAND = "export"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(COMMAND, help="export a model or plan file to ONNX", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="fastnn model file or plan file")
    p.add_argument("out", type=replaced_file_ending(".onnx", "predict and inspect tell ONNX by its suffix"),
                   help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17; 20 writes Gelu as one node)")
    p.add_argument("--fixed-batch", type=positive_int("--fixed-batch"), default=None, metavar="N",
                   help="a fixed batch size instead of a dynamic one")
    p.add_argument("--no-output-map", action="store_true", help="end with the logits (no Softmax / Sigmoid)")
    return p


def run(args: argparse.Namespace) -> int:
    from .. import onnx

    if os.path.exists(args.out) and os.path.exists(args.model) and os.path.samefile(args.out, args.model):
        raise ValueError(f"OUT {args.out} is the input MODEL file: write the ONNX graph to another file")
    plan = _sources.load_plan(args.model)
    onnx.export(plan, args.out, opset=args.opset, dynamic_batch=args.fixed_batch is None,
                batch_size=args.fixed_batch or 1, output_map=not args.no_output_map)
    print(f"wrote {args.out} ({len(plan.layers)} steps, {plan.n_parameters} parameters, opset {args.opset})")
    return 0

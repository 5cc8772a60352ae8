"""Compile and run bench/row_gemv_layouts.c: which weight layout a batch-1 GEMV that skips zero inputs should
read (dense panel tile / panels with lists / a 256-column block copy / the plain W), on the first 200 Fashion-MNIST
test images and on a dense row. Needs gcc and an AVX-512 CPU (it is compiled with -march=native).

    python bench/row_gemv_layouts.py
"""
from __future__ import annotations

import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    from fastnn.datasets import load_fashion_mnist

    images = load_fashion_mnist(dtype="uint8")[2][:200]
    with tempfile.TemporaryDirectory() as tmp:
        exe, data = os.path.join(tmp, "row_gemv_layouts"), os.path.join(tmp, "images.u8")
        images.tofile(data)
        flags = ["-O3", "-march=native", "-Wno-aggressive-loop-optimizations"]
        subprocess.run(["gcc", *flags, "-o", exe, os.path.join(HERE, "row_gemv_layouts.c"), "-lm"], check=True)
        subprocess.run([exe, data], check=True)


if __name__ == "__main__":
    main()

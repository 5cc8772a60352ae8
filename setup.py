"""Build the compiled kernels of fastnn.

Every ``fastnn/_ext/NAME.pyx`` becomes the extension ``fastnn._ext.NAME``; if ``csrc/NAME.c`` exists it is
compiled into the same extension (plain C99, no Python.h). OpenMP is probed once by compiling, linking and
running a tiny program; without it (or with ``FASTNN_NO_OPENMP=1``) the kernels build serial and a warning
says so.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent.resolve()
OPENMP_PROBE = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n) num_threads(2)
    n += 1;
    printf("%d\n", n);
    return n == 2 ? 0 : 1;
}
"""


def openmp_disabled() -> bool:
    return os.environ.get("FASTNN_NO_OPENMP", "") not in ("", "0")


def openmp_flags():
    """Return (compile, link) flags for OpenMP, or ([], []) when it is unavailable or disabled."""
    if openmp_disabled():
        warnings.warn("FASTNN_NO_OPENMP is set: building fastnn's kernels serial (no OpenMP).")
        return [], []
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(OPENMP_PROBE)
        exe = Path(tmp, "probe")
        try:
            subprocess.run(cc + ["-fopenmp", str(src), "-o", str(exe)], check=True, capture_output=True)
            subprocess.run([str(exe)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            warnings.warn(f"OpenMP probe failed ({exc}); building fastnn's kernels serial. "
                          "Install a compiler with OpenMP support (gcc) for multi-threaded kernels.")
            return [], []
    return ["-fopenmp"], ["-fopenmp"]


# Families whose numpy reference reproduces them bit for bit: their SIMD clones have FMA units, and contracting
# a * b + c into one rounding would break that.
BITWISE_REFERENCE = {"warp"}


def extensions():
    omp_compile, omp_link = openmp_flags()
    # -O3, no -ffast-math (it breaks NaN/inf handling), no -march=native (wheels must run anywhere).
    compile_args = ["-O3", "-fno-strict-aliasing"] + omp_compile
    # Templates and headers are #included, so a change to any of them must rebuild every extension.
    headers = sorted(str(h.relative_to(HERE)) for h in (HERE / "csrc").glob("*.h"))
    exts = []
    for pyx in sorted((HERE / "fastnn" / "_ext").glob("*.pyx")):
        name = pyx.stem
        sources = [str(pyx.relative_to(HERE))]
        c_source = HERE / "csrc" / f"{name}.c"
        if c_source.exists():
            sources.append(str(c_source.relative_to(HERE)))
        exts.append(Extension(
            f"fastnn._ext.{name}", sources,
            include_dirs=["csrc", np.get_include()], depends=headers,
            # FNN_OPENMP_REQUESTED lets a test tell a deliberate serial build from one that lost OpenMP.
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION"),
                           ("FNN_OPENMP_REQUESTED", "0" if openmp_disabled() else "1")],
            extra_compile_args=compile_args + (["-ffp-contract=off"] if name in BITWISE_REFERENCE else []),
            extra_link_args=omp_link,
        ))
    return cythonize(exts, language_level=3, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False})


setup(ext_modules=extensions())

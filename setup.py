"""Build the compiled kernels of fastnn.

Every ``fastnn/_ext/NAME.pyx`` becomes the extension ``fastnn._ext.NAME`` of kernel family NAME, compiled with the
family's C sources ``csrc/NAME.c`` and ``csrc/NAME_*.c`` (plain C99 with GCC/clang extensions, no Python.h).
OpenMP is probed once by compiling, linking and running a tiny program; without it (or with
``FASTNN_NO_OPENMP=1``) the kernels build serial and a warning says so, unless ``FASTNN_FAIL_NO_OPENMP=1`` (release
builds) makes that an error. The probe and the build use ``CC``, ``CPPFLAGS``, ``CFLAGS`` and ``LDFLAGS``:

    Linux (gcc)              -fopenmp, linked against libgomp (auditwheel bundles it in a wheel)
    macOS (Apple clang)      -Xpreprocessor -fopenmp, -lomp; point CFLAGS/LDFLAGS at libomp (Homebrew's:
                             CFLAGS="-I$(brew --prefix libomp)/include" LDFLAGS="-L$(brew --prefix libomp)/lib")
    Windows (clang-cl)       serial (no OpenMP), see WINDOWS below; clang-cl from LLVM on PATH, or FASTNN_CLANG_CL
"""
import os
import platform
import shlex
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
from setuptools.command.build_ext import build_ext

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


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def openmp_disabled() -> bool:
    return env_flag("FASTNN_NO_OPENMP") or sys.platform == "win32"


def platform_openmp_flags():
    """(compile, link) flags that turn OpenMP on with this platform's usual compiler."""
    if sys.platform == "darwin":  # Apple clang has no -fopenmp driver flag; libomp comes from outside (Homebrew)
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def openmp_flags():
    """Return (compile, link) flags for OpenMP, or ([], []) when it is unavailable or disabled."""
    if openmp_disabled():
        why = "Windows builds are serial (setup.py WINDOWS)" if sys.platform == "win32" else "FASTNN_NO_OPENMP is set"
        warnings.warn(f"{why}: building fastnn's kernels serial (no OpenMP).", stacklevel=2)
        return [], []
    compile_flags, link_flags = platform_openmp_flags()
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    env_flags = [f for var in ("CPPFLAGS", "CFLAGS") for f in shlex.split(os.environ.get(var, ""))]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(OPENMP_PROBE)
        exe = Path(tmp, "probe")
        try:
            subprocess.run(cc + env_flags + compile_flags + [str(src), "-o", str(exe)]
                           + shlex.split(os.environ.get("LDFLAGS", "")) + link_flags, check=True, capture_output=True)
            subprocess.run([str(exe)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            message = (f"OpenMP probe failed ({exc}; {detail.decode(errors='replace').strip()[-500:]}). "
                       "Install a compiler with OpenMP support (gcc; on macOS libomp, see setup.py's docstring).")
            if env_flag("FASTNN_FAIL_NO_OPENMP"):
                raise RuntimeError(message + " FASTNN_FAIL_NO_OPENMP is set: a release build needs OpenMP.") from exc
            warnings.warn(message + " Building fastnn's kernels serial.", stacklevel=2)
            return [], []
    return compile_flags, link_flags


def has_ifunc() -> bool:
    """GCC's target_clones (FNN_CLONES in csrc/fnn_simd.h) needs ifunc: glibc has it, musl (Alpine) does not."""
    return not sys.platform.startswith("linux") or platform.libc_ver()[0] == "glibc"


# The fp-contract policy of csrc/fnn_simd.h: families whose results are compared bit for bit (with their numpy
# reference, or between SIMD builds) are compiled without a * b + c -> fma contraction; their sources check for
# FNN_FP_CONTRACT_OFF.
BITWISE_FAMILIES = {"augment", "optim"}


def debug_build() -> bool:
    return env_flag("FASTNN_DEBUG")


SHARED_UTILITY = "fastnn._ext._cyutility"

# Linux and macOS (gcc, clang): -O3, no -ffast-math (it breaks NaN/inf handling), no -march=native (wheels must
# run anywhere). The bitwise families turn contraction off (BITWISE_FAMILIES above).
GCC_ARGS = ["-O3", "-fno-strict-aliasing"]
GCC_BITWISE_ARGS = ["-ffp-contract=off"]

# WINDOWS. The kernels are compiled by clang-cl, LLVM's MSVC-compatible driver (MSVC's headers, C runtime, ABI and
# link.exe; LLVM is preinstalled on GitHub's Windows runners), not by MSVC's cl.exe, which has none of the GNU C
# the kernels are written in: vector types (the register tiles of gemm and infer, norm's 8-lane sums), statement
# expressions, __builtin_convertvector, per-function target attributes (the AVX2 / AVX-512 rungs of fnn_simd.h).
# Portable fallbacks for cl.exe would be a second, slower implementation of those kernels that only Windows builds
# and no Linux test runs; clang-cl compiles the same source as Linux, with the same rungs and fp-contract policy
# (csrc/fnn_simd.h: its own CPU probe, as an MSVC link has no compiler-rt for __builtin_cpu_supports).
# Serial: clang-cl emits LLVM's OpenMP ABI (__kmpc_*), so MSVC's own runtime (vcomp140, which scikit-learn's
# Windows wheels use) cannot serve it; LLVM's libomp.dll could, but it is a second copy of the Intel/LLVM runtime
# beside PyTorch's libiomp5md.dll, and two copies in one process abort ("OMP: Error #15"). A serial build has no
# runtime to collide with (tests/test_build.py checks it trains to the same bits as the OpenMP build).
# tests/test_windows_build.py compiles every csrc/*.c with these flags in clang-cl mode and runs the bitwise
# families, built for Windows, under Wine.
# /O2 then -O3 (clang-cl's /O2 is -O2 plus MSVC's code-generation switches); no math errno, so sqrt is the
# instruction and loops calling it vectorize (optim.c's const sqrt does that for GCC). clang-cl already relaxes
# aliasing (-fno-strict-aliasing) and writes no debug info without /Z7.
CLANG_CL_ARGS = ["/O2", "/clang:-O3", "/clang:-fno-math-errno"]
CLANG_CL_BITWISE_ARGS = ["/clang:-ffp-contract=off"]


def clang_cl() -> str:
    """Path of clang-cl: FASTNN_CLANG_CL, else on PATH, else LLVM's default install directory."""
    found = (os.environ.get("FASTNN_CLANG_CL") or shutil.which("clang-cl")
             or shutil.which(os.path.join(os.environ.get("ProgramFiles", r"C:\Program Files"), "LLVM", "bin",
                                          "clang-cl.exe")))
    if not found:
        raise RuntimeError("fastnn's C kernels are built with clang-cl on Windows (MSVC's cl.exe cannot compile "
                           "their vector extensions, see setup.py WINDOWS): install LLVM (winget install LLVM.LLVM, "
                           "or Visual Studio's 'C++ Clang tools for Windows') or set FASTNN_CLANG_CL to clang-cl.exe.")
    return found


class BuildExt(build_ext):
    """MSVC's toolchain with clang-cl as its compiler (Windows); every other compiler as it is."""

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            self.compiler.initialize()  # finds link.exe and sets up MSVC's INCLUDE / LIB, which clang-cl reads too
            self.compiler.cc = clang_cl()
        super().build_extensions()


def compile_flags(bitwise: bool) -> list[str]:
    """Optimisation and fp-contract flags of one kernel family (OpenMP and debug flags come separately)."""
    if sys.platform == "win32":
        return CLANG_CL_ARGS + (CLANG_CL_BITWISE_ARGS if bitwise else [])
    return GCC_ARGS + (GCC_BITWISE_ARGS if bitwise else [])


def debug_flags():
    """(compile, link) flags: release builds carry no debug info (it is 80% of the .so size); FASTNN_DEBUG=1 keeps
    it. (-s: GNU ld strips the symbol table too; Apple's ld64 calls -s obsolete, and -g0 already leaves no debug
    info; MSVC's toolchain writes none unless asked.)"""
    if sys.platform == "win32":
        return (["/Z7"], ["/DEBUG"]) if debug_build() else ([], [])
    if debug_build():
        return [], []
    return ["-g0"], [] if sys.platform == "darwin" else ["-s"]


def extensions():
    omp_compile, omp_link = openmp_flags()
    debug_compile, debug_link = debug_flags()
    # Templates and headers are #included, so a change to any of them must rebuild every extension.
    headers = sorted(str(h.relative_to(HERE)) for h in (HERE / "csrc").glob("*.h"))
    exts = []
    for pyx in sorted((HERE / "fastnn" / "_ext").glob("*.pyx")):
        name = pyx.stem
        sources = [str(pyx.relative_to(HERE))]
        csrc = HERE / "csrc"
        family = [csrc / f"{name}.c"] if (csrc / f"{name}.c").exists() else []
        sources += [str(c.relative_to(HERE)) for c in family + sorted(csrc.glob(f"{name}_*.c"))]
        bitwise = name in BITWISE_FAMILIES
        exts.append(Extension(
            f"fastnn._ext.{name}", sources,
            include_dirs=["csrc", np.get_include()], depends=headers,
            # FNN_OPENMP_REQUESTED lets a test tell a deliberate serial build from one that lost OpenMP.
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION"),
                           ("FNN_OPENMP_REQUESTED", "0" if openmp_disabled() else "1")]
            + ([("FNN_FP_CONTRACT_OFF", "1")] if bitwise else []) + ([] if has_ifunc() else [("FNN_NO_CLONES", "1")]),
            extra_compile_args=compile_flags(bitwise) + omp_compile + debug_compile,
            extra_link_args=omp_link + debug_link,
        ))
    # One copy of Cython's runtime (memoryviews, fused-type dispatch) shared by every extension, not one each:
    # it was most of each extension's size.
    exts.append(Extension(SHARED_UTILITY, [], extra_compile_args=["/O2" if sys.platform == "win32" else "-O2"]
                          + debug_compile, extra_link_args=debug_link))
    return cythonize(exts, language_level=3, shared_utility_qualified_name=SHARED_UTILITY, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False})


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})

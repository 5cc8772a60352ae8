"""The Windows build, checked from Linux: the kernels as clang-cl compiles them for a Windows wheel (setup.py WINDOWS).

* Every csrc/*.c compiles in clang-cl mode (MSVC's ABI and dialect: _MSC_VER, no __GNUC__) with setup.py's flags,
  against Wine's copy of the MSVC C runtime headers, implicit declarations being errors. The objects call nothing
  but the Universal C runtime (mingw-w64's import library lists its exports) and what MSVC's static runtime adds,
  and carry the AVX2 and AVX-512 rungs of fnn_simd.h.
* The bitwise families (augment, optim), compiled by clang-cl, linked by mingw-w64 and run under Wine, write the
  same bytes as the Linux build (gcc, setup.py's flags, OpenMP, 2 threads) under every SIMD level cap, and the
  Windows CPU probe (cpuid) finds the level GCC's __builtin_cpu_supports finds.

Both take a minute or two (they compile the kernels at -O3 twice), so they run only when selected:
``pytest -m windows tests/test_windows_build.py``; and they skip where the tools are missing. On Debian or Ubuntu:
``apt-get install clang llvm mingw-w64 wine64 libwine-dev`` (libwine-dev has the MSVC-style C runtime headers).
Not shown here: MSVC's link.exe, Microsoft's own C runtime (Wine's is a reimplementation: its sin and cos are not
the UCRT's), the Cython extensions and the wheel: cibuildwheel's Windows job (pyproject.toml) builds and tests those.
"""
import ast
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CSRC = REPO / "csrc"
DRIVER_DIR = Path(__file__).resolve().parent / "windows"
WINE_HEADERS = [Path("/usr/include/wine/wine/msvcrt"), Path("/usr/include/wine/wine/windows")]
UCRT_IMPORT_LIB = Path("/usr/x86_64-w64-mingw32/lib/libucrt.a")
# what link.exe takes from MSVC's static runtime (msvcrt.lib): stack probe, /GS cookie, floating-point marker, and
# the implicit-TLS index of its TLS support (tlssup; infer's per-thread panel order is a thread_local)
MSVC_STATIC_RUNTIME = {"__chkstk", "__security_check_cookie", "__security_cookie", "_fltused", "_tls_index"}
# kernel families built once per SIMD rung (FNN_SIMD_VARIANTS) and a function each must have per rung
RUNGS = {"augment": "warp_one", "gemm": "gemm_task", "infer": "dense_panels"}

pytestmark = [
    pytest.mark.windows,
    pytest.mark.skipif("'windows' not in config.getoption('markexpr')", reason="slow: run with -m windows"),
    pytest.mark.skipif(not (REPO / "setup.py").exists(), reason="needs the source tree"),
]


def setup_constant(name):
    """The literal assigned to ``name`` at the top level of setup.py: the flags a Windows build really uses."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"setup.py assigns no {name}")


def require(*tools):
    paths = [shutil.which(t) for t in tools]
    if not all(paths):
        pytest.skip(f"needs {', '.join(t for t, p in zip(tools, paths) if not p)} (see this module's docstring)")
    return paths


def require_headers():
    if not all(d.is_dir() for d in WINE_HEADERS):
        pytest.skip("needs Wine's MSVC C runtime headers (apt-get install libwine-dev)")


def clang_cl_compile(clang, source, obj, extra=()):
    """Compile one kernel source as setup.py does on Windows (serial, its family's fp-contract flags)."""
    bitwise = source.stem.split("_")[0] in setup_constant("BITWISE_FAMILIES")
    flags = setup_constant("CLANG_CL_ARGS") + (setup_constant("CLANG_CL_BITWISE_ARGS") if bitwise else [])
    cmd = [clang, "--driver-mode=cl", "--target=x86_64-pc-windows-msvc", "/nologo", "/c", "/W3",
           "/clang:-Werror=implicit-function-declaration", f"/I{CSRC}", "/DFNN_OPENMP_REQUESTED=0",
           *(["/DFNN_FP_CONTRACT_OFF=1"] if bitwise else []), *flags, *extra, f"/Fo{obj}"]
    for d in WINE_HEADERS:
        cmd += ["-imsvc", str(d)]
    return subprocess.run([*cmd, "--", str(source)], capture_output=True, text=True, timeout=600)


def symbols(llvm_nm, path, *options):
    lines = subprocess.run([llvm_nm, *options, str(path)], capture_output=True, text=True, check=True).stdout
    return {fields[-1] for fields in (line.split() for line in lines.splitlines()) if len(fields) >= 2}


def test_every_kernel_compiles_for_windows_with_clang_cl_and_needs_only_the_c_runtime(tmp_path):
    clang, llvm_nm = require("clang", "llvm-nm")
    require_headers()
    if not UCRT_IMPORT_LIB.exists():
        pytest.skip("needs mingw-w64's import library of the Universal C runtime (apt-get install mingw-w64)")
    sources = sorted(CSRC.glob("*.c"))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: clang_cl_compile(clang, s, tmp_path / f"{s.stem}.obj"), sources))
    for source, result in zip(sources, results):
        assert result.returncode == 0, f"{source.name} in clang-cl mode:\n{result.stdout[-3000:]}{result.stderr}"
    ucrt = symbols(llvm_nm, UCRT_IMPORT_LIB, "--defined-only")
    for source in sources:
        obj = tmp_path / f"{source.stem}.obj"
        foreign = {s for s in symbols(llvm_nm, obj, "--undefined-only")
                   if s not in MSVC_STATIC_RUNTIME and s not in ucrt and f"__imp_{s}" not in ucrt}
        assert not foreign, f"{source.name} needs symbols no Windows C runtime has: {sorted(foreign)}"
        if source.stem in RUNGS:
            defined = symbols(llvm_nm, obj, "--defined-only")
            for rung in ("v3", "v4"):
                assert f"{RUNGS[source.stem]}_{rung}_f32" in defined, f"{source.name} lost its {rung} rung on Windows"


def wine_env():
    # a prefix of our own, made on first use (about 10 s), unless the caller chose one
    prefix = os.environ.get("WINEPREFIX") or os.path.join(tempfile.gettempdir(), f"fastnn-wine-{os.getuid()}")
    return {**os.environ, "WINEPREFIX": prefix, "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}


def test_bitwise_families_built_by_clang_cl_run_under_wine_to_the_linux_bits(tmp_path):
    clang, mingw_gcc, wine, gcc = require("clang", "x86_64-w64-mingw32-gcc", "wine", "gcc")
    require_headers()
    sources = [CSRC / "augment.c", CSRC / "augment_matrices.c", CSRC / "optim.c"]
    objs = []
    for source in sources:  # /Zl: no default-library directives (GNU ld does not read them)
        objs.append(tmp_path / f"{source.stem}.obj")
        result = clang_cl_compile(clang, source, objs[-1], extra=["/Zl"])
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    driver = [str(DRIVER_DIR / "kernel_driver.c")]
    link = subprocess.run([mingw_gcc, "-O2", f"-I{CSRC}", *driver, str(DRIVER_DIR / "msvc_crt_shim.c"),
                           *map(str, objs), "-o", str(tmp_path / "driver.exe")], capture_output=True, text=True)
    assert link.returncode == 0, link.stderr[-3000:]
    linux_flags = setup_constant("GCC_ARGS") + setup_constant("GCC_BITWISE_ARGS")
    native = subprocess.run([gcc, *linux_flags, "-fopenmp", "-DFNN_FP_CONTRACT_OFF=1", f"-I{CSRC}", *driver,
                             *map(str, sources), "-lm", "-o", str(tmp_path / "driver")], capture_output=True, text=True)
    assert native.returncode == 0, native.stderr[-3000:]

    linux = subprocess.run([str(tmp_path / "driver"), str(tmp_path / "linux.bin"), "2"], capture_output=True,
                           text=True, timeout=300)
    assert linux.returncode == 0, linux.stderr
    windows = subprocess.run([wine, str(tmp_path / "driver.exe"), "windows.bin", "2"], cwd=tmp_path, env=wine_env(),
                             capture_output=True, text=True, timeout=600)
    assert windows.returncode == 0, windows.stdout + windows.stderr[-3000:]
    assert windows.stdout.split() == linux.stdout.split()  # the cpuid probe agrees with __builtin_cpu_supports

    win_bytes, linux_bytes = (tmp_path / "windows.bin").read_bytes(), (tmp_path / "linux.bin").read_bytes()
    assert len(win_bytes) == len(linux_bytes) > 0 and len(win_bytes) % 3 == 0
    third = len(win_bytes) // 3
    assert win_bytes[:third] == win_bytes[third:2 * third] == win_bytes[2 * third:], "results depend on the rung"
    first_diff = next((i for i, (a, b) in enumerate(zip(win_bytes, linux_bytes)) if a != b), None)
    assert first_diff is None, f"the Windows build differs from the Linux build from byte {first_diff}"

"""The kernel contract, kept in one place and tested (in the spirit of thinc's Ops tests).

* every kernel family has one name at every level: csrc/NAME*.c, fastnn._ext.NAME, fastnn.ops.NAME,
  fastnn._reference.NAME, tests/test_kernels_NAME.py (or test_NAME.py where the layer and its kernels share
  one file);
* every public function of an ops module is either a kernel entry point, which takes ``n_threads=None`` and has
  a numpy twin in the _reference module of the same family with the same parameters, or a scalar helper the
  module lists in ``HELPERS`` (codes, keys, sizes: no arrays in, no kernel);
* the reference twin's parameters are the kernel's minus what only a compiled kernel needs: outputs (``*_out``,
  ``out``: the twin returns new arrays; when it cannot infer an output's length it takes ``n`` in its place),
  scratch buffers, ``n_threads`` and ``check*`` flags;
* every compiled module has a .pyi stub that mypy's stubtest finds consistent with it.
"""
import importlib
import inspect
import pathlib
import subprocess
import sys

import pytest
from conftest import child_env

import fastnn.ops

ROOT = pathlib.Path(__file__).resolve().parent.parent
FAMILIES = ("augment", "dense", "dropout", "gemm", "infer", "loss", "norm", "optim")
COMPILED = FAMILIES + ("openmp", "chain")  # chain: the training step of Dense layers in one call
KERNEL_ONLY = {"n_threads", "scratch", "block_out"}


def _public_functions(module):
    return {name: f for name, f in vars(module).items()
            if inspect.isfunction(f) and not name.startswith("_") and f.__module__ == module.__name__}


def _reference_params(params):
    out = []
    for p in params:
        if p in KERNEL_ONLY or p.startswith("check"):
            continue
        if p.endswith("_out") or p == "out":
            continue
        out.append(p)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_one_family_name_at_every_level(family):
    assert (ROOT / "csrc" / f"{family}.c").exists() or list((ROOT / "csrc").glob(f"{family}_*.c"))
    for level in ("fastnn._ext", "fastnn.ops", "fastnn._reference"):
        importlib.import_module(f"{level}.{family}")
    assert any((ROOT / "tests" / f"test_{kind}{family}.py").exists() for kind in ("kernels_", ""))


def test_ops_modules_are_the_families():
    found = {p.stem for p in pathlib.Path(fastnn.ops.__file__).parent.glob("*.py")
             if not p.stem.startswith("_")}
    assert found == set(FAMILIES) | {"warp"}  # warp: the old name of augment, a re-export


@pytest.mark.parametrize("family", FAMILIES)
def test_every_kernel_has_a_reference_twin_and_takes_n_threads(family):
    ops = importlib.import_module(f"fastnn.ops.{family}")
    ref = importlib.import_module(f"fastnn._reference.{family}")
    helpers = set(getattr(ops, "HELPERS", ()))
    funcs = _public_functions(ops)
    assert helpers <= set(funcs), f"HELPERS names no function: {helpers - set(funcs)}"
    for name, f in funcs.items():
        if name in helpers:
            continue
        params = inspect.signature(f).parameters
        assert "n_threads" in params and params["n_threads"].default is None, f"ops.{family}.{name}: n_threads=None"
        twin = getattr(ref, name, None)
        assert twin is not None, f"fastnn._reference.{family} has no {name}"
        expected = _reference_params(list(params))
        got = list(inspect.signature(twin).parameters)
        # an output whose length the twin cannot infer becomes `n` in its place
        with_n = [["n" if q == p else q for q in params if q == p or q in expected]
                  for p in params if p.endswith("_out")]
        assert got == expected or got in with_n, (
            f"_reference.{family}.{name}{tuple(got)} != ops.{family}.{name} minus kernel-only parameters "
            f"{tuple(expected)}")


def test_reference_imports_nothing_it_checks():
    src = (ROOT / "fastnn" / "_reference" / "random.py").read_text()
    assert "ops" not in src.split('"""', 2)[2].split("def ")[0]  # no import of fastnn.ops above the code


def test_compiled_module_stubs_match_the_modules(tmp_path):
    pytest.importorskip("mypy")
    for name in COMPILED:
        assert (ROOT / "fastnn" / "_ext" / f"{name}.pyi").exists(), f"fastnn/_ext/{name}.pyi is missing"
    allow = tmp_path / "allow.txt"
    # Cython's doctest dict and its table of the C functions other extensions call (fastnn._ext.chain): not APIs
    allow.write_text(r"fastnn\._ext\.\w+\.__test__" + "\n" + r"fastnn\._ext\.\w+\.__pyx_capi__" + "\n")
    env = dict(child_env(), MYPY_CACHE_DIR=str(tmp_path / "mypy_cache"))
    res = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--allowlist", str(allow),
                          "--mypy-config-file", str(ROOT / "pyproject.toml")]
                         + [f"fastnn._ext.{n}" for n in COMPILED],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr

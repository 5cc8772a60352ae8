"""The build: OpenMP is on unless deliberately disabled, and a serial build trains to the same bits."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn._ext import openmp

REPO = Path(__file__).resolve().parents[1]

TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import fastnn as fnn
    from fastnn.layers import Dense
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 40)).astype(np.float32)
    y = rng.integers(0, 5, 256)
    model = fnn.Sequential([Dense(64, activation="relu"), Dense(32, activation="tanh"), Dense(5)], input_dim=40)
    with fnn.threads(2, parallel_threshold=1):  # every kernel takes its OpenMP path where it has one
        model.fit(X, y, optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9, nesterov=True), epochs=3, batch_size=32,
                  verbose=0)
    np.save(sys.argv[1], model.params)
    print(fnn._ext.openmp.openmp_enabled())
""")


def test_build_did_not_silently_lose_openmp():
    assert openmp.openmp_enabled() == openmp.openmp_requested(), (
        "this build was meant to use OpenMP but compiled serial: the OpenMP probe failed (see the build log)")


def test_show_config_reports_openmp_threads_and_blas(capsys):
    fastnn.set_num_threads(2)
    fastnn.show_config()
    out = capsys.readouterr().out
    assert fastnn.__version__ in out
    assert ("OpenMP: on" if openmp.openmp_enabled() else "OpenMP: off") in out
    assert "fastnn threads: 2" in out
    assert "blas" in out.lower()
    assert "OpenMP runtime: " in out


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="the runtime is looked up in /proc/self/maps")
def test_show_config_names_the_openmp_runtime_the_kernels_use(capsys):
    from fastnn import _openmp_runtime

    if not openmp.openmp_enabled():
        pytest.skip("a serial build has no OpenMP runtime")
    runtime = _openmp_runtime.describe(openmp.__file__)
    assert runtime is not None and os.path.basename(runtime["path"]).startswith("libgomp")
    assert runtime["path"] in _openmp_runtime.loaded_runtimes()
    assert runtime["version"].startswith("GOMP_")
    # bundled exactly when the runtime sits in the wheel's fastnn.libs (a plain build uses the system's)
    assert runtime["bundled"] == (os.path.basename(os.path.dirname(runtime["path"])) == "fastnn.libs")
    fastnn.show_config()
    out = capsys.readouterr().out
    assert f"OpenMP runtime: {runtime['path']} ({runtime['version']}), " in out
    assert ("bundled with fastnn" if runtime["bundled"] else "not bundled") in out


def test_set_num_threads_limits_blas_too():
    from threadpoolctl import threadpool_info

    fastnn.set_num_threads(1)
    assert fastnn.get_num_threads() == 1
    assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    with pytest.raises(ValueError, match="set_num_threads n must be an integer >= 1"):
        fastnn.set_num_threads(0)


@pytest.mark.skipif(not (REPO / "setup.py").exists(), reason="needs the source tree")
def test_serial_build_trains_bitwise_like_the_openmp_build(tmp_path):
    pytest.importorskip("Cython")
    if not openmp.openmp_enabled():
        pytest.skip("this build is already serial")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "csrc", src / "csrc")
    shutil.copytree(REPO / "fastnn", src / "fastnn",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.html"))
    env = {**os.environ, "FASTNN_NO_OPENMP": "1"}
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=src, env=env,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    serial = subprocess.run([sys.executable, str(script), str(tmp_path / "serial.npy")], cwd=tmp_path,
                            env={**run_env, "PYTHONPATH": str(src)}, capture_output=True, text=True)
    assert serial.returncode == 0, serial.stderr[-2000:]
    assert serial.stdout.strip() == "False"  # it really was the serial build
    parallel = subprocess.run([sys.executable, str(script), str(tmp_path / "omp.npy")], cwd=tmp_path,
                              env=run_env, capture_output=True, text=True)
    assert parallel.returncode == 0, parallel.stderr[-2000:]
    assert parallel.stdout.strip() == "True"
    assert np.array_equal(np.load(tmp_path / "serial.npy"), np.load(tmp_path / "omp.npy"))


def test_threads_context_sets_and_restores_both_pools_and_the_threshold():
    from threadpoolctl import threadpool_info

    from fastnn import _config

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = (fastnn.get_num_threads(), _config._state.parallel_threshold, blas_threads())
    with fastnn.threads(1, parallel_threshold=7):
        assert fastnn.get_num_threads() == 1 and _config.threads_for(6) == 1
        assert all(n == 1 for n in blas_threads())
        fastnn.set_num_threads(2)  # changed inside: still restored on exit
    assert (fastnn.get_num_threads(), _config._state.parallel_threshold, blas_threads()) == before
    with pytest.raises(RuntimeError, match="boom"), fastnn.threads(1, parallel_threshold=0):
        raise RuntimeError("boom")
    assert (fastnn.get_num_threads(), _config._state.parallel_threshold, blas_threads()) == before
    with pytest.raises(ValueError, match="threads n must be an integer >= 1"):
        with fastnn.threads(0):
            pass


@pytest.mark.skipif(not (REPO / "fastnn").is_dir(), reason="needs the source tree (tests of an installed wheel)")
def test_importing_an_unbuilt_source_tree_says_how_to_fix_it(tmp_path):
    """A new user who runs python from the repository root imports the source tree, which has no compiled
    extensions; the error names the cause and both fixes instead of a bare 'cannot import name'."""
    shutil.copytree(REPO / "fastnn", tmp_path / "fastnn",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "*.c"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", "import fastnn"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "extensions are not built" in result.stderr
    assert "pip install ." in result.stderr and "python setup.py build_ext --inplace" in result.stderr

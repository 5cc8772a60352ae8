"""Without an optional package: `import fastnn` (and what does not need the package) works, and the feature that
needs it says which package is missing and which extra installs it, before it does any work. Each case runs in a
child Python in which the package cannot be imported (None in sys.modules, as if not installed)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import child_env

CASES = {
    # a random search and Hyperband need no scipy; only the Gaussian process does
    "scipy for bayes only": ("scipy", """
        import fastnn.tune as t
        assert "scipy" not in sys.modules or sys.modules["scipy"] is None
        r = t.search(lambda p: (p["x"] - 0.3) ** 2, {"x": t.Uniform(0, 1)}, method="random", n_trials=4)
        assert r.best_score < 1
        t.search(lambda p: p["x"], {"x": t.Uniform(0, 1)}, method="bayes", n_trials=4)
        """, "method 'bayes' (a Gaussian process) needs scipy, which is not installed: pip install 'fastnn[tune]'"),
    "sklearn": ("sklearn", """
        import fastnn
        import fastnn.sklearn
        """, "fastnn.sklearn needs sklearn, which is not installed: pip install 'fastnn[sklearn]'"),
    "dask": ("distributed", """
        from fastnn.tune import DaskExecutor
        DaskExecutor("tcp://127.0.0.1:1")
        """, "a Dask executor needs distributed, which is not installed: pip install 'fastnn[dask]'"),
    "optuna": ("optuna", """
        from fastnn.tune import OptunaPruningCallback
        OptunaPruningCallback(object())
        """, "OptunaPruningCallback needs optuna, which is not installed: pip install 'optuna'"),
    "onnx": ("onnx", """
        import fastnn, fastnn.onnx
        fastnn.onnx.export(fastnn.Sequential([fastnn.layers.Dense(2)], input_dim=3), "never.onnx")
        """, "fastnn.onnx needs onnx, which is not installed: pip install 'fastnn[onnx]'"),
    # checked before the first experiment runs (it used to fail after eight of them, naming the plot extra)
    "scipy for the gallery": ("scipy", """
        from fastnn.cli import main
        sys.exit(main(["gallery", "clipping", "search", "--quick", "--out", "never"]))
        """, "the gallery's search experiment needs scipy, which is not installed: pip install 'fastnn[gallery]'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_missing_optional_package_is_named_with_its_extra(case, tmp_path):
    pytest.importorskip("matplotlib") if case == "scipy for the gallery" else None
    blocked, body, message = CASES[case]
    code = f"import sys\nsys.modules[{blocked!r}] = None\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=child_env(), timeout=120)
    assert done.returncode != 0, done.stdout
    assert message in done.stderr, done.stderr[-2000:]
    assert "clipping:" not in done.stdout  # no experiment ran before the refusal
    assert not (tmp_path / "never").exists() and not (tmp_path / "never.onnx").exists()

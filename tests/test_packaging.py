"""The release configuration stays consistent with the tree (building wheels is tools/build_wheel.sh's job: it
takes minutes, too long for CI; its last run is in bench/RESULTS.md, "Packaging")."""
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+
pytestmark = pytest.mark.skipif(not (REPO / "pyproject.toml").exists(), reason="needs the source tree")


def cibuildwheel() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["cibuildwheel"]


def test_wheels_cover_cpython_310_to_313_on_linux_and_macos():
    config = cibuildwheel()
    assert config["build"] == ["cp310-*", "cp311-*", "cp312-*", "cp313-*"]
    linux = config["linux"]
    assert linux["archs"] == ["x86_64", "aarch64"]
    for arch in ("x86_64", "aarch64"):
        assert linux[f"manylinux-{arch}-image"] == "manylinux_2_28"
        assert linux[f"musllinux-{arch}-image"] == "musllinux_1_2"
    assert "brew install libomp" in config["macos"]["before-all"]
    for env in (config["environment"], config["macos"]["environment"]):  # a serial release wheel is an error
        assert env["FASTNN_FAIL_NO_OPENMP"] == "1"


def test_the_wheel_test_command_runs_test_files_that_exist():
    config = cibuildwheel()
    assert config["test-sources"] == ["tests"]
    paths = [w for command in config["test-command"] for w in shlex.split(command) if w.startswith("tests/")]
    assert paths and all((REPO / p).is_file() for p in paths), paths


def test_classifiers_name_the_python_versions_and_systems_the_wheels_are_built_for():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    classifiers = pyproject["project"]["classifiers"]
    versions = [c.rsplit(" ", 1)[1] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    assert [f"cp{v.replace('.', '')}-*" for v in versions] == cibuildwheel()["build"]
    systems = {c for c in classifiers if c.startswith("Operating System ::")}
    assert systems == {"Operating System :: POSIX :: Linux", "Operating System :: MacOS",
                       "Operating System :: Microsoft :: Windows"}
    assert "windows" in cibuildwheel() and "No Windows wheels" not in (REPO / "pyproject.toml").read_text()
    assert not any(c.startswith("License ::") for c in classifiers)  # the license expression replaces them

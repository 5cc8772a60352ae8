"""The package's layering, read statically from the source: imports point down, with no circle.

Floors, bottom up: the containers (fastnn.formats) and the building blocks (layers, losses, optim, ...);
the loader (fastnn.data), the training step and loop (fastnn.training), fold and pretrained, which all work
on any model through its interface; fastnn.models (Sequential), which calls them downward; fastnn.io, which
builds models from files. A circle or an upward edge fails here, however deep inside a function it hides.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

import fastnn
from fastnn import _version

PACKAGE = pathlib.Path(fastnn.__file__).parent


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("fastnn",) + path.relative_to(PACKAGE).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


MODULES = _modules()


def imports_of(name: str) -> set[str]:
    """fastnn modules that ``name`` imports anywhere in its file (functions included), or reaches through
    importlib.import_module("literal")."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.update(f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    resolved = set()
    for target in found:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _under(prefix: str) -> list[str]:
    return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]


def test_the_containers_know_nothing_of_the_rest_of_fastnn():
    for name in _under("fastnn.formats"):
        outside = {m for m in imports_of(name) if not m.startswith("fastnn.formats")}
        assert not outside, f"{name} imports {outside}"


def test_nothing_below_models_imports_models_io_or_the_package_root():
    below = _under("fastnn.training") + _under("fastnn.data") + _under("fastnn.formats") + [
        "fastnn.fold", "fastnn.pretrained", "fastnn.losses", "fastnn.validation", "fastnn._version",
    ] + _under("fastnn.layers") + _under("fastnn.inference")
    for name in below:
        upward = imports_of(name) & {"fastnn", "fastnn.models", "fastnn.io"}
        assert not upward, f"{name} imports {upward}, which sit above it"


def test_the_loader_and_fold_import_no_training_code():
    """The loader is a stage of its own; fold is what an inference plan will build on."""
    for name in _under("fastnn.data") + ["fastnn.fold"]:
        assert not {m for m in imports_of(name) if m.startswith("fastnn.training")}, name


def test_inference_imports_no_training_code_nor_what_sits_above_it():
    """A serving process imports fastnn.inference alone (issue 14): no training, schedules, augmentation,
    preprocessing, data loading, command line, models or model files; the model reaches it through its
    interface, and models.compile_inference calls it downward. Anything it imports, however deep, counts."""
    graph = {m: imports_of(m) for m in MODULES}
    reached, todo = set(), list(_under("fastnn.inference"))
    while todo:
        for nxt in graph[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    banned = ("fastnn.training", "fastnn.schedules", "fastnn.augment", "fastnn.preprocessing", "fastnn.data",
              "fastnn.cli", "fastnn.models", "fastnn.io", "fastnn.optim", "fastnn.onnx")
    assert not {m for m in reached if m.startswith(banned) or m == "fastnn"}, reached
    assert "fastnn.inference" in imports_of("fastnn.models")


def test_models_imports_neither_io_nor_the_package_root():
    assert not imports_of("fastnn.models") & {"fastnn", "fastnn.io"}
    assert {"fastnn.fold", "fastnn.pretrained", "fastnn.training.step"} <= imports_of("fastnn.models")
    assert "fastnn.models" in imports_of("fastnn.io")  # a plain import, not importlib


def test_only_the_command_line_imports_the_package_root():
    """The root imports most of the package; a module below it that imports it (for __version__, say) closes a
    circle. The command line, the entry point above everything, may."""
    for name in MODULES:
        if name != "fastnn" and not name.startswith("fastnn.cli"):
            assert "fastnn" not in imports_of(name), name


def test_only_the_command_line_and_the_gallery_import_tune():
    """fastnn.tune sits at the top: it builds on models and training, nothing below depends on it (the gallery,
    beside the command line, runs it as one of the chapter's experiments)."""
    for name in MODULES:
        if not name.startswith(("fastnn.tune", "fastnn.cli", "fastnn.gallery")):
            assert not {m for m in imports_of(name) if m.startswith("fastnn.tune")}, name


def test_no_import_circle_among_the_core_modules():
    core = (["fastnn.models", "fastnn.io", "fastnn.fold", "fastnn.pretrained", "fastnn._version"]
            + _under("fastnn.training") + _under("fastnn.data") + _under("fastnn.formats"))
    graph = {m: imports_of(m) for m in MODULES}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    circles = [m for m in core if reaches(m, m)]
    assert not circles, f"import circles through {circles}"


def test_version_is_defined_once():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    assert fastnn.__version__ == _version.__version__
    # the source tree's pyproject.toml (the tests may run against an installed package)
    pyproject = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fastnn._version.__version__"}

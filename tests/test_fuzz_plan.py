"""Plan files against damaged and hostile input: whatever the bytes, fastnn.inference.load returns a working plan
or raises ModelFileError (a ValueError), never another exception, a crash or a huge allocation."""
import json
import struct

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastnn as fnn  # noqa: E402
import fastnn.inference as fi  # noqa: E402
from fastnn.formats import ModelFileError  # noqa: E402

L = fnn.layers


@pytest.fixture(scope="module")
def plan_bytes(tmp_path_factory):
    model = fnn.Sequential([L.Dense(5, activation="relu"), L.LayerNorm(), L.Tanh(), L.Dense(3)], input_dim=4)
    path = tmp_path_factory.mktemp("plan") / "m.plan"
    fi.compile(model).save(path)
    return path.read_bytes()


def _split(data: bytes):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict, body: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + body


def _load_or_refuse(tmp_path, data: bytes):
    path = tmp_path / "f.plan"
    path.write_bytes(data)
    try:
        plan = fi.load(path)
    except ModelFileError:
        return
    x = np.ones((2, plan.n_features_in), plan.dtype)
    assert plan.predict(x).shape == (2, plan.n_outputs)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                   max_size=4))
def test_truncated_or_flipped_bytes(tmp_path, plan_bytes, cut, flips):
    data = bytearray(plan_bytes[:cut % (len(plan_bytes) + 1)])
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    _load_or_refuse(tmp_path, bytes(data))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                       | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
FIELDS = ["kind", "activation", "alpha", "eps", "width"]
TOP = ["dtype", "output_map", "n_features_in", "info", "layers", "classes", "options"]


@FUZZ
@given(layer=st.integers(0, 4), field=st.sampled_from(FIELDS + TOP), value=JSONISH)
def test_hostile_plan_metadata(tmp_path, plan_bytes, layer, field, value):
    header, body = _split(plan_bytes)
    doc = json.loads(header["__metadata__"]["plan"])
    if field in TOP:
        doc[field] = value
    else:
        doc["layers"][layer % len(doc["layers"])][field] = value
    header["__metadata__"]["plan"] = json.dumps(doc)
    _load_or_refuse(tmp_path, _join(header, body))


@pytest.mark.parametrize("width", [10**12, 2**20, 0, -1])
def test_huge_declared_widths_are_refused_before_anything_is_allocated(tmp_path, width):
    path = tmp_path / "act.plan"
    fi.InferencePlan([fnn.ops.infer.ProgramLayer("activation", "relu", width=3)]).save(path)
    header, body = _split(path.read_bytes())
    doc = json.loads(header["__metadata__"]["plan"])
    doc["n_features_in"] = doc["layers"][0]["width"] = width
    header["__metadata__"]["plan"] = json.dumps(doc)
    path.write_bytes(_join(header, body))
    with pytest.raises(ModelFileError):
        fi.load(path)


@pytest.mark.parametrize("classes", [["a", "a", "b"], ["a", {"b": 1}, "c"], "abc", ["a", "b"], [["a"], "b", "c"], []])
def test_bad_class_labels_are_refused(tmp_path, classes):
    """A plan file's classes (the model's classes_): a JSON array of distinct strings or numbers, one per class."""
    path = tmp_path / "c.plan"
    layers = [fnn.ops.infer.ProgramLayer("dense", "identity", np.ones((2, 3), np.float32), np.zeros(3, np.float32))]
    fi.InferencePlan(layers, output_map="softmax", classes=["a", "b", "c"]).save(path)
    header, body = _split(path.read_bytes())
    doc = json.loads(header["__metadata__"]["plan"])
    assert doc["classes"] == ["a", "b", "c"]
    doc["classes"] = classes
    header["__metadata__"]["plan"] = json.dumps(doc)
    path.write_bytes(_join(header, body))
    with pytest.raises(ModelFileError, match="classes"):
        fi.load(path)

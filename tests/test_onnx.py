"""fastnn.onnx: export runs in onnxruntime like the plan (1e-5), torch.onnx.export'ed MLPs import and predict like
PyTorch (1e-5), unsupported graphs are named, hostile files refused."""
import json
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from conftest import assert_sample_centered_as_exact, constant_rows, nearly_constant_rows  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import fastnn as fnn  # noqa: E402
import fastnn.inference as fi  # noqa: E402
import fastnn.onnx as fo  # noqa: E402

L = fnn.layers


def _run_ort(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


# Between them, every node export writes (Gemm, Mul + Add, the per-sample centering, LayerNormalization, each
# activation, GELU in both forms, both output maps): each is exported, run in onnxruntime and loaded back.
MODELS = {
    "relu_bn": lambda: ([L.Dense(16), L.BatchNorm(), L.ReLU(), L.Dropout(0.2), L.Dense(3)], "cross_entropy",
                        fnn.preprocessing.StandardScaler()),
    "ln_gelu": lambda: ([L.Dense(8), L.LayerNorm(), L.GELU(), L.Dense(3, activation="tanh"), L.BatchNorm()],
                        "mse", None),
    "leaky_bce": lambda: ([L.Dense(6, activation="leaky_relu", alpha=0.2), L.Sigmoid(), L.Dense(2)],
                          "binary_cross_entropy", None),
    "bn_first": lambda: ([L.BatchNorm(), L.Dense(4), L.LayerNorm(elementwise_affine=False)], None, None),
    "sample_center": lambda: ([L.Dense(7, activation="relu"), L.Dense(3)], "cross_entropy",
                              fnn.preprocessing.SampleCenter()),
    "sample_center_std": lambda: ([L.Dense(7, activation="relu"), L.Dense(3)], "cross_entropy",
                                  fnn.preprocessing.SampleCenter(with_std=True)),
}


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_export_runs_in_onnxruntime_like_the_plan(tmp_path, name, opset, dtype, rng):
    layers, loss, pre = MODELS[name]()
    model = fnn.Sequential(layers, input_dim=5, dtype=dtype, loss=loss, seed=3, preprocess=pre)
    if pre is not None:
        model.fit(rng.standard_normal((64, 5)) * 3 + 2, rng.integers(0, 3, 64), epochs=1, verbose=0)
    path = tmp_path / "m.onnx"
    fo.export(model, path, opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    for n in (1, 7):
        x = rng.standard_normal((n, 5)).astype(dtype)
        try:
            got = _run_ort(path, x)
        except Exception as exc:  # onnxruntime's CPU provider has no double LeakyRelu, Erf, ...
            assert dtype == np.float64 and "NOT_IMPLEMENTED" in str(exc), exc
            break
        np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)
    if opset >= 20 and name == "ln_gelu":
        assert "Gelu" in {n.op_type for n in onnx.load(str(path)).graph.node}
    back = fo.load(path)  # fastnn -> onnx -> fastnn (a SampleCenter's Cast/ReduceMean/Sub was refused)
    x = rng.standard_normal((9, 5)).astype(dtype)
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-5, atol=1e-5)
    assert isinstance(back.preprocess, fnn.preprocessing.SampleCenter) == name.startswith("sample_center")  # others
    assert getattr(back.preprocess, "with_std", False) == (name == "sample_center_std")  # fold


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("pre", ["StandardScaler", "SampleCenter"])
def test_export_keeps_its_bound_on_data_far_from_the_origin(tmp_path, rng, pre, opset):
    """Features of mean 100 and std 1e-3: the offset is subtracted before the folded Gemm (an Add node), each
    row's mean by ReduceMean + Sub, so onnxruntime matches the model to 1e-5 of its largest output (it was off
    by 6.5e-3 with the offset folded). Loaded back, the model and its plan keep the bound too (the offset was
    loaded as a shift the plan folded, 1.7e-3 off; the centering was refused)."""
    X = (100 + 1e-3 * rng.standard_normal((200, 5))).astype(np.float32)
    model = fnn.Sequential([L.Dense(8, activation="relu"), L.Dense(3)], loss="mse", seed=2,
                           preprocess=getattr(fnn.preprocessing, pre)().fit(X))
    path = tmp_path / "far.onnx"
    fo.export(model, path, opset=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    want = model.predict(X)
    back = fo.load(path)
    for got in (_run_ort(path, X), back.predict(X), back.compile_inference().predict(X)):
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))


def _mutated(node, **change):
    """``node`` with its inputs or attributes replaced (``inputs=[...]``, ``<attribute>=value``)."""
    inputs = change.pop("inputs", list(node.input))
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute} | change
    return helper.make_node(node.op_type, inputs, list(node.output), name=node.name, **attrs)


CENTER_CHANGES = {  # the centering export writes, each changed in one way: another function, or another rounding
    "mean_over_the_batch": lambda nodes: {1: _mutated(nodes[1], axes=[0])},
    "keepdims_0": lambda nodes: {1: _mutated(nodes[1], keepdims=0)},
    "mean_in_float32": lambda nodes: {0: _mutated(nodes[0], to=TensorProto.FLOAT)},
    "mean_minus_x": lambda nodes: {3: _mutated(nodes[3], inputs=list(nodes[3].input)[::-1])},
    "after_a_layer": lambda nodes: {0: _mutated(nodes[0], inputs=["r"]),
                                    3: _mutated(nodes[3], inputs=["r", nodes[2].output[0]])},
}


@pytest.mark.parametrize("change", sorted(CENTER_CHANGES))
def test_only_the_centering_export_writes_is_imported(tmp_path, rng, change):
    """The per-sample centering is read node for node as export writes it (then as a SampleCenter: the
    round trip is in test_export_runs_in_onnxruntime_like_the_plan); any change is refused naming the node."""
    model = fnn.Sequential([L.Dense(3)], input_dim=4, preprocess=fnn.preprocessing.SampleCenter().fit(np.ones((1, 4))))
    fo.export(model, tmp_path / "c.onnx", opset=17)
    m = onnx.load(str(tmp_path / "c.onnx"))
    nodes = list(m.graph.node)
    assert [n.op_type for n in nodes[:4]] == ["Cast", "ReduceMean", "Cast", "Sub"]
    for k, node in CENTER_CHANGES[change](nodes).items():
        nodes[k] = node
    if change == "after_a_layer":
        nodes.insert(0, helper.make_node("Relu", ["x"], ["r"], name="relu"))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.save(m, str(tmp_path / "changed.onnx"))
    with pytest.raises(fo.OnnxImportError, match=r"node \d+ 'n\d_(Cast|ReduceMean|Sub)'"):
        fo.load(tmp_path / "changed.onnx")


@pytest.mark.parametrize("loss, output_map", [("mse", True), ("cross_entropy", False)])
def test_a_plan_with_nothing_to_compute_exports_an_identity(tmp_path, rng, loss, output_map):
    """A model of Dropout only, without an output map: one Identity node (export raised IndexError)."""
    model = fnn.Sequential([L.Dropout(0.5)], input_dim=4, loss=loss)
    path = tmp_path / "id.onnx"
    fo.export(model, path, output_map=output_map)
    assert [n.op_type for n in onnx.load(str(path)).graph.node] == ["Identity"]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_run_ort(path, x), x)


def test_export_options(tmp_path, rng):
    model = fnn.Sequential([L.Dense(3)], input_dim=2)
    plan = model.compile_inference()
    fo.export(plan, tmp_path / "fixed.onnx", dynamic_batch=False, batch_size=4, output_map=False)
    g = onnx.load(str(tmp_path / "fixed.onnx")).graph
    assert g.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    x = rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(_run_ort(tmp_path / "fixed.onnx", x), plan.predict_logits(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="opset"):
        fo.export(model, tmp_path / "bad.onnx", opset=3)


def _torch_mlp(torch, kind):
    nn = torch.nn
    if kind == "relu":
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))
    if kind == "bn_softmax":
        return nn.Sequential(nn.Flatten(), nn.Linear(6, 12), nn.BatchNorm1d(12), nn.LeakyReLU(0.1), nn.Linear(12, 4),
                             nn.Softmax(dim=1))
    if kind == "ln_gelu":
        return nn.Sequential(nn.Linear(6, 10), nn.LayerNorm(10), nn.GELU(), nn.Identity(), nn.Linear(10, 5),
                             nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid())
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["relu", "bn_softmax", "ln_gelu"])
def test_torch_exported_mlps_import_and_match_pytorch(tmp_path, kind, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = _torch_mlp(torch, kind)
    net.train()
    net(torch.randn(64, 6) * 2 + 1)  # BatchNorm running statistics away from (0, 1)
    net.eval()
    path = tmp_path / f"{kind}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(2, 6),), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}}, opset_version=17)
    model = fo.load(path)
    x = rng.standard_normal((11, 6)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.compile_inference().predict(x), want, rtol=1e-5, atol=1e-5)


def _graph_file(tmp_path, nodes, inits, name="g.onnx", n_in=3, n_out=2):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", n_out])], inits)
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("flatten", [False, True])
def test_a_softmax_over_the_last_axis_of_a_3d_input_is_refused(tmp_path, rng, flatten):
    """(batch, 4, 5) -> Relu -> Softmax(axis=-1) normalizes each group of 5; fastnn sees rows of 20, so it
    refuses (it imported a softmax over all 20, off by 0.4); with a Flatten first it is the row's softmax."""
    nodes = [helper.make_node("Relu", ["x"], ["r"])]
    if flatten:
        nodes.append(helper.make_node("Flatten", ["r"], ["f"], axis=1))
    nodes.append(helper.make_node("Softmax", [nodes[-1].output[0]], ["y"], axis=-1))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    if not flatten:
        with pytest.raises(fo.OnnxImportError, match="Softmax of a rank-3 tensor"):
            fo.load(path)
        return
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x.reshape(3, 20)), _run_ort(path, x), rtol=1e-6, atol=1e-7)


def test_matmul_plus_add_and_reshape(tmp_path, rng):
    W, b = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    path = _graph_file(tmp_path, [
        helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("MatMul", ["r", "W"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(np.array([-1, 3], np.int64), "shape")])
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x), _run_ort(path, x), rtol=1e-5, atol=1e-6)


def test_unsupported_ops_and_non_chains_are_named(tmp_path, rng):
    W = numpy_helper.from_array(rng.standard_normal((3, 2)).astype(np.float32), "W")
    path = _graph_file(tmp_path, [helper.make_node("MatMul", ["x", "W"], ["m"]),
                                  helper.make_node("Exp", ["m"], ["y"], name="the_exp")], [W])
    with pytest.raises(fo.OnnxImportError, match=r"node 1 'the_exp' \(op Exp\).*not supported.*Gemm, MatMul"):
        fo.load(path)
    W3 = numpy_helper.from_array(rng.standard_normal((3, 3)).astype(np.float32), "W3")
    path = _graph_file(tmp_path, [helper.make_node("MatMul", ["x", "W3"], ["m"], name="mm"),
                                  helper.make_node("Add", ["m", "x"], ["y"], name="residual")], [W3], n_out=3)
    with pytest.raises(fo.OnnxImportError, match="residual.*not a chain"):
        fo.load(path)
    # x * x, as torch's tanh-approximate GELU starts below opset 20: named as an elementwise function, not only
    # as "the graph is not a chain"
    path = _graph_file(tmp_path, [helper.make_node("MatMul", ["x", "W3"], ["m"], name="mm"),
                                  helper.make_node("Mul", ["m", "m"], ["y"], name="square")], [W3], n_out=3)
    with pytest.raises(fo.OnnxImportError, match="square.*elementwise function.*tanh-approximate GELU"):
        fo.load(path)


def test_hostile_files_are_refused(tmp_path, rng):
    W = rng.standard_normal((3, 2)).astype(np.float32)
    good = _graph_file(tmp_path, [helper.make_node("Gemm", ["x", "W"], ["y"])], [numpy_helper.from_array(W, "W")])
    data = good.read_bytes()
    for cut in (5, len(data) // 2, len(data) - 3):
        (tmp_path / "cut.onnx").write_bytes(data[:cut])
        with pytest.raises(fo.OnnxImportError):
            fo.load(tmp_path / "cut.onnx")
    huge = numpy_helper.from_array(W, "W")  # 24 bytes that declare 2**40 floats
    huge.ClearField("dims")
    huge.dims.extend([1 << 20, 1 << 20])
    with pytest.raises(fo.OnnxImportError, match="more than the file|needs"):
        fo.load(_graph_file(tmp_path, [helper.make_node("Gemm", ["x", "W"], ["y"])], [huge], "huge.onnx"))
    for location in ("../outside.bin", "/etc/passwd", "sub/../../outside.bin"):
        ext = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], vals=W.reshape(-1))
        ext.ClearField("float_data")
        ext.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", "0"), ("length", "24")):
            ext.external_data.add(key=k, value=v)
        path = _graph_file(tmp_path, [helper.make_node("Gemm", ["x", "W"], ["y"])], [ext], "ext.onnx")
        with pytest.raises(fo.OnnxImportError, match="outside"):
            fo.load(path)
    (tmp_path / "w.bin").write_bytes(W.tobytes())  # external data inside the folder is read
    ext = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], vals=W.reshape(-1))
    ext.ClearField("float_data")
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", "24")):
        ext.external_data.add(key=k, value=v)
    path = _graph_file(tmp_path, [helper.make_node("Gemm", ["x", "W"], ["y"])], [ext], "inside.onnx")
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x), x @ W, rtol=1e-6)


def test_external_data_larger_than_the_onnx_file_loads(tmp_path, rng):
    """The size guard against inline tensors (at most 64x the .onnx file) was applied to external data too, so
    every model whose weights live in a separate file (how onnx saves models > 2 GB) was refused."""
    W = rng.standard_normal((100, 40)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 100])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 40])],
                              [numpy_helper.from_array(W, "W")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path),
              save_as_external_data=True, location="m.data", size_threshold=0)
    assert (tmp_path / "m.data").stat().st_size > 64 * path.stat().st_size
    x = rng.standard_normal((3, 100)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x), _run_ort(path, x), rtol=1e-5, atol=1e-5)


def test_row_shaped_constants_import_like_onnxruntime(tmp_path, rng):
    """A bias, scale or shift of shape (1, n) broadcasts over the batch like one of shape (n,): it was refused
    with numpy's 'input operand has more dimensions than allowed by the axis remapping'."""
    W, b = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal((1, 2)).astype(np.float32)
    s, t = rng.standard_normal((1, 3)).astype(np.float32), rng.standard_normal((1, 1)).astype(np.float32)
    path = _graph_file(tmp_path, [helper.make_node("Mul", ["x", "s"], ["m"]),
                                  helper.make_node("Add", ["m", "t"], ["a"]),
                                  helper.make_node("Gemm", ["a", "W", "b"], ["y"])],
                       [numpy_helper.from_array(v, k) for k, v in (("W", W), ("b", b), ("s", s), ("t", t))])
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x), _run_ort(path, x), rtol=1e-5, atol=1e-5)


def test_a_reshape_that_changes_the_rows_is_refused(tmp_path, rng):
    """Reshape(-1, 1) of a (batch, 3) tensor makes 3 * batch rows; it was skipped as if it were a no-op, so the
    import silently returned (batch, 3) where onnxruntime returns (3 * batch, 1)."""
    path = _graph_file(tmp_path, [helper.make_node("Relu", ["x"], ["r"]),
                                  helper.make_node("Reshape", ["r", "shape"], ["y"], name="rows")],
                       [numpy_helper.from_array(np.array([-1, 1], np.int64), "shape")], n_out=1)
    with pytest.raises(fo.OnnxImportError, match=r"'rows' \(op Reshape\).*\(-1, 3\)"):
        fo.load(path)


@pytest.mark.parametrize("case", ["scalar_matmul", "vector_gemm", "add_to_itself", "batch_bias", "eps_zero",
                                  "bn_training", "bn_negative_variance", "no_input"])
def test_malformed_nodes_are_named_not_internal_errors(tmp_path, rng, case):
    """Each of these raised an IndexError / a bare ValueError of numpy or a layer (naming no node, or a negative
    variance by fastnn's layer index), or, for BatchNormalization in training mode, imported the evaluation form
    silently."""
    f = lambda a, name: numpy_helper.from_array(np.asarray(a, np.float32), name)  # noqa: E731
    ones = [f(np.ones(3), k) for k in ("g", "b", "m", "v")]
    nodes, inits = {
        "scalar_matmul": ([helper.make_node("MatMul", ["x", "W"], ["y"], name="bad")], [f(2.0, "W")]),
        "vector_gemm": ([helper.make_node("Gemm", ["x", "W"], ["y"], name="bad")], [f(np.ones(3), "W")]),
        "add_to_itself": ([helper.make_node("MatMul", ["x", "W"], ["m"]),
                           helper.make_node("Add", ["m", "m"], ["y"], name="bad")], [f(np.ones((3, 2)), "W")]),
        "batch_bias": ([helper.make_node("Gemm", ["x", "W", "c"], ["y"], name="bad")],
                       [f(np.ones((3, 2)), "W"), f(np.ones((4, 2)), "c")]),
        "eps_zero": ([helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bad",
                                       epsilon=0.0)], ones),
        "bn_training": ([helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bad",
                                          training_mode=1)], ones),
        "bn_negative_variance": ([helper.make_node("BatchNormalization", ["x", "g", "b", "m", "nv"], ["y"],
                                                   name="bad")], ones + [f([1, -0.5, 1], "nv")]),
        "no_input": ([helper.make_node("Identity", [], ["y"], name="bad")], []),
    }[case]
    with pytest.raises(fo.OnnxImportError, match="node .* 'bad'"):
        fo.load(_graph_file(tmp_path, nodes, inits))


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs")
def test_a_fifo_is_refused_not_waited_on(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import child_env

    os.mkfifo(tmp_path / "m.onnx")
    child = subprocess.run([sys.executable, "-c", "import fastnn.onnx as fo; fo.load('m.onnx')"], cwd=tmp_path,
                           env=child_env(), capture_output=True, text=True, timeout=30)
    assert child.returncode == 1 and "FIFO" in child.stderr, child.stderr


@pytest.mark.parametrize("eps", [1e-50, 1e40])
def test_export_refuses_a_layernorm_eps_that_float32_cannot_hold(tmp_path, eps, dtype):
    # ONNX's epsilon attribute is float32: 1e-50 became 0 and a constant row's output NaN (the model gives beta)
    model = fnn.Sequential([L.LayerNorm(eps=eps), L.Dense(2)], input_dim=4, dtype=dtype, loss=None)
    assert np.isfinite(model.predict(np.full((1, 4), 2.0, dtype))).all()
    with pytest.raises(ValueError, match="LayerNorm eps=.*float32 epsilon attribute"):
        fo.export(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("kwargs, error", [
    ({"dynamic_batch": False, "batch_size": -3}, ValueError), ({"dynamic_batch": False, "batch_size": 0}, ValueError),
    ({"dynamic_batch": False, "batch_size": 2.7}, TypeError), ({"dynamic_batch": False, "batch_size": "3"}, TypeError),
    ({"dynamic_batch": False, "batch_size": True}, TypeError), ({"dynamic_batch": "no"}, TypeError),
    ({"output_map": "no"}, TypeError)])
def test_export_checks_its_batch_and_output_arguments(tmp_path, kwargs, error):
    """batch_size -3 and 0 were written as the input's batch dimension (onnxruntime then refuses every batch), 2.7
    silently became 2, and the truthy string "no" exported a dynamic batch (or the output map)."""
    model = fnn.Sequential([L.Dense(3)], input_dim=4)
    name = next(iter(kwargs)) if len(kwargs) == 1 else "batch_size"
    with pytest.raises(error, match=name):
        fo.export(model, tmp_path / "m.onnx", **kwargs)
    assert not (tmp_path / "m.onnx").exists()


def test_export_writes_no_opset_its_import_would_refuse(tmp_path, monkeypatch):
    """With an onnx that knows opsets beyond MAX_OPSET, export wrote files fastnn.onnx.load then refused."""
    model = fnn.Sequential([fnn.layers.Dense(2)], input_dim=3)
    monkeypatch.setattr(onnx.defs, "onnx_opset_version", lambda: fo.MAX_OPSET + 5)
    with pytest.raises(ValueError, match=rf"opset must be an int in \[13, {fo.MAX_OPSET}\], got {fo.MAX_OPSET + 1}"):
        fo.export(model, tmp_path / "m.onnx", opset=fo.MAX_OPSET + 1)
    fo.export(model, tmp_path / "m.onnx", opset=fo.MAX_OPSET)
    assert fo.load(tmp_path / "m.onnx").predict(np.ones((1, 3), np.float32)).shape == (1, 2)


def _chain_file(tmp_path, nodes, inits, in_shape, out_shape=None, opset=17, name="c.onnx", elem=TensorProto.FLOAT):
    """An ONNX file of ``nodes`` from input "x" of ``in_shape`` (its first dim the batch) to output "y"."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, in_shape)],
                              [helper.make_tensor_value_info("y", elem, out_shape)],
                              [numpy_helper.from_array(np.asarray(v, helper.tensor_dtype_to_np_dtype(elem)), k)
                               for k, v in inits.items()])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def test_an_input_width_no_tensor_backs_is_refused(tmp_path):
    """A 79-byte file declaring 2**33 features and a Mul by a scalar made load allocate width-sized arrays
    (MemoryError: 64 GiB); a Relu of [N, 2**40, 2**40] loaded and compile_inference() raised a bare OverflowError.
    Like plan files, a width no stored tensor backs is bounded by MAX_FREE_WIDTH."""
    from fastnn.inference.files import MAX_FREE_WIDTH

    mul = [helper.make_node("Mul", ["x", "s"], ["y"])]
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    for nodes, shape in ((mul, ["b", MAX_FREE_WIDTH + 1]), (mul, ["b", 1 << 33]), (relu, ["b", 1 << 40, 1 << 40])):
        with pytest.raises(fo.OnnxImportError, match=r"input 'x' of shape .* declares \d+ features, more than "
                                                     f"any tensor in the file holds, .*{MAX_FREE_WIDTH}"):
            fo.load(_chain_file(tmp_path, nodes, {"s": 2.0}, shape))
    assert fo.load(_chain_file(tmp_path, mul, {"s": 2.0}, ["b", MAX_FREE_WIDTH])).input_dim == MAX_FREE_WIDTH
    wide = MAX_FREE_WIDTH + 7  # a weight that large backs the width
    gemm = [helper.make_node("Gemm", ["x", "W"], ["y"])]
    assert fo.load(_chain_file(tmp_path, gemm, {"W": np.ones((wide, 1))}, ["b", wide])).input_dim == wide


def test_constants_broadcast_beyond_what_the_file_stores_are_bounded(tmp_path):
    """Each Mul by a scalar is a width-sized layer: a 6 KB file of 300 of them at width 65,536 loaded into 900 MB.
    A file may broadcast MAX_SYNTHESIZED values beyond those it stores."""
    from fastnn.inference.files import MAX_FREE_WIDTH

    def muls(n):
        names = ["x", *(f"t{k}" for k in range(n - 1)), "y"]
        return [helper.make_node("Mul", [names[k], "s"], [names[k + 1]]) for k in range(n)]

    n_allowed = fo.MAX_SYNTHESIZED // MAX_FREE_WIDTH
    with pytest.raises(fo.OnnxImportError, match=r"node \d+ .* broadcast to more than 1,048,576 values"):
        fo.load(_chain_file(tmp_path, muls(n_allowed + 1), {"s": 2.0}, ["b", MAX_FREE_WIDTH]))
    model = fo.load(_chain_file(tmp_path, muls(3), {"s": 2.0}, ["b", MAX_FREE_WIDTH]))
    np.testing.assert_array_equal(model.predict(np.ones((1, MAX_FREE_WIDTH), np.float32)), 8.0)


def _node(op, inputs, **attrs):
    return helper.make_node(op, inputs, ["t"], name="the_node", **attrs)


def _then_flatten(*nodes):
    return [*nodes, helper.make_node("Flatten", ["t"], ["y"])]


# (input shape, nodes, initializers) of graphs whose op on a rank > 2 tensor computes a function of the flattened
# row that fastnn has: the import must give onnxruntime's output, flattened
RANK3_IMPORTED = {
    "mul_per_position": ([2, 3], _then_flatten(_node("Mul", ["x", "c"])), {"c": [1.0, 2.0, 3.0]}),
    "add_per_row": ([2, 3], _then_flatten(_node("Add", ["x", "c"])), {"c": [[1.0], [-2.0]]}),
    "add_full": ([2, 3], _then_flatten(_node("Add", ["x", "c"])), {"c": np.arange(6.0).reshape(1, 2, 3)}),
    "batchnorm_per_channel": ([2, 3], _then_flatten(_node("BatchNormalization", ["x", "g", "b", "m", "v"])),
                              {"g": [1.0, 2.0], "b": [0.0, 1.0], "m": [0.5, -0.5], "v": [1.0, 4.0]}),
    "matmul_middle_ones": ([1, 6], _then_flatten(_node("MatMul", ["x", "W"])), {"W": np.arange(24.0).reshape(6, 4)}),
    "layernorm_whole_row": ([2, 3], _then_flatten(_node("LayerNormalization", ["x", "g", "b"], axis=1)),
                            {"g": np.arange(1.0, 7.0).reshape(2, 3), "b": [0.5, 0.0, -0.5]}),
    "layernorm_last_of_ones": ([1, 6], _then_flatten(_node("LayerNormalization", ["x", "g"], axis=-1)),
                               {"g": np.arange(1.0, 7.0)}),
    "softmax_whole_row": ([1, 6], [_node("Relu", ["x"]), helper.make_node("Softmax", ["t"], ["y"], axis=2)], {}),
}


@pytest.mark.parametrize("case", sorted(RANK3_IMPORTED))
def test_ops_on_a_rank3_tensor_import_like_onnxruntime(tmp_path, rng, case):
    shape, nodes, inits = RANK3_IMPORTED[case]
    path = _chain_file(tmp_path, nodes, inits, ["b", *shape])
    x = rng.standard_normal((5, *shape)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x.reshape(5, -1)), _run_ort(path, x).reshape(5, -1),
                               rtol=1e-5, atol=1e-6)


# graphs whose op on a rank > 2 tensor is not a function of the flattened row fastnn has (or that onnxruntime
# refuses): each was imported as something else, silently (a per-feature scale of the 4 columns where
# onnxruntime broadcasts to 16, a LayerNorm of all 6 values...)
RANK3_REFUSED = {
    "mul_broadcasts_up": ([4, 1], _then_flatten(_node("Mul", ["x", "c"])), {"c": [1.0, 2.0, 3.0, 4.0]},
                          r"constant 'c' of shape \[4\] does not broadcast against \(batch, 4, 1\) unchanged"),
    "add_row_broadcasts_up": ([4, 1], _then_flatten(_node("Add", ["x", "c"])), {"c": [[1.0, 2.0, 3.0, 4.0]]},
                              r"constant 'c' of shape \[1, 4\] does not broadcast"),
    "mul_of_the_flat_width": ([2, 3], _then_flatten(_node("Mul", ["x", "c"])), {"c": np.ones(6)},
                              r"constant 'c' of shape \[6\] does not broadcast"),
    "layernorm_of_groups": ([2, 3], _then_flatten(_node("LayerNormalization", ["x", "g"], axis=-1)), {"g": np.ones(3)},
                            r"LayerNormalization over axis 2 of \(batch, 2, 3\) normalizes groups"),
    "layernorm_gamma_mismatch": ([6, 1], _then_flatten(_node("LayerNormalization", ["x", "g"], axis=-1)),
                                 {"g": np.ones(6)}, r"LayerNormalization over axis 2 of \(batch, 6, 1\)"),
    "gemm_rank3": ([1, 6], [helper.make_node("Gemm", ["x", "W"], ["y"], name="the_node")], {"W": np.ones((6, 4))},
                   r"Gemm takes a matrix \(batch, features\), not \(batch, 1, 6\)"),
    "matmul_of_groups": ([2, 3], _then_flatten(_node("MatMul", ["x", "W"])), {"W": np.ones((3, 4))},
                         r"MatMul of \(batch, 2, 3\) multiplies its last axis"),
    "matmul_mismatch": ([6, 1], _then_flatten(_node("MatMul", ["x", "W"])), {"W": np.ones((6, 4))},
                        r"MatMul of \(batch, 6, 1\)"),
    "batchnorm_not_per_channel": ([2, 3], _then_flatten(_node("BatchNormalization", ["x", "g", "b", "m", "v"])),
                                  {k: np.ones((2, 3)) for k in "gbmv"},
                                  r"parameter 'g' of shape \[2, 3\] is not one value per channel"),
    "softmax_of_groups": ([2, 3], [_node("Relu", ["x"]), helper.make_node("Softmax", ["t"], ["y"], name="the_node")],
                          {}, "Softmax of a rank-3 tensor"),
}


@pytest.mark.parametrize("case", sorted(RANK3_REFUSED))
def test_ops_on_a_rank3_tensor_that_fastnn_cannot_import_exactly_are_named(tmp_path, case):
    shape, nodes, inits, match = RANK3_REFUSED[case]
    with pytest.raises(fo.OnnxImportError, match=r"node \d 'the_node' \(op \w+\): " + match):
        fo.load(_chain_file(tmp_path, nodes, inits, ["b", *shape]))


def test_the_declared_output_shape_must_be_the_chains(tmp_path):
    """The graph's declared output shape was never compared with what the chain computes."""
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    with pytest.raises(fo.OnnxImportError, match=r"declares its output 'y' of shape \[None, 5\].*\(batch, 4\)"):
        fo.load(_chain_file(tmp_path, nodes, {}, ["b", 4], ["b", 5]))
    with pytest.raises(fo.OnnxImportError, match=r"declares its output 'y' of shape \[None, 6\].*\(batch, 2, 3\)"):
        fo.load(_chain_file(tmp_path, nodes, {}, ["b", 2, 3], ["b", 6]))
    for declared in (["b", 2, 3], ["b", "n", 3], None):
        assert fo.load(_chain_file(tmp_path, nodes, {}, ["b", 2, 3], declared)).input_dim == 6


def test_a_layernorm_scale_must_broadcast_to_the_normalized_axes(tmp_path):
    """A gamma of another width was handed to the layer, which refused it without naming the node."""
    nodes = [helper.make_node("LayerNormalization", ["x", "g"], ["y"], name="the_node", axis=1)]
    with pytest.raises(fo.OnnxImportError, match=r"node 0 'the_node' .*constant 'g' of shape \[3\] does not "
                                                 r"broadcast against the normalized axes \[1, 6\] unchanged"):
        fo.load(_chain_file(tmp_path, nodes, {"g": np.ones(3)}, ["b", 1, 6]))


def _model_file(tmp_path, nodes, inits, in_shape, opsets, name="m.onnx"):
    """Like _chain_file, with the model's opset imports ({domain: version}) given."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_nodes_of_other_domains_are_refused_by_name(tmp_path, rng):
    """com.example:Gemm -> com.example:Relu (which may compute anything; onnxruntime refuses them as unregistered)
    was imported as Dense + ReLU: the node's domain was never read."""
    W = rng.standard_normal((4, 2))
    for custom in (0, 1):
        nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], name="gemm", domain="com.example" if custom == 0 else ""),
                 helper.make_node("Relu", ["h"], ["y"], name="relu", domain="com.example" if custom == 1 else "")]
        path = _model_file(tmp_path, nodes, {"W": W}, ["b", 4], {"": 17, "com.example": 1})
        match = [r"node 0 'gemm' \(op Gemm, domain 'com.example'\)", r"node 1 'relu' \(op Relu, domain 'com.example'\)"]
        with pytest.raises(fo.OnnxImportError, match=match[custom] + ": fastnn imports ops of the default ONNX domain"):
            fo.load(path)
    const = helper.make_node("Constant", [], ["W"], name="const", domain="com.example",
                             value=numpy_helper.from_array(W.astype(np.float32)))
    path = _model_file(tmp_path, [const, helper.make_node("Gemm", ["x", "W"], ["y"])], {}, ["b", 4],
                       {"": 17, "com.example": 1})
    with pytest.raises(fo.OnnxImportError, match=r"node 0 'const' \(op Constant, domain 'com.example'\)"):
        fo.load(path)
    # "ai.onnx" is the default domain's other name
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], domain="ai.onnx")]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    model = fo.load(_model_file(tmp_path, nodes, {"W": W}, ["b", 4], {"ai.onnx": 17}))
    np.testing.assert_allclose(model.predict(x), x @ W.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("opset", [8, 29])
def test_opsets_fastnn_has_not_been_checked_against_are_refused(tmp_path, rng, opset):
    """The model's opset was never read: ops whose meaning differs outside 9..28 (Add and Gemm without numpy
    broadcasting below 7, BatchNormalization's `spatial` below 9, any change after the newest opset onnx 1.23
    knows) were imported as if it were 17."""
    path = _model_file(tmp_path, [helper.make_node("Gemm", ["x", "W"], ["y"])], {"W": np.ones((4, 2))}, ["b", 4],
                       {"": opset})
    with pytest.raises(fo.OnnxImportError, match=f"opset {opset} of the default ONNX domain: fastnn imports opsets "
                                                 "9 to 28"):
        fo.load(path)


def test_the_opset_is_read(tmp_path, rng):
    assert (fo.MIN_OPSET, fo.MAX_OPSET) == (9, 28)
    W = rng.standard_normal((4, 2))
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for opset in (9, 13, 28):
        path = _model_file(tmp_path, [helper.make_node("Gemm", ["x", "W"], ["y"])], {"W": W}, ["b", 4], {"": opset})
        np.testing.assert_allclose(fo.load(path).predict(x), x @ W.astype(np.float32), rtol=1e-6)
    with pytest.raises(fo.OnnxImportError, match="declares no opset of the default ONNX domain"):
        fo.load(_model_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], {}, ["b", 4], {"com.example": 1}))
    # ops the default domain gained within the range
    for op, since, attrs in (("Gelu", 20, {}), ("LayerNormalization", 17, {"inputs": ["x", "g"]})):
        node = helper.make_node(op, attrs.get("inputs", ["x"]), ["y"], name="late")
        with pytest.raises(fo.OnnxImportError, match=rf"node 0 'late' \(op {op}\): the default ONNX domain has it "
                                                     rf"from opset {since}; the model imports opset {since - 1}"):
            fo.load(_model_file(tmp_path, [node], {"g": np.ones(4)}, ["b", 4], {"": since - 1}))


def test_softmax_before_opset_13_normalizes_the_flattened_axes(tmp_path, rng):
    """Below opset 13 Softmax(axis=a) normalizes the tensor flattened to 2-D at a (default 1): on (batch, 2, 3)
    the whole row; from 13 along axis a alone (default -1). Both were read with the opset-13 meaning."""
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    for opset, attrs in ((11, {}), (11, {"axis": 1}), (12, {"axis": -2})):
        nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], **attrs)]
        path = _model_file(tmp_path, nodes, {}, ["b", 2, 3], {"": opset})
        np.testing.assert_allclose(fo.load(path).predict(x.reshape(5, 6)), _run_ort(path, x).reshape(5, 6),
                                   rtol=1e-6, atol=1e-7)
    for opset, attrs in ((11, {"axis": 2}), (13, {"axis": 1}), (13, {})):
        nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], **attrs)]
        with pytest.raises(fo.OnnxImportError, match=f"Softmax of a rank-3 tensor .* opset {opset}"):
            fo.load(_model_file(tmp_path, nodes, {}, ["b", 2, 3], {"": opset}))


def test_a_reshape_with_allowzero_keeps_its_zero(tmp_path):
    """Reshape [0, 6] with allowzero=1 (opset 14) asks for a zero-length batch (onnxruntime fails); it was imported
    as a copy of the batch dimension."""
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs", allowzero=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array([0, 6], np.int64), "s")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "r.onnx"))
    with pytest.raises(fo.OnnxImportError, match=r"'rs' \(op Reshape\): Reshape to \[0, 6\] with allowzero=1"):
        fo.load(tmp_path / "r.onnx")


def _fine_tuned_predict(model, X, y):
    """model.predict after one epoch of fit at a learning rate that moves no weight: what fit does to constants."""
    model.fit(X, y, epochs=1, optimizer=fnn.optim.SGD(lr=1e-30), batch_size=32, verbose=0)
    return model.predict(X)


@pytest.mark.parametrize("first", ["Dense", "LayerNorm"])
def test_an_imported_scale_shift_is_a_constant_under_fit(tmp_path, rng, dtype, first):
    """A StandardScaler exports as a per-feature Mul / Add, which load made a trainable BatchNorm: fit then normalized
    by batch statistics and overwrote it (fine-tuning at lr=1e-30 took accuracy from 0.865 to 0.701). The graph's
    first scale-shifts are now the model's fitted preprocessor (computing them as the nodes do), and
    export -> load -> export writes the same file where no Dense folds them."""
    X = rng.standard_normal((256, 4)) * [1, 5, 0.2, 3] + [10, -4, 2, 0]
    y = (X[:, 0] - 10 + X[:, 3] / 3 > 0).astype(int)
    layers = [L.Dense(16, activation="relu"), L.Dense(2)] if first == "Dense" else [L.LayerNorm(), L.Dense(2)]
    model = fnn.Sequential(layers, input_dim=4, dtype=dtype, seed=0, preprocess=fnn.preprocessing.StandardScaler())
    model.fit(X, y, epochs=2, verbose=0)
    fo.export(model, tmp_path / "a.onnx")
    back = fo.load(tmp_path / "a.onnx")
    assert not any(isinstance(layer, L.BatchNorm) for layer in back.layers)
    before = back.predict(X)
    np.testing.assert_allclose(before, _run_ort(tmp_path / "a.onnx", X.astype(dtype)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_fine_tuned_predict(back, X, y), before)
    if first == "LayerNorm":
        fo.export(fo.load(tmp_path / "a.onnx"), tmp_path / "b.onnx")
        a, b = (onnx.load(str(tmp_path / f)).graph for f in ("a.onnx", "b.onnx"))
        assert [n.op_type for n in a.node] == [n.op_type for n in b.node] == [
            "Mul", "Add", "Mul", "Add", "LayerNormalization", "Gemm", "Softmax"]
        for p, q in zip(a.initializer, b.initializer, strict=True):
            np.testing.assert_array_equal(numpy_helper.to_array(p), numpy_helper.to_array(q))


@pytest.mark.parametrize("scale", [[2.0, 0.5, 1.0], [1.0, 1.0, 1.0], [-1.0, 2.0, 1.0]])
def test_a_scale_shift_between_layers_imports_as_a_frozen_batchnorm(tmp_path, rng, scale):
    """Elsewhere (or with a scale no scaler holds) a Mul / Add is a frozen BatchNorm: fit leaves it, and so the
    model's function, unchanged, while the layers before it still learn through it."""
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Mul", ["r", "s"], ["m"]), helper.make_node("Add", ["m", "t"], ["a"]),
             helper.make_node("Gemm", ["a", "W2"], ["y"])]
    inits = {"W": rng.standard_normal((3, 3)), "b": np.zeros(3), "s": scale, "t": [100.0, -3.0, 0.5],
             "W2": rng.standard_normal((3, 2))}
    path = _chain_file(tmp_path, nodes, inits, ["n", 3], ["n", 2])
    model = fo.load(path)
    bn = model.layers[2]
    assert isinstance(bn, L.BatchNorm) and bn.frozen and not bn.params
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = rng.integers(0, 2, 64)
    np.testing.assert_allclose(model.predict(X), _run_ort(path, X), rtol=1e-6, atol=1e-5)
    model.loss = fnn.losses.get("cross_entropy")
    before = model.predict(X)
    np.testing.assert_array_equal(_fine_tuned_predict(model, X, y), before)
    frozen = [w.copy() for w in bn.buffers.values()]
    W0 = model.layers[0].params["W"].copy()
    model.fit(X, y, epochs=1, optimizer=fnn.optim.SGD(lr=0.1), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, bn.buffers.values(), strict=True))
    assert not np.array_equal(model.layers[0].params["W"], W0)


@pytest.mark.parametrize("elem", [TensorProto.FLOAT, TensorProto.DOUBLE], ids=["float32", "float64"])
def test_a_standardization_far_from_the_origin_is_the_models_preprocessor(tmp_path, rng, elem):
    """Mul(1 / std), Add(-mean / std) with means 1e4 and stds 1e-3..1e-2: MinMaxScaler.of(scale, shift) refused its
    own state (data_max = data_min + 1 / scale lost digits; "holds 10000 where a fit computes 10000"), so the
    import fell back to a frozen BatchNorm, 7.5e-2 off onnxruntime in float32. It is the preprocessor now, x *
    scale then + shift rounded as the nodes round them: onnxruntime's bits. The plan keeps the shift apart (it
    cancels x * scale ~ 1e7 down to O(1)), so it stays within its bound of the model; model and plan files
    reload."""
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    mean, std = rng.standard_normal(6) * 1e4, rng.uniform(1e-3, 1e-2, 6)
    nodes = [helper.make_node("Mul", ["x", "s"], ["m"]), helper.make_node("Add", ["m", "t"], ["a"]),
             helper.make_node("Gemm", ["a", "W", "b"], ["y"])]
    inits = {"s": 1 / std, "t": -mean / std, "W": rng.standard_normal((6, 3)), "b": rng.standard_normal(3)}
    path = _chain_file(tmp_path, nodes, inits, ["n", 6], ["n", 3], elem=elem)
    model = fo.load(path)
    assert [type(s).__name__ for s in model.preprocess.steps] == ["MinMaxScaler", "MeanCenter"]
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"]
    X = (mean + std * rng.standard_normal((50, 6))).astype(dtype)
    want = model.predict(X)
    np.testing.assert_array_equal(want, _run_ort(path, X))
    plan = fi.compile(model)
    bound = {np.float32: 2e-6, np.float64: 1e-12}[dtype.type]  # tests/test_inference.py's
    assert np.abs(plan.predict(X) - want).max() <= bound * np.abs(want).max()
    fnn.save(model, tmp_path / "m.safetensors")
    np.testing.assert_array_equal(fnn.load(tmp_path / "m.safetensors").predict(X), want)
    plan.save(tmp_path / "p.plan")
    np.testing.assert_array_equal(fi.load(tmp_path / "p.plan").predict(X), plan.predict(X))


def test_a_graph_of_a_scale_shift_only_is_its_preprocessor(tmp_path, rng):
    path = _chain_file(tmp_path, [helper.make_node("Mul", ["x", "s"], ["y"])], {"s": 2.0}, ["n", 3], ["n", 3])
    model = fo.load(path)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert isinstance(model.preprocess, fnn.preprocessing.MinMaxScaler)
    np.testing.assert_array_equal(model.predict(x), x * np.float32(2))


@pytest.mark.parametrize("with_std", [False, True])
def test_a_scaler_before_a_sample_center_exports_and_loads_back(tmp_path, rng, with_std):
    """A Pipeline of a StandardScaler then a SampleCenter: the import refused the centering after the scale-shift
    (a BatchNorm layer then, and the centering was taken only as the graph's first step)."""
    X = rng.standard_normal((50, 4)) * 3 + 1
    pipeline = fnn.preprocessing.Pipeline([fnn.preprocessing.StandardScaler(),
                                          fnn.preprocessing.SampleCenter(with_std=with_std)])
    model = fnn.Sequential([L.Dense(3)], input_dim=4, dtype="float64", seed=0, preprocess=pipeline.fit(X))
    fo.export(model, tmp_path / "p.onnx")
    loaded = fo.load(tmp_path / "p.onnx")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-12, atol=1e-12)
    assert [type(step).__name__ for step in loaded.preprocess.steps][-1] == "SampleCenter"


@pytest.mark.parametrize("with_std", [False, True])
@pytest.mark.parametrize("whitening", ["PCAWhitening", "ZCAWhitening"])
def test_a_whitening_before_a_sample_center_exports_and_loads_back(tmp_path, rng, dtype, whitening, with_std):
    """Export writes a whitening as its offset (Add) and a Gemm, which load took for a Dense layer: the centering
    after it was refused ("only ... before any layer"), by load and by `fastnn predict file.onnx`, though
    onnxruntime ran the file. The Gemm is now the fitted whitening (PCAWhitening.of, ZCAWhitening.of), and the
    loaded model, saved and loaded again, and the CLI predict within the README's plan bound."""
    from fastnn.cli import main

    X = (rng.standard_normal((100, 5)) @ rng.standard_normal((5, 5)) + 3).astype(dtype)
    pre = fnn.preprocessing.Pipeline([getattr(fnn.preprocessing, whitening)(),
                                      fnn.preprocessing.SampleCenter(with_std=with_std)])
    model = fnn.Sequential([L.Dense(8, activation="tanh"), L.Dense(3)], input_dim=5, dtype=dtype.__name__, seed=0,
                           loss="cross_entropy", preprocess=pre)
    model.fit(X, rng.integers(0, 3, 100), epochs=1, verbose=0)
    fo.export(model, tmp_path / "w.onnx")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "w.onnx")).metadata_props}
    assert json.loads(meta[fo.WHITENING_GEMMS_KEY]) == ["n2_Gemm"]  # after the offset's Mul, Add; not the layer's
    back = fo.load(tmp_path / "w.onnx")
    assert [type(s).__name__ for s in back.preprocess.steps] == [whitening, "SampleCenter"]
    assert back.preprocess.steps[1].with_std == with_std
    fnn.save(back, tmp_path / "back.fnn")
    np.save(tmp_path / "X.npy", X)
    assert main(["predict", str(tmp_path / "w.onnx"), str(tmp_path / "X.npy"), "-o", str(tmp_path / "p.npy")]) == 0
    want = model.predict_logits(X)
    bound = (2e-6 if dtype == np.float32 else 1e-12) * np.abs(want).max()
    for got in (back.predict_logits(X), fnn.load(tmp_path / "back.fnn").predict_logits(X)):
        np.testing.assert_allclose(got, want, rtol=0, atol=bound)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(X), rtol=0,
                               atol=bound / 2 + (2e-6 if dtype == np.float32 else 1e-12))


def _whitening_pipeline_model(X, whitening):
    """A model whose preprocessor is ``whitening`` then a SampleCenter, fitted on X (warnings of zero-variance
    directions, documented, silenced)."""
    pre = fnn.preprocessing.Pipeline([whitening, fnn.preprocessing.SampleCenter()])
    model = fnn.Sequential([L.Dense(3)], input_dim=X.shape[1], dtype=X.dtype.name, seed=0, loss="cross_entropy",
                           preprocess=pre)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(X, np.arange(len(X)) % 3, epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("case", ["constant_feature_eps0", "collinear_features_eps0"])
def test_a_pca_whitening_of_data_with_a_zero_variance_direction_exports_and_loads_back(tmp_path, rng, dtype, case):
    """A fit leaves a (numerically) zero-variance direction unscaled, factor 1 after the larger ones (a constant
    feature or collinear features next to a large one, with eps 0; eps > 0 scales every direction):
    PCAWhitening.of refused such factors as not increasing, so the export of such a pipeline did not load. It
    loads as the fit, with that direction's variance 0 as the fit stores it."""
    X = rng.standard_normal((100, 4)) * 0.1
    if case == "constant_feature_eps0":
        X[:, 2], whitening = 0.5, fnn.preprocessing.PCAWhitening()
    else:
        X[:, 3], X[:, 0], whitening = 2 * X[:, 1], X[:, 0] * 1e7, fnn.preprocessing.PCAWhitening()
    model = _whitening_pipeline_model(X.astype(dtype), whitening)
    assert model.preprocess.steps[0]._fitted_state()["factors"][-1] == 1.0  # unscaled, after larger factors
    fo.export(model, tmp_path / "w.onnx")
    back = fo.load(tmp_path / "w.onnx")
    loaded = back.preprocess.steps[0]
    assert isinstance(loaded, fnn.preprocessing.PCAWhitening) and loaded.explained_variance_[-1] == 0.0
    np.testing.assert_allclose(loaded._fitted_state()["factors"], whitening._fitted_state()["factors"], rtol=1e-6)
    want = model.predict_logits(X.astype(dtype))
    bound = (2e-6 if dtype == np.float32 else 1e-12) * np.abs(want).max()
    np.testing.assert_allclose(back.predict_logits(X.astype(dtype)), want, rtol=0, atol=bound)


@pytest.mark.parametrize("kind", ["PCAWhitening", "ZCAWhitening"])
def test_a_whitening_with_eps_of_data_with_a_zero_variance_direction_exports_and_loads_back(tmp_path, rng, dtype,
                                                                                          kind):
    """review 11: with eps > 0 a zero-variance direction now gets 1/sqrt(eps), and the state the import builds
    (eps 0, variances 1/f**2) put that direction under the eps = 0 zero test once the largest variance was large
    (std 1e5 here): the check wanted factor 1, and the export did not load back."""
    X = rng.standard_normal((300, 6)) * 1e5
    X[:, 3] = 7.0
    whitening = getattr(fnn.preprocessing, kind)(eps=1e-5)
    model = _whitening_pipeline_model(X.astype(dtype), whitening)
    assert whitening._fitted_state()["factors"].max() > 100  # the zero direction: near 1/sqrt(eps), not 1
    fo.export(model, tmp_path / "w.onnx")
    back = fo.load(tmp_path / "w.onnx")
    assert isinstance(back.preprocess.steps[0], type(whitening))
    want = model.predict_logits(X.astype(dtype))
    bound = (2e-6 if dtype == np.float32 else 1e-12) * np.abs(want).max()
    np.testing.assert_allclose(back.predict_logits(X.astype(dtype)), want, rtol=0, atol=bound)


def _gemm_then_center_file(tmp_path, W, dtype, marked):
    """A graph as torch writes one (or a hand-made one): Gemm(x, W) without bias, named "g0", then the row
    centering fastnn reads as a SampleCenter, then a Gemm with bias; with ``marked``, the metadata that export
    writes for a whitening's Gemm names "g0"."""
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    if dtype == np.float64:  # the earlier float64 form, as torch writes x - x.mean(1, keepdim=True)
        center = [helper.make_node("ReduceMean", ["h"], ["m"], axes=[1], keepdims=1)]
    else:
        center = [helper.make_node("Cast", ["h"], ["hd"], to=TensorProto.DOUBLE),
                  helper.make_node("ReduceMean", ["hd"], ["md"], axes=[1], keepdims=1),
                  helper.make_node("Cast", ["md"], ["m"], to=TensorProto.FLOAT)]
    nodes = [helper.make_node("Gemm", ["x", "W1"], ["h"], name="g0"), *center,
             helper.make_node("Sub", ["h", "m"], ["c"]), helper.make_node("Gemm", ["c", "W2", "b2"], ["y"])]
    inits = {"W1": W, "W2": np.linspace(-1, 1, W.shape[1] * 3).reshape(W.shape[1], 3), "b2": np.zeros(3)}
    path = _chain_file(tmp_path, nodes, inits, ["b", W.shape[0]], ["b", 3], elem=elem)
    if marked:
        model = onnx.load(str(path))
        helper.set_model_props(model, {fo.WHITENING_GEMMS_KEY: '["g0"]'})
        onnx.save(model, str(path))
    return path


def _orthogonal(rng, d):
    return np.linalg.qr(rng.standard_normal((d, d)))[0]


@pytest.mark.parametrize("kind", ["orthogonal", "orthogonal_increasing_norms", "identity"])
def test_only_a_gemm_export_marks_becomes_a_whitening_before_a_centering(tmp_path, rng, dtype, kind):
    """A bias-free Gemm before a centering whose matrix happens to be a whitening's (a torch Linear(bias=False)
    of orthogonal init, the identity) became a frozen PCA/ZCA preprocessor, so fit no longer trained it. Only the
    Gemm export marks as a whitening (metadata WHITENING_GEMMS_KEY) becomes one; any other is refused as before
    this import existed."""
    W = {"orthogonal": _orthogonal(rng, 4), "orthogonal_increasing_norms": _orthogonal(rng, 4) * [1, 1, 1, 2],
         "identity": np.eye(4)}[kind]
    with pytest.raises(fo.OnnxImportError, match=r"node 1 .*only among the graph's first steps, before any layer "
                                                 r"\(or after a Gemm that fastnn's export marks as a whitening"):
        fo.load(_gemm_then_center_file(tmp_path, W, dtype, marked=False))
    path = _gemm_then_center_file(tmp_path, W, dtype, marked=True)
    model = fo.load(path)
    assert [type(s).__name__ for s in model.preprocess.steps] == [
        "ZCAWhitening" if kind == "identity" else "PCAWhitening", "SampleCenter"]
    x = rng.standard_normal((20, 4)).astype(dtype)
    want = _run_ort(path, x)
    bound = (2e-6 if dtype == np.float32 else 1e-12) * np.abs(want).max()
    np.testing.assert_allclose(model.predict(x), want, rtol=0, atol=bound)


@pytest.mark.parametrize("kind", ["norms_decrease_by_1e-5", "columns_5e-6_off_orthogonal"])
def test_a_marked_gemm_a_whitening_does_not_reproduce_to_rounding_is_refused(tmp_path, rng, dtype, kind):
    """PCAWhitening.of replaced a matrix whose columns were 5e-6 off orthogonal, or whose norms decreased by
    up to 1e-5, with the nearest whitening's: predictions 6e-6 (relative) off the file's (bound 1e-12 in float64).
    The whitening it rebuilds must be the file's matrix to the dtype's rounding, else the file is refused."""
    Q = _orthogonal(rng, 4)
    W = Q * [1, 1 - 9.9e-6, 1, 2] if kind == "norms_decrease_by_1e-5" else Q + 5e-6 * rng.standard_normal((4, 4))
    with pytest.raises(fo.OnnxImportError, match=r"'g0' before it, marked as a whitening in the metadata, is not a "
                                                 r"whitening's \(PCAWhitening.of: the matrix is not a PCA whitening's "
                                                 rf"\(.*\) to the rounding of {np.dtype(dtype).name}: the nearest one "
                                                 r"is off by"):
        fo.load(_gemm_then_center_file(tmp_path, W, dtype, marked=True))


def _exported_whitening_matrix(model, path):
    """The file's whitening Gemm matrix (export names it "l1.W") of ``model`` exported to ``path``, in float64."""
    fo.export(model, path)
    return next(numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
                if t.name == "l1.W").astype(np.float64)


def test_an_edited_whitening_gemm_whose_small_column_is_tilted_is_refused(tmp_path, rng, dtype):
    """The rebuild check was relative to the whole matrix's largest entry, so a column of norm 1e-4 next to one of
    norm 1 could be tilted (1.1 degrees in float32, 5e-11 rad in float64) towards another and still load, silently
    replaced: predictions 3.9e-3 (float32; bound 2e-6) and 9.9e-12 (float64; bound 1e-12) off onnxruntime's. The
    check is per column, each to its own rounding."""
    X = (rng.standard_normal((300, 6)) * [1e4, 0.9e4, 1, 1.5, 2, 3]).astype(dtype)
    path = tmp_path / "w.onnx"
    A = _exported_whitening_matrix(_whitening_pipeline_model(X, fnn.preprocessing.PCAWhitening()), path)
    norms = np.linalg.norm(A, axis=0)
    assert norms[0] < 1e-3 * norms.max()
    tilt = 0.02 if dtype == np.float32 else 5e-11
    A[:, 0] = (np.cos(tilt) * A[:, 0] / norms[0] + np.sin(tilt) * A[:, 1] / norms[1]) * norms[0]
    model = onnx.load(str(path))
    next(t for t in model.graph.initializer if t.name == "l1.W").CopyFrom(numpy_helper.from_array(A.astype(dtype),
                                                                                                  "l1.W"))
    onnx.save(model, str(path))
    with pytest.raises(fo.OnnxImportError, match=r"PCAWhitening.of: the matrix is not a PCA whitening's .* the "
                                                 r"nearest one is off by \S+ in column \d,"):
        fo.load(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_ill_conditioned_pca_whitening_loads_as_the_file_computes_it(tmp_path, seed):
    """Features whose scales span 1e6 (covariance condition 1e12): PCAWhitening.of replaced the float64 file's unit
    columns by their polar factor, an ulp off in most entries, which this whitening amplified to predictions
    2e-11..9e-11 (relative) off the file's in onnxruntime (bound 1e-12). A float64 fit's unit columns are
    orthonormal to rounding and are kept: the loaded model, saved and loaded again, and its re-export compute
    the file's predictions."""
    r = np.random.default_rng(seed)
    X = r.standard_normal((300, 8)) * np.logspace(0, 6, 8)
    path = tmp_path / "w.onnx"
    model = _whitening_pipeline_model(X, fnn.preprocessing.PCAWhitening())
    _exported_whitening_matrix(model, path)
    back = fo.load(path)
    fnn.save(back, tmp_path / "back.fnn")
    again = fnn.load(tmp_path / "back.fnn")
    fo.export(again, tmp_path / "again.onnx")
    want = _run_ort(path, X)  # the probabilities; and the logits, which the original model computes as the file
    for got in (back.predict(X), again.predict(X), _run_ort(tmp_path / "again.onnx", X)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
    logits = model.predict_logits(X)
    for got in (back.predict_logits(X), again.predict_logits(X)):
        np.testing.assert_allclose(got, logits, rtol=0, atol=1e-12 * np.abs(logits).max())


def test_a_whitening_mark_that_is_not_a_list_of_node_names_is_refused(tmp_path):
    path = _gemm_then_center_file(tmp_path, np.eye(2), np.float32, marked=False)
    model = onnx.load(str(path))
    helper.set_model_props(model, {fo.WHITENING_GEMMS_KEY: "g0"})
    onnx.save(model, str(path))
    with pytest.raises(fo.OnnxImportError, match="metadata 'fastnn.whitening_gemms' must be a JSON list of node "
                                                 "names, got 'g0'"):
        fo.load(path)


def test_only_the_standardization_export_writes_is_imported(tmp_path, rng):
    """SampleCenter(with_std=True) exports as its rows' standardization in double (it stopped with "cannot compile
    the preprocessor SampleCenter: it is not affine") and loads back as it; another zero-std floor is refused."""
    model = fnn.Sequential([L.Dense(3)], input_dim=4,
                           preprocess=fnn.preprocessing.SampleCenter(with_std=True).fit(np.ones((1, 4))))
    fo.export(model, tmp_path / "s.onnx", opset=17)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    x[0] = 2.0  # a constant row: std 0, divided by 1
    np.testing.assert_allclose(_run_ort(tmp_path / "s.onnx", x), model.predict(x), rtol=1e-6, atol=1e-6)
    assert fo.load(tmp_path / "s.onnx").preprocess.with_std
    m = onnx.load(str(tmp_path / "s.onnx"))
    less = next(n for n in m.graph.node if n.op_type == "Less")
    floor = next(t for t in m.graph.initializer if t.name == less.input[1])
    floor.CopyFrom(numpy_helper.from_array(np.array(1e-3), floor.name))
    onnx.save(m, str(tmp_path / "changed.onnx"))
    with pytest.raises(fo.OnnxImportError, match=r"node 0 'n0_Cast' .*standardization"):
        fo.load(tmp_path / "changed.onnx")


@pytest.mark.parametrize("with_std", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opset", [17, 18])
def test_a_constant_row_centres_to_zero_in_onnxruntime_as_in_the_plan(tmp_path, dtype, opset, with_std):
    """The export's float64 centering and its standardization sum a row's deviations from its first value, as
    the plan's center and center_std steps and SampleCenter do: a constant row's are 0, and every one of them
    gives exactly 0 (onnxruntime gave 1.5e-15 for 4097 x 0.1 and 1 for 7 x 123456.7 under the absolute zero-std
    floor; less the rounded row mean, the float64 centering gave 1.1e-13 for 10 x 1000.1), and the file loads back
    to a model that does."""
    for x in constant_rows(dtype):
        model = fnn.Sequential([L.Dropout(0.0)], input_dim=x.shape[1], dtype=dtype.__name__, loss="mse",
                               preprocess=fnn.preprocessing.SampleCenter(with_std=with_std).fit(x))
        path = tmp_path / f"c{x.shape[1]}.onnx"
        fo.export(model, path, opset=opset)
        for got in (_run_ort(path, x), fi.compile(model).predict(x), model.predict(x), fo.load(path).predict(x)):
            np.testing.assert_array_equal(got, np.zeros_like(x), err_msg=f"a row of {x.shape[1]} x {x[0, 0]!r}")


@pytest.mark.parametrize("with_std", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opset", [17, 18, 21])
def test_nearly_constant_rows_centre_alike_in_onnxruntime_the_plan_and_the_model(tmp_path, dtype, opset, with_std):
    """Rows 1 ulp off constant or v + s * randn (s / |v| down to 1e-12): onnxruntime, the plan, the model and the
    model loaded back from the file give the exact answer within rounding (but float32's centering, which
    subtracts the row mean rounded to float32), and each other within the README's plan bound (float32 bit for
    bit). About the rounded row mean, each summing in its own order, they differed by O(1) standardized: 257 x
    1000.1 + 1 ulp gave [-1.0 .. -0.50] in the model, [-1.0 .. -0.97] in the plan, [1.0 .. 1.1] in onnxruntime,
    exactly [-0.0625 .. 16]; 1e6 + 1e-3 randn put the plan 5.1e-7 off the model. Centred in float64, by up to
    ~1e-9 of the output."""
    for k, x in enumerate(nearly_constant_rows(dtype)):
        model = fnn.Sequential([L.Dropout(0.0)], input_dim=x.shape[1], dtype=dtype.__name__, loss="mse",
                               preprocess=fnn.preprocessing.SampleCenter(with_std=with_std).fit(x))
        path = tmp_path / f"n{k}.onnx"
        fo.export(model, path, opset=opset)
        want = model.predict(x)
        if with_std or dtype == np.float64:
            assert_sample_centered_as_exact(want, x, with_std, err_msg=f"rows like {x[0, :3]!r}")
        for got in (_run_ort(path, x), fi.compile(model).predict(x), fo.load(path).predict(x)):
            if dtype == np.float32:
                np.testing.assert_array_equal(got, want, err_msg=f"rows like {x[0, :3]!r}")
            else:
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max(),
                                           err_msg=f"rows like {x[0, :3]!r}")


@pytest.mark.parametrize("opset", [17, 18])
def test_a_float64_centering_of_the_earlier_form_still_loads(tmp_path, rng, opset):
    """Earlier versions wrote a float64 SampleCenter() as ReduceMean + Sub(x, mean): such a file still loads, as a
    SampleCenter (now centring as the current form does), and predicts within the README's plan bound."""
    X = rng.standard_normal((50, 6))
    model = fnn.Sequential([L.Dense(3)], input_dim=6, dtype="float64", seed=0, loss="mse",
                           preprocess=fnn.preprocessing.SampleCenter().fit(X))
    fo.export(model, tmp_path / "new.onnx", opset=opset)
    m = onnx.load(str(tmp_path / "new.onnx"))
    assert [n.op_type for n in m.graph.node][:4] == ["Gather", "Sub", "ReduceMean", "Sub"]
    axes = ["l0.axes"] if opset >= 18 else []
    earlier = [helper.make_node("ReduceMean", ["x", *axes], ["mean"], name="n0_ReduceMean", keepdims=1,
                                **({} if axes else {"axes": [1]})),
               helper.make_node("Sub", ["x", "mean"], [m.graph.node[3].output[0]], name="n1_Sub")]
    nodes = earlier + list(m.graph.node)[4:]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    kept = [t for t in m.graph.initializer if t.name != "l0.first"]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(tmp_path / "earlier.onnx"))
    back = fo.load(tmp_path / "earlier.onnx")
    assert type(back.preprocess) is fnn.preprocessing.SampleCenter and not back.preprocess.with_std
    want = model.predict(X)
    for got in (back.predict(X), _run_ort(tmp_path / "earlier.onnx", X)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("opset", [17, 20])
def test_a_float64_leaky_slope_keeps_its_value(tmp_path, rng, opset):
    """LeakyRelu's alpha is a float32 attribute: a float64 export of slope 0.2 ran as 0.20000000298 in onnxruntime
    and in load (2.8e-9 relative). A slope float32 does not hold is written as Where(x < 0, x * alpha, x) with a
    double alpha and read back exactly; float32 exports, and slopes float32 holds, keep the LeakyRelu node."""
    X = rng.standard_normal((50, 4)) * 100
    for dtype, alpha, want_op in ((np.float64, 0.2, "Where"), (np.float64, 0.25, "LeakyRelu"),
                                  (np.float32, 0.2, "LeakyRelu")):
        model = fnn.Sequential([L.Dense(8, activation="leaky_relu", alpha=alpha), L.Dense(6), L.LeakyReLU(alpha),
                                L.Dense(1)], input_dim=4, dtype=dtype, seed=0, loss="mse")
        fo.export(model, tmp_path / "l.onnx", opset=opset)
        ops = [n.op_type for n in onnx.load(str(tmp_path / "l.onnx")).graph.node]
        assert ops.count(want_op) == 2
        back = fo.load(tmp_path / "l.onnx")
        held = float(dtype(alpha))  # float32 models compute with the float32 slope the attribute holds
        assert [layer.alpha for layer in back.layers if isinstance(layer, L.LeakyReLU)] == [held, held]
        x = X.astype(dtype)
        if want_op == "Where":
            np.testing.assert_array_equal(back.predict(x), model.predict(x))
            np.testing.assert_allclose(_run_ort(tmp_path / "l.onnx", x), model.predict(x), rtol=1e-14)


def _bn_ln_dropout_file(tmp_path, op, outputs, opset, relu=False, **attrs):
    """A graph of one BatchNormalization, LayerNormalization or Dropout node on (batch, 3) naming ``outputs``
    (review 12: the optional outputs of these ops are either a mode, BatchNormalization's, or by-products), then
    a Relu if ``relu`` (its first output then "h")."""
    f = lambda a, name: numpy_helper.from_array(np.asarray(a, np.float32), name)  # noqa: E731
    inputs = {"BatchNormalization": ["x", "g", "b", "m", "v"], "LayerNormalization": ["x", "g", "b"],
              "Dropout": ["x"]}[op]
    inits = [f(np.ones(3), "g"), f(np.zeros(3), "b"), f(np.full(3, 5.0), "m"), f(np.full(3, 4.0), "v")]
    nodes = [helper.make_node(op, inputs, (["h"] if relu else ["y"]) + outputs[1:], name="n", **attrs)]
    nodes += [helper.make_node("Relu", ["h"], ["y"])] if relu else []
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3])],
                              [i for i in inits if i.name in inputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    return path, model


@pytest.mark.parametrize("opset, outputs, attrs", [
    (9, ["y", "mean", "var", "saved_mean", "saved_var"], {}),  # the spec's training-mode output case (9-13)
    (13, ["y", "", "", "", "saved_var"], {}),
    (13, ["y", "", "", "", ""], {}),  # unnamed, yet onnxruntime counts them as the training mode (it crashes)
    (15, ["y", "running_mean", "running_var"], {"training_mode": 0}),  # outputs of the training mode only
])
def test_a_batchnorm_naming_its_training_outputs_is_refused(tmp_path, opset, outputs, attrs):
    """Review 12: a BatchNormalization of opset 9-13 that names its optional outputs normalizes by the batch's
    statistics (onnxruntime gives [[-1]*3, [1]*3] on two rows); load imported it as the evaluation form, silently
    (predict gave [[-2.5, -2, -1.5], [-0.5, 0, 0.5]]). Like training_mode=1, it is refused."""
    path, model = _bn_ln_dropout_file(tmp_path, "BatchNormalization", outputs, opset, **attrs)
    if opset == 9:
        onnx.checker.check_model(model, full_check=True)  # a valid graph, not a damaged one
        x = np.array([[0, 1, 2], [4, 5, 6]], np.float32)
        np.testing.assert_allclose(_run_ort(path, x), [[-1, -1, -1], [1, 1, 1]], atol=1e-5)
    with pytest.raises(fo.OnnxImportError, match=r"'n' \(op BatchNormalization\).*batch's statistics"):
        fo.load(path)


@pytest.mark.parametrize("op, outputs", [("LayerNormalization", ["y", "mean", "inv_std"]),
                                         ("Dropout", ["y", "mask"])])
def test_by_product_outputs_nobody_reads_are_ignored(tmp_path, rng, op, outputs):
    """LayerNormalization's Mean and InvStdDev and Dropout's mask leave its first output as it is: unread, they
    import (as the dynamo exporter writes LayerNormalization), and predict is onnxruntime's."""
    path, model = _bn_ln_dropout_file(tmp_path, op, outputs, 17, relu=True)
    onnx.checker.check_model(model, full_check=True)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(fo.load(path).predict(x), _run_ort(path, x), rtol=1e-5, atol=1e-6)


def _dropout_mode_file(tmp_path, mode):
    """Relu, Dropout(ratio 0.5, training_mode) as opset 12 on writes it, Relu: ``mode`` a bool constant, or None
    for a graph input fed at run time."""
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "ratio")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3])]
    if mode is None:
        inputs.append(helper.make_tensor_value_info("mode", TensorProto.BOOL, []))
    else:
        inits.append(numpy_helper.from_array(np.array(mode), "mode"))
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Dropout", ["r", "ratio", "mode"], ["d"],
                                                                      name="n", seed=0),
             helper.make_node("Relu", ["d"], ["y"])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "d.onnx"
    onnx.save(model, str(path))
    return path


def test_a_dropout_whose_training_mode_is_a_false_constant_imports(tmp_path, rng):
    """Opset 12 on, Dropout takes its mode as a bool input; a constant false is the identity (load refused the
    bool tensor, 'data type 9', before)."""
    path = _dropout_mode_file(tmp_path, False)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(fo.load(path).predict(x), _run_ort(path, x))


@pytest.mark.parametrize("mode, why", [
    (True, r"node 1 'n' \(op Dropout\): training_mode 'mode' is true: this Dropout drops at random"),
    (None, "graphs with one input and one output, got 2"),  # the mode fed at run time: a second input
])
def test_a_dropout_in_training_mode_is_refused_naming_it(tmp_path, mode, why):
    with pytest.raises(fo.OnnxImportError, match=why):
        fo.load(_dropout_mode_file(tmp_path, mode))


@pytest.mark.parametrize("ratio, mode, why", [
    (np.array(True), np.array(False), r"ratio 'ratio' must be a constant float scalar"),
    (np.array(0.5, np.float32), np.array([False]), r"training_mode 'mode' must be a bool scalar, got bool\[1\]"),
])
def test_a_dropout_with_inputs_the_operator_does_not_define_is_refused(tmp_path, ratio, mode, why):
    """Review 14: a bool ratio and a training_mode of shape [1], which onnx.checker and onnxruntime refuse,
    imported."""
    path = _dropout_mode_file(tmp_path, False)
    model = onnx.load(str(path))
    del model.graph.initializer[:]
    model.graph.initializer.extend([numpy_helper.from_array(ratio, "ratio"), numpy_helper.from_array(mode, "mode")])
    onnx.save(model, str(path))
    with pytest.raises(fo.OnnxImportError, match=rf"'n' \(op Dropout\): {why}"):
        fo.load(path)


def test_a_bool_tensor_is_no_weight(tmp_path):
    """Bool tensors are read for Dropout's mode only: as a Gemm's weight one is refused, naming it."""
    W = numpy_helper.from_array(np.eye(3, dtype=bool), "W")
    path = _graph_file(tmp_path, [helper.make_node("MatMul", ["x", "W"], ["y"], name="n")], [W], n_out=3)
    with pytest.raises(fo.OnnxImportError, match=r"'n' \(op MatMul\): input 'W' is a bool tensor"):
        fo.load(path)


@pytest.mark.parametrize("op, outputs, reader", [
    ("LayerNormalization", ["ln", "mean"], lambda: helper.make_node("Mul", ["ln", "mean"], ["y"])),
    ("Dropout", ["d", "mask"], lambda: helper.make_node("Where", ["mask", "d", "zero"], ["y"])),
    ("Relu", ["r", "W"], lambda: helper.make_node("MatMul", ["r", "W"], ["y"])),  # and shadows the constant W
])
def test_a_second_output_another_node_reads_is_refused_by_name(tmp_path, op, outputs, reader):
    """Review 12: an op's outputs after its first are never imported; one that another node reads is refused,
    naming it (the Relu's, which no Relu has, also shadowed the initializer of the same name the MatMul read)."""
    f = lambda a, name: numpy_helper.from_array(np.asarray(a, np.float32), name)  # noqa: E731
    inputs = ["x", "g", "b"] if op == "LayerNormalization" else ["x"]
    nodes = [helper.make_node(op, inputs, outputs, name="n"), reader()]
    path = _graph_file(tmp_path, nodes, [f(np.ones(3), "g"), f(np.zeros(3), "b"), f(0.0, "zero"),
                                         f(np.eye(3), "W")], n_out=3)
    with pytest.raises(fo.OnnxImportError, match=rf"'n' \(op {op}\).*output {outputs[1]!r}.*read"):
        fo.load(path)


def _erf_gelu_file(tmp_path, elem, sqrt2, one, half):
    """The erf form of GELU, x * (Erf(x / sqrt2) + one) * half, as torch writes it below opset 20."""
    dtype = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}[elem]
    nodes = [helper.make_node("Div", ["x", "s2"], ["a"]), helper.make_node("Erf", ["a"], ["b"]),
             helper.make_node("Add", ["b", "one"], ["c"]), helper.make_node("Mul", ["x", "c"], ["d"]),
             helper.make_node("Mul", ["d", "half"], ["y"])]
    inits = [numpy_helper.from_array(np.array(v, dtype), k) for k, v in (("s2", sqrt2), ("one", one), ("half", half))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, ["b", 3])],
                              [helper.make_tensor_value_info("y", elem, ["b", 3])], inits)
    path = tmp_path / "gelu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("elem", [TensorProto.FLOAT, TensorProto.DOUBLE])
@pytest.mark.parametrize("change", [None, "sqrt2", "one", "half"])
def test_only_gelus_own_constants_make_the_erf_form_a_gelu(tmp_path, rng, elem, change):
    """Review 12: the erf form was matched with np.allclose, so x * (Erf(x / (sqrt2 (1 + 9e-7))) + 1.000009) *
    0.500004 loaded as an exact GELU (0.33% off at x = -3). Its constants must be GELU's in the input's type
    (sqrt(2) rounded to it, 1 and 0.5), as torch and export write them; one ulp off is another function."""
    dtype = np.float32 if elem == TensorProto.FLOAT else np.float64
    values = {"sqrt2": dtype(np.sqrt(2.0)), "one": dtype(1.0), "half": dtype(0.5)}
    if change is not None:
        values[change] = np.nextafter(values[change], dtype(2))
    path = _erf_gelu_file(tmp_path, elem, **values)
    if change is not None:
        with pytest.raises(fo.OnnxImportError, match=r"op Div\): op Div is imported only as part of GELU's erf"):
            fo.load(path)
        return
    model = fo.load(path)
    assert [type(layer) for layer in model.layers] == [L.GELU]
    x = rng.standard_normal((4, 3)).astype(dtype) * 3
    want = x * (np.vectorize(__import__("math").erf)(x / np.sqrt(2.0)) + 1) / 2
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-7)


def test_the_erf_gelu_torch_writes_in_float64_imports(tmp_path, rng):
    """torch.onnx.export of nn.GELU below opset 20 writes the erf form with constants of the input's type: a
    float64 network's (sqrt(2) as a double) imports as GELU (the float32 one: test_torch_exported_mlps_...)."""
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU()).double().eval()
    path = tmp_path / "g64.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 3, dtype=torch.float64),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}}, opset_version=17)
    model = fo.load(path)
    assert [type(layer) for layer in model.layers] == [L.Dense, L.GELU]
    x = rng.standard_normal((5, 3))
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x), net(torch.from_numpy(x)).numpy(), rtol=1e-13, atol=1e-15)

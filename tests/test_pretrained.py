"""Loading pretrained weights: fastnn files, npz of named arrays, PyTorch state_dicts (safetensors / npz)."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn.layers import BatchNorm, Dense, Dropout, LayerNorm, ReLU
from fastnn.pretrained import PretrainedWeightsError, load_weights

torch = pytest.importorskip("torch")


def _torch_net(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(12, 32), torch.nn.BatchNorm1d(32), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(32, 16), torch.nn.LayerNorm(16), torch.nn.Tanh(),
        torch.nn.Linear(16, 4)).to(dtype)
    # non-trivial normalization parameters and running statistics
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 2.0)
        net[1].bias.normal_()
        net[5].weight.uniform_(0.5, 2.0)
        net[5].bias.normal_()
    net.train()
    for _ in range(5):
        net(torch.randn(64, 12, dtype=dtype) * 2 + 1)
    return net.eval()


def _fastnn_net(dtype="float32", input_dim=12):
    return fastnn.Sequential([Dense(32), BatchNorm(), ReLU(), Dropout(0.2), Dense(16), LayerNorm(),
                              fastnn.layers.Tanh(), Dense(4)], input_dim=input_dim, dtype=dtype)


def _state_numpy(net):
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def _save(kind, arrays, path):
    if kind == "npz":
        np.savez(path, **arrays)
    else:
        fastnn.io.write_safetensors(path, arrays)
    return path


@pytest.mark.parametrize("kind", ["safetensors", "npz"])
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_torch_state_dict_loads_and_predicts_like_torch(kind, dtype, rtol, tmp_path):
    tdtype = getattr(torch, dtype)
    net = _torch_net(tdtype)
    path = _save(kind, _state_numpy(net), tmp_path / f"w.{kind}")
    model = _fastnn_net(dtype)
    model.load_weights(path)
    X = np.random.default_rng(0).standard_normal((50, 12)).astype(dtype) * 2 + 1
    with torch.no_grad():
        want = net(torch.from_numpy(X)).numpy()
    got = model.forward(np.ascontiguousarray(X)).copy()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    # the Linear weight was transposed into (in, out); running statistics went into the buffers
    np.testing.assert_array_equal(model.layers[0].params["W"], net[0].weight.detach().numpy().T)
    np.testing.assert_array_equal(model.layers[1].buffers["running_var"], net[1].running_var.numpy())


def test_safetensors_written_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    net = _torch_net()
    path = tmp_path / "net.safetensors"
    st.save_file(net.state_dict(), str(path))
    model = _fastnn_net()
    load_weights(model, path)
    X = np.random.default_rng(1).standard_normal((8, 12)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(X).copy(), net(torch.from_numpy(X)).numpy(), rtol=1e-5,
                                   atol=1e-5)


def test_modules_are_ordered_numerically(tmp_path):
    """Twelve Linear layers: "10.weight" comes after "2.weight", not after "1.weight"."""
    torch.manual_seed(0)
    mods = []
    for i in range(12):
        mods += [torch.nn.Linear(5 + i, 6 + i), torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods[:-1])
    path = _save("safetensors", _state_numpy(net), tmp_path / "deep.safetensors")
    model = fastnn.Sequential([Dense(6 + i, activation="relu" if i < 11 else None) for i in range(12)], input_dim=5)
    model.load_weights(path)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(x).copy(), net(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_fastnn_model_file_and_npz_round_trips(tmp_path):
    X = np.random.default_rng(0).standard_normal((64, 12)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 4, 64)
    src = _fastnn_net()
    src.fit(X, y, epochs=2, batch_size=16, verbose=0)
    fastnn.io.save(src, tmp_path / "m.fnn")
    np.savez(tmp_path / "named.npz", **src.state_arrays())
    np.savez(tmp_path / "list.npz", *src.get_weights())
    for name in ("m.fnn", "named.npz", "list.npz"):
        dst = _fastnn_net()
        dst.load_weights(tmp_path / name)
        for a, b in zip(dst.get_weights(), src.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_unbuilt_model_is_built_from_the_file(tmp_path):
    net = _torch_net()
    path = _save("npz", _state_numpy(net), tmp_path / "w.npz")
    model = fastnn.Sequential([Dense(32), BatchNorm(), ReLU(), Dense(16), LayerNorm(), fastnn.layers.Tanh(),
                               Dense(4)])
    model.load_weights(path)
    assert model.input_dim == 12


def test_shape_mismatch_names_the_layer_and_changes_nothing(tmp_path):
    net = _torch_net()
    path = _save("safetensors", _state_numpy(net), tmp_path / "w.safetensors")
    model = fastnn.Sequential([Dense(32), BatchNorm(), ReLU(), Dense(20), LayerNorm(), Dense(4)], input_dim=12)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(PretrainedWeightsError, match=r"layer 3 \(Dense 32->20\).*4\.weight.*\(16, 32\)"):
        model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    wrong_input = fastnn.Sequential([Dense(32), BatchNorm(), Dense(16), LayerNorm(), Dense(4)], input_dim=10)
    with pytest.raises(PretrainedWeightsError, match=r"layer 0 \(Dense 10->32\).*out_features, in_features"):
        wrong_input.load_weights(path)


def test_count_and_kind_mismatches(tmp_path):
    net = _torch_net()
    path = _save("npz", _state_numpy(net), tmp_path / "w.npz")
    too_few = fastnn.Sequential([Dense(32), BatchNorm(), Dense(4)], input_dim=12)
    with pytest.raises(PretrainedWeightsError, match="3 layers with weights"):
        too_few.load_weights(path)
    swapped = fastnn.Sequential([Dense(32), LayerNorm(), Dense(16), BatchNorm(), Dense(4)], input_dim=12)
    with pytest.raises(PretrainedWeightsError, match=r"layer 1 \(LayerNorm.*running_mean"):
        swapped.load_weights(path)
    no_bias = fastnn.Sequential([Dense(32, use_bias=False), BatchNorm(), Dense(16), LayerNorm(), Dense(4)],
                                input_dim=12)
    with pytest.raises(PretrainedWeightsError, match=r"layer 0 .*bias"):
        no_bias.load_weights(path)


def test_fastnn_names_must_match_the_architecture(tmp_path):
    src = fastnn.Sequential([Dense(8), BatchNorm(), Dense(3)], input_dim=5)
    np.savez(tmp_path / "a.npz", **src.state_arrays())
    other = fastnn.Sequential([Dense(8), Dense(3)], input_dim=5)
    with pytest.raises(PretrainedWeightsError, match="missing"):
        other.load_weights(tmp_path / "a.npz")
    bigger = fastnn.Sequential([Dense(9), BatchNorm(), Dense(3)], input_dim=5)
    with pytest.raises(PretrainedWeightsError, match=r"layer 0 \(Dense 5->9\) W"):
        bigger.load_weights(tmp_path / "a.npz")


def test_bad_values_and_names(tmp_path):
    model = fastnn.Sequential([Dense(3)], input_dim=2)
    np.savez(tmp_path / "nan.npz", **{"0.weight": np.full((3, 2), np.nan), "0.bias": np.zeros(3)})
    with pytest.raises(PretrainedWeightsError, match="NaN"):
        model.load_weights(tmp_path / "nan.npz")
    np.savez(tmp_path / "odd.npz", **{"fc.kernel": np.zeros((3, 2))})
    with pytest.raises(PretrainedWeightsError, match="not a PyTorch parameter name"):
        model.load_weights(tmp_path / "odd.npz")
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="strict"):
        load_weights(model, tmp_path / "nan.npz", strict=False)


def test_batchnorm_cumulative_average_loads_num_batches_tracked(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6, momentum=None))
    for _ in range(3):
        net(torch.randn(10, 4))
    path = _save("npz", _state_numpy(net), tmp_path / "w.npz")
    model = fastnn.Sequential([Dense(6), BatchNorm(momentum=None)], input_dim=4)
    model.load_weights(path)
    assert model.layers[1].buffers["num_batches_tracked"][0] == 3


# ------------------------------------------------------------------ issue 10: values validated by meaning


def _bn_model(dtype="float32"):
    return fastnn.Sequential([Dense(4), BatchNorm(), Dense(2)], input_dim=3, dtype=dtype)


@pytest.mark.parametrize("layout", ["fastnn", "arr", "fastnn_file"])
def test_negative_running_var_refused_in_every_layout(tmp_path, layout):
    source = _bn_model()
    arrays = source.state_arrays()
    arrays["1.running_var"] = np.array([1, 1, -3, 1], np.float32)
    path = tmp_path / ("w.safetensors" if layout == "fastnn_file" else "w.npz")
    if layout == "fastnn":
        np.savez(path, **arrays)
    elif layout == "arr":
        np.savez(path, *[arrays[k] for k in arrays])
    else:  # a fastnn model file's arrays, written without fastnn.io.save's own check
        fastnn.io.write_safetensors(path, arrays)
    model = _bn_model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(PretrainedWeightsError, match=r"layer 1 \(BatchNorm of 4 features\) running_var: "
                                                     r"'(1.running_var|arr_5)' has negative values \(min -3\); it "
                                                     r"is a variance"):
        model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_negative_running_var_refused_from_pytorch_names(tmp_path):
    net = _torch_net()
    state = _state_numpy(net)
    state["1.running_var"][5] = -1
    path = _save("npz", state, tmp_path / "w.npz")
    with pytest.raises(PretrainedWeightsError, match="'1.running_var' has negative values"):
        _fastnn_net().load_weights(path)


def test_float64_weights_beyond_float32_are_refused_after_the_cast(tmp_path):
    arrays = {k: v.astype(np.float64) for k, v in _bn_model().state_arrays().items()}
    arrays["2.W"][0, 1] = 1e300  # finite in float64, inf in the float32 model
    np.savez(tmp_path / "w.npz", **arrays)
    model = _bn_model("float32")
    with pytest.raises(PretrainedWeightsError, match=r"2.W'? has values beyond the float32 range \(largest magnitude "
                                                     r"1e\+300\)"):
        model.load_weights(tmp_path / "w.npz")
    assert np.all(np.isfinite(model.layers[2].params["W"]))
    _bn_model("float64").load_weights(tmp_path / "w.npz")  # fine where they fit
    # PyTorch layout (transposed on the way in)
    net = _torch_net(torch.float64)
    state = _state_numpy(net)
    state["0.weight"][3, 2] = -1e200
    with pytest.raises(PretrainedWeightsError, match="0.weight has values beyond the float32 range"):
        _fastnn_net("float32").load_weights(_save("npz", state, tmp_path / "t.npz"))


def test_boolean_weights_are_refused_naming_the_parameter(tmp_path):
    """checked_values took bool arrays as 0/1 weights: set_weights and load_weights put a mask (a thresholded copy,
    an array of comparisons) into the model as weights of 0 and 1. Refused now, as EarlyStopping's checkpointed
    best weights are, naming the parameter, with the model unchanged."""
    model = _bn_model()
    before = [w.copy() for w in model.get_weights()]
    masks = [w > 0 for w in before]
    with pytest.raises(ValueError, match=r"^set_weights: layer 0 \(Dense\) W: has dtype bool, expected real numbers"):
        model.set_weights(masks)
    arrays = {k: v > 0 for k, v in model.state_arrays().items()}
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(PretrainedWeightsError, match=r"layer 0 \(Dense 3->4\) W: '0.W' has dtype bool, expected real"):
        model.load_weights(tmp_path / "w.npz")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.set_weights([w.astype(np.int64) for w in masks])  # integers are numbers: the model casts them


def test_load_weights_refuses_a_pytorch_pickle_with_advice(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    torch.save(net.state_dict(), tmp_path / "net.pt")
    with pytest.raises(ValueError, match=r"never loaded, by design.*safetensors.torch import save_file"):
        fastnn.Sequential([Dense(2)], input_dim=3).load_weights(tmp_path / "net.pt")


def test_unbuilt_model_checks_the_inferred_input_size_before_building(tmp_path):
    """Found by tests/test_fuzz_files.py: the input size read from a file's first array was trusted."""
    import tracemalloc

    model = _bn_model()
    arrays = {k: np.asarray(v) for k, v in model.state_arrays().items()}
    for shape, match in (((0,), "implies an input size of 0"),
                         ((2**31, 0), r"built for 2147483648 inputs \(inferred from the file\), the model would "
                                      r"hold 8589934622 values but the file stores 30")):
        bad = dict(arrays, **{"0.W": np.zeros(shape, np.float32)})
        np.savez(tmp_path / "w.npz", **bad)
        fresh = fastnn.Sequential([Dense(4), BatchNorm(), Dense(2)])
        tracemalloc.start()
        try:
            with pytest.raises(PretrainedWeightsError, match=match):
                fresh.load_weights(tmp_path / "w.npz")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 10e6 and not fresh.built


def test_unbuilt_model_stays_unbuilt_when_the_weights_do_not_fit(tmp_path):
    arrays = _bn_model().state_arrays()
    arrays["2.W"] = np.zeros((4, 3), np.float32)  # the model's last layer has 2 units
    np.savez(tmp_path / "w.npz", **arrays)
    fresh = fastnn.Sequential([Dense(4), BatchNorm(), Dense(2)])
    with pytest.raises(PretrainedWeightsError, match="2.W"):
        fresh.load_weights(tmp_path / "w.npz")
    assert not fresh.built and fresh.params is None
    fresh.load_weights(_save("npz", _bn_model().state_arrays(), tmp_path / "ok.npz"))  # still usable
    assert fresh.built


def test_unnamed_arrays_with_a_gap_are_refused(tmp_path):
    model = fastnn.Sequential([Dense(3), Dense(2)], input_dim=4)
    W1, b1, W2, b2 = model.get_weights()
    np.savez(tmp_path / "gap.npz", arr_0=W1, arr_2=b1, arr_3=W2, arr_4=b2)
    with pytest.raises(PretrainedWeightsError, match="one is missing or renamed"):
        load_weights(model, tmp_path / "gap.npz")


@pytest.mark.parametrize("names, kind, loads", [
    (["fc1", "fc2", "fc10"], "safetensors", True),  # numbers decide: fc2 before fc10 (the file sorts fc10 first)
    (["fc1", "fc2", "fc10"], "npz", True),
    (["encoder.0", "encoder.2", "decoder.0"], "npz", True),  # words differ: the saving order, which npz keeps
    (["encoder.0", "encoder.2", "decoder.0"], "safetensors", False),  # ... and an alphabetical file cannot tell it
    (["0", "2", "head"], "safetensors", False),
])
def test_torch_module_order_comes_from_numbers_or_the_saving_order(tmp_path, names, kind, loads):
    """Square layers, so no shape can catch a wrong order: fc1..fc11 from torch's safetensors loaded fc10 into the
    second layer, and encoder/decoder sub-networks were sorted decoder first (a hostile review of this session)."""
    rng = np.random.default_rng(0)
    state = {f"{n}.{p}": rng.standard_normal((4, 4) if p == "weight" else 4).astype(np.float32)
             for n in names for p in ("weight", "bias")}
    arrays = dict(sorted(state.items())) if kind == "safetensors" else state  # torch's writer sorts the names
    path = _save(kind, arrays, tmp_path / f"w.{kind}")
    model = fastnn.Sequential([Dense(4, activation="tanh") for _ in names[:-1]] + [Dense(4)], input_dim=4)
    if not loads:
        with pytest.raises(PretrainedWeightsError, match="do not give the network's order"):
            load_weights(model, path)
        return
    load_weights(model, path)
    weights = model.get_weights()  # W, b per layer
    for i, name in enumerate(names):
        np.testing.assert_array_equal(weights[2 * i], state[f"{name}.weight"].T)

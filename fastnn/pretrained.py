"""Load pretrained weights into a model: ``load_weights(model, path)`` (``model.load_weights(path)``).

Accepted files (read by ``fastnn.formats.load_arrays``: safetensors, fastnn model files, ``.npz``; no pickle):

* fastnn names ``"<layer index>.<name>"`` as in ``model.state_arrays()`` ("0.W", "0.b", "1.gamma",
  "1.running_mean", ...): a fastnn model file or ``np.savez(path, **model.state_arrays())``. Every array of
  the model must be present (a fastnn file's preprocessor arrays "preprocess.*" are ignored: only weights load).
* ``np.savez(path, *model.get_weights())`` (names "arr_0", "arr_1", ...): the get_weights() order.
* A PyTorch ``state_dict`` of an ``nn.Sequential`` of Linear / BatchNorm1d / LayerNorm modules (activations and
  dropout have no parameters), e.g. ``safetensors.torch.save_file(net.state_dict(), path)``: names
  ``"<module>.weight"``, ``"<module>.bias"``, ``"<module>.running_mean"``, ``"<module>.running_var"``
  (``num_batches_tracked`` is used only by ``BatchNorm(momentum=None)``). Modules are taken in the order of
  the numbers in their names when those decide it ("0", "2", "10"; "net.1" before "net.3"; "fc2" before
  "fc10") and matched one to one with the fastnn layers that have weights. Where names differ in words
  ("encoder.*" / "decoder.*", "3" / "head") the order they were saved in is used (a dict's, an npz's); a
  safetensors file that lists such names alphabetically, as torch's writer does, cannot tell the order and is
  refused. A Linear weight is stored (out, in) and is transposed into fastnn's
  (in, out); BatchNorm weight/bias are gamma/beta, LayerNorm weight/bias are gamma/beta.

Every shape is checked against the model before anything is written; a mismatch raises
``PretrainedWeightsError`` (a ValueError) naming the fastnn layer (index, type, sizes) and the file's array.
An unbuilt model is built from the first weight's input size.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any

import numpy as np

from .layers.base import state_shapes
from .layers.dense import Dense
from .layers.norm import BatchNorm, LayerNorm
from .validation import weights_dtype_problem


class PretrainedWeightsError(ValueError):
    """The weights file does not fit the model (names, count or shapes)."""


_FASTNN_NAME = re.compile(r"^(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$")
_ARR_NAME = re.compile(r"^arr_(\d+)$")


def _arr_index(name: str) -> int:
    """n of np.savez's positional name "arr_<n>" (callers check the names against _ARR_NAME first)."""
    match = _ARR_NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not an arr_<n> name")
    return int(match.group(1))
_TORCH_PARAMS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _is_fastnn_layout(arrays: dict) -> bool:
    """fastnn names "<i>.<name>" (W, b, gamma, beta, running stats); "<i>.weight"/"<i>.bias" are PyTorch's."""
    return all((_FASTNN_NAME.match(k) and k.rpartition(".")[2] not in ("weight", "bias"))
               or k.startswith("preprocess.") for k in arrays)


def _read(path) -> tuple[dict[str, np.ndarray], bool]:
    """(the arrays, whether their order is the order they were saved in: a dict's and an npz's is)."""
    # Imported here, not at the top: the containers pull in zipfile and tempfile, ~9 ms of `import fastnn`
    # (which imports this module through fastnn.models) for a call most sessions never make.
    from .formats.arrays import load_arrays_ordered

    if isinstance(path, dict):  # already loaded arrays (e.g. a state_dict converted to numpy)
        return {str(k): np.asarray(v) for k, v in path.items()}, True
    if not os.path.exists(os.fspath(path)):
        raise FileNotFoundError(f"weights file not found: {os.fspath(path)}")
    return load_arrays_ordered(path)


def _describe(i: int, layer) -> str:
    name = type(layer).__name__
    if isinstance(layer, Dense):
        return f"layer {i} (Dense {layer.in_dim}->{layer.units})"
    return f"layer {i} ({name} of {layer.in_dim} features)"


def _weighted_layers(model) -> list[tuple[int, object]]:
    return [(i, layer) for i, layer in enumerate(model.layers) if layer.weight_names()]


def _natural_key(prefix: str) -> list[tuple[int, int, str]]:
    """The name's runs of digits (as numbers) and of other characters, part by part: "net.fc10" sorts after
    "net.fc2"."""
    return [(0, int(run), "") if run.isdigit() else (1, 0, run)
            for part in prefix.split(".") for run in re.findall(r"\d+|\D+", part)] if prefix else []


def _numbers_decide(a: str, b: str) -> bool:
    """Whether the first run in which two module names differ is a number in both ("fc2" / "fc10", "0" / "2"):
    then their order is the numbers'; "encoder" / "decoder" or "3" / "head" tell nothing of the network's order."""
    for x, y in zip(_natural_key(a), _natural_key(b)):
        if x != y:
            return x[0] == y[0] == 0
    return False


def _module_order(prefixes: list[str], ordered: bool) -> list[str]:
    """The modules in network order: by the numbers in their names when those decide every neighbour, else the
    order they were saved in where the container keeps it (``ordered``: a dict, an npz); a safetensors file that
    lists them alphabetically (torch's writer sorts the names) cannot tell it, and is refused rather than loaded
    into the wrong layers."""
    keyed = sorted(prefixes, key=_natural_key)
    if all(_numbers_decide(a, b) for a, b in zip(keyed, keyed[1:])):
        return keyed
    if not ordered and len(prefixes) > 1 and prefixes == sorted(prefixes):
        raise PretrainedWeightsError(
            f"the module names {prefixes} do not give the network's order (they differ in words, not only in "
            "numbers) and the file lists them alphabetically, as torch's safetensors writer does; save the state "
            "dict with np.savez in module order, or rename the modules with numbers (nn.Sequential's 0, 1, ...)")
    return prefixes  # the order they were saved in


# -- the three layouts ---------------------------------------------------------------------------------------

def _from_fastnn_names(model, arrays: dict) -> list[np.ndarray]:
    own = {k: v for k, v in model.state_arrays().items() if not k.startswith("preprocess.")}
    given = {k: v for k, v in arrays.items() if not k.startswith("preprocess.")}
    missing, extra = sorted(set(own) - set(given)), sorted(set(given) - set(own))
    if missing or extra:
        detail = []
        for name in extra + missing:
            idx = int(name.split(".")[0])
            where = _describe(idx, model.layers[idx]) if idx < len(model.layers) else f"layer {idx} (not in the model)"
            detail.append(f"{name!r} -> {where}")
        raise PretrainedWeightsError(
            f"the file's arrays do not match the model's layers: missing {missing}, unexpected {extra} "
            f"({'; '.join(detail)}); the model has {sorted(own)}")
    out = []
    for i, layer in enumerate(model.layers):
        for name in layer.weight_names():
            out.append(_check(given[f"{i}.{name}"], model._layer_array(layer, name).shape, i, layer, name,
                              f"{i}.{name}"))
    return out


def _from_arr_list(model, arrays: dict) -> list[np.ndarray]:
    order = sorted(arrays, key=_arr_index)
    if [_arr_index(k) for k in order] != list(range(len(order))):  # np.savez(*arrays) numbers them 0, 1, ...
        raise PretrainedWeightsError(f"the unnamed arrays are {order[:8]}, not arr_0 .. arr_{len(order) - 1} as "
                                     "np.savez(*model.get_weights()) writes them: one is missing or renamed, so "
                                     "which weight each is cannot be told")
    targets = [(i, layer, name) for i, layer in enumerate(model.layers) for name in layer.weight_names()]
    if len(order) != len(targets):
        raise PretrainedWeightsError(f"the file holds {len(order)} unnamed arrays (arr_0 ...), the model's "
                                     f"get_weights() has {len(targets)}")
    return [_check(arrays[key], model._layer_array(layer, name).shape, i, layer, name, key)
            for key, (i, layer, name) in zip(order, targets)]


def _torch_groups(arrays: dict, ordered: bool) -> list[tuple[str, dict]]:
    groups: dict[str, dict] = {}
    for key, value in arrays.items():
        prefix, _, param = key.rpartition(".")
        if param not in _TORCH_PARAMS:
            raise PretrainedWeightsError(
                f"array {key!r}: not a fastnn name ('<layer>.<name>') and not a PyTorch parameter name "
                f"('<module>.weight', '.bias', '.running_mean', '.running_var', '.num_batches_tracked')")
        groups.setdefault(prefix, {})[param] = value
    return [(prefix, groups[prefix]) for prefix in _module_order(list(groups), ordered)]


def _from_torch(model, arrays: dict, ordered: bool) -> list[np.ndarray]:
    groups = _torch_groups(arrays, ordered)
    layers = _weighted_layers(model)
    if len(groups) != len(layers):
        raise PretrainedWeightsError(
            f"the file has {len(groups)} PyTorch modules with weights ({[p for p, _ in groups]}) but the model has "
            f"{len(layers)} layers with weights ({', '.join(_describe(i, layer) for i, layer in layers)})")
    by_layer = {}
    for (prefix, group), (i, layer) in zip(groups, layers):
        by_layer[i] = _torch_layer(prefix, group, i, layer)
    out = []
    for i, layer in enumerate(model.layers):
        for name in layer.weight_names():
            out.append(by_layer[i][name])
    return out


def _torch_layer(prefix: str, group: dict, i: int, layer) -> dict[str, np.ndarray]:
    where = _describe(i, layer)
    keys = set(group)

    def need(param):
        if param not in group:
            raise PretrainedWeightsError(f"{where}: the file has no {prefix}.{param} (module {prefix!r} has "
                                         f"{sorted(keys)})")
        return group[param]

    def unexpected(allowed):
        extra = keys - set(allowed)
        if extra:
            raise PretrainedWeightsError(f"{where}: module {prefix!r} has {sorted(extra)}, which this layer does "
                                         f"not have (it takes {sorted(allowed)})")

    if isinstance(layer, Dense):
        unexpected(("weight", "bias") if layer.use_bias else ("weight",))
        w = need("weight")
        want = (layer.units, layer.in_dim)  # torch nn.Linear layout (out, in)
        if w.ndim != 2 or w.shape != want:
            raise PretrainedWeightsError(
                f"{where}: {prefix}.weight has shape {tuple(w.shape)}, expected {want} (a PyTorch nn.Linear "
                f"weight is (out_features, in_features) = ({layer.units}, {layer.in_dim}); it is transposed "
                f"into fastnn's (in, out))")
        result = {"W": _checked(np.ascontiguousarray(w.T), layer, "W", where, f"{prefix}.weight")}
        if layer.use_bias:
            result["b"] = _check(need("bias"), (layer.units,), i, layer, "b", f"{prefix}.bias")
        return result
    if isinstance(layer, BatchNorm):
        allowed = ["running_mean", "running_var", "num_batches_tracked"] + (["weight", "bias"] if layer.affine
                                                                            else [])
        unexpected(allowed)
        f = (layer.in_dim,)
        result = {"running_mean": _check(need("running_mean"), f, i, layer, "running_mean", f"{prefix}.running_mean"),
                  "running_var": _check(need("running_var"), f, i, layer, "running_var", f"{prefix}.running_var")}
        if layer.affine:
            result["gamma"] = _check(need("weight"), f, i, layer, "gamma", f"{prefix}.weight")
            result["beta"] = _check(need("bias"), f, i, layer, "beta", f"{prefix}.bias")
        if "num_batches_tracked" in layer.weight_names():
            tracked = group.get("num_batches_tracked", np.zeros(1))
            result["num_batches_tracked"] = _check(np.asarray(tracked, np.float64).reshape(-1), (1,), i, layer,
                                                   "num_batches_tracked", f"{prefix}.num_batches_tracked")
        return result
    if isinstance(layer, LayerNorm):
        unexpected(("weight", "bias"))
        f = (layer.in_dim,)
        return {"gamma": _check(need("weight"), f, i, layer, "gamma", f"{prefix}.weight"),
                "beta": _check(need("bias"), f, i, layer, "beta", f"{prefix}.bias")}
    raise PretrainedWeightsError(f"{where}: cannot load PyTorch weights into a {type(layer).__name__} layer")


def checked_values(name: str, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` cast to ``dtype`` (the model's), once its values are valid for a layer array called ``name``
    ("W", "running_var", ...); ValueError saying what is wrong otherwise.

    Real numbers only, floats or integers: not booleans (fastnn.validation.weights_dtype_problem). Finiteness is
    checked AFTER the cast, on what the model will compute with: a float64 1e300 is finite but becomes inf in
    float32. Beyond finiteness: a BatchNorm ``running_var`` is a variance (>= 0; a negative one makes the
    evaluation-mode normalization NaN), ``num_batches_tracked`` a count. Used by load_weights,
    fastnn.io.load and (through invalid_values) a model's file_contents, which refuses to write what load would refuse.
    """
    a = np.asarray(a)
    problem = weights_dtype_problem(a)
    if problem is not None:
        raise ValueError(problem)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = a.astype(dtype, copy=False)
    if not np.all(np.isfinite(cast)):
        if a.dtype.kind == "f" and np.all(np.isfinite(a)):
            raise ValueError(f"has values beyond the {np.dtype(dtype).name} range (largest magnitude "
                             f"{np.max(np.abs(a)):.3g}), which become infinite in the model")
        raise ValueError("contains NaN or infinite values")
    if name in ("running_var", "num_batches_tracked") and np.any(cast < 0):
        what = "a variance" if name == "running_var" else "a count"
        raise ValueError(f"has negative values (min {np.min(cast):.3g}); it is {what}, >= 0")
    if name == "num_batches_tracked" and np.any(cast != np.floor(cast)):
        raise ValueError("must hold a whole number (the count of batches seen)")
    return cast


def invalid_values(arrays: dict[str, Any]) -> dict[str, str]:
    """{array name ("<layer>.<name>", as in ``state_arrays()``): what is wrong} for every array whose values a
    model cannot use (:func:`checked_values`: NaN, inf, a negative running variance...), each in its own dtype.
    What fastnn.io.load refuses in a file, and so what a model's ``file_contents`` refuses to write."""
    problems = {}
    for name, a in arrays.items():
        try:
            checked_values(name.rpartition(".")[2], a, np.asarray(a).dtype)
        except ValueError as exc:
            problems[name] = str(exc)
    return problems


def _checked(a: np.ndarray, layer, name: str, where: str, key: str) -> np.ndarray:
    """:func:`checked_values` for a file's array ``key`` going into ``layer``'s array ``name``."""
    try:
        return checked_values(name, a, layer.dtype)
    except ValueError as exc:
        raise PretrainedWeightsError(f"{where}: {key} {exc}") from None


def _check(a, shape, i, layer, name, key) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != tuple(shape):
        raise PretrainedWeightsError(f"{_describe(i, layer)} {name}: the file's {key!r} has shape {tuple(a.shape)}, "
                                     f"expected {tuple(shape)}")
    return _checked(a, layer, name, f"{_describe(i, layer)} {name}", repr(key))


# -- entry point -------------------------------------------------------------------------------------------

def _infer_input_dim(model, arrays: dict, ordered: bool) -> int:
    if _is_fastnn_layout(arrays):
        for i, _layer in enumerate(model.layers):
            for name in ("W", "gamma", "running_mean"):
                a = arrays.get(f"{i}.{name}")
                if a is not None and a.ndim >= 1:
                    return int(a.shape[0])
    elif arrays and all(_ARR_NAME.match(k) for k in arrays):
        first = arrays[min(arrays, key=_arr_index)]
        return int(first.shape[0])
    else:
        groups = _torch_groups(arrays, ordered)
        if groups:
            g = groups[0][1]
            w = g.get("weight", g.get("running_mean"))
            if w is not None and w.ndim >= 1:
                return int(w.shape[-1] if w.ndim == 2 else w.shape[0])
    raise PretrainedWeightsError("cannot infer the model's input size from the file; build the model first "
                                 "(pass input_dim=)")


def _input_dim_from_file(model, arrays: dict, ordered: bool) -> int:
    """The input size an unbuilt model is built for, inferred from the file and checked before building: a
    model needing more values than the file holds is refused (a 0-byte array of shape (2**31, 0) must not
    make the build allocate gigabytes)."""
    dim = _infer_input_dim(model, arrays, ordered)
    if dim < 1:
        raise PretrainedWeightsError(f"the file's first weight implies an input size of {dim}; build the model "
                                     "first (pass input_dim=)")
    needed = sum(math.prod(shape) for _, _, shape in state_shapes(model.layers, dim, model.dtype))
    stored = sum(int(np.asarray(a).size) for a in arrays.values())
    # + one value per layer: a PyTorch file may omit num_batches_tracked
    if needed > stored + len(model.layers):
        raise PretrainedWeightsError(f"built for {dim} inputs (inferred from the file), the model would hold "
                                     f"{needed} values but the file stores {stored}")
    return dim


def load_weights(model, path, strict: bool = True) -> None:
    """Load weights from ``path`` (a fastnn model file, a safetensors or an .npz of named arrays, or a dict of
    arrays) into ``model``; see the module docstring for the accepted layouts. All shapes are checked before
    any weight changes. ``strict`` is accepted for symmetry with torch's ``load_state_dict``; only strict
    loading is supported (every weight of the model must come from the file).

    Works on the model's interface (``layers``, ``build``, ``state_arrays``, ``set_weights``) and imports no
    model class, so ``Sequential.load_weights`` can call it without an import circle."""
    if not isinstance(getattr(model, "layers", None), list) or not callable(getattr(model, "set_weights", None)):
        raise TypeError(f"load_weights expects a fastnn Sequential model, got {type(model).__name__}")
    if not strict:
        raise ValueError("only strict loading is supported: every weight of the model must be in the file")
    arrays, ordered = _read(path)
    if not arrays:
        raise PretrainedWeightsError(f"{os.fspath(path) if not isinstance(path, dict) else 'the arrays'}: "
                                     "no arrays to load")
    built_here = not model.built
    if built_here:
        model.build(_input_dim_from_file(model, arrays, ordered))
    try:
        if _is_fastnn_layout(arrays):
            weights = _from_fastnn_names(model, arrays)
        elif all(_ARR_NAME.match(k) for k in arrays):
            weights = _from_arr_list(model, arrays)
        else:
            weights = _from_torch(model, arrays, ordered)
        model.set_weights(weights)
    except BaseException:
        if built_here:  # leave the model as it was: unbuilt
            model.unbuild()
        raise

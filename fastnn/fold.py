"""Fold a trained model for inference: BatchNorm merged into the adjacent Dense layers, Dropout removed.

In evaluation mode a BatchNorm is a fixed per-feature affine map, ``bn(z) = z * s + t`` with
``s = gamma / sqrt(running_var + eps)`` and ``t = beta - running_mean * s``. Next to a Dense ``z = x W + b``
it disappears into the Dense's weights (computed in float64, then cast to the model dtype):

    Dense -> BatchNorm   (the Dense has no activation):  W' = W * s (each column j times s_j),  b' = b * s + t
    BatchNorm -> Dense   (any activation on the Dense):   W' = s[:, None] * W (row i times s_i),  b' = t @ W + b

An affine preprocessor (``transform(X) == X @ A + c``: the scalers, centering, PCA/ZCA whitening) folds into the
first Dense the same way: ``W' = A @ W``, ``b' = c @ W + b``; the folded model then takes raw rows and has no
preprocessor (``fold(model, preprocess=False)`` keeps it instead). The folded weights are formed in float64
and cast to the model dtype; where the preprocessor subtracts offsets much larger than the scaled values (a
feature of mean 50 and std 0.01, say), a float32 model loses digits to that cancellation, so keep the
preprocessor or use float64 for such data.

A Dense with an activation followed by a BatchNorm cannot absorb it (the BN acts after the nonlinearity), so
the BatchNorm is folded forward into the next Dense when there is one. Dropout is the identity in evaluation
and is dropped. A BatchNorm with no Dense to fold into (e.g. the last layer right after an activation) stays,
in evaluation mode it costs one fused pass. Predictions of the folded model equal the original's (evaluation
mode) up to float rounding.
"""
from __future__ import annotations

import copy

import numpy as np

from .layers.dense import Dense
from .layers.dropout import Dropout
from .layers.norm import BatchNorm

F64 = np.float64


class _Item:
    """One layer of the folded model under construction: its config and its arrays (float64, by name)."""

    def __init__(self, config: dict, arrays: dict, layer):
        self.config, self.arrays, self.layer = config, arrays, layer

    @property
    def is_dense(self) -> bool:
        return isinstance(self.layer, Dense)


def _layer_config(layer) -> dict:
    try:
        return dict(layer.get_config())
    except ValueError:  # a Dense with a custom init callable cannot describe itself; the folded weights replace it
        portable = copy.copy(layer)
        portable.init = "auto"
        return dict(portable.get_config())


def _items(model) -> list[_Item]:
    items = []
    for layer in model.layers:
        arrays = {name: np.array(model._layer_array(layer, name), dtype=F64) for name in layer.weight_names()}
        config = _layer_config(layer)
        items.append(_Item(config, arrays, layer))
    return items


def _fold_into_previous(dense: _Item, scale: np.ndarray, shift: np.ndarray) -> None:
    """Dense (no activation) followed by the affine map z * scale + shift."""
    W = dense.arrays["W"]
    b = dense.arrays.get("b", np.zeros(W.shape[1]))
    dense.arrays = {"W": W * scale[None, :], "b": b * scale + shift}
    dense.config["use_bias"] = True


def _fold_into_next(dense: _Item, scale: np.ndarray, shift: np.ndarray) -> None:
    """The affine map x * scale + shift followed by the Dense (scale: a vector, or a matrix A for x @ A)."""
    W = dense.arrays["W"]
    b = dense.arrays.get("b", np.zeros(W.shape[1]))
    W_new = scale @ W if scale.ndim == 2 else scale[:, None] * W
    dense.arrays = {"W": W_new, "b": shift @ W + b}
    dense.config["use_bias"] = True


def fold(model, preprocess: bool = True):
    """Return a new model for inference: every foldable BatchNorm merged into a neighbouring Dense, Dropout
    layers removed and, with ``preprocess``, an affine preprocessor merged into the first Dense (see the module
    docstring). The original model is not changed. The new model keeps the dtype, seed and loss.

    Works on the model's interface (``layers``, ``state_arrays``, ``config_with_layers``, ``from_config``)
    and imports no model class, so ``Sequential.fold`` can call it without an import circle."""
    if not isinstance(getattr(model, "layers", None), list) or not callable(getattr(type(model), "from_config", None)):
        raise TypeError(f"fold expects a fastnn Sequential model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("cannot fold a model that is not built (no weights yet): fit it or pass input_dim=")
    items = [it for it in _items(model) if not isinstance(it.layer, Dropout)]
    if not items:  # a model of dropout layers only: it is the identity, keep it as it is
        items = _items(model)

    out: list[_Item] = []
    pending: _Item | None = None  # a BatchNorm waiting for the next Dense
    for it in items:
        if pending is not None:
            if it.is_dense:
                _fold_into_next(it, *pending.layer.scale_shift())
                pending = None
                out.append(it)
                continue
            out.append(pending)  # no Dense right after the BatchNorm: it stays a layer
            pending = None
        if isinstance(it.layer, BatchNorm):
            prev = out[-1] if out else None
            if prev is not None and prev.is_dense and prev.config.get("activation", "identity") == "identity":
                _fold_into_previous(prev, *it.layer.scale_shift())
            else:
                pending = it
            continue
        out.append(it)
    if pending is not None:
        out.append(pending)

    pre = getattr(model, "preprocess", None)
    raw_input_dim = None  # set when the preprocessor folds into the first Dense: the new model takes raw rows
    if preprocess and pre is not None and getattr(pre, "n_features_in_", None) is not None:
        affine = pre.affine()
        if affine is not None and out[0].is_dense:
            _fold_into_next(out[0], np.asarray(affine[0], F64), np.asarray(affine[1], F64))
            raw_input_dim = int(pre.n_features_in_)
    config = model.config_with_layers([it.config for it in out])
    if raw_input_dim is not None:
        del config["preprocess"]
        config["input_dim"] = raw_input_dim
    folded = type(model).from_config(config, model.state_arrays())
    if not folded.built:
        folded.build(config["input_dim"])
    weights = []
    for it, layer in zip(out, folded.layers):
        for name in layer.weight_names():
            weights.append(it.arrays[name])
    folded.set_weights(weights)
    return folded

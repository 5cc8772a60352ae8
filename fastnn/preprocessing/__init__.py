"""Data preprocessing, fitted once on the training set: scaling, centring, PCA and ZCA whitening.

Why: features on very different scales make the loss surface elongated, so gradient descent zig-zags and
needs a small learning rate; centring and scaling make it rounder, and whitening also removes correlations
between features.

Every preprocessor has ``fit(X, chunk_size=None)`` (streams over row blocks, so an ``np.memmap`` larger than
RAM works; statistics accumulated in float64), ``partial_fit``, ``transform(X, out=None)``,
``fit_transform`` and ``inverse_transform``. Transforms keep float32/float64 input dtypes (integers give
float64) or write into ``out``. Every method refuses NaN and inf, naming the row and column (scikit-learn's
scalers pass NaN through as missing; here missing values are imputed first), and a transform refuses a row it
would map beyond the output dtype's range, or a float32 output whose coefficients float32 cannot hold.
``Pipeline([...])`` chains them (fit and the transforms; no partial_fit: each step is fitted on the previous
step's final transform, which more rows would change).

===========================  ======================================  =================================
data                         the chapter's advice                    fastnn
===========================  ======================================  =================================
natural grey-scale images    mean subtraction, then PCA/ZCA           SampleCenter() (per-image mean
                             whitening                                removal), then ZCAWhitening(eps)
                                                                      or PCAWhitening
colour images                simple scaling, then PCA/ZCA whitening   MinMaxScaler(), then ZCAWhitening
audio features (MFCC,        feature standardization, then PCA/ZCA   StandardScaler(), then
spectrograms)                whitening                                PCAWhitening / ZCAWhitening
MNIST-like digits            simple scaling or per-sample mean        MinMaxScaler() or SampleCenter()
                             subtraction, then optionally whitening   (optionally + whitening)
===========================  ======================================  =================================

("Mean subtraction" for natural images is per-image -- SampleCenter -- in the UFLDL notes the chapter
follows: natural images are stationary, so removing each image's brightness is the useful part;
MeanCenter subtracts the per-feature mean over the data set instead.)

Folding into a model: ``affine()`` returns (A, c) with transform(X) == X @ A + c for the affine ones
(MinMaxScaler, StandardScaler, MeanCenter, SampleCenter(with_std=False), PCAWhitening, ZCAWhitening, and
Pipelines of them), so a first Dense layer y = x W + b can absorb it: W' = A W, b' = c W + b.
``centered_affine()`` returns (m, A, c) with transform(X) == (X - m) @ A + c, m the offset subtracted first:
fastnn.fold keeps the offsets that folding into b' would cancel (data far from the origin).

Saving: ``get_config()`` (JSON-able) and ``state_arrays()`` (float64 arrays) hold everything;
``from_config(config, arrays)`` rebuilds an identical fitted preprocessor, after checking the arrays against each
other and the parameters (a tampered or inconsistent state is refused, naming the array).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._registry import Registry
from ._base import NotFittedError, PreprocessingError, Preprocessor
from .pipeline import Pipeline
from .scalers import MeanCenter, MinMaxScaler, SampleCenter, StandardScaler
from .whitening import PCAWhitening, ZCAWhitening

__all__ = ["MinMaxScaler", "StandardScaler", "MeanCenter", "SampleCenter", "PCAWhitening", "ZCAWhitening",
           "Pipeline", "Preprocessor", "PreprocessingError", "NotFittedError", "from_config", "make"]

PREPROCESSORS = Registry("preprocessor", (MinMaxScaler, StandardScaler, MeanCenter, SampleCenter, PCAWhitening,
                                          ZCAWhitening, Pipeline), error=PreprocessingError)


def from_config(config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Preprocessor | Pipeline:
    """Rebuild a preprocessor (or Pipeline) from ``get_config()`` and ``state_arrays()``. Validates the
    class name, parameters and every array's shape against the config (safe on files from elsewhere)."""
    cls, _ = PREPROCESSORS.split(config)
    arrays = {} if arrays is None else dict(arrays)
    name = cls.__name__
    if cls is Pipeline:
        steps_cfg = config.get("steps")
        if not isinstance(steps_cfg, list) or not steps_cfg:
            raise PreprocessingError("Pipeline config needs a non-empty 'steps' list")
        steps = []
        for i, sc in enumerate(steps_cfg):
            prefix = f"{i}."
            sub = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            steps.append(from_config(sc, sub))
        for i, (a, b) in enumerate(zip(steps, steps[1:])):  # fitted steps must chain: each takes what the last gave
            if a.fitted and b.fitted and a.n_features_out_ != b.n_features_in_:
                raise PreprocessingError(f"Pipeline config: step {i} puts out {a.n_features_out_} features but step "
                                         f"{i + 1} takes {b.n_features_in_}")
        return Pipeline(steps)
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise PreprocessingError(f"{name} config 'params' must be a dict, got {params!r}")
    try:
        obj = cls(**params)
    except TypeError as exc:
        raise PreprocessingError(f"bad parameters for {name}: {exc}") from None
    obj._load_state(config, arrays)
    return obj


def make(spec: str | Preprocessor | Pipeline | Sequence[str | Preprocessor | Pipeline]) -> Preprocessor | Pipeline:
    """A preprocessor from a name ("standard", "minmax", "mean_center", "sample_center", "pca" / "pca_whiten",
    "zca" / "zca_whiten"), a preprocessor, or a list of those (-> Pipeline). ``Sequential(preprocess=...)`` calls
    it for a name or a list holding names."""
    names = {"standard": StandardScaler, "minmax": MinMaxScaler, "mean_center": MeanCenter,
             "sample_center": SampleCenter, "pca": PCAWhitening, "zca": ZCAWhitening,
             # aliases
             "standardize": StandardScaler, "min_max": MinMaxScaler, "pca_whiten": PCAWhitening,
             "pca_whitening": PCAWhitening, "zca_whiten": ZCAWhitening, "zca_whitening": ZCAWhitening}
    if isinstance(spec, (Preprocessor, Pipeline)):
        return spec
    if isinstance(spec, str):
        if spec not in names:
            raise PreprocessingError(f"unknown preprocessing {spec!r}; expected one of {sorted(names)}")
        return names[spec]()
    if isinstance(spec, (list, tuple)):
        steps = [make(s) for s in spec]
        return steps[0] if len(steps) == 1 else Pipeline(steps)
    raise PreprocessingError(f"cannot make a preprocessor from {spec!r}")


"""Pipeline: several preprocessors applied in order, with the same interface as one."""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ._base import (
    FIT_BLOCK_BYTES,
    NotFittedError,
    PreprocessingError,
    Preprocessor,
    as_matrix,
    iter_blocks,
    rows_per_block,
    uncentred,
)


class Pipeline:
    """Apply ``steps`` (preprocessors) in order. ``fit`` fits step k on the output of steps 0..k-1, streaming
    the data once per step (so memmapped inputs work); a failure leaves every step as it was. ``affine()``
    composes the steps' affine maps when all are affine: X @ A1 @ A2 + (c1 @ A2 + c2)."""

    steps: list[Preprocessor]

    def __init__(self, steps: Iterable[Preprocessor | Pipeline]) -> None:
        flat: list[Preprocessor] = []
        for s in steps:
            if isinstance(s, Pipeline):
                flat.extend(s.steps)  # nested pipelines are flattened (their step objects are shared)
            elif isinstance(s, Preprocessor):
                flat.append(s)
            else:
                raise PreprocessingError(f"Pipeline steps must be fastnn preprocessors, got {s!r}")
        if not flat:
            raise PreprocessingError("Pipeline needs at least one step")
        seen: set[int] = set()
        for s in flat:  # fitting one object at two places would keep only its last fit
            if id(s) in seen:
                raise PreprocessingError(f"Pipeline holds the same {type(s).__name__} object twice; give each step "
                                         "its own (a step is fitted on what the steps before it put out)")
            seen.add(id(s))
        self.steps = flat

    # ---- fitting -------------------------------------------------------------------------------------------

    def _blocks_through(self, X: np.ndarray, prefix: Sequence[Preprocessor],
                        chunk_size: int | None) -> Iterator[tuple[int, np.ndarray]]:
        step = rows_per_block(X.shape[1], FIT_BLOCK_BYTES, chunk_size)
        for start, block in iter_blocks(X, step):
            for s in prefix:
                block = s.transform(block)
            yield start, block

    def fit(self, X: Any, chunk_size: int | None = None) -> Pipeline:
        X = as_matrix(X)
        fitted = [copy.deepcopy(s) for s in self.steps]
        for k, s in enumerate(fitted):
            if k == 0:
                s.fit(X, chunk_size)
            else:
                d = fitted[k - 1].n_features_out_
                s._fit_blocks(d, self._blocks_through(X, fitted[:k], chunk_size), fresh=True)
        for old, new in zip(self.steps, fitted):  # commit: the caller's step objects become the fitted ones
            old.__dict__.update(new.__dict__)
        return self

    def fit_transform(self, X: Any, chunk_size: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, chunk_size=chunk_size).transform(X, out=out)

    # ---- transforms ----------------------------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return all(s.fitted for s in self.steps)

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError("Pipeline is not fitted yet: call fit(X) first")

    @property
    def n_features_in_(self) -> int | None:
        return self.steps[0].n_features_in_

    @property
    def n_features_out_(self) -> int:
        return self.steps[-1].n_features_out_

    def transform(self, X: Any, out: np.ndarray | None = None, chunk_size: int | None = None) -> np.ndarray:
        self._require_fitted()
        cur = X
        for s in self.steps[:-1]:
            cur = s.transform(cur, chunk_size=chunk_size)
        return self.steps[-1].transform(cur, out=out, chunk_size=chunk_size)

    def inverse_transform(self, X: Any, out: np.ndarray | None = None, chunk_size: int | None = None) -> np.ndarray:
        self._require_fitted()
        cur = X
        for s in self.steps[:0:-1]:
            cur = s.inverse_transform(cur, chunk_size=chunk_size)
        return self.steps[0].inverse_transform(cur, out=out, chunk_size=chunk_size)

    def affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        return uncentred(self.centered_affine())

    def centered_affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The steps composed: the first step's offset m stays apart; a later step's (m2, A2, c2) after
        (X - m) @ A + c gives (X - m) @ (A A2) + (c - m2) A2 + c2."""
        self._require_fitted()
        composed = self.steps[0].centered_affine()
        for s in self.steps[1:]:
            f = s.centered_affine()
            if composed is None or f is None:
                return None
            m, A, c = composed
            m2, A2, c2 = f
            composed = m, A @ A2, (c - m2) @ A2 + c2
        return composed

    def check_dtype(self, dtype: Any) -> None:
        """Each step's :meth:`Preprocessor.check_dtype`."""
        for s in self.steps:
            s.check_dtype(dtype)

    # ---- persistence ---------------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {"class": "Pipeline", "steps": [s.get_config() for s in self.steps], "fitted": self.fitted}

    def state_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for i, s in enumerate(self.steps):
            for k, v in s.state_arrays().items():
                out[f"{i}.{k}"] = v
        return out

    def __repr__(self) -> str:
        return f"Pipeline({self.steps!r})"

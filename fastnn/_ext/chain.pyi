import numpy as np
from typing_extensions import disjoint_base

@disjoint_base
class DenseChain:
    n_layers: int
    rows: int
    single: bool
    keep: list[object]
    def __new__(cls, n_layers: int, rows: int, single: bool) -> DenseChain: ...
    def set_layer(self, i: int, x: np.ndarray | None, w: np.ndarray, b: np.ndarray | None, z: np.ndarray,
                  y: np.ndarray, dx: np.ndarray | None, db: np.ndarray | None, dw: np.ndarray, update: int,
                  act: int, alpha: float, threads: tuple[int, ...]) -> None: ...
    def set_loss(self, grad: np.ndarray, scale: float, smoothing: float, threads: int) -> None: ...
    def set_updates(self, epilogue: int, rest: int, n_rest: int, threads: int, owner: object) -> None: ...
    def run(self, x: np.ndarray, labels: np.ndarray, threads_1: int, threads_2: int,
            stop_if_nonfinite: bool) -> tuple[float, int, int, bool]: ...

"""The peers fastnn's benchmarks measure against, on the same shapes, as step functions.

Each ``*_trainer(sizes, batch, ...)`` returns ``(step, n_steps_per_pass)``: ``step(i)`` runs one training step on
mini-batch ``i`` of a fixed random data set. Adapted from ../shared/peers (torch_mlp.py, numpy_mlp.py,
gemm_floor.py) so the comparison runs in one process, interleaved.
"""
from __future__ import annotations

import numpy as np

N_BATCHES = 20


def data(batch: int, n_in: int, n_out: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch * N_BATCHES, n_in), dtype=np.float32)
    y = rng.integers(0, n_out, batch * N_BATCHES)
    return X, y


def torch_trainer(sizes, batch, opt="sgd", bn=False, dropout=0.0):
    import torch

    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if bn:
                layers.append(torch.nn.BatchNorm1d(sizes[i + 1]))
            layers.append(torch.nn.ReLU())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    model = torch.nn.Sequential(*layers)
    optimizer = {"adam": lambda: torch.optim.Adam(model.parameters(), 1e-3),
                 "sgd": lambda: torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)}[opt]()
    lossf = torch.nn.CrossEntropyLoss()
    X, y = data(batch, sizes[0], sizes[-1])
    X, Y = torch.from_numpy(X), torch.from_numpy(y)

    def step(i):
        j = (i % N_BATCHES) * batch
        optimizer.zero_grad(set_to_none=True)
        loss = lossf(model(X[j:j + batch]), Y[j:j + batch])
        loss.backward()
        optimizer.step()

    return step


def numpy_trainer(sizes, batch, opt="sgd"):
    """A plain numpy MLP, no fusion: the level a quick hand-written version reaches."""
    rng = np.random.default_rng(0)
    L = len(sizes) - 1
    W = [rng.standard_normal((sizes[i], sizes[i + 1]), dtype=np.float32) * np.float32(np.sqrt(2 / sizes[i]))
         for i in range(L)]
    b = [np.zeros(sizes[i + 1], np.float32) for i in range(L)]
    params = W + b
    m = [np.zeros_like(q) for q in params]
    X, Y = data(batch, sizes[0], sizes[-1])

    def step(i):
        j = (i % N_BATCHES) * batch
        x, y = X[j:j + batch], Y[j:j + batch]
        hs = [x]
        for k in range(L):
            z = hs[-1] @ W[k] + b[k]
            hs.append(np.maximum(z, 0) if k < L - 1 else z)
        z = hs[-1] - hs[-1].max(1, keepdims=True)
        e = np.exp(z)
        g = e / e.sum(1, keepdims=True)
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        grads_W, grads_b = [None] * L, [None] * L
        for k in reversed(range(L)):
            grads_W[k], grads_b[k] = hs[k].T @ g, g.sum(0)
            if k:
                g = (g @ W[k].T) * (hs[k] > 0)
        for q, gq, mq in zip(params, grads_W + grads_b, m):
            mq *= 0.9
            mq += gq
            q -= 0.01 * mq

    return step


def gemm_floor_trainer(sizes, batch):
    """Only the matmuls of one training step, into preallocated outputs: no BLAS-backed step beats it."""
    rng = np.random.default_rng(0)
    L = len(sizes) - 1
    W = [rng.standard_normal((sizes[i], sizes[i + 1]), dtype=np.float32) for i in range(L)]
    H = [rng.standard_normal((batch, n), dtype=np.float32) for n in sizes]
    G = [rng.standard_normal((batch, n), dtype=np.float32) for n in sizes]
    dW = [np.empty_like(w) for w in W]

    def step(i):
        for k in range(L):
            np.matmul(H[k], W[k], out=H[k + 1])
        for k in reversed(range(L)):
            np.matmul(H[k].T, G[k + 1], out=dW[k])
            if k:
                np.matmul(G[k + 1], W[k].T, out=G[k])

    return step

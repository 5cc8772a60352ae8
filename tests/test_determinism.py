"""Training and predictions are the same bits for 1, 2, 3 and 4 threads (issue 11).

Every Dense matmul runs on fastnn's own gemm (fixed output tasks, one thread each: csrc/gemm.h) and every other
kernel reduces in fixed blocks, so the thread count decides only who computes what. ``parallel_threshold=1`` sends
even these small layers down the threaded paths; the layer widths and the batch of 300 give the gemm several
column and row tasks. What holds across CPUs is another matter (the SIMD rung, FMA or not): README, Determinism."""
import numpy as np
import pytest

import fastnn
from fastnn import augment as A
from fastnn.layers import BatchNorm, Dense, Dropout, ReLU

THREADS = (1, 2, 3, 4)
SIDE = 10  # 10 x 10 images for the augmentation


def _data(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, SIDE * SIDE)).astype(dtype)
    y = (X[:, :3].sum(1) > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def _model(kind, dtype):
    if kind == "bn_dropout":
        layers = [Dense(130), BatchNorm(), ReLU(), Dropout(0.3), Dense(70, activation="relu"), Dropout(0.2),
                  Dense(3)]
    else:
        layers = [Dense(130, activation="relu"), Dense(70, activation="tanh"), Dense(3)]
    return fastnn.Sequential(layers, input_dim=SIDE * SIDE, dtype=dtype, seed=7)


CASES = {
    "sgd_momentum": dict(optimizer=lambda: fastnn.optim.SGD(lr=0.05, momentum=0.9), kind="plain", batch=40),
    "adam_batch300": dict(optimizer=lambda: fastnn.optim.Adam(lr=3e-3), kind="plain", batch=300),
    "adam_bn_dropout": dict(optimizer=lambda: fastnn.optim.Adam(lr=1e-3, weight_decay=1e-4), kind="bn_dropout",
                            batch=32),
    "sgd_augment": dict(optimizer=lambda: fastnn.optim.SGD(lr=0.02, momentum=0.9, nesterov=True), kind="bn_dropout",
                        batch=50, augment=True),
}


def _train(case, dtype, n_threads):
    spec = CASES[case]
    X, y = _data(dtype)
    model = _model(spec["kind"], dtype)
    optimizer = spec["optimizer"]()
    augment = (A.Compose([A.RandomShift(1), A.RandomFlip(), A.GaussianNoise(0.05)], image_shape=(SIDE, SIDE))
               if spec.get("augment") else None)
    with fastnn.threads(n_threads, parallel_threshold=1):
        history = model.fit(X, y, optimizer=optimizer, epochs=2, batch_size=spec["batch"], shuffle=True, seed=11,
                            validation_data=(X[:100], y[:100]), augment=augment, verbose=0)
        predictions = model.predict(X)
    state = optimizer.state_dict()
    return {"weights": model.get_weights(), "optimizer": state["state"], "step_count": state["step_count"],
            "history": {k: v for k, v in history.history.items() if k != "samples_per_s"}, "steps": history.steps,
            "predictions": predictions}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_training_is_bitwise_identical_for_any_thread_count(case, dtype):
    runs = {n: _train(case, dtype, n) for n in THREADS}
    first = runs[1]
    assert first["step_count"] > 0 and np.isfinite(first["history"]["loss"]).all()
    for n in THREADS[1:]:
        run = runs[n]
        for i, (w, w1) in enumerate(zip(run["weights"], first["weights"])):
            np.testing.assert_array_equal(w, w1, err_msg=f"{n} threads: weight array {i}")
        assert run["optimizer"].keys() == first["optimizer"].keys()
        for name, buf in run["optimizer"].items():
            np.testing.assert_array_equal(buf, first["optimizer"][name], err_msg=f"{n} threads: optimizer {name}")
        assert run["step_count"] == first["step_count"]
        assert run["history"] == first["history"], f"{n} threads: history"
        assert run["steps"] == first["steps"]
        np.testing.assert_array_equal(run["predictions"], first["predictions"], err_msg=f"{n} threads: predict")


def test_predictions_of_a_large_batch_are_identical_for_any_thread_count():
    """Inference alone: chunks of 1024 rows, wide layers (many gemm tasks)."""
    rng = np.random.default_rng(3)
    model = fastnn.Sequential([Dense(300, activation="relu"), Dense(200, activation="relu"), Dense(5)],
                              input_dim=80, seed=1)
    X = rng.standard_normal((2500, 80)).astype(np.float32)
    outs = []
    for n in THREADS:
        with fastnn.threads(n, parallel_threshold=1):
            outs.append(model.predict_logits(X))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])

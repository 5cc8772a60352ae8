"""Smoke test of an installed fastnn (run by tools/build_wheel.sh in fresh venvs): import it, print its
configuration, train one epoch on the embedded digits with every kernel on its OpenMP path, predict.

    python tools/wheel_smoke.py [--expect-bundled]

The last line printed is JSON: where fastnn was imported from, its OpenMP runtime, the test accuracy and a
sha256 of the trained weights and predictions (equal digests = bitwise-equal training, e.g. repaired wheel vs
plain build). --expect-bundled fails unless the kernels use the wheel's own OpenMP runtime.
"""
import hashlib
import json
import sys

import fastnn
from fastnn import _openmp_runtime
from fastnn._ext import openmp
from fastnn.layers import Dense

fastnn.show_config()
X_train, y_train, X_test, y_test = fastnn.datasets.load_digits()
model = fastnn.Sequential([Dense(64, activation="relu"), Dense(10)], input_dim=64, seed=0)
with fastnn.threads(2, parallel_threshold=1):
    model.fit(X_train, y_train, optimizer=fastnn.optim.SGD(lr=0.05, momentum=0.9), epochs=1, batch_size=32,
              verbose=0, seed=0)
    pred = model.predict(X_test)
accuracy = float((pred.argmax(1) == y_test).mean())
runtime = _openmp_runtime.describe(openmp.__file__)
print(json.dumps({"fastnn": fastnn.__file__, "openmp": openmp.openmp_enabled(), "runtime": runtime,
                  "accuracy": round(accuracy, 4),
                  "sha256": hashlib.sha256(model.params.tobytes() + pred.tobytes()).hexdigest()[:16]}))
if accuracy < 0.5:
    sys.exit(f"one epoch on the digits reached only {accuracy:.3f} test accuracy")
if "--expect-bundled" in sys.argv and not (runtime and runtime["bundled"]):
    sys.exit(f"the kernels do not use the wheel's bundled OpenMP runtime: {runtime}")

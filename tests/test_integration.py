"""Everything of the chapter in one fit: preprocessing, augmentation, BatchNorm, Dropout, an adaptive optimizer
with warmup + cosine schedule, parameter groups, clipping, penalties, early stopping; then save, load, fold."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.layers import BatchNorm, Dense, Dropout, ReLU


def test_full_pipeline_trains_saves_loads_and_folds(tmp_path):
    X_train, y_train, X_test, y_test = fnn.datasets.load_digits(seed=0)
    X_train, X_test = X_train * 16, X_test * 16  # raw 0..16 pixels: the model's scaler handles it
    model = fnn.Sequential(
        [Dense(128, l2=1e-5), BatchNorm(), ReLU(), Dropout(0.1), Dense(64, activation="relu"), Dense(10)],
        preprocess=[fnn.preprocessing.MinMaxScaler()], seed=0)
    steps = 25 * -(-len(X_train) // 64)
    schedule = fnn.schedules.Warmup(fnn.schedules.Cosine(1e-2, total_steps=steps), warmup_steps=20,
                                    start_factor=0.1)
    optimizer = fnn.optim.AdamW(lr=schedule, weight_decay=1e-2,
                                param_groups=fnn.optim.no_decay_on_bias_and_norm())
    augment = fnn.augment.Compose([fnn.augment.RandomShift(1), fnn.augment.GaussianNoise(0.01)],
                                  image_shape=(8, 8))
    early = fnn.training.EarlyStopping(monitor="val_loss", patience=5)
    history = model.fit(X_train, y_train, optimizer=optimizer, epochs=25, batch_size=64,
                        clip=fnn.clip.ByGlobalNorm(5.0), validation_data=(X_test, y_test),
                        callbacks=[early], augment=augment, verbose=0)
    assert len(history.steps["grad_norm"]) == optimizer.step_count
    assert schedule(0) == pytest.approx(1e-3) and history["lr"][-1] < history["lr"][0]  # warmup, then decay
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    assert accuracy > 0.95

    path = tmp_path / "digits.safetensors"
    fnn.save(model, path)
    loaded = fnn.load(path)
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))

    folded = model.fold()
    assert not any(isinstance(layer, (BatchNorm, Dropout)) for layer in folded.layers)
    np.testing.assert_allclose(folded.predict(X_test), model.predict(X_test), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"])
def test_every_optimizer_trains_the_digits(name):
    X_train, y_train, X_test, y_test = fnn.datasets.load_digits(seed=1)
    lr = {"SGD": 0.05, "Adagrad": 0.05, "RMSprop": 1e-3, "Adadelta": 1.0, "Adam": 1e-3, "AdamW": 1e-3}[name]
    model = fnn.Sequential([Dense(64, activation="relu"), Dense(10)], input_dim=64, seed=1)
    model.fit(X_train, y_train, optimizer=getattr(fnn.optim, name)(lr=lr), epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.9

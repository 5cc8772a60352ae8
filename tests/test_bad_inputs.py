"""Bad input is refused before anything changes (issue 10, item 12), table-driven in the spirit of
scikit-learn's check_estimator.

Every case is a bad call on a model (built and fitted, unbuilt, with an unfitted or a fitted preprocessor; all
with BatchNorm and Dropout). Before the call the test records everything the call could change: parameters and
buffers (BatchNorm running statistics) bitwise, built-ness and sizes, the step count, the stop flag, the loss
and optimizer attributes, the History object and its contents, the model's optimizer state and the state of
the optimizer the call is given, and the preprocessor's fitted state. The call must raise a TypeError or
ValueError (subclasses included) whose message names the argument, and everything recorded must be the same.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import fastnn as fnn
from fastnn.clip import ByGlobalNorm, ByValue
from fastnn.layers import BatchNorm, Dense, Dropout, ReLU
from fastnn.optim import SGD, Adam
from fastnn.preprocessing import StandardScaler
from fastnn.schedules import Cosine, StepDecay
from fastnn.training.callbacks import EarlyStopping, ReduceOnPlateau

N, D, CLASSES = 64, 6, 3
KINDS = ("built", "unbuilt", "preprocess", "preprocess_fitted")
BUILT_KINDS = ("built", "preprocess_fitted")
STEP_KINDS = ("built", "unbuilt", "preprocess_fitted")  # train_step cannot fit a preprocessor
ONCE = ("built",)  # calls that do not involve the model (constructors)


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, D)).astype(np.float32) * 3 + 1
    return X, (X[:, 0] > 1).astype(np.int64) + (X[:, 1] > 2)


def make_model(kind: str) -> fnn.Sequential:
    """A model with BatchNorm and Dropout in one of the states of KINDS; the built ones are fitted once."""
    layers = [Dense(8), BatchNorm(), ReLU(), Dropout(0.3), Dense(CLASSES)]
    preprocess = [StandardScaler()] if kind.startswith("preprocess") else None
    model = fnn.Sequential(layers, input_dim=D if kind == "built" else None, seed=3, preprocess=preprocess)
    if kind in BUILT_KINDS:
        X, y = data()
        model.fit(X, y, optimizer=Adam(lr=1e-2), epochs=2, batch_size=16, verbose=0)
    return model


# ---- what a call could change ------------------------------------------------------------------------------

def _optimizer_state(opt: Any) -> Any:
    if opt is None or not isinstance(opt, fnn.optim.Optimizer):
        return opt
    state = (opt.step_count, opt.skipped_steps, opt.lr_scale, opt.layout is None)
    if opt.layout is not None:
        state += (opt.layout.describe(), {k: v.tobytes() for k, v in opt.state.items()})
    return state


def _preprocess_state(pre: Any) -> Any:
    if pre is None:
        return None
    steps = getattr(pre, "steps", [pre])
    return [(id(s), s.n_features_in_, {k: v.tobytes() for k, v in s.state_arrays().items()} if s.fitted else None)
            for s in steps]


def snapshot(model: fnn.Sequential, opt: Any) -> dict[str, Any]:
    """Everything a failed call must leave as it was, in comparable form (bytes, ids, deep copies)."""
    history = model.history
    return {
        "built": model.built, "sizes": (model.input_dim, model.output_dim),
        "layer sizes": [(layer.in_dim, layer.out_dim) for layer in model.layers],
        "params": None if model.params is None else model.params.tobytes(),
        "buffers": [{k: v.tobytes() for k, v in layer.buffers.items()} for layer in model.layers],
        "step_count": model.step_count, "stop_training": model.stop_training,
        "loss": id(model.loss), "optimizer": id(model.optimizer), "history": id(history),
        "history contents": None if history is None else copy.deepcopy((history.history, history.steps,
                                                                        history.epoch)),
        "model optimizer state": _optimizer_state(model.optimizer),
        "given optimizer state": _optimizer_state(opt),
        "preprocess": (id(model.preprocess), _preprocess_state(model.preprocess)),
    }


# ---- the table ---------------------------------------------------------------------------------------------

@dataclass
class Case:
    """``call(model, X, y, opt)`` must raise ``error`` with a message matching ``match`` (which names the
    argument), for every model kind in ``kinds``. ``opt`` is a fresh SGD the call may pass (its state is
    checked too)."""
    name: str
    call: Callable[..., Any]
    error: type[Exception] | tuple[type[Exception], ...]
    match: str
    kinds: tuple[str, ...] = KINDS


def fit(**kwargs: Any) -> Callable[..., Any]:
    """A fit call on good data with ``kwargs`` replacing the good arguments."""
    def call(model, X, y, opt):
        args = {"X": X, "y": y, "optimizer": opt, "epochs": 1, "batch_size": 16, "verbose": 0, **kwargs}
        return model.fit(args.pop("X"), args.pop("y"), **args)
    return call


def fit_data(mutate: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]], **kwargs: Any) -> Callable[..., Any]:
    def call(model, X, y, opt):
        Xb, yb = mutate(X.copy(), y.copy())
        return fit(X=Xb, y=yb, **kwargs)(model, X, y, opt)
    return call


def train_step(**kwargs: Any) -> Callable[..., Any]:
    def call(model, X, y, opt):
        args = {"xb": X[:16], "yb": y[:16], "optimizer": opt, **kwargs}
        return model.train_step(args.pop("xb"), args.pop("yb"), **args)
    return call


def missing_at(y: np.ndarray, row: int, value: Any) -> np.ndarray:
    """The labels as an object array (a pandas column with gaps) with a missing value at ``row``."""
    y = y.astype(object)
    y[row] = value
    return y


def sparse(X: np.ndarray) -> Any:
    return pytest.importorskip("scipy.sparse").csr_matrix(X)


def frame(X: np.ndarray) -> Any:
    return pytest.importorskip("pandas").DataFrame(X)


def nan_at(X: np.ndarray, row: int) -> np.ndarray:
    X = X.astype(np.float32)
    X[row, 1] = np.nan
    return X


def onehot(y: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.float32)[y]


def valid(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X[:20].copy(), y[:20].copy()


class Recorder(fnn.training.callbacks.Callback):
    """A user callback that only takes (model); it must not be reached when another callback refuses."""

    def __init__(self) -> None:
        self.calls = 0

    def on_train_begin(self, model):
        self.calls += 1


def constructor(name: str, make: Callable[[], Any], error: type[Exception], match: str) -> Case:
    """A bad constructor call, run once next to a built model (which must not change either)."""
    return Case(name, lambda model, X, y, opt: make(), error, match, kinds=ONCE)


CASES = [
    # fit: arguments
    Case("fit clip str", fit(clip="foo"), TypeError, "clip"),
    Case("fit clip number", fit(clip=1.0), TypeError, "clip"),
    Case("fit clip bad config", fit(clip={"class": "ByValue", "clip_value": -1}), ValueError, "clip_value"),
    Case("fit lr callable -> str", lambda m, X, y, o: fit(optimizer=SGD(lr=lambda s: "fast"))(m, X, y, o),
         TypeError, "lr"),
    Case("fit lr callable -> None", lambda m, X, y, o: fit(optimizer=SGD(lr=lambda s: None))(m, X, y, o),
         TypeError, "lr"),
    Case("fit lr callable -> negative", lambda m, X, y, o: fit(optimizer=SGD(lr=lambda s: -0.1))(m, X, y, o),
         ValueError, "lr"),
    Case("fit lr callable -> nan", lambda m, X, y, o: fit(optimizer=SGD(lr=lambda s: float("nan")))(m, X, y, o),
         ValueError, "lr"),
    Case("fit group lr callable -> str", lambda m, X, y, o: fit(optimizer=SGD(
        lr=0.1, param_groups=[{"layers": [0], "lr": lambda s: "x"}]))(m, X, y, o), TypeError, "lr"),
    Case("fit seed -1", fit(seed=-1), ValueError, "seed"),
    Case("fit seed 2**64", fit(seed=2**64), ValueError, "seed"),
    Case("fit seed float", fit(seed=1.5), TypeError, "seed"),
    Case("fit seed str", fit(seed="0"), TypeError, "seed"),
    Case("fit epochs -1", fit(epochs=-1), ValueError, "epochs"),
    Case("fit epochs float", fit(epochs=2.0), TypeError, "epochs"),
    Case("fit batch_size 0", fit(batch_size=0), ValueError, "batch_size"),
    Case("fit batch_size str", fit(batch_size="32"), TypeError, "batch_size"),
    Case("fit verbose 3", fit(verbose=3), ValueError, "verbose"),
    Case("fit verbose float", fit(verbose=1.5), TypeError, "verbose"),
    Case("fit shuffle str", fit(shuffle="yes"), TypeError, "shuffle"),
    Case("fit loss unknown", fit(loss="hinge"), ValueError, "loss"),
    Case("fit loss number", fit(loss=3), ValueError, "loss"),
    Case("fit optimizer unknown name", fit(optimizer="sgdx"), ValueError, "unknown optimizer"),
    Case("fit optimizer class", fit(optimizer=SGD), TypeError, "optimizer"),
    Case("fit callbacks not a list", fit(callbacks=EarlyStopping(monitor="loss")), TypeError, "callbacks"),
    Case("fit callback without hooks", fit(callbacks=[object()]), TypeError, "callback"),
    Case("fit EarlyStopping val_loss without validation_data",
         fit(callbacks=[Recorder(), EarlyStopping(monitor="val_loss"), Recorder()]), ValueError, "val_loss"),
    Case("fit EarlyStopping accuracy with mse",
         fit_data(lambda X, y: (X, onehot(y)), loss="mse", callbacks=[EarlyStopping(monitor="accuracy")]),
         ValueError, "accuracy"),
    Case("fit EarlyStopping misspelled monitor", fit(callbacks=[EarlyStopping(monitor="val_los")]),
         ValueError, "val_los"),
    Case("fit ReduceOnPlateau val_accuracy without validation_data",
         fit(callbacks=[ReduceOnPlateau(monitor="val_accuracy")]), ValueError, "val_accuracy"),
    Case("fit augment str", fit(augment="flip"), TypeError, "augment"),
    Case("fit augment wrong image shape",
         fit(augment=fnn.augment.Compose([fnn.augment.RandomFlip()], image_shape=(3, 3))), ValueError, "image"),
    Case("fit validation_data one item", lambda m, X, y, o: fit(validation_data=(X[:5],))(m, X, y, o),
         ValueError, "validation_data"),
    Case("fit validation_data not a tuple", lambda m, X, y, o: fit(validation_data=X[:5])(m, X, y, o),
         ValueError, "validation_data"),
    Case("fit validation X features", lambda m, X, y, o: fit(validation_data=(X[:5, :4], y[:5]))(m, X, y, o),
         ValueError, "validation X"),
    Case("fit validation X nan", lambda m, X, y, o: fit(validation_data=(nan_at(X[:5], 2), y[:5]))(m, X, y, o),
         ValueError, "validation X"),
    Case("fit validation y length", lambda m, X, y, o: fit(validation_data=(X[:5], y[:4]))(m, X, y, o),
         ValueError, "validation y"),
    Case("fit validation y out of range", lambda m, X, y, o: fit(validation_data=(X[:5], y[:5] + 5))(m, X, y, o),
         ValueError, "validation y"),
    Case("fit optimizer bound to another model", lambda m, X, y, o: fit(optimizer=_bound_elsewhere())(m, X, y, o),
         ValueError, "bound to another model; create a new optimizer for each model"),
    # fit: data
    Case("fit X nan", fit_data(lambda X, y: (nan_at(X, 5), y)), ValueError, "X contains nan at row 5"),
    Case("fit X strings", fit_data(lambda X, y: (X.astype(str), y)), TypeError, "X must be numeric"),
    Case("fit X 3-D", fit_data(lambda X, y: (X[:, :, None], y)), ValueError, "X must be 2-D"),
    Case("fit X wrong features", fit_data(lambda X, y: (X[:, :5], y)), ValueError, "X has 5 features",
         kinds=BUILT_KINDS),
    Case("fit y length", fit_data(lambda X, y: (X, y[:-1])), ValueError, "y has 63 rows"),
    Case("fit y out of range", fit_data(lambda X, y: (X, y + 3)), ValueError, "y: label"),
    Case("fit y float labels", fit_data(lambda X, y: (X, y + 0.5)), ValueError, "y: .*integers"),
    Case("fit BatchNorm last batch of one", fit_data(lambda X, y: (X[:33], y[:33])), ValueError, "batch"),
    Case("fit y missing label (NaN)", fit_data(lambda X, y: (X, missing_at(y, 5, np.nan))), ValueError,
         r"^y has a missing label \(nan\) at row 5: drop or fill those rows"),
    Case("fit y missing label (None)", fit_data(lambda X, y: (X, missing_at(y, 5, None))), ValueError,
         r"^y has a missing label \(None\) at row 5"),
    Case("fit X scipy sparse", fit_data(lambda X, y: (sparse(X), y)), TypeError,
         r"X is a scipy sparse matrix; fastnn takes dense arrays: pass X.toarray\(\)"),
    Case("fit X DataFrame of nullable floats", fit_data(lambda X, y: (frame(X).astype("Float64"), y)), TypeError,
         r"X is a DataFrame whose columns share no numeric dtype.*X.to_numpy\(dtype=float\)"),
    Case("fit validation_split zero weights on the held-out rows",
         fit(validation_split=0.25, sample_weight=np.r_[np.ones(N - 16), np.zeros(16)]), ValueError,
         "^sample_weight is all zeros on the last 16 rows that validation_split holds out"),
    # train_step
    Case("train_step optimizer unknown name", train_step(optimizer="sgdx"), ValueError, "unknown optimizer"),
    Case("train_step optimizer class", train_step(optimizer=Adam), TypeError, "optimizer"),
    Case("train_step clip str", train_step(clip="foo"), TypeError, "clip"),
    Case("train_step loss unknown", train_step(loss="hinge"), ValueError, "loss"),
    Case("train_step lr callable -> str",
         lambda m, X, y, o: train_step(optimizer=SGD(lr=lambda s: "fast"))(m, X, y, o), TypeError, "lr"),
    Case("train_step xb nan", lambda m, X, y, o: train_step(xb=nan_at(X[:16], 3))(m, X, y, o), ValueError, "xb"),
    Case("train_step yb length", lambda m, X, y, o: train_step(yb=y[:15])(m, X, y, o), ValueError, "yb"),
    Case("train_step yb out of range", lambda m, X, y, o: train_step(yb=y[:16] + 3)(m, X, y, o),
         ValueError, "yb: label", kinds=STEP_KINDS),
    Case("train_step batch of one with BatchNorm", lambda m, X, y, o: train_step(xb=X[:1], yb=y[:1])(m, X, y, o),
         ValueError, "batch", kinds=STEP_KINDS),
    Case("train_step on an unfitted preprocessor", train_step(), ValueError, "preprocess", kinds=("preprocess",)),
    Case("train_step yb missing label", lambda m, X, y, o: train_step(yb=missing_at(y[:16], 2, np.nan))(m, X, y, o),
         ValueError, r"^yb has a missing label \(nan\) at row 2", kinds=STEP_KINDS),
    # evaluate / predict / set_weights (built models)
    Case("evaluate X features", lambda m, X, y, o: m.evaluate(X[:, :4], y), ValueError, "X has 4 features",
         kinds=BUILT_KINDS),
    Case("evaluate y length", lambda m, X, y, o: m.evaluate(X, y[:-1]), ValueError, "y has 63 rows",
         kinds=BUILT_KINDS),
    Case("evaluate loss unknown", lambda m, X, y, o: m.evaluate(X, y, loss="hinge"), ValueError, "loss",
         kinds=BUILT_KINDS),
    Case("evaluate X nan", lambda m, X, y, o: m.evaluate(nan_at(X, 4), y), ValueError, "X contains nan",
         kinds=BUILT_KINDS),
    Case("evaluate y missing label", lambda m, X, y, o: m.evaluate(X, missing_at(y, 4, None)), ValueError,
         r"^y has a missing label \(None\) at row 4", kinds=BUILT_KINDS),
    Case("predict X scipy sparse", lambda m, X, y, o: m.predict(sparse(X)), TypeError, r"pass X.toarray\(\)",
         kinds=BUILT_KINDS),
    Case("predict X features", lambda m, X, y, o: m.predict(X[:, :4]), ValueError, "X has 4 features",
         kinds=BUILT_KINDS),
    Case("predict X nan", lambda m, X, y, o: m.predict(nan_at(X, 9)), ValueError, "X contains nan at row 9",
         kinds=BUILT_KINDS),
    Case("predict X strings", lambda m, X, y, o: m.predict(X.astype(str)), TypeError, "X must be numeric",
         kinds=BUILT_KINDS),
    Case("set_weights count", lambda m, X, y, o: m.set_weights(m.get_weights()[:-1]), ValueError, "arrays",
         kinds=BUILT_KINDS),
    Case("set_weights shape", lambda m, X, y, o: m.set_weights([w[..., :1] for w in m.get_weights()]),
         ValueError, "expected shape", kinds=BUILT_KINDS),
    Case("set_weights nan in the last array",
         lambda m, X, y, o: m.set_weights(m.get_weights()[:-1] + [np.full_like(m.get_weights()[-1], np.nan)]),
         ValueError, "finite", kinds=BUILT_KINDS),
    # constructors (nothing of the model may change either)
    constructor("SGD lr negative", lambda: SGD(lr=-1), ValueError, "lr"),
    constructor("SGD lr str", lambda: SGD(lr="0.1"), TypeError, "lr"),
    constructor("SGD momentum negative", lambda: SGD(lr=0.1, momentum=-0.5), ValueError, "momentum"),
    constructor("Adam betas", lambda: Adam(betas=(1.5, 0.9)), ValueError, "beta"),
    constructor("Cosine total_steps 0", lambda: Cosine(0.1, total_steps=0), ValueError, "total_steps"),
    constructor("StepDecay step_size str", lambda: StepDecay(0.1, step_size="3"), TypeError, "step_size"),
    constructor("ByValue 0", lambda: ByValue(0), ValueError, "clip_value"),
    constructor("ByGlobalNorm str", lambda: ByGlobalNorm("1"), TypeError, "max_norm"),
    constructor("Dense units 0", lambda: Dense(0), ValueError, "units"),
    constructor("Dropout p 1.5", lambda: Dropout(1.5), ValueError, "p"),
    constructor("BatchNorm momentum 2", lambda: BatchNorm(momentum=2), ValueError, "momentum"),
    constructor("EarlyStopping patience -1", lambda: EarlyStopping(patience=-1), ValueError, "patience"),
    constructor("EarlyStopping patience str", lambda: EarlyStopping(patience="3"), TypeError, "patience"),
    constructor("EarlyStopping monitor number", lambda: EarlyStopping(monitor=3), TypeError, "monitor"),
    constructor("EarlyStopping mode", lambda: EarlyStopping(mode="up"), ValueError, "mode"),
    constructor("ReduceOnPlateau factor 2", lambda: ReduceOnPlateau(factor=2), ValueError, "factor"),
    constructor("Sequential seed -1", lambda: fnn.Sequential([Dense(2)], seed=-1), ValueError, "seed"),
    constructor("Sequential seed float", lambda: fnn.Sequential([Dense(2)], seed=0.5), TypeError, "seed"),
    constructor("Sequential input_dim 0", lambda: fnn.Sequential([Dense(2)], input_dim=0), ValueError, "input_dim"),
]


def _bound_elsewhere() -> SGD:
    """An optimizer bound to another model's parameters."""
    other = fnn.Sequential([Dense(4), Dense(CLASSES)], input_dim=D)
    opt = SGD(lr=0.1)
    X, y = data()
    other.train_step(X[:8], y[:8], optimizer=opt)
    return opt


PAIRS = [pytest.param(case, kind, id=f"{case.name} [{kind}]") for case in CASES for kind in case.kinds]


@pytest.mark.parametrize("case, kind", PAIRS)
def test_bad_call_is_refused_before_anything_changes(case: Case, kind: str) -> None:
    model, (X, y), opt = make_model(kind), data(), SGD(lr=0.05, momentum=0.9)
    before = snapshot(model, opt)
    with pytest.raises(case.error, match=case.match):
        case.call(model, X, y, opt)
    after = snapshot(model, opt)
    changed = [key for key in before if before[key] != after[key]]
    assert not changed, f"{case.name} changed {changed}"


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40 and len(PAIRS) >= 200


class PlainCallback:
    """A user callback written before set_run existed: no base class, on_train_begin(model) only."""

    def __init__(self) -> None:
        self.calls = 0

    def on_train_begin(self, model):
        self.calls += 1


def test_callbacks_refuse_the_run_before_any_on_train_begin() -> None:
    """EarlyStopping refuses a metric the run will never log when fit hands it the run (set_run), before any
    callback's on_train_begin and before the first epoch; callbacks without set_run work as before."""
    model, (X, y) = make_model("built"), data()
    first, last = PlainCallback(), Recorder()
    with pytest.raises(ValueError, match=r"'val_loss'.*val_\* metrics need validation_data"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[first, EarlyStopping(), last])
    assert (first.calls, last.calls) == (0, 0)
    history = model.fit(X, y, epochs=2, verbose=0, callbacks=[first, EarlyStopping(monitor="loss"), last])
    assert (first.calls, last.calls) == (1, 1)
    assert last.run is history.run and last.run.metrics == ("loss", "accuracy", "samples_per_s", "lr")
    assert set(history.history) == set(history.run.metrics)
    with_val = model.fit(X, y, epochs=1, verbose=0, validation_data=valid(X, y))
    assert set(with_val.history) == set(with_val.run.metrics) and with_val.run.validation
    mse = make_model("built").fit(X, onehot(y), loss="mse", epochs=1, verbose=0, validation_data=(X, onehot(y)))
    assert set(mse.history) == set(mse.run.metrics) == {"loss", "samples_per_s", "lr", "val_loss"}


def test_seed_none_draws_a_seed_that_repeats_the_run() -> None:
    X, y = data()
    drawn = make_model("built")
    history = drawn.fit(X, y, seed=None, epochs=2, batch_size=16, verbose=0)
    seed = history.run.seed
    assert isinstance(seed, int) and 0 <= seed < 2**64
    again = make_model("built")
    again.fit(X, y, seed=seed, epochs=2, batch_size=16, verbose=0)
    assert np.array_equal(again.params, drawn.params)


def test_a_masked_array_is_its_data_unless_something_is_masked() -> None:
    """Masked entries are missing values: refused, not read from under the mask (a masked NaN gave a NaN
    prediction with no error); a masked array with nothing masked is its data."""
    model = fnn.Sequential([Dense(3)], input_dim=4, seed=0)
    X = np.random.default_rng(0).standard_normal((5, 4))
    X[1, 2] = np.nan
    masked = np.ma.masked_invalid(X)
    for call in (model.predict, fnn.inference.compile(model).predict,
                 lambda x: model.fit(x, np.arange(5) % 3, epochs=1, verbose=0)):
        with pytest.raises(ValueError, match="masked array with 1 masked value"):
            call(masked)
    clean = np.ma.masked_invalid(np.nan_to_num(X))
    np.testing.assert_array_equal(model.predict(clean), model.predict(np.nan_to_num(X)))


def test_flags_are_bools_not_truthy_values() -> None:
    """A string or list where a flag belongs was coerced with bool(): "false" and "no" turned a flag on, [] off
    (a tampered config, or a typo); every flag now takes a bool (numpy's too) and names itself otherwise."""
    import fastnn.augment as A
    import fastnn.preprocessing as P

    for make, exc in ((lambda v: Dense(3, use_bias=v), TypeError), (lambda v: BatchNorm(affine=v), TypeError),
                      (lambda v: fnn.layers.LayerNorm(elementwise_affine=v), TypeError),
                      (lambda v: StandardScaler(with_mean=v), ValueError),
                      (lambda v: P.SampleCenter(with_std=v), ValueError),
                      (lambda v: A.RandomFlip(horizontal=v), ValueError)):
        for bad in ("false", "no", [], 1):
            with pytest.raises(exc, match="bool"):
                make(bad)
        make(np.bool_(True))
    scaler = StandardScaler().fit(np.random.default_rng(0).standard_normal((10, 2)))
    with pytest.raises(P.PreprocessingError, match="'fitted' must be true or false, got 'yes'"):
        P.from_config({**scaler.get_config(), "fitted": "yes"}, scaler.state_arrays())


def test_numpy_scalars_are_accepted_where_python_numbers_are() -> None:
    X, y = data()
    with fnn.threads():
        fnn.set_num_threads(np.int64(2))
    assert ByValue(np.float32(1)).clip_value == 1.0 and ByGlobalNorm(np.float64(2)).max_norm == 2.0
    assert Cosine(np.float32(0.1), total_steps=np.float32(10.0)).total_steps == 10
    opt = SGD(lr=np.float32(0.1), momentum=np.float32(0.5), param_groups=[{"layers": np.int64(0), "lr": 0.2}])
    model = fnn.Sequential([Dense(np.int64(8)), BatchNorm(), Dropout(np.float32(0.25)), Dense(CLASSES)],
                           input_dim=np.int64(D), seed=np.uint64(5))
    history = model.fit(X, y, optimizer=opt, epochs=np.int64(2), batch_size=np.int32(16), seed=np.uint64(2**63),
                        verbose=np.int8(0), shuffle=np.bool_(True),
                        callbacks=[EarlyStopping(monitor="loss", patience=np.int64(3), min_delta=np.float32(0))])
    assert len(history["loss"]) == 2 and history.run.seed == 2**63 and model.seed == 5
    assert model.train_step(X[:16], y[:16])["lr"] == pytest.approx(0.1)

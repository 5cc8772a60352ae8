"""scikit-learn estimators trained by fastnn: :class:`~fastnn.sklearn.MLPClassifier` and
:class:`~fastnn.sklearn.MLPRegressor`.

They take ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``'s parameters (names, defaults, meaning) for
the stochastic solvers, expose the same fitted attributes (``classes_``, ``loss_``, ``loss_curve_``, ``n_iter_``,
``t_``, ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``coefs_``, ``intercepts_``,
``n_features_in_``, ``feature_names_in_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``) and stop by the same
rule (``tol`` and ``n_iter_no_change`` on the training loss, or on the validation score with ``early_stopping``).
One ``fit`` is one call of fastnn's ``fit`` (``max_iter`` epochs) with a callback that applies that rule after each
epoch; ``partial_fit`` is one epoch. A call that raises before its first training step (a refused parameter or
input, or a non-finite loss at that step) leaves the estimator as it was; once a step was taken, an error keeps the
training done so far, as fastnn's fit does. The trained fastnn model is ``model_`` (save it, fold it, serve it); a
single-label classifier's carries ``classes_``, so its ``predict_labels``, a saved file, a plan and ``fastnn predict
--output labels`` give the estimator's labels and ``model_.evaluate`` takes them; a multilabel one has none (its
``predict_labels`` is the 0/1 indicator matrix ``predict`` gives).
scikit-learn is an optional extra (``pip install fastnn[sklearn]``), imported by this module only.

The objective, mapped honestly. For a batch of B rows scikit-learn's gradient is ``(X^T delta + alpha W) / B``
(biases are not penalized), the gradient of ``data_loss + alpha / (2 B) * sum_l ||W_l||^2``: its reported loss,
except in multi-output regression (below). fastnn's losses are means over elements, so its data loss is ``c``
times the data term scikit-learn's gradient descends:

- multiclass (softmax + cross entropy) and binary (one logistic output): the same, ``c = 1``;
- multilabel with k labels: scikit-learn sums the k binary log losses of a row, fastnn averages them: ``c = 1/k``;
- regression with k outputs: scikit-learn's squared loss is half the mean squared error (over rows and outputs),
  but its gradient (``delta = output - y``) is that of half the squared errors summed over the outputs, k times
  that loss: ``c = 2 / k``.

fastnn then trains on exactly ``c`` times the objective scikit-learn descends: every Dense layer (the output layer
too) gets ``l2 = c * alpha / (2 B)`` (fastnn's penalty is ``l2 * ||W||^2``), and the constant factor is undone in
the optimizer: SGD's lr is ``learning_rate_init / c``; Adam, RMSprop and Adagrad are invariant to the scale of the
gradient except through eps, which becomes ``c * epsilon``. ``loss_`` and ``loss_curve_`` are scikit-learn's
reported loss: fastnn's epoch mean divided by ``c``; with k > 1 regression outputs, whose reported data term (half
the mse) is 1/k of the one descended, the penalty ``(fastnn's loss - mse) / c`` plus half the mse (fastnn's "mse"
metric of the epoch, computed for this). So ``tol`` means what it means there.

Where the result differs from scikit-learn's, by design or by fastnn's conventions:

- the weights start from scikit-learn's Glorot-uniform range but the biases at zero (scikit-learn draws them from
  the same range), and the random streams differ: the same ``random_state`` gives a reproducible model (bitwise,
  at a fixed thread count), not scikit-learn's model;
- B is the batch size of the run (``min(200, n)`` for "auto"): scikit-learn divides the penalty of an epoch's last,
  smaller batch by that batch's own size;
- Adam is PyTorch's (eps added after the bias correction; scikit-learn adds it before, a difference only while eps
  is not negligible against ``sqrt(v)``); SGD momentum is PyTorch's buffer form, equal to scikit-learn's velocity
  form at a constant lr, slightly different when "invscaling" or "adaptive" changes the lr;
- a continued fit (``warm_start``, ``partial_fit``) refuses a changed ``hidden_layer_sizes``, ``activation``,
  ``batch_norm``, ``dropout`` or ``dtype`` with a ValueError (scikit-learn ignores a changed size silently, and
  applies a changed activation to the old weights);
- a continued fit after ``early_stopping`` was switched (a ``warm_start`` fit, or ``partial_fit`` after a fit
  with early stopping) stops by the new rule, its bookkeeping started afresh: ``validation_scores_`` from the
  first epoch after the switch, or ``best_loss_`` over the epochs since (scikit-learn's MLP fails with a
  TypeError there);
- with ``batch_norm``, an epoch that would end in a batch of one row (which BatchNorm cannot train on) leaves
  that row out (a different row each epoch when shuffling); a fit or ``partial_fit`` on a single row has no
  other batch and is refused with a ValueError that says so;
- ``solver="lbfgs"`` (and ``max_fun``) and ``loss="poisson"`` are not available; ``"rmsprop"`` and
  ``"adagrad"`` are (fastnn's optimizers, with ``learning_rate_init`` and ``epsilon``); sparse X is refused
  (densify it); ``sample_weight`` is not supported yet;
- a classifier's ``predict`` follows the logits (``model_.predict_labels``), scikit-learn's the probabilities: they
  part only on a tie of the rounded probabilities (see :class:`MLPClassifier`).

fastnn's extras: ``dtype`` (None: float32 data trains in float32, anything else in float64, as scikit-learn),
``batch_norm`` (a BatchNorm between each hidden Dense and its activation), ``dropout`` (a Dropout of that rate
after each hidden activation) and ``n_threads`` (fastnn's kernels and the BLAS, for fit and predict).
"""
from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._optional import not_installed

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ModuleNotFoundError as exc:
    raise not_installed(exc, "sklearn", "fastnn.sklearn", "fastnn[sklearn]") from None

from . import optim
from ._config import threads
from .init import Init
from .layers import BatchNorm, Dense, Dropout, Layer, ReLU, Sigmoid, Tanh
from .models import Sequential
from .training.callbacks import Callback
from .validation import check_scalar

# scikit-learn's hidden activation names -> fastnn's activation layers (None: no layer)
_ACTIVATIONS: dict[str, type[Layer] | None] = {"relu": ReLU, "tanh": Tanh, "logistic": Sigmoid, "identity": None}
_FASTNN_ACTIVATION = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}
SOLVERS = ("adam", "sgd", "rmsprop", "adagrad")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
_SEED_BOUND = np.iinfo(np.int32).max
_MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's "adaptive" stops once the lr is this small


def _one_of(value: object, name: str, options: tuple[Any, ...]) -> Any:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


class _BaseMLP(BaseEstimator):
    """What both estimators share: parameters, their checks, the network, the training run and its stopping rule.
    Subclasses say how targets become fastnn targets (``_prepare_targets``), which loss and scale ``c`` they train
    with, and how raw outputs become predictions."""

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int | float = 10, dtype: str | None = None, batch_norm: bool = False,
                 dropout: float = 0.0, n_threads: int | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.n_threads = n_threads

    # ---- parameters ------------------------------------------------------------------------------------------
    def _check_params(self) -> list[int]:
        """Check every parameter (scikit-learn checks them in fit, not in __init__); returns the hidden sizes."""
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
        try:
            hidden = [check_scalar(s, f"hidden_layer_sizes[{i}]", numbers.Integral, min_val=1)
                      for i, s in enumerate(sizes)]
        except TypeError as exc:
            if isinstance(sizes, (list, tuple, np.ndarray)):
                raise
            raise TypeError(f"hidden_layer_sizes must be an integer or a sequence of integers, got "
                            f"{type(sizes).__name__}") from exc
        _one_of(self.activation, "activation", tuple(_ACTIVATIONS))
        if self.solver == "lbfgs":
            raise ValueError(f"solver='lbfgs' is not available in fastnn; use one of {list(SOLVERS)}")
        _one_of(self.solver, "solver", SOLVERS)
        _one_of(self.learning_rate, "learning_rate", LEARNING_RATES)
        check_scalar(self.alpha, "alpha", numbers.Real, min_val=0.0)
        if self.batch_size != "auto":
            check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.learning_rate_init, "learning_rate_init", numbers.Real, min_val=0.0,
                     include_boundaries="neither")
        check_scalar(self.power_t, "power_t", numbers.Real, min_val=0.0)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, min_val=1)
        check_scalar(self.tol, "tol", numbers.Real, min_val=0.0)
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_scalar(self.verbose, "verbose", numbers.Integral, min_val=0)
        for flag in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "batch_norm"):
            check_scalar(getattr(self, flag), flag, bool)
        check_scalar(self.momentum, "momentum", numbers.Real, min_val=0.0, max_val=1.0)
        check_scalar(self.validation_fraction, "validation_fraction", numbers.Real, min_val=0.0, max_val=1.0,
                     include_boundaries="left")
        for beta in ("beta_1", "beta_2"):
            check_scalar(getattr(self, beta), beta, numbers.Real, min_val=0.0, max_val=1.0, include_boundaries="left")
        check_scalar(self.epsilon, "epsilon", numbers.Real, min_val=0.0, include_boundaries="neither")
        if not (isinstance(self.n_iter_no_change, float) and self.n_iter_no_change == np.inf):
            check_scalar(self.n_iter_no_change, "n_iter_no_change", numbers.Integral, min_val=1)
        if self.dtype is not None:
            _one_of(self.dtype, "dtype", ("float32", "float64"))
        check_scalar(self.dropout, "dropout", numbers.Real, min_val=0.0, max_val=1.0, include_boundaries="left")
        check_scalar(self.n_threads, "n_threads", numbers.Integral, min_val=1, allow_none=True)
        return hidden

    def _threads(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext() if self.n_threads is None else threads(self.n_threads)

    # ---- what a subclass defines -------------------------------------------------------------------------------
    _score_function: Any  # the validation score of early stopping: accuracy or r2

    def _validate_targets(self, y: np.ndarray, first_pass: bool, incremental: bool, classes: Any) -> np.ndarray:
        """y (validated by validate_data) -> the 2-D targets the output layer is trained on."""
        raise NotImplementedError

    def _fastnn_loss(self) -> str:
        """The fastnn loss of the output layer."""
        raise NotImplementedError

    def _output_activation(self) -> str:
        """``out_activation_``: scikit-learn's name of the output map."""
        raise NotImplementedError

    def _fastnn_targets(self, Y: np.ndarray) -> np.ndarray:
        """The 2-D targets as fastnn's loss takes them."""
        return Y

    def _label_model(self) -> None:
        """Give ``model_`` what it needs to serve the estimator's predictions on its own (a classifier's
        labels); nothing for a regressor."""

    def _loss_scale(self) -> float:
        """``c``: fastnn's data loss is ``c`` times the one scikit-learn's gradient descends (the module
        docstring)."""
        raise NotImplementedError

    def _training_metrics(self) -> list[str] | None:
        """The metrics fastnn's fit computes for ``_reported_loss`` (None: its default)."""
        return None

    def _reported_loss(self, logs: dict[str, Any]) -> float:
        """An epoch's loss in scikit-learn's units (``loss_curve_``) from fastnn's epoch logs."""
        return float(logs["loss"]) / self._loss_scale()

    # ---- the network --------------------------------------------------------------------------------------------
    def _build(self, hidden: list[int], n_features: int, n_outputs: int, dtype: np.dtype, seed: int) -> Sequential:
        """The network: Dense layers with scikit-learn's initialization of the weights (Glorot uniform, bound
        ``sqrt(6 / (fan_in + fan_out))``, ``sqrt(2 / ...)`` with logistic activations; the biases start at zero,
        where scikit-learn draws them from the same range), plus fastnn's optional BatchNorm and Dropout."""
        act = _ACTIVATIONS[self.activation]
        init = Init("xavier_uniform", gain=3 ** -0.5 if self.activation == "logistic" else 1.0)
        layers: list[Layer] = []
        for units in hidden:
            if self.batch_norm:
                layers += [Dense(units, init=init), BatchNorm()]
                if act is not None:
                    layers.append(act())
            else:
                layers.append(Dense(units, activation=_FASTNN_ACTIVATION[self.activation], init=init))
            if self.dropout:
                layers.append(Dropout(self.dropout))
        layers.append(Dense(n_outputs, init=init))
        return Sequential(layers, input_dim=n_features, dtype=dtype, seed=seed, loss=self._fastnn_loss())

    def _new_optimizer(self, c: float) -> optim.Optimizer:
        lr, eps = self.learning_rate_init, self.epsilon * c
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return optim.SGD(lr=lr / c, momentum=momentum, nesterov=bool(self.nesterovs_momentum and momentum > 0))
        if self.solver == "adam":
            return optim.Adam(lr=lr, betas=(self.beta_1, self.beta_2), eps=eps)
        if self.solver == "rmsprop":
            return optim.RMSprop(lr=lr, eps=eps)
        return optim.Adagrad(lr=lr, eps=eps)

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrix of each Dense layer, (n_in, n_out) as scikit-learn's: views of the model's weights."""
        check_is_fitted(self)
        return [layer.params["W"] for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vector of each Dense layer: views of the model's weights."""
        check_is_fitted(self)
        return [layer.params["b"] for layer in self.model_.layers if isinstance(layer, Dense)]

    # ---- training ------------------------------------------------------------------------------------------------
    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None) -> _BaseMLP:
        """``fit`` (``incremental=False``) or ``partial_fit``. A call that raises before training took a step -- a
        refused parameter, input or network change, a refusal of fastnn's fit, or a non-finite loss at the first
        step, which fastnn's fit does not apply -- leaves the estimator as it was. Once a step was taken, an error
        (a non-finite loss later on, Ctrl-C) keeps the training done so far, as fastnn's fit does."""
        with self._unchanged_until_a_step():
            self._train(X, y, incremental, classes)
        return self

    @contextlib.contextmanager
    def _unchanged_until_a_step(self) -> Iterator[None]:
        """Put the estimator back as it was if the block raises before any optimizer step: its attributes (a
        first pass assigns a new ``model_`` and leaves the old one alone) and what a continued fit changes in
        ``model_`` itself before its first step (the Dense layers' l2; its classes_; the training state fastnn's fit
        starts, which fastnn's fit puts back for its own refusals but not for a refused first step)."""
        attributes = dict(self.__dict__)
        model = attributes.get("model_")
        steps = model.step_count if model is not None else 0
        in_place: list[tuple[Any, str, Any]] = []
        if model is not None:
            state = model.training_state
            in_place += [(layer, "l2", layer.l2) for layer in model.layers if isinstance(layer, Dense)]
            in_place.append((model, "classes_", model.classes_))
            in_place += [(state, name, getattr(state, name)) for name in state.__slots__]
        try:
            yield
        except BaseException:
            now = self.__dict__.get("model_")
            if now is None or now.step_count == (steps if now is model else 0):
                self.__dict__.clear()
                self.__dict__.update(attributes)
                for owner, name, value in in_place:
                    setattr(owner, name, value)
            raise

    def _train(self, X: Any, y: Any, incremental: bool, classes: Any) -> None:
        hidden = self._check_params()
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        if not first_pass:
            self._check_same_network(hidden)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=isinstance(self, RegressorMixin),
                             dtype=(np.float64, np.float32), reset=first_pass)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = self._validate_targets(y, first_pass, incremental, classes)
        rng = check_random_state(self.random_state)
        if first_pass:
            dtype = np.dtype(self.dtype or X.dtype)
            self.model_ = self._build(hidden, X.shape[1], Y.shape[1], dtype, int(rng.randint(_SEED_BOUND)))
            self._network = self._network_params(hidden)
            self._initialize(Y.shape[1])
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}")
        elif self.early_stopping != (self.validation_scores_ is not None):
            self._start_stopping_rule()  # early_stopping was switched since the last fit: its rule starts afresh
        self._label_model()
        c = self._loss_scale()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer(c)
        X_train, Y_train, validation = self._split(X, Y, rng)
        batch = self._batch_size(X_train.shape[0])
        for layer in self.model_.layers:
            if isinstance(layer, Dense):
                layer.l2 = c * self.alpha / (2 * batch)
        end_of_epoch = _EndOfEpoch(self, X_train.shape[0], validation, incremental)
        try:
            with self._threads():
                self.n_iter_ = 0
                self.model_.fit(X_train, self._fastnn_targets(Y_train), optimizer=self._optimizer,
                                epochs=1 if incremental else self.max_iter, batch_size=batch, shuffle=self.shuffle,
                                seed=int(rng.randint(_SEED_BOUND)), callbacks=[end_of_epoch], verbose=0,
                                metrics=self._training_metrics(),
                                drop_last=self._drops_last_row(X_train.shape[0], batch))
        finally:  # however the fit ended (a non-finite loss, Ctrl-C), model_ holds best_validation_score_'s weights
            if self.early_stopping and self._best_weights is not None:
                self.model_.set_weights(self._best_weights)

    def _network_params(self, hidden: list[int]) -> dict[str, Any]:
        """The parameters ``model_`` was built from (the dtype apart: None follows the data)."""
        return {"hidden_layer_sizes": tuple(hidden), "activation": self.activation,
                "batch_norm": bool(self.batch_norm), "dropout": float(self.dropout)}

    def _check_same_network(self, hidden: list[int]) -> None:
        """warm_start and partial_fit continue ``model_``: a parameter it was built from that has changed since
        would be silently ignored (scikit-learn ignores or crashes on some), so it is an error."""
        built = dict(getattr(self, "_network", {}))  # models pickled before this check carry no record
        now = self._network_params(hidden)
        if self.dtype is not None:
            built["dtype"], now["dtype"] = str(self.model_.dtype), self.dtype
        for name, value in now.items():
            if name in built and built[name] != value:
                raise ValueError(f"{name}={getattr(self, name)!r} differs from the fitted network's {built[name]!r}: "
                                 "warm_start and partial_fit continue that network; fit with warm_start=False to "
                                 "build a new one")

    def _initialize(self, n_outputs: int) -> None:
        """The fitted attributes of a first pass (scikit-learn's ``_initialize``)."""
        self.n_outputs_ = n_outputs
        self.out_activation_ = self._output_activation()
        self.n_layers_ = sum(isinstance(layer, Dense) for layer in self.model_.layers) + 1
        self.t_ = 0
        self.loss_curve_: list[float] = []
        self._start_stopping_rule()

    def _start_stopping_rule(self) -> None:
        """The bookkeeping of the stopping rule ``early_stopping`` selects, from its start: the validation scores
        and the best weights with early stopping, the best training loss without. A continued fit after
        ``early_stopping`` was switched starts it here too (scikit-learn's MLP crashes there)."""
        self._no_improvement_count = 0
        self._best_weights: list[np.ndarray] | None = None
        if self.early_stopping:
            self.validation_scores_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _split(self, X: np.ndarray, Y: np.ndarray,
               rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, Any] | None]:
        """(X_train, Y_train, (X_val, y_val) or None): scikit-learn's early-stopping split (stratified for a
        single-output classifier), y_val in the user's labels."""
        if not self.early_stopping:
            return X, Y, None
        stratify = Y if isinstance(self, ClassifierMixin) and Y.shape[1] == 1 else None
        train, val = train_test_split(np.arange(X.shape[0]), random_state=rng, test_size=self.validation_fraction,
                                      stratify=stratify)
        if len(val) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                             "dataset.")
        return X[train], Y[train], (X[val], self._user_targets(Y[val]))

    def _user_targets(self, Y: np.ndarray) -> Any:
        """The 2-D training targets -> targets as the user gave them (what ``score`` compares predictions with)."""
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        size = int(self.batch_size)  # an integer >= 1: checked by _check_params
        if size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=3)
        return min(size, n_samples)

    def _drops_last_row(self, n_samples: int, batch: int) -> bool:
        """True when an epoch would end in a batch of one row, which a BatchNorm cannot train on: that row is
        left out of the epoch (a different one each epoch when shuffling) rather than failing the fit."""
        return bool(self.batch_norm) and n_samples > batch and n_samples % batch == 1

    def _end_epoch(self, loss: float, n_samples: int, validation: tuple[np.ndarray, Any] | None,
                   incremental: bool) -> bool:
        """scikit-learn's bookkeeping after an epoch (``loss`` in its units); True stops training."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += n_samples
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        self._update_no_improvement_count(validation)
        sgd = self.solver == "sgd"
        if sgd and self.learning_rate == "invscaling":
            self._optimizer.lr_scale = 1.0 / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if validation is not None else "Training loss"
            msg = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
            lr = self.learning_rate_init * self._optimizer.lr_scale
            if not (sgd and self.learning_rate == "adaptive") or lr <= _MIN_ADAPTIVE_LR:
                if self.verbose:
                    print(msg + " Stopping.")
                return True
            self._optimizer.lr_scale /= 5.0
            self._no_improvement_count = 0
            if self.verbose:
                print(msg + f" Setting learning rate to {lr / 5.0:f}")
        if not incremental and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=2)
        return False

    def _update_no_improvement_count(self, validation: tuple[np.ndarray, Any] | None) -> None:
        if validation is not None:
            X_val, y_val = validation
            score = self._validation_score(X_val, y_val)
            assert self.validation_scores_ is not None and self.best_validation_score_ is not None
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            self._no_improvement_count = (self._no_improvement_count + 1
                                          if score < self.best_validation_score_ + self.tol else 0)
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_weights = self.model_.get_weights()
        else:
            assert self.best_loss_ is not None
            self._no_improvement_count = (self._no_improvement_count + 1
                                          if self.loss_curve_[-1] > self.best_loss_ - self.tol else 0)
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _validation_score(self, X: np.ndarray, y: Any) -> float:
        """The score of early stopping on what ``predict`` gives, NaN when an output is not finite (as
        scikit-learn)."""
        logits = self.model_.predict_logits(X)
        if not np.isfinite(logits).all():
            return np.nan
        return float(self._score_function(y, self._predictions(logits)))

    # ---- prediction ------------------------------------------------------------------------------------------------
    def _checked_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=(np.float64, np.float32), reset=False)

    def _outputs(self, X: Any) -> np.ndarray:
        """The model's outputs for X after the output map (probabilities for a classifier), in X's float dtype
        (float32 or float64, as scikit-learn) whatever the model computes in."""
        X = self._checked_input(X)
        with self._threads():
            return self.model_.predict(X).astype(X.dtype, copy=False)

    def _predictions(self, logits: np.ndarray) -> Any:
        """What ``predict`` gives for the model's raw outputs, in their layout (a regressor's values in the dtype
        they come in: its ``predict`` passes them in X's, early stopping's score in the model's)."""
        raise NotImplementedError

    def predict(self, X: Any) -> Any:
        """Predicted classes (a classifier: from the logits, see :class:`MLPClassifier`) or values (a regressor)
        for X."""
        X = self._checked_input(X)
        with self._threads():
            return self._predictions(self.model_.predict_logits(X))


def _without_early_stopping(estimator: _BaseMLP) -> bool:
    """``partial_fit`` exists only without early stopping (one epoch on one batch has nothing to stop on)."""
    if estimator.early_stopping:
        raise AttributeError(f"{type(estimator).__name__} has no partial_fit with early_stopping=True (scikit-learn "
                             "refuses that combination too)")
    return True


class _EndOfEpoch(Callback):
    """scikit-learn's end of an iteration, in fastnn's fit: the loss in scikit-learn's units, the stopping rule,
    the lr of "invscaling" and "adaptive", the best weights of early stopping."""

    def __init__(self, estimator: _BaseMLP, n_samples: int, validation: tuple[np.ndarray, Any] | None,
                 incremental: bool) -> None:
        self.estimator, self.n_samples = estimator, n_samples
        self.validation, self.incremental = validation, incremental

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        est = self.estimator
        if est._end_epoch(est._reported_loss(logs), self.n_samples, self.validation, self.incremental):
            model.stop_training = True


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastnn, with ``sklearn.neural_network.MLPClassifier``'s
    parameters and attributes (see the module docstring for the objective and the differences).

    Multiclass y trains a softmax output with cross entropy; binary y one logistic output; a multilabel indicator
    matrix one logistic output per label. Labels may be any hashable values (``classes_`` holds them sorted);
    ``partial_fit`` takes ``classes=`` on its first call.

    ``predict`` reads the classes from the logits, as ``model_.predict_labels`` does (the largest logit; a logistic
    output's logit above 0). It can differ from ``argmax(predict_proba)`` (``predict_proba > 0.5`` for a logistic
    output) only where the probabilities, rounded in the model's dtype, tie while the logits do not: logits
    (0, 1e-8, 0) give three equal float32 probabilities, and 1e-8 the class the model predicts.
    """

    _score_function = staticmethod(accuracy_score)
    _label_binarizer: LabelBinarizer  # fitted on the classes: y <-> the output layer's targets

    def _validate_targets(self, y: np.ndarray, first_pass: bool, incremental: bool, classes: Any) -> np.ndarray:
        check_classification_targets(y)
        if incremental and classes is None and not hasattr(self, "classes_"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        # as scikit-learn: a multilabel indicator matrix names its labels itself, classes= only counts as given
        multilabel = type_of_target(y).startswith("multilabel")
        given = (LabelBinarizer().fit(y if multilabel else np.asarray(classes))
                 if incremental and classes is not None else None)
        if first_pass:
            binarizer = given if given is not None else LabelBinarizer().fit(y)
            if len(binarizer.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; got 1 class "
                                 f"({binarizer.classes_[0]!r})")
        else:
            binarizer = self._label_binarizer
            if given is not None and not np.array_equal(given.classes_, binarizer.classes_):
                raise ValueError(f"`classes={classes!r}` is not the same as on the first call to partial_fit, "
                                 f"was: {binarizer.classes_!r}")
            if self.warm_start and not incremental and set(unique_labels(y)) != set(binarizer.classes_):
                raise ValueError(f"warm_start can only be used where `y` has the same classes as in the previous "
                                 f"call to fit. Previously got {binarizer.classes_}, `y` has {unique_labels(y)}")
        unknown = np.setdiff1d(unique_labels(y), binarizer.classes_)
        if len(unknown):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {binarizer.classes_}. "
                             f"'y' has {unique_labels(y)}.")
        self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
        return binarizer.transform(y).astype(np.int8)

    @property
    def _multiclass(self) -> bool:
        return bool(self._label_binarizer.y_type_ == "multiclass")

    def _fastnn_loss(self) -> str:
        return "cross_entropy" if self._multiclass else "binary_cross_entropy"

    def _output_activation(self) -> str:
        return "softmax" if self._multiclass else "logistic"

    def _label_model(self) -> None:
        """``model_.classes_ = classes_`` for a single-label classifier, so that ``model_`` (saved, compiled,
        served by ``fastnn predict``) gives the estimator's labels and ``model_.evaluate`` takes them. Also on a
        continued fit: a model pickled before ``model_`` carried its classes gets them. A multilabel model keeps
        none: its classes are its k output columns, and ``model_.predict_labels`` already gives the 0/1
        indicator matrix ``predict`` gives (fastnn's classes_ names the classes of one label per row)."""
        if self._label_binarizer.y_type_ != "multilabel-indicator":
            self.model_.classes_ = self.classes_

    def _fastnn_targets(self, Y: np.ndarray) -> np.ndarray:
        # multiclass: the labels, which model_ reads through its classes_ (the same order: the same indices);
        # binary: the (n, 1) column of 0/1, fastnn's one-logit target layout (not read through classes_)
        return self.classes_[Y.argmax(axis=1)] if self._multiclass else Y

    def _loss_scale(self) -> float:
        return 1.0 if self._multiclass else 1.0 / self.n_outputs_

    def _user_targets(self, Y: np.ndarray) -> Any:
        return self._label_binarizer.inverse_transform(Y)

    def _predictions(self, logits: np.ndarray) -> Any:
        # the classes of the logits as the model computed them, as model_.predict_labels reads them: probabilities
        # would round a logit of 1e-8 to 0.5 and logits (0, 1e-8, 0) to a tie, a class model_ does not predict, and
        # so would float64 logits rounded to a float32 X's dtype (labels have no float dtype: X's plays no part)
        loss = self.model_.loss
        assert loss is not None  # _build gives model_ its loss
        classes = loss.predicted_classes(logits)
        return classes if self._label_binarizer.y_type_ == "multilabel-indicator" else self.classes_[classes]

    @available_if(_without_early_stopping)
    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y), continuing the model and its optimizer. ``classes`` (every label y may ever
        hold) is required on the first call and optional afterwards."""
        return self._fit(X, y, incremental=True, classes=classes)

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train for up to ``max_iter`` epochs (from scratch unless ``warm_start``)."""
        return self._fit(X, y, incremental=False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, (n_samples, n_classes) in the order of ``classes_`` (a multilabel model: the
        probability of each label)."""
        proba = self._outputs(X)
        if proba.shape[1] == 1:  # binary: one logistic output is the probability of classes_[1]
            return np.hstack([1 - proba, proba])
        if self._multiclass and proba.dtype.itemsize > self.model_.dtype.itemsize:
            # a float32 model's softmax sums to 1 to float32's rounding: scikit-learn's log_loss (and every
            # neg_log_loss scoring) warns beyond float64's sqrt(eps), so the rows are made to sum to 1 in X's dtype
            proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(MultiOutputMixin, RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastnn (squared error, linear output), with
    ``sklearn.neural_network.MLPRegressor``'s parameters and attributes (see the module docstring for the objective
    and the differences). y may be 1-D or (n_samples, n_outputs); ``predict`` returns the same layout (1-D for a
    single output, as scikit-learn)."""

    _score_function = staticmethod(r2_score)

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int | float = 10,
                 dtype: str | None = None, batch_norm: bool = False, dropout: float = 0.0,
                 n_threads: int | None = None) -> None:
        self.loss = loss
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose, warm_start=warm_start,
            momentum=momentum, nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, dtype=dtype, batch_norm=batch_norm, dropout=dropout,
            n_threads=n_threads)

    def _check_params(self) -> list[int]:
        _one_of(self.loss, "loss", ("squared_error",))
        return super()._check_params()

    def _validate_targets(self, y: np.ndarray, first_pass: bool, incremental: bool, classes: Any) -> np.ndarray:
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _fastnn_loss(self) -> str:
        return "mse"

    def _output_activation(self) -> str:
        return "identity"

    def _loss_scale(self) -> float:
        return 2.0 / self.n_outputs_

    def _training_metrics(self) -> list[str] | None:
        return ["mse"] if self.n_outputs_ > 1 else None

    def _reported_loss(self, logs: dict[str, Any]) -> float:
        """scikit-learn's reported loss: half the mse (averaged over the outputs, where its gradient sums them)
        plus the penalty, ``(fastnn's loss - mse) / c``; with one output simply fastnn's loss / c."""
        if self.n_outputs_ == 1:
            return super()._reported_loss(logs)
        return (logs["loss"] - logs["mse"]) / self._loss_scale() + logs["mse"] / 2

    def _predictions(self, logits: np.ndarray) -> np.ndarray:
        return logits.ravel() if logits.shape[1] == 1 else logits

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values for X (1-D for a single output, as scikit-learn), in X's float dtype (float32 or
        float64, as scikit-learn) whatever the model computes in: its outputs (the identity output map), cast."""
        return self._predictions(self._outputs(X))

    @available_if(_without_early_stopping)
    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over (X, y), continuing the model and its optimizer."""
        return self._fit(X, y, incremental=True)

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train for up to ``max_iter`` epochs (from scratch unless ``warm_start``)."""
        return self._fit(X, y, incremental=False)


__all__ = ["MLPClassifier", "MLPRegressor"]

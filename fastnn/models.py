"""Sequential: a stack of layers over one flat parameter buffer and one flat gradient buffer."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import fold as _folding
from . import losses as _losses
from . import mc_dropout as _mc_dropout
from . import metrics as _metrics
from . import pretrained as _pretrained
from . import targets as _targets
from ._config import in_flight
from ._layout import ParamLayout
from .layers.activations import Activation
from .layers.base import (
    Layer,
    PerThreadWorkspaces,
    StepContext,
    Workspace,
    WorkspaceCache,
    keeps_methods,
    layer_from_config,
    state_shapes,
)
from .layers.dense import Dense
from .layers.dropout import separate_streams as separate_dropout_streams
from .mc_dropout import MCPrediction
from .summary import summary_table
from .training import loop as _loop
from .training import step as _step
from .training.state import TrainingState
from .validation import as_2d_features, c_array, check_finite, check_length, check_seed, positive_int

if TYPE_CHECKING:
    from os import PathLike

    from .augment import Compose
    from .inference import InferencePlan
    from .losses import Loss
    from .optim.clip import Clip
    from .optim.optimizers import Optimizer
    from .preprocessing import Pipeline, Preprocessor
    from .training.callbacks import Callback, History

    PreprocessSpec = (str | Preprocessor | Pipeline | list[str | Preprocessor] | tuple[str | Preprocessor, ...]
                      | None)

DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
_MAX_CACHED_BATCH_SIZES = 4
DEFAULT_LOSS = "cross_entropy"  # of the constructor, and of a config without a "loss" entry
PREDICT_CHUNK = 1024


def resolve_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt: np.dtype | None = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in DTYPES.values():
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def _training_field(name: str) -> property:
    """``model.<name>`` reads and writes ``model.training_state.<name>`` (see fastnn.training.state)."""
    return property(lambda model: getattr(model.training_state, name),
                    lambda model, value: setattr(model.training_state, name, value),
                    doc=f"``training_state.{name}`` (fastnn.training.state.TrainingState)")


def _refuse_built(i: int, layer: Layer) -> None:
    """Layer ``i`` must not be sized yet: a built layer belongs to another model (its weights, its workspace)."""
    if layer.in_dim is not None:
        raise ValueError(f"layer {i} ({layer!r}) already belongs to a built model; create a new layer")


# The methods a training step runs through (Sequential.standard_step): a subclass overriding one keeps the step
# on the layers' calls.
_STEP_METHODS = ("forward_loss", "backward", "loss_and_grad", "_run_layers", "training_workspace",
                 "_new_training_workspace", "_layer_workspaces", "prepare_inputs")


class Sequential:
    """A feedforward network: layers applied in order.

    All trainable parameters live in ``self.params`` (one contiguous 1-D array) and all gradients in
    ``self.grads``; each layer holds views into them (see ``self.layout`` for names and offsets). Workspaces
    are allocated once per batch size, so a training step allocates nothing in steady state.

    ``seed`` drives initialization; ``fit(seed=...)`` drives shuffling, dropout and augmentation.

    ``loss`` ("cross_entropy", "binary_cross_entropy", "mse" or a fastnn.losses.Loss) is part of the model:
    ``fit`` trains with it unless given another (which then becomes the model's loss), ``evaluate`` reports it,
    and ``predict`` always applies its output map: softmax for cross_entropy, sigmoid for binary_cross_entropy,
    the identity for mse, whether the model was just built, loaded, given pretrained weights or trained.
    ``predict_logits`` gives the raw outputs, ``predict_proba`` the probabilities of a classification loss.
    ``loss=None`` declares no loss (what a fastnn 0.1 file saved before any fit holds): ``predict`` returns
    raw outputs and ``fit`` / ``evaluate`` need ``loss=``.

    Thread safety: inference (``predict``, ``predict_logits``, ``predict_proba``, ``evaluate`` and an
    evaluation-mode ``forward``) is safe from any number of threads on one shared model. Each thread runs on
    its own scratch, kept per row count (a few sizes per thread), never on the workspaces of training, and
    inference writes no model state (parameters, BatchNorm statistics, step count, preprocessor). Training
    (``fit``, ``train_step``, ``set_weights``, ``load_weights``) is single-caller; inference running
    alongside it leaves the training result bitwise unchanged but reads the weights of whatever step is current.

    The model's loss and what training adds (optimizer, step count, stop flag, history) live in
    ``self.training_state`` (fastnn.training.state.TrainingState) and read as ``model.loss``,
    ``model.optimizer``, ``model.step_count``, ``model.stop_training`` and ``model.history``.

    ``input_dim``: the width of the input rows; given, the model is built (and initialized from ``seed``) now,
    otherwise by the first ``fit``.

    ``preprocess``: a fastnn.preprocessing transformer, a list of them or a Pipeline. It is fitted on the
    training data by the first ``fit`` (unless already fitted; also when ``build`` or ``load_weights`` built the
    layers before, which must then take what it puts out), applied to every batch in training, predict and
    evaluate, and saved with the model, so a served model takes raw inputs (a model whose preprocessor is not
    fitted yet cannot be saved). ``input_dim`` is then the width of
    the raw rows (the preprocessor's input, checked against X before anything is fitted); the layers are built
    for what the fitted preprocessor puts out (a PCA may narrow the rows), at construction when it is already
    fitted, else by the first ``fit``. The attribute ``model.input_dim`` is always the first layer's input size
    and ``model.n_features_in`` the raw row width. A name ("standard", "minmax", "pca_whiten", "zca", ...) or a
    list of names builds the preprocessor (fastnn.preprocessing.make).

    ``classes_``: the labels of the classes, output c being ``classes_[c]`` (None: labels are the class indices).
    A first fit on labels that are not integers (strings, any hashable) sets it; it is saved with the model, and
    ``predict_labels`` maps predictions back to it (see fastnn.targets).
    """

    def __init__(self, layers: Iterable[Layer], input_dim: int | None = None, dtype: DTypeLike = "float32",
                 seed: int = 0, preprocess: PreprocessSpec = None, loss: str | Loss | None = DEFAULT_LOSS) -> None:
        layers = list(layers)
        place: dict[int, int] = {}  # id(layer) -> its first index
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is {type(layer).__name__}, expected a fastnn.layers.Layer")
            _refuse_built(i, layer)
            if id(layer) in place:
                # one object holds one set of parameters and one workspace: its two places would share the
                # weights (a gradient of one place only) and the update would run twice
                raise ValueError(f"layer {i} ({layer!r}) is the same object as layer {place[id(layer)]}; give each "
                                 "place its own layer")
            place[id(layer)] = i
        if not layers:
            raise ValueError("a Sequential model needs at least one layer")
        self.layers = layers
        self.dtype = resolve_dtype(dtype)
        self.seed = check_seed(seed)
        self.input_dim: int | None = None
        self.output_dim: int | None = None
        self.layout: ParamLayout | None = None
        self.params: np.ndarray | None = None  # the flat parameter buffer (after build)
        self.grads: np.ndarray | None = None   # the flat gradient buffer (after build)
        self.training_state = TrainingState()
        self.loss = loss
        # Training's workspaces (what backward reads) and inference's, one cache per thread: never shared.
        self._workspaces: WorkspaceCache[tuple[list[Workspace], np.ndarray]] = WorkspaceCache(
            _MAX_CACHED_BATCH_SIZES)
        self._inference_scratch: PerThreadWorkspaces[list[Workspace]] = PerThreadWorkspaces(
            _MAX_CACHED_BATCH_SIZES)
        self.preprocess = _as_pipeline(preprocess)
        self._raw_input_dim: int | None = None  # the raw row width while the preprocessor waits for fit
        self._classes: np.ndarray | None = None
        self._build_if_known(positive_int("input_dim", input_dim, allow_none=True))

    @property
    def loss(self) -> Loss | None:
        """The model's loss (``training_state.loss``); set it with a name or a Loss, or None for no loss."""
        return self.training_state.loss

    @loss.setter
    def loss(self, loss: str | Loss | None) -> None:
        self.training_state.loss = _losses.get(loss) if loss is not None else None

    @property
    def classes_(self) -> np.ndarray | None:
        """The class labels (output c is ``classes_[c]``), or None when labels are class indices."""
        return self._classes

    @classes_.setter
    def classes_(self, classes: ArrayLike | None) -> None:
        if classes is None:
            self._classes = None
            return
        loss, n_out = self.loss, self.output_dim
        n_classes = loss.n_classes(n_out) if loss is not None and n_out is not None else None
        if loss is None or (n_out is not None and n_classes is None):
            raise ValueError("classes_ needs a loss that takes class labels (cross_entropy, or "
                             "binary_cross_entropy with one output)")
        self._classes = _targets.check_classes(classes, n_classes)  # an unbuilt model: counted by the fit

    optimizer = _training_field("optimizer")
    step_count = _training_field("step_count")  # keys the dropout and augmentation streams
    stop_training = _training_field("stop_training")
    history = _training_field("history")

    # -- construction ----------------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.input_dim is not None

    def build(self, input_dim: int) -> None:
        """Size every layer, pack parameters into the flat buffers and initialize them from ``seed``."""
        if self.built:
            if input_dim != self.input_dim:
                raise ValueError(f"model was built for {self.input_dim} inputs, got {input_dim}")
            return
        for i, layer in enumerate(self.layers):  # another model built it after this one was made
            _refuse_built(i, layer)
        try:
            self._build(int(input_dim))
        except BaseException:  # sized layers of a failed build would look like another model's
            self.unbuild()
            raise

    def _build(self, input_dim: int) -> None:
        self._fuse_activations()
        dim, specs = input_dim, []
        for i, layer in enumerate(self.layers):
            dim = layer.build(dim, self.dtype)
            specs += [(f"{i}.{name}", shape, kind, i) for name, shape, kind in layer.param_specs()]
        layout = ParamLayout.pack(specs, self.dtype)
        params = np.zeros(layout.size, self.dtype)
        grads = np.zeros(layout.size, self.dtype)
        rng = np.random.default_rng(self.seed)
        for i, layer in enumerate(self.layers):
            names = [name for name, _, _ in layer.param_specs()]
            layer.bind({n: layout.view(params, f"{i}.{n}") for n in names},
                       {n: layout.view(grads, f"{i}.{n}") for n in names},
                       {name: np.full(shape, fill, self.dtype) for name, shape, fill in layer.buffer_specs()})
            layer.init_params(rng)
        separate_dropout_streams(self.layers)
        self.layout, self.params, self.grads = layout, params, grads
        self.input_dim, self.output_dim = int(input_dim), dim
        self._inference_scratch.clear()  # workspaces of an earlier build have other sizes
        first = [i for i, layer in enumerate(self.layers) if layer.param_specs()]
        # Backward stops at the first layer with parameters: nothing before it needs a gradient.
        self._first_trainable = first[0] if first else len(self.layers)

    def _build_if_known(self, raw_dim: int | None) -> None:
        """Build now when the first layer's input size is known: ``raw_dim`` without a preprocessor, the output
        of a fitted one (whose input width ``raw_dim`` must then be). An unfitted preprocessor waits for fit,
        which checks X against ``raw_dim`` before fitting it."""
        pre = self.preprocess
        if pre is None:
            if raw_dim is not None:
                self.build(raw_dim)
        elif pre.n_features_in_ is None:
            self._raw_input_dim = raw_dim
        else:
            if raw_dim is not None and raw_dim != pre.n_features_in_:
                raise ValueError(f"input_dim={raw_dim} is the width of the raw rows, but the fitted preprocessor "
                                 f"takes {pre.n_features_in_} features; pass input_dim={pre.n_features_in_} or "
                                 "leave it out")
            self.build(pre.n_features_out_)

    def unbuild(self) -> None:
        """Undo build(): layers lose their sizes, views and fusion, so the model is as constructed (used when a
        first fit fails validation after building)."""
        for layer in self.layers:
            layer.in_dim = layer.out_dim = None
            layer.params, layer.grads, layer.buffers = {}, {}, {}
            layer.fused_into_previous = False
            if isinstance(layer, Dense):  # undo _fuse_activations
                layer.runtime_activation = layer.activation
        self.input_dim = self.output_dim = self.layout = self.params = self.grads = None
        self._workspaces.clear()
        self._inference_scratch.clear()

    def _fuse_activations(self) -> None:
        """A Dense with no activation followed by an activation layer runs both in one fused pass."""
        for prev, layer in zip(self.layers, self.layers[1:]):
            if (isinstance(layer, Activation) and isinstance(prev, Dense) and prev.activation == "identity"
                    and prev.runtime_activation == "identity"):
                prev.runtime_activation, prev.alpha = layer.activation, layer.alpha
                layer.fused_into_previous = True

    @property
    def n_features_in(self) -> int | None:
        """Features of the raw input rows: the preprocessor's input size (the constructor's ``input_dim`` while
        it is not fitted), else the first layer's; None while unknown."""
        if self.preprocess is None:
            return self.input_dim
        n = self.preprocess.n_features_in_
        return int(n) if n is not None else self._raw_input_dim

    def prepare_inputs(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Raw rows -> what the first layer takes: cast to the model dtype, then the preprocessor."""
        x = c_array(x, self.dtype)
        if self.preprocess is None:
            return x
        return self.preprocess.transform(x, out=out)

    def _require_built(self) -> int:
        """The output size of a built model; RuntimeError before build."""
        if self.output_dim is None:
            raise RuntimeError("the model is not built yet: pass input_dim= or call fit() first")
        return self.output_dim

    # -- workspaces ------------------------------------------------------------------------------------------
    def _layer_workspaces(self, batch: int) -> list[Workspace]:
        return [layer.workspace(batch) for layer in self.layers]

    def standard_step(self) -> bool:
        """Whether this model's training step is its layers' forward pass, loss and backward pass as Sequential
        defines them (no subclass overrides one): only then may fastnn.training.chain run it as one C call."""
        return keeps_methods(self, Sequential, _STEP_METHODS)

    def training_workspace(self, batch: int) -> tuple[list[Workspace], np.ndarray]:
        """(per-layer workspaces, output-gradient buffer) of training for this batch size, made once."""
        return self._workspaces.get(batch, self._new_training_workspace)

    def _new_training_workspace(self, batch: int) -> tuple[list[Workspace], np.ndarray]:
        return self._layer_workspaces(batch), np.empty((batch, self._require_built()), self.dtype)

    def _inference_workspace(self, batch: int) -> list[Workspace]:
        """The calling thread's per-layer workspaces for this batch size (never training's)."""
        return self._inference_scratch.get(batch, self._layer_workspaces)

    # -- low-level passes --------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False, ctx: StepContext | None = None) -> np.ndarray:
        """Raw outputs (logits) for a C-contiguous batch of the model's dtype. The result is a workspace
        buffer, overwritten by the next call with the same batch size (in evaluation mode: by the same
        thread): copy it to keep it. Evaluation mode runs on the calling thread's inference scratch (safe from
        any number of threads); training mode on the training workspaces that ``backward`` reads. An ``x`` of
        another dtype or width is refused (TypeError / ValueError naming x; ``predict`` casts)."""
        self._check_batch(x)
        ctx = ctx or StepContext(training=training, seed=self.seed, step=self.step_count)
        if ctx.training:
            return self._run_layers(x, self.training_workspace(x.shape[0])[0], ctx)
        return self._run_layers(x, self._inference_workspace(x.shape[0]), ctx)

    def _check_batch(self, x: np.ndarray) -> None:
        """A batch ``forward`` takes as it is: a 2-D array of the model's dtype and the first layer's width (else
        the first kernel would refuse it, naming its own arrays)."""
        self._require_built()
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            got = f"shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"x must be a 2-D array (batch, {self.input_dim}), got {got}")
        if x.dtype != self.dtype:
            raise TypeError(f"x must have dtype {self.dtype.name}, the model's dtype, got {x.dtype} (forward takes "
                            "batches as the layers do; predict casts)")
        if x.shape[1] != self.input_dim:
            raise ValueError(f"x has {x.shape[1]} features, but the model's first layer takes {self.input_dim}")

    def _run_layers(self, x: np.ndarray, workspaces: list[Workspace], ctx: StepContext) -> np.ndarray:
        for layer, ws in zip(self.layers, workspaces):
            x = layer.forward(x, ws, ctx)
        return x

    def backward(self, grad_out: np.ndarray, ctx: StepContext) -> float:
        """Backpropagate d(loss)/d(output) (consumed in place) into ``self.grads``; returns the penalty."""
        workspaces, _ = self.training_workspace(grad_out.shape[0])
        dy: np.ndarray | None = grad_out
        for i in range(len(self.layers) - 1, self._first_trainable - 1, -1):
            assert dy is not None  # a layer returns its input gradient whenever need_dx is set
            dy = self.layers[i].backward(dy, workspaces[i], ctx, i > self._first_trainable)
        return sum(layer.penalty() for layer in self.layers)

    def loss_and_grad(self, xb: np.ndarray, targets: np.ndarray, loss: str | Loss,
                      ctx: StepContext | None = None) -> tuple[float, int]:
        """Mean loss (with penalties) of one batch and its gradient left in ``self.grads``.

        ``targets`` must come from ``loss.prepare_targets`` (as fastnn.losses.Weighted with row weights: the
        weighted mean). Returns (loss, correct count).
        """
        ctx = ctx or StepContext(training=True, seed=self.seed, step=self.step_count)
        value, correct, grad_buf = self.forward_loss(xb, targets, loss, ctx)
        return value + self.backward(grad_buf, ctx), correct

    def forward_loss(self, xb: np.ndarray, targets: np.ndarray, loss: str | Loss,
                     ctx: StepContext) -> tuple[float, int, np.ndarray]:
        """The first half of ``loss_and_grad``: the forward pass and the mean loss of the batch WITHOUT penalties,
        the correct count, and d(loss)/d(output) in the buffer ``backward`` takes."""
        loss = _losses.get(loss)
        workspaces, grad_buf = self.training_workspace(xb.shape[0])  # in any mode: backward reads them
        out = self._run_layers(xb, workspaces, ctx)
        if ctx.observe is not None:
            ctx.observe(out, targets)
        loss_sum, correct = loss(out, targets, grad_buf)
        return loss_sum / loss.denominator(out, targets), correct, grad_buf

    def train_step(self, xb: ArrayLike, yb: ArrayLike, loss: str | Loss | None = None,
                   optimizer: Optimizer | None = None, clip: Clip | None = None) -> dict[str, Any]:
        """One optimizer step on one batch, for custom training loops. Validates its inputs.

        ``loss`` defaults to the model's loss; a loss given here becomes the model's loss.
        Returns {"loss", "correct", and the optimizer's step info ("lr", "grad_norm", "clipped", "skipped")}.
        The step itself is fastnn.training.step.take_step, the one ``fit`` takes too.
        """
        return _step.train_on_batch(self, xb, yb, loss=loss, optimizer=optimizer, clip=clip)

    # -- high-level API ----------------------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, loss: str | Loss | None = None,
            optimizer: Optimizer | str | None = None,
            epochs: int = 10, batch_size: int = 32, shuffle: bool = True, seed: int = 0, clip: Clip | None = None,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None, callbacks: Iterable[Callback] | None = None,
            verbose: int = 1, augment: Compose | None = None, on_nonfinite_loss: str = "raise",
            validation_split: float = 0.0, drop_last: bool = False, sample_weight: ArrayLike | None = None,
            class_weight: dict[Any, float] | str | None = None, metrics: Iterable[str] | None = None,
            checkpoint: str | PathLike[str] | None = None, checkpoint_every: int | None = 1,
            checkpoint_every_steps: int | None = None) -> History:
        """Train; returns a History. ``loss=None`` trains with the model's loss; a loss given here becomes the
        model's loss. ``checkpoint=`` writes checkpoints that ``fastnn.resume`` continues bit for bit. See
        fastnn.training.loop.fit for every argument."""
        return _loop.fit(self, X, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                         shuffle=shuffle, seed=seed, clip=clip, validation_data=validation_data,
                         callbacks=callbacks, verbose=verbose, augment=augment, on_nonfinite_loss=on_nonfinite_loss,
                         validation_split=validation_split, drop_last=drop_last, sample_weight=sample_weight,
                         class_weight=class_weight, metrics=metrics, checkpoint=checkpoint,
                         checkpoint_every=checkpoint_every, checkpoint_every_steps=checkpoint_every_steps)

    def _inference_input(self, X: ArrayLike) -> np.ndarray:
        """X checked for inference: 2-D, the raw input size, finite."""
        self._require_built()
        X = as_2d_features(X, n_features=self.n_features_in)
        check_finite(X, "X", self.dtype)
        return X

    def _inference_batches(self, X: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield (start, stop, raw outputs) over X (from _inference_input) in chunks, in evaluation mode."""
        ctx = StepContext(training=False, seed=self.seed, step=self.step_count)
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            chunk = self.prepare_inputs(X[start:start + PREDICT_CHUNK])
            out = in_flight(self.forward, chunk, ctx=ctx)  # calls of other Python threads share the threads
            yield start, start + chunk.shape[0], out

    @overload
    def predict(self, X: ArrayLike) -> np.ndarray: ...

    @overload
    def predict(self, X: ArrayLike, mc_samples: int, seed: int | None = None) -> MCPrediction: ...

    def predict(self, X: ArrayLike, mc_samples: int | None = None,
                seed: int | None = None) -> np.ndarray | MCPrediction:
        """Predictions for X, shape (n, outputs): the output map of the model's loss applied to the raw
        outputs, i.e. class probabilities for cross_entropy (softmax) and binary_cross_entropy (sigmoid), the
        raw outputs for mse (and for a model without a loss). The same meaning whether the model was just
        built, loaded from a file, given pretrained weights or trained. Safe from any number of threads.

        ``mc_samples=T`` (an int >= 1): Monte Carlo dropout, T passes with Dropout active and BatchNorm in
        inference mode; returns ``MCPrediction(mean, std)`` over the passes, each (n, outputs) (see
        fastnn.mc_dropout). ``seed`` (default: the model's) keys the masks: the same seed, the same result."""
        loss = self.loss
        transform = loss.transform_output if loss is not None else None
        if mc_samples is None:
            if seed is not None:
                raise ValueError("seed keys the masks of Monte Carlo dropout: pass it together with mc_samples")
            return self._outputs(X, transform)
        samples, seed = _mc_dropout.check_arguments(self, mc_samples, seed)
        return _mc_dropout.predict(self, self._inference_input(X), samples, seed, transform)

    def predict_logits(self, X: ArrayLike) -> np.ndarray:
        """Raw outputs for X, shape (n, outputs): the last layer's values, before the loss's output map."""
        return self._outputs(X, None)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities for X (softmax for cross_entropy, sigmoid for binary_cross_entropy); a
        ValueError for a model whose loss gives no probabilities (mse, or no loss)."""
        loss = self.loss
        if loss is None or not loss.predicts_probabilities:
            raise ValueError(f"predict_proba needs a classification loss (cross_entropy or binary_cross_entropy); "
                             f"this model's loss is {loss.name if loss is not None else None!r}: use predict")
        return self._outputs(X, loss.transform_output)

    def predict_classes(self, X: ArrayLike) -> np.ndarray:
        """Predicted class indices (int64): the argmax of the outputs for cross_entropy, logit > 0 (probability >
        0.5) for binary_cross_entropy ((n,) with one output, (n, outputs) of 0/1 with several)."""
        loss = self.loss
        if loss is None:
            raise ValueError("predict_classes needs a classification loss; this model has no loss")
        return loss.predicted_classes(self.predict_logits(X))

    def predict_labels(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels: ``classes_[predict_classes(X)]``, the labels fit was given (strings, ...); the class
        indices for a model trained on class indices."""
        return _targets.decode(self.predict_classes(X), self.classes_)

    def _outputs(self, X: ArrayLike, transform: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
        """Raw outputs for X, each chunk mapped in place by ``transform`` when given."""
        X = self._inference_input(X)
        result = np.empty((X.shape[0], self._require_built()), self.dtype)
        for start, stop, out in self._inference_batches(X):
            rows = result[start:stop]
            rows[...] = out
            mapped = transform(rows) if transform is not None else rows
            if mapped is not rows:  # a custom loss may return a new array instead of mapping in place
                rows[...] = mapped
        return result

    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: str | Loss | None = None,
                 metrics: Iterable[str] | None = None, sample_weight: ArrayLike | None = None) -> dict[str, float]:
        """{"loss": mean loss (with penalties), then each metric} on (X, y) in evaluation mode, with ``loss`` or
        else the model's loss. y: as ``fit`` takes it (labels through ``classes_``). metrics: names from
        fastnn.metrics (None: "accuracy" for a classification loss). sample_weight: the loss is the weighted mean
        ``sum w_i l_i / sum w_i`` (metrics are unweighted). The loss compares the outputs with y in the model's
        dtype, as training does, and so do the classification metrics (a row's class is the one the loss trains
        on and fit's metrics count, whichever metrics are asked for); the regression metrics with y as given
        (float64): float32 targets of 1.7e9 +- 100 round to multiples of 128, and a float32 model scored against
        them looked exact. Safe from any number of threads."""
        loss = self.training_state.loss_for(loss)
        n_outputs = self._require_built()
        names = _metrics.check_metrics(metrics, loss, n_outputs)
        X = self._inference_input(X)
        check_length("y", y, X.shape[0])
        y, _ = _targets.resolve_labels(y, self.classes_, loss.n_classes(n_outputs), n_outputs=n_outputs)
        targets = loss.prepare_targets(y, X.shape[0], n_outputs, self.dtype)
        weights = _targets.check_sample_weight(sample_weight, X.shape[0])
        accumulator = _metrics.MetricAccumulator(names, loss, n_outputs)
        exact = targets
        # classes from the model-dtype targets, as the loss kernel's accuracy: with float64 ones a soft row whose
        # argmax only float64 resolves changed class when f1 was asked for besides accuracy
        if accumulator.needs_outputs and not loss.predicts_probabilities and self.dtype != np.float64:
            exact = loss.prepare_targets(y, X.shape[0], n_outputs, np.float64)
        total, weight_total = 0.0, 0.0
        for start, stop, out in self._inference_batches(X):
            batch: np.ndarray | _losses.Weighted = targets[start:stop]
            if weights is not None:
                batch = _losses.Weighted(targets[start:stop], weights[start:stop])
            s, c = loss(out, batch, None)
            total += s
            weight_total += loss.weight(out, batch)  # a chunk of zero weights adds nothing
            if accumulator.needs_outputs:
                accumulator.update(out, exact[start:stop])
            else:
                accumulator.add_correct(c, stop - start)
        penalty = sum(layer.penalty(with_grad=False) for layer in self.layers)
        return {"loss": total / weight_total + penalty, **accumulator.result()}

    # -- weights and state -------------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's arrays in layer order (Dense: W (in, out), b; BatchNorm: gamma, beta,
        running_mean, running_var)."""
        return [w.copy() for w in self._weight_arrays()]

    @staticmethod
    def _layer_array(layer: Layer, name: str) -> np.ndarray:
        return layer.params[name] if name in layer.params else layer.buffers[name]

    def set_weights(self, weights: Iterable[ArrayLike]) -> None:
        """Set every array from a list like get_weights(); all shapes are checked before anything changes."""
        for dest, w in zip(self._weight_arrays(), self.checked_weights(weights, "set_weights")):
            dest[...] = w

    def checked_weights(self, weights: Iterable[ArrayLike], source: str) -> list[np.ndarray]:
        """``weights`` (a list like get_weights()) in the model's dtype, once each array has its layer array's
        shape and valid values (:func:`fastnn.pretrained.checked_values`); a ValueError naming ``source`` (who
        gave them: "set_weights", ...) and the first that does not. What set_weights sets, checked without
        setting it."""
        self._require_built()
        names = [(i, layer, name) for i, layer in enumerate(self.layers) for name in layer.weight_names()]
        weights = list(weights)
        if len(weights) != len(names):
            raise ValueError(f"{source} got {len(weights)} arrays, the model has {len(names)}")
        checked = []
        for (i, layer, name), dest, w in zip(names, self._weight_arrays(), weights):
            w = np.asarray(w)
            if w.shape != dest.shape:
                raise ValueError(f"{source}: layer {i} ({type(layer).__name__}) {name}: expected shape "
                                 f"{dest.shape}, got {w.shape}")
            try:  # finite in the model's dtype (checked after the cast), a variance >= 0, ...
                checked.append(_pretrained.checked_values(name, w, self.dtype))
            except ValueError as exc:
                raise ValueError(f"{source}: layer {i} ({type(layer).__name__}) {name}: {exc}") from None
        return checked

    def _weight_arrays(self) -> list[np.ndarray]:
        """Every layer's arrays in get_weights() order (the arrays themselves, not copies)."""
        self._require_built()
        return [self._layer_array(layer, name) for layer in self.layers for name in layer.weight_names()]

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by name ("<layer>.<name>"), as stored in model files, then the fitted
        preprocessor's arrays ("preprocess.<name>")."""
        self._require_built()
        arrays = {f"{i}.{name}": self._layer_array(layer, name)
                  for i, layer in enumerate(self.layers) for name in layer.weight_names()}
        if self.preprocess is not None and _is_fitted(self.preprocess):
            arrays.update({f"preprocess.{k}": v for k, v in self.preprocess.state_arrays().items()})
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of state_arrays(); names, shapes and dtypes are checked before anything changes. The
        preprocessor's arrays are restored by model_from_config (they define it), so they are skipped here."""
        own = {k: v for k, v in self.state_arrays().items() if not k.startswith("preprocess.")}
        given = {k for k in arrays if not k.startswith("preprocess.")}
        missing, extra = sorted(set(own) - given), sorted(given - set(own))
        if missing or extra:
            raise ValueError(f"state arrays do not match the model: missing {missing}, unexpected {extra}")
        self.set_weights([arrays[name] for name in own])

    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-able data (``model_from_config`` / ``from_config`` invert it)."""
        return self.config_with_layers([layer.get_config() for layer in self.layers])

    def config_with_layers(self, layer_configs: list[dict[str, Any]]) -> dict[str, Any]:
        """This model's config (class, sizes, dtype, seed, loss, preprocessor) around the given layer configs: the
        one place a model config is written (``get_config`` and ``fastnn.fold`` use it). A preprocessor that is
        not fitted yet is written as such, with the raw row width it waits for (``n_features_in``), so
        ``from_config`` makes a model that fits it as this one would."""
        config = {"class": "Sequential", "input_dim": self.input_dim, "dtype": self.dtype.name, "seed": self.seed,
                  "loss": self.loss.get_config() if self.loss is not None else None, "layers": list(layer_configs)}
        if self.classes_ is not None:
            config["classes"] = _targets.jsonable_classes(self.classes_)
        if self.preprocess is not None:
            config["preprocess"] = self.preprocess.get_config()
            if not _is_fitted(self.preprocess):
                config["n_features_in"] = self._raw_input_dim
        return config

    def file_contents(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(get_config(), state_arrays())``, what a model file stores (fastnn.io.save, ModelCheckpoint, training
        checkpoints). Refused (ValueError), so that no writer replaces a good file by one fastnn cannot read back:
        a preprocessor that is not fitted yet (the file could not restore it, and a model loaded without it would
        predict on raw rows), and arrays fastnn.io.load refuses (NaN or inf weights of a diverged fit, a negative
        running variance: ``fastnn.pretrained.invalid_values``), every one named."""
        if self.preprocess is not None and not _is_fitted(self.preprocess):
            raise ValueError(f"cannot save a model whose preprocessor ({type(self.preprocess).__name__}) is not "
                             "fitted yet: fit the model (fit fits the preprocessor on X) or the preprocessor first")
        arrays = self.state_arrays()
        problems = _pretrained.invalid_values(arrays)
        if problems:
            listed = "; ".join(f"{name!r} {problem}" for name, problem in problems.items())
            raise ValueError(f"refusing to save a model that could not be loaded: {listed} (a diverged fit? lower "
                             f"the learning rate or clip gradients)")
        return self.get_config(), arrays

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Sequential:
        """A new model from ``get_config()`` output; see :func:`model_from_config`."""
        return model_from_config(config, arrays)

    def load_weights(self, path: str | PathLike[str]) -> None:
        """Load pretrained weights from a fastnn model file, a safetensors file or an .npz of named arrays
        (PyTorch nn.Linear layouts are transposed); shapes are checked and a mismatch names the layer. Same as
        ``fastnn.pretrained.load_weights(model, path)``."""
        _pretrained.load_weights(self, path)

    def fold(self, preprocess: bool = True) -> Sequential:
        """A new model for inference with BatchNorm folded into the adjacent Dense layers, Dropout removed and
        (with ``preprocess``) an affine preprocessor folded into the first Dense; predictions are unchanged to
        float rounding. Same as ``fastnn.fold.fold(model)``."""
        return _folding.fold(self, preprocess=preprocess)

    def compile_inference(self, **options: Any) -> InferencePlan:
        """A read-only :class:`fastnn.inference.InferencePlan` of this model (BatchNorm and an affine preprocessor
        folded, Dropout gone, one C call for small batches); ``predict`` has the same meaning. Same as
        ``fastnn.inference.compile(model, **options)``."""
        from .inference import compile as compile_plan

        return compile_plan(self, **options)

    def summary(self) -> None:
        """Print the layers, their output sizes and parameter counts (as Keras's ``model.summary()``); returns
        None. ``summary_str()`` (and ``str(model)``) gives the same text."""
        print(self.summary_str())

    def summary_str(self) -> str:
        """The text ``summary()`` prints."""
        rows = []
        for i, layer in enumerate(self.layers):
            # trainable and not (BatchNorm's running statistics), as Keras's count_params: the rows add up to the total
            n = (sum(int(np.prod(s)) for _, s, _ in layer.param_specs()) + sum(b.size for b in layer.buffers.values())
                 if self.built else 0)
            act = getattr(layer, "activation", None)
            detail = [act] if act not in (None, "identity") else []
            detail += ["fused into the previous layer"] if layer.fused_into_previous else []
            rows.append((f"{i}: {type(layer).__name__}" + (f" ({', '.join(detail)})" if detail else ""),
                         layer.out_dim, n))
        non_trainable = sum(b.size for layer in self.layers for b in layer.buffers.values())
        loss = self.loss.name if self.loss is not None else None
        head = f"Sequential (input {self.input_dim}, {self.dtype.name}, loss {loss})"
        return summary_table(head, rows, self.layout.size if self.layout is not None else 0, non_trainable)

    def __str__(self) -> str:
        return self.summary_str()

    def __repr__(self) -> str:
        return self.summary_str()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling (and ``copy.deepcopy``) restores each array on its own, so the layers' parameters and
        gradients would stop being views of ``params`` / ``grads``: training would update the flat buffers and
        leave the layers' copies unchanged. Point them back into the flat buffers (the values are the same).
        Arrays loaded read-only (joblib's ``mmap_mode="r"``) are copied: the kernels write the buffers."""
        self.__dict__.update(state)
        if self.layout is None or self.params is None or self.grads is None:
            return
        params, grads = (a if a.flags.writeable else np.array(a) for a in (self.params, self.grads))
        self.params, self.grads = params, grads
        for i, layer in enumerate(self.layers):
            layer.buffers = {name: a if a.flags.writeable else np.array(a) for name, a in layer.buffers.items()}
            for views, flat in ((layer.params, params), (layer.grads, grads)):
                for name in views:
                    views[name] = self.layout.view(flat, f"{i}.{name}")
        self._workspaces.clear()  # they hold the layers' old arrays (the forward input of the last step)


def _as_pipeline(preprocess: PreprocessSpec) -> Preprocessor | Pipeline | None:
    if preprocess is None:
        return None
    from .preprocessing import Pipeline, make

    if isinstance(preprocess, str) or (isinstance(preprocess, (list, tuple)) and
                                       any(isinstance(p, str) for p in preprocess)):
        return make(preprocess) if preprocess else None
    if isinstance(preprocess, (list, tuple)):
        return Pipeline([p for p in preprocess if not isinstance(p, str)]) if preprocess else None
    if not hasattr(preprocess, "transform") or not hasattr(preprocess, "fit"):
        raise TypeError(f"preprocess must be a fastnn.preprocessing transformer or a list of them, "
                        f"got {type(preprocess).__name__}")
    return preprocess


def _is_fitted(pre: Preprocessor | Pipeline) -> bool:
    return getattr(pre, "n_features_in_", None) is not None


def model_from_config(config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Sequential:
    """Build an (unfitted) model with the architecture in ``config`` (as from get_config). A fitted
    preprocessor in the config is restored from ``arrays`` ("preprocess.<name>" entries); one not fitted yet
    waits for fit as it did in the model the config came from (its raw width ``n_features_in``, the layers built
    when ``input_dim`` is set). The model's loss is
    the config's "loss": null (a fastnn 0.1 file saved before any fit) is a model with no loss, whose
    ``predict`` gives raw outputs as it did then; a config without the entry gets the constructor's default."""
    if not isinstance(config, dict) or config.get("class") != "Sequential":
        raise ValueError("model config must be a dict with class 'Sequential'")
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise ValueError("model config 'layers' must be a list")
    preprocess = None
    if config.get("preprocess") is not None:
        from .preprocessing import from_config as preprocess_from_config

        prefix = "preprocess."
        pre_arrays = {k[len(prefix):]: v for k, v in (arrays or {}).items() if k.startswith(prefix)}
        preprocess = preprocess_from_config(config["preprocess"], pre_arrays)
    input_dim = config.get("input_dim")
    waiting = preprocess is not None and not _is_fitted(preprocess)  # for fit, on rows n_features_in wide
    raw_dim = input_dim  # the constructor's input_dim: the raw rows' width
    if waiting:
        raw_dim = positive_int("n_features_in", config.get("n_features_in"), allow_none=True)
    elif preprocess is not None:  # the fitted preprocessor knows it
        raw_dim = None
    model = Sequential([layer_from_config(c) for c in layers], input_dim=raw_dim,
                       dtype=config.get("dtype", "float32"), seed=config.get("seed", 0), preprocess=preprocess,
                       loss=config.get("loss", DEFAULT_LOSS))
    if waiting and input_dim is not None:  # its layers were built before the preprocessor was fitted
        model.build(positive_int("input_dim", input_dim))
    # With a fitted preprocessor the layers are built for its output; the config's input_dim must agree.
    if preprocess is not None and not waiting and model.input_dim != input_dim:
        raise ValueError(f"model config input_dim={input_dim!r} differs from the {model.input_dim} features the "
                         "fitted preprocessor puts out")
    if config.get("classes") is not None:
        model.classes_ = config["classes"]
    return model


def state_spec_from_config(config: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of the layer arrays a model built from ``config`` would have (the names of
    ``state_arrays()``, without the preprocessor's), computed WITHOUT building it: each layer is constructed
    and its specs are read from a sized copy (fastnn.layers.base.state_shapes); no array exists.

    A loader checks a file's tensors against this before anything sized by the config is allocated
    (fastnn.io.load). The layers' own ``param_specs``/``buffer_specs`` are the one source of the shapes, so
    registered custom layers are covered too. Raises ValueError/TypeError for a config that cannot build.
    """
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("model config must be a dict with a 'layers' list")
    dtype = resolve_dtype(config.get("dtype", "float32"))
    dim = positive_int("input_dim", config.get("input_dim"))
    layers = [layer_from_config(c) for c in config["layers"]]
    return {f"{i}.{name}": (shape, dtype) for i, name, shape in state_shapes(layers, dim, dtype)}

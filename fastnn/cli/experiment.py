"""The experiment config of ``fastnn train --config exp.toml`` (TOML, or JSON): one schema, written once here,
from which come the checks (each error names its key path, e.g. ``optimizer.betas[1]``, and what is allowed),
the defaults and ``--print-config`` (the full effective config, which repeats the run bit for bit).

Sections (every key optional; ``fastnn train --print-config`` lists them all with their values)::

    output = "model.safetensors"
    [data]        train ("embedded" | "fashion-mnist" | a .npz / .csv / .npy path), labels (.npy labels of a
                  .npy train), mmap (memory-map a .npy), test (a file of test rows), test_fraction, dtype
    [validation]  split (fit's validation_split) | data (a file of validation rows)
    [model]       hidden + activation, or layers = [{class = "Dense", units = 64, l2 = 1e-4}, {class =
                  "Dropout", p = 0.2}, ...] (the layer registry's configs; the output Dense(classes) is added),
                  preprocess ("standard", "minmax", "pca_whiten", "zca_whiten", ... or a list: preprocessing.make)
    [loss]        name, label_smoothing
    [optimizer]   class (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta) and its hyperparameters; without a class
                  the keys are merged over the default SGD(lr=0.05, momentum=0.9)
    [schedule]    class (any fastnn.schedules class; Warmup nests another: schedule = {class = ...}) and its
                  arguments; an lr left out is the optimizer's
    [clip]        class (ByValue | ByGlobalNorm | ByTensorNorm) and its arguments
    [augment]     transforms = [{class = "RandomRotation", degrees = 10}, ...], image_shape, fill_mode, fill_value
    [train]       epochs, batch_size, seed, shuffle, drop_last, metrics, threads, verbose, class_weight,
                  on_nonfinite_loss
    [[callbacks]] class (EarlyStopping, ReduceOnPlateau, ModelCheckpoint, CSVLogger, TerminateOnNaN) and its
                  arguments
    [checkpoint]  path, every, every_steps (fit's checkpoint=, checkpoint_every=, checkpoint_every_steps=)

Objects named by ``class`` are checked by their own constructors (the library's checks), after their keys are
checked against the constructor's signature. Nothing here reads data: every error comes before.
"""
from __future__ import annotations

import difflib
import inspect
import json
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._types import UsageError, available_cores

NAMED_DATA = ("embedded", "fashion-mnist")
DATA_SUFFIXES = (".npz", ".csv", ".npy")
IMAGE_SHAPES = {"embedded": [8, 8], "fashion-mnist": [28, 28]}  # for augmentation of the named data sets


class ConfigError(UsageError):
    """A config value that is not allowed: reported as ``<key path>: <problem>``, exit status 2."""


# ---- the schema -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One key: its default, its JSON type ("int", "real", "bool", "str", "ints", "strs", "str|strs"), the allowed
    values (``choices``) or the library's own ``check`` (raises ValueError / TypeError), and whether null is
    allowed. ``default=AUTO`` is resolved from other keys (see :func:`_resolve_auto`)."""
    default: Any
    type: str
    check: Callable[[Any], Any] | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False


@dataclass(frozen=True)
class Objects:
    """A ``{"class": ...}`` config of one registry (``many``: a list of them), or null when ``nullable``."""
    registry: str  # a key of _registries()
    default: Any
    many: bool = False
    nullable: bool = True


AUTO = "auto"


def _check_real(name: str, **bounds: Any) -> Callable[[Any], Any]:
    from ..validation import check_scalar
    return lambda v: check_scalar(v, name, numbers.Real, **bounds)


def _check_int(name: str, **bounds: Any) -> Callable[[Any], Any]:
    from ..validation import check_scalar
    return lambda v: check_scalar(v, name, numbers.Integral, **bounds)


def _data_source(text: str) -> None:
    if text not in NAMED_DATA and not text.lower().endswith(DATA_SUFFIXES):
        raise ValueError(f"unknown dataset {text!r}: use {' or '.join(map(repr, NAMED_DATA))} or a "
                         f"{' / '.join(DATA_SUFFIXES)} path")


def _rows_file(text: str) -> None:
    if not text.lower().endswith((".npz", ".csv")):
        raise ValueError(f"expected a .npz (X, y) or .csv file, got {text!r}")


def _threads(n: int) -> None:
    _check_int("threads", min_val=1)(n)
    if n > available_cores():
        raise ValueError(f"{n} threads is more than the {available_cores()} cores available to this process")


def _preprocess(spec: Any) -> None:
    from ..preprocessing import make
    make(spec)


def _metrics(names: list[str]) -> None:
    from ..losses import CrossEntropy
    from ..metrics import check_metrics
    check_metrics(names, CrossEntropy())


SCHEMA: dict[str, Any] = {
    "output": Field("fastnn_model.safetensors", "str"),
    "data": {
        "train": Field("embedded", "str", check=_data_source),
        "labels": Field(None, "str", nullable=True),
        "mmap": Field(False, "bool"),
        "test": Field(None, "str", check=_rows_file, nullable=True),
        "test_fraction": Field(0.25, "real", check=_check_real("test_fraction", min_val=0.0, max_val=1.0,
                                                                include_boundaries="left")),
        "dtype": Field("float32", "str", choices=("float32", "float64")),
    },
    "validation": {
        "split": Field(0.0, "real", check=_check_real("split", min_val=0.0, max_val=1.0, include_boundaries="left")),
        "data": Field(None, "str", check=_rows_file, nullable=True),
    },
    "model": {
        "hidden": Field(AUTO, "ints", check=lambda v: [_check_int("hidden", min_val=1)(h) for h in v],
                        nullable=True),
        "activation": Field(AUTO, "str", choices=("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity"),
                            nullable=True),
        "layers": Objects("layer", None, many=True),
        "preprocess": Field(None, "str|strs", check=_preprocess, nullable=True),
    },
    "loss": {
        "name": Field("cross_entropy", "str", choices=("cross_entropy",)),
        "label_smoothing": Field(0.0, "real", check=_check_real("label_smoothing", min_val=0.0, max_val=1.0)),
    },
    "optimizer": Objects("optimizer", {"class": "SGD", "lr": 0.05, "momentum": 0.9}, nullable=False),
    "schedule": Objects("schedule", None),
    "clip": Objects("clip", None),
    "augment": Objects("augment", None),
    "train": {
        "epochs": Field(AUTO, "int", check=_check_int("epochs", min_val=1)),
        "batch_size": Field(32, "int", check=_check_int("batch_size", min_val=1)),
        "seed": Field(0, "int", check=_check_int("seed", min_val=0, max_val=2**64 - 1)),
        "shuffle": Field(True, "bool"),
        "drop_last": Field(False, "bool"),
        "metrics": Field(["accuracy"], "strs", check=_metrics),
        "threads": Field(None, "int", check=_threads, nullable=True),
        "verbose": Field(1, "int", choices=(0, 1, 2)),
        "class_weight": Field(None, "str", choices=("balanced",), nullable=True),
        "on_nonfinite_loss": Field("raise", "str", choices=("raise", "warn", "ignore")),
    },
    "callbacks": Objects("callback", [], many=True, nullable=False),
    "checkpoint": {
        "path": Field(None, "str", nullable=True),
        "every": Field(1, "int", check=_check_int("every", min_val=1), nullable=True),
        "every_steps": Field(None, "int", check=_check_int("every_steps", min_val=1), nullable=True),
    },
}


def _registries() -> dict[str, Any]:
    from ..augment import TRANSFORMS
    from ..layers.base import LAYER_REGISTRY
    from ..optim import OPTIMIZERS
    from ..optim.clip import CLIPS
    from ..optim.schedules import SCHEDULES
    from ..training.callbacks import CALLBACKS
    return {"layer": LAYER_REGISTRY, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "clip": CLIPS,
            "callback": CALLBACKS, "transform": TRANSFORMS}


# ---- reading --------------------------------------------------------------------------------------------------
def read(path: str) -> dict[str, Any]:
    """The raw config of a .toml or .json file (a bad file is a ConfigError naming it and the line)."""
    import sys

    from ..formats.common import strict_json

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, as a package before Python 3.11 (a dependency there)
        import tomli as tomllib  # type: ignore[import-not-found]  # not installed where mypy runs

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: cannot read it ({type(exc).__name__}: {exc})") from None
    try:
        raw = strict_json(text) if path.lower().endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--config {path}: not valid {'JSON' if path.lower().endswith('.json') else 'TOML'}: "
                          f"{exc}") from None
    except RecursionError:  # the parsers recurse once per nesting level
        raise ConfigError(f"--config {path}: nested too deeply to be a config") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path}: expected a table of sections, got {type(raw).__name__}")
    return raw


def set_key(config: dict[str, Any], dotted: str, value: Any) -> None:
    """``config[a][b] = value`` for ``dotted="a.b"`` (a flag overriding a config key)."""
    *parents, last = dotted.split(".")
    node = config
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{p}: expected a table, got {node!r}")
    node[last] = value


# ---- checking ---------------------------------------------------------------------------------------------------
_TYPE_WORDS = {"int": "an integer", "real": "a number", "bool": "true or false", "str": "a string",
               "ints": "a list of integers", "strs": "a list of strings", "str|strs": "a string or a list of strings"}


def _type_ok(value: Any, kind: str) -> bool:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "int":
        return is_int(value)
    if kind == "real":
        return (is_int(value) or isinstance(value, float)) and math.isfinite(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "ints":
        return isinstance(value, list) and bool(value) and all(is_int(v) for v in value)
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str) or _type_ok(value, "strs")


def _unknown(path: str, key: str, allowed: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{_join(path, key)}: unknown key{hint}; allowed: {', '.join(allowed)}")


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _check_field(path: str, field: Field, value: Any) -> Any:
    if value is None:
        if field.nullable:
            return None
        raise ConfigError(f"{path}: must not be null; expected {_TYPE_WORDS[field.type]}")
    if value == AUTO and field.default == AUTO:
        return AUTO
    if not _type_ok(value, field.type):
        raise ConfigError(f"{path}: expected {_TYPE_WORDS[field.type]}, got {value!r}")
    if field.type == "real":
        value = float(value)
    if field.choices is not None and value not in field.choices:
        raise ConfigError(f"{path}: {value!r} is not allowed; allowed: {', '.join(map(repr, field.choices))}")
    if field.check is not None:
        try:
            field.check(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: {_one_line(exc)}") from None
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _locate(path: str, message: str, args: dict[str, Any]) -> str:
    """``path.key[i]: message`` for the config key a constructor's message names (its first mention), else the
    key whose string value it quotes."""
    found = []
    for key in args:
        m = re.search(rf"(?<![\w.]){re.escape(key)}(\[\d+\])?(?!\w)", message)
        if m:
            found.append((m.start(), key + (m.group(1) or "")))
    if not found:
        found = [(message.index(repr(v)), k) for k, v in args.items() if isinstance(v, str) and repr(v) in message]
    where = _join(path, min(found)[1]) if found else path
    return f"{where}: {message}"


def _canonical_class(path: str, registry: Any, config: Any) -> tuple[type, dict[str, Any]]:
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a table with a 'class' key, got {config!r}")
    name = config.get("class")
    by_lower = {k.lower(): v for k, v in registry.items()}
    cls = by_lower.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ConfigError(f"{_join(path, 'class')}: {name!r} is not a {registry.kind}; allowed: "
                          f"{', '.join(sorted(registry))}")
    return cls, {k: v for k, v in config.items() if k != "class"}


def _build_object(path: str, registry: Any, config: Any, fill: dict[str, Any] | None = None) -> Any:
    """The object a ``{"class": ...}`` config describes, built by its constructor after its keys are checked
    against the signature; ``fill``: values for keys the config leaves out (when the class takes them)."""
    regs = _registries()
    cls, args = _canonical_class(path, registry, config)
    params = {n: p for n, p in inspect.signature(cls).parameters.items()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "param_groups"}
    for key in args:
        if key not in params:
            raise _unknown(path, key, list(params))
    for key, value in (fill or {}).items():
        if key in params and key not in args:
            args[key] = value
    missing = [n for n, p in params.items() if p.default is p.empty and n not in args]
    if missing:
        raise ConfigError(f"{_join(path, missing[0])}: required by {cls.__name__} (no default)")
    if registry is regs["schedule"] and isinstance(args.get("schedule"), dict):  # Warmup wraps a schedule
        args["schedule"] = _build_object(_join(path, "schedule"), registry, args["schedule"], fill)
    if registry is regs["optimizer"] and isinstance(args.get("betas"), list):
        args["betas"] = tuple(args["betas"])
    if registry is regs["transform"] and isinstance(args.get("max_shift"), list):
        args["max_shift"] = tuple(args["max_shift"])
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(_locate(path, _one_line(exc), args)) from None


def _build_augment(path: str, config: Any, image_shape: list[int] | None) -> Any:
    from ..augment import Compose

    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a table (transforms, image_shape, fill_mode, fill_value), got "
                          f"{config!r}")
    allowed = ["class", "transforms", "image_shape", "fill_mode", "fill_value"]
    for key in config:
        if key not in allowed:
            raise _unknown(path, key, allowed)
    transforms = config.get("transforms", [])
    if not isinstance(transforms, list):
        raise ConfigError(f"{_join(path, 'transforms')}: expected a list of {{class = ...}} tables")
    built = [_build_object(_join(_join(path, "transforms"), i), _registries()["transform"], t)
             for i, t in enumerate(transforms)]
    args = {k: config[k] for k in ("fill_mode", "fill_value") if k in config}
    shape = config.get("image_shape") or image_shape
    try:
        return Compose(built, image_shape=shape, **args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(_locate(path, _one_line(exc), {"image_shape": shape, **args})) from None


def _walk(path: str, schema: dict[str, Any], raw: Any) -> dict[str, Any]:
    """The plain keys of one table checked, defaults filled (objects are left to :func:`check`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'the config'}: expected a table, got {raw!r}")
    for key in raw:
        if key not in schema:
            raise _unknown(path, key, list(schema))
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        where = _join(path, key)
        if isinstance(spec, dict):
            out[key] = _walk(where, spec, raw.get(key, {}))
        elif isinstance(spec, Field):
            out[key] = _check_field(where, spec, raw.get(key, spec.default))
        else:
            out[key] = raw.get(key, spec.default)
    return out


@dataclass
class Experiment:
    """A checked config: ``config`` is the full effective one (``--print-config``), the rest the objects it
    describes (each built again for the run, from ``config``, so a printed config repeats it)."""
    config: dict[str, Any]

    def optimizer(self) -> Any:
        from ..optim import optimizer_from_config
        from ..optim.schedules import from_config

        cfg = dict(self.config["optimizer"])
        if self.config["schedule"] is not None:  # an optimizer config holds a schedule as {"schedule": ...}
            cfg["lr"] = {"schedule": from_config(self.config["schedule"]).get_config()}
        return optimizer_from_config(cfg)

    def layers(self, n_classes: int) -> list[Any]:
        from ..layers import Dense, layer_from_config
        return [layer_from_config(dict(c)) for c in self.config["model"]["layers"]] + [Dense(n_classes)]

    def augment(self) -> Any:
        from ..augment import Compose
        return Compose.from_config(self.config["augment"]) if self.config["augment"] is not None else None

    def clip(self) -> Any:
        from ..optim.clip import from_config
        return from_config(self.config["clip"]) if self.config["clip"] is not None else None

    def callbacks(self) -> list[Any]:
        from ..training.callbacks import CALLBACKS
        return [CALLBACKS.from_config(dict(c)) for c in self.config["callbacks"]]

    def loss(self) -> Any:
        from ..losses import CrossEntropy
        return CrossEntropy(label_smoothing=self.config["loss"]["label_smoothing"])


def check(raw: dict[str, Any], source: str = "") -> Experiment:
    """Check a raw config (from a file and the flags) against the schema and return the Experiment with every
    default filled in. ``source`` (e.g. "exp.toml: ") prefixes the error. Reads no data."""
    try:
        return _check(raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}{exc}") from None


def _check(raw: dict[str, Any]) -> Experiment:
    regs = _registries()
    cfg = _walk("", SCHEMA, raw)
    data, model, train = cfg["data"], cfg["model"], cfg["train"]
    _check_data(data, cfg["validation"])
    if model["layers"] is not None and model["hidden"] not in (AUTO, None):
        raise ConfigError("model.hidden: give model.hidden (+ activation) or model.layers, not both")
    _resolve_auto(cfg)
    # objects, each built by its constructor; the effective config is what it reports of itself
    opt = cfg["optimizer"]
    if isinstance(opt, dict) and "class" not in opt:
        opt = {**SCHEMA["optimizer"].default, **opt}
    optimizer = _build_object("optimizer", regs["optimizer"], opt)
    cfg["optimizer"] = {k: v for k, v in optimizer.get_config().items() if k != "param_groups"}  # not in a config
    _check_momentum(cfg["optimizer"])
    if cfg["schedule"] is not None:
        cfg["schedule"] = _build_object("schedule", regs["schedule"], cfg["schedule"],
                                        fill={"lr": cfg["optimizer"]["lr"]}).get_config()
    if cfg["clip"] is not None:
        cfg["clip"] = _build_object("clip", regs["clip"], cfg["clip"]).get_config()
    layers = model["layers"]
    if layers is None:
        layers = [{"class": "Dense", "units": h, "activation": model["activation"]} for h in model["hidden"]]
    elif not isinstance(layers, list):
        raise ConfigError(f"model.layers: expected a list of {{class = ...}} layer tables, got {layers!r}")
    model["layers"] = [_build_object(f"model.layers[{i}]", regs["layer"], c).get_config() for i, c in
                       enumerate(layers)]
    _check_activation(model)
    model["hidden"] = model["activation"] = None  # the layers say it all
    if cfg["augment"] is not None:
        augment = _build_augment("augment", cfg["augment"], IMAGE_SHAPES.get(data["train"]))
        if augment.image_shape is None and any(t.geometric for t in augment.transforms):
            raise ConfigError(f"augment.image_shape: give --image-shape H,W[,C] (or augment.image_shape) to rotate, "
                              f"shift, zoom or flip the rows of {data['train']}")
        cfg["augment"] = augment.get_config()
    if not isinstance(cfg["callbacks"], list):
        raise ConfigError(f"callbacks: expected a list of {{class = ...}} tables ([[callbacks]] in TOML), got "
                          f"{cfg['callbacks']!r}")
    callbacks = [_build_object(f"callbacks[{i}]", regs["callback"], c) for i, c in enumerate(cfg["callbacks"])]
    _check_callbacks_against_run(callbacks, cfg, optimizer)
    cfg["callbacks"] = [cb.get_config() for cb in callbacks]
    _check_outputs(cfg)
    if train["class_weight"] is not None and train["class_weight"] != "balanced":
        raise ConfigError("train.class_weight: allowed: 'balanced' or null")
    return Experiment(cfg)


def _check_callbacks_against_run(callbacks: list[Any], cfg: dict[str, Any], optimizer: Any) -> None:
    """Each callback's own checks of the run, as fit makes them (``set_run``: a monitored metric the run will not
    log, a ModelCheckpoint filepath naming one, ReduceOnPlateau's min_lr per parameter group of ``optimizer``),
    made before any data are read: they failed only after loading them."""
    from ..losses import CrossEntropy
    from ..metrics import check_metrics
    from ..training.callbacks import TrainingRun
    from ..training.loop import logged_metrics

    train, validation = cfg["train"], cfg["validation"]
    with_validation = bool(validation["split"]) or validation["data"] is not None
    run = TrainingRun(epochs=train["epochs"], batch_size=train["batch_size"], steps_per_epoch=0,  # needs the data
                      seed=train["seed"], metrics=logged_metrics(check_metrics(train["metrics"], CrossEntropy()),
                                                                 with_validation), validation=with_validation,
                      n_param_groups=len(optimizer.lr_scales))
    for i, cb in enumerate(callbacks):
        try:
            cb.set_run(run)
        except (TypeError, ValueError) as exc:
            args = {k: v for k, v in cb.get_config().items() if k != "class"}
            raise ConfigError(_locate(f"callbacks[{i}]", _one_line(exc), args)) from None


def _check_data(data: dict[str, Any], validation: dict[str, Any]) -> None:
    npy = data["train"].lower().endswith(".npy")
    if npy and data["labels"] is None:
        raise ConfigError("data.labels: required with a .npy data.train (the .npy of the class indices)")
    if not npy and data["labels"] is not None:
        raise ConfigError("data.labels: only for a .npy data.train (other data hold their labels)")
    if data["labels"] is not None and not data["labels"].lower().endswith(".npy"):
        raise ConfigError(f"data.labels: expected a .npy file, got {data['labels']!r}")
    if data["mmap"] and not npy:
        raise ConfigError("data.mmap: only a .npy data.train can be memory-mapped")
    if data["mmap"] and data["test_fraction"] and data["test"] is None:
        raise ConfigError("data.test_fraction: must be 0 with data.mmap (a random split would copy the rows into "
                          "memory); give data.test or validation.split instead")
    if data["test"] is not None and data["train"] in NAMED_DATA:
        raise ConfigError(f"data.test: {data['train']} has its own test rows (data.test_fraction for embedded)")
    if validation["split"] and validation["data"] is not None:
        raise ConfigError("validation: give split or data, not both")


def _check_momentum(optimizer: dict[str, Any]) -> None:
    """fastnn train's decision (README): a momentum of 1 or more never converges, so the run is refused before
    any data are read, whichever of --momentum, --set or a config file set it. The optimizers themselves take
    any momentum >= 0, as torch.optim does."""
    momentum = optimizer.get("momentum")
    if isinstance(momentum, (int, float)) and momentum >= 1:
        raise ConfigError(f"optimizer.momentum: must lie in [0, 1) for fastnn train (1 and above never converge), "
                          f"got {momentum!r}")


def _check_activation(model: dict[str, Any]) -> None:
    """model.activation is the activation of the model.hidden layers: next to model.layers (say, --activation
    over a printed config) it would be ignored, so it must be what every Dense there already has."""
    activation = model["activation"]
    if activation in (AUTO, None):
        return
    differ = [i for i, c in enumerate(model["layers"]) if c["class"] == "Dense" and c["activation"] != activation]
    if differ:
        raise ConfigError(f"model.activation: {activation!r} is for model.hidden; model.layers[{differ[0]}] has "
                          f"activation {model['layers'][differ[0]]['activation']!r} (give model.hidden with it, "
                          "e.g. --hidden, or set each layer's activation)")


def _resolve_auto(cfg: dict[str, Any]) -> None:
    """Defaults that depend on the data set's name (never on its contents): as ``fastnn train`` always had."""
    embedded = cfg["data"]["train"] == "embedded"
    if cfg["model"]["hidden"] in (AUTO, None) and cfg["model"]["layers"] is None:
        cfg["model"]["hidden"] = [256, 128] if embedded else [512, 256]
    if cfg["model"]["activation"] in (AUTO, None) and cfg["model"]["layers"] is None:
        cfg["model"]["activation"] = "relu"
    if cfg["train"]["epochs"] == AUTO:
        cfg["train"]["epochs"] = 30 if embedded else 10


def written_files(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(key path, path) of every file the run writes (a ModelCheckpoint filepath is a pattern, e.g.
    "m-{epoch}.fnn", of the files to come)."""
    paths = [("output", cfg["output"]), ("checkpoint.path", cfg["checkpoint"]["path"])]
    for i, cb in enumerate(cfg["callbacks"]):
        paths += [(f"callbacks[{i}].{key}", cb[key]) for key in ("filename", "filepath") if key in cb]
    return [(where, path) for where, path in paths if path is not None]


def read_files(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(key path, path) of every file the run reads (the named data sets are not files)."""
    data = cfg["data"]
    paths = [("data.train", data["train"] if data["train"] not in NAMED_DATA else None), ("data.labels",
             data["labels"]), ("data.test", data["test"]), ("validation.data", cfg["validation"]["data"])]
    return [(where, path) for where, path in paths if path is not None]


def _check_outputs(cfg: dict[str, Any]) -> None:
    """Every file the run will write, in an existing directory, before any work."""
    import argparse

    from ._types import output_file, replaced_file

    for where, path in written_files(cfg):
        check = output_file if where.startswith("callbacks") else replaced_file
        try:
            # a ModelCheckpoint pattern ("m-{epoch}.fnn") names files to come: check their directory
            check(path if "{" not in path else str(Path(path).parent / "x"))
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def dumps(config: dict[str, Any]) -> str:
    """The effective config as JSON (floats in Python's shortest round-trip form, so values come back bitwise;
    JSON rather than TOML because TOML has no null)."""
    return json.dumps(config, indent=2, allow_nan=False) + "\n"


__all__ = ["SCHEMA", "ConfigError", "Experiment", "check", "read", "read_files", "set_key", "dumps", "written_files"]

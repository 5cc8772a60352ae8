"""Optimizers over a model's flat parameter buffer: PyTorch's names, defaults and update rules, one fused pass.

Usage (what ``fit`` does)::

    opt = fastnn.optim.Adam(lr=1e-3)           # lr: a float or a fastnn.schedules schedule
    opt.bind(layout)                           # allocate flat state buffers for a fastnn._layout.ParamLayout
    info = opt.step(params, grads, clip=None)  # params updated in place; grads only read

``step`` makes one pass over the flat buffers (plus one reduction over the gradients when clipping by global
norm): clip on the fly -> weight decay -> update, in one OpenMP region when the model is large enough
(``fastnn._config.threads_for``). Hyperparameters may differ per parameter group (``param_groups=``, see
fastnn.optim.groups); the kernel runs each contiguous run of the buffer with its group's values.

Conventions (PyTorch's, see DESIGN.md "Semantics"): ``weight_decay`` adds ``weight_decay * param`` to the
gradient (coupled L2) in every optimizer except AdamW (decoupled: ``param *= 1 - lr * weight_decay``); eps is
added outside the square root in Adam, RMSprop and Adagrad and inside it in Adadelta; the SGD momentum buffer is
not scaled by lr; Nesterov is PyTorch's form; AMSGrad keeps the max of the raw second moment. ``t`` below is
the 1-based step number (``step_count + 1``); the lr a group's step uses is ``schedule(step_count) *
lr_scales[group]`` (``lr_scales``: one multiplier per parameter group, 1 unless ReduceOnPlateau or a user set it).

The chapter's variants, as options whose defaults keep PyTorch's update (its operations in its order; equal to
rounding, not to the bit: PyTorch's CPU kernels fuse some multiply-adds and round a vectorized sqrt differently):

``eps_root`` (Adagrad, RMSprop, Adam, AdamW; optax's name and formula)
    a term added INSIDE the square root: the denominator is ``sqrt(s + eps_root) + eps``. The chapter's
    ``alpha / sqrt(G + epsilon)`` is ``eps=0, eps_root=epsilon``. For Adam it is added to the bias-corrected
    second moment, ``sqrt(v / (1 - beta2^t) + eps_root) + eps`` (optax's ``scale_by_adam``).

``prox_l1`` (every optimizer; per group, e.g. ``param_groups=[{"kinds": ["weight"], "prox_l1": lam}]``)
    L1 regularization by a proximal step: after the update, ``p <- sign(p) * max(|p| - lr * prox_l1, 0)`` (the
    soft threshold, the proximal operator of ``lr * prox_l1 * |p|``; ISTA, TensorFlow's
    ``ProximalGradientDescent``). It minimizes the same ``loss + lam * sum|W|`` as ``Dense(l1=lam)``, whose
    subgradient ``lam * sign(W)`` steps over 0 back and forth and so leaves small nonzero weights; the
    threshold sets every weight whose update lands within ``lr * lam`` of 0 to exactly 0, so the weights the
    penalty does not need are exactly zero. The threshold uses the step's lr, not the per-coordinate step of an
    adaptive optimizer (decoupled, as AdamW's decay). The penalty is not added to the reported loss.
"""
from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._registry import Registry, class_config
from ..ops import optim as _ops
from ..validation import MAX_STEP, check_scalar
from . import clip as _clip
from . import fused as _fused
from . import groups as _groups
from . import schedules as _schedules

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13; only the type checker reads it

    from .._layout import ParamEntry, ParamLayout

# A learning rate: a number, a fastnn.schedules schedule, or any callable step -> lr (not saveable).
LR = float | _schedules.Schedule | Callable[[int], float]
# Per-group hyperparameters with selectors (see fastnn.optim.groups); None: one group.
ParamGroups = Sequence[dict[str, Any]] | None


class OptimizerStateError(ValueError):
    """A state dict does not fit this optimizer or the model it is bound to."""


def _is_schedule(lr: object) -> TypeIs[Callable[[int], float]]:
    return callable(lr) and not isinstance(lr, numbers.Number)


def _lr_value(lr: LR, step: int, where: str = "") -> float:
    """The lr at ``step``: a number as it is (checked at construction), a schedule's value checked here, at run
    time, so a NaN, inf, negative or non-number lr never reaches an update."""
    if not _is_schedule(lr):
        return lr
    return check_scalar(lr(step), f"{where}lr at optimizer step {step} (from {lr!r})", numbers.Real, min_val=0.0)


def _lr_config(lr: LR) -> float | dict[str, Any]:
    if not _is_schedule(lr):
        return lr
    get_config = getattr(lr, "get_config", None)
    if get_config is None:
        raise TypeError(f"lr {lr!r} is a plain callable and cannot be saved; use a schedule from fastnn.schedules")
    return {"schedule": get_config()}


def _lr_from_config(value: float | dict[str, Any]) -> LR:
    if isinstance(value, dict):
        return _schedules.from_config(value["schedule"])
    return value


def _real(h: dict[str, Any], key: str, where: str, **bounds: Any) -> None:
    """Check hyperparameter ``h[key]`` in place (a finite real number within ``bounds``)."""
    h[key] = check_scalar(h[key], f"{where}{key}", numbers.Real, **bounds)


def _flag(h: dict[str, Any], key: str, where: str) -> None:
    h[key] = check_scalar(h[key], f"{where}{key}", bool)


class Optimizer:
    """Base class: hyperparameters, parameter groups, binding to a layout, clipping, state dict, config.

    Subclasses set ``_hyper`` (hyperparameter names after ``lr``, in signature order), ``_kernel`` (name in
    fastnn.ops.optim), ``_state_order`` (their state buffers in the order the kernel takes them) and
    ``_sums_of_squares`` (those that cannot be negative), ``_state_fills`` (hyperparameters a state buffer starts
    filled with), and implement ``_check_hyper``, ``_buffers_needed`` and ``_fill_row``.
    """

    _hyper: tuple[str, ...] = ()
    _kernel: str = ""
    _state_order: tuple[str, ...] = ()
    _sums_of_squares: tuple[str, ...] = ()
    _state_fills: tuple[str, ...] = ()
    _owner: weakref.ref[Any] | None = None  # the model claim_for names (at class level: older pickles have none)

    def __init__(self, lr: LR, param_groups: ParamGroups = None, **hyper: Any) -> None:
        self._configure({"lr": lr, **hyper}, param_groups)
        self.step_count = 0        # optimizer steps taken (skipped steps excluded)
        self.skipped_steps = 0     # steps skipped on a non-finite norm (ByGlobalNorm(error_if_nonfinite=False))
        # per group (0: the defaults, i: param_groups[i - 1]), set by ReduceOnPlateau: lr = schedule(step) * scale
        self.lr_scales = [1.0] * len(self._group_hyper)
        self.n_threads: int | None = None  # None: fastnn._config.threads_for(layout.size)
        self.layout: ParamLayout | None = None
        self.state: dict[str, np.ndarray] = {}
        self._pending_state: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------- hyperparameters
    @property
    def hyper_names(self) -> tuple[str, ...]:
        return ("lr",) + self._hyper + ("prox_l1",)

    def _configure(self, defaults: dict[str, Any], param_groups: ParamGroups) -> None:
        """Validate defaults and groups (nothing is changed if anything is wrong)."""
        defaults = self._validated(defaults, "")
        groups = _groups.normalize_groups(param_groups, self.hyper_names)
        resolved = [defaults]
        for i, g in enumerate(groups):
            merged = dict(defaults)
            merged.update({k: v for k, v in g.items() if k not in _groups.SELECTORS})
            resolved.append(self._validated(merged, f"param_groups[{i}]: "))
        self.defaults = defaults
        self.param_groups = groups
        self._group_hyper = resolved  # index 0: defaults; i: param_groups[i-1] merged over the defaults

    def _validated(self, h: dict[str, Any], where: str) -> dict[str, Any]:
        h = dict(h)
        if not _is_schedule(h["lr"]):
            _real(h, "lr", where, min_val=0.0)
        h.setdefault("prox_l1", 0.0)
        _real(h, "prox_l1", where, min_val=0.0)
        self._check_hyper(h, where)
        return h

    def _check_hyper(self, h: dict[str, Any], where: str) -> None:
        raise NotImplementedError

    @staticmethod
    def _check_weight_decay(h: dict[str, Any], where: str) -> None:
        _real(h, "weight_decay", where, min_val=0.0)

    @staticmethod
    def _check_eps(h: dict[str, Any], where: str) -> None:
        # PyTorch accepts 0; a zero eps divides by zero on a zero gradient
        _real(h, "eps", where, min_val=0.0, include_boundaries="right")

    @staticmethod
    def _check_eps_pair(h: dict[str, Any], where: str) -> None:
        """eps (outside the square root) and eps_root (inside): each >= 0, not both 0 (a zero gradient
        would divide by zero)."""
        _real(h, "eps", where, min_val=0.0)
        _real(h, "eps_root", where, min_val=0.0)
        if h["eps"] == 0 and h["eps_root"] == 0:
            raise ValueError(f"{where}eps and eps_root are both 0: the update would divide by zero where the "
                             "gradients have been zero; give eps > 0 (outside the square root) or eps_root > 0 "
                             "(inside it)")

    def _check_in_dtype(self, dtype: np.dtype) -> None:
        """Refuse hyperparameters that ``dtype``, the dtype the kernels compute in, cannot hold: an eps that is 0
        in it (1e-50 as float32; the constructor's reason to refuse a zero eps holds for it too), and a state
        fill value (``_state_fills``) that overflows it, as torch refuses to fill a tensor with one."""
        for gi, h in enumerate(self._group_hyper):
            where = f"param_groups[{gi - 1}]: " if gi else ""
            vanishing = self._vanishing_eps(h, dtype.type)
            if vanishing:
                raise ValueError(
                    f"{where}{vanishing} 0 in {dtype} (the model's dtype): the update would divide by zero where "
                    f"the gradients have been zero; give an eps that {dtype} represents, such as >= "
                    f"{np.finfo(dtype).tiny:.3g} (its smallest normal number)")
            for name in self._state_fills:
                with np.errstate(over="ignore"):
                    overflows = not np.isfinite(dtype.type(h[name]))
                if overflows:
                    raise ValueError(
                        f"{where}{name}={h[name]!r} is inf in {dtype} (the model's dtype): the state would start "
                        f"infinite and every update be 0; give a value <= {np.finfo(dtype).max:.3g} (its largest)")

    def _vanishing_eps(self, h: dict[str, Any], as_dtype: Callable[[float], np.floating]) -> str:
        """What in group ``h`` makes the denominator 0 in the kernel's dtype ('' when nothing does)."""
        return ""

    @staticmethod
    def _vanishing_pair(h: dict[str, Any], as_dtype: Callable[[float], np.floating], root: float,
                        root_name: str = "eps_root") -> str:
        """For eps outside the square root and a term ``root`` inside it: both 0 in the dtype."""
        if as_dtype(h["eps"]) == 0 and as_dtype(root) == 0:
            return f"eps={h['eps']!r} and {root_name}={root!r} are both"
        return ""

    def group_lr(self, group: int = 0, step: int | None = None) -> float:
        """Effective lr of a group (0 = defaults) at ``step`` (default: the next step). A schedule's value is
        checked: NaN, inf, a negative value or a non-number raises (ValueError / TypeError)."""
        step = self.step_count if step is None else step
        where = f"param_groups[{group - 1}]: " if group else ""
        scale = self.lr_scales[group]
        lr = _lr_value(self._group_hyper[group]["lr"], step, where) * scale
        if not 0 <= lr < math.inf:  # the scales are set from outside (ReduceOnPlateau, a user): the product once more
            raise ValueError(f"{where}lr at optimizer step {step} is {lr!r} (with lr scale {scale!r}); it must be a "
                             "finite real number >= 0")
        return lr

    @property
    def lr_scale(self) -> float:
        """The default group's lr multiplier (``lr_scales[0]``). Setting it sets every group's (a finite number
        >= 0): ``opt.lr_scale /= 5`` scales a one-group optimizer's lr."""
        return self.lr_scales[0]

    @lr_scale.setter
    def lr_scale(self, value: float) -> None:
        value = check_scalar(value, "lr_scale", numbers.Real, min_val=0.0)
        self.lr_scales = [value] * len(self._group_hyper)

    def check_lr(self, step: int | None = None) -> None:
        """Check every group's lr at ``step`` (default: the next step); ``fit`` calls it before training."""
        for group in range(len(self._group_hyper)):
            self.group_lr(group, step)

    def current_lr(self) -> float:
        """The lr the next step will use (default group): ``schedule(step_count) * lr_scale``."""
        return self.group_lr(0)

    def base_lr(self, step: int | None = None, group: int = 0) -> float:
        """A group's (0: the defaults) scheduled lr at ``step`` without its lr scale."""
        step = self.step_count if step is None else step
        return _lr_value(self._group_hyper[group]["lr"], step)

    # ------------------------------------------------------------------------------------------------ bind
    def bind(self, layout: ParamLayout) -> Optimizer:
        """Attach to a ParamLayout: resolve parameter groups into segments and allocate the flat state buffers
        (dtype ``layout.dtype``). Binding again to an equal layout keeps the state; a different one raises, as
        does an eps that is 0 in that dtype or a state fill value that is inf in it (ValueError, before anything
        changes)."""
        from .._layout import ParamLayout

        if not isinstance(layout, ParamLayout):
            raise TypeError(f"bind expects a fastnn._layout.ParamLayout, got {type(layout).__name__}")
        if layout.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"optimizers support float32 and float64 parameters, got {layout.dtype}")
        if self.layout is not None:
            if layout == self.layout:
                return self
            raise OptimizerStateError(
                f"{type(self).__name__} is already bound to a different parameter layout "
                f"({len(self.layout)} entries, {self.layout.size} values, {self.layout.dtype}); "
                f"create a new optimizer for a new model")
        pending = self._pending_state
        if pending is not None:
            self._check_layout(pending, layout)
        else:  # a pending state brings its own hyperparameters: _restore checks those
            self._check_in_dtype(layout.dtype)
        self.layout = layout
        self._resolve()
        self.state = self._allocate()
        if pending is not None:
            try:
                self._restore(pending)
            except Exception:
                self.layout, self.state = None, {}  # unbound, the state dict still pending: as before the call
                raise
            self._pending_state = None
        return self

    def claim_for(self, model: object) -> None:
        """Make ``model`` this optimizer's owner (fit, train_step and resume call it when they bind it): its state
        (moments, step count) then belongs to that model, and :meth:`check_owner` refuses every other model."""
        self._owner = weakref.ref(model)

    @property
    def claim(self) -> weakref.ref[Any] | None:
        """The current claim (None: unclaimed): read it, and assign it back when a call that claimed the
        optimizer is undone before it trained."""
        return self._owner

    @claim.setter
    def claim(self, claim: weakref.ref[Any] | None) -> None:
        self._owner = claim

    def check_owner(self, model: object) -> None:
        """Refuse (OptimizerStateError) a ``model`` other than the one this optimizer was claimed for, alive or not:
        two models of one architecture have equal layouts, and the state of one would silently carry on in the
        other. A copy of a model with its optimizer (deepcopy, pickle) owns the copied optimizer; a copy of the
        optimizer alone is unclaimed."""
        if self._owner is not None and self._owner() is not model:
            raise OptimizerStateError(
                f"this optimizer ({type(self).__name__}, step count {self.step_count}) is bound to another model; "
                "create a new optimizer for each model (copy.deepcopy(model) copies a model with its optimizer)")

    def _bound_layout(self) -> ParamLayout:
        if self.layout is None:
            raise RuntimeError(f"{type(self).__name__} is not bound to a parameter layout (call bind(layout))")
        return self.layout

    def _resolve(self) -> None:
        layout = self._bound_layout()
        self._segments = _groups.resolve(self.param_groups, layout)
        k = _ops.HP_WIDTH[self._kernel]
        self._rows = np.zeros((len(self._group_hyper), k), np.float64)
        self._hp = np.zeros((self._segments.n_seg, k), np.float64)
        self._block_sums = np.zeros(_ops.sumsq_blocks(layout.size), np.float64)
        self._single = self._segments.n_seg == 1  # then hp is row (group) of that one segment
        self._scales = np.ones(self._segments.n_seg, np.float64)  # the kernel's clipping constants (per segment)
        self._bounds = np.zeros(2, np.float64)  # ... or ByValue's [lo, hi]
        self._per_tensor: _groups.Segments | None = None  # the segments cut at every tensor (ByTensorNorm)
        self._prox_scratch: np.ndarray | None = None
        self._one = np.ones(1)  # the clipping scale of an unclipped fused step
        self._updates_key: tuple | None = None  # the row-update contexts of begin_fused_step, and what they point to
        self._updates: tuple[_ops.TensorUpdates, _ops.TensorUpdates, dict[Any, int]] | None = None

    def _allocate(self) -> dict[str, np.ndarray]:
        layout = self._bound_layout()
        n, dtype = layout.size, layout.dtype
        return {name: np.zeros(n, dtype) for name in self._buffers_needed()}

    def _buffers_needed(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _segment_slices(self, group: int) -> Iterator[slice]:
        seg = self._segments
        for s in range(seg.n_seg):
            if seg.group[s] == group:
                yield slice(int(seg.bounds[s]), int(seg.bounds[s + 1]))

    # ------------------------------------------------------------------------------------------------ step
    def step(self, params: np.ndarray, grads: np.ndarray,
             clip: _clip.Clip | dict[str, Any] | None = None) -> dict[str, Any]:
        """One optimizer step: update ``params`` in place from ``grads`` (only read), with optional clipping.

        Returns ``{"lr": lr used (default group), "grad_norm": pre-clip global L2 norm or None,
        "clipped": bool, "skipped": bool}``.
        """
        self._check_buffers(params, grads)
        clip = _clip.get(clip)
        t = self.step_count
        lrs = self._fill_rows(t)  # checked before anything changes
        nt = self.n_threads
        segments, mode, arg, norm, clipped = self._segments, _ops.CLIP_SCALE, self._scales, None, False
        if isinstance(clip, _clip.ByValue):
            mode, arg = _ops.CLIP_VALUE, self._bounds
            arg[:] = clip.bounds
        elif isinstance(clip, _clip.ByTensorNorm):
            segments = self._tensor_segments()
            sumsq = np.array([_ops.sumsq(grads[lo:hi], self._block_sums, nt)
                              for lo, hi in zip(segments.bounds[:-1], segments.bounds[1:])])
            norm = math.sqrt(math.fsum(sumsq))
            if not self._finite_or_skip(norm, clip):
                return {"lr": lrs[0], "grad_norm": norm, "clipped": False, "skipped": True}
            arg = np.array([clip.coefficient(math.sqrt(s)) for s in sumsq])
            clipped = bool(np.any(arg < 1.0))
        else:
            arg.fill(1.0)
            if isinstance(clip, _clip.ByGlobalNorm):
                norm = math.sqrt(_ops.sumsq(grads, self._block_sums, nt))
                if not self._finite_or_skip(norm, clip):
                    return {"lr": lrs[0], "grad_norm": norm, "clipped": False, "skipped": True}
                arg.fill(clip.coefficient(norm))
                clipped = arg[0] < 1.0
        rows = self._rows
        if self._single and segments is self._segments:
            hp = rows[segments.group[0]:segments.group[0] + 1]
        elif segments is self._segments:
            hp = np.take(rows, segments.group, axis=0, out=self._hp)
        else:
            hp = np.take(rows, segments.group, axis=0)
        count = self._call_kernel(grads, segments.bounds, hp, params, mode, arg, nt)
        if mode == _ops.CLIP_VALUE:
            clipped = count > 0
        return self._end_step(params, lrs, norm, clipped)

    def begin_fused_step(self, params: np.ndarray, grads: np.ndarray, clip: _clip.Clip | dict[str, Any] | None,
                         weights: dict[Any, str]) -> _fused.FusedStep | None:
        """Begin a step whose update of each weight in ``weights`` (a key -> the name of a 2-D entry of the
        layout) is applied inside the product that computes its gradient: the caller computes that gradient
        with ``fused.weight_gradient(key, a, b)`` (``grad = a @ b``, then the update of every block of it right
        after it is written, while it is in cache) and ends with ``fused.finish()``, which updates every other
        parameter and returns what ``step`` returns. The same bits as ``step`` after the products: the update
        is elementwise. None (take a plain ``step``) when clipping needs the whole gradient first (a norm
        clip); value clipping is applied on the fly as in ``step``. Nothing changes before the first product."""
        self._check_buffers(params, grads)
        clip = _clip.get(clip)
        if clip is not None and not isinstance(clip, _clip.ByValue):
            return None
        lrs = self._fill_rows(self.step_count)
        mode = _ops.CLIP_SCALE
        if isinstance(clip, _clip.ByValue):
            mode = _ops.CLIP_VALUE
            self._bounds[:] = clip.bounds
        fused, rest, slots = self._tensor_updates(params, grads, weights, mode)
        return _fused.FusedStep(lambda clipped: self._end_step(params, lrs, None, clipped), fused, rest, slots,
                                self.n_threads)

    def _check_buffers(self, params: np.ndarray, grads: np.ndarray) -> None:
        if self.layout is None:
            raise RuntimeError(f"{type(self).__name__}.step called before bind(layout)")
        n, dtype = self.layout.size, self.layout.dtype
        _check_flat("params", params, n, dtype, writeable=True)
        _check_flat("grads", grads, n, dtype, writeable=False)

    def _fill_rows(self, t: int) -> list[float]:
        """Every group's lr at step ``t`` (checked: a schedule's invalid value raises here, before any update) and
        its row of kernel hyperparameters in ``self._rows``."""
        lrs = [self.group_lr(gi, t) for gi in range(len(self._group_hyper))]
        for gi, h in enumerate(self._group_hyper):
            self._fill_row(self._rows[gi], h, lrs[gi], t)
        return lrs

    def _end_step(self, params: np.ndarray, lrs: list[float], norm: float | None, clipped: bool) -> dict[str, Any]:
        """After the update: the proximal L1 step, the step count, the step's info."""
        self._soft_threshold(params, lrs)
        self.step_count += 1
        return {"lr": lrs[0], "grad_norm": norm, "clipped": bool(clipped), "skipped": False}

    def _tensor_updates(self, params: np.ndarray, grads: np.ndarray, weights: dict[Any, str],
                        mode: int) -> tuple[_ops.TensorUpdates, _ops.TensorUpdates, dict[Any, int]]:
        """The row-update contexts of the ``weights`` entries and of every other entry, and each weight key's index
        in the first (made once per set of buffers, weights and clip mode: the contexts point into the buffers,
        ``self._rows`` and the clip constants)."""
        states = tuple(self.state.get(name) for name in self._state_order)
        names = tuple(weights.values())
        key = (names, mode, id(params), id(grads), id(self._rows), *map(id, states))
        if self._updates_key != key:
            layout = self._bound_layout()
            clip = self._bounds if mode == _ops.CLIP_VALUE else self._one
            group = self._segments.entry_group

            def contexts(entries: list[tuple[int, ParamEntry]]) -> _ops.TensorUpdates:
                blocks = [(e.offset, *e.shape) if len(e.shape) == 2 else (e.offset, 1, e.size) for _, e in entries]
                return _ops.tensor_updates(self._kernel, params, grads, states, blocks, self._rows,
                                           [group[i] for i, _ in entries], mode, clip)

            by_name = {e.name: (i, e) for i, e in enumerate(layout.entries)}
            for name in names:
                if name not in by_name or len(by_name[name][1].shape) != 2:
                    raise ValueError(f"{name!r} is not a 2-D parameter of the layout")
            rest = [(i, e) for i, e in enumerate(layout.entries) if e.name not in names and e.size]
            self._updates = (contexts([by_name[name] for name in names]), contexts(rest),
                             {k: slot for slot, k in enumerate(weights)})
            self._updates_key = key
        assert self._updates is not None
        return self._updates

    def _finite_or_skip(self, norm: float, clip: _clip.Clip) -> bool:
        """True when ``norm`` is finite; otherwise raise (error_if_nonfinite) or count a skipped step."""
        if math.isfinite(norm):
            return True
        if getattr(clip, "error_if_nonfinite", True):
            raise _clip.NonFiniteGradientError(
                f"the L2 norm of the gradients is {norm} at optimizer step {self.step_count}; nothing was "
                f"updated. Lower the lr, or pass clip={type(clip).__name__}(max_norm, error_if_nonfinite=False) "
                "to skip such steps")
        self.skipped_steps += 1
        return False

    def _tensor_segments(self) -> _groups.Segments:
        """The segments cut at every tensor (made once per binding): one coefficient per tensor."""
        if self._per_tensor is None:
            self._per_tensor = _groups.split_at_entries(self._segments, self._bound_layout())
        return self._per_tensor

    def _soft_threshold(self, params: np.ndarray, lrs: list[float]) -> None:
        """``prox_l1``: p <- sign(p) max(|p| - lr prox_l1, 0) on every group that has it, computed as
        p - clip(p, -tau, tau): the same rounding as the formula, and exactly 0 wherever |p| <= tau."""
        for gi, h in enumerate(self._group_hyper):
            if h["prox_l1"] == 0:
                continue
            tau = params.dtype.type(lrs[gi] * h["prox_l1"])
            if self._prox_scratch is None:
                self._prox_scratch = np.empty_like(params)
            for sl in self._segment_slices(gi):
                p, inside = params[sl], self._prox_scratch[sl]
                np.clip(p, -tau, tau, out=inside)
                p -= inside

    def _fill_row(self, row: np.ndarray, h: dict, lr: float, t: int) -> None:
        raise NotImplementedError

    def _call_kernel(self, grads: np.ndarray, bounds: np.ndarray, hp: np.ndarray, params: np.ndarray, mode: int,
                     arg: np.ndarray, n_threads: int | None) -> int:
        states = (self.state.get(name) for name in self._state_order)
        return getattr(_ops, f"{self._kernel}_step")(grads, bounds, hp, params, *states, mode, arg, n_threads,
                                                     check=False)

    # ---------------------------------------------------------------------------------- state and config
    def get_config(self) -> dict[str, Any]:
        """JSON-able description that recreates this optimizer (``optimizer_from_config``); no state."""
        cfg = class_config(self)
        for k in self.hyper_names:
            v = self.defaults[k]
            cfg[k] = _lr_config(v) if k == "lr" else (list(v) if isinstance(v, tuple) else v)
        groups = []
        for g in self.param_groups:
            groups.append({k: (_lr_config(v) if k == "lr" else (list(v) if isinstance(v, tuple) else v))
                           for k, v in g.items()})
        cfg["param_groups"] = groups or None
        return cfg

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit: step counters, the lr scales, hyperparameters (config), the
        parameter layout (names, shapes, offsets, kinds) and copies of the flat state buffers. ``"lr_scale"`` is
        one number when every group has the same scale (always so without ReduceOnPlateau and groups), else the
        list of ``lr_scales``."""
        if self.layout is None:
            raise RuntimeError("state_dict needs a bound optimizer (call bind(layout) first)")
        try:
            config = self.get_config()
        except TypeError:  # a plain-callable lr: the state still saves, the hyperparameters stay as constructed
            config = None
        return {
            "optimizer": type(self).__name__,
            "config": config,
            "step_count": self.step_count,
            "skipped_steps": self.skipped_steps,
            "lr_scale": self.lr_scale if len(set(self.lr_scales)) == 1 else list(self.lr_scales),
            "layout": self.layout.describe(),
            "dtype": str(self.layout.dtype),
            "state": {k: v.copy() for k, v in self.state.items()},
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore a ``state_dict()``: verifies the optimizer type and the parameter layout against the bound
        layout (or, if not bound yet, at ``bind``), then restores hyperparameters, counters and buffers. Every
        value is checked first (step counts: integers >= 0; lr_scale: a finite number >= 0, or one per group;
        buffers: finite, sums of squares >= 0): a refused state dict raises OptimizerStateError and changes
        nothing."""
        if not isinstance(sd, dict) or "optimizer" not in sd or "state" not in sd:
            raise OptimizerStateError("not an optimizer state dict (expected the dict from state_dict())")
        if sd["optimizer"] != type(self).__name__:
            raise OptimizerStateError(f"state dict is for {sd['optimizer']}, this optimizer is {type(self).__name__}")
        if self.layout is None:
            self._pending_state = sd
            return
        self._check_layout(sd, self.layout)
        self._restore(sd)

    @staticmethod
    def _check_layout(sd: dict[str, Any], layout: ParamLayout) -> None:
        saved, mine = sd.get("layout"), layout.describe()
        if saved != mine:
            diff = "different number of parameter arrays" if saved is None or len(saved) != len(mine) else next(
                f"entry {i}: saved {a} vs model {b}" for i, (a, b) in enumerate(zip(saved, mine)) if a != b)
            raise OptimizerStateError(f"optimizer state was saved for a different parameter layout ({diff})")
        if sd.get("dtype") != str(layout.dtype):
            raise OptimizerStateError(f"optimizer state has dtype {sd.get('dtype')}, the model {layout.dtype}")

    def _restore(self, sd: dict[str, Any]) -> None:
        old = (self.defaults, self.param_groups, self._group_hyper, getattr(self, "_decoupled", None))
        try:
            if sd.get("config") is not None:
                cfg = dict(sd["config"])
                cfg.pop("class", None)
                cfg.pop("name", None)  # fastnn 0.1 configs
                groups = cfg.pop("param_groups", None)
                hyper = {k: (_lr_from_config(v) if k == "lr" else v) for k, v in cfg.items()}
                if groups:
                    groups = [{k: (_lr_from_config(v) if k == "lr" else v) for k, v in g.items()} for g in groups]
                self._configure(self._config_args(hyper), groups)
            needed = self._buffers_needed()
            layout = self._bound_layout()
            n, dtype = layout.size, layout.dtype
            self._check_in_dtype(dtype)
            for name in needed:
                self._check_buffer(name, sd["state"].get(name), n, dtype)
            step_count = self._counter(sd["step_count"], "step_count")
            skipped_steps = self._counter(sd.get("skipped_steps", 0), "skipped_steps")
            lr_scales = self._saved_lr_scales(sd.get("lr_scale", 1.0))
        except Exception as exc:
            self.defaults, self.param_groups, self._group_hyper = old[:3]
            if old[3] is not None:
                self._decoupled = old[3]
            if isinstance(exc, OptimizerStateError):
                raise
            raise OptimizerStateError(f"invalid optimizer state dict: {type(exc).__name__}: {exc}") from exc
        self._resolve()
        self.state = {name: np.array(sd["state"][name], dtype=dtype, copy=True) for name in needed}
        self.step_count = step_count
        self.skipped_steps = skipped_steps
        self.lr_scales = lr_scales

    def _check_buffer(self, name: str, buf: object, n: int, dtype: np.dtype) -> None:
        """A saved state buffer: a (n,) array of ``dtype`` whose values a step can have written (finite; a sum of
        squares >= 0, where +inf is an overflowed square, as the step itself makes it)."""
        if not isinstance(buf, np.ndarray) or buf.shape != (n,) or buf.dtype != dtype:
            raise OptimizerStateError(f"state buffer {name!r} is missing or not a ({n},) {dtype} array")
        self._check_buffer_values(name, buf)

    def check_state(self) -> None:
        """Refuse (OptimizerStateError naming the buffer) a state :meth:`load_state_dict` would refuse to restore:
        the NaN or inf moments of a diverged run. fit checks it before writing a checkpoint."""
        for name in self._buffers_needed() if self.layout is not None else ():
            self._check_buffer_values(name, self.state[name])

    def _check_buffer_values(self, name: str, buf: np.ndarray) -> None:
        if name in self._sums_of_squares:
            if not (buf >= 0).all():
                raise OptimizerStateError(f"state buffer {name!r} holds negative or NaN values; it is a sum of "
                                          "squares (>= 0)")
        elif not np.isfinite(buf).all():
            raise OptimizerStateError(f"state buffer {name!r} holds NaN or infinite values")

    def _saved_lr_scales(self, saved: object) -> list[float]:
        """A state dict's ``lr_scale``: one number for every group (what fastnn before per-group scales wrote), or
        one per group."""
        n_groups = len(self._group_hyper)
        if not isinstance(saved, list):
            return [check_scalar(saved, "lr_scale", numbers.Real, min_val=0.0, error=OptimizerStateError)] * n_groups
        if len(saved) != n_groups:
            raise OptimizerStateError(f"lr_scale has {len(saved)} values, one per parameter group, but the optimizer "
                                      f"has {n_groups} groups (the defaults and {n_groups - 1} param_groups)")
        return [check_scalar(v, f"lr_scale[{i}]", numbers.Real, min_val=0.0, error=OptimizerStateError)
                for i, v in enumerate(saved)]

    @staticmethod
    def _counter(value: object, name: str) -> int:
        return check_scalar(value, name, numbers.Integral, min_val=0, max_val=MAX_STEP, error=OptimizerStateError)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle and copy without the row-update contexts (raw pointers into this object's buffers: the copy makes
        its own at its first fused step) and without the owner (the model that trains the copy claims it)."""
        state = dict(self.__dict__)
        if "_updates" in state:
            state["_updates"] = state["_updates_key"] = None
        state.pop("_owner", None)  # a weak reference cannot be pickled, and a copy would point at the original
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Arrays unpickled read-only (joblib's ``mmap_mode="r"``) are copied: a step writes its state and rows. An
        optimizer pickled before per-group lr scales has one ``lr_scale`` for every group."""
        if "lr_scale" in state:
            state = dict(state)
            state["lr_scales"] = [state.pop("lr_scale")] * len(state["_group_hyper"])
        self.__dict__.update(state)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                setattr(self, name, np.array(value))
        self.state = {k: v if v.flags.writeable else np.array(v) for k, v in self.state.items()}

    def _config_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """Hyperparameters from a saved config (subclasses take out their constructor-only options)."""
        return dict(args)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={self.defaults[k]!r}" for k in self.hyper_names)
        if self.param_groups:
            args += f", param_groups={self.param_groups!r}"
        return f"{type(self).__name__}({args})"


def _check_flat(name: str, a: object, n: int, dtype: np.dtype, writeable: bool) -> None:
    if type(a) is not np.ndarray and not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the layout's), got {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{name} must be the flat buffer of shape ({n},), got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} must be writeable")


# ============================================================================================== optimizers
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening and Nesterov (``torch.optim.SGD``).

    With g the gradient (after clipping), mu = momentum, tau = dampening::

        g <- g + weight_decay * p                       (coupled L2)
        b <- g                       at the first step   (mu != 0; dampening not applied)
        b <- mu * b + (1 - tau) * g  afterwards
        d <- g + mu * b  (nesterov)  else  d <- b       (d = g when mu == 0)
        p <- p - lr * d

    The momentum buffer is not scaled by lr (PyTorch's convention; Keras/sklearn store lr*b instead, which
    differs when lr changes). Nesterov requires momentum > 0 and dampening == 0.
    """

    _hyper = ("momentum", "dampening", "weight_decay", "nesterov")
    _kernel = "sgd"
    _state_order = ("momentum_buffer",)

    def __init__(self, lr: LR = 1e-3, momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, *, prox_l1: float = 0.0, param_groups: ParamGroups = None) -> None:
        super().__init__(lr, param_groups, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, prox_l1=prox_l1)

    def _check_hyper(self, h, where):
        _real(h, "momentum", where, min_val=0.0)
        _real(h, "dampening", where)
        _flag(h, "nesterov", where)
        self._check_weight_decay(h, where)
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError(f"{where}Nesterov momentum requires a momentum and zero dampening")

    def _buffers_needed(self):
        return ("momentum_buffer",) if any(h["momentum"] != 0 for h in self._group_hyper) else ()

    def _fill_row(self, row, h, lr, t):
        f = _ops.HP["sgd"]
        row[f.lr] = lr
        row[f.weight_decay] = h["weight_decay"]
        row[f.momentum] = h["momentum"]
        row[f.one_minus_dampening] = 1.0 - h["dampening"]
        row[f.nesterov] = 1.0 if h["nesterov"] else 0.0
        row[f.first_step] = 1.0 if t == 0 else 0.0


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``)::

        g <- g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s <- s + g^2                                     (s starts at initial_accumulator_value)
        p <- p - clr * g / (sqrt(s + eps_root) + eps)   (eps outside the sqrt; eps_root = 0 by default)

    The chapter's (and Keras's) ``lr / sqrt(s + epsilon)`` is ``eps=0, eps_root=epsilon``.

    ``initial_accumulator_value`` may differ per parameter group here; PyTorch fills every group's state with
    the constructor's value. One that is inf in the model's dtype (1e300 as float32) is refused at bind, as
    torch refuses it.
    """

    _hyper = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps", "eps_root")
    _kernel = "adagrad"
    _state_order = ("sum",)
    _sums_of_squares = ("sum",)
    _state_fills = ("initial_accumulator_value",)

    def __init__(self, lr: LR = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, eps_root: float = 0.0,
                 prox_l1: float = 0.0, param_groups: ParamGroups = None) -> None:
        super().__init__(lr, param_groups, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, eps_root=eps_root,
                         prox_l1=prox_l1)

    def _check_hyper(self, h, where):
        _real(h, "lr_decay", where, min_val=0.0)
        self._check_weight_decay(h, where)
        _real(h, "initial_accumulator_value", where, min_val=0.0)
        self._check_eps_pair(h, where)

    def _buffers_needed(self):
        return ("sum",)

    def _vanishing_eps(self, h, as_dtype):
        return self._vanishing_pair(h, as_dtype, h["eps_root"])

    def _allocate(self):
        state = super()._allocate()
        for gi, h in enumerate(self._group_hyper):
            for sl in self._segment_slices(gi):
                state["sum"][sl] = h["initial_accumulator_value"]
        return state

    def _fill_row(self, row, h, lr, t):
        f = _ops.HP["adagrad"]
        row[f.clr] = lr / (1 + t * h["lr_decay"])  # t here is step_count = (1-based step) - 1
        row[f.weight_decay] = h["weight_decay"]
        row[f.eps] = h["eps"]
        row[f.eps_root] = h["eps_root"]


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``)::

        g <- g + weight_decay * p
        v <- alpha * v + (1 - alpha) * g^2
        centered:  gbar <- lerp(gbar, g, 1 - alpha);  avg = sqrt(v - gbar^2 + eps_root) + eps
        else:      avg = sqrt(v + eps_root) + eps        (eps outside the sqrt; TensorFlow/Keras: inside)
        momentum > 0:  b <- momentum * b + g / avg;  p <- p - lr * b
        else:          p <- p - lr * g / avg

    The chapter's (and TensorFlow's) ``lr / sqrt(v + epsilon)`` is ``eps=0, eps_root=epsilon`` (optax's
    ``rmsprop(eps_in_sqrt=True)``). Centered, an infinite v (a gradient whose square overflowed) gives an infinite
    avg and so a zero update, as torch's fused ``v - gbar^2`` does, not inf - inf = NaN.
    """

    _hyper = ("alpha", "eps", "weight_decay", "momentum", "centered", "eps_root")
    _kernel = "rmsprop"
    _state_order = ("square_avg", "grad_avg", "momentum_buffer")
    _sums_of_squares = ("square_avg",)

    def __init__(self, lr: LR = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, *, eps_root: float = 0.0, prox_l1: float = 0.0,
                 param_groups: ParamGroups = None) -> None:
        super().__init__(lr, param_groups, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, eps_root=eps_root, prox_l1=prox_l1)

    def _check_hyper(self, h, where):
        self._check_eps_pair(h, where)
        _real(h, "momentum", where, min_val=0.0)
        self._check_weight_decay(h, where)
        _real(h, "alpha", where, min_val=0.0, max_val=1.0)
        _flag(h, "centered", where)

    def _buffers_needed(self):
        names = ["square_avg"]
        if any(h["centered"] for h in self._group_hyper):
            names.append("grad_avg")
        if any(h["momentum"] > 0 for h in self._group_hyper):
            names.append("momentum_buffer")
        return tuple(names)

    def _vanishing_eps(self, h, as_dtype):
        return self._vanishing_pair(h, as_dtype, h["eps_root"])

    def _fill_row(self, row, h, lr, t):
        f = _ops.HP["rmsprop"]
        row[f.lr] = lr
        row[f.weight_decay] = h["weight_decay"]
        row[f.alpha] = h["alpha"]
        row[f.eps] = h["eps"]
        row[f.momentum] = h["momentum"]
        row[f.centered] = 1.0 if h["centered"] else 0.0
        row[f.eps_root] = h["eps_root"]


class Adadelta(Optimizer):
    """Adadelta (``torch.optim.Adadelta``)::

        g <- g + weight_decay * p
        v <- rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g      (eps inside both square roots)
        u <- rho * u + (1 - rho) * delta^2
        p <- p - lr * delta                            (PyTorch's lr=1.0 default; Keras uses 0.001)
    """

    _hyper = ("rho", "eps", "weight_decay")
    _kernel = "adadelta"
    _state_order = ("square_avg", "acc_delta")
    _sums_of_squares = ("square_avg", "acc_delta")

    def __init__(self, lr: LR = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0, *,
                 prox_l1: float = 0.0, param_groups: ParamGroups = None) -> None:
        super().__init__(lr, param_groups, rho=rho, eps=eps, weight_decay=weight_decay, prox_l1=prox_l1)

    def _check_hyper(self, h, where):
        _real(h, "rho", where, min_val=0.0, max_val=1.0)
        self._check_eps(h, where)
        self._check_weight_decay(h, where)

    def _buffers_needed(self):
        return ("square_avg", "acc_delta")

    def _vanishing_eps(self, h, as_dtype):
        return f"eps={h['eps']!r} is" if as_dtype(h["eps"]) == 0 else ""  # inside both square roots: 0 / 0

    def _fill_row(self, row, h, lr, t):
        f = _ops.HP["adadelta"]
        row[f.lr] = lr
        row[f.weight_decay] = h["weight_decay"]
        row[f.rho] = h["rho"]
        row[f.eps] = h["eps"]


class Adam(Optimizer):
    """Adam / AMSGrad (``torch.optim.Adam``)::

        g <- g + weight_decay * p                      (coupled L2; decoupled_weight_decay=True: AdamW's rule)
        m <- lerp(m, g, 1 - beta1)                     (= beta1 * m + (1 - beta1) * g)
        v <- beta2 * v + (1 - beta2) * g^2
        amsgrad:  vmax <- max(vmax, v); use vmax for v  (max of the raw, not bias-corrected, v)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t) + eps_root) + eps)

    eps is added outside the square root, after bias correction (PyTorch's and the paper's Algorithm 1;
    Keras/sklearn use an "epsilon hat" that equals eps * sqrt(1 - beta2^t) here). eps_root (default 0) is
    optax's term inside it; the chapter's ``m_hat / sqrt(v_hat + epsilon)`` is ``eps=0, eps_root=epsilon``.
    The kernel computes ``sqrt(v + eps_root (1 - beta2^t)) / sqrt(1 - beta2^t)``, torch's expression when
    eps_root = 0.
    """

    _hyper = ("betas", "eps", "weight_decay", "amsgrad", "eps_root")
    _kernel = "adam"
    _state_order = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _sums_of_squares = ("exp_avg_sq", "max_exp_avg_sq")
    _decoupled_default = False

    def __init__(self, lr: LR = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, decoupled_weight_decay: bool = False,
                 eps_root: float = 0.0, prox_l1: float = 0.0, param_groups: ParamGroups = None) -> None:
        self._decoupled = check_scalar(decoupled_weight_decay, "decoupled_weight_decay", bool)
        super().__init__(lr, param_groups, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         eps_root=eps_root, prox_l1=prox_l1)

    def _check_hyper(self, h, where):
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}betas must be a pair (beta1, beta2), got {betas!r}")
        h["betas"] = tuple(check_scalar(b, f"{where}betas[{i}]", numbers.Real, min_val=0.0, max_val=1.0,
                                        include_boundaries="left") for i, b in enumerate(betas))
        self._check_eps_pair(h, where)
        self._check_weight_decay(h, where)
        _flag(h, "amsgrad", where)

    def _buffers_needed(self):
        names: tuple[str, ...] = ("exp_avg", "exp_avg_sq")
        if any(h["amsgrad"] for h in self._group_hyper):
            names += ("max_exp_avg_sq",)
        return names

    def _vanishing_eps(self, h, as_dtype):
        if h["eps_root"] == 0:
            return self._vanishing_pair(h, as_dtype, 0.0)
        # the kernel adds eps_root * (1 - beta2^t), smallest at the first step
        return self._vanishing_pair(h, as_dtype, h["eps_root"] * (1 - h["betas"][1]), "eps_root * (1 - beta2)")

    def _fill_row(self, row, h, lr, t):
        b1, b2 = h["betas"]
        step = t + 1
        bc1 = 1 - b1 ** step
        bc2 = 1 - b2 ** step
        f = _ops.HP["adam"]
        row[f.step_size] = lr / bc1
        wd = h["weight_decay"]
        if self._decoupled:
            row[f.weight_decay], row[f.decay_factor] = 0.0, 1 - lr * wd
        else:
            row[f.weight_decay], row[f.decay_factor] = wd, 1.0
        row[f.beta1] = b1
        row[f.beta2] = b2
        row[f.eps] = h["eps"]
        row[f.bc2_sqrt] = bc2 ** 0.5
        row[f.amsgrad] = 1.0 if h["amsgrad"] else 0.0
        row[f.eps_root_bc2] = h["eps_root"] * bc2


    def _config_args(self, args):
        args = dict(args)
        if "decoupled_weight_decay" in args:
            self._decoupled = check_scalar(args.pop("decoupled_weight_decay"), "decoupled_weight_decay", bool)
        return args

    def get_config(self):
        cfg = super().get_config()
        if type(self) is Adam:
            cfg["decoupled_weight_decay"] = self._decoupled
        return cfg


class AdamW(Adam):
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay, default weight_decay=1e-2::

        p <- p * (1 - lr * weight_decay)               (before the Adam step; scaled by the scheduled lr)
        then Adam without the coupled term.
    """

    def __init__(self, lr: LR = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, eps_root: float = 0.0, prox_l1: float = 0.0,
                 param_groups: ParamGroups = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True, eps_root=eps_root,
                         prox_l1=prox_l1, param_groups=param_groups)


OPTIMIZERS = Registry("optimizer", (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW), legacy_key="name")


def optimizer_from_config(cfg: dict[str, Any]) -> Optimizer:
    """Recreate an optimizer from ``get_config()`` (hyperparameters and groups; no state). Also reads the
    ``"name"`` key of fastnn 0.1 configs."""
    cls, args = OPTIMIZERS.split(cfg)
    groups = args.pop("param_groups", None)
    if "lr" in args:
        args["lr"] = _lr_from_config(args["lr"])
    if "betas" in args:
        args["betas"] = tuple(args["betas"])
    if groups:
        groups = [{k: (_lr_from_config(v) if k == "lr" else v) for k, v in g.items()} for g in groups]
    return cls(**args, param_groups=groups)


def get(optimizer: Optimizer | str | dict[str, Any], **kwargs: Any) -> Optimizer:
    """An Optimizer from an instance, a name ("adam", "sgd", ...; case-insensitive) plus kwargs, or a config."""
    if isinstance(optimizer, Optimizer):
        if kwargs:
            raise TypeError("keyword arguments are only accepted with an optimizer name")
        return optimizer
    if isinstance(optimizer, dict):
        return optimizer_from_config(optimizer)
    if isinstance(optimizer, str):
        by_lower = {k.lower(): v for k, v in OPTIMIZERS.items()}
        cls = by_lower.get(optimizer.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {sorted(by_lower)}")
        return cls(**kwargs)
    raise TypeError(f"optimizer must be an Optimizer, a name or a config dict, got {type(optimizer).__name__}")

"""``fastnn schedule NAME --arg value ... [--steps N] [--plot out.png]``: print (and optionally plot) the
learning rate a schedule gives at each optimizer step.

Examples::

    fastnn schedule cosine --lr 0.1 --total-steps 100
    fastnn schedule cosine --lr 0.1 --total-steps 1000 --warmup-steps 100 --every 50
    fastnn schedule cyclic --base-lr 0.001 --max-lr 0.1 --step-size-up 20 --mode triangular2 --steps 120
    fastnn schedule onecycle --max-lr 0.1 --total-steps 500 --plot onecycle.png   (needs matplotlib)

Every schedule takes ``--warmup-steps`` / ``--start-factor`` to put fastnn.optim.schedules.Warmup in front of
it.
"""
from __future__ import annotations

import argparse
import inspect
import re
import textwrap

from ..optim import schedules
from ._types import UsageError, checked, int_list, integer, positive_int, pyplot_for, real, replaced_file

COMMAND = "schedule"
MAX_STEPS = 1_000_000  # values are listed one per line (and computed one by one)
# what _default_steps lists when --steps is not given, as --help states it
DEFAULT_STEPS = ("the schedule's total_steps + 1 (onecycle: total_steps), three cycles + 1 for cyclic, two restart "
                 "periods + 1 for sgdr (three with T_mult > 1), twice the warmup + 1 for warmup, else 100")

# option dest -> (argparse type or None for a flag, help); dests equal the schedule constructors' parameter names.
# The types check each value alone while parsing; the constructor then checks the ranges and the combinations.
_OPTIONS = {
    "lr": (real("lr"), "initial / peak learning rate"),
    "step_size": (integer("step_size"), "StepDecay: steps between decays"),
    "gamma": (real("gamma"), "decay factor (StepDecay, MultiStep, Exponential; Cyclic exp_range)"),
    "milestones": (checked(int_list, expected="comma-separated steps such as 30,60,90"),
                   "MultiStep: comma-separated steps, e.g. 30,60,90"),
    "decay_rate": (real("decay_rate"), "InverseTime: lr0 / (1 + decay_rate * t / decay_steps)"),
    "decay_steps": (integer("decay_steps"), "InverseTime: steps per unit of decay"),
    "staircase": (None, "InverseTime: decay in whole units of decay_steps"),
    "total_steps": (integer("total_steps"), "Cosine, Polynomial, OneCycle: length of the schedule"),
    "min_lr": (real("min_lr"), "Cosine, Polynomial: final lr (default 0)"),
    "power": (real("power"), "Polynomial: exponent (default 1, linear)"),
    "base_lr": (real("base_lr"), "Cyclic: lower bound"),
    "max_lr": (real("max_lr"), "Cyclic: upper bound; OneCycle: peak"),
    "step_size_up": (integer("step_size_up"), "Cyclic: steps of the rising half"),
    "step_size_down": (integer("step_size_down"), "Cyclic: steps of the falling half (default: step_size_up)"),
    "mode": (str, "Cyclic: " + ", ".join(schedules.Cyclic.MODES)),
    "T_0": (integer("T_0"), "CosineWarmRestarts: length of the first period"),
    "T_mult": (integer("T_mult"), "CosineWarmRestarts: period growth factor (integer >= 1)"),
    "eta_min": (real("eta_min"), "CosineWarmRestarts: minimum lr"),
    "peak_decay": (real("peak_decay"), "CosineWarmRestarts: each restart's peak times this (default 1, torch's)"),
    "pct_start": (real("pct_start"), "OneCycle: fraction of steps spent rising (default 0.3)"),
    "div_factor": (real("div_factor"), "OneCycle: initial lr = max_lr / div_factor (default 25)"),
    "final_div_factor": (real("final_div_factor"), "OneCycle: final lr = initial lr / final_div_factor (default 1e4)"),
    "anneal": (str, "OneCycle: cos or linear"),
}
_WARMUP_OPTIONS = ("warmup_steps", "start_factor")

# values of the arguments a schedule cannot do without, when the command line leaves them out: so that
# ``fastnn schedule NAME`` shows every schedule (the output says which were used)
_DEFAULTS = {"lr": 0.1, "step_size": 30, "milestones": [30, 60, 90], "gamma": 0.95, "decay_rate": 1.0,
             "decay_steps": 10, "total_steps": 100, "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 20, "T_0": 20,
             "warmup_steps": 10}

_ALIASES = {
    "constant": "Constant", "step": "StepDecay", "stepdecay": "StepDecay", "multistep": "MultiStep",
    "exponential": "Exponential", "exp": "Exponential", "inversetime": "InverseTime", "cosine": "Cosine",
    "polynomial": "Polynomial", "poly": "Polynomial", "warmup": "Warmup", "cyclic": "Cyclic",
    "cosinewarmrestarts": "CosineWarmRestarts", "sgdr": "CosineWarmRestarts", "warmrestarts": "CosineWarmRestarts",
    "onecycle": "OneCycle",
}
# the names the help lists (each is tested end to end)
LISTED = ("constant", "step", "multistep", "exponential", "inverse-time", "cosine", "polynomial", "warmup",
          "cyclic", "cosine-warm-restarts", "sgdr", "onecycle")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _schedule_name(name: str) -> str:
    """The schedule class's name for NAME (case, dashes and underscores do not matter)."""
    cls_name = _ALIASES.get(name.lower().replace("-", "").replace("_", ""))
    if cls_name is None:
        raise argparse.ArgumentTypeError(f"unknown schedule {name!r}; expected one of {', '.join(LISTED)} (case "
                                         f"and dashes do not matter; also: {', '.join(sorted(_ALIASES))})")
    return cls_name


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        COMMAND, help="print or plot a learning-rate schedule", usage="%(prog)s NAME [options]",
        description="Print the learning rate a schedule from fastnn.optim.schedules gives at each optimizer step "
        "(step counted from 0), optionally plot it. Pass the schedule's arguments as options; those a schedule "
        "needs and you leave out get a default (listed in the output). --warmup-steps puts a linear warmup in "
        "front of any schedule; NAME warmup is a warmup to a constant --lr.",
        epilog="example: fastnn schedule cosine --lr 0.1 --total-steps 100 --warmup-steps 10 --plot lr.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", type=_schedule_name, help=", ".join(LISTED))
    group = p.add_argument_group("schedule arguments (each schedule uses some of them)")
    for dest, (typ, help_text) in _OPTIONS.items():
        flags = [_flag(dest)] + ([_flag(dest.lower())] if dest != dest.lower() else [])
        if typ is None:
            group.add_argument(*flags, dest=dest, action="store_true", default=None, help=help_text)
        else:
            group.add_argument(*flags, dest=dest, type=typ, default=None, help=help_text)
    group.add_argument("--warmup-steps", type=integer("warmup_steps"), default=None,
                       help="linear warmup over this many steps, counted inside the total")
    group.add_argument("--start-factor", type=real("start_factor"), default=None,
                       help="warmup starts at start_factor * lr (default 0)")
    out = p.add_argument_group("output")
    out.add_argument("--steps", type=integer("steps", min_val=1, max_val=MAX_STEPS), default=None,
                     help=f"steps to list, at most {MAX_STEPS:,} (default: {DEFAULT_STEPS})")
    out.add_argument("--every", type=positive_int("every"), default=1, help="print every k-th step (default 1)")
    out.add_argument("--plot", metavar="PATH", type=replaced_file, default=None, help="also save a plot (PNG/SVG/PDF; "
                     "needs matplotlib: pip install 'fastnn[plot]')")
    return p


def build_schedule(args, defaults_used: list[str] | None = None):
    """The schedule the parsed arguments describe. A bad combination raises UsageError naming the options;
    ``defaults_used`` collects the options filled in from the defaults."""
    cls = getattr(schedules, _schedule_name(args.name))
    warmup = cls is schedules.Warmup or args.warmup_steps is not None
    if cls is schedules.Warmup:
        cls = schedules.Constant  # "warmup": a warmup to a constant lr
    elif args.start_factor is not None and args.warmup_steps is None:
        raise UsageError("--start-factor needs --warmup-steps")
    kwargs = _constructor_arguments(cls, args, defaults_used if defaults_used is not None else [])
    sched = _construct(cls, kwargs)
    if warmup:
        steps = args.warmup_steps
        if steps is None:
            steps = _DEFAULTS["warmup_steps"]
            if defaults_used is not None:
                defaults_used.append(f"--warmup-steps {steps}")
        extra = {} if args.start_factor is None else {"start_factor": args.start_factor}
        sched = _construct(schedules.Warmup, {"schedule": sched, "warmup_steps": steps, **extra})
    return sched


def _constructor_arguments(cls, args, defaults_used: list[str]) -> dict:
    """cls's keyword arguments from the options given, the defaults for required ones left out."""
    params = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    given = {dest: getattr(args, dest) for dest in _OPTIONS if getattr(args, dest, None) is not None}
    unused = [_flag(dest) for dest in given if dest not in params]
    if unused:
        raise UsageError(f"{cls.__name__} does not take {', '.join(unused)}; it takes "
                         f"{', '.join(_flag(k) for k in params)} (and any schedule --warmup-steps, --start-factor)")
    required = [k for k, p in inspect.signature(cls.__init__).parameters.items()
                if k != "self" and p.default is inspect.Parameter.empty]
    for dest in required:
        if dest not in given:
            given[dest] = value = _DEFAULTS[dest]
            defaults_used.append(f"{_flag(dest)} {','.join(map(str, value)) if isinstance(value, list) else value}")
    return given


def _construct(cls, kwargs: dict):
    """cls(**kwargs), its complaint reworded with the options' names (``total_steps`` -> ``--total-steps``)."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        names = "|".join(sorted((*_OPTIONS, *_WARMUP_OPTIONS), key=len, reverse=True))
        message = re.sub(rf"\b({names})\b", lambda m: _flag(m.group(1)), str(exc))
        raise UsageError(f"{cls.__name__}: {message}") from None


def _default_steps(sched) -> int:
    """Steps that show the whole shape (DEFAULT_STEPS, which --help prints): the schedule's length with its final
    value, a few cycles, or the warmup twice over."""
    inner = getattr(sched, "schedule", sched)
    if hasattr(inner, "total_steps"):
        return int(inner.total_steps) + (0 if isinstance(inner, schedules.OneCycle) else 1)
    if hasattr(inner, "step_size_up"):
        down = inner.step_size_down or inner.step_size_up
        return 3 * (inner.step_size_up + down) + 1
    if hasattr(inner, "T_0"):
        total, period = 0, inner.T_0
        for _ in range(3 if inner.T_mult > 1 else 2):
            total += period
            period *= inner.T_mult
        return total + 1
    if isinstance(sched, schedules.Warmup) and isinstance(inner, schedules.Constant):
        return 2 * sched.warmup_steps + 1
    return 100


def _plot(plt, path: str, sched, values) -> None:
    from ..plot import save_figure

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(len(values)), values, lw=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title("\n".join(textwrap.wrap(repr(sched), 110)), fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def run(args) -> int:
    defaults_used: list[str] = []
    sched = build_schedule(args, defaults_used)
    plt = pyplot_for(args.plot, "--plot") if args.plot is not None else None
    steps = args.steps if args.steps is not None else _default_steps(sched)
    values = sched.values(steps)
    if plt is not None:
        _plot(plt, args.plot, sched, values)
    print(f"# {sched!r}")
    if defaults_used:
        print(f"# defaults for the arguments not given: {' '.join(defaults_used)}")
    print(f"# {steps} steps, min {values.min():.6g}, max {values.max():.6g}, last {values[-1]:.6g}")
    print("step\tlr")
    for t in range(0, steps, args.every):
        print(f"{t}\t{values[t]:.8g}")
    if (steps - 1) % args.every:
        print(f"{steps - 1}\t{values[-1]:.8g}")
    if args.plot is not None:
        print(f"# plot written to {args.plot}")
    return 0

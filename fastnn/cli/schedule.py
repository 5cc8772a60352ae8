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
import sys
import textwrap

from ..optim import schedules

COMMAND = "schedule"

# option dest -> (type, help); dests equal the schedule constructors' parameter names
_OPTIONS = {
    "lr": (float, "initial / peak learning rate"),
    "step_size": (int, "StepDecay: steps between decays"),
    "gamma": (float, "decay factor (StepDecay, MultiStep, Exponential; Cyclic exp_range)"),
    "milestones": (str, "MultiStep: comma-separated steps, e.g. 30,60,90"),
    "decay_rate": (float, "InverseTime: lr0 / (1 + decay_rate * t / decay_steps)"),
    "decay_steps": (int, "InverseTime: steps per unit of decay"),
    "staircase": (None, "InverseTime: decay in whole units of decay_steps"),
    "total_steps": (int, "Cosine, Polynomial, OneCycle: length of the schedule"),
    "min_lr": (float, "Cosine, Polynomial: final lr (default 0)"),
    "power": (float, "Polynomial: exponent (default 1, linear)"),
    "base_lr": (float, "Cyclic: lower bound"),
    "max_lr": (float, "Cyclic: upper bound; OneCycle: peak"),
    "step_size_up": (int, "Cyclic: steps of the rising half"),
    "step_size_down": (int, "Cyclic: steps of the falling half (default: step_size_up)"),
    "mode": (str, "Cyclic: triangular, triangular2 or exp_range"),
    "T_0": (int, "CosineWarmRestarts: length of the first period"),
    "T_mult": (int, "CosineWarmRestarts: period growth factor (integer >= 1)"),
    "eta_min": (float, "CosineWarmRestarts: minimum lr"),
    "pct_start": (float, "OneCycle: fraction of steps spent rising (default 0.3)"),
    "div_factor": (float, "OneCycle: initial lr = max_lr / div_factor (default 25)"),
    "final_div_factor": (float, "OneCycle: final lr = initial lr / final_div_factor (default 1e4)"),
    "anneal": (str, "OneCycle: cos or linear"),
}

_ALIASES = {
    "constant": "Constant", "step": "StepDecay", "stepdecay": "StepDecay", "multistep": "MultiStep",
    "exponential": "Exponential", "exp": "Exponential", "inversetime": "InverseTime", "cosine": "Cosine",
    "polynomial": "Polynomial", "poly": "Polynomial", "warmup": "Warmup", "cyclic": "Cyclic",
    "cosinewarmrestarts": "CosineWarmRestarts", "sgdr": "CosineWarmRestarts", "warmrestarts": "CosineWarmRestarts",
    "onecycle": "OneCycle",
}


def _schedule_class(name: str):
    key = name.lower().replace("-", "").replace("_", "")
    cls_name = _ALIASES.get(key)
    if cls_name is None:
        raise ValueError(f"unknown schedule {name!r}; expected one of {sorted(set(_ALIASES.values()))} "
                         f"(case and dashes do not matter; aliases: {', '.join(sorted(_ALIASES))})")
    return getattr(schedules, cls_name)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        COMMAND, help="print or plot a learning-rate schedule",
        description="Print the learning rate a schedule from fastnn.optim.schedules gives at each optimizer step "
        "(step counted from 0), optionally plot it. Pass the schedule's arguments as options; "
        "--warmup-steps puts a linear warmup in front of any schedule.",
        epilog="example: fastnn schedule cosine --lr 0.1 --total-steps 100 --warmup-steps 10 --plot lr.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help="constant, step, multistep, exponential, inverse-time, cosine, "
                   "polynomial, warmup, cyclic, cosine-warm-restarts (sgdr), onecycle")
    group = p.add_argument_group("schedule arguments (each schedule uses some of them)")
    for dest, (typ, help_text) in _OPTIONS.items():
        flags = ["--" + dest.replace("_", "-")]
        if dest != dest.lower():
            flags.append("--" + dest.lower().replace("_", "-"))
        if typ is None:
            group.add_argument(*flags, dest=dest, action="store_true", default=None, help=help_text)
        else:
            group.add_argument(*flags, dest=dest, type=typ, default=None, help=help_text)
    group.add_argument("--warmup-steps", type=int, default=None, help="linear warmup over this many steps, "
                       "counted inside the total")
    group.add_argument("--start-factor", type=float, default=None, help="warmup starts at start_factor * lr "
                       "(default 0)")
    out = p.add_argument_group("output")
    out.add_argument("--steps", type=int, default=None, help="steps to list (default: total_steps, or one full "
                     "cycle, or 100)")
    out.add_argument("--every", type=int, default=1, help="print every k-th step (default 1)")
    out.add_argument("--plot", metavar="PATH", default=None, help="also save a plot (PNG/SVG/PDF; needs "
                     "matplotlib: pip install 'fastnn[plot]')")
    return p


def build_schedule(args):
    """The schedule described by parsed arguments (errors name the option)."""
    cls = _schedule_class(args.name)
    params = inspect.signature(cls.__init__).parameters
    kwargs, unused = {}, []
    for dest in _OPTIONS:
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest not in params:
            unused.append("--" + dest.replace("_", "-"))
            continue
        if dest == "milestones":
            try:
                value = [int(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise ValueError(f"--milestones expects comma-separated integers, got {value!r}") from None
        kwargs[dest] = value
    if unused:
        raise ValueError(f"{cls.__name__} does not take {', '.join(unused)}; it takes "
                         f"{', '.join('--' + k.replace('_', '-') for k in params if k not in ('self', 'schedule'))}")
    if cls is schedules.Warmup:
        if args.lr is None:
            raise ValueError("warmup needs --lr (the lr reached after the warmup)")
        if args.warmup_steps is None:
            raise ValueError("warmup needs --warmup-steps")
        return _warmup(schedules.Constant(args.lr), args)
    missing = [k for k, p in params.items() if k != "self" and p.default is inspect.Parameter.empty
               and k not in kwargs]
    if missing:
        raise ValueError(f"{cls.__name__} needs {', '.join('--' + k.replace('_', '-') for k in missing)}")
    sched = cls(**kwargs)
    if args.warmup_steps is not None:
        return _warmup(sched, args)
    if args.start_factor is not None:
        raise ValueError("--start-factor needs --warmup-steps")
    return sched


def _warmup(sched, args):
    kw = {} if args.start_factor is None else {"start_factor": args.start_factor}
    return schedules.Warmup(sched, args.warmup_steps, **kw)


def _default_steps(sched) -> int:
    inner = getattr(sched, "schedule", sched)
    for attr in ("total_steps",):
        if hasattr(inner, attr):
            return int(getattr(inner, attr)) + (0 if isinstance(inner, schedules.OneCycle) else 1)
    if hasattr(inner, "step_size_up"):
        down = inner.step_size_down or inner.step_size_up
        return 3 * (inner.step_size_up + down) + 1
    if hasattr(inner, "T_0"):
        total, period = 0, inner.T_0
        for _ in range(3 if inner.T_mult > 1 else 2):
            total += period
            period *= inner.T_mult
        return total + 1
    return 100


def run(args) -> int:
    sched = build_schedule(args)
    steps = args.steps if args.steps is not None else _default_steps(sched)
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    if args.every < 1:
        raise ValueError(f"--every must be >= 1, got {args.every}")
    values = sched.values(steps)
    if args.plot is not None:
        try:
            import matplotlib
        except ImportError:
            print("fastnn schedule: error: --plot needs matplotlib, which is not installed "
                  "(pip install matplotlib, or pip install 'fastnn[plot]')", file=sys.stderr)
            return 1
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(range(steps), values, lw=1.5)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.set_title("\n".join(textwrap.wrap(repr(sched), 110)), fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot)
        plt.close(fig)
    print(f"# {sched!r}")
    print(f"# {steps} steps, min {values.min():.6g}, max {values.max():.6g}, last {values[-1]:.6g}")
    print("step\tlr")
    for t in range(0, steps, args.every):
        print(f"{t}\t{values[t]:.8g}")
    if (steps - 1) % args.every:
        print(f"{steps - 1}\t{values[-1]:.8g}")
    if args.plot is not None:
        print(f"# plot written to {args.plot}")
    return 0

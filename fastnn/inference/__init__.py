"""Production inference: compile a model into a read-only plan, predict, save and load plan files.

    import fastnn.inference as fi
    plan = fi.compile(model)          # or model.compile_inference()
    plan.predict(X)                   # the model's predict; predict_logits, predict_proba
    plan.save("model.plan"); plan = fi.load("model.plan")

This package imports no training code, schedules, augmentation, preprocessing fitting or command line
(tests/test_structure.py checks it): a serving process that loads a plan file loads the kernels, the
containers and this package only. ``compile`` works on a model through its interface (like fastnn.fold).
"""
from .compile import compile
from .files import load, save
from .plan import InferencePlan

__all__ = ["InferencePlan", "compile", "load", "save"]

"""Learning-rate schedules: their home is fastnn.optim.schedules (with the optimizers), and ``ReduceOnPlateau``
is a fit callback in fastnn.training.callbacks; this module re-exports both under the old import path."""
from .optim.schedules import (
                              SCHEDULES,
                              Constant,
                              Cosine,
                              CosineWarmRestarts,
                              Cyclic,
                              Exponential,
                              InverseTime,
                              MultiStep,
                              OneCycle,
                              Polynomial,
                              Schedule,
                              StepDecay,
                              Warmup,
                              from_config,
)
from .training.callbacks import ReduceOnPlateau

__all__ = ["Constant", "StepDecay", "MultiStep", "Exponential", "InverseTime", "Cosine", "Polynomial", "Warmup",
           "Cyclic", "CosineWarmRestarts", "OneCycle", "Schedule", "ReduceOnPlateau", "from_config", "SCHEDULES"]

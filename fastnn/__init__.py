"""fastnn: train and serve feedforward neural networks fast on CPUs."""
__version__ = "0.1.0"

from ._config import load_extensions as _load_extensions

_load_extensions()

from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402

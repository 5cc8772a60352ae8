"""``python -m fastnn``: the ``fastnn`` command (fastnn.cli), for environments without the console script."""
import sys

from .cli import main

sys.exit(main())

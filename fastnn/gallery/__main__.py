"""``python -m fastnn.gallery [NAME ...] [--quick] [--out DIR]``: the same as ``fastnn gallery``."""
import sys

from ..cli import main

sys.exit(main(["gallery", *sys.argv[1:]]))

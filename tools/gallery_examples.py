"""Write examples/plot_NAME.py, the sphinx-gallery form of each fastnn.gallery experiment, from the module's
TITLE, CLAIM and SETUP (sphinx-gallery reads the docstring as text, so it is generated, not imported).
tests/test_gallery.py checks the committed examples match: after editing a module run
``PYTHONPATH=$PWD python tools/gallery_examples.py``."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 110, break_on_hyphens=False, break_long_words=False))


def source(name: str) -> str:
    from fastnn import gallery

    m = gallery.get(name)
    return f'''"""
{m.TITLE}
{"=" * len(m.TITLE)}

{_wrap(f"**Claim.** {m.CLAIM}")}

{_wrap(f"**Setup.** {m.SETUP}")}

The computation lives in ``fastnn.gallery.{name}``;
``fastnn gallery {name}`` runs the same experiment from the command line.
Every seed run is reported: none is picked.
"""

# %%
# Run the experiment (full mode; ``quick=True`` is the seconds-long version the tests assert on).
from fastnn import gallery
from fastnn.gallery import {name} as experiment

results = experiment.run(quick=False)

# %%
# The figure.
fig = experiment.plot(results)

# %%
# The measured numbers (mean ± standard deviation over the seeds) and the verdict.
gallery.show(experiment, results)
'''


def main() -> int:
    from fastnn import gallery

    for name in gallery.NAMES:
        (EXAMPLES / f"plot_{name}.py").write_text(source(name), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sphinx configuration of the fastnn documentation (``make -C docs html``; see docs/Makefile for the CI mode).

The build imports fastnn from the source tree (extensions built in place) or from the installed package. Two
parts of the site are generated at configuration time, so they follow the code instead of going stale:
``api/index.rst`` (the API reference: one autosummary entry per public module that imports; a module still being
written is listed as "not available in this build") and ``_generated/conventions_table.rst`` (the chapter's
conventions, with each option's availability probed on the code). See docs/_ext/fastnn_docs.py.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
if any((ROOT / "fastnn" / "_ext").glob("*.so")) or any((ROOT / "fastnn" / "_ext").glob("*.pyd")):
    sys.path.insert(0, str(ROOT))       # a source tree built in place; otherwise the installed fastnn
sys.path.insert(0, str(DOCS / "_ext"))

import fastnn_docs  # noqa: E402

import fastnn  # noqa: E402

project = "fastnn"
author = "the fastnn developers"
copyright = "the fastnn developers, BSD-3-Clause"
release = fastnn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "_gallery_src"]

# --- generated sources (before autosummary scans the sources) ---
fastnn_docs.write_api_index(DOCS / "api" / "index.rst")
fastnn_docs.write_conventions_table(DOCS / "_generated" / "conventions_table.rst")

# --- autodoc / autosummary / numpydoc ---
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_docstring_signature = False    # a first line such as "RMSprop (``torch.optim.RMSprop``)::" is prose
autodoc_typehints = "none"             # signatures show the annotations; numpydoc owns the description
# fastnn's docstrings are prose with formulas and tables, not numpydoc sections: numpydoc renders them as they
# are (summary + extended summary) and validation stays off. Turn on checks here as docstrings gain sections.
numpydoc_validation_checks: set[str] = set()
numpydoc_show_class_members = False    # autosummary's module pages already list the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = False
nitpicky = False

# --- sphinx-gallery over ../examples (written by the gallery work of issue 15) ---
# The build must pass with the examples folder missing, empty or partial: fastnn_docs.gallery_source() hands
# sphinx-gallery ../examples when it has a gallery header, else a staging copy (docs/_gallery_src, generated)
# holding a header and whatever plot_*.py exist. CI passes -D plot_gallery=0: pages and code, no runs.
sphinx_gallery_conf = {
    "examples_dirs": [os.path.relpath(fastnn_docs.gallery_source(ROOT / "examples", DOCS / "_gallery_src"), DOCS)],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|_helpers?|conftest)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reference_url": {"fastnn": None},
    "doc_module": ("fastnn",),
    "backreferences_dir": None,
    "show_memory": False,
    "show_signature": False,
}



def setup(app):
    app.connect("autodoc-process-docstring", fastnn_docs.restore_literal_block, priority=400)  # before numpydoc
    app.connect("autodoc-process-docstring", fastnn_docs.escape_prose_docstring, priority=600)   # after it


# --- MyST (bench/RESULTS.md is included as Markdown) ---
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
suppress_warnings: list[str] = []

# --- HTML ---
html_theme = "pydata_sphinx_theme"
html_title = f"fastnn {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "conventions": [], "benchmarks": []}
html_show_sourcelink = False

# --- linkcheck: offline. External URLs are not fetched; local files and in-page anchors are checked. ---
linkcheck_ignore = [r"https?://.*", r"mailto:.*"]
linkcheck_anchors = True
linkcheck_timeout = 5

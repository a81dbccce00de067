"""Sphinx configuration for the gnll documentation.

Build with ``docs/build.sh`` (or the ``sphinx-build`` line inside it).  The
site must build with ``-W`` (warnings are errors) and must work without any
network access: MathJax is served from ``_static/mathjax`` (copied there by
the ``sphinx-mathjax-offline`` package) and the theme loads no web fonts.
"""

from __future__ import annotations

import doctest
import importlib
import sys
from pathlib import Path

import gnll

DOCS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS_DIR / "sphinxext"))

# -- Project information -----------------------------------------------------

project = "gnll"
author = "the gnll developers"
copyright = "the gnll developers"
version = release = getattr(gnll, "__version__", "unknown")

# -- General configuration ---------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    # Ships MathJax 3 and points ``mathjax_path`` at the local copy, so no
    # page ever loads a script from a CDN.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # Fragments written by the benchmark scripts; pulled in with ``include``.
    "_static/**",
    "sg_execution_times.rst",
    "auto_examples/sg_execution_times.rst",
]
root_doc = "index"
# Single backticks in docstrings (numpydoc style) name Python objects.
default_role = "py:obj"
nitpicky = False

# Math: MathJax 3 (local copy).  Keep the default \( \) and \[ \] delimiters;
# the browser test checks that none of them survive typesetting.
mathjax3_config = {
    "tex": {"tags": "ams"},
    "options": {"enableMenu": False},
}

# -- autodoc / autosummary / numpydoc -----------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- doctest -------------------------------------------------------------------

doctest_default_flags = (
    doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1
)
doctest_global_setup = """
import numpy as np
import gnll
"""

# -- sphinx-gallery ------------------------------------------------------------
# The example scripts live in ../examples (owned by the examples maintainers).

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "doc_module": ("gnll",),
    "backreferences_dir": "generated/backreferences",
    "min_reported_time": 1,
    # A teaching sequence rather than file names (see sphinxext/).
    "within_subsection_order": "gnll_gallery_order.TeachingOrder",
    "download_all_examples": True,
    "show_memory": False,
    # The timing page that sphinx-gallery writes loads jQuery and DataTables
    # from CDNs; the site must not make any external request, so skip it.
    "write_computation_times": False,
    "matplotlib_animations": False,
}

# -- HTML output -----------------------------------------------------------------

html_theme = "furo"
html_title = f"gnll {release}"
html_static_path = ["_static"]
html_css_files = ["gnll.css"]
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "navigation_with_keys": True,
}


# -- Optional content decided at build time ---------------------------------------
#
# Two parts of the site depend on things that may or may not exist when the
# docs are built.  Both are resolved by rewriting a marker line in the page
# source (``source-read``), so no directive ever points at something missing
# and the build stays warning-free either way.
#
# * ``gnll.torch`` (the PyTorch autograd wrappers) is documented only when
#   it imports, i.e. when PyTorch is installed.
# * The performance page includes the benchmark table and chart written by the
#   benchmark scripts to ``_static/benchmarks/`` when those files exist.

BENCH_DIR = DOCS_DIR / "_static" / "benchmarks"
TORCH_MARKER = ".. gnll-optional-torch-api"
BENCH_MARKER = ".. gnll-optional-benchmarks"


def _torch_module_available() -> bool:
    try:
        importlib.import_module("torch")
        importlib.import_module("gnll.torch")
    except Exception:  # ImportError, or a broken torch install
        return False
    return True


HAVE_GNLL_TORCH = _torch_module_available()

# Gallery examples that need PyTorch are named ``plot_torch_*.py``; without
# PyTorch they are left out instead of failing the build.
if not HAVE_GNLL_TORCH:
    sphinx_gallery_conf["ignore_pattern"] = r"__init__\.py|(^|[/\\])plot_torch_"
    # Pages left over from an earlier build with PyTorch are not part of this one.
    exclude_patterns.append("auto_examples/plot_torch_*")

TORCH_SECTION = """
PyTorch integration: ``gnll.torch``
-----------------------------------

.. automodule:: gnll.torch
   :members:
"""

NO_TORCH_SECTION = """
PyTorch integration: ``gnll.torch``
-----------------------------------

The reference for ``gnll.torch`` is generated only when PyTorch is installed
in the environment that builds these pages, and it was not installed for this
build.
"""

BENCH_MISSING = """
.. note::

   This copy of the documentation was built without benchmark results.  To
   include them, run the benchmark script from the root of the source tree,

   .. code-block:: console

      $ python benchmarks/compare.py --rst docs/_static/benchmarks/results.rst \\
            --plot docs/_static/benchmarks/speed.png

   which writes the tables (with a description of the machine) and the chart,
   and then rebuild the documentation.
"""


def _bench_section() -> str:
    parts = []
    table = BENCH_DIR / "results.rst"
    chart = BENCH_DIR / "speed.png"
    if table.is_file():
        parts.append(".. include:: /_static/benchmarks/results.rst\n")
    if chart.is_file():
        parts.append(
            ".. figure:: /_static/benchmarks/speed.png\n"
            "   :alt: Benchmark chart: time of each implementation relative to gnll\n"
            "   :width: 100%\n"
            "   :target: _static/benchmarks/speed.png\n\n"
            "   The benchmark results as a chart, written by the benchmark script\n"
            "   from the same run as the tables (click for the full-size image).\n"
        )
    if not parts:
        return BENCH_MISSING
    return "\n".join(parts)


def _rewrite_markers(app, docname, source):
    text = source[0]
    if TORCH_MARKER in text:
        text = text.replace(
            TORCH_MARKER, TORCH_SECTION if HAVE_GNLL_TORCH else NO_TORCH_SECTION
        )
    if BENCH_MARKER in text:
        text = text.replace(BENCH_MARKER, _bench_section())
        for name in ("results.rst", "speed.png"):
            if (BENCH_DIR / name).is_file():
                app.env.note_dependency(str(BENCH_DIR / name))
    source[0] = text


def _always_reread(app, env, added, changed, removed):
    # Whether the optional files exist can change between builds without any
    # page source changing; these two pages are cheap to re-read.
    return [d for d in ("performance", "api") if d in env.found_docs]


def setup(app):
    # Titles with math (e.g. of gallery examples) appear in the navigation of
    # every page, so MathJax must be loaded on every page, not only on pages
    # whose body contains math.
    app.set_html_assets_policy("always")
    app.connect("source-read", _rewrite_markers)
    app.connect("env-get-outdated", _always_reread)

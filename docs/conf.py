"""Sphinx configuration for the jetad documentation.

Build with warnings as errors, as ``tests/test_docs.py`` does::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference (``api.rst``) is rewritten at every build from the
packages' ``__all__`` lists, and the gallery runs ``examples/plot_*.py``.
"""

import os
import sys
import tempfile
from pathlib import Path

# headless plotting for the gallery and for anything autodoc imports
os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent

# Examples write their figure files to JETAD_EXAMPLE_OUTPUT (default: the
# current folder, which is examples/ under sphinx-gallery); keep the source
# tree clean. Their jet samples are cached in the temporary folder.
os.environ.setdefault(
    "JETAD_EXAMPLE_OUTPUT",
    os.path.join(tempfile.gettempdir(), "jetad_docs_example_output.png"),
)
sys.path.insert(0, str(HERE / "_ext"))

import jetad  # noqa: E402
import jetad_docs_helpers  # noqa: E402

jetad_docs_helpers.write_api_rst(HERE / "api.rst")
jetad_docs_helpers.write_if_changed(
    HERE / "_generated" / "benchmark_results.rst",
    jetad_docs_helpers.benchmark_results_rst(HERE.parent / "benchmarks" / "results", HERE),
)

# -- Project -----------------------------------------------------------------
project = "jetad"
author = "The jetad developers"
copyright = "The jetad developers, BSD-3-Clause"
release = jetad.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # serves MathJax from _static/ instead of a CDN, so pages read offline show maths
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_ext", "_templates", "_generated", "Thumbs.db", ".DS_Store",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.json"]
default_role = "literal"
# No intersphinx: the build must work offline (CI and developers' machines
# reach package registries only). References to numpy/sklearn names render
# as code without links.

# -- autodoc / autosummary ---------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the numpydoc sections carry the types
# Detectors import torch lazily inside jetad; autodoc imports the real modules.

# -- numpydoc ----------------------------------------------------------------
# Class templates list the public methods themselves (see _templates), so
# numpydoc does not add its own members tables or toctrees.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Docstring validation is not enforced in the build (the docstrings are owned
# by the modules' authors); run `python -m numpydoc lint` on a module to check.
numpydoc_validation_checks = set()

# -- MyST (for the Markdown pages, e.g. generation_cards.md) -----------------
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" mini-galleries on the API pages
    "doc_module": ("jetad",),
    "backreferences_dir": "gen_modules/backreferences",
    "min_reported_time": 1,
    # sphinx-gallery has no timeout option: this hook arms a SIGALRM timer of
    # JETAD_DOCS_EXAMPLE_TIMEOUT seconds around every example (unset: no limit).
    "reset_modules": ("matplotlib", "jetad_docs_helpers.example_timeout"),
    "reset_modules_order": "both",
    # examples must run, and a failing one fails the build
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    # sphinx-gallery skips examples whose source did not change since they
    # last ran in docs/auto_examples; tests/test_docs.py sets
    # JETAD_DOCS_RUN_STALE_EXAMPLES=1 so that an API change that breaks an
    # unchanged example still fails the build.
    "run_stale_examples": os.environ.get("JETAD_DOCS_RUN_STALE_EXAMPLES", "0") == "1",
    "show_memory": False,
    "write_computation_times": True,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"jetad {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_static_path = []
html_show_sourcelink = False
html_context = {"default_mode": "light"}

"""Sphinx configuration of the autosnn documentation (``make docs``).

Pages are Markdown (MyST). The reference tables (campaign fields, built-in spaces,
package layout, command line) are generated at build time by ``_ext/autosnn_docs.py``
into ``_generated/`` from the code itself, so they cannot drift from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))      # the autosnn of this checkout, not an installed copy
sys.path.insert(0, str(HERE / "_ext"))

import autosnn  # noqa: E402

project = "autosnn"
author = "the autosnn authors"
copyright = "the autosnn authors"
release = autosnn.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "autosnn_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated/*.md", "README.md", "Thumbs.db", ".DS_Store"]
# Files under _generated/ are written by autosnn_docs at every build and included by the pages.

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"autosnn {release}"
html_static_path = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": False}

# Nit-picky mode (-n) is on in `make docs`: every reference must resolve. There is no
# network at build time (no intersphinx), so the types of the libraries autosnn builds on
# are named, not linked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|np|numpy|pd|pandas|pymoo|ray|deap|spikingjelly|safetensors|yaml|argparse|pathlib|typing|collections|dataclasses)(\..*)?"),
    (r"py:class", r"(Path|Tensor|Module|Any|Callable|Sequence|Mapping|Iterable|Iterator|Literal|Optional|Union|NoneType|ndarray|DataFrame|Generator)"),
    # internals the public docstrings mention by name; they are not part of the API
    (r"py:.*", r"(MIXERS|PER_MIXER_BN|resolve_energy_model|evaluate_one|to_dict|collate|for_time_steps|abc\.ABC|autosnn\.fitness\.energy_models\.PER_INFERENCE|autosnn\.data\.frames\..*|autosnn\.device\..*|autosnn\.supernet\.layers\..*|autosnn\.search_spaces\.SearchSpace)"),
]

"""Sphinx configuration of pax's documentation site (``docs/``).

Build: ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "_ext"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pax  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "_tools"))
import make_figures  # noqa: E402

# the examples' training curves (quick mode), made once into docs/_generated/figures
make_figures.ensure()

project = "pax"
author = "pax contributors"
copyright = "pax contributors"
version = release = pax.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "pax_refs",
    "pax_signatures",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "_tools", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# netket is an optional dependency: its bridge is documented without it installed.
autodoc_mock_imports = ["netket"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Nitpicky mode (-n) checks every cross-reference; names from other libraries are not
# documented here (no intersphinx: the build must not need the network).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jaxlib|numpy|np|jnp|opax|optax|jmp|haiku|hk|netket|nk|safetensors)(\..*)?"),
    (r"py:.*", r"(typing|collections|types|abc|enum|contextlib|dataclasses|logging)\..*"),
    (r"py:.*", r"(Any|Callable|Optional|Union|Sequence|Mapping|Iterable|Iterator|TypeVar|T|Self)"),
    (r"py:.*", r"(ArrayLike|DTypeLike|Array|PRNGKey|PyTree|Pytree|Shape|Initializer)"),
    # private type variables and aliases of signatures (``T``, ``Carry``)
    (r"py:.*", r"pax\._src\.[\w.]+\.([A-Z]|Carry|Interpolate|Reducer|Rules|Skeleton)"),
    (r"py:.*", r"re\.Pattern"),
    (r"py:.*", r"(os\.PathLike|pathlib\.Path|NoneType|ellipsis|builtins\..*)"),
]

html_theme = "furo"
html_title = f"pax {release}"
html_static_path = ["_static"]
html_show_sourcelink = False

"""Sphinx configuration of the macforge API reference (``make docs`` -> ``build/docs/html``)."""

from importlib.metadata import version as _version

project = "macforge"
author = "macforge developers"
release = _version("macforge")
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode", "numpydoc"]

# numpydoc: sections of the public classes and functions; no autosummary tables of every member.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "none"          # numpydoc "Parameters" sections carry the types
nitpicky = False
intersphinx_mapping = {}            # offline builds: no inventories fetched

html_theme = "alabaster"
html_title = f"macforge {release}"
exclude_patterns = ["_build"]

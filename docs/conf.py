"""Sphinx configuration for the medgan-aug documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import medgan_aug

project = "medgan-aug"
author = "medgan-aug developers"
copyright = "2026, medgan-aug developers"
release = medgan_aug.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
napoleon_numpy_docstring = True
napoleon_google_docstring = False
autodoc_typehints = "description"
html_theme = "furo"
exclude_patterns = ["_build"]

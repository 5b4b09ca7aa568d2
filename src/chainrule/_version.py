"""The version of chainrule, in one place (``[tool.setuptools.dynamic]`` reads it)."""

__version__ = "0.1.0"

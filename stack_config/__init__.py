"""Typed stack configuration: declared once in ``schema``, read and checked by ``loader``."""

from stack_config.loader import ConfigError, load, load_from_pulumi
from stack_config.schema import StackConfig

__all__ = ["ConfigError", "StackConfig", "load", "load_from_pulumi"]

"""Reads a committed Pulumi.<stack>.yaml into the raw form the language host hands the program."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stack_config.loader import read_stack_file

ROOT = Path(__file__).resolve().parent.parent


def raw_config(stack: str) -> dict[str, Any]:
    """The stack file's config as Pulumi passes it: scalars as text, objects as JSON text."""
    return read_stack_file(ROOT, stack)

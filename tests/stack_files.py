"""Reads a committed Pulumi.<stack>.yaml into the raw form the language host hands the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def raw_config(stack: str) -> dict[str, Any]:
    """The stack file's config as Pulumi passes it: scalars as text, objects as JSON text."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    raw: dict[str, Any] = {}
    for name, value in (document.get("config") or {}).items():
        raw[name] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return raw

"""What every integration test needs: the project's CLI and plugins, and a throwaway file backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICY_PACK = str(ROOT / "policies")


def policy_config(stack: str) -> str:
    """The stack's enforcement levels, as `make up` and `make preview` pass them."""
    return str(ROOT / "policies" / "config" / f"{stack}.json")


def cli_env(state: Path) -> dict[str, str]:
    """The environment of a CLI run against a file backend in ``state``.

    PULUMI_HOME (the plugin cache with the project's providers) and PATH come from the Makefile; a run without
    them would look for plugins elsewhere, so it fails here by name instead.
    """
    home = os.environ.get("PULUMI_HOME")
    if not home or not (ROOT / ".tools" / "bin" / "pulumi").exists():
        pytest.fail("the project's toolchain is not set up: run these tests through `make integration` or `make test`")
    state.mkdir(exist_ok=True)
    return {
        "PULUMI_HOME": home,
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # Any attempt to download a plugin fails the run instead of reaching for the network.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }

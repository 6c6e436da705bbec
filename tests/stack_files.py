"""Reads a committed Pulumi.<stack>.yaml into the raw form the language host hands the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stack_config.loader import read_stack_file

ROOT = Path(__file__).resolve().parent.parent

# Stacks that do not build their images run the digests the pipeline promotes (`images.references`); the
# committed staging and prod files leave them to it. Tests stand in these.
PROMOTED = {
    role: f"registry.example.invalid/aurigraph/{role}@sha256:{digit * 64}"
    for role, digit in (("business", "1"), ("slim", "2"), ("validator", "3"))
}


# Alertmanager's credentials, which the operator sets as secrets in a stack that installs kube-prometheus-stack
# (staging and prod by default). Tests stand in these, as secrets.
ALERTMANAGER_CREDENTIALS = {
    name: f"test-only-{name}" for name in ("pagerduty-routing-key", "slack-webhook-url", "smtp-password", "sms-token")
}
SECRET_KEYS = ["aurigraph-infra:alertmanagerCredentials"]


def committed_config(stack: str) -> dict[str, Any]:
    """The stack file's config as Pulumi passes it: scalars as text, objects as JSON text."""
    return read_stack_file(ROOT, stack)


def raw_config(stack: str) -> dict[str, Any]:
    """As :func:`committed_config`, with promoted image references for a stack that builds none, and Alertmanager's
    credentials for a stack that installs kube-prometheus-stack (set them as the secrets in ``SECRET_KEYS``)."""
    raw = committed_config(stack)
    images = json.loads(raw.get("aurigraph-infra:images", "{}"))
    if not images.get("registry"):
        raw["aurigraph-infra:images"] = json.dumps(images | {"references": PROMOTED})
    if json.loads(raw.get("aurigraph-infra:monitoring", "{}")).get("installStack", True):
        raw["aurigraph-infra:alertmanagerCredentials"] = json.dumps(ALERTMANAGER_CREDENTIALS)
    return raw

"""No secret written in plain sight: ConfigMaps and containers' literal environment hold no credentials. Secrets
belong in Secrets (from Pulumi config secrets), where RBAC, encryption at rest and Pulumi's secret handling apply.
A violation names the key, never the value."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.kube import containers, describe, pod_template

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
# Names that say "this is a credential"; a name that says it only points at one (a file, a path) is fine.
SECRET_NAME = re.compile(r"password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential", re.I)
REFERENCE_NAME = re.compile(r"[_-](file|path|dir|name|ref)$", re.I)
# Values that are credentials whatever their name.
SECRET_VALUE = {
    "a private key": re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----"),
    "an AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a Slack webhook": re.compile(r"hooks\.slack\.com/services/"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "a password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
}


def secret_like(name: str, value: Any) -> str | None:
    """Why ``name: value`` looks like a credential, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    for what, pattern in SECRET_VALUE.items():
        if pattern.search(value):
            return f"holds {what}"
    if SECRET_NAME.search(name) and not REFERENCE_NAME.search(name):
        return "is named like a credential and holds a literal value"
    return None


def _literals(args: ResourceValidationArgs) -> Iterator[tuple[str, str, Any]]:
    """(where, name, value) of every literal a ConfigMap or a container's environment sets."""
    if args.resource_type == CONFIG_MAP:
        for name, value in (args.props.get("data") or {}).items():
            yield "data key", name, value
    pod = pod_template(args.resource_type, args.props)
    if pod is not None:
        for container in containers(pod):
            for variable in container.get("env") or []:
                if isinstance(variable, Mapping) and "value" in variable:
                    yield f"container {container.get('name')}'s variable", variable.get("name", ""), variable["value"]


def no_secret_literals(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    what = describe(args.resource_type, args.props, args.name)
    for where, name, value in _literals(args):
        reason = secret_like(name, value)
        if reason:
            report_violation(f"{what}: {where} {name} {reason}: keep it in a Secret", None)


POLICIES = [
    ResourceValidationPolicy(
        name="no-secret-literals",
        description="No ConfigMap value or literal container variable holds a credential (by its name or its shape).",
        validate=no_secret_literals,
    ),
]

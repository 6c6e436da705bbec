"""Reading Kubernetes objects as policies see them: the provider's inputs, in the API's own (camelCase) shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components.metadata import ENVIRONMENT_LABEL
from components.roles import ROLES

COMPONENT_LABEL = "app.kubernetes.io/component"
# The workload kinds whose pods a policy inspects, by the provider's type token; the path to each pod template.
WORKLOADS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:core/v1:Pod": (),
}
KIND = {token: token.rsplit(":", 1)[1] for token in WORKLOADS}


def whole(value: Any) -> Any:
    """Numbers reach policies as floats (a protobuf Struct has no integers, config included): 3.0 is the count 3."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def get(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``, or None where a member is missing."""
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def describe(resource_type: str, props: Mapping[str, Any], fallback: str) -> str:
    """`Kind name`, for messages: the object's Kubernetes name, else the Pulumi resource's."""
    kind = resource_type.rsplit(":", 1)[1]
    return f"{kind} {get(props, 'metadata', 'name') or fallback}"


def pod_template(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod (metadata and spec) a workload runs, or None for anything that runs no pods."""
    if resource_type not in WORKLOADS:
        return None
    template = get(props, *WORKLOADS[resource_type]) if WORKLOADS[resource_type] else props
    return template if isinstance(template, Mapping) else None


def containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every container of a pod, init containers included."""
    spec = get(pod, "spec") or {}
    for key in ("initContainers", "containers"):
        yield from spec.get(key) or []


def labels(props: Mapping[str, Any]) -> Mapping[str, str]:
    return get(props, "metadata", "labels") or {}


def environment(props: Mapping[str, Any]) -> str | None:
    """The environment the stack labelled the object with (components/metadata.py)."""
    return labels(props).get(ENVIRONMENT_LABEL)


def node_role(props: Mapping[str, Any]) -> str | None:
    """The Aurigraph role of an object (validator, business, slim), from its component label."""
    role = labels(props).get(COMPONENT_LABEL)
    return role if role in ROLES else None


def namespace(props: Mapping[str, Any]) -> str:
    return str(get(props, "metadata", "namespace") or "default")


def selects(selector: Mapping[str, Any] | None, object_labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions, or a plain map) selects ``object_labels``."""
    if not selector:
        return False
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(object_labels.get(key) != value for key, value in (match or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in object_labels
        if operator == "In" and not (present and object_labels[key] in values):
            return False
        if operator == "NotIn" and present and object_labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return bool(match) or bool(selector.get("matchExpressions"))

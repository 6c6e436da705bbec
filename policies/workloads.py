"""How every pod runs: not as root, within requests and limits, on a read-only root, without privilege, and (for
business nodes, which take clients' traffic) with the probes that keep a broken pod out of the Service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.kube import containers, describe, get, node_role, pod_template
from stack_config.kinds import cpu_millicores, memory_bytes

Check = Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[str]]


def _pod_policy(name: str, description: str, check: Check) -> ResourceValidationPolicy:
    """A policy run on the pod of every workload kind: ``check(what, props, pod)`` returns the problems found."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        pod = pod_template(args.resource_type, args.props)
        if pod is None:
            return
        what = describe(args.resource_type, args.props, args.name)
        for problem in check(what, args.props, pod):
            report_violation(problem, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


def _container_security(pod: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    """A security setting of a container, else of its pod (runAsNonRoot and runAsUser exist at both levels)."""
    own = get(container, "securityContext", key)
    return own if own is not None else get(pod, "spec", "securityContext", key)


def non_root(what: str, props: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    problems = []
    for container in containers(pod):
        name = container.get("name")
        if _container_security(pod, container, "runAsNonRoot") is not True:
            problems.append(f"{what}: container {name} may run as root: set securityContext.runAsNonRoot: true")
        elif _container_security(pod, container, "runAsUser") == 0:
            problems.append(f"{what}: container {name} runs as user 0 (root)")
    return problems


def resources(what: str, props: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    problems = []
    parsers = {"cpu": cpu_millicores, "memory": memory_bytes}
    for container in containers(pod):
        name = container.get("name")
        for resource, parse in parsers.items():
            request = get(container, "resources", "requests", resource)
            limit = get(container, "resources", "limits", resource)
            missing = [kind for kind, value in (("request", request), ("limit", limit)) if value is None]
            if missing:
                problems.append(f"{what}: container {name} has no {resource} {' or '.join(missing)}")
            elif parse(str(limit)) < parse(str(request)):
                problems.append(f"{what}: container {name}'s {resource} limit {limit} is below its request {request}")
    return problems


def read_only_root(what: str, props: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    return [
        f"{what}: container {c.get('name')} can write its root filesystem: set readOnlyRootFilesystem: true"
        for c in containers(pod)
        if get(c, "securityContext", "readOnlyRootFilesystem") is not True
    ]


def unprivileged(what: str, props: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    problems = []
    for container in containers(pod):
        name, security = container.get("name"), container.get("securityContext") or {}
        if security.get("privileged") is True:
            problems.append(f"{what}: container {name} is privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{what}: container {name} may escalate privileges: set allowPrivilegeEscalation: false")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{what}: container {name} keeps Linux capabilities: drop ALL")
        if capabilities.get("add"):
            problems.append(f"{what}: container {name} adds capabilities {', '.join(capabilities['add'])}")
    return problems


def business_probes(what: str, props: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    if node_role(props) != "business":
        return []
    return [
        f"{what}: container {c.get('name')} has no {probe} probe"
        for c in get(pod, "spec", "containers") or []
        for probe in ("liveness", "readiness")
        if not c.get(f"{probe}Probe")
    ]


POLICIES = [
    _pod_policy(
        "pods-run-as-non-root",
        "Every container of every workload runs as a non-root user (runAsNonRoot, and never user 0).",
        non_root,
    ),
    _pod_policy(
        "containers-have-requests-and-limits",
        "Every container has CPU and memory requests and limits, and no limit below its request.",
        resources,
    ),
    _pod_policy(
        "read-only-root-filesystem",
        "Every container's root filesystem is read-only (writable paths are volumes).",
        read_only_root,
    ),
    _pod_policy(
        "no-privilege-escalation",
        "No container is privileged or may escalate privileges, and every container drops ALL capabilities.",
        unprivileged,
    ),
    _pod_policy(
        "business-nodes-have-probes",
        "Business-node containers have liveness and readiness probes: clients' traffic only reaches ready pods.",
        business_probes,
    ),
]

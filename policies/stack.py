"""Rules that span objects, checked over the whole stack: every namespace that runs nodes denies traffic by
default, and every node workload is scraped by a ServiceMonitor (through a Service) or a PodMonitor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from policies.kube import describe, get, labels, namespace, node_role, pod_template, selects

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"


def _node_workloads(args: StackValidationArgs) -> list[tuple[Any, Mapping[str, Any]]]:
    """(resource, pod template) of every workload that runs an Aurigraph node."""
    found = []
    for resource in args.resources:
        pod = pod_template(resource.resource_type, resource.props)
        if pod is not None and node_role(resource.props) is not None:
            found.append((resource, pod))
    return found


def _denies_all(props: Mapping[str, Any]) -> bool:
    spec = props.get("spec") or {}
    return (
        not (spec.get("podSelector") or {}).get("matchLabels")
        and not (spec.get("podSelector") or {}).get("matchExpressions")
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def default_deny(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    denied = {namespace(r.props) for r in args.resources if r.resource_type == NETWORK_POLICY and _denies_all(r.props)}
    for ns in sorted({namespace(resource.props) for resource, _ in _node_workloads(args)} - denied):
        report_violation(
            f"namespace {ns} runs Aurigraph nodes but has no default-deny NetworkPolicy (every pod, "
            "Ingress and Egress, no rule)",
            None,
        )


def _watches_namespace(monitor: Mapping[str, Any], ns: str) -> bool:
    selector = get(monitor, "spec", "namespaceSelector") or {}
    if selector.get("any"):
        return True
    names = selector.get("matchNames")
    return ns in names if names else namespace(monitor) == ns


def monitored(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    services = [r.props for r in args.resources if r.resource_type == SERVICE]
    service_monitors = [r.props for r in args.resources if r.resource_type == SERVICE_MONITOR]
    pod_monitors = [r.props for r in args.resources if r.resource_type == POD_MONITOR]
    for resource, pod in _node_workloads(args):
        ns, pod_labels = namespace(resource.props), get(pod, "metadata", "labels") or {}
        by_pod = any(
            _watches_namespace(m, ns) and selects(get(m, "spec", "selector"), pod_labels) for m in pod_monitors
        )
        by_service = any(
            namespace(service) == ns
            and selects(get(service, "spec", "selector"), pod_labels)
            and any(
                _watches_namespace(m, ns) and selects(get(m, "spec", "selector"), labels(service))
                for m in service_monitors
            )
            for service in services
        )
        if not (by_pod or by_service):
            report_violation(
                f"{describe(resource.resource_type, resource.props, resource.name)} is scraped by no ServiceMonitor "
                "(through a Service) or PodMonitor: its alerts and dashboards would be blind",
                resource.urn,
            )


POLICIES = [
    StackValidationPolicy(
        name="namespaces-deny-by-default",
        description="Every namespace that runs Aurigraph nodes has a default-deny NetworkPolicy.",
        validate=default_deny,
    ),
    StackValidationPolicy(
        name="workloads-are-monitored",
        description="Every node workload is selected by a ServiceMonitor (through a Service) or a PodMonitor.",
        validate=monitored,
    ),
]

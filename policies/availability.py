"""Capacity that holds: autoscaler bounds that keep redundancy without runaway scale, and a validator disruption
budget that never lets a drain take the Raft group below its quorum."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.kube import describe, get, namespace, node_role, whole

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def _budget_count(value: Any, replicas: int) -> int | None:
    """A PodDisruptionBudget's count: an integer, or a percentage of the replicas (rounded up, as Kubernetes does)."""
    value = whole(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return -(-replicas * int(value[:-1]) // 100)
    return None


def hpa_bounds(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != HPA:
        return
    config = {key: whole(value) for key, value in args.get_config().items()}
    what = describe(args.resource_type, args.props, args.name)
    spec = args.props.get("spec") or {}
    low, high = whole(spec.get("minReplicas", 1)), whole(spec.get("maxReplicas"))
    if low < config["minReplicasFloor"]:
        report_violation(f"{what}: minReplicas {low} leaves no spare pod: at least {config['minReplicasFloor']}", None)
    if high is not None and high < low:
        report_violation(f"{what}: maxReplicas {high} is below minReplicas {low}", None)
    if high is not None and high > config["maxReplicasCeiling"]:
        report_violation(f"{what}: maxReplicas {high} is above the ceiling of {config['maxReplicasCeiling']}", None)
    for metric in spec.get("metrics") or []:
        target = whole(get(metric, "resource", "target", "averageUtilization"))
        name = get(metric, "resource", "name")
        if target is not None and not 30 <= target <= 90:
            report_violation(
                f"{what}: a {name} target of {target}% either never scales or scales too late: use 30 to 90", None
            )


def quorum(replicas: int) -> int:
    """Raft's majority: the votes a group of ``replicas`` needs to elect a leader and commit."""
    return replicas // 2 + 1


def validator_budget_keeps_quorum(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every validator StatefulSet is covered by a PodDisruptionBudget that keeps a quorum available."""
    budgets = [r for r in args.resources if r.resource_type == PDB and node_role(r.props) == "validator"]
    for resource in args.resources:
        if resource.resource_type != STATEFULSET or node_role(resource.props) != "validator":
            continue
        props: Any = resource.props
        replicas = int(whole(get(props, "spec", "replicas") or 1))
        needed = quorum(replicas)
        what = describe(resource.resource_type, props, resource.name)
        template_labels = get(props, "spec", "template", "metadata", "labels") or {}
        matching = [
            b.props
            for b in budgets
            if namespace(b.props) == namespace(props)
            and all(
                template_labels.get(k) == v for k, v in (get(b.props, "spec", "selector", "matchLabels") or {}).items()
            )
        ]
        if not matching:
            report_violation(f"{what}: no PodDisruptionBudget covers its {replicas} validators", resource.urn)
            continue
        for budget in matching:
            spec = budget.get("spec") or {}
            if "minAvailable" in spec:
                available = _budget_count(spec["minAvailable"], replicas)
            else:
                unavailable = _budget_count(spec.get("maxUnavailable", replicas), replicas)
                available = None if unavailable is None else replicas - unavailable
            if available is None:
                report_violation(
                    f"{what}: its PodDisruptionBudget's size is neither a count nor a percentage", resource.urn
                )
            elif available < needed:
                report_violation(
                    f"{what}: its PodDisruptionBudget keeps {available} of {replicas} validators available; "
                    f"Raft needs {needed}",
                    resource.urn,
                )


POLICIES = [
    ResourceValidationPolicy(
        name="autoscaler-bounds",
        description="Autoscalers keep a spare pod (minReplicas), a ceiling at or above the floor and within reason, "
        "and utilization targets between 30% and 90%.",
        validate=hpa_bounds,
        config_schema=PolicyConfigSchema(
            properties={
                "minReplicasFloor": {"type": "integer", "minimum": 1, "default": 2},
                "maxReplicasCeiling": {"type": "integer", "minimum": 1, "default": 100},
            }
        ),
    ),
    StackValidationPolicy(
        name="validator-budget-keeps-quorum",
        description="The validators' PodDisruptionBudget keeps a Raft quorum (replicas // 2 + 1) available.",
        validate=validator_budget_keeps_quorum,
    ),
]

"""`BusinessNodes`: the entry point for transactions, a Deployment scaled by an HPA behind the clients' Service.

Creates the Deployment (rolled with `maxUnavailable: 0`, so capacity never drops during a release; the
contract's liveness, readiness on `/api/v11/health` and a startup probe), an autoscaling/v2 HPA on CPU and
memory utilisation with a slow, stepwise scale-down, a PodDisruptionBudget, the clients' Service (80 to 9003,
443 to 9003 where the load balancer ends TLS, 9004 gRPC; a load balancer by default), and settings and
ServiceAccount. Exports ``name`` and
``grpc_target`` (the in-cluster gRPC address slim nodes follow).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import StackMetadata
from components.pod import (
    BUSINESS_READY_PATH,
    NodeRole,
    PodShape,
    Probes,
    role_pod,
    spread_affinity,
    spread_constraints,
    workload_annotations,
    workload_options,
)
from components.roles import GRPC_PORT
from stack_config.schema import ROLLOUT_TIMEOUT_SECONDS, NodeResources

ROLE = "business"
CPU_TARGET_PERCENT = 70
MEMORY_TARGET_PERCENT = 80
SCALE_DOWN_WINDOW_SECONDS = 300
AWS_LB = "service.beta.kubernetes.io/aws-load-balancer"


@dataclass(frozen=True)
class BusinessNodesArgs:
    metadata: StackMetadata
    namespace: str
    image: pulumi.Input[str]
    peers: str  # the validators' AURIGRAPH_PEERS
    replicas_min: int
    replicas_max: int
    resources: NodeResources
    service_type: str = "LoadBalancer"
    tls_certificate_arn: str | None = None
    image_pull_secret: pulumi.Input[str] | None = None
    # The image's uncompressed size, where known (built by this stack): annotated for the size-budget policy.
    image_size_bytes: pulumi.Input[int] | None = None
    # How long `up` waits for the workload's pods to be ready on a new template before the update fails.
    rollout_timeout_seconds: int = ROLLOUT_TIMEOUT_SECONDS


def service_annotations(service_type: str, tls_certificate_arn: str | None) -> dict[str, str] | None:
    """On AWS, a Network Load Balancer; with a certificate, TLS ends there on 443 and reaches 9003 as HTTP."""
    if service_type != "LoadBalancer":
        return None
    annotations = {f"{AWS_LB}-type": "nlb", f"{AWS_LB}-cross-zone-load-balancing-enabled": "true"}
    if tls_certificate_arn:
        annotations |= {f"{AWS_LB}-ssl-cert": tls_certificate_arn, f"{AWS_LB}-ssl-ports": "https"}
    return annotations


class BusinessNodes(pulumi.ComponentResource):
    """The business nodes (see the module's docstring for what it creates)."""

    name: pulumi.Output[str]
    grpc_target: str

    def __init__(self, name: str, args: BusinessNodesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.replicas_min > args.replicas_max:
            raise ValueError(f"replicas_min {args.replicas_min} is above replicas_max {args.replicas_max}")
        super().__init__("aurigraph:nodes:BusinessNodes", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        metadata, namespace = args.metadata, args.namespace
        labels, selector = metadata.labels(component=ROLE, name=ROLE), metadata.selector(component=ROLE, name=ROLE)
        self.grpc_target = f"{ROLE}.{namespace}.svc:{GRPC_PORT}"

        settings = {"AURIGRAPH_ROLE": ROLE, "AURIGRAPH_PEERS": args.peers}
        node = NodeRole(
            ROLE, namespace, metadata, args.image, args.resources, args.image_pull_secret, args.image_size_bytes
        )
        template = role_pod(
            name,
            node,
            settings,
            PodShape(
                probes=Probes(ready_path=BUSINESS_READY_PATH),
                affinity=spread_affinity(selector),
                topology_spread=spread_constraints(selector, nodes_enforced=False),
            ),
            child,
        )
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ROLE, namespace=namespace, labels=labels, annotations=workload_annotations(node)
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No replica count: the autoscaler owns it (at least replicas_min within seconds of creation), and
                # a count here would be reset by every `up`.
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge="25%"),
                ),
                min_ready_seconds=5,
                revision_history_limit=10,
                template=template,
            ),
            opts=workload_options(child, args.rollout_timeout_seconds),
        )
        autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, namespace=namespace, labels=labels),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=args.replicas_min,
                max_replicas=args.replicas_max,
                metrics=[utilisation("cpu", CPU_TARGET_PERCENT), utilisation("memory", MEMORY_TARGET_PERCENT)],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    # Up fast (a load spike queues transactions); down slowly, one pod a minute after five calm
                    # minutes, so a dip between bursts does not shed capacity the next burst needs.
                    scale_up=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=0,
                        select_policy="Max",
                        policies=[
                            k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Percent", value=100, period_seconds=30),
                            k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Pods", value=4, period_seconds=30),
                        ],
                    ),
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=SCALE_DOWN_WINDOW_SECONDS,
                        select_policy="Min",
                        policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Pods", value=1, period_seconds=60)],
                    ),
                ),
            ),
            opts=child,
        )
        budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-budget",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, namespace=namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # One business node at a time: a drain never removes more capacity than one pod's share.
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ROLE,
                namespace=namespace,
                labels=labels,
                annotations=service_annotations(args.service_type, args.tls_certificate_arn),
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=args.service_type,
                selector=selector,
                ports=client_ports(args.tls_certificate_arn),
                # Clients' addresses reach the nodes (rate limits, audit) and no second hop crosses nodes.
                external_traffic_policy="Local" if args.service_type != "ClusterIP" else None,
            ),
            opts=child,
        )
        # The workload's name, known once every part of it exists.
        self.name = pulumi.Output.all(
            deployment.metadata.name, autoscaler.metadata.name, budget.metadata.name, service.metadata.name
        ).apply(lambda names: str(names[0]))
        self.register_outputs({"name": self.name})


def client_ports(tls_certificate_arn: str | None) -> list[k8s.core.v1.ServicePortArgs]:
    """80 to 9003 and 9004 gRPC; 443 to 9003 only where the load balancer ends TLS (with a certificate), since
    the nodes speak plain HTTP and a 443 that answers in plain text would mislead every client."""
    ports = [k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")]
    if tls_certificate_arn:
        ports.append(k8s.core.v1.ServicePortArgs(name="https", port=443, target_port="http"))
    return [*ports, k8s.core.v1.ServicePortArgs(name="grpc", port=GRPC_PORT, target_port="grpc")]


def utilisation(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgs:
    return k8s.autoscaling.v2.MetricSpecArgs(
        type="Resource",
        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
            name=resource,
            target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )

"""`NodeNetwork`: who may talk to the nodes. NetworkPolicies, default deny, and an optional Istio mesh config.

A default-deny policy selects every pod of the namespace for ingress and egress; each allowance below then
names its source, destination and port, following the node contract (docs/reference/node-contract.md):

| from | to | ports |
|---|---|---|
| business | validators | 9005 Raft (its Raft client), 9004 gRPC |
| validators | validators | 9005 Raft |
| slim | business, validators | 9004 gRPC (following the chain) |
| Prometheus (monitoring namespace) | every node | 9003 (metrics) |
| clients (anywhere) | business | 9003 HTTP, 9004 gRPC |
| pods of the cluster | slim | 9003, 9004 (node-local reads) |
| every node | cluster DNS | 53 UDP and TCP |

With `istio`, a VirtualService (retries on connection failures) and a DestinationRule (outlier detection,
connection limits) for the business nodes' Service. Exports ``names``: the names of the policies (and of
the mesh objects), known once all exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import StackMetadata
from components.roles import GRPC_PORT, HTTP_PORT, RAFT_PORT

DNS_PORT = 53


@dataclass(frozen=True)
class Allowance:
    """Ingress to the pods of ``to`` from ``sources`` on ``ports``; the sources get the matching egress."""

    name: str
    to: str  # role
    ports: Sequence[int]
    from_roles: Sequence[str] = ()
    from_anywhere: bool = False  # clients outside the cluster
    from_cluster: bool = False  # any pod of any namespace
    from_monitoring: bool = False


ALLOWANCES = (
    Allowance("validators-from-business", to="validator", ports=(RAFT_PORT, GRPC_PORT), from_roles=("business",)),
    Allowance("validators-from-validators", to="validator", ports=(RAFT_PORT,), from_roles=("validator",)),
    Allowance("grpc-from-slim", to="validator", ports=(GRPC_PORT,), from_roles=("slim",)),
    Allowance("business-grpc-from-slim", to="business", ports=(GRPC_PORT,), from_roles=("slim",)),
    Allowance("business-from-clients", to="business", ports=(HTTP_PORT, GRPC_PORT), from_anywhere=True),
    Allowance("slim-from-cluster", to="slim", ports=(HTTP_PORT, GRPC_PORT), from_cluster=True),
    *(
        Allowance(f"{role}-metrics-from-prometheus", to=role, ports=(HTTP_PORT,), from_monitoring=True)
        for role in ("validator", "business", "slim")
    ),
)


@dataclass(frozen=True)
class NodeNetworkArgs:
    metadata: StackMetadata
    namespace: str
    monitoring_namespace: str = "monitoring"
    istio: bool = False


class NodeNetwork(pulumi.ComponentResource):
    """The namespace's NetworkPolicies (see the module's docstring for the table) and the optional mesh."""

    names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NodeNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aurigraph:network:NodeNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        metadata = args.metadata

        created: list[pulumi.Output[str]] = []

        def policy(policy_name: str, spec: k8s.networking.v1.NetworkPolicySpecArgs) -> None:
            made = k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=policy_name, namespace=args.namespace, labels=metadata.labels(component="network")
                ),
                spec=spec,
                opts=child,
            )
            created.append(made.metadata.name)

        def pods(role: str) -> k8s.meta.v1.LabelSelectorArgs:
            return k8s.meta.v1.LabelSelectorArgs(match_labels=metadata.selector(component=role, name=role))

        def tcp(ports: Sequence[int]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
            return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]

        policy(
            "default-deny",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
        )
        policy(
            "dns",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=DNS_PORT)
                            for protocol in ("UDP", "TCP")
                        ],
                    )
                ],
            ),
        )
        for allowance in ALLOWANCES:
            sources: list[k8s.networking.v1.NetworkPolicyPeerArgs] | None
            if allowance.from_anywhere:
                sources = None  # no `from`: every source, inside the cluster or not
            elif allowance.from_cluster:
                sources = [k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs())]
            elif allowance.from_monitoring:
                sources = [
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={"kubernetes.io/metadata.name": args.monitoring_namespace}
                        ),
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={"app.kubernetes.io/name": "prometheus"}
                        ),
                    )
                ]
            else:
                sources = [
                    k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=pods(role)) for role in allowance.from_roles
                ]
            policy(
                allowance.name,
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=pods(allowance.to),
                    policy_types=["Ingress"],
                    ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=sources, ports=tcp(allowance.ports))],
                ),
            )
            for role in allowance.from_roles:
                policy(
                    f"{role}-to-{allowance.name}",
                    k8s.networking.v1.NetworkPolicySpecArgs(
                        pod_selector=pods(role),
                        policy_types=["Egress"],
                        egress=[
                            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                                to=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=pods(allowance.to))],
                                ports=tcp(allowance.ports),
                            )
                        ],
                    ),
                )
        if args.istio:
            created += mesh(name, args, child)
        self.names = pulumi.Output.all(*created).apply(lambda names: [str(n) for n in names])
        self.register_outputs({"names": self.names})


def mesh(name: str, args: NodeNetworkArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Output[str]]:
    """Istio: retry a request whose connection failed, eject a business node that keeps failing."""
    host = f"business.{args.namespace}.svc.cluster.local"
    labels = args.metadata.labels(component="network")
    routes = k8s.apiextensions.CustomResource(
        f"{name}-business-routes",
        api_version="networking.istio.io/v1",
        kind="VirtualService",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="business", namespace=args.namespace, labels=labels),
        spec={
            "hosts": [host],
            "http": [
                {
                    "route": [{"destination": {"host": host, "port": {"number": 80}}}],
                    # Only failures before the request reached a node: a transaction is never sent twice.
                    "retries": {"attempts": 2, "perTryTimeout": "5s", "retryOn": "connect-failure,refused-stream"},
                    "timeout": "10s",
                }
            ],
        },
        opts=opts,
    )
    traffic = k8s.apiextensions.CustomResource(
        f"{name}-business-traffic",
        api_version="networking.istio.io/v1",
        kind="DestinationRule",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="business", namespace=args.namespace, labels=labels),
        spec={
            "host": host,
            "trafficPolicy": {
                "connectionPool": {"http": {"http2MaxRequests": 1000, "maxRequestsPerConnection": 100}},
                "outlierDetection": {
                    "consecutive5xxErrors": 5,
                    "interval": "10s",
                    "baseEjectionTime": "30s",
                    "maxEjectionPercent": 50,
                },
            },
        },
        opts=opts,
    )
    return [routes.id, traffic.id]

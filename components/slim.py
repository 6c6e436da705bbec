"""`SlimNodes`: one read-only follower per Kubernetes node, as a DaemonSet with a node-local Service.

Each slim node follows finalized blocks over gRPC from the business nodes and validators and serves reads to
the clients on its own node: the Service keeps traffic on the node it came from (`internalTrafficPolicy:
Local`). Small requests and limits from the stack config; tolerations from config so nodes with taints get one
too. Exports ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import StackMetadata
from components.pod import NodeRole, PodShape, role_pod, workload_annotations, workload_options
from components.roles import GRPC_PORT, HTTP_PORT
from stack_config.schema import ROLLOUT_TIMEOUT_SECONDS, NodeResources

ROLE = "slim"


@dataclass(frozen=True)
class SlimNodesArgs:
    metadata: StackMetadata
    namespace: str
    image: pulumi.Input[str]
    upstreams: Sequence[str]  # gRPC addresses to follow, tried in turn
    resources: NodeResources
    tolerations: Sequence[Mapping[str, Any]] = ()
    image_pull_secret: pulumi.Input[str] | None = None
    # The image's uncompressed size, where known (built by this stack): annotated for the size-budget policy.
    image_size_bytes: pulumi.Input[int] | None = None
    # How long `up` waits for the workload's pods to be ready on a new template before the update fails.
    rollout_timeout_seconds: int = ROLLOUT_TIMEOUT_SECONDS


class SlimNodes(pulumi.ComponentResource):
    """The slim nodes (see the module's docstring for what it creates)."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: SlimNodesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.upstreams:
            raise ValueError("a slim node needs at least one upstream to follow")
        super().__init__("aurigraph:nodes:SlimNodes", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        metadata, namespace = args.metadata, args.namespace
        labels, selector = metadata.labels(component=ROLE, name=ROLE), metadata.selector(component=ROLE, name=ROLE)
        settings = {"AURIGRAPH_ROLE": ROLE, "AURIGRAPH_UPSTREAMS": ",".join(args.upstreams)}
        node = NodeRole(
            ROLE, namespace, metadata, args.image, args.resources, args.image_pull_secret, args.image_size_bytes
        )
        template = role_pod(
            name,
            node,
            settings,
            # One per node: the node's name is its id.
            PodShape(id_field="spec.nodeName", tolerations=args.tolerations),
            child,
        )
        daemonset = k8s.apps.v1.DaemonSet(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ROLE, namespace=namespace, labels=labels, annotations=workload_annotations(node)
            ),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # One node at a time: its clients fall back to another node's slim while it restarts.
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDaemonSetArgs(max_unavailable=1, max_surge=0),
                ),
                min_ready_seconds=5,
                template=template,
            ),
            opts=workload_options(child, args.rollout_timeout_seconds),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, namespace=namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                internal_traffic_policy="Local",
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=HTTP_PORT, target_port="http"),
                    k8s.core.v1.ServicePortArgs(name="grpc", port=GRPC_PORT, target_port="grpc"),
                ],
            ),
            opts=child,
        )
        # The workload's name, known once every part of it exists.
        self.name = pulumi.Output.all(daemonset.metadata.name, service.metadata.name).apply(lambda names: str(names[0]))
        self.register_outputs({"name": self.name})

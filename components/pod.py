"""The hardened pod every Aurigraph node runs in, built in one place for the three workloads.

Non-root (the image's user 10001), read-only root filesystem with a writable `/tmp` (and the data volume where
a role has one), every capability dropped, no privilege escalation, seccomp `RuntimeDefault`, its own
ServiceAccount without a mounted token, resources from the stack config, the image by digest, settings from a
ConfigMap whose checksum is a pod annotation (so a settings change rolls the pods), and the node contract's
probes. The workloads differ only in what truly differs: ports, probes' paths, volumes, env, scheduling.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import StackMetadata
from components.roles import GRPC_PORT, HTTP_PORT, PORTS, RAFT_PORT
from stack_config.schema import NodeResources

RUN_AS_USER = 10001  # the images' user (docker/Dockerfile.in)
CONFIG_CHECKSUM_ANNOTATION = "aurigraph.io/config-checksum"
# The image's uncompressed size in bytes, on the pod template of a stack that builds its images: the size-budget
# policy (policies/) reads it before the workload is created or updated. It changes only with the image's digest.
IMAGE_SIZE_ANNOTATION = "aurigraph.io/image-size-bytes"
# Local disk a node may use beyond its volumes: the writable /tmp and its logs.
EPHEMERAL_STORAGE_REQUEST = "256Mi"
EPHEMERAL_STORAGE_LIMIT = "1Gi"
# Checks of the manifest scanner (kube-score, tools/check_manifests.py) that these workloads deliberately do not
# follow, with the reason, on each workload: images are pinned by digest, so `IfNotPresent` can never run a
# stale image, and `Always` would make every restart depend on the registry answering.
SCORE_EXCEPTIONS = {"kube-score/ignore": "container-image-pull-policy"}
PORT_NAMES = {HTTP_PORT: "http", GRPC_PORT: "grpc", RAFT_PORT: "raft"}
# The node contract's endpoints (docs/reference/node-contract.md).
LIVE_PATH = "/q/health/live"
READY_PATH = "/q/health/ready"
BUSINESS_READY_PATH = "/api/v11/health"
# Seconds a stopping pod goes on serving while its endpoint leaves every node's Service rules (PodShape).
DRAIN_SECONDS = 5
# The kinds of the node workloads, as Pulumi names them: what `up` waits on to roll out (workload_options) and
# what a preview's steps are searched for images (tools/pipeline.py).
WORKLOAD_TYPES = (
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DaemonSet",
)


def workload_options(opts: pulumi.ResourceOptions, rollout_timeout_seconds: int) -> pulumi.ResourceOptions:
    """A node workload's options: an update fails when its pods are not all ready on the new template within
    ``rollout_timeout_seconds`` (a release that never becomes ready is a failed update, which the pipeline rolls
    back), instead of the provider's default of 10 minutes. Creation keeps that default: it also waits for new
    volumes and first image pulls."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(update=f"{rollout_timeout_seconds}s"))
    )


def config_checksum(data: Mapping[str, str]) -> str:
    """A stable digest of a ConfigMap's data: equal settings give an equal annotation, any change a new one."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


def http_probe(path: str, period: int, failures: int, timeout: int = 2) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failures,
    )


@dataclass(frozen=True)
class Probes:
    """Liveness restarts a stuck JVM; readiness takes a node out of its Services; the startup probe gives a
    cold JVM (and a validator replaying its log) up to ``startup_seconds`` before liveness counts."""

    ready_path: str = READY_PATH
    live_path: str = LIVE_PATH
    startup_seconds: int = 120

    def startup(self) -> k8s.core.v1.ProbeArgs:
        return http_probe(self.live_path, period=2, failures=self.startup_seconds // 2)

    def liveness(self) -> k8s.core.v1.ProbeArgs:
        return http_probe(self.live_path, period=10, failures=3)

    def readiness(self) -> k8s.core.v1.ProbeArgs:
        return http_probe(self.ready_path, period=5, failures=2)


@dataclass(frozen=True)
class NodeRole:
    """What every role's pod is made of, from its component's arguments."""

    role: str
    namespace: str
    metadata: StackMetadata
    image: pulumi.Input[str]  # pinned by digest
    resources: NodeResources
    image_pull_secret: pulumi.Input[str] | None = None  # a dockerconfigjson Secret, where the registry needs one
    image_size_bytes: pulumi.Input[int] | None = None  # known where the stack builds the image


@dataclass(frozen=True)
class PodShape:
    """What differs between the roles' pods; the defaults suit a stateless node."""

    id_field: str = "metadata.name"  # the pod field AURIGRAPH_ID is taken from
    probes: Probes = field(default_factory=Probes)
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()  # beyond AURIGRAPH_ID and the ConfigMap
    volumes: Sequence[k8s.core.v1.VolumeArgs] = ()
    volume_mounts: Sequence[k8s.core.v1.VolumeMountArgs] = ()
    termination_grace_seconds: int = 30
    # How long a stopping pod goes on serving (a preStop sleep) before the node is told to stop: the time every
    # node's proxy needs to drop its endpoint from the Services, so that no request is sent to a closed port.
    drain_seconds: int = DRAIN_SECONDS
    affinity: k8s.core.v1.AffinityArgs | None = None
    topology_spread: Sequence[k8s.core.v1.TopologySpreadConstraintArgs] = ()
    tolerations: Sequence[Mapping[str, Any]] = ()
    # Annotations that roll the pods when what they digest changes (the genesis, say).
    extra_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def workload_annotations(node: NodeRole, extra: Mapping[str, str] | None = None) -> dict[str, pulumi.Input[str]]:
    """A node workload's own annotations, with the image's size where the stack measured it (for the size-budget
    policy). On the workload, not its pod template: a size that is known or not (a stack that builds, or one that
    runs given digests, as a rollback does) must not roll pods already running the right image."""
    annotations: dict[str, pulumi.Input[str]] = {**SCORE_EXCEPTIONS, **(extra or {})}
    if node.image_size_bytes is not None:
        annotations[IMAGE_SIZE_ANNOTATION] = pulumi.Output.from_input(node.image_size_bytes).apply(str)
    return annotations


def role_pod(
    name: str, node: NodeRole, settings: Mapping[str, str], shape: PodShape, opts: pulumi.ResourceOptions
) -> k8s.core.v1.PodTemplateSpecArgs:
    """Creates a role's settings ConfigMap and ServiceAccount, and returns its hardened pod template."""
    config = settings_config_map(f"{name}-settings", node.namespace, node.metadata, node.role, settings, opts)
    account = service_account(f"{name}-account", node.namespace, node.metadata, node.role, opts)
    node_id = k8s.core.v1.EnvVarArgs(
        name="AURIGRAPH_ID",
        value_from=k8s.core.v1.EnvVarSourceArgs(
            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=shape.id_field)
        ),
    )
    return node_pod_template(
        NodePodArgs(
            node=node,
            shape=shape,
            config_map=config.metadata.name,
            config_data=settings,
            service_account=account.metadata.name,
            env=[node_id, *shape.env],
        )
    )


@dataclass(frozen=True)
class NodePodArgs:
    node: NodeRole
    shape: PodShape
    config_map: pulumi.Input[str]  # name of the ConfigMap whose keys become the container's environment
    config_data: Mapping[str, str]  # its data, for the checksum annotation
    service_account: pulumi.Input[str]
    env: Sequence[k8s.core.v1.EnvVarArgs]


def node_pod_template(args: NodePodArgs) -> k8s.core.v1.PodTemplateSpecArgs:
    """The pod template of one role's workload."""
    node, shape = args.node, args.shape
    ports = [
        k8s.core.v1.ContainerPortArgs(name=PORT_NAMES[port], container_port=port, protocol="TCP")
        for port in PORTS[node.role]
    ]
    resources = node.resources
    container = k8s.core.v1.ContainerArgs(
        name="node",
        image=node.image,
        image_pull_policy="IfNotPresent",
        ports=ports,
        env_from=[
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=args.config_map))
        ],
        env=list(args.env) or None,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={
                "cpu": resources.cpu_request,
                "memory": resources.memory_request,
                "ephemeral-storage": EPHEMERAL_STORAGE_REQUEST,
            },
            limits={
                "cpu": resources.cpu_limit,
                "memory": resources.memory_limit,
                "ephemeral-storage": EPHEMERAL_STORAGE_LIMIT,
            },
        ),
        security_context=k8s.core.v1.SecurityContextArgs(
            run_as_non_root=True,
            run_as_user=RUN_AS_USER,
            run_as_group=RUN_AS_USER,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            privileged=False,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"), *shape.volume_mounts],
        termination_message_policy="FallbackToLogsOnError",
        startup_probe=shape.probes.startup(),
        liveness_probe=shape.probes.liveness(),
        readiness_probe=shape.probes.readiness(),
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=shape.drain_seconds))
        ),
    )
    annotations = {CONFIG_CHECKSUM_ANNOTATION: config_checksum(args.config_data), **shape.extra_annotations}
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=node.metadata.labels(component=node.role, name=node.role), annotations=annotations
        ),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account,
            image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=node.image_pull_secret)]
            if node.image_pull_secret is not None
            else None,
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS_USER,
                run_as_group=RUN_AS_USER,
                fs_group=RUN_AS_USER,
                fs_group_change_policy="OnRootMismatch",
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            containers=[container],
            volumes=[
                k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")),
                *shape.volumes,
            ],
            termination_grace_period_seconds=shape.termination_grace_seconds,
            affinity=shape.affinity,
            topology_spread_constraints=list(shape.topology_spread) or None,
            tolerations=[k8s.core.v1.TolerationArgs(**{snake(k): v for k, v in t.items()}) for t in shape.tolerations]
            or None,
        ),
    )


def spread_affinity(selector: dict[str, str]) -> k8s.core.v1.AffinityArgs:
    """Prefer one pod of a role per node: a node that fails then takes one of them with it."""
    return k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.core.v1.WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname",
                        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    ),
                )
            ]
        )
    )


def spread_constraints(
    selector: dict[str, str], nodes_enforced: bool
) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Even over nodes (enforced when ``nodes_enforced``: at most one more on any node) and zones (preferred, so
    a single-zone cluster still schedules). Only nodes the pods may run on count (``nodeTaintsPolicy: Honor``):
    otherwise a tainted node, a control plane say, counts as a domain holding none, and once every other node
    holds one the enforced rule refuses the rest (seen on the kind cluster: 2 of 4 validators left Pending)."""
    node_rule = "DoNotSchedule" if nodes_enforced else "ScheduleAnyway"
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=topology_key,
            when_unsatisfiable=when,
            node_taints_policy="Honor",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        )
        for topology_key, when in (
            ("kubernetes.io/hostname", node_rule),
            ("topology.kubernetes.io/zone", "ScheduleAnyway"),
        )
    ]


def snake(name: str) -> str:
    """`tolerationSeconds` -> `toleration_seconds`: config keys are Kubernetes' names, Args take Python's."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def service_account(
    name: str, namespace: pulumi.Input[str], metadata: StackMetadata, role: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.ServiceAccount:
    """A role's own ServiceAccount: no token is mounted (the nodes never call the Kubernetes API)."""
    return k8s.core.v1.ServiceAccount(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=role, namespace=namespace, labels=metadata.labels(component=role, name=role)
        ),
        automount_service_account_token=False,
        opts=opts,
    )


def settings_config_map(
    name: str,
    namespace: pulumi.Input[str],
    metadata: StackMetadata,
    role: str,
    data: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    """A role's non-secret settings (`AURIGRAPH_*`), the container's environment."""
    return k8s.core.v1.ConfigMap(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{role}-settings", namespace=namespace, labels=metadata.labels(component=role, name=role)
        ),
        data=dict(data),
        opts=opts,
    )

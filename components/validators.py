"""`ValidatorSet`: the Raft group that orders and finalizes transactions, as a StatefulSet.

Creates a headless Service that publishes not-ready addresses (Raft peers must find each other by their stable
names `validator-<n>.validator-peers` before any of them is ready), the StatefulSet (parallel pod management so
a group can form, one volume per validator, a rolling update held back by a partition the operator lowers one
validator at a time), a PodDisruptionBudget that keeps a Raft quorum, and the validators' settings and
ServiceAccount. Exports ``name``, ``peers`` (the `AURIGRAPH_PEERS` value business nodes use) and
``grpc_targets`` (the validators' gRPC addresses, for slim nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import StackMetadata
from components.pod import (
    NodeRole,
    PodShape,
    Probes,
    role_pod,
    spread_affinity,
    spread_constraints,
    workload_annotations,
    workload_options,
)
from components.roles import GRPC_PORT, HTTP_PORT, RAFT_PORT
from components.secrets import GENESIS_PATH, KEYS_DIR
from stack_config.schema import ROLLOUT_TIMEOUT_SECONDS, NodeResources

ROLE = "validator"
GENESIS_CHECKSUM_ANNOTATION = "aurigraph.io/genesis-checksum"
PEERS_SERVICE = "validator-peers"
DATA_DIR = "/var/lib/aurigraph"


def quorum(replicas: int) -> int:
    """Raft commits with a majority: of n validators, n // 2 + 1 must be up."""
    if replicas < 1:
        raise ValueError("a Raft group has at least one member")
    return replicas // 2 + 1


def validator_ids(replicas: int) -> list[str]:
    """Peer ids, the StatefulSet's pod names: `validator-0` ... `validator-<n-1>`."""
    return [f"{ROLE}-{n}" for n in range(replicas)]


def peer_addresses(replicas: int, namespace: str) -> list[str]:
    """`validator-<n>.validator-peers.<namespace>.svc` names, one per ordinal."""
    return [f"{ROLE}-{n}.{PEERS_SERVICE}.{namespace}.svc" for n in range(replicas)]


def peers_setting(replicas: int, namespace: str) -> str:
    """The node contract's `AURIGRAPH_PEERS`: `validator-0=host:9005,...`, ids being the pod names."""
    return ",".join(
        f"{ROLE}-{n}={address}:{RAFT_PORT}" for n, address in enumerate(peer_addresses(replicas, namespace))
    )


@dataclass(frozen=True)
class ValidatorSetArgs:
    metadata: StackMetadata
    namespace: str
    image: pulumi.Input[str]
    replicas: int
    resources: NodeResources
    storage_gib: int
    storage_class: str | None = None
    partition: int = 0
    termination_grace_seconds: int = 60
    # The signing keys' Secret (one `<id>.pem` each) and the genesis ConfigMap (NodeSecrets); without them the
    # validators run unsigned (a development group).
    keys_secret: pulumi.Input[str] | None = None
    image_pull_secret: pulumi.Input[str] | None = None
    # The image's uncompressed size, where known (built by this stack): annotated for the size-budget policy.
    image_size_bytes: pulumi.Input[int] | None = None
    genesis_config_map: pulumi.Input[str] | None = None
    genesis_checksum: pulumi.Input[str] | None = None
    # How long `up` waits for the workload's pods to be ready on a new template before the update fails.
    rollout_timeout_seconds: int = ROLLOUT_TIMEOUT_SECONDS


class ValidatorSet(pulumi.ComponentResource):
    """The validators (see the module's docstring for what it creates)."""

    name: pulumi.Output[str]
    peers: str
    grpc_targets: list[str]

    def __init__(self, name: str, args: ValidatorSetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.partition > args.replicas:
            raise ValueError(f"partition {args.partition} is above replicas {args.replicas}")
        super().__init__("aurigraph:nodes:ValidatorSet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        metadata, namespace = args.metadata, args.namespace
        labels, selector = metadata.labels(component=ROLE, name=ROLE), metadata.selector(component=ROLE, name=ROLE)
        self.peers = peers_setting(args.replicas, namespace)
        self.grpc_targets = [f"{address}:{GRPC_PORT}" for address in peer_addresses(args.replicas, namespace)]

        settings = {"AURIGRAPH_ROLE": ROLE, "AURIGRAPH_PEERS": self.peers, "AURIGRAPH_DATA_DIR": DATA_DIR}
        keys = signing_key_mounts(args)
        if keys.env:
            settings["AURIGRAPH_GENESIS_FILE"] = GENESIS_PATH
        peers_service = k8s.core.v1.Service(
            f"{name}-peers",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PEERS_SERVICE, namespace=namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                publish_not_ready_addresses=True,
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=HTTP_PORT, target_port="http"),
                    k8s.core.v1.ServicePortArgs(name="grpc", port=GRPC_PORT, target_port="grpc"),
                    k8s.core.v1.ServicePortArgs(name="raft", port=RAFT_PORT, target_port="raft"),
                ],
            ),
            opts=child,
        )
        node = NodeRole(
            ROLE, namespace, metadata, args.image, args.resources, args.image_pull_secret, args.image_size_bytes
        )
        template = role_pod(
            name,
            node,
            settings,
            PodShape(
                # The peer id is the pod's own name, which the StatefulSet keeps across restarts.
                id_field="metadata.name",
                env=keys.env,
                volumes=keys.volumes,
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR), *keys.mounts],
                extra_annotations=keys.annotations,
                # A validator replaying a long log needs longer than a business node to come up.
                probes=Probes(startup_seconds=300),
                termination_grace_seconds=args.termination_grace_seconds,
                affinity=spread_affinity(selector),
                # Two validators on one node lose two votes with it: enforced.
                topology_spread=spread_constraints(selector, nodes_enforced=True),
            ),
            child,
        )
        statefulset = k8s.apps.v1.StatefulSet(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ROLE,
                namespace=namespace,
                labels=labels,
                # With a partition, the pods below it are meant to stay on the old template, which
                # Pulumi's rollout await would report as a failed update; with none, `up` waits for the rollout.
                annotations=workload_annotations(node, {"pulumi.com/skipAwait": "true"} if args.partition > 0 else {}),
            ),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=peers_service.metadata.name,
                replicas=args.replicas,
                # Parallel: a Raft group needs a majority up to elect, so the pods must not wait for each other.
                pod_management_policy="Parallel",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateStatefulSetStrategyArgs(partition=args.partition),
                ),
                persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    # The ledger outlives its pods: volumes stay when the set is scaled down or deleted.
                    when_deleted="Retain",
                    when_scaled="Retain",
                ),
                template=template,
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=args.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                                requests={"storage": f"{args.storage_gib}Gi"}
                            ),
                        ),
                    )
                ],
            ),
            opts=workload_options(child, args.rollout_timeout_seconds),
        )
        budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-budget",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE, namespace=namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=quorum(args.replicas),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # A validator that is not ready (catching up) is evicted only while the budget holds.
                unhealthy_pod_eviction_policy="IfHealthyBudget",
            ),
            opts=child,
        )
        # The workload's name, known once every part of it exists.
        self.name = pulumi.Output.all(statefulset.metadata.name, budget.metadata.name).apply(
            lambda names: str(names[0])
        )
        self.register_outputs({"name": self.name, "peers": self.peers})


@dataclass(frozen=True)
class KeyMounts:
    env: list[k8s.core.v1.EnvVarArgs]
    volumes: list[k8s.core.v1.VolumeArgs]
    mounts: list[k8s.core.v1.VolumeMountArgs]
    annotations: dict[str, pulumi.Input[str]]


def signing_key_mounts(args: ValidatorSetArgs) -> KeyMounts:
    """The keys' Secret read-only at /etc/aurigraph/keys (each validator reads `<its id>.pem`), the genesis at
    /etc/aurigraph/genesis, and the genesis digest as an annotation so a rotation rolls the validators."""
    if args.keys_secret is None or args.genesis_config_map is None:
        return KeyMounts([], [], [], {})
    return KeyMounts(
        env=[
            # $(AURIGRAPH_ID) is expanded by the kubelet from the variable above it.
            k8s.core.v1.EnvVarArgs(name="AURIGRAPH_SIGNING_KEY_FILE", value=f"{KEYS_DIR}/$(AURIGRAPH_ID).pem")
        ],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="signing-keys",
                # Owner and group only (the group is the pod's fsGroup, the node's user).
                secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=args.keys_secret, default_mode=0o440),
            ),
            k8s.core.v1.VolumeArgs(
                name="genesis", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=args.genesis_config_map)
            ),
        ],
        mounts=[
            k8s.core.v1.VolumeMountArgs(name="signing-keys", mount_path=KEYS_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="genesis", mount_path=GENESIS_PATH.rsplit("/", 1)[0], read_only=True),
        ],
        annotations={GENESIS_CHECKSUM_ANNOTATION: args.genesis_checksum} if args.genesis_checksum else {},
    )

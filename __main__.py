"""Aurigraph infrastructure: the stack's config in, components composed, outputs out."""

import dataclasses
import hashlib

import pulumi

from components.business import BusinessNodes, BusinessNodesArgs
from components.cluster import ClusterTargetArgs, kubernetes_provider
from components.image import NodeImage, NodeImageArgs, SourceRevision
from components.metadata import StackMetadata
from components.monitoring import AlertEndpoints, MonitoringStack, MonitoringStackArgs
from components.namespace import StackNamespace, StackNamespaceArgs
from components.network import NodeNetwork, NodeNetworkArgs
from components.roles import ROLES
from components.secrets import GeneratedPassword, NodeSecrets, NodeSecretsArgs
from components.slim import SlimNodes, SlimNodesArgs
from components.validators import ValidatorSet, ValidatorSetArgs, validator_ids
from stack_config import load_from_pulumi

config = load_from_pulumi()

metadata = StackMetadata(
    project=pulumi.get_project(),
    stack=pulumi.get_stack(),
    environment=config.environment,
    extra_labels=config.labels,
)
target = ClusterTargetArgs(
    kubeconfig=config.kubernetes.kubeconfig,
    context=config.kubernetes.context,
    render_directory=config.kubernetes.render_directory,
)
kubernetes = kubernetes_provider("kubernetes", target)
in_cluster = pulumi.ResourceOptions(providers=[kubernetes])

namespace = StackNamespace(
    "aurigraph",
    StackNamespaceArgs(name=config.namespace, metadata=metadata, pod_security_level=config.pod_security_level),
    opts=in_cluster,
)

# The node images: built from the configured source and pushed to the stack's registry, or the digests given in
# `images.references` (what the pipeline promotes, or rolls back to), which win over building.
images: dict[str, NodeImage] = {}
if config.images.registry and not config.images.references:
    revision = SourceRevision.of(config.app_source)
    for role in ROLES:
        images[role] = NodeImage(
            f"{role}-image",
            NodeImageArgs(
                role=role,
                source=config.app_source,
                repository=f"{config.images.registry}/{config.images.repository_prefix}/{role}",
                revision=revision,
                version=config.images.version,
                bases={"BUILDER_IMAGE": config.images.builder_image, "RUNTIME_IMAGE": config.images.runtime_image},
                builder=config.images.builder,
            ),
        )

references: dict[str, pulumi.Input[str]] = {role: image.ref for role, image in images.items()} or dict(
    config.images.references
)
sizes: dict[str, pulumi.Input[int] | None] = {role: images[role].size_bytes if images else None for role in ROLES}

# The nodes, in the namespace (its name is known; the dependency is explicit).
nodes = pulumi.ResourceOptions(providers=[kubernetes], depends_on=[namespace])
keys = NodeSecrets(
    "node-secrets",
    NodeSecretsArgs(
        metadata=metadata,
        namespace=config.namespace,
        network=f"aurigraph-{pulumi.get_stack()}",
        validator_ids=validator_ids(config.validators.replicas),
        generation=config.validators.key_generation,
        supplied_keys=config.validator_keys,
        registry_credentials=config.registry_credentials,
        mirror_to_aws=config.mirror_keys_to_aws,
        kms_key_arn=config.secrets_kms_key_arn,
    ),
    opts=nodes,
)
validators = ValidatorSet(
    "validators",
    ValidatorSetArgs(
        metadata=metadata,
        namespace=config.namespace,
        image=references["validator"],
        image_size_bytes=sizes["validator"],
        replicas=config.validators.replicas,
        resources=config.validators.resources,
        storage_gib=config.validators.storage_gib,
        storage_class=config.validators.storage_class,
        partition=config.validators.partition,
        termination_grace_seconds=config.validators.termination_grace_seconds,
        rollout_timeout_seconds=config.kubernetes.rollout_timeout_seconds,
        keys_secret=keys.keys_secret,
        genesis_config_map=keys.genesis_config_map,
        image_pull_secret=keys.pull_secret,
        genesis_checksum=keys.genesis.apply(lambda text: hashlib.sha256(text.encode()).hexdigest()),
    ),
    opts=nodes,
)
business = BusinessNodes(
    "business",
    BusinessNodesArgs(
        metadata=metadata,
        namespace=config.namespace,
        image=references["business"],
        image_size_bytes=sizes["business"],
        peers=validators.peers,
        replicas_min=config.business.replicas_min,
        replicas_max=config.business.replicas_max,
        resources=config.business.resources,
        service_type=config.business.service_type,
        image_pull_secret=keys.pull_secret,
        tls_certificate_arn=config.business.tls_certificate_arn,
        rollout_timeout_seconds=config.kubernetes.rollout_timeout_seconds,
    ),
    opts=nodes,
)
slim = SlimNodes(
    "slim",
    SlimNodesArgs(
        metadata=metadata,
        namespace=config.namespace,
        image=references["slim"],
        image_size_bytes=sizes["slim"],
        upstreams=[business.grpc_target, *validators.grpc_targets],
        resources=config.slim.resources,
        image_pull_secret=keys.pull_secret,
        tolerations=config.slim.tolerations,
        rollout_timeout_seconds=config.kubernetes.rollout_timeout_seconds,
    ),
    opts=nodes,
)
network = NodeNetwork(
    "network",
    NodeNetworkArgs(
        metadata=metadata,
        namespace=config.namespace,
        monitoring_namespace=config.monitoring.namespace,
        istio=config.network.istio,
    ),
    opts=nodes,
)

# What watches the nodes: their rules, monitors and dashboards, and kube-prometheus-stack unless the cluster has one.
monitoring: MonitoringStack | None = None
if config.monitoring.enabled:
    settings = config.monitoring
    monitoring = MonitoringStack(
        "monitoring",
        MonitoringStackArgs(
            metadata=metadata,
            namespace=settings.namespace,
            nodes_namespace=config.namespace,
            chart_version=settings.chart_version,
            install_stack=settings.install_stack,
            chart_archive=settings.chart_archive,
            retention_days=settings.retention_days,
            storage_gib=settings.storage_gib,
            storage_class=settings.storage_class,
            # The config section declares exactly the component's endpoint fields.
            endpoints=AlertEndpoints(**dataclasses.asdict(settings.alerting)),
            credentials=config.alertmanager_credentials,
            grafana_admin_password=GeneratedPassword("grafana-admin-password").result
            if settings.install_stack
            else None,
        ),
        opts=nodes,
    )

pulumi.export("environment", config.environment)
pulumi.export("namespace", namespace.name)
pulumi.export("kubernetesMode", target.mode)
pulumi.export("renderDirectory", target.render_directory if target.mode == "rendered" else None)
pulumi.export(
    "images",
    {
        role: {"ref": image.ref, "tags": image.tags, "sizeBytes": image.size_bytes, "imageId": image.image_id}
        for role, image in images.items()
    },
)
# What each workload runs, pinned by digest: what a verification records as good and a rollback restores.
pulumi.export("deployedImages", references)
pulumi.export("workloads", {"validator": validators.name, "business": business.name, "slim": slim.name})
pulumi.export("networkPolicies", network.names)
pulumi.export("validatorKeys", keys.fingerprints)
pulumi.export(
    "monitoring",
    {"ruleGroups": monitoring.rule_groups, "dashboards": monitoring.dashboards} if monitoring is not None else None,
)

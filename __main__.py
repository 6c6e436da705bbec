"""Aurigraph infrastructure: the stack's config in, components composed, outputs out."""

import pulumi

from components.cluster import ClusterTargetArgs, kubernetes_provider
from components.metadata import StackMetadata
from components.namespace import StackNamespace, StackNamespaceArgs
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

pulumi.export("environment", config.environment)
pulumi.export("namespace", namespace.name)
pulumi.export("kubernetesMode", target.mode)
pulumi.export("renderDirectory", target.render_directory if target.mode == "rendered" else None)

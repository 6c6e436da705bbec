"""Aurigraph infrastructure: the stack's config in, components composed, outputs out."""

import pulumi

from components.cluster import ClusterTargetArgs, kubernetes_provider
from components.image import NodeImage, NodeImageArgs, SourceRevision
from components.metadata import StackMetadata
from components.namespace import StackNamespace, StackNamespaceArgs
from components.roles import ROLES
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

# The node images, built from the configured source and pushed to the stack's registry. (Stacks without a
# plain registry endpoint get ECR repositories and images once the release pipeline composes them.)
images: dict[str, NodeImage] = {}
if config.images.registry:
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

"""The stack's namespace, with Pod Security admission labels."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.metadata import StackMetadata

POD_SECURITY_PREFIX = "pod-security.kubernetes.io"


@dataclass(frozen=True)
class StackNamespaceArgs:
    """Arguments of :class:`StackNamespace`."""

    name: str
    """The namespace's name (a DNS label)."""
    metadata: StackMetadata
    """Labels and annotations of the stack."""
    pod_security_level: str = "restricted"
    """Pod Security Standard that admission enforces (`restricted` or `baseline`)."""


class StackNamespace(pulumi.ComponentResource):
    """Creates the namespace that holds every Aurigraph object of a stack.

    Pod Security admission enforces ``pod_security_level`` and always audits and warns at `restricted`,
    so a namespace relaxed to `baseline` still reports every pod that would fail the stricter level.
    The policy version is `latest` so the cluster's own newest rules apply.

    Outputs: ``name``, the namespace's name, to use as other objects' namespace (it carries the dependency
    on the namespace).
    """

    name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: StackNamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurigraph:kubernetes:StackNamespace", resource_name, None, opts)
        labels = args.metadata.labels(component="namespace")
        labels.update(pod_security_labels(args.pod_security_level))
        namespace = k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, labels=labels, annotations=args.metadata.annotations()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The name is known in advance; taking it from the namespace's output makes users depend on the namespace.
        self.name = namespace.metadata.apply(lambda m: m.name or args.name)
        self.register_outputs({"name": self.name})


def pod_security_labels(enforce_level: str) -> dict[str, str]:
    """The Pod Security admission labels for a namespace enforcing ``enforce_level``."""
    return {
        f"{POD_SECURITY_PREFIX}/enforce": enforce_level,
        f"{POD_SECURITY_PREFIX}/enforce-version": "latest",
        f"{POD_SECURITY_PREFIX}/audit": "restricted",
        f"{POD_SECURITY_PREFIX}/audit-version": "latest",
        f"{POD_SECURITY_PREFIX}/warn": "restricted",
        f"{POD_SECURITY_PREFIX}/warn-version": "latest",
    }

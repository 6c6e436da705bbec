"""The Kubernetes provider of a stack: a real cluster, or manifests rendered to a directory."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ClusterTargetArgs:
    """Where Kubernetes objects go."""

    kubeconfig: str | None
    """Path of a kubeconfig. When set, objects are applied to that cluster."""
    context: str | None
    """Context inside the kubeconfig; its current context when None."""
    render_directory: str
    """Directory (relative to the project) receiving YAML when no kubeconfig is set."""

    @property
    def mode(self) -> str:
        """`applied` when objects go to a cluster, `rendered` when they are written as YAML."""
        return "applied" if self.kubeconfig else "rendered"


def kubernetes_provider(name: str, args: ClusterTargetArgs, opts: pulumi.ResourceOptions | None = None) -> k8s.Provider:
    """A provider for ``args``.

    In render mode the provider writes each object to ``<dir>/1-manifest/`` (CRDs to ``<dir>/0-crd/``) on
    `up` and never contacts a cluster; ambient kubeconfigs are ignored. With a kubeconfig it uses
    server-side apply, which has no annotation size limit and records field ownership, so `kubectl` edits
    by operators show up as conflicts instead of being silently overwritten.
    """
    if args.kubeconfig:
        return k8s.Provider(
            name,
            kubeconfig=os.path.expanduser(args.kubeconfig),
            context=args.context,
            enable_server_side_apply=True,
            opts=opts,
        )
    return k8s.Provider(name, render_yaml_to_directory=args.render_directory, opts=opts)

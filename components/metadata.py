"""Labels and annotations shared by every Kubernetes object of a stack.

The `app.kubernetes.io/*` labels follow Kubernetes' recommended labels; selectors use only the stable
subset (`name`, `instance`, `component`) so that adding an informational label never changes a selector,
which Kubernetes would refuse on a Deployment or StatefulSet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PART_OF = "aurigraph"
MANAGED_BY = "pulumi"
ENVIRONMENT_LABEL = "aurigraph.io/environment"
STACK_ANNOTATION = "aurigraph.io/pulumi-stack"
PROJECT_ANNOTATION = "aurigraph.io/pulumi-project"

# The role of a node object (validator, business, slim): what selectors, rules, dashboards and checks key on.
COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclass(frozen=True)
class StackMetadata:
    """What every object of one stack carries: which environment and stack made it, plus the operator's
    extra labels from config."""

    project: str
    stack: str
    environment: str
    extra_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def labels(self, component: str | None = None, name: str | None = None) -> dict[str, str]:
        """Labels for an object. ``component`` is the role inside Aurigraph (validator, business, ...)."""
        labels = dict(self.extra_labels)
        labels.update(
            {
                "app.kubernetes.io/part-of": PART_OF,
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/instance": self.stack,
                ENVIRONMENT_LABEL: self.environment,
            }
        )
        labels.update(self.selector(component, name))
        return labels

    def selector(self, component: str | None = None, name: str | None = None) -> dict[str, str]:
        """The immutable subset of :meth:`labels` used in selectors."""
        selector = {"app.kubernetes.io/instance": self.stack}
        if name is not None:
            selector["app.kubernetes.io/name"] = name
        if component is not None:
            selector[COMPONENT_LABEL] = component
        return selector

    def annotations(self) -> dict[str, str]:
        """Annotations that let an operator trace any object back to its Pulumi stack."""
        return {PROJECT_ANNOTATION: self.project, STACK_ANNOTATION: self.stack}

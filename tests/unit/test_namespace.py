"""StackNamespace and the stack-wide labels every component uses."""

from __future__ import annotations

import pulumi
import pytest

from components.metadata import StackMetadata
from components.namespace import StackNamespace, StackNamespaceArgs
from tests.unit.conftest import RecordingMocks

METADATA = StackMetadata(project="aurigraph-infra", stack="local", environment="local", extra_labels={"team": "ledger"})


@pulumi.runtime.test
def test_namespace_enforces_restricted_pod_security_and_carries_stack_labels(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    namespace = StackNamespace("aurigraph", StackNamespaceArgs(name="aurigraph", metadata=METADATA))

    def check(name: str) -> None:
        (created,) = mocks.of_type("kubernetes:core/v1:Namespace")
        labels = created.inputs["metadata"]["labels"]
        assert name == "aurigraph"
        assert created.inputs["metadata"]["name"] == "aurigraph"
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["app.kubernetes.io/part-of"] == "aurigraph"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert labels["app.kubernetes.io/instance"] == "local"
        assert labels["app.kubernetes.io/component"] == "namespace"
        assert labels["aurigraph.io/environment"] == "local"
        assert labels["team"] == "ledger"
        assert created.inputs["metadata"]["annotations"] == {
            "aurigraph.io/pulumi-project": "aurigraph-infra",
            "aurigraph.io/pulumi-stack": "local",
        }
        (component,) = mocks.of_type("aurigraph:kubernetes:StackNamespace")
        assert component.name == "aurigraph"

    return namespace.name.apply(check)


@pulumi.runtime.test
def test_a_baseline_namespace_still_audits_and_warns_at_restricted(mocks: RecordingMocks) -> pulumi.Output[None]:
    args = StackNamespaceArgs(name="ledger", metadata=METADATA, pod_security_level="baseline")
    namespace = StackNamespace("ledger", args)

    def check(_: str) -> None:
        (created,) = mocks.of_type("kubernetes:core/v1:Namespace")
        labels = created.inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"

    return namespace.name.apply(check)


@pytest.mark.parametrize("component", [None, "validator", "business"])
def test_selectors_use_only_labels_that_never_change(component: str | None) -> None:
    selector = METADATA.selector(component, "aurigraph-node")
    labels = METADATA.labels(component, "aurigraph-node")
    assert selector.items() <= labels.items()
    assert set(selector) <= {"app.kubernetes.io/instance", "app.kubernetes.io/name", "app.kubernetes.io/component"}


def test_extra_labels_cannot_replace_the_programs_own() -> None:
    metadata = StackMetadata("p", "s", "local", extra_labels={"app.kubernetes.io/instance": "other"})
    assert metadata.labels()["app.kubernetes.io/instance"] == "s"

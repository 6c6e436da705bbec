"""Each policy of the pack on a compliant object and on objects that break it, with the exact message; and the
whole pack on every object the program makes for each committed stack (under mocks), which must comply."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pulumi_policy import ResourceValidationPolicy

from components.metadata import StackMetadata
from components.pod import IMAGE_SIZE_ANNOTATION
from components.registry import EcrRegistry, EcrRegistryArgs
from policies.pack import POLICIES
from tests.policy.conftest import run_program, violations
from tests.unit.conftest import RecordingMocks

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ECR = "aws:ecr/repository:Repository"
DIGEST = "sha256:" + "ab" * 32


def labels(role: str, environment: str = "staging") -> dict[str, str]:
    return {
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/name": role,
        "app.kubernetes.io/instance": environment,
        "aurigraph.io/environment": environment,
    }


def node_workload(role: str = "business", environment: str = "staging") -> dict[str, Any]:
    """A workload as the program makes it: hardened, sized, probed, pinned."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": role,
            "namespace": "aurigraph",
            "labels": labels(role, environment),
            "annotations": {IMAGE_SIZE_ANNOTATION: "110900000"},
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app.kubernetes.io/component": role}},
            "template": {
                "metadata": {"labels": labels(role, environment)},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [
                        {
                            "name": "node",
                            "image": f"registry.example.invalid/aurigraph/{role}@{DIGEST}",
                            "env": [{"name": "AURIGRAPH_SIGNING_KEY_FILE", "value": "/etc/aurigraph/keys/k.pem"}],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "384Mi"},
                                "limits": {"cpu": "1", "memory": "768Mi"},
                            },
                            "securityContext": {
                                "readOnlyRootFilesystem": True,
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "livenessProbe": {"httpGet": {"path": "/q/health/live", "port": 9003}},
                            "readinessProbe": {"httpGet": {"path": "/api/v11/health", "port": 9003}},
                        }
                    ],
                },
            },
        },
    }


def changed(edit: Callable[[dict[str, Any]], object], role: str = "business", environment: str = "staging") -> Any:
    workload = node_workload(role, environment)
    edit(workload)
    return workload


def container(workload: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return node


def test_the_pack_has_every_policy_the_issue_names() -> None:
    assert [p.name for p in POLICIES] == [
        "pods-run-as-non-root",
        "containers-have-requests-and-limits",
        "read-only-root-filesystem",
        "no-privilege-escalation",
        "business-nodes-have-probes",
        "image-size-budget",
        "prod-images-pinned-by-digest",
        "autoscaler-bounds",
        "validator-budget-keeps-quorum",
        "ecr-scan-on-push",
        "ecr-immutable-tags",
        "no-secret-literals",
        "namespaces-deny-by-default",
        "workloads-are-monitored",
    ]


@pytest.mark.parametrize("name", [p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)])
def test_a_hardened_node_workload_passes_every_resource_policy(name: str) -> None:
    assert violations(name, [(DEPLOYMENT, node_workload())]) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda w: w["spec"]["template"]["spec"].pop("securityContext"),
            "Deployment business: container node may run as root: set securityContext.runAsNonRoot: true",
        ),
        (
            lambda w: container(w).update(securityContext={**container(w)["securityContext"], "runAsUser": 0}),
            "Deployment business: container node runs as user 0 (root)",
        ),
        (
            lambda w: container(w).update(securityContext={**container(w)["securityContext"], "runAsNonRoot": False}),
            "Deployment business: container node may run as root: set securityContext.runAsNonRoot: true",
        ),
    ],
)
def test_a_pod_that_may_run_as_root_is_refused(edit: Callable[[dict[str, Any]], object], expected: str) -> None:
    assert violations("pods-run-as-non-root", [(DEPLOYMENT, changed(edit))]) == [expected]


def test_an_init_container_is_held_to_the_same_rules() -> None:
    def add_init(workload: dict[str, Any]) -> None:
        spec = workload["spec"]["template"]["spec"]
        spec["initContainers"] = [{"name": "fetch", "image": "busybox", "securityContext": {"runAsUser": 0}}]

    assert violations("pods-run-as-non-root", [(DEPLOYMENT, changed(add_init))]) == [
        "Deployment business: container fetch runs as user 0 (root)"
    ]
    assert violations("containers-have-requests-and-limits", [(DEPLOYMENT, changed(add_init))]) == [
        "Deployment business: container fetch has no cpu request or limit",
        "Deployment business: container fetch has no memory request or limit",
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda w: container(w)["resources"].pop("limits"),
            [
                "Deployment business: container node has no cpu limit",
                "Deployment business: container node has no memory limit",
            ],
        ),
        (
            lambda w: container(w)["resources"]["requests"].pop("memory"),
            ["Deployment business: container node has no memory request"],
        ),
        (
            lambda w: container(w)["resources"]["limits"].update(cpu="200m"),
            ["Deployment business: container node's cpu limit 200m is below its request 250m"],
        ),
        (
            lambda w: container(w)["resources"]["limits"].update(memory="256Mi"),
            ["Deployment business: container node's memory limit 256Mi is below its request 384Mi"],
        ),
    ],
)
def test_a_container_without_sound_requests_and_limits_is_refused(
    edit: Callable[[dict[str, Any]], object], expected: list[str]
) -> None:
    assert violations("containers-have-requests-and-limits", [(DEPLOYMENT, changed(edit))]) == expected


def test_a_writable_root_filesystem_is_refused() -> None:
    workload = changed(lambda w: container(w)["securityContext"].pop("readOnlyRootFilesystem"))
    assert violations("read-only-root-filesystem", [(DEPLOYMENT, workload)]) == [
        "Deployment business: container node can write its root filesystem: set readOnlyRootFilesystem: true"
    ]


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        (
            {"readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
            ["Deployment business: container node may escalate privileges: set allowPrivilegeEscalation: false"],
        ),
        (
            {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["NET_RAW"]}},
            ["Deployment business: container node keeps Linux capabilities: drop ALL"],
        ),
        (
            {
                "allowPrivilegeEscalation": False,
                "privileged": True,
                "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
            },
            [
                "Deployment business: container node is privileged",
                "Deployment business: container node adds capabilities NET_ADMIN",
            ],
        ),
    ],
)
def test_privilege_is_refused(security: dict[str, Any], expected: list[str]) -> None:
    workload = changed(lambda w: container(w).update(securityContext=security))
    assert violations("no-privilege-escalation", [(DEPLOYMENT, workload)]) == expected


def test_a_business_node_without_probes_is_refused_and_other_roles_need_not_have_them() -> None:
    def unprobed(workload: dict[str, Any]) -> None:
        container(workload).pop("livenessProbe")
        container(workload).pop("readinessProbe")

    assert violations("business-nodes-have-probes", [(DEPLOYMENT, changed(unprobed))]) == [
        "Deployment business: container node has no liveness probe",
        "Deployment business: container node has no readiness probe",
    ]
    assert violations("business-nodes-have-probes", [(DEPLOYMENT, changed(unprobed, role="slim"))]) == []


def test_an_image_over_its_budget_is_refused_with_its_size_and_budget() -> None:
    over = changed(lambda w: w["metadata"]["annotations"].update({IMAGE_SIZE_ANNOTATION: "161000000"}))
    assert violations("image-size-budget", [(DEPLOYMENT, over)]) == [
        "Deployment business: the business image is 161.0 MB, over its budget of 160 MB"
    ]
    lowered = {"budgetsMb": {"business": 100, "slim": 130, "validator": 200}}
    assert violations("image-size-budget", [(DEPLOYMENT, node_workload())], lowered) == [
        "Deployment business: the business image is 110.9 MB, over its budget of 100 MB"
    ]


def test_a_workload_whose_image_size_is_not_known_is_not_judged_on_size() -> None:
    """Stacks that run promoted digests were measured where they were built (under the same budgets)."""
    unknown = changed(lambda w: w["metadata"].pop("annotations"))
    assert (
        violations(
            "image-size-budget", [(DEPLOYMENT, unknown)], {"budgetsMb": {"business": 1, "slim": 1, "validator": 1}}
        )
        == []
    )


def test_a_movable_tag_is_refused_in_prod_only() -> None:
    def tagged(workload: dict[str, Any]) -> None:
        container(workload)["image"] = "registry.example.invalid/aurigraph/business:latest"

    assert violations("prod-images-pinned-by-digest", [(DEPLOYMENT, changed(tagged, environment="prod"))]) == [
        "Deployment business: container node runs registry.example.invalid/aurigraph/business:latest, a tag that "
        "can move: prod runs images pinned by digest (repository@sha256:...)"
    ]
    assert violations("prod-images-pinned-by-digest", [(DEPLOYMENT, changed(tagged, environment="staging"))]) == []
    assert violations("prod-images-pinned-by-digest", [(DEPLOYMENT, node_workload(environment="prod"))]) == []


def hpa(low: int, high: int, cpu: int = 70) -> dict[str, Any]:
    return {
        "metadata": {"name": "business", "namespace": "aurigraph"},
        "spec": {
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": cpu}}}],
        },
    }


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (hpa(6, 20), []),
        (hpa(1, 4), ["HorizontalPodAutoscaler business: minReplicas 1 leaves no spare pod: at least 2"]),
        (hpa(6, 4), ["HorizontalPodAutoscaler business: maxReplicas 4 is below minReplicas 6"]),
        (hpa(6, 500), ["HorizontalPodAutoscaler business: maxReplicas 500 is above the ceiling of 100"]),
        (
            hpa(6, 20, cpu=95),
            [
                "HorizontalPodAutoscaler business: a cpu target of 95% either never scales or scales too late: "
                "use 30 to 90"
            ],
        ),
    ],
)
def test_autoscaler_bounds(props: dict[str, Any], expected: list[str]) -> None:
    assert violations("autoscaler-bounds", [(HPA, props)]) == expected


def validators(replicas: int) -> dict[str, Any]:
    workload = node_workload("validator")
    workload["kind"] = "StatefulSet"
    workload["metadata"]["name"] = "validator"
    workload["spec"]["replicas"] = replicas
    return workload


def budget(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "validator", "namespace": "aurigraph", "labels": labels("validator")},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/component": "validator"}}, **spec},
    }


@pytest.mark.parametrize("replicas", range(1, 16))
def test_a_budget_of_the_quorum_passes_and_one_less_is_refused_for_any_group_size(replicas: int) -> None:
    quorum = replicas // 2 + 1
    assert (
        violations(
            "validator-budget-keeps-quorum", [(STATEFULSET, validators(replicas)), (PDB, budget(minAvailable=quorum))]
        )
        == []
    )
    assert violations(
        "validator-budget-keeps-quorum", [(STATEFULSET, validators(replicas)), (PDB, budget(minAvailable=quorum - 1))]
    ) == [
        f"StatefulSet validator: its PodDisruptionBudget keeps {quorum - 1} of {replicas} validators available; "
        f"Raft needs {quorum}"
    ]


def test_a_validator_group_without_a_budget_or_with_too_loose_a_one_is_refused() -> None:
    assert violations("validator-budget-keeps-quorum", [(STATEFULSET, validators(4))]) == [
        "StatefulSet validator: no PodDisruptionBudget covers its 4 validators"
    ]
    assert violations(
        "validator-budget-keeps-quorum", [(STATEFULSET, validators(4)), (PDB, budget(maxUnavailable=2))]
    ) == ["StatefulSet validator: its PodDisruptionBudget keeps 2 of 4 validators available; Raft needs 3"]


def repository(**props: Any) -> dict[str, Any]:
    return {
        "name": "aurigraph/prod/validator",
        "imageScanningConfiguration": {"scanOnPush": True},
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [
            {"filter": "latest", "filterType": "WILDCARD"},
            {"filter": "staging-*", "filterType": "WILDCARD"},
        ],
        **props,
    }


def test_ecr_repositories_must_scan_on_push() -> None:
    assert violations("ecr-scan-on-push", [(ECR, repository())]) == []
    assert violations("ecr-scan-on-push", [(ECR, repository(imageScanningConfiguration={"scanOnPush": False}))]) == [
        "ECR repository aurigraph/prod/validator does not scan images on push"
    ]


def test_ecr_tags_are_immutable_but_the_ones_meant_to_move() -> None:
    assert violations("ecr-immutable-tags", [(ECR, repository())]) == []
    assert violations("ecr-immutable-tags", [(ECR, repository(imageTagMutability="IMMUTABLE"))]) == []
    assert violations("ecr-immutable-tags", [(ECR, repository(imageTagMutability="MUTABLE"))]) == [
        "ECR repository aurigraph/prod/validator lets any tag move (MUTABLE)"
    ]
    loose = repository(imageTagMutabilityExclusionFilters=[{"filter": "v*", "filterType": "WILDCARD"}])
    assert violations("ecr-immutable-tags", [(ECR, loose)]) == [
        "ECR repository aurigraph/prod/validator lets tags v* move; only ['latest', 'staging-*'] may"
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"SLACK_TOKEN": "xoxb-1234"}, "data key SLACK_TOKEN is named like a credential and holds a literal value"),
        (
            {"database-password": "hunter2"},
            "data key database-password is named like a credential and holds a literal value",
        ),
        (
            {"key.pem": "-----BEGIN PRIVATE KEY-----\nMC4CAQ=\n-----END PRIVATE KEY-----"},
            "data key key.pem holds a private key",
        ),
        ({"aws": "AKIAABCDEFGHIJKLMNOP"}, "data key aws holds an AWS access key"),
        (
            {"DATABASE_URL": "postgres://ledger:hunter2@db:5432/ledger"},
            "data key DATABASE_URL holds a password in a URL",
        ),
        ({"hook": "https://hooks.slack.com/services/T0/B0/abc"}, "data key hook holds a Slack webhook"),
    ],
)
def test_a_secret_in_a_config_map_is_refused_without_echoing_it(data: dict[str, str], expected: str) -> None:
    config_map = {"metadata": {"name": "settings", "namespace": "aurigraph"}, "data": data}
    found = violations("no-secret-literals", [(CONFIG_MAP, config_map)])
    assert found == [f"ConfigMap settings: {expected}: keep it in a Secret"]
    assert not any(value in found[0] for value in data.values())


def test_names_that_point_at_secrets_and_public_keys_are_not_secrets() -> None:
    data = {
        "AURIGRAPH_SIGNING_KEY_FILE": "/etc/aurigraph/keys/validator-0.pem",
        "TOKEN_PATH": "/var/run/token",
        "genesis.json": '{"validators": {"v0": "-----BEGIN PUBLIC KEY-----\\nMCow\\n-----END PUBLIC KEY-----"}}',
        "SLACK_CHANNEL": "#aurigraph-alerts",
    }
    assert violations("no-secret-literals", [(CONFIG_MAP, {"metadata": {"name": "s"}, "data": data})]) == []


def test_a_secret_in_a_containers_literal_environment_is_refused() -> None:
    workload = changed(lambda w: container(w)["env"].append({"name": "API_KEY", "value": "abc123"}))
    assert violations("no-secret-literals", [(DEPLOYMENT, workload)]) == [
        "Deployment business: container node's variable API_KEY is named like a credential and holds a literal "
        "value: keep it in a Secret"
    ]
    from_secret = changed(
        lambda w: container(w)["env"].append(
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}}
        )
    )
    assert violations("no-secret-literals", [(DEPLOYMENT, from_secret)]) == []


def deny_all(namespace: str = "aurigraph") -> dict[str, Any]:
    return {
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def test_a_namespace_running_nodes_needs_a_default_deny_policy() -> None:
    workload = node_workload()
    assert violations("namespaces-deny-by-default", [(DEPLOYMENT, workload), (NETWORK_POLICY, deny_all())]) == []
    assert violations("namespaces-deny-by-default", [(DEPLOYMENT, workload), (NETWORK_POLICY, deny_all("other"))]) == [
        "namespace aurigraph runs Aurigraph nodes but has no default-deny NetworkPolicy (every pod, Ingress and "
        "Egress, no rule)"
    ]
    ingress_only = deny_all()
    ingress_only["spec"]["policyTypes"] = ["Ingress"]
    assert violations("namespaces-deny-by-default", [(DEPLOYMENT, workload), (NETWORK_POLICY, ingress_only)]) != []


def service(selector: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "business", "namespace": "aurigraph", "labels": labels("business")},
        "spec": {"selector": selector},
    }


def monitor(selector: dict[str, str], namespace: str = "aurigraph") -> dict[str, Any]:
    return {"metadata": {"name": "business", "namespace": namespace}, "spec": {"selector": {"matchLabels": selector}}}


def test_a_node_workload_must_be_scraped_through_a_monitored_service_or_a_pod_monitor() -> None:
    workload = node_workload()
    component = {"app.kubernetes.io/component": "business"}
    monitored = [(DEPLOYMENT, workload), (SERVICE, service(component)), (SERVICE_MONITOR, monitor(component))]
    assert violations("workloads-are-monitored", monitored) == []
    assert violations("workloads-are-monitored", [(DEPLOYMENT, workload), (POD_MONITOR, monitor(component))]) == []
    blind = (
        "Deployment business is scraped by no ServiceMonitor (through a Service) or PodMonitor: its alerts and "
        "dashboards would be blind"
    )
    assert violations("workloads-are-monitored", [(DEPLOYMENT, workload), (SERVICE, service(component))]) == [blind]
    elsewhere = [
        (DEPLOYMENT, workload),
        (SERVICE, service(component)),
        (SERVICE_MONITOR, monitor(component, "monitoring")),
    ]
    assert violations("workloads-are-monitored", elsewhere) == [blind]
    wrong = [
        (DEPLOYMENT, workload),
        (SERVICE, service({"app.kubernetes.io/component": "slim"})),
        (SERVICE_MONITOR, monitor(component)),
    ]
    assert violations("workloads-are-monitored", wrong) == [blind]


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
@pulumi.runtime.test
def test_everything_the_program_makes_complies_with_every_policy(
    mocks: RecordingMocks, stack: str
) -> pulumi.Output[None]:
    done = run_program(stack)

    def check(_: object) -> None:
        made = [(r.typ, copy.deepcopy(r.inputs)) for r in mocks.resources]
        kinds = {typ for typ, _ in made}
        assert {STATEFULSET, DEPLOYMENT, PDB, HPA, SERVICE_MONITOR, NETWORK_POLICY} <= kinds
        found = {p.name: violations(p.name, made) for p in POLICIES}
        assert found == {p.name: [] for p in POLICIES}

    return done.apply(check)


@pulumi.runtime.test
def test_the_registry_components_repositories_comply_with_the_ecr_rules(mocks: RecordingMocks) -> pulumi.Output[None]:
    registry = EcrRegistry(
        "images",
        EcrRegistryArgs(
            StackMetadata(project="aurigraph-infra", stack="prod", environment="prod"),
            pusher_arns=["arn:aws:iam::123456789012:role/ci"],
            puller_arns=["arn:aws:iam::123456789012:role/nodes"],
        ),
    )

    def check(_: object) -> None:
        repositories = [(r.typ, copy.deepcopy(r.inputs)) for r in mocks.of_type(ECR)]
        assert len(repositories) == 3
        assert violations("ecr-scan-on-push", repositories) == []
        assert violations("ecr-immutable-tags", repositories) == []

    return registry.repository_urls.apply(check)


@pytest.mark.parametrize(("share", "kept"), [("75%", 3), ("50%", 2)])
def test_a_budget_given_as_a_share_is_counted_as_kubernetes_rounds_it(share: str, kept: int) -> None:
    found = violations(
        "validator-budget-keeps-quorum", [(STATEFULSET, validators(4)), (PDB, budget(minAvailable=share))]
    )
    expected = (
        []
        if kept >= 3
        else [f"StatefulSet validator: its PodDisruptionBudget keeps {kept} of 4 validators available; Raft needs 3"]
    )
    assert found == expected

"""The stack-config loader: committed stack files load, and every kind of bad input fails with one
message naming the stack file and each offending key."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stack_config import ConfigError, load
from stack_config.kinds import cpu_millicores, memory_bytes
from tests.stack_files import PROMOTED, committed_config, raw_config


def with_member(raw: dict[str, Any], key: str, path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``raw`` with the member at ``path`` of object ``key`` set to ``value``."""
    changed = dict(raw)
    document = json.loads(changed[key])
    target = document
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
    changed[key] = json.dumps(document)
    return changed


def problems_of(raw: dict[str, Any], stack: str = "local") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(raw, stack)
    assert str(caught.value).startswith(f"invalid stack config in Pulumi.{stack}.yaml:")
    return caught.value.problems


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_every_committed_stack_file_loads(stack: str) -> None:
    config = load(raw_config(stack), stack)
    assert config.environment == stack
    assert config.namespace == "aurigraph"
    assert config.kubernetes.render_directory == f"build/manifests/{stack}"


def test_the_kind_stack_is_the_local_stack_applied_to_the_local_cluster() -> None:
    """Same environment, sizes and images as local; only the target differs: the cluster `make k8s-up` makes."""
    kind, local = load(raw_config("kind"), "kind"), load(raw_config("local"), "local")
    assert kind.environment == "local"
    assert kind.kubernetes.kubeconfig == "build/kubeconfig/kind.yaml"
    assert local.kubernetes.kubeconfig is None
    assert (kind.validators, kind.slim, kind.images) == (local.validators, local.slim, local.images)
    # No load balancer on a kind cluster: the business Service is a NodePort one, sized as local otherwise.
    assert (kind.business.service_type, local.business.service_type) == ("NodePort", "LoadBalancer")
    assert replace(kind.business, service_type="LoadBalancer") == local.business


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_carry_the_plans_sizes(stack: str) -> None:
    config = load(raw_config(stack), stack)
    validators, business, slim = config.validators, config.business, config.slim
    assert (validators.replicas, validators.storage_gib) == (4, 100)
    assert [cpu_millicores(validators.resources.cpu_request), cpu_millicores(validators.resources.cpu_limit)] == [
        2000,
        4000,
    ]
    assert memory_bytes(validators.resources.memory_request) == 4 * 2**30
    assert memory_bytes(validators.resources.memory_limit) == 8 * 2**30
    assert (business.replicas_min, business.replicas_max) == (6, 20)
    assert (business.resources.cpu_request, business.resources.cpu_limit) == ("1", "2")
    assert (business.resources.memory_request, business.resources.memory_limit) == ("2Gi", "4Gi")
    assert (slim.resources.cpu_request, slim.resources.cpu_limit) == ("500m", "1")
    assert (slim.resources.memory_request, slim.resources.memory_limit) == ("512Mi", "1Gi")


def test_keys_of_other_namespaces_are_left_alone() -> None:
    raw = raw_config("local") | {"kubernetes:context": "kind-aurigraph", "pulumi:tags": "{}"}
    assert load(raw, "local").environment == "local"


def test_a_kubeconfig_switches_the_target_from_rendering_to_a_cluster() -> None:
    raw = raw_config("local") | {"aurigraph-infra:kubernetes": json.dumps({"kubeconfig": "~/.kube/config"})}
    target = load(raw, "local").kubernetes
    assert target.kubeconfig == "~/.kube/config"
    assert target.context is None


def test_an_unknown_key_is_named_with_the_closest_known_key() -> None:
    raw = raw_config("local") | {"aurigraph-infra:validator": "3"}
    assert problems_of(raw) == ["validator: is not a known key (did you mean validators?)"]


def test_an_unknown_member_of_an_object_is_named_with_its_path() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["replicaCount"], 5)
    assert problems_of(raw) == ["validators.replicaCount: is not a known key (did you mean validators.replicas?)"]


def test_a_missing_required_key_is_named() -> None:
    raw = dict(raw_config("local"))
    del raw["aurigraph-infra:environment"]
    assert problems_of(raw) == ["environment: is required but not set"]


def test_a_missing_required_member_is_named_with_its_path() -> None:
    raw = raw_config("local")
    document = json.loads(raw["aurigraph-infra:slim"])
    del document["resources"]["memoryLimit"]
    raw = raw | {"aurigraph-infra:slim": json.dumps(document)}
    assert problems_of(raw) == ["slim.resources.memoryLimit: is required but not set"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("four", "validators.replicas: expected an integer from 1 to 15, got 'four'"),
        (True, "validators.replicas: expected an integer from 1 to 15, got True"),
        (2.5, "validators.replicas: expected an integer from 1 to 15, got 2.5"),
        (0, "validators.replicas: expected an integer from 1 to 15, got 0"),
        (16, "validators.replicas: expected an integer from 1 to 15, got 16"),
    ],
)
def test_a_count_of_the_wrong_type_or_out_of_range_is_rejected(value: Any, expected: str) -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["replicas"], value)
    assert problems_of(raw) == [expected]


def test_a_count_given_as_text_is_read_as_a_number() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["replicas"], "5")
    assert load(raw, "local").validators.replicas == 5


def test_a_value_outside_its_choices_lists_them() -> None:
    raw = raw_config("local") | {"aurigraph-infra:environment": "production"}
    assert problems_of(raw) == ["environment: expected one of local, staging, prod, got 'production'"]


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("cpuRequest", "2 cores", "expected a CPU quantity such as 500m, 2 or 1.5, got '2 cores'"),
        ("cpuRequest", "0", "expected a CPU quantity such as 500m, 2 or 1.5 above zero, got '0'"),
        ("memoryLimit", "8GB", "expected a memory quantity such as 512Mi or 4Gi, got '8GB'"),
        ("memoryLimit", ["8Gi"], "expected a memory quantity such as 512Mi or 4Gi, got ['8Gi']"),
    ],
)
def test_a_malformed_quantity_is_rejected(member: str, value: Any, expected: str) -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:business", ["resources", member], value)
    assert problems_of(raw) == [f"business.resources.{member}: {expected}"]


def test_a_request_above_its_limit_is_rejected_before_the_api_server_sees_it() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["resources", "cpuRequest"], "1500m")
    raw = with_member(raw, "aurigraph-infra:validators", ["resources", "memoryRequest"], "1Gi")
    assert problems_of(raw) == [
        "validators.resources.cpuRequest: 1500m is above cpuLimit 1",
        "validators.resources.memoryRequest: 1Gi is above memoryLimit 768Mi",
    ]


def test_an_autoscaler_floor_above_its_ceiling_is_rejected() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:business", ["replicasMin"], 5)
    assert problems_of(raw) == ["business.replicasMin: 5 is above replicasMax 4"]


def test_a_scalar_where_an_object_belongs_is_rejected() -> None:
    raw = raw_config("local") | {"aurigraph-infra:validators": "4"}
    assert problems_of(raw) == ["validators: expected an object (a map of keys), got int 4"]


@pytest.mark.parametrize("name", ["Aurigraph", "aurigraph_infra", "-aurigraph", "a" * 64])
def test_a_namespace_that_is_not_a_dns_label_is_rejected(name: str) -> None:
    raw = raw_config("local") | {"aurigraph-infra:namespace": name}
    (problem,) = problems_of(raw)
    assert problem.startswith("namespace: expected a DNS label")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "ledger ops"}, "label team has value 'ledger ops', which is not a valid Kubernetes label value"),
        ({"bad key!": "x"}, "label name 'bad key!' is not a valid Kubernetes label name"),
        ({"app.kubernetes.io/name": "x"}, "label app.kubernetes.io/name is set by the program itself"),
    ],
)
def test_an_invalid_extra_label_is_rejected(labels: dict[str, str], expected: str) -> None:
    raw = raw_config("local") | {"aurigraph-infra:labels": json.dumps(labels)}
    (problem,) = problems_of(raw)
    assert problem.startswith(f"labels: {expected}")


@pytest.mark.parametrize("path", ["/tmp/out", "../outside", ""])
def test_a_render_directory_outside_the_project_is_rejected(path: str) -> None:
    raw = raw_config("local") | {"aurigraph-infra:kubernetes": json.dumps({"renderDirectory": path})}
    (problem,) = problems_of(raw)
    assert problem.startswith("kubernetes.renderDirectory: expected a path inside the project")


def test_every_problem_of_a_stack_file_is_reported_in_one_error() -> None:
    raw = raw_config("staging") | {"aurigraph-infra:namespace": "Bad_Name", "aurigraph-infra:replicas": "4"}
    raw = with_member(raw, "aurigraph-infra:slim", ["resources", "cpuLimit"], "lots")
    problems = problems_of(raw, "staging")
    assert [problem.split(":")[0] for problem in problems] == ["replicas", "namespace", "slim.resources.cpuLimit"]
    with pytest.raises(ConfigError, match=r"(?s)Pulumi\.staging\.yaml:\n  aurigraph-infra:replicas: .*\n"):
        load(raw, "staging")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("nowhere", "appSource: source directory nowhere does not exist"),
        ("docs", "appSource: docs has no pom.xml: not a Maven project"),
    ],
)
def test_an_app_source_that_is_not_a_quarkus_tree_is_rejected(source: str, expected: str) -> None:
    assert problems_of(raw_config("local") | {"aurigraph-infra:appSource": source}) == [expected]


def test_a_maven_project_without_quarkus_is_not_an_app_source(tmp_path: Path) -> None:
    (tmp_path / "pom.xml").write_text("<project/>")
    (problem,) = problems_of(raw_config("local") | {"aurigraph-infra:appSource": str(tmp_path)})
    assert problem == f"appSource: {tmp_path / 'pom.xml'} does not use quarkus-maven-plugin: not a Quarkus application"


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("registry", "http://127.0.0.1:5000", "expected a registry such as 127.0.0.1:5000"),
        ("version", "v1.2.3", "expected a version X.Y.Z (semantic versioning, no leading v)"),
        ("version", "1.2", "expected a version X.Y.Z (semantic versioning, no leading v)"),
        ("runtimeImage", "Runtime Image", "expected an image reference such as name:tag or name@sha256:..."),
        ("builder", "My_Builder", "expected a DNS label"),
    ],
)
def test_a_malformed_image_setting_is_rejected(member: str, value: str, expected: str) -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:images", [member], value)
    (problem,) = problems_of(raw)
    assert problem.startswith(f"images.{member}: {expected}")


def test_the_local_stack_pushes_to_its_loopback_registry_and_the_cloud_stacks_name_none() -> None:
    assert load(raw_config("local"), "local").images.registry == "127.0.0.1:5000"
    assert load(raw_config("staging"), "staging").images.registry is None


def test_two_validators_are_refused_since_losing_either_stops_the_ledger() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["replicas"], 2)
    (problem,) = problems_of(raw)
    assert problem.startswith("validators.replicas: 2 validators need both for a quorum")


def test_zero_validators_are_refused() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["replicas"], 0)
    assert problems_of(raw) == ["validators.replicas: expected an integer from 1 to 15, got 0"]


def test_staging_and_prod_need_a_group_that_survives_a_lost_validator() -> None:
    assert load(with_member(raw_config("local"), "aurigraph-infra:validators", ["replicas"], 1), "local")
    raw = with_member(raw_config("prod"), "aurigraph-infra:validators", ["replicas"], 1)
    assert problems_of(raw, "prod") == [
        "validators.replicas: 1 cannot survive the loss of a validator; prod needs 3 or more"
    ]


def test_a_partition_above_the_replica_count_is_refused() -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:validators", ["partition"], 5)
    assert problems_of(raw) == ["validators.partition: 5 is above replicas 4"]


def test_the_committed_cloud_stacks_need_the_operators_digests_and_alertmanager_credentials() -> None:
    problems = problems_of(committed_config("staging"), "staging")
    assert problems == [
        "alertmanagerCredentials: kube-prometheus-stack is installed (monitoring.installStack), so Alertmanager "
        "needs every credential; missing: pagerduty-routing-key, slack-webhook-url, sms-token, smtp-password",
        "images.references: a stack that does not build its images (no images.registry) needs a digest-pinned "
        "reference for each role; missing: business, slim, validator",
    ]


@pytest.mark.parametrize(
    ("references", "expected"),
    [
        (
            {"validator": "registry.example.invalid/aurigraph/validator:latest"},
            "validator: expected a reference pinned by digest",
        ),
        ({"miner": "x@sha256:" + "0" * 64}, "unknown role 'miner'"),
    ],
)
def test_image_references_must_be_pinned_by_digest_and_name_a_role(references: dict[str, str], expected: str) -> None:
    raw = with_member(raw_config("staging"), "aurigraph-infra:images", ["references"], references)
    (problem,) = problems_of(raw, "staging")
    assert problem.startswith(f"images.references: {expected}")


@pytest.mark.parametrize(
    ("tolerations", "expected"),
    [
        ([{"key": "a", "operator": "Maybe"}], "toleration operator must be Equal or Exists"),
        ([{"key": "a", "effect": "Sometimes"}], "toleration effect must be NoSchedule, PreferNoSchedule or NoExecute"),
        ([{"key": "a", "colour": "red"}], "expected each toleration to be a map of"),
        ({"key": "a"}, "expected a list of tolerations"),
    ],
)
def test_a_malformed_toleration_is_rejected(tolerations: Any, expected: str) -> None:
    raw = with_member(raw_config("local"), "aurigraph-infra:slim", ["tolerations"], tolerations)
    (problem,) = problems_of(raw)
    assert problem.startswith(f"slim.tolerations: {expected}")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["chartVersion"], "latest", "monitoring.chartVersion: expected a version such as 1.2.3, got 'latest'"),
        (["retentionDays"], 0, "monitoring.retentionDays: expected an integer from 1 to 3650, got 0"),
        (["namespace"], "Monitoring", "monitoring.namespace: expected a DNS label"),
        (["alerting", "emailTo"], "operators", "monitoring.alerting.emailTo: expected an e-mail address"),
        (["alerting", "smtpSmarthost"], "mail.example.com", "monitoring.alerting.smtpSmarthost: expected host:port"),
        (["alerting", "smsWebhookUrl"], "sms.example.com/hook", "monitoring.alerting.smsWebhookUrl: expected an http"),
        (["alerting", "slackChanel"], "#ops", "monitoring.alerting.slackChanel: is not a known key (did you mean"),
        (["enabled"], False, "monitoring.installStack: installs a stack that would watch nothing"),
    ],
)
def test_a_malformed_monitoring_setting_is_rejected(path: list[str], value: Any, expected: str) -> None:
    raw = with_member(raw_config("staging"), "aurigraph-infra:monitoring", path, value)
    (problem,) = problems_of(raw, "staging")
    assert problem.startswith(expected)


def test_alertmanager_credentials_are_named_and_never_echoed() -> None:
    raw = raw_config("staging") | {
        "aurigraph-infra:alertmanagerCredentials": json.dumps({"slack-webhook-url": "https://hooks.invalid/s3cret"})
    }
    (problem,) = problems_of(raw, "staging")
    assert problem.endswith("missing: pagerduty-routing-key, sms-token, smtp-password")
    raw["aurigraph-infra:alertmanagerCredentials"] = json.dumps({"slack-token": "s3cret"})
    (problem,) = problems_of(raw, "staging")
    assert problem.startswith("alertmanagerCredentials: unknown credential 'slack-token': expected smtp-password,")
    raw["aurigraph-infra:alertmanagerCredentials"] = json.dumps({"sms-token": 42})
    (problem,) = problems_of(raw, "staging")
    assert problem == "alertmanagerCredentials: sms-token: expected a non-empty string"


def test_a_stack_with_its_own_prometheus_operator_needs_no_credentials() -> None:
    raw = committed_config("local")
    assert json.loads(raw["aurigraph-infra:monitoring"]) == {"installStack": False}
    config = load(raw, "local")
    assert (config.monitoring.enabled, config.monitoring.install_stack) == (True, False)
    assert config.alertmanager_credentials == {}


def test_a_building_stack_takes_all_three_digests_or_none() -> None:
    raw = with_member(
        raw_config("local"), "aurigraph-infra:images", ["references"], {"validator": PROMOTED["validator"]}
    )
    assert problems_of(raw) == [
        "images.references: name every role's digest (to run those instead of building) or none (to build them all)"
    ]


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("probeRate", -1, "verification.probeRate: expected an integer from 0 to 10000, got -1"),
        ("probeSeconds", 5, "verification.probeSeconds: expected an integer from 10 to 3600, got 5"),
        ("latencyRegressionPercent", "half", "verification.latencyRegressionPercent: expected an integer"),
        ("probeRates", 5, "verification.probeRates: is not a known key (did you mean verification.probeRate?)"),
    ],
)
def test_a_malformed_verification_setting_is_rejected(member: str, value: Any, expected: str) -> None:
    raw = raw_config("staging") | {"aurigraph-infra:verification": json.dumps({member: value})}
    (problem,) = problems_of(raw, "staging")
    assert problem.startswith(expected)


def test_performance_is_measured_by_default_and_only_where_a_prometheus_watches() -> None:
    config = load(raw_config("staging"), "staging")
    assert (config.verification.probe_rate, config.verification.probe_seconds) == (5, 60)
    raw = raw_config("local") | {"aurigraph-infra:monitoring": json.dumps({"enabled": False, "installStack": False})}
    (problem,) = problems_of(raw, "local")
    assert problem.startswith("verification.probeRate: performance is measured by the Prometheus that watches")
    raw["aurigraph-infra:verification"] = json.dumps({"probeRate": 0})
    assert load(raw, "local").verification.probe_rate == 0

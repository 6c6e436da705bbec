"""The whole program (__main__.py) under mocks: config in, components composed, provider chosen."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest

from stack_config import ConfigError
from stack_config.loader import EXIT_CODE_ERROR_SHOWN
from tests.stack_files import ALERTMANAGER_CREDENTIALS, PROMOTED, SECRET_KEYS, raw_config
from tests.unit.conftest import FAKE_DIGEST, RecordingMocks, is_secret

MAIN = Path(__file__).resolve().parents[2] / "__main__.py"


def run_program(config: dict[str, str]) -> pulumi.Output[list[object]]:
    """Runs __main__.py with ``config``; returns an output that resolves once every component's parts exist."""
    pulumi.runtime.set_all_config(config, [key for key in SECRET_KEYS if key in config])
    program = runpy.run_path(str(MAIN))
    parts = [program["namespace"].name, program["network"].names]
    parts += [program[workload].name for workload in ("validators", "business", "slim")]
    return pulumi.Output.all(*parts)


def provider_inputs(mocks: RecordingMocks) -> dict[str, object]:
    (provider,) = mocks.of_type("pulumi:providers:kubernetes")
    return dict(provider.inputs)


@pulumi.runtime.test
def test_without_a_kubeconfig_the_local_stack_renders_into_its_build_directory(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    done = run_program(raw_config("local"))

    def check(_: object) -> None:
        inputs = provider_inputs(mocks)
        assert inputs["renderYamlToDirectory"] == "build/manifests/local"
        assert "kubeconfig" not in inputs
        (namespace,) = mocks.of_type("kubernetes:core/v1:Namespace")
        assert namespace.provider and "kubernetes" in namespace.provider

    return done.apply(check)


@pulumi.runtime.test
def test_with_a_kubeconfig_objects_are_applied_with_server_side_apply(mocks: RecordingMocks) -> pulumi.Output[None]:
    target = {"kubeconfig": "/etc/aurigraph/kubeconfig", "context": "kind-aurigraph"}
    done = run_program(raw_config("staging") | {"aurigraph-infra:kubernetes": json.dumps(target)})

    def check(_: object) -> None:
        inputs = provider_inputs(mocks)
        assert inputs["kubeconfig"] == "/etc/aurigraph/kubeconfig"
        assert inputs["context"] == "kind-aurigraph"
        assert inputs["enableServerSideApply"] in (True, "true")
        assert "renderYamlToDirectory" not in inputs

    return done.apply(check)


def test_bad_config_stops_the_program_before_any_resource_is_registered(mocks: RecordingMocks) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_program(raw_config("local") | {"aurigraph-infra:namespace": "Not A Label"})
    assert stopped.value.code == EXIT_CODE_ERROR_SHOWN
    assert isinstance(stopped.value.__cause__, ConfigError)
    assert "aurigraph-infra:namespace: expected a DNS label" in str(stopped.value.__cause__)
    assert mocks.resources == []


@pulumi.runtime.test
def test_the_local_stack_builds_each_role_into_its_loopback_repository_from_the_published_bases(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    done = run_program(raw_config("local"))

    def check(_: object) -> None:
        built = {image.name: image.inputs for image in mocks.of_type("docker-build:index:Image")}
        assert sorted(built) == ["business-image", "slim-image", "validator-image"]
        for name, inputs in built.items():
            role = name.removesuffix("-image")
            assert all(tag.startswith(f"127.0.0.1:5000/aurigraph/{role}:") for tag in inputs["tags"])
            assert inputs["context"]["location"] == "reference-node"
            assert inputs["buildArgs"]["BUILDER_IMAGE"] == "127.0.0.1:5000/aurigraph/builder:trixie-jdk25"
            assert inputs["buildArgs"]["RUNTIME_IMAGE"] == "127.0.0.1:5000/aurigraph/runtime:trixie"
        assert len(mocks.of_type("aurigraph:index:NodeImage")) == 3

    return done.apply(check)


@pulumi.runtime.test
def test_a_stack_without_a_registry_endpoint_builds_no_image(mocks: RecordingMocks) -> pulumi.Output[None]:
    done = run_program(raw_config("staging"))
    return done.apply(lambda _: None if mocks.of_type("docker-build:index:Image") == [] else pytest.fail("built"))


@pulumi.runtime.test
def test_each_workload_runs_its_roles_image_by_digest(mocks: RecordingMocks) -> pulumi.Output[None]:
    done = run_program(raw_config("local"))

    def check(_: object) -> None:
        for typ, role in [("StatefulSet", "validator"), ("Deployment", "business"), ("DaemonSet", "slim")]:
            (workload,) = mocks.of_type(f"kubernetes:apps/v1:{typ}")
            (node,) = workload.inputs["spec"]["template"]["spec"]["containers"]
            assert node["image"] == f"127.0.0.1:5000/aurigraph/{role}@{FAKE_DIGEST}"
            assert workload.inputs["metadata"]["namespace"] == "aurigraph"

    return done.apply(check)


@pulumi.runtime.test
def test_a_stack_that_builds_no_images_runs_the_promoted_digests_at_its_sizes(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    done = run_program(raw_config("prod"))

    def check(_: object) -> None:
        (statefulset,) = mocks.of_type("kubernetes:apps/v1:StatefulSet")
        (node,) = statefulset.inputs["spec"]["template"]["spec"]["containers"]
        assert node["image"] == PROMOTED["validator"]
        assert (node["resources"]["limits"]["cpu"], node["resources"]["limits"]["memory"]) == ("4", "8Gi")
        (hpa,) = mocks.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
        assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (6, 20)

    return done.apply(check)


@pulumi.runtime.test
def test_the_local_stack_deploys_the_rules_monitors_and_dashboards_without_the_chart(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    pulumi.runtime.set_all_config(raw_config("local"), [])
    program = runpy.run_path(str(MAIN))

    def check(dashboards: list[str]) -> None:
        assert len(dashboards) == 5
        assert mocks.of_type("kubernetes:helm.sh/v4:Chart") == []
        (rule,) = mocks.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        assert rule.provider and "kubernetes" in rule.provider
        assert len(mocks.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")) == 3

    dashboards: pulumi.Output[list[str]] = program["monitoring"].dashboards
    return dashboards.apply(check)


@pulumi.runtime.test
def test_a_cloud_stack_installs_the_chart_with_its_credentials_and_a_generated_grafana_password(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    config = raw_config("prod") | {
        "aurigraph-infra:monitoring": json.dumps({"alerting": {"emailTo": "ledger-ops@example.com"}})
    }
    pulumi.runtime.set_all_config(config, SECRET_KEYS)
    program = runpy.run_path(str(MAIN))

    def check(_: object) -> None:
        (chart,) = mocks.of_type("kubernetes:helm.sh/v4:Chart")
        config = chart.inputs["values"]["alertmanager"]["config"]
        (warning,) = [r for r in config["receivers"] if r["name"] == "warning"]
        assert warning["email_configs"][0]["to"] == "ledger-ops@example.com"
        assert "test-only" not in json.dumps(chart.inputs)
        secrets = {s.inputs["metadata"]["name"]: s.inputs for s in mocks.of_type("kubernetes:core/v1:Secret")}
        assert is_secret(secrets["alertmanager-credentials"]["stringData"])
        assert sorted(secrets["alertmanager-credentials"]["stringData"]["value"]) == sorted(ALERTMANAGER_CREDENTIALS)
        passwords = [r for r in mocks.of_type("pulumi-python:dynamic:Resource") if r.name == "grafana-admin-password"]
        assert len(passwords) == 1
        assert is_secret(secrets["grafana-admin"]["stringData"])

    dashboards: pulumi.Output[list[str]] = program["monitoring"].dashboards
    return dashboards.apply(check)


@pulumi.runtime.test
def test_given_digests_win_over_building_so_a_stack_can_be_rolled_back_to_them(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    images = json.loads(raw_config("local")["aurigraph-infra:images"]) | {"references": PROMOTED}
    pulumi.runtime.set_all_config(raw_config("local") | {"aurigraph-infra:images": json.dumps(images)}, [])
    program = runpy.run_path(str(MAIN))

    def check(deployed: dict[str, str]) -> None:
        assert deployed == PROMOTED
        assert mocks.of_type("docker-build:index:Image") == []
        (statefulset,) = mocks.of_type("kubernetes:apps/v1:StatefulSet")
        template = statefulset.inputs["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == PROMOTED["validator"]
        assert "aurigraph.io/image-size-bytes" not in statefulset.inputs["metadata"]["annotations"]

    deployed: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(program["references"])
    return pulumi.Output.all(deployed, program["validators"].name).apply(lambda values: check(values[0]))

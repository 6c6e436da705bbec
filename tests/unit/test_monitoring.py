"""MonitoringStack with Pulumi's mocks: the chart and its values, the rules and monitors as deployed, the
dashboards for Grafana's sidecar, and credentials kept secret. (Helm repositories cannot be reached here, so
the chart itself is only seen through the mocks.)"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
import yaml

from components.metadata import StackMetadata
from components.monitoring import (
    CREDENTIALS_DIR,
    MONITORING,
    AlertEndpoints,
    MonitoringStack,
    MonitoringStackArgs,
    alertmanager_config,
)
from tests.unit.conftest import RecordingMocks, is_secret

METADATA = StackMetadata(project="aurigraph-infra", stack="staging", environment="staging", extra_labels={})


def stack(**changes: Any) -> MonitoringStack:
    args = MonitoringStackArgs(
        metadata=METADATA,
        namespace="monitoring",
        nodes_namespace="aurigraph",
        chart_version="81.6.2",
        credentials={"slack-webhook-url": "https://hooks.example.invalid/T0/B0/secret", "sms-token": "sms-secret"},
        grafana_admin_password="grafana-secret",
    )
    return MonitoringStack("monitoring", MonitoringStackArgs(**{**args.__dict__, **changes}))


@pulumi.runtime.test
def test_the_chart_is_pinned_and_alertmanager_reads_its_credentials_from_the_mounted_secret(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    made = stack()

    def check(_: object) -> None:
        (chart,) = mocks.of_type("kubernetes:helm.sh/v4:Chart")
        inputs = chart.inputs
        assert (inputs["chart"], inputs["version"]) == ("kube-prometheus-stack", "81.6.2")
        assert inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
        values = inputs["values"]
        assert values["prometheus"]["prometheusSpec"]["retention"] == "15d"
        assert values["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False
        config = values["alertmanager"]["config"]
        assert config["route"]["routes"][0]["receiver"] == "critical"
        slack = config["receivers"][0]["slack_configs"][0]
        assert slack["api_url_file"] == f"{CREDENTIALS_DIR}/slack-webhook-url"
        assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["alertmanager-credentials"]
        text = json.dumps(inputs)
        for credential in ("hooks.example.invalid", "sms-secret", "grafana-secret"):
            assert credential not in text, "a credential leaked into the chart's values"
        secrets = {s.inputs["metadata"]["name"]: s.inputs for s in mocks.of_type("kubernetes:core/v1:Secret")}
        assert is_secret(secrets["alertmanager-credentials"]["stringData"])
        assert is_secret(secrets["grafana-admin"]["stringData"])
        assert values["grafana"]["admin"] == {"existingSecret": "grafana-admin"}

    return made.dashboards.apply(check)


@pulumi.runtime.test
def test_a_local_chart_archive_replaces_the_repository(mocks: RecordingMocks) -> pulumi.Output[None]:
    made = stack(chart_archive="/charts/kube-prometheus-stack-81.6.2.tgz")

    def check(_: object) -> None:
        (chart,) = mocks.of_type("kubernetes:helm.sh/v4:Chart")
        assert chart.inputs["chart"] == "/charts/kube-prometheus-stack-81.6.2.tgz"
        assert "repositoryOpts" not in chart.inputs and "version" not in chart.inputs

    return made.dashboards.apply(check)


@pulumi.runtime.test
def test_the_rules_monitors_and_dashboards_are_the_monitoring_content(mocks: RecordingMocks) -> pulumi.Output[None]:
    made = stack()

    def check(names: list[str]) -> None:
        custom = mocks.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        (rule,) = custom
        expected = yaml.safe_load((MONITORING / "rules" / "aurigraph.rules.yaml").read_text())["groups"]
        assert rule.inputs["spec"]["groups"] == expected
        assert rule.inputs["metadata"]["namespace"] == "aurigraph"
        monitors = {
            m.inputs["metadata"]["name"]: m.inputs
            for m in mocks.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
        }
        assert sorted(monitors) == ["business", "slim", "validator"]
        endpoint = monitors["validator"]["spec"]["endpoints"][0]
        assert (endpoint["port"], endpoint["path"]) == ("http", "/q/metrics")
        assert endpoint["relabelings"][0]["targetLabel"] == "component"
        assert monitors["validator"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "validator"
        assert len(names) == 5
        for board in mocks.of_type("kubernetes:core/v1:ConfigMap"):
            assert board.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"

    return made.dashboards.apply(check)


def test_an_unknown_credential_is_refused(mocks: RecordingMocks) -> None:
    with pytest.raises(ValueError, match="unknown Alertmanager credentials: twitter-token"):
        stack(credentials={"twitter-token": "x"})
    assert mocks.resources == []


@pulumi.runtime.test
def test_the_chart_goes_into_the_monitoring_namespace_it_makes(mocks: RecordingMocks) -> pulumi.Output[None]:
    made = stack(storage_class="gp3", retention_days=30, storage_gib=200)

    def check(_: object) -> None:
        (namespace,) = mocks.of_type("kubernetes:core/v1:Namespace")
        assert namespace.inputs["metadata"]["name"] == "monitoring"
        (chart,) = mocks.of_type("kubernetes:helm.sh/v4:Chart")
        assert chart.inputs["namespace"] == "monitoring"
        spec = chart.inputs["values"]["prometheus"]["prometheusSpec"]
        assert spec["retention"] == "30d"
        assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3"
        assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "200Gi"

    return made.dashboards.apply(check)


@pulumi.runtime.test
def test_without_the_chart_only_the_rules_monitors_and_dashboards_are_made_beside_the_nodes(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    made = stack(install_stack=False, credentials={}, grafana_admin_password=None)

    def check(names: list[str]) -> None:
        assert mocks.of_type("kubernetes:helm.sh/v4:Chart") == []
        assert mocks.of_type("kubernetes:core/v1:Namespace") == []
        assert mocks.of_type("kubernetes:core/v1:Secret") == []
        kinds = sorted(r.typ for r in mocks.resources if r.typ.startswith("kubernetes:"))
        assert (
            kinds
            == ["kubernetes:core/v1:ConfigMap"] * 5
            + ["kubernetes:monitoring.coreos.com/v1:PrometheusRule"]
            + ["kubernetes:monitoring.coreos.com/v1:ServiceMonitor"] * 3
        )
        assert {r.inputs["metadata"]["namespace"] for r in mocks.resources if r.typ.startswith("kubernetes:")} == {
            "aurigraph"
        }
        assert len(names) == 5

    return made.dashboards.apply(check)


def test_the_operators_addresses_replace_the_placeholders_and_nothing_else() -> None:
    default = alertmanager_config()
    endpoints = AlertEndpoints(
        slack_channel="#ledger-ops",
        email_to="ops@example.com",
        email_from="am@example.com",
        smtp_smarthost="mail.example.com:25",
        smtp_username="am",
        smtp_require_tls=False,
        sms_webhook_url="https://sms.example.com/hook",
        pagerduty_url="http://127.0.0.1:9/enqueue",
    )
    config = alertmanager_config(endpoints, credentials_dir="/run/creds")
    assert config["route"] == default["route"] and config["inhibit_rules"] == default["inhibit_rules"]
    assert [r["name"] for r in config["receivers"]] == [r["name"] for r in default["receivers"]]
    assert config["global"] | {} == {
        "resolve_timeout": "5m",
        "smtp_smarthost": "mail.example.com:25",
        "smtp_from": "am@example.com",
        "smtp_auth_username": "am",
        "smtp_auth_password_file": "/run/creds/smtp-password",
        "smtp_require_tls": False,
        "pagerduty_url": "http://127.0.0.1:9/enqueue",
    }
    receivers = {r["name"]: r for r in config["receivers"]}
    assert {s["channel"] for r in config["receivers"] for s in r.get("slack_configs", [])} == {"#ledger-ops"}
    assert receivers["warning"]["email_configs"][0]["to"] == "ops@example.com"
    assert receivers["critical"]["webhook_configs"][0]["url"] == "https://sms.example.com/hook"
    assert receivers["critical"]["pagerduty_configs"][0]["routing_key_file"] == "/run/creds/pagerduty-routing-key"

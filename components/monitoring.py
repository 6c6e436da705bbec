"""`MonitoringStack`: what watches a network, deployed from the monitoring content in `monitoring/`.

Creates, in the monitoring namespace, kube-prometheus-stack from its Helm chart (a pinned release from the
public repository, or a local chart archive for clusters without access to it) with Alertmanager's routes from
`monitoring/alertmanager.yaml` and their credentials in a Secret made from config secrets; and, in the nodes'
namespace, a PrometheusRule holding `monitoring/rules/`, a ServiceMonitor per role that labels every series with
the node's `component`, and the dashboards of `monitoring/dashboards/` as ConfigMaps for Grafana's sidecar.
Exports ``rule_groups`` (the rule groups deployed) and ``dashboards`` (their ConfigMaps' names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.metadata import COMPONENT_LABEL, StackMetadata
from components.roles import ROLES

MONITORING = Path(__file__).resolve().parent.parent / "monitoring"
CHART = "kube-prometheus-stack"
CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
CREDENTIALS_SECRET = "alertmanager-credentials"
# Where the Prometheus Operator mounts a Secret listed in the Alertmanager's `secrets`.
CREDENTIALS_DIR = f"/etc/alertmanager/secrets/{CREDENTIALS_SECRET}"
# The files monitoring/alertmanager.yaml reads its credentials from, by credential name.
CREDENTIAL_FILES = ("smtp-password", "pagerduty-routing-key", "slack-webhook-url", "sms-token")


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted((MONITORING / "rules").glob("*.yaml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


# How Prometheus scrapes every node: the ServiceMonitors' endpoint (and the live test's scrape config).
SCRAPE = {"port": "http", "path": "/q/metrics", "interval": "15s"}


@dataclass(frozen=True)
class AlertEndpoints:
    """The addresses of Alertmanager's receivers that an operator owns; None keeps monitoring/alertmanager.yaml's."""

    slack_channel: str | None = None
    email_to: str | None = None
    email_from: str | None = None
    smtp_smarthost: str | None = None
    smtp_username: str | None = None
    smtp_require_tls: bool | None = None
    sms_webhook_url: str | None = None
    pagerduty_url: str | None = None


def alertmanager_config(
    endpoints: AlertEndpoints = AlertEndpoints(), credentials_dir: str = CREDENTIALS_DIR
) -> dict[str, Any]:
    """monitoring/alertmanager.yaml with the operator's addresses and its credential files in ``credentials_dir``
    (the Prometheus Operator's mount of the credentials Secret). Routes, receivers and inhibitions are unchanged."""
    text = (MONITORING / "alertmanager.yaml").read_text()
    for name in CREDENTIAL_FILES:
        text = text.replace(f"/etc/alertmanager/secrets/{name}", f"{credentials_dir}/{name}")
    config: dict[str, Any] = yaml.safe_load(text)
    settings = {
        "smtp_smarthost": endpoints.smtp_smarthost,
        "smtp_from": endpoints.email_from,
        "smtp_auth_username": endpoints.smtp_username,
        "smtp_require_tls": endpoints.smtp_require_tls,
        "pagerduty_url": endpoints.pagerduty_url,
    }
    config["global"].update({name: value for name, value in settings.items() if value is not None})
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack["channel"] = endpoints.slack_channel or slack["channel"]
        for email in receiver.get("email_configs", []):
            email["to"] = endpoints.email_to or email["to"]
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = endpoints.sms_webhook_url or webhook["url"]
    return config


def dashboards() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted((MONITORING / "dashboards").glob("*.json"))}


# Where series the rules and dashboards use come from, by name prefix: the nodes, or a Kubernetes cluster's own
# exporters (kube-state-metrics, the kubelet and its cAdvisor).
NODE_METRIC_PREFIXES = ("aurigraph", "jvm", "process")
CLUSTER_METRIC_PREFIXES = ("kube", "kubelet", "container")


def metrics_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"\b((?:{'|'.join(prefixes)})_[a-z_]+)\b")


def metrics_used(prefixes: tuple[str, ...]) -> set[str]:
    """The metric names with one of these prefixes that the rules and dashboards use."""
    texts = [
        path.read_text()
        for path in [*(MONITORING / "rules").glob("*.yaml"), *(MONITORING / "dashboards").glob("*.json")]
    ]
    return set(metrics_pattern(prefixes).findall("\n".join(texts)))


def dashboard_queries(namespace: str) -> list[tuple[str, str]]:
    """Every panel query of the dashboards as Grafana sends it for one network (`$namespace`) and all its pods
    (`$pod`), with where it is ("board / panel"): what the live and cluster tests run."""
    queries = []
    for board, text in dashboards().items():
        for panel in json.loads(text)["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$namespace", namespace).replace("$pod", ".*")
                queries.append((f"{board} / {panel['title']}", expr))
    return queries


@dataclass(frozen=True)
class MonitoringStackArgs:
    metadata: StackMetadata
    namespace: str  # where Prometheus, Alertmanager and Grafana run
    nodes_namespace: str
    chart_version: str
    # False where the cluster already runs a Prometheus Operator: only the rules, monitors and dashboards.
    install_stack: bool = True
    chart_archive: str | None = None  # a local .tgz of the chart, for clusters without the public repository
    retention_days: int = 15
    storage_gib: int = 50
    storage_class: str | None = None
    endpoints: AlertEndpoints = AlertEndpoints()
    credentials: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # by CREDENTIAL_FILES name
    grafana_admin_password: pulumi.Input[str] | None = None


class MonitoringStack(pulumi.ComponentResource):
    """See the module's docstring."""

    rule_groups: list[str]
    dashboards: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        unknown = sorted(set(args.credentials) - set(CREDENTIAL_FILES))
        if unknown:
            raise ValueError(f"unknown Alertmanager credentials: {', '.join(unknown)}")
        super().__init__("aurigraph:monitoring:MonitoringStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = args.metadata.labels(component="monitoring")
        # Known once every part exists (the chart, when installed, first).
        parts: list[pulumi.Output[Any]] = []
        if args.install_stack:
            parts.append(self._install_stack(name, args, labels, child).urn)
        groups = rule_groups()
        self.rule_groups = [group["name"] for group in groups]
        rules = k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="aurigraph", namespace=args.nodes_namespace, labels=labels),
            spec={"groups": groups},
            opts=child,
        )
        # Each role's Services carry its selector labels (the validators' headless `validator-peers` included).
        parts.append(rules.urn)
        for role in ROLES:
            monitor = k8s.apiextensions.CustomResource(
                f"{name}-{role}-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=role, namespace=args.nodes_namespace, labels=labels),
                spec={
                    "selector": {"matchLabels": args.metadata.selector(component=role, name=role)},
                    "endpoints": [
                        {
                            **SCRAPE,
                            # The rules and dashboards select nodes by `component`.
                            "relabelings": [
                                {
                                    "sourceLabels": [
                                        "__meta_kubernetes_pod_label_" + _prometheus_name(COMPONENT_LABEL)
                                    ],
                                    "targetLabel": "component",
                                }
                            ],
                        }
                    ],
                },
                opts=child,
            )
            parts.append(monitor.urn)
        # Beside the nodes, which always exist; the Grafana sidecar searches every namespace.
        for board, text in dashboards().items():
            dashboard = k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{board}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"aurigraph-dashboard-{board}",
                    namespace=args.nodes_namespace,
                    labels={**labels, "grafana_dashboard": "1"},
                ),
                data={f"{board}.json": text},
                opts=child,
            )
            parts.append(dashboard.metadata.name)
        self.dashboards = pulumi.Output.all(*parts).apply(
            lambda values: [str(value) for value in values if str(value).startswith("aurigraph-dashboard-")]
        )
        self.register_outputs({"ruleGroups": self.rule_groups, "dashboards": self.dashboards})

    def _install_stack(
        self, name: str, args: MonitoringStackArgs, labels: dict[str, str], child: pulumi.ResourceOptions
    ) -> k8s.helm.v4.Chart:
        """The monitoring namespace, Alertmanager's credentials, Grafana's admin and kube-prometheus-stack."""
        # No Pod Security level is enforced here: the chart's node exporter reads the host (hostPID, hostNetwork).
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels=labels), opts=child
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        credentials = k8s.core.v1.Secret(
            f"{name}-alertmanager-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CREDENTIALS_SECRET, namespace=args.namespace, labels=labels),
            string_data={key: pulumi.Output.secret(value) for key, value in args.credentials.items()},
            opts=inside,
        )
        grafana_values: dict[str, Any] = {
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "searchNamespace": "ALL"}}
        }
        if args.grafana_admin_password is not None:
            admin = k8s.core.v1.Secret(
                f"{name}-grafana-admin",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="grafana-admin", namespace=args.namespace, labels=labels),
                string_data={
                    "admin-user": "admin",
                    "admin-password": pulumi.Output.secret(args.grafana_admin_password),
                },
                opts=inside,
            )
            grafana_values["admin"] = {"existingSecret": admin.metadata.name}
        volume: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{args.storage_gib}Gi"}},
        }
        if args.storage_class:
            volume["storageClassName"] = args.storage_class
        values = {
            "prometheus": {
                "prometheusSpec": {
                    "retention": f"{args.retention_days}d",
                    # Select every rule and monitor of the cluster, not only the chart's own.
                    "ruleSelectorNilUsesHelmValues": False,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "storageSpec": {"volumeClaimTemplate": {"spec": volume}},
                }
            },
            "alertmanager": {
                "config": alertmanager_config(args.endpoints),
                "alertmanagerSpec": {"secrets": [credentials.metadata.name]},
            },
            "grafana": grafana_values,
        }
        return k8s.helm.v4.Chart(
            name,
            chart=args.chart_archive or CHART,
            version=None if args.chart_archive else args.chart_version,
            repository_opts=None if args.chart_archive else k8s.helm.v4.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=args.namespace,
            values=values,
            opts=inside,
        )


def _prometheus_name(label: str) -> str:
    """A Kubernetes label name as Prometheus' service discovery spells it (`__meta_kubernetes_pod_label_<name>`)."""
    return "".join(c if c.isalnum() else "_" for c in label)

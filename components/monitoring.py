"""`MonitoringStack`: what watches a network, deployed from the monitoring content in `monitoring/`.

Creates, in the monitoring namespace, kube-prometheus-stack from its Helm chart (a pinned release from the
public repository, or a local chart archive for clusters without access to it) with Alertmanager's routes from
`monitoring/alertmanager.yaml` and their credentials in a Secret made from config secrets; and, in the nodes'
namespace, a PrometheusRule holding `monitoring/rules/`, a ServiceMonitor per role that labels every series with
the node's `component`, and the dashboards of `monitoring/dashboards/` as ConfigMaps for Grafana's sidecar.
Exports ``rule_groups`` (the rule groups deployed) and ``dashboards`` (their ConfigMaps' names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.metadata import StackMetadata
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


def alertmanager_config() -> dict[str, Any]:
    """monitoring/alertmanager.yaml with its credential files moved under the operator's mount."""
    text = (MONITORING / "alertmanager.yaml").read_text()
    for name in CREDENTIAL_FILES:
        text = text.replace(f"/etc/alertmanager/secrets/{name}", f"{CREDENTIALS_DIR}/{name}")
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def dashboards() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted((MONITORING / "dashboards").glob("*.json"))}


@dataclass(frozen=True)
class MonitoringStackArgs:
    metadata: StackMetadata
    namespace: str  # where Prometheus, Alertmanager and Grafana run
    nodes_namespace: str
    chart_version: str
    chart_archive: str | None = None  # a local .tgz of the chart, for clusters without the public repository
    retention_days: int = 15
    storage_gib: int = 50
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
        credentials = k8s.core.v1.Secret(
            f"{name}-alertmanager-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CREDENTIALS_SECRET, namespace=args.namespace, labels=labels),
            string_data={key: pulumi.Output.secret(value) for key, value in args.credentials.items()},
            opts=child,
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
                opts=child,
            )
            grafana_values["admin"] = {"existingSecret": admin.metadata.name}
        values = {
            "prometheus": {
                "prometheusSpec": {
                    "retention": f"{args.retention_days}d",
                    # Select every rule and monitor of the cluster, not only the chart's own.
                    "ruleSelectorNilUsesHelmValues": False,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "storageSpec": {
                        "volumeClaimTemplate": {
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": f"{args.storage_gib}Gi"}},
                            }
                        }
                    },
                }
            },
            "alertmanager": {
                "config": alertmanager_config(),
                "alertmanagerSpec": {"secrets": [credentials.metadata.name]},
            },
            "grafana": grafana_values,
        }
        chart = k8s.helm.v4.Chart(
            name,
            chart=args.chart_archive or CHART,
            version=None if args.chart_archive else args.chart_version,
            repository_opts=None if args.chart_archive else k8s.helm.v4.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=args.namespace,
            values=values,
            opts=child,
        )
        groups = rule_groups()
        self.rule_groups = [group["name"] for group in groups]
        node_labels = args.metadata.labels(component="monitoring")
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="aurigraph", namespace=args.nodes_namespace, labels=node_labels),
            spec={"groups": groups},
            opts=child,
        )
        # Each role's Services carry its selector labels (the validators' headless `validator-peers` included).
        for role in ROLES:
            k8s.apiextensions.CustomResource(
                f"{name}-{role}-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=role, namespace=args.nodes_namespace, labels=node_labels),
                spec={
                    "selector": {"matchLabels": args.metadata.selector(component=role, name=role)},
                    "endpoints": [
                        {
                            "port": "http",
                            "path": "/q/metrics",
                            "interval": "15s",
                            # The rules and dashboards select nodes by `component`.
                            "relabelings": [
                                {
                                    "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
                                    "targetLabel": "component",
                                }
                            ],
                        }
                    ],
                },
                opts=child,
            )
        maps = [
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{board}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"aurigraph-dashboard-{board}",
                    namespace=args.namespace,
                    labels={**labels, "grafana_dashboard": "1"},
                ),
                data={f"{board}.json": text},
                opts=child,
            )
            for board, text in dashboards().items()
        ]
        # Known once the chart and every dashboard exist.
        self.dashboards = pulumi.Output.all(chart.urn, *[m.metadata.name for m in maps]).apply(
            lambda values: [str(name) for name in values[1:]]
        )
        self.register_outputs({"ruleGroups": self.rule_groups, "dashboards": self.dashboards})

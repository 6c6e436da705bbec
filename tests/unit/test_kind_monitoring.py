"""The kind cluster's monitoring objects (tools/kind_monitoring.py), as applied by `make k8s-up`: the operator's
release examples moved to our namespace and images, and a Prometheus that selects what the monitoring component
makes. Running them is tests/e2e/test_monitoring.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from stack_config.schema import MonitoringSettings
from tools import kind_monitoring
from tools.verify_cluster import kubectl_program

PROGRAMS = ("prometheus-operator", "prometheus-config-reloader", "kube-state-metrics", "metrics-server", "prometheus")
LISTING = {name: {"image": f"aurigraph/{name}:v9.9.9", "version": "v9.9.9"} for name in PROGRAMS}


def kubectl(*arguments: str, **_: Any) -> str:
    """Only `kubectl kustomize`: no cluster."""
    return subprocess.run([kubectl_program(), *arguments], capture_output=True, text=True, check=True).stdout


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_the_namespace_is_the_stacks_default_monitoring_namespace() -> None:
    field = next(f for f in MonitoringSettings.__dataclass_fields__.values() if f.name == "namespace")
    assert kind_monitoring.NAMESPACE == field.metadata["default"] == "monitoring"


def test_the_operator_runs_our_images_in_the_monitoring_namespace() -> None:
    objects = kind_monitoring.operator_objects(LISTING)
    (deployment,) = by_kind(objects, "Deployment")
    assert deployment["metadata"]["namespace"] == "monitoring"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "aurigraph/prometheus-operator:v9.9.9"
    flags = [a.split("=", 1) for a in container["args"]]
    assert ["--prometheus-config-reloader", "aurigraph/prometheus-config-reloader:v9.9.9"] in flags
    assert ["--kubelet-service", "kube-system/kubelet"] in flags
    assert len({flag for flag, *_ in flags}) == len(flags), "a flag given twice"
    images = [a.split("=", 1)[1] for a in container["args"] if "/" in a.split("=", 1)[-1] and ":" in a]
    assert images == ["aurigraph/prometheus-config-reloader:v9.9.9"], container["args"]
    for binding in by_kind(objects, "ClusterRoleBinding"):
        assert {s["namespace"] for s in binding["subjects"]} == {"monitoring"}, binding
    accounts = {o["metadata"]["name"] for o in by_kind(objects, "ServiceAccount")}
    assert accounts == {"prometheus-operator", "prometheus"}
    assert {o["metadata"]["namespace"] for o in by_kind(objects, "ServiceAccount")} == {"monitoring"}


def test_the_exporters_run_our_images() -> None:
    objects = kind_monitoring.exporter_objects(LISTING, kubectl)
    images = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in by_kind(objects, "Deployment")
    }
    assert images == {
        "kube-state-metrics": "aurigraph/kube-state-metrics:v9.9.9",
        "metrics-server": "aurigraph/metrics-server:v9.9.9",
    }
    (server,) = [o for o in by_kind(objects, "Deployment") if o["metadata"]["name"] == "metrics-server"]
    assert "--kubelet-insecure-tls" in server["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [o["metadata"]["name"] for o in by_kind(objects, "APIService")] == ["v1beta1.metrics.k8s.io"]


def test_prometheus_selects_every_monitor_and_rule_and_scrapes_the_cluster() -> None:
    namespace, prometheus, kubelet, state = kind_monitoring.prometheus_objects(LISTING)
    assert namespace["metadata"]["name"] == prometheus["metadata"]["namespace"] == "monitoring"
    spec = prometheus["spec"]
    for selector in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{selector}Selector"] == {} and spec[f"{selector}NamespaceSelector"] == {}, selector
    assert (spec["image"], spec["version"]) == ("aurigraph/prometheus:v9.9.9", "v9.9.9")
    assert [e.get("path", "/metrics") for e in kubelet["spec"]["endpoints"]] == ["/metrics", "/metrics/cadvisor"]
    assert all(e["honorLabels"] for e in kubelet["spec"]["endpoints"] + state["spec"]["endpoints"])


def test_the_namespace_follows_the_kind_stack(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.kind.yaml"
    stack.write_text("config:\n  aurigraph-infra:monitoring:\n    installStack: false\n")
    assert kind_monitoring.monitoring_namespace(stack) == "monitoring"
    stack.write_text("config:\n  aurigraph-infra:monitoring:\n    namespace: observability\n")
    assert kind_monitoring.monitoring_namespace(stack) == "observability"


def test_a_missing_image_listing_says_how_to_make_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kind_monitoring, "LISTING", tmp_path / "monitoring-images.json")
    with pytest.raises(SystemExit, match="make kind-monitoring"):
        kind_monitoring.images()

"""What the kind cluster runs for monitoring, installed by `make k8s-up` (tools/cluster.py): the parts of
kube-prometheus-stack that make the monitoring component's objects work, built offline by
tools/kind/monitoring/build.sh (its chart repository and image registries cannot be reached here).

- The Prometheus Operator (in the kind stack's monitoring namespace, `monitoring`) with the RBAC of
  its release's examples, managing the kubelets' Service in kube-system as the chart's operator does.
- One Prometheus (`aurigraph`) that selects every ServiceMonitor, PodMonitor and PrometheusRule of the cluster, as
  the monitoring component expects of a cluster that already runs an operator (`monitoring.installStack:
  false`), and scrapes the kubelets (/metrics and cAdvisor's /metrics/cadvisor) and kube-state-metrics, which
  the chart's default monitors would. Its pods carry the operator's `app.kubernetes.io/name: prometheus`, which
  the stacks' NetworkPolicies admit to the nodes' metrics port.
- kube-state-metrics and metrics-server (kube-system), with their releases' manifests; metrics-server feeds the
  business nodes' HorizontalPodAutoscaler.

The images are loaded into the nodes (`kind load`) and never pulled.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from stack_config.schema import MonitoringSettings
from tools import crds

ROOT = Path(__file__).resolve().parent.parent
LISTING = ROOT / ".tools" / "kind" / "monitoring-images.json"
MODULES = crds.MODULES
KIND_STACK = ROOT / "Pulumi.kind.yaml"


def monitoring_namespace(stack_file: Path = KIND_STACK) -> str:
    """The kind stack's monitoring namespace (`monitoring.namespace`, else its default): the one its NetworkPolicies
    admit Prometheus from."""
    default = next(f for f in dataclasses.fields(MonitoringSettings) if f.name == "namespace").metadata["default"]
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    return str((config.get("aurigraph-infra:monitoring") or {}).get("namespace", default))


NAMESPACE = monitoring_namespace()
PROMETHEUS = "aurigraph"  # the Prometheus resource; its StatefulSet is prometheus-aurigraph
PROMETHEUS_PORT = 9090
KUBELET_SERVICE = "kube-system/kubelet"
KUBE_STATE_METRICS = "k8s.io/kube-state-metrics/v2"
METRICS_SERVER = "sigs.k8s.io/metrics-server"
SCRAPE_INTERVAL = "15s"
NAMESPACED_RBAC = {"ServiceAccount", "Deployment", "Service"}


def images() -> dict[str, dict[str, str]]:
    """What tools/kind/monitoring/build.sh made: each program's image reference and version."""
    if not LISTING.exists():
        raise SystemExit(f"{LISTING} is missing: make kind-monitoring builds the images")
    listing: dict[str, dict[str, str]] = json.loads(LISTING.read_text())
    return listing


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    for document in yaml.safe_load_all(path.read_text()):
        if document:
            yield document


def _in_namespace(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A release's example object moved to `namespace`, with the ServiceAccounts its bindings name."""
    if document["kind"] in NAMESPACED_RBAC:
        document["metadata"]["namespace"] = namespace
    for subject in document.get("subjects", []):
        if subject.get("kind") == "ServiceAccount":
            subject["namespace"] = namespace
    return document


def _only_container(document: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = document["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise SystemExit(f"{document['metadata']['name']}: expected one container, found {len(containers)}")
    return containers[0]


def operator_objects(listing: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """The operator and Prometheus' RBAC from the operator release's examples, the operator's Deployment on our
    images."""
    rbac = crds.prometheus_operator_source() / "example" / "rbac"
    objects: list[dict[str, Any]] = []
    for path in sorted((rbac / "prometheus-operator").glob("*.yaml")):
        if path.name.endswith("service-monitor.yaml"):
            continue  # the operator's own metrics are not watched here
        objects.extend(_in_namespace(d, NAMESPACE) for d in _documents(path))
    for path in sorted((rbac / "prometheus").glob("prometheus-*.yaml")):
        objects.extend(_in_namespace(d, NAMESPACE) for d in _documents(path))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = _only_container(deployment)
    container["image"] = listing["prometheus-operator"]["image"]
    reloader = listing["prometheus-config-reloader"]["image"]
    ours = {"--prometheus-config-reloader": reloader, "--kubelet-service": KUBELET_SERVICE}
    kept = [a for a in container["args"] if a.split("=", 1)[0] not in ours]
    container["args"] = [*(f"{flag}={value}" for flag, value in ours.items()), *kept]
    return objects


def kustomized(pin: str, module: str, directory: str, kubectl: Callable[..., str]) -> list[dict[str, Any]]:
    """A release's kustomization, from its Go module at the version tools/kind/monitoring/modules/<pin> requires."""
    source = crds.module_source(MODULES / pin, module) / directory
    return [d for d in yaml.safe_load_all(kubectl("kustomize", str(source))) if d]


def exporter_objects(listing: dict[str, dict[str, str]], kubectl: Callable[..., str]) -> list[dict[str, Any]]:
    """kube-state-metrics and metrics-server (kube-system) from their releases' manifests, on our images."""
    objects: list[dict[str, Any]] = []
    for document in kustomized("kube-state-metrics", KUBE_STATE_METRICS, "examples/standard", kubectl):
        if document["kind"] == "Deployment":
            _only_container(document)["image"] = listing["kube-state-metrics"]["image"]
        objects.append(document)
    for document in kustomized("metrics-server", METRICS_SERVER, "manifests/base", kubectl):
        if document["kind"] == "Deployment":
            container = _only_container(document)
            container["image"] = listing["metrics-server"]["image"]
            # A kind kubelet serves with a certificate it signed itself.
            container["args"] = [*container["args"], "--kubelet-insecure-tls"]
        objects.append(document)
    return objects


def prometheus_objects(listing: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """The namespace, the Prometheus and the monitors of the cluster's own exporters (the chart's defaults)."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                # The operator's Prometheus pods meet `baseline`, not `restricted` (no seccomp profile is set).
                "pod-security.kubernetes.io/enforce": "baseline",
            },
        },
    }
    every: dict[str, Any] = {}
    prometheus = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": PROMETHEUS, "namespace": NAMESPACE},
        "spec": {
            "image": listing["prometheus"]["image"],
            "version": listing["prometheus"]["version"],
            "replicas": 1,
            "serviceAccountName": "prometheus",
            "serviceMonitorSelector": every,
            "serviceMonitorNamespaceSelector": every,
            "podMonitorSelector": every,
            "podMonitorNamespaceSelector": every,
            "ruleSelector": every,
            "ruleNamespaceSelector": every,
            "scrapeInterval": SCRAPE_INTERVAL,
            "evaluationInterval": SCRAPE_INTERVAL,
            "retention": "1d",
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        },
    }
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    kubelet_endpoint = {
        "port": "https-metrics",
        "scheme": "https",
        "interval": SCRAPE_INTERVAL,
        "bearerTokenFile": token,
        "tlsConfig": {"insecureSkipVerify": True},
        # The series name their pod and namespace themselves, as kube-prometheus-stack keeps them.
        "honorLabels": True,
    }
    kubelet = _service_monitor(
        "kubelet",
        KUBELET_SERVICE.split("/")[0],
        [kubelet_endpoint, {**kubelet_endpoint, "path": "/metrics/cadvisor"}],
    )
    state = _service_monitor(
        "kube-state-metrics",
        "kube-system",
        [{"port": "http-metrics", "interval": SCRAPE_INTERVAL, "honorLabels": True}],
    )
    return [namespace, prometheus, kubelet, state]


def _service_monitor(app: str, namespace: str, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """A ServiceMonitor (in the monitoring namespace) of the Services named `app` in `namespace`."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": app, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "namespaceSelector": {"matchNames": [namespace]},
            "jobLabel": "app.kubernetes.io/name",
            "endpoints": endpoints,
        },
    }


def install(kubectl: Callable[..., str], load: Callable[[list[str]], None]) -> str:
    """Loads the images into the nodes, applies everything and waits until it runs; says what runs."""
    listing = images()
    started = time.monotonic()
    load(sorted({entry["image"] for entry in listing.values()}))
    namespace, prometheus, *monitors = prometheus_objects(listing)
    ordered = [namespace, *operator_objects(listing), *exporter_objects(listing, kubectl), prometheus, *monitors]
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(ordered), timeout=180)
    for namespace_name, deployment in (
        (NAMESPACE, "prometheus-operator"),
        ("kube-system", "kube-state-metrics"),
        ("kube-system", "metrics-server"),
    ):
        kubectl("-n", namespace_name, "rollout", "status", f"deployment/{deployment}", "--timeout=300s", timeout=330)
    statefulset = f"prometheus-{PROMETHEUS}"
    deadline = time.monotonic() + 180
    while not _exists(kubectl, NAMESPACE, "statefulset", statefulset):
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the operator made no StatefulSet {statefulset} in 180 s: kubectl -n {NAMESPACE} logs "
                "deployment/prometheus-operator"
            )
        time.sleep(2)
    kubectl("-n", NAMESPACE, "rollout", "status", f"statefulset/{statefulset}", "--timeout=300s", timeout=330)
    kubectl("wait", "--for=condition=Available", "apiservice/v1beta1.metrics.k8s.io", "--timeout=300s", timeout=330)
    versions = ", ".join(f"{name} {entry['version']}" for name, entry in listing.items())
    return f"{versions}; {time.monotonic() - started:.0f} s"


def _exists(kubectl: Callable[..., str], namespace: str, kind: str, name: str) -> bool:
    return bool(kubectl("-n", namespace, "get", kind, name, "-o", "name", "--ignore-not-found", timeout=60).strip())


def prometheus_address(kubectl: Callable[..., str], timeout: float = 180) -> str:
    """http://<pod address>:9090 of the cluster's Prometheus (this machine routes to the pod network), waiting while
    its pod has none (rescheduled after a drain, say)."""
    deadline = time.monotonic() + timeout
    while True:
        found = kubectl("-n", NAMESPACE, "get", "pod", f"prometheus-{PROMETHEUS}-0", "--ignore-not-found", "-o",
                        "jsonpath={.status.podIP}", timeout=60).strip()  # fmt: skip
        if found:
            return f"http://{found}:{PROMETHEUS_PORT}"
        if time.monotonic() > deadline:
            raise SystemExit(f"the pod prometheus-{PROMETHEUS}-0 ({NAMESPACE}) has no address after {timeout:.0f} s")
        time.sleep(2)

"""The monitoring component's objects at work on a real Prometheus Operator (`make k8s-up` runs one with a
Prometheus that selects every monitor and rule, kube-state-metrics and metrics-server: tools/kind_monitoring.py):
the ServiceMonitors find every node and label it with its role, the PrometheusRule is loaded and every rule
evaluates, every dashboard panel query returns data (the kubelet's, cAdvisor's and kube-state-metrics' series
included, which no local run has), and the business nodes' autoscaler reads their use."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from components.monitoring import CLUSTER_METRIC_PREFIXES, dashboard_queries, metrics_pattern, metrics_used, rule_groups
from components.roles import ROLES
from tests.e2e.conftest import NAMESPACE, Deployment, Load, await_pods_ready, kubectl_json, pods, record, service_url
from tools.cluster import kubectl
from tools.kind_monitoring import prometheus_address

ADDRESS: list[str] = []  # the Prometheus pod's, found once per test


@pytest.fixture(autouse=True)
def address() -> None:
    ADDRESS[:] = [prometheus_address(kubectl)]


def prometheus(path: str, **parameters: str) -> Any:
    url = f"{ADDRESS[0]}{path}?{urllib.parse.urlencode(parameters)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def query(expr: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = prometheus("/api/v1/query", query=expr)["result"]
    return result


def node_targets() -> dict[str, list[dict[str, Any]]]:
    """The network's scrape targets by the role the ServiceMonitors' relabeling gives them."""
    targets: dict[str, list[dict[str, Any]]] = {}
    for target in prometheus("/api/v1/targets", state="active")["activeTargets"]:
        labels = target["labels"]
        if labels.get("namespace") == NAMESPACE:
            targets.setdefault(labels.get("component", ""), []).append(target)
    return targets


def test_every_node_is_scraped_under_its_role(deployment: Deployment) -> None:
    await_pods_ready()
    expected: dict[str, list[str]] = {}
    found: dict[str, list[str]] = {}
    roles: set[str] = set()
    started = time.monotonic()
    while time.monotonic() - started < 180:
        # The pods now (the business autoscaler may change their number), and the targets: up when scraped at
        # least once and the last scrape answered.
        ready = [p for p in pods() if p.ready]
        expected = {role: sorted(p.name for p in ready if p.role == role) for role in ROLES}
        targets = node_targets()
        roles = set(targets)
        found = {
            role: sorted(t["labels"]["pod"] for t in targets.get(role, []) if t["health"] == "up") for role in ROLES
        }
        if found == expected and roles == set(ROLES):
            break
        time.sleep(5)
    assert found == expected, f"targets up by role {found}, pods {expected}"
    assert roles == set(ROLES), f"targets in {NAMESPACE} under roles {sorted(roles)}"
    record(
        f"monitoring: every node a target of the cluster's Prometheus under its role "
        f"({', '.join(f'{len(pods)} {role}' for role, pods in found.items())}) after {time.monotonic() - started:.0f} s"
    )


def test_the_rules_are_loaded_and_every_rule_evaluates(deployment: Deployment) -> None:
    wanted = {group["name"]: len(group["rules"]) for group in rule_groups()}
    loaded: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    while time.monotonic() - started < 180:
        loaded = {g["name"]: g["rules"] for g in prometheus("/api/v1/rules")["groups"] if g["name"] in wanted}
        evaluated = all(r.get("lastEvaluation", "").startswith("20") for rules in loaded.values() for r in rules)
        if set(loaded) == set(wanted) and evaluated:
            break
        time.sleep(5)
    assert {name: len(rules) for name, rules in loaded.items()} == wanted
    failing = [f"{r['name']}: {r.get('lastError')}" for rules in loaded.values() for r in rules if r["health"] != "ok"]
    assert not failing, failing
    record(
        f"monitoring: the PrometheusRule's {sum(wanted.values())} rules ({', '.join(wanted)}) loaded by the "
        "operator and evaluated without error"
    )


def test_every_cluster_series_the_rules_and_dashboards_use_exists(deployment: Deployment) -> None:
    """The names of kube-state-metrics', the kubelet's and cAdvisor's series are nowhere else checked: promtool's
    tests only feed the names the rules were written with."""
    wanted = metrics_used(CLUSTER_METRIC_PREFIXES)
    assert len(wanted) >= 5, wanted
    missing = wanted
    started = time.monotonic()
    while time.monotonic() - started < 180 and missing:
        missing = wanted - set(prometheus("/api/v1/label/__name__/values"))
        time.sleep(0 if not missing else 5)
    assert not missing, f"the rules or dashboards use series no exporter of the cluster has: {sorted(missing)}"


def test_every_selector_in_the_rules_matches_series(deployment: Deployment) -> None:
    """A rule can evaluate without error and never match: a wrong label value in a selector. Every `name{...}`
    selector of the rules must find series here (but the pipeline's pushed results, which no cluster has)."""
    selectors = sorted(
        {
            found.group(0)
            for group in rule_groups()
            for rule in group["rules"]
            for found in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\}", rule["expr"])
            if not found.group(0).startswith("aurigraph_pipeline_")
        }
    )
    assert len(selectors) >= 20, selectors
    empty = selectors
    started = time.monotonic()
    while time.monotonic() - started < 180 and empty:
        empty = [selector for selector in selectors if not query(selector)]
        time.sleep(5 if empty else 0)
    assert not empty, f"selectors of the rules that match nothing on the cluster: {empty}"
    record(f"monitoring: each of the rules' {len(selectors)} series selectors matched series on the cluster")


def test_every_dashboard_panel_query_returns_data(deployment: Deployment) -> None:
    """Every panel, with its variables as Grafana fills them. The alert panels show what fires: on a healthy
    network that is nothing, so they must show exactly what Prometheus reports firing (the live test,
    tests/monitoring, fires them)."""
    queries = dashboard_queries(NAMESPACE)
    assert len(queries) >= 30, queries
    wrong = [where for where, _ in queries]
    started = time.monotonic()
    # Under load, so that every rate has something to count; a minute of scrapes first (rates over 1 m windows).
    with Load(service_url("business"), f"monitoring-{int(started)}", rate=5) as load:
        while time.monotonic() - started < 300 and wrong:
            time.sleep(15)
            firing = any(
                a["state"] == "firing" and a["labels"].get("namespace") == NAMESPACE
                for a in prometheus("/api/v1/alerts")["alerts"]
            )
            wrong = [
                f"{where}: {expr}"
                for where, expr in queries
                if bool(query(expr)) != (firing if "ALERTS{" in expr else True)
            ]
    assert not wrong, "panel queries without data (or alert panels not showing what fires) on the cluster:\n" + (
        "\n".join(wrong)
    )
    cluster = [expr for _, expr in queries if metrics_pattern(CLUSTER_METRIC_PREFIXES).search(expr)]
    record(
        f"monitoring: all {len(queries)} dashboard panel queries answered on the cluster ({len(cluster)} on "
        f"kube-state-metrics', the kubelet's and cAdvisor's series) after {time.monotonic() - started:.0f} s; "
        f"{load.summary()}"
    )


def test_the_business_autoscaler_reads_the_nodes_use(deployment: Deployment) -> None:
    """metrics-server gives the HorizontalPodAutoscaler the pods' CPU and memory, as a share of their requests."""
    status: dict[str, Any] = {}
    readings: dict[str, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < 180:
        status = kubectl_json("-n", NAMESPACE, "get", "hpa", "business")["status"]
        # An entry without a reading (`{"type": "Resource"}`) while the pods have none yet.
        readings = {
            m["resource"]["name"]: m["resource"]["current"]["averageUtilization"]
            for m in status.get("currentMetrics") or []
            if m.get("resource", {}).get("current", {}).get("averageUtilization") is not None
        }
        if set(readings) == {"cpu", "memory"}:
            break
        time.sleep(5)
    assert set(readings) == {"cpu", "memory"}, status
    record(
        f"monitoring: the business autoscaler reads its pods through metrics-server after "
        f"{time.monotonic() - started:.0f} s: cpu {readings['cpu']}%, memory {readings['memory']}% of requests, "
        f"{status.get('currentReplicas')} replicas"
    )

"""The five dashboards as generated: each has the datasource, network and node variables and the runbooks
link, every panel's query uses only series that exist (the recording rules, the node's metrics, the
cluster's), and the committed JSON is what the generator writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring import CLUSTER_METRIC_PREFIXES
from tools import gen_dashboards

ROOT = Path(__file__).resolve().parents[2]
TITLES = {
    "system-health": "Aurigraph: System Health Overview",
    "transaction-performance": "Aurigraph: Transaction Performance",
    "infrastructure": "Aurigraph: Infrastructure",
    "blockchain": "Aurigraph: Blockchain Specifics",
    "alerts-and-deployments": "Aurigraph: Alerts & Deployments",
}
# Series from outside the node: Prometheus itself, kube-state-metrics, the kubelet and cAdvisor.
# (The cluster suite, tests/e2e/test_monitoring.py, checks that the cluster's exporters have each name used.)
CLUSTER_SERIES = re.compile(rf"up|ALERTS|(?:{'|'.join(CLUSTER_METRIC_PREFIXES)})_[a-z_]+")


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text()) for path in sorted((ROOT / "monitoring" / "dashboards").glob("*.json"))
    }


def recorded() -> set[str]:
    document = yaml.safe_load((ROOT / "monitoring" / "rules" / "aurigraph.rules.yaml").read_text())
    return {rule["record"] for group in document["groups"] for rule in group["rules"] if "record" in rule}


def node_metrics() -> set[str]:
    contract = (ROOT / "docs" / "reference" / "node-contract.md").read_text()
    return set(re.findall(r"^\| `(aurigraph_[a-z_]+)` \|", contract, re.MULTILINE))


def series_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers followed by a selector, a range or a space."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)", without_strings))
    return names - {"by", "without", "on", "ignoring"}


def test_the_five_dashboards_exist_with_their_titles() -> None:
    assert {name: board["title"] for name, board in dashboards().items()} == TITLES


def test_the_committed_json_is_what_the_generator_writes() -> None:
    assert gen_dashboards.main(["--check"]) == 0


@pytest.mark.parametrize("name", TITLES)
def test_each_dashboard_has_its_variables_and_links_to_the_runbooks(name: str) -> None:
    board = dashboards()[name]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "pod"}
    assert variables["datasource"]["query"] == "prometheus"
    assert [link["url"] for link in board["links"]] == [gen_dashboards.RUNBOOKS]


@pytest.mark.parametrize("name", TITLES)
def test_every_panel_queries_series_that_exist_with_a_unit_and_the_network_filter(name: str) -> None:
    known = recorded() | node_metrics() | {"jvm_memory_used_bytes", "jvm_memory_max_bytes", "process_cpu_usage"}
    for panel in dashboards()[name]["panels"]:
        assert panel["targets"], panel["title"]
        if panel["type"] != "table":
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']} has no unit"
        for query in panel["targets"]:
            assert query["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert 'namespace=~"$namespace"' in query["expr"], f"{panel['title']}: not filtered by network"
            for series in series_in(query["expr"]):
                assert series in known or CLUSTER_SERIES.fullmatch(series), f"{panel['title']}: unknown {series}"


def test_the_expression_reader_finds_series_and_skips_functions_and_label_values() -> None:
    expr = 'sum by (pod) (rate(a_total{x="y{z}"}[1m])) / b:c:d{n=~"$n"} and on () up{q="r"}'
    assert series_in(expr) == {"a_total", "b:c:d", "up"}

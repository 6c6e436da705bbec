"""Verification's performance check (tools/performance.py): its objectives come from the alerting rules, its
judgement, and its measurement's order of steps and queries, with a loopback node and a scripted Prometheus. The
e2e suite runs it on the cluster's real Prometheus (tests/e2e/test_failed_release.py)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import performance
from tools.performance import Baseline, Measurement, Objectives, PerformanceError, judge, objectives

GOALS = Objectives(p99_ms=100, failed_ratio=0.01, committed_share=0.85)


def measured(**changes: Any) -> Measurement:
    figures: dict[str, Any] = {"rate": 5, "seconds": 60, "offered": 300, "committed": 300, "handled": 300}
    figures |= {"p50_ms": 15.0, "p99_ms": 45.0} | changes
    return Measurement(**figures)


def test_the_objectives_are_the_alerting_rules_thresholds() -> None:
    assert objectives() == GOALS


def test_a_rules_file_without_the_alert_is_refused_by_name(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    alert = "      - alert: AurigraphLatencyP99High\n        expr: up == 0\n"
    rules.write_text("groups:\n  - name: x\n    rules:\n" + alert)
    with pytest.raises(PerformanceError, match="alert AurigraphLatencyP99High has no expression of the form"):
        objectives(rules)


def test_a_deployment_within_the_objectives_passes() -> None:
    problems, limit = judge(measured(), GOALS, None, 50)
    assert problems == []
    assert limit == "the objective 100 ms (AurigraphLatencyP99High)"


def test_without_a_baseline_a_p99_over_the_objective_fails() -> None:
    problems, _ = judge(measured(p99_ms=180.0), GOALS, None, 50)
    assert problems == ["p99 180.0 ms is over the objective 100 ms (AurigraphLatencyP99High)"]


def test_over_the_objective_a_p99_is_held_to_the_last_verified_one_plus_the_allowed_regression() -> None:
    slow_cluster = Baseline(rate=5, p99_ms=120.0)
    assert judge(measured(p99_ms=170.0), GOALS, slow_cluster, 50)[0] == []
    problems, _ = judge(measured(p99_ms=190.0), GOALS, slow_cluster, 50)
    assert problems == ["p99 190.0 ms is over 180 ms: the last verified p99 120 ms + 50%"]
    # A fast baseline does not lower the objective.
    assert judge(measured(p99_ms=90.0), GOALS, Baseline(rate=5, p99_ms=20.0), 50)[0] == []
    # Figures at another probe rate are not comparable: the objective alone.
    assert judge(measured(p99_ms=170.0), GOALS, Baseline(rate=50, p99_ms=160.0), 50)[0] != []


def test_lost_and_failed_transactions_and_restarts_fail() -> None:
    problems, _ = judge(measured(committed=250), GOALS, None, 50)
    assert problems == ["250 of 300 offered transactions committed, under 85% (AurigraphTpsDrop)"]
    problems, _ = judge(measured(committed=294, failed=6), GOALS, None, 50)
    assert problems == ["2.0% of transactions failed, over 1% (AurigraphErrorRateHigh)"]
    problems, _ = judge(measured(committed=0, handled=0, p99_ms=math.nan), GOALS, None, 50)
    assert problems[-1] == "p99 nan ms is over the objective 100 ms (AurigraphLatencyP99High)"
    problems, _ = judge(measured(restarted=["business-1"]), GOALS, None, 50)
    assert problems == ["business pods restarted during the measurement: business-1"]


def test_a_recorded_baseline_is_read_back_and_an_unreadable_one_is_none() -> None:
    figures = measured()
    assert Baseline.parse(figures.baseline()) == Baseline(rate=5, p99_ms=45.0)
    assert json.loads(figures.baseline())["committedTps"] == 5.0
    assert Baseline.parse(None) is None
    assert Baseline.parse('{"rate": 5}') is None
    assert Baseline.parse("not json") is None


@pytest.fixture
def business_node() -> Iterator[tuple[int, list[str]]]:
    """A loopback stand-in for the business Service behind a proxy path: commits everything; records the paths."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            paths.append(self.path)
            body = json.dumps({"status": "committed", "latencyMillis": 3.0}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], paths
    server.shutdown()


def test_the_probe_is_measured_between_two_scrapes_after_the_warm_up(business_node: tuple[int, list[str]]) -> None:
    port, paths = business_node
    asked: list[tuple[str, float]] = []
    scrapes = iter([0.0])  # the first reading predates the warm-up's end: the wait asks again

    def prometheus(expression: str, at: float) -> list[dict[str, Any]]:
        asked.append((expression, at))
        if expression.startswith("timestamp(up{"):
            stamp = next(scrapes, time.time() + 1)
            return [{"metric": {"pod": pod}, "value": [at, str(stamp)]} for pod in ("business-a", "business-b")]
        if "by (result)" in expression:
            return [
                {"metric": {"result": "committed"}, "value": [at, "99"]},
                {"metric": {"result": "failed"}, "value": [at, "1"]},
            ]
        if expression.startswith("histogram_quantile(0.5,"):
            return [{"metric": {}, "value": [at, "12.5"]}]
        if expression.startswith("histogram_quantile(0.99,"):
            return [{"metric": {}, "value": [at, "48"]}]
        return []  # no counter went down

    prefix = "/api/v1/namespaces/ledger/services/business:http/proxy"
    figures = performance.measure(prometheus, (port, prefix), "ledger", ["business-a", "business-b"], 50, 2, 0.4)
    assert (figures.offered, figures.committed, figures.failed, figures.handled) == (100, 99, 1, 100)
    assert (figures.p50_ms, figures.p99_ms, figures.restarted) == (12.5, 48, [])
    assert figures.client_errors == {} and figures.client_p99_ms < 1000
    assert len(paths) == 120 and set(paths) == {f"{prefix}/api/v11/transactions"}  # warm-up and probe
    queries = [expression for expression, _ in asked]
    # Scrape waits: one after the warm-up (asked again until it is fresh), one after the probe.
    assert sum(q.startswith("timestamp(up{") for q in queries) == 3
    selector = 'namespace="ledger",pod=~"business-a|business-b"'
    assert f"up{{{selector}}}" in queries[0]
    difference = next(q for q in queries if "by (result)" in q)
    start, end = (float(t) for t in re.findall(r"@ ([0-9.]+)", difference)[1:3])
    assert start < end and end - start >= 2
    assert difference == (
        f"sum by (result) (aurigraph_transactions_processed_total{{{selector}}} @ {end:.3f} - "
        f"(aurigraph_transactions_processed_total{{{selector}}} @ {start:.3f} or "
        f"aurigraph_transactions_processed_total{{{selector}}} @ {end:.3f} * 0))"
    )


def test_prometheus_not_scraping_the_pods_is_an_error_that_names_them(
    business_node: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(performance, "SCRAPE_WAIT_SECONDS", 0.5)

    def prometheus(expression: str, at: float) -> list[dict[str, Any]]:
        return [{"metric": {"pod": "business-a"}, "value": [at, str(time.time() + 1)]}]

    with pytest.raises(PerformanceError, match=r"Prometheus has not scraped business-b in 0.5 s"):
        performance.measure(prometheus, (business_node[0], ""), "ledger", ["business-a", "business-b"], 20, 1, 0.2)

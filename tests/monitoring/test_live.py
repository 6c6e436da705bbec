"""The monitoring content proven live (see conftest.py for what runs): data for every recording rule and dashboard
query, a failing pipeline warned about by Slack and mail, a stopped leader and business node paged through
PagerDuty, Slack and the SMS gateway, a lost quorum paged for its cause with the symptom inhibited, and a
screenshot of the TPS graph. The tests run in order on one network; each waits as long as the rules' `for:` say.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from components.monitoring import CLUSTER_METRIC_PREFIXES, dashboard_queries, metrics_pattern, rule_groups
from tests.monitoring.conftest import CREDENTIALS, ENDPOINTS, LOAD_TPS, NAMESPACE, WORK, Delivery, Watched, binary
from tools import pipeline

T = TypeVar("T")
# Series only a Kubernetes cluster exports (kube-state-metrics, the kubelet, cAdvisor): there is none here, so the
# panels on them are listed, not run; the cluster suite runs every panel (tests/e2e/test_monitoring.py).
CLUSTER_ONLY = metrics_pattern(CLUSTER_METRIC_PREFIXES)
SCREENSHOT = WORK / "prometheus-tps.png"


def wait_for(what: str | Callable[[], str], probe: Callable[[], T | None], timeout: float, every: float = 5) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"not within {timeout:.0f} s: {what if isinstance(what, str) else what()}")


def alertnames(deliveries: list[Delivery]) -> set[str]:
    """Alert names in what the SMS gateway got (Alertmanager's webhook format carries every alert's labels)."""
    return {alert["labels"]["alertname"] for d in deliveries for alert in d.body["alerts"]}


def webhook_alerts(watched: Watched, alertname: str) -> list[dict[str, Any]]:
    return [a for d in watched.receivers.of("sms") for a in d.body["alerts"] if a["labels"]["alertname"] == alertname]


def leader(watched: Watched) -> str | None:
    found = watched.query(f'aurigraph_consensus_is_leader{{namespace="{NAMESPACE}"}} == 1')
    pods = [series["metric"]["pod"] for series in found if series["metric"]["pod"] not in watched.stopped]
    return pods[0] if len(pods) == 1 else None


def test_every_recording_rule_has_data(watched: Watched) -> None:
    # The pipeline's last run failed its tests: pushed now, so that its `for:` runs while the network warms up.
    failed = pipeline.Run("local", stages=[pipeline.Stage("test", 12.0, passed=False)])
    assert pipeline.push_metrics(watched.pushgateway, failed).startswith("pushed to ")
    records = [rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule]

    def empty() -> list[str]:
        return [record for record in records if not watched.query(record)]

    wait_for(lambda: f"data for every recording rule (still empty: {empty()})", lambda: not empty() or None, 300)

    def committed() -> float:
        return float(watched.query("aurigraph:transactions_committed:rate1m")[0]["value"][1])

    # The one-minute rate reaches the offered load once a full minute of it is scraped.
    wait_for(lambda: f"committed TPS near {LOAD_TPS} (at {committed():.1f})", lambda: committed() > 0.9 * LOAD_TPS, 120)
    print(f"\n  committed TPS recorded: {committed():.1f} (offered {LOAD_TPS})")


def test_a_healthy_network_under_load_raises_no_alert(watched: Watched) -> None:
    # Past the 2 minutes of the alerts that compare validators (and a margin): nothing is firing or even pending
    # but the pipeline's result pushed on purpose.
    time.sleep(max(0.0, watched.started + 165 - time.monotonic()))
    raised = [s["metric"] for s in watched.query("ALERTS") if s["metric"]["alertname"] != "AurigraphPipelineFailing"]
    assert not raised, f"a healthy network raised alerts: {raised}"


def test_a_failing_pipeline_warns_on_slack_and_by_mail(watched: Watched) -> None:
    mails = wait_for(
        "the pipeline warning by mail",
        lambda: [m for m in watched.receivers.of("email") if "AurigraphPipelineFailing" in m.body["text"]],
        timeout=240,
    )
    assert mails[0].headers["To"] == ENDPOINTS.email_to
    assert mails[0].headers["From"] == ENDPOINTS.email_from
    slack = [s for s in watched.receivers.of("slack") if "AurigraphPipelineFailing" in json.dumps(s.body)]
    assert slack, "the warning reached mail but not Slack"
    attachment = slack[0].body["attachments"][0]
    assert attachment["title"] == "[FIRING] AurigraphPipelineFailing in "
    assert "The pipeline's test stage fails for local" in attachment["text"]
    assert "docs/runbooks/AurigraphPipelineFailing.md" in attachment["text"]
    assert slack[0].body["channel"] == "#aurigraph-alerts"
    assert not [d for d in watched.receivers.of("pagerduty") if "Pipeline" in json.dumps(d.body)], "a warning paged"


def test_stopping_the_leader_and_a_business_node_pages_through_every_critical_receiver(watched: Watched) -> None:
    stopped_leader = wait_for("one leader", lambda: leader(watched), timeout=60)
    watched.stop_nodes(stopped_leader, "business-1")
    started = time.monotonic()

    def both_down() -> set[str] | None:
        pods = {a["labels"]["pod"] for a in webhook_alerts(watched, "AurigraphNodeDown")}
        return pods if pods >= {stopped_leader, "business-1"} else None

    assert wait_for("NodeDown for both nodes at the SMS gateway", both_down, timeout=300) == {
        stopped_leader,
        "business-1",
    }
    print(f"\n  NodeDown reached the SMS gateway {time.monotonic() - started:.0f} s after the stop (for: 2m)")
    sms = watched.receivers.of("sms")[0]
    assert sms.headers["Authorization"] == f"Bearer {CREDENTIALS['sms-token']}"
    pages = [p.body for p in watched.receivers.of("pagerduty") if "AurigraphNodeDown" in p.body["payload"]["summary"]]
    assert pages and all(p["routing_key"] == CREDENTIALS["pagerduty-routing-key"] for p in pages)
    paged = " ".join(p["payload"]["summary"] for p in pages)
    assert f"Aurigraph validator {stopped_leader} is down" in paged and "Aurigraph business business-1 is down" in paged
    slack = " ".join(
        a["text"] for s in watched.receivers.of("slack") for a in s.body["attachments"] if "NodeDown" in a["title"]
    )
    assert f"validator {stopped_leader} is down" in slack and "business business-1 is down" in slack
    assert not [m for m in watched.receivers.of("email") if "AurigraphNodeDown" in m.body["text"]], "critical mailed"
    # One validator of four down leaves a bare quorum: paged too.
    wait_for("QuorumAtRisk paged", lambda: webhook_alerts(watched, "AurigraphQuorumAtRisk"), timeout=120)


def test_losing_the_quorum_pages_its_cause_and_inhibits_the_symptom(watched: Watched) -> None:
    new_leader = wait_for("a new leader", lambda: leader(watched), timeout=60)
    watched.stop_nodes(new_leader)  # two of four validators left: no majority, no leader, nothing commits
    wait_for("NoLeader paged", lambda: webhook_alerts(watched, "AurigraphNoLeader"), timeout=240)

    def stuck_inhibited() -> list[dict[str, Any]]:
        return [
            a
            for a in watched.alertmanager_alerts()
            if a["labels"]["alertname"] == "AurigraphConsensusStuck" and a["status"]["inhibitedBy"]
        ]

    (stuck,) = wait_for("ConsensusStuck firing and inhibited in Alertmanager", stuck_inhibited, timeout=240)
    assert stuck["status"]["state"] == "suppressed"
    assert stuck["labels"]["namespace"] == NAMESPACE
    time.sleep(15)  # past the critical route's group_wait (10 s): an uninhibited alert would have gone out
    delivered = alertnames(watched.receivers.of("sms"))
    assert "AurigraphConsensusStuck" not in delivered, "an inhibited alert reached the SMS gateway"
    for receiver in ("pagerduty", "slack", "email"):
        assert not [d for d in watched.receivers.of(receiver) if "ConsensusStuck" in json.dumps(d.body)], receiver
    print(f"\n  paged: {sorted(delivered)}; inhibited: AurigraphConsensusStuck by {stuck['status']['inhibitedBy']}")


def test_every_dashboard_query_returns_data(watched: Watched) -> None:
    ran, cluster_only, empty = 0, [], []
    for where, expr in dashboard_queries(NAMESPACE):
        if CLUSTER_ONLY.search(expr):
            cluster_only.append(where)
            continue
        ran += 1
        if not watched.query(expr):
            empty.append(f"{where}: {expr}")
    print(f"\n  {ran} panel queries returned data; {len(cluster_only)} need a cluster's exporters:")
    for where in cluster_only:
        print(f"    {where}")
    assert not empty, "panel queries without data:\n" + "\n".join(empty)
    assert ran >= 20


def test_a_screenshot_of_the_tps_graph(watched: Watched) -> None:
    query = urllib.parse.urlencode(
        {
            "g0.expr": "aurigraph:transactions_committed:rate1m",
            "g0.tab": "0",
            "g0.range_input": "8m",
            "g1.expr": 'sum by (result) (rate(aurigraph_transactions_processed_total{role="business"}[1m]))',
            "g1.tab": "0",
            "g1.range_input": "8m",
        }
    )
    SCREENSHOT.unlink(missing_ok=True)
    subprocess.run(
        [
            binary("chromium-headless-shell"),
            "--no-sandbox",
            "--hide-scrollbars",
            "--window-size=1400,1500",
            "--virtual-time-budget=15000",
            f"--screenshot={SCREENSHOT}",
            f"{watched.prometheus}/graph?{query}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Path(SCREENSHOT).read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 30_000, f"{len(image)} bytes"
    print(f"\n  {SCREENSHOT} ({len(image) // 1024} KiB)")

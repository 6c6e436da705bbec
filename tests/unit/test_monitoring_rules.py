"""The monitoring content's own rules: every alert is complete (severity, summary, description, runbook) and is
covered by promtool tests that see it fire and stay silent one evaluation before (promtool runs them in
`make monitoring-check`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RUNBOOKS = "https://github.com/aurigraph/aurigraph-infra/blob/main/docs/runbooks/"


def alerts() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "rules" / "aurigraph.rules.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def alert_tests() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "tests" / "alerts.test.yaml").read_text())
    return [case for test in document["tests"] for case in test.get("alert_rule_test", [])]


def test_there_are_at_least_ten_critical_alerts() -> None:
    assert sum(1 for alert in alerts() if alert["labels"]["severity"] == "critical") >= 10


@pytest.mark.parametrize("alert", alerts(), ids=lambda alert: alert["alert"])
def test_every_alert_has_a_severity_a_summary_a_description_and_its_runbook(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in ("critical", "warning")
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["runbook_url"] == f"{RUNBOOKS}{alert['alert']}.md"
    assert "for" in alert, "every alert waits before it fires"


@pytest.mark.parametrize("alert", alerts(), ids=lambda alert: alert["alert"])
def test_every_alert_is_tested_firing_and_silent_before_its_boundary(alert: dict[str, Any]) -> None:
    cases = [case for case in alert_tests() if case["alertname"] == alert["alert"]]
    assert any(case["exp_alerts"] for case in cases), "no test sees it fire"
    assert any(case["exp_alerts"] == [] for case in cases), "no test sees it silent"


DOCS = MONITORING.parent / "docs" / "runbooks"
SECTIONS = ["## Meaning", "## Impact", "## Diagnosis", "## Mitigation", "## Escalation"]


@pytest.mark.parametrize("alert", alerts(), ids=lambda alert: alert["alert"])
def test_every_alert_has_its_runbook_page_with_the_five_sections(alert: dict[str, Any]) -> None:
    page = DOCS / f"{alert['alert']}.md"
    assert page.is_file(), f"{page} is missing"
    text = page.read_text()
    assert text.startswith(f"# {alert['alert']}\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == SECTIONS


def test_the_runbook_index_lists_every_alert_and_no_other() -> None:
    index = (DOCS / "README.md").read_text()
    linked = set(re.findall(r"\(([A-Za-z0-9]+)\.md\)", index))
    assert linked == {alert["alert"] for alert in alerts()}
    assert {page.stem for page in DOCS.glob("*.md")} - {"README"} == linked


@pytest.mark.parametrize("alert", alerts(), ids=lambda alert: alert["alert"])
def test_every_runbook_shows_its_alerts_expression_severity_and_wait(alert: dict[str, Any]) -> None:
    text = (DOCS / f"{alert['alert']}.md").read_text()
    assert f"Severity: {alert['labels']['severity']}. `for:` {alert['for']}." in text
    block = re.search(r"```promql\n(.*?)```", text, re.DOTALL)
    assert block, "the runbook shows no expression"
    assert block.group(1) == alert["expr"].rstrip("\n") + "\n", "the runbook's expression differs from the rule's"

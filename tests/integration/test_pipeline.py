"""`make pipeline` on the local stack, for real, in a copy of the project: a good change goes through every stage and
its digests are recorded as verified; a change whose image never becomes healthy is rolled back to those digests
automatically, and the report says so; `make rollback` re-applies them on its own. Every run's stage results reach a
real Pushgateway, as the AurigraphPipelineFailing alert reads them. The tests run in order."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.integration.conftest import ROOT, rendered_images, verified_tags
from tests.monitoring.conftest import await_answer, binary

# The fast tiers run by the test stage (the suite around this test runs the rest).
TEST_TARGETS = "unit"
RECORDED: dict[str, str] = {}
PUSHGATEWAY = "http://127.0.0.1:19591"


@pytest.fixture(scope="module", autouse=True)
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Pushgateway on loopback (`make integration` installs it), for the runs' stage results."""
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    command = [binary("prometheus-pushgateway"), "--web.listen-address=127.0.0.1:19591"]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        await_answer(f"{PUSHGATEWAY}/-/ready", process, log)
        yield PUSHGATEWAY
    finally:
        process.terminate()
        process.wait(timeout=30)


def pushed() -> dict[str, float]:
    """The local stack's group in the Pushgateway, as `metric{labels}` -> value (job and stack labels left out)."""
    with urllib.request.urlopen(f"{PUSHGATEWAY}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("aurigraph_pipeline_") and 'stack="local"' in line and 'job="aurigraph-pipeline"' in line:
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            kept = [label for label in labels.rstrip("}").split(",") if label.startswith("stage=")]
            found[f"{name}{{{','.join(kept)}}}" if kept else name] = float(value)
    return found


def outcomes(results: dict[str, float]) -> dict[str, int]:
    """Each stage's success gauge by stage, and the run's `success` and `rolled_back`."""
    found = {}
    for series, value in results.items():
        if series.startswith('aurigraph_pipeline_stage_success{stage="'):
            found[series.split('"')[1]] = int(value)
        elif "{" not in series:
            found[series.removeprefix("aurigraph_pipeline_")] = int(value)
    return found


def pipeline(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.pipeline", *args, "--stack", "local", "--project-dir", str(project)]
    command += ["--pushgateway", PUSHGATEWAY]
    return subprocess.run(command, cwd=ROOT, env=os.environ | env, capture_output=True, text=True, timeout=1800)


def tags(stack: auto.Stack) -> dict[str, str]:
    return verified_tags(Path(stack.workspace.work_dir), dict(stack.workspace.env_vars), "local")


def test_a_good_change_goes_through_every_stage_and_is_recorded_as_verified(
    project: Path, env: dict[str, str], stack: auto.Stack
) -> None:
    result = pipeline(project, env, "run", "--test-targets", TEST_TARGETS)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = (project / "build" / "pipeline" / "report.txt").read_text()
    assert re.search(
        r"Pipeline Status: success; \d+ s in all "
        r"\(test \d+ s, build \d+ s, supply chain \d+ s, up \d+ s, verify \d+ s\)",
        report,
    )
    assert "Result: PASS" in report and "Blockers: none" in report
    assert re.search(r"Deployment: 7 pods healthy, 0 not; smoke 10 of 10; 5 nodes at height \d+", report), report
    for role in ("business", "slim", "validator"):
        assert re.search(rf"{role} [0-9.]+ MB \(budget \d+ MB\) 127\.0\.0\.1:5000/aurigraph/{role}@sha256:", report)
    for role in ("business", "slim", "validator"):
        assert re.search(
            rf"Supply chain: {role}: provenance by \S+; SBOM \d+ packages; scan 0 high or critical; "
            "signed and SBOM attested",
            report,
        ), report
    RECORDED.update(tags(stack))
    assert sorted(RECORDED) == ["business", "slim", "validator"]
    assert rendered_images(project, "local") == RECORDED
    assert not (project / "Pulumi.local.yaml").read_text().count("references"), "the stack file was edited"
    assert f"Metrics: pushed to {PUSHGATEWAY}/metrics/job/aurigraph-pipeline/stack/local" in report
    results = pushed()
    assert outcomes(results) == {
        "test": 1,
        "build": 1,
        "supply_chain": 1,
        "up": 1,
        "verify": 1,
        "success": 1,
        "rolled_back": 0,
    }
    assert results['aurigraph_pipeline_stage_duration_seconds{stage="build"}'] > 0


def test_a_change_that_never_becomes_healthy_is_rolled_back_to_the_verified_digests(
    project: Path, env: dict[str, str], stack: auto.Stack, tmp_path: Path
) -> None:
    assert RECORDED, "needs the good change first"
    broken = tmp_path / "reference-node"
    shutil.copytree(ROOT / "reference-node", broken, ignore=shutil.ignore_patterns("target"))
    # A business node that never becomes ready (it builds, and the validator's build-time training still passes).
    checks = broken / "src" / "main" / "java" / "io" / "aurigraph" / "node" / "api" / "HealthChecks.java"
    source = checks.read_text()
    assert "var reason = node.notReadyBecause();" in source
    checks.write_text(
        source.replace(
            "var reason = node.notReadyBecause();",
            'var reason = node.role() == io.aurigraph.node.role.Role.BUSINESS ? java.util.Optional.of("broken") '
            ": node.notReadyBecause();",
        )
    )
    result = pipeline(project, env, "run", "--test-targets", TEST_TARGETS, "--source", str(broken))
    assert result.returncode == 1, result.stdout[-4000:]
    report = (project / "build" / "pipeline" / "report.txt").read_text()
    assert "Pipeline Status: failure, rolled back" in report, report
    assert "verify" in report and "FAILED" in report
    assert "Blockers: the deployed images failed verification" in report
    for role, reference in RECORDED.items():
        assert f"{role} {reference}" in report
    assert "Deployment: 7 pods healthy, 0 not; smoke 10 of 10" in report, "the rollback was not verified"
    assert rendered_images(project, "local") == RECORDED
    assert tags(stack) == RECORDED, "a failed change must not be recorded as verified"
    # The previous run's group is replaced: the alert sees this run's failed verification and its rollback.
    assert outcomes(pushed()) == {
        "test": 1,
        "build": 1,
        "supply_chain": 1,
        "up": 1,
        "verify": 0,
        "rollback": 1,
        "verify_rollback": 1,
        "success": 0,
        "rolled_back": 1,
    }


def test_an_image_with_a_high_vulnerability_is_stopped_before_anything_is_deployed(
    project: Path, env: dict[str, str], stack: auto.Stack, tmp_path: Path
) -> None:
    """An advisory (made for this test) against a library really in the images, at the version the last SBOM lists."""
    assert RECORDED, "needs the good change first"
    sbom = json.loads((ROOT / "build" / "supply-chain" / "business.spdx.json").read_text())
    purls = [
        ref["referenceLocator"]
        for package in sbom["packages"]
        for ref in package.get("externalRefs", [])
        if ref.get("referenceType") == "purl" and ref["referenceLocator"].startswith("pkg:maven/io.vertx/vertx-core@")
    ]
    assert purls, "the images' SBOM lists no io.vertx:vertx-core"
    version = purls[0].split("@")[1].split("?")[0]
    advisory = {
        "identifier": "github:java/ghsa-test-only-0001",
        "schema": "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/"
        "github-security-advisory/schema-1.0.3.json",
        "item": {
            "Advisory": {
                "CVE": [],
                "Classification": "GENERAL",
                "FixedIn": [
                    {
                        "ecosystem": "java",
                        "identifier": "None",
                        "name": "io.vertx:vertx-core",
                        "namespace": "github:java",
                        "range": f"<= {version}",
                    }
                ],
                "Metadata": {"CVE": []},
                "Severity": "High",
                "Summary": "A test-only advisory against the version in the images",
                "ghsaId": "GHSA-test-only-0001",
                "namespace": "github:java",
                "published": "2026-01-01T00:00:00Z",
                "references": [],
                "updated": "2026-01-01T00:00:00Z",
                "url": "https://github.invalid/advisories/GHSA-test-only-0001",
                "withdrawn": None,
            },
            "Vulnerability": {},
        },
    }
    advisories = tmp_path / "advisories"
    advisories.mkdir()
    (advisories / "GHSA-test-only-0001.json").write_text(json.dumps(advisory))
    result = pipeline(project, env, "run", "--test-targets", TEST_TARGETS, "--vulnerabilities", str(advisories))
    assert result.returncode == 1, result.stdout[-4000:]
    report = (project / "build" / "pipeline" / "report.txt").read_text()
    assert re.search(r"\(test \d+ s, build \d+ s, supply chain \d+ s FAILED\)", report), "no stage may follow the gate"
    for role in ("business", "slim", "validator"):
        assert (
            f"vulnerability gate: {role} has GHSA-test-only-0001 High vertx-core {version}: nothing deployed" in report
        ), report
    assert rendered_images(project, "local") == RECORDED and tags(stack) == RECORDED
    assert outcomes(pushed())["supply_chain"] == 0


def test_make_rollback_re_applies_the_verified_digests(project: Path, env: dict[str, str], stack: auto.Stack) -> None:
    result = pipeline(project, env, "rollback")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Rolled back to:" in result.stdout
    assert rendered_images(project, "local") == RECORDED

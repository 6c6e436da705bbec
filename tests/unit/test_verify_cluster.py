"""The cluster verification's reading of pods and of kubectl's answers, on fixed objects (the e2e suite runs it on a
real cluster: tests/e2e/test_failed_release.py)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tools import verify_cluster
from tools.verify import LAG_BLOCKS_MAX, Report, VerifyError, agreement
from tools.verify_cluster import STATUS_LINE, Target, rollout, target_of, why_not_ready

GOOD = "registry.example.invalid/aurigraph/business@sha256:" + "a" * 64
BROKEN = "registry.example.invalid/aurigraph/business@sha256:" + "b" * 64


def pod(
    name: str, image: str, ready: bool, waiting: dict[str, str] | None = None, role: str = "business"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": role}},
        "spec": {"containers": [{"name": "node", "image": image}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"restartCount": 4, "state": {"waiting": waiting} if waiting else {"running": {}}}],
        },
    }


class FixedTarget(Target):
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(Path("kubeconfig"), None, "aurigraph")
        object.__setattr__(self, "fixed", objects)

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return list(self.fixed.get(kind, []))  # type: ignore[attr-defined]


def test_a_pod_counts_only_when_ready_on_the_current_image() -> None:
    assert why_not_ready(pod("b-1", GOOD, True), GOOD) == ""
    assert why_not_ready(pod("b-1", GOOD, True), BROKEN) == f"still runs {GOOD}"
    crashing = pod("b-2", BROKEN, False, {"reason": "CrashLoopBackOff", "message": "back-off 40s\nrestarting"})
    assert why_not_ready(crashing, BROKEN) == "CrashLoopBackOff (restarts 4): back-off 40s"
    assert why_not_ready(pod("b-3", GOOD, False), GOOD) == "Running, not ready"
    terminating = pod("b-4", GOOD, True)
    terminating["metadata"]["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    assert why_not_ready(terminating, GOOD) == "terminating"


def test_a_workload_short_of_pods_is_reported_even_when_every_pod_it_has_is_fine() -> None:
    target = FixedTarget({"pods": [pod("b-1", GOOD, True), pod("other", GOOD, True, role="unrelated")]})
    problems, pods = rollout(target, {"business": (GOOD, 2, 0)})
    assert [p["metadata"]["name"] for p in pods] == ["b-1"]
    assert problems == {"b-1": "", "business (1 of 2 pods)": "missing pods"}


def test_validators_below_the_partition_count_on_the_previous_image_and_finished_pods_not_at_all() -> None:
    def validator(n: int, image: str) -> dict[str, Any]:
        found = pod(f"validator-{n}", image, True, role="validator")
        found["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": "validator"}]
        return found

    evicted = pod("validator-9", GOOD, False, role="validator")
    evicted["status"]["phase"] = "Failed"
    pods = [validator(0, GOOD), validator(1, GOOD), validator(2, BROKEN), validator(3, BROKEN), evicted]
    problems, counted = rollout(FixedTarget({"pods": pods}), {"validator": (BROKEN, 4, 2)})
    assert problems == {"validator-0": "", "validator-1": "", "validator-2": "", "validator-3": ""}
    assert len(counted) == 4
    problems, _ = rollout(FixedTarget({"pods": pods}), {"validator": (BROKEN, 4, 1)})
    assert problems["validator-1"] == f"still runs {GOOD}"


def test_health_gives_up_after_its_tries_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_cluster, "HEALTH_TIMEOUT_SECONDS", 0.01)
    monkeypatch.setattr(time, "sleep", lambda _: None)
    crashing = pod("b-2", BROKEN, False, {"reason": "CrashLoopBackOff"})
    workload = {
        "metadata": {"name": "business", "labels": {"app.kubernetes.io/component": "business"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": BROKEN}]}}},
        "status": {},
    }
    report = Report("kind")
    verify_cluster.check_health(FixedTarget({"deployments": [workload], "pods": [crashing]}), report)
    assert report.unhealthy["b-2"] == "not ready after 3 tries of 0.01 s: CrashLoopBackOff (restarts 4)"
    assert not report.healthy


def test_the_answer_status_is_read_from_kubectl_request_log(monkeypatch: pytest.MonkeyPatch) -> None:
    log = (
        "I1204 round_trippers.go:632] "
        "POST https://127.0.0.1:6443/api/v1/namespaces/aurigraph/services/business:http/proxy/api/v11/transactions"
        " 201 Created in 31 milliseconds\n"
    )
    assert STATUS_LINE.findall(log) == ["201"]
    structured = (
        'I1204 round_trippers.go:632] "Response" verb="GET" url="https://127.0.0.1:6443/x"'
        ' status="503 Service Unavailable" milliseconds=3'
    )
    assert STATUS_LINE.findall(structured) == ["503"]

    def kubectl(self: Target, *arguments: str, stdin: str | None = None, timeout: float = 60) -> Any:
        assert arguments[:3] == ("-v=6", "create", "--raw") and stdin == '{"id": "t"}'
        return subprocess.CompletedProcess([], 0, '{"status": "committed"}', log)

    monkeypatch.setattr(Target, "kubectl", kubectl)
    assert Target(Path("k"), None, "aurigraph").call("/x", {"id": "t"}) == (201, {"status": "committed"})


class Chain:
    """A node that answers the two block queries the agreement check asks, from a list of block hashes."""

    def __init__(self, name: str, hashes: list[str], role: str = "validator") -> None:
        self.name, self.role, self.hashes = name, role, hashes

    def call(self, path: str, body: object = None, timeout: float = 2.0) -> tuple[int, object]:
        if path == "/api/v11/blocks/latest":
            return 200, {"height": len(self.hashes), "hash": self.hashes[-1]}
        after = int(path.split("after=")[1].split("&")[0])
        return 200, [{"height": after + 1, "hash": self.hashes[after]}] if after < len(self.hashes) else []


def test_nodes_agree_on_a_history_they_share_even_while_their_newest_blocks_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    history = [f"h{n}" for n in range(10)]
    moving = [Chain("validator-0", history), Chain("validator-1", [*history, "h10"]), Chain("slim-a", history, "slim")]
    report = Report("kind")
    assert agreement(moving, report)
    assert report.agreement == "3 nodes at height 10, block h9 (the newest 1 ahead)"

    forked = [Chain("validator-0", [*history, "h10"]), Chain("validator-1", [*history, "fork"])]
    assert not agreement(forked, report)
    assert report.agreement == "disagree: validator-0=11@h10, validator-1=11@fork"

    trailing = [
        Chain("validator-0", history),
        Chain("validator-1", history + [f"x{n}" for n in range(LAG_BLOCKS_MAX + 1)]),
    ]
    assert not agreement(trailing, Report("kind"))


def test_the_target_is_read_from_the_stack_file_alone_even_before_its_digests_are_given(tmp_path: Path) -> None:
    """prod names no digests in its file (the release gives them with --config-file): where it deploys is still
    known. A rendered stack has no target."""
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "config:\n  aurigraph-infra:environment: prod\n  aurigraph-infra:namespace: ledger\n"
        "  aurigraph-infra:kubernetes:\n    kubeconfig: build/kubeconfig/prod.yaml\n    context: prod-eks\n"
    )
    (tmp_path / "Pulumi.local.yaml").write_text("config:\n  aurigraph-infra:environment: local\n")
    assert target_of(tmp_path, "prod") == Target(tmp_path / "build/kubeconfig/prod.yaml", "prod-eks", "ledger")
    assert target_of(tmp_path, "local") is None


def test_the_target_carries_the_stacks_prometheus_and_probe_and_bad_settings_are_one_error(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.staging.yaml"
    head = "config:\n  aurigraph-infra:environment: staging\n  aurigraph-infra:kubernetes:\n    kubeconfig: k.yaml\n"
    stack.write_text(head + "  aurigraph-infra:monitoring:\n    namespace: watch\n"
                     "  aurigraph-infra:verification:\n    probeRate: 20\n    probeSeconds: 30\n")  # fmt: skip
    target = target_of(tmp_path, "staging")
    assert target is not None and target.monitoring_namespace == "watch"
    assert (target.verification.probe_rate, target.verification.probe_seconds) == (20, 30)
    assert target.verification.latency_regression_percent == 50
    stack.write_text(head + "  aurigraph-infra:verification:\n    probeRate: fast\n")
    with pytest.raises(VerifyError, match=r"verification\.probeRate: expected an integer from 0 to 10000"):
        target_of(tmp_path, "staging")
    stack.write_text(head + "  aurigraph-infra:monitoring:\n    enabled: false\n    installStack: false\n")
    unwatched = r"stack staging: verification\.probeRate: performance is measured by the Prometheus that watches"
    with pytest.raises(VerifyError, match=unwatched):
        target_of(tmp_path, "staging")


def test_no_probe_rate_leaves_performance_unmeasured() -> None:
    target = FixedTarget({})
    object.__setattr__(target, "verification", replace(target.verification, probe_rate=0))
    report = Report("staging")
    verify_cluster.check_performance(target, [], report, None)
    assert report.performance == "not measured (verification.probeRate is 0)" and not report.performance_failed

"""Faults on the running network, under load: the leader validator's pod deleted, a worker drained.

What an operator must be able to count on: a new leader is elected and commits go on; the deleted pod comes back on
its own volume and catches up; a drain never takes the validators below a Raft majority (the disruption budget);
and every transaction a client was told is committed is in the ledger afterwards.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from components.validators import quorum
from tests.e2e.conftest import (
    NAMESPACE,
    Deployment,
    Load,
    Sampler,
    agreement,
    await_leader,
    await_pods_ready,
    kubectl_json,
    ledger_transactions,
    pods,
    record,
    service_url,
    validators_info,
)
from tools.cluster import KUBECONFIG, KUBECTL, kubectl


def claim_of(pod: str) -> dict[str, Any]:
    claim: dict[str, Any] = kubectl_json("-n", NAMESPACE, "get", "pvc", f"data-{pod}")
    return claim


def assert_nothing_lost(load: Load) -> None:
    """Every transaction a client was answered `committed` for is in every validator's ledger (a validator that has
    just returned may still be applying the newest: it gets a minute)."""
    committed = {o.transaction_id for o in load.committed}
    deadline = time.monotonic() + 60
    for pod in [p for p in await_pods_ready() if p.role == "validator"]:
        missing = committed - ledger_transactions(pod)
        while missing and time.monotonic() < deadline:
            time.sleep(2)
            missing = committed - ledger_transactions(pod)
        assert not missing, f"{pod.name} lacks {len(missing)} committed transactions, e.g. {sorted(missing)[:3]}"


def test_a_deleted_leader_is_replaced_its_pod_returns_on_its_volume_and_catches_up(deployment: Deployment) -> None:
    await_pods_ready()
    leader, term = await_leader()
    claim = claim_of(leader)
    height_before = validators_info()[leader]["height"]
    with Load(service_url("business"), f"leader-{int(time.time())}") as load:
        time.sleep(5)
        deleted = time.monotonic()
        kubectl("-n", NAMESPACE, "delete", "pod", leader, "--wait=false")
        new_leader, new_term = await_leader(after_term=term)
        elected = time.monotonic() - deleted
        # Commits go on under the new leader.
        deadline = time.monotonic() + 60
        while load.committed_after(deleted + elected) < 20 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert load.committed_after(deleted + elected) >= 20, f"commits did not resume: {load.summary()}"
        # The pod returns, on the same claim and volume, and catches up with the group.
        ready = await_pods_ready()
        returned = time.monotonic() - deleted
        assert any(p.name == leader and p.ready for p in ready)
        after = claim_of(leader)
        assert after["metadata"]["uid"] == claim["metadata"]["uid"]
        assert after["spec"]["volumeName"] == claim["spec"]["volumeName"]
        height, head = agreement()
        caught_up = time.monotonic() - deleted
        time.sleep(3)
    assert height > height_before
    assert_nothing_lost(load)
    record(
        f"leader {leader} (term {term}) deleted: {new_leader} leads term {new_term} after {elected:.1f} s; "
        f"{leader} ready again after {returned:.1f} s on volume {claim['spec']['volumeName']}; all agree at height "
        f"{height} ({head[:16]}) after {caught_up:.1f} s; load: {load.summary()}"
    )


def test_draining_a_worker_never_takes_the_validators_below_quorum(deployment: Deployment) -> None:
    ready = await_pods_ready()
    validators = [p for p in ready if p.role == "validator"]
    majority = quorum(len(validators))
    by_node: dict[str, int] = {}
    for pod in validators:
        by_node[pod.node] = by_node.get(pod.node, 0) + 1
    node = max(by_node, key=lambda name: by_node[name])
    assert len(validators) - by_node[node] < majority, f"the drain would not test the budget: {by_node}"

    lowest = len(validators)

    def watch() -> None:
        nonlocal lowest
        lowest = min(lowest, sum(1 for p in pods() if p.role == "validator" and p.ready))

    try:
        with Sampler(watch, 0.5), Load(service_url("business"), f"drain-{int(time.time())}") as load:
            started = time.monotonic()
            drain = subprocess.run(
                [str(KUBECTL), "--kubeconfig", str(KUBECONFIG), "drain", node, "--ignore-daemonsets",
                 "--delete-emptydir-data", "--timeout=75s"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            drained = time.monotonic() - started
            during = load.committed_after(started)
    finally:
        kubectl("uncordon", node)
    output = drain.stdout + drain.stderr
    # The first validator on the node is evicted; the next eviction would break quorum, so the budget refuses it
    # and the drain gives up at its timeout with that validator still running.
    assert drain.returncode != 0, f"the drain of {node} evicted every validator on it:\n{output}"
    assert "disruption budget" in output, output
    assert lowest >= majority, f"{lowest} validators ready at one point, under the quorum of {majority}"
    assert during > 0, f"no commit while {node} was drained: {load.summary()}"
    await_pods_ready()
    height, head = agreement()
    assert_nothing_lost(load)
    record(
        f"drain of {node} ({by_node[node]} validators) refused by the budget after {drained:.0f} s; at least "
        f"{lowest} of {len(validators)} validators ready throughout (quorum {majority}); load: {load.summary()}; "
        f"after uncordon all agree at height {height} ({head[:16]})"
    )

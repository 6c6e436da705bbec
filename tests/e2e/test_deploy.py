"""`pulumi up` of the kind stack on a real cluster: every pod ready, one Raft group of validators formed through the
headless Service, transactions through the business Service committed and read back through the slim node."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import NAMESPACE, Deployment, await_pods_ready, commit, kubectl_json, pods, service_url
from tools.devnet import http_json

ROLES = ("validator", "business", "slim")


def test_every_pod_is_ready_and_spread_over_the_workers(deployment: Deployment, cluster: list[dict[str, Any]]) -> None:
    ready = await_pods_ready()
    assert {p.role for p in ready} == set(ROLES)
    validators = [p for p in ready if p.role == "validator"]
    assert len(validators) == 4
    assert len({p.node for p in validators}) >= 2, f"all validators on one node: {validators}"
    claims = kubectl_json("-n", NAMESPACE, "get", "pvc")["items"]
    bound = [c for c in claims if c["status"].get("phase") == "Bound"]
    assert len(bound) == len(validators), [(c["metadata"]["name"], c["status"]) for c in claims]


def test_the_validators_form_one_raft_group(deployment: Deployment) -> None:
    validators = [p for p in await_pods_ready() if p.role == "validator"]
    consensus: dict[str, Any] = {}
    for _ in range(60):
        consensus = {}
        for pod in validators:
            status, info = http_json(pod.url + "/api/v11/info")
            if status == 200 and isinstance(info, dict):
                consensus[pod.name] = info["consensus"]
        leaders = [name for name, c in consensus.items() if c["leader"]]
        terms = {c["term"] for c in consensus.values()}
        # In Raft the leader hears from every follower, a follower only from the leader.
        heard = all(c["peersConnected"] == (len(validators) - 1 if c["leader"] else 1) for c in consensus.values())
        if len(consensus) == len(validators) and len(leaders) == 1 and len(terms) == 1 and heard:
            return
        time.sleep(1)
    raise AssertionError(f"no single Raft group: {consensus}")


def test_transactions_through_the_business_service_are_read_back_through_the_slim_node(
    deployment: Deployment,
) -> None:
    ready = await_pods_ready()
    business = service_url("business")
    run = f"e2e-{int(time.time())}"
    ids = [f"{run}-{n}" for n in range(20)]
    for transaction_id in ids:
        status, receipt = commit(business, transaction_id)
        assert status == 201 and isinstance(receipt, dict) and receipt["status"] == "committed", (status, receipt)
    slim = next(p for p in ready if p.role == "slim")
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(ids) <= seen:
        status, blocks = http_json(slim.url + "/api/v11/blocks?after=0&limit=1000", timeout=5)
        if status == 200 and isinstance(blocks, list):
            seen = {t for block in blocks for t in block["transactionIds"]}
        time.sleep(1)
    assert set(ids) <= seen, f"the slim node {slim.name} has {len(set(ids) & seen)} of {len(ids)}"
    assert all(p.ready for p in pods() if p.role in ROLES)

"""Upgrades through `pulumi up`, as an operator runs them: a new validator image rolled one validator at a time by
lowering the partition, the group checked after each step; a new business image rolled under load, every request
answered.

The new release is the deployed image with another revision (`AURIGRAPH_REVISION`, which `/api/v11/info` reports):
a new digest, pushed to the stack's registry, as the pipeline would push it.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import (
    NAMESPACE,
    Deployment,
    Load,
    agreement,
    await_pods_ready,
    deployed_images,
    derived_image,
    kubectl_json,
    record,
    references_config,
    service_url,
    validators_info,
)


def await_rolled(role: str, image: str, count: int | None = None, timeout: float = 300) -> None:
    """Waits until ``count`` pods of ``role`` (all of them when None) run ``image`` and every pod of the network
    is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = [p for p in await_pods_ready() if p.role == role]
        running = sum(1 for p in ready if p.image == image)
        if running == (len(ready) if count is None else count):
            return
        time.sleep(2)
    raise AssertionError(f"{'all' if count is None else count} {role} pods never ran {image}")


def held_back_set() -> dict[str, Any]:
    """The validators' StatefulSet once its controller has seen the latest spec: its status."""
    for _ in range(30):
        found = kubectl_json("-n", NAMESPACE, "get", "statefulset", "validator")
        if found["status"].get("observedGeneration") == found["metadata"]["generation"]:
            status: dict[str, Any] = found["status"]
            return status
        time.sleep(1)
    raise AssertionError("the validators' StatefulSet controller did not observe the update")


def test_a_new_validator_image_rolls_one_validator_at_a_time_through_the_partition(deployment: Deployment) -> None:
    ready = await_pods_ready()
    validators = sorted((p for p in ready if p.role == "validator"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    current = deployed_images(deployment)
    revision = f"e2e-upgrade-{int(time.time())}"
    release = derived_image(current["validator"], revision, f"ENV AURIGRAPH_REVISION={revision}")
    assert release != current["validator"]
    config = references_config(current | {"validator": release})
    steps = []
    with Load(service_url("business"), f"upgrade-{revision}", rate=5) as load:
        # The new template is applied with every validator held back; no pod changes.
        deployment.up(config | {"validators.partition": str(len(validators))})
        status = held_back_set()
        assert status["updateRevision"] != status["currentRevision"] and status.get("updatedReplicas", 0) == 0, status
        await_rolled("validator", release, 0)
        height, _ = agreement()
        for partition in range(len(validators) - 1, -1, -1):
            started = time.monotonic()
            deployment.up({"validators.partition": str(partition)})
            await_rolled("validator", release, len(validators) - partition)
            info = validators_info()
            upgraded = {p.name for p in validators[partition:]}
            assert {name for name, i in info.items() if i["revision"] == revision} == upgraded, info
            new_height, head = agreement()
            assert new_height > height, f"no block committed while validator-{partition} was upgraded"
            steps.append(f"validator-{partition} in {time.monotonic() - started:.0f} s (height {new_height})")
            height = new_height
    assert deployed_images(deployment)["validator"] == release
    # Each validator's restart may move the leadership; a transaction caught in an election can be answered
    # `503 not-committed` (0 to 18 of about 1,100 in past runs). More than 5%, or any other refusal, is a node
    # gone wrong (as a business node that once kept refusing after a leader change: a third of the requests).
    assert all(o.status == 503 and o.problem.startswith("not-committed") for o in load.failed), load.summary()
    assert len(load.failed) <= len(load.outcomes) // 20, load.summary()
    record(f"validators upgraded one at a time: {'; '.join(steps)}; all agree at {head[:16]}; load: {load.summary()}")


def test_business_nodes_roll_under_load_without_a_failed_request(deployment: Deployment) -> None:
    await_pods_ready()
    current = deployed_images(deployment)
    revision = f"e2e-business-{int(time.time())}"
    release = derived_image(current["business"], revision, f"ENV AURIGRAPH_REVISION={revision}")
    with Load(service_url("business"), f"roll-{revision}", rate=10) as load:
        time.sleep(5)
        started = time.monotonic()
        deployment.up(references_config(current | {"business": release}))
        await_rolled("business", release)
        rolled = time.monotonic() - started
        time.sleep(5)
    record(f"business nodes rolled to {release} in {rolled:.0f} s under load: {load.summary()}")
    assert load.outcomes and not load.failed, load.summary()
    agreement()

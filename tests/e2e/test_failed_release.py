"""A failed release, through the pipeline's own code: its `up` stage deploys images that never become ready; the
update fails within the stack's rollout timeout (kubernetes.rolloutTimeoutSeconds) instead of hanging; the network
keeps serving on what was running; the pipeline rolls back with `pulumi up` to the last verified digests (the stack
tags a verified run records) and verifies the rollback on the cluster (tools/verify_cluster.py); the ledger is
intact.

The broken release is each deployed image with a bad default baked in (`AURIGRAPH_REQUEST_BYTES_MAX` not a
number): the node refuses its configuration at start, as a release with a broken setting would.
"""

from __future__ import annotations

import time

import pytest

from components.roles import ROLES
from tests.e2e.conftest import (
    STACK,
    Deployment,
    Load,
    Sampler,
    agreement,
    await_pods_ready,
    deployed_images,
    derived_image,
    ledger_transactions,
    pods,
    record,
    service_url,
)
from tools import pipeline, verify
from tools.stack_ops import StackRun


def test_a_release_that_never_becomes_ready_is_detected_and_rolled_back_to_the_last_good_digests(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in deployment.env.items():  # the CLI's environment for the pipeline's own runs
        monkeypatch.setenv(name, value)
    run = StackRun(deployment.project, STACK)
    ready = await_pods_ready()
    good = deployed_images(deployment)
    run.record_verified(good)  # as a verified pipeline run records them
    validator = next(p for p in ready if p.role == "validator")
    before = ledger_transactions(validator)
    height_before, _ = agreement()
    tag = f"e2e-broken-{int(time.time())}"
    broken = {role: derived_image(good[role], tag, "ENV AURIGRAPH_REQUEST_BYTES_MAX=not-a-number") for role in ROLES}

    # What ran on the broken images while the release was out, and whether any of it ever became ready.
    on_broken: set[str] = set()
    broken_ready: set[str] = set()

    def watch() -> None:
        for pod in pods():
            if pod.image in broken.values():
                on_broken.add(pod.name)
                if pod.ready:
                    broken_ready.add(pod.name)

    state = pipeline.Run(STACK)
    with Sampler(watch), Load(service_url("business"), tag, rate=5) as load:
        started = time.monotonic()
        pipeline.guarded(run, state, lambda: state.timed("up", lambda: pipeline.deploy(run, broken)))
        time.sleep(3)
    print(pipeline.report(state))

    stages = {stage.name: stage for stage in state.stages}
    assert list(stages) == ["up", "rollback", "verify rollback"], state.stages
    assert not stages["up"].passed and stages["rollback"].passed and stages["verify rollback"].passed
    assert state.rolled_back_to == good
    assert state.rollback_verification is not None and state.rollback_verification.verified, verify.describe(
        state.rollback_verification or verify.Report(STACK)
    )
    # The release reached the cluster and none of it became ready; the network served throughout.
    assert on_broken and not broken_ready, (on_broken, broken_ready)
    detected = stages["up"].seconds
    # Commits went on while the broken release was out (its second half: the broken pods were up by then).
    during = load.committed_between(started + detected / 2, started + detected)
    assert during > 0, f"no commit during the failed release: {load.summary()}"

    healthy_pods = await_pods_ready()
    assert deployed_images(deployment) == good
    assert {p.image for p in healthy_pods} == set(good.values())
    height, head = agreement()
    assert height > height_before
    validator = next(p for p in healthy_pods if p.role == "validator")
    after = ledger_transactions(validator)
    assert before <= after, f"{len(before - after)} transactions from before the release are gone"
    assert {o.transaction_id for o in load.committed} <= after
    healthy = stages["rollback"].seconds + stages["verify rollback"].seconds
    record(
        f"broken release on {', '.join(sorted(on_broken))}: `up` failed after {detected:.0f} s; rolled back to the "
        f"last verified digests and verified {healthy:.0f} s later (rollback {stages['rollback'].seconds:.0f} s, "
        f"verification {stages['verify rollback'].seconds:.0f} s); ledger intact at height {height} ({head[:16]}); "
        f"load: {load.summary()}"
    )

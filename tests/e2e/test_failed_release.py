"""A failed release, through the pipeline's own code: its `up` stage deploys images that never become ready; the
update fails within the stack's rollout timeout (kubernetes.rolloutTimeoutSeconds) instead of hanging; the network
keeps serving on what was running; the pipeline rolls back with `pulumi up` to the last verified digests (the stack
tags a verified run records) and verifies the rollback on the cluster (tools/verify_cluster.py); the ledger is
intact.

The broken release is each deployed image with a bad default baked in (`AURIGRAPH_REQUEST_BYTES_MAX` not a
number): the node refuses its configuration at start, as a release with a broken setting would.

A slow release is healthy by every other check: its business nodes hold each transaction for 400 ms before they
propose it (`AURIGRAPH_BATCH_LINGER_MILLIS`). Only verification's performance check, the probe load measured by the
cluster's Prometheus against the last verified figures (tools/performance.py), can refuse it, and does.
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
    commit,
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
    tag = f"e2e-broken-{int(time.time())}"
    # A ledger with something in it, whichever tests ran before (a new one has no block to agree on).
    status, receipt = commit(service_url("business"), f"{tag}-before")
    assert status == 201, receipt
    validator = next(p for p in ready if p.role == "validator")
    before = ledger_transactions(validator)
    height_before, _ = agreement()
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


def test_a_healthy_but_slow_release_fails_verification_on_prometheus_figures_and_is_rolled_back(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in deployment.env.items():
        monkeypatch.setenv(name, value)
    run = StackRun(deployment.project, STACK)
    await_pods_ready()
    good = deployed_images(deployment)
    # The running release verified as the pipeline verifies it; its figures become the stack's baseline.
    baseline = pipeline.verification(run)
    assert baseline.verified and baseline.performance_baseline, verify.describe(baseline)
    run.record_verified(good, baseline.performance_baseline)
    assert run.verified_performance() == baseline.performance_baseline

    tag = f"e2e-slow-{int(time.time())}"
    slow = {**good, "business": derived_image(good["business"], tag, "ENV AURIGRAPH_BATCH_LINGER_MILLIS=400")}
    state = pipeline.Run(STACK)

    def stages() -> None:
        state.deployed = slow
        state.timed("up", lambda: pipeline.deploy(run, slow))
        pipeline.verify_or_roll_back(run, state, "the deployed images failed verification")

    pipeline.guarded(run, state, stages)
    print(pipeline.report(state))

    stages_run = {stage.name: stage for stage in state.stages}
    assert list(stages_run) == ["up", "verify", "rollback", "verify rollback"], state.stages
    assert stages_run["up"].passed and not stages_run["verify"].passed and stages_run["rollback"].passed
    checked = state.verification
    assert checked is not None
    # Healthy, committing and agreeing: only its performance gave it away.
    assert not checked.unhealthy and checked.smoke_committed == verify.SMOKE_TRANSACTIONS and not checked.smoke_failed
    assert checked.agreement and not checked.verified
    assert [p for p in checked.performance_failed if p.startswith("p99 ")], checked.performance_failed
    assert state.rolled_back_to == good
    assert state.rollback_verification is not None and state.rollback_verification.verified, verify.describe(
        state.rollback_verification or verify.Report(STACK)
    )
    assert deployed_images(deployment) == good
    assert {p.image for p in await_pods_ready() if p.role == "business"} == {good["business"]}
    # The slow release's figures did not become the baseline.
    assert run.verified_performance() == baseline.performance_baseline
    record(
        f"slow release (business nodes linger 400 ms): healthy, smoke {checked.smoke_committed} of "
        f"{verify.SMOKE_TRANSACTIONS}, agreeing; refused by performance: {'; '.join(checked.performance_failed)}. "
        f"Baseline: {baseline.performance}. Slow: {checked.performance}. Rolled back and verified in "
        f"{stages_run['rollback'].seconds + stages_run['verify rollback'].seconds:.0f} s: "
        f"{state.rollback_verification.performance}"
    )

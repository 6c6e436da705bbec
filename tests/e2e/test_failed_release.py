"""A failed release: images that never become ready are deployed with `pulumi up`; the update fails within the
stack's rollout timeout (kubernetes.rolloutTimeoutSeconds) instead of hanging, the network keeps serving on what
was running, and `pulumi up` with the last good digests (the stack tags a verified pipeline run records) brings it
back, with the ledger intact.

The broken release is each deployed image with a bad default baked in (`AURIGRAPH_REQUEST_BYTES_MAX` not a
number): the node refuses its configuration at start, as a release with a broken setting would.
"""

from __future__ import annotations

import time

import pytest
from pulumi import automation as auto

from components.roles import ROLES
from tests.e2e.conftest import (
    Deployment,
    Load,
    agreement,
    await_pods_ready,
    deployed_images,
    derived_image,
    ledger_transactions,
    pods,
    references_config,
    service_url,
)
from tools.stack_ops import VERIFIED_TAG


def test_a_release_that_never_becomes_ready_is_detected_and_rolled_back_to_the_last_good_digests(
    deployment: Deployment,
) -> None:
    ready = await_pods_ready()
    good = deployed_images(deployment)
    for role, reference in good.items():  # what a verified pipeline run records
        deployment.stack.set_tag(f"{VERIFIED_TAG}{role}", reference)
    validator = next(p for p in ready if p.role == "validator")
    before = ledger_transactions(validator)
    height_before, _ = agreement()
    tag = f"e2e-broken-{int(time.time())}"
    broken = {role: derived_image(good[role], tag, "ENV AURIGRAPH_REQUEST_BYTES_MAX=not-a-number") for role in ROLES}

    with Load(service_url("business"), tag, rate=5) as load:
        started = time.monotonic()
        with pytest.raises(auto.CommandError) as failure:
            deployment.up(references_config(broken))
        detected = time.monotonic() - started
        # Still serving on what ran before: the business nodes' old pods stay until new ones are ready, and at most
        # one validator (a minority) and one slim node took the broken image.
        running = pods()
        on_broken = [p.name for p in running if p.image in broken.values()]
        assert not any(p.ready for p in running if p.image in broken.values()), on_broken
        assert load.committed_after(started + detected - 30) > 0, f"no commit during the failed release: {load}"

        recorded = {
            name.removeprefix(VERIFIED_TAG): value
            for name, value in deployment.stack.list_tags().items()
            if name.startswith(VERIFIED_TAG)
        }
        assert recorded == good
        rolling_back = time.monotonic()
        deployment.up(references_config(recorded))
        healthy_pods = await_pods_ready()
        healthy = time.monotonic() - rolling_back
        time.sleep(3)

    assert deployed_images(deployment) == good
    assert {p.image for p in healthy_pods} == set(good.values())
    height, head = agreement()
    assert height > height_before
    validator = next(p for p in healthy_pods if p.role == "validator")
    after = ledger_transactions(validator)
    assert before <= after, f"{len(before - after)} transactions from before the release are gone"
    assert {o.transaction_id for o in load.committed} <= after
    print(
        f"\nbroken release on {', '.join(sorted(on_broken))}: `up` failed after {detected:.0f} s "
        f"({str(failure.value).strip().splitlines()[-1][:160]}); rolled back to the last good digests and every pod "
        f"ready {healthy:.0f} s later; ledger intact at height {height} ({head[:16]}); load: {load.summary()}"
    )

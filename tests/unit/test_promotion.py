"""How the promotion check reads a preview: every workload's images, by role, against the digests verified on the
stack promoted from. The real CLI's preview is read by tests/integration/test_promotion.py."""

from __future__ import annotations

from typing import Any

from tools.pipeline import promotion_differences, workload_images

VERIFIED = {
    role: f"registry.invalid/aurigraph/{role}@sha256:" + digit * 64
    for role, digit in zip(("business", "slim", "validator"), "abc", strict=True)
}
KINDS = {"validator": "StatefulSet", "business": "Deployment", "slim": "DaemonSet"}


def step(role: str, *images: str, op: str = "same", init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{n}", "image": image} for n, image in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": "init", "image": image} for image in init]
    return {
        "op": op,
        "newState": {
            "type": f"kubernetes:apps/v1:{KINDS[role]}",
            "urn": f"urn:pulumi:prod::aurigraph-infra::x$kubernetes:apps/v1:{KINDS[role]}::{role}",
            "inputs": {
                "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/component": role}}, "spec": spec}}
            },
        },
    }


def preview(**overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    steps = [
        {"op": "same", "newState": {"type": "kubernetes:core/v1:Namespace", "inputs": {}}},
        {"op": "create", "newState": {"type": "kubernetes:core/v1:ConfigMap", "inputs": {"data": {"image": "x"}}}},
    ]
    for role, reference in VERIFIED.items():
        steps += overrides.get(role, [step(role, reference, op="update")])
    return steps


def test_a_preview_running_every_verified_digest_is_a_promotion() -> None:
    assert workload_images(preview()) == {role: {reference} for role, reference in VERIFIED.items()}
    assert promotion_differences(VERIFIED, workload_images(preview())) == []


def test_unchanged_workloads_count_with_the_images_they_keep() -> None:
    steps = preview(slim=[step("slim", VERIFIED["slim"], op="same")])
    assert promotion_differences(VERIFIED, workload_images(steps)) == []


def test_another_digest_for_a_role_is_named_with_the_verified_one() -> None:
    rebuilt = "registry.invalid/aurigraph/business@sha256:" + "d" * 64
    steps = preview(business=[step("business", rebuilt, op="update")])
    assert promotion_differences(VERIFIED, workload_images(steps)) == [
        f"business: would run {rebuilt} instead of the verified {VERIFIED['business']}"
    ]


def test_a_sidecar_or_init_container_with_an_unverified_image_is_named() -> None:
    sidecar = "registry.invalid/proxy:1.0"
    steps = preview(
        validator=[step("validator", VERIFIED["validator"], op="update", init=("registry.invalid/busybox:1",))],
        slim=[step("slim", VERIFIED["slim"], sidecar)],
    )
    assert promotion_differences(VERIFIED, workload_images(steps)) == [
        f"slim: would run {sidecar} instead of the verified {VERIFIED['slim']}",
        f"validator: would run registry.invalid/busybox:1 instead of the verified {VERIFIED['validator']}",
    ]


def test_a_workload_missing_from_the_preview_or_of_an_unknown_role_is_named() -> None:
    steps = preview(validator=[])
    extra = step("validator", VERIFIED["validator"])
    extra["newState"]["inputs"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "archive"
    assert promotion_differences(VERIFIED, workload_images([*steps, extra])) == [
        f"archive: would run {VERIFIED['validator']}, which nothing verified",
        f"validator: no workload would run its verified digest {VERIFIED['validator']}",
    ]


def test_deleted_workloads_do_not_count() -> None:
    steps = preview(business=[step("business", VERIFIED["business"], op="delete")])
    assert promotion_differences(VERIFIED, workload_images(steps)) == [
        f"business: no workload would run its verified digest {VERIFIED['business']}"
    ]

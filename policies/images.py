"""What the nodes run: images within their size budgets, and in prod only images pinned by digest."""

from __future__ import annotations

import re

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from components.pod import IMAGE_SIZE_ANNOTATION
from components.roles import ROLES, SIZE_BAR_MB
from policies.kube import containers, describe, environment, get, node_role, pod_template, whole

MB = 1_000_000
PINNED = re.compile(r".+@sha256:[0-9a-f]{64}")


def image_size_budget(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The size is the image component's measurement, annotated on the workload by a stack that builds its
    images. While the build is still to happen (a preview of a changed image) the size is unknown and the
    policy runs at `up`, when the image exists and before the workload that would run it is created or updated."""
    pod = pod_template(args.resource_type, args.props)
    role = node_role(args.props)
    if pod is None or role is None:
        return
    size = get(args.props, "metadata", "annotations", IMAGE_SIZE_ANNOTATION)
    if size is None:
        return
    budget_mb = whole(args.get_config()["budgetsMb"][role])
    size_mb = int(size) / MB
    if size_mb > budget_mb:
        what = describe(args.resource_type, args.props, args.name)
        report_violation(f"{what}: the {role} image is {size_mb:.1f} MB, over its budget of {budget_mb} MB", None)


def pinned_in_prod(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pod = pod_template(args.resource_type, args.props)
    if pod is None or environment(args.props) != "prod":
        return
    what = describe(args.resource_type, args.props, args.name)
    for container in containers(pod):
        image = str(container.get("image", ""))
        if not PINNED.fullmatch(image):
            report_violation(
                f"{what}: container {container.get('name')} runs {image}, a tag that can move: prod runs images "
                "pinned by digest (repository@sha256:...)",
                None,
            )


POLICIES = [
    ResourceValidationPolicy(
        name="image-size-budget",
        description="Each role's image stays within its size budget (MB, uncompressed), as measured when it is "
        "built and pushed.",
        validate=image_size_budget,
        config_schema=PolicyConfigSchema(
            properties={
                "budgetsMb": {
                    "type": "object",
                    "properties": {role: {"type": "integer", "minimum": 1} for role in ROLES},
                    "required": list(ROLES),
                    "additionalProperties": False,
                    "default": dict(SIZE_BAR_MB),
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="prod-images-pinned-by-digest",
        description="In prod every container's image is pinned by digest: no `latest` or other movable tag.",
        validate=pinned_in_prod,
    ),
]

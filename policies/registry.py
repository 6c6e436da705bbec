"""The image registry: every ECR repository scans what is pushed, and tags cannot be moved but the few that
must (`latest`, `staging-*`), so a digest verified under a tag stays the one deployed under it."""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from components.registry import MUTABLE_TAGS
from policies.kube import get

ECR = "aws:ecr/repository:Repository"


def scan_on_push(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ECR:
        return
    if get(args.props, "imageScanningConfiguration", "scanOnPush") is not True:
        report_violation(f"ECR repository {args.props.get('name', args.name)} does not scan images on push", None)


def immutable_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ECR:
        return
    name = args.props.get("name", args.name)
    mutability = args.props.get("imageTagMutability", "MUTABLE")
    allowed = set(args.get_config()["mutableTags"])
    if mutability == "IMMUTABLE":
        return
    if mutability != "IMMUTABLE_WITH_EXCLUSION":
        report_violation(f"ECR repository {name} lets any tag move ({mutability})", None)
        return
    filters = {f.get("filter") for f in args.props.get("imageTagMutabilityExclusionFilters") or []}
    extra = sorted(str(f) for f in filters - allowed)
    if extra:
        report_violation(f"ECR repository {name} lets tags {', '.join(extra)} move; only {sorted(allowed)} may", None)


POLICIES = [
    ResourceValidationPolicy(
        name="ecr-scan-on-push",
        description="Every ECR repository scans images for vulnerabilities when they are pushed.",
        validate=scan_on_push,
    ),
    ResourceValidationPolicy(
        name="ecr-immutable-tags",
        description="ECR tags are immutable, but for the ones that are meant to move (policy config `mutableTags`).",
        validate=immutable_tags,
        config_schema=PolicyConfigSchema(
            properties={"mutableTags": {"type": "array", "items": {"type": "string"}, "default": list(MUTABLE_TAGS)}}
        ),
    ),
]

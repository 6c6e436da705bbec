"""The image registry of a cloud stack: one ECR repository per node role (the local stack uses `make registry`).

Each ECR repository scans on push, keeps tags immutable (except `latest`, which moves with every release),
encrypts with KMS (a given key, else the AWS-managed one), expires images by the lifecycle policy below, and
lets only the CI pusher push and the cluster's nodes pull. The policy documents are built by plain functions,
so that tests can submit them to an ECR API (moto) as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.metadata import StackMetadata
from components.roles import ROLES

# Tags the image component writes: `sha-<commit>` for every build, `staging-YYYY-MM-DD` for what staging
# verified, `vX.Y.Z` for releases, and `latest`.
RELEASE_TAG_PREFIX = "v"
SHA_TAG_PREFIX = "sha-"
STAGING_TAG_PREFIX = "staging-"
# `latest` moves with every release; `staging-YYYY-MM-DD` names the newest build of that day, so a second
# build on one day moves it. Every other tag is immutable.
MUTABLE_TAGS = ("latest", f"{STAGING_TAG_PREFIX}*")

PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def lifecycle_policy(sha_images_kept: int, staging_images_kept: int, untagged_days: int) -> str:
    """Keeps every release, the newest ``sha_images_kept`` `sha-` and ``staging_images_kept`` `staging-`
    images, and expires untagged images after ``untagged_days`` days."""
    if sha_images_kept < 1 or staging_images_kept < 1 or untagged_days < 1:
        raise ValueError("images kept and days before expiry must be at least 1")
    rules = [
        {
            "rulePriority": 1,
            "description": "expire untagged images",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": untagged_days,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"keep the newest {sha_images_kept} {SHA_TAG_PREFIX} images",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [SHA_TAG_PREFIX],
                "countType": "imageCountMoreThan",
                "countNumber": sha_images_kept,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "description": f"keep the newest {staging_images_kept} {STAGING_TAG_PREFIX} images",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [STAGING_TAG_PREFIX],
                "countType": "imageCountMoreThan",
                "countNumber": staging_images_kept,
            },
            "action": {"type": "expire"},
        },
    ]
    # Releases (`v` tags) match no rule, so they are kept.
    return json.dumps({"rules": rules}, sort_keys=True)


def repository_policy(pusher_arns: Sequence[str], puller_arns: Sequence[str]) -> str:
    """Lets ``pusher_arns`` push and pull, and ``puller_arns`` pull; nobody else is named."""
    if not pusher_arns:
        raise ValueError("at least one pusher (the CI role) is required")
    statements = [
        {
            "Sid": "CiPush",
            "Effect": "Allow",
            "Principal": {"AWS": sorted(pusher_arns)},
            "Action": sorted(set(PUSH_ACTIONS) | set(PULL_ACTIONS)),
        }
    ]
    if puller_arns:
        statements.append(
            {
                "Sid": "ClusterPull",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(puller_arns)},
                "Action": sorted(PULL_ACTIONS),
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


@dataclass(frozen=True)
class EcrRegistryArgs:
    metadata: StackMetadata
    pusher_arns: Sequence[str]
    puller_arns: Sequence[str] = ()
    kms_key_arn: str | None = None
    sha_images_kept: int = 30
    staging_images_kept: int = 10
    untagged_days: int = 7
    roles: Sequence[str] = field(default=ROLES)


class EcrRegistry(pulumi.ComponentResource):
    """One ECR repository per role, named `aurigraph/<environment>/<role>`."""

    repository_urls: pulumi.Output[dict[str, str]]
    # The ids of the lifecycle and access policies, once attached.
    policy_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: EcrRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aurigraph:registry:EcrRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lifecycle = lifecycle_policy(args.sha_images_kept, args.staging_images_kept, args.untagged_days)
        access = repository_policy(args.pusher_arns, args.puller_arns)
        tags = {key.replace("/", "-"): value for key, value in args.metadata.labels("registry").items()}
        urls: dict[str, pulumi.Output[str]] = {}
        policy_ids: list[pulumi.Output[str]] = []
        for role in args.roles:
            repository = aws.ecr.Repository(
                f"{name}-{role}",
                name=f"aurigraph/{args.metadata.environment}/{role}",
                image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
                image_tag_mutability_exclusion_filters=[
                    aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(filter=tag, filter_type="WILDCARD")
                    for tag in MUTABLE_TAGS
                ],
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
                ],
                tags=tags,
                opts=child,
            )
            expiry = aws.ecr.LifecyclePolicy(
                f"{name}-{role}-lifecycle", repository=repository.name, policy=lifecycle, opts=child
            )
            grants = aws.ecr.RepositoryPolicy(
                f"{name}-{role}-access", repository=repository.name, policy=access, opts=child
            )
            policy_ids += [expiry.id, grants.id]
            urls[role] = repository.repository_url
        self.repository_urls = pulumi.Output.all(**urls)
        self.policy_ids = pulumi.Output.all(*policy_ids)
        self.register_outputs({"repositoryUrls": self.repository_urls, "policyIds": self.policy_ids})

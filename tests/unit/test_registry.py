"""EcrRegistry with Pulumi's mocks, and its policy documents submitted to an ECR API emulator (moto's server
on loopback), which must accept them; a broken document must be refused there, so the check can fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pulumi
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from components.metadata import StackMetadata
from components.registry import EcrRegistry, EcrRegistryArgs, lifecycle_policy, repository_policy
from components.roles import ROLES
from tests.unit.conftest import RecordingMocks

METADATA = StackMetadata(project="aurigraph-infra", stack="staging", environment="staging", extra_labels={})
CI = "arn:aws:iam::123456789012:role/aurigraph-ci"
NODES = "arn:aws:iam::123456789012:role/aurigraph-staging-nodes"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pulumi.runtime.test
def test_one_hardened_repository_per_role(mocks: RecordingMocks) -> pulumi.Output[None]:
    registry = EcrRegistry("images", EcrRegistryArgs(METADATA, pusher_arns=[CI], puller_arns=[NODES], kms_key_arn=KEY))

    def check(outputs: list[object]) -> None:
        urls = outputs[0]
        assert isinstance(urls, dict)
        repositories = mocks.of_type("aws:ecr/repository:Repository")
        assert sorted(r.inputs["name"] for r in repositories) == [f"aurigraph/staging/{role}" for role in ROLES]
        for repository in repositories:
            inputs = repository.inputs
            assert inputs["imageScanningConfiguration"] == {"scanOnPush": True}
            assert inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
            assert inputs["imageTagMutabilityExclusionFilters"] == [
                {"filter": "latest", "filterType": "WILDCARD"},
                {"filter": "staging-*", "filterType": "WILDCARD"},
            ]
            assert inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KEY}]
            assert inputs["tags"]["aurigraph.io-environment"] == "staging"
        lifecycles = mocks.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
        policies = mocks.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
        assert len(lifecycles) == len(policies) == len(ROLES)
        assert {p.inputs["policy"] for p in lifecycles} == {lifecycle_policy(30, 10, 7)}
        assert {p.inputs["policy"] for p in policies} == {repository_policy([CI], [NODES])}
        assert set(urls) == set(ROLES)

    return pulumi.Output.all(registry.repository_urls, registry.policy_ids).apply(check)


def test_the_lifecycle_keeps_releases_and_the_newest_builds() -> None:
    rules = json.loads(lifecycle_policy(30, 10, 7))["rules"]
    assert [r["selection"].get("tagPrefixList") for r in rules] == [None, ["sha-"], ["staging-"]]
    assert [r["selection"]["countNumber"] for r in rules] == [7, 30, 10]
    assert all(r["action"] == {"type": "expire"} for r in rules)
    assert not any("v" in r["selection"].get("tagPrefixList", []) for r in rules), "releases must match no rule"
    with pytest.raises(ValueError, match="at least 1"):
        lifecycle_policy(0, 10, 7)


def test_only_ci_pushes_and_only_the_cluster_pulls() -> None:
    statements = json.loads(repository_policy([CI], [NODES]))["Statement"]
    push, pull = statements
    assert push["Principal"] == {"AWS": [CI]} and "ecr:PutImage" in push["Action"]
    assert pull["Principal"] == {"AWS": [NODES]} and "ecr:PutImage" not in pull["Action"]
    assert "ecr:BatchGetImage" in pull["Action"]
    with pytest.raises(ValueError, match="pusher"):
        repository_policy([], [NODES])


@pytest.fixture(scope="module")
def ecr() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "ecr",
        endpoint_url=f"http://{host}:{port}",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client
    server.stop()


def test_the_emulator_accepts_both_documents_as_generated(ecr: Any) -> None:
    client = ecr
    client.create_repository(
        repositoryName="aurigraph/staging/validator",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS"},
    )
    lifecycle = lifecycle_policy(30, 10, 7)
    access = repository_policy([CI], [NODES])
    client.put_lifecycle_policy(repositoryName="aurigraph/staging/validator", lifecyclePolicyText=lifecycle)
    client.set_repository_policy(repositoryName="aurigraph/staging/validator", policyText=access)
    stored = client.get_lifecycle_policy(repositoryName="aurigraph/staging/validator")
    assert json.loads(stored["lifecyclePolicyText"]) == json.loads(lifecycle)
    policy = client.get_repository_policy(repositoryName="aurigraph/staging/validator")
    assert json.loads(policy["policyText"]) == json.loads(access)


def test_the_emulator_refuses_a_broken_lifecycle(ecr: Any) -> None:
    client = ecr
    client.create_repository(repositoryName="aurigraph/staging/broken")
    broken = json.loads(lifecycle_policy(30, 10, 7))
    broken["rules"][1]["selection"]["countType"] = "imagesOlderThanAWeek"
    with pytest.raises(ClientError, match=r"InvalidParameter|Invalid"):
        client.put_lifecycle_policy(repositoryName="aurigraph/staging/broken", lifecyclePolicyText=json.dumps(broken))

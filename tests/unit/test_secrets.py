"""Signing keys, the genesis and generated passwords: made for real by the dynamic providers' code, kept
secret in state (checked with Pulumi's mocks), mounted into validators, refused in plain-text config."""

from __future__ import annotations

import base64
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from components.metadata import StackMetadata
from components.secrets import (
    NodeSecrets,
    NodeSecretsArgs,
    _PasswordProvider,
    _SigningKeyProvider,
    fingerprint,
    new_signing_key,
    public_key_of,
)
from components.validators import ValidatorSet, ValidatorSetArgs
from stack_config import ConfigError, load_from_pulumi
from stack_config.loader import EXIT_CODE_ERROR_SHOWN
from stack_config.schema import NodeResources
from tests.stack_files import SECRET_KEYS, raw_config
from tests.unit.conftest import TEST_PUBLIC_KEY, RecordingMocks, is_secret

MAIN = Path(__file__).resolve().parents[2] / "__main__.py"
METADATA = StackMetadata(project="aurigraph-infra", stack="staging", environment="staging", extra_labels={})
IDS = ["validator-0", "validator-1", "validator-2"]


def test_a_new_key_signs_what_its_public_half_verifies() -> None:
    pem, public = new_signing_key()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    verifier = serialization.load_der_public_key(base64.b64decode(public))
    assert isinstance(verifier, Ed25519PublicKey)
    verifier.verify(key.sign(b"block"), b"block")  # raises if they are not a pair
    assert public_key_of(pem) == public
    assert len(fingerprint(public)) == 16


def test_every_create_makes_a_new_key_and_only_a_new_generation_replaces_it() -> None:
    provider = _SigningKeyProvider()
    first, second = provider.create({"generation": 1}).outs, provider.create({"generation": 1}).outs
    assert first and second and first["public_key"] != second["public_key"]
    assert provider.create({"generation": 1}).id != provider.create({"generation": 1}).id
    assert provider.diff("id", {"generation": 1}, {"generation": 1}).changes is False
    rotation = provider.diff("id", {"generation": 1}, {"generation": 2})
    assert rotation.changes is True and rotation.replaces == ["generation"]


def test_generated_passwords_are_long_random_and_replaced_only_on_request() -> None:
    provider = _PasswordProvider()
    made = {(provider.create({"length": 32, "generation": 1}).outs or {})["result"] for _ in range(5)}
    assert len(made) == 5 and all(len(p) == 32 and p.isalnum() for p in made)
    assert provider.diff("id", {"length": 32, "generation": 1}, {"length": 32, "generation": 1}).changes is False
    assert provider.diff("id", {"length": 32, "generation": 1}, {"length": 40, "generation": 1}).replaces == ["length"]


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        public_key_of(other.decode())


@pulumi.runtime.test
def test_private_keys_go_only_to_a_secret_and_public_keys_to_the_genesis(mocks: RecordingMocks) -> pulumi.Output[None]:
    supplied, supplied_public = new_signing_key()
    made = NodeSecrets(
        "keys",
        NodeSecretsArgs(
            metadata=METADATA,
            namespace="ledger",
            network="aurigraph-staging",
            validator_ids=IDS,
            supplied_keys={"validator-2": supplied},
        ),
    )

    def check(values: list[Any]) -> None:
        genesis_text, fingerprints = values
        (secret,) = mocks.of_type("kubernetes:core/v1:Secret")
        data = secret.inputs["stringData"]
        assert is_secret(data), "the keys must be a secret in state"
        assert sorted(data["value"]) == [f"{v}.pem" for v in IDS]
        assert data["value"]["validator-2.pem"] == supplied
        assert all("BEGIN PRIVATE KEY" in pem for pem in data["value"].values())
        (config_map,) = mocks.of_type("kubernetes:core/v1:ConfigMap")
        assert "PRIVATE KEY" not in json.dumps(config_map.inputs)
        genesis = json.loads(config_map.inputs["data"]["genesis.json"])
        assert genesis == json.loads(genesis_text)
        assert genesis["network"] == "aurigraph-staging"
        assert genesis["validators"] == {
            "validator-0": TEST_PUBLIC_KEY,
            "validator-1": TEST_PUBLIC_KEY,
            "validator-2": supplied_public,
        }
        assert fingerprints["validator-2"] == fingerprint(supplied_public)
        generated = mocks.of_type("pulumi-python:dynamic:Resource")
        assert sorted(r.name for r in generated) == ["keys-validator-0", "keys-validator-1"]

    return pulumi.Output.all(made.genesis, made.fingerprints).apply(check)


def test_keys_for_validators_that_do_not_exist_are_refused(mocks: RecordingMocks) -> None:
    args = NodeSecretsArgs(
        metadata=METADATA, namespace="ledger", network="n", validator_ids=IDS, supplied_keys={"validator-7": "pem"}
    )
    with pytest.raises(ValueError, match="keys supplied for validators that do not exist: validator-7"):
        NodeSecrets("keys", args)


@pulumi.runtime.test
def test_each_validator_reads_its_own_key_file_and_the_genesis_read_only(mocks: RecordingMocks) -> pulumi.Output[None]:
    resources = NodeResources(cpu_request="1", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi")
    group = ValidatorSet(
        "validators",
        ValidatorSetArgs(
            metadata=METADATA,
            namespace="ledger",
            image="r.example.invalid/v@sha256:" + "a" * 64,
            replicas=3,
            resources=resources,
            storage_gib=10,
            keys_secret="validator-signing-keys",
            genesis_config_map="genesis",
            genesis_checksum="abc123",
        ),
    )

    def check(_: object) -> None:
        (statefulset,) = mocks.of_type("kubernetes:apps/v1:StatefulSet")
        template = statefulset.inputs["spec"]["template"]
        (node,) = template["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in node["env"]}
        names = [e["name"] for e in node["env"]]
        assert names.index("AURIGRAPH_ID") < names.index("AURIGRAPH_SIGNING_KEY_FILE"), "expanded from AURIGRAPH_ID"
        assert env["AURIGRAPH_SIGNING_KEY_FILE"] == "/etc/aurigraph/keys/$(AURIGRAPH_ID).pem"
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        assert volumes["signing-keys"]["secret"] == {"secretName": "validator-signing-keys", "defaultMode": 0o440}
        mounts = {m["name"]: m for m in node["volumeMounts"]}
        assert mounts["signing-keys"] == {"name": "signing-keys", "mountPath": "/etc/aurigraph/keys", "readOnly": True}
        assert mounts["genesis"]["readOnly"] is True
        assert template["metadata"]["annotations"]["aurigraph.io/genesis-checksum"] == "abc123"
        (settings,) = mocks.of_type("kubernetes:core/v1:ConfigMap")
        assert settings.inputs["data"]["AURIGRAPH_GENESIS_FILE"] == "/etc/aurigraph/genesis/genesis.json"

    return group.name.apply(check)


def with_keys(secret: bool) -> None:
    pem, _ = new_signing_key()
    config = raw_config("local") | {"aurigraph-infra:validatorKeys": json.dumps({"validator-0": pem})}
    pulumi.runtime.set_all_config(config, ["aurigraph-infra:validatorKeys"] if secret else [])
    load_from_pulumi()


def test_signing_keys_in_plain_text_config_are_refused(mocks: RecordingMocks) -> None:
    with pytest.raises(SystemExit) as stopped:
        with_keys(secret=False)
    assert stopped.value.code == EXIT_CODE_ERROR_SHOWN
    error = stopped.value.__cause__
    assert isinstance(error, ConfigError)
    assert error.problems == ["validatorKeys: holds secrets, so it must be set with `pulumi config set --secret`"]
    assert "PRIVATE KEY" not in str(error)


def test_signing_keys_set_as_secrets_are_taken(mocks: RecordingMocks) -> None:
    with_keys(secret=True)


@pulumi.runtime.test
def test_registry_credentials_become_a_secret_pull_secret_every_node_pod_names(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    credentials = {"server": "registry.example.invalid", "username": "puller", "password": "s3cret-pull"}
    config = raw_config("staging") | {"aurigraph-infra:registryCredentials": json.dumps(credentials)}
    pulumi.runtime.set_all_config(config, ["aurigraph-infra:registryCredentials", *SECRET_KEYS])
    program = runpy.run_path(str(MAIN))
    done = pulumi.Output.all(*[program[w].name for w in ("validators", "business", "slim")])

    def check(_: object) -> None:
        secrets = {s.inputs["metadata"]["name"]: s.inputs for s in mocks.of_type("kubernetes:core/v1:Secret")}
        pull = secrets["registry-credentials"]
        assert pull["type"] == "kubernetes.io/dockerconfigjson"
        assert is_secret(pull["stringData"])
        document = json.loads(pull["stringData"]["value"][".dockerconfigjson"])
        entry = document["auths"]["registry.example.invalid"]
        assert base64.b64decode(entry["auth"]).decode() == "puller:s3cret-pull"
        for typ in ("StatefulSet", "Deployment", "DaemonSet"):
            (workload,) = mocks.of_type(f"kubernetes:apps/v1:{typ}")
            assert workload.inputs["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
        for config_map in mocks.of_type("kubernetes:core/v1:ConfigMap"):
            assert "s3cret-pull" not in json.dumps(config_map.inputs)

    return done.apply(check)


def test_registry_credentials_in_plain_text_config_are_refused(mocks: RecordingMocks) -> None:
    credentials = {"server": "registry.example.invalid", "username": "puller", "password": "s3cret-pull"}
    pulumi.runtime.set_all_config(
        raw_config("staging") | {"aurigraph-infra:registryCredentials": json.dumps(credentials)}, SECRET_KEYS
    )
    with pytest.raises(SystemExit) as stopped:
        load_from_pulumi()
    error = stopped.value.__cause__
    assert isinstance(error, ConfigError)
    assert error.problems == ["registryCredentials: holds secrets, so it must be set with `pulumi config set --secret`"]
    assert "s3cret-pull" not in str(error)


def test_alertmanager_credentials_in_plain_text_config_are_refused(mocks: RecordingMocks) -> None:
    pulumi.runtime.set_all_config(raw_config("staging"), [])
    with pytest.raises(SystemExit) as stopped:
        load_from_pulumi()
    error = stopped.value.__cause__
    assert isinstance(error, ConfigError)
    assert error.problems == [
        "alertmanagerCredentials: holds secrets, so it must be set with `pulumi config set --secret`"
    ]
    assert "test-only" not in str(error)


@pulumi.runtime.test
def test_keys_mirrored_to_secrets_manager_are_encrypted_with_the_given_key_and_secret_in_state(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    kms = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    made = NodeSecrets(
        "keys",
        NodeSecretsArgs(
            metadata=METADATA,
            namespace="ledger",
            network="aurigraph-staging",
            validator_ids=IDS,
            mirror_to_aws=True,
            kms_key_arn=kms,
        ),
    )

    def check(_: object) -> None:
        stored = sorted(mocks.of_type("aws:secretsmanager/secret:Secret"), key=lambda r: r.inputs["name"])
        assert [s.inputs["name"] for s in stored] == [f"aurigraph/staging/{v}" for v in IDS]
        assert all(s.inputs["kmsKeyId"] == kms and s.inputs["recoveryWindowInDays"] == 30 for s in stored)
        versions = mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        assert len(versions) == 3 and all(is_secret(v.inputs["secretString"]) for v in versions)

    return made.fingerprints.apply(check)


def test_the_local_stack_cannot_mirror_keys_to_aws() -> None:
    from stack_config import load

    with pytest.raises(ConfigError) as caught:
        load(raw_config("local") | {"aurigraph-infra:mirrorKeysToAws": "true"}, "local")
    assert caught.value.problems == ["mirrorKeysToAws: the local stack has no AWS account to mirror to"]

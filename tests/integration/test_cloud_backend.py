"""staging's and prod's state and secrets where the committed config names them: the S3 backend of Pulumi.yaml and
each stack's own KMS key (`secretsprovider` in its stack file), through the real CLI, with moto serving S3 and KMS
on loopback. Only the AWS endpoint is redirected; the URLs are the committed ones. The tests run in order."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.integration.conftest import ROOT, cli_env
from tests.monitoring.conftest import await_answer
from tests.stack_files import PROMOTED

MOTO_PORT = 19595
ENDPOINT = f"http://127.0.0.1:{MOTO_PORT}"
STACKS = ("staging", "prod")
# Alertmanager's credentials as an operator sets them: secrets, different every run.
CREDENTIALS = {name: f"{name}-{secrets.token_hex(12)}" for name in ("pagerduty-routing-key", "slack-webhook-url")}


def backend_url() -> urllib.parse.SplitResult:
    url: str = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["backend"]["url"]
    return urllib.parse.urlsplit(url)


def kms_url(stack: str) -> urllib.parse.SplitResult:
    url: str = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["secretsprovider"]
    return urllib.parse.urlsplit(url)


def region(url: urllib.parse.SplitResult) -> str:
    return urllib.parse.parse_qs(url.query)["region"][0]


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's server on loopback, with the bucket and the two keys the config names, and the environment that
    points the AWS SDK at it (test-only credentials)."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(MOTO_PORT)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    environment = {
        "AWS_ACCESS_KEY_ID": "integration-test-only",
        "AWS_SECRET_ACCESS_KEY": "integration-test-only",
        "AWS_ENDPOINT_URL": ENDPOINT,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }
    try:
        await_answer(ENDPOINT, process, log)
        s3 = client("s3", region(backend_url()), environment)
        s3.create_bucket(
            Bucket=backend_url().netloc, CreateBucketConfiguration={"LocationConstraint": region(backend_url())}
        )
        for stack in STACKS:
            url = kms_url(stack)
            kms = client("kms", region(url), environment)
            key = kms.create_key(Description=f"{stack} stack secrets")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=url.netloc + url.path, TargetKeyId=key)  # alias/<name>
        yield environment
    finally:
        process.terminate()
        process.wait(timeout=30)


def client(service: str, region_name: str, environment: dict[str, str]) -> Any:
    return boto3.client(
        service,
        region_name=region_name,
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def env(project: Path, aws: dict[str, str]) -> dict[str, str]:
    """The CLI's environment as a workflow has it: no backend URL (Pulumi.yaml's applies), no passphrase."""
    base = cli_env(project / "unused-file-backend")
    del base["PULUMI_BACKEND_URL"]
    return base | aws


def run(env: dict[str, str], *command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    dropped = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
    environment = {k: v for k, v in os.environ.items() if k not in dropped} | env
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)


def pulumi(project: Path, env: dict[str, str], *args: str) -> str:
    result = run(env, "pulumi", *args, "--non-interactive", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def stored_objects(env: dict[str, str]) -> dict[str, bytes]:
    s3 = client("s3", region(backend_url()), env)
    bucket = backend_url().netloc
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


@pytest.fixture(scope="module", autouse=True)
def rendered_without_the_chart(project: Path) -> None:
    """No cluster here, and kube-prometheus-stack's repository cannot be reached: both stacks render, without it."""
    for stack in STACKS:
        path = project / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        document["config"].pop("aurigraph-infra:kubernetes")
        document["config"]["aurigraph-infra:monitoring"]["installStack"] = False
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_new_stack_is_created_in_the_s3_backend_with_its_own_kms_key(project: Path, env: dict[str, str]) -> None:
    result = run(
        env, sys.executable, "-m", "tools.stack_ops", "preview", "--stack", "staging", "--project-dir", str(project)
    )
    # Created, then stopped before the CLI runs: it has no digests to run yet, and says so once.
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "preview: stack staging builds no images and names no digests (images.references), and no verified "
        "digests are recorded for it yet: run its pipeline (make pipeline, or make promote for prod), or set "
        "images.references"
    )
    assert "aurigraph-infra/staging.json" in " ".join(stored_objects(env))
    stack_file = yaml.safe_load((project / "Pulumi.staging.yaml").read_text())
    assert stack_file["secretsprovider"] == kms_url("staging").geturl()
    assert stack_file["encryptedkey"], "the stack's data key, encrypted by KMS, is kept in its stack file"


def test_secrets_are_encrypted_by_the_stacks_key_and_never_stored_in_plain_text(
    project: Path, env: dict[str, str]
) -> None:
    for name, value in CREDENTIALS.items():
        pulumi(
            project,
            env,
            "config",
            "set",
            "--secret",
            "--path",
            f"aurigraph-infra:alertmanagerCredentials.{name}",
            value,
            "--stack",
            "staging",
        )
    # The digests a verified pipeline run recorded (the promotion test records real ones).
    for role, reference in PROMOTED.items():
        pulumi(project, env, "stack", "tag", "set", f"aurigraph:verified:{role}", reference, "--stack", "staging")
    result = run(
        env, sys.executable, "-m", "tools.stack_ops", "up", "--stack", "staging", "--project-dir", str(project)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "== staging: up finished ==" in result.stdout
    outputs = json.loads(pulumi(project, env, "stack", "output", "--json", "--stack", "staging"))
    assert outputs["deployedImages"] == PROMOTED, "a stack without digests runs its last verified ones"

    stored = stored_objects(env)
    state = next(body for key, body in stored.items() if key.endswith("aurigraph-infra/staging.json"))
    exported = json.loads(state)["checkpoint"]["latest"]
    assert exported["secrets_providers"]["type"] == "cloud"
    assert exported["secrets_providers"]["state"]["url"] == kms_url("staging").geturl()
    assert len(exported["resources"]) > 40
    everything = b"".join(stored.values()) + (project / "Pulumi.staging.yaml").read_bytes()
    for value in CREDENTIALS.values():
        assert value.encode() not in everything
    assert b"PRIVATE KEY" not in everything, "the validators' signing keys must be stored encrypted"
    assert b"ciphertext" in state
    # Decrypted through KMS on demand.
    name, value = next(iter(CREDENTIALS.items()))
    shown = pulumi(
        project, env, "config", "get", "--path", f"aurigraph-infra:alertmanagerCredentials.{name}", "--stack", "staging"
    )
    assert shown.strip() == value


def test_prod_has_its_own_key(project: Path, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "tools.stack_ops", "preview", "--stack", "prod", "--project-dir", str(project)]
    assert run(env, *command).returncode == 2, "created, with nothing to run yet"
    # The digests a promotion recorded (test_promotion.py promotes real, signed ones).
    for role, reference in PROMOTED.items():
        pulumi(project, env, "stack", "tag", "set", f"aurigraph:verified:{role}", reference, "--stack", "prod")
    result = run(env, *command)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    prod_file = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    staging_file = yaml.safe_load((project / "Pulumi.staging.yaml").read_text())
    assert prod_file["secretsprovider"] == kms_url("prod").geturl() != staging_file["secretsprovider"]
    assert prod_file["encryptedkey"] != staging_file["encryptedkey"]
    exported = json.loads(pulumi(project, env, "stack", "export", "--stack", "prod"))
    assert exported["deployment"]["secrets_providers"]["state"]["url"] == kms_url("prod").geturl()


def test_the_stacks_are_destroyed_and_removed(project: Path, env: dict[str, str]) -> None:
    pulumi(project, env, "destroy", "--yes", "--skip-preview", "--stack", "staging")
    for stack in STACKS:
        pulumi(project, env, "stack", "rm", "--yes", "--stack", stack)
    assert not [key for key in stored_objects(env) if key.endswith(("staging.json", "prod.json"))]

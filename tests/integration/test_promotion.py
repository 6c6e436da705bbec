"""The release path, for real, in a copy of the project: `make pipeline` on a staging stack builds, deploys and
verifies a change and records its digests; `make promotion-check STACK=prod` previews prod with them and finds it
would run exactly those; `make promote STACK=prod` deploys them without building anything, verifies them on prod
and records them as prod's own. Both stacks keep their environments (staging, prod: every policy mandatory) with
the local stack's sizes and no kube-prometheus-stack, which this machine could not run. The tests run in order."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stack_config.schema import PROJECT
from tests.integration.conftest import ROOT, cli_env, rendered_images, verified_tags

SIZED = ("validators", "business", "slim")
STAGING_VERIFIED: dict[str, str] = {}


@pytest.fixture(scope="module")
def env(project: Path) -> dict[str, str]:
    # Stand-in for the operators' passphrases of staging and prod, in this copy only.
    return cli_env(project / "state") | {"PULUMI_CONFIG_PASSPHRASE": "integration-test-only"}


@pytest.fixture(scope="module", autouse=True)
def stacks(project: Path) -> None:
    """staging builds into the loopback registry as the local stack does; prod builds nothing."""
    local = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
    for name in ("staging", "prod"):
        path = project / f"Pulumi.{name}.yaml"
        document = yaml.safe_load(path.read_text())
        # Rendered, and a passphrase stands in for the KMS key (test_cloud_backend.py runs that).
        document.pop("secretsprovider", None)
        config = document["config"]
        config.pop(f"{PROJECT}:kubernetes")
        for section in SIZED:
            config[f"{PROJECT}:{section}"] = local[f"{PROJECT}:{section}"]
        config[f"{PROJECT}:monitoring"] = {**config.get(f"{PROJECT}:monitoring", {}), "installStack": False}
        if name == "staging":
            config[f"{PROJECT}:images"] = local[f"{PROJECT}:images"]
        path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """staging's signing key pair (a CI secret in the workflows), and a stranger's."""
    found = {}
    for name in ("staging", "stranger"):
        out = tmp_path_factory.mktemp(f"{name}-key")
        command = [sys.executable, "-m", "tools.supply_chain", "keygen", "--out", str(out)]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=os.environ | {"COSIGN_PASSWORD": ""})
        found[name] = out / "cosign.key"
    return found


def public(keys: dict[str, Path], name: str) -> list[str]:
    return ["--public-key", str(keys[name].with_suffix(".pub"))]


def pipeline(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.pipeline", *args, "--project-dir", str(project)]
    return subprocess.run(command, cwd=ROOT, env=os.environ | env, capture_output=True, text=True, timeout=1800)


def pulumi(project: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["pulumi", *args], cwd=project, env=os.environ | env, capture_output=True, text=True, check=True
    )
    return result.stdout


def resources(project: Path, env: dict[str, str], stack: str) -> list[str]:
    exported = json.loads(pulumi(project, env, "stack", "export", "--stack", stack))
    return sorted(resource["urn"] for resource in exported["deployment"].get("resources") or [])


def test_nothing_is_promoted_before_staging_has_verified_digests(
    project: Path, env: dict[str, str], keys: dict[str, Path]
) -> None:
    pulumi(project, env, "stack", "init", "staging", "--secrets-provider", "passphrase")
    result = pipeline(project, env, "promotion-check", "--stack", "prod", "--from", "staging", *public(keys, "staging"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "promotion check failed: staging has no verified digest for business, slim, validator: "
        "run its pipeline first" in result.stderr
    )
    assert resources(project, env, "prod") == []


def test_the_staging_pipeline_verifies_a_build_and_records_its_digests(
    project: Path, env: dict[str, str], keys: dict[str, Path]
) -> None:
    command = ["run", "--stack", "staging", "--test-targets", "unit", "--signing-key", str(keys["staging"])]
    result = pipeline(project, env, *command)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Result: PASS" in result.stdout
    STAGING_VERIFIED.update(verified_tags(project, env, "staging"))
    assert sorted(STAGING_VERIFIED) == ["business", "slim", "validator"]
    for role, reference in STAGING_VERIFIED.items():
        assert re.fullmatch(rf"127\.0\.0\.1:5000/aurigraph/{role}@sha256:[0-9a-f]{{64}}", reference)


def test_digests_signed_by_another_key_are_not_promoted(
    project: Path, env: dict[str, str], keys: dict[str, Path]
) -> None:
    assert STAGING_VERIFIED, "needs staging's pipeline first"
    result = pipeline(
        project, env, "promotion-check", "--stack", "prod", "--from", "staging", *public(keys, "stranger")
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "promotion check failed: business " in result.stderr
    assert "is not signed by the pipeline's key" in result.stderr
    assert resources(project, env, "prod") == []


def test_the_promotion_check_previews_prod_running_exactly_stagings_digests(
    project: Path, env: dict[str, str], keys: dict[str, Path]
) -> None:
    assert STAGING_VERIFIED, "needs staging's pipeline first"
    result = pipeline(project, env, "promotion-check", "--stack", "prod", "--from", "staging", *public(keys, "staging"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "promotion check: prod would run exactly the digests verified on staging:" in result.stdout
    assert "promotion check: the digests staging verified are signed, their SBOMs attested" in result.stdout
    for role, reference in STAGING_VERIFIED.items():
        assert re.search(rf"^  {role} +{re.escape(reference)}$", result.stdout, re.MULTILINE)
    assert resources(project, env, "prod") == [], "a check must change nothing"
    assert "references" not in (project / "Pulumi.prod.yaml").read_text(), "the stack file was edited"


def test_promote_deploys_verifies_and_records_stagings_digests_without_building(
    project: Path, env: dict[str, str], keys: dict[str, Path]
) -> None:
    assert STAGING_VERIFIED, "needs staging's pipeline first"
    result = pipeline(project, env, "promote", "--stack", "prod", "--from", "staging", *public(keys, "staging"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = (project / "build" / "pipeline" / "report.txt").read_text()
    assert re.search(
        r"Pipeline Status: success; \d+ s in all \(promotion check \d+ s, up \d+ s, verify \d+ s\)", report
    )
    assert "Docker Images:" not in report, "a promotion must not build"
    for role, reference in STAGING_VERIFIED.items():
        assert f"{role} {reference}" in report
    assert re.search(r"Deployment: 7 pods healthy, 0 not; smoke 10 of 10; 5 nodes at height \d+", report), report
    assert "Result: PASS" in report
    assert rendered_images(project, "prod") == STAGING_VERIFIED
    assert verified_tags(project, env, "prod") == STAGING_VERIFIED
    outputs = json.loads(pulumi(project, env, "stack", "output", "--json", "--stack", "prod"))
    assert outputs["images"] == {} and outputs["deployedImages"] == STAGING_VERIFIED


def test_the_stacks_are_destroyed(project: Path, env: dict[str, str]) -> None:
    for stack in ("prod", "staging"):
        pulumi(project, env, "destroy", "--yes", "--skip-preview", "--stack", stack, "--non-interactive")
        assert resources(project, env, stack) == []

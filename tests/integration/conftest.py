"""What every integration test needs: the project's CLI and plugins, and a throwaway file backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from tools.stack_ops import VERIFIED_TAG

ROOT = Path(__file__).resolve().parents[2]
POLICY_PACK = str(ROOT / "policies")


PROJECT_FILES = ["Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml", "__main__.py"]
PROJECT_DIRS = ["components", "stack_config"]
# Read, never written, by the program: the image sources, Dockerfiles, monitoring content and policies are linked.
LINKED_DIRS = ["reference-node", "docker", "monitoring", "policies"]


def project_copy(copy: Path) -> Path:
    """The project in ``copy``, so that a test's stacks and rendered files never touch the checkout's."""
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, copy / name)
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in LINKED_DIRS:
        (copy / name).symlink_to(ROOT / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def rendered_with_a_passphrase(project: Path, stack: str) -> None:
    """The copy's stack file without its cluster and KMS key: its objects rendered, a passphrase standing in for the
    key (tests/integration/test_cloud_backend.py runs the committed provider)."""
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document.pop("secretsprovider", None)
    document["config"].pop("aurigraph-infra:kubernetes", None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def rendered_images(project: Path, stack: str) -> dict[str, str]:
    """Role -> the image its rendered workload runs, from the stack's manifests under build/manifests/."""
    found = {}
    for path in (project / "build" / "manifests" / stack).rglob("apps_v1-*.yaml"):
        document = yaml.safe_load(path.read_text())
        role = document["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        found[role] = document["spec"]["template"]["spec"]["containers"][0]["image"]
    return found


def verified_tags(project: Path, env: dict[str, str], stack: str) -> dict[str, str]:
    """Role -> the digest the stack's tags record as last verified (what the pipeline records)."""
    listed = subprocess.run(
        ["pulumi", "stack", "tag", "ls", "--json", "--stack", stack],
        cwd=project,
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=True,
    )
    tags: dict[str, str] = json.loads(listed.stdout)
    return {name.removeprefix(VERIFIED_TAG): value for name, value in tags.items() if name.startswith(VERIFIED_TAG)}


def policy_config(stack: str) -> str:
    """The stack's enforcement levels, as `make up` and `make preview` pass them."""
    return str(ROOT / "policies" / "config" / f"{stack}.json")


def cli_env(state: Path) -> dict[str, str]:
    """The environment of a CLI run against a file backend in ``state``.

    PULUMI_HOME (the plugin cache with the project's providers) and PATH come from the Makefile; a run without
    them would look for plugins elsewhere, so it fails here by name instead.
    """
    home = os.environ.get("PULUMI_HOME")
    if not home or not (ROOT / ".tools" / "bin" / "pulumi").exists():
        pytest.fail("the project's toolchain is not set up: run these tests through `make integration` or `make test`")
    state.mkdir(exist_ok=True)
    return {
        "PULUMI_HOME": home,
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # Any attempt to download a plugin fails the run instead of reaching for the network.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


def local_env(project: Path) -> dict[str, str]:
    """The CLI's environment for a project copy's `local` stack: its own backend, the local passphrase."""
    return cli_env(project / "state") | {
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(ROOT / "tools" / "local-stack.passphrase")
    }


def local_stack(project: Path, env: dict[str, str]) -> auto.Stack:
    workspace = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env, secrets_provider="passphrase")
    return auto.create_or_select_stack("local", work_dir=str(project), opts=workspace)


# A module's own copy of the project with its `local` stack (destroyed after the module's tests).
@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_copy(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def env(project: Path) -> dict[str, str]:
    return local_env(project)


@pytest.fixture(scope="module")
def stack(project: Path, env: dict[str, str]) -> Iterator[auto.Stack]:
    local = local_stack(project, env)
    yield local
    local.destroy()

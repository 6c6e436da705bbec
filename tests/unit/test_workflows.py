"""The workflows stay thin: every step that runs something is one `make` target that exists (so it runs on a
workstation too), actions are pinned by commit SHA with their version, and permissions start from nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
MAKE_STEP = re.compile(r"make (?P<target>[a-z][a-z-]*)(?P<variables>( [A-Z_]+=[^ ]+)*)")


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_there_are_workflows() -> None:
    assert [path.name for path in WORKFLOWS]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_run_step_is_one_make_target_that_exists(path: Path) -> None:
    targets = make_targets()
    for step in steps(load(path)):
        if "run" not in step:
            continue
        command = step["run"].strip()
        match = MAKE_STEP.fullmatch(command)
        assert match, f"{path.name}: `{command}` is not a single make target"
        assert match["target"] in targets, f"{path.name}: make {match['target']} does not exist"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_by_commit_with_their_version(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line.strip()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_permissions_start_from_none_and_jobs_have_timeouts(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["group"]
    for name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, f"{name} has no timeout"
        assert "contents" in job.get("permissions", {}), f"{name} does not say what it may read"

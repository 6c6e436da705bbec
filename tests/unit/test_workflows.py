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


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    keys: dict[Any, Any] = dict(workflow)
    on: dict[str, Any] = keys.get("on") or keys.get(True) or {}  # YAML 1.1 reads the key `on` as true
    return on


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
        if re.search(r"uses: \./\.github/workflows/[\w-]+\.yml$", line):
            continue  # this repository's reusable workflow, at the same commit
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line.strip()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_permissions_start_from_none_and_jobs_have_timeouts(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    if set(triggers(workflow)) != {"workflow_call"}:  # a called workflow runs in its caller's group
        assert workflow["concurrency"]["group"]
    for name, job in workflow["jobs"].items():
        if "uses" not in job:  # a call's jobs have their own timeouts
            assert "timeout-minutes" in job, f"{name} has no timeout"
        assert "contents" in job.get("permissions", {}), f"{name} does not say what it may read"


def test_every_secret_and_variable_the_workflows_name_is_documented() -> None:
    documented = set(
        re.findall(r"^\| `([A-Z_]+)` \| (?:secret|variable) \|", (ROOT / "docs" / "pipeline.md").read_text(), re.M)
    )
    used = {
        name for path in WORKFLOWS for name in re.findall(r"\$\{\{ (?:secrets|vars)\.([A-Z_]+) \}\}", path.read_text())
    }
    assert used, "the workflows name no secret or variable"
    assert used == documented, (
        f"named in workflows only: {sorted(used - documented)}; in docs only: {sorted(documented - used)}"
    )


def test_deployments_wait_for_the_checks_roll_back_on_failure_and_always_report() -> None:
    for name, stack_job in (("main.yml", "staging"), ("release.yml", "prod")):
        workflow = load(ROOT / ".github" / "workflows" / name)
        job = workflow["jobs"][stack_job]
        assert job["needs"] in ("checks", "promotion-check")
        assert job["environment"] == stack_job
        assert workflow["concurrency"]["cancel-in-progress"] is False, "an up must never be cancelled half-way"
        runs = [(step.get("if"), step["run"]) for step in job["steps"] if "run" in step]
        assert ("failure()", "make rollback") in runs
        assert runs[-1] == ("always()", "make notify")


def test_a_release_promotes_and_never_builds() -> None:
    release = load(ROOT / ".github" / "workflows" / "release.yml")
    runs = [step["run"] for step in steps(release) if "run" in step]
    assert "make promotion-check" in runs and "make promote" in runs
    assert not {"make pipeline", "make images", "make up", "make build-env"} & set(runs)
    assert triggers(release) == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert release["jobs"]["prod"]["needs"] == "promotion-check"


def test_dependabot_watches_every_pinned_module_package_list_and_action() -> None:
    """Every Go module the project pins (the tools, the kind cluster's programs) is proposed for update; local
    replacement modules (a `shim/`) are the project's own. Python's and Maven's pins and the actions are too."""
    updates = load(ROOT / ".github" / "dependabot.yml")["updates"]
    watched: dict[str, set[str]] = {}
    for update in updates:
        directories = update.get("directories") or [update["directory"]]
        watched.setdefault(update["package-ecosystem"], set()).update(directories)
    modules = {
        "/" + str(path.parent.relative_to(ROOT))
        for path in (ROOT / "tools").rglob("go.mod")
        if "shim" not in path.relative_to(ROOT).parts
    }
    assert modules and modules == watched["gomod"], modules ^ watched["gomod"]
    assert watched["pip"] == {"/"} and (ROOT / "requirements.txt").exists()
    assert watched["maven"] == {"/reference-node"} and (ROOT / "reference-node" / "pom.xml").exists()
    assert watched["github-actions"] == {"/"}
    assert all(update.get("cooldown") for update in updates)

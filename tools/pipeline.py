"""`make pipeline` and `make rollback`: the pipeline's stages on one stack, here, as the main branch's workflow runs
them in CI (docs/pipeline.md).

    test -> build -> up -> verify -> report          (rollback to the last verified digests when verify fails)

- **test**: the fast tiers (`make unit policy-test` by default; `--test-targets`).
- **build**: the three images from the source tree on the project's BuildKit, pushed to the stack's registry; their
  digests are what the next stages deploy.
- **up**: `pulumi up` of the stack with the policy pack, running exactly those digests (`images.references`, given
  through a copy of the stack file, so the committed one is not edited).
- **verify**: `tools/verify.py` on what `up` rendered: every node healthy (three tries of 30 s), smoke transactions
  committed, validators and slim nodes agreeing.
- On success the digests are recorded as the stack's last verified ones (stack tags `aurigraph:verified:<role>`,
  kept in the state backend). On a failed verification the stack is rolled back: `up` with the recorded digests,
  verified again. The report says which, with each stage's time.

`rollback` alone re-applies the recorded digests (and verifies them where the stack renders).

Usage: python -m tools.pipeline {run,rollback} [--stack local] [--source DIR] [--test-targets "unit policy-test"]
Exit 0 when the change is deployed and verified; 1 when it failed (rolled back or not); 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.image import SourceRevision, build_arguments
from components.roles import ROLES, SIZE_BAR_MB
from stack_config.schema import PROJECT
from tools import images, verify
from tools.stack_ops import StackRun

ROOT = Path(__file__).resolve().parent.parent
TAG = "aurigraph:verified:"


class PipelineError(Exception):
    """A stage could not run at all (as opposed to running and failing)."""


@dataclass
class Stage:
    name: str
    seconds: float
    passed: bool
    detail: str = ""


@dataclass
class Run:
    stack: str
    stages: list[Stage] = field(default_factory=list)
    built: list[images.Built] = field(default_factory=list)
    deployed: dict[str, str] = field(default_factory=dict)
    verification: verify.Report | None = None
    rolled_back_to: dict[str, str] | None = None
    rollback_verification: verify.Report | None = None
    blockers: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.stages) and all(stage.passed for stage in self.stages) and self.rolled_back_to is None

    def timed(self, name: str, action: Any) -> Any:
        started = time.monotonic()
        print(f"\n== pipeline {self.stack}: {name} ==", flush=True)
        try:
            result = action()
        except (PipelineError, SystemExit) as error:
            self.stages.append(Stage(name, time.monotonic() - started, False, str(error)))
            raise
        passed = result is not False
        self.stages.append(Stage(name, time.monotonic() - started, passed))
        return result


def stack_file(project: Path, stack: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text()) or {}
    return document


def config_with_references(project: Path, stack: str, references: dict[str, str]) -> Path:
    """A copy of the stack file that runs ``references`` (the committed file stays as it is)."""
    document = stack_file(project, stack)
    config = document.setdefault("config", {})
    images_config = dict(config.get(f"{PROJECT}:images") or {})
    images_config["references"] = dict(references)
    config[f"{PROJECT}:images"] = images_config
    path = project / "build" / "pipeline" / f"Pulumi.{stack}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def deploy(run: StackRun, references: dict[str, str]) -> None:
    config = config_with_references(run.project, run.stack, references)
    run.pulumi("up", "--yes", "--skip-preview", "--config-file", str(config), *run.policy_args())


def verified_references(run: StackRun) -> dict[str, str]:
    tags: dict[str, str] = json.loads(run.pulumi("stack", "tag", "ls", "--json", capture=True) or "{}")
    return {name.removeprefix(TAG): value for name, value in tags.items() if name.startswith(TAG)}


def record_verified(run: StackRun, references: dict[str, str]) -> None:
    for role, reference in references.items():
        run.pulumi("stack", "tag", "set", f"{TAG}{role}", reference, capture=True)


def verification(run: StackRun) -> verify.Report:
    rendered = stack_file(run.project, run.stack).get("config", {}).get(f"{PROJECT}:kubernetes") or {}
    if rendered.get("kubeconfig"):
        raise PipelineError("verifying a stack applied to a cluster is not built yet: only rendered stacks")
    directory = rendered.get("renderDirectory", f"build/manifests/{run.stack}")
    report = verify.verify(run.stack, run.project / directory)
    print(verify.describe(report), flush=True)
    return report


def build_images(run: StackRun, source: Path) -> list[images.Built]:
    registry = (stack_file(run.project, run.stack).get("config", {}).get(f"{PROJECT}:images") or {}).get("registry")
    if not registry:
        raise PipelineError(f"stack {run.stack} names no images.registry to push to")
    images.check_engine()
    images.check_builder(images.BUILDER)
    images.check_registry(registry)
    revision = SourceRevision.of(source)
    arguments = build_arguments(revision, None, images.published_bases(registry))
    built = [
        images.build(role, source, f"{registry}/aurigraph/{role}", revision, arguments, push=True) for role in ROLES
    ]
    print(images.table(built), flush=True)
    return built


def roll_back(run: StackRun, state: Run) -> None:
    """Re-applies the last verified digests and verifies them."""
    last_good = verified_references(run)
    if sorted(last_good) != sorted(ROLES):
        state.blockers.append("no verified digests are recorded for this stack: nothing to roll back to")
        return
    state.timed("rollback", lambda: deploy(run, last_good))
    state.rolled_back_to = last_good
    state.rollback_verification = state.timed("verify rollback", lambda: verification(run))
    if not state.rollback_verification.verified:
        state.blockers.append("the rolled-back deployment failed its verification too")


def pipeline(run: StackRun, source: Path, test_targets: list[str]) -> Run:
    state = Run(run.stack)
    try:
        state.timed("test", lambda: subprocess.run(["make", *test_targets], cwd=ROOT, check=False).returncode == 0)
        if not state.stages[-1].passed:
            state.blockers.append(f"`make {' '.join(test_targets)}` failed: nothing was built")
            return state
        state.built = state.timed("build", lambda: build_images(run, source))
        state.deployed = {b.role: str(b.pushed) for b in state.built}
        state.timed("up", lambda: deploy(run, state.deployed))
        state.verification = state.timed("verify", lambda: verification(run))
        if state.verification.verified:
            record_verified(run, state.deployed)
        else:
            state.stages[-1].passed = False
            state.blockers.append("the deployed images failed verification")
            roll_back(run, state)
    except (PipelineError, SystemExit) as error:
        state.blockers.append(f"{state.stages[-1].name if state.stages else 'start'}: {error}")
        if state.stages and state.stages[-1].name == "up":
            roll_back(run, state)
    return state


def report(state: Run) -> str:
    """The plan's daily stand-up block, filled in from this run."""
    total = sum(stage.seconds for stage in state.stages)
    stages = ", ".join(f"{s.name} {s.seconds:.0f} s{'' if s.passed else ' FAILED'}" for s in state.stages)
    status = "success" if state.passed else ("failure, rolled back" if state.rolled_back_to else "failure")
    lines = [f"Aurigraph pipeline ({state.stack})", f"Pipeline Status: {status}; {total:.0f} s in all ({stages})"]
    if state.built:
        sizes = "; ".join(
            f"{b.role} {b.size_mb:.1f} MB (budget {SIZE_BAR_MB[b.role]} MB) {b.pushed}" for b in state.built
        )
        lines.append(f"Docker Images: {sizes}")
    check = state.rollback_verification or state.verification
    if check is not None:
        health = f"{len(check.healthy)} pods healthy, {len(check.unhealthy)} not"
        lines.append(
            f"Deployment: {health}; smoke {check.smoke_committed} of {verify.SMOKE_TRANSACTIONS}; {check.agreement}"
        )
    if state.rolled_back_to is not None:
        lines.append("Rolled back to: " + "; ".join(f"{r} {ref}" for r, ref in sorted(state.rolled_back_to.items())))
    up = next((s for s in state.stages if s.name == "up"), None)
    lines.append(
        "Policies: "
        + ("passed (mandatory policies enforced by up)" if up and up.passed else "not reached or refused (see up)")
    )
    lines.append("Blockers: " + ("; ".join(state.blockers) if state.blockers else "none"))
    lines.append(f"Result: {'PASS' if state.passed else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "rollback"])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    parser.add_argument("--source", type=Path, default=images.DEFAULT_SOURCE)
    parser.add_argument("--test-targets", default="unit policy-test")
    args = parser.parse_args(argv)
    run = StackRun(args.project_dir.resolve(), args.stack)
    try:
        images.check_source(args.source)
    except images.InputError as error:
        print(f"pipeline: {error}", file=sys.stderr)
        return 2
    run.select()
    if args.command == "rollback":
        state = Run(args.stack)
        roll_back(run, state)
        print("\n" + report(state))
        return 0 if state.rolled_back_to and not state.blockers else 1
    state = pipeline(run, args.source.resolve(), args.test_targets.split())
    text = report(state)
    out = run.project / "build" / "pipeline" / "report.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print("\n" + text)
    return 0 if state.passed else 1


if __name__ == "__main__":
    sys.exit(main())

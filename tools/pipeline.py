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

`promote --from staging` (the release): the digests verified on the source stack, never rebuilt, deployed on this
one. First the promotion check (`promotion-check` runs it alone): a preview of this stack with those digests, with
the policy pack, whose every workload must run exactly the source's verified digest for its role. Then `up`, the
stack's `deployedImages` output compared again, verification, and the digests recorded as this stack's verified.

Usage: python -m tools.pipeline {run,rollback,promote,promotion-check} [--stack local] [--from STACK]
       [--source DIR] [--test-targets "unit policy-test"]
Exit 0 when the change is deployed and verified; 1 when it failed (rolled back or not); 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.image import SourceRevision, build_arguments
from components.metadata import COMPONENT_LABEL
from components.pod import WORKLOAD_TYPES
from components.roles import ROLES, SIZE_BAR_MB
from stack_config.schema import PROJECT
from tools import images, supply_chain, verify
from tools.stack_ops import StackRun, cluster_problem

ROOT = Path(__file__).resolve().parent.parent
# Where each run's result goes for the AurigraphPipelineFailing alert (monitoring/rules): a Pushgateway group per
# stack, replaced by every run, so that it holds the last run's stages only.
PUSHGATEWAY_JOB = "aurigraph-pipeline"
PUSHGATEWAY_ENV = "AURIGRAPH_PUSHGATEWAY_URL"
# The registry the build stage pushes to when the stack names none (staging: the organisation's registry).
REGISTRY_ENV = "AURIGRAPH_IMAGE_REGISTRY"
# The vulnerability database of the gate: `published` (grype's, what the workflows use) or a directory of advisories.
VULNERABILITIES_ENV = "AURIGRAPH_VULNERABILITIES"


@dataclass(frozen=True)
class Signing:
    """The key the supply-chain stage signs with, and the public key signatures are checked against."""

    key: str
    public_key: str

    @classmethod
    def of(cls, stack: str, key: str | None, public_key: str | None) -> Signing:
        """The given key; else $COSIGN_PRIVATE_KEY (a CI secret); else, for the local stack only, a key pair made
        for this machine (build/signing/)."""
        if not key and os.environ.get("COSIGN_PRIVATE_KEY"):
            key = "env://COSIGN_PRIVATE_KEY"
        if not key:
            if stack != "local":
                raise PipelineError(
                    f"{stack} signs its images with its own key: set COSIGN_PRIVATE_KEY (or --signing-key)"
                )
            key = str(supply_chain.keygen(supply_chain.LOCAL_KEY.parent))
        return cls(key, public_key or supply_chain.public_key_of(key))


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
    evidence: list[supply_chain.Evidence] = field(default_factory=list)
    deployed: dict[str, str] = field(default_factory=dict)
    verification: verify.Report | None = None
    rolled_back_to: dict[str, str] | None = None
    rollback_verification: verify.Report | None = None
    blockers: list[str] = field(default_factory=list)
    promoted_from: str | None = None
    metrics: str = ""

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


def deploy(run: StackRun, references: dict[str, str]) -> None:
    config = run.config_with_references(references)
    run.pulumi("up", "--yes", "--skip-preview", "--config-file", str(config), *run.policy_args())


def verification(run: StackRun) -> verify.Report:
    """The deployment checked: on its cluster where the stack applies to one, else its rendered manifests run as
    containers."""
    rendered = run.stack_file().get("config", {}).get(f"{PROJECT}:kubernetes") or {}
    directory = rendered.get("renderDirectory", f"build/manifests/{run.stack}")
    try:
        report = verify.verify_stack(run.project, run.stack, run.project / directory, baseline=run.verified_performance)
    except verify.VerifyError as error:
        raise PipelineError(str(error)) from None
    print(verify.describe(report), flush=True)
    return report


def workload_images(steps: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Role -> every image its workload's containers would run, from a `pulumi preview --json --show-sames`'s steps."""
    found: dict[str, set[str]] = {}
    for step in steps:
        state = step.get("newState") or {}
        if step.get("op") == "delete" or state.get("type") not in WORKLOAD_TYPES:
            continue
        template = (state.get("inputs") or {}).get("spec", {}).get("template", {})
        role = template.get("metadata", {}).get("labels", {}).get(COMPONENT_LABEL, state.get("urn", "?"))
        spec = template.get("spec", {})
        containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
        found.setdefault(role, set()).update(str(container.get("image")) for container in containers)
    return found


def promotion_differences(verified: dict[str, str], would_run: dict[str, set[str]]) -> list[str]:
    """What keeps a preview from being a promotion of ``verified``: one line per role that differs."""
    problems = []
    for role in sorted(set(verified) | set(would_run)):
        images_of_role = would_run.get(role, set())
        if role not in verified:
            problems.append(f"{role}: would run {', '.join(sorted(images_of_role))}, which nothing verified")
        elif not images_of_role:
            problems.append(f"{role}: no workload would run its verified digest {verified[role]}")
        elif images_of_role != {verified[role]}:
            others = ", ".join(sorted(images_of_role - {verified[role]}))
            problems.append(f"{role}: would run {others} instead of the verified {verified[role]}")
    return problems


def promotion_check(run: StackRun, source: str, public_key: str) -> dict[str, str]:
    """The source stack's verified digests, once their signatures and SBOM attestations check out against
    ``public_key`` and a preview of ``run``'s stack shows that it would run exactly them."""
    if source == run.stack:
        raise PipelineError(f"a stack is promoted from another one, not from itself ({source})")
    verified = StackRun(run.project, source).verified_references()
    if sorted(verified) != sorted(ROLES):
        missing = ", ".join(sorted(set(ROLES) - set(verified)))
        raise PipelineError(f"{source} has no verified digest for {missing}: run its pipeline first")
    for role, reference in sorted(verified.items()):
        try:
            supply_chain.verify(reference, public_key)
        except supply_chain.SupplyChainError as error:
            raise PipelineError(f"{role} {reference} is not signed by the pipeline's key: {error}") from None
    print(f"promotion check: the digests {source} verified are signed, their SBOMs attested ({public_key})")
    config = run.config_with_references(verified)
    output = run.pulumi(
        "preview", "--json", "--show-sames", "--config-file", str(config), *run.policy_args(), capture=True
    )
    problems = promotion_differences(verified, workload_images(json.loads(output).get("steps") or []))
    if problems:
        raise PipelineError(f"{run.stack} would not run what {source} verified: " + "; ".join(problems))
    print(f"promotion check: {run.stack} would run exactly the digests verified on {source}:", flush=True)
    for role, reference in sorted(verified.items()):
        print(f"  {role:<10} {reference}", flush=True)
    return verified


def promote(run: StackRun, source: str, public_key: str) -> Run:
    state = Run(run.stack, promoted_from=source)

    def stages() -> None:
        state.deployed = state.timed("promotion check", lambda: promotion_check(run, source, public_key))
        state.timed("up", lambda: deploy(run, state.deployed))
        deployed = run.outputs().get("deployedImages")
        if deployed != state.deployed:
            raise PipelineError(f"after up, deployedImages is {deployed}, not the promoted {state.deployed}")
        verify_or_roll_back(run, state, f"the digests verified on {source} failed verification on {run.stack}")

    return guarded(run, state, stages)


def build_images(run: StackRun, source: Path, push_to: str | None) -> list[images.Built]:
    """The three images built and pushed to ``push_to`` (else the stack's images.registry), FROM the bases that
    `make build-env` published to the machine's registry (REGISTRY_ADDR, else the same registry)."""
    registry = push_to or run.image_settings().get("registry")
    if not registry:
        raise PipelineError(
            f"stack {run.stack} names no images.registry to push to: give one with --registry (or ${REGISTRY_ENV})"
        )
    bases = os.environ.get("REGISTRY_ADDR") or registry
    images.check_engine()
    images.check_builder(images.BUILDER)
    images.check_registry(bases)
    if registry != bases:
        images.check_registry(registry)
    revision = SourceRevision.of(source)
    arguments = build_arguments(revision, None, images.published_bases(bases))
    builder = supply_chain.builder_id()
    built = [
        images.build(role, source, f"{registry}/aurigraph/{role}", revision, arguments, push=True, provenance=builder)
        for role in ROLES
    ]
    print(images.table(built), flush=True)
    return built


def supply_chain_stage(state: Run, vulnerabilities: str, signing: Signing) -> bool:
    """Provenance, SBOM, vulnerability gate and signature of each pushed image; False when the gate refuses one."""
    try:
        environment = supply_chain.database(vulnerabilities)
        for built in state.built:
            found = supply_chain.evidence(built.role, str(built.pushed), environment, signing.key)
            print(supply_chain.Evidence.describe(found), flush=True)
            state.evidence.append(found)
    except supply_chain.SupplyChainError as error:
        raise PipelineError(str(error)) from None
    refused = [found for found in state.evidence if found.findings]
    for found in refused:
        state.blockers.append(f"vulnerability gate: {found.role} has {'; '.join(found.findings)}: nothing deployed")
    return not refused


def roll_back(run: StackRun, state: Run) -> None:
    """Re-applies the last verified digests and verifies them."""
    last_good = run.verified_references()
    if sorted(last_good) != sorted(ROLES):
        state.blockers.append("no verified digests are recorded for this stack: nothing to roll back to")
        return
    state.timed("rollback", lambda: deploy(run, last_good))
    state.rolled_back_to = last_good
    state.rollback_verification = state.timed("verify rollback", lambda: verification(run))
    if not state.rollback_verification.verified:
        state.blockers.append("the rolled-back deployment failed its verification too")


def verify_or_roll_back(run: StackRun, state: Run, failure: str) -> None:
    """Verifies what `up` deployed: records its digests as verified, or rolls back to the recorded ones."""
    state.verification = state.timed("verify", lambda: verification(run))
    if state.verification.verified:
        run.record_verified(state.deployed, state.verification.performance_baseline)
    else:
        state.stages[-1].passed = False
        state.blockers.append(failure)
        roll_back(run, state)


def guarded(run: StackRun, state: Run, stages: Callable[[], None]) -> Run:
    """Runs ``stages``; a stage that could not run is a blocker, and one that stopped in `up` is rolled back."""
    try:
        stages()
    except (PipelineError, SystemExit) as error:
        state.blockers.append(f"{state.stages[-1].name if state.stages else 'start'}: {error}")
        if state.stages and state.stages[-1].name == "up":
            roll_back(run, state)
    return state


def pipeline(
    run: StackRun,
    source: Path,
    test_targets: list[str],
    push_to: str | None = None,
    vulnerabilities: str = str(supply_chain.ADVISORIES),
    signing: Signing | None = None,
) -> Run:
    state = Run(run.stack)

    def stages() -> None:
        state.timed("test", lambda: subprocess.run(["make", *test_targets], cwd=ROOT, check=False).returncode == 0)
        if not state.stages[-1].passed:
            state.blockers.append(f"`make {' '.join(test_targets)}` failed: nothing was built")
            return
        keys = signing or Signing.of(run.stack, None, None)
        state.built = state.timed("build", lambda: build_images(run, source, push_to))
        if not state.timed("supply chain", lambda: supply_chain_stage(state, vulnerabilities, keys)):
            return
        state.deployed = {b.role: str(b.pushed) for b in state.built}
        state.timed("up", lambda: deploy(run, state.deployed))
        verify_or_roll_back(run, state, "the deployed images failed verification")

    return guarded(run, state, stages)


def metrics_text(state: Run) -> str:
    """The run in Prometheus' text format: each stage's result and time, the run's result, whether it rolled back."""
    lines = [
        "# HELP aurigraph_pipeline_stage_success 1 when the stage of the stack's last pipeline run passed, 0 when not.",
        "# TYPE aurigraph_pipeline_stage_success gauge",
    ]
    lines += [
        f'aurigraph_pipeline_stage_success{{stage="{stage.name.replace(" ", "_")}"}} {int(stage.passed)}'
        for stage in state.stages
    ]
    lines += [
        "# HELP aurigraph_pipeline_stage_duration_seconds How long the stage of the last run took.",
        "# TYPE aurigraph_pipeline_stage_duration_seconds gauge",
    ]
    lines += [
        f'aurigraph_pipeline_stage_duration_seconds{{stage="{stage.name.replace(" ", "_")}"}} {stage.seconds:.3f}'
        for stage in state.stages
    ]
    lines += [
        "# HELP aurigraph_pipeline_success 1 when the last run deployed and verified its change.",
        "# TYPE aurigraph_pipeline_success gauge",
        f"aurigraph_pipeline_success {int(state.passed)}",
        "# HELP aurigraph_pipeline_rolled_back 1 when the last run rolled the stack back.",
        "# TYPE aurigraph_pipeline_rolled_back gauge",
        f"aurigraph_pipeline_rolled_back {int(state.rolled_back_to is not None)}",
    ]
    return "\n".join(lines) + "\n"


def push_metrics(url: str, state: Run) -> str:
    """PUTs the run's metrics to the Pushgateway at ``url`` (replacing the stack's group); what happened, in words."""
    target = f"{url.rstrip('/')}/metrics/job/{PUSHGATEWAY_JOB}/stack/{state.stack}"
    request = urllib.request.Request(target, data=metrics_text(state).encode(), method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"pushed to {target} ({response.status})"
    except (urllib.error.URLError, OSError) as error:
        # The run's result stands; a monitoring outage must not turn a deployment into a failure.
        return f"NOT pushed to {target}: {error}"


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
    for found in state.evidence:
        lines.append(f"Supply chain: {found.describe()}")
    check = state.rollback_verification or state.verification
    if check is not None:
        health = f"{len(check.healthy)} pods healthy, {len(check.unhealthy)} not"
        lines.append(
            f"Deployment: {health}; smoke {check.smoke_committed} of {verify.SMOKE_TRANSACTIONS}; {check.agreement}"
        )
        if check.performance or check.performance_failed:
            verdict = "; ".join(check.performance_failed) or "within limits"
            lines.append(f"Performance: {check.performance or 'not measured'}: {verdict}")
    if state.promoted_from and state.deployed:
        lines.append(
            f"Promoted from {state.promoted_from} (not rebuilt): "
            + "; ".join(f"{r} {ref}" for r, ref in sorted(state.deployed.items()))
        )
    if state.rolled_back_to is not None:
        lines.append("Rolled back to: " + "; ".join(f"{r} {ref}" for r, ref in sorted(state.rolled_back_to.items())))
    up = next((s for s in state.stages if s.name == "up"), None)
    lines.append(
        "Policies: "
        + ("passed (mandatory policies enforced by up)" if up and up.passed else "not reached or refused (see up)")
    )
    if state.metrics:
        lines.append(f"Metrics: {state.metrics}")
    lines.append("Blockers: " + ("; ".join(state.blockers) if state.blockers else "none"))
    lines.append(f"Result: {'PASS' if state.passed else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "rollback", "promote", "promotion-check"])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--from", dest="source_stack", help="promote and promotion-check: the stack verified first")
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    parser.add_argument("--source", type=Path, default=images.DEFAULT_SOURCE)
    parser.add_argument("--test-targets", default="unit policy-test")
    parser.add_argument(
        "--registry",
        default=os.environ.get(REGISTRY_ENV),
        help=f"run: push the images here instead of the stack's images.registry (default: ${REGISTRY_ENV})",
    )
    parser.add_argument(
        "--vulnerabilities",
        default=os.environ.get(VULNERABILITIES_ENV, str(supply_chain.ADVISORIES)),
        help=f"run: the gate's database: `published` (grype's) or a directory of advisories (default: "
        f"${VULNERABILITIES_ENV}, else security/advisories)",
    )
    parser.add_argument("--signing-key", help="run: the cosign key (default: $COSIGN_PRIVATE_KEY; local: made here)")
    parser.add_argument(
        "--public-key",
        help="promote: the key the source's signatures are checked with (default: $COSIGN_PUBLIC_KEY; else the local "
        "key's)",
    )
    parser.add_argument(
        "--pushgateway",
        default=os.environ.get(PUSHGATEWAY_ENV),
        help=f"push the run's stage results to this Pushgateway (default: ${PUSHGATEWAY_ENV}; none when unset)",
    )
    args = parser.parse_args(argv)
    run = StackRun(args.project_dir.resolve(), args.stack)
    try:
        images.check_source(args.source)
    except images.InputError as error:
        print(f"pipeline: {error}", file=sys.stderr)
        return 2
    if args.command in ("promote", "promotion-check") and not args.source_stack:
        print(
            f"pipeline: {args.command} needs --from STACK (the stack whose verified digests are promoted)",
            file=sys.stderr,
        )
        return 2
    problem = cluster_problem(run.project, args.stack)
    if problem:
        print(f"pipeline: {problem}", file=sys.stderr)
        return 2
    public_key = args.public_key or ("env://COSIGN_PUBLIC_KEY" if os.environ.get("COSIGN_PUBLIC_KEY") else None)
    public_key = public_key or supply_chain.public_key_of(str(supply_chain.LOCAL_KEY))
    signing = None
    if args.command == "run":
        try:
            signing = Signing.of(args.stack, args.signing_key, public_key if args.public_key else None)
        except (PipelineError, subprocess.CalledProcessError, supply_chain.SupplyChainError) as error:
            print(f"pipeline: {error}", file=sys.stderr)
            return 2
    run.select()
    if args.command == "promotion-check":
        try:
            promotion_check(run, args.source_stack, public_key)
        except (PipelineError, SystemExit) as error:
            print(f"pipeline: promotion check failed: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "rollback":
        state = Run(args.stack)
        roll_back(run, state)
    elif args.command == "promote":
        state = promote(run, args.source_stack, public_key)
    else:
        state = pipeline(
            run, args.source.resolve(), args.test_targets.split(), args.registry, args.vulnerabilities, signing
        )
    if args.pushgateway:
        state.metrics = push_metrics(args.pushgateway, state)
    text = report(state)
    out = run.project / "build" / "pipeline" / "report.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print("\n" + text)
    if args.command == "rollback":
        return 0 if state.rolled_back_to and not state.blockers else 1
    return 0 if state.passed else 1


if __name__ == "__main__":
    sys.exit(main())

"""`make up`, `make preview` and `make destroy`: the Pulumi CLI on one stack, then a short report.

Usage: python -m tools.stack_ops {up,preview,destroy,kubeconfig} --stack NAME [--project-dir DIR]

The environment (PATH to the project's CLI, PULUMI_HOME, backend, passphrase) comes from the Makefile.
Each command runs non-interactively and echoes the exact `pulumi` command line first, so an operator can
rerun it by hand. `up` and `preview` run the policy pack in policies/ with the stack's enforcement levels
(policies/config/<stack>.json): a mandatory violation stops them before anything changes. After `up` the
report lists what the update changed (from the stack's history), the stack's outputs and the manifests
rendered to disk. `kubeconfig` writes $KUBE_CONFIG where a stack applied to a cluster reads its kubeconfig.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.roles import ROLES
from stack_config.loader import read_stack_file
from stack_config.schema import PROJECT
from tools.images import BUILDER, Built, InputError, check_builder, check_registry, table

ROOT = Path(__file__).resolve().parent.parent
# The stack tags that record, per role, the digest of the last deployment that passed verification, and its
# performance figures (tools/performance.py: the baseline the next deployment is judged against).
VERIFIED_TAG = "aurigraph:verified:"
PERFORMANCE_TAG = "aurigraph:performance"
PAST_TENSE = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced", "same": "unchanged"}


@dataclass(frozen=True)
class StackRun:
    """The CLI pointed at one stack of the project in ``project``."""

    project: Path
    stack: str

    def pulumi(self, *args: str, capture: bool = False, record: Path | None = None) -> str:
        """Runs the CLI in the project; a failure ends the command with the CLI's exit code. With ``record``, the
        output is shown and also written there."""
        command = ["pulumi", *args, "--stack", self.stack, "--non-interactive"]
        if not capture:
            print(f"+ {shlex.join(command)}", flush=True)
        if record is not None:
            with record.open("w") as out:
                process = subprocess.Popen(
                    command, cwd=self.project, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                assert process.stdout is not None
                for line in process.stdout:
                    sys.stdout.write(line)
                    out.write(line)
            if process.wait() != 0:
                raise SystemExit(process.returncode)
            return ""
        result = subprocess.run(command, cwd=self.project, text=True, capture_output=capture, check=False)
        if result.returncode != 0:
            if capture:
                sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(result.returncode)
        return result.stdout or ""

    def policy_args(self) -> list[str]:
        """The project's policy pack, with the stack's enforcement levels where policies/config has them."""
        args = ["--policy-pack", str(self.project / "policies")]
        config = self.project / "policies" / "config" / f"{self.stack}.json"
        if config.exists():
            args += ["--policy-pack-config", str(config)]
        return args

    def secrets_provider(self) -> str:
        """The secrets provider the stack file names (`secretsprovider`, e.g. a KMS key), else the passphrase."""
        provider = self.stack_file().get("secretsprovider")
        return str(provider) if provider else "passphrase"

    def select(self) -> None:
        """Selects the stack, creating it in the backend the first time, with the secrets provider its stack file
        names (the CLI itself would ignore that and ask for a passphrase)."""
        backend = os.environ.get("PULUMI_BACKEND_URL", "")
        if backend.startswith("file://"):
            Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        self.pulumi("stack", "select", "--create", "--secrets-provider", self.secrets_provider(), capture=True)

    def stack_file(self) -> dict[str, Any]:
        path = self.project / f"Pulumi.{self.stack}.yaml"
        document = yaml.safe_load(path.read_text()) if path.exists() else None
        return document if isinstance(document, dict) else {}

    def image_settings(self) -> dict[str, Any]:
        settings = (self.stack_file().get("config") or {}).get(f"{PROJECT}:images") or {}
        return settings if isinstance(settings, dict) else {}

    def verified_references(self) -> dict[str, str]:
        """The digests of the stack's last verified deployment, per role (stack tags set by the pipeline)."""
        tags = self.tags()
        return {name.removeprefix(VERIFIED_TAG): value for name, value in tags.items() if name.startswith(VERIFIED_TAG)}

    def record_verified(self, references: dict[str, str], performance: str = "") -> None:
        for role, reference in references.items():
            self.pulumi("stack", "tag", "set", f"{VERIFIED_TAG}{role}", reference, capture=True)
        if performance:
            self.pulumi("stack", "tag", "set", PERFORMANCE_TAG, performance, capture=True)

    def tags(self) -> dict[str, str]:
        found: dict[str, str] = json.loads(self.pulumi("stack", "tag", "ls", "--json", capture=True) or "{}")
        return found

    def verified_performance(self) -> str | None:
        """The performance figures of the stack's last verified deployment (JSON), if recorded."""
        return self.tags().get(PERFORMANCE_TAG)

    def config_with_references(self, references: dict[str, str]) -> Path:
        """A copy of the stack file that runs ``references`` (the committed file stays as it is), for
        `--config-file`."""
        document = self.stack_file()
        config = document.setdefault("config", {})
        config[f"{PROJECT}:images"] = {**self.image_settings(), "references": dict(references)}
        path = self.project / "build" / "stack-config" / f"Pulumi.{self.stack}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def image_args(self) -> list[str]:
        """For a stack that neither builds its images nor names their digests (staging, prod), the arguments that
        run its last verified digests: what `preview` and `up` compare a change against. Empty otherwise."""
        settings = self.image_settings()
        if settings.get("registry") or settings.get("references"):
            return []
        verified = self.verified_references()
        if sorted(verified) != sorted(ROLES):
            raise InputError(
                f"stack {self.stack} builds no images and names no digests (images.references), and no verified "
                "digests are recorded for it yet: run its pipeline (make pipeline, or make promote for prod), or "
                "set images.references"
            )
        return ["--config-file", str(self.config_with_references(verified))]

    def last_update(self) -> dict[str, Any]:
        history: list[dict[str, Any]] = json.loads(
            self.pulumi("stack", "history", "--json", "--page-size", "1", capture=True)
        )
        return history[0] if history else {}

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = json.loads(self.pulumi("stack", "output", "--json", capture=True))
        return outputs

    def rendered_files(self, directory: str) -> list[str]:
        base = self.project / directory
        return sorted(str(path.relative_to(self.project)) for path in base.rglob("*.yaml"))

    def report(self, command: str, seconds: float) -> str:
        """The report printed after ``command`` finished in ``seconds``."""
        changes: dict[str, int] = self.last_update().get("resourceChanges") or {}
        outputs = self.outputs()
        changed = ", ".join(f"{count} {PAST_TENSE.get(kind, kind)}" for kind, count in sorted(changes.items()))
        rows = [
            ("stack", self.stack),
            ("command", f"pulumi {command} ({seconds:.1f} s)"),
            ("resources", changed or "none"),
            ("kubernetes", f"{outputs.get('kubernetesMode', '?')} in namespace {outputs.get('namespace', '?')}"),
        ]
        files: list[str] = []
        if outputs.get("renderDirectory"):
            files = self.rendered_files(str(outputs["renderDirectory"]))
            rows.append(("rendered", f"{len(files)} manifest(s) in {outputs['renderDirectory']}/"))
        built = pushed_images(outputs.get("images") or {})
        rows += [(f"output {name}", json.dumps(value)) for name, value in sorted(outputs.items()) if name != "images"]
        rows.append(("images", f"{len(built)} built and pushed (below)" if built else "none built by this stack"))
        levels = self.project / "policies" / "config" / f"{self.stack}.json"
        enforced = f"enforcement levels of {levels.relative_to(self.project)}" if levels.exists() else "default levels"
        rows.append(("policies", f"policies/ with {enforced}: no mandatory violation (advisory ones are above)"))
        width = max(len(label) for label, _ in rows)
        lines = [f"  {label.ljust(width)}  {value}" for label, value in rows]
        lines += [f"    {name}" for name in files]
        if built:
            lines += ["", table(built)]
        return f"\n== {self.stack}: {command} finished ==\n" + "\n".join(lines) + "\n"


def pushed_images(images: dict[str, Any]) -> list[Built]:
    """The stack's `images` output as table rows: role, digest-pinned reference, image ID, measured size."""
    return [
        Built(
            role,
            reference=image["tags"][0],
            image_id=image["imageId"],
            size_bytes=image["sizeBytes"],
            pushed=image["ref"],
        )
        for role, image in sorted(images.items())
    ]


def config_section(project: Path, stack: str, name: str) -> dict[str, Any]:
    """One object of the stack file's config, as the program reads it; empty when unset or not an object (the
    program reports that itself)."""
    try:
        section = json.loads(read_stack_file(project, stack).get(f"{PROJECT}:{name}", "{}"))
    except json.JSONDecodeError:
        return {}
    return section if isinstance(section, dict) else {}


def image_build_problem(project: Path, stack: str) -> str | None:
    """For a stack that builds its images (its config names a registry endpoint): why the build could not
    start here, or None. Checked before the CLI runs, so a missing registry or builder is one message, not a
    build that fails at its push minutes later. The program checks the config itself."""
    images = config_section(project, stack, "images")
    if not isinstance(images.get("registry"), str):
        return None
    try:
        check_registry(images["registry"])
        check_builder(str(images.get("builder", BUILDER)))
    except InputError as error:
        return str(error)
    return None


def kubeconfig_path(project: Path, stack: str) -> Path | None:
    """Where the stack's config says its cluster's kubeconfig is (relative to the project), or None (rendered)."""
    target = config_section(project, stack, "kubernetes")
    if not isinstance(target.get("kubeconfig"), str):
        return None
    return project / Path(target["kubeconfig"]).expanduser()


def cluster_problem(project: Path, stack: str) -> str | None:
    """For a stack applied to a cluster: why its kubeconfig cannot be read, or None."""
    path = kubeconfig_path(project, stack)
    if path is None or path.is_file():
        return None
    return (
        f"stack {stack} is applied to the cluster of kubeconfig {path}, which does not exist: write it with "
        f"`make kubeconfig STACK={stack}` (from $KUBE_CONFIG), or point kubernetes.kubeconfig at the cluster's"
    )


def write_kubeconfig(project: Path, stack: str, content: str | None) -> Path:
    """Writes ``content`` (a kubeconfig, as the workflows' KUBE_CONFIG secret holds it) where the stack reads it,
    readable by its owner only."""
    path = kubeconfig_path(project, stack)
    if path is None:
        raise InputError(f"stack {stack} names no kubernetes.kubeconfig: its objects are rendered, not applied")
    if not content or not content.strip():
        raise InputError("KUBE_CONFIG is empty: set it to the cluster's kubeconfig (the workflows' secret)")
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as error:
        raise InputError(f"KUBE_CONFIG is not YAML: {error}") from None
    if not isinstance(document, dict) or not document.get("clusters") or not document.get("contexts"):
        raise InputError("KUBE_CONFIG is not a kubeconfig: it needs `clusters` and `contexts`")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(content)
    os.chmod(path, 0o600)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack_ops", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "preview", "destroy", "kubeconfig"])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    args = parser.parse_args(argv)

    run = StackRun(args.project_dir.resolve(), args.stack)
    if args.command == "kubeconfig":
        try:
            written = write_kubeconfig(run.project, args.stack, os.environ.get("KUBE_CONFIG"))
        except InputError as error:
            print(f"kubeconfig: {error}", file=sys.stderr)
            return 2
        print(f"kubeconfig: {args.stack} reaches its cluster through {written.relative_to(run.project)} (mode 0600)")
        return 0
    if args.command in ("up", "preview", "destroy"):
        problem = cluster_problem(run.project, args.stack) or (
            image_build_problem(run.project, args.stack) if args.command != "destroy" else None
        )
        if problem:
            print(f"{args.command}: {problem}", file=sys.stderr)
            return 2
    run.select()
    images: list[str] = []
    if args.command in ("up", "preview"):
        try:
            images = run.image_args()
        except InputError as error:
            print(f"{args.command}: {error}", file=sys.stderr)
            return 2
    started = time.monotonic()
    if args.command == "up":
        run.pulumi("up", "--yes", "--skip-preview", *images, *run.policy_args())
        print(run.report("up", time.monotonic() - started))
    elif args.command == "preview":
        # Kept for the pull request (make pr-comment), the policy results included, whether or not it passed.
        record = run.project / "build" / "previews" / f"{args.stack}.txt"
        record.parent.mkdir(parents=True, exist_ok=True)
        run.pulumi("preview", "--diff", "--color", "never", *images, *run.policy_args(), record=record)
    else:
        run.pulumi("destroy", "--yes", "--skip-preview")
        print(f"\n== {args.stack}: destroy finished in {time.monotonic() - started:.1f} s ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())

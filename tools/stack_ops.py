"""`make up`, `make preview` and `make destroy`: the Pulumi CLI on one stack, then a short report.

Usage: python -m tools.stack_ops {up,preview,destroy} --stack NAME [--project-dir DIR]

The environment (PATH to the project's CLI, PULUMI_HOME, backend, passphrase) comes from the Makefile.
Each command runs non-interactively and echoes the exact `pulumi` command line first, so an operator can
rerun it by hand. `up` and `preview` run the policy pack in policies/ with the stack's enforcement levels
(policies/config/<stack>.json): a mandatory violation stops them before anything changes. After `up` the
report lists what the update changed (from the stack's history), the stack's outputs and the manifests
rendered to disk.
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

from stack_config.loader import read_stack_file
from stack_config.schema import PROJECT
from tools.images import BUILDER, Built, InputError, check_builder, check_registry, table

ROOT = Path(__file__).resolve().parent.parent
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

    def select(self) -> None:
        """Selects the stack, creating it in the backend (with passphrase secrets) the first time."""
        backend = os.environ.get("PULUMI_BACKEND_URL", "")
        if backend.startswith("file://"):
            Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        self.pulumi("stack", "select", "--create", "--secrets-provider", "passphrase", capture=True)

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
        rows.append(("policies", "no policy pack is configured yet"))
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


def image_build_problem(project: Path, stack: str) -> str | None:
    """For a stack that builds its images (its config names a registry endpoint): why the build could not
    start here, or None. Checked before the CLI runs, so a missing registry or builder is one message, not a
    build that fails at its push minutes later. The program checks the config itself."""
    raw = read_stack_file(project, stack).get(f"{PROJECT}:images", "{}")
    try:
        images = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(images, dict) or not isinstance(images.get("registry"), str):
        return None
    try:
        check_registry(images["registry"])
        check_builder(str(images.get("builder", BUILDER)))
    except InputError as error:
        return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack_ops", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "preview", "destroy"])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    args = parser.parse_args(argv)

    run = StackRun(args.project_dir.resolve(), args.stack)
    if args.command in ("up", "preview"):
        problem = image_build_problem(run.project, args.stack)
        if problem:
            print(f"{args.command}: {problem}", file=sys.stderr)
            return 2
    run.select()
    started = time.monotonic()
    if args.command == "up":
        run.pulumi("up", "--yes", "--skip-preview", *run.policy_args())
        print(run.report("up", time.monotonic() - started))
    elif args.command == "preview":
        # Kept for the pull request (make pr-comment), the policy results included, whether or not it passed.
        record = run.project / "build" / "previews" / f"{args.stack}.txt"
        record.parent.mkdir(parents=True, exist_ok=True)
        run.pulumi("preview", "--diff", "--color", "never", *run.policy_args(), record=record)
    else:
        run.pulumi("destroy", "--yes", "--skip-preview")
        print(f"\n== {args.stack}: destroy finished in {time.monotonic() - started:.1f} s ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make up`, `make preview` and `make destroy`: the Pulumi CLI on one stack, then a short report.

Usage: python -m tools.stack_ops {up,preview,destroy} --stack NAME

The environment (PATH to the project's CLI, PULUMI_HOME, backend, passphrase) comes from the Makefile.
Each command runs non-interactively and echoes the exact `pulumi` command line first, so an operator can
rerun it by hand. After `up` the report lists what the update changed (from the stack's history), the
stack's outputs and the manifests rendered to disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAST_TENSE = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced", "same": "unchanged"}


def pulumi(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs the CLI in the project directory; a failure ends the command with the CLI's exit code."""
    command = ["pulumi", *args, "--non-interactive"]
    if not capture:
        print(f"+ {shlex.join(command)}", flush=True)
    result = subprocess.run(command, cwd=ROOT, text=True, capture_output=capture, check=False)
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.returncode)
    return result


def select_stack(stack: str) -> None:
    """Selects ``stack``, creating it in the backend (with passphrase secrets) the first time."""
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    pulumi("stack", "select", "--create", stack, "--secrets-provider", "passphrase", capture=True)


def last_update(stack: str) -> dict[str, object]:
    history = json.loads(
        pulumi("stack", "history", "--json", "--page-size", "1", "--stack", stack, capture=True).stdout
    )
    return history[0] if history else {}


def stack_outputs(stack: str) -> dict[str, object]:
    outputs: dict[str, object] = json.loads(pulumi("stack", "output", "--json", "--stack", stack, capture=True).stdout)
    return outputs


def rendered_files(directory: str | None) -> list[str]:
    if not directory:
        return []
    base = ROOT / directory
    return sorted(str(path.relative_to(ROOT)) for path in base.rglob("*.yaml")) if base.is_dir() else []


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def report(stack: str, command: str, seconds: float) -> str:
    """The report printed after ``command`` finished on ``stack`` in ``seconds``."""
    update = last_update(stack)
    changes = update.get("resourceChanges") or {}
    assert isinstance(changes, dict)
    outputs = stack_outputs(stack)
    files = rendered_files(str(outputs["renderDirectory"]) if outputs.get("renderDirectory") else None)
    changed = ", ".join(f"{count} {PAST_TENSE.get(kind, kind)}" for kind, count in sorted(changes.items()))
    rows = [
        ("stack", stack),
        ("command", f"pulumi {command} ({seconds:.1f} s)"),
        ("resources", changed),
        ("kubernetes", f"{outputs.get('kubernetesMode', '?')} in namespace {outputs.get('namespace', '?')}"),
    ]
    if outputs.get("renderDirectory"):
        rows.append(("rendered", f"{len(files)} manifest(s) in {outputs['renderDirectory']}/"))
    rows += [(f"output {name}", json.dumps(value)) for name, value in sorted(outputs.items())]
    rows.append(("policies", "no policy pack is configured yet"))
    listing = "".join(f"\n    {name}" for name in files)
    return f"\n== {stack}: {command} finished ==\n{table(rows)}{listing}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack_ops", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "preview", "destroy"])
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)

    select_stack(args.stack)
    started = time.monotonic()
    if args.command == "up":
        pulumi("up", "--yes", "--stack", args.stack, "--skip-preview")
        print(report(args.stack, "up", time.monotonic() - started))
    elif args.command == "preview":
        pulumi("preview", "--diff", "--stack", args.stack)
    else:
        pulumi("destroy", "--yes", "--stack", args.stack, "--skip-preview")
        print(f"\n== {args.stack}: destroy finished in {time.monotonic() - started:.1f} s ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make images`: builds the three node images from a Quarkus source tree and prints their sizes.

Checks its inputs first (roles, source directory, Docker engine) and stops with one message if one is
wrong, before anything is built. Then makes the Debian-based bases (docker/bases/build.sh, cached), builds
docker/Dockerfile.<role> for each role with the source tree as context, tags `sha-<commit>` and `latest`,
and prints role, image id, size, the size bar, the plan's baseline and the reduction.

Usage: python -m tools.images [--source DIR] [--roles business,slim,validator] [--repository aurigraph]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from components.roles import PLAN_BASELINE_MB, ROLES, SIZE_BAR_MB, check_role

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT / "reference-node"
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")


class InputError(Exception):
    """A bad input: reported as one message, nothing built."""


@dataclass(frozen=True)
class Built:
    role: str
    reference: str
    image_id: str
    size_bytes: int
    seconds: float
    pushed: str | None = None  # the digest-pinned reference in the registry, once pushed

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def check_source(source: Path) -> Path:
    """The source tree must be a Maven project that builds a Quarkus application."""
    if not source.is_dir():
        raise InputError(f"source directory {source} does not exist")
    pom = source / "pom.xml"
    if not pom.is_file():
        raise InputError(f"{source} has no pom.xml: not a Maven project")
    if "quarkus-maven-plugin" not in pom.read_text(errors="replace"):
        raise InputError(f"{pom} does not use quarkus-maven-plugin: not a Quarkus application")
    return source.resolve()


def check_engine() -> None:
    """A Docker engine must answer."""
    try:
        subprocess.run([DOCKER, "info"], check=True, capture_output=True, timeout=30)
    except FileNotFoundError as error:
        raise InputError(f"the Docker client {DOCKER} is missing (apt-get install -y docker.io)") from error
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise InputError(f"no Docker engine answers at {where}: start one (`make docker-engine`)") from error


def check_registry(address: str) -> str:
    """A registry must answer the distribution API's base endpoint at ``address`` (host:port)."""
    if not re.fullmatch(r"[A-Za-z0-9.-]+:[0-9]{1,5}", address):
        raise InputError(f"registry {address!r} is not host:port")
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=5):
            return address
    except urllib.error.HTTPError as error:
        if error.code == 401:  # answers, and wants credentials: docker login has them
            return address
        raise InputError(f"registry {address} answered {error.code} at /v2/: not a registry") from error
    except OSError as error:
        raise InputError(f"registry {address} is unreachable ({error}): start one (`make registry`)") from error


def push(built: Built, registry: str) -> Built:
    """Pushes ``built`` with its tags to ``registry``; returns it with the pushed digest reference."""
    name = built.reference.split(":", 1)[0]
    remote = f"{registry}/{name}"
    for tag in (built.reference.split(":", 1)[1], "latest"):
        subprocess.run([DOCKER, "tag", built.reference, f"{remote}:{tag}"], check=True)
        result = subprocess.run([DOCKER, "push", f"{remote}:{tag}"], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"images: pushing {remote}:{tag} failed: {result.stderr.strip()}")
    digests = json.loads(
        subprocess.run(
            [DOCKER, "image", "inspect", "-f", "{{json .RepoDigests}}", built.reference],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    pinned = next(d for d in digests if d.startswith(remote + "@"))
    return Built(built.role, built.reference, built.image_id, built.size_bytes, built.seconds, pinned)


def parse_roles(text: str) -> list[str]:
    try:
        return [check_role(part.strip()) for part in text.split(",")]
    except ValueError as error:
        raise InputError(str(error)) from error


def git(source: Path, *args: str) -> str | None:
    result = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def build_args(source: Path, version: str) -> dict[str, str]:
    """The commit's identity and time: equal commits give equal labels and file times."""
    revision = git(source, "rev-parse", "HEAD") or "unknown"
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or git(source, "log", "-1", "--format=%ct") or 0)
    return {
        "REVISION": revision,
        "SOURCE_DATE_EPOCH": str(epoch),
        "CREATED": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "VERSION": version,
        "SOURCE": git(source, "config", "--get", "remote.origin.url") or "unknown",
    }


def build(role: str, source: Path, repository: str, args: dict[str, str]) -> Built:
    short = args["REVISION"][:12]
    tags = [f"{repository}/{role}:sha-{short}", f"{repository}/{role}:latest"]
    command = [DOCKER, "build", "--progress=plain", "-f", str(ROOT / "docker" / f"Dockerfile.{role}")]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    for tag in tags:
        command += ["-t", tag]
    started = time.monotonic()
    log = ROOT / "build" / "images" / f"{role}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        result = subprocess.run(
            [*command, str(source)], stdout=out, stderr=subprocess.STDOUT, env=os.environ | {"DOCKER_BUILDKIT": "1"}
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise SystemExit(f"images: building the {role} image failed; the end of {log}:\n" + "\n".join(tail))
    seconds = time.monotonic() - started
    inspected = json.loads(
        subprocess.run([DOCKER, "image", "inspect", tags[0]], check=True, capture_output=True, text=True).stdout
    )[0]
    return Built(role, tags[0], inspected["Id"], int(inspected["Size"]), seconds)


def table(built: list[Built]) -> str:
    rows = [("role", "image", "id", "size", "bar", "plan's baseline", "reduction", "build")]
    for b in built:
        baseline = PLAN_BASELINE_MB[b.role]
        rows.append(
            (
                b.role,
                b.pushed or b.reference,
                b.image_id.removeprefix("sha256:")[:12],
                f"{b.size_mb:.1f} MB",
                f"{SIZE_BAR_MB[b.role]} MB",
                f"{baseline} MB",
                f"{100 * (1 - b.size_mb / baseline):.0f}%",
                f"{b.seconds:.0f} s",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the Quarkus source tree")
    parser.add_argument("--roles", default=",".join(ROLES), help="roles to build, comma-separated")
    parser.add_argument("--repository", default="aurigraph", help="local repository name of the images")
    parser.add_argument("--version", default="unreleased", help="the images' version label")
    parser.add_argument("--no-bases", action="store_true", help="do not (re)make the base images first")
    parser.add_argument("--push", metavar="HOST:PORT", help="push the images to this registry and print digests")
    args = parser.parse_args(argv)
    try:
        roles = parse_roles(args.roles)
        source = check_source(args.source)
        check_engine()
        if args.push:
            check_registry(args.push)
    except InputError as error:
        print(f"images: {error}", file=sys.stderr)
        return 2
    if not args.no_bases:
        subprocess.run([str(ROOT / "docker" / "bases" / "build.sh")], check=True)
    values = build_args(source, args.version)
    built = [build(role, source, args.repository, values) for role in roles]
    if args.push:
        built = [push(b, args.push) for b in built]
    print(f"\n== images (source {source}, revision {values['REVISION'][:12]}) ==\n{table(built)}")
    over = [b.role for b in built if b.size_mb > SIZE_BAR_MB[b.role]]
    if over:
        print(f"images: over the size bar: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

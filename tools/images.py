"""`make images`: builds the three node images from a Quarkus source tree and prints their sizes.

Checks its inputs first (roles, source directory, Docker engine, BuildKit builder, registry) and stops with one
message if one is wrong, before anything is built. Then builds docker/Dockerfile.<role> for each role on the
project's BuildKit (the buildx builder `aurigraph`, `make buildkit`), FROM the bases that `make build-env`
published to the loopback registry, with the tags and build arguments the image component uses
(components/image.py): `sha-<commit>`, `staging-<commit date>`, `latest`. Every file time is clamped to the
commit's time, so one commit gives one image ID. The images are loaded into the Docker engine (and pushed with
--push) and the table shows role, image id, size, the size bar, the plan's baseline and the reduction.

Usage: python -m tools.images [--source DIR] [--roles business,slim,validator] [--repository aurigraph] [--push]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from components.image import PLATFORM, SourceRevision, build_arguments, dockerfile_of, image_tags
from components.image_size import registry_problem
from components.roles import PLAN_BASELINE_MB, ROLES, SIZE_BAR_MB, check_role
from stack_config.sources import quarkus_source_problem

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT / "reference-node"
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
BUILDX = str(ROOT / ".tools" / "bin" / "docker-buildx")
BUILDER = "aurigraph"
BASES = ROOT / "docker" / "bases" / "versions.env"


class InputError(Exception):
    """A bad input: reported as one message, nothing built."""


@dataclass(frozen=True)
class Built:
    role: str
    reference: str
    image_id: str
    size_bytes: int
    seconds: float | None = None
    pushed: str | None = None  # the digest-pinned reference in the registry, once pushed

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def check_source(source: Path) -> Path:
    """The source tree must be a Maven project that builds a Quarkus application."""
    problem = quarkus_source_problem(source)
    if problem:
        raise InputError(problem)
    return source.resolve()


def check_engine() -> None:
    """A Docker engine must answer: the images are loaded into it."""
    try:
        subprocess.run([DOCKER, "info"], check=True, capture_output=True, timeout=30)
    except FileNotFoundError as error:
        raise InputError(f"the Docker client {DOCKER} is missing (apt-get install -y docker.io)") from error
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise InputError(f"no Docker engine answers at {where}: start one (`make docker-engine`)") from error


def check_builder(builder: str) -> None:
    """The buildx builder must exist and its BuildKit answer."""
    if not os.access(BUILDX, os.X_OK):
        raise InputError(f"{BUILDX} is missing: build the toolchain (`make toolchain`)")
    result = subprocess.run([BUILDX, "inspect", builder], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0 or "Status:           running" not in result.stdout:
        raise InputError(f"the buildx builder {builder!r} does not answer: start it (`make buildkit`)")


def check_registry(address: str) -> str:
    """A registry must answer the distribution API at ``address`` (host:port)."""
    problem = registry_problem(address)
    if problem:
        raise InputError(problem)
    return address


def parse_roles(text: str) -> list[str]:
    try:
        return [check_role(part.strip()) for part in text.split(",")]
    except ValueError as error:
        raise InputError(str(error)) from error


def published_bases(registry: str) -> dict[str, str]:
    """The builder and runtime bases as `make build-env` published them to ``registry``."""
    names = dict(line.split("=", 1) for line in BASES.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key: f"{registry}/{names[key]}" for key in ("BUILDER_IMAGE", "RUNTIME_IMAGE")}


def build(
    role: str,
    source: Path,
    name: str,
    revision: SourceRevision,
    arguments: dict[str, str],
    push: bool,
    builder: str = BUILDER,
    no_cache: bool = False,
    provenance: str | None = None,
) -> Built:
    """Builds ``role`` as ``name`` (`[registry/]repository/role`), loads it into the engine, pushes it if asked
    (with SLSA provenance naming ``provenance`` as its builder, when given)."""
    references = [f"{name}:{tag}" for tag in image_tags(revision, None)]
    log = ROOT / "build" / "images" / f"{role}.log"
    metadata = log.with_suffix(".json")
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [BUILDX, "build", "--builder", builder, "--progress=plain", "--platform", PLATFORM]
    if no_cache:
        command.append("--no-cache")
    command += ["-f", str(dockerfile_of(role)), "--metadata-file", str(metadata)]
    for key, value in arguments.items():
        command += ["--build-arg", f"{key}={value}"]
    for reference in references:
        command += ["-t", reference]
    # Every file time clamped to SOURCE_DATE_EPOCH, in the engine's copy and the pushed one alike.
    runs = [["--provenance=false", "--output", "type=docker,rewrite-timestamp=true"]]
    if push and provenance:
        # The pipeline pushes SLSA provenance with its images (an image index), which the engine's image store
        # cannot load: a second run, from the first one's cache, pushes that index.
        runs.append(
            [f"--provenance=mode=max,builder-id={provenance}", "--output", "type=registry,rewrite-timestamp=true"]
        )
    elif push:
        # `make images` and the provider's builds push the bare manifest, and keep reproducible digests.
        runs[0] += ["--output", "type=registry,rewrite-timestamp=true"]
    started = time.monotonic()
    with log.open("wb") as out:
        for outputs in runs:
            result = subprocess.run(
                [*command, *outputs, str(source)], stdout=out, stderr=subprocess.STDOUT, check=False
            )
            if result.returncode != 0:
                tail = log.read_text(errors="replace").splitlines()[-25:]
                raise SystemExit(f"images: building the {role} image failed; the end of {log}:\n" + "\n".join(tail))
    seconds = time.monotonic() - started
    inspected = json.loads(
        subprocess.run([DOCKER, "image", "inspect", references[0]], check=True, capture_output=True, text=True).stdout
    )[0]
    pushed = None
    if push:
        digest = json.loads(metadata.read_text())["containerimage.digest"]
        pushed = f"{name}@{digest}"
    return Built(role, references[0], inspected["Id"], int(inspected["Size"]), seconds, pushed)


def table(built: list[Built]) -> str:
    """Role, reference (digest-pinned once pushed), image ID, size, bar, the plan's baseline, the reduction,
    and the build time where one was measured."""
    timed = any(b.seconds is not None for b in built)
    rows = [("role", "image", "id", "size", "bar", "plan's baseline", "reduction") + (("build",) if timed else ())]
    for b in built:
        baseline = PLAN_BASELINE_MB[b.role]
        row = (
            b.role,
            b.pushed or b.reference,
            b.image_id.removeprefix("sha256:")[:12],
            f"{b.size_mb:.1f} MB",
            f"{SIZE_BAR_MB[b.role]} MB",
            f"{baseline} MB",
            f"{100 * (1 - b.size_mb / baseline):.0f}%",
        )
        rows.append(row + ((f"{b.seconds:.0f} s" if b.seconds is not None else "-",) if timed else ()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the Quarkus source tree")
    parser.add_argument("--roles", default=",".join(ROLES), help="roles to build, comma-separated")
    parser.add_argument("--repository", default="aurigraph", help="repository prefix of the images")
    parser.add_argument("--version", default=None, help="the images' version label (default: unreleased)")
    parser.add_argument(
        "--registry",
        metavar="HOST:PORT",
        default=os.environ.get("REGISTRY_ADDR"),
        help="the registry holding the bases (`make build-env`), and receiving the images with --push "
        "(default: $REGISTRY_ADDR, which make reads from the local stack)",
    )
    parser.add_argument("--push", action="store_true", help="push the images to the registry and print digests")
    parser.add_argument("--builder", default=BUILDER, help="the buildx builder (default: %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="build every step again (the Maven cache stays)")
    args = parser.parse_args(argv)
    try:
        roles = parse_roles(args.roles)
        source = check_source(args.source)
        check_engine()
        check_builder(args.builder)
        if not args.registry:
            raise InputError("no registry given: pass --registry HOST:PORT or set REGISTRY_ADDR")
        registry = check_registry(args.registry)
    except InputError as error:
        print(f"images: {error}", file=sys.stderr)
        return 2
    revision = SourceRevision.of(source)
    arguments = build_arguments(revision, args.version, published_bases(registry))
    name = f"{registry}/{args.repository}" if args.push else args.repository
    built = [
        build(role, source, f"{name}/{role}", revision, arguments, args.push, args.builder, args.no_cache)
        for role in roles
    ]
    print(f"\n== images (source {source}, revision {revision.short}) ==\n{table(built)}")
    over = [b.role for b in built if b.size_mb > SIZE_BAR_MB[b.role]]
    if over:
        print(f"images: over the size bar: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

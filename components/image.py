"""`NodeImage`: one node role's image, built from a Quarkus source tree by BuildKit and pushed.

Built with the docker-build provider (docs/design/0002-image-builds.md) from docker/Dockerfile.<role>, the
source tree as context, on a buildx builder with BuildKit 0.13 or newer (`make buildkit`). Tagged
`sha-<commit>`, `staging-<commit date>`, `vX.Y.Z` when a version is given, and `latest`; pushed to the
role's repository with timestamps clamped to the commit's time, so that one commit gives one image ID.
Exports the digest-pinned reference (what the workloads run), the digest, the tags, and the uncompressed
size and image ID measured from the pushed image itself (`ImageSize`), which the size-budget policy reads.

`tools/images.py` (`make images`) builds the same images without a Pulumi run, from the same tags and build
arguments defined here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from components.image_size import ImageSize
from components.registry import RELEASE_TAG_PREFIX, SHA_TAG_PREFIX, STAGING_TAG_PREFIX
from components.roles import check_role

DOCKER_DIR = Path(__file__).resolve().parent.parent / "docker"
SHORT_SHA_LENGTH = 12
PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class SourceRevision:
    """The commit a source tree is at: it names the image (`sha-` tag, labels) and dates it."""

    commit: str  # full hash, or "unknown" outside a git work tree
    dirty: bool  # the tree differs from the commit: its images must not take the commit's name
    epoch: int  # the commit's time (SOURCE_DATE_EPOCH overrides, as in reproducible-builds.org)
    url: str  # where the source lives, for the OCI source label

    @classmethod
    def of(cls, source: str | Path) -> SourceRevision:
        """The last commit that changed what the images are made of: the source tree, and the Dockerfiles and
        bases when the source lives in this project's repository (so a commit elsewhere, docs included, rebuilds
        nothing)."""

        def git(*args: str) -> str | None:
            result = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, check=False)
            return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None

        top = git("rev-parse", "--show-toplevel")
        paths = ["."]
        if top and DOCKER_DIR.is_relative_to(Path(top).resolve()):
            dockerfiles = os.path.relpath(DOCKER_DIR, Path(source).resolve())
            paths += [f":(glob){dockerfiles}/Dockerfile.*", f"{dockerfiles}/bases"]
        commit, _, epoch = (git("log", "-1", "--format=%H %ct", "--", *paths) or "unknown 0").partition(" ")
        return cls(
            commit=commit,
            dirty=bool(git("status", "--porcelain", "--", *paths)),
            epoch=int(os.environ.get("SOURCE_DATE_EPOCH") or epoch),
            url=git("config", "--get", "remote.origin.url") or "unknown",
        )

    @property
    def short(self) -> str:
        """The commit's short hash, marked `-dirty` for a tree with changes not committed."""
        return self.commit[:SHORT_SHA_LENGTH] + ("-dirty" if self.dirty else "")

    @property
    def date(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, UTC)


def image_tags(revision: SourceRevision, version: str | None) -> list[str]:
    """`sha-<commit>`, `staging-YYYY-MM-DD` (the commit's date), `vX.Y.Z` when released, `latest`."""
    tags = [f"{SHA_TAG_PREFIX}{revision.short}", f"{STAGING_TAG_PREFIX}{revision.date:%Y-%m-%d}"]
    if version:
        tags.append(f"{RELEASE_TAG_PREFIX}{version}")
    return [*tags, "latest"]


def build_arguments(
    revision: SourceRevision, version: str | None, bases: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """The Dockerfiles' build arguments: the commit's identity and time, the version, and base images
    (``BUILDER_IMAGE``, ``RUNTIME_IMAGE``) where given. SOURCE_DATE_EPOCH also tells BuildKit the image's
    creation time."""
    arguments = {
        "REVISION": revision.commit + ("-dirty" if revision.dirty else ""),
        "SOURCE_DATE_EPOCH": str(revision.epoch),
        "CREATED": revision.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "VERSION": version or "unreleased",
        "SOURCE": revision.url,
    }
    arguments.update({name: value for name, value in (bases or {}).items() if value})
    return arguments


def dockerfile_of(role: str) -> Path:
    return DOCKER_DIR / f"Dockerfile.{check_role(role)}"


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for a registry that needs them (ECR: user `AWS`, password an authorization token)."""

    address: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Input[str]


@dataclass(frozen=True)
class NodeImageArgs:
    role: str
    source: str  # the Quarkus source tree (the build context)
    repository: pulumi.Input[str]  # registry/path/role, without a tag
    revision: SourceRevision
    version: str | None = None
    bases: Mapping[str, str | None] = field(default_factory=dict)  # BUILDER_IMAGE, RUNTIME_IMAGE
    builder: str = "aurigraph"
    login: RegistryLogin | None = None


class NodeImage(pulumi.ComponentResource):
    """One role's image: a docker-build `Image` pushed to ``repository`` and an `ImageSize` measuring it.

    Outputs: ``ref`` (`repository@sha256:...`, what the workloads run), ``digest``, ``tags`` (full
    references), ``size_bytes`` (uncompressed, from the pushed image) and ``image_id``.
    """

    ref: pulumi.Output[str]
    digest: pulumi.Output[str]
    tags: pulumi.Output[list[str]]
    size_bytes: pulumi.Output[int]
    image_id: pulumi.Output[str]

    def __init__(self, name: str, args: NodeImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        role = check_role(args.role)
        super().__init__("aurigraph:index:NodeImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repository = pulumi.Output.from_input(args.repository)
        tags = repository.apply(lambda repo: [f"{repo}:{tag}" for tag in image_tags(args.revision, args.version)])
        registries = None
        if args.login is not None:
            registries = [
                docker_build.RegistryArgs(
                    address=args.login.address,
                    username=args.login.username,
                    password=pulumi.Output.secret(args.login.password),
                )
            ]
        image = docker_build.Image(
            name,
            context=docker_build.BuildContextArgs(location=args.source),
            dockerfile=docker_build.DockerfileArgs(location=str(dockerfile_of(role))),
            build_args=build_arguments(args.revision, args.version, args.bases),
            builder=docker_build.BuilderConfigArgs(name=args.builder),
            platforms=[docker_build.Platform.LINUX_AMD64],
            tags=tags,
            # One registry export with every file time clamped to SOURCE_DATE_EPOCH: the pushed image is a
            # function of the commit. `push` stays false so the provider adds no second, unclamped export.
            push=False,
            exports=[docker_build.ExportArgs(raw="type=registry,rewrite-timestamp=true")],
            registries=registries,
            # A preview does not build (a build takes minutes); `pulumi up` builds what changed.
            build_on_preview=False,
            opts=child,
        )
        self.digest = image.digest
        self.ref = pulumi.Output.all(repository, image.digest).apply(lambda parts: f"{parts[0]}@{parts[1]}")
        self.tags = tags
        size = ImageSize(
            name,
            reference=self.ref,
            username=args.login.username if args.login else None,
            password=args.login.password if args.login else None,
            opts=child,
        )
        self.size_bytes = size.size_bytes
        self.image_id = size.image_id
        self.register_outputs(
            {"ref": self.ref, "digest": self.digest, "tags": self.tags, "size_bytes": self.size_bytes}
        )

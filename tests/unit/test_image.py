"""NodeImage with Pulumi's mocks: what is built, how it is tagged and pushed, and what it exports; and the
commit facts (SourceRevision) that name and date an image, read from real git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pulumi
import pytest

from components.image import NodeImage, NodeImageArgs, RegistryLogin, SourceRevision, build_arguments, image_tags
from tests.unit.conftest import FAKE_DIGEST, RecordingMocks, is_secret

REVISION = SourceRevision(commit="0123456789abcdef0123456789abcdef01234567", dirty=False, epoch=1795737600, url="u")
REPOSITORY = "127.0.0.1:5000/aurigraph/validator"
BASES = {"BUILDER_IMAGE": "127.0.0.1:5000/aurigraph/builder:trixie-jdk25", "RUNTIME_IMAGE": None}


def node_image(version: str | None = None, login: RegistryLogin | None = None) -> NodeImage:
    args = NodeImageArgs(
        role="validator",
        source="/src/node",
        repository=REPOSITORY,
        revision=REVISION,
        version=version,
        bases=BASES,
        login=login,
    )
    return NodeImage("validator-image", args)


def test_tags_name_the_commit_its_date_the_release_and_latest() -> None:
    assert image_tags(REVISION, "1.4.0") == ["sha-0123456789ab", "staging-2026-11-27", "v1.4.0", "latest"]
    assert image_tags(REVISION, None) == ["sha-0123456789ab", "staging-2026-11-27", "latest"]


def test_a_tree_with_uncommitted_changes_never_takes_the_commits_name() -> None:
    dirty = SourceRevision(REVISION.commit, dirty=True, epoch=REVISION.epoch, url="u")
    assert image_tags(dirty, None)[0] == "sha-0123456789ab-dirty"
    assert build_arguments(dirty, None)["REVISION"] == REVISION.commit + "-dirty"


def test_build_arguments_carry_the_commit_time_and_only_the_bases_given() -> None:
    arguments = build_arguments(REVISION, "1.4.0", BASES)
    assert arguments["SOURCE_DATE_EPOCH"] == "1795737600"
    assert arguments["CREATED"] == "2026-11-27T00:00:00Z"
    assert arguments["VERSION"] == "1.4.0"
    assert arguments["BUILDER_IMAGE"] == BASES["BUILDER_IMAGE"]
    assert "RUNTIME_IMAGE" not in arguments, "an unset base keeps the Dockerfile's default"


@pulumi.runtime.test
def test_the_image_is_built_on_the_builder_and_pushed_once_with_clamped_times(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    image = node_image(version="1.4.0")

    def check(_: object) -> None:
        (built,) = mocks.of_type("docker-build:index:Image")
        inputs = built.inputs
        assert inputs["context"] == {"location": "/src/node"}
        assert inputs["dockerfile"]["location"].endswith("/docker/Dockerfile.validator")
        assert inputs["builder"] == {"name": "aurigraph"}
        assert inputs["platforms"] == ["linux/amd64"]
        assert inputs["tags"] == [
            f"{REPOSITORY}:sha-0123456789ab",
            f"{REPOSITORY}:staging-2026-11-27",
            f"{REPOSITORY}:v1.4.0",
            f"{REPOSITORY}:latest",
        ]
        # Exactly one export, to the registry, with times clamped; `push` would add a second, unclamped one.
        assert inputs["push"] is False
        assert inputs["exports"] == [{"raw": "type=registry,rewrite-timestamp=true"}]
        assert inputs["buildArgs"]["SOURCE_DATE_EPOCH"] == "1795737600"
        assert inputs["buildOnPreview"] is False
        assert "registries" not in inputs

    return image.ref.apply(check)


@pulumi.runtime.test
def test_it_exports_the_digest_pinned_reference_and_the_size_measured_from_it(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    image = node_image()

    def check(values: list[object]) -> None:
        ref, size, image_id = values
        assert ref == f"{REPOSITORY}@{FAKE_DIGEST}"
        (measured,) = mocks.of_type("pulumi-python:dynamic:Resource")
        assert measured.inputs["reference"] == ref
        assert (size, image_id) == (110_000_000, "sha256:" + "cd" * 32)

    return pulumi.Output.all(image.ref, image.size_bytes, image.image_id).apply(check)


@pulumi.runtime.test
def test_registry_credentials_reach_the_build_and_the_size_reader_as_secrets(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    login = RegistryLogin(address="123456789012.dkr.ecr.eu-west-1.amazonaws.com", username="AWS", password="token")
    image = node_image(login=login)

    def check(_: object) -> None:
        (built,) = mocks.of_type("docker-build:index:Image")
        registries = built.inputs["registries"]
        assert is_secret(registries), "the registry login must be a secret in state"
        (registry,) = registries["value"]
        assert (registry["address"], registry["username"]) == (login.address, "AWS")
        (measured,) = mocks.of_type("pulumi-python:dynamic:Resource")
        assert measured.inputs["username"] == "AWS"
        assert is_secret(measured.inputs["password"])

    return pulumi.Output.all(image.ref, image.size_bytes).apply(check)


def git(directory: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_DATE": "@1795737600 +0000", "GIT_COMMITTER_DATE": "@1795737600 +0000", "HOME": "/nonexistent"}
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    return subprocess.run(
        ["git", *identity, "-C", str(directory), *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "pom.xml").write_text("<project/>")
    (tmp_path / "other").write_text("x")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "node")
    return tmp_path


def test_the_revision_is_the_last_commit_that_changed_the_source(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    node_commit = git(repository, "rev-parse", "HEAD")
    (repository / "other").write_text("y")
    git(repository, "commit", "-q", "-am", "elsewhere")
    revision = SourceRevision.of(repository / "node")
    assert (revision.commit, revision.epoch, revision.dirty) == (node_commit, 1795737600, False)

    (repository / "node" / "pom.xml").write_text("<project><changed/></project>")
    assert SourceRevision.of(repository / "node").dirty


def test_source_date_epoch_overrides_the_commit_time(repository: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert SourceRevision.of(repository / "node").epoch == 1700000000


def test_a_tree_outside_git_is_unknown_at_time_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    revision = SourceRevision.of(tmp_path)
    assert (revision.commit, revision.epoch, revision.dirty) == ("unknown", 0, False)


def test_an_unknown_role_is_refused_before_anything_is_registered(mocks: RecordingMocks) -> None:
    args = NodeImageArgs(role="miner", source="/src/node", repository=REPOSITORY, revision=REVISION)
    with pytest.raises(ValueError, match=r"^unknown role 'miner': expected one of business, slim, validator$"):
        NodeImage("miner-image", args)
    assert mocks.of_type("docker-build:index:Image") == []

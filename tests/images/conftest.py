"""The node images, built for real on the Docker engine (make images-test starts one and makes the bases).

No engine or no bases is a failure here, never a skip: these tests are the proof that the images work.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from components.image import SourceRevision, build_arguments
from components.roles import ROLES
from tools import images

REPOSITORY = "aurigraph-test"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([images.DOCKER, *args], capture_output=True, text=True, check=check, timeout=timeout)


def docker_bytes(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """As ``docker``, for output that is not text (an exported filesystem)."""
    return subprocess.run([images.DOCKER, *args], capture_output=True, check=True, timeout=timeout)


def inspect(reference: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(docker("image", "inspect", reference).stdout)[0]
    return result


def registry() -> str:
    """The loopback registry `make images-test` started (the Makefile reads its address from the local stack)."""
    address = os.environ.get("REGISTRY_ADDR")
    if not address:
        pytest.fail("REGISTRY_ADDR is not set: run these tests through `make images-test` or `make test`")
    return images.check_registry(address)


@pytest.fixture(scope="session")
def built() -> dict[str, images.Built]:
    """The three images of the reference node at this commit, on the project's BuildKit, loaded into the
    engine and pushed to the loopback registry."""
    images.check_engine()
    images.check_builder(images.BUILDER)
    address = registry()
    revision = SourceRevision.of(images.DEFAULT_SOURCE)
    arguments = build_arguments(revision, "0.0.0-test", images.published_bases(address))
    return {
        role: images.build(
            role, images.DEFAULT_SOURCE, f"{address}/{REPOSITORY}/{role}", revision, arguments, push=True
        )
        for role in ROLES
    }


@pytest.fixture
def network() -> Iterator[str]:
    name = "aurigraph-test-net"
    docker("network", "rm", name, check=False)
    docker("network", "create", name)
    yield name
    containers = docker("ps", "-aq", "--filter", f"network={name}").stdout.split()
    if containers:
        docker("rm", "-f", *containers, check=False)
    docker("network", "rm", name, check=False)
    volumes = docker("volume", "ls", "-q", "--filter", "name=aurigraph-test-").stdout.split()
    if volumes:
        docker("volume", "rm", "-f", *volumes, check=False)

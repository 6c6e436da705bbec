"""Pulumi mocks for unit tests: resources are recorded, never created, and no CLI is needed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

# What the real providers would add to a resource's inputs: an image's digest, a measured size.
FAKE_DIGEST = "sha256:" + "ab" * 32
PROVIDER_OUTPUTS: dict[str, dict[str, Any]] = {
    "docker-build:index:Image": {"digest": FAKE_DIGEST},
    "pulumi-python:dynamic:Resource": {"size_bytes": 110_000_000, "image_id": "sha256:" + "cd" * 32},
}


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes every resource's inputs as its outputs and keeps them for the test to inspect."""

    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs) | PROVIDER_OUTPUTS.get(args.typ, {})

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [resource for resource in self.resources if resource.typ == typ]


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="aurigraph-infra", stack="local", preview=False)
    yield recording
    pulumi.runtime.set_all_config({})

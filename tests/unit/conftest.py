"""Pulumi mocks for unit tests: resources are recorded, never created, and no CLI is needed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.secrets import new_signing_key

# What the real providers would add to a resource's inputs: an image's digest, a measured size.
FAKE_DIGEST = "sha256:" + "ab" * 32
PROVIDER_OUTPUTS: dict[str, dict[str, Any]] = {"docker-build:index:Image": {"digest": FAKE_DIGEST}}
# Dynamic resources share one type; each output they would compute, by name.
TEST_KEY_PEM, TEST_PUBLIC_KEY = new_signing_key()
DYNAMIC_OUTPUTS: dict[str, Any] = {
    "size_bytes": 110_000_000,
    "image_id": "sha256:" + "cd" * 32,
    "private_key_pem": TEST_KEY_PEM,
    "public_key": TEST_PUBLIC_KEY,
    "result": "generated-in-a-test-0123456789abcdef",
}


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes every resource's inputs as its outputs and keeps them for the test to inspect."""

    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs) | PROVIDER_OUTPUTS.get(args.typ, {})
        if args.typ == "pulumi-python:dynamic:Resource":
            # Unset (None) properties are not sent; fill in what a provider computes (extra names are ignored).
            outputs |= {name: value for name, value in DYNAMIC_OUTPUTS.items() if outputs.get(name) is None}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [resource for resource in self.resources if resource.typ == typ]


def is_secret(value: object) -> bool:
    """Whether a recorded input is wrapped as a Pulumi secret (so the state holds it encrypted)."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="aurigraph-infra", stack="local", preview=False)
    yield recording
    pulumi.runtime.set_all_config({}, [])

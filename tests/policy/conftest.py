"""Running the pack's policies on objects as the CLI would hand them over: the provider's inputs (camelCase
Kubernetes objects), with each policy's config defaults applied unless a test sets them."""

from __future__ import annotations

import copy
import runpy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.pack import POLICIES
from tests.stack_files import SECRET_KEYS, raw_config
from tests.unit.conftest import RecordingMocks, mocks  # noqa: F401 (the fixture, shared)

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def policy(name: str) -> Policy:
    (found,) = [p for p in POLICIES if p.name == name]
    return found


def defaults(chosen: Policy) -> dict[str, Any]:
    schema = chosen.config_schema
    return {key: copy.deepcopy(value["default"]) for key, value in (schema.properties if schema else {}).items()}


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::aurigraph-infra::{resource_type}::{name}"


def violations(
    name: str, resources: Sequence[tuple[str, Mapping[str, Any]]], config: Mapping[str, Any] | None = None
) -> list[str]:
    """The messages policy ``name`` reports on ``resources`` ((type, props) pairs)."""
    chosen = policy(name)
    settings = defaults(chosen) | dict(config or {})
    found: list[str] = []

    def report(message: str, _urn: str | None = None) -> None:
        found.append(message)

    if isinstance(chosen, ResourceValidationPolicy):
        for index, (typ, props) in enumerate(resources):
            args = ResourceValidationArgs(typ, props, urn(typ, f"r{index}"), f"r{index}", OPTIONS, None, settings)
            assert chosen.validate is not None
            validators = chosen.validate if isinstance(chosen.validate, list) else [chosen.validate]
            for validate in validators:
                validate(args, report)
    else:
        assert isinstance(chosen, StackValidationPolicy)
        policy_resources = [
            PolicyResource(typ, props, urn(typ, f"r{index}"), f"r{index}", OPTIONS, None, None, [], {})
            for index, (typ, props) in enumerate(resources)
        ]
        assert chosen.validate is not None
        chosen.validate(StackValidationArgs(policy_resources, settings), report)
    return found


def run_program(stack: str) -> pulumi.Output[list[object]]:
    """Runs __main__.py with ``stack``'s committed config under mocks; resolves once every part is registered."""
    config = raw_config(stack)
    pulumi.runtime.set_all_config(config, [key for key in SECRET_KEYS if key in config])
    program = runpy.run_path(str(ROOT / "__main__.py"))
    return pulumi.Output.all(
        program["namespace"].name,
        program["network"].names,
        *[program[w].name for w in ("validators", "business", "slim")],
        program["monitoring"].dashboards,
    )

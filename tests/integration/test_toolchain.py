"""The language host's less-travelled paths, on a tiny throwaway project: Python dynamic providers (through
pulumi-resource-pulumi-python) and a Python policy pack (through the host's RunPlugin)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.integration.conftest import ROOT, cli_env

PROGRAM = """
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class Doubler(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="doubled", outs={"value": props["value"] * 2})


class Doubled(Resource):
    value: pulumi.Output[int]

    def __init__(self, name, value):
        super().__init__(Doubler(), name, {"value": value})


pulumi.export("doubled", Doubled("twenty-one", 21).value)
pulumi.export("secret", pulumi.Config().require_secret("token"))
"""

POLICY_PACK = """
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def no_dynamic_resources(args, report_violation):
    if args.resource_type == "pulumi-python:dynamic:Resource":
        report_violation("dynamic resource " + args.name + " is not allowed")


PolicyPack(
    name="toolchain-probe",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="no-dynamic", description="no dynamic resources",
                                       validate=no_dynamic_resources)],
)
"""


def runtime_yaml(venv: Path) -> str:
    return f"runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {venv}\n"


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> auto.Stack:
    project = tmp_path_factory.mktemp("probe")
    (project / "Pulumi.yaml").write_text("name: toolchain-probe\n" + runtime_yaml(ROOT / ".venv"))
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    env = cli_env(project / "state") | {"PULUMI_CONFIG_PASSPHRASE": "integration-test-only"}
    workspace = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env, secrets_provider="passphrase")
    stack = auto.create_or_select_stack("probe", work_dir=str(project), opts=workspace)
    stack.set_config("token", auto.ConfigValue("plain-text-never-stored", secret=True))
    return stack


@pytest.fixture(scope="module")
def policy_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack = tmp_path_factory.mktemp("policy-pack")
    (pack / "PulumiPolicy.yaml").write_text(runtime_yaml(ROOT / ".venv"))
    (pack / "__main__.py").write_text(textwrap.dedent(POLICY_PACK))
    return pack


def test_a_mandatory_policy_pack_run_by_the_language_host_blocks_the_preview(
    probe: auto.Stack, policy_pack: Path
) -> None:
    with pytest.raises(auto.CommandError) as failure:
        probe.preview(color="never", policy_packs=[str(policy_pack)])
    message = str(failure.value)
    assert "toolchain-probe" in message
    assert "dynamic resource twenty-one is not allowed" in message


def test_a_python_dynamic_provider_creates_its_resource(probe: auto.Stack) -> None:
    result = probe.up(color="never")
    assert result.outputs["doubled"].value == 42
    assert result.outputs["secret"].secret
    state = (Path(probe.workspace.work_dir) / "state").rglob("*.json")
    assert not any("plain-text-never-stored" in path.read_text() for path in state)
    probe.destroy(color="never")

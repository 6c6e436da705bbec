"""The policy pack run by the real CLI on a program that breaks each Kubernetes policy on purpose
(tests/policy/violations/): refused, naming every violated policy; an advisory violation reported without
blocking; a bad policy config refused with one message. (The pack on the real stacks: test_local_stack.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pulumi import automation as auto

from policies.pack import POLICIES
from tests.integration.conftest import POLICY_PACK, ROOT, cli_env

VIOLATIONS = ROOT / "tests" / "policy" / "violations"
# Every policy the program breaks: all of the pack's but the two on ECR repositories, which need the AWS provider
# (tests/policy/test_policies.py covers those).
BROKEN = [policy.name for policy in POLICIES if not policy.name.startswith("ecr-")]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> auto.Stack:
    work = tmp_path_factory.mktemp("violations")
    project = work / "program"
    shutil.copytree(VIOLATIONS, project, ignore=shutil.ignore_patterns("__pycache__", "Pulumi.*.yaml"))
    (project / "Pulumi.yaml").write_text(
        (project / "Pulumi.yaml").read_text().replace("../../../.venv", str(ROOT / ".venv"))
    )
    env = cli_env(work / "state") | {"PULUMI_CONFIG_PASSPHRASE": "integration-test-only"}
    workspace = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env, secrets_provider="passphrase")
    stack = auto.create_or_select_stack("violations", work_dir=str(project), opts=workspace)
    stack.set_config("renderDirectory", auto.ConfigValue(str(work / "rendered")))
    return stack


def pack_config(tmp_path: Path, config: dict[str, object]) -> str:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_every_policy_the_program_breaks_refuses_it_by_name(program: auto.Stack, tmp_path: Path) -> None:
    with pytest.raises(auto.CommandError) as refused:
        program.preview(color="never", policy_packs=[POLICY_PACK])
    message = str(refused.value)
    named = {name for name in BROKEN if f"[mandatory]  {name}  " in message}
    assert sorted(set(BROKEN) - named) == [], message[-4000:]
    assert "the business image is 999.0 MB, over its budget of 160 MB" in message
    assert "abc123" not in message, "a secret's value was echoed"
    assert not (Path(program.workspace.work_dir).parent / "rendered").exists(), "a refused preview wrote files"


def test_an_advisory_violation_is_reported_and_does_not_block(program: auto.Stack, tmp_path: Path) -> None:
    config = pack_config(tmp_path, {"all": "disabled", "read-only-root-filesystem": "advisory"})
    result = program.preview(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[config])
    assert result.change_summary == {"create": 6}
    assert "[advisory]  read-only-root-filesystem" in result.stdout
    assert "[mandatory]" not in result.stdout


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"image-size-budget": {"budgetsMb": {"business": 0, "slim": 130, "validator": 200}}}, "image-size-budget"),
        ({"image-size-budget": {"budgetsMb": {"business": 160}}}, "image-size-budget"),
        ({"autoscaler-bounds": {"minReplicasFloor": "two"}}, "autoscaler-bounds"),
        ({"read-only-root-filesystem": "sometimes"}, "sometimes"),
    ],
)
def test_a_bad_policy_config_is_refused_with_one_message_naming_the_policy(
    program: auto.Stack, tmp_path: Path, config: dict[str, object], expected: str
) -> None:
    with pytest.raises(auto.CommandError) as refused:
        program.preview(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[pack_config(tmp_path, config)])
    message = str(refused.value)
    assert expected in message, message[-3000:]
    assert "[mandatory]" not in message, "the policies ran despite a bad config"

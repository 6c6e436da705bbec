"""Reads stack config against the declarations in ``stack_config.schema``.

Every problem found (unknown key, missing key, wrong type, value out of range, inconsistent pair) is
collected, and one :class:`ConfigError` names each offending key and the stack file. The error is raised
before the program registers any resource, so a bad stack file changes nothing.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from pulumi.runtime.config import is_config_secret

from stack_config.schema import PROJECT, REQUIRED, StackConfig

T = TypeVar("T")
# Keys whose values are secrets: a stack file must hold them encrypted.
SECRET_KEYS = ("validatorKeys", "registryCredentials", "alertmanagerCredentials")


class ConfigError(pulumi.RunError):
    """Bad stack config. A ``pulumi.RunError`` so the CLI prints the message without a stack trace."""

    def __init__(self, stack_file: str, problems: list[str]) -> None:
        self.stack_file = stack_file
        self.problems = problems
        lines = "\n".join(f"  {PROJECT}:{problem}" for problem in problems)
        super().__init__(f"invalid stack config in {stack_file}:\n{lines}")


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def read_stack_file(project: Path, stack: str) -> dict[str, Any]:
    """A stack file's config in the raw form the language host hands the program: scalars as text, objects
    as JSON text (for tools that need a stack's config without running the program)."""
    document = yaml.safe_load((project / stack_file_name(stack)).read_text()) or {}
    return {
        name: json.dumps(value) if isinstance(value, dict | list) else str(value)
        for name, value in (document.get("config") or {}).items()
    }


def load(raw_config: Mapping[str, Any], stack: str) -> StackConfig:
    """Returns the typed config of ``stack`` from ``raw_config``, Pulumi's map of full key to raw value.

    Keys of other namespaces (``kubernetes:context``, ``pulumi:tags``) are not ours and are ignored.
    Raises :class:`ConfigError` listing every problem.
    """
    prefix = f"{PROJECT}:"
    ours = {name[len(prefix) :]: value for name, value in raw_config.items() if name.startswith(prefix)}
    problems: list[str] = []
    config = _read_section(StackConfig, ours, "", stack, problems)
    if problems or config is None:
        raise ConfigError(stack_file_name(stack), problems)
    return config


def defaults(cls: type[T]) -> T:
    """A section as a stack file that leaves all its keys out would have it."""
    problems: list[str] = []
    section = _read_section(cls, {}, "", "", problems)
    if section is None:
        raise ConfigError("(defaults)", problems)
    return section


def load_section(project: Path, stack: str, name: str, cls: type[T]) -> T:
    """One object key of a stack file, typed (for tools that need part of a stack's config: the rest may hold
    secrets only the CLI decrypts). Raises :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    raw = read_stack_file(project, stack).get(f"{PROJECT}:{name}", "{}")
    member = _as_object(raw, name, problems)
    section = None if member is None else _read_section(cls, member, f"{name}.", stack, problems)
    if problems or section is None:
        raise ConfigError(stack_file_name(stack), problems)
    return section


# Pulumi's Python program runner treats this exit code as "the error was already shown to the user" and
# adds no second, generic error of its own.
EXIT_CODE_ERROR_SHOWN = 32


def load_from_pulumi() -> StackConfig:
    """Loads the running stack's config (all keys, secrets decrypted) as the language host passed it.

    On bad config it logs the one :class:`ConfigError` message and ends the program before any resource is
    registered.
    """
    raw = dict(pulumi.runtime.config.get_config_env())
    raw.update(pulumi.runtime.config.CONFIG.get())
    try:
        config = load(raw, pulumi.get_stack())
        plain = [
            name for name in SECRET_KEYS if f"{PROJECT}:{name}" in raw and not is_config_secret(f"{PROJECT}:{name}")
        ]
        if plain:
            raise ConfigError(
                stack_file_name(pulumi.get_stack()),
                [f"{name}: holds secrets, so it must be set with `pulumi config set --secret`" for name in plain],
            )
        return config
    except ConfigError as error:
        pulumi.log.error(str(error))
        raise SystemExit(EXIT_CODE_ERROR_SHOWN) from error


def _read_section(cls: type[T], raw: Mapping[str, Any], path: str, stack: str, problems: list[str]) -> T | None:
    before = len(problems)
    values: dict[str, Any] = {}
    declared = {f.metadata["config_name"] for f in fields(cls)}  # type: ignore[arg-type]
    for unknown in sorted(set(raw) - declared):
        hint = difflib.get_close_matches(unknown, sorted(declared), n=1)
        also = f" (did you mean {path}{hint[0]}?)" if hint else f" (known keys here: {', '.join(sorted(declared))})"
        problems.append(f"{path}{unknown}: is not a known key{also}")
    for f in fields(cls):  # type: ignore[arg-type]
        name = f.metadata["config_name"]
        full = f"{path}{name}"
        if "section" in f.metadata:
            member = _as_object(raw.get(name, {}), full, problems)
            if member is not None:
                values[f.name] = _read_section(f.metadata["section"], member, f"{full}.", stack, problems)
            continue
        if name in raw:
            value = raw[name]
        elif f.metadata["default"] is REQUIRED:
            problems.append(f"{full}: is required but not set")
            continue
        else:
            value = f.metadata["default"]
            if isinstance(value, str):
                value = value.format(stack=stack)
        try:
            values[f.name] = f.metadata["kind"].parse(value)
        except ValueError as error:
            problems.append(f"{full}: {error}")
    if len(problems) > before:
        return None
    section = cls(**values)
    check = getattr(section, "problems", None)
    if check is not None:
        problems.extend(f"{path}{member}: {message}" for member, message in check())
    return section if len(problems) == before else None


def _as_object(raw: Any, path: str, problems: list[str]) -> Mapping[str, Any] | None:
    """Pulumi hands object-valued config to the program as JSON text; inside objects it is already parsed."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"{path}: expected an object (a map of keys), got a string")
            return None
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected an object (a map of keys), got {type(raw).__name__} {raw!r}")
        return None
    return raw

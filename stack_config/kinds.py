"""The value kinds a stack-config key can have.

A kind turns the raw value Pulumi hands the program into a typed, immutable Python value, or raises
:class:`ValueError` with a sentence that says what was expected. Raw values arrive as strings for
top-level keys (Pulumi passes scalar config as text) and as JSON scalars inside object keys, so every kind
accepts both spellings of the same value.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from components.monitoring import CREDENTIAL_FILES as ALERTMANAGER_CREDENTIAL_NAMES


@dataclass(frozen=True)
class Kind:
    """A named parser. ``name`` is what the reference table shows in its type column."""

    name: str
    parse: Callable[[Any], Any]


def _show(raw: Any) -> str:
    """Renders a rejected value for an error message without echoing long blobs."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(raw: Any, what: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"expected {what}, got {_show(raw)}")
    return str(raw)


def count(minimum: int, maximum: int) -> Kind:
    """An integer in ``[minimum, maximum]``."""
    what = f"an integer from {minimum} to {maximum}"

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"expected {what}, got {_show(raw)}")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
            value = int(raw)
        else:
            raise ValueError(f"expected {what}, got {_show(raw)}")
        if not minimum <= value <= maximum:
            raise ValueError(f"expected {what}, got {value}")
        return value

    return Kind(f"integer {minimum}..{maximum}", parse)


def one_of(*choices: str) -> Kind:
    """One string of a fixed set."""
    listed = ", ".join(f"`{c}`" for c in choices)

    def parse(raw: Any) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {_show(raw)}")
        return str(raw)

    return Kind(f"one of {listed}", parse)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _dns_label(raw: Any) -> str:
    text = _text(raw, "a DNS label")
    if not _DNS_LABEL.fullmatch(text):
        raise ValueError(
            f"expected a DNS label (lower-case letters, digits and '-', at most 63 characters), got {_show(raw)}"
        )
    return text


def _optional_dns_subdomain(raw: Any) -> str | None:
    if raw is None:
        return None
    text = _text(raw, "a DNS subdomain name")
    if not _DNS_SUBDOMAIN.fullmatch(text):
        raise ValueError(f"expected a DNS subdomain name (lower-case letters, digits, '-' and '.'), got {_show(raw)}")
    return text


def _optional_text(raw: Any) -> str | None:
    if raw is None:
        return None
    text = _text(raw, "a string")
    if not text.strip():
        raise ValueError("expected a non-empty string, got an empty one")
    return text


def _relative_path(raw: Any) -> str:
    text = _text(raw, "a relative path")
    path = PurePosixPath(text)
    if not text.strip() or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"expected a path inside the project (relative, without '..'), got {_show(raw)}")
    return text


_CPU = re.compile(r"(?P<milli>[0-9]+)m|(?P<cores>[0-9]+(\.[0-9]{1,3})?)")
_MEMORY = re.compile(r"(?P<number>[0-9]+)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?")
_MEMORY_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def cpu_millicores(quantity: str) -> int:
    """The CPU quantity ``quantity`` (``500m``, ``2``, ``1.5``) in millicores."""
    match = _CPU.fullmatch(quantity)
    if not match:
        raise ValueError(f"expected a CPU quantity such as 500m, 2 or 1.5, got {_show(quantity)}")
    if match["milli"] is not None:
        return int(match["milli"])
    try:
        return int(Decimal(match["cores"]) * 1000)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"expected a CPU quantity, got {_show(quantity)}") from error


def memory_bytes(quantity: str) -> int:
    """The memory quantity ``quantity`` (``512Mi``, ``4Gi``, ``1G``) in bytes."""
    match = _MEMORY.fullmatch(quantity)
    if not match:
        raise ValueError(f"expected a memory quantity such as 512Mi or 4Gi, got {_show(quantity)}")
    return int(match["number"]) * _MEMORY_FACTORS[match["unit"]]


def _positive(parse_units: Callable[[str], int], what: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = _text(raw, what)
        if parse_units(text) <= 0:
            raise ValueError(f"expected {what} above zero, got {_show(raw)}")
        return text

    return parse


def _labels(raw: Any) -> Mapping[str, str]:
    if isinstance(raw, str):  # a top-level map reaches the program as JSON text
        with contextlib.suppress(json.JSONDecodeError):
            raw = json.loads(raw)
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a map of label names to values, got {_show(raw)}")
    labels: dict[str, str] = {}
    for name, value in raw.items():
        # Kubernetes label rules: an optional DNS-subdomain prefix, then a name of at most 63 characters;
        # values at most 63 characters of the same alphabet (or empty).
        prefix, _, base = str(name).rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.fullmatch(prefix)) or not re.fullmatch(
            r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", base
        ):
            raise ValueError(f"label name {_show(name)} is not a valid Kubernetes label name")
        if not isinstance(value, str) or not re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?", value):
            raise ValueError(f"label {name!s} has value {_show(value)}, which is not a valid Kubernetes label value")
        if str(name).startswith(("app.kubernetes.io/", "pod-security.kubernetes.io/")):
            raise ValueError(f"label {name!s} is set by the program itself and cannot be overridden")
        labels[str(name)] = value
    return MappingProxyType(labels)


# A registry: host[:port] and an optional path ("127.0.0.1:5000", "registry.example.com/team").
_REGISTRY = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*")
# An image reference as the Docker CLI reads it: name[:tag][@sha256:digest].
_IMAGE = re.compile(
    r"([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?"
)
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?")


def _optional_matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def parse(raw: Any) -> str | None:
        if raw is None:
            return None
        text = _text(raw, what)
        if not pattern.fullmatch(text):
            raise ValueError(f"expected {what}, got {_show(raw)}")
        return text

    return parse


def _directory(raw: Any) -> str:
    text = _text(raw, "a directory path")
    if not text.strip():
        raise ValueError("expected a directory path, got an empty string")
    return text


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw in ("true", "false"):
        return bool(raw == "true")
    raise ValueError(f"expected true or false, got {_show(raw)}")


def _json_value(raw: Any) -> Any:
    """Top-level lists and maps reach the program as JSON text."""
    if isinstance(raw, str):
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(raw)
    return raw


_PINNED = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+@sha256:[0-9a-f]{64}")


def _image_references(raw: Any) -> Mapping[str, str]:
    raw = _json_value(raw)
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a map of role to image reference, got {_show(raw)}")
    references: dict[str, str] = {}
    for role, reference in raw.items():
        if role not in ("business", "slim", "validator"):
            raise ValueError(f"unknown role {role!r}: expected business, slim or validator")
        if not isinstance(reference, str) or not _PINNED.fullmatch(reference):
            raise ValueError(
                f"{role}: expected a reference pinned by digest (repository@sha256:...), got {_show(reference)}"
            )
        references[str(role)] = reference
    return MappingProxyType(references)


def _signing_keys(raw: Any) -> Mapping[str, str]:
    raw = _json_value(raw)
    if not isinstance(raw, Mapping):
        raise ValueError("expected a map of validator id to PKCS#8 PEM private key")
    keys: dict[str, str] = {}
    for validator, pem in raw.items():
        if not re.fullmatch(r"validator-[0-9]+", str(validator)):
            raise ValueError(f"expected validator ids such as validator-0, got {_show(validator)}")
        # Never echo the value: it is a private key.
        if not isinstance(pem, str) or "-----BEGIN PRIVATE KEY-----" not in pem:
            raise ValueError(f"{validator}: expected a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)")
        keys[str(validator)] = pem
    return MappingProxyType(keys)


def _registry_credentials(raw: Any) -> Mapping[str, str] | None:
    raw = _json_value(raw)
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"server", "username", "password"}:
        raise ValueError("expected a map with exactly server, username and password")
    if not all(isinstance(value, str) and value for value in raw.values()):
        raise ValueError("server, username and password must be non-empty strings")
    if not _REGISTRY.fullmatch(raw["server"]):
        raise ValueError(f"server: expected a registry such as registry.example.com, got {_show(raw['server'])}")
    return MappingProxyType(dict(raw))


def _alertmanager_credentials(raw: Any) -> Mapping[str, str]:
    raw = _json_value(raw)
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a map of credential name to value ({', '.join(ALERTMANAGER_CREDENTIAL_NAMES)})")
    for name, value in raw.items():
        if name not in ALERTMANAGER_CREDENTIAL_NAMES:
            raise ValueError(f"unknown credential {name!r}: expected {', '.join(ALERTMANAGER_CREDENTIAL_NAMES)}")
        # Never echo the value: it is a credential.
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name}: expected a non-empty string")
    return MappingProxyType(dict(raw))


def _non_empty_text(raw: Any) -> str:
    text = _text(raw, "a non-empty string")
    if not text.strip():
        raise ValueError("expected a non-empty string, got an empty one")
    return text


_EMAIL = re.compile(r"[^@\s]+@[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?")
_HOST_PORT = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}")
_URL = re.compile(r"https?://[^\s/?#]+(/[^\s]*)?")


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = _text(raw, what)
        if not pattern.fullmatch(text):
            raise ValueError(f"expected {what}, got {_show(raw)}")
        return text

    return parse


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda raw: None if raw is None else parse(raw)


_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


def _tolerations(raw: Any) -> tuple[Mapping[str, Any], ...]:
    raw = _json_value(raw)
    if not isinstance(raw, list | tuple):
        raise ValueError(f"expected a list of tolerations, got {_show(raw)}")
    tolerations = []
    for item in raw:
        if not isinstance(item, Mapping) or not set(item) <= _TOLERATION_KEYS:
            raise ValueError(
                f"expected each toleration to be a map of {', '.join(sorted(_TOLERATION_KEYS))}, got {_show(item)}"
            )
        if item.get("operator", "Equal") not in ("Equal", "Exists"):
            raise ValueError(f"toleration operator must be Equal or Exists, got {_show(item.get('operator'))}")
        if item.get("effect") not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(
                f"toleration effect must be NoSchedule, PreferNoSchedule or NoExecute, got {_show(item.get('effect'))}"
            )
        tolerations.append(MappingProxyType(dict(item)))
    return tuple(tolerations)


DNS_LABEL = Kind("DNS label", _dns_label)
OPTIONAL_NAME = Kind("string, optional", _optional(_non_empty_text))
OPTIONAL_EMAIL = Kind(
    "e-mail address, optional", _optional(_matching(_EMAIL, "an e-mail address such as ops@example.com"))
)
OPTIONAL_HOST_PORT = Kind(
    "host:port, optional", _optional(_matching(_HOST_PORT, "host:port, such as smtp.example.com:587"))
)
OPTIONAL_URL = Kind("http(s) URL, optional", _optional(_matching(_URL, "an http:// or https:// URL")))
OPTIONAL_BOOL = Kind("boolean, optional", _optional(_bool))
REQUIRED_VERSION = Kind("version", _matching(_VERSION, "a version such as 1.2.3"))
ALERTMANAGER_CREDENTIALS = Kind("map of credential name to value (secret)", _alertmanager_credentials)
BOOL = Kind("boolean", _bool)
REGISTRY_CREDENTIALS = Kind("map of server, username, password (secret), optional", _registry_credentials)
SIGNING_KEYS = Kind("map of validator id to PKCS#8 PEM private key (secret)", _signing_keys)
IMAGE_REFERENCES = Kind("map of role to digest-pinned image reference", _image_references)
TOLERATIONS = Kind("list of tolerations (key, operator, value, effect, tolerationSeconds)", _tolerations)
OPTIONAL_REGISTRY = Kind(
    "registry host[:port][/path], optional", _optional_matching(_REGISTRY, "a registry such as 127.0.0.1:5000")
)
OPTIONAL_IMAGE = Kind(
    "image reference, optional", _optional_matching(_IMAGE, "an image reference such as name:tag or name@sha256:...")
)
OPTIONAL_VERSION = Kind(
    "version X.Y.Z, optional", _optional_matching(_VERSION, "a version X.Y.Z (semantic versioning, no leading v)")
)
DIRECTORY = Kind("directory (absolute, or relative to the project)", _directory)
OPTIONAL_DNS_SUBDOMAIN = Kind("DNS subdomain name, optional", _optional_dns_subdomain)
OPTIONAL_TEXT = Kind("string, optional", _optional_text)
OPTIONAL_PATH = Kind("file path, optional", _optional_text)
RELATIVE_PATH = Kind("path relative to the project", _relative_path)
CPU = Kind("CPU quantity", _positive(cpu_millicores, "a CPU quantity such as 500m, 2 or 1.5"))
MEMORY = Kind("memory quantity", _positive(memory_bytes, "a memory quantity such as 512Mi or 4Gi"))
LABELS = Kind("map of label name to value", _labels)

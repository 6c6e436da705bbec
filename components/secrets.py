"""`NodeSecrets`: the validators' Ed25519 signing keys and the network's genesis that names them.

Each validator's key is made by `SigningKey`, a Python dynamic resource on the maintained `cryptography`
library (the tls and random providers cannot be built here; their resources would serve the same purpose in
a stack that can run them), or supplied from config secrets. Private keys live in one Kubernetes Secret
(`validator-signing-keys`, one `<id>.pem` per validator) that validators mount read-only as files; the public
keys go into the `genesis` ConfigMap, which each validator checks its key against at start. Private keys are
secret outputs, so the stack state holds them encrypted; nothing secret is in a ConfigMap, an env literal or a
log. `GeneratedPassword` makes passwords the same way for credentials the program owns.

Rotation (docs/deployment-guide.md): raise ``generation`` to replace every generated key; the Secret and the
genesis change together, and the changed genesis checksum rolls the validators.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from components.metadata import StackMetadata

SIGNING_KEYS_SECRET = "validator-signing-keys"
GENESIS_CONFIG_MAP = "genesis"
KEYS_DIR = "/etc/aurigraph/keys"
GENESIS_PATH = "/etc/aurigraph/genesis/genesis.json"


def new_signing_key() -> tuple[str, str]:
    """A fresh Ed25519 key: (private key as PKCS#8 PEM, public key as base64 SPKI DER)."""
    key = Ed25519PrivateKey.generate()
    return private_pem(key), public_der_b64(key)


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_der_b64(key: Ed25519PrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def public_key_of(pem: str) -> str:
    """The base64 SPKI DER public key of a PKCS#8 PEM Ed25519 private key; ValueError if it is not one."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return public_der_b64(key)


def fingerprint(public_key: str) -> str:
    """As the node shows it: the first 16 hex digits of the SHA-256 of the SPKI DER."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


class _SigningKeyProvider(pulumi.dynamic.ResourceProvider):
    """Makes a key on create; a new ``generation`` makes a new one (rotation)."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        private, public = new_signing_key()
        return pulumi.dynamic.CreateResult(
            id_=fingerprint(public), outs={**props, "private_key_pem": private, "public_key": public}
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = olds.get("generation") != news.get("generation")
        return pulumi.dynamic.DiffResult(changes=changed, replaces=["generation"] if changed else [])


class SigningKey(pulumi.dynamic.Resource):
    """One Ed25519 key. Outputs ``private_key_pem`` (secret) and ``public_key`` (base64 SPKI DER)."""

    private_key_pem: pulumi.Output[str]
    public_key: pulumi.Output[str]

    def __init__(self, name: str, generation: int, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"generation": generation, "private_key_pem": None, "public_key": None}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["private_key_pem"])
        super().__init__(_SigningKeyProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


ALPHABET = string.ascii_letters + string.digits


class _PasswordProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        password = "".join(secrets.choice(ALPHABET) for _ in range(int(props["length"])))
        return pulumi.dynamic.CreateResult(
            id_=hashlib.sha256(password.encode()).hexdigest()[:16], outs={**props, "result": password}
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("length", "generation") if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed)


class GeneratedPassword(pulumi.dynamic.Resource):
    """A random password of ``length`` letters and digits (from `secrets`), kept secret in state: ``result``."""

    result: pulumi.Output[str]

    def __init__(
        self, name: str, length: int = 32, generation: int = 1, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if length < 16:
            raise ValueError("a generated password has at least 16 characters")
        props = {"length": length, "generation": generation, "result": None}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["result"])
        super().__init__(_PasswordProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


@dataclass(frozen=True)
class NodeSecretsArgs:
    metadata: StackMetadata
    namespace: str
    network: str  # the network's name in the genesis
    validator_ids: list[str]
    generation: int = 1
    # Keys supplied from config secrets, by validator id (PKCS#8 PEM); the others are generated.
    supplied_keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # server, username, password of the registry the nodes pull from, where it needs credentials.
    registry_credentials: Mapping[str, str] | None = None
    # Keep each key in AWS Secrets Manager too (cloud stacks), under `aurigraph/<stack>/<validator>`.
    mirror_to_aws: bool = False
    kms_key_arn: str | None = None


class NodeSecrets(pulumi.ComponentResource):
    """The signing keys' Secret and the genesis ConfigMap (see the module's docstring).

    Outputs: ``keys_secret`` and ``genesis_config_map`` (names to mount), ``genesis`` (the genesis document as
    JSON text, public), ``fingerprints`` (by validator id).
    """

    keys_secret: pulumi.Output[str]
    genesis_config_map: pulumi.Output[str]
    pull_secret: pulumi.Output[str] | None
    genesis: pulumi.Output[str]
    fingerprints: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: NodeSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        unknown = sorted(set(args.supplied_keys) - set(args.validator_ids))
        if unknown:
            raise ValueError(f"keys supplied for validators that do not exist: {', '.join(unknown)}")
        super().__init__("aurigraph:secrets:NodeSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        private: dict[str, pulumi.Output[str]] = {}
        public: dict[str, pulumi.Output[str]] = {}
        for validator in args.validator_ids:
            if validator in args.supplied_keys:
                pem = pulumi.Output.secret(args.supplied_keys[validator])
                private[validator] = pem
                public[validator] = pem.apply(public_key_of)
                # The public half is not secret; unwrap it so the genesis can be a plain ConfigMap.
                public[validator] = pulumi.Output.unsecret(public[validator])
            else:
                key = SigningKey(f"{name}-{validator}", generation=args.generation, opts=child)
                private[validator] = key.private_key_pem
                public[validator] = key.public_key
        labels = args.metadata.labels(component="validator")
        secret = k8s.core.v1.Secret(
            f"{name}-signing-keys",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SIGNING_KEYS_SECRET, namespace=args.namespace, labels=labels),
            type="Opaque",
            string_data={f"{validator}.pem": pem for validator, pem in private.items()},
            opts=child,
        )
        document = pulumi.Output.all(**public).apply(
            lambda keys: json.dumps({"network": args.network, "validators": dict(sorted(keys.items()))}, indent=2)
        )
        genesis = k8s.core.v1.ConfigMap(
            f"{name}-genesis",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GENESIS_CONFIG_MAP, namespace=args.namespace, labels=labels),
            data={"genesis.json": document},
            opts=child,
        )
        self.keys_secret = secret.metadata.name
        self.genesis_config_map = genesis.metadata.name
        self.pull_secret = None
        if args.registry_credentials is not None:
            made = pull_secret(name, args.namespace, args.registry_credentials, labels, child)
            self.pull_secret = made.metadata.name
        mirrored: list[pulumi.Output[str]] = []
        if args.mirror_to_aws:
            mirrored = mirror_to_secrets_manager(name, args, private, child)
        # Known once the Secret and the ConfigMap exist, so that what depends on them waits for both.
        self.genesis = pulumi.Output.all(secret.metadata.name, genesis.metadata.name, document).apply(
            lambda v: str(v[2])
        )
        # Known once every part exists, the Secrets Manager copies included.
        self.fingerprints = pulumi.Output.all(self.genesis, pulumi.Output.all(**public), *mirrored).apply(
            lambda values: {validator: fingerprint(key) for validator, key in values[1].items()}
        )
        self.register_outputs(
            {
                "keysSecret": self.keys_secret,
                "genesisConfigMap": self.genesis_config_map,
                "fingerprints": self.fingerprints,
            }
        )


def docker_config(credentials: Mapping[str, str]) -> str:
    """A `.dockerconfigjson` document for one registry."""
    auth = base64.b64encode(f"{credentials['username']}:{credentials['password']}".encode()).decode()
    entry = {"username": credentials["username"], "password": credentials["password"], "auth": auth}
    return json.dumps({"auths": {credentials["server"]: entry}})


def pull_secret(
    name: str, namespace: str, credentials: Mapping[str, str], labels: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """The registry credentials as a pull Secret, secret in state like the keys."""
    return k8s.core.v1.Secret(
        f"{name}-registry-credentials",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="registry-credentials", namespace=namespace, labels=labels),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": pulumi.Output.secret(docker_config(credentials))},
        opts=opts,
    )


def mirror_to_secrets_manager(
    name: str, args: NodeSecretsArgs, private: Mapping[str, pulumi.Output[str]], opts: pulumi.ResourceOptions
) -> list[pulumi.Output[str]]:
    """Each private key as a Secrets Manager secret: the copy an operator restores a lost Secret from."""
    tags = {key.replace("/", "-"): value for key, value in args.metadata.labels("validator").items()}
    versions: list[pulumi.Output[str]] = []
    for validator, pem in private.items():
        stored = aws.secretsmanager.Secret(
            f"{name}-{validator}-mirror",
            name=f"aurigraph/{args.metadata.stack}/{validator}",
            description=f"Ed25519 signing key of {validator} (network {args.network})",
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=30,
            tags=tags,
            opts=opts,
        )
        version = aws.secretsmanager.SecretVersion(
            f"{name}-{validator}-mirror-value", secret_id=stored.id, secret_string=pem, opts=opts
        )
        versions.append(version.id)
    return versions

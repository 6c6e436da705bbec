"""The size of a pushed image, read from the image itself in its registry: `ImageSize`, a dynamic resource.

No provider reports an image's uncompressed size (the docker-build provider gives digests, ECR gives the
compressed size), yet the size bars and the size-budget policy are about what a node unpacks. So this reads
the manifest of a digest-pinned reference through the registry API (Docker Registry HTTP API v2 / OCI
distribution), streams every layer through gunzip and tar, and adds up the sizes of what each layer holds:
regular files' bytes and symbolic links' targets, as `du --apparent-size` counts them. The Docker engine's
figure for the same image agrees to a few hundred bytes (it counts links in some layers and not in others,
depending on how the layer reached it). Shared layers are read once per call.

Registries on loopback are spoken to over plain HTTP (as the Docker engine does); any other over HTTPS, with
the bearer-token or basic authentication the registry asks for (ECR: user `AWS` and an authorization token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import IO, Any

import pulumi
import pulumi.dynamic

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
REFERENCE = re.compile(
    r"(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?)/(?P<repository>[a-z0-9._/-]+)(?::[\w.-]+)?@(?P<digest>sha256:[0-9a-f]{64})"
)


def scheme_of(host: str) -> str:
    """Plain HTTP on loopback, as the Docker engine and BuildKit allow; HTTPS anywhere else."""
    return "http" if host.rsplit(":", 1)[0] in LOOPBACK_HOSTS else "https"


class RegistryError(Exception):
    """The registry refused or could not be reached: the message says which image and why."""


@dataclass(frozen=True)
class PinnedReference:
    host: str
    repository: str
    digest: str

    @classmethod
    def parse(cls, reference: str) -> PinnedReference:
        match = REFERENCE.fullmatch(reference)
        if not match:
            raise RegistryError(f"{reference!r} is not a digest-pinned reference (host/repository@sha256:...)")
        return cls(match["host"], match["repository"], match["digest"])

    @property
    def base_url(self) -> str:
        return f"{scheme_of(self.host)}://{self.host}/v2/{self.repository}"


@dataclass(frozen=True)
class SizeReport:
    size_bytes: int  # files' and links' bytes over all layers: the uncompressed size
    compressed_bytes: int  # the layers as stored and pulled
    layers: int
    config_digest: str  # the image ID


def registry_problem(address: str) -> str | None:
    """Why no registry answers at ``address`` (host[:port][/path]), or None when one does. A 401 answers: the
    registry is there and wants credentials."""
    host = address.split("/", 1)[0]
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", host):
        return f"registry {address!r} is not host[:port]"
    scheme = scheme_of(host)
    try:
        with urllib.request.urlopen(f"{scheme}://{host}/v2/", timeout=5):
            return None
    except urllib.error.HTTPError as error:
        return None if error.code == 401 else f"registry {host} answered {error.code} at /v2/: not a registry"
    except OSError as error:
        hint = ": start it (`make registry`)" if scheme == "http" else ""
        return f"registry {host} is unreachable ({getattr(error, 'reason', error)}){hint}"


class _DropAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """ECR answers blob requests with a redirect to storage that refuses a second Authorization header."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


class RegistryReader:
    """Reads manifests and blobs of one repository, authenticating as the registry asks."""

    def __init__(self, ref: PinnedReference, username: str | None = None, password: str | None = None) -> None:
        self.ref = ref
        self.basic = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode() if username and password else None
        )
        self.authorization: str | None = None
        self.opener = urllib.request.build_opener(_DropAuthOnRedirect)

    def _open(self, url: str, accept: str | None = None, retried: bool = False) -> IO[bytes]:
        request = urllib.request.Request(url)
        if accept:
            request.add_header("Accept", accept)
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        try:
            response: IO[bytes] = self.opener.open(request, timeout=60)
            return response
        except urllib.error.HTTPError as error:
            if error.code == 401 and not retried:
                self.authorization = self._authenticate(error.headers.get("WWW-Authenticate", ""))
                return self._open(url, accept, retried=True)
            raise RegistryError(f"{url}: the registry answered {error.code} {error.reason}") from error
        except OSError as error:
            raise RegistryError(f"{url}: the registry is unreachable ({error})") from error

    def _authenticate(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.basic:
                raise RegistryError(f"{self.ref.host} wants credentials and none were given")
            return self.basic
        if scheme.lower() != "bearer":
            raise RegistryError(f"{self.ref.host} asks for unsupported authentication {challenge!r}")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        query = {key: fields[key] for key in ("service", "scope") if key in fields}
        query.setdefault("scope", f"repository:{self.ref.repository}:pull")
        request = urllib.request.Request(f"{fields.get('realm', '')}?{urllib.parse.urlencode(query)}")
        if self.basic:
            request.add_header("Authorization", self.basic)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                token = json.load(response)
        except (OSError, ValueError) as error:
            raise RegistryError(f"{self.ref.host}: getting a pull token failed ({error})") from error
        return "Bearer " + (token.get("token") or token.get("access_token") or "")

    def manifest(self, digest: str) -> dict[str, Any]:
        with self._open(f"{self.ref.base_url}/manifests/{digest}", ", ".join(MANIFEST_TYPES)) as response:
            body = response.read()
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError(
                f"{self.ref.host}/{self.ref.repository}@{digest}: the manifest does not match its digest"
            )
        manifest: dict[str, Any] = json.loads(body)
        return manifest

    def blob(self, digest: str) -> IO[bytes]:
        return self._open(f"{self.ref.base_url}/blobs/{digest}")


def _image_manifest(reader: RegistryReader, digest: str, platform: str) -> dict[str, Any]:
    manifest = reader.manifest(digest)
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        os_name, arch = platform.split("/", 1)
        for entry in manifest.get("manifests", []):
            wanted = entry.get("platform", {})
            if wanted.get("os") == os_name and wanted.get("architecture") == arch:
                return _image_manifest(reader, entry["digest"], platform)
        raise RegistryError(f"{reader.ref.repository}@{digest} has no {platform} image")
    return manifest


def _apparent_bytes(stream: IO[bytes]) -> int:
    total = 0
    with tarfile.open(fileobj=stream, mode="r|*") as layer:
        for member in layer:
            if member.isreg():
                total += member.size
            elif member.issym():
                total += len(member.linkname.encode())
    return total


def read_image_size(
    reference: str, username: str | None = None, password: str | None = None, platform: str = "linux/amd64"
) -> SizeReport:
    """Reads the image behind the digest-pinned ``reference`` from its registry and measures it."""
    ref = PinnedReference.parse(reference)
    reader = RegistryReader(ref, username, password)
    manifest = _image_manifest(reader, ref.digest, platform)
    layers = manifest.get("layers", [])
    measured: dict[str, int] = {}
    for layer in layers:
        if layer["digest"] not in measured:
            with reader.blob(layer["digest"]) as stream:
                measured[layer["digest"]] = _apparent_bytes(stream)
    return SizeReport(
        size_bytes=sum(measured[layer["digest"]] for layer in layers),
        compressed_bytes=sum(int(layer.get("size", 0)) for layer in layers),
        layers=len(layers),
        config_digest=manifest["config"]["digest"],
    )


class _ImageSizeProvider(pulumi.dynamic.ResourceProvider):
    """Measures on create; a new reference is a new image, so it replaces."""

    def _measure(self, props: dict[str, Any]) -> dict[str, Any]:
        try:
            report = read_image_size(props["reference"], props.get("username"), props.get("password"))
        except RegistryError as error:
            raise RegistryError(f"measuring {props['reference']}: {error}") from error
        return {
            **props,
            "size_bytes": report.size_bytes,
            "compressed_bytes": report.compressed_bytes,
            "layers": report.layers,
            "image_id": report.config_digest,
        }

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._measure(props)
        return pulumi.dynamic.CreateResult(id_=outs["image_id"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("reference", "username") if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


class ImageSize(pulumi.dynamic.Resource):
    """The uncompressed size of the image at a digest-pinned reference, measured from its registry.

    Exports ``size_bytes`` (files and links over all layers, uncompressed), ``compressed_bytes``, ``layers`` and
    ``image_id`` (the config digest). Credentials, when the registry needs them, are kept secret in state.
    """

    size_bytes: pulumi.Output[int]
    compressed_bytes: pulumi.Output[int]
    layers: pulumi.Output[int]
    image_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        reference: pulumi.Input[str],
        username: pulumi.Input[str] | None = None,
        password: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "reference": reference,
            "username": username,
            "password": pulumi.Output.secret(password) if password is not None else None,
            "size_bytes": None,
            "compressed_bytes": None,
            "layers": None,
            "image_id": None,
        }
        super().__init__(
            _ImageSizeProvider(),
            name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"])),
        )

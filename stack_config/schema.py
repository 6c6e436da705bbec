"""The declaration of every stack-config key the program reads.

Each key is a dataclass field whose metadata (made by :func:`key`) gives its config name, its type, its
default and a description. The loader (``stack_config.loader``) reads values against these declarations,
``tools/gen_config_reference.py`` renders ``docs/reference/config.md`` from them, and ``__main__.py``
receives the typed, frozen result. Nothing else declares a key, so the three cannot drift apart.

Keys live under the project's namespace (``aurigraph-infra:``). Top-level fields of :class:`StackConfig`
are top-level keys; a field whose type is itself a dataclass is an object key whose members are declared
the same way, e.g. ``aurigraph-infra:validators`` with its member ``replicas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.monitoring import CREDENTIAL_FILES as ALERTMANAGER_CREDENTIAL_NAMES
from stack_config import kinds
from stack_config.kinds import Kind
from stack_config.sources import quarkus_source_problem

PROJECT = "aurigraph-infra"

# How long `up` waits for a node workload's rollout unless the stack says otherwise (kubernetes.rolloutTimeoutSeconds).
ROLLOUT_TIMEOUT_SECONDS = 600

REQUIRED: Any = object()
"""Marks a key with no default: the stack file must set it."""


def key(config_name: str, kind: Kind, description: str, default: Any = REQUIRED) -> Any:
    """Declares a config key as a dataclass field.

    ``default`` is the value used when the stack file leaves the key out; it is checked against ``kind``
    like any value read from a stack file. Mutable defaults are not allowed: every kind returns an immutable
    value (tuples, frozen mappings).
    """
    metadata = {"config_name": config_name, "kind": kind, "description": description, "default": default}
    return field(metadata=metadata)


def section(config_name: str, cls: type, description: str) -> Any:
    """Declares an object key whose members are the fields of the dataclass ``cls``."""
    metadata = {"config_name": config_name, "section": cls, "description": description}
    return field(metadata=metadata)


@dataclass(frozen=True)
class KubernetesTarget:
    """Where the Kubernetes objects go: a cluster, or YAML files in a directory."""

    kubeconfig: str | None = key(
        "kubeconfig",
        kinds.OPTIONAL_PATH,
        "Path to a kubeconfig file. When set, objects are applied to that cluster; when unset, they are "
        "rendered as YAML into `renderDirectory` and no cluster is contacted.",
        default=None,
    )
    context: str | None = key(
        "context",
        kinds.OPTIONAL_TEXT,
        "Context to use from the kubeconfig (its current context when unset). Only read with `kubeconfig`.",
        default=None,
    )
    render_directory: str = key(
        "renderDirectory",
        kinds.RELATIVE_PATH,
        "Directory, relative to the project, that receives rendered manifests when no kubeconfig is set. "
        "It holds Secret manifests in plain text: keep it out of version control (`build/` is ignored).",
        default="build/manifests/{stack}",
    )
    rollout_timeout_seconds: int = key(
        "rolloutTimeoutSeconds",
        kinds.count(30, 3600),
        "How long `up` waits for a node workload's update: every pod ready on the new template. It must cover the "
        "slowest one, the validators replaced one at a time (replicas times a validator's start and catch-up). "
        "A release that never becomes ready is then a failed `up`, which the pipeline rolls back to the last "
        "verified digests. Creation, which also waits for volumes and first image pulls, keeps the provider's "
        "10 minutes. Only read with `kubeconfig` (rendered stacks are not awaited).",
        default=ROLLOUT_TIMEOUT_SECONDS,
    )


@dataclass(frozen=True)
class NodeResources:
    """Requests and limits of one node container. Requests are what the scheduler reserves; limits are
    the ceiling the kubelet enforces (CPU is throttled, memory over the limit is OOM-killed)."""

    cpu_request: str = key("cpuRequest", kinds.CPU, "CPU reserved for each pod (Kubernetes quantity).")
    cpu_limit: str = key("cpuLimit", kinds.CPU, "CPU ceiling of each pod (Kubernetes quantity).")
    memory_request: str = key("memoryRequest", kinds.MEMORY, "Memory reserved for each pod (quantity).")
    memory_limit: str = key("memoryLimit", kinds.MEMORY, "Memory ceiling of each pod (quantity).")

    def problems(self) -> list[tuple[str, str]]:
        """A request above its limit is rejected by the API server; catch it before anything is sent."""
        found = []
        if kinds.cpu_millicores(self.cpu_request) > kinds.cpu_millicores(self.cpu_limit):
            found.append(("cpuRequest", f"{self.cpu_request} is above cpuLimit {self.cpu_limit}"))
        if kinds.memory_bytes(self.memory_request) > kinds.memory_bytes(self.memory_limit):
            found.append(("memoryRequest", f"{self.memory_request} is above memoryLimit {self.memory_limit}"))
        return found


@dataclass(frozen=True)
class ValidatorSettings:
    """The validator StatefulSet: the Raft group that orders and finalizes transactions."""

    replicas: int = key(
        "replicas",
        kinds.count(minimum=1, maximum=15),
        "Number of validators. Raft needs a majority, so 2f+1 validators survive f failures; 4 keeps "
        "quorum (3) through one failure or one rolling update.",
        default=4,
    )
    resources: NodeResources = section("resources", NodeResources, "Requests and limits per validator.")
    storage_gib: int = key(
        "storageGib",
        kinds.count(minimum=1, maximum=65536),
        "Size of each validator's volume (Raft log, state, snapshots) in GiB.",
        default=100,
    )
    storage_class: str | None = key(
        "storageClass",
        kinds.OPTIONAL_DNS_SUBDOMAIN,
        "StorageClass of the validator volumes (the cluster default when unset).",
        default=None,
    )
    partition: int = key(
        "partition",
        kinds.count(minimum=0, maximum=15),
        "Rolling-update partition: only validators with an ordinal at or above it take a new pod template. "
        "Lower it one step at a time to upgrade one validator at a time (docs/deployment-guide.md); 0 "
        "updates all.",
        default=0,
    )
    termination_grace_seconds: int = key(
        "terminationGraceSeconds",
        kinds.count(minimum=10, maximum=3600),
        "How long a stopping validator may take: long enough to hand Raft leadership over and flush its log.",
        default=60,
    )

    key_generation: int = key(
        "keyGeneration",
        kinds.count(minimum=1, maximum=1_000_000),
        "Generation of the validators' generated signing keys: raise it by one to rotate them all "
        "(docs/deployment-guide.md).",
        default=1,
    )

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.replicas == 2:
            found.append(
                (
                    "replicas",
                    "2 validators need both for a quorum, so losing either stops the ledger: use 1 (one "
                    "development node) or 3 or more",
                )
            )
        if self.partition > self.replicas:
            found.append(("partition", f"{self.partition} is above replicas {self.replicas}"))
        return found


@dataclass(frozen=True)
class BusinessSettings:
    """The business-node Deployment: the REST/gRPC entry point for transactions."""

    replicas_min: int = key(
        "replicasMin",
        kinds.count(minimum=1, maximum=1000),
        "Fewest business pods; the autoscaler's floor.",
        default=6,
    )
    replicas_max: int = key(
        "replicasMax",
        kinds.count(minimum=1, maximum=1000),
        "Most business pods; the autoscaler's ceiling. Must be at least `replicasMin`.",
        default=20,
    )
    resources: NodeResources = section("resources", NodeResources, "Requests and limits per business pod.")
    service_type: str = key(
        "serviceType",
        kinds.one_of("LoadBalancer", "NodePort", "ClusterIP"),
        "Type of the clients' Service (80 and 443 to 9003, and 9004 gRPC). A cloud load balancer by default; "
        "`NodePort` or `ClusterIP` where the cluster has none.",
        default="LoadBalancer",
    )
    tls_certificate_arn: str | None = key(
        "tlsCertificateArn",
        kinds.OPTIONAL_TEXT,
        "ACM certificate the AWS load balancer terminates TLS on 443 with. Unset: 443 is passed through.",
        default=None,
    )

    def problems(self) -> list[tuple[str, str]]:
        if self.replicas_min > self.replicas_max:
            return [("replicasMin", f"{self.replicas_min} is above replicasMax {self.replicas_max}")]
        return []


@dataclass(frozen=True)
class SlimSettings:
    """The slim-node DaemonSet: one read-only follower per Kubernetes node."""

    resources: NodeResources = section("resources", NodeResources, "Requests and limits per slim pod.")
    tolerations: tuple[Any, ...] = key(
        "tolerations",
        kinds.TOLERATIONS,
        "Tolerations of the slim pods, so that one runs on tainted nodes too (a list of Kubernetes tolerations).",
        default=(),
    )


@dataclass(frozen=True)
class NetworkSettings:
    """Who may talk to the nodes: NetworkPolicies (always) and an optional Istio mesh configuration."""

    istio: bool = key(
        "istio",
        kinds.BOOL,
        "Add an Istio VirtualService and DestinationRule (retries, outlier detection) for the business "
        "nodes. Needs Istio's CRDs in the cluster.",
        default=False,
    )


@dataclass(frozen=True)
class AlertingSettings:
    """Where Alertmanager sends notifications. The routes, receivers and inhibitions are
    monitoring/alertmanager.yaml's, and so is each address left unset here (a placeholder under `.invalid`, which
    delivers nothing); these are the addresses an operator's organisation owns. The credentials are the secret
    `alertmanagerCredentials`."""

    slack_channel: str | None = key("slackChannel", kinds.OPTIONAL_NAME, "Slack channel of every notification.", None)
    email_to: str | None = key("emailTo", kinds.OPTIONAL_EMAIL, "Address warnings are mailed to.", None)
    email_from: str | None = key("emailFrom", kinds.OPTIONAL_EMAIL, "Sender of those mails.", None)
    smtp_smarthost: str | None = key("smtpSmarthost", kinds.OPTIONAL_HOST_PORT, "Mail server, host:port.", None)
    smtp_username: str | None = key("smtpUsername", kinds.OPTIONAL_NAME, "User name at the mail server.", None)
    smtp_require_tls: bool | None = key(
        "smtpRequireTls", kinds.OPTIONAL_BOOL, "Send mail only over STARTTLS (`true` in alertmanager.yaml).", None
    )
    sms_webhook_url: str | None = key(
        "smsWebhookUrl",
        kinds.OPTIONAL_URL,
        "The SMS gateway critical alerts are posted to (Alertmanager's webhook format, bearer token `sms-token`).",
        None,
    )
    pagerduty_url: str | None = key(
        "pagerdutyUrl", kinds.OPTIONAL_URL, "PagerDuty's Events API v2 endpoint (PagerDuty's own when unset).", None
    )


@dataclass(frozen=True)
class MonitoringSettings:
    """What watches the network (components/monitoring.py): the rules, ServiceMonitors and dashboards of
    `monitoring/`, and, unless the cluster already runs one, kube-prometheus-stack to run them."""

    enabled: bool = key(
        "enabled",
        kinds.BOOL,
        "Deploy the alerting and recording rules (a PrometheusRule), a ServiceMonitor per role and the "
        "dashboards. Needs the Prometheus Operator's CRDs in the cluster.",
        default=True,
    )
    namespace: str = key(
        "namespace",
        kinds.DNS_LABEL,
        "Namespace of Prometheus, Alertmanager and Grafana. Only Prometheus pods of this namespace may reach the "
        "nodes' metrics port (the NetworkPolicies).",
        default="monitoring",
    )
    install_stack: bool = key(
        "installStack",
        kinds.BOOL,
        "Install kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana) from its Helm "
        "chart. `false` where the cluster already runs a Prometheus Operator that selects every rule and monitor.",
        default=True,
    )
    chart_version: str = key(
        "chartVersion", kinds.REQUIRED_VERSION, "Release of the kube-prometheus-stack chart.", default="81.6.2"
    )
    chart_archive: str | None = key(
        "chartArchive",
        kinds.OPTIONAL_PATH,
        "A local archive (.tgz) of that chart, for clusters installed without access to the public chart "
        "repository. Unset: the chart is fetched from the repository at `chartVersion`.",
        default=None,
    )
    retention_days: int = key(
        "retentionDays", kinds.count(minimum=1, maximum=3650), "How long Prometheus keeps samples.", default=15
    )
    storage_gib: int = key(
        "storageGib", kinds.count(minimum=1, maximum=65536), "Size of Prometheus' volume in GiB.", default=50
    )
    storage_class: str | None = key(
        "storageClass",
        kinds.OPTIONAL_DNS_SUBDOMAIN,
        "StorageClass of Prometheus' volume (the cluster default when unset).",
        default=None,
    )
    alerting: AlertingSettings = section("alerting", AlertingSettings, "Notification addresses.")

    def problems(self) -> list[tuple[str, str]]:
        if self.install_stack and not self.enabled:
            return [("installStack", "installs a stack that would watch nothing: set enabled too, or neither")]
        return []


@dataclass(frozen=True)
class VerificationSettings:
    """How the pipeline judges a deployment's performance before it records its digests as verified (after health,
    smoke transactions and agreement; tools/performance.py): a probe load through the business Service, measured by
    the cluster's Prometheus, against the alerting rules' objectives and the stack's last verified figures."""

    probe_rate: int = key(
        "probeRate",
        kinds.count(minimum=0, maximum=10000),
        "Transactions a second offered through the business Service while Prometheus measures. `0` leaves "
        "performance unchecked (a stack without monitoring must say so).",
        default=5,
    )
    probe_seconds: int = key(
        "probeSeconds",
        kinds.count(minimum=10, maximum=3600),
        "How long the measured probe load runs (after a warm-up of a quarter of it).",
        default=60,
    )
    latency_regression_percent: int = key(
        "latencyRegressionPercent",
        kinds.count(minimum=0, maximum=1000),
        "How far above the last verified deployment's p99 (at the same probe rate) a p99 over the objective "
        "(AurigraphLatencyP99High's threshold) may be.",
        default=50,
    )

    def problem_with(self, monitoring: MonitoringSettings) -> str | None:
        """What is wrong with the probe given how the stack is watched (None: nothing)."""
        if self.probe_rate and not monitoring.enabled:
            return (
                "performance is measured by the Prometheus that watches the network, and monitoring.enabled is "
                "false: set the probe rate to 0 to leave performance unchecked"
            )
        return None


@dataclass(frozen=True)
class ImageSettings:
    """How the three node images are built (docker-build provider, BuildKit), tagged and pushed."""

    registry: str | None = key(
        "registry",
        kinds.OPTIONAL_REGISTRY,
        "Registry the images are pushed to, as host[:port][/path]: the local stack's is `127.0.0.1:5000` "
        "(`make registry`; loopback registries are spoken to over plain HTTP). When unset, the stack creates "
        "one ECR repository per role and pushes there.",
        default=None,
    )
    repository_prefix: str = key(
        "repositoryPrefix",
        kinds.DNS_LABEL,
        "First path segment of each image repository: images are `<registry>/<prefix>/<role>`.",
        default="aurigraph",
    )
    version: str | None = key(
        "version",
        kinds.OPTIONAL_VERSION,
        "Release version. When set, the images are also tagged `vX.Y.Z` (kept forever by the ECR lifecycle).",
        default=None,
    )
    builder: str = key(
        "builder",
        kinds.DNS_LABEL,
        "The buildx builder that builds the images; it must have BuildKit 0.13 or newer. `make buildkit` "
        "starts the project's daemon and registers it as `aurigraph`.",
        default="aurigraph",
    )
    builder_image: str | None = key(
        "builderImage",
        kinds.OPTIONAL_IMAGE,
        "Base of the build stage (a JDK 25 and Maven), as the builder pulls it. Unset: the Dockerfiles' "
        "default, the locally made `aurigraph/builder` base (docker/README.md); online users may name a public "
        "image such as `maven:3.9-eclipse-temurin-25`.",
        default=None,
    )
    runtime_image: str | None = key(
        "runtimeImage",
        kinds.OPTIONAL_IMAGE,
        "Base of the runtime image (glibc, no shell, non-root). Unset: the Dockerfiles' default, the locally "
        "made `aurigraph/runtime` base; online users may name `gcr.io/distroless/cc-debian13:nonroot`.",
        default=None,
    )
    references: Mapping[str, str] = key(
        "references",
        kinds.IMAGE_REFERENCES,
        "The image of each role, pinned by digest (`role: registry/repository@sha256:...`): what a stack without "
        "a `registry` runs (the pipeline promotes them from staging to prod), and, when all three are given, what a "
        "stack that builds runs instead of building (a rollback to verified digests).",
        default={},
    )


@dataclass(frozen=True)
class StackConfig:
    """All stack configuration, as read from `Pulumi.<stack>.yaml` under the `aurigraph-infra:` namespace."""

    environment: str = key(
        "environment",
        kinds.one_of("local", "staging", "prod"),
        "Which environment this stack is. Policies and defaults that differ per environment key off it.",
    )
    namespace: str = key(
        "namespace",
        kinds.DNS_LABEL,
        "Kubernetes namespace that holds every Aurigraph object of this stack.",
        default="aurigraph",
    )
    pod_security_level: str = key(
        "podSecurityLevel",
        kinds.one_of("restricted", "baseline"),
        "Pod Security Standard enforced on the namespace. Aurigraph pods meet `restricted`; `baseline` exists "
        "only for clusters whose admission cannot enforce it yet.",
        default="restricted",
    )
    labels: Mapping[str, str] = key(
        "labels",
        kinds.LABELS,
        "Extra labels put on every object of the stack (for cost allocation or ownership), as a map.",
        default={},
    )
    kubernetes: KubernetesTarget = section("kubernetes", KubernetesTarget, "Where Kubernetes objects go.")
    validators: ValidatorSettings = section("validators", ValidatorSettings, "Validator sizing.")
    business: BusinessSettings = section("business", BusinessSettings, "Business-node sizing.")
    slim: SlimSettings = section("slim", SlimSettings, "Slim-node sizing.")
    app_source: str = key(
        "appSource",
        kinds.DIRECTORY,
        "The Quarkus source tree the node images are built from (a Maven project using quarkus-maven-plugin), "
        "absolute or relative to the project. The bundled reference node by default.",
        default="reference-node",
    )
    images: ImageSettings = section("images", ImageSettings, "How node images are built and pushed.")
    network: NetworkSettings = section("network", NetworkSettings, "NetworkPolicies and the optional mesh.")
    monitoring: MonitoringSettings = section("monitoring", MonitoringSettings, "Prometheus, alerts, dashboards.")
    verification: VerificationSettings = section(
        "verification", VerificationSettings, "How the pipeline measures a deployment's performance."
    )
    registry_credentials: Mapping[str, str] | None = key(
        "registryCredentials",
        kinds.REGISTRY_CREDENTIALS,
        "Credentials the nodes pull their images with (`server`, `username`, `password`), for a registry that "
        "needs them; they become a `kubernetes.io/dockerconfigjson` Secret named by every pod. Unset where the "
        "nodes pull without (the loopback registry; ECR through the nodes' IAM role). Must be set with "
        "`--secret`.",
        default=None,
    )
    mirror_keys_to_aws: bool = key(
        "mirrorKeysToAws",
        kinds.BOOL,
        "Also keep each validator's signing key in AWS Secrets Manager (`aurigraph/<stack>/<validator>`), "
        "encrypted with `secretsKmsKeyArn`, as the copy an operator restores from. Cloud stacks only.",
        default=False,
    )
    secrets_kms_key_arn: str | None = key(
        "secretsKmsKeyArn",
        kinds.OPTIONAL_TEXT,
        "KMS key that encrypts the mirrored keys (the account's default Secrets Manager key when unset).",
        default=None,
    )
    alertmanager_credentials: Mapping[str, str] = key(
        "alertmanagerCredentials",
        kinds.ALERTMANAGER_CREDENTIALS,
        "Alertmanager's credentials, by name: `pagerduty-routing-key`, `slack-webhook-url`, `smtp-password`, "
        "`sms-token`. A stack that installs kube-prometheus-stack needs all four. Must be set with "
        "`pulumi config set --secret --path`; a plain value is refused.",
        default={},
    )
    validator_keys: Mapping[str, str] = key(
        "validatorKeys",
        kinds.SIGNING_KEYS,
        "Signing keys supplied by the operator instead of generated, by validator id (`validator-0: <PEM>`). "
        "Must be set with `pulumi config set --secret --path`; a plain value is refused.",
        default={},
    )

    def problems(self) -> list[tuple[str, str]]:
        found = []
        problem = quarkus_source_problem(self.app_source)
        if problem:
            found.append(("appSource", problem))
        if self.environment != "local" and self.validators.replicas < 3:
            found.append(
                (
                    "validators.replicas",
                    f"{self.validators.replicas} cannot survive the loss of a validator; "
                    f"{self.environment} needs 3 or more",
                )
            )
        if self.monitoring.install_stack:
            missing = sorted(set(ALERTMANAGER_CREDENTIAL_NAMES) - set(self.alertmanager_credentials))
            if missing:
                found.append(
                    (
                        "alertmanagerCredentials",
                        f"kube-prometheus-stack is installed (monitoring.installStack), so Alertmanager needs "
                        f"every credential; missing: {', '.join(missing)}",
                    )
                )
        probe_problem = self.verification.problem_with(self.monitoring)
        if probe_problem:
            found.append(("verification.probeRate", probe_problem))
        if self.mirror_keys_to_aws and self.environment == "local":
            found.append(("mirrorKeysToAws", "the local stack has no AWS account to mirror to"))
        unknown = sorted(set(self.validator_keys) - {f"validator-{n}" for n in range(self.validators.replicas)})
        if unknown:
            found.append(("validatorKeys", f"keys for validators that do not exist: {', '.join(unknown)}"))
        if self.images.registry and self.images.references and len(self.images.references) < 3:
            found.append(
                (
                    "images.references",
                    "name every role's digest (to run those instead of building) or none (to build them all)",
                )
            )
        if not self.images.registry:
            missing = [role for role in ("business", "slim", "validator") if role not in self.images.references]
            if missing:
                found.append(
                    (
                        "images.references",
                        f"a stack that does not build its images (no images.registry) "
                        f"needs a digest-pinned reference for each role; missing: {', '.join(missing)}",
                    )
                )
        return found

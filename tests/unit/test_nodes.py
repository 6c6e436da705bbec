"""The three node workloads, their pod hardening and their network policies, with Pulumi's mocks."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.business import BusinessNodes, BusinessNodesArgs
from components.metadata import StackMetadata
from components.network import NodeNetwork, NodeNetworkArgs
from components.pod import CONFIG_CHECKSUM_ANNOTATION, DRAIN_SECONDS, config_checksum, workload_options
from components.slim import SlimNodes, SlimNodesArgs
from components.validators import ValidatorSet, ValidatorSetArgs, peers_setting, quorum
from stack_config.schema import NodeResources
from tests.unit.conftest import RecordingMocks

METADATA = StackMetadata(project="aurigraph-infra", stack="staging", environment="staging", extra_labels={})
RESOURCES = NodeResources(cpu_request="1", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi")
IMAGE = "registry.example.invalid/aurigraph/node@sha256:" + "a" * 64


def validators(replicas: int = 4, partition: int = 0) -> ValidatorSet:
    args = ValidatorSetArgs(
        metadata=METADATA,
        namespace="ledger",
        image=IMAGE,
        replicas=replicas,
        resources=RESOURCES,
        storage_gib=100,
        storage_class="gp3",
        partition=partition,
    )
    return ValidatorSet("validators", args)


def business(service_type: str = "LoadBalancer", certificate: str | None = None) -> BusinessNodes:
    args = BusinessNodesArgs(
        metadata=METADATA,
        namespace="ledger",
        image=IMAGE,
        peers="validator-0=v:9005",
        replicas_min=6,
        replicas_max=20,
        resources=RESOURCES,
        service_type=service_type,
        tls_certificate_arn=certificate,
    )
    return BusinessNodes("business", args)


def one(mocks: RecordingMocks, typ: str, name: str | None = None) -> dict[str, Any]:
    found = [r.inputs for r in mocks.of_type(typ) if name is None or r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, (typ, name, found)
    return dict(found[0])


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize(("replicas", "expected"), [(1, 1), (3, 2), (4, 3), (5, 3), (7, 4), (15, 8)])
def test_validator_budget_keeps_quorum_for_any_replica_count(
    mocks: RecordingMocks, replicas: int, expected: int
) -> None:
    assert quorum(replicas) == expected

    @pulumi.runtime.test
    def check() -> pulumi.Output[None]:
        group = validators(replicas=replicas)

        def verify(_: object) -> None:
            budget = one(mocks, "kubernetes:policy/v1:PodDisruptionBudget", "validator")
            assert budget["spec"]["minAvailable"] == expected
            # Losing more than replicas - quorum validators would stop the ledger: the budget allows no more.
            assert replicas - budget["spec"]["minAvailable"] == (replicas - 1) // 2

        return group.name.apply(verify)

    check()


@pulumi.runtime.test
def test_validators_find_each_other_by_stable_names_before_they_are_ready(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    group = validators()

    def verify(_: object) -> None:
        peers = one(mocks, "kubernetes:core/v1:Service", "validator-peers")
        assert peers["spec"]["clusterIP"] == "None"
        assert peers["spec"]["publishNotReadyAddresses"] is True
        assert {p["name"]: p["port"] for p in peers["spec"]["ports"]} == {"http": 9003, "grpc": 9004, "raft": 9005}
        statefulset = one(mocks, "kubernetes:apps/v1:StatefulSet")
        assert statefulset["spec"]["serviceName"] == "validator-peers"
        assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
        settings = one(mocks, "kubernetes:core/v1:ConfigMap", "validator-settings")
        assert settings["data"]["AURIGRAPH_PEERS"] == peers_setting(4, "ledger")
        assert settings["data"]["AURIGRAPH_PEERS"].startswith(
            "validator-0=validator-0.validator-peers.ledger.svc:9005,validator-1="
        )
        env = container(statefulset)["env"]
        assert env == [{"name": "AURIGRAPH_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]

    return group.name.apply(verify)


@pulumi.runtime.test
def test_validators_keep_their_volume_and_upgrade_behind_the_partition(mocks: RecordingMocks) -> pulumi.Output[None]:
    group = validators(partition=3)

    def verify(_: object) -> None:
        statefulset = one(mocks, "kubernetes:apps/v1:StatefulSet")
        spec = statefulset["spec"]
        assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}
        assert statefulset["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"] == {"storage": "100Gi"}
        assert claim["spec"]["storageClassName"] == "gp3"
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
        mounts = {m["name"]: m["mountPath"] for m in container(statefulset)["volumeMounts"]}
        assert mounts == {"tmp": "/tmp", "data": "/var/lib/aurigraph"}
        assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 60

    return group.name.apply(verify)


@pulumi.runtime.test
def test_validators_spread_over_nodes_and_zones(mocks: RecordingMocks) -> pulumi.Output[None]:
    group = validators()

    def verify(_: object) -> None:
        pod = one(mocks, "kubernetes:apps/v1:StatefulSet")["spec"]["template"]["spec"]
        spread = {c["topologyKey"]: c["whenUnsatisfiable"] for c in pod["topologySpreadConstraints"]}
        assert spread == {"kubernetes.io/hostname": "DoNotSchedule", "topology.kubernetes.io/zone": "ScheduleAnyway"}
        # A tainted node (a control plane) must not count as an empty domain the enforced rule levels against.
        assert {c["nodeTaintsPolicy"] for c in pod["topologySpreadConstraints"]} == {"Honor"}
        term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"

    return group.name.apply(verify)


def test_a_partition_above_the_replica_count_is_refused(mocks: RecordingMocks) -> None:
    with pytest.raises(ValueError, match="partition 5 is above replicas 4"):
        validators(partition=5)
    assert mocks.resources == []


@pulumi.runtime.test
def test_every_node_pod_is_hardened_and_pinned(mocks: RecordingMocks) -> pulumi.Output[None]:
    group, entry = validators(), business()
    followers = SlimNodes(
        "slim",
        SlimNodesArgs(metadata=METADATA, namespace="ledger", image=IMAGE, upstreams=["b:9004"], resources=RESOURCES),
    )

    def verify(_: object) -> None:
        for typ in ("StatefulSet", "Deployment", "DaemonSet"):
            workload = one(mocks, f"kubernetes:apps/v1:{typ}")
            pod = workload["spec"]["template"]["spec"]
            node = container(workload)
            assert node["image"] == IMAGE and "@sha256:" in node["image"]
            assert node["securityContext"] == {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is False
            assert pod["serviceAccountName"] == workload["metadata"]["name"]
            assert node["resources"] == {
                "requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "256Mi"},
                "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "1Gi"},
            }
            assert workload["metadata"]["annotations"]["kube-score/ignore"] == "container-image-pull-policy"
            assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
            assert node["livenessProbe"]["httpGet"]["path"] == "/q/health/live"
            assert node["startupProbe"]["httpGet"]["path"] == "/q/health/live"
            # A stopping pod serves on while its endpoint leaves the Services, and within its grace period.
            assert node["lifecycle"] == {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
            assert pod["terminationGracePeriodSeconds"] > DRAIN_SECONDS
            settings = one(mocks, "kubernetes:core/v1:ConfigMap", f"{workload['metadata']['name']}-settings")
            annotations = workload["spec"]["template"]["metadata"]["annotations"]
            assert annotations[CONFIG_CHECKSUM_ANNOTATION] == config_checksum(settings["data"])
            assert node["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}]
        for account in mocks.of_type("kubernetes:core/v1:ServiceAccount"):
            assert account.inputs["automountServiceAccountToken"] is False

    return pulumi.Output.all(group.name, entry.name, followers.name).apply(verify)


def test_up_waits_for_a_rollout_only_as_long_as_the_stack_allows() -> None:
    parent = pulumi.ResourceOptions(protect=True)
    opts = workload_options(parent, 150)
    assert opts.custom_timeouts is not None
    assert (opts.custom_timeouts.create, opts.custom_timeouts.update) == (None, "150s")
    assert opts.protect is True and parent.custom_timeouts is None


def test_a_settings_change_changes_the_checksum_that_rolls_the_pods() -> None:
    before = config_checksum({"AURIGRAPH_PEERS": "a", "AURIGRAPH_ROLE": "validator"})
    assert config_checksum({"AURIGRAPH_ROLE": "validator", "AURIGRAPH_PEERS": "a"}) == before
    assert config_checksum({"AURIGRAPH_PEERS": "b", "AURIGRAPH_ROLE": "validator"}) != before


@pulumi.runtime.test
def test_business_nodes_roll_without_losing_capacity_and_scale_on_cpu_and_memory(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    entry = business()

    def verify(_: object) -> None:
        deployment = one(mocks, "kubernetes:apps/v1:Deployment")
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": "25%"}
        assert "replicas" not in deployment["spec"], "the autoscaler owns the count"
        assert container(deployment)["readinessProbe"]["httpGet"]["path"] == "/api/v11/health"
        hpa = one(mocks, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (6, 20)
        targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
        assert targets == {"cpu": 70, "memory": 80}
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert hpa["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
        assert one(mocks, "kubernetes:policy/v1:PodDisruptionBudget")["spec"]["maxUnavailable"] == 1

    return entry.name.apply(verify)


@pulumi.runtime.test
def test_clients_reach_business_on_80_and_grpc_and_on_443_only_where_tls_ends(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    entry = business(certificate="arn:aws:acm:eu-west-1:123456789012:certificate/abc")

    def verify(_: object) -> None:
        service = one(mocks, "kubernetes:core/v1:Service", "business")
        assert service["spec"]["type"] == "LoadBalancer"
        ports = {p["port"]: p["targetPort"] for p in service["spec"]["ports"]}
        assert ports == {80: "http", 443: "http", 9004: "grpc"}
        annotations = service["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "https"

    return entry.name.apply(verify)


@pulumi.runtime.test
def test_without_a_certificate_443_is_not_opened(mocks: RecordingMocks) -> pulumi.Output[None]:
    entry = business(service_type="NodePort")

    def verify(_: object) -> None:
        service = one(mocks, "kubernetes:core/v1:Service", "business")
        assert sorted(p["port"] for p in service["spec"]["ports"]) == [80, 9004]
        assert "annotations" not in service["metadata"]

    return entry.name.apply(verify)


@pulumi.runtime.test
def test_slim_nodes_run_on_every_node_and_serve_only_their_own(mocks: RecordingMocks) -> pulumi.Output[None]:
    toleration = {"key": "dedicated", "operator": "Equal", "value": "ledger", "effect": "NoSchedule"}
    followers = SlimNodes(
        "slim",
        SlimNodesArgs(
            metadata=METADATA,
            namespace="ledger",
            image=IMAGE,
            upstreams=["business.ledger.svc:9004", "validator-0.validator-peers.ledger.svc:9004"],
            resources=RESOURCES,
            tolerations=[toleration],
        ),
    )

    def verify(_: object) -> None:
        service = one(mocks, "kubernetes:core/v1:Service", "slim")
        assert service["spec"]["internalTrafficPolicy"] == "Local"
        daemonset = one(mocks, "kubernetes:apps/v1:DaemonSet")
        assert daemonset["spec"]["template"]["spec"]["tolerations"] == [toleration]
        settings = one(mocks, "kubernetes:core/v1:ConfigMap", "slim-settings")
        assert settings["data"]["AURIGRAPH_UPSTREAMS"] == (
            "business.ledger.svc:9004,validator-0.validator-peers.ledger.svc:9004"
        )

    return followers.name.apply(verify)


def policy_named(mocks: RecordingMocks, name: str) -> dict[str, Any]:
    return dict(one(mocks, "kubernetes:networking.k8s.io/v1:NetworkPolicy", name)["spec"])


@pulumi.runtime.test
def test_the_namespace_denies_all_traffic_but_what_the_contract_needs(mocks: RecordingMocks) -> pulumi.Output[None]:
    network = NodeNetwork(
        "network", NodeNetworkArgs(metadata=METADATA, namespace="ledger", monitoring_namespace="observability")
    )

    def verify(_: object) -> None:
        deny = policy_named(mocks, "default-deny")
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        raft = policy_named(mocks, "validators-from-validators")["ingress"][0]
        assert [p["port"] for p in raft["ports"]] == [9005]
        from_business = policy_named(mocks, "validators-from-business")
        assert from_business["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "validator"
        (source,) = from_business["ingress"][0]["from"]
        assert source["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "business"
        assert sorted(p["port"] for p in from_business["ingress"][0]["ports"]) == [9004, 9005]
        egress = policy_named(mocks, "business-to-validators-from-business")["egress"][0]
        assert egress["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "validator"
        metrics = policy_named(mocks, "validator-metrics-from-prometheus")["ingress"][0]
        assert [p["port"] for p in metrics["ports"]] == [9003]
        assert metrics["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "observability"
        }
        clients = policy_named(mocks, "business-from-clients")["ingress"][0]
        assert "from" not in clients, "clients come from anywhere"
        slim_out = policy_named(mocks, "slim-to-grpc-from-slim")["egress"][0]
        assert [p["port"] for p in slim_out["ports"]] == [9004]
        dns = policy_named(mocks, "dns")["egress"][0]
        assert sorted(p["protocol"] for p in dns["ports"]) == ["TCP", "UDP"]
        assert mocks.of_type("kubernetes:networking.istio.io/v1:VirtualService") == []

    return network.names.apply(verify)


@pulumi.runtime.test
def test_with_istio_the_business_nodes_get_retries_and_outlier_detection(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    network = NodeNetwork("network", NodeNetworkArgs(metadata=METADATA, namespace="ledger", istio=True))

    def verify(_: object) -> None:
        (rule,) = mocks.of_type("kubernetes:networking.istio.io/v1:DestinationRule")
        assert rule.inputs["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 5
        (routes,) = mocks.of_type("kubernetes:networking.istio.io/v1:VirtualService")
        assert routes.inputs["spec"]["http"][0]["retries"]["retryOn"] == "connect-failure,refused-stream"

    return network.names.apply(verify)

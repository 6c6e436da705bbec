"""Breaks each Kubernetes policy of the pack once: the ECR ones need the AWS provider, which cannot be had here
(tests/policy/test_policies.py covers them)."""

import pulumi
import pulumi_kubernetes as k8s

output = pulumi.Config().require("renderDirectory")
provider = k8s.Provider("render", render_yaml_to_directory=output)
opts = pulumi.ResourceOptions(provider=provider)


def labels(role: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": role, "aurigraph.io/environment": "prod"}


# pods-run-as-non-root, containers-have-requests-and-limits, read-only-root-filesystem, no-privilege-escalation,
# business-nodes-have-probes, image-size-budget, prod-images-pinned-by-digest, no-secret-literals; and, as the
# namespace has no default-deny policy and nothing monitors it, namespaces-deny-by-default and
# workloads-are-monitored.
k8s.apps.v1.Deployment(
    "business",
    metadata={
        "name": "business",
        "namespace": "ledger",
        "labels": labels("business"),
        "annotations": {"aurigraph.io/image-size-bytes": "999000000"},
    },
    spec={
        "selector": {"matchLabels": labels("business")},
        "template": {
            "metadata": {"labels": labels("business")},
            "spec": {
                "containers": [
                    {
                        "name": "node",
                        "image": "registry.example.invalid/aurigraph/business:latest",
                        "env": [{"name": "API_KEY", "value": "abc123"}],
                    }
                ]
            },
        },
    },
    opts=opts,
)
# autoscaler-bounds
k8s.autoscaling.v2.HorizontalPodAutoscaler(
    "business",
    metadata={"name": "business", "namespace": "ledger"},
    spec={
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "business"},
        "minReplicas": 1,
        "maxReplicas": 4,
    },
    opts=opts,
)
# validator-budget-keeps-quorum: 4 validators, 1 kept.
k8s.apps.v1.StatefulSet(
    "validator",
    metadata={"name": "validator", "namespace": "ledger", "labels": labels("validator")},
    spec={
        "replicas": 4,
        "serviceName": "validator-peers",
        "selector": {"matchLabels": labels("validator")},
        "template": {
            "metadata": {"labels": labels("validator")},
            "spec": {
                "securityContext": {"runAsNonRoot": True},
                "containers": [
                    {
                        "name": "node",
                        "image": "registry.example.invalid/aurigraph/validator@sha256:" + "ab" * 32,
                        "resources": {
                            "requests": {"cpu": "1", "memory": "1Gi"},
                            "limits": {"cpu": "1", "memory": "1Gi"},
                        },
                        "securityContext": {
                            "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    },
    opts=opts,
)
k8s.policy.v1.PodDisruptionBudget(
    "validator",
    metadata={"name": "validator", "namespace": "ledger", "labels": labels("validator")},
    spec={"minAvailable": 1, "selector": {"matchLabels": labels("validator")}},
    opts=opts,
)

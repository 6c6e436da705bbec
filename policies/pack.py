"""Every policy of the pack, in the order docs/policies.md lists them."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy, PolicyPack

from policies import availability, images, plain_secrets, registry, stack, workloads

NAME = "aurigraph"
POLICIES: list[Policy] = [
    *workloads.POLICIES,
    *images.POLICIES,
    *availability.POLICIES,
    *registry.POLICIES,
    *plain_secrets.POLICIES,
    *stack.POLICIES,
]


# Why each rule exists: what goes wrong without it on a ledger network (docs/reference/policies.md).
REASONS = {
    "pods-run-as-non-root": "A process that breaks out of a root container owns the node, and with it every "
    "validator key mounted there. The images run as 10001 and need no root.",
    "containers-have-requests-and-limits": "Without requests the scheduler packs validators onto a node until "
    "they starve each other and Raft times out; without limits one leaking pod takes its neighbours' memory. A "
    "limit below the request is refused by the API server: better here, before anything changes.",
    "read-only-root-filesystem": "A writable root lets an attacker or a bug change the node's code and "
    "configuration at run time, and hides state outside the volumes that are backed up.",
    "no-privilege-escalation": "setuid binaries and Linux capabilities are the usual way out of a container; "
    "the node needs neither.",
    "business-nodes-have-probes": "Business nodes take clients' transactions: without a readiness probe a pod "
    "that cannot reach the validators still gets traffic; without liveness a hung JVM is never restarted.",
    "image-size-budget": "Image size is pull time on every scale-up and node replacement, and attack surface; the "
    "budgets hold the gains the project made (docs/benchmarks.md). The size is measured when the image is pushed.",
    "prod-images-pinned-by-digest": "A tag can be moved after review; only a digest names the exact image that "
    "staging verified, so prod runs digests and nothing else.",
    "autoscaler-bounds": "One replica means an outage at every node drain; an unbounded ceiling turns a traffic "
    "spike or a loop into a bill; a target above 90% scales too late, below 30% never scales down.",
    "validator-budget-keeps-quorum": "A drain that evicts one validator too many stops the ledger: Raft commits "
    "nothing without a majority. The budget must keep replicas // 2 + 1 validators up.",
    "ecr-scan-on-push": "A vulnerable base or dependency must be seen when the image is pushed, before it is promoted.",
    "ecr-immutable-tags": "If `v1.2.3` can be pushed twice, a rollback to it may not restore what ran; only the "
    "tags meant to move (`latest`, `staging-*`) may.",
    "no-secret-literals": "ConfigMaps and pod specs are readable by anyone who can read the namespace, are "
    "logged in events and diffs, and are stored unencrypted; credentials belong in Secrets made from Pulumi "
    "config secrets.",
    "namespaces-deny-by-default": "Without a default deny every pod of the cluster can reach the validators' "
    "Raft port; the allowances of the node contract only mean something on top of a deny.",
    "workloads-are-monitored": "A workload no Prometheus scrapes has no alerts: a dead validator would be "
    "noticed by clients first.",
}


def pack() -> PolicyPack:
    """The pack, mandatory unless a stack's policy config (policies/config/<stack>.json) says otherwise."""
    return PolicyPack(name=NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)

# aurigraph-infra: every command an operator or the pipeline runs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

STACK ?= local
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PYTHON := $(VENV)/bin/python
TOOLS := $(ROOT)/.tools

# The reference node needs a JDK of release 21 or newer; the default `java` of these machines is 17.
JAVA_HOME ?= $(firstword $(wildcard /usr/lib/jvm/temurin-2[1-9]-jdk* /usr/lib/jvm/java-2[1-9]-openjdk*))
export JAVA_HOME
MVN := cd reference-node && ./mvnw --batch-mode --no-transfer-progress

# The CLI and its plugins come from .tools (tools/toolchain/build.sh); nothing is downloaded at run time.
export PATH := $(TOOLS)/bin:$(PATH)
export PULUMI_HOME := $(TOOLS)/pulumi-home
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# The local stack's state stays in the project, and its passphrase is documented: it protects nothing but local
# test data (docs/start.md); so does the kind stack's, on a throwaway cluster of this machine. staging and prod keep theirs in the backend named by Pulumi.yaml, their secrets
# encrypted by the KMS key named in their stack files (PULUMI_BACKEND_URL still overrides the backend).
ifneq ($(filter local kind,$(STACK)),)
export PULUMI_BACKEND_URL ?= file://$(ROOT)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE_FILE := $(ROOT)/tools/local-stack.passphrase
endif

# The loopback registry of the local stack: its address is read from the stack's config (images.registry), so
# that `make registry`, the bases and the stack cannot disagree.
REGISTRY_ADDR ?= $(shell sed -n 's/^ *registry: *//p' $(ROOT)/Pulumi.local.yaml)
export REGISTRY_ADDR

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  (STACK=local|kind|staging|prod selects the stack of preview, up and destroy; local is the default)"

# What building images needs on this machine: an engine (for the bases), the registry, BuildKit, the bases
# published to the registry. The local stack builds its images, so its up and preview need it.
.PHONY: build-env
build-env: docker-engine bases registry buildkit
	docker/bases/publish.sh $(REGISTRY_ADDR)

.PHONY: up
up: setup $(if $(filter local kind,$(STACK)),build-env) ## Bring the stack up (the local stack by default) and print what it built, pushed and rendered
	$(PYTHON) -m tools.stack_ops up --stack $(STACK)

.PHONY: preview
preview: setup $(if $(filter local kind,$(STACK)),build-env) ## Show what `up` would change on STACK
	$(PYTHON) -m tools.stack_ops preview --stack $(STACK)

.PHONY: kubeconfig
kubeconfig: venv ## Write $$KUBE_CONFIG (the cluster's kubeconfig, a CI secret) where STACK's config reads it, mode 0600
	$(PYTHON) -m tools.stack_ops kubeconfig --stack $(STACK)

.PHONY: destroy
destroy: setup ## Delete every resource of STACK (its state and stack file stay)
	$(PYTHON) -m tools.stack_ops destroy --stack $(STACK)

.PHONY: test
test: setup lint workflows-check unit policy-test monitoring-check node-test devnet-check monitoring-live images-test integration docs-check e2e ## The whole suite (what CI runs)
	@# A passing suite deletes the cluster `make e2e` made (its nodes would load the machine); a failing one keeps
	@# it to look at. `make e2e` alone keeps it too.
	$(PYTHON) -m tools.cluster down

.PHONY: monitoring-check
monitoring-check: ## promtool and amtool: every rule checked and unit-tested, Alertmanager's config checked and its routes tested
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { [ "$$(id -u)" = 0 ] \
	  || { echo "promtool or amtool is missing; installing Debian's prometheus and prometheus-alertmanager needs root"; exit 1; }; \
	  echo "installing prometheus and prometheus-alertmanager (for promtool and amtool)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus prometheus-alertmanager >/dev/null; }
	promtool check rules monitoring/rules/*.yaml
	promtool test rules monitoring/tests/*.test.yaml
	amtool check-config monitoring/alertmanager.yaml
	@grep -v '^#' monitoring/tests/routes.tsv | while IFS=$$'\t' read -r receiver labels; do \
	  amtool config routes test --config.file=monitoring/alertmanager.yaml --verify.receivers="$$receiver" $$labels >/dev/null 2>&1 \
	    || { echo "route test: an alert with $$labels must reach exactly $$receiver"; exit 1; }; \
	  echo "route test: $$labels -> $$receiver"; done

# What the live monitoring test runs: Debian's Prometheus, Alertmanager and Pushgateway, and a headless Chromium.
LIVE_PACKAGES := prometheus prometheus-alertmanager prometheus-pushgateway chromium-headless-shell

.PHONY: live-packages
live-packages:
	@missing=$$(for p in $(LIVE_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then [ "$$(id -u)" = 0 ] || { echo "missing Debian packages: $$missing (installing them needs root)"; exit 1; }; \
	  echo "installing $$missing"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; fi

.PHONY: monitoring-live
monitoring-live: venv jdk live-packages ## The rules and routes live: a local network under load, scraped and alerted on, nodes stopped, notifications caught on loopback (about 8 minutes)
	$(MVN) --quiet package -DskipTests
	$(PYTHON) -m pytest -s tests/monitoring

.PHONY: node-test
node-test: jdk ## The reference node's own tests (unit, in-process validator group, HTTP API)
	$(MVN) verify

.PHONY: devnet
devnet: venv jdk ## 4 validators, 2 business and 1 slim node as local processes, offered fixed rates; prints TPS, p50/p99 per rate, the rate sustained with p99 < 100 ms, agreement
	$(MVN) --quiet package -DskipTests
	$(PYTHON) -m tools.devnet $(DEVNET_ARGS)

.PHONY: devnet-check
devnet-check: ## A short devnet run: all 7 nodes start, commit under load and agree
	$(MAKE) devnet DEVNET_ARGS="--rates 50 --seconds 3 --warmup 0"

.PHONY: docker-engine
docker-engine: ## Start a Docker engine here if none answers (installs Debian's docker.io when missing)
	tools/docker_engine.sh

.PHONY: bases
bases: docker-engine ## Make (or load from the cache) the Debian-based builder and runtime base images
	docker/bases/build.sh

.PHONY: images
images: venv build-env ## Build the three node images on BuildKit (IMAGES_ARGS, e.g. --source DIR, --push) and print role, size, bar, baseline
	$(PYTHON) -m tools.images $(IMAGES_ARGS)

.PHONY: registry
registry: ## Start an OCI registry on loopback (Debian's docker-registry) at the local stack's images.registry
	tools/registry.sh

.PHONY: buildkit
buildkit: toolchain ## Start the project's BuildKit daemon and register it as the buildx builder `aurigraph`
	tools/buildkitd.sh

.PHONY: kind-image
kind-image: bases ## Make (or load from the cache) the kind node image offline, and the kind CLI and kubectl (tools/kind/build.sh)
	tools/kind/build.sh

.PHONY: kind-monitoring
kind-monitoring: bases ## Make the images of the kind cluster's Prometheus Operator, Prometheus, kube-state-metrics and metrics-server offline (tools/kind/monitoring/build.sh)
	tools/kind/monitoring/build.sh

.PHONY: k8s-up
k8s-up: venv build-env kind-image kind-monitoring ## A local Kubernetes cluster (1 control plane, K8S_WORKERS=2 workers) for the kind stack; kubeconfig in build/kubeconfig/kind.yaml
	$(PYTHON) -m tools.cluster up

# A part of the suite, for work on one test: make e2e E2E_TESTS="tests/e2e/test_deploy.py tests/e2e/test_monitoring.py"
E2E_TESTS ?= tests/e2e

.PHONY: e2e
e2e: setup build-env k8s-up ## The end-to-end suite on the cluster: the kind stack up, its monitoring, faults, upgrades, a failed release rolled back
	status=0; $(PYTHON) -m pytest $(E2E_TESTS) || status=$$?; \
	  echo "== e2e: what was measured (build/e2e/report.txt)"; cat build/e2e/report.txt 2>/dev/null || true; exit $$status

.PHONY: k8s-down
k8s-down: venv ## Delete the local Kubernetes cluster
	$(PYTHON) -m tools.cluster down

.PHONY: images-test
images-test: venv build-env ## The images built for real and checked: size, no shell, non-root, read-only, AOT, push
	$(PYTHON) -m pytest tests/images

.PHONY: dockerfiles
dockerfiles: venv ## Regenerate docker/Dockerfile.<role> from docker/Dockerfile.in
	$(PYTHON) -m tools.gen_dockerfiles

.PHONY: jdk
jdk:
	@test -x "$(JAVA_HOME)/bin/javac" || { echo "the reference node needs a JDK 21 or newer: set JAVA_HOME (none found under /usr/lib/jvm)"; exit 1; }

.PHONY: unit
unit: venv ## Unit tests with Pulumi's mocks (no CLI)
	$(PYTHON) -m pytest tests/unit

.PHONY: policy-test
policy-test: venv ## The policy pack's rules, each on compliant and violating objects, and on everything the program makes
	$(PYTHON) -m pytest tests/policy

.PHONY: integration
integration: setup build-env live-packages supplychain ## The real CLI through the Automation API: local stack up, the pipeline, promotion and policies, checked and destroyed
	$(PYTHON) -m pytest tests/integration

.PHONY: lint
lint: venv ## ruff, mypy and hadolint
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	$(VENV)/bin/hadolint docker/Dockerfile.business docker/Dockerfile.slim docker/Dockerfile.validator \
	  docker/bases/Dockerfile.builder docker/bases/Dockerfile.runtime tools/kind/images/Dockerfile.* \
	  tools/kind/monitoring/Dockerfile

.PHONY: workflows-check
workflows-check: venv ## actionlint and zizmor on .github/workflows (every run step must be a make target: make unit checks that)
	@command -v go >/dev/null || { echo "actionlint is built from its Go module: Go is required"; exit 1; }
	tools/workflow-lint/build.sh
	$(TOOLS)/workflow-lint/bin/actionlint -no-color .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline --no-progress --min-severity=low .github/

.PHONY: verify
verify: venv docker-engine ## Check STACK's deployment (on its cluster, or its rendered manifests run as containers): health (3 x 30 s), smoke transactions, agreement; on a cluster, performance measured by Prometheus
	$(PYTHON) -m tools.verify --stack $(STACK)

.PHONY: pipeline
pipeline: setup build-env supplychain ## test -> build -> up -> verify -> report on STACK, rolling back to the last verified digests when verify fails
	$(PYTHON) -m tools.pipeline run --stack $(STACK) $(PIPELINE_ARGS)

.PHONY: supplychain
supplychain: ## Build (or take from the cache) syft, grype, cosign and the advisory database builder into .tools/supplychain/
	@command -v go >/dev/null || { echo "the supply-chain tools are built from their Go modules: Go is required"; exit 1; }
	tools/supplychain/build.sh

.PHONY: vulndb
vulndb: venv supplychain ## Build the vulnerability gate's database from security/advisories (where grype's cannot be downloaded)
	$(PYTHON) -m tools.supply_chain vulndb

.PHONY: rollback
rollback: setup docker-engine ## Re-apply STACK's last verified image digests (recorded by a passing `make pipeline`) and verify them
	$(PYTHON) -m tools.pipeline rollback --stack $(STACK)

FROM ?= staging

.PHONY: promotion-check
promotion-check: setup supplychain ## Preview STACK (prod) with the digests last verified on FROM (staging) and check it would run exactly those
	$(PYTHON) -m tools.pipeline promotion-check --stack $(STACK) --from $(FROM)

.PHONY: promote
promote: setup docker-engine supplychain ## The release: FROM's verified digests, never rebuilt, checked, deployed on STACK, verified and recorded
	$(PYTHON) -m tools.pipeline promote --stack $(STACK) --from $(FROM)

.PHONY: notify
notify: venv ## Send the pipeline's report to Slack ($$SLACK_WEBHOOK_URL) and, with $$JIRA_ISSUE_KEY, to a Jira issue
	$(PYTHON) -m tools.notify

.PHONY: pr-comment
pr-comment: ## Post (or update) the last `make preview` of STACK on the pull request PR_NUMBER (needs GH_TOKEN; the pipeline runs it)
	tools/pr_comment.sh $(STACK)

.PHONY: docs
docs: venv ## Regenerate the reference tables in docs/reference/
	$(PYTHON) -m tools.gen_config_reference > docs/reference/config.md
	$(PYTHON) -m tools.gen_policy_reference > docs/reference/policies.md

.PHONY: dashboards
dashboards: venv ## Regenerate monitoring/dashboards/*.json from tools/gen_dashboards.py
	$(PYTHON) -m tools.gen_dashboards

.PHONY: docs-check
docs-check: venv ## Fail when a generated document differs from what its source would generate
	$(PYTHON) -m tools.gen_config_reference | diff -u docs/reference/config.md - \
	  || { echo "docs/reference/config.md is stale: run 'make docs'"; exit 1; }
	$(PYTHON) -m tools.gen_policy_reference | diff -u docs/reference/policies.md - \
	  || { echo "docs/reference/policies.md is stale: run 'make docs'"; exit 1; }
	$(PYTHON) -m tools.gen_dockerfiles --check
	$(PYTHON) -m tools.gen_dashboards --check

.PHONY: setup
setup: venv toolchain

.PHONY: toolchain
toolchain: ## Build (or take from the cache) the Pulumi CLI, language host and providers into .tools/
	tools/toolchain/build.sh

.PHONY: venv
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@command -v python3 >/dev/null || { echo "python3 (3.11 or newer) is required and was not found"; exit 1; }
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.PHONY: requirements
requirements: ## Re-pin requirements.txt from requirements.in
	rm -rf $(ROOT)/build/requirements-venv
	python3 -m venv $(ROOT)/build/requirements-venv
	$(ROOT)/build/requirements-venv/bin/pip install --quiet --disable-pip-version-check -r requirements.in
	{ echo "# Generated by \`make requirements\` from requirements.in: every package of the program's virtualenv, pinned."; \
	  echo "# Edit requirements.in, then regenerate; never edit by hand."; \
	  $(ROOT)/build/requirements-venv/bin/pip freeze; } > requirements.txt

.PHONY: prune
prune: ## Give back disk on a shared machine: old node images, build caches, older cache entries (keeps bases, state, clusters)
	tools/prune.sh

.PHONY: clean
clean: ## Remove build output and the virtualenv (keeps the toolchain cache and stack state)
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache

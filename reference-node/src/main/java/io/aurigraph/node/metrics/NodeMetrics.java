package io.aurigraph.node.metrics;

import io.aurigraph.node.consensus.LedgerStateMachine;
import io.aurigraph.node.consensus.Validator;
import io.aurigraph.node.role.NodeRuntime;
import io.aurigraph.node.role.Role;
import io.aurigraph.node.role.NodeSettings;
import io.aurigraph.node.slim.BlockFollower;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.interceptor.Interceptor;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The node's metrics, named as the contract says (docs/reference/node-contract.md); the Prometheus
 * registry appends the unit and {@code _total} suffixes ({@code aurigraph.latency} with base unit
 * milliseconds becomes {@code aurigraph_latency_milliseconds_bucket}, ...).
 */
@ApplicationScoped
public class NodeMetrics {

    /** Latency buckets in milliseconds, dense below 100 ms where the p99 objective sits. */
    private static final double[] LATENCY_BUCKETS_MS = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};

    private final MeterRegistry registry;
    private final NodeRuntime node;
    private final String version;
    private final String revision;
    /** What a business node's submission can come to (the {@code result} label). */
    private static final List<String> OUTCOMES = List.of("committed", "duplicate", "rejected", "failed");
    private final Map<String, Counter> processed = new ConcurrentHashMap<>();
    private DistributionSummary latency;

    public NodeMetrics(MeterRegistry registry, NodeRuntime node, NodeSettings settings,
            @ConfigProperty(name = "quarkus.application.version", defaultValue = "unknown") String version) {
        this.registry = registry;
        this.node = node;
        this.version = version;
        this.revision = settings.revision();
    }

    public String version() {
        return version;
    }

    public String revision() {
        return revision;
    }

    /** Registers every meter once the node runs in its role (after {@link NodeRuntime} started it). */
    void register(@Observes @Priority(Interceptor.Priority.APPLICATION + 600) StartupEvent event) {
        String role = node.role().label();
        Gauge.builder("aurigraph.build.info", () -> 1).tags("version", version, "revision", revision, "role", role)
                .description("Always 1; its labels name the running build").register(registry);
        Gauge.builder("aurigraph.block.height", node, n -> n.height())
                .description("Height of the newest finalized block this node knows").register(registry);
        latency = DistributionSummary.builder("aurigraph.latency").baseUnit("milliseconds")
                .description("Time from a transaction's arrival to its commit").tag("role", role)
                .serviceLevelObjectives(LATENCY_BUCKETS_MS).register(registry);
        if (node.role() == Role.BUSINESS) {
            // Every outcome from the start, at 0: before the first failure the failure ratio is 0, not absent.
            OUTCOMES.forEach(this::processedCounter);
        }
        node.validator().ifPresent(v -> registerValidator(v, role));
        // Only slim nodes follow; the others always have every finalized block they serve, hence 0.
        Gauge.builder("aurigraph.sync.lag", node, n -> n.follower().map(BlockFollower::syncLagBlocks).orElse(0L))
                .baseUnit("blocks").description("Finalized blocks this node has not taken yet").register(registry);
    }

    private void registerValidator(Validator validator, String role) {
        LedgerStateMachine ledger = validator.ledger();
        FunctionCounter.builder("aurigraph.transactions.processed", ledger, LedgerStateMachine::transactionsCommitted)
                .tags("role", role, "result", "committed").description("Transactions handled, by outcome")
                .register(registry);
        FunctionCounter.builder("aurigraph.blocks.created", ledger, LedgerStateMachine::blocksCreated)
                .description("Blocks finalized and applied by this validator").register(registry);
        FunctionCounter.builder("aurigraph.consensus.leader.changes", ledger, LedgerStateMachine::leaderChanges)
                .description("Leader changes this validator has seen").register(registry);
        gauge("aurigraph.consensus.term", validator, Validator::term, "Current Raft term");
        gauge("aurigraph.consensus.is_leader", validator, v -> v.isLeader() ? 1 : 0, "1 while this validator leads");
        gauge("aurigraph.consensus.commit_index", validator, Validator::commitIndex, "Highest committed log index");
        gauge("aurigraph.consensus.applied_index", validator, Validator::appliedIndex, "Highest applied log index");
        gauge("aurigraph.peers.connected", validator, Validator::peersConnected, "Peers this validator hears from");
        Gauge.builder("aurigraph.finality.lag", ledger, LedgerStateMachine::finalityLagSeconds).baseUnit("seconds")
                .description("Time from the newest block's proposal to its application here").register(registry);
    }

    private <T> void gauge(String name, T target, ToDoubleFunction<T> value, String description) {
        Gauge.builder(name, target, value).description(description).register(registry);
    }

    /** Counts a transaction a business node handled; {@code result} is committed, duplicate, rejected or failed. */
    public void transactionProcessed(String result) {
        processedCounter(result).increment();
    }

    private Counter processedCounter(String result) {
        return processed.computeIfAbsent(result, r -> Counter.builder("aurigraph.transactions.processed")
                .tags("role", node.role().label(), "result", r).description("Transactions handled, by outcome")
                .register(registry));
    }

    public void latency(double millis) {
        latency.record(millis);
    }
}

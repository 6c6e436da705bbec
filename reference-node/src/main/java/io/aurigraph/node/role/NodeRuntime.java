package io.aurigraph.node.role;

import io.aurigraph.node.consensus.ClusterSpec;
import io.aurigraph.node.consensus.LedgerClient;
import io.aurigraph.node.consensus.ProposalBatcher;
import io.aurigraph.node.consensus.Validator;
import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Transaction;
import io.aurigraph.node.slim.BlockFollower;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.jboss.logging.Logger;

/**
 * What this node runs for its role, started with the application: a validator's Raft server, a business
 * node's client and batcher, or a slim node's follower. Reads go to whichever of them the role has.
 */
@ApplicationScoped
public class NodeRuntime {

    private static final Logger LOG = Logger.getLogger(NodeRuntime.class);

    private final NodeSettings settings;
    private Role role;
    private String id;
    private Validator validator;
    private LedgerClient client;
    private ProposalBatcher batcher;
    private BlockFollower follower;
    private SigningIdentity identity;

    public NodeRuntime(NodeSettings settings) {
        this.settings = settings;
    }

    void start(@Observes StartupEvent event) throws IOException {
        role = Role.parse(settings.role());
        id = settings.id().orElseGet(NodeRuntime::hostName);
        switch (role) {
            case VALIDATOR -> {
                identity = loadSigningIdentity();
                validator = Validator.start(new Validator.Settings(id, cluster(),
                        Path.of(settings.dataDir()), settings.snapshotEveryEntries(), settings.recentBlocksMax()));
            }
            case BUSINESS -> {
                client = new LedgerClient(cluster(), settings.commitTimeoutMillis());
                batcher = new ProposalBatcher(client::submit, id, settings.batchSizeMax(), settings.batchLingerMillis(),
                        settings.proposalsInFlightMax(), settings.queueCapacity());
            }
            case SLIM -> follower = new BlockFollower(settings.upstreams().orElse(List.of()),
                    settings.recentBlocksMax(), settings.followIntervalMillis());
        }
        LOG.infof("started as %s node %s", role.label(), id);
    }

    void stop(@Observes ShutdownEvent event) throws Exception {
        if (batcher != null) {
            batcher.close();
        }
        if (client != null) {
            client.close();
        }
        if (validator != null) {
            validator.close();
        }
        if (follower != null) {
            follower.close();
        }
    }

    private ClusterSpec cluster() {
        return ClusterSpec.parse(settings.peers().orElseThrow(() -> new IllegalArgumentException(
                "a " + role.label() + " node needs the validator group in aurigraph.peers (AURIGRAPH_PEERS)")));
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "node";
        }
    }

    /** A validator's signing key, checked against the genesis before the validator joins its group. */
    private SigningIdentity loadSigningIdentity() throws IOException {
        if (settings.signingKeyFile().isEmpty()) {
            return null;
        }
        String genesis = settings.genesisFile().orElseThrow(() -> new IllegalStateException(
                "a signing key (aurigraph.signing-key-file) needs the genesis that names it (aurigraph.genesis-file)"));
        SigningIdentity loaded = SigningIdentity.load(id, Path.of(settings.signingKeyFile().get()), Path.of(genesis));
        LOG.infof("signing key %s of validator %s in network %s", loaded.fingerprint(), id, loaded.network());
        return loaded;
    }

    public Optional<SigningIdentity> signingIdentity() {
        return Optional.ofNullable(identity);
    }

    public Role role() {
        return role;
    }

    public String id() {
        return id;
    }

    public Optional<Validator> validator() {
        return Optional.ofNullable(validator);
    }

    public Optional<BlockFollower> follower() {
        return Optional.ofNullable(follower);
    }

    /** Submits a transaction; only business nodes accept them (the caller checks the role first). */
    public CompletableFuture<Outcome> submit(Transaction transaction) {
        return batcher.submit(transaction);
    }

    public Optional<Block> latest() {
        return switch (role) {
            case VALIDATOR -> validator.ledger().latest();
            case BUSINESS -> client.latest();
            case SLIM -> follower.latest();
        };
    }

    public List<Block> blocksAfter(long height, int limit) {
        return switch (role) {
            case VALIDATOR -> validator.ledger().blocksAfter(height, limit);
            case BUSINESS -> client.blocksAfter(height, limit);
            case SLIM -> follower.blocksAfter(height, limit);
        };
    }

    /** How far a validator's applied state may trail its commit index and still take reads. */
    private static final long APPLY_LAG_READY_MAX = 1_000;
    /** A slim node that has not heard from an upstream for this long is not ready. */
    private static final long UPSTREAM_SILENCE_READY_MAX_MILLIS = 5_000;

    /** Why this node should not receive traffic now, or empty when it is ready. */
    public Optional<String> notReadyBecause() {
        if (role == null) {
            return Optional.of("starting");
        }
        return switch (role) {
            case VALIDATOR -> !validator.leaderKnown() ? Optional.of("no leader elected in the validator group")
                    : validator.commitIndex() - validator.appliedIndex() > APPLY_LAG_READY_MAX
                            ? Optional.of("applying committed entries") : Optional.empty();
            case BUSINESS -> height() < 0 ? Optional.of("the validator group does not answer") : Optional.empty();
            case SLIM -> {
                long silence = follower.sinceContactMillis();
                if (silence < 0 || silence > UPSTREAM_SILENCE_READY_MAX_MILLIS) {
                    yield Optional.of("no upstream has answered for " + UPSTREAM_SILENCE_READY_MAX_MILLIS + " ms");
                }
                long lag = follower.syncLagBlocks();
                yield lag > settings.syncLagReadyMax() ? Optional.of("syncing: " + lag + " blocks behind")
                        : Optional.empty();
            }
        };
    }

    /** This node's view of the chain height (a business node asks the validators). */
    public long height() {
        try {
            return latest().map(Block::height).orElse(0L);
        } catch (UncheckedIOException | IllegalStateException e) {
            return -1;
        }
    }
}

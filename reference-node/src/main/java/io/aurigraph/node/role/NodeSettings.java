package io.aurigraph.node.role;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.util.List;
import java.util.Optional;

/**
 * Every setting of the node, from application.properties or the environment ({@code AURIGRAPH_ROLE},
 * {@code AURIGRAPH_PEERS}, ...). docs/reference/node-contract.md lists them.
 */
@ConfigMapping(prefix = "aurigraph")
public interface NodeSettings {

    /** validator, business or slim. */
    String role();

    /** This node's name; for a validator, its peer id in {@link #peers()}. Defaults to the host name. */
    Optional<String> id();

    /** The validator group, {@code validator-0=host:9005,...}; read by validators and business nodes. */
    Optional<String> peers();

    /**
     * A validator's Ed25519 signing key (PKCS#8 PEM file, mounted from a Secret); checked against
     * {@link #genesisFile()} at start.
     */
    Optional<String> signingKeyFile();

    /** The network's genesis (JSON: its name and each validator's public key). Required with a signing key. */
    Optional<String> genesisFile();

    /** Where a validator keeps its Raft log, state and snapshots. */
    @WithDefault("data")
    String dataDir();

    /** A validator snapshots its state after this many applied log entries. */
    @WithDefault("10000")
    long snapshotEveryEntries();

    /** Newest blocks each node keeps whole for reads and followers. */
    @WithDefault("10000")
    int recentBlocksMax();

    /** Most transactions a business node puts in one proposal. */
    @WithDefault("500")
    int batchSizeMax();

    /** Longest a transaction waits for its proposal to fill, in milliseconds. */
    @WithDefault("2")
    long batchLingerMillis();

    /**
     * Proposals a business node has awaiting commit at once; transactions arriving meanwhile gather into
     * the next one.
     */
    @WithDefault("2")
    int proposalsInFlightMax();

    /** Transactions a business node queues before it answers 503. */
    @WithDefault("20000")
    int queueCapacity();

    /** How long a business node waits for the validators to commit a transaction, in milliseconds. */
    @WithDefault("5000")
    long commitTimeoutMillis();

    /**
     * The gRPC API ({@code host:port}) of the nodes a slim node follows (validators or business nodes),
     * tried in order.
     */
    Optional<List<String>> upstreams();

    /** How often a slim node asks its upstream for new blocks, in milliseconds. */
    @WithDefault("200")
    long followIntervalMillis();

    /** A slim node is ready while it trails its upstream by at most this many blocks. */
    @WithDefault("50")
    long syncLagReadyMax();

    /** The source revision the node was built from; images set it ({@code AURIGRAPH_REVISION}). */
    @WithDefault("unknown")
    String revision();

    /** Largest request body accepted, in bytes. */
    @WithDefault("65536")
    int requestBytesMax();
}

package io.aurigraph.node.consensus;

import io.aurigraph.node.ledger.Block;
import io.aurigraph.node.ledger.LedgerCodec;
import io.aurigraph.node.ledger.Outcome;
import io.aurigraph.node.ledger.Proposal;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.TimeDuration;

/**
 * A Raft client of the ledger group, as a business node uses it: proposals are acknowledged only once
 * committed by a majority of validators, so an acknowledged transaction survives the loss of any minority.
 *
 * <p>Ratis' ordered async client (3.3) keeps the first request that fails for good (out of retries, or a
 * failure it does not retry) in its sliding window, and from then on fails every new request at once with
 * {@code AlreadyClosedException}. So after such a failure this client replaces the Raft client it used: the
 * next proposal goes through a new one, and a business node recovers when the group does (for example after
 * a leader election that outlasted the retries), instead of refusing every transaction while it looks ready.
 */
public final class LedgerClient implements Closeable {

    private static final System.Logger LOG = System.getLogger(LedgerClient.class.getName());

    private final Supplier<RaftClient> factory;
    private final AtomicReference<RaftClient> client;
    private volatile boolean closed;

    public LedgerClient(ClusterSpec cluster, long requestTimeoutMillis) {
        RaftProperties properties = new RaftProperties();
        TimeDuration timeout = TimeDuration.valueOf(requestTimeoutMillis, TimeUnit.MILLISECONDS);
        RaftClientConfigKeys.Rpc.setRequestTimeout(properties, timeout);
        this.factory = () -> RaftClient.newBuilder()
                .setProperties(properties)
                .setRaftGroup(cluster.group())
                // Bounded: while a new leader is elected requests are retried, after that they fail.
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(
                        20, TimeDuration.valueOf(100, TimeUnit.MILLISECONDS)))
                .build();
        this.client = new AtomicReference<>(factory.get());
    }

    /** Orders ``proposal``; completes with each transaction's outcome once the proposal is committed. */
    public CompletableFuture<List<Outcome>> submit(Proposal proposal) {
        Message message = Message.valueOf(ByteString.copyFrom(LedgerCodec.encodeProposal(proposal)));
        RaftClient used = client.get();
        return used.async().send(message)
                .whenComplete((reply, error) -> {
                    // A state machine's refusal is an answer; anything else failed the request for good.
                    if (error != null && !(unwrap(error) instanceof StateMachineException)) {
                        replace(used, unwrap(error));
                    }
                })
                .thenApply(reply -> LedgerCodec.decodeOutcomes(content(reply)));
    }

    private static Throwable unwrap(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    /**
     * Puts a new Raft client in place of {@code failed}, unless another failure already did. The old one is
     * closed: its other requests in flight fail (their transactions answer 503 and may be resubmitted).
     */
    private void replace(RaftClient failed, Throwable cause) {
        if (closed || client.get() != failed) {
            return;
        }
        RaftClient fresh = factory.get();
        if (client.compareAndSet(failed, fresh)) {
            LOG.log(System.Logger.Level.WARNING, "a proposal failed for good ({0}); the Raft client is replaced",
                    cause.toString());
            closeQuietly(failed);
        } else {
            closeQuietly(fresh);
        }
    }

    private static void closeQuietly(RaftClient raftClient) {
        try {
            raftClient.close();
        } catch (IOException | RuntimeException e) {
            // Closing a client whose requests already failed: nothing is left to report.
        }
    }

    /** The newest finalized block, read linearizably from the leader. */
    public Optional<Block> latest() {
        return read(-1, 1).stream().findFirst();
    }

    /** Finalized blocks above {@code height}, oldest first. */
    public List<Block> blocksAfter(long height, int limit) {
        return read(height, limit);
    }

    /**
     * Takes validator {@code id} out of the group and back in. For a validator that lost its data
     * directory: Raft must not count an amnesiac member's old votes and log, and the leader forgets what
     * it knew of the member's log only through a membership change (without one, Ratis 3.3 keeps probing
     * the old position, RATIS-2523).
     */
    public void readmit(ClusterSpec cluster, String id) throws IOException {
        List<RaftPeer> others = cluster.peers().stream().filter(p -> !p.getId().toString().equals(id)).toList();
        check(client.get().admin().setConfiguration(others));
        check(client.get().admin().setConfiguration(cluster.peers()));
    }

    private static void check(RaftClientReply reply) throws IOException {
        if (!reply.isSuccess()) {
            throw new IOException("the validator group refused the membership change", reply.getException());
        }
    }

    private List<Block> read(long after, int limit) {
        try {
            return LedgerCodec.decodeBlocks(content(client.get().io().sendReadOnly(LedgerStateMachine.blocksQuery(after, limit))));
        } catch (IOException e) {
            throw new UncheckedIOException("reading blocks from the validators failed", e);
        }
    }

    private static byte[] content(RaftClientReply reply) {
        if (!reply.isSuccess()) {
            throw new IllegalStateException("the validators refused the request", reply.getException());
        }
        return reply.getMessage().getContent().toByteArray();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        client.get().close();
    }
}
